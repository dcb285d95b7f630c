"""What LLaVA 744cb3e feeds LLaMA-2 for a record: token ids, labels, the cut at ``model_max_length``.

The recipe's encoding, token for token and label for label (DESIGN §8; LLaVA at
744cb3e, ``llava/train/train.py`` ``preprocess_multimodal``, ``preprocess_llama_2``
and ``DataCollatorForSupervisedDataset``, ``llava/mm_utils.py``
``tokenizer_image_token``), written from that code's behaviour:

1. the prompt text (:func:`dataoptim.template.llava_prompt`);
2. its ids: the text before and after ``<image>`` encoded separately, each with
   its own ``<s>`` of which only the first is kept, ``<image>`` becoming one
   position ``-200`` (``IMAGE_TOKEN_INDEX``); a text-only record is encoded
   whole and cut at ``model_max_length`` there;
3. the labels: each ``</s>``-separated round is encoded on its own; the first
   ``len(instruction) - 2`` positions of each round are masked (``-100``), the
   rest (the answer and its ``</s>``) keep their ids. If the rounds do not add up
   to the record's length (``tokenization mismatch``) and the count is below
   ``model_max_length``, every label is masked;
4. the collator cuts ids and labels at ``model_max_length`` positions, the image
   counting as one (the model then widens it to 256 features).

The tokenizer is LLaVA's: the slow, SentencePiece ``LlamaTokenizer`` of
transformers 4.31 (``use_fast=False``), whose ``legacy`` setting changes the
ids after ``<s>``. :class:`LlamaText` reproduces its ids from the checkpoint's
``tokenizer.model`` with the ``sentencepiece`` library, whatever transformers
version is installed. Any other tokenizer (e.g. the tiny test model's) is used
through :class:`TokenizerText` with the same algorithm, which is then exact only
as far as that tokenizer behaves like LLaMA-2's.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.records import IMAGE_TOKEN
from dataoptim.template import BOS, EOS, UNK, llava_prompt, masked_reason, split_rounds

#: LLaVA's ``IMAGE_TOKEN_INDEX``: one image position in the ids (before the model widens it).
IMAGE_TOKEN_INDEX = -200
#: Label the loss ignores (``torch.nn.CrossEntropyLoss``'s ``ignore_index``; LLaVA's ``IGNORE_INDEX``).
IGNORE_INDEX = -100
#: Image features per image in the recipe: CLIP ViT-L/14 at 224 px, 16 x 16 patches.
RECIPE_IMAGE_FEATURES = 256
#: ``model_max_length`` of the recipe.
RECIPE_MAX_LENGTH = 2048
#: Changes whenever the encoding's output can change (part of the ``datasets`` cache key).
ENCODING_VERSION = "llava744-1"
_SPIECE = "\u2581"


class LlamaText:
    """LLaVA's tokenizer: transformers 4.31's slow ``LlamaTokenizer`` called as ``tokenizer(text).input_ids``.

    ``<s>``, ``</s>`` and ``<unk>`` in the text are read as those tokens (nothing
    around them is stripped), every other stretch is encoded by the SentencePiece
    model; with ``legacy=False`` the text starts with ``▁`` and a stretch after a
    special token loses the ``▁`` SentencePiece puts in front (so ``<s>[INST]``
    gives ``1, 29961`` where ``legacy=True`` gives ``1, 518``). ``<s>`` is added in
    front. Picklable (for ``datasets`` worker processes).

    Args:
        model_file: the SentencePiece ``tokenizer.model``.
        legacy: the tokenizer's ``legacy`` setting (``tokenizer_config.json``; LLaMA-2-chat: False).
        add_bos: add ``<s>`` in front (``add_bos_token``, True for LLaMA-2).

    Raises:
        MissingFileError: ``model_file`` does not exist. InputError: it is not a SentencePiece model.
    """

    kind = "sentencepiece"

    def __init__(self, model_file: str | os.PathLike, *, legacy: bool, add_bos: bool = True):
        path = Path(model_file)
        if not path.is_file():
            raise MissingFileError("SentencePiece tokenizer.model not found", file=path)
        self.model_file = str(path)
        self.legacy = bool(legacy)
        self.add_bos = bool(add_bos)
        self._proto = path.read_bytes()
        self._sp = None
        self._cache: dict[str, tuple[int, ...]] = {}
        sp = self.sp
        self.bos_id, self.eos_id, self.unk_id = (sp.piece_to_id(t) for t in (BOS, EOS, UNK))
        #: LLaVA pads with ``<unk>`` (``tokenizer.pad_token = tokenizer.unk_token``)
        self.pad_id = self.unk_id
        self._special = {BOS: self.bos_id, EOS: self.eos_id, UNK: self.unk_id}
        self._split = re.compile("(" + "|".join(re.escape(t) for t in (EOS, BOS, UNK)) + ")")

    @classmethod
    def from_dir(cls, path: str | os.PathLike, *, legacy: bool | None = None) -> "LlamaText":
        """Read ``tokenizer.model`` and ``legacy`` / ``add_bos_token`` from ``tokenizer_config.json`` in ``path``.

        ``legacy`` missing from the config means True (transformers 4.31's default).

        Raises:
            MissingFileError: ``path`` is not a folder (a file, or nothing), or holds no ``tokenizer.model``.
            InputError: unreadable config.
        """
        folder = Path(path)
        if folder.exists() and not folder.is_dir():
            raise MissingFileError("is a file, not a tokenizer folder (give the folder holding tokenizer.model)", file=folder)
        if not folder.exists():
            raise MissingFileError("tokenizer folder not found", file=folder)
        config: dict[str, Any] = {}
        cfg = folder / "tokenizer_config.json"
        if cfg.is_file():
            try:
                config = json.loads(cfg.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise InputError(f"cannot read the tokenizer config: {exc}", file=cfg) from None
        if legacy is None:
            legacy = bool(config.get("legacy", True))
        return cls(folder / "tokenizer.model", legacy=legacy, add_bos=bool(config.get("add_bos_token", True)))

    @property
    def sp(self):
        if self._sp is None:
            try:
                import sentencepiece
            except ImportError:
                raise ConfigError("the exact LLaMA-2 encoding needs sentencepiece: pip install 'dataoptim[train]'") from None
            sp = sentencepiece.SentencePieceProcessor()
            try:
                sp.LoadFromSerializedProto(self._proto)
            except Exception as exc:  # sentencepiece raises RuntimeError/OSError with C++ text
                raise InputError(f"not a SentencePiece model: {exc}", file=self.model_file) from None
            self._sp = sp
        return self._sp

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_sp"] = None
        state["_cache"] = {}
        return state

    def describe(self) -> str:
        """``"sentencepiece tokenizer.model, legacy false"``: for reports."""
        return f"{self.kind} {Path(self.model_file).name}, legacy {str(self.legacy).lower()}"

    def _segment(self, text: str) -> tuple[int, ...]:
        """Ids of one stretch between special tokens (transformers 4.31 ``LlamaTokenizer._tokenize``), cached."""
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        sp = self.sp
        if self.legacy:
            ids = sp.encode(text)
        else:
            first = text.startswith(_SPIECE)
            body = text[1:] if first else text
            ids = sp.encode(body)
            if not first and not body.startswith(" ") and ids:
                head = sp.id_to_piece(ids[0])
                if head.startswith(_SPIECE):
                    # the piece without its ▁; a piece the vocabulary lacks is <unk>, as piece_to_id gives it there
                    ids = ([sp.piece_to_id(head[1:])] if len(head) > 1 else []) + list(ids[1:])
        out = tuple(ids)
        if len(self._cache) < 10_000:
            self._cache[text] = out
        return out

    def __call__(self, text: str) -> list[int]:
        """Token ids of ``text``, ``<s>`` first (``tokenizer(text).input_ids``)."""
        if not self.legacy:
            text = _SPIECE + text.replace(_SPIECE, " ")
        ids = [self.bos_id] if self.add_bos else []
        for part in self._split.split(text):
            if not part:
                continue
            special = self._special.get(part)
            if special is not None:
                ids.append(special)
            else:
                ids.extend(self._segment(part))
        return ids

    def piece(self, token_id: int) -> str:
        """The vocabulary piece of one id (``▁the``, ``<0x0A>``, ``</s>``)."""
        return self.sp.id_to_piece(int(token_id))

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids piece by piece: ``▁`` is a space (a leading one too), byte pieces are decoded, ``<s>`` written out."""
        out: list[str] = []
        pending = bytearray()
        for t in ids:
            piece = self.piece(t)
            if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
                pending.append(int(piece[3:5], 16))
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            out.append(piece.replace(_SPIECE, " "))
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)


