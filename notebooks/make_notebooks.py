"""Write the three notebooks of ``notebooks/`` (issue 7) from the cells below.

The notebooks are generated, not hand-edited: change a cell here and run

    python notebooks/make_notebooks.py

to rewrite ``01_explore_sources.ipynb``, ``02_choose_data.ipynb`` and
``03_train_and_evaluate.ipynb`` (nbformat v4, kernel ``python3``, no stored
outputs). ``tests/test_notebooks.py`` executes them top to bottom.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# Shared setup: every file a notebook writes goes under $DATAOPTIM_WORKDIR (default: the current folder).
SETUP = """\
import json
import os
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import datasets
import dataoptim
from dataoptim import catalog
from dataoptim.samples import samples_dir

datasets.disable_progress_bars()
WORK = Path(os.environ.get("DATAOPTIM_WORKDIR", ".")).resolve() / "notebook-output" / "{folder}"
WORK.mkdir(parents=True, exist_ok=True)
SAMPLES = samples_dir()
print("samples:", SAMPLES)
print("outputs:", WORK)"""

# Building the 21 sources and the pool from the samples, as `dataoptim demo` does.
BUILD_POOL = """\
from dataoptim.demo import build_sample_pool

# Builds the 21 sources from the samples, writes their train splits as DataOptim-layout
# <source>.json files with the 17 official example records in place of same-id built
# records, and builds a pool from them (see dataoptim.demo.build_sample_pool).
samples = build_sample_pool(WORK, cache_dir=WORK / "cache")
built, pool = samples.built, samples.pool
print(pool)
print("records per source:", pool.all().source_counts())
assert len(pool) == 92 and len(pool.sources) == 21"""


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


# ---------------------------------------------------------------------------------------------
# 01 explore the sources
# ---------------------------------------------------------------------------------------------
NB01 = [
    md("""
# 1. Explore the sources of the DataOptim pool

