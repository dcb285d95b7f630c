"""Strategy ``random``: ``budget`` records drawn uniformly without replacement.

Needs: nothing. Paper: DataComp (Gadre et al. 2023), the "no filtering" baseline every filter is
compared with; the random baseline of the MLLM selection papers (TIVE, COINCIDE, ICONS).
"""

NAME = "random"
PAPER = "Gadre et al. 2023, 'DataComp: In search of the next generation of multimodal datasets' (no-filtering baseline)"
NEEDS = ()
DESCRIPTION = "uniform random sample"
OPTIONS = {}


def run(selection, budget, *, seed=0):
    return selection.sample(min(budget, len(selection)), seed=seed)
