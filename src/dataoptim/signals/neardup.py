"""Signal ``neardup``: near-duplicate text groups by MinHash LSH (``datasketch``).

Needs: ``conversations``. Writes ``neardup_group``: the smallest global row of the record's
group of near-duplicates (the row itself when it has none), and ``neardup_size``: the group's size.
Two records are linked when ``datasketch.MinHashLSH`` (``threshold``, ``num_perm`` permutations)
puts them in a common band; groups are the connected components of the links (union-find).
Text: the whole conversation, lower case, ``<image>`` removed, as word ``ngram``-shingles.

Cost: MinHash is computed in Python (``MinHash.bulk``): about 20-40K records/s per core; run it
on a selection-sized pool, or on a source at a time, rather than on all 6.36M records.

Paper: Broder 1997, "On the resemblance and containment of documents"; near-dedup as in
Lee et al. 2022 and DataComp's text dedup; Data-Juicer ``document_minhash_deduplicator``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataoptim.signals.turns import turns

NAME = "neardup"
VERSION = "1"
NEEDS = ("conversations",)
WRITES = {"minhash": pa.list_(pa.uint32()), "neardup_group": pa.int64(), "neardup_size": pa.int64()}
PARAMS = {"threshold": 0.8, "num_perm": 64, "ngram": 3, "seed": 1}
#: datasketch's hash scheme of ``MinHash.bulk`` (2.x default): 32-bit affine permutations.
SCHEME = "affine32"
PAPER = "Broder 1997 (MinHash); Lee et al. 2022 near-dedup; Data-Juicer document_minhash_deduplicator"


def prepare(params):
    from dataoptim.extras import require_extra

    require_extra("signals", "the near-duplicate signal (MinHash)")  # one line naming the extra, not a ModuleNotFoundError
    import datasketch

    from dataoptim.errors import ConfigError

    if not 0 < float(params["threshold"]) < 1:
        raise ConfigError(f"threshold must be in (0, 1), found {params['threshold']!r}", field="threshold")
    if int(params["num_perm"]) < 8 or int(params["ngram"]) < 1:
        raise ConfigError("num_perm must be at least 8 and ngram at least 1", field="num_perm")
    return {**params, "datasketch": datasketch.__version__}


def _shingles(text: str, n: int) -> list[bytes]:
    words = text.split()
    if len(words) < n:
        return [" ".join(words).encode()]
    return [" ".join(words[i : i + n]).encode() for i in range(len(words) - n + 1)]


def compute(batch: pa.RecordBatch, params) -> dict:
    from datasketch import MinHash

    t = turns(batch)
    text = pc.utf8_lower(pc.replace_substring(t.values, "<image>", " ")).to_pylist()
    joined = [[] for _ in range(t.rows)]
    for parent, value in zip(t.parent.tolist(), text):
        joined[parent].append(value or "")
    n = int(params["ngram"])
    sets = [_shingles(" ".join(parts), n) for parts in joined]
    hashes = MinHash.bulk(sets, num_perm=int(params["num_perm"]), seed=int(params["seed"]), scheme=SCHEME)
    values = pa.array([h.hashvalues.tolist() for h in hashes], type=pa.list_(pa.uint32()))  # scheme affine32: 32-bit values
    zeros = np.zeros(t.rows, dtype=np.int64)
    return {"minhash": values, "neardup_group": zeros, "neardup_size": zeros}


def finalize(table: pa.Table, pool, params) -> pa.Table:
    from datasketch import LeanMinHash, MinHashLSH

    num_perm = int(params["num_perm"])
    lsh = MinHashLSH(threshold=float(params["threshold"]), num_perm=num_perm)
    n = table.num_rows
    flat = pc.list_flatten(table.column("minhash")).to_numpy().reshape(n, num_perm) if n else np.zeros((0, num_perm), np.uint32)
    parent = np.arange(n, dtype=np.int64)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for row in range(n):
        sketch = LeanMinHash(seed=int(params["seed"]), hashvalues=flat[row], scheme=SCHEME)
        for other in lsh.query(sketch):
            a, b = find(row), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
        lsh.insert(row, sketch, check_duplication=False)
    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    sizes = np.bincount(roots, minlength=n)[roots] if n else np.zeros(0, dtype=np.int64)
    return pa.table({"minhash": table.column("minhash"), "neardup_group": roots, "neardup_size": sizes}, schema=pa.schema(list(WRITES.items())))
