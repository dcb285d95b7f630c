"""Backend ``llava``: the challenge recipe through LLaVA's own launcher.

Given a selection, an image folder, a LLaVA checkout and the model parts, it
(1) writes the selection as a LLaVA training JSON (``id``, ``image``,
``conversations``; validated, streamed, written atomically), (2) checks that
every image exists under the image folder and stops listing the missing ones,
(3) writes the DeepSpeed ZeRO-3 config, (4) checks the checkout is at commit
744cb3e (a warning otherwise) and (5) runs exactly::

    deepspeed llava/train/train_mem.py --deepspeed ZERO3.json --model_name_or_path ... (DESIGN §8)

in the checkout. Only what the caller asks changes: output dir, GPU count
(``deepspeed --num_gpus``), LoRA/QLoRA for small local checks, ``report_to``,
and explicit ``extra`` flags. ``dry_run`` prints the command and the files it
would write, and writes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from dataoptim.errors import ConfigError, MissingFileError
from dataoptim.train.recipe import (
    LAUNCHER,
    LLAVA_COMMIT,
    LORA_FLAGS,
    QLORA_FLAGS,
    RECIPE_FLAGS,
    TRAIN_SCRIPT,
    zero2_config,
    zero3_config,
)

logger = logging.getLogger("dataoptim.train")


class LlavaCommitWarning(UserWarning):
    """The LLaVA checkout is not at the challenge's commit (or cannot be checked)."""


def llava_commit(repo: str | os.PathLike) -> str | None:
    """Return the full commit hash of ``repo``'s ``HEAD``, or None if ``repo`` is not the top of a git checkout."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run(
            [git, "-C", str(repo), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True, text=True, timeout=30, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return None
    top, head = lines
    # a folder inside some other repository is not a checkout of its own
    return head if Path(top).resolve() == Path(repo).resolve() else None


def check_llava_repo(repo: str | os.PathLike) -> str | None:
    """Check that ``repo`` is a LLaVA checkout holding ``llava/train/train_mem.py`` at commit 744cb3e.

    Returns:
        The checkout's commit hash (None if not a git checkout).

    Warns:
        LlavaCommitWarning: the commit is not 744cb3e…, or cannot be read.

    Raises:
        MissingFileError: the folder or its ``llava/train/train_mem.py`` does not exist.
    """
    repo = Path(repo)
    if not repo.is_dir():
        raise MissingFileError("LLaVA checkout not found", file=repo)
    if not (repo / TRAIN_SCRIPT).is_file():
        raise MissingFileError(f"not a LLaVA checkout: {TRAIN_SCRIPT} is missing", file=repo)
    commit = llava_commit(repo)
    if commit is None:
        warnings.warn(
            f"{repo} is not a git checkout (or git is missing); cannot confirm LLaVA commit {LLAVA_COMMIT}, "
            "which the challenge trains with",
            LlavaCommitWarning, stacklevel=2,
        )
    elif not commit.startswith(LLAVA_COMMIT):
        warnings.warn(
            f"{repo} is at commit {commit[:7]}, not {LLAVA_COMMIT} as the challenge recipe requires; "
            f"results may differ (git -C {repo} checkout {LLAVA_COMMIT})",
            LlavaCommitWarning, stacklevel=2,
        )
    return commit


def recipe_flags(
    *,
    model_name_or_path: str | os.PathLike,
    data_path: str | os.PathLike,
    image_folder: str | os.PathLike,
    pretrain_mm_mlp_adapter: str | os.PathLike,
    output_dir: str | os.PathLike,
    deepspeed_config: str | os.PathLike,
    vision_tower: str | None = None,
    lora: bool = False,
    qlora: bool = False,
    report_to: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The recipe's flags (``--name value``) filled in, with only the requested changes.

    Args:
        model_name_or_path: Llama-2-7b-chat-hf folder (or hub id).
        data_path, image_folder: the LLaVA JSON and the image folder.
        pretrain_mm_mlp_adapter: ``mm_projector.bin`` of ``llava-pretrain-llama-2-7b-chat``.
        output_dir: LLaVA's ``--output_dir``.
        deepspeed_config: the ZeRO json to pass as ``--deepspeed``.
        vision_tower: replace the CLIP id (e.g. a local copy of openai/clip-vit-large-patch14).
        lora, qlora: add :data:`~dataoptim.train.recipe.LORA_FLAGS` / ``QLORA_FLAGS``.
        report_to: replace ``wandb`` (e.g. ``none``).
        extra: any other flag to set or replace, named as LLaVA names it (without ``--``).

    Returns:
        ``{flag: value}`` in the recipe's order, then the added flags.

    Raises:
        ConfigError: both ``lora`` and ``qlora``, or an ``extra`` that would replace a path
            given above (pass those as arguments).
    """
    if lora and qlora:
        raise ConfigError("choose one of lora and qlora")
    flags = dict(RECIPE_FLAGS)
    paths = {
        "deepspeed": deepspeed_config,
        "model_name_or_path": model_name_or_path,
        "data_path": data_path,
        "image_folder": image_folder,
        "pretrain_mm_mlp_adapter": pretrain_mm_mlp_adapter,
        "output_dir": output_dir,
    }
    flags.update({k: str(v) for k, v in paths.items()})
    if vision_tower is not None:
        flags["vision_tower"] = str(vision_tower)
    if report_to is not None:
        flags["report_to"] = report_to
    if lora:
        flags.update(LORA_FLAGS)
    if qlora:
        flags.update(QLORA_FLAGS)
    for key, value in (extra or {}).items():
        key = key.lstrip("-")
        if key in paths:
            raise ConfigError(f"--{key} is set by its own option, not as an extra flag")
        flags[key] = str(value)
    missing = [k for k, v in flags.items() if v is None]
    if missing:
        raise ConfigError(f"missing values for {missing}")
    return flags  # type: ignore[return-value]


