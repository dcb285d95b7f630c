"""The sources of DataOptim's release, 20 datasets as 21 sources (DESIGN §3, issue 13), and ``dataoptim sources``.

:data:`SOURCES` is the one table every part consults: config name, category,
task, record count in DataOptim's full release, image folders, the frame of
the boxes written in its records, and the ``dataoptim.builders`` module that
builds it.

The first 14 are the challenge pool (6,362,012 records). Six more datasets
joined DataOptim's release later (BAAI-DCAI/DataOptim README, commits 1d5e09f
ScienceQA, 75f7c7d VGQA/DocVQA/DVQA, 1fd3ecf LLaVA-v1.5, eba695d ShareGPT-4V,
c50a7c6 TextOCR-GPT4V): 20 datasets in its README's table, 21 sources here, as
RefCOCO/+/g (one dataset there) gives two, ``ref3rec`` and ``ref3reg``. Their config names are the names of DataOptim's
converted files (``scienceqa.json``, ``vgqa.json``, ``docvqa.json``,
``dvqa.json``, ``sharegpt4v.json``, ``llava_v1.5.json``,
``textocrgpt4v.json`` in the ``data/`` folder of the BAAI/DataOptim hub
repository). All 21 hold 10,970,768 records. DataOptim's README says "11.2M":
its totals count RefCOCO/+/g's 287,604 records (ref3rec + ref3reg) twice, as
every earlier total of that README does (6.66M = 6,368,230 + 287,604 when
ScienceQA joined; 11.1M and 11.2M likewise), and it was not raised when
TextOCR-GPT4V (25,114) joined.
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
        category: ``captioning``, ``vqa``, ``grounding``, ``gpt4``, ``gpt4v`` or ``mixed``.
        task: value of the ``task`` column (:data:`dataoptim.records.TASKS`).
        qas: number of records in DataOptim's full release (the count a full build must give).
        image_folder: first path segment of ``image`` in its records.
        module: module under ``dataoptim.builders`` holding its builder.
        box_frame: where the boxes ``[x1, y1, x2, y2]`` in its records' text are normalised:
            ``"original"`` (the image's own width and height; ``select --boxes padded`` moves
            them, as DataOptim's ``tools/expand_to_square.py`` does for ref3rec, ref3reg,
            shikra and svit), ``"padded"`` (already in LLaVA's padded square, as released:
            left as they are: LLaVA-v1.5, per DataOptim's README and LLaVA issue 606), or None (a source without
            boxes: never touched).
        other_folders: further first path segments of ``image`` (mixed sources).
        images: distinct images in DataOptim's release (its README), or None.
        text_only: whether some of its records have no image (LLaVA-v1.5's ShareGPT
            conversations); the records of every other source must name one.
        unverified: for sources whose original-file conversion (ids, image paths or
            prompts) could not be checked against DataOptim's release from public
            material, why; ``None`` when it could. The converted file is then the
            source of truth.
    """

    name: str
    title: str
    category: str
    task: str
    qas: int
    image_folder: str
    module: str
    box_frame: str | None = None
    other_folders: tuple[str, ...] = ()
    images: int | None = None
    text_only: bool = False
    unverified: str | None = None

    def __post_init__(self) -> None:
        if self.box_frame not in BOX_FRAMES:
            raise ValueError(f"source {self.name!r}: box_frame must be one of {BOX_FRAMES}, found {self.box_frame!r}")

    @property
    def folders(self) -> tuple[str, ...]:
        """Every first path segment its records' ``image`` may have."""
        return (self.image_folder, *self.other_folders)


