"""Selection by signals: filters, ranking, quotas, dedup, caps, budgets and k-means diversity (issue 16).

Every function takes a :class:`~dataoptim.select.selection.Selection` and returns a new one;
:class:`Selection` exposes them as methods (``sel.where(...)``, ``sel.top_k(...)``...).
A *column* here is any pool column (:data:`dataoptim.records.COLUMNS`), ``row`` (the global row)
or any column of a signal stored beside the pool (:mod:`dataoptim.signals`; computed with
``dataoptim signals compute``). ``width`` / ``height`` are the pool's values where it has them,
else the ``images`` signal's (pools built from DataOptim's converted JSON hold none).

Group keys (``per``, quotas, weights) are ``source`` or ``task``. Randomness is
``numpy.random.default_rng`` seeded from ``seed`` (and a group's name where groups draw apart),
so a result depends only on its inputs.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from dataoptim import catalog, records
from dataoptim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.select.selection import Selection

#: What fills each signal column (for the error on a column null in every record).
_FILLED_BY_POOL = {"width": "images", "height": "images"}
#: Names accepted by ``dedup(by=...)`` and the column each reads.
DEDUP_KEYS = {
    "conversation": "conversation_hash",
    "question_image": "question_image_hash",
    "image": "image_hash",
    "image_content": "image_sha1",
    "neardup": "neardup_group",
    "id": "id",
}
GROUPS = ("source", "task")


# ----------------------------------------------------------------------------------------
# reading columns
# ----------------------------------------------------------------------------------------
def available_columns(pool) -> dict[str, str]:
    """Column -> where it comes from (``pool`` or a stored signal's name) for ``pool``."""
    from dataoptim import signals
    from dataoptim.signals.base import stored_signals

    out = {c: "pool" for c in records.COLUMNS}
    out["row"] = "pool"
    for name in stored_signals(pool):
        try:
            columns = signals.columns_of(name)
        except ConfigError:
            continue
        for column in columns:
            out.setdefault(column, name)
    return out


def _compute_hint(column: str) -> str:
    from dataoptim import signals

    owner = _FILLED_BY_POOL.get(column) or signals.column_owners().get(column)
    if owner is None:
        return ""
    extra = {"images": " --image-folder DIR", "tokens": " --tokenizer DIR", "clip": " --model CLIP", "loss": " --model LLAVA", "embed": " --model CLIP"}.get(owner, "")
    return f"; it is filled by the {owner!r} signal: `dataoptim signals compute --pool POOL --signal {owner}{extra}`"


def read_columns(pool, names: Sequence[str], rows: np.ndarray):
    """The values of columns ``names`` at global ``rows`` as a polars DataFrame (one row per entry of ``rows``).

    Raises:
        ConfigError: a column that neither the pool nor any stored signal has (naming what would fill it).
    """
    import polars as pl

    from dataoptim import signals

    rows = np.asarray(rows, dtype=np.int64)
    have = available_columns(pool)
    data: dict[str, Any] = {}
    pool_columns = []
    by_signal: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        if name == "row":
            data[name] = rows
        elif name == "source":
            data[name] = np.array(pool.sources, dtype=object)[pool.source_of_rows(rows)] if len(pool.parts) else np.zeros(0, dtype=object)
        elif name == "task":
            data[name] = np.array([p.task for p in pool.parts], dtype=object)[pool.source_of_rows(rows)] if len(pool.parts) else np.zeros(0, dtype=object)
        elif name in records.COLUMNS:
            pool_columns.append(name)
        elif name in have:
            by_signal.setdefault(have[name], []).append(name)
        else:
            raise ConfigError(f"unknown column {name!r}: not a pool column ({', '.join(records.COLUMNS)}) nor of a stored signal{_compute_hint(name)}", field=name)
    if pool_columns:
        table = pool.rows_table(rows, columns=pool_columns)
        for name in pool_columns:
            data[name] = table.column(name)
    for signal, columns in by_signal.items():
        table = signals.load(pool, signal)
        taken = table.select(columns).take(pa.array(rows))
        for name in columns:
            data[name] = taken.column(name)
    for name in ("width", "height"):
        if name in data and have.get(f"image_{name}") == "images":
            column = data[name]
            if column.null_count:
                fill = signals.load(pool, "images").column(f"image_{name}").take(pa.array(rows))
                import pyarrow.compute as pc

                data[name] = pc.coalesce(column, fill.cast(column.type))
    frame = pl.DataFrame({k: (pl.from_arrow(v) if isinstance(v, (pa.Array, pa.ChunkedArray)) else pl.Series(k, v)) for k, v in data.items()})
    return frame.select(list(dict.fromkeys(names)))


def _check_not_all_null(frame, names: Sequence[str]) -> None:
    for name in names:
        if frame.height and frame[name].null_count() == frame.height:
            raise ConfigError(f"column {name!r} is null in every record, so a filter on it would select nothing{_compute_hint(name) or ' (no signal fills it)'}", field=name)


def _group_keys(selection: "Selection", per: str | None) -> np.ndarray | None:
    if per is None:
        return None
    if per not in GROUPS:
        raise ConfigError(f"per must be one of {', '.join(GROUPS)}, found {per!r}", field="per")
    parts = selection.pool.parts
    names = np.array([p.name if per == "source" else p.task for p in parts], dtype=object)
    return names[selection.pool.source_of_rows(selection.rows)] if len(parts) else np.zeros(0, dtype=object)


def _like(selection: "Selection", rows: np.ndarray, label: str, **report) -> "Selection":
    from dataoptim.select.selection import Selection

    return Selection(selection.pool, np.asarray(rows, dtype=np.int64), name=f"{selection.name} [{label}]", report=report)


def _count(value: Any, field: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{field} must be a non-negative integer, found {value!r}", field=field)
    return int(value)


# ----------------------------------------------------------------------------------------
# filters and ranking
# ----------------------------------------------------------------------------------------
def where(selection: "Selection", condition: Any) -> "Selection":
    """The records for which ``condition`` holds (null counts as false), in order.

    Args:
        condition: an SQL expression over columns and signals (``"answer_words > 5 AND NOT flagged"``,
            parsed by ``polars.sql_expr``), or a polars expression (``pl.col("clip_score") > 0.3``).

    Raises:
        ConfigError: an expression that does not parse or evaluate; an unknown column; a column that
            is null in every selected record (naming the column and the signal that fills it).
    """
    import polars as pl

    if isinstance(condition, str):
        try:
            expr = pl.sql_expr(condition)
        except Exception as exc:  # noqa: BLE001 - polars raises several parse error types
            raise ConfigError(f"where expression {condition!r} does not parse: {' '.join(str(exc).split())[:300]}", field="where") from None
    elif isinstance(condition, pl.Expr):
        expr = condition
    else:
        raise ConfigError(f"where must be an SQL expression string or a polars expression, found {type(condition).__name__}", field="where")
    names = expr.meta.root_names()
    frame = read_columns(selection.pool, names, selection.rows)
    _check_not_all_null(frame, names)
    try:
        mask = frame.select(expr.fill_null(False).alias("m"))["m"]
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"where expression {condition!r} cannot be evaluated: {' '.join(str(exc).split())[:300]}", field="where") from None
    if mask.dtype == pl.Null:  # a bare NULL: false for every record, as null counts as false
        mask = pl.Series("m", [False] * len(mask), dtype=pl.Boolean)
    if mask.dtype != pl.Boolean:
        raise ConfigError(f"where expression {condition!r} gives {mask.dtype}, not true/false", field="where")
    keep = mask.to_numpy().astype(bool) if len(mask) else np.zeros(0, dtype=bool)
    if len(keep) == 1 and len(selection.rows) != 1:  # a constant (TRUE, 1=1, FALSE): the same for every record
        keep = np.full(len(selection.rows), bool(keep[0]))
    return _like(selection, selection.rows[keep], f"where {condition}")


def _numeric_values(series) -> np.ndarray | None:
    """The values of a numeric column without nulls or NaN as a signed/float numpy array (else None)."""
    if not series.dtype.is_numeric() or series.null_count():
        return None
    values = series.to_numpy()
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            return None
    elif values.dtype.kind == "u":
        if values.dtype.itemsize >= 8 and len(values) and values.max() > np.iinfo(np.int64).max:
            return None
        values = values.astype(np.int64)
    elif values.dtype.kind != "i":
        return None
    return values


def _best_positions(values: np.ndarray, k: int, descending: bool) -> np.ndarray:
    """The positions of the ``k`` largest (smallest) ``values``, best first, ties by position (as a stable sort)."""
    n = len(values)
    if descending:
        key = ~values if values.dtype.kind == "i" else -values  # ~x = -x - 1: order-reversing without overflow
    else:
        key = values
    if k < n:
        kth = np.partition(key, k - 1)[k - 1] if k else None
        candidates = np.flatnonzero(key <= kth) if k else np.zeros(0, dtype=np.int64)
        order = candidates[np.argsort(key[candidates], kind="stable")]
        return order[:k]
    return np.argsort(key, kind="stable")


def _order(frame, by: str, descending: bool, seed: int = 0) -> np.ndarray:
    """Positions sorted by ``by`` (nulls last; ties by position, a stable sort)."""
    import polars as pl

    if frame[by].dtype.is_nested():
        raise ConfigError(f"column {by!r} holds lists; sort by a number or a string", field="by")
    values = _numeric_values(frame[by])
    if values is not None:
        return _best_positions(values, len(values), descending)
    ranked = frame.with_row_index("_pos").sort([by, "_pos"], descending=[descending, False], nulls_last=True, maintain_order=True)
    return ranked["_pos"].to_numpy().astype(np.int64)


def sort_by(selection: "Selection", by: str, *, descending: bool = True, per: str | None = None) -> "Selection":
    """The same records ordered by column ``by`` (largest first unless ``descending=False``; nulls last,
    ties in the present order). With ``per`` (``source``/``task``) each group is sorted within its place:
    groups keep the order of their first record."""
    frame = read_columns(selection.pool, [by], selection.rows)
    _check_not_all_null(frame, [by])
    order = _order(frame, by, descending)
    keys = _group_keys(selection, per)
    if keys is not None:
        order = _per_group(keys, order)
    return _like(selection, selection.rows[order], f"sorted by {by}")


def _group_codes(keys: np.ndarray) -> np.ndarray:
    """Integer code of each position's key, numbered in order of the key's first appearance (vectorised)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _per_group(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``order`` regrouped: groups in order of first appearance (by position), each in ``order``'s order."""
    codes = _group_codes(keys)
    return order[np.argsort(codes[order], kind="stable")]


def _first_n_per_group(codes: np.ndarray, order: np.ndarray, n: int) -> np.ndarray:
    """The positions of ``order`` that are among the first ``n`` of their group (``codes``) in that order;
    returned grouped (groups by code), each group in ``order``'s order."""
    grouped = order[np.argsort(codes[order], kind="stable")]
    g = codes[grouped]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1] if len(g) else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.r_[starts, len(g)])
    rank = np.arange(len(g)) - np.repeat(starts, lengths)
    return grouped[rank < n]


