"""BYOD submissions: a participant's own LLaVA JSON, validated record by record (DESIGN §7, §10).

The file is streamed with ``ijson``: memory holds one record and the set of
ids seen (for the uniqueness rule), never the file. Each record must pass
:func:`dataoptim.records.validate_record` (schema, one ``<image>`` in the first
human turn, turns alternating ``human``/``gpt``, a relative image path that
cannot leave the image folder); ids must be unique. A record without ``image``
is a text-only record (as LLaVA takes them): it must hold no ``<image>``, and
``"image": null`` is refused (LLaVA would try to open it). With an image folder, each
image must exist there (and, followed through links, stay inside it) and be an
image: its header is parsed (no pixels decoded), so an empty, truncated or
foreign file is refused here rather than crashing LLaVA's data loader. A
``.gif``/``.png`` saved under a ``.jpg`` name is accepted and reported
(DESIGN §11: Pillow reads it by content).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from dataoptim import records
from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError
from dataoptim.select.summary import Summary, SummaryBuilder

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.select.pool import Pool


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(4096)
            if not chunk:
                return b""
            stripped = chunk.lstrip(b" \t\r\n")
            if stripped.startswith(b"\xef\xbb\xbf"):
                stripped = stripped[3:].lstrip(b" \t\r\n")
            if stripped:
                return stripped[:1]


def iter_byod(path: str | os.PathLike) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, record)`` from a JSON list file, or a JSON Lines file (one record per line), streaming.

    JSON Lines (LLaVA issue 1753) is told by content (:func:`dataoptim.select.validate.sniff_layout`);
    its ``index`` is the line's index (0-based), as :func:`dataoptim.io.iter_jsonl` gives it.

    Raises:
        MissingFileError: no such file.
        InputError: empty, neither a JSON list nor JSON Lines of records, or malformed JSON
            (naming the record being read, and for JSON Lines the line).
    """
    from dataoptim.io import iter_json_items, iter_jsonl

    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingFileError("submission file not found", file=path)
    head = _first_byte(path)
    if not head:
        raise InputError("submission is empty", file=path)
    if head == b"{":
        from dataoptim.select.validate import sniff_layout

        sniff_layout(path)  # JSON Lines of records, or an InputError saying what a submission must be
        yield from iter_jsonl(path, what="submission")
        return
    if head != b"[":
        raise InputError("a BYOD submission must be a JSON list of records (it does not start with '[') or JSON Lines (one record per line)", file=path)
    index = 0
    stream = iter_json_items(path, what="submission")
    while True:
        try:
            item = next(stream)
        except StopIteration:
            return
        except InputError as exc:
            raise InputError(f"{exc.message} (while reading record {index})", file=path, record=index) from None
        yield index, item
        index += 1


class _ImageChecker:
    def __init__(self, folder: str | os.PathLike, allow_symlinks_out: bool = False):
        from dataoptim.imagepath import ImageFolder

        self.folder = ImageFolder(folder, allow_symlinks_out=allow_symlinks_out)
        self.root = self.folder.root
        self.seen: set[str] = set()
        #: ``(image, real format)`` of ``.jpg`` files of another format (first few), and their count
        self.mislabeled: list[tuple[str, str]] = []
        self.mislabeled_count = 0

    def check(self, image: str, where: dict) -> None:
        if image in self.seen:
            return
        full = self.folder.resolve(image, **where)  # the one rule for image paths (dataoptim.imagepath)
        if not full.is_file():
            from dataoptim.select.images import folder_hints

            hints = folder_hints([image], self.root)
            raise RecordError(f"image file {image!r} not found under {self.root}" + (f" ({hints[0]})" if hints else ""), field="image", **where)
        from dataoptim.select.images import image_problem
        from dataoptim.select.summary import MISLABELED_SHOWN

        kind, problem = image_problem(full, header=True)
        if problem is not None:
            raise RecordError(f"image file {image!r} under {self.root} {problem}", field="image", **where)
        if kind != "jpeg" and image.lower().endswith((".jpg", ".jpeg")):
            self.mislabeled_count += 1
            if len(self.mislabeled) < MISLABELED_SHOWN:
                self.mislabeled.append((image, kind))
        self.seen.add(image)


