"""The CLI frame: `dataoptim sources`, exit codes, one-line errors."""

import subprocess
import sys

from dataoptim.catalog import POOL_SIZE, SOURCES
from dataoptim.cli import main


def test_sources_table_lists_all_20_datasets(capsys):
    """The 20 datasets of DataOptim's README (BAAI-DCAI/DataOptim c50a7c6) as 21 sources (ref3rec, ref3reg), counts and folders."""
    from dataoptim.catalog import CHALLENGE_POOL_SIZE

    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    for source in SOURCES.values():
        assert source.name in out and f"{source.qas:,}" in out
        assert all(f"{folder}/" in out for folder in source.folders)
    assert f"{POOL_SIZE:,}" in out and "ready" in out
    # the README's per-source counts add up to 10,970,768 (its "11.2M" counts ref3's 287,604 twice)
    assert len(SOURCES) == 21 and POOL_SIZE == 10_970_768 and CHALLENGE_POOL_SIZE == 6_362_012
    assert POOL_SIZE + 287_604 - 25_114 == 11_233_258  # the total when the README said 11.2M (before TextOCR-GPT4V)
    assert SOURCES["llava_v1.5"].box_frame == "padded" and SOURCES["ref3rec"].box_frame == "original"
    assert SOURCES["coco"].box_frame is None


def test_console_script_usage_error_exits_2():
    proc = subprocess.run([sys.executable, "-m", "dataoptim", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_help_runs_and_does_not_import_torch_or_datasets():
    code = "import sys; from dataoptim.cli import main; main(['--help']); print('torch' in sys.modules, 'datasets' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("False False"), proc.stdout + proc.stderr


def test_failing_command_off_a_terminal_prints_one_line_not_progress_bars(tmp_path):
    """datasets draws a bar per split even into a pipe; off a terminal the CLI turns them off."""
    import json
    import os

    data = tmp_path / "data"
    data.mkdir()
    entry = {"imageURL": "x", "questions": ["q?"], "answers": ["a"], "split": "1"}  # split must be an int
    (data / "dataset.json").write_text(json.dumps({"k1": entry}))
    env = {k: v for k, v in os.environ.items() if k not in ("HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS")}
    env["HF_HOME"] = str(tmp_path / "hf")
    proc = subprocess.run(
        [sys.executable, "-m", "dataoptim", "pool", "build", "--data-dir", str(data), "--output", str(tmp_path / "pool"), "--sources", "ocrvqa"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {data / 'dataset.json'}: record 0, field 'k1': malformed annotation ('split' must be 1 (train), 2 (val) or 3 (test), found '1')"
    ], proc.stderr
    assert not (tmp_path / "pool").exists()


def test_multi_line_error_is_printed_on_one_line(capsys, monkeypatch):
    import typer

    from dataoptim import cli
    from dataoptim.errors import InputError

    def boom():
        raise InputError("first line\nsecond   line", file="f.json")

    probe = typer.Typer()
    probe.command()(boom)
    monkeypatch.setattr(cli, "app", probe)
    assert main([]) == 2
    assert capsys.readouterr().err == "error: f.json: first line second line\n"


def test_progress_bars_are_off_during_a_command_and_restored_after(capsys, monkeypatch):
    import importlib
    import os

    import typer

    from dataoptim import cli

    bars = importlib.import_module("datasets.utils.tqdm")
    monkeypatch.delenv("HF_DATASETS_DISABLE_PROGRESS_BARS", raising=False)
    if bars.HF_DATASETS_DISABLE_PROGRESS_BARS is not None:
        return  # set by the environment for the whole process: nothing to switch
    bars.enable_progress_bars()
    seen = []

    def probe():
        seen.append((bars.are_progress_bars_disabled(), os.environ.get("HF_DATASETS_DISABLE_PROGRESS_BARS")))

    app = typer.Typer()
    app.command()(probe)
    monkeypatch.setattr(cli, "app", app)
    assert main([]) == 0
    assert seen == [(True, "1")]  # capsys: stderr is not a terminal
    assert not bars.are_progress_bars_disabled() and "HF_DATASETS_DISABLE_PROGRESS_BARS" not in os.environ
