"""OCR-VQA (Mishra et al., ICDAR 2019): questions answered by reading book covers.

Original file: ``dataset.json`` of the OCR-VQA-200K release, one JSON object
keyed by image id (an Amazon ASIN)::

    {"761183272": {"imageURL": "http://ecx.images-amazon.com/images/I/61Y5cOdHJbL.jpg",
                   "questions": ["Who wrote this book?", "What is the title of this book?", ...],
                   "answers": ["Sandra Boynton", "Mom's Family Wall Calendar 2016", ...],
                   "title": "...", "authorName": "...", "genre": "Calendars", "split": 1},
     ...}

``split`` is an int: 1 = train, 2 = validation, 3 = test. DataOptim's records
are the (image, question) pairs of split 1, numbered in file order:
``ocrvqa_0`` is the first question of the first split-1 image, and the full
file gives 801,673 (``ocrvqa_801672`` is the last). Validation and test pairs
are numbered the same way within their split (``ocrvqa_validation_0``, ...).

Image: ``ocrvqa/{key}.jpg``, the name DataOptim wrote. Known trap (DESIGN §11;
LLaVA issues 593, 601, 1618): the files behind ``imageURL`` are partly GIF or
PNG, and some are missing or corrupt. The record keeps the ``.jpg`` name, as
DataOptim's records do, so whoever fetches the images must store (or convert)
each one under ``{key}.jpg``.

Answer: as given. Native columns: ``image_id`` is the key; OCR-VQA has no
question ids and no image sizes, so those columns stay empty.

Table path (:func:`split_columns`): ``dataset.json`` is decoded once for all
three splits with ``msgspec`` (``questions``, ``answers``, ``split`` only) into
flat Arrow columns per split, kept on the builder while its splits are built;
the ``"split"`` keys are counted so a repeated image key (which a dict would
keep once) hands over to the streamed row path, which names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, count_token, load_bytes
from dataoptim.convert import vqa_record
from dataoptim.io import iter_json_object
from dataoptim.records import check_image_path

#: ``split`` code in ``dataset.json`` -> split name.
SPLIT_CODES = {1: "train", 2: "validation", 3: "test"}


class Entry(msgspec.Struct):
    """The fields of a ``dataset.json`` entry the table path reads."""

    questions: list[str]
    answers: list[str]
    split: int


def split_columns(path: Path) -> dict[str, tuple[pa.Array, pa.Array, pa.Array]]:
    """``dataset.json`` decoded once: split name -> (image key per pair, questions, answers), flat, in file order.

    Raises:
        TablePathFailed, msgspec errors: a repeated key, an unknown split code, questions and answers of
        different lengths, a wrong type: anything the row path must name.
    """
    buffer = load_bytes(path)
    entries = msgspec.json.decode(buffer, type=dict[str, Entry])
    if count_token(buffer, b'"split"') != len(entries):
        raise TablePathFailed("more entries than distinct keys (or a 'split' key elsewhere)")
    out: dict[str, tuple[list, list, list]] = {name: ([], [], []) for name in SPLIT_CODES.values()}
    for key, entry in entries.items():
        if entry.split not in SPLIT_CODES or len(entry.questions) != len(entry.answers):
            raise TablePathFailed(f"entry {key!r}: unknown split code, or questions and answers differ in number")
        keys, questions, answers = out[SPLIT_CODES[entry.split]]
        keys.extend([key] * len(entry.questions))
        questions.extend(entry.questions)
        answers.extend(entry.answers)
    del entries
    return {name: tuple(pa.array(v, type=pa.string()) for v in lists) for name, lists in out.items()}


def pair_tables(keys: pa.Array, questions: pa.Array, answers: pa.Array, *, prefix: str) -> Iterator[pa.Table]:
    """Records ``{prefix}{i}`` of one split's pairs (the table path of :func:`pair_to_record`)."""
    if columns.any_blank(keys):
        raise TablePathFailed("a blank image key")
    table = columns.record_table(
        columns.prefixed(prefix, pa.array(np.arange(len(keys)))),
        columns.concat("ocrvqa/", keys, ".jpg"),
        columns.two_turns(columns.vqa_prompts(questions), answers),
        source="ocrvqa", task="vqa", image_id=keys,
    )
    yield from columns.slices(table)


