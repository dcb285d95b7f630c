"""Signal ``embed``: image embeddings under a CLIP model, for diversity selection (a model signal).

Needs: ``image``; ``--model`` (CLIP folder or ``tiny``) and ``--image-folder``. Writes
``embedding``: the L2-normalised CLIP image embedding (``list<float32>`` of the projection size,
768 for ViT-L/14; null without an image). :func:`dataoptim.select.by_signal.kmeans_diverse` clusters it.

Paper: COINCIDE (Lee et al. 2024) and DataComp's image-based clustering baseline (Gadre et al. 2023)
cluster CLIP image embeddings.
"""

from __future__ import annotations

import pyarrow as pa

NAME = "embed"
VERSION = "1"
MODEL_SIGNAL = True
NEEDS = ("image",)
WRITES = {"embedding": pa.list_(pa.float32())}
PARAMS = {"model": None, "image_folder": None, "batch_size": 16, "shard_rows": 4096, "device": None, "dtype": None}
PAPER = "Gadre et al. 2023 (DataComp image-based clustering); Lee et al. 2024 (COINCIDE)"


def make_scorer(params, device):
    import torch

    from dataoptim.signals.model import clip_image_embeddings, load_clip

    model, _, processor = load_clip(params["model"], device, params.get("dtype"))

    @torch.no_grad()
    def score(records, images):
        out = [None] * len(records)
        keep = [i for i, im in enumerate(images) if im is not None]
        if keep:
            pixels = processor(images=[images[i] for i in keep], return_tensors="pt")["pixel_values"].to(device=device, dtype=model.dtype)
            emb = clip_image_embeddings(model, pixels).cpu().tolist()
            for i, e in zip(keep, emb):
                out[i] = e
        return {"embedding": out}

    return score
