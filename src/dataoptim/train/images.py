"""Images for training and inference: open one safely, pad it to a square.

LLaVA's ``--image_aspect_ratio pad`` (the challenge recipe) pastes the image in
the middle of a square canvas filled with the CLIP mean colour before the CLIP
processor resizes and crops it, so no part of the picture is cut away
(LLaVA ``llava/train/train.py``, ``expand2square``; the same rule as DataOptim's
``tools/expand_to_square.py`` and :mod:`dataoptim.boxes`). This module
reimplements that rule with Pillow only; it imports no ``torch``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dataoptim.errors import MissingFileError, ModelInputError

#: CLIP's per-channel normalisation mean (openai/clip-vit-large-patch14 ``preprocessor_config.json``), in [0, 1].
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
#: The same mean as 8-bit RGB, as LLaVA computes it (``int(x * 255)`` per channel): ``(122, 116, 104)``.
CLIP_MEAN_RGB = tuple(int(x * 255) for x in CLIP_MEAN)


def pad_to_square(image, background: tuple[int, int, int] = CLIP_MEAN_RGB):
    """Return ``image`` centred on a square canvas of its long side, filled with ``background``.

    A ``W x H`` image with ``W > H`` becomes ``W x W`` with the picture pasted at
    ``(0, (W - H) // 2)``; with ``H > W`` it becomes ``H x H`` pasted at
    ``((H - W) // 2, 0)``; a square image is returned unchanged (same object).
    Box coordinates move the same way (:mod:`dataoptim.boxes`).

    Args:
        image: a ``PIL.Image.Image`` in mode ``RGB`` (as :func:`load_image` returns).
        background: fill colour, 8-bit RGB; default the CLIP mean ``(122, 116, 104)``.

    Returns:
        A ``PIL.Image.Image`` of size ``(L, L)`` with ``L = max(W, H)``, same mode.
    """
    from PIL import Image

    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    canvas = Image.new(image.mode, (side, side), background)
    canvas.paste(image, ((side - width) // 2, (side - height) // 2))
    return canvas


def load_image(path: str | os.PathLike, *, pad: bool = False, **where: Any):
    """Open an image file fully and return it as an RGB ``PIL.Image.Image``.

    The pixels are decoded here (``Image.load``), so a truncated or corrupt
    file fails at once with a clear error rather than later inside a data
    loader worker. Palette/alpha/greyscale images (OCR-VQA holds ``.gif`` and
    ``.png`` files under ``.jpg`` names, DESIGN §11) are converted to RGB.

    Args:
        path: the image file.
        pad: also apply :func:`pad_to_square` (the recipe's ``image_aspect_ratio pad``).
        **where: location for error messages, any of ``file`` (the data file),
            ``record`` (index), ``id`` and ``field``; by default the error names
            the image file itself.

    Returns:
        ``PIL.Image.Image`` in mode ``RGB``, size ``(W, H)`` pixels (square if ``pad``).

    Raises:
        MissingFileError: ``path`` does not exist or is not a file.
        ModelInputError: the file cannot be decoded as an image (corrupt, truncated, not an image,
            or a decompression bomb: more pixels than Pillow's ``Image.MAX_IMAGE_PIXELS`` allows twice over).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    where = dict(where)
    where.setdefault("file", path)
    where.setdefault("field", "image")
    named = "" if where["file"] == path else f" {str(path)!r}"
    if not path.is_file():
        raise MissingFileError(f"image file{named} not found", **where)
    try:
        with Image.open(path) as handle:
            handle.load()
            image = handle.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ModelInputError(f"image file{named} cannot be decoded: {exc}", **where) from None
    if image.width < 1 or image.height < 1:
        raise ModelInputError(f"image file{named} has no pixels", **where)
    return pad_to_square(image) if pad else image


def decode_all(paths: "dict[Any, str | os.PathLike]", *, workers: int | None = None, progress: bool = False,
               desc: str = "decoding images") -> dict[Any, str]:
    """Fully decode many image files in parallel; return what is wrong with those that fail.

    Each file goes through :func:`load_image` (every pixel decoded, as the data
    loader will), in a thread pool: Pillow releases the GIL while it decodes, so
    the threads run on every core. A file cut short after its header, a corrupt
    or foreign file and a decompression bomb all fail here, before training.

    Args:
        paths: ``{key: file}``; keys are what the caller reports by (a relative image path).
        workers: threads (default: the CPUs this process may use, at most 32).
        progress: draw a ``tqdm`` progress bar on stderr.
        desc: the bar's label.

    Returns:
        ``{key: problem}`` for each file that cannot be decoded (``problem``: a few words
        from Pillow, e.g. ``"image file is truncated (2 bytes not processed)"``), in the
        order of ``paths``; empty when every file decodes.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            workers = os.cpu_count() or 1
        workers = max(1, min(32, workers))

    def one(item):
        key, path = item
        try:
            load_image(path)
        except (MissingFileError, ModelInputError) as exc:
            text = exc.message
            marker = "cannot be decoded: "
            return key, (text.split(marker, 1)[1] if marker in text else text)
        return key, None

    failed: dict[Any, str] = {}
    items = list(paths.items())
    with tqdm(total=len(items), desc=desc, unit=" img", disable=None if progress and items else True, leave=False) as bar:  # None: on a terminal
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for key, problem in pool.map(one, items):
                if problem is not None:
                    failed[key] = problem
                bar.update(1)
    return failed
