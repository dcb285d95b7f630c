"""Strategy ``balanced``: the same number of records from every task (a task too small gives its share to the others).

Needs: nothing (tasks are row ranges of the pool). Within a task, records are drawn uniformly
(sources of a task in proportion to their size). Paper: task-balanced instruction mixtures, as
in InstructBLIP (Dai et al. 2023, §3.4: sampling that keeps small datasets from being swamped)
and the "balanced" baseline of DataOptim-style mixture studies.
"""

NAME = "balanced"
PAPER = "Dai et al. 2023, 'InstructBLIP' (balanced dataset sampling)"
NEEDS = ()
DESCRIPTION = "equal records per task"
OPTIONS = {}


def run(selection, budget, *, seed=0):
    import numpy as np

    from dataoptim.select.by_signal import _capped_split, _group_keys, quotas

    keys = _group_keys(selection, "task")
    sizes = {t: int((keys == t).sum()) for t in dict.fromkeys(keys.tolist())}
    alloc = _capped_split({t: 1.0 for t in sizes}, {t: float(n) for t, n in sizes.items()}, float(min(budget, len(selection))), integer=True)
    counts = {t: int(n) for t, n in alloc.items() if n}
    if not counts:
        return selection.sample(0)
    return quotas(selection, counts, by="task", seed=seed)
