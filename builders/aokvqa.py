"""A-OKVQA v1.0 (Schwenk et al., ECCV 2022): multiple-choice questions that need world knowledge.

Original files (``aokvqa_v1p0.tar.gz``): ``aokvqa_v1p0_train.json`` and
``aokvqa_v1p0_val.json``, each a JSON list of questions::

    [{"split": "val", "image_id": 461751, "question_id": "22jbM6gDxdaMaunuzgrsBB",
      "question": "What is in the motorcyclist's mouth?",
      "choices": ["toothpick", "food", "popsicle stick", "cigarette"], "correct_choice_idx": 3,
      "direct_answers": [...10 strings...], "difficult_direct_answer": false,
      "rationales": [...3 strings...]},
     ...]

DataOptim's records are the 17,056 train questions: id ``aokvqa_{question_id}``,
human turn :func:`dataoptim.prompts.mc_prompt` (question and the four lettered
choices), answer :func:`dataoptim.prompts.mc_answer` (``The correct option is D.``).
Validation questions get ids ``aokvqa_validation_{question_id}``. The test file
has no correct choice, so it gives no training record and is not read.
Native columns: ``question_id``, ``image_id``; no image sizes.

Image: A-OKVQA names COCO **2017** images (``image_id`` is the COCO id), while
DataOptim's image folder holds the COCO **2014** files, and its records name the
2014 file that holds the image: ``coco/COCO_val2014_000000133042.jpg``. COCO 2017
train+val are the same 123,287 images as 2014 train+val under the same ids, but
2017 train takes about 35K images from 2014 val, so the 2014 split of an image
cannot be computed from its id. It is looked up, first found wins, in:

1. ``coco2014_image_split.json`` in ``data_dir``: ``{"val2014": [ids...]}`` and/or
   ``{"train2014": [ids...]}``; each list given must be the complete list of that split.
2. a COCO 2014 annotation file in ``data_dir`` (its ``images[].id``): ``captions_val2014.json``,
   ``instances_val2014.json``, ``person_keypoints_val2014.json``, else the train2014 ones.
   (The COCO captions builder reads ``captions_*2014.json``, so a ``data_dir`` that
   builds the whole pool from original files has one already.)

One complete list decides: an image in the val2014 list is in val2014, any other
in train2014 (and the other way round for a train2014 list). With no list, the
validation split still builds (COCO 2017 val lies wholly inside 2014 val, so its
images are all ``val2014``), but the train split is a :class:`MissingFileError`
that says which file to add: guessing from the ``split`` field would name a
missing file for about one train image in four.
"""

from __future__ import annotations

from pathlib import Path
from typing import AbstractSet, Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, decode_list_batches, load_bytes, top_level_keys_once
from dataoptim.convert import coco_image_path
from dataoptim.errors import InputError, MissingFileError
from dataoptim.io import iter_json_array, iter_json_list, read_json
from dataoptim.prompts import MC_LETTERS, mc_answer, mc_prompt
from dataoptim.records import make_record, two_turns

#: Optional file naming the COCO 2014 split of images: ``{"val2014": [...], "train2014": [...]}``.
COCO2014_SPLIT_FILE = "coco2014_image_split.json"
#: COCO 2014 annotation files whose ``images`` list gives the ids of one 2014 split (first found wins).
COCO2014_IMAGE_LISTS = {
    "val2014": ("captions_val2014.json", "instances_val2014.json", "person_keypoints_val2014.json"),
    "train2014": ("captions_train2014.json", "instances_train2014.json", "person_keypoints_train2014.json"),
}


