"""TextCaps 0.1 (Sidorov et al., 2020): captioning that needs reading the text in the image.

Original files: ``TextCaps_0.1_train.json`` (and ``TextCaps_0.1_val.json``),
``{"dataset_type", "dataset_name", "dataset_version", "data": [{"image_id":
"011e7e629fb9ae7b", "image_classes", "flickr_original_url", "flickr_300k_url",
"image_width", "image_height", "set_name", "image_name", "image_path",
"caption_id", "caption_str", "caption_tokens", "reference_strs",
"reference_tokens"}, ...]}``: one entry per caption, five per image
(21,953 train images, 109,765 captions). The test file has no captions and is not read.

DataOptim numbers the train entries in file order: ``textcaps_0`` is the first
entry. The answer is ``caption_str`` as given; the image is the Open Images
file ``open_images/{image_id}.jpg`` (TextCaps shares its images with TextVQA).

Table path (:func:`caption_tables`): the file is decoded in one pass with
``msgspec`` (the fields used only) and converted
:data:`dataoptim.columns.TABLE_ROWS` entries at a time; records are built by columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, load_bytes, top_level_keys_once
from dataoptim.convert import caption_record
from dataoptim.io import iter_json_list
from dataoptim.records import check_image_path


class Entry(msgspec.Struct):
    """The fields of a TextCaps entry the table path reads."""

    image_id: str
    caption_str: str
    caption_id: int | str | None = None
    image_width: int | None = None
    image_height: int | None = None


class CaptionsFile(msgspec.Struct):
    """A TextCaps file as the table path reads it: its ``data`` list only."""

    data: list[Entry]


def caption_tables(path: Path, *, prefix: str, seed: int = 0) -> Iterator[pa.Table]:
    """The table path of :func:`entry_to_record` over a whole file: records ``{prefix}{index}`` in file order.

    Raises:
        TablePathFailed, msgspec errors: a blank caption, an empty image id, a wrong type.
    """
    buffer = load_bytes(path)
    top_level_keys_once(buffer, "data")
    everything = msgspec.json.decode(buffer, type=CaptionsFile).data  # one pass: the unused fields are skipped, not kept
    start = 0
    for entries in (everything[k:k + columns.TABLE_ROWS] for k in range(0, len(everything), columns.TABLE_ROWS)):
        image_ids = pa.array([e.image_id for e in entries], type=pa.string())
        captions = pa.array([e.caption_str for e in entries], type=pa.string())
        if columns.any_blank(captions) or pc.any(pc.equal(image_ids, "")).as_py():
            raise TablePathFailed("a blank caption or an empty image id")
        ids = columns.prefixed(prefix, pa.array(np.arange(start, start + len(entries))))
        yield columns.record_table(
            ids,
            columns.concat("open_images/", image_ids, ".jpg"),
            columns.two_turns(columns.caption_prompts(ids.to_pylist(), seed), captions),
            source="textcaps", task="caption", question_id=[None if e.caption_id is None else str(e.caption_id) for e in entries],
            image_id=image_ids, width=[e.image_width for e in entries], height=[e.image_height for e in entries],
        )
        start += len(entries)


def image_path(image_id: str) -> str:
    """Image path of an Open Images file in DataOptim's folder: ``open_images/011e7e629fb9ae7b.jpg``.

    Raises:
        ValueError: ``image_id`` is not a non-empty string.
        RecordError: the path would leave the image folder.
    """
    if not isinstance(image_id, str) or not image_id:
        raise ValueError(f"'image_id' must be a non-empty string, found {image_id!r}")
    return check_image_path(f"open_images/{image_id}.jpg", field="image_id")


def entry_to_record(entry: Mapping[str, Any], *, record_id: str, seed: int = 0) -> dict[str, Any]:
    """One entry of TextCaps' ``data`` → one caption record.

    Args:
        entry: ``{"image_id", "caption_str", ...}``; ``caption_id``, ``image_width``
            and ``image_height`` fill the native columns when present.
        record_id: ``textcaps_{index}`` (or ``textcaps_validation_{index}``).
        seed: seed of the caption instruction's stable choice.

    Raises:
        KeyError: ``image_id`` or ``caption_str`` missing. ValueError: either is not a non-empty string.
        RecordError: an ``image_id`` that would leave the image folder.
    """
    caption = entry["caption_str"]
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"'caption_str' must be a non-empty string, found {caption!r}")
    image_id = entry["image_id"]
    return caption_record(
        record_id,
        image_path(image_id),
        caption,
        source="textcaps",
        seed=seed,
        question_id=entry.get("caption_id"),
        image_id=image_id,
        width=entry.get("image_width"),
        height=entry.get("image_height"),
    )


class TextCaps(SourceBuilder):
    """TextCaps 0.1 captions as LLaVA records: 109,765 in DataOptim's train release."""

    SOURCE = "textcaps"
    ORIGINAL_FILES = {
        "train": {"captions": ("TextCaps_0.1_train.json",)},
        "validation": {"captions": ("TextCaps_0.1_val.json",)},
    }
    DESCRIPTION = "TextCaps 0.1: five human captions per Open Images image that mention the text in it, as one-turn caption records."
    HOMEPAGE = "https://textvqa.org/textcaps/"
    LICENSE = "CC BY 4.0 (annotations); images from Open Images under their Flickr licences (mostly CC BY 2.0)"
    CITATION = """@inproceedings{sidorov2020textcaps,
  title={TextCaps: a Dataset for Image Captioning with Reading Comprehension},
  author={Sidorov, Oleksii and Hu, Ronghang and Rohrbach, Marcus and Singh, Amanpreet},
  booktitle={European Conference on Computer Vision (ECCV)},
  pages={742--758},
  year={2020}
}"""
    DOWNLOAD = "https://dl.fbaipublicfiles.com/textvqa/data/textcaps/TextCaps_0.1_train.json and TextCaps_0.1_val.json (https://textvqa.org/textcaps/dataset/)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return caption_tables(files["captions"], prefix=self.record_id("", split), seed=self.config.seed)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["captions"]
        for index, entry in enumerate(iter_json_list(path, "data", what="TextCaps file")):
            with annotation_errors(path, index, f"data[{index}]"):
                record = entry_to_record(entry, record_id=self.record_id(index, split), seed=self.config.seed)
            yield record
