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
the converted files, as whole commands, and the pool build from the converted files in one process
timed around ``build_pool`` only (and the same for ``--before``'s checkout). Each run reports wall
seconds, CPU seconds (user + system of the process and its children), peak RSS and records per
second. "Build" CPU seconds exclude interpreter start-up and imports on both sides, including
``scipy.io`` and ``pandas``, which ``datasets`` imports at the first builder it makes (its
streaming patches look them up): they are imported before the clock starts.

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

from dataoptim.catalog import CHALLENGE_SOURCES  # noqa: E402

#: Imported before the clock starts on both sides: a ``datasets`` builder's first initialisation imports them (its
#: streaming patches look up ``scipy.io.loadmat`` and ``pandas.read_excel``), which is import time, not build time.
PRELOAD = """
for _name in ("scipy.io", "pandas"):
    try:
        __import__(_name)
    except ImportError:
        pass
"""
BUILD = PRELOAD + """
import json, sys, time
from dataoptim.builder import build_source
import dataoptim.builders._dispatch
wall, cpu = time.perf_counter(), time.process_time()
ds = build_source(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3])
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"splits": {s: ds[s].num_rows for s in ds}, "wall": wall, "cpu": cpu}))
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
JSON_LOADER = PRELOAD + """
import json, sys, time
import datasets
import datasets.packaged_modules.json.json
wall, cpu = time.perf_counter(), time.process_time()
ds = datasets.load_dataset("json", data_files=sys.argv[1], cache_dir=sys.argv[2], split="train")
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"splits": {"train": ds.num_rows}, "wall": wall, "cpu": cpu}))
"""

#: The pool build from the converted files in one process, timed around ``build_pool`` (imports excluded).
POOL = PRELOAD + """
import inspect, json, sys, time
from dataoptim.select.pool import build_pool
from dataoptim.builder import builder_classes
builder_classes()
import msgspec, pyarrow.json
options = {"progress": False}
if "num_proc" in inspect.signature(build_pool).parameters:
    options["num_proc"] = 1
