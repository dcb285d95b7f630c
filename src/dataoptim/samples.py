"""Small real samples shipped with the package, and stand-in images for them.

``dataoptim/data/samples/`` holds, per source, small files in the source's
original layout (verbatim samples where a public copy exists, minimal
reconstructions otherwise; ``PROVENANCE.md`` there says which) and DataOptim's
official example submissions. The source images cannot be shipped (licences,
size), so :func:`make_stand_in_images` draws a labelled stand-in for every
image path a set of records names: a flat colour picked from the path, the
words "stand-in" and the file name, at a size given by the record when known.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

#: Default stand-in size (width, height) in pixels when a record does not say.
DEFAULT_SIZE = (96, 72)


def samples_dir() -> Path:
    """Folder of the shipped samples (``dataoptim/data/samples``)."""
    return Path(str(resources.files("dataoptim.data").joinpath("samples")))


def stand_in_image(relative_path: str, size: tuple[int, int] = DEFAULT_SIZE):
    """A PIL image standing in for ``relative_path``: colour from a hash of the path, labelled "stand-in".

    Args:
        relative_path: the record's ``image`` value.
        size: (width, height) in pixels, each ≥ 8.
    """
    from PIL import Image, ImageDraw

    width, height = max(8, int(size[0])), max(8, int(size[1]))
    digest = hashlib.blake2b(relative_path.encode(), digest_size=3).digest()
    image = Image.new("RGB", (width, height), tuple(64 + b // 2 for b in digest))
    draw = ImageDraw.Draw(image)
    draw.rectangle([width // 4, height // 4, 3 * width // 4, 3 * height // 4], outline=(255, 255, 255))
    draw.text((2, 2), "stand-in", fill=(255, 255, 255))
    draw.text((2, height - 12), Path(relative_path).stem[:16], fill=(255, 255, 255))
    return image


def make_stand_in_images(records: Iterable[Mapping], image_folder: str | os.PathLike, *, max_side: int = 160) -> int:
    """Write a stand-in image for every distinct ``image`` path in ``records`` under ``image_folder``.

    Records with ``width``/``height`` get a stand-in of the same aspect ratio,
    scaled so the long side is at most ``max_side`` pixels. Existing files are
    kept. The format follows the extension (``.jpg`` → JPEG, ``.png`` → PNG).

    Returns:
        Number of images written.
    """
    folder = Path(image_folder)
    written = 0
    seen: set[str] = set()
    for record in records:
        rel = record.get("image")
        if not rel or rel in seen:
            continue
        seen.add(rel)
        target = folder / rel
        if target.exists():
            continue
        width, height = record.get("width"), record.get("height")
        if width and height:
            scale = max_side / max(width, height)
            size = (round(width * scale), round(height * scale))
        else:
            size = DEFAULT_SIZE
        target.parent.mkdir(parents=True, exist_ok=True)
        image = stand_in_image(rel, size)
        fmt = "PNG" if target.suffix.lower() == ".png" else "JPEG"
        image.save(target, format=fmt)
        written += 1
    return written
