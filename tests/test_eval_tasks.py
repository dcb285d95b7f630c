"""Each benchmark scorer against its reference implementation's own output (issue 15).

Every expected value below was printed by the reference code itself, run outside the
project (in /work/refs/scoring, scripts ``run_<task>.py`` there) on the same inputs:

- VQA: GT-Vision-Lab/VQA ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` @ a013f0043c1e2cdc995922dfe257f7149aa9af06,
  its two Python 2 ``print`` statements made calls (nothing else changed), ``VQAEval.evaluate`` on fake
  ``vqa``/``vqaRes`` objects holding these questions (answer_id 1..10), ``evalQA / 100``.
- TextVQA: haotian-liu/LLaVA ``llava/eval/m4c_evaluator.py`` @ c121f0432da27facab705978f83c4ada465e46fd,
  ``TextVQAAccuracyEvaluator().eval_pred_list`` one question at a time.
- GQA: LLaVA ``scripts/convert_gqa_for_eval.py`` @ c121f04 run as a script, then GQA eval.py's
  ``correct = (predicted == gold)``.
- POPE: LLaVA ``llava/eval/eval_pope.py`` @ c121f04 run as a script (``--annotation-dir`` with three
  ``coco_pope_<category>.json`` label files); per-answer readings from its ``eval_pope`` function.
- MME: ``eval_tool/calculation.py`` from MME's ``eval_tool.zip`` (BradyFU/Awesome-Multimodal-Large-Language-Models,
  Evaluation branch, dd29509) with scikit-learn, ``--results_dir``.
- ScienceQA: LLaVA ``llava/eval/eval_science_qa.py`` @ c121f04 run as a script on made-up ``problems.json`` /
  ``pid_splits.json``; ``parsed_ans`` read from its ``--output-file``.
- Grounding: lmms-eval ``lmms_eval/tasks/refcoco/utils_rec.py`` @ 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3 imported as is
  (``parse_float_sequence_within``, ``compute_iou``, ``compute_accuracy``); Shikra ``RECComputeMetrics.extract_ans`` /
  ``calculate_metric`` and ``PlainBoxFormatter.extract`` @ 1204f1082680d552fc26688a2aa557a39d8ec828 copied into that
  script, with ``torchvision.ops.box_iou`` (not installable there) restated in torch.
- CIDEr: pycocoevalcap 1.2 (PyPI) ``PTBTokenizer`` + ``Cider``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dataoptim.cli import main
from dataoptim.errors import ConfigError, InputError
from dataoptim.evaluate.benchmark import read_benchmark
from dataoptim.evaluate.scoring import read_results_dir, score, score_items
from dataoptim.evaluate.tasks import aokvqa, gqa, grounding, mc, mme, pope, scorer, textvqa, vqa

EVAL = Path(__file__).parent / "fixtures" / "eval"
needs_java = pytest.mark.skipif(shutil.which("java") is None,
                                reason="CIDEr's official PTB tokenizer runs in Java, which is not on PATH (.ci/run installs it)")


def _items(task, refs_list, **extra):
    key = "answer" if task in ("gqa", "mc", "aokvqa", "grounding", "pope", "mme") else "answers"
    return [{"question_id": f"q{i}", "text": "q", "task": task, key: r, **extra} for i, r in enumerate(refs_list)]


# ---------------------------------------------------------------- VQAv2 / OK-VQA: vqaEval.py

U = lambda a: [a] * 10  # noqa: E731 - ten identical human answers
VQA_CASES = [  # (prediction, human answers, vqaEval's accuracy)
    ("Yes", U("yes"), 0.0),  # unanimous answers: nothing is normalised
    ("yes.", U("yes"), 0.0),
    ("two", U("2"), 0.0),
    ("a dog", U("dog"), 0.0),
    ("yes", U("yes"), 1.0),
    ("  yes\n", U("yes"), 1.0),  # whitespace is always handled
    ("Yes", ["yes"] * 9 + ["no"], 1.0),  # answers differ: both sides normalised
    ("two", ["2"] * 9 + ["3"], 1.0),
    ("A dog.", ["dog"] * 9 + ["cat"], 1.0),
    ("lets go", ["let's go"] * 9 + ["go"], 0.0),  # vqaEval's table maps let's -> let's, never lets
    ("shes", ["she's"] * 9 + ["he"], 0.0),
    ("dont", ["don't"] * 9 + ["no"], 1.0),
    ("yes" + "." * 32, ["yes"] * 9 + ["no"], 1.0),  # at most 32 periods go (re.UNICODE passed as count)
    ("yes" + "." * 33, ["yes"] * 9 + ["no"], 0.0),
    ("yes" + "." * 40, ["yes"] * 9 + ["no"], 0.0),
    ("red,white", ["red white"] * 9 + ["red"], 1.0),
    ("red, white", ["red white"] * 9 + ["red"], 1.0),
    ("dog's", ["dog's"] * 9 + ["dog"], 1.0),
    ("1,000", ["1000"] * 9 + ["100"], 1.0),
    ("2.5", ["2.5"] * 9 + ["25"], 1.0),
    ("None", ["0"] * 9 + ["1"], 1.0),
    ("cat", ["cat"] * 3 + ["dog"] * 7, 0.9),
    ("cat", ["cat"] * 2 + ["dog"] * 8, 0.6),
    ("cat", ["cat"] * 1 + ["dog"] * 9, 0.3),
    ("", U("a"), 0.0),  # an empty answer gets no credit against ten "a" (unanimous: not normalised)
    ("", ["a"] * 5 + ["an"] * 5, 1.0),  # ... but does when the articles differ: vqaEval gives it too
    ("Surfing", ["surfing"] * 2 + ["surf"] * 2 + ["surfboard"] * 2 + ["water"] * 2 + ["wave"] * 2, 0.6),  # OK-VQA pairs
    ("t-shirt", ["t shirt"] * 9 + ["shirt"], 1.0),
]


@pytest.mark.parametrize("prediction, answers, expected", VQA_CASES)
def test_vqa_matches_vqaeval(prediction, answers, expected):
    assert vqa.judge(prediction, answers)[0] == pytest.approx(expected)


def test_vqa_task_scores_and_rows():
    items = _items("vqa", [a for _, a, _ in VQA_CASES])
    result = scorer("vqa").score(items, [p for p, _, _ in VQA_CASES])
    assert result.scores["accuracy"] == pytest.approx(sum(e for _, _, e in VQA_CASES) / len(VQA_CASES))
    assert result.questions[0]["parsed"] == "Yes" and result.questions[6]["parsed"] == "yes"  # as compared
    assert result.scores["scorer"] == "vqaEval.py (GT-Vision-Lab/VQA @ a013f00)"
    # one reference answer is read as ten identical ones: exact match as given
    assert vqa.judge("red", ["red"]) == (1.0, "red") and vqa.judge("Red", ["red"])[0] == 0.0


# ---------------------------------------------------------------- TextVQA: LLaVA's m4c_evaluator

TEXTVQA_CASES = [  # (prediction, human answers, processed prediction, m4c's accuracy)
    ("red,white", ["red white"] * 9 + ["red"], "redwhite", 0.0),  # commas are deleted, not spaced
    ("red,white", ["redwhite"] * 9 + ["red"], "redwhite", 1.0),
    ("dog's", ["dog 's"] * 9 + ["dog"], "dog 's", 1.0),
    ("dog's", ["dog's"] * 9 + ["dog"], "dog 's", 1.0),
    ("1,000-2", ["1000 2"] * 9 + ["1"], "1000 2", 1.0),
    ("1,000-2", ["1,000-2"] * 9 + ["1"], "1000 2", 1.0),
    ("Yes", U("yes"), "yes", 1.0),  # m4c always normalises, unanimous or not
    ("yes.", U("yes"), "yes", 1.0),
    ("two", U("2"), "2", 1.0),
    ("a dog", U("dog"), "dog", 1.0),
    ("stop?", U("stop"), "stop", 1.0),
    ("lets", U("let's"), "lets", 0.0),
    ("cat", ["cat"] * 3 + ["dog"] * 7, "cat", 0.9),
    ("", U("a"), "", 1.0),  # the reference gives an empty answer full credit here
    ("", U("dog"), "", 0.0),
    ("yes" + "." * 40, U("yes"), "yes........", 0.0),
]


@pytest.mark.parametrize("prediction, answers, processed, expected", TEXTVQA_CASES)
def test_textvqa_matches_m4c(prediction, answers, processed, expected):
    assert textvqa.judge(prediction, answers) == (pytest.approx(expected), processed)


# ---------------------------------------------------------------- GQA: convert_gqa_for_eval.py + exact match

GQA_CASES = [  # (prediction, gold, converted, correct)
    ("Yes.", "yes", "yes", 1.0), (" yes", "yes", " yes", 0.0), ("yes ", "yes", "yes ", 0.0), ("yes..", "yes", "yes", 1.0),
    ("the table", "table", "the table", 0.0), ("Yes, it is.", "yes", "yes, it is", 0.0), ("table", "table", "table", 1.0),
    ("TABLE", "table", "table", 1.0), ("traffic  light", "traffic light", "traffic  light", 0.0),
    ("yes\n", "yes", "yes\n", 0.0), ("yes. ", "yes", "yes. ", 0.0), ("tables", "table", "tables", 0.0), ("", "yes", "", 0.0),
]


@pytest.mark.parametrize("prediction, gold, converted, expected", GQA_CASES)
def test_gqa_matches_llava_conversion_and_exact_match(prediction, gold, converted, expected):
    assert gqa.judge(prediction, [gold]) == (expected, converted)


def test_gqa_lenient_forgives_whitespace_and_is_labelled():
    items = _items("gqa", ["yes", "traffic light"])
    official = scorer("gqa").score(items, [" yes", "traffic  light"])
    lenient = scorer("gqa").score(items, [" yes", "traffic  light"], lenient=True)
    assert official.scores["accuracy"] == 0.0 and lenient.scores["accuracy"] == 1.0
    assert lenient.scores["official"] is False and "not official" in lenient.scores["scorer"]


# ---------------------------------------------------------------- POPE: eval_pope.py

POPE_READINGS = {  # eval_pope's reading of each answer (it rewrites answer['text'] to yes/no)
    "Yes": "yes", "No": "no", "No, there is not.": "no", "no.": "no", "NO": "yes", "Yes, there is no dog.": "no",
    "There is a dog. No.": "yes", "No\nthere is none": "yes", "not": "no", "Nope": "yes", "no,there is": "yes",
    "None": "yes", "": "yes", "yes, a dog": "yes", "I do not think so": "no", "Yes.": "yes", "no dog": "no",
    "There is, not a doubt": "no", "No.There": "no", "Not really": "yes", "yes,no": "yes",
}


@pytest.mark.parametrize("text, expected", POPE_READINGS.items())
def test_pope_reading_matches_eval_pope(text, expected):
    assert pope.read(text) == expected


POPE_TEXTS = ["Yes", "No", "No, there is not.", "no.", "NO", "Yes, there is no dog.", "There is a dog. No.",
              "No\nthere is none", "not", "Nope", "no,there is", "None", "", "yes, a dog", "I do not think so",
              "Yes.", "no dog", "There is, not a doubt"]
POPE_CATEGORIES = {"adversarial": (0, 24), "popular": (1, 20), "random": (2, 16)}


def _pope_run(tmp_path: Path) -> tuple[Path, Path, list[Path]]:
    """The three-category POPE run given to eval_pope.py (same construction as /work/refs/scoring/run_pope.py)."""
    questions, answers, label_files, qid = [], [], [], 0
    for cat, (shift, n) in POPE_CATEGORIES.items():
        rows = []
        for i in range(n):
            label = "yes" if (i * 7 + shift) % 3 else "no"
            text = POPE_TEXTS[(i * 5 + shift * 3) % len(POPE_TEXTS)]
            question = f"Is there a thing {qid}?"
            questions.append({"question_id": qid, "image": f"img{qid}.jpg", "text": question, "category": cat})
            answers.append({"question_id": qid, "prompt": question, "text": text})
            rows.append({"question_id": qid, "image": f"img{qid}.jpg", "text": question, "label": label})
            qid += 1
        path = tmp_path / f"coco_pope_{cat}.json"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        label_files.append(path)
    q, a = tmp_path / "llava_pope_test.jsonl", tmp_path / "answers.jsonl"
    q.write_text("".join(json.dumps(r) + "\n" for r in questions))
    a.write_text("".join(json.dumps(r) + "\n" for r in answers))
    return q, a, label_files


# eval_pope.py's printout on that run (TP FP TN FN, accuracy, precision, recall, F1, yes ratio)
POPE_REFERENCE = {
    "adversarial": dict(tp=7, fp=7, tn=1, fn=9, accuracy=0.3333333333333333, precision=0.5, recall=0.4375,
                        f1=0.4666666666666667, yes_ratio=0.5833333333333334, n=24),
    "popular": dict(tp=6, fp=4, tn=2, fn=8, accuracy=0.4, precision=0.6, recall=0.42857142857142855, f1=0.5, yes_ratio=0.5, n=20),
    "random": dict(tp=9, fp=1, tn=4, fn=2, accuracy=0.8125, precision=0.9, recall=0.8181818181818182,
                   f1=0.8571428571428572, yes_ratio=0.625, n=16),
}


def test_pope_three_categories_match_eval_pope(tmp_path, capsys):
    q, a, labels = _pope_run(tmp_path)
    args = ["score", "-p", str(a), "-b", str(q), "-o", str(tmp_path / "out")]
    for path in labels:
        args += ["--answers", str(path)]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["pope"]
    for cat, ref in POPE_REFERENCE.items():
        assert result["categories"][cat] == {k: pytest.approx(v) for k, v in ref.items()}, cat
    # the headline is the mean over categories, as LLaVA reports POPE (not the pooled F1)
    assert result["f1"] == pytest.approx((0.4666666666666667 + 0.5 + 0.8571428571428572) / 3)
    assert result["accuracy"] == pytest.approx((0.3333333333333333 + 0.4 + 0.8125) / 3)
    assert result["headline"] == "f1" and result["n"] == 60
    rows = [json.loads(x) for x in (tmp_path / "out" / "per_question.jsonl").read_text().splitlines()]
    assert [r["category"] for r in rows[:1] + rows[24:25] + rows[44:45]] == ["adversarial", "popular", "random"]
    assert {r["parsed"] for r in rows} == {"yes", "no"} and rows[9]["prediction"] == "Nope" and rows[9]["parsed"] == "yes"


def test_pope_label_files_are_recognised_by_content_under_other_names(tmp_path, capsys):
    """Renamed label files (lines with ``text`` and ``label``) pair with the category whose questions they are, in order:
    the same scores as eval_pope.py printed for the coco_pope_<category>.json names (POPE_REFERENCE)."""
    q, a, labels = _pope_run(tmp_path)
    renamed = []
    for path, name in zip(labels, ("labels_a.json", "second.jsonl", "r.json")):
        # numbered per file from 1, as POPE's own label files are (so their ids are not the question file's)
        rows = [dict(json.loads(x), question_id=i + 1) for i, x in enumerate(path.read_text().splitlines())]
        path.unlink()
        renamed.append(tmp_path / name)
        renamed[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["score", "-p", str(a), "-b", str(q)] + [x for p in renamed for x in ("--answers", str(p))]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)["pope"]
    for cat, ref in POPE_REFERENCE.items():
        assert result["categories"][cat] == {k: pytest.approx(v) for k, v in ref.items()}, cat
    # lines that are the questions of two categories: the name must say which
    rows = [json.loads(x) for x in renamed[2].read_text().splitlines()]
    questions = [json.loads(x) for x in q.read_text().splitlines()]
    twin = [dict(r, category="twin", question_id=1000 + i) for i, r in enumerate(questions) if r["category"] == "random"]
    q.write_text("".join(json.dumps(r) + "\n" for r in questions + twin))
    with pytest.raises(InputError, match=r"r.json: a POPE label file whose lines are, in order, the questions of several categories \('random', 'twin'\)"):
        read_benchmark(q, answers=renamed)
    assert len(rows) == 16


def test_pope_label_file_without_label_names_file_and_line(tmp_path, capsys):
    q, a, labels = _pope_run(tmp_path)
    rows = [json.loads(x) for x in labels[0].read_text().splitlines()]
    del rows[2]["label"]  # the question's text is still there: it must not be read as the label
    labels[0].write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["score", "-p", str(a), "-b", str(q)] + [x for p in labels for x in ("--answers", str(p))]
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == (f"error: {labels[0]}: record 2 (id '2'), field 'label': line 3: no 'label' "
                                               "(a POPE label file gives each question's yes/no label)")


def test_pope_label_file_of_another_version_is_refused(tmp_path, capsys):
    q, a, labels = _pope_run(tmp_path)
    rows = [json.loads(x) for x in labels[1].read_text().splitlines()]
    rows[0], rows[1] = rows[1], rows[0]  # another order: LLaVA's line-order pairing would mislabel silently
    labels[1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["score", "-p", str(a), "-b", str(q)] + [x for p in labels for x in ("--answers", str(p))]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {labels[1]}: record 0 (id '24'), field 'text': line 1: question 'Is there a thing 25?' "
                          "is not question '24'")


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _write_lines(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _score_err(q: Path, a: Path, labels: list[Path], capsys) -> str:
    assert main(["score", "-p", str(a), "-b", str(q)] + [x for p in labels for x in ("--answers", str(p))]) == 2
    return capsys.readouterr().err.strip()


def test_renamed_pope_label_file_pairs_by_line_order_as_a_named_one(tmp_path, capsys):
    """A label file under another name pairs by line order, exactly as coco_pope_<category>.json: the same checks, the same
    refusal (README, Scores; LLaVA eval_pope.py pairs a category's questions with the label file's lines by ``zip``).
    A reversed file (``tac``) was paired by question_id under another name and scored like the in-order file; a reversed
    file numbered per file (as POPE's own) gave '20 question(s) have no answer'."""
    refusals = {}
    for name in ("coco_pope_adversarial.json", "adv_labels.json"):
        (tmp_path / name.split(".")[0]).mkdir()
        q, a, labels = _pope_run(tmp_path / name.split(".")[0])
        rows = _lines(labels[0])[::-1]  # ids are the question file's: a pairing by question_id would accept the file
        labels[0].unlink()
        labels[0] = _write_lines(labels[0].with_name(name), rows)
        refusals[name] = _score_err(q, a, labels, capsys).replace(str(labels[0]), "{file}")
    assert refusals["adv_labels.json"] == refusals["coco_pope_adversarial.json"] == (
        "error: {file}: record 0 (id '0'), field 'text': line 1: question 'Is there a thing 23?' is not question '0' of the "
        "question file ('Is there a thing 0?'); the label file's lines are not the questions of category 'adversarial' in order "
        "(LLaVA's eval_pope.py pairs them by line order): it is of another POPE version or order")
    # the popular labels reversed and numbered from 1 in their own file, under another name: named, and said out of order
    (tmp_path / "popular").mkdir()
    q, a, labels = _pope_run(tmp_path / "popular")
    rows = [dict(r, question_id=i + 1) for i, r in enumerate(_lines(labels[1])[::-1])]
    labels[1].unlink()
    labels[1] = _write_lines(labels[1].with_name("pop.json"), rows)
    assert _score_err(q, a, labels, capsys) == (
        f"error: {labels[1]}: record 0 (id '24'), field 'text': line 1: question 'Is there a thing 43?' is not question '24' of the "
        "question file ('Is there a thing 24?'); the label file's lines are not the questions of category 'popular' in order "
        "(LLaVA's eval_pope.py pairs them by line order): it is of another POPE version or order")
    # lines that are no question of the question file
    _write_lines(labels[1], [dict(r, text="Is there a unicorn?") for r in rows])
    assert _score_err(q, a, labels, capsys) == (
        f"error: {labels[1]}: a POPE label file none of whose lines is a question of the question file (first: 'Is there a unicorn?'); "
        "its lines pair by line order with the questions of one category (LLaVA's eval_pope.py)")
    # too short: the same refusal as a named file's
    _write_lines(labels[1], rows[::-1][:19])  # in order, the last line missing
    assert _score_err(q, a, labels, capsys) == f"error: {labels[1]}: 19 labels for 20 questions of category 'popular'"


# eval_pope.py (LLaVA c121f04, llava/eval/eval_pope.py) on the run of _pope_run with one more line at the end of
# coco_pope_popular.json (21 lines for 20 questions) and line 2 of coco_pope_random.json (a "no") labelled "maybe":
# /work/refs/scoring/run_pope_extra.py, printout in /work/refs/scoring/pope_extra/out.txt. The extra line is ignored
# (popular as in POPE_REFERENCE); "maybe" is a yes (random: TP 10 FP 0 TN 4 FN 2).
POPE_EXTRA_RANDOM = dict(tp=10, fp=0, tn=4, fn=2, accuracy=0.875, precision=1.0, recall=0.8333333333333334,
                         f1=0.9090909090909091, yes_ratio=0.625, n=16)


@pytest.mark.parametrize("rename", [False, True])
def test_pope_extra_label_lines_and_odd_labels_score_as_eval_pope_with_notes(tmp_path, capsys, rename):
    """One label line too many was accepted silently (one too few is an error); a label 'maybe' was scored as yes silently.
    Both keep eval_pope.py's scores, each with one note line naming the file."""
    q, a, labels = _pope_run(tmp_path)
    _write_lines(labels[1], _lines(labels[1]) + [{"question_id": 999, "image": "img999.jpg", "text": "Is there a thing 999?", "label": "yes"}])
    rows = _lines(labels[2])
    rows[1]["label"] = "maybe"
    _write_lines(labels[2], rows)
    if rename:
        labels = [p.rename(p.with_name(f"labels_{i}.json")) for i, p in enumerate(labels)]
    assert main(["score", "-p", str(a), "-b", str(q)] + [x for p in labels for x in ("--answers", str(p))]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)["pope"]
    for cat, ref in {**POPE_REFERENCE, "random": POPE_EXTRA_RANDOM}.items():
        assert result["categories"][cat] == {k: pytest.approx(v) for k, v in ref.items()}, cat
    notes = [line for line in captured.err.splitlines() if line.startswith("note: ")]
    assert notes == [
        f"note: {labels[1]}: 1 label line past the last of the 20 questions of category 'popular' ignored, as LLaVA's eval_pope.py "
        "ignores them (it pairs lines and questions in order and stops at the last question)",
        f"note: {labels[2]}: 1 label neither 'yes' nor 'no' (first: 'maybe'), scored as yes as LLaVA's eval_pope.py scores every "
        "label other than 'no'",
    ]
    # eval_pope.py reads every line's label (json.loads(q)['label']): an extra line without one would stop it, so it is refused
    _write_lines(labels[1], _lines(labels[1])[:20] + [{"question_id": 999, "text": "Is there a thing 999?"}])
    err = _score_err(q, a, labels, capsys)
    assert err.startswith(f"error: {labels[1]}: record 20") and "field 'label': line 21: no 'label'" in err


def test_pope_labels_by_id_need_label(tmp_path):
    from dataoptim.evaluate.benchmark import read_llava

    q = tmp_path / "pope_questions.jsonl"
    q.write_text('{"question_id": 1, "text": "Is there a dog?"}\n')
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"question_id": 1, "text": "Is there a dog?"}\n')
    with pytest.raises(InputError, match=r"record 0 \(id '1'\), field 'label': line 1: no 'label'"):
        read_llava(q, task="pope", answers=labels)
    labels.write_text('{"question_id": 1, "text": "Is there a cat?", "label": "no"}\n')  # paired by id: the question must match
    with pytest.raises(InputError, match=r"record 0 \(id '1'\), field 'text': line 1: question 'Is there a cat\?' is not question '1'"):
        read_llava(q, task="pope", answers=labels)
    labels.write_text('{"question_id": 1, "text": "Is there a dog?", "label": "no"}\n')
    assert read_llava(q, task="pope", answers=labels)[0]["answer"] == "no"


