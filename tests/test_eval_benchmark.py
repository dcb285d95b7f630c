"""Benchmark readers: canonical file, DataOptim validation set, LLaVA eval files, builder records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataoptim.errors import ConfigError, DataOptimError, InputError, MissingFileError
from dataoptim.evaluate.benchmark import (
    check_item,
    detect_format,
    from_records,
    read_benchmark,
    read_canonical,
    read_dataoptim,
    read_llava,
    task_from_name,
    unique_ids,
    write_benchmark,
)

EVAL = Path(__file__).parent / "fixtures" / "eval"


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [
    {"question_id": 1, "image": "a.png", "text": "How many?", "task": "vqa", "answers": ["2"] * 10},
    {"question_id": "q2", "image": "b.png", "text": "Pick", "task": "mc", "answer": "B", "choices": ["x", "y"]},
    {"question_id": "q3", "image": None, "text": "Where?", "task": "grounding", "answer": "[0.1, 0.2, 0.3, 0.4]"},
]


def test_canonical_round_trip(tmp_path):
    items = read_canonical(_jsonl(tmp_path / "b.jsonl", GOOD))
    assert [i["question_id"] for i in items] == ["1", "q2", "q3"]  # ids become strings
    assert items[1]["choices"] == ["x", "y"]
    out = write_benchmark(items, tmp_path / "copy.jsonl")
    assert read_benchmark(out) == items
    assert detect_format(out) == "canonical"


@pytest.mark.parametrize(
    "line, field, words",
    [
        ({"image": "a", "text": "t", "task": "vqa"}, "question_id", "missing"),
        ({"question_id": 1, "text": "", "task": "vqa"}, "text", "non-empty"),
        ({"question_id": 1, "text": "t", "task": "ocr"}, "task", "unknown task"),
        ({"question_id": 1, "text": "t", "task": "vqa", "answers": "two"}, "answers", "list of strings"),
        ({"question_id": 1, "text": "t", "task": "vqa", "answers": []}, "answers", "list of strings"),
        ({"question_id": 1, "text": "t", "task": "mc", "answer": "transport"}, "answer", "no option letter"),
        ({"question_id": 1, "text": "t", "task": "grounding", "answer": "left"}, "answer", "no [x1, y1, x2, y2] box"),
        ({"question_id": 1, "text": "t", "task": "vqa", "image": 3}, "image", "string or null"),
        ({"question_id": True, "text": "t", "task": "vqa"}, "question_id", "string or an integer"),
    ],
)
def test_canonical_bad_line_names_file_line_and_field(tmp_path, line, field, words):
    path = _jsonl(tmp_path / "bench.jsonl", [GOOD[0], "", line])
    with pytest.raises(InputError) as info:
        read_canonical(path)
    err = info.value
    assert err.file == str(path) and err.record == 2 and err.field == field
    assert words in str(err) and str(path) in str(err) and "record 2" in str(err)


def test_canonical_bad_json_and_duplicates(tmp_path):
    path = _jsonl(tmp_path / "bench.jsonl", [GOOD[0], '{"question_id": 2, "text": '])
    with pytest.raises(InputError, match=r"record 1.*line 2 is not valid JSON"):
        read_canonical(path)
    path = _jsonl(tmp_path / "dup.jsonl", [GOOD[0], GOOD[0]])
    with pytest.raises(InputError, match=r"record 1 \(id '1'\), field 'question_id': duplicate question_id, first used by record 0"):
        read_canonical(path)
    with pytest.raises(MissingFileError):
        read_benchmark(tmp_path / "absent.jsonl")
    with pytest.raises(InputError, match="no reference"):
        check_item({"question_id": 1, "text": "t", "task": "vqa"}, require_reference=True)


def test_unique_ids_pairs_repeats_in_order():
    assert list(unique_ids([5, "a", 5, 5, "a"])) == ["5", "a", "5#2", "5#3", "a#2"]


def test_task_from_name():
    assert task_from_name("llava_pope_test") == "pope"
    # TextVQA has its own scorer (LLaVA's m4c evaluator, issue 15), no longer vqaEval's
    assert task_from_name("llava_textvqa_val_v051_ocr") == "textvqa"
    assert task_from_name("llava_gqa_testdev_balanced") == "gqa"
    assert task_from_name("vizwiz_llava_test") == "vqa"
    assert task_from_name("llava_mme") == "mme"  # MME has its own scorer now (issue 15)
    assert task_from_name("existence") == task_from_name("OCR") == task_from_name("code_reasoning") == "mme"
    assert task_from_name("llava_mme", {"LLAVA_MME": "pope"}) == "pope"
    assert task_from_name("RefCOCO+") == "grounding"


# ---------------------------------------------------------------- LLaVA eval question files


def test_llava_pope_with_label_file_in_order():
    items = read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=EVAL / "coco_pope_adversarial.json")
    assert len(items) == 40 and {i["task"] for i in items} == {"pope"}
    assert items[0]["question_id"] == "1" and items[0]["image"] == "COCO_val2014_000000310196.jpg"
    assert items[0]["text"].endswith("Answer the question using a single word or phrase.")
    assert [i["answer"] for i in items[:4]] == ["yes", "no", "yes", "yes"]
    assert items[0]["category"] == "adversarial"


def test_llava_gqa_with_questions_file_answers():
    items = read_llava(EVAL / "llava_gqa_testdev_balanced.head40.jsonl", answers=EVAL / "gqa_testdev_answers.synthetic.json")
    answers = json.loads((EVAL / "gqa_testdev_answers.synthetic.json").read_text())
    assert items[0]["task"] == "gqa" and items[0]["question_id"] == "201307251"
    assert all(i["answer"] == answers[i["question_id"]]["answer"] for i in items)


def test_llava_textvqa_matched_by_image_and_question(tmp_path):
    lines = (EVAL / "llava_textvqa_val_v051_ocr.head40.jsonl").read_text().splitlines()
    head5 = tmp_path / "llava_textvqa_val_v051_ocr.head5.jsonl"
    head5.write_text("\n".join(lines[:5]) + "\n")
    items = read_llava(head5, answers=EVAL / "TextVQA_0.5.1_val.json")
    assert [i["question_id"] for i in items] == ["003a8ae2ef43b901", "b9dc400eb20bad64", "2b538a43dd933fc1",
                                                 "831bcec304a17054", "831bcec304a17054#2"]
    assert items[0]["task"] == "textvqa" and len(items[0]["answers"]) == 10
    assert items[4]["answers"][:3] == ["10 years", "10 year", "10 years"]
    # the TextVQA file holds only 5 answers: the 40-line file has 35 questions without one
    with pytest.raises(InputError, match=r"35 questions have no answer in the answer file, first"):
        read_llava(EVAL / "llava_textvqa_val_v051_ocr.head40.jsonl", answers=EVAL / "TextVQA_0.5.1_val.json")


def test_llava_mme_repeated_ids_and_task_option():
    assert {i["task"] for i in read_llava(EVAL / "llava_mme.head40.jsonl")} == {"mme"}  # from the file name (issue 15)
    items = read_llava(EVAL / "llava_mme.head40.jsonl", task="pope")
    assert items[0]["question_id"] == "code_reasoning/0020.png"
    assert items[1]["question_id"] == "code_reasoning/0020.png#2"
    assert len({i["question_id"] for i in items}) == 40
    assert not any("answer" in i or "answers" in i for i in items)  # generation only


def test_llava_qa90_with_answer_file_as_captions():
    items = read_llava(EVAL / "qa90_questions.jsonl", task="caption", answers=EVAL / "qa90_gpt4_answer.jsonl")
    assert len(items) == 90 and items[0]["answers"][0].startswith("The colors of the two suitcases")
    assert detect_format(EVAL / "qa90_questions.jsonl") == "llava"


def test_llava_answers_only_for_llava_files(tmp_path):
    with pytest.raises(ConfigError, match="LLaVA question files and records"):
        read_benchmark(EVAL / "dataoptim_val.synthetic.json", answers=EVAL / "qa90_gpt4_answer.jsonl")


# ---------------------------------------------------------------- DataOptim validation set


def test_dataoptim_validation_format():
    items = read_benchmark(EVAL / "dataoptim_val.synthetic.json")
    by_task = {i["task"] for i in items}
    assert by_task == {"vqa", "caption", "mc", "grounding", "pope"}
    first = items[0]
    assert first == {"question_id": "vqa/0001", "image": "vqa/0001.png",
                     "text": "What color is the bus? Answer the question directly with a short sentence or phrase.",
                     "task": "vqa", "category": "vqa", "answers": ["Red."]}
    mc = next(i for i in items if i["task"] == "mc")
    assert mc["answer"] == "The correct option is B."


def test_dataoptim_unknown_prefix_needs_task_map(tmp_path):
    path = tmp_path / "val.json"
    path.write_text(json.dumps([{"image_id": "mystery/1", "question": "q", "answer": "a"}]))
    with pytest.raises(ConfigError, match=r"record 0 \(id 'mystery/1'\), field 'image_id': task prefix 'mystery'"):
        read_dataoptim(path)
    assert read_dataoptim(path, task_map={"mystery": "gqa"})[0]["task"] == "gqa"
    with pytest.raises(ConfigError):
        read_dataoptim(path, task_map={"mystery": "ocr"})
    path.write_text(json.dumps([{"image_id": "vqa/1", "question": 3, "answer": "a"}]))
    with pytest.raises(InputError, match=r"record 0, field 'question': must be a string"):
        read_dataoptim(path)


# ---------------------------------------------------------------- builder records (hold-out)


RECORDS = [
    {"id": "coco_0", "image": "coco/x.jpg", "source": "coco", "task": "caption",
     "conversations": [{"from": "human", "value": "<image>\nGive a brief summary of what you see."},
                       {"from": "gpt", "value": "A cat on a mat."}]},
    {"id": "aokvqa_1", "image": "coco/y.jpg", "source": "aokvqa", "task": "mcvqa",
     "conversations": [{"from": "human", "value": "<image>\nChoose the correct option for the following question: Why?\n"
                                                  "A. one\nB. two\nC. three\nD. four\n"},
                       {"from": "gpt", "value": "The correct option is C."}]},
    {"id": "ref3rec_2", "image": "coco/z.jpg", "source": "ref3rec", "task": "rec",
     "conversations": [{"from": "human", "value": "Where is <expr> in <image>?".replace("<expr>", "the dog")},
                       {"from": "gpt", "value": "[0.1, 0.2, 0.3, 0.4]."}]},
    {"id": "gqa_05145757", "image": "visual_genome/1.jpg", "source": "gqa", "task": "vqa",
     "conversations": [{"from": "human", "value": "<image>\nIs the sky dark? Answer the question directly with a short sentence or phrase."},
                       {"from": "gpt", "value": "Yes, the sky is dark."}]},
    {"id": "llava_3", "image": "coco/w.jpg", "source": "llava", "task": "dialogue",
     "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A bus."},
                       {"from": "human", "value": "What colour?"}, {"from": "gpt", "value": "Red."}]},
]


def test_records_to_benchmark():
    items = from_records(RECORDS, answers={"05145757": "yes"})
    cap, mc, rec, gqa, dia = items
    assert cap["task"] == "caption" and cap["answers"] == ["A cat on a mat."] and cap["text"].startswith("<image>\n")
    # A-OKVQA records keep DataOptim's answer sentence under their own task (issue 15: scored by that form's rule)
    assert mc["task"] == "aokvqa" and mc["answer"] == "The correct option is C." and mc["choices"] == ["one", "two", "three", "four"]
    assert rec["task"] == "grounding" and rec["answer"] == "[0.1, 0.2, 0.3, 0.4]." and "<image>" in rec["text"]
    # GQA: the short answer (looked up by the id after its last '_'), the sentence kept beside it
    assert gqa["task"] == "gqa" and gqa["answer"] == "yes" and gqa["full_answer"] == "Yes, the sky is dark."
    assert dia["task"] == "caption" and dia["text"] == "What colour?" and dia["answers"] == ["Red."]
    assert [i["task"] for i in from_records(RECORDS, tasks=["aokvqa", "gqa"], answers={"05145757": "yes"})] == ["aokvqa", "gqa"]


def test_records_from_dataset_and_files(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(RECORDS[:4])
    assert [i["question_id"] for i in read_benchmark(ds, answers={"05145757": "yes"})] == ["coco_0", "aokvqa_1", "ref3rec_2", "gqa_05145757"]
    ds.save_to_disk(str(tmp_path / "holdout"))
    assert len(read_benchmark(tmp_path / "holdout", tasks=["caption", "aokvqa", "grounding"])) == 3
    path = tmp_path / "sel.json"
    path.write_text(json.dumps(RECORDS))
    gqa_file = tmp_path / "val_balanced_questions.json"
    gqa_file.write_text(json.dumps({"05145757": {"imageId": "1", "question": "Is the sky dark?", "answer": "yes", "fullAnswer": "Yes, the sky is dark."}}))
    assert detect_format(path) == "records" and len(read_benchmark(path, answers=[gqa_file])) == 5


GQA_FIXTURES = Path(__file__).parent / "fixtures" / "gqa"


def test_held_out_gqa_records_are_scored_against_the_short_answer(tmp_path):
    """A GQA record holds fullAnswer; GQA's exact match needs the question file's short ``answer``.

    The testdev record is built by the GQA builder from tests/fixtures/gqa/testdev_balanced_questions.json
    (question 201307251: answer "no", fullAnswer "No, it is clear."). Scoring rule: LLaVA
    convert_gqa_for_eval.py (``rstrip('.').lower()``) then GQA eval.py ``predicted == gold``, so "No." is
    right against "no"; against the sentence no short answer can be right (the fault: always 0).
    """
    from builder_harness import build_from, fixture_json
    from dataoptim.evaluate import score_items

    questions = GQA_FIXTURES / "testdev_balanced_questions.json"
    held_out = build_from("gqa", {"testdev_balanced_questions.json": fixture_json("gqa/testdev_balanced_questions.json"),
                                  "train_balanced_questions.json": fixture_json("gqa/train_balanced_questions.json")}, tmp_path)["testdev"]
    assert held_out[0]["conversations"][1]["value"] == "No, it is clear."  # the record itself is unchanged
    [item] = read_benchmark(held_out, answers=questions)
    assert (item["question_id"], item["task"], item["answer"], item["full_answer"]) == ("gqa_testdev_201307251", "gqa", "no", "No, it is clear.")
    scores, _ = score_items([item, dict(item, question_id="q2")], {"gqa_testdev_201307251": "No.", "q2": "Yes"})
    assert scores["gqa"]["accuracy"] == 0.5
    # without the question file the reference would be the sentence: refused, located
    with pytest.raises(InputError, match="GQA's exact match scores the short 'answer'") as info:
        read_benchmark(held_out)
    assert (info.value.record, info.value.id, info.value.field) == (0, "gqa_testdev_201307251", "answer")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"1": {"answer": "yes"}}))
    with pytest.raises(InputError, match="'201307251' is not in the GQA question file") as info:
        read_benchmark(held_out, answers=other)
    assert info.value.field == "question_id"
    other.write_text(json.dumps({"201307251": {"fullAnswer": "No."}}))
    with pytest.raises(InputError, match="short answer as a string") as info:
        read_benchmark(held_out, answers=other)
    assert (info.value.file, info.value.id, info.value.field) == (str(other), "201307251", "answer")
    with pytest.raises(ConfigError, match="LLaVA question files and records"):
        read_benchmark([{"question_id": "1", "text": "q", "task": "gqa"}], answers=questions)


def test_gqa_answers_compare_the_question_and_check_only_the_questions_needed(tmp_path, capsys):
    """``--answers`` for held-out GQA records: the question text is compared (it was not: 201307251 asked as "Is it sunny?"
    was scored silently), only the questions the records need are checked (train_balanced_questions.json beside the testdev
    file failed on train question 05145757, which has no 'answer'), and answers no record needs get a note."""
    from builder_harness import build_from, fixture_json
    from dataoptim.cli import main
    from dataoptim.evaluate.benchmark import with_notes

    testdev = GQA_FIXTURES / "testdev_balanced_questions.json"
    held_out = build_from("gqa", {"testdev_balanced_questions.json": fixture_json("gqa/testdev_balanced_questions.json"),
                                  "train_balanced_questions.json": fixture_json("gqa/train_balanced_questions.json")}, tmp_path)["testdev"]
    sunny = tmp_path / "sunny.json"
    sunny.write_text(json.dumps({"201307251": {"imageId": "n161313", "question": "Is it sunny?", "answer": "no"}}))
    with pytest.raises(InputError) as info:
        read_benchmark(held_out, answers=sunny)
    assert str(info.value) == (f"{sunny}: record 0 (id '201307251'), field 'question': GQA question '201307251' is 'Is it sunny?' in the "
                               "question file, but record 'gqa_testdev_201307251' asks 'Is it overcast?': the question file is of "
                               "another GQA version or split")
    for files in ([GQA_FIXTURES / "train_balanced_questions.json", testdev], [testdev, GQA_FIXTURES / "train_balanced_questions.json"]):
        [item] = read_benchmark(held_out, answers=files)
        assert (item["question_id"], item["answer"]) == ("gqa_testdev_201307251", "no")
    # a records benchmark without GQA records: --answers is not used, and a note says so
    items, notes = with_notes(read_benchmark, RECORDS[1:3], answers=[testdev])
    assert [i["task"] for i in items] == ["aokvqa", "grounding"]
    assert notes == [f"--answers {testdev} not used: no GQA record in the records needs GQA's short answers "
                     "(the only answers a records benchmark takes)"]
    bench, preds = tmp_path / "sel.json", tmp_path / "preds.jsonl"
    bench.write_text(json.dumps(RECORDS[1:2]))
    preds.write_text(json.dumps({"question_id": "aokvqa_1", "text": "The correct option is C."}) + "\n")
    assert main(["score", "-p", str(preds), "-b", str(bench), "--answers", str(testdev)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["aokvqa"]["accuracy"] == 1.0
    assert [line for line in captured.err.splitlines() if line.startswith("note: ")] == [
        f"note: --answers {testdev} not used: no GQA record in {bench} needs GQA's short answers (the only answers a records benchmark takes)"]


def test_records_bad_input_is_located():
    bad = [dict(RECORDS[0]), dict(RECORDS[1], task="ocr")]
    with pytest.raises(InputError, match=r"record 1 \(id 'aokvqa_1'\), field 'task'"):
        from_records(bad, file="sel.json")
    bad = [dict(RECORDS[1], conversations=[RECORDS[1]["conversations"][0], {"from": "gpt", "value": "I think so."}])]
    with pytest.raises(InputError, match="names no option letter"):
        from_records(bad)
    with pytest.raises(InputError, match="field 'conversations'"):
        from_records([{"id": "x", "conversations": []}])
    with pytest.raises(DataOptimError):
        read_benchmark(RECORDS, format="dataoptim")


def test_records_benchmark_applies_the_record_rules():
    from dataoptim.errors import RecordError

    reversed_turns = dict(RECORDS[4], conversations=RECORDS[4]["conversations"][::-1])
    with pytest.raises(RecordError) as info:
        from_records([RECORDS[0], reversed_turns], file="holdout.json")
    assert (info.value.record, info.value.id, info.value.field) == (1, "llava_3", "conversations[0].from")
    two_images = dict(RECORDS[0], conversations=[{"from": "human", "value": "<image>\n<image>\nDescribe."}, {"from": "gpt", "value": "A cat."}])
    with pytest.raises(RecordError, match="exactly one <image>"):
        from_records([two_images])
    text_only = {"id": "x_1", "task": "caption", "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "hi"}]}
    assert from_records([text_only])[0]["image"] is None


@pytest.mark.parametrize("answers, found", [("yes", "a string ('yes')"), ([], "list"), ([{"answer_id": 1}], "list"), (3, "int")])
def test_vqa_annotation_answers_must_be_a_list(tmp_path, answers, found):
    """VQAv2's annotations give 10 answers as [{"answer": ...}]; a plain string was taken silently as one answer."""
    questions = _jsonl(tmp_path / "llava_vqav2_val.jsonl", [{"question_id": 7, "image": "a.jpg", "text": "What?"}])
    annotations = tmp_path / "v2_mscoco_val2014_annotations.json"
    annotations.write_text(json.dumps({"annotations": [{"question_id": 7, "answers": answers}]}))
    with pytest.raises(InputError, match=r"must be a non-empty list of answers") as info:
        read_llava(questions, task="vqa", answers=annotations)
    assert (info.value.file, info.value.record, info.value.id, info.value.field) == (str(annotations), 0, "7", "answers")
    assert found in str(info.value)
    annotations.write_text(json.dumps({"annotations": [{"question_id": 7, "answers": [{"answer": "yes"}] * 10}]}))
    assert read_llava(questions, task="vqa", answers=annotations)[0]["answers"] == ["yes"] * 10
    textvqa = tmp_path / "TextVQA_0.5.1_val.json"
    textvqa.write_text(json.dumps({"data": [{"question_id": 7, "image_id": "a", "question": "What?", "answers": "yes"}]}))
    with pytest.raises(InputError, match=r"field 'answers': must be a non-empty list of answers"):
        read_llava(questions, task="textvqa", answers=textvqa)


