"""Named selection strategies: the published baselines, each writing a standard submission under a budget (issue 16).

Every strategy is one module of the same form: ``NAME``, ``PAPER`` (what it reproduces),
``NEEDS`` (the signals it reads; cheap ones are computed on the fly, model signals must be
computed first with ``dataoptim signals compute``), ``DESCRIPTION`` and
``run(pool, budget, *, seed=0, base=None, **options) -> Selection`` returning at most
``budget`` records (fewer only when the pool has fewer that qualify).

=========== ==================================================== =================
strategy    what                                                 needs
=========== ==================================================== =================
random      uniform sample (DataComp's no-filtering baseline)    -
balanced    equal records per task                               -
longest     records with the longest answers                     text
shortest    records with the shortest answers                    text
clip        top CLIP image-text similarity (DataComp)            clip
loss        highest answer loss under a LLaVA checkpoint         loss
ifd         highest instruction-following difficulty (IFD < 1)   loss
kmeans      equal quotas over k-means clusters (COINCIDE-style)  embed
dedup_first exact/near duplicates and flagged replies out, then  duplicates, flags
            a uniform sample
=========== ==================================================== =================

Example::

    from dataoptim.select import Pool
    from dataoptim import strategies

    sel = strategies.run("longest", Pool.open("pool"), budget=10_000, seed=0)
    sel.write_ids("ids.txt")        # a standard submission: `dataoptim select --ids ids.txt`
"""

from __future__ import annotations

import importlib

from dataoptim import words
from dataoptim.errors import ConfigError

STRATEGIES = {
    "random": "dataoptim.strategies.random_sample",
    "balanced": "dataoptim.strategies.balanced",
    "longest": "dataoptim.strategies.longest",
    "shortest": "dataoptim.strategies.shortest",
    "clip": "dataoptim.strategies.clip_top",
    "loss": "dataoptim.strategies.loss_top",
    "ifd": "dataoptim.strategies.ifd",
    "kmeans": "dataoptim.strategies.kmeans",
    "dedup_first": "dataoptim.strategies.dedup_first",
}
#: Signals a strategy may compute on the fly when missing (no model, no extra input).
CHEAP_SIGNALS = ("text", "duplicates", "flags")


def get(name: str):
    """The module of strategy ``name``.

    Raises:
        ConfigError: no such strategy (listing the known ones).
    """
    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; strategies: {', '.join(STRATEGIES)}", field="strategy")
    return importlib.import_module(STRATEGIES[name])


def ensure_signals(pool, needs) -> None:
    """Compute the cheap signals in ``needs`` that are missing; raise for missing model signals.

    Raises:
        MissingFileError: a model signal (clip, loss, embed) is not computed, naming the command.
    """
    from dataoptim import signals
    from dataoptim.errors import MissingFileError
    from dataoptim.signals.base import stored_signals

    stored = stored_signals(pool)
    for name in needs:
        if name in stored:
            continue
        if name in CHEAP_SIGNALS:
            signals.compute(pool, name, progress=False)
        else:
            raise MissingFileError(
                f"this strategy needs the {name!r} signal; compute it first: `dataoptim signals compute --pool {pool.path} --signal {name} --model ...`",
                file=pool.path,
            )


def run(name: str, pool, budget: int, *, seed: int = 0, base=None, **options):
    """Run strategy ``name`` on ``pool`` (or on the selection ``base``) under ``budget`` records.

    Returns:
        A :class:`~dataoptim.select.selection.Selection` of at most ``budget`` records, each once.

    Raises:
        ConfigError: unknown strategy or option, bad budget or seed.
        MissingFileError: a needed model signal is not computed.
    """
    from dataoptim.select.checks import check_count, check_seed

    module = get(name)
    budget = check_count(budget, field="budget")
    if budget == 0:  # an empty id list is no submission: `validate` refuses it
        raise ConfigError("must be at least 1 (an empty id list is not a submission)", field="budget")
    seed = check_seed(seed)
    unknown = sorted(set(options) - set(getattr(module, "OPTIONS", {})))
    if unknown:
        raise ConfigError(f"strategy {name!r} has no {words.plural(len(unknown), 'option')} {', '.join(unknown)} (it takes: {', '.join(getattr(module, 'OPTIONS', {})) or 'none'})")
    ensure_signals(pool, module.NEEDS)
    selection = (base if base is not None else pool.all()).unique()
    out = module.run(selection, budget, seed=seed, **{**getattr(module, "OPTIONS", {}), **options})
    out.name = name
    out.report.setdefault("strategy", name)
    return out
