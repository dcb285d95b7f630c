"""DocVQA (Mathew et al., WACV 2021): questions on scanned industry documents (UCSF Industry Documents Library).

Original files (Task 1 "Single Page Document VQA", https://www.docvqa.org/datasets):
``train_v1.0.json`` and ``val_v1.0.json``, each an object whose ``data`` list holds
one question per entry::

    {"dataset_name": "docvqa", "dataset_split": "train", "dataset_version": "1.0",
     "data": [{"questionId": 337, "question": "what is the date mentioned in this letter?",
               "question_types": ["handwritten", "form"], "image": "documents/xnbl0037_1.png",
               "docId": 279, "ucsf_document_id": "xnbl0037", "ucsf_document_page_no": "1",
               "answers": ["1/8/93"], "data_split": "train"}, ...]}

DataOptim's records are the 39,463 train questions (10,194 images; its README):
open-ended VQA prompt (``{question} Answer the question directly with a short
sentence or phrase.``), image ``docvqa/{file name}`` (DataOptim's image tree shows
``docvqa/ffbf0023_4.png``). The answer is the first of the annotators' ``answers``.
Ids ``docvqa_{questionId}`` (validation: ``docvqa_validation_{questionId}``): not
checked against DataOptim's ``docvqa.json`` (no public record of it), so
``dataoptim sources`` marks the original files unverified; DataOptim's converted
file passes through unchanged. The test file has no answers and is not read.
Native columns: ``question_id``, ``image_id`` (``docId``).
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any, Iterator, Mapping

from dataoptim.builder import SourceBuilder, annotation_errors
from dataoptim.convert import vqa_record
from dataoptim.errors import InputError
from dataoptim.io import iter_json_list
from dataoptim.records import check_image_path


def non_empty_text(value: Any, name: str) -> str:
    """``value`` as a string if it is a non-empty string or a number; else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise ValueError(f"{name!r} must be a non-empty string, found {value!r}")
    return str(value)


def image_path(image: Any) -> str:
    """DataOptim's path of a DocVQA page: ``documents/xnbl0037_1.png`` → ``docvqa/xnbl0037_1.png``.

    Raises:
        ValueError: not a non-empty string. RecordError: the path would leave the image folder.
    """
    name = posixpath.basename(non_empty_text(image, "image"))
    return check_image_path(f"docvqa/{name}", field="image")


def first_answer(answers: Any) -> str:
    """The first of DocVQA's ``answers`` (a non-empty list of strings).

    Raises:
        ValueError: not a non-empty list, or its first answer is empty.
    """
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"'answers' must be a non-empty list, found {answers!r}")
    return non_empty_text(answers[0], "answers[0]")


def question_to_record(entry: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
    """One entry of ``data`` → one open-ended VQA record.

    Raises:
        KeyError: ``questionId``, ``question``, ``image`` or ``answers`` missing.
        ValueError: a field empty or of the wrong type.
    """
    return vqa_record(
        record_id, image_path(entry["image"]), non_empty_text(entry["question"], "question"), first_answer(entry["answers"]),
        source="docvqa", question_id=entry["questionId"], image_id=entry.get("docId"),
    )


class DocVQA(SourceBuilder):
    """DocVQA single-page questions as LLaVA records: 39,463 in DataOptim's release."""

    SOURCE = "docvqa"
    ORIGINAL_FILES = {"train": {"questions": ("train_v1.0.json",)}, "validation": {"questions": ("val_v1.0.json",)}}
    DESCRIPTION = "DocVQA: questions on 12K scanned document pages, answered by extracting text from the page."
    HOMEPAGE = "https://www.docvqa.org/"
    LICENSE = "research use (see https://www.docvqa.org/); documents from the UCSF Industry Documents Library"
    CITATION = """@inproceedings{mathew2021docvqa,
  title={DocVQA: A Dataset for VQA on Document Images},
  author={Mathew, Minesh and Karatzas, Dimosthenis and Jawahar, C. V.},
  booktitle={WACV},
  pages={2200--2209},
  year={2021}
}"""
    DOWNLOAD = "https://rrc.cvc.uab.es/?ch=17 (Task 1: train_v1.0.json, val_v1.0.json; registration needed)"

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["questions"]
        seen: dict[Any, int] = {}
        for index, entry in enumerate(iter_json_list(path, "data", what="DocVQA questions file")):
            with annotation_errors(path, index, f"data[{index}]"):
                key = int(entry["questionId"])
                if key in seen:
                    raise InputError(f"questionId {key} appears twice (first: data[{seen[key]}])", file=path, record=index, field=f"data[{index}].questionId")
                seen[key] = index
                record = question_to_record(entry, record_id=self.record_id(key, split))
            yield record
