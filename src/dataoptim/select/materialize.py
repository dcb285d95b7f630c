"""Reading selected records out of a pool and writing them as LLaVA JSON, in bounded memory.

A selection is an array of global rows in output order (repeats allowed). The
records are read in *pool* order, one record batch at a time, with plain file
reads (not a memory map, so the process never holds pages of the whole pool),
and only the selected rows of a batch are kept (Arrow ``take``). They are turned
into JSON text right away, by Polars' NDJSON writer (Rust, about 0.4 GB/s
here), one record per line. Putting the lines back in output order is an
external bucket sort (skipped when the ids already come in pool order, as in
DataOptim's example list): when the selection does not fit :data:`MEMORY_BUDGET`,
lines are spread over temporary files by output position, and each file is
read back, its lines ordered, and appended to the output in turn. The output
is one JSON list, which LLaVA's ``json.load(open(data_path))`` reads.
"""

from __future__ import annotations

import io
import math
import mmap
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from dataoptim.errors import ConfigError
from dataoptim.io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.select.pool import Pool

#: Selected bytes sorted in memory; above this the writer goes through bucket files.
MEMORY_BUDGET = 16 << 20
#: Target bytes of one bucket file (read back whole, sorted, written).
BUCKET_BYTES = 24 << 20
#: Bytes of pool batches read between two releases of the mapped pages.
MAPPED_BYTES = 32 << 20
#: Rows turned into JSON (and written) per chunk: a few MB of text.
JSON_CHUNK_ROWS = 8192
#: Rows taken out of one pool batch at once when the selection repeats its rows (:func:`take_pieces`).
TAKE_ROWS = 8192
#: Bytes of record data taken out of one pool batch at once when the selection repeats its rows.
TAKE_BYTES = 32 << 20

#: Called with each batch of taken records and the index of its source in ``pool.parts``.
BatchHook = Callable[[pa.RecordBatch, int], None]
#: Called with each batch of taken records, their output positions and the index of their source;
#: returns the batch to write (e.g. with its boxes moved, :class:`dataoptim.boxes.BoxMover`).
BatchTransform = Callable[[pa.RecordBatch, np.ndarray, int], pa.RecordBatch]


def iter_taken(pool: "Pool", rows: np.ndarray, columns: Sequence[str], *, progress=None) -> Iterator[tuple[pa.RecordBatch, np.ndarray, int]]:
    """Yield ``(records, output_positions, source_index)`` for the selected rows, in pool order.

    Args:
        pool: the pool.
        rows: int64 global rows in output order (repeats allowed), each in ``[0, len(pool))``.
        columns: columns to read.
        progress: optional tqdm-like object, ``update(n)`` per batch.

    The source files are memory-mapped (no copy of a batch is made; only the
    selected rows are copied out by ``take``), and every :data:`MAPPED_BYTES`
    the pages touched are handed back (``madvise(MADV_DONTNEED)``), so the
    resident memory of the process never holds more than that much of the pool.
    A batch whose rows are asked for again and again (a repeated id, a mixture
    drawn with replacement) is taken in pieces of at most :data:`TAKE_ROWS` rows
    and :data:`TAKE_BYTES` bytes of record data (:func:`take_pieces`), so what
    is yielded at once does not grow with the selection and no Arrow array
    exceeds its 2 GB offset range.
    Memory otherwise: the arrays of positions (16 bytes per selected row; none
    when ``rows`` is already in pool order).
    """
    from dataoptim.select.pool import open_source, source_path, unreadable_source

    rows = np.asarray(rows, dtype=np.int64)
    n = len(rows)
    if n == 0:
        return
    if rows.min() < 0 or rows.max() >= pool.num_rows:
        from dataoptim.errors import ConfigError

        raise ConfigError(f"selection rows must be in [0, {pool.num_rows:,}) (the rows of the pool), found {int(rows.min()) if rows.min() < 0 else int(rows.max())}")
    if is_sorted(rows):
        order = None  # already in pool order: the positions are 0..n-1
        sorted_rows = rows
    else:
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
    # where the rows of each pool batch begin in sorted_rows (one entry per batch, none per row)
    bounds = np.append(np.searchsorted(sorted_rows, pool.batch_starts, side="left"), n)
    schema = open_source(source_path(pool.path, pool.parts[0].name)).schema
    fields = [schema.get_field_index(c) for c in columns]
    readers: dict[int, pa.ipc.RecordBatchFileReader] = {}
    maps: dict[int, mmap.mmap] = {}
    mapped = 0
    try:
        for b in np.flatnonzero(bounds[1:] > bounds[:-1]):
            b = int(b)
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            k = int(pool.batch_source[b])
            path = source_path(pool.path, pool.parts[k].name)
            if k not in readers:
                try:
                    with open(path, "rb") as handle:
                        maps[k] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
                except (OSError, ValueError) as exc:  # missing, or empty (mmap refuses a zero-length file)
                    raise unreadable_source(path, exc) from None
                options = pa.ipc.IpcReadOptions(included_fields=fields, use_threads=False)
                readers[k] = open_source(path, options, source=pa.BufferReader(pa.py_buffer(maps[k])))
            try:
                batch = readers[k].get_batch(int(pool.batch_local[b]))
            except (pa.ArrowException, OSError, IndexError) as exc:  # a file changed since the pool was opened
                raise unreadable_source(path, exc) from None
            batch = batch.select(list(columns))
            start = int(pool.batch_starts[b])
            for a, z, taken in take_pieces(batch, sorted_rows, lo, hi, start):
                yield taken, (order[a:z] if order is not None else np.arange(a, z, dtype=np.int64)), k
                if progress is not None:
                    progress.update(z - a)
            mapped += batch.nbytes
            del batch
            if mapped > MAPPED_BYTES:  # let go of the pages read so far: they stay in the page cache, not in this process
                for m in maps.values():
                    _release(m)
                mapped = 0
    finally:
        readers.clear()
        for m in maps.values():
            _release(m)


