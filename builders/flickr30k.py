"""Flickr30K captions in Karpathy's split (Young et al., 2014; Karpathy & Fei-Fei, 2015): image captioning.

Original file: ``dataset_flickr30k.json`` from Karpathy's ``caption_datasets.zip``,
``{"images": [{"filename": "1000092795.jpg", "imgid": 0, "split": "train",
"sentids": [0, ...], "sentences": [{"raw", "tokens", "imgid", "sentid"}, ...]}, ...],
"dataset": "flickr30k"}``. ``split`` is ``train`` (29,000 images), ``val``
(1,014) or ``test`` (1,000); each image has five sentences.

DataOptim numbers the sentences of the ``split == "train"`` images in file
order, sentence by sentence: ``flickr30k_0`` is the first sentence of the first
train image, and 29,000 × 5 = 145,000 records. The answer is the sentence's
``raw`` text as given (Flickr30K's tokenised text, with spaces before
punctuation: ``"... in the yard ."``). The images sit in ``flickr30k/``
(DataOptim's README tree misspells it ``filckr30k/``; its records say ``flickr30k/``).
The ``val`` and ``test`` images give the ``validation`` and ``test`` splits,
numbered the same way (``flickr30k_validation_0``).

Table path (:func:`split_columns`): the file is decoded once for its three
splits with ``msgspec`` (file name, split, sentences' ``raw`` and ``sentid``)
into flat Arrow columns per split, kept on the builder while its splits are built.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

import msgspec
import numpy as np
import pyarrow as pa

from dataoptim import columns
from dataoptim.builder import SourceBuilder, TablePathFailed, annotation_errors, load_bytes, top_level_keys_once
from dataoptim.convert import caption_record
from dataoptim.errors import InputError
from dataoptim.io import iter_json_list
from dataoptim.records import check_image_path

#: Our split name -> the value of ``split`` in Karpathy's file.
KARPATHY_SPLITS = {"train": "train", "validation": "val", "test": "test"}
#: Values of ``split`` that may occur (``restval`` only in Karpathy's COCO file).
KNOWN_SPLITS = frozenset(KARPATHY_SPLITS.values()) | {"restval"}


class Sentence(msgspec.Struct):
    raw: str
    sentid: int | str | None = None


class Image(msgspec.Struct):
    """The fields of a Karpathy image entry the table path reads."""

    split: str
    filename: str
    sentences: list[Sentence]


class KarpathyFile(msgspec.Struct):
    images: list[Image]


def split_columns(path: Path) -> dict[str, tuple[list, list, list, list]]:
    """Karpathy's file decoded once: split value -> (file name, image id, raw, sentid) per sentence, in file order.

    Raises:
        TablePathFailed, msgspec errors: an unknown split, a blank file name or sentence, a wrong type.
    """
    buffer = load_bytes(path)
    top_level_keys_once(buffer, "images")
    images = msgspec.json.decode(buffer, type=KarpathyFile).images
    out: dict[str, tuple[list, list, list, list]] = {name: ([], [], [], []) for name in KNOWN_SPLITS}
    for image in images:
        if image.split not in KNOWN_SPLITS or not image.filename:
            raise TablePathFailed("an unknown split or an empty file name")
        names, stems, raws, sentids = out[image.split]
        n = len(image.sentences)
        names.extend([image.filename] * n)
        stems.extend([PurePosixPath(image.filename).stem] * n)
        raws.extend(s.raw for s in image.sentences)
        sentids.extend(None if s.sentid is None else str(s.sentid) for s in image.sentences)
    return out


def sentence_tables(names: list, stems: list, raws: list, sentids: list, *, prefix: str, seed: int = 0) -> Iterator[pa.Table]:
    """Records ``{prefix}{i}`` of one split's sentences (the table path of :func:`sentence_to_record`)."""
    raws = pa.array(raws, type=pa.string())
    if columns.any_blank(raws):
        raise TablePathFailed("a blank sentence")
    ids = columns.prefixed(prefix, pa.array(np.arange(len(raws))))
    table = columns.record_table(
        ids,
        columns.concat("flickr30k/", pa.array(names, type=pa.string())),
        columns.two_turns(columns.caption_prompts(ids.to_pylist(), seed), raws),
        source="flickr30k", task="caption", question_id=pa.array(sentids, type=pa.string()), image_id=pa.array(stems, type=pa.string()),
    )
    yield from columns.slices(table)


