"""What a selection holds: counts by source and task, images, turns, answer length (DESIGN §7).

:class:`SummaryBuilder` accumulates from Arrow batches of records (vectorised:
a few kernels per batch) or from Python records (BYOD streaming);
:class:`Summary` prints itself as a ``rich`` table and draws a composition plot.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dataoptim import catalog, words


#: Mislabelled image files listed by name in a :class:`Summary` (all are counted).
MISLABELED_SHOWN = 20
#: Records that train nothing under the recipe listed by id in a :class:`Summary` (all are counted).
TRAIN_NOTHING_SHOWN = 20
#: Image paths kept from added batches before they are merged into one distinct set.
IMAGES_MERGED_AT = 1 << 20


@dataclass
class Summary:
    """Composition of a selection.

    Attributes:
        records: number of records (samples; repeats counted).
        by_source: source -> records, in catalog order (ids of no known source under ``other``).
        by_task: task -> records.
        images: distinct image paths.
        text_only: records without an image (LLaVA-v1.5's ShareGPT conversations); counted
            in ``records`` and their source's count, and apart here.
        box_frames: source -> frame of its boxes, for the sources present that have boxes
            (``original``; ``padded`` for LLaVA-v1.5: :attr:`dataoptim.catalog.Source.box_frame`).
        messages: turns in all (human and gpt messages).
        answers: gpt turns.
        answer_chars: characters in all gpt turns.
        repeats: samples that repeat an earlier one (id lists only).
        skipped_unknown: unknown ids dropped on request (id lists only).
        name: what was summarised (a file name, ``mixture``...).
        in_pool: for a BYOD file checked against a pool, how many of its ids are pool ids.
        mislabeled: for a BYOD file checked against an image folder, ``(image, real_format)`` of
            the first :data:`MISLABELED_SHOWN` ``.jpg`` files of another image format (accepted:
            Pillow reads them by content; DESIGN §11), and ``mislabeled_count`` of them in all.
        train_nothing: records that train nothing under the recipe: LLaVA 744cb3e masks every
            label of a record whose text holds the template's separators (``</s>``, ``"[/INST] "``)
            or ``<unk>`` (:func:`dataoptim.template.masked_reason`); ``train_nothing_shown`` lists the
            first :data:`TRAIN_NOTHING_SHOWN` as ``(id, reason)``.
        boxes: for a written selection, which frame its boxes are in and what was moved
            (:meth:`dataoptim.boxes.BoxMover.info`: ``frame``, ``records``, ``boxes``, ``sources``);
            the same as its ``.boxes.json`` sidecar. None when not known.
        tokens: token counts under the recipe's tokenizer, when the pool has a ``tokens`` signal
            (or a tokenizer was given): ``prompt_tokens``, ``answer_tokens``, ``total_tokens``
            (sums over the records, repeats counted; the counts of ``dataoptim tokens``: the
            image as one position, answer = labelled positions after the cut at
            ``model_max_length``), ``by_source``: source -> the same three sums, and
            ``text_only``: the same three sums over the text-only records (which are in the totals
            too), ``truncated``/``train_nothing``: records cut at ``model_max_length``
            positions, and left without any answer token by the cut or LLaVA's mask (two counts
            of ``dataoptim tokens``; absent when read from a tokens signal without them), with
            ``model_max_length``,
            and ``tokenizer``: the folder they were counted with (a BYOD file's records are
            counted as it is read, :class:`TokenTally`). None when not known.
    """

    records: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    by_task: dict[str, int] = field(default_factory=dict)
    images: int = 0
    messages: int = 0
    answers: int = 0
    answer_chars: int = 0
    repeats: int = 0
    skipped_unknown: int = 0
    name: str = "selection"
    in_pool: int | None = None
    mislabeled: list[tuple[str, str]] = field(default_factory=list)
    mislabeled_count: int = 0
    text_only: int = 0
    box_frames: dict[str, str] = field(default_factory=dict)
    train_nothing: int = 0
    train_nothing_shown: list[tuple[str, str]] = field(default_factory=list)
    boxes: dict[str, Any] | None = None
    tokens: dict[str, Any] | None = None

    @property
    def mean_turns(self) -> float:
        """Mean human–gpt exchanges per record."""
        return self.messages / 2 / self.records if self.records else 0.0

    @property
    def mean_answer_chars(self) -> float:
        """Mean characters of a gpt turn."""
        return self.answer_chars / self.answers if self.answers else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready), with the two means added."""
        out = asdict(self)
        out["mean_turns"] = round(self.mean_turns, 3)
        out["mean_answer_chars"] = round(self.mean_answer_chars, 1)
        return out

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`as_dict` as JSON, atomically."""
        from dataoptim.io import write_json

        return write_json(path, self.as_dict(), indent=2)

    def rich_table(self):
        """A ``rich.table.Table``: one row per source (records, share, task), then totals."""
        from rich.table import Table

        table = Table(title=f"{self.name}: {words.count(self.records, 'record')}, {words.count(self.images, 'image')}")
        table.add_column("source")
        table.add_column("task")
        table.add_column("records", justify="right")
        table.add_column("share", justify="right")
        per = (self.tokens or {}).get("by_source", {})
        if self.tokens:
            table.add_column("tokens (prompt / answer)", justify="right")
        for name, count in self.by_source.items():
            task = catalog.SOURCES[name].task if name in catalog.SOURCES else "?"
            cells = [name, task, f"{count:,}", f"{100 * count / max(self.records, 1):.1f}%"]
            if self.tokens:
                t = per.get(name)
                cells.append(f"{t['total_tokens']:,} ({t['prompt_tokens']:,} / {t['answer_tokens']:,})" if t else "")
            table.add_row(*cells)
        table.add_section()
        for task, count in self.by_task.items():
            table.add_row("", f"[b]{task}[/b]", f"{count:,}", f"{100 * count / max(self.records, 1):.1f}%")
        table.add_section()
        table.caption = (
            f"mean exchanges/record {self.mean_turns:.2f} · mean answer {self.mean_answer_chars:.0f} chars"
            + (f" · {words.count(self.repeats, 'repeated sample')}" if self.repeats else "")
            + (f" · {words.count(self.skipped_unknown, 'unknown id')} skipped" if self.skipped_unknown else "")
            + (f" · {words.count(self.in_pool, 'id')} {words.plural(self.in_pool, 'is')} in the pool" if self.in_pool is not None else "")
            + (f" · {words.count(self.text_only, 'text-only record')} (no image)" if self.text_only else "")
            + (f" · {words.count(self.train_nothing, 'record')} {words.plural(self.train_nothing, 'trains')} nothing under the recipe (LLaVA masks them)"
               if self.train_nothing else "")
            + (f" · {describe_boxes(self.boxes)}" if self.boxes and (self.boxes.get("records") or self.boxes.get("frame") != "original") else "")
            + (f" · {self.tokens['total_tokens']:,} tokens ({self.tokens['prompt_tokens']:,} prompt, {self.tokens['answer_tokens']:,} answer)" if self.tokens else "")
            + (f", of which text-only records {t['total_tokens']:,} ({t['prompt_tokens']:,} prompt, {t['answer_tokens']:,} answer)"
               if self.tokens and (t := self.tokens.get("text_only") or {}).get("total_tokens") else "")
        )
        return table

    def print(self, console=None) -> None:
        """Print :meth:`rich_table` (to stderr unless a console is given)."""
        from rich.console import Console

        (console or Console(stderr=True)).print(self.rich_table())

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v:,}" for k, v in self.by_source.items())
        text_only = f", {self.text_only:,} text-only" if self.text_only else ""
        return f"{self.name}: {words.count(self.records, 'record')}{text_only}, {words.count(self.images, 'image')} ({parts})"

    def _repr_html_(self) -> str:  # notebooks
        rows = "".join(f"<tr><td>{k}</td><td style='text-align:right'>{v:,}</td></tr>" for k, v in self.by_source.items())
        return f"<b>{self}</b><table><tr><th>source</th><th>records</th></tr>{rows}</table>"

    def plot(self, path: str | os.PathLike | None = None, *, title: str | None = None):
        """Draw the composition: records per source (coloured by task) and the share of each task.

        Args:
            path: PNG to write (atomically); if None the figure is returned unsaved.
            title: figure title (default: the summary's name and size).

        Returns:
            The ``matplotlib.figure.Figure``, drawn without ``pyplot``, so the
            session's backend (a notebook's inline plots) is left as it is.
        """
        from matplotlib.figure import Figure

        from dataoptim.colors import task_color

        tasks = list(self.by_task)
        fig = Figure(figsize=(11, 4.5))
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
        names = list(self.by_source)
        counts = [self.by_source[n] for n in names]
        bar_colours = [task_color(catalog.SOURCES[n].task) if n in catalog.SOURCES else "grey" for n in names]  # fixed per task (dataoptim.colors)
        left.barh(names[::-1], counts[::-1], color=bar_colours[::-1])
        left.set_xlabel("records")
        left.set_title("records per source (colour: task)")
        for y, c in enumerate(counts[::-1]):
            left.text(c, y, f" {c:,}", va="center", fontsize=8)
        right.bar(tasks, [self.by_task[t] for t in tasks], color=[task_color(t) for t in tasks])
        right.set_ylabel("records")
        right.set_title("records per task")
        right.tick_params(axis="x", rotation=45)
        fig.suptitle(title or f"{self.name}: {self.records:,} records, {self.images:,} images, {self.mean_turns:.2f} exchanges/record")
        fig.tight_layout()
        if path is not None:
            from dataoptim.io import atomic_write

            with atomic_write(path, "wb") as handle:
                fig.savefig(handle, format="png", dpi=110)
        return fig


def describe_boxes(info: Mapping[str, Any]) -> str:
    """A summary's ``boxes`` in words: ``boxes in the padded frame (DataOptim tool): 12 moved in 5 records``."""
    frame = info.get("frame")
    if frame == "original":
        return f"boxes in the original frame, as released ({info.get('records', 0):,} records of sources with boxes)"
    how = "DataOptim tool" if frame == "padded" else "exact, not DataOptim's tool"
    return f"boxes in the {frame} frame ({how}): {info.get('boxes', 0):,} moved in {info.get('records', 0):,} records"