def build_command(flags: Mapping[str, str], *, num_gpus: int | None = None, launcher: str = LAUNCHER) -> list[str]:
    """``deepspeed [--num_gpus N] llava/train/train_mem.py --flag value ...`` as an argument list."""
    command = [launcher]
    if num_gpus is not None:
        if num_gpus < 1:
            raise ConfigError(f"num_gpus must be at least 1, found {num_gpus}")
        command += ["--num_gpus", str(num_gpus)]
    command.append(TRAIN_SCRIPT)
    for key, value in flags.items():
        command += [f"--{key}", value]
    return command


@dataclass
class LlavaRun:
    """A prepared run of the ``llava`` backend.

    Attributes:
        command: the argument list to run in ``cwd``.
        cwd: the LLaVA checkout.
        files: ``{role: path}`` of the files written (or, in a dry run, that would be):
            ``data`` (LLaVA JSON), ``deepspeed`` (ZeRO config), ``command`` (shell script).
        records: records in the data file. commit: the checkout's commit or None.
        dry_run: nothing was written.
        returncode: the launcher's exit status once :func:`launch` ran it.
    """

    command: list[str]
    cwd: Path
    files: dict[str, Path]
    records: int
    commit: str | None
    dry_run: bool
    notes: list[str] = field(default_factory=list)
    returncode: int | None = None

    @property
    def shell(self) -> str:
        """The command as one shell line (arguments quoted)."""
        return shlex.join(self.command)

    def pretty(self) -> str:
        """The command on several lines, one ``--flag value`` per line, as in LLaVA's scripts."""
        start = self.command.index(TRAIN_SCRIPT) + 1
        pieces = [shlex.join(self.command[:start])]
        pieces += [shlex.join(self.command[i : i + 2]) for i in range(start, len(self.command), 2)]
        return " \\\n    ".join(pieces)

    def describe(self) -> str:
        """Multi-line text: the command and the files, as ``--dry-run`` prints it."""
        lines = [f"# in {self.cwd}" + (f" (commit {self.commit[:7]})" if self.commit else ""), self.pretty()]
        verb = "would write" if self.dry_run else "wrote"
        for role, path in self.files.items():
            lines.append(f"# {verb} {role}: {path}")
        lines.append(f"# records: {self.records}")
        lines.extend(f"# {note}" for note in self.notes)
        return "\n".join(lines)


def _write_llava_json(ds, path: Path) -> None:
    from dataoptim.io import atomic_write

    with atomic_write(path) as handle:
        handle.write("[")
        for i, row in enumerate(ds):
            record = {"id": row["id"]}
            if row["image"] is not None:
                record["image"] = row["image"]
            record["conversations"] = row["conversations"]
            handle.write(("," if i else "") + "\n" + json.dumps(record, ensure_ascii=False))
        handle.write("\n]\n")


