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
from typing import Any, Iterable, Mapping

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
        raise RecordError(f"must be a non-empty string, found {type(image).__name__}", field=field, **where)
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


def validate_record(record: Any, *, file: str | None = None, index: int | None = None, require_image: bool = False) -> dict:
    """Check one record against every rule of DESIGN §2.

    Rules: a JSON object; ``id`` a non-empty string of letters, digits and
    ``_ . + -`` (no spaces); ``image`` a safe relative path (:func:`check_image_path`);
    ``conversations`` a non-empty list of ``{"from", "value"}`` objects whose
    ``from`` alternates ``human``, ``gpt`` starting with ``human`` and ending
    with ``gpt``; every ``value`` a non-empty string; exactly one ``<image>``
    token in the first human turn and none anywhere else. Extra fields are allowed.

    A record without ``image`` (or with ``image`` ``None``, as an Arrow row of a
    text-only record reads) is a text-only record, as LLaVA takes them
    (``'image' in sources[0]`` decides, haotian-liu/LLaVA ``train.py``; LLaVA-v1.5's
    mix665k holds 40K of them): it must then hold no ``<image>`` token at all.

    Args:
        record: the parsed record.
        file: file it came from (for the message).
        index: 0-based position in that file.
        require_image: if True, a record without ``image`` is refused (``missing``);
            by default it is a text-only record (see above).

    Returns:
        The record, unchanged.

    Raises:
        RecordError: the first rule broken, naming file, record index, id and field.
    """
    where: dict[str, Any] = {"file": file, "record": index}
    if not isinstance(record, Mapping):
        raise RecordError(f"a record must be a JSON object, found {type(record).__name__}", **where)
    rid = record.get("id")
    if "id" not in record:
        raise RecordError("missing", field="id", **where)
    if not isinstance(rid, str) or not rid:
        raise RecordError(f"must be a non-empty string, found {short_repr(rid)}", field="id", **where)
    where["id"] = rid
    if len(rid) > MAX_ID_LENGTH:
        raise RecordError(f"is {len(rid):,} characters long, over the limit of {MAX_ID_LENGTH}", field="id", **where)
    if not _ID_RE.fullmatch(rid):
        raise RecordError("must contain only letters, digits and '_ . + -' (no spaces)", field="id", **where)
    has_image = record.get("image") is not None
    if has_image or require_image:
        if "image" not in record:
            raise RecordError("missing", field="image", **where)
        check_image_path(record["image"], **where)
    if "conversations" not in record:
        raise RecordError("missing", field="conversations", **where)
    turns = record["conversations"]
    if not isinstance(turns, list) or not turns:
        raise RecordError("must be a non-empty list of turns", field="conversations", **where)
    image_tokens = 0
    for i, turn in enumerate(turns):
        field = f"conversations[{i}]"
        if not isinstance(turn, Mapping):
            raise RecordError(f"a turn must be an object, found {type(turn).__name__}", field=field, **where)
        for key in ("from", "value"):
            if key not in turn:
                raise RecordError("missing", field=f"{field}.{key}", **where)
        expected = HUMAN if i % 2 == 0 else GPT
        if turn["from"] != expected:
            raise RecordError(f"expected {expected!r} (turns alternate human, gpt), found {short_repr(turn['from'])}", field=f"{field}.from", **where)
        value = turn["value"]
        if not isinstance(value, str):
            raise RecordError(f"must be a string, found {type(value).__name__}", field=f"{field}.value", **where)
        if not value.strip():
            raise RecordError("is empty", field=f"{field}.value", **where)
        count = value.count(IMAGE_TOKEN)
        if count and i != 0:
            raise RecordError(f"{IMAGE_TOKEN} may appear only in the first human turn", field=f"{field}.value", **where)
        image_tokens += count
    if len(turns) % 2:
        raise RecordError("the conversation must end with a 'gpt' turn", field=f"conversations[{len(turns) - 1}]", **where)
    if has_image and image_tokens != 1:
        raise RecordError(f"the first human turn must hold exactly one {IMAGE_TOKEN} token, found {image_tokens}", field="conversations[0].value", **where)
    if not has_image and image_tokens:
        raise RecordError(
            f"a record without 'image' must not contain {IMAGE_TOKEN} (a text-only record; give 'image' if it has one)",
            field="conversations[0].value", **where,
        )
    return record  # type: ignore[return-value]


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
