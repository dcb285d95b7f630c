"""The CLI frame: `dataoptim sources`, exit codes, one-line errors."""

import subprocess
import sys

from dataoptim.catalog import POOL_SIZE, SOURCES
from dataoptim.cli import main


def test_sources_table_lists_all_14(capsys):
    assert main(["sources"]) == 0
    out = capsys.readouterr().out
    for source in SOURCES.values():
        assert source.name in out and f"{source.qas:,}" in out
    assert f"{POOL_SIZE:,}" in out and "ready" in out
    assert len(SOURCES) == 14 and POOL_SIZE == 6_362_012


def test_console_script_usage_error_exits_2():
    proc = subprocess.run([sys.executable, "-m", "dataoptim", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode == 2 and "No such command" in proc.stderr


def test_help_runs_and_does_not_import_torch_or_datasets():
    code = "import sys; from dataoptim.cli import main; main(['--help']); print('torch' in sys.modules, 'datasets' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().endswith("False False"), proc.stdout + proc.stderr
