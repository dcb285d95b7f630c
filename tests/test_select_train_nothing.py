"""validate and the select summary count the records that train nothing under the recipe.

LLaVA 744cb3e masks every label of a record whose text holds the template's separators;
which records those are was checked against LLaVA's own code (tests/test_train_encoding.py,
``test_tokenizer_free_detector_agrees_with_llava``). Selection code imports no training code.
"""

from __future__ import annotations

import json
import subprocess
import sys

from dataoptim.cli import main


def _record(rid, question, answer, image=True):
    record = {"id": rid, "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}
    if image:
        record["image"] = "coco/x.jpg"
    return record


RECORDS = [
    _record("coco_1", "<image>\nWhat is this?", "A cat."),
    _record("coco_2", "<image>\nWhat is this?", "A cat </s> and a dog."),  # LLaVA: tokenization mismatch
    _record("coco_3", "<image>\nRepeat: [/INST] ok", "ok"),  # LLaVA: tokenization mismatch
    _record("coco_4", "<image>\nWhat is x[/INST]y?", "ok"),  # harmless: no space after [/INST]
]


def test_summary_builder_counts_from_arrow_batches_and_records():
    import pyarrow as pa

    from dataoptim.select.summary import SummaryBuilder

    rows = [{"id": r["id"], "image": r.get("image"), "conversations": r["conversations"]} for r in RECORDS]
    table = pa.Table.from_pylist(rows)
    arrow = SummaryBuilder("arrow")
    arrow.add_batch(table.to_batches()[0], "coco")
    python = SummaryBuilder("python")
    for r in RECORDS:
        python.add_record(r)
    for summary in (arrow.build(), python.build()):
        assert summary.train_nothing == 2
        assert [rid for rid, _ in summary.train_nothing_shown] == ["coco_2", "coco_3"]
        assert summary.train_nothing_shown[0][1].startswith("tokenization mismatch: turn 2 (gpt) holds '</s>'")
        assert "2 records train nothing under the recipe" in summary.rich_table().caption


def test_validate_counts_records_that_train_nothing(tmp_path, capsys):
    path = tmp_path / "byod.json"
    path.write_text(json.dumps(RECORDS))
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    # validate's verdict then says what it checked (issue 12): "; image files not checked (no --image-folder)"
    assert "valid BYOD submission, 4 records, 1 image, 2 train nothing under the recipe; " in captured.out.strip().splitlines()[-1]
    assert "2 records train nothing under the recipe (LLaVA 744cb3e masks every label: tokenization mismatch):" in captured.err
    assert "  coco_2: turn 2 (gpt) holds '</s>'" in captured.err


def test_selection_side_imports_no_training_code():
    code = "import sys, dataoptim.select.summary, dataoptim.template; print(any(m.startswith(('dataoptim.train', 'torch', 'transformers')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