def prepare_llava(
    data: Any,
    image_folder: str | os.PathLike,
    llava_repo: str | os.PathLike,
    model_name_or_path: str | os.PathLike,
    pretrain_mm_mlp_adapter: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    run_dir: str | os.PathLike | None = None,
    num_gpus: int | None = None,
    lora: bool = False,
    qlora: bool = False,
    vision_tower: str | None = None,
    report_to: str | None = None,
    extra: Mapping[str, str] | None = None,
    dry_run: bool = False,
    cache_dir: str | os.PathLike | None = None,
    allow_symlinks_out: bool = False,
    decode_images: bool = False,
) -> LlavaRun:
    """Check everything and write the run's files (unless ``dry_run``); do not launch.

    ``decode_images``: decode every image fully first (in parallel, progress bar on a terminal),
    so a file cut short after its header stops this check, not LLaVA's data loader mid-run.

    Args:
        data: the selection (LLaVA JSON, JSONL, saved Arrow folder, ``datasets.Dataset``).
        image_folder, llava_repo, model_name_or_path, pretrain_mm_mlp_adapter, output_dir: paths
            (made absolute in the command, which runs inside ``llava_repo``).
        run_dir: where the data JSON, ZeRO config and ``command.sh`` go (default ``output_dir``).
        num_gpus, lora, qlora, vision_tower, report_to, extra: see :func:`recipe_flags` / :func:`build_command`.
        dry_run: check and describe only.
        cache_dir: Arrow cache for reading the selection.
        allow_symlinks_out: follow links that lead out of ``image_folder`` instead of refusing
            them (:mod:`dataoptim.imagepath`; LLaVA itself follows them).

    Returns:
        :class:`LlavaRun`.

    Raises:
        MissingFileError: selection, image folder, images (all listed by count and first few),
            LLaVA checkout, projector file or a local model folder missing.
        InputError, RecordError: malformed selection.
        UnsafeInputError: an image leads out of ``image_folder`` through a link (unless allowed).
    """
    from dataoptim.train.data import check_images, load_selection, raise_for_images

    repo = Path(llava_repo).resolve()
    commit = check_llava_repo(repo)
    adapter = Path(pretrain_mm_mlp_adapter)
    if not adapter.is_file():
        raise MissingFileError("pretrain projector (mm_projector.bin) not found", file=adapter)
    model_path = Path(model_name_or_path)
    model_arg = str(model_path.resolve()) if model_path.exists() else str(model_name_or_path)
    if not model_path.exists() and (os.path.isabs(str(model_name_or_path)) or str(model_name_or_path).startswith(".")):
        raise MissingFileError("base model folder not found", file=model_name_or_path)
    folder = Path(image_folder)
    file = str(data) if isinstance(data, (str, os.PathLike)) else None
    ds = load_selection(data, cache_dir=cache_dir)
    raise_for_images(check_images(ds, folder, file=file, allow_symlinks_out=allow_symlinks_out, open_images=decode_images,
                                  progress=decode_images), folder, file)
    out = Path(output_dir).resolve()
    where = Path(run_dir).resolve() if run_dir is not None else out
    files = {
        "data": where / "llava_data.json",
        "deepspeed": where / ("zero2.json" if qlora else "zero3.json"),
        "command": where / "command.sh",
    }
    flags = recipe_flags(
        model_name_or_path=model_arg, data_path=files["data"], image_folder=folder.resolve(),
        pretrain_mm_mlp_adapter=adapter.resolve(), output_dir=out, deepspeed_config=files["deepspeed"],
        vision_tower=vision_tower, lora=lora, qlora=qlora, report_to=report_to, extra=extra,
    )
    command = build_command(flags, num_gpus=num_gpus)
    run = LlavaRun(command, repo, files, len(ds), commit, dry_run)
    if qlora:
        run.notes.append("QLoRA: ZeRO-2 config (ZeRO-3 cannot shard 4-bit weights)")
    if not dry_run:
        from dataoptim.io import atomic_write, write_json

        _write_llava_json(ds, files["data"])
        write_json(files["deepspeed"], zero2_config() if qlora else zero3_config(), indent=2)
        with atomic_write(files["command"]) as handle:
            handle.write(f"#!/bin/sh\n# written by dataoptim train --backend llava\ncd {shlex.quote(str(repo))} || exit 1\n")
            handle.write(run.pretty() + "\n")
        os.chmod(files["command"], 0o755)
    return run


def launch(run: LlavaRun, *, env: Mapping[str, str] | None = None) -> int:
    """Run a prepared (not dry) :class:`LlavaRun` in the checkout; return the launcher's exit status.

    Raises:
        ConfigError: a dry run, or the ``deepspeed`` launcher is not on ``PATH``
            (install the ``dataoptim[deepspeed]`` extra in LLaVA's environment).
    """
    if run.dry_run:
        raise ConfigError("a dry run cannot be launched; prepare it again without dry_run")
    if shutil.which(run.command[0]) is None:
        raise ConfigError(f"the {run.command[0]!r} launcher is not on PATH; install DeepSpeed (pip install 'dataoptim[deepspeed]')")
    logger.info("launching in %s: %s", run.cwd, run.shell)
    return subprocess.call(run.command, cwd=run.cwd, env=None if env is None else {**os.environ, **env})
