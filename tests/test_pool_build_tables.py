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
