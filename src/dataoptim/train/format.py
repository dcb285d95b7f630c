"""The ``llava_llama_2`` conversation format for prompts: layout, inference prompt and its tokens.

The challenge recipe trains with ``--version llava_llama_2`` (DESIGN §8), which
in LLaVA (haotian-liu/LLaVA at 744cb3e, ``llava/conversation.py``,
``conv_llava_llama_2`` with the ``LLAMA_2`` separator style) lays out a conversation as::

    [INST] <<SYS>>\\n{SYSTEM}\\n<</SYS>>\\n\\n{human 1} [/INST] {gpt 1} </s><s>[INST] {human 2} [/INST] {gpt 2} </s>

and the tokenizer puts ``<s>`` (BOS) in front. The first human turn holds
``<image>``: LLaVA moves it to the front (``<image>\\n`` + the rest), Shikra-style
templates keep it inline; both are supported (``image_position``).

Training data is encoded by :mod:`dataoptim.train.encoding` (LLaVA's ids and
labels, exactly); this module lays out text (:func:`render_conversation`) and
the inference prompt (:func:`inference_prompt`, :func:`encode_prompt`), with
``<image>`` as one token that :func:`encode_prompt` widens to
``image_seq_length`` copies (the positions the vision features fill in
``transformers``' ``LlavaForConditionalGeneration``). Imports no ``torch``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from dataoptim.errors import ConfigError
from dataoptim.records import IMAGE_TOKEN
from dataoptim.template import SYSTEM_PROMPT  # conv_llava_llama_2's system prompt

#: Name of the format, as LLaVA's ``--version`` flag spells it.
VERSION = "llava_llama_2"
BOS, EOS = "<s>", "</s>"
INST_OPEN, INST_CLOSE = "[INST]", "[/INST]"
#: Label value that the loss ignores (``torch.nn.CrossEntropyLoss`` default ``ignore_index``).
IGNORE_INDEX = -100
#: Where ``<image>`` goes in the first human turn: ``front`` (LLaVA) or ``inline`` (kept where the record has it).
IMAGE_POSITIONS = ("front", "inline")


def _wrap_system(system: str) -> str:
    return f"<<SYS>>\n{system}\n<</SYS>>\n\n"


def place_image_token(text: str, image_position: str = "front") -> str:
    """Return the first human turn with ``<image>`` placed as ``image_position`` asks.

    ``front``: every ``<image>`` is removed, the rest stripped, and ``"<image>\\n"``
    put in front (LLaVA's ``preprocess_multimodal``). ``inline``: unchanged.
    A text without ``<image>`` is returned unchanged in both modes.

    Raises:
        ConfigError: ``image_position`` is not one of :data:`IMAGE_POSITIONS`.
    """
    if image_position not in IMAGE_POSITIONS:
        raise ConfigError(f"image_position must be one of {IMAGE_POSITIONS}, found {image_position!r}")
    if image_position == "inline" or IMAGE_TOKEN not in text:
        return text
    return IMAGE_TOKEN + "\n" + text.replace(IMAGE_TOKEN, "").strip()


def render_conversation(
    conversations: Sequence[Mapping[str, str]],
    *,
    image_position: str = "front",
    system: str = SYSTEM_PROMPT,
) -> tuple[str, list[tuple[int, int]]]:
    """Lay out a record's turns in the ``llava_llama_2`` format.

    Args:
        conversations: ``[{"from": "human"|"gpt", "value": str}, ...]``, alternating,
            starting with ``human`` and ending with ``gpt`` (a validated record, DESIGN §2).
        image_position: see :func:`place_image_token`.
        system: system prompt (default LLaVA's :data:`SYSTEM_PROMPT`).

    Returns:
        ``(text, answer_spans)``: the prompt text without the leading BOS (the
        tokenizer adds it), and for each ``gpt`` turn the half-open character
        span ``[start, end)`` that carries the loss: from just after ``[/INST]``
        (the space before the answer) to the end of the closing ``</s>``.
    """
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    for i, turn in enumerate(conversations):
        value = turn["value"]
        if i % 2 == 0:
            if i == 0:
                value = _wrap_system(system) + place_image_token(value, image_position)
            piece = ("" if i == 0 else BOS) + f"{INST_OPEN} {value} {INST_CLOSE}"
            parts.append(piece)
            length += len(piece)
        else:
            piece = f" {value} {EOS}"
            parts.append(piece)
            spans.append((length, length + len(piece)))
            length += len(piece)
    return "".join(parts), spans


def inference_prompt(question: str, *, image: bool = True, image_position: str = "front", system: str = SYSTEM_PROMPT) -> str:
    """Format one question for generation in the ``llava_llama_2`` format.

    Gives ``"[INST] <<SYS>>\\n{system}\\n<</SYS>>\\n\\n<image>\\n{question} [/INST]"``,
    the prompt LLaVA builds for a user turn followed by an empty assistant turn
    (as in DataOptim's ``evaluation/run_llava_eval.py``). The model's answer
    follows; generation should stop at ``</s>``. The tokenizer adds the BOS.

    Args:
        question: the question text; an ``<image>`` already in it is moved to the
            front (``image_position="front"``) or kept in place (``"inline"``).
        image: add ``<image>`` if the question does not hold one (False: text-only prompt,
            and any ``<image>`` in ``question`` is an error).
        image_position: see :func:`place_image_token`.
        system: system prompt.

    Returns:
        The prompt string. Encode it with :func:`encode_prompt`.

    Raises:
        ConfigError: ``image=False`` but the question holds ``<image>``; more than one ``<image>``.
    """
    count = question.count(IMAGE_TOKEN)
    if count > 1:
        raise ConfigError(f"the question holds {count} {IMAGE_TOKEN} tokens; one image per prompt")
    if not image and count:
        raise ConfigError(f"image=False but the question holds {IMAGE_TOKEN}")
    if image and not count:
        question = IMAGE_TOKEN + "\n" + question
    body = _wrap_system(system) + place_image_token(question, image_position)
    return f"{INST_OPEN} {body} {INST_CLOSE}"


def image_token_id(tokenizer, image_token: str = IMAGE_TOKEN) -> int:
    """Return the id of ``<image>`` in ``tokenizer``.

    Raises:
        ConfigError: the tokenizer does not know ``<image>`` as a single added token.
    """
    ids = tokenizer.convert_tokens_to_ids([image_token])
    unk = tokenizer.unk_token_id
    if not ids or ids[0] is None or (unk is not None and ids[0] == unk):
        raise ConfigError(f"the tokenizer has no {image_token!r} token; add it as a special token first")
    return int(ids[0])


def _expand_image(ids: list[int], labels: list[int], image_id: int, n: int) -> tuple[list[int], list[int]]:
    at = ids.index(image_id)
    return ids[:at] + [image_id] * n + ids[at + 1 :], labels[:at] + [IGNORE_INDEX] * n + labels[at + 1 :]


def encode_prompt(prompt: str, tokenizer, *, image_seq_length: int, text=None) -> list[int]:
    """Token ids of an inference prompt (:func:`inference_prompt`), BOS first, ``<image>`` expanded.

    With ``text`` (LLaMA-2's SentencePiece model, :class:`dataoptim.train.encoding.LlamaText`)
    the ids are LLaVA's at evaluation (DataOptim ``evaluation/run_llava_eval.py``:
    ``tokenizer_image_token``, the text after ``<image>`` encoded on its own); otherwise the
    ``transformers`` tokenizer encodes the text on each side of ``<image>`` on its own the same
    way (with LLaMA-2's fast tokenizer: the same ids for a one-turn prompt).

    Args:
        prompt: text holding at most one ``<image>``.
        tokenizer: a ``transformers`` tokenizer that adds BOS and knows ``<image>`` as one added token.
        image_seq_length: vision tokens per image (``model.config.image_seq_length`` of a
            checkpoint from :func:`dataoptim.train.model.load_model`).
        text: the exact encoder, or None.

    Returns:
        ``list[int]``: the image as ``image_seq_length`` copies of the ``<image>`` id.

    Raises:
        ConfigError: the tokenizer lacks ``<image>``, or ``<image>`` did not become one token.
    """
    image_id = image_token_id(tokenizer)
    if text is not None:
        from dataoptim.train.encoding import IMAGE_TOKEN_INDEX, expand_images, tokenizer_image_token

        if prompt.count(IMAGE_TOKEN) > 1:
            raise ConfigError(f"the prompt holds {prompt.count(IMAGE_TOKEN)} {IMAGE_TOKEN} tokens; one image per prompt")
        ids = tokenizer_image_token(prompt, text)
        return expand_images(ids, [IGNORE_INDEX] * len(ids), image_seq_length, image_id)[0] if IMAGE_TOKEN_INDEX in ids else ids
    # as LLaVA's tokenizer_image_token (744cb3e llava/mm_utils.py): the text on each side of <image> is
    # tokenized on its own (with LLaMA the text after the image then starts with "▁"), BOS kept once
    pieces = [list(tokenizer(piece, add_special_tokens=True)["input_ids"]) for piece in prompt.split(IMAGE_TOKEN)]
    bos = tokenizer.bos_token_id
    skip = 1 if pieces[0] and bos is not None and pieces[0][0] == bos else 0
    ids = pieces[0][:]
    for piece in pieces[1:]:
        ids += [image_id] + piece[skip:]
    count = ids.count(image_id)
    if count != prompt.count(IMAGE_TOKEN) or count > 1:
        raise ConfigError(f"{IMAGE_TOKEN} became {count} tokens in the prompt; the tokenizer and template do not match")
    if count:
        ids, _ = _expand_image(ids, [IGNORE_INDEX] * len(ids), image_id, image_seq_length)
    return ids
