"""GPU check of the model signals (issue 16, item 2): CLIP score and answer loss / IFD over 20K records.

Builds a pool of generated records (random 640x480 JPEGs, two-exchange conversations with answers of
5-120 words, as ``gpu_train.py`` makes them), saves randomly initialised models with the real shapes
where they drive the cost — CLIP ViT-L/14 at 224 px for ``clip`` (the text tower at CLIP's width with
the test vocabulary), and a LLaVA of CLIP ViT-L/14 + a ``--hidden`` x ``--layers`` Llama decoder for
``loss`` — and runs ``dataoptim.signals.compute`` on them, batched, in bfloat16, through accelerate
(``accelerate launch benchmarks/gpu_signals.py`` spreads the shards over every GPU). Prints records per
second per signal and the total time. Nothing is downloaded.

    python benchmarks/gpu_signals.py                      # GPU: 20K records, clip + loss
    python benchmarks/gpu_signals.py --tiny --records 64  # CPU smoke test (tiny random models)

Target (issue 16): 20K records on one H100/H200 in under 8 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_pool(work: Path, records: int, images: int, size: tuple[int, int], seed: int):
    """A pool of ``records`` generated LLaVA-source records over ``images`` random JPEGs; returns (pool, image folder)."""
    from gpu_train import make_selection

    from dataoptim.select import Pool, build_pool

    data_json, image_folder = make_selection(work, records, n_images=images, image_size=size, seed=seed)
    items = json.loads(data_json.read_text())
    for k, item in enumerate(items):
        item["id"] = f"llava_{k}"
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "llava.json").write_text(json.dumps(items))
    build_pool(data, work / "pool", progress=False)
    return Pool.open(work / "pool"), image_folder


def save_models(work: Path, args) -> tuple[str, str]:
    """Save a random CLIP and a random LLaVA of the benchmark's shapes; return their folders."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from dataoptim.train.model import build_model_from_configs, build_tiny_image_processor, build_tiny_tokenizer, save_checkpoint

    tokenizer = build_tiny_tokenizer()
    processor = build_tiny_image_processor(224)
    vision = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16, image_size=224, patch_size=14,
                  hidden_act="quick_gelu")
    clip_config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                         max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, hidden_act="quick_gelu"),
        vision_config=vision, projection_dim=768,
    )
    torch.manual_seed(args.seed)
    clip = CLIPModel(clip_config)
    clip_dir = work / "clip"
    clip.save_pretrained(clip_dir)
    tokenizer.save_pretrained(clip_dir)
    processor.save_pretrained(clip_dir)
    del clip
    text = dict(hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.6875), num_hidden_layers=args.layers,
                num_attention_heads=args.hidden // 128, num_key_value_heads=args.hidden // 128, max_position_embeddings=2048)
    llava = build_model_from_configs({**vision, "projection_dim": 768}, text, tokenizer, seed=args.seed, text_vocab_size=32064)
    llava_dir = save_checkpoint(llava, tokenizer, processor, work / "llava")
    return str(clip_dir), str(llava_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models on CPU (smoke test)")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--signals", default="clip,loss", help="comma-separated model signals (clip, embed, loss)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=2048, help="LLaVA decoder width (multiple of 128)")
    parser.add_argument("--layers", type=int, default=16, help="LLaVA decoder layers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="JSON report path")
    args = parser.parse_args(argv)

    import torch

    from dataoptim import signals

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="dataoptim-gpu-signals-"))
    work.mkdir(parents=True, exist_ok=True)
    pool, images = make_pool(work, args.records, 8 if args.tiny else 512, (48, 36) if args.tiny else (640, 480), args.seed)
    report = {"records": len(pool), "tiny": args.tiny, "cuda": torch.cuda.is_available(),
              "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", "data_s": round(time.perf_counter() - started, 1)}
    if args.tiny:
        clip_model = llava_model = "tiny"
    else:
        t0 = time.perf_counter()
        clip_model, llava_model = save_models(work, args)
        report["models_s"] = round(time.perf_counter() - t0, 1)
    dtype = "bfloat16" if torch.cuda.is_available() and not args.tiny else None
    device = None if torch.cuda.is_available() else "cpu"
    for name in [s.strip() for s in args.signals.split(",") if s.strip()]:
        model = llava_model if name == "loss" else clip_model
        t0 = time.perf_counter()
        signals.compute(pool, name, model=model, image_folder=str(images), batch_size=args.batch_size, dtype=dtype, device=device, force=True)
        seconds = time.perf_counter() - t0
        table = signals.load(pool, name)
        first = table.column(0)
        report[name] = {"seconds": round(seconds, 1), "records_per_s": round(len(pool) / seconds, 1), "nulls": first.null_count}
    report["total_s"] = round(time.perf_counter() - started, 1)
    if torch.cuda.is_available():
        report["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
