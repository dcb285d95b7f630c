"""Shikra-RD (Chen et al., 2023): GPT-4 referential dialogue about Flickr30K images, with boxes in the text.

Original file: Shikra's ``GPT4GEN_RD_BoxCoT_train.jsonl`` (shikras/shikra,
``docs/data.md``), one JSON object a line: ``{"img_path": "918545497.jpg",
"boxes": [[x1, y1, x2, y2], ...] (absolute pixels), "question", "cot_with_ans",
"answer", "question_boxes_seq", "answer_boxes_seq"}``. In ``question`` and
``cot_with_ans`` a phrase is marked ``<ph_st>a man<ph_ed>``; the n-th
``<ph_ed>`` of a text takes the boxes listed in the n-th entry of its
``*_boxes_seq`` (indices into ``boxes``).

Records (DataOptim: "GPT-4 generated datasets: prompts unchanged"): human turn
``<image>\\n{question}``, answer ``cot_with_ans`` (the chain of thought with the
answer), ids ``shikra_{i}`` for line ``i``, image ``flickr30k/{img_path}``.
Marks are dropped and each marked phrase is followed by its boxes in DataOptim's
form, normalised by the original image: ``a man [0.1, 0.2, 0.3, 0.4]``; a
phrase with several boxes gets ``[...], [...]`` (SVIT's convention, by the same
authors). The space before the boxes follows SVIT and the REG templates; no
released DataOptim record with boxes was available to confirm it.

Image sizes. Shikra's file has no width or height: Shikra (and DataOptim, which
normalised with Shikra's code) took them from the image when it was loaded. So
the builder needs them only for lines that hold boxes, from (first found):
an ``image_sizes.json`` in ``data_dir`` (``{"918545497.jpg": [500, 375], ...}``,
keys bare file names or ``flickr30k/...`` paths; see
:func:`dataoptim.boxes.load_image_sizes`), or the images themselves under the
config option ``image_dir`` (the Flickr30K image folder; only headers are read).
A line with boxes whose image size is unknown is an error naming it.
"""

from __future__ import annotations

import dataclasses
import posixpath
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import datasets
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.boxes import ImageSizes, format_boxes, load_image_sizes, normalize_box
from dataoptim.convert import image_in_folder
from dataoptim.builder import SourceBuilder, SourceConfig, TablePathFailed, annotation_errors, jsonl_batches
from dataoptim.errors import MissingFileError
from dataoptim.io import iter_jsonl
from dataoptim.records import IMAGE_TOKEN, make_record, two_turns

SHIKRA_RD_FILE = "GPT4GEN_RD_BoxCoT_train.jsonl"
SIZES_FILE = "image_sizes.json"
PHRASE_START, PHRASE_END = "<ph_st>", "<ph_ed>"


def image_path(img_path: str) -> str:
    """``flickr30k/{img_path}`` (the bare file name), checked to stay inside the image folder."""
    return image_in_folder("flickr30k", img_path)


