"""Choosing training data from the DataOptim pool (DESIGN §7).

The notebook API::

    from dataoptim.select import Pool, build_pool, validate_byod

    build_pool("data/", "pool/")                      # once: Arrow files + id index
    pool = Pool.open("pool/")
    sel = pool.by_ids("example-standard.txt")         # a standard submission
    vqa = pool.filter(task="vqa", exclude_images="eval_images.txt")
    mix = pool.mix({"vqav2": 0.5, "llava": 0.5}, budget=10_000, seed=0)
    both = (sel | mix) - vqa
    summary = both.to_llava_json("train.json")        # LLaVA --data_path, written atomically
    summary.print(); both.plot("composition.png"); both.write_ids("ids.txt")
    validate_byod("my.json", image_folder="images/")  # a BYOD submission
    check_submission("my.json", "images/").problems   # every problem at once (dataoptim validate)

Names are imported lazily, so ``import dataoptim.select`` (done by the CLI at
start-up) costs nothing until one is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Pool": "dataoptim.select.pool",
    "build_pool": "dataoptim.select.pool",
    "BuildReport": "dataoptim.select.pool",
    "Selection": "dataoptim.select.selection",
    "Summary": "dataoptim.select.summary",
    "validate_byod": "dataoptim.select.byod",
    "check_submission": "dataoptim.select.validate",
    "ValidationReport": "dataoptim.select.validate",
    "read_id_file": "dataoptim.select.ids",
    "write_id_file": "dataoptim.select.ids",
    "check_images": "dataoptim.select.images",
    "ImageReport": "dataoptim.select.images",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'dataoptim.select' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