def top_k(selection: "Selection", k: int, by: str, *, descending: bool = True, per: str | None = None) -> "Selection":
    """The ``k`` records with the largest ``by`` (smallest with ``descending=False``), best first;
    with ``per`` the ``k`` best of every source or task (groups in order of first appearance).

    Records whose ``by`` is null are never picked. Ties go to the earlier record.

    Raises:
        ConfigError: ``k`` not a non-negative integer; unknown or all-null column.
    """
    k = _count(k, "k")
    frame = read_columns(selection.pool, [by], selection.rows)
    _check_not_all_null(frame, [by])
    values = _numeric_values(frame[by]) if per is None else None
    if values is not None:  # numbers without nulls: a partial selection, O(n) (no full sort)
        picked = _best_positions(values, min(k, len(values)), descending)
        return _like(selection, selection.rows[picked], f"top {k} by {by}")
    order = _order(frame, by, descending)
    valid = ~frame[by].is_null().to_numpy()
    order = order[valid[order]]
    keys = _group_keys(selection, per)
    if keys is None:
        picked = order[:k]
    else:
        picked = _first_n_per_group(_group_codes(keys), order, k)
    return _like(selection, selection.rows[picked], f"top {k} by {by}" + (f" per {per}" if per else ""))


def quotas(selection: "Selection", counts: Mapping[str, int], *, by: str | None = None, order_by: str | None = None,
           descending: bool = True, seed: int = 0) -> "Selection":
    """Exactly ``counts[key]`` records of every source or task ``key`` (keys not named: none).

    Within a key the records are the best by ``order_by`` when given, else a seeded random draw
    (``default_rng([seed, crc32(key)])``) kept in selection order.

    Raises:
        ConfigError: a key with fewer records than its quota (naming it, asked and available);
            keys that are neither all sources nor all tasks; bad counts.
    """
    from dataoptim.select.checks import check_seed

    seed = check_seed(seed)
    if not isinstance(counts, Mapping) or not counts:
        raise ConfigError("quotas must be a non-empty mapping of source or task -> count", field="quotas")
    by = by or ("source" if all(k in catalog.SOURCES for k in counts) else "task" if all(k in records.TASKS for k in counts) else None)
    if by not in GROUPS:
        raise ConfigError(f"quota keys must all be sources or all be tasks, found {', '.join(map(repr, counts))}", field="quotas")
    keys = _group_keys(selection, by)
    score_order = None
    if order_by is not None:
        frame = read_columns(selection.pool, [order_by], selection.rows)
        _check_not_all_null(frame, [order_by])
        score_order = _order(frame, order_by, descending)
    picked = []
    for key, count in counts.items():
        count = _count(count, f"quotas[{key}]")
        members = np.flatnonzero(keys == key)
        if count > len(members):
            raise ConfigError(f"quota asks {count:,} records of {by} {key!r} but the selection has {len(members):,}", field="quotas")
        if score_order is not None:
            inside = score_order[np.isin(score_order, members)]
            picked.append(inside[:count])
        else:
            rng = np.random.default_rng([seed, zlib.crc32(str(key).encode())])
            picked.append(np.sort(rng.choice(members, count, replace=False)))
    rows = selection.rows[np.concatenate(picked)] if picked else np.zeros(0, dtype=np.int64)
    return _like(selection, rows, f"quotas by {by}", quotas={k: int(v) for k, v in counts.items()})


