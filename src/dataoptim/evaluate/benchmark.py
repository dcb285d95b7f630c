"""The canonical benchmark file and the readers that convert other formats into it.

Canonical format (JSON Lines, one question a line)::

    {"question_id": "q1", "image": "coco/x.jpg", "text": "What is ...?", "task": "vqa",
     "answers": ["two", "2", ...]}                        # or "answer": "B"

- ``question_id``: string (numbers are turned into strings), unique in the file.
- ``image``: path relative to the image folder, or null for a text-only question.
- ``text``: the human turn given to the model. If it holds no ``<image>`` token,
  ``<image>\\n`` is put in front at inference (LLaVA's ``model_vqa`` rule); if it
  holds one (Shikra's grounding templates put it inline) it stays where it is.
- ``task``: one of :data:`TASKS`; it names the metric.
- the reference: ``answers`` (non-empty list of strings: the 10 VQA answers,
  several captions) or ``answer`` (string: a letter for ``mc``, a box for
  ``grounding``, yes/no for ``pope``). Optional when the file is only used to
  generate answers; required to score.
- optional: ``choices`` (list of option texts for ``mc``), ``category`` (a
  sub-group such as POPE's adversarial/popular/random), any other field (kept).

Readers (:func:`read_benchmark` picks one with ``format="auto"``):

- ``canonical``: the format above.
- ``dataoptim``: DataOptim's validation set (``dataoptim_val.json``, a JSON list of
  ``{image_id: "task/name", question, answer}``; images at ``{image_dir}/{image_id}.png``),
  the input of DataOptim's ``evaluation/run_llava_eval.py``.
- ``llava``: LLaVA's eval question files (``{question_id, image, text, category}``
  JSONL, ``playground/data/eval/*``), with answers from a separate file.
- ``records``: records of the dataoptim builders (a ``datasets.Dataset``, a list of
  records, a LLaVA JSON list or an Arrow folder saved with ``save_to_disk``): the
  last gpt turn is the reference (hold-out evaluation).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.io import atomic_write, iter_jsonl, read_json, require_file


class BenchmarkNote(UserWarning):
    """Something about the reference files worth saying that changes no score and is no error (printed as ``note:``).

    E.g. POPE label lines past a category's last question (ignored, as ``eval_pope.py`` ignores
    them), labels neither ``yes`` nor ``no`` (scored as yes, as ``eval_pope.py`` does), or
    ``answers`` that no question needed. Raised with :func:`warnings.warn`; the CLI prints each
    as one ``note:`` line (:func:`with_notes`).
    """


def _note(message: str) -> None:
    import warnings

    warnings.warn(message, BenchmarkNote, stacklevel=3)


def with_notes(function: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """``(function(*args, **kwargs), notes)``: the :class:`BenchmarkNote` messages it raised, in order (other warnings pass on)."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BenchmarkNote)
        result = function(*args, **kwargs)
    notes = []
    for w in caught:
        if issubclass(w.category, BenchmarkNote):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, notes

#: Task names of the canonical format; each names its scorer (:mod:`dataoptim.evaluate.tasks`).
TASKS = ("vqa", "textvqa", "gqa", "mc", "aokvqa", "caption", "grounding", "pope", "mme")
#: Reader names accepted by :func:`read_benchmark`.
FORMATS = ("auto", "canonical", "dataoptim", "llava", "records")
IMAGE_TOKEN = "<image>"
#: Tasks whose reference is one string (``answer``); the others take a list (``answers``).
SINGLE_ANSWER_TASKS = ("gqa", "mc", "aokvqa", "grounding", "pope", "mme")
#: MME's 14 subtask names (its result files are ``<subtask>.txt``); each names task ``mme`` (exact name only).
MME_SUBTASKS = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR",
                "commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")

#: Words in a DataOptim task prefix or a LLaVA file name that name a task.
TASK_ALIASES: dict[str, str] = {
    **{t: t for t in TASKS},
    "captioning": "caption", "coco": "caption", "cococap": "caption", "flickr30k": "caption",
    "flickr": "caption", "textcaps": "caption", "nocaps": "caption",
    "vqav2": "vqa", "okvqa": "vqa", "ocrvqa": "vqa", "vizwiz": "vqa", "docvqa": "vqa",
    "mcvqa": "mc", "scienceqa": "mc", "sqa": "mc", "mmbench": "mc", "seed": "mc",
    "multiple_choice": "mc", "multiplechoice": "mc",
    "rec": "grounding", "refcoco": "grounding", "refcocog": "grounding", "refcoco+": "grounding", "ref3rec": "grounding",
    "hallucination": "pope",
}
#: Builder ``task`` column (DESIGN §2) -> benchmark task. ``reg``, ``dialogue`` and
#: ``instruct`` answers are free text: scored with CIDEr against the one reference.
RECORD_TASKS: dict[str, str] = {
    "caption": "caption", "vqa": "vqa", "mcvqa": "mc", "rec": "grounding",
    "reg": "caption", "dialogue": "caption", "instruct": "caption",
}


# --------------------------------------------------------------------------------------
# canonical items
# --------------------------------------------------------------------------------------


def has_reference(item: Mapping[str, Any]) -> bool:
    """True if the item carries ``answers`` or ``answer``."""
    return item.get("answers") is not None or item.get("answer") is not None


def references(item: Mapping[str, Any]) -> list[str]:
    """The item's references as a list (``answers``, or ``[answer]``); empty if it has none."""
    if item.get("answers") is not None:
        return list(item["answers"])
    if item.get("answer") is not None:
        return [item["answer"]]
    return []


def check_item(obj: Any, *, file: str | None = None, index: int | None = None, require_reference: bool = False) -> dict:
    """Check one canonical benchmark line and return it normalised (``question_id`` as a string).

    Raises:
        InputError: naming file, record (line index), id and field: not an object,
            missing/ill-typed ``question_id``, ``text``, ``task``, ``image``,
            ``answers``/``answer``, ``choices``; a task outside :data:`TASKS`;
            no reference when ``require_reference``; an ``mc``/``aokvqa`` answer without a letter,
            a ``grounding`` answer without a box; an ``mme`` question whose ``category`` is no
            MME subtask or whose reference is not yes/no.
    """
    from dataoptim.evaluate.metrics import extract_choice, parse_box

    where: dict[str, Any] = {"file": file, "record": index}
    if not isinstance(obj, Mapping):
        raise InputError(f"a benchmark line must be a JSON object, found {type(obj).__name__}", **where)
    if "question_id" not in obj:
        raise InputError("missing", field="question_id", **where)
    qid = obj["question_id"]
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or qid == "":
        raise InputError(f"must be a non-empty string or an integer, found {qid!r}", field="question_id", **where)
    item = dict(obj)
    item["question_id"] = str(qid)
    where["id"] = item["question_id"]
    for key in ("text", "task"):
        if key not in item:
            raise InputError("missing", field=key, **where)
        if not isinstance(item[key], str) or not item[key].strip():
            raise InputError(f"must be a non-empty string, found {item[key]!r}", field=key, **where)
    if item["task"] not in TASKS:
        raise InputError(f"unknown task {item['task']!r} (expected one of {', '.join(TASKS)})", field="task", **where)
    image = item.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        raise InputError(f"must be a non-empty string or null, found {image!r}", field="image", **where)
    if item.get("answers") is not None:
        answers = item["answers"]
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
            raise InputError("must be a non-empty list of strings", field="answers", **where)
    if item.get("answer") is not None and not isinstance(item["answer"], str):
        raise InputError(f"must be a string, found {type(item['answer']).__name__}", field="answer", **where)
    if item.get("choices") is not None:
        choices = item["choices"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise InputError("must be a list of strings", field="choices", **where)
    if item["task"] == "mme" and item.get("category") not in MME_SUBTASKS:
        raise InputError(f"an MME question needs its subtask as 'category' (one of {', '.join(MME_SUBTASKS)}), "
                         f"found {item.get('category')!r}", field="category", **where)
    if not has_reference(item):
        if require_reference:
            raise InputError("no reference: give 'answers' (list) or 'answer' (string) to score", field="answer", **where)
        return item
    field = "answers" if item.get("answers") is not None else "answer"
    for ref in references(item):
        if item["task"] in ("mc", "aokvqa") and extract_choice(ref) is None:
            raise InputError(f"multiple-choice reference {ref!r} names no option letter", field=field, **where)
        if item["task"] in ("mme", "pope") and not isinstance(ref, str):
            raise InputError(f"must be a string, found {type(ref).__name__}", field=field, **where)
        if item["task"] == "mme" and ref.lower() not in ("yes", "no"):
            raise InputError(f"an MME reference must be yes or no (any case), found {ref!r}", field=field, **where)
        if item["task"] == "grounding" and parse_box(ref) is None:
            raise InputError(f"grounding reference {ref!r} holds no [x1, y1, x2, y2] box", field=field, **where)
    return item


def check_items(items: Iterable[Any], *, file: str | None = None, require_reference: bool = False,
                indexed: bool = False) -> list[dict]:
    """Check a sequence of canonical items (:func:`check_item`) and that question ids are unique.

    With ``indexed=True`` ``items`` yields ``(index, item)`` pairs (e.g. the line
    index of a JSONL file) and errors name that index.

    Raises:
        InputError: the first bad item, or a repeated ``question_id`` (naming both records).
    """
    out: list[dict] = []
    seen: dict[str, int] = {}
    pairs = items if indexed else enumerate(items)
    for index, obj in pairs:
        item = check_item(obj, file=file, index=index, require_reference=require_reference)
        qid = item["question_id"]
        if qid in seen:
            raise InputError(f"duplicate question_id, first used by record {seen[qid]}", file=file, record=index, id=qid, field="question_id")
        seen[qid] = index
        out.append(item)
    return out


def unique_ids(ids: Iterable[Any]) -> Iterator[str]:
    """Make repeated ids unique the same way for questions and predictions.

    The first occurrence keeps its id (as a string); the k-th repeat (k >= 2)
    becomes ``"{id}#{k}"``. LLaVA's MME file repeats ``question_id`` (two
    questions per image); LLaVA's answer files repeat it in the same order, so
    applying this to both sides pairs them.
    """
    counts: dict[str, int] = defaultdict(int)
    for raw in ids:
        qid = str(raw)
        counts[qid] += 1
        yield qid if counts[qid] == 1 else f"{qid}#{counts[qid]}"


def write_benchmark(items: Iterable[Mapping[str, Any]], path: str | Path) -> Path:
    """Write canonical items as JSON Lines, atomically (the file is complete or absent). Returns the path."""
    with atomic_write(path) as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return Path(path)


# --------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------


def read_canonical(path: str | Path, *, require_reference: bool = False) -> list[dict]:
    """Read a canonical benchmark JSONL file (see the module docstring).

    Raises:
        MissingFileError: no such file.
        InputError: bad JSON or a bad line (file, line index, id, field named).
    """
    path = require_file(path, "benchmark file")
    lines = iter_jsonl(path, what="benchmark file")
    return check_items(lines, file=str(path), require_reference=require_reference, indexed=True)


def task_from_name(name: str, task_map: Mapping[str, str] | None = None) -> str | None:
    """The task that a DataOptim prefix or a LLaVA file name names, or ``None``.

    ``task_map`` entries win (exact match on the lowercased name); otherwise the
    name is split on non-alphanumerics (``+`` kept) and the first word found in
    :data:`TASK_ALIASES` decides (``"llava_pope_test"`` -> ``pope``,
    ``"llava_textvqa_val_v051_ocr"`` -> ``textvqa``). An MME subtask name
    (:data:`MME_SUBTASKS`, whole name, any case) names ``mme``.
    """
    low = name.lower()
    if task_map:
        for key, task in task_map.items():
            if key.lower() == low:
                return task
    if low in (sub.lower() for sub in MME_SUBTASKS):
        return "mme"
    if low in TASK_ALIASES:
        return TASK_ALIASES[low]
    for word in re.split(r"[^a-z0-9+]+", low):
        if word in TASK_ALIASES:
            return TASK_ALIASES[word]
    return None


def _check_task_map(task_map: Mapping[str, str] | None) -> None:
    for key, task in (task_map or {}).items():
        if task not in TASKS:
            raise ConfigError(f"task map entry {key!r} -> {task!r}: the task must be one of {', '.join(TASKS)}")


def read_dataoptim(path: str | Path, *, task_map: Mapping[str, str] | None = None) -> list[dict]:
    """Read DataOptim's validation QAs (``dataoptim_val.json``) into canonical items.

    Input: a JSON list of ``{"image_id": "task/name", "question": str, "answer": str}``
    (DataOptim ``evaluation/run_llava_eval.py``). Output per element:
    ``question_id = image_id`` (repeats made unique by :func:`unique_ids`),
    ``image = image_id + ".png"``, ``text = question``, ``task`` from the prefix
    before the first ``/`` (:func:`task_from_name`, ``task_map`` first), and the
    reference as ``answer`` (``mc``, ``grounding``, ``pope``) or ``answers = [answer]``
    (``vqa``, ``caption``), ``answer`` for ``gqa``. The prefix is kept in ``category``.

    Raises:
        MissingFileError, InputError: unreadable file, an element that is not an
            object or lacks a string ``image_id``/``question``/``answer``.
        ConfigError: a prefix that names no task (say which with ``task_map``).
    """
    _check_task_map(task_map)
    path = require_file(path, "DataOptim validation file")
    data = read_json(path, expect=list, what="DataOptim validation file")
    raw_ids = []
    for index, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise InputError(f"an element must be a JSON object, found {type(obj).__name__}", file=path, record=index)
        for key in ("image_id", "question", "answer"):
            if key not in obj:
                raise InputError("missing", file=path, record=index, field=key)
            if not isinstance(obj[key], str):
                raise InputError(f"must be a string, found {type(obj[key]).__name__}", file=path, record=index, field=key)
        raw_ids.append(obj["image_id"])
    items = []
    for index, (obj, qid) in enumerate(zip(data, unique_ids(raw_ids))):
        prefix = obj["image_id"].split("/", 1)[0]
        task = task_from_name(prefix, task_map)
        if task is None:
            raise ConfigError(
                f"task prefix {prefix!r} names no task; map it with task_map / --task-map {prefix}=TASK "
                f"(TASK one of {', '.join(TASKS)})",
                file=path, record=index, id=qid, field="image_id")
        item = {"question_id": qid, "image": obj["image_id"] + ".png", "text": obj["question"], "task": task,
                "category": prefix}
        if task in SINGLE_ANSWER_TASKS:
            item["answer"] = obj["answer"]
        else:
            item["answers"] = [obj["answer"]]
        items.append(item)
    return check_items(items, file=str(path))


def read_llava(path: str | Path, *, task: str | None = None, answers: str | Path | Sequence[str | Path] | None = None,
               task_map: Mapping[str, str] | None = None) -> list[dict]:
    """Read a LLaVA eval question file (``{question_id, image, text, category}`` JSONL) into canonical items.

    ``text`` is kept as the prompt (LLaVA's files already end with their answer
    instruction, e.g. "Answer the question using a single word or phrase.").
    Repeated question ids (MME) are made unique with :func:`unique_ids`.

    Args:
        path: the question file (``playground/data/eval/<bench>/*.jsonl``).
        task: the task; default: from the file name (:func:`task_from_name`).
        answers: reference file(s), matched to the questions:

            - JSONL or JSON list with ``question_id`` and ``label`` / ``answers`` /
              ``answer`` / ``text`` (first present): POPE labels, LLaVA answer
              files (``qa90_gpt4_answer.jsonl``); matched by ``question_id``.
              A POPE label file named ``coco_pope_<category>.json`` is matched in
              order to the questions of that ``category`` (LLaVA's ``eval_pope.py`` rule);
              under another name, a file whose lines all hold ``text`` and ``label`` is a POPE
              label file too, of the category :func:`_pope_category` finds by content, and is
              paired the same way (by line order, its ``question_id``s not compared). Lines past
              the category's last question are ignored and labels other than ``yes``/``no``
              read as yes (as ``eval_pope.py`` does), each with a :class:`BenchmarkNote`.
            - a JSON object keyed by question id whose values have ``answer``
              (GQA ``testdev_balanced_questions.json``).
            - ``{"annotations": [{question_id, answers: [{answer}]}]}`` (VQAv2 / OK-VQA).
            - ``{"data": [{image_id, question, answers}]}`` (TextVQA): matched by
              image file stem and the first line of ``text``, lowercased
              (LLaVA's ``eval_textvqa.py`` rule).
        task_map: extra name -> task entries for the file-name rule.

    Raises:
        MissingFileError, InputError: unreadable files, bad lines, a question
            with no answer in ``answers`` (the first few are named).
        ConfigError: no task given and none found in the file name.
    """
    _check_task_map(task_map)
    path = require_file(path, "LLaVA question file")
    if task is None:
        task = task_from_name(path.stem, task_map)
        if task is None:
            raise ConfigError(f"cannot tell the task from the file name; pass task= / --task (one of {', '.join(TASKS)})", file=path)
    elif task not in TASKS:
        raise ConfigError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    rows: list[tuple[int, dict]] = []
    for index, obj in iter_jsonl(path, what="LLaVA question file"):
        for key in ("question_id", "text"):
            if key not in obj:
                raise InputError("missing", file=path, record=index, field=key)
        if not isinstance(obj["text"], str):
            raise InputError(f"must be a string, found {type(obj['text']).__name__}", file=path, record=index, field="text")
        rows.append((index, obj))
    items = []
    for (index, obj), qid in zip(rows, unique_ids(obj["question_id"] for _, obj in rows)):
        item = {k: v for k, v in obj.items() if k not in ("question_id",)}
        item.update(question_id=qid, task=task, image=obj.get("image"))
        items.append(item)
    if answers is not None:
        paths = [answers] if isinstance(answers, (str, Path)) else list(answers)
        _attach_answers(items, [Path(p) for p in paths], task)
    return check_items(zip((index for index, _ in rows), items), file=str(path), indexed=True)


def _check_answer_list(value: Any, *, file: Path, record: int, id: Any = None) -> None:
    """An answer file's ``answers`` must be a non-empty list of strings or of ``{"answer": string}`` (VQA's 10 answers).

    Raises:
        InputError: anything else (a plain string would be one answer in place of ten, silently), located.
    """
    ok = isinstance(value, list) and bool(value) and all(
        isinstance(v, str) or (isinstance(v, Mapping) and isinstance(v.get("answer"), str)) for v in value)
    if not ok:
        found = f"a string ({value!r})" if isinstance(value, str) else type(value).__name__
        raise InputError(f"must be a non-empty list of answers (strings or {{\"answer\": ...}} objects, VQA's 10 answers), found {found}",
                         file=file, record=record, id=None if id is None else str(id), field="answers")


def _answer_value(obj: Mapping[str, Any]) -> Any:
    for key in ("label", "answers", "answer", "text"):
        if obj.get(key) is not None:
            value = obj[key]
            if isinstance(value, list):  # VQA-style [{"answer": ...}] or plain strings
                value = [v["answer"] if isinstance(v, Mapping) and "answer" in v else v for v in value]
            return value
    return None


def _first_line(text: str) -> str:
    return text.replace(IMAGE_TOKEN, "").strip().split("\n", 1)[0].strip()


def _check_pope_row(obj: Any, item: Mapping[str, Any], path: Path, index: int, category: Any = None) -> None:
    """A POPE label line must carry ``label``, and its question (and image) must be the question it is paired with.

    LLaVA's ``eval_pope.py`` pairs a label file with the questions of its category by line
    order; a label file of another POPE version or order would pair silently with the wrong questions.
    """
    if not isinstance(obj, Mapping) or not isinstance(obj.get("label"), str):
        raise InputError(f"line {index + 1}: no 'label' (a POPE label file gives each question's yes/no label)",
                         file=path, record=index, id=item["question_id"], field="label")
    of = f" of category {category!r}" if category is not None else ""
    why = (f"the label file's lines are not the questions{of} in order (LLaVA's eval_pope.py pairs them by line order): "
           "it is of another POPE version or order")
    text = obj.get("text")
    if isinstance(text, str) and _first_line(text) != _first_line(item["text"]):
        raise InputError(f"line {index + 1}: question {text!r} is not question {item['question_id']!r} of the question file "
                         f"({_first_line(item['text'])!r}); {why}",
                         file=path, record=index, id=item["question_id"], field="text")
    image = obj.get("image")
    if isinstance(image, str) and isinstance(item.get("image"), str) and Path(image).name != Path(item["image"]).name:
        raise InputError(f"line {index + 1}: image {image!r} is not {item['image']!r} of question {item['question_id']!r}; {why}",
                         file=path, record=index, id=item["question_id"], field="image")


def _is_pope_labels(rows: Any) -> bool:
    """Whether answer-file rows are POPE label lines by their content: every row has a string ``text`` (the question) and ``label``."""
    return (isinstance(rows, list) and bool(rows)
            and all(isinstance(r, Mapping) and isinstance(r.get("text"), str) and isinstance(r.get("label"), str) for r in rows))


def _same_question(row: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """A label line and a question agree: first line of ``text``, and image file names where both give one."""
    return (_first_line(row["text"]) == _first_line(item["text"])
            and not (isinstance(row.get("image"), str) and isinstance(item.get("image"), str)
                     and Path(row["image"]).name != Path(item["image"]).name))


def _pope_category(rows: list[Mapping[str, Any]], items: list[dict], path: Path) -> Any:
    """The category of a POPE label file not named ``coco_pope_<category>.json``, by its content.

    The file is then paired with that category's questions by line order, exactly as a file
    named ``coco_pope_<category>.json`` (same checks, same refusals). Its category is:

    - the only category of the question file (a question file without ``category``: all its questions);
    - else the category whose questions are, in order, the label lines' questions (first line of
      ``text``, image file names where both give one), as far as both go;
    - else the category holding most of the label lines' questions (in another order: the pairing
      then refuses the first line out of place, naming it).

    Raises:
        InputError: the lines are, in order, the questions of several categories (the name must
            say which); none of them is a question of any category, or as many are of two categories.
    """
    categories = list(dict.fromkeys(it.get("category") for it in items))
    if len(categories) == 1:
        return categories[0]
    targets = {c: [it for it in items if it.get("category") == c] for c in categories}
    matches = [c for c in categories if all(_same_question(row, item) for row, item in zip(rows, targets[c]))]
    if len(matches) > 1:
        raise InputError(f"a POPE label file whose lines are, in order, the questions of several categories ({', '.join(map(repr, matches))}): "
                         "name it coco_pope_<category>.json (LLaVA's eval_pope.py takes the category from the name)", file=path)
    if matches:
        return matches[0]
    shared = {}
    for c in categories:
        texts = {_first_line(it["text"]) for it in targets[c]}
        pairs = {(_first_line(it["text"]), Path(it["image"]).name) for it in targets[c] if isinstance(it.get("image"), str)}
        shared[c] = sum(((_first_line(r["text"]), Path(r["image"]).name) in pairs) if isinstance(r.get("image"), str)
                        else (_first_line(r["text"]) in texts) for r in rows)
    most = max(shared.values(), default=0)
    best = [c for c in categories if shared[c] == most]
    if most == 0:
        raise InputError(f"a POPE label file none of whose lines is a question of the question file (first: {rows[0]['text']!r}); "
                         "its lines pair by line order with the questions of one category (LLaVA's eval_pope.py)", file=path)
    if len(best) > 1:
        raise InputError(f"a POPE label file whose lines are not, in order, the questions of any category; as many of them are questions "
                         f"of categories {', '.join(map(repr, best))}: name it coco_pope_<category>.json", file=path)
    return best[0]


def _pope_label_notes(labels: list[Any], path: Path) -> None:
    """Say (a note) how many labels are neither ``yes`` nor ``no``: ``eval_pope.py`` scores every label but ``no`` as yes."""
    from dataoptim.words import count

    odd = [label for label in labels if label not in ("yes", "no")]
    if odd:
        _note(f"{path}: {count(len(odd), 'label')} neither 'yes' nor 'no' (first: {odd[0]!r}), scored as yes "
              "as LLaVA's eval_pope.py scores every label other than 'no'")


def _pair_pope(items: list[dict], rows: list[Any], category: Any, path: Path) -> None:
    """Label the questions of ``category`` from a POPE label file's lines, in line order (LLaVA's ``eval_pope.py``).

    Lines past the category's last question are ignored, as ``eval_pope.py`` ignores them (it
    pairs by ``zip``), and a note says how many; each still needs ``label`` (``eval_pope.py``
    reads every line's). Fewer lines than questions is an error.
    """
    from dataoptim.words import count

    targets = [it for it in items if it.get("category") == category]
    of = f" of category {category!r}" if category is not None else ""
    if not targets and category is not None:  # eval_pope.py reads only the label files of the questions' categories
        present = sorted({str(it.get("category")) for it in items if it.get("category") is not None})
        _note(f"{path}: not used: the benchmark has no question of POPE category {category!r}"
              + (f" (its categories: {', '.join(present)})" if present else ""))
        return
    if len(targets) > len(rows):
        raise InputError(f"{count(len(rows), 'label')} for {count(len(targets), 'question')}{of}", file=path)
    for index, (item, obj) in enumerate(zip(targets, rows)):
        _check_pope_row(obj, item, path, index, category)
        item["answer"] = obj["label"]
    extra = rows[len(targets):]
    for index, obj in enumerate(extra, start=len(targets)):
        if not isinstance(obj, Mapping) or "label" not in obj:
            raise InputError(f"line {index + 1}: no 'label' (LLaVA's eval_pope.py reads every line's label, even past the last question)",
                             file=path, record=index, field="label")
    if extra:
        _note(f"{path}: {count(len(extra), 'label line')} past the last of the {count(len(targets), 'question')}{of} "
              "ignored, as LLaVA's eval_pope.py ignores them (it pairs lines and questions in order and stops at the last question)")
    _pope_label_notes([obj["label"] for obj in rows[:len(targets)]], path)


def _answer_rows(path: Path, task: str, jsonl: bool) -> Any:
    """An answer file's content: JSON Lines rows (``jsonl``, or a POPE file in JSON Lines under a ``.json`` name), else the JSON value."""
    if jsonl:
        return [obj for _, obj in iter_jsonl(path, what="answer file")]
    try:
        return read_json(path, what="answer file")
    except InputError:
        if task != "pope":
            raise
        try:  # POPE's own label files are JSON Lines named .json
            return [obj for _, obj in iter_jsonl(path, what="answer file")]
        except InputError:
            pass
        raise


def _attach_answers(items: list[dict], paths: list[Path], task: str) -> None:
    """Fill ``answer``/``answers`` of ``items`` in place from answer files (see :func:`read_llava`)."""
    by_id: dict[str, Any] = {}
    by_text: dict[tuple[str, str], Any] = {}
    pope_rows: dict[str, tuple[Path, int, Mapping[str, Any]]] = {}
    pope_files: dict[Any, tuple[Path, list[Any]]] = {}  # category -> the label file that labelled it, and its lines
    origin: dict[str, Path] = {}  # question id -> the answer file that gave its answer
    conflicts: dict[str, InputError] = {}  # question id -> two files that answer it differently (an error once a question needs it)

    def pair_once(rows: list[Any], category: Any, path: Path) -> None:
        if category in pope_files:
            if pope_files[category][1] == rows:  # the same labels again (the file twice, a copy): nothing depends on order
                return
            raise InputError(f"two label files for POPE category {category!r} that differ: {pope_files[category][0]} and {path}; "
                             "give one (the scores would depend on their order)", file=path)
        pope_files[category] = (path, rows)
        _pair_pope(items, rows, category, path)

    def give(qid: str, value: Any, path: Path, index: int | None = None) -> None:
        if qid in by_id and origin[qid] != path and by_id[qid] != value:
            conflicts[qid] = InputError(f"question {qid!r} has answer {by_id[qid]!r} in {origin[qid]} and {value!r} here; give answer "
                                        "files that agree (the scores would depend on their order)", file=path, record=index, id=qid)
        by_id[qid] = value
        origin[qid] = path

    for path in paths:
        path = require_file(path, "answer file")
        pope = re.fullmatch(r"coco_pope_(\w+)\.jsonl?", path.name)
        rows = _answer_rows(path, task, path.suffix == ".jsonl" or bool(pope))
        if (pope or task == "pope") and isinstance(rows, list) and not rows:  # named coco_pope_<category>.json or not
            raise InputError("the POPE label file is empty (it gives each question's yes/no label, one JSON object a line)", file=path)
        if pope:
            pair_once(rows, pope.group(1), path)
            continue
        if task == "pope" and isinstance(rows, Mapping) and "label" in rows:  # a one-line POPE file read as one JSON object
            rows = [rows]
        if task == "pope" and _is_pope_labels(rows):  # a POPE label file under another name: its category by content
            pair_once(rows, _pope_category(rows, items, path), path)
            continue
        if isinstance(rows, dict) and isinstance(rows.get("data"), list):  # TextVQA
            for index, obj in enumerate(rows["data"]):
                if not isinstance(obj, dict) or "image_id" not in obj or "question" not in obj:
                    raise InputError("a TextVQA record needs 'image_id' and 'question'", file=path, record=index)
                if obj.get("answers") is not None:
                    _check_answer_list(obj["answers"], file=path, record=index, id=obj.get("question_id"))
                    by_text[(str(obj["image_id"]), str(obj["question"]).strip().lower())] = obj["answers"]
            continue
        if isinstance(rows, dict) and isinstance(rows.get("annotations"), list):  # VQAv2 annotations
            rows = rows["annotations"]
        if isinstance(rows, dict):  # GQA: {qid: {"answer": ...}}
            for qid, obj in rows.items():
                if isinstance(obj, Mapping) and obj.get("answer") is not None:
                    give(str(qid), obj["answer"], path)
            continue
        if not isinstance(rows, list):
            raise InputError("unrecognised answer file layout", file=path)
        ids = []
        for index, obj in enumerate(rows):
            if not isinstance(obj, Mapping) or "question_id" not in obj:
                raise InputError("missing", file=path, record=index, field="question_id")
            ids.append(obj["question_id"])
        for index, (obj, qid) in enumerate(zip(rows, unique_ids(ids))):
            if task == "pope":  # a POPE label is 'label' (or 'answer'), never a question's 'text'
                value = obj.get("label", obj.get("answer"))
                if not isinstance(value, str):
                    raise InputError(f"line {index + 1}: no 'label' (a POPE label file gives each question's yes/no label)",
                                     file=path, record=index, id=qid, field="label")
                give(qid, value, path, index)
                if isinstance(obj.get("text"), str):  # the label line's question, checked against the question paired with it
                    pope_rows[qid] = (path, index, obj)
                continue
            if obj.get("label") is None and obj.get("answers") is not None:
                _check_answer_list(obj["answers"], file=path, record=index, id=qid)
            value = _answer_value(obj)
            if value is None:
                raise InputError("no answer: expected 'label', 'answers', 'answer' or 'text'", file=path, record=index, id=qid)
            give(qid, value, path, index)
        if task == "pope":  # labels by question_id (lines without the question's text): eval_pope.py's reading of odd labels
            _pope_label_notes([obj.get("label", obj.get("answer")) for obj in rows], path)
    missing = []
    for item in items:
        if has_reference(item):
            continue
        if item["question_id"] in conflicts:
            raise conflicts[item["question_id"]]
        value = by_id.get(item["question_id"])
        if value is None and by_text and item.get("image"):
            stem = Path(str(item["image"])).stem
            value = by_text.get((stem, item["text"].split("\n", 1)[0].strip().lower()))
        if value is None:
            missing.append(item["question_id"])
            continue
        if item["question_id"] in pope_rows:
            _check_pope_row(pope_rows[item["question_id"]][2], item, *pope_rows[item["question_id"]][:2])
        if isinstance(value, list):
            item["answers"] = [str(v) for v in value]
        elif task in SINGLE_ANSWER_TASKS:
            item["answer"] = str(value)
        else:
            item["answers"] = [str(value)]
    if missing:
        from dataoptim.words import count, plural

        raise InputError(f"{count(len(missing), 'question')} {plural(len(missing), 'has', 'have')} no answer in the "
                         f"{plural(len(paths), 'answer file')}, first: {', '.join(map(repr, missing[:5]))}",
                         file=", ".join(str(p) for p in paths))


def _mc_choices(text: str) -> list[str] | None:
    """Option texts of a DataOptim A-OKVQA prompt (lines ``A. ...`` to ``D. ...``), if present."""
    found = re.findall(r"^([A-H])\. (.*)$", text, flags=re.MULTILINE)
    if len(found) >= 2 and [f[0] for f in found] == [chr(ord("A") + i) for i in range(len(found))]:
        return [f[1] for f in found]
    return None


def _gqa_questions(paths: str | Path | Sequence[str | Path]) -> dict[str, tuple[Path, int, Any]]:
    """GQA question files read, not yet checked: ``{question id: (file, position in it, question)}``.

    A question id in two files must have the same ``answer`` in both (else the result would depend on their
    order): a question that does not is kept as the :class:`InputError` saying so, raised when it is used.

    Raises:
        MissingFileError: a file does not exist.
        InputError: not JSON, not an object keyed by question id, or one question with two answers.
    """
    found: dict[str, tuple[Path, int, Any]] = {}
    for path in [paths] if isinstance(paths, (str, Path)) else list(paths):
        questions = read_json(path, expect=dict, what="GQA question file")
        for index, (qid, question) in enumerate(questions.items()):
            earlier = found.get(str(qid))
            if (earlier is not None and earlier[0] != Path(path) and isinstance(earlier[2], Mapping) and isinstance(question, Mapping)
                    and earlier[2].get("answer") != question.get("answer")):
                # kept as the entry: an error only when a question needed is one of these (:func:`_gqa_short_answer`)
                question = InputError(f"GQA question {qid!r} has answer {earlier[2].get('answer')!r} in {earlier[0]} and "
                                      f"{question.get('answer')!r} here; give question files that agree (the scores would depend on "
                                      "their order)", file=path, record=index, id=str(qid), field="answer")
            found[str(qid)] = (Path(path), index, question)
    return found


def _gqa_short_answer(qid: str, entry: tuple[Path, int, Any]) -> str:
    """The short ``answer`` of one GQA question read by :func:`_gqa_questions`.

    Raises:
        InputError: the question holds no string ``answer`` (naming file, question id and field).
    """
    path, index, question = entry
    if isinstance(question, InputError):  # two question files answer it differently (:func:`_gqa_questions`)
        raise question
    value = question.get("answer") if isinstance(question, Mapping) else None
    if not isinstance(value, str):
        raise InputError(f"a GQA question needs its short answer as a string, found {value!r} "
                         "(a GQA question file: {question id: {imageId, question, answer, fullAnswer, ...}})",
                         file=path, record=index, id=qid, field="answer")
    return value


def gqa_short_answers(paths: str | Path | Sequence[str | Path]) -> dict[str, str]:
    """GQA's short answers by question id, read from GQA question files (every question checked).

    A GQA question file (``val_balanced_questions.json``, ``testdev_balanced_questions.json``, ...) is
    one JSON object keyed by question id whose values hold both ``answer`` (the short answer, e.g.
    ``"no"``) and ``fullAnswer`` (the sentence DataOptim trains on, ``"No, it is clear."``). GQA's
    official ``eval.py`` compares predictions with ``answer``. (:func:`from_records` reads only
    the questions its records need.)

    Args:
        paths: one file or several (a question in two files must have the same answer in both).

    Returns:
        ``{question_id: answer}``, ids as in the files (leading zeros kept).

    Raises:
        MissingFileError: a file does not exist.
        InputError: not JSON, not an object keyed by question id, or a question without a string
            ``answer`` (naming file, question id and field).
    """
    return {qid: _gqa_short_answer(qid, entry) for qid, entry in _gqa_questions(paths).items()}


def _gqa_asked(question: str) -> str:
    """A GQA record's question as GQA's question file words it: ``<image>`` and DataOptim's answer instruction dropped."""
    from dataoptim.prompts import VQA_SUFFIX

    return question.replace(IMAGE_TOKEN, "").strip().removesuffix(VQA_SUFFIX).strip()


def _gqa_question_id(rec: Mapping[str, Any], rid: str) -> str:
    """The GQA question id of a GQA record: its ``question_id`` column, else the id after its last ``_`` (``gqa_testdev_201307251``)."""
    qid = rec.get("question_id")
    return str(qid) if qid not in (None, "") else rid.rsplit("_", 1)[-1]


def from_records(records: Iterable[Mapping[str, Any]], *, file: str | None = None,
                 tasks: Sequence[str] | None = None,
                 answers: str | Path | Sequence[str | Path] | Mapping[str, str] | None = None) -> list[dict]:
    """Turn builder records (hold-out split) into canonical items.

    For each record (``id``, ``image``, ``conversations``, ``task``, ``source``):
    the question is the human turn before the last gpt turn, the reference is
    the last gpt turn; ``question_id`` is the record id. The benchmark task is
    ``gqa`` for ``source == "gqa"``, else :data:`RECORD_TASKS` of the record's
    ``task`` (``mcvqa`` -> ``mc`` with the letter as ``answer`` and the options as
    ``choices``, but ``aokvqa`` for source ``aokvqa``, keeping DataOptim's answer sentence;
    ``vqa`` from source ``textvqa`` -> ``textvqa``; ``rec`` -> ``grounding`` with the box as ``answer``; captions and
    free text -> ``caption``). A record without ``task`` is a caption only if it
    has one exchange; otherwise it needs ``task``.

    GQA records: their gpt turn is GQA's ``fullAnswer`` sentence (DataOptim's training answer),
    but GQA's official exact match (``eval.py``) compares the prediction with GQA's short
    ``answer``, which a record does not hold; against the sentence no short answer could ever
    match. So a GQA record's reference is its short answer from ``answers`` (GQA's question
    file, :func:`gqa_short_answers`), looked up by the record's ``question_id`` column (else the
    id after its last ``_``); the sentence is kept as ``full_answer``. Only the questions the
    kept records need are checked, and each one's ``question`` must be the record's question
    (``<image>`` and DataOptim's answer instruction left out). ``answers`` that no kept record
    needs are not used: a :class:`BenchmarkNote` says so.

    Args:
        records: a ``datasets.Dataset``, a list of dicts, or any iterable of records.
        file: where they came from (for messages).
        tasks: keep only items of these benchmark tasks.
        answers: GQA question file(s) (or a ready ``{question_id: answer}`` mapping) giving the
            short answers of GQA records; needed only when GQA records are kept.

    Raises:
        InputError: a record without ``id``/``conversations``, with no gpt turn,
            or with a ``task`` that maps to no benchmark task; a GQA record kept without
            ``answers``, or whose question id is not in them; a GQA question (of those needed)
            without a string ``answer`` or whose ``question`` is not the record's (naming the
            question file, question id and both texts).
        RecordError: a record that breaks the record rules (DESIGN §2, :func:`dataoptim.records.validate_record`).
    """
    from dataoptim.evaluate.metrics import extract_choice
    from dataoptim.records import validate_record

    short = gqa = None
    if isinstance(answers, Mapping):
        short = {str(k): v for k, v in answers.items()}
    elif answers is not None:
        gqa = _gqa_questions(answers)  # only the questions of the GQA records kept are checked
    items = []
    for index, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(f"a record must be an object, found {type(rec).__name__}", file=file, record=index)
        rid = rec.get("id")
        if not isinstance(rid, (str, int)) or rid == "":
            raise InputError("missing or not a string", file=file, record=index, field="id")
        # the record rules of DESIGN §2 (turns in order, values strings, one <image>...); text-only allowed
        validate_record({**rec, "id": str(rid)}, file=file, index=index, require_image=False)
        turns = rec.get("conversations")
        if not isinstance(turns, list) or len(turns) < 2:
            raise InputError("must be a list of at least two turns", file=file, record=index, id=str(rid), field="conversations")
        last = max((i for i, t in enumerate(turns) if isinstance(t, Mapping) and t.get("from") == "gpt"), default=None)
        if last is None or last == 0 or not isinstance(turns[last - 1], Mapping) or turns[last - 1].get("from") != "human":
            raise InputError("needs a human turn followed by a gpt turn", file=file, record=index, id=str(rid), field="conversations")
        question, answer = turns[last - 1].get("value"), turns[last].get("value")
        if not isinstance(question, str) or not isinstance(answer, str):
            raise InputError("turn values must be strings", file=file, record=index, id=str(rid), field=f"conversations[{last}].value")
        kind = rec.get("task")
        if rec.get("source") == "gqa":
            task = "gqa"
        elif kind is None:
            if len(turns) != 2:
                raise InputError("a multi-turn record needs a 'task' column", file=file, record=index, id=str(rid), field="task")
            task = "caption"
        elif kind in RECORD_TASKS:
            task = RECORD_TASKS[kind]
        else:
            raise InputError(f"task {kind!r} maps to no benchmark task (known: {', '.join(RECORD_TASKS)})",
                             file=file, record=index, id=str(rid), field="task")
        if task == "mc" and rec.get("source") == "aokvqa":
            task = "aokvqa"  # DataOptim's answer form "The correct option is B.", scored by that form's rule
        elif task == "vqa" and rec.get("source") == "textvqa":
            task = "textvqa"
        if tasks is not None and task not in tasks:
            continue
        if last - 1 != 0:  # a later turn: the <image> token is in the first turn, not here
            question = question.replace(IMAGE_TOKEN, "").strip()
        item: dict[str, Any] = {"question_id": str(rid), "image": rec.get("image"), "text": question, "task": task}
        if rec.get("source") is not None:
            item["category"] = rec["source"]
        if task == "mc":
            letter = extract_choice(answer)
            if letter is None:
                raise InputError(f"multiple-choice answer {answer!r} names no option letter", file=file, record=index,
                                 id=str(rid), field=f"conversations[{last}].value")
            item["answer"] = letter
            choices = _mc_choices(question)
            if choices:
                item["choices"] = choices
        elif task == "aokvqa":
            if extract_choice(answer) is None:
                raise InputError(f"multiple-choice answer {answer!r} names no option letter", file=file, record=index,
                                 id=str(rid), field=f"conversations[{last}].value")
            item["answer"] = answer
            choices = _mc_choices(question)
            if choices:
                item["choices"] = choices
        elif task == "gqa":
            if short is None and gqa is None:
                raise InputError("a GQA record's answer is GQA's fullAnswer sentence, but GQA's exact match scores the short "
                                 "'answer': give GQA's question file (answers= / --answers, e.g. testdev_balanced_questions.json)",
                                 file=file, record=index, id=str(rid), field="answer")
            qid = _gqa_question_id(rec, str(rid))
            if qid not in (short if short is not None else gqa):
                raise InputError(f"GQA question {qid!r} is not in the GQA question file(s) given as answers",
                                 file=file, record=index, id=str(rid), field="question_id")
            if short is not None:
                item["answer"] = short[qid]
            else:
                item["answer"] = _gqa_short_answer(qid, gqa[qid])
                path, position, entry = gqa[qid]
                asked, official = _gqa_asked(question), entry.get("question")
                if isinstance(official, str) and official.strip() != asked:  # as POPE label lines are checked
                    raise InputError(f"GQA question {qid!r} is {official!r} in the question file, but record {str(rid)!r}"
                                     f"{f' of {file}' if file else ''} asks {asked!r}: the question file is of another GQA version or split",
                                     file=path, record=position, id=qid, field="question")
            item["full_answer"] = answer
        elif task in ("grounding", "pope"):
            item["answer"] = answer
        else:
            item["answers"] = [answer]
        items.append(item)
    if answers is not None and not any(item["task"] == "gqa" for item in items):
        names = "(a mapping)" if isinstance(answers, Mapping) else ", ".join(
            str(p) for p in ([answers] if isinstance(answers, (str, Path)) else answers))
        _note(f"--answers {names} not used: no GQA record{' of the tasks kept' if tasks is not None else ''} in "
              f"{file or 'the records'} needs GQA's short answers (the only answers a records benchmark takes)")
    return check_items(items, file=file)


# --------------------------------------------------------------------------------------
# dispatcher
# --------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Guess the reader for a benchmark file from its first record.

    A folder is an Arrow dataset (``records``). A ``.jsonl`` line with ``task`` is
    ``canonical``; with ``conversations`` it is ``records``; with ``question_id``
    and ``text`` it is ``llava``. A ``.json`` list whose first element has
    ``image_id`` and ``question`` is ``dataoptim``; one with ``conversations`` is
    ``records``.

    Raises:
        MissingFileError: no such path.
        InputError: empty, unreadable, or no rule matches.
    """
    path = Path(path)
    if path.is_dir():
        return "records"
    require_file(path, "benchmark file")
    first: Any = None
    with open(path, "rb") as handle:
        head = handle.read(1 << 16).removeprefix(b"\xef\xbb\xbf").lstrip()  # a UTF-8 byte-order mark (the readers skip it)
    if head.startswith(b"{"):
        for _, obj in iter_jsonl(path, what="benchmark file"):
            first = obj
            break
    elif head.startswith(b"["):
        from dataoptim.io import iter_json_items

        for obj in iter_json_items(path, what="benchmark file"):
            first = obj
            break
        if isinstance(first, dict) and "image_id" in first and "question" in first:
            return "dataoptim"
        if isinstance(first, dict) and "conversations" in first:
            return "records"
        raise InputError("a JSON list benchmark must hold DataOptim validation QAs or records with 'conversations'", file=path)
    if not isinstance(first, dict):
        raise InputError("benchmark file is empty or not JSON Lines / a JSON list", file=path)
    if "task" in first and "text" in first:
        return "canonical"
    if "conversations" in first:
        return "records"
    if "question_id" in first and "text" in first:
        return "llava"
    raise InputError("cannot tell the benchmark format from the first line (expected canonical, LLaVA question or record fields)", file=path)


def read_benchmark(source: Any, format: str = "auto", *, task: str | None = None,
                   answers: str | Path | Sequence[str | Path] | None = None,
                   task_map: Mapping[str, str] | None = None, tasks: Sequence[str] | None = None) -> list[dict]:
    """Read a benchmark in any supported format and return canonical items (a list of dicts).

    Args:
        source: a path (file or Arrow folder), a ``datasets.Dataset`` or a list of
            records / canonical items.
        format: one of :data:`FORMATS`; ``"auto"`` uses :func:`detect_format`
            (and, for in-memory data, ``conversations`` -> records, else canonical).
        task: the task for a LLaVA question file (default: from its name).
        answers: answer file(s) for a LLaVA question file (see :func:`read_llava`), or GQA question
            file(s) for the GQA records of a records benchmark (see :func:`from_records`).
        task_map: ``{name: task}`` for DataOptim prefixes / LLaVA file names.
        tasks: for records, keep only these benchmark tasks.

    Raises:
        ConfigError: unknown ``format``; options that the format does not take.
        MissingFileError, InputError: as the chosen reader.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown benchmark format {format!r} (expected one of {', '.join(FORMATS)})")
    if not isinstance(source, (str, Path)):
        rows = source
        if format == "auto":
            first = next(iter(rows), None) if isinstance(rows, Sequence) or hasattr(rows, "column_names") else None
            format = "records" if isinstance(first, Mapping) and "conversations" in first else "canonical"
        if task is not None and format != "llava":
            raise ConfigError(f"task applies to LLaVA question files only (this benchmark reads as {format!r})")
        if format == "records":
            return from_records(rows, tasks=tasks, answers=answers)
        if format == "canonical":
            if answers is not None:
                raise ConfigError("answers apply to LLaVA question files and records (GQA question files) only (this benchmark reads as 'canonical')")
            return check_items(rows)
        raise ConfigError(f"format {format!r} needs a file path")
    path = Path(source)
    if not path.exists():
        raise MissingFileError("benchmark not found", file=path)
    if format == "auto":
        format = detect_format(path)
    if task is not None and format != "llava":
        raise ConfigError(f"task applies to LLaVA question files only (this benchmark reads as {format!r})", file=path)
    if answers is not None and format not in ("llava", "records"):
        raise ConfigError(f"answers apply to LLaVA question files and records (GQA question files) only (this benchmark reads as {format!r})", file=path)
    if format == "canonical":
        return read_canonical(path)
    if format == "dataoptim":
        return read_dataoptim(path, task_map=task_map)
    if format == "llava":
        return read_llava(path, task=task, answers=answers, task_map=task_map)
    return from_records(_load_records(path), file=str(path), tasks=tasks, answers=answers)


def _load_records(path: Path) -> Iterable[Mapping[str, Any]]:
    if path.is_dir():
        import datasets

        try:
            return datasets.load_from_disk(str(path))
        except FileNotFoundError as exc:
            raise InputError(f"not a dataset saved with save_to_disk: {exc}", file=path) from None
    if path.suffix == ".jsonl":
        return [obj for _, obj in iter_jsonl(path, what="records file")]
    return read_json(path, expect=list, what="records file")
