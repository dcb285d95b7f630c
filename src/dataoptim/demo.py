"""``dataoptim demo``: the whole job on the small real samples shipped with the package (issue 7).

Stages, each printing what it did and where its files are:

1. **build** every source config from its original-layout sample
   (``dataoptim/data/samples/original/<source>/``) with the ``datasets`` builders;
2. **pool**: the builders' train records, with DataOptim's 17 official example
   records in place of any built record of the same id, written in DataOptim's
   converted layout and built into a pool;
3. **select** the official standard submission (``example-standard.txt``) and
   a seeded mixture; export LLaVA JSON, the id list, a summary and a composition plot;
4. **validate** the official BYOD submission (``example-byod.json``) against stand-in images;
5. **train** a tiny random LLaVA for a few steps on the mixture (``hf`` backend);
6. **evaluate** it on held-out records (validation splits the builders made);
7. **report**: ``report.md`` with counts, selection, loss, scores and the plot.

The source images cannot be shipped: every image path is served by a labelled
stand-in (:mod:`dataoptim.samples`), so the scores measure the pipeline, not a model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dataoptim import catalog
from dataoptim.samples import make_stand_in_images, samples_dir

#: Sample folder of each config (ref3rec and ref3reg read the same Shikra file).
SAMPLE_FOLDERS = {name: ("ref3" if name in ("ref3rec", "ref3reg") else name) for name in catalog.SOURCES}
#: Mixture drawn in the demo: weights by task, under :data:`MIX_BUDGET` records.
MIX_RATIOS = {"caption": 0.3, "vqa": 0.3, "mcvqa": 0.05, "rec": 0.1, "reg": 0.1, "instruct": 0.15}
MIX_BUDGET = 40
#: Held-out splits evaluated, as (config, split, at most n records).
HELD_OUT = [("textvqa", "validation", 5), ("vqav2", "validation", 10), ("gqa", "testdev", 8), ("aokvqa", "validation", 2), ("coco", "validation", 12)]

#: What each held-out score is, with one reference per question (the held-out records have one answer each):
#: named for that, not for the benchmark metric of the same key (VQAv2's accuracy uses 10 answers, COCO's CIDEr 5).
HELD_OUT_METRICS = {
    ("vqa", "accuracy"): "held-out VQA exact match (1 reference; not VQAv2's 10-answer VQA accuracy)",
    ("textvqa", "accuracy"): "held-out TextVQA exact match (1 reference; not TextVQA's 10-answer accuracy)",
    ("aokvqa", "accuracy"): "held-out A-OKVQA multiple-choice accuracy (the option letter)",
    ("caption", "cider"): "held-out CIDEr-D against 1 reference caption (COCO's has 5: not comparable with published CIDEr)",
    ("gqa", "accuracy"): "held-out GQA exact match (1 answer, as GQA's own accuracy)",
    ("mc", "accuracy"): "held-out multiple-choice accuracy (the option letter)",
}


def gqa_answer_files() -> list[Path]:
    """GQA question files of the shipped sample's held-out splits: the short answers GQA's exact match scores (:data:`HELD_OUT`)."""
    folder = samples_dir() / "original" / "gqa"
    names = {"validation": "val_balanced_questions.json", "testdev": "testdev_balanced_questions.json"}
    return [folder / names[split] for config, split, _ in HELD_OUT if config == "gqa" and (folder / names[split]).is_file()]


def held_out_label(task: str, metric: str) -> str:
    """The name of a held-out score (``scores[task][metric]``) that says what it measures (:data:`HELD_OUT_METRICS`)."""
    return HELD_OUT_METRICS.get((task, metric), f"held-out {task} {metric} (1 reference per question)")


@dataclass
class DemoResult:
    """What the demo made.

    Attributes:
        output: the output folder.
        counts: config -> split -> records built from the samples.
        pool_size: records in the pool.
        standard_ids: ids selected by the official standard submission, in file order.
        mixture: source -> records in the mixture.
        byod_records: records of the official BYOD submission that passed validation.
        losses: training loss per logged step.
        scores: task -> metric -> value on the held-out records.
        seconds: stage -> wall time.
    """

    output: Path
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    pool_size: int = 0
    standard_ids: list[str] = field(default_factory=list)
    mixture: dict[str, int] = field(default_factory=dict)
    byod_records: int = 0
    losses: list[float] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_demo(output: str | os.PathLike = "demo-output", *, train_steps: int = 6, say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole job on the shipped samples and write everything under ``output``.

    Args:
        output: folder for every file the demo writes (created; reused files are rewritten).
        train_steps: optimiser steps of the tiny model (≥ 1).
        say: where progress lines go.

    Returns:
        A :class:`DemoResult`.

    Raises:
        MissingExtraError: the ``train`` or ``eval`` extra is not installed (checked first).
        dataoptim.errors.DataOptimError: a stage met bad input (should not happen on the shipped samples).
    """
    from dataoptim.extras import require_extra

    require_extra("train", "the demo (it trains and evaluates a tiny model)")  # before five stages of work
    require_extra("eval", "the demo (it scores captions with CIDEr)")
    import datasets

    datasets.disable_progress_bars()
    from dataoptim.io import make_output_dir

    out = make_output_dir(Path(output).resolve())
    result = DemoResult(out)
    images = out / "images"
    clock = _Clock(result)

    # 1. build and 2. pool ------------------------------------------------------------------------
    with clock("build"):
        samples = build_sample_pool(out, cache_dir=out / "cache")
    built, pool = samples.built, samples.pool
    result.counts = {name: {split: ds[split].num_rows for split in ds} for name, ds in built.items()}
    result.pool_size = len(pool)
    say(_counts_table(result.counts))
    say(f"[build] {sum(sum(c.values()) for c in result.counts.values())} records from the shipped samples of {len(built)} sources")
    say(
        f"[pool] {len(pool)} records ({samples.examples} official DataOptim examples, {samples.replaced} of them in place of a "
        f"built record of the same id) -> {out / 'pool'} ({result.seconds['build']:.1f} s with the build)"
    )

    # stand-in images for everything the demo will read
    held_out = [r for config, split, n in HELD_OUT if split in built[config] for r in built[config][split].select(range(min(n, built[config][split].num_rows)))]
    make_stand_in_images(pool.all().head(len(pool)), images)
    make_stand_in_images(held_out, images)

    # 3. select --------------------------------------------------------------------------------
    with clock("select"):
        standard = pool.by_ids(samples_dir() / "examples" / "example-standard.txt")
        standard.to_llava_json(out / "selection-standard.json")
        result.standard_ids = standard.ids()
        mixture = pool.mix(MIX_RATIOS, budget=MIX_BUDGET, seed=0, by="task")
        summary = mixture.to_llava_json(out / "train.json", image_folder=images)
        mixture.write_ids(out / "train-ids.txt")
        summary.write_json(out / "summary.json")
        summary.plot(out / "composition.png", title="Demo mixture by source")
        result.mixture = mixture.source_counts()
    say(f"[select] standard submission: {len(result.standard_ids)} records -> {out / 'selection-standard.json'}")
    say(f"[select] mixture {MIX_RATIOS} under a budget of {MIX_BUDGET}: {len(mixture)} records -> {out / 'train.json'}, plot {out / 'composition.png'}")

    # 4. validate BYOD ---------------------------------------------------------------------------
    from dataoptim.select import validate_byod

    with clock("validate"):
        byod = validate_byod(samples_dir() / "examples" / "example-byod.json", image_folder=images, pool=pool)
        result.byod_records = byod.records
    say(f"[validate] official BYOD submission: {byod.records} records valid, images present")

    # 5. train ---------------------------------------------------------------------------------
    from dataoptim.train import train

    with clock("train"):
        run = train(out / "train.json", images, out / "checkpoint", backend="hf", model="tiny", max_steps=train_steps,
                    per_device_train_batch_size=4, logging_steps=1, save_strategy="no", dataloader_num_workers=0,
                    disable_tqdm=True, cache_dir=out / "cache")
        result.losses = run.losses
    say(f"[train] tiny LLaVA, {train_steps} steps, loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} -> {run.output_dir}")

    # 6. evaluate ------------------------------------------------------------------------------
    from dataoptim.evaluate import evaluate
    from dataoptim.evaluate.tasks.shared import java_available

    # CIDEr's official tokenizer runs in Java; without it the demo says so and uses the simple one (recorded in scores.json)
    tokenizer = "ptb" if java_available() else "simple"
    if tokenizer == "simple":
        say("[evaluate] no Java on PATH: captions scored with --cider-tokenizer simple (not official)")
    with clock("evaluate"):
        # GQA's exact match scores its short answers (the records hold fullAnswer): from the sample's question file
        report = evaluate(run.output_dir, held_out, images, out / "eval", batch_size=8, max_new_tokens=12, tokenizer=tokenizer,
                          answers=gqa_answer_files())
        result.scores = report["scores"]
    say(f"[evaluate] {len(held_out)} held-out questions, 1 reference each (exact match, 1-reference CIDEr-D: see report.md) -> {out / 'eval'}")

    # 7. report --------------------------------------------------------------------------------
    _write_report(result, summary)
    say(f"[report] {out / 'report.md'}")
    return result