# ----------------------------------------------------------------------------------------
# duplicates and caps
# ----------------------------------------------------------------------------------------
def dedup(selection: "Selection", by: str | Sequence[str] = "conversation", *, keep: str = "first", score: str | None = None,
          descending: bool = True) -> "Selection":
    """One record per group of equal keys.

    Args:
        by: ``conversation`` (exact conversation hash), ``question_image`` (normalised question +
            image), ``image`` (same image path), ``image_content`` (same file bytes, ``images``
            signal), ``neardup`` (MinHash group), ``id``, or any column name(s) (a list: all equal).
        keep: ``first`` (the earliest in this selection's order) or ``best`` (the largest ``score``;
            smallest with ``descending=False``; ties to the earlier).
        score: the column ranking records for ``keep="best"``.

    Returns:
        The kept records, in this selection's order; ``report["removed"]`` counts the others.

    Raises:
        ConfigError: bad ``keep``, ``best`` without ``score``, unknown columns.
    """
    import polars as pl

    if keep not in ("first", "best"):
        raise ConfigError(f"keep must be 'first' or 'best', found {keep!r}", field="keep")
    if keep == "best" and score is None:
        raise ConfigError("keep='best' needs score=COLUMN (the column that ranks the records of a group)", field="score")
    names = [by] if isinstance(by, str) else list(by)
    if not names:
        raise ConfigError("dedup needs at least one key", field="by")
    columns = [DEDUP_KEYS.get(n, n) for n in names]
    frame = read_columns(selection.pool, columns + ([score] if keep == "best" else []), selection.rows)
    _check_not_all_null(frame, columns)
    if keep == "best":
        _check_not_all_null(frame, [score])
        order = _order(frame, score, descending)
    else:
        order = np.arange(frame.height, dtype=np.int64)
    ranked = frame[columns].with_row_index("_pos")
    if keep == "best" and frame.height:
        ranked = ranked[order]
    firsts = ranked.unique(subset=columns, keep="first", maintain_order=True)["_pos"].to_numpy()
    positions = np.sort(firsts.astype(np.int64))
    return _like(selection, selection.rows[positions], f"dedup by {'+'.join(names)}", removed=int(len(selection.rows) - len(positions)))


