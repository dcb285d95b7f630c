"""Faults a fresh tester found with a new clone of main and the README (second round).

Each test failed before its fix: outputs that overwrite inputs (point 1), ``select`` leaving
its output behind when the tokenizer cannot be loaded (point 2), a constant ``where``
(point 3), ``validate --tokenizer`` silent on truncation (point 4), printed token sums and
"and N more" (point 5), and the small inconsistencies of point 6.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.cli import main
from dataoptim.errors import ConfigError
from test_select_support import example_data_dir

TOKENIZER = Path(__file__).parent / "fixtures" / "llama2-tokenizer"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from dataoptim.select import build_pool

    root = tmp_path_factory.mktemp("tester_pool")
    build_pool(example_data_dir(root), root / "pool", progress=False)
    return root / "pool"


def _error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# ----------------------------------------------------------------------------------------------
# point 3: a constant where broadcasts to every record
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("condition, kept", [("TRUE", 17), ("1=1", 17), ("FALSE", 0), ("NULL", 0), ("1=0", 0)])
def test_constant_where_applies_to_every_record(pool, condition, kept, tmp_path, capsys):
    from dataoptim.select import Pool

    opened = Pool.open(pool)
    assert len(opened.all()) == 17
    assert len(opened.all().where(condition)) == kept
    out = tmp_path / "o.json"
    assert main(["select", "--pool", str(pool), "--where", condition, "--output", str(out), "-q"]) == 0
    assert len(json.loads(out.read_text())) == kept
    notes = [line for line in _error_lines(capsys) if line.startswith("note: the selection holds no record")]
    assert len(notes) == (1 if kept == 0 else 0)  # second tester: an empty selection was written without a word


# ----------------------------------------------------------------------------------------------
# point 1: an output that is one of the inputs is refused before anything is read or written
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def files(pool, tmp_path):
    """A BYOD submission (the pool's 17 records), an id list, and their bytes."""
    from dataoptim.select import Pool

    byod = tmp_path / "sub.json"
    Pool.open(pool).all().to_llava_json(byod, progress=False, summary=False)
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(r["id"] for r in json.loads(byod.read_text())) + "\n")
    (tmp_path / "link.json").symlink_to(byod)
    os.link(byod, tmp_path / "hard.json")
    return {"byod": byod, "ids": ids, "pool": pool, "tmp": tmp_path}


def _argvs(f):
    byod, ids, pool, tmp = str(f["byod"]), str(f["ids"]), str(f["pool"]), f["tmp"]
    other = str(tmp / "other.json")
    return {
        "validate --report SUB": (["validate", byod, "--report", byod], byod, "field '--report': the same file as the submission"),
        "validate --report via a symlink": (["validate", byod, "--report", str(tmp / "link.json")], byod, "the same file as the submission"),
        "tokens --output DATA": (["tokens", "--data", byod, "--tokenizer", str(TOKENIZER), "--output", byod], byod, "field '--output': the same file as --data"),
        "tokens --output DATA (hard link)": (["tokens", "--data", byod, "--tokenizer", str(TOKENIZER), "--output", str(tmp / "hard.json")], byod, "the same file as --data"),
        "select --byod --summary SUB": (["select", "--byod", byod, "--output", other, "--summary", byod], byod, "field '--summary': the same file as --byod"),
        "select --byod --output SUB": (["select", "--byod", byod, "--output", byod], byod, "field '--output': the same file as --byod"),
        "select --ids --output IDS": (["select", "--pool", str(pool), "--ids", ids, "--output", ids], ids, "field '--output': the same file as --ids"),
        "select --ids --write-ids IDS": (["select", "--pool", str(pool), "--ids", ids, "--output", other, "--write-ids", ids], ids, "the same file as --ids"),
        "select --summary on the output's sidecar": (["select", "--pool", str(pool), "--ids", ids, "--output", other, "--summary", other + ".boxes.json"], None,
                                                       "names the same file as --output's frame file"),
        "boxes convert IN IN": (["boxes", "convert", byod, byod, "--to", "padded", "--image-sizes", str(tmp / "sizes.json")], byod, "field 'OUTPUT': the same file as INPUT"),
        "boxes convert IN IN.boxes.json": (["boxes", "convert", other, byod, "--to", "padded", "--image-sizes", str(tmp / "sizes.json")], byod,
                                            "field 'OUTPUT': the same file as INPUT's frame file"),
        "strategy run --output IDS": (["strategy", "run", "random", "--pool", str(pool), "--budget", "3", "--ids", ids, "--output", ids], ids, "the same file as --ids"),
    }


