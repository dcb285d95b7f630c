"""Evaluate a model on a benchmark end to end: read, generate, score, write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from dataoptim.evaluate.benchmark import has_reference, read_benchmark, with_notes, write_benchmark
from dataoptim.evaluate.generate import check_images, generate_answers, make_generator
from dataoptim.evaluate.scoring import check_options, require_captions_extra, score_items, write_results
from dataoptim.io import atomic_write, check_output_dir, write_json


def checkpoint_settings(model: Any, backend: str = "hf") -> tuple[dict[str, Any] | None, str, str | None]:
    """What the model was trained with, where that came from, and a one-line note when it is unknown.

    Returns:
        ``(settings, source, note)``: ``settings`` is the checkpoint's ``trained_with.json``
        (:func:`dataoptim.train.trained_with.read_trained_with`) or None; ``note`` is set for a
        checkpoint folder or hub id that records none (evaluated as earlier releases did).

    Raises:
        InputError: a ``trained_with.json`` that cannot be read.
    """
    from dataoptim.evaluate.protocol import LEGACY
    from dataoptim.train.trained_with import FILENAME, read_trained_with

    legacy = f"{LEGACY['image_aspect_ratio']}, <image> {LEGACY['image_position']}"
    if not isinstance(model, (str, Path)) or str(model) == "tiny":
        return None, f"none (not a checkpoint folder): defaults of earlier releases ({legacy})", None
    if backend == "llava":
        return None, "the LLaVA checkpoint's config.json (image_aspect_ratio); <image> front, as LLaVA trains", None
    found = read_trained_with(model) if Path(model).is_dir() else None
    if found is not None:
        return found, str(Path(model) / FILENAME), None
    aspect = _config_aspect_ratio(Path(model))
    if aspect is not None:  # LLaVA's way, which train --backend hf also followed before trained_with.json
        note = (f"{model} records its image_aspect_ratio ({aspect}, config.json) but not where <image> went in training "
                f"({FILENAME}): <image> kept {LEGACY['image_position']} as earlier releases did; set --image-position to match its training")
        settings = {"image_position": LEGACY["image_position"], "image_aspect_ratio": aspect}
        return settings, f"config.json image_aspect_ratio; <image> {LEGACY['image_position']} (earlier releases)", note
    note = (f"{model} records no training settings ({FILENAME}): evaluating as earlier releases did "
            f"(images {LEGACY['image_aspect_ratio']}ded, <image> kept {LEGACY['image_position']}); "
            "set --image-aspect-ratio / --image-position to match its training")
    return None, f"none in the checkpoint: defaults of earlier releases ({legacy})", note


def _config_aspect_ratio(folder: Path) -> str | None:
    """``image_aspect_ratio`` (``pad``/``square``) of a checkpoint's ``config.json``, as LLaVA records it; None if absent or unreadable."""
    try:
        value = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("image_aspect_ratio")
    except (OSError, ValueError, AttributeError):
        return None
    return value if value in ("pad", "square") else None


def _model_id(model: Any) -> str:
    if isinstance(model, (str, Path)):
        return str(model)
    if isinstance(model, tuple) and model:
        return getattr(model[0], "name_or_path", "") or type(model[0]).__name__
    return getattr(model, "__name__", type(model).__name__)


