"""What every source builder shares (DESIGN §3, §6, §12), and the shape of a source builder.

A source is one module in ``builders/`` made of these pieces, as in TensorFlow
Datasets' ``ref_coco`` and ``datasets``' packaged ``json`` builder:

1. module-level **pure functions** that turn one original annotation into one
   record (no I/O, no state: easy to test against DataOptim's real records);
2. a **thin builder class**, a :class:`SourceBuilder` subclass, that declares
   the files it reads (:attr:`SourceBuilder.ORIGINAL_FILES`), the citation,
   homepage, licence and download instructions as data, and wires files to
   those functions in :meth:`SourceBuilder.original_records`;
3. one short **test** that declares builder, configs and golden records while
   ``tests/builder_harness.py`` does the rest.

Every builder also reads DataOptim's converted ``<source>.json`` (from the
release's ``data.zip``): those records pass through validated.

The builder shape: tables first, rows to locate errors
------------------------------------------------------

:class:`SourceBuilder` is a ``datasets.ArrowBasedBuilder``: it yields Arrow
tables of up to :data:`dataoptim.columns.TABLE_ROWS` records
(``_generate_tables``), never one dict per record. A source plugs in:

* ``original_records(split, files)`` — the **row-by-row reference** (ijson
  streaming + the pure functions above). It is what the records *are*; the
  table path must give the same records, byte for byte, or the same located
  error (``tests/test_table_path.py`` checks this on random inputs).
* ``original_tables(split, files)`` — the **table path** (optional): parse each
  file once with a C decoder that keeps only the fields used — ``msgspec``
  typed ``Struct`` classes, declared at module level next to the pure functions
  (``class Question(msgspec.Struct): image_id: int; question: str; question_id: int``;
  :func:`load_bytes`, :func:`decode_list_batches`, :func:`jsonl_batches`), or, for
  nested lists of turns, ``pyarrow.json`` straight into list columns
  (:func:`split_list` + :func:`read_objects` with an explicit schema; strict types,
  a missing field comes back null and must be refused) —
  check the source's own rules over whole columns (unique keys with
  :func:`dataoptim.columns.is_unique`, joins with ``pc.is_in``), then build the
  columns with pyarrow compute and numpy (:func:`~dataoptim.columns.prefixed`,
  :func:`~dataoptim.columns.coco_image_paths`,
  :func:`~dataoptim.columns.vqa_prompts`,
  :func:`~dataoptim.columns.caption_prompts` — the same stable prompt hash —,
  :func:`~dataoptim.columns.two_turns` or
  :func:`~dataoptim.columns.conversations` over flat turn arrays) and yield
  :func:`~dataoptim.columns.record_table` tables. Values the table path cannot
  vouch for (a wrong type, a missing field, a repeated key, a join that does not
  match, a negative image id...) are never handled there: raise
  :class:`TablePathFailed` (or let ``msgspec``'s own error out) and the base
  class runs ``original_records`` to name the file, record and field; when
  the reference finds no fault, its records from where the table path stopped
  are used (so a table path may fail after yielding tables: it must only never
  yield a record the reference would not give).
* The record rules (DESIGN §2) are checked by the base class on every table,
  with column kernels (:func:`dataoptim.columns.rules_hold`); a table that
  fails is located by the reference rows the same way.
* A JSON object keyed by id, decoded into a ``dict``, keeps only the last of
  two repeated keys: count the entries another way (e.g.
  :func:`count_token` on a key every entry has once) and fail when the counts
  differ, so the reference's repeated-key check still fires.
* A source without ``original_tables`` is built from its reference rows,
  validated row by row and batched into tables (correct, slower). A middle
  way, decoding with ``msgspec`` and calling the same pure functions per record,
  batched with :func:`row_tables`, is about as slow as ``datasets``' json loader:
  box arithmetic goes by columns too (:func:`dataoptim.columns.box_texts`, used by
  RefCOCO REC/REG and Shikra-RD), with Python per row only where texts are put
  together.
* A source whose train split reads several files that each give their own
  records (SVIT's parts) names those roles in :attr:`SourceBuilder.UNIT_ROLES`:
  a pool build's workers then build each file apart.
* A file read by several splits (OCR-VQA's ``dataset.json``, Karpathy's
  Flickr30K file) is decoded once: keep the per-split columns on the builder
  instance (``self._split_columns``) and build each split from them.
* Checks: ``tests/test_table_path.py`` (add the source's generator of random
  valid files to ``FORMATS``; it then checks the table path against the reference
  on random valid and broken inputs, and that clean inputs never fall back);
  :data:`FALLBACKS` lists hand-overs in a process.

A minimal source (see ``builders/vqav2.py`` or ``builders/coco.py`` in full)::

    class Caption(msgspec.Struct):          # only the fields used
        image_id: int
        caption: str

    def caption_tables(path, *, prefix, seed=0):      # the table path
        anns = msgspec.json.decode(load_bytes(path), type=CaptionsFile).annotations
        image_ids = np.fromiter((a.image_id for a in anns), dtype=np.int64, count=len(anns))
        ids = columns.prefixed(prefix, pa.array(np.arange(len(anns))))
        yield from columns.slices(columns.record_table(
            ids, columns.coco_image_paths(image_ids, "train2014"),
            columns.two_turns(columns.caption_prompts(ids.to_pylist(), seed), [a.caption for a in anns]),
            source="coco", task="caption", image_id=pa.array(image_ids)))

    class Coco(SourceBuilder):
        SOURCE = "coco"
        ORIGINAL_FILES = {"train": {"captions": ("captions_train2014.json",)}}
        def original_tables(self, split, files):     # fast; raise on anything doubtful
            return caption_tables(files["captions"], prefix=self.record_id("", split), seed=self.config.seed)
        def original_records(self, split, files):    # the reference; names every fault
            ...

The converted ``<source>.json`` takes the table path of the base class
(:meth:`SourceBuilder.converted_tables`); a source that keeps only some of
its records overrides :meth:`SourceBuilder.converted_mask` (whole columns) or
:meth:`SourceBuilder.keep_converted` (per record).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import mmap
import os
import re
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

import datasets
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import catalog, columns, records
from dataoptim.errors import ConfigError, DataOptimError, InputError, MissingFileError, RecordError

#: Extensions of annotation files (images are never listed).
ANNOTATION_EXTENSIONS = (".json", ".jsonl", ".p", ".pkl", ".zip", ".txt")
#: Where DataOptim's release lives on the Hugging Face hub.
RELEASE_REPO = "BAAI/DataOptim"
RELEASE_ARCHIVE = "data/data.zip"
LAYOUTS = ("auto", "original", "converted")


def annotation_files(folder: str | os.PathLike) -> list[Path]:
    """List annotation files in ``folder`` and its direct sub-folders, never deeper.

    Only names ending in :data:`ANNOTATION_EXTENSIONS` are kept, so an image
    folder beside the annotations costs one directory listing, not a walk.
    Hidden files are skipped. Returns sorted absolute paths.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        return []
    found: list[Path] = []
    with os.scandir(folder) as entries:
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_file() and entry.name.lower().endswith(ANNOTATION_EXTENSIONS):
                found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False):
                subdirs.append(entry.path)
    for sub in subdirs:
        with os.scandir(sub) as entries:
            found.extend(
                Path(e.path)
                for e in entries
                if not e.name.startswith(".") and e.is_file() and e.name.lower().endswith(ANNOTATION_EXTENSIONS)
            )
    return sorted(found)