def cap_per_image(selection: "Selection", n: int, *, score: str | None = None, descending: bool = True) -> "Selection":
    """At most ``n`` records per image (records without an image are all kept).

    The kept ones are the first ``n`` in this selection's order, or the best ``n`` by ``score``.
    """
    n = _count(n, "n")
    frame = read_columns(selection.pool, ["image"] + ([score] if score else []), selection.rows)
    order = _order(frame, score, descending) if score else np.arange(frame.height, dtype=np.int64)
    has_image = ~frame["image"].is_null().to_numpy()
    keep = ~has_image  # records without an image are all kept
    with_image = np.flatnonzero(has_image)
    if len(with_image):
        codes = np.full(frame.height, -1, dtype=np.int64)
        codes[with_image] = _group_codes(frame["image"].to_numpy()[with_image])
        kept = _first_n_per_group(codes, order[has_image[order]], n)
        keep[kept] = True
    return _like(selection, selection.rows[keep], f"at most {n} per image", removed=int((~keep).sum()))


# ----------------------------------------------------------------------------------------
# budgets
# ----------------------------------------------------------------------------------------
def group_probabilities(sizes: Mapping[str, int], tasks: Mapping[str, str], weights: Mapping[str, float] | None, temperature: float) -> dict[str, float]:
    """Share of each source: ``p_s ∝ (w_source(s) · w_task(task(s)) · n_s) ** (1 / temperature)``.

    A weight key is a source or a task name; a source or task not named weighs 1; weight 0 leaves
    it out. ``temperature`` 1 is proportional to size × weight; larger flattens towards uniform
    (Arivazhagan et al. 2019, "Massively Multilingual Neural Machine Translation", temperature sampling).

    Raises:
        ConfigError: a key that is neither a source nor a task of the pool, a negative or non-finite
            weight, a temperature that is not a positive number, all weights zero.
    """
    import math

    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ConfigError(f"temperature must be a positive number, found {temperature!r}", field="temperature")
    weights = dict(weights or {})
    for key, value in weights.items():
        if key not in sizes and key not in set(tasks.values()):
            raise ConfigError(f"weight key {key!r} is neither a source nor a task of the selection (sources: {', '.join(sizes)})", field="weights")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"weight of {key!r} must be a finite number >= 0, found {value!r}", field="weights")
    raw = {}
    for source, n in sizes.items():
        w = float(weights.get(source, 1.0)) * float(weights.get(tasks[source], 1.0))
        raw[source] = (w * n) ** (1.0 / temperature) if w * n > 0 else 0.0
    total = sum(raw.values())
    if total <= 0:
        raise ConfigError("every source has weight 0 (or no records): nothing to sample", field="weights")
    return {k: v / total for k, v in raw.items()}


