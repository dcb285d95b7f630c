"""Shared test setup: nothing downloads, caches live in a temp folder."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _isolated_hf_cache(tmp_path_factory):
    """Point every Hugging Face cache at a session temp folder."""
    root = tmp_path_factory.mktemp("hf_cache")
    os.environ["HF_HOME"] = str(root)
    os.environ["HF_DATASETS_CACHE"] = str(root / "datasets")
    import datasets.config

    datasets.config.HF_DATASETS_CACHE = Path(root / "datasets")
    yield


@pytest.fixture
def fixtures() -> Path:
    """The folder of test fixtures (``tests/fixtures``)."""
    return FIXTURES