def evaluate(model: Any, benchmark: Any, image_dir: str | Path | None, output_dir: str | Path | None = None, *,
             batch_size: int = 8, max_new_tokens: int | Mapping[str, int] | None = None, tokenizer: str = "ptb",
             lenient: bool = False, grounding_rule: str = "lmms-eval",
             dtype: str | None = None, device: str | None = None, temperature: float | None = None, seed: int = 0,
             backend: str = "hf", progress: bool = False, allow_symlinks_out: bool = False, protocol: str = "default",
             image_aspect_ratio: str | None = None, image_position: str | None = None, top_p: float | None = None,
             **read_options: Any) -> dict[str, Any]:
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
            for the questions with references, header-less ``<name>.txt`` files in MME's
            layout (:mod:`~dataoptim.evaluate.result_txt`: MME's subtasks, or every prefix of
            a DataOptim validation file), ``scores.json`` (with the generation protocol under
            ``"protocol"``), and ``run.json`` (settings and timing). Every file is written
            atomically, and only after all answers exist.
        batch_size: questions per model call (sampled questions go one at a time).
        max_new_tokens: one number or ``{task: n}`` (default: the protocol's).
        tokenizer: CIDEr tokenisation (``"ptb"``, official, needs Java when captions are scored; ``"simple"``, not official).
        lenient, grounding_rule: scoring options (:func:`~dataoptim.evaluate.scoring.score_items`).
        dtype, device: for loading a checkpoint (the ``dataoptim`` and ``llava`` protocols load a checkpoint
            on CUDA in ``float16`` unless told otherwise, as their scripts do).
        temperature: None: the protocol's (0 = greedy; ``dataoptim``: 0.2); > 0 samples.
        seed: the run's seed; each sampled question is seeded from it and its id
            (:func:`~dataoptim.evaluate.protocol.question_seed`). Recorded.
        backend: ``"hf"`` (``transformers``) or ``"llava"`` (LLaVA's own code, when installed).
        progress: show a progress bar.
        allow_symlinks_out: follow links that lead out of ``image_dir`` instead of refusing them
            (:mod:`dataoptim.imagepath`).
        protocol: ``"default"``, ``"dataoptim"`` or ``"llava"`` (:mod:`dataoptim.evaluate.protocol`).
        image_aspect_ratio, image_position, top_p: override the protocol and the checkpoint's
            ``trained_with.json`` (``pad``/``square``, ``front``/``inline``).
        read_options: ``format``, ``task``, ``answers``, ``task_map``, ``tasks`` for ``read_benchmark``.

    Returns:
        ``{"scores": {task: {metric: value, "n": count}}, "predictions": {question_id: text},
        "protocol": {...}, "notes": [str], "seconds": float, "questions_per_second": float}``;
        ``scores`` is empty when no question has a reference.

    Raises:
        MissingFileError, InputError, ConfigError, RecordError, ModelInputError, UnsafeInputError:
            bad benchmark, images or options (before anything is written).
    """
    from dataoptim.evaluate.benchmark import detect_format
    from dataoptim.evaluate.protocol import protocol_record, resolve
    from dataoptim.evaluate.result_txt import result_groups, write_result_txt

    overrides = {"image_position": image_position, "image_aspect_ratio": image_aspect_ratio, "temperature": temperature,
                 "top_p": top_p, "seed": seed}
    # options first: a bad one is refused before the benchmark is read or the model loaded
    if output_dir is not None:
        check_output_dir(output_dir)
    resolve(protocol, [], max_new_tokens=max_new_tokens, **overrides)
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule)
    trained, source, note = checkpoint_settings(model, backend)
    items, read_notes = with_notes(read_benchmark, benchmark, **read_options)  # e.g. POPE label lines past the last question
    require_captions_extra(items)  # CIDEr's pycocoevalcap: said now, not after every answer is generated
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule, items=[i for i in items if has_reference(i)])  # Java for captions
    bench_file = str(benchmark) if isinstance(benchmark, (str, Path)) else None
    fmt = read_options.get("format", "auto")
    if fmt == "auto" and bench_file is not None and Path(bench_file).is_file():
        fmt = detect_format(bench_file)
    check_images(items, image_dir, file=bench_file, allow_symlinks_out=allow_symlinks_out)  # before the (slow) model load
    settings = resolve(protocol, [item["task"] for item in items], trained, max_new_tokens=max_new_tokens, **overrides)
    if dtype is None and protocol != "default" and str(device or "").startswith("cuda") and isinstance(model, (str, Path)):
        dtype = "float16"  # both reference scripts load through LLaVA's load_pretrained_model (float16) and cast images .half()
    generator = make_generator(model, dtype=dtype, device=device, backend=backend)
    if trained is None and getattr(generator, "trained_with", None):  # LLaVA's own checkpoint: its config.json
        trained = generator.trained_with
        settings = resolve(protocol, [item["task"] for item in items], trained, max_new_tokens=max_new_tokens, **overrides)
    # the dataoptim protocol fixes its own image settings; so do both options when given
    told = image_position is not None and (image_aspect_ratio is not None or trained is not None)
    notes = read_notes + ([note] if note and protocol != "dataoptim" and not told else [])
    takes = bool(getattr(generator, "takes_settings", False))
    name = type(generator).__name__ if takes else getattr(generator, "__name__", type(generator).__name__)
    if not takes:
        notes.append(f"the generator {name} takes no protocol settings: only prompt suffixes, budgets and answer clean-up apply")
    if protocol == "dataoptim":
        source += " (not used: the protocol fixes its own image settings)"
    record = protocol_record(protocol, settings, seed=seed, source=source, overrides={**overrides, "max_new_tokens": max_new_tokens},
                             dtype=dtype, batch_size=batch_size, generator=name)
    if hasattr(generator, "decoding"):
        for task, s in settings.items():
            if s.sample:
                record["tasks"][task].update(generator.decoding(s))
    predictions, timing = generate_answers(generator, items, image_dir, batch_size=batch_size, file=bench_file,
                                           progress=progress, allow_symlinks_out=allow_symlinks_out, settings=settings)
    scored = [item for item in items if has_reference(item)]
    scores, rows = score_items(scored, {item["question_id"]: predictions[item["question_id"]] for item in scored},
                               tokenizer=tokenizer, lenient=lenient, grounding_rule=grounding_rule) if scored else ({}, {})
    groups, skipped = result_groups(items, predictions, dataoptim_layout=fmt == "dataoptim")
    if skipped:
        notes.append(f"no .txt result file for group(s) {', '.join(map(repr, skipped))}: not plain file names")
    if output_dir is not None:
        out = Path(output_dir)
        model_id = _model_id(model)
        with atomic_write(out / "predictions.jsonl") as handle:
            for item in items:
                handle.write(json.dumps({"question_id": item["question_id"], "prompt": item["text"],
                                         "text": predictions[item["question_id"]], "model_id": model_id},
                                        ensure_ascii=False) + "\n")
        write_benchmark(items, out / "benchmark.jsonl")
        write_result_txt(out, groups)
        sampled = sorted({t for t, s in settings.items() if s.sample})
        write_json(out / "run.json", {
            "model": model_id, "backend": backend, "benchmark": bench_file, "image_dir": None if image_dir is None else str(image_dir),
            "questions": len(items), "scored": len(scored), "batch_size": batch_size,
            "max_new_tokens": {t: s.max_new_tokens for t, s in settings.items()},
            "decoding": "greedy" if not sampled else f"sampling ({', '.join(sampled)}) seed={seed}",
            "protocol": record, "notes": notes, "txt_files": sorted(f"{name}.txt" for name in groups),
            "cider_tokenizer": tokenizer, "lenient": lenient, "grounding_rule": grounding_rule, **timing,
        }, indent=2)
        write_results(out, {**scores, "protocol": record}, rows)  # scores.json last (only the protocol when nothing was scored)
    return {"scores": scores, "predictions": predictions, "protocol": record, "notes": notes, **timing}
