"""Answer benchmark questions with a model: batched, greedy, deterministic.

The model side is a small interface, :class:`Generator`: a callable that takes
prompts (the canonical ``text`` of each question), images (PIL images or
``None``) and ``max_new_tokens`` and returns one answer string per prompt.
:class:`HFGenerator` implements it for ``transformers``' ``LlavaForConditionalGeneration``
(checkpoints of ``dataoptim train``'s ``hf`` backend, llava-hf models, the tiny
random test model), using the trainer's ``llava_llama_2`` prompt
(:func:`dataoptim.train.format.inference_prompt`) and its left-padded batch
builder (:func:`dataoptim.train.model.prepare_generation_inputs`). Any other
backend plugs in by passing a callable with the same signature.

Decoding is greedy (``do_sample=False``, one beam) unless a temperature is
given. DataOptim's own ``run_llava_eval.py`` sampled at temperature 0.2 with
``max_new_tokens=1024``, so its scores changed from run to run; here the same
model gives the same answers, and batched and one-by-one generation agree
(left padding with an attention mask; tested on CPU with the tiny model).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

from dataoptim.errors import ConfigError, MissingFileError

if TYPE_CHECKING:  # pragma: no cover
    from dataoptim.imagepath import ImageFolder

#: Default answer budget in new tokens, per task. Answers are short phrases
#: ("Answer the question using a single word or phrase."), DataOptim's
#: "The correct option is B.", a box "[0.123, 0.456, 0.789, 1.0]." (about 30 Llama
#: tokens: one per digit), yes/no, and a one-sentence caption.
MAX_NEW_TOKENS: dict[str, int] = {"vqa": 64, "textvqa": 64, "gqa": 64, "mc": 32, "aokvqa": 32, "pope": 32, "mme": 32, "grounding": 64,
                                  "caption": 128}


class Generator(Protocol):
    """Anything that answers a batch of questions.

    ``generator(prompts, images, max_new_tokens) -> answers``: ``prompts`` are the
    canonical question texts (``<image>`` may be absent; the generator adds it
    for questions with an image), ``images`` one ``PIL.Image.Image`` or ``None``
    per prompt, ``answers`` one string per prompt, stripped.
    """

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int) -> list[str]: ...


class HFGenerator:
    """Generate with a ``transformers`` LLaVA model in the ``llava_llama_2`` format.

    Args:
        model: ``LlavaForConditionalGeneration`` (eval mode is set here).
        tokenizer: its fast tokenizer knowing ``<image>``.
        image_processor: its CLIP image processor.
        pad: pad images to a square with the CLIP mean colour (the recipe's
            ``image_aspect_ratio pad``; LLaVA's ``process_images`` does the same at
            evaluation for such a model).
        temperature: 0 (default) for greedy decoding; > 0 samples with
            ``torch.manual_seed(seed)`` before each batch (results then depend on batching).
        seed: seed for sampling.
        image_position: ``"inline"`` (default): a question holding ``<image>`` (a Shikra
            grounding template) keeps it where it is, as in training; one without gets
            ``<image>\n`` in front (LLaVA's ``model_vqa`` rule). ``"front"`` moves it to the front always.

    Calling it with ``n`` prompts returns ``n`` strings. A batch mixing questions
    with and without an image is split in two model calls.
    """

    def __init__(self, model, tokenizer, image_processor, *, pad: bool = True, temperature: float = 0.0,
                 seed: int = 0, image_position: str = "inline") -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.pad = pad
        if temperature < 0:
            raise ConfigError(f"temperature must be >= 0, found {temperature}")
        self.temperature = float(temperature)
        self.seed = seed
        self.image_position = image_position

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int) -> list[str]:
        answers: list[str | None] = [None] * len(prompts)
        for with_image in (True, False):
            rows = [i for i, image in enumerate(images) if (image is not None) == with_image]
            if rows:
                outs = self._generate([prompts[i] for i in rows], [images[i] for i in rows] if with_image else None, max_new_tokens)
                for i, text in zip(rows, outs):
                    answers[i] = text
        return [a or "" for a in answers]

    def _generate(self, prompts: Sequence[str], images: Sequence[Any] | None, max_new_tokens: int) -> list[str]:
        import torch
        from transformers import GenerationConfig

        from dataoptim.train.format import inference_prompt
        from dataoptim.train.model import prepare_generation_inputs

        texts = [inference_prompt(p, image=images is not None, image_position=self.image_position) for p in prompts]
        batch = prepare_generation_inputs(texts, images, self.model, self.tokenizer, self.image_processor, pad=self.pad)
        sample = self.temperature > 0
        config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=sample, num_beams=1,
            temperature=self.temperature if sample else None, top_p=None, top_k=None,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id,
        )
        if sample:
            torch.manual_seed(self.seed)
        with torch.inference_mode():
            out = self.model.generate(**batch, generation_config=config)
        new = out[:, batch["input_ids"].shape[1]:]
        return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]


class LlavaRepoGenerator:
    """Generate with LLaVA's own code (``haotian-liu/LLaVA``, the ``llava`` package), one question at a time.

    For checkpoints in LLaVA's own layout (what the ``llava`` training backend
    writes). Follows what DataOptim's ``evaluation/run_llava_eval.py`` does with
    LLaVA's API (``load_pretrained_model``, ``conv_templates["llava_llama_2"]``,
    ``tokenizer_image_token``, ``model.generate(input_ids, images=...)``), but
    greedy, and with the image padded to a square when the checkpoint was trained
    with ``image_aspect_ratio pad``. LLaVA's model code of that era does not mask
    left padding for images, so this backend does not batch.

    Not exercised by the test suite (the ``llava`` package is not installed there).

    Args:
        model_path: LLaVA checkpoint folder. model_base: base model for LoRA checkpoints.
        conv_mode: LLaVA conversation template (the recipe's ``llava_llama_2``).

    Raises:
        ConfigError: the ``llava`` package is not importable.
    """

    def __init__(self, model_path: str, model_base: str | None = None, *, conv_mode: str = "llava_llama_2",
                 temperature: float = 0.0, seed: int = 0) -> None:
        try:
            from llava.mm_utils import get_model_name_from_path
            from llava.model.builder import load_pretrained_model
        except ImportError as exc:
            raise ConfigError(f"backend 'llava' needs LLaVA's code installed (pip install -e a LLaVA checkout): {exc}") from None
        name = get_model_name_from_path(model_path)
        self.tokenizer, self.model, self.image_processor, _ = load_pretrained_model(model_path, model_base, name)
        self.conv_mode, self.temperature, self.seed = conv_mode, float(temperature), seed

    def __call__(self, prompts: Sequence[str], images: Sequence[Any], max_new_tokens: int) -> list[str]:
        import torch
        from llava.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX
        from llava.conversation import conv_templates
        from llava.mm_utils import tokenizer_image_token

        from dataoptim.train.images import pad_to_square

        device = next(self.model.parameters()).device
        dtype = next(self.model.parameters()).dtype
        answers = []
        for text, image in zip(prompts, images):
            if image is not None and DEFAULT_IMAGE_TOKEN not in text:
                text = DEFAULT_IMAGE_TOKEN + "\n" + text
            conv = conv_templates[self.conv_mode].copy()
            conv.append_message(conv.roles[0], text)
            conv.append_message(conv.roles[1], None)
            ids = tokenizer_image_token(conv.get_prompt(), self.tokenizer, IMAGE_TOKEN_INDEX, return_tensors="pt")
            kwargs: dict[str, Any] = {}
            if image is not None:
                if getattr(self.model.config, "image_aspect_ratio", None) == "pad":
                    image = pad_to_square(image)
                pixels = self.image_processor.preprocess(image, return_tensors="pt")["pixel_values"]
                kwargs["images"] = pixels.to(device=device, dtype=dtype)
            if self.temperature > 0:
                torch.manual_seed(self.seed)
            with torch.inference_mode():
                out = self.model.generate(ids.unsqueeze(0).to(device), do_sample=self.temperature > 0,
                                          temperature=self.temperature if self.temperature > 0 else None,
                                          max_new_tokens=max_new_tokens, use_cache=True, **kwargs)
            start = ids.shape[0] if out.shape[1] > ids.shape[0] and bool((out[0, :ids.shape[0]] == ids.to(out.device)).all()) else 0
            answers.append(self.tokenizer.decode(out[0, start:], skip_special_tokens=True).strip())
        return answers


def make_generator(model: Any, *, dtype: str | None = None, device: str | None = None, temperature: float = 0.0,
                   seed: int = 0, pad: bool = True, backend: str = "hf") -> Callable[..., list[str]]:
    """Turn what the user gave into a :class:`Generator`.

    Args:
        model: a :class:`Generator` callable (returned as is), a
            ``(model, tokenizer, image_processor)`` tuple, ``"tiny"`` (random test
            model) or a checkpoint path / hub id for
            :func:`dataoptim.train.model.load_model`.
        dtype, device: for loading (e.g. ``"bfloat16"``, ``"cuda"``).
        temperature, seed, pad: see :class:`HFGenerator`.
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
        return HFGenerator(*model, temperature=temperature, seed=seed, pad=pad)
    if isinstance(model, (str, Path)):
        from dataoptim.train.model import load_model

        return HFGenerator(*load_model(str(model), dtype=dtype, device=device), temperature=temperature, seed=seed, pad=pad)
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
                     progress: bool = False, allow_symlinks_out: bool = False) -> tuple[dict[str, str], dict[str, float]]:
    """Answer every canonical item; return ``({question_id: answer}, timing)``.

    Args:
        generator: a :class:`Generator`.
        items: canonical benchmark items.
        image_dir: folder the ``image`` paths are relative to.
        batch_size: questions per model call.
        max_new_tokens: one number for all tasks, or ``{task: n}`` over :data:`MAX_NEW_TOKENS`.
        file: benchmark file, for messages.
        progress: show a ``tqdm`` bar on stderr.
        allow_symlinks_out: follow links out of ``image_dir`` instead of refusing them (:mod:`dataoptim.imagepath`).

    Returns:
        Answers in benchmark order, and ``{"seconds", "questions_per_second"}``.

    Raises:
        MissingFileError, RecordError, ConfigError: from :func:`check_images`; ConfigError: a bad
            ``max_new_tokens`` (:func:`answer_budgets`) or ``batch_size``.
        ModelInputError: an image that cannot be decoded.
    """
    from dataoptim.train.images import load_image

    from dataoptim.imagepath import ImageFolder

    check_images(items, image_dir, file=file, allow_symlinks_out=allow_symlinks_out)
    folder = ImageFolder(image_dir, allow_symlinks_out=allow_symlinks_out) if image_dir is not None else None
    budgets = answer_budgets(max_new_tokens)
    batches = plan_batches(items, batch_size)
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
            outs = generator([items[i]["text"] for i in batch], images, budgets[items[batch[0]]["task"]])
            if len(outs) != len(batch):
                raise RuntimeError(f"the generator returned {len(outs)} answers for {len(batch)} questions")
            for i, text in zip(batch, outs):
                answers[items[i]["question_id"]] = text
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:  # closed before an error goes up, so the bar is not redrawn after the error line
            bar.close()
    seconds = time.perf_counter() - start
    ordered = {item["question_id"]: answers[item["question_id"]] for item in items}
    return ordered, {"seconds": seconds, "questions_per_second": len(items) / seconds if seconds > 0 else 0.0}