def is_sorted(rows: np.ndarray, step: int = 1 << 22) -> bool:
    """Whether ``rows`` never decrease (compared a few million at a time: no array as long as ``rows`` is made)."""
    for lo in range(0, max(len(rows) - 1, 0), step):
        part = rows[lo : lo + step + 1]
        if not bool(np.all(part[1:] >= part[:-1])):
            return False
    return True


def take_pieces(batch: pa.RecordBatch, sorted_rows: np.ndarray, lo: int, hi: int, start: int) -> Iterator[tuple[int, int, pa.RecordBatch]]:
    """The rows ``sorted_rows[lo:hi]`` (global rows of ``batch``, which begins at global row ``start``; sorted) taken out of it.

    Yields ``(a, z, records)`` for consecutive pieces ``sorted_rows[a:z]``. Rows
    without repeats are one piece (the batch itself when all of it is asked for):
    at most the batch. Rows with repeats are cut into pieces of at most
    :data:`TAKE_ROWS` rows and :data:`TAKE_BYTES` bytes of record data (each row's
    own size, :func:`row_bytes`; a single row larger than that is a piece of its own).
    """
    count = hi - lo
    if count <= batch.num_rows:  # (more rows than the batch holds repeat some: no array of them all is made)
        local = sorted_rows[lo:hi] - start
        if count < 2 or bool(np.all(local[1:] > local[:-1])):
            if count == batch.num_rows:  # every row once, in order
                yield lo, hi, batch
            else:
                yield lo, hi, batch.take(pa.array(local))
            return
        del local
    sizes = row_bytes(batch)
    for a in range(lo, hi, TAKE_ROWS):
        z = min(a + TAKE_ROWS, hi)
        local = sorted_rows[a:z] - start
        for p, q in _byte_cuts(sizes[local], TAKE_BYTES):
            yield a + p, a + q, batch.take(pa.array(local[p:q]))


