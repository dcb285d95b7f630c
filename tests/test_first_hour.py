"""What a new participant and an organiser trip over in their first hour (issue 12).

Each test here failed before the fix it holds: model paths refused at once
(point 2), every problem of a submission in one run (point 3), images cut
short after their header (point 4), fixed plot colours (point 6), JSON Lines
BYOD and data.zip (point 7), resuming an hf run (point 8). The core-only
install (point 1) is in ``test_core_install.py``; help texts (point 5) in
``test_help_texts.py``.
"""

from __future__ import annotations

import json
import os
import time

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.cli import main
from dataoptim.errors import MissingFileError, ModelInputError, RecordError


def _records(n=4):
    return [
        {"id": f"coco_{i}", "image": f"coco/{i}.jpg",
         "conversations": [{"from": "human", "value": "<image>\nWhat is in the image?"}, {"from": "gpt", "value": f"a cat number {i}"}]}
        for i in range(n)
    ]


def _images(root, names, size=(32, 24)):
    from PIL import Image

    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (40 * i % 255, 90, 200)).save(path, format="JPEG" if name.endswith(".jpg") else None)
    return root


def _cut_after_header(path):
    """Keep a JPEG's header and the first bytes of its scan: Pillow reads the size, decoding fails."""
    data = path.read_bytes()
    scan = data.index(b"\xff\xda")  # start of scan: everything before is the header
    path.write_bytes(data[: scan + 20])
    return path


# ----------------------------------------------------------------------------------------------
# point 2: --model values
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("value", ["ck-hff", "./ck-hff", "runs/ck-hff/", "/nonexistent/ck-hff", "~/nonexistent-ck-hff", "a/b/c"])
def test_a_missing_model_folder_is_refused_at_once(value, tmp_path, monkeypatch, no_network):
    from dataoptim.modelref import check_model_ref

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # even online: a path is never a hub id
    start = time.perf_counter()
    with pytest.raises(MissingFileError) as info:
        check_model_ref(value)
    assert time.perf_counter() - start < 1.0
    assert "no such folder" in str(info.value) and value in str(info.value) and "--model" in str(info.value)


def test_near_miss_folder_is_suggested(tmp_path, monkeypatch, no_network):
    from dataoptim.modelref import check_model_ref

    (tmp_path / "ck-hf").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFileError, match=r"no such folder; did you mean 'ck-hf'"):
        check_model_ref("ck-hff")
    assert check_model_ref("ck-hf") == "ck-hf" and check_model_ref("tiny") == "tiny"


def test_a_hub_id_offline_fails_in_under_a_second(monkeypatch, no_network):
    from dataoptim.modelref import check_model_ref

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(MissingFileError, match="not in the local hub cache"):
        check_model_ref("llava-hf/no-such-model-here")
    assert time.perf_counter() - start < 1.0


def test_evaluate_and_train_refuse_a_missing_model_folder_in_one_line(tmp_path, capfd, no_network):
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question_id": "q1", "text": "What?", "task": "vqa", "answers": ["cat"]}) + "\n")
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(_records(1)))
    (tmp_path / "images").mkdir()
    for argv in (
        ["evaluate", "--model", "ck-hff", "--benchmark", str(bench), "--output", str(tmp_path / "eval")],
        ["train", "--model", "ck-hff", "--data", str(data), "--image-folder", str(tmp_path / "images"), "--output-dir", str(tmp_path / "o")],
        ["train", "--model-name-or-path", "./llama-2-7b-chat", "--data", str(data), "--image-folder", str(tmp_path / "images"),
         "--output-dir", str(tmp_path / "o")],
    ):
        start = time.perf_counter()
        assert main(argv) == 2
        elapsed = time.perf_counter() - start
        err = capfd.readouterr().err.splitlines()
        assert len(err) == 1 and "no such folder" in err[0], err
        assert elapsed < 5.0, f"{argv[0]} took {elapsed:.1f} s"  # generous: no model or data was loaded
    assert not (tmp_path / "eval").exists() and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------