class TokenizerText:
    """Any ``transformers`` tokenizer called as LLaVA calls its own: ``tokenizer(text).input_ids``.

    For tokenizers without a SentencePiece model (the tiny test tokenizer). The
    pad id is the tokenizer's (``<unk>`` as LLaVA sets it, if it has none).
    """

    kind = "tokenizer"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.bos_id = tokenizer.bos_token_id
        self.eos_id = tokenizer.eos_token_id
        self.unk_id = tokenizer.unk_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.unk_token_id
        self.legacy = getattr(tokenizer, "legacy", None)

    def describe(self) -> str:
        return f"{self.kind} {type(self.tokenizer).__name__} (not LLaMA-2's SentencePiece model: exact only as far as it splits like it)"

    def __call__(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])

    def piece(self, token_id: int) -> str:
        return self.tokenizer.convert_ids_to_tokens(int(token_id))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([int(t) for t in ids], skip_special_tokens=False)


def text_encoder(tokenizer=None, *, path: str | os.PathLike | None = None, legacy: bool | None = None):
    """The encoder LLaVA's tokenizer corresponds to.

    Args:
        tokenizer: a loaded ``transformers`` tokenizer (used when no SentencePiece model is found).
        path: a tokenizer or model folder; its ``tokenizer.model`` makes the encoding exact
            (:class:`LlamaText`). Default: the folder the tokenizer was loaded from, if any.
        legacy: override the config's ``legacy``.

    Returns:
        :class:`LlamaText` or :class:`TokenizerText`.

    Raises:
        ConfigError: neither a SentencePiece model nor a tokenizer is given.
    """
    folders = [Path(p) for p in (path, getattr(tokenizer, "name_or_path", None)) if p]
    for folder in folders:
        if (folder / "tokenizer.model").is_file():
            return LlamaText.from_dir(folder, legacy=legacy)
    vocab = getattr(tokenizer, "vocab_file", None)
    if vocab and str(vocab).endswith(".model") and Path(vocab).is_file():
        return LlamaText(vocab, legacy=bool(getattr(tokenizer, "legacy", True) if legacy is None else legacy))
    if tokenizer is None:
        where = f" in {path}" if path else ""
        raise ConfigError(f"no SentencePiece tokenizer.model{where} and no tokenizer given")
    if "llama" in type(tokenizer).__name__.lower():
        import logging

        # transformers 5's LlamaTokenizer differs from LLaVA's slow one around spaces and special tokens
        # (19 of 25 test cases equal, where the SentencePiece path gives 25 of 25)
        logging.getLogger("dataoptim.train").warning(
            "no tokenizer.model beside the LLaMA tokenizer %s: encoding with it, which can differ from LLaVA's ids; "
            "pass the folder holding LLaMA-2's tokenizer.model for the exact encoding", getattr(tokenizer, "name_or_path", "")
        )
    return TokenizerText(tokenizer)


