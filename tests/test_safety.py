"""Safety audit as a test (issue 8, DESIGN §10): no call that runs code from data, outside a short allowlist.

An AST scan of every module under ``src/dataoptim`` and ``builders/`` flags:

* ``eval``, ``exec``, ``compile``, ``__import__`` (code from strings);
* ``pickle``/``marshal``/``shelve``/``dill``/``cloudpickle``/``joblib`` imports, ``pickle.load(s)``
  and ``pandas.read_pickle`` (a pickle runs code); the one reader of pickles, RefCOCO's
  ``refs(*).p`` in ``builders/ref3rec.py``, subclasses ``pickle.Unpickler`` and refuses
  every global in ``find_class`` (tested with live payloads in ``tests/test_builder_ref3rec.py``);
* ``yaml.load``/``yaml.unsafe_load``/``yaml.full_load`` (``yaml.safe_load`` is fine);
* ``torch.load`` without ``weights_only=True``; ``numpy.load`` with ``allow_pickle=True``;
* ``trust_remote_code=True`` (runs a hub repository's code);
* ``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*``, any call with ``shell=True``,
  and ``subprocess`` imports outside the allowlist (LLaVA's launcher and ``git rev-parse``,
  both argument lists, in ``train/llava.py``);
* ``tarfile`` anywhere; ``zipfile`` outside ``files.py`` (whose ``safe_extract`` refuses members
  that leave the target folder or are links, and caps the size: ``tests/test_files_io.py``);
  ``.extractall(`` / ``.extract(`` calls anywhere (``safe_extract`` copies member by member).

A new unsafe call fails this test; an allowlist entry that no longer matches anything fails too,
so the list stays exact.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "src" / "dataoptim", ROOT / "builders"]

#: (path relative to the repository, finding) pairs that are reviewed and allowed.
ALLOWED = {
    ("builders/ref3rec.py", "import pickle"),  # _PlainDataUnpickler: find_class refuses every global
    ("src/dataoptim/files.py", "import zipfile"),  # safe_extract: no escaping members, no links, size cap
    ("src/dataoptim/train/llava.py", "import subprocess"),  # argument lists, never a shell
    ("src/dataoptim/evaluate/tasks/shared.py", "import subprocess"),  # ptb_tokenize: pycocoevalcap's own argument list (java -cp ...), stderr captured; never a shell
}

PICKLE_LIKE = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


def _name(node: ast.AST) -> str:
    """Dotted name of a call target (``torch.load``, ``np.load``, ``eval``), '' if not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else f"?.{node.attr}"
    return ""


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _is_true(node) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def findings(source: str) -> list[tuple[int, str]]:
    """Unsafe constructs in one module's source: ``(line, finding)`` pairs."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in PICKLE_LIKE | {"tarfile", "zipfile", "subprocess"}:
                    found.append((node.lineno, f"import {top}"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            top = node.module.split(".")[0]
            if top in PICKLE_LIKE | {"tarfile", "zipfile", "subprocess"}:
                found.append((node.lineno, f"import {top}"))
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            last = name.rsplit(".", 1)[-1]
            if name in ("eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec"):
                found.append((node.lineno, f"{name}()"))
            if name.split(".")[0] in PICKLE_LIKE and last in ("load", "loads", "Unpickler"):
                found.append((node.lineno, f"{name}()"))
            if last == "read_pickle":
                found.append((node.lineno, f"{name}()"))
            if name.startswith("yaml.") and last in ("load", "unsafe_load", "full_load", "load_all", "unsafe_load_all"):
                found.append((node.lineno, f"{name}()"))
            if name == "torch.load" and not _is_true(_keyword(node, "weights_only")):
                found.append((node.lineno, "torch.load() without weights_only=True"))
            if name in ("np.load", "numpy.load") and _is_true(_keyword(node, "allow_pickle")):
                found.append((node.lineno, f"{name}(allow_pickle=True)"))
            if _is_true(_keyword(node, "trust_remote_code")):
                found.append((node.lineno, "trust_remote_code=True"))
            if _is_true(_keyword(node, "shell")):
                found.append((node.lineno, "shell=True"))
            if name in ("os.system", "os.popen") or name.startswith(("os.exec", "os.spawn")):
                found.append((node.lineno, f"{name}()"))
            if last in ("extractall", "extract") and "." in name:
                found.append((node.lineno, f"{name}()"))
    return found


def scan() -> dict[tuple[str, str], list[int]]:
    """Every finding in the scanned trees: ``(path, finding) -> lines``."""
    out: dict[tuple[str, str], list[int]] = {}
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, finding in findings(path.read_text(encoding="utf-8")):
                out.setdefault((rel, finding), []).append(line)
    return out


def test_no_unsafe_call_outside_the_allowlist():
    unexpected = {key: lines for key, lines in scan().items() if key not in ALLOWED}
    assert not unexpected, "unsafe calls (review them, make them safe, or allowlist with a reason): " + "; ".join(
        f"{path}:{lines[0]} {finding}" for (path, finding), lines in sorted(unexpected.items())
    )


def test_allowlist_is_exact():
    found = scan()
    stale = sorted(key for key in ALLOWED if key not in found)
    assert not stale, f"allowlist entries that match nothing any more (remove them): {stale}"


@pytest.mark.parametrize(
    "code, finding",
    [
        ("eval(text)", "eval()"),
        ("exec(code)", "exec()"),
        ("import pickle\npickle.loads(data)", "pickle.loads()"),
        ("import yaml\nyaml.load(f)", "yaml.load()"),
        ("import torch\ntorch.load(path)", "torch.load() without weights_only=True"),
        ("import torch\ntorch.load(path, weights_only=False)", "torch.load() without weights_only=True"),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", "np.load(allow_pickle=True)"),
        ("import subprocess\nsubprocess.run(cmd, shell=True)", "shell=True"),
        ("import os\nos.system('ls')", "os.system()"),
        ("import tarfile", "import tarfile"),
        ("zf.extractall(target)", "zf.extractall()"),
        ("AutoModel.from_pretrained(p, trust_remote_code=True)", "trust_remote_code=True"),
        ("import pandas as pd\npd.read_pickle(p)", "pd.read_pickle()"),
    ],
)
def test_the_scan_catches_each_kind(code, finding):
    assert finding in [f for _, f in findings(code)]


@pytest.mark.parametrize(
    "code",
    [
        "import torch\ntorch.load(path, map_location='cpu', weights_only=True)",
        "import numpy as np\nnp.load(p, mmap_mode='r')",
        "import yaml\nyaml.safe_load(f)",
        "import json\njson.loads(s)",
        "model.eval()",
        "subprocess_like.run(cmd)",
    ],
)
def test_safe_forms_pass(code):
    assert findings(code) == []
