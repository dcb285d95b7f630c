"""Boxes in the frame the recipe trains (issue 11 item 6).

The expected bytes are the output of DataOptim's own tool, ``tools/expand_to_square.py`` at
BAAI-DCAI/DataOptim commit 1d45a74, run unchanged outside the project (in /work/refs/boxes, Python
3.11.7, Pillow 13.0.0, tqdm 4.70.1) as::

    python expand_to_square.py --data_dir data --image_dir images --output_dir out

on ``tests/fixtures/boxes_dataoptim/data/{ref3rec,ref3reg,shikra,svit}.json`` (DataOptim's real
records from its example submission plus synthetic records with several boxes) and blank images of
the sizes in ``image_sizes.json`` (portrait 333x500 and 100x1000, landscape 640x480, 800x600, 640x427,
square 500x500). Its four output files are ``tests/fixtures/boxes_dataoptim/expand_to_square_out/``,
kept byte for byte (the tool writes ``json.dumps(data, indent=4)``, ASCII-escaped, no final newline).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim import boxes as B
from dataoptim.cli import main
from dataoptim.errors import BoxFrameError, ConfigError

FIX = Path(__file__).parent / "fixtures" / "boxes_dataoptim"
FILES = ("ref3rec", "ref3reg", "shikra", "svit")
SIZES = {k: tuple(v) for k, v in json.loads((FIX / "image_sizes.json").read_text()).items()}


def tool_output(name: str) -> bytes:
    return (FIX / "expand_to_square_out" / f"{name}.json").read_bytes()


def tool_records() -> dict[str, dict]:
    return {r["id"]: r for name in FILES for r in json.loads(tool_output(name))}


def make_images(root: Path) -> Path:
    from PIL import Image

    for rel, size in SIZES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (90, 120, 150)).save(root / rel)
    return root


# -- DataOptim's tool, value by value -------------------------------------------------------------
@pytest.mark.parametrize("name", FILES)
def test_records_moved_as_dataoptims_tool_byte_for_byte(name):
    sizes = B.ImageSizes(SIZES)
    data = json.loads((FIX / "data" / f"{name}.json").read_text())
    moved = [B.convert_record(r, sizes, "padded")[0] for r in data]
    assert json.dumps(moved, indent=4).encode() == tool_output(name)


def test_the_tools_rounding_and_matching_rules():
    # DataOptim's real ref3rec_287603 on a 640x480 image: 0.106 * 480 = 50.88 -> 51 px, + 80 -> 131 / 640 = 0.2046875 -> 0.205
    # (the exact conversion gives 0.2045 -> 0.204: the two differ, the tool's is the challenge's data)
    assert B.expand_to_square_box("[0.0, 0.106, 0.827, 1.0]", 640, 480) == "[0.0, 0.205, 0.827, 0.875]"
    assert B.to_padded((0.0, 0.106, 0.827, 1.0), 640, 480) == (0.0, 0.204, 0.827, 0.875)
    # Python's round: half to even on whole pixels (0.125 * 500 = 62.5 -> 62, 0.375 * 500 = 187.5 -> 188); square images move too
    assert B.expand_to_square_box("[0.125, 0.375, 0.625, 0.875]", 500, 500) == "[0.124, 0.376, 0.624, 0.876]"
    # portrait: x shifted by (500 - 333) // 2 = 83 px, all divided by 500
    assert B.expand_to_square_box("[0.125, 0.001, 0.5, 0.999]", 333, 500) == "[0.25, 0.0, 0.498, 1.0]"
    # integers are boxes to the tool; a value that is no number is left; a minus sign is not matched
    text, moved, left = B.expand_to_square_text("steps [1, 2, 3, 4]; typo [0.1.2, 0.2, 0.3, 0.4]; [-0.1, 0.2, 0.3, 0.4]", 333, 500)
    assert text == "steps [0.832, 2.0, 2.164, 4.0]; typo [0.1.2, 0.2, 0.3, 0.4]; [-0.1, 0.2, 0.3, 0.4]" and (moved, left) == (1, 1)
    # str.replace of each match everywhere, one after another: a moved box that reads as a later one is moved again
    text, moved, _ = B.expand_to_square_text("[0.5, 0.5, 0.75, 0.75] or [0.5, 0.5, 0.75, 0.688]?", 640, 480)
    assert text == "[0.5, 0.5, 0.75, 0.641] or [0.5, 0.5, 0.75, 0.641]?" and moved == 2
    # a repeated box: every occurrence is replaced at its first match (Shikra's style, no spaces, is not the tool's)
    text, moved, _ = B.expand_to_square_text("[0.1, 0.2, 0.3, 0.4] and [0.1, 0.2, 0.3, 0.4] [0.100,0.200,0.300,0.400]", 640, 427)
    assert text == "[0.1, 0.298, 0.3, 0.433] and [0.1, 0.298, 0.3, 0.433] [0.100,0.200,0.300,0.400]" and moved == 2
    assert B.expand_to_square_box("[" + "9" * 400 + ", 0.1, 0.2, 0.3]", 10, 5) is None  # too large to round: the tool's try gives up


def test_boxes_convert_to_padded_gives_the_tools_output_and_refuses_a_second_time(tmp_path, capsys):
    images = make_images(tmp_path / "images")
    for name in FILES:
        out = tmp_path / f"{name}.json"
        assert main(["boxes", "convert", str(FIX / "data" / f"{name}.json"), str(out), "--to", "padded", "--image-folder", str(images)]) == 0
        assert json.dumps(json.loads(out.read_text()), indent=4).encode() == tool_output(name)
        assert json.loads((tmp_path / f"{name}.json.boxes.json").read_text())["frame"] == "padded"
    capsys.readouterr()
    again = tmp_path / "again.json"
    for to in ("padded", "padded-exact"):
        assert main(["boxes", "convert", str(tmp_path / "svit.json"), str(again), "--to", to, "--image-folder", str(images)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "already in the padded frame (svit.json.boxes.json says so)" in err
        assert not again.exists()
    with pytest.raises(BoxFrameError):
        B.refuse_second_conversion(tmp_path / "svit.json", "padded")
    B.refuse_second_conversion(tmp_path / "svit.json", "original")  # back to the original frame is allowed
    B.refuse_second_conversion(FIX / "data" / "svit.json", "padded")  # no sidecar: DataOptim's own files convert


def test_a_malformed_sidecar_is_named(tmp_path, capsys):
    data = tmp_path / "sel.json"
    data.write_text("[]")
    (tmp_path / "sel.json.boxes.json").write_text('{"frame": "sideways"}')
    assert main(["boxes", "convert", str(data), str(tmp_path / "o.json"), "--to", "padded", "--image-sizes", str(FIX / "image_sizes.json")]) == 2
    assert "sel.json.boxes.json" in capsys.readouterr().err


# -- select --boxes ---------------------------------------------------------------------------------
OTHER = {  # a source without boxes whose text happens to hold one: the tool never reads it, nor does select
    "id": "llava_900001", "image": "coco/COCO_train2014_000000900006.jpg",
    "conversations": [{"from": "human", "value": "<image>\nWhat is written?"}, {"from": "gpt", "value": "It says [0.5, 0.5, 0.75, 0.75]."}],
}


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    import shutil

    from dataoptim.select.pool import build_pool

    root = tmp_path_factory.mktemp("boxpool")
    data = root / "data"
    shutil.copytree(FIX / "data", data)
    (data / "llava.json").write_text(json.dumps([OTHER]))
    build_pool(data, root / "pool")
    ids = root / "ids.txt"
    ids.write_text("\n".join([r["id"] for name in FILES for r in json.loads((FIX / "data" / f"{name}.json").read_text())] + [OTHER["id"]]) + "\n")
    return root / "pool", ids


def test_select_boxes_padded_writes_the_tools_bytes_and_says_so(tmp_path, pool, capsys):
    path, ids = pool
    out, summary = tmp_path / "sel.json", tmp_path / "summary.json"
    assert main(["select", "--pool", str(path), "--ids", str(ids), "--output", str(out), "--boxes", "padded",
                 "--image-sizes", str(FIX / "image_sizes.json"), "--summary", str(summary)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    written = {r["id"]: r for r in json.loads(out.read_text())}
    expected = tool_records()
    assert set(written) == set(expected) | {OTHER["id"]}
    for rid, record in expected.items():
        assert json.dumps(written[rid], indent=4) == json.dumps(record, indent=4), rid
    assert written[OTHER["id"]] == OTHER  # llava keeps its text
    side = json.loads((tmp_path / "sel.json.boxes.json").read_text())
    assert side["frame"] == "padded" and side["method"].startswith("LLaVA's padded square, moved as DataOptim tools/expand_to_square.py")
    # boxes counted as the tool meets them: shikra_900001 holds 8 (one repeated), svit 18 (an integer list among them); one typo left
    assert side["sources"] == {"ref3rec": 4, "ref3reg": 3, "shikra": 1, "svit": 4} and side["records"] == 12
    assert side["boxes"] == 4 + 3 + 8 + 18 and side["left_unchanged"] == 1 and side["data"] == "sel.json"
    assert json.loads(summary.read_text())["boxes"] == {k: v for k, v in side.items() if k not in ("format", "data", "method")}
    assert "boxes in the padded frame (DataOptim tool): 33 moved in 12 records" in err


def test_select_boxes_padded_reads_image_headers_too(tmp_path, pool):
    path, ids = pool
    images = make_images(tmp_path / "images")
    out = tmp_path / "sel.json"
    assert main(["select", "--pool", str(path), "--ids", str(ids), "--output", str(out), "--boxes", "padded", "--image-folder", str(images), "-q"]) == 0
    written = {r["id"]: r for r in json.loads(out.read_text())}
    assert all(written[rid] == record for rid, record in tool_records().items())


def test_select_default_is_the_original_frame_and_padded_exact_is_an_option(tmp_path, pool, capsys):
    path, ids = pool
    out = tmp_path / "sel.json"
    assert main(["select", "--pool", str(path), "--ids", str(ids), "--output", str(out), "-q"]) == 0
    original = {r["id"]: r for r in json.loads(out.read_text())}
    assert original["ref3rec_287603"]["conversations"][1]["value"] == "[0.0, 0.106, 0.827, 1.0]."
    side = json.loads((tmp_path / "sel.json.boxes.json").read_text())
    assert side["frame"] == "original" and side["sources"] == {"ref3rec": 4, "ref3reg": 3, "shikra": 2, "svit": 8}
    exact = ["--boxes", "padded-exact", "--image-sizes", str(FIX / "image_sizes.json")]
    # the exact conversion checks every box (the tool checks none): svit_referring_900001 holds [-0.1, ...], 900003 [1.5, 2.5, ...]
    assert main(["select", "--pool", str(path), "--ids", str(ids), "--output", str(out), "-q", *exact]) == 2
    err = capsys.readouterr().err
    assert "ids.txt: record 13 (id 'svit_referring_900001'), field 'conversations[1].value': box [-0.1, 0.2, 0.3, 0.4] is outside [0, 1]" in err
    assert json.loads((tmp_path / "sel.json.boxes.json").read_text())["frame"] == "original"  # the earlier output and its sidecar stand
    some = tmp_path / "ids.txt"
    some.write_text("".join(line + "\n" for line in ids.read_text().split() if line not in ("svit_referring_900001", "svit_referring_900003")))
    assert main(["select", "--pool", str(path), "--ids", str(some), "--output", str(out), "-q", *exact]) == 0
    exact = {r["id"]: r for r in json.loads(out.read_text())}
    assert exact["ref3rec_287603"]["conversations"][1]["value"] == "[0.0, 0.204, 0.827, 0.875]."  # exact: 0.2045 rounded once
    assert exact["svit_referring_900002"]["conversations"][0]["value"].endswith("the box [0.5, 0.5, 0.75, 0.688] or the box [0.5, 0.5, 0.75, 0.641]?")
    assert json.loads((tmp_path / "sel.json.boxes.json").read_text())["frame"] == "padded-exact"


def test_select_byod_moves_the_boxes_of_grounding_ids(tmp_path):
    records = json.loads((FIX / "data" / "ref3rec.json").read_text())[:2] + [OTHER]
    byod = tmp_path / "byod.json"
    byod.write_text(json.dumps(records))
    out = tmp_path / "sel.json"
    assert main(["select", "--byod", str(byod), "--output", str(out), "--boxes", "padded", "--image-sizes", str(FIX / "image_sizes.json"), "-q"]) == 0
    written = json.loads(out.read_text())
    expected = tool_records()
    assert written[:2] == [expected["ref3rec_287603"], expected["ref3rec_900001"]] and written[2] == OTHER
    side = json.loads((tmp_path / "sel.json.boxes.json").read_text())
    assert (side["frame"], side["records"], side["boxes"], side["sources"]) == ("padded", 2, 2, {"ref3rec": 2})


def test_select_boxes_problems_stop_before_anything_is_written(tmp_path, pool, capsys):
    path, ids = pool
    out = tmp_path / "sel.json"
    base = ["select", "--pool", str(path), "--ids", str(ids), "--output", str(out)]
    cases = [
        (["--boxes", "padded"], "--boxes padded needs the images' sizes"),
        (["--boxes", "sideways"], "must be one of original, padded, padded-exact"),
        (["--image-sizes", str(FIX / "image_sizes.json")], "--image-sizes is only for --boxes padded"),
        (["--boxes", "padded", "--image-sizes", str(tmp_path / "none.json")], "not found"),
    ]
    for more, message in cases:
        assert main(base + more) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"COCO_train2014_000000544238.jpg": [640, 480]}))
    assert main(base + ["--boxes", "padded", "--image-sizes", str(small)]) == 2
    err = capsys.readouterr().err
    assert "the size of image 'visual_genome/9000000001.jpg' is needed" in err and "field 'image'" in err
    assert not list(tmp_path.glob("sel.json*"))


# -- the catalog's hook ---------------------------------------------------------------------------
def test_source_frames_follow_the_catalog(monkeypatch):
    from dataoptim import catalog

    assert [n for n, s in catalog.SOURCES.items() if s.box_frame == "original"] == ["ref3rec", "ref3reg", "shikra", "svit"]
    assert B.source_frame("svit_referring_0") == "original" and B.source_frame("vqav2_1") is None and B.source_frame("mine_1") == "unknown"
    with pytest.raises(ValueError, match="box_frame"):
        catalog.Source("x", "X", "vqa", "vqa", 1, "x", "x", box_frame="square")
    # a source released in the padded square (LLaVA-v1.5's mix, say) is left as it is, and named in the sidecar
    monkeypatch.setitem(catalog.SOURCES, "llava", catalog.Source("llava", "LLaVA", "gpt4", "instruct", 1, "coco", "llava", box_frame="padded"))
    mover = B.BoxMover("padded", B.ImageSizes(SIZES))
    assert mover.record(OTHER, 0) is OTHER
    moved = mover.record(tool_records()["ref3rec_287603"] | {"conversations": json.loads((FIX / "data" / "ref3rec.json").read_text())[0]["conversations"]}, 1)
    assert moved == tool_records()["ref3rec_287603"]
    assert mover.info()["other_frames"] == {"llava": "padded"}


# -- train says when the boxes are not in the trained frame ---------------------------------------
def test_frame_note_reads_the_sidecar_or_the_ids(tmp_path):
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(json.loads((FIX / "data" / "svit.json").read_text())))
    note = B.frame_note(data, pad=True)
    assert note.startswith("note: sel.json holds grounding boxes in the original frame (e.g. 'svit_referring_0')") and "\n" not in note
    assert B.frame_note(data, pad=False) is None
    B.write_frame_file(data, {"frame": "padded", "records": 3, "boxes": 12, "sources": {"svit": 3}})
    assert B.frame_note(data, pad=True) is None
    assert "are in the padded frame (sel.json.boxes.json) but images are trained square" in B.frame_note(data, pad=False)
    B.write_frame_file(data, {"frame": "original", "records": 8, "sources": {"svit": 8}})
    assert "(sel.json.boxes.json: svit)" in B.frame_note(data, pad=True)
    no_boxes = tmp_path / "plain.json"
    no_boxes.write_text(json.dumps([OTHER]))
    assert B.frame_note(no_boxes, pad=True) is None  # no id of a source with original-frame boxes: not even parsed
    jsonl = tmp_path / "sel.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in json.loads((FIX / "data" / "ref3reg.json").read_text())))
    assert "e.g. 'ref3reg_287603'" in B.frame_note(jsonl, pad=True)


def _llava_stub(tmp_path):
    repo = tmp_path / "LLaVA"
    (repo / "llava" / "train").mkdir(parents=True)
    (repo / "llava" / "train" / "train_mem.py").write_text("# stub\n")
    adapter = tmp_path / "mm_projector.bin"
    adapter.write_bytes(b"stub")
    base = tmp_path / "base"
    base.mkdir()
    return ["--llava-repo", str(repo), "--model-name-or-path", str(base), "--pretrain-mm-mlp-adapter", str(adapter)]


@pytest.mark.filterwarnings("ignore::dataoptim.train.llava.LlavaCommitWarning")
def test_train_prints_one_line_for_original_frame_boxes(tmp_path, capsys):
    images = make_images(tmp_path / "images")
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(json.loads((FIX / "data" / "ref3rec.json").read_text())))
    llava = ["train", "--backend", "llava", "--dry-run", "--data", str(data), "--image-folder", str(images),
             "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), *_llava_stub(tmp_path)]
    assert main(llava) == 0
    captured = capsys.readouterr()
    notes = [ln for ln in captured.err.splitlines() if ln.startswith("note:")]
    assert notes == [
        "note: sel.json holds grounding boxes in the original frame (e.g. 'ref3rec_287603') but images are trained padded to a square "
        "(image_aspect_ratio pad); DataOptim's final data moved them: dataoptim select ... --boxes padded, or dataoptim boxes convert --to padded"
    ]
    assert "--image_aspect_ratio pad" in " ".join(captured.out.split())
    # the October script (no padding): no note, and the flag reaches LLaVA's command
    assert main(llava + ["--image-aspect-ratio", "square"]) == 0
    captured = capsys.readouterr()
    assert "note:" not in captured.err and "--image_aspect_ratio square" in " ".join(captured.out.split())
    # converted with DataOptim's tool: nothing to say under pad
    padded = tmp_path / "padded.json"
    assert main(["boxes", "convert", str(data), str(padded), "--to", "padded", "--image-folder", str(images)]) == 0
    llava[llava.index(str(data))] = str(padded)
    capsys.readouterr()
    assert main(llava) == 0
    assert "note:" not in capsys.readouterr().err
    assert main(llava + ["--image-aspect-ratio", "sideways"]) == 2
    assert main(llava + ["--image-aspect-ratio", "square", "--extra", "image_aspect_ratio=pad"]) == 2


def test_train_hf_prints_the_line_too(tmp_path, capsys, monkeypatch):
    import dataoptim.train as T

    seen = {}

    class Result:
        report = {"records": 4, "usable": 4, "too_long": 0, "mismatch": 0, "tokens": 1, "max_length": 1}

    def fake_train(data, image_folder, output_dir, **options):
        seen.update(options)
        return Result()

    monkeypatch.setattr(T, "train", fake_train)
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(json.loads((FIX / "data" / "ref3rec.json").read_text())))
    argv = ["train", "--backend", "hf", "--dry-run", "--data", str(data), "--image-folder", str(tmp_path), "--output-dir", str(tmp_path / "o")]
    assert main(argv) == 0
    assert seen["pad"] is True and capsys.readouterr().err.count("note: sel.json holds grounding boxes in the original frame") == 1
    assert main(argv + ["--image-aspect-ratio", "square"]) == 0
    assert seen["pad"] is False and "note:" not in capsys.readouterr().err


# -- square: the October script's images ---------------------------------------------------------
def _pattern(w, h):
    """A deterministic RGB test picture (the same code made the reference's inputs)."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 7 + y * 3) % 256, (x * x + 5 * y) % 256, (x * y // 3 + 11) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


# sha256 of the float32 pixel tensor (3, 224, 224) that LLaVA 744cb3e's non-'pad' branch gives,
# ``processor.preprocess(Image.open(path).convert('RGB'), return_tensors=...)['pixel_values'][0]``, with
# transformers 4.31.0 (LLaVA's pin) and openai/clip-vit-large-patch14's preprocessor settings, run outside
# the project (/work/refs/boxes/square/square_ref.py, in a transformers 4.31.0 venv) on _pattern(w, h) saved as PNG.
OCTOBER_PIXELS = {
    (300, 200): ("5e84d2f1c1cb4cb89f197d77aa65ec17fe156bf118b5e617dfc420659972d672", 28019.938402894884),
    (200, 300): ("c49711d3a24e8ba4f67ec4f355a155d82e41be13c99d168054a13b66a3c3a552", 27703.212958401768),
    (256, 256): ("27de62894da82358d52dde28337dc56bd7710b58b0cf5bdb704e5a27fa99b302", 27048.06999804906),
    (640, 427): ("488a94dc4e9c6289fb2d11e6807c326357541b29bf253901f050476b0cb4e75b", 27635.717281018617),
}


def test_square_is_clip_resize_and_centre_crop_without_padding(tmp_path):
    """``--image-aspect-ratio square``: the hf dataset's pixels are bit for bit LLaVA 744cb3e's CLIP resize + centre crop."""
    import hashlib

    import numpy as np
    import transformers

    from dataoptim.train.data import SupervisedDataset

    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor  # the PIL processor
    processor = cls(
        do_resize=True, size={"shortest_edge": 224}, resample=3, do_center_crop=True, crop_size={"height": 224, "width": 224},
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711], do_convert_rgb=True,
    )
    rows = []
    for i, (w, h) in enumerate(OCTOBER_PIXELS):  # landscape, portrait, square, landscape with an odd difference
        _pattern(w, h).save(tmp_path / f"{i}.png")
        rows.append({"input_ids": [1], "labels": [1], "image": f"{i}.png", "index": i, "id": f"x_{i}"})
    square = SupervisedDataset(rows, tmp_path, processor, pad=False)
    padded = SupervisedDataset(rows, tmp_path, processor, pad=True)
    for i, ((w, h), (digest, total)) in enumerate(OCTOBER_PIXELS.items()):
        got = square[i]["pixel_values"].numpy().astype(np.float32)
        assert got.shape == (3, 224, 224)
        assert hashlib.sha256(np.ascontiguousarray(got).tobytes()).hexdigest() == digest, (w, h, float(got.astype(np.float64).sum()), total)
        if w != h:  # padding changes the picture: the two settings really differ
            assert not np.array_equal(padded[i]["pixel_values"].numpy(), got)


