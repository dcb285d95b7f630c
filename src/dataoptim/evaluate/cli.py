"""CLI commands of `dataoptim.evaluate` (registered by ``dataoptim.cli``).

``dataoptim score``, ``dataoptim evaluate`` and ``dataoptim compare``. Heavy
imports (torch, transformers, pycocoevalcap, matplotlib) happen inside the
command bodies so ``dataoptim --help`` stays fast. Scores go to stdout as JSON
(``scores.json``'s content); the human-readable table goes to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

from dataoptim.io import check_output_dir
from dataoptim.imagepath import CLI_HELP as ALLOW_HELP


def _refuse_inputs_in_output(output: Path, inputs: dict, names: tuple[str, ...], suffixes: tuple[str, ...]) -> None:
    """Refuse an input file that lies in the output folder under a name the command writes there (it would be overwritten).

    Args:
        output: the ``--output`` folder (nothing is checked when it does not exist yet).
        inputs: label -> file path, a list of them, or None.
        names: the fixed file names the command writes (``scores.json``...); suffixes: those of its per-task files (``.tsv``).

    Raises:
        ConfigError: naming the input and the output folder, before anything is read or written.
    """
    from dataoptim.errors import ConfigError
    from dataoptim.io import same_file

    if not output.is_dir():
        return
    for label, given in inputs.items():
        for path in given if isinstance(given, (list, tuple)) else [given]:
            if path is None or not Path(path).is_file():
                continue
            path = Path(path).expanduser().resolve()  # a link is the file it points to
            if same_file(path.parent, output) and (path.name in names or path.suffix in suffixes):
                raise ConfigError(f"lies in the output folder {output} under a name this command writes there: it would be overwritten; "
                                  "write to another folder", file=path, field=label)


def _task_map(pairs: Optional[List[str]]) -> dict[str, str] | None:
    from dataoptim.errors import ConfigError

    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, task = pair.partition("=")
        if not sep or not name or not task:
            raise ConfigError(f"--task-map takes NAME=TASK, found {pair!r}")
        out[name] = task
    return out


def _read_options(fmt: str, task: Optional[str], answers: Optional[List[Path]], task_map: Optional[List[str]]) -> dict:
    options: dict = {"format": fmt}
    if task is not None:
        options["task"] = task
    if answers:
        options["answers"] = [str(a) for a in answers]
    mapping = _task_map(task_map)
    if mapping:
        options["task_map"] = mapping
    return options


def _show(scores: dict, title: str) -> None:
    import typer
    from rich.console import Console

    from dataoptim.evaluate.scoring import scores_table

    Console(stderr=True).print(scores_table(scores, title=title))
    typer.echo(json.dumps(scores, indent=2))


def register(app) -> None:
    """Add ``score``, ``evaluate`` and ``compare`` to the ``dataoptim`` Typer app."""
    import typer

    fmt_help = "Benchmark format: auto, canonical, dataoptim, llava, records."
    task_help = "Task of a LLaVA question file (vqa, textvqa, gqa, mc, aokvqa, caption, grounding, pope, mme); default from its name."
    answers_help = ("Answer/annotation file(s) for a LLaVA question file, or GQA question file(s) (short answers) "
                    "for the GQA records of a records benchmark (repeatable).")
    map_help = "NAME=TASK: the task of a DataOptim prefix or LLaVA file name (repeatable)."
    cider_help = "CIDEr tokenisation: ptb (official, pycocoevalcap's Java PTBTokenizer) or simple (no Java; not official)."
    lenient_help = "Friendlier answer readings (B., (B), 1e-1 boxes, any-case yes/no...): NOT official; labelled so in scores.json."
    rule_help = "Grounding rule: lmms-eval (refcoco REC, default) or shikra (exactly one box, IoU > 0.5)."

    @app.command("score")
    def score_command(
        predictions: Path = typer.Option(..., "--predictions", "-p", help="LLaVA answer file (JSONL: question_id, text), or a folder of MME-layout <task>.txt result files (scored alone)."),
        benchmark: Optional[Path] = typer.Option(None, "--benchmark", "-b", help="Benchmark file (or Arrow folder of records); not with a results folder."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write {task}.tsv, per_question.jsonl and scores.json here."),
        fmt: str = typer.Option("auto", "--format", help=fmt_help),
        task: Optional[str] = typer.Option(None, "--task", help=task_help),
        answers: Optional[List[Path]] = typer.Option(None, "--answers", help=answers_help),
        task_map: Optional[List[str]] = typer.Option(None, "--task-map", help=map_help),
        allow_missing: bool = typer.Option(False, "--allow-missing", help="Score questions without a prediction as wrong (no credit)."),
        cider_tokenizer: str = typer.Option("ptb", "--cider-tokenizer", help=cider_help),
        lenient: bool = typer.Option(False, "--lenient", help=lenient_help),
        grounding_rule: str = typer.Option("lmms-eval", "--grounding-rule", help=rule_help),
    ) -> None:
        """Score saved predictions against a benchmark, or a folder of <task>.txt result files alone (no model); print scores.json."""
        from dataoptim.errors import ConfigError
        from dataoptim.evaluate.benchmark import read_benchmark, with_notes
        from dataoptim.evaluate.scoring import (_require_references, check_options, read_predictions, read_results_dir, require_captions_extra,
                                                score_items, write_results)

        check_options(tokenizer=cider_tokenizer, grounding_rule=grounding_rule)
        if output is not None:
            check_output_dir(output)  # before any scoring: a file in the way is said now, not after the work
            _refuse_inputs_in_output(output, {"--predictions": predictions, "--benchmark": benchmark, "--answers": answers},
                                     ("per_question.jsonl", "scores.json"), (".tsv",))
        if predictions.is_dir():
            if benchmark is not None:
                raise ConfigError("a folder of <task>.txt result files carries its own references; drop --benchmark", file=predictions)
            items, preds = read_results_dir(predictions, task_map=_task_map(task_map))
        else:
            if benchmark is None:
                raise ConfigError("--benchmark is needed with a predictions file (only a folder of <task>.txt result files is scored alone)")
            preds = read_predictions(predictions)
            items, notes = with_notes(read_benchmark, benchmark, **_read_options(fmt, task, answers, task_map))
            for note in notes:
                typer.echo(f"note: {note}", err=True)
            _require_references(items, str(benchmark), answers_given=bool(answers), fmt=None if fmt == "auto" else fmt)
        require_captions_extra(items)  # pycocoevalcap for CIDEr: one line naming the extra, before any scoring
        scores, rows = score_items(items, preds, tokenizer=cider_tokenizer, lenient=lenient, grounding_rule=grounding_rule,
                                   allow_missing=allow_missing, predictions_file=str(predictions),
                                   benchmark_file=None if benchmark is None else str(benchmark))
        if output is not None:
            write_results(output, scores, rows)
        _show(scores, f"scores: {predictions.name}")

    @app.command("evaluate")
    def evaluate_command(
        model: str = typer.Option(..., "--model", "-m", help="Checkpoint folder or hub id (llava-hf layout), or 'tiny'."),
        benchmark: Path = typer.Option(..., "--benchmark", "-b", help="Benchmark file (or Arrow folder of records)."),
        image_dir: Optional[Path] = typer.Option(None, "--image-dir", "-i", help="Folder the benchmark's image paths are relative to."),
        allow_symlinks_out: bool = typer.Option(False, "--allow-symlinks-out", help=ALLOW_HELP),
        output: Path = typer.Option(..., "--output", "-o", help="Output folder (predictions, results, MME-layout <task>.txt files, scores, run info)."),
        batch_size: int = typer.Option(8, "--batch-size", help="Questions per model call."),
        max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Answer budget for every task (default: the protocol's, per task)."),
        dtype: Optional[str] = typer.Option(None, "--dtype", help="bfloat16, float16 or float32 (default: the checkpoint's)."),
        device: Optional[str] = typer.Option(None, "--device", help="cuda, cpu, ... (default: cuda if available)."),
        protocol: str = typer.Option("default", "--protocol", help="How questions are asked: default (greedy, the checkpoint's own "
                                     "image processing), dataoptim (DataOptim's run_llava_eval.py: no padding, T=0.2, 1024 tokens) "
                                     "or llava (LLaVA's per-benchmark eval scripts). Recorded in scores.json."),
        temperature: Optional[float] = typer.Option(None, "--temperature", help="0 = greedy; > 0 samples (default: the protocol's)."),
        top_p: Optional[float] = typer.Option(None, "--top-p", help="Nucleus sampling mass when sampling (default: the checkpoint's generation config)."),
        seed: int = typer.Option(0, "--seed", help="Seed of sampled questions (each seeded from it and its id); recorded."),
        image_aspect_ratio: Optional[str] = typer.Option(None, "--image-aspect-ratio", help="pad (to a square, CLIP mean colour) or square "
                                                         "(resize and centre crop); default: the protocol's, else the checkpoint's training."),
        image_position: Optional[str] = typer.Option(None, "--image-position", help="front (<image> moved to the front, as LLaVA trains) "
                                                     "or inline; default: the protocol's, else the checkpoint's training."),
        backend: str = typer.Option("hf", "--backend", help="hf (transformers LLaVA) or llava (LLaVA's own code, if installed)."),
        fmt: str = typer.Option("auto", "--format", help=fmt_help),
        task: Optional[str] = typer.Option(None, "--task", help=task_help),
        answers: Optional[List[Path]] = typer.Option(None, "--answers", help=answers_help),
        task_map: Optional[List[str]] = typer.Option(None, "--task-map", help=map_help),
        cider_tokenizer: str = typer.Option("ptb", "--cider-tokenizer", help=cider_help),
        lenient: bool = typer.Option(False, "--lenient", help=lenient_help),
        grounding_rule: str = typer.Option("lmms-eval", "--grounding-rule", help=rule_help),
    ) -> None:
        """Answer a benchmark with a model (greedy and batched by default; see --protocol) and score the answers."""
        from dataoptim.extras import require_extra

        require_extra("train", "dataoptim evaluate")  # before the benchmark is read or the model loaded
        _refuse_inputs_in_output(output, {"--benchmark": benchmark, "--answers": answers},
                                 ("predictions.jsonl", "benchmark.jsonl", "run.json", "per_question.jsonl", "scores.json"), (".tsv", ".txt"))
        from dataoptim.modelref import check_model_ref

        check_model_ref(model, option="--model", probe=backend == "hf")  # a mistyped folder: at once, no network
        from dataoptim.evaluate.runner import evaluate

        if device is None and backend == "hf":
            import torch

            device = "cuda" if torch.cuda.is_available() else None
        result = evaluate(model, benchmark, image_dir, output, batch_size=batch_size, max_new_tokens=max_new_tokens,
                          tokenizer=cider_tokenizer, lenient=lenient, grounding_rule=grounding_rule, dtype=dtype, device=device,
                          temperature=temperature, seed=seed,
                          backend=backend, progress=sys.stderr.isatty(), allow_symlinks_out=allow_symlinks_out,
                          protocol=protocol, top_p=top_p, image_aspect_ratio=image_aspect_ratio, image_position=image_position,
                          **_read_options(fmt, task, answers, task_map))
        for note in result["notes"]:
            typer.echo(f"note: {note}", err=True)
        from dataoptim.words import count

        typer.echo(f"{count(len(result['predictions']), 'answer')} in {result['seconds']:.1f} s "
                   f"({result['questions_per_second']:.2f} questions/s); written to {output}", err=True)
        _show(result["scores"], f"scores: {model}")

    @app.command("compare")
    def compare_command(
        runs: List[Path] = typer.Argument(..., help="Run folders holding scores.json (or scores.json files), two or more."),
        output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write comparison.md, comparison.json and the bar plot comparison.png here (without it no plot is drawn)."),
        name: Optional[List[str]] = typer.Option(None, "--name", help="Display name per run, in order (repeatable)."),
    ) -> None:
        """Compare evaluation runs: print a markdown table ranked per task. The bar plot is written only with --output."""
        from dataoptim.evaluate.report import compare, comparison_markdown, write_comparison

        if output is not None:
            check_output_dir(output)
        result = compare(runs, names=name or None)
        if output is not None:
            write_comparison(result, output)
        typer.echo(comparison_markdown(result))
