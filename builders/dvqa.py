"""DVQA (Kafle et al., CVPR 2018): questions about synthetic bar charts.

Original files (kushalkafle/DVQA_dataset README): ``train_qa.json``,
``val_easy_qa.json`` and ``val_hard_qa.json``, each a JSON list of questions::

    [{"image": "bar_train_00000000.png", "question": "Which bar has the largest value?",
      "answer": "...", "question_type": "reasoning", "bbox_answer": [], "question_id": 0}, ...]

with images ``bar_{split}_{image id, 8 digits}.png`` all in one folder.

DataOptim's records are the 2,325,316 train questions (200,000 images): open-ended
VQA prompt, answer as given (DVQA writes values as cardinal numbers and counts as
words), image ``dvqa/{image}``. Ids ``dvqa_{question_id}``; the validation files
give ``dvqa_validation_easy_{question_id}`` and ``dvqa_validation_hard_{question_id}``
(splits ``validation_easy``, ``validation_hard``). Ids are not checked against
DataOptim's ``dvqa.json`` (no public record of it): ``dataoptim sources`` marks
the original files unverified; the converted file passes through unchanged.
Native column: ``question_id``.

Table path (:meth:`DVQA.original_tables`): the file is decoded once with
``msgspec`` into :class:`Question` structs (only the four fields used), the
rules the row path applies are checked over whole columns (unique
``question_id``, no blank question or answer, image names without folders), and
the records are built by columns. Anything else (an answer written as a number,
a missing field...) hands over to the row-by-row reference
(:meth:`DVQA.original_records`), which gives the same records or names the fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, load_bytes
from dataoptim.builders.docvqa import non_empty_text
from dataoptim.convert import vqa_record
from dataoptim.errors import InputError
from dataoptim.io import iter_json_array
from dataoptim.records import check_image_path


class Question(msgspec.Struct):
    """The fields of a DVQA question the table path reads."""

    image: str
    question: str
    answer: str
    question_id: int


def question_tables(path: Path, *, prefix: str) -> Iterator[pa.Table]:
    """The table path of :meth:`DVQA.original_records` for one ``*_qa.json`` (ids ``{prefix}{question_id}``).

    Raises:
        TablePathFailed, msgspec errors: a repeated ``question_id``, a blank text, an image name
        with a folder, a value of another type: anything the row path must name or convert.
    """
    questions = msgspec.json.decode(load_bytes(path), type=list[Question])
    qids = np.fromiter((q.question_id for q in questions), dtype=np.int64, count=len(questions))
    if len(np.unique(qids)) != len(qids):
        raise TablePathFailed("a question_id appears twice")
    images = pa.array([q.image for q in questions], type=pa.string())
    texts = pa.array([q.question for q in questions], type=pa.string())
    answers = pa.array([q.answer for q in questions], type=pa.string())
    del questions
    if columns.any_blank(images) or columns.any_blank(texts) or columns.any_blank(answers):
        raise TablePathFailed("a blank image, question or answer")
    if pc.any(pc.match_substring_regex(images, r"[/\\]")).as_py():
        raise TablePathFailed("an image name with a folder")
    keys = pa.array(qids).cast(pa.string())
    table = columns.record_table(
        columns.prefixed(prefix, keys), columns.concat("dvqa/", images, ""), columns.two_turns(columns.vqa_prompts(texts), answers),
        source="dvqa", task="vqa", question_id=keys,
    )
    yield from columns.slices(table)


def image_path(image: Any) -> str:
    """DataOptim's path of a DVQA chart: ``bar_train_00000000.png`` → ``dvqa/bar_train_00000000.png``.

    Raises:
        ValueError: not a non-empty string. RecordError: a path with folders, ``..`` or backslashes.
    """
    return check_image_path(f"dvqa/{non_empty_text(image, 'image')}", field="image")


def question_to_record(entry: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
    """One DVQA question → one open-ended VQA record (answer as given; a number is written in decimal).

    Raises:
        KeyError: ``image``, ``question``, ``answer`` or ``question_id`` missing. ValueError: an empty field.
    """
    return vqa_record(
        record_id, image_path(entry["image"]), non_empty_text(entry["question"], "question"), non_empty_text(entry["answer"], "answer"),
        source="dvqa", question_id=entry["question_id"],
    )


class DVQA(SourceBuilder):
    """DVQA bar-chart questions as LLaVA records: 2,325,316 in DataOptim's release."""

    SOURCE = "dvqa"
    ORIGINAL_FILES = {
        "train": {"questions": ("train_qa.json",)},
        "validation_easy": {"questions": ("val_easy_qa.json",)},
        "validation_hard": {"questions": ("val_hard_qa.json",)},
    }
    DESCRIPTION = "DVQA: 3.5M questions on 300K synthetic bar charts (structure, data retrieval and reasoning)."
    HOMEPAGE = "https://github.com/kushalkafle/DVQA_dataset"
    LICENSE = "CC BY-NC 4.0 (per its authors)"
    CITATION = """@inproceedings{kafle2018dvqa,
  title={DVQA: Understanding Data Visualizations via Question Answering},
  author={Kafle, Kushal and Cohen, Scott and Price, Brian and Kanan, Christopher},
  booktitle={CVPR},
  year={2018}
}"""
    DOWNLOAD = "https://github.com/kushalkafle/DVQA_dataset (question-answer pairs: train_qa.json, val_easy_qa.json, val_hard_qa.json)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return question_tables(files["questions"], prefix=self.record_id("", split))

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["questions"]
        seen: dict[int, int] = {}
        for index, entry in enumerate(iter_json_array(path, what="DVQA questions file")):
            with annotation_errors(path, index, f"[{index}]"):
                key = int(entry["question_id"])
                if key in seen:
                    raise InputError(f"question_id {key} appears twice (first: [{seen[key]}])", file=path, record=index, field=f"[{index}].question_id")
                seen[key] = index
                record = question_to_record(entry, record_id=self.record_id(key, split))
            yield record