[DataOptim](https://github.com/BAAI-DCAI/DataOptim) asks: *which visual-instruction-tuning
data makes the best LLaVA?* Its challenge pool joins **14 sources** — captioning, VQA,
grounding and GPT-4-generated instruction data — into one collection of about 6.4M
**records**. A record is one training example in LLaVA's format: an `id`
(prefixed by its source, `gqa_05145757`), an `image` path relative to the image folder,
and a **conversation**, a list of alternating `human` / `gpt` turns whose first human turn
holds the `<image>` token. dataoptim adds two columns: `source` (the config name) and
`task` (`caption`, `vqa`, `mcvqa`, `rec`, `reg`, `dialogue`, `instruct`, `mixed`).
DataOptim's release later grew to 20 datasets, 21 sources here (10,970,768 records):
TextOCR-GPT4V, ScienceQA, Visual Genome QA, DocVQA, DVQA, ShareGPT-4V and LLaVA-v1.5's
mixture, which also holds **text-only** records (no `image`, no `<image>`).

This notebook uses only the small real samples shipped with the package: a few records of
each source in its **original** annotation layout (the files you would download). It builds
every source with the `datasets` builders, shows one record per source, and plots the
composition.
"""),
    code(SETUP.format(folder="01_explore_sources")),
    md("""
## The catalog

`dataoptim.catalog.SOURCES` is the table every part of the library consults: the config
name (also the id prefix), the dataset, its category and task, the number of records in
DataOptim's full release, and the image folder its records point into.
"""),
    code("""
from IPython.display import Markdown, display

rows = ["| source | dataset | category | task | records (full release) | image folder |", "|---|---|---|---|---:|---|"]
for s in catalog.SOURCES.values():
    rows.append(f"| `{s.name}` | {s.title} | {s.category} | {s.task} | {s.qas:,} | `{s.image_folder}/` |")
display(Markdown("\\n".join(rows)))
print(f"{len(catalog.SOURCES)} sources, {catalog.POOL_SIZE:,} records in the full pool")
assert len(catalog.SOURCES) == 21 and len(catalog.CHALLENGE_SOURCES) == 14  # 20 datasets: RefCOCO/+/g gives ref3rec and ref3reg
"""),
    md("""
Two sources read the same file: **ref3rec** (REC, *referring expression comprehension*:
given an expression such as "the girl on the left", answer with its box) and **ref3reg**
(REG, *referring expression generation*: given a box, describe the object) are both made
from Shikra's RefCOCO/RefCOCO+/RefCOCOg file. Boxes are written as `[x1, y1, x2, y2]`
normalised to [0, 1] by the image size.

## One source with `load_dataset`

Importing `dataoptim` registers a `"dataoptim"` builder with Hugging Face `datasets`; each
source is a config. `data_dir` is the folder holding the source's original annotation
files (here, GQA's `train_balanced_questions.json` and `testdev_balanced_questions.json`
samples). Nothing is downloaded.
"""),
    code("""
from datasets import load_dataset

gqa = load_dataset("dataoptim", "gqa", data_dir=str(SAMPLES / "original" / "gqa"), cache_dir=str(WORK / "cache"))
print(gqa)
record = gqa["train"][0]
print(json.dumps(record, indent=1, ensure_ascii=False))
assert set(gqa) == {"train", "testdev"} and gqa["train"].num_rows == 2
assert record["id"].startswith("gqa_") and record["source"] == "gqa" and record["task"] == "vqa"
assert record["conversations"][0]["value"].startswith("<image>")
"""),
    md("""
The **splits** follow each dataset's own: `train` is what goes into the DataOptim pool;
`validation`, `test` and `testdev` are held out (notebook 3 evaluates on them). The
columns `question_id`, `image_id`, `width` and `height` keep the link to the original
annotation.

## All 21 sources

`dataoptim.builder.build_source(config, data_dir)` is the same build without the hub
lookup. The table gives the records each split holds in the samples.
"""),
    code("""
from dataoptim.builder import build_source
from dataoptim.demo import SAMPLE_FOLDERS

built = {name: build_source(name, SAMPLES / "original" / SAMPLE_FOLDERS[name], cache_dir=str(WORK / "cache")) for name in catalog.SOURCES}
counts = {name: {split: ds[split].num_rows for split in ds} for name, ds in built.items()}

splits = ["train", "validation", "test", "testdev", "validation_easy", "validation_hard"]
rows = ["| source | sample folder | " + " | ".join(splits) + " |", "|---|---|" + "---:|" * len(splits)]
for name, c in counts.items():
    rows.append(f"| `{name}` | `original/{SAMPLE_FOLDERS[name]}/` | " + " | ".join(str(c.get(s, "")) for s in splits) + " |")
display(Markdown("\\n".join(rows)))
total = sum(sum(c.values()) for c in counts.values())
print(f"{total} records built from the samples")

assert counts["gqa"] == {"train": 2, "testdev": 1}
assert counts["coco"] == {"train": 1, "validation": 106}
assert counts["ref3rec"] == counts["ref3reg"] == {"train": 4}
assert total == 242
"""),
    md("""
## One record per source

The first train record of each source: its id, image, task and first exchange (long turns
shortened). Note the prompts DataOptim uses per task — a short-answer instruction for VQA,
the option letters for A-OKVQA (`mcvqa`), boxes in the REC answer and the REG question,
multi-turn conversations for LLaVA and SVIT.
"""),
    code("""
import textwrap

for name, ds in built.items():
    r = ds["train"][0]
    human, gpt = r["conversations"][0]["value"], r["conversations"][1]["value"]
    print(f"[{name}] {r['id']}  task={r['task']}  image={r['image']}  turns={len(r['conversations'])}")
    print("   human:", textwrap.shorten(human.replace("\\n", " / "), 110))
    print("   gpt:  ", textwrap.shorten(gpt.replace("\\n", " / "), 110))
    assert r["source"] == name and r["task"] == catalog.SOURCES[name].task and r["id"].startswith(name + "_")
"""),
    md("""
## Composition

Records per source and per task, in the samples' train splits (the part that becomes the
pool) and in DataOptim's full release. The samples are a few records of each source; the
full pool is dominated by SVIT, GQA and OCR-VQA — which is why choosing the **mixture**
matters.
"""),
    code("""
train_by_source = {name: c.get("train", 0) for name, c in counts.items()}
held_out_by_source = {name: sum(n for s, n in c.items() if s != "train") for name, c in counts.items()}
by_task, full_by_task = {}, {}
for name, s in catalog.SOURCES.items():
    by_task[s.task] = by_task.get(s.task, 0) + train_by_source[name]
    full_by_task[s.task] = full_by_task.get(s.task, 0) + s.qas
print("train records per task (samples):", by_task)
print("records per task (full release): ", {t: f"{n:,}" for t, n in full_by_task.items()})
assert sum(by_task.values()) == sum(train_by_source.values()) == 86
"""),
    code("""
import matplotlib.pyplot as plt

