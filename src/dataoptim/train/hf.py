"""Backend ``hf``: the challenge recipe natively with ``transformers`` (``Trainer``, optional DeepSpeed).

Same data format, masking, image padding and hyper-parameters as the ``llava``
backend (DESIGN §8, :mod:`dataoptim.train.recipe`): LLaVA 744cb3e's token ids,
labels and cut at ``model_max_length`` (:mod:`dataoptim.train.encoding`), its
pixels (PIL CLIP processor after ``expand2square``) and its loss (each
micro-batch's mean on each device, as transformers 4.31 computed it), on llava-hf's
``LlavaForConditionalGeneration``: the vision tower is frozen, the projector
and the language model train, AdamW with cosine decay after 3 % linear
warm-up, gradient checkpointing, bf16 where the GPU supports it (tf32 on
Ampere and newer). Runs on CPU with the tiny random model for tests.

Multi-GPU: start it with ``accelerate launch -m dataoptim train --backend hf ...``
or ``torchrun``/``deepspeed`` the same way, with ``--deepspeed zero3`` for ZeRO-3
(needs the ``dataoptim[deepspeed]`` extra). DeepSpeed is imported only then.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataoptim.errors import ConfigError, DataOptimError, MissingFileError
from dataoptim.train.recipe import BASE_MODEL, HF_RECIPE, RECIPE_FLAGS, zero2_config, zero3_config

logger = logging.getLogger("dataoptim.train")


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: folder of the final checkpoint (reload with :func:`dataoptim.train.model.load_model`).
        report: the data pre-flight report (:class:`dataoptim.train.data.DataReport` as a dict).
        metrics: ``Trainer.train`` metrics (``train_loss``, ``train_runtime`` s, ``train_samples_per_second``, ...)
            plus ``tokens_per_second`` (non-padding tokens incl. image tokens) and ``global_step``.
        log_history: the ``Trainer``'s log entries (``loss``, ``learning_rate``, ``tokens_per_second`` per logged step).
    """

    output_dir: Path
    report: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def losses(self) -> list[float]:
        """Training loss of each logged step, in order."""
        return [entry["loss"] for entry in self.log_history if "loss" in entry]


def _auto_precision(bf16: bool | None, tf32: bool | None) -> tuple[bool, bool | None]:
    import torch

    cuda = torch.cuda.is_available()
    if bf16 is None:
        bf16 = bool(cuda and torch.cuda.is_bf16_supported())
    if tf32 is None:
        tf32 = True if cuda and torch.cuda.get_device_capability()[0] >= 8 else None
    return bf16, tf32


def _deepspeed_config(deepspeed: str | os.PathLike | dict | None, output_dir: Path):
    """Resolve ``zero3``/``zero2``/a path/a dict to what ``TrainingArguments(deepspeed=...)`` takes."""
    if deepspeed is None:
        return None
    try:
        import deepspeed as _  # noqa: F401
    except ImportError:
        raise ConfigError("DeepSpeed is not installed; install the extra: pip install 'dataoptim[deepspeed]'") from None
    if isinstance(deepspeed, dict):
        return deepspeed
    if str(deepspeed) in ("zero3", "zero2"):
        from dataoptim.io import write_json

        path = output_dir / f"{deepspeed}.json"
        write_json(path, zero3_config() if str(deepspeed) == "zero3" else zero2_config(), indent=2)
        return str(path)
    if not Path(deepspeed).is_file():
        raise MissingFileError("DeepSpeed config not found", file=deepspeed)
    return str(deepspeed)


