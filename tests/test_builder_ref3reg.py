"""ref3reg: DataOptim's ``ref3reg_287603``, the shared line numbers, sub-configs, the refs pickles, the converted layout, bad input.

Same fixtures as tests/test_builder_ref3rec.py (``ref3/REC_ref3_train.jsonl`` is reconstructed; see
tests/fixtures/PROVENANCE.md). DataOptim's record is line 287,603 of Shikra's real file: the pure
function is tested at that index, the builder on the 4-line file (where the line is ``ref3reg_0``).
The human turn is a reproducible pick among Shikra's 125 REG templates with the box in place of
``<objs>``; the answer (the expression) is exact.
"""

import json
import pickle

import pytest

from builder_harness import FIXTURES, BuilderCase, assert_record_matches, build_from, check_case, example_records
from dataoptim.boxes import BoxError
from dataoptim.builders.ref3rec import line_to_record, match_template, prompt_options

EXAMPLES = example_records()
EXAMPLE = EXAMPLES["ref3reg_287603"]
LINES = [json.loads(line) for line in (FIXTURES / "ref3" / "REC_ref3_train.jsonl").read_text().splitlines()]
FILES = {"REC_ref3_train.jsonl": "ref3/REC_ref3_train.jsonl"}


def reg_choices(expected_turn: str) -> list[str]:
    """Allowed human turns: every REG template filled with the box the expected turn holds."""
    box = match_template(expected_turn, "REG")
    assert box is not None, f"not a Shikra REG prompt: {expected_turn!r}"
    return prompt_options("REG", box)


def test_line_287603_is_dataoptims_record_and_pairs_with_ref3rec():
    got = line_to_record("REG", LINES[0], record_id="ref3reg_287603")
    assert_record_matches(got, EXAMPLE, reg_choices)
    assert len(reg_choices(EXAMPLE["conversations"][0]["value"])) == 125
    twin = EXAMPLES["ref3rec_287603"]  # the same line, the same number, the other task
    assert (twin["image"], twin["conversations"][1]["value"]) == (EXAMPLE["image"], match_template(EXAMPLE["conversations"][0]["value"], "REG") + ".")
    assert match_template(twin["conversations"][0]["value"], "REC") == EXAMPLE["conversations"][1]["value"]


def test_ref3reg_from_shikra_file(tmp_path):
    doughnut = "the giant doughnut with white icing and red , white , and blue sprinkles"
    case = BuilderCase(
        config="ref3reg",
        files=FILES,
        split_sizes={"train": 4},
        golden={
            "ref3reg_0": {**EXAMPLE, "id": "ref3reg_0", "task": "reg", "image_id": "544238", "width": 640, "height": 480},
            "ref3reg_1": {"image": "coco/COCO_train2014_000000310289.jpg", "source": "ref3reg", "task": "reg", "conversations": [
                {"from": "human", "value": "For the given image <image>, can you provide a unique description of the area [0.523, 0.621, 0.817, 0.938]?"}, {"from": "gpt", "value": doughnut}]},
        },
        prompt_choices=reg_choices,
    )
    ds = check_case(case, tmp_path)
    rec = check_case(BuilderCase(config="ref3rec", files=FILES, split_sizes={"train": 4}), tmp_path / "rec")
    for r, g in zip(rec["train"], ds["train"]):  # line i gives ref3rec_i and ref3reg_i
        assert r["id"].split("_")[1] == g["id"].split("_")[1] and r["image"] == g["image"]
        assert match_template(r["conversations"][0]["value"], "REC") == g["conversations"][1]["value"]


def test_subset_and_converted_layout(tmp_path):
    ds = check_case(BuilderCase(config="ref3reg_refcocog", files=FILES, split_sizes={"train": 1}), tmp_path / "sub")
    assert ds["train"]["id"] == ["ref3reg_1"]
    check_case(BuilderCase(config="ref3reg", files={"ref3reg.json": "ref3/ref3reg.json"}, split_sizes={"train": 1}, golden={"ref3reg_287603": EXAMPLE}), tmp_path / "conv")


def test_refs_pickles(tmp_path):
    from datasets import load_dataset

    for d, name in (("refcoco", "refs(unc).p"), ("refcoco+", "refs(unc).p"), ("refcocog", "refs(google).p")):
        (tmp_path / "data" / d).mkdir(parents=True)
        refs = json.loads((FIXTURES / "ref3" / "refs" / d / "refs.json").read_text())
        (tmp_path / "data" / d / name).write_bytes(pickle.dumps(refs, protocol=2))
        (tmp_path / "data" / d / "instances.json").write_bytes((FIXTURES / "ref3" / "refs" / d / "instances.json").read_bytes())
    train = load_dataset("dataoptim", "ref3reg", data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))["train"]
    assert train["id"] == ["ref3reg_refcoco_10", "ref3reg_refcoco_11", "ref3reg_refcoco+_20", "ref3reg_refcocog_30"]
    assert train[1]["conversations"][1]["value"] == "girl in white"  # the refs' lower-case `sent`, as in Shikra's file
    assert train[1]["conversations"][0]["value"] in prompt_options("REG", "[0.0, 0.106, 0.827, 1.0]")


def test_box_out_of_range(tmp_path):
    lines = [dict(line) for line in LINES]
    lines[3]["bbox"] = [385.53, 60.03, 640.6, 500.0]  # 74 px below a 426 px image
    with pytest.raises(BoxError) as info:
        build_from("ref3reg", {"REC_ref3_train.jsonl": "".join(json.dumps(l) + "\n" for l in lines)}, tmp_path)
    assert info.value.file.endswith("REC_ref3_train.jsonl") and (info.value.record, info.value.field) == (3, "bbox")
