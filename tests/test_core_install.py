"""The core install (no extras) as a new user has it: a missing extra is one line naming it (issue 12, point 1).

A real virtual environment is made with ``pip install -e <repo>`` and no
extras (no torch, transformers, accelerate or pycocoevalcap; about 50 s on
the project's machines, from the local package index), and each command is
run as a user would run it: ``demo``, ``train`` and ``evaluate`` must say
``pip install "dataoptim[train]"``, ``score`` of caption questions
``pip install "dataoptim[eval]"``, in one line, exit 2, before any work (the
demo writes nothing); what needs no extra still works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp("core") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


def _run(venv, *argv, cwd):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(venv / "bin" / "dataoptim"), *map(str, argv)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_core_install_has_no_extras(core_venv):
    code = "import importlib.util as u; print([m for m in ('torch', 'transformers', 'accelerate', 'pycocoevalcap') if u.find_spec(m)])"
    done = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_missing_extra_is_one_line_naming_it(core_venv, tmp_path):
    from PIL import Image

    (tmp_path / "images" / "coco").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "coco" / "0.jpg")
    record = {"id": "coco_0", "image": "coco/0.jpg", "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "A cat."}]}
    (tmp_path / "sel.json").write_text(json.dumps([record]))
    (tmp_path / "vqa.jsonl").write_text(json.dumps({"question_id": "q1", "text": "What?", "task": "vqa", "answers": ["cat"]}) + "\n")
    (tmp_path / "caption.jsonl").write_text(json.dumps({"question_id": "c1", "text": "Describe.", "task": "caption", "answers": ["a cat"]}) + "\n")
    (tmp_path / "pred-vqa.jsonl").write_text(json.dumps({"question_id": "q1", "text": "cat"}) + "\n")
    (tmp_path / "pred-caption.jsonl").write_text(json.dumps({"question_id": "c1", "text": "a cat"}) + "\n")
    train = 'pip install "dataoptim[train]"'
    cases = [
        (["demo", "--output", "demo-output"], "the demo (it trains and evaluates a tiny model) needs the 'train' extra", train),
        (["train", "--data", "sel.json", "--image-folder", "images", "--output-dir", "out"], "dataoptim train --backend hf needs the 'train' extra", train),
        (["evaluate", "--model", "tiny", "--benchmark", "vqa.jsonl", "--output", "eval"], "dataoptim evaluate needs the 'train' extra", train),
        (["score", "--predictions", "pred-caption.jsonl", "--benchmark", "caption.jsonl"], "CIDEr (the benchmark has caption questions) needs the 'eval' extra",
         'pip install "dataoptim[eval]"'),
    ]
    for argv, what, fix in cases:
        done = _run(core_venv, *argv, cwd=tmp_path)
        lines = done.stderr.splitlines()
        assert done.returncode == 2 and len(lines) == 1, (argv, done.returncode, done.stderr[-3000:])
        assert lines[0].startswith(f"error: {what} (") and lines[0].endswith(f"not installed): {fix}"), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["images", "sel.json", "vqa.jsonl", "caption.jsonl", "pred-vqa.jsonl", "pred-caption.jsonl"]), "a command wrote something"


def test_what_needs_no_extra_still_works(core_venv, tmp_path):
    (tmp_path / "vqa.jsonl").write_text(json.dumps({"question_id": "q1", "text": "What?", "task": "vqa", "answers": ["cat"]}) + "\n")
    (tmp_path / "pred.jsonl").write_text(json.dumps({"question_id": "q1", "text": "cat"}) + "\n")
    done = _run(core_venv, "score", "--predictions", "pred.jsonl", "--benchmark", "vqa.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["vqa"]["n"] == 1
    done = _run(core_venv, "train", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "[llava]" in done.stdout


def test_the_python_api_names_the_extra_too(core_venv, tmp_path):
    code = (
        "from dataoptim.errors import MissingExtraError\n"
        "from dataoptim.train import train\n"
        "try:\n    train('sel.json', 'images', 'out')\n"
        "except MissingExtraError as exc:\n    print(exc.name, '|', exc)\n"
    )
    done = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == (
        "torch | train(backend='hf') needs the 'train' extra (torch, transformers, accelerate are not installed): "
        'pip install "dataoptim[train]"'
    )
