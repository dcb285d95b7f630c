"""Strategy ``loss``: the records whose answers a LLaVA checkpoint finds hardest (highest mean answer loss).

Needs: ``loss`` (``answer_loss``: mean cross-entropy of the answer tokens given image and prompt).
Paper: loss / perplexity-based selection, e.g. Marion et al. 2023, "When Less is More:
Investigating Data Pruning for Pretraining LLMs at Scale"; the loss baselines of TIVE (Liu et al. 2024).
"""

NAME = "loss"
PAPER = "Marion et al. 2023, 'When Less is More' (perplexity-based pruning)"
NEEDS = ("loss",)
DESCRIPTION = "highest answer loss under a LLaVA checkpoint"
OPTIONS = {"descending": True}


def run(selection, budget, *, seed=0, descending=True):
    return selection.top_k(budget, "answer_loss", descending=bool(descending))
