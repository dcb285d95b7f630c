"""Backend hf with the tiny random model: steps run, loss falls, checkpoint reloads, bad input is a clear error."""

from __future__ import annotations

import json
import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.cli import main
from dataoptim.errors import MissingFileError, ModelInputError, RecordError


def _selection(tmp_path, n=4, *, long_answer_at=None, corrupt_at=None, missing_at=None, name="sel.json"):
    from PIL import Image

    images = tmp_path / "images"
    (images / "coco").mkdir(parents=True, exist_ok=True)
    records = []
    for i in range(n):
        path = images / "coco" / f"{i}.jpg"
        if i == corrupt_at:
            path.write_bytes(b"\xff\xd8\xff\xe0 truncated")
        elif i != missing_at:
            Image.new("RGB", (30 + 4 * i, 20), (40 * i, 90, 200)).save(path)
        answer = "a cat " * 400 if i == long_answer_at else f"a cat number {i}"
        first = "<image>\nWhat is in the image?" if i % 2 == 0 else "Where is the <image> cat?"  # front and inline
        records.append({
            "id": f"coco_{i}", "image": f"coco/{i}.jpg",
            "conversations": [
                {"from": "human", "value": first}, {"from": "gpt", "value": answer},
                {"from": "human", "value": "And the colour?"}, {"from": "gpt", "value": "blue"},
            ],
        })
    data = tmp_path / name
    data.write_text(json.dumps(records))
    return data, images


def _hf_argv(tmp_path, data, images, *more):
    return [
        "train", "--backend", "hf", "--data", str(data), "--image-folder", str(images), "--model", "tiny",
        "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"),
        "--dataloader-num-workers", "0", "--per-device-train-batch-size", "2", *more,
    ]


def test_two_steps_via_cli_and_reload(tmp_path, capsys):
    import torch
    from transformers import LlavaForConditionalGeneration

    from dataoptim.train.model import load_model

    data, images = _selection(tmp_path)
    assert main(_hf_argv(tmp_path, data, images, "--max-steps", "2")) == 0
    out = capsys.readouterr().out
    assert "trained 2 steps" in out and "tokens/s" in out
    ckpt = tmp_path / "out"
    report = json.loads((ckpt / "train_report.json").read_text())
    assert report["metrics"]["global_step"] == 2
    assert math.isfinite(report["metrics"]["train_loss"])
    assert report["metrics"]["tokens_per_second"] > 0
    assert report["settings"]["learning_rate"] == 2e-5 and report["settings"]["warmup_ratio"] == 0.03
    assert report["data"]["records"] == 4 and report["data"]["usable"] == 4
    reloaded = LlavaForConditionalGeneration.from_pretrained(ckpt)
    assert reloaded.config.image_seq_length == 16 and reloaded.config.projector_hidden_act == "linear"
    model, tokenizer, processor = load_model(ckpt)
    assert tokenizer.convert_tokens_to_ids("<image>") == model.config.image_token_index
    w = model.model.multi_modal_projector.linear_2.weight
    assert torch.equal(w, torch.eye(w.shape[0]))  # the frozen identity stayed the identity
    assert not w.requires_grad


def test_loss_finite_and_falls_on_a_repeated_batch(tmp_path):
    from dataoptim.train import train

    data, images = _selection(tmp_path, n=2)
    result = train(
        data, images, tmp_path / "out", backend="hf", model="tiny", max_steps=8, per_device_train_batch_size=2,
        learning_rate=3e-3, warmup_ratio=0.0, lr_scheduler_type="constant", dataloader_num_workers=0,
        cache_dir=tmp_path / "cache", disable_tqdm=True, seed=0,
    )
    losses = result.losses
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < 0.8 * losses[0], losses  # the same two records each step: the loss must fall
    logged = [e for e in result.log_history if "loss" in e]
    assert all(e["learning_rate"] == pytest.approx(3e-3) for e in logged)
    assert all(e["tokens_per_second"] > 0 for e in logged)
    # the vision tower is frozen and unchanged by training
    from dataoptim.train.model import build_tiny_model, load_model

    fresh, _, _ = build_tiny_model(seed=0)
    trained, _, _ = load_model(result.output_dir)
    import torch

    for (name, a), (_, b) in zip(fresh.model.vision_tower.named_parameters(), trained.model.vision_tower.named_parameters()):
        assert torch.equal(a, b), name
    assert not torch.equal(fresh.lm_head.weight, trained.lm_head.weight)


