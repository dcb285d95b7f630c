"""One harness for all source builders (DESIGN §12, after TFDS's ``DatasetBuilderTestCase``).

A builder's test declares a :class:`BuilderCase` — config, the fixture files to
put in a data folder (under their published names), expected split sizes, and
golden records — and calls :func:`check_case`. The harness builds the source
through ``load_dataset("dataoptim", config, data_dir=...)`` (so registration
is tested every time), checks every record against the record rules, checks
ids are unique and prefixed, and compares golden records field by field.

Golden records from DataOptim's ``example-byod.json`` are compared exactly,
except where the prompt was a random pick among fixed choices: then the
expected human turn is checked to be one of the allowed prompts.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import dataoptim  # noqa: F401  (registers the builder)
from dataoptim import records

FIXTURES = Path(__file__).parent / "fixtures"


def example_records() -> dict[str, dict]:
    """DataOptim's official BYOD example records, by id."""
    return {r["id"]: r for r in json.loads((FIXTURES / "examples" / "example-byod.json").read_text())}


@dataclass
class BuilderCase:
    """What one builder config must produce from one set of fixture files.

    Attributes:
        config: config name passed to ``load_dataset("dataoptim", config)``.
        files: file name in the data folder -> fixture path relative to ``tests/fixtures``.
        split_sizes: split -> number of records expected.
        golden: id -> expected record (any subset of columns; ``conversations`` compared turn by turn).
        prompt_choices: if set, ``f(expected_human_turn) -> allowed human turns``; the first human
            turn of a golden record must be one of them instead of equal to the expected one.
        config_kwargs: extra keyword arguments for the config (``layout``, ``subset``, ...).
    """

    config: str
    files: dict[str, str]
    split_sizes: dict[str, int]
    golden: dict[str, dict] = field(default_factory=dict)
    prompt_choices: Callable[[str], Sequence[str]] | None = None
    config_kwargs: dict[str, Any] = field(default_factory=dict)


def make_data_dir(case: BuilderCase, root: Path) -> Path:
    """Copy the case's fixture files into ``root/data`` under their published names."""
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, fixture in case.files.items():
        dest = data_dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / fixture, dest)
    return data_dir


def build(case: BuilderCase, root: Path):
    """Build the case through ``load_dataset`` (offline, cache under ``root``) and return the DatasetDict."""
    from datasets import load_dataset

    data_dir = make_data_dir(case, root)
    return load_dataset("dataoptim", case.config, data_dir=str(data_dir), cache_dir=str(root / "cache"), **case.config_kwargs)


def build_from(config: str, files: dict[str, Any], root: Path, **config_kwargs):
    """Build ``config`` from files given by content, for bad-input tests; returns the DatasetDict.

    ``files``: file name -> ``str``/``bytes`` (written as is) or any other value
    (written as JSON). The files go to ``root/data``; the cache to ``root/cache``.
    Whatever the builder raises propagates (use ``pytest.raises``).
    """
    from datasets import load_dataset

    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        dest = data_dir / name
        if isinstance(content, bytes):
            dest.write_bytes(content)
        else:
            dest.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return load_dataset("dataoptim", config, data_dir=str(data_dir), cache_dir=str(root / "cache"), **config_kwargs)


def fixture_json(path: str) -> Any:
    """A fixture file under ``tests/fixtures`` parsed as JSON (a fresh copy, free to alter)."""
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def assert_record_matches(actual: dict, expected: dict, prompt_choices=None) -> None:
    """Compare ``actual`` with ``expected`` column by column (see :class:`BuilderCase`)."""
    for key, value in expected.items():
        if key != "conversations":
            assert actual[key] == value, f"{expected.get('id')}: {key} {actual[key]!r} != {value!r}"
            continue
        got = actual["conversations"]
        assert len(got) == len(value), f"{expected.get('id')}: {len(got)} turns != {len(value)}"
        for i, (g, e) in enumerate(zip(got, value)):
            assert g["from"] == e["from"], f"{expected.get('id')}: turn {i} from"
            if i == 0 and prompt_choices is not None:
                allowed = list(prompt_choices(e["value"]))
                assert g["value"] in allowed, f"{expected.get('id')}: prompt {g['value']!r} not among {allowed!r}"
            else:
                assert g["value"] == e["value"], f"{expected.get('id')}: turn {i}: {g['value']!r} != {e['value']!r}"


def check_case(case: BuilderCase, root: Path):
    """Build ``case`` and assert sizes, record rules, id uniqueness and golden records. Returns the DatasetDict."""
    ds = build(case, root)
    assert {split: ds[split].num_rows for split in ds} == case.split_sizes
    from dataoptim.catalog import source_of

    source = source_of(f"{case.config}_0").name  # llava_detail_23k -> llava, llava_v1.5 -> llava_v1.5
    seen: set[str] = set()
    by_id: dict[str, dict] = {}
    for split in ds:
        for index, record in enumerate(ds[split]):
            records.validate_record(record, file=f"{case.config}/{split}", index=index)
            assert record["id"].startswith(f"{source}_"), record["id"]
            assert record["source"] == source
            assert record["task"] in records.TASKS
            assert record["id"] not in seen, f"duplicate id {record['id']}"
            seen.add(record["id"])
            by_id[record["id"]] = record
    for rid, expected in case.golden.items():
        assert rid in by_id, f"golden record {rid} not built; ids: {sorted(by_id)[:10]}"
        assert_record_matches(by_id[rid], expected, case.prompt_choices)
    return ds


def caption_choices(_expected: str) -> list[str]:
    """Allowed human turns of a caption record: ``<image>\\n`` + one of DataOptim's five instructions."""
    from dataoptim.prompts import CAPTION_INSTRUCTIONS

    return [f"{records.IMAGE_TOKEN}\n{i}" for i in CAPTION_INSTRUCTIONS]
