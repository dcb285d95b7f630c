"""The training data: a selection read lazily into Arrow, checked, tokenized, batched.

A selection (LLaVA JSON list, JSON Lines, or an Arrow dataset folder saved by
``datasets``) is streamed record by record (``ijson``; never one ``json.load``
per worker, DESIGN §11), validated (DESIGN §2) and written once to an Arrow
cache with ``datasets``. Token ids and labels, as LLaVA 744cb3e builds them
(:mod:`dataoptim.train.encoding`), are computed once by ``Dataset.map`` into the
same cache; every data-loader worker then reads rows from the memory-mapped
Arrow files and decodes only its own images. A repeated sample (the same record
several times) is trained each time, as LLaVA trains it.

Before training, :func:`prepare_dataset` counts and lists what LLaVA does
quietly: records cut at ``model_max_length`` (trained, truncated) and records
whose every label it masks (``tokenization mismatch``: trained on nothing);
missing image files stop the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataoptim import words
from dataoptim.errors import DataOptimError, InputError, MissingFileError, ModelInputError
from dataoptim.records import validate_record


def _content_key(record: dict) -> bytes:
    import hashlib

    text = json.dumps([record.get("image"), [[t["from"], t["value"]] for t in record["conversations"]]], ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _first_char(path: Path) -> tuple[str | None, int, int]:
    """The first non-blank character of a file (after a UTF-8 BOM), with its 1-based line and column; ``(None, 0, 0)`` if blank."""
    line, column = 1, 0
    with open(path, "rb") as handle:
        head = handle.read(3)
        if head != b"\xef\xbb\xbf":
            handle.seek(0)
        while True:
            chunk = handle.read(1 << 16)
            if not chunk:
                return None, 0, 0
            for byte in chunk:
                if byte == 0x0A:
                    line, column = line + 1, 0
                elif byte in (0x20, 0x09, 0x0D):
                    column += 1
                else:
                    char = chr(byte) if byte < 0x80 else f"byte 0x{byte:02x}"
                    return char, line, column + 1


def _not_a_list(path: Path) -> InputError:
    """Why a ``.json`` selection whose top level is an object is refused: invalid JSON (located), JSON Lines, or an object."""
    from dataoptim.io import LOCATE_LIMIT

    what = "selection JSON"
    if path.stat().st_size <= LOCATE_LIMIT:  # parsed whole only now, after the streaming reader stopped
        text = path.read_bytes().decode("utf-8-sig", "replace")
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            try:
                if len(lines) > 1 and all(isinstance(json.loads(ln), dict) for ln in lines[:2]):
                    return InputError(f"{what} holds JSON Lines (one object per line) whose first line is not a record: "
                                      "each line must be one LLaVA record (id, image, conversations)", file=path)
            except (json.JSONDecodeError, RecursionError):
                pass
            return InputError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", file=path)
        except RecursionError:
            return InputError(f"{what} is nested too deeply", file=path)
    return InputError(f"{what} must hold a list at the top level, found an object (JSON Lines? name the file .jsonl)", file=path)


def selection_kind(path: str | os.PathLike) -> str:
    """How a selection file is read: ``"json"`` (a LLaVA JSON list) or ``"jsonl"`` (JSON Lines, one record a line).

    ``.jsonl``/``.ndjson`` names are JSON Lines; otherwise the content decides: the first non-blank
    character ``[`` is a JSON list, ``{`` JSON Lines. A ``.json`` file is a JSON list unless its
    first line is a whole record (an object with ``id`` or ``conversations``): JSON Lines, as
    ``dataoptim validate`` reads it (:func:`dataoptim.select.validate.sniff_layout`).

    Raises:
        MissingFileError: no such file, or a folder (said so).
        InputError: a file of another name that is blank, or starts with anything else (naming the
            character, its line and column).
    """
    path = Path(path)
    if path.is_dir():
        raise MissingFileError("is a folder, not a selection file (a LLaVA JSON list or JSON Lines file)", file=path)
    if not path.is_file():
        raise MissingFileError("selection file not found", file=path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        from dataoptim.select.validate import _first_line_is_record

        return "jsonl" if _first_char(path)[0] == "{" and _first_line_is_record(path) else "json"
    char, line, column = _first_char(path)
    if char is None:
        raise InputError("selection file is empty", file=path)
    if char == "[":
        return "json"
    if char == "{":
        return "jsonl"
    raise InputError(f"selection file is neither a JSON list nor JSON Lines: it starts with {char!r} at line {line}, column {column} "
                     "(a LLaVA JSON list starts with '[', JSON Lines with '{')", file=path)


def _records(path: str, kind: str):
    """Validated records of a selection file; a repeated sample (same id, same content) is kept each time, as LLaVA trains it."""
    from dataoptim.io import iter_json_array, iter_jsonl

    seen: dict[str, tuple[int, bytes]] = {}
    if kind == "json" and _first_char(Path(path))[0] == "{":
        raise _not_a_list(Path(path))
    # iter_json_array: a file whose top level is not a list is an error, not zero records
    items = (obj for _, obj in iter_jsonl(path)) if kind == "jsonl" else iter_json_array(path, what="selection JSON")
    for index, record in enumerate(items):
        # a JSON file: "image": null is refused as validate/validate_byod refuse it (LLaVA 744cb3e: 'image' in sources[0], then opens None)
        validate_record(record, file=path, index=index, require_image=False, null_image=True)
        rid = record["id"]
        key = _content_key(record)
        if rid in seen:
            first, first_key = seen[rid]
            if key != first_key:
                from dataoptim.errors import RecordError

                raise RecordError(
                    f"the id is used by record {first} with other content (a repeated sample must repeat the record exactly)",
                    file=path, record=index, id=rid, field="id",
                )
        else:
            seen[rid] = (index, key)
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
        data: path to a LLaVA JSON list (``.json``), a JSON Lines file (``.jsonl``; any other
            name: :func:`selection_kind` reads the first character),
            a folder saved with ``Dataset.save_to_disk`` (e.g. a pool selection), or a
            ``datasets.Dataset`` with ``id``, ``image``, ``conversations`` columns.
        cache_dir: where ``datasets`` keeps the Arrow files (default: its own cache).
            The conversion runs once per file version (path, size, mtime).

    Returns:
        ``datasets.Dataset`` with columns ``index`` (position in the input, for messages),
        ``id``, ``image`` (relative path or None) and ``conversations``; memory-mapped.

    Raises:
        MissingFileError: ``data`` does not exist.
        InputError, RecordError: malformed file or a record that breaks DESIGN §2 (first one, located),
            or an id used twice with different content (the same record repeated is a repeated
            sample, kept each time).
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
    kind = selection_kind(path)
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


def encode_dataset(ds, text, *, model_max_length: int, image_position: str = "front", num_proc: int | None = None):
    """Add LLaVA's encoding of every record (cached by ``datasets``).

    Args:
        ds: from :func:`load_selection`.
        text: the tokenizer as LLaVA calls it (:func:`dataoptim.train.encoding.text_encoder`).
        model_max_length: the cut, in positions with the image counted once (the recipe's 2048).
        image_position: ``front`` (LLaVA) or ``inline``.
        num_proc: worker processes for the tokenization (None: one).

    Returns:
        The dataset with columns ``input_ids`` (``-200`` once per image) and ``labels`` after the
        cut, ``positions`` (their length), ``positions_before`` (before the cut), ``truncated``,
        ``masked`` (None or the reason every label is masked), ``answer_tokens`` (labels used) and
        ``images`` (image positions left after the cut).
    """
    from dataoptim.train.encoding import ENCODING_VERSION, IMAGE_TOKEN_INDEX, encode_record

    def encode(batch, _version=ENCODING_VERSION):  # the version is part of datasets' cache key
        out: dict[str, list] = {k: [] for k in ("input_ids", "labels", "positions", "positions_before", "truncated", "masked", "answer_tokens", "images")}
        for conversations, image in zip(batch["conversations"], batch["image"]):
            rec = encode_record(conversations, text, has_image=image is not None, model_max_length=model_max_length, image_position=image_position)
            out["input_ids"].append(rec.input_ids)
            out["labels"].append(rec.labels)
            out["positions"].append(rec.positions)
            out["positions_before"].append(rec.positions_before)
            out["truncated"].append(rec.truncated)
            out["masked"].append(rec.masked)
            out["answer_tokens"].append(rec.answer_tokens)
            out["images"].append(rec.input_ids.count(IMAGE_TOKEN_INDEX))
        return out

    return ds.map(encode, batched=True, batch_size=256, num_proc=num_proc, desc="tokenizing")


@dataclass
class DataReport:
    """What the pre-flight check found, as LLaVA 744cb3e would train the selection.

    Attributes:
        file: the selection file (or None for an in-memory dataset).
        records: records read (samples: repeats counted).
        usable: records kept for training (``records`` minus ``dropped``).
        repeats: records that repeat an earlier one (same id, same content; each is trained);
            ``repeated_records`` lists each repeat ``{"index", "id", "first_index"}``.
        truncated: records longer than ``model_max_length`` positions (image counted once), cut
            and still trained as LLaVA does; ``truncated_records`` lists each:
            ``{"index", "id", "positions_before", "positions_after"}``.
        masked: records whose every label LLaVA masks (``tokenization mismatch``); they train
            nothing; ``masked_records`` lists each: ``{"index", "id", "reason"}``.
        train_nothing: records with no label left (masked, or every answer cut away).
        dropped: records left out (``--strict-length`` with ``--skip-bad-records``: too long;
            ``--skip-bad-records``: masked); ``dropped_records`` lists them ``{"index", "id", "why"}``.
        strict_length, skip_bad_records: the options in force.
        missing_images: count of records whose image file is absent.
        bad_images: records left out because their image cannot be decoded (``skip_bad_images``);
            ``bad_image_records`` lists each ``{"index", "id", "image", "detail"}``. ``records`` counts
            them, ``usable`` does not.
        tokens: total tokens of the kept records after the image is widened; answer_tokens: those
            with labels; max_length: the longest (after widening); max_positions: the longest in
            LLaVA's count (image once, after the cut).
        model_max_length: the cut. encoding: the tokenizer used (exact for LLaMA-2's SentencePiece model).
    """

    file: str | None
    records: int
    usable: int
    repeats: int = 0
    repeated_records: list[dict[str, Any]] = field(default_factory=list)
    truncated: int = 0
    truncated_records: list[dict[str, Any]] = field(default_factory=list)
    masked: int = 0
    masked_records: list[dict[str, Any]] = field(default_factory=list)
    train_nothing: int = 0
    dropped: int = 0
    dropped_records: list[dict[str, Any]] = field(default_factory=list)
    strict_length: bool = False
    skip_bad_records: bool = False
    missing_images: int = 0
    bad_images: int = 0
    bad_image_records: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0
    answer_tokens: int = 0
    max_length: int = 0
    max_positions: int = 0
    model_max_length: int = 0
    encoding: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of every attribute."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One line: ``records N (r repeats), trained K, truncated t, masked m (train nothing), dropped d``."""
        from dataoptim.words import count

        return (
            f"records {self.records} ({count(self.repeats, 'repeat')}), used {self.usable}, truncated at {self.model_max_length} {self.truncated}, "
            f"masked by the recipe {self.masked}, training nothing {self.train_nothing}, dropped {self.dropped}"
            + (f", bad images {self.bad_images} (left out)" if self.bad_images else "")
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
        progress: with ``open_images``, a ``tqdm`` progress bar of the images decoded (on a terminal).

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
            f"{words.count(len(missing), 'record')} {words.plural(len(missing), 'names', 'name')} image files missing under {image_folder}: {first}"
            + (" ..." if len(missing) > 5 else ""),
            file=file,
        )
    if bad:
        b = bad[0]
        raise ModelInputError(
            f"{words.count(len(bad), 'image')} cannot be decoded; first {b['image']!r}: {b['detail']}",
            file=file, record=b["index"], id=b["id"], field="image",
        )


def prepare_dataset(
    data: Any,
    image_folder: str | os.PathLike,
    tokenizer=None,
    *,
    model_max_length: int,
    image_position: str = "front",
    strict_length: bool = False,
    skip_bad_records: bool = False,
    open_images: bool = False,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    allow_symlinks_out: bool = False,
    text=None,
    image_seq_length: int | None = None,
    skip_bad_images: bool = False,
    progress: bool = False,
):
    """Load, check and encode a selection as LLaVA 744cb3e does; the one entry the trainer uses.

    By default nothing is refused that LLaVA trains: records over ``model_max_length``
    positions (the image counted once) are cut and kept, records LLaVA masks entirely
    are kept with every label masked; both are counted and listed in the report.

    Args:
        data: the selection (see :func:`load_selection`).
        image_folder: folder the image paths are relative to.
        tokenizer: the model's tokenizer (its folder's ``tokenizer.model`` makes the ids exact).
        model_max_length: the cut (the recipe's 2048).
        image_position: ``front`` (LLaVA) or ``inline``.
        strict_length: refuse records longer than ``model_max_length`` instead of cutting them.
        skip_bad_records: drop instead of refusing (with ``strict_length``) the records too long,
            and drop the records LLaVA masks entirely (they train nothing either way).
        open_images: also decode every image up front.
        cache_dir, num_proc: Arrow cache and tokenization processes.
        allow_symlinks_out: follow links out of ``image_folder`` (:mod:`dataoptim.imagepath`).
        text: the encoder to use instead of one derived from ``tokenizer``
            (:func:`dataoptim.train.encoding.text_encoder`).
        image_seq_length: features one image becomes in the model (for the report's token
            totals; default 256, the recipe's). The cut counts the image once, as LLaVA.
        skip_bad_images: decode every image first (as ``open_images``) and leave out the records
            whose image cannot be decoded (the report's ``bad_images``, ``bad_image_records``)
            instead of stopping.
        progress: progress bar while images are decoded (on a terminal).

    Returns:
        ``(dataset, report)``: the encoded ``datasets.Dataset`` (columns ``index``, ``id``, ``image``,
        ``input_ids``, ``labels``, ``positions``) and a :class:`DataReport`.

    Raises:
        MissingFileError: the selection or image folder is absent, or images are missing
            (lists how many and the first few; never skipped: LLaVA would crash on them).
        UnsafeInputError: an image leads out of the image folder through a link (unless allowed).
        ModelInputError: with ``open_images``, a corrupt image; with ``strict_length`` and
            without ``skip_bad_records``, the first record over ``model_max_length``, with the count.
        InputError, RecordError: malformed selection; no record left, or none with a label left
            (every answer cut away or masked: LLaVA's loss would be NaN).
    """
    import pyarrow.compute as pc

    from dataoptim.train.encoding import RECIPE_IMAGE_FEATURES, text_encoder

    file = None if not isinstance(data, (str, os.PathLike)) else str(data)
    ds = load_selection(data, cache_dir=cache_dir)
    bad = check_images(ds, image_folder, open_images=open_images or skip_bad_images, file=file, allow_symlinks_out=allow_symlinks_out,
                       progress=progress)
    undecodable = [b for b in bad if b["kind"] == "corrupt"] if skip_bad_images else []
    raise_for_images([b for b in bad if b not in undecodable], image_folder, file)
    read = len(ds)
    if undecodable:  # left out before encoding, reported below
        left_out = {b["index"] for b in undecodable}
        ds = ds.filter(lambda i: i not in left_out, input_columns="index", desc="leaving out records with bad images")
        if len(ds) == 0:
            raise InputError(f"no usable records left to train on: every image failed to decode (first {undecodable[0]['image']!r}: "
                             f"{undecodable[0]['detail']})", file=file)
    text = text if text is not None else text_encoder(tokenizer)
    encoded = encode_dataset(ds, text, model_max_length=model_max_length, image_position=image_position, num_proc=num_proc)
    table = encoded.select_columns(["index", "id", "positions", "positions_before", "truncated", "masked", "answer_tokens", "images"]).with_format("arrow")[:]
    report = DataReport(
        file=file, records=read, usable=len(encoded), strict_length=strict_length, skip_bad_records=skip_bad_records,
        model_max_length=model_max_length, encoding=text.describe(),
        repeats=len(encoded) - pc.count_distinct(table.column("id")).as_py(),
        bad_images=len(undecodable), bad_image_records=[{k: b[k] for k in ("index", "id", "image", "detail")} for b in undecodable],
    )
    if report.repeats:
        first_at: dict[str, int] = {}
        for index, rid in zip(table.column("index").to_pylist(), table.column("id").to_pylist()):
            if rid in first_at:
                report.repeated_records.append({"index": index, "id": rid, "first_index": first_at[rid]})
            else:
                first_at[rid] = index
    cut = table.filter(table.column("truncated"))
    report.truncated = cut.num_rows
    report.truncated_records = [
        {"index": r["index"], "id": r["id"], "positions_before": r["positions_before"], "positions_after": r["positions"]}
        for r in cut.select(["index", "id", "positions_before", "positions"]).to_pylist()
    ]
    hidden = table.filter(pc.invert(pc.is_null(table.column("masked"))))
    report.masked = hidden.num_rows
    report.masked_records = [{"index": r["index"], "id": r["id"], "reason": r["masked"]} for r in hidden.select(["index", "id", "masked"]).to_pylist()]
    report.train_nothing = int(pc.sum(pc.equal(table.column("answer_tokens"), 0)).as_py() or 0)
    if strict_length and report.truncated and not skip_bad_records:
        first = report.truncated_records[0]
        raise ModelInputError(
            f"needs {first['positions_before']} positions (the image counted once), more than model_max_length {model_max_length} "
            f"({words.count(report.truncated, 'record')} too long; --strict-length refuses what LLaVA would cut: drop them with --skip-bad-records, "
            "or leave out --strict-length to cut them as LLaVA does)",
            file=file, record=first["index"], id=first["id"], field="conversations",
        )
    dropped: list[dict[str, Any]] = []
    if skip_bad_records:
        bad = pc.invert(pc.is_null(table.column("masked")))
        if strict_length:
            bad = pc.or_(bad, table.column("truncated"))
        rows = table.filter(bad).select(["index", "id", "truncated", "masked"]).to_pylist()
        dropped = [{"index": r["index"], "id": r["id"], "why": "too long" if strict_length and r["truncated"] else "masked by the recipe"} for r in rows]
        if dropped:
            keep = pc.invert(bad).to_numpy(zero_copy_only=False)
            encoded = encoded.select([int(i) for i in keep.nonzero()[0]])
            table = table.filter(pc.invert(bad))
    report.dropped, report.dropped_records = len(dropped), dropped
    report.usable = len(encoded)
    if report.usable == 0:
        raise InputError("no usable records left to train on", file=file)
    if int(pc.max(table.column("answer_tokens")).as_py() or 0) == 0:
        # LLaVA would run on with a loss of 0/0 (NaN): refuse
        raise InputError(
            f"no record has a label left to train on ({report.truncated} cut at model_max_length {model_max_length}, "
            f"{report.masked} masked by the recipe)", file=file,
        )
    report.tokens, report.answer_tokens, report.max_length, report.max_positions = _token_totals(table, image_seq_length or RECIPE_IMAGE_FEATURES)
    return encoded.select_columns(["index", "id", "image", "input_ids", "labels", "positions"]), report


def _token_totals(table, image_features: int) -> tuple[int, int, int, int]:
    """(tokens after widening each image to ``image_features``, answer tokens, longest after widening, longest in positions)."""
    import pyarrow.compute as pc

    positions = table.column("positions")
    widened = pc.add(positions, pc.multiply(table.column("images"), image_features - 1))
    return (
        int(pc.sum(widened).as_py() or 0), int(pc.sum(table.column("answer_tokens")).as_py() or 0),
        int(pc.max(widened).as_py() or 0), int(pc.max(positions).as_py() or 0),
    )


class SupervisedDataset:
    """A ``torch`` map-style dataset over encoded Arrow rows; images decoded on access.

    Item ``i`` is ``{"input_ids": LongTensor (n,), "labels": LongTensor (n,),
    "pixel_values": FloatTensor (3, S, S)}``: with ``image_token_id``, the row's ids (LLaVA's,
    :func:`prepare_dataset`) with each image position (``-200``) widened to
    ``image_seq_length`` copies of ``image_token_id`` (labels -100), as
    ``LlavaForConditionalGeneration`` takes them, and no ``pixel_values`` when the ids hold no
    image position; without it, the row's ids as they are and pixels for every row with an image. Pixels: the image padded to a square with the
    processor's mean colour (``int(m * 255)`` per channel) when ``pad``, then the processor,
    as LLaVA's ``expand2square`` + ``CLIPImageProcessor.preprocess``. Only the Arrow file
    handle crosses to data-loader workers.

    Raises (on access):
        MissingFileError, ModelInputError: the image is missing or corrupt, naming the
        selection file, record index, id and the image path.
    """

    def __init__(self, encoded, image_folder: str | os.PathLike, image_processor, *, image_token_id: int | None = None,
                 image_seq_length: int | None = None, pad: bool = True, file: str | None = None, allow_symlinks_out: bool = False):
        from dataoptim.imagepath import ImageFolder

        self.data = encoded
        self.image_folder = ImageFolder(image_folder, allow_symlinks_out=allow_symlinks_out)
        self.image_processor = image_processor
        self.image_token_id = None if image_token_id is None else int(image_token_id)
        self.image_seq_length = None if image_seq_length is None else int(image_seq_length)
        self.pad = pad
        self.file = file
        #: pad colour: the processor's mean as 8-bit RGB, as LLaVA computes it ((122, 116, 104) for CLIP)
        self.background = tuple(int(x * 255) for x in getattr(image_processor, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073))

    def __len__(self) -> int:
        return len(self.data)

    def pixels(self, image):
        """``FloatTensor (3, S, S)`` of a PIL image: padded (if ``pad``) and processed."""
        from dataoptim.train.images import pad_to_square

        if self.pad:
            image = pad_to_square(image, self.background)
        return self.image_processor(images=[image], return_tensors="pt")["pixel_values"][0]

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        from dataoptim.train.encoding import IMAGE_TOKEN_INDEX, expand_images
        from dataoptim.train.images import load_image

        row = self.data[int(i)]
        ids, labels = row["input_ids"], row["labels"]
        has_image = True
        if self.image_token_id is not None:
            # LLaVA's ids: an image position the cut removed takes its pixels with it
            has_image = IMAGE_TOKEN_INDEX in ids
            ids, labels = expand_images(ids, labels, self.image_seq_length, self.image_token_id)
        item = {"input_ids": torch.tensor(ids, dtype=torch.long), "labels": torch.tensor(labels, dtype=torch.long)}
        if row["image"] is not None and has_image:
            where = {"file": self.file, "record": row["index"], "id": row["id"]}
            image = load_image(self.image_folder.resolve(row["image"], **where), **where)
            item["pixel_values"] = self.pixels(image)
        return item


@dataclass
class Collator:
    """Pad a list of :class:`SupervisedDataset` items into a batch (right padding, as LLaVA).

    Returns ``{"input_ids", "labels", "attention_mask"}`` as ``LongTensor (B, L)`` with
    ``L`` the longest item, padded with ``pad_token_id`` / -100, the attention mask
    ``input_ids != pad_token_id`` as LLaVA's ``DataCollatorForSupervisedDataset`` builds it
    (LLaMA-2 pads with ``<unk>``, so an ``<unk>`` in a text is not attended to either), and
    ``pixel_values`` ``(I, 3, S, S)`` for the ``I`` items that have an image, in batch order.
    The cut at ``model_max_length`` is already in the items (:mod:`dataoptim.train.encoding`).
    """

    pad_token_id: int

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        from dataoptim.train.encoding import IGNORE_INDEX

        width = max(len(it["input_ids"]) for it in items)
        ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE_INDEX, dtype=torch.long)
        for row, it in enumerate(items):
            n = len(it["input_ids"])
            ids[row, :n] = it["input_ids"]
            labels[row, :n] = it["labels"]
        batch = {"input_ids": ids, "labels": labels, "attention_mask": ids.ne(self.pad_token_id).long()}
        pixels = [it["pixel_values"] for it in items if "pixel_values" in it]
        if pixels:
            batch["pixel_values"] = torch.stack(pixels)
        return batch