def _capped_split(probabilities: Mapping[str, float], capacity: Mapping[str, float], total: float, integer: bool) -> dict[str, float]:
    """Split ``total`` by ``probabilities``, no key above its ``capacity``; what a full key cannot take goes to the others."""
    from dataoptim.select.selection import largest_remainder

    alloc = {k: 0.0 for k in probabilities}
    open_keys = [k for k in probabilities if probabilities[k] > 0 and capacity[k] > 0]
    left = total
    while left > 0 and open_keys:
        weights = [probabilities[k] for k in open_keys]
        shares = largest_remainder(weights, int(left)) if integer else [left * w / sum(weights) for w in weights]
        full = []
        for k, share in zip(open_keys, shares):
            room = capacity[k] - alloc[k]
            take = min(share, room)
            alloc[k] += take
            left -= take
            if alloc[k] >= capacity[k]:
                full.append(k)
        if not full:
            break
        open_keys = [k for k in open_keys if k not in full]
    return alloc


def sample(selection: "Selection", *, budget: int | None = None, budget_tokens: int | None = None, weights: Mapping[str, float] | None = None,
           temperature: float = 1.0, seed: int = 0, token_column: str = "total_tokens") -> "Selection":
    """A seeded sample under a record budget or a token budget, split over sources by weight and temperature.

    Args:
        budget: records to draw (at most the selection's; fewer only if every source is used up).
        budget_tokens: tokens to draw (``token_column`` of the ``tokens`` signal); the sum of the picked
            records' tokens is never above it.
        weights: source and/or task -> weight (combined: a source's weight times its task's); see
            :func:`group_probabilities`.
        temperature: 1 = proportional to size × weight; larger flattens the mixture.
        seed: seed; each source draws from ``default_rng([seed, crc32(source)])``.
        token_column: the column counting a record's tokens.

    Returns:
        The sample in selection order within each source, sources in pool order;
        ``report["sampled"]`` holds records (and tokens) per source.

    Token budgets: each source gets ``budget_tokens · p_s`` tokens and takes records in its seeded
    random order while they fit; the tokens left (sources too small, records too long) are then
    filled from the remaining records of every source of weight above 0, in one seeded random
    order, each taken if it fits.

    Raises:
        ConfigError: neither or both budgets; bad weights, temperature or seed; missing token column.
    """
    from dataoptim.select.checks import check_seed

    seed = check_seed(seed)
    if (budget is None) == (budget_tokens is None):
        raise ConfigError("give exactly one of budget (records) or budget_tokens", field="budget")
    uniq = selection.unique()
    keys = _group_keys(uniq, "source")
    sizes = {p.name: int((keys == p.name).sum()) for p in selection.pool.parts}
    sizes = {k: v for k, v in sizes.items() if v}
    tasks = {p.name: p.task for p in selection.pool.parts}
    if not sizes:
        return _like(selection, np.zeros(0, dtype=np.int64), "sample (empty)", sampled={})
    probabilities = group_probabilities(sizes, tasks, weights, temperature)
    orders = {}
    for source in sizes:
        members = np.flatnonzero(keys == source)
        rng = np.random.default_rng([seed, zlib.crc32(source.encode())])
        orders[source] = members[rng.permutation(len(members))]
    chosen: dict[str, np.ndarray] = {}
    report: dict[str, Any] = {}
    if budget is not None:
        budget = _count(budget, "budget")
        alloc = _capped_split(probabilities, {k: float(v) for k, v in sizes.items()}, float(min(budget, sum(sizes.values()))), integer=True)
        for source, n in alloc.items():
            chosen[source] = orders[source][: int(n)]
        report = {s: int(len(v)) for s, v in chosen.items()}
    else:
        budget_tokens = _count(budget_tokens, "budget_tokens")
        frame = read_columns(selection.pool, [token_column], uniq.rows)
        _check_not_all_null(frame, [token_column])
        tokens = frame[token_column].fill_null(np.iinfo(np.int64).max).to_numpy().astype(np.int64)
        capacity = {s: float(tokens[orders[s]].sum()) for s in sizes}
        alloc = _capped_split(probabilities, capacity, float(budget_tokens), integer=False)
        used = 0
        taken_mask = np.zeros(len(tokens), dtype=bool)
        for source in sizes:
            order = orders[source]
            cum = np.cumsum(tokens[order])
            n = int(np.searchsorted(cum, alloc[source], side="right"))
            taken_mask[order[:n]] = True
            used += int(cum[n - 1]) if n else 0
        left = budget_tokens - used
        allowed = np.zeros(len(tokens), dtype=bool)
        for source in sizes:
            if probabilities[source] > 0:
                allowed[orders[source]] = True
        rest = np.flatnonzero(~taken_mask & allowed)  # weight 0 keeps a source out of the fill too
        rest = rest[np.random.default_rng([seed, 1]).permutation(len(rest))]
        for pos in rest:
            if left <= 0:
                break
            if tokens[pos] <= left:
                taken_mask[pos] = True
                left -= int(tokens[pos])
        for source in sizes:
            members = orders[source]
            chosen[source] = members[taken_mask[members]]
        report = {s: {"records": int(len(v)), "tokens": int(tokens[v].sum())} for s, v in chosen.items()}
    rows = np.concatenate([uniq.rows[np.sort(v)] for v in chosen.values()]) if chosen else np.zeros(0, dtype=np.int64)
    label = f"sample {budget:,} records" if budget is not None else f"sample {budget_tokens:,} tokens"
    return _like(selection, rows, label, sampled=report, seed=seed, temperature=temperature)


