"""One fixed colour per task and per source, for every plot the library draws.

A plot that picks colours by position (the i-th task present gets the i-th
colour of a colour map) paints the same task differently from one plot to the
next, which misleads side-by-side comparisons. Every plot of the library takes
its colours from here instead: :func:`task_color` and :func:`source_color`
return the same colour for the same name wherever they are called.

Known names have a colour of their own (:data:`TASK_COLORS`,
:data:`SOURCE_COLORS`; matplotlib's ``tab10``/``tab20`` hex values). A name not
listed gets a colour from :data:`FALLBACK` picked by a CRC-32 of the name, so
it is stable across plots, processes and runs too.

Importing this module imports nothing else (no matplotlib).
"""

from __future__ import annotations

import zlib

#: Training tasks (:data:`dataoptim.records.TASKS`) and evaluation tasks (benchmark ``task`` values).
#: A training task and the evaluation task of the same name share the colour.
TASK_COLORS: dict[str, str] = {
    "caption": "#1f77b4",  # blue
    "vqa": "#ff7f0e",  # orange
    "mcvqa": "#2ca02c",  # green
    "mc": "#2ca02c",  # multiple choice: as mcvqa
    "rec": "#d62728",  # red
    "grounding": "#d62728",  # evaluated REC: as rec
    "reg": "#9467bd",  # purple
    "dialogue": "#8c564b",  # brown
    "instruct": "#e377c2",  # pink
    "mixed": "#7f7f7f",  # grey: LLaVA-v1.5's mixture
    "text": "#c7c7c7",  # light grey: text-only records
    "gqa": "#bcbd22",  # olive
    "pope": "#17becf",  # cyan
    "mme": "#393b79",  # dark blue
}

#: The sources of the pool; sources of one task get shades close to the task's colour where ``tab20`` has them.
SOURCE_COLORS: dict[str, str] = {
    "coco": "#1f77b4",
    "flickr30k": "#aec7e8",
    "textcaps": "#17becf",
    "vqav2": "#ff7f0e",
    "okvqa": "#ffbb78",
    "ocrvqa": "#bcbd22",
    "gqa": "#dbdb8d",
    "textvqa": "#8c564b",
    "aokvqa": "#2ca02c",
    "ref3rec": "#d62728",
    "ref3reg": "#9467bd",
    "shikra": "#c49c94",
    "llava": "#e377c2",
    "svit": "#f7b6d2",
    "textocrgpt4v": "#9edae5",
    "scienceqa": "#98df8a",
    "vgqa": "#ff9896",
    "docvqa": "#c5b0d5",
    "dvqa": "#e7969c",
    "sharegpt4v": "#ce6dbd",
    "llava_v1.5": "#7f7f7f",
}

#: Colours for names not listed above (picked by a CRC-32 of the name).
FALLBACK: tuple[str, ...] = (
    "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363", "#6b6ecf", "#b5cf6b", "#e7ba52", "#d6616b", "#ce6dbd", "#9c9ede",
)


def _fallback(name: str) -> str:
    return FALLBACK[zlib.crc32(str(name).encode("utf-8")) % len(FALLBACK)]


def task_color(task: str) -> str:
    """The colour of a task, as a ``#rrggbb`` string matplotlib takes.

    Args:
        task: a training task (``caption``, ``vqa``, ...) or an evaluation task (``gqa``, ``pope``, ...).

    Returns:
        Its fixed colour from :data:`TASK_COLORS`, or for another name a colour of
        :data:`FALLBACK` that depends on the name only.
    """
    return TASK_COLORS.get(task) or _fallback(f"task:{task}")


def source_color(source: str) -> str:
    """The colour of a source (``coco``, ``vqav2``, ...), as a ``#rrggbb`` string; fixed as :func:`task_color`."""
    return SOURCE_COLORS.get(source) or _fallback(f"source:{source}")


__all__ = ["FALLBACK", "SOURCE_COLORS", "TASK_COLORS", "source_color", "task_color"]