def sentencepiece_for(tokenizer) -> "LlamaText | None":
    """:class:`LlamaText` from the ``tokenizer.model`` in the folder ``tokenizer`` was loaded from, or None if there is none."""
    folder = getattr(tokenizer, "name_or_path", None)
    if folder and (Path(folder) / "tokenizer.model").is_file():
        return LlamaText.from_dir(folder)
    return None


def tokenizer_image_token(text: str, encode) -> list[int]:
    """Ids of a text holding ``<image>``: each stretch encoded on its own, ``<image>`` = one ``-200``.

    The ``<s>`` each stretch gets is kept for the first only (LLaVA ``mm_utils.tokenizer_image_token``).
    """
    chunks = [encode(chunk) for chunk in text.split(IMAGE_TOKEN)]
    bos = getattr(encode, "bos_id", None)
    offset = 1 if chunks and chunks[0] and chunks[0][0] == bos else 0
    ids = chunks[0][:offset]
    for k, chunk in enumerate(chunks):
        if k:
            ids.append(IMAGE_TOKEN_INDEX)
        ids.extend(chunk[offset:])
    return ids


@dataclass
class RecordTokens:
    """One record as LLaVA trains it.

    Attributes:
        input_ids: ids after the cut, ``-200`` once per image (length ``positions``).
        labels: same length; the id where the loss applies, ``-100`` elsewhere.
        positions_before: length before the cut (the image counted once).
        truncated: whether the cut removed positions (``positions_before > model_max_length``).
        masked: None, or why every label is masked (LLaVA's ``tokenization mismatch``).
    """

    input_ids: list[int]
    labels: list[int]
    positions_before: int
    truncated: bool
    masked: str | None = None

    @property
    def positions(self) -> int:
        """Length after the cut, the image counted once."""
        return len(self.input_ids)

    @property
    def answer_tokens(self) -> int:
        """Labels the loss uses."""
        return sum(1 for x in self.labels if x != IGNORE_INDEX)

    def expanded(self, image_features: int = RECIPE_IMAGE_FEATURES, image_id: int = IMAGE_TOKEN_INDEX) -> tuple[list[int], list[int]]:
        """Ids and labels with each image position widened to ``image_features`` copies of ``image_id`` (label -100)."""
        return expand_images(self.input_ids, self.labels, image_features, image_id)


