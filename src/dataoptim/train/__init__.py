"""Train on a selection: the challenge recipe through LLaVA's launcher, or natively with ``transformers``.

- :func:`train` — one entry for both backends (``dataoptim train`` on the command line).
- :mod:`dataoptim.train.llava` — backend ``llava``: data JSON, image check, ZeRO-3 config, the exact
  ``deepspeed llava/train/train_mem.py`` command (DESIGN §8).
- :mod:`dataoptim.train.hf` — backend ``hf``: ``LlavaForConditionalGeneration`` + ``Trainer``.
- :mod:`dataoptim.train.format` — the ``llava_llama_2`` format, label mask, :func:`~dataoptim.train.format.inference_prompt`.
- :mod:`dataoptim.train.model` — tiny model, recipe assembly, :func:`~dataoptim.train.model.load_model`.
- :mod:`dataoptim.train.images` — :func:`~dataoptim.train.images.load_image`, :func:`~dataoptim.train.images.pad_to_square`.
- :mod:`dataoptim.train.recipe` — the recipe's flags and DeepSpeed configs as data.

Importing this package does not import ``torch``.
"""

from __future__ import annotations

import os
from typing import Any

from dataoptim.errors import ConfigError

BACKENDS = ("hf", "llava")


def train(data: Any, image_folder: str | os.PathLike, output_dir: str | os.PathLike, *, backend: str = "hf", **options: Any):
    """Train on a selection with the challenge recipe.

    Args:
        data: the selection: LLaVA JSON list, JSONL, a saved ``datasets`` folder or a ``datasets.Dataset``.
        image_folder: folder that the records' ``image`` paths are relative to.
        output_dir: checkpoint folder.
        backend: ``"hf"`` (:func:`dataoptim.train.hf.train_hf`, options as there) or
            ``"llava"`` (:func:`dataoptim.train.llava.prepare_llava` options: ``llava_repo``,
            ``model_name_or_path``, ``pretrain_mm_mlp_adapter``, ``num_gpus``, ``lora``, ``qlora``,
            ``dry_run``, ...).

    Returns:
        ``hf``: :class:`dataoptim.train.hf.TrainResult`. ``llava``: the
        :class:`dataoptim.train.llava.LlavaRun` (its ``returncode`` attribute set when launched).

    Raises:
        ConfigError: unknown backend or missing required options; the backends' errors otherwise.
        MissingExtraError: ``hf`` without the ``train`` extra (torch, transformers, accelerate).
    """
    from dataoptim.io import check_output_dir

    check_output_dir(output_dir, what="checkpoint folder")
    if backend == "hf":
        from dataoptim.extras import require_extra

        require_extra("train", "train(backend='hf')")  # one line naming the extra, not a ModuleNotFoundError
        from dataoptim.train.hf import train_hf

        return train_hf(data, image_folder, output_dir, **options)
    if backend == "llava":
        from dataoptim.train.llava import launch, prepare_llava

        required = ("llava_repo", "model_name_or_path", "pretrain_mm_mlp_adapter")
        missing = [name for name in required if options.get(name) is None]
        if missing:
            raise ConfigError(f"backend 'llava' needs {', '.join(missing)}")
        run = prepare_llava(
            data, image_folder, options.pop("llava_repo"), options.pop("model_name_or_path"),
            options.pop("pretrain_mm_mlp_adapter"), output_dir, **options,
        )
        if not run.dry_run:
            run.returncode = launch(run)
        return run
    raise ConfigError(f"backend must be one of {BACKENDS}, found {backend!r}")


__all__ = ["BACKENDS", "train"]
