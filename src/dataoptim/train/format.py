"""The ``llava_llama_2`` conversation format: prompt text, tokens and the loss mask.

The challenge recipe trains with ``--version llava_llama_2`` (DESIGN §8), which
in LLaVA (haotian-liu/LLaVA at 744cb3e, ``llava/conversation.py``,
``conv_llava_llama_2`` with the ``LLAMA_2`` separator style, and
``llava/train/train.py``, ``preprocess_llama_2``) lays out a conversation as::

    [INST] <<SYS>>\\n{SYSTEM}\\n<</SYS>>\\n\\n{human 1} [/INST] {gpt 1} </s><s>[INST] {human 2} [/INST] {gpt 2} </s>

and the tokenizer puts ``<s>`` (BOS) in front. The loss covers only each
answer and the ``</s>`` that closes it; the system prompt, the ``[INST] …
[/INST]`` parts and every ``<s>`` carry the label ``-100``. The first human
turn holds ``<image>``: LLaVA moves it to the front (``<image>\\n`` + the rest),
Shikra-style templates keep it inline; both are supported (``image_position``).
``<image>`` becomes one token, then ``image_seq_length`` copies of it (the
positions the vision features fill in ``transformers``' ``LlavaForConditionalGeneration``).

This is a reimplementation from the layout above, not LLaVA's code. The mask is
computed from character offsets of a fast tokenizer, so it is exact for any
tokenizer, and a tokenizer that splits the template differently (a "template
mismatch", which LLaVA silently masks out with a warning) is detected and
reported instead. Imports no ``torch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from dataoptim.errors import ConfigError, ModelInputError
from dataoptim.records import IMAGE_TOKEN

#: System prompt of ``conv_llava_llama_2`` (LLaVA ``llava/conversation.py``).
SYSTEM_PROMPT = (
    "You are a helpful language and vision assistant. "
    "You are able to understand the visual content that the user provides, "
    "and assist the user with a variety of tasks using natural language."
)
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


@dataclass
class Encoded:
    """One record as model input.

    Attributes:
        input_ids: token ids, length ``n`` (BOS first; ``<image>`` expanded to
            ``image_seq_length`` copies of the image token id).
        labels: length ``n``; the token id where the loss applies (answer tokens and
            their ``</s>``), :data:`IGNORE_INDEX` elsewhere.
        problem: ``None`` if the record is usable; otherwise ``"too_long"`` or
            ``"mismatch"`` with :attr:`detail` saying why.
        detail: human-readable reason for ``problem``.
    """

    input_ids: list[int]
    labels: list[int]
    problem: str | None = None
    detail: str = ""
    n_answer_tokens: int = field(default=0)

    def raise_problem(self, **where: Any) -> None:
        """Raise :class:`~dataoptim.errors.ModelInputError` for :attr:`problem` (no-op if usable)."""
        if self.problem is not None:
            raise ModelInputError(self.detail, **where)


def _require_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(
            f"the tokenizer {type(tokenizer).__name__} is not a fast (Rust) tokenizer; "
            "the label mask needs character offsets (load it with use_fast=True)"
        )


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


def encode_conversations(
    batch: Iterable[Sequence[Mapping[str, str]]],
    tokenizer,
    *,
    image_seq_length: int,
    model_max_length: int,
    has_image: Iterable[bool] | None = None,
    image_position: str = "front",
    system: str = SYSTEM_PROMPT,
) -> list[Encoded]:
    """Tokenize conversations and build their label masks (one fast-tokenizer call for the batch).

    Args:
        batch: conversations (the ``conversations`` field of validated records).
        tokenizer: a fast ``transformers`` tokenizer that adds BOS, knows ``<s>``,
            ``</s>`` and ``<image>`` as special tokens.
        image_seq_length: number of vision tokens one image becomes (256 for CLIP ViT-L/14 at 224 px).
        model_max_length: longest usable sequence, counted after ``<image>`` expansion
            (the recipe's 2048).
        has_image: per conversation, whether the record has an image (default: all True).
        image_position: see :func:`place_image_token`.
        system: system prompt.

    Returns:
        One :class:`Encoded` per conversation. Never truncates: a record longer
        than ``model_max_length`` is returned whole with ``problem="too_long"``; one
        whose template does not tokenize as expected (answer span split across
        tokens, ``</s>`` not the EOS id, ``<image>`` not exactly one token) with
        ``problem="mismatch"``.

    Raises:
        ConfigError: the tokenizer is not fast or lacks ``<image>``.
    """
    _require_fast(tokenizer)
    convs = list(batch)
    flags = [True] * len(convs) if has_image is None else list(has_image)
    image_id = image_token_id(tokenizer)
    eos_id = tokenizer.eos_token_id
    rendered = [render_conversation(c, image_position=image_position, system=system) for c in convs]
    # verbose=False: no "sequence length is longer than the specified maximum" warning; a record too long is reported below
    enc = tokenizer([text for text, _ in rendered], add_special_tokens=True, return_offsets_mapping=True, verbose=False)
    out: list[Encoded] = []
    for (text, spans), ids, offsets, with_image in zip(rendered, enc["input_ids"], enc["offset_mapping"], flags):
        ids = list(ids)
        labels = [IGNORE_INDEX] * len(ids)
        problem = detail = None
        n_answer = 0
        inside: list[list[int]] = [[] for _ in spans]
        k = 0  # spans and tokens are both in text order: one pass
        for t, (s, e) in enumerate(offsets):
            if e <= s:
                continue  # added BOS: no characters
            while k < len(spans) and s >= spans[k][1]:
                k += 1
            if k == len(spans):
                break
            start, end = spans[k]
            if e <= start:
                continue
            if s < start or e > end:
                problem, detail = "mismatch", (
                    f"answer {k + 1}: token {t} spans characters {s}-{e} across the answer boundary "
                    f"{start}-{end}; the tokenizer does not split the {VERSION} template as expected"
                )
                break
            inside[k].append(t)
        if problem is None:
            for k, tokens in enumerate(inside):
                if not tokens or ids[tokens[-1]] != eos_id:
                    problem, detail = "mismatch", (
                        f"answer {k + 1}: the closing {EOS} is not tokenized as the EOS token (id {eos_id}); "
                        "tokenizer and template do not match"
                    )
                    break
                for t in tokens:
                    labels[t] = ids[t]
                n_answer += len(tokens)
        count = ids.count(image_id)
        if problem is None and count != (1 if with_image else 0):
            problem, detail = "mismatch", (
                f"{IMAGE_TOKEN} became {count} image tokens, expected {1 if with_image else 0}"
            )
        if problem is None and with_image:
            ids, labels = _expand_image(ids, labels, image_id, image_seq_length)
        if problem is None and len(ids) > model_max_length:
            problem, detail = "too_long", (
                f"needs {len(ids)} tokens ({image_seq_length if with_image else 0} of them image tokens), "
                f"more than model_max_length {model_max_length}"
            )
        out.append(Encoded(ids, labels, problem, detail or "", n_answer))
    return out


def encode_conversation(conversations: Sequence[Mapping[str, str]], tokenizer, **kwargs: Any) -> Encoded:
    """Encode one conversation; see :func:`encode_conversations` (same keyword arguments, ``has_image`` a bool)."""
    has_image = kwargs.pop("has_image", True)
    return encode_conversations([conversations], tokenizer, has_image=[has_image], **kwargs)[0]


def encode_prompt(prompt: str, tokenizer, *, image_seq_length: int) -> list[int]:
    """Token ids of an inference prompt (:func:`inference_prompt`), BOS first, ``<image>`` expanded.

    Args:
        prompt: text holding at most one ``<image>``.
        tokenizer: as for :func:`encode_conversations`.
        image_seq_length: vision tokens per image (``model.config.image_seq_length`` of a
            checkpoint from :func:`dataoptim.train.model.load_model`).

    Returns:
        ``list[int]`` of length ``n_text + image_seq_length - 1`` when the prompt has an image.

    Raises:
        ConfigError: the tokenizer lacks ``<image>``, or ``<image>`` did not become one token.
    """
    image_id = image_token_id(tokenizer)
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
