"""Benchmark the source builders on generated original files, side by side with ``load_dataset("json")`` (issue 14).

For every source (or ``--sources``):

1. its original files are generated at ``--scale`` of the real record counts, with the real
   layouts and per-record sizes (``benchmarks/gen_originals.py``);
2. **builder**: ``dataoptim.builder.build_source(source, originals)`` in a fresh process, fresh
   cache (every split present is built: Flickr30K's and OCR-VQA's files hold three);
3. the train records are exported once as DataOptim's converted ``<source>.json`` (a JSON list, one
   record per line, LLaVA's three fields) — not timed;
4. **json loader**: ``datasets.load_dataset("json", data_files=<source>.json)`` in a fresh process,
   fresh cache: ``datasets``' own loader on the already-converted records.

Then the whole release: ``dataoptim pool build`` from the original files (``--num-proc``) and from
the converted files. Each run reports wall seconds, CPU seconds (user + system of the process and
its children), peak RSS and records per second.

Usage: ``python benchmarks/bench_build.py --scale 0.05 [--sources gqa,svit] [--num-proc 2] [--workdir DIR]``
(writes ``DIR/results-<scale>.json`` and prints a markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataoptim.catalog import SOURCES  # noqa: E402

BUILD = """
import json, sys
from dataoptim.builder import build_source
ds = build_source(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3])
print(json.dumps({s: ds[s].num_rows for s in ds}))
"""
EXPORT = """
import sys
import msgspec
from dataoptim.builder import build_source
ds = build_source(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3])
with open(sys.argv[4], "wb") as out:
    out.write(b"[\\n")
    first = True
    for batch in ds["train"].select_columns(["id", "image", "conversations"]).with_format("arrow").iter(50_000):
        for record in batch.to_pylist():
            out.write((b"" if first else b",\\n") + msgspec.json.encode(record))
            first = False
    out.write(b"\\n]\\n")
