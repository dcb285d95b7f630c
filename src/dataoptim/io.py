"""File helpers shared by every part: atomic writes and JSON reading with located errors.

Nothing here knows about records; it only guarantees that (a) an output file
is either complete or absent (temp file in the same folder, ``fsync``, then
``os.replace``) and (b) unreadable input raises :class:`~dataoptim.errors.InputError`
naming the file, not a bare ``json.JSONDecodeError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

from dataoptim.errors import ConfigError, InputError, MissingFileError

PathLike = str | os.PathLike


def _is_blank(path: Path, limit: int = 1 << 20) -> bool:
    """True if ``path`` holds only whitespace (read up to ``limit`` bytes; a larger file is not blank)."""
    with open(path, "rb") as handle:
        head = handle.read(limit + 1)
    return len(head) <= limit and not head.strip()


def _ijson_error(exc: BaseException, path: Path, what: str) -> InputError:
    """An ijson parse error as one :class:`InputError` line: empty, not UTF-8, or not valid JSON.

    yajl's message is bytes when the input is not UTF-8, and carries a
    context snippet of the input on further lines: only its first line is kept.
    """
    raw = exc.args[0] if exc.args else str(exc)
    text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else str(raw)
    first = " ".join(text.strip().splitlines()[0].split()) if text.strip() else type(exc).__name__
    if "invalid bytes in UTF8" in first:
        return InputError(f"{what} is not UTF-8 text", file=path)
    if "premature EOF" in first and _is_blank(path):
        return InputError(f"{what} is empty", file=path)
    if "premature EOF" in first:
        return InputError(f"{what} is not valid JSON: it ends early (truncated file?)", file=path)
    if "integer overflow" in first:  # valid JSON, but the streaming parser (yajl) reads integers as 64-bit
        return InputError(f"{what} holds an integer outside the 64-bit range, which the streaming reader cannot read", file=path)
    return InputError(f"{what} is not valid JSON: {first}{_json_position(path)}", file=path)


#: Largest file parsed whole (only after a streaming parse failed) to say where its JSON breaks.
LOCATE_LIMIT = 256 << 20


def _json_position(path: Path) -> str:
    """`` (line L, column C)`` where Python's json parser finds the file's first error, or ``""`` (file too large, or no error found)."""
    try:
        if path.stat().st_size > LOCATE_LIMIT:
            return ""
        json.loads(path.read_bytes().decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        return f" (line {exc.lineno}, column {exc.colno})"
    except (OSError, UnicodeDecodeError, RecursionError, ValueError):
        return ""
    return ""


#: Deepest nesting accepted inside one element of a streamed list (a LLaVA record needs 4).
MAX_JSON_DEPTH = 64


def _open_json(path: Path) -> IO[bytes]:
    """Open ``path`` for ijson, past a UTF-8 byte-order mark if the file starts with one."""
    handle = open(path, "rb")
    if handle.read(3) != b"\xef\xbb\xbf":
        handle.seek(0)
    return handle


def _items_limited(handle: IO[bytes], max_depth: int) -> Iterator[Any]:
    """Elements of a top-level JSON list built from ijson's prefix-free events, refusing deep nesting.

    ``ijson.items`` builds a prefix string for every event, so an element nested
    thousands deep costs memory quadratic in its depth (a 400 KB file could
    take gigabytes); here the depth is counted and capped instead.
    """
    import ijson
    from ijson.common import ObjectBuilder

    depth = 0
    builder = None
    index = -1
    for event, value in ijson.basic_parse(handle, use_float=True):
        if event in ("start_map", "start_array"):
            depth += 1
            if depth == 1:
                if event != "start_array":
                    return  # not a list: no items (callers check the top level)
                continue
            if depth == 2:
                builder = ObjectBuilder()
                index += 1
            elif depth > max_depth:
                raise _DepthError(index, max_depth)
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return
            builder.event(event, value)
            if depth == 1:
                yield builder.value
                builder = None
            continue
        if depth == 1:
            yield value
        elif depth >= 2:
            builder.event(event, value)


class _DepthError(Exception):
    def __init__(self, index: int, limit: int):
        super().__init__(index, limit)
        self.index, self.limit = index, limit


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it onto ``path`` only if the block succeeds.

    Args:
        path: final file path; its parent folder is created.
        mode: ``"w"`` (text) or ``"wb"`` (binary).
        encoding: text encoding, ignored in binary mode.

    Yields:
        The open temporary file. On any exception it is deleted and ``path`` is
        left as it was (absent, or the previous complete version).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError("output path is a folder, not a file", file=path)
    made = make_parents(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        remove_made(made)
        raise ConfigError(f"output cannot be written there ({exc.strerror or exc})", file=path) from None
    except BaseException:
        remove_made(made)
        raise
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        remove_made(made)
        raise


def check_output_dir(path: PathLike, *, what: str = "output folder") -> Path:
    """Check that ``path`` can be (or already is) a folder to write into; return it as a :class:`Path`.

    Nothing is created. An existing file at ``path``, or a file where one of its
    parent folders should be, is refused.

    Raises:
        ConfigError: naming ``path``: a file is in the way.
    """
    folder = Path(path)
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                where = "is a file" if part == folder else f"cannot be made: {part} is a file"
                raise ConfigError(f"{what} {where}", file=folder)
            break
    return folder


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether ``a`` and ``b`` name one file: :func:`os.path.samefile` when both exist (hard and
    symbolic links included), else the same resolved path (``~`` expanded, ``..`` and links followed)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a link loop, a name too long: compare the names as written
        return os.path.abspath(a) == os.path.abspath(b)


def _existing_file_inside(path: PathLike, folder: PathLike, kind: str = "any") -> bool:
    """Whether ``path`` is an existing file under the existing folder ``folder`` that the folder owns
    (:func:`_folder_owns`; links followed)."""
    try:
        path, folder = Path(path).expanduser().resolve(), Path(folder).expanduser().resolve()
        return folder.is_dir() and path.is_file() and folder in path.parents and _folder_owns(kind, path, folder)
    except (OSError, RuntimeError):
        return False


#: The files of a tokenizer folder (what ``transformers`` and SentencePiece read from it).
TOKENIZER_FILES = frozenset({"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                             "config.json", "generation_config.json", "vocab.json", "merges.txt", "chat_template.jinja"})


def _folder_owns(kind: str, path: Path, folder: Path) -> bool:
    """Whether the existing file ``path`` under ``folder`` is one of the folder's own input files.

    ``pool``: its ``manifest.json`` and everything in its subfolders (index, sources, signals);
    ``tokenizer``: :data:`TOKENIZER_FILES` and ``*.model``; ``images``: a file whose header reads
    as an image (Pillow), whatever its name; any other folder: every file. A file a command
    wrote there earlier (a report, a selection) is not the folder's own, and may be written again.
    """
    if kind == "pool":
        return path.name == "manifest.json" and path.parent == folder or path.parent != folder
    if kind == "tokenizer":
        return path.name in TOKENIZER_FILES or path.suffix == ".model"
    if kind == "images":
        try:
            from PIL import Image

            with Image.open(path):
                return True
        except Exception:  # noqa: BLE001 -- not an image (or unreadable): not one the command reads as an image
            return False
    return True


def _folder_kind(label: str) -> str:
    """What an input folder is, from its option's name: ``--pool`` -> pool, ``--tokenizer`` -> tokenizer, ``--image-folder`` -> images."""
    name = label.lower()
    return "pool" if "pool" in name else "tokenizer" if "tokenizer" in name else "images" if "image" in name else "any"