class SummaryBuilder:
    """Accumulates a :class:`Summary` from batches of records.

    Memory: the distinct image paths of the records added (about 40 bytes each):
    each batch's are made distinct as it is added, and all of them whenever more
    than :data:`IMAGES_MERGED_AT` (or twice the distinct ones so far) have piled up.
    """

    def __init__(self, name: str = "selection", *, tokenizer: str | os.PathLike | None = None):
        """Args:
            name: what is summarised (a file name...).
            tokenizer: the recipe's tokenizer folder: records added with :meth:`add_record` are
                also counted in tokens (:class:`TokenTally`, the counts of ``dataoptim tokens``)
                and the summary's ``tokens`` holds their sums. None: no token counts.

        Raises:
            ConfigError / MissingFileError: ``tokenizer`` is not a tokenizer folder (before any record is read).
        """
        self.name = name
        self.token_tally = TokenTally(tokenizer) if tokenizer is not None else None
        self.records = 0
        self.by_source: dict[str, int] = {}
        self.messages = 0
        self.answers = 0
        self.answer_chars = 0
        self._images: list = []
        self._pending_images = 0
        self._merged_images = 0
        self._image_set: set[str] = set()
        self.text_only = 0
        self.train_nothing = 0
        self.train_nothing_shown: list[tuple[str, str]] = []

    def _check_template(self, rid: str, conversations, has_image: bool) -> None:
        from dataoptim.template import masked_reason

        reason = masked_reason(conversations, has_image=has_image)
        if reason is not None:
            self.train_nothing += 1
            if len(self.train_nothing_shown) < TRAIN_NOTHING_SHOWN:
                self.train_nothing_shown.append((rid, reason))

    def add_batch(self, batch, source: str | None = None) -> None:
        """Add a pyarrow batch/table with ``image`` and ``conversations`` columns.

        Args:
            source: the source of every row, or None to take it from each id's prefix.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        if n == 0:
            return
        self.records += n
        if source is not None:
            self.by_source[source] = self.by_source.get(source, 0) + n
        else:
            for name, count in _count_prefixes(batch.column("id")).items():
                self.by_source[name] = self.by_source.get(name, 0) + count
        conversations = batch.column("conversations")
        if isinstance(conversations, pa.ChunkedArray):
            conversations = conversations.combine_chunks()
        flat = conversations.flatten()  # every turn of every record
        self.messages += len(flat)
        if len(flat):
            gpt = pc.equal(flat.field("from"), "gpt").to_numpy(zero_copy_only=False)
            lengths = pc.utf8_length(flat.field("value")).to_numpy(zero_copy_only=False)
            self.answers += int(gpt.sum())
            self.answer_chars += int(lengths[gpt].sum())
            # only records whose text holds a template string can be masked by the recipe: check those in Python
            values = flat.field("value")
            suspect = pc.or_(pc.match_substring(values, "</s>"), pc.or_(pc.match_substring(values, "[/INST]"), pc.match_substring(values, "<unk>")))
            if pc.any(suspect).as_py():
                rows = sorted(set(pc.filter(pc.list_parent_indices(conversations), suspect).to_pylist()))
                ids = batch.column("id") if "id" in batch.schema.names else None
                images = batch.column("image")
                for row in rows:
                    rid = ids[row].as_py() if ids is not None else f"row {row}"
                    self._check_template(rid, conversations[row].as_py(), images[row].is_valid)
        images = batch.column("image")
        if isinstance(images, pa.ChunkedArray):
            images = images.combine_chunks()
        self.text_only += images.null_count
        # distinct per batch, and merged now and then: memory grows with the distinct images, not the records
        self._images.append(pc.unique(images))
        self._pending_images += len(self._images[-1])
        if self._pending_images > max(IMAGES_MERGED_AT, 2 * self._merged_images):
            self._images = [self._distinct_images()]
            self._pending_images = self._merged_images = len(self._images[0])

    def _distinct_images(self):
        """Distinct image paths of the batches added (one hash pass over all of them)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        return pc.unique(pa.chunked_array(self._images, type=pa.string())).drop_null()

    def add_record(self, record: Mapping[str, Any]) -> None:
        """Add one Python record (BYOD streaming)."""
        self.records += 1
        src = catalog.source_of(record["id"])
        name = src.name if src else "other"
        self.by_source[name] = self.by_source.get(name, 0) + 1
        turns = record["conversations"]
        self.messages += len(turns)
        for turn in turns:
            if turn["from"] == "gpt":
                self.answers += 1
                self.answer_chars += len(turn["value"])
        if record.get("image") is not None:
            self._image_set.add(record["image"])
        else:
            self.text_only += 1
        self._check_template(record["id"], turns, record.get("image") is not None)
        if self.token_tally is not None:
            self.token_tally.add(name, record)

    def build(self, *, repeats: int = 0, skipped_unknown: int = 0) -> Summary:
        """The :class:`Summary` of everything added."""
        images = len(self._image_set)
        if self._images:
            unique = self._distinct_images()
            self._images = []
            images = len(unique) if not self._image_set else len(self._image_set | set(unique.to_pylist()))
        order = list(catalog.SOURCES) + sorted(set(self.by_source) - set(catalog.SOURCES))
        by_source = {k: self.by_source[k] for k in order if self.by_source.get(k)}
        by_task: dict[str, int] = {}
        for name, count in by_source.items():
            task = catalog.SOURCES[name].task if name in catalog.SOURCES else "other"
            by_task[task] = by_task.get(task, 0) + count
        frames = {name: frame for name in by_source if (frame := catalog.box_frame_of(name)) is not None}
        summary = Summary(self.records, by_source, by_task, images, self.messages, self.answers, self.answer_chars, repeats, skipped_unknown, self.name,
                          text_only=self.text_only, box_frames=frames)
        summary.train_nothing, summary.train_nothing_shown = self.train_nothing, list(self.train_nothing_shown)
        if self.token_tally is not None:
            summary.tokens = self.token_tally.totals()
        return summary


