"""ref3rec: DataOptim's ``ref3rec_287603``, Shikra's line file, sub-configs, the refs pickles (safely), the converted layout, bad input.

``ref3/REC_ref3_train.jsonl`` is reconstructed (tests/fixtures/PROVENANCE.md): no copy of Shikra's
file was found. Line 0 is rebuilt from DataOptim's ``ref3rec_287603``/``ref3reg_287603`` (image,
expression, normalised box); its pixel box and image size (640×480) are not known and were chosen to
give the example's box. Line 1 is the one real line quoted in public code; lines 2–3 are written for
the test (line 3 overhangs the image border by 0.6 px, to test clamping). The refs pickles are made
at test time from ``ref3/refs/*/refs.json`` (synthetic) with ``pickle.dumps``.

DataOptim's record is line 287,603 of the real file, so a 4-line fixture cannot give it that id:
the pure function is tested at index 287603 directly, and the builder on the small file, where the
same line is ``ref3rec_0``. The prompt is a reproducible pick among Shikra's 54 REC templates, so
the human turn must be one of them filled with the expression; the rest is exact.
"""

import json
import os
import pickle

import pytest

from builder_harness import FIXTURES, BuilderCase, assert_record_matches, build_from, check_case, example_records
from dataoptim.boxes import BoxError
from dataoptim.builders.ref3rec import line_to_record, load_refs, match_template, prompt_options
from dataoptim.errors import ConfigError, InputError, MissingFileError, UnsafeInputError

EXAMPLE = example_records()["ref3rec_287603"]
LINES = [json.loads(line) for line in (FIXTURES / "ref3" / "REC_ref3_train.jsonl").read_text().splitlines()]
FILES = {"REC_ref3_train.jsonl": "ref3/REC_ref3_train.jsonl"}


def rec_choices(expected_turn: str) -> list[str]:
    """Allowed human turns: every REC template filled with the expression the expected turn holds."""
    expression = match_template(expected_turn, "REC")
    assert expression is not None, f"not a Shikra REC prompt: {expected_turn!r}"
    return prompt_options("REC", expression)


def rec(rid, image, expression, box_text, **native):
    turns = [{"from": "human", "value": f"Where is {expression} <image>?"}, {"from": "gpt", "value": f"{box_text}."}]
    return {"id": rid, "image": image, "conversations": turns, "source": "ref3rec", "task": "rec", **native}


def test_line_287603_is_dataoptims_record():
    got = line_to_record("REC", LINES[0], record_id="ref3rec_287603")
    assert_record_matches(got, EXAMPLE, rec_choices)
    assert EXAMPLE["conversations"][0]["value"] in rec_choices(EXAMPLE["conversations"][0]["value"])
    assert len(rec_choices(EXAMPLE["conversations"][0]["value"])) == 54
    assert got == line_to_record("REC", LINES[0], record_id="ref3rec_287603")  # the pick is reproducible


def test_ref3rec_from_shikra_file(tmp_path):
    case = BuilderCase(
        config="ref3rec",
        files=FILES,
        split_sizes={"train": 4},
        golden={
            "ref3rec_0": {**EXAMPLE, "id": "ref3rec_0", "task": "rec", "image_id": "544238", "width": 640, "height": 480},
            "ref3rec_1": rec("ref3rec_1", "coco/COCO_train2014_000000310289.jpg", "the giant doughnut with white icing and red , white , and blue sprinkles",
                             "[0.523, 0.621, 0.817, 0.938]", image_id="310289"),
            "ref3rec_3": rec("ref3rec_3", "coco/COCO_train2014_000000000025.jpg", "giraffe on right", "[0.602, 0.141, 1.0, 1.0]", width=640, height=426),
        },
        prompt_choices=rec_choices,
    )
    check_case(case, tmp_path)


@pytest.mark.parametrize("config,ids", [("ref3rec_refcoco", ["ref3rec_0", "ref3rec_3"]), ("ref3rec_refcoco+", ["ref3rec_2"]), ("ref3rec_refcocog", ["ref3rec_1"])])
def test_one_dataset_keeps_dataoptims_line_numbers(tmp_path, config, ids):
    ds = check_case(BuilderCase(config=config, files=FILES, split_sizes={"train": len(ids)}), tmp_path)
    assert ds["train"]["id"] == ids


def test_converted_layout(tmp_path):
    # ref3rec.json holds DataOptim's real record; with the converted file the prompt is DataOptim's own pick.
    check_case(BuilderCase(config="ref3rec", files={"ref3rec.json": "ref3/ref3rec.json", **FILES}, split_sizes={"train": 1}, golden={"ref3rec_287603": EXAMPLE}), tmp_path)
    with pytest.raises(ConfigError, match="layout='original'"):
        build_from("ref3rec_refcoco", {"ref3rec.json": [EXAMPLE]}, tmp_path / "sub", layout="converted")


