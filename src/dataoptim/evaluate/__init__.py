"""Evaluation: benchmark questions in, scores out — deterministic and batched (DESIGN §9).

- :mod:`~dataoptim.evaluate.benchmark`: the canonical benchmark file and readers
  (DataOptim validation set, LLaVA eval question files, builder records).
- :mod:`~dataoptim.evaluate.tasks`: one scorer per benchmark task, each reproducing its
  reference implementation (vqaEval, LLaVA's eval scripts, MME's ``calculation.py``,
  lmms-eval's REC rule, pycocoevalcap CIDEr-D); shared tables, box readers and CIDEr in ``tasks.shared``.
- :mod:`~dataoptim.evaluate.metrics`: the friendlier readings used only with ``lenient=True`` (not official).
- :mod:`~dataoptim.evaluate.scoring`: score saved predictions (or MME-layout result folders);
  ``per_question.jsonl``, results files and ``scores.json``.
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
