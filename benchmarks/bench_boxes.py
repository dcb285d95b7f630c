"""What ``select --boxes padded`` costs over ``--boxes original`` (issue 11 item 6).

Generates a pool of grounding records in DataOptim's converted layout (``ref3rec.json``
with one box per record, ``svit.json`` with four boxes in two turns) on images of a few
sizes, an image-size table and an id list of every record, then runs, each in a fresh
process, ``dataoptim select --ids ... --boxes original`` and ``--boxes padded
--image-sizes``, and prints the wall times.

Usage::

    python benchmarks/bench_boxes.py --records 200000 --workdir /tmp/dataoptim-bench-boxes
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

SIZES = [(640, 480), (333, 500), (500, 500), (640, 427), (800, 600)]


def box(rng: random.Random) -> str:
    x1, x2 = sorted(round(rng.random(), 3) for _ in range(2))
    y1, y2 = sorted(round(rng.random(), 3) for _ in range(2))
    return f"[{x1}, {y1}, {x2}, {y2}]"


def generate(root: Path, n: int) -> tuple[Path, Path, Path]:
    rng = random.Random(0)
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    sizes, ids = {}, []
    for name, count in (("ref3rec", n // 2), ("svit", n - n // 2)):
        records = []
        for i in range(count):
            image = f"coco/{name}_{i % 5000}.jpg"
            sizes[image] = list(SIZES[i % len(SIZES)])
            if name == "ref3rec":
                turns = ["<image>\nLocate the object in the picture.", box(rng) + "."]
            else:
                turns = [f"<image>\nCompare the lamp {box(rng)} and the chair {box(rng)}.", f"The lamp {box(rng)} is above the chair {box(rng)}."]
            records.append({"id": f"{name}_{i}", "image": image, "conversations": [{"from": f, "value": v} for f, v in zip(("human", "gpt"), turns)]})
            ids.append(f"{name}_{i}")
        (data / f"{name}.json").write_text(json.dumps(records))
    (root / "sizes.json").write_text(json.dumps(sizes))
    (root / "ids.txt").write_text("\n".join(ids) + "\n")
    return data, root / "sizes.json", root / "ids.txt"


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/dataoptim-bench-boxes"))
    args = parser.parse_args()
    root = args.workdir
    data, sizes, ids = generate(root, args.records)
    cli = [sys.executable, "-m", "dataoptim"]
    subprocess.run([*cli, "pool", "build", "--data-dir", str(data), "--output", str(root / "pool")], check=True, stdout=subprocess.DEVNULL)
    base = [*cli, "select", "--pool", str(root / "pool"), "--ids", str(ids), "--output", str(root / "sel.json"), "-q"]
    original = timed(base)
    padded = timed([*base, "--boxes", "padded", "--image-sizes", str(sizes)])
    boxes = json.loads((root / "sel.json.boxes.json").read_text())["boxes"]
    print(f"| records | boxes moved | --boxes original: s | --boxes padded: s | padded: records/s |")
    print(f"|---:|---:|---:|---:|---:|")
    print(f"| {args.records:,} | {boxes:,} | {original:.1f} | {padded:.1f} | {args.records / padded:,.0f} |")


if __name__ == "__main__":
    main()