wall, cpu = time.perf_counter(), time.process_time()
report = build_pool(sys.argv[1], sys.argv[2], **options)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(json.dumps({"records": sum(report.sources.values()), "wall": wall, "cpu": cpu}))
"""


def measure(cmd: list[str], label: str, log: Path, env: dict | None = None, allow_failure: bool = False) -> dict:
    """Run ``cmd`` in a fresh process; wall and CPU seconds, peak RSS (MB), its stdout's last line.

    A failed run stops the benchmark, unless ``allow_failure``: then the result has ``failed`` (the log's last line)."""
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
        text = log.read_text(errors="replace")
        if allow_failure:
            result["failed"] = (text.strip().splitlines() or ["(no output)"])[-1][:200]
            print(f"  {label} failed (exit {code}): {result['failed']}", file=sys.stderr)
            return result
        print(text[-3000:], file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {code}); log: {log}")
    return result


def timed(cmd: list[str], label: str, log: Path, cache: Path, repeat: int, env: dict | None = None, allow_failure: bool = False) -> dict:
    """:func:`measure` ``repeat`` times (fresh cache each), the run with the median build CPU; ``build_cpu_runs`` lists them all.

    With ``allow_failure``, a failed run is returned as it is (with ``failed``) and not repeated."""
    runs = []
    for _ in range(repeat):
        shutil.rmtree(cache, ignore_errors=True)
        run = measure(cmd, label, log, env=env, allow_failure=allow_failure)
        if "failed" in run:
            shutil.rmtree(cache, ignore_errors=True)
            return run
        inner = json.loads(run["stdout"])
        run.update(splits=inner["splits"], records=sum(inner["splits"].values()), build_wall_s=round(inner["wall"], 3), build_cpu_s=round(inner["cpu"], 3))
        run["records_per_cpu_s"] = round(run["records"] / max(inner["cpu"], 1e-3))
        runs.append(run)
    shutil.rmtree(cache, ignore_errors=True)
    runs.sort(key=lambda r: r["build_cpu_s"])
    chosen = runs[(len(runs) - 1) // 2]
    chosen["build_cpu_runs"] = [r["build_cpu_s"] for r in runs]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--workdir", default="/tmp/dataoptim-bench-build")
    parser.add_argument("--sources", default=None, help="comma-separated (default: all 14)")
    parser.add_argument("--num-proc", type=int, default=2, help="worker processes of the whole-release pool build")
    parser.add_argument("--skip-release", action="store_true", help="per-source runs only")
    parser.add_argument("--skip-json", action="store_true", help="no load_dataset('json') runs")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each per-source measurement; the median build CPU is kept (small sources vary by more than they cost)")
    parser.add_argument("--before", default=None, help="also time an older checkout's builders: a folder holding its `dataoptim` package "
                        "with `builders/` copied inside (e.g. `git archive main | tar -x -C T && cp -r T/src/dataoptim P/ && cp -r T/builders P/dataoptim/`); put first on PYTHONPATH")
    args = parser.parse_args()
    names = args.sources.split(",") if args.sources else list(CHALLENGE_SOURCES)
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
        built = timed([py, "-c", BUILD, name, str(originals), str(cache)], f"{name}: builder (original files)", logs / f"{name}-build.log", cache, args.repeat)
        splits = built["splits"]
        if args.before:
            built["before"] = timed([py, "-c", BUILD, name, str(originals), str(cache)], f"{name}: BEFORE builder (original files)", logs / f"{name}-before.log",
                                    cache, args.repeat, env={"PYTHONPATH": args.before})
        target = converted / f"{name}.json"
        if not target.is_file():
            subprocess.run([py, "-c", EXPORT, name, str(originals), str(cache), str(target)], check=True, stderr=subprocess.DEVNULL)
        shutil.rmtree(cache, ignore_errors=True)
        if args.skip_json:
            results["sources"][name] = {"splits": splits, "builder": built}
            continue
        json_cache = work / "cache" / f"{name}-json"
        # datasets' json loader cannot read a converted list of more than 2 GB (SVIT at full scale: pyarrow's block size is an int32)
        loaded = timed([py, "-c", JSON_LOADER, str(target), str(json_cache)], f"{name}: load_dataset('json') converted", logs / f"{name}-json.log", json_cache, args.repeat,
                       allow_failure=True)
        results["sources"][name] = {"splits": splits, "builder": built, "json_loader": loaded}
        if "failed" not in loaded:
            results["sources"][name]["speedup_cpu"] = round(built["records_per_cpu_s"] / max(loaded["records_per_cpu_s"], 1), 2)
    if not args.skip_release:
        runs = [("pool build: original files", originals)] + ([] if args.skip_json else [("pool build: converted files", converted)])
        for label, data in runs:
            out = work / ("pool-original" if "original" in label else "pool-converted")
            shutil.rmtree(out, ignore_errors=True)
            before = os.times()
            run = measure([py, "-m", "dataoptim", "pool", "build", "--data-dir", str(data), "--output", str(out), "--num-proc", str(args.num_proc)],
                          f"{label} (--num-proc {args.num_proc})", logs / f"{out.name}.log")
            after = os.times()
            run["cpu_s_with_workers"] = round((after.children_user - before.children_user) + (after.children_system - before.children_system), 2)
            results[label] = run
            shutil.rmtree(out, ignore_errors=True)
            if args.before and "converted" in label:
                before = os.times()
                old = measure([py, "-m", "dataoptim", "pool", "build", "--data-dir", str(data), "--output", str(out)], f"{label}: BEFORE (one process)",
                              logs / f"{out.name}-before.log", env={"PYTHONPATH": args.before})
                after = os.times()
                old["cpu_s_with_workers"] = round((after.children_user - before.children_user) + (after.children_system - before.children_system), 2)
                results[label + " BEFORE"] = old
                shutil.rmtree(out, ignore_errors=True)
    if not args.skip_release and not args.skip_json:
        # the build itself, one process, imports excluded: this code, and the older checkout's if given
        for label, env in [("pool build: converted files, one process, build only", None)] + (
                [("pool build: converted files, one process, build only BEFORE", {"PYTHONPATH": args.before})] if args.before else []):
            out = work / "pool-converted-inner"
            shutil.rmtree(out, ignore_errors=True)
            run = measure([py, "-c", POOL, str(converted), str(out)], label, logs / "pool-inner.log", env=env)
            inner = json.loads(run["stdout"])
            run.update(records=inner["records"], build_wall_s=round(inner["wall"], 2), build_cpu_s=round(inner["cpu"], 2))
            results[label] = run
            shutil.rmtree(out, ignore_errors=True)
    results["load_average_at_end"] = os.getloadavg()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(markdown(results))


def markdown(r: dict) -> str:
    before = any("before" in s["builder"] for s in r["sources"].values())
    has_json = any("json_loader" in s for s in r["sources"].values())
    rows = [f"scale {r['scale']}, {r['date']}, {r['cpus']} CPUs, load average {r['load_average_at_start'][0]:.1f} at start / {r['load_average_at_end'][0]:.1f} at end",
            f"start-up (python + imports, in every run, not in the build columns): {r['startup']['seconds']:.2f} s wall, {r['startup']['cpu_s']:.2f} s CPU, {r['startup']['peak_rss_mb']:.0f} MB", ""]
    head = "| source | records (all splits) | builder: build CPU s | wall s | rec per CPU s | process peak MB |"
    line = "|---|---:|---:|---:|---:|---:|"
    if before:
        head += " before: build CPU s | rec per CPU s | process peak MB | speed-up over before |"
        line += "---:|---:|---:|---:|"
    if has_json:
        head += " json loader (train, converted): build CPU s | rec per CPU s | process peak MB | speed-up over json loader |"
        line += "---:|---:|---:|---:|"
    rows += [head, line]
    total = {"b": 0.0, "o": 0.0, "j": 0.0, "rb": 0, "rj": 0, "b_j": 0.0, "rb_j": 0}  # *_j: this code's sums over the sources the json loader read
    for name, s in r["sources"].items():
        b = s["builder"]
        total["b"] += b["build_cpu_s"]
        total["rb"] += b["records"]
        row = f"| {name} | {b['records']:,} | {b['build_cpu_s']:.3f} | {b['build_wall_s']:.3f} | {b['records_per_cpu_s']:,} | {b['peak_rss_mb']:.0f} |"
        if before:
            o = b["before"]
            total["o"] += o["build_cpu_s"]
            row += f" {o['build_cpu_s']:.3f} | {o['records_per_cpu_s']:,} | {o['peak_rss_mb']:.0f} | {o['build_cpu_s'] / max(b['build_cpu_s'], 1e-3):.1f}× |"
        if has_json and ("json_loader" not in s or "failed" in s["json_loader"]):
            row += f" failed: {s['json_loader']['failed'][:60]} | | {s['json_loader']['peak_rss_mb']:.0f} | — |" if "json_loader" in s else " — | | | — |"
        elif has_json:
            j = s["json_loader"]
            total["j"] += j["build_cpu_s"]
            total["rb_j"] += b["records"]
            total["b_j"] += b["build_cpu_s"]
            total["rj"] += j["records"]
            row += f" {j['build_cpu_s']:.3f} | {j['records_per_cpu_s']:,} | {j['peak_rss_mb']:.0f} | {s['speedup_cpu']:.1f}× |"
        rows.append(row)
    row = f"| **all** | {total['rb']:,} | {total['b']:.1f} | | {round(total['rb'] / max(total['b'], 1e-3)):,} | |"
    if before:
        row += f" {total['o']:.1f} | {round(total['rb'] / max(total['o'], 1e-3)):,} | | {total['o'] / max(total['b'], 1e-3):.1f}× |"
    if has_json:
        # the speed-up over the sources both sides built
        row += f" {total['j']:.1f} | {round(total['rj'] / max(total['j'], 1e-3)):,} | | {(total['rb_j'] / max(total['b_j'], 1e-3)) / max(total['rj'] / max(total['j'], 1e-3), 1):.1f}× |"
    rows.append(row)
    for label in ("pool build: original files", "pool build: converted files", "pool build: converted files BEFORE"):
        if label in r:
            run = r[label]
            rows.append(f"\n{label}: {run['seconds']:.1f} s wall, {run['cpu_s_with_workers']:.1f} s CPU (workers included), {run['peak_rss_mb']:.0f} MB peak (largest process) — {run['stdout_first']}")
    inner = [r.get(label) for label in ("pool build: converted files, one process, build only", "pool build: converted files, one process, build only BEFORE")]
    if inner[0]:
        line = f"\npool build from the converted files, one process, the build only (imports excluded): {inner[0]['build_cpu_s']:.2f} s CPU, {inner[0]['build_wall_s']:.2f} s wall"
        if inner[1]:
            line += (f"; before: {inner[1]['build_cpu_s']:.2f} s CPU, {inner[1]['build_wall_s']:.2f} s wall"
                     f" ({inner[1]['build_cpu_s'] / max(inner[0]['build_cpu_s'], 1e-3):.1f}× less CPU)")
        rows.append(line + f" — {inner[0]['records']:,} records")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
