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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import datasets

from dataoptim.builder import SourceBuilder, SourceConfig, annotation_errors
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

    def keep_converted(self, record: Mapping[str, Any]) -> bool:
        if self.config.subset:
            raise ConfigError(
                f"config {self.config.name!r} is one part of LLaVA-Instruct, which DataOptim's llava.json cannot tell apart; "
                f"use layout='original' with {LLAVA_FILES[self.config.subset]}",
                field="layout",
            )
        return True

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["conversations"]
        for index, entry in enumerate(iter_json_array(path, what="LLaVA-Instruct file")):
            with annotation_errors(path, index, f"[{index}]"):
                record = entry_to_record(index, entry, part=self.config.subset)
            yield record
