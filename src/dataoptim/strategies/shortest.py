"""Strategy ``shortest``: the records with the fewest answer words (the mirror of ``longest``).

Needs: ``text``. Paper: the length ablation of Zhao et al. 2024, "Long Is More for Alignment";
short-answer VQA-heavy mixtures are the opposite end of the same axis.
"""

NAME = "shortest"
PAPER = "Zhao et al. 2024, 'Long Is More for Alignment' (length ablation)"
NEEDS = ("text",)
DESCRIPTION = "shortest answers (answer_words, smallest first)"
OPTIONS = {"by": "answer_words"}


def run(selection, budget, *, seed=0, by="answer_words"):
    return selection.top_k(budget, by, descending=False)
