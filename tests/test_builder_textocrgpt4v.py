"""textocrgpt4v (TextOCR-GPT4V captions): golden records, JSON and JSON Lines rows, the converted layout, bad input.

``textocrgpt4v/textocr_gpt4v.jsonl`` is written for the test (PROVENANCE.md). The prompt is DataOptim's
captioning rule (one of five instructions); the row layout, ids and image folder are this library's
(unverified against DataOptim's textocrgpt4v.json).
"""

import json

import pytest

from builder_harness import BuilderCase, build_from, caption_choices, check_case, FIXTURES
from dataoptim.builders.textocrgpt4v import image_path, row_to_record
from dataoptim.errors import InputError

FILES = {"textocr_gpt4v.jsonl": "textocrgpt4v/textocr_gpt4v.jsonl"}
ROWS = [json.loads(line) for line in (FIXTURES / FILES["textocr_gpt4v.jsonl"]).read_text().splitlines()]


def test_pure_functions():
    assert image_path({"filename": "train_images/a4ea732cd3d5948a.jpg"}) == "open_images/a4ea732cd3d5948a.jpg"
    assert image_path({"image_id": "a4ea732cd3d5948a"}) == "open_images/a4ea732cd3d5948a.jpg"
    record = row_to_record(0, ROWS[0])
    assert record["conversations"][0]["value"] in caption_choices("") and record["conversations"][1]["value"] == ROWS[0]["caption"]
    assert (record["id"], record["task"], record["image_id"]) == ("textocrgpt4v_0", "caption", "a4ea732cd3d5948a")


def test_textocrgpt4v_builder(tmp_path):
    check_case(BuilderCase(
        config="textocrgpt4v", files=FILES, split_sizes={"train": 3}, prompt_choices=caption_choices,
        golden={"textocrgpt4v_1": {"image": "open_images/011e7e629fb9ae7b.jpg", "conversations": [
            {"from": "human", "value": "<image>\nBriefly describe the content of the image."}, {"from": "gpt", "value": ROWS[1]["caption"]}]}},
    ), tmp_path)


def test_a_json_list_gives_the_same_records(tmp_path):
    a = build_from("textocrgpt4v", {"textocr_gpt4v.json": ROWS}, tmp_path / "a")["train"].to_list()
    b = build_from("textocrgpt4v", {"textocr_gpt4v.jsonl": "\n".join(json.dumps(r) for r in ROWS) + "\n\n"}, tmp_path / "b")["train"].to_list()
    assert a == b and len(a) == 3


def test_bad_input_is_located(tmp_path):
    rows = [dict(r) for r in ROWS]
    del rows[2]["caption"]
    with pytest.raises(InputError) as info:
        build_from("textocrgpt4v", {"textocr_gpt4v.json": rows}, tmp_path / "a")
    assert info.value.file.endswith("textocr_gpt4v.json") and (info.value.record, info.value.field) == (2, "[2].caption")
    with pytest.raises(InputError, match="line 2 is not valid JSON"):
        build_from("textocrgpt4v", {"textocr_gpt4v.jsonl": json.dumps(ROWS[0]) + "\n{oops\n"}, tmp_path / "b")
