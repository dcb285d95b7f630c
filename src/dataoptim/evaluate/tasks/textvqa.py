"""TextVQA accuracy, as LLaVA's ``eval_textvqa.py`` scores it with ``m4c_evaluator``.

Reference: haotian-liu/LLaVA ``llava/eval/m4c_evaluator.py`` (``EvalAIAnswerProcessor``,
``TextVQAAccuracyEvaluator``) and ``llava/eval/eval_textvqa.py`` @
c121f0432da27facab705978f83c4ada465e46fd. Every answer, human or predicted, goes
through :func:`~.shared.evalai_process` (always, unlike vqaEval): lowercase, ``,`` and
``?`` deleted (``red,white`` -> ``redwhite``), ``'s`` split (``dog's`` -> ``dog 's``),
then vqaEval's punctuation (EvalAI's comma test), digit, article and contraction
rules. Accuracy is the leave-one-out soft score over the ten human answers.

The reference asserts exactly ten answers; here any number is scored with the same
formula, and one reference answer is read as ten identical ones (exact match after
processing). An empty prediction scores what the reference gives it: full credit when
every human answer normalises to empty (ten ``a``), else 0.

``lenient=True``: vqaEval's normalisation on both sides (:func:`dataoptim.evaluate.metrics.vqa_accuracy`) — not official.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, header, mean_scores, per_item, refs
from dataoptim.evaluate.tasks.shared import evalai_process, leave_one_out

REFERENCE = "LLaVA llava/eval/m4c_evaluator.py TextVQAAccuracyEvaluator (haotian-liu/LLaVA @ c121f04)"
HEADLINE = "accuracy"


def judge(prediction: str, answers: Sequence[str]) -> tuple[float, str]:
    """``(accuracy in [0, 1], processed prediction)`` for one question.

    Raises:
        ValueError: no answers.
    """
    if not answers:
        raise ValueError("a TextVQA question needs at least one reference answer")
    gts = [evalai_process(a) for a in answers]
    if len(gts) == 1:
        gts = gts * 10
    pred = evalai_process(prediction)
    return leave_one_out(pred, gts), pred


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score TextVQA items; ``accuracy`` over questions (and per ``category``), in [0, 1]."""
    if lenient:
        from dataoptim.evaluate.metrics import vqa_accuracy, vqa_normalize

        values, rows = per_item(items, predictions, lambda it, p: (vqa_accuracy(p, refs(it)), vqa_normalize(p)))
    else:
        values, rows = per_item(items, predictions, lambda it, p: judge(p, refs(it)))
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **mean_scores(items, values)}, rows)
