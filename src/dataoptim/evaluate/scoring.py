"""Score predictions against a benchmark and write the results (no model needed).

Each task is scored by its own module in :mod:`dataoptim.evaluate.tasks`, which follows
the benchmark's reference scorer (vqaEval, LLaVA's m4c / GQA / POPE / ScienceQA scripts,
MME's ``calculation.py``, lmms-eval's REC rule, pycocoevalcap CIDEr-D); friendlier readings
only with ``lenient=True``, labelled not official.

Predictions come as:

- LLaVA answer files: JSON Lines with ``question_id`` and ``text`` (what
  ``llava/eval/model_vqa*.py`` writes; a ``prompt`` is checked against the question;
  other fields ignored). A JSON list of the same objects is accepted too.
- a folder of result files in MME's layout (:func:`read_results_dir`): one ``<task>.txt``
  per task, lines ``image\\tquestion\\tanswer\\tprediction``, no header (what MME's tool
  reads and DataOptim's ``evaluation/run_llava_eval.py`` writes). They carry their
  references, so they are scored alone.

Outputs of :func:`write_results` in the output folder (each file written atomically):

- ``{task}.tsv`` per task: a header line ``image\\tquestion\\tanswer\\tprediction``,
  then one line per question, in benchmark order. Tabs and line breaks inside a field
  become spaces; a list of references is written as a JSON list.
- ``per_question.jsonl``: one line per question: ``question_id``, ``task``, ``category``,
  ``prediction``, ``score`` (VQA accuracy, 0/1, IoU, per-item CIDEr) and ``parsed`` (what
  the scorer read: normalised answer, ``yes``/``no``/``other``, letter or ``FAILED``, box or null).
- ``scores.json``: ``{task: {"scorer", "official", "options", "headline", metric: value, ...,
  "n", "categories": {category: {metric: value, "n"}}}}``; accuracies, precision, recall,
  F1, IoU and ratios in [0, 1], CIDEr on pycocoevalcap's scale, MME scores on MME's scale
  (0–200 per subtask, totals summed).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.evaluate.benchmark import (IMAGE_TOKEN, MME_SUBTASKS, SINGLE_ANSWER_TASKS, TASKS, check_items, has_reference, read_benchmark,
                                          task_from_name, unique_ids)
from dataoptim.evaluate.tasks import scorer
from dataoptim.evaluate.tasks.grounding import RULES as GROUNDING_RULES
from dataoptim.evaluate.tasks.grounding import check_rule
from dataoptim.evaluate.tasks.shared import CIDER_TOKENIZERS, check_cider_tokenizer
from dataoptim.io import atomic_write, iter_jsonl, make_output_dir, read_json, require_file, write_json

#: The one metric per task that ``scores.json`` calls its headline and the comparison report ranks on.
MAIN_METRIC: dict[str, str] = {task: scorer(task).HEADLINE for task in TASKS}
#: Metrics reported on their own scale, not as fractions (CIDEr, MME's scores).
RAW_METRICS = ("cider", "perception", "cognition", "score")
#: Keys of a task's ``scores.json`` entry that describe it rather than measure it.
DESCRIPTIVE_KEYS = ("scorer", "official", "options", "headline", "categories", "missing_subtasks")

__all__ = ["CIDER_TOKENIZERS", "GROUNDING_RULES", "MAIN_METRIC", "Predictions", "check_cider_tokenizer", "check_options",
           "read_predictions", "read_results_dir", "score", "score_items", "write_results", "per_question_rows"]


def check_options(*, tokenizer: str = "ptb", grounding_rule: str = "lmms-eval", items: Sequence[Mapping[str, Any]] | None = None) -> None:
    """Refuse scoring options before any work.

    Java is needed only when ``items`` (None: unknown yet) hold caption questions.

    Raises:
        ConfigError: unknown CIDEr tokenizer or grounding rule; ``"ptb"`` with captions and no Java.
    """
    captions = items is not None and any(item.get("task") == "caption" for item in items)
    check_cider_tokenizer(tokenizer, captions=captions)
    check_rule(grounding_rule)


class Predictions(dict):
    """``{question_id: text}`` read by :func:`read_predictions`, remembering where repeated ids were.

    Attributes:
        repeats: for each repeat of a ``question_id``, its unique id (``"q1#2"``) ->
            ``(question_id, record, where)``, e.g. ``("q1", 3, "line 4; first on line 2")``:
            :func:`score_items` names a repeat that the benchmark does not repeat as a duplicate.
        prompts: ``{unique id: (prompt, record index)}`` for lines that carry a ``prompt``
            (LLaVA's answer files do): :func:`score_items` checks it against the question.
    """

    repeats: dict[str, tuple[str, int, str]]
    prompts: dict[str, tuple[str, int]]


def read_predictions(path: str | Path) -> Predictions:
    """Read a LLaVA answer file into ``{question_id: text}`` (ids as strings).

    Repeated ids are made unique as the benchmark readers do
    (:func:`~dataoptim.evaluate.benchmark.unique_ids`), so MME-style files pair up;
    :attr:`Predictions.repeats` says where they were.

    Raises:
        MissingFileError: no such file.
        InputError: bad JSON, a line without ``question_id`` or with a non-string
            ``text`` (file, line index and field named).
    """
    path = require_file(path, "predictions file")
    with open(path, "rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 byte-order mark (the readers skip it)
    if head.startswith(b"["):
        data = read_json(path, expect=list, what="predictions file")
        rows: Iterable[tuple[int, Any]] = enumerate(data)
    else:
        rows = iter_jsonl(path, what="predictions file")
    place = (lambda i: f"record {i}") if head.startswith(b"[") else (lambda i: f"line {i + 1}")
    ids, texts, indices, prompts = [], [], [], []
    for index, obj in rows:
        if not isinstance(obj, dict):
            raise InputError(f"must be a JSON object, found {type(obj).__name__}", file=path, record=index)
        if "question_id" not in obj:
            raise InputError("missing", file=path, record=index, field="question_id")
        qid = obj["question_id"]
        if isinstance(qid, bool) or not isinstance(qid, (str, int)):
            raise InputError(f"must be a string or an integer, found {qid!r}", file=path, record=index, field="question_id")
        if "text" not in obj:
            raise InputError("missing", file=path, record=index, id=str(qid), field="text")
        if not isinstance(obj["text"], str):
            raise InputError(f"must be a string, found {type(obj['text']).__name__}", file=path, record=index, id=str(qid), field="text")
        ids.append(qid)
        texts.append(obj["text"])
        indices.append(index)
        prompts.append(obj.get("prompt") if isinstance(obj.get("prompt"), str) else None)
    out = Predictions(zip(unique_ids(ids), texts))
    out.repeats = {}
    out.prompts = {}
    first: dict[str, int] = {}
    for uid, qid, index, prompt in zip(out, ids, indices, prompts):
        if str(qid) in first:
            out.repeats[uid] = (str(qid), index, f"{place(index)}; first on {place(first[str(qid)])}")
        else:
            first[str(qid)] = index
        if prompt is not None:
            out.prompts[uid] = (prompt, index)
    return out


def read_results_dir(path: str | Path, *, task_map: Mapping[str, str] | None = None) -> tuple[list[dict], dict[str, str]]:
    """Read a folder of ``<task>.txt`` result files in MME's layout into canonical items and predictions.

    Every ``*.txt`` file in ``path`` (sorted by name) is one task: an MME subtask name
    (``existence`` ... ``code_reasoning``) is task ``mme`` with that subtask as ``category``;
    any other name is read by :func:`~dataoptim.evaluate.benchmark.task_from_name`
    (``task_map`` first; DataOptim's ``vqav2``, ``gqa``, ``coco``...) and kept as ``category``.
    Each line is ``image\\tquestion\\tanswer\\tprediction`` (no header; the answer may be a
    JSON list of strings, several references). Question ids are ``"<file stem>:<line>"``; each
    item also keeps ``file`` and ``record`` (0-based line) for messages.

    Returns:
        ``(items, {question_id: prediction})``, items in file and line order.

    Raises:
        MissingFileError: no such folder, or no ``.txt`` file in it.
        InputError: a line without exactly four tab-separated fields, an empty file (file and line named).
        ConfigError: a file name that names no task.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise MissingFileError("results folder not found", file=folder)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())
    if not files:
        raise MissingFileError("no <task>.txt result files (MME layout: image, question, answer, prediction per line)", file=folder)
    items: list[dict] = []
    preds: dict[str, str] = {}
    for file in files:
        name = file.stem
        task = "mme" if name in MME_SUBTASKS else task_from_name(name, task_map)
        if task is None:
            raise ConfigError(f"the file name {name!r} names no task; rename it or map it with --task-map {name}=TASK "
                              f"(TASK one of {', '.join(TASKS)})", file=file)
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not UTF-8 text: {exc}", file=file) from None
        lines = text.splitlines()
        if not lines:
            raise InputError("empty result file: no question to score", file=file)
        file_items: list[dict] = []
        for number, line in enumerate(lines, start=1):
            fields = line.split("\t")
            if len(fields) != 4:
                raise InputError(f"line {number}: expected 4 tab-separated fields (image, question, answer, prediction), "
                                 f"found {len(fields)}", file=file, record=number - 1)
            image, question, answer, prediction = fields
            qid = f"{name}:{number}"
            item: dict[str, Any] = {"question_id": qid, "image": image or None, "text": question or " ", "task": task,
                                    "category": name, "file": str(file), "record": number - 1}
            if task in SINGLE_ANSWER_TASKS:
                item["answer"] = answer
            else:
                item["answers"] = _answer_list(answer)
            file_items.append(item)
            preds[qid] = prediction
        items += check_items(enumerate(file_items), file=str(file), indexed=True)  # ids are unique by construction
    return items, preds


def _answer_list(cell: str) -> list[str]:
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return [cell]


def _question_text(text: str) -> str:
    return " ".join(text.replace(IMAGE_TOKEN, " ").split())


def _check_prompts(items: Sequence[Mapping[str, Any]], predictions: Mapping[str, str], file: str | None) -> None:
    """A prediction that carries its question (``prompt``) must be answering the benchmark's question.

    Equal after removing ``<image>`` and collapsing whitespace, or one a prefix of the
    other (LLaVA's scripts add or drop an answer instruction).
    """
    prompts = getattr(predictions, "prompts", {})
    for item in items:
        found = prompts.get(item["question_id"])
        if found is None:
            continue
        prompt, index = found
        a, b = _question_text(prompt), _question_text(item["text"])
        if a and b and not (a == b or a.startswith(b) or b.startswith(a)):
            raise InputError(f"the prediction answers {prompt[:80]!r}, but question {item['question_id']!r} of the benchmark "
                             f"is {item['text'][:80]!r}: predictions and benchmark do not belong together",
                             file=file, record=index, id=item["question_id"], field="prompt")


def score_items(items: Sequence[Mapping[str, Any]], predictions: Mapping[Any, str], *, tokenizer: str = "ptb",
                lenient: bool = False, grounding_rule: str = "lmms-eval", allow_missing: bool = False,
                predictions_file: str | None = None, benchmark_file: str | None = None) -> tuple[dict, dict[str, list[dict]]]:
    """Score canonical items against predictions, each task with its own scorer (:mod:`dataoptim.evaluate.tasks`).

    Predictions pair with questions by ``question_id`` (never by position); a prediction
    line that carries a ``prompt`` must be for the same question.

    Args:
        items: canonical benchmark items (checked; every one must have a reference).
        predictions: ``{question_id: text}``; keys are compared as strings.
        tokenizer: CIDEr tokenisation, ``"ptb"`` (official, needs Java when captions are scored) or ``"simple"`` (not official).
        lenient: the friendlier readings of :mod:`dataoptim.evaluate.metrics` (not official; labelled in ``scores.json``).
        grounding_rule: ``"lmms-eval"`` (default) or ``"shikra"``.
        allow_missing: score a question without a prediction as wrong (no credit; ``prediction``
            and ``parsed`` null, ``FAILED`` for ``mc``) instead of failing.
        predictions_file: the predictions' file, for messages.
        benchmark_file: the benchmark's file, for messages about its questions.

    Returns:
        ``(scores, rows)``: ``scores = {task: entry}`` (see the module docstring) for the
        tasks present, in :data:`~dataoptim.evaluate.benchmark.TASKS` order;
        ``rows = {task: [{"item", "question_id", "task", "category", "prediction", "score", "parsed"}]}`` in benchmark order.

    Raises:
        ConfigError: bad options (:func:`check_options`), Java missing for captions.
        InputError: a prediction for a question not in the benchmark, a ``question_id``
            repeated in the predictions file but not in the benchmark, questions
            without a prediction (unless ``allow_missing``), a prompt that is not the
            question, an item without reference, MME items its scorer refuses.
    """
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule)
    items = list(items)
    _require_references(items, benchmark_file)  # the file and what would give the references, not only "no reference"
    items = check_items(items, require_reference=True, file=benchmark_file)
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule, items=items)
    preds = {str(k): v for k, v in predictions.items()}
    known = {item["question_id"] for item in items}
    extra = [qid for qid in preds if qid not in known]
    repeated = [qid for qid in extra if qid in getattr(predictions, "repeats", {})]
    if repeated:  # "q1#2" is a second answer to q1, not an answer to a question "q1#2"
        qid, index, where = predictions.repeats[repeated[0]]
        raise InputError(f"duplicate question_id {qid!r} ({where})", file=predictions_file, record=index, id=qid, field="question_id")
    if extra:
        from dataoptim.words import count, plural

        raise InputError(f"{count(len(extra), 'prediction')} for {plural(len(extra), 'a question', 'questions')} not in the benchmark, "
                         f"first: {', '.join(map(repr, extra[:5]))}",
                         file=predictions_file, field="question_id")
    missing = [item["question_id"] for item in items if item["question_id"] not in preds]
    if missing and not allow_missing:
        from dataoptim.words import count, plural

        raise InputError(f"{count(len(missing), 'question')} {plural(len(missing), 'has', 'have')} no prediction, "
                         f"first: {', '.join(map(repr, missing[:5]))}",
                         file=predictions_file, field="question_id")
    _check_prompts(items, predictions, predictions_file)
    by_task: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_task[item["task"]].append(item)
    for task, task_items in by_task.items():  # refuse what a task's scorer refuses before scoring anything
        check = getattr(scorer(task), "check", None)
        if check is not None:
            try:
                check(task_items)
            except InputError as exc:
                raise exc.located(file=benchmark_file) from None
    scores: dict[str, dict[str, Any]] = {}
    rows: dict[str, list[dict]] = {}
    for task in TASKS:
        task_items = by_task.get(task)
        if not task_items:
            continue
        answers = [preds.get(item["question_id"]) for item in task_items]  # None: unanswered (allow_missing), no credit
        try:
            result = scorer(task).score(task_items, answers, lenient=lenient, tokenizer=tokenizer, rule=grounding_rule)
        except InputError as exc:  # a question the task's scorer refuses (MME's pairs): name the benchmark
            raise exc.located(file=benchmark_file) from None
        scores[task] = result.scores
        rows[task] = [{"item": item, **question} for item, question in zip(task_items, result.questions)]
    return scores, rows


