"""RefCOCO, RefCOCO+ and RefCOCOg (Kazemzadeh et al., 2014; Mao et al., 2016) as referring expression comprehension.

Also holds what :mod:`dataoptim.builders.ref3reg` shares with it: both read the same files.

Original files, either of:

* Shikra's ``REC_ref3_train.jsonl`` (shikras/shikra, ``docs/data.md``): one JSON
  object a line, ``{"img_path": "COCO_train2014_000000310289.jpg", "expression":
  "...", "bbox": [x1, y1, x2, y2] (absolute pixels), "dataset_name":
  "refcoco"|"refcoco+"|"refcocog", "height", "width"}``: the train expressions
  of the three datasets, one line per expression.
* The datasets' own files (lichengunc/refer): ``<data_dir>/refcoco/refs(unc).p``,
  ``<data_dir>/refcoco+/refs(unc).p``, ``<data_dir>/refcocog/refs(umd).p`` (or
  ``refs(google).p``), each with the ``instances.json`` beside it. The ``.p`` files
  are pickles and are read with :func:`load_refs`, which refuses anything but
  plain lists, dicts, strings and numbers (DESIGN §10): a pickle that names a
  class or function is refused before anything in it runs.

Records (DataOptim's rules, DESIGN §4–§5): the box is normalised by the original
image's width and height, clamped to [0, 1] and written with 3 decimals; the
prompt is one of Shikra's 54 REC templates (``<expr>`` replaced by the
expression, ``<image>`` left where the template puts it — no ``<image>\\n``
prefix), chosen by :func:`dataoptim.prompts.stable_choice` from the record id;
the answer is the box followed by a full stop: ``[0.0, 0.106, 0.827, 1.0].``.
The image is ``coco/{img_path}``.

Ids. ``ref3rec_{i}`` and ``ref3reg_{i}`` where ``i`` is the 0-based position of
the line in ``REC_ref3_train.jsonl``: each line gives one REC and one REG record
with the same number. Evidence: DataOptim's example submission holds both
``ref3rec_287603`` and ``ref3reg_287603``, with the same image, box and
expression; its other ids are the first or the last of their source
(``ocrvqa_801672``, ``textvqa_34601``, ``shikra_5921``, ``llava_157711`` are the
last of 801,673, 34,602, 5,922 and 157,712), so 287,603 is the last of 287,604 —
the RefCOCO/+/g count in DataOptim's README — and it is a position in the shared
line file, not in a half of it. Sub-configs (``ref3rec_refcoco`` ...) keep the
line numbers, so their ids are DataOptim's. Records built from the refs pickles
cannot know Shikra's line order, so they get ids of their own that never clash
with DataOptim's: ``ref3rec_{dataset}_{sent_id}``.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any, Iterator, Mapping

import datasets
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns, prompts
from dataoptim.boxes import format_box, normalize_box, xywh_to_xyxy
from dataoptim.convert import image_in_folder
from dataoptim.builder import SourceBuilder, SourceConfig, TablePathFailed, annotation_errors, jsonl_batches
from dataoptim.errors import ConfigError, InputError, MissingFileError, UnsafeInputError
from dataoptim.io import iter_json_items, iter_jsonl, require_file
from dataoptim.records import make_record, two_turns

#: Shikra's file of RefCOCO/+/g train expressions.
SHIKRA_FILE = "REC_ref3_train.jsonl"
#: The three datasets, in the order their refs files are read; values of ``dataset_name``.
REF_DATASETS = ("refcoco", "refcoco+", "refcocog")
#: Refs file of each dataset, first found wins (Shikra evaluates RefCOCOg on the umd split).
REFS_FILES = {"refcoco": ("refs(unc).p", "refs(google).p"), "refcoco+": ("refs(unc).p",), "refcocog": ("refs(umd).p", "refs(google).p")}
#: Placeholders of Shikra's templates.
PLACEHOLDERS = {"REC": "<expr>", "REG": "<objs>"}
_COCO_ID = re.compile(r"(\d+)\.[A-Za-z]+$")


# -- pure functions -------------------------------------------------------------------------------
def fill_template(template: str, kind: str, value: str) -> str:
    """A Shikra template with its placeholder (``<expr>`` for REC, ``<objs>`` for REG) replaced by ``value``."""
    return template.replace(PLACEHOLDERS[kind], value)


def prompt_options(kind: str, value: str) -> list[str]:
    """Every human turn a record could get: each of Shikra's ``kind`` templates filled with ``value``."""
    return [fill_template(t, kind, value) for t in prompts.shikra_templates(kind)]


