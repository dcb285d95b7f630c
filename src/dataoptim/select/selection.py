"""Selections: an ordered list of pool rows, with filters, mixtures, set operations and export (DESIGN §7).

A :class:`Selection` is cheap: a pool and an int64 array of global rows in
output order (a repeated row is a repeated sample). Nothing is read until a
filter looks at a column or the selection is exported.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from dataoptim import catalog, records
from dataoptim import words
from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.select.checks import as_names, as_path, check_count, check_output_path, check_seed
from dataoptim.select.pool import Pool
from dataoptim.select.summary import Summary, SummaryBuilder, token_totals


#: Rows of a selection whose ids :meth:`Selection.write_ids` reads at a time.
IDS_PER_READ = 1 << 20


def read_image_list(images: str | os.PathLike | Iterable[str]) -> list[str]:
    """Image paths to exclude: a text file (one path per line) or an iterable of paths.

    Raises:
        MissingFileError: no such file.
        InputError: the file is not UTF-8 text (a binary file given by mistake) or cannot be read.
        ConfigError: a folder, or neither a path nor an iterable of strings.
    """
    if isinstance(images, (str, os.PathLike)):
        path = Path(images).expanduser()
        if path.is_dir():
            raise ConfigError("image list must be a file of image paths (one per line), found a folder", file=path, field="exclude_images")
        if not path.is_file():
            raise MissingFileError("image list file not found", file=path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"image list is not UTF-8 text (byte {exc.start} cannot be read); give a text file of image paths, one per line", file=path) from None
        except OSError as exc:
            raise InputError(f"image list cannot be read ({exc.strerror or exc})", file=path) from None
        if "\x00" in text:
            raise InputError("image list is not text (it holds NUL bytes); give a text file of image paths, one per line", file=path)
        return [line.strip().lstrip("\ufeff").strip() for line in text.splitlines() if line.strip().lstrip("\ufeff").strip()]
    if isinstance(images, bytes) or not isinstance(images, Iterable):
        raise ConfigError(f"exclude_images must be a file of image paths or a list of them, got {type(images).__name__}", field="exclude_images")
    out = list(images)
    bad = [i for i in out if not isinstance(i, (str, os.PathLike))]
    if bad:
        raise ConfigError(f"exclude_images must hold image paths (strings), found {bad[0]!r}", field="exclude_images")
    return [str(i) for i in out]


def largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Split ``total`` into integer counts proportional to ``weights`` (sum exactly ``total``).

    Hamilton's largest-remainder method: floors first, then one more to the
    largest fractional parts (ties to the earlier key).
    """
    w = np.asarray(weights, dtype=float)
    exact = w / w.sum() * total
    counts = np.floor(exact).astype(np.int64)
    left = int(total - counts.sum())
    if left:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:left]] += 1
    return [int(c) for c in counts]