def score(predictions: str | Path | Mapping[Any, str], benchmark: Any = None, *, tokenizer: str = "ptb", lenient: bool = False,
          grounding_rule: str = "lmms-eval", allow_missing: bool = False, **read_options: Any) -> dict[str, dict[str, Any]]:
    """Score saved predictions: ``{task: entry}`` as in ``scores.json``.

    Args:
        predictions: a LLaVA answer file (:func:`read_predictions`), ``{question_id: text}``,
            or a folder of MME-layout ``<task>.txt`` files (:func:`read_results_dir`; then no ``benchmark``).
        benchmark: anything :func:`~dataoptim.evaluate.benchmark.read_benchmark` reads
            (a path, a ``datasets.Dataset``, a list of items or records).
        tokenizer, lenient, grounding_rule, allow_missing: as :func:`score_items`.
        read_options: passed to ``read_benchmark`` (``format``, ``task``, ``answers``, ``task_map``).

    Raises:
        MissingFileError, InputError, ConfigError: bad files or options.
    """
    check_options(tokenizer=tokenizer, grounding_rule=grounding_rule)
    pred_file = None
    if isinstance(predictions, (str, Path)) and Path(predictions).is_dir():
        if benchmark is not None:
            raise ConfigError("a folder of <task>.txt result files carries its own references; give no benchmark", file=predictions)
        items, predictions = read_results_dir(predictions, task_map=read_options.get("task_map"))
    else:
        if benchmark is None:
            raise ConfigError("a predictions file needs a benchmark (only a folder of <task>.txt result files is scored alone)")
        if isinstance(predictions, (str, Path)):
            pred_file = str(predictions)
            predictions = read_predictions(predictions)
        items = read_benchmark(benchmark, **read_options)
    bench_file = str(benchmark) if isinstance(benchmark, (str, Path)) else None
    fmt = read_options.get("format")
    _require_references(items, bench_file, answers_given=read_options.get("answers") is not None, fmt=None if fmt in (None, "auto") else fmt)
    scores, _ = score_items(items, predictions, tokenizer=tokenizer, lenient=lenient, grounding_rule=grounding_rule,
                            allow_missing=allow_missing, predictions_file=pred_file, benchmark_file=bench_file)
    return scores


