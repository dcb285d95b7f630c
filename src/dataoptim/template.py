"""The recipe's ``llava_llama_2`` prompt as text, and the records LLaVA trains nothing on.

The challenge trains with LLaVA at commit 744cb3e and ``--version llava_llama_2``
(DESIGN §8). For a record with an image LLaVA first moves ``<image>`` to the
front of the turn that holds it (``llava/train/train.py``, ``preprocess_multimodal``),
then lays the turns out (``llava/conversation.py``, ``conv_llava_llama_2``,
separator style ``LLAMA_2``)::

    [INST] <<SYS>>\\n{SYSTEM}\\n<</SYS>>\\n\\n<image>\\n{human 1} [/INST] {gpt 1} </s><s>[INST] {human 2} [/INST] {gpt 2} </s>

To build the label mask it cuts that text at every ``</s>`` into rounds and each
round at ``"[/INST] "`` (``preprocess_llama_2``). A record whose own text holds
those separators (``</s>`` anywhere, ``"[/INST] "`` in a question or an answer,
a question or answer ending in ``[/INST]``), or ``<unk>`` (which the tokenizer
reads as the pad token, so one position goes uncounted), makes the round count
disagree with the token count: LLaVA prints ``WARNING: tokenization mismatch``
and masks every label of the record, which then costs a place in the budget and
trains nothing.

This module needs no tokenizer, so selection and validation can count those
records; :mod:`dataoptim.train.encoding` builds the exact token ids. Written from
LLaVA's source at 744cb3e; checked against that code's own output in the tests.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from dataoptim.records import IMAGE_TOKEN

#: System prompt of ``conv_llava_llama_2`` (LLaVA ``llava/conversation.py``).
SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
)
#: The template's separators (``conv_llava_llama_2``: ``sep``, ``sep2``) and the unknown token.
BOS, EOS, UNK = "<s>", "</s>", "<unk>"
#: Where ``preprocess_llama_2`` cuts a round into instruction and answer.
ROUND_SEP = "[/INST] "
#: Where ``<image>`` goes: ``front`` (LLaVA) or ``inline`` (left where the record has it; not the recipe).
IMAGE_POSITIONS = ("front", "inline")
#: Why a whole record trains nothing (the ``reason`` prefix of :func:`masked_reason`).
MASK_REASON = "tokenization mismatch"


def wrap_system(system: str = SYSTEM_PROMPT) -> str:
    """``"<<SYS>>\\n{system}\\n<</SYS>>\\n\\n"``, the system block of the first turn."""
    return f"<<SYS>>\n{system}\n<</SYS>>\n\n"


def move_image_to_front(value: str) -> str:
    """One turn as ``preprocess_multimodal`` leaves it: ``"<image>\\n"`` + the rest, stripped.

    Every ``<image>`` is removed, the rest stripped of surrounding white space and
    ``"<image>\\n"`` put in front (then the whole stripped again). A turn without
    ``<image>`` is returned unchanged.
    """
    if IMAGE_TOKEN not in value:
        return value
    return (IMAGE_TOKEN + "\n" + value.replace(IMAGE_TOKEN, "").strip()).strip()


def llava_prompt(
    conversations: Sequence[Mapping[str, str]],
    *,
    has_image: bool = True,
    image_position: str = "front",
    system: str = SYSTEM_PROMPT,
) -> str:
    """The text LLaVA 744cb3e tokenizes for one record (``preprocess_multimodal`` + ``get_prompt``).

    Args:
        conversations: ``[{"from": "human"|"gpt", "value": str}, ...]`` alternating, human first
            (a record valid under DESIGN §2; values non-empty).
        has_image: whether the record has an ``image`` (LLaVA moves ``<image>`` only then).
        image_position: ``front`` (LLaVA) or ``inline`` (``<image>`` left in place).
        system: system prompt.

    Returns:
        ``"[INST] <<SYS>>…<</SYS>>\\n\\n{human 1} [/INST] {gpt 1} </s><s>[INST] … </s>"``, no leading
        ``<s>`` (the tokenizer adds it).

    Raises:
        ValueError: ``image_position`` is not one of :data:`IMAGE_POSITIONS`.
    """
    if image_position not in IMAGE_POSITIONS:
        raise ValueError(f"image_position must be one of {IMAGE_POSITIONS}, found {image_position!r}")
    parts: list[str] = []
    for i, turn in enumerate(conversations):
        value = turn["value"]
        if has_image and image_position == "front":
            value = move_image_to_front(value)
        if not value:
            continue  # LLaVA adds nothing for an empty message
        if i % 2 == 0:
            if i == 0:
                value = wrap_system(system) + value
            parts.append(f"{BOS}[INST] {value} [/INST]")
        else:
            parts.append(f" {value} {EOS}")
    text = "".join(parts)
    # LLaVA strips the characters of "<s>" from the left (str.lstrip); the text starts with "[INST]" after the first "<s>"
    return text[len(BOS):] if text.startswith(BOS) else text


def split_rounds(prompt: str) -> tuple[list[tuple[str, str]], bool]:
    """Cut a prompt into rounds the way ``preprocess_llama_2`` does.

    Returns:
        ``(rounds, complete)``: each round as ``(instruction + "[/INST] ", rest)`` in order, and
        whether every ``</s>``-separated piece was a well-formed round (False: LLaVA stops at the
        first piece that does not hold exactly one ``"[/INST] "``; what follows stays unmatched).
    """
    rounds: list[tuple[str, str]] = []
    for piece in prompt.split(EOS):
        if piece == "":
            return rounds, True  # the text after the last </s> (or an empty piece) ends the loop
        halves = piece.split(ROUND_SEP)
        if len(halves) != 2:
            return rounds, False
        rounds.append((halves[0] + ROUND_SEP, halves[1]))
    return rounds, True


def _culprit(conversations: Sequence[Mapping[str, str]]) -> str:
    for i, turn in enumerate(conversations):
        value, who = turn["value"], f"turn {i + 1} ({turn['from']})"
        if EOS in value:
            return f"{who} holds {EOS!r}, the template's end of turn"
        if UNK in value:
            return f"{who} holds {UNK!r}, which the tokenizer reads as the pad token"
        if ROUND_SEP in value or ROUND_SEP.rstrip() in value:
            return f"{who} holds {ROUND_SEP.rstrip()!r}, the template's end of question"
    return "the text holds the template's separators"


def masked_reason(
    conversations: Sequence[Mapping[str, Any]],
    *,
    has_image: bool = True,
    image_position: str = "front",
) -> str | None:
    """Why LLaVA 744cb3e would mask every label of this record, or None if it trains it.

    Tokenizer-free: a record is masked when its prompt (:func:`llava_prompt`) does not cut
    into well-formed rounds (:func:`split_rounds`: ``</s>`` or ``"[/INST] "`` in the text) or
    holds ``<unk>``. Exact for LLaMA-2's tokenizer except for records whose earlier rounds
    already fill ``model_max_length`` (LLaVA skips the check then; the trainer's encoding,
    :mod:`dataoptim.train.encoding`, counts them exactly).

    Returns:
        ``"tokenization mismatch: turn 2 (gpt) holds '</s>', …"`` or None.
    """
    prompt = llava_prompt(conversations, has_image=has_image, image_position=image_position)
    _, complete = split_rounds(prompt)
    if complete and UNK not in prompt:
        return None
    return f"{MASK_REASON}: {_culprit(conversations)}; LLaVA masks the whole record"
