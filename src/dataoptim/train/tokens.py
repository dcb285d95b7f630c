"""``dataoptim tokens``: what the recipe feeds the model for each record of a selection, as JSON Lines.

One line per record: ``id``, ``input_ids`` (LLaMA-2 ids; each image position
written as ``-200``, LLaVA's ``IMAGE_TOKEN_INDEX``, once per image feature: 256
for the recipe's CLIP ViT-L/14 at 224 px), ``labels`` (``-100`` where the loss
ignores the token), ``positions`` / ``positions_before`` (LLaVA's count, the
image once, after and before the cut at ``model_max_length``), ``truncated``
(with ``truncated_reason``) and ``masked`` (None, or why LLaVA masks every
label). The encoding is :func:`dataoptim.train.encoding.encode_record` with the
tokenizer folder's SentencePiece model. Imports no ``torch``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator, TextIO

from dataoptim.train.encoding import IGNORE_INDEX, IMAGE_TOKEN_INDEX, RECIPE_IMAGE_FEATURES, RECIPE_MAX_LENGTH, RecordTokens, encode_record


def iter_selection(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Validated records of a LLaVA JSON list or JSON Lines file, streamed; repeats allowed (same id, same content).

    Raises:
        MissingFileError, InputError, RecordError: as :func:`dataoptim.train.data.load_selection`.
    """
    from dataoptim.train.data import _records, selection_kind

    path = Path(path)
    kind = selection_kind(path)
    for record in _records(str(path), kind):
        yield record["index"], record


def token_line(record: dict, tokens: RecordTokens, *, model_max_length: int, image_features: int) -> dict[str, Any]:
    """The JSON object written for one record (see the module docstring)."""
    ids, labels = tokens.expanded(image_features, IMAGE_TOKEN_INDEX)
    return {
        "id": record["id"],
        "input_ids": ids,
        "labels": labels,
        "positions": tokens.positions,
        "positions_before": tokens.positions_before,
        "truncated": tokens.truncated,
        "truncated_reason": (
            f"{tokens.positions_before} positions (the image counted once) cut at model_max_length {model_max_length}"
            if tokens.truncated else None
        ),
        "masked": tokens.masked,
    }


def write_tokens(
    data: str | os.PathLike,
    tokenizer: str | os.PathLike,
    output: str | os.PathLike,
    *,
    model_max_length: int = RECIPE_MAX_LENGTH,
    image_features: int = RECIPE_IMAGE_FEATURES,
    image_position: str = "front",
    legacy: bool | None = None,
    show: int = 0,
    console: TextIO | None = None,
) -> dict[str, int]:
    """Encode every record of ``data`` as the recipe does and write one JSON line each to ``output``.

    Args:
        data: a LLaVA JSON list or JSON Lines selection.
        tokenizer: folder holding LLaMA-2's ``tokenizer.model`` (and ``tokenizer_config.json``).
        output: the JSON Lines file, written atomically (nothing appears on an error).
        model_max_length: the cut, in positions with the image counted once (2048).
        image_features: ``-200`` positions written per image (256).
        image_position: ``front`` (LLaVA) or ``inline``.
        legacy: override the tokenizer config's ``legacy``.
        show: print the first ``show`` records decoded, masked spans marked (:func:`render_record`).
        console: where ``show`` prints (default stdout).

    Returns:
        ``{"records", "truncated", "masked", "train_nothing", "repeats"}`` counts.

    Raises:
        MissingFileError: selection or ``tokenizer.model`` missing. InputError, RecordError: bad selection,
            or one without records (``[]``).
        ConfigError: bad option; ``output`` is the ``data`` file.
    """
    import sys

    from dataoptim.errors import ConfigError
    from dataoptim.io import atomic_write
    from dataoptim.train.encoding import LlamaText

    for name, value in (("model_max_length", model_max_length), ("image_features", image_features)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, found {value!r}")
    if show < 0:
        raise ConfigError(f"show must be >= 0, found {show!r}")
    from dataoptim.io import refuse_overwrite

    from dataoptim.boxes import frame_path

    refuse_overwrite({"output": output}, {"data": data, "data's frame file": frame_path(data), "tokenizer": tokenizer})  # never an input
    text = LlamaText.from_dir(tokenizer, legacy=legacy)
    counts = {"records": 0, "truncated": 0, "masked": 0, "train_nothing": 0, "repeats": 0}
    seen: set[str] = set()
    out = console or sys.stdout
    with atomic_write(output) as handle:
        for _, record in iter_selection(data):
            tokens = encode_record(
                record["conversations"], text, has_image=record["image"] is not None,
                model_max_length=model_max_length, image_position=image_position,
            )
            handle.write(json.dumps(token_line(record, tokens, model_max_length=model_max_length, image_features=image_features)) + "\n")
            counts["records"] += 1
            counts["truncated"] += tokens.truncated
            counts["masked"] += tokens.masked is not None
            counts["train_nothing"] += tokens.answer_tokens == 0
            counts["repeats"] += record["id"] in seen
            seen.add(record["id"])
            if counts["records"] <= show:
                out.write(render_record(record["id"], tokens, text, image_features=image_features) + "\n")
        if not counts["records"]:  # as train and validate refuse it; nothing is written
            from dataoptim.errors import InputError

            raise InputError("the selection holds no records", file=data)
    return counts


#: Marks around a masked span in :func:`render_record`.
MASK_OPEN, MASK_CLOSE = "\u27e6", "\u27e7"


def render_record(record_id: str, tokens: RecordTokens, text, *, image_features: int = RECIPE_IMAGE_FEATURES) -> str:
    """A record's ids decoded, with every masked span (label -100) between ``⟦`` and ``⟧``.

    The image is shown as ``<image×256>``; what lies outside the marks is what the
    loss trains on (the answers and their ``</s>``). A header line gives the id,
    positions, labels used, and the cut or mask if any.
    """
    head = f"== {record_id}: {tokens.positions} positions"
    if IMAGE_TOKEN_INDEX in tokens.input_ids:
        head += f" (image once; {tokens.positions - 1 + image_features} tokens with its {image_features} features)"
    head += f", {tokens.answer_tokens} trained labels"
    if tokens.truncated:
        head += f"; truncated from {tokens.positions_before}"
    if tokens.masked:
        head += f"; masked: {tokens.masked}"
    pieces: list[tuple[bool, str]] = []  # (masked, text), in order
    run: list[int] = []
    run_masked = False
    for t, label in zip(tokens.input_ids + [None], tokens.labels + [None]):
        masked = label == IGNORE_INDEX
        if run and (t is None or t == IMAGE_TOKEN_INDEX or masked != run_masked):
            pieces.append((run_masked, text.decode(run)))
            run = []
        if t is None:
            break
        if t == IMAGE_TOKEN_INDEX:
            pieces.append((masked, f"<image\u00d7{image_features}>"))
            continue
        run.append(t)
        run_masked = masked
    body = "".join(f"{MASK_OPEN}{piece}{MASK_CLOSE}" if masked else piece for masked, piece in pieces)
    return head + "\n" + body.replace(MASK_CLOSE + MASK_OPEN, "")
