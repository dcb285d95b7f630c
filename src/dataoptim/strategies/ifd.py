"""Strategy ``ifd``: the records with the highest instruction-following difficulty, IFD < 1.

Needs: ``loss`` (``ifd`` = loss of the answer given the prompt / loss of the answer alone).
Paper: Li et al. 2023, "From Quantity to Quality: Boosting LLM Performance with Self-Guided Data
Selection for Instruction Tuning" (Cherry LLM): rank by IFD, drop IFD ≥ 1 (the prompt does not
help: the pair is likely misaligned), keep the top.
"""

NAME = "ifd"
PAPER = "Li et al. 2023, 'From Quantity to Quality' (IFD)"
NEEDS = ("loss",)
DESCRIPTION = "highest instruction-following difficulty, IFD < 1"
OPTIONS = {"max_ifd": 1.0}


def run(selection, budget, *, seed=0, max_ifd=1.0):
    import polars as pl

    return selection.where(pl.col("ifd") < float(max_ifd)).top_k(budget, "ifd", descending=True)
