"""Benchmark the cheap signals (text, duplicates, flags), token counts, and selection by a signal (issue 16, item 5).

Generates a pool with ``benchmarks/gen_pool.py`` at ``--scale`` (1.0 = DataOptim's 6.36M records),
builds it, then times:

* ``signals compute`` of ``text``, ``duplicates`` and ``flags`` over the whole pool;
* ``tokens`` under ``--tokenizer`` (LLaMA-2's) over ``--token-records`` records drawn from the
  pool (a sub-pool of the same sources; the whole pool when ``--token-records`` is at least its
  size), reported as records per second;
* selection by a signal (``where`` + ``top_k``) against selecting the same number of records
  by an id list (``Pool.by_ids``), both to a Selection (no export);
* peak resident memory of the process (``ru_maxrss``).

Usage::

    python benchmarks/bench_signals.py --scale 0.02 --tokenizer tests/fixtures/llama2-tokenizer

Prints a JSON report (and writes it to ``--out`` if given).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AnonPeak:
    """Peak anonymous resident memory (``RssAnon`` of /proc/self/status, sampled every 50 ms): the process's
    own memory, without the pool's memory-mapped Arrow pages that ``ru_maxrss`` also counts (page cache)."""

    def __init__(self):
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_kb() -> int:
        try:
            for line in open("/proc/self/status", encoding="ascii"):
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, self.now_kb())

    def reset(self) -> None:
        self.peak_kb = self.now_kb()

    def mb(self) -> int:
        return round(max(self.peak_kb, self.now_kb()) / 1024)


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (user + system): the machine is shared."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--workdir", default="/tmp/dataoptim-bench-signals")
    parser.add_argument("--tokenizer", default=str(HERE.parent / "tests" / "fixtures" / "llama2-tokenizer"))
    parser.add_argument("--token-records", type=int, default=20_000)
    parser.add_argument("--out")
    args = parser.parse_args()

    from dataoptim import signals
    from dataoptim.select import Pool, build_pool

    work = Path(args.workdir) / f"scale-{args.scale:g}"
    data, pool_dir = work / "data", work / "pool"
    report: dict = {"scale": args.scale, "cpus": os.cpu_count(), "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    if not (pool_dir / "manifest.json").is_file():
        began = time.time()
        subprocess.run([sys.executable, str(HERE / "gen_pool.py"), str(data), "--scale", str(args.scale), "--challenge"], check=True, stdout=subprocess.DEVNULL)
        report["generate_s"] = round(time.time() - began, 1)
        began = time.time()
        build_pool(data, pool_dir, progress=False)
        report["build_s"] = round(time.time() - began, 1)
    pool = Pool.open(pool_dir)
    report["records"] = len(pool)
    anon = AnonPeak()
    report["anon_before_signals_mb"] = round(anon.now_kb() / 1024)
    for name in ("text", "duplicates", "flags"):
        began, cpu = time.time(), cpu_s()
        signals.compute(pool, name, force=True, progress=False)
        seconds = time.time() - began
        report[f"{name}_s"] = round(seconds, 2)
        report[f"{name}_cpu_s"] = round(cpu_s() - cpu, 2)
        report[f"{name}_records_per_s"] = round(len(pool) / seconds)
        report[f"{name}_peak_anon_mb"] = anon.mb()
        anon.reset()
    report["cheap_signals_s"] = round(sum(report[f"{n}_s"] for n in ("text", "duplicates", "flags")), 2)
    report["cheap_signals_cpu_s"] = round(sum(report[f"{n}_cpu_s"] for n in ("text", "duplicates", "flags")), 2)
    report["cheap_signals_full_pool_estimate_s"] = round(report["cheap_signals_s"] * 6_360_000 / len(pool))
    report["cheap_signals_full_pool_estimate_cpu_s"] = round(report["cheap_signals_cpu_s"] * 6_360_000 / len(pool))
    report["rss_after_cheap_mb"] = round(rss_mb())

    # tokens on a sub-pool: the same sources, --token-records records (the whole pool itself when it has no more)
    sub_dir = pool_dir if args.token_records >= len(pool) else work / "tokens-pool"
    if not (sub_dir / "manifest.json").is_file():
        sub = pool.all().sample(args.token_records, seed=0)
        sub_data = work / "tokens-data"
        sub_data.mkdir(parents=True, exist_ok=True)
        by_source: dict[str, list] = {}
        for record in sub.table(["id", "image", "conversations", "source"]).to_pylist():
            by_source.setdefault(record.pop("source"), []).append(record)
        for source, items in by_source.items():
            (sub_data / f"{source}.json").write_text(json.dumps(items), encoding="utf-8")
        build_pool(sub_data, sub_dir, progress=False)
    tokens_pool = Pool.open(sub_dir)
    began, cpu = time.time(), cpu_s()
    signals.compute(tokens_pool, "tokens", tokenizer=args.tokenizer, force=True, progress=False)
    seconds = time.time() - began
    report["tokens_records"] = len(tokens_pool)
    report["tokens_s"] = round(seconds, 2)
    report["tokens_cpu_s"] = round(cpu_s() - cpu, 2)  # workers are children: counted once they exit (below)
    report["tokens_records_per_s"] = round(len(tokens_pool) / seconds)
    report["tokens_full_pool_estimate_s"] = round(6_360_000 / (len(tokens_pool) / seconds))
    from dataoptim.signals import tokens as token_signal

    for executor in list(token_signal._EXECUTOR.values()):
        executor.shutdown()
    token_signal._EXECUTOR.clear()
    report["tokens_cpu_s"] = round(cpu_s() - cpu, 2)
    report["tokens_full_pool_estimate_cpu_s"] = round(report["tokens_cpu_s"] * 6_360_000 / len(tokens_pool))

    # selection by a signal vs by an id list of the same size
    # each timed 5 times after one untimed run (imports, page cache): the median
    def timed(fn):
        fn()
        times = []
        for _ in range(5):
            began = time.time()
            out = fn()
            times.append(time.time() - began)
        return out, sorted(times)[2]

    chosen, seconds = timed(lambda: pool.all().where("answer_words > 10 AND NOT flagged").top_k(len(pool) // 4, "answer_words"))
    report["select_by_signal_s"] = round(seconds, 3)
    report["select_by_signal_records"] = len(chosen)
    id_file = work / "ids.txt"
    chosen.write_ids(id_file)
    by_ids, seconds = timed(lambda: pool.by_ids(id_file))
    report["select_by_ids_s"] = round(seconds, 3)
    assert len(by_ids) == len(chosen)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    report["peak_rss_mb"] = round(rss_mb())  # counts the pool's memory-mapped pages too
    report["peak_anon_mb"] = anon.mb()
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
