"""Bounding boxes in record text, and LLaVA's padded square (DESIGN §5).

Two text conventions exist in the pool:

* **DataOptim**: ``[x1, y1, x2, y2]`` — top-left and bottom-right corners,
  normalised to [0, 1] by the *original* image's width and height, rounded to
  3 decimals and written as Python writes the rounded float, separated by
  ``", "``: ``[0.0, 0.106, 0.827, 1.0]``. Several boxes for one phrase are
  written one after another, ``[...], [...]`` (SVIT's convention).
* **Shikra**: ``[x0,y0,x1,y1]`` with ``%.3f`` and no spaces, several boxes for
  one phrase inside one pair of brackets separated by ``;``:
  ``[0.000,0.106,0.827,1.000;0.100,0.200,0.300,0.400]``.

Frames. ``original`` normalises by the image's own width and height.
``padded`` normalises in the square that LLaVA trains on with
``--image_aspect_ratio pad``: the image is pasted onto a ``side × side``
canvas (``side`` = the long side) at offset ``((side - w) // 2, (side - h) // 2)``
— half the difference, in whole pixels, as ``expand2square`` pastes it — so a
coordinate moves to ``(v * size + offset) / side`` (LLaVA issue 606;
DataOptim's ``tools/expand_to_square.py``). That script first rounds every
coordinate to a whole pixel, which drifts by up to half a pixel per
conversion; here both directions are computed exactly (rational arithmetic on
the written decimals) and rounded once, at the end.

Precision of round trips (3 decimals, the written precision):

* ``padded → original → padded`` gives back the same text for every box inside
  the image area (the long axis is unchanged; on the short axis the rounding
  error shrinks by ``short/side < 1``).
* ``original → padded → original`` is exact on the long axis and within
  ``0.0005 · side/short`` (plus the final half unit) on the short axis: a padded
  box written with 3 decimals cannot hold more. :func:`to_padded` with
  ``exact=True`` keeps the exact value when that matters.

DataOptim's own conversion (:func:`expand_to_square_text`, the default of
``select --boxes padded`` and ``boxes convert --to padded``) is the other way:
it reproduces ``tools/expand_to_square.py`` (BAAI-DCAI/DataOptim commit
1d45a74) byte for byte, pixel rounding, regex and ``str.replace`` included. The
exact conversion above is the ``padded-exact`` option (not DataOptim's).

Which records are moved: those of a source whose boxes the catalog says are in
the original frame (:attr:`dataoptim.catalog.Source.box_frame`, ``ref3rec``,
``ref3reg``, ``shikra`` and ``svit``, the four files the tool reads), and those
of no known source (a file the user hands over); records of other sources are
left as they are. Which frame a written file's boxes are in is recorded next to
it in a small sidecar file, ``<file>.boxes.json`` (:func:`write_frame_file`,
:func:`read_frame_file`).

Every check raises :class:`BoxError` (an :class:`~dataoptim.errors.InputError`).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
from fractions import Fraction
from pathlib import Path
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from dataoptim.errors import BoxFrameError, ConfigError, InputError, MissingFileError

#: Decimals written in DataOptim and Shikra boxes.
PRECISION = 3
FRAMES = ("original", "padded")

_NUM = r"(-?\d+\.\d+)"
#: A DataOptim box in text. Every number must carry a decimal point (DataOptim writes ``0.0``, ``1.0``),
#: so integer lists such as ``[1, 2, 3, 4]`` in free text are never taken for boxes.
BOX_PATTERN = re.compile(rf"\[{_NUM}, {_NUM}, {_NUM}, {_NUM}\]")
_SNUM = r"\d+(?:\.\d+)?"
_SBOX = rf"{_SNUM},{_SNUM},{_SNUM},{_SNUM}"
#: A Shikra box group in text: one or more boxes in one pair of brackets, ``;`` between boxes.
SHIKRA_PATTERN = re.compile(rf"\[({_SBOX}(?:;{_SBOX})*)\]")


class BoxError(InputError):
    """A box that is malformed, outside [0, 1] (or outside its image), reversed or empty."""


# -- checks ---------------------------------------------------------------------------------------
def as_box(values: Any, **where) -> tuple[float, float, float, float]:
    """Return ``values`` as a tuple of four finite floats.

    Raises:
        BoxError: not a sequence of exactly four real numbers, or a NaN/infinite value.
    """
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != 4:
        raise BoxError(f"a box must be four numbers [x1, y1, x2, y2], found {values!r}", **where)
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BoxError(f"a box must be four numbers, found {values!r}", **where)
        if not math.isfinite(v):
            raise BoxError(f"box {list(values)!r} has a value that is not finite", **where)
        out.append(float(v))
    return tuple(out)  # type: ignore[return-value]


def check_box(box: Any, *, allow_empty: bool = False, **where) -> tuple[float, float, float, float]:
    """Check a normalised box: four finite numbers in [0, 1] with ``x1 <= x2`` and ``y1 <= y2``.

    Args:
        box: the box.
        allow_empty: accept a zero width or height (a tiny object after rounding to 3 decimals).
        where: location for the error (``file``, ``record``, ``id``, ``field``).

    Returns:
        The box as four floats.

    Raises:
        BoxError: out of [0, 1], reversed corners, or (unless ``allow_empty``) zero area.
    """
    x1, y1, x2, y2 = b = as_box(box, **where)
    if any(v < 0.0 or v > 1.0 for v in b):
        raise BoxError(f"box {list(b)!r} is outside [0, 1]", **where)
    if x2 < x1 or y2 < y1:
        raise BoxError(f"box {list(b)!r} has its corners reversed (need x1 <= x2 and y1 <= y2)", **where)
    if not allow_empty and (x2 == x1 or y2 == y1):
        raise BoxError(f"box {list(b)!r} is empty (zero width or height)", **where)
    return b


def _check_size(width: Any, height: Any, **where) -> tuple[int, int]:
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0 or int(v) != v:
            raise BoxError(f"image {name} must be a positive whole number of pixels, found {v!r}", **where)
    return int(width), int(height)


def clamp01(value: float) -> float:
    """``value`` clamped to [0, 1] (``-0.0`` becomes ``0.0``)."""
    return min(max(float(value), 0.0), 1.0) + 0.0


def clamp_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    """Each coordinate clamped to [0, 1]."""
    return tuple(clamp01(v) for v in as_box(box))  # type: ignore[return-value]


def round_value(value: float) -> float:
    """``value`` rounded to :data:`PRECISION` decimals as Python rounds (``-0.0`` becomes ``0.0``)."""
    return round(float(value), PRECISION) + 0.0


# -- absolute pixels <-> normalised ---------------------------------------------------------------
def xywh_to_xyxy(box: Sequence[float]) -> tuple[float, float, float, float]:
    """COCO's ``[x, y, w, h]`` → ``[x1, y1, x2, y2]`` (same units)."""
    x, y, w, h = as_box(box)
    return (x, y, x + w, y + h)