def test_record_too_long_is_cut_and_listed_or_refused_with_strict_length(tmp_path, capsys):
    """LLaVA cuts a record over model_max_length (image once) in its collator and trains it; --strict-length refuses it."""
    from dataoptim.train.hf import train_hf

    data, images = _selection(tmp_path, long_answer_at=1)
    assert main(_hf_argv(tmp_path, data, images, "--max-steps", "1", "--model-max-length", "512")) == 0
    err = capsys.readouterr().err
    assert "1 truncated at 512 positions" in err and "truncated: coco_1 (record 1): " in err
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report["truncated"] == 1 and report["usable"] == 4 and report["dropped"] == 0
    (row,) = report["truncated_records"]
    assert row["id"] == "coco_1" and row["index"] == 1 and row["positions_after"] == 512 and row["positions_before"] > 512
    # the tiny model's image is 16 features: the longest sequence is 512 positions + 15
    assert report["max_positions"] == 512 and report["max_length"] == 512 + 15
    # --strict-length: today's refusal
    assert main(_hf_argv(tmp_path, data, images, "--max-steps", "1", "--model-max-length", "512", "--strict-length")) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {data}: record 1 (id 'coco_1'), field 'conversations': needs {row['positions_before']} positions")
    assert "more than model_max_length 512" in line and "1 record too long" in line
    with pytest.raises(ModelInputError) as info:
        train_hf(data, images, tmp_path / "o2", model_max_length=512, strict_length=True, dry_run=True, cache_dir=tmp_path / "cache")
    assert info.value.record == 1 and info.value.id == "coco_1"
    result = train_hf(data, images, tmp_path / "o3", model_max_length=512, strict_length=True, skip_bad_records=True, dry_run=True,
                      cache_dir=tmp_path / "cache")
    assert result.report["dropped_records"] == [{"index": 1, "id": "coco_1", "why": "too long"}] and result.report["usable"] == 3


def test_two_steps_with_repeats_and_a_truncated_record(tmp_path, capsys):
    """A selection with a repeated sample (same record twice) and a record over model_max_length: both train, both reported."""
    data, images = _selection(tmp_path, n=3, long_answer_at=2)
    records = json.loads(data.read_text())
    data.write_text(json.dumps([records[0], records[1], records[0], records[2], records[0]]))
    argv = _hf_argv(tmp_path, data, images, "--max-steps", "2", "--model-max-length", "512", "--per-device-train-batch-size", "3")
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "5 records (2 repeats), 5 used, 1 truncated at 512 positions" in err
    report = json.loads((tmp_path / "out" / "data_report.json").read_text())
    assert report["records"] == report["usable"] == 5 and report["repeats"] == 2
    assert report["repeated_records"] == [{"index": 2, "id": "coco_0", "first_index": 0}, {"index": 4, "id": "coco_0", "first_index": 0}]
    assert [(r["index"], r["id"], r["positions_after"]) for r in report["truncated_records"]] == [(3, "coco_2", 512)]
    train_report = json.loads((tmp_path / "out" / "train_report.json").read_text())
    assert train_report["metrics"]["global_step"] == 2
    assert train_report["loss"] == "per-device micro-batch mean (LLaVA, transformers 4.31)"
    # one id with two different contents stays an error
    records[1]["conversations"][1]["value"] = "another answer"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([records[0], records[1], json.loads(data.read_text())[1]]))
    assert main(_hf_argv(tmp_path, bad, images, "--dry-run")) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"error: {bad}: record 2 (id 'coco_1'), field 'id': the id is used by record 1 with other content (a repeated sample must repeat the record exactly)"


