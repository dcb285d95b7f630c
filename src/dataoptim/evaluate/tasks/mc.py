"""Multiple choice, as LLaVA's ``eval_science_qa.py`` reads the letter.

Reference: haotian-liu/LLaVA ``llava/eval/eval_science_qa.py`` @ c121f0432da27facab705978f83c4ada465e46fd
(options ``A``–``E``). The prediction's letter (:func:`read`) is, in order:

1. the whole prediction, if it is one of the option letters (``"B"``; not ``"b"``, ``" B"``, ``"B."``, ``"(B)"``);
2. its first character, if it has 3+ characters, that character is an option letter and
   characters 2–3 are ``". "`` (``"B. train"``);
3. the letter of ``The answer is X`` followed by any character, if that phrase occurs exactly
   once (``"The answer is B."``, ``"The answer is B,"``; not at the very end, not twice);
4. otherwise ``FAILED``.

The question is right when the letter is among the first ``len(choices)`` options (all five
when the item has no ``choices``) and is the reference's letter.

``lenient=True``: :func:`dataoptim.evaluate.metrics.extract_choice` (``B.``, ``(B)``, ``answer: B``,
the option text...) — not official.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, header, mean_scores, per_item, refs

REFERENCE = "LLaVA llava/eval/eval_science_qa.py (haotian-liu/LLaVA @ c121f04)"
HEADLINE = "accuracy"
#: The reference's option letters.
OPTIONS = ("A", "B", "C", "D", "E")
FAILED = "FAILED"
_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")


def read(prediction: str) -> str:
    """The letter ``eval_science_qa.py`` reads from ``prediction``, or ``"FAILED"``."""
    if prediction in OPTIONS:
        return prediction
    if len(prediction) >= 3 and prediction[0] in OPTIONS and prediction[1:3] == ". ":
        return prediction[0]
    found = _ANSWER_IS.findall(prediction)
    return found[0] if len(found) == 1 else FAILED


def gold_letter(item: Mapping[str, Any]) -> str:
    """The reference letter of an item (``"B"`` or a sentence naming it).

    Raises:
        ValueError: the reference names no letter.
    """
    from dataoptim.evaluate.metrics import extract_choice

    letter = extract_choice(refs(item)[0])
    if letter is None:
        raise ValueError(f"reference {refs(item)[0]!r} names no option letter")
    return letter


def judge(item: Mapping[str, Any], prediction: str | None) -> tuple[float, str]:
    """``(1.0 or 0.0, letter or "FAILED")``; a missing prediction is ``FAILED``, as the reference marks it."""
    letter = FAILED if prediction is None else read(prediction)
    n = len(item["choices"]) if item.get("choices") else len(OPTIONS)
    return float(letter in OPTIONS[:n] and letter == gold_letter(item)), letter


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score multiple-choice items; ``accuracy`` over questions (and per ``category``), in [0, 1]."""
    if lenient:
        from dataoptim.evaluate.metrics import extract_choice

        def lenient_judge(it: Mapping[str, Any], p: str) -> tuple[float, str]:
            letter = extract_choice(p, choices=it.get("choices"))
            return float(letter == gold_letter(it)), letter or FAILED
        values, rows = per_item(items, predictions, lenient_judge)
    else:  # judge itself reads a missing prediction as FAILED (eval_science_qa.py's rule)
        values, rows = per_item(items, [p if p is not None else "" for p in predictions], judge)
        for i, pred in enumerate(predictions):
            if pred is None:
                rows[i]["prediction"] = None
    return TaskScore({**header(REFERENCE, HEADLINE, lenient=lenient), **mean_scores(items, values)}, rows)