@dataclass
class SamplePool:
    """The shipped samples, built and pooled (see :func:`build_sample_pool`).

    Attributes:
        built: config -> ``datasets.DatasetDict`` built from ``samples/original/<folder>``.
        pool: the :class:`dataoptim.select.Pool` of the train records and the official examples.
        examples: number of official example records in the pool.
        replaced: built records whose id an official example took over.
    """

    built: dict[str, Any]
    pool: Any
    examples: int
    replaced: int


def build_sample_pool(output: str | os.PathLike, *, cache_dir: str | os.PathLike | None = None) -> SamplePool:
    """Build all 21 sources from the shipped samples and pool their train records.

    The train records are written in DataOptim's converted layout
    (``<output>/data/<source>.json``) with DataOptim's official example records
    (``example-byod.json``) in place of any built record of the same id — the
    built ones use this library's prompt pick, the examples DataOptim's — and
    built into a pool at ``<output>/pool``.

    Raises:
        dataoptim.errors.DataOptimError: what the builders or the pool raise.
    """
    from dataoptim.builder import build_source
    from dataoptim.records import to_llava
    from dataoptim.select import Pool, build_pool

    out = Path(output)
    examples = json.loads((samples_dir() / "examples" / "example-byod.json").read_text(encoding="utf-8"))
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Any] = {}
    replaced = 0
    for name in catalog.SOURCES:
        ds = build_source(name, samples_dir() / "original" / SAMPLE_FOLDERS[name], cache_dir=None if cache_dir is None else str(cache_dir))
        built[name] = ds
        official = [r for r in examples if catalog.source_of(r["id"]).name == name]
        official_ids = {r["id"] for r in official}
        train = [to_llava(r) for r in ds["train"]] if "train" in ds else []
        replaced += sum(r["id"] in official_ids for r in train)
        records = [r for r in train if r["id"] not in official_ids] + official
        (data_dir / f"{name}.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    build_pool(data_dir, out / "pool", progress=False)
    return SamplePool(built, Pool.open(out / "pool"), len(examples), replaced)


class _Clock:
    def __init__(self, result: DemoResult):
        self.result = result

    def __call__(self, stage: str):
        clock = self

        class _Timer:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, *exc):
                clock.result.seconds[stage] = time.perf_counter() - self.start
                return False

        return _Timer()


