"""Model signals: a pluggable scorer run over the pool in batches, data-parallel through ``accelerate``.

A model signal is a module of the same form as the others (:mod:`dataoptim.signals.base`) plus
``MODEL_SIGNAL = True`` and::

    make_scorer(params, device) -> scorer
    scorer(records: list[dict], images: list[PIL.Image | None]) -> dict[column, list]

``records`` are pool records (``id``, ``image``, ``conversations``...); ``images`` their decoded
RGB images (None where the record has none, or ``image_folder`` was not given, or the file is
missing or unreadable: the scorer then writes null). Any object with that call is a scorer, so a
new model score is one module (or pass your own module object to :func:`compute_model_signal`).

Running: ``accelerate launch -m dataoptim signals compute --pool P --signal clip --model M`` (or
``python -m dataoptim ...`` for one process). The pool's rows are cut into shards of
``shard_rows``; process ``r`` of ``n`` scores shards ``r, r+n, r+2n, ...`` in batches of
``batch_size`` and writes each shard to ``POOL/signals/.<name>.partial/shard-<k>.arrow`` as soon as
it is done, so a killed job resumes with the shards still missing. When every shard is there the
main process joins them into ``POOL/signals/<name>.arrow`` (with the version and parameters).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from dataoptim import words
from dataoptim.errors import ConfigError
from dataoptim.signals.base import (
    META_KEY, _as_table, _progress, _write_table, existing_folder, positive_int, read_meta, signal_path, signals_dir, wanted_meta,
)

#: Parameters every model signal takes (a module's PARAMS add to them).
COMMON_PARAMS = {"model": None, "image_folder": None, "batch_size": 16, "shard_rows": 4096, "device": None, "dtype": None}


def _load_images(records, folder) -> list:
    from dataoptim.errors import DataOptimError
    from dataoptim.train.images import load_image

    out = []
    for record in records:
        image = record.get("image")
        if folder is None or image is None:
            out.append(None)
            continue
        try:
            out.append(load_image(folder.resolve(image)))
        except DataOptimError:
            out.append(None)
    return out


def check_common(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the common parameters (positive ``batch_size`` / ``shard_rows``, an existing ``image_folder``).

    Raises:
        ConfigError: a bad value, naming the parameter.
        MissingFileError: ``image_folder`` does not exist.
    """
    import os

    out = dict(params)
    for key in ("batch_size", "shard_rows"):
        positive_int(out, key)
    if not out.get("model"):
        raise ConfigError("a model signal needs --model (a model folder, or 'tiny' for a random test model)", field="model")
    if out.get("image_folder"):
        out["image_folder"] = existing_folder(out["image_folder"], "image folder")
    model = str(out["model"])
    if model != "tiny" and os.path.exists(os.path.expanduser(model)):
        out["model"] = os.path.realpath(os.path.expanduser(model))
    return out


