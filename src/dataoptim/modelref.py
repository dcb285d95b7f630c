"""Model references (``--model``, ``--model-name-or-path``, ``--vision-tower``): a folder or a hub id, checked at once.

``transformers`` takes any string that is not an existing folder for a hub id
and asks the network for it: a mistyped folder (``ck-hff`` for ``ck-hf``)
retries the hub for half a minute and then reports a connection problem,
never the missing folder; offline it still takes seconds. :func:`check_model_ref`
decides before anything is loaded:

* an existing path (file or folder) is accepted as it is;
* a value that looks like a path (absolute, ``./``, ``../``, ``~``, a
  backslash, a trailing ``/``, no ``/`` at all or more than one) and does not
  exist is refused at once, "no such folder", with the nearest names in its
  parent folder (``difflib``) and no network;
* a hub id (``org/name``) found in the local hub cache is accepted; offline
  (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``) one that is not cached is
  refused at once; online, one request (no retries, a few seconds at most)
  tells a missing repository or an unreachable hub from a good id.

Bare legacy hub ids without an organisation (``gpt2``) are taken for folders:
no LLaVA checkpoint has such an id.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from dataoptim.errors import ConfigError, MissingFileError

#: What a hub repository id looks like: ``org/name``, letters, digits and ``- _ .`` (huggingface_hub's rule).
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")

#: Seconds the one online probe may take.
PROBE_TIMEOUT = 5.0


def _offline() -> bool:
    truthy = {"1", "ON", "YES", "TRUE"}
    return any(os.environ.get(name, "").upper() in truthy for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def looks_like_path(value: str) -> bool:
    """True when ``value`` cannot be a hub id ``org/name`` and so can only mean a local path."""
    return (
        value.startswith(("/", "./", "../", "~", "."))
        or "\\" in value
        or value.endswith("/")
        or os.path.isabs(value)
        or not HUB_ID.match(value)
        or ".." in value
    )


def near_misses(path: str | os.PathLike, n: int = 3) -> list[str]:
    """Names in ``path``'s parent folder close to its last part (``difflib``, cutoff 0.6), best first."""
    path = Path(path).expanduser()
    parent = path.parent if str(path.parent) else Path(".")
    try:
        names = [entry.name for entry in os.scandir(parent)] if parent.is_dir() else []
    except OSError:
        names = []
    return difflib.get_close_matches(path.name, names, n=n, cutoff=0.6)


def _in_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # a malformed id or a damaged cache: not cached
        return False
    return isinstance(found, str)


def _probe(repo_id: str, option: str) -> None:
    """One request to the hub, no retries: refuse a missing repository or an unreachable hub."""
    try:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:  # pragma: no cover - old huggingface_hub: let transformers try
        return
    try:
        HfApi().model_info(repo_id, timeout=PROBE_TIMEOUT)
    except RepositoryNotFoundError:
        raise MissingFileError(
            f"no such folder, and no model {repo_id!r} on the Hugging Face hub (or it is private: log in with `hf auth login`)",
            file=repo_id, field=option,
        ) from None
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, timeout, proxy: one line, no retries
        name = type(exc).__name__
        if "Gated" in name or "HTTPError" in name and "Connect" not in name and "Timeout" not in name:
            return  # the hub answered (a gated or rate-limited repository): transformers says what it needs
        raise MissingFileError(
            f"no such folder, not in the local hub cache, and the hub cannot be reached ({name}); "
            "check the path, or download the model first (set HF_HUB_OFFLINE=1 to skip the hub)",
            file=repo_id, field=option,
        ) from None


def check_model_ref(value: str | os.PathLike, *, option: str = "--model", special: tuple[str, ...] = ("tiny",), probe: bool = True) -> str:
    """Accept an existing path, a special name or a reachable hub id; refuse anything else at once.

    Args:
        value: what the user gave.
        option: the option's name, for messages (``--model``).
        special: names that mean something else (``"tiny"``: the random test model).
        probe: online, ask the hub (one request, :data:`PROBE_TIMEOUT` s, no retries) whether an
            uncached ``org/name`` exists; False (e.g. for a model another machine loads) accepts it.

    Returns:
        ``value`` as a string.

    Raises:
        MissingFileError: a path that does not exist (``"no such folder"``, with near misses), an
            ``org/name`` neither cached nor on the hub, or (offline) not cached. Within 1 s offline.
        ConfigError: an empty value.
    """
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("empty: give a checkpoint folder or a hub id (org/name)", field=option)
    if text in special or os.path.exists(os.path.expanduser(text)):
        return text
    if looks_like_path(text):
        close = near_misses(text)
        hint = f"; did you mean {', '.join(repr(str(Path(text).expanduser().parent / c)) for c in close)}?" if close else ""
        raise MissingFileError(f"no such folder{hint}", file=text, field=option)
    if _in_cache(text):
        return text
    if _offline():
        raise MissingFileError(
            "no such folder, and not in the local hub cache (offline: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set, "
            "so it cannot be downloaded)",
            file=text, field=option,
        )
    if probe:
        _probe(text, option)
    return text


__all__ = ["HUB_ID", "PROBE_TIMEOUT", "check_model_ref", "looks_like_path", "near_misses"]