def test_records_llava_masks_are_kept_masked_and_reported(tmp_path, capsys):
    """An answer holding </s>: LLaVA masks the whole record (tokenization mismatch); so does the hf backend, and says so."""
    from dataoptim.train.hf import train_hf

    data, images = _selection(tmp_path, n=3)
    records = json.loads(data.read_text())
    records[1]["conversations"][1]["value"] = "a cat </s> and a dog"
    data.write_text(json.dumps(records))
    result = train_hf(data, images, tmp_path / "dry", dry_run=True, cache_dir=tmp_path / "cache")
    report = result.report
    assert report["masked"] == 1 and report["train_nothing"] == 1 and report["usable"] == 3
    (row,) = report["masked_records"]
    assert row["id"] == "coco_1" and row["reason"].startswith("tokenization mismatch: turn 2 (gpt) holds '</s>'")
    skipped = train_hf(data, images, tmp_path / "dry", dry_run=True, skip_bad_records=True, cache_dir=tmp_path / "cache").report
    assert skipped["usable"] == 2 and skipped["dropped_records"] == [{"index": 1, "id": "coco_1", "why": "masked by the recipe"}]


def test_loss_per_device_reaches_the_trainer(tmp_path):
    """LLaVA's transformers 4.31 loss: each micro-batch's own mean, no token count across devices or accumulation steps."""
    import transformers

    from dataoptim.train.hf import train_hf

    seen = {}

    class Spy(transformers.TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["average_tokens_across_devices"] = getattr(args, "average_tokens_across_devices", False)
            def hook(module, args, kwargs):
                seen.setdefault("forward_kwargs", set(kwargs))

            model.register_forward_pre_hook(hook, with_kwargs=True)

    data, images = _selection(tmp_path, n=4)
    common = dict(max_steps=1, per_device_train_batch_size=1, gradient_accumulation_steps=2, dataloader_num_workers=0,
                  save_strategy="no", save_final=False, disable_tqdm=True, cache_dir=tmp_path / "cache")
    train_hf(data, images, tmp_path / "a", callbacks=[Spy()], **common)
    assert seen["average_tokens_across_devices"] is False
    assert "labels" in seen["forward_kwargs"] and "num_items_in_batch" not in seen["forward_kwargs"]
    seen.clear()
    train_hf(data, images, tmp_path / "b", callbacks=[Spy()], loss_per_device=False, **common)
    assert seen["average_tokens_across_devices"] is True and "num_items_in_batch" in seen["forward_kwargs"]


def test_missing_and_corrupt_images(tmp_path, capsys):
    from dataoptim.train.hf import train_hf

    data, images = _selection(tmp_path, missing_at=2)
    assert main(_hf_argv(tmp_path, data, images, "--max-steps", "1")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "1 record names image files missing" in err and "coco/2.jpg (record 2, id 'coco_2')" in err
    with pytest.raises(MissingFileError, match="coco/2.jpg"):
        train_hf(data, images, tmp_path / "o", dry_run=True, cache_dir=tmp_path / "cache")

    bad = tmp_path / "bad"
    data, images = _selection(bad, corrupt_at=1)
    # found up front with --open-images ...
    assert main(_hf_argv(bad, data, images, "--max-steps", "1", "--open-images")) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "record 1 (id 'coco_1'), field 'image'" in err and "cannot be decoded" in err
    # ... and otherwise when the data loader reaches it, as the same typed error
    with pytest.raises(ModelInputError, match="cannot be decoded") as info:
        train_hf(data, images, bad / "o", max_steps=2, per_device_train_batch_size=4, dataloader_num_workers=0,
                 cache_dir=bad / "cache", disable_tqdm=True)
    assert info.value.id == "coco_1" and info.value.field == "image"
    assert not (bad / "o" / "data_report.json").exists(), "a failed run left its data report"


def test_bad_record_is_a_record_error(tmp_path, capsys):
    from dataoptim.train.hf import train_hf

    data, images = _selection(tmp_path)
    records = json.loads(data.read_text())
    records[3]["conversations"][0]["value"] = "no image token here"
    data.write_text(json.dumps(records))
    with pytest.raises(RecordError) as info:
        train_hf(data, images, tmp_path / "o", dry_run=True, cache_dir=tmp_path / "cache")
    assert info.value.record == 3 and info.value.field == "conversations[0].value"
    assert main(_hf_argv(tmp_path, data, images, "--dry-run")) == 2


def test_selection_formats_and_dry_run_writes_nothing(tmp_path, capsys):
    import datasets

    from dataoptim.train.data import load_selection
    from dataoptim.train.hf import train_hf

    data, images = _selection(tmp_path)
    records = json.loads(data.read_text())
    jsonl = tmp_path / "sel.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    saved = tmp_path / "arrow"
    load_selection(data, cache_dir=tmp_path / "cache").save_to_disk(str(saved))
    reports = []
    for source in (data, jsonl, saved):
        result = train_hf(source, images, tmp_path / "dry", dry_run=True, cache_dir=tmp_path / "cache")
        reports.append(result.report)
    assert [r["records"] for r in reports] == [4, 4, 4]
    assert len({r["tokens"] for r in reports}) == 1 and reports[0]["tokens"] > 4 * 16
    assert reports[0]["answer_tokens"] > 0 and reports[0]["max_length"] <= 2048
    assert not (tmp_path / "dry").exists()
    ds = load_selection(jsonl, cache_dir=tmp_path / "cache")
    assert isinstance(ds, datasets.Dataset) and ds["id"] == [r["id"] for r in records] and ds["index"] == [0, 1, 2, 3]
    assert main(_hf_argv(tmp_path, data, images, "--dry-run")) == 0
    assert "dry run" in capsys.readouterr().out and not (tmp_path / "out").exists()


def test_corrupt_image_found_by_a_data_loader_worker_is_one_line(tmp_path, capfd):
    # torch re-raises a worker's error as type(error)("Caught ... Original Traceback ...");
    # the CLI must still print the original one line, and no progress bar after it
    data, images = _selection(tmp_path, corrupt_at=1)
    argv = _hf_argv(tmp_path, data, images, "--max-steps", "2", "--per-device-train-batch-size", "4")
    argv[argv.index("--dataloader-num-workers") + 1] = "1"
    assert main(argv) == 2
    err = capfd.readouterr().err.splitlines()
    assert err[-1].startswith(f"error: {data}: record 1 (id 'coco_1'), field 'image': image file ") and "cannot be decoded" in err[-1]
    assert not any("Traceback" in line or "%|" in line for line in err), err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_worker_error_unwrapping_keeps_other_errors():
    from dataoptim.train.hf import _from_worker

    wrapped = ModelInputError(
        "Caught ModelInputError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
        '  File "x.py", line 1, in f\n    g()\n'
        "dataoptim.errors.ModelInputError: sel.json: record 1 (id 'coco_1'), field 'image': cannot be decoded\n"
    )
    got = _from_worker(wrapped)
    assert type(got) is ModelInputError and str(got) == "sel.json: record 1 (id 'coco_1'), field 'image': cannot be decoded"
    plain = RecordError("missing", file="f", record=2, field="id")
    assert _from_worker(plain) is plain


def test_train_data_layout_is_read_from_the_content_when_the_name_does_not_say(tmp_path):
    """``train --data`` read a JSON Lines file named ``.txt`` as a JSON list (the name alone decided)."""
    from dataoptim.errors import InputError
    from dataoptim.train.data import load_selection

    records = [{"id": f"coco_{i}", "image": f"coco/{i}.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": f"Thing {i}."}]} for i in range(3)]
    lines, listed = tmp_path / "sel.txt", tmp_path / "sel.data"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records))
    listed.write_text("\n  " + json.dumps(records))
    for path in (lines, listed):
        assert load_selection(path, cache_dir=tmp_path / "cache")["id"] == ["coco_0", "coco_1", "coco_2"]
    csv = tmp_path / "sel.csv"
    csv.write_text("id,image\n")
    with pytest.raises(InputError, match=r"neither a JSON list nor JSON Lines: it starts with 'i' at line 1, column 1") as info:
        load_selection(csv, cache_dir=tmp_path / "cache")
    assert info.value.file == str(csv)


