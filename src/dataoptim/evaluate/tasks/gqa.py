"""GQA accuracy: LLaVA's conversion of the answers, then GQA's exact match.

References: haotian-liu/LLaVA ``scripts/convert_gqa_for_eval.py`` @
c121f0432da27facab705978f83c4ada465e46fd (the prediction becomes
``text.rstrip('.').lower()``), then GQA's official ``eval.py`` (``correct = (predicted == gold)``:
the converted prediction must equal the gold answer string exactly). Nothing else is
forgiven: surrounding or doubled whitespace, articles and trailing text make an answer wrong.
Several reference strings: right if it equals any of them.

``lenient=True``: :func:`dataoptim.evaluate.metrics.gqa_match` (both sides lowercased, whitespace
collapsed, trailing periods dropped) — not official.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, header, mean_scores, per_item, refs

REFERENCE = "LLaVA scripts/convert_gqa_for_eval.py (haotian-liu/LLaVA @ c121f04) + GQA eval.py exact match"
HEADLINE = "accuracy"


def convert(prediction: str) -> str:
    """The prediction as ``convert_gqa_for_eval.py`` writes it: trailing periods stripped, then lowercased."""
    return prediction.rstrip(".").lower()


def judge(prediction: str, answers: Sequence[str]) -> tuple[float, str]:
    """``(1.0 or 0.0, converted prediction)``."""
    pred = convert(prediction)
    return float(any(pred == gold for gold in answers)), pred


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score GQA items; ``accuracy`` over questions (and per ``category``), in [0, 1]."""
    if lenient:
        from dataoptim.evaluate.metrics import gqa_match, gqa_normalize

        values, rows = per_item(items, predictions, lambda it, p: (max(gqa_match(p, r) for r in refs(it)), gqa_normalize(p)))
    else:
        values, rows = per_item(items, predictions, lambda it, p: judge(p, refs(it)))
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **mean_scores(items, values)}, rows)