def normalize_box(box: Sequence[float], width: int, height: int, *, slack: float = 0.01, **where) -> tuple[float, float, float, float]:
    """Absolute pixel ``[x1, y1, x2, y2]`` → normalised box, as Shikra and DataOptim did.

    Each coordinate is divided by the width or height, clamped to [0, 1] and
    rounded to 3 decimals (``round(x / w, 3)``, Shikra's ``norm_box_xyxy``).

    Args:
        box: pixel corners in the original image.
        width, height: the original image's size in pixels.
        slack: how far outside the image (as a fraction of its side) a corner may
            lie and still be clamped; annotation tools leave boxes a pixel or so past
            the border. Anything further is an error, not something to clamp.
        where: location for the error.

    Raises:
        BoxError: sizes not positive, a value not finite, a corner further out than
            ``slack``, or an empty or reversed box (checked before rounding).
    """
    w, h = _check_size(width, height, **where)
    x1, y1, x2, y2 = b = as_box(box, **where)
    rel = (x1 / w, y1 / h, x2 / w, y2 / h)
    if any(v < -slack or v > 1.0 + slack for v in rel):
        raise BoxError(f"box {list(b)!r} lies outside the {w}x{h} image", **where)
    cx1, cy1, cx2, cy2 = (clamp01(v) for v in rel)
    if cx2 <= cx1 or cy2 <= cy1:
        raise BoxError(f"box {list(b)!r} is empty or reversed in the {w}x{h} image", **where)
    return (round_value(cx1), round_value(cy1), round_value(cx2), round_value(cy2))


def denormalize_box(box: Sequence[float], width: int, height: int, **where) -> tuple[float, float, float, float]:
    """Normalised box → absolute pixel corners (floats, not rounded to whole pixels)."""
    w, h = _check_size(width, height, **where)
    x1, y1, x2, y2 = check_box(box, allow_empty=True, **where)
    return (x1 * w, y1 * h, x2 * w, y2 * h)


# -- original <-> padded square -------------------------------------------------------------------
def square_frame(width: int, height: int) -> tuple[int, int, int]:
    """``(side, offset_x, offset_y)``: LLaVA's padded square and where the image is pasted in it."""
    w, h = _check_size(width, height)
    side = max(w, h)
    return side, (side - w) // 2, (side - h) // 2


def _exact(value: float) -> Fraction:
    # The written decimal, exactly: 0.106 is 106/1000, not the nearest binary double.
    return Fraction(repr(float(value)))


def _rounded(value: Fraction) -> float:
    return float(Fraction(round(value * 10**PRECISION), 10**PRECISION)) + 0.0


def to_padded(box: Sequence[float], width: int, height: int, *, exact: bool = False, **where):
    """Normalised box in the original image → normalised box in LLaVA's padded square.

    Args:
        box: normalised ``[x1, y1, x2, y2]`` in the original frame.
        width, height: the original image's size in pixels.
        exact: return :class:`fractions.Fraction` values, not rounded to 3 decimals.

    Raises:
        BoxError: the box is not a valid normalised box, or the size is not valid.
    """
    side, ox, oy = square_frame(*_check_size(width, height, **where))
    w, h = int(width), int(height)
    x1, y1, x2, y2 = (_exact(v) for v in check_box(box, allow_empty=True, **where))
    out = ((x1 * w + ox) / side, (y1 * h + oy) / side, (x2 * w + ox) / side, (y2 * h + oy) / side)
    return out if exact else tuple(_rounded(v) for v in out)


def to_original(box: Sequence[float], width: int, height: int, *, exact: bool = False, **where):
    """Normalised box in LLaVA's padded square → normalised box in the original image.

    Parts of the box in the padding are clamped to the image edge.

    Args:
        box: normalised ``[x1, y1, x2, y2]`` in the padded square (``Fraction`` values accepted).
        width, height: the original image's size in pixels.
        exact: return :class:`fractions.Fraction` values, not rounded to 3 decimals.

    Raises:
        BoxError: the box is not a valid normalised box, or the size is not valid.
    """
    side, ox, oy = square_frame(*_check_size(width, height, **where))
    w, h = int(width), int(height)
    if all(isinstance(v, Fraction) for v in box):
        x1, y1, x2, y2 = box
        check_box([float(v) for v in box], allow_empty=True, **where)
    else:
        x1, y1, x2, y2 = (_exact(v) for v in check_box(box, allow_empty=True, **where))
    out = tuple(min(max(v, Fraction(0)), Fraction(1)) for v in ((x1 * side - ox) / w, (y1 * side - oy) / h, (x2 * side - ox) / w, (y2 * side - oy) / h))
    return out if exact else tuple(_rounded(v) for v in out)


def convert_box(box: Sequence[float], width: int, height: int, to: str, **where) -> tuple[float, float, float, float]:
    """:func:`to_padded` or :func:`to_original` by name (``to`` in :data:`FRAMES`)."""
    if to == "padded":
        return to_padded(box, width, height, **where)
    if to == "original":
        return to_original(box, width, height, **where)
    raise ValueError(f"unknown frame {to!r}; use one of {', '.join(FRAMES)}")


# -- text formats ---------------------------------------------------------------------------------
def format_value(value: float) -> str:
    """One coordinate as DataOptim writes it: ``repr(round(v, 3))`` (``0.0``, ``0.106``, ``1.0``)."""
    return repr(round_value(value))


def format_box(box: Sequence[float]) -> str:
    """DataOptim's text of one normalised box: ``[0.0, 0.106, 0.827, 1.0]``."""
    return "[" + ", ".join(format_value(v) for v in as_box(box)) + "]"


def format_boxes(boxes: Iterable[Sequence[float]]) -> str:
    """Several boxes for one phrase, DataOptim/SVIT style: ``[...], [...]``."""
    return ", ".join(format_box(b) for b in boxes)


def parse_box(text: str, **where) -> tuple[float, float, float, float]:
    """Parse one DataOptim box (the whole of ``text``, surrounding spaces ignored) and check it.

    Raises:
        BoxError: not in the ``[x1, y1, x2, y2]`` form, or not a valid normalised box
            (empty boxes are accepted: a tiny object can round to zero width).
    """
    match = BOX_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise BoxError(f"{text!r} is not a box written as [x1, y1, x2, y2]", **where)
    return check_box([float(g) for g in match.groups()], allow_empty=True, **where)


def find_boxes(text: str) -> list[tuple[float, float, float, float]]:
    """Every DataOptim box in ``text``, in order (values as written, not checked)."""
    return [tuple(float(g) for g in m.groups()) for m in BOX_PATTERN.finditer(text)]  # type: ignore[misc]


