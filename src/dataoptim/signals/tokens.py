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
  with :class:`~dataoptim.train.encoding.LlamaText` — the counts are those of ``dataoptim tokens``;
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


def _fingerprint(folder: str) -> str:
    digest = hashlib.sha1()
    for name in sorted(os.listdir(folder)):
        if name.startswith("tokenizer") or name.endswith(".model") or name == "special_tokens_map.json":
            with open(os.path.join(folder, name), "rb") as handle:
                digest.update(name.encode() + handle.read())
    return digest.hexdigest()[:16]


def prepare(params):
    from dataoptim.errors import ConfigError
    from dataoptim.signals.base import existing_folder, positive_int

    folder = params.get("tokenizer")
    if not folder:
        raise ConfigError("the tokens signal needs the recipe's tokenizer (--tokenizer DIR, a folder with tokenizer files)", field="tokenizer")
    path = existing_folder(folder, "tokenizer folder")
    positive_int(params, "model_max_length")
    engine = "llava744" if os.path.isfile(os.path.join(path, "tokenizer.model")) and _has_sentencepiece() else "lengths"
    if engine == "lengths":
        import warnings

        why = "sentencepiece is not installed" if os.path.isfile(os.path.join(path, "tokenizer.model")) else f"{folder} has no tokenizer.model"
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
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load a tokenizer from {path}: {' '.join(str(exc).split())[:300]}", field="tokenizer") from None
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
    from dataoptim.records import IMAGE_TOKEN
    from dataoptim.template import llava_prompt, split_rounds
    from dataoptim.train.encoding import LlamaText

    key = ("sentencepiece", path)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = LlamaText.from_dir(path)
    text = _TOKENIZERS[key]
    if not text.add_bos:
        return count_exact(records, path, model_max_length=model_max_length, image_position=image_position)
    if num_threads is None:
        num_threads = _cpus()
    seg = _Segments(text, num_threads)
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
    limit = model_max_length
    for record, texts in zip(records, plans):
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
        if unk:  # <unk> is the pad id: LLaVA's length check skips it; leave such records to the exact encoder
            out.extend(count_exact([record], path, model_max_length=model_max_length, image_position=image_position))
            continue
        before = sizes[0]
        total = before if record.get("image") is not None else min(before, limit)
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
        out.append((before - answer, answer, before, before > limit, answer == 0))
    return out


#: Batches from this many records up are counted in worker processes (one per CPU); smaller ones in-process.
PARALLEL_FROM = 8192
_EXECUTOR: dict = {}


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _count_part(batch: pa.RecordBatch, path: str, model_max_length: int, image_position: str) -> list:
    return count_batched(batch.to_pylist(), path, model_max_length=model_max_length, image_position=image_position, num_threads=1)


def count_records(batch: pa.RecordBatch, path: str, *, model_max_length: int = 2048, image_position: str = "front",
                  workers: int | None = None) -> list[tuple[int, int, int, bool, bool]]:
    """:func:`count_batched` over an Arrow batch (``image``, ``conversations``), split over ``workers`` processes.

    Args:
        workers: processes (default: one per CPU this process may use, for batches of at least
            :data:`PARALLEL_FROM` records; 1 = in this process). The counts do not depend on it.
    """
    batch = batch.select(["image", "conversations"])
    if workers is None:
        workers = _cpus() if batch.num_rows >= PARALLEL_FROM else 1
    if workers <= 1 or batch.num_rows < 2:
        return count_batched(batch.to_pylist(), path, model_max_length=model_max_length, image_position=image_position)
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
        out = []
        for future in futures:
            out.extend(future.result())
        return out
    except BrokenProcessPool:
        # workers could not start (e.g. a __main__ read from stdin, which spawn cannot import): count here
        _EXECUTOR.pop(workers, None)
        return count_batched(batch.to_pylist(), path, model_max_length=model_max_length, image_position=image_position)


def compute(batch: pa.RecordBatch, params) -> dict:
    if params.get("engine") == "llava744":
        rows = count_records(batch, params["tokenizer"], model_max_length=int(params["model_max_length"]),
                             image_position=params["image_position"])
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
