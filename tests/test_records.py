"""The record rules of DESIGN §2 and the located errors."""

import json

import pytest

from dataoptim.errors import RecordError
from dataoptim.records import check_image_path, to_llava, validate_record, validate_records
from builder_harness import example_records


def rec(**over):
    base = {
        "id": "coco_0",
        "image": "coco/COCO_train2014_000000318556.jpg",
        "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "A bathroom."}],
    }
    base.update(over)
    return base


def test_every_official_example_record_is_valid():
    examples = example_records()
    assert len(examples) == 17
    for i, record in enumerate(examples.values()):
        assert validate_record(record, file="example-byod.json", index=i) is record


@pytest.mark.parametrize(
    "record, field, words",
    [
        (["not", "a", "dict"], None, "JSON object"),
        ({"image": "a.jpg", "conversations": []}, "id", "missing"),
        (rec(id=""), "id", "non-empty"),
        (rec(id="coco 0"), "id", "no spaces"),
        (rec(id=7), "id", "non-empty string"),
        (rec(image="/etc/passwd"), "image", "relative"),
        (rec(image="../x.jpg"), "image", "inside the image folder"),
        (rec(image="coco/../../x.jpg"), "image", "inside the image folder"),
        (rec(image="coco\\x.jpg"), "image", "'/' separators"),
        (rec(image="C:/x.jpg"), "image", "relative"),
        (rec(image="coco/a\nb.jpg"), "image", "control characters"),
        (rec(conversations=[]), "conversations", "non-empty list"),
        (rec(conversations=[{"from": "gpt", "value": "<image>\nx"}, {"from": "human", "value": "y"}]), "conversations[0].from", "expected 'human'"),
        (rec(conversations=[{"from": "human", "value": "<image>\nx"}]), "conversations[0]", "end with a 'gpt' turn"),
        (rec(conversations=[{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]), "conversations[0].value", "found 0"),
        (rec(conversations=[{"from": "human", "value": "<image><image>x"}, {"from": "gpt", "value": "y"}]), "conversations[0].value", "found 2"),
        (rec(conversations=[{"from": "human", "value": "<image>x"}, {"from": "gpt", "value": "<image>"}]), "conversations[1].value", "only in the first human turn"),
        (rec(conversations=[{"from": "human", "value": "<image>x"}, {"from": "gpt", "value": "  "}]), "conversations[1].value", "empty"),
        (rec(conversations=[{"from": "human", "value": "<image>x"}, {"from": "gpt", "value": 3}]), "conversations[1].value", "must be a string"),
        (rec(conversations=[{"from": "human", "value": "<image>x"}, {"from": "gpt"}]), "conversations[1].value", "missing"),
        (rec(conversations=[{"from": "human", "value": "<image>x"}, "gpt: y"]), "conversations[1]", "must be an object"),
    ],
)
def test_each_broken_rule_is_named(record, field, words):
    with pytest.raises(RecordError) as info:
        validate_record(record, file="sub.json", index=4)
    err = info.value
    assert err.file == "sub.json" and err.record == 4
    assert err.field == field
    assert words in str(err)
    assert str(err).startswith("sub.json: record 4")


def test_message_names_file_record_id_and_field():
    with pytest.raises(RecordError) as info:
        validate_record(rec(image="../up.jpg"), file="byod.json", index=12)
    assert str(info.value) == (
        "byod.json: record 12 (id 'coco_0'), field 'image': image path '../up.jpg' must stay inside the image folder "
        "(no '..', '.' or empty parts)"
    )


def test_text_only_record_allowed_unless_an_image_is_required():
    """A record without image is text-only, as LLaVA takes it ('image' in sources[0]; llava_v1_5_mix665k holds them)."""
    text_only = {"id": "t_1", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}
    assert validate_record(text_only) is text_only
    assert validate_record({**text_only, "image": None}) is not None  # an Arrow row of a text-only record
    with pytest.raises(RecordError, match="missing"):
        validate_record(text_only, require_image=True)
    assert validate_record(text_only, require_image=False) is text_only
    bad = dict(text_only, conversations=[{"from": "human", "value": "<image>hi"}, {"from": "gpt", "value": "x"}])
    with pytest.raises(RecordError, match="must not contain <image>"):
        validate_record(bad, require_image=False)


def test_duplicate_ids_are_refused_with_both_positions():
    records = [rec(), rec(id="coco_1"), rec()]
    with pytest.raises(RecordError) as info:
        list(validate_records(records, file="f.json"))
    assert info.value.record == 2 and "first used by record 0" in str(info.value)


def test_check_image_path_accepts_nested_relative_paths():
    assert check_image_path("visual_genome/VG_100K/1.jpg") == "visual_genome/VG_100K/1.jpg"


def test_to_llava_keeps_three_fields_in_order():
    full = dict(rec(), source="coco", task="caption", width=640, height=480)
    out = to_llava(full)
    assert list(out) == ["id", "image", "conversations"]
    assert json.dumps(out) == json.dumps(rec())


def test_huge_values_make_short_messages():
    from dataoptim.errors import MAX_MESSAGE, DataOptimError

    huge = "a/" * 5_000_000 + "../x.jpg"  # a 10 MB image path on one line
    with pytest.raises(RecordError) as info:
        validate_record(rec(image=huge), file="sub.json", index=4)
    message = str(info.value)
    assert len(message) < 400 and "record 4" in message and "field 'image'" in message and "characters)" in message
    with pytest.raises(RecordError) as info:
        validate_record(rec(id="x" * 3_000_000, image="/abs.jpg"), file="sub.json", index=0)
    assert len(str(info.value)) < 600 and "(id 'xxxx" in str(info.value)
    assert len(str(DataOptimError("y" * 100_000, file="f"))) <= MAX_MESSAGE + 10


@pytest.mark.parametrize(
    "record, field, words",
    [
        (rec(id="a1\n"), "id", "no spaces"),
        (rec(id="x" * 257), "id", "over the limit of 256"),
        (rec(image="coco/a\x7fb.jpg"), "image", "control"),
        (rec(image="coco/a\x85b.jpg"), "image", "control"),
        (rec(image="coco/a\u2028b.jpg"), "image", "control"),
        (rec(image="coco/\u202egnp.jpg"), "image", "control"),
    ],
)
def test_ids_and_paths_that_look_alike_are_refused(record, field, words):
    with pytest.raises(RecordError) as info:
        validate_record(record)
    assert info.value.field == field and words in str(info.value)
    assert validate_record(rec(id="x" * 256))