# point 3 (and 7): validate reports every problem
# ----------------------------------------------------------------------------------------------
@pytest.fixture
def faulty_byod(tmp_path):
    """A BYOD file with six faults in records 1 (two: no <image> token, image coco/1.jpg missing), 2, 4, 5 and 6,
    and an image folder with near misses."""
    images = _images(tmp_path / "images", ["coco/0.jpg", "coco/3.jpg", "filckr30k/7.jpg", "ocrvqa/103.gif"])
    records = _records(4)
    records[1]["conversations"][0]["value"] = "What is in the image?"  # no <image> token
    records[2]["image"] = "coco/2.jpg"  # missing, no near miss
    records.append(dict(records[0]))  # 4: duplicate id coco_0
    records.append({**_records(1)[0], "id": "flickr30k_7", "image": "flickr30k/7.jpg"})  # 5: folder misspelt on disk
    records.append({**_records(1)[0], "id": "ocrvqa_103", "image": "ocrvqa/103.jpg"})  # 6: saved as .gif
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(records, indent=1))
    return path, images


def test_validate_reports_every_problem_in_one_run(faulty_byod, tmp_path, capsys):
    path, images = faulty_byod
    report = tmp_path / "problems.jsonl"
    assert main(["validate", str(path), "--image-folder", str(images), "--report", str(report)]) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert [e.split("record ", 1)[1][:1] for e in errors] == ["1", "1", "2", "4", "5", "6"]
    assert "<image>" in errors[0] and "'coco/1.jpg' not found" in errors[1] and "duplicate id, first used by record 0" in errors[3]
    assert ("no folder 'flickr30k/', but 'filckr30k/' is there: rename it to 'flickr30k/' "
            "(DataOptim's README misspells it 'filckr30k/'; its records say 'flickr30k/')") in errors[4]
    assert "'ocrvqa/103.gif' is there (another extension)" in errors[5]
    assert "6 problems in total (6 shown; all of them in" in captured.err
    assert "checked " in captured.out and "7 records read" in captured.out and "image files checked to exist" in captured.out
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert [p["record"] for p in lines] == [1, 1, 2, 4, 5, 6]
    assert [p["field"] for p in lines][1:] == ["image", "image", "id", "image", "image"] and lines[0]["kind"] == "RecordError"


