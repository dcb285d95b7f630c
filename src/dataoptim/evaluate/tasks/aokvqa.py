"""A-OKVQA multiple choice in DataOptim's answer form, ``The correct option is B.``.

DataOptim trains A-OKVQA with answers of exactly this form (the library's A-OKVQA
builder keeps it) and publishes no scorer for it, so the rule is that form's exact
reading: the prediction, stripped of surrounding whitespace (DataOptim's
``evaluation/run_llava_eval.py`` strips its outputs; BAAI-DCAI/DataOptim @ 1d45a74), must be
``The correct option is X.`` with ``X`` one capital letter, and ``X`` must be the reference's
letter. Anything else (``B``, ``The correct option is (B).``, a lower-case ``the``, extra text)
reads as ``FAILED``.

``lenient=True``: :func:`dataoptim.evaluate.metrics.extract_choice` — not official.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, header, mean_scores, per_item
from dataoptim.evaluate.tasks.mc import FAILED, gold_letter

REFERENCE = "DataOptim answer form 'The correct option is X.' (exact; BAAI-DCAI/DataOptim @ 1d45a74)"
HEADLINE = "accuracy"
_FORM = re.compile(r"The correct option is ([A-Z])\.")


def read(prediction: str) -> str:
    """The letter of a prediction of the exact form, or ``"FAILED"``."""
    match = _FORM.fullmatch(prediction.strip())
    return match.group(1) if match else FAILED


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score A-OKVQA items; ``accuracy`` over questions (and per ``category``), in [0, 1]."""
    if lenient:
        from dataoptim.evaluate.metrics import extract_choice

        def reader(it: Mapping[str, Any], p: str) -> str:
            return extract_choice(p, choices=it.get("choices")) or FAILED
    else:
        def reader(it: Mapping[str, Any], p: str) -> str:
            return read(p)
    values, rows = per_item(items, predictions, lambda it, p: (float(reader(it, p) == gold_letter(it)), reader(it, p)))
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **mean_scores(items, values)}, rows)
