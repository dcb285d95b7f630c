"""Signal ``duplicates``: exact duplicates by conversation, by normalised question + image, and by image.

Needs: ``image``, ``conversations``. Writes, per record:

* ``conversation_hash``: 64-bit hash of the whole conversation (every turn's text, in order;
  the image path not included), and ``dup_conversation_of``: the first global row with the
  same hash (the row itself when it is the first);
* ``question_image_hash``: hash of the *normalised* first question (lower case, ``<image>``
  removed, every run of non-alphanumeric characters one space, trimmed) together with the
  image path, and ``dup_question_image_of``: the first row with the same pair;
* ``image_hash``: hash of the image path (null for a record without an image),
  ``image_records``: how many records of the pool name the same image, and ``image_rank``:
  this record's position among them (0 for the first, pool order).

Hashes are ``polars``' 64-bit ``Series.hash`` (seeded); the first row of a group is the
reference, as in Data-Juicer's ``document_deduplicator`` / DataComp's exact-dedup step (keep
the first occurrence). The polars version is part of the parameters, so a new polars (a new hash)
makes the stored signal stale.

Paper: exact deduplication as in Lee et al. 2022, "Deduplicating Training Data Makes
Language Models Better"; Data-Juicer (Chen et al. 2024) ``document_deduplicator``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

NAME = "duplicates"
VERSION = "1"
NEEDS = ("image", "conversations")
WRITES = {
    "conversation_hash": pa.uint64(),
    "question_image_hash": pa.uint64(),
    "image_hash": pa.uint64(),
    "dup_conversation_of": pa.int64(),
    "dup_question_image_of": pa.int64(),
    "image_records": pa.int64(),
    "image_rank": pa.int64(),
}
PARAMS = {"seed": 0}
PAPER = "Lee et al. 2022, 'Deduplicating Training Data Makes Language Models Better'; Data-Juicer document_deduplicator"


def prepare(params):
    import polars as pl

    return {**params, "hash": f"polars-{pl.__version__}"}


def normalise_question(series):
    """Normalised question text (a polars string Series): lower case, ``<image>`` removed,
    non-alphanumeric runs to one space, trimmed."""
    return (
        series.str.replace_all("<image>", " ", literal=True)
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars()
    )


def compute(batch: pa.RecordBatch, params) -> dict:
    import polars as pl

    seed = int(params["seed"])
    frame = pl.from_arrow(pa.table({"image": batch.column("image"), "conversations": batch.column("conversations")}))
    values = frame["conversations"].list.eval(pl.element().struct.field("value"))
    conversation = values.list.join("\x1f")
    question = normalise_question(values.list.first().fill_null(""))
    image = frame["image"]
    pair = question + "\x00" + image.fill_null("\x01none")
    image_hash = image.hash(seed=seed)
    image_hash = pl.select(pl.when(image.is_null()).then(None).otherwise(image_hash)).to_series()
    zeros = np.zeros(batch.num_rows, dtype=np.int64)
    return {
        "conversation_hash": conversation.hash(seed=seed).to_arrow(),
        "question_image_hash": pair.hash(seed=seed).to_arrow(),
        "image_hash": image_hash.to_arrow().cast(pa.uint64()),
        "dup_conversation_of": zeros,
        "dup_question_image_of": zeros,
        "image_records": zeros,
        "image_rank": zeros,
    }


def first_of(hashes: np.ndarray) -> np.ndarray:
    """For each position, the first position holding the same value (int64)."""
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_h[1:] != sorted_h[:-1]
    group_start = np.maximum.accumulate(np.where(new, np.arange(len(order)), 0))
    out = np.empty(len(order), dtype=np.int64)
    out[order] = order[group_start]
    return out


def group_sizes_and_ranks(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Size of each position's group of equal values, and its rank inside it (positions ascending)."""
    order = np.argsort(hashes, kind="stable")
    sorted_h = hashes[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_h[1:] != sorted_h[:-1]
    ids = np.cumsum(new) - 1
    sizes = np.bincount(ids) if len(ids) else np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(new)
    size = np.empty(len(order), dtype=np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    size[order] = sizes[ids]
    rank[order] = np.arange(len(order)) - starts[ids]
    return size, rank


def finalize(table: pa.Table, pool, params) -> pa.Table:
    conv = table.column("conversation_hash").to_numpy()
    pair = table.column("question_image_hash").to_numpy()
    image_col = table.column("image_hash")
    has_image = image_col.is_valid().to_numpy(zero_copy_only=False)
    image = image_col.fill_null(0).to_numpy()
    size, rank = group_sizes_and_ranks(image)
    size = np.where(has_image, size, 1)
    rank = np.where(has_image, rank, 0)
    columns = {
        "conversation_hash": table.column("conversation_hash"),
        "question_image_hash": table.column("question_image_hash"),
        "image_hash": image_col,
        "dup_conversation_of": pa.array(first_of(conv)),
        "dup_question_image_of": pa.array(first_of(pair)),
        "image_records": pa.array(size),
        "image_rank": pa.array(rank),
    }
    return pa.table(columns, schema=pa.schema(list(WRITES.items())))