class TokenTally:
    """Token sums of Python records (BYOD streaming), for :attr:`Summary.tokens`.

    Records are counted in batches of :data:`STEP` with the tokens signal's counter
    (:func:`dataoptim.signals.tokens.compute`: LLaVA 744cb3e's ``llava_llama_2`` encoding, image =
    one position, recipe defaults ``model_max_length`` 2048 and the image in front), so a record's
    counts are those of ``dataoptim tokens`` and of the pool's ``tokens`` signal.
    Memory: one batch of records.

    Args:
        tokenizer: the recipe's tokenizer folder (LLaMA-2's, with ``tokenizer.model`` for the exact encoder).

    Raises:
        ConfigError / MissingFileError: not a tokenizer folder (:func:`dataoptim.signals.tokens.prepare`).
    """

    #: Records counted per call of the counter (at or above ``PARALLEL_FROM``, so it uses every CPU).
    STEP = 1 << 15
    NAMES = ("prompt_tokens", "answer_tokens", "total_tokens")

    def __init__(self, tokenizer: str | os.PathLike):
        from dataoptim.signals import tokens as token_signal

        self.params = token_signal.prepare({**token_signal.PARAMS, "tokenizer": tokenizer})
        self._sources: list[str] = []
        self._images: list[str | None] = []
        self._conversations: list[list[dict[str, str]]] = []
        self._by_source: dict[str, list[int]] = {}
        self._text_only = [0, 0, 0]
        self._cuts = [0, 0]  # truncated, train nothing (no answer token left): as `dataoptim tokens` counts them

    def add(self, source: str, record: Mapping[str, Any]) -> None:
        """Queue one validated record (``image``, ``conversations``) of ``source``; counted when a batch is full."""
        self._sources.append(source)
        self._images.append(record.get("image"))
        self._conversations.append([{"from": t["from"], "value": t["value"]} for t in record["conversations"]])
        if len(self._sources) >= self.STEP:
            self._flush()

    def _flush(self) -> None:
        if not self._sources:
            return
        import numpy as np
        import pyarrow as pa

        from dataoptim.signals import tokens as token_signal

        turn = pa.struct([("from", pa.string()), ("value", pa.string())])
        batch = pa.RecordBatch.from_arrays([pa.array(self._images, pa.string()), pa.array(self._conversations, pa.list_(turn))],
                                           names=["image", "conversations"])
        part = token_signal.compute(batch, self.params)
        counts = np.stack([np.asarray(part[n], dtype=np.int64) for n in self.NAMES], axis=1)
        for k, cut in enumerate(_cuts(part)):
            self._cuts[k] += cut
        sources = np.asarray(self._sources, dtype=object)
        for name in dict.fromkeys(self._sources):
            sums = counts[sources == name].sum(axis=0)
            into = self._by_source.setdefault(name, [0, 0, 0])
            for k in range(3):
                into[k] += int(sums[k])
        text_only = np.asarray([image is None for image in self._images])
        if text_only.any():
            sums = counts[text_only].sum(axis=0)
            for k in range(3):
                self._text_only[k] += int(sums[k])
        self._sources, self._images, self._conversations = [], [], []

    def totals(self) -> dict[str, Any]:
        """``{"prompt_tokens", "answer_tokens", "total_tokens", "by_source": {source: {...}}, "text_only": {...}, "tokenizer"}``:
        the sums over every record added (text-only records also apart, under ``text_only``)."""
        self._flush()
        order = list(catalog.SOURCES) + sorted(set(self._by_source) - set(catalog.SOURCES))
        by_source = {src: dict(zip(self.NAMES, self._by_source[src])) for src in order if src in self._by_source}
        out: dict[str, Any] = {name: sum(v[k] for v in self._by_source.values()) for k, name in enumerate(self.NAMES)}
        out["by_source"] = by_source
        out["text_only"] = dict(zip(self.NAMES, self._text_only))
        out.update(zip(CUTS, self._cuts), model_max_length=int(self.params["model_max_length"]))
        out["tokenizer"] = self.params["tokenizer"]
        return out