def _byte_cuts(sizes: np.ndarray, limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive ``(p, q)`` ranges of ``sizes`` each summing to at most ``limit`` (at least one element each)."""
    total = np.cumsum(sizes)
    m = len(sizes)
    p = 0
    while p < m:
        before = int(total[p - 1]) if p else 0
        q = int(np.searchsorted(total, before + limit, side="right"))
        q = max(q, p + 1)
        yield p, q
        p = q


def row_bytes(data: pa.RecordBatch | pa.Table | pa.Array) -> np.ndarray:
    """Bytes of record data in each row (string bytes, list and struct contents, fixed-width values; int64 array).

    Counts at least what any one string or list array of a ``take`` of the row
    would hold, so the sum over the rows of a piece bounds each of its arrays.
    """
    import pyarrow.compute as pc

    if isinstance(data, (pa.RecordBatch, pa.Table)):
        total = np.zeros(data.num_rows, dtype=np.int64)
        for column in data.columns:
            total += row_bytes(column)
        return total
    if isinstance(data, pa.ChunkedArray):
        return np.concatenate([row_bytes(c) for c in data.chunks]) if data.num_chunks else np.zeros(0, dtype=np.int64)
    n = len(data)
    kind = data.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        sizes = pc.fill_null(pc.binary_length(data), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        return sizes + 8  # the offset of each value
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        parents = pc.list_parent_indices(data).to_numpy(zero_copy_only=False)
        inner = row_bytes(pc.list_flatten(data))
        return np.bincount(parents, weights=inner, minlength=n).astype(np.int64) + 8
    if pa.types.is_struct(kind):
        total = np.zeros(n, dtype=np.int64)
        for child in data.flatten():
            total += row_bytes(child)
        return total
    try:
        width = max(kind.bit_width // 8, 1)
    except ValueError:  # a type of no fixed width not used by the pool
        width = 16
    return np.full(n, width, dtype=np.int64)


def _release(m: "mmap.mmap") -> None:
    """Drop the resident pages of a read-only file mapping (``MADV_DONTNEED``; no-op where unsupported)."""
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if advice is not None and len(m):
        try:
            m.madvise(advice)
        except (OSError, ValueError):  # pragma: no cover
            pass


def take_rows(pool: "Pool", rows: np.ndarray, columns: Sequence[str] | None = None, *, hook: BatchHook | None = None) -> pa.Table:
    """The records at ``rows`` as one in-memory table, in the order of ``rows``.

    The table is put together in output-order pieces of at most :data:`TAKE_ROWS`
    rows and :data:`TAKE_BYTES` bytes (one chunk each): a single ``take`` over
    all the records read would concatenate them first, and pass Arrow's 2 GB
    offset range for a large selection.

    Args:
        columns: columns to keep (default all).
        hook: called on each batch as it is read (for summaries).

    Raises:
        ConfigError: a column that is not a pool column (signals are read with ``Selection.columns``).
    """
    from dataoptim import records

    columns = list(columns or records.COLUMNS)
    unknown = [c for c in columns if c not in records.COLUMNS]
    if unknown:
        raise ConfigError(f"no pool column {', '.join(map(repr, unknown))} (pool columns: {', '.join(records.COLUMNS)}; "
                          "signal columns are read with Selection.columns([...]))", field="columns")
    batches, positions = [], []
    for taken, pos, k in iter_taken(pool, rows, columns):
        if hook is not None:
            hook(taken, k)
        batches.append(taken)
        positions.append(pos)
    if not batches:
        schema = records.arrow_schema()
        return pa.schema([schema.field(c) for c in columns]).empty_table()
    if len(batches) == 1:
        (batch,), (pos,) = batches, positions
        if len(pos) < 2 or bool(np.all(pos[1:] > pos[:-1])):
            return pa.Table.from_batches([batch])
    starts = np.cumsum([0] + [b.num_rows for b in batches])
    inverse = np.argsort(np.concatenate(positions), kind="stable")  # output position -> row of the batches one after the other
    del positions
    sizes = np.concatenate([row_bytes(b) for b in batches])[inverse]
    pieces = []
    for a in range(0, len(inverse), TAKE_ROWS):
        z = min(a + TAKE_ROWS, len(inverse))
        for p, q in _byte_cuts(sizes[a:z], TAKE_BYTES):
            pieces.append(_gather(batches, starts, inverse[a + p : a + q]))
    return pa.concat_tables(pieces)


def _gather(batches: Sequence[pa.RecordBatch], starts: np.ndarray, index: np.ndarray) -> pa.Table:
    """Rows ``index`` (of ``batches`` one after the other; ``starts`` where each begins), in that order, as one chunk.

    Each batch's rows are taken from it alone, then the (small) result is put in order:
    no take ever spans the chunks of all the batches.
    """
    owner = np.searchsorted(starts, index, side="right") - 1
    by_owner = np.argsort(owner, kind="stable")
    owner_sorted = owner[by_owner]
    cuts = np.flatnonzero(np.diff(owner_sorted)) + 1
    parts = []
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(index)]])):
        c = int(owner_sorted[lo])
        parts.append(batches[c].take(pa.array(index[by_owner[lo:hi]] - starts[c])))
    grouped = pa.Table.from_batches(parts).combine_chunks()
    back = np.empty(len(index), dtype=np.int64)
    back[by_owner] = np.arange(len(index))
    return grouped.take(pa.array(back))


def estimate_bytes(pool: "Pool", rows: np.ndarray) -> int:
    """Bytes the selected records take in memory, from each source's average record size."""
    if len(rows) == 0:
        return 0
    counts = pool.rows_per_source(rows)
    per_row = np.array([p.nbytes / max(p.rows, 1) for p in pool.parts])
    return int((counts * per_row).sum())


# ----------------------------------------------------------------------------------------
# JSON writing
# ----------------------------------------------------------------------------------------
def _ndjson(table: pa.Table) -> bytes:
    """One JSON object per line for each row of ``table`` (Polars' writer; stdlib json if absent)."""
    try:
        import polars as pl
    except ImportError:  # pragma: no cover - polars is a dependency
        import json

        rows = ({k: v for k, v in r.items() if not (k == "image" and v is None)} for r in table.to_pylist())  # text-only: no image key
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    buffer = io.BytesIO()
    pl.from_arrow(table, rechunk=False).write_ndjson(buffer)
    text = buffer.getvalue()
    if "image" in table.column_names and table.column("image").null_count:
        text = drop_null_images(text)
    return text


#: What Polars writes for a text-only record's image, between the id and the turns.
_NULL_IMAGE = b',"image":null,"conversations":'


def drop_null_images(ndjson: bytes) -> bytes:
    """Remove the ``"image": null`` member of text-only records from JSON lines of ``id, image, conversations``.

    LLaVA decides by ``'image' in sources[0]`` (haotian-liu/LLaVA ``train.py``), so a
    text-only record must have no ``image`` key at all (``null`` would be opened as a
    path). The member is removed by its exact bytes: inside a JSON string every ``"``
    is escaped, so ``,"image":null,"conversations":`` occurs only as the record's own
    members (ids are letters, digits and ``_ . + -``).
    """
    return ndjson.replace(_NULL_IMAGE, b',"conversations":')


class _Background:
    """File writes on one helper thread, so they overlap with encoding (``write`` releases the GIL).

    Writes keep their order (a single worker). At most ``depth`` buffers wait,
    which bounds the memory they hold. (Encoding on a second thread as well was
    tried and was slower on this 2-core machine.)
    """

    def __init__(self, depth: int = 3):
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataoptim-write")
        self.pending: deque = deque()
        self.depth = depth

    def write(self, handle, data: bytes) -> None:
        self.pending.append(self.executor.submit(handle.write, data))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def wait(self) -> None:
        """Block until every write so far is done (re-raising its error, if any)."""
        while self.pending:
            self.pending.popleft().result()

    def close(self) -> None:
        """Finish or drop outstanding writes and stop the thread (never raises)."""
        try:
            self.wait()
        except Exception:
            pass
        self.executor.shutdown(wait=True)


class JsonListWriter:
    """Writes records as the elements of one JSON list, one record per line.

    Records arrive as *element text*: each record's JSON object followed by
    ``,\n`` (see :func:`_elements`). On :meth:`close` the last ``,\n`` is
    overwritten by the closing ``\n]\n``.
    """

    def __init__(self, handle, background: _Background | None = None):
        self.handle = handle
        self.background = background
        self.count = 0
        self._put(b"[\n")

    def _put(self, data) -> None:
        if self.background is None:
            self.handle.write(data)
        else:
            self.background.write(self.handle, data)

    def write_elements(self, text, count: int) -> None:
        """Append ``count`` records given as element text (bytes or a memoryview of them)."""
        if count:
            self._put(text)
            self.count += count

    def close(self) -> None:
        if self.background is not None:
            self.background.wait()
        if self.count:
            self.handle.seek(-2, io.SEEK_END)
        self.handle.write(b"\n]\n" if self.count else b"]\n")


def _elements(table: pa.Table) -> bytes:
    """JSON list elements for the rows of ``table``: ``{...},\n`` per record (JSON strings hold no raw newline)."""
    return _ndjson(table).replace(b"\n", b",\n")


class _Buckets:
    """JSON lines of selected records, grouped by output position: in memory, or one file per bucket.

    Bucket ``b`` holds output positions ``[b*n/B, (b+1)*n/B)``. JSON strings never
    hold a raw newline, so each chunk's element text is split into records at ``\n``
    once, when it is made; the length of every line is kept beside its output
    position, so a bucket read back is cut into lines without scanning it again.
    """

    def __init__(self, n: int, buckets: int, scratch: Path | None, background: _Background, direct: JsonListWriter | None = None):
        self.n, self.buckets, self.scratch, self.background = n, buckets, scratch, background
        #: when the selection is already in pool order, records go straight to this writer (no sorting)
        self.direct = direct
        self.texts: list[list[bytes]] = [[] for _ in range(buckets)]
        self.positions: list[list[np.ndarray]] = [[] for _ in range(buckets)]
        self.lengths: list[list[np.ndarray]] = [[] for _ in range(buckets)]
        self.files: dict[int, object] = {}

    def add(self, table: pa.Table, pos: np.ndarray) -> None:
        """Turn ``table`` into JSON lines and file each line under the bucket of its output position.

        The table is encoded in the order it came (pool order); the lines are then
        grouped by bucket with one ``take`` over the text (a string array of one
        line per record), which is cheaper than reordering the nested records.
        """
        if self.direct is not None:
            self.direct.write_elements(_elements(table), table.num_rows)
            return
        text = _elements(table)
        ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10) + 1  # one past each record's newline
        if len(ends) != table.num_rows or (len(ends) and ends[-1] != len(text)):
            raise RuntimeError("internal error: JSON lines and records do not match")
        offsets = np.zeros(len(ends) + 1, dtype=np.int64)
        offsets[1:] = ends
        lengths = np.diff(offsets)
        if self.buckets == 1:
            self.texts[0].append(text)
            self.positions[0].append(pos)
            self.lengths[0].append(lengths)
            return
        bucket = (pos * self.buckets) // self.n
        order = np.argsort(bucket, kind="stable")
        if not np.all(order[1:] > order[:-1]):
            lines = pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets), pa.py_buffer(text))
            grouped = lines.take(pa.array(order))
            data_offsets = np.frombuffer(grouped.buffers()[1], dtype=np.int64)
            text = memoryview(grouped.buffers()[2])[data_offsets[0] : data_offsets[-1]]
            offsets = data_offsets - data_offsets[0]
            pos, bucket, lengths = pos[order], bucket[order], lengths[order]
        else:
            text = memoryview(text)
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(bucket)]])):
            b = int(bucket[lo])
            if b not in self.files:
                self.files[b] = open(self.scratch / f"{b:05d}.jsonl", "wb")
            self.background.write(self.files[b], text[int(offsets[lo]) : int(offsets[hi])])
            self.positions[b].append(pos[lo:hi])
            self.lengths[b].append(lengths[lo:hi])

    def drain(self, writer: JsonListWriter) -> None:
        """Write every bucket in order, each sorted by output position.

        A bucket's text becomes a zero-copy Arrow string array (one element per
        line, newline included, cut by the kept line lengths); ``take`` puts the
        lines in output order, and the data buffer of the result is the ordered text.
        """
        self.background.wait()
        for handle in self.files.values():
            handle.close()
        for b in range(self.buckets):
            if not self.positions[b]:
                continue
            if self.buckets == 1:
                text = b"".join(self.texts[0])
                self.texts[0] = []
            else:
                path = self.scratch / f"{b:05d}.jsonl"
                text = path.read_bytes()
                path.unlink()
            positions = np.concatenate(self.positions[b])
            offsets = np.zeros(len(positions) + 1, dtype=np.int64)
            np.cumsum(np.concatenate(self.lengths[b]), out=offsets[1:])
            self.positions[b], self.lengths[b] = [], []
            if offsets[-1] != len(text):
                raise RuntimeError("internal error: JSON lines and positions do not match")
            lines = pa.LargeStringArray.from_buffers(len(positions), pa.py_buffer(offsets), pa.py_buffer(text))
            # the output positions of a bucket are each of [first, first + len) exactly once (each output
            # position is one line, and a bucket is a run of positions): the order is a scatter, not a sort
            first = int(positions.min())
            if int(positions.max()) - first + 1 != len(positions):
                raise RuntimeError("internal error: a bucket's output positions are not one run")
            order = np.empty(len(positions), dtype=np.int64)
            order[positions - first] = np.arange(len(positions), dtype=np.int64)
            for start in range(0, len(order), JSON_CHUNK_ROWS * 4):
                chunk = lines.take(pa.array(order[start : start + JSON_CHUNK_ROWS * 4]))
                data_offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
                writer.write_elements(memoryview(chunk.buffers()[2])[data_offsets[0] : data_offsets[-1]], len(chunk))
            del lines, text