def test_square_run_is_recorded_in_the_checkpoint(tmp_path, capsys):
    """A 1-step hf run with ``--image-aspect-ratio square``: the checkpoint's config says so (LLaVA's field), and the report."""
    from PIL import Image

    (tmp_path / "images" / "coco").mkdir(parents=True)
    records = []
    for i in range(2):
        Image.new("RGB", (40 + 10 * i, 24), (50 * i, 90, 200)).save(tmp_path / "images" / "coco" / f"{i}.jpg")
        records.append({"id": f"coco_{i}", "image": f"coco/{i}.jpg",
                        "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": f"a cat {i}"}]})
    data = tmp_path / "sel.json"
    data.write_text(json.dumps(records))
    argv = ["train", "--backend", "hf", "--data", str(data), "--image-folder", str(tmp_path / "images"), "--model", "tiny",
            "--output-dir", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"), "--dataloader-num-workers", "0",
            "--per-device-train-batch-size", "2", "--max-steps", "1", "--image-aspect-ratio", "square"]
    assert main(argv) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "config.json").read_text())["image_aspect_ratio"] == "square"
    assert json.loads((tmp_path / "out" / "train_report.json").read_text())["pad"] is False


# -- the tool's moves on arrays (select --boxes padded) equal the box-by-box reproduction -----------
_VALUE = st.one_of(
    st.integers(0, 1000).map(lambda k: str(k / 1000)),  # DataOptim's boxes: 3 decimals
    st.integers(0, 9).map(str),  # integers (the tool's regex takes them)
    st.floats(0, 2, allow_nan=False).map(repr),
    st.sampled_from(["1.", ".5", "0.1.2", ".", "000.500", "0.0625", "0.0005", "12345678901.5", "9" * 30, "9" * 400]),
    st.text("0123456789.", min_size=1, max_size=12),
)
_SIZE = st.one_of(st.sampled_from([(640, 480), (480, 640), (500, 500), (333, 500), (625, 400), (1, 7), (7, 1), (1, 1)]),
                  st.tuples(st.integers(1, 5000), st.integers(1, 5000)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(_VALUE, min_size=4, max_size=4), _SIZE), min_size=1, max_size=60))