#: Why the conversion of original files of a later source cannot be checked (shown by ``dataoptim sources``).
_UNVERIFIED = {
    "textocrgpt4v": "no public DataOptim record or script shows its ids or image paths; the image folder "
    "(open_images/, TextOCR's images are TextVQA's Open Images) is inferred, the 5 caption prompts are DataOptim's README rule",
    "scienceqa": "M3IT's ScienceQA instructions and templates (the README's rule) were not found in public material "
    "reachable here; ids (problem ids) and the prompt layout are this library's",
    "vgqa": "no public DataOptim record shows its ids; ids are qa_id, the prompt is the README's open-VQA rule",
    "docvqa": "no public DataOptim record shows its ids; ids are questionId, the prompt is the README's open-VQA rule",
    "dvqa": "no public DataOptim record shows its ids; ids are question_id, the prompt is the README's open-VQA rule",
    "sharegpt4v": "no public DataOptim record shows its ids; ids are the running index, coco/train2017/ -> coco_2017/ "
    "is inferred from DataOptim's image tree",
    "llava_v1.5": "no public DataOptim record shows its ids; ids are the running index, image folders "
    "(coco_2017/, visual_genome/, ocrvqa/, open_images/) are inferred from DataOptim's image tree",
}

SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source("coco", "COCO Captions (train2014)", "captioning", "caption", 414_113, "coco", "coco", images=82_783),
        Source("flickr30k", "Flickr30K (Karpathy train)", "captioning", "caption", 145_000, "flickr30k", "flickr30k", images=29_000),
        Source("textcaps", "TextCaps 0.1 (train)", "captioning", "caption", 109_765, "open_images", "textcaps", images=21_953),
        Source("vqav2", "VQAv2 (train2014)", "vqa", "vqa", 443_757, "coco", "vqav2", images=82_783),
        Source("okvqa", "OK-VQA (train2014)", "vqa", "vqa", 9_009, "coco", "okvqa", images=8_998),
        Source("ocrvqa", "OCR-VQA (train)", "vqa", "vqa", 801_673, "ocrvqa", "ocrvqa", images=166_041),
        Source("gqa", "GQA (train balanced)", "vqa", "vqa", 943_000, "visual_genome", "gqa", images=72_140),
        Source("textvqa", "TextVQA 0.5.1 (train)", "vqa", "vqa", 34_602, "open_images", "textvqa", images=21_953),
        Source("aokvqa", "A-OKVQA 1.0 (train)", "vqa", "mcvqa", 17_056, "coco", "aokvqa", images=16_540),
        Source("ref3rec", "RefCOCO/+/g REC (Shikra)", "grounding", "rec", 143_802, "coco", "ref3rec", box_frame="original"),
        Source("ref3reg", "RefCOCO/+/g REG (Shikra)", "grounding", "reg", 143_802, "coco", "ref3reg", box_frame="original"),
        Source("shikra", "Shikra-RD (GPT-4)", "grounding", "dialogue", 5_922, "flickr30k", "shikra", box_frame="original", images=883),
        Source("llava", "LLaVA-Instruct-150K", "gpt4", "instruct", 157_712, "coco", "llava", images=81_479),
        Source("svit", "SVIT", "gpt4", "instruct", 2_992_799, "visual_genome", "svit", box_frame="original", images=108_076),
        # -- joined DataOptim's release after the challenge pool (issue 13) --
        Source("textocrgpt4v", "TextOCR-GPT4V", "captioning", "caption", 25_114, "open_images", "textocrgpt4v",
               images=25_114, unverified=_UNVERIFIED["textocrgpt4v"]),
        Source("scienceqa", "ScienceQA (train, image context)", "vqa", "mcvqa", 6_218, "scienceqa", "scienceqa",
               images=6_218, unverified=_UNVERIFIED["scienceqa"]),
        Source("vgqa", "Visual Genome QA (VGQA)", "vqa", "vqa", 1_445_322, "visual_genome", "vgqa",
               images=99_280, unverified=_UNVERIFIED["vgqa"]),
        Source("docvqa", "DocVQA (train)", "vqa", "vqa", 39_463, "docvqa", "docvqa", images=10_194, unverified=_UNVERIFIED["docvqa"]),
        Source("dvqa", "DVQA (train)", "vqa", "vqa", 2_325_316, "dvqa", "dvqa", images=200_000, unverified=_UNVERIFIED["dvqa"]),
        Source("sharegpt4v", "ShareGPT-4V (GPT-4V captions 100K)", "gpt4v", "instruct", 102_025, "coco_2017", "sharegpt4v",
               other_folders=("llava", "sam", "share_textvqa", "web-celebrity", "web-landmark", "wikiart"),
               images=87_296, unverified=_UNVERIFIED["sharegpt4v"]),
        Source("llava_v1.5", "LLaVA-v1.5 mix665k", "mixed", "mixed", 665_298, "coco_2017", "llava_v15", box_frame="padded",
               other_folders=("visual_genome", "ocrvqa", "open_images"), images=291_684, text_only=True, unverified=_UNVERIFIED["llava_v1.5"]),
    ]
}

