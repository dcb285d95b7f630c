"""What a checkpoint was trained with: the settings evaluation must repeat, in ``trained_with.json``.

A model answers best in the format it was trained in. LLaVA keeps part of that
in the model's ``config.json`` (``image_aspect_ratio``, ``mm_use_im_start_end``)
and its eval scripts read it back (``llava/mm_utils.py``, ``process_images``);
the ``hf`` backend writes a llava-hf checkpoint, whose config has no such
fields, so this module writes them beside it, in one small JSON file::

    {"format": "dataoptim.trained_with", "version": 1,
     "conversation_template": "llava_llama_2",       # LLaVA --version
     "system_prompt": "You are a helpful ...",
     "image_position": "front",                       # <image> moved to the front (LLaVA), or "inline"
     "image_aspect_ratio": "pad",                     # "pad" (expand2square, CLIP mean colour) or "square" (resize + centre crop)
     "pad_colour": [122, 116, 104],                   # 8-bit RGB fill of the padded square
     "image_processor": {"class": "CLIPImageProcessor", "size": {...}, "crop_size": {...}, ...},
     "model_max_length": 2048,
     "backend": "hf"}

:func:`write_trained_with` is called by the trainer when it saves the final
checkpoint, :func:`trained_with_callback` when it saves an intermediate one
(``checkpoint-<step>``); :func:`read_trained_with` gives it back (``None`` for checkpoints
written before this file existed). Imports no ``torch``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from dataoptim.errors import InputError

#: File name inside the checkpoint folder.
FILENAME = "trained_with.json"
FORMAT = "dataoptim.trained_with"
VERSION = 1
#: ``image_aspect_ratio`` values, as LLaVA spells them: ``pad`` (the recipe) or ``square`` (LLaVA's default: resize and centre crop).
ASPECT_RATIOS = ("pad", "square")
#: Image processor attributes recorded (those that change the pixels the vision tower sees).
PROCESSOR_KEYS = ("size", "crop_size", "do_resize", "do_center_crop", "do_rescale", "rescale_factor", "do_normalize",
                  "image_mean", "image_std", "resample", "do_convert_rgb")


def _plain(value: Any) -> Any:
    """``value`` as JSON-able data (enums and other objects become ints or strings)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (int, str):
        try:
            return kind(value)
        except (TypeError, ValueError):
            continue
    return repr(value)  # pragma: no cover


def processor_settings(image_processor: Any) -> dict[str, Any]:
    """The pixel-relevant settings of an image processor: its class name and :data:`PROCESSOR_KEYS` it has."""
    out: dict[str, Any] = {"class": type(image_processor).__name__}
    values = image_processor.to_dict() if hasattr(image_processor, "to_dict") else {}
    for key in PROCESSOR_KEYS:
        if key in values or hasattr(image_processor, key):
            out[key] = _plain(values[key] if key in values else getattr(image_processor, key))
    return out


def trained_with(*, image_position: str, pad: bool, image_processor: Any = None, model_max_length: int | None = None,
                 backend: str = "hf", conversation_template: str | None = None, system_prompt: str | None = None) -> dict[str, Any]:
    """Build the ``trained_with.json`` content (see the module notes).

    Args:
        image_position: ``"front"`` or ``"inline"`` (:func:`dataoptim.train.format.place_image_token`).
        pad: images padded to a square before the processor (``image_aspect_ratio pad``); False: ``square``.
        image_processor: the processor training used (its settings are recorded), or None.
        model_max_length: the training length limit.
        backend: the trainer backend.
        conversation_template, system_prompt: default the ``llava_llama_2`` ones of :mod:`dataoptim.train.format`.
    """
    from dataoptim.train.format import SYSTEM_PROMPT, VERSION as TEMPLATE
    from dataoptim.train.images import CLIP_MEAN

    mean = getattr(image_processor, "image_mean", None) or CLIP_MEAN
    return {
        "format": FORMAT, "version": VERSION,
        "conversation_template": conversation_template or TEMPLATE,
        "system_prompt": SYSTEM_PROMPT if system_prompt is None else system_prompt,
        "image_position": image_position,
        "image_aspect_ratio": "pad" if pad else "square",
        "pad_colour": [int(x * 255) for x in mean],
        "image_processor": None if image_processor is None else processor_settings(image_processor),
        "model_max_length": model_max_length,
        "backend": backend,
    }


def write_trained_with(output_dir: str | os.PathLike, **settings: Any) -> Path:
    """Write ``trained_with.json`` into the checkpoint folder ``output_dir`` (atomically); return its path.

    Keyword arguments are those of :func:`trained_with`.
    """
    from dataoptim.io import write_json

    return write_json(Path(output_dir) / FILENAME, trained_with(**settings), indent=2)


def trained_with_callback(**settings: Any):
    """A ``transformers.TrainerCallback`` that writes ``trained_with.json`` into every ``checkpoint-<step>`` folder the ``Trainer`` saves.

    Keyword arguments are those of :func:`trained_with`; only the main process writes.
    """
    from transformers import TrainerCallback

    content = trained_with(**settings)

    class TrainedWith(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                from dataoptim.io import write_json

                write_json(folder / FILENAME, content, indent=2)
            return control

    return TrainedWith()


def read_trained_with(checkpoint: str | os.PathLike) -> dict[str, Any] | None:
    """Read ``trained_with.json`` of a checkpoint folder; ``None`` if the folder has none (an older checkpoint, a hub id).

    Returns:
        The settings, checked: ``image_position`` in ``front``/``inline``, ``image_aspect_ratio``
        in :data:`ASPECT_RATIOS`, ``conversation_template`` a string.

    Raises:
        InputError: the file exists but is not valid JSON of this layout (file and field named).
    """
    from dataoptim.io import read_json

    path = Path(checkpoint) / FILENAME
    if not path.is_file():
        return None
    data = read_json(path, expect=dict, what="training settings file")
    if data.get("format") != FORMAT:
        raise InputError(f"not a {FORMAT} file (format {data.get('format')!r})", file=path, field="format")
    checks = (("image_position", ("front", "inline")), ("image_aspect_ratio", ASPECT_RATIOS))
    for key, allowed in checks:
        if data.get(key) not in allowed:
            raise InputError(f"must be one of {', '.join(allowed)}, found {data.get(key)!r}", file=path, field=key)
    if not isinstance(data.get("conversation_template"), str):
        raise InputError(f"must be a string, found {data.get('conversation_template')!r}", file=path, field="conversation_template")
    if data.get("system_prompt") is not None and not isinstance(data["system_prompt"], str):
        raise InputError(f"must be a string, found {type(data['system_prompt']).__name__}", file=path, field="system_prompt")
    return data
