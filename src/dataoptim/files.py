"""Archives and downloaded files, handled as untrusted input (DESIGN §10).

Extraction refuses members that would land outside the target folder (absolute
names, ``..``, symlinks) and caps the total uncompressed size, so a crafted
``data.zip`` can neither overwrite files elsewhere nor fill the disk.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import zipfile
from pathlib import Path

from dataoptim.errors import InputError, MissingFileError, UnsafeInputError
from dataoptim.io import atomic_write

#: Default cap on what one extraction may write (bytes).
MAX_EXTRACT_BYTES = 64 * 2**30


def _safe_member_name(info: zipfile.ZipInfo, archive: Path) -> str:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise UnsafeInputError("archive member is a symbolic link", file=archive, field=name)
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
        raise UnsafeInputError("archive member has an absolute or non-POSIX path", file=archive, field=name)
    norm = posixpath.normpath(name)
    if norm == ".." or norm.startswith("../"):
        raise UnsafeInputError("archive member escapes the target folder", file=archive, field=name)
    return norm


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike, *, members: list[str] | None = None, max_bytes: int = MAX_EXTRACT_BYTES) -> list[Path]:
    """Extract a zip archive into ``target`` safely.

    Args:
        archive: the ``.zip`` file.
        target: folder to extract into (created).
        members: names to extract (default all); matched on the full name or the base name.
        max_bytes: cap on the total uncompressed size declared by the members extracted.

    Returns:
        The extracted file paths.

    Raises:
        MissingFileError: archive absent, or a requested member not in it.
        InputError: not a zip file.
        UnsafeInputError: a member escapes ``target`` or is a link, or the size cap is exceeded.
        Each file is written to a temp name and renamed, so no half file is left.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise MissingFileError("archive not found", file=archive)
    target = Path(target)
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise InputError("not a valid zip archive", file=archive) from None
    out: list[Path] = []
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        names = {i.filename: _safe_member_name(i, archive) for i in zf.infolist()}  # check all before writing
        if members is not None:
            wanted = set(members)
            infos = [i for i in infos if i.filename in wanted or posixpath.basename(i.filename) in wanted]
            got = {i.filename for i in infos} | {posixpath.basename(i.filename) for i in infos}
            absent = sorted(wanted - got)
            if absent:
                raise MissingFileError(f"archive has no member {', '.join(absent)}", file=archive)
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise UnsafeInputError(f"archive would extract {total:,} bytes, over the cap of {max_bytes:,}", file=archive)
        written = 0
        for info in infos:
            dest = target / names[info.filename]
            with zf.open(info) as src, atomic_write(dest, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:  # declared sizes can lie
                        raise UnsafeInputError(f"archive expands past the cap of {max_bytes:,} bytes", file=archive, field=info.filename)
                    dst.write(chunk)
            out.append(dest)
    return out


def member_names(archive: str | os.PathLike) -> list[str]:
    """The names of the files (not folders) in a zip archive, in archive order; nothing is extracted.

    Raises:
        MissingFileError: archive absent. InputError: not a zip file.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise MissingFileError("archive not found", file=archive)
    try:
        with zipfile.ZipFile(archive) as zf:
            return [i.filename for i in zf.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        raise InputError("not a valid zip archive", file=archive) from None


def extract_member(archive: str | os.PathLike, name: str, target: str | os.PathLike | None = None) -> Path:
    """Extract one member (by base name) of ``archive`` next to it (or into ``target``), once.

    Returns the extracted path; a complete earlier extraction is reused.
    """
    archive = Path(archive)
    target = Path(target) if target is not None else archive.parent / f"{archive.stem}_extracted"
    existing = target / name
    if existing.is_file():
        return existing
    paths = safe_extract(archive, target, members=[name])
    path = paths[0]
    if path != existing:
        existing.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, existing)
    return existing
