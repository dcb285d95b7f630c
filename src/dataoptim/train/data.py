"""The training data: a selection read lazily into Arrow, checked, tokenized, batched.

A selection (LLaVA JSON list, JSON Lines, or an Arrow dataset folder saved by
``datasets``) is streamed record by record (``ijson``; never one ``json.load``
per worker, DESIGN §11), validated (DESIGN §2) and written once to an Arrow
cache with ``datasets``. Tokens and label masks are computed once by
``Dataset.map`` into the same cache; every data-loader worker then reads rows
from the memory-mapped Arrow files and decodes only its own images.

Before training, :func:`prepare_dataset` counts what LLaVA would hide: records
longer than ``model_max_length`` and records whose template tokenizes
unexpectedly (LLaVA masks both silently), plus missing image files. It writes
a report and, unless asked to skip them, stops with an error naming the first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataoptim.errors import DataOptimError, InputError, MissingFileError, ModelInputError
from dataoptim.records import validate_record

#: Problems listed by name in the report (first few of each kind).
REPORT_EXAMPLES = 20


def _records(path: str, kind: str):
    from dataoptim.io import iter_json_array, iter_jsonl

    seen: dict[str, int] = {}
    # iter_json_array: a file whose top level is not a list is an error, not zero records
    items = (obj for _, obj in iter_jsonl(path)) if kind == "jsonl" else iter_json_array(path, what="selection JSON")
    for index, record in enumerate(items):
        validate_record(record, file=path, index=index, require_image=False)
        rid = record["id"]
        if rid in seen:
            from dataoptim.errors import RecordError

            raise RecordError(f"duplicate id, first used by record {seen[rid]}", file=path, record=index, id=rid, field="id")
        seen[rid] = index
        yield {
            "index": index,
            "id": rid,
            "image": record.get("image"),
            "conversations": [{"from": t["from"], "value": t["value"]} for t in record["conversations"]],
        }


def _features():
    import datasets

    string = datasets.Value("string")
    return datasets.Features(
        {
            "index": datasets.Value("int64"),
            "id": string,
            "image": string,
            "conversations": datasets.List({"from": string, "value": string}),
        }
    )


def load_selection(data: Any, *, cache_dir: str | os.PathLike | None = None):
    """Read a selection into an Arrow-backed ``datasets.Dataset`` without holding the file in memory.

    Args:
        data: path to a LLaVA JSON list (``.json``), a JSON Lines file (``.jsonl``),
            a folder saved with ``Dataset.save_to_disk`` (e.g. a pool selection), or a
            ``datasets.Dataset`` with ``id``, ``image``, ``conversations`` columns.
        cache_dir: where ``datasets`` keeps the Arrow files (default: its own cache).
            The conversion runs once per file version (path, size, mtime).

    Returns:
        ``datasets.Dataset`` with columns ``index`` (position in the input, for messages),
        ``id``, ``image`` (relative path or None) and ``conversations``; memory-mapped.

    Raises:
        MissingFileError: ``data`` does not exist.
        InputError, RecordError: malformed file or a record that breaks DESIGN §2 (first one, located).
    """
    import datasets

    if isinstance(data, datasets.Dataset):
        ds = data
        missing = {"id", "conversations"} - set(ds.column_names)
        if missing:
            raise InputError(f"the dataset lacks the columns {sorted(missing)}")
        if "image" not in ds.column_names:
            ds = ds.add_column("image", [None] * len(ds))
        if "index" not in ds.column_names:
            ds = ds.add_column("index", list(range(len(ds))))
        return ds.select_columns(["index", "id", "image", "conversations"])
    path = Path(data)
    if path.is_dir():
        try:
            ds = datasets.load_from_disk(str(path))
        except FileNotFoundError as exc:
            raise InputError(f"not a saved datasets folder: {exc}", file=path) from None
        if isinstance(ds, datasets.DatasetDict):
            raise InputError("holds several splits; pass the folder of one split", file=path)
        return load_selection(ds)
    if not path.is_file():
        raise MissingFileError("selection file not found", file=path)
    kind = "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "json"
    stat = path.stat()
    # the file version goes into the generator's arguments, so the Arrow cache is reused only for the same file
    kwargs = {"path": str(path.resolve()), "kind": kind, "version": f"{stat.st_size}-{stat.st_mtime_ns}"}

    def generate(path: str, kind: str, version: str):
        yield from _records(path, kind)

    # datasets cannot build a dataset of no rows (it raises a bare ValueError): read the first record first
    if next(iter(_records(str(path), kind)), None) is None:
        raise InputError("the selection holds no records", file=path)
    try:
        ds = datasets.Dataset.from_generator(
            generate, gen_kwargs=kwargs, features=_features(), cache_dir=None if cache_dir is None else str(cache_dir)
        )
    except Exception as exc:  # datasets wraps errors raised in the generator
        cause = exc
        while cause is not None and not isinstance(cause, DataOptimError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise
    if len(ds) == 0:
        raise InputError("the selection holds no records", file=path)
    return ds


def encode_dataset(ds, tokenizer, *, image_seq_length: int, model_max_length: int, image_position: str = "front", num_proc: int | None = None):
    """Add ``input_ids``, ``labels``, ``length``, ``problem`` and ``detail`` columns (cached by ``datasets``).

    Args:
        ds: from :func:`load_selection`.
        tokenizer: fast tokenizer knowing ``<image>`` (see :mod:`dataoptim.train.format`).
        image_seq_length: vision tokens per image.
        model_max_length: longest sequence, after image expansion.
        image_position: ``front`` (LLaVA) or ``inline``.
        num_proc: worker processes for the tokenization (None: one).

    Returns:
        The dataset with the new columns; ``problem`` is None, ``"too_long"`` or ``"mismatch"``.
    """
    from dataoptim.train.format import encode_conversations

    def encode(batch):
        encoded = encode_conversations(
            batch["conversations"], tokenizer, image_seq_length=image_seq_length, model_max_length=model_max_length,
            has_image=[img is not None for img in batch["image"]], image_position=image_position,
        )
        return {
            "input_ids": [e.input_ids for e in encoded],
            "labels": [e.labels for e in encoded],
            "length": [len(e.input_ids) for e in encoded],
            "n_answer_tokens": [e.n_answer_tokens for e in encoded],
            "problem": [e.problem for e in encoded],
            "detail": [e.detail for e in encoded],
        }

    return ds.map(encode, batched=True, batch_size=256, num_proc=num_proc, desc="tokenizing")


@dataclass
class DataReport:
    """What the pre-flight check found.

    Attributes:
        file: the selection file (or None for an in-memory dataset).
        records: records read.
        usable: records that will be trained on.
        too_long, mismatch: counts of records whose sequence exceeds ``model_max_length``
            / whose template tokenizes unexpectedly.
        missing_images: count of records whose image file is absent.
        bad_images: records dropped because their image cannot be decoded (``skip_bad_images``).
        skipped: whether the problem records were dropped (else training stopped).
        examples: up to :data:`REPORT_EXAMPLES` of each kind, ``{"index", "id", "detail"}``.
        tokens: total tokens of usable records (after image expansion); answer_tokens: those with labels.
    """

    file: str | None
    records: int
    usable: int
    too_long: int = 0
    mismatch: int = 0
    missing_images: int = 0
    bad_images: int = 0
    skipped: bool = False
    tokens: int = 0
    answer_tokens: int = 0
    max_length: int = 0
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every attribute."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line: ``records N, usable K, too long a, template mismatch b, missing images c[, bad images d]``."""
        return (
            f"records {self.records}, usable {self.usable}, too long {self.too_long}, "
            f"template mismatch {self.mismatch}, missing images {self.missing_images}"
            + (f", bad images {self.bad_images} (dropped)" if self.bad_images else "")
        )


