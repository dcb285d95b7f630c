"""vgqa (Visual Genome QA): golden records from the sample, the converted layout, bad input.

``vgqa/question_answers.json``: image 1's first QA (qa_id 986768, "What color is the clock?", "Green.")
is quoted in public material (PROVENANCE.md); the other QAs are written for the test. Ids
(``vgqa_{qa_id}``) are this library's (unverified against DataOptim's vgqa.json).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim.builders.vgqa import image_path, qa_to_record
from dataoptim.errors import InputError

FILES = {"question_answers.json": "vgqa/question_answers.json"}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def test_pure_functions():
    assert image_path(2327022) == "visual_genome/2327022.jpg"  # the folder of DataOptim's gqa_05145757
    for bad in (-1, "1/2", True):
        with pytest.raises((ValueError, TypeError)):
            image_path(bad)
    record = qa_to_record(fixture_json(FILES["question_answers.json"])[0]["qas"][0], record_id="vgqa_986768")
    assert record["conversations"] == [
        {"from": "human", "value": "<image>\nWhat color is the clock?" + SUFFIX}, {"from": "gpt", "value": "Green."}]
    assert (record["image"], record["question_id"], record["image_id"]) == ("visual_genome/1.jpg", "986768", "1")


def test_vgqa_builder(tmp_path):
    ds = check_case(BuilderCase(
        config="vgqa", files=FILES, split_sizes={"train": 3},
        golden={"vgqa_986768": {"image": "visual_genome/1.jpg", "task": "vqa", "conversations": [
            {"from": "human", "value": "<image>\nWhat color is the clock?" + SUFFIX}, {"from": "gpt", "value": "Green."}]},
            "vgqa_986770": {"image": "visual_genome/2.jpg"}},
    ), tmp_path)
    assert ds["train"]["id"] == ["vgqa_986768", "vgqa_986769", "vgqa_986770"]  # file order; image 3 has no QA


def test_converted_layout_passes_through(tmp_path):
    record = {"id": "vgqa_0", "image": "visual_genome/1.jpg", "conversations": [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "a"}]}
    assert build_from("vgqa", {"vgqa.json": [record]}, tmp_path)["train"]["id"] == ["vgqa_0"]


def test_bad_input_is_located(tmp_path):
    entries = fixture_json(FILES["question_answers.json"])
    entries[1]["qas"][0]["image_id"] = "2.jpg"
    with pytest.raises(InputError) as info:
        build_from("vgqa", {"question_answers.json": entries}, tmp_path / "a")
    assert info.value.file.endswith("question_answers.json") and (info.value.record, info.value.field) == (1, "[1].qas[0]")
    entries = fixture_json(FILES["question_answers.json"])
    entries[1]["qas"][0]["qa_id"] = 986768
    with pytest.raises(InputError, match="qa_id 986768 appears twice") as info:
        build_from("vgqa", {"question_answers.json": entries}, tmp_path / "b")
    assert info.value.field == "[1].qas[0].qa_id"
    entries = fixture_json(FILES["question_answers.json"])
    del entries[0]["qas"]
    with pytest.raises(InputError) as info:
        build_from("vgqa", {"question_answers.json": entries}, tmp_path / "c")
    assert (info.value.record, info.value.field) == (0, "[0].qas")


def test_table_path_gives_the_reference_records(tmp_path):
    from dataoptim import builder
    from dataoptim.builders.vgqa import VGQA

    before = len(builder.FALLBACKS)
    fast = build_from("vgqa", {"question_answers.json": fixture_json(FILES["question_answers.json"])}, tmp_path)["train"].to_list()
    assert len(builder.FALLBACKS) == before  # built by the table path
    b = VGQA(config_name="vgqa", data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "x"))
    assert fast == list(b.original_records("train", {"question_answers": tmp_path / "data" / "question_answers.json"}))
