"""VQAv2 and OK-VQA accuracy, as the official ``vqaEval.py`` scores it.

Reference: GT-Vision-Lab/VQA ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` @
a013f0043c1e2cdc995922dfe257f7149aa9af06 (``VQAEval.evaluate``). Per question:

1. newlines and tabs become spaces and both sides are stripped;
2. only when the human answers are not all the same string (``len(set(answers)) > 1``)
   are prediction and answers normalised (:func:`~.shared.vqa_process`: punctuation,
   at most 32 periods, number words, articles, vqaEval's contraction table). When all
   answers agree, nothing is normalised: ``Yes``, ``yes.``, ``two``, ``a dog`` score 0
   against ten ``yes`` / ``2`` / ``dog`` (the annotations are stored normalised);
3. accuracy = mean over the answers of ``min(1, matches among the others / 3)``.

One reference answer (DataOptim's validation set, hold-out records), where vqaEval's
leave-one-out would always give 0, is read as ten identical human answers: the unanimous
case, i.e. an exact match after step 1. The reference reports percentages rounded to
two places; values here are fractions in [0, 1], unrounded.

``lenient=True``: :func:`dataoptim.evaluate.metrics.vqa_accuracy` (both sides always
normalised, the contraction table completed) — not official.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, header, mean_scores, per_item, refs
from dataoptim.evaluate.tasks.shared import leave_one_out, strip_whitespace, vqa_process

REFERENCE = "vqaEval.py (GT-Vision-Lab/VQA @ a013f00)"
HEADLINE = "accuracy"


def judge(prediction: str, answers: Sequence[str]) -> tuple[float, str]:
    """``(accuracy in [0, 1], the prediction as compared)`` for one question (see the module docstring).

    Raises:
        ValueError: no answers.
    """
    if not answers:
        raise ValueError("a VQA question needs at least one reference answer")
    gts = [strip_whitespace(a) for a in answers]
    if len(gts) == 1:
        gts = gts * 10
    pred = strip_whitespace(prediction)
    if len(set(gts)) > 1:
        gts = [vqa_process(a) for a in gts]
        pred = vqa_process(pred)
    return leave_one_out(pred, gts), pred


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score VQA items; ``accuracy`` is the mean over questions, per ``category`` too (fractions in [0, 1])."""
    if lenient:
        from dataoptim.evaluate.metrics import vqa_accuracy, vqa_normalize

        values, rows = per_item(items, predictions, lambda it, p: (vqa_accuracy(p, refs(it)), vqa_normalize(p)))
    else:
        values, rows = per_item(items, predictions, lambda it, p: judge(p, refs(it)))
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **mean_scores(items, values)}, rows)
