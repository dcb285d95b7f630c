"""Build time of the two large new sources at DataOptim's full counts (issue 13, item 6).

VGQA (1,445,322 questions on 99,280 images) and DVQA (2,325,316 questions on 200,000
images) are generated in their original layouts (``question_answers.json``,
``train_qa.json``) with short realistic texts, then built with
``dataoptim.builder.build_source`` (``load_dataset("dataoptim", ...)`` without the hub
lookup: parse, check, write the Arrow cache). Target: under 20 s each on 2 cores.

    python benchmarks/bench_build_new_sources.py [--scale 1.0] [--sources vgqa dvqa]

Prints one line per source: records, input MB, seconds, whether the table path built it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

FULL = {"vgqa": (1_445_322, 99_280), "dvqa": (2_325_316, 200_000)}
WORDS = "what color is the clock on the wall near red blue bar chart value largest smallest label".split()


def text(i: int, n: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n)).capitalize()


def write_vgqa(path: Path, records: int, images: int) -> None:
    per = records // images
    extra = records - per * images
    qa = 0
    with open(path, "w") as out:
        out.write("[")
        for image in range(1, images + 1):
            n = per + (1 if image <= extra else 0)
            qas = []
            for _ in range(n):
                qas.append({"a_objects": [], "question": text(qa, 6) + "?", "image_id": image, "qa_id": 986768 + qa, "answer": text(qa, 2) + ".", "q_objects": []})
                qa += 1
            out.write(("," if image > 1 else "") + json.dumps({"id": image, "qas": qas}))
        out.write("]")


def write_dvqa(path: Path, records: int, images: int) -> None:
    with open(path, "w") as out:
        out.write("[")
        for q in range(records):
            row = {"image": f"bar_train_{q % images:08d}.png", "question": text(q, 7) + "?", "answer": WORDS[q % len(WORDS)],
                   "question_type": "data", "bbox_answer": [], "question_id": q}
            out.write(("," if q else "") + json.dumps(row))
        out.write("]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--sources", nargs="+", default=list(FULL))
    args = parser.parse_args()
    import datasets

    from dataoptim import builder
    from dataoptim.builder import build_source

    datasets.disable_progress_bars()
    for name in args.sources:
        records, images = (max(1, round(v * args.scale)) for v in FULL[name])
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            path = data / ("question_answers.json" if name == "vgqa" else "train_qa.json")
            (write_vgqa if name == "vgqa" else write_dvqa)(path, records, images)
            fallbacks = len(builder.FALLBACKS)
            start = time.perf_counter()
            ds = build_source(name, data, cache_dir=str(Path(tmp) / "cache"))
            seconds = time.perf_counter() - start
            table = len(builder.FALLBACKS) == fallbacks
            print(f"{name}: {ds['train'].num_rows:,} records, {path.stat().st_size / 1e6:,.0f} MB input, "
                  f"built in {seconds:.1f} s ({'table path' if table else 'row path'})", flush=True)


if __name__ == "__main__":
    main()
