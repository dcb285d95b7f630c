"""Captions: CIDEr-D with pycocoevalcap, each ``category`` (caption source) its own corpus.

Reference: ``pycocoevalcap`` (tylin/coco-caption, the PyPI package): ``PTBTokenizer``
(Stanford PTB tokenizer in Java; punctuation tokens dropped) then ``Cider`` (CIDEr-D,
n = 1..4, sigma = 6, document frequencies over the references of the corpus scored).
A benchmark such as COCO, Flickr30K or TextCaps is scored alone, so items are grouped by
``category`` and each group is one corpus; ``cider`` is that group's value when there is
one group and the mean over groups otherwise. Per question, ``score`` is the item's
CIDEr-D within its group and ``parsed`` the tokenised caption.

``tokenizer="simple"`` (:func:`dataoptim.evaluate.metrics.caption_tokenize`, no Java) is
not official (it splits hyphenated words and clitics differently from PTB, which changes the n-grams).
Without Java the official tokenizer is refused (:func:`~.shared.check_cider_tokenizer`),
never silently replaced.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.evaluate.tasks import TaskScore, by_category, check_lengths, header, question_row, refs
from dataoptim.evaluate.tasks.shared import check_cider_tokenizer, cider

REFERENCE = "pycocoevalcap PTBTokenizer + Cider (CIDEr-D), per category"
HEADLINE = "cider"


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False,
          tokenizer: str = "ptb", **_: Any) -> TaskScore:
    """Score caption items: ``cider`` (pycocoevalcap's scale, 0–10 per item), ``n``, ``categories``.

    Raises:
        ConfigError: unknown tokenizer, or ``"ptb"`` without Java.
    """
    check_cider_tokenizer(tokenizer)
    check_lengths(items, predictions)
    official = tokenizer == "ptb" and not lenient
    rows: list[dict[str, Any]] = [{} for _ in items]
    categories: dict[str, dict[str, Any]] = {}
    for cat, idx in by_category(items).items():
        keys = [str(i) for i in idx]
        # a missing caption (None) is the empty caption: no n-gram, CIDEr 0
        corpus, per, tokens = cider({k: predictions[int(k)] or "" for k in keys}, {k: refs(items[int(k)]) for k in keys}, tokenizer=tokenizer)
        categories[cat] = {"cider": corpus, "n": len(idx)}
        for k in keys:
            i = int(k)
            rows[i] = question_row(items[i], predictions[i], per[k], tokens[k])
    head = header(REFERENCE if official else f"{REFERENCE} with the 'simple' tokenizer (not official)", HEADLINE,
                  lenient=lenient, options={"cider_tokenizer": tokenizer})
    head["official"] = official
    value = sum(c["cider"] for c in categories.values()) / len(categories) if categories else 0.0
    out = {**head, "cider": value, "n": len(items)}
    if any(item.get("category") for item in items):
        out["categories"] = categories
    return TaskScore(out, rows)