def coco2014_split(image_id: int, aokvqa_split: str, *, val2014: AbstractSet[int] | None = None, train2014: AbstractSet[int] | None = None) -> str:
    """The COCO 2014 split (``"train2014"`` or ``"val2014"``) whose file holds COCO image ``image_id``.

    Args:
        image_id: COCO image id (the same in 2014 and 2017).
        aokvqa_split: the builder split of the question (``"train"`` or ``"validation"``).
        val2014, train2014: the complete id lists of the COCO 2014 splits, where known.

    Returns:
        With ``val2014``: ``"val2014"`` if the image is in it, else ``"train2014"``.
        With only ``train2014``: ``"train2014"`` if the image is in it, else ``"val2014"``.
        With neither: ``"val2014"`` for a validation question (COCO 2017 val ⊂ 2014 val).

    Raises:
        ValueError: no list for a train question; or both lists given and the image in neither.
    """
    if val2014 is not None:
        if image_id in val2014:
            return "val2014"
        if train2014 is not None and image_id not in train2014:
            raise ValueError(f"image {image_id} is in neither the COCO train2014 nor the val2014 image list")
        return "train2014"
    if train2014 is not None:
        return "train2014" if image_id in train2014 else "val2014"
    if aokvqa_split == "validation":
        return "val2014"
    raise ValueError(f"the COCO 2014 split of train image {image_id} is unknown without a COCO 2014 image list")


def question_to_record(item: Mapping[str, Any], *, record_id: str, coco_split: str) -> dict[str, Any]:
    """One A-OKVQA question → one multiple-choice record.

    Args:
        item: the question; ``question_id``, ``image_id``, ``question``, ``choices`` and
            ``correct_choice_idx`` are read.
        record_id: ``aokvqa_{question_id}`` for train (the builder's :meth:`~SourceBuilder.record_id`).
        coco_split: ``"train2014"`` or ``"val2014"``, from :func:`coco2014_split`.

    Returns:
        The record: image ``coco/COCO_{coco_split}_%012d.jpg``, human turn
        :func:`~dataoptim.prompts.mc_prompt`, gpt turn :func:`~dataoptim.prompts.mc_answer`; task ``mcvqa``.

    Raises:
        KeyError: a field is missing.
        TypeError: the item is not an object, or a field has the wrong type.
        ValueError: not four choices, or ``correct_choice_idx`` not in 0..3.
    """
    if not isinstance(item, Mapping):
        raise TypeError(f"a question must be a JSON object, found {type(item).__name__}")
    question_id, image_id, question = item["question_id"], item["image_id"], item["question"]
    choices, correct = item["choices"], item["correct_choice_idx"]
    for name, value in (("question_id", question_id), ("question", question)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name!r} must be a non-empty string, found {value!r}")
    if isinstance(image_id, bool) or not isinstance(image_id, int):
        raise TypeError(f"'image_id' must be an integer, found {image_id!r}")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise TypeError(f"'choices' must be a list of strings, found {choices!r:.80}")
    if len(choices) != len(MC_LETTERS):
        raise ValueError(f"'choices' must hold {len(MC_LETTERS)} options, found {len(choices)}")
    if isinstance(correct, bool) or not isinstance(correct, int) or not 0 <= correct < len(MC_LETTERS):
        raise ValueError(f"'correct_choice_idx' must be 0..{len(MC_LETTERS) - 1}, found {correct!r}")
    return make_record(
        record_id, coco_image_path(image_id, coco_split), two_turns(mc_prompt(question, choices), mc_answer(correct)),
        source="aokvqa", task="mcvqa", question_id=question_id, image_id=image_id,
    )


class Question(msgspec.Struct):
    """The fields of an A-OKVQA question the table path reads (strict types: anything else goes to the row path)."""

    question_id: str
    image_id: int
    question: str
    choices: list[str]
    correct_choice_idx: int


def _mc_pieces() -> list[str]:
    """The fixed text of :func:`dataoptim.prompts.mc_prompt` around the question and the four choices (taken from it, not restated)."""
    marks = [f"\x00{k}\x00" for k in range(len(MC_LETTERS) + 1)]
    text = mc_prompt(marks[0], marks[1:])
    pieces = []
    for mark in marks:
        head, text = text.split(mark)
        pieces.append(head)
    return pieces + [text]


