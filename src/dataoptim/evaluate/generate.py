"""Answer benchmark questions with a model: batched, greedy, deterministic by default.

The model side is a small interface, :class:`Generator`: a callable that takes
prompts (the canonical ``text`` of each question), images (PIL images or
``None``) and ``max_new_tokens`` and returns one answer string per prompt.
:class:`HFGenerator` implements it for ``transformers``' ``LlavaForConditionalGeneration``
(checkpoints of ``dataoptim train``'s ``hf`` backend, llava-hf models, the tiny
random test model), using the trainer's ``llava_llama_2`` prompt
(:func:`dataoptim.train.format.inference_prompt`) and its left-padded batch
builder (:func:`dataoptim.train.model.prepare_generation_inputs`). Any other
backend plugs in by passing a callable with the same signature.

How a question is asked (``<image>`` placement, padding or crop, decoding,
answer budget, prompt suffix, answer clean-up) is a *protocol*
(:mod:`dataoptim.evaluate.protocol`): :func:`generate_answers` takes
per-task :class:`~dataoptim.evaluate.protocol.TaskSettings` and hands them to
generators that declare ``takes_settings = True`` (both built-in ones). The
default protocol is greedy (``do_sample=False``, one beam): the same model gives
the same answers, and batched and one-by-one generation agree (left padding with
an attention mask; tested on CPU with the tiny model). DataOptim's own
``run_llava_eval.py`` sampled at temperature 0.2 with ``max_new_tokens=1024``
(``--protocol dataoptim``); sampled questions are generated one at a time, each
after seeding with :func:`~dataoptim.evaluate.protocol.question_seed`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from dataoptim.errors import ConfigError, MissingFileError

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.evaluate.protocol import TaskSettings
    from dataoptim.imagepath import ImageFolder

#: Default answer budget in new tokens, per task. Answers are short phrases
#: ("Answer the question using a single word or phrase."), DataOptim's
#: "The correct option is B.", a box "[0.123, 0.456, 0.789, 1.0]." (about 30 Llama
#: tokens: one per digit), yes/no, and a one-sentence caption.
MAX_NEW_TOKENS: dict[str, int] = {"vqa": 64, "textvqa": 64, "gqa": 64, "mc": 32, "aokvqa": 32, "pope": 32, "mme": 32, "grounding": 64,
                                  "caption": 128}
#: Budget of a task :data:`MAX_NEW_TOKENS` does not list.
FALLBACK_BUDGET = 64


class Generator(Protocol):
    """Anything that answers a batch of questions.

    ``generator(prompts, images, max_new_tokens) -> answers``: ``prompts`` are the
    canonical question texts (``<image>`` may be absent; the generator adds it
    for questions with an image), ``images`` one ``PIL.Image.Image`` or ``None``
    per prompt, ``answers`` one string per prompt, stripped.

    A generator with the attribute ``takes_settings = True`` is also given
    ``settings=`` (a :class:`~dataoptim.evaluate.protocol.TaskSettings`: image
    placement, padding, decoding, stop string) and ``keys=`` (the question ids,
    for per-question seeds).
    """

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int) -> list[str]: ...


def _keyword_stop(tokenizer, keyword: str, start: int):
    """LLaVA's ``KeywordsStoppingCriteria`` (``llava/mm_utils.py`` at 744cb3e), for every row of a batch.

    A row stops when its last tokens are the keyword's ids (the keyword encoded
    without its leading BOS: ``"<s>"`` gives the BOS id itself), or when its last
    ``min(new tokens, 3)`` tokens, decoded without special tokens, contain the keyword.
    """
    import torch
    from transformers import StoppingCriteria

    ids = list(tokenizer(keyword)["input_ids"])
    if len(ids) > 1 and ids[0] == tokenizer.bos_token_id:
        ids = ids[1:]
    keyword_ids = torch.tensor(ids)

    class KeywordStop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            n = keyword_ids.shape[0]
            offset = min(input_ids.shape[1] - start, 3)
            done = []
            for row in input_ids:
                hit = row.shape[0] >= n and bool((row[-n:] == keyword_ids.to(row.device)).all())
                if not hit and offset > 0:
                    hit = keyword in tokenizer.decode(row[-offset:], skip_special_tokens=True)
                done.append(hit)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return KeywordStop()


class HFGenerator:
    """Generate with a ``transformers`` LLaVA model in the ``llava_llama_2`` format.

    Args:
        model: ``LlavaForConditionalGeneration`` (eval mode is set here).
        tokenizer: its fast tokenizer knowing ``<image>``.
        image_processor: its CLIP image processor.
        pad: pad images to a square with the CLIP mean colour (the recipe's
            ``image_aspect_ratio pad``; LLaVA's ``process_images`` does the same at
            evaluation for such a model). Used when called without ``settings``.
        temperature: 0 (default) for greedy decoding; > 0 samples, one question per
            model call, each after ``torch.manual_seed(question_seed(seed, key))``.
        seed: seed for sampling.
        image_position: ``"inline"`` (default): a question holding ``<image>`` (a Shikra
            grounding template) keeps it where it is; one without gets ``<image>\\n`` in
            front (LLaVA's ``model_vqa`` rule). ``"front"`` moves it to the front always,
            as LLaVA's training does (``preprocess_multimodal``).

    Calling it with ``n`` prompts returns ``n`` strings. A batch mixing questions
    with and without an image is split in two model calls. Given ``settings``
    (:class:`~dataoptim.evaluate.protocol.TaskSettings`), those replace the
    constructor's image position, padding, temperature, ``top_p``, seed, system
    prompt and keyword stop.
    """

    takes_settings = True

    def __init__(self, model, tokenizer, image_processor, *, pad: bool = True, temperature: float = 0.0,
                 seed: int = 0, image_position: str = "inline") -> None:
        from dataoptim.evaluate.protocol import TaskSettings

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, found {temperature}")
        self.defaults = TaskSettings(image_position, "pad" if pad else "square", 1, temperature=float(temperature), seed=seed)

    @property
    def pad(self) -> bool:
        return self.defaults.pad

    @property
    def temperature(self) -> float:
        return self.defaults.temperature

    @property
    def seed(self) -> int:
        return self.defaults.seed

    @property
    def image_position(self) -> str:
        return self.defaults.image_position

    def decoding(self, settings: TaskSettings) -> dict[str, Any]:
        """The sampling values ``generate`` will use with ``settings``: ``top_p`` and ``top_k`` (the checkpoint's generation config, else transformers' 1.0 and 50)."""
        config = getattr(self.model, "generation_config", None)
        top_p = settings.top_p if settings.top_p is not None else getattr(config, "top_p", None)
        top_k = getattr(config, "top_k", None)
        return {"top_p": 1.0 if top_p is None else top_p, "top_k": 50 if top_k is None else top_k}

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int, *,
                 settings: TaskSettings | None = None, keys: Sequence[Any] | None = None) -> list[str]:
        settings = self.defaults if settings is None else settings
        keys = list(prompts) if keys is None else list(keys)
        answers: list[str | None] = [None] * len(prompts)
        for with_image in (True, False):
            rows = [i for i, image in enumerate(images) if (image is not None) == with_image]
            groups = [[i] for i in rows] if settings.sample else ([rows] if rows else [])  # sampled: one question per call
            for group in groups:
                outs = self._generate([prompts[i] for i in group], [images[i] for i in group] if with_image else None,
                                      max_new_tokens, settings, seed_key=keys[group[0]] if settings.sample else None)
                for i, text in zip(group, outs):
                    answers[i] = text
        return [a or "" for a in answers]

    def _generate(self, prompts: Sequence[str], images: Sequence[Any] | None, max_new_tokens: int, settings: TaskSettings,
                  seed_key: Any = None) -> list[str]:
        import torch
        from transformers import GenerationConfig, StoppingCriteriaList

        from dataoptim.evaluate.protocol import question_seed
        from dataoptim.records import IMAGE_TOKEN
        from dataoptim.train.format import SYSTEM_PROMPT, inference_prompt
        from dataoptim.train.model import prepare_generation_inputs

        system = SYSTEM_PROMPT if settings.system_prompt is None else settings.system_prompt
        # a question without <image> gets "<image>\n" + the question as it is (LLaVA's and DataOptim's scripts);
        # "front" moves an <image> the question holds to the front (LLaVA's training, preprocess_multimodal)
        texts = [inference_prompt(p, image=images is not None, system=system,
                                  image_position=settings.image_position if IMAGE_TOKEN in p else "inline") for p in prompts]
        batch = prepare_generation_inputs(texts, images, self.model, self.tokenizer, self.image_processor, pad=settings.pad)
        sample = settings.sample
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=sample, num_beams=1,
            temperature=settings.temperature if sample else None, top_p=settings.top_p if sample else None, top_k=None,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id,
        )
        start = batch["input_ids"].shape[1]
        extra: dict[str, Any] = {}
        if settings.stop_at_string and settings.stop_string:
            extra["stopping_criteria"] = StoppingCriteriaList([_keyword_stop(self.tokenizer, settings.stop_string, start)])
        if sample:
            torch.manual_seed(question_seed(settings.seed, seed_key))
        with torch.inference_mode():
            out = self.model.generate(**batch, generation_config=config, **extra)
        new = out[:, start:]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]


class LlavaRepoGenerator:
    """Generate with LLaVA's own code (``haotian-liu/LLaVA``, the ``llava`` package), one question at a time.

    For checkpoints in LLaVA's own layout (what the ``llava`` training backend
    writes). Follows what DataOptim's ``evaluation/run_llava_eval.py`` does with
    LLaVA's API (``load_pretrained_model``, ``conv_templates["llava_llama_2"]``,
    ``tokenizer_image_token``, ``model.generate(input_ids, images=...)``). Without
    protocol settings: greedy, ``<image>`` moved to the front as LLaVA's training
    does, and the image padded to a square when the checkpoint's config says
    ``image_aspect_ratio pad`` (what LLaVA's checkpoints record). LLaVA's model code
    of that era does not mask left padding for images, so this backend does not batch.

    Not exercised by the test suite (the ``llava`` package is not installed there).

    Args:
        model_path: LLaVA checkpoint folder. model_base: base model for LoRA checkpoints.
        conv_mode: LLaVA conversation template (the recipe's ``llava_llama_2``).

    Raises:
        ConfigError: the ``llava`` package is not importable.
    """

    takes_settings = True

    def __init__(self, model_path: str, model_base: str | None = None, *, conv_mode: str = "llava_llama_2",
                 temperature: float = 0.0, seed: int = 0) -> None:
        from dataoptim.evaluate.protocol import TaskSettings

        try:
            from llava.mm_utils import get_model_name_from_path
            from llava.model.builder import load_pretrained_model
        except ImportError as exc:
            raise ConfigError(f"backend 'llava' needs LLaVA's code installed (pip install -e a LLaVA checkout): {exc}") from None
        name = get_model_name_from_path(model_path)
        self.tokenizer, self.model, self.image_processor, _ = load_pretrained_model(model_path, model_base, name)
        self.conv_mode = conv_mode
        aspect = "pad" if getattr(self.model.config, "image_aspect_ratio", None) == "pad" else "square"
        self.defaults = TaskSettings("front", aspect, 1, temperature=float(temperature), seed=seed)

    @property
    def trained_with(self) -> dict[str, Any]:
        """What LLaVA's checkpoint records: its ``image_aspect_ratio``; LLaVA's training always puts ``<image>`` in front."""
        return {"image_position": "front", "image_aspect_ratio": self.defaults.image_aspect_ratio,
                "conversation_template": self.conv_mode}

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int, *,
                 settings: TaskSettings | None = None, keys: Sequence[Any] | None = None) -> list[str]:
        import torch
        from llava.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
        from llava.conversation import conv_templates
        from llava.mm_utils import KeywordsStoppingCriteria, tokenizer_image_token

        from dataoptim.evaluate.protocol import question_seed
        from dataoptim.train.format import place_image_token
        from dataoptim.train.images import pad_to_square

        settings = self.defaults if settings is None else settings
        keys = list(prompts) if keys is None else list(keys)
        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        answers = []
        for text, image, key in zip(prompts, images, keys):
            if image is not None:
                if DEFAULT_IMAGE_TOKEN not in text:
                    text = DEFAULT_IMAGE_TOKEN + "\n" + text
                else:
                    text = place_image_token(text, settings.image_position)
            conv = conv_templates[self.conv_mode].copy()
            conv.append_message(conv.roles[0], text)
            conv.append_message(conv.roles[1], None)
            ids = tokenizer_image_token(conv.get_prompt(), self.tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt").unsqueeze(0).to(device)
            kwargs: dict[str, Any] = {}
            if image is not None:
                if settings.pad:
                    image = pad_to_square(image, tuple(int(x * 255) for x in self.image_processor.image_mean))
                pixels = self.image_processor.preprocess(image, return_tensors="pt")["pixel_values"]
                kwargs["images"] = pixels.to(device=device, dtype=dtype)
            if settings.stop_at_string and settings.stop_string:
                kwargs["stopping_criteria"] = [KeywordsStoppingCriteria([settings.stop_string], self.tokenizer, ids)]
            if settings.top_p is not None:  # unset: the checkpoint's generation config decides, as in the scripts
                kwargs["top_p"] = settings.top_p
            if settings.sample:
                torch.manual_seed(question_seed(settings.seed, key))
            with torch.inference_mode():
                out = self.model.generate(ids, do_sample=settings.sample, temperature=settings.temperature,
                                          max_new_tokens=max_new_tokens, use_cache=True, **kwargs)
            start = ids.shape[1] if out.shape[1] > ids.shape[1] and bool((out[0, :ids.shape[1]] == ids[0].to(out.device)).all()) else 0
            answers.append(self.tokenizer.decode(out[0, start:], skip_special_tokens=True).strip())
        return answers


def make_generator(model: Any, *, dtype: str | None = None, device: str | None = None, temperature: float = 0.0,
                   seed: int = 0, pad: bool = True, image_position: str = "inline", backend: str = "hf") -> Callable[..., list[str]]:
    """Turn what the user gave into a :class:`Generator`.

    Args:
        model: a :class:`Generator` callable (returned as is), a
            ``(model, tokenizer, image_processor)`` tuple, ``"tiny"`` (random test
            model) or a checkpoint path / hub id for
            :func:`dataoptim.train.model.load_model`.
        dtype, device: for loading (e.g. ``"bfloat16"``, ``"cuda"``).
        temperature, seed, pad, image_position: see :class:`HFGenerator` (what it does when called without
            protocol settings).
        backend: ``"hf"`` (``transformers``, :class:`HFGenerator`) or ``"llava"``
            (LLaVA's own code, :class:`LlavaRepoGenerator`; ``model`` is a path).

    Raises:
        MissingFileError, ConfigError: from ``load_model``; an unknown backend.
    """
    if backend not in ("hf", "llava"):
        raise ConfigError(f"unknown backend {backend!r} (use 'hf' or 'llava')")
    if backend == "llava":
        if not isinstance(model, (str, Path)):
            raise ConfigError("backend 'llava' takes a checkpoint path")
        return LlavaRepoGenerator(str(model), temperature=temperature, seed=seed)
    if callable(model) and not isinstance(model, (str, Path)) and not hasattr(model, "generate"):
        return model
    if isinstance(model, tuple) and len(model) == 3:
        return HFGenerator(*model, temperature=temperature, seed=seed, pad=pad, image_position=image_position)
    if isinstance(model, (str, Path)):
        from dataoptim.train.model import load_model

        return HFGenerator(*load_model(str(model), dtype=dtype, device=device), temperature=temperature, seed=seed, pad=pad,
                           image_position=image_position)
    raise ConfigError(f"model must be a path, 'tiny', a (model, tokenizer, image_processor) tuple or a generator callable, "
                      f"found {type(model).__name__}")


def image_path(item: Mapping[str, Any], image_dir: str | Path | ImageFolder, *, file: str | None = None, index: int | None = None,
               allow_symlinks_out: bool = False) -> Path | None:
    """The image file of a canonical item inside ``image_dir``, or ``None`` if it has no image.

    The path goes through the rule every entry point applies (:mod:`dataoptim.imagepath`).
    ``image_dir`` may be an :class:`~dataoptim.imagepath.ImageFolder` (its own
    ``allow_symlinks_out`` applies then).

    Raises:
        RecordError: the path is absolute or leaves ``image_dir`` (``..``).
        UnsafeInputError: followed through links, it leads out of ``image_dir`` (unless ``allow_symlinks_out``).
    """
    from dataoptim.imagepath import resolve_image

    image = item.get("image")
    if image is None:
        return None
    return resolve_image(image_dir, image, allow_symlinks_out=allow_symlinks_out, file=file, record=index, id=item.get("question_id"))


def check_images(items: Sequence[Mapping[str, Any]], image_dir: str | Path | None, *, file: str | None = None,
                 allow_symlinks_out: bool = False) -> None:
    """Fail before any generation if an image is missing or its path escapes ``image_dir``.

    Raises:
        ConfigError: items have images but ``image_dir`` is None.
        MissingFileError: ``image_dir`` does not exist, or image files are missing
            (how many, and the first one with its question).
        RecordError: an unsafe image path.
        UnsafeInputError: an image that leads out of ``image_dir`` through a link (unless ``allow_symlinks_out``).
    """
    from dataoptim.imagepath import ImageFolder

    needs = [i for i, item in enumerate(items) if item.get("image") is not None]
    if not needs:
        return
    if image_dir is None:
        raise ConfigError("the benchmark has images: give image_dir / --image-dir")
    folder = ImageFolder(image_dir, allow_symlinks_out=allow_symlinks_out)
    missing = []
    for i in needs:
        path = image_path(items[i], folder, file=file, index=i)
        if not path.is_file():
            missing.append((i, path))
    if missing:
        i, path = missing[0]
        raise MissingFileError(f"{len(missing)} image file(s) missing, first {str(path)!r}", file=file,
                               record=i, id=items[i]["question_id"], field="image")


def answer_budgets(max_new_tokens: int | Mapping[str, int] | None = None) -> dict[str, int]:
    """New tokens per task: :data:`MAX_NEW_TOKENS`, one number for every task, or those updated from ``{task: n}``.

    Raises:
        ConfigError: a budget that is not an integer >= 1.
    """
    budgets = dict(MAX_NEW_TOKENS)
    if isinstance(max_new_tokens, Mapping):
        given = list(max_new_tokens.items())
        budgets.update(max_new_tokens)
    elif max_new_tokens is not None:
        given = [(None, max_new_tokens)]
        budgets = {task: max_new_tokens for task in budgets}
    else:
        given = []
    for task, n in given:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            which = "" if task is None else f" of task {task!r}"
            raise ConfigError(f"max_new_tokens{which} must be an integer >= 1, found {n!r}")
    return budgets


def plan_batches(items: Sequence[Mapping[str, Any]], batch_size: int) -> list[list[int]]:
    """Group item indices into batches of at most ``batch_size``, one task per batch.

    Items keep benchmark order inside a task; tasks come in order of first
    appearance. One task per batch keeps one ``max_new_tokens`` per model call.

    Raises:
        ConfigError: ``batch_size < 1``.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, found {batch_size}")
    by_task: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_task.setdefault(item["task"], []).append(i)
    return [idx[s:s + batch_size] for idx in by_task.values() for s in range(0, len(idx), batch_size)]


def generate_answers(generator: Callable[..., list[str]], items: Sequence[Mapping[str, Any]], image_dir: str | Path | None, *,
                     batch_size: int = 8, max_new_tokens: int | Mapping[str, int] | None = None, file: str | None = None,
                     progress: bool = False, allow_symlinks_out: bool = False,
                     settings: Mapping[str, TaskSettings] | None = None) -> tuple[dict[str, str], dict[str, float]]:
    """Answer every canonical item; return ``({question_id: answer}, timing)``.

    Args:
        generator: a :class:`Generator`.
        items: canonical benchmark items.
        image_dir: folder the ``image`` paths are relative to.
        batch_size: questions per model call.
        max_new_tokens: one number for all tasks, or ``{task: n}`` over :data:`MAX_NEW_TOKENS`
            (ignored when ``settings`` are given: they hold the budgets).
        file: benchmark file, for messages.
        progress: show a ``tqdm`` bar on stderr.
        allow_symlinks_out: follow links out of ``image_dir`` instead of refusing them (:mod:`dataoptim.imagepath`).
        settings: ``{task: TaskSettings}`` from :func:`dataoptim.evaluate.protocol.resolve`: each
            question gets its task's prompt suffix, the answer its clean-up, and a generator
            with ``takes_settings`` the settings themselves and the question ids.
            None: the question text as is, answers as the generator returns them.

    Returns:
        Answers in benchmark order, and ``{"seconds", "questions_per_second"}``.

    Raises:
        MissingFileError, RecordError, ConfigError: from :func:`check_images`; ConfigError: a bad
            ``max_new_tokens`` (:func:`answer_budgets`) or ``batch_size``, a task without settings.
        ModelInputError: an image that cannot be decoded.
    """
    from dataoptim.train.images import load_image

    from dataoptim.imagepath import ImageFolder

    check_images(items, image_dir, file=file, allow_symlinks_out=allow_symlinks_out)
    folder = ImageFolder(image_dir, allow_symlinks_out=allow_symlinks_out) if image_dir is not None else None
    budgets = answer_budgets(max_new_tokens)
    batches = plan_batches(items, batch_size)
    if settings is not None:
        absent = sorted({item["task"] for item in items} - set(settings))
        if absent:
            raise ConfigError(f"no generation settings for task(s) {', '.join(map(repr, absent))}")
    takes = settings is not None and bool(getattr(generator, "takes_settings", False))
    answers: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="q", desc="generating")
    start = time.perf_counter()
    try:
        for batch in batches:
            images = []
            for i in batch:
                path = image_path(items[i], folder, file=file, index=i) if folder is not None else None
                images.append(None if path is None else load_image(path, file=file, record=i, id=items[i]["question_id"], field="image"))
            task = items[batch[0]]["task"]
            if settings is None:
                outs = generator([items[i]["text"] for i in batch], images, budgets.get(task, FALLBACK_BUDGET))
            else:
                s = settings[task]
                prompts = [s.prompt(items[i]["text"]) for i in batch]
                if takes:
                    outs = generator(prompts, images, s.max_new_tokens, settings=s, keys=[items[i]["question_id"] for i in batch])
                else:
                    outs = generator(prompts, images, s.max_new_tokens)
            if len(outs) != len(batch):
                raise RuntimeError(f"the generator returned {len(outs)} answers for {len(batch)} questions")
            for i, text in zip(batch, outs):
                answers[items[i]["question_id"]] = text if settings is None else settings[task].answer(text)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:  # closed before an error goes up, so the bar is not redrawn after the error line
            bar.close()
    seconds = time.perf_counter() - start
    ordered = {item["question_id"]: answers[item["question_id"]] for item in items}
    return ordered, {"seconds": seconds, "questions_per_second": len(items) / seconds if seconds > 0 else 0.0}