def check_images(ds, image_folder: str | os.PathLike, *, open_images: bool = False, file: str | None = None, num_threads: int = 16,
                 allow_symlinks_out: bool = False, progress: bool = False) -> list[dict[str, Any]]:
    """Find records whose image is refused by the image-path rule, missing, or (with ``open_images``) cannot be decoded.

    Args:
        ds: dataset with ``index``, ``id``, ``image`` columns.
        image_folder: folder the ``image`` paths are relative to.
        open_images: also decode every image (slow on large selections; otherwise a corrupt
            file is caught when the data loader reaches it, with the same error).
        file: the selection file, for messages.
        num_threads: threads checking files (I/O bound).
        allow_symlinks_out: follow links out of ``image_folder`` instead of refusing them
            (:mod:`dataoptim.imagepath`).
        progress: with ``open_images``, a ``tqdm`` progress bar of the images decoded.

    Returns:
        ``[{"index", "id", "image", "kind", "detail", "error"}]`` for each bad record, in input order:
        ``kind`` is ``unsafe`` (``error`` holds the :class:`~dataoptim.errors.DataOptimError` to raise),
        ``missing`` or ``corrupt``.

    Raises:
        MissingFileError: the image folder itself does not exist.
    """
    from concurrent.futures import ThreadPoolExecutor

    from dataoptim.imagepath import ImageFolder
    from dataoptim.train.images import load_image

    folder = ImageFolder(image_folder, allow_symlinks_out=allow_symlinks_out)
    import pyarrow as pa
    import pyarrow.compute as pc

    column = ds.with_format("arrow")["image"]  # Arrow column, zero-copy from the memory map
    unique = [p for p in pc.unique(column).to_pylist() if p is not None]

    def status(rel: str) -> tuple[str, str, DataOptimError | None] | None:
        try:
            full = folder.resolve(rel)
        except DataOptimError as exc:
            return "unsafe", exc.message, exc
        if not full.is_file():
            return "missing", "missing", None
        if open_images:
            try:
                load_image(full)
            except (MissingFileError, ModelInputError) as exc:
                return "corrupt", exc.message, None
        return None

    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        results = tqdm(pool.map(status, unique), total=len(unique), desc="decoding images", unit=" img", leave=False,
                       disable=None if open_images and progress else True)  # None: only on a terminal
        bad = {rel: s for rel, s in zip(unique, results) if s is not None}
    if not bad:
        return []
    hit = pc.is_in(column, value_set=pa.array(sorted(bad), type=pa.string())).to_numpy(zero_copy_only=False)
    rows = ds.select_columns(["index", "id", "image"]).select([int(i) for i in hit.nonzero()[0]])
    return [
        {"index": r["index"], "id": r["id"], "image": r["image"], "kind": bad[r["image"]][0], "detail": bad[r["image"]][1], "error": bad[r["image"]][2]}
        for r in rows
    ]


