"""One scorer per benchmark task, each following its benchmark's own reference scorer.

Every module here has the same interface::

    score(items, predictions, *, lenient=False, **options) -> TaskScore

- ``items``: canonical benchmark items of that task (dicts with ``question_id``, the
  reference in ``answer`` / ``answers``, optional ``category``, ``choices``, ``text``),
  checked by :func:`dataoptim.evaluate.benchmark.check_items`.
- ``predictions``: the model's answers, one string per item, in the same order; ``None``
  for a question left unanswered (no credit).
- ``lenient``: the friendlier readings of :mod:`dataoptim.evaluate.metrics`; the
  result is then labelled ``"official": false``.

:class:`TaskScore` holds ``scores`` (the task's entry in ``scores.json``: ``scorer``,
``official``, ``options``, ``headline``, the metrics, ``n`` and ``categories``) and
``questions`` (one row per item: ``question_id``, ``task``, ``category``, ``prediction``,
``score``, ``parsed``; the lines of ``per_question.jsonl``).

Modules and the reference implementation each follows (commit in its docstring):
:mod:`.vqa` (VQAv2 / OK-VQA ``vqaEval.py``), :mod:`.textvqa` (LLaVA's ``m4c_evaluator``),
:mod:`.gqa` (LLaVA's ``convert_gqa_for_eval.py`` + GQA ``eval.py``), :mod:`.pope`
(LLaVA's ``eval_pope.py``), :mod:`.mme` (MME's ``calculation.py``), :mod:`.mc` (LLaVA's
``eval_science_qa.py``), :mod:`.aokvqa` (DataOptim's answer form), :mod:`.grounding`
(lmms-eval refcoco REC, or Shikra), :mod:`.caption` (pycocoevalcap CIDEr-D).
Shared tables, box readers and CIDEr: :mod:`.shared`.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from typing import Any, Callable, Mapping, NamedTuple, Sequence

#: Task name -> module name in this package.
TASK_MODULES: dict[str, str] = {
    "vqa": "vqa", "textvqa": "textvqa", "gqa": "gqa", "pope": "pope", "mme": "mme", "mc": "mc",
    "aokvqa": "aokvqa", "grounding": "grounding", "caption": "caption",
}
#: Label put on every lenient result.
LENIENT_LABEL = "lenient reading (not official)"


class TaskScore(NamedTuple):
    """What a task scorer returns.

    Attributes:
        scores: the task's ``scores.json`` entry (see the package docstring).
        questions: one dict per item, in item order (``per_question.jsonl`` lines).
    """

    scores: dict[str, Any]
    questions: list[dict[str, Any]]


def scorer(task: str):
    """The scorer module of ``task`` (has ``score``, ``REFERENCE``, ``HEADLINE``).

    Raises:
        KeyError: no scorer for ``task``.
    """
    return importlib.import_module(f"{__name__}.{TASK_MODULES[task]}")


def question_row(item: Mapping[str, Any], prediction: str, score: float, parsed: Any) -> dict[str, Any]:
    """One ``per_question.jsonl`` line."""
    return {"question_id": item["question_id"], "task": item["task"], "category": item.get("category"),
            "prediction": prediction, "score": score, "parsed": parsed}


def header(reference: str, headline: str, *, lenient: bool = False, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The descriptive head of a task's ``scores.json`` entry."""
    return {"scorer": f"{reference}; {LENIENT_LABEL}" if lenient else reference, "official": not lenient,
            "options": {"lenient": lenient, **(options or {})}, "headline": headline}


def by_category(items: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Item indices per ``category`` in first-seen order (items without one fall under ``"all"``)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        groups[str(item.get("category") or "all")].append(i)
    return dict(groups)


def mean_scores(items: Sequence[Mapping[str, Any]], values: Sequence[float], metric: str = "accuracy") -> dict[str, Any]:
    """``{metric: mean, "n": n, "categories": {cat: {metric, n}}}`` (categories only when items carry one)."""
    n = len(values)
    out: dict[str, Any] = {metric: sum(values) / n if n else 0.0, "n": n}
    if any(item.get("category") for item in items):
        out["categories"] = {cat: {metric: sum(values[i] for i in idx) / len(idx), "n": len(idx)}
                             for cat, idx in by_category(items).items()}
    return out


def check_lengths(items: Sequence[Any], predictions: Sequence[Any]) -> None:
    """Raise ValueError unless there is one prediction per item."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} items")


def per_item(items: Sequence[Mapping[str, Any]], predictions: Sequence[str | None],
             judge: Callable[[Mapping[str, Any], str], tuple[float, Any]]) -> tuple[list[float], list[dict[str, Any]]]:
    """Apply ``judge(item, prediction) -> (score, parsed)`` to every pair; return the scores and question rows.

    A missing prediction (``None``: a question left unanswered, scored only with ``allow_missing``)
    gets no credit: score 0.0, parsed None.
    """
    check_lengths(items, predictions)
    values, rows = [], []
    for item, pred in zip(items, predictions):
        value, parsed = (0.0, None) if pred is None else judge(item, pred)
        values.append(value)
        rows.append(question_row(item, pred, value, parsed))
    return values, rows


def refs(item: Mapping[str, Any]) -> list[str]:
    """The item's references as a list (``answers``, or ``[answer]``)."""
    if item.get("answers") is not None:
        return list(item["answers"])
    if item.get("answer") is not None:
        return [item["answer"]]
    return []


__all__ = ["TASK_MODULES", "TaskScore", "scorer", "question_row", "header", "by_category", "mean_scores", "per_item", "refs"]


