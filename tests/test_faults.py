"""Faults (issue 8 item 3): a build or export killed half way leaves nothing a later run would trust.

Each test starts the real command in a subprocess on a generated input large
enough to take a while, watches the disk, and sends ``SIGKILL`` as soon as the
command has started writing (no ``finally`` block, no ``atexit`` runs). Then:

* the output is absent, or still the previous complete version;
* what the killed run left (a ``<pool>.tmp-<pid>`` folder, a hidden ``.<name>.*.tmp``
  file, a ``datasets`` ``*.incomplete`` folder) is never opened as a result, and a
  later run removes it (:mod:`dataoptim.select.leftovers`);
* a pool build killed while replacing a pool (between moving the old one aside and
  the new one in) leaves the old pool, put back when it is opened;
* a rerun builds or writes everything, correctly.

The in-process variants (an exception raised inside a build or an export) are
tested where those functions are: ``tests/test_pool.py::test_interrupted_build_is_never_trusted``,
``tests/test_select.py::test_interrupted_export_leaves_no_file``,
``tests/test_files_io.py::test_atomic_write_*``; and the bad-input table checks,
for every refused input, that no output, temporary file or finished cache is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataoptim.errors import MissingFileError

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")


def _records(n: int, tag: str = "") -> list[dict]:
    return [
        {"id": f"coco_{i}", "image": f"coco/{i % 997}.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat is in the image? Describe it in a few words."},
            {"from": "gpt", "value": f"Answer {i}{tag}: " + "a fairly long answer " * 6}]}
        for i in range(n)
    ]


def _data_dir(root: Path, n: int, tag: str = "") -> Path:
    data = root / f"data{tag}"
    data.mkdir(parents=True, exist_ok=True)
    (data / "coco.json").write_text(json.dumps(_records(n, tag)), encoding="utf-8")
    return data


def _env(root: Path) -> dict:
    return dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(root / "hf"))


def kill_when(argv: list[str], started_writing, root: Path, timeout: float = 120) -> None:
    """Run ``argv``; SIGKILL it as soon as ``started_writing()`` is true. Fails if it ends first."""
    proc = subprocess.Popen(argv, env=_env(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if started_writing():
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
                assert proc.returncode == -signal.SIGKILL
                return
            time.sleep(0.001)
        pytest.fail(f"the command ended (status {proc.returncode}) before it could be killed mid-write: {proc.stderr.read()[-2000:]!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def _growing(pattern_root: Path, pattern: str):
    """A predicate: some file matching ``pattern`` under ``pattern_root`` holds data."""

    def check() -> bool:
        for path in pattern_root.glob(pattern):
            try:
                if path.is_file() and path.stat().st_size > 0:
                    return True
            except FileNotFoundError:
                pass
        return False

    return check


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "dataoptim", *map(str, args)]


N = 40_000


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    return root, _data_dir(root, N)


def test_pool_build_killed_mid_write_is_never_opened_and_a_rerun_rebuilds(big, tmp_path):
    from dataoptim.select import Pool, build_pool

    root, data = big
    out = tmp_path / "pool"
    kill_when(_cli("pool", "build", "--data-dir", data, "--output", out), _growing(tmp_path, "pool.tmp-*/sources/*.arrow"), tmp_path)
    assert not out.exists()
    leftovers = list(tmp_path.glob("pool.tmp-*"))
    assert leftovers and not (leftovers[0] / "manifest.json").exists()  # killed while writing a source
    with pytest.raises(MissingFileError):
        Pool.open(leftovers[0])  # the half-built folder is refused: no manifest
    build_pool(data, out, progress=False)  # the rerun clears the leftover and builds everything
    assert not list(tmp_path.glob("pool.tmp-*"))
    pool = Pool.open(out)
    assert len(pool) == N and pool.get(f"coco_{N - 1}")["conversations"][1]["value"].startswith(f"Answer {N - 1}:")

    # killed while replacing that pool: the complete one stays in place, untouched
    other = _data_dir(tmp_path, N, tag="b")
    kill_when(_cli("pool", "build", "--data-dir", other, "--output", out), _growing(tmp_path, "pool.tmp-*/sources/*.arrow"), tmp_path)
    pool = Pool.open(out)
    assert len(pool) == N and pool.get("coco_7")["conversations"][1]["value"].startswith("Answer 7:")


def test_export_killed_mid_write_leaves_no_output_and_the_old_one_intact(big, tmp_path):
    from dataoptim.select import Pool, build_pool

    root, data = big
    build_pool(data, tmp_path / "pool", progress=False)
    pool = Pool.open(tmp_path / "pool")
    ids = tmp_path / "ids.txt"
    all_ids = [f"coco_{i}" for i in range(N)]
    ids.write_text("\n".join(all_ids * 4) + "\n")  # repeated: a longer write
    out = tmp_path / "train.json"
    argv = _cli("select", "--pool", tmp_path / "pool", "--ids", ids, "--output", out, "-q")
    kill_when(argv, _growing(tmp_path, ".train.json.*"), tmp_path)
    assert not out.exists()
    assert all(p.name.startswith(".train.json.") for p in tmp_path.iterdir() if "train.json" in p.name)  # only hidden temp names
    pool.by_ids(ids).to_llava_json(out)  # the rerun writes it whole
    written = json.loads(out.read_text(encoding="utf-8"))
    assert len(written) == 4 * N and [r["id"] for r in written[:3]] == all_ids[:3] and written[-1]["id"] == all_ids[-1]

    # killed while writing over that file: the previous complete file is still there, still valid JSON
    before = out.stat().st_mtime_ns, out.stat().st_size
    kill_when(argv, _growing(tmp_path, ".train.json.*"), tmp_path)
    assert (out.stat().st_mtime_ns, out.stat().st_size) == before
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 4 * N


def test_leftovers_of_a_killed_export_are_removed_by_the_next_export(big, tmp_path):
    from dataoptim.select import build_pool

    root, data = big
    build_pool(data, tmp_path / "pool", progress=False)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join([f"coco_{i}" for i in range(N)] * 4) + "\n")
    out = tmp_path / "train.json"
    argv = _cli("select", "--pool", tmp_path / "pool", "--ids", ids, "--output", out, "-q")
    kill_when(argv, _growing(tmp_path, ".train.json.*"), tmp_path)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".train.json.")]  # what the killed run left
    time.sleep(1.0)  # leftovers are removed when they predate the process that finds them
    subprocess.run(argv, env=_env(tmp_path), check=True, stdout=subprocess.DEVNULL)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".train.json.")]
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 4 * N


def test_pool_build_killed_between_its_renames_leaves_the_old_pool_to_open(big, tmp_path):
    """Replacing a pool moves the old one aside, the new one in: killed in between, the old one is put back on open."""
    from dataoptim.select import Pool, build_pool

    root, data = big
    out = tmp_path / "pool"
    build_pool(data, out, progress=False)
    other = _data_dir(tmp_path, 100, tag="b")
    code = (
        "import os, signal\n"
        "from dataoptim.select import build_pool\n"
        "real = os.replace\n"
        "def replace(src, dst):\n"
        "    real(src, dst)\n"
        "    if str(dst).endswith(f'.old-{os.getpid()}'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)  # between moving the old pool aside and the new one in\n"
        "os.replace = replace\n"
        f"build_pool({str(other)!r}, {str(out)!r}, progress=False)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), stderr=subprocess.PIPE)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert not out.exists() and list(tmp_path.glob("pool.old-*")) and list(tmp_path.glob("pool.tmp-*"))
    pool = Pool.open(out)  # the old pool, put back
    assert len(pool) == N and pool.get("coco_7")["conversations"][1]["value"].startswith("Answer 7:")
    assert not list(tmp_path.glob("pool.old-*"))
    build_pool(other, out, progress=False)  # a rerun replaces it, and clears the killed build's folder
    assert len(Pool.open(out)) == 100 and not list(tmp_path.glob("pool.tmp-*")) and not list(tmp_path.glob("pool.old-*"))


def test_builder_killed_mid_generation_is_rebuilt_not_resumed(tmp_path):
    n = 30_000
    data = _data_dir(tmp_path, n)
    cache = tmp_path / "cache"
    code = (
        "import dataoptim; from datasets import load_dataset; "
        f"load_dataset('dataoptim', 'coco', data_dir={str(data)!r}, cache_dir={str(cache)!r})"
    )
    kill_when([sys.executable, "-c", code], _growing(cache, "**/*.incomplete/*.arrow"), tmp_path)
    assert list(cache.rglob("*.incomplete"))  # what the killed run left
    assert not [p for p in cache.rglob("dataset_info.json") if ".incomplete" not in str(p)]  # no finished build

    from datasets import load_dataset

    ds = load_dataset("dataoptim", "coco", data_dir=str(data), cache_dir=str(cache))["train"]
    assert ds.num_rows == n and ds[0]["id"] == "coco_0" and ds[n - 1]["id"] == f"coco_{n - 1}"
    assert len(set(ds["id"])) == n


def test_failed_builds_and_selections_are_redone_once_the_file_is_fixed(tmp_path):
    """An error raised late in a build (the last record is bad) caches nothing: the fixed file is read in full."""
    from datasets import load_dataset

    from dataoptim.errors import RecordError
    from dataoptim.train.data import load_selection

    records = _records(50)
    records[-1]["conversations"][0]["value"] = "no image token"
    data = tmp_path / "data"
    data.mkdir()
    (data / "coco.json").write_text(json.dumps(records))
    sel = tmp_path / "sel.json"
    sel.write_text(json.dumps(records))
    with pytest.raises(RecordError):
        load_dataset("dataoptim", "coco", data_dir=str(data), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(RecordError):
        load_selection(sel, cache_dir=tmp_path / "sel-cache")
    records[-1]["conversations"][0]["value"] = "<image>\nfixed"
    (data / "coco.json").write_text(json.dumps(records))
    sel.write_text(json.dumps(records))
    ds = load_dataset("dataoptim", "coco", data_dir=str(data), cache_dir=str(tmp_path / "cache"))["train"]
    assert ds.num_rows == 50 and ds[49]["conversations"][0]["value"] == "<image>\nfixed"
    assert load_selection(sel, cache_dir=tmp_path / "sel-cache")["id"][-1] == "coco_49"