def image_path(filename: str) -> str:
    """Image path of a Flickr30K file in DataOptim's folder: ``flickr30k/1000092795.jpg``.

    Raises:
        ValueError: ``filename`` is not a non-empty string.
        RecordError: the path would leave the image folder (``..``, ``/``, backslashes).
    """
    if not isinstance(filename, str) or not filename:
        raise ValueError(f"'filename' must be a non-empty string, found {filename!r}")
    return check_image_path(f"flickr30k/{filename}", field="filename")


def sentence_to_record(filename: str, sentence: Mapping[str, Any], *, record_id: str, seed: int = 0) -> dict[str, Any]:
    """One sentence of one Karpathy image entry → one caption record.

    Args:
        filename: the image entry's ``filename`` (``"1000092795.jpg"``).
        sentence: one element of the entry's ``sentences`` (``raw`` is used, ``sentid`` kept).
        record_id: ``flickr30k_{index}`` (or ``flickr30k_{split}_{index}``).
        seed: seed of the caption instruction's stable choice.

    Returns:
        The record; native columns ``question_id`` = ``sentid``, ``image_id`` = the
        file name's stem (the Flickr photo id); width and height are not in the file.

    Raises:
        KeyError: ``raw`` is missing. ValueError: ``raw`` is not a non-empty string.
        RecordError: unsafe ``filename``.
    """
    caption = sentence["raw"]
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"'raw' must be a non-empty string, found {caption!r}")
    return caption_record(
        record_id,
        image_path(filename),
        caption,
        source="flickr30k",
        seed=seed,
        question_id=sentence.get("sentid"),
        image_id=PurePosixPath(filename).stem,
    )


class Flickr30K(SourceBuilder):
    """Flickr30K (Karpathy split) captions as LLaVA records: 145,000 in DataOptim's train release."""

    SOURCE = "flickr30k"
    ORIGINAL_FILES = {split: {"karpathy": ("dataset_flickr30k.json",)} for split in KARPATHY_SPLITS}
    DESCRIPTION = "Flickr30K, Karpathy's split: five human captions per Flickr image, as one-turn caption records."
    HOMEPAGE = "https://shannon.cs.illinois.edu/DenotationGraph/"
    LICENSE = "Flickr30K annotations for non-commercial research and educational use (see the homepage); images under their Flickr terms"
    CITATION = """@article{young2014image,
  title={From image descriptions to visual denotations: New similarity metrics for semantic inference over event descriptions},
  author={Young, Peter and Lai, Alice and Hodosh, Micah and Hockenmaier, Julia},
  journal={Transactions of the Association for Computational Linguistics},
  volume={2},
  pages={67--78},
  year={2014}
}
@inproceedings{karpathy2015deep,
  title={Deep Visual-Semantic Alignments for Generating Image Descriptions},
  author={Karpathy, Andrej and Fei-Fei, Li},
  booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={3128--3137},
  year={2015}
}"""
    DOWNLOAD = "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip (dataset_flickr30k.json)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        path = files["karpathy"]
        cache = getattr(self, "_split_columns", None)
        if cache is None or cache[0] != path:  # each split of the file reads the same decode
            self._split_columns = cache = (path, split_columns(path))
        return sentence_tables(*cache[1][KARPATHY_SPLITS[split]], prefix=self.record_id("", split), seed=self.config.seed)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["karpathy"]
        wanted = KARPATHY_SPLITS[split]
        index = 0  # running index over the sentences of the wanted split's images
        for position, image in enumerate(iter_json_list(path, "images", what="Karpathy Flickr30K file")):
            where = f"images[{position}]"
            with annotation_errors(path, position, where):
                image_split = image["split"]
                if image_split not in KNOWN_SPLITS:
                    raise InputError(f"unknown split {image_split!r} (expected one of {', '.join(sorted(KNOWN_SPLITS))})", file=path, record=position, field=f"{where}.split")
                if image_split != wanted:
                    continue
                filename, sentences = image["filename"], image["sentences"]
                if not isinstance(sentences, list):
                    raise InputError(f"must be a list of sentences, found {type(sentences).__name__}", file=path, record=position, field=f"{where}.sentences")
            for number, sentence in enumerate(sentences):
                with annotation_errors(path, position, f"{where}.sentences[{number}]"):
                    record = sentence_to_record(filename, sentence, record_id=self.record_id(index, split), seed=self.config.seed)
                yield record
                index += 1