def question_tables(path: Path, *, prefix: str, split: str, lists: Mapping[str, AbstractSet[int]]) -> Iterator[pa.Table]:
    """The table path of :func:`question_to_record` over an A-OKVQA file, by columns (ids ``{prefix}{question_id}``, file order).

    Raises:
        TablePathFailed, ValueError, msgspec errors: anything the row path must decide (a wrong type, a
        blank question or id, not four choices, a choice index out of range, an image in no 2014 list).
    """
    pieces = _mc_pieces()
    answers = pa.array([mc_answer(k) for k in range(len(MC_LETTERS))], type=pa.string())
    val2014, train2014 = lists.get("val2014"), lists.get("train2014")
    for questions in decode_list_batches(path, Question):
        n = len(questions)
        qids = pa.array([q.question_id for q in questions], type=pa.string())
        texts = pa.array([q.question for q in questions], type=pa.string())
        image_ids = np.fromiter((q.image_id for q in questions), dtype=np.int64, count=n)
        correct = np.fromiter((q.correct_choice_idx for q in questions), dtype=np.int64, count=n)
        if any(len(q.choices) != len(MC_LETTERS) for q in questions) or ((correct < 0) | (correct >= len(MC_LETTERS))).any():
            raise TablePathFailed("not four choices, or a correct choice out of range")
        if columns.any_blank(qids) or columns.any_blank(texts):
            raise TablePathFailed("a blank question or question id")
        choices = pa.array([c for q in questions for c in q.choices], type=pa.string())
        ids = pa.array(image_ids)
        if val2014 is not None:
            in_val = pc.is_in(ids, value_set=pa.array(sorted(val2014), type=pa.int64()))
            if train2014 is not None and not pc.all(pc.or_(in_val, pc.is_in(ids, value_set=pa.array(sorted(train2014), type=pa.int64())))).as_py():
                raise TablePathFailed("an image in neither COCO 2014 list")
        elif train2014 is not None:
            in_val = pc.invert(pc.is_in(ids, value_set=pa.array(sorted(train2014), type=pa.int64())))
        elif split == "validation":
            in_val = pa.array(np.ones(n, dtype=bool))
        else:
            raise TablePathFailed("no COCO 2014 image list for a train question")
        images = pc.if_else(in_val, columns.coco_image_paths(image_ids, "val2014"), columns.coco_image_paths(image_ids, "train2014"))
        parts: list[Any] = [pieces[0], texts]
        for k in range(len(MC_LETTERS)):
            parts += [pieces[k + 1], choices.take(pa.array(np.arange(n) * len(MC_LETTERS) + k))]
        prompts = pc.binary_join_element_wise(*parts, pieces[-1], "")
        yield columns.record_table(
            columns.prefixed(prefix, qids), images, columns.two_turns(prompts, answers.take(pa.array(correct))),
            source="aokvqa", task="mcvqa", question_id=qids, image_id=ids,
        )


def read_split_file(path: Path) -> dict[str, frozenset[int]]:
    """Read ``coco2014_image_split.json``: ``{"val2014": [ids], "train2014": [ids]}`` (either key optional).

    Raises:
        MissingFileError, InputError: not a JSON object, an unknown key, no key, or a list that is not all integers.
    """
    data = read_json(path, expect=dict, what="COCO 2014 image split file")
    lists: dict[str, frozenset[int]] = {}
    for key, ids in data.items():
        if key not in COCO2014_IMAGE_LISTS:
            raise InputError(f"unknown key (expected {' or '.join(COCO2014_IMAGE_LISTS)})", file=path, field=key)
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InputError("must be a list of integer COCO image ids", file=path, field=key)
        lists[key] = frozenset(ids)
    if not lists:
        raise InputError(f"names no image list (expected {' and/or '.join(COCO2014_IMAGE_LISTS)})", file=path)
    return lists


def read_coco_image_ids(path: Path) -> frozenset[int]:
    """The ``images[].id`` of a COCO annotation file, streamed.

    Raises:
        MissingFileError, InputError: the file is unreadable, has no ``images`` list, or an image has no integer ``id``.
    """
    ids = set()
    for index, image in enumerate(iter_json_list(path, "images", what="COCO 2014 annotation file")):
        with annotation_errors(path, index, f"images[{index}]"):
            ids.add(int(image["id"]))
    return frozenset(ids)


class _ImageId(msgspec.Struct):
    id: int


class _ImagesFile(msgspec.Struct):
    images: list[_ImageId]


