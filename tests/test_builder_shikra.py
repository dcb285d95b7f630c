"""shikra (Shikra-RD): DataOptim's ``shikra_5921``, boxes placed in the text, image sizes, the converted layout, bad input.

``shikra/GPT4GEN_RD_BoxCoT_train.jsonl`` is reconstructed (tests/fixtures/PROVENANCE.md): no copy of
Shikra's file was found. Line 0 is rebuilt from DataOptim's ``shikra_5921`` (image, question,
chain-of-thought answer; it marks no phrase, so it needs no image size); its ``answer`` field is not
known and was written for the test. Line 1 (a fake Flickr30K id, three boxes, one phrase with two
boxes) is written for the test, with its image size in ``shikra/image_sizes.json``.

``shikra_5921`` is line 5,921 of the real file: the pure function is tested at that id, the builder
on the 2-line file (where the same line is ``shikra_0``). Shikra-RD prompts are kept unchanged, so
every text is compared exactly.
"""

import json

import pytest

from builder_harness import FIXTURES, BuilderCase, build_from, check_case, example_records
from dataoptim.boxes import BoxError
from dataoptim.builders.shikra import dialogue_to_record, place_boxes
from dataoptim.errors import InputError, MissingFileError

EXAMPLE = example_records()["shikra_5921"]
LINES = [json.loads(line) for line in (FIXTURES / "shikra" / "GPT4GEN_RD_BoxCoT_train.jsonl").read_text().splitlines()]
FILES = {"GPT4GEN_RD_BoxCoT_train.jsonl": "shikra/GPT4GEN_RD_BoxCoT_train.jsonl"}
BOXED = {
    "id": "shikra_1",
    "image": "flickr30k/9000000001.jpg",
    "conversations": [
        {"from": "human", "value": "<image>\nWhat is the man [0.02, 0.06, 0.22, 0.661] doing?"},
        {"from": "gpt", "value": "The man [0.02, 0.06, 0.22, 0.661] holds leashes of two dogs [0.4, 0.12, 0.6, 0.751], [0.02, 0.06, 0.22, 0.661]"
                                 " on the beach [0.0, 0.0, 1.0, 1.0]. So the answer is walking the dogs."},
    ],
    "source": "shikra", "task": "dialogue", "width": 500, "height": 333, "image_id": "9000000001",
}


def jsonl(lines):
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_line_5921_is_dataoptims_record():
    got = dialogue_to_record(LINES[0], record_id="shikra_5921", size=None)
    assert {k: got[k] for k in ("id", "image", "conversations")} == EXAMPLE
    assert (got["source"], got["task"]) == ("shikra", "dialogue")


def test_shikra_builder_with_size_table(tmp_path):
    case = BuilderCase(
        config="shikra",
        files={**FILES, "image_sizes.json": "shikra/image_sizes.json"},
        split_sizes={"train": 2},
        golden={"shikra_0": {**EXAMPLE, "id": "shikra_0", "width": None, "height": None}, "shikra_1": BOXED},
    )
    check_case(case, tmp_path)


def test_sizes_from_the_image_folder(tmp_path):
    from PIL import Image

    images = tmp_path / "flickr30k-images"
    images.mkdir()
    Image.new("RGB", (500, 333)).save(images / "9000000001.jpg")
    case = BuilderCase(config="shikra", files=FILES, split_sizes={"train": 2}, golden={"shikra_1": BOXED}, config_kwargs={"image_dir": str(images)})
    check_case(case, tmp_path)


def test_converted_layout(tmp_path):
    check_case(BuilderCase(config="shikra", files={"shikra.json": "shikra/shikra.json", **FILES}, split_sizes={"train": 1}, golden={"shikra_5921": EXAMPLE}), tmp_path)


def test_place_boxes_checks_marks_against_lists():
    boxes = [(0.1, 0.2, 0.3, 0.4)]
    assert place_boxes("<ph_st>A cat<ph_ed> sleeps.", [[0]], boxes, field="answer_boxes_seq") == "A cat [0.1, 0.2, 0.3, 0.4] sleeps."
    with pytest.raises(ValueError, match="lists 0 box groups but the text marks 1"):
        place_boxes("<ph_st>A cat<ph_ed>", [], boxes, field="answer_boxes_seq")
    with pytest.raises(ValueError, match="refers to box 3"):
        place_boxes("<ph_st>A cat<ph_ed>", [[3]], boxes, field="answer_boxes_seq")


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("shikra", {"image_sizes.json": {}}, tmp_path)
    assert "GPT4GEN_RD_BoxCoT_train.jsonl" in str(info.value) and "shikras/shikra" in str(info.value)


def test_unknown_image_size_names_the_line(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": jsonl(LINES)}, tmp_path)
    assert info.value.file.endswith("GPT4GEN_RD_BoxCoT_train.jsonl") and (info.value.record, info.value.field) == (1, "img_path")
    assert "image_sizes.json" in str(info.value) and "image_dir" in str(info.value)


def test_wrong_layout_and_missing_field(tmp_path):
    with pytest.raises(InputError) as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": json.dumps(LINES)}, tmp_path / "a")
    assert info.value.record == 0 and "JSON object" in str(info.value)
    lines = [dict(line) for line in LINES]
    del lines[1]["cot_with_ans"]
    with pytest.raises(InputError) as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": jsonl(lines), "image_sizes.json": {"9000000001.jpg": [500, 333]}}, tmp_path / "b")
    assert (info.value.record, info.value.field) == (1, "lines[1].cot_with_ans")
    lines = [dict(line) for line in LINES]
    lines[1]["answer_boxes_seq"] = [[0]]
    with pytest.raises(InputError, match="marks 3 phrases") as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": jsonl(lines), "image_sizes.json": {"9000000001.jpg": [500, 333]}}, tmp_path / "c")
    assert (info.value.record, info.value.field) == (1, "lines[1]")


def test_box_out_of_range(tmp_path):
    lines = [dict(line) for line in LINES]
    lines[1]["boxes"] = [[10, 20, 110, 220], [200, 40, 300, 450], [0, 0, 500, 333]]  # 450 > 333 px
    with pytest.raises(BoxError) as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": jsonl(lines), "image_sizes.json": {"9000000001.jpg": [500, 333]}}, tmp_path)
    assert info.value.file.endswith("GPT4GEN_RD_BoxCoT_train.jsonl") and (info.value.record, info.value.field) == (1, "boxes[1]")
