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
from typing import Any, Iterable, Mapping, Optional, Sequence

from dataoptim.errors import InputError, MissingFileError

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


# -- image sizes ----------------------------------------------------------------------------------
def load_image_sizes(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Read an image-size file: a JSON object ``{image: [width, height]}`` (or ``{image: {"width", "height"}}``).

    Keys are image paths relative to the image folder (``flickr30k/1000092795.jpg``)
    or bare file names.

    Raises:
        MissingFileError: no such file.
        InputError: not a JSON object of sizes (names the key at fault).
    """
    from dataoptim.io import read_json

    raw = read_json(path, expect=dict, what="image-size file")
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
def convert_record(record: Mapping[str, Any], sizes: ImageSizes, to: str, *, strict: bool = True, file: str | None = None, index: int | None = None) -> tuple[dict[str, Any], int, int]:
    """Rewrite every box in a record's turns into frame ``to``.

    A record whose turns hold no box is returned unchanged without looking up its image size.

    Returns:
        ``(new_record, boxes_converted, boxes_left_as_they_were)``.

    Raises:
        BoxError: an invalid box (while ``strict``), naming file, record, id and turn.
        MissingFileError: the record has boxes but its image size is unknown.
        InputError: the record has no turns to read.
    """
    rid = record.get("id") if isinstance(record, Mapping) else None
    where = {"file": file, "record": index, "id": rid if isinstance(rid, str) else None}
    turns = record.get("conversations") if isinstance(record, Mapping) else None
    if not isinstance(turns, list):
        raise InputError("must be a list of turns", field="conversations", **where)
    if not any(isinstance(t, Mapping) and isinstance(t.get("value"), str) and BOX_PATTERN.search(t["value"]) for t in turns):
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
        new, d, s = convert_text(value, width, height, to, strict=strict, field=f"conversations[{i}].value", **where)
        out_turns.append({**turn, "value": new})
        done, skipped = done + d, skipped + s
    return {**record, "conversations": out_turns}, done, skipped


def convert_file(input_path: str | os.PathLike, output_path: str | os.PathLike, to: str, sizes: ImageSizes, *, strict: bool = True) -> dict[str, int]:
    """Rewrite the boxes of every record of a LLaVA JSON list into frame ``to``; write the result atomically.

    Streams the input (one record in memory at a time). The output is a JSON
    list, one record per line; it appears only once complete.

    Returns:
        Counts: ``records``, ``records_with_boxes``, ``boxes``, ``left_unchanged``.

    Raises:
        ConfigError: ``to`` unknown.
        MissingFileError, InputError, BoxError: as :func:`convert_record`; nothing is written then.
    """
    from dataoptim.errors import ConfigError
    from dataoptim.io import atomic_write, iter_json_items

    if to not in FRAMES:
        raise ConfigError(f"--to must be one of {', '.join(FRAMES)}, got {to!r}", field="to")
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
        to: str = typer.Option(..., "--to", help="Target frame: 'padded' (LLaVA --image_aspect_ratio pad) or 'original'."),
        image_sizes: Optional[Path] = typer.Option(None, "--image-sizes", help="JSON object {image: [width, height]} (image paths or bare file names)."),
        image_folder: Optional[Path] = typer.Option(None, "--image-folder", help="Image folder: sizes read from image headers."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        lenient: bool = typer.Option(False, "--lenient", help="Leave invalid boxes as they are instead of stopping."),
    ) -> None:
        """Rewrite every [x1, y1, x2, y2] box of every record into the other frame: converted exactly, then rounded once to DataOptim's 3 decimals.

        So original -> padded -> original moves a short-axis value by at most 0.0005 x (1 + long/short side), e.g. 0.106 -> 0.105 at 640x480; to original, parts of a box in the padding are clamped to the image edge.
        """
        from dataoptim.errors import ConfigError

        if image_sizes is None and image_folder is None:
            raise ConfigError("give --image-sizes FILE or --image-folder DIR: boxes are placed by each image's width and height")
        sizes = ImageSizes(load_image_sizes(image_sizes) if image_sizes is not None else None, image_folder, allow_symlinks_out=allow_symlinks_out)
        counts = convert_file(input, output, to, sizes, strict=not lenient)
        typer.echo(
            f"wrote {output}: {counts['records']:,} records, {counts['boxes']:,} boxes moved to the {to} frame"
            f" in {counts['records_with_boxes']:,} records"
            + (f", {counts['left_unchanged']:,} invalid boxes left unchanged" if counts["left_unchanged"] else "")
        )

    app.add_typer(boxes_app, name="boxes")
