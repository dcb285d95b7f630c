"""dataoptim: which visual-instruction-tuning data makes the best LLaVA?

Importing the package registers the ``"dataoptim"`` builder with Hugging Face
``datasets`` (DESIGN §6), so that::

    import dataoptim
    from datasets import load_dataset
    ds = load_dataset("dataoptim", "gqa", data_dir="path/to/gqa")

works for any of the 21 sources. To keep ``import dataoptim`` (and the fast
selection path) free of the ``datasets`` import, registration happens when
``datasets`` is first imported, or at once if it already is.
"""

from __future__ import annotations

__version__ = "0.1.0"

from dataoptim._register import install as _install

_install()

__all__ = ["__version__"]
