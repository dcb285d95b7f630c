"""Visual Genome QA (Krishna et al., IJCV 2017): free-form questions about Visual Genome images.

Original file (Visual Genome 1.2, ``question_answers.json``): a JSON list with one
entry per image, each holding that image's questions::

    [{"id": 1, "qas": [{"qa_id": 986768, "image_id": 1, "question": "What color is the clock?",
                        "answer": "Green.", "a_objects": [], "q_objects": []}, ...]},
     ...]

DataOptim's records are all 1,445,322 questions (99,280 images; VG has no
train/test split, so one split): open-ended VQA prompt (``{question} Answer the
question directly with a short sentence or phrase.``), answer as given (VG's
answers are short sentences, often ending in a full stop), image
``visual_genome/{image_id}.jpg`` (the folder GQA and SVIT use). Ids
``vgqa_{qa_id}`` (VG's own unique question id): not checked against DataOptim's
``vgqa.json`` (no public record of it), so ``dataoptim sources`` marks the
original file unverified; DataOptim's converted file passes through unchanged.
Native columns: ``question_id`` (``qa_id``), ``image_id``.

Table path (:meth:`VGQA.original_tables`): the file is decoded once with
``msgspec`` into :class:`Image`/:class:`QA` structs (only the fields used),
flattened, checked over whole columns (unique ``qa_id``, non-negative image ids,
no blank question or answer) and built by columns; anything else hands over to
the row-by-row reference (:meth:`VGQA.original_records`), which names the fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, load_bytes
from dataoptim.builders.docvqa import non_empty_text
from dataoptim.convert import vqa_record
from dataoptim.errors import InputError
from dataoptim.io import iter_json_array


class QA(msgspec.Struct):
    """The fields of one VG question the table path reads."""

    qa_id: int
    image_id: int
    question: str
    answer: str


class Image(msgspec.Struct):
    """One entry of ``question_answers.json``: an image's questions."""

    qas: list[QA]


def qa_tables(path: Path, *, prefix: str) -> Iterator[pa.Table]:
    """The table path of :meth:`VGQA.original_records` (ids ``{prefix}{qa_id}``), in file order.

    Raises:
        TablePathFailed, msgspec errors: a repeated ``qa_id``, a negative image id, a blank text,
        a value of another type: anything the row path must name or convert.
    """
    qas = [qa for image in msgspec.json.decode(load_bytes(path), type=list[Image]) for qa in image.qas]
    qids = np.fromiter((q.qa_id for q in qas), dtype=np.int64, count=len(qas))
    image_ids = np.fromiter((q.image_id for q in qas), dtype=np.int64, count=len(qas))
    if len(np.unique(qids)) != len(qids):
        raise TablePathFailed("a qa_id appears twice")
    if len(image_ids) and image_ids.min() < 0:
        raise TablePathFailed("a negative image id")
    texts = pa.array([q.question for q in qas], type=pa.string())
    answers = pa.array([q.answer for q in qas], type=pa.string())
    del qas
    if columns.any_blank(texts) or columns.any_blank(answers):
        raise TablePathFailed("a blank question or answer")
    keys = pa.array(qids).cast(pa.string())
    images = pa.array(image_ids).cast(pa.string())
    table = columns.record_table(
        columns.prefixed(prefix, keys), columns.concat("visual_genome/", images, ".jpg"),
        columns.two_turns(columns.vqa_prompts(texts), answers), source="vgqa", task="vqa", question_id=keys, image_id=images,
    )
    yield from columns.slices(table)


def image_path(image_id: Any) -> str:
    """``visual_genome/{image_id}.jpg`` for a non-negative integer VG image id.

    Raises:
        ValueError, TypeError: not a non-negative integer.
    """
    if isinstance(image_id, bool):
        raise TypeError(f"'image_id' must be an integer, found {image_id!r}")
    value = int(image_id)
    if value < 0 or str(value) != str(image_id).strip():
        raise ValueError(f"'image_id' must be a non-negative integer, found {image_id!r}")
    return f"visual_genome/{value}.jpg"


def qa_to_record(qa: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
    """One entry of an image's ``qas`` → one open-ended VQA record.

    Raises:
        KeyError: ``image_id``, ``question``, ``answer`` or ``qa_id`` missing. ValueError, TypeError: a bad value.
    """
    return vqa_record(
        record_id, image_path(qa["image_id"]), non_empty_text(qa["question"], "question"), non_empty_text(qa["answer"], "answer"),
        source="vgqa", question_id=qa["qa_id"], image_id=qa["image_id"],
    )


class VGQA(SourceBuilder):
    """Visual Genome question answers as LLaVA records: 1,445,322 in DataOptim's release."""

    SOURCE = "vgqa"
    ORIGINAL_FILES = {"train": {"question_answers": ("question_answers.json",)}}
    DESCRIPTION = "Visual Genome QA: 1.4M free-form questions (what, where, when, who, why, how) on 108K Visual Genome images."
    HOMEPAGE = "https://homes.cs.washington.edu/~ranjay/visualgenome/index.html"
    LICENSE = "CC BY 4.0"
    CITATION = """@article{krishna2017visual,
  title={Visual Genome: Connecting Language and Vision Using Crowdsourced Dense Image Annotations},
  author={Krishna, Ranjay and Zhu, Yuke and Groth, Oliver and Johnson, Justin and Hata, Kenji and Kravitz, Joshua and Chen, Stephanie and Kalantidis, Yannis and Li, Li-Jia and Shamma, David A and others},
  journal={International Journal of Computer Vision},
  volume={123},
  pages={32--73},
  year={2017}
}"""
    DOWNLOAD = "https://homes.cs.washington.edu/~ranjay/visualgenome/api.html (version 1.2: question_answers.json.zip)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return qa_tables(files["question_answers"], prefix=self.record_id("", split))

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["question_answers"]
        seen: set[int] = set()
        for index, entry in enumerate(iter_json_array(path, what="Visual Genome question_answers.json")):
            with annotation_errors(path, index, f"[{index}]"):
                qas = entry["qas"]
                if not isinstance(qas, list):
                    raise ValueError(f"'qas' must be a list, found {type(qas).__name__}")
            for j, qa in enumerate(qas):
                where = f"[{index}].qas[{j}]"
                with annotation_errors(path, index, where):
                    key = int(qa["qa_id"])
                    if key in seen:
                        raise InputError(f"qa_id {key} appears twice", file=path, record=index, field=f"{where}.qa_id")
                    seen.add(key)
                    record = qa_to_record(qa, record_id=self.record_id(key, split))
                yield record
