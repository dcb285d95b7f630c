"""Result files in MME's layout: one header-less ``<name>.txt`` per task, ``image\\tquestion\\tanswer\\tprediction`` lines.

Two programs define this layout:

- MME's scoring tool (``eval_tool/calculation.py``, shipped with the benchmark by
  BradyFU/Awesome-Multimodal-Large-Language-Models) reads ``<subtask>.txt`` for its
  14 subtasks from one folder, splits each line on tabs into exactly four fields,
  requires the answer to be ``yes``/``no`` in any case, and pairs the lines two by
  two in file order (the two questions of one image).
- DataOptim's ``evaluation/run_llava_eval.py`` (BAAI-DCAI/DataOptim 61135d3) writes
  ``<prefix>.txt`` for every prefix of its validation set's ``image_id``
  (``"artwork/10002"`` -> ``artwork.txt``), lines
  ``f"{image_id}.jpg\\t{question}\\t{answer}\\t{prediction}\\n"`` in input order, the
  prediction with each ``\\n`` replaced by a space.

:func:`result_groups` builds the lines and :func:`write_result_txt` writes them:

- a benchmark read from DataOptim's validation format: every question with a
  reference, grouped by prefix, image column ``image_id + ".jpg"`` (the script's
  own spelling, although it reads ``image_id + ".png"``);
- any other benchmark: its MME questions (task ``mme``, or a ``category`` that is
  one of MME's 14 subtask names, with a yes/no reference), grouped by subtask,
  image column the image's file name (as MME's own files have it).

Every field has tabs, carriage returns and line feeds replaced by spaces (MME's
tool would otherwise read a wrong number of fields or lines; DataOptim's script
replaced only the prediction's ``\\n``). Lines keep benchmark order.

MME's tool opens all 14 subtask files, so it runs on an output folder only when
the benchmark held every subtask; and with a current scikit-learn it stops with a
``ValueError`` on a subtask where no answer reads as yes or no (its
``confusion_matrix`` gets no samples), whatever the files' layout.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from dataoptim.evaluate.benchmark import MME_SUBTASKS  # MME's subtasks, as calculation.py names its files
from dataoptim.io import atomic_write

__all__ = ["MME_SUBTASKS", "is_mme_question", "result_groups", "txt_field", "write_result_txt"]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-.]*$")


def txt_field(value: Any) -> str:
    """A field of a result line: ``value`` as text with ``\\t``, ``\\r`` and ``\\n`` turned into spaces."""
    text = value if isinstance(value, str) else str(value)
    return text.replace("\r\n", " ").replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _reference(item: Mapping[str, Any]) -> str | None:
    if item.get("answer") is not None:
        return str(item["answer"])
    answers = item.get("answers")
    return str(answers[0]) if answers else None


def is_mme_question(item: Mapping[str, Any]) -> bool:
    """True for an MME question: task ``mme``, or an MME subtask as ``category`` with a yes/no reference."""
    if item.get("task") == "mme":
        return _reference(item) is not None
    ref = _reference(item)
    return item.get("category") in MME_SUBTASKS and ref is not None and ref.strip().lower() in ("yes", "no")


def result_groups(items: Sequence[Mapping[str, Any]], predictions: Mapping[str, str], *,
                  dataoptim_layout: bool = False) -> tuple[dict[str, list[str]], list[str]]:
    """The result lines per file name (without ``.txt``), and the names that were skipped.

    Args:
        items: canonical benchmark items (benchmark order is kept).
        predictions: ``{question_id: answer}``.
        dataoptim_layout: the items come from DataOptim's validation format
            (:func:`~dataoptim.evaluate.benchmark.read_dataoptim`): every item with a
            reference is written, grouped by its ``image_id`` prefix.

    Returns:
        ``({name: [line, ...]}, skipped)``: each line ends with ``\\n``; ``skipped`` lists
        group names that are not plain file names (they would leave the folder) and were not written.
    """
    groups: dict[str, list[str]] = {}
    skipped: list[str] = []
    for item in items:
        ref = _reference(item)
        if ref is None:
            continue
        image = item.get("image") or ""
        if dataoptim_layout:
            image_id = image[: -len(".png")] if image.endswith(".png") else image
            name = item.get("category") or image_id.split("/", 1)[0]
            shown = image_id + ".jpg"
        elif is_mme_question(item):
            name = item.get("category") or "mme"
            shown = PurePosixPath(image).name
        else:
            continue
        if not _SAFE_NAME.match(name):
            if name not in skipped:
                skipped.append(name)
            continue
        fields = (shown, item["text"], ref, predictions.get(item["question_id"], ""))
        groups.setdefault(name, []).append("\t".join(txt_field(f) for f in fields) + "\n")
    return groups, skipped


def write_result_txt(output_dir: str | Path, groups: Mapping[str, Iterable[str]]) -> list[Path]:
    """Write ``<name>.txt`` per group into ``output_dir`` (each atomically, UTF-8, ``\\n`` line ends); return the paths."""
    out = Path(output_dir)
    paths = []
    for name, lines in groups.items():
        path = out / f"{name}.txt"
        with atomic_write(path) as handle:
            handle.writelines(lines)
        paths.append(path)
    return paths