def check_settings(
    *,
    learning_rate: float,
    per_device_train_batch_size: int,
    gradient_accumulation_steps: int,
    dataloader_num_workers: int,
    max_steps: int,
    model_max_length: int,
) -> None:
    """Refuse settings that the ``Trainer`` would crash on, or silently read as something else.

    ``max_steps`` is ``-1`` (one full epoch) or a positive count: ``Trainer``
    takes any other value <= 0 as "full epoch" too.

    Raises:
        ConfigError: naming the setting and the value found.
    """
    import math

    def _int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not math.isfinite(learning_rate) or learning_rate < 0:
        raise ConfigError(f"learning_rate must be a finite number >= 0, found {learning_rate!r}")
    for name, value in (("per_device_train_batch_size", per_device_train_batch_size),
                        ("gradient_accumulation_steps", gradient_accumulation_steps), ("model_max_length", model_max_length)):
        if not _int(value) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, found {value!r}")
    if not _int(dataloader_num_workers) or dataloader_num_workers < 0:
        raise ConfigError(f"dataloader_num_workers must be an integer >= 0, found {dataloader_num_workers!r}")
    if not _int(max_steps) or (max_steps < 1 and max_steps != -1):
        raise ConfigError(f"max_steps must be -1 (one full epoch) or an integer >= 1, found {max_steps!r}")


def _from_worker(exc: DataOptimError) -> DataOptimError:
    """The original one-line error behind a :class:`DataOptimError` re-raised by a ``DataLoader`` worker.

    ``torch`` re-raises an error from a data-loader worker process as
    ``type(error)(text)``, where ``text`` is ``"Caught ModelInputError in DataLoader
    worker process 0."`` followed by the worker's whole traceback; its last line
    is ``"dataoptim.errors.ModelInputError: <the original message>"``. That line's
    message comes back as an error of the same type (its location parts are in
    the text; the attributes ``file``, ``record``... stay empty). Any other error
    is returned unchanged.
    """
    text = exc.message
    if not text.startswith("Caught ") or "Traceback" not in text:
        return exc
    lines = [line for line in text.splitlines() if line.strip()]
    prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
    if not lines or not lines[-1].startswith(prefix):
        return exc
    return type(exc)(lines[-1][len(prefix):])


def _resume_checkpoint(resume: bool | str | os.PathLike, output_dir: Path) -> str:
    """The checkpoint folder a resumed run starts from: the last ``checkpoint-N`` of ``output_dir``, or ``resume`` itself.

    Raises:
        MissingFileError: no ``checkpoint-N`` folder in ``output_dir``, or the given folder does not exist.
    """
    if resume is True:
        from transformers.trainer_utils import get_last_checkpoint

        last = get_last_checkpoint(str(output_dir)) if output_dir.is_dir() else None
        if last is None:
            raise MissingFileError("nothing to resume: no checkpoint-N folder here (a run saves one every save_steps)", file=output_dir)
        return last
    path = Path(resume)
    if not path.is_dir():
        raise MissingFileError("checkpoint folder to resume from not found", file=path)
    return str(path)


def _text_encoder(tokenizer, model, model_name_or_path, legacy, llama_tokenizer=None):
    """LLaVA's tokenizer for this run: the SentencePiece model given, or next to the start model's tokenizer, if any."""
    from dataoptim.train.encoding import LlamaText, text_encoder

    if llama_tokenizer is not None:
        return LlamaText.from_dir(llama_tokenizer, legacy=legacy)
    path = model_name_or_path or (model if isinstance(model, (str, os.PathLike)) and str(model) != "tiny" else None)
    return text_encoder(tokenizer, path=path if path is not None and Path(path).is_dir() else None, legacy=legacy)


def _check_vocabulary(text, net) -> None:
    """Refuse ids the model cannot embed (a SentencePiece model larger than the model's vocabulary)."""
    from dataoptim.train.encoding import LlamaText

    if isinstance(text, LlamaText):
        config = getattr(net.config, "text_config", net.config)
        size = getattr(config, "vocab_size", None)
        pieces = text.sp.get_piece_size()
        if size is not None and size < pieces:
            raise ConfigError(
                f"the model's vocabulary has {size} tokens, fewer than the {pieces} of {text.model_file}: "
                "this tokenizer does not belong to this model"
            )


