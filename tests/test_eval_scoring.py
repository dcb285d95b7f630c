"""Scoring saved predictions, results files, the comparison report, and the CLI (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataoptim.cli import main
from dataoptim.errors import InputError
from dataoptim.evaluate import compare, read_predictions, score, score_items, write_comparison, write_results
from dataoptim.evaluate.report import comparison_markdown, load_scores
from dataoptim.evaluate.scoring import DESCRIPTIVE_KEYS

EVAL = Path(__file__).parent / "fixtures" / "eval"

BENCH = [
    {"question_id": "v1", "image": "a.png", "text": "How many dogs?", "task": "vqa", "answers": ["2"] * 3 + ["3"] * 7},
    {"question_id": "v2", "image": "b.png", "text": "Colour?", "task": "vqa", "answers": ["red"]},
    {"question_id": "g1", "image": "c.png", "text": "Is it dark?", "task": "gqa", "answer": "yes"},
    {"question_id": "m1", "image": "d.png", "text": "Pick\nA. x\nB. y", "task": "mc", "answer": "The correct option is B."},
    {"question_id": "m2", "image": "d.png", "text": "Pick again", "task": "mc", "answer": "A"},
    {"question_id": "c1", "image": "e.png", "text": "Describe.", "task": "caption", "answers": ["a cat sits"]},
    {"question_id": "c2", "image": "f.png", "text": "Describe.", "task": "caption", "answers": ["a dog runs"]},
    {"question_id": "r1", "image": "g.png", "text": "Where is\tthe dog?", "task": "grounding", "answer": "[0, 0, 1, 1]"},
    {"question_id": "r2", "image": "g.png", "text": "Where is the cat?", "task": "grounding", "answer": "[0.5, 0, 1.5, 1]"},
    {"question_id": "p1", "image": "h.png", "text": "Is there a dog?", "task": "pope", "answer": "yes"},
    {"question_id": "p2", "image": "h.png", "text": "Is there a cat?", "task": "pope", "answer": "no"},
]
PREDS = {"v1": "Two.", "v2": "Red", "g1": "Yes.", "m1": "B", "m2": "The correct option is C.", "c1": "A cat.",
         "c2": "a dog runs", "r1": "It is at [0, 0, 1, 1].", "r2": "[0, 0, 1, 1]\nmore", "p1": "Yes, there is.", "p2": "Yes."}


def _write(tmp_path: Path, bench=BENCH, preds=PREDS) -> tuple[Path, Path]:
    b = tmp_path / "bench.jsonl"
    b.write_text("".join(json.dumps(r) + "\n" for r in bench))
    p = tmp_path / "answers.jsonl"
    prompts = {r["question_id"]: r["text"] for r in bench}
    p.write_text("".join(json.dumps({"question_id": k, "prompt": prompts.get(k, "x"), "text": v}) + "\n" for k, v in preds.items()))
    return b, p


# Official scorers (issue 15); every value below is what the reference rule gives on these answers:
EXPECTED = {
    # vqaEval: v1 "Two." vs 3x"2"/7x"3" is normalised (answers differ) -> "2", 3 humans: 0.9. v2 "Red" vs the single
    # reference "red", read as ten identical answers: vqaEval normalises nothing then, so 0.0 (the library used to give 1.0)
    "vqa": {"accuracy": (0.9 + 0.0) / 2, "n": 2},
    "gqa": {"accuracy": 1.0, "n": 1},  # "Yes." -> rstrip('.').lower() == "yes"
    "mc": {"accuracy": 0.5, "n": 2},  # "B" is B; "The correct option is C." is FAILED for ScienceQA's reader
    "caption": {"cider": (3.486768699520282 + 7.5) / 2, "n": 2},  # PTB gives the same tokens as before here
    # lmms-eval REC: integers are read; IoU 1 and 1/3
    "grounding": {"acc@0.5": 0.5, "miou": (1 + 1 / 3) / 2, "acc@0.1": 1.0, "acc@0.3": 1.0, "acc@0.7": 0.5, "acc@0.9": 0.5,
                  "center_acc": 1.0, "n": 2},
    # one category ("all"): the mean over categories is that category
    "pope": {"accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 1.0, "n": 2},
}


def _numbers(scores):
    return {t: {m: v for m, v in ms.items() if m not in DESCRIPTIVE_KEYS} for t, ms in scores.items()}


def _approx(scores):
    return {t: {m: pytest.approx(v) for m, v in ms.items()} for t, ms in scores.items()}


def test_score_every_task(tmp_path):
    b, p = _write(tmp_path)
    scores = score(p, b)
    assert _numbers(scores) == _approx(EXPECTED)
    assert list(scores) == ["vqa", "gqa", "mc", "caption", "grounding", "pope"]
    assert scores["vqa"]["scorer"].startswith("vqaEval.py") and scores["vqa"]["official"] is True
    assert scores["caption"]["options"] == {"lenient": False, "cider_tokenizer": "ptb"}
    assert scores["grounding"]["options"] == {"lenient": False, "rule": "lmms-eval"} and scores["pope"]["headline"] == "f1"
    assert scores["pope"]["categories"]["all"]["tp"] == 1 and scores["pope"]["categories"]["all"]["fp"] == 1
    # the same from Python objects
    assert _numbers(score(PREDS, BENCH)) == _approx(EXPECTED)


def test_lenient_is_labelled_and_changes_the_numbers():
    scores = score(PREDS, BENCH, lenient=True, tokenizer="simple")
    assert scores["vqa"]["accuracy"] == pytest.approx((0.9 + 1.0) / 2)  # "Red" = "red" when always normalised
    assert scores["mc"]["accuracy"] == 0.5
    for task, entry in scores.items():
        assert entry["official"] is False and "not official" in entry["scorer"] and entry["options"]["lenient"] is True, task


def test_prompt_must_be_the_question(tmp_path):
    b, p = _write(tmp_path)
    lines = [json.loads(x) for x in p.read_text().splitlines()]
    lines[3]["prompt"] = "<image>\nWhat is the capital of France?"
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(InputError) as info:
        score(p, b)
    assert str(info.value).startswith(f"{p}: record 3 (id 'm1'), field 'prompt': the prediction answers")
    # the <image> token, spacing and an added answer instruction do not count as a different question
    lines[3]["prompt"] = "<image>\nPick\nA. x\nB. y\nAnswer with the option's letter from the given choices directly."
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert score(p, b)["mc"]["n"] == 2


def test_results_files(tmp_path):
    b, p = _write(tmp_path)
    from dataoptim.evaluate.benchmark import read_benchmark

    scores, rows = score_items(read_benchmark(b), read_predictions(p))
    written = write_results(tmp_path / "out", scores, rows)
    assert sorted(x.name for x in written) == ["caption.tsv", "gqa.tsv", "grounding.tsv", "mc.tsv", "per_question.jsonl", "pope.tsv",
                                               "scores.json", "vqa.tsv"]
    assert _numbers(json.loads((tmp_path / "out" / "scores.json").read_text())) == _approx(EXPECTED)
    per_question = [json.loads(x) for x in (tmp_path / "out" / "per_question.jsonl").read_text().splitlines()]
    assert [q["question_id"] for q in per_question] == ["v1", "v2", "g1", "m1", "m2", "c1", "c2", "r1", "r2", "p1", "p2"]
    assert per_question[0] == {"question_id": "v1", "task": "vqa", "category": None, "prediction": "Two.",
                               "score": pytest.approx(0.9), "parsed": "2"}
    assert per_question[1]["parsed"] == "Red" and per_question[1]["score"] == 0.0  # unanimous: compared as given
    assert [q["parsed"] for q in per_question[3:5]] == ["B", "FAILED"]
    assert per_question[5]["parsed"] == "a cat" and per_question[5]["score"] == pytest.approx(3.486768699520282)
    assert per_question[7]["parsed"] == [0.0, 0.0, 1.0, 1.0] and per_question[8]["score"] == pytest.approx(1 / 3)
    assert [q["parsed"] for q in per_question[9:]] == ["yes", "yes"] and [q["score"] for q in per_question[9:]] == [1.0, 0.0]
    grounding = (tmp_path / "out" / "grounding.tsv").read_text().splitlines()
    assert grounding == ["image\tquestion\tanswer\tprediction",
                         "g.png\tWhere is the dog?\t[0, 0, 1, 1]\tIt is at [0, 0, 1, 1].",
                         "g.png\tWhere is the cat?\t[0.5, 0, 1.5, 1]\t[0, 0, 1, 1] more"]
    vqa = (tmp_path / "out" / "vqa.tsv").read_text().splitlines()
    assert vqa[1].split("\t")[2] == json.dumps(["2"] * 3 + ["3"] * 7) and vqa[2].split("\t")[2] == "red"
    assert not list((tmp_path / "out").glob(".*tmp"))


def test_missing_and_extra_predictions(tmp_path):
    preds = dict(PREDS)
    del preds["c2"]
    with pytest.raises(InputError, match=r"1 question has no prediction, first: 'c2'"):
        score(preds, BENCH)
    scores = score(preds, BENCH, allow_missing=True)
    assert scores["caption"]["cider"] < EXPECTED["caption"]["cider"]
    with pytest.raises(InputError, match=r"1 prediction for a question not in the benchmark, first: 'zz'"):
        score({**PREDS, "zz": "x"}, BENCH)


def test_duplicate_prediction_is_named_as_such(tmp_path):
    lines = [{"question_id": "v1", "text": "2"}, {"question_id": "v2", "text": "red"}, {"question_id": "v1", "text": "3"}]
    jsonl = tmp_path / "preds.jsonl"
    jsonl.write_text("".join(json.dumps(x) + "\n" for x in lines))
    with pytest.raises(InputError) as info:
        score(jsonl, BENCH[:2])
    assert str(info.value) == f"{jsonl}: record 2 (id 'v1'), field 'question_id': duplicate question_id 'v1' (line 3; first on line 1)"
    listed = tmp_path / "preds.json"
    listed.write_text(json.dumps(lines))
    with pytest.raises(InputError, match=r"duplicate question_id 'v1' \(record 2; first on record 0\)"):
        score(listed, BENCH[:2])
    # a benchmark that repeats an id (LLaVA's MME files, read as "v1", "v1#2") pairs the repeats in order
    bench = [BENCH[0], BENCH[1], {**BENCH[0], "question_id": "v1#2", "answers": ["3"]}]
    assert score(jsonl, bench)["vqa"]["n"] == 3


@pytest.mark.parametrize("name", ["dataoptim_val.synthetic.json", "llava_pope_test.head40.jsonl"])
def test_a_utf8_bom_is_skipped(tmp_path, name):
    from dataoptim.evaluate import read_benchmark

    copy = tmp_path / name
    copy.write_bytes(b"\xef\xbb\xbf" + (EVAL / name).read_bytes())
    assert read_benchmark(copy) == read_benchmark(EVAL / name)
    preds = [{"question_id": "v1", "text": "2"}]
    listed, lines = tmp_path / "preds.json", tmp_path / "preds.jsonl"
    listed.write_bytes(b"\xef\xbb\xbf" + json.dumps(preds).encode())
    lines.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(p) + "\n" for p in preds).encode())
    assert read_predictions(listed) == read_predictions(lines) == {"v1": "2"}


def test_cider_tokenizer_is_checked_before_scoring(monkeypatch):
    from dataoptim.errors import ConfigError
    from dataoptim.evaluate import scoring

    with pytest.raises(ConfigError, match="CIDEr tokenizer must be one of 'ptb', 'simple', found 'nope'"):
        score(PREDS, BENCH, tokenizer="nope")
    with pytest.raises(ConfigError, match="CIDEr tokenizer must be one of"):  # refused even with no caption to score
        score({"v1": "2"}, BENCH[:1], tokenizer="nope")
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ConfigError) as info:  # one line, never a silent fallback (issue 15)
        score(PREDS, BENCH)
    assert str(info.value) == ("caption scoring needs Java for CIDEr's official PTB tokenizer and no 'java' is on PATH: "
                               "install a Java runtime, or pass --cider-tokenizer simple (not official)")
    scoring.check_cider_tokenizer("ptb", captions=False)  # nothing to tokenise: no Java needed
    assert score({"v1": "2"}, BENCH[:1])["vqa"]["n"] == 1
    simple = score(PREDS, BENCH, tokenizer="simple")["caption"]
    assert simple["official"] is False and "not official" in simple["scorer"]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"question_id": "v1", "text": "2"}', '{"question_id": "v2", "text": 3}'], "record 1 (id 'v2'), field 'text': must be a string, found int"),
        (['{"question_id": "v1", "text": "2"}', '{"text": "x"}'], "record 1, field 'question_id': missing"),
        (['{"question_id": "v1", "text": "2"}', "", '{"question_id": "v2", "text": "x"'], "record 2: line 3 is not valid JSON: Expecting ',' delimiter (column 34)"),  # just after the line's last character
        (['["v1", "2"]'], "record 0: must be a JSON object, found str"),  # read as a JSON list of answers
    ],
)
def test_bad_predictions_file_cli_exit_2(tmp_path, capsys, lines, message):
    b, _ = _write(tmp_path)
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(lines) + "\n")
    assert main(["score", "--predictions", str(p), "--benchmark", str(b), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {p}: {message}"
    assert not (tmp_path / "out").exists()  # nothing written half


def test_bad_benchmark_cli_exit_2(tmp_path, capsys):
    bench = [dict(BENCH[0]), {"question_id": "x", "text": "t", "task": "vqa", "answers": [1, 2]}]
    b, p = _write(tmp_path, bench=bench, preds={"v1": "2", "x": "1"})
    assert main(["score", "-p", str(p), "-b", str(b)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {b}: record 1 (id 'x'), field 'answers': must be a non-empty list of strings"
    assert main(["score", "-p", str(p), "-b", str(tmp_path / "nope.jsonl")]) == 2
    assert "benchmark not found" in capsys.readouterr().err


def test_score_cli_prints_scores_json(tmp_path, capsys):
    b, p = _write(tmp_path)
    assert main(["score", "-p", str(p), "-b", str(b), "-o", str(tmp_path / "run")]) == 0
    out = capsys.readouterr()
    assert _numbers(json.loads(out.out)) == _approx(EXPECTED)
    assert "grounding" in out.err and "acc@0.5" in out.err  # the rich table, on stderr
    assert (tmp_path / "run" / "pope.tsv").is_file()


def test_score_cli_llava_pope_files(tmp_path, capsys):
    questions = EVAL / "llava_pope_test.head40.jsonl"
    # a LLaVA answer file that says "Yes" to every question
    p = tmp_path / "answers.jsonl"
    p.write_text("".join(json.dumps({"question_id": json.loads(l)["question_id"], "text": "Yes"}) + "\n"
                         for l in questions.read_text().splitlines()))
    code = main(["score", "-p", str(p), "-b", str(questions), "--answers", str(EVAL / "coco_pope_adversarial.json")])
    assert code == 0
    pope = json.loads(capsys.readouterr().out)["pope"]
    # labels: 'no' at indices 1, 4, ..., 37 (13 of 40), so all-yes gets 27/40 right; one category (adversarial)
    assert _numbers({"pope": pope}) == _approx({"pope": {"accuracy": 27 / 40, "precision": 27 / 40, "recall": 1.0,
                                                         "f1": 2 * 27 / 40 / (1 + 27 / 40), "yes_ratio": 1.0, "n": 40}})
    assert pope["categories"]["adversarial"] == {"accuracy": pytest.approx(27 / 40), "precision": pytest.approx(27 / 40), "recall": 1.0,
                                                 "f1": pytest.approx(2 * 27 / 40 / (1 + 27 / 40)), "yes_ratio": 1.0,
                                                 "tp": 27, "fp": 13, "tn": 0, "fn": 0, "n": 40}


def test_score_cli_dataoptim_with_task_map(tmp_path, capsys):
    val = tmp_path / "val.json"
    val.write_text(json.dumps([{"image_id": "myset/1", "question": "q", "answer": "two"},
                               {"image_id": "refs/2", "question": "q", "answer": "[0, 0, 1, 1]"}]))
    p = tmp_path / "a.jsonl"
    p.write_text('{"question_id": "myset/1", "text": "2"}\n{"question_id": "refs/2", "text": "[0, 0, 1, 1]"}\n')
    assert main(["score", "-p", str(p), "-b", str(val)]) == 2
    assert "record 0 (id 'myset/1'), field 'image_id': task prefix 'myset' names no task" in capsys.readouterr().err
    assert main(["score", "-p", str(p), "-b", str(val), "--task-map", "myset=vqa", "--task-map", "refs=grounding"]) == 0
    scores = json.loads(capsys.readouterr().out)
    # one reference "two" is read as ten identical answers: vqaEval then compares "2" with "two" as given -> 0.0
    assert scores["vqa"]["accuracy"] == 0.0 and scores["grounding"]["acc@0.5"] == 1.0
    assert main(["score", "-p", str(p), "-b", str(val), "--task-map", "myset=vqa", "--task-map", "refs=grounding", "--lenient"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["vqa"]["accuracy"] == 1.0 and scores["vqa"]["official"] is False
    assert main(["score", "-p", str(p), "-b", str(val), "--task-map", "myset"]) == 2
    assert "--task-map takes NAME=TASK" in capsys.readouterr().err


# ---------------------------------------------------------------- comparison


def _run(tmp_path: Path, name: str, scores: dict) -> Path:
    run = tmp_path / name
    run.mkdir()
    (run / "scores.json").write_text(json.dumps(scores))
    return run


def test_compare_ranks_and_writes(tmp_path, capsys):
    a = _run(tmp_path, "sub_a", {"vqa": {"accuracy": 0.5, "n": 10}, "caption": {"cider": 0.9, "n": 5}})
    b = _run(tmp_path, "sub_b", {"vqa": {"accuracy": 0.6, "n": 10}, "caption": {"cider": 0.8, "n": 5}})
    c = _run(tmp_path, "sub_c", {"vqa": {"accuracy": 0.7, "n": 10}, "caption": {"cider": 1.1, "n": 5}})
    result = compare([a, b, c])
    assert [r["name"] for r in result["runs"]] == ["sub_c", "sub_a", "sub_b"]
    assert [r["mean_rank"] for r in result["runs"]] == [1.0, 2.5, 2.5]
    md = comparison_markdown(result)
    assert md.splitlines()[0] == "| rank | run | vqa accuracy* | caption cider* | mean rank |"
    assert md.splitlines()[2] == "| 1 | sub_c | 70.00 | 1.1000 | 1.00 |"
    assert md.splitlines()[3].startswith("| 2 | sub_a |") and md.splitlines()[4].startswith("| 2 | sub_b |")  # tie
    written = write_comparison(result, tmp_path / "cmp")
    assert (tmp_path / "cmp" / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["runs"][0]["name"] == "sub_c"
    assert len(written) == 3
    assert main(["compare", str(a), str(b / "scores.json"), "--name", "A", "--name", "B", "-o", str(tmp_path / "cmp2")]) == 0
    out = capsys.readouterr().out
    assert "| 1 | B | 60.00 | 0.8000 | 1.50 |" in out and (tmp_path / "cmp2" / "comparison.md").is_file()


def test_compare_help_says_the_plot_needs_output(capsys):
    assert main(["compare", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "The bar plot is written only with --output." in text
    assert "the bar plot comparison.png here (without it no plot is drawn)" in text


def test_compare_bad_input(tmp_path, capsys):
    a = _run(tmp_path, "a", {"vqa": {"accuracy": 0.5}})
    bad = _run(tmp_path, "bad", {"vqa": {"accuracy": "high"}})
    assert main(["compare", str(a), str(bad)]) == 2
    assert "field 'vqa.accuracy': must be a finite number" in capsys.readouterr().err
    assert main(["compare", str(a)]) == 2
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    with pytest.raises(InputError):
        load_scores(_run(tmp_path, "list", {"vqa": [1]}))


def test_compare_reads_the_described_scores_json(tmp_path):
    b, p = _write(tmp_path)
    assert main(["score", "-p", str(p), "-b", str(b), "-o", str(tmp_path / "run1")]) == 0
    assert main(["score", "-p", str(p), "-b", str(b), "-o", str(tmp_path / "run2"), "--lenient"]) == 0
    loaded = load_scores(tmp_path / "run1")
    assert loaded["pope"] == pytest.approx(EXPECTED["pope"]) and "scorer" not in loaded["vqa"]  # descriptions left out
    result = compare([tmp_path / "run1", tmp_path / "run2"])
    assert [r["name"] for r in result["runs"]] == ["run2", "run1"]  # lenient: higher VQA accuracy
    header = comparison_markdown(result).splitlines()[0]
    assert "grounding acc@0.5*" in header and "pope f1*" in header and "scorer" not in header
