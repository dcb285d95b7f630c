"""docvqa (DocVQA single-page questions): golden records from the sample, both splits, the converted layout, bad input.

``docvqa/train_v1.0.json``: question 337 is quoted in public code (PROVENANCE.md); 90000001 and the
validation question are written for the test. Ids and the answer rule (first of ``answers``) are this
library's (unverified against DataOptim's docvqa.json; ``dataoptim sources`` says so).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim.builders.docvqa import image_path, question_to_record
from dataoptim.errors import InputError, RecordError

FILES = {"train_v1.0.json": "docvqa/train_v1.0.json", "val_v1.0.json": "docvqa/val_v1.0.json"}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def test_pure_functions():
    assert image_path("documents/ffbf0023_4.png") == "docvqa/ffbf0023_4.png"  # DataOptim's image tree example
    entry = fixture_json(FILES["train_v1.0.json"])["data"][1]
    record = question_to_record(entry, record_id="docvqa_90000001")
    assert record["conversations"][1]["value"] == "RESEARCH PROPOSAL"  # the first of the annotators' answers
    assert (record["question_id"], record["image_id"], record["task"]) == ("90000001", "90001", "vqa")


def test_docvqa_builder(tmp_path):
    check_case(BuilderCase(
        config="docvqa", files=FILES, split_sizes={"train": 2, "validation": 1},
        golden={
            "docvqa_337": {"image": "docvqa/xnbl0037_1.png", "source": "docvqa", "conversations": [
                {"from": "human", "value": "<image>\nwhat is the date mentioned in this letter?" + SUFFIX},
                {"from": "gpt", "value": "1/8/93"}]},
            "docvqa_validation_90000002": {"image": "docvqa/fzzz0000_1.png", "conversations": [
                {"from": "human", "value": "<image>\nWho signed the letter?" + SUFFIX}, {"from": "gpt", "value": "John Smith"}]},
        },
    ), tmp_path)


def test_converted_layout_passes_through(tmp_path):
    record = {"id": "docvqa_x1", "image": "docvqa/a.png", "conversations": [
        {"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "a"}]}
    ds = build_from("docvqa", {"docvqa.json": [record], **{k: fixture_json(v) for k, v in FILES.items()}}, tmp_path)
    assert ds["train"][0]["id"] == "docvqa_x1" and ds["train"].num_rows == 1


def test_bad_input_is_located(tmp_path):
    data = fixture_json(FILES["train_v1.0.json"])
    data["data"][1]["answers"] = []
    with pytest.raises(InputError) as info:
        build_from("docvqa", {"train_v1.0.json": data}, tmp_path / "a")
    assert info.value.file.endswith("train_v1.0.json") and (info.value.record, info.value.field) == (1, "data[1]")
    data = fixture_json(FILES["train_v1.0.json"])
    data["data"][1]["questionId"] = 337
    with pytest.raises(InputError, match="appears twice") as info:
        build_from("docvqa", {"train_v1.0.json": data}, tmp_path / "b")
    assert info.value.field == "data[1].questionId"
    data = fixture_json(FILES["train_v1.0.json"])
    del data["data"][0]["question"]
    with pytest.raises(InputError) as info:
        build_from("docvqa", {"train_v1.0.json": data}, tmp_path / "c")
    assert (info.value.record, info.value.field) == (0, "data[0].question")
    data = fixture_json(FILES["train_v1.0.json"])
    data["data"][0]["question"] = "Where is <image> here?"
    with pytest.raises(RecordError) as info:
        build_from("docvqa", {"train_v1.0.json": data}, tmp_path / "d")
    assert info.value.id == "docvqa_337"
