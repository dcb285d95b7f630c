"""MME, as its official ``calculation.py`` scores it.

Reference: MME's ``eval_tool/calculation.py`` (BradyFU/Awesome-Multimodal-Large-Language-Models,
branch ``Evaluation``, ``eval_tool.zip`` @ dd29509). Items of task ``mme`` carry their
subtask as ``category`` (``existence`` ... ``code_reasoning``, :data:`SUBTASKS`).

- Reading an answer (:func:`read`): lowercased; ``yes``/``no`` as is; otherwise ``yes`` if
  the first four characters hold ``yes``, else ``no`` if they hold ``no``, else ``other``
  (``Not sure`` reads as no, ``There is`` as other). The reference must be yes or no.
- Per subtask: ``acc`` over its questions; ``acc_plus`` over its images, taking the
  questions two by two in their order (MME's files hold each image's two questions on
  consecutive lines), an image counting when both are right; ``score = 100 * (acc + acc_plus)``.
- ``perception`` = sum of the ten perception subtask scores, ``cognition`` = sum of the
  four cognition ones (each over the subtasks present). ``perception`` is the headline.

``lenient=True`` changes nothing for MME (its reading is already a prefix rule); it is
recorded as given.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.errors import InputError
from dataoptim.evaluate.tasks import TaskScore, by_category, header, per_item, refs

REFERENCE = "MME eval_tool/calculation.py (BradyFU/Awesome-Multimodal-Large-Language-Models Evaluation @ dd29509)"
HEADLINE = "perception"
PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR")
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
#: The 14 MME subtasks, in the reference's order.
SUBTASKS = PERCEPTION + COGNITION


def read(text: str) -> str:
    """``"yes"``, ``"no"`` or ``"other"``: an answer read as ``calculation.py`` reads it."""
    text = text.lower()
    if text in ("yes", "no"):
        return text
    head = text[:4]
    return "yes" if "yes" in head else "no" if "no" in head else "other"


def check(items: Sequence[Mapping[str, Any]], *, file: str | None = None) -> None:
    """Refuse MME items that ``calculation.py`` would refuse.

    Raises:
        InputError: a category that is no MME subtask, a reference other than yes/no
            (any case), or a subtask with an odd number of questions (it pairs them by image).
    """
    for item in items:
        where = {"file": item.get("file", file), "record": item.get("record"), "id": item["question_id"]}  # results files keep both
        if item.get("category") not in SUBTASKS:
            raise InputError(f"MME subtask {item.get('category')!r} is none of {', '.join(SUBTASKS)}", field="category", **where)
        gold = refs(item)[0] if refs(item) else None
        if gold is None or gold.lower() not in ("yes", "no"):
            raise InputError(f"an MME reference must be yes or no, found {gold!r}", field="answer", **where)
    for cat, idx in by_category(items).items():
        if len(idx) % 2:
            from dataoptim.words import count

            raise InputError(f"MME subtask {cat!r} has {count(len(idx), 'question')}; MME scores them two per image, so it needs an even number",
                             file=items[idx[-1]].get("file", file), id=items[idx[-1]]["question_id"], field="category")


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False, **_: Any) -> TaskScore:
    """Score MME items: per subtask ``acc``, ``acc_plus``, ``score`` (0–200), ``other`` and ``n``; the two totals.

    Raises:
        InputError: see :func:`check`.
    """
    check(items)
    values, rows = per_item(items, predictions, lambda it, p: (float(read(p) == refs(it)[0].lower()), read(p)))
    for row in rows:
        if row["parsed"] is None:  # a missing answer reads as MME's "other"
            row["parsed"] = "other"
    categories: dict[str, dict[str, Any]] = {}
    groups = by_category(items)
    for cat in sorted(groups, key=SUBTASKS.index):
        idx = groups[cat]
        acc = sum(values[i] for i in idx) / len(idx)
        pairs = [idx[k:k + 2] for k in range(0, len(idx), 2)]
        acc_plus = sum(all(values[i] for i in pair) for pair in pairs) / len(pairs)
        categories[cat] = {"acc": acc, "acc_plus": acc_plus, "score": 100 * acc + 100 * acc_plus,
                           "other": sum(rows[i]["parsed"] == "other" for i in idx), "n": len(idx)}
    totals = {"perception": sum(categories[c]["score"] for c in PERCEPTION if c in categories),
              "cognition": sum(categories[c]["score"] for c in COGNITION if c in categories)}
    missing = [c for c in SUBTASKS if c not in categories]
    head = header(REFERENCE, HEADLINE, lenient=lenient)
    out = {**head, **totals, "n": len(items), "categories": categories}
    if missing:
        out["missing_subtasks"] = missing
    return TaskScore(out, rows)
