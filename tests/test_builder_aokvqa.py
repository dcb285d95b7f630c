"""A-OKVQA builder: DataOptim's ``aokvqa_dQbC9HGBPG3RCvpPWE4cWG``, a real val question, the COCO 2014 image lookup.

Fixtures (tests/fixtures/PROVENANCE.md): ``aokvqa_v1p0_train.json`` holds question
``dQbC9HGBPG3RCvpPWE4cWG`` reconstructed from DataOptim's record (question, choices,
correct index from the answer letter, image id from the file name; its direct answers
and rationales are not known and left out) and one synthetic question on COCO image 9.
``aokvqa_v1p0_val.json`` holds ``22jbM6gDxdaMaunuzgrsBB``, a real val record quoted in full
in public code.

The image: A-OKVQA gives the COCO 2017 id 133042; DataOptim's record names
``COCO_val2014_000000133042.jpg``, a fact the id alone does not give (2017 train takes
images from 2014 val). ``coco2014_image_split.json`` states it explicitly:
``{"val2014": [133042, 461751]}`` — 133042 from DataOptim's own record, 461751 from the
quoted val record's ``val2014/COCO_val2014_000000461751.jpg``. A real file would list all
40,504 val2014 ids; by the rule of one complete list, every other image (here 9) is in
train2014.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.builders import aokvqa
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
FILES = {name: f"aokvqa/{name}" for name in ("aokvqa_v1p0_train.json", "aokvqa_v1p0_val.json", "coco2014_image_split.json")}
VAL_RECORD = {
    "image": "coco/COCO_val2014_000000461751.jpg", "question_id": "22jbM6gDxdaMaunuzgrsBB", "image_id": "461751", "task": "mcvqa",
    "conversations": [
        {"from": "human", "value": "<image>\nChoose the correct option for the following question: What is in the motorcyclist's mouth?\n"
                                   "A. toothpick\nB. food\nC. popsicle stick\nD. cigarette\n"},
        {"from": "gpt", "value": "The correct option is D."},
    ],
}


def test_aokvqa_reproduces_dataoptim_with_explicit_coco2014_split(tmp_path):
    case = BuilderCase(
        config="aokvqa",
        files=FILES,
        split_sizes={"train": 2, "validation": 1},
        golden={
            "aokvqa_dQbC9HGBPG3RCvpPWE4cWG": {**EXAMPLES["aokvqa_dQbC9HGBPG3RCvpPWE4cWG"], "source": "aokvqa", "task": "mcvqa",
                                              "question_id": "dQbC9HGBPG3RCvpPWE4cWG", "image_id": "133042", "width": None, "height": None},
            "aokvqa_SyntheticTrainQuestion0": {"image": "coco/COCO_train2014_000000000009.jpg"},
            "aokvqa_validation_22jbM6gDxdaMaunuzgrsBB": VAL_RECORD,
        },
    )
    check_case(case, tmp_path)


def test_validation_needs_no_lookup(tmp_path):
    # COCO 2017 val lies inside 2014 val: without any list the val split still builds
    case = BuilderCase(config="aokvqa", files={"aokvqa_v1p0_val.json": FILES["aokvqa_v1p0_val.json"]},
                       split_sizes={"validation": 1}, golden={"aokvqa_validation_22jbM6gDxdaMaunuzgrsBB": VAL_RECORD})
    check_case(case, tmp_path)


def test_lookup_from_a_real_coco_captions_file(tmp_path):
    # the real COCO val2014 captions sample (21 images) as the val2014 list: its image 331352 -> val2014,
    # image 9 (not listed) -> train2014. The sample is partial, so only the mechanism is tested here.
    train = fixture_json(FILES["aokvqa_v1p0_train.json"])
    on_val_image = dict(train[1], question_id="SyntheticTrainQuestion1", image_id=331352)
    ds = build_from("aokvqa", {"aokvqa_v1p0_train.json": [train[1], on_val_image], "captions_val2014.json": fixture_json("coco/captions_val2014.json")}, tmp_path)
    assert ds["train"]["image"] == ["coco/COCO_train2014_000000000009.jpg", "coco/COCO_val2014_000000331352.jpg"]


def test_coco2014_split_rule():
    assert aokvqa.coco2014_split(133042, "train", val2014={133042}) == "val2014"
    assert aokvqa.coco2014_split(9, "train", val2014={133042}) == "train2014"
    assert aokvqa.coco2014_split(133042, "train", train2014={9}) == "val2014"
    assert aokvqa.coco2014_split(461751, "validation") == "val2014"
    with pytest.raises(ValueError, match="unknown without a COCO 2014 image list"):
        aokvqa.coco2014_split(9, "train")
    with pytest.raises(ValueError, match="in neither"):
        aokvqa.coco2014_split(5, "train", val2014={133042}, train2014={9})


def test_train_without_lookup_says_which_file_to_add(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("aokvqa", {"aokvqa_v1p0_train.json": fixture_json(FILES["aokvqa_v1p0_train.json"])}, tmp_path)
    assert "captions_val2014.json" in str(info.value) and "coco2014_image_split.json" in str(info.value)


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("aokvqa", {"coco2014_image_split.json": {"val2014": [1]}}, tmp_path)
    assert "aokvqa_v1p0_train.json" in str(info.value) and "aokvqa_v1p0.tar.gz" in str(info.value)


def test_wrong_layout_is_an_error(tmp_path):
    questions = fixture_json(FILES["aokvqa_v1p0_val.json"])
    with pytest.raises(InputError, match="must hold a list at the top level, found an object") as info:
        build_from("aokvqa", {"aokvqa_v1p0_val.json": {"questions": questions}}, tmp_path)
    assert info.value.file.endswith("aokvqa_v1p0_val.json")


def test_question_missing_a_field_is_named(tmp_path):
    data = fixture_json(FILES["aokvqa_v1p0_val.json"])
    del data[0]["choices"]
    with pytest.raises(InputError) as info:
        build_from("aokvqa", {"aokvqa_v1p0_val.json": data}, tmp_path)
    assert info.value.file.endswith("aokvqa_v1p0_val.json") and (info.value.record, info.value.field) == (0, "[0].choices")


def test_bad_choices_and_bad_lookup_file(tmp_path):
    data = fixture_json(FILES["aokvqa_v1p0_val.json"])
    data[0]["correct_choice_idx"] = 4
    with pytest.raises(InputError, match="'correct_choice_idx' must be 0..3, found 4"):
        build_from("aokvqa", {"aokvqa_v1p0_val.json": data}, tmp_path / "a")
    with pytest.raises(InputError) as info:
        build_from("aokvqa", {**{n: fixture_json(p) for n, p in FILES.items() if "val" in n}, "coco2014_image_split.json": {"val2014": "133042"}}, tmp_path / "b")
    assert info.value.file.endswith("coco2014_image_split.json") and info.value.field == "val2014"


def test_converted_aokvqa_json_passes_through(tmp_path):
    example = EXAMPLES["aokvqa_dQbC9HGBPG3RCvpPWE4cWG"]
    ds = build_from("aokvqa", {"aokvqa.json": [example]}, tmp_path)
    assert {k: ds["train"][0][k] for k in example} == example and ds["train"][0]["task"] == "mcvqa"
