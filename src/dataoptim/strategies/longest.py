"""Strategy ``longest``: the records with the most answer words.

Needs: ``text``. Paper: Zhao et al. 2024, "Long Is More for Alignment: A Simple but Tough-to-Beat
Baseline for Instruction Fine-Tuning" (select the longest responses).
"""

NAME = "longest"
PAPER = "Zhao et al. 2024, 'Long Is More for Alignment'"
NEEDS = ("text",)
DESCRIPTION = "longest answers (answer_words, largest first)"
OPTIONS = {"by": "answer_words"}


def run(selection, budget, *, seed=0, by="answer_words"):
    return selection.top_k(budget, by, descending=True)
