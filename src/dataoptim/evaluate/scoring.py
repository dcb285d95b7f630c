"""Score predictions against a benchmark and write the results (no model needed).

Predictions are LLaVA answer files: JSON Lines with ``question_id`` and ``text``
(what ``llava/eval/model_vqa*.py`` writes; other fields ignored). A JSON list of
the same objects is accepted too.

Outputs of :func:`write_results` in the output folder (each file written atomically):

- ``{task}.tsv`` per task: a header line ``image\\tquestion\\tanswer\\tprediction``,
  then one line per question, in benchmark order (the layout of DataOptim's
  result files, plus the header). Tabs and line breaks inside a field become spaces;
  a list of references is written as a JSON list.
- ``scores.json``: ``{task: {metric: value, ..., "n": count}}``; accuracies,
  precision, recall, F1, IoU and ratios in [0, 1], CIDEr on pycocoevalcap's scale.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dataoptim.errors import ConfigError, InputError
from dataoptim.evaluate import metrics
from dataoptim.evaluate.benchmark import TASKS, check_items, has_reference, read_benchmark, references, unique_ids
from dataoptim.io import atomic_write, iter_jsonl, read_json, require_file, write_json

#: Metric names per task, in report order (each task also reports ``n``).
METRICS: dict[str, tuple[str, ...]] = {
    "vqa": ("accuracy",),
    "gqa": ("accuracy",),
    "mc": ("accuracy",),
    "caption": ("cider",),
    "grounding": ("acc@0.5", "miou"),
    "pope": ("accuracy", "precision", "recall", "f1", "yes_ratio"),
}
#: The one metric per task that the comparison report ranks on.
MAIN_METRIC: dict[str, str] = {"vqa": "accuracy", "gqa": "accuracy", "mc": "accuracy", "caption": "cider",
                               "grounding": "acc@0.5", "pope": "f1"}


#: CIDEr tokenisations (:func:`~dataoptim.evaluate.metrics.cider`).
CIDER_TOKENIZERS = ("simple", "ptb")


def check_cider_tokenizer(tokenizer: str) -> None:
    """Refuse a CIDEr tokenisation that :func:`~dataoptim.evaluate.metrics.cider` would fail on (before any work).

    Raises:
        ConfigError: not one of :data:`CIDER_TOKENIZERS`, or ``"ptb"`` without Java.
    """
    import shutil

    if tokenizer not in CIDER_TOKENIZERS:
        raise ConfigError(f"CIDEr tokenizer must be one of {', '.join(map(repr, CIDER_TOKENIZERS))}, found {tokenizer!r}")
    if tokenizer == "ptb" and shutil.which("java") is None:
        raise ConfigError("CIDEr tokenizer 'ptb' needs Java (the Stanford PTB tokenizer), which is not on PATH; use 'simple'")


class Predictions(dict):
    """``{question_id: text}`` read by :func:`read_predictions`, remembering where repeated ids were.

    Attributes:
        repeats: for each repeat of a ``question_id``, its unique id (``"q1#2"``) ->
            ``(question_id, record, where)``, e.g. ``("q1", 3, "line 4; first on line 2")``:
            :func:`score_items` names a repeat that the benchmark does not repeat as a duplicate.
    """

    repeats: dict[str, tuple[str, int, str]]


def read_predictions(path: str | Path) -> Predictions:
    """Read a LLaVA answer file into ``{question_id: text}`` (ids as strings).

    Repeated ids are made unique as the benchmark readers do
    (:func:`~dataoptim.evaluate.benchmark.unique_ids`), so MME-style files pair up;
    :attr:`Predictions.repeats` says where they were.

    Raises:
        MissingFileError: no such file.
        InputError: bad JSON, a line without ``question_id`` or with a non-string
            ``text`` (file, line index and field named).
    """
    path = require_file(path, "predictions file")
    with open(path, "rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 byte-order mark (the readers skip it)
    if head.startswith(b"["):
        data = read_json(path, expect=list, what="predictions file")
        rows: Iterable[tuple[int, Any]] = enumerate(data)
    else:
        rows = iter_jsonl(path, what="predictions file")
    place = (lambda i: f"record {i}") if head.startswith(b"[") else (lambda i: f"line {i + 1}")
    ids, texts, indices = [], [], []
    for index, obj in rows:
        if not isinstance(obj, dict):
            raise InputError(f"must be a JSON object, found {type(obj).__name__}", file=path, record=index)
        if "question_id" not in obj:
            raise InputError("missing", file=path, record=index, field="question_id")
        qid = obj["question_id"]
        if isinstance(qid, bool) or not isinstance(qid, (str, int)):
            raise InputError(f"must be a string or an integer, found {qid!r}", file=path, record=index, field="question_id")
        if "text" not in obj:
            raise InputError("missing", file=path, record=index, id=str(qid), field="text")
        if not isinstance(obj["text"], str):
            raise InputError(f"must be a string, found {type(obj['text']).__name__}", file=path, record=index, id=str(qid), field="text")
        ids.append(qid)
        texts.append(obj["text"])
        indices.append(index)
    out = Predictions(zip(unique_ids(ids), texts))
    out.repeats = {}
    first: dict[str, int] = {}
    for uid, qid, index in zip(out, ids, indices):
        if str(qid) in first:
            out.repeats[uid] = (str(qid), index, f"{place(index)}; first on {place(first[str(qid)])}")
        else:
            first[str(qid)] = index
    return out


def item_score(item: Mapping[str, Any], prediction: str) -> float:
    """Score of one prediction for one canonical item (for ``caption`` see :func:`score_items`).

    ``vqa``: :func:`~dataoptim.evaluate.metrics.vqa_accuracy`; ``gqa``: exact match;
    ``mc``: letter match; ``grounding``: IoU; ``pope``: 1.0 if the yes/no reading
    matches. Returns a value in [0, 1].

    Raises:
        ValueError: the item has no reference, or the task is ``caption``.
    """
    refs = references(item)
    if not refs:
        raise ValueError(f"question {item['question_id']!r} has no reference")
    task = item["task"]
    if task == "vqa":
        return metrics.vqa_accuracy(prediction, refs)
    if task == "gqa":
        return max(metrics.gqa_match(prediction, r) for r in refs)
    if task == "mc":
        return metrics.choice_correct(prediction, refs[0], item.get("choices"))
    if task == "grounding":
        return metrics.grounding_iou(prediction, refs[0])
    if task == "pope":
        return float(metrics.pope_label(prediction) == metrics.pope_label(refs[0]))
    raise ValueError(f"item_score does not score task {task!r} one item at a time")


def score_items(items: Sequence[Mapping[str, Any]], predictions: Mapping[Any, str], *, tokenizer: str = "simple",
                allow_missing: bool = False, predictions_file: str | None = None) -> tuple[dict, dict[str, list[dict]]]:
    """Score canonical items against predictions.

    Args:
        items: canonical benchmark items (checked; every one must have a reference).
        predictions: ``{question_id: text}``; keys are compared as strings.
        tokenizer: CIDEr tokenisation, ``"simple"`` or ``"ptb"`` (:func:`~dataoptim.evaluate.metrics.cider`).
        allow_missing: score a question without a prediction as the empty answer
            instead of failing.
        predictions_file: the predictions' file, for messages.

    Returns:
        ``(scores, rows)``: ``scores = {task: {metric: value, "n": count}}`` for
        the tasks present, in :data:`~dataoptim.evaluate.benchmark.TASKS` order;
        ``rows = {task: [{"item", "prediction", "score"}]}`` in benchmark order.

    Raises:
        ConfigError: an unknown ``tokenizer`` (:func:`check_cider_tokenizer`).
        InputError: a prediction for a question not in the benchmark, a ``question_id``
            repeated in the predictions file but not in the benchmark, questions
            without a prediction (unless ``allow_missing``), an item without reference.
    """
    check_cider_tokenizer(tokenizer)
    items = check_items(items, require_reference=True)
    preds = {str(k): v for k, v in predictions.items()}
    known = {item["question_id"] for item in items}
    extra = [qid for qid in preds if qid not in known]
    repeated = [qid for qid in extra if qid in getattr(predictions, "repeats", {})]
    if repeated:  # "q1#2" is a second answer to q1, not an answer to a question "q1#2"
        qid, index, where = predictions.repeats[repeated[0]]
        raise InputError(f"duplicate question_id {qid!r} ({where})", file=predictions_file, record=index, id=qid, field="question_id")
    if extra:
        raise InputError(f"{len(extra)} prediction(s) for questions not in the benchmark, first: {', '.join(map(repr, extra[:5]))}",
                         file=predictions_file, field="question_id")
    missing = [item["question_id"] for item in items if item["question_id"] not in preds]
    if missing and not allow_missing:
        raise InputError(f"{len(missing)} question(s) have no prediction, first: {', '.join(map(repr, missing[:5]))}",
                         file=predictions_file, field="question_id")
    by_task: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_task[item["task"]].append({"item": item, "prediction": preds.get(item["question_id"], "")})
    scores: dict[str, dict[str, float]] = {}
    for task in TASKS:
        rows = by_task.get(task)
        if not rows:
            continue
        n = len(rows)
        if task == "caption":
            keys = [row["item"]["question_id"] for row in rows]
            corpus, per_item = metrics.cider({k: r["prediction"] for k, r in zip(keys, rows)},
                                             {k: references(r["item"]) for k, r in zip(keys, rows)}, tokenizer=tokenizer)
            for key, row in zip(keys, rows):
                row["score"] = per_item[key]
            scores[task] = {"cider": corpus, "n": n}
            continue
        for row in rows:
            row["score"] = item_score(row["item"], row["prediction"])
        if task == "grounding":
            scores[task] = {**metrics.grounding_scores(r["score"] for r in rows), "n": n}
        elif task == "pope":
            scores[task] = {**metrics.pope_scores([r["prediction"] for r in rows],
                                                  [references(r["item"])[0] for r in rows]), "n": n}
        else:
            scores[task] = {"accuracy": sum(r["score"] for r in rows) / n, "n": n}
    return scores, {task: by_task[task] for task in scores}


def score(predictions: str | Path | Mapping[Any, str], benchmark: Any, *, tokenizer: str = "simple",
          allow_missing: bool = False, **read_options: Any) -> dict[str, dict[str, float]]:
    """Score saved predictions: ``{task: {metric: value, "n": count}}``.

    Args:
        predictions: a LLaVA answer file (:func:`read_predictions`) or ``{question_id: text}``.
        benchmark: anything :func:`~dataoptim.evaluate.benchmark.read_benchmark` reads
            (a path, a ``datasets.Dataset``, a list of items or records).
        tokenizer, allow_missing: as :func:`score_items`.
        read_options: passed to ``read_benchmark`` (``format``, ``task``, ``answers``, ``task_map``).

    Raises:
        MissingFileError, InputError, ConfigError: bad files or options.
    """
    pred_file = None
    if isinstance(predictions, (str, Path)):
        pred_file = str(predictions)
        predictions = read_predictions(predictions)
    items = read_benchmark(benchmark, **read_options)
    scores, _ = score_items(items, predictions, tokenizer=tokenizer, allow_missing=allow_missing, predictions_file=pred_file)
    return scores


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ")).strip()


def results_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The text of a per-task results file: header ``image question answer prediction`` and one line per row."""
    lines = ["image\tquestion\tanswer\tprediction"]
    for row in rows:
        item = row["item"]
        answer = item["answer"] if item.get("answer") is not None else item.get("answers", [])
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        lines.append("\t".join(_cell(v) for v in (item.get("image") or "", item["text"], answer, row["prediction"])))
    return "\n".join(lines) + "\n"


