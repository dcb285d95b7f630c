"""Records as Arrow columns: build record tables and check the record rules over whole columns (DESIGN §2).

The table path of every builder (:mod:`dataoptim.builder`) assembles a
:func:`record_table` from columns, never from dicts, and checks it with
:func:`rules_hold` — the column-kernel form of
:func:`dataoptim.records.validate_record` — before it is written. A table that
fails is never repaired here: the builder then runs its row-by-row reference,
which names the first bad record (file, index, field).

No ``datasets`` here; pyarrow and numpy only.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import prompts, records
from dataoptim.boxes import PRECISION, format_value

#: Rows per table the builders yield (``datasets`` writes each as one record batch).
TABLE_ROWS = 50_000
#: The record schema (:func:`dataoptim.records.arrow_schema`).
SCHEMA = records.arrow_schema()
TURN_TYPE = SCHEMA.field("conversations").type.value_type

#: Every character for which Python's ``str.isspace()`` is true, as an RE2 class: a value made only of
#: these is "empty" for :func:`dataoptim.records.validate_record` (``not value.strip()``).
_PY_SPACE = "".join(f"\\x{{{c:x}}}" for c in range(sys.maxunicode + 1) if chr(c).isspace())
_BLANK_RE = f"^[{_PY_SPACE}]*$"
#: The characters :data:`dataoptim.records._CONTROL_RE` refuses in an image path, as an RE2 class.
_CONTROL = "\\x{0}-\\x{1f}\\x{7f}-\\x{9f}\\x{2028}\\x{2029}\\x{202a}-\\x{202e}\\x{2066}-\\x{2069}\\x{feff}"
_BAD_IMAGE_RE = "|".join(
    [
        r"\\",  # backslash
        r"^/",  # absolute
        r"^[A-Za-z]:",  # drive letter
        f"[{_CONTROL}]",  # control characters
        r"(^|/)(\.|\.\.)?(/|$)",  # an empty, '.' or '..' part
    ]
)
_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"


def as_string_array(values: Any) -> pa.Array:
    """A ``pa.string()`` array from a Python list, a pyarrow array or a chunked array (chunks combined)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == pa.string() else values.cast(pa.string())
    return pa.array(values, type=pa.string())


def concat(*parts: Any) -> pa.Array:
    """Row-wise concatenation of strings and string columns: ``concat("visual_genome/", ids, ".jpg")``."""
    return pc.binary_join_element_wise(*[p if isinstance(p, str) else as_string_array(p) for p in parts], "")


def prefixed(prefix: str, keys: Any) -> pa.Array:
    """``prefix + str(key)`` for every key (ints are written in decimal, as ``f"{prefix}{key}"`` does)."""
    return pc.binary_join_element_wise(prefix, as_string_array(keys), "")


