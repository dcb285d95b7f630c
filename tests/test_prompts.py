"""DataOptim's prompts (DESIGN §4) and the reproducible choice."""

import subprocess
import sys
from collections import Counter

import pytest

from dataoptim import prompts
from builder_harness import example_records


def test_five_caption_instructions_as_dataoptim_wrote_them():
    assert prompts.CAPTION_INSTRUCTIONS == (
        "Describe the image as simply as possible with a sentence or phrase.",
        "Give a brief summary of what you see.",
        "Provide a short description of the image.",
        "Write a short description for the image.",
        "Briefly describe the content of the image.",
    )


def test_vqa_prompt_matches_real_record():
    example = example_records()["vqav2_524286005"]
    assert prompts.vqa_prompt("Is that a laptop?") == example["conversations"][0]["value"]


def test_mc_prompt_and_answer_match_real_aokvqa_record():
    example = example_records()["aokvqa_dQbC9HGBPG3RCvpPWE4cWG"]
    text = prompts.mc_prompt("Which player has the higher jersey number?", ["baserunner", "pitcher", "goalie", "quarterback"])
    assert text == example["conversations"][0]["value"]
    assert prompts.mc_answer(1) == example["conversations"][1]["value"] == "The correct option is B."
    with pytest.raises(ValueError, match="4 choices"):
        prompts.mc_prompt("q", ["a", "b"])


def test_stable_choice_is_a_function_of_id_and_seed_only():
    options = prompts.CAPTION_INSTRUCTIONS
    picks = [prompts.stable_choice(options, f"coco_{i}") for i in range(2000)]
    assert picks == [prompts.stable_choice(options, f"coco_{i}") for i in range(2000)]
    counts = Counter(picks)
    assert set(counts) == set(options) and min(counts.values()) > 300  # roughly uniform
    assert picks != [prompts.stable_choice(options, f"coco_{i}", seed=1) for i in range(2000)]
    # independent of the interpreter's hash seed
    code = "from dataoptim.prompts import stable_choice as s, CAPTION_INSTRUCTIONS as c; print(c.index(s(c, 'coco_0')))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert outs == {f"{options.index(picks[0])}\n"}
    with pytest.raises(ValueError):
        prompts.stable_choice([], "x")


def test_shikra_templates_shipped_with_placeholders():
    rec, reg = prompts.shikra_templates("REC"), prompts.shikra_templates("REG")
    assert (len(rec), len(reg)) == (54, 125)
    assert all("<expr>" in t and "<image>" in t for t in rec)
    assert all("<objs>" in t and "<image>" in t for t in reg)
    assert "Locate <expr> in <image> and provide its coordinates, please." in rec
    with pytest.raises(ValueError, match="no Shikra template"):
        prompts.shikra_templates("nope")