@contextlib.contextmanager
def annotation_errors(file: str | os.PathLike, index: int, where: str) -> Iterator[None]:
    """Turn ``KeyError``/``TypeError``/``ValueError`` raised while converting one annotation into :class:`InputError`.

    Args:
        file: the annotation file.
        index: position of the annotation in it (0-based).
        where: path of the annotation in the file, e.g. ``"annotations[3]"``; a
            missing key ``k`` is reported as field ``"annotations[3].k"``.

    A :class:`DataOptimError` that names no file (raised by a pure conversion
    function, e.g. an unsafe image path) is located here too; one that names a
    file passes unchanged.
    """
    try:
        yield
    except DataOptimError as exc:
        if exc.file is None:
            raise exc.located(file=file, record=index, field=where) from None
        raise
    except KeyError as exc:
        raise InputError("missing", file=file, record=index, field=f"{where}.{exc.args[0]}") from None
    except (TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(f"malformed annotation ({exc})", file=file, record=index, field=where) from None


def dataset_module(data_dir, data_files, download_config=None):
    """The ``datasets.load.DatasetModule`` for ``load_dataset("dataoptim", ...)``.

    ``data_files`` given: resolved as ``datasets`` does. Else ``data_dir`` is
    listed with :func:`annotation_files` (shallow). Else no files: the builder
    fetches DataOptim's release from the hub, or says what to download.
    """
    from datasets.data_files import DataFilesDict, sanitize_patterns
    from datasets.load import DatasetModule
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    base = Path(data_dir or "").expanduser().resolve()
    if data_files is not None:
        try:
            files = DataFilesDict.from_patterns(sanitize_patterns(data_files), base_path=base.as_posix(), download_config=download_config)
        except FileNotFoundError as exc:
            raise MissingFileError(f"data_files: {exc}", field="data_files") from None
    elif data_dir is not None:
        if not base.is_dir():
            raise MissingFileError("data_dir is not a folder", file=base)
        found = [p.as_posix() for p in annotation_files(base)]
        files = DataFilesDict.from_patterns({"files": found}, base_path=base.as_posix()) if found else DataFilesDict()
    else:
        files = DataFilesDict()
    module_path, code_hash = _PACKAGED_DATASETS_MODULES["dataoptim"]
    return DatasetModule(module_path, code_hash, {"data_files": files, "dataset_name": "dataoptim"})


@dataclasses.dataclass
class SourceConfig(datasets.BuilderConfig):
    """Options every source builder takes.

    Attributes:
        layout: ``"original"`` (the source's published annotation files),
            ``"converted"`` (DataOptim's ``<source>.json``) or ``"auto"``
            (converted if that file is present, else original).
        seed: seed of the reproducible prompt choice (:func:`dataoptim.prompts.stable_choice`).
            DataOptim's own prompt picks are kept when reading converted files.
        subset: a part of the source (``refcoco``, ``detail``...) where the builder has parts.
    """

    layout: str = "auto"
    seed: int = 0
    subset: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}", field="layout")


