"""Argument checks shared by the selection API and CLI: wrong types and values become a
:class:`~dataoptim.errors.ConfigError` naming the argument (DESIGN §10), never a bare
``TypeError``/``ValueError`` from deep inside numpy or Arrow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from dataoptim.errors import ConfigError

#: Largest seed accepted (numpy's ``SeedSequence`` takes any non-negative integer; this keeps them sane).
MAX_SEED = 2**63 - 1


def as_path(value: Any, what: str, *, field: str | None = None) -> Path:
    """``value`` as a ``Path`` (``~`` expanded).

    Raises:
        ConfigError: ``value`` is not a ``str`` or ``os.PathLike``, or is empty.
    """
    if not isinstance(value, (str, os.PathLike)) or isinstance(value, bytes):
        raise ConfigError(f"{what} must be a path (str or os.PathLike), got {type(value).__name__}", field=field)
    if isinstance(value, str) and not value.strip():
        raise ConfigError(f"{what} must be a path, got an empty string", field=field)
    return Path(value).expanduser()


def check_seed(seed: Any, *, field: str = "seed") -> int:
    """A seed: an integer in ``[0, 2**63)`` (numpy refuses negative seeds).

    Raises:
        ConfigError: not an integer (a bool, float or string included), or out of range.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"must be a non-negative integer, found {seed!r} ({type(seed).__name__})", field=field)
    if int(seed) < 0:
        raise ConfigError(f"must be a non-negative integer, found {int(seed)}", field=field)
    if int(seed) > MAX_SEED:
        raise ConfigError(f"must be below 2**63, found {int(seed)}", field=field)
    return int(seed)


def check_count(value: Any, *, field: str) -> int:
    """A count: a non-negative integer (not a bool or float)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"must be a non-negative integer, found {value!r}", field=field)
    return int(value)


def as_names(value: Any, what: str, *, field: str | None = None, allow_none: bool = True) -> list[str] | None:
    """A name or names as a list: a single ``str`` is one name (not its letters).

    Raises:
        ConfigError: not a string or an iterable of strings, or an empty list.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, (list, tuple, set, frozenset)) or (isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping))):
        names = list(value)
    else:
        raise ConfigError(f"{what} must be a name or a list of names, got {type(value).__name__}", field=field)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ConfigError(f"{what} must be strings, found {bad[0]!r} ({type(bad[0]).__name__})", field=field)
    names = [n.strip() for n in names]
    if not names or not all(names):
        raise ConfigError(f"{what}: an empty name or an empty list; name at least one", field=field)
    return names


def check_output_path(path: Any, *, what: str = "output", field: str | None = None) -> Path:
    """Check that a file can be written at ``path`` without creating anything yet.

    ``path`` must not be a folder, and its parent must exist as a writable folder or
    be creatable: the nearest existing ancestor is a writable folder (the parents are
    created only when the file is written).

    Raises:
        ConfigError: not a path, a folder, or a parent that is a file or not writable.
    """
    path = as_path(path, what, field=field)
    if path.is_dir():
        raise ConfigError(f"{what} path is a folder, not a file", file=path, field=field)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{what} path exists and is not a regular file", file=path, field=field)
    ancestor = path.parent if str(path.parent) else Path(".")
    while not ancestor.exists():
        if ancestor.is_symlink():  # a link to nowhere: its target cannot be created through it
            raise ConfigError(f"{what} folder {ancestor} is a broken link", file=path, field=field)
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{what} folder cannot be made: {ancestor} is a file", file=path, field=field)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} folder {ancestor} is not writable", file=path, field=field)
    return path


def check_output_paths(paths: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """:func:`check_output_path` for each named output (option -> path; None skipped), no two the same
    file, and none the same file as an input (:func:`dataoptim.io.refuse_overwrite`).

    Args:
        paths: option -> every file the command writes (sidecars included).
        inputs: option -> every file or folder the command reads.

    Raises:
        ConfigError: the first output that cannot be written, two options naming one file, or an
            output that is one of the inputs.
    """
    from dataoptim.io import refuse_overwrite

    checked: dict[str, Path] = {}
    for option, value in paths.items():
        if value is None:
            continue
        checked[option] = check_output_path(value, what=option.lstrip("-"), field=option)
    refuse_overwrite(checked, {k: v for k, v in (inputs or {}).items() if isinstance(v, (str, os.PathLike))})
    return checked
