"""The pool: build from converted or original files, id index, duplicates, completeness marker."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pytest

from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError
from dataoptim.select import Pool, build_pool
from dataoptim.select import pool as pool_module
from test_select_support import FIXTURES, example_data_dir, example_records, synthetic_data_dir


@pytest.fixture(scope="module")
def example_pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("pool")
    build_pool(example_data_dir(root), root / "pool")
    return Pool.open(root / "pool")


def test_example_pool_holds_every_source(example_pool):
    assert len(example_pool) == 17
    assert example_pool.sources == ["coco", "flickr30k", "textcaps", "vqav2", "okvqa", "ocrvqa", "gqa", "textvqa", "aokvqa", "ref3rec", "ref3reg", "shikra", "llava", "svit"]
    assert (example_pool.path / "manifest.json").is_file()
    assert example_pool.part("svit").rows == 4 and example_pool.part("aokvqa").task == "mcvqa"
    record = example_pool.get("gqa_05145757")
    expected = next(r for r in example_records() if r["id"] == "gqa_05145757")
    assert record["conversations"] == expected["conversations"] and record["image"] == expected["image"]
    assert record["source"] == "gqa" and record["task"] == "vqa"


def test_lookup_vectorised(example_pool):
    ids = ["svit_detail_0", "coco_0", "nope_1", "coco_0", "x" * 200, "cöco_0", "coco_00"]
    rows = example_pool.lookup(ids)
    assert rows[0] >= 0 and rows[1] == 0 and rows[3] == 0
    assert list(rows[[2, 4, 5, 6]]) == [-1, -1, -1, -1]
    table = example_pool.rows_table(rows[:2], ["id"])
    assert table.column("id").to_pylist() == ["svit_detail_0", "coco_0"]


def test_pool_table_is_memory_mapped(example_pool):
    table = example_pool.table(["id", "source"])
    assert table.num_rows == 17
    assert table.column("source").to_pylist()[-1] == "svit"


def test_build_from_coco_original_file(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURES / "coco_train" / "captions_train2014.json", data / "captions_train2014.json")
    report = build_pool(data, tmp_path / "pool", sources=["coco"])
    pool = Pool.open(tmp_path / "pool")
    assert report.sources == {"coco": pool.part("coco").rows} and pool.part("coco").origin == "original"
    record = pool.get("coco_0")
    assert record["image"] == "coco/COCO_train2014_000000318556.jpg"
    assert record["conversations"][1]["value"] == example_records()[0]["conversations"][1]["value"]


def test_requested_source_without_files_is_an_error(tmp_path):
    data = example_data_dir(tmp_path)
    (data / "coco.json").unlink()
    with pytest.raises(MissingFileError):
        build_pool(data, tmp_path / "pool", sources=["coco"])
    report = build_pool(data, tmp_path / "pool")  # not requested: skipped and said so
    assert "coco" in report.skipped and "coco" not in report.sources


def test_bad_converted_record_names_file_record_and_field(tmp_path):
    data = example_data_dir(tmp_path)
    items = json.loads((data / "svit.json").read_text())
    items[2]["conversations"][0]["value"] = "no image token here"
    (data / "svit.json").write_text(json.dumps(items))
    with pytest.raises(RecordError) as err:
        build_pool(data, tmp_path / "pool")
    message = str(err.value)
    assert "svit.json" in message and "record 2" in message and "conversations[0].value" in message
    assert not (tmp_path / "pool").exists() and not list(tmp_path.glob("pool.tmp-*"))


def test_identical_duplicate_ids_are_reported_and_kept_once(tmp_path):
    data = example_data_dir(tmp_path)
    items = json.loads((data / "svit.json").read_text())
    (data / "svit.json").write_text(json.dumps(items + [items[1]]))
    report = build_pool(data, tmp_path / "pool")
    assert report.duplicate_count == 1 and report.duplicates[0]["id"] == items[1]["id"]
    pool = Pool.open(tmp_path / "pool")
    assert len(pool) == 18 and len(pool.all()) == 17
    assert len(pool.by_ids([items[1]["id"]])) == 1


def test_duplicate_ids_are_compared_reading_each_source_file_once(tmp_path, monkeypatch):
    # noticed in review: each duplicate pair opened and read its source file again (twice per pair)
    data = example_data_dir(tmp_path)
    svit = json.loads((data / "svit.json").read_text())
    coco = json.loads((data / "coco.json").read_text())
    (data / "svit.json").write_text(json.dumps(svit + [svit[1], svit[3], svit[0]]))
    (data / "coco.json").write_text(json.dumps(coco + [coco[0]]))
    opened: list[str] = []
    real_map = pa.memory_map
    monkeypatch.setattr(pa, "memory_map", lambda path, *args, **kwargs: (opened.append(str(path)), real_map(path, *args, **kwargs))[1])
    windows: list[list[str]] = []
    real_contents = pool_module._row_contents

    def spy(*args, **kwargs):
        before = len(opened)
        out = real_contents(*args, **kwargs)
        windows.append(opened[before:])
        return out

    monkeypatch.setattr(pool_module, "_row_contents", spy)
    report = build_pool(data, tmp_path / "pool")
    # one read for the 4 pairs: the coco and the svit file, once each
    assert len(windows) == 1 and len(windows[0]) == 2 and len(set(windows[0])) == 2
    assert {path.rsplit("/", 1)[-1] for path in windows[0]} == {"coco.arrow", "svit.arrow"}
    assert report.duplicate_count == 4
    pool = Pool.open(tmp_path / "pool")
    assert len(pool) == 21 and len(pool.all()) == 17
    assert sorted(d["id"] for d in report.duplicates) == sorted([svit[1]["id"], svit[3]["id"], svit[0]["id"], coco[0]["id"]])
    # the later copy is hidden: each pair names the first row, then the later one, and both hold the same record
    for item in report.duplicates:
        first, later = item["rows"]
        assert first < later
        a, b = pool.rows_table(np.array([first, later]), columns=["id", "image", "conversations"]).to_pylist()
        assert a == b and a["id"] == item["id"]
    # and the records read are the ones at those rows, in the order asked
    got = real_contents(pool.path, pool.sources, [p.start for p in pool.parts], [item["rows"][1] for item in report.duplicates][::-1])
    assert [g["id"] for g in got] == [item["id"] for item in report.duplicates][::-1]


def test_duplicate_ids_with_different_content_are_an_error(tmp_path):
    data = example_data_dir(tmp_path)
    items = json.loads((data / "svit.json").read_text())
    twin = json.loads(json.dumps(items[1]))
    twin["conversations"][1]["value"] = "something else"
    (data / "svit.json").write_text(json.dumps(items + [twin]))
    with pytest.raises(RecordError, match="different content") as err:
        build_pool(data, tmp_path / "pool")
    assert items[1]["id"] in str(err.value)
    # located at the later record, in its file, and naming the earlier one
    assert str(err.value).startswith(f"{data / 'svit.json'}: record {len(items)} (id {items[1]['id']!r}), field 'id': ")
    assert "record 1 of this file" in str(err.value)


def test_requested_source_whose_file_holds_no_records_names_the_file(tmp_path):
    data = example_data_dir(tmp_path)
    (data / "svit.json").write_text("[]")
    with pytest.raises(InputError, match="svit.json: no records") as err:
        build_pool(data, tmp_path / "pool", sources=["svit"])
    assert not isinstance(err.value, MissingFileError)
    report = build_pool(data, tmp_path / "pool")  # not asked for by name: skipped, and said why
    assert report.skipped["svit"] == "svit.json holds no records"
    for name in ("coco", "svit"):
        (tmp_path / "empty" / f"{name}.json").parent.mkdir(exist_ok=True)
        (tmp_path / "empty" / f"{name}.json").write_text("[]")
    with pytest.raises(MissingFileError, match="no source could be built: .*coco.json, .*svit.json hold"):
        build_pool(tmp_path / "empty", tmp_path / "pool2")


def test_interrupted_build_is_never_trusted(tmp_path, monkeypatch):
    data = example_data_dir(tmp_path)
    out = tmp_path / "pool"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pool_module, "_build_index", boom)
    with pytest.raises(KeyboardInterrupt):
        build_pool(data, out)
    assert not out.exists() and not list(tmp_path.glob("pool.tmp-*"))
    monkeypatch.undo()
    # a crash that left its temporary folder behind (marked as a build's): the next build removes it
    (tmp_path / "pool.tmp-99999" / "sources").mkdir(parents=True)
    (tmp_path / "pool.tmp-99999" / pool_module.BUILD_MARKER).write_text("")
    build_pool(data, out)
    assert not list(tmp_path.glob("pool.tmp-*")) and len(Pool.open(out)) == 17
    # a folder without its manifest is refused, and not replaced (it is not a pool of ours any more)
    (out / "manifest.json").unlink()
    with pytest.raises(MissingFileError, match="not a complete pool"):
        Pool.open(out)
    with pytest.raises(ConfigError, match="not a pool; refusing to replace"):
        build_pool(data, out)
    assert (out / "sources" / "coco.arrow").is_file()
    shutil.rmtree(out)
    build_pool(data, out)  # once removed, a rerun builds
    assert len(Pool.open(out)) == 17


def test_damaged_source_file_is_an_input_error_naming_it(tmp_path):
    """A truncated ``sources/*.arrow`` is found at open (size against the manifest); one damaged later, when read."""
    build_pool(example_data_dir(tmp_path), tmp_path / "pool")
    path = tmp_path / "pool" / "sources" / "coco.arrow"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(InputError, match="coco.arrow.*manifest says"):
        Pool.open(tmp_path / "pool")
    path.write_bytes(good)
    pool = Pool.open(tmp_path / "pool")
    path.write_bytes(b"\0" * len(good))  # same size, not Arrow: only reading finds it
    with pytest.raises(InputError, match="coco.arrow.*cannot be read"):
        pool.by_ids(["coco_0"]).to_llava_json(tmp_path / "out.json")
    with pytest.raises(InputError, match="coco.arrow.*cannot be read"):
        pool.source_table("coco")
    assert not (tmp_path / "out.json").exists()
    index = tmp_path / "pool" / "index" / "ids.npy"
    path.write_bytes(good)
    index.write_bytes(index.read_bytes()[:20])
    with pytest.raises(InputError, match="ids.npy.*cannot be read"):
        Pool.open(tmp_path / "pool").by_ids(["coco_0"])


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leftover_folders_of_dead_builds_go_a_live_build_s_stay(tmp_path):
    import os

    data = example_data_dir(tmp_path)
    dead, live, other = _dead_pid(), os.getppid(), _dead_pid()  # the parent of this process is running
    for name in (f"pool.tmp-{dead}", f"pool.tmp-{live}", f"pool.old-{dead}", f"pool.old-{live}"):
        (tmp_path / name / "sources").mkdir(parents=True)
        (tmp_path / name / pool_module.BUILD_MARKER).write_text("")  # what a build puts in the folders it makes
    # folders no build made: a name no build makes, and a build's name without the build's marker (a user's own)
    for name in ("pool.tmp-notes", "pool.tmp-keep", f"pool.tmp-{other}", f"pool.old-{other}"):
        (tmp_path / name / "sources").mkdir(parents=True)
        (tmp_path / name / "thesis.tex").write_text("mine")
    build_pool(data, tmp_path / "pool")
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pool."))
    assert left == sorted([f"pool.old-{live}", f"pool.tmp-{live}", "pool.tmp-notes", "pool.tmp-keep", f"pool.tmp-{other}", f"pool.old-{other}"])
    assert all((tmp_path / name / "thesis.tex").read_text() == "mine" for name in ("pool.tmp-keep", f"pool.tmp-{other}", f"pool.old-{other}"))
    assert len(Pool.open(tmp_path / "pool")) == 17 and not (tmp_path / "pool" / pool_module.BUILD_MARKER).exists()


def test_pool_moved_aside_by_a_killed_replacing_build_is_put_back(tmp_path):
    import os

    data = example_data_dir(tmp_path)
    out = tmp_path / "pool"
    build_pool(data, out)
    def moved_aside(to):  # what a replacing build does first: mark the old pool as its own, rename it aside
        (out / pool_module.BUILD_MARKER).write_text("")
        os.rename(out, to)

    # killed between its two renames: the old pool aside, the new one (complete) not moved in
    aside = tmp_path / f"pool.old-{_dead_pid()}"
    moved_aside(aside)
    shutil.copytree(aside, tmp_path / f"pool.tmp-{_dead_pid()}")
    pool = Pool.open(out)  # put back, then opened
    assert len(pool) == 17 and not aside.exists() and pool.get("coco_0")["id"] == "coco_0"
    assert not (out / pool_module.BUILD_MARKER).exists()

    # a copy of a pool under such a name that no build made (no marker) is not taken
    os.rename(out, aside)
    with pytest.raises(MissingFileError):
        Pool.open(out)
    assert aside.is_dir() and not out.exists()
    os.rename(aside, out)

    # a rebuild that fails after such a kill still leaves the previous pool in place
    moved_aside(aside)
    (data / "svit.json").write_text("[{]")
    with pytest.raises(InputError):
        build_pool(data, out)
    assert len(Pool.open(out)) == 17 and not aside.exists() and not list(tmp_path.glob("pool.tmp-*"))

    # the aside of a build still running (between its renames) is not taken: its new pool is about to appear
    moved_aside(tmp_path / f"pool.old-{os.getppid()}")
    assert pool_module.recover_pool(out, wait=0.2) is False and not out.exists()
    with pytest.raises(MissingFileError):
        Pool.open(tmp_path / "elsewhere")  # nothing to recover there


def test_output_rules(tmp_path):
    data = example_data_dir(tmp_path)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError):
        build_pool(data, other)
    build_pool(data, tmp_path / "pool")
    with pytest.raises(ConfigError, match="already exists"):
        build_pool(data, tmp_path / "pool", overwrite=False)
    with pytest.raises(ConfigError, match="unknown source"):
        build_pool(data, tmp_path / "p2", sources=["cocoa"])
    with pytest.raises(MissingFileError):
        build_pool(tmp_path / "absent", tmp_path / "p3")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingFileError, match="no source could be built"):
        build_pool(empty, tmp_path / "p4")


def test_malformed_converted_json(tmp_path):
    data = example_data_dir(tmp_path)
    (data / "okvqa.json").write_text('[{"id": "okvqa_1", "image": ')
    with pytest.raises(InputError, match="okvqa"):
        build_pool(data, tmp_path / "pool")


def test_many_batches_and_index(tmp_path, monkeypatch):
    monkeypatch.setattr(pool_module, "BATCH_ROWS", 64)
    build_pool(synthetic_data_dir(tmp_path, 300), tmp_path / "pool")
    pool = Pool.open(tmp_path / "pool")
    assert len(pool) == 1500 and len(pool.batch_starts) == 5 * 5
    rng = np.random.default_rng(1)
    rows = rng.integers(0, len(pool), 700)
    ids = pool.rows_table(rows, ["id"]).column("id").to_pylist()
    assert np.array_equal(pool.lookup(ids), rows)


def test_hash_collisions_never_select_the_wrong_record(tmp_path, monkeypatch):
    """Every id hashed to the same value: lookups must still find exactly the right rows."""
    monkeypatch.setattr(pool_module, "id_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    build_pool(example_data_dir(tmp_path), tmp_path / "pool")
    pool = Pool.open(tmp_path / "pool")
    ids = [r["id"] for r in example_records()][::-1] + ["coco_1", "svit_detail_0"]
    rows = pool.lookup(ids)
    assert rows[-2] == -1
    found = pool.rows_table(rows[rows >= 0], ["id"]).column("id").to_pylist()
    assert found == [i for i in ids if i != "coco_1"]


def test_id_hash_is_stable():
    keys = pool_module.fixed_width(pa.array(["coco_0", "svit_detail_0"]), 16)
    assert [int(h) for h in pool_module.id_hash(keys)] == [int(h) for h in pool_module.id_hash(keys.copy())]
    # pinned: saved indexes depend on these values staying the same
    assert [hex(int(h)) for h in pool_module.id_hash(keys)] == ["0x1090460de95c4dff", "0xcfd8cfdcc098674b"]


def test_pool_build_never_replaces_a_folder_that_is_not_a_complete_pool(tmp_path, capsys):
    """A folder with a ``sources/`` sub-folder used to count as a pool and was replaced: the user's thesis.tex went with it."""
    from dataoptim.cli import main

    data = example_data_dir(tmp_path)
    proj = tmp_path / "proj"
    (proj / "sources").mkdir(parents=True)
    (proj / "thesis.tex").write_text("x\n")
    code = main(["pool", "build", "--data-dir", str(data), "--output", str(proj)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and "not a pool; refusing to replace" in err and str(proj) in err
    assert (proj / "thesis.tex").read_text() == "x\n" and sorted(p.name for p in proj.iterdir()) == ["sources", "thesis.tex"]
    for manifest in ('{"format": 2}', "[1]", "not json"):  # a damaged pool is not ours to replace either
        (proj / "manifest.json").write_text(manifest)
        with pytest.raises(ConfigError, match="not a pool; refusing to replace"):
            build_pool(data, proj)
        assert (proj / "thesis.tex").exists()
    with pytest.raises(ConfigError, match="not a folder"):
        build_pool(data, proj / "thesis.tex")
    # what may be replaced: an empty folder, and a complete pool
    (tmp_path / "empty").mkdir()
    build_pool(data, tmp_path / "empty")
    build_pool(data, tmp_path / "empty", sources="coco")  # one name, not its letters
    assert Pool.open(tmp_path / "empty").sources == ["coco"]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    # a sibling of a build's name that no build made stays, with its files
    keep = tmp_path / "pp.tmp-keep"
    keep.mkdir()
    (keep / "f").write_text("k")
    build_pool(data, tmp_path / "pp")
    assert (keep / "f").read_text() == "k" and len(Pool.open(tmp_path / "pp")) == 17
    # a link is never replaced
    (tmp_path / "link").symlink_to(tmp_path / "pp")
    with pytest.raises(ConfigError, match="symbolic link"):
        build_pool(data, tmp_path / "link")


def test_pool_build_argument_errors_and_no_parent_folders_left(tmp_path):
    data = example_data_dir(tmp_path)
    for sources in ([], "", [""], ["coco", 5]):
        with pytest.raises(ConfigError, match="sources"):
            build_pool(data, tmp_path / "a" / "b" / "pool", sources=sources)
    with pytest.raises(ConfigError, match="pool folder must be a path"):
        build_pool(data, None)
    (data / "svit.json").write_text("[{]")
    with pytest.raises(InputError):
        build_pool(data, tmp_path / "a" / "b" / "pool")
    assert not (tmp_path / "a").exists()  # parents are made for a build, and removed again when it fails


@pytest.mark.parametrize(
    "damage, error, words",
    [
        ("manifest-format-only", InputError, ["manifest.json", "id_width"]),
        ("manifest-list", InputError, ["manifest.json", "not a JSON object"]),
        ("manifest-bad-source-name", InputError, ["manifest.json", "sources[0].name"]),
        ("manifest-batch-starts", InputError, ["manifest.json", "batch_starts"]),
        ("ids-deleted", MissingFileError, ["ids.npy", "missing"]),
        ("hashes-garbage", InputError, ["hashes.npy", "cannot be read"]),
        ("hashes-wrong-length", InputError, ["hashes.npy", "shape"]),
        ("rows-out-of-range", InputError, ["rows.npy", "damaged"]),
    ],
)
def test_damaged_pool_folder_is_a_typed_error_naming_the_file(example_pool, tmp_path, damage, error, words):
    import json as json_module

    pool = tmp_path / "pool"
    shutil.copytree(example_pool.path, pool)
    manifest = json_module.loads((pool / "manifest.json").read_text())
    if damage == "manifest-format-only":
        (pool / "manifest.json").write_text('{"format": 2}')
    elif damage == "manifest-list":
        (pool / "manifest.json").write_text("[1]")
    elif damage == "manifest-bad-source-name":
        manifest["sources"][0]["name"] = "../../etc/x"
        (pool / "manifest.json").write_text(json_module.dumps(manifest))
    elif damage == "manifest-batch-starts":
        manifest["sources"][0]["batch_starts"] = "0"
        (pool / "manifest.json").write_text(json_module.dumps(manifest))
    elif damage == "ids-deleted":
        (pool / "index" / "ids.npy").unlink()
    elif damage == "hashes-garbage":
        (pool / "index" / "hashes.npy").write_bytes(b"\x7fELF" + bytes(200))
    elif damage == "hashes-wrong-length":
        np.save(pool / "index" / "hashes.npy", np.zeros(3, dtype=np.uint64))
    elif damage == "rows-out-of-range":
        rows = np.load(pool / "index" / "rows.npy")
        np.save(pool / "index" / "rows.npy", rows + 1000)
    with pytest.raises(error) as info:
        Pool.open(pool).by_ids(["coco_0", "svit_detail_0"])
    assert all(w in str(info.value) for w in words), str(info.value)
    assert "\n" not in str(info.value)
