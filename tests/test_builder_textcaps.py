"""TextCaps builder: DataOptim's ``textcaps_0``, running index, the converted layout, bad input.

``TextCaps_0.1_{train,val}.json`` are reconstructed (tests/fixtures/PROVENANCE.md): no copy of
the real files was found. The first train image (``011e7e629fb9ae7b``) and its five captions,
the first being DataOptim's ``textcaps_0``, follow public test fixtures of TextCaps loaders;
``caption_id`` values and the val file are written for the test.
"""

import pytest

from builder_harness import BuilderCase, build_from, caption_choices, check_case, example_records, fixture_json
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
FILES = {"TextCaps_0.1_train.json": "textcaps/TextCaps_0.1_train.json", "TextCaps_0.1_val.json": "textcaps/TextCaps_0.1_val.json"}


def caption(rid, image, text, **native):
    turns = [{"from": "human", "value": "<image>\n(one of the five)"}, {"from": "gpt", "value": text}]
    return {"id": rid, "image": image, "conversations": turns, "source": "textcaps", "task": "caption", **native}


def test_textcaps_reproduces_dataoptim_textcaps_0(tmp_path):
    case = BuilderCase(
        config="textcaps",
        files=FILES,
        split_sizes={"train": 10, "validation": 2},
        golden={
            "textcaps_0": {**EXAMPLES["textcaps_0"], "task": "caption", "question_id": "0", "image_id": "011e7e629fb9ae7b", "width": 1024, "height": 702},
            "textcaps_9": caption("textcaps_9", "open_images/09efcb22ca121f57.jpg", "A clock says Angel Square London on its face.",
                                  question_id="9", image_id="09efcb22ca121f57", width=1024, height=1024),
            "textcaps_validation_1": caption("textcaps_validation_1", "open_images/00000000000000f1.jpg", "The cover of a book named Test Pattern.", width=683, height=1024),
        },
        prompt_choices=caption_choices,
    )
    check_case(case, tmp_path)


def test_textcaps_converted_layout_gives_the_same_records(tmp_path):
    # textcaps.json holds DataOptim's real textcaps_0 and a textcaps_1 written for the test.
    converted = check_case(BuilderCase(config="textcaps", files={"textcaps.json": "textcaps/textcaps.json"}, split_sizes={"train": 2},
                                       golden={"textcaps_0": {**EXAMPLES["textcaps_0"], "question_id": None}}, config_kwargs={"layout": "converted"}),
                           tmp_path / "converted")
    # with both layouts in one folder, layout="original" reads the original files
    original = check_case(BuilderCase(config="textcaps", files={**FILES, "textcaps.json": "textcaps/textcaps.json"}, split_sizes={"train": 10, "validation": 2},
                                      config_kwargs={"layout": "original"}), tmp_path / "original")
    for row in converted["train"]:
        twin = original["train"][int(row["id"].split("_")[1])]
        assert (twin["id"], twin["image"], twin["conversations"][1]) == (row["id"], row["image"], row["conversations"][1])
        assert twin["conversations"][0]["value"] in caption_choices("")


def test_textcaps_missing_file_names_what_to_download(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("textcaps", {"TextCaps_0.1_test.json": {"data": []}}, tmp_path)
    assert "TextCaps_0.1_train.json" in str(info.value) and "dl.fbaipublicfiles.com/textvqa/data/textcaps" in str(info.value)


def test_textcaps_wrong_layout(tmp_path):
    data = fixture_json(FILES["TextCaps_0.1_train.json"])
    with pytest.raises(InputError) as info:
        build_from("textcaps", {"TextCaps_0.1_train.json": {"annotations": data["data"]}}, tmp_path)  # no "data" key
    assert info.value.file.endswith("TextCaps_0.1_train.json") and info.value.field == "data" and "'annotations'" in str(info.value)


def test_textcaps_record_missing_field(tmp_path):
    data = fixture_json(FILES["TextCaps_0.1_train.json"])
    del data["data"][3]["caption_str"]
    with pytest.raises(InputError) as info:
        build_from("textcaps", {"TextCaps_0.1_train.json": data}, tmp_path)
    assert info.value.file.endswith("TextCaps_0.1_train.json") and (info.value.record, info.value.field) == (3, "data[3].caption_str")
