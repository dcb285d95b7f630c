"""Signals stored beside a pool: one Arrow file per signal, aligned with the pool's global rows.

A *signal* is a per-record value computed once and then used like a column
(filters, sorting, dedup, budgets: :mod:`dataoptim.select.by_signal`). Every
signal is one small module of :mod:`dataoptim.signals` of the same form:

* ``NAME`` (the file name), ``VERSION`` (bumped when its output changes),
  ``NEEDS`` (pool columns it reads), ``WRITES`` (column -> Arrow type),
  ``PARAMS`` (defaults of its parameters), ``PAPER`` (what it follows);
* ``compute(batch, params) -> dict[column, array]`` on one record batch of a source;
* optionally ``finalize(table, pool, params) -> pa.Table`` over the whole column set
  (signals that compare records across the pool, such as duplicates);
* optionally ``prepare(params) -> params`` to check and complete parameters
  (a tokenizer's fingerprint, an image folder's path).

On disk::

    POOL/signals/<name>.arrow          the signal: one row per pool row, in global-row order;
                                       its schema metadata ``dataoptim_signal`` holds the
                                       signal, code version, parameters and pool fingerprint
    POOL/signals/.<name>.partial/      while computing: meta.json + one <source>.arrow per
                                       finished source (a killed run resumes from them)

A stored signal is *stale* when its version, parameters or the pool it was
made for differ from what is asked: :func:`compute_signal` then recomputes it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from dataoptim import words
from dataoptim.errors import ConfigError, InputError, MissingFileError

META_KEY = b"dataoptim_signal"
FOLDER = "signals"


def signals_dir(pool) -> Path:
    """The folder of a pool's signals (``POOL/signals``)."""
    return Path(pool.path) / FOLDER


def signal_path(pool, name: str) -> Path:
    """Path of the stored Arrow file of signal ``name``."""
    return signals_dir(pool) / f"{name}.arrow"


def pool_fingerprint(pool) -> dict[str, Any]:
    """What identifies the pool's rows: creation time, row count, and (source, rows) in order."""
    return {"created": pool.manifest.get("created"), "num_rows": int(pool.num_rows), "sources": [[p.name, p.rows] for p in pool.parts]}


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(params), default=str, sort_keys=True))


