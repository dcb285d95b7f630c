"""OK-VQA builder: DataOptim's ``okvqa_5227415``, the most-frequent-answer rule and its ties, bad input.

All four files are reconstructed (tests/fixtures/PROVENANCE.md): no copy of OK-VQA's files was
found. Question 5227415 (image 522741, answer ``breakfast``) comes from DataOptim's
``okvqa_5227415``; its ten answers, and the questions on fake images 999991/999992, are
written for the test in VQA v1's layout.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.builders.okvqa import most_frequent_answer
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
TRAIN = {"OpenEnded_mscoco_train2014_questions.json": "okvqa/OpenEnded_mscoco_train2014_questions.json",
         "mscoco_train2014_annotations.json": "okvqa/mscoco_train2014_annotations.json"}
VAL = {"OpenEnded_mscoco_val2014_questions.json": "okvqa/OpenEnded_mscoco_val2014_questions.json",
       "mscoco_val2014_annotations.json": "okvqa/mscoco_val2014_annotations.json"}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def vqa(rid, image, question, answer, **native):
    turns = [{"from": "human", "value": f"<image>\n{question}{SUFFIX}"}, {"from": "gpt", "value": answer}]
    return {"id": rid, "image": image, "conversations": turns, "source": "okvqa", "task": "vqa", **native}


def test_okvqa_reproduces_dataoptim_and_picks_the_most_frequent_answer(tmp_path):
    case = BuilderCase(
        config="okvqa",
        files={**TRAIN, **VAL},
        split_sizes={"train": 3, "validation": 2},
        golden={
            "okvqa_5227415": {**EXAMPLES["okvqa_5227415"], "task": "vqa", "question_id": "5227415", "image_id": "522741"},
            # tennis 4, badminton 4, racquetball 2: the tie goes to the answer met first
            "okvqa_9999910": vqa("okvqa_9999910", "coco/COCO_train2014_000000999991.jpg", "What sport can you use this for?", "tennis"),
            # the processed `answer` counts (wood 2, graphite 6, carbon fiber 2), not the first one nor `raw_answer`
            "okvqa_9999911": vqa("okvqa_9999911", "coco/COCO_train2014_000000999991.jpg", "What is this object made of?", "graphite"),
            "okvqa_validation_9999921": vqa("okvqa_validation_9999921", "coco/COCO_val2014_000000999992.jpg", "When was this device invented?", "1973",
                                            question_id="9999921", image_id="999992"),
        },
    )
    check_case(case, tmp_path)


def test_most_frequent_answer_ties_go_to_the_first_met():
    answers = [{"answer": a} for a in ["b", "a", "a", "b", "c"]]
    assert most_frequent_answer({"answers": answers}) == "b"
    assert most_frequent_answer({"answers": answers[1:]}) == "a"


def test_okvqa_missing_annotations_named(tmp_path):
    questions = fixture_json(TRAIN["OpenEnded_mscoco_train2014_questions.json"])
    with pytest.raises(MissingFileError) as info:
        build_from("okvqa", {"OpenEnded_mscoco_train2014_questions.json": questions}, tmp_path)
    assert "train split needs mscoco_train2014_annotations.json" in str(info.value) and "okvqa.allenai.org" in str(info.value)


def test_okvqa_wrong_layout(tmp_path):
    files = {n: fixture_json(p) for n, p in TRAIN.items()}
    files["mscoco_train2014_annotations.json"] = files["mscoco_train2014_annotations.json"]["annotations"]  # a bare list
    with pytest.raises(InputError) as info:
        build_from("okvqa", files, tmp_path)
    assert info.value.file.endswith("mscoco_train2014_annotations.json") and info.value.field == "annotations" and "found a list" in str(info.value)


def test_okvqa_record_missing_field(tmp_path):
    files = {n: fixture_json(p) for n, p in TRAIN.items()}
    del files["mscoco_train2014_annotations.json"]["annotations"][1]["answers"][3]["answer"]
    with pytest.raises(InputError) as info:
        build_from("okvqa", files, tmp_path)
    assert info.value.file.endswith("mscoco_train2014_annotations.json")
    assert (info.value.record, info.value.field) == (1, "annotations[1].answers[3].answer")
