"""Evaluation: benchmark questions in, scores out — deterministic and batched (DESIGN §9).

- :mod:`~dataoptim.evaluate.benchmark`: the canonical benchmark file and readers
  (DataOptim validation set, LLaVA eval question files, builder records).
- :mod:`~dataoptim.evaluate.metrics`: VQA accuracy, GQA exact match, multiple choice,
  CIDEr, grounding IoU, POPE — one plain function each.
- :mod:`~dataoptim.evaluate.scoring`: score saved predictions; results files and ``scores.json``.
- :mod:`~dataoptim.evaluate.generate`: batched greedy generation behind a small interface.
- :mod:`~dataoptim.evaluate.protocol`: generation protocols (default, DataOptim's ``run_llava_eval.py``,
  LLaVA's eval scripts) and the checkpoint's training settings they start from.
- :mod:`~dataoptim.evaluate.result_txt`: header-less ``<task>.txt`` result files in MME's layout.
- :mod:`~dataoptim.evaluate.runner`: :func:`evaluate`, all of it end to end.
- :mod:`~dataoptim.evaluate.report`: comparison of runs (markdown table, bar plot).

Nothing here imports ``torch`` until a model is used.
"""

from dataoptim.evaluate.benchmark import TASKS, read_benchmark, write_benchmark
from dataoptim.evaluate.generate import HFGenerator, generate_answers, make_generator
from dataoptim.evaluate.report import compare, write_comparison
from dataoptim.evaluate.runner import evaluate
from dataoptim.evaluate.scoring import read_predictions, score, score_items, write_results

__all__ = [
    "HFGenerator", "TASKS", "compare", "evaluate", "generate_answers", "make_generator", "read_benchmark", "read_predictions", "score", "score_items",
    "write_benchmark", "write_comparison", "write_results",
]
