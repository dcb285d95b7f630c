"""Checking that the images a selection names are in the image folder (DESIGN §10, §11).

Known traps reported by name:

* DataOptim's README draws the Flickr30K folder as ``filckr30k/`` while its
  records say ``flickr30k/``: when ``flickr30k/`` images are missing and a
  ``filckr30k/`` folder exists, the report says to rename it.
* The later sources (issue 13) name folders of DataOptim's own tree
  (``coco_2017/``, ``docvqa/``, ``dvqa/``, ``scienceqa/``, ``sam/``,
  ``share_textvqa/``, ``web-celebrity/`` ...): a missing one is named with the
  sources whose images it holds, and LLaVA's layout (``coco/train2017/``,
  ``vg/VG_100K/``, ``gqa/images/``, ``ocr_vqa/images/``) is recognised.
* OCR-VQA images are partly GIF or PNG files named ``.jpg`` (LLaVA issues
  593, 601, 1618): the first bytes of every image file are read; ``.jpg``
  files whose content is another image format are listed with their real
  format (accepted: Pillow reads them by content), and files that are empty or
  of no known image format are corrupt (refused: LLaVA would crash on them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from dataoptim.errors import DataOptimError, MissingFileError
from dataoptim.words import count, plural

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_format(head: bytes) -> str:
    """Image format from a file's first 12 bytes: ``jpeg``, ``png``, ``gif``, ``webp``, ``bmp``, ``tiff``, ``empty`` or ``unknown``."""
    if not head:
        return "empty"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "unknown"


def image_problem(path: str | os.PathLike, *, header: bool = False) -> tuple[str, str | None]:
    """Read the first bytes of an image file: its format, and what is wrong with it if it is no image.

    A file whose first bytes match none of :func:`sniff_format`'s formats is
    given to Pillow's header parser, so a format Pillow reads but the sniffer
    does not know is not refused.

    Args:
        path: an existing file.
        header: parse every file's header with Pillow (lazily: no pixels are decoded), which
            also finds a file that starts like an image but is cut short or garbled there
            (about three times the cost of reading the first bytes).

    Returns:
        ``(format, problem)``: the format of :func:`sniff_format` (or Pillow's, lower case,
        for a format not sniffed), and ``None``, or a few words saying why the file
        cannot be an image (``"is empty"``, ...).
    """
    with open(path, "rb") as handle:
        kind = sniff_format(handle.read(12))
    if kind == "empty":
        return kind, "is empty"
    if header or kind == "unknown":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 - parsed from the header
                if kind == "unknown":
                    kind = (image.format or "unknown").lower()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            if kind == "unknown":
                return kind, "is not an image (its first bytes match no image format)"
            reason = "Pillow cannot parse its header" if isinstance(exc, UnidentifiedImageError) else " ".join(str(exc).split())[:200]
            return kind, f"is not a readable {kind} image ({reason or type(exc).__name__})"
    return kind, None