from dataoptim.colors import task_color  # one fixed colour per task in every plot

tasks = list(full_by_task)
colour = {t: task_color(t) for t in tasks}
names = list(catalog.SOURCES)[::-1]
fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
left.barh(names, [train_by_source[n] for n in names], color=[colour[catalog.SOURCES[n].task] for n in names])
left.barh(names, [held_out_by_source[n] for n in names], left=[train_by_source[n] for n in names], color="lightgrey", label="held-out splits")
left.set_xscale("symlog")
left.set_title("shipped samples: records per source")
left.legend(loc="lower right", fontsize=8)
middle.barh(names, [catalog.SOURCES[n].qas for n in names], color=[colour[catalog.SOURCES[n].task] for n in names])
middle.set_xscale("log")
middle.set_title("full release: records per source (log)")
right.bar(tasks, [100 * full_by_task[t] / catalog.POOL_SIZE for t in tasks], color=[colour[t] for t in tasks])
right.set_ylabel("% of the full pool")
right.set_title("full release: share of each task")
right.tick_params(axis="x", rotation=45)
fig.suptitle("DataOptim pool composition (colour: task)")
fig.tight_layout()
plot_path = WORK / "composition_sources.png"
fig.savefig(plot_path, dpi=110)
plt.close(fig)
display(fig)
print("plot written to", plot_path)
assert plot_path.stat().st_size > 0
"""),
    md("""
Next: `02_choose_data.ipynb` turns these train records into a pool and chooses training
data from it.
"""),
]

# ---------------------------------------------------------------------------------------------
# 02 choose data
# ---------------------------------------------------------------------------------------------
NB02 = [
    md("""
# 2. Choose training data: ids, filters, mixtures, BYOD

In the DataOptim challenge a participant submits the training data for a fixed LLaVA
recipe, in one of two tracks:

- **standard**: a text file of record ids, one per line, chosen from the **pool** (the
  sources' train records);
- **BYOD** (bring your own data): a LLaVA JSON list of records, validated record by record.

`dataoptim.select` holds both, plus filters and seeded **mixtures**. A **selection** is an
ordered list of pool rows: cheap to make, combined with `|` (union) and `-` (difference),
exported as the LLaVA JSON that training reads (`--data_path`).
"""),
    code(SETUP.format(folder="02_choose_data")),
    md("""
## Build the pool

The pool is built from DataOptim's converted layout, one `<source>.json` per source. Here
those files are made from the samples' train splits, with DataOptim's 17 official example
records (`example-byod.json`) in place of any built record of the same id — as
`dataoptim demo` does. `build_pool` writes memory-mapped Arrow files and a sorted id index,
so ids are looked up by binary search even in the 6.4M-record pool.
"""),
    code(BUILD_POOL),
    md("""
## A standard submission: an id list

`pool.by_ids(path)` reads the id file (blank lines and spaces ignored) and keeps its order;
a repeated id is a repeated sample, as in DataComp. Here: DataOptim's official example,
`example-standard.txt`, one record of each source (four of SVIT).
"""),
    code("""
id_file = SAMPLES / "examples" / "example-standard.txt"
wanted = [line.strip() for line in id_file.read_text().splitlines() if line.strip()]
standard = pool.by_ids(id_file)
print(standard, standard.report)
assert standard.ids() == wanted
assert standard.table().to_pylist()[0]["id"] == "coco_0"
standard.summary()
"""),
    md("""
Ids that are not in the pool are an error (a typed `UnknownIdError` naming how many and
the first few), or are dropped on request with `skip_unknown=True`; the selection's
`report` says what happened.
"""),
    code("""
from dataoptim.errors import DataOptimError, UnknownIdError

try:
    pool.by_ids(["gqa_05145757", "gqa_99999999"])
except UnknownIdError as err:
    print("UnknownIdError:", err)
lenient = pool.by_ids(["gqa_05145757", "gqa_99999999", "gqa_05145757"], skip_unknown=True)
print(lenient.ids(), lenient.report)
assert lenient.ids() == ["gqa_05145757", "gqa_05145757"] and lenient.report["unknown"] == 1 and lenient.report["repeats"] == 1
"""),
    md("""
## Filters

`pool.filter(...)` keeps the records that pass every filter given: by `source`, by `task`,
by any `pyarrow.compute` expression over the columns (evaluated on Arrow, no Python loop),
and `exclude_images` — drop every record whose image is used for evaluation, so that no
benchmark image leaks into training.
"""),
    code("""
import pyarrow.compute as pc

vqa_sources = pool.filter(source=["vqav2", "gqa"])
print(vqa_sources, vqa_sources.ids())
assert all(i.split("_")[0] in ("vqav2", "gqa") for i in vqa_sources.ids())

vqa = pool.filter(task="vqa")
print(vqa, vqa.source_counts())
assert set(vqa.source_counts()) == {n for n, s in catalog.SOURCES.items() if s.task == "vqa"}

multi_turn = pool.filter(where=pc.list_value_length(pc.field("conversations")) > 2)
print(multi_turn, multi_turn.source_counts())
assert len(multi_turn) > 0 and all(len(r["conversations"]) > 2 for r in multi_turn.table().to_pylist())

val2014 = pool.filter(where=pc.match_substring(pc.field("image"), "COCO_val2014"))
print("records on COCO val2014 images:", val2014.ids())
"""),
    md("""
The evaluation images here are those of the samples' held-out splits (validation, test,
testdev), written one path per line — the format `exclude_images` (and
`dataoptim select --exclude-images`) reads.
"""),
    code("""
