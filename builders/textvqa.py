"""TextVQA 0.5.1 (Singh et al., CVPR 2019): questions that need reading the text in Open Images photos.

Original files: ``TextVQA_0.5.1_train.json`` and ``TextVQA_0.5.1_val.json``,
``{"dataset_type", "dataset_name", "dataset_version", "data": [...]}`` with one
item per question::

    {"question": "what is the brand of phone?", "image_id": "0054c91397f2fe05",
     "image_classes": [...], "flickr_original_url": "...", "flickr_300k_url": "...",
     "image_width": 1024, "image_height": 730,
     "answers": ["nokia", "nokia", "nokia", "nokia", "toshiba", ...],  # 10 annotators
     "question_tokens": [...], "question_id": 0, "set_name": "train"}

DataOptim numbers the train questions in file order: ``textvqa_0`` is the first
item of ``data`` and the full file gives 34,602 (``textvqa_34601`` is the last).
In the real train file the running index equals ``question_id`` (0–34601; the
val questions go on from 34602), but the id is the index, not the field.
Validation questions are numbered the same way within their split
(``textvqa_validation_0``, ...).

Image: ``open_images/{image_id}.jpg``. Answer: the most frequent of the ten
answers (ties: the one met first, :func:`dataoptim.convert.most_frequent`).
Native columns: ``question_id``, ``image_id``, ``width``/``height`` from
``image_width``/``image_height`` when present.

The test split (``TextVQA_0.5.1_test.json``) carries no answers, so it gives no
training record: the builder does not read it, even when it lies in ``data_dir``.

Table path (:func:`question_tables`): the file is split into items and decoded
:data:`dataoptim.columns.TABLE_ROWS` at a time with ``msgspec`` (the fields
used only); records are built by columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, decode_list_batches, load_bytes, top_level_keys_once
from dataoptim.convert import most_frequent, vqa_record
from dataoptim.io import iter_json_list
from dataoptim.records import check_image_path


class Item(msgspec.Struct):
    """The fields of a TextVQA item the table path reads."""

    question: str
    image_id: str
    answers: list[str]
    question_id: int | str | None = None
    image_width: int | None = None
    image_height: int | None = None


def question_tables(path: Path, *, prefix: str) -> Iterator[pa.Table]:
    """The table path of :func:`question_to_record` over a whole file: records ``{prefix}{index}`` in file order.

    Raises:
        TablePathFailed, msgspec errors: a blank question or image id, no answers (a test file), a wrong type.
    """
    buffer = load_bytes(path)
    top_level_keys_once(buffer, "data")
    start = 0
    for items in decode_list_batches(buffer, Item, key="data"):
        image_ids = pa.array([e.image_id for e in items], type=pa.string())
        questions = pa.array([e.question for e in items], type=pa.string())
        if columns.any_blank(image_ids) or columns.any_blank(questions) or not all(e.answers for e in items):
            raise TablePathFailed("a blank question or image id, or no answers")
        yield columns.record_table(
            columns.prefixed(prefix, pa.array(np.arange(start, start + len(items)))),
            columns.concat("open_images/", image_ids, ".jpg"),
            columns.two_turns(columns.vqa_prompts(questions), columns.most_frequent(
                np.fromiter((len(e.answers) for e in items), dtype=np.int64, count=len(items)),
                pa.array([answer for e in items for answer in e.answers], type=pa.string()))),
            source="textvqa", task="vqa", question_id=[None if e.question_id is None else str(e.question_id) for e in items],
            image_id=image_ids, width=[e.image_width for e in items], height=[e.image_height for e in items],
        )
        start += len(items)


def image_path(image_id: str) -> str:
    """Image path of Open Images image ``image_id`` in DataOptim's folder: ``open_images/03b2dbb7dff0e32d.jpg``.

    Raises:
        RecordError: the id would make a path outside the image folder, field ``image_id``.
    """
    return check_image_path(f"open_images/{image_id}.jpg", field="image_id")


def question_to_record(item: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
    """One item of ``data`` → one open-VQA record.

    Args:
        item: the question; ``question``, ``image_id`` and ``answers`` are read, and
            ``question_id``, ``image_width``, ``image_height`` when present.
        record_id: ``textvqa_{running index}`` (the builder numbers the items).

    Returns:
        The record: image ``open_images/{image_id}.jpg``, human turn ``<image>\\n{question} Answer
        the question directly ...``, gpt turn the most frequent answer.

    Raises:
        KeyError: ``question``, ``image_id`` or ``answers`` is missing (a test-split item has no ``answers``).
        TypeError: a field has the wrong type, or ``answers`` is not a non-empty list of strings.
        RecordError: unsafe ``image_id``.
    """
    if not isinstance(item, Mapping):
        raise TypeError(f"a question must be a JSON object, found {type(item).__name__}")
    question, image_id, answers = item["question"], item["image_id"], item["answers"]
    for name, value in (("question", question), ("image_id", image_id)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name!r} must be a non-empty string, found {value!r}")
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise TypeError(f"'answers' must be a non-empty list of strings, found {answers!r:.80}")
    return vqa_record(
        record_id, image_path(image_id), question, most_frequent(answers), source="textvqa",
        question_id=item.get("question_id"), image_id=image_id, width=item.get("image_width"), height=item.get("image_height"),
    )


class TextVQA(SourceBuilder):
    """TextVQA 0.5.1 as LLaVA records: 34,602 in DataOptim's train release."""

    SOURCE = "textvqa"
    ORIGINAL_FILES = {
        "train": {"questions": ("TextVQA_0.5.1_train.json",)},
        "validation": {"questions": ("TextVQA_0.5.1_val.json",)},
    }
    DESCRIPTION = (
        "TextVQA 0.5.1: questions about text in Open Images photos, ten answers each, "
        "as one-turn open-VQA records answered with the most frequent answer."
    )
    HOMEPAGE = "https://textvqa.org/"
    LICENSE = "CC BY 4.0 (questions and answers); images from Open Images (CC BY 2.0)"
    CITATION = """@inproceedings{singh2019towards,
  title={Towards VQA Models That Can Read},
  author={Singh, Amanpreet and Natarajan, Vivek and Shah, Meet and Jiang, Yu and Chen, Xinlei and Batra, Dhruv and Parikh, Devi and Rohrbach, Marcus},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={8317--8326},
  year={2019}
}"""
    DOWNLOAD = (
        "https://dl.fbaipublicfiles.com/textvqa/data/TextVQA_0.5.1_train.json and TextVQA_0.5.1_val.json "
        "(images: https://dl.fbaipublicfiles.com/textvqa/images/train_val_images.zip, stored as open_images/<image_id>.jpg)"
    )

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return question_tables(files["questions"], prefix=self.record_id("", split))

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["questions"]
        for index, item in enumerate(iter_json_list(path, "data", what=f"TextVQA file {path.name}")):
            with annotation_errors(path, index, f"data[{index}]"):
                record = question_to_record(item, record_id=self.record_id(index, split))
            yield record