# ---------------------------------------------------------------- MME: calculation.py

MME_LAVIN = {  # calculation.py --results_dir LaVIN (the example shipped with MME's tool)
    "existence": 185.0, "count": 88.33333333333334, "position": 63.333333333333336, "color": 75.0,
    "posters": 79.59183673469389, "celebrity": 47.35294117647059, "scene": 136.75, "landmark": 93.5, "artwork": 87.25,
    "OCR": 107.5, "commonsense_reasoning": 87.14285714285714, "numerical_calculation": 65.0, "text_translation": 47.5,
    "code_reasoning": 50.0,
}


def test_mme_lavin_results_folder_gives_the_official_totals(tmp_path, capsys):
    assert main(["score", "--predictions", str(EVAL / "mme_lavin"), "--output", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert "existence score" in captured.err and "963.6114" in captured.err  # the table on stderr shows the subtasks
    assert list(result) == ["mme"]
    entry = result["mme"]
    assert entry["perception"] == pytest.approx(963.6114445778312) and round(entry["perception"], 2) == 963.61
    assert entry["cognition"] == pytest.approx(249.64285714285714) and round(entry["cognition"], 2) == 249.64
    assert {k: v["score"] for k, v in entry["categories"].items()} == {k: pytest.approx(v) for k, v in MME_LAVIN.items()}
    assert entry["n"] == 2374 and entry["headline"] == "perception" and "calculation.py" in entry["scorer"]
    assert entry["categories"]["existence"]["acc"] == pytest.approx(0.95) and entry["categories"]["existence"]["acc_plus"] == pytest.approx(0.9)
    rows = [json.loads(x) for x in (tmp_path / "out" / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 2374 and rows[0]["question_id"] == "OCR:1" and rows[0]["category"] == "OCR"
    assert {r["parsed"] for r in rows} == {"yes", "no", "other"}
    assert json.loads((tmp_path / "out" / "scores.json").read_text())["mme"]["perception"] == pytest.approx(963.6114445778312)


MME_ANSWERS = ["Yes", "No.", "Not sure", "There is a dog.", " yes", "I don't know", "nah", "yes and", "NO", "nope", "Yes, no", "no"]
MME_HANDMADE = {  # calculation.py on the folder that _mme_folder writes
    "existence": 50.0, "count": 25.0, "position": 25.0, "color": 0.0, "posters": 125.0, "celebrity": 50.0, "scene": 50.0,
    "landmark": 25.0, "artwork": 25.0, "OCR": 0.0, "commonsense_reasoning": 125.0, "numerical_calculation": 50.0,
    "text_translation": 50.0, "code_reasoning": 25.0,
}


def _mme_folder(folder: Path) -> Path:
    """The hand-made MME folder given to calculation.py (same construction as /work/refs/scoring/run_mme.py)."""
    folder.mkdir()
    for si, sub in enumerate(mme.SUBTASKS):
        lines = []
        for j in range(4):
            gt = "Yes" if j % 2 == 0 else "No"
            lines.append(f"img{j // 2}.jpg\tQuestion {j}? Please answer yes or no.\t{gt}\t{MME_ANSWERS[(si + j * 3) % len(MME_ANSWERS)]}\n")
        (folder / f"{sub}.txt").write_text("".join(lines))
    return folder


def test_mme_handmade_answers_match_calculation_py(tmp_path):
    entry = score(_mme_folder(tmp_path / "mme"))["mme"]
    assert {k: v["score"] for k, v in entry["categories"].items()} == {k: pytest.approx(v) for k, v in MME_HANDMADE.items()}
    assert entry["perception"] == pytest.approx(375.0) and entry["cognition"] == pytest.approx(250.0)


@pytest.mark.parametrize("text, expected", [("yes", "yes"), ("Yes", "yes"), ("No.", "no"), ("Not sure", "no"), ("nope", "no"),
                                            ("There is a dog.", "other"), (" yes", "yes"), ("I don't know", "other"),
                                            ("nah", "other"), ("", "other"), ("Yes, no", "yes"), ("eyes", "yes")])
def test_mme_reading(text, expected):
    assert mme.read(text) == expected


def test_mme_pairs_two_questions_per_image():
    items = [{"question_id": f"q{i}", "text": "q", "task": "mme", "answer": a, "category": "count"} for i, a in enumerate(["Yes", "No"] * 2)]
    result = scorer("mme").score(items, ["yes", "no", "yes", "yes"])
    assert result.scores["categories"]["count"] == {"acc": 0.75, "acc_plus": 0.5, "score": 125.0, "other": 0, "n": 4}
    assert result.scores["perception"] == 125.0 and result.scores["cognition"] == 0
    assert result.scores["missing_subtasks"][0] == "existence"


@pytest.mark.parametrize("name, lines, message", [
    ("count.txt", ["a.jpg\tq\tYes\tyes"], "MME subtask 'count' has 1 question; MME scores them two per image"),
    ("count.txt", ["a.jpg\tq\tMaybe\tyes", "a.jpg\tq\tNo\tno"], "record 0 (id 'count:1'), field 'answer': an MME reference must be yes or no (any case), found 'Maybe'"),
    ("count.txt", ["a.jpg\tq\tYes\tyes", "a.jpg\tq\tNo"], "line 2: expected 4 tab-separated fields (image, question, answer, prediction), found 3"),
    ("count.txt", ["a.jpg\tq\tYes\tyes\tmore"], "line 1: expected 4 tab-separated fields (image, question, answer, prediction), found 5"),
    ("whatever.txt", ["a.jpg\tq\tYes\tyes"], "the file name 'whatever' names no task"),
    ("count.txt", [], "empty result file"),
])
def test_results_folder_bad_input_cli_exit_2(tmp_path, capsys, name, lines, message):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / name).write_text("".join(x + "\n" for x in lines))
    assert main(["score", "--predictions", str(folder), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and str(folder / name) in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_results_folder_dataoptim_files(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    # DataOptim's run_llava_eval.py writes f"{image_id}.jpg\t{question}\t{answer}\t{outputs}" per task prefix
    (folder / "vqav2.txt").write_text("vqav2/1.jpg\tWhat colour?\tred\tred\nvqav2/2.jpg\tHow many?\ttwo\t2\n")
    (folder / "gqa.txt").write_text("gqa/1.jpg\tIs it?\tyes\tYes.\n")
    (folder / "notes.md").write_text("ignored")
    items, preds = read_results_dir(folder)
    assert [i["question_id"] for i in items] == ["gqa:1", "vqav2:1", "vqav2:2"]
    assert items[1]["task"] == "vqa" and items[1]["answers"] == ["red"] and items[1]["category"] == "vqav2"
    scores = score(folder)
    assert scores["vqa"]["accuracy"] == 0.5 and scores["gqa"]["accuracy"] == 1.0
    with pytest.raises(ConfigError, match="carries its own references"):
        score(folder, EVAL / "dataoptim_val.synthetic.json")
    with pytest.raises(ConfigError, match="needs a benchmark"):
        score(EVAL / "qa90_gpt4_answer.jsonl")


def test_score_cli_needs_a_benchmark_for_a_file(tmp_path, capsys):
    p = tmp_path / "a.jsonl"
    p.write_text('{"question_id": 1, "text": "x"}\n')
    assert main(["score", "-p", str(p)]) == 2
    assert "--benchmark is needed with a predictions file" in capsys.readouterr().err


# ---------------------------------------------------------------- multiple choice: eval_science_qa.py

SQA_CASES = [  # (prediction, number of choices, reference letter, parsed_ans, correct) from eval_science_qa.py
    ("B", 4, "B", "B", True), ("B.", 4, "B", "FAILED", False), ("(B)", 4, "B", "FAILED", False),
    ("B. train", 4, "B", "B", True), ("The answer is B.", 4, "B", "B", True), ("The answer is B", 4, "B", "FAILED", False),
    ("The answer is B, because", 4, "B", "B", True), ("The answer is B. The answer is C.", 4, "B", "FAILED", False),
    ("b", 4, "B", "FAILED", False), ("E", 4, "D", "E", False), ("F", 4, "B", "FAILED", False), (" B", 4, "B", "FAILED", False),
    ("train", 4, "B", "FAILED", False), ("The correct option is B.", 4, "B", "FAILED", False), ("C", 4, "B", "C", False),
    ("E", 5, "E", "E", True), ("B: train", 4, "B", "FAILED", False), ("B.train", 4, "B", "FAILED", False),
]


@pytest.mark.parametrize("prediction, n, gold, parsed, correct", SQA_CASES)
def test_mc_matches_eval_science_qa(prediction, n, gold, parsed, correct):
    item = {"question_id": "p", "text": "q", "task": "mc", "answer": gold, "choices": [f"c{j}" for j in range(n)]}
    assert mc.judge(item, prediction) == (float(correct), parsed)


def test_mc_task_rows_and_lenient():
    items = [{"question_id": f"p{i}", "text": "q", "task": "mc", "answer": gold, "choices": [f"c{j}" for j in range(n)]}
             for i, (_, n, gold, _, _) in enumerate(SQA_CASES)]
    preds = [p for p, *_ in SQA_CASES]
    official = scorer("mc").score(items, preds)
    assert official.scores["accuracy"] == pytest.approx(5 / 18)  # eval_science_qa.py: "Total: 18, Correct: 5, Accuracy: 27.78%"
    assert [r["parsed"] for r in official.questions] == [c[3] for c in SQA_CASES]
    lenient = scorer("mc").score(items, preds, lenient=True)
    assert lenient.scores["accuracy"] > official.scores["accuracy"] and lenient.scores["official"] is False
    assert lenient.questions[1]["parsed"] == "B"  # "B." credited only by the lenient reading


# ---------------------------------------------------------------- A-OKVQA in DataOptim's answer form

@pytest.mark.parametrize("prediction, parsed", [
    ("The correct option is B.", "B"), ("  The correct option is B.\n", "B"), ("The correct option is B", "FAILED"),
    ("the correct option is B.", "FAILED"), ("The correct option is (B).", "FAILED"), ("B", "FAILED"),
    ("The correct option is B. It is a train.", "FAILED"),
])
def test_aokvqa_reads_dataoptim_form_exactly(prediction, parsed):
    # DataOptim publishes no A-OKVQA scorer: the rule is the exact form its training answers take
    # (dataoptim.prompts: "The correct option is B."), so these values follow from that form, not from a run.
    assert aokvqa.read(prediction) == parsed
    items = [{"question_id": "a", "text": "q", "task": "aokvqa", "answer": "The correct option is B."}]
    assert scorer("aokvqa").score(items, [prediction]).scores["accuracy"] == float(parsed == "B")


# ---------------------------------------------------------------- grounding: lmms-eval refcoco REC, Shikra

GT = "[0.1, 0.2, 0.5, 0.6]"
GROUNDING_CASES = [  # (prediction, lmms-eval IoU, lmms-eval ACC@0.5, Shikra box found, Shikra IoU, Shikra correct)
    ("[0.1, 0.2, 0.5, 0.6]", 1.0, True, False, 0.0, False),  # Shikra writes (and reads) boxes without spaces
    ("[0.1,0.2,0.5,0.6]", 1.0, True, True, 1.0, True),
    ("[.1, .2, .5, .6]", 0.0, False, False, 0.0, False),
    ("[1e-1, 2e-1, 5e-1, 6e-1]", 0.0, False, False, 0.0, False),
    ("[0.1 , 0.2 , 0.5 , 0.6]", 0.0, False, False, 0.0, False),
    ("[0, 0, 1, 1]", 0.16000000000000003, False, False, 0.0, False),
    ("[0.1,0.2,0.5,0.6] and [0.6,0.6,0.9,0.9]", 1.0, True, False, 0.0, False),  # Shikra: exactly one box
    ("[0.1,0.2,0.5,0.6;0.6,0.6,0.9,0.9]", 0.0, False, False, 0.0, False),
    ("the dog on the left", 0.0, False, False, 0.0, False),
    ("[0.1,0.2,0.5,0.4]", 0.5000000000000001, True, True, 0.5, False),  # float64 >= 0.5; float32 not > 0.5
    ("[0.2,0.3,0.6,0.7]", 0.39130434782608703, False, True, 0.3913043439388275, False),
    ("[0.5,0.6,0.1,0.2]", 0.0, False, True, 0.0, False),
    ("Answer: [0.100,0.200,0.500,0.600] .", 1.0, True, True, 1.0, True),
    ("[+0.1, 0.2, 0.5, 0.6]", 0.0, False, False, 0.0, False),
    ("[-0.1, 0.2, 0.5, 0.6]", 0.6666666666666667, True, False, 0.0, False),
    ("[0.1,0.2,0.9,0.6]", 0.5000000000000001, True, True, 0.5, False),
]


def test_grounding_matches_lmms_eval_and_shikra():
    items = _items("grounding", [GT] * len(GROUNDING_CASES))
    preds = [c[0] for c in GROUNDING_CASES]
    lmms = scorer("grounding").score(items, preds)
    shikra = scorer("grounding").score(items, preds, rule="shikra")
    for row_l, row_s, (pred, iou, acc, found, s_iou, s_ok) in zip(lmms.questions, shikra.questions, GROUNDING_CASES):
        assert row_l["score"] == pytest.approx(iou, abs=1e-15), pred
        assert (row_l["score"] >= 0.5) == acc, pred
        assert (row_s["parsed"] is not None) == found, pred
        assert row_s["score"] == pytest.approx(s_iou, rel=1e-7), pred
        assert (row_s["score"] > 0.5) == s_ok, pred
    assert lmms.scores["acc@0.5"] == pytest.approx(sum(c[2] for c in GROUNDING_CASES) / 16)
    assert shikra.scores["acc@0.5"] == pytest.approx(2 / 16)
    assert lmms.questions[2]["parsed"] is None and lmms.questions[0]["parsed"] == [0.1, 0.2, 0.5, 0.6]
    assert shikra.scores["options"]["rule"] == "shikra" and "Shikra" in shikra.scores["scorer"]
    # the library's friendlier reader takes .1 and 1e-1 (not official)
    lenient = scorer("grounding").score(items, preds, lenient=True)
    assert lenient.questions[2]["score"] == pytest.approx(1.0) and lenient.questions[3]["score"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="grounding rule must be one of 'lmms-eval', 'shikra'"):
        score({"q0": "x"}, items[:1], grounding_rule="kosmos")


def test_shikra_iou_is_float32_on_boxes_times_1000():
    from dataoptim.evaluate.tasks.shared import lmms_iou, shikra_iou

    assert shikra_iou([0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.4]) == 0.5
    assert lmms_iou([0.1, 0.2, 0.5, 0.6], [0.1, 0.2, 0.5, 0.4]) == 0.5000000000000001
    assert grounding.check_rule("shikra") is None


# ---------------------------------------------------------------- captions: CIDEr-D, PTB tokenizer

CAPTIONS = {
    "coco": {
        "1": ("A dog's well-lit kennel, isn't it?", ["A dog's kennel that is well-lit.", "The well-lit kennel of a dog.", "A dog sits in a kennel."]),
        "2": ("Two people ride horses on the beach.", ["Two people riding horses along a beach.", "People on horseback at the beach.", "Two riders on a sandy beach."]),
        "3": ("A man eats a hot-dog.", ["A man is eating a hot-dog.", "Man eating a hot dog outside.", "A person eats food."]),
    },
    "flickr": {
        "4": ("A red bus on a city street.", ["A red double-decker bus drives down a city street.", "A bus on the street.", "Red bus in the city."]),
        "5": ("Kids playing soccer in a park.", ["Children play soccer in the park.", "Kids kick a ball on grass.", "A soccer game in a park."]),
    },
}
# pycocoevalcap 1.2: PTBTokenizer().tokenize + Cider().compute_score, one corpus per source
CIDER_PTB = {"coco": (1.7163029655761732, {"1": 1.995736512848093, "2": 1.742520202449175, "3": 1.4106521814312507}),
             "flickr": (2.245717187517326, {"4": 2.6573034859183142, "5": 1.8341308891163375})}


def _caption_items():
    return [{"question_id": k, "text": "Describe.", "task": "caption", "answers": refs, "category": cat}
            for cat, group in CAPTIONS.items() for k, (_, refs) in group.items()], \
           [pred for group in CAPTIONS.values() for pred, _ in group.values()]


@needs_java
def test_caption_cider_per_source_matches_pycocoevalcap():
    items, preds = _caption_items()
    result = scorer("caption").score(items, preds)
    assert result.scores["categories"] == {"coco": {"cider": pytest.approx(1.7163029655761732), "n": 3},
                                           "flickr": {"cider": pytest.approx(2.245717187517326), "n": 2}}
    assert result.scores["cider"] == pytest.approx((1.7163029655761732 + 2.245717187517326) / 2)
    per = {r["question_id"]: r["score"] for r in result.questions}
    assert per == {k: pytest.approx(v) for cat in CIDER_PTB.values() for k, v in cat[1].items()}
    assert result.questions[0]["parsed"] == "a dog 's well-lit kennel is n't it"
    assert result.scores["official"] is True and result.scores["options"]["cider_tokenizer"] == "ptb"


def test_caption_simple_tokenizer_differs_and_is_labelled():
    items, preds = _caption_items()
    simple = scorer("caption").score(items, preds, tokenizer="simple")
    # the library's own tokenizer splits "well-lit" and "hot-dog": coco 2.1804 where PTB gives 1.7163 (values of this project)
    assert simple.scores["categories"]["coco"]["cider"] == pytest.approx(2.180356486865962)
    assert simple.scores["categories"]["flickr"]["cider"] == pytest.approx(2.1787361309406124)
    assert simple.scores["official"] is False and "not official" in simple.scores["scorer"]


def test_caption_without_java_is_refused_in_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("shutil.which", lambda name: None)
    items, preds = _caption_items()
    b = tmp_path / "bench.jsonl"
    b.write_text("".join(json.dumps(i) + "\n" for i in items))
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps({"question_id": i["question_id"], "text": t}) + "\n" for i, t in zip(items, preds)))
    assert main(["score", "-p", str(p), "-b", str(b), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: caption scoring needs Java for CIDEr's official PTB tokenizer and no 'java' is on PATH: "
                   "install a Java runtime, or pass --cider-tokenizer simple (not official)"]
    assert not (tmp_path / "out").exists()
    assert main(["score", "-p", str(p), "-b", str(b), "--cider-tokenizer", "simple"]) == 0
    assert json.loads(capsys.readouterr().out)["caption"]["official"] is False


# ---------------------------------------------------------------- the whole path: per_question.jsonl

def test_per_question_rows_name_what_was_parsed():
    items = [
        {"question_id": "v", "text": "q", "task": "vqa", "answers": ["2"] * 9 + ["3"]},
        {"question_id": "t", "text": "q", "task": "textvqa", "answers": ["dog 's"] * 10},
        {"question_id": "p", "text": "q", "task": "pope", "answer": "no", "category": "random"},
        {"question_id": "m", "text": "q", "task": "mc", "answer": "B"},
        {"question_id": "r", "text": "q", "task": "grounding", "answer": GT},
        {"question_id": "e1", "text": "q", "task": "mme", "answer": "Yes", "category": "OCR"},
        {"question_id": "e2", "text": "q", "task": "mme", "answer": "No", "category": "OCR"},
    ]
    preds = {"v": "Two.", "t": "dog's", "p": "No, there is not.", "m": "(B)", "r": "[.1, .2, .5, .6]", "e1": "Yes", "e2": "Perhaps"}
    _, rows = score_items(items, preds)
    flat = {r["question_id"]: (r["task"], r["category"], r["score"], r["parsed"]) for task_rows in rows.values() for r in task_rows}
    assert flat == {"v": ("vqa", None, pytest.approx(1.0), "2"), "t": ("textvqa", None, 1.0, "dog 's"),
                    "p": ("pope", "random", 1.0, "no"), "m": ("mc", None, 0.0, "FAILED"), "r": ("grounding", None, 0.0, None),
                    "e1": ("mme", "OCR", 1.0, "yes"), "e2": ("mme", "OCR", 0.0, "other")}


@needs_java
def test_ptb_tokenizer_keeps_java_chatter_off_stderr(capfd):
    from dataoptim.evaluate.tasks.shared import ptb_tokenize

    assert ptb_tokenize({"a": ["A dog's well-lit kennel, isn't it?"]}) == {"a": ["a dog 's well-lit kennel is n't it"]}
    assert capfd.readouterr().err == ""  # pycocoevalcap's Java process prints "PTBTokenizer tokenized ..." otherwise


def test_no_empty_or_missing_answer_gets_credit_the_reference_would_not_give():
    # a single reference "a" is read as ten identical answers: vqaEval compares "" with "a" as given -> 0
    assert vqa.judge("", ["a"])[0] == 0.0
    items = [
        {"question_id": "v", "text": "q", "task": "vqa", "answers": ["a"] * 5 + ["an"] * 5},
        {"question_id": "p", "text": "q", "task": "pope", "answer": "yes"},
        {"question_id": "m", "text": "q", "task": "mc", "answer": "A"},
        {"question_id": "r", "text": "q", "task": "grounding", "answer": "[0, 0, 1, 1]"},
        {"question_id": "e1", "text": "q", "task": "mme", "answer": "Yes", "category": "count"},
        {"question_id": "e2", "text": "q", "task": "mme", "answer": "No", "category": "count"},
    ]
    # unanswered questions (allow_missing) are wrong, whatever an empty string would read as
    scores, rows = score_items(items, {"e1": "yes"}, allow_missing=True)
    assert [r["score"] for task_rows in rows.values() for r in task_rows] == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert rows["mc"][0]["parsed"] == "FAILED" and rows["pope"][0]["parsed"] is None and rows["mme"][1]["parsed"] == "other"
    assert scores["pope"]["categories"]["all"]["fn"] == 1 and scores["grounding"]["center_acc"] == 0.0
    # answered with "", the reference scorers' own readings apply: vqaEval credits "" when the articles differ,
    # eval_pope reads "" as yes
    scores, _ = score_items(items, {"v": "", "p": "", "m": "", "r": "", "e1": "", "e2": ""})
    assert scores["vqa"]["accuracy"] == 1.0 and scores["pope"]["accuracy"] == 1.0 and scores["mc"]["accuracy"] == 0.0


def test_evaluate_refuses_captions_without_java_before_loading_a_model(monkeypatch, tmp_path):
    from dataoptim.evaluate import evaluate

    monkeypatch.setattr("shutil.which", lambda name: None)
    items, _ = _caption_items()

    def no_model(*args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("dataoptim.evaluate.runner.make_generator", no_model)
    with pytest.raises(ConfigError, match="caption scoring needs Java"):
        evaluate("tiny", items, None, tmp_path / "out")
    assert not (tmp_path / "out").exists()
