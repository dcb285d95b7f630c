"""ShareGPT-4V (Chen et al., 2023): detailed GPT-4V captions of images from COCO, SAM, LAION/CC/SBU, WikiArt and the web.

Original file (Lin-Chen/ShareGPT4V on the Hugging Face hub):
``sharegpt4v_instruct_gpt4-vision_cap100k.json``, a JSON list of 102,025 LLaVA
records (the size of DataOptim's ShareGPT-4V source)::

    [{"id": "000000000009", "image": "coco/train2017/000000000009.jpg",
      "conversations": [{"from": "human", "value": "<image>\\nWhat do you see happening in this image?"},
                        {"from": "gpt", "value": "The image showcases ..."}]}, ...]

Records: conversations unchanged (DataOptim: "GPT-4/GPT-4V generated & mixed
datasets: we keep the prompts unchanged"). Images are renamed into DataOptim's
image tree (BAAI-DCAI/DataOptim README, commit eba695d, which added ShareGPT-4V
and the folders ``llava/llava_pretrain/images``, ``sam/images``,
``share_textvqa/images``, ``web-celebrity/images``, ``web-landmark/images``,
``wikiart/images``): ShareGPT-4V's ``coco/train2017/{file}`` becomes
``coco_2017/{file}`` (DataOptim's folder of COCO 2017 images, whose example file
names are bare ``000000274591.jpg``); every other path is kept. Ids
``sharegpt4v_{index}`` in file order. Neither rule is checked against DataOptim's
``sharegpt4v.json`` (no public record of it): ``dataoptim sources`` marks the
original file unverified; the converted file passes through unchanged.
Native column: ``image_id`` (ShareGPT-4V's ``id``).

Table path (:func:`conversation_tables`, shared with LLaVA-v1.5's mix665k): the file
is decoded with ``msgspec`` (:class:`Entry`), image prefixes are renamed by
columns and the turns become flat Arrow columns; the base class checks the record
rules over whole columns, and any fault is named by the row-by-row reference
(:meth:`ShareGPT4V.original_records`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, Turn, annotation_errors, decode_list_batches
from dataoptim.io import iter_json_array
from dataoptim.records import check_image_path, make_record, validate_record

#: Original path prefix -> DataOptim's folder (the first match wins; other paths are kept).
IMAGE_FOLDERS: tuple[tuple[str, str], ...] = (("coco/train2017/", "coco_2017/"),)


class Entry(msgspec.Struct):
    """The fields of a LLaVA-layout entry (ShareGPT-4V, LLaVA-v1.5) the table path reads."""

    conversations: list[Turn]
    image: str | None = None
    id: int | str | None = None


def renamed(images: pa.Array, renames: tuple[tuple[str, str], ...]) -> pa.Array:
    """:func:`dataoptim_image` over a column: the first matching prefix of ``renames`` replaced, other paths (and nulls) kept."""
    out = images
    done = pa.array([False] * len(images), type=pa.bool_()) if len(images) else pa.array([], pa.bool_())
    for old, new in renames:
        hit = pc.and_(pc.fill_null(pc.starts_with(images, old), False), pc.invert(done))
        if pc.any(hit).as_py():
            out = pc.if_else(hit, pc.binary_join_element_wise(new, pc.utf8_slice_codeunits(images, len(old)), ""), out)
        done = pc.or_(done, hit)
    return out


def conversation_tables(path: Path, *, source: str, task: str, renames: tuple[tuple[str, str], ...], text_only: bool = False) -> Iterator[pa.Table]:
    """Records ``{source}_{index}`` of a LLaVA-layout file, by columns (the table path of :func:`entry_to_record`).

    Raises:
        TablePathFailed, msgspec errors: a missing or blank image (where one is needed), a wrong
        type: anything the row path must name.
    """
    start = 0
    for entries in decode_list_batches(path, Entry):  # read in pieces: bounded memory
        images = pa.array([e.image for e in entries], type=pa.string())
        if (images.null_count and not text_only) or columns.any_blank(images.drop_null()):
            raise TablePathFailed("a missing or blank image")
        lengths = np.fromiter((len(e.conversations) for e in entries), dtype=np.int64, count=len(entries))
        offsets = np.zeros(len(entries) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        turns = [t for e in entries for t in e.conversations]
        table = columns.record_table(
            columns.prefixed(f"{source}_", pa.array(np.arange(start, start + len(entries)))),
            renamed(images, renames),
            columns.conversations(offsets, [t.value for t in turns], [t.from_ for t in turns]),
            source=source, task=task, image_id=[None if e.id is None else str(e.id) for e in entries],
        )
        start += len(entries)
        yield table


def dataoptim_image(image: Any, renames: tuple[tuple[str, str], ...] = IMAGE_FOLDERS) -> str:
    """An original image path in DataOptim's tree: the first matching prefix of ``renames`` replaced.

    ``coco/train2017/000000000009.jpg`` → ``coco_2017/000000000009.jpg``;
    ``sam/images/sa_545504.jpg`` stays.

    Raises:
        ValueError: not a non-empty string. RecordError: a path that would leave the image folder.
    """
    if not isinstance(image, str) or not image.strip():
        raise ValueError(f"'image' must be a non-empty string, found {image!r}")
    check_image_path(image, field="image")
    for old, new in renames:
        if image.startswith(old):
            return check_image_path(new + image[len(old) :], field="image")
    return image


def copy_turns(turns: Any) -> list[dict[str, Any]]:
    """The ``{from, value}`` of each turn (other keys dropped), for the record rules to check.

    Raises:
        ValueError: ``turns`` is not a list.
    """
    if not isinstance(turns, list):
        raise ValueError(f"'conversations' must be a list of turns, found {type(turns).__name__}")
    return [{"from": t.get("from"), "value": t.get("value")} if isinstance(t, Mapping) else t for t in turns]


def entry_to_record(index: int, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Entry ``index`` (0-based) of the cap100k file → record ``sharegpt4v_{index}``, conversations unchanged.

    Raises:
        KeyError: ``image`` or ``conversations`` missing. ValueError: ``image`` empty.
        RecordError: the conversation breaks the record rules.
    """
    record = make_record(
        f"sharegpt4v_{index}", dataoptim_image(entry["image"]), copy_turns(entry["conversations"]),
        source="sharegpt4v", task="instruct", image_id=entry.get("id"),
    )
    return validate_record(record, require_image=True)


