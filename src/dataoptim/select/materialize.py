"""Reading selected records out of a pool and writing them as LLaVA JSON, in bounded memory.

A selection is an array of global rows in output order (repeats allowed). The
records are read in *pool* order, one record batch at a time, with plain file
reads (not a memory map, so the process never holds pages of the whole pool),
and only the selected rows of a batch are kept (Arrow ``take``). Putting them
back in output order is an external bucket sort: when the selected records do
not fit :data:`MEMORY_BUDGET`, they are spread over temporary Arrow files by
output position, and each file is sorted and written in turn. JSON is written
by Polars' NDJSON writer (Rust, about 0.4 GB/s here), one record per line
inside a JSON list, which LLaVA's ``json.load(open(data_path))`` reads.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from dataoptim.io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.select.pool import Pool

#: Selected bytes held in memory before the writer switches to bucket files.
MEMORY_BUDGET = 384 << 20
#: Target bytes of one bucket file (read back whole, sorted, written).
BUCKET_BYTES = 96 << 20
#: Rows per JSON chunk handed to the writer.
JSON_CHUNK_ROWS = 32_768
_POS = "__pos"

#: Called with each batch of taken records and the index of its source in ``pool.parts``.
BatchHook = Callable[[pa.RecordBatch, int], None]


def iter_taken(pool: "Pool", rows: np.ndarray, columns: Sequence[str], *, progress=None) -> Iterator[tuple[pa.RecordBatch, np.ndarray, int]]:
    """Yield ``(records, output_positions, source_index)`` for the selected rows, in pool order.

    Args:
        pool: the pool.
        rows: int64 global rows in output order (repeats allowed), each in ``[0, len(pool))``.
        columns: columns to read.
        progress: optional tqdm-like object, ``update(n)`` per batch.

    Memory: one record batch of the pool (:data:`~dataoptim.select.pool.BATCH_ROWS`
    rows) plus the arrays of positions (16 bytes per selected row).
    """
    from dataoptim.select.pool import source_path

    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return
    if rows.min() < 0 or rows.max() >= pool.num_rows:
        raise IndexError("selection rows outside the pool")
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    batch_of = np.searchsorted(pool.batch_starts, sorted_rows, side="right") - 1
    cuts = np.flatnonzero(np.diff(batch_of)) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [len(sorted_rows)]])
    schema = pa.ipc.open_file(pa.memory_map(str(source_path(pool.path, pool.parts[0].name)))).schema
    fields = [schema.get_field_index(c) for c in columns]
    readers: dict[int, pa.ipc.RecordBatchFileReader] = {}
    files: list[pa.NativeFile] = []
    try:
        for lo, hi in zip(starts, stops):
            b = int(batch_of[lo])
            k = int(pool.batch_source[b])
            if k not in readers:
                handle = pa.OSFile(str(source_path(pool.path, pool.parts[k].name)), "rb")
                files.append(handle)
                readers[k] = pa.ipc.open_file(handle, options=pa.ipc.IpcReadOptions(included_fields=fields, use_threads=False))
            batch = readers[k].get_batch(int(pool.batch_local[b]))
            local = sorted_rows[lo:hi] - pool.batch_starts[b]
            if len(local) == batch.num_rows and local[0] == 0 and local[-1] == batch.num_rows - 1 and (len(local) < 2 or np.all(np.diff(local) == 1)):
                taken = batch
            else:
                taken = batch.take(pa.array(local))
            yield taken.select(list(columns)), order[lo:hi], k
            if progress is not None:
                progress.update(hi - lo)
    finally:
        for handle in files:
            handle.close()


def take_rows(pool: "Pool", rows: np.ndarray, columns: Sequence[str] | None = None, *, hook: BatchHook | None = None) -> pa.Table:
    """The records at ``rows`` as one in-memory table, in the order of ``rows``.

    Args:
        columns: columns to keep (default all).
        hook: called on each batch as it is read (for summaries).
    """
    from dataoptim import records

    columns = list(columns or records.COLUMNS)
    batches, positions = [], []
    for taken, pos, k in iter_taken(pool, rows, columns):
        if hook is not None:
            hook(taken, k)
        batches.append(taken)
        positions.append(pos)
    if not batches:
        schema = records.arrow_schema()
        return pa.schema([schema.field(c) for c in columns]).empty_table()
    table = pa.Table.from_batches(batches)
    inverse = np.argsort(np.concatenate(positions), kind="stable")
    return table.take(pa.array(inverse))


def estimate_bytes(pool: "Pool", rows: np.ndarray) -> int:
    """Bytes the selected records take in memory, from each source's average record size."""
    if len(rows) == 0:
        return 0
    counts = np.bincount(pool.source_of_rows(np.asarray(rows)), minlength=len(pool.parts))
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

        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in table.to_pylist()).encode()
    buffer = io.BytesIO()
    pl.from_arrow(table, rechunk=False).write_ndjson(buffer)
    return buffer.getvalue()


