"""sharegpt4v (ShareGPT-4V cap100k): golden records, DataOptim's folder for COCO 2017, the converted layout, bad input.

``sharegpt4v/sharegpt4v_instruct_gpt4-vision_cap100k.json`` is written for the test in ShareGPT-4V's layout
(PROVENANCE.md). ``coco/train2017/`` -> ``coco_2017/`` follows DataOptim's image tree (README, eba695d);
ids are this library's (unverified against DataOptim's sharegpt4v.json).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim.builders.sharegpt4v import dataoptim_image, entry_to_record
from dataoptim.errors import InputError, RecordError

NAME = "sharegpt4v_instruct_gpt4-vision_cap100k.json"
FILES = {NAME: f"sharegpt4v/{NAME}"}


def test_pure_functions():
    assert dataoptim_image("coco/train2017/000000000009.jpg") == "coco_2017/000000000009.jpg"
    assert dataoptim_image("wikiart/images/a.jpg") == "wikiart/images/a.jpg"
    with pytest.raises(RecordError):
        dataoptim_image("../coco/x.jpg")
    entry = fixture_json(FILES[NAME])[1]
    record = entry_to_record(1, entry)
    assert record["conversations"] == entry["conversations"]  # unchanged, <image> where ShareGPT-4V put it
    assert (record["id"], record["image"], record["image_id"]) == ("sharegpt4v_1", "sam/images/sa_545504.jpg", "sa_545504")


def test_sharegpt4v_builder(tmp_path):
    entries = fixture_json(FILES[NAME])
    check_case(BuilderCase(
        config="sharegpt4v", files=FILES, split_sizes={"train": 3},
        golden={
            "sharegpt4v_0": {"image": "coco_2017/000000000009.jpg", "task": "instruct", "conversations": entries[0]["conversations"]},
            "sharegpt4v_2": {"image": "llava/llava_pretrain/images/00258/002582585.jpg"},
        },
    ), tmp_path)


def test_converted_layout_passes_through(tmp_path):
    entries = fixture_json(FILES[NAME])
    converted = [{"id": f"sharegpt4v_{i}", "image": dataoptim_image(e["image"]), "conversations": e["conversations"]} for i, e in enumerate(entries)]
    assert build_from("sharegpt4v", {"sharegpt4v.json": converted}, tmp_path)["train"].num_rows == 3


def test_bad_input_is_located(tmp_path):
    entries = fixture_json(FILES[NAME])
    del entries[2]["image"]  # not a text-only source: every record needs its image
    with pytest.raises(InputError) as info:
        build_from("sharegpt4v", {NAME: entries}, tmp_path / "a")
    assert info.value.file.endswith(NAME) and (info.value.record, info.value.field) == (2, "[2].image")
    entries = fixture_json(FILES[NAME])
    entries[0]["conversations"][1]["from"] = "human"
    with pytest.raises(RecordError) as info:
        build_from("sharegpt4v", {NAME: entries}, tmp_path / "b")
    assert (info.value.record, info.value.id, info.value.field) == (0, "sharegpt4v_0", "conversations[1].from")


def test_table_path_gives_the_reference_records(tmp_path):
    from dataoptim import builder
    from dataoptim.builder import builder_class_for

    config = "sharegpt4v"
    before = len(builder.FALLBACKS)
    fast = build_from(config, {NAME: fixture_json(FILES[NAME])}, tmp_path)["train"].to_list()
    assert len(builder.FALLBACKS) == before  # built by the table path
    b = builder_class_for(config)(config_name=config, data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "x"))
    assert fast == list(b.original_records("train", {"conversations": tmp_path / "data" / NAME}))
