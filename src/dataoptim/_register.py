"""Registration of the ``"dataoptim"`` builder with ``datasets`` (DESIGN §6).

``datasets`` 4+ runs no loading scripts; ``load_dataset(name)`` finds packaged
builders (``json``, ``csv``, ...) in ``datasets.packaged_modules._PACKAGED_DATASETS_MODULES``.
We add ``"dataoptim" -> dataoptim.builders._dispatch`` there.

For packaged builders ``datasets`` globs ``data_dir`` recursively for data files,
which would walk an image folder of a million files. For ``"dataoptim"`` only,
data files are resolved by :func:`dataoptim.builder.annotation_files`, which
looks at ``data_dir`` and its direct sub-folders and keeps annotation files
(``.json``, ``.jsonl``, ``.p``, ``.zip``, ``.txt``) only.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

NAME = "dataoptim"
MODULE = "dataoptim.builders._dispatch"
_done = False


def code_hash() -> str:
    """SHA-256 over the package version and the source of every builder, prompt and record module.

    ``datasets`` keys its cache on this, so a changed converter never serves stale records.
    """
    import dataoptim

    digest = hashlib.sha256(dataoptim.__version__.encode())
    here = Path(__file__).resolve().parent
    builders = Path(importlib.util.find_spec("dataoptim.builders").origin).parent
    for path in sorted([*builders.glob("*.py"), here / "builder.py", here / "prompts.py", here / "records.py", here / "boxes.py"]):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def register() -> None:
    """Add ``"dataoptim"`` to ``datasets``' packaged builders (idempotent). Imports ``datasets``."""
    global _done
    if _done:
        return
    import datasets.load as load
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    _PACKAGED_DATASETS_MODULES[NAME] = (MODULE, code_hash())
    factory = load.PackagedDatasetModuleFactory
    if not getattr(factory.get_module, "_dataoptim", False):
        original = factory.get_module

        def get_module(self):
            if self.name != NAME:
                return original(self)
            from dataoptim.builder import dataset_module

            return dataset_module(self.data_dir, self.data_files, self.download_config)

        get_module._dataoptim = True  # type: ignore[attr-defined]
        factory.get_module = get_module
    _done = True


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    """Meta-path finder that runs :func:`register` right after ``datasets`` is imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "datasets":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register()

        loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Register now if ``datasets`` is imported, else as soon as it is."""
    if "datasets" in sys.modules:
        register()
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())