def test_expand_to_square_many_equals_the_box_by_box_tool(items):
    boxes = ["[" + ", ".join(values) + "]" for values, _ in items]
    widths = [w for _, (w, _h) in items]
    heights = [h for _, (_w, h) in items]
    assert B.expand_to_square_many(boxes, widths, heights) == [B.expand_to_square_box(b, w, h) for b, w, h in zip(boxes, widths, heights)]


def test_mover_batch_equals_record_by_record():
    """BoxMover.batch (turns found and boxes moved on arrays) gives the records, counts and errors of
    BoxMover.record row by row: repeated boxes, a moved box equal to a later one (the tool's double
    moves), values the tool leaves, turns and records without boxes."""
    import random

    import pyarrow as pa

    rng = random.Random(11)
    sizes = {f"coco/{k}.jpg": (rng.choice([640, 333, 500, 800]), rng.choice([480, 500, 427, 600])) for k in range(12)}
    sizes["coco/edge.jpg"] = (640, 480)

    def box():
        return "[" + ", ".join(rng.choice([str(round(rng.random(), 3)), "0.5", "0.75", "1", "0.1.2"]) for _ in range(4)) + "]"

    records = []
    for k in range(300):
        turns = []
        for t in range(2 * rng.randint(1, 3)):
            parts = [rng.choice(["the lamp", "is above", "<image>\n" if t == 0 else "ok", box(), box()]) for _ in range(rng.randint(1, 5))]
            if rng.random() < 0.1:
                parts += ["[0.5, 0.5, 0.75, 0.75]", "[0.5, 0.5, 0.75, 0.688]"]  # moved, the first equals the second: moved twice
            turns.append({"from": "human" if t % 2 == 0 else "gpt", "value": " ".join(parts)})
        records.append({"id": f"svit_{k}", "image": rng.choice(sorted(sizes)), "conversations": turns})
    batch = pa.RecordBatch.from_pylist(records)
    by_batch, by_record = B.BoxMover("padded", B.ImageSizes(sizes), file="f.json"), B.BoxMover("padded", B.ImageSizes(sizes), file="f.json")
    positions = list(range(100, 400))
    got = by_batch.batch(batch, positions, "svit").to_pylist()
    want = [dict(by_record.record(r, p, "svit")) for r, p in zip(records, positions)]
    assert got == want
    assert by_batch.info() == by_record.info() and by_batch.boxes["svit"] > 500
    # a slice of a batch: the same rows
    assert B.BoxMover("padded", B.ImageSizes(sizes)).batch(batch.slice(50, 40), positions[50:90], "svit").to_pylist() == want[50:90]
    # errors: the first record at fault, with its position, as record() names it
    for broken in ({"image": None}, {"image": "coco/unknown.jpg"}):
        bad = [dict(r) for r in records[:5]] + [dict(records[5], **broken)] + [dict(r) for r in records[6:9]]
        with pytest.raises(Exception) as from_batch:
            B.BoxMover("padded", B.ImageSizes(sizes), file="f.json").batch(pa.RecordBatch.from_pylist(bad), positions, "svit")
        with pytest.raises(Exception) as from_record:
            mover = B.BoxMover("padded", B.ImageSizes(sizes), file="f.json")
            for r, p in zip(bad, positions):
                mover.record(r, p, "svit")
        assert type(from_batch.value) is type(from_record.value) and str(from_batch.value) == str(from_record.value)
        assert "record 105" in str(from_batch.value)