@pytest.mark.parametrize("content, words", [("[]", "holds no records"), ('{"records": []}', "must hold a list"), ("", "is empty")])
def test_empty_or_non_list_selection_is_an_input_error(tmp_path, content, words):
    # datasets cannot build a dataset of no rows: this was a bare ValueError ("Instruction 'train' corresponds to no data")
    from dataoptim.errors import InputError
    from dataoptim.train.data import load_selection

    path = tmp_path / "sel.json"
    path.write_text(content)
    with pytest.raises(InputError, match=words) as info:
        load_selection(path, cache_dir=tmp_path / "cache")
    assert info.value.file == str(path)


def test_logged_loss_is_the_mean_of_micro_batch_means(tmp_path):
    """One step of two micro-batches (accumulation 2): LLaVA's loss is the mean of each micro-batch's own mean,
    not the mean over all label tokens of the step (which weights the long answer more)."""
    import torch

    from dataoptim.train.data import Collator, SupervisedDataset, prepare_dataset
    from dataoptim.train.hf import train_hf
    from dataoptim.train.model import build_tiny_model

    data, images = _selection(tmp_path, n=2)
    records = json.loads(data.read_text())
    records[0]["conversations"] = records[0]["conversations"][:2]
    records[0]["conversations"][1]["value"] = "yes"
    records[1]["conversations"][1]["value"] = "a long answer about the cat on the mat " * 6
    data.write_text(json.dumps(records))
    model, tokenizer, processor = build_tiny_model(seed=0)
    encoded, _ = prepare_dataset(data, images, tokenizer, model_max_length=2048, cache_dir=tmp_path / "cache")
    dataset = SupervisedDataset(encoded, images, processor, image_token_id=model.config.image_token_index, image_seq_length=model.config.image_seq_length)
    means, counts = [], []
    with torch.no_grad():
        for i in range(2):
            batch = Collator(0)([dataset[i]])
            means.append(float(model(**batch).loss))
            counts.append(int((batch["labels"][:, 1:] != -100).sum()))
    assert counts[0] < counts[1] / 5
    per_device = sum(means) / 2
    token_average = sum(m * c for m, c in zip(means, counts)) / sum(counts)
    common = dict(max_steps=1, per_device_train_batch_size=1, gradient_accumulation_steps=2, dataloader_num_workers=0, learning_rate=0.0,
                  warmup_ratio=0.0, save_strategy="no", save_final=False, disable_tqdm=True, cache_dir=tmp_path / "cache", tiny_kwargs={"seed": 0})
    recipe = train_hf(data, images, tmp_path / "a", **common).losses[0]
    newer = train_hf(data, images, tmp_path / "b", loss_per_device=False, **common).losses[0]
    assert recipe == pytest.approx(per_device, rel=1e-4) and newer == pytest.approx(token_average, rel=1e-4)
    assert abs(per_device - token_average) > 1e-3


