"""Signal ``tokens``: prompt, answer and total tokens under the recipe's tokenizer, and truncation / masking.

Needs: ``image``, ``conversations``; parameter ``tokenizer`` (a tokenizer folder, e.g. LLaMA-2's,
as the recipe's ``--model_name_or_path`` holds it) and ``model_max_length`` (the recipe's 2048).
Writes:

* ``total_tokens``: positions of the record's ``input_ids`` as LLaVA 744cb3e builds them for
  ``--version llava_llama_2``, the image counted as **one** position (LLaVA's ``-200``; the model
  widens it to 256 features later): the conversation laid out as
  :func:`dataoptim.train.format.render_conversation` does, split at ``<image>``, each piece
  tokenized with its BOS, the pieces after the first without it (LLaVA's
  ``tokenizer_image_token``);
* ``answer_tokens``: positions whose label the loss uses (LLaVA's ``preprocess_llama_2``: per round,
  the round's length less its instruction's length + 2), inside the first ``model_max_length``
  positions (what trains), 0 for a masked record; ``prompt_tokens`` = ``total_tokens - answer_tokens``
  (the positions that carry no loss);
* ``truncated``: ``total_tokens > model_max_length`` (the collator cuts ``input_ids`` there);
* ``masked``: the record trains nothing: no kept label inside the first ``model_max_length``
  positions, or LLaVA's length check fails (``cur_len != total_len`` below the limit: it then
  masks the whole record, a "tokenization mismatch").

Engines (recorded in the parameters, so a change makes the stored signal stale):

* ``llava744`` when the folder holds LLaMA-2's SentencePiece ``tokenizer.model`` (the recipe's base
  model folders do): the trainer's exact encoder, :func:`dataoptim.train.encoding.encode_record`
  with :class:`~dataoptim.train.encoding.LlamaText` — the counts are those of ``dataoptim tokens``
  (computed by :func:`count_rows`: most records with array kernels, :class:`_Linear`, the others by
  :func:`count_batched`; both equal :func:`count_exact` record for record);
* ``lengths`` otherwise (a folder with only a fast ``tokenizer.json``): this module's own arithmetic
  on the fast tokenizer's lengths, written to the same LLaVA rules (:func:`count`; identical pieces
  tokenized once per batch). On DataOptim's 17 example records and 5,000 generated ones it gives
  the ``llava744`` counts exactly; other tokenizers are exact only as far as they split like LLaMA-2's.

Paper: token budgets as in the data-selection literature that fixes a token rather than a
record budget (e.g. DataComp-LM, Li et al. 2024); LLaVA (Liu et al. 2023) training format.
"""

from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pyarrow as pa

NAME = "tokens"
VERSION = "2"
NEEDS = ("image", "conversations")
WRITES = {
    "prompt_tokens": pa.int64(),
    "answer_tokens": pa.int64(),
    "total_tokens": pa.int64(),
    "truncated": pa.bool_(),
    "masked": pa.bool_(),
}
PARAMS = {"tokenizer": None, "model_max_length": 2048, "use_fast": True, "image_position": "front"}
PAPER = "LLaVA (Liu et al. 2023) llava_llama_2 preprocessing at 744cb3e; token budgets (DataComp-LM, Li et al. 2024)"

SEP = "[/INST] "
SEP2 = "</s>"
_TOKENIZERS: dict = {}
_WARNED: set = set()


def _fingerprint(folder: str) -> str:
    digest = hashlib.sha1()
    for name in sorted(os.listdir(folder)):
        if name.startswith("tokenizer") or name.endswith(".model") or name == "special_tokens_map.json":
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(name.encode() + handle.read())
    return digest.hexdigest()[:16]


def prepare(params):
    from dataoptim.errors import ConfigError, MissingFileError
    from dataoptim.signals.base import existing_folder, positive_int

    folder = params.get("tokenizer")
    if not folder:
        raise ConfigError("the tokens signal needs the recipe's tokenizer (--tokenizer DIR, a folder with tokenizer files)", field="tokenizer")
    path = existing_folder(folder, "tokenizer folder")
    positive_int(params, "model_max_length")
    has_model = os.path.isfile(os.path.join(path, "tokenizer.model"))
    if not has_model and not os.path.isfile(os.path.join(path, "tokenizer.json")):
        raise MissingFileError("tokenizer folder holds no tokenizer: tokenizer.model (LLaMA-2's SentencePiece model, the exact counts) "
                               "and tokenizer.json are both missing", file=folder, field="tokenizer")
    engine = "llava744" if has_model and _has_sentencepiece() else "lengths"
    # loaded now (then cached), so a folder that cannot be read is said before anything is counted or written
    if engine == "llava744":
        _llama_text(path)
    else:
        load_tokenizer(path, bool(params.get("use_fast", True)))
        if (path, "lengths") not in _WARNED:  # once per folder and process
            import warnings

            _WARNED.add((path, "lengths"))
            why = "sentencepiece is not installed" if has_model else f"{folder} has no tokenizer.model"
            warnings.warn(f"tokens signal: {why}, so counts come from the tokenizer's own encoding and may differ from "
                          "LLaVA 744cb3e's (the exact path needs LLaMA-2's SentencePiece tokenizer.model)", UserWarning, stacklevel=2)
    return {**params, "tokenizer": path, "fingerprint": _fingerprint(path), "engine": engine}


