"""Atomic writes, located JSON errors and safe archive extraction (DESIGN §10)."""

import json
import stat
import zipfile

import pytest

from dataoptim.errors import InputError, MissingFileError, UnsafeInputError
from dataoptim.files import extract_member, safe_extract
from dataoptim.io import atomic_write, iter_json_items, iter_jsonl, read_json, write_json


def test_atomic_write_leaves_old_file_when_interrupted(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, [1, 2])
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("[3, ")
            raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temp file left


def test_atomic_write_never_creates_partial_new_file(tmp_path):
    target = tmp_path / "new" / "out.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as handle:
            handle.write("{")
            raise KeyboardInterrupt
    assert not target.exists() and not target.parent.exists()  # the folder it made for the file goes too
    (tmp_path / "kept").mkdir()  # a folder that was there stays
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "kept" / "out.json") as handle:
            raise KeyboardInterrupt
    assert list((tmp_path / "kept").iterdir()) == []


@pytest.mark.parametrize(
    "content, words",
    [(b"", "is empty"), (b"[1, 2", "not valid JSON"), (b"\xff\xfe[]", "not UTF-8"), (b'{"a": 1}', "JSON list")],
)
def test_read_json_errors_name_the_file(tmp_path, content, words):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        read_json(path, expect=list, what="submission")
    assert info.value.file == str(path) and words in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="not found"):
        read_json(tmp_path / "nope.json")


def test_iter_jsonl_names_the_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"a": 1}\n\n[2]\n')
    it = iter_jsonl(path)
    assert next(it) == (0, {"a": 1})
    with pytest.raises(InputError) as info:
        next(it)
    assert info.value.record == 2 and "line 3 must be a JSON object" in str(info.value)


def test_iter_json_items_streams_and_reports_truncation(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"data": [{"i": i, "x": 0.5} for i in range(5)]}))
    assert [item["i"] for item in iter_json_items(path, "data.item")] == [0, 1, 2, 3, 4]
    assert isinstance(next(iter_json_items(path, "data.item"))["x"], float)
    path.write_text(path.read_text()[:-10])
    with pytest.raises(InputError, match="not valid JSON"):
        list(iter_json_items(path, "data.item"))


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_safe_extract_writes_members(tmp_path):
    archive = _zip(tmp_path / "data.zip", {"data/coco.json": "[]", "data/gqa.json": "[1]"})
    out = safe_extract(archive, tmp_path / "out")
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in out) == ["data/coco.json", "data/gqa.json"]
    assert extract_member(archive, "gqa.json").read_text() == "[1]"


@pytest.mark.parametrize("name", ["../evil.json", "/abs/evil.json", "data/../../evil.json", "C:/evil.json", "a\\..\\evil.json"])
def test_safe_extract_refuses_escaping_members(tmp_path, name):
    archive = _zip(tmp_path / "bad.zip", {"ok.json": "[]", name: "x"})
    with pytest.raises(UnsafeInputError):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.json").exists() and not (tmp_path / "out" / "ok.json").exists()


def test_safe_extract_refuses_symlinks_and_caps_size(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeInputError, match="symbolic link"):
        safe_extract(archive, tmp_path / "out")
    big = _zip(tmp_path / "big.zip", {"a.json": "0" * 10_000})
    with pytest.raises(UnsafeInputError, match="over the cap"):
        safe_extract(big, tmp_path / "out2", max_bytes=1000)
    assert not (tmp_path / "out2" / "a.json").exists()


def test_not_a_zip(tmp_path):
    path = tmp_path / "data.zip"
    path.write_text("hello")
    with pytest.raises(InputError, match="not a valid zip"):
        safe_extract(path, tmp_path / "o")
    with pytest.raises(MissingFileError, match="no member"):
        safe_extract(_zip(tmp_path / "d.zip", {"a": "1"}), tmp_path / "o", members=["b"])


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "is empty"),
        (b"  \n\t ", "is empty"),
        (b'[{"a": 1}, {"b": ', "ends early"),
        (b'[{"a": "caf\xe9"}]', "is not UTF-8 text"),
        (b'[{"a": 1} {"b": 2}]', "is not valid JSON: parse error"),
        (b'[{"a": 1},\n {"b": 2} {"c": 3}]', "(line 2, column 11)"),  # where it breaks (Python's json parser says)
        (b'[{"a": 9223372036854775808}]', "integer outside the 64-bit range"),
    ],
)
def test_streamed_json_errors_are_one_plain_line(tmp_path, content, words):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        list(iter_json_items(path, what="submission"))
    message = str(info.value)
    assert message.startswith(f"{path}: submission ") and words in message, message
    assert "\n" not in message and "b'" not in message and "right here" not in message


def test_atomic_write_gives_the_umask_mode_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "train.json", [])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_bom_is_skipped_by_every_reader(tmp_path):
    bom = b"\xef\xbb\xbf"
    (tmp_path / "a.json").write_bytes(bom + b'[{"i": 1}, {"i": 2}]')
    assert [x["i"] for x in iter_json_items(tmp_path / "a.json")] == [1, 2]
    assert read_json(tmp_path / "a.json") == [{"i": 1}, {"i": 2}]
    (tmp_path / "b.jsonl").write_bytes(bom + b'{"q": 1}\n{"q": 2}\n')
    assert [obj for _, obj in iter_jsonl(tmp_path / "b.jsonl")] == [{"q": 1}, {"q": 2}]


def test_deep_nesting_is_refused_quickly_and_named(tmp_path):
    import resource

    path = tmp_path / "deep.json"
    path.write_bytes(b'[{"id": "a"}, {"id": "b", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}]")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    it = iter_json_items(path, what="submission")
    assert next(it) == {"id": "a"}
    with pytest.raises(InputError) as info:
        next(it)
    assert info.value.record == 1 and "nested deeper than 64 levels" in str(info.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no quadratic blow-up
    (tmp_path / "deep.jsonl").write_text("[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(InputError, match="nested too deeply"):
        list(iter_jsonl(tmp_path / "deep.jsonl"))
    (tmp_path / "d2.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_json(tmp_path / "d2.json")


def test_streamed_items_equal_json_load(tmp_path):
    data = [{"id": "x", "n": [1, 2.5, None, True, {"k": "v"}], "s": "é\\u2028"}, 3, "str", None, [], {}]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    assert list(iter_json_items(path)) == data
    path.write_text("[]")
    assert list(iter_json_items(path)) == []


def test_output_path_that_is_a_folder_is_refused(tmp_path):
    from dataoptim.errors import ConfigError

    (tmp_path / "out.json").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        write_json(tmp_path / "out.json", [])


def test_jsonl_error_names_line_and_column(tmp_path):
    from dataoptim.io import iter_jsonl

    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n{"a": 1 "b": 2}\n')
    with pytest.raises(InputError) as info:
        list(iter_jsonl(path, what="selection"))
    assert str(info.value) == f"{path}: record 1: line 2 is not valid JSON: Expecting ',' delimiter (column 9)"