def test_training_with_llama2s_tokenizer_keeps_it_in_the_checkpoint(tmp_path):
    """With LLaMA-2's SentencePiece model the checkpoint keeps tokenizer.model and its legacy setting,
    so evaluation encodes prompts as LLaVA's eval does (dataoptim.train.encoding.sentencepiece_for)."""
    from pathlib import Path

    from dataoptim.train.encoding import LlamaText, sentencepiece_for
    from dataoptim.train.hf import train_hf
    from dataoptim.train.model import build_model_from_configs, build_tiny_image_processor, build_tiny_tokenizer, load_model

    tok_dir = Path(__file__).parent / "fixtures" / "llama2-tokenizer"
    tokenizer = build_tiny_tokenizer()
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, image_size=28, patch_size=7, projection_dim=32)
    text = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048)
    model = build_model_from_configs(vision, text, tokenizer, text_vocab_size=32064)
    data, images = _selection(tmp_path, n=2)
    result = train_hf(data, images, tmp_path / "out", model=(model, tokenizer, build_tiny_image_processor(28)), llama_tokenizer=tok_dir,
                      max_steps=1, per_device_train_batch_size=2, dataloader_num_workers=0, save_strategy="no", disable_tqdm=True,
                      cache_dir=tmp_path / "cache")
    assert result.report["encoding"] == "sentencepiece tokenizer.model, legacy false"
    assert (tmp_path / "out" / "tokenizer.model").read_bytes() == (tok_dir / "tokenizer.model").read_bytes()
    assert json.loads((tmp_path / "out" / "tokenizer_config.json").read_text())["legacy"] is False
    _, reloaded, _ = load_model(tmp_path / "out")
    found = sentencepiece_for(reloaded)
    assert isinstance(found, LlamaText) and found.legacy is False


def test_llama_tokenizer_option_and_a_vocabulary_that_does_not_fit(tmp_path, capsys):
    from pathlib import Path

    tok_dir = Path(__file__).parent / "fixtures" / "llama2-tokenizer"
    data, images = _selection(tmp_path, n=2)
    # the tiny model embeds 385 tokens, LLaMA-2's tokenizer gives ids up to 31999
    assert main(_hf_argv(tmp_path, data, images, "--dry-run", "--llama-tokenizer", str(tok_dir))) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: the model's vocabulary has ") and "fewer than the 32000 of " in line
