"""Compare evaluation runs: a markdown table, a JSON summary and a bar plot.

Each run is a folder holding ``scores.json`` (what ``dataoptim evaluate`` and
``dataoptim score --output`` write) or the ``scores.json`` file itself. Runs are
ranked per task on the task's main metric (:data:`~dataoptim.evaluate.scoring.MAIN_METRIC`:
accuracy, CIDEr, Acc@0.5, POPE F1), then by their mean rank over the tasks they
share, which needs no common scale between CIDEr and accuracies. Ties share the
best rank (competition ranking, "1224").
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from dataoptim.errors import ConfigError, InputError
from dataoptim.evaluate.benchmark import TASKS
from dataoptim.evaluate.scoring import DESCRIPTIVE_KEYS, MAIN_METRIC, RAW_METRICS
from dataoptim.io import atomic_write, make_output_dir, read_json, write_json


def load_scores(run: str | Path) -> dict[str, dict[str, float]]:
    """Read ``scores.json`` of a run folder (or the file given) and check its shape.

    Raises:
        MissingFileError: no scores file.
        InputError: not ``{task: {metric: number}}`` (the descriptive keys of each task's entry,
            :data:`~dataoptim.evaluate.scoring.DESCRIPTIVE_KEYS`, and a ``"protocol"`` entry, how the
            answers were generated, are left out of the result).
    """
    path = Path(run)
    if path.is_dir():
        path = path / "scores.json"
    data = read_json(path, expect=dict, what="scores file")
    data.pop("protocol", None)  # how the answers were generated (dataoptim.evaluate.protocol), not a task
    for task, values in data.items():
        if not isinstance(values, dict):
            raise InputError(f"must map metric names to numbers, found {type(values).__name__}", file=path, field=task)
        for metric, value in values.items():
            if metric in DESCRIPTIVE_KEYS:  # scorer, options, categories...: described, not compared
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"must be a finite number, found {value!r}", file=path, field=f"{task}.{metric}")
    return {task: _numbers(values) for task, values in data.items()}


def _numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """A task's ``scores.json`` entry without its descriptive keys (:data:`~dataoptim.evaluate.scoring.DESCRIPTIVE_KEYS`)."""
    return {k: v for k, v in values.items() if k not in DESCRIPTIVE_KEYS}