class SourceBuilder(datasets.ArrowBasedBuilder):
    """Base of the source builders (21); subclasses are thin (see module docstring).

    Subclasses set :attr:`SOURCE` (a key of :data:`dataoptim.catalog.SOURCES`),
    :attr:`ORIGINAL_FILES`, :attr:`DESCRIPTION`, :attr:`HOMEPAGE`,
    :attr:`CITATION`, :attr:`LICENSE`, :attr:`DOWNLOAD`, and implement
    :meth:`original_records`.

    Splits: ``train`` is DataOptim's split, with DataOptim's ids. Other splits
    of the original files (``validation``, ``test``) are built when their files
    are present, with ids ``{source}_{split}_{key}`` so they never collide with
    the pool.
    """

    SOURCE: ClassVar[str]
    #: split -> role -> accepted file names (first found wins); every role of a split is needed.
    ORIGINAL_FILES: ClassVar[Mapping[str, Mapping[str, tuple[str, ...]]]] = {}
    DESCRIPTION: ClassVar[str] = ""
    HOMEPAGE: ClassVar[str] = ""
    CITATION: ClassVar[str] = ""
    LICENSE: ClassVar[str] = ""
    #: Where to get the original files, for the error shown when they are missing.
    DOWNLOAD: ClassVar[str] = ""
    #: Roles of the train split (keys of ``ORIGINAL_FILES["train"]``, in the order the split reads
    #: them) whose files a pool build's workers may build apart, one work unit each: the split's
    #: records are those of each role's files alone, one role after the other (SVIT's part
    #: files). Empty: the split is built in one go.
    UNIT_ROLES: ClassVar[tuple[str, ...]] = ()
    BUILDER_CONFIG_CLASS = SourceConfig
    DEFAULT_WRITER_BATCH_SIZE = 10_000

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "BUILDER_CONFIGS" not in cls.__dict__ and hasattr(cls, "SOURCE"):
            cls.BUILDER_CONFIGS = [SourceConfig(name=cls.SOURCE, version=datasets.Version("1.0.0"), description=catalog.SOURCES[cls.SOURCE].title)]
        if hasattr(cls, "SOURCE"):
            cls.DEFAULT_CONFIG_NAME = cls.BUILDER_CONFIGS[0].name

    # -- what subclasses implement -------------------------------------------------
    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        """Yield the records of ``split`` from the original files (``role -> path``)."""
        raise NotImplementedError

    def keep_converted(self, record: Mapping[str, Any]) -> bool:
        """Whether a record of the converted file belongs to this config (sub-configs filter here)."""
        return True

    # -- shared machinery ------------------------------------------------------------
    @property
    def source(self) -> catalog.Source:
        return catalog.SOURCES[self.SOURCE]

    def record_id(self, key: Any, split: str = "train") -> str:
        """``{source}_{key}`` for train, ``{source}_{split}_{key}`` for other splits."""
        return f"{self.SOURCE}_{key}" if split == "train" else f"{self.SOURCE}_{split}_{key}"

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=self.DESCRIPTION,
            features=records.features(),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
            license=self.LICENSE,
        )

    def available_files(self) -> dict[str, Path]:
        """Annotation files this builder can see, by file name (``data_files`` first, then ``data_dir``)."""
        found: dict[str, Path] = {}
        if self.config.data_files:
            for split_files in self.config.data_files.values():
                for path in split_files:
                    found.setdefault(Path(path).name, Path(path))
        if self.config.data_dir:
            for path in annotation_files(self.config.data_dir):
                found.setdefault(path.name, path)
        return found

    @property
    def converted_name(self) -> str:
        return f"{self.SOURCE}.json"

    def _download_and_prepare(self, *args, **kwargs):
        # datasets wraps errors raised while generating in DatasetGenerationError; surface ours.
        try:
            result = super()._download_and_prepare(*args, **kwargs)
        except datasets.exceptions.DatasetGenerationError as exc:
            cause = exc.__cause__ or exc.__context__
            while cause is not None and not isinstance(cause, DataOptimError):
                cause = cause.__cause__ or cause.__context__
            if cause is None:
                raise
            raise cause from None
        # still inside datasets' ``.incomplete`` folder: raising here leaves no cache a later run would trust
        self._check_built()
        return result

    def _split_files(self, split: str) -> str:
        files = getattr(self, "_generated_files", {}).get(split) or {}
        return ", ".join(dict.fromkeys(str(p) for p in files.values())) or str(self.config.data_dir)

    def _check_built(self) -> None:
        """Refuse a build that gave no record at all, or one id for two different records (DESIGN §11).

        Reads the id column of the Arrow files just written (memory-mapped,
        vectorised); only rows whose id repeats are compared. Identical repeats
        pass (the pool keeps them once).

        Raises:
            InputError: every split is empty.
            RecordError: an id repeats with a different image or conversation.
        """
        import re

        import pyarrow as pa
        import pyarrow.compute as pc

        splits = dict(self.info.splits or {})
        if not any(info.num_examples for info in splits.values()):
            names = ", ".join(dict.fromkeys(self._split_files(s) for s in getattr(self, "_generated_files", {}))) or None
            raise InputError(f"no records: the annotation files of source {self.SOURCE!r} hold no examples", file=names)
        for split in splits:
            pattern = re.compile(rf"{re.escape(self.dataset_name)}-{re.escape(split)}(-\d+)*(-of-\d+)?\.arrow")
            paths = sorted(p for p in Path(self._output_dir).glob("*.arrow") if pattern.fullmatch(p.name))
            tables = [pa.ipc.open_stream(pa.memory_map(str(p))).read_all().select(["id", "image", "conversations"]) for p in paths]
            if not tables:
                continue
            table = pa.concat_tables(tables)
            ids = table.column("id")
            counts = pc.value_counts(ids)
            repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
            if len(repeated) == 0:
                continue
            rows = pc.indices_nonzero(pc.is_in(ids, value_set=repeated)).to_pylist()
            first: dict[str, tuple[int, Any]] = {}
            for row, rec in zip(rows, table.take(rows).to_pylist()):
                content = (rec["image"], rec["conversations"])
                if rec["id"] not in first:
                    first[rec["id"]] = (row, content)
                elif first[rec["id"]][1] != content:
                    raise RecordError(
                        f"duplicate id with different content: rows {first[rec['id']][0]} and {row} of the {split} split differ",
                        file=self._split_files(split), id=rec["id"], field="id",
                    )

    def as_dataset(self, split=None, **kwargs):
        """``datasets``' ``as_dataset``, leaving out splits that came out empty.

        A split of the original files can hold no record (an OCR-VQA
        ``dataset.json`` without test entries); ``datasets`` cannot read an
        empty split back, so it is dropped from the ``DatasetDict``, and asking
        for it by name is an :class:`InputError`.
        """
        infos = dict(self.info.splits or {})
        if split is None and infos:
            split = {name: name for name, info in infos.items() if info.num_examples}
        elif isinstance(split, str) and split in infos and not infos[split].num_examples:
            raise InputError(f"the {split} split holds no records", file=self._split_files(split), field=split)
        return super().as_dataset(split=split, **kwargs)

    def _split_generators(self, dl_manager):
        layout = self.config.layout
        if layout not in LAYOUTS:  # config kwargs are set after __post_init__, so check here too
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}", field="layout")
        files = self.available_files()
        if not files and not self.config.data_dir:
            files = {self.converted_name: fetch_release_file(self.converted_name, self)}
        if layout in ("auto", "converted") and self.converted_name in files:
            path = files[self.converted_name]
            self._generated_files = {"train": {"converted": path}}
            return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"layout": "converted", "split": "train", "files": {"converted": path}})]
        if layout == "converted":
            raise MissingFileError(f"DataOptim's converted {self.converted_name} not found; {self._where()}", file=self.config.data_dir, field=self.converted_name)
        generators = []
        missing: dict[str, list[str]] = {}
        for split, roles in self.ORIGINAL_FILES.items():
            chosen: dict[str, Path] = {}
            for role, names in roles.items():
                path = next((files[n] for n in names if n in files), None)
                if path is None:
                    missing.setdefault(split, []).append(" or ".join(names))
                else:
                    chosen[role] = path
            if len(chosen) == len(roles):
                generators.append(datasets.SplitGenerator(name=split, gen_kwargs={"layout": "original", "split": split, "files": chosen}))
            elif chosen:  # a split half present is a mistake worth naming
                raise MissingFileError(f"{split} split needs {', '.join(missing[split])}; {self._where()}", file=self.config.data_dir)
        if not generators:
            wanted = ", ".join(dict.fromkeys(name for names in missing.values() for name in names))
            raise MissingFileError(
                f"no annotation files of source {self.SOURCE!r} found (need DataOptim's {self.converted_name}, or the original files, {wanted}); {self._where()}",
                file=self.config.data_dir,
            )
        self._generated_files = {g.name: g.gen_kwargs["files"] for g in generators}
        return generators

    def _where(self) -> str:
        return (
            f"download DataOptim's release from https://huggingface.co/datasets/{RELEASE_REPO} ({RELEASE_ARCHIVE})"
            + (f", or the original files: {self.DOWNLOAD}" if self.DOWNLOAD else "")
        )

    def _generate_tables(self, layout: str, split: str, files: Mapping[str, Path]):
        where = ", ".join(dict.fromkeys(str(p) for p in files.values()))
        if layout == "converted":
            fast = lambda: self.converted_tables(files["converted"])  # noqa: E731
            rows = lambda: self.converted_records(files["converted"])  # noqa: E731
        else:
            fast = lambda: self.original_tables(split, files)  # noqa: E731
            rows = lambda: self.original_records(split, files)  # noqa: E731
        for index, table in enumerate(checked_tables(fast, rows, where, require_image=catalog.requires_image(self.SOURCE))):
            yield f"{split}-{index}", table

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table] | None:
        """The table path of the original files (see the module docstring); None: this source has none yet."""
        return None

    def converted_mask(self, table: pa.Table) -> pa.Array | None:
        """Which rows of a converted table this config keeps (None: all); the default asks :meth:`keep_converted` row by row."""
        if type(self).keep_converted is SourceBuilder.keep_converted:
            return None
        return pa.array([self.keep_converted(r) for r in table.select(list(records.LLAVA_FIELDS)).to_pylist()], type=pa.bool_())

    def converted_tables(self, path: Path) -> Iterator[pa.Table]:
        """The table path of DataOptim's converted ``<source>.json``: :meth:`converted_records`, by columns.

        Decodes the file once with ``msgspec`` (only ``id``, ``image``, ``conversations``),
        :data:`dataoptim.columns.TABLE_ROWS` records at a time; raises (for the base class to
        locate with :meth:`converted_records`) on anything the row path would refuse.
        """
        for table in converted_tables(path, source=self.SOURCE, task=self.source.task):
            mask = self.converted_mask(table)
            yield table if mask is None else table.filter(mask)

    def converted_records(self, path: Path) -> Iterator[dict[str, Any]]:
        """Stream DataOptim's converted ``<source>.json``, validating each record (DESIGN §2).

        Raises:
            InputError: the file is not a JSON list.
            RecordError: a record breaks a rule, or its id is not of this source.
        """
        from dataoptim.io import iter_json_array

        prefix = f"{self.SOURCE}_"
        for index, item in enumerate(iter_json_array(path, what=f"DataOptim {self.converted_name}")):
            records.validate_record(item, file=str(path), index=index, require_image=catalog.requires_image(self.SOURCE))
            if not item["id"].startswith(prefix) or catalog.source_of(item["id"]) is not self.source:  # llava_v1.5_0 is no llava id
                raise RecordError(f"id does not belong to source {self.SOURCE!r}", file=str(path), record=index, id=item["id"], field="id")
            if not self.keep_converted(item):
                continue
            yield records.make_record(
                item["id"], item.get("image"), item["conversations"], source=self.SOURCE, task=self.source.task
            )