def test_max_errors_shows_the_first_n_then_the_total(faulty_byod, capsys):
    path, images = faulty_byod
    assert main(["validate", str(path), "--image-folder", str(images), "--max-errors", "2", "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[2] == "6 problems in total (2 shown; --report FILE lists all of them)"


def test_validate_reports_every_problem_of_a_record(tmp_path, capsys):
    """One record, four broken fields: four problems (it stopped at the first), in field order; --max-errors still caps the lines."""
    records = _records(2)
    records[1] = {"id": "coco 1", "image": None, "conversations": [
        {"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": "  "}, {"from": "human", "value": "And <image>?"}]}
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(records))
    assert main(["validate", str(path)]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert err == [
        f"error: {path}: record 1 (id 'coco 1'), field 'id': must contain only letters, digits and '_ . + -' (no spaces)",
        f"error: {path}: record 1 (id 'coco 1'), field 'image': is null; a text-only record has no 'image' field at all",
        f"error: {path}: record 1 (id 'coco 1'), field 'conversations[1].value': is empty",
        f"error: {path}: record 1 (id 'coco 1'), field 'conversations[2].value': <image> may appear only in the first human turn",
        f"error: {path}: record 1 (id 'coco 1'), field 'conversations[2]': the conversation must end with a 'gpt' turn",
    ]
    assert main(["validate", str(path), "--max-errors", "2", "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and err[2] == "5 problems in total (2 shown; --report FILE lists all of them)"
    # the first of them is what validate_byod (and the trainer, on the same file) raise
    from dataoptim.select import validate_byod

    with pytest.raises(RecordError, match=r"record 1 \(id 'coco 1'\), field 'id': must contain only"):
        validate_byod(path)


def test_validate_checks_the_image_of_a_record_with_other_problems(tmp_path, capsys):
    """A record with a text problem still has its image checked (it was skipped: its missing image showed only on the
    next run, and the summary counted 1 image file checked); so has a record with a repeated id."""
    images = _images(tmp_path / "images", ["coco/1.jpg"])
    records = _records(2)
    records[0] = {"id": "r0", "image": "coco/missing.jpg",
                  "conversations": [{"from": "human", "value": "<image>\nWhat?"}, {"from": "gpt", "value": ""}]}
    records.append(dict(records[1], image="coco/gone.jpg"))  # 2: repeats coco_1's id, and its image is missing
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(records))
    assert main(["validate", str(path), "--image-folder", str(images)]) == 2
    captured = capsys.readouterr()
    err = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert err == [
        f"error: {path}: record 0 (id 'r0'), field 'conversations[1].value': is empty",
        f"error: {path}: record 0 (id 'r0'), field 'image': image file 'coco/missing.jpg' not found under {images}",
        f"error: {path}: record 2 (id 'coco_1'), field 'id': duplicate id, first used by record 1",
        f"error: {path}: record 2 (id 'coco_1'), field 'image': image file 'coco/gone.jpg' not found under {images}",
    ]
    assert "3 records read" in captured.out and "3 image files checked to exist (headers parsed)" in captured.out


def test_validate_says_what_it_checked(tmp_path, capsys):
    images = _images(tmp_path / "images", [f"coco/{i}.jpg" for i in range(4)])
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(_records(4)))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "images not checked (no --image-folder)" in out and "ids not looked up in a pool (no --pool)" in out
    assert main(["validate", str(path), "-q"]) == 0  # the one-line verdict says it too
    assert capsys.readouterr().out.endswith("4 records, 4 images; image files not checked (no --image-folder)\n")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_records(1)))  # one: "1 record, 1 image" (it said "1 records, 1 images")
    assert main(["validate", str(one), "-q"]) == 0
    assert capsys.readouterr().out.endswith("valid BYOD submission, 1 record, 1 image; image files not checked (no --image-folder)\n")
    assert main(["validate", str(one)]) == 0
    assert "checked " in (out := capsys.readouterr().out) and "1 record read" in out
    assert main(["validate", str(path), "--image-folder", str(images), "-q"]) == 0
    assert capsys.readouterr().out.endswith("4 images; image files found (headers parsed)\n")
    assert main(["validate", str(path), "--image-folder", str(images), "--decode-images"]) == 0
    out = capsys.readouterr().out
    assert "4 image files checked to exist (headers parsed)" in out and "4 image files fully decoded" in out
    assert out.endswith("4 images; image files found and decoded\n")


def test_validate_accepts_json_lines_and_keeps_reading_after_a_bad_line(tmp_path, capsys):
    images = _images(tmp_path / "images", [f"coco/{i}.jpg" for i in range(4)])
    path = tmp_path / "sub.jsonl"  # LLaVA issue 1753: JSON Lines, one record per line
    lines = [json.dumps(r) for r in _records(4)]
    path.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(path), "--image-folder", str(images)]) == 0
    assert "valid BYOD submission (JSON Lines), 4 records, 4 images" in capsys.readouterr().out
    same = tmp_path / "sub.txt"  # detected by content, whatever the name
    same.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(same), "-q"]) == 0
    lines[1] = lines[1][:-3]
    path.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(path), "-q"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: {path}: record 1: line 2 is not valid JSON: Expecting ',' delimiter"]