# ----------------------------------------------------------------------------------------
# diversity
# ----------------------------------------------------------------------------------------
def kmeans_clusters(vectors: np.ndarray, k: int, *, seed: int = 0) -> np.ndarray:
    """Cluster of each row of ``vectors`` (``n × d`` float) by k-means (scikit-learn ``KMeans``, k-means++,
    one initialisation, ``random_state=seed``; L2-normalised rows, so it clusters by cosine similarity)."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        raise ConfigError("k-means selection needs scikit-learn: pip install 'dataoptim[signals]'") from None
    x = np.asarray(vectors, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = max(1, min(int(k), len(x)))
    return KMeans(n_clusters=k, n_init=1, random_state=int(seed)).fit_predict(x).astype(np.int64)


def kmeans_diverse(selection: "Selection", budget: int, *, clusters: int, column: str = "embedding", score: str | None = None,
                   descending: bool = True, seed: int = 0) -> "Selection":
    """``budget`` records spread over ``clusters`` k-means clusters of ``column`` (an embedding signal).

    Every cluster gets an equal quota (a cluster too small gives its leftover to the others,
    :func:`_capped_split`); inside a cluster the records are the best by ``score`` or a seeded draw.
    COINCIDE (Lee et al. 2024, "Concept-skill transferability-based data selection for large
    vision-language models") clusters and samples across clusters for coverage; this is the
    coverage part with equal quotas.

    Returns:
        The picked records in selection order; ``report["clusters"]`` holds records per cluster.

    Raises:
        ConfigError: a column that is not a list of numbers; bad budget or cluster count.
    """
    from dataoptim.select.checks import check_seed

    seed = check_seed(seed)
    budget = _count(budget, "budget")
    clusters = _count(clusters, "clusters")
    if clusters < 1:
        raise ConfigError("clusters must be at least 1", field="clusters")
    uniq = selection.unique()
    frame = read_columns(selection.pool, [column] + ([score] if score else []), uniq.rows)
    _check_not_all_null(frame, [column])
    series = frame[column]
    if not series.dtype.is_nested():
        raise ConfigError(f"column {column!r} is not an embedding (a list of numbers per record)", field="column")
    valid = ~series.is_null().to_numpy()
    positions = np.flatnonzero(valid)
    present = series.filter(series.is_not_null())
    lengths = present.list.len().to_numpy()
    if len(lengths) and (lengths.min() != lengths.max() or lengths.min() == 0):
        raise ConfigError(f"column {column!r} holds vectors of different lengths ({int(lengths.min())} to {int(lengths.max())})", field="column")
    flat = present.explode().to_numpy().astype(np.float32)
    vectors = flat.reshape(len(present), int(lengths[0]) if len(lengths) else 0)
    labels = kmeans_clusters(vectors, clusters, seed=seed)
    names = sorted(set(labels.tolist()))
    sizes = {c: int((labels == c).sum()) for c in names}
    alloc = _capped_split({c: 1.0 for c in names}, {c: float(v) for c, v in sizes.items()}, float(min(budget, len(labels))), integer=True)
    order = _order(frame, score, descending) if score else None
    picked = []
    for c in names:
        members = positions[labels == c]
        n = int(alloc[c])
        if order is not None:
            inside = order[np.isin(order, members)]
            picked.append(inside[:n])
        else:
            rng = np.random.default_rng([seed, int(c)])
            picked.append(rng.choice(members, n, replace=False))
    chosen = np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
    return _like(selection, uniq.rows[chosen], f"k-means {clusters} clusters, {budget:,} records", clusters={int(c): int(alloc[c]) for c in names})