class JsonListWriter:
    """Writes tables as the elements of one JSON list, one record per line.

    JSON strings never hold a raw newline, so the NDJSON text of a chunk becomes
    list elements by turning each ``\\n`` into ``,\\n``.
    """

    def __init__(self, handle):
        self.handle = handle
        self.count = 0
        handle.write(b"[")

    def write(self, table: pa.Table) -> None:
        if table.num_rows and table.column("image").null_count:
            raise ValueError("records without an image cannot be written by the fast writer")
        for start in range(0, table.num_rows, JSON_CHUNK_ROWS):
            chunk = table.slice(start, JSON_CHUNK_ROWS)
            text = _ndjson(chunk)
            if not text:
                continue
            text = text[:-1].replace(b"\n", b",\n") if text.endswith(b"\n") else text.replace(b"\n", b",\n")
            self.handle.write(b",\n" if self.count else b"\n")
            self.handle.write(text)
            self.count += chunk.num_rows

    def close(self) -> None:
        self.handle.write(b"\n]\n" if self.count else b"]\n")


def write_llava_json(pool: "Pool", rows: np.ndarray, path: str | os.PathLike, *, hook: BatchHook | None = None, progress: bool = False, memory_budget: int = MEMORY_BUDGET) -> int:
    """Write the records at ``rows`` (in that order) as a LLaVA training JSON list, atomically.

    Only ``id``, ``image`` and ``conversations`` are written (LLaVA's
    ``--data_path`` format, haotian-liu/LLaVA ``docs/Data.md``). The file
    appears only when complete; an error or interrupt leaves no file and no
    temporary files.

    Args:
        pool: the pool the rows belong to.
        rows: int64 global rows in output order (repeats allowed).
        path: output ``.json`` path.
        hook: called on each batch of records read (pool order), for summaries.
        progress: show a progress bar on a terminal.
        memory_budget: selected bytes held in memory at most before sorting through bucket files.

    Returns:
        The number of records written.
    """
    from dataoptim import records

    rows = np.asarray(rows, dtype=np.int64)
    path = Path(path)
    columns = list(records.LLAVA_FIELDS)
    bar = _bar(len(rows), "select") if progress else None
    scratch = None
    try:
        with atomic_write(path, "wb") as handle:
            writer = JsonListWriter(handle)
            estimate = estimate_bytes(pool, rows)
            if estimate <= memory_budget:
                batches, positions = [], []
                for taken, pos, k in iter_taken(pool, rows, columns, progress=bar):
                    if hook is not None:
                        hook(taken, k)
                    batches.append(taken)
                    positions.append(pos)
                if batches:
                    table = pa.Table.from_batches(batches)
                    inverse = np.argsort(np.concatenate(positions), kind="stable")
                    del batches
                    writer.write(table.take(pa.array(inverse)))
            else:
                scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}.sort-", dir=path.parent))
                _bucket_sort_write(pool, rows, columns, writer, scratch, estimate, hook, bar)
            writer.close()
    finally:
        if bar is not None:
            bar.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return len(rows)


def _bucket_sort_write(pool, rows, columns, writer: JsonListWriter, scratch: Path, estimate: int, hook, bar) -> None:
    n = len(rows)
    buckets = max(2, math.ceil(estimate / BUCKET_BYTES))
    sinks: dict[int, tuple[pa.NativeFile, pa.ipc.RecordBatchStreamWriter]] = {}
    pending: list[pa.RecordBatch] = []
    pending_pos: list[np.ndarray] = []
    pending_bytes = 0
    flush_bytes = max(BUCKET_BYTES // 2, 16 << 20)

    def flush() -> None:
        nonlocal pending, pending_pos, pending_bytes
        if not pending:
            return
        table = pa.Table.from_batches(pending).combine_chunks()
        pos = np.concatenate(pending_pos)
        bucket = (pos * buckets) // n
        order = np.argsort(bucket, kind="stable")
        table = table.take(pa.array(order)).append_column(_POS, pa.array(pos[order]))
        bucket = bucket[order]
        cuts = np.flatnonzero(np.diff(bucket)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(bucket)]])):
            b = int(bucket[lo])
            if b not in sinks:
                sink = pa.OSFile(str(scratch / f"{b:05d}.arrow"), "wb")
                sinks[b] = (sink, pa.ipc.new_stream(sink, table.schema))
            sinks[b][1].write_table(table.slice(int(lo), int(hi - lo)))
        pending, pending_pos, pending_bytes = [], [], 0

    for taken, pos, k in iter_taken(pool, rows, columns, progress=bar):
        if hook is not None:
            hook(taken, k)
        pending.append(taken)
        pending_pos.append(pos)
        pending_bytes += taken.nbytes
        if pending_bytes >= flush_bytes:
            flush()
    flush()
    for sink, stream in sinks.values():
        stream.close()
        sink.close()
    for b in range(buckets):
        file = scratch / f"{b:05d}.arrow"
        if not file.exists():
            continue
        with pa.OSFile(str(file), "rb") as source:
            table = pa.ipc.open_stream(source).read_all()
        file.unlink()
        order = np.argsort(table.column(_POS).to_numpy(), kind="stable")
        writer.write(table.drop_columns([_POS]).take(pa.array(order)))
        del table


def _bar(total: int, desc: str):
    import sys

    if not sys.stderr.isatty() or total < 100_000:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=" rec", unit_scale=True, leave=False)
