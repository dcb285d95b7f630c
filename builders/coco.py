"""COCO Captions 2014 (Chen et al., 2015): image captioning.

Original files: ``captions_train2014.json`` (and ``captions_val2014.json``),
``{"info", "images": [{id, file_name, width, height, ...}], "licenses",
"annotations": [{image_id, id, caption}]}``. DataOptim numbers the train
annotations in file order: ``coco_0`` is the first annotation.

Table path: the file is decoded once with ``msgspec`` (:class:`CocoFile`: image
ids and sizes, captions with their image and annotation ids), the sizes joined
with ``pc.index_in``, and the records built by columns; the streamed row path
(:meth:`Coco.original_records`) names any fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, annotation_errors, load_bytes, top_level_keys_once
from dataoptim.convert import caption_record, coco_image_path
from dataoptim.io import iter_json_list

COCO_SPLITS = {"train": "train2014", "validation": "val2014"}


class Image(msgspec.Struct):
    id: int
    width: int
    height: int


class Caption(msgspec.Struct):
    image_id: int
    caption: str
    id: int | None = None


class CocoFile(msgspec.Struct):
    """The parts of a COCO captions file the table path reads."""

    images: list[Image]
    annotations: list[Caption]


def caption_tables(path: Path, *, prefix: str, coco_split: str, seed: int = 0) -> Iterator[pa.Table]:
    """The table path of :meth:`Coco.original_records`: records ``{prefix}{index}`` in file order, by columns.

    Raises:
        TablePathFailed, msgspec errors: anything the row path must name or decide.
    """
    buffer = load_bytes(path)
    top_level_keys_once(buffer, "images", "annotations")
    data = msgspec.json.decode(buffer, type=CocoFile)
    sizes = {im.id: (im.width, im.height) for im in data.images}  # a repeated image id: the last wins, as in image_sizes
    size_ids = pa.array(list(sizes), type=pa.int64())
    widths = pa.array([w for w, _ in sizes.values()], type=pa.int32())
    heights = pa.array([h for _, h in sizes.values()], type=pa.int32())
    anns = data.annotations
    del data
    image_ids = np.fromiter((a.image_id for a in anns), dtype=np.int64, count=len(anns))
    captions = pa.array([a.caption for a in anns], type=pa.string())
    ann_ids = pa.array([a.id for a in anns], type=pa.int64())
    del anns
    ids = columns.prefixed(prefix, pa.array(np.arange(len(image_ids))))
    at = pc.index_in(pa.array(image_ids), value_set=size_ids)
    table = columns.record_table(
        ids,
        columns.coco_image_paths(image_ids, coco_split),
        columns.two_turns(columns.caption_prompts(ids.to_pylist(), seed), captions),
        source="coco", task="caption", question_id=ann_ids, image_id=pa.array(image_ids),
        width=widths.take(at), height=heights.take(at),
    )
    yield from columns.slices(table)


def image_sizes(images: Iterator[Mapping[str, Any]]) -> dict[int, tuple[int, int]]:
    """``image id -> (width, height)`` from the ``images`` list of a COCO file."""
    return {int(im["id"]): (int(im["width"]), int(im["height"])) for im in images}


def annotation_to_record(index: int, annotation: Mapping[str, Any], *, record_id: str, coco_split: str, size: tuple[int, int] | None, seed: int = 0) -> dict[str, Any]:
    """One COCO caption annotation → one caption record (image ``coco/COCO_{split}_%012d.jpg``)."""
    image_id = int(annotation["image_id"])
    width, height = size if size else (None, None)
    return caption_record(
        record_id,
        coco_image_path(image_id, coco_split),
        annotation["caption"],
        source="coco",
        seed=seed,
        question_id=annotation.get("id"),
        image_id=image_id,
        width=width,
        height=height,
    )


class Coco(SourceBuilder):
    """COCO captions as LLaVA records: 414,113 in DataOptim's train release."""

    SOURCE = "coco"
    ORIGINAL_FILES = {
        "train": {"captions": ("captions_train2014.json",)},
        "validation": {"captions": ("captions_val2014.json",)},
    }
    DESCRIPTION = "COCO Captions 2014: five human captions per image, as one-turn caption records."
    HOMEPAGE = "https://cocodataset.org/#download"
    LICENSE = "CC BY 4.0 (annotations); images under their Flickr licences"
    CITATION = """@article{chen2015microsoft,
  title={Microsoft COCO Captions: Data Collection and Evaluation Server},
  author={Chen, Xinlei and Fang, Hao and Lin, Tsung-Yi and Vedantam, Ramakrishna and Gupta, Saurabh and Doll{\\'a}r, Piotr and Zitnick, C. Lawrence},
  journal={arXiv preprint arXiv:1504.00325},
  year={2015}
}"""
    DOWNLOAD = "http://images.cocodataset.org/annotations/annotations_trainval2014.zip (annotations/captions_*2014.json)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return caption_tables(files["captions"], prefix=self.record_id("", split), coco_split=COCO_SPLITS[split], seed=self.config.seed)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["captions"]
        what = "COCO captions file"
        with annotation_errors(path, 0, "images"):
            sizes = image_sizes(iter_json_list(path, "images", what=what))
        for index, annotation in enumerate(iter_json_list(path, "annotations", what=what)):
            with annotation_errors(path, index, f"annotations[{index}]"):
                yield annotation_to_record(
                    index, annotation, record_id=self.record_id(index, split), coco_split=COCO_SPLITS[split],
                    size=sizes.get(int(annotation["image_id"])), seed=self.config.seed,
                )