eval_images = sorted({img for ds in built.values() for split in ds if split != "train" for img in ds[split]["image"]})
eval_file = WORK / "eval_images.txt"
eval_file.write_text("\\n".join(eval_images) + "\\n")

clean = pool.filter(exclude_images=eval_file)
leaked = [r["id"] for r in pool.all().table(["id", "image"]).to_pylist() if r["image"] in set(eval_images)]
print(f"{len(eval_images)} evaluation images; pool records on them: {leaked}")
print(clean)
assert len(clean) == len(pool.all()) - len(leaked)
assert not set(clean.images()) & set(eval_images)
"""),
    md("""
## A mixture under a budget

`pool.mix(ratios, budget, seed=...)` draws `budget` records split across tasks (or sources)
by the ratios — counts by the largest-remainder method, so they sum exactly to the budget —
without replacement unless asked. Each key draws from its own seeded generator: the same
seed gives the same ids, and adding a key does not change the others' draws.
"""),
    code("""
ratios = {"caption": 0.4, "vqa": 0.4, "instruct": 0.2}
mixture = pool.mix(ratios, budget=20, seed=0, exclude_images=eval_file)
print(mixture, mixture.report["mixture"])
print("by source:", mixture.source_counts())
assert len(mixture) == 20 and mixture.report["mixture"] == {"caption": 8, "vqa": 8, "instruct": 4}

again = pool.mix(ratios, budget=20, seed=0, exclude_images=eval_file)
other = pool.mix(ratios, budget=20, seed=1, exclude_images=eval_file)
assert again.ids() == mixture.ids(), "same seed, same ids"
assert other.ids() != mixture.ids()
print("seed 0 twice: identical;", f"seed 1 shares {len(set(other.ids()) & set(mixture.ids()))} of 20 ids")
assert not set(mixture.images()) & set(eval_images)
"""),
    md("""
## Union and difference

Selections of one pool combine as sets of rows, keeping order: `a | b` is `a` then the new
rows of `b`; `a - b` is `a` without `b`'s rows (`a & b` and `a + b`, concatenation with
repeats, also exist).
"""),
    code("""
union = standard | mixture
print(union)
assert set(union.ids()) == set(standard.ids()) | set(mixture.ids()) and len(union.ids()) == len(set(union.ids()))
assert union.ids()[: len(standard)] == standard.ids()

no_vqa = union - vqa
print(no_vqa, no_vqa.source_counts())
assert not set(no_vqa.ids()) & set(vqa.ids()) and set(no_vqa.ids()) == set(union.ids()) - set(vqa.ids())
"""),
    md("""
## A BYOD submission

`validate_byod(path, image_folder=...)` streams the file and checks every record (DESIGN
§2): the schema, exactly one `<image>` in the first human turn, turns alternating
`human`/`gpt`, an image path that stays inside the image folder and exists there, unique ids.
The source images cannot be shipped, so `make_stand_in_images` draws a labelled stand-in for
every path the records name.
"""),
    code("""
from dataoptim.samples import make_stand_in_images
from dataoptim.select import validate_byod

images = WORK / "images"
byod_file = SAMPLES / "examples" / "example-byod.json"
examples = json.loads(byod_file.read_text(encoding="utf-8"))
print("stand-in images written:", make_stand_in_images(examples, images))
byod = validate_byod(byod_file, image_folder=images, pool=pool)
print(byod)
assert byod.records == 17 and byod.in_pool == 17
"""),
    md("""
