"""OK-VQA (Marino et al., 2019): visual questions that need outside knowledge, on COCO images.

Original files, in VQA v1's layout (https://okvqa.allenai.org/download.html):

* questions ``OpenEnded_mscoco_train2014_questions.json``: ``{..., "questions":
  [{"image_id": 522741, "question": "...", "question_id": 5227415}, ...]}``;
* annotations ``mscoco_train2014_annotations.json``: ``{..., "annotations":
  [{"image_id", "question_id", "question_type", "answer_type", "confidence",
  "answers": [10 × {"answer_id", "raw_answer", "answer", "answer_confidence"}]}]}``.
  OK-VQA had five annotators; each answer appears twice among the ten.

DataOptim keeps every train question (9,009): id ``okvqa_{question_id}``, image
``coco/COCO_train2014_%012d.jpg``, answer the most frequent of the ten
``answers[].answer`` (ties go to the answer met first,
:func:`dataoptim.convert.most_frequent`). The val2014 pair gives the
``validation`` split (5,046 questions). The join of questions and annotations is
VQAv2's (:mod:`dataoptim.builders.vqav2`); only the answer rule differs.

Note: VQA v1 uses the same file names; a folder holding VQA v1's files would be
read as OK-VQA (OK-VQA's question ids are ``image_id * 10 + k``).
"""

from __future__ import annotations

from typing import Any, Mapping

import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import TablePathFailed
from dataoptim.builders.vqav2 import VQAv2, non_empty_text
from dataoptim.convert import most_frequent


class Answer(msgspec.Struct):
    answer: str


class Annotation(msgspec.Struct):
    """The fields of an OK-VQA annotation the table path reads."""

    question_id: int
    answers: list[Answer]


def most_frequent_answers(annotations: list[Annotation]) -> pa.Array:
    """The table path of :func:`most_frequent_answer` over decoded annotations, by columns.

    Per annotation, the answer with the highest count, ties to the one met first (as
    ``Counter.most_common(1)`` gives): the flat answers are sorted by (annotation, -count,
    first position) and the first of each annotation is taken.

    Raises:
        TablePathFailed: an annotation without answers, or a blank answer (the row path names it).
    """
    lengths = np.fromiter((len(a.answers) for a in annotations), dtype=np.int64, count=len(annotations))
    flat = pa.array([x.answer for a in annotations for x in a.answers], type=pa.string())
    if (lengths == 0).any() or columns.any_blank(flat):
        raise TablePathFailed("an annotation without answers, or a blank answer")
    return columns.most_frequent(lengths, flat)


def most_frequent_answer(annotation: Mapping[str, Any]) -> str:
    """OK-VQA's answer of one annotation: the most frequent ``answers[].answer``; ties go to the first met.

    Raises:
        KeyError: ``answers`` or an ``answers[k].answer`` is missing (named by its path).
        ValueError: ``answers`` is empty or an answer is not a non-empty string.
        TypeError: ``answers`` is not a list of objects.
    """
    answers = annotation["answers"]
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"'answers' must be a non-empty list, found {answers!r}")
    texts = []
    for k, answer in enumerate(answers):
        if not isinstance(answer, Mapping):
            raise TypeError(f"answers[{k}] must be an object, found {type(answer).__name__}")
        if "answer" not in answer:
            raise KeyError(f"answers[{k}].answer")
        texts.append(non_empty_text(answer["answer"], f"answers[{k}].answer"))
    return most_frequent(texts)


class OKVQA(VQAv2):
    """OK-VQA questions as LLaVA records: 9,009 in DataOptim's train release."""

    SOURCE = "okvqa"
    ORIGINAL_FILES = {
        "train": {"questions": ("OpenEnded_mscoco_train2014_questions.json",), "annotations": ("mscoco_train2014_annotations.json",)},
        "validation": {"questions": ("OpenEnded_mscoco_val2014_questions.json",), "annotations": ("mscoco_val2014_annotations.json",)},
    }
    DESCRIPTION = "OK-VQA: open-ended questions on COCO images that need outside knowledge, answered with the annotators' most frequent answer."
    HOMEPAGE = "https://okvqa.allenai.org/"
    LICENSE = "see https://okvqa.allenai.org/ for the annotations' terms (not restated here); images from COCO under their Flickr licences"
    CITATION = """@inproceedings{marino2019ok,
  title={OK-VQA: A Visual Question Answering Benchmark Requiring External Knowledge},
  author={Marino, Kenneth and Rastegari, Mohammad and Farhadi, Ali and Mottaghi, Roozbeh},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={3195--3204},
  year={2019}
}"""
    DOWNLOAD = (
        "https://okvqa.allenai.org/download.html: OpenEnded_mscoco_train2014_questions.json.zip and "
        "mscoco_train2014_annotations.json.zip (and the val2014 pair), unzipped"
    )
    answer_of = staticmethod(most_frequent_answer)
    ANNOTATION_TYPE = Annotation
    answers_of = staticmethod(most_frequent_answers)
    FILE_WORDS = "OK-VQA"
