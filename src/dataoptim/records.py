"""The record: one training sample in LLaVA's conversation format (DESIGN §2).

A record is a dict ``{"id", "image", "conversations", ...}`` as in LLaVA's
``docs/Data.md`` (haotian-liu/LLaVA). Every builder emits the columns in
:data:`COLUMNS`; the LLaVA JSON export keeps only :data:`LLAVA_FIELDS`.

This module imports neither ``datasets`` nor ``torch``: :func:`features` builds
the ``datasets.Features`` on demand, :func:`arrow_schema` the pyarrow schema.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any, Iterable, Iterator, Mapping

from dataoptim.errors import RecordError

IMAGE_TOKEN = "<image>"
HUMAN, GPT = "human", "gpt"

#: Fields of a LLaVA training record, in LLaVA's order.
LLAVA_FIELDS = ("id", "image", "conversations")
#: Every column a builder emits; the last four are nullable native keys kept for filtering.
COLUMNS = ("id", "image", "conversations", "source", "task", "question_id", "image_id", "width", "height")
#: Task names used in the ``task`` column.
#: ``mixed`` is LLaVA-v1.5's mix665k, whose records are of many kinds (VQA, REC/REG, OCR, text-only chat).
TASKS = ("caption", "vqa", "mcvqa", "rec", "reg", "dialogue", "instruct", "mixed")

#: C0 and C1 controls, DEL, line/paragraph separators, bidirectional overrides and isolates, BOM.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
#: Longest id accepted (DataOptim's longest are ~30 characters: ``aokvqa_`` + 22).
MAX_ID_LENGTH = 256
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for messages about untrusted values (a 20 MB path stays short)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def features():
    """Return the ``datasets.Features`` of a record (every builder shares it).

    ``conversations`` is a list of ``{"from": string, "value": string}`` structs;
    ``width``/``height`` are ``int32`` pixels of the original image or null.
    """
    import datasets

    string = datasets.Value("string")
    return datasets.Features(
        {
            "id": string,
            "image": string,
            "conversations": datasets.List({"from": string, "value": string}),
            "source": string,
            "task": string,
            "question_id": string,
            "image_id": string,
            "width": datasets.Value("int32"),
            "height": datasets.Value("int32"),
        }
    )


def arrow_schema():
    """Return the pyarrow schema matching :func:`features` (used by the pool without ``datasets``)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("image", pa.string()),
            ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
            ("source", pa.string()),
            ("task", pa.string()),
            ("question_id", pa.string()),
            ("image_id", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
        ]
    )


def make_record(
    id: str,
    image: str | None,
    conversations: list[dict[str, str]],
    *,
    source: str,
    task: str,
    question_id: Any = None,
    image_id: Any = None,
    width: int | None = None,
    height: int | None = None,
) -> dict[str, Any]:
    """Assemble a record with every column of :data:`COLUMNS` (native keys stored as strings or ``None``).

    ``image`` is ``None`` for a text-only record (LLaVA-v1.5's ShareGPT conversations).
    """
    return {
        "id": id,
        "image": image,
        "conversations": conversations,
        "source": source,
        "task": task,
        "question_id": None if question_id is None else str(question_id),
        "image_id": None if image_id is None else str(image_id),
        "width": None if width is None else int(width),
        "height": None if height is None else int(height),
    }


def two_turns(question: str, answer: str) -> list[dict[str, str]]:
    """A one-exchange conversation: ``[{"from": "human", ...}, {"from": "gpt", ...}]``."""
    return [{"from": HUMAN, "value": question}, {"from": GPT, "value": answer}]