def write_llava_json(pool: "Pool", rows: np.ndarray, path: str | os.PathLike, *, hook: BatchHook | None = None, progress: bool = False, memory_budget: int | None = None,
                     transform: BatchTransform | None = None) -> int:
    """Write the records at ``rows`` (in that order) as a LLaVA training JSON list, atomically.

    Only ``id``, ``image`` and ``conversations`` are written (LLaVA's
    ``--data_path`` format, haotian-liu/LLaVA ``docs/Data.md``), one record per
    line. Records are read in pool order and turned into JSON lines in chunks
    (Polars); the lines are then put in output order, in memory when the
    selection is small, else through bucket files of about :data:`BUCKET_BYTES`.
    The file appears only when complete; an error or interrupt leaves no file
    and no temporary files. What a *killed* export left in the same folder
    (its temporary file and sort folder) is removed first when stale
    (:func:`dataoptim.select.leftovers.clean_export_leftovers`); the temporary
    file is locked while it is written, so another live export's is never taken for one.

    Args:
        pool: the pool the rows belong to.
        rows: int64 global rows in output order (repeats allowed).
        path: output ``.json`` path.
        hook: called on each batch of records read (pool order), for summaries (after ``transform``).
        transform: applied to each batch of records read before it is written (pool order).
        progress: show a progress bar on a terminal.
        memory_budget: selected bytes sorted in memory at most (default :data:`MEMORY_BUDGET`).

    Returns:
        The number of records written.
    """
    from dataoptim import records
    from dataoptim.select.leftovers import clean_export_leftovers, lock_in_use

    rows = np.asarray(rows, dtype=np.int64)
    path = Path(path)
    clean_export_leftovers(path.parent)
    columns = list(records.LLAVA_FIELDS)
    budget = MEMORY_BUDGET if memory_budget is None else memory_budget
    bar = _bar(len(rows), "select") if progress else None
    scratch = None
    sorter = None
    try:
        with atomic_write(path, "wb") as handle:
            lock_in_use(handle)
            background = _Background()
            try:
                writer = JsonListWriter(handle, background)
                estimate = estimate_bytes(pool, rows)
                in_pool_order = is_sorted(rows)
                buckets = 1 if estimate <= budget or in_pool_order else max(2, math.ceil(estimate / BUCKET_BYTES))
                if buckets > 1:
                    scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.sort-{os.getpid()}-", dir=path.parent))
                sorter = _Buckets(len(rows), buckets, scratch, background, direct=writer if in_pool_order else None)
                pending: list[pa.RecordBatch] = []
                pending_pos: list[np.ndarray] = []
                pending_rows = 0
                for taken, pos, k in iter_taken(pool, rows, columns, progress=bar):
                    if transform is not None:
                        taken = transform(taken, pos, k)
                    if hook is not None:
                        hook(taken, k)
                    pending.append(taken)
                    pending_pos.append(pos)
                    pending_rows += taken.num_rows
                    if pending_rows >= JSON_CHUNK_ROWS:
                        sorter.add(pa.Table.from_batches(pending), np.concatenate(pending_pos))
                        pending, pending_pos, pending_rows = [], [], 0
                if pending:
                    sorter.add(pa.Table.from_batches(pending), np.concatenate(pending_pos))
                del pending, pending_pos
                sorter.drain(writer)
                writer.close()
            finally:
                background.close()  # no write may touch the file after this block
                if sorter is not None:
                    for open_file in sorter.files.values():
                        open_file.close()
    finally:
        if bar is not None:
            bar.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return len(rows)


def _bar(total: int, desc: str):
    import sys

    if not sys.stderr.isatty() or total < 100_000:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" rec", unit_scale=True, leave=False)
