"""Faults a fresh tester found with a new clone of main and the README (second round).

Each test failed before its fix: outputs that overwrite inputs (point 1), ``select`` leaving
its output behind when the tokenizer cannot be loaded (point 2), a constant ``where``
(point 3), ``validate --tokenizer`` silent on truncation (point 4), printed token sums and
"and N more" (point 5), and the small inconsistencies of point 6.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.cli import main
from dataoptim.errors import ConfigError
from test_select_support import example_data_dir

TOKENIZER = Path(__file__).parent / "fixtures" / "llama2-tokenizer"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from dataoptim.select import build_pool

    root = tmp_path_factory.mktemp("tester_pool")
    build_pool(example_data_dir(root), root / "pool", progress=False)
    return root / "pool"


def _error_lines(capsys) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


# ----------------------------------------------------------------------------------------------
# point 3: a constant where broadcasts to every record
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("condition, kept", [("TRUE", 17), ("1=1", 17), ("FALSE", 0), ("NULL", 0), ("1=0", 0)])
def test_constant_where_applies_to_every_record(pool, condition, kept, tmp_path, capsys):
    from dataoptim.select import Pool

    opened = Pool.open(pool)
    assert len(opened.all()) == 17
    assert len(opened.all().where(condition)) == kept
    out = tmp_path / "o.json"
    assert main(["select", "--pool", str(pool), "--where", condition, "--output", str(out), "-q"]) == 0
    assert len(json.loads(out.read_text())) == kept
