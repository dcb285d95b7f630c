"""VQAv2 (Goyal et al., 2017): open-ended visual question answering on COCO images.

Original files, a pair per split (https://visualqa.org/download.html):

* questions ``v2_OpenEnded_mscoco_train2014_questions.json``: ``{"info", "task_type",
  "data_type", "license", "data_subtype", "questions": [{"image_id": 262148,
  "question": "Where is he looking?", "question_id": 262148000}, ...]}``;
* annotations ``v2_mscoco_train2014_annotations.json``: ``{"info", "license",
  "data_subtype", "annotations": [{"image_id", "question_id", "question_type",
  "answer_type", "multiple_choice_answer", "answers": [10 × {"answer",
  "answer_confidence", "answer_id"}]}], "data_type"}``.

DataOptim keeps every train question (443,757): id ``vqav2_{question_id}``,
image ``coco/COCO_train2014_%012d.jpg``, answer ``multiple_choice_answer`` as
given. The val2014 pair gives the ``validation`` split. The test2015 questions
have no annotations and are not read; a split whose questions file is present
without its annotations file (or the reverse) is an error naming the missing file.

Table path (:meth:`VQAv2.original_tables`): each file is decoded once with
``msgspec`` into :class:`Question`/:class:`Annotation` structs (only the fields
used), the join is ``pc.index_in`` over the ``question_id`` columns, and the
records are built by columns. Row-by-row reference
(:meth:`VQAv2.original_records`, which also names any fault): the annotations
are streamed into a dict ``question_id -> answer`` (ints and short strings),
then the questions are streamed against it. The same join serves OK-VQA
(:mod:`dataoptim.builders.okvqa`), which uses VQA v1's layout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, load_bytes, top_level_keys_once
from dataoptim.convert import coco_image_path, vqa_record
from dataoptim.errors import InputError
from dataoptim.io import iter_json_list

COCO_SPLITS = {"train": "train2014", "validation": "val2014"}


class Question(msgspec.Struct):
    """The fields of a VQA question the table path reads."""

    question_id: int
    image_id: int
    question: str


class QuestionsFile(msgspec.Struct):
    questions: list[Question]


class Annotation(msgspec.Struct):
    """The fields of a VQAv2 annotation the table path reads."""

    question_id: int
    multiple_choice_answer: str


class AnnotationsFile(msgspec.Struct):
    annotations: list[Annotation]


def non_empty_text(value: Any, name: str) -> str:
    """``value`` if it is a non-empty string; else ``ValueError`` naming ``name``."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name!r} must be a non-empty string, found {value!r}")
    return value


def multiple_choice_answer(annotation: Mapping[str, Any]) -> str:
    """VQAv2's answer of one annotation: ``multiple_choice_answer`` as given.

    Raises:
        KeyError: the field is missing. ValueError: it is not a non-empty string.
    """
    return non_empty_text(annotation["multiple_choice_answer"], "multiple_choice_answer")


def question_to_record(question: Mapping[str, Any], answer: str, *, record_id: str, coco_split: str, source: str = "vqav2") -> dict[str, Any]:
    """One question of a VQA questions file and its answer → one open-ended VQA record.

    Args:
        question: ``{"image_id": int, "question": str, "question_id": int}``.
        answer: the answer chosen from the question's annotation.
        record_id: ``vqav2_{question_id}`` (or ``vqav2_validation_{question_id}``).
        coco_split: ``train2014`` or ``val2014`` (names the image file).
        source: config name (``vqav2``; ``okvqa`` reuses this function).

    Returns:
        The record, with native columns ``question_id`` and ``image_id``.

    Raises:
        KeyError: a field is missing. ValueError, TypeError: ``image_id`` is not an
        integer, or ``question`` is not a non-empty string.
    """
    image_id = int(question["image_id"])
    text = non_empty_text(question["question"], "question")
    return vqa_record(
        record_id, coco_image_path(image_id, coco_split), text, answer,
        source=source, question_id=question["question_id"], image_id=image_id,
    )