class TablePathFailed(Exception):
    """The table path cannot vouch for an input; the row-by-row reference decides (and names the fault)."""


#: ``(where, why)`` of every table path that handed over to the row-by-row reference in this process (tests, benchmarks).
FALLBACKS: list[tuple[str, str]] = []


def load_bytes(path: str | os.PathLike) -> Any:
    """The bytes of ``path``, memory-mapped read-only (an ``mmap``; a memoryview past a leading UTF-8 byte-order mark).

    Raises:
        OSError: the file cannot be opened; ValueError: it is empty (``mmap`` refuses those).
    """
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped)[3:] if mapped[:3] == b"\xef\xbb\xbf" else mapped


def count_token(buffer: Any, token: bytes, limit: int | None = None) -> int:
    """How many times the JSON string token ``token`` (quotes included, e.g. ``b'"imageId"'``) occurs in ``buffer`` (up to ``limit``).

    Inside a JSON string a quote is escaped, so every match is a string equal to the token's text:
    counting a key that every entry holds once counts the entries, repeated keys included; a
    top-level key counted twice may be a repeated key (``ijson`` reads both, a dict decoder one).
    """
    count = 0
    if hasattr(buffer, "find"):  # mmap, bytes: the C fast search
        position = buffer.find(token)
        while position >= 0 and (limit is None or count < limit):
            count += 1
            position = buffer.find(token, position + len(token))
        return count
    for _ in re.finditer(re.escape(token), buffer):
        count += 1
        if limit is not None and count >= limit:
            break
    return count