#: What gives each task's references when its question file carries none (LLaVA's eval question files).
REFERENCE_FILES = {
    "pope": "POPE's label files coco_pope_<category>.json",
    "gqa": "GQA's question file (testdev_balanced_questions.json)",
    "vqa": "the VQA annotation file ({\"annotations\": [...]})",
    "textvqa": "TextVQA's TextVQA_0.5.1_val.json",
}


def _require_references(items: Sequence[Any], bench_file: str | None, *, answers_given: bool = False, fmt: str | None = None) -> None:
    """Refuse a benchmark whose questions carry no reference, naming the file, the first such question and what gives them.

    Raises:
        InputError: naming ``bench_file``, the first question without a reference (record, id, field ``answer``).
    """
    missing = [(index, item) for index, item in enumerate(items) if isinstance(item, Mapping) and not has_reference(item)]
    if not missing:
        return
    index, item = missing[0]
    task = item.get("task")
    source = REFERENCE_FILES.get(task, "an answer file (question_id with label/answers/answer/text)")
    if fmt is None and bench_file is not None and Path(bench_file).is_file():
        from dataoptim.evaluate.benchmark import detect_format

        try:
            fmt = detect_format(bench_file)
        except InputError:
            fmt = None
    if answers_given:
        how = f"the answer files given do not cover them ({task} references come from {source})"
    elif fmt == "canonical":
        how = "give each line its reference ('answer': a string, or 'answers': a list)"
    else:
        how = f"the benchmark carries no references: give {source} with --answers (answers=)"
    if len(missing) == len(items):
        what = f"none of its {len(items):,} {task} question{'' if len(items) == 1 else 's'} has a reference to score against"
    else:
        what = f"{len(missing):,} of its {len(items):,} questions {'has' if len(missing) == 1 else 'have'} no reference to score against (first: {task})"
    raise InputError(f"{what}; {how}",
                     file=bench_file, record=index, id=item.get("question_id"), field="answer")


