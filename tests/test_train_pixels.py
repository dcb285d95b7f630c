"""Pixels: the hf backend's image tensors equal LLaVA 744cb3e's bit for bit (PIL image processor).

Reference (``fixtures/pixels/reference.json``): LLaVA's ``expand2square`` (``llava/mm_utils.py`` at
haotian-liu/LLaVA commit 744cb3e, imported unchanged) with the background
``tuple(int(x*255) for x in processor.image_mean)``, then transformers 4.31.0's
``CLIPImageProcessor.preprocess(image, return_tensors='pt')['pixel_values'][0]`` as
``llava/train/train.py`` (``LazySupervisedDataset``) calls it, processor built with
openai/clip-vit-large-patch14's preprocessor values; run in a separate venv (transformers 4.31.0,
torch 2.13.0 CPU, Pillow 13.0.0) on the fixture PNGs; the SHA-256 of each float32 tensor's bytes
is stored (``square``: no padding, the October script's resize and centre crop).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

FIX = Path(__file__).parent / "fixtures" / "pixels"
REFERENCE = json.loads((FIX / "reference.json").read_text())
CLIP_L14 = dict(
    crop_size=224, do_center_crop=True, do_normalize=True, do_resize=True, resample=3, size=224,
    image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
)


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    """The recipe's CLIP processor as the hf backend loads it (model.pil_image_processor options)."""
    from transformers import AutoImageProcessor

    from dataoptim.train.model import pil_image_processor

    folder = tmp_path_factory.mktemp("clip")
    (folder / "preprocessor_config.json").write_text(json.dumps({**CLIP_L14, "image_processor_type": "CLIPImageProcessor"}))
    return AutoImageProcessor.from_pretrained(str(folder), **pil_image_processor())


def _dataset(processor, pad):
    from dataoptim.train.data import SupervisedDataset

    return SupervisedDataset([], FIX, processor, image_token_id=0, image_seq_length=256, pad=pad)


@pytest.mark.parametrize("pad", [True, False], ids=["pad", "square"])
@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_pixels_equal_llava_bit_for_bit(processor, name, pad):
    from dataoptim.train.images import load_image

    ref = REFERENCE[name]["pad" if pad else "square"]
    dataset = _dataset(processor, pad)
    assert dataset.background == (122, 116, 104) == tuple(REFERENCE[name]["background"])
    tensor = dataset.pixels(load_image(FIX / name))
    assert list(tensor.shape) == ref["shape"] == [3, 224, 224] and str(tensor.dtype) == "torch.float32"
    assert hashlib.sha256(tensor.numpy().tobytes()).hexdigest() == ref["sha256"]
    assert float(tensor.double().sum()) == ref["sum"]


def test_the_sizes_cover_portrait_landscape_square_and_tiny():
    sizes = {tuple(v["size"]) for v in REFERENCE.values()}
    assert {(640, 480), (480, 640), (300, 300), (3, 5), (41, 67), (333, 97)} <= sizes
