"""TextVQA builder: real train/val/test samples, and DataOptim's ``textvqa_34601`` from a reconstructed item.

``TextVQA_0.5.1_{train,val,test}.json`` are the real first five questions of each
official split (shared/real/, via the ``datasets`` dummy data; top-level key ``data``
only). ``reconstructed_34601.json`` is one item rebuilt from DataOptim's
``textvqa_34601`` (tests/fixtures/PROVENANCE.md): image id, question, and the answer
written ten times (the real ten answers are not known); no image size.

``textvqa_34601`` is the last of the 34,602 train questions: a running index cannot
reach it from a five-question file. So the pure conversion is checked with the id
DataOptim gave it, and the builder's numbering on the real train sample (where the
running index happens to equal ``question_id``, as in the full file).
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.builders import textvqa
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
GOLDEN = EXAMPLES["textvqa_34601"]
FILES = {f"TextVQA_0.5.1_{s}.json": f"textvqa/TextVQA_0.5.1_{s}.json" for s in ("train", "val", "test")}
SUFFIX = " Answer the question directly with a short sentence or phrase."


def vqa(question, answer):
    return [{"from": "human", "value": f"<image>\n{question}{SUFFIX}"}, {"from": "gpt", "value": answer}]


def test_pure_conversion_reproduces_dataoptim_textvqa_34601():
    (item,) = fixture_json("textvqa/reconstructed_34601.json")["data"]
    record = textvqa.question_to_record(item, record_id="textvqa_34601")
    assert {k: record[k] for k in ("id", "image", "conversations")} == GOLDEN
    assert (record["question_id"], record["image_id"], record["width"], record["height"]) == ("34601", "03b2dbb7dff0e32d", None, None)


def test_builder_on_the_reconstructed_item(tmp_path):
    # the same item as the only train question: the record is DataOptim's, numbered 0
    case = BuilderCase(
        config="textvqa",
        files={"TextVQA_0.5.1_train.json": "textvqa/reconstructed_34601.json"},
        split_sizes={"train": 1},
        golden={"textvqa_0": {**GOLDEN, "id": "textvqa_0", "source": "textvqa", "task": "vqa", "question_id": "34601"}},
    )
    check_case(case, tmp_path)


def test_real_samples_train_and_validation_test_split_not_read(tmp_path):
    case = BuilderCase(
        config="textvqa",
        files=FILES,  # the test file lies there too: no answers, so no split
        split_sizes={"train": 5, "validation": 5},
        golden={
            # 9 of 10 say "nokia"
            "textvqa_0": {"image": "open_images/0054c91397f2fe05.jpg", "conversations": vqa("what is the brand of phone?", "nokia"),
                          "question_id": "0", "image_id": "0054c91397f2fe05", "width": 1024, "height": 730},
            # 6 "ec", 2 "ec-agg", ...: the most frequent, not the longest
            "textvqa_2": {"image": "open_images/005635e119b9f32f.jpg", "conversations": vqa("what are the letters on the tail section of the plane?", "ec"),
                          "question_id": "2", "image_id": "005635e119b9f32f", "width": 1024, "height": 667},
            "textvqa_4": {"conversations": vqa("what brand is on the plane?", "virgin"), "width": 786, "height": 1024},
            # 5 "dakota", 3 "dakota digital", 2 others
            "textvqa_validation_0": {"image": "open_images/003a8ae2ef43b901.jpg", "conversations": vqa("what is the brand of this camera?", "dakota"),
                                     "question_id": "34602", "image_id": "003a8ae2ef43b901", "width": 1024, "height": 664},
            "textvqa_validation_4": {"conversations": vqa("how long has the drink on the right been aged?", "10 years"), "question_id": "34606"},
        },
    )
    ds = check_case(case, tmp_path)
    assert ds["train"]["id"] == [f"textvqa_{i}" for i in range(5)] and ds["train"]["question_id"] == [str(i) for i in range(5)]


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("textvqa", {"TextVQA_0.5.1_test.json": fixture_json(FILES["TextVQA_0.5.1_test.json"])}, tmp_path)
    assert "TextVQA_0.5.1_train.json" in str(info.value) and "dl.fbaipublicfiles.com/textvqa" in str(info.value)


def test_wrong_layout_is_an_error(tmp_path):
    items = fixture_json(FILES["TextVQA_0.5.1_train.json"])["data"]
    with pytest.raises(InputError, match="found a list") as info:
        build_from("textvqa", {"TextVQA_0.5.1_train.json": items}, tmp_path)  # a list, not {"data": [...]}
    assert info.value.file.endswith("TextVQA_0.5.1_train.json") and info.value.field == "data"


def test_question_without_answers_is_named(tmp_path):
    # the real test split, put where the train split belongs: its questions have no answers
    with pytest.raises(InputError) as info:
        build_from("textvqa", {"TextVQA_0.5.1_train.json": fixture_json(FILES["TextVQA_0.5.1_test.json"])}, tmp_path)
    assert info.value.file.endswith("TextVQA_0.5.1_train.json")
    assert (info.value.record, info.value.field) == (0, "data[0].answers")