def check_image_path(image: Any, *, field: str = "image", **where) -> str:
    """Check that ``image`` is a relative, ``/``-separated path that stays inside the image folder.

    Refuses absolute paths (``/x``, ``C:\\x``), backslashes, ``..`` segments,
    empty segments and control characters.

    Returns:
        The path, unchanged.

    Raises:
        RecordError: naming ``field`` and whatever location ``where`` gives (file, record, id).
    """
    if not isinstance(image, str) or not image:
        found = "an empty string" if isinstance(image, str) else type(image).__name__
        raise RecordError(f"must be a non-empty string, found {found}", field=field, **where)
    if "\\" in image:
        raise RecordError(f"image path {short_repr(image)} must use '/' separators", field=field, **where)
    if image.startswith("/") or re.match(r"^[A-Za-z]:", image):
        raise RecordError(f"image path {short_repr(image)} must be relative to the image folder", field=field, **where)
    if _CONTROL_RE.search(image):
        raise RecordError(f"image path {short_repr(image)} contains control characters", field=field, **where)
    parts = image.split("/")
    if any(part in ("", ".", "..") for part in parts) or posixpath.normpath(image) != image:
        raise RecordError(f"image path {short_repr(image)} must stay inside the image folder (no '..', '.' or empty parts)", field=field, **where)
    return image


#: The problem of ``"image": null`` in a LLaVA JSON file: LLaVA 744cb3e's ``LazySupervisedDataset`` tests
#: ``'image' in sources[0]`` and would then open ``None``; a text-only record leaves the key out.
NULL_IMAGE = "is null; a text-only record has no 'image' field at all"


def validate_record(record: Any, *, file: str | None = None, index: int | None = None, require_image: bool = False,
                    null_image: bool = False) -> dict:
    """Check one record against every rule of DESIGN §2.

    Rules: a JSON object; ``id`` a non-empty string of letters, digits and
    ``_ . + -`` (no spaces); ``image`` a safe relative path (:func:`check_image_path`);
    ``conversations`` a non-empty list of ``{"from", "value"}`` objects whose
    ``from`` alternates ``human``, ``gpt`` starting with ``human`` and ending
    with ``gpt``; every ``value`` a non-empty string; exactly one ``<image>``
    token in the first human turn and none anywhere else. Extra fields are allowed.

    A record without ``image`` is a text-only record, as LLaVA takes them
    (``'image' in sources[0]`` decides, haotian-liu/LLaVA 744cb3e ``train.py``
    ``LazySupervisedDataset``; LLaVA-v1.5's mix665k holds 40K of them): it must then hold
    no ``<image>`` token at all. ``image`` ``None`` is read the same way by default (an Arrow
    row of a text-only record reads so); in a LLaVA JSON file, where LLaVA would find the key
    and open ``None``, ``null_image=True`` refuses it (:data:`NULL_IMAGE`).

    Args:
        record: the parsed record.
        file: file it came from (for the message).
        index: 0-based position in that file.
        require_image: if True, a record without ``image`` is refused (``missing``);
            by default it is a text-only record (see above).
        null_image: refuse ``"image": null`` (records read from a LLaVA JSON / JSON Lines file).

    Returns:
        The record, unchanged.

    Raises:
        RecordError: the first rule broken, naming file, record index, id and field
            (:func:`record_problems` gives them all).
    """
    for problem in record_problems(record, file=file, index=index, require_image=require_image, null_image=null_image):
        raise problem
    return record  # type: ignore[return-value]


