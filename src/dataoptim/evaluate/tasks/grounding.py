"""Referring expression comprehension (REC): the box in the answer against the reference box.

Default rule ``lmms-eval``: EvolvingLMMs-Lab/lmms-eval ``lmms_eval/tasks/refcoco/utils_rec.py`` @
75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3. The prediction's box is the first ``[a, b, c, d]``
that :data:`~.shared.LMMS_BOX` reads (it takes DataOptim's ``[0.1, 0.2, 0.5, 0.6]``; not ``.1``,
``1e-1``, ``+0.1`` or a space before a comma); no box scores as ``[0, 0, 0, 0]``.
IoU is lmms-eval's ``compute_iou`` (:func:`~.shared.lmms_iou`); ``acc@T`` counts IoU >= T for
T in 0.1, 0.3, 0.5, 0.7, 0.9; ``center_acc`` counts predictions whose centre lies in the
reference box; ``miou`` is the mean IoU. ``acc@0.5`` is the headline.

Rule ``shikra``: shikras/shikra ``RECComputeMetrics`` (``mllm/dataset/single_image_dataset/rec.py``) @
1204f1082680d552fc26688a2aa557a39d8ec828: the prediction must hold exactly one box in Shikra's
own writing (``[0.1,0.2,0.5,0.6]``, no spaces: :func:`~.shared.shikra_box`), IoU in float32 on
boxes ×1000 (:func:`~.shared.shikra_iou`), right when IoU > 0.5 (strictly).

The reference box is read from the item's ``answer`` with the library's box reader (it is the
benchmark's own data, written by its builder). ``lenient=True``: the library's reader for the
prediction too (``.1``, ``1e-1`` accepted; the first box), IoU >= 0.5 — not official.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.errors import ConfigError
from dataoptim.evaluate.tasks import TaskScore, by_category, header, per_item, refs
from dataoptim.evaluate.tasks.shared import lmms_box, lmms_iou, shikra_box, shikra_iou

RULES = ("lmms-eval", "shikra")
REFERENCES = {
    "lmms-eval": "lmms-eval lmms_eval/tasks/refcoco/utils_rec.py REC (EvolvingLMMs-Lab/lmms-eval @ 75571cf)",
    "shikra": "Shikra RECComputeMetrics (shikras/shikra @ 1204f10): one box, IoU > 0.5",
}
REFERENCE = REFERENCES["lmms-eval"]
HEADLINE = "acc@0.5"
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def check_rule(rule: str) -> None:
    """Raises ConfigError unless ``rule`` is one of :data:`RULES`."""
    if rule not in RULES:
        raise ConfigError(f"grounding rule must be one of {', '.join(map(repr, RULES))}, found {rule!r}")


def gold_box(item: Mapping[str, Any]) -> list[float]:
    """The reference box of an item.

    Raises:
        ValueError: the reference holds no box.
    """
    from dataoptim.evaluate.metrics import parse_box

    box = parse_box(refs(item)[0])
    if box is None:
        raise ValueError(f"grounding reference {refs(item)[0]!r} holds no [x1, y1, x2, y2] box")
    return list(box)


def _center_in(gt: Sequence[float], pred: Sequence[float]) -> bool:
    cx, cy = (pred[0] + pred[2]) / 2, (pred[1] + pred[3]) / 2
    return gt[0] <= cx <= gt[2] and gt[1] <= cy <= gt[3]


def score(items: Sequence[Mapping[str, Any]], predictions: Sequence[str], *, lenient: bool = False,
          rule: str = "lmms-eval", **_: Any) -> TaskScore:
    """Score grounding items.

    Returns:
        A :class:`~dataoptim.evaluate.tasks.TaskScore`; ``questions[i]["score"]`` is the IoU,
        ``parsed`` the box read (or None). Metrics (fractions in [0, 1]): ``acc@0.5`` and
        ``miou`` for every rule; ``acc@0.1``…``acc@0.9`` and ``center_acc`` for ``lmms-eval``.

    Raises:
        ConfigError: an unknown ``rule``.
    """
    check_rule(rule)

    def judge(item: Mapping[str, Any], pred: str) -> tuple[float, Any]:
        gt = gold_box(item)
        if lenient:
            from dataoptim.evaluate.metrics import box_iou, parse_box

            box = parse_box(pred)
            return (0.0 if box is None else box_iou(box, gt)), None if box is None else list(box)
        if rule == "shikra":
            box = shikra_box(pred)
            return shikra_iou(gt, box if box is not None else [0.0, 0.0, 0.0, 0.0]), box
        box = lmms_box(pred)
        return lmms_iou(gt, box if box is not None else [0.0, 0.0, 0.0, 0.0]), box

    ious, rows = per_item(items, predictions, judge)
    n = len(items)
    answered = [p is not None for p in predictions]
    hits = [ok and (iou > 0.5 if rule == "shikra" and not lenient else iou >= 0.5) for ok, iou in zip(answered, ious)]
    centers = [ok and _center_in(gold_box(it), row["parsed"] or [0.0, 0.0, 0.0, 0.0]) for ok, it, row in zip(answered, items, rows)]

    def metrics(idx: Sequence[int]) -> dict[str, Any]:
        k = len(idx)
        out: dict[str, Any] = {"acc@0.5": sum(hits[i] for i in idx) / k if k else 0.0,
                               "miou": sum(ious[i] for i in idx) / k if k else 0.0}
        if rule == "lmms-eval" and not lenient:
            for t in THRESHOLDS:
                out[f"acc@{t:g}"] = sum(ious[i] >= t for i in idx) / k if k else 0.0
            out["center_acc"] = sum(centers[i] for i in idx) / k if k else 0.0
        return {**out, "n": k}

    result = {**header(REFERENCES[rule], HEADLINE, lenient=lenient, options={"rule": rule}), **metrics(range(n))}
    if any(item.get("category") for item in items):
        result["categories"] = {cat: metrics(idx) for cat, idx in by_category(items).items()}
    return TaskScore(result, rows)
