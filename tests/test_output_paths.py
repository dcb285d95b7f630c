"""An output path with a file in the way is one error line and exit 2, before any work (tester's report, this round).

Before: `demo --output FILE`, `score --output FILE`, `compare --output FILE` and
`train --output-dir FILE` died with a FileExistsError / NotADirectoryError traceback (exit 1).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataoptim.cli import main
from dataoptim.errors import ConfigError
from dataoptim.io import check_output_dir, make_output_dir

EVAL = Path(__file__).parent / "fixtures" / "eval"


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "afile"
    path.write_text("not a folder\n")
    return path


def _one_error(capsys, *words):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert all(w in err[0] for w in words), err[0]
    assert "Traceback" not in err[0]


def test_check_output_dir(tmp_path, a_file):
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing is made
    with pytest.raises(ConfigError, match="output folder is a file"):
        check_output_dir(a_file)
    with pytest.raises(ConfigError, match=r"output folder cannot be made: .*afile is a file"):
        check_output_dir(a_file / "sub")
    assert make_output_dir(tmp_path / "made" / "x").is_dir()


@pytest.mark.parametrize("sub", [False, True])
def test_score_output_is_a_file(a_file, sub, capsys):
    out = a_file / "sub" if sub else a_file
    assert main(["score", "--predictions", str(EVAL / "mme_lavin"), "--output", str(out)]) == 2
    _one_error(capsys, "afile")
    assert a_file.read_text() == "not a folder\n"


def test_compare_output_is_a_file(tmp_path, a_file, capsys):
    runs = []
    for name, value in (("a", 0.5), ("b", 0.25)):
        run = tmp_path / name
        run.mkdir()
        (run / "scores.json").write_text(json.dumps({"vqa": {"accuracy": value, "n": 4, "headline": "accuracy"}}))
        runs.append(str(run))
    assert main(["compare", *runs, "--output", str(a_file)]) == 2
    _one_error(capsys, "afile")


def test_train_output_dir_is_a_file(tmp_path, a_file, capsys):
    data = tmp_path / "train.json"
    data.write_text(json.dumps([{"id": "t_0", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}]))
    assert main(["train", "--data", str(data), "--image-folder", str(tmp_path), "--model", "tiny", "--output-dir", str(a_file),
                 "--max-steps", "1"]) == 2
    _one_error(capsys, "checkpoint folder", "afile")


def test_demo_output_is_a_file(a_file, capsys):
    assert main(["demo", "--output", str(a_file)]) == 2
    _one_error(capsys, "afile")


REF3REC = Path(__file__).parent / "fixtures" / "boxes_dataoptim" / "data" / "ref3rec.json"


@pytest.mark.parametrize("args", [
    ["--backend", "llava", "--dry-run"],  # no --llava-repo: refused
    ["--model-max-length", "0", "--dry-run"],  # hf: a setting the Trainer cannot use
])
def test_a_refused_train_prints_its_error_without_the_frame_note(tmp_path, args, capsys):
    # tester's report: the original-frame note came before the error line (two lines for one refusal)
    data = tmp_path / "sel.json"
    data.write_text(REF3REC.read_text())
    assert main(["train", "--data", str(data), "--image-folder", str(tmp_path), "--output-dir", str(tmp_path / "out"), *args]) == 2
    _one_error(capsys)


@pytest.mark.parametrize("name", ["per_question.jsonl", "scores.json", "vqa.tsv"])
def test_score_refuses_an_input_the_output_folder_would_overwrite(tmp_path, name, capsys):
    """`score --output DIR` writes per_question.jsonl, scores.json and <task>.tsv into DIR: an input of that name there is
    refused before anything is read (tester's report: outputs that are inputs were overwritten silently)."""
    out = tmp_path / "out"
    out.mkdir()
    given = out / name
    given.write_text('{"question_id": "q0", "text": "cat"}\n')
    assert main(["score", "--predictions", str(given), "--benchmark", str(EVAL / "llava_textvqa_val_v051_ocr.head40.jsonl"),
                 "--output", str(out)]) == 2
    _one_error(capsys, name, "overwritten")
    assert given.read_text() == '{"question_id": "q0", "text": "cat"}\n'


def test_evaluate_refuses_a_benchmark_the_output_folder_would_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    bench = out / "benchmark.jsonl"
    bench.write_text("{}\n")
    assert main(["evaluate", "--model", str(tmp_path), "--benchmark", str(bench), "--output", str(out)]) == 2
    _one_error(capsys, "benchmark.jsonl", "overwritten")
    assert bench.read_text() == "{}\n"


SAMPLE_BYOD = Path(__file__).parents[1] / "src" / "dataoptim" / "data" / "samples" / "examples" / "example-byod.json"
TOKENIZER = Path(__file__).parent / "fixtures" / "llama2-tokenizer"


def test_an_output_that_is_an_existing_file_inside_an_input_folder_is_refused(tmp_path, capsys):
    """Second tester: `validate --image-folder I --report I/<image>` emptied the image, `tokens --output T/tokenizer.json`
    replaced the tokenizer; a file inside an input folder (pool, images, tokenizer) is an input too."""
    import shutil

    byod = tmp_path / "sub.json"
    shutil.copy(SAMPLE_BYOD, byod)
    images = tmp_path / "images" / "coco"
    images.mkdir(parents=True)
    from PIL import Image

    for name in ("x.jpg", "noext", "pic.jfif"):  # an image is an image whatever its name (third tester: by suffix it was not)
        image = images / name
        Image.new("RGB", (4, 3)).save(image, format="JPEG")
        before = image.read_bytes()
        assert main(["validate", str(byod), "--image-folder", str(tmp_path / "images"), "--report", str(image)]) == 2
        _one_error(capsys, name, "inside --image-folder")
        assert image.read_bytes() == before
    tokenizer = tmp_path / "tok"
    shutil.copytree(TOKENIZER, tokenizer)
    before = (tokenizer / "tokenizer_config.json").read_bytes()
    assert main(["tokens", "--data", str(byod), "--tokenizer", str(tokenizer), "--output", str(tokenizer / "tokenizer_config.json")]) == 2
    _one_error(capsys, "tokenizer_config.json", "inside --tokenizer")
    assert (tokenizer / "tokenizer_config.json").read_bytes() == before
    # a new file in an input folder destroys nothing: allowed
    main(["validate", str(byod), "--report", str(tmp_path / "images" / "report.jsonl")])
    assert (tmp_path / "images" / "report.jsonl").is_file()


def test_validate_report_is_not_the_submissions_frame_file(tmp_path, capsys):
    import shutil

    byod = tmp_path / "sub.json"
    shutil.copy(SAMPLE_BYOD, byod)
    sidecar = tmp_path / "sub.json.boxes.json"
    sidecar.write_text('{"frame": "original"}')
    assert main(["validate", str(byod), "--report", str(sidecar)]) == 2
    _one_error(capsys, "frame file")
    assert sidecar.read_text() == '{"frame": "original"}'


def test_score_follows_a_link_to_a_file_the_output_folder_would_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "per_question.jsonl"
    target.write_text('{"question_id": "q0", "text": "cat"}\n')
    link = tmp_path / "p.jsonl"
    link.symlink_to(target)
    assert main(["score", "--predictions", str(link), "--benchmark", str(EVAL / "llava_textvqa_val_v051_ocr.head40.jsonl"),
                 "--output", str(out)]) == 2
    _one_error(capsys, "overwritten")
    assert target.read_text() == '{"question_id": "q0", "text": "cat"}\n'


@pytest.mark.parametrize("content", ["{}", '{"added_tokens": []}'])
def test_a_damaged_tokenizer_json_is_one_line(tmp_path, content, capsys):
    """Second tester: a folder whose only tokenizer file is a damaged tokenizer.json gave a KeyError / bare Exception traceback."""
    tokenizer = tmp_path / "tok"
    tokenizer.mkdir()
    (tokenizer / "tokenizer.json").write_text(content)
    assert main(["validate", str(SAMPLE_BYOD), "--tokenizer", str(tokenizer)]) == 2
    _one_error(capsys, "cannot load a tokenizer", str(tokenizer))


@pytest.mark.parametrize("name", ["trained_with.json", "generation_config.json", "preprocessor_config.json"])
def test_train_never_writes_over_its_data(tmp_path, name, capsys):
    """Second tester: `train --backend hf --data OUT/trained_with.json --output-dir OUT` trained and overwrote its own data."""
    out = tmp_path / "ckpt"
    out.mkdir()
    data = out / name
    text = json.dumps([{"id": "t_0", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}])
    data.write_text(text)
    assert main(["train", "--backend", "hf", "--data", str(data), "--image-folder", str(tmp_path), "--model", "tiny", "--output-dir", str(out),
                 "--max-steps", "1"]) == 2
    _one_error(capsys, name)
    assert data.read_text() == text


def test_an_earlier_output_inside_the_image_folder_may_be_written_again(tmp_path, capsys):
    """Only images are inputs inside --image-folder: a rerun writing its report (or selection) at the image root again is allowed."""
    import shutil

    byod = tmp_path / "sub.json"
    shutil.copy(SAMPLE_BYOD, byod)
    images = tmp_path / "images"
    images.mkdir()
    report = images / "report.jsonl"
    report.write_text("from an earlier run\n")
    main(["validate", str(byod), "--image-folder", str(images), "--report", str(report)])  # exit 2: the images are missing here
    assert "existing file inside" not in capsys.readouterr().err
    assert report.read_text() != "from an earlier run\n"  # the report of the missing images


def test_a_file_an_earlier_run_wrote_inside_a_pool_or_tokenizer_folder_may_be_written_again(tmp_path, capsys):
    """Third tester: the second run of `tokens --output tok/out.jsonl` (or a selection at a pool's root) was refused as if
    its own earlier output were a tokenizer (pool) file. Only the folder's own files are inputs."""
    import shutil

    byod = tmp_path / "sub.json"
    shutil.copy(SAMPLE_BYOD, byod)
    tokenizer = tmp_path / "tok"
    shutil.copytree(TOKENIZER, tokenizer)
    for _ in range(2):
        assert main(["tokens", "--data", str(byod), "--tokenizer", str(tokenizer), "--output", str(tokenizer / "out.jsonl")]) == 0
    assert (tokenizer / "out.jsonl").stat().st_size > 0
    capsys.readouterr()


def test_folder_owns_its_own_files_only(tmp_path):
    from dataoptim.io import _folder_owns

    pool = tmp_path / "pool"
    (pool / "index").mkdir(parents=True)
    assert _folder_owns("pool", pool / "manifest.json", pool) and _folder_owns("pool", pool / "index" / "ids.npy", pool)
    assert not _folder_owns("pool", pool / "selection.json", pool)
    assert _folder_owns("tokenizer", tmp_path / "tokenizer_config.json", tmp_path) and _folder_owns("tokenizer", tmp_path / "x.model", tmp_path)
    assert not _folder_owns("tokenizer", tmp_path / "out.jsonl", tmp_path)
    (tmp_path / "report.jsonl").write_text("{}\n")
    assert not _folder_owns("images", tmp_path / "report.jsonl", tmp_path)


def test_train_refuses_data_inside_a_checkpoint_folder_it_writes(tmp_path, capsys):
    """Third tester: `--data OUT/checkpoint-1/trained_with.json` was overwritten by the run's own checkpoint."""
    out = tmp_path / "ckpt"
    (out / "checkpoint-1").mkdir(parents=True)
    data = out / "checkpoint-1" / "trained_with.json"
    text = json.dumps([{"id": "t_0", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}])
    data.write_text(text)
    assert main(["train", "--backend", "hf", "--data", str(data), "--image-folder", str(tmp_path), "--model", "tiny", "--output-dir", str(out),
                 "--max-steps", "1"]) == 2
    _one_error(capsys, "checkpoint-1/", "--output-dir")
    assert data.read_text() == text
