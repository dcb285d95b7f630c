"""Strategy ``clip``: the records whose image and text a CLIP model finds most similar.

Needs: ``clip`` (``clip_score``: cosine similarity of CLIP image and text embeddings).
Paper: DataComp (Gadre et al. 2023), "CLIP score filtering" baseline (keep the top fraction by
the ViT-L/14 CLIP score); Schuhmann et al. 2021 (LAION-400M) threshold filtering.
"""

NAME = "clip"
PAPER = "Gadre et al. 2023, 'DataComp' (CLIP score top-k baseline)"
NEEDS = ("clip",)
DESCRIPTION = "top CLIP image-text similarity"
OPTIONS = {}


def run(selection, budget, *, seed=0):
    return selection.top_k(budget, "clip_score", descending=True)