def record_problems(record: Any, *, file: str | None = None, index: int | None = None, require_image: bool = False,
                    null_image: bool = False) -> Iterator[RecordError]:
    """Every rule a record breaks (see :func:`validate_record`), one :class:`RecordError` per field, in field order.

    A field gives its first problem only; turns out of order give one problem (at the first
    turn out of place: the later ones follow from it). The first problem yielded is the one
    :func:`validate_record` raises, with the same message.

    Yields:
        RecordError naming file, record index, id (when it is a valid id) and field.
    """
    where: dict[str, Any] = {"file": file, "record": index}
    if not isinstance(record, Mapping):
        yield RecordError(f"a record must be a JSON object, found {type(record).__name__}", **where)
        return
    rid = record.get("id")
    if "id" not in record:
        yield RecordError("missing", field="id", **where)
    elif not isinstance(rid, str) or not rid:
        yield RecordError(f"must be a non-empty string, found {short_repr(rid)}", field="id", **where)
    else:
        where["id"] = rid  # named in every message from here on, as validate_record always did
        if len(rid) > MAX_ID_LENGTH:
            yield RecordError(f"is {len(rid):,} characters long, over the limit of {MAX_ID_LENGTH}", field="id", **where)
        elif not _ID_RE.fullmatch(rid):
            yield RecordError("must contain only letters, digits and '_ . + -' (no spaces)", field="id", **where)
    has_image: bool | None = record.get("image") is not None
    if null_image and "image" in record and record["image"] is None:
        yield RecordError(NULL_IMAGE, field="image", **where)
        has_image = None  # neither an image record nor a text-only one: its <image> tokens are not judged
    elif has_image or require_image:
        if "image" not in record:
            yield RecordError("missing", field="image", **where)
        else:
            try:
                check_image_path(record["image"], **where)
            except RecordError as exc:
                yield exc
    if "conversations" not in record:
        yield RecordError("missing", field="conversations", **where)
        return
    turns = record["conversations"]
    if not isinstance(turns, list) or not turns:
        yield RecordError("must be a non-empty list of turns", field="conversations", **where)
        return
    image_tokens = 0
    out_of_order = False
    for i, turn in enumerate(turns):
        field = f"conversations[{i}]"
        if not isinstance(turn, Mapping):
            yield RecordError(f"a turn must be an object, found {type(turn).__name__}", field=field, **where)
            continue
        for key in ("from", "value"):
            if key not in turn:
                yield RecordError("missing", field=f"{field}.{key}", **where)
        expected = HUMAN if i % 2 == 0 else GPT
        if "from" in turn and turn["from"] != expected and not out_of_order:
            out_of_order = True
            yield RecordError(f"expected {expected!r} (turns alternate human, gpt), found {short_repr(turn['from'])}", field=f"{field}.from", **where)
        if "value" not in turn:
            continue
        value = turn["value"]
        if not isinstance(value, str):
            yield RecordError(f"must be a string, found {type(value).__name__}", field=f"{field}.value", **where)
        elif not value.strip():
            yield RecordError("is empty", field=f"{field}.value", **where)
        elif i != 0 and IMAGE_TOKEN in value:
            yield RecordError(f"{IMAGE_TOKEN} may appear only in the first human turn", field=f"{field}.value", **where)
        elif i == 0:
            image_tokens = value.count(IMAGE_TOKEN)
    if len(turns) % 2:
        yield RecordError("the conversation must end with a 'gpt' turn", field=f"conversations[{len(turns) - 1}]", **where)
    first_ok = isinstance(turns[0], Mapping) and isinstance(turns[0].get("value"), str)
    if has_image and first_ok and image_tokens != 1:
        yield RecordError(f"the first human turn must hold exactly one {IMAGE_TOKEN} token, found {image_tokens}", field="conversations[0].value", **where)
    if has_image is False and image_tokens:
        yield RecordError(
            f"a record without 'image' must not contain {IMAGE_TOKEN} (a text-only record; give 'image' if it has one)",
            field="conversations[0].value", **where,
        )


def validate_records(records: Iterable[Any], *, file: str | None = None) -> Iterable[dict]:
    """Validate a stream of records (see :func:`validate_record`) and check ids are unique.

    Yields each record after it passes. Memory: one set of ids.

    Raises:
        RecordError: first broken rule, or a repeated id (naming both positions).
    """
    seen: dict[str, int] = {}
    for index, record in enumerate(records):
        validate_record(record, file=file, index=index)
        rid = record["id"]
        if rid in seen:
            raise RecordError(f"duplicate id, first used by record {seen[rid]}", file=file, record=index, id=rid, field="id")
        seen[rid] = index
        yield record


def to_llava(record: Mapping[str, Any]) -> dict[str, Any]:
    """Keep only LLaVA's three fields (``id``, ``image``, ``conversations``) of a record, in that order."""
    out = {"id": record["id"]}
    if record.get("image") is not None:
        out["image"] = record["image"]
    out["conversations"] = [{"from": t["from"], "value": t["value"]} for t in record["conversations"]]
    return out
