"""OCR-VQA builder: DataOptim's ``ocrvqa_801672`` from a reconstructed entry, running index on a small ``dataset.json``.

``tests/fixtures/ocrvqa/dataset.json`` (see PROVENANCE.md) holds, in file order: the
real entry ``761183272`` (quoted in full in mmpretrain's OCR-VQA loader; 5 pairs, split 1),
a synthetic split-2 entry, the entry ``1400013011`` reconstructed from DataOptim's
``ocrvqa_801672`` (the one pair that record shows, split 1; no other field of the
original is known), and a synthetic split-3 entry.

``ocrvqa_801672`` is the last of the 801,673 train pairs of the full file: a running
index cannot reach it from a 4-entry fixture. So the golden record is checked in two
halves: the pure conversion with the id DataOptim gave it, and the builder's
numbering on the fixture (where the same pair is train pair 5, ``ocrvqa_5``).
"""

import pytest
from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json

from dataoptim.builders import ocrvqa
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
GOLDEN = EXAMPLES["ocrvqa_801672"]
FILES = {"dataset.json": "ocrvqa/dataset.json"}


def test_pure_conversion_reproduces_dataoptim_ocrvqa_801672():
    entry = fixture_json(FILES["dataset.json"])["1400013011"]
    assert ocrvqa.entry_split(entry) == "train"
    (question, answer), = ocrvqa.entry_pairs(entry)
    record = ocrvqa.pair_to_record("1400013011", question, answer, record_id="ocrvqa_801672")
    assert {k: record[k] for k in ("id", "image", "conversations")} == GOLDEN
    assert (record["source"], record["task"], record["image_id"], record["question_id"]) == ("ocrvqa", "vqa", "1400013011", None)


def test_builder_numbers_train_pairs_in_file_order(tmp_path):
    case = BuilderCase(
        config="ocrvqa",
        files=FILES,
        split_sizes={"train": 6, "validation": 2, "test": 1},
        golden={
            "ocrvqa_0": {"image": "ocrvqa/761183272.jpg", "image_id": "761183272", "width": None, "height": None,
                         "conversations": [{"from": "human", "value": "<image>\nWho wrote this book? Answer the question directly with a short sentence or phrase."},
                                           {"from": "gpt", "value": "Sandra Boynton"}]},
            "ocrvqa_4": {"conversations": [{"from": "human", "value": "<image>\nWhat is the year printed on this calendar? Answer the question directly with a short sentence or phrase."},
                                           {"from": "gpt", "value": "2016"}]},
            # the reconstructed entry comes after a split-2 entry, which the train numbering skips
            "ocrvqa_5": {**GOLDEN, "id": "ocrvqa_5", "source": "ocrvqa", "task": "vqa", "image_id": "1400013011"},
            "ocrvqa_validation_1": {"image": "ocrvqa/0000000002.jpg", "conversations": [
                {"from": "human", "value": "<image>\nIs this a comics book? Answer the question directly with a short sentence or phrase."},
                {"from": "gpt", "value": "Yes"}]},
            # imageURL ends in .gif: the record still names {key}.jpg, as DataOptim's do (DESIGN §11)
            "ocrvqa_test_0": {"image": "ocrvqa/0000000003.jpg"},
        },
    )
    ds = check_case(case, tmp_path)
    assert ds["train"]["id"] == [f"ocrvqa_{i}" for i in range(6)]


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("ocrvqa", {"notes.txt": "no annotations"}, tmp_path)
    assert "dataset.json" in str(info.value) and "ocr-vqa.github.io" in str(info.value)


def test_wrong_layout_is_an_error(tmp_path):
    with pytest.raises(InputError, match="must hold an object at the top level, found a list") as info:
        build_from("ocrvqa", {"dataset.json": [{"questions": [], "answers": [], "split": 1}]}, tmp_path)
    assert info.value.file.endswith("dataset.json")


def test_entry_missing_a_field_is_named(tmp_path):
    data = fixture_json(FILES["dataset.json"])
    del data["1400013011"]["answers"]
    with pytest.raises(InputError) as info:
        build_from("ocrvqa", {"dataset.json": data}, tmp_path)
    assert (info.value.record, info.value.field) == (2, "1400013011.answers")
    assert info.value.file.endswith("dataset.json")


def test_unequal_questions_and_answers_is_an_error(tmp_path):
    data = fixture_json(FILES["dataset.json"])
    data["761183272"]["answers"].pop()
    with pytest.raises(InputError, match="5 questions but 4 answers") as info:
        build_from("ocrvqa", {"dataset.json": data}, tmp_path)
    assert (info.value.record, info.value.field) == (0, "761183272")


def test_unsafe_key_is_an_error(tmp_path):
    data = {"../1400013011": {"questions": ["Q?"], "answers": ["A"], "split": 1}}
    with pytest.raises(InputError) as info:
        build_from("ocrvqa", {"dataset.json": data}, tmp_path)
    assert (info.value.record, info.value.field) == (0, "key") and "inside the image folder" in str(info.value)


def test_a_split_with_no_entries_is_left_out_not_a_crash(tmp_path):
    # a dataset.json holding only split-1 entries: validation and test come out empty, which
    # datasets cannot read back ("Instruction 'validation' corresponds to no data")
    entry = fixture_json(FILES["dataset.json"])["761183272"]
    ds = build_from("ocrvqa", {"dataset.json": {"761183272": entry}}, tmp_path)
    assert list(ds) == ["train"] and ds["train"].num_rows == 5
    with pytest.raises(InputError, match="the test split holds no records"):
        build_from("ocrvqa", {"dataset.json": {"761183272": entry}}, tmp_path, split="test")