def per_question_rows(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The ``per_question.jsonl`` lines of :func:`score_items`' rows, task by task in benchmark order."""
    keys = ("question_id", "task", "category", "prediction", "score", "parsed")
    return [{k: row.get(k) for k in keys} for task_rows in rows.values() for row in task_rows]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return " ".join(text.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" ")).strip()


def results_tsv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The text of a per-task results file: header ``image question answer prediction`` and one line per row."""
    lines = ["image\tquestion\tanswer\tprediction"]
    for row in rows:
        item = row["item"]
        answer = item["answer"] if item.get("answer") is not None else item.get("answers", [])
        if isinstance(answer, list) and len(answer) == 1:
            answer = answer[0]
        lines.append("\t".join(_cell(v) for v in (item.get("image") or "", item["text"], answer, row["prediction"])))
    return "\n".join(lines) + "\n"


def write_results(output_dir: str | Path, scores: Mapping[str, Mapping[str, Any]], rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Path]:
    """Write ``{task}.tsv`` per task, ``per_question.jsonl`` and ``scores.json`` into ``output_dir`` (created); return the paths.

    Every file is written atomically (complete or absent); ``scores.json`` is
    written last, so its presence marks a finished run.
    """
    out = make_output_dir(output_dir)
    written = []
    for task, task_rows in rows.items():
        path = out / f"{task}.tsv"
        with atomic_write(path) as handle:
            handle.write(results_tsv(task_rows))
        written.append(path)
    with atomic_write(out / "per_question.jsonl") as handle:
        for row in per_question_rows(rows):
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    written.append(out / "per_question.jsonl")
    written.append(write_json(out / "scores.json", scores, indent=2))
    return written


def scores_table(scores: Mapping[str, Mapping[str, Any]], title: str | None = None):
    """A ``rich`` table of ``scores``: one row per task and metric (fractions shown as percentages;
    CIDEr and MME scores as they are); a task scored by a non-official reading is marked so."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("task")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("n", justify="right")
    for task, values in scores.items():
        label = task if values.get("official", True) else f"{task} (not official)"
        shown_metrics = [(k, v) for k, v in values.items()
                         if k not in DESCRIPTIVE_KEYS and k != "n" and isinstance(v, (int, float)) and not isinstance(v, bool)]
        for i, (metric, value) in enumerate(shown_metrics):
            shown = f"{value:.4f}" if metric in RAW_METRICS else f"{100 * value:.2f}%"
            table.add_row(label if i == 0 else "", metric + (" *" if metric == values.get("headline") else ""), shown,
                          str(values.get("n", "")) if i == 0 else "")
        categories = values.get("categories") or {}
        if len(categories) > 1:  # POPE splits, MME subtasks, caption sources: each one's headline (MME: its score)
            for cat, cat_values in categories.items():
                metric = values.get("headline") if values.get("headline") in cat_values else "score"
                if metric in cat_values:
                    value = cat_values[metric]
                    shown = f"{value:.4f}" if metric in RAW_METRICS else f"{100 * value:.2f}%"
                    table.add_row("", f"  {cat} {metric}", shown, str(cat_values.get("n", "")))
    return table


def require_captions_extra(items: Iterable[Mapping[str, Any]]) -> None:
    """Refuse at once when caption questions with references are to be scored and pycocoevalcap is missing.

    Raises:
        MissingExtraError: naming the ``eval`` extra (:func:`dataoptim.extras.require_extra`).
    """
    from dataoptim.evaluate.benchmark import has_reference

    if any(item.get("task") == "caption" and has_reference(item) for item in items):
        from dataoptim.extras import require_extra

        require_extra("eval", "CIDEr (the benchmark has caption questions)")
