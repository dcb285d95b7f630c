"""Prompts as DataOptim wrote them (DESIGN §4), and a reproducible "random" choice.

Sources: DataOptim's conversion rules (BAAI-DCAI/DataOptim README) for the
caption instructions, the open-VQA suffix and the A-OKVQA multiple-choice
format; Shikra (shikras/shikra, ``config/_base_/dataset/template/``, CC BY-NC 4.0)
for the REC/REG templates, shipped in ``dataoptim/data/templates/`` with their
attribution.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from typing import Sequence, TypeVar

from dataoptim.records import IMAGE_TOKEN

T = TypeVar("T")

#: DataOptim's five captioning instructions (one is chosen per record).
CAPTION_INSTRUCTIONS: tuple[str, ...] = (
    "Describe the image as simply as possible with a sentence or phrase.",
    "Give a brief summary of what you see.",
    "Provide a short description of the image.",
    "Write a short description for the image.",
    "Briefly describe the content of the image.",
)
#: Appended to every open-ended VQA question.
VQA_SUFFIX = "Answer the question directly with a short sentence or phrase."
#: Option letters of A-OKVQA's four choices.
MC_LETTERS = ("A", "B", "C", "D")


def stable_choice(options: Sequence[T], record_id: str, seed: int = 0) -> T:
    """Pick one of ``options`` as a pure function of ``(record_id, seed)``.

    Uses the first 8 bytes of BLAKE2b over ``"{seed}:{record_id}"``, so the
    pick never depends on build order, process count or Python's hash seed.

    Raises:
        ValueError: ``options`` is empty.
    """
    if not options:
        raise ValueError("stable_choice needs at least one option")
    digest = hashlib.blake2b(f"{seed}:{record_id}".encode(), digest_size=8).digest()
    return options[int.from_bytes(digest, "big") % len(options)]


def caption_prompt(record_id: str, seed: int = 0) -> str:
    """Human turn of a caption record: ``"<image>\\n{one of CAPTION_INSTRUCTIONS}"``."""
    return f"{IMAGE_TOKEN}\n{stable_choice(CAPTION_INSTRUCTIONS, record_id, seed)}"


def vqa_prompt(question: str) -> str:
    """Human turn of an open-ended VQA record: ``"<image>\\n{question} {VQA_SUFFIX}"``."""
    return f"{IMAGE_TOKEN}\n{question} {VQA_SUFFIX}"


def mc_prompt(question: str, choices: Sequence[str]) -> str:
    """Human turn of A-OKVQA: the question and four lettered options, each line ending in ``\\n``.

    Raises:
        ValueError: not exactly four choices.
    """
    if len(choices) != len(MC_LETTERS):
        raise ValueError(f"A-OKVQA needs {len(MC_LETTERS)} choices, got {len(choices)}")
    options = "".join(f"{letter}. {choice}\n" for letter, choice in zip(MC_LETTERS, choices))
    return f"{IMAGE_TOKEN}\nChoose the correct option for the following question: {question}\n{options}"


def mc_answer(index: int) -> str:
    """Answer of A-OKVQA for the 0-based correct choice: ``"The correct option is B."``."""
    return f"The correct option is {MC_LETTERS[index]}."


@functools.lru_cache(maxsize=None)
def shikra_templates(kind: str) -> tuple[str, ...]:
    """Shikra's prompt templates, shipped as package data.

    Args:
        kind: ``"REC"`` (54 templates, placeholder ``<expr>``) or ``"REG"``
            (125 templates, placeholder ``<objs>``); also ``"VQA"``, ``"VQA_BCoT"``,
            ``"image_cap"``, ``"flickr30k"``.

    Returns:
        The templates in file order; each holds ``<image>`` where Shikra puts it.

    Raises:
        ValueError: unknown kind.
    """
    path = resources.files("dataoptim.data").joinpath("templates", f"{kind}.json")
    if not path.is_file():
        raise ValueError(f"no Shikra template set named {kind!r}")
    return tuple(json.loads(path.read_text(encoding="utf-8")))