def match_template(text: str, kind: str) -> str | None:
    """The value a filled ``kind`` template holds, if ``text`` is one of Shikra's templates filled in; else None.

    ``match_template("Locate a girl in <image> and provide its coordinates, please.", "REC")`` → ``"a girl"``.
    Where several templates fit (``Where is <expr> <image>?`` also fits ``Where is x in the
    image <image>?``), the one with the most fixed text wins, giving the shortest value.
    """
    best: tuple[int, str] | None = None
    for template in prompts.shikra_templates(kind):
        head, sep, tail = template.partition(PLACEHOLDERS[kind])
        if sep and text.startswith(head) and text.endswith(tail) and len(text) > len(head) + len(tail):
            if best is None or len(head) + len(tail) > best[0]:
                best = (len(head) + len(tail), text[len(head): len(text) - len(tail)])
    return None if best is None else best[1]


def image_path(img_path: str) -> str:
    """DataOptim's path of a COCO train2014 image named in Shikra's file: ``coco/COCO_train2014_000000544238.jpg``.

    Raises:
        ValueError: not a non-empty string. RecordError: an absolute path or ``..`` (refused, not rewritten).
    """
    return image_in_folder("coco", img_path)


def coco_image_id(img_path: str) -> int | None:
    """The COCO image id in a file name (``COCO_train2014_000000544238.jpg`` → 544238), or None."""
    match = _COCO_ID.search(img_path)
    return int(match.group(1)) if match else None


def rec_record(record_id: str, image: str, expression: str, box, *, seed: int = 0, **native: Any) -> dict[str, Any]:
    """A REC record: a REC template holding the expression → ``"[x1, y1, x2, y2]."``.

    Args:
        record_id: ``ref3rec_{i}``.
        image: image path relative to the image folder.
        expression: the referring expression.
        box: the normalised box (already rounded).
        seed: seed of the template's stable choice.
        native: ``image_id``, ``width``, ``height``, ``question_id`` columns.
    """
    template = prompts.stable_choice(prompts.shikra_templates("REC"), record_id, seed)
    return make_record(record_id, image, two_turns(fill_template(template, "REC", expression), f"{format_box(box)}."), source="ref3rec", task="rec", **native)


def reg_record(record_id: str, image: str, expression: str, box, *, seed: int = 0, **native: Any) -> dict[str, Any]:
    """A REG record: a REG template holding the box → the expression. Arguments as :func:`rec_record`."""
    template = prompts.stable_choice(prompts.shikra_templates("REG"), record_id, seed)
    return make_record(record_id, image, two_turns(fill_template(template, "REG", format_box(box)), expression), source="ref3reg", task="reg", **native)


def line_to_record(kind: str, item: Mapping[str, Any], *, record_id: str, seed: int = 0) -> dict[str, Any]:
    """One line of Shikra's ``REC_ref3_train.jsonl`` → one REC (``kind="REC"``) or REG (``"REG"``) record.

    Raises:
        KeyError: a field is missing. ValueError: ``expression`` is empty or not text.
        BoxError: ``bbox``, ``width`` or ``height`` unusable, or the box lies outside the image
            (field ``bbox``). RecordError: an ``img_path`` that would leave the image folder.
    """
    expression = item["expression"]
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError(f"'expression' must be a non-empty string, found {expression!r}")
    image = image_path(item["img_path"])
    width, height = item["width"], item["height"]
    box = normalize_box(item["bbox"], width, height, field="bbox")
    native = {"image_id": coco_image_id(image), "width": width, "height": height, "question_id": item.get("sent_id")}
    make = rec_record if kind == "REC" else reg_record
    return make(record_id, image, expression, box, seed=seed, **native)


