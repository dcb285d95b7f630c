"""Models for the trainer and the evaluator: tiny random LLaVA, the recipe's start model, checkpoints.

Every model here is a ``transformers`` ``LlavaForConditionalGeneration`` (the
llava-hf layout: ``model.vision_tower`` = CLIP vision encoder,
``model.multi_modal_projector`` = ``linear_1 → act → linear_2``,
``model.language_model`` = Llama decoder, ``lm_head``), with a fast tokenizer
that knows ``<image>`` and a CLIP image processor.

The recipe's projector (``llava-pretrain-llama-2-7b-chat/mm_projector.bin``,
LLaVA's default ``mm_projector_type linear``) is one linear layer, while the
llava-hf projector has two. :func:`load_projector` maps a linear projector onto
``linear_1`` with the activation ``"linear"`` (identity) and ``linear_2`` set to
the identity matrix and frozen (:func:`freeze_identity_projector`), so the
model computes and trains exactly the single linear map. A ``mlp2x_gelu``
projector (LLaVA-1.5) maps onto ``linear_1``/``linear_2`` with GELU.

``torch`` and ``transformers`` are imported inside the functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from dataoptim import words
from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.records import IMAGE_TOKEN

#: Words the tiny tokenizer is trained on (template pieces and common words), so tests tokenize sensibly.
_TINY_CORPUS = [
    "[INST] <<SYS>>\n", "\n<</SYS>>\n\n", " [/INST] ", " </s><s>[INST] ",
    "You are a helpful language and vision assistant. You are able to understand the visual content "
    "that the user provides, and assist the user with a variety of tasks using natural language.",
    "What is in the image? Describe the image as simply as possible with a sentence or phrase.",
    "Give a brief summary of what you see. Provide a short description of the image.",
    "Answer the question directly with a short sentence or phrase. The correct option is A B C D.",
    "a cat sits on a red mat next to a dog. two people ride bikes down the street in the city.",
    "yes no one two three four five left right top bottom color blue green white black [0.1, 0.25, 0.5, 0.75].",
]


def build_tiny_tokenizer(vocab_size: int = 384, model_max_length: int = 2048):
    """Build a small byte-level BPE tokenizer on the fly, Llama-like in its special tokens.

    Trained with ``tokenizers`` on a few template strings (nothing is downloaded;
    every byte is in the alphabet, so any text encodes). Ids: ``<unk>`` 0,
    ``<s>`` 1, ``</s>`` 2, then the BPE vocabulary, then ``<image>``. BOS is added
    in front of every encoded text; the pad token is ``<unk>``, as in LLaVA's Llama-2 setup.

    Args:
        vocab_size: size of the BPE vocabulary before ``<image>`` (≥ 260).
        model_max_length: stored as the tokenizer's ``model_max_length``.

    Returns:
        A fast ``transformers`` tokenizer (``PreTrainedTokenizerFast``), ``padding_side="right"``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_TINY_CORPUS * 4, trainer=trainer)
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", core.token_to_id("<s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<unk>",
        model_max_length=model_max_length,
        padding_side="right",
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    return tokenizer