def wanted_meta(module, pool, params: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata a fresh computation of ``module`` with ``params`` on ``pool`` stores."""
    return {"signal": module.NAME, "version": str(module.VERSION), "params": _jsonable(params), "pool": pool_fingerprint(pool)}


def read_meta(path: Path) -> dict[str, Any] | None:
    """The ``dataoptim_signal`` metadata of a stored signal file (None if absent or unreadable)."""
    try:
        schema = pa.ipc.open_file(pa.memory_map(str(path), "r")).schema
    except (OSError, pa.ArrowException):
        return None
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def is_fresh(module, pool, params: Mapping[str, Any]) -> bool:
    """Whether the stored file of ``module`` was made by this code version, these parameters and this pool."""
    meta = read_meta(signal_path(pool, module.NAME))
    return meta is not None and meta == wanted_meta(module, pool, params)


def _progress(total: int, name: str, enabled: bool | None):
    from tqdm.auto import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=f"signal {name}", unit="rec", unit_scale=True, disable=not enabled, leave=False)


def _write_table(table: pa.Table, path: Path, metadata: Mapping[bytes, bytes] | None = None) -> None:
    """Write ``table`` as an Arrow IPC file atomically (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if metadata is not None:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=1 << 16)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _empty_columns(module, rows: int) -> dict[str, pa.Array]:
    return {c: pa.nulls(rows, type=t) for c, t in module.WRITES.items()}


def _as_table(module, columns: Mapping[str, Any], rows: int) -> pa.Table:
    arrays = []
    for column, typ in module.WRITES.items():
        value = columns[column]
        array = value if isinstance(value, (pa.Array, pa.ChunkedArray)) else pa.array(value, type=typ)
        if array.type != typ:
            array = array.cast(typ)
        if len(array) != rows:
            raise AssertionError(f"signal {module.NAME}: column {column} has {len(array)} values for {rows} rows")
        arrays.append(array)
    return pa.table(dict(zip(module.WRITES, arrays)), schema=pa.schema(list(module.WRITES.items())))


def compute_signal(pool, module, params: Mapping[str, Any] | None = None, *, force: bool = False, progress: bool | None = None) -> Path:
    """Compute signal ``module`` for every row of ``pool`` and store it (skipped when fresh).

    Args:
        pool: an opened :class:`~dataoptim.select.pool.Pool`.
        module: a signal module (:func:`dataoptim.signals.get`).
        params: its parameters (missing ones take ``module.PARAMS``' defaults).
        force: recompute even when the stored file is fresh.
        progress: progress bar (default: on a terminal).

    Returns:
        The path of ``POOL/signals/<name>.arrow``.

    Resumable: each source's part is saved in ``POOL/signals/.<name>.partial/`` as it
    finishes; a rerun with the same parameters reuses those parts.

    Raises:
        ConfigError: unknown parameters or bad values (from the module's ``prepare``).
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(module.PARAMS))
    if unknown:
        raise ConfigError(f"signal {module.NAME!r} has no {words.plural(len(unknown), 'parameter')} {', '.join(unknown)} (it takes: {', '.join(module.PARAMS) or 'none'})")
    full = {**module.PARAMS, **params}
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        full = prepare(full)
    out = signal_path(pool, module.NAME)
    meta = wanted_meta(module, pool, full)
    if not force and read_meta(out) == meta:
        return out
    folder = signals_dir(pool)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot write signals beside the pool ({exc.strerror or exc})", file=folder) from None
    partial = folder / f".{module.NAME}.partial"
    meta_file = partial / "meta.json"
    if partial.exists():
        try:
            old = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if old != meta or force:
            shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(exist_ok=True)
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    bar = _progress(pool.num_rows, module.NAME, progress)
    tables = []
    try:
        for part in pool.parts:
            shard = partial / f"{part.name}.arrow"
            if shard.is_file():
                try:
                    done = pa.ipc.open_file(pa.memory_map(str(shard), "r")).read_all()
                    if done.num_rows == part.rows:
                        tables.append(done)
                        bar.update(part.rows)
                        continue
                except (OSError, pa.ArrowException):
                    pass
            pieces = []
            source = pool.source_table(part.name)
            needs = [c for c in module.NEEDS if c in source.column_names]
            for batch in source.select(needs).to_batches(max_chunksize=1 << 15):
                if batch.num_rows == 0:
                    continue
                pieces.append(_as_table(module, module.compute(batch, full), batch.num_rows))
                bar.update(batch.num_rows)
            table = pa.concat_tables(pieces) if pieces else _as_table(module, _empty_columns(module, 0), 0)
            _write_table(table, shard)
            tables.append(table)
        whole = pa.concat_tables(tables) if tables else _as_table(module, _empty_columns(module, 0), 0)
        finalize = getattr(module, "finalize", None)
        if finalize is not None:
            whole = finalize(whole, pool, full)
        _write_table(whole, out, {META_KEY: json.dumps(meta).encode()})
    finally:
        bar.close()
    shutil.rmtree(partial, ignore_errors=True)
    return out


def load_signal(pool, name: str, *, check: bool = True) -> pa.Table:
    """The stored table of signal ``name`` (memory-mapped), aligned with the pool's global rows.

    Raises:
        MissingFileError: the signal was never computed for this pool (naming the command that does).
        InputError: the file is damaged, or was made for another build of the pool (``check``).
    """
    path = signal_path(pool, name)
    if not path.is_file():
        raise MissingFileError(f"signal {name!r} is not computed for this pool; run `dataoptim signals compute --pool {pool.path} --signal {name}`", file=path)
    try:
        table = pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"signal file cannot be read ({exc}); compute it again with `dataoptim signals compute --force`", file=path) from None
    meta = read_meta(path)
    if check and (meta is None or meta.get("pool") != pool_fingerprint(pool) or table.num_rows != pool.num_rows):
        raise InputError(
            f"signal {name!r} was computed for another build of this pool ({table.num_rows:,} rows for {pool.num_rows:,}); "
            f"compute it again with `dataoptim signals compute --pool {pool.path} --signal {name}`",
            file=path,
        )
    return table


def stored_signals(pool) -> dict[str, dict[str, Any]]:
    """Signals stored beside ``pool``: name -> metadata (files of another pool build are left out)."""
    out = {}
    folder = signals_dir(pool)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.arrow")):
        meta = read_meta(path)
        if meta is not None and meta.get("pool") == pool_fingerprint(pool):
            out[path.stem] = meta
    return out


def rows_numpy(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """An Arrow column as numpy (nulls become NaN for numbers, None for objects)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


def positive_int(params: Mapping[str, Any], key: str) -> int:
    """``params[key]`` checked to be a positive ``int`` (not a bool), for a signal's ``prepare``.

    Raises:
        ConfigError: naming ``key`` and the value found.
    """
    value = params.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, found {value!r}", field=key)
    return value


def existing_folder(value: Any, what: str) -> str:
    """The real path of the folder ``value`` (``~`` expanded), for a signal's ``prepare``.

    Raises:
        MissingFileError: ``"<what> not found"``, naming ``value`` as given; or ``value`` is a file,
            not a folder (said so).
    """
    path = os.path.realpath(os.path.expanduser(str(value)))
    if os.path.exists(path) and not os.path.isdir(path):
        raise MissingFileError(f"is a file, not a {what}", file=value)
    if not os.path.isdir(path):
        raise MissingFileError(f"{what} not found", file=value)
    return path
