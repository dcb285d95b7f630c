"""Check a whole submission and report every problem at once (``dataoptim validate``).

:func:`~dataoptim.select.byod.validate_byod` stops at the first broken record,
which is what writing a selection needs. An organiser checking a 100K-record
submission, or a participant fixing one, wants every problem in one run:
:func:`check_submission` reads the whole file and collects one
:class:`~dataoptim.errors.DataOptimError` per bad record (the same typed error,
with the same one-line message, that ``validate_byod`` raises for the first),
missing images (checked for every record, whatever its other problems) with their near misses (``filckr30k/`` beside ``flickr30k/``,
``103.gif`` beside a missing ``103.jpg``; :func:`image_hint`, ``difflib``), and
says what it checked (:meth:`ValidationReport.checked`).

Formats: a BYOD submission as a JSON list (LLaVA's format) or as JSON Lines
(one record per line; LLaVA issue 1753), and a standard submission (an id
list, one id per line).

Reading stops early only where the file cannot be read on: malformed JSON in a
JSON list (later records cannot be found). In JSON Lines a bad line is one
problem and reading goes on.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from dataoptim import catalog
from dataoptim import words
from dataoptim.errors import DataOptimError, InputError, MissingFileError, RecordError

#: Default of ``validate --max-errors``: problems printed before the total.
MAX_ERRORS = 20
#: A folder with more entries than this gets only the same-name-other-extension hint (no fuzzy search).
FUZZY_LIMIT = 20_000


@dataclass
class ValidationReport:
    """What :func:`check_submission` checked and found.

    Attributes:
        file: the submission.
        kind: ``"BYOD submission (JSON list)"``, ``"BYOD submission (JSON Lines)"`` or ``"standard submission"``.
        records: records (or ids) read.
        pool_checked: ids looked up in a pool (None: no pool given).
        in_pool: of those, ids found.
        images_checked: distinct image files checked to exist and (header parsed) be images; None: no image folder.
        images_decoded: distinct image files fully decoded (``decode_images``); None: not asked.
        problems: every problem found, in file order (images decoded last).
        stopped_at: why reading stopped before the end of the file (malformed JSON), or None.
        summary: the :class:`~dataoptim.select.summary.Summary` of the valid records (None if none).
        mislabeled: ``(image, real format)`` of ``.jpg`` files of another format (accepted), first few;
            mislabeled_count: how many.
    """

    file: str
    kind: str
    records: int = 0
    pool_checked: int | None = None
    in_pool: int | None = None
    images_checked: int | None = None
    images_decoded: int | None = None
    problems: list[DataOptimError] = field(default_factory=list)
    stopped_at: str | None = None
    summary: Any = None
    mislabeled: list[tuple[str, str]] = field(default_factory=list)
    mislabeled_count: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems

    def checked(self) -> str:
        """One line saying what was checked: records, pool ids, images, decoded images."""
        from dataoptim.words import count

        stopped = ""
        if self.stopped_at:  # the problem that stopped the reading is the last one found
            why = " ".join(self.stopped_at.split())
            stopped = f" (reading stopped early: {why if len(why) <= 160 else why[:157] + '...'})"
        parts = [f"{count(self.records, 'record')} read{stopped}"]
        if self.pool_checked is None:
            parts.append("ids not looked up in a pool (no --pool)")
        else:
            parts.append(f"{count(self.pool_checked, 'id')} looked up in the pool ({self.in_pool:,} found)")
        if self.images_checked is None:
            parts.append("images not checked (no --image-folder)")
        else:
            parts.append(f"{count(self.images_checked, 'image file')} checked to exist (headers parsed)")
            if self.images_decoded is None:
                parts.append("images not decoded (--decode-images decodes every one)")
            else:
                parts.append(f"{count(self.images_decoded, 'image file')} fully decoded")
        return f"checked {self.file}: " + "; ".join(parts)

    def problem_dicts(self) -> list[dict[str, Any]]:
        """Every problem as a JSON-ready dict: ``kind`` (error class), ``file``, ``record``, ``id``, ``field``, ``message``, ``line``."""
        return [
            {"kind": type(p).__name__, "file": p.file, "record": p.record, "id": p.id, "field": p.field,
             "message": p.message, "line": " ".join(str(p).split())}
            for p in self.problems
        ]

    def write_report(self, path: str | os.PathLike) -> Path:
        """Write every problem as JSON Lines (one :meth:`problem_dicts` object a line), atomically."""
        from dataoptim.io import atomic_write

        with atomic_write(path, "w") as handle:
            for item in self.problem_dicts():
                handle.write(json.dumps(item, ensure_ascii=False) + "\n")
        return Path(path)


# ----------------------------------------------------------------------------------------------
# near misses for missing images
# ----------------------------------------------------------------------------------------------
class _Listing:
    """Cached folder listings for :func:`image_hint` (one ``scandir`` per folder)."""

    def __init__(self) -> None:
        self.cache: dict[Path, tuple[list[str], dict[str, list[str]], set[str]]] = {}

    def get(self, folder: Path):
        if folder not in self.cache:
            names: list[str] = []
            dirs: set[str] = set()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        names.append(entry.name)
                        try:
                            if entry.is_dir():
                                dirs.add(entry.name)
                        except OSError:
                            pass
            except OSError:
                pass
            stems: dict[str, list[str]] = {}
            for name in names:
                stems.setdefault(os.path.splitext(name)[0], []).append(name)
            self.cache[folder] = (names, stems, dirs)
        return self.cache[folder]


def image_hint(image: str, root: str | os.PathLike, listing: _Listing | None = None) -> str | None:
    """Say what is there instead of a missing image, or None.

    Walks ``image``'s folders from ``root``: the first folder that is missing is
    matched against its siblings (``difflib``: ``filckr30k/`` for ``flickr30k/``; for DataOptim's
    misspelt ``filckr30k/`` (:data:`dataoptim.catalog.MISSPELT_FOLDERS`, DESIGN §11) the hint always
    points to ``flickr30k/``, the folder DataOptim's records name);
    in the image's own folder, a file of the same name with another extension
    (``103.gif`` for ``103.jpg``) or, in folders of at most :data:`FUZZY_LIMIT`
    entries, the closest name.

    Returns:
        E.g. ``"'filckr30k/' is there: rename it to 'flickr30k/'?"`` or ``"'ocrvqa/103.gif' is there"``.
    """
    listing = listing or _Listing()
    parts = image.split("/")
    folder = Path(root)
    for depth, part in enumerate(parts[:-1]):
        names, _, dirs = listing.get(folder)
        if part not in dirs:
            prefix = "/".join(parts[:depth])
            close = difflib.get_close_matches(part, sorted(dirs), n=1, cutoff=0.6)
            where = f"{prefix}/" if prefix else ""
            if depth == 0 and part in catalog.MISSPELT_FOLDERS and catalog.MISSPELT_FOLDERS[part] in dirs:
                # the record has DataOptim's README spelling; DataOptim's records (and the folder here) say the other
                right = catalog.MISSPELT_FOLDERS[part]
                return (f"no folder '{part}/', but '{right}/' is there: '{part}/' is DataOptim's README misspelling, "
                        f"its records say '{right}/': write the image path as '{right}/{'/'.join(parts[1:])}'")
            if depth == 0 and part in catalog.MISSPELT_FOLDERS.values() and close and catalog.MISSPELT_FOLDERS.get(close[0]) == part:
                return (f"no folder '{part}/', but '{close[0]}/' is there: rename it to '{part}/' "
                        f"(DataOptim's README misspells it '{close[0]}/'; its records say '{part}/')")
            if close:
                return f"no folder '{where}{part}/', but '{where}{close[0]}/' is there: rename it to '{part}/'?"
            return f"no folder '{where}{part}/' under {root}"
        folder = folder / part
    names, stems, _ = listing.get(folder)
    name = parts[-1]
    prefix = "/".join(parts[:-1])
    prefix = f"{prefix}/" if prefix else ""
    same = [n for n in stems.get(os.path.splitext(name)[0], []) if n != name]
    if same:
        return f"{', '.join(repr(prefix + n) for n in sorted(same)[:3])} is there (another extension)"
    if len(names) <= FUZZY_LIMIT:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
        if close:
            return f"did you mean '{prefix}{close[0]}'?"
    return None


# ----------------------------------------------------------------------------------------------
# reading, tolerant of bad records
# ----------------------------------------------------------------------------------------------
def sniff_layout(path: Path) -> str:
    """``"list"`` (a JSON list), ``"jsonl"`` (JSON Lines of records) or ``"ids"`` (an id list).

    A file starting with ``[`` is a JSON list; one starting with ``{`` is JSON Lines when
    its name ends in ``.jsonl``/``.ndjson`` or its first line is a complete JSON object with
    an ``id`` or ``conversations`` key (a record). Anything else (after a byte-order mark and
    whitespace) is an id list unless the name ends in ``.json``.

    Raises:
        InputError: empty file; a ``.json`` file or a file starting with ``{`` that is neither.
    """
    from dataoptim.select.byod import _first_byte

    head = _first_byte(path)
    if not head:
        raise InputError("submission is empty", file=path)
    suffix = path.suffix.lower()
    if head == b"[":
        return "list"
    if head == b"{":
        if suffix in (".jsonl", ".ndjson") or _first_line_is_record(path):
            return "jsonl"
        raise InputError(
            "a BYOD submission must be a JSON list of records ('[{...}, {...}]') or JSON Lines (one record per line); "
            "this file starts with '{' but its first line is not a record",
            file=path,
        )
    if suffix in (".json", ".jsonl", ".ndjson"):
        raise InputError("a BYOD submission must be a JSON list of records (it does not start with '[') or JSON Lines", file=path)
    return "ids"


def _first_line_is_record(path: Path) -> bool:
    with open(path, "rb") as handle:
        for raw in handle:
            text = raw.strip()
            if text.startswith(b"\xef\xbb\xbf"):
                text = text[3:].strip()
            if not text:
                continue
            if len(text) > 50_000_000:
                return False
            try:
                obj = json.loads(text)
            except (ValueError, RecursionError):
                return False
            return isinstance(obj, dict) and ("id" in obj or "conversations" in obj)
    return False


def iter_records_tolerant(path: Path, layout: str) -> Iterator[tuple[int, Any, DataOptimError | None, bool]]:
    """Yield ``(index, record, error, fatal)``: a record, or the error that stands for it.

    ``fatal`` is True when reading cannot go on (malformed JSON in a JSON list).
    JSON Lines: ``index`` is the line's index (0-based, blank lines counted), as
    :func:`dataoptim.io.iter_jsonl` gives it.
    """
    if layout == "list":
        from dataoptim.select.byod import iter_byod

        stream = iter_byod(path)
        index = 0
        while True:
            try:
                index, record = next(stream)
            except StopIteration:
                return
            except DataOptimError as exc:
                yield (exc.record if exc.record is not None else index), None, exc, True
                return
            yield index, record, None, False
        return
    with open(path, "rb") as handle:
        for index, raw in enumerate(handle):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8-sig" if index == 0 else "utf-8"))
            except UnicodeDecodeError:
                yield index, None, InputError(f"line {index + 1} is not UTF-8 text", file=path, record=index), False
                continue
            except RecursionError:
                yield index, None, InputError(f"line {index + 1} is nested too deeply", file=path, record=index), False
                continue
            except json.JSONDecodeError as exc:
                yield index, None, InputError(f"line {index + 1} is not valid JSON: {exc.msg}", file=path, record=index), False
                continue
            yield index, record, None, False


# ----------------------------------------------------------------------------------------------
# the check
# ----------------------------------------------------------------------------------------------
def check_submission(
    path: str | os.PathLike,
    image_folder: str | os.PathLike | None = None,
    *,
    pool: Any = None,
    decode_images: bool = False,
    allow_symlinks_out: bool = False,
    progress: bool = False,
    workers: int | None = None,
    tokenizer: str | os.PathLike | None = None,
) -> ValidationReport:
    """Check a submission completely and collect every problem (nothing is written).

    Args:
        path: a BYOD submission (JSON list or JSON Lines) or a standard submission (id list).
        image_folder: if given, each record's image must exist there (by the image-path rule,
            :mod:`dataoptim.imagepath`) and be an image (header parsed).
        pool: a :class:`~dataoptim.select.pool.Pool` or pool folder: BYOD ids are counted against
            it; a standard submission's ids must all be in it (without a pool only their form is checked).
        decode_images: also decode every image fully, in parallel
            (:func:`dataoptim.train.images.decode_all`): finds files cut short after their header.
        allow_symlinks_out: follow links out of ``image_folder`` instead of refusing them.
        progress: progress bar while decoding.
        workers: decoding threads (default: the CPUs).
        tokenizer: the recipe's tokenizer folder: a BYOD file's summary holds its token sums
            (:class:`~dataoptim.select.summary.TokenTally`); a standard submission's are counted by the caller.

    Returns:
        A :class:`ValidationReport`; ``report.ok`` when nothing is wrong.

    Raises:
        MissingFileError: the submission, the image folder or the pool does not exist.
        InputError: the submission is empty or of no known layout. Every other fault is a problem
            in the report, not an exception.
    """
    from dataoptim.select.checks import as_path

    path = as_path(path, "submission", field="path").expanduser()
    if not path.is_file():
        raise MissingFileError("submission file not found", file=path)
    if pool is not None and isinstance(pool, (str, os.PathLike)):
        from dataoptim.select.pool import Pool

        pool = Pool.open(pool)
    folder = None
    if image_folder is not None:
        from dataoptim.imagepath import ImageFolder

        folder = ImageFolder(as_path(image_folder, "image folder", field="image_folder"), allow_symlinks_out=allow_symlinks_out)
    layout = sniff_layout(path)
    if layout == "ids":
        return _check_ids(path, folder, pool, decode_images, progress, workers)
    return _check_byod(path, layout, folder, pool, decode_images, progress, workers, tokenizer)


class _Images:
    """Checks each distinct image once and remembers the outcome."""

    def __init__(self, folder, file: str):
        self.folder = folder
        self.file = file
        self.listing = _Listing()
        self.status: dict[str, tuple[str, Any] | None] = {}  # image -> None (fine) or (kind, detail)
        self.full: dict[str, Path] = {}  # fine images -> their files
        self.mislabeled: list[tuple[str, str]] = []
        self.mislabeled_count = 0

    def problem(self, image: str, where: dict) -> DataOptimError | None:
        from dataoptim.select.images import image_problem
        from dataoptim.select.summary import MISLABELED_SHOWN

        if image not in self.status:
            outcome = None
            try:
                full = self.folder.resolve(image, **where)
            except DataOptimError as exc:
                outcome = ("refused", exc)
            else:
                if not full.is_file():
                    outcome = ("missing", image_hint(image, self.folder.root, self.listing))
                else:
                    kind, bad = image_problem(full, header=True)
                    if bad is not None:
                        outcome = ("unreadable", bad)
                    else:
                        self.full[image] = full
                        if kind != "jpeg" and image.lower().endswith((".jpg", ".jpeg")):
                            self.mislabeled_count += 1
                            if len(self.mislabeled) < MISLABELED_SHOWN:
                                self.mislabeled.append((image, kind))
            self.status[image] = outcome
        outcome = self.status[image]
        if outcome is None:
            return None
        kind, detail = outcome
        if kind == "refused":
            return type(detail)(detail.message, **{**where, "field": "image"})
        if kind == "missing":
            return RecordError(f"image file {image!r} not found under {self.folder.root}" + (f" ({detail})" if detail else ""),
                               field="image", **where)
        return RecordError(f"image file {image!r} under {self.folder.root} {detail}", field="image", **where)

    def decode(self, users: dict[str, list[tuple[int, str]]], progress: bool, workers: int | None) -> list[DataOptimError]:
        """Decode every fine image; one problem per record whose image fails."""
        from dataoptim.errors import ModelInputError
        from dataoptim.train.images import decode_all

        failed = decode_all(self.full, workers=workers, progress=progress)
        out = []
        for image, detail in failed.items():
            for index, rid in users.get(image, []):
                out.append(ModelInputError(f"image file {image!r} under {self.folder.root} cannot be decoded: {detail}",
                                           file=self.file, record=index, id=rid, field="image"))
        out.sort(key=lambda e: e.record if e.record is not None else -1)
        return out


def _check_byod(path: Path, layout: str, folder, pool, decode_images: bool, progress: bool, workers: int | None, tokenizer=None) -> ValidationReport:
    from dataoptim import records as rules
    from dataoptim.select.summary import SummaryBuilder

    file = str(path)
    report = ValidationReport(file, "BYOD submission (JSON Lines)" if layout == "jsonl" else "BYOD submission (JSON list)")
    images = _Images(folder, file) if folder is not None else None
    users: dict[str, list[tuple[int, str]]] = {}
    builder = SummaryBuilder(path.name, tokenizer=tokenizer)
    seen: dict[str, int] = {}
    pending: list[str] = []
    in_pool = looked_up = 0

    def flush() -> None:
        nonlocal in_pool, looked_up, pending
        if pool is not None and pending:
            in_pool += int((pool.lookup(pending) >= 0).sum())
            looked_up += len(pending)
        pending = []

    for index, record, error, fatal in iter_records_tolerant(path, layout):
        if error is not None:
            report.problems.append(error)
            if fatal:
                report.stopped_at = error.message
                break
            report.records += 1
            continue
        report.records += 1
        # every rule the record breaks, one problem per field ("image": null refused as validate_byod refuses it)
        broken = list(rules.record_problems(record, file=file, index=index, null_image=True))
        rid = record.get("id") if isinstance(record, dict) else None
        duplicate = not broken and rid in seen
        if duplicate:
            broken.append(RecordError(f"duplicate id, first used by record {seen[rid]}", file=file, record=index, id=rid, field="id"))
        elif not broken:
            seen[rid] = index
        report.problems.extend(broken)
        # the image is checked whatever else is wrong with the record (unless its path itself was refused above),
        # so that one run names every problem and the summary counts every image file checked
        image = record.get("image") if isinstance(record, dict) else None
        image_ok = True
        if images is not None and isinstance(image, str) and not any(p.field == "image" for p in broken):
            named = rid if isinstance(rid, str) and rid else None  # named as record_problems names it
            problem = images.problem(image, {"file": file, "record": index, "id": named})
            if problem is not None:
                report.problems.append(problem)
                image_ok = False
            elif decode_images:
                users.setdefault(image, []).append((index, named))
        if broken or not image_ok:
            continue
        builder.add_record(record)
        if pool is not None:
            pending.append(rid)
            if len(pending) >= 100_000:
                flush()
    flush()
    if report.records == 0 and not report.problems:
        report.problems.append(InputError("submission holds no records", file=path))
    if pool is not None:
        report.pool_checked, report.in_pool = looked_up, in_pool
    if images is not None:
        report.images_checked = len(images.status)
        report.mislabeled, report.mislabeled_count = images.mislabeled, images.mislabeled_count
        if decode_images:
            report.problems.extend(images.decode(users, progress, workers))
            report.images_decoded = len(images.full)
    if builder.records:
        report.summary = builder.build()
        if pool is not None:
            report.summary.in_pool = in_pool
    return report


def _check_ids(path: Path, folder, pool, decode_images: bool, progress: bool, workers: int | None) -> ValidationReport:
    import numpy as np

    from dataoptim.errors import UnknownIdError
    from dataoptim.select.ids import _line_numbers, read_id_file

    file = str(path)
    report = ValidationReport(file, "standard submission")
    try:
        ids = read_id_file(path)
        malformed: list[str] = []
    except InputError as exc:
        if "malformed id" not in exc.message:
            report.problems.append(exc)
            return report
        ids, malformed = _read_ids_unchecked(path)
    report.records = len(ids) + len(malformed)
    if malformed:
        lines = _line_numbers(path, set(malformed))
        for value in malformed:
            report.problems.append(InputError(
                f"line {lines.get(value, '?')}: malformed id {value!r} (an id is letters, digits and '_ . + -', one per line)", file=path))
    if pool is None:
        return report
    import pyarrow as pa

    positions = np.asarray(pool.lookup(ids), dtype=np.int64) if len(ids) else np.zeros(0, np.int64)
    report.pool_checked = len(ids)
    known_mask = positions >= 0
    report.in_pool = int(known_mask.sum())
    unknown = ids.filter(pa.array(~known_mask)).to_pylist()
    if unknown:
        lines = _line_numbers(path, set(unknown))
        for value in dict.fromkeys(unknown):
            report.problems.append(UnknownIdError(f"line {lines.get(value, '?')}: id {value!r} is not in the pool", file=path))
    if folder is None or report.in_pool == 0:
        if folder is not None:
            report.images_checked = 0
        return report
    rows = pool.rows_table(positions[known_mask], ["id", "image"])
    rows = zip(rows.column("id").to_pylist(), rows.column("image").to_pylist())
    images = _Images(folder, file)
    users: dict[str, list[tuple[int, str]]] = {}
    named: set[str] = set()
    for rid, image in rows:
        if image is None or rid in named:  # a repeated id (a repeated sample) is reported once
            continue
        named.add(rid)
        problem = images.problem(image, {"file": file, "id": rid})
        if problem is not None:
            report.problems.append(problem)
        elif decode_images:
            users.setdefault(image, []).append((None, rid))
    report.images_checked = len(images.status)
    report.mislabeled, report.mislabeled_count = images.mislabeled, images.mislabeled_count
    if decode_images:
        report.problems.extend(images.decode(users, progress, workers))
        report.images_decoded = len(images.full)
    return report


def _read_ids_unchecked(path: Path):
    """(well-formed ids as a pyarrow array, malformed ids in file order) of an id file."""
    import pyarrow as pa

    from dataoptim.records import _ID_RE

    good, bad = [], []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            value = line.strip().lstrip("\ufeff").strip()
            if not value:
                continue
            (good if _ID_RE.fullmatch(value) else bad).append(value)
    return pa.array(good, pa.string()), bad


def require_decodable(selection, image_folder: str | os.PathLike, *, allow_symlinks_out: bool = False, progress: bool = False,
                      workers: int | None = None) -> int:
    """Decode every existing image of a pool selection fully, in parallel; refuse the first that fails.

    Missing or refused images are left to the export's own check (which names them all).

    Returns:
        The number of distinct image files decoded.

    Raises:
        ModelInputError: how many images cannot be decoded, naming the first and a record that uses it.
    """
    from dataoptim.errors import ModelInputError
    from dataoptim.imagepath import ImageFolder
    from dataoptim.train.images import decode_all

    folder = ImageFolder(image_folder, allow_symlinks_out=allow_symlinks_out)
    files = {}
    for image in selection.images():
        try:
            full = folder.resolve(image)
        except DataOptimError:
            continue
        if full.is_file():
            files[image] = full
    failed = decode_all(files, workers=workers, progress=progress)
    if failed:
        image, detail = next(iter(failed.items()))
        table = selection.table(["id", "image"])
        rid = next((r for r, i in zip(table.column("id").to_pylist(), table.column("image").to_pylist()) if i == image), None)
        raise ModelInputError(f"{words.count(len(failed), 'image')} cannot be decoded; first {image!r} under {folder.root}: {detail}",
                              id=rid, field="image")
    return len(files)


__all__ = ["MAX_ERRORS", "ValidationReport", "check_submission", "image_hint", "require_decodable", "sniff_layout"]