def dataset_of(item: Mapping[str, Any]) -> str:
    """The ``dataset_name`` of a line (``refcoco``, ``refcoco+`` or ``refcocog``).

    Raises:
        KeyError: missing. ValueError: not one of the three.
    """
    name = item["dataset_name"]
    if name not in REF_DATASETS:
        raise ValueError(f"'dataset_name' must be one of {', '.join(REF_DATASETS)}, found {name!r}")
    return name


# -- the table path --------------------------------------------------------------------------------
class Line(msgspec.Struct):
    """The fields of a line of Shikra's ``REC_ref3_train.jsonl`` the table path reads (strict types: anything else goes to the row path)."""

    img_path: str
    expression: str
    bbox: list[float]
    width: int
    height: int
    dataset_name: Any = None
    sent_id: int | str | None = None


def filled_templates(kind: str, record_ids: list[str], values: pa.Array, seed: int = 0) -> pa.Array:
    """:func:`fill_template` of each row's stable choice of Shikra's ``kind`` templates (:func:`dataoptim.prompts.stable_choice`) with its value.

    A template holding its placeholder ``k`` times is cut into ``k + 1`` pieces once; each row
    joins its template's pieces with its value.
    """
    templates = prompts.shikra_templates(kind)
    picks = columns.stable_picks(record_ids, len(templates), seed)
    pieces = [t.split(PLACEHOLDERS[kind]) for t in templates]
    out = pa.nulls(len(record_ids), type=pa.string())
    for holes in sorted({len(p) - 1 for p in pieces}):
        chosen = np.array([len(p) - 1 == holes for p in pieces])[picks]
        if not chosen.any():
            continue
        parts: list[Any] = []
        for j in range(holes + 1):
            parts.append(pa.array([p[j] if len(p) - 1 == holes else "" for p in pieces], type=pa.string()).take(pa.array(picks)))
            if j < holes:
                parts.append(values)
        joined = pc.binary_join_element_wise(*parts, "") if holes else parts[0]
        out = pc.if_else(pa.array(chosen), joined, out)
    return out