#: Datasets in DataOptim's README table: RefCOCO/+/g is one dataset there, two sources (ref3rec, ref3reg) here.
DATASETS = len(SOURCES) - 1
#: The 14 sources of DataOptim's challenge pool (the rest joined its release later).
CHALLENGE_SOURCES = tuple(list(SOURCES)[:14])
#: First path segments of every source's images, and DataOptim's README spelling of Flickr30K's.
IMAGE_FOLDERS = tuple(dict.fromkeys(f for s in SOURCES.values() for f in s.folders))
#: DataOptim's README draws ``filckr30k/`` where its records say ``flickr30k/`` (DESIGN §11).
MISSPELT_FOLDERS = {"filckr30k": "flickr30k"}

#: Total records of the full pool.
POOL_SIZE = sum(s.qas for s in SOURCES.values())
#: Records of the 14-source challenge pool.
CHALLENGE_POOL_SIZE = sum(SOURCES[n].qas for n in CHALLENGE_SOURCES)


#: Sources whose name holds ``_`` (their ids start ``{name}_``), longest first.
_LONG_NAMES = tuple(sorted((n for n in SOURCES if "_" in n), key=len, reverse=True))


def source_of(record_id: str) -> Source | None:
    """Return the source an id belongs to by its prefix, or None.

    ``"svit_detail_0"`` → svit; ``"llava_v1.5_3"`` → llava_v1.5 (the longest
    source name the id starts with, followed by ``_``); ``"llava_3"`` → llava.
    """
    for name in _LONG_NAMES:
        if record_id.startswith(name) and record_id[len(name) : len(name) + 1] == "_":
            return SOURCES[name]
    head = record_id.split("_", 1)[0]
    return SOURCES.get(head)


def requires_image(name: str) -> bool:
    """Whether every record of source ``name`` must name an image (all but :attr:`Source.text_only` ones; True for an unknown name)."""
    source = SOURCES.get(name)
    return source is None or not source.text_only


def box_frame_of(name: str) -> str | None:
    """The frame of the boxes in source ``name``'s records (:attr:`Source.box_frame`); None for no boxes or an unknown source."""
    source = SOURCES.get(name)
    return None if source is None else source.box_frame


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
        """Print the 21 sources (DataOptim's 20 datasets): category, QAs in DataOptim's release, image folders, box frame, builder status.

        Sources whose original-file conversion cannot be checked against DataOptim's release are
        marked, and the reason is printed below the table.
        """
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=f"DataOptim release: {DATASETS} datasets as {len(SOURCES)} sources (RefCOCO/+/g gives ref3rec and ref3reg), {POOL_SIZE:,} records "
            f"({len(CHALLENGE_SOURCES)} sources, {CHALLENGE_POOL_SIZE:,} records in the challenge pool)"
        )
        for column in ("source", "dataset", "category", "task", "QAs", "image folders", "boxes", "builder"):
            table.add_column(column, justify="right" if column == "QAs" else "left", overflow="fold")
        notes = []
        for s in SOURCES.values():
            status = builder_status(s.name)
            if s.unverified and status == "ready":
                notes.append(s)
                status = "ready*"
            table.add_row(s.name, s.title, s.category, s.task, f"{s.qas:,}", ", ".join(f"{f}/" for f in s.folders), s.box_frame or "", status)
        console = Console(width=160)
        console.print(table)
        for s in notes:
            console.print(f"* {s.name}: original files unverified against DataOptim's release: {s.unverified}", highlight=False, soft_wrap=True)
