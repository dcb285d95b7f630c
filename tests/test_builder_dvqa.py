"""dvqa (DVQA bar-chart questions): golden records, the three splits, the converted layout, bad input.

``dvqa/*_qa.json`` are written for the test to the fields of kushalkafle/DVQA_dataset's README
(PROVENANCE.md). Ids (``dvqa_{question_id}``) are this library's (unverified against DataOptim's dvqa.json).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim.builders.dvqa import image_path, question_to_record
from dataoptim.errors import InputError, RecordError

FILES = {name: f"dvqa/{name}" for name in ("train_qa.json", "val_easy_qa.json", "val_hard_qa.json")}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def test_pure_functions():
    assert image_path("bar_train_00000000.png") == "dvqa/bar_train_00000000.png"
    with pytest.raises(RecordError):
        image_path("../bar.png")
    record = question_to_record({"image": "bar_train_00000001.png", "question": "Value?", "answer": 7, "question_id": 9}, record_id="dvqa_9")
    assert record["conversations"][1]["value"] == "7" and record["question_id"] == "9"


def test_dvqa_builder(tmp_path):
    check_case(BuilderCase(
        config="dvqa", files=FILES, split_sizes={"train": 3, "validation_easy": 1, "validation_hard": 1},
        golden={
            "dvqa_1": {"image": "dvqa/bar_train_00000000.png", "question_id": "1", "task": "vqa", "conversations": [
                {"from": "human", "value": "<image>\nHow many bars are there?" + SUFFIX}, {"from": "gpt", "value": "three"}]},
            "dvqa_validation_hard_4": {"image": "dvqa/bar_val_hard_00000000.png", "conversations": [
                {"from": "human", "value": "<image>\nWhat is the label of the first bar from the left?" + SUFFIX}, {"from": "gpt", "value": "plate"}]},
            "dvqa_validation_easy_3": {"image": "dvqa/bar_val_easy_00000000.png"},
        },
    ), tmp_path)


def test_converted_layout_passes_through(tmp_path):
    record = {"id": "dvqa_5", "image": "dvqa/bar_train_00000005.png", "conversations": [
        {"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "a"}]}
    assert build_from("dvqa", {"dvqa.json": [record]}, tmp_path)["train"]["id"] == ["dvqa_5"]


def test_bad_input_is_located(tmp_path):
    rows = fixture_json(FILES["train_qa.json"])
    rows[2]["answer"] = ""
    with pytest.raises(InputError) as info:
        build_from("dvqa", {"train_qa.json": rows}, tmp_path / "a")
    assert info.value.file.endswith("train_qa.json") and (info.value.record, info.value.field) == (2, "[2]")
    rows = fixture_json(FILES["train_qa.json"])
    rows[2]["question_id"] = 0
    with pytest.raises(InputError, match="appears twice") as info:
        build_from("dvqa", {"train_qa.json": rows}, tmp_path / "b")
    assert (info.value.record, info.value.field) == (2, "[2].question_id")
    with pytest.raises(InputError, match="must hold a list"):
        build_from("dvqa", {"train_qa.json": {"questions": rows}}, tmp_path / "c")


def test_table_path_gives_the_reference_records(tmp_path):
    """The msgspec table path and the row-by-row reference build the same records; a number answer takes the reference."""
    from dataoptim import builder
    from dataoptim.builders.dvqa import DVQA

    rows = fixture_json(FILES["train_qa.json"])
    before = len(builder.FALLBACKS)
    fast = build_from("dvqa", {"train_qa.json": rows}, tmp_path / "a")["train"].to_list()
    assert len(builder.FALLBACKS) == before  # built by the table path
    b = DVQA(config_name="dvqa", data_dir=str(tmp_path / "a" / "data"), cache_dir=str(tmp_path / "x"))
    reference = list(b.original_records("train", {"questions": tmp_path / "a" / "data" / "train_qa.json"}))
    assert fast == reference
    rows[2]["answer"] = 2  # DVQA-style number: msgspec refuses it, the reference writes "2"
    slow = build_from("dvqa", {"train_qa.json": rows}, tmp_path / "b")["train"].to_list()
    assert slow == reference and len(builder.FALLBACKS) == before + 1
