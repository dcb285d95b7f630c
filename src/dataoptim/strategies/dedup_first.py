"""Strategy ``dedup_first``: drop exact duplicates (conversation, then question + image) and empty or
refusal replies, then draw ``budget`` records uniformly.

Needs: ``duplicates``, ``flags``. Paper: DataComp (Gadre et al. 2023) and Data-Juicer
(Chen et al. 2024) clean before selecting; Lee et al. 2022, "Deduplicating Training Data Makes
Language Models Better".
"""

NAME = "dedup_first"
PAPER = "Lee et al. 2022 (deduplication); Data-Juicer (Chen et al. 2024) cleaning before selection"
NEEDS = ("duplicates", "flags")
DESCRIPTION = "exact duplicates and flagged replies out, then a uniform sample"
OPTIONS = {}


def run(selection, budget, *, seed=0):
    clean = selection.where("NOT flagged").dedup("conversation").dedup("question_image")
    return clean.sample(min(budget, len(clean)), seed=seed)
