"""VQAv2 builder: DataOptim's ``vqav2_524286005``, the real val questions, the join, bad input.

Provenance (tests/fixtures/PROVENANCE.md): the val questions file is real (the first 20
questions of the official file, from ``shared/real/vqav2``); no annotations file was found,
so its annotations are reconstructed — only question 262148000's is real (quoted in public
code), the other 19 answers are written for the test. The train pair is reconstructed: question
524286005 from DataOptim's ``vqav2_524286005``, three more on a fake image 999990.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
TRAIN = {"v2_OpenEnded_mscoco_train2014_questions.json": "vqav2/v2_OpenEnded_mscoco_train2014_questions.json",
         "v2_mscoco_train2014_annotations.json": "vqav2/v2_mscoco_train2014_annotations.json"}
VAL = {"v2_OpenEnded_mscoco_val2014_questions.json": "vqav2/v2_OpenEnded_mscoco_val2014_questions.json",
       "v2_mscoco_val2014_annotations.json": "vqav2/v2_mscoco_val2014_annotations.json"}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def vqa(rid, image, question, answer, **native):
    turns = [{"from": "human", "value": f"<image>\n{question}{SUFFIX}"}, {"from": "gpt", "value": answer}]
    return {"id": rid, "image": image, "conversations": turns, "source": "vqav2", "task": "vqa", **native}


def test_vqav2_reproduces_dataoptim_and_joins_on_question_id(tmp_path):
    case = BuilderCase(
        config="vqav2",
        files={**TRAIN, **VAL},
        split_sizes={"train": 4, "validation": 20},
        golden={
            "vqav2_524286005": {**EXAMPLES["vqav2_524286005"], "task": "vqa", "question_id": "524286005", "image_id": "524286", "width": None},
            # multiple_choice_answer is taken as given, even where it is not the most frequent answer
            "vqav2_999990002": vqa("vqav2_999990002", "coco/COCO_train2014_000000999990.jpg", "What color is the chair?", "black"),
            "vqav2_validation_262148000": vqa("vqav2_validation_262148000", "coco/COCO_val2014_000000262148.jpg", "Where is he looking?", "down",
                                              question_id="262148000", image_id="262148"),
            "vqav2_validation_42000": vqa("vqav2_validation_42000", "coco/COCO_val2014_000000000042.jpg", "What color are the gym shoes?", "black and white"),
        },
    )
    ds = check_case(case, tmp_path)
    assert ds["train"]["id"] == ["vqav2_999990000", "vqav2_524286005", "vqav2_999990001", "vqav2_999990002"]  # questions' file order


def test_vqav2_questions_without_annotations_name_the_missing_file(tmp_path):
    questions = fixture_json(TRAIN["v2_OpenEnded_mscoco_train2014_questions.json"])
    with pytest.raises(MissingFileError) as info:
        build_from("vqav2", {"v2_OpenEnded_mscoco_train2014_questions.json": questions}, tmp_path / "a")
    assert "train split needs v2_mscoco_train2014_annotations.json" in str(info.value)
    with pytest.raises(MissingFileError) as info:  # nothing at all: every file is named, with where to get it
        build_from("vqav2", {"v2_OpenEnded_mscoco_test2015_questions.json": questions}, tmp_path / "b")
    assert "v2_OpenEnded_mscoco_train2014_questions.json" in str(info.value) and "visualqa.org/download" in str(info.value)


def test_vqav2_wrong_layout(tmp_path):
    questions = fixture_json(TRAIN["v2_OpenEnded_mscoco_train2014_questions.json"])
    files = {"v2_OpenEnded_mscoco_train2014_questions.json": questions, "v2_mscoco_train2014_annotations.json": questions}  # swapped file
    with pytest.raises(InputError) as info:
        build_from("vqav2", files, tmp_path)
    assert info.value.file.endswith("v2_mscoco_train2014_annotations.json") and info.value.field == "annotations" and "'questions'" in str(info.value)


@pytest.mark.parametrize("name, key, index, field", [
    ("v2_mscoco_train2014_annotations.json", "annotations", 2, "multiple_choice_answer"),
    ("v2_OpenEnded_mscoco_train2014_questions.json", "questions", 1, "question"),
])
def test_vqav2_record_missing_field(tmp_path, name, key, index, field):
    files = {n: fixture_json(p) for n, p in TRAIN.items()}
    del files[name][key][index][field]
    with pytest.raises(InputError) as info:
        build_from("vqav2", files, tmp_path)
    assert info.value.file.endswith(name) and (info.value.record, info.value.field) == (index, f"{key}[{index}].{field}")


def test_vqav2_files_that_do_not_match(tmp_path):
    files = {n: fixture_json(p) for n, p in TRAIN.items()}
    del files["v2_mscoco_train2014_annotations.json"]["annotations"][1]  # 524286005's annotation
    with pytest.raises(InputError, match="question_id 524286005 has no annotation in v2_mscoco_train2014_annotations.json") as info:
        build_from("vqav2", files, tmp_path / "a")
    assert info.value.record == 1
    files = {n: fixture_json(p) for n, p in TRAIN.items()}
    del files["v2_OpenEnded_mscoco_train2014_questions.json"]["questions"][0]
    with pytest.raises(InputError, match=r"1 annotation\(s\) have no question .*question_id 999990000"):
        build_from("vqav2", files, tmp_path / "b")