A broken submission fails on its first bad record with a typed error
(`dataoptim.errors.RecordError`, a `DataOptimError`) whose one-line message names the file,
the record, its id and the field. Four copies, each with one mistake participants make:
"""),
    code("""
import copy


def drop_image_token(recs):
    first = recs[3]["conversations"][0]
    first["value"] = first["value"].replace("<image>", "").strip()


def escape_image_folder(recs):
    recs[5]["image"] = "../../etc/passwd"


def repeat_an_id(recs):
    recs.append(copy.deepcopy(recs[0]))


def swap_turns(recs):
    recs[2]["conversations"].reverse()


for breakage in (drop_image_token, escape_image_folder, repeat_an_id, swap_turns):
    broken = copy.deepcopy(examples)
    breakage(broken)
    path = WORK / f"broken-{breakage.__name__}.json"
    path.write_text(json.dumps(broken))
    try:
        validate_byod(path, image_folder=images)
    except DataOptimError as err:
        print(f"{type(err).__name__}: {err}")
        assert "\\n" not in str(err) and err.file == str(path) and err.record is not None
    else:
        raise AssertionError(f"{breakage.__name__} passed validation")
"""),
    md("""
## Export

The chosen selection — here the standard submission plus the mixture — is written as the
LLaVA JSON that training reads (`id`, `image`, `conversations`), with the id list (a
standard submission), a summary (counts by source and task, images, turns) and the
composition plot. With `image_folder`, every image must exist there first, or nothing is
written.
"""),
    code("""
make_stand_in_images(union.table(["image"]).to_pylist(), images)
summary = union.to_llava_json(WORK / "train.json", image_folder=images)
union.write_ids(WORK / "train-ids.txt")
summary.write_json(WORK / "summary.json")
union.plot(WORK / "composition.png", title="standard submission | mixture")
summary.print()

exported = json.loads((WORK / "train.json").read_text())
assert [r["id"] for r in exported] == union.ids() and set(exported[0]) == {"id", "image", "conversations"}
assert (WORK / "train-ids.txt").read_text().split() == union.ids()
assert summary.records == len(union)
print("written:", *sorted(p.name for p in WORK.iterdir() if p.is_file()))
"""),
    code("""
from IPython.display import Image

Image(filename=str(WORK / "composition.png"))
"""),
    md("""
The same steps on the command line: `dataoptim pool build`, `dataoptim select`,
`dataoptim validate`. Next: `03_train_and_evaluate.ipynb` trains on a selection and scores it.
"""),
]

# ---------------------------------------------------------------------------------------------
# 03 train and evaluate
# ---------------------------------------------------------------------------------------------
NB03 = [
    md("""
# 3. Train on a selection and evaluate it

The challenge fixes everything but the data: the LLaVA recipe (Llama-2-7b-chat with a CLIP
ViT-L/14 and a pretrained projector, one epoch, DeepSpeed ZeRO-3 on 8 GPUs) trains on the
submitted selection, and the model answers held-out benchmark questions. The scores rank
the data.

