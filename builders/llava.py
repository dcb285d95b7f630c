"""LLaVA-Instruct-150K (Liu et al., 2023): GPT-4 conversations, detailed descriptions and complex reasoning about COCO images.

Original files (liuhaotian/LLaVA-Instruct-150K on the Hugging Face hub): a JSON
list of ``{"id": "000000033471", "image": "000000033471.jpg", "conversations":
[{"from": "human", "value": "<image>\\nWhat are the colors of the bus in the
image?"}, {"from": "gpt", "value": "..."}, ...]}``:

* ``llava_instruct_150k.json``: the whole set, 157,712 entries (config ``llava``);
* its parts ``detail_23k.json``, ``complex_reasoning_77k.json``,
  ``conversation_58k.json`` (configs ``llava_detail_23k``,
  ``llava_complex_reasoning_77k``, ``llava_conversation_58k``).

Records: conversations unchanged (``<image>`` stays where LLaVA put it, at the
start or the end of the first turn), image ``coco/COCO_train2014_{image}``.
DataOptim numbers the entries of ``llava_instruct_150k.json`` in file order:
``llava_0`` is the first, ``llava_157711`` the last. The parts are not in
DataOptim's pool; their records are numbered within their own file,
``llava_{part}_{i}`` (e.g. ``llava_detail_23k_0``), so they never take a pool id.
DataOptim's converted ``llava.json`` cannot be split into the parts, so the part
configs read the original part files only.

Table path (:func:`entry_tables`): the file is split into entries and decoded
:data:`dataoptim.columns.TABLE_ROWS` at a time with ``msgspec``
(:class:`Entry`); turns become flat Arrow columns and the records a list array
over them, checked by the base class's column rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import datasets
import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import SourceBuilder, SourceConfig, TablePathFailed, Turn, annotation_errors, decode_list_batches
from dataoptim.errors import ConfigError
from dataoptim.io import iter_json_array
from dataoptim.records import check_image_path, make_record, validate_record

#: Config part -> file name; ``None`` is the whole set.
LLAVA_FILES = {
    None: "llava_instruct_150k.json",
    "detail_23k": "detail_23k.json",
    "complex_reasoning_77k": "complex_reasoning_77k.json",
    "conversation_58k": "conversation_58k.json",
}


class Entry(msgspec.Struct):
    """The fields of a LLaVA-Instruct entry the table path reads."""

    image: str
    conversations: list[Turn]
    id: int | str | None = None


def entry_tables(path: Path, *, prefix: str) -> Iterator[pa.Table]:
    """The table path of :func:`entry_to_record` over a whole file: records ``{prefix}{index}`` in file order.

    Raises:
        TablePathFailed, msgspec errors: a blank image name, a wrong type: anything the row path must name.
    """
    start = 0
    for entries in decode_list_batches(path, Entry):
        images = pa.array([e.image for e in entries], type=pa.string())
        if columns.any_blank(images):
            raise TablePathFailed("a blank image name")
        lengths = np.fromiter((len(e.conversations) for e in entries), dtype=np.int64, count=len(entries))
        offsets = np.zeros(len(entries) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        turns = [t for e in entries for t in e.conversations]
        native = [e.id for e in entries]
        table = columns.record_table(
            columns.prefixed(prefix, pa.array(np.arange(start, start + len(entries)))),
            columns.concat("coco/COCO_train2014_", images),
            columns.conversations(offsets, [t.value for t in turns], [t.from_ for t in turns]),
            source="llava", task="instruct", image_id=[None if v is None else str(v) for v in native],
        )
        start += len(entries)
        yield table


def image_path(image: str) -> str:
    """DataOptim's path of a LLaVA-Instruct image: ``000000163917.jpg`` → ``coco/COCO_train2014_000000163917.jpg``.

    Raises:
        ValueError: not a non-empty string. RecordError: the path would leave the image folder.
    """
    if not isinstance(image, str) or not image.strip():
        raise ValueError(f"'image' must be a non-empty string, found {image!r}")
    return check_image_path(f"coco/COCO_train2014_{image}", field="image")


def entry_to_record(index: int, entry: Mapping[str, Any], *, part: str | None = None) -> dict[str, Any]:
    """Entry ``index`` (0-based, file order) of a LLaVA-Instruct file → one record, conversations unchanged.

    Args:
        index: the entry's position in its file: ``llava_{index}`` (or ``llava_{part}_{index}``).
        entry: ``{"id", "image", "conversations"}``.
        part: ``None`` for ``llava_instruct_150k.json``, else the part's name.

    Raises:
        KeyError: ``image`` or ``conversations`` missing. ValueError: ``image`` is empty.
        RecordError: the conversation breaks the record rules (turn order, ``<image>`` count...).
    """
    record_id = f"llava_{index}" if part is None else f"llava_{part}_{index}"
    turns = entry["conversations"]
    if not isinstance(turns, list):
        raise ValueError(f"'conversations' must be a list of turns, found {type(turns).__name__}")
    conversations = [{"from": t.get("from"), "value": t.get("value")} if isinstance(t, Mapping) else t for t in turns]
    record = make_record(record_id, image_path(entry["image"]), conversations, source="llava", task="instruct", image_id=entry.get("id"))
    return validate_record(record)


class LLaVA(SourceBuilder):
    """LLaVA-Instruct-150K as LLaVA records: 157,712 in DataOptim's release (config ``llava``), and its three parts."""

    SOURCE = "llava"
    BUILDER_CONFIGS = [SourceConfig(name="llava", version=datasets.Version("1.0.0"), description="LLaVA-Instruct-150K, all 157,712 entries")] + [
        SourceConfig(name=f"llava_{part}", version=datasets.Version("1.0.0"), subset=part, layout="original", description=f"LLaVA-Instruct-150K part {file}")
        for part, file in LLAVA_FILES.items()
        if part is not None
    ]
    ORIGINAL_FILES = {"train": {"conversations": (LLAVA_FILES[None],)}}
    DESCRIPTION = "LLaVA-Instruct-150K: GPT-4 generated multi-turn conversations, detailed descriptions and complex reasoning about COCO train2014 images."
    HOMEPAGE = "https://llava-vl.github.io/"
    LICENSE = "CC BY 4.0 (data); must abide by OpenAI's terms of use; images: COCO (Flickr licences)"
    CITATION = """@inproceedings{liu2023visual,
  title={Visual Instruction Tuning},
  author={Liu, Haotian and Li, Chunyuan and Wu, Qingyang and Lee, Yong Jae},
  booktitle={NeurIPS},
  year={2023}
}"""
    DOWNLOAD = "https://huggingface.co/datasets/liuhaotian/LLaVA-Instruct-150K (llava_instruct_150k.json, or detail_23k.json / complex_reasoning_77k.json / conversation_58k.json)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.config.subset not in LLAVA_FILES:
            raise ConfigError(f"subset must be one of {', '.join(p for p in LLAVA_FILES if p)}, got {self.config.subset!r}", field="subset")
        # a part config reads its own file (an instance attribute shadows the class's table)
        self.ORIGINAL_FILES = {"train": {"conversations": (LLAVA_FILES[self.config.subset],)}}

    def converted_mask(self, table):
        self.keep_converted({})  # a part config cannot read the converted file: its ConfigError, once
        return None

    def keep_converted(self, record: Mapping[str, Any]) -> bool:
        if self.config.subset:
            raise ConfigError(
                f"config {self.config.name!r} is one part of LLaVA-Instruct, which DataOptim's llava.json cannot tell apart; "
                f"use layout='original' with {LLAVA_FILES[self.config.subset]}",
                field="layout",
            )
        return True

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return entry_tables(files["conversations"], prefix="llava_" if self.config.subset is None else f"llava_{self.config.subset}_")

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["conversations"]
        for index, entry in enumerate(iter_json_array(path, what="LLaVA-Instruct file")):
            with annotation_errors(path, index, f"[{index}]"):
                record = entry_to_record(index, entry, part=self.config.subset)
            yield record
