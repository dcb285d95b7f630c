"""Per-record signals stored beside a pool, usable wherever a column is (issue 16).

Built in (one module each, all of the same form: see :mod:`dataoptim.signals.base`):

========== ============================== ==================================================
signal     needs                          writes
========== ============================== ==================================================
text       conversations                  turns, prompt/answer chars and words, length class
duplicates image, conversations           conversation / question+image / image hashes, groups
neardup    conversations                  MinHash near-duplicate groups (datasketch)
flags      conversations                  empty / refusal replies, boxes and their frame
images     image + --image-folder         width, height, format, content hash, status
tokens     conversations + --tokenizer    prompt / answer / total tokens, truncated, masked
clip       image + --model (CLIP)         clip_score (image-text cosine similarity)
loss       conversations + --model (LLaVA) answer_loss, answer_ppl, prompt_free_loss, ifd
embed      image + --model (CLIP)         embedding (image embedding, for k-means diversity)
========== ============================== ==================================================

Example::

    from dataoptim.select import Pool
    from dataoptim import signals

    pool = Pool.open("pool")
    signals.compute(pool, "text")
    signals.compute(pool, "tokens", tokenizer="llama-2-7b-chat/")
    table = signals.load(pool, "text")            # pyarrow Table, one row per pool row
"""

from __future__ import annotations

import importlib
from typing import Any

from dataoptim.errors import ConfigError

#: Signal name -> module (imported on use).
SIGNALS = {
    "text": "dataoptim.signals.text",
    "duplicates": "dataoptim.signals.duplicates",
    "neardup": "dataoptim.signals.neardup",
    "flags": "dataoptim.signals.flags",
    "images": "dataoptim.signals.images",
    "tokens": "dataoptim.signals.tokens",
    "clip": "dataoptim.signals.clip",
    "loss": "dataoptim.signals.loss",
    "embed": "dataoptim.signals.embed",
}


def get(name: str):
    """The module of signal ``name``.

    Raises:
        ConfigError: no such signal (listing the known ones).
    """
    if name not in SIGNALS:
        raise ConfigError(f"unknown signal {name!r}; signals: {', '.join(SIGNALS)}", field="signal")
    return importlib.import_module(SIGNALS[name])


def compute(pool, name: str, *, force: bool = False, progress: bool | None = None, **params: Any):
    """Compute signal ``name`` over ``pool`` (skipped when fresh); returns the stored file's path.

    See :func:`dataoptim.signals.base.compute_signal`. Model signals (``clip``, ``loss``,
    ``embed``) run through :func:`dataoptim.signals.model.compute_model_signal` (batched,
    data-parallel under ``accelerate``).
    """
    module = get(name)
    if getattr(module, "MODEL_SIGNAL", False):
        from dataoptim.signals.model import compute_model_signal

        return compute_model_signal(pool, module, params, force=force, progress=progress)
    from dataoptim.signals.base import compute_signal

    return compute_signal(pool, module, params, force=force, progress=progress)


def load(pool, name: str):
    """The stored table of signal ``name`` (one row per pool row); see :func:`dataoptim.signals.base.load_signal`."""
    get(name)
    from dataoptim.signals.base import load_signal

    return load_signal(pool, name)


def columns_of(name: str) -> list[str]:
    """Columns that signal ``name`` writes."""
    return list(get(name).WRITES)


#: Column -> the signal that writes it, for the built-in signals (column names are unique across signals).
def column_owners() -> dict[str, str]:
    """Every signal column and the signal that writes it."""
    out = {}
    for name in SIGNALS:
        for column in columns_of(name):
            out[column] = name
    return out
