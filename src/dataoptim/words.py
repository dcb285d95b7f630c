"""Counted nouns for messages: ``count(1, "record")`` is ``"1 record"``, ``count(2_000, "record")`` ``"2,000 records"``.

One rule for every line the CLI prints (no "1 records", "1 repeats").
"""

from __future__ import annotations

#: Plurals that are not the noun + "s".
IRREGULAR = {"was": "were", "has": "have", "is": "are", "trains": "train", "its": "their", "box": "boxes"}


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``noun`` for ``n == 1``, else ``many`` (default: ``noun + "s"``, or the :data:`IRREGULAR` form)."""
    if n == 1:
        return noun
    return many if many is not None else IRREGULAR.get(noun, noun + "s")


def count(n: int, noun: str, many: str | None = None) -> str:
    """``n`` with thousands separators and ``noun`` in the right number: ``"1 record"``, ``"12,000 records"``.

    Args:
        n: a count (int, numpy integer or None, read as 0).
        noun: the singular.
        many: the plural when it is not ``noun + "s"``.
    """
    n = int(n or 0)
    return f"{n:,} {plural(n, noun, many)}"
