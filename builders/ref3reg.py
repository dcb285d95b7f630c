"""RefCOCO, RefCOCO+ and RefCOCOg as referring expression generation (region → expression).

The same files and ids as :mod:`dataoptim.builders.ref3rec` (read its docstring):
line ``i`` of Shikra's ``REC_ref3_train.jsonl`` gives ``ref3reg_{i}`` as well as
``ref3rec_{i}``. The prompt is one of Shikra's 125 REG templates with ``<objs>``
replaced by the box (``[0.0, 0.106, 0.827, 1.0]``) and ``<image>`` where the
template puts it; the answer is the expression.
"""

from __future__ import annotations

from dataoptim.builders.ref3rec import Ref3Builder, ref3_configs, reg_record  # noqa: F401  (reg_record: the pure function)


class Ref3Reg(Ref3Builder):
    """RefCOCO/+/g referring expression generation (box → expression), one record per Shikra line."""

    SOURCE = "ref3reg"
    KIND = "REG"
    DESCRIPTION = "RefCOCO, RefCOCO+ and RefCOCOg train expressions as REG records: a Shikra REG prompt with the box → the expression."
    BUILDER_CONFIGS = ref3_configs("ref3reg")
