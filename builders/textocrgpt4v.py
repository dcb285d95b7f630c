"""TextOCR-GPT4V (jimmycarter/textocr-gpt4v, 2024): GPT-4V captions of TextOCR images that spell out their text.

Original file: the hub dataset ``jimmycarter/textocr-gpt4v`` (CC BY-NC 4.0) holds
one row per TextOCR train image (25,114): the image, its file name and the GPT-4V
caption. This builder reads its rows exported as JSON (``textocr_gpt4v.json``, a
list, or ``textocr_gpt4v.jsonl``, one object per line) with at least::

    {"filename": "a4ea732cd3d5948a.jpg", "caption": "The image shows ..."}

(``image_id`` instead of ``filename`` is accepted: TextOCR names images by their
Open Images id.) The layout of the exported rows and the image folder are not
checked against DataOptim's ``textocrgpt4v.json`` (no public record of it):
``dataoptim sources`` marks the original file unverified and DataOptim's
converted file passes through unchanged.

Records: DataOptim's captioning rule (its README lists TextOCR-GPT4V with COCO,
Flickr30K and TextCaps): ``<image>\\n`` + one of the five caption instructions,
picked reproducibly per id, answered by the caption as given. Image
``open_images/{image_id}.jpg`` (TextOCR annotates TextVQA's Open Images train
images, which DataOptim keeps in ``open_images/``). Ids ``textocrgpt4v_{index}``
in file order.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Iterator, Mapping

from dataoptim.builder import SourceBuilder, annotation_errors
from dataoptim.builders.docvqa import non_empty_text
from dataoptim.convert import caption_record
from dataoptim.io import iter_json_array, iter_jsonl
from dataoptim.records import check_image_path


def image_path(row: Mapping[str, Any]) -> str:
    """``open_images/{image id}.jpg`` from a row's ``filename`` (its base name) or ``image_id``.

    Raises:
        KeyError: neither field. ValueError: empty. RecordError: a path that would leave the folder.
    """
    if "filename" in row:
        name = posixpath.basename(non_empty_text(row["filename"], "filename"))
    else:
        name = non_empty_text(row["image_id"], "image_id") + ".jpg"
    if "." not in name:
        name += ".jpg"
    return check_image_path(f"open_images/{name}", field="filename" if "filename" in row else "image_id")


def row_to_record(index: int, row: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """Row ``index`` (0-based, file order) → one caption record ``textocrgpt4v_{index}``.

    Raises:
        KeyError: ``caption`` (or both image fields) missing. ValueError: an empty caption.
    """
    image = image_path(row)
    return caption_record(
        f"textocrgpt4v_{index}", image, non_empty_text(row["caption"], "caption"), source="textocrgpt4v", seed=seed,
        image_id=posixpath.splitext(posixpath.basename(image))[0],
    )


class TextOCRGPT4V(SourceBuilder):
    """TextOCR-GPT4V captions as LLaVA records: 25,114 in DataOptim's release."""

    SOURCE = "textocrgpt4v"
    ORIGINAL_FILES = {"train": {"captions": ("textocr_gpt4v.json", "textocr_gpt4v.jsonl")}}
    DESCRIPTION = "TextOCR-GPT4V: GPT-4V captions of the TextOCR (TextVQA/Open Images) train images, emphasising the text they show."
    HOMEPAGE = "https://huggingface.co/datasets/jimmycarter/textocr-gpt4v"
    LICENSE = "CC BY-NC 4.0 (captions); images: Open Images (CC BY 2.0) via TextOCR"
    CITATION = """@misc{textocrgpt4v,
  title={TextOCR-GPT4V},
  author={Carter, Jimmy},
  howpublished={\\url{https://huggingface.co/datasets/jimmycarter/textocr-gpt4v}},
  year={2024}
}"""
    DOWNLOAD = "https://huggingface.co/datasets/jimmycarter/textocr-gpt4v (export its rows as textocr_gpt4v.jsonl: filename, caption)"

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["captions"]
        if path.suffix == ".jsonl":
            rows = enumerate(row for _, row in iter_jsonl(path, what="TextOCR-GPT4V rows"))  # ids count rows, blank lines aside
        else:
            rows = enumerate(iter_json_array(path, what="TextOCR-GPT4V rows"))
        for index, row in rows:
            with annotation_errors(path, index, f"[{index}]"):
                record = row_to_record(index, row, seed=self.config.seed)
            yield record