def refuse_overwrite(outputs: dict[str, PathLike | None], inputs: dict[str, PathLike | None]) -> None:
    """Refuse a command whose outputs would overwrite one of its inputs or each other, before anything is read or written.

    Args:
        outputs: label -> every file the command writes (``--output``, ``--report``, a sidecar such
            as ``OUT.json.boxes.json``...); ``None`` skipped.
        inputs: label -> every file or folder the command reads; ``None`` skipped.
            An input folder's own files count as inputs (:func:`_folder_owns`; its kind from the
            label: a pool, a tokenizer, images).

    Raises:
        ConfigError: naming the output and the input (or the other output) that are one file
            (:func:`same_file`), or an output that is an existing file inside an input folder (a
            pool's manifest, an image, a tokenizer file): writing would destroy the input, silently.
    """
    seen: list[tuple[str, PathLike]] = []
    for label, path in outputs.items():
        if path is None:
            continue
        for in_label, in_path in inputs.items():
            if in_path is not None and same_file(path, in_path):
                raise ConfigError(f"the same file as {in_label} {in_path}: writing it would destroy that input; write to another file",
                                  file=path, field=label)
            if in_path is not None and _existing_file_inside(path, in_path, _folder_kind(in_label)):
                raise ConfigError(f"an existing file inside {in_label} {in_path} (a pool, image or tokenizer file): writing it would destroy "
                                  "that input; write to another file", file=path, field=label)
        for other_label, other in seen:
            if same_file(path, other):
                raise ConfigError(f"{label} names the same file as {other_label}", file=path, field=label)
        seen.append((label, path))