def format_shikra_boxes(boxes: Iterable[Sequence[float]]) -> str:
    """Shikra's text of the boxes of one phrase: ``[0.000,0.106,0.827,1.000;...]``."""
    parts = [",".join(f"{v:.{PRECISION}f}" for v in as_box(b)) for b in boxes]
    if not parts:
        raise BoxError("no boxes to format")
    return "[" + ";".join(parts) + "]"


def parse_shikra_boxes(text: str, **where) -> list[tuple[float, float, float, float]]:
    """Parse one Shikra box group (the whole of ``text``) into checked boxes.

    Raises:
        BoxError: not in Shikra's form, or a box that is not valid.
    """
    match = SHIKRA_PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise BoxError(f"{text!r} is not a Shikra box group [x0,y0,x1,y1;...]", **where)
    return [check_box([float(v) for v in part.split(",")], allow_empty=True, **where) for part in match.group(1).split(";")]


def find_shikra_boxes(text: str) -> list[list[tuple[float, float, float, float]]]:
    """Every Shikra box group in ``text``, in order (values as written, not checked)."""
    return [[tuple(float(v) for v in part.split(",")) for part in m.group(1).split(";")] for m in SHIKRA_PATTERN.finditer(text)]  # type: ignore[misc]


def shikra_to_dataoptim(text: str, **where) -> str:
    """Rewrite every Shikra box group in ``text`` in DataOptim's form (values unchanged, re-rounded)."""
    return SHIKRA_PATTERN.sub(lambda m: format_boxes(parse_shikra_boxes(m.group(0), **where)), text)


def dataoptim_to_shikra(text: str, **where) -> str:
    """Rewrite every DataOptim box in ``text`` in Shikra's form (one box per group)."""
    return BOX_PATTERN.sub(lambda m: format_shikra_boxes([parse_box(m.group(0), **where)]), text)


def convert_text(text: str, width: int, height: int, to: str, *, strict: bool = True, **where) -> tuple[str, int, int]:
    """Rewrite every DataOptim box in ``text`` into frame ``to`` (``"padded"`` or ``"original"``).

    Args:
        text: a turn's value.
        width, height: the original image's size in pixels.
        to: the target frame.
        strict: a bracketed group that looks like a box but is not a valid one
            (outside [0, 1], reversed) raises; if False it is left as it was and counted.

    Returns:
        ``(new_text, boxes_converted, boxes_left_as_they_were)``.

    Raises:
        BoxError: an invalid box while ``strict``; ``to`` unknown.
    """
    if to not in FRAMES:
        raise BoxError(f"unknown frame {to!r}; use one of {', '.join(FRAMES)}", **where)
    done = skipped = 0

    def replace(match: re.Match) -> str:
        nonlocal done, skipped
        try:
            box = check_box([float(g) for g in match.groups()], allow_empty=True, **where)
        except BoxError:
            if strict:
                raise
            skipped += 1
            return match.group(0)
        done += 1
        return format_box(convert_box(box, width, height, to, **where))

    return BOX_PATTERN.sub(replace, text), done, skipped


# -- DataOptim's tools/expand_to_square.py ------------------------------------------------------
#: What DataOptim's tool takes for a box: ``[``, four runs of digits and dots separated by ``", "``, ``]``.
#: Unlike :data:`BOX_PATTERN` it also takes integers (``[1, 2, 3, 4]``) and no minus sign.
TOOL_BOX_PATTERN = re.compile(r"\[[0-9.]+, [0-9.]+, [0-9.]+, [0-9.]+\]")
#: Where the tool comes from.
TOOL = "DataOptim tools/expand_to_square.py (BAAI-DCAI/DataOptim 1d45a74)"


def expand_to_square_box(text: str, width: int, height: int) -> str | None:
    """One box text moved to the padded square as DataOptim's ``tools/expand_to_square.py`` moves it.

    Steps (BAAI-DCAI/DataOptim commit 1d45a74): each value times the image's width
    (x) or height (y), rounded to a whole pixel with Python's ``round`` (half to
    even: 62.5 -> 62); the short axis shifted by ``(long - short) // 2`` pixels
    (nothing for a square image); every value divided by the long side and
    rounded to 3 decimals with ``round(v, 3)`` (the nearest to the binary value,
    ties to even); written as ``f"[{x1}, {y1}, {x2}, {y2}]"`` (``str`` of the floats).

    Args:
        text: a match of :data:`TOOL_BOX_PATTERN`, e.g. ``"[0.0, 0.106, 0.827, 1.0]"``.
        width, height: the original image's size in pixels (``PIL.Image.open(path).size``).

    Returns:
        The moved box text, or None where the tool's ``try`` gives up and leaves the text
        (a value that is not a number, such as ``0.1.2``, or too large to round).
    """
    try:
        x1, y1, x2, y2 = map(float, text.strip("[]").split(","))  # float() ignores the spaces, as the tool's strip() does
        px = [round(x1 * width), round(y1 * height), round(x2 * width), round(y2 * height)]
    except (ValueError, OverflowError):
        return None
    if width > height:
        shift = (width - height) // 2
        px[1] += shift
        px[3] += shift
        side = width
    else:
        shift = (height - width) // 2  # 0 for a square image
        px[0] += shift
        px[2] += shift
        side = height
    return f"[{round(px[0] / side, 3)}, {round(px[1] / side, 3)}, {round(px[2] / side, 3)}, {round(px[3] / side, 3)}]"


#: :func:`expand_to_square_many` takes pixels below this with array arithmetic (exact in int64 and float64), the rest box by box.
_EXACT_PIXELS = 1 << 40
#: ... and image sides below this.
_EXACT_SIDE = 1 << 20
#: ``(pixel << 20) | side`` -> ``str(round(pixel / side, 3))``, the tool's text of one value (kept up to 2**20 of them).
_VALUE_TEXT: dict[int, str] = {}


