"""The 14 sources of DataOptim's challenge pool (DESIGN §3) and ``dataoptim sources``.

:data:`SOURCES` is the one table every part consults: config name, category,
task, record count in DataOptim's full release, image folder, and the
``dataoptim.builders`` module that builds it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


#: Values of :attr:`Source.box_frame`.
BOX_FRAMES = (None, "original", "padded")


@dataclass(frozen=True)
class Source:
    """One source of the pool.

    Attributes:
        name: config name, also the id prefix (``gqa`` → ``gqa_05145757``).
        title: human name of the dataset.
        category: ``captioning``, ``vqa``, ``grounding`` or ``gpt4``.
        task: value of the ``task`` column (:data:`dataoptim.records.TASKS`).
        qas: number of records in DataOptim's full release (the count a full build must give).
        image_folder: first path segment of ``image`` in its records.
        module: module under ``dataoptim.builders`` holding its builder.
        box_frame: where the boxes ``[x1, y1, x2, y2]`` in its records' text are normalised:
            ``"original"`` (the image's own width and height; ``select --boxes padded`` moves
            them, as DataOptim's ``tools/expand_to_square.py`` does for ref3rec, ref3reg,
            shikra and svit), ``"padded"`` (already in LLaVA's padded square, as released:
            left as they are), or None (a source without boxes: never touched).
    """

    name: str
    title: str
    category: str
    task: str
    qas: int
    image_folder: str
    module: str
    box_frame: str | None = None

    def __post_init__(self) -> None:
        if self.box_frame not in BOX_FRAMES:
            raise ValueError(f"source {self.name!r}: box_frame must be one of {BOX_FRAMES}, found {self.box_frame!r}")


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("coco", "COCO Captions (train2014)", "captioning", "caption", 414_113, "coco", "coco"),
        Source("flickr30k", "Flickr30K (Karpathy train)", "captioning", "caption", 145_000, "flickr30k", "flickr30k"),
        Source("textcaps", "TextCaps 0.1 (train)", "captioning", "caption", 109_765, "open_images", "textcaps"),
        Source("vqav2", "VQAv2 (train2014)", "vqa", "vqa", 443_757, "coco", "vqav2"),
        Source("okvqa", "OK-VQA (train2014)", "vqa", "vqa", 9_009, "coco", "okvqa"),
        Source("ocrvqa", "OCR-VQA (train)", "vqa", "vqa", 801_673, "ocrvqa", "ocrvqa"),
        Source("gqa", "GQA (train balanced)", "vqa", "vqa", 943_000, "visual_genome", "gqa"),
        Source("textvqa", "TextVQA 0.5.1 (train)", "vqa", "vqa", 34_602, "open_images", "textvqa"),
        Source("aokvqa", "A-OKVQA 1.0 (train)", "vqa", "mcvqa", 17_056, "coco", "aokvqa"),
        Source("ref3rec", "RefCOCO/+/g REC (Shikra)", "grounding", "rec", 143_802, "coco", "ref3rec", box_frame="original"),
        Source("ref3reg", "RefCOCO/+/g REG (Shikra)", "grounding", "reg", 143_802, "coco", "ref3reg", box_frame="original"),
        Source("shikra", "Shikra-RD (GPT-4)", "grounding", "dialogue", 5_922, "flickr30k", "shikra", box_frame="original"),
        Source("llava", "LLaVA-Instruct-150K", "gpt4", "instruct", 157_712, "coco", "llava"),
        Source("svit", "SVIT", "gpt4", "instruct", 2_992_799, "visual_genome", "svit", box_frame="original"),
    ]
}

#: Total records of the full pool.
POOL_SIZE = sum(s.qas for s in SOURCES.values())


def source_of(record_id: str) -> Source | None:
    """Return the source an id belongs to by its prefix (``"svit_detail_0"`` → svit), or None."""
    head = record_id.split("_", 1)[0]
    return SOURCES.get(head)


def builder_status(name: str) -> str:
    """``"ready"`` if ``dataoptim.builders.<module>`` imports, else ``"not written"``."""
    try:
        importlib.import_module(f"dataoptim.builders.{SOURCES[name].module}")
    except ModuleNotFoundError:
        return "not written"
    return "ready"


def register(app) -> None:
    """Add ``dataoptim sources`` to the CLI."""

    @app.command("sources")
    def sources_command() -> None:
        """Print the 14 sources: category, QAs in DataOptim's release, image folder, builder status."""
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"DataOptim pool: 14 sources, {POOL_SIZE:,} records")
        for column in ("source", "dataset", "category", "task", "QAs", "image folder", "builder"):
            table.add_column(column, justify="right" if column == "QAs" else "left")
        for s in SOURCES.values():
            table.add_row(s.name, s.title, s.category, s.task, f"{s.qas:,}", f"{s.image_folder}/", builder_status(s.name))
        Console(width=120).print(table)
