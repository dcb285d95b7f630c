"""The llava_llama_2 format, the label mask token by token, images (dataoptim.train.format / images)."""

from __future__ import annotations

import pytest

from dataoptim.errors import ConfigError, MissingFileError, ModelInputError
from dataoptim.train.format import (
    SYSTEM_PROMPT,
    encode_prompt,
    inference_prompt,
    render_conversation,
)
from dataoptim.train.images import CLIP_MEAN_RGB, load_image, pad_to_square
from dataoptim.train.model import build_tiny_tokenizer

TWO_TURNS = [
    {"from": "human", "value": "What is on the <image> mat?"},
    {"from": "gpt", "value": "a cat"},
    {"from": "human", "value": "What color is it?"},
    {"from": "gpt", "value": "blue and white"},
]
N_IMAGE = 16


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_render_layout_front_and_inline():
    text, spans = render_conversation(TWO_TURNS)
    sys = f"<<SYS>>\n{SYSTEM_PROMPT}\n<</SYS>>\n\n"
    assert text == (
        f"[INST] {sys}<image>\nWhat is on the  mat? [/INST] a cat </s>"
        "<s>[INST] What color is it? [/INST] blue and white </s>"
    )
    assert [text[a:b] for a, b in spans] == [" a cat </s>", " blue and white </s>"]
    inline, _ = render_conversation(TWO_TURNS, image_position="inline")
    assert inline.startswith(f"[INST] {sys}What is on the <image> mat? [/INST]")
    with pytest.raises(ConfigError):
        render_conversation(TWO_TURNS, image_position="middle")


def test_inference_prompt():
    sys = f"<<SYS>>\n{SYSTEM_PROMPT}\n<</SYS>>\n\n"
    assert inference_prompt("How many?") == f"[INST] {sys}<image>\nHow many? [/INST]"
    assert inference_prompt("Is <image> it?") == f"[INST] {sys}<image>\nIs  it? [/INST]"
    assert inference_prompt("Is <image> it?", image_position="inline") == f"[INST] {sys}Is <image> it? [/INST]"
    assert inference_prompt("Hi", image=False) == f"[INST] {sys}Hi [/INST]"
    with pytest.raises(ConfigError):
        inference_prompt("<image> <image>")


def test_encode_prompt_expands_image(tok):
    ids = encode_prompt(inference_prompt("How many?"), tok, image_seq_length=N_IMAGE)
    plain = tok(inference_prompt("How many?"))["input_ids"]
    assert len(ids) == len(plain) + N_IMAGE - 1
    assert ids.count(tok.convert_tokens_to_ids("<image>")) == N_IMAGE


def test_pad_to_square_and_load_image(tmp_path):
    from PIL import Image

    wide = Image.new("RGB", (40, 20), (255, 0, 0))
    sq = pad_to_square(wide)
    assert sq.size == (40, 40)
    assert sq.getpixel((0, 0)) == CLIP_MEAN_RGB == (122, 116, 104)
    assert sq.getpixel((0, 10)) == (255, 0, 0) and sq.getpixel((39, 29)) == (255, 0, 0)
    assert sq.getpixel((0, 30)) == CLIP_MEAN_RGB
    tall = pad_to_square(Image.new("RGB", (21, 40), (0, 255, 0)))
    assert tall.size == (40, 40) and tall.getpixel((9, 0)) == (0, 255, 0) and tall.getpixel((8, 0)) == CLIP_MEAN_RGB
    assert pad_to_square(sq) is sq
    path = tmp_path / "a.png"
    Image.new("L", (8, 6), 200).save(path)
    img = load_image(path, pad=True)
    assert img.mode == "RGB" and img.size == (8, 8) and img.getpixel((0, 0)) == CLIP_MEAN_RGB
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ModelInputError, match="cannot be decoded") as info:
        load_image(bad, file="sel.json", record=2, id="coco_7")
    assert "sel.json: record 2 (id 'coco_7'), field 'image'" in str(info.value)
    with pytest.raises(MissingFileError):
        load_image(tmp_path / "missing.jpg")


def test_load_image_refuses_a_decompression_bomb(tmp_path, monkeypatch):
    from PIL import Image

    from dataoptim.errors import ModelInputError
    from dataoptim.train.images import load_image

    Image.new("RGB", (64, 64)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "a.png").size == (64, 64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64 x 64 is over twice the limit: Pillow raises
    with pytest.raises(ModelInputError, match="cannot be decoded") as info:
        load_image(tmp_path / "a.png", file="sel.json", record=2, id="coco_2")
    assert (info.value.file, info.value.record, info.value.field) == ("sel.json", 2, "image")
