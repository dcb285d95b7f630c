"""Benchmark of ``dataoptim select`` against the reference method (DESIGN §7, issue 4).

One run, at one scale:

1. generate a pool in DataOptim's converted layout (``<source>.json``) with the
   real per-source counts × scale (``benchmarks/gen_pool.py``);
2. ``dataoptim pool build`` (timed on its own);
3. a 25% id list, in random order;
4. in fresh processes, wall time and peak RSS (``wait4`` → ``ru_maxrss``) of
   (a) the reference method (``benchmarks/reference_subset.py``: every source
   JSON into one dict, look ids up, dump JSON) and (b) ``dataoptim select``
   end to end, CLI start-up and imports included (reference first, so that the
   select run does not profit from a warmer page cache);
5. check that both outputs hold the same records in the same order;
6. optionally: peak RSS of validating an N-record BYOD file, and of selecting
   M ids (with repeats when M exceeds the pool).

Usage::

    python benchmarks/bench_select.py --scale 0.1 --workdir /tmp/dataoptim-bench \\
        [--byod 1000000] [--many-ids 1600000] [--skip-reference]

Results go to ``<workdir>/scale-<s>-<n>sources/results.json`` (21 sources, or 14 with ``--challenge``) and are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def measure(cmd: list[str], label: str, log: Path) -> dict:
    """Run ``cmd`` in a fresh process; return wall seconds, peak RSS (MB) and exit status."""
    with open(log, "wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=err, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    result = {"label": label, "seconds": round(wall, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "user_s": round(usage.ru_utime, 2), "sys_s": round(usage.ru_stime, 2), "exit": proc.returncode}
    print(f"  {label:28s} {wall:8.2f} s  {usage.ru_maxrss / 1024:9.1f} MB peak RSS  (exit {proc.returncode})", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {proc.returncode}); log: {log}")
    return result


def compare(reference: str, ours: str) -> dict:
    """Same records in the same order? Loads the reference list whole, reads ours line by line."""
    import orjson

    with open(reference, "rb") as handle:
        ref = orjson.loads(handle.read())
    count = 0
    with open(ours, "rb") as handle:
        first = handle.readline().strip()
        assert first in (b"[", b"[]"), first
        for line in handle:
            line = line.strip()
            if line in (b"]", b""):
                continue
            record = orjson.loads(line[:-1] if line.endswith(b",") else line)
            if count >= len(ref) or record != ref[count]:
                return {"same": False, "first_difference": count}
            count += 1
    return {"same": count == len(ref), "records": count, "reference_records": len(ref)}


def write_byod(path: Path, count: int, seed: int = 1) -> None:
    """A BYOD file of ``count`` records drawn from the generator's sources (LLaVA JSON list, one record per line)."""
    import orjson

    from gen_pool import records
    from dataoptim.catalog import SOURCES

    total = sum(s.qas for s in SOURCES.values())
    with open(path, "wb") as handle:
        handle.write(b"[\n")
        first = True
        for name, source in SOURCES.items():
            n = max(1, round(count * source.qas / total))
            for record in records(name, n, seed):
                record["id"] = "byod_" + record["id"]
                handle.write((b"" if first else b",\n") + orjson.dumps(record))
                first = False
        handle.write(b"\n]\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark dataoptim select against the dict-based reference method.")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--workdir", default="/tmp/dataoptim-bench")
    parser.add_argument("--fraction", type=float, default=0.25, help="share of the pool in the id list")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--reference-per-source", action="store_true",
                        help="run the reference method one source file at a time (same work and output; for pools whose dict of all records does not fit in memory)")
    parser.add_argument("--byod", type=int, default=0, help="also validate a BYOD file of this many records")
    parser.add_argument("--many-ids", type=int, default=0, help="also select this many ids (repeats if above the pool)")
    parser.add_argument("--challenge", action="store_true", help="only the 14 sources of the challenge pool (6.36M records at scale 1), not all 21 (10.97M)")
    parser.add_argument("--compare", nargs=2, metavar=("REFERENCE", "OURS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare:
        print(json.dumps(compare(*args.compare)))
        return

    from gen_pool import generate

    bin_dir = Path(sys.executable).parent
    dataoptim = [str(bin_dir / "dataoptim")] if (bin_dir / "dataoptim").exists() else [sys.executable, "-m", "dataoptim"]
    from dataoptim.catalog import CHALLENGE_SOURCES, SOURCES

    sources = CHALLENGE_SOURCES if args.challenge else tuple(SOURCES)
    root = Path(args.workdir) / f"scale-{args.scale:g}-{len(sources)}sources"
    data, pool, logs = root / "data", root / "pool", root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict = {"scale": args.scale, "fraction": args.fraction, "machine": f"{platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}", "date": time.strftime("%Y-%m-%d %H:%M")}

    all_ids = root / "all_ids.txt"
    if not (data / ".complete").exists() or not all_ids.exists():
        print(f"generating scale {args.scale:g} pool in {data}", file=sys.stderr)
        began = time.time()
        ids = generate(data, args.scale, args.seed, sources=sources)
        all_ids.write_text("".join(f"{i}\n" for name in ids for i in ids[name]))
        (data / ".complete").write_text("ok")
        results["generate_s"] = round(time.time() - began, 1)
    lines = all_ids.read_text().split()
    results["pool_records"] = len(lines)
    results["pool_json_mb"] = round(sum(p.stat().st_size for p in data.glob("*.json")) / 1e6, 1)
    rng = random.Random(args.seed)
    chosen = rng.sample(lines, int(len(lines) * args.fraction))
    id_file = root / "ids.txt"
    id_file.write_text("".join(f"{i}\n" for i in chosen))
    results["ids"] = len(chosen)
    del lines, chosen

    print(f"scale {args.scale:g}: {results['pool_records']:,} records ({results['pool_json_mb']:,} MB of JSON), {results['ids']:,} ids", file=sys.stderr)
    results["pool_build"] = measure([*dataoptim, "pool", "build", "--data-dir", str(data), "--output", str(pool)], "dataoptim pool build", logs / "build.log")
    results["pool_arrow_mb"] = round(sum(p.stat().st_size for p in pool.rglob("*") if p.is_file()) / 1e6, 1)
    ours, ref = root / "select.json", root / "reference.json"
    if not args.skip_reference:
        results["reference"] = measure([sys.executable, str(HERE / "reference_subset.py"), str(data), str(id_file), str(ref), *(["--per-source"] if args.reference_per_source else [])],
                                       "reference (dicts" + (", one source at a time)" if args.reference_per_source else ")"), logs / "reference.log")
        results["reference"]["per_source"] = args.reference_per_source
    results["select"] = measure([*dataoptim, "select", "--pool", str(pool), "--ids", str(id_file), "--output", str(ours), "-q"], "dataoptim select", logs / "select.log")
    if not args.skip_reference:
        check = subprocess.run([sys.executable, __file__, "--compare", str(ref), str(ours)], capture_output=True, text=True, check=True)
        results["same_records_same_order"] = json.loads(check.stdout)
        results["speedup"] = round(results["reference"]["seconds"] / results["select"]["seconds"], 1)
        results["memory_ratio"] = round(results["reference"]["peak_rss_mb"] / results["select"]["peak_rss_mb"], 1)
        ref.unlink()
    ours.unlink()
    if args.many_ids:
        lines = all_ids.read_text().split()
        many = root / "many_ids.txt"
        many.write_text("".join(f"{lines[rng.randrange(len(lines))]}\n" for _ in range(args.many_ids)))
        del lines
        results["many_ids"] = {"ids": args.many_ids, **measure([*dataoptim, "select", "--pool", str(pool), "--ids", str(many), "--output", str(ours), "-q"], f"select {args.many_ids:,} ids", logs / "many.log")}
        ours.unlink()
        many.unlink()
    if args.byod:
        byod = root / "byod.json"
        write_byod(byod, args.byod)
        results["byod"] = {"records_asked": args.byod, "mb": round(byod.stat().st_size / 1e6, 1), **measure([*dataoptim, "validate", str(byod), "-q"], f"validate BYOD ({args.byod:,})", logs / "byod.log")}
        byod.unlink()
    (root / "results.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(r: dict) -> str:
    """The results as a Markdown table."""
    rows = [f"| scale {r['scale']:g}: {r['pool_records']:,} records, {r['ids']:,} ids | wall s | peak RSS MB |", "|---|---:|---:|"]
    reference_label = "reference (dicts, one source file at a time)" if r.get("reference", {}).get("per_source") else "reference (dict of all records)"
    for key, label in (("reference", reference_label), ("select", "`dataoptim select`"), ("pool_build", "`dataoptim pool build` (once)")):
        if key in r:
            rows.append(f"| {label} | {r[key]['seconds']:.2f} | {r[key]['peak_rss_mb']:,.0f} |")
    if "speedup" in r:
        rows.append(f"| ratio reference / select | {r['speedup']}× | {r['memory_ratio']}× |")
    if "many_ids" in r:
        rows.append(f"| select {r['many_ids']['ids']:,} ids | {r['many_ids']['seconds']:.2f} | {r['many_ids']['peak_rss_mb']:,.0f} |")
    if "byod" in r:
        rows.append(f"| validate BYOD, {r['byod']['records_asked']:,} records ({r['byod']['mb']:,} MB) | {r['byod']['seconds']:.2f} | {r['byod']['peak_rss_mb']:,.0f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
