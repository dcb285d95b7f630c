"""``pool build`` on record tables: converted and original files, one process or several (issue 14)."""

from __future__ import annotations

import json
import shutil

import pyarrow as pa
import pytest

from builder_harness import FIXTURES
from dataoptim import records
from dataoptim.errors import ConfigError, RecordError
from dataoptim.select import build_pool
from dataoptim.select.pool import Pool
from test_select_support import example_data_dir


def _records(pool: Pool) -> list[dict]:
    return pool.table().to_pylist()


def _mixed_data_dir(root):
    """Converted files of the example records, plus COCO's and VQAv2's original train files (no converted file for them)."""
    data = example_data_dir(root)
    (data / "coco.json").unlink()
    (data / "vqav2.json").unlink()
    shutil.copy(FIXTURES / "coco_train" / "captions_train2014.json", data)
    for name in ("v2_OpenEnded_mscoco_train2014_questions.json", "v2_mscoco_train2014_annotations.json"):
        shutil.copy(FIXTURES / "vqav2" / name, data)
    return data


def test_two_processes_build_the_same_pool_as_one(tmp_path):
    data = _mixed_data_dir(tmp_path)
    one = build_pool(data, tmp_path / "one", progress=False)
    two = build_pool(data, tmp_path / "two", progress=False, num_proc=2)
    assert one.sources == two.sources and one.skipped == two.skipped
    assert one.sources["coco"] == 1 and one.sources["vqav2"] == 4  # built from the original files
    a, b = Pool.open(tmp_path / "one"), Pool.open(tmp_path / "two")
    assert [p.name for p in a.parts] == [p.name for p in b.parts]  # catalog order, whatever finished first
    assert [p.origin for p in a.parts] == [p.origin for p in b.parts]
    assert _records(a) == _records(b)
    assert a.get("vqav2_524286005")["conversations"][1]["value"] == b.get("vqav2_524286005")["conversations"][1]["value"]


def test_a_bad_record_in_a_worker_is_the_same_located_error(tmp_path):
    data = example_data_dir(tmp_path)
    items = json.loads((data / "coco.json").read_text())
    items[0]["conversations"][0]["from"] = "gpt"
    (data / "coco.json").write_text(json.dumps(items))
    with pytest.raises(RecordError) as one:
        build_pool(data, tmp_path / "one", progress=False)
    with pytest.raises(RecordError) as two:
        build_pool(data, tmp_path / "two", progress=False, num_proc=2)
    assert str(one.value) == str(two.value)
    assert (two.value.file, two.value.record, two.value.field) == (str(data / "coco.json"), 0, "conversations[0].from")
    assert not (tmp_path / "two").exists()


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
def test_num_proc_must_be_a_positive_whole_number(tmp_path, value):
    with pytest.raises(ConfigError, match="num_proc"):
        build_pool(example_data_dir(tmp_path), tmp_path / "pool", progress=False, num_proc=value)


def test_converted_tables_keep_the_pool_schema(tmp_path):
    build_pool(example_data_dir(tmp_path), tmp_path / "pool", progress=False)
    pool = Pool.open(tmp_path / "pool")
    for part in pool.parts:
        reader = pa.ipc.open_file(pa.memory_map(str(tmp_path / "pool" / "sources" / f"{part.name}.arrow")))
        assert reader.schema.equals(records.arrow_schema())
        assert all(reader.get_batch(i).num_rows <= 8192 for i in range(reader.num_record_batches))


def _svit_originals(root, copies: int = 1):
    """SVIT's four part files (the fixtures, each entry list repeated ``copies`` times), nothing else."""
    from builder_harness import fixture_json

    data = root / "svit-originals"
    data.mkdir()
    for name in ("conversation.json", "complex_reasoning.json", "detail_description.json", "referring_qa.json"):
        (data / name).write_text(json.dumps(fixture_json(f"svit/{name}") * copies, indent=1))
    return data


def _pool_bytes(folder) -> dict:
    """Every file of a pool folder, bytes (the manifest without its creation time)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "manifest.json":
                manifest = json.loads(data)
                manifest.pop("created")
                data = manifest
            out[str(path.relative_to(folder))] = data
    return out


def test_svit_part_files_built_by_two_workers_give_the_same_pool_bytes(tmp_path):
    """SVIT's part files are work units of their own with workers; joined in order, the pool is the one-process pool, byte for byte."""
    from dataoptim.select.pool import _work_units

    data = _svit_originals(tmp_path, copies=3000)  # about 9,000 conversation records: more than one batch per unit
    files = {p.name: p for p in data.iterdir()}
    units = _work_units("svit", None, files)
    assert [unit for _, unit in units] == [(0, ("conversation",)), (1, ("complex",)), (2, ("detail",)), (3, ("referring",))]
    assert sum(weight for weight, _ in units) == pytest.approx(2_992_799)  # the catalog count, shared out by file size
    one = build_pool(data, tmp_path / "one", progress=False, sources=["svit"])
    two = build_pool(data, tmp_path / "two", progress=False, sources=["svit"], num_proc=2)
    assert one.sources == two.sources == {"svit": 3000 * 8}
    assert _pool_bytes(tmp_path / "one") == _pool_bytes(tmp_path / "two")
    assert not [p for p in (tmp_path / "two" / "sources").iterdir() if "unit" in p.name]
    pool = Pool.open(tmp_path / "two")
    assert pool.get("svit_conversation_0")["conversations"][0]["value"].startswith("<image>\n")
    assert Pool.open(tmp_path / "two").source_table("svit").column("id")[9000].as_py() == "svit_complex_0"


def test_svit_units_report_the_first_bad_part_as_one_process_does(tmp_path):
    """Bad records in two part files: with workers the error is still the one of the earlier part (file, record, field)."""
    data = _svit_originals(tmp_path, copies=2)
    for name, entry in (("detail_description.json", 0), ("complex_reasoning.json", 1)):
        entries = json.loads((data / name).read_text())
        del entries[entry]["image_id"]
        (data / name).write_text(json.dumps(entries))
    errors = []
    for label, procs in (("one", 1), ("two", 2)):
        with pytest.raises(Exception) as info:
            build_pool(data, tmp_path / label, progress=False, num_proc=procs)
        errors.append(info.value)
        assert not (tmp_path / label).exists()
    assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])
    assert (errors[1].file, errors[1].record, errors[1].field) == (str(data / "complex_reasoning.json"), 1, "[1].image_id")


def test_default_configs_keep_every_converted_record(tmp_path):
    """The pool reads a converted file through the generic table path: no source's default config drops a record of it."""
    from dataoptim.builder import SourceBuilder, builder_classes

    table = pa.table({"id": ["x_0"], "image": ["a.jpg"], "conversations": [[{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]]})
    for cls in builder_classes():
        builder = cls(config_name=cls.SOURCE, cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path))
        assert builder.converted_mask(table) is None, cls.SOURCE
        assert type(builder).converted_tables is SourceBuilder.converted_tables, cls.SOURCE
        assert builder.keep_converted({"id": f"{cls.SOURCE}_0", "image": "a.jpg", "conversations": []}), cls.SOURCE