#: Counts of records the recipe cuts (``Summary.tokens``): those of ``dataoptim tokens``.
CUTS = ("truncated", "train_nothing")


def _cuts(part: Mapping[str, Any]) -> tuple[int, int]:
    """``(truncated, train nothing)`` of the tokens signal's columns ``part``: train nothing = no answer
    token left after the cut and LLaVA's mask (``answer_tokens == 0``), as ``dataoptim tokens`` counts it."""
    import numpy as np

    return int(np.asarray(part["truncated"]).sum()), int((np.asarray(part["answer_tokens"]) == 0).sum())


def _count_prefixes(ids) -> dict[str, int]:
    """Records per source by id prefix (:func:`dataoptim.catalog.source_of`'s rule, vectorised)."""
    import pyarrow.compute as pc

    heads = pc.list_element(pc.split_pattern(ids, "_", max_splits=1), 0)
    counts = pc.value_counts(heads).to_pylist()
    out: dict[str, int] = {}
    for item in counts:
        name = item["values"] if item["values"] in catalog.SOURCES else "other"
        out[name] = out.get(name, 0) + item["counts"]
    # sources whose name holds '_' (llava_v1.5): their ids were counted under their first word
    for long in sorted((n for n in catalog.SOURCES if "_" in n), key=len, reverse=True):
        n = int(pc.sum(pc.starts_with(ids, long + "_")).as_py() or 0)
        if n:
            head = long.split("_", 1)[0]
            head = head if head in catalog.SOURCES else "other"
            out[head] -= n
            out[long] = out.get(long, 0) + n
            if not out[head]:
                del out[head]
    return out


