"""Evaluate a model on a benchmark end to end: read, generate, score, write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from dataoptim.evaluate.benchmark import has_reference, read_benchmark, write_benchmark
from dataoptim.evaluate.generate import answer_budgets, check_images, generate_answers, make_generator
from dataoptim.evaluate.scoring import check_options, require_captions_extra, score_items, write_results
from dataoptim.io import atomic_write, write_json


def evaluate(model: Any, benchmark: Any, image_dir: str | Path | None, output_dir: str | Path | None = None, *,
             batch_size: int = 8, max_new_tokens: int | Mapping[str, int] | None = None, tokenizer: str = "ptb",
             lenient: bool = False, grounding_rule: str = "lmms-eval",
             dtype: str | None = None, device: str | None = None, temperature: float = 0.0, seed: int = 0,
             backend: str = "hf", progress: bool = False, allow_symlinks_out: bool = False, **read_options: Any) -> dict[str, Any]:
    """Answer a benchmark with a model and score the answers.

    Args:
        model: a checkpoint path or hub id (llava-hf layout), ``"tiny"``, a
            ``(model, tokenizer, image_processor)`` tuple, or a generator callable
            (:class:`~dataoptim.evaluate.generate.Generator`).
        benchmark: anything :func:`~dataoptim.evaluate.benchmark.read_benchmark` reads.
        image_dir: folder the benchmark's ``image`` paths are relative to (None if no images).
        output_dir: where to write; None writes nothing. Files:
            ``predictions.jsonl`` (LLaVA answer format: ``question_id``, ``prompt``, ``text``,
            ``model_id``), ``benchmark.jsonl`` (the canonical questions used), ``{task}.tsv``
            for the questions with references, ``scores.json``, and ``run.json``
            (settings and timing). Every file is written atomically, and only after
            all answers exist.
        batch_size: questions per model call.
        max_new_tokens: one number or ``{task: n}`` (defaults: :data:`~dataoptim.evaluate.generate.MAX_NEW_TOKENS`).
        tokenizer: CIDEr tokenisation (``"ptb"``, official, needs Java when captions are scored; ``"simple"``, not official).
        lenient, grounding_rule: scoring options (:func:`~dataoptim.evaluate.scoring.score_items`).
        dtype, device: for loading a checkpoint.
        temperature, seed: 0 (default) is greedy; see :class:`~dataoptim.evaluate.generate.HFGenerator`.
        backend: ``"hf"`` (``transformers``) or ``"llava"`` (LLaVA's own code, when installed).
        progress: show a progress bar.
        allow_symlinks_out: follow links that lead out of ``image_dir`` instead of refusing them
            (:mod:`dataoptim.imagepath`).
        read_options: ``format``, ``task``, ``answers``, ``task_map``, ``tasks`` for ``read_benchmark``.

    Returns:
        ``{"scores": {task: {metric: value, "n": count}}, "predictions": {question_id: text},
        "seconds": float, "questions_per_second": float}``; ``scores`` is empty
        when no question has a reference.

    Raises:
        MissingFileError, InputError, ConfigError, RecordError, ModelInputError, UnsafeInputError:
            bad benchmark, images or options (before anything is written).
    """
    answer_budgets(max_new_tokens)  # options first: a bad one is refused before the benchmark is read or the model loaded
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule)
    items = read_benchmark(benchmark, **read_options)
    require_captions_extra(items)  # CIDEr's pycocoevalcap: said now, not after every answer is generated
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule, items=[i for i in items if has_reference(i)])  # Java for captions
    bench_file = str(benchmark) if isinstance(benchmark, (str, Path)) else None
    check_images(items, image_dir, file=bench_file, allow_symlinks_out=allow_symlinks_out)  # before the (slow) model load
    generator = make_generator(model, dtype=dtype, device=device, temperature=temperature, seed=seed, backend=backend)
    predictions, timing = generate_answers(generator, items, image_dir, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                           file=bench_file, progress=progress, allow_symlinks_out=allow_symlinks_out)
    scored = [item for item in items if has_reference(item)]
    scores, rows = score_items(scored, {item["question_id"]: predictions[item["question_id"]] for item in scored},
                               tokenizer=tokenizer, lenient=lenient, grounding_rule=grounding_rule) if scored else ({}, {})
    if output_dir is not None:
        out = Path(output_dir)
        if isinstance(model, (str, Path)):
            model_id = str(model)
        elif isinstance(model, tuple) and model:
            model_id = getattr(model[0], "name_or_path", "") or type(model[0]).__name__
        else:
            model_id = getattr(model, "__name__", type(model).__name__)
        with atomic_write(out / "predictions.jsonl") as handle:
            for item in items:
                handle.write(json.dumps({"question_id": item["question_id"], "prompt": item["text"],
                                         "text": predictions[item["question_id"]], "model_id": model_id},
                                        ensure_ascii=False) + "\n")
        write_benchmark(items, out / "benchmark.jsonl")
        write_json(out / "run.json", {
            "model": model_id, "backend": backend, "benchmark": bench_file, "image_dir": None if image_dir is None else str(image_dir),
            "questions": len(items), "scored": len(scored), "batch_size": batch_size,
            "max_new_tokens": max_new_tokens, "decoding": "greedy" if temperature == 0 else f"sampling T={temperature} seed={seed}",
            "cider_tokenizer": tokenizer, "lenient": lenient, "grounding_rule": grounding_rule, **timing,
        }, indent=2)
        write_results(out, scores, rows)  # scores.json last (``{}`` when nothing was scored)
    return {"scores": scores, "predictions": predictions, **timing}