def _keep_sentencepiece(text, output_dir: Path) -> None:
    """Copy ``tokenizer.model`` (and its ``legacy``) into a checkpoint, so its encoding stays exact when training resumes from it."""
    import shutil

    from dataoptim.train.encoding import LlamaText

    if not isinstance(text, LlamaText):
        return
    target = output_dir / "tokenizer.model"
    if not target.exists():
        shutil.copyfile(text.model_file, target)
    config = output_dir / "tokenizer_config.json"
    if config.is_file():
        data = json.loads(config.read_text(encoding="utf-8"))
        if data.get("legacy") != text.legacy:
            from dataoptim.io import write_json

            data["legacy"] = text.legacy
            write_json(config, data, indent=2)


def _trained_with_callback(image_position, pad, image_processor, model_max_length):
    """Writes ``trained_with.json`` (what evaluation must repeat) into each intermediate checkpoint."""
    from dataoptim.train.trained_with import trained_with_callback

    return trained_with_callback(image_position=image_position, pad=pad, image_processor=image_processor,
                                 model_max_length=model_max_length)


def _make_trainer_class():
    from transformers import Trainer

    class ThroughputTrainer(Trainer):
        """``Trainer`` that adds ``tokens_per_second`` and ``samples_per_second`` to each training log."""

        _mark: tuple[float, int, int] | None = None

        def training_step(self, *args, **kwargs):
            if self._mark is None:
                self._mark = (time.perf_counter(), int(self.state.num_input_tokens_seen), int(self.state.global_step))
            return super().training_step(*args, **kwargs)

        def log(self, logs, *args, **kwargs):
            if "loss" in logs and self._mark is not None:
                now, tokens, step = time.perf_counter(), int(self.state.num_input_tokens_seen), int(self.state.global_step)
                elapsed = max(now - self._mark[0], 1e-9)
                batch = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
                logs["tokens_per_second"] = round((tokens - self._mark[1]) / elapsed, 2)
                logs["samples_per_second"] = round((step - self._mark[2]) * batch / elapsed, 3)
                self._mark = (now, tokens, step)
            return super().log(logs, *args, **kwargs)

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            """Resume: load the weights through ``from_pretrained``, which maps llava-hf's saved key names.

            ``Trainer``'s own loader reads ``model.safetensors`` with ``load_state_dict(strict=False)``;
            transformers 5 saves LLaVA under its legacy key names (``language_model.model...``), so none
            of them matched and the resumed run silently started from the initial weights. Here the
            checkpoint is loaded as a model (once more in memory, on CPU) and its weights copied in,
            strictly (one ``model.safetensors`` or its shards). FSDP and DeepSpeed checkpoints keep ``Trainer``'s way.
            """
            model = self.model if model is None else model
            saved = any(os.path.isfile(os.path.join(resume_from_checkpoint, name))
                        for name in ("model.safetensors", "model.safetensors.index.json"))  # one file or shards
            if not saved or self.is_fsdp_enabled or self.is_deepspeed_enabled or not hasattr(model, "config"):
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            dtype = next(model.parameters()).dtype
            loaded = type(model).from_pretrained(resume_from_checkpoint, dtype=dtype)
            model.load_state_dict(loaded.state_dict(), strict=True)
            del loaded

    return ThroughputTrainer


def load_start_model(
    model: str | os.PathLike = "tiny",
    *,
    model_name_or_path: str | os.PathLike | None = None,
    vision_tower: str | os.PathLike | None = None,
    pretrain_mm_mlp_adapter: str | os.PathLike | None = None,
    dtype: str | None = None,
    tiny_kwargs: dict[str, Any] | None = None,
):
    """Pick the model training starts from.

    With ``model_name_or_path`` or ``pretrain_mm_mlp_adapter`` the recipe's start
    model is assembled from its parts (:func:`dataoptim.train.model.assemble_recipe_model`:
    Llama-2-7b-chat + CLIP ViT-L/14 + pretrain projector); otherwise ``model`` is
    ``"tiny"`` or a llava-hf checkpoint (:func:`dataoptim.train.model.load_model`).

    ``model`` may also be an already-built ``(model, tokenizer, image_processor)`` triple.

    Returns:
        ``(model, tokenizer, image_processor)``, model in train mode, vision tower frozen.
    """
    from dataoptim.train.model import assemble_recipe_model, load_model

    if isinstance(model, tuple):
        net, tokenizer, image_processor = model
    elif model_name_or_path is not None or pretrain_mm_mlp_adapter is not None:
        net, tokenizer, image_processor = assemble_recipe_model(
            model_name_or_path or BASE_MODEL,
            vision_tower or RECIPE_FLAGS["vision_tower"],
            pretrain_mm_mlp_adapter,
            dtype=dtype or "float32",
        )
    else:
        net, tokenizer, image_processor = load_model(model, dtype=dtype, **(tiny_kwargs or {}))
    net.model.vision_tower.requires_grad_(False)
    net.train()
    return net, tokenizer, image_processor