Here, on a CPU and the shipped samples, the same pipeline runs in seconds: a **tiny random
LLaVA** (built from a config, nothing downloaded) trains for 2 steps with the `hf`
backend (`transformers`' `Trainer`). The images are labelled stand-ins, so the scores
measure the pipeline, not a model — the point is the shape of the work: two mixtures, two
runs, one comparison.
"""),
    code(SETUP.format(folder="03_train_and_evaluate")),
    md("""
## The pool and the held-out questions

The pool as in notebook 2. The held-out questions come from splits that are not in the pool:
TextVQA and COCO Captions **validation**. Their images are excluded from the training
mixtures.
"""),
    code(BUILD_POOL),
    code("""
from dataoptim.evaluate import read_benchmark
from dataoptim.samples import make_stand_in_images

held_out = list(built["textvqa"]["validation"]) + list(built["coco"]["validation"].select(range(12)))
benchmark = read_benchmark(held_out)
print(f"{len(benchmark)} held-out questions:", {t: sum(i["task"] == t for i in benchmark) for t in ("textvqa", "caption")})
print(json.dumps(benchmark[0], ensure_ascii=False))
print(json.dumps(benchmark[-1], ensure_ascii=False))
assert len(benchmark) == 17 and [i["task"] for i in benchmark] == ["textvqa"] * 5 + ["caption"] * 12

eval_images = sorted({r["image"] for r in held_out})
images = WORK / "images"
print("stand-in images:", make_stand_in_images(pool.all().table(["image", "width", "height"]).to_pylist(), images)
      + make_stand_in_images(held_out, images))
"""),
    md("""
Each record becomes a canonical benchmark item (`read_benchmark`): the question is the last
human turn, the reference the last gpt turn, and the benchmark task follows the record's
task — TextVQA questions are scored as `textvqa`, COCO captions as `caption`. **VQA accuracy** (TextVQA, VQAv2) compares the normalised
answer with the human answers: `min(#humans who gave it / 3, 1)`, averaged over the
10-choose-9 subsets of the ten answers. **CIDEr** (captions; CIDEr-D as in the COCO caption
evaluation) is the TF-IDF-weighted n-gram (1–4) cosine similarity between a caption and its
references, with a length penalty, averaged over n and scaled by 10.

These held-out records have **one reference each**, so the scores below are not those
metrics as published: the `textvqa` score is an exact match against one answer
(not the 10-answer accuracy) and the `caption` score is CIDEr-D against one reference caption
(COCO has five). `dataoptim.demo.held_out_label` names each score for what it is.

## Two mixtures

Two candidate selections of the same budget: one weighted to captions, one to VQA. Each is
exported as LLaVA JSON, with the image check.
"""),
    code("""
mixtures = {
    "caption-heavy": {"caption": 0.6, "vqa": 0.2, "instruct": 0.2},
    "vqa-heavy": {"caption": 0.2, "vqa": 0.6, "instruct": 0.2},
}
selections = {}
for name, ratios in mixtures.items():
    selection = pool.mix(ratios, budget=16, seed=0, exclude_images=eval_images)
    summary = selection.to_llava_json(WORK / f"train-{name}.json", image_folder=images)
    selections[name] = selection
    print(f"{name}: {summary}")
    assert len(selection) == 16 and not set(selection.images()) & set(eval_images)
"""),
    md("""
## Train

`dataoptim.train.train(data, image_folder, output_dir, backend="hf", ...)` formats each
record in LLaVA's `llava_llama_2` template, masks everything but the gpt turns in the
labels, and runs `Trainer`. `model="tiny"` builds a small random LLaVA; on GPUs the same
call takes the recipe's start model (`model_name_or_path`, `vision_tower`,
`pretrain_mm_mlp_adapter`), or `backend="llava"` launches LLaVA's own training script.
"""),
    code("""
import math

import transformers

from dataoptim.train import train

transformers.utils.logging.set_verbosity_error()  # quieter: no weight-loading bars or cache notes
transformers.utils.logging.disable_progress_bar()

runs = {}
for name in mixtures:
    runs[name] = train(WORK / f"train-{name}.json", images, WORK / f"checkpoint-{name}", backend="hf", model="tiny",
                       max_steps=2, per_device_train_batch_size=4, logging_steps=1, save_strategy="no",
                       dataloader_num_workers=0, disable_tqdm=True, cache_dir=WORK / "cache")
    losses = runs[name].losses
    print(f"{name}: loss per step {[round(x, 3) for x in losses]} -> {runs[name].output_dir}")
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
"""),
    md("""
## Evaluate