def expand_to_square_many(boxes: Sequence[str], widths, heights) -> list[str | None]:
    """:func:`expand_to_square_box` of many box texts at once (each with its image's width and height), equal box for box.

    The arithmetic is done on arrays: the four values parsed by Arrow's float parser (correctly rounded,
    as Python's ``float``), ``numpy.rint`` for Python's ``round`` to a pixel (both half to even on the
    same doubles), the shift in integers; each distinct ``(pixel, side)`` is then written once with the
    tool's own ``str(round(pixel / side, 3))`` (Python ints, as in the tool) and the texts joined with
    Arrow's string kernels. A box outside that range — a value that is not a plain number or more than
    24 characters long, a product that is not finite, 2**40 pixels or more, a side of 2**20 or more or
    zero — goes through :func:`expand_to_square_box` itself.

    Args:
        boxes: matches of :data:`TOOL_BOX_PATTERN`.
        widths, heights: per box, its image's size in pixels (ints).

    Returns:
        Per box the moved text, or None where the tool leaves it (as :func:`expand_to_square_box`).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(boxes)
    if n == 0:
        return []
    width = np.asarray(widths, dtype=np.int64)
    height = np.asarray(heights, dtype=np.int64)
    values = pc.split_pattern(pc.utf8_slice_codeunits(pa.array(boxes, pa.string()), 1, -1), ", ").flatten()  # 4 per box
    plain = pc.and_(pc.match_substring_regex(values, r"^([0-9]+\.?[0-9]*|\.[0-9]+)$"), pc.less_equal(pc.utf8_length(values), 24))
    plain = plain.to_numpy(zero_copy_only=False)
    parsed = pc.cast(pc.if_else(pa.array(plain), values, "0"), pa.float64()).to_numpy(zero_copy_only=False).reshape(n, 4)
    slow = ~plain.reshape(n, 4).all(axis=1)
    size = np.stack([width, height, width, height], axis=1).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        px = np.rint(parsed * size)
    slow |= ~(np.abs(px) < _EXACT_PIXELS).all(axis=1)  # also not finite
    px[slow] = 0.0
    px = px.astype(np.int64)
    wide = width > height
    side = np.where(wide, width, height)
    slow |= (side <= 0) | (side >= _EXACT_SIDE)
    shift = np.abs(width - height) // 2
    px[:, 1] += np.where(wide, shift, 0)
    px[:, 3] += np.where(wide, shift, 0)
    px[:, 0] += np.where(wide, 0, shift)
    px[:, 2] += np.where(wide, 0, shift)
    fast = np.flatnonzero(~slow)
    keys = (px[fast] << 20) | side[fast, None]
    distinct, where = np.unique(keys.reshape(-1), return_inverse=True)
    known = _VALUE_TEXT
    texts = []
    for key in distinct.tolist():
        text = known.get(key)
        if text is None:
            text = str(round((key >> 20) / (key & (_EXACT_SIDE - 1)), 3))  # the tool's round(px / side, 3) on the same ints
            if len(known) < _EXACT_SIDE:
                known[key] = text
        texts.append(text)
    parts = pa.array(texts, pa.string()).take(pa.array(where.reshape(-1, 4).T.reshape(-1)))  # column by column
    m = len(fast)
    joined = pc.binary_join_element_wise(*(parts.slice(c * m, m) for c in range(4)), ", ")
    joined = pc.binary_join_element_wise("[", joined, "]", "")
    out: list[str | None] = [None] * n
    for i, text in zip(fast.tolist(), joined.to_pylist()):
        out[i] = text
    for i in np.flatnonzero(slow).tolist():
        out[i] = expand_to_square_box(boxes[i], int(width[i]), int(height[i]))
    return out


def expand_to_square_text(text: str, width: int, height: int) -> tuple[str, int, int]:
    """Move every box of a turn's text as DataOptim's ``tools/expand_to_square.py`` does, byte for byte.

    The tool finds the boxes with :data:`TOOL_BOX_PATTERN` in the original text,
    then, box after box, replaces *every* occurrence of that box's text in the
    text so far with the moved box (:func:`expand_to_square_box`). So a box that
    appears twice is moved once per appearance of it in the match list (the second
    time it is no longer there), and a moved box whose text equals a box later in
    the list is moved again with it: ``[0.5, 0.5, 0.75, 0.75]`` on a 640x480 image
    becomes ``[0.5, 0.5, 0.75, 0.688]``, and when that box also appears in the text
    both end as ``[0.5, 0.5, 0.75, 0.641]``. These are kept, as the tool wrote the
    challenge's data.

    Args:
        text: a turn's value.
        width, height: the original image's size in pixels.

    Returns:
        ``(new_text, boxes_moved, boxes_left)``: matches moved, and matches the tool leaves
        as they are (not numbers).
    """
    new_text, moved, left = text, 0, 0
    for match in TOOL_BOX_PATTERN.findall(text):
        box = expand_to_square_box(match, width, height)
        if box is None:
            left += 1
            continue
        new_text = new_text.replace(match, box)
        moved += 1
    return new_text, moved, left


# -- frames of whole files ------------------------------------------------------------------------
#: What ``select --boxes`` and ``boxes convert --to`` take: the frame a file's boxes end in, and how.
TARGETS = {
    "original": "original frame: normalised by the image's own width and height (as DataOptim released the data)",
    "padded": f"LLaVA's padded square, moved as {TOOL} moves them (the challenge's final data)",
    "padded-exact": "LLaVA's padded square, converted exactly and rounded once (dataoptim's own; not DataOptim's tool)",
}
#: Sidecar file of a data file: ``<data file>`` + this suffix.
FRAME_SUFFIX = ".boxes.json"
FRAME_FORMAT = "dataoptim-box-frame/1"


def _check_target(to: str, field: str = "to") -> str:
    if to not in TARGETS:
        raise ConfigError(f"must be one of {', '.join(TARGETS)}, got {to!r}", field=field)
    return to


def source_frame(record_id: Any) -> str | None:
    """The frame the catalog gives for the boxes of ``record_id``'s source.

    Returns:
        ``"original"`` or ``"padded"`` (:attr:`dataoptim.catalog.Source.box_frame`), None for a
        source without boxes, or ``"unknown"`` for an id of no known source.
    """
    from dataoptim.catalog import source_of

    source = source_of(record_id) if isinstance(record_id, str) else None
    return "unknown" if source is None else source.box_frame


def moves_source(frame: str | None) -> bool:
    """Whether records whose source frame is ``frame`` (:func:`source_frame`) get their boxes moved."""
    return frame in ("original", "unknown")


def frame_path(data: str | os.PathLike) -> Path:
    """The sidecar of a data file: ``out.json`` -> ``out.json.boxes.json``."""
    data = Path(data)
    return data.with_name(data.name + FRAME_SUFFIX)


def write_frame_file(data: str | os.PathLike, info: Mapping[str, Any]) -> Path:
    """Write the sidecar of ``data`` (atomically): ``{"format", "data", "frame", "method", ...info}``.

    Args:
        data: the data file the boxes are in.
        info: at least ``frame`` (a key of :data:`TARGETS`); counts and sources as wanted.

    Returns:
        The sidecar's path (:func:`frame_path`).
    """
    from dataoptim.io import write_json

    frame = _check_target(info["frame"], "frame")
    body = {"format": FRAME_FORMAT, "data": Path(data).name, "frame": frame, "method": TARGETS[frame], **{k: v for k, v in info.items() if k != "frame"}}
    return write_json(frame_path(data), body, indent=2)


def read_frame_file(data: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar of ``data`` (:func:`frame_path`), or None when there is none.

    Raises:
        InputError: the sidecar exists but is not one (not JSON, no known ``frame``), naming it.
    """
    from dataoptim.io import read_json

    path = frame_path(data)
    if not path.is_file():
        return None
    info = read_json(path, expect=dict, what="box-frame file")
    if info.get("frame") not in TARGETS:
        raise InputError(f"box-frame file has no known frame (one of {', '.join(TARGETS)}), found {info.get('frame')!r}", file=path, field="frame")
    return info


