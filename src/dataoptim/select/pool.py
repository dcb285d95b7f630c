"""The pool: every built source as memory-mappable Arrow files, with a saved id index (DESIGN §7).

On disk a pool is a folder::

    POOL/
      manifest.json        written last: its presence marks a complete build
      sources/<name>.arrow Arrow IPC files (one per source, record batches of
                           :data:`BATCH_ROWS` rows, schema :func:`dataoptim.records.arrow_schema`)
      index/hashes.npy     uint64 hash of every id (:func:`id_hash`), sorted
      index/ids.npy        the ids in that order, fixed-width bytes (``S{width}``)
      index/rows.npy       int64 global row of each, in that order

A *global row* numbers the records of all sources one after the other, in the
order of :data:`dataoptim.catalog.SOURCES`. Looking ids up is a vectorised
binary search (``numpy.searchsorted``) over sorted 64-bit id hashes, each hit
confirmed against the id itself: DataComp applies id lists to billions of
samples the same way (sorted uid arrays and ``searchsorted``). The index is built once
at ``pool build`` time and memory-mapped when the pool is opened.

A build is written into a temporary sibling folder, ``POOL.tmp-<pid>``, and
renamed into place only when complete, so an interrupted build is never opened
(the next build removes the folder once its process is gone; a live concurrent
build's folder is left alone). A pool being replaced is first renamed aside to
``POOL.old-<pid>``, the new one renamed in, then the old one deleted: a build
killed between the two renames leaves no ``POOL``, and :func:`recover_pool`
(called by :meth:`Pool.open` and :func:`build_pool`) renames the complete old
pool back. Both folders bear :data:`BUILD_MARKER` while they exist: a folder
without it is never removed or renamed, whatever its name. Only a complete pool
(a folder with a pool ``manifest.json``) or an empty folder is ever replaced.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa

from dataoptim import catalog, records
from dataoptim import words
from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError, UnknownIdError

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.select.selection import Selection

#: Layout version written in the manifest; :meth:`Pool.open` refuses other versions.
FORMAT_VERSION = 2
MANIFEST = "manifest.json"
#: Rows per record batch in a source file: the unit read when a selection is materialised.
BATCH_ROWS = 8192
#: Columns of a LLaVA training record, as stored.
LLAVA_COLUMNS = list(records.LLAVA_FIELDS)


@dataclass(frozen=True)
class SourcePart:
    """One source inside a pool.

    Attributes:
        name: config name (``gqa``).
        task: its ``task`` column value.
        start: global row of its first record.
        rows: number of records.
        batch_starts: local row at which each record batch starts (ascending, first 0).
        nbytes: bytes of its Arrow file (for memory estimates).
        origin: where its records came from: ``converted`` or ``original``.
    """

    name: str
    task: str
    start: int
    rows: int
    batch_starts: tuple[int, ...]
    nbytes: int
    origin: str

    @property
    def stop(self) -> int:
        """Global row one past its last record."""
        return self.start + self.rows

    @property
    def box_frame(self) -> str | None:
        """Frame of the boxes in its records: ``"original"``, ``"padded"`` (LLaVA-v1.5) or None (no boxes); see :attr:`dataoptim.catalog.Source.box_frame`."""
        return catalog.box_frame_of(self.name)


def source_path(pool_dir: Path, name: str) -> Path:
    """Path of the Arrow file of source ``name`` in a pool folder."""
    return Path(pool_dir) / "sources" / f"{name}.arrow"


def open_source(path: str | os.PathLike, options: "pa.ipc.IpcReadOptions | None" = None, source=None) -> "pa.ipc.RecordBatchFileReader":
    """Open a pool's Arrow file (memory-mapped, or from ``source``, a buffer of it), with errors naming the file.

    Raises:
        InputError: the file is missing, truncated or not an Arrow IPC file (rebuild the pool).
    """
    try:
        if source is None:
            source = pa.memory_map(str(path), "r")
        return pa.ipc.open_file(source, options=options)
    except (pa.ArrowException, OSError) as exc:
        raise unreadable_source(path, exc) from None


def unreadable_source(path: str | os.PathLike, exc: BaseException) -> InputError:
    """The error for a pool source file that Arrow cannot read (truncated, overwritten, deleted)."""
    reason = " ".join(str(exc).split()) or type(exc).__name__
    return InputError(f"pool source file cannot be read ({reason}): the pool is damaged; rebuild it with `dataoptim pool build`", file=path)


# ----------------------------------------------------------------------------------------
# ids as fixed-width bytes
# ----------------------------------------------------------------------------------------
def fixed_width(ids: pa.Array | pa.ChunkedArray, width: int) -> np.ndarray:
    """Turn ASCII ids into a numpy ``S{width}`` array (zero-padded), nearly without Python work.

    Args:
        ids: a string array without nulls whose values all have at most ``width`` bytes.
        width: bytes per id (the pool's longest id).

    Returns:
        An ``S{width}`` array of ``len(ids)`` elements, comparable with the pool index.
    """
    import pyarrow.compute as pc

    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if len(ids) == 0:
        return np.zeros(0, dtype=f"S{width}")
    ids = ids.cast(pa.string())
    padded = pc.utf8_rpad(ids, width=width, padding="\x00")
    _, offsets, values = padded.buffers()
    first = int(np.frombuffer(offsets, dtype=np.int32, count=1, offset=padded.offset * 4)[0])
    return np.frombuffer(values, dtype=f"S{width}", count=len(padded), offset=first)


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def id_hash(keys: np.ndarray) -> np.ndarray:
    """A stable 64-bit hash of each fixed-width id (vectorised; same on every machine).

    Args:
        keys: ``S{w}`` array with ``w`` a multiple of 8 (:func:`fixed_width`).

    Returns:
        uint64 array, one hash per key: the key's little-endian 64-bit words
        folded with a multiply–xorshift mix (the SplitMix64 finaliser).
    """
    n = len(keys)
    width = keys.dtype.itemsize
    if width % 8:
        raise ValueError(f"key width {width} is not a multiple of 8")
    words = np.ascontiguousarray(keys).view("<u8").reshape(n, width // 8)
    h = np.full(n, _MIX[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width // 8):
            h ^= words[:, j]
            h *= _MIX[1]
            h ^= h >> np.uint64(31)
        h *= _MIX[2]
        h ^= h >> np.uint64(29)
    return h


def _map_npy(path: Path) -> tuple[np.ndarray, "mmap.mmap"]:
    """Memory-map a ``.npy`` file read-only: the array and its map (whose pages :func:`_release_maps` drops)."""
    import mmap

    with open(path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version[0] == 1 else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(handle)
        offset = handle.tell()
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    count = int(np.prod(shape)) if shape else 1
    array = np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape, order="F" if fortran else "C")
    return array, mapping


def _release_maps(maps) -> None:
    """Hand back the resident pages of read-only maps (they stay in the page cache)."""
    from dataoptim.select.materialize import _release

    for mapping in maps:
        _release(mapping)


INDEX_FILES = ("hashes", "ids", "rows")


def _id_array(ids: Any, *, strip: bool = False) -> pa.Array | pa.ChunkedArray:
    """Ids as a pyarrow string array: a string array as is, or an iterable of ``str`` (``strip``: surrounding spaces dropped).

    Raises:
        ConfigError: ``ids`` is not an iterable of strings (a single string, a number, None, a non-string element,
            naming its position).
    """
    if isinstance(ids, (pa.Array, pa.ChunkedArray)):
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
            raise ConfigError(f"ids must be strings, got an Arrow array of {ids.type}", field="ids")
        return ids
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable) or isinstance(ids, Mapping):
        raise ConfigError(f"ids must be an id file path or an iterable of id strings, got {type(ids).__name__}", field="ids")
    values = list(ids)
    for position, value in enumerate(values):
        if not isinstance(value, str):
            raise ConfigError(f"ids must be strings: position {position} is {value!r} ({type(value).__name__})", field="ids")
    return pa.array([v.strip() for v in values] if strip else values, type=pa.string())


def check_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """Check the keys and types :class:`Pool` reads from a manifest (a damaged or hand-edited one is refused, not crashed on).

    Raises:
        InputError: naming the manifest and the key at fault.
    """

    def bad(key: str, what: str) -> InputError:
        return InputError(f"pool manifest is damaged: {what}; remove the folder and build the pool again with `dataoptim pool build`", file=path, field=key)

    def integer(value: Any, least: int = 0) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= least

    width = manifest.get("id_width")
    if not integer(width, 8) or width % 8:
        raise bad("id_width", f"must be a positive multiple of 8, found {width!r}")
    sources = manifest.get("sources")
    if not isinstance(sources, list):
        raise bad("sources", f"must be a list, found {type(sources).__name__}")
    start = 0
    seen = set()
    for i, entry in enumerate(sources):
        key = f"sources[{i}]"
        if not isinstance(entry, dict):
            raise bad(key, f"must be an object, found {type(entry).__name__}")
        name = entry.get("name")
        if name not in catalog.SOURCES or name in seen:
            raise bad(f"{key}.name", f"must be a source name given once, found {name!r}")
        seen.add(name)
        if not isinstance(entry.get("task"), str):
            raise bad(f"{key}.task", f"must be a string, found {entry.get('task')!r}")
        for field in ("start", "rows", "nbytes"):
            if not integer(entry.get(field)):
                raise bad(f"{key}.{field}", f"must be a non-negative integer, found {entry.get(field)!r}")
        if entry["start"] != start:
            raise bad(f"{key}.start", f"must be {start} (the rows of the sources before it), found {entry['start']}")
        batches = entry.get("batch_starts")
        if (
            not isinstance(batches, list)
            or not all(integer(b) for b in batches)
            or (entry["rows"] and (not batches or batches[0] != 0 or batches[-1] >= entry["rows"] or any(b >= c for b, c in zip(batches, batches[1:]))))
        ):
            raise bad(f"{key}.batch_starts", "must be ascending row numbers starting at 0 inside the source")
        start += entry["rows"]
    hidden = manifest.get("hidden_rows", [])
    if not isinstance(hidden, list) or not all(integer(r) and r < start for r in hidden):
        raise bad("hidden_rows", "must be a list of rows of the pool")


# ----------------------------------------------------------------------------------------
# the Pool
# ----------------------------------------------------------------------------------------
class Pool:
    """An opened pool: memory-mapped source tables and the id index.

    Open with :meth:`Pool.open`; build with :func:`build_pool`. ``len(pool)`` is
    the number of records (global rows). Selections (:class:`~dataoptim.select.Selection`)
    hold global rows of one pool.

    Example::

        pool = Pool.open("pool")
        sel = pool.by_ids("example-standard.txt")
        vqa = pool.filter(task="vqa")
        mix = pool.mix({"vqav2": 0.5, "llava": 0.5}, budget=10_000, seed=0)
    """

    def __init__(self, path: Path, manifest: Mapping[str, Any]):
        self.path = Path(path)
        self.manifest = dict(manifest)
        self.id_width = int(manifest["id_width"])
        parts = []
        for entry in manifest["sources"]:
            parts.append(
                SourcePart(entry["name"], entry["task"], int(entry["start"]), int(entry["rows"]), tuple(entry["batch_starts"]), int(entry["nbytes"]), entry.get("origin", "converted"))
            )
        self.parts: tuple[SourcePart, ...] = tuple(parts)
        self._by_name = {p.name: p for p in self.parts}
        self.num_rows = sum(p.rows for p in self.parts)
        #: global row of the start of each source, plus the total (length ``len(parts)+1``).
        self.source_starts = np.array([p.start for p in self.parts] + [self.num_rows], dtype=np.int64)
        starts, owner, local = [], [], []
        for k, p in enumerate(self.parts):
            for b, s in enumerate(p.batch_starts):
                starts.append(p.start + s)
                owner.append(k)
                local.append(b)
        #: global row where each record batch starts, the source index and batch index of each.
        self.batch_starts = np.array(starts, dtype=np.int64)
        self.batch_source = np.array(owner, dtype=np.int64)
        self.batch_local = np.array(local, dtype=np.int64)
        self._hidden = np.array(manifest.get("hidden_rows", []), dtype=np.int64)
        self._tables: dict[str, pa.Table] = {}

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike) -> "Pool":
        """Open a pool folder written by :func:`build_pool` (cheap: reads only the manifest).

        A pool that a replacing build moved aside and was killed before moving the
        new one in is put back first (:func:`recover_pool`).

        Raises:
            MissingFileError: no such folder, or no ``manifest.json`` (an interrupted
                or foreign folder: run ``dataoptim pool build`` again).
            InputError: the manifest is unreadable or of another format version.
        """
        from dataoptim.select.checks import as_path

        path = as_path(path, "pool folder")
        if not path.exists():
            recover_pool(path)  # a replacing build killed between its two renames left the old pool aside
        if not path.is_dir():
            raise MissingFileError("pool folder not found (build one with `dataoptim pool build`)", file=path)
        manifest_path = path / MANIFEST
        if not manifest_path.is_file():
            raise MissingFileError("not a complete pool (no manifest.json: this is not a pool, or a damaged one); remove it and run `dataoptim pool build` again", file=path)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"pool manifest is unreadable ({exc}); remove the folder and build the pool again with `dataoptim pool build`", file=manifest_path) from None
        if not isinstance(manifest, dict):
            raise InputError(f"pool manifest is not a JSON object (found {type(manifest).__name__}): the pool is damaged; remove the folder and build it again with `dataoptim pool build`", file=manifest_path)
        if manifest.get("format") != FORMAT_VERSION:
            raise InputError(f"pool format {manifest.get('format')!r} is not {FORMAT_VERSION}; rebuild the pool", file=manifest_path)
        check_manifest(manifest, manifest_path)
        pool = cls(path, manifest)
        pool.check_files()
        return pool

    def check_files(self) -> None:
        """Check that every source file has the size the manifest recorded (one ``stat`` per source),
        and that the three index files are there.

        A file cut short (a copy or a disk that ran out) or replaced since the
        build would otherwise fail deep inside Arrow, or be read wrongly.

        Raises:
            InputError: a source file is missing or of another size, naming the file.
            MissingFileError: an index file is missing, naming it.
        """
        for name in INDEX_FILES:
            path = self.path / "index" / f"{name}.npy"
            if not path.is_file():
                raise MissingFileError("pool index file is missing: the pool is damaged; rebuild it with `dataoptim pool build`", file=path)
        for part in self.parts:
            path = source_path(self.path, part.name)
            try:
                size = path.stat().st_size
            except OSError:
                raise InputError("pool source file is missing: the pool is damaged; rebuild it with `dataoptim pool build`", file=path) from None
            if size != part.nbytes:
                raise InputError(
                    f"pool source file holds {size:,} bytes but the manifest says {part.nbytes:,} (truncated or changed since the build); "
                    "rebuild the pool with `dataoptim pool build`",
                    file=path,
                )

    def __repr__(self) -> str:
        return f"Pool({str(self.path)!r}, {self.num_rows:,} records, sources: {', '.join(self.sources)})"

    def __len__(self) -> int:
        return self.num_rows

    @property
    def sources(self) -> list[str]:
        """Names of the sources in the pool, in global-row order."""
        return [p.name for p in self.parts]

    @property
    def tasks(self) -> list[str]:
        """Distinct tasks of the pool's sources."""
        return sorted({p.task for p in self.parts})

    def part(self, name: str) -> SourcePart:
        """The :class:`SourcePart` of source ``name``.

        Raises:
            ConfigError: the pool has no such source.
        """
        try:
            return self._by_name[name]
        except KeyError:
            raise ConfigError(f"source {name!r} is not in the pool (it has: {', '.join(self.sources)})") from None

    # -- tables -------------------------------------------------------------------------------
    def source_table(self, name: str) -> pa.Table:
        """The whole table of one source, memory-mapped (no copy; pages are read on use)."""
        if name not in self._tables:
            self.part(name)
            path = source_path(self.path, name)
            reader = open_source(path)
            try:
                self._tables[name] = reader.read_all()
            except (pa.ArrowException, OSError) as exc:
                raise unreadable_source(path, exc) from None
        return self._tables[name]

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All sources as one memory-mapped table (chunks of each source, global-row order).

        Args:
            columns: columns to keep (default all of :data:`dataoptim.records.COLUMNS`).
        """
        tables = [self.source_table(p.name) for p in self.parts]
        if columns is not None:
            tables = [t.select(list(columns)) for t in tables]
        if not tables:
            return records.arrow_schema().empty_table()
        return pa.concat_tables(tables)

    def source_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Index into :attr:`parts` of the source holding each global row (int64 array, same shape)."""
        return np.searchsorted(self.source_starts, rows, side="right") - 1

    def rows_per_source(self, rows: np.ndarray) -> np.ndarray:
        """How many of ``rows`` each source holds (int64 array, one count per part), in bounded memory."""
        counts = np.zeros(len(self.parts), dtype=np.int64)
        rows = np.asarray(rows)
        step = 1 << 22
        for lo in range(0, len(rows), step):
            counts += np.bincount(self.source_of_rows(rows[lo : lo + step]), minlength=len(self.parts))[: len(self.parts)]
        return counts

    # -- the index ------------------------------------------------------------------------------
    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
        """The three index arrays, memory-mapped afresh, and their maps (for :func:`_release_maps`)."""
        folder = self.path / "index"
        arrays, maps = [], []
        expected = {"hashes": np.dtype("<u8"), "ids": np.dtype(f"S{self.id_width}"), "rows": np.dtype("<i8")}
        entries = self.num_rows - len(self._hidden)
        for name in INDEX_FILES:
            path = folder / f"{name}.npy"
            try:
                array, mapping = _map_npy(path)
            except (OSError, ValueError, SyntaxError, TypeError, OverflowError) as exc:  # missing, truncated or not a .npy file
                _release_maps(maps)
                reason = " ".join(str(exc).split()) or type(exc).__name__
                if isinstance(exc, FileNotFoundError):
                    raise MissingFileError("pool index file is missing: the pool is damaged; rebuild it with `dataoptim pool build`", file=path) from None
                raise InputError(f"pool index file cannot be read ({reason[:200]}): the pool is damaged; rebuild it with `dataoptim pool build`", file=path) from None
            maps.append(mapping)
            if array.dtype != expected[name] or array.shape != (entries,):
                _release_maps(maps)
                raise InputError(
                    f"pool index file holds {array.dtype} of shape {array.shape}, not {expected[name]} of shape ({entries},) as the manifest says: "
                    "the pool is damaged; rebuild it with `dataoptim pool build`",
                    file=path,
                )
            arrays.append(array)
        return arrays[0], arrays[1], arrays[2], maps

    def lookup(self, ids: pa.Array | pa.ChunkedArray | Sequence[str]) -> np.ndarray:
        """Global row of each id, or -1 where the id is not in the pool.

        Vectorised, as DataComp applies id lists: each id is hashed to 64 bits
        (:func:`id_hash`), the hashes are sorted and binary-searched in the saved
        sorted hash array (``numpy.searchsorted``), and every hit is confirmed
        by comparing the id itself, so a hash collision can never select the
        wrong record. 1.6M ids take about a second; the index is mapped only
        while this runs.

        Args:
            ids: ids as a pyarrow string array or a sequence of ``str``.

        Returns:
            int64 array of ``len(ids)`` rows, in the order of ``ids``.
        """
        import pyarrow.compute as pc

        ids = _id_array(ids)
        n = len(ids)
        out = np.full(n, -1, dtype=np.int64)
        if n == 0 or self.num_rows == 0:
            return out
        lengths = pc.binary_length(ids).to_numpy(zero_copy_only=False)
        fits = (lengths <= self.id_width) & (lengths > 0)
        del lengths
        if not pc.all(pc.string_is_ascii(ids)).as_py():
            fits &= pc.string_is_ascii(ids).to_numpy(zero_copy_only=False)
        candidates = np.flatnonzero(fits)
        del fits
        if len(candidates) == 0:
            return out
        subset = ids if len(candidates) == n else pc.take(ids, pa.array(candidates))
        keys = fixed_width(subset, self.id_width)
        del subset
        query = id_hash(keys)
        hashes, index_ids, index_rows, maps = self._index()
        size = len(hashes)
        order = np.argsort(query)  # ids in hash order: each slice below reads one stretch of the index
        step = 1 << 18
        leftovers = []
        for lo in range(0, len(order), step):
            idx = order[lo : lo + step]
            q = query[idx]
            at = np.searchsorted(hashes, q)
            inside = at < size
            idx, q, at = idx[inside], q[inside], at[inside]
            same = np.asarray(hashes[at]) == q
            idx, q, at = idx[same], q[same], at[same]
            match = np.asarray(index_ids[at]) == keys[idx]
            out[candidates[idx[match]]] = np.asarray(index_rows[at[match]])
            if not match.all():  # another id with the same hash sits first: look further
                leftovers.append((idx[~match], at[~match]))
            _release_maps(maps)
        for idx, at in leftovers:  # hash collisions: rare, a few rounds at most
            while len(idx):
                at = at + 1
                keep = at < size
                idx, at = idx[keep], at[keep]
                keep = np.asarray(hashes[at]) == query[idx]
                idx, at = idx[keep], at[keep]
                match = np.asarray(index_ids[at]) == keys[idx]
                out[candidates[idx[match]]] = np.asarray(index_rows[at[match]])
                idx, at = idx[~match], at[~match]
        del hashes, index_ids, index_rows
        _release_maps(maps)
        if len(out) and (out.max() >= self.num_rows or out.min() < -1):
            raise InputError(
                f"pool index file names row {int(out.max()) if out.max() >= self.num_rows else int(out.min())} of a pool of {self.num_rows:,}: "
                "the pool is damaged; rebuild it with `dataoptim pool build`",
                file=self.path / "index" / "rows.npy",
            )
        return out

    def get(self, record_id: str) -> dict[str, Any]:
        """One record by id, as a dict of all columns.

        Raises:
            UnknownIdError: the id is not in the pool.
            ConfigError: ``record_id`` is not a string.
        """
        if not isinstance(record_id, str):
            raise ConfigError(f"an id must be a string, got {type(record_id).__name__} {record_id!r}", field="record_id")
        row = int(self.lookup([record_id])[0])
        if row < 0:
            raise UnknownIdError("not in the pool", id=record_id)
        return self.rows_table(np.array([row])).to_pylist()[0]

    def rows_table(self, rows: np.ndarray, columns: Sequence[str] | None = None) -> pa.Table:
        """The records at global ``rows`` (in that order, repeats allowed) as one in-memory table.

        Memory: the selected records only (reads batch by batch). For millions of
        long records prefer :meth:`Selection.to_llava_json`, which streams.
        """
        from dataoptim.select.materialize import take_rows

        return take_rows(self, np.asarray(rows, dtype=np.int64), columns=columns)

    # -- selections --------------------------------------------------------------------------------
    def all(self) -> "Selection":
        """Every record of the pool (identical duplicate ids counted once), in global-row order."""
        from dataoptim.select.selection import Selection

        rows = np.arange(self.num_rows, dtype=np.int64)
        if len(self._hidden):
            rows = np.setdiff1d(rows, self._hidden, assume_unique=True)
        return Selection(self, rows, name="pool")

    def by_ids(self, ids: str | os.PathLike | Iterable[str], *, skip_unknown: bool = False) -> "Selection":
        """Select by an id list (a standard submission, DESIGN §7).

        Args:
            ids: a path to a text file with one id per line (blank lines and
                surrounding spaces ignored), or an iterable of id strings.
            skip_unknown: drop ids not in the pool instead of raising.

        Returns:
            A :class:`Selection` in the order of ``ids``; a repeated id is a repeated
            sample (as in DataComp). ``selection.report`` says how many ids were
            repeated and how many unknown ids were skipped.

        Raises:
            UnknownIdError: some ids are not in the pool (how many, and the first few).
            InputError: the file is unreadable, or holds malformed ids (with line numbers).
            MissingFileError: the file does not exist.
        """
        return self._by_ids(ids, skip_unknown=skip_unknown, unknown_hint="pass skip_unknown=True to drop them")

    def _by_ids(self, ids, *, skip_unknown: bool, unknown_hint: str) -> "Selection":
        """:meth:`by_ids`, with the advice an unknown-id error gives (each command names its own option)."""
        from dataoptim.select.ids import read_id_file, check_ids
        from dataoptim.select.selection import Selection

        source_file = None
        if isinstance(ids, (str, os.PathLike)):
            source_file = str(ids)
            id_array = read_id_file(ids)
        else:
            id_array = _id_array(ids, strip=True)
            check_ids(id_array)
        rows = self.lookup(id_array)
        unknown = np.flatnonzero(rows < 0)
        report: dict[str, Any] = {"ids": len(rows), "unknown": int(len(unknown))}
        if len(unknown):
            first = [id_array[int(i)].as_py() for i in unknown[:5]]
            if not skip_unknown:
                raise UnknownIdError(
                    f"{len(unknown):,} of {len(rows):,} ids {'is' if len(unknown) == 1 else 'are'} not in the pool, e.g. {', '.join(repr(f) for f in first)}"
                    f" ({unknown_hint})",
                    file=source_file,
                )
            report["unknown_examples"] = first
            rows = rows[rows >= 0]
        uniq, counts = np.unique(rows, return_counts=True)
        repeated = int((counts - 1).sum())
        report["repeats"] = repeated
        if repeated:
            report["repeated_examples"] = self.rows_table(uniq[counts > 1][:5], columns=["id"]).column("id").to_pylist()
        return Selection(self, rows, name=Path(source_file).name if source_file else "ids", report=report, file=source_file)

    def filter(self, **kwargs) -> "Selection":
        """Records of the pool that pass filters, in global-row order: see :meth:`Selection.filter`."""
        return self.all().filter(**kwargs)

    def mix(self, ratios: Mapping[str, float], budget: int, **kwargs) -> "Selection":
        """A seeded mixture from the whole pool: see :meth:`Selection.mix`."""
        return self.all().mix(ratios, budget, **kwargs)


# ----------------------------------------------------------------------------------------
# building a pool
# ----------------------------------------------------------------------------------------
@dataclass
class BuildReport:
    """What :func:`build_pool` did.

    Attributes:
        sources: name -> number of records written.
        skipped: name -> why it was not built (no files, builder not written).
        duplicates: identical repeated ids (kept once): ``[{"id", "rows"}]``, first 100.
        duplicate_count: number of identical repeats in all.
        seconds: wall time of the build.
    """

    sources: dict[str, int]
    skipped: dict[str, str]
    duplicates: list[dict[str, Any]]
    duplicate_count: int
    seconds: float


def _generic_converted_records(name: str, path: Path) -> Iterator[dict[str, Any]]:
    """Records of DataOptim's converted ``<name>.json``, for a source whose builder is not written yet.

    The same rules as :meth:`dataoptim.builder.SourceBuilder.converted_records`:
    every record validated (DESIGN §2), ids prefixed ``{name}_``, the
    ``source``/``task`` columns filled from the catalog.
    """
    from dataoptim.io import iter_json_items

    source = catalog.SOURCES[name]
    prefix = f"{name}_"
    for index, item in enumerate(iter_json_items(path, what=f"DataOptim {name}.json")):
        records.validate_record(item, file=str(path), index=index, require_image=catalog.requires_image(name))
        if not item["id"].startswith(prefix) or catalog.source_of(item["id"]) is not source:  # llava_v1.5_0 is no llava id
            raise RecordError(f"id does not belong to source {name!r}", file=str(path), record=index, id=item["id"], field="id")
        yield records.make_record(item["id"], item.get("image"), item["conversations"], source=name, task=source.task)


def _builder_class(name: str):
    """The builder class of ``name`` if its module is written, else None (imports ``datasets``)."""
    from dataoptim.builder import builder_classes

    for cls in builder_classes():
        if getattr(cls, "SOURCE", None) == name:
            return cls
    return None


def _new_builder(cls, name: str, data_dir: Path, scratch: Path, **options):
    return cls(config_name=name, data_dir=str(data_dir), cache_dir=str(scratch / "hf-cache"), dataset_name="dataoptim", **options)


def _converted_tables(name: str, path: Path, scratch: Path) -> Iterator[pa.Table]:
    """DataOptim's converted ``<name>.json`` as checked record tables (:func:`dataoptim.builder.checked_tables`).

    The table path is :func:`dataoptim.builder.converted_tables`, the one behind
    :meth:`~dataoptim.builder.SourceBuilder.converted_tables` (a source's default config keeps
    every record of its converted file, ``tests/test_pool_build_tables.py``); the row-by-row
    reference that names a fault is the builder's
    :meth:`~dataoptim.builder.SourceBuilder.converted_records` (the builder is made only then),
    or :func:`_generic_converted_records` for a source whose builder is not written.
    """
    from dataoptim.builder import checked_tables, converted_tables

    cls = _builder_class(name)
    task = catalog.SOURCES[name].task
    if cls is None:
        rows = lambda: _generic_converted_records(name, path)  # noqa: E731
    else:
        rows = lambda: _new_builder(cls, name, path.parent, scratch).converted_records(path)  # noqa: E731
    return checked_tables(lambda: converted_tables(path, source=name, task=task), rows, str(path), require_image=catalog.requires_image(name))


def _surely_no_original_files(cls, names: Iterable[str]) -> bool:
    """Whether a builder would certainly find none of its original files among ``names`` (then it need not be made).

    Only said of a builder that resolves its files the common way (neither ``__init__`` nor
    ``_split_generators`` overridden): it reads only the names in ``ORIGINAL_FILES``.
    """
    from dataoptim.builder import SourceBuilder

    if cls.__init__ is not SourceBuilder.__init__ or cls._split_generators is not SourceBuilder._split_generators:
        return False
    wanted = {n for roles in cls.ORIGINAL_FILES.values() for options in roles.values() for n in options}
    return not wanted & set(names)


def _original_tables(name: str, data_dir: Path, scratch: Path, roles: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """The train split of ``name`` built from original files by its builder's table path (no ``datasets`` cache in between).

    Args:
        roles: build only the files of these roles of the split (a work unit,
            :attr:`dataoptim.builder.SourceBuilder.UNIT_ROLES`); None: the whole split.

    Raises:
        MissingFileError: no original files of the source, or none of its train split.
    """
    cls = _builder_class(name)
    builder = _new_builder(cls, name, data_dir, scratch, layout="original")
    train = [g for g in builder._split_generators(None) if g.name == "train"]
    if not train:
        raise MissingFileError(f"source {name!r}: the original files give no train split", file=data_dir)
    kwargs = dict(train[0].gen_kwargs)
    if roles is not None:
        kwargs["files"] = {role: path for role, path in kwargs["files"].items() if role in roles}
    for _, table in builder._generate_tables(**kwargs):
        yield table


def _record_batches(tables: Iterable[pa.Table]) -> Iterator[pa.RecordBatch]:
    """Record tables re-cut into batches of at most :data:`BATCH_ROWS` rows, in the pool's schema."""
    schema = records.arrow_schema()
    for table in tables:
        if table.schema != schema:
            table = table.select(list(records.COLUMNS)).cast(schema)
        yield from table.to_batches(max_chunksize=BATCH_ROWS)


def _unit_path(tmp: Path, name: str, unit: int) -> Path:
    return tmp / "sources" / f"{name}.unit-{unit}.arrow"


def _build_source(name: str, converted: Path | None, data_dir: Path, tmp: Path, requested: bool, progress: bool,
                  unit: tuple[int, Sequence[str]] | None = None) -> dict[str, Any]:
    """Write source ``name`` into ``tmp/sources/<name>.arrow`` from its converted file, else its original files.

    Args:
        unit: ``(k, roles)``: build only the original files of these roles, into
            ``tmp/sources/<name>.unit-<k>.arrow`` (:func:`_merge_units` joins the units).

    Returns:
        ``{"rows", "batch_starts", "nbytes", "origin"}``; ``{"skip": why}`` (nothing to build it from);
        ``{"rows": 0, ...}`` when its files hold no records (the file is removed).

    Raises:
        what the source's files or builder raise; MissingFileError when ``requested`` and nothing can be built.
    """
    path = source_path(tmp, name) if unit is None else _unit_path(tmp, name, unit[0])
    bar = _progress(None, name) if progress else None
    try:
        if converted is not None:
            origin = "converted"
            tables = _converted_tables(name, converted, tmp)
        else:
            origin = "original"
            cls = _builder_class(name)
            if cls is None:
                if requested:
                    raise MissingFileError(f"source {name!r}: no {name}.json and its builder is not written yet, so original files cannot be read", file=data_dir)
                return {"skip": f"no {name}.json (builder for original files not written yet)"}
            try:
                if not requested and _surely_no_original_files(cls, (p.name for p in annotation_files_of(data_dir))):
                    raise MissingFileError(f"source {name!r}: no original files", file=data_dir)
                tables = _original_tables(name, data_dir, tmp, None if unit is None else unit[1])
                first = next(tables, None)
            except MissingFileError:
                if requested:
                    raise
                return {"skip": f"no {name}.json and no original files"}
            tables = itertools.chain([first] if first is not None else [], tables)
        rows, batch_starts = _write_source(_record_batches(tables), path, bar)
    finally:
        if bar is not None:
            bar.close()
    if rows == 0:
        path.unlink()
        return {"rows": 0, "origin": origin}
    return {"rows": rows, "batch_starts": batch_starts, "nbytes": path.stat().st_size, "origin": origin}


def annotation_files_of(data_dir: Path) -> list[Path]:
    """:func:`dataoptim.builder.annotation_files` (imported late)."""
    from dataoptim.builder import annotation_files

    return annotation_files(data_dir)


def _merge_units(tmp: Path, name: str, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Join the unit files of source ``name`` (in unit order) into ``tmp/sources/<name>.arrow``: the same batches, so
    the same bytes, as building the source in one go; the unit files are removed.

    ``results`` are the units' :func:`_build_source` results; a ``skip`` of any unit skips the source.
    """
    skips = [r for r in results if "skip" in r]
    if skips:
        for k in range(len(results)):
            _unit_path(tmp, name, k).unlink(missing_ok=True)
        return skips[0]
    rows = 0
    starts: list[int] = []
    path = source_path(tmp, name)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, records.arrow_schema()) as writer:
        for k, result in enumerate(results):
            if not result["rows"]:
                continue
            unit = _unit_path(tmp, name, k)
            with pa.OSFile(str(unit)) as source:  # read a batch at a time (a mapping would count the whole file in RSS)
                reader = pa.ipc.open_file(source)
                for i in range(reader.num_record_batches):
                    starts.append(rows)
                    batch = reader.get_batch(i)
                    writer.write_batch(batch)
                    rows += batch.num_rows
            unit.unlink()
    if rows == 0:
        path.unlink()
        return {"rows": 0, "origin": results[0]["origin"]}
    return {"rows": rows, "batch_starts": starts, "nbytes": path.stat().st_size, "origin": results[0]["origin"]}


def _build_source_worker(args: tuple) -> dict[str, Any]:
    """:func:`_build_source` in a worker process; a typed error comes back as data (its class and fields)."""
    from dataoptim.errors import DataOptimError

    try:
        return _build_source(*args)
    except DataOptimError as exc:
        return {"error": (type(exc).__module__, type(exc).__qualname__, exc.message, exc.file, exc.record, exc.id, exc.field)}


def _raise_worker_error(info: tuple) -> None:
    import importlib

    module, qualname, message, file, record, id_, field = info
    cls = getattr(importlib.import_module(module), qualname)
    exc = cls.__new__(cls)
    exc.message, exc.file, exc.record, exc.id, exc.field = message, file, record, id_, field
    Exception.__init__(exc, str(exc))
    raise exc


def _work_units(name: str, converted: Path | None, files: Mapping[str, Path]) -> list[tuple[float, tuple[int, tuple[str, ...]] | None]]:
    """How a pool build with workers cuts source ``name``: ``[(weight, unit)]``, ``unit`` None for the whole source.

    A source built from original files whose builder names :attr:`~dataoptim.builder.SourceBuilder.UNIT_ROLES`
    (SVIT's four part files), with every one of those files present, is cut into one unit per role,
    weighted by the catalog's record count shared out by file size; any other source is one unit.
    """
    whole = [(float(catalog.SOURCES[name].qas), None)]
    if converted is not None:
        return whole
    cls = _builder_class(name)
    roles = getattr(cls, "UNIT_ROLES", ()) if cls is not None else ()
    train = getattr(cls, "ORIGINAL_FILES", {}).get("train", {}) if roles else {}
    chosen = [next((files[n] for n in train.get(role, ()) if n in files), None) for role in roles]
    if len(roles) < 2 or any(p is None for p in chosen) or set(roles) != set(train):
        return whole
    sizes = [max(p.stat().st_size, 1) for p in chosen]
    return [(catalog.SOURCES[name].qas * size / sum(sizes), (k, (role,))) for k, (role, size) in enumerate(zip(roles, sizes))]


def _build_sources(jobs: Sequence[tuple[str, Path | None]], data_dir: Path, tmp: Path, requested: bool, progress: bool, num_proc: int,
                   files: Mapping[str, Path] | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Build every ``(name, converted file)`` job; yield ``(name, result)`` in the jobs' order.

    With ``num_proc > 1`` the work is done in that many worker processes (spawned), in units
    (:func:`_work_units`: a source, or one part file of a source such as SVIT's), the largest
    first so the longest build starts at once; the units of a source are joined in order
    (:func:`_merge_units`: the same file as a build in one go). Results still come back in the
    jobs' order, and the first failure in that order is raised.
    """
    if num_proc <= 1 or len(jobs) <= 1 and not any(unit for name, converted in jobs for _, unit in _work_units(name, converted, files or {})):
        for name, converted in jobs:
            yield name, _build_source(name, converted, data_dir, tmp, requested, progress)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    units = {name: _work_units(name, converted, files or {}) for name, converted in jobs}
    largest_first = sorted(((weight, name, converted, unit) for name, converted in jobs for weight, unit in units[name]), key=lambda u: -u[0])
    with ProcessPoolExecutor(max_workers=min(num_proc, len(largest_first)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {(name, unit): pool.submit(_build_source_worker, (name, converted, data_dir, tmp, requested, False, unit))
                   for _, name, converted, unit in largest_first}
        try:
            for name, _ in jobs:
                results = []
                for _, unit in units[name]:  # in unit order
                    result = futures[(name, unit)].result()
                    if "error" in result:
                        _raise_worker_error(result["error"])
                    results.append(result)
                yield name, results[0] if units[name][0][1] is None else _merge_units(tmp, name, results)
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise


def _write_source(batches: Iterable[pa.RecordBatch], path: Path, progress) -> tuple[int, list[int]]:
    """Write batches (re-cut to :data:`BATCH_ROWS`) into an Arrow IPC file; return rows and batch starts."""
    schema = records.arrow_schema()
    rows = 0
    starts: list[int] = []
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            starts.append(rows)
            writer.write_batch(batch)
            rows += batch.num_rows
            if progress is not None:
                progress.update(batch.num_rows)
    return rows, starts


def _progress(total: int | None, desc: str):
    import sys

    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" rec", unit_scale=True, leave=False)


#: Duplicate id pairs whose records are read together (each source file opened once per group).
DUPLICATES_READ_TOGETHER = 65_536


def _row_contents(tmp: Path, names: Sequence[str], starts: Sequence[int], rows: Sequence[int]) -> list[dict]:
    """Records at global rows of a pool being built (for duplicate comparison), in the order of ``rows``.

    Each source file that holds one of the rows is opened (memory-mapped) once, and its rows
    taken in one call.
    """
    rows = np.asarray(rows, dtype=np.int64)
    owner = np.searchsorted(np.asarray(starts, dtype=np.int64), rows, side="right") - 1
    out: list[dict] = [{} for _ in range(len(rows))]
    for k in np.unique(owner).tolist():
        at = np.flatnonzero(owner == k)
        table = pa.ipc.open_file(pa.memory_map(str(source_path(tmp, names[k])))).read_all()
        taken = table.select(["id", "image", "conversations"]).take(pa.array(rows[at] - starts[k])).to_pylist()
        for j, rec in zip(at.tolist(), taken):
            out[j] = {"image": rec["image"], "conversations": rec["conversations"], "id": rec["id"], "source": names[k], "row": int(rows[j])}
    return out


def _where_row(rec: dict, files: Mapping[str, Path | None], start: int) -> tuple[str, dict[str, Any]]:
    """Words for a pool row in messages, and its location: the record index in its converted file, if it came from one.

    A source built from a converted ``<source>.json`` has one row per record of that file,
    in file order (the pool builds whole sources, which keep every record), so the
    local row is the record index in the file.
    """
    local = rec["row"] - start
    file = files.get(rec["source"])
    if file is not None:
        return f"record {local} of {file}", {"file": str(file), "record": local}
    return f"row {local} of source {rec['source']!r} (built from its original files)", {}


def _build_index(tmp: Path, names: Sequence[str], starts: Sequence[int], files: Mapping[str, Path | None] | None = None) -> tuple[int, list[int], list[dict], int]:
    """Write ``index/hashes.npy``, ``index/ids.npy`` and ``index/rows.npy``; find duplicate ids.

    The three arrays are aligned and ordered by hash: sorted :func:`id_hash`
    values (uint64), the ids as fixed-width bytes, and their global rows.
    Ids that occur twice with identical records are kept once (the later rows
    become *hidden*); the same id with different records is an error.

    Args:
        files: source name -> the converted file it was built from (None: original files), for messages.

    Returns:
        (id width in bytes, hidden rows, duplicate examples, duplicate count).

    Raises:
        RecordError: one id with two different records, located at the later one (its file and
            record index) and naming the earlier one.
    """
    import pyarrow.compute as pc

    chunks = []
    for name in names:
        reader = pa.ipc.open_file(pa.memory_map(str(source_path(tmp, name))))
        chunks.extend(reader.read_all().column("id").chunks)
    ids = pa.chunked_array(chunks, type=pa.string()).combine_chunks() if chunks else pa.array([], pa.string())
    longest = int(pc.max(pc.binary_length(ids)).as_py() or 1) if len(ids) else 1
    width = -(-longest // 8) * 8
    keys = fixed_width(ids, width)
    del ids
    hashes = id_hash(keys)
    order = np.argsort(hashes, kind="stable")
    hashes = hashes[order]
    keys = keys[order]
    (tmp / "index").mkdir()
    hidden: list[int] = []
    examples: list[dict] = []
    count = 0
    same = np.flatnonzero(hashes[1:] == hashes[:-1]) if len(hashes) > 1 else np.zeros(0, dtype=np.int64)
    if len(same):
        keep = np.ones(len(hashes), dtype=bool)
        run_starts = same[np.concatenate([[True], np.diff(same) > 1])]
        pairs: list[tuple[int, int, int]] = []  # (position in the sorted index, first row, later row), in index order
        for start in run_starts:
            stop = start + 1
            while stop < len(hashes) and hashes[stop] == hashes[start]:
                stop += 1
            first_at: dict[bytes, int] = {}
            for i in range(int(start), int(stop)):
                key = bytes(keys[i])
                if key not in first_at:
                    first_at[key] = i
                    continue
                pairs.append((i, int(order[first_at[key]]), int(order[i])))
        for lo in range(0, len(pairs), DUPLICATES_READ_TOGETHER):
            group = pairs[lo : lo + DUPLICATES_READ_TOGETHER]
            contents = _row_contents(tmp, names, starts, [row for _, first_row, later_row in group for row in (first_row, later_row)])
            for n, (i, first_row, row) in enumerate(group):
                a, b = contents[2 * n], contents[2 * n + 1]
                if (a["image"], a["conversations"]) != (b["image"], b["conversations"]):
                    first_words, first = _where_row(a, files or {}, starts[names.index(a["source"])])
                    later_words, later = _where_row(b, files or {}, starts[names.index(b["source"])])
                    if later and first.get("file") == later["file"]:
                        message = f"duplicate id with different content: record {first['record']} of this file has it too, with other content"
                    elif later:
                        message = f"duplicate id with different content: {first_words} has it too, with other content"
                    else:
                        message = f"duplicate id with different content: {first_words} and {later_words} differ"
                    raise RecordError(message, id=a["id"], field="id", **later)
                keep[i] = False
                hidden.append(row)
                count += 1
                if len(examples) < 100:
                    examples.append({"id": a["id"], "rows": [first_row, row]})
        hashes, keys, order = hashes[keep], keys[keep], order[keep]
    np.save(tmp / "index" / "hashes.npy", hashes)
    np.save(tmp / "index" / "ids.npy", keys)
    np.save(tmp / "index" / "rows.npy", order.astype(np.int64))
    return width, sorted(hidden), examples, count


def _siblings(output: Path) -> Iterator[tuple[str, int, Path]]:
    """Folders a build of ``output`` leaves beside it: ``("tmp", pid, path)`` for ``<output>.tmp-<pid>``
    (a pool being written) and ``("old", pid, path)`` for ``<output>.old-<pid>`` (a pool moved aside while
    being replaced; also the older name ``<output>.tmp-old-<pid>``). Anything else is not listed."""
    import re

    pattern = re.compile(r"(?P<kind>tmp|old|tmp-old)-(?P<pid>\d+)")
    try:
        entries = list(os.scandir(output.parent))
    except OSError:
        return
    prefix = f"{output.name}."
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        match = pattern.fullmatch(entry.name[len(prefix):])
        if match and entry.is_dir(follow_symlinks=False):
            yield ("tmp" if match.group("kind") == "tmp" else "old"), int(match.group("pid")), Path(entry.path)


def _gone(pid: int, path: Path) -> bool:
    """Whether the build that made ``path`` is over: its process is gone (or it is this process's pid,
    reused, and the folder predates this process)."""
    from dataoptim.select.leftovers import older_than_this_process, pid_alive

    if pid == os.getpid():
        return older_than_this_process(path)
    return not pid_alive(pid)


def recover_pool(output: str | os.PathLike, *, wait: float = 10.0) -> bool:
    """Put a pool back that a replacing build moved aside and was killed before moving the new one in.

    When ``output`` is missing and a complete ``<output>.old-<pid>`` that a build moved
    aside (it has its manifest and :data:`BUILD_MARKER`) lies beside it, that folder is
    renamed back to ``output``. If its
    build is still running (it is between its two renames), this waits up to
    ``wait`` seconds for the new pool to appear instead.

    Returns:
        True if a pool was put back.
    """
    output = Path(output).expanduser()
    deadline = time.monotonic() + wait
    while not output.exists():
        asides = sorted(
            ((pid, path) for kind, pid, path in _siblings(output) if kind == "old" and _ours(path) and is_complete_pool(path)),
            key=lambda item: (item[1] / MANIFEST).stat().st_mtime, reverse=True,
        )
        done = [path for pid, path in asides if _gone(pid, path)]
        if done:
            try:
                os.rename(done[0], output)  # the newest complete one
            except OSError:  # another process put one back (or built one) first; or it cannot be renamed
                return False
            with contextlib.suppress(OSError):
                (output / BUILD_MARKER).unlink()
            return True
        if not asides or time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # a live build between its two renames: its new pool is about to appear
    return False


#: File a build puts in the folders it makes beside a pool (``<pool>.tmp-<pid>``, ``<pool>.old-<pid>``):
#: only folders bearing it are ever removed as leftovers, so a user's own ``<pool>.tmp-123`` is never touched.
BUILD_MARKER = ".dataoptim-build"


def _mark(folder: Path) -> None:
    (folder / BUILD_MARKER).write_text(f"made by dataoptim pool build, process {os.getpid()}\n", encoding="utf-8")


def _ours(folder: Path) -> bool:
    return (folder / BUILD_MARKER).is_file()


def _remove_stale_siblings(output: Path) -> None:
    """Remove what earlier builds of ``output`` left whose process is gone (a live build's folders stay).

    Only folders that a build made (they bear :data:`BUILD_MARKER`) are removed; any
    other folder of a matching name is left alone."""
    for kind, pid, path in _siblings(output):
        if _ours(path) and _gone(pid, path):
            shutil.rmtree(path, ignore_errors=True)


def is_complete_pool(path: Path) -> bool:
    """Whether ``path`` is a folder holding a pool of ours: a ``manifest.json`` that is a JSON object with
    an integer ``format`` and a list of ``sources`` (a pool of an older format version counts; a damaged one does not)."""
    manifest = Path(path) / MANIFEST
    try:
        if not manifest.is_file() or manifest.stat().st_size > 256 << 20:
            return False
        value = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and isinstance(value.get("format"), int) and not isinstance(value.get("format"), bool) and isinstance(value.get("sources"), list)


def _is_empty_folder(path: Path) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:
        return False


def build_pool(
    data_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    sources: Sequence[str] | None = None,
    overwrite: bool = True,
    progress: bool = True,
    num_proc: int = 1,
) -> BuildReport:
    """Build a pool folder from DataOptim's converted ``<source>.json`` files or original files.

    For each source (catalog order; ``sources`` to restrict): if ``<source>.json``
    is in ``data_dir`` (or a direct sub-folder) its records are decoded as record
    tables (``msgspec``), checked over whole columns (DESIGN §2) and written as
    Arrow record batches — through the source's builder
    (:meth:`~dataoptim.builder.SourceBuilder.converted_tables`, whose row-by-row
    reference names any fault) when it is written, else with the same rules here.
    Otherwise, if the source's builder exists and its original files are there,
    its train split is built by the builder's table path and written directly.
    Then the id index is built and duplicate ids checked across the pool.

    Args:
        data_dir: folder of annotation files (converted and/or original), or DataOptim's
            ``data.zip`` (its ``<source>.json`` members; :mod:`dataoptim.select.datazip`).
        output: the pool folder to write. Built in ``<output>.tmp-<pid>`` and renamed
            into place when complete; an existing pool there (a folder with a pool
            ``manifest.json``) is replaced (moved aside to ``<output>.old-<pid>`` first,
            deleted once the new one is in place). An empty folder is used; any other
            folder is refused, never replaced.
        sources: only these sources (a name, or a list of names; each must then be buildable).
        overwrite: replace an existing complete pool at ``output`` (else ConfigError).
        progress: show progress bars on a terminal.
        num_proc: build sources in this many worker processes (largest first); 1 builds them
            one after the other in this process.

    Returns:
        A :class:`BuildReport`.

    Raises:
        MissingFileError: ``data_dir`` missing (a missing ``.zip`` is named as the archive); a requested source has no files.
        ConfigError: unknown source name or an empty list of them; ``output`` is a non-empty folder that is not
            a pool (or a file, or a link), or a pool and ``overwrite`` is False.
        RecordError: a record breaks DESIGN §2, or one id has two different records (naming the files and record indices).
        InputError: a file is not valid JSON; a source asked for in ``sources`` has a file that holds no records.
    """
    from dataoptim.builder import annotation_files

    from dataoptim.io import make_parents, remove_made
    from dataoptim.select.checks import as_names, as_path

    began = time.time()
    data_dir = as_path(data_dir, "data folder", field="data_dir")
    output = as_path(output, "pool folder", field="output")
    names = as_names(sources, "sources", field="sources")
    if isinstance(num_proc, bool) or not isinstance(num_proc, int) or num_proc < 1:
        raise ConfigError(f"num_proc must be a whole number of at least 1, got {num_proc!r}", field="num_proc")
    if data_dir.is_file() and data_dir.suffix.lower() == ".zip":  # DataOptim's data.zip, read as it is
        from dataoptim.select.datazip import build_pool_from_zip

        return build_pool_from_zip(data_dir, output, sources=names, overwrite=overwrite, progress=progress, num_proc=num_proc)
    if data_dir.is_file():
        raise MissingFileError("not a folder (nor a .zip archive of <source>.json files): give the folder holding the annotation files", file=data_dir)
    if not data_dir.is_dir():
        if data_dir.suffix.lower() == ".zip":  # a data.zip path: the archive is what is missing, not a folder
            raise MissingFileError("data archive not found (a .zip of DataOptim's <source>.json files, such as its data.zip)", file=data_dir)
        raise MissingFileError("data folder not found", file=data_dir)
    wanted = list(catalog.SOURCES) if names is None else list(dict.fromkeys(names))
    unknown = [s for s in wanted if s not in catalog.SOURCES]
    if unknown:
        raise ConfigError(f"unknown {words.plural(len(unknown), 'source')} {', '.join(map(repr, unknown))}; known: {', '.join(catalog.SOURCES)}")
    recover_pool(output)  # a replacing build killed between its renames: the old pool first comes back
    if output.is_symlink():
        raise ConfigError("output is a symbolic link; give the folder it points to (a link is never replaced)", file=output)
    if output.exists():
        if not output.is_dir():
            raise ConfigError("output exists and is not a folder; choose another path", file=output)
        if not is_complete_pool(output) and not _is_empty_folder(output):
            raise ConfigError(
                "output folder is not a pool; refusing to replace it (it holds files but no pool manifest.json): choose another path or empty it",
                file=output,
            )
        if (output / MANIFEST).is_file() and not overwrite:
            raise ConfigError("a pool already exists here (pass overwrite / --overwrite to replace it)", file=output)
    tmp = output.parent / f"{output.name}.tmp-{os.getpid()}"
    aside = output.parent / f"{output.name}.old-{os.getpid()}"
    made = make_parents(output)  # removed again if the build fails
    try:
        _remove_stale_siblings(output)  # earlier interrupted builds; a live concurrent build's folder stays
        if os.path.lexists(aside):
            raise ConfigError("a folder of this name is in the way of the pool being replaced; move it", file=aside)
        try:
            tmp.mkdir()
        except FileExistsError:
            raise ConfigError("another build of this pool is running in this process (or a folder of this name is in the way)", file=tmp) from None
        except OSError as exc:
            raise ConfigError(f"pool folder cannot be written here ({exc.strerror or exc})", file=tmp) from None
    except BaseException:
        remove_made(made)
        raise
    try:
        _mark(tmp)
        (tmp / "sources").mkdir()
        files = {p.name: p for p in annotation_files(data_dir)}
        built: dict[str, int] = {}
        skipped: dict[str, str] = {}
        empty: list[str] = []  # files that hold no records (named if no source can be built)
        origins: dict[str, Path | None] = {}
        entries = []
        start = 0
        jobs = [(name, files.get(f"{name}.json")) for name in wanted]
        for name, result in _build_sources(jobs, data_dir, tmp, sources is not None, progress, num_proc, files):
            converted = dict(jobs)[name]
            if "skip" in result:
                skipped[name] = result["skip"]
                continue
            rows = result["rows"]
            if rows == 0:
                where = converted if converted is not None else data_dir
                what = f"{converted.name} holds no records" if converted is not None else "its original files hold no train records"
                if sources is not None:  # asked for by name: say which file is empty
                    raise InputError(f"no records: source {name!r} cannot be built, the file holds no examples", file=where)
                skipped[name] = what
                empty.append(str(where))
                continue
            built[name] = rows
            origins[name] = converted
            entries.append(
                {"name": name, "task": catalog.SOURCES[name].task, "start": start, "rows": rows, "batch_starts": result["batch_starts"], "nbytes": result["nbytes"], "origin": result["origin"]}
            )
            start += rows
        shutil.rmtree(tmp / "hf-cache", ignore_errors=True)
        if not entries:
            if empty:
                raise MissingFileError(f"no source could be built: {', '.join(empty[:5])} {words.plural(len(empty), 'holds', 'hold')} no records", file=data_dir)
            raise MissingFileError(
                "no source could be built: put DataOptim's converted <source>.json files (or original annotation files) in the data folder",
                file=data_dir,
            )
        names = [e["name"] for e in entries]
        width, hidden, examples, count = _build_index(tmp, names, [e["start"] for e in entries], origins)
        manifest = {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "dataoptim_version": _version(),
            "data_dir": str(data_dir.resolve()),
            "num_rows": start,
            "id_width": width,
            "sources": entries,
            "hidden_rows": hidden,
            "duplicates": examples,
            "duplicate_count": count,
            "skipped": skipped,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if output.exists():
            # the old pool aside (marked as ours), the new one in, then the old one away: killed in between, recover_pool puts it back
            _mark(output)
            try:
                os.replace(output, aside)
            except BaseException:
                with contextlib.suppress(OSError):
                    (output / BUILD_MARKER).unlink()
                raise
            try:
                os.replace(tmp, output)
            except BaseException:
                os.replace(aside, output)
                with contextlib.suppress(OSError):
                    (output / BUILD_MARKER).unlink()
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.replace(tmp, output)
        with contextlib.suppress(OSError):
            (output / BUILD_MARKER).unlink()  # kept until now: a build killed before this point left a marked folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_made(made)
        raise
    return BuildReport(built, skipped, examples, count, time.time() - began)


def _version() -> str:
    import dataoptim

    return dataoptim.__version__

