"""svit: DataOptim's ``svit_conversation_0``, ``svit_detail_0``, ``svit_complex_0``, ``svit_referring_0``; parts; the converted layout; bad input.

The four SVIT files under ``svit/`` are reconstructed (tests/fixtures/PROVENANCE.md): no copy of the
real files was found; the layout (``image_id``, ``conversations[].content[]``, speakers ``user``/``gpt``)
is the one SVIT's own ``tools/expand_to_square.py`` reads. The first conversation of each file is
rebuilt from DataOptim's record for Visual Genome image 1 (``<image>\\n`` removed, ``human`` written
as ``user``; in the referring QA the objects are marked ``<st>…<ed>`` as SVIT's prompt asks);
the other conversations and image ``9000000004`` are written for the test. Those four records are
the first of their part, so the builder gives them their real ids; texts are compared exactly.
"""

import pytest

from builder_harness import BuilderCase, build_from, check_case, example_records, fixture_json
from dataoptim.errors import InputError, MissingFileError, RecordError

EXAMPLES = example_records()
FILES = {name: f"svit/{name}" for name in ("conversation.json", "complex_reasoning.json", "detail_description.json", "referring_qa.json")}
FIRSTS = ("svit_conversation_0", "svit_detail_0", "svit_complex_0", "svit_referring_0")


def test_svit_reproduces_dataoptims_first_records(tmp_path):
    case = BuilderCase(
        config="svit",
        files=FILES,
        split_sizes={"train": 8},
        golden={rid: {**EXAMPLES[rid], "source": "svit", "task": "instruct", "image_id": "1"} for rid in FIRSTS},
    )
    ds = check_case(case, tmp_path)
    assert ds["train"]["id"] == ["svit_conversation_0", "svit_conversation_1", "svit_conversation_2", "svit_complex_0", "svit_complex_1",
                                 "svit_detail_0", "svit_referring_0", "svit_referring_1"]
    assert ds["train"][2]["image"] == "visual_genome/9000000004.jpg"


@pytest.mark.parametrize("part,size", [("conversation", 3), ("complex", 2), ("detail", 1), ("referring", 2)])
def test_each_part_alone(tmp_path, part, size):
    name = {"conversation": "conversation.json", "complex": "complex_reasoning.json", "detail": "detail_description.json", "referring": "referring_qa.json"}[part]
    ds = check_case(BuilderCase(config=f"svit_{part}", files={name: FILES[name]}, split_sizes={"train": size},
                                golden={f"svit_{part}_0": EXAMPLES[f"svit_{part}_0"]}), tmp_path)
    assert all(i.startswith(f"svit_{part}_") for i in ds["train"]["id"])


def test_converted_layout_and_parts_of_it(tmp_path):
    golden = {rid: EXAMPLES[rid] for rid in FIRSTS}
    check_case(BuilderCase(config="svit", files={"svit.json": "svit/svit.json", **FILES}, split_sizes={"train": 4}, golden=golden), tmp_path / "all")
    ds = check_case(BuilderCase(config="svit_referring", files={"svit.json": "svit/svit.json"}, split_sizes={"train": 1}, golden={"svit_referring_0": EXAMPLES["svit_referring_0"]}), tmp_path / "ref")
    assert ds["train"]["id"] == ["svit_referring_0"]


def test_all_needs_every_part(tmp_path):
    files = {name: fixture_json(path) for name, path in FILES.items() if name != "referring_qa.json"}
    with pytest.raises(MissingFileError) as info:
        build_from("svit", files, tmp_path)
    assert "referring_qa.json" in str(info.value) and "BAAI/SVIT" in str(info.value)


def test_wrong_layout_missing_field_unknown_speaker(tmp_path):
    with pytest.raises(InputError, match="must hold a list") as info:
        build_from("svit_detail", {"detail_description.json": {"1": fixture_json(FILES["detail_description.json"])}}, tmp_path / "a")
    assert info.value.file.endswith("detail_description.json")
    entries = fixture_json(FILES["conversation.json"])
    del entries[1]["image_id"]
    with pytest.raises(InputError) as info:
        build_from("svit_conversation", {"conversation.json": entries}, tmp_path / "b")
    assert info.value.file.endswith("conversation.json") and (info.value.record, info.value.field) == (1, "[1].image_id")
    entries = fixture_json(FILES["complex_reasoning.json"])
    entries[0]["conversations"][1]["content"][1]["from"] = "assistant"
    with pytest.raises(InputError, match="speaker must be one of") as info:
        build_from("svit_complex", {"complex_reasoning.json": entries}, tmp_path / "c")
    assert (info.value.record, info.value.field) == (0, "[0]")
    entries = fixture_json(FILES["referring_qa.json"])
    entries[0]["conversations"][0]["content"][1]["value"] = "<image> is here"
    with pytest.raises(RecordError, match="only in the first human turn"):
        build_from("svit_referring", {"referring_qa.json": entries}, tmp_path / "d")
