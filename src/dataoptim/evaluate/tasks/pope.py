"""POPE, per category, as LLaVA's ``eval_pope.py`` scores it; the headline F1 is the mean over categories.

Reference: haotian-liu/LLaVA ``llava/eval/eval_pope.py`` @ c121f0432da27facab705978f83c4ada465e46fd.

- Reading an answer (:func:`read`): only the text before the first ``.`` counts; commas
  are deleted (not turned into spaces); the text is split on single spaces; the answer
  is ``no`` if one of those words is exactly ``No``, ``no`` or ``not`` (case-sensitive:
  ``NO`` reads as yes, so does ``No\\nthere``), otherwise ``yes`` (an empty answer too).
- A label is negative if it is exactly ``no``; any other label is positive.
- Per ``category`` (adversarial / popular / random: one label file each): accuracy,
  precision, recall, F1 and yes-ratio, with ``yes`` the positive class.
- The task's values are the unweighted means over the categories (LLaVA reports the
  mean F1 over the three splits); ``f1`` is the headline.

A missing answer (``None``) counts as the wrong one. Where the reference divides by zero (no predicted or no actual positive in a category)
the ratio is 0.0 here.

``lenient=True``: :func:`dataoptim.evaluate.metrics.pope_label` on both sides (lowercased,
commas as spaces, any whitespace) — not official.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, by_category, header, per_item, refs

REFERENCE = "LLaVA llava/eval/eval_pope.py (haotian-liu/LLaVA @ c121f04), per category, mean over categories"
HEADLINE = "f1"
METRICS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def read(text: str) -> str:
    """``"yes"`` or ``"no"``: an answer read as ``eval_pope.py`` reads it (see the module docstring)."""
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def counts_to_metrics(tp: int, fp: int, tn: int, fn: int) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio from the confusion counts (ratios over 0 are 0.0)."""
    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    n = tp + fp + tn + fn
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {"accuracy": ratio(tp + tn, n), "precision": precision, "recall": recall,
            "f1": ratio(2 * precision * recall, precision + recall), "yes_ratio": ratio(tp + fp, n)}


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score POPE items: per-category metrics (with TP/FP/TN/FN and ``n``) and their means.

    ``questions[i]["parsed"]`` is ``"yes"`` or ``"no"``; ``score`` is 1.0 when it agrees with the label.
    """
    if lenient:
        from dataoptim.evaluate.metrics import pope_label

        def label_of(it: Mapping[str, Any]) -> str:
            return pope_label(refs(it)[0])
        reader = pope_label
    else:
        def label_of(it: Mapping[str, Any]) -> str:
            return "no" if refs(it)[0] == "no" else "yes"
        reader = read
    _, rows = per_item(items, predictions, lambda it, p: (float(reader(p) == label_of(it)), reader(p)))
    categories: dict[str, dict[str, Any]] = {}
    for cat, idx in by_category(items).items():
        tp = fp = tn = fn = 0
        for i in idx:
            gold = label_of(items[i]) == "yes"
            # a missing answer (parsed None) counts as the wrong one
            pred = (not gold) if rows[i]["parsed"] is None else rows[i]["parsed"] == "yes"
            tp += pred and gold
            fp += pred and not gold
            tn += (not pred) and (not gold)
            fn += (not pred) and gold
        categories[cat] = {**counts_to_metrics(tp, fp, tn, fn), "tp": tp, "fp": fp, "tn": tn, "fn": fn, "n": len(idx)}
    means = {m: sum(c[m] for c in categories.values()) / len(categories) if categories else 0.0 for m in METRICS}
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **means, "n": len(items), "categories": categories}, rows)
