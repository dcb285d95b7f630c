"""Generation protocols: how a question becomes a prompt, an image a tensor, and the output an answer.

Three protocols, each a fixed set of :class:`TaskSettings` per task:

``default``
    Greedy and deterministic, batched, with the checkpoint's own image
    processing and ``<image>`` placement as recorded in its ``trained_with.json``
    (:mod:`dataoptim.train.trained_with`). A checkpoint without that file keeps
    the behaviour of earlier releases (``<image>`` left where the question has it;
    images padded unless its ``config.json`` records ``image_aspect_ratio``, as
    LLaVA's checkpoints do) and the run says so in one note. Answer budgets per task:
    :data:`~dataoptim.evaluate.generate.MAX_NEW_TOKENS`.

``dataoptim``
    DataOptim's ``evaluation/run_llava_eval.py`` (BAAI-DCAI/DataOptim, last
    changed in commit 61135d3, removed in f030e08): ``<image>\\n`` + the question
    in the ``llava_llama_2`` conversation, the image through
    ``image_processor.preprocess`` without padding (resize the short side,
    centre crop), ``do_sample=True, temperature=0.2, max_new_tokens=1024``, a
    stop at the template's separator ``<s>`` (``KeywordsStoppingCriteria``), the
    answer stripped, a trailing ``<s>`` removed, stripped again, and every
    ``\\n`` replaced by a space. The script sets no seed; here every question is
    sampled after ``torch.manual_seed`` of a number derived from the recorded
    seed and the question id (:func:`question_seed`), so a run repeats exactly
    and an answer does not depend on which questions came before it.
    ``top_p``/``top_k`` are not set by the script, so ``generate`` takes them
    from the checkpoint's generation config, as here.

``llava``
    LLaVA's per-benchmark eval scripts as released with LLaVA-1.5 in
    haotian-liu/LLaVA commit ce1aa08 (2023-10-11, the commit after the
    challenge's 744cb3e, which has no such scripts), all run with
    ``--temperature 0`` (greedy, one beam):

    - ``vqa``, ``gqa``, ``pope``, ``mme``, ``textvqa`` (``scripts/v1_5/eval/{vqav2,gqa,pope,mme,textvqa}.sh``
      → ``llava/eval/model_vqa_loader.py``): ``<image>\\n`` + the question file's text,
      which ends with "Answer the question using a single word or phrase." (added
      here when missing); images through ``process_images``, which pads when the
      checkpoint was trained with ``image_aspect_ratio pad``; ``max_new_tokens=128``.
    - ``mc`` (``sqa.sh`` → ``model_vqa_science.py --single-pred-prompt``): ``<image>``
      removed and put in front, "\\nAnswer with the option's letter from the given
      choices directly." appended, ``image_processor.preprocess`` without padding,
      ``max_new_tokens=1024``.
    - any other task (``caption``, ``grounding``, ...; ``llavabench.sh``/``mmvet.sh`` →
      ``model_vqa.py``): ``<image>\\n`` + the text, ``preprocess`` without padding,
      ``max_new_tokens=1024``.

    Answers are stripped, a trailing separator ``<s>`` removed, and stripped again.
    The conversation template is the checkpoint's (the scripts pass the model's own
    ``--conv-mode``).

Options given by the caller (``--temperature``, ``--max-new-tokens``,
``--image-aspect-ratio``, ``--image-position``, ``--seed``) override any protocol.
Everything a protocol chose is recorded (:func:`protocol_record`) in ``scores.json``.
On CUDA, the ``dataoptim`` and ``llava`` protocols load a checkpoint in ``float16``
unless a dtype is given (both scripts load through LLaVA's ``load_pretrained_model``,
which uses ``float16``, and cast the image tensor with ``.half()``).
Imports no ``torch``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any, Iterable, Mapping

from dataoptim.errors import ConfigError

PROTOCOLS = ("default", "dataoptim", "llava")
#: Where each protocol comes from.
FOLLOWS = {
    "default": "dataoptim: greedy, batched, the checkpoint's own image processing (trained_with.json)",
    "dataoptim": "BAAI-DCAI/DataOptim 61135d3 evaluation/run_llava_eval.py",
    "llava": "haotian-liu/LLaVA ce1aa08 scripts/v1_5/eval/*.sh (llava/eval/model_vqa_loader.py, model_vqa_science.py, model_vqa.py)",
}
#: The answer instruction LLaVA's question files for VQAv2, GQA, TextVQA, POPE and MME end with.
SHORT_ANSWER = "Answer the question using a single word or phrase."
#: ``model_vqa_science.py --single-pred-prompt``'s instruction.
LETTER_ANSWER = "Answer with the option's letter from the given choices directly."
#: The separator of ``llava_llama_2`` (``conv.sep``, LLaVA 744cb3e ``llava/conversation.py``), LLaVA's ``stop_str`` for that template.
LLAMA_2_SEP = "<s>"
#: Tasks LLaVA answers with ``model_vqa_loader.py`` (short answers, ``process_images``).
LLAVA_LOADER_TASKS = ("vqa", "gqa", "pope", "mme", "textvqa")
#: Images: ``pad`` (expand to a square with the processor's mean colour, then the processor) or ``square`` (the processor alone: resize, centre crop).
ASPECT_RATIOS = ("pad", "square")
IMAGE_POSITIONS = ("front", "inline")
#: What a checkpoint without ``trained_with.json`` is evaluated with (the behaviour before the file existed).
LEGACY = {"image_position": "inline", "image_aspect_ratio": "pad"}


@dataclass(frozen=True)
class TaskSettings:
    """How one task's questions are generated.

    Attributes:
        image_position: ``front`` (``<image>`` removed and put in front, then ``\\n``) or
            ``inline`` (kept where the question has it; ``<image>\\n`` in front if absent).
        image_aspect_ratio: ``pad`` or ``square`` (see :data:`ASPECT_RATIOS`).
        max_new_tokens: answer budget in new tokens (>= 1).
        temperature: 0 for greedy decoding; > 0 samples (one question per model call).
        top_p: nucleus sampling mass, or None: the checkpoint's generation config decides.
        seed: the run's seed; a question is sampled after seeding with :func:`question_seed`.
        prompt_suffix: appended to the question after ``\\n`` unless the question already ends with it ("" = none).
        strip_question: remove ``<image>`` from the question and strip it before the suffix
            (``model_vqa_science.py``; the generator then puts ``<image>\\n`` in front).
        stop_string: text that ends the answer: removed from its end (LLaVA's ``stop_str``).
        stop_at_string: also stop generating when ``stop_string`` (or the BOS token) comes out
            (LLaVA's ``KeywordsStoppingCriteria``, as ``run_llava_eval.py`` uses it).
        newlines_to_spaces: replace every ``\\n`` of the answer by a space.
        conversation_template: the prompt format (only ``llava_llama_2`` is implemented).
        system_prompt: its system prompt.
        follows: the reference script these settings follow.
    """

    image_position: str
    image_aspect_ratio: str
    max_new_tokens: int
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    prompt_suffix: str = ""
    strip_question: bool = False
    stop_string: str | None = None
    stop_at_string: bool = False
    newlines_to_spaces: bool = False
    conversation_template: str = "llava_llama_2"
    system_prompt: str | None = None
    follows: str = ""

    @property
    def pad(self) -> bool:
        """True when images are padded to a square first."""
        return self.image_aspect_ratio == "pad"

    @property
    def sample(self) -> bool:
        """True when decoding samples (``temperature > 0``)."""
        return self.temperature > 0

    def prompt(self, question: str) -> str:
        """The question (``<image>`` removed and stripped if :attr:`strip_question`) with :attr:`prompt_suffix` appended
        (after ``\\n``) unless it already ends with it."""
        if self.strip_question:
            question = question.replace("<image>", "").strip()
        if self.prompt_suffix and not question.rstrip().endswith(self.prompt_suffix):
            return question + "\n" + self.prompt_suffix
        return question

    def answer(self, text: str) -> str:
        """Post-process a decoded answer: strip; drop a trailing :attr:`stop_string` and strip again; newlines to spaces."""
        text = text.strip()
        if self.stop_string and text.endswith(self.stop_string):
            text = text[: -len(self.stop_string)]
        text = text.strip()
        if self.newlines_to_spaces:
            text = text.replace("\n", " ")
        return text

    def record(self) -> dict[str, Any]:
        """The settings as JSON-able data (without the system prompt, recorded once per run)."""
        out = asdict(self)
        out.pop("system_prompt")
        out["decoding"] = "sampling" if self.sample else "greedy"
        return out


def question_seed(seed: int, question_id: Any) -> int:
    """The seed one sampled question is generated with: 63 bits of SHA-256 of ``"{seed}/{question_id}"``.

    The same (run seed, question) always gives the same number, whatever else is in the run.
    """
    digest = hashlib.sha256(f"{seed}/{question_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _check_overrides(overrides: Mapping[str, Any]) -> None:
    if overrides.get("image_position") is not None and overrides["image_position"] not in IMAGE_POSITIONS:
        raise ConfigError(f"image position must be one of {', '.join(IMAGE_POSITIONS)}, found {overrides['image_position']!r}")
    if overrides.get("image_aspect_ratio") is not None and overrides["image_aspect_ratio"] not in ASPECT_RATIOS:
        raise ConfigError(f"image aspect ratio must be one of {', '.join(ASPECT_RATIOS)}, found {overrides['image_aspect_ratio']!r}")
    temperature = overrides.get("temperature")
    if temperature is not None and (isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0):
        raise ConfigError(f"temperature must be a number >= 0, found {temperature!r}")
    top_p = overrides.get("top_p")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigError(f"top_p must be in (0, 1], found {top_p!r}")
    seed = overrides.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"seed must be an integer >= 0, found {seed!r}")


def base_settings(protocol: str, task: str, checkpoint: Mapping[str, Any] | None) -> TaskSettings:
    """The protocol's settings for ``task`` before the caller's overrides.

    Args:
        protocol: one of :data:`PROTOCOLS`.
        task: a benchmark task name.
        checkpoint: the checkpoint's ``trained_with.json`` content, or None (:data:`LEGACY` then).

    Raises:
        ConfigError: an unknown protocol.
    """
    from dataoptim.evaluate.generate import FALLBACK_BUDGET, MAX_NEW_TOKENS
    from dataoptim.train.format import SYSTEM_PROMPT, VERSION

    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {', '.join(PROTOCOLS)}, found {protocol!r}")
    own = dict(LEGACY) if checkpoint is None else {k: checkpoint[k] for k in ("image_position", "image_aspect_ratio")}
    template = (checkpoint or {}).get("conversation_template") or VERSION
    system = (checkpoint or {}).get("system_prompt")
    system = SYSTEM_PROMPT if system is None else system
    common = dict(conversation_template=template, system_prompt=system)
    if protocol == "default":
        return TaskSettings(own["image_position"], own["image_aspect_ratio"], MAX_NEW_TOKENS.get(task, FALLBACK_BUDGET),
                            follows=FOLLOWS["default"], **common)
    if protocol == "dataoptim":
        return TaskSettings("front", "square", 1024, temperature=0.2, stop_string=LLAMA_2_SEP, stop_at_string=True,
                            newlines_to_spaces=True, follows=FOLLOWS["dataoptim"], conversation_template=VERSION,
                            system_prompt=SYSTEM_PROMPT)
    stop = LLAMA_2_SEP if template == VERSION else None
    if task in LLAVA_LOADER_TASKS:
        return TaskSettings("front", own["image_aspect_ratio"], 128, prompt_suffix=SHORT_ANSWER, stop_string=stop,
                            follows="haotian-liu/LLaVA ce1aa08 llava/eval/model_vqa_loader.py", **common)
    if task == "mc":
        return TaskSettings("front", "square", 1024, prompt_suffix=LETTER_ANSWER, strip_question=True, stop_string=stop,
                            follows="haotian-liu/LLaVA ce1aa08 llava/eval/model_vqa_science.py --single-pred-prompt", **common)
    return TaskSettings("front", "square", 1024, stop_string=stop, follows="haotian-liu/LLaVA ce1aa08 llava/eval/model_vqa.py", **common)


def resolve(protocol: str, tasks: Iterable[str], checkpoint: Mapping[str, Any] | None = None, *,
            max_new_tokens: int | Mapping[str, int] | None = None, **overrides: Any) -> dict[str, TaskSettings]:
    """Settings per task: the protocol's (:func:`base_settings`), then the caller's overrides.

    Args:
        protocol: ``default``, ``dataoptim`` or ``llava``.
        tasks: the benchmark's tasks.
        checkpoint: ``trained_with.json`` content, or None.
        max_new_tokens: one budget for every task, or ``{task: n}`` for some.
        overrides: any of ``image_position``, ``image_aspect_ratio``, ``temperature``, ``top_p``,
            ``seed`` (None values are ignored).

    Returns:
        ``{task: TaskSettings}``.

    Raises:
        ConfigError: an unknown protocol or override, a bad value, a budget that is not an integer >= 1,
            or a conversation template other than ``llava_llama_2``.
    """
    from dataoptim.evaluate.generate import answer_budgets
    from dataoptim.train.format import VERSION

    unknown = set(overrides) - {"image_position", "image_aspect_ratio", "temperature", "top_p", "seed"}
    if unknown:
        raise ConfigError(f"unknown generation option(s): {', '.join(sorted(unknown))}")
    _check_overrides(overrides)
    answer_budgets(max_new_tokens)  # checks the values
    given = {k: v for k, v in overrides.items() if v is not None}
    if "temperature" in given:
        given["temperature"] = float(given["temperature"])
    out = {}
    for task in dict.fromkeys(tasks):
        settings = replace(base_settings(protocol, task, checkpoint), **given)
        if isinstance(max_new_tokens, Mapping):
            if task in max_new_tokens:
                settings = replace(settings, max_new_tokens=max_new_tokens[task])
        elif max_new_tokens is not None:
            settings = replace(settings, max_new_tokens=max_new_tokens)
        if settings.conversation_template != VERSION:
            raise ConfigError(f"the checkpoint was trained with the conversation template {settings.conversation_template!r}; "
                              f"the evaluator implements {VERSION!r} only")
        out[task] = settings
    return out


def protocol_record(protocol: str, settings: Mapping[str, TaskSettings], *, seed: int, source: str,
                    overrides: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """What ``scores.json`` records under ``"protocol"``: name, reference, seed, where the settings came from, per-task settings.

    Args:
        protocol: its name.
        settings: from :func:`resolve`.
        seed: the run's seed.
        source: where the image settings came from (the checkpoint's ``trained_with.json``, or the legacy defaults).
        overrides: the options the caller set (None values dropped).
        extra: more run-level settings (``dtype``, ``batch_size``...).
    """
    first = next(iter(settings.values()), None)
    return {
        "name": protocol,
        "follows": FOLLOWS[protocol],
        "seed": seed,
        "seeding": "each sampled question: torch.manual_seed(question_seed(seed, question_id)), "
                   "63 bits of sha256('{seed}/{question_id}'); greedy questions use no randomness",
        "training_settings": source,
        "conversation_template": None if first is None else first.conversation_template,
        "system_prompt": None if first is None else first.system_prompt,
        "overrides": {k: v for k, v in (overrides or {}).items() if v is not None},
        **extra,
        "tasks": {task: s.record() for task, s in settings.items()},
    }