def top_level_keys_once(buffer: Any, *keys: str) -> None:
    """Raise :class:`TablePathFailed` unless each top-level ``key`` token occurs once in the file (see :func:`count_token`)."""
    for key in keys:
        if count_token(buffer, f'"{key}"'.encode(), limit=2) != 1:
            raise TablePathFailed(f"{key!r} is not exactly once in the file")


def decode_list_batches(source: Any, item_type: Any, rows: int = columns.TABLE_ROWS, *, key: str | None = None) -> Iterator[list]:
    """Decode a JSON list (or the list under ``key`` of a top-level object) ``rows`` items at a time.

    ``source`` is a path (a top-level list: read in pieces by :func:`list_pieces`, bounded memory)
    or the file's bytes (:func:`load_bytes`; needed with ``key``). The list is split at item
    boundaries first (``msgspec.Raw`` views, no copy), then each batch is decoded into
    ``item_type`` (a ``msgspec.Struct`` keeping only the fields used).

    Raises:
        msgspec.DecodeError, msgspec.ValidationError, TablePathFailed: not such a list, or an item not of ``item_type``.
    """
    decoder = msgspec.json.Decoder(list[item_type])
    pieces = list_pieces(source) if isinstance(source, (str, os.PathLike)) and key is None else [split_list(source, key)]
    for raws in pieces:
        for start in range(0, len(raws), rows):
            yield decoder.decode(b"[" + b",".join(raws[start:start + rows]) + b"]")


def jsonl_batches(path: str | os.PathLike, item_type: Any = dict, rows: int = columns.TABLE_ROWS) -> Iterator[list]:
    """Decode the non-blank lines of a JSON Lines file ``rows`` at a time, each line on its own (as :func:`dataoptim.io.iter_jsonl` reads them).

    Each line is decoded separately, so a line holding two objects, or an object spread over two
    lines, fails here as it does there.

    Raises:
        OSError, msgspec errors: the file cannot be read, or a line is not one ``item_type``.
    """
    decoder = msgspec.json.Decoder(item_type)
    batch: list = []
    with open(path, "rb") as handle:
        for index, raw in enumerate(handle):
            if not raw.strip():
                continue
            batch.append(decoder.decode(raw[3:] if index == 0 and raw.startswith(b"\xef\xbb\xbf") else raw))
            if len(batch) == rows:
                yield batch
                batch = []
    if batch:
        yield batch