def build_tiny_image_processor(image_size: int = 28):
    """A CLIP image processor for ``image_size``-pixel square crops (CLIP mean/std, bicubic, centre crop)."""
    import transformers

    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    try:
        import torchvision  # noqa: F401

        cls = transformers.CLIPImageProcessor
    except ImportError:
        pass
    return cls(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def build_tiny_model(
    *,
    image_size: int = 28,
    patch_size: int = 7,
    vision_hidden: int = 32,
    text_hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    projector: str = "linear",
    vocab_size: int = 384,
    model_max_length: int = 2048,
    seed: int = 0,
):
    """Build a small random LLaVA from configs (for tests, demos and the CPU path of the GPU check).

    Same architecture as the recipe (CLIP vision tower, features of the
    second-to-last layer without CLS, projector, Llama decoder), scaled down:
    ``(image_size / patch_size)**2`` image tokens (16 by default).

    Args:
        image_size, patch_size: vision input side and patch side in pixels (``image_size % patch_size == 0``).
        vision_hidden, text_hidden: widths of the vision tower and the decoder.
        layers, heads: depth and attention heads of both towers.
        projector: ``"linear"`` (the recipe's) or ``"mlp2x_gelu"``.
        vocab_size: BPE vocabulary of :func:`build_tiny_tokenizer`.
        model_max_length: tokenizer limit and decoder positions.
        seed: ``torch`` seed for the random weights (same seed → same model).

    Returns:
        ``(model, tokenizer, image_processor)``; the model in ``float32``, train mode.

    Raises:
        ConfigError: sizes that do not divide, or an unknown projector.
    """
    if image_size % patch_size:
        raise ConfigError(f"image_size {image_size} must be a multiple of patch_size {patch_size}")
    tokenizer = build_tiny_tokenizer(vocab_size, model_max_length)
    vision = dict(
        hidden_size=vision_hidden, intermediate_size=2 * vision_hidden, num_hidden_layers=layers,
        num_attention_heads=heads, image_size=image_size, patch_size=patch_size, projection_dim=vision_hidden,
    )
    text = dict(
        hidden_size=text_hidden, intermediate_size=2 * text_hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=model_max_length,
    )
    model = build_model_from_configs(vision, text, tokenizer, projector=projector, seed=seed)
    return model, tokenizer, build_tiny_image_processor(image_size)


def build_model_from_configs(vision: dict, text: dict, tokenizer, *, projector: str = "linear", seed: int = 0, text_vocab_size: int | None = None, device: str | None = None):
    """A random ``LlavaForConditionalGeneration`` from CLIP-vision and Llama config values.

    Args:
        vision: ``CLIPVisionConfig`` values (``hidden_size``, ``num_hidden_layers``, ``image_size``, ``patch_size``, ...).
        text: ``LlamaConfig`` values (``hidden_size``, ``num_hidden_layers``, ...); vocabulary and special
            token ids are taken from ``tokenizer``.
        tokenizer: knows ``<image>`` (e.g. :func:`build_tiny_tokenizer`).
        projector: ``"linear"`` (the recipe's; ``linear_2`` the frozen identity) or ``"mlp2x_gelu"``.
        seed: ``torch`` seed of the random weights.
        text_vocab_size: embedding rows if larger than the tokenizer (e.g. 32064 to give a
            tiny-tokenizer model Llama-2's output layer cost); default ``len(tokenizer)``.
        device: build the weights there (``"cuda"`` is much faster for large shapes).

    Returns:
        The model, ``float32``, ``config.image_seq_length = (image_size // patch_size) ** 2``.
    """
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaForConditionalGeneration

    vocab = max(len(tokenizer), text_vocab_size or 0)
    text_config = LlamaConfig(
        **{**text, "vocab_size": vocab, "bos_token_id": tokenizer.bos_token_id,
           "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    )
    config = _llava_config(CLIPVisionConfig(**vision), text_config, tokenizer, projector)
    torch.manual_seed(seed)
    if device is None:
        model = LlavaForConditionalGeneration(config)
    else:
        with torch.device(device):
            model = LlavaForConditionalGeneration(config)
    if projector == "linear":
        _set_identity(model)
    freeze_identity_projector(model)
    return model


def _llava_config(vision, text, tokenizer, projector: str):
    from transformers import LlavaConfig

    if projector not in ("linear", "mlp2x_gelu"):
        raise ConfigError(f"projector must be 'linear' or 'mlp2x_gelu', found {projector!r}")
    from dataoptim.train.format import image_token_id

    return LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id(tokenizer),
        image_seq_length=(vision.image_size // vision.patch_size) ** 2,
        projector_hidden_act="linear" if projector == "linear" else "gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )


def _set_identity(model) -> None:
    import torch

    lin2 = model.model.multi_modal_projector.linear_2
    with torch.no_grad():
        lin2.weight.copy_(torch.eye(lin2.weight.shape[0], dtype=lin2.weight.dtype))
        if lin2.bias is not None:
            lin2.bias.zero_()


def freeze_identity_projector(model) -> bool:
    """Freeze ``linear_2`` of a projector that stands for LLaVA's single linear layer.

    A projector with activation ``"linear"`` is one linear map written as two
    layers (see the module notes); ``linear_2`` is kept at the identity so
    training moves only ``linear_1``, as LLaVA's ``linear`` projector would.

    Returns:
        True if ``linear_2`` was frozen (activation ``"linear"``), else False.
    """
    if getattr(model.config, "projector_hidden_act", None) != "linear":
        return False
    for param in model.model.multi_modal_projector.linear_2.parameters():
        param.requires_grad_(False)
    return True


def load_projector(path: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """Read LLaVA's pretrain projector file (``mm_projector.bin``) and map it to llava-hf names.

    Key mapping (any prefix ending in ``mm_projector.`` is stripped, e.g.
    ``model.mm_projector.weight``):

    - linear (``weight``, ``bias``; LLaVA's default, the recipe's Llama-2 projector) →
      ``linear_1.weight``/``linear_1.bias``; ``linear_2`` = identity.
    - ``mlp2x_gelu`` (``0.weight``, ``0.bias``, ``2.weight``, ``2.bias``) →
      ``linear_1.*``, ``linear_2.*``.

    The file is loaded with ``torch.load(weights_only=True)`` (tensors only, no code).

    Returns:
        ``(kind, state_dict)``, ``kind`` ``"linear"`` or ``"mlp2x_gelu"``; tensors of shape
        ``(text_hidden, vision_hidden)`` for ``linear_1.weight``.

    Raises:
        MissingFileError: no such file.
        InputError: not a tensor file, or keys of neither layout.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingFileError("projector file (mm_projector.bin) not found", file=path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors vary by torch version
        raise InputError(f"cannot be read as a torch state dict: {exc}", file=path) from None
    if not isinstance(raw, dict):
        raise InputError(f"must hold a state dict, found {type(raw).__name__}", file=path)
    short = {key.rsplit("mm_projector.", 1)[-1]: value for key, value in raw.items()}
    if set(short) == {"weight", "bias"}:
        return "linear", {"linear_1.weight": short["weight"], "linear_1.bias": short["bias"]}
    if set(short) == {"0.weight", "0.bias", "2.weight", "2.bias"}:
        return "mlp2x_gelu", {
            "linear_1.weight": short["0.weight"], "linear_1.bias": short["0.bias"],
            "linear_2.weight": short["2.weight"], "linear_2.bias": short["2.bias"],
        }
    raise InputError(f"keys {sorted(raw)[:6]} are neither a linear nor a mlp2x_gelu projector", file=path)


def assemble_recipe_model(
    language_model: str | os.PathLike = "meta-llama/Llama-2-7b-chat-hf",
    vision_tower: str | os.PathLike = "openai/clip-vit-large-patch14",
    projector: str | os.PathLike | None = None,
    *,
    dtype: str = "bfloat16",
    model_max_length: int = 2048,
):
    """Assemble the recipe's start model from its three parts (DESIGN §8).

    The Llama decoder and its tokenizer come from ``language_model`` (a folder or
    hub id; Llama-2-7b-chat-hf in the recipe), the vision tower from the CLIP
    checkpoint ``vision_tower`` (features of layer -2, patch tokens only, as
    ``--mm_vision_select_layer -2``), and the projector from LLaVA's pretrain
    ``mm_projector.bin`` (:func:`load_projector`; random ``linear`` if None).
    ``<image>`` is added to the tokenizer as a special token and the embeddings
    grow by one row (mean-initialised; the row is never used as input, image
    features replace it). Pad = ``<unk>`` and ``padding_side="right"`` as LLaVA sets them.

    Args:
        language_model, vision_tower, projector: paths or hub ids.
        dtype: ``"bfloat16"``, ``"float16"`` or ``"float32"``.
        model_max_length: tokenizer limit (the recipe's 2048).

    Returns:
        ``(model, tokenizer, image_processor)``.

    Raises:
        MissingFileError, InputError: a part is missing or unreadable (projector).
        ConfigError: the projector's shape does not match the two towers.
    """
    import torch
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPVisionModel, LlamaForCausalLM, LlavaForConditionalGeneration

    torch_dtype = getattr(torch, dtype)
    tokenizer = _from_pretrained(AutoTokenizer, language_model, "base model's tokenizer", use_fast=True)
    tokenizer.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.unk_token
    tokenizer.padding_side = "right"
    tokenizer.model_max_length = model_max_length
    llm = _from_pretrained(LlamaForCausalLM, language_model, "base language model", dtype=torch_dtype)
    clip = _from_pretrained(CLIPVisionModel, vision_tower, "vision tower", dtype=torch_dtype)
    image_processor = _from_pretrained(AutoImageProcessor, vision_tower, "vision tower's image processor", **pil_image_processor())
    kind, state = ("linear", None) if projector is None else load_projector(projector)
    text_config = llm.config
    text_config.vocab_size = len(tokenizer)
    config = _llava_config(clip.config, text_config, tokenizer, kind)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(config)
    model.model.vision_tower = clip
    model.model.language_model = llm.model
    model.lm_head = llm.lm_head
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    proj = LlavaMultiModalProjector(config).to(torch_dtype)
    if kind == "linear":
        model.model.multi_modal_projector = proj
        _set_identity(model)
    else:
        model.model.multi_modal_projector = proj
    if state is not None:
        expected = {k: tuple(v.shape) for k, v in proj.state_dict().items() if k in state}
        found = {k: tuple(v.shape) for k, v in state.items()}
        if expected != found:
            raise ConfigError(f"projector shapes {found} do not fit the towers {expected}", file=projector)
        proj.load_state_dict({k: v.to(torch_dtype) for k, v in state.items()}, strict=False)
    model.resize_token_embeddings(len(tokenizer))
    model.config.text_config.vocab_size = len(tokenizer)
    model.to(torch_dtype)
    freeze_identity_projector(model)
    return model, tokenizer, image_processor


def check_dtype_device(dtype: str | None = None, device: str | None = None) -> None:
    """Refuse a ``dtype`` that names no floating-point ``torch`` dtype, and a ``device`` torch does not know or has not got.

    Raises:
        ConfigError: naming the value (e.g. ``--device quantum``, ``--device cuda`` without CUDA).
    """
    import torch

    if dtype is not None:
        value = getattr(torch, dtype, None) if isinstance(dtype, str) else None
        if not isinstance(value, torch.dtype) or not value.is_floating_point:
            raise ConfigError(f"dtype must name a floating-point torch dtype ('bfloat16', 'float16', 'float32'), found {dtype!r}")
    if device is not None:
        try:
            where = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ConfigError(f"unknown device {device!r} (e.g. 'cuda', 'cuda:1', 'cpu', 'mps')") from None
        if where.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available here")
        if where.type == "cuda" and (where.index or 0) >= torch.cuda.device_count():
            raise ConfigError(f"device {device!r}: there {words.plural(torch.cuda.device_count(), 'is')} {words.count(torch.cuda.device_count(), 'CUDA device')}")
        if where.type == "mps" and not torch.backends.mps.is_available():
            raise ConfigError(f"device {device!r}: MPS is not available here")


def load_model(path_or_tiny: str | os.PathLike = "tiny", *, dtype: str | None = None, device: str | None = None, **tiny_kwargs: Any):
    """Load a model to train or to generate with: ``"tiny"`` or a llava-hf checkpoint.

    Args:
        path_or_tiny: ``"tiny"`` (:func:`build_tiny_model`, random, no download), a
            folder written by ``dataoptim train`` / ``save_pretrained``, or any llava-hf
            checkpoint (folder or hub id, e.g. ``llava-hf/llava-1.5-7b-hf``).
        dtype: ``"bfloat16"``, ``"float16"``, ``"float32"`` or None (the checkpoint's).
        device: where to put the model (``"cuda"``, ``"cpu"``); None leaves it on CPU.
        **tiny_kwargs: passed to :func:`build_tiny_model` for ``"tiny"``.

    Returns:
        ``(model, tokenizer, image_processor)``: ``LlavaForConditionalGeneration``
        (``model.config.image_seq_length`` = vision tokens per image), a fast tokenizer
        knowing ``<image>`` (use :func:`dataoptim.train.format.encode_prompt`), and the
        CLIP image processor (use :func:`preprocess_images`). The model is returned in
        eval mode; call ``.train()`` to train.

    Raises:
        MissingFileError: a local path that does not exist, or a hub id not cached while offline (:func:`dataoptim.modelref.check_model_ref`, at once).
        ConfigError: the checkpoint is not a LLaVA model; a bad ``dtype`` or ``device``
            (:func:`check_dtype_device`, before anything is loaded).
    """
    import torch
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, LlavaForConditionalGeneration

    check_dtype_device(dtype, device)

    if str(path_or_tiny) == "tiny":
        model, tokenizer, image_processor = build_tiny_model(**tiny_kwargs)
    else:
        from dataoptim.modelref import check_model_ref

        path = check_model_ref(path_or_tiny, option="model")  # a missing folder at once; a hub id offline in < 1 s
        config = _from_pretrained(AutoConfig, path, "model config")
        if getattr(config, "model_type", None) != "llava":
            raise ConfigError(f"{path} is a {getattr(config, 'model_type', '?')!r} model, not a llava-hf LLaVA checkpoint")
        kwargs = {} if dtype is None else {"dtype": getattr(torch, dtype)}
        model = _from_pretrained(LlavaForConditionalGeneration, path, "model", **kwargs)
        tokenizer = _from_pretrained(AutoTokenizer, path, "tokenizer", use_fast=True)
        image_processor = _from_pretrained(AutoImageProcessor, path, "image processor", **pil_image_processor())
        freeze_identity_projector(model)
    if dtype is not None:
        model.to(getattr(torch, dtype))
    if device is not None:
        model.to(device)
    model.eval()
    return model, tokenizer, image_processor


def pil_image_processor() -> dict[str, Any]:
    """``AutoImageProcessor.from_pretrained`` options for the Pillow/NumPy processor LLaVA used.

    transformers 4.31's ``CLIPImageProcessor`` resized with Pillow; its pixels are
    reproduced bit for bit by the PIL backend (transformers 5: ``backend="pil"``,
    4.x: ``use_fast=False``), not by the torchvision one that transformers picks
    when torchvision is installed.
    """
    import transformers

    return {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {"use_fast": False}


def _from_pretrained(loader, path, what: str, **kwargs):
    """Call ``loader.from_pretrained`` and turn "not found / not reachable" into :class:`MissingFileError`."""
    try:
        return loader.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:  # absent files, offline misses (OSError); a folder without a config (ValueError)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingFileError(f"cannot load the {what}: {first}", file=str(path)) from None


def preprocess_images(images: Sequence[Any], image_processor, *, pad: bool = True):
    """Turn PIL images into the vision tower's input.

    Args:
        images: ``PIL.Image.Image`` objects (RGB, any size), e.g. from
            :func:`dataoptim.train.images.load_image`.
        image_processor: the CLIP processor from :func:`load_model`.
        pad: pad each image to a square with the processor's mean colour first (CLIP's; the recipe's
            ``image_aspect_ratio pad``, used in training); False for LLaVA's plain centre crop.

    Returns:
        ``torch.FloatTensor`` of shape ``(len(images), 3, S, S)``, CLIP-normalised, ``S`` the crop size.
    """
    from dataoptim.train.images import pad_to_square

    if pad:
        background = tuple(int(x * 255) for x in getattr(image_processor, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073))
        images = [pad_to_square(image, background) for image in images]
    return image_processor(images=list(images), return_tensors="pt")["pixel_values"]


def prepare_generation_inputs(prompts: Sequence[str], images: Sequence[Any] | None, model, tokenizer, image_processor, *, pad: bool = True):
    """Build a left-padded batch for ``model.generate`` from prompts and images.

    Args:
        prompts: texts from :func:`dataoptim.train.format.inference_prompt`, one ``<image>`` each
            when ``images`` is given.
        images: one PIL image per prompt, or None for text-only prompts.
        model, tokenizer, image_processor: from :func:`load_model`.
        pad: as for :func:`preprocess_images`.

    Returns:
        ``dict`` with ``input_ids`` and ``attention_mask`` (``LongTensor (B, L)``, left-padded
        with the pad id) and, with images, ``pixel_values`` (``FloatTensor (B, 3, S, S)``, in
        the model's dtype), on the model's device. Pass it as ``model.generate(**batch, ...)``;
        the new tokens start at column ``L``.

    Raises:
        ConfigError: a prompt without exactly one ``<image>`` while images are given,
            or a different number of prompts and images.
    """
    import torch

    from dataoptim.train.format import encode_prompt

    if images is not None and len(images) != len(prompts):
        raise ConfigError(f"{len(prompts)} prompts but {len(images)} images")
    for prompt in prompts:
        if (images is not None) != (prompt.count(IMAGE_TOKEN) == 1):
            raise ConfigError(f"each prompt needs exactly one {IMAGE_TOKEN} when images are given (and none otherwise)")
    from dataoptim.train.encoding import sentencepiece_for

    n = model.config.image_seq_length
    text = sentencepiece_for(tokenizer)  # LLaVA's eval ids when the checkpoint holds LLaMA-2's tokenizer.model
    seqs = [encode_prompt(p, tokenizer, image_seq_length=n, text=text) for p in prompts]
    width = max(len(s) for s in seqs)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, width - len(seq):] = torch.tensor(seq)
        mask[row, width - len(seq):] = 1
    device = next(model.parameters()).device
    batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if images is not None:
        dtype = next(model.parameters()).dtype
        batch["pixel_values"] = preprocess_images(images, image_processor, pad=pad).to(device=device, dtype=dtype)
    return batch


def save_checkpoint(model, tokenizer, image_processor, output_dir: str | os.PathLike) -> Path:
    """Save model, tokenizer and image processor so :func:`load_model` (and ``from_pretrained``) reload them.

    Returns:
        The folder.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    image_processor.save_pretrained(output_dir)
    return output_dir