"""
JSON_LOADER = """
import json, sys
import datasets
ds = datasets.load_dataset("json", data_files=sys.argv[1], cache_dir=sys.argv[2], split="train")
print(json.dumps({"train": ds.num_rows}))
"""


def measure(cmd: list[str], label: str, log: Path, env: dict | None = None) -> dict:
    """Run ``cmd`` in a fresh process; wall and CPU seconds, peak RSS (MB), its stdout's last line."""
    with open(log, "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **(env or {})})
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    code = os.waitstatus_to_exitcode(status)
    # children of the process (pool build workers) are counted by RUSAGE_CHILDREN deltas in the caller; wait4 gives this process
    result = {"label": label, "seconds": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "exit": code}
    lines = out.decode(errors="replace").strip().splitlines()
    result["stdout"] = lines[-1] if lines else ""
    result["stdout_first"] = lines[0] if lines else ""
    print(f"  {label:34s} {wall:8.2f} s wall {result['cpu_s']:8.2f} s CPU {result['peak_rss_mb']:9.1f} MB peak  (exit {code})", file=sys.stderr, flush=True)
    if code != 0:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {code}); log: {log}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--workdir", default="/tmp/dataoptim-bench-build")
    parser.add_argument("--sources", default=None, help="comma-separated (default: all 14)")
    parser.add_argument("--num-proc", type=int, default=2, help="worker processes of the whole-release pool build")
    parser.add_argument("--skip-release", action="store_true", help="per-source runs only")
    args = parser.parse_args()
    names = args.sources.split(",") if args.sources else list(SOURCES)
    work = Path(args.workdir) / f"scale-{args.scale}"
    originals, converted, logs = work / "originals", work / "converted", work / "logs"
    for folder in (converted, logs):
        folder.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    if not (originals / ".done").is_file():
        from gen_originals import generate

        print(f"generating original files at scale {args.scale} in {originals}", file=sys.stderr)
        generate(originals, args.scale)
        (originals / ".done").write_text("ok")
    results: dict = {"scale": args.scale, "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpus": os.cpu_count(), "machine": platform.platform(),
                     "load_average_at_start": os.getloadavg(), "sources": {}}
    # interpreter start-up and imports, paid once per process by both sides (large at small scales)
    results["startup"] = measure([py, "-c", "import datasets, dataoptim.builder, dataoptim.builders.svit"], "start-up: python + imports", logs / "startup.log")
    for name in names:
        cache = work / "cache" / name
        shutil.rmtree(cache, ignore_errors=True)
        built = measure([py, "-c", BUILD, name, str(originals), str(cache)], f"{name}: builder (original files)", logs / f"{name}-build.log")
        splits = json.loads(built["stdout"])
        built["records"] = sum(splits.values())
        built["records_per_s"] = round(built["records"] / built["seconds"])
        target = converted / f"{name}.json"
        if not target.is_file():
            subprocess.run([py, "-c", EXPORT, name, str(originals), str(cache), str(target)], check=True, stderr=subprocess.DEVNULL)
        shutil.rmtree(cache, ignore_errors=True)
        json_cache = work / "cache" / f"{name}-json"
        shutil.rmtree(json_cache, ignore_errors=True)
        loaded = measure([py, "-c", JSON_LOADER, str(target), str(json_cache)], f"{name}: load_dataset('json') converted", logs / f"{name}-json.log")
        loaded["records"] = json.loads(loaded["stdout"])["train"]
        loaded["records_per_s"] = round(loaded["records"] / loaded["seconds"])
        shutil.rmtree(json_cache, ignore_errors=True)
        base = results["startup"]["cpu_s"]
        results["sources"][name] = {"splits": splits, "builder": built, "json_loader": loaded,
                                    "speedup_cpu": round(((loaded["cpu_s"] - base) / loaded["records"]) / max(built["cpu_s"] - base, 0.01) * built["records"], 2)}
    if not args.skip_release:
        for label, data in (("pool build: original files", originals), ("pool build: converted files", converted)):
            out = work / ("pool-original" if "original" in label else "pool-converted")
            shutil.rmtree(out, ignore_errors=True)
            before = os.times()
            run = measure([py, "-m", "dataoptim", "pool", "build", "--data-dir", str(data), "--output", str(out), "--num-proc", str(args.num_proc)],
                          f"{label} (--num-proc {args.num_proc})", logs / f"{out.name}.log")
            after = os.times()
            run["cpu_s_with_workers"] = round((after.children_user - before.children_user) + (after.children_system - before.children_system), 2)
            results[label] = run
            shutil.rmtree(out, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))


def markdown(r: dict) -> str:
    rows = [f"scale {r['scale']}, {r['date']}, {r['cpus']} CPUs, load average {r['load_average_at_start'][0]:.1f} at start / {r['load_average_at_end'][0]:.1f} at end", "",
            f"start-up (python + imports, in every run): {r['startup']['seconds']:.2f} s wall, {r['startup']['cpu_s']:.2f} s CPU, {r['startup']['peak_rss_mb']:.0f} MB", "",
            "| source | records (all splits) | builder: wall s | CPU s | peak MB | rec/s | json loader (train, converted): wall s | CPU s | peak MB | rec/s | per-record CPU speed-up, start-up excluded |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    total_b = total_j = 0.0
    for name, s in r["sources"].items():
        b, j = s["builder"], s["json_loader"]
        total_b += b["seconds"]
        total_j += j["seconds"]
        rows.append(f"| {name} | {b['records']:,} | {b['seconds']:.2f} | {b['cpu_s']:.2f} | {b['peak_rss_mb']:.0f} | {b['records_per_s']:,} | "
                    f"{j['seconds']:.2f} | {j['cpu_s']:.2f} | {j['peak_rss_mb']:.0f} | {j['records_per_s']:,} | {s['speedup_cpu']:.1f}× |")
    rows.append(f"| **sum of the runs** | | {total_b:.1f} | | | | {total_j:.1f} | | | | |")
    for label in ("pool build: original files", "pool build: converted files"):
        if label in r:
            run = r[label]
            rows.append(f"\n{label}: {run['seconds']:.1f} s wall, {run['cpu_s_with_workers']:.1f} s CPU (workers included), {run['peak_rss_mb']:.0f} MB peak (main process) — {run['stdout_first']}")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