def expand_images(ids: Sequence[int], labels: Sequence[int], image_features: int, image_id: int = IMAGE_TOKEN_INDEX) -> tuple[list[int], list[int]]:
    """Replace each ``-200`` by ``image_features`` copies of ``image_id``; their labels ``-100``."""
    if IMAGE_TOKEN_INDEX not in ids:
        return list(ids), list(labels)
    out_ids: list[int] = []
    out_labels: list[int] = []
    for t, lab in zip(ids, labels):
        if t == IMAGE_TOKEN_INDEX:
            out_ids.extend([image_id] * image_features)
            out_labels.extend([IGNORE_INDEX] * image_features)
        else:
            out_ids.append(t)
            out_labels.append(lab)
    return out_ids, out_labels


def encode_record(
    conversations: Sequence[Mapping[str, str]],
    encode,
    *,
    has_image: bool = True,
    model_max_length: int = RECIPE_MAX_LENGTH,
    image_position: str = "front",
) -> RecordTokens:
    """Encode one record exactly as LLaVA 744cb3e does (module docstring, steps 1-4).

    Args:
        conversations: the record's turns (valid under DESIGN §2).
        encode: :class:`LlamaText` (exact for LLaMA-2) or :class:`TokenizerText`.
        has_image: whether the record has an image.
        model_max_length: the cut, in positions with the image counted once (the recipe's 2048).
        image_position: ``front`` (LLaVA) or ``inline``.

    Returns:
        :class:`RecordTokens`.
    """
    prompt = llava_prompt(conversations, has_image=has_image, image_position=image_position)

    def ids_of(text: str) -> list[int]:
        return tokenizer_image_token(text, encode) if has_image else encode(text)

    ids = ids_of(prompt)
    before = len(ids)
    if not has_image:
        ids = ids[:model_max_length]  # the tokenizer's truncation (max_length=model_max_length)
    labels = list(ids)
    total = sum(1 for t in ids if t != encode.pad_id)
    cur = 1
    labels[0] = IGNORE_INDEX
    rounds, _ = split_rounds(prompt)
    for instruction, answer in rounds:
        round_len = len(ids_of(instruction + answer))
        masked_len = len(ids_of(instruction)) - 2
        for k in range(cur, min(cur + masked_len, len(labels))):
            labels[k] = IGNORE_INDEX
        cur += round_len
    for k in range(cur, len(labels)):
        labels[k] = IGNORE_INDEX
    masked = None
    if cur < model_max_length and cur != total:
        labels = [IGNORE_INDEX] * len(labels)
        cause = masked_reason(conversations, has_image=has_image, image_position=image_position)
        masked = f"{cause or 'tokenization mismatch'} (rounds count {cur} positions, the record has {total})"
    ids, labels = ids[:model_max_length], labels[:model_max_length]  # the collator's cut
    return RecordTokens(ids, labels, before, before > model_max_length, masked)