def make_output_dir(path: PathLike, *, what: str = "output folder") -> Path:
    """Create the folder ``path`` (and its parents) after :func:`check_output_dir`; return it.

    Raises:
        ConfigError: naming ``path``: a file is in the way, or the folder cannot be made (permissions, ...).
    """
    folder = check_output_dir(path, what=what)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what} cannot be made ({exc.strerror or exc})", file=folder) from None
    return folder


def make_parents(path: PathLike) -> list[Path]:
    """Create the missing parent folders of ``path``; return those made (outermost first), for :func:`remove_made`."""
    missing = []
    parent = Path(path).parent
    while not parent.exists() and parent.parent != parent:
        missing.append(parent)
        parent = parent.parent
    made = []
    try:
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:  # made meanwhile by someone else: not ours to remove
                continue
            made.append(folder)
    except OSError as exc:
        remove_made(made)
        raise ConfigError(f"output folder cannot be made ({exc.strerror or exc})", file=path) from None
    except BaseException:
        remove_made(made)
        raise
    if not Path(path).parent.is_dir():
        remove_made(made)
        raise ConfigError("output folder cannot be made: a file is in the way", file=path)
    return made


def remove_made(made: list[Path]) -> None:
    """Remove folders made by :func:`make_parents` again, innermost first, where still empty (a failed write leaves none)."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


def write_json(path: PathLike, obj: Any, *, indent: int | None = None) -> Path:
    """Write ``obj`` as UTF-8 JSON (``ensure_ascii=False``) atomically; return the path."""
    with atomic_write(path) as handle:
        json.dump(obj, handle, ensure_ascii=False, indent=indent)
    return Path(path)


def require_file(path: PathLike, what: str = "file") -> Path:
    """Return ``path`` as a :class:`Path`, raising :class:`MissingFileError` if it is not a file."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{what} not found", file=path)
    return path


