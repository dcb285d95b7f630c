"""Run every row of the bad-input table (``tests/bad_inputs.py``) through the API and the CLI.

For a row with an expected error:

* API: the typed error is raised (``pytest.raises(expected_error)``), its message
  is one line, short, and holds the row's words (file, record, field);
* CLI (each command of the entry, in process): exit status 2 and exactly one line
  on stderr, ``error: <the message>`` — nothing else: the CLI turns the libraries'
  progress bars off when stderr is not a terminal (:func:`dataoptim.cli.quiet_progress_bars`);
* after both: no output file, no temporary file beside it, no finished cache.

A row without an expected error must be accepted by both (exit status 0).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bad_inputs import CASES, ENTRIES, SELECT_IMAGES, Inputs, make_images, write_inputs
from dataoptim.cli import main
from dataoptim.errors import DataOptimError, MAX_MESSAGE
from test_select_support import example_data_dir


@pytest.fixture(scope="module")
def example_pool(tmp_path_factory):
    from dataoptim.select import build_pool

    root = tmp_path_factory.mktemp("bad_inputs_pool")
    build_pool(example_data_dir(root), root / "pool", progress=False)
    return root / "pool"


# ----------------------------------------------------------------------------------------------
# entry points: how each is called, and what it must not leave behind
# ----------------------------------------------------------------------------------------------
def _temp_leftovers(path: Path) -> list[Path]:
    """Temporary files or folders of an atomic write of ``path`` (``.<name>.*``) or of a pool build."""
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.") or p.name.startswith(f"{path.name}.tmp-")]


def _allow(inputs: Inputs) -> dict:
    """``allow_symlinks_out=True`` for the API when the row asks for it."""
    return {"allow_symlinks_out": True} if inputs.options.get("allow_symlinks_out") else {}


def _allow_cli(inputs: Inputs) -> list[str]:
    return ["--allow-symlinks-out"] if inputs.options.get("allow_symlinks_out") else []


def _settings_cli(inputs: Inputs, flags: dict[str, str] | None = None) -> list[str]:
    """A row's ``settings`` as CLI options (``--key value``, or ``flags[key]``), put last: the last of a repeated option wins."""
    return [part for key, value in inputs.options.get("settings", {}).items()
            for part in ((flags or {}).get(key, f"--{key.replace('_', '-')}"), str(value))]


def _tokenizer(inputs: Inputs):
    """The row's ``tokenizer`` option: ``"empty-folder"`` (a folder without tokenizer files), ``"a-file"`` (a file), else as given."""
    value = inputs.options.get("tokenizer")
    if value == "empty-folder":
        (inputs.root / "tok").mkdir(exist_ok=True)
        return inputs.root / "tok"
    if value == "a-file":
        (inputs.root / "tok.json").write_text("{}")
        return inputs.root / "tok.json"
    return value


def _written(entry: "Entry", inputs: Inputs) -> Path:
    """Where the entry writes: its output, or with ``options(output_is_input=True)`` its main input file."""
    return inputs.main if inputs.options.get("output_is_input") else entry.out(inputs)


class Entry:
    """How an entry point is run; subclasses per entry (see the table's module docstring)."""

    def prepare(self, inputs: Inputs, pool: Path) -> None:
        make_images(inputs)

    def api(self, inputs: Inputs) -> None:
        raise NotImplementedError

    def cli(self, inputs: Inputs) -> list[list[str]]:
        raise NotImplementedError

    def out(self, inputs: Inputs) -> Path:
        return inputs.root / "out.json"

    def check_nothing_left(self, inputs: Inputs) -> None:
        out = self.out(inputs)
        assert not out.exists(), f"{out} was written"
        assert not _temp_leftovers(out), _temp_leftovers(out)
        assert not out.with_name(out.name + ".boxes.json").exists(), "a box-frame sidecar was written"


def _sizes_file(inputs: Inputs) -> Path | None:
    """The ``image_sizes`` option of a row written to ``sizes.json`` (select ``--boxes`` rows)."""
    sizes = inputs.options.get("image_sizes")
    if sizes is None:
        return None
    path = inputs.root / "sizes.json"
    path.write_bytes(sizes if isinstance(sizes, bytes) else json.dumps(sizes).encode())
    return path