def _counts_table(counts: dict[str, dict[str, int]]) -> str:
    order = ["train", "validation", "test", "testdev"]
    splits = sorted({s for c in counts.values() for s in c}, key=lambda s: (order.index(s) if s in order else len(order), s))
    lines = ["| source | " + " | ".join(splits) + " |", "|---|" + "---:|" * len(splits)]
    lines += [f"| {name} | " + " | ".join(str(c.get(s, "")) for s in splits) + " |" for name, c in counts.items()]
    return "\n".join(lines)


def _write_report(result: DemoResult, summary) -> None:
    from dataoptim.io import atomic_write

    scores = "\n".join(
        f"| {task} | {m.get('n', '')} | {held_out_label(task, metric)} | {value:.4f} |"
        for task, m in result.scores.items()
        for metric, value in m.items()
        if metric != "n" and isinstance(value, (int, float)) and not isinstance(value, bool)  # not scorer, options, categories
    )
    text = f"""# dataoptim demo report

All inputs are the small real samples shipped with dataoptim; images are labelled
stand-ins, so scores test the pipeline, not a model.

## Sources built from their original files

{_counts_table(result.counts)}

## Pool and selections

- pool: {result.pool_size} records (`pool/`)
- standard submission (`example-standard.txt`): {len(result.standard_ids)} records (`selection-standard.json`)
- mixture {MIX_RATIOS}, budget {MIX_BUDGET}, seed 0: {sum(result.mixture.values())} records (`train.json`, ids in `train-ids.txt`)
  by source: {", ".join(f"{k} {v}" for k, v in result.mixture.items())}
- BYOD submission (`example-byod.json`): {result.byod_records} records valid

![composition](composition.png)

## Training (tiny random LLaVA, `hf` backend)

loss per step: {", ".join(f"{x:.3f}" for x in result.losses)}

## Held-out evaluation

| task | questions | score (one reference per question) | value |
|---|---:|---|---:|
{scores}

## Time (s)

{", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())}
"""
    with atomic_write(result.output / "report.md") as handle:
        handle.write(text)


def register(app) -> None:
    """Add ``dataoptim demo`` to the CLI."""
    import typer

    @app.command("demo")
    def demo_command(
        output: Path = typer.Option(Path("demo-output"), "--output", "-o", help="Folder for everything the demo writes."),
        train_steps: int = typer.Option(6, "--train-steps", min=1, help="Optimiser steps of the tiny model."),
    ) -> None:
        """Run the whole job on the shipped samples: build, pool, select, validate, train, evaluate, report."""
        run_demo(output, train_steps=train_steps, say=typer.echo)
