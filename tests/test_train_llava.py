"""Backend llava: the exact recipe command, the files it writes, image and checkout checks."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.cli import main
from dataoptim.errors import ConfigError, MissingFileError
from dataoptim.train.llava import LlavaCommitWarning, check_llava_repo, prepare_llava

# DESIGN §8 and DataOptim's README training script, written out independently of recipe.py.
RECIPE = {
    "version": "llava_llama_2",
    "vision_tower": "openai/clip-vit-large-patch14",
    "mm_vision_select_layer": "-2",
    "mm_use_im_start_end": "False",
    "mm_use_im_patch_token": "False",
    "image_aspect_ratio": "pad",
    "bf16": "True",
    "num_train_epochs": "1",
    "per_device_train_batch_size": "16",
    "per_device_eval_batch_size": "4",
    "gradient_accumulation_steps": "1",
    "evaluation_strategy": "no",
    "save_strategy": "steps",
    "save_steps": "50000",
    "save_total_limit": "1",
    "learning_rate": "2e-5",
    "weight_decay": "0.",
    "warmup_ratio": "0.03",
    "lr_scheduler_type": "cosine",
    "logging_steps": "1",
    "tf32": "True",
    "model_max_length": "2048",
    "gradient_checkpointing": "True",
    "dataloader_num_workers": "4",
    "lazy_preprocess": "True",
    "report_to": "wandb",
}
pytestmark = pytest.mark.filterwarnings("ignore::dataoptim.train.llava.LlavaCommitWarning")

PATH_FLAGS = ("deepspeed", "model_name_or_path", "data_path", "image_folder", "pretrain_mm_mlp_adapter", "output_dir")


def _setup(tmp_path, n=3, missing=()):
    from PIL import Image

    images = tmp_path / "images"
    (images / "coco").mkdir(parents=True)
    records = []
    for i in range(n):
        if i not in missing:
            Image.new("RGB", (12, 8), (i * 50, 0, 0)).save(images / "coco" / f"{i}.jpg")
        records.append({
            "id": f"coco_{i}", "image": f"coco/{i}.jpg",
            "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": f"thing {i}"}],
        })
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(records))
    repo = tmp_path / "LLaVA"
    (repo / "llava" / "train").mkdir(parents=True)
    (repo / "llava" / "train" / "train_mem.py").write_text("# stub\n")
    adapter = tmp_path / "mm_projector.bin"
    adapter.write_bytes(b"stub")
    base = tmp_path / "Llama-2-7b-chat-hf"
    base.mkdir()
    return data, images, repo, adapter, base, records


def _argv(tmp_path, data, images, repo, adapter, base, *more):
    return [
        "train", "--backend", "llava", "--data", str(data), "--image-folder", str(images), "--llava-repo", str(repo),
        "--model-name-or-path", str(base), "--pretrain-mm-mlp-adapter", str(adapter),
        "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *more,
    ]


def _parse_command(text):
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    argv = shlex.split(" ".join(ln.rstrip("\\").strip() for ln in lines))
    assert argv[:2] == ["deepspeed", "llava/train/train_mem.py"], argv[:3]
    flags = argv[2:]
    assert all(f.startswith("--") for f in flags[0::2])
    names = [f[2:] for f in flags[0::2]]
    assert len(names) == len(set(names)), "a flag is repeated"
    return dict(zip(names, flags[1::2])), names


def test_dry_run_matches_recipe_flag_by_flag(tmp_path, capsys):
    data, images, repo, adapter, base, _ = _setup(tmp_path)
    assert main(_argv(tmp_path, data, images, repo, adapter, base, "--dry-run")) == 0
    captured = capsys.readouterr()
    flags, names = _parse_command(captured.out)
    assert set(flags) == set(RECIPE) | set(PATH_FLAGS)
    for name, value in RECIPE.items():
        assert flags[name] == value, name
    out = tmp_path / "out"
    assert flags["output_dir"] == str(out.resolve())
    assert flags["model_name_or_path"] == str(base.resolve())
    assert flags["pretrain_mm_mlp_adapter"] == str(adapter.resolve())
    assert flags["image_folder"] == str(images.resolve())
    assert flags["data_path"] == str(out.resolve() / "llava_data.json")
    assert flags["deepspeed"] == str(out.resolve() / "zero3.json")
    # README order: deepspeed first, report_to last
    assert names[0] == "deepspeed" and names[-1] == "report_to"
    assert "would write data" in captured.out and "records: 3" in captured.out
    assert "cannot confirm LLaVA commit 744cb3e" in captured.err
    assert not out.exists()  # a dry run writes nothing


def test_overrides_only_when_asked(tmp_path, capsys):
    data, images, repo, adapter, base, _ = _setup(tmp_path)
    argv = _argv(tmp_path, data, images, repo, adapter, base, "--dry-run", "--num-gpus", "2", "--lora",
                 "--report-to", "none", "--extra", "mm_projector_lr=2e-5")
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[1].startswith("deepspeed --num_gpus 2 llava/train/train_mem.py")
    text = text.replace("--num_gpus 2 ", "")
    flags, _ = _parse_command(text)
    assert flags["lora_enable"] == "True" and flags["learning_rate"] == "2e-4"
    assert flags["report_to"] == "none" and flags["mm_projector_lr"] == "2e-5"
    changed = {k for k in RECIPE if flags[k] != RECIPE[k]}
    assert changed == {"learning_rate", "report_to"}
    # hf-only options are refused rather than silently ignored
    assert main(_argv(tmp_path, data, images, repo, adapter, base, "--dry-run", "--learning-rate", "1e-4")) == 2
    assert "apply to --backend hf only" in capsys.readouterr().err


def test_writes_data_config_and_script(tmp_path):
    data, images, repo, adapter, base, records = _setup(tmp_path)
    with pytest.warns(LlavaCommitWarning):
        run = prepare_llava(data, images, repo, base, adapter, tmp_path / "out", cache_dir=tmp_path / "cache")
    assert json.loads(run.files["data"].read_text()) == records
    zero = json.loads(run.files["deepspeed"].read_text())
    assert zero["zero_optimization"]["stage"] == 3
    assert zero["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    assert zero["bf16"] == {"enabled": "auto"} and zero["train_micro_batch_size_per_gpu"] == "auto"
    script = run.files["command"].read_text()
    assert script.startswith("#!/bin/sh") and "llava/train/train_mem.py" in script
    assert run.command[0] == "deepspeed" and run.cwd == repo.resolve()
    qrun = prepare_llava(data, images, repo, base, adapter, tmp_path / "q", qlora=True, dry_run=True, cache_dir=tmp_path / "cache")
    assert qrun.command[qrun.command.index("--deepspeed") + 1].endswith("zero2.json")
    assert qrun.command[qrun.command.index("--bits") + 1] == "4"


def test_missing_images_listed_before_launch(tmp_path, capsys):
    data, images, repo, adapter, base, _ = _setup(tmp_path, n=4, missing=(1, 3))
    assert main(_argv(tmp_path, data, images, repo, adapter, base, "--dry-run")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # progress bars may come before
    assert err.startswith("error: ")
    assert "2 records name image files missing" in err
    assert "coco/1.jpg (record 1, id 'coco_1')" in err and "coco/3.jpg (record 3, id 'coco_3')" in err
    with pytest.raises(MissingFileError, match="2 record"):
        prepare_llava(data, images, repo, base, adapter, tmp_path / "out", dry_run=True, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "out").exists()


def test_checkout_commit_is_checked(tmp_path):
    data, images, repo, adapter, base, _ = _setup(tmp_path)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-q", "-m", "stub"], check=True)
    with pytest.warns(LlavaCommitWarning, match="not 744cb3e"):
        commit = check_llava_repo(repo)
    assert len(commit) == 40
    with pytest.raises(MissingFileError, match="train_mem.py"):
        check_llava_repo(tmp_path / "images")
    # a plain folder inside another checkout is not taken for a LLaVA checkout
    inner = repo / "sub"
    (inner / "llava" / "train").mkdir(parents=True)
    (inner / "llava" / "train" / "train_mem.py").write_text("")
    with pytest.warns(LlavaCommitWarning, match="not a git checkout"):
        assert check_llava_repo(inner) is None


def test_missing_parts_are_errors(tmp_path, capsys):
    data, images, repo, adapter, base, _ = _setup(tmp_path)
    argv = _argv(tmp_path, data, images, repo, tmp_path / "nope.bin", base, "--dry-run")
    assert main(argv) == 2
    assert "mm_projector.bin" in capsys.readouterr().err
    argv = ["train", "--backend", "llava", "--data", str(data), "--image-folder", str(images), "--output-dir", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "needs --llava-repo" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        prepare_llava(data, images, repo, base, adapter, tmp_path / "o", lora=True, qlora=True, dry_run=True)


def test_repeated_samples_are_written_each_time(tmp_path):
    """LLaVA trains every entry of its JSON list: a repeated sample (same id, same content) is written each time."""
    from dataoptim.errors import RecordError

    data, images, repo, adapter, base, records = _setup(tmp_path)
    repeated = [records[0], records[1], records[0], records[2], records[0]]
    data.write_text(json.dumps(repeated))
    with pytest.warns(LlavaCommitWarning):
        run = prepare_llava(data, images, repo, base, adapter, tmp_path / "out", cache_dir=tmp_path / "cache")
    assert json.loads(run.files["data"].read_text()) == repeated and run.records == 5
    other = json.loads(json.dumps(records[0]))
    other["conversations"][1]["value"] = "something else"
    data.write_text(json.dumps([records[0], other]))
    with pytest.raises(RecordError, match="used by record 0 with other content") as info:
        prepare_llava(data, images, repo, base, adapter, tmp_path / "out2", dry_run=True, cache_dir=tmp_path / "cache")
    assert info.value.record == 1 and info.value.field == "id"