CASES_1 = ["validate --report SUB", "validate --report via a symlink", "tokens --output DATA", "tokens --output DATA (hard link)",
           "select --byod --summary SUB", "select --byod --output SUB", "select --ids --output IDS", "select --ids --write-ids IDS",
           "select --summary on the output's sidecar", "boxes convert IN IN", "boxes convert IN IN.boxes.json", "strategy run --output IDS"]


@pytest.mark.parametrize("name", CASES_1)
def test_an_output_never_overwrites_an_input(files, name, capsys):
    argv, kept, words = _argvs(files)[name]
    if name == "boxes convert IN IN.boxes.json":  # the second file is the first one's sidecar
        argv[2] = str(files["tmp"] / "src.json")
        (files["tmp"] / "src.json").write_bytes(files["byod"].read_bytes())
        argv[3] = str(files["tmp"] / "src.json.boxes.json")
        (files["tmp"] / "src.json.boxes.json").write_text('{"frame": "original"}')
        kept = argv[3]
    before = {p: p.read_bytes() for p in files["tmp"].iterdir() if p.is_file()}
    assert main(argv) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
    after = {p: p.read_bytes() for p in files["tmp"].iterdir() if p.is_file()}
    assert after == before  # nothing written, nothing changed
    if kept is not None:
        assert Path(kept).stat().st_size > 0


def test_train_never_writes_over_its_selection(files, capsys):
    run = files["tmp"] / "run"
    run.mkdir()
    data = run / "llava_data.json"
    data.write_bytes(files["byod"].read_bytes())
    argv = ["train", "--backend", "llava", "--data", str(data), "--image-folder", str(files["tmp"]), "--output-dir", str(run),
            "--llava-repo", str(files["tmp"]), "--model-name-or-path", str(files["tmp"]), "--pretrain-mm-mlp-adapter", str(files["byod"]), "--dry-run"]
    assert main(argv) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1 and "--output-dir's llava_data.json" in lines[0] and "the same file as --data" in lines[0], lines
    assert sorted(p.name for p in run.iterdir()) == ["llava_data.json"]


def test_api_refuses_output_that_is_the_input(files):
    from dataoptim.boxes import ImageSizes, convert_file
    from dataoptim.train.tokens import write_tokens

    before = files["byod"].read_bytes()
    with pytest.raises(ConfigError, match="field 'output': the same file as data"):
        write_tokens(files["byod"], TOKENIZER, files["tmp"] / "link.json")
    with pytest.raises(ConfigError, match="field 'output': the same file as input"):
        convert_file(files["byod"], files["byod"], "padded", ImageSizes({}))
    assert files["byod"].read_bytes() == before


# ----------------------------------------------------------------------------------------------
# point 2: the tokenizer folder is found and loaded before select writes anything
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["absent", "empty folder", "a file"])
@pytest.mark.parametrize("how", ["byod", "ids"])
def test_select_with_a_bad_tokenizer_writes_nothing(files, which, how, capsys):
    tmp = files["tmp"]
    bad = {"absent": tmp / "no-such-tokenizer", "empty folder": tmp / "empty", "a file": files["ids"]}[which]
    (tmp / "empty").mkdir()
    source = ["--byod", str(files["byod"])] if how == "byod" else ["--pool", str(files["pool"]), "--ids", str(files["ids"])]
    out = tmp / "x.json"
    assert main(["select", *source, "--tokenizer", str(bad), "--output", str(out)]) == 2
    lines = _error_lines(capsys)
    assert len(lines) == 1, lines  # no warning text: the one error line
    want = {"absent": f"{bad}: tokenizer folder not found", "a file": f"{bad}: is a file, not a tokenizer folder",
            "empty folder": "tokenizer.model (LLaMA-2's SentencePiece model, the exact counts) and tokenizer.json are both missing"}[which]
    assert lines[0].startswith("error: ") and want in lines[0], lines
    assert not out.exists() and not (tmp / "x.json.boxes.json").exists()


def test_api_checks_the_tokenizer_before_writing(files):
    from dataoptim.errors import MissingFileError
    from dataoptim.select import Pool, validate_byod

    (files["tmp"] / "empty").mkdir()
    out = files["tmp"] / "x.json"
    with pytest.raises(MissingFileError, match="both missing"):
        Pool.open(files["pool"]).by_ids(files["ids"]).to_llava_json(out, progress=False, tokenizer=files["tmp"] / "empty")
    with pytest.raises(MissingFileError, match="both missing"):
        validate_byod(files["byod"], None, output=out, tokenizer=files["tmp"] / "empty")
    assert not out.exists()


