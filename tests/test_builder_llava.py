"""llava (LLaVA-Instruct-150K): DataOptim's ``llava_157711``, the part configs, the converted layout, bad input.

``llava/llava_instruct_150k.json`` is reconstructed (tests/fixtures/PROVENANCE.md): no copy of the
real file was found. Entry 0 is the entry quoted in many READMEs (``000000033471``, first exchange
only); entry 2 is rebuilt from DataOptim's ``llava_157711`` (image ``000000163917.jpg``, its
conversation); entry 1 and ``llava/detail_23k.json`` are written for the test (fake image ids).

``llava_157711`` is the last of the 157,712 entries of the real file. The id is the entry's
position, which a 3-entry fixture cannot reach, so the pure function is called with the running
index 157711 directly, and the builder is run on the small file, where the same entry is
``llava_2``. Conversations are kept unchanged, so every text is compared exactly.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.builders.llava import entry_to_record
from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError

EXAMPLE = example_records()["llava_157711"]
FILES = {"llava_instruct_150k.json": "llava/llava_instruct_150k.json"}


def test_entry_157711_is_dataoptims_record():
    entry = fixture_json("llava/llava_instruct_150k.json")[2]
    got = entry_to_record(157711, entry)
    assert {k: got[k] for k in ("id", "image", "conversations")} == EXAMPLE
    assert (got["source"], got["task"], got["image_id"]) == ("llava", "instruct", "000000163917")


def test_llava_builder(tmp_path):
    case = BuilderCase(
        config="llava",
        files={**FILES, "detail_23k.json": "llava/detail_23k.json"},
        split_sizes={"train": 3},
        golden={
            "llava_2": {**EXAMPLE, "id": "llava_2", "task": "instruct"},
            "llava_0": {"image": "coco/COCO_train2014_000000033471.jpg", "conversations": [
                {"from": "human", "value": "<image>\nWhat are the colors of the bus in the image?"},
                {"from": "gpt", "value": "The bus in the image is white and red."}]},
        },
    )
    check_case(case, tmp_path)


def test_a_part_is_its_own_config_with_its_own_ids(tmp_path):
    ds = check_case(BuilderCase(config="llava_detail_23k", files={**FILES, "detail_23k.json": "llava/detail_23k.json"}, split_sizes={"train": 1}), tmp_path)
    assert ds["train"]["id"] == ["llava_detail_23k_0"] and ds["train"][0]["image"] == "coco/COCO_train2014_9000000003.jpg"


def test_converted_layout(tmp_path):
    check_case(BuilderCase(config="llava", files={"llava.json": "llava/llava.json", **FILES}, split_sizes={"train": 1}, golden={"llava_157711": EXAMPLE}), tmp_path)
    with pytest.raises(ConfigError, match="cannot tell apart"):
        build_from("llava_conversation_58k", {"llava.json": [EXAMPLE]}, tmp_path / "part", layout="converted")


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("llava_complex_reasoning_77k", {"llava_instruct_150k.json": []}, tmp_path)
    assert "complex_reasoning_77k.json" in str(info.value) and "liuhaotian/LLaVA-Instruct-150K" in str(info.value)


def test_wrong_layout(tmp_path):
    with pytest.raises(InputError, match="must hold a list") as info:
        build_from("llava", {"llava_instruct_150k.json": {"data": fixture_json(FILES["llava_instruct_150k.json"])}}, tmp_path)
    assert info.value.file.endswith("llava_instruct_150k.json")


def test_missing_field_and_broken_turns(tmp_path):
    entries = fixture_json(FILES["llava_instruct_150k.json"])
    del entries[1]["conversations"]
    with pytest.raises(InputError) as info:
        build_from("llava", {"llava_instruct_150k.json": entries}, tmp_path / "a")
    assert info.value.file.endswith("llava_instruct_150k.json") and (info.value.record, info.value.field) == (1, "[1].conversations")
    entries = fixture_json(FILES["llava_instruct_150k.json"])
    entries[2]["conversations"][1]["from"] = "human"
    with pytest.raises(RecordError) as info:
        build_from("llava", {"llava_instruct_150k.json": entries}, tmp_path / "b")
    assert (info.value.record, info.value.id, info.value.field) == (2, "llava_2", "conversations[1].from")