def _names(runs: Sequence[str | Path]) -> list[str]:
    paths = [Path(r) for r in runs]
    names = [(p.parent.name if p.is_file() else p.name) or str(p) for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return names


def _rank(values: Sequence[float]) -> list[int]:
    return [1 + sum(other > v for other in values) for v in values]


def compare(runs: Sequence[str | Path] | Mapping[str, Mapping[str, Mapping[str, float]]], *, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Build the comparison of two or more runs.

    Args:
        runs: run folders / ``scores.json`` paths, or ``{name: scores}``.
        names: display names (default: folder names, or full paths if those repeat).

    Returns:
        ``{"runs": [{"name", "scores", "ranks": {task: r}, "mean_rank"}], "tasks": [...], "columns": [(task, metric), ...]}``,
        runs sorted best first (lowest mean rank, then name).

    Raises:
        ConfigError: fewer than two runs, or names of the wrong length.
        MissingFileError, InputError: from :func:`load_scores`.
    """
    if isinstance(runs, Mapping):
        labels, scores = list(runs), [{t: _numbers(m) for t, m in v.items()} for v in runs.values()]
    else:
        labels, scores = _names(runs), [load_scores(r) for r in runs]
    if names is not None:
        if len(names) != len(labels):
            raise ConfigError(f"{len(names)} names for {len(labels)} runs")
        labels = list(names)
    if len(scores) < 2:
        raise ConfigError("a comparison needs at least two runs")
    present = {t for s in scores for t in s}
    tasks = [t for t in TASKS if t in present] + sorted(present - set(TASKS))
    columns = []
    for task in tasks:
        metrics: list[str] = []
        for s in scores:
            metrics += [m for m in s.get(task, {}) if m != "n" and m not in metrics]
        columns += [(task, m) for m in metrics]
    rows = [{"name": n, "scores": s, "ranks": {}} for n, s in zip(labels, scores)]
    for task in tasks:
        metric = MAIN_METRIC.get(task)
        having = [r for r in rows if metric is not None and metric in r["scores"].get(task, {})]
        for row, rank in zip(having, _rank([r["scores"][task][metric] for r in having])):
            row["ranks"][task] = rank
    for row in rows:
        ranks = list(row["ranks"].values())
        row["mean_rank"] = sum(ranks) / len(ranks) if ranks else float(len(rows))
    rows.sort(key=lambda r: (r["mean_rank"], r["name"]))
    return {"runs": rows, "tasks": tasks, "columns": columns}


def _fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.4f}" if metric in RAW_METRICS else f"{100 * value:.2f}"


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """Markdown table of :func:`compare`'s result: one row per run (best first), one column per task/metric.

    Accuracy-like metrics are shown as percentages, CIDEr as is; the main metric
    of each task is marked with ``*`` in the header.
    """
    cols = result["columns"]
    head = ["rank", "run"] + [f"{t} {m}{'*' if MAIN_METRIC.get(t) == m else ''}" for t, m in cols] + ["mean rank"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---:", ":---"] + ["---:"] * (len(cols) + 1)) + "|"]
    position = _rank([-r["mean_rank"] for r in result["runs"]])
    for pos, row in zip(position, result["runs"]):
        cells = [str(pos), row["name"].replace("|", "\\|")]
        cells += [_fmt(m, row["scores"].get(t, {}).get(m)) for t, m in cols]
        cells.append(f"{row['mean_rank']:.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    note = "\nMetrics in % except CIDEr and MME scores; * = metric used for the per-task rank; runs sorted by mean rank.\n"
    return "\n".join(lines) + "\n" + note


def comparison_plot(result: Mapping[str, Any]) -> bytes:
    """PNG bytes of :func:`comparison_figure`."""
    fig = comparison_figure(result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


def comparison_figure(result: Mapping[str, Any]):
    """A bar chart as a ``matplotlib.figure.Figure``: one panel per task (its main metric), one bar per run.

    Each panel's title and frame take the task's fixed colour (:func:`dataoptim.colors.task_color`);
    the bars of a run share one colour across the panels.
    """
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: the session's backend is left as it is

    from dataoptim.colors import task_color

    tasks = [t for t in result["tasks"] if t in MAIN_METRIC]
    runs = result["runs"]
    fig = Figure(figsize=(max(4.0, 2.2 + 1.6 * len(tasks) * max(1, len(runs)) / 3), 3.6))
    axes = fig.subplots(1, max(1, len(tasks)), squeeze=False)
    colours = matplotlib.colormaps["tab10"]
    for ax, task in zip(axes[0], tasks):
        metric = MAIN_METRIC[task]
        values = [r["scores"].get(task, {}).get(metric, float("nan")) for r in runs]
        scale = 1.0 if metric in RAW_METRICS else 100.0
        ax.bar(range(len(runs)), [v * scale for v in values], color=[colours(i % 10) for i in range(len(runs))])
        ax.set_title(f"{task}\n{metric}{'' if metric in RAW_METRICS else ' (%)'}", fontsize=9, color=task_color(task))
        for spine in ax.spines.values():  # the task's fixed colour (dataoptim.colors), as in every plot
            spine.set_edgecolor(task_color(task))
        ax.set_xticks(range(len(runs)))
        ax.set_xticklabels([r["name"] for r in runs], rotation=45, ha="right", fontsize=7)
        if metric not in RAW_METRICS:
            ax.set_ylim(0, 100)
    fig.tight_layout()
    return fig


def write_comparison(result: Mapping[str, Any], output_dir: str | Path) -> list[Path]:
    """Write ``comparison.md``, ``comparison.json`` and ``comparison.png`` into ``output_dir``, each atomically."""
    out = make_output_dir(output_dir)
    md, png = comparison_markdown(result), comparison_plot(result)  # build everything before writing
    with atomic_write(out / "comparison.md") as handle:
        handle.write(md)
    with atomic_write(out / "comparison.png", "wb") as handle:
        handle.write(png)
    summary = {"tasks": result["tasks"], "runs": [{k: r[k] for k in ("name", "mean_rank", "ranks", "scores")} for r in result["runs"]]}
    return [out / "comparison.md", out / "comparison.png", write_json(out / "comparison.json", summary, indent=2)]