def coco_image_paths(image_ids: np.ndarray, coco_split: str) -> pa.Array:
    """``coco/COCO_{split}_%012d.jpg`` for non-negative integer image ids (:func:`dataoptim.convert.coco_image_path`).

    Raises:
        ValueError: an id is negative (``%012d`` puts the sign first; the row path handles it).
    """
    ids = np.asarray(image_ids, dtype=np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError("negative image id")
    digits = pc.utf8_lpad(pa.array(ids).cast(pa.string()), width=12, padding="0")
    return pc.binary_join_element_wise(f"coco/COCO_{coco_split}_", digits, ".jpg", "")


def stable_picks(record_ids: Iterable[str], count: int, seed: int = 0) -> np.ndarray:
    """The index :func:`dataoptim.prompts.stable_choice` picks among ``count`` options for each id (int64 array).

    The same BLAKE2b hash of ``"{seed}:{record_id}"``, so every id keeps its prompt.
    """
    blake = hashlib.blake2b
    ids = record_ids if isinstance(record_ids, Sequence) else list(record_ids)
    return np.fromiter(
        (int.from_bytes(blake(f"{seed}:{rid}".encode(), digest_size=8).digest(), "big") % count for rid in ids), dtype=np.int64, count=len(ids)
    )


def caption_prompts(record_ids: Iterable[str], seed: int = 0) -> pa.Array:
    """Human turns of caption records, ``<image>\\n{instruction}`` chosen as :func:`dataoptim.prompts.caption_prompt` does.

    The choice is :func:`stable_picks` (so every id keeps its prompt); the five prompts are taken
    from a dictionary, not rebuilt per row.
    """
    options = [f"{records.IMAGE_TOKEN}\n{text}" for text in prompts.CAPTION_INSTRUCTIONS]
    return pa.array(options, type=pa.string()).take(pa.array(stable_picks(record_ids, len(options), seed)))


def vqa_prompts(questions: Any) -> pa.Array:
    """``<image>\\n{question} {VQA_SUFFIX}`` for every question (:func:`dataoptim.prompts.vqa_prompt`)."""
    return pc.binary_join_element_wise(f"{records.IMAGE_TOKEN}\n", as_string_array(questions), f" {prompts.VQA_SUFFIX}", "")


def conversations(offsets: np.ndarray, values: Any, froms: Any | None = None) -> pa.ListArray:
    """A ``conversations`` column: a list array over flat turn arrays.

    Args:
        offsets: ``int32``/``int64`` array of ``rows + 1`` turn offsets (row ``i`` holds turns
            ``offsets[i]:offsets[i+1]``).
        values: the turn texts, flat (length ``offsets[-1]``).
        froms: the speakers, flat; by default ``human, gpt, human, ...`` restarted at each row.
    """
    offsets = np.asarray(offsets, dtype=np.int32)
    values = as_string_array(values)
    if froms is None:
        starts = np.repeat(offsets[:-1], np.diff(offsets))
        parity = (np.arange(len(values), dtype=np.int64) - starts) % 2
        froms = pa.array([records.HUMAN, records.GPT], type=pa.string()).take(pa.array(parity))
    turns = pa.StructArray.from_arrays([as_string_array(froms), values], fields=list(TURN_TYPE))
    return pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), turns)


def two_turns(questions: Any, answers: Any) -> pa.ListArray:
    """One exchange per row, ``[{"from": "human", "value": q}, {"from": "gpt", "value": a}]`` (:func:`dataoptim.records.two_turns`)."""
    questions, answers = as_string_array(questions), as_string_array(answers)
    n = len(questions)
    order = np.empty(2 * n, dtype=np.int64)
    order[0::2] = np.arange(n)
    order[1::2] = np.arange(n) + n
    flat = pa.concat_arrays([questions, answers]).take(pa.array(order))
    return conversations(np.arange(0, 2 * n + 1, 2), flat)


def _native(values: Any, n: int, type_: pa.DataType) -> pa.Array:
    if values is None:
        return pa.nulls(n, type=type_)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(type_)
    return pa.array(values, type=type_) if type_ != pa.string() else pa.array(values).cast(pa.string())


