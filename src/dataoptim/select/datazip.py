"""``pool build --data-dir data.zip``: build a pool straight from DataOptim's release archive.

DataOptim ships its converted records as one ``data.zip`` holding a
``<source>.json`` per source. Rather than asking the user to unzip it, the
members the pool needs (``<source>.json`` of the known sources, at any depth
in the archive) are streamed out in 1 MiB pieces (:func:`dataoptim.files.safe_extract`:
no member is held in memory, links and paths out of the folder are refused,
the size is capped) into a temporary folder beside the pool, the pool is built
from there (:func:`dataoptim.select.pool.build_pool`), and the folder is removed,
whether the build succeeds or not. The disk needs room for the extracted JSON
for the length of the build; the archive itself is never changed.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path
from typing import Any, Sequence

from dataoptim import catalog
from dataoptim import words
from dataoptim.errors import ConfigError, DataOptimError, MissingFileError


def archive_members(archive: Path, wanted: Sequence[str]) -> dict[str, str]:
    """``{source: member name}`` of the ``<source>.json`` members of ``archive``, first of each base name.

    Raises:
        InputError: not a valid zip archive (:func:`dataoptim.files.member_names`).
    """
    from dataoptim.files import member_names

    names = member_names(archive)
    found: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (n.count("/"), n)):  # the shallowest first
        base = posixpath.basename(name)
        if base.startswith(".") or "__MACOSX" in name:
            continue
        source = base[: -len(".json")] if base.endswith(".json") else None
        if source in wanted and source not in found:
            found[source] = name
    return found


def build_pool_from_zip(archive: str | os.PathLike, output: str | os.PathLike, *, sources: Sequence[str] | None = None, **options: Any):
    """Build a pool from the ``<source>.json`` members of a zip archive (DataOptim's ``data.zip``).

    Args:
        archive: the zip file.
        output: the pool folder (as :func:`~dataoptim.select.pool.build_pool`).
        sources: only these sources (each must be in the archive).
        **options: ``overwrite``, ``progress`` of :func:`~dataoptim.select.pool.build_pool`.

    Returns:
        The :class:`~dataoptim.select.pool.BuildReport`; the manifest's ``data_dir`` names the archive.

    Raises:
        InputError: not a zip archive. MissingFileError: it holds no ``<source>.json`` of a known
            source, or not one asked for in ``sources``. UnsafeInputError: a member is a link, escapes
            the folder or expands past the size cap. The errors of ``build_pool`` otherwise.
    """
    import json

    from dataoptim.files import safe_extract
    from dataoptim.select.pool import MANIFEST, build_pool

    archive = Path(archive).expanduser()
    output = Path(output).expanduser()
    wanted = list(catalog.SOURCES) if sources is None else list(sources)
    unknown = [s for s in wanted if s not in catalog.SOURCES]
    if unknown:
        raise ConfigError(f"unknown {words.plural(len(unknown), 'source')} {', '.join(map(repr, unknown))}; known: {', '.join(catalog.SOURCES)}")
    members = archive_members(archive, wanted)
    if not members:
        raise MissingFileError(
            f"the archive holds no <source>.json of a known source (DataOptim's data.zip holds {', '.join(f'{s}.json' for s in list(catalog.SOURCES)[:3])}, ...)",
            file=archive,
        )
    absent = [s for s in wanted if s not in members] if sources is not None else []
    if absent:
        raise MissingFileError(f"the archive holds no {', '.join(f'{s}.json' for s in absent)}", file=archive)
    folder = output.parent / f".{output.name}.zip-{os.getpid()}"
    try:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        extracted = safe_extract(archive, folder, members=list(members.values()))
        flat = folder / "flat"
        flat.mkdir()
        for path in extracted:  # build_pool looks one folder deep: put every member at the top
            os.replace(path, flat / path.name)
        try:
            report = build_pool(flat, output, sources=sources, **options)
        except DataOptimError as exc:  # name the member of the archive, not the temporary folder removed below
            if exc.file is not None and Path(exc.file).resolve().parent == flat.resolve():
                by_name = {Path(member).name: member for member in members.values()}
                exc.file = f"{archive}:{by_name.get(Path(exc.file).name, Path(exc.file).name)}"
                exc.args = (str(exc),)
            raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    manifest = output / MANIFEST
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["data_dir"] = str(archive.resolve())
    manifest.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return report


__all__ = ["archive_members", "build_pool_from_zip"]