def validate_byod(
    path: str | os.PathLike,
    image_folder: str | os.PathLike | None = None,
    *,
    pool: "Pool | str | os.PathLike | None" = None,
    output: str | os.PathLike | None = None,
    allow_symlinks_out: bool = False,
    decode_images: bool = False,
    progress: bool = False,
    boxes=None,
    tokenizer: str | os.PathLike | None = None,
) -> Summary:
    """Validate a BYOD submission (a LLaVA JSON list, or JSON Lines) record by record, streaming.

    Args:
        path: the submission file.
        image_folder: if given, every record's image must exist under it and be a readable image
            (header parsed); ``.jpg`` files of another format are listed in ``summary.mislabeled``.
        pool: if given (a :class:`~dataoptim.select.pool.Pool` or a pool folder path), the summary's
            ``in_pool`` counts the ids that are pool ids.
        output: if given, the validated records are written there as LLaVA JSON
            (only ``id``, ``image``, ``conversations``), atomically: on any error no file appears.
        allow_symlinks_out: follow links that lead out of ``image_folder`` (an organiser's
            ``images/coco -> /data/coco``) instead of refusing them (:mod:`dataoptim.imagepath`).
        decode_images: with ``image_folder``, also decode every image fully, in parallel
            (:func:`dataoptim.train.images.decode_all`), once all records passed: finds files cut
            short after their header; a failure is a ``ModelInputError`` naming the first record
            that uses the image, and nothing is written.
        progress: progress bar while decoding.
        boxes: with ``output``, a :class:`dataoptim.boxes.BoxMover` that moves the boxes of the
            records written (by each id's source); its counts go into the summary's ``boxes``.
        tokenizer: the recipe's tokenizer folder: the summary's ``tokens`` holds the records' token
            sums (:class:`~dataoptim.select.summary.TokenTally`: the counts of ``dataoptim tokens``).

    Returns:
        The :class:`~dataoptim.select.summary.Summary` of the submission.

    Raises:
        InputError: malformed JSON, not a list, or empty.
        RecordError: the first record that breaks a rule, naming file, record index, id and field
            (wrong types, missing ``<image>``, two ``<image>``, turns out of order, duplicate id,
            ``../`` or absolute image path, image file missing, empty or not a readable image).
        UnsafeInputError: an image path that, followed through links, leaves the image folder
            (unless ``allow_symlinks_out``).
        ConfigError: ``path`` is not a path; ``output`` is a folder, cannot be written or is the
            submission itself; ``pool`` is neither a pool nor a path.
    """
    from dataoptim.io import atomic_write
    from dataoptim.select.checks import as_path, check_output_path

    path = as_path(path, "submission", field="path")
    if output is not None:
        output = check_output_path(output, field="output")  # before anything is read or written
        from dataoptim.io import refuse_overwrite

        refuse_overwrite({"output": output}, {"the submission": path})
    if pool is not None:
        from dataoptim.select.pool import Pool

        if isinstance(pool, (str, os.PathLike)):
            pool = Pool.open(pool)
        elif not isinstance(pool, Pool):
            raise ConfigError(f"pool must be a Pool or a pool folder path, got {type(pool).__name__}", field="pool")
    if image_folder is not None:
        image_folder = as_path(image_folder, "image folder", field="image_folder")
    checker = _ImageChecker(image_folder, allow_symlinks_out) if image_folder is not None else None
    builder = SummaryBuilder(path.name, tokenizer=tokenizer)  # a bad tokenizer folder fails here, before any record is read
    seen: dict[str, int] = {}
    pending: list[str] = []
    in_pool = 0

    def flush() -> None:
        nonlocal in_pool, pending
        if pool is not None and pending:
            in_pool += int((pool.lookup(pending) >= 0).sum())
        pending = []

    def records_checked() -> Iterator[dict]:
        for index, record in iter_byod(path):
            # null_image: LLaVA tests 'image' in the record and would open None; a text-only record leaves the key out
            records.validate_record(record, file=str(path), index=index, null_image=True)
            rid = record["id"]
            if rid in seen:
                raise RecordError(f"duplicate id, first used by record {seen[rid]}", file=str(path), record=index, id=rid, field="id")
            seen[rid] = index
            if checker is not None and record.get("image") is not None:
                checker.check(record["image"], {"file": str(path), "record": index, "id": rid})
                if decode_images:
                    first_use.setdefault(record["image"], (index, rid))
            builder.add_record(record)
            if pool is not None:
                pending.append(rid)
                if len(pending) >= 100_000:
                    flush()
            yield record

    first_use: dict[str, tuple[int, str]] = {}

    def decode() -> None:
        if not first_use:
            return
        from dataoptim.errors import ModelInputError
        from dataoptim.train.images import decode_all

        failed = decode_all({image: checker.folder.resolve(image) for image in first_use}, progress=progress)
        if failed:
            image, detail = min(failed.items(), key=lambda item: first_use[item[0]][0])
            index, rid = first_use[image]
            more = f" ({len(failed):,} images cannot be decoded: `dataoptim validate --decode-images` lists them)" if len(failed) > 1 else ""
            raise ModelInputError(f"image file {image!r} under {checker.root} cannot be decoded: {detail}{more}",
                                  file=str(path), record=index, id=rid, field="image")

    if output is None:
        for _ in records_checked():
            pass
        decode()
    else:
        from dataoptim.select.leftovers import clean_export_leftovers, lock_in_use

        dumps = _dumps()
        clean_export_leftovers(Path(output).expanduser().parent)
        with atomic_write(output, "wb") as handle:
            lock_in_use(handle)
            handle.write(b"[")
            first = True
            if boxes is not None:
                boxes.file = boxes.file or str(path)
            for position, record in enumerate(records_checked()):
                handle.write(b"\n" if first else b",\n")
                out = records.to_llava(record)
                handle.write(dumps(out if boxes is None else boxes.record(out, position)))
                first = False
            if first:
                raise InputError("submission holds no records", file=path)
            decode()  # inside the atomic write: a bad image leaves no output
            handle.write(b"\n]\n")
    flush()
    if builder.records == 0:
        raise InputError("submission holds no records", file=path)
    summary = builder.build()
    if pool is not None:
        summary.in_pool = in_pool
    if checker is not None:
        summary.mislabeled, summary.mislabeled_count = list(checker.mislabeled), checker.mislabeled_count
    if boxes is not None and output is not None:
        summary.boxes = boxes.info()
    return summary


def _dumps():
    try:
        import orjson

        return orjson.dumps
    except ImportError:  # pragma: no cover
        import json

        return lambda obj: json.dumps(obj, ensure_ascii=False).encode("utf-8")
