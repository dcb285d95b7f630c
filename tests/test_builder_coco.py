"""COCO captions builder: real val2014 sample, and DataOptim's ``coco_0`` from a reconstructed train file."""

from builder_harness import BuilderCase, caption_choices, check_case, example_records

EXAMPLES = example_records()


def test_coco_train_reproduces_dataoptim_coco_0(tmp_path):
    # captions_train2014.json is reconstructed (tests/fixtures/PROVENANCE.md): the first train
    # annotation, quoted in public code, is DataOptim's coco_0.
    case = BuilderCase(
        config="coco",
        files={"captions_train2014.json": "coco_train/captions_train2014.json"},
        split_sizes={"train": 1},
        golden={"coco_0": {**EXAMPLES["coco_0"], "task": "caption", "image_id": "318556", "question_id": "48"}},
        prompt_choices=caption_choices,
    )
    check_case(case, tmp_path)


def test_coco_val_real_sample(tmp_path):
    case = BuilderCase(
        config="coco",
        files={"captions_val2014.json": "coco/captions_val2014.json"},
        split_sizes={"validation": 106},
        golden={
            "coco_validation_0": {
                "image": "coco/COCO_val2014_000000331352.jpg",
                "conversations": [{"from": "human", "value": "<image>\nProvide a short description of the image."},
                                  {"from": "gpt", "value": "A small closed toilet in a cramped space."}],
                "width": 351, "height": 500, "image_id": "331352", "question_id": "441",
            }
        },
        prompt_choices=caption_choices,
    )
    check_case(case, tmp_path)


def _converted(rid, answer):
    return {"id": rid, "image": "coco/a.jpg", "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": answer}]}


def test_duplicate_id_with_different_content_is_refused_and_nothing_is_cached(tmp_path):
    import pytest
    from builder_harness import build_from

    from dataoptim.errors import RecordError

    records = [_converted("coco_0", "a cat"), _converted("coco_1", "a dog"), _converted("coco_0", "a bird")]
    with pytest.raises(RecordError) as info:
        build_from("coco", {"coco.json": records}, tmp_path)
    assert info.value.id == "coco_0" and info.value.field == "id" and "rows 0 and 2" in str(info.value)
    assert info.value.file.endswith("coco.json")
    assert not list((tmp_path / "cache").rglob("dataset_info.json"))  # no build a later run would trust
    # the same record twice is not a conflict (the pool keeps it once)
    ds = build_from("coco", {"coco.json": records[:2] + [records[0]]}, tmp_path / "same")
    assert ds["train"]["id"] == ["coco_0", "coco_1", "coco_0"]


def test_no_records_at_all_is_an_input_error(tmp_path):
    import pytest
    from builder_harness import build_from

    from dataoptim.errors import InputError

    with pytest.raises(InputError, match="hold no examples") as info:
        build_from("coco", {"coco.json": []}, tmp_path)
    assert info.value.file.endswith("coco.json")
