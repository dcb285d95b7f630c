"""Vectorised access to the turns of a record batch (shared by the text-based signals)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass
class Turns:
    """All turns of a batch, flattened.

    Attributes:
        values: string array, one value per turn (batch order, turn order).
        parent: int64 array, the batch row of each turn.
        index: int64 array, the position of each turn in its conversation (0 = first human turn).
        is_answer: bool array, True for ``gpt`` turns (odd positions of a validated record, DESIGN §2).
        rows: number of records in the batch.
    """

    values: pa.Array
    parent: np.ndarray
    index: np.ndarray
    is_answer: np.ndarray
    rows: int

    def per_record(self, values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Sum ``values`` (one per turn) per record where ``mask`` holds; float64 array of ``rows``."""
        weights = np.asarray(values, dtype=np.float64)
        if mask is not None:
            weights = np.where(mask, weights, 0.0)
        return np.bincount(self.parent, weights=weights, minlength=self.rows)[: self.rows]


def turns(batch: pa.RecordBatch) -> Turns:
    """Flatten the ``conversations`` column of ``batch`` into :class:`Turns`."""
    conv = batch.column("conversations")
    flat = pc.list_flatten(conv)
    # offsets of the slice, read from the buffer (ListArray.offsets copies slowly): values run from offsets[0] to offsets[-1]
    width = np.int64 if pa.types.is_large_list(conv.type) else np.int32
    offsets = np.frombuffer(conv.buffers()[1], dtype=width)[conv.offset : conv.offset + len(conv) + 1].astype(np.int64)
    lengths = np.diff(offsets)
    parent = np.repeat(np.arange(len(conv), dtype=np.int64), lengths)  # (pc.list_parent_indices is ~50x slower on slices)
    starts = offsets[:-1] - offsets[0]
    index = np.arange(len(parent), dtype=np.int64) - starts[parent] if len(parent) else np.zeros(0, dtype=np.int64)
    values = flat.field("value") if len(flat) else pa.array([], type=pa.string())
    role = flat.field("from") if len(flat) else pa.array([], type=pa.string())
    is_answer = pc.equal(role, "gpt").to_numpy(zero_copy_only=False).astype(bool) if len(flat) else np.zeros(0, dtype=bool)
    return Turns(values, parent, index, is_answer, batch.num_rows)
