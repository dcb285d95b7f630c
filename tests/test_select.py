"""Selections: standard and BYOD submissions, mixtures, filters, export, summary, images, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.compute as pc
import pytest

from dataoptim.cli import main
from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError, UnknownIdError, UnsafeInputError
from dataoptim.io import atomic_write
from dataoptim.select import Pool, Selection, build_pool, check_images, validate_byod
from dataoptim.select import materialize
from dataoptim.select.cli import parse_mix
from test_select_support import BYOD, STANDARD, example_data_dir, example_records, synthetic_data_dir


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    build_pool(example_data_dir(root), root / "pool")
    return Pool.open(root / "pool")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    build_pool(synthetic_data_dir(root, 400), root / "pool")
    return Pool.open(root / "pool")


def read(path):
    return json.loads(open(path, encoding="utf-8").read())


# ---------------------------------------------------------------------------------------- standard
def test_official_standard_submission_gives_the_byod_records_in_order(pool, tmp_path):
    selection = pool.by_ids(STANDARD)
    assert len(selection) == 17 and selection.report["repeats"] == 0
    summary = selection.to_llava_json(tmp_path / "train.json")
    written = read(tmp_path / "train.json")
    assert written == example_records()
    assert all(list(r) == ["id", "image", "conversations"] for r in written)
    assert summary.records == 17 and summary.by_source["svit"] == 4 and summary.by_task["vqa"] == 5
    assert summary.images == len({r["image"] for r in written})
    assert selection.ids() == STANDARD.read_text().split()


def test_id_file_spacing_blank_lines_crlf_bom_and_order(pool, tmp_path):
    ids = STANDARD.read_text().split()
    reordered = ids[::-1]
    text = "\ufeff" + "\r\n".join(f"  {i}\t" if n % 3 == 0 else i for n, i in enumerate(reordered)) + "\r\n\r\n   \r\n"
    path = tmp_path / "ids.txt"
    path.write_text(text, encoding="utf-8")
    selection = pool.by_ids(path)
    assert selection.ids() == reordered
    selection.to_llava_json(tmp_path / "out.json")
    assert [r["id"] for r in read(tmp_path / "out.json")] == reordered


def test_duplicate_ids_are_repeated_samples_and_reported(pool, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("coco_0\ngqa_05145757\ncoco_0\ncoco_0\n")
    selection = pool.by_ids(path)
    assert selection.report["repeats"] == 2 and selection.report["repeated_examples"] == ["coco_0"]
    summary = selection.to_llava_json(tmp_path / "out.json")
    assert [r["id"] for r in read(tmp_path / "out.json")] == ["coco_0", "gqa_05145757", "coco_0", "coco_0"]
    assert summary.records == 4 and summary.repeats == 2 and summary.images == 2


def test_unknown_ids_error_names_count_and_first_few(pool, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("coco_0\ncoco_1\nvqav2_7\nsvit_detail_0\nllava_3\n")
    with pytest.raises(UnknownIdError) as err:
        pool.by_ids(path)
    message = str(err.value)
    assert "3 of 5 ids" in message and "'coco_1'" in message and "'vqav2_7'" in message and "ids.txt" in message
    selection = pool.by_ids(path, skip_unknown=True)
    assert selection.ids() == ["coco_0", "svit_detail_0"] and selection.report["unknown"] == 3


@pytest.mark.parametrize(
    "content, expected",
    [
        ("coco_0\ncoco 0\n", "line 2: 'coco 0'"),
        ('coco_0\n"coco_0"\n', "line 2"),
        ("coco_0\n../etc/passwd\n", "line 2"),
        ("", "empty"),
        ("\n  \n\n", "no ids"),
    ],
)
def test_malformed_id_files(pool, tmp_path, content, expected):
    path = tmp_path / "ids.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=expected):
        pool.by_ids(path)


def test_id_file_not_utf8_or_missing(pool, tmp_path):
    path = tmp_path / "ids.txt"
    path.write_bytes(b"coco_0\n\xff\xfe\n")
    with pytest.raises(InputError, match="UTF-8|malformed"):
        pool.by_ids(path)
    with pytest.raises(MissingFileError):
        pool.by_ids(tmp_path / "absent.txt")


def test_ids_from_a_list(pool):
    assert pool.by_ids([" coco_0 ", "svit_detail_0"]).ids() == ["coco_0", "svit_detail_0"]
    with pytest.raises(InputError):
        pool.by_ids(["coco 0"])


# ---------------------------------------------------------------------------------------- BYOD
def write_byod(tmp_path, records, name="byod.json"):
    path = tmp_path / name
    path.write_text(records if isinstance(records, str) else json.dumps(records), encoding="utf-8")
    return path


def fault(kind):
    records = example_records()[:5]
    r = records[3]
    if kind == "id_type":
        r["id"] = 12
    elif kind == "conversations_type":
        r["conversations"] = {"from": "human", "value": "<image>\nhi"}
    elif kind == "value_type":
        r["conversations"][1]["value"] = 3
    elif kind == "no_image_token":
        r["conversations"][0]["value"] = r["conversations"][0]["value"].replace("<image>\n", "")
    elif kind == "two_image_tokens":
        r["conversations"][0]["value"] = "<image>\n<image>\n" + r["conversations"][0]["value"].replace("<image>\n", "")
    elif kind == "turn_order":
        r["conversations"] = r["conversations"][::-1]
    elif kind == "duplicate_id":
        r["id"] = records[1]["id"]
    elif kind == "dotdot":
        r["image"] = "coco/../../etc/passwd"
    elif kind == "absolute":
        r["image"] = "/etc/passwd"
    elif kind == "missing_field":
        del r["image"]
    return records


@pytest.mark.parametrize(
    "kind, field",
    [
        ("id_type", "'id'"),
        ("conversations_type", "'conversations'"),
        ("value_type", "'conversations[1].value'"),
        ("no_image_token", "'conversations[0].value'"),
        ("two_image_tokens", "'conversations[0].value'"),
        ("turn_order", "'conversations[0].from'"),
        ("duplicate_id", "'id'"),
        ("dotdot", "'image'"),
        ("absolute", "'image'"),
        ("missing_field", "'conversations[0].value'"),  # no image: a text-only record, which holds no <image>
    ],
)
def test_byod_faults_are_refused_naming_record_and_field(tmp_path, kind, field):
    path = write_byod(tmp_path, fault(kind))
    out = tmp_path / "out.json"
    with pytest.raises(RecordError) as err:
        validate_byod(path, output=out)
    message = str(err.value)
    assert "byod.json" in message and "record 3" in message and f"field {field}" in message, message
    assert "\n" not in message
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.json")]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[{"id": "coco_0", "image": "coco/a.jpg", "conversations": [}]', "not valid JSON"),
        ('{"records": []}', "must be a JSON list of records"),
        ('{"id": "coco_0"}', "record 0 \\(id 'coco_0'\\), field 'conversations': missing"),  # JSON Lines (issue 12): read as a (text-only) record
        ("", "empty"),
        ("[]", "no records"),
        ('[{"id": "coco_0"', "not valid JSON"),
    ],
)
def test_byod_malformed_json(tmp_path, text, expected):
    path = write_byod(tmp_path, text)
    with pytest.raises(InputError, match=expected):
        validate_byod(path, output=tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_byod_malformed_json_names_the_record(tmp_path):
    good = json.dumps(example_records()[:2])[:-1]
    path = write_byod(tmp_path, good + ', {"id": "x", "image": oops}]')
    with pytest.raises(InputError, match="record 2"):
        validate_byod(path)


def make_images(folder, records, skip=()):
    from PIL import Image

    for r in records:
        if r["image"] in skip:
            continue
        p = folder / r["image"]
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 3), (10, 20, 30)).save(p, format="JPEG")  # a real JPEG: BYOD parses each header


def test_byod_image_folder(tmp_path):
    records = example_records()
    images = tmp_path / "images"
    make_images(images, records, skip={records[5]["image"]})
    path = write_byod(tmp_path, records)
    with pytest.raises(RecordError) as err:
        validate_byod(path, images)
    assert "record 5" in str(err.value) and "field 'image'" in str(err.value) and "not found" in str(err.value)
    make_images(images, records)
    summary = validate_byod(path, images, output=tmp_path / "out.json")
    assert summary.records == 17 and read(tmp_path / "out.json") == records


def test_byod_corrupt_images_are_refused_and_mislabeled_ones_reported(tmp_path):
    from PIL import Image

    records = example_records()[:3]
    images = tmp_path / "images"
    make_images(images, records)
    path = write_byod(tmp_path, records)
    target = images / records[1]["image"]
    for content, words in ((b"", "is empty"), (b"<html>not found</html>", "is not an image"),
                           (b"\xff\xd8\xff\xe0\x00\x10JFIF cut", "is not a readable jpeg image")):
        target.write_bytes(content)
        with pytest.raises(RecordError) as err:
            validate_byod(path, images, output=tmp_path / "out.json")
        message = str(err.value)
        assert message.startswith(f"{path}: record 1 (id {records[1]['id']!r}), field 'image': image file {records[1]['image']!r}")
        assert words in message, message
        assert not (tmp_path / "out.json").exists()
    Image.new("P", (4, 3), 1).save(target, format="GIF")  # OCR-VQA's trap: accepted, and reported by name
    summary = validate_byod(path, images)
    assert summary.mislabeled == [(records[1]["image"], "gif")] and summary.mislabeled_count == 1


def test_export_refuses_corrupt_images_naming_the_record(pool, tmp_path):
    images = tmp_path / "images"
    records = example_records()
    make_images(images, records)
    (images / records[2]["image"]).write_bytes(b"")
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(r["id"] for r in records) + "\n")
    with pytest.raises(InputError) as err:
        pool.by_ids(ids).to_llava_json(tmp_path / "out.json", image_folder=images)
    assert str(err.value).startswith(f"{ids}: record 2 (id {records[2]['id']!r}), field 'image': image file {records[2]['image']!r}")
    assert "is empty" in str(err.value) and not (tmp_path / "out.json").exists()


def test_byod_symlink_leaving_the_image_folder(tmp_path):
    records = example_records()[:1]
    images = tmp_path / "images"
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"\xff\xd8\xff")
    link = images / records[0]["image"]
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    with pytest.raises(UnsafeInputError, match="outside the image folder"):
        validate_byod(write_byod(tmp_path, records), images)


def test_byod_against_pool_counts_pool_ids(pool, tmp_path):
    records = example_records()[:3] + [dict(example_records()[3], id="mine_1")]
    summary = validate_byod(write_byod(tmp_path, records), pool=pool)
    assert summary.in_pool == 3 and summary.by_source.get("other") == 1


def test_byod_extra_fields_are_dropped_on_export(tmp_path):
    records = example_records()[:2]
    records[0]["source"] = "coco"
    validate_byod(write_byod(tmp_path, records), output=tmp_path / "out.json")
    assert list(read(tmp_path / "out.json")[0]) == ["id", "image", "conversations"]


# ---------------------------------------------------------------------------------------- mixtures
def test_mixture_counts_and_reproducibility(big):
    mix = big.mix({"vqav2": 0.5, "llava": 0.3, "gqa": 0.2}, budget=101, seed=3)
    assert mix.report["mixture"] == {"vqav2": 51, "llava": 30, "gqa": 20}
    assert mix.source_counts() == {"vqav2": 51, "gqa": 20, "llava": 30}
    assert len(np.unique(mix.rows)) == 101
    again = big.mix({"vqav2": 0.5, "llava": 0.3, "gqa": 0.2}, budget=101, seed=3)
    assert np.array_equal(mix.rows, again.rows)
    other = big.mix({"vqav2": 0.5, "llava": 0.3, "gqa": 0.2}, budget=101, seed=4)
    assert not np.array_equal(mix.rows, other.rows)
    # a key's draw does not depend on the other keys
    alone = big.mix({"llava": 1.0}, budget=30, seed=3)
    assert np.array_equal(alone.rows, mix.filter(source="llava").rows)


def test_mixture_by_task_weights_normalised_and_shuffle(big):
    mix = big.mix({"vqa": 2, "instruct": 2}, budget=50, seed=0, shuffle=True)
    assert mix.report["by"] == "task" and mix.report["mixture"] == {"vqa": 25, "instruct": 25}
    counts = mix.source_counts()
    assert counts.get("vqav2", 0) + counts.get("gqa", 0) == 25 and counts.get("llava", 0) + counts.get("svit", 0) == 25
    assert not np.all(np.diff(mix.rows) > 0)


def test_mixture_replacement_and_errors(big):
    with pytest.raises(ConfigError, match="only 400 are available"):
        big.mix({"coco": 1.0}, budget=401)
    rep = big.mix({"coco": 1.0}, budget=1000, replace=True, seed=1)
    assert len(rep) == 1000 and len(np.unique(rep.rows)) <= 400
    for bad in ({"cocoa": 1.0}, {"coco": 1, "vqa": 1}, {"coco": -1}, {"coco": 0}, {}):
        with pytest.raises(ConfigError):
            big.mix(bad, budget=10)
    with pytest.raises(ConfigError, match="not in the pool"):
        big.mix({"okvqa": 1.0}, budget=10)
    with pytest.raises(ConfigError, match="budget"):
        big.mix({"coco": 1.0}, budget=-1)


def test_mixture_excludes_evaluation_images(big, tmp_path):
    banned = [f"coco/coco_{i}.jpg" for i in range(50)]  # 350 of the 400 coco records
    listing = tmp_path / "eval_images.txt"
    listing.write_text("\n".join(banned) + "\n")
    mix = big.mix({"coco": 1.0}, budget=50, exclude_images=listing, seed=0)
    images = set(mix.images())
    assert not images & set(banned) and len(mix) == 50
    with pytest.raises(ConfigError, match="only 50"):
        big.mix({"coco": 1.0}, budget=51, exclude_images=banned)


def test_parse_mix_spec(tmp_path):
    assert parse_mix("vqav2=0.5, llava:0.5") == {"vqav2": 0.5, "llava": 0.5}
    assert parse_mix('{"vqa": 1}') == {"vqa": 1}
    spec = tmp_path / "mix.json"
    spec.write_text('{"gqa": 0.25, "svit": 0.75}')
    assert parse_mix(str(spec)) == {"gqa": 0.25, "svit": 0.75}
    for bad in ("vqav2", "vqav2=x", "", "{nope"):
        with pytest.raises(ConfigError):
            parse_mix(bad)


# ---------------------------------------------------------------------------------------- filters and sets
def test_filters(big):
    assert len(big.filter(source="svit")) == 400
    assert len(big.filter(task="instruct")) == 800
    assert len(big.filter(source=["coco", "gqa"], task="vqa")) == 400
    long_dialogues = big.filter(where=pc.list_value_length(pc.field("conversations")) > 4)
    assert set(long_dialogues.source_counts()) == {"llava", "svit"}
    by_function = big.filter(where=lambda batch: pc.equal(batch.column("image"), "coco/coco_0.jpg"))
    assert len(by_function) == 7
    by_column = big.filter(image=["coco/coco_0.jpg", "coco/llava_1.jpg"])
    assert len(by_column) == 14
    kept = big.filter(source="coco").filter(keep=lambda r: r["id"].endswith("7"))
    assert len(kept) == 40 and all(i.endswith("7") for i in kept.ids())
    by_name = big.filter(exclude_images=["coco_0.jpg"], image_match="name", source="coco")
    assert len(by_name) == 393
    with pytest.raises(ConfigError):
        big.filter(source="nope")
    with pytest.raises(ConfigError):
        big.filter(task="nope")
    with pytest.raises(ConfigError):
        big.filter(colour="red")
    with pytest.raises(ConfigError):
        big.filter(where=pc.field("nope") > 1)


def test_set_operations(big):
    coco = big.filter(source="coco")
    first = big.by_ids([f"coco_{i}" for i in range(10)] + ["gqa_1"])
    assert len(coco | first) == 401
    assert (first | coco).ids()[:11] == first.ids()
    assert len(first - coco) == 1 and (first - coco).ids() == ["gqa_1"]
    assert len(first & coco) == 10
    assert len(first + first) == 22 and len((first + first).unique()) == 11
    sample = coco.sample(5, seed=1)
    assert len(sample) == 5 and np.array_equal(sample.rows, coco.sample(5, seed=1).rows)
    assert isinstance(coco, Selection) and "coco" in repr(coco)


def test_summary_and_plot(big, tmp_path):
    sel = big.filter(source=["llava", "coco"])
    summary = sel.summary()
    assert summary.records == 800 and summary.by_task == {"caption": 400, "instruct": 400}
    assert summary.messages == 400 * 2 + 400 * 6 and summary.answers == 1600
    assert summary.images == 2 * len(range(0, 400, 7))
    assert summary.mean_turns == pytest.approx(2.0)
    sel.plot(tmp_path / "mix.png")
    assert (tmp_path / "mix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary.write_json(tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["records"] == 800
    assert "800 records" in str(summary)
    sel.write_ids(tmp_path / "ids.txt")
    assert big.by_ids(tmp_path / "ids.txt").ids() == sel.ids()


def test_bucket_sort_path_matches_in_memory_path(big, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(big), 3000)  # random order, with repeats
    selection = Selection(big, rows)
    selection.to_llava_json(tmp_path / "memory.json")
    monkeypatch.setattr(materialize, "BUCKET_BYTES", 20_000)
    monkeypatch.setattr(materialize, "JSON_CHUNK_ROWS", 100)
    materialize.write_llava_json(big, rows, tmp_path / "buckets.json", memory_budget=1)
    assert (tmp_path / "buckets.json").read_bytes() == (tmp_path / "memory.json").read_bytes()
    written = read(tmp_path / "buckets.json")
    assert [r["id"] for r in written] == big.rows_table(rows, ["id"]).column("id").to_pylist()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


#: sha256 and size of the output of the selections below, written by write_llava_json as of commit 18b5c7e
#: (before the issue-14 point-8 speed-up: Polars NDJSON + bucket files); any faster path must keep these bytes.
GOLDEN_OUTPUT = {
    "random": ("13e34cbbd6ae936ff878b7c06d253c95bf17c7b9ec4c5b1fc81b12556041c5ec", 170345),
    "repeats": ("1abc3aa7845cfb77c19820c686ad7fd3e6e933232b4e09108164d14102f490df", 1731812),
    "pool_order": ("13117f9c568eed2b1e971127fd57eacac60aa9fd807c08338302a356a69c685c", 227023),
}


@pytest.mark.parametrize("budget", [None, 1])
def test_output_bytes_are_unchanged(big, tmp_path, monkeypatch, budget):
    """The exact bytes of the JSON written (random order, repeats, pool order; in memory and through bucket files)."""
    import hashlib

    rng = np.random.default_rng(14)
    cases = {
        "random": rng.permutation(len(big))[: len(big) // 4],
        "repeats": rng.integers(0, len(big), 5000),
        "pool_order": np.sort(rng.permutation(len(big))[: len(big) // 3]),
    }
    if budget is not None:
        monkeypatch.setattr(materialize, "BUCKET_BYTES", 20_000)
        monkeypatch.setattr(materialize, "JSON_CHUNK_ROWS", 100)
    for name, rows in cases.items():
        out = tmp_path / f"{name}.json"
        materialize.write_llava_json(big, rows, out, memory_budget=budget)
        data = out.read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == GOLDEN_OUTPUT[name], name


def test_pool_order_fast_path_matches(big, tmp_path, monkeypatch):
    rows = np.sort(np.random.default_rng(2).integers(0, len(big), 2500))  # pool order, with repeats
    monkeypatch.setattr(materialize, "JSON_CHUNK_ROWS", 100)
    materialize.write_llava_json(big, rows, tmp_path / "direct.json", memory_budget=1)
    expected = big.rows_table(rows, ["id", "image", "conversations"]).to_pylist()
    assert read(tmp_path / "direct.json") == expected


@pytest.mark.parametrize("order", ["random", "pool"])
def test_repeated_rows_taken_in_small_pieces_give_identical_output(big, tmp_path, monkeypatch, order):
    """Rows repeated many times are taken out of a batch in pieces (TAKE_ROWS / TAKE_BYTES) so no take
    can pass Arrow's 2 GB offset range (2M repeats of two long records did); tiny pieces change no byte."""
    rng = np.random.default_rng(3)
    rows = np.repeat(rng.integers(0, len(big), 30), rng.integers(1, 400, 30))  # rows repeated hundreds of times
    rows = rng.permutation(rows) if order == "random" else np.sort(rows)
    selection = Selection(big, rows)
    whole = selection.to_llava_json(tmp_path / "whole.json")
    table = selection.table()
    monkeypatch.setattr(materialize, "TAKE_ROWS", 7)
    monkeypatch.setattr(materialize, "TAKE_BYTES", 2_000)  # a few records per piece
    pieces = [len(t) for t, _, _ in materialize.iter_taken(big, rows, ["id", "conversations"])]
    assert max(pieces) <= 7 and len(pieces) > len(rows) // 7
    assert selection.to_llava_json(tmp_path / "pieces.json") == whole
    assert (tmp_path / "pieces.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    monkeypatch.setattr(materialize, "BUCKET_BYTES", 20_000)
    materialize.write_llava_json(big, rows, tmp_path / "buckets.json", memory_budget=1)
    assert (tmp_path / "buckets.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert selection.table().equals(table)  # rows_table in output-order pieces, too
    selection.write_ids(tmp_path / "ids.txt")
    assert (tmp_path / "ids.txt").read_text().split() == [r["id"] for r in read(tmp_path / "whole.json")]


def test_interrupted_export_leaves_no_file(big, tmp_path, monkeypatch):
    calls = []
    original = materialize.JsonListWriter.write_elements

    def write_then_fail(self, text, count):
        original(self, text, count)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(materialize.JsonListWriter, "write_elements", write_then_fail)
    out = tmp_path / "train.json"
    with pytest.raises(KeyboardInterrupt):
        big.all().to_llava_json(out)
    assert calls and not out.exists() and not list(tmp_path.iterdir())
    monkeypatch.setattr(materialize, "BUCKET_BYTES", 20_000)
    with pytest.raises(KeyboardInterrupt):
        materialize.write_llava_json(big, big.all().rows, out, memory_budget=1)
    assert not out.exists() and not list(tmp_path.iterdir())


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_export_leftovers_are_removed_live_ones_kept(big, tmp_path):
    """What killed exports left in the output folder goes at the next export; another live export's files stay."""
    import fcntl
    import time

    past = time.time() - 3600
    stale_tmp = tmp_path / ".train.json.abcd_123.tmp"           # a killed export's temporary file (no lock held)
    stale_sort = tmp_path / f".train.json.sort-{_dead_pid()}-x1y2z3"  # its sort folder, of a process that is gone
    old_sort = tmp_path / ".train.json.sort-k3j2h1g0"            # an older version's name, without a pid
    live_tmp = tmp_path / ".other.json.zzzz_999.tmp"              # a live export writing (it holds the lock)
    live_sort = tmp_path / f".other.json.sort-{os.getppid()}-a1"  # a live process's sort folder
    fresh_tmp = tmp_path / ".third.json.fresh_01.tmp"             # newer than this process: left alone
    unrelated = tmp_path / ".notes.txt.abcdefgh.tmp"              # not an export's name
    for path in (stale_sort, old_sort, live_sort):
        path.mkdir()
        (path / "00000.jsonl").write_bytes(b"{}\n")
    for path in (stale_tmp, live_tmp, fresh_tmp, unrelated):
        path.write_bytes(b"[{")
    for path in (stale_tmp, stale_sort, old_sort, live_tmp, live_sort, unrelated):
        os.utime(path, (past, past))
    with open(live_tmp, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_SH)
        big.by_ids(["coco_1", "coco_0"]).to_llava_json(tmp_path / "train.json")
        left = {p.name for p in tmp_path.iterdir()}
    assert left == {"train.json", live_tmp.name, live_sort.name, fresh_tmp.name, unrelated.name}
    # BYOD exports clean up the same way
    stale_tmp.write_bytes(b"[")
    os.utime(stale_tmp, (past, past))
    validate_byod(write_byod(tmp_path, example_records()[:2]), output=tmp_path / "sel.json")
    assert not stale_tmp.exists() and (tmp_path / "sel.json").is_file()


def test_json_escaping_round_trips(tmp_path):
    records = example_records()[:1]
    records[0]["conversations"][1]["value"] = 'tab\there "quoted" back\\slash ünïcode \u2028 ctrl\x01 end'
    data = tmp_path / "data"
    data.mkdir()
    (data / "coco.json").write_text(json.dumps(records))
    build_pool(data, tmp_path / "pool")
    Pool.open(tmp_path / "pool").all().to_llava_json(tmp_path / "out.json")
    assert read(tmp_path / "out.json") == records


# ---------------------------------------------------------------------------------------- images
def test_image_check_reports_missing_flickr_trap_and_gif_named_jpg(tmp_path):
    folder = tmp_path / "images"
    (folder / "filckr30k").mkdir(parents=True)
    (folder / "filckr30k" / "1.jpg").write_bytes(b"\xff\xd8\xff")
    (folder / "ocrvqa").mkdir()
    (folder / "ocrvqa" / "a.jpg").write_bytes(b"GIF89a....")
    (folder / "ocrvqa" / "b.jpg").write_bytes(b"\x89PNG\r\n\x1a\n....")
    (folder / "ocrvqa" / "c.jpg").write_bytes(b"")
    (folder / "ocrvqa" / "d.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    report = check_images(["flickr30k/1.jpg", "ocrvqa/a.jpg", "ocrvqa/b.jpg", "ocrvqa/c.jpg", "ocrvqa/d.jpg", "ocrvqa/d.jpg"], folder)
    assert report.checked == 5 and report.missing == ["flickr30k/1.jpg"] and not report.ok
    assert report.mislabeled == [("ocrvqa/a.jpg", "gif"), ("ocrvqa/b.jpg", "png")]
    assert report.corrupt == [("ocrvqa/c.jpg", "is empty")]
    assert any("filckr30k" in h and "rename" in h for h in report.hints)
    with pytest.raises(MissingFileError, match="1 of 5 images is missing.*filckr30k"):
        report.raise_for_missing()
    assert any("really gif" in line for line in report.lines())


def test_export_with_image_folder_checks_first(pool, tmp_path):
    images = tmp_path / "images"
    records = example_records()
    make_images(images, records, skip={records[0]["image"]})
    with pytest.raises(MissingFileError, match="1 of 13 images is missing"):
        pool.by_ids(STANDARD).to_llava_json(tmp_path / "out.json", image_folder=images)
    assert not (tmp_path / "out.json").exists()
    make_images(images, records)
    pool.by_ids(STANDARD).to_llava_json(tmp_path / "out.json", image_folder=images)
    assert read(tmp_path / "out.json") == records


# ---------------------------------------------------------------------------------------- CLI
def run_cli(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_select_ids(pool, tmp_path, capsys):
    out = tmp_path / "train.json"
    code, stdout, _ = run_cli(["select", "--pool", pool.path, "--ids", STANDARD, "--output", out, "--write-ids", tmp_path / "ids.txt", "--summary", tmp_path / "s.json", "--plot", tmp_path / "p.png"], capsys)
    assert code == 0 and "wrote 17 records" in stdout
    assert read(out) == example_records()
    assert (tmp_path / "ids.txt").read_text().split() == STANDARD.read_text().split()
    assert json.loads((tmp_path / "s.json").read_text())["by_source"]["svit"] == 4
    assert (tmp_path / "p.png").stat().st_size > 1000


def test_cli_errors_are_one_line_and_exit_2(pool, tmp_path, capsys):
    bad_ids = tmp_path / "ids.txt"
    bad_ids.write_text("coco_0\ncoco_999\n")
    out = tmp_path / "train.json"
    cases = [
        ["select", "--pool", pool.path, "--ids", bad_ids, "--output", out],
        ["select", "--byod", write_byod(tmp_path, fault("two_image_tokens")), "--output", out],
        ["select", "--pool", pool.path, "--output", out],
        ["select", "--pool", pool.path, "--ids", STANDARD, "--byod", BYOD, "--output", out],
        ["select", "--ids", STANDARD, "--output", out],
        ["select", "--pool", pool.path, "--mix", "coco=1", "--output", out],
        ["select", "--pool", pool.path, "--mix", "coco=1", "--budget", "5", "--output", out],
        ["select", "--pool", tmp_path / "nopool", "--ids", STANDARD, "--output", out],
        ["validate", write_byod(tmp_path, fault("dotdot"), "v.json")],
        ["validate", bad_ids, "--pool", pool.path],
        ["pool", "build", "--data-dir", tmp_path / "absent", "--output", tmp_path / "p"],
    ]
    for args in cases:
        code, stdout, stderr = run_cli(args, capsys)
        assert code == 2, (args, stderr)
        assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert not out.exists()
    assert "coco_999" in run_cli(cases[0], capsys)[2]


def test_cli_select_byod_mix_and_skip_unknown(pool, big, tmp_path, capsys):
    out = tmp_path / "train.json"
    code, stdout, _ = run_cli(["select", "--byod", BYOD, "--output", out, "--pool", pool.path, "-q"], capsys)
    assert code == 0 and read(out) == example_records()
    code, _, _ = run_cli(["select", "--pool", big.path, "--mix", "vqav2=0.5,llava=0.5", "--budget", 20, "--seed", 1, "--output", out, "-q"], capsys)
    assert code == 0 and [r["id"].split("_")[0] for r in read(out)] == ["vqav2"] * 10 + ["llava"] * 10
    ids = tmp_path / "ids.txt"
    ids.write_text("coco_0\nnot_there\n")
    code, _, stderr = run_cli(["select", "--pool", pool.path, "--ids", ids, "--output", out, "--skip-unknown"], capsys)
    assert code == 0 and "skipped 1 unknown" in stderr and [r["id"] for r in read(out)] == ["coco_0"]


def test_cli_validate_and_pool_commands(pool, tmp_path, capsys):
    code, stdout, _ = run_cli(["validate", BYOD, "-q"], capsys)
    assert code == 0 and "valid BYOD submission, 17 records" in stdout
    code, stdout, _ = run_cli(["validate", STANDARD, "--pool", pool.path, "-q"], capsys)
    assert code == 0 and "valid standard submission, 17 records" in stdout
    code, stdout, _ = run_cli(["validate", STANDARD], capsys)
    assert code == 0 and "17 well-formed ids" in stdout
    code, stdout, _ = run_cli(["pool", "build", "--data-dir", example_data_dir(tmp_path), "--output", tmp_path / "p", "--sources", "coco,svit"], capsys)
    assert code == 0 and "5 records from 2 sources" in stdout
    code, stdout, _ = run_cli(["pool", "info", tmp_path / "p"], capsys)
    assert code == 0 and "svit" in stdout


def test_select_cli_imports_stay_lean(pool, tmp_path):
    code = (
        "import sys; from dataoptim.cli import main; "
        f"rc = main(['select', '--pool', {str(pool.path)!r}, '--ids', {str(STANDARD)!r}, '--output', {str(tmp_path / 'o.json')!r}, '-q']); "
        "print(rc, sorted(m for m in ('datasets', 'torch', 'pandas', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split("\n")[-2] == "0 []", result.stdout + result.stderr


# ---------------------------------------------------------------------------------------- bad arguments
def test_cli_checks_every_output_path_before_writing_anything(pool, tmp_path, capsys):
    """--write-ids/--summary/--plot used to fail after out.json was written; a failed write left its parent folders."""
    out = tmp_path / "out.json"
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "afile").write_text("x")
    base = ["select", "--pool", pool.path, "--ids", STANDARD, "-q"]
    for extra, words in [
        (["--output", out, "--write-ids", folder], "--write-ids"),
        (["--output", out, "--summary", folder], "--summary"),
        (["--output", out, "--plot", folder], "--plot"),
        (["--output", out, "--write-ids", out], "same file as --output"),
        (["--output", out, "--plot", tmp_path / "afile" / "p.png"], "is a file"),
        (["--output", folder], "folder"),
    ]:
        code, _, err = run_cli(base + extra, capsys)
        assert code == 2 and err.count("\n") == 1 and words in err, (extra, err)
        assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    # parents are made only when writing, and removed again if the write fails
    code, _, err = run_cli(["select", "--pool", pool.path, "--ids", STANDARD, "--output", tmp_path / "a" / "b" / "out.json", "--image-folder", tmp_path / "absent", "-q"], capsys)
    assert code == 2 and not (tmp_path / "a").exists()
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "c" / "d" / "x.json") as handle:
            handle.write("half")
            raise KeyboardInterrupt
    assert not (tmp_path / "c").exists()
    code, _, _ = run_cli(base + ["--output", tmp_path / "a" / "b" / "out.json", "--write-ids", tmp_path / "a" / "ids.txt"], capsys)
    assert code == 0 and (tmp_path / "a" / "ids.txt").read_text().split() == STANDARD.read_text().split()


def test_cli_option_errors_name_the_option(pool, tmp_path, capsys):
    out = tmp_path / "out.json"
    binary = tmp_path / "eval.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\xd0\xff\x00")
    mix = ["select", "--pool", pool.path, "--output", out, "-q", "--mix"]
    for args, words in [
        (mix + ["vqav2=1", "--budget", "2", "--seed", "-1"], "field '--seed': must be a non-negative integer, found -1"),
        (mix + ["vqav2=1", "--budget", "2", "--exclude-images", binary], "eval.bin: field '--exclude-images': image list is not UTF-8 text"),
        (mix + ["vqav2=0.5,vqav2=0.5", "--budget", "2"], "mixture key 'vqav2' is given twice"),
        (mix + ["vqav2=0,coco=0", "--budget", "2"], "sum to zero"),
        (mix + ["vqav2=-0.5", "--budget", "2"], ">= 0"),
        (mix + ["vqav2=nan", "--budget", "2"], "nan"),
        (mix + ["vqav2=1", "--budget", "-3"], "field '--budget'"),
        (["select", "--pool", pool.path, "--output", out, "--ids", STANDARD, "--exclude-images", binary], "only for --mix"),
        (["pool", "build", "--data-dir", tmp_path, "--output", tmp_path / "p", "--sources", ""], "field '--sources': no source named"),
        (["pool", "build", "--data-dir", tmp_path, "--output", tmp_path / "p", "--sources", " , "], "field '--sources'"),
    ]:
        code, _, err = run_cli(args, capsys)
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and words in err, (args, err)
        assert not out.exists() and not (tmp_path / "p").exists()
    # each command's unknown-id error names its own way out (validate has no --skip-unknown)
    ids = tmp_path / "ids.txt"
    ids.write_text("coco_0\nnot_there\n")
    _, _, err = run_cli(["validate", ids, "--pool", pool.path], capsys)
    assert "not_there" in err and "--skip-unknown" not in err and "skip_unknown" not in err
    _, _, err = run_cli(["select", "--pool", pool.path, "--ids", ids, "--output", out], capsys)
    assert "pass --skip-unknown to drop them" in err and "skip_unknown=True" not in err
    with pytest.raises(UnknownIdError, match=r"pass skip_unknown=True to drop them\)$"):
        pool.by_ids(ids)


def test_api_argument_errors_are_config_errors(pool, tmp_path):
    """Wrong types and values raise ConfigError (a ValueError) naming the argument, not TypeError/KeyError/ArrowTypeError."""
    sel = pool.by_ids(["coco_0"])
    calls = {
        "validate_byod(None)": (lambda: validate_byod(None), "path"),
        "validate_byod(output=folder)": (lambda: validate_byod(BYOD, output=tmp_path), "folder"),
        "validate_byod(pool=3)": (lambda: validate_byod(BYOD, pool=3), "pool"),
        "by_ids([coco_0, 5])": (lambda: pool.by_ids(["coco_0", 5]), "position 1"),
        "by_ids(None)": (lambda: pool.by_ids(None), "ids"),
        "get(5)": (lambda: pool.get(5), "string"),
        "get(None)": (lambda: pool.get(None), "string"),
        "mix(list of pairs)": (lambda: pool.mix([("vqav2", 1)], budget=3), "mapping"),
        "mix(seed=-1)": (lambda: pool.mix({"vqav2": 1}, budget=1, seed=-1), "seed"),
        "mix(seed='a')": (lambda: pool.mix({"vqav2": 1}, budget=1, seed="a"), "seed"),
        "mix(ratios sum 0)": (lambda: pool.mix({"vqav2": 0}, budget=1), "sum to zero"),
        "mix(budget=1.5)": (lambda: pool.mix({"vqav2": 1}, budget=1.5), "budget"),
        "sel | 3": (lambda: sel | 3, "Selection"),
        "sel + None": (lambda: sel + None, "Selection"),
        "sample(-1)": (lambda: sel.sample(-1), "'n'"),
        "shuffle(seed=-1)": (lambda: sel.shuffle(seed=-1), "seed"),
        "filter(source=5)": (lambda: pool.filter(source=5), "source"),
        "filter(exclude_images=5)": (lambda: pool.filter(exclude_images=5), "exclude_images"),
        "to_llava_json(folder)": (lambda: sel.to_llava_json(tmp_path), "folder"),
        "write_ids(folder)": (lambda: sel.write_ids(tmp_path), "folder"),
        "check_images(None)": (lambda: sel.check_images(None), "image folder"),
        "Pool.open(None)": (lambda: Pool.open(None), "pool folder"),
        "Selection rows outside the pool": (lambda: Selection(pool, np.array([len(pool)])).ids(), "rows"),
    }
    for name, (call, words) in calls.items():
        with pytest.raises(ConfigError) as info:
            call()
        assert isinstance(info.value, ValueError) and words in str(info.value), (name, str(info.value))
    assert not list(tmp_path.iterdir())
    # a pool given as a path is opened; a single source name is one name
    assert validate_byod(BYOD, pool=pool.path).in_pool == 17
    assert pool.filter(source="coco").source_counts() == {"coco": 1}