def _has_sentencepiece() -> bool:
    import importlib.util

    return importlib.util.find_spec("sentencepiece") is not None


def load_tokenizer(path: str, use_fast: bool = True):
    """The tokenizer at ``path`` (cached per process).

    Raises:
        ConfigError: transformers is missing, or the folder holds no tokenizer it can load.
    """
    from dataoptim.errors import ConfigError

    key = (path, bool(use_fast))
    if key not in _TOKENIZERS:
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise ConfigError("the tokens signal needs transformers: pip install 'dataoptim[train]'") from None
        try:
            _TOKENIZERS[key] = AutoTokenizer.from_pretrained(path, use_fast=use_fast)
        except Exception as exc:  # noqa: BLE001 -- a damaged tokenizer.json raises KeyError or the tokenizers library's bare Exception
            what = f"{type(exc).__name__}: " if not isinstance(exc, (OSError, ValueError)) else ""
            raise ConfigError(f"cannot load a tokenizer from {path} (is its tokenizer.json or tokenizer_config.json damaged?): "
                              f"{what}{' '.join(str(exc).split())[:300]}", field="tokenizer") from None
    return _TOKENIZERS[key]


class _Lengths:
    """Lengths of ``tokenizer_image_token(text)`` for many texts, from one batched tokenizer call."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.texts: list[str] = []
        self.chunks: list[list[int]] = []

    def add(self, text: str) -> int:
        self.texts.append(text)
        return len(self.texts) - 1

    def run(self) -> list[int]:
        pieces, owner = [], []
        for k, text in enumerate(self.texts):
            for piece in text.split("<image>"):
                pieces.append(piece)
                owner.append(k)
        # identical pieces are tokenized once: every text whose image is in front starts with the same
        # "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n" piece, and short prompts repeat across records
        distinct = list(dict.fromkeys(pieces))
        known = dict(zip(distinct, self._lengths(distinct)))
        lengths = [known[p] for p in pieces]
        bos = self._adds_bos()
        out = [0] * len(self.texts)
        first = [True] * len(self.texts)
        for k, n in zip(owner, lengths):
            if first[k]:
                first[k] = False
                out[k] += n
            else:
                out[k] += 1 + (n - 1 if bos else n)  # the image position, then the piece without its BOS
        return out

    def _adds_bos(self) -> bool:
        """Whether the tokenizer puts BOS in front of a text (LLaVA's ``offset``)."""
        ids = self.tokenizer("a", add_special_tokens=True)["input_ids"]
        return bool(ids) and ids[0] == self.tokenizer.bos_token_id

    def _lengths(self, pieces: list[str]) -> list[int]:
        """Token count of each piece (special tokens added): the Rust backend's lengths for a fast tokenizer
        (no Python lists of ids are built), else the tokenizer's own call."""
        if not pieces:
            return []
        backend = getattr(self.tokenizer, "_tokenizer", None) if getattr(self.tokenizer, "is_fast", False) else None
        if backend is not None:
            return [len(e) for e in backend.encode_batch(pieces, add_special_tokens=True)]
        return [len(ids) for ids in self.tokenizer(pieces, add_special_tokens=True, verbose=False)["input_ids"]]


def count(conversations, tokenizer, *, model_max_length: int = 2048, image_position: str = "front") -> list[tuple[int, int, int, bool, bool]]:
    """``(prompt, answer, total, truncated, masked)`` per conversation (see the module's docstring).

    Args:
        conversations: lists of ``{"from", "value"}`` turns (validated records).
        tokenizer: a ``transformers`` tokenizer that adds BOS.
        model_max_length: the recipe's limit (2048).
        image_position: where ``<image>`` goes (:func:`dataoptim.train.format.place_image_token`).
    """
    from dataoptim.train.format import render_conversation

    lengths = _Lengths(tokenizer)
    plans = []
    for conv in conversations:
        text, _ = render_conversation(conv, image_position=image_position)
        whole = lengths.add(text)
        rounds = []
        for rou in text.split(SEP2):
            if rou == "":
                break
            parts = rou.split(SEP)
            if len(parts) != 2:
                break
            rounds.append((lengths.add(rou), lengths.add(parts[0] + SEP)))
        plans.append((whole, rounds))
    n = lengths.run()
    out = []
    for whole, rounds in plans:
        total = n[whole]
        cur = 1
        kept = 0
        for rou, instr in rounds:
            round_len, instruction_len = n[rou], n[instr] - 2
            lo, hi = cur + instruction_len, cur + round_len
            kept += max(0, min(hi, model_max_length) - min(lo, model_max_length))
            cur += round_len
        mismatch = cur < model_max_length and cur != total
        answer = 0 if mismatch else kept
        out.append((total - answer, answer, total, total > model_max_length, answer == 0))
    return out


def count_exact(records, path: str, *, model_max_length: int = 2048, image_position: str = "front") -> list[tuple[int, int, int, bool, bool]]:
    """``(prompt, answer, total, truncated, masked)`` per record from the trainer's exact encoder
    (:func:`dataoptim.train.encoding.encode_record` with the folder's SentencePiece model): the counts of ``dataoptim tokens``.

    Args:
        records: dicts with ``image`` and ``conversations``.
        path: a folder holding ``tokenizer.model``.
    """
    from dataoptim.train.encoding import LlamaText, encode_record

    key = ("sentencepiece", path)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = LlamaText.from_dir(path)
    text = _TOKENIZERS[key]
    out = []
    for record in records:
        tokens = encode_record(record["conversations"], text, has_image=record.get("image") is not None,
                               model_max_length=model_max_length, image_position=image_position)
        answer = tokens.answer_tokens  # after the cut; 0 when LLaVA masks the record
        out.append((tokens.positions_before - answer, answer, tokens.positions_before, bool(tokens.truncated), answer == 0))
    return out


class _Segments:
    """Lengths and ``<unk>`` counts of :class:`~dataoptim.train.encoding.LlamaText` calls, many texts at once.

    ``LlamaText(text)`` is ``<s>`` followed by the ids of each stretch between special tokens
    (``LlamaText._segment``). The stretches of every text are collected first; each *distinct*
    stretch is then counted once (the fixed template pieces, and the stretches that the whole
    prompt and its rounds share, once): as the sum of its words' counts, each distinct word
    encoded once by a batched ``SentencePieceProcessor.encode(list, num_threads=...)`` call and
    cached across batches (:func:`_words_independent`), else stretch by stretch in one batched
    call. Only lengths and ``<unk>`` counts are kept. The ``legacy=False`` rule for a stretch after a
    special token (its first piece loses ``▁``) is applied as ``LlamaText._segment`` applies it.
    """

    def __init__(self, text, num_threads: int):
        self.text = text
        self.num_threads = num_threads
        self.index: dict[str, int] = {}
        self.pending: list[str] = []
        self.length: list[int] = []
        self.unk: list[int] = []
        self.special = {k: v for k, v in text._special.items()}
        # word caches, kept per model across batches (words repeat across a pool), emptied past WORDS_KEPT
        caches = _WORD_CACHES.setdefault(text.model_file + f"|{text.legacy}", ({}, {}, {}))
        if len(caches[0]) + len(caches[2]) > WORDS_KEPT:
            for cache in caches:
                cache.clear()
        self.words, self.word_unk, self.heads = caches
        self.prefix = "" if text.legacy else _SPIECE

    def parts(self, text: str) -> list[int]:
        """Keys of the stretches of ``LlamaText(text)`` (specials as negative keys: -1 a known token, -2 ``<unk>``)."""
        if self.prefix:
            text = self.prefix + text.replace(_SPIECE, " ")
        out = []
        for part in self.text._split.split(text):
            if not part:
                continue
            special = self.special.get(part)
            if special is not None:
                out.append(-2 if special == self.text.unk_id else -1)
                continue
            key = self.index.get(part)
            if key is None:
                key = self.index[part] = len(self.index)
                self.pending.append(part)
            out.append(key)
        return out

    def run(self) -> None:
        """Encode the stretches collected since the last call."""
        if not self.pending:
            return
        if _words_independent(self.text):
            self._run_words()
        else:
            self._run_whole()
        self.pending = []

    def _run_whole(self) -> None:
        """Each distinct stretch through one batched SentencePiece call."""
        sp, legacy, unk = self.text.sp, self.text.legacy, self.text.unk_id
        if legacy:
            bodies = self.pending
        else:
            bodies = [p[1:] if p.startswith(_SPIECE) else p for p in self.pending]
        encoded = sp.encode(bodies, num_threads=self.num_threads)
        for part, body, ids in zip(self.pending, bodies, encoded):
            n, u = len(ids), ids.count(unk)
            if not legacy and ids and not part.startswith(_SPIECE) and not body.startswith(" "):
                n, u = _strip_head(sp, ids, unk)
            self.length.append(n)
            self.unk.append(u)

    def _run_words(self) -> None:
        """Stretches as sums over their words (see :func:`_words_independent`), each distinct word encoded once."""
        sp, legacy, unk = self.text.sp, self.text.legacy, self.text.unk_id
        words_of = _WORD.findall
        lengths, unks, heads = self.words, self.word_unk, self.heads
        plans = []
        seen: set[str] = set()
        new_heads: set[str] = set()
        for part in self.pending:
            if legacy:
                body, head = part.replace(_SPIECE, " "), False
            else:
                first = part.startswith(_SPIECE)
                body = part[1:] if first else part
                head = not first and not body.startswith(" ")
            if not body:  # SentencePiece gives no piece for an empty text (no dummy prefix either)
                plans.append((None, ()))
                continue
            words = words_of(" " + body)  # the dummy prefix, then words: a run of spaces and what follows up to the next space
            first_word = None
            if head:
                first_word, words = words[0], words[1:]
                new_heads.add(first_word)
            seen.update(words)
            plans.append((first_word, words))
        for fresh, strip in ((seen.difference(lengths), False), (new_heads.difference(heads), True)):
            if not fresh:
                continue
            fresh = list(fresh)
            # a word " x" is SentencePiece's encoding of "x" (its dummy prefix gives the space); " " alone is "▁"
            encoded = sp.encode([w[1:] if w != " " else "" for w in fresh], num_threads=self.num_threads)
            for word, ids in zip(fresh, encoded):
                if word == " ":
                    ids = [sp.piece_to_id(_SPIECE)]
                if strip:
                    heads[word] = _strip_head(sp, ids, unk)
                else:
                    lengths[word] = len(ids)
                    if unk in ids:
                        unks[word] = ids.count(unk)
        get_length = lengths.__getitem__
        for first_word, words in plans:
            n, u = heads[first_word] if first_word is not None else (0, 0)
            n += sum(map(get_length, words))
            if unks:
                u += sum(unks.get(w, 0) for w in words)
            self.length.append(n)
            self.unk.append(u)

    def size(self, keys: list[int]) -> tuple[int, int]:
        """``(len(LlamaText(text)), its <unk> ids)`` from the keys of :meth:`parts`."""
        n, u = int(self.text.add_bos), 0
        length, unk = self.length, self.unk
        for k in keys:
            if k >= 0:
                n += length[k]
                u += unk[k]
            else:
                n += 1
                u += k == -2
        return n, u


_SPIECE = "\u2581"
_WORD = re.compile(" +[^ ]*")
#: Distinct words whose token counts are kept between batches (about 150 bytes each).
WORDS_KEPT = 1_000_000
_WORD_CACHES: dict = {}
_INDEPENDENT: dict = {}


def _strip_head(sp, ids, unk) -> tuple[int, int]:
    """``(length, <unk> ids)`` of ``ids`` after ``LlamaText._segment``'s legacy=False rule: the first piece loses its ``▁``."""
    n, u = len(ids), ids.count(unk)
    if not ids:
        return n, u
    head = sp.id_to_piece(ids[0])
    if head.startswith(_SPIECE):
        u -= ids[0] == unk
        if len(head) > 1:
            u += sp.piece_to_id(head[1:]) == unk
        else:
            n -= 1
    return n, u


def _words_independent(text) -> bool:
    """Whether a stretch's ids are the concatenation of its words' ids under this SentencePiece model.

    SentencePiece's BPE merges adjacent symbols into vocabulary pieces; when no piece holds a
    ``▁`` right after another character (LLaMA-2's 32,000 pieces hold none: ``▁`` only leads a
    piece), no merge crosses the start of a word (a run of ``▁`` and the characters up to the
    next ``▁``), so each word is encoded as if alone. Checked once per model; a BPE model
    without that property is encoded stretch by stretch.
    """
    key = text.model_file
    if key not in _INDEPENDENT:
        sp = text.sp
        # the normalizer must leave every character as it is but the space (▁): no NFKC, no collapsed spaces
        probe = "a\u00a0 b  c\u3000d \uff21\t\u2028x  "
        try:
            ok = sp.normalize(probe) == _SPIECE + probe.replace(" ", _SPIECE)
        except (AttributeError, RuntimeError):
            ok = False
        for i in range(sp.get_piece_size() if ok else 0):
            piece = sp.id_to_piece(i)
            if any(ch == _SPIECE and piece[k - 1] != _SPIECE for k, ch in enumerate(piece) if k):
                ok = False
                break
        _INDEPENDENT[key] = ok
    return _INDEPENDENT[key]


def count_batched(records, path: str, *, model_max_length: int = 2048, image_position: str = "front",
                  num_threads: int | None = None) -> list[tuple[int, int, int, bool, bool]]:
    """The counts of :func:`count_exact` (``dataoptim tokens``, the trainer's encoding), computed in one batch.

    The same LLaVA 744cb3e arithmetic as :func:`dataoptim.train.encoding.encode_record`
    (prompt, its rounds and their instructions encoded with ``tokenizer_image_token``; labels
    masked per round; the whole record masked on a length mismatch below the limit; the cut at
    ``model_max_length``), but on lengths only: every distinct stretch of text of the batch is
    counted once, from SentencePiece's batched encoder over distinct words (:class:`_Segments`),
    and no id or label list is built. A record whose prompt holds ``<unk>`` ids (the pad id, which LLaVA leaves out of its
    length check) goes through :func:`count_exact`. Equal to :func:`count_exact` record for record
    (tests/test_signals.py holds that on the examples and on generated records).

    Args:
        records: dicts with ``image`` and ``conversations`` (validated records).
        path: a folder holding LLaMA-2's ``tokenizer.model``.
        num_threads: SentencePiece threads (default: the CPUs this process may use).

    Returns:
        ``(prompt, answer, total, truncated, masked)`` per record.
    """
    text = _llama_text(path)
    if not text.add_bos:
        return count_exact(records, path, model_max_length=model_max_length, image_position=image_position)
    out = []
    for record, (sizes, unk) in zip(records, _batched_sizes(text, records, image_position, num_threads)):
        if unk:  # <unk> is the pad id: LLaVA's length check skips it; leave such records to the exact encoder
            out.extend(count_exact([record], path, model_max_length=model_max_length, image_position=image_position))
        else:
            out.append(_counts_from_sizes(sizes, record.get("image") is not None, model_max_length))
    return out


def _llama_text(path: str):
    from dataoptim.train.encoding import LlamaText

    key = ("sentencepiece", path)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = LlamaText.from_dir(path)
    return _TOKENIZERS[key]


def _batched_sizes(text, records, image_position: str, num_threads: int | None) -> list[tuple[list[int], int]]:
    """Per record ``(sizes, unk)``: ``sizes`` = the lengths of ``tokenizer_image_token`` of its prompt, then of
    each round's text and instruction in turn (what LLaVA's ``preprocess_llama_2`` measures); ``unk`` = the most
    ``<unk>`` ids in one of them."""
    from dataoptim.records import IMAGE_TOKEN
    from dataoptim.template import llava_prompt, split_rounds

    seg = _Segments(text, _cpus() if num_threads is None else num_threads)
    plans = []
    for record in records:
        has_image = record.get("image") is not None
        conv = record["conversations"]
        prompt = llava_prompt(conv, has_image=has_image, image_position=image_position)
        if has_image:
            texts = [[seg.parts(chunk) for chunk in prompt.split(IMAGE_TOKEN)]]
        else:
            texts = [[seg.parts(prompt)]]
        rounds, _ = split_rounds(prompt)
        for instruction, answer in rounds:
            for piece in (instruction + answer, instruction):
                texts.append([seg.parts(chunk) for chunk in piece.split(IMAGE_TOKEN)] if has_image else [seg.parts(piece)])
        plans.append(texts)
    seg.run()
    out = []
    for texts in plans:
        sizes = []
        unk = 0
        for chunks in texts:
            n, u = 0, 0
            for keys in chunks:  # tokenizer_image_token: a later chunk's <s> gives way to the image position
                cn, cu = seg.size(keys)
                n += cn
                u += cu
            sizes.append(n)
            unk = max(unk, u)
        out.append((sizes, unk))
    return out


def _counts_from_sizes(sizes: list[int], has_image: bool, limit: int) -> tuple[int, int, int, bool, bool]:
    """``(prompt, answer, total, truncated, masked)`` from :func:`_batched_sizes`'s ``sizes`` (LLaVA's label mask,
    its length check and the collator's cut at ``limit``)."""
    before = sizes[0]
    total = before if has_image else min(before, limit)
    length = min(before, limit)  # labels after the cut
    masked = [(0, 1)]
    cur = 1
    for r in range(1, len(sizes), 2):
        round_len, masked_len = sizes[r], sizes[r + 1] - 2
        if masked_len > 0:
            masked.append((cur, cur + masked_len))
        cur += round_len
    if cur < limit and cur != total:
        answer = 0
    else:
        masked.append((cur, max(cur, length)))
        covered, end = 0, 0
        for lo, hi in sorted(masked):
            lo, hi = max(lo, end), min(hi, length)
            if hi > lo:
                covered += hi - lo
            end = max(end, hi)
        answer = max(0, length - covered)
    return (before - answer, answer, before, before > limit, answer == 0)


class _Linear:
    """Token counts of whole Arrow batches with array kernels, for the records whose counts are a sum over their turns.

    Under a SentencePiece model whose pieces never cross the start of a word (:func:`_words_independent`,
    LLaMA-2's), the tokens of a stretch of text are the sum of its words' tokens (a word: a run of spaces and
    what follows up to the next space). In a record whose turns hold no template string (``<s>``, ``</s>``,
    ``<unk>``, ``[/INST]``), no ``▁``, no space in front or at the end, and
    ``<image>`` only in its first turn (or nowhere, for a text-only record), each turn's words stand apart from
    the template's: every length LLaVA measures (prompt, each round, each instruction) is then a constant of
    the template (by round, image or not) plus the sum of its turns' word tokens. The constants are measured
    once per model with :func:`_batched_sizes` on probe records and checked on more probes (a model where they
    do not hold leaves every record to :func:`count_batched`); a turn's words are split, made distinct and
    looked up with pyarrow kernels (one SentencePiece call for the words not seen before), the sums and
    LLaVA's mask arithmetic are numpy. Other records go through :func:`count_batched`.
    """

    def __init__(self, text, image_position: str):
        from dataoptim.template import wrap_system

        self.text = text
        self.image_position = image_position
        self.wrap = wrap_system()
        self.words = _WORD_CACHES.setdefault(text.model_file + f"|{text.legacy}|bare", ({},))[0]  # word without its leading space -> (tokens of " word", <unk> ids)
        self.constants = self._constants()

    # -- words -------------------------------------------------------------------------------------
    def word_sums(self, strings) -> tuple[np.ndarray, np.ndarray]:
        """Per string ``s`` of a pyarrow string array (not empty, no space at either end): the tokens of ``" " + s``
        as the sum over its words, and whether any word holds ``<unk>``. Strings with a run of spaces inside
        are split in Python, the others with array kernels."""
        import pyarrow as pa
        import pyarrow.compute as pc

        runs = pc.match_substring(strings, "  ").to_numpy(zero_copy_only=False)
        if runs.any():
            sums = np.zeros(len(strings), dtype=np.int64)
            unks = np.zeros(len(strings), dtype=bool)
            plain = np.flatnonzero(~runs)
            if len(plain):
                sums[plain], unks[plain] = self.word_sums(strings.take(pa.array(plain)))
            spaced = np.flatnonzero(runs)
            for k, s in zip(spaced, strings.take(pa.array(spaced)).to_pylist()):
                found = [w[1:] for w in _WORD.findall(" " + s)]  # "  x" is looked up as " x": SentencePiece's dummy prefix gives the first space
                self._learn(found)
                sums[k] = sum(self.words[w][0] for w in found)
                unks[k] = any(self.words[w][1] for w in found)
            return sums, unks
        pieces = pc.split_pattern(strings, " ")
        offsets = pieces.offsets.to_numpy()
        flat = pieces.flatten()
        encoded = pc.dictionary_encode(flat)
        distinct = encoded.dictionary.to_pylist()
        self._learn(distinct)
        words = self.words
        table = np.array([words[w] for w in distinct], dtype=np.int64).reshape(-1, 2)
        per_word = table[encoded.indices.to_numpy(zero_copy_only=False)]
        starts = offsets[:-1] - offsets[0]
        if len(per_word) == 0:
            return np.zeros(len(strings), dtype=np.int64), np.zeros(len(strings), dtype=bool)
        sums = np.add.reduceat(per_word, starts, axis=0)  # every string has at least one word (it is not empty)
        return sums[:, 0], sums[:, 1] > 0

    def _learn(self, distinct: list[str]) -> None:
        """Encode the words not seen before, in one SentencePiece call."""
        words = self.words
        if len(words) + len(distinct) > WORDS_KEPT:  # memory: about 150 bytes a word
            words.clear()
        fresh = [w for w in distinct if w not in words]
        if fresh:
            sp, unk = self.text.sp, self.text.unk_id
            for word, ids in zip(fresh, sp.encode(fresh, num_threads=1)):  # "w" with SentencePiece's dummy prefix = " w"
                words[word] = (len(ids), ids.count(unk))

    # -- constants -----------------------------------------------------------------------------------
    def _probe(self, turns: list[str], has_image: bool) -> dict:
        conv = [{"from": "human" if k % 2 == 0 else "gpt", "value": v} for k, v in enumerate(turns)]
        if has_image:
            conv[0]["value"] = "<image>\n" + conv[0]["value"]
        return {"image": "x.jpg" if has_image else None, "conversations": conv}

    def _first(self, value: str, has_image: bool) -> str:
        """The first turn as its words stand in the prompt: after the image's ``"\n"``, or after the system block."""
        return "\n" + value if has_image else self.wrap + value

    def _measured(self, turns: list[str], has_image: bool) -> tuple[list[int], list[int]] | None:
        import pyarrow as pa

        sizes, unk = _batched_sizes(self.text, [self._probe(turns, has_image)], self.image_position, 1)[0]
        strings = [self._first(turns[0], has_image)] + turns[1:]
        sums, unks = self.word_sums(pa.array(strings, pa.string()))
        if unk or unks.any():
            return None
        return sizes, sums.tolist()

    def _constants(self) -> dict | None:
        """``{has_image: (prompt, prompt per later round, first round, first instruction, later round, later instruction)}``:
        what each length adds to its turns' word tokens; None when the lengths are not such sums for this model."""
        if self.text.legacy or not self.text.add_bos or not _words_independent(self.text) or self.image_position != "front":
            return None
        out = {}
        for has_image in (False, True):
            one = self._measured(["a", "b"], has_image)
            two = self._measured(["a", "b", "c", "d"], has_image)
            if one is None or two is None:
                return None
            (s1, l1), (s2, l2) = one, two
            c = (s1[0] - sum(l1), (s2[0] - sum(l2)) - (s1[0] - sum(l1)), s1[1] - l1[0] - l1[1], s1[2] - l1[0],
                 s2[3] - l2[2] - l2[3], s2[4] - l2[2])
            out[has_image] = c
            # checked on other words and more rounds: the constants must predict every length
            for turns in (["What is in the image?", "A red bus.", "And\nthe sky?", "Blue, clear; 3 clouds.", "Why?", "Because."],
                          ["x", "\u00e9t\u00e9 \U0001F600", "q", "r", "s", "t", "u", "v"]):
                got = self._measured(turns, has_image)
                if got is None or got[0] != self._predict(c, got[1]):
                    return None
        return out

    @staticmethod
    def _predict(c, sums: list[int]) -> list[int]:
        rounds = len(sums) // 2
        out = [c[0] + c[1] * (rounds - 1) + sum(sums)]
        for r in range(rounds):
            h, g = sums[2 * r], sums[2 * r + 1]
            out += [c[2] + h + g, c[3] + h] if r == 0 else [c[4] + h + g, c[5] + h]
        return out

    # -- a batch --------------------------------------------------------------------------------------
    def count(self, batch: pa.RecordBatch, limit: int) -> tuple[np.ndarray, np.ndarray]:
        """``(counts, done)``: ``counts`` int64 ``(n, 5)`` (prompt, answer, total, truncated, masked) for the rows
        where ``done`` is True; the other rows are left to :func:`count_batched`."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = batch.num_rows
        counts = np.zeros((n, 5), dtype=np.int64)
        done = np.zeros(n, dtype=bool)
        if self.constants is None or n == 0:
            return counts, done
        conv = batch.column("conversations")
        image = batch.column("image")
        turns = pc.list_value_length(conv).to_numpy(zero_copy_only=False).astype(np.int64)
        has_image = image.is_valid().to_numpy(zero_copy_only=False)
        values = conv.flatten().field("value")
        owner = np.repeat(np.arange(n), turns)
        first_turn = np.zeros(len(values), dtype=bool)
        starts = np.cumsum(turns) - turns
        first_turn[starts[turns > 0]] = True
        holds_image = pc.match_substring(values, "<image>").to_numpy(zero_copy_only=False)
        bad = pc.match_substring_regex(values, "<s>|</s>|<unk>|\\[/INST\\]|\u2581|^ | $|^$").to_numpy(zero_copy_only=False)
        # <image>: only in the first turn of a record with an image; nowhere in a text-only record
        bad |= holds_image & ~(first_turn & has_image[owner])
        ok = (turns >= 2) & (turns % 2 == 0) & (np.bincount(owner[bad], minlength=n) == 0)
        ok &= ~has_image | np.bincount(owner[holds_image], minlength=n).astype(bool)  # an image record's <image> is in its first turn
        # the first turn as its words stand in the prompt (Python, one string per record)
        firsts = values.take(pa.array(starts[ok])).to_pylist()
        rows = np.flatnonzero(ok)
        wrap = self.wrap
        for k, (row, value) in enumerate(zip(rows, firsts)):
            if has_image[row]:
                rest = value.replace("<image>", "").strip()
                firsts[k] = ("\n" + rest) if rest else None
            else:
                firsts[k] = wrap + value
        usable = np.array([f is not None for f in firsts], dtype=bool)
        rows = rows[usable]
        ok[:] = False
        ok[rows] = True
        if not len(rows):
            return counts, done
        keep_turn = ok[owner] & ~first_turn
        sums = np.zeros(len(values), dtype=np.int64)
        unk = np.zeros(len(values), dtype=bool)
        other = np.flatnonzero(keep_turn)
        if len(other):
            sums[other], unk[other] = self.word_sums(values.take(pa.array(other)))
        head = starts[rows]
        sums[head], unk[head] = self.word_sums(pa.array([f for f in firsts if f is not None], pa.string()))
        turn_ok = ok[owner]
        ok &= np.bincount(owner[unk & turn_ok], minlength=n) == 0  # <unk> ids: left to count_batched (and count_exact)
        # lengths LLaVA measures, per record and per round
        owner_t = owner[turn_ok]
        sums_t = sums[turn_ok]
        img_t = has_image[owner_t]
        c = np.array([self.constants[False], self.constants[True]], dtype=np.int64)  # [image?, constant]
        rounds = turns // 2
        before = np.bincount(owner_t, weights=sums_t, minlength=n).astype(np.int64)  # float64 sums: exact below 2**53
        before += c[has_image.astype(np.int64), 0] + c[has_image.astype(np.int64), 1] * (rounds - 1)
        h, g = sums_t[0::2], sums_t[1::2]  # turns of the usable records, in order: human, gpt, human, gpt...
        round_owner = owner_t[0::2]
        later = ~first_turn[turn_ok][0::2]
        ci = img_t[0::2].astype(np.int64)
        round_len = np.where(later, c[ci, 4], c[ci, 2]) + h + g
        instruction = np.where(later, c[ci, 5], c[ci, 3]) + h
        masked_len = instruction - 2
        cur = 1 + np.bincount(round_owner, weights=round_len, minlength=n).astype(np.int64)
        covered = 1 + np.bincount(round_owner, weights=np.maximum(masked_len, 0), minlength=n).astype(np.int64)
        overlap = np.bincount(round_owner, weights=masked_len > round_len, minlength=n) > 0
        # the simple case: nothing cut, the rounds cover the prompt exactly, mask spans inside their rounds
        simple = ok & (before <= limit) & (cur == before) & ~overlap
        answer = np.maximum(before - covered, 0)
        counts[:, 0] = before - answer
        counts[:, 1] = answer
        counts[:, 2] = before
        counts[:, 4] = answer == 0
        done[simple] = True
        # the rest of the usable records (cut at the limit...): LLaVA's arithmetic on the same lengths
        for row in np.flatnonzero(ok & ~simple):
            lo, hi = np.searchsorted(round_owner, [row, row + 1])  # round_owner is sorted
            sizes = [int(before[row])]
            for rl, il in zip(round_len[lo:hi].tolist(), instruction[lo:hi].tolist()):
                sizes += [rl, il]
            counts[row] = _counts_from_sizes(sizes, bool(has_image[row]), limit)
            done[row] = True
        return counts, done


_LINEAR: dict = {}


def count_arrays(batch: pa.RecordBatch, path: str, *, model_max_length: int = 2048, image_position: str = "front",
                 num_threads: int | None = 1) -> np.ndarray:
    """:func:`count_batched`'s counts for an Arrow batch (``image``, ``conversations``), as an int64 array ``(n, 5)``:
    prompt, answer, total, truncated (0/1), masked (0/1) per row.

    Most records are counted with array kernels (:class:`_Linear`); the others (template strings in
    their text, odd spacing, ``<unk>``) with :func:`count_batched`. Equal to :func:`count_exact`
    record for record (tests/test_signals.py holds that).
    """
    text = _llama_text(path)
    key = (path, image_position)
    if key not in _LINEAR:
        _LINEAR[key] = _Linear(text, image_position)
    linear = _LINEAR[key]
    counts, done = linear.count(batch, model_max_length)
    rest = np.flatnonzero(~done)
    if len(rest):
        records = batch.take(pa.array(rest)).to_pylist()
        counts[rest] = np.array(count_batched(records, path, model_max_length=model_max_length, image_position=image_position,
                                              num_threads=num_threads), dtype=np.int64).reshape(-1, 5)
    return counts


#: Batches from this many records up are counted in worker processes (one per CPU); smaller ones in-process.
PARALLEL_FROM = 8192
_EXECUTOR: dict = {}


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _count_part(batch: pa.RecordBatch, path: str, model_max_length: int, image_position: str) -> np.ndarray:
    return count_arrays(batch, path, model_max_length=model_max_length, image_position=image_position, num_threads=1)


def count_records(batch: pa.RecordBatch, path: str, *, model_max_length: int = 2048, image_position: str = "front",
                  workers: int | None = None) -> list[tuple[int, int, int, bool, bool]]:
    """:func:`count_batched`'s ``(prompt, answer, total, truncated, masked)`` per row of an Arrow batch
    (``image``, ``conversations``), from :func:`count_rows`."""
    rows = count_rows(batch, path, model_max_length=model_max_length, image_position=image_position, workers=workers)
    return [(p, a, t, bool(tr), bool(m)) for p, a, t, tr, m in rows.tolist()]


def count_rows(batch: pa.RecordBatch, path: str, *, model_max_length: int = 2048, image_position: str = "front",
               workers: int | None = None) -> np.ndarray:
    """:func:`count_arrays` over an Arrow batch (``image``, ``conversations``), split over ``workers`` processes:
    int64 ``(n, 5)``, prompt, answer, total, truncated (0/1), masked (0/1) per row.

    Args:
        workers: processes (default: one per CPU this process may use, for batches of at least
            :data:`PARALLEL_FROM` records; 1 = in this process). The counts do not depend on it.
            Each worker gets its slice of the batch as Arrow data and sends back one array.
    """
    batch = batch.select(["image", "conversations"])
    if workers is None:
        workers = _cpus() if batch.num_rows >= PARALLEL_FROM else 1
    if workers <= 1 or batch.num_rows < 2:
        return count_arrays(batch, path, model_max_length=model_max_length, image_position=image_position, num_threads=None)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    executor = _EXECUTOR.get(workers)
    if executor is None:
        # spawn: the parent may hold polars / sentencepiece threads, which fork would copy mid-flight
        executor = _EXECUTOR[workers] = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        import atexit

        atexit.register(executor.shutdown)
    step = -(-batch.num_rows // workers)
    try:
        futures = [executor.submit(_count_part, batch.slice(start, step), path, model_max_length, image_position)
                   for start in range(0, batch.num_rows, step)]
        return np.concatenate([future.result() for future in futures]).reshape(-1, 5)
    except BrokenProcessPool:
        # workers could not start (e.g. a __main__ read from stdin, which spawn cannot import): count here
        _EXECUTOR.pop(workers, None)
        return count_arrays(batch, path, model_max_length=model_max_length, image_position=image_position, num_threads=None)


def compute(batch: pa.RecordBatch, params) -> dict:
    if params.get("engine") == "llava744":
        arr = count_rows(batch, params["tokenizer"], model_max_length=int(params["model_max_length"]),
                         image_position=params["image_position"])
        return {"prompt_tokens": arr[:, 0].copy(), "answer_tokens": arr[:, 1].copy(), "total_tokens": arr[:, 2].copy(),
                "truncated": arr[:, 3].astype(bool), "masked": arr[:, 4].astype(bool)}
    else:
        tokenizer = load_tokenizer(params["tokenizer"], params["use_fast"])
        convs = batch.column("conversations").to_pylist()
        rows = count(convs, tokenizer, model_max_length=int(params["model_max_length"]), image_position=params["image_position"])
    arr = np.array([r[:3] for r in rows], dtype=np.int64).reshape(-1, 3)
    return {
        "prompt_tokens": arr[:, 0],
        "answer_tokens": arr[:, 1],
        "total_tokens": arr[:, 2],
        "truncated": np.array([r[3] for r in rows], dtype=bool),
        "masked": np.array([r[4] for r in rows], dtype=bool),
    }