def refuse_second_conversion(data: str | os.PathLike, to: str) -> None:
    """Raise when ``data``'s sidecar says its boxes are already where ``to`` would put them.

    ``padded`` and ``padded-exact`` count as the same frame (the padded square):
    moving a padded file into it again would shift its boxes a second time.

    Raises:
        BoxFrameError: the sidecar's frame is ``to`` (or both are padded), naming the sidecar.
        InputError: the sidecar is malformed.
    """
    info = read_frame_file(data)
    if info is None:
        return
    have = info["frame"]
    if have == to or (have.startswith("padded") and to.startswith("padded")):
        raise BoxFrameError(
            f"its boxes are already in the {have} frame ({frame_path(data).name} says so); converting them again would move them twice",
            file=data, field="--to",
        )


def find_original_frame_boxes(data: str | os.PathLike) -> tuple[str, list[str]] | None:
    """The first record of a LLaVA JSON/JSONL file whose source keeps boxes in the original frame and that holds one.

    Reads the file only as far as that record. A file in which no id of such a source
    (``"ref3rec_``, ``"svit_`` ...) appears at all is not parsed (one pass over its bytes).

    Returns:
        ``(record_id, [its source])``, or None (no such record, a folder, or a file that cannot be read:
        the trainer reports that itself).
    """
    from dataoptim.catalog import SOURCES
    from dataoptim.errors import DataOptimError
    from dataoptim.io import iter_json_items, iter_jsonl

    path = Path(data)
    prefixes = [f'"{name}_'.encode() for name, src in SOURCES.items() if src.box_frame == "original"]
    if not path.is_file() or not prefixes:
        return None
    try:
        found, tail = False, b""
        with open(path, "rb") as handle:
            while not found and (chunk := handle.read(8 << 20)):
                window = tail + chunk
                found = any(p in window for p in prefixes)
                tail = window[-32:]
            handle.seek(0)
            first = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
        if not found:
            return None
        items = iter_json_items(path) if first == b"[" else (obj for _, obj in iter_jsonl(path))
        for record in items:
            if not isinstance(record, Mapping) or source_frame(record.get("id")) != "original":
                continue
            if _turns_with_boxes(record.get("conversations"), TOOL_BOX_PATTERN):
                return record["id"], [record["id"].split("_", 1)[0]]
    except (DataOptimError, OSError):
        return None
    return None


def frame_note(data: Any, *, pad: bool) -> str | None:
    """One line for ``train`` when the selection's boxes are not in the frame its images are trained in, else None.

    With ``pad`` (the recipe's ``image_aspect_ratio pad``): the sidecar (:func:`read_frame_file`)
    says ``original`` with records of sources with boxes, or, without a sidecar, a record of a
    source that keeps boxes in the original frame holds a box (:func:`find_original_frame_boxes`).
    Without ``pad`` (``square``, the October script): the sidecar says the boxes were moved to
    the padded square. A ``datasets`` object or folder without a sidecar is not looked into.

    Raises:
        InputError: the sidecar exists but is malformed.
    """
    if not isinstance(data, (str, os.PathLike)):
        return None
    info = read_frame_file(data)
    if info is not None:
        frame, sources = info["frame"], sorted(info.get("sources") or {})
        if pad and frame == "original" and sources:
            where = f"{frame_path(data).name}: {', '.join(sources)}"
        elif not pad and frame != "original" and info.get("records"):
            return (f"note: {Path(data).name}'s grounding boxes are in the {frame} frame ({frame_path(data).name}) but images are trained "
                    "square (resize and centre crop, no padding): the boxes do not match the pixels")
        else:
            return None
    else:
        hit = find_original_frame_boxes(data) if pad else None
        if hit is None:
            return None
        where = f"e.g. {hit[0]!r}"
    return (f"note: {Path(data).name} holds grounding boxes in the original frame ({where}) but images are trained padded to a square "
            "(image_aspect_ratio pad); DataOptim's final data moved them: dataoptim select ... --boxes padded, or dataoptim boxes convert --to padded")


# -- image sizes ----------------------------------------------------------------------------------
#: ``{image: [width, height]}`` with both sizes whole numbers >= 1, checked while decoding (:func:`load_image_sizes`'s fast path).
_SIZE_TABLE_TYPE: Any = None


def _decode_image_sizes(path: str | os.PathLike) -> dict[str, tuple[int, int]] | None:
    """The size table decoded by ``msgspec`` straight into ``{image: (width, height)}``, sizes checked while decoding.

    None when the file does not decode so (absent, not UTF-8, not JSON, a size written ``500.0`` or as
    ``{"width", "height"}``, a bad size, an empty object): :func:`load_image_sizes` then reads it entry by
    entry, accepting what it accepts and locating what it refuses. Where both succeed they agree (a key
    written twice keeps its last value in both).
    """
    global _SIZE_TABLE_TYPE
    import msgspec

    if _SIZE_TABLE_TYPE is None:
        from typing import Annotated

        side = Annotated[int, msgspec.Meta(ge=1)]
        _SIZE_TABLE_TYPE = msgspec.json.Decoder(dict[str, tuple[side, side]])
    if not os.path.isfile(path):  # read_json's error (and never open a pipe)
        return None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return _SIZE_TABLE_TYPE.decode(data[3:] if data.startswith(b"\xef\xbb\xbf") else data) or None
    except (OSError, msgspec.DecodeError):
        return None