def load_summary(path: str | os.PathLike) -> Summary:
    """Read a summary written by :meth:`Summary.write_json`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    data.pop("mean_turns", None)
    data.pop("mean_answer_chars", None)
    data["train_nothing_shown"] = [tuple(x) for x in data.get("train_nothing_shown", [])]
    return Summary(**data)


def token_totals(pool, rows, *, tokenizer: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Token sums of the records at global ``rows`` of ``pool`` (for :attr:`Summary.tokens`).

    Read from the pool's ``tokens`` signal when it is stored (and, if ``tokenizer`` is given, was
    made with that tokenizer); else, with ``tokenizer``, counted now
    (:func:`dataoptim.signals.tokens.count_records`, the counts of ``dataoptim tokens``, recipe
    defaults); else None.

    Args:
        pool: an opened :class:`~dataoptim.select.pool.Pool`.
        rows: int64 global rows (repeats allowed: each counts).
        tokenizer: the recipe's tokenizer folder, or None.

    Returns:
        ``{"prompt_tokens", "answer_tokens", "total_tokens", "by_source": {source: {...}}, "text_only": {...}, "tokenizer"}``
        or None; ``text_only``: the sums over the records without an image (their ``image`` is null).
    """
    import numpy as np

    from dataoptim.signals.base import load_signal, stored_signals

    rows = np.asarray(rows, dtype=np.int64)
    names = ("prompt_tokens", "answer_tokens", "total_tokens")
    meta = stored_signals(pool).get("tokens")
    wanted = os.path.realpath(os.path.expanduser(str(tokenizer))) if tokenizer is not None else None
    values: dict[str, np.ndarray] = {}
    if meta is not None and (wanted is None or meta.get("params", {}).get("tokenizer") == wanted):
        table = load_signal(pool, "tokens")
        for name in names:
            values[name] = table.column(name).to_numpy()[rows] if len(rows) else np.zeros(0, dtype=np.int64)
        if "truncated" in table.column_names:
            values["truncated"] = table.column("truncated").to_numpy(zero_copy_only=False)[rows] if len(rows) else np.zeros(0, dtype=bool)
        folder = meta.get("params", {}).get("tokenizer")
        max_length = meta.get("params", {}).get("model_max_length")
    elif wanted is not None:
        from dataoptim.signals import tokens as token_signal

        params = token_signal.prepare({**token_signal.PARAMS, "tokenizer": wanted})
        distinct, inverse = np.unique(rows, return_inverse=True)
        counted = np.zeros((len(distinct), 4), dtype=np.int64)
        done = 0
        step = 1 << 15  # memory: one step of records at a time
        for lo in range(0, len(distinct), step):
            for batch in pool.rows_table(distinct[lo : lo + step], columns=["image", "conversations"]).to_batches():
                part = token_signal.compute(batch, params)
                counted[done : done + batch.num_rows] = np.stack([np.asarray(part[n], dtype=np.int64) for n in (*names, "truncated")], axis=1)
                done += batch.num_rows
        for k, name in enumerate((*names, "truncated")):
            values[name] = counted[inverse.reshape(-1), k]
        folder = wanted
        max_length = params["model_max_length"]
    else:
        return None
    codes = pool.source_of_rows(rows) if len(rows) else np.zeros(0, dtype=np.int64)
    sources = [p.name for p in pool.parts]
    sums = {name: np.bincount(codes, weights=values[name], minlength=len(sources)) for name in names}
    present = np.bincount(codes, minlength=len(sources))
    by_source = {src: {name: int(sums[name][k]) for name in names} for k, src in enumerate(sources) if present[k]}
    # text-only records: read from the validity of each source's image column, for the sources that have any
    text_only = np.zeros(len(rows), dtype=bool)
    for k, part in enumerate(pool.parts):
        images = pool.source_table(part.name).column("image")
        if images.null_count and present[k]:
            at = np.flatnonzero(codes == k)
            text_only[at] = images.is_null().to_numpy(zero_copy_only=False)[rows[at] - part.start]
    out: dict[str, Any] = {name: int(values[name].sum()) for name in names}
    out["by_source"] = by_source
    out["text_only"] = {name: int(values[name][text_only].sum()) for name in names}
    if "truncated" in values:
        out.update(zip(CUTS, _cuts(values)), model_max_length=int(max_length or 2048))
    out["tokenizer"] = folder
    return out