def refs_dir(root, datasets=("refcoco", "refcoco+", "refcocog"), refs_bytes=None):
    """A data folder in lichengunc/refer's layout, the pickles made from the JSON fixtures."""
    names = {"refcoco": "refs(unc).p", "refcoco+": "refs(unc).p", "refcocog": "refs(umd).p"}
    for d in datasets:
        folder = root / d
        folder.mkdir(parents=True)
        refs = json.loads((FIXTURES / "ref3" / "refs" / d / "refs.json").read_text())
        (folder / names[d]).write_bytes(refs_bytes if refs_bytes is not None else pickle.dumps(refs, protocol=2))
        (folder / "instances.json").write_bytes((FIXTURES / "ref3" / "refs" / d / "instances.json").read_bytes())
    return root


def test_refs_pickles_give_the_train_expressions(tmp_path):
    from datasets import load_dataset

    ds = load_dataset("dataoptim", "ref3rec", data_dir=str(refs_dir(tmp_path / "data")), cache_dir=str(tmp_path / "cache"))
    train = ds["train"]
    # the testA ref of RefCOCO is left out; ids name dataset and sentence, never a Shikra line number
    assert train["id"] == ["ref3rec_refcoco_10", "ref3rec_refcoco_11", "ref3rec_refcoco+_20", "ref3rec_refcocog_30"]
    first = train[0]
    assert first["conversations"][1]["value"] == "[0.0, 0.106, 0.827, 1.0]." and first["question_id"] == "10"
    assert first["conversations"][0]["value"] in prompt_options("REC", "a girl baseball player")
    assert train[3]["conversations"][1]["value"] == "[0.523, 0.621, 0.817, 0.938]."
    only = load_dataset("dataoptim", "ref3rec_refcocog", data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache2"))
    assert only["train"]["id"] == ["ref3rec_refcocog_30"]


class _OpensAFile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


class _CallsSystem:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("payload", [_OpensAFile, _CallsSystem])
def test_a_pickle_carrying_a_callable_is_refused_and_nothing_runs(tmp_path, payload):
    from datasets import load_dataset

    control = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(str(control)), protocol=2))  # the payload is live: a plain unpickler runs it
    assert control.exists()
    target = tmp_path / "pwned"
    evil = pickle.dumps([{"ref_id": 0, "sentences": [payload(str(target))]}], protocol=2)
    (tmp_path / "evil.p").write_bytes(evil)
    with pytest.raises(UnsafeInputError, match="refused without running anything") as info:
        load_refs(tmp_path / "evil.p")
    assert info.value.file.endswith("evil.p") and ("open" in str(info.value) or "system" in str(info.value))
    assert not target.exists()
    # the same through load_dataset: the builder stops with the same error, and still nothing ran
    with pytest.raises(UnsafeInputError):
        load_dataset("dataoptim", "ref3rec_refcoco", data_dir=str(refs_dir(tmp_path / "data", ("refcoco",), evil)), cache_dir=str(tmp_path / "cache"))
    assert not target.exists()


def test_refs_pickle_of_the_wrong_shape(tmp_path):
    (tmp_path / "a.p").write_bytes(pickle.dumps({"refs": []}, protocol=2))
    with pytest.raises(InputError, match="list of refs"):
        load_refs(tmp_path / "a.p")
    (tmp_path / "b.p").write_bytes(pickle.dumps([{"ref_id": 1}], protocol=2)[:-5])
    with pytest.raises(InputError, match="not a readable refs pickle"):
        load_refs(tmp_path / "b.p")


def jsonl(lines):
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_missing_file_names_both_ways_to_get_it(tmp_path):
    with pytest.raises(MissingFileError) as info:
        build_from("ref3rec", {"notes.txt": "nothing"}, tmp_path)
    message = str(info.value)
    assert "REC_ref3_train.jsonl" in message and "refs(unc).p" in message and "shikras/shikra" in message


def test_wrong_layout(tmp_path):
    with pytest.raises(InputError) as info:
        build_from("ref3rec", {"REC_ref3_train.jsonl": json.dumps(LINES)}, tmp_path)  # one JSON list, not one object a line
    assert info.value.file.endswith("REC_ref3_train.jsonl") and info.value.record == 0 and "JSON object" in str(info.value)


def test_missing_field(tmp_path):
    lines = [dict(line) for line in LINES]
    del lines[2]["bbox"]
    with pytest.raises(InputError) as info:
        build_from("ref3rec", {"REC_ref3_train.jsonl": jsonl(lines)}, tmp_path)
    assert info.value.file.endswith("REC_ref3_train.jsonl") and (info.value.record, info.value.field) == (2, "lines[2].bbox")


def test_box_out_of_range(tmp_path):
    lines = [dict(line) for line in LINES]
    lines[1]["bbox"] = [334.72, 298.08, 900.0, 450.24]
    with pytest.raises(BoxError) as info:
        build_from("ref3rec", {"REC_ref3_train.jsonl": jsonl(lines)}, tmp_path)
    assert info.value.file.endswith("REC_ref3_train.jsonl") and (info.value.record, info.value.field) == (1, "bbox")
    assert "outside the 640x480 image" in str(info.value)
