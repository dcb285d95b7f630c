"""The reference method of DESIGN §7, for the benchmark: DataOptim's approach to applying an id list.

Load every source JSON of the pool folder into one dict keyed by id, look each
id of the list up, and dump the records as one JSON list. Written from the
description in DESIGN §7 (DataOptim's ``tools/get_subset_from_ids.py`` works
this way); stdlib only, as DataOptim's script.

Usage: ``python benchmarks/reference_subset.py DATA_DIR IDS.txt OUT.json``
"""

import json
import sys
from pathlib import Path


def main(data_dir: str, id_file: str, output: str) -> None:
    pool = {}
    for path in sorted(Path(data_dir).glob("*.json")):
        with open(path, encoding="utf-8") as handle:
            for record in json.load(handle):
                pool[record["id"]] = record
    with open(id_file, encoding="utf-8") as handle:
        ids = [line.strip() for line in handle if line.strip()]
    subset = [pool[i] for i in ids]
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(subset, handle, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