def read_answers(path: Path, answer_of: Callable[[Mapping[str, Any]], str], *, what: str) -> dict[int, str]:
    """Stream a VQA annotations file into ``{question_id: answer_of(annotation)}``.

    Memory: the dict only, never the file; answers are interned, so the many
    repeated ones (``yes``, ``2``) are stored once.

    Raises:
        MissingFileError: no file. InputError: not ``{"annotations": [...]}``; an annotation
        with a missing or malformed field (naming file, index and field); a repeated ``question_id``.
    """
    answers: dict[int, str] = {}
    for index, annotation in enumerate(iter_json_list(path, "annotations", what=what)):
        with annotation_errors(path, index, f"annotations[{index}]"):
            question_id = int(annotation["question_id"])
            if question_id in answers:
                raise InputError(f"question_id {question_id} is annotated twice", file=path, record=index, field=f"annotations[{index}].question_id")
            answers[question_id] = sys.intern(answer_of(annotation))
    return answers


def join_questions(
    path: Path, answers: dict[int, str], *, annotations: Path, make_record: Callable[[Mapping[str, Any], str], dict[str, Any]], what: str
) -> Iterator[dict[str, Any]]:
    """Stream a VQA questions file and yield ``make_record(question, answers[question_id])`` in file order.

    Raises:
        InputError: not ``{"questions": [...]}``; a question with a missing or
        malformed field; a repeated ``question_id``; a question without annotation;
        at the end, annotations left without a question (the files do not match).
    """
    seen: set[int] = set()
    for index, question in enumerate(iter_json_list(path, "questions", what=what)):
        with annotation_errors(path, index, f"questions[{index}]"):
            question_id = int(question["question_id"])
            field = f"questions[{index}].question_id"
            if question_id in seen:
                raise InputError(f"question_id {question_id} appears twice", file=path, record=index, field=field)
            if question_id not in answers:
                raise InputError(f"question_id {question_id} has no annotation in {annotations.name}", file=path, record=index, field=field)
            seen.add(question_id)
            record = make_record(question, answers[question_id])
        yield record
    if len(seen) != len(answers):
        orphan = next(q for q in answers if q not in seen)
        raise InputError(
            f"{len(answers) - len(seen)} annotation(s) have no question in {path.name} (first: question_id {orphan}); "
            "are the questions and annotations files of the same split?",
            file=annotations,
        )


def joined_tables(
    questions: Path, annotations: Path, *, annotation_type: type, answers_of: Callable[[list], list[str]], prefix: str, coco_split: str, source: str
) -> Iterator[pa.Table]:
    """The table path of :func:`join_questions`: both files decoded once, joined by columns, in question order.

    Args:
        annotation_type: the ``msgspec`` struct of one annotation (with ``question_id: int``).
        answers_of: decoded annotations -> their answers, a list or a string array (raises :class:`TablePathFailed` on a bad one).
        prefix: ``vqav2_`` (train) or ``vqav2_validation_``: the id is ``prefix + question_id``.

    Raises:
        TablePathFailed, msgspec errors: whatever the reference must name (repeated or unmatched
        question ids, a wrong type, a blank text, a negative image id).
    """
    abuf = load_bytes(annotations)
    top_level_keys_once(abuf, "annotations")
    anns = msgspec.json.decode(abuf, type=msgspec.defstruct("Annotations", [("annotations", list[annotation_type])])).annotations
    ann_ids = pa.array([a.question_id for a in anns], type=pa.int64())
    answers = answers_of(anns)
    answers = answers if isinstance(answers, pa.Array) else pa.array(answers, type=pa.string())
    del anns
    qbuf = load_bytes(questions)
    top_level_keys_once(qbuf, "questions")
    qs = msgspec.json.decode(qbuf, type=QuestionsFile).questions
    qids = pa.array([q.question_id for q in qs], type=pa.int64())
    image_ids = np.fromiter((q.image_id for q in qs), dtype=np.int64, count=len(qs))
    texts = pa.array([q.question for q in qs], type=pa.string())
    del qs
    if not columns.is_unique(ann_ids) or not columns.is_unique(qids) or len(qids) != len(ann_ids):
        raise TablePathFailed("question ids repeat, or the files hold different numbers of them")
    where = pc.index_in(qids, value_set=ann_ids)
    if where.null_count:
        raise TablePathFailed("a question has no annotation")
    if columns.any_blank(texts) or columns.any_blank(answers):
        raise TablePathFailed("a blank question or answer")
    table = columns.record_table(
        columns.prefixed(prefix, qids),
        columns.coco_image_paths(image_ids, coco_split),
        columns.two_turns(columns.vqa_prompts(texts), answers.take(where)),
        source=source, task="vqa", question_id=qids, image_id=pa.array(image_ids),
    )
    yield from columns.slices(table)