def line_tables(kind: str, path: Path, *, prefix: str, subset: str | None = None, seed: int = 0) -> Iterator[pa.Table]:
    """The table path of :func:`line_to_record` over Shikra's file: records ``{prefix}{i}`` (``i`` the line's number among non-blank lines).

    Lines are decoded by ``msgspec`` (:class:`Line`, :func:`dataoptim.builder.jsonl_batches`); boxes are
    normalised and written by :func:`dataoptim.columns.box_texts`, prompts filled by :func:`filled_templates`.

    Raises:
        TablePathFailed, msgspec errors: anything the row path must decide (a wrong type, a blank
        expression, an unsafe or non-ASCII image path, a box it refuses, an unknown ``dataset_name``).
    """
    count = 0
    for lines in jsonl_batches(path, Line):
        n = len(lines)
        keys = np.arange(count, count + n)
        count += n
        if subset is not None:
            names = [line.dataset_name for line in lines]
            if any(not isinstance(v, str) or v not in REF_DATASETS for v in names):
                raise TablePathFailed("a dataset_name that is not one of the three")
            keep = [v == subset for v in names]
            lines = [line for line, k in zip(lines, keep) if k]
            keys = keys[np.array(keep, dtype=bool)]
            if not lines:
                continue
        img_paths = pa.array([line.img_path for line in lines], type=pa.string())
        expressions = pa.array([line.expression for line in lines], type=pa.string())
        if columns.any_blank(img_paths) or columns.any_blank(expressions) or not pc.all(pc.string_is_ascii(img_paths)).as_py():
            raise TablePathFailed("a blank expression or image path, or a non-ASCII image path")
        if columns._any(pc.match_substring_regex(img_paths, columns._BAD_IMAGE_RE)):
            raise TablePathFailed("an unsafe image path")
        if any(len(line.bbox) != 4 for line in lines):
            raise TablePathFailed("a box that is not four numbers")
        widths = np.fromiter((line.width for line in lines), dtype=np.int64, count=len(lines))
        heights = np.fromiter((line.height for line in lines), dtype=np.int64, count=len(lines))
        boxes = np.array([line.bbox for line in lines], dtype=np.float64).reshape(len(lines), 4)
        texts = columns.box_texts(boxes, widths, heights)
        images = pc.binary_join_element_wise("coco/", pc.replace_substring_regex(img_paths, r"^.*/", ""), "")
        digits = pc.extract_regex(images, r"(?P<d>\d+)\.[A-Za-z]+$").field("d")
        try:
            image_ids = pc.cast(digits, pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            raise TablePathFailed("an image number that is not a 64-bit integer") from None
        ids = columns.prefixed(prefix, pa.array(keys))
        record_ids = ids.to_pylist()
        if kind == "REC":
            convs = columns.two_turns(filled_templates("REC", record_ids, expressions, seed), pc.binary_join_element_wise(texts, ".", ""))
        else:
            convs = columns.two_turns(filled_templates("REG", record_ids, texts, seed), expressions)
        source, task = ("ref3rec", "rec") if kind == "REC" else ("ref3reg", "reg")
        yield columns.record_table(
            ids, images, convs, source=source, task=task,
            question_id=[None if line.sent_id is None else str(line.sent_id) for line in lines],
            image_id=image_ids, width=widths, height=heights,
        )


# -- the refs pickles -----------------------------------------------------------------------------
class _PlainDataUnpickler(pickle.Unpickler):
    """An unpickler that builds only what pickle makes without importing anything.

    Lists, dicts, tuples, sets, strings, bytes, numbers, booleans and None need no
    lookup; every class or function (``os.system``, ``builtins.eval``, even
    ``collections.OrderedDict``) does, through :meth:`find_class`, which refuses.
    Nothing named in the pickle is imported or called.
    """

    def __init__(self, file, path):
        super().__init__(file, encoding="utf-8")
        self._path = path

    def find_class(self, module, name):  # noqa: D401 - pickle's hook
        raise UnsafeInputError(
            f"pickle refers to {module}.{name}; a refs file holds only lists, dicts, strings and numbers, so it was refused without running anything",
            file=self._path,
        )

    def persistent_load(self, pid):
        raise UnsafeInputError("pickle uses persistent ids; refused without running anything", file=self._path)


def load_refs(path: str | Path) -> list[dict[str, Any]]:
    """Load a RefCOCO ``refs(*).p`` file safely (see :class:`_PlainDataUnpickler`).

    Returns:
        The list of refs: ``{"ref_id", "ann_id", "image_id", "split", "sentences": [{"sent", "raw", "sent_id", ...}], ...}``.

    Raises:
        MissingFileError: no such file.
        UnsafeInputError: the pickle names a class or function (it may carry code).
        InputError: not a pickle, truncated, or not a list of dicts.
    """
    path = require_file(path, "RefCOCO refs file")
    data = path.read_bytes()
    try:
        refs = _PlainDataUnpickler(io.BytesIO(data), path).load()
    except UnsafeInputError:
        raise
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, UnicodeDecodeError, MemoryError...
        raise InputError(f"not a readable refs pickle ({type(exc).__name__}: {exc})", file=path) from None
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise InputError(f"a refs file must hold a list of refs (dicts), found {type(refs).__name__}", file=path)
    return refs


def instances_index(path: str | Path) -> tuple[dict[int, tuple[str, int, int]], dict[int, list]]:
    """From a RefCOCO ``instances.json``: ``image id -> (file_name, width, height)`` and ``annotation id -> bbox`` (xywh).

    Raises:
        MissingFileError, InputError: as :func:`dataoptim.io.iter_json_items`; a malformed entry names its index.
    """
    images: dict[int, tuple[str, int, int]] = {}
    for index, im in enumerate(iter_json_items(path, "images.item", what="RefCOCO instances file")):
        with annotation_errors(path, index, f"images[{index}]"):
            images[int(im["id"])] = (str(im["file_name"]), int(im["width"]), int(im["height"]))
    anns: dict[int, list] = {}
    for index, ann in enumerate(iter_json_items(path, "annotations.item", what="RefCOCO instances file")):
        with annotation_errors(path, index, f"annotations[{index}]"):
            anns[int(ann["id"])] = list(ann["bbox"])
    return images, anns


def refs_lines(dataset: str, refs_path: Path, instances_path: Path, split: str = "train") -> Iterator[tuple[int, dict[str, Any]]]:
    """Lines in Shikra's layout made from a refs pickle: one per sentence of each ref of ``split``.

    Yields ``(ref_index, line)``; ``line`` adds ``sent_id`` to Shikra's fields,
    ``expression`` is the sentence's ``sent`` (lower-case, spaced punctuation, as in Shikra's file)
    and ``bbox`` is the annotation's box as corners.

    Raises:
        UnsafeInputError, InputError: as :func:`load_refs`; a ref naming an unknown image or
            annotation, or missing a field, names the refs file, ref index and field.
    """
    images, anns = instances_index(instances_path)
    for index, ref in enumerate(load_refs(refs_path)):
        with annotation_errors(refs_path, index, f"refs[{index}]"):
            if ref["split"] != split:
                continue
            file_name, width, height = images[int(ref["image_id"])]
            box = list(xywh_to_xyxy(anns[int(ref["ann_id"])]))
            for sentence in ref["sentences"]:
                yield index, {
                    "img_path": file_name, "expression": sentence["sent"], "bbox": box,
                    "dataset_name": dataset, "width": width, "height": height, "sent_id": int(sentence["sent_id"]),
                }


def find_refs_folders(data_dir: str | Path | None) -> dict[str, tuple[Path, Path]]:
    """``dataset -> (refs file, instances.json)`` for each of ``refcoco``, ``refcoco+``, ``refcocog`` found under ``data_dir``."""
    found: dict[str, tuple[Path, Path]] = {}
    if data_dir is None:
        return found
    for dataset in REF_DATASETS:
        folder = Path(data_dir) / dataset
        refs = next((folder / n for n in REFS_FILES[dataset] if (folder / n).is_file()), None)
        if refs is not None and (folder / "instances.json").is_file():
            found[dataset] = (refs, folder / "instances.json")
    return found


# -- the builders ---------------------------------------------------------------------------------
def ref3_configs(source: str) -> list[SourceConfig]:
    """``{source}`` (all three datasets) and ``{source}_{dataset}`` for each (original files only)."""
    version = datasets.Version("1.0.0")
    configs = [SourceConfig(name=source, version=version, description="RefCOCO, RefCOCO+ and RefCOCOg train expressions")]
    configs += [SourceConfig(name=f"{source}_{d}", version=version, subset=d, layout="original", description=f"{d} train expressions only") for d in REF_DATASETS]
    return configs


class Ref3Builder(SourceBuilder):
    """What the ``ref3rec`` and ``ref3reg`` builders share; subclasses set ``SOURCE`` and ``KIND``."""

    KIND = "REC"
    ORIGINAL_FILES = {"train": {"expressions": (SHIKRA_FILE,)}}
    HOMEPAGE = "https://github.com/lichengunc/refer"
    LICENSE = "RefCOCO/+/g annotations: Apache-2.0 (lichengunc/refer); images: COCO (Flickr licences); Shikra's file and templates: CC BY-NC 4.0"
    CITATION = """@inproceedings{kazemzadeh2014referitgame,
  title={ReferItGame: Referring to Objects in Photographs of Natural Scenes},
  author={Kazemzadeh, Sahar and Ordonez, Vicente and Matten, Mark and Berg, Tamara},
  booktitle={EMNLP}, pages={787--798}, year={2014}
}
@inproceedings{mao2016generation,
  title={Generation and Comprehension of Unambiguous Object Descriptions},
  author={Mao, Junhua and Huang, Jonathan and Toshev, Alexander and Camburu, Oana and Yuille, Alan L. and Murphy, Kevin},
  booktitle={CVPR}, pages={11--20}, year={2016}
}
@article{chen2023shikra,
  title={Shikra: Unleashing Multimodal LLM's Referential Dialogue Magic},
  author={Chen, Keqin and Zhang, Zhao and Zeng, Weili and Zhang, Richong and Zhu, Feng and Zhao, Rui},
  journal={arXiv preprint arXiv:2306.15195}, year={2023}
}"""
    DOWNLOAD = (
        f"Shikra's annotation zip (link in https://github.com/shikras/shikra/blob/main/docs/data.md) holds {SHIKRA_FILE}; "
        "or put refcoco/, refcoco+/ and refcocog/ from https://github.com/lichengunc/refer (refs(unc).p / refs(umd).p and instances.json) in data_dir"
    )

    def converted_mask(self, table):
        self.keep_converted({})  # a part config cannot read the converted file: its ConfigError, once
        return None

    def keep_converted(self, record: Mapping[str, Any]) -> bool:
        if self.config.subset:
            raise ConfigError(
                f"config {self.config.name!r} selects {self.config.subset} lines, which DataOptim's {self.converted_name} cannot tell apart; "
                f"use layout='original' with {SHIKRA_FILE}",
                field="layout",
            )
        return True

    def _split_generators(self, dl_manager):
        try:
            return super()._split_generators(dl_manager)
        except MissingFileError as missing:
            folders = find_refs_folders(self.config.data_dir)
            if self.config.layout == "converted" or not folders:
                raise
            wanted = [self.config.subset] if self.config.subset else list(REF_DATASETS)
            absent = [d for d in wanted if d not in folders]
            if absent:
                raise MissingFileError(
                    f"RefCOCO refs files found for {', '.join(sorted(folders))} but not for {', '.join(absent)} "
                    f"(need {Path(self.config.data_dir) / absent[0]}/{REFS_FILES[absent[0]][0]} and instances.json); {self._where()}",
                    file=self.config.data_dir,
                ) from None
            files = {}
            for d in wanted:
                files[f"{d}/refs"], files[f"{d}/instances"] = folders[d]
            return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"layout": "original", "split": "train", "files": files})]

    def original_tables(self, split: str, files: Mapping[str, Path]):
        if "expressions" not in files:
            return None
        return line_tables(self.KIND, files["expressions"], prefix=self.record_id(""), subset=self.config.subset, seed=self.config.seed)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        if "expressions" in files:
            yield from self._shikra_records(files["expressions"])
        else:
            yield from self._refs_records(files)

    def _shikra_records(self, path: Path) -> Iterator[dict[str, Any]]:
        subset = self.config.subset
        for count, (line, item) in enumerate(iter_jsonl(path, what=f"Shikra {SHIKRA_FILE}")):
            with annotation_errors(path, line, f"lines[{line}]"):
                if subset and dataset_of(item) != subset:
                    continue
                record = line_to_record(self.KIND, item, record_id=self.record_id(count), seed=self.config.seed)
            yield record

    def _refs_records(self, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        for dataset in REF_DATASETS:
            if f"{dataset}/refs" not in files:
                continue
            refs_path = files[f"{dataset}/refs"]
            for index, item in refs_lines(dataset, refs_path, files[f"{dataset}/instances"]):
                with annotation_errors(refs_path, index, f"refs[{index}]"):
                    record = line_to_record(self.KIND, item, record_id=self.record_id(f"{dataset}_{item['sent_id']}"), seed=self.config.seed)
                yield record


class Ref3Rec(Ref3Builder):
    """RefCOCO/+/g referring expression comprehension (expression → box), one record per Shikra line."""

    SOURCE = "ref3rec"
    KIND = "REC"
    DESCRIPTION = "RefCOCO, RefCOCO+ and RefCOCOg train expressions as REC records: a Shikra REC prompt with the expression → the box."
    BUILDER_CONFIGS = ref3_configs("ref3rec")
