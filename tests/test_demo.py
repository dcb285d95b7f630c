"""``dataoptim demo`` end to end on the shipped samples (issue 7)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dataoptim.demo import run_demo
from dataoptim.samples import samples_dir

FIXTURES = Path(__file__).parent / "fixtures"

# Records each config builds from the shipped samples, per split.
EXPECTED_COUNTS = {
    "coco": {"train": 1, "validation": 106},
    "flickr30k": {"train": 10, "validation": 5, "test": 5},
    "textcaps": {"train": 10, "validation": 2},
    "vqav2": {"train": 4, "validation": 20},
    "okvqa": {"train": 3, "validation": 2},
    "ocrvqa": {"train": 6, "validation": 2, "test": 1},
    "gqa": {"train": 2, "testdev": 1},
    "textvqa": {"train": 5, "validation": 5},
    "aokvqa": {"train": 2, "validation": 1},
    "ref3rec": {"train": 4},
    "ref3reg": {"train": 4},
    "shikra": {"train": 2},
    "llava": {"train": 3},
    "svit": {"train": 8},
    "textocrgpt4v": {"train": 3},
    "scienceqa": {"train": 2, "validation": 1, "test": 2},
    "vgqa": {"train": 3},
    "docvqa": {"train": 2, "validation": 1},
    "dvqa": {"train": 3, "validation_easy": 1, "validation_hard": 1},
    "sharegpt4v": {"train": 3},
    "llava_v1.5": {"train": 6},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    lines: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo"), train_steps=2, say=lines.append)
    return result, lines


def test_demo_builds_every_source_from_the_samples(demo):
    result, lines = demo
    assert result.counts == EXPECTED_COUNTS
    assert any(line.startswith("[build] 242 records from the shipped samples of 21 sources") for line in lines)


def test_demo_selects_exactly_the_official_example_ids(demo):
    result, _ = demo
    wanted = [line.strip() for line in (FIXTURES / "examples" / "example-standard.txt").read_text().splitlines() if line.strip()]
    assert result.standard_ids == wanted
    exported = json.loads((result.output / "selection-standard.json").read_text())
    examples = json.loads((FIXTURES / "examples" / "example-byod.json").read_text())
    assert exported == examples  # the real DataOptim records, in the id file's order


def test_demo_mixture_training_and_scores(demo):
    result, _ = demo
    assert sum(result.mixture.values()) == 40 and result.pool_size == 92
    train = json.loads((result.output / "train.json").read_text())
    assert len(train) == 40 and all(set(r) == {"id", "image", "conversations"} for r in train)
    assert result.byod_records == 17
    assert len(result.losses) == 2 and all(math.isfinite(x) for x in result.losses)
    # each held-out source is scored by its benchmark's own scorer (issue 15): TextVQA and A-OKVQA have their own
    assert set(result.scores) == {"vqa", "textvqa", "gqa", "aokvqa", "caption"}
    assert all(math.isfinite(m[m["headline"]]) for m in result.scores.values())
    saved = json.loads((result.output / "eval" / "scores.json").read_text())
    protocol = saved.pop("protocol")  # how the answers were generated: the trained checkpoint's own settings
    assert saved == result.scores
    assert protocol["name"] == "default" and protocol["training_settings"].endswith("trained_with.json")
    # GQA held-out: GQA's exact match against the short answer of the sample's question file (testdev 201307251:
    # answer "no", fullAnswer "No, it is clear."), not against the record's sentence, which no short answer matches
    benchmark = [json.loads(line) for line in (result.output / "eval" / "benchmark.jsonl").read_text().splitlines()]
    [gqa] = [item for item in benchmark if item["task"] == "gqa"]
    assert (gqa["question_id"], gqa["answer"], gqa["full_answer"]) == ("gqa_testdev_201307251", "no", "No, it is clear.")
    report = (result.output / "report.md").read_text()
    assert "| coco | 1 | 106 |" in report and "composition.png" in report
    # one reference per held-out question: the scores are named for what they are (issue 12)
    assert "| vqa | 10 | held-out VQA exact match (1 reference; not VQAv2's 10-answer VQA accuracy) |" in report
    assert "| textvqa | 5 | held-out TextVQA exact match (1 reference; not TextVQA's 10-answer accuracy) |" in report
    assert "| caption | 12 | held-out CIDEr-D against 1 reference caption" in report and "| metric |" not in report
    assert (result.output / "composition.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shipped_samples_are_the_test_fixtures():
    """Every shipped sample file is byte-identical to a fixture of the same name (one source of truth, with provenance)."""
    shipped = [p for p in samples_dir().rglob("*") if p.is_file() and p.name != "PROVENANCE.md"]
    assert len(shipped) == 43
    fixtures: dict[str, set[bytes]] = {}
    for path in FIXTURES.rglob("*"):
        if path.is_file():
            fixtures.setdefault(path.name, set()).add(path.read_bytes())
    for path in shipped:
        assert path.read_bytes() in fixtures.get(path.name, set()), path
    assert (samples_dir() / "PROVENANCE.md").is_file()


def test_demo_cli_help():
    proc = subprocess.run([sys.executable, "-m", "dataoptim", "demo", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "--output" in proc.stdout


def test_readme_api_block_runs_on_the_demo_outputs(demo, tmp_path, monkeypatch):
    """The README's "API in ten lines" runs as printed, next to a demo output folder."""
    result, _ = demo
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    code = readme.split("## The API in ten lines")[1].split("```python")[1].split("```")[0]
    (tmp_path / "demo-output").symlink_to(result.output)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README, in a test
    exported = json.loads((tmp_path / "train.json").read_text())
    assert [r["id"] for r in exported[:17]] == result.standard_ids
    assert len(exported) == 17 + len([i for i in namespace["mix"].ids() if i not in result.standard_ids])
    assert namespace["gqa"]["train"][0]["id"].startswith("gqa_")


