"""GQA builder: DataOptim's ``gqa_05145757``, a real question record, the ``gqa_all`` shards under ``num_proc``.

Fixtures (tests/fixtures/PROVENANCE.md): ``train_balanced_questions.json`` holds question
``02930152``, a real record quoted in full by a public test suite (shared/real/SOURCES.md),
and ``05145757``, reconstructed from DataOptim's ``gqa_05145757`` (``imageId``, ``question``
and ``fullAnswer`` only: the other fields of the original are not known).
``testdev_balanced_questions.json`` holds question ``201307251`` with its real image and
question (from LLaVA's GQA testdev question file) and invented answers. The ten
``train_all_questions_{i}.json`` shards spread the same two train records over shards 0
and 1; shards 2-9 are empty objects.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.errors import ConfigError, InputError, MissingFileError

EXAMPLES = example_records()
FILES = {
    "train_balanced_questions.json": "gqa/train_balanced_questions.json",
    "testdev_balanced_questions.json": "gqa/testdev_balanced_questions.json",
}
SHARDS = {f"train_all_questions/train_all_questions_{i}.json": f"gqa/train_all_questions/train_all_questions_{i}.json" for i in range(10)}
SUFFIX = " Answer the question directly with a short sentence or phrase."
GOLDEN = {
    "gqa_05145757": {**EXAMPLES["gqa_05145757"], "source": "gqa", "task": "vqa", "question_id": "05145757", "image_id": "2327022", "width": None, "height": None},
    "gqa_02930152": {"image": "visual_genome/2354786.jpg", "question_id": "02930152", "image_id": "2354786", "conversations": [
        {"from": "human", "value": "<image>\nIs the sky dark?" + SUFFIX}, {"from": "gpt", "value": "Yes, the sky is dark."}]},
    "gqa_testdev_201307251": {"image": "visual_genome/n161313.jpg", "question_id": "201307251", "image_id": "n161313", "conversations": [
        {"from": "human", "value": "<image>\nIs it overcast?" + SUFFIX}, {"from": "gpt", "value": "No, it is clear."}]},
}


def test_gqa_reproduces_dataoptim_gqa_05145757(tmp_path):
    case = BuilderCase(config="gqa", files=FILES, split_sizes={"train": 2, "testdev": 1}, golden=GOLDEN)
    check_case(case, tmp_path)


def test_gqa_all_converts_the_ten_shards_in_parallel(tmp_path):
    # The balanced questions are also in the all-questions files: same ids, same records.
    case = BuilderCase(
        config="gqa_all",
        files={**SHARDS, "testdev_all_questions.json": FILES["testdev_balanced_questions.json"]},
        split_sizes={"train": 2, "testdev": 1},
        golden=GOLDEN,
        config_kwargs={"num_proc": 2},
    )
    check_case(case, tmp_path)


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("gqa", {"notes.txt": "no annotations"}, tmp_path)
    assert "train_balanced_questions.json" in str(info.value) and "questions1.2.zip" in str(info.value)


def test_gqa_all_missing_shard_is_named(tmp_path):
    files = {name.split("/")[1]: fixture_json(path) for name, path in SHARDS.items() if not name.endswith("_9.json")}
    with pytest.raises(MissingFileError, match="missing train_all_questions_9.json"):
        build_from("gqa_all", files, tmp_path)


def test_gqa_all_has_no_converted_layout(tmp_path):
    with pytest.raises(ConfigError, match="use config 'gqa'"):
        build_from("gqa_all", {"gqa.json": []}, tmp_path, layout="converted")


def test_wrong_layout_is_an_error(tmp_path):
    questions = list(fixture_json(FILES["train_balanced_questions.json"]).values())
    with pytest.raises(InputError, match="must hold an object at the top level, found a list") as info:
        build_from("gqa", {"train_balanced_questions.json": questions}, tmp_path)
    assert info.value.file.endswith("train_balanced_questions.json")


def test_question_missing_a_field_is_named(tmp_path):
    data = fixture_json(FILES["train_balanced_questions.json"])
    del data["05145757"]["fullAnswer"]
    with pytest.raises(InputError) as info:
        build_from("gqa", {"train_balanced_questions.json": data}, tmp_path)
    assert info.value.file.endswith("train_balanced_questions.json")
    assert (info.value.record, info.value.field) == (1, "05145757.fullAnswer")


def test_converted_gqa_json_passes_through(tmp_path):
    # DataOptim's converted gqa.json wins over the original files in layout "auto"
    example = EXAMPLES["gqa_05145757"]
    ds = build_from("gqa", {"gqa.json": [example], "train_balanced_questions.json": fixture_json(FILES["train_balanced_questions.json"])}, tmp_path)
    assert ds["train"].num_rows == 1 and {k: ds["train"][0][k] for k in example} == example and ds["train"][0]["task"] == "vqa"