`dataoptim.evaluate.evaluate(checkpoint, benchmark, image_dir, output_dir)` reads the
questions, answers them in batches with greedy decoding, scores the answers and writes
`predictions.jsonl` (LLaVA's answer format), `benchmark.jsonl`, one `<task>.tsv` per task,
`per_question.jsonl` (what each answer was read as, and its score) and `scores.json`
(each task scored as its benchmark's official scorer does; TextVQA by LLaVA's m4c evaluator).
"""),
    code("""
from dataoptim.demo import held_out_label  # one reference per question: named for what the scores are
from dataoptim.evaluate import evaluate
from dataoptim.evaluate.tasks.shared import java_available

# CIDEr's official PTB tokenizer runs in Java; without it, say so and use the simple one (labelled not official)
TOKENIZER = "ptb" if java_available() else "simple"
results = {}
for name, run in runs.items():
    results[name] = evaluate(run.output_dir, held_out, images, WORK / "eval" / name, batch_size=8, max_new_tokens=12,
                             tokenizer=TOKENIZER)
    for task, metrics in results[name]["scores"].items():
        for metric, value in metrics.items():
            if metric != "n" and isinstance(value, (int, float)) and not isinstance(value, bool):  # not the scorer's name
                print(f"{name}: {held_out_label(task, metric)} = {value:.3f} ({metrics['n']} questions)")
    assert set(results[name]["scores"]) == {"textvqa", "caption"}
    assert results[name]["scores"]["textvqa"]["n"] == 5 and results[name]["scores"]["caption"]["n"] == 12
    assert all(math.isfinite(m[m["headline"]]) for m in results[name]["scores"].values())
first = next(iter(results))
print("a prediction:", next(iter(results[first]["predictions"].items())))
"""),
    md("""
A random tiny model on stand-in images answers nonsense, so both runs score 0. Saved
predictions can be scored again without the model — what an organiser does with submitted
answer files: `dataoptim.evaluate.score(predictions, benchmark)` gives the same numbers.
Scoring the references themselves shows the top of each scale here (TextVQA exact match 1; CIDEr-D
10 for captions equal to their single reference).
"""),
    code("""
from dataoptim.evaluate import score

rescored = score(WORK / "eval" / first / "predictions.jsonl", WORK / "eval" / first / "benchmark.jsonl", tokenizer=TOKENIZER)
print(rescored)
assert rescored == results[first]["scores"]

# A sanity bound: answers that copy the reference.
oracle = score({item["question_id"]: item["answers"][0] for item in benchmark}, benchmark, tokenizer=TOKENIZER)
print("copying the reference:", oracle)
assert oracle["textvqa"]["accuracy"] == 1.0 and oracle["caption"]["cider"] > 1
"""),
    md("""
## Compare the runs

`dataoptim.evaluate.compare` ranks runs per task on the task's main metric (accuracy,
CIDEr, ...) and then by mean rank, which needs no common scale between CIDEr and
accuracies; `write_comparison` writes `comparison.md`, `comparison.json` and a bar plot.
It takes run folders (`compare([WORK / "eval" / "caption-heavy", ...])`, or
`dataoptim compare eval/*` on the command line) or `{name: scores}`; here the two runs and
the copy-the-reference bound.
"""),
    code("""
from IPython.display import Image, Markdown, display

from dataoptim.evaluate import compare, write_comparison

from dataoptim.evaluate.report import load_scores

comparison = compare({**{name: load_scores(WORK / "eval" / name) for name in runs}, "copy the reference": oracle})
written = write_comparison(comparison, WORK / "comparison")
display(Markdown((WORK / "comparison" / "comparison.md").read_text()))
display(Image(filename=str(WORK / "comparison" / "comparison.png")))
print("written:", *[p.name for p in written])
assert {r["name"] for r in comparison["runs"]} == set(runs) | {"copy the reference"}
assert comparison["runs"][0]["name"] == "copy the reference"
"""),
    md("""
On the full data the same calls scale up: build the pool from DataOptim's files
(`dataoptim pool build`), select, train with `backend="llava"` (or `dataoptim train`) on
8 GPUs, and evaluate on the DataOptim validation set. See the README.
"""),
]


# ---------------------------------------------------------------------------------------------
# 04 signals and strategies
# ---------------------------------------------------------------------------------------------
NB04 = [
    md("""
# 4. Signals and strategies: score every record, select by score, run the baselines

A participant's job is to *find* the subset. A **signal** is a per-record value computed once
and stored beside the pool (one Arrow file per signal, aligned with the pool's rows, carrying
the code version and parameters that made it); from then on it is usable wherever a column is.
A **strategy** is a named baseline that writes a standard submission (an id list) under a
budget. This notebook computes signals on the shipped samples, looks at their histograms,
selects by them, runs two strategies and compares what they chose.
"""),
    code(SETUP.format(folder="04_signals_and_strategies")),
    code(BUILD_POOL),
    md("""
## Compute signals

`text` (turns, words and characters of prompts and answers), `duplicates` (exact conversation,
normalised question + image, same image), `neardup` (MinHash LSH, `datasketch`), `flags` (empty
or refusal replies, boxes) need nothing else. `tokens` needs the recipe's tokenizer: here a tiny
test tokenizer saved to a folder; in a real run pass the base model's folder
(`--tokenizer llama-2-7b-chat/`). A second `compute` with the same parameters does nothing: the
stored file is fresh.
"""),
    code("""
import time
from dataoptim import signals
from dataoptim.train.model import build_tiny_tokenizer

tokenizer_dir = WORK / "tokenizer"
build_tiny_tokenizer().save_pretrained(tokenizer_dir)
for name in ["text", "duplicates", "neardup", "flags"]:
    signals.compute(pool, name, progress=False)