def test_validate_lists_every_bad_id_of_a_standard_submission(tmp_path, capsys):
    path = tmp_path / "ids.txt"
    path.write_text("coco_0\nbad id\ncoco_1\nalso bad!\n")
    assert main(["validate", str(path), "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith("line 2: malformed id 'bad id' (an id is letters, digits and '_ . + -', one per line)")
    assert "line 4: malformed id 'also bad!'" in err[1] and err[2] == "2 problems in total (2 shown)"


def test_image_hint_uses_near_misses(tmp_path):
    from dataoptim.select.validate import image_hint

    _images(tmp_path, ["flickr30k/1.jpg", "ocrvqa/103.gif", "coco/COCO_train2014_000000000009.jpg"])
    assert image_hint("ocrvqa/103.jpg", tmp_path) == "'ocrvqa/103.gif' is there (another extension)"
    assert image_hint("coco/COCO_train2014_000000000008.jpg", tmp_path) == "did you mean 'coco/COCO_train2014_000000000009.jpg'?"
    # a record with DataOptim's README spelling: the hint points to 'flickr30k/' (DataOptim's records; DESIGN §11), never
    # to renaming the right folder to the misspelling (it did: "rename it to 'filckr30k/'?")
    assert image_hint("filckr30k/1.jpg", tmp_path) == ("no folder 'filckr30k/', but 'flickr30k/' is there: 'filckr30k/' is DataOptim's README "
                                                       "misspelling, its records say 'flickr30k/': write the image path as 'flickr30k/1.jpg'")
    assert image_hint("gqa/1.jpg", tmp_path) == f"no folder 'gqa/' under {tmp_path}"
    assert image_hint("coco/zzz.png", tmp_path) is None


# ----------------------------------------------------------------------------------------------
# point 4: a JPEG cut short after its header
# ----------------------------------------------------------------------------------------------
def test_cut_jpeg_passes_the_header_check_and_fails_decoding(tmp_path):
    from dataoptim.select.images import image_problem
    from dataoptim.train.images import decode_all

    _images(tmp_path, ["a.jpg", "b.jpg"], size=(64, 48))
    cut = _cut_after_header(tmp_path / "b.jpg")
    assert image_problem(cut, header=True) == ("jpeg", None)  # why the header check let it through
    failed = decode_all({"a.jpg": tmp_path / "a.jpg", "b.jpg": cut}, workers=2)
    assert list(failed) == ["b.jpg"] and "truncated" in failed["b.jpg"]


def test_validate_and_select_decode_images(tmp_path, capsys):
    images = _images(tmp_path / "images", [f"coco/{i}.jpg" for i in range(4)], size=(64, 48))
    _cut_after_header(images / "coco" / "2.jpg")
    path = tmp_path / "sub.json"
    path.write_text(json.dumps(_records(4)))
    assert main(["validate", str(path), "--image-folder", str(images), "-q"]) == 0  # the header check passes it
    capsys.readouterr()
    assert main(["validate", str(path), "--image-folder", str(images), "--decode-images", "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "record 2 (id 'coco_2'), field 'image'" in err[0] and "cannot be decoded" in err[0]
    out = tmp_path / "out.json"
    assert main(["select", "--byod", str(path), "--image-folder", str(images), "--decode-images", "--output", str(out), "-q"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "record 2 (id 'coco_2')" in err[0] and "cannot be decoded" in err[0]
    assert not out.exists()


def test_select_ids_decode_images(tmp_path, capsys):
    from dataoptim.select import build_pool

    data = tmp_path / "data"
    data.mkdir()
    (data / "coco.json").write_text(json.dumps(_records(4)))
    build_pool(data, tmp_path / "pool", progress=False)
    images = _images(tmp_path / "images", [f"coco/{i}.jpg" for i in range(4)], size=(64, 48))
    _cut_after_header(images / "coco" / "1.jpg")
    ids = tmp_path / "ids.txt"
    ids.write_text("coco_0\ncoco_1\n")
    out = tmp_path / "out.json"
    base = ["select", "--pool", str(tmp_path / "pool"), "--ids", str(ids), "--image-folder", str(images), "--output", str(out), "-q"]
    assert main(base) == 0
    capsys.readouterr()
    out.unlink()
    assert main([*base, "--decode-images"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "id 'coco_1'" in err[0] and "'coco/1.jpg'" in err[0] and "cannot be decoded" in err[0]
    assert not out.exists()


def _train_selection(tmp_path, n=4, size=(64, 48)):
    images = _images(tmp_path / "images", [f"coco/{i}.jpg" for i in range(n)], size=size)
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(_records(n)))
    return data, images


@pytest.mark.slow
def test_train_skip_bad_images_drops_and_reports_a_cut_jpeg(tmp_path, capsys):
    from dataoptim.train.hf import train_hf

    data, images = _train_selection(tmp_path)
    _cut_after_header(images / "coco" / "1.jpg")
    common = dict(max_steps=1, per_device_train_batch_size=2, dataloader_num_workers=0, save_strategy="no", disable_tqdm=True,
                  cache_dir=tmp_path / "cache")
    # without a flag: the data loader meets it and the run stops, naming the record
    with pytest.raises(ModelInputError, match=r"record 1 \(id 'coco_1'\), field 'image'.*cannot be decoded"):
        train_hf(data, images, tmp_path / "plain", per_device_train_batch_size=4, **{k: v for k, v in common.items() if k != "per_device_train_batch_size"})
    assert not (tmp_path / "plain" / "data_report.json").exists()
    # --decode-images: stops before training, naming the record
    with pytest.raises(ModelInputError, match=r"record 1 \(id 'coco_1'\), field 'image'.*cannot be decoded"):
        train_hf(data, images, tmp_path / "decode", open_images=True, dry_run=True, cache_dir=tmp_path / "cache")
    # --skip-bad-images: dropped, reported, trained on the rest
    assert main(["train", "--data", str(data), "--image-folder", str(images), "--model", "tiny", "--output-dir", str(tmp_path / "skip"),
                 "--max-steps", "1", "--per-device-train-batch-size", "2", "--dataloader-num-workers", "0",
                 "--cache-dir", str(tmp_path / "cache"), "--skip-bad-images"]) == 0
    assert "1 left out: image cannot be decoded" in capsys.readouterr().err
    report = json.loads((tmp_path / "skip" / "data_report.json").read_text())
    assert report["records"] == 4 and report["usable"] == 3 and report["bad_images"] == 1
    assert [(e["index"], e["id"], e["image"]) for e in report["bad_image_records"]] == [(1, "coco_1", "coco/1.jpg")]
    assert "truncated" in report["bad_image_records"][0]["detail"]


@pytest.mark.slow
def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from dataoptim.train.hf import train_hf

    data, images = _train_selection(tmp_path, n=8)

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 2:
                control.should_training_stop = True  # an interruption right after checkpoint-2 is saved

    common = dict(max_steps=4, per_device_train_batch_size=2, dataloader_num_workers=0, save_strategy="steps", save_steps=2,
                  logging_steps=1, learning_rate=1e-3, disable_tqdm=True, cache_dir=tmp_path / "cache")
    whole = train_hf(data, images, tmp_path / "whole", **common)
    cut = train_hf(data, images, tmp_path / "cut", callbacks=[StopAt()], **common)
    assert cut.metrics["global_step"] == 2 and (tmp_path / "cut" / "checkpoint-2" / "optimizer.pt").is_file()
    resumed = train_hf(data, images, tmp_path / "cut", resume=True, **common)
    assert resumed.metrics["global_step"] == 4
    steps = lambda result: {e["step"]: e["loss"] for e in result.log_history if "loss" in e}  # noqa: E731
    assert steps(whole)[2] == pytest.approx(steps(cut)[2], rel=1e-6)
    assert steps(resumed)[3] == pytest.approx(steps(whole)[3], rel=1e-5) and steps(resumed)[4] == pytest.approx(steps(whole)[4], rel=1e-5)
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "cut" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    # a restarted run (no --resume) would differ: the learning went on from step 2
    assert steps(resumed)[3] != pytest.approx(steps(cut)[1], rel=1e-3)


def test_resume_without_a_checkpoint_is_refused_before_anything_is_read(tmp_path):
    from dataoptim.train.hf import train_hf

    data, images = _train_selection(tmp_path, n=1)
    (tmp_path / "out").mkdir()
    with pytest.raises(MissingFileError, match="nothing to resume: no checkpoint-N folder"):
        train_hf(data, images, tmp_path / "out", resume=True, max_steps=1, cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------------------------
# point 6: one colour per task and per source, whatever else is in the plot
# ----------------------------------------------------------------------------------------------
def _summary(counts):
    from dataoptim.select.summary import SummaryBuilder

    builder = SummaryBuilder("s")
    for source, n in counts.items():
        for i in range(n):
            builder.add_record({"id": f"{source}_{i}", "image": f"x/{source}{i}.jpg",
                                "conversations": [{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]})
    return builder.build()


def _bar_colours(ax, horizontal):
    """{bar label: colour} of a bar chart (labels on the y axis for ``barh``)."""
    from matplotlib.colors import to_hex

    labels = [t.get_text() for t in (ax.get_yticklabels() if horizontal else ax.get_xticklabels())]
    return {label: to_hex(p.get_facecolor()) for label, p in zip(labels, ax.patches)}


def test_a_task_keeps_its_colour_across_plots():
    from matplotlib.colors import to_hex

    from dataoptim.colors import source_color, task_color
    from dataoptim.evaluate.report import compare, comparison_figure

    # two compositions: vqa is the 2nd task of one, the 4th of the other (a by-position palette paints it differently)
    first = _summary({"coco": 3, "vqav2": 2, "llava": 1}).plot()
    second = _summary({"ref3rec": 1, "aokvqa": 2, "coco": 1, "gqa": 4, "shikra": 1}).plot()
    per_task = [_bar_colours(fig.axes[1], horizontal=False) for fig in (first, second)]
    per_source = [_bar_colours(fig.axes[0], horizontal=True) for fig in (first, second)]
    assert per_task[0]["vqa"] == per_task[1]["vqa"] == task_color("vqa") == "#ff7f0e"
    assert per_task[0]["caption"] == per_task[1]["caption"] == task_color("caption")
    assert per_source[0]["vqav2"] == per_source[1]["gqa"] == task_color("vqa")  # sources coloured by their task
    from dataoptim import catalog
    from dataoptim.colors import SOURCE_COLORS
    from dataoptim.records import TASKS

    assert len({task_color(t) for t in TASKS}) == len(TASKS)  # every training task its own colour
    assert set(catalog.SOURCES) <= set(SOURCE_COLORS) and len(set(SOURCE_COLORS.values())) == len(SOURCE_COLORS)
    # the comparison plot: each task's panel in the same colour
    scores = {"a": {"vqa": {"accuracy": 0.5, "n": 2}, "caption": {"cider": 0.1, "n": 2}}, "b": {"vqa": {"accuracy": 0.2, "n": 2}}}
    figure = comparison_figure(compare(scores))
    titles = {ax.get_title().split("\n")[0]: to_hex(ax.title.get_color()) for ax in figure.axes}
    assert titles == {"vqa": task_color("vqa"), "caption": task_color("caption")}
    # names not listed get a colour that depends on the name only
    assert task_color("new-task") == task_color("new-task") and source_color("newsource") == source_color("newsource")
    assert source_color("coco") != source_color("flickr30k")


# ----------------------------------------------------------------------------------------------
# point 7: pool build --data-dir data.zip
# ----------------------------------------------------------------------------------------------
def test_pool_build_reads_dataoptims_data_zip(tmp_path, capsys):
    import zipfile

    from dataoptim.select import Pool

    archive = tmp_path / "data.zip"
    vqa = [{**r, "id": r["id"].replace("coco", "vqav2")} for r in _records(2)]
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/coco.json", json.dumps(_records(3)))
        zf.writestr("data/vqav2.json", json.dumps(vqa))
        zf.writestr("data/README.md", "not a source")
    assert main(["pool", "build", "--data-dir", str(archive), "--output", str(tmp_path / "pool")]) == 0
    assert "pool " in capsys.readouterr().out
    pool = Pool.open(tmp_path / "pool")
    assert len(pool) == 5 and pool.sources == ["coco", "vqav2"]
    assert pool.get("vqav2_1")["conversations"][1]["value"] == "a cat number 1"
    assert json.loads((tmp_path / "pool" / "manifest.json").read_text())["data_dir"] == str(archive.resolve())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.zip", "pool"]  # the extracted members are gone
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("notes.txt", "nothing here")
    assert main(["pool", "build", "--data-dir", str(tmp_path / "empty.zip"), "--output", str(tmp_path / "p2")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "the archive holds no <source>.json of a known source" in err[0]
    (tmp_path / "fake.zip").write_text("not a zip")
    assert main(["pool", "build", "--data-dir", str(tmp_path / "fake.zip"), "--output", str(tmp_path / "p3")]) == 2
    assert "not a valid zip archive" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.zip", "empty.zip", "fake.zip", "pool"]
    # tester's report: a bad member was named by its temporary extracted path; now archive:member
    with zipfile.ZipFile(tmp_path / "cut.zip", "w") as zf:
        zf.writestr("data/coco.json", json.dumps(_records(3))[:-20])
    for extra in ([], ["--num-proc", "2"]):
        assert main(["pool", "build", "--data-dir", str(tmp_path / "cut.zip"), "--output", str(tmp_path / "p4"), *extra]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'cut.zip'}:data/coco.json: "), err
    assert not (tmp_path / "p4").exists() and not list(tmp_path.glob(".p4.zip-*"))


def test_validate_a_standard_submission_reports_unknown_ids_and_missing_images(tmp_path, capsys):
    from dataoptim.select import build_pool

    data = tmp_path / "data"
    data.mkdir()
    (data / "coco.json").write_text(json.dumps(_records(4)))
    build_pool(data, tmp_path / "pool", progress=False)
    images = _images(tmp_path / "images", ["coco/0.jpg", "coco/2.gif"])
    ids = tmp_path / "ids.txt"
    ids.write_text("coco_0\ncoco_9\ncoco_1\ncoco_2\ncoco_8\n")
    report = tmp_path / "r.jsonl"
    argv = ["validate", str(ids), "--pool", str(tmp_path / "pool"), "--image-folder", str(images), "--report", str(report)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert [e.split(": ", 2)[2] for e in errors[:2]] == ["line 2: id 'coco_9' is not in the pool", "line 5: id 'coco_8' is not in the pool"]
    assert "id 'coco_1', field 'image': image file 'coco/1.jpg' not found" in errors[2]
    assert "'coco/2.gif' is there (another extension)" in errors[3] and len(errors) == 4
    assert "5 ids looked up in the pool (3 found)" in captured.out and "3 image files checked to exist" in captured.out
    assert [json.loads(line)["kind"] for line in report.read_text().splitlines()] == ["UnknownIdError", "UnknownIdError", "RecordError", "RecordError"]


def test_require_extra_names_the_extra_of_each_missing_module(monkeypatch):
    import importlib.util

    from dataoptim.errors import MissingExtraError
    from dataoptim.extras import EXTRAS, require_extra
    from dataoptim.signals import neardup

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("datasketch", "pycocoevalcap") else real(name, *a))
    with pytest.raises(MissingExtraError) as info:
        neardup.prepare(neardup.PARAMS)
    assert str(info.value) == ("the near-duplicate signal (MinHash) needs the 'signals' extra (datasketch is not installed): "
                               'pip install "dataoptim[signals]"')
    assert info.value.name == "datasketch" and isinstance(info.value, ImportError)
    with pytest.raises(MissingExtraError, match=r'^CIDEr needs the \'eval\' extra \(pycocoevalcap is not installed\): pip install "dataoptim\[eval\]"$'):
        require_extra("eval", "CIDEr")
    require_extra("train", "training")  # installed here: no error
    assert set(EXTRAS) == {"train", "eval", "deepspeed", "signals"}