def place_boxes(text: str, boxes_seq: Sequence[Sequence[int]] | None, boxes: Sequence[Sequence[float]], *, field: str) -> str:
    """Drop the phrase marks of ``text`` and put after each marked phrase its boxes (normalised, DataOptim's form).

    Args:
        text: ``question`` or ``cot_with_ans`` with ``<ph_st>…<ph_ed>`` marks.
        boxes_seq: for the n-th ``<ph_ed>``, the indices into ``boxes`` of its boxes.
        boxes: the line's boxes, already normalised.
        field: ``question_boxes_seq`` or ``answer_boxes_seq``, for messages.

    Raises:
        ValueError: the number of marks and of ``boxes_seq`` entries differ, or an index is not in ``boxes``.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"the text for {field!r} must be a non-empty string, found {text!r}")
    seq = list(boxes_seq or [])
    pieces = text.replace(PHRASE_START, "").split(PHRASE_END)
    if len(pieces) - 1 != len(seq):
        raise ValueError(f"{field!r} lists {len(seq)} box groups but the text marks {len(pieces) - 1} phrases")
    out = [pieces[0]]
    for group, tail in zip(seq, pieces[1:]):
        if not isinstance(group, Sequence) or isinstance(group, str) or not group:
            raise ValueError(f"{field!r} entries must be non-empty lists of box indices, found {group!r}")
        for i in group:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(boxes):
                raise ValueError(f"{field!r} refers to box {i!r}, but 'boxes' has {len(boxes)}")
        out.append(" " + format_boxes(boxes[i] for i in group) + tail)
    return "".join(out)


def dialogue_to_record(item: Mapping[str, Any], *, record_id: str, size: tuple[int, int] | None) -> dict[str, Any]:
    """One line of ``GPT4GEN_RD_BoxCoT_train.jsonl`` → one record: ``<image>\\n{question}`` → ``cot_with_ans``.

    Args:
        item: the line.
        record_id: ``shikra_{i}``.
        size: ``(width, height)`` of the image; needed only if the texts mark phrases.

    Raises:
        KeyError: a field is missing. ValueError: marks and box lists disagree (see :func:`place_boxes`).
        MissingFileError: the line has boxes and ``size`` is None.
        BoxError: a box is malformed or outside the image (field ``boxes[k]``).
    """
    question, answer = item["question"], item["cot_with_ans"]
    image = image_path(item["img_path"])
    marked = any(isinstance(t, str) and PHRASE_END in t for t in (question, answer))
    boxes: list = []
    if marked:
        raw = item["boxes"]
        if not isinstance(raw, list):
            raise ValueError(f"'boxes' must be a list, found {type(raw).__name__}")
        if size is None:
            raise MissingFileError(
                f"the size of image {image!r} is needed to normalise its boxes; put {SIZES_FILE} in data_dir or pass image_dir=<Flickr30K image folder>",
                field="img_path",
            )
        boxes = [normalize_box(b, size[0], size[1], field=f"boxes[{k}]") for k, b in enumerate(raw)]
    human = f"{IMAGE_TOKEN}\n" + place_boxes(question, item.get("question_boxes_seq"), boxes, field="question_boxes_seq")
    gpt = place_boxes(answer, item.get("answer_boxes_seq"), boxes, field="answer_boxes_seq")
    width, height = size if size else (None, None)
    return make_record(record_id, image, two_turns(human, gpt), source="shikra", task="dialogue",
                       image_id=posixpath.splitext(posixpath.basename(image))[0], width=width, height=height)


class Dialogue(msgspec.Struct, gc=False):
    """The fields of a line of ``GPT4GEN_RD_BoxCoT_train.jsonl`` the table path reads (strict types: anything else goes to the row path).

    Boxes are four numbers (a box of another length, even on a line that marks no phrase, goes to the row
    path); ``gc=False``: a line holds no reference cycle (strings, numbers, lists of them), so the collector
    need not track it.
    """

    img_path: str
    question: str
    cot_with_ans: str
    boxes: list[tuple[float, float, float, float]] | None = None
    question_boxes_seq: list[list[int]] | None = None
    answer_boxes_seq: list[list[int]] | None = None


_SEQ_TYPE = pa.list_(pa.list_(pa.int64()))
_BOXES_TYPE = pa.list_(pa.list_(pa.float64()))


def placed_texts(texts: pa.Array, seqs: list, first: np.ndarray, counts: np.ndarray, written: pa.Array, prefix: str) -> pa.Array:
    """:func:`place_boxes` over rows, the boxes already written: every text with its marks dropped and its boxes put in.

    Args:
        texts: ``(t,)`` strings with ``<ph_st>…<ph_ed>`` marks (not blank: checked by the caller).
        seqs: ``t`` box-index groups (``list[list[int]]`` or None), one for each ``<ph_ed>`` of the text.
        first, counts: ``(t,)`` ints: the boxes of text ``k`` are ``written[first[k]:first[k] + counts[k]]``.
        written: the box texts (``[0.1, 0.2, 0.3, 0.4]``) of all rows.
        prefix: put before every even row (a human turn's ``<image>\\n``); it makes no mark with the text.

    Returns:
        ``(t,)`` strings: ``{prefix}`` (even rows) + piece 0 + ``" "`` + the boxes of group 0, ``", "``-joined, + piece 1 + ...

    Raises:
        TablePathFailed: marks and groups differ in number, a group is empty, or an index is not one of the row's boxes.
    """
    t = len(texts)
    pieces = pc.split_pattern(pc.replace_substring(texts, PHRASE_START, ""), PHRASE_END)
    piece_offsets = pieces.offsets.to_numpy().astype(np.int64)
    seq = pa.array(seqs, type=_SEQ_TYPE)
    if not np.array_equal(pc.fill_null(pc.list_value_length(seq), 0).to_numpy(), np.diff(piece_offsets) - 1):
        raise TablePathFailed("marks and box groups differ")
    groups = pc.list_flatten(seq)
    group_row = pc.list_parent_indices(seq).to_numpy()
    sizes = pc.list_value_length(groups).to_numpy(zero_copy_only=False)
    if groups.null_count or (sizes <= 0).any():
        raise TablePathFailed("an empty box group")
    index = pc.list_flatten(groups).to_numpy()
    index_row = group_row[np.repeat(np.arange(len(groups)), sizes)]
    if ((index < 0) | (index >= counts[index_row])).any():
        raise TablePathFailed("a box index out of range")
    group_offsets = np.zeros(len(groups) + 1, dtype=np.int32)
    np.cumsum(sizes, out=group_offsets[1:])
    joined = pc.binary_join(pa.ListArray.from_arrays(group_offsets, written.take(pa.array(first[index_row] + index))), ", ")
    # row r: [prefix if r is even] piece 0, group 0, piece 1, ...; the element before row r's come from rows < r
    rows = np.arange(t + 1, dtype=np.int64)
    starts = 2 * piece_offsets - rows + (rows + 1) // 2
    count, n_groups = int(piece_offsets[-1]), len(joined)
    piece_row = np.repeat(rows[:-1], np.diff(piece_offsets))
    order = np.empty(int(starts[-1]), dtype=np.int64)
    order[2 * np.arange(count) - piece_row + piece_row // 2 + 1] = np.arange(count)
    order[2 * np.arange(n_groups) + group_row + group_row // 2 + 2] = count + np.arange(n_groups)
    order[starts[:-1:2]] = count + n_groups
    values = pa.concat_arrays([pc.list_flatten(pieces), pc.binary_join_element_wise(" ", joined, ""), pa.array([prefix], type=pa.string())])
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(starts, type=pa.int32()), values.take(pa.array(order))), "")


def dialogue_tables(path: Path, *, prefix: str, sizes: ImageSizes) -> Iterator[pa.Table]:
    """The table path of :func:`dialogue_to_record` over Shikra's file: records ``{prefix}{i}`` for the ``i``-th non-blank line.

    Lines are decoded by ``msgspec`` (:class:`Dialogue`); every box of a line whose texts mark
    phrases is normalised and written by :func:`dataoptim.columns.box_texts` at once, and the
    texts (question and answer, interleaved) are put together by :func:`placed_texts`
    (:func:`place_boxes`'s rules, by columns).

    Raises:
        TablePathFailed, ValueError, msgspec errors: anything the row path must decide (a wrong type,
        an unsafe or non-ASCII image path, an unknown image size, a bad box, marks that do not match).
    """
    count = 0
    table_sizes = sizes.sizes
    for lines in jsonl_batches(path, Dialogue):
        n = len(lines)
        img_paths = pa.array([line.img_path for line in lines], type=pa.string())
        if columns.any_blank(img_paths) or not pc.all(pc.string_is_ascii(img_paths)).as_py() or columns._any(pc.match_substring_regex(img_paths, columns._BAD_IMAGE_RE)):
            raise TablePathFailed("a blank, non-ASCII or unsafe image path")
        names = pc.replace_substring_regex(img_paths, r"^.*/", "")
        # posixpath.splitext's stem: up to the last dot, unless only dots come before it
        cut = pc.replace_substring_regex(names, r"\.[^.]*$", "")
        stems = pc.if_else(pc.match_substring_regex(cut, r"^\.*$"), names, cut)
        images = pc.binary_join_element_wise("flickr30k/", names, "")
        text_list = [text for line in lines for text in (line.question, line.cot_with_ans)]
        texts = pa.array(text_list, type=pa.string())
        if columns.any_blank(texts):
            raise TablePathFailed("a blank text")
        marks = np.array([PHRASE_END in text for text in text_list], dtype=bool).reshape(n, 2)  # str's search beats Arrow's here
        marked = marks[:, 0] | marks[:, 1]
        # the row path looks a size up where question + answer holds a mark (one may span the two)
        looked = marked.copy()
        for k in np.flatnonzero(~marked).tolist():
            looked[k] = PHRASE_END in text_list[2 * k] + text_list[2 * k + 1]
        widths, heights, known = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        rows = np.flatnonzero(looked)
        for k, image in zip(rows.tolist(), images.take(pa.array(rows)).to_pylist()):
            size = table_sizes.get(image) or sizes.get(image)  # the table first, as get() looks
            if size is not None:
                widths[k], heights[k], known[k] = size[0], size[1], True
        if (marked & ~known).any():
            raise TablePathFailed("an image of unknown size")
        lists = pa.array([line.boxes for line in lines], type=_BOXES_TYPE).filter(pa.array(marked))
        boxes = pc.list_flatten(lists)
        if lists.null_count or boxes.null_count or (len(boxes) and not pc.all(pc.equal(pc.list_value_length(boxes), 4)).as_py()):
            raise TablePathFailed("a marked line without boxes, or a box that is not four numbers")
        owner = np.flatnonzero(marked)[pc.list_parent_indices(lists).to_numpy()]
        written = columns.box_texts(pc.list_flatten(boxes).to_numpy(zero_copy_only=False).reshape(len(boxes), 4), widths[owner], heights[owner])
        counts = np.zeros(n, dtype=np.int64)
        counts[marked] = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
        first = np.zeros(n, dtype=np.int64)
        np.cumsum(counts[:-1], out=first[1:])
        seqs = [seq for line in lines for seq in (line.question_boxes_seq, line.answer_boxes_seq)]
        turns = placed_texts(texts, seqs, np.repeat(first, 2), np.repeat(counts, 2), written, f"{IMAGE_TOKEN}\n")
        ids = columns.prefixed(prefix, pa.array(np.arange(count, count + n)))
        count += n
        yield columns.record_table(
            ids, images, columns.conversations(np.arange(0, 2 * n + 1, 2), turns), source="shikra", task="dialogue",
            image_id=stems, width=pa.array(widths, mask=~known), height=pa.array(heights, mask=~known),
        )


@dataclasses.dataclass
class ShikraConfig(SourceConfig):
    """:class:`SourceConfig` plus ``image_dir``: the Flickr30K image folder, read for image sizes (headers only)."""

    image_dir: str | None = None


class Shikra(SourceBuilder):
    """Shikra-RD referential dialogues as LLaVA records: 5,922 in DataOptim's release."""

    SOURCE = "shikra"
    BUILDER_CONFIG_CLASS = ShikraConfig
    BUILDER_CONFIGS = [ShikraConfig(name="shikra", version=datasets.Version("1.0.0"), description="Shikra-RD (GPT-4 referential dialogue on Flickr30K)")]
    ORIGINAL_FILES = {"train": {"dialogues": (SHIKRA_RD_FILE,)}}
    DESCRIPTION = "Shikra-RD: GPT-4 generated questions and chain-of-thought answers about Flickr30K images, with the boxes of mentioned objects written in the text."
    HOMEPAGE = "https://github.com/shikras/shikra"
    LICENSE = "CC BY-NC 4.0 (Shikra data); images: Flickr30K terms"
    CITATION = """@article{chen2023shikra,
  title={Shikra: Unleashing Multimodal LLM's Referential Dialogue Magic},
  author={Chen, Keqin and Zhang, Zhao and Zeng, Weili and Zhang, Richong and Zhu, Feng and Zhao, Rui},
  journal={arXiv preprint arXiv:2306.15195},
  year={2023}
}"""
    DOWNLOAD = (
        f"Shikra's annotation zip (link in https://github.com/shikras/shikra/blob/main/docs/data.md) holds {SHIKRA_RD_FILE}; "
        f"image sizes come from {SIZES_FILE} in data_dir or from image_dir=<Flickr30K images>"
    )

    def image_sizes(self) -> ImageSizes:
        """Sizes from ``image_sizes.json`` in the data folder and/or the ``image_dir`` option."""
        table = self.available_files().get(SIZES_FILE)
        return ImageSizes(load_image_sizes(table) if table is not None else None, self.config.image_dir)

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        """Lines decoded by ``msgspec`` and converted by columns (:func:`dialogue_tables`), as :meth:`original_records` does."""
        return dialogue_tables(files["dialogues"], prefix=self.record_id(""), sizes=self.image_sizes())

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["dialogues"]
        sizes = self.image_sizes()
        for index, (line, item) in enumerate(iter_jsonl(path, what=f"Shikra {SHIKRA_RD_FILE}")):
            with annotation_errors(path, line, f"lines[{line}]"):
                size = sizes.get(image_path(item["img_path"])) if PHRASE_END in f"{item.get('question')}{item.get('cot_with_ans')}" else None
                record = dialogue_to_record(item, record_id=self.record_id(index), size=size)
            yield record
