"""llava_v1.5 (LLaVA-v1.5 mix665k): golden records, DataOptim's image folders, text-only records, padded boxes, bad input.

``llava_v1.5/llava_v1_5_mix665k.json`` is written for the test in LLaVA's layout (PROVENANCE.md): entry 0 is
LLaVA-Instruct's often-quoted first entry under its mix665k path (coco/train2017/); entry 5 is a text-only
ShareGPT-style chat. The folder mapping follows DataOptim's image tree (README 1fd3ecf) and the ids are
this library's (unverified against DataOptim's llava_v1.5.json).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim import catalog
from dataoptim.builders.llava_v15 import entry_to_record
from dataoptim.errors import InputError, RecordError

NAME = "llava_v1_5_mix665k.json"
FILES = {NAME: f"llava_v1.5/{NAME}"}


def test_pure_functions_map_llava_folders_to_dataoptims():
    entries = fixture_json(FILES[NAME])
    images = [entry_to_record(i, e)["image"] for i, e in enumerate(entries)]
    assert images == ["coco_2017/000000033471.jpg", "visual_genome/2354786.jpg", "visual_genome/1.jpg",
                      "ocrvqa/1400013011.jpg", "open_images/011e7e629fb9ae7b.jpg", None]
    text_only = entry_to_record(5, entries[5])
    assert text_only["id"] == "llava_v1.5_5" and text_only["conversations"] == entries[5]["conversations"]
    assert catalog.source_of("llava_v1.5_5").name == "llava_v1.5" and catalog.source_of("llava_5").name == "llava"


def test_llava_v15_builder_keeps_text_only_records_and_padded_boxes(tmp_path):
    entries = fixture_json(FILES[NAME])
    ds = check_case(BuilderCase(
        config="llava_v1.5", files=FILES, split_sizes={"train": 6},
        golden={
            "llava_v1.5_2": {"image": "visual_genome/1.jpg", "task": "mixed", "conversations": entries[2]["conversations"]},
            "llava_v1.5_5": {"image": None, "source": "llava_v1.5", "conversations": entries[5]["conversations"]},
        },
    ), tmp_path)
    assert ds["train"]["image"].count(None) == 1
    # the box stays as LLaVA wrote it: in the padded square (DataOptim README, LLaVA issue 606)
    assert ds["train"][2]["conversations"][1]["value"] == "[0.42, 0.27, 0.49, 0.36]" and catalog.box_frame_of("llava_v1.5") == "padded"


def test_converted_layout_passes_text_only_records_through(tmp_path):
    entries = fixture_json(FILES[NAME])
    converted = [{"id": "llava_v1.5_0", "image": "coco_2017/000000033471.jpg", "conversations": entries[0]["conversations"]},
                 {"id": "llava_v1.5_1", "conversations": entries[5]["conversations"]}]
    ds = build_from("llava_v1.5", {"llava_v1.5.json": converted}, tmp_path / "a")
    assert ds["train"]["image"] == ["coco_2017/000000033471.jpg", None]
    with pytest.raises(RecordError, match="does not belong to source 'llava'"):  # llava_v1.5 ids are no llava ids
        build_from("llava", {"llava.json": converted}, tmp_path / "b")


def test_bad_input_is_located(tmp_path):
    entries = fixture_json(FILES[NAME])
    entries[5]["conversations"][0]["value"] = "<image>\nWrite a haiku."
    with pytest.raises(RecordError, match="without 'image'") as info:
        build_from("llava_v1.5", {NAME: entries}, tmp_path / "a")
    assert (info.value.record, info.value.id, info.value.field) == (5, "llava_v1.5_5", "conversations[0].value")
    entries = fixture_json(FILES[NAME])
    entries[3]["image"] = ""
    with pytest.raises(InputError) as info:
        build_from("llava_v1.5", {NAME: entries}, tmp_path / "b")
    assert info.value.file.endswith(NAME) and (info.value.record, info.value.field) == (3, "[3]")


def test_table_path_gives_the_reference_records(tmp_path):
    from dataoptim import builder
    from dataoptim.builder import builder_class_for

    config = "llava_v1.5"
    before = len(builder.FALLBACKS)
    fast = build_from(config, {NAME: fixture_json(FILES[NAME])}, tmp_path)["train"].to_list()
    assert len(builder.FALLBACKS) == before  # built by the table path
    b = builder_class_for(config)(config_name=config, data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "x"))
    assert fast == list(b.original_records("train", {"conversations": tmp_path / "data" / NAME}))