def image_path(key: str) -> str:
    """Image path of OCR-VQA image ``key`` in DataOptim's folder: ``ocrvqa/1400013011.jpg``.

    The extension is always ``.jpg`` (see the module docstring).

    Raises:
        RecordError: the key would make a path outside the image folder (``..``, ``/``), field ``key``.
    """
    return check_image_path(f"ocrvqa/{key}.jpg", field="key")


def entry_split(entry: Mapping[str, Any]) -> str:
    """Split name (``train``, ``validation``, ``test``) of one ``dataset.json`` entry.

    Raises:
        KeyError: no ``split`` field.
        ValueError: ``split`` is not 1, 2 or 3.
    """
    code = entry["split"]
    if isinstance(code, bool) or code not in SPLIT_CODES:
        raise ValueError(f"'split' must be 1 (train), 2 (val) or 3 (test), found {code!r}")
    return SPLIT_CODES[code]


def entry_pairs(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (question, answer) pairs of one entry, in file order.

    Raises:
        KeyError: no ``questions`` or ``answers`` field.
        TypeError: either is not a list of strings.
        ValueError: they differ in length.
    """
    questions, answers = entry["questions"], entry["answers"]
    for name, values in (("questions", questions), ("answers", answers)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise TypeError(f"{name!r} must be a list of strings, found {values!r:.80}")
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    return list(zip(questions, answers))


def pair_to_record(key: str, question: str, answer: str, *, record_id: str) -> dict[str, Any]:
    """One (question, answer) of image ``key`` → one open-VQA record.

    Args:
        key: the entry's key in ``dataset.json`` (image id).
        question, answer: one pair from :func:`entry_pairs`.
        record_id: ``ocrvqa_{running index}`` (the builder numbers the pairs).

    Returns:
        The record: image ``ocrvqa/{key}.jpg``, human turn ``<image>\\n{question} Answer the
        question directly ...``, gpt turn ``answer``; ``image_id`` = ``key``.
    """
    return vqa_record(record_id, image_path(key), question, answer, source="ocrvqa", image_id=key)


class OCRVQA(SourceBuilder):
    """OCR-VQA as LLaVA records: 801,673 in DataOptim's train release."""

    SOURCE = "ocrvqa"
    ORIGINAL_FILES = {
        "train": {"dataset": ("dataset.json",)},
        "validation": {"dataset": ("dataset.json",)},
        "test": {"dataset": ("dataset.json",)},
    }
    DESCRIPTION = (
        "OCR-VQA-200K: template questions (author, title, genre, ...) about 207K book-cover images, "
        "as one-turn open-VQA records; one record per (image, question) pair."
    )
    HOMEPAGE = "https://ocr-vqa.github.io/"
    LICENSE = "No licence stated by the authors (research use); cover images are Amazon product images owned by their rights holders"
    CITATION = """@inproceedings{mishraICDAR19,
  title={OCR-VQA: Visual Question Answering by Reading Text in Images},
  author={Mishra, Anand and Shekhar, Shashank and Singh, Ajeet Kumar and Chakraborty, Anirban},
  booktitle={International Conference on Document Analysis and Recognition (ICDAR)},
  year={2019}
}"""
    DOWNLOAD = (
        "https://ocr-vqa.github.io/ (Google Drive folder: dataset.json and loadDataset.py; "
        "the images are fetched from each entry's imageURL and must be saved as ocrvqa/<key>.jpg)"
    )

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        path = files["dataset"]
        cache = getattr(self, "_split_columns", None)
        if cache is None or cache[0] != path:  # each split of one dataset.json reads the same decode
            self._split_columns = cache = (path, split_columns(path))
        return pair_tables(*cache[1][split], prefix=self.record_id("", split))

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["dataset"]
        index = 0  # running index over the (image, question) pairs of this split
        for position, (key, entry) in enumerate(iter_json_object(path, what="OCR-VQA dataset.json")):
            with annotation_errors(path, position, key):
                if not isinstance(entry, Mapping):
                    raise TypeError(f"an entry must be a JSON object, found {type(entry).__name__}")
                if entry_split(entry) != split:
                    continue
                records = [pair_to_record(key, q, a, record_id=self.record_id(index + j, split)) for j, (q, a) in enumerate(entry_pairs(entry))]
            index += len(records)
            yield from records