def read_objects(raws: list, schema: pa.Schema) -> pa.Table:
    """JSON objects (``msgspec.Raw`` views, e.g. the items of :func:`split_list`) parsed by ``pyarrow.json`` into ``schema``.

    Types are strict (a number where a string is declared, a key written twice: ``ArrowInvalid``);
    fields not in ``schema`` are skipped; a missing field comes back null, for the caller to refuse.

    Raises:
        TablePathFailed: an item is not a JSON object (checked first: ``pyarrow.json`` crashes on a lone ``null`` row).
        pyarrow.ArrowInvalid: an item does not fit ``schema``.
    """
    import pyarrow.json as pj

    data = b"\n".join(raws)
    sizes = np.fromiter((len(r) + 1 for r in raws), dtype=np.int64, count=len(raws))
    starts = np.zeros(len(raws), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    if len(raws) and not (np.frombuffer(data, dtype=np.uint8)[starts] == ord("{")).all():
        raise TablePathFailed("an item is not a JSON object")
    # items written on one line each (the usual case) let the reader cut blocks at newlines, which is faster
    multiline = data.count(b"\n") != len(raws) - 1
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=multiline)
    # blocks of a few MB (a block must hold the longest item whole); one thread: pool builds use processes
    block = max(4 << 20, 2 * int(sizes.max()) if len(sizes) else 0)
    return pj.read_json(pa.BufferReader(data), parse_options=options, read_options=pj.ReadOptions(block_size=block, use_threads=False))


#: Bytes of a JSON list read at a time by :func:`list_pieces` (memory: about twice this, whatever the file size).
PIECE_BYTES = 32 << 20
_BOUNDARY = re.compile(rb"\}[ \t\r\n]*,[ \t\r\n]*\{")
_FIRST_KEY = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*("(?:[^"\\]|\\.)*")[ \t\r\n]*:')