def test_answer_files_that_disagree_are_refused_not_left_to_their_order(tmp_path):
    """Second tester: two POPE label files for one category, or two GQA question files with different answers for one
    question, scored 77.5% or 80% (100% or 0%) depending on their order. Files that agree are still taken."""
    labels = (EVAL / "coco_pope_adversarial.json").read_text().splitlines()
    changed = [json.dumps(dict(json.loads(line), label="no" if json.loads(line)["label"] == "yes" else "yes")) if k < 2 else line
               for k, line in enumerate(labels)]
    other = tmp_path / "maybe.json"
    other.write_text("\n".join(changed) + "\n")
    with pytest.raises(InputError, match="two label files for POPE category 'adversarial'"):
        read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=[EVAL / "coco_pope_adversarial.json", other])
    answers = json.loads((EVAL / "gqa_testdev_answers.synthetic.json").read_text())
    first = next(iter(answers))
    same, differ = tmp_path / "same.json", tmp_path / "differ.json"
    same.write_text(json.dumps({first: answers[first]}))
    differ.write_text(json.dumps({first: dict(answers[first], answer=answers[first]["answer"] + "x")}))
    items = read_llava(EVAL / "llava_gqa_testdev_balanced.head40.jsonl", answers=[EVAL / "gqa_testdev_answers.synthetic.json", same])
    assert all(i["answer"] == answers[i["question_id"]]["answer"] for i in items)
    for files in ([EVAL / "gqa_testdev_answers.synthetic.json", differ], [differ, EVAL / "gqa_testdev_answers.synthetic.json"]):
        with pytest.raises(InputError, match=f"question '{first}' has answer"):
            read_llava(EVAL / "llava_gqa_testdev_balanced.head40.jsonl", answers=files)


