"""Signal ``images``: width, height, format and a content hash of every record's image file.

Needs: ``image``; parameter ``image_folder`` (LLaVA's ``--image_folder``). Writes
``image_width``, ``image_height`` (pixels, from the file's header: PIL opens lazily and reads
no pixels), ``image_format`` (``JPEG``, ``PNG``...), ``image_sha1`` (hex SHA-1 of the file's
bytes: the same picture saved twice under two names is one content), and ``image_status``:
``ok``, ``none`` (the record has no image), ``missing``, ``unreadable`` (no image format PIL
knows) or ``outside`` (a link leading out of the folder, refused as
:mod:`dataoptim.imagepath` does unless ``allow_symlinks_out``).

Each distinct image of a batch is read once, ``workers`` files at a time (threads: the work is
file reads and hashing, which release the GIL).

These values also fill ``width``/``height`` of a pool built from DataOptim's converted JSON,
where those columns are null: :mod:`dataoptim.select.by_signal` reads ``width`` as the pool's
value where it has one, else ``image_width``.

Paper: DataComp (Gadre et al. 2023) filters by image size and dedups by image content;
LLaVA's ``--image_aspect_ratio pad`` makes the aspect ratio matter (DESIGN §8).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

NAME = "images"
VERSION = "1"
NEEDS = ("image",)
WRITES = {
    "image_width": pa.int32(),
    "image_height": pa.int32(),
    "image_format": pa.string(),
    "image_sha1": pa.string(),
    "image_status": pa.string(),
}
PARAMS = {"image_folder": None, "workers": 8, "allow_symlinks_out": False}
PAPER = "DataComp (Gadre et al. 2023): image-size filters and image dedup"
STATUSES = ("ok", "none", "missing", "unreadable", "outside")


def prepare(params):
    from dataoptim.errors import ConfigError
    from dataoptim.signals.base import existing_folder, positive_int

    folder = params.get("image_folder")
    if not folder:
        raise ConfigError("the images signal needs the image folder (--image-folder DIR)", field="image_folder")
    path = existing_folder(folder, "image folder")
    positive_int(params, "workers")
    return {**params, "image_folder": path, "allow_symlinks_out": bool(params.get("allow_symlinks_out"))}


def read_image(folder, image: str):
    """``(width, height, format, sha1, status)`` of one image under an :class:`~dataoptim.imagepath.ImageFolder`."""
    from PIL import Image

    from dataoptim.errors import DataOptimError

    try:
        path = folder.resolve(image)
    except DataOptimError:
        return None, None, None, None, "outside"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None, None, None, None, "missing"
    digest = hashlib.sha1(data).hexdigest()
    try:
        import io

        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            fmt = im.format
    except Exception:  # noqa: BLE001 - any decoder failure means: not a readable image
        return None, None, None, digest, "unreadable"
    return int(width), int(height), fmt, digest, "ok"


def compute(batch: pa.RecordBatch, params) -> dict:
    from dataoptim.imagepath import ImageFolder

    folder = ImageFolder(params["image_folder"], allow_symlinks_out=params["allow_symlinks_out"])
    images = batch.column("image")
    distinct = pc.unique(images).drop_null().to_pylist()
    with ThreadPoolExecutor(max_workers=int(params["workers"])) as pool:
        results = dict(zip(distinct, pool.map(lambda i: read_image(folder, i), distinct)))
    rows = [results[i] if i is not None else (None, None, None, None, "none") for i in images.to_pylist()]
    return {column: [r[k] for r in rows] for k, column in enumerate(WRITES)}