def raise_for_images(bad: list[dict[str, Any]], image_folder: str | os.PathLike, file: str | None) -> None:
    """Raise for the bad images :func:`check_images` found: links out first, then missing files, then corrupt ones.

    Raises:
        UnsafeInputError: the first record whose image leads out of the folder (file, record, id, field ``image``).
        MissingFileError: how many records name missing image files, the first few.
        ModelInputError: the first record whose image cannot be decoded.
    """
    unsafe = [b for b in bad if b["kind"] == "unsafe"]
    if unsafe:
        b = unsafe[0]
        raise type(b["error"])(b["detail"], file=file, record=b["index"], id=b["id"], field="image")
    missing = [b for b in bad if b["kind"] == "missing"]
    if missing:
        first = ", ".join(f"{b['image']} (record {b['index']}, id {b['id']!r})" for b in missing[:5])
        raise MissingFileError(
            f"{len(missing)} record(s) name image files missing under {image_folder}: {first}"
            + (" ..." if len(missing) > 5 else ""),
            file=file,
        )
    if bad:
        b = bad[0]
        raise ModelInputError(
            f"{len(bad)} image(s) cannot be decoded; first {b['image']!r}: {b['detail']}",
            file=file, record=b["index"], id=b["id"], field="image",
        )


def prepare_dataset(
    data: Any,
    image_folder: str | os.PathLike,
    tokenizer,
    *,
    image_seq_length: int,
    model_max_length: int,
    image_position: str = "front",
    skip_bad_records: bool = False,
    open_images: bool = False,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    allow_symlinks_out: bool = False,
    skip_bad_images: bool = False,
    progress: bool = False,
):
    """Load, check and tokenize a selection; the one entry the trainer uses.

    ``allow_symlinks_out``: follow links out of ``image_folder`` instead of refusing them
    (:mod:`dataoptim.imagepath`). ``skip_bad_images``: decode every image first (as
    ``open_images``) and drop the records whose image cannot be decoded, counted in the
    report's ``bad_images`` and listed in its ``examples["bad_image"]``, instead of stopping.
    ``progress``: progress bar while images are decoded.

    Returns:
        ``(dataset, report)``: the encoded ``datasets.Dataset`` of usable records and a
        :class:`DataReport`.

    Raises:
        MissingFileError: the selection or image folder is absent, or images are missing
            (lists how many and the first few; never skipped: LLaVA would crash on them).
        UnsafeInputError: an image leads out of the image folder through a link (unless allowed).
        ModelInputError: with ``open_images``, a corrupt image; unless ``skip_bad_records``,
            the first record that is too long or mismatches the template, with the counts.
        InputError, RecordError: malformed selection.
    """
    file = None if not isinstance(data, (str, os.PathLike)) else str(data)
    ds = load_selection(data, cache_dir=cache_dir)
    bad = check_images(ds, image_folder, open_images=open_images or skip_bad_images, file=file, allow_symlinks_out=allow_symlinks_out,
                       progress=progress)
    undecodable = [b for b in bad if b["kind"] == "corrupt"] if skip_bad_images else []
    raise_for_images([b for b in bad if b not in undecodable], image_folder, file)
    read = len(ds)
    if undecodable:
        dropped = {b["index"] for b in undecodable}
        ds = ds.filter(lambda i: i not in dropped, input_columns="index", desc="dropping records with bad images")
        if len(ds) == 0:
            raise InputError(f"no usable records left to train on: every image failed to decode (first {undecodable[0]['image']!r}: "
                             f"{undecodable[0]['detail']})", file=file)
    encoded = encode_dataset(
        ds, tokenizer, image_seq_length=image_seq_length, model_max_length=model_max_length,
        image_position=image_position, num_proc=num_proc,
    )
    problems = encoded.select_columns(["index", "id", "problem", "detail"]).filter(
        lambda p: p is not None, input_columns="problem", desc="checking"
    )
    kinds = problems["problem"]
    report = DataReport(
        file=file, records=read, usable=len(encoded) - len(problems),
        too_long=kinds.count("too_long"), mismatch=kinds.count("mismatch"), skipped=bool(len(problems)) and skip_bad_records,
        bad_images=len(undecodable),
    )
    if undecodable:
        report.examples["bad_image"] = [{k: b[k] for k in ("index", "id", "image", "detail")} for b in undecodable[:REPORT_EXAMPLES]]
    for kind in ("too_long", "mismatch"):
        rows = [r for r in problems.select(range(min(len(problems), 10 * REPORT_EXAMPLES))) if r["problem"] == kind]
        report.examples[kind] = [{"index": r["index"], "id": r["id"], "detail": r["detail"]} for r in rows[:REPORT_EXAMPLES]]
    if len(problems) and not skip_bad_records:
        first = problems[0]
        raise ModelInputError(
            f"{first['detail']} ({report.too_long} record(s) too long, {report.mismatch} with a template mismatch; "
            "LLaVA would silently train on nothing for them: fix or drop them, or pass --skip-bad-records)",
            file=file, record=first["index"], id=first["id"], field="conversations",
        )
    totals = None
    if len(problems):
        totals = _token_totals(encoded, usable_only=True)
        encoded = encoded.filter(lambda p: p is None, input_columns="problem", desc="dropping bad records")
    report.tokens, report.answer_tokens, report.max_length = totals or _token_totals(encoded)
    if report.usable == 0:
        raise InputError("no usable records left to train on", file=file)
    return encoded.select_columns(["index", "id", "image", "input_ids", "labels", "length"]), report