def record_table(
    ids: Any,
    images: Any,
    convs: pa.Array,
    *,
    source: str,
    task: str,
    question_id: Any = None,
    image_id: Any = None,
    width: Any = None,
    height: Any = None,
) -> pa.Table:
    """A table of records with exactly :data:`SCHEMA` (:func:`dataoptim.records.make_record`, by columns).

    ``question_id`` and ``image_id`` are written as strings (ints in decimal), ``width``/``height``
    as ``int32``; ``None`` fills a column with nulls.
    """
    ids = as_string_array(ids)
    n = len(ids)
    columns = [
        ids,
        _native(images, n, pa.string()),
        convs,
        pa.array([source] * n, type=pa.string()) if n else pa.array([], pa.string()),
        pa.array([task] * n, type=pa.string()) if n else pa.array([], pa.string()),
        _native(question_id, n, pa.string()),
        _native(image_id, n, pa.string()),
        _native(width, n, pa.int32()),
        _native(height, n, pa.int32()),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


def slices(table: pa.Table, rows: int = TABLE_ROWS) -> Iterable[pa.Table]:
    """``table`` cut into tables of at most ``rows`` rows (zero-copy)."""
    for start in range(0, table.num_rows, rows):
        yield table.slice(start, rows)


def most_frequent(lengths: np.ndarray, flat: pa.Array) -> pa.Array:
    """Per list, its most frequent value, ties to the one met first: :func:`dataoptim.convert.most_frequent` by columns.

    Args:
        lengths: int64, shape ``(n,)``: how many values each of the ``n`` lists holds; none may be 0.
        flat: the lists' values one after another (``lengths.sum()`` strings).

    Returns:
        ``n`` strings. The flat values are sorted by (list, -count, first position) and the first
        of each list is taken, which is what ``Counter(values).most_common(1)`` gives.
    """
    if len(flat) == 0:
        return flat
    owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    codes = pc.dictionary_encode(flat).indices.to_numpy(zero_copy_only=False).astype(np.int64)
    _, first, inverse, counts = np.unique(owner * (int(codes.max()) + 1) + codes, return_index=True, return_inverse=True, return_counts=True)
    order = np.lexsort((first[inverse], -counts[inverse], owner))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return flat.take(pa.array(order[starts]))


def is_unique(values: Any) -> bool:
    """Whether no value repeats (nulls count as a value)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pc.count_distinct(values, mode="all").as_py() == len(values)
    values = list(values) if not isinstance(values, Sequence) else values
    return len(set(values)) == len(values)


def any_blank(values: Any) -> bool:
    """Whether some value is null, or empty or blank in Python's sense (``not value.strip()``)."""
    values = as_string_array(values)
    return bool(values.null_count) or _any(pc.match_substring_regex(values, _BLANK_RE))


def token_counts(values: pa.Array, token: str) -> np.ndarray:
    """``pc.count_substring(values, token)`` as an int64 numpy array, for a token that cannot overlap itself
    (no proper prefix of it is also a suffix, e.g. ``<image>``), found in the values' data buffer at once.

    Occurrences of the token's first byte are found with numpy, kept where the following bytes
    match, and given to the value holding them whole (one across two values counts for neither).
    Nulls count 0.
    """
    raw = token.encode()
    values = as_string_array(values)
    n = len(values)
    if n == 0 or values.buffers()[2] is None:
        return np.zeros(n, dtype=np.int64)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + n + 1].astype(np.int64)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    begin, end = int(offsets[0]), int(offsets[-1])
    found = np.flatnonzero(data[begin: max(begin, end - len(raw) + 1)] == raw[0]) + begin
    for j in range(1, len(raw)):
        found = found[data[found + j] == raw[j]]
    owner = np.searchsorted(offsets, found, side="right") - 1
    whole = found + len(raw) <= offsets[owner + 1]
    counts = np.bincount(owner[whole], minlength=n).astype(np.int64)
    if values.null_count:
        counts[~values.is_valid().to_numpy(zero_copy_only=False)] = 0
    return counts


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def rules_hold(table: pa.Table, *, require_image: bool = True) -> bool:
    """Whether every row of a record table obeys :func:`dataoptim.records.validate_record` (column kernels only).

    The same rules: ``id`` a non-empty string of at most 256 characters matching
    ``[A-Za-z0-9][A-Za-z0-9_.+-]*``; ``image`` a safe relative path (or, with
    ``require_image=False``, null); ``conversations`` a non-empty, even-length list
    whose turns alternate ``human``/``gpt`` from ``human``; every value not blank in
    Python's sense (``str.strip``); exactly one ``<image>`` in the first turn of a
    row with an image, none anywhere else.

    Returns:
        True when all rows pass. False says only that some row fails: the caller runs
        the row-by-row rules to name it (a table is never half-trusted).
    """
    if table.num_rows == 0:
        return True
    ids = table.column("id")
    if ids.null_count or _any(pc.invert(pc.match_substring_regex(ids, _ID_RE))) or _any(pc.greater(pc.utf8_length(ids), records.MAX_ID_LENGTH)):
        return False
    images = table.column("image")
    if images.null_count and require_image:
        return False
    has_image = pc.is_valid(images)
    if _any(pc.fill_null(pc.match_substring_regex(images, _BAD_IMAGE_RE), False)) or _any(pc.fill_null(pc.equal(images, ""), False)):
        return False
    convs = table.column("conversations").combine_chunks()
    if convs.null_count:
        return False
    lengths = pc.list_value_length(convs).to_numpy(zero_copy_only=False)
    if (lengths == 0).any() or (lengths % 2).any():
        return False
    turns = convs.flatten()
    if turns.null_count:
        return False
    froms, values = turns.field("from"), turns.field("value")
    if froms.null_count or values.null_count:
        return False
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    position = np.arange(len(turns), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    expected = pa.array([records.HUMAN, records.GPT], type=pa.string()).take(pa.array(position % 2))
    if not pc.all(pc.equal(froms, expected)).as_py():
        return False
    if _any(pc.match_substring_regex(values, _BLANK_RE)):
        return False
    tokens = token_counts(values, records.IMAGE_TOKEN)
    first = position == 0
    if tokens[~first].any():
        return False
    first_tokens = tokens[offsets[:-1]]
    with_image = has_image.to_numpy(zero_copy_only=False) if isinstance(has_image, pa.Array) else has_image.combine_chunks().to_numpy(zero_copy_only=False)
    return bool((first_tokens[with_image] == 1).all() and (first_tokens[~with_image] == 0).all())


#: ``format_value(k / 1000)`` for k = 0..1000: the text of every rounded coordinate in [0, 1].
_VALUE_TEXTS = pa.array([format_value(k / 10**PRECISION) for k in range(10**PRECISION + 1)], type=pa.string())


def rounded_thousandths(values: np.ndarray) -> np.ndarray:
    """``round(v, 3) * 1000`` as integers, for floats in [0, 1], exactly as Python's ``round`` gives it.

    ``np.rint(v * 1000)`` is exact unless ``v * 1000`` lies within ``1e-6`` of a half (the product's
    rounding error is below ``1.2e-13``): those few values are rounded by Python's ``round``
    (correctly rounded, ties to even on the exact binary value).
    """
    scaled = values * 10**PRECISION
    out = np.rint(scaled)
    near = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near):
        out[i] = round(round(float(values[i]), PRECISION) * 10**PRECISION)
    return out.astype(np.int64)