class Selection:
    """Records chosen from a :class:`~dataoptim.select.pool.Pool`, in output order.

    Attributes:
        pool: the pool.
        rows: int64 global rows in output order (repeats are repeated samples).
        name: a label for summaries and plots.
        report: what produced it (ids read, unknown skipped, repeats, mixture counts).
        file: the id file it was read from (:meth:`Pool.by_ids`), whose records' positions
            errors name; None for any other selection (a derived one included).

    Operators (set semantics on rows, order kept):
        ``a | b`` union (``a``'s order, then ``b``'s new rows; each row once);
        ``a & b`` rows of ``a`` also in ``b``; ``a - b`` rows of ``a`` not in ``b``;
        ``a + b`` concatenation (repeats kept).
    """

    def __init__(self, pool: Pool, rows: np.ndarray, *, name: str = "selection", report: Mapping[str, Any] | None = None, file: str | None = None):
        self.pool = pool
        self.rows = np.asarray(rows, dtype=np.int64)
        self.name = name
        self.report: dict[str, Any] = dict(report or {})
        self.file = file

    # -- basics -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Selection({self.name!r}, {len(self):,} records from {self.pool.path})"

    def _like(self, rows: np.ndarray, name: str, **report) -> "Selection":
        return Selection(self.pool, rows, name=name, report=report)

    def _check_same_pool(self, other: "Selection") -> None:
        if not isinstance(other, Selection):
            raise ConfigError(f"a Selection combines only with another Selection (|, &, -, +), got {type(other).__name__}")
        if other.pool is not self.pool and Path(other.pool.path).resolve() != Path(self.pool.path).resolve():
            raise ConfigError("selections come from different pools")

    def __or__(self, other: "Selection") -> "Selection":
        self._check_same_pool(other)
        both = np.concatenate([self.rows, other.rows])
        _, first = np.unique(both, return_index=True)
        return self._like(both[np.sort(first)], f"{self.name} | {other.name}")

    def __and__(self, other: "Selection") -> "Selection":
        self._check_same_pool(other)
        return self._like(self.rows[np.isin(self.rows, other.rows)], f"{self.name} & {other.name}")

    def __sub__(self, other: "Selection") -> "Selection":
        self._check_same_pool(other)
        return self._like(self.rows[~np.isin(self.rows, other.rows)], f"{self.name} - {other.name}")

    def __add__(self, other: "Selection") -> "Selection":
        self._check_same_pool(other)
        return self._like(np.concatenate([self.rows, other.rows]), f"{self.name} + {other.name}")

    def unique(self) -> "Selection":
        """The same records, each once (first occurrence kept, order kept)."""
        _, first = np.unique(self.rows, return_index=True)
        return self._like(self.rows[np.sort(first)], self.name)

    def shuffle(self, seed: int = 0) -> "Selection":
        """The same records in a seeded random order (``numpy.random.default_rng(seed)``)."""
        return self._like(np.random.default_rng(check_seed(seed)).permutation(self.rows), self.name, **self.report)

    def sample(self, n: int, *, seed: int = 0, replace: bool = False) -> "Selection":
        """``n`` records drawn at random (seeded), kept in this selection's order.

        Raises:
            ConfigError: ``n`` larger than the selection without replacement, negative or not an integer;
                a seed that is not a non-negative integer.
        """
        n = check_count(n, field="n")
        seed = check_seed(seed)
        if not replace and n > len(self):
            raise ConfigError(f"cannot sample {n:,} of {len(self):,} records without replacement")
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(self), n) if replace else np.sort(rng.choice(len(self), n, replace=False))
        return self._like(self.rows[picks], f"{self.name} (sample {n:,})")

    # -- reading -------------------------------------------------------------------------------
    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The selected records as an in-memory Arrow table, in order (all columns unless ``columns``)."""
        return self.pool.rows_table(self.rows, columns)

    def head(self, n: int = 5) -> list[dict[str, Any]]:
        """The first ``n`` records as dicts."""
        return self.pool.rows_table(self.rows[: check_count(n, field="n")]).to_pylist()

    def ids(self) -> list[str]:
        """The ids, in order (a list of ``str``)."""
        return self.table(["id"]).column("id").to_pylist()

    def images(self) -> list[str]:
        """Distinct image paths of the selection, sorted."""
        import pyarrow.compute as pc

        uniq = [pc.unique(b.column("image")) for b, _, _ in _iter(self, ["image"])]
        if not uniq:
            return []
        return sorted(pc.unique(pa.concat_arrays(uniq)).drop_null().to_pylist())

    def box_frames(self) -> dict[str, str]:
        """Frame of the boxes of each source in the selection that has boxes (no data read).

        ``{"ref3rec": "original", "llava_v1.5": "padded"}``: DataOptim normalises boxes by the
        original image, except LLaVA-v1.5's, which are in LLaVA's padded square (DataOptim
        README; LLaVA issue 606). A trainer that pads images (``image_aspect_ratio pad``) or
        a box conversion reads this to treat each source as it is.
        """
        return {name: frame for name in self.source_counts() if (frame := catalog.box_frame_of(name)) is not None}

    def source_counts(self) -> dict[str, int]:
        """Records per source (no data read: sources are row ranges)."""
        counts = self.pool.rows_per_source(self.rows)
        return {p.name: int(c) for p, c in zip(self.pool.parts, counts) if c}

    # -- filters ------------------------------------------------------------------------------
    def filter(
        self,
        *,
        source: str | Iterable[str] | None = None,
        task: str | Iterable[str] | None = None,
        where: Any = None,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        exclude_images: str | os.PathLike | Iterable[str] | None = None,
        image_match: str = "path",
        **columns: Any,
    ) -> "Selection":
        """The records that pass every filter given, in this selection's order.

        Args:
            source: a source name or names (``"vqav2"``, ``["gqa", "okvqa"]``).
            task: a task or tasks (``"vqa"``, ``"caption"``...; :data:`dataoptim.records.TASKS`).
            where: a ``pyarrow.compute`` expression over the columns
                (``pc.field("width") > 500``,
                ``pc.list_value_length(pc.field("conversations")) > 2``), or a function
                ``f(batch: pyarrow.RecordBatch) -> boolean array`` (vectorised).
            keep: a function ``f(record: dict) -> bool`` called per record (slow; for small selections).
            exclude_images: image paths (or a file of them, one per line) whose records are
                dropped, e.g. the images of an evaluation set.
            image_match: ``"path"`` (the full relative path, ``coco/COCO_val2014_...jpg``) or
                ``"name"`` (the file name only) for ``exclude_images``.
            **columns: ``column=value`` (equality) or ``column=[values]`` (membership) on any
                column of :data:`dataoptim.records.COLUMNS`.

        Raises:
            ConfigError: unknown source, task or column, or a bad ``image_match``.
        """
        import pyarrow.compute as pc

        rows = self.rows
        notes: list[str] = []
        if source is not None:
            names = as_names(source, "source", field="source")
            for n in names:
                self.pool.part(n)
            wanted = [i for i, p in enumerate(self.pool.parts) if p.name in names]
            rows = rows[np.isin(self.pool.source_of_rows(rows), wanted)]
            notes.append(f"source={','.join(names)}")
        if task is not None:
            tasks = as_names(task, "task", field="task")
            unknown = [t for t in tasks if t not in records.TASKS]
            if unknown:
                raise ConfigError(f"unknown {words.plural(len(unknown), 'task')} {', '.join(map(repr, unknown))}; tasks: {', '.join(records.TASKS)}")
            wanted = [i for i, p in enumerate(self.pool.parts) if p.task in tasks]
            rows = rows[np.isin(self.pool.source_of_rows(rows), wanted)]
            notes.append(f"task={','.join(tasks)}")
        for column in columns:
            if column not in records.COLUMNS:
                raise ConfigError(f"unknown column {column!r}; columns: {', '.join(records.COLUMNS)}")
        if image_match not in ("path", "name"):
            raise ConfigError(f"image_match must be 'path' or 'name', got {image_match!r}")
        expression = None
        for column, value in columns.items():
            term = pc.field(column).isin(list(value)) if isinstance(value, (list, tuple, set, frozenset)) else pc.field(column) == value
            expression = term if expression is None else expression & term
        if isinstance(where, pc.Expression):
            expression = where if expression is None else expression & where
            where = None
        elif where is not None and not callable(where):
            raise ConfigError("where must be a pyarrow.compute expression or a function of a record batch")
        excluded = None
        if exclude_images is not None:
            excluded = pa.array(sorted(set(read_image_list(exclude_images))), type=pa.string())
            notes.append(f"minus {len(excluded):,} images")
        if expression is not None or where is not None or excluded is not None:
            mask = self._column_mask(rows, expression, where, excluded, image_match)
            rows = rows[mask[rows]]
            if expression is not None:
                notes.append(str(expression))
        if keep is not None:
            uniq = np.unique(rows)
            passed = np.zeros(len(uniq), dtype=bool)
            for batch, pos, _ in _iter_rows(self.pool, uniq, list(records.COLUMNS)):
                passed[pos] = [bool(keep(r)) for r in batch.to_pylist()]
            rows = rows[np.isin(rows, uniq[passed])]
            notes.append("keep=" + getattr(keep, "__name__", "function"))
        return self._like(rows, f"{self.name} [{'; '.join(notes)}]" if notes else self.name)

    def _column_mask(self, rows, expression, where, excluded, image_match) -> np.ndarray:
        """Boolean mask over all pool rows, evaluated only on the sources that ``rows`` touch."""
        import pyarrow.compute as pc
        import pyarrow.dataset as ds

        mask = np.zeros(self.pool.num_rows, dtype=bool)
        present = np.unique(self.pool.source_of_rows(rows)) if len(rows) else []
        for k in present:
            part = self.pool.parts[int(k)]
            table = self.pool.source_table(part.name)
            local = np.ones(part.rows, dtype=bool)
            if expression is not None:
                try:
                    result = ds.dataset(table).to_table(columns={"m": expression}).column("m")
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                    raise ConfigError(f"filter expression {expression} cannot be evaluated: {exc}") from None
                local &= pc.fill_null(result, False).to_numpy(zero_copy_only=False).astype(bool)
            if where is not None:
                values = []
                for batch in table.to_batches():
                    out = where(batch)
                    out = out.to_numpy(zero_copy_only=False) if isinstance(out, (pa.Array, pa.ChunkedArray)) else np.asarray(out)
                    if out.shape != (batch.num_rows,):
                        raise ConfigError(f"where function returned shape {out.shape}, expected ({batch.num_rows},)")
                    values.append(out.astype(bool))
                local &= np.concatenate(values) if values else local
            if excluded is not None:
                images = table.column("image")
                if image_match == "name":
                    images = pc.replace_substring_regex(images, pattern=r"^.*/", replacement="")
                local &= ~pc.fill_null(pc.is_in(images, value_set=excluded), False).to_numpy(zero_copy_only=False).astype(bool)
            mask[part.start : part.stop] = local
        return mask

    # -- mixtures ----------------------------------------------------------------------------------
    def mix(
        self,
        ratios: Mapping[str, float],
        budget: int,
        *,
        seed: int = 0,
        by: str | None = None,
        replace: bool = False,
        exclude_images: str | os.PathLike | Iterable[str] | None = None,
        shuffle: bool = False,
    ) -> "Selection":
        """A seeded mixture: ``budget`` records split across sources or tasks by ``ratios``.

        Args:
            ratios: key -> weight (weights are normalised to sum 1; ``{"vqav2": 0.5, "llava": 0.5}``).
                Keys are source names or task names.
            budget: total records, ``>= 0``; split by the largest-remainder method so the counts sum exactly.
            seed: seed; each key draws from ``numpy.random.default_rng([seed, crc32(key)])``, so a
                key's draw does not change when other keys are added or reordered.
            by: ``"source"`` or ``"task"``; default: ``"source"`` if every key is a source, ``"task"``
                if every key is a task.
            replace: draw with replacement (a key may then ask for more records than it has).
            exclude_images: images whose records are never drawn (see :meth:`filter`).
            shuffle: shuffle the result (seeded); else keys in the order given, pool order within a key.

        Returns:
            A :class:`Selection`; ``report["mixture"]`` holds the count drawn per key.

        Raises:
            ConfigError: unknown keys, bad weights or budget, or a key with too few records
                without replacement (naming the key, what was asked and what is there).
        """
        if not isinstance(ratios, Mapping):
            raise ConfigError(f"ratios must be a mapping of source or task name -> weight ({{'vqav2': 0.5, 'llava': 0.5}}), got {type(ratios).__name__}", field="ratios")
        if not ratios:
            raise ConfigError("a mixture needs at least one ratio", field="ratios")
        bad_keys = [k for k in ratios if not isinstance(k, str)]
        if bad_keys:
            raise ConfigError(f"ratio keys must be source or task names (strings), found {bad_keys[0]!r}", field="ratios")
        seed = check_seed(seed)
        if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 0:
            raise ConfigError(f"budget must be a non-negative integer, got {budget!r}", field="budget")
        keys = list(ratios)
        weights = []
        for key in keys:
            w = ratios[key]
            if not isinstance(w, (int, float, np.number)) or isinstance(w, bool) or not np.isfinite(w) or w < 0:
                raise ConfigError(f"ratio of {key!r} must be a non-negative finite number, got {w!r}", field="ratios")
            weights.append(float(w))
        if sum(weights) <= 0:
            raise ConfigError(f"ratios sum to zero ({', '.join(f'{k}={ratios[k]}' for k in keys)}): give at least one a positive weight", field="ratios")
        if by is None:
            if all(k in catalog.SOURCES for k in keys):
                by = "source"
            elif all(k in records.TASKS for k in keys):
                by = "task"
            else:
                bad = [k for k in keys if k not in catalog.SOURCES and k not in records.TASKS]
                raise ConfigError(
                    f"mixture keys must all be sources or all be tasks; {', '.join(map(repr, bad or keys))} "
                    f"(sources: {', '.join(catalog.SOURCES)}; tasks: {', '.join(records.TASKS)})"
                )
        if by not in ("source", "task"):
            raise ConfigError(f"by must be 'source' or 'task', got {by!r}")
        pool_keys = {p.name for p in self.pool.parts} if by == "source" else {p.task for p in self.pool.parts}
        missing = [k for k in keys if k not in pool_keys]
        if missing:
            raise ConfigError(f"{words.plural(len(missing), by)} {', '.join(map(repr, missing))} not in the pool (it has: {', '.join(sorted(pool_keys))})")
        base = self.unique() if exclude_images is None else self.unique().filter(exclude_images=exclude_images)
        candidates = np.sort(base.rows)
        owner = self.pool.source_of_rows(candidates)
        counts = largest_remainder(weights, int(budget))
        picked, drawn = [], {}
        for key, count in zip(keys, counts):
            members = [i for i, p in enumerate(self.pool.parts) if (p.name if by == "source" else p.task) == key]
            pool_rows = candidates[np.isin(owner, members)]
            if count == 0:
                drawn[key] = 0
                continue
            if not replace and count > len(pool_rows):
                raise ConfigError(
                    f"mixture asks {count:,} records of {by} {key!r} but only {len(pool_rows):,} are available; "
                    "lower its ratio or the budget, or draw with replacement"
                )
            if len(pool_rows) == 0:
                raise ConfigError(f"{by} {key!r} has no records to draw from")
            rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
            choice = rng.integers(0, len(pool_rows), count) if replace else rng.choice(len(pool_rows), count, replace=False)
            choice.sort()  # in place: a budget of 100M rows holds one array of them, not three
            if int(pool_rows[-1]) - int(pool_rows[0]) == len(pool_rows) - 1:  # a run of consecutive rows (a whole source)
                choice += pool_rows[0]
                picked.append(choice)
            else:
                picked.append(pool_rows[choice])
            del choice
            drawn[key] = count
        rows = picked[0] if len(picked) == 1 else np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
        del picked
        if shuffle:
            rows = np.random.default_rng(int(seed)).permutation(rows)
        spec = ", ".join(f"{k}={ratios[k]:g}" for k in keys)
        return self._like(rows, f"mixture ({spec})", mixture=drawn, seed=int(seed), by=by, replace=bool(replace))

    # -- by signals (dataoptim.select.by_signal) ---------------------------------------------------
    def where(self, condition) -> "Selection":
        """Records where an SQL/polars condition over columns and signals holds: :func:`dataoptim.select.by_signal.where`."""
        from dataoptim.select import by_signal

        return by_signal.where(self, condition)

    def sort_by(self, by: str, **kwargs) -> "Selection":
        """Order by a column or signal: :func:`dataoptim.select.by_signal.sort_by`."""
        from dataoptim.select import by_signal

        return by_signal.sort_by(self, by, **kwargs)

    def top_k(self, k: int, by: str, **kwargs) -> "Selection":
        """The ``k`` best by a column or signal, globally or per source/task: :func:`dataoptim.select.by_signal.top_k`."""
        from dataoptim.select import by_signal

        return by_signal.top_k(self, k, by, **kwargs)

    def quotas(self, counts, **kwargs) -> "Selection":
        """Exact counts per source or task: :func:`dataoptim.select.by_signal.quotas`."""
        from dataoptim.select import by_signal

        return by_signal.quotas(self, counts, **kwargs)

    def dedup(self, by="conversation", **kwargs) -> "Selection":
        """One record per duplicate group: :func:`dataoptim.select.by_signal.dedup`."""
        from dataoptim.select import by_signal

        return by_signal.dedup(self, by, **kwargs)

    def cap_per_image(self, n: int, **kwargs) -> "Selection":
        """At most ``n`` records per image: :func:`dataoptim.select.by_signal.cap_per_image`."""
        from dataoptim.select import by_signal

        return by_signal.cap_per_image(self, n, **kwargs)

    def sample_budget(self, **kwargs) -> "Selection":
        """A weighted, temperature-scaled sample under a record or token budget: :func:`dataoptim.select.by_signal.sample`."""
        from dataoptim.select import by_signal

        return by_signal.sample(self, **kwargs)

    def kmeans(self, budget: int, **kwargs) -> "Selection":
        """``budget`` records spread over k-means clusters of an embedding: :func:`dataoptim.select.by_signal.kmeans_diverse`."""
        from dataoptim.select import by_signal

        return by_signal.kmeans_diverse(self, budget, **kwargs)

    def columns(self, names) -> Any:
        """Values of pool columns and signals for the selection's records, as a polars DataFrame (:func:`dataoptim.select.by_signal.read_columns`)."""
        from dataoptim.select import by_signal

        return by_signal.read_columns(self.pool, [names] if isinstance(names, str) else list(names), self.rows)

    # -- export ------------------------------------------------------------------------------------
    def summary(self, *, tokenizer: str | os.PathLike | None = None) -> Summary:
        """Counts by source and task, distinct images, turns and answer length (reads image and conversations),
        and token sums when the pool has a ``tokens`` signal or ``tokenizer`` is given
        (:func:`dataoptim.select.summary.token_totals`)."""
        builder = SummaryBuilder(self.name)
        for batch, _, k in _iter_rows(self.pool, self.rows, ["id", "image", "conversations"]):
            builder.add_batch(batch, self.pool.parts[k].name)
        out = builder.build(repeats=int(self.report.get("repeats", 0)), skipped_unknown=int(self.report.get("unknown", 0)) if self.report.get("unknown_examples") else 0)
        out.tokens = token_totals(self.pool, self.rows, tokenizer=tokenizer)
        return out

    def plot(self, path: str | os.PathLike | None = None, **kwargs):
        """Draw the composition plot of :meth:`summary` (see :meth:`Summary.plot`)."""
        return self.summary().plot(path, **kwargs)

    def check_images(self, image_folder: str | os.PathLike, *, formats: bool = True, allow_symlinks_out: bool = False):
        """Check every image of the selection under ``image_folder`` (see :func:`dataoptim.select.images.check_images`)."""
        from dataoptim.select.images import check_images

        image_folder = as_path(image_folder, "image folder", field="image_folder")
        return check_images(self.images(), image_folder, formats=formats, allow_symlinks_out=allow_symlinks_out)

    def locate_image(self, image: str) -> tuple[int, str] | None:
        """Position (record index in the output, line of a standard submission's ids) and id of the
        first record whose ``image`` is ``image``; None if there is none. Reads the selection batch by batch."""
        import pyarrow.compute as pc

        best: tuple[int, str] | None = None
        for batch, positions, _ in _iter_rows(self.pool, self.rows, ["id", "image"]):
            hits = np.flatnonzero(pc.equal(batch.column("image"), image).to_numpy(zero_copy_only=False))
            if len(hits):
                i = int(hits[np.argmin(positions[hits])])
                if best is None or int(positions[i]) < best[0]:
                    best = (int(positions[i]), batch.column("id")[i].as_py())
        return best

    def require_images(self, image_folder: str | os.PathLike, *, formats: bool = True, allow_symlinks_out: bool = False, report=None):
        """Check the selection's images (:meth:`check_images`) and raise for the first fault.

        Args:
            image_folder: the image folder.
            formats: also sniff every file's first bytes (corrupt files are refused).
            allow_symlinks_out: follow links that lead out of ``image_folder`` instead of
                refusing them (:mod:`dataoptim.imagepath`).
            report: an :class:`~dataoptim.select.images.ImageReport` already made by
                :meth:`check_images` (to print it first), else it is made here.

        Returns:
            The :class:`~dataoptim.select.images.ImageReport` (mislabelled files are warnings in it).

        Raises:
            UnsafeInputError: an image leads outside the folder through a link (unless
                ``allow_symlinks_out``), naming the first record with it (its position in the
                selection, id, field ``image``).
            MissingFileError: images missing (how many, the first few).
            InputError: an image file is empty or of no image format, naming the first record
                with it and the file.
        """
        report = report if report is not None else self.check_images(image_folder, formats=formats, allow_symlinks_out=allow_symlinks_out)
        if report.unsafe:
            image, exc = report.unsafe[0]
            position, rid = self.locate_image(image) or (None, None)
            raise type(exc)(exc.message, file=self.file, record=position, id=rid, field="image")
        report.raise_for_missing()
        if report.corrupt:
            image, problem = report.corrupt[0]
            position, rid = self.locate_image(image) or (None, None)
            more = f" ({len(report.corrupt):,} corrupt images in all)" if len(report.corrupt) > 1 else ""
            raise InputError(f"image file {image!r} under {report.folder} {problem}{more}", file=self.file, record=position, id=rid, field="image")
        return report

    def counts(self) -> Summary:
        """A summary with counts only (records by source and task), computed without reading any record."""
        builder = SummaryBuilder(self.name)
        builder.records = len(self)
        builder.by_source = self.source_counts()
        return builder.build(repeats=int(self.report.get("repeats", 0)), skipped_unknown=int(self.report.get("unknown", 0)) if self.report.get("unknown_examples") else 0)

    def to_llava_json(self, path: str | os.PathLike, *, image_folder: str | os.PathLike | None = None, progress: bool = False, summary: bool = True,
                      allow_symlinks_out: bool = False, boxes=None, tokenizer: str | os.PathLike | None = None) -> Summary:
        """Write the selection as LLaVA training JSON (``id``, ``image``, ``conversations``), atomically.

        Streams: memory stays bounded (see :mod:`dataoptim.select.materialize`)
        whatever the size of the selection.

        Args:
            path: output ``.json``.
            image_folder: if given, every image must exist there first, and be no empty or
                unknown file (else nothing is written: :meth:`require_images`).
            progress: progress bar on a terminal.
            summary: compute the full summary in the same pass (images, turns, answer
                length); if False only the counts of :meth:`counts` (a little faster).
            allow_symlinks_out: with ``image_folder``, follow links out of it instead of refusing them.
            boxes: a :class:`dataoptim.boxes.BoxMover`: the boxes of the sources it moves are
                written in its frame (``padded``: as DataOptim's ``tools/expand_to_square.py``);
                its :meth:`~dataoptim.boxes.BoxMover.info` goes into the summary's ``boxes``.
            tokenizer: with ``summary``, count tokens with this folder when the pool has no ``tokens``
                signal (the summary's ``tokens``; from the signal when there is one).

        Returns:
            The :class:`Summary` of what was written.

        Raises:
            MissingFileError: images missing under ``image_folder`` (how many, the first few).
            InputError: an image file under ``image_folder`` is empty or of no image format.
            UnsafeInputError: an image leads out of ``image_folder`` through a link (unless allowed).
        """
        from dataoptim.select.materialize import write_llava_json

        path = check_output_path(path, field="path")  # before the (slow) image check, and before anything is written
        self._refuse_own_file(path)
        if tokenizer is not None and summary:  # a folder that holds no tokenizer is said before anything is written
            from dataoptim.signals import tokens as token_signal

            token_signal.prepare({**token_signal.PARAMS, "tokenizer": tokenizer})
        if image_folder is not None:
            self.require_images(image_folder, allow_symlinks_out=allow_symlinks_out)
        transform = None
        if boxes is not None:
            boxes.file = boxes.file or self.file  # errors name the submission (if any), the position in the selection and the id
            transform = lambda batch, pos, k: boxes.batch(batch, pos, self.pool.parts[k].name)  # noqa: E731
        if not summary:
            write_llava_json(self.pool, self.rows, path, progress=progress, transform=transform)
            out = self.counts()
        else:
            builder = SummaryBuilder(self.name)
            write_llava_json(self.pool, self.rows, path, hook=lambda batch, k: builder.add_batch(batch, self.pool.parts[k].name), progress=progress,
                             transform=transform)
            out = builder.build(repeats=int(self.report.get("repeats", 0)), skipped_unknown=int(self.report.get("unknown", 0)) if self.report.get("unknown_examples") else 0)
            out.tokens = token_totals(self.pool, self.rows, tokenizer=tokenizer)
        if boxes is not None:
            out.boxes = boxes.info()
        return out

    def _refuse_own_file(self, path: Path) -> None:
        """ConfigError when ``path`` is the submission file this selection was read from (an id list)."""
        if self.file is not None:
            from dataoptim.io import refuse_overwrite

            refuse_overwrite({"path": path}, {"the submission": self.file})

    def write_ids(self, path: str | os.PathLike) -> Path:
        """Write the ids, one per line (a standard submission), atomically.

        Streams: the ids are read :data:`IDS_PER_READ` rows of the selection at a time.
        """
        from dataoptim.select.ids import write_id_file

        path = check_output_path(path, field="path")
        self._refuse_own_file(path)

        def ids():
            for lo in range(0, len(self.rows), IDS_PER_READ):
                yield from self.pool.rows_table(self.rows[lo : lo + IDS_PER_READ], ["id"]).column("id").to_pylist()

        return write_id_file(ids(), path)


def _iter(selection: Selection, columns: Sequence[str]):
    return _iter_rows(selection.pool, np.unique(selection.rows), columns)


def _iter_rows(pool: Pool, rows: np.ndarray, columns: Sequence[str]):
    from dataoptim.select.materialize import iter_taken

    return iter_taken(pool, rows, columns)

