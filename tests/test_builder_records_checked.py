"""What a builder makes from original files obeys the record rules (DESIGN §2), like converted records do.

Found by trying to break the pool: a GQA question id with a space, a question
holding ``<image>``, a blank or non-string caption, and an absolute Shikra
``img_path`` all reached the pool before.
"""

import json

import pytest

from builder_harness import build_from, fixture_json
from dataoptim.errors import RecordError


def _gqa(key, question="Who wears a shirt?"):
    return {key: {"imageId": "2327022", "question": question, "answer": "player", "fullAnswer": "The player wears a shirt."}}


@pytest.mark.parametrize(
    "files, config, field, words",
    [
        ({"train_balanced_questions.json": _gqa("a b")}, "gqa", "id", "no spaces"),
        ({"train_balanced_questions.json": _gqa("05145757", "What is <image> here?")}, "gqa", "conversations[0].value", "found 2"),
        ({"train_balanced_questions.json": _gqa("05145757\n")}, "gqa", "id", "no spaces"),
    ],
)
def test_gqa_records_are_validated(tmp_path, files, config, field, words):
    with pytest.raises(RecordError) as info:
        build_from(config, files, tmp_path)
    assert info.value.field == field and words in str(info.value)
    assert info.value.file.endswith("train_balanced_questions.json") and info.value.record == 0


@pytest.mark.parametrize("caption, words", [("  ", "is empty"), (5, "must be a string")])
def test_coco_caption_must_be_text(tmp_path, caption, words):
    data = fixture_json("coco_train/captions_train2014.json")
    data["annotations"][0]["caption"] = caption
    with pytest.raises(RecordError) as info:
        build_from("coco", {"captions_train2014.json": data}, tmp_path)
    assert info.value.field == "conversations[1].value" and words in str(info.value)


@pytest.mark.parametrize("img_path", ["/etc/passwd", "../../x.jpg", "a\\b.jpg"])
def test_shikra_and_ref3_refuse_escaping_img_path(tmp_path, img_path):
    line = {"img_path": img_path, "boxes": [], "question": "<image>\nAre there any trees?", "cot_with_ans": "No.",
            "question_boxes_seq": [], "answer_boxes_seq": [], "answer": "No."}
    with pytest.raises(RecordError) as info:
        build_from("shikra", {"GPT4GEN_RD_BoxCoT_train.jsonl": json.dumps(line) + "\n"}, tmp_path / "s")
    assert info.value.field == "img_path" and info.value.record == 0
    rec = {"img_path": img_path, "expression": "a girl", "bbox": [0, 51, 529, 480], "dataset_name": "refcoco", "height": 480, "width": 640}
    with pytest.raises(RecordError) as info:
        build_from("ref3rec", {"REC_ref3_train.jsonl": json.dumps(rec) + "\n"}, tmp_path / "r")
    assert info.value.field == "img_path"