class Builder(Entry):
    def api(self, inputs):
        from datasets import load_dataset

        load_dataset("dataoptim", inputs.config, data_dir=str(inputs.data_dir), cache_dir=str(inputs.root / "cache"))

    def cli(self, inputs):
        source = inputs.config.split("_")[0]
        return [["pool", "build", "--data-dir", inputs.data_dir, "--output", self.out(inputs), "--sources", source]]

    def out(self, inputs):
        return inputs.root / "pool"

    def check_nothing_left(self, inputs):
        super().check_nothing_left(inputs)
        finished = [p for p in (inputs.root / "cache").rglob("dataset_info.json") if ".incomplete" not in str(p)]
        assert not finished, f"a finished datasets cache was left: {finished}"


class PoolEntry(Entry):
    def prepare(self, inputs, pool):
        pass

    def _output(self, inputs):
        out = self.out(inputs)
        if inputs.options.get("output_is_folder") and not out.exists():
            out.mkdir()
            (out / "mine.txt").write_text("keep me")
            if inputs.options.get("with_sources"):  # looks like a pool (a sources/ folder) but is not one
                (out / "sources").mkdir()
        return out

    def api(self, inputs):
        from dataoptim.select import build_pool

        build_pool(self._data_dir(inputs), self._output(inputs), progress=False)

    def _data_dir(self, inputs):
        """The data folder, or the row's ``data_dir`` option (a name under the temp folder: a .zip that is not there)."""
        name = inputs.options.get("data_dir")
        return inputs.data_dir if name is None else inputs.root / name

    def cli(self, inputs):
        return [["pool", "build", "--data-dir", self._data_dir(inputs), "--output", self._output(inputs)]]

    def out(self, inputs):
        return inputs.root / "pool"

    def check_nothing_left(self, inputs):
        out = self.out(inputs)
        if inputs.options.get("output_is_folder"):
            assert sorted(p.name for p in out.iterdir()) == ["mine.txt"] + (["sources"] if inputs.options.get("with_sources") else [])
            assert (out / "mine.txt").read_text() == "keep me"
        else:
            assert not out.exists(), f"{out} was written"
        assert not _temp_leftovers(out), _temp_leftovers(out)