def test_gqa_question_files_that_disagree_are_refused(tmp_path):
    from dataoptim.evaluate.benchmark import gqa_short_answers

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"201307251": {"question": "Is it overcast?", "answer": "no"}}))
    b.write_text(json.dumps({"201307251": {"question": "Is it overcast?", "answer": "yes"}}))
    assert gqa_short_answers([a, a]) == {"201307251": "no"}
    with pytest.raises(InputError, match="GQA question '201307251' has answer 'no' in .*a.json and 'yes' here"):
        gqa_short_answers([a, b])


def test_pope_label_file_of_an_absent_category_or_empty(tmp_path):
    """Second tester: a label file named for a category the benchmark lacks said '40 questions have no answer' (alone) or
    '40 label lines past the last of the 0 questions ... ignored' (with others); an empty one said '40 questions have no answer'.
    eval_pope.py reads only the label files of the question file's categories: an unused one gets a note."""
    from dataoptim.evaluate.benchmark import with_notes

    unused = tmp_path / "coco_pope_random.json"
    unused.write_text((EVAL / "coco_pope_adversarial.json").read_text())
    items, notes = with_notes(read_benchmark, EVAL / "llava_pope_test.head40.jsonl", answers=[EVAL / "coco_pope_adversarial.json", unused])
    assert [i["answer"] for i in items[:4]] == ["yes", "no", "yes", "yes"]
    assert notes == [f"{unused}: not used: the benchmark has no question of POPE category 'random' (its categories: adversarial)"]
    empty = tmp_path / "coco_pope_adversarial.json"
    empty.write_text("")
    with pytest.raises(InputError, match="the POPE label file is empty"):
        read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=empty)


