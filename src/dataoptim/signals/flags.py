"""Signal ``flags``: empty or refusal replies, and boxes present with their frame.

Needs: ``conversations``. Writes:

* ``empty_reply``: some ``gpt`` turn is empty or only spaces;
* ``refusal``: some ``gpt`` turn matches :data:`REFUSAL_PATTERN` (case-insensitive): a reply that
  says the message or image is missing, or declines. SVIT's GPT-4-generated answers hold replies
  such as "It seems like your message is empty. Could you please provide ...", which teach the
  model nothing about the image;
* ``flagged``: ``empty_reply or refusal`` (the records a cleaning pass drops);
* ``box_count``: DataOptim boxes ``[x1, y1, x2, y2]`` in the record's text
  (:data:`dataoptim.boxes.BOX_PATTERN`), ``has_boxes``: ``box_count > 0``;
* ``box_frame``: the frame of those boxes (``original``: normalised by the image's own
  size, as DataOptim's converted files are; parameter ``frame`` to mark a pool converted to
  ``padded``), null without boxes.

Paper: rule-based cleaning as in Data-Juicer (Chen et al. 2024) and the response filters of
SVIT (Zhao et al. 2023, "SVIT: Scaling up Visual Instruction Tuning", §3: GPT-4 replies
filtered by rules).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim.signals.turns import turns

NAME = "flags"
VERSION = "1"
NEEDS = ("conversations",)
WRITES = {
    "empty_reply": pa.bool_(),
    "refusal": pa.bool_(),
    "flagged": pa.bool_(),
    "box_count": pa.int32(),
    "has_boxes": pa.bool_(),
    "box_frame": pa.string(),
}
PARAMS = {"frame": "original"}
PAPER = "rule-based filters: Data-Juicer (Chen et al. 2024); SVIT (Zhao et al. 2023) response filtering"

#: Replies that say the input is missing, or that decline (case-insensitive, searched anywhere in a gpt turn).
REFUSAL_PATTERN = (
    r"(?i)(it seems (like )?(your|the) (message|question|input) (is|was) (empty|blank|incomplete)"
    r"|you (haven't|have not|didn't|did not) (provided|shared|uploaded|included|attached|sent) (an? |any |the )?(image|picture|photo|question|message|text)"
    r"|please provide (the |an? |more )?(image|picture|question|message|details|information|context)"
    r"|i'?m sorry,? but (i|as an ai)"
    r"|as an ai( language model)?,? i"
    r"|i (cannot|can't|can not|am unable to|'m unable to|am not able to) (see|view|access|analy[sz]e|process|open) (the |any |this |your )?(image|picture|photo))"
)


def prepare(params):
    from dataoptim.boxes import FRAMES
    from dataoptim.errors import ConfigError

    if params["frame"] not in FRAMES:
        raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, found {params['frame']!r}", field="frame")
    return params


def compute(batch: pa.RecordBatch, params) -> dict:
    from dataoptim.boxes import BOX_PATTERN

    t = turns(batch)
    answers = np.flatnonzero(t.is_answer)
    replies = t.values.take(pa.array(answers))  # the two reply checks read the gpt turns only
    empty = np.zeros(len(t.is_answer), dtype=bool)
    refusal = np.zeros(len(t.is_answer), dtype=bool)
    empty[answers] = pc.equal(pc.utf8_trim_whitespace(replies), "").to_numpy(zero_copy_only=False).astype(bool)
    refusal[answers] = pc.match_substring_regex(replies, pattern=REFUSAL_PATTERN).to_numpy(zero_copy_only=False).astype(bool)
    boxes = pc.count_substring_regex(t.values, pattern=BOX_PATTERN.pattern).to_numpy(zero_copy_only=False)
    empty_r = t.per_record(empty) > 0
    refusal_r = t.per_record(refusal) > 0
    count = t.per_record(boxes).astype(np.int32)
    frame = np.where(count > 0, params["frame"], None)
    return {
        "empty_reply": empty_r,
        "refusal": refusal_r,
        "flagged": empty_r | refusal_r,
        "box_count": count,
        "has_boxes": count > 0,
        "box_frame": pa.array(frame.tolist(), type=pa.string()),
    }