def multiple_choice_answers(annotations: list[Annotation]) -> list[str]:
    """VQAv2's answers of decoded annotations: ``multiple_choice_answer`` as given (the table path of :func:`multiple_choice_answer`)."""
    return [a.multiple_choice_answer for a in annotations]


class VQAv2(SourceBuilder):
    """VQAv2 open-ended questions as LLaVA records: 443,757 in DataOptim's train release."""

    SOURCE = "vqav2"
    ORIGINAL_FILES = {
        "train": {"questions": ("v2_OpenEnded_mscoco_train2014_questions.json",), "annotations": ("v2_mscoco_train2014_annotations.json",)},
        "validation": {"questions": ("v2_OpenEnded_mscoco_val2014_questions.json",), "annotations": ("v2_mscoco_val2014_annotations.json",)},
    }
    DESCRIPTION = "VQAv2 (balanced real images): open-ended questions on COCO images, answered with the annotators' multiple-choice answer."
    HOMEPAGE = "https://visualqa.org/"
    LICENSE = "CC BY 4.0 (annotations); images from COCO under their Flickr licences"
    CITATION = """@inproceedings{goyal2017making,
  title={Making the V in VQA Matter: Elevating the Role of Image Understanding in Visual Question Answering},
  author={Goyal, Yash and Khot, Tejas and Summers-Stay, Douglas and Batra, Dhruv and Parikh, Devi},
  booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={6904--6913},
  year={2017}
}"""
    DOWNLOAD = (
        "https://visualqa.org/download.html: v2_Questions_Train_mscoco.zip and v2_Annotations_Train_mscoco.zip "
        "(and the Val pair) from https://s3.amazonaws.com/cvmlp/vqa/mscoco/vqa/"
    )
    #: How the answer is taken from one annotation (OK-VQA overrides it).
    answer_of: ClassVar[Callable[[Mapping[str, Any]], str]] = staticmethod(multiple_choice_answer)
    #: Words for the files in messages.
    FILE_WORDS: ClassVar[str] = "VQAv2"
    #: The table path's struct of one annotation and how answers come from a list of them (OK-VQA overrides both).
    ANNOTATION_TYPE: ClassVar[type] = Annotation
    answers_of: ClassVar[Callable[[list], list[str]]] = staticmethod(multiple_choice_answers)

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return joined_tables(
            files["questions"], files["annotations"], annotation_type=self.ANNOTATION_TYPE, answers_of=self.answers_of,
            prefix=self.record_id("", split), coco_split=COCO_SPLITS[split], source=self.SOURCE,
        )

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        answers = read_answers(files["annotations"], self.answer_of, what=f"{self.FILE_WORDS} annotations file")

        def make_record(question: Mapping[str, Any], answer: str) -> dict[str, Any]:
            record_id = self.record_id(int(question["question_id"]), split)
            return question_to_record(question, answer, record_id=record_id, coco_split=COCO_SPLITS[split], source=self.SOURCE)

        yield from join_questions(files["questions"], answers, annotations=files["annotations"], make_record=make_record, what=f"{self.FILE_WORDS} questions file")