def test_a_tokenizer_without_tokenizer_model_is_one_note_line(files, tmp_path, capsys):
    """A folder with tokenizer.json only counts with the tokenizer's own encoding: said in one note line, not a Python warning."""
    folder = tmp_path / "tok"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).write_bytes((TOKENIZER / name).read_bytes())
    from dataoptim.signals import tokens as token_signal

    token_signal._WARNED.clear()
    assert main(["select", "--byod", str(files["byod"]), "--tokenizer", str(folder), "--output", str(tmp_path / "o.json"), "-q"]) == 0
    lines = _error_lines(capsys)
    assert [line for line in lines if "tokenizer.model" in line] == [
        f"note: tokens signal: {folder} has no tokenizer.model, so counts come from the tokenizer's own encoding and may differ from "
        "LLaVA 744cb3e's (the exact path needs LLaMA-2's SentencePiece tokenizer.model)"]
    assert not any("UserWarning" in line or "summary.py" in line for line in lines), lines


# ----------------------------------------------------------------------------------------------
# points 4 and 5: validate --tokenizer says what tokens says about cuts; text-only sums printed; "and N more"
# ----------------------------------------------------------------------------------------------
def _long_records():
    """Two records over 2048 positions (one loses every answer token to the cut... with its answer masked too),
    six that LLaVA masks ('</s>' in the answer), one text-only record."""
    records = []
    for i in range(8):
        question = "<image>\nDescribe. " + ("word " * (3000 if i < 2 else 5))
        answer = "A cat </s> dog." if i >= 2 else "ok"
        records.append({"id": f"coco_{i}", "image": f"coco/{i}.jpg",
                        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]})
    records.append({"id": "llava_v1.5_text_0", "conversations": [{"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello."}]})
    return records


def test_validate_with_a_tokenizer_gives_the_cuts_of_tokens(tmp_path, capsys):
    import re

    data = tmp_path / "long.json"
    data.write_text(json.dumps(_long_records()))
    assert main(["tokens", "--data", str(data), "--tokenizer", str(TOKENIZER), "--output", str(tmp_path / "t.jsonl")]) == 0
    said = capsys.readouterr().err
    truncated, nothing = map(int, re.search(r"(\d+) truncated at 2048 positions, \d+ masked by the recipe, (\d+) trains? nothing", said).groups())
    assert (truncated, nothing) == (2, 8)  # dataoptim tokens' own values on this file
    assert main(["validate", str(data), "--tokenizer", str(TOKENIZER)]) == 0
    err = capsys.readouterr().err
    assert (f"note: counted with the tokenizer: {truncated} truncated at 2048 positions, {nothing} train nothing "
            "(as `dataoptim tokens` counts them)") in err.splitlines()
    # point 5: the six masked records are listed five and "and 1 more"
    lines = err.splitlines()
    at = lines.index("6 records train nothing under the recipe (LLaVA 744cb3e masks every label: tokenization mismatch):")
    assert [line.split(":")[0].strip() for line in lines[at + 1 : at + 6]] == [f"coco_{i}" for i in range(2, 7)]
    assert lines[at + 6] == "  and 1 more"
    # point 5: the text-only record's tokens apart, equal to what tokens wrote for it
    line = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()][-1]
    total, answer = line["positions_before"], sum(x != -100 for x in line["labels"])
    assert f"of which text-only records {total:,} ({total - answer:,} prompt, {answer:,} answer)" in " ".join(err.split())