def _token_totals(encoded, usable_only: bool = False) -> tuple[int, int, int]:
    """(tokens, answer tokens, longest) over the rows, with Arrow compute (no Python lists)."""
    import pyarrow.compute as pc

    table = encoded.select_columns(["length", "n_answer_tokens", "problem"]).with_format("arrow")[:]
    length, answers = table.column("length"), table.column("n_answer_tokens")
    if usable_only:
        keep = pc.is_null(table.column("problem"))
        length, answers = pc.filter(length, keep), pc.filter(answers, keep)
    total = pc.sum(length).as_py() or 0
    longest = pc.max(length).as_py() or 0
    return int(total), int(pc.sum(answers).as_py() or 0), int(longest)


class SupervisedDataset:
    """A ``torch`` map-style dataset over encoded Arrow rows; images decoded on access.

    Item ``i`` is ``{"input_ids": LongTensor (n,), "labels": LongTensor (n,),
    "pixel_values": FloatTensor (3, S, S)}`` (no ``pixel_values`` for a text-only
    record). Only the Arrow file handle crosses to data-loader workers.

    Raises (on access):
        MissingFileError, ModelInputError: the image is missing or corrupt, naming the
        selection file, record index, id and the image path.
    """

    def __init__(self, encoded, image_folder: str | os.PathLike, image_processor, *, pad: bool = True, file: str | None = None,
                 allow_symlinks_out: bool = False):
        from dataoptim.imagepath import ImageFolder

        self.data = encoded
        self.image_folder = ImageFolder(image_folder, allow_symlinks_out=allow_symlinks_out)
        self.image_processor = image_processor
        self.pad = pad
        self.file = file
        #: pad colour: the processor's mean as 8-bit RGB, as LLaVA computes it ((122, 116, 104) for CLIP)
        self.background = tuple(int(x * 255) for x in getattr(image_processor, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        from dataoptim.train.images import load_image, pad_to_square

        row = self.data[int(i)]
        item = {
            "input_ids": torch.tensor(row["input_ids"], dtype=torch.long),
            "labels": torch.tensor(row["labels"], dtype=torch.long),
        }
        if row["image"] is not None:
            where = {"file": self.file, "record": row["index"], "id": row["id"]}
            image = load_image(self.image_folder.resolve(row["image"], **where), **where)
            if self.pad:
                image = pad_to_square(image, self.background)
            item["pixel_values"] = self.image_processor(images=[image], return_tensors="pt")["pixel_values"][0]
        return item


@dataclass
class Collator:
    """Pad a list of :class:`SupervisedDataset` items into a batch (right padding, as LLaVA).

    Returns ``{"input_ids", "labels", "attention_mask"}`` as ``LongTensor (B, L)`` with
    ``L`` the longest item, padded with ``pad_token_id`` / -100 / 0, and ``pixel_values``
    ``(I, 3, S, S)`` for the ``I`` items that have an image, in batch order.
    """

    pad_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from dataoptim.train.format import IGNORE_INDEX

        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, it in enumerate(items):
            n = len(it["input_ids"])
            ids[row, :n] = it["input_ids"]
            labels[row, :n] = it["labels"]
            mask[row, :n] = 1
        batch = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        pixels = [it["pixel_values"] for it in items if "pixel_values" in it]
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)
        return batch