def compute_model_signal(pool, module, params: Mapping[str, Any] | None = None, *, force: bool = False, progress: bool | None = None, state=None) -> Path:
    """Score every pool record with ``module``'s scorer and store the signal (skipped when fresh).

    Args:
        pool: an opened pool.
        module: a model-signal module (``clip``, ``loss``, ``embed``, or your own of the same form).
        params: its parameters (``model``, ``image_folder``, ``batch_size``, ``shard_rows``,
            ``device``, ``dtype`` and the module's own).
        force: recompute even when fresh (finished shards of a killed run with the same
            parameters are still reused unless ``force``).
        progress: progress bar (default: on a terminal, main process only).
        state: an ``accelerate.PartialState`` (default: made here; one process without a launcher).

    Returns:
        The path of ``POOL/signals/<name>.arrow``.

    Raises:
        ConfigError: unknown or bad parameters; accelerate is missing.
    """
    defaults = {**COMMON_PARAMS, **module.PARAMS}
    params = dict(params or {})
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(f"signal {module.NAME!r} has no {words.plural(len(unknown), 'parameter')} {', '.join(unknown)} (it takes: {', '.join(defaults)})")
    full = check_common({**defaults, **params})
    prepare = getattr(module, "prepare", None)
    if prepare is not None:
        full = prepare(full)
    stored = {k: v for k, v in full.items() if k not in ("batch_size", "shard_rows", "device")}  # how it runs does not change the values
    out = signal_path(pool, module.NAME)
    meta = wanted_meta(module, pool, stored)
    if not force and read_meta(out) == meta:
        return out
    if state is None:
        try:
            from accelerate import PartialState
        except ImportError:
            raise ConfigError("model signals need accelerate and torch: pip install 'dataoptim[train]'") from None
        state = PartialState(cpu=full.get("device") == "cpu")
    rank, world = int(state.process_index), int(state.num_processes)
    folder = signals_dir(pool)
    partial = folder / f".{module.NAME}.partial"
    meta_file = partial / "meta.json"
    if state.is_main_process:
        folder.mkdir(exist_ok=True)
        if partial.exists():
            try:
                old = json.loads(meta_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                old = None
            if old != {**meta, "shard_rows": full["shard_rows"]} or force:
                shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(exist_ok=True)
        meta_file.write_text(json.dumps({**meta, "shard_rows": full["shard_rows"]}), encoding="utf-8")
    state.wait_for_everyone()
    shard_rows = int(full["shard_rows"])
    shards = [(k, lo, min(lo + shard_rows, pool.num_rows)) for k, lo in enumerate(range(0, pool.num_rows, shard_rows))]
    mine = [s for s in shards if s[0] % world == rank and not (partial / f"shard-{s[0]:06d}.arrow").is_file()]
    device = full.get("device") or str(state.device)
    from dataoptim.imagepath import ImageFolder

    image_folder = ImageFolder(full["image_folder"]) if full.get("image_folder") else None
    bar = _progress(sum(hi - lo for _, lo, hi in mine), module.NAME, progress if state.is_main_process else False)
    scorer = module.make_scorer(full, device) if mine else None
    columns = ["id", "image", "conversations"]
    try:
        for k, lo, hi in mine:
            table = pool.rows_table(np.arange(lo, hi, dtype=np.int64), columns=columns)
            pieces = []
            for start in range(0, table.num_rows, int(full["batch_size"])):
                records = table.slice(start, int(full["batch_size"])).to_pylist()
                images = _load_images(records, image_folder) if "image" in module.NEEDS else [None] * len(records)
                values = scorer(records, images)
                pieces.append(_as_table(module, values, len(records)))
                bar.update(len(records))
            _write_table(pa.concat_tables(pieces), partial / f"shard-{k:06d}.arrow")
    finally:
        bar.close()
    state.wait_for_everyone()
    if state.is_main_process:
        tables = [pa.ipc.open_file(pa.memory_map(str(partial / f"shard-{k:06d}.arrow"), "r")).read_all() for k, _, _ in shards]
        whole = pa.concat_tables(tables) if tables else _as_table(module, {c: [] for c in module.WRITES}, 0)
        _write_table(whole, out, {META_KEY: json.dumps(meta).encode()})
        shutil.rmtree(partial, ignore_errors=True)
    state.wait_for_everyone()
    return out


# ----------------------------------------------------------------------------------------
# CLIP, shared by the clip and embed signals
# ----------------------------------------------------------------------------------------
def build_tiny_clip(seed: int = 0):
    """A small random CLIP (``transformers.CLIPModel``) with the tiny tokenizer and image processor of
    :mod:`dataoptim.train.model`, for tests and the CPU mode of the GPU benchmark (no download)."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from dataoptim.train.model import build_tiny_image_processor, build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=28, patch_size=7),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    model = CLIPModel(config)
    return model, tokenizer, build_tiny_image_processor(28)


def load_clip(model: str, device: str, dtype: str | None = None):
    """``(model, tokenizer, image_processor)`` of a CLIP checkpoint folder (or ``"tiny"``), in eval mode on ``device``.

    Raises:
        MissingFileError: the folder cannot be loaded as a CLIP model.
    """
    import torch

    if model == "tiny":
        clip, tokenizer, processor = build_tiny_clip()
    else:
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        from dataoptim.train.model import _from_pretrained

        clip = _from_pretrained(CLIPModel, model, "CLIP model")
        tokenizer = _from_pretrained(AutoTokenizer, model, "CLIP tokenizer")
        processor = _from_pretrained(AutoImageProcessor, model, "CLIP image processor")
    if dtype:
        clip.to(getattr(torch, dtype))
    return clip.to(device).eval(), tokenizer, processor


def clip_text(record: Mapping[str, Any]) -> str:
    """The text a CLIP score compares with the image: the first question (``<image>`` removed) and its answer."""
    turns = record.get("conversations") or []
    question = turns[0]["value"].replace("<image>", " ") if turns else ""
    answer = turns[1]["value"] if len(turns) > 1 else ""
    return " ".join(f"{question} {answer}".split())


def _features(output):
    """A tensor from ``get_*_features`` (older transformers) or the pooled, projected output of newer ones."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    for name in ("pooler_output", "image_embeds", "text_embeds"):
        value = getattr(output, name, None)
        if value is not None:
            return value
    raise TypeError(f"cannot read embeddings from {type(output).__name__}")


def clip_image_embeddings(model, pixel_values):
    """L2-normalised CLIP image embeddings, ``float32 (B, projection_dim)``."""
    import torch

    return torch.nn.functional.normalize(_features(model.get_image_features(pixel_values=pixel_values)).float(), dim=-1)


def clip_text_embeddings(model, input_ids, attention_mask):
    """L2-normalised CLIP text embeddings, ``float32 (B, projection_dim)``."""
    import torch

    return torch.nn.functional.normalize(_features(model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)).float(), dim=-1)
