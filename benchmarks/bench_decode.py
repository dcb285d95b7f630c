"""Benchmark: fully decoding a selection's images (``validate/select/train --decode-images``).

Writes N random-content JPEGs (640x480, like COCO) into a work folder, then times
:func:`dataoptim.train.images.decode_all` with one thread and with the default
(one per CPU this process may use), and ``dataoptim validate --decode-images`` on a
BYOD file naming every image. Prints one JSON object.

    python benchmarks/bench_decode.py --images 400
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--workdir", default="/tmp/dataoptim-bench-decode")
    args = parser.parse_args()

    import numpy as np
    from PIL import Image

    from dataoptim.train.images import decode_all

    root = Path(args.workdir) / "images" / "coco"
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    for i in range(args.images):
        path = root / f"{i}.jpg"
        if not path.exists():
            Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(path, quality=90)
        paths[f"coco/{i}.jpg"] = path
    results = {"images": args.images, "cpus": len(os.sched_getaffinity(0)), "mb": round(sum(p.stat().st_size for p in paths.values()) / 1e6, 1)}
    for label, workers in (("one_thread_s", 1), ("default_threads_s", None)):
        began = time.perf_counter()
        assert not decode_all(paths, workers=workers)
        results[label] = round(time.perf_counter() - began, 2)
    byod = Path(args.workdir) / "byod.json"
    byod.write_text(json.dumps([{"id": f"coco_{i}", "image": f"coco/{i}.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "Noise."}]} for i in range(args.images)]))
    dataoptim = Path(sys.executable).parent / "dataoptim"
    began = time.perf_counter()
    subprocess.run([str(dataoptim), "validate", str(byod), "--image-folder", str(root.parent), "--decode-images", "-q"], check=True,
                   capture_output=True)
    results["validate_decode_images_s"] = round(time.perf_counter() - began, 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
