"""``load_dataset("dataoptim", ...)`` registration, file discovery and the builder base (DESIGN §6)."""

import json
import subprocess
import sys
import zipfile

import pytest

import dataoptim
from dataoptim.builder import annotation_files, builder_class_for
from dataoptim.errors import ConfigError, InputError, MissingFileError, RecordError
from builder_harness import FIXTURES, example_records


def test_import_dataoptim_does_not_import_datasets_but_registers_when_it_is():
    code = (
        "import sys, dataoptim; assert 'datasets' not in sys.modules, 'eager datasets import';"
        "import datasets.packaged_modules as pm; print(pm._PACKAGED_DATASETS_MODULES['dataoptim'][0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "dataoptim.builders._dispatch"


def test_load_dataset_builds_from_data_dir(tmp_path):
    from datasets import load_dataset

    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "captions_val2014.json").write_bytes((FIXTURES / "coco" / "captions_val2014.json").read_bytes())
    ds = load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "ann"), cache_dir=str(tmp_path / "cache"))
    assert ds["validation"].num_rows == 106
    # data_files= works too, and gives the same records
    ds2 = load_dataset("dataoptim", "coco", data_files=[str(tmp_path / "ann" / "captions_val2014.json")], cache_dir=str(tmp_path / "cache2"))
    assert ds2["validation"]["id"] == ds["validation"]["id"]


def test_builder_class_is_usable_on_its_own(tmp_path):
    from dataoptim.builders.coco import Coco

    builder = Coco(data_dir=str(FIXTURES / "coco_train"), cache_dir=str(tmp_path))
    builder.download_and_prepare()
    train = builder.as_dataset(split="train")
    assert train[0]["id"] == "coco_0" and train[0]["image"] == "coco/COCO_train2014_000000318556.jpg"
    assert "Microsoft COCO Captions" in builder.info.citation and builder.info.license.startswith("CC BY 4.0")


def test_unknown_config_is_a_clear_error(tmp_path):
    from datasets import load_dataset

    with pytest.raises(ConfigError, match="unknown config 'cocoa'"):
        load_dataset("dataoptim", "cocoa", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="name a source config"):
        builder_class_for(None)


def test_source_without_builder_says_not_written(monkeypatch):
    from dataoptim import catalog

    monkeypatch.setitem(catalog.SOURCES, "future", catalog.Source("future", "Future", "vqa", "vqa", 1, "x", "no_such_module"))
    with pytest.raises(ConfigError, match="builder of source 'future' is not written yet"):
        builder_class_for("future")


def test_no_files_offline_says_what_to_download(tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingFileError) as info:
        load_dataset("dataoptim", "coco", cache_dir=str(tmp_path))
    message = str(info.value)
    assert "BAAI/DataOptim" in message and "data/data.zip" in message and "captions_" in message


def test_missing_original_files_named(tmp_path):
    from datasets import load_dataset

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(MissingFileError) as info:
        load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "empty"), cache_dir=str(tmp_path / "c"))
    assert "coco.json" in str(info.value) and "captions_train2014.json" in str(info.value)


def test_data_dir_is_listed_shallowly(tmp_path):
    (tmp_path / "captions_train2014.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "coco.json").write_text("[]")
    deep = tmp_path / "images" / "coco" / "deeper"
    deep.mkdir(parents=True)
    (deep / "hidden.json").write_text("[]")
    (tmp_path / "images" / "coco" / "x.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / ".cache.json").write_text("{}")
    names = [p.relative_to(tmp_path).as_posix() for p in annotation_files(tmp_path)]
    assert names == ["captions_train2014.json", "sub/coco.json"]


def test_converted_layout_passes_records_through_validated(tmp_path):
    from datasets import load_dataset

    example = example_records()["coco_0"]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "coco.json").write_text(json.dumps([example]))
    ds = load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "d"), cache_dir=str(tmp_path / "c"))
    row = ds["train"][0]
    assert {k: row[k] for k in ("id", "image", "conversations")} == example
    assert (row["source"], row["task"]) == ("coco", "caption")

    bad = dict(example, conversations=[{"from": "gpt", "value": "<image>"}, {"from": "human", "value": "x"}])
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "coco.json").write_text(json.dumps([example, bad]))
    with pytest.raises(RecordError) as info:
        load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "e"), cache_dir=str(tmp_path / "c2"))
    assert info.value.record == 1 and info.value.field == "conversations[0].from"
    assert info.value.file.endswith("coco.json")

    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "coco.json").write_text(json.dumps([dict(example, id="gqa_1")]))
    with pytest.raises(RecordError, match="does not belong to source 'coco'"):
        load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "f"), cache_dir=str(tmp_path / "c3"))


def test_layout_option_checked(tmp_path):
    from datasets import load_dataset

    with pytest.raises(ConfigError, match="layout must be one of"):
        load_dataset("dataoptim", "coco", data_dir=str(FIXTURES / "coco"), layout="xml", cache_dir=str(tmp_path))


def test_truncated_original_file_is_an_input_error(tmp_path):
    from datasets import load_dataset

    text = (FIXTURES / "coco" / "captions_val2014.json").read_text()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "captions_val2014.json").write_text(text[: len(text) // 2])
    with pytest.raises(InputError) as info:
        load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "d"), cache_dir=str(tmp_path / "c"))
    assert info.value.file.endswith("captions_val2014.json") and "not valid JSON" in str(info.value)


def test_annotation_missing_field_named(tmp_path):
    from datasets import load_dataset

    data = json.loads((FIXTURES / "coco_train" / "captions_train2014.json").read_text())
    del data["annotations"][0]["caption"]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "captions_train2014.json").write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        load_dataset("dataoptim", "coco", data_dir=str(tmp_path / "d"), cache_dir=str(tmp_path / "c"))
    assert info.value.record == 0 and info.value.field == "annotations[0].caption"


def test_no_files_online_fetches_the_release_archive(tmp_path, monkeypatch):
    """Without data_dir/data_files the builder takes <source>.json from DataOptim's data.zip via huggingface_hub."""
    import huggingface_hub
    from datasets import load_dataset

    archive = tmp_path / "hub" / "data.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/coco.json", json.dumps([example_records()["coco_0"]]))
        zf.writestr("data/gqa.json", "[]")
    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs.get("repo_type")))
        return str(archive)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    ds = load_dataset("dataoptim", "coco", cache_dir=str(tmp_path / "cache"))
    assert calls == [("BAAI/DataOptim", "data/data.zip", "dataset")]
    assert ds["train"]["id"] == ["coco_0"]
    import datasets.config

    assert (datasets.config.HF_DATASETS_CACHE / "dataoptim_release" / "data.zip" / "coco.json").is_file()


def test_missing_data_files_are_a_typed_error(tmp_path):
    from datasets import load_dataset

    with pytest.raises(MissingFileError) as info:
        load_dataset("dataoptim", "gqa", data_files=str(tmp_path / "nope.json"), cache_dir=str(tmp_path / "c"))
    assert info.value.field == "data_files" and "nope.json" in str(info.value)
    with pytest.raises(MissingFileError, match="data_dir is not a folder"):
        load_dataset("dataoptim", "gqa", data_dir=str(tmp_path / "absent"), cache_dir=str(tmp_path / "c"))
