"""Signal ``clip``: image-text similarity under a CLIP model (a model signal, :mod:`dataoptim.signals.model`).

Needs: ``image``, ``conversations``; ``--model`` (a CLIP folder, e.g. ``openai/clip-vit-large-patch14``
saved locally; ``tiny`` for a random test model) and ``--image-folder``. Writes ``clip_score``: the
cosine similarity of the L2-normalised image and text embeddings (range [-1, 1]; null without an
image). The text is the first question (``<image>`` removed) and its answer, cut at the text
tower's length (77 tokens for OpenAI CLIP). Images are CLIP-preprocessed as is (resize + centre
crop), as DataComp scores.

Paper: DataComp (Gadre et al. 2023) "CLIP score" filtering baseline (ViT-L/14 cosine similarity);
Schuhmann et al. 2021, LAION-400M.
"""

from __future__ import annotations

import pyarrow as pa

NAME = "clip"
VERSION = "1"
MODEL_SIGNAL = True
NEEDS = ("image", "conversations")
WRITES = {"clip_score": pa.float32()}
PARAMS = {"model": None, "image_folder": None, "batch_size": 16, "shard_rows": 4096, "device": None, "dtype": None}
PAPER = "Gadre et al. 2023, 'DataComp' (CLIP score filtering); Radford et al. 2021 (CLIP)"


def make_scorer(params, device):
    import torch

    from dataoptim.signals.model import clip_image_embeddings, clip_text, clip_text_embeddings, load_clip

    model, tokenizer, processor = load_clip(params["model"], device, params.get("dtype"))
    max_len = int(getattr(model.config.text_config, "max_position_embeddings", 77))

    @torch.no_grad()
    def score(records, images):
        out = [None] * len(records)
        keep = [i for i, im in enumerate(images) if im is not None]
        if not keep:
            return {"clip_score": out}
        texts = [clip_text(records[i]) for i in keep]
        tokens = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt").to(device)
        pixels = processor(images=[images[i] for i in keep], return_tensors="pt")["pixel_values"].to(device=device, dtype=model.dtype)
        image_emb = clip_image_embeddings(model, pixels)
        text_emb = clip_text_embeddings(model, tokens["input_ids"], tokens["attention_mask"])
        sims = (image_emb * text_emb).sum(-1).cpu().tolist()
        for i, s in zip(keep, sims):
            out[i] = float(s)
        return {"clip_score": out}

    return score