def read_json(path: PathLike, *, expect: type | tuple[type, ...] | None = None, what: str = "JSON file") -> Any:
    """Load a whole JSON file, with errors that name the file.

    Args:
        path: the file.
        expect: the type the top level must have (``dict``/``list``), if any.
        what: words for the file in messages (e.g. ``"VQAv2 questions file"``).

    Raises:
        MissingFileError: the file does not exist.
        InputError: not UTF-8, not JSON (with line and column), empty, or the top level has the wrong type.
    """
    path = require_file(path, what)
    try:
        with open(path, encoding="utf-8-sig") as handle:
            obj = json.load(handle)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start})", file=path) from None
    except json.JSONDecodeError as exc:
        reason = "is empty" if exc.doc.strip() == "" else f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise InputError(f"{what} {reason}", file=path) from None
    except RecursionError:
        raise InputError(f"{what} is nested too deeply", file=path) from None
    if expect is not None and not isinstance(obj, expect):
        names = " or ".join(t.__name__ for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise InputError(f"{what} must hold a JSON {names} at the top level, found {type(obj).__name__}", file=path)
    return obj


def iter_jsonl(path: PathLike, *, what: str = "JSONL file") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_index, object)`` for each non-blank line of a JSON Lines file.

    Raises:
        MissingFileError, InputError: as :func:`read_json`; ``record`` is the line index (0-based).
    """
    path = require_file(path, what)
    with open(path, "rb") as handle:
        for index, raw in enumerate(handle):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.rstrip(b"\r\n").decode("utf-8-sig" if index == 0 else "utf-8"))  # columns within the line
            except UnicodeDecodeError:
                raise InputError(f"line {index + 1} is not UTF-8 text", file=path, record=index) from None
            except RecursionError:
                raise InputError(f"line {index + 1} is nested too deeply", file=path, record=index) from None
            except json.JSONDecodeError as exc:
                raise InputError(f"line {index + 1} is not valid JSON: {exc.msg} (column {exc.colno})", file=path, record=index) from None
            if not isinstance(obj, dict):
                raise InputError(f"line {index + 1} must be a JSON object, found {type(obj).__name__}", file=path, record=index)
            yield index, obj


def iter_json_items(path: PathLike, prefix: str = "item", *, what: str = "JSON file") -> Iterator[Any]:
    """Stream the elements of a large JSON array (or the values under ``prefix``) with ``ijson``.

    Memory stays at one element, whatever the file size. ``prefix`` follows
    ijson's syntax: ``"item"`` for a top-level list, ``"data.item"`` for
    ``{"data": [...]}``. Numbers come back as ``int`` or ``float`` (not ``Decimal``).

    Raises:
        MissingFileError: the file does not exist.
        InputError: the JSON is malformed or truncated (names the file).
    """
    import ijson

    path = require_file(path, what)
    with _open_json(path) as handle:
        try:
            if prefix == "item":
                yield from _items_limited(handle, MAX_JSON_DEPTH)
            else:
                yield from ijson.items(handle, prefix, use_float=True)
        except _DepthError as exc:
            raise InputError(f"{what}: element nested deeper than {exc.limit} levels", file=path, record=exc.index) from None
        except ijson.JSONError as exc:
            raise _ijson_error(exc, path, what) from None
        except UnicodeDecodeError:
            raise InputError(f"{what} is not UTF-8 text", file=path) from None


def iter_json_kvitems(path: PathLike, prefix: str = "", *, what: str = "JSON file") -> Iterator[tuple[str, Any]]:
    """Stream ``(key, value)`` pairs of a large JSON object (GQA, OCR-VQA layouts) with ``ijson``.

    Raises:
        MissingFileError, InputError: as :func:`iter_json_items`.
    """
    import ijson

    path = require_file(path, what)
    with _open_json(path) as handle:
        try:
            yield from ijson.kvitems(handle, prefix, use_float=True)
        except ijson.JSONError as exc:
            raise _ijson_error(exc, path, what) from None
        except UnicodeDecodeError:
            raise InputError(f"{what} is not UTF-8 text", file=path) from None


_JSON_KINDS = {"start_map": "an object", "start_array": "a list", "string": "a string", "number": "a number", "boolean": "a boolean", "null": "null"}


def _checked_if_empty(stream: Iterator[Any], check) -> Iterator[Any]:
    """Yield ``stream``; if it gave nothing, run ``check()`` (which raises on a file of the wrong layout)."""
    empty = True
    for item in stream:
        empty = False
        yield item
    if empty:
        check()


def iter_json_list(path: PathLike, key: str, *, what: str = "JSON file") -> Iterator[Any]:
    """Stream the items of the list under top-level ``key`` of a JSON object: ``{key: [...], ...}``.

    Like :func:`iter_json_items` with prefix ``"{key}.item"`` (memory: one item),
    but a file of the wrong layout is an error instead of zero items: when no
    item came out, the file is checked (one more streaming pass, only then).

    Raises:
        MissingFileError: the file does not exist.
        InputError: malformed JSON; the top level is not an object; it has no
            ``key`` (the message lists the keys it has); or ``key`` does not hold a list.
    """
    yield from _checked_if_empty(iter_json_items(path, f"{key}.item", what=what), lambda: check_json_list(path, key, what=what))


def check_json_list(path: PathLike, key: str, *, what: str = "JSON file") -> None:
    """Check that ``path`` holds a JSON object whose top-level ``key`` is a list; stream, stop early.

    Raises:
        MissingFileError, InputError: as :func:`iter_json_list`.
    """
    import ijson

    path = require_file(path, what)
    with _open_json(path) as handle:
        try:
            events = ijson.parse(handle, use_float=True)
            first = next(events, None)
            if first is None:
                raise InputError(f"{what} is empty", file=path)
            if first[1] != "start_map":
                raise InputError(f"{what} must hold a JSON object with key {key!r} at the top level, found {_JSON_KINDS.get(first[1], first[1])}", file=path, field=key)
            keys = []
            for prefix, event, value in events:
                if prefix == "" and event == "map_key":
                    if value == key:
                        kind = next(events)[1]
                        if kind != "start_array":
                            raise InputError(f"{what}: {key!r} must hold a list, found {_JSON_KINDS.get(kind, kind)}", file=path, field=key)
                        return
                    keys.append(value)
        except ijson.JSONError as exc:
            raise _ijson_error(exc, path, what) from None
        except UnicodeDecodeError:
            raise InputError(f"{what} is not UTF-8 text", file=path) from None
    raise InputError(f"{what} has no key {key!r} at the top level (it has: {', '.join(map(repr, keys)) or 'none'})", file=path, field=key)


def iter_json_object(path: PathLike, *, what: str = "JSON file") -> Iterator[tuple[str, Any]]:
    """Stream ``(key, value)`` pairs of a file whose top level is a JSON object (GQA, OCR-VQA layouts).

    Like :func:`iter_json_kvitems` with prefix ``""`` (memory: one value), but
    a file of the wrong layout (a list, a string...) is an error instead of
    zero pairs: when no pair came out, the top level is checked (first token only).

    Raises:
        MissingFileError: the file does not exist.
        InputError: malformed JSON, or the top level is not an object.
    """
    yield from _checked_if_empty(iter_json_kvitems(path, "", what=what), lambda: check_json_top(path, dict, what=what))


def iter_json_array(path: PathLike, *, what: str = "JSON file") -> Iterator[Any]:
    """Stream the items of a file whose top level is a JSON list (A-OKVQA layout).

    Like :func:`iter_json_items` with prefix ``"item"``, but a file of the wrong
    layout is an error instead of zero items (see :func:`iter_json_object`).

    Raises:
        MissingFileError: the file does not exist.
        InputError: malformed JSON, or the top level is not a list.
    """
    yield from _checked_if_empty(iter_json_items(path, "item", what=what), lambda: check_json_top(path, list, what=what))


def check_json_top(path: PathLike, expect: type, *, what: str = "JSON file") -> None:
    """Check that the top level of a JSON file is ``expect`` (``dict`` or ``list``), reading only its first token.

    Raises:
        MissingFileError: the file does not exist.
        InputError: the file is empty, not JSON, or its top level is something else.
    """
    import ijson

    want = {dict: "start_map", list: "start_array"}[expect]
    path = require_file(path, what)
    with _open_json(path) as handle:
        try:
            first = next(ijson.parse(handle, use_float=True), None)
        except ijson.IncompleteJSONError:
            first = None
        except ijson.JSONError as exc:
            raise _ijson_error(exc, path, what) from None
        except UnicodeDecodeError:
            raise InputError(f"{what} is not UTF-8 text", file=path) from None
    if first is None:
        raise InputError(f"{what} is empty", file=path)
    if first[1] != want:
        raise InputError(f"{what} must hold {_JSON_KINDS[want]} at the top level, found {_JSON_KINDS.get(first[1], first[1])}", file=path)