@dataclass
class ImageReport:
    """Result of :func:`check_images`.

    Attributes:
        folder: the image folder checked.
        checked: distinct image paths checked.
        missing: paths (relative) with no file.
        mislabeled: ``(path, real_format)`` of ``.jpg``/``.jpeg`` files of another image format
            (warnings: Pillow reads them by content).
        corrupt: ``(path, problem)`` of files that cannot be images: empty, or of no known format.
        unsafe: ``(path, error)`` of paths refused by the image-path rule (:mod:`dataoptim.imagepath`):
            links that lead out of the folder (unless allowed).
        hints: advice on known folder-name traps.
    """

    folder: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    mislabeled: list[tuple[str, str]] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    unsafe: list[tuple[str, DataOptimError]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no image is unsafe, missing or corrupt (mislabelled files are warnings: PIL reads them by content)."""
        return not self.missing and not self.corrupt and not self.unsafe

    def raise_for_missing(self) -> None:
        """Raise :class:`MissingFileError` naming how many images are missing, the first few and any hint."""
        if self.missing:
            first = ", ".join(self.missing[:5])
            hint = f" ({' '.join(self.hints)})" if self.hints else ""
            raise MissingFileError(f"{len(self.missing):,} of {count(self.checked, 'image')} {plural(len(self.missing), 'is')} missing, e.g. {first}{hint}",
                                   file=self.folder)

    def lines(self) -> list[str]:
        """The report as short lines for a terminal."""
        out = [
            f"{count(self.checked, 'image')} checked under {self.folder}: {len(self.missing):,} missing, {len(self.corrupt):,} corrupt, "
            f"{len(self.mislabeled):,} not what their name says"
        ]
        out += [f"  missing: {m}" for m in self.missing[:10]]
        if len(self.missing) > 10:
            out.append(f"  ... and {len(self.missing) - 10:,} more missing")
        out += [f"  refused: {exc.message}" for _, exc in self.unsafe[:10]]
        if len(self.unsafe) > 10:
            out.append(f"  ... and {len(self.unsafe) - 10:,} more refused")
        out += [f"  corrupt: {p} {problem}" for p, problem in self.corrupt[:10]]
        if len(self.corrupt) > 10:
            out.append(f"  ... and {len(self.corrupt) - 10:,} more corrupt")
        out += [f"  {p} is really {fmt}" for p, fmt in self.mislabeled[:20]]
        if len(self.mislabeled) > 20:
            out.append(f"  ... and {len(self.mislabeled) - 20:,} more mislabelled")
        out += [f"  hint: {h}" for h in self.hints]
        return out


def check_images(images: Iterable[str], folder: str | os.PathLike, *, formats: bool = True, progress: bool = False,
                 allow_symlinks_out: bool = False) -> ImageReport:
    """Check that each image path exists under ``folder`` (by the image-path rule); optionally sniff each file.

    Args:
        images: relative image paths (``coco/COCO_train2014_000000318556.jpg``), repeats allowed.
        folder: the image folder (LLaVA's ``--image_folder``).
        allow_symlinks_out: follow links out of ``folder`` instead of listing them as unsafe
            (:mod:`dataoptim.imagepath`).
        formats: read the first 12 bytes of each file: list empty files and files of no known
            image format as corrupt, and ``.jpg``/``.jpeg`` files of another format as mislabelled.
        progress: progress bar on a terminal.

    Returns:
        An :class:`ImageReport` (never raises for unsafe, missing or corrupt images; see
        :meth:`ImageReport.raise_for_missing` and :meth:`dataoptim.select.Selection.require_images`).

    Raises:
        MissingFileError: ``folder`` is not a folder.
    """
    from dataoptim.imagepath import ImageFolder

    image_folder = ImageFolder(folder, allow_symlinks_out=allow_symlinks_out)
    root = image_folder.root
    unique = sorted(set(images))
    report = ImageReport(str(root), checked=len(unique))
    bar = None
    if progress and len(unique) > 10_000:
        import sys

        if sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(unique), desc="images", unit=" img", unit_scale=True, leave=False)
    for rel in unique:
        try:
            full = image_folder.resolve(rel)
        except DataOptimError as exc:  # a link out of the folder (or a path string that is not safe)
            report.unsafe.append((rel, exc))
            continue
        if not os.path.isfile(full):
            report.missing.append(rel)
        elif formats:
            kind, problem = image_problem(full)
            if problem is not None:
                report.corrupt.append((rel, problem))
            elif kind != "jpeg" and rel.lower().endswith((".jpg", ".jpeg")):
                report.mislabeled.append((rel, kind))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    report.hints = folder_hints(report.missing, root)
    return report


#: DataOptim's image folder -> where the original release (LLaVA-v1.5, ShareGPT-4V) keeps the same images.
#: DataOptim's tree (BAAI-DCAI/DataOptim README) flattens them; a user with LLaVA's layout is told so.
ORIGINAL_LAYOUTS = {
    "coco_2017": ("coco/train2017",),
    "visual_genome": ("vg/VG_100K", "vg/VG_100K_2", "gqa/images"),
    "ocrvqa": ("ocr_vqa/images",),
    "open_images": ("textvqa/train_images",),
}


def folder_hints(missing: Iterable[str], root: Path) -> list[str]:
    """Advice for missing images explained by a known folder-name trap.

    * ``filckr30k/`` (DataOptim's README spelling) present where records say ``flickr30k/``;
    * a folder of DataOptim's tree missing while the same images sit in LLaVA's or
      ShareGPT-4V's layout (``coco/train2017/`` for ``coco_2017/``, ``vg/VG_100K/`` or
      ``gqa/images/`` for ``visual_genome/``, ``ocr_vqa/images/`` for ``ocrvqa/``,
      ``textvqa/train_images/`` for ``open_images/``);
    * any other missing top folder, named with the sources whose images it holds.
    """
    from dataoptim import catalog

    hints = []
    missing = list(missing)
    tops = {m.split("/", 1)[0] for m in missing if "/" in m}
    for wrong, right in catalog.MISSPELT_FOLDERS.items():
        if right in tops and (root / wrong).is_dir() and not (root / right).is_dir():
            hints.append(
                f"{root / wrong} exists but records use '{right}/' (DataOptim's README misspells the folder): rename it to '{right}'"
            )
    for top in sorted(tops):
        if (root / top).is_dir() or (top in catalog.MISSPELT_FOLDERS.values() and hints):
            continue
        elsewhere = [o for o in ORIGINAL_LAYOUTS.get(top, ()) if (root / o).is_dir()]
        if elsewhere:
            hints.append(
                f"no '{top}/' folder under {root}, but {', '.join(f'{o}/' for o in elsewhere)} exists: DataOptim's records name "
                f"'{top}/<file>' (its image tree flattens LLaVA's layout): move or link the files there"
            )
            continue
        owners = [s.name for s in catalog.SOURCES.values() if top in s.folders]
        hints.append(f"no '{top}/' folder under {root}" + (f" (images of {', '.join(owners)})" if owners else ""))
    return hints