class Select(Entry):
    def prepare(self, inputs, pool):
        make_images(inputs)
        inputs.options["pool"] = pool

    def _pool(self, inputs) -> Path:
        """The example pool, or a damaged copy of it (made once) for the ``damage`` rows."""
        damage = inputs.options.get("damage")
        if not damage:
            return inputs.options["pool"]
        pool = inputs.root / "pool"
        if pool.exists():
            return pool
        shutil.copytree(inputs.options["pool"], pool)
        if damage == "manifest":
            (pool / "manifest.json").unlink()
        elif damage == "manifest-truncated":
            text = (pool / "manifest.json").read_text()
            (pool / "manifest.json").write_text(text[: len(text) // 2])
        elif damage == "arrow-truncated":
            path = pool / "sources" / "coco.arrow"
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        elif damage == "manifest-format-only":
            (pool / "manifest.json").write_text('{"format": 2}')
        elif damage == "manifest-list":
            (pool / "manifest.json").write_text("[1]")
        elif damage == "index-ids-deleted":
            (pool / "index" / "ids.npy").unlink()
        elif damage == "index-hashes-garbage":
            (pool / "index" / "hashes.npy").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
        return pool

    def _images(self, inputs):
        return ["--image-folder", str(inputs.images)] if inputs.options.get("image_folder") else []

    def _exclude(self, inputs):
        """The ``exclude_images`` file of a mixture row: a binary file (the faults so far)."""
        name = inputs.options.get("exclude_images")
        if name is None:
            return None
        path = inputs.root / name
        path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff" * 10)
        return path

    def api(self, inputs):
        from dataoptim.select import Pool

        folder = inputs.images if inputs.options.get("image_folder") else None
        pool = Pool.open(self._pool(inputs))
        if inputs.options.get("mix") is not None:
            from dataoptim.select.cli import parse_mix

            selection = pool.mix(parse_mix(inputs.options["mix"]), 2, seed=inputs.options.get("seed", 0), exclude_images=self._exclude(inputs))
        else:
            selection = pool.by_ids(inputs.main)
        if inputs.options.get("where") is not None:
            selection = selection.where(inputs.options["where"])
        if inputs.options.get("budget_tokens") is not None:
            selection = selection.sample_budget(budget_tokens=inputs.options["budget_tokens"])
        mover = None
        if inputs.options.get("boxes") is not None:
            from dataoptim import boxes

            sizes_file = _sizes_file(inputs)
            sizes = boxes.ImageSizes(boxes.load_image_sizes(sizes_file) if sizes_file else None, folder, **_allow(inputs))
            mover = boxes.BoxMover(inputs.options["boxes"], sizes if sizes else None)
        selection.to_llava_json(_written(self, inputs), image_folder=folder, boxes=mover, tokenizer=_tokenizer(inputs), **_allow(inputs))

    def cli(self, inputs):
        if inputs.options.get("mix") is not None:
            exclude = self._exclude(inputs)
            source = ["--mix", inputs.options["mix"], "--budget", "2", "--seed", str(inputs.options.get("seed", 0)), *(["--exclude-images", exclude] if exclude else [])]
        else:
            source = ["--ids", inputs.main]
        if inputs.options.get("where") is not None:
            source += ["--where", inputs.options["where"]]
        if inputs.options.get("budget_tokens") is not None:
            source += ["--budget-tokens", str(inputs.options["budget_tokens"])]
        boxes = []
        if inputs.options.get("boxes") is not None:
            sizes_file = _sizes_file(inputs)
            boxes = ["--boxes", inputs.options["boxes"], *(["--image-sizes", sizes_file] if sizes_file else [])]
        tokenizer = ["--tokenizer", _tokenizer(inputs)] if inputs.options.get("tokenizer") else []
        return [["select", "--pool", self._pool(inputs), *source, "--output", _written(self, inputs), "-q", *self._images(inputs), *_allow_cli(inputs), *boxes,
                 *tokenizer]]


class Validate(Entry):
    def api(self, inputs):
        from dataoptim.select import validate_byod

        validate_byod(inputs.main, inputs.images, output=_written(self, inputs), decode_images=bool(inputs.options.get("decode_images")),
                      tokenizer=_tokenizer(inputs), **_allow(inputs))

    def cli(self, inputs):
        images = ["--image-folder", inputs.images, *_allow_cli(inputs), *(["--decode-images"] if inputs.options.get("decode_images") else []),
                  *(["--tokenizer", _tokenizer(inputs)] if inputs.options.get("tokenizer") else [])]
        if inputs.options.get("output_is_input"):  # validate's output is its --report; select --byod's summary too
            return [["validate", inputs.main, "-q", "--report", inputs.main, *images],
                    ["select", "--byod", inputs.main, "--output", self.out(inputs), "--summary", inputs.main, "-q", *images]]
        return [["validate", inputs.main, "-q", *images], ["select", "--byod", inputs.main, "--output", self.out(inputs), "-q", *images]]


class TrainHF(Entry):
    def _images(self, inputs):
        return inputs.root / "no-images" if inputs.options.get("no_image_folder") else inputs.images

    def api(self, inputs):
        from dataoptim.train import train

        settings = {"max_steps": 1, "per_device_train_batch_size": 2, "dataloader_num_workers": 0, **inputs.options.get("settings", {})}
        train(inputs.main, self._images(inputs), inputs.root / "out", backend="hf", model=inputs.options.get("model", "tiny"), cache_dir=inputs.root / "cache",
              open_images=bool(inputs.options.get("open_images")), strict_length=bool(inputs.options.get("strict_length")),
              skip_bad_images=bool(inputs.options.get("skip_bad_images")), resume=bool(inputs.options.get("resume")),
              disable_tqdm=True, save_strategy="no", **settings, **_allow(inputs))

    def cli(self, inputs):
        # a row's settings come last: the last of a repeated option wins
        settings = [part for key, value in inputs.options.get("settings", {}).items() for part in (f"--{key.replace('_', '-')}", str(value))]
        return [[
            "train", "--backend", "hf", "--model", inputs.options.get("model", "tiny"), "--data", inputs.main, "--image-folder", self._images(inputs),
            "--output-dir", inputs.root / "out", "--max-steps", "1", "--per-device-train-batch-size", "2",
            "--dataloader-num-workers", "1", "--cache-dir", inputs.root / "cache",
            *(["--decode-images"] if inputs.options.get("open_images") else []),
            *(["--strict-length"] if inputs.options.get("strict_length") else []), *settings, *_allow_cli(inputs),
            *(["--skip-bad-images"] if inputs.options.get("skip_bad_images") else []), *(["--resume"] if inputs.options.get("resume") else []),
        ]]

    def check_nothing_left(self, inputs):
        out = inputs.root / "out"
        for name in ("model.safetensors", "train_report.json", "config.json", "data_report.json"):
            assert not (out / name).exists(), f"{out / name} was written"
        assert not _temp_leftovers(out / "data_report.json")


class TrainLlava(Entry):
    def prepare(self, inputs, pool):
        make_images(inputs)
        repo = inputs.root / "LLaVA"
        (repo / "llava" / "train").mkdir(parents=True)
        (repo / "llava" / "train" / "train_mem.py").write_text("# stand-in\n")
        (inputs.root / "mm_projector.bin").write_bytes(b"stand-in")
        (inputs.root / "Llama-2-7b-chat-hf").mkdir()

    def _parts(self, inputs):
        absent = inputs.root / "absent"
        return (
            absent if inputs.options.get("no_repo") else inputs.root / "LLaVA",
            inputs.root / "Llama-2-7b-chat-hf",
            absent / "mm_projector.bin" if inputs.options.get("no_adapter") else inputs.root / "mm_projector.bin",
        )

    def api(self, inputs):
        import warnings

        from dataoptim.train.llava import prepare_llava

        repo, base, adapter = self._parts(inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the stand-in checkout is not at LLaVA's commit
            prepare_llava(inputs.main, inputs.images, repo, base, adapter, inputs.root / "out", dry_run=True, cache_dir=inputs.root / "cache",
                          decode_images=bool(inputs.options.get("decode_images")), **_allow(inputs))

    def cli(self, inputs):
        repo, base, adapter = self._parts(inputs)
        return [[
            "train", "--backend", "llava", "--dry-run", "--data", inputs.main, "--image-folder", inputs.images,
            "--output-dir", inputs.root / "out", "--llava-repo", repo, "--model-name-or-path", base,
            "--pretrain-mm-mlp-adapter", adapter, "--cache-dir", inputs.root / "cache", *_allow_cli(inputs),
            *(["--decode-images"] if inputs.options.get("decode_images") else []),
        ]]

    def out(self, inputs):
        return inputs.root / "out"


def _no_java_default() -> dict[str, str]:
    """Without Java the official CIDEr tokenizer is refused (issue 15); the rows test other faults, so use 'simple' there."""
    import shutil

    return {} if shutil.which("java") else {"tokenizer": "simple"}


class Score(Entry):
    def api(self, inputs):
        from dataoptim.evaluate import score

        score(inputs.root / "preds.jsonl", inputs.main, **{**_no_java_default(), **inputs.options.get("settings", {})})

    def cli(self, inputs):
        settings = [part for key, value in _no_java_default().items() for part in ("--cider-tokenizer", value)]
        return [["score", "-p", inputs.root / "preds.jsonl", "-b", inputs.main, "-o", inputs.root / "out", *settings,
                 *_settings_cli(inputs, {"tokenizer": "--cider-tokenizer"})]]

    def out(self, inputs):
        return inputs.root / "out" / "scores.json"


class Evaluate(Entry):
    def _image_dir(self, inputs):
        return None if inputs.options.get("no_image_dir") else inputs.images

    def api(self, inputs):
        from dataoptim.evaluate import evaluate

        settings = {"batch_size": 2, "max_new_tokens": 2, "device": "cpu", **_no_java_default(), **inputs.options.get("settings", {})}
        evaluate(inputs.options.get("model", "tiny"), inputs.main, self._image_dir(inputs), inputs.root / "out", **settings, **_allow(inputs))

    def cli(self, inputs):
        images = [] if self._image_dir(inputs) is None else ["--image-dir", inputs.images]
        return [["evaluate", "--model", inputs.options.get("model", "tiny"), "--benchmark", inputs.main, *images, "--output", inputs.root / "out",
                 "--batch-size", "2", "--max-new-tokens", "2", "--device", "cpu", *_allow_cli(inputs),
                 *[part for key, value in _no_java_default().items() for part in ("--cider-tokenizer", value)],
                 *_settings_cli(inputs, {"tokenizer": "--cider-tokenizer"})]]

    def out(self, inputs):
        return inputs.root / "out"


class Boxes(Entry):
    def api(self, inputs):
        from dataoptim import boxes

        self._sidecar(inputs)
        if inputs.options.get("image_folder"):
            sizes = boxes.ImageSizes(image_dir=inputs.images, **_allow(inputs))
        else:
            sizes = boxes.ImageSizes(boxes.load_image_sizes(inputs.root / "sizes.json"))
        boxes.convert_file(inputs.main, _written(self, inputs), inputs.options.get("to", "padded"), sizes)

    def _sidecar(self, inputs):
        """The row's ``sidecar`` (a JSON value or bytes) written as ``in.json.boxes.json``."""
        sidecar = inputs.options.get("sidecar")
        if sidecar is not None:
            path = inputs.main.with_name(inputs.main.name + ".boxes.json")
            path.write_bytes(sidecar if isinstance(sidecar, bytes) else json.dumps(sidecar).encode())

    def cli(self, inputs):
        self._sidecar(inputs)
        where = ["--image-folder", inputs.images] if inputs.options.get("image_folder") else ["--image-sizes", inputs.root / "sizes.json"]
        return [["boxes", "convert", inputs.main, _written(self, inputs), "--to", inputs.options.get("to", "padded"), *where, *_allow_cli(inputs)]]


RUNNERS: dict[str, Entry] = {
    "builder": Builder(), "pool": PoolEntry(), "select": Select(), "validate": Validate(), "train-hf": TrainHF(),
    "train-llava": TrainLlava(), "score": Score(), "evaluate": Evaluate(), "boxes": Boxes(),
}


def test_every_entry_has_a_runner_and_rows():
    assert set(RUNNERS) == set(ENTRIES)
    assert {case.entry for case in CASES} == set(ENTRIES)
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "two rows with the same entry and input"


# ----------------------------------------------------------------------------------------------
# the table, row by row
# ----------------------------------------------------------------------------------------------
def _params(cli: bool):
    for case in CASES:
        known = case.xfail or (case.xfail_cli if cli else None)
        marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
        yield pytest.param(case, id=case.id, marks=marks)


def _check_message(message: str, case, inputs: Inputs) -> None:
    assert "\n" not in message, f"message on several lines: {message!r}"
    assert len(message) <= MAX_MESSAGE + 300, f"message of {len(message):,} characters"
    for word in case.expected_words:
        word = word.format(**inputs.names)
        assert word in message, f"{word!r} not in {message!r}"


def _inputs(case, tmp_path, example_pool) -> Inputs:
    inputs = Inputs(tmp_path, case.entry)
    RUNNERS[case.entry].prepare(inputs, example_pool)
    case.make(inputs)
    write_inputs(inputs)
    return inputs


@pytest.mark.parametrize("case", list(_params(cli=False)))
def test_api(case, tmp_path, example_pool):
    """The API raises the row's typed error with a one-line message naming file, record and field, and writes nothing."""
    entry = RUNNERS[case.entry]
    inputs = _inputs(case, tmp_path, example_pool)
    if case.expected_error is None:
        entry.api(inputs)
        return
    with pytest.raises(DataOptimError) as info:
        entry.api(inputs)
    assert isinstance(info.value, case.expected_error), f"{type(info.value).__name__}: {info.value}"
    _check_message(str(info.value), case, inputs)
    entry.check_nothing_left(inputs)


@pytest.mark.parametrize("case", list(_params(cli=True)))
def test_cli(case, tmp_path, capfd, example_pool):
    """Each CLI command of the entry exits 2 with exactly one line on stderr, and writes nothing."""
    entry = RUNNERS[case.entry]
    inputs = _inputs(case, tmp_path, example_pool)
    capfd.readouterr()
    for argv in entry.cli(inputs):
        code = main([str(a) for a in argv])
        err = capfd.readouterr().err
        if case.expected_error is None:
            assert code == 0, err
            continue
        assert code == 2, f"exit status {code}: {err[-2000:]}"
        lines = err.splitlines()
        if argv[0] == "validate" and len(lines) > 1:
            # validate reports every problem (issue 12): one error line per bad record, then the total
            assert re.fullmatch(r"[\d,]+ problems? in total \(.*\)", lines[-1]), f"no total line: {err[-3000:]!r}"
            lines = lines[:-1]
            assert len(lines) > 1 and all(line.startswith("error: ") for line in lines), f"stderr: {err[-3000:]!r}"
            lines = lines[:1]
        assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr is not one error line: {err[-3000:]!r}"
        _check_message(lines[0], case, inputs)
        entry.check_nothing_left(inputs)


def test_select_images_are_in_the_example_pool(example_pool):
    from dataoptim.select import Pool

    pool = Pool.open(example_pool)
    for rid, image in SELECT_IMAGES.items():
        assert pool.get(rid)["image"] == image
    assert json.loads((example_pool / "manifest.json").read_text())["num_rows"] == 17


def test_rendered_table_is_current():
    from render_bad_inputs import TARGET, render

    assert TARGET.read_text(encoding="utf-8") == render(), "tests/BAD_INPUTS.md is stale: run python tests/render_bad_inputs.py"