def test_select_prints_text_only_token_sums(files, tmp_path, capsys):
    data = tmp_path / "long.json"
    data.write_text(json.dumps(_long_records()))
    assert main(["select", "--byod", str(data), "--tokenizer", str(TOKENIZER), "--output", str(tmp_path / "o.json"), "--summary", str(tmp_path / "s.json")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    tokens = json.loads((tmp_path / "s.json").read_text())["tokens"]
    t = tokens["text_only"]
    assert t["total_tokens"] > 0
    assert f"of which text-only records {t['total_tokens']:,} ({t['prompt_tokens']:,} prompt, {t['answer_tokens']:,} answer)" in err
    assert (tokens["truncated"], tokens["train_nothing"], tokens["model_max_length"]) == (2, 8, 2048)


# ----------------------------------------------------------------------------------------------
# point 6: small inconsistencies
# ----------------------------------------------------------------------------------------------
def test_json_lines_named_json_is_read_by_tokens_and_train_as_validate_reads_it(files, tmp_path, capsys):
    from dataoptim.train.data import selection_kind

    records = json.loads(files["byod"].read_text())[:3]
    lines = tmp_path / "lines.json"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["validate", str(lines), "-q"]) == 0
    assert "valid BYOD submission (JSON Lines), 3 records" in capsys.readouterr().out
    assert selection_kind(lines) == "jsonl"  # what train reads it as
    assert main(["tokens", "--data", str(lines), "--tokenizer", str(TOKENIZER), "--output", str(tmp_path / "t.jsonl")]) == 0
    assert [json.loads(x)["id"] for x in (tmp_path / "t.jsonl").read_text().splitlines()] == [r["id"] for r in records]
    # a .json file holding one JSON object that is no record stays refused with the old message
    obj = tmp_path / "obj.json"
    obj.write_text('{"a": 1}')
    assert selection_kind(obj) == "json"


def test_tokens_refuses_an_empty_list(tmp_path, capsys):
    data = tmp_path / "empty.json"
    data.write_text("[]")
    out = tmp_path / "t.jsonl"
    assert main(["tokens", "--data", str(data), "--tokenizer", str(TOKENIZER), "--output", str(out)]) == 2
    assert _error_lines(capsys) == [f"error: {data}: the selection holds no records"]
    assert not out.exists()


def test_a_file_or_folder_in_the_wrong_place_is_named(files, tmp_path, capsys):
    out = str(tmp_path / "t.jsonl")
    assert main(["tokens", "--data", str(files["byod"]), "--tokenizer", str(files["ids"]), "--output", out]) == 2
    assert _error_lines(capsys) == [f"error: {files['ids']}: is a file, not a tokenizer folder (give the folder holding tokenizer.model)"]
    assert main(["validate", str(files["byod"]), "--tokenizer", str(files["ids"])]) == 2
    assert _error_lines(capsys) == [f"error: {files['ids']}: is a file, not a tokenizer folder"]
    assert main(["tokens", "--data", str(files["pool"]), "--tokenizer", str(TOKENIZER), "--output", out]) == 2
    assert _error_lines(capsys) == [f"error: {files['pool']}: is a folder, not a selection file (a LLaVA JSON list or JSON Lines file)"]


def test_counted_words_and_clear_messages(tmp_path, capsys):
    import pyarrow as pa

    from dataoptim.errors import InputError
    from dataoptim.select.ids import check_ids

    with pytest.raises(InputError, match=r"^1 malformed id \(an id"):
        check_ids(pa.array(["coco_0", "bad id!"]))
    with pytest.raises(InputError, match=r"^2 malformed ids \(an id"):
        check_ids(pa.array(["bad id!", "also bad!"]))
    sub = tmp_path / "sub.json"
    sub.write_text('[{"id": "coco_1", "image": "", "conversations": [{"from": "human", "value": "<image>\\nq"}, {"from": "gpt", "value": "a"}]}, {"id": "c')
    assert main(["validate", str(sub)]) == 2
    captured = capsys.readouterr()
    assert f"error: {sub}: record 0 (id 'coco_1'), field 'image': must be a non-empty string, found an empty string" in captured.err.splitlines()
    # the problem that stopped the reading is the last one: said in the checked line itself
    assert "1 record read (reading stopped early: submission is not valid JSON: it ends early (truncated file?)" in captured.out
    assert "see the first problem" not in captured.out


def test_validate_ids_with_a_tokenizer_but_no_pool_says_so(files, capsys):
    assert main(["validate", str(files["ids"]), "--tokenizer", str(TOKENIZER)]) == 0
    err = capsys.readouterr().err
    assert "note: --tokenizer is not used: an id list's token counts need --pool POOL (the ids' records are in the pool)" in err.splitlines()


def test_pool_build_counts_skipped_sources_in_words(tmp_path, capsys):
    import re

    data = example_data_dir(tmp_path)
    assert main(["pool", "build", "--data-dir", str(data), "--output", str(tmp_path / "pool")]) == 0
    err = capsys.readouterr().err
    skipped = re.search(r"skipped (\d+) (sources?) without files", err)
    assert skipped and "(s)" not in err
    assert skipped.group(2) == ("source" if skipped.group(1) == "1" else "sources")
