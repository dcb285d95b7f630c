"""GPU check of the hf trainer (issue 5, item 4): a real-shaped LLaVA for a few hundred steps.

Trains a randomly initialised model with the recipe's shapes where they drive
the cost — CLIP ViT-L/14 at 224 px (256 image tokens per sample, frozen), a
Llama decoder (default ~1.1 B parameters: 2048 wide, 16 layers, 32064-token
output layer), the recipe's batch 16, bf16, gradient checkpointing, AdamW,
cosine schedule — on a generated selection (synthetic JPEGs, two-turn
conversations of mixed length) through the whole ``dataoptim.train.hf``
pipeline (JSON → Arrow → LLaVA 744cb3e's exact encoding with LLaMA-2's
SentencePiece tokenizer → data loader → ``Trainer``, loss per device as the
recipe), and reports samples/s and tokens/s (non-padding tokens, image tokens
included). A few records run past ``model_max_length`` and are cut, as LLaVA cuts them.

    python benchmarks/gpu_train.py                  # GPU: ~1.1 B model, 300 steps, stops by 6.5 min
    python benchmarks/gpu_train.py --tiny --steps 2 # CPU smoke test (seconds; small model, same encoding)

Writes a JSON report (``--out``, default ``gpu_train.json`` in the work folder) and
prints it. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "a cat dog sits on the red mat next to two people ride bikes down street in city blue green white "
    "black left right top bottom small large man woman table chair window car bus tree sky"
).split()


def make_selection(folder: Path, n_records: int, n_images: int, image_size: tuple[int, int], seed: int) -> tuple[Path, Path]:
    """Write ``n_images`` random JPEGs and ``n_records`` two-turn records (answers 5-120 words) under ``folder``."""
    import numpy as np
    from PIL import Image

    rng = random.Random(seed)
    long_every = 97  # about 1 % of the records run past 2,048 positions (cut by the collator, still trained)
    nprng = np.random.default_rng(seed)
    images = folder / "images"
    (images / "synth").mkdir(parents=True, exist_ok=True)
    for i in range(n_images):
        pixels = nprng.integers(0, 256, size=(image_size[1], image_size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / "synth" / f"{i}.jpg", quality=90)
    records = []
    for i in range(n_records):
        n_words = 2200 if i % long_every == long_every - 1 else rng.randint(5, 120)
        answer = " ".join(rng.choice(WORDS) for _ in range(n_words))
        records.append({
            "id": f"synth_{i}",
            "image": f"synth/{i % n_images}.jpg",
            "conversations": [
                {"from": "human", "value": "<image>\nDescribe the image in detail."},
                {"from": "gpt", "value": answer.capitalize() + "."},
                {"from": "human", "value": "What colour is the " + rng.choice(WORDS) + "?"},
                {"from": "gpt", "value": rng.choice(["Blue.", "Green.", "It is white.", "Red and black."])},
            ],
        })
    data = folder / "selection.json"
    data.write_text(json.dumps(records))
    return data, images


def build(args):
    import torch

    from dataoptim.train.model import build_model_from_configs, build_tiny_image_processor, build_tiny_tokenizer

    # the ids come from LLaMA-2's SentencePiece model (train_hf(llama_tokenizer=...)); this tokenizer only
    # gives the model its <image> and pad ids (pad = <unk> = 0, as LLaMA-2's)
    tokenizer = build_tiny_tokenizer()
    if args.tiny:
        vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=28, patch_size=7, projection_dim=32)
        text = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048)
        return build_model_from_configs(vision, text, tokenizer, seed=args.seed, text_vocab_size=32064), tokenizer, build_tiny_image_processor(28)
    vision = dict(  # openai/clip-vit-large-patch14
        hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
        image_size=224, patch_size=14, projection_dim=768, hidden_act="quick_gelu",
    )
    text = dict(  # a narrower Llama-2: same vocabulary, 2048 positions
        hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.6875), num_hidden_layers=args.layers,
        num_attention_heads=args.hidden // 128, num_key_value_heads=args.hidden // 128, max_position_embeddings=2048,
    )
    device = "cuda" if torch.cuda.is_available() else None
    model = build_model_from_configs(vision, text, tokenizer, seed=args.seed, text_vocab_size=32064, device=device)
    return model, tokenizer, build_tiny_image_processor(224)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model (CPU smoke test)")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=16, help="per-device batch (recipe: 16)")
    parser.add_argument("--hidden", type=int, default=2048, help="decoder width (multiple of 128)")
    parser.add_argument("--layers", type=int, default=16, help="decoder layers")
    parser.add_argument("--workers", type=int, default=4, help="data-loader workers (recipe: 4)")
    parser.add_argument("--max-seconds", type=float, default=390.0, help="stop training after this long (keeps the check under 8 min)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "llama2-tokenizer",
                        help="folder with LLaMA-2's tokenizer.model (default: the test fixture copy)")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="JSON report path")
    args = parser.parse_args(argv)

    import torch
    from transformers import TrainerCallback

    from dataoptim.train.hf import train_hf

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="dataoptim-gpu-train-"))
    work.mkdir(parents=True, exist_ok=True)
    n_records = args.steps * args.batch_size
    data, images = make_selection(work, n_records, n_images=8 if args.tiny else 256,
                                  image_size=(48, 36) if args.tiny else (640, 480), seed=args.seed)
    t_data = time.perf_counter() - started

    class Deadline(TrainerCallback):
        def __init__(self, seconds: float) -> None:
            self.seconds, self.start, self.hit = seconds, None, False

        def on_step_begin(self, args_, state, control, **kw):
            self.start = self.start or time.perf_counter()

        def on_step_end(self, args_, state, control, **kw):
            if time.perf_counter() - self.start > self.seconds:
                control.should_training_stop, self.hit = True, True

    deadline = Deadline(args.max_seconds)
    t0 = time.perf_counter()
    built = build(args)
    t_model = time.perf_counter() - t0
    n_params = sum(p.numel() for p in built[0].parameters())
    n_trainable = sum(p.numel() for p in built[0].parameters() if p.requires_grad)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = train_hf(
        data, images, work / "checkpoint", model=built, max_steps=args.steps,
        per_device_train_batch_size=args.batch_size, dataloader_num_workers=args.workers,
        cache_dir=work / "cache", save_strategy="no", save_final=False, seed=args.seed, callbacks=[deadline],
        llama_tokenizer=args.tokenizer,
        disable_tqdm=not sys.stderr.isatty(),
    )
    steps = result.metrics["global_step"]
    logged = [e for e in result.log_history if "tokens_per_second" in e]
    steady = logged[len(logged) // 5:] or logged  # skip warm-up steps (compilation, cache fill)
    report = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "model": "tiny" if args.tiny else f"CLIP ViT-L/14-224 + Llama {args.hidden}x{args.layers}",
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "batch_size": args.batch_size,
        "steps": steps,
        "stopped_by_deadline": deadline.hit,
        "bf16": bool(cuda and torch.cuda.is_bf16_supported()),
        "train_runtime_s": result.metrics.get("train_runtime"),
        "samples_per_second": result.metrics.get("train_samples_per_second"),
        "tokens_per_second": result.metrics.get("tokens_per_second"),
        "steady_samples_per_second": round(sum(e["samples_per_second"] for e in steady) / len(steady), 3) if steady else None,
        "steady_tokens_per_second": round(sum(e["tokens_per_second"] for e in steady) / len(steady), 1) if steady else None,
        "mean_tokens_per_sample": round(result.report["tokens"] / max(result.report["usable"], 1), 1),
        "encoding": result.report["encoding"],
        "records_truncated": result.report["truncated"],
        "records_masked": result.report["masked"],
        "loss": "per-device micro-batch mean (LLaVA, transformers 4.31)",
        "first_loss": result.losses[0] if result.losses else None,
        "last_loss": result.losses[-1] if result.losses else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "data_prep_s": round(t_data, 2),
        "model_build_s": round(t_model, 2),
        "total_s": round(time.perf_counter() - started, 2),
    }
    text = json.dumps(report, indent=2)
    print(text)
    print(f"tokens per second: {report['tokens_per_second']} (steady {report['steady_tokens_per_second']}), "
          f"samples per second: {report['samples_per_second']}, {steps} steps on {report['device']}")
    out = args.out or (work / "gpu_train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    ok = steps > 0 and all(v is not None for v in (report["first_loss"], report["last_loss"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
