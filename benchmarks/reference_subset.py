"""The reference method of DESIGN §7, for the benchmark: DataOptim's approach to applying an id list.

Load every source JSON of the pool folder into one dict keyed by id, look each
id of the list up, and dump the records as one JSON list. Written from the
description in DESIGN §7 (DataOptim's ``tools/get_subset_from_ids.py`` works
this way); stdlib only, as DataOptim's script.

``--per-source`` runs the same method one source file at a time (load the file
into a dict, take the listed ids found in it, drop the dict), for pools whose
dict of all records does not fit in memory (the 21-source pool at scale 1 needs
about 22 GB that way). It does the same per-record work plus one pass over the
id list per file, keeps the selected records only, and writes the same output
in the same order (a later file's record wins for a repeated id, as in the one
dict).

Usage: ``python benchmarks/reference_subset.py DATA_DIR IDS.txt OUT.json [--per-source]``
"""

import json
import sys
from pathlib import Path


def main(data_dir: str, id_file: str, output: str, per_source: bool = False) -> None:
    with open(id_file, encoding="utf-8") as handle:
        ids = [line.strip() for line in handle if line.strip()]
    paths = sorted(Path(data_dir).glob("*.json"))
    if per_source:
        subset = [None] * len(ids)
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                pool = {record["id"]: record for record in json.load(handle)}
            for position, record_id in enumerate(ids):
                record = pool.get(record_id)
                if record is not None:
                    subset[position] = record
            del pool
        missing = [ids[i] for i, record in enumerate(subset) if record is None]
        if missing:
            raise KeyError(missing[0])
    else:
        pool = {}
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                for record in json.load(handle):
                    pool[record["id"]] = record
        subset = [pool[i] for i in ids]
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(subset, handle, ensure_ascii=False)


if __name__ == "__main__":
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    main(*[a for a in sys.argv[1:] if not a.startswith("--")][:3], per_source="--per-source" in flags)