def coco_image_ids(path: Path) -> frozenset[int]:
    """:func:`read_coco_image_ids`, decoded with ``msgspec`` (image ids only); any doubt goes to the streamed reader, which names faults."""
    try:
        buffer = load_bytes(path)
        top_level_keys_once(buffer, "images")
        return frozenset(image.id for image in msgspec.json.decode(buffer, type=_ImagesFile).images)
    except Exception:
        return read_coco_image_ids(path)


class AOKVQA(SourceBuilder):
    """A-OKVQA as LLaVA records: 17,056 in DataOptim's train release."""

    SOURCE = "aokvqa"
    ORIGINAL_FILES = {
        "train": {"questions": ("aokvqa_v1p0_train.json",)},
        "validation": {"questions": ("aokvqa_v1p0_val.json",)},
    }
    DESCRIPTION = (
        "A-OKVQA 1.0: crowdsourced questions on COCO images that need commonsense and world knowledge, "
        "as one-turn four-option multiple-choice records."
    )
    HOMEPAGE = "https://allenai.org/project/a-okvqa/home"
    LICENSE = "Apache 2.0 (allenai/aokvqa); images from COCO (Flickr terms of use)"
    CITATION = """@inproceedings{schwenk2022aokvqa,
  title={A-OKVQA: A Benchmark for Visual Question Answering Using World Knowledge},
  author={Schwenk, Dustin and Khandelwal, Apoorv and Clark, Christopher and Marino, Kenneth and Mottaghi, Roozbeh},
  booktitle={European Conference on Computer Vision (ECCV)},
  pages={146--162},
  year={2022}
}"""
    DOWNLOAD = (
        "https://prior-datasets.s3.us-east-2.amazonaws.com/aokvqa/aokvqa_v1p0.tar.gz (questions; images are the "
        "COCO 2014 files, coco/COCO_{train,val}2014_*.jpg; for the train split also put COCO's captions_val2014.json "
        f"(http://images.cocodataset.org/annotations/annotations_trainval2014.zip) or a {COCO2014_SPLIT_FILE} beside them)"
    )

    def coco2014_lists(self) -> dict[str, frozenset[int]]:
        """The COCO 2014 image id lists found in ``data_dir`` (see the module docstring); ``{}`` if none. Read once."""
        if getattr(self, "_coco2014_lists", None) is None:
            files = self.available_files()
            if COCO2014_SPLIT_FILE in files:
                lists = read_split_file(files[COCO2014_SPLIT_FILE])
            else:
                lists = {}
                for coco_split, names in COCO2014_IMAGE_LISTS.items():
                    path = next((files[n] for n in names if n in files), None)
                    if path is not None:
                        lists = {coco_split: coco_image_ids(path)}
                        break
            self._coco2014_lists = lists
        return self._coco2014_lists

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table] | None:
        """The questions decoded by ``msgspec`` and converted by columns (:func:`question_tables`), as :meth:`original_records` does.

        The COCO 2014 id lists come from the same :meth:`coco2014_lists` (read once per builder).
        """
        lists = self.coco2014_lists()
        if split == "train" and not lists:
            return None  # the row path names what is missing
        return question_tables(files["questions"], prefix=self.record_id("", split), split=split, lists=lists)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["questions"]
        lists = self.coco2014_lists()
        if split == "train" and not lists:
            raise MissingFileError(
                "A-OKVQA names COCO 2017 images and DataOptim the COCO 2014 file that holds each; for the train split put "
                f"COCO's captions_val2014.json (or instances_val2014.json, or the train2014 ones) or a {COCO2014_SPLIT_FILE} "
                "in data_dir (see dataoptim.builders.aokvqa)",
                file=self.config.data_dir,
            )
        for index, item in enumerate(iter_json_array(path, what=f"A-OKVQA file {path.name}")):
            with annotation_errors(path, index, f"[{index}]"):
                coco_split = coco2014_split(item["image_id"], split, val2014=lists.get("val2014"), train2014=lists.get("train2014"))
                record = question_to_record(item, record_id=self.record_id(item["question_id"], split), coco_split=coco_split)
            yield record