def write_results(output_dir: str | Path, scores: Mapping[str, Mapping[str, float]], rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Path]:
    """Write ``{task}.tsv`` per task and ``scores.json`` into ``output_dir`` (created); return the paths.

    Every file is written atomically (complete or absent); ``scores.json`` is
    written last, so its presence marks a finished run.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for task, task_rows in rows.items():
        path = out / f"{task}.tsv"
        with atomic_write(path) as handle:
            handle.write(results_tsv(task_rows))
        written.append(path)
    written.append(write_json(out / "scores.json", scores, indent=2))
    return written


def scores_table(scores: Mapping[str, Mapping[str, float]], title: str | None = None):
    """A ``rich`` table of ``scores``: one row per task and metric (accuracies shown as percentages)."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("n", justify="right")
    for task, values in scores.items():
        for i, (metric, value) in enumerate((k, v) for k, v in values.items() if k != "n"):
            shown = f"{value:.4f}" if metric == "cider" else f"{100 * value:.2f}%"
            table.add_row(task if i == 0 else "", metric, shown, str(values.get("n", "")) if i == 0 else "")
    return table


def require_captions_extra(items: Iterable[Mapping[str, Any]]) -> None:
    """Refuse at once when caption questions with references are to be scored and pycocoevalcap is missing.

    Raises:
        MissingExtraError: naming the ``eval`` extra (:func:`dataoptim.extras.require_extra`).
    """
    if any(item.get("task") == "caption" and has_reference(item) for item in items):
        from dataoptim.extras import require_extra

        require_extra("eval", "CIDEr (the benchmark has caption questions)")