def test_answer_file_checks_after_the_third_tester(tmp_path):
    """The same POPE labels twice (the file twice, or a copy) are taken; two that differ are named by full path; an empty
    label file under another name is an error; answer files that disagree only on a question the benchmark does not ask
    are taken."""
    copy_dir = tmp_path / "alt"
    copy_dir.mkdir()
    copy = copy_dir / "coco_pope_adversarial.json"
    copy.write_text((EVAL / "coco_pope_adversarial.json").read_text())
    items = read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=[EVAL / "coco_pope_adversarial.json", copy])
    assert [i["answer"] for i in items[:4]] == ["yes", "no", "yes", "yes"]
    changed = copy.read_text().replace('"label": "yes"', '"label": "no"', 1)
    copy.write_text(changed)
    with pytest.raises(InputError, match=f"differ: {EVAL / 'coco_pope_adversarial.json'} and {copy};"):
        read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=[EVAL / "coco_pope_adversarial.json", copy])
    empty = tmp_path / "labels.json"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="the POPE label file is empty"):
        read_benchmark(EVAL / "llava_pope_test.head40.jsonl", answers=[EVAL / "coco_pope_adversarial.json", empty], task="pope")
    answers = json.loads((EVAL / "gqa_testdev_answers.synthetic.json").read_text())
    x1, x2 = tmp_path / "x1.json", tmp_path / "x2.json"
    x1.write_text(json.dumps({**answers, "999": {"answer": "no"}}))
    x2.write_text(json.dumps({"999": {"answer": "yes"}}))
    items = read_llava(EVAL / "llava_gqa_testdev_balanced.head40.jsonl", answers=[x1, x2])
    assert all(i["answer"] == answers[i["question_id"]]["answer"] for i in items)
