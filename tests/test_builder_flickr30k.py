"""Flickr30K (Karpathy split) builder: DataOptim's ``flickr30k_0``, running indices per split, bad input.

``dataset_flickr30k.json`` is reconstructed (tests/fixtures/PROVENANCE.md): no copy of the
real file was found. Its first image, ``1000092795.jpg`` (train), is the real file's first
record as quoted in public code, with sentence 0 exactly as in DataOptim's ``flickr30k_0``;
the three other images (val, train, test) are written for the test.
"""

import pytest

from builder_harness import BuilderCase, build_from, caption_choices, check_case, example_records, fixture_json
from dataoptim.errors import InputError, MissingFileError

EXAMPLES = example_records()
FILES = {"dataset_flickr30k.json": "flickr30k/dataset_flickr30k.json"}


def caption(rid, image, text, **native):
    turns = [{"from": "human", "value": "<image>\n(one of the five)"}, {"from": "gpt", "value": text}]
    return {"id": rid, "image": image, "conversations": turns, "source": "flickr30k", "task": "caption", **native}


def test_flickr30k_reproduces_dataoptim_and_numbers_each_split(tmp_path):
    case = BuilderCase(
        config="flickr30k",
        files=FILES,
        split_sizes={"train": 10, "validation": 5, "test": 5},
        golden={
            "flickr30k_0": {**EXAMPLES["flickr30k_0"], "task": "caption", "question_id": "0", "image_id": "1000092795", "width": None, "height": None},
            "flickr30k_4": caption("flickr30k_4", "flickr30k/1000092795.jpg", "Two friends enjoy time spent together .", question_id="4"),
            # the val image sits between the two train images: the train index goes on at 5
            "flickr30k_5": caption("flickr30k_5", "flickr30k/9000000002.jpg", "A woman rides a red bicycle down a city street .", question_id="10", image_id="9000000002"),
            "flickr30k_validation_0": caption("flickr30k_validation_0", "flickr30k/9000000001.jpg", "A dog runs along the beach .", question_id="5"),
            "flickr30k_test_4": caption("flickr30k_test_4", "flickr30k/9000000003.jpg", "A soccer game between children .", question_id="19"),
        },
        prompt_choices=caption_choices,
    )
    check_case(case, tmp_path)


def test_flickr30k_missing_file_names_what_to_download(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("flickr30k", {"notes.txt": "no annotations"}, tmp_path)
    assert "dataset_flickr30k.json" in str(info.value) and "caption_datasets.zip" in str(info.value)


def test_flickr30k_wrong_layout(tmp_path):
    images = fixture_json(FILES["dataset_flickr30k.json"])["images"]
    with pytest.raises(InputError) as info:
        build_from("flickr30k", {"dataset_flickr30k.json": images}, tmp_path)  # a list, not {"images": [...]}
    assert info.value.file.endswith("dataset_flickr30k.json") and info.value.field == "images" and "found a list" in str(info.value)


def test_flickr30k_record_missing_field(tmp_path):
    data = fixture_json(FILES["dataset_flickr30k.json"])
    del data["images"][2]["sentences"][1]["raw"]
    with pytest.raises(InputError) as info:
        build_from("flickr30k", {"dataset_flickr30k.json": data}, tmp_path)
    assert info.value.file.endswith("dataset_flickr30k.json")
    assert (info.value.record, info.value.field) == (2, "images[2].sentences[1].raw")


def test_flickr30k_unsafe_filename(tmp_path):
    data = fixture_json(FILES["dataset_flickr30k.json"])
    data["images"][0]["filename"] = "../1000092795.jpg"
    with pytest.raises(InputError) as info:
        build_from("flickr30k", {"dataset_flickr30k.json": data}, tmp_path)
    assert (info.value.record, info.value.field) == (0, "filename") and "inside the image folder" in str(info.value)