def load_image_sizes(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Read an image-size file: a JSON object ``{image: [width, height]}`` (or ``{image: {"width", "height"}}``).

    Keys are image paths relative to the image folder (``flickr30k/1000092795.jpg``)
    or bare file names.

    Raises:
        MissingFileError: no such file.
        InputError: not a JSON object of sizes (names the key at fault); an empty object (``{}``:
            it could size no image, and a given table that is empty is a mistake, not "no table").
    """
    return _decode_image_sizes(path) or _image_sizes_by_entry(path)


def _image_sizes_by_entry(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """:func:`load_image_sizes` read entry by entry (any accepted form; the first fault located)."""
    from dataoptim.io import read_json

    raw = read_json(path, expect=dict, what="image-size file")
    if not raw:
        raise InputError('image-size file is empty ({}): it must map images to [width, height], e.g. {"flickr30k/1.jpg": [500, 333]}', file=path)
    sizes: dict[str, tuple[int, int]] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            value = [value.get("width"), value.get("height")]
        if not isinstance(value, list) or len(value) != 2:
            raise InputError("must be [width, height]", file=path, field=key)
        try:
            sizes[key] = _check_size(*value)
        except BoxError as exc:
            raise InputError(exc.message, file=path, field=key) from None
    return sizes


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` of an image file, read from its header only (Pillow, lazy).

    Raises:
        MissingFileError: no such file.
        InputError: not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError("image not found", file=path)
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"not a readable image ({exc})", file=path) from None


class ImageSizes:
    """Where image sizes come from: a size table, an image folder, or both (table first).

    ``get("flickr30k/1.jpg")`` tries the full relative path, then the bare file
    name in the table, then the image's header under ``image_dir`` (the full
    path, then the bare name). Results are cached. Paths under ``image_dir``
    go through the rule every entry point applies (:mod:`dataoptim.imagepath`):
    no header is read through a link that leads out of the folder unless
    ``allow_symlinks_out``.
    """

    def __init__(self, sizes: Mapping[str, tuple[int, int]] | None = None, image_dir: str | os.PathLike | None = None, *,
                 allow_symlinks_out: bool = False):
        from dataoptim.imagepath import ImageFolder

        self.sizes = dict(sizes or {})
        self.image_dir = None if image_dir is None else Path(image_dir)
        self.folder = None if image_dir is None else ImageFolder(image_dir, allow_symlinks_out=allow_symlinks_out)

    def __bool__(self) -> bool:
        return bool(self.sizes) or self.image_dir is not None

    def get(self, image: str, **where) -> tuple[int, int] | None:
        """``(width, height)`` of ``image`` (path relative to the image folder), or None if unknown.

        Raises:
            UnsafeInputError: the image file under the folder leads out of it through a link (unless allowed).
        """
        base = posixpath.basename(image)
        for key in (image, base):
            if key in self.sizes:
                return self.sizes[key]
        if self.folder is not None and _inside(image):  # never read a header outside the folder
            for rel in (image, base):
                candidate = self.folder.resolve(rel, **where)
                if candidate.is_file():
                    self.sizes[image] = read_image_size(candidate)
                    return self.sizes[image]
        return None

    def require(self, image: str, **where) -> tuple[int, int]:
        """Like :meth:`get`, with errors located at the record (``where``: file, record, id, field).

        Raises:
            RecordError: with an image folder, an image path that is absolute or leaves it (``..``).
            UnsafeInputError: with an image folder, an image that leads out of it through a link (unless allowed).
            InputError: the image file is not an image Pillow can read.
            MissingFileError: the size is unknown.
        """
        from dataoptim.records import check_image_path, short_repr

        if self.folder is not None:
            check_image_path(image, **where)
        try:
            size = self.get(image, **where)
        except InputError as exc:
            raise InputError(f"image file {str(exc.file)!r} is {exc.message}", **where) from None
        if size is None:
            source = "no image-size table or image folder was given" if not self else "it is neither in the image-size table nor in the image folder"
            raise MissingFileError(f"the size of image {short_repr(image)} is needed to place its boxes, but {source}", **where)
        return size


def _inside(image: str) -> bool:
    """Whether ``image`` is a relative path that stays inside its folder (:func:`dataoptim.records.check_image_path`)."""
    from dataoptim.errors import RecordError
    from dataoptim.records import check_image_path

    try:
        check_image_path(image)
    except RecordError:
        return False
    return True


# -- whole records and files ----------------------------------------------------------------------
def _turns_with_boxes(turns: Any, pattern: re.Pattern) -> bool:
    return isinstance(turns, list) and any(isinstance(t, Mapping) and isinstance(t.get("value"), str) and pattern.search(t["value"]) for t in turns)


def convert_record(record: Mapping[str, Any], sizes: ImageSizes, to: str, *, strict: bool = True, file: str | None = None, index: int | None = None) -> tuple[dict[str, Any], int, int]:
    """Rewrite every box in a record's turns into ``to`` (a key of :data:`TARGETS`).

    ``"padded"`` moves them as DataOptim's tool does (:func:`expand_to_square_text`: its regex,
    no checks of the values); ``"padded-exact"`` and ``"original"`` convert exactly
    (:func:`convert_text`, boxes of :data:`BOX_PATTERN`, checked). A record whose turns hold no
    box is returned unchanged without looking up its image size. The record's source is not
    looked at here (:class:`BoxMover` does that).

    Returns:
        ``(new_record, boxes_converted, boxes_left_as_they_were)``.

    Raises:
        BoxError: an invalid box (``padded-exact``/``original``, while ``strict``), naming file, record, id and turn.
        MissingFileError: the record has boxes but its image size is unknown.
        InputError: the record has no turns to read, or boxes but no image.
        ConfigError: ``to`` unknown.
    """
    _check_target(to)
    rid = record.get("id") if isinstance(record, Mapping) else None
    where = {"file": file, "record": index, "id": rid if isinstance(rid, str) else None}
    turns = record.get("conversations") if isinstance(record, Mapping) else None
    if not isinstance(turns, list):
        raise InputError("must be a list of turns", field="conversations", **where)
    tool = to == "padded"
    if not _turns_with_boxes(turns, TOOL_BOX_PATTERN if tool else BOX_PATTERN):
        return dict(record), 0, 0
    image = record.get("image")
    if not isinstance(image, str):
        raise InputError("a record with boxes needs its image to place them", field="image", **where)
    width, height = sizes.require(image, **{**where, "field": "image"})
    out_turns, done, skipped = [], 0, 0
    for i, turn in enumerate(turns):
        value = turn.get("value") if isinstance(turn, Mapping) else None
        if not isinstance(value, str):
            raise InputError("must be a string", field=f"conversations[{i}].value", **where)
        if tool:
            new, d, s = expand_to_square_text(value, width, height)
        else:
            new, d, s = convert_text(value, width, height, "padded" if to == "padded-exact" else "original", strict=strict,
                                     field=f"conversations[{i}].value", **where)
        out_turns.append({**turn, "value": new})
        done, skipped = done + d, skipped + s
    return {**record, "conversations": out_turns}, done, skipped


class BoxMover:
    """Moves the boxes of records into one target (:data:`TARGETS`), source by source, and counts what it did.

    Records are moved when their source keeps its boxes in the original frame, or is
    unknown (:func:`source_frame`, :func:`moves_source`); the others pass unchanged.
    With ``to="original"`` nothing is moved (the pool's boxes are already there):
    the mover only counts, for the sidecar.

    Args:
        to: a key of :data:`TARGETS`.
        sizes: where image sizes come from (needed unless ``to == "original"``).
        file: the file named in errors.
        strict: stop on an invalid box (exact conversions only; the tool has no checks).

    Raises (from :meth:`record`, :meth:`batch`): as :func:`convert_record`.
    """

    def __init__(self, to: str, sizes: ImageSizes | None = None, *, file: str | None = None, strict: bool = True):
        self.to = _check_target(to)
        if to != "original" and not sizes:
            raise ConfigError("boxes can be moved only with the images' sizes: give --image-folder DIR or --image-sizes FILE", field="--boxes")
        self.sizes = sizes
        self.file = file
        self.strict = strict
        #: source -> records / boxes moved; records kept by source frame; boxes the tool left (not numbers)
        self.records: dict[str, int] = {}
        self.boxes: dict[str, int] = {}
        self.left = 0
        self.kept_frames: dict[str, str] = {}

    def _count(self, source: str, done: int, left: int) -> None:
        if done or left:
            self.records[source] = self.records.get(source, 0) + 1
            self.boxes[source] = self.boxes.get(source, 0) + done
            self.left += left

    def record(self, record: Mapping[str, Any], index: int | None = None, source: str | None = None) -> Mapping[str, Any]:
        """``record`` with its boxes moved (or itself, when its source's are not moved).

        Args:
            index: its position in the output, for errors.
            source: its source's name if known (a pool part), else taken from its id.
        """
        from dataoptim.catalog import SOURCES, source_of

        if source is None:
            frame = source_frame(record.get("id"))
            source = "other" if frame == "unknown" else source_of(record["id"]).name  # llava_v1.5_3 is llava_v1.5's
        else:
            frame = SOURCES[source].box_frame if source in SOURCES else "unknown"
        if not moves_source(frame):
            if frame is not None:
                self.kept_frames[source] = frame
            return record
        if self.to == "original":
            self.records[source] = self.records.get(source, 0) + 1
            return record
        new, done, left = convert_record(record, self.sizes, self.to, strict=self.strict, file=self.file, index=index)
        self._count(source, done, left)
        return new

    def batch(self, batch, positions, source: str):
        """A pyarrow batch of records of ``source`` (``id``, ``image``, ``conversations``) with the boxes moved.

        Args:
            positions: each row's position in the output (int array), for errors.
        """
        import pyarrow as pa

        from dataoptim.catalog import SOURCES

        frame = SOURCES[source].box_frame if source in SOURCES else "unknown"
        if not moves_source(frame):
            if frame is not None and batch.num_rows:
                self.kept_frames[source] = frame
            return batch
        if self.to == "original":
            self.records[source] = self.records.get(source, 0) + batch.num_rows
            return batch
        if self.to == "padded":
            return self._tool_batch(batch, positions, source)
        column = batch.schema.names.index("conversations")
        ids, images, turns = (batch.column(n).to_pylist() for n in ("id", "image", "conversations"))
        changed = False
        out = []
        for i, (rid, image, conv) in enumerate(zip(ids, images, turns)):
            new = self.record({"id": rid, "image": image, "conversations": conv}, int(positions[i]), source)
            changed = changed or new["conversations"] is not conv
            out.append(new["conversations"])
        if not changed:
            return batch
        arrays = list(batch.columns)
        arrays[column] = pa.array(out, type=batch.schema.field("conversations").type)
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def _tool_batch(self, batch, positions, source: str):
        """:meth:`batch` for ``to="padded"``: the turns with boxes found with an Arrow regex kernel, their boxes moved
        together (:func:`expand_to_square_many`), then replaced box after box as the tool does
        (:func:`expand_to_square_text`); the same records, counts and errors as :meth:`record` on each row."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        conv = batch.column("conversations")
        if isinstance(conv, pa.ChunkedArray):
            conv = conv.combine_chunks()
        flat = conv.flatten()
        values = flat.field("value")
        holds = pc.fill_null(pc.match_substring_regex(values, TOOL_BOX_PATTERN.pattern), False).to_numpy(zero_copy_only=False)
        if not holds.any():
            return batch
        lengths = pc.list_value_length(conv).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        owner = np.repeat(np.arange(len(conv)), lengths)
        turn_rows = np.flatnonzero(holds)
        rows = np.unique(owner[turn_rows])
        ids = batch.column("id").take(pa.array(rows)).to_pylist()
        images = batch.column("image").take(pa.array(rows)).to_pylist()
        size_of: dict[int, tuple[int, int]] = {}
        for row, rid, image in zip(rows.tolist(), ids, images):  # in row order: the first record at fault is named
            where = {"file": self.file, "record": int(positions[row]), "id": rid if isinstance(rid, str) else None}
            if not isinstance(image, str):
                raise InputError("a record with boxes needs its image to place them", field="image", **where)
            size_of[row] = self.sizes.require(image, **{**where, "field": "image"})
        texts = values.take(pa.array(turn_rows)).to_pylist()
        found = [TOOL_BOX_PATTERN.findall(text) for text in texts]
        widths, heights, boxes = [], [], []
        for turn, matches in zip(turn_rows.tolist(), found):
            width, height = size_of[int(owner[turn])]
            boxes.extend(matches)
            widths.extend([width] * len(matches))
            heights.extend([height] * len(matches))
        moved = iter(expand_to_square_many(boxes, widths, heights))
        done = np.zeros(len(conv), dtype=np.int64)
        left = np.zeros(len(conv), dtype=np.int64)
        new_texts = []
        for turn, text, matches in zip(turn_rows.tolist(), texts, found):
            row = int(owner[turn])
            for match in matches:  # as expand_to_square_text: every occurrence, box after box
                box = next(moved)
                if box is None:
                    left[row] += 1
                    continue
                text = text.replace(match, box)
                done[row] += 1
            new_texts.append(text)
        for row in rows.tolist():
            self._count(source, int(done[row]), int(left[row]))
        all_values = values.to_pylist()
        for turn, text in zip(turn_rows.tolist(), new_texts):
            all_values[turn] = text
        struct_type = conv.type.value_type
        children = [pa.array(all_values, struct_type.field(k).type) if struct_type.field(k).name == "value" else flat.field(k)
                    for k in range(struct_type.num_fields)]
        turns = pa.StructArray.from_arrays(children, fields=list(struct_type))
        offsets = conv.offsets.to_numpy()
        rebuilt = type(conv).from_arrays(pa.array(offsets - offsets[0], conv.offsets.type), turns, type=conv.type)
        arrays = list(batch.columns)
        arrays[batch.schema.names.index("conversations")] = rebuilt
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    def info(self) -> dict[str, Any]:
        """What the sidecar and the summary say: the frame, and records/boxes by source.

        ``sources`` maps each source whose boxes are in ``frame`` now to its records: those whose
        boxes were moved, or for ``original`` all the records of the sources that keep boxes in the
        original frame; ``other_frames`` maps the sources left as they were to the frame the
        catalog gives them (``padded`` for a source released in the padded square).
        """
        out: dict[str, Any] = {"frame": self.to, "records": sum(self.records.values()), "boxes": sum(self.boxes.values()),
                               "sources": dict(sorted(self.records.items()))}
        if self.to == "original":
            out.pop("boxes")
        if self.left:
            out["left_unchanged"] = self.left
        if self.kept_frames:
            out["other_frames"] = dict(sorted(self.kept_frames.items()))
        return out


def convert_file(input_path: str | os.PathLike, output_path: str | os.PathLike, to: str, sizes: ImageSizes, *, strict: bool = True,
                 frame_file: bool = True) -> dict[str, int]:
    """Rewrite the boxes of every record of a LLaVA JSON list into ``to`` (:data:`TARGETS`); write the result atomically.

    Every record is converted, whatever its source, as DataOptim's tool converts every
    record of the files it reads (``select --boxes`` moves only the sources that need it).
    Streams the input (one record in memory at a time). The output is a JSON
    list, one record per line; it appears only once complete.

    Args:
        to: ``"padded"`` (DataOptim's tool), ``"padded-exact"`` or ``"original"`` (exact).
        frame_file: refuse an input whose sidecar says its boxes are already in that frame
            (:func:`refuse_second_conversion`), and write the output's sidecar (:func:`write_frame_file`).

    Returns:
        Counts: ``records``, ``records_with_boxes``, ``boxes``, ``left_unchanged``.

    Raises:
        ConfigError: ``to`` unknown; the output (or its sidecar) is the input file or the input's sidecar.
        BoxFrameError: the input's sidecar says its boxes are already in the ``to`` frame.
        MissingFileError, InputError, BoxError: as :func:`convert_record`; nothing is written then.
    """
    from dataoptim.io import atomic_write, iter_json_items, refuse_overwrite

    try:
        _check_target(to)
    except ConfigError as exc:
        raise ConfigError(exc.message, field="--to") from None
    refuse_overwrite({"output": output_path, **({"output's frame file": frame_path(output_path)} if frame_file else {})},
                     {"input": input_path, **({"input's frame file": frame_path(input_path)} if frame_file else {})})  # never the input itself
    if frame_file:
        refuse_second_conversion(input_path, to)
    counts = {"records": 0, "records_with_boxes": 0, "boxes": 0, "left_unchanged": 0}
    _require_json_list(input_path)
    with atomic_write(output_path) as out:
        out.write("[")
        for index, record in enumerate(iter_json_items(input_path, what="LLaVA JSON file")):
            new, done, skipped = convert_record(record, sizes, to, strict=strict, file=str(input_path), index=index)
            out.write(("\n" if index == 0 else ",\n") + json.dumps(new, ensure_ascii=False))
            counts["records"] += 1
            counts["records_with_boxes"] += bool(done or skipped)
            counts["boxes"] += done
            counts["left_unchanged"] += skipped
        out.write("\n]\n")
    if frame_file:
        write_frame_file(output_path, {"frame": to, "records": counts["records_with_boxes"], "boxes": counts["boxes"], "from": Path(input_path).name})
    return counts


def _require_json_list(path: str | os.PathLike) -> None:
    from dataoptim.io import require_file

    path = require_file(path, "LLaVA JSON file")
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if not head and not path.read_bytes().strip():
        raise InputError("is empty", file=path)
    if not head.startswith(b"["):
        raise InputError("must hold a JSON list of records at the top level", file=path)


def register(app) -> None:
    """Add ``dataoptim boxes convert`` to the CLI."""
    import typer

    from dataoptim.imagepath import CLI_HELP as ALLOW_HELP

    boxes_app = typer.Typer(help="Boxes in record text: move them between the original image and LLaVA's padded square.", no_args_is_help=True)

    @boxes_app.command("convert")
    def convert_command(
        input: Path = typer.Argument(..., help="LLaVA JSON list (a selection, or DataOptim's ref3rec/ref3reg/shikra/svit .json)."),
        output: Path = typer.Argument(..., help="Where to write the converted JSON (written only when complete)."),
        to: str = typer.Option(..., "--to", help="'padded': as DataOptim's tools/expand_to_square.py (the challenge's data); 'padded-exact': exact, rounded once (not DataOptim's); 'original': back, exact."),
        image_sizes: Optional[Path] = typer.Option(None, "--image-sizes", help="JSON object {image: [width, height]} (image paths or bare file names)."),
        image_folder: Optional[Path] = typer.Option(None, "--image-folder", help="Image folder: sizes read from image headers."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        lenient: bool = typer.Option(False, "--lenient", help="Leave invalid boxes as they are instead of stopping (padded-exact, original)."),
    ) -> None:
        """Rewrite every [x1, y1, x2, y2] box of every record into another frame; write OUTPUT and OUTPUT.boxes.json (its frame).

        --to padded moves boxes exactly as DataOptim's tools/expand_to_square.py (1d45a74): whole pixels first, then 3 decimals, the same bytes. --to padded-exact and --to original are converted exactly, then rounded once to DataOptim's 3 decimals: original -> padded-exact -> original moves a short-axis value by at most 0.0005 x (1 + long/short side), e.g. 0.106 -> 0.105 at 640x480; to original, parts of a box in the padding are clamped to the image edge. A file whose INPUT.boxes.json says it is already in that frame is refused.
        """
        if to not in TARGETS:
            raise ConfigError(f"must be one of {', '.join(TARGETS)}, got {to!r}", field="--to")
        from dataoptim.io import refuse_overwrite

        refuse_overwrite({"OUTPUT": output, "OUTPUT's frame file": frame_path(output)},
                         {"INPUT": input, "INPUT's frame file": frame_path(input), "--image-sizes": image_sizes, "--image-folder": image_folder})
        refuse_second_conversion(input, to)  # before the sizes are read
        if image_sizes is None and image_folder is None:
            raise ConfigError("give --image-sizes FILE or --image-folder DIR: boxes are placed by each image's width and height")
        sizes = ImageSizes(load_image_sizes(image_sizes) if image_sizes is not None else None, image_folder, allow_symlinks_out=allow_symlinks_out)
        counts = convert_file(input, output, to, sizes, strict=not lenient)
        from dataoptim.words import count

        typer.echo(
            f"wrote {output}: {count(counts['records'], 'record')}, {count(counts['boxes'], 'box')} moved to the {to} frame"
            f" in {count(counts['records_with_boxes'], 'record')}"
            + (f", {count(counts['left_unchanged'], 'box')} left unchanged" if counts["left_unchanged"] else "")
            + f"; frame noted in {frame_path(output).name}"
        )

    app.add_typer(boxes_app, name="boxes")