class ShareGPT4V(SourceBuilder):
    """ShareGPT-4V's 100K GPT-4V captions as LLaVA records: 102,025 in DataOptim's release."""

    SOURCE = "sharegpt4v"
    ORIGINAL_FILES = {"train": {"conversations": ("sharegpt4v_instruct_gpt4-vision_cap100k.json",)}}
    DESCRIPTION = "ShareGPT-4V: 100K highly descriptive captions written by GPT-4V for images from COCO, SAM, LAION/CC/SBU, WikiArt and the web."
    HOMEPAGE = "https://sharegpt4v.github.io/"
    LICENSE = "CC BY-NC 4.0 (must follow OpenAI's terms of use); images under their own licences"
    CITATION = """@article{chen2023sharegpt4v,
  title={ShareGPT4V: Improving Large Multi-Modal Models with Better Captions},
  author={Chen, Lin and Li, Jinsong and Dong, Xiaoyi and Zhang, Pan and He, Conghui and Wang, Jiaqi and Zhao, Feng and Lin, Dahua},
  journal={arXiv preprint arXiv:2311.12793},
  year={2023}
}"""
    DOWNLOAD = "https://huggingface.co/datasets/Lin-Chen/ShareGPT4V (sharegpt4v_instruct_gpt4-vision_cap100k.json)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return conversation_tables(files["conversations"], source=self.SOURCE, task="instruct", renames=IMAGE_FOLDERS)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["conversations"]
        for index, entry in enumerate(iter_json_array(path, what="ShareGPT-4V file")):
            with annotation_errors(path, index, f"[{index}]"):
                record = entry_to_record(index, entry)
            yield record