def box_texts(boxes: np.ndarray, widths: np.ndarray, heights: np.ndarray, slack: float = 0.01) -> pa.Array:
    """:func:`dataoptim.boxes.normalize_box` then :func:`~dataoptim.boxes.format_box` over rows: ``[0.0, 0.106, 0.827, 1.0]``.

    Args:
        boxes: ``(n, 4)`` float64 pixel corners; widths, heights: ``(n,)`` integers.

    Raises:
        ValueError: a size not positive, a value not finite, a corner further out than
            ``slack``, or an empty or reversed box: the row path names it.
    """
    if len(boxes) == 0:
        return pa.array([], type=pa.string())
    if (widths <= 0).any() or (heights <= 0).any() or not np.isfinite(boxes).all():
        raise ValueError("an image size that is not positive, or a box value that is not finite")
    sides = np.stack([widths, heights, widths, heights], axis=1).astype(np.float64)
    rel = boxes / sides
    if ((rel < -slack) | (rel > 1.0 + slack)).any():
        raise ValueError("a box outside its image")
    clamped = np.clip(rel, 0.0, 1.0)
    if ((clamped[:, 2] <= clamped[:, 0]) | (clamped[:, 3] <= clamped[:, 1])).any():
        raise ValueError("an empty or reversed box")
    texts = [_VALUE_TEXTS.take(pa.array(rounded_thousandths(clamped[:, j]))) for j in range(4)]
    return pc.binary_join_element_wise("[", texts[0], ", ", texts[1], ", ", texts[2], ", ", texts[3], "]", "")
