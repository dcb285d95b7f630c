"""Helpers shared by the selection and pool tests (no tests here).

* :func:`example_data_dir`: DataOptim's official ``example-byod.json`` split by
  source into converted ``<source>.json`` files, DataOptim's release layout.
* :func:`synthetic_data_dir`: a few hundred generated records per source, for
  mixtures, filters and the bucket-sort path.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = FIXTURES / "examples"
STANDARD = EXAMPLES / "example-standard.txt"
BYOD = EXAMPLES / "example-byod.json"


def example_records() -> list[dict]:
    """The 17 records of DataOptim's ``example-byod.json``, in file order."""
    return json.loads(BYOD.read_text(encoding="utf-8"))


def example_data_dir(root: Path) -> Path:
    """Write the example records split by source as ``root/data/<source>.json``; return the folder."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    by_source: dict[str, list] = defaultdict(list)
    for record in example_records():
        by_source[record["id"].split("_", 1)[0]].append(record)
    for source, items in by_source.items():
        (data / f"{source}.json").write_text(json.dumps(items, indent=2), encoding="utf-8")
    return data


#: source -> (image folder, turns per record) of the synthetic pool.
SYNTHETIC = {
    "coco": ("coco", 1),
    "vqav2": ("coco", 1),
    "gqa": ("visual_genome", 1),
    "llava": ("coco", 3),
    "svit": ("visual_genome", 4),
}


def synthetic_record(source: str, i: int) -> dict:
    """One valid converted record ``{source}_{i}`` (images shared by groups of 7 records)."""
    folder, exchanges = SYNTHETIC[source]
    turns = []
    for t in range(exchanges):
        question = ("<image>\n" if t == 0 else "") + f"Question {t} about record {i} of {source}?"
        turns.append({"from": "human", "value": question})
        turns.append({"from": "gpt", "value": f"Answer {t} " + "word " * (i % 13 + 1)})
    return {"id": f"{source}_{i}", "image": f"{folder}/{source}_{i // 7}.jpg", "conversations": turns}


def synthetic_data_dir(root: Path, per_source: int = 400) -> Path:
    """``per_source`` generated records for each source of :data:`SYNTHETIC` in ``root/synthetic``."""
    data = root / "synthetic"
    data.mkdir(parents=True, exist_ok=True)
    for source in SYNTHETIC:
        items = [synthetic_record(source, i) for i in range(per_source)]
        (data / f"{source}.json").write_text(json.dumps(items), encoding="utf-8")
    return data