def test_the_pool_of_all_21_sources_selects_ids_of_each_new_source(demo, tmp_path):
    """The demo's pool holds all 21 sources from the shipped samples; ids of the seven later ones select and export (issue 13)."""
    from dataoptim.select import Pool

    result, _ = demo
    pool = Pool.open(result.output / "pool")
    assert [p.name for p in pool.parts] == list(__import__("dataoptim.catalog", fromlist=["SOURCES"]).SOURCES)
    wanted = ["textocrgpt4v_0", "scienceqa_3", "vgqa_986768", "docvqa_337", "dvqa_2", "sharegpt4v_0", "llava_v1.5_5", "llava_v1.5_2"]
    selection = pool.by_ids(wanted)
    summary = selection.to_llava_json(tmp_path / "new.json")
    exported = json.loads((tmp_path / "new.json").read_text())
    assert [r["id"] for r in exported] == wanted
    assert exported[6] == {"id": "llava_v1.5_5", "conversations": exported[6]["conversations"]}  # text-only: no image key
    assert [r.get("image") for r in exported[:4]] == ["open_images/a4ea732cd3d5948a.jpg", "scienceqa/3/image.png", "visual_genome/1.jpg", "docvqa/xnbl0037_1.png"]
    assert summary.text_only == 1 and summary.by_task == {"caption": 1, "mcvqa": 1, "vqa": 3, "instruct": 1, "mixed": 2}
    assert selection.box_frames() == {"llava_v1.5": "padded"}
    # mixtures know the new tasks and sources
    mix = pool.mix({"mixed": 0.5, "mcvqa": 0.5}, budget=6, seed=0, by="task")
    assert sum(mix.source_counts().values()) == 6 and set(mix.source_counts()) <= {"aokvqa", "scienceqa", "llava_v1.5"}
    assert pool.mix({"dvqa": 1.0}, budget=3, seed=0).ids() and set(pool.mix({"dvqa": 1.0}, budget=3, seed=0).source_counts()) == {"dvqa"}