def train_hf(
    data: Any,
    image_folder: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    model: str | os.PathLike = "tiny",
    model_name_or_path: str | os.PathLike | None = None,
    vision_tower: str | os.PathLike | None = None,
    pretrain_mm_mlp_adapter: str | os.PathLike | None = None,
    max_steps: int = -1,
    num_train_epochs: float = HF_RECIPE["num_train_epochs"],
    per_device_train_batch_size: int = HF_RECIPE["per_device_train_batch_size"],
    gradient_accumulation_steps: int = HF_RECIPE["gradient_accumulation_steps"],
    learning_rate: float = HF_RECIPE["learning_rate"],
    weight_decay: float = HF_RECIPE["weight_decay"],
    warmup_ratio: float = HF_RECIPE["warmup_ratio"],
    lr_scheduler_type: str = HF_RECIPE["lr_scheduler_type"],
    model_max_length: int = HF_RECIPE["model_max_length"],
    gradient_checkpointing: bool = HF_RECIPE["gradient_checkpointing"],
    bf16: bool | None = None,
    tf32: bool | None = None,
    dataloader_num_workers: int = HF_RECIPE["dataloader_num_workers"],
    save_strategy: str = HF_RECIPE["save_strategy"],
    save_steps: int = HF_RECIPE["save_steps"],
    save_total_limit: int = HF_RECIPE["save_total_limit"],
    logging_steps: int = HF_RECIPE["logging_steps"],
    report_to: str = "none",
    seed: int = 42,
    image_position: str = "front",
    pad: bool = True,
    strict_length: bool = False,
    skip_bad_records: bool = False,
    loss_per_device: bool = True,
    legacy: bool | None = None,
    llama_tokenizer: str | os.PathLike | None = None,
    open_images: bool = False,
    allow_symlinks_out: bool = False,
    deepspeed: str | os.PathLike | dict | None = None,
    cache_dir: str | os.PathLike | None = None,
    num_proc: int | None = None,
    disable_tqdm: bool | None = None,
    dtype: str | None = None,
    tiny_kwargs: dict[str, Any] | None = None,
    dry_run: bool = False,
    callbacks: list | None = None,
    save_final: bool = True,
    skip_bad_images: bool = False,
    resume: bool | str | os.PathLike = False,
) -> TrainResult:
    """Fine-tune a LLaVA model on a selection with the challenge recipe (``transformers`` backend).

    Args:
        data: selection (LLaVA JSON, JSONL, saved Arrow folder or ``datasets.Dataset``).
        image_folder: folder the records' ``image`` paths are relative to.
        output_dir: where checkpoints, the final model, ``data_report.json`` and
            ``train_report.json`` go; the two reports are written once training has
            finished, so a run that fails (a bad option, record or image) leaves neither.
        model: ``"tiny"``, a llava-hf checkpoint to start from, or a built ``(model, tokenizer,
            image_processor)`` triple (ignored when the parts below are given).
        model_name_or_path, vision_tower, pretrain_mm_mlp_adapter: assemble the recipe's start
            model from Llama-2-7b-chat, CLIP ViT-L/14 and LLaVA's ``mm_projector.bin``.
        max_steps: stop after this many optimizer steps (>= 1), or -1: the whole epoch(s).
        num_train_epochs ... logging_steps: the recipe's values by default (DESIGN §8);
            ``warmup_ratio`` is a fraction of the total steps.
        bf16, tf32: None = on where the GPU supports them (bf16 off on CPU).
        report_to: ``"none"``, ``"wandb"``, ``"tensorboard"``, ... (the recipe logs to wandb).
        seed: data order and initialisation seed.
        image_position: ``<image>`` to the ``front`` (LLaVA) or ``inline``.
        pad: pad images to squares with the CLIP mean colour (the recipe's ``image_aspect_ratio pad``).
        strict_length: refuse records longer than ``model_max_length`` positions (the image counted
            once) instead of cutting them as LLaVA does (:func:`dataoptim.train.data.prepare_dataset`).
        skip_bad_records: drop (and report) the records LLaVA masks entirely and, with
            ``strict_length``, those too long, instead of keeping (masked) or refusing them.
        loss_per_device: the recipe's loss (default): each micro-batch's mean over its own label
            tokens, divided by the accumulation steps, as LLaVA's transformers 4.31 ``Trainer``
            computed it (``average_tokens_across_devices=False`` and no ``num_items_in_batch`` passed
            to the model). False: transformers' newer averaging over all label tokens of the step,
            across devices and accumulation steps (not the recipe).
        legacy: override the LLaMA tokenizer's ``legacy`` setting (default: its ``tokenizer_config.json``).
        llama_tokenizer: a folder holding LLaMA-2's ``tokenizer.model`` to encode with (default: the
            start model's folder when it holds one; else the model's own tokenizer, exact only as far
            as it splits text like LLaMA-2's: :mod:`dataoptim.train.encoding`).
        open_images: decode every image before training (catches corrupt files up front).
        allow_symlinks_out: follow links that lead out of ``image_folder`` (an organiser's
            ``images/coco -> /data/coco``) instead of refusing them (:mod:`dataoptim.imagepath`).
        deepspeed: ``"zero3"`` (the recipe's config), ``"zero2"``, a config path or dict; None: no DeepSpeed.
        cache_dir: Arrow cache for the selection (default ``datasets``' cache).
        num_proc: processes for tokenization.
        disable_tqdm: hide the progress bar.
        dtype: weights' dtype when loading (None: float32 for assembly, the checkpoint's otherwise).
        tiny_kwargs: options for :func:`dataoptim.train.model.build_tiny_model`.
        dry_run: load the model's tokenizer and check/tokenize the selection, then stop:
            the result holds the data report only and nothing is written to ``output_dir``.
        callbacks: extra ``transformers.TrainerCallback`` objects.
        save_strategy: ``"steps"`` (the recipe: every ``save_steps`` and at the end, with optimizer
            state) or ``"no"``.
        save_final: write the final model, tokenizer and image processor to ``output_dir``.
        skip_bad_images: decode every image before training and drop (and report in
            ``data_report.json``: ``bad_images``, ``bad_image_records``) the records whose image
            cannot be decoded; without it (or ``open_images``) a bad image stops the run when the
            data loader meets it, naming the record.
        resume: continue from the last ``checkpoint-N`` in ``output_dir`` (True) or from the given
            checkpoint folder: weights, optimizer, scheduler, RNG states and the position in the data
            order (``Trainer.train(resume_from_checkpoint=...)``); the run then ends where an
            uninterrupted one with the same settings would.

    Returns:
        :class:`TrainResult`.

    Raises:
        MissingFileError: selection, image folder, an image, or a model part is missing.
        UnsafeInputError: an image leads out of ``image_folder`` through a link (unless allowed).
        ModelInputError: a corrupt image; with ``strict_length``, a record too long.
        InputError, RecordError: malformed selection. ConfigError: bad option
            (:func:`check_settings`, before anything is read or written); a ``llama_tokenizer``
            whose vocabulary is larger than the model's.
    """
    import torch
    from transformers import TrainingArguments

    from dataoptim.io import check_output_dir, write_json
    from dataoptim.train.data import Collator, SupervisedDataset, prepare_dataset

    check_output_dir(output_dir, what="checkpoint folder")  # a file in the way: said before the model loads
    check_settings(
        learning_rate=learning_rate, per_device_train_batch_size=per_device_train_batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps, dataloader_num_workers=dataloader_num_workers,
        max_steps=max_steps, model_max_length=model_max_length,
    )
    output_dir = Path(output_dir)
    if not Path(image_folder).is_dir():
        raise MissingFileError("image folder not found", file=image_folder)
    if isinstance(data, (str, os.PathLike)) and not Path(data).exists():
        raise MissingFileError("selection file not found", file=data)
    if deepspeed is not None and dtype is None:
        dtype = "bfloat16"
    checkpoint = _resume_checkpoint(resume, output_dir) if resume and not dry_run else None  # before anything is read
    if dry_run:
        net, tokenizer, _ = load_start_model(
            model, model_name_or_path=model_name_or_path, vision_tower=vision_tower,
            pretrain_mm_mlp_adapter=pretrain_mm_mlp_adapter, dtype=dtype, tiny_kwargs=tiny_kwargs,
        )
        text = _text_encoder(tokenizer, model, model_name_or_path, legacy, llama_tokenizer)
        _check_vocabulary(text, net)
        _, report = prepare_dataset(
            data, image_folder, tokenizer, image_seq_length=net.config.image_seq_length,
            model_max_length=model_max_length, image_position=image_position, strict_length=strict_length,
            skip_bad_records=skip_bad_records, open_images=open_images, cache_dir=cache_dir, num_proc=num_proc,
            allow_symlinks_out=allow_symlinks_out, text=text, skip_bad_images=skip_bad_images, progress=disable_tqdm is not True,
        )
        return TrainResult(output_dir, report.as_dict())
    ds_config = _deepspeed_config(deepspeed, output_dir)
    bf16, tf32 = _auto_precision(bf16, tf32)
    if not 0.0 <= warmup_ratio < 1.0:
        raise ConfigError(f"warmup_ratio must be in [0, 1), found {warmup_ratio}")
    fields = TrainingArguments.__dataclass_fields__
    compat: dict[str, Any] = {}
    # transformers 5 renamed gradient_checkpointing and folded warmup_ratio into a fractional warmup_steps
    ckpt = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    compat[ckpt] = gradient_checkpointing
    compat[f"{ckpt}_kwargs"] = {"use_reentrant": False} if gradient_checkpointing else None
    if "average_tokens_across_devices" in fields:
        # transformers >= 4.46: False = no token count gathered across devices (LLaVA's 4.31 had none)
        compat["average_tokens_across_devices"] = not loss_per_device
    if "warmup_ratio" in fields:
        compat["warmup_ratio"] = warmup_ratio
    else:
        compat["warmup_steps"] = warmup_ratio
    args = TrainingArguments(
        **compat,
        output_dir=str(output_dir),
        max_steps=max_steps,
        num_train_epochs=num_train_epochs,
        per_device_train_batch_size=per_device_train_batch_size,
        per_device_eval_batch_size=HF_RECIPE["per_device_eval_batch_size"],
        gradient_accumulation_steps=gradient_accumulation_steps,
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        lr_scheduler_type=lr_scheduler_type,
        eval_strategy="no",
        save_strategy=save_strategy,
        save_steps=save_steps,
        save_total_limit=save_total_limit,
        logging_steps=logging_steps,
        bf16=bf16,
        tf32=tf32,
        dataloader_num_workers=dataloader_num_workers,
        dataloader_pin_memory=torch.cuda.is_available(),
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        report_to=report_to,
        seed=seed,
        deepspeed=ds_config,
        disable_tqdm=disable_tqdm,
    )
    net, tokenizer, image_processor = load_start_model(
        model, model_name_or_path=model_name_or_path, vision_tower=vision_tower,
        pretrain_mm_mlp_adapter=pretrain_mm_mlp_adapter, dtype=dtype, tiny_kwargs=tiny_kwargs,
    )
    tokenizer.model_max_length = model_max_length
    net.config.use_cache = False
    net.config.image_aspect_ratio = "pad" if pad else "square"  # saved with the checkpoint, as LLaVA saves it; evaluation reads it
    file = str(data) if isinstance(data, (str, os.PathLike)) else None
    text = _text_encoder(tokenizer, model, model_name_or_path, legacy, llama_tokenizer)
    _check_vocabulary(text, net)
    with args.main_process_first(desc="preparing the selection"):
        encoded, report = prepare_dataset(
            data, image_folder, tokenizer, image_seq_length=net.config.image_seq_length,
            model_max_length=model_max_length, image_position=image_position, strict_length=strict_length,
            skip_bad_records=skip_bad_records, open_images=open_images, cache_dir=cache_dir, num_proc=num_proc,
            allow_symlinks_out=allow_symlinks_out, text=text, skip_bad_images=skip_bad_images, progress=disable_tqdm is not True,
        )
    logger.info("selection: %s", report.summary())
    dataset = SupervisedDataset(
        encoded, image_folder, image_processor, image_token_id=net.config.image_token_index,
        image_seq_length=net.config.image_seq_length, pad=pad, file=file, allow_symlinks_out=allow_symlinks_out,
    )
    trainer = _make_trainer_class()(
        model=net,
        args=args,
        train_dataset=dataset,
        # LLaVA pads with <unk> (LLaMA-2: 0) and attends to every other position
        data_collator=Collator(text.pad_id if text.pad_id is not None else 0),
        processing_class=tokenizer,
        callbacks=[*(callbacks or []), _trained_with_callback(image_position, pad, image_processor, model_max_length)],
    )
    if loss_per_device:
        # no num_items_in_batch reaches the model: each micro-batch loss is its own mean over its label
        # tokens, and the Trainer divides it by the accumulation steps, as transformers 4.31 did for LLaVA
        trainer.model_accepts_loss_kwargs = False
    try:
        outcome = trainer.train(resume_from_checkpoint=checkpoint)
    except DataOptimError as exc:
        raise _from_worker(exc) from None
    if args.process_index == 0:  # only now: a failed run (e.g. a corrupt image met by the data loader) leaves no report
        write_json(output_dir / "data_report.json", report.as_dict(), indent=2)
    if save_final:
        trainer.save_model(str(output_dir))
        if args.process_index == 0:
            image_processor.save_pretrained(str(output_dir))
            from dataoptim.train.trained_with import write_trained_with  # what evaluation must repeat

            write_trained_with(output_dir, image_position=image_position, pad=pad, image_processor=image_processor,
                               model_max_length=model_max_length)
            _keep_sentencepiece(text, output_dir)
    metrics = dict(outcome.metrics)
    runtime = metrics.get("train_runtime") or 0.0
    metrics["global_step"] = int(trainer.state.global_step)
    metrics["num_input_tokens_seen"] = int(trainer.state.num_input_tokens_seen)
    metrics["tokens_per_second"] = round(trainer.state.num_input_tokens_seen / runtime, 2) if runtime else None
    result = TrainResult(output_dir, report.as_dict(), metrics, list(trainer.state.log_history))
    if args.process_index == 0:
        write_json(
            output_dir / "train_report.json",
            {
                "backend": "hf",
                "start_model": str(model_name_or_path or (model if not isinstance(model, tuple) else "(built in Python)")),
                "settings": {
                    "num_train_epochs": num_train_epochs, "max_steps": max_steps,
                    "per_device_train_batch_size": per_device_train_batch_size,
                    "gradient_accumulation_steps": gradient_accumulation_steps, "world_size": args.world_size,
                    "learning_rate": learning_rate, "weight_decay": weight_decay, "warmup_ratio": warmup_ratio,
                    "lr_scheduler_type": lr_scheduler_type, "gradient_checkpointing": gradient_checkpointing,
                    "bf16": bf16, "tf32": tf32, "seed": seed, "deepspeed": ds_config if isinstance(ds_config, str) else bool(ds_config),
                },
                "model_max_length": model_max_length,
                "strict_length": strict_length,
                "loss": "per-device micro-batch mean (LLaVA, transformers 4.31)" if loss_per_device else "token average across devices and accumulation steps",
                "encoding": report.encoding,
                "image_position": image_position,
                "pad": pad,
                "metrics": metrics,
                "data": report.as_dict(),
                "torch": torch.__version__,
            },
            indent=2,
        )
    return result