signals.compute(pool, "tokens", tokenizer=str(tokenizer_dir), progress=False)
began = time.time()
signals.compute(pool, "text", progress=False)  # fresh: skipped
print(f"recompute of a fresh signal: {time.time() - began:.3f} s")
print(sorted(p.name for p in (pool.path / "signals").glob("*.arrow")))
everyone = pool.all()
table = everyone.columns(["id", "source", "answer_words", "total_tokens", "dup_conversation_of", "row", "flagged", "box_count"])
table.head(8)
"""),
    md("""
## Histograms per source

`dataoptim signals show --pool POOL --column answer_words --output hist.png` draws the same.
"""),
    code("""
from dataoptim.signals.cli import histogram_per_source

fig, stats = histogram_per_source(pool, "answer_words")
print({k: round(v["mean"], 1) for k, v in stats.items()})
assert stats["vqav2"]["mean"] == 1.0 and stats["svit"]["mean"] > 50
fig, _ = histogram_per_source(pool, "total_tokens")
"""),
    md("""
## Duplicates and flags

Three records repeat another record's whole conversation (DataOptim's example record and the
record the builder made from the same original); five Flickr30k captions of one image share
question and image but not the answer.
"""),
    code("""
import polars as pl

dups = table.filter(pl.col("dup_conversation_of") != pl.col("row"))
print(dups.select("id", "dup_conversation_of"))
deduped = everyone.dedup("conversation")
print(len(everyone), "->", len(deduped), "records after exact dedup;", deduped.report)
print("records with boxes:", int(table["box_count"].gt(0).sum()), "; flagged replies:", int(table["flagged"].sum()))
assert sorted(dups["id"].to_list()) == ["llava_157711", "llava_v1.5_0", "ocrvqa_801672", "shikra_5921"]  # llava_v1.5_0 repeats llava_0 (LLaVA-v1.5 mixes LLaVA-Instruct in)
"""),
    md("""
## Select by signals

Filters are SQL over columns and signals; then dedup, a cap per image, top-k and budgets.
A token budget is never exceeded; weights combine sources and tasks, and a temperature above 1
flattens the mixture.
"""),
    code("""
chosen = (everyone.where("answer_words >= 3 AND NOT flagged")
          .dedup("conversation")
          .cap_per_image(2)
          .sample_budget(budget_tokens=5_000, weights={"instruct": 0.5, "vqa": 2}, temperature=2.0, seed=0))
used = chosen.columns("total_tokens")["total_tokens"].sum()
print(len(chosen), "records,", used, "tokens (budget 5,000)")
print(chosen.report["sampled"])
assert used <= 5_000
top = everyone.top_k(2, "answer_words", per="task")
print(top.ids())
"""),
    md("""
## Two strategies, compared

`dataoptim strategy run longest --pool POOL --budget 20 --output ids.txt` writes the same ids;
`dataoptim select --ids ids.txt` turns them into training JSON. `balanced` takes the same number
of records from every task; `longest` the records with the longest answers (Zhao et al. 2024).
"""),
    code("""
import matplotlib.pyplot as plt
from dataoptim import strategies

runs = {name: strategies.run(name, pool, 20, seed=0) for name in ["balanced", "longest"]}
for name, sel in runs.items():
    sel.write_ids(WORK / f"{name}-ids.txt")
    print(name, sel.source_counts())
sources = pool.sources
fig, ax = plt.subplots(figsize=(9, 3))
width = 0.4
for k, (name, sel) in enumerate(runs.items()):
    counts = sel.source_counts()
    ax.bar([i + k * width for i in range(len(sources))], [counts.get(s, 0) for s in sources], width, label=name)
ax.set_xticks([i + width / 2 for i in range(len(sources))], sources, rotation=45, fontsize=8)
ax.set_ylabel("records"); ax.legend(); fig.tight_layout()
again = pool.by_ids(WORK / "longest-ids.txt")
assert again.ids() == runs["longest"].ids() and len(runs["balanced"]) == 20
"""),
]

def write(name: str, cells) -> Path:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for number, cell in enumerate(nb.cells):  # stable ids keep diffs small
        cell["id"] = f"{name[:2]}-{number:02d}"
    path = HERE / name
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    for name, cells in (("01_explore_sources.ipynb", NB01), ("02_choose_data.ipynb", NB02), ("03_train_and_evaluate.ipynb", NB03), ("04_signals_and_strategies.ipynb", NB04)):
        print("wrote", write(name, cells))
