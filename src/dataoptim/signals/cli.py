"""CLI of signals: ``dataoptim signals list|compute|show`` (registered by ``dataoptim.cli``).

* ``dataoptim signals compute --pool POOL --signal text [--signal flags ...] [--tokenizer DIR] [--image-folder DIR] [--model M] [--param k=v]``
* ``dataoptim signals show --pool POOL --column answer_words [--output hist.png]``: a histogram per source
* ``dataoptim signals list [--pool POOL]``: the signals, what they need and write, and which are stored
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from dataoptim.errors import ConfigError
from dataoptim.words import count


def parse_params(values: list[str] | None) -> dict:
    """``["k=v", ...]`` -> dict; values read as JSON where they parse (numbers, true/false), else strings.

    Raises:
        ConfigError: an item without ``=`` (field ``--param``).
    """
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"parameter {item!r} must be key=value (e.g. threshold=0.7)", field="--param")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def histogram_per_source(pool, column: str, output: Path | None = None, *, bins: int = 30):
    """Draw a histogram of ``column`` (a pool column or signal) for each source of ``pool``.

    Numbers give one histogram per source (shared bins, one panel per source); strings and
    booleans give counts per value. Writes a PNG to ``output`` when given.

    Returns:
        ``(figure, table)``: the matplotlib figure and ``{source: {"count", "nulls", "mean", "min", "max"} or {value: count}}``.
    """
    import matplotlib

    matplotlib.use("Agg") if output is not None else None
    import matplotlib.pyplot as plt
    import numpy as np

    from dataoptim.select.by_signal import read_columns

    rows = np.arange(pool.num_rows, dtype=np.int64)
    frame = read_columns(pool, [column, "source"], rows)
    series = frame[column]
    numeric = series.dtype.is_numeric()
    sources = [p.name for p in pool.parts]
    ncols = 4
    nrows = max(1, -(-len(sources) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), squeeze=False)
    table = {}
    values_all = series.drop_nulls().to_numpy() if numeric else None
    edges = np.histogram_bin_edges(values_all.astype(float), bins=bins) if numeric and len(values_all) else None
    for ax, source in zip(axes.flat, sources):
        part = frame.filter(frame["source"] == source)[column]
        if numeric:
            values = part.drop_nulls().to_numpy().astype(float)
            if len(values) and edges is not None:
                ax.hist(values, bins=edges, color="#4C72B0")
            table[source] = {"count": int(len(values)), "nulls": int(part.null_count()),
                             "mean": float(values.mean()) if len(values) else None,
                             "min": float(values.min()) if len(values) else None, "max": float(values.max()) if len(values) else None}
        else:
            counts = part.cast(str).fill_null("null").value_counts(sort=True)
            labels = [str(v) for v in counts[counts.columns[0]].to_list()]
            ax.bar(labels, counts["count"].to_list(), color="#4C72B0")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            table[source] = dict(zip(labels, [int(c) for c in counts["count"].to_list()]))
        ax.set_title(source, fontsize=9)
    for ax in list(axes.flat)[len(sources):]:
        ax.axis("off")
    fig.suptitle(f"{column} per source ({pool.num_rows:,} records)")
    fig.tight_layout()
    if output is not None:
        from dataoptim.io import atomic_write

        with atomic_write(output, "wb") as handle:
            fig.savefig(handle, format="png", dpi=100)
        plt.close(fig)
    return fig, table


def register(app) -> None:
    """Add ``signals list|compute|show`` to the ``dataoptim`` Typer app."""
    signals_app = typer.Typer(help="Compute per-record signals beside a pool and look at them.", no_args_is_help=True)
    app.add_typer(signals_app, name="signals")

    @signals_app.command("list")
    def list_signals(pool: Optional[Path] = typer.Option(None, "--pool", help="Also say which signals this pool has stored.")) -> None:
        """List the signals: what each needs, what it writes, and its paper."""
        from dataoptim import signals

        stored = {}
        if pool is not None:
            from dataoptim.select.pool import Pool
            from dataoptim.signals.base import stored_signals

            stored = stored_signals(Pool.open(pool))
        for name in signals.SIGNALS:
            module = signals.get(name)
            mark = " [stored]" if name in stored else ""
            typer.echo(f"{name}{mark}: needs {', '.join(module.NEEDS)}; writes {', '.join(module.WRITES)}")
            typer.echo(f"    {module.PAPER}")

    @signals_app.command("compute")
    def compute(
        pool: Path = typer.Option(..., "--pool", help="Pool folder."),
        signal: List[str] = typer.Option(..., "--signal", "-s", help="Signal to compute (repeat for several): " + ", ".join(
            ["text", "duplicates", "neardup", "flags", "images", "tokens", "clip", "loss", "embed"])),
        tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Tokenizer folder for the tokens signal (the recipe's base model)."),
        image_folder: Optional[Path] = typer.Option(None, "--image-folder", help="Image folder for the images / clip / embed / loss signals."),
        model: Optional[str] = typer.Option(None, "--model", help="Model for clip / embed (a CLIP folder) or loss (a LLaVA checkpoint folder; 'tiny' for a random test model)."),
        batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Records per model batch (model signals)."),
        param: Optional[List[str]] = typer.Option(None, "--param", help="Other parameters as key=value (repeat), e.g. threshold=0.7."),
        force: bool = typer.Option(False, "--force", help="Recompute even when the stored signal is fresh."),
    ) -> None:
        """Compute signals and store them beside the pool (skipped when fresh; a killed run resumes)."""
        import time

        from dataoptim import signals
        from dataoptim.select.pool import Pool

        opened = Pool.open(pool)
        extra = parse_params(param)
        for name in signal:
            module = signals.get(name)
            params = dict(extra)
            given = {"tokenizer": tokenizer, "image_folder": image_folder, "model": model, "batch_size": batch_size}
            for key, value in given.items():
                if value is not None:
                    if key not in module.PARAMS:
                        raise ConfigError(f"signal {name!r} takes no --{key.replace('_', '-')}", field=f"--{key.replace('_', '-')}")
                    params[key] = str(value) if isinstance(value, Path) else value
            began = time.time()
            path = signals.compute(opened, name, force=force, **params)
            typer.echo(f"signal {name}: {count(opened.num_rows, 'record')} -> {path} ({time.time() - began:.1f} s)")

    @signals_app.command("show")
    def show(
        pool: Path = typer.Option(..., "--pool", help="Pool folder."),
        column: str = typer.Option(..., "--column", "-c", help="Column or signal column to show (e.g. answer_words, total_tokens, refusal)."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the histograms per source as a PNG."),
        bins: int = typer.Option(30, "--bins", help="Bins of numeric histograms."),
    ) -> None:
        """Print a column's distribution per source, and draw a histogram per source (--output)."""
        from dataoptim.select.checks import check_output_path
        from dataoptim.select.pool import Pool

        if output is not None:
            output = check_output_path(output, field="--output")
        if bins < 1:
            raise ConfigError(f"must be a positive integer, found {bins}", field="--bins")
        opened = Pool.open(pool)
        _, table = histogram_per_source(opened, column, output, bins=bins)
        for source, stats in table.items():
            if "mean" in stats and "count" in stats and "nulls" in stats:
                mean = "-" if stats["mean"] is None else f"{stats['mean']:.2f}"
                typer.echo(f"  {source:10s} n={stats['count']:>9,} mean={mean:>9} min={stats['min']} max={stats['max']} nulls={stats['nulls']:,}")
            else:
                typer.echo(f"  {source:10s} " + ", ".join(f"{k}={v:,}" for k, v in stats.items()))
        if output is not None:
            typer.echo(f"wrote {output}")
