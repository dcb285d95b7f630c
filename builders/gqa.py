"""GQA (Hudson & Manning, CVPR 2019): compositional questions about Visual Genome images.

Original files (``questions1.2.zip``): ``train_balanced_questions.json`` (1.4 GB),
``val_balanced_questions.json``, ``testdev_balanced_questions.json``, and the
unbalanced ``*_all_questions.json`` (train in ten shards,
``train_all_questions/train_all_questions_{0..9}.json``). Each is one JSON
object keyed by question id, a digit string whose leading zeros matter::

    {"02930152": {"imageId": "2354786", "question": "Is the sky dark?", "answer": "yes",
                  "fullAnswer": "Yes, the sky is dark.", "isBalanced": true,
                  "semantic": [...], "entailed": [...], "equivalent": [...], "groups": {...},
                  "semanticStr": "...", "annotations": {...}, "types": {...}},
     ...}

DataOptim's records are the 943,000 train balanced questions: id
``gqa_{question id}`` (``gqa_05145757``, zeros kept), image
``visual_genome/{imageId}.jpg``, answer ``fullAnswer`` (the sentence, not the
one-word ``answer``). Native columns: ``question_id``, ``image_id``; GQA's
question files carry no image sizes.

Configs:

* ``gqa`` (DataOptim's pool): splits ``train``, ``validation`` and ``testdev``
  from the balanced files present (the test and challenge files carry no answers
  and are not read). Each split is one file, streamed pair by pair with
  ``ijson`` (memory: one question), so ``num_proc`` cannot split it.
* ``gqa_all``: the same conversion on the unbalanced ``*_all_questions.json``
  files, not part of DataOptim's pool. Its train split is the ten shard files,
  so ``load_dataset(..., num_proc=N)`` converts up to ten shards in parallel.
  A balanced question is also in the all-questions files, under the same id
  and with the same record.

Table path (:func:`question_tables`): a file is decoded once with ``msgspec``
into ``{question id: Question}`` keeping ``imageId``, ``question`` and
``fullAnswer`` only (the other fields, most of the 1.4 GB, are skipped in C),
and the records are built by columns. A dict keeps only the last of two
repeated question ids, so the ``"imageId"`` keys of the file are counted too:
when they are not one per question, the streamed row path decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import datasets
import msgspec
import pyarrow as pa

from dataoptim import catalog, columns
from dataoptim.builder import LAYOUTS, SourceBuilder, SourceConfig, TablePathFailed, annotation_errors, checked_tables, count_token, load_bytes
from dataoptim.convert import vqa_record
from dataoptim.errors import ConfigError, MissingFileError
from dataoptim.io import iter_json_object
from dataoptim.records import check_image_path

#: Config of the unbalanced questions (not in DataOptim's pool).
ALL_QUESTIONS = "gqa_all"
#: The train split of ``gqa_all``: ten shards, all needed.
ALL_TRAIN_SHARDS = tuple(f"train_all_questions_{i}.json" for i in range(10))
#: The other splits of ``gqa_all``: one file each.
ALL_SPLIT_FILES = {"validation": "val_all_questions.json", "testdev": "testdev_all_questions.json"}


class Question(msgspec.Struct):
    """The fields of a GQA question the table path reads."""

    imageId: str
    question: str
    fullAnswer: str


def question_tables(path: Path, *, prefix: str) -> Iterator[pa.Table]:
    """The table path of :meth:`GQA.original_records` for one question file (ids ``{prefix}{question id}``).

    Raises:
        TablePathFailed, msgspec errors: a repeated question id (more ``"imageId"`` keys than
        questions), a wrong type, a blank text: anything the row path must name.
    """
    buffer = load_bytes(path)
    questions = msgspec.json.decode(buffer, type=dict[str, Question])
    if count_token(buffer, b'"imageId"') != len(questions):
        raise TablePathFailed("the file holds more questions than distinct question ids (or an imageId key elsewhere)")
    keys = pa.array(list(questions), type=pa.string())
    values = list(questions.values())
    del questions
    image_ids = pa.array([q.imageId for q in values], type=pa.string())
    texts = pa.array([q.question for q in values], type=pa.string())
    answers = pa.array([q.fullAnswer for q in values], type=pa.string())
    del values
    if columns.any_blank(image_ids) or columns.any_blank(texts) or columns.any_blank(answers):
        raise TablePathFailed("a blank imageId, question or fullAnswer")
    table = columns.record_table(
        columns.prefixed(prefix, keys),
        columns.concat("visual_genome/", image_ids, ".jpg"),
        columns.two_turns(columns.vqa_prompts(texts), answers),
        source="gqa", task="vqa", question_id=keys, image_id=image_ids,
    )
    yield from columns.slices(table)


def image_path(image_id: str) -> str:
    """Image path of GQA image ``image_id`` in DataOptim's folder: ``visual_genome/2327022.jpg``.

    Raises:
        RecordError: the id would make a path outside the image folder, field ``imageId``.
    """
    return check_image_path(f"visual_genome/{image_id}.jpg", field="imageId")


def question_to_record(question_id: str, question: Mapping[str, Any], *, record_id: str) -> dict[str, Any]:
    """One GQA question (a value of the question file, under key ``question_id``) → one open-VQA record.

    Args:
        question_id: the key, kept as a string (``"05145757"``).
        question: the value; ``imageId``, ``question`` and ``fullAnswer`` are read.
        record_id: ``gqa_{question_id}`` for train (the builder's :meth:`~SourceBuilder.record_id`).

    Returns:
        The record: image ``visual_genome/{imageId}.jpg``, human turn ``<image>\\n{question} Answer
        the question directly ...``, gpt turn ``fullAnswer``; ``question_id`` and ``image_id`` filled.

    Raises:
        KeyError: a field is missing.
        TypeError: the question is not an object, or a field is not a non-empty string.
        RecordError: unsafe ``imageId``.
    """
    if not isinstance(question, Mapping):
        raise TypeError(f"a question must be a JSON object, found {type(question).__name__}")
    image_id, text, answer = question["imageId"], question["question"], question["fullAnswer"]
    for name, value in (("imageId", image_id), ("question", text), ("fullAnswer", answer)):
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{name!r} must be a non-empty string, found {value!r}")
    return vqa_record(record_id, image_path(image_id), text, answer, source="gqa", question_id=question_id, image_id=image_id)


class GQA(SourceBuilder):
    """GQA as LLaVA records: 943,000 train balanced questions in DataOptim's release."""

    SOURCE = "gqa"
    BUILDER_CONFIGS = [
        SourceConfig(name="gqa", version=datasets.Version("1.0.0"), description=catalog.SOURCES["gqa"].title),
        SourceConfig(name=ALL_QUESTIONS, version=datasets.Version("1.0.0"), description="GQA all (unbalanced) questions; not in DataOptim's pool"),
    ]
    ORIGINAL_FILES = {
        "train": {"questions": ("train_balanced_questions.json",)},
        "validation": {"questions": ("val_balanced_questions.json",)},
        "testdev": {"questions": ("testdev_balanced_questions.json",)},
    }
    DESCRIPTION = (
        "GQA: compositional questions generated from Visual Genome scene graphs, "
        "as one-turn open-VQA records answered with the full-sentence answer."
    )
    HOMEPAGE = "https://cs.stanford.edu/people/dorarad/gqa/"
    LICENSE = "CC BY 4.0 (GQA questions); images from Visual Genome (CC BY 4.0)"
    CITATION = """@inproceedings{hudson2019gqa,
  title={GQA: A New Dataset for Real-World Visual Reasoning and Compositional Question Answering},
  author={Hudson, Drew A. and Manning, Christopher D.},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={6700--6709},
  year={2019}
}"""
    DOWNLOAD = (
        "https://downloads.cs.stanford.edu/nlp/data/gqa/questions1.2.zip (questions; images: "
        "https://downloads.cs.stanford.edu/nlp/data/gqa/images.zip, stored as visual_genome/<imageId>.jpg)"
    )

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return question_tables(files["questions"], prefix=self.record_id("", split))

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["questions"]
        for position, (question_id, question) in enumerate(iter_json_object(path, what=f"GQA question file {path.name}")):
            with annotation_errors(path, position, question_id):
                record = question_to_record(question_id, question, record_id=self.record_id(question_id, split))
            yield record

    # -- gqa_all: shards as a list in gen_kwargs, so that datasets can spread them over num_proc --
    def _split_generators(self, dl_manager):
        if self.config.name != ALL_QUESTIONS:
            return super()._split_generators(dl_manager)
        if self.config.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.config.layout!r}", field="layout")
        if self.config.layout == "converted":
            raise ConfigError("gqa_all has no DataOptim converted file (DataOptim's gqa.json holds the balanced questions: use config 'gqa')", field="layout")
        files = self.available_files()
        generators = []
        shards = [files.get(name) for name in ALL_TRAIN_SHARDS]
        if any(shards):
            missing = [name for name, path in zip(ALL_TRAIN_SHARDS, shards) if path is None]
            if missing:
                raise MissingFileError(f"the train split of gqa_all needs all ten shards; missing {', '.join(missing)}; download {self.DOWNLOAD}", file=self.config.data_dir)
            generators.append(datasets.SplitGenerator(name="train", gen_kwargs={"layout": "original", "split": "train", "files": {}, "shards": shards}))
        for split, name in ALL_SPLIT_FILES.items():
            if name in files:
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"layout": "original", "split": split, "files": {}, "shards": [files[name]]}))
        if not generators:
            wanted = ", ".join(("train_all_questions/train_all_questions_{0..9}.json", *ALL_SPLIT_FILES.values()))
            raise MissingFileError(f"no GQA all-questions files found (need {wanted}); download {self.DOWNLOAD}", file=self.config.data_dir)
        return generators

    def _generate_tables(self, layout: str, split: str, files: Mapping[str, Path], shards: list[Path] | None = None):
        if shards is None:
            yield from super()._generate_tables(layout, split, files)
            return
        for shard, path in enumerate(shards):
            one = {"questions": Path(path)}
            tables = checked_tables(lambda: self.original_tables(split, one), lambda: self.original_records(split, one), str(path))
            for index, table in enumerate(tables):
                yield f"{split}-{shard}-{index}", table
