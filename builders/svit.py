"""SVIT (Zhao et al., 2023): GPT-4 instruction data about Visual Genome images, in four parts.

Original files (BAAI/SVIT on the Hugging Face hub, one zip each): ``conversation.json``,
``complex_reasoning.json``, ``detail_description.json``, ``referring_qa.json``.
Each is a JSON list, one entry per image: ``{"image_id": 1, "conversations":
[{"content": [{"from": "user", "value": "..."}, {"from": "gpt", "value": "..."}, ...]}, ...]}``
(layout as read by SVIT's own ``tools/expand_to_square.py`` in
BAAI-DCAI/Visual-Instruction-Tuning). A conversation-part entry holds several
multi-turn conversations; a complex-reasoning or referring entry holds one
question and answer per conversation; a detail entry holds one description
with the instruction SVIT sampled for it.

Records: one per element of ``conversations``, numbered within the part in file
order: ``svit_{part}_{i}`` with part ``conversation``, ``complex``, ``detail`` or
``referring`` (``svit_detail_0`` is the first image's description). ``user``
turns become ``human``; ``<image>\\n`` is put before the first question; texts
are otherwise unchanged, except in referring QAs, where the object marks
``<st>…<ed>`` are dropped: ``the <st>clock<ed> [0.526, 0.152, 0.625, 0.717]`` →
``the clock [0.526, 0.152, 0.625, 0.717]``. Those boxes are already normalised by
the original image (SVIT gave GPT-4 boxes in [0, 1] and asked for them back in
``[x1, y1, x2, y2]`` form) and are kept as written. The image is
``visual_genome/{image_id}.jpg``.

Configs: ``svit`` (all four parts; needs the four files) and ``svit_conversation``,
``svit_complex``, ``svit_detail``, ``svit_referring``. With DataOptim's converted
``svit.json`` a part config keeps the records whose id names its part.
SVIT's all-in-one ``svit.json`` has the same name as DataOptim's file and is not read: use the four part files.

Table path (:func:`part_tables`): each part file is split into entries with
``msgspec`` and parsed :data:`ENTRY_BATCH` entries at a time by ``pyarrow.json``
into list columns (:data:`ENTRY_SCHEMA`, strict types); the turns are the
flattened columns (speakers mapped, object marks dropped with
``replace_substring``, ``<image>\\n`` put before a first turn without it) and the
records a list array over them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim import columns
from dataoptim.builder import SourceBuilder, SourceConfig, TablePathFailed, annotation_errors, list_pieces, read_objects
from dataoptim.errors import ConfigError
from dataoptim.io import iter_json_array
from dataoptim.records import IMAGE_TOKEN, check_image_path, make_record, validate_record

#: Part (as in ids and config names) -> SVIT file name, in the order ``svit`` reads them.
SVIT_FILES = {
    "conversation": "conversation.json",
    "complex": "complex_reasoning.json",
    "detail": "detail_description.json",
    "referring": "referring_qa.json",
}
#: SVIT's speaker names -> LLaVA's.
ROLES = {"user": "human", "human": "human", "gpt": "gpt"}
OBJECT_MARKS = ("<st>", "<ed>")


#: Entries (images) decoded at a time by the table path; a conversation-part entry holds several records.
ENTRY_BATCH = 20_000


#: How the table path reads an entry: only ``image_id`` and the turns, straight into Arrow (``pyarrow.json``).
ENTRY_SCHEMA = pa.schema([
    ("image_id", pa.int64()),
    ("conversations", pa.list_(pa.struct([("content", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())])))]))),
])


def read_entries(raws: list) -> pa.Table:
    """Entries (``msgspec.Raw`` views) parsed into :data:`ENTRY_SCHEMA` by :func:`dataoptim.builder.read_objects`."""
    return read_objects(raws, ENTRY_SCHEMA)


def part_tables(part: str, path: Path) -> Iterator[pa.Table]:
    """The table path of :func:`entry_records` over a whole part file: records ``svit_{part}_{i}`` in file order.

    The file is read in pieces and split into entries (:func:`~dataoptim.builder.list_pieces`, bounded
    memory), :data:`ENTRY_BATCH` entries are parsed at a time by ``pyarrow.json`` (no Python object per turn), and the records are built from the
    flattened list columns.

    Raises:
        TablePathFailed, ArrowInvalid, msgspec errors: an unknown speaker, an empty conversation, a
        missing field, a negative or string image id, a wrong type: anything the row path must decide.
    """
    speakers = pa.array(list(ROLES), type=pa.string())
    mapped = pa.array(list(ROLES.values()), type=pa.string())
    count = 0
    for entries in (read_entries(piece[start:start + ENTRY_BATCH]) for piece in list_pieces(path) for start in range(0, len(piece), ENTRY_BATCH)):
        image_ids, convs = entries.column("image_id").combine_chunks(), entries.column("conversations").combine_chunks()
        if image_ids.null_count or convs.null_count:
            raise TablePathFailed("an entry without image_id or conversations")
        conversation = convs.flatten()
        if conversation.null_count or conversation.field("content").null_count:
            raise TablePathFailed("a conversation without content")
        content = conversation.field("content")
        if len(content) == 0:
            continue
        lengths = pc.list_value_length(content).to_numpy(zero_copy_only=False)
        ids = image_ids.take(pc.list_parent_indices(convs)).to_numpy(zero_copy_only=False)
        turns = content.flatten()
        if (lengths == 0).any() or ids.min() < 0 or turns.null_count or turns.field("from").null_count or turns.field("value").null_count:
            raise TablePathFailed("an empty conversation, a turn without 'from' or 'value', or a negative image id")
        speaker = pc.index_in(turns.field("from"), value_set=speakers)
        if speaker.null_count:
            raise TablePathFailed("an unknown speaker")
        text = turns.field("value")
        if part == "referring":
            for mark in OBJECT_MARKS:
                text = pc.replace_substring(text, mark, "")
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # '<image>\n' before each first turn without it: only the first turns are searched and copied,
        # then one take puts the new first turns in place
        firsts = text.take(pa.array(offsets[:-1]))
        needs = np.flatnonzero(columns.token_counts(firsts, IMAGE_TOKEN) == 0)
        if len(needs):
            fixed = pc.binary_join_element_wise(f"{IMAGE_TOKEN}\n", firsts.take(pa.array(needs)), "")
            order = np.arange(len(text), dtype=np.int64)
            order[offsets[:-1][needs]] = len(text) + np.arange(len(needs))
            text = pa.concat_arrays([columns.as_string_array(text), fixed]).take(pa.array(order))
        n = len(lengths)
        yield columns.record_table(
            columns.prefixed(f"svit_{part}_", pa.array(np.arange(count, count + n))),
            columns.concat("visual_genome/", pa.array(ids), ".jpg"),
            columns.conversations(offsets, text, mapped.take(speaker)),
            source="svit", task="instruct", image_id=pa.array(ids),
        )
        count += n


def image_path(image_id: int | str) -> str:
    """``visual_genome/{image_id}.jpg``.

    Raises:
        ValueError: ``image_id`` is not a whole number (or its decimal string).
    """
    if isinstance(image_id, bool) or not isinstance(image_id, (int, str)) or not str(image_id).isdigit():
        raise ValueError(f"'image_id' must be a Visual Genome image number, found {image_id!r}")
    return check_image_path(f"visual_genome/{int(image_id)}.jpg", field="image_id")


def conversation_to_record(part: str, index: int, image_id: int | str, conversation: Mapping[str, Any]) -> dict[str, Any]:
    """One element of an SVIT entry's ``conversations`` → record ``svit_{part}_{index}``.

    Raises:
        KeyError: ``content``, ``from`` or ``value`` missing. ValueError: an unknown speaker or a non-text value.
        RecordError: the turns break the record rules (order, empty value, ``<image>`` elsewhere).
    """
    turns = conversation["content"]
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"'content' must be a non-empty list of turns, found {turns!r}")
    out = []
    for i, turn in enumerate(turns):
        speaker, value = turn["from"], turn["value"]
        if speaker not in ROLES:
            raise ValueError(f"turn {i}: speaker must be one of {', '.join(ROLES)}, found {speaker!r}")
        if not isinstance(value, str):
            raise ValueError(f"turn {i}: 'value' must be text, found {type(value).__name__}")
        if part == "referring":
            for mark in OBJECT_MARKS:
                value = value.replace(mark, "")
        if i == 0 and IMAGE_TOKEN not in value:
            value = f"{IMAGE_TOKEN}\n{value}"
        out.append({"from": ROLES[speaker], "value": value})
    record = make_record(f"svit_{part}_{index}", image_path(image_id), out, source="svit", task="instruct", image_id=int(image_id))
    return validate_record(record)


def entry_records(part: str, entry: Mapping[str, Any], start: int) -> list[dict[str, Any]]:
    """The records of one SVIT entry (one image), numbered from ``start``.

    Raises:
        KeyError, ValueError, RecordError: as :func:`conversation_to_record`; ``conversations`` not a list.
    """
    conversations = entry["conversations"]
    if not isinstance(conversations, list):
        raise ValueError(f"'conversations' must be a list, found {type(conversations).__name__}")
    return [conversation_to_record(part, start + k, entry["image_id"], c) for k, c in enumerate(conversations)]


def svit_configs() -> list[SourceConfig]:
    version = datasets.Version("1.0.0")
    return [SourceConfig(name="svit", version=version, description="SVIT, all four parts")] + [
        SourceConfig(name=f"svit_{part}", version=version, subset=part, description=f"SVIT {file}") for part, file in SVIT_FILES.items()
    ]


class SVIT(SourceBuilder):
    """SVIT as LLaVA records: 2,992,799 in DataOptim's release (config ``svit``), and each part alone."""

    SOURCE = "svit"
    BUILDER_CONFIGS = svit_configs()
    ORIGINAL_FILES = {"train": {part: (file,) for part, file in SVIT_FILES.items()}}
    #: Each part file gives its own records (numbered within the part): a pool build's workers build them apart.
    UNIT_ROLES = tuple(SVIT_FILES)
    DESCRIPTION = "SVIT: GPT-4 generated conversations, complex reasoning, detailed descriptions and referring QAs about Visual Genome images."
    HOMEPAGE = "https://github.com/BAAI-DCAI/Visual-Instruction-Tuning"
    LICENSE = "CC BY 4.0 (SVIT data); must abide by OpenAI's terms of use; images: Visual Genome (CC BY 4.0)"
    CITATION = """@article{zhao2023svit,
  title={SVIT: Scaling up Visual Instruction Tuning},
  author={Zhao, Bo and Wu, Boya and Huang, Tiejun},
  journal={arXiv preprint arXiv:2307.04087},
  year={2023}
}"""
    DOWNLOAD = "https://huggingface.co/datasets/BAAI/SVIT (data/conversation.zip, complex_reasoning.zip, detail_description.zip, referring_qa.zip; unzip into data_dir)"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        subset = self.config.subset
        if subset is not None and subset not in SVIT_FILES:
            raise ConfigError(f"subset must be one of {', '.join(SVIT_FILES)}, got {subset!r}", field="subset")
        if subset is not None:  # a part config needs only its file (an instance attribute shadows the class's table)
            self.ORIGINAL_FILES = {"train": {subset: (SVIT_FILES[subset],)}}

    def keep_converted(self, record: Mapping[str, Any]) -> bool:
        return self.config.subset is None or record["id"].startswith(f"svit_{self.config.subset}_")

    def converted_mask(self, table: pa.Table) -> pa.Array | None:
        return None if self.config.subset is None else pc.starts_with(table.column("id"), f"svit_{self.config.subset}_")

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        for part in SVIT_FILES:
            if part in files:
                yield from part_tables(part, files[part])

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        for part in SVIT_FILES:
            if part not in files:
                continue
            path, count = files[part], 0
            for index, entry in enumerate(iter_json_array(path, what=f"SVIT {SVIT_FILES[part]}")):
                with annotation_errors(path, index, f"[{index}]"):
                    records = entry_records(part, entry, count)
                count += len(records)
                yield from records