def list_pieces(path: str | os.PathLike, block: int = PIECE_BYTES) -> Iterator[list]:
    """The items of a top-level JSON list of objects, as ``msgspec.Raw`` views, a block of the file at a time.

    The file is memory-mapped and cut, about every ``2 * block`` bytes, between two items: at a
    ``}`` ``,`` ``{`` followed by the first item's first key (``"id":``), so cuts between nested
    objects are rarely tried. Each piece is copied once and decoded as a list by ``msgspec``,
    which proves the cut (a cut inside a string or a nested object does not decode, and the cut
    before it is tried). Memory stays about twice ``block`` besides the mapped pages, which are
    released behind the last cut, however large the file.

    Raises:
        TablePathFailed: not a JSON list as far as the cuts can tell (no ``[`` first, an end that
            does not decode, trailing bytes): the row path decides. Memory grows past ``2 * block``
            only for one item longer than that.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise TablePathFailed("an empty file")
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield from _pieces(mapped, size, block)
    finally:
        mapped.close()


_BLANKS = re.compile(rb"[ \t\r\n]*")


def _piece(mapped: mmap.mmap, start: int, stop: int) -> list:
    """``mapped[start:stop]`` decoded as the items of a list (``[`` and ``]`` put around it; one copy)."""
    with memoryview(mapped) as view:
        return msgspec.json.decode(b"".join((b"[", view[start:stop], b"]")), type=list[msgspec.Raw])


def _pieces(mapped: mmap.mmap, size: int, block: int) -> Iterator[list]:
    """The cuts of :func:`list_pieces`, at the same places as reading the file ``block`` bytes at a time would
    give (the first read ``max(block, 4)``, a window of at least ``2 * block`` bytes read): ``read`` is the end
    of what such reads would have read, so the pieces, and the tables built from them, do not depend on
    the file being mapped."""
    read = min(max(block, 4), size)
    pos = 3 if mapped[:3] == b"\xef\xbb\xbf" else 0
    pos = _BLANKS.match(mapped, pos, read).end()
    while pos == read:
        if read == size:
            raise TablePathFailed("an empty file")
        read = min(read + block, size)
        pos = _BLANKS.match(mapped, pos, read).end()
    if mapped[pos] != ord("["):
        raise TablePathFailed("not a JSON list")
    pos += 1
    boundary = None
    release = hasattr(mapped, "madvise") and hasattr(mmap, "MADV_DONTNEED")
    eof = False
    while True:
        if not eof and read - pos < 2 * block:
            eof = read == size  # a read past the end gives nothing
            read = min(read + block, size)
            if not eof:
                continue
        if eof:
            try:
                items = _last_piece(mapped, pos, size)
            except msgspec.MsgspecError as exc:
                raise TablePathFailed(f"the end of the list does not decode ({exc})") from None
            yield items
            return
        if boundary is None:  # items are objects: a cut is '}' ',' '{' followed by the first item's first key
            first = _FIRST_KEY.match(mapped, pos, read)
            boundary = re.compile(_BOUNDARY.pattern + (rb"(?=[ \t\r\n]*" + re.escape(first.group(1)) + rb"[ \t\r\n]*:)" if first else b""))
        cuts = _last_cuts(boundary, mapped, 8, pos, read)
        for match in cuts[::-1]:  # the last 8 cuts at most: a fault in the JSON must not cost a parse per cut
            try:
                items = _piece(mapped, pos, match.start() + 1)
            except msgspec.MsgspecError:
                continue  # a cut inside a string or a nested object: try the one before
            yield items
            pos = match.end() - 1
            if release and pos > mmap.PAGESIZE:  # pages behind the cut are not read again
                mapped.madvise(mmap.MADV_DONTNEED, 0, pos - pos % mmap.PAGESIZE)
            break
        else:
            if cuts and read - pos > max(4 * block, 1 << 20):
                raise TablePathFailed("no cut of the list decodes")
            eof = read == size  # no cut that decodes yet (a long item, or cuts in strings): read on
            read = min(read + block, size)


def _last_piece(mapped: mmap.mmap, start: int, size: int) -> list:
    """The rest of the list from ``start`` (its ``]`` included) as items."""
    with memoryview(mapped) as view:
        return msgspec.json.decode(b"".join((b"[", view[start:size])), type=list[msgspec.Raw])


def _last_cuts(boundary: re.Pattern, buf: Any, count: int, begin: int, end: int) -> list:
    """The last ``count`` matches of ``boundary`` in ``buf[begin:end - 1]``, in order, found by scanning a tail window that grows.

    The same matches as the last ``count`` of a scan of the whole buffer (a match holds only
    ``}``, ``,``, ``{`` and blanks, so matches never overlap and a window that holds ``count + 1``
    of them holds the last ``count`` whole), at the cost of the tail only.
    """
    end -= 1
    window = 1 << 16
    while True:
        start = max(begin, end - window)
        found = list(boundary.finditer(buf, start, end))
        if start == begin or len(found) > count:
            return found[-count:]
        window *= 4


def split_list(buffer: Any, key: str | None = None) -> list:
    """The items of a JSON list (or of the list under top-level ``key``) as ``msgspec.Raw`` views, no copy.

    Raises:
        msgspec.DecodeError, msgspec.ValidationError: not valid JSON, or not such a list.
    """
    if key is None:
        return msgspec.json.decode(buffer, type=list[msgspec.Raw])
    return msgspec.json.decode(msgspec.json.decode(buffer, type=dict[str, msgspec.Raw])[key], type=list[msgspec.Raw])


class Turn(msgspec.Struct):
    """One turn of a converted record, as decoded by the table path."""

    from_: str = msgspec.field(name="from")
    value: str


#: What the table path reads of a converted record (:func:`converted_tables`).
CONVERTED_SCHEMA = pa.schema([("id", pa.string()), ("image", pa.string()), ("conversations", columns.SCHEMA.field("conversations").type)])


def converted_tables(path: str | os.PathLike, *, source: str, task: str) -> Iterator[pa.Table]:
    """DataOptim's converted ``<source>.json`` as record tables (the table path of :meth:`SourceBuilder.converted_records`).

    The file is read in pieces (:func:`list_pieces`, bounded memory), split into records
    (``msgspec.Raw``) and parsed :data:`dataoptim.columns.TABLE_ROWS` at a time by ``pyarrow.json``
    straight into columns (:data:`CONVERTED_SCHEMA`, strict types).

    Raises:
        TablePathFailed, ArrowInvalid, msgspec errors: anything the row path would refuse or must
        name (a wrong type, an id of another source...); the rules are checked by the caller.
    """
    prefix = f"{source}_"
    longer = [f"{n}_" for n in catalog.SOURCES if n != source and n.startswith(prefix)]  # llava_v1.5_0 is no llava id
    for piece in list_pieces(path):
        for start in range(0, len(piece), columns.TABLE_ROWS):
            parsed = read_objects(piece[start:start + columns.TABLE_ROWS], CONVERTED_SCHEMA)
            ids = parsed.column("id")
            if ids.null_count or not pc.all(pc.starts_with(ids, prefix)).as_py():
                raise TablePathFailed(f"an id is missing or does not belong to source {source!r}")
            if any(pc.any(pc.starts_with(ids, other)).as_py() for other in longer):
                raise TablePathFailed(f"an id belongs to a source whose name starts with {source!r}")
            yield columns.record_table(ids, parsed.column("image"), parsed.column("conversations").combine_chunks(), source=source, task=task)


def _validated(rows: Iterable[Mapping[str, Any]], where: str, require_image: bool = True) -> Iterator[Mapping[str, Any]]:
    for index, record in enumerate(rows):
        # what the conversion made from the original files obeys the record rules too (DESIGN §2)
        records.validate_record(record, file=where, index=index, require_image=require_image)
        yield record


def row_tables(rows: Iterable[Mapping[str, Any]], rows_per_table: int = columns.TABLE_ROWS) -> Iterator[pa.Table]:
    """Records (dicts with the columns of :data:`dataoptim.records.COLUMNS`) batched into record tables."""
    batch: list[Mapping[str, Any]] = []
    for record in rows:
        batch.append(record)
        if len(batch) == rows_per_table:
            yield pa.Table.from_pylist(batch, schema=columns.SCHEMA)
            batch = []
    if batch:
        yield pa.Table.from_pylist(batch, schema=columns.SCHEMA)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the ``with`` block, back as it was after it.

    The table paths decode whole files into hundreds of thousands of ``msgspec`` structs and
    lists at once; each allocation burst sets off collections that walk all of them again
    (5–7× the decoding time for OK-VQA's annotations). Decoded values hold no reference
    cycles, so nothing is left uncollected; reference counting frees them as before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def checked_tables(
    fast: Callable[[], Iterable[pa.Table] | None],
    rows: Callable[[], Iterable[Mapping[str, Any]]],
    where: str,
    *,
    require_image: bool = True,
) -> Iterator[pa.Table]:
    """The tables of ``fast()``, each checked with :func:`dataoptim.columns.rules_hold`; on any failure, the reference ``rows()``.

    ``fast()`` returns the table path (None when there is none); ``rows()`` the row-by-row
    reference, which gives the same records in the same order. When the table path raises or
    a table breaks a rule, the reference runs, validating every record
    (:func:`dataoptim.records.validate_record`): its first located error is raised. If it
    finds no fault (the table path could not vouch for some value, e.g. an id written as a
    string), its records from where the table path stopped are yielded instead; each such
    hand-over is recorded in :data:`FALLBACKS`.

    ``require_image``: every record must name an image (False for a source with text-only
    records, :func:`dataoptim.catalog.requires_image`).

    Raises:
        DataOptimError: the reference's located error (file, record, field).
    """
    done = 0
    try:
        with gc_paused():  # only while the table path makes a table, never across a yield
            tables = fast()
            tables = None if tables is None else iter(tables)
        if tables is not None:
            while True:
                with gc_paused():
                    table = next(tables, None)
                    if table is not None and not columns.rules_hold(table, require_image=require_image):
                        raise TablePathFailed("a record breaks a record rule")
                if table is None:
                    break
                yield table
                done += table.num_rows
            return
    except Exception as exc:  # every failure is located (or overruled) by the reference below
        FALLBACKS.append((where, f"{type(exc).__name__}: {exc}"))
    stream = _validated(rows(), where, require_image)
    for _ in range(done):  # already yielded by the table path: the same records, checked again
        next(stream)
    yield from row_tables(stream)


def fetch_release_file(name: str, builder: SourceBuilder | None = None) -> Path:
    """Fetch DataOptim's ``data.zip`` with ``huggingface_hub`` (cached) and extract ``name`` from it.

    Honours ``HF_HUB_OFFLINE``: offline and not cached, raises
    :class:`MissingFileError` saying what to download and where to put it.
    """
    from dataoptim.files import extract_member

    try:
        from huggingface_hub import hf_hub_download

        archive = hf_hub_download(RELEASE_REPO, RELEASE_ARCHIVE, repo_type="dataset")
    except Exception as exc:  # offline, no network, gated: all say the same to the user
        hint = builder._where() if builder is not None else f"download {RELEASE_ARCHIVE} from https://huggingface.co/datasets/{RELEASE_REPO}"
        raise MissingFileError(
            f"no data_dir or data_files given and DataOptim's release could not be fetched ({type(exc).__name__}); "
            f"{hint}, unzip it and pass data_dir=<folder holding {name}>"
        ) from None
    # extract beside datasets' cache, in a folder named after the archive's blob (one per release version)
    target = Path(datasets.config.HF_DATASETS_CACHE) / "dataoptim_release" / Path(archive).resolve().name
    return extract_member(archive, name, target)


def builder_class_for(config_name: str | None) -> type[SourceBuilder]:
    """Return the builder class whose configs include ``config_name``.

    Raises:
        ConfigError: no name given, an unknown name, or a source whose builder is not written yet.
    """
    if not config_name:
        raise ConfigError(f"name a source config: load_dataset('dataoptim', <config>) with one of {', '.join(catalog.SOURCES)}")
    for cls in builder_classes():
        if any(c.name == config_name for c in cls.BUILDER_CONFIGS):
            return cls
    head = config_name.split("_", 1)[0]
    if head in catalog.SOURCES:
        raise ConfigError(f"the builder of source {head!r} is not written yet", field=config_name)
    names = sorted(c.name for cls in builder_classes() for c in cls.BUILDER_CONFIGS)
    raise ConfigError(f"unknown config {config_name!r}; known: {', '.join(names)}")


def builder_classes() -> list[type[SourceBuilder]]:
    """The builder class of every source whose module exists, in catalog order."""
    found = []
    for source in catalog.SOURCES.values():
        try:
            module = importlib.import_module(f"dataoptim.builders.{source.module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"dataoptim.builders.{source.module}":
                continue
            raise
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, SourceBuilder) and getattr(value, "SOURCE", None) == source.name:
                found.append(value)
                break
    return found


def build_source(config_name: str, data_dir: str | os.PathLike | None = None, *, cache_dir: str | None = None, **config_kwargs) -> datasets.DatasetDict:
    """Build one source config from ``data_dir`` and return its splits (a ``DatasetDict``).

    Equivalent to ``load_dataset("dataoptim", config_name, data_dir=data_dir)``,
    without the hub lookup. Raises what the builder raises.
    """
    cls = builder_class_for(config_name)
    builder = cls(config_name=config_name, data_dir=None if data_dir is None else str(data_dir), cache_dir=cache_dir, dataset_name="dataoptim", **config_kwargs)
    builder.download_and_prepare()
    return builder.as_dataset()
