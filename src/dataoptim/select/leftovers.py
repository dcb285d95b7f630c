"""What killed runs leave behind, and when it is safe to remove (issue 8, faults).

A run killed with ``SIGKILL`` (or by a power cut) runs no cleanup. It leaves,
beside its output:

* an export (``select``, ``validate --output``): the hidden temporary file of its
  atomic write, ``.<name>.<random>.tmp``, and the bucket folder of its external
  sort, ``.<name>.sort-<pid>-<random>``;
* a pool build: ``<pool>.tmp-<pid>`` (the pool being written) and, if killed
  while replacing a pool, ``<pool>.old-<pid>`` (the previous, complete pool
  moved aside; :func:`dataoptim.select.pool.recover_pool` puts it back). Both
  bear the build's marker file (:data:`dataoptim.select.pool.BUILD_MARKER`);
  a folder of such a name without it is someone else's and stays.

They are never trusted (no manifest, hidden names), but they accumulate. Each
new export or build removes the ones that are *stale*: older than the current
process, and not in use: an export's temporary file is stale when no process
holds the ``flock`` that exports take on it while writing; a folder whose name
carries a process id is stale when that process is gone. So a concurrent
export or build of another live process is never touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

try:  # POSIX: advisory locks mark an export's temporary file as in use
    import fcntl
except ImportError:  # pragma: no cover - Windows: nothing is cleaned
    fcntl = None  # type: ignore[assignment]

_IMPORTED = time.time()
#: Seconds a leftover must predate this process by (clock granularity).
MARGIN = 0.5
#: An atomic write's temporary file of a JSON output: ``.<name>.json.<mkstemp's 8 characters>.tmp``.
_TEMP_RE = re.compile(r"^\.(?P<name>.+\.json)\.[a-z0-9_]{8}\.tmp$")
#: The bucket folder of an export's external sort: ``.<name>.sort-<pid>-<random>`` (older versions: no pid).
_SORT_RE = re.compile(r"^\.(?P<name>.+\.json)\.sort-(?:(?P<pid>\d+)-)?[a-z0-9_]+$")


def process_start() -> float:
    """When this process started (seconds since the epoch): from ``/proc`` on Linux, else when this module was imported."""
    try:
        with open("/proc/self/stat", "rb") as handle:
            ticks = int(handle.read().rsplit(b")", 1)[1].split()[19])  # field 22: start time, in clock ticks after boot
        with open("/proc/uptime", "rb") as handle:
            uptime = float(handle.read().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")  # seconds since this process started
        return min(time.time() - age, _IMPORTED)
    except (OSError, ValueError, IndexError):
        return _IMPORTED


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (this process counts as alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (another user's), or we cannot tell: keep its files
    return True


def older_than_this_process(path: Path, start: float | None = None) -> bool:
    """Whether ``path`` was last modified before this process started (by :data:`MARGIN`)."""
    try:
        mtime = path.lstat().st_mtime
    except OSError:
        return False
    return mtime < (process_start() if start is None else start) - MARGIN


def lock_in_use(handle) -> None:
    """Mark an open temporary file as being written (a shared ``flock``, released when it closes); no-op off POSIX."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)


def _remove_if_unlocked(path: Path) -> bool:
    """Delete a temporary file if no process holds a lock on it (taking the lock while deleting)."""
    if fcntl is None:  # pragma: no cover
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a live export holds it
        os.close(fd)
        return False
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)  # releases the lock


def clean_export_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove stale leftovers of killed exports in ``folder``; return what was removed.

    Removes ``.<name>.json.<random>.tmp`` files that predate this process and that
    no process holds a lock on, and ``.<name>.json.sort-<pid>-<random>`` folders
    that predate this process and whose process is gone (those without a pid:
    by age alone). Anything else, and anything it cannot decide, is left alone.
    """
    folder = Path(folder)
    if fcntl is None or not folder.is_dir():  # pragma: no cover
        return []
    start = process_start()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if _TEMP_RE.match(entry.name):
            if entry.is_file(follow_symlinks=False) and older_than_this_process(path, start) and _remove_if_unlocked(path):
                removed.append(path)
            continue
        match = _SORT_RE.match(entry.name)
        if match and entry.is_dir(follow_symlinks=False) and older_than_this_process(path, start):
            pid = match.group("pid")
            if pid is None or not pid_alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed
