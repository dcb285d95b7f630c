"""ScienceQA (Lu et al., NeurIPS 2022): multiple-choice science questions; DataOptim keeps those with an image.

Original files (lupantech/ScienceQA, ``data/scienceqa/``): ``problems.json``, an
object keyed by problem id, and ``pid_splits.json``, the problem ids of each split::

    problems.json   {"5": {"question": "Which figure of speech is used in this text?", "choices": ["chiasmus", "apostrophe"],
                           "answer": 1, "hint": "Sing, O goddess, ...", "image": "image.png" | null,
                           "task": "closed choice", "grade": "grade11", "subject": "language science",
                           "topic": "figurative-language", "category": "...", "skill": "...",
                           "lecture": "...", "solution": "...", "split": "train"}, ...}
    pid_splits.json {"train": ["1", "2", ...], "val": [...], "test": [...], "minival": [...], ...}

DataOptim's records are the 6,218 train problems with an image ("Only data with
image context are involved", its README). Image ``scienceqa/{pid}/{image}``:
DataOptim keeps ScienceQA's own layout, one folder per problem id
(``scienceqa/1/image.png``; README commit 1d5e09f). Splits ``validation`` and
``test`` come from ``val`` and ``test`` (ids ``scienceqa_validation_{pid}``...).

Prompt: DataOptim uses "the instructions and templates designed by M3IT and
randomly sample[s] one". M3IT's instruction file
(MMInstruction/M3IT ``data/reasoning/science_qa/instructions.json``, a JSON list
of strings) is read when it is in the data folder as ``instructions.json``;
without it, five stand-in instructions shipped with dataoptim
(``data/templates/scienceqa_instructions.json``; see ``ATTRIBUTION.md`` there)
are used. One is picked per record with :func:`dataoptim.prompts.stable_choice`.
The human turn is ``<image>\\n{instruction}\\n`` + ``Context: {hint}\\n`` (when the
problem has one) + ``Question: {question}\\nOptions: (A) {c0} (B) {c1} ...``; the
answer is ``The correct option is {letter}.`` (the multiple-choice answer DataOptim
writes for A-OKVQA). M3IT's exact template, and DataOptim's ids, could not be
checked: ``dataoptim sources`` marks the original files unverified, and
DataOptim's converted ``scienceqa.json`` passes through unchanged.
Ids ``scienceqa_{pid}``. Native columns: ``question_id`` (pid).
"""

from __future__ import annotations

import functools
import json
import string
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from dataoptim.builder import SourceBuilder, annotation_errors
from dataoptim.builders.docvqa import non_empty_text
from dataoptim.errors import InputError
from dataoptim.io import iter_json_object, read_json
from dataoptim.prompts import stable_choice
from dataoptim.records import IMAGE_TOKEN, check_image_path, make_record, two_turns

#: ``pid_splits.json`` key of each split built.
SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}
#: M3IT's instruction file, read from the data folder when present.
M3IT_INSTRUCTIONS = "instructions.json"
LETTERS = string.ascii_uppercase


@functools.lru_cache(maxsize=None)
def stand_in_instructions() -> tuple[str, ...]:
    """The five stand-in instructions shipped with dataoptim (used without M3IT's file)."""
    path = resources.files("dataoptim.data").joinpath("templates", "scienceqa_instructions.json")
    return tuple(json.loads(path.read_text(encoding="utf-8")))


def check_instructions(value: Any) -> tuple[str, ...]:
    """An instruction list read from a file: a non-empty JSON list of non-empty strings.

    Raises:
        ValueError: anything else.
    """
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be a non-empty JSON list of non-empty strings (M3IT's instructions.json)")
    return tuple(value)


def options_text(choices: Sequence[str]) -> str:
    """``(A) first (B) second ...`` for 2 to 26 choices.

    Raises:
        ValueError: fewer than 2 choices, more than 26, or an empty one.
    """
    if not isinstance(choices, list) or not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"'choices' must be a list of 2 to {len(LETTERS)} options, found {choices!r}")
    return " ".join(f"({LETTERS[i]}) {non_empty_text(c, f'choices[{i}]')}" for i, c in enumerate(choices))


def human_turn(problem: Mapping[str, Any], instruction: str) -> str:
    """``<image>\\n{instruction}\\n[Context: {hint}\\n]Question: {question}\\nOptions: (A) ... (B) ...``.

    Raises:
        KeyError: ``question`` or ``choices`` missing. ValueError: a bad value.
    """
    hint = problem.get("hint") or ""
    if not isinstance(hint, str):
        raise ValueError(f"'hint' must be a string, found {hint!r}")
    context = f"Context: {hint.strip()}\n" if hint.strip() else ""
    question = non_empty_text(problem["question"], "question")
    return f"{IMAGE_TOKEN}\n{instruction}\n{context}Question: {question}\nOptions: {options_text(problem['choices'])}"


def answer_turn(problem: Mapping[str, Any]) -> str:
    """``The correct option is {letter}.`` for the 0-based ``answer`` index.

    Raises:
        KeyError: ``answer`` missing. ValueError: not an index into ``choices``.
    """
    index = problem["answer"]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(problem["choices"]):
        raise ValueError(f"'answer' must be the index of a choice, found {index!r}")
    return f"The correct option is {LETTERS[index]}."


def problem_to_record(pid: str, problem: Mapping[str, Any], *, record_id: str, instructions: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """One problem with an image → one multiple-choice record.

    Args:
        pid: problem id (the image folder's name).
        problem: its entry in ``problems.json`` (``image`` not null).
        record_id: ``scienceqa_{pid}`` (``scienceqa_validation_{pid}`` ...).
        instructions: the instructions one is picked from (:func:`stable_choice` of ``record_id``, ``seed``).

    Raises:
        KeyError: a field missing. ValueError: a bad value. RecordError: an unsafe image path.
    """
    image = check_image_path(f"scienceqa/{pid}/{non_empty_text(problem['image'], 'image')}", field="image")
    instruction = stable_choice(instructions, record_id, seed)
    return make_record(record_id, image, two_turns(human_turn(problem, instruction), answer_turn(problem)),
                       source="scienceqa", task="mcvqa", question_id=pid)


class ScienceQA(SourceBuilder):
    """ScienceQA problems with an image as LLaVA records: 6,218 train problems in DataOptim's release."""

    SOURCE = "scienceqa"
    ORIGINAL_FILES = {split: {"problems": ("problems.json",), "splits": ("pid_splits.json",)} for split in SPLIT_KEYS}
    DESCRIPTION = "ScienceQA: 21K multiple-choice science questions from elementary and high school curricula; the ones with an image context."
    HOMEPAGE = "https://scienceqa.github.io/"
    LICENSE = "CC BY-NC-SA 4.0"
    CITATION = """@inproceedings{lu2022learn,
  title={Learn to Explain: Multimodal Reasoning via Thought Chains for Science Question Answering},
  author={Lu, Pan and Mishra, Swaroop and Xia, Tony and Qiu, Liang and Chang, Kai-Wei and Zhu, Song-Chun and Tafjord, Oyvind and Clark, Peter and Kalyan, Ashwin},
  booktitle={NeurIPS},
  year={2022}
}"""
    DOWNLOAD = "https://github.com/lupantech/ScienceQA (data/scienceqa/problems.json, pid_splits.json); M3IT's instructions.json from https://huggingface.co/datasets/MMInstruction/M3IT (data/reasoning/science_qa/)"

    def instructions(self) -> tuple[str, ...]:
        """M3IT's instructions if ``instructions.json`` is in the data folder, else the stand-ins."""
        path = self.available_files().get(M3IT_INSTRUCTIONS)
        if path is None:
            return stand_in_instructions()
        try:
            return check_instructions(read_json(path, what="M3IT ScienceQA instructions file"))
        except ValueError as exc:
            raise InputError(str(exc), file=path) from None

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        splits_path = files["splits"]
        pid_splits = read_json(splits_path, expect=dict, what="ScienceQA pid_splits.json")
        key = SPLIT_KEYS[split]
        pids = pid_splits.get(key)
        if not isinstance(pids, list):
            raise InputError(f"must map {key!r} to a list of problem ids", file=splits_path, field=key)
        wanted = {str(p): i for i, p in enumerate(pids)}
        instructions = self.instructions()
        path = files["problems"]
        found = 0
        for index, (pid, problem) in enumerate(iter_json_object(path, what="ScienceQA problems.json")):
            if pid not in wanted:
                continue
            found += 1
            with annotation_errors(path, index, pid):
                if not isinstance(problem, Mapping):
                    raise ValueError(f"a problem must be an object, found {type(problem).__name__}")
                if problem.get("image") is None:  # DataOptim keeps only problems with an image context
                    continue
                record = problem_to_record(pid, problem, record_id=self.record_id(pid, split), instructions=instructions, seed=self.config.seed)
            yield record
        if found != len(wanted):
            missing = next(p for p in wanted if p not in _seen_pids(path))
            raise InputError(f"{len(wanted) - found} problem id(s) of split {key!r} are not in {path.name} (first: {missing!r})",
                             file=splits_path, field=key)


def _seen_pids(path: Path) -> set[str]:
    return {pid for pid, _ in iter_json_object(path, what="ScienceQA problems.json")}
