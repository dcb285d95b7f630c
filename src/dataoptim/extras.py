"""Optional dependencies: say which extra to install, before any work starts.

The core install (``pip install dataoptim``) selects and checks data; training,
model-based evaluation and the demo need the ``train`` extra (torch,
transformers, accelerate), CIDEr needs the ``eval`` extra (pycocoevalcap).
A command that needs an extra calls :func:`require_extra` first, so a missing
package is one line naming the extra to install, not a ``ModuleNotFoundError``
traceback after minutes of work.

Modules are looked up with :func:`importlib.util.find_spec`: nothing is
imported here (checking for torch costs microseconds, not seconds).
"""

from __future__ import annotations

import importlib.util

from dataoptim.errors import MissingExtraError

#: The top-level modules each extra of ``pyproject.toml`` provides (those the library imports).
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "transformers", "accelerate"),
    "eval": ("pycocoevalcap",),
    "deepspeed": ("deepspeed",),
    "signals": ("datasketch", "sklearn"),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` (a key of :data:`EXTRAS`) that cannot be imported here, in order.

    Raises:
        KeyError: ``extra`` is not a key of :data:`EXTRAS`.
    """
    out = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            out.append(name)
    return out


def require_extra(extra: str, what: str) -> None:
    """Raise :class:`~dataoptim.errors.MissingExtraError` unless every module of ``extra`` is installed.

    Args:
        extra: ``"train"``, ``"eval"``, ``"deepspeed"`` or ``"signals"`` (:data:`EXTRAS`).
        what: what needs it, for the message (``"dataoptim train"``, ``"CIDEr (caption questions)"``).

    Raises:
        MissingExtraError: one line: ``<what> needs the '<extra>' extra (<modules> not installed):
            pip install "dataoptim[<extra>]"``; its ``name`` is the first missing module.
    """
    missing = missing_modules(extra)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise MissingExtraError(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} {verb} not installed): "
            f'pip install "dataoptim[{extra}]"',
            name=missing[0],
        )


__all__ = ["EXTRAS", "missing_modules", "require_extra"]
