"""scienceqa (ScienceQA problems with an image): golden records, three splits, M3IT's instruction file, bad input.

``scienceqa/problems.json``: test problems 4, 11 and 23 are transcribed from LLaVA's ScienceQA test file
(``shared/real/scienceqa_llava``: question, choices, answer letter, hint); train problems 1-3 and validation
problem 6 are written for the test (PROVENANCE.md). M3IT's instructions could not be found; the prompt
layout and ids are this library's (unverified against DataOptim's scienceqa.json).
"""

import json

import pytest

from builder_harness import BuilderCase, build_from, check_case, fixture_json
from dataoptim.builders.scienceqa import human_turn, problem_to_record, stand_in_instructions
from dataoptim.errors import InputError

FILES = {"problems.json": "scienceqa/problems.json", "pid_splits.json": "scienceqa/pid_splits.json"}
PROBLEMS = fixture_json(FILES["problems.json"])


def allowed(expected: str) -> list[str]:
    """The golden human turn with each stand-in instruction in its second line."""
    head, _, rest = expected.partition("\n")
    return [f"{head}\n{i}\n{rest.split(chr(10), 1)[1]}" for i in stand_in_instructions()]


def test_pure_functions():
    turn = human_turn(PROBLEMS["23"], "INSTRUCTION")
    assert turn == (
        "<image>\nINSTRUCTION\nContext: " + PROBLEMS["23"]["hint"] + "\nQuestion: Which of these organisms contains matter that was once part "
        "of the lichen?\nOptions: (A) bilberry (B) mushroom"
    )
    record = problem_to_record("11", PROBLEMS["11"], record_id="scienceqa_test_11", instructions=["I."])
    assert record["conversations"] == [
        {"from": "human", "value": "<image>\nI.\nQuestion: What is the name of the colony shown?\nOptions: (A) Maryland (B) New Hampshire (C) Rhode Island (D) Vermont"},
        {"from": "gpt", "value": "The correct option is B."},  # LLaVA's test file: answer "B"
    ]
    assert (record["image"], record["task"], record["question_id"]) == ("scienceqa/11/image.png", "mcvqa", "11")


def test_scienceqa_builder_keeps_problems_with_an_image(tmp_path):
    check_case(BuilderCase(
        config="scienceqa", files=FILES, split_sizes={"train": 2, "validation": 1, "test": 2}, prompt_choices=allowed,
        golden={
            "scienceqa_1": {"image": "scienceqa/1/image.png", "conversations": [
                {"from": "human", "value": "<image>\nX\nQuestion: Which of these states is farthest north?\nOptions: (A) West Virginia (B) Louisiana (C) Arizona (D) Oklahoma"},
                {"from": "gpt", "value": "The correct option is A."}]},
            "scienceqa_validation_6": {"image": "scienceqa/6/image.png", "conversations": [
                {"from": "human", "value": "<image>\nX\nContext: Select the best answer.\nQuestion: Which material is this spatula made of?\nOptions: (A) rubber (B) cotton"},
                {"from": "gpt", "value": "The correct option is A."}]},
        },
    ), tmp_path)


def test_m3it_instruction_file_is_used_when_present(tmp_path):
    files = {k: fixture_json(v) for k, v in FILES.items()}
    ds = build_from("scienceqa", {**files, "instructions.json": ["Only this instruction."]}, tmp_path / "a")
    assert all(r["conversations"][0]["value"].split("\n")[1] == "Only this instruction." for r in ds["train"])
    with pytest.raises(InputError, match="non-empty JSON list") as info:
        build_from("scienceqa", {**files, "instructions.json": {"a": 1}}, tmp_path / "b")
    assert info.value.file.endswith("instructions.json")


def test_converted_layout_passes_through(tmp_path):
    record = {"id": "scienceqa_1", "image": "scienceqa/1/image.png", "conversations": [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": "A"}]}
    assert build_from("scienceqa", {"scienceqa.json": [record]}, tmp_path)["train"]["id"] == ["scienceqa_1"]


def test_bad_input_is_located(tmp_path):
    problems, splits = fixture_json(FILES["problems.json"]), fixture_json(FILES["pid_splits.json"])
    problems["3"]["answer"] = 5
    with pytest.raises(InputError) as info:
        build_from("scienceqa", {"problems.json": problems, "pid_splits.json": splits}, tmp_path / "a")
    assert info.value.file.endswith("problems.json") and (info.value.record, info.value.field) == (2, "3")
    problems = fixture_json(FILES["problems.json"])
    splits["train"].append("999")
    with pytest.raises(InputError, match="not in problems.json \\(first: '999'\\)") as info:
        build_from("scienceqa", {"problems.json": problems, "pid_splits.json": splits}, tmp_path / "b")
    assert info.value.file.endswith("pid_splits.json") and info.value.field == "train"
    with pytest.raises(InputError, match="list of problem ids"):
        build_from("scienceqa", {"problems.json": problems, "pid_splits.json": {"train": "1"}}, tmp_path / "c")
