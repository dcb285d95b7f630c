"""Start models: recipe assembly from parts (projector key mapping), checkpoint loading, generation inputs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.errors import ConfigError, InputError, MissingFileError


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A tiny 'Llama-2-7b-chat-hf' folder, a tiny 'CLIP' folder and LLaVA-style projector files."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from dataoptim.train.model import build_tiny_image_processor, build_tiny_tokenizer

    root = tmp_path_factory.mktemp("parts")
    tok = build_tiny_tokenizer()
    base_tok = build_tiny_tokenizer()
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok) - 1, hidden_size=48, intermediate_size=96,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4))
    llama.save_pretrained(root / "llama")
    # the base tokenizer has no <image>: save one built without it
    from tokenizers import Tokenizer

    core = Tokenizer.from_str(base_tok.backend_tokenizer.to_str())
    from transformers import PreTrainedTokenizerFast

    plain = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    plain.save_pretrained(root / "llama")
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                            num_attention_heads=2, image_size=28, patch_size=14))
    clip.save_pretrained(root / "clip")
    build_tiny_image_processor(28).save_pretrained(root / "clip")
    torch.manual_seed(1)
    linear = {"model.mm_projector.weight": torch.randn(48, 32), "model.mm_projector.bias": torch.randn(48)}
    torch.save(linear, root / "mm_projector.bin")
    mlp = {"model.mm_projector.0.weight": torch.randn(48, 32), "model.mm_projector.0.bias": torch.randn(48),
           "model.mm_projector.2.weight": torch.randn(48, 48), "model.mm_projector.2.bias": torch.randn(48)}
    torch.save(mlp, root / "mlp_projector.bin")
    torch.save({"weight": torch.randn(48, 7), "bias": torch.randn(48)}, root / "wrong_projector.bin")
    return root, linear, mlp


def test_assemble_recipe_model_maps_linear_projector(parts):
    import torch

    from dataoptim.train.format import encode_prompt, inference_prompt
    from dataoptim.train.model import assemble_recipe_model, load_projector

    root, linear, _ = parts
    kind, state = load_projector(root / "mm_projector.bin")
    assert kind == "linear" and set(state) == {"linear_1.weight", "linear_1.bias"}
    model, tokenizer, processor = assemble_recipe_model(root / "llama", root / "clip", root / "mm_projector.bin", dtype="float32")
    assert model.config.image_seq_length == 4 and model.config.vision_feature_layer == -2
    assert model.config.image_token_index == tokenizer.convert_tokens_to_ids("<image>") == len(tokenizer) - 1
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert tokenizer.pad_token == "<unk>" and tokenizer.padding_side == "right" and tokenizer.model_max_length == 2048
    # the two-layer projector computes exactly LLaVA's single linear layer
    x = torch.randn(3, 32)
    proj = model.model.multi_modal_projector
    expected = x @ linear["model.mm_projector.weight"].T + linear["model.mm_projector.bias"]
    assert torch.allclose(proj(x), expected, atol=1e-5)
    assert not any(p.requires_grad for p in proj.linear_2.parameters())
    assert all(p.requires_grad for p in proj.linear_1.parameters())
    # the language model and vision tower are the given parts
    from transformers import LlamaForCausalLM

    llama = LlamaForCausalLM.from_pretrained(root / "llama")
    assert torch.equal(model.lm_head.weight[: llama.lm_head.weight.shape[0]], llama.lm_head.weight)
    # it runs a forward pass with an image
    from PIL import Image

    from dataoptim.train.model import prepare_generation_inputs

    batch = prepare_generation_inputs([inference_prompt("What?")], [Image.new("RGB", (20, 10))], model, tokenizer, processor)
    assert batch["input_ids"].shape[1] == len(encode_prompt(inference_prompt("What?"), tokenizer, image_seq_length=4))
    assert model(**batch).logits.shape[:2] == batch["input_ids"].shape


def test_mlp_and_bad_projectors(parts):
    import torch

    from dataoptim.train.model import assemble_recipe_model, load_projector

    root, _, mlp = parts
    kind, state = load_projector(root / "mlp_projector.bin")
    assert kind == "mlp2x_gelu" and torch.equal(state["linear_2.weight"], mlp["model.mm_projector.2.weight"])
    model, _, _ = assemble_recipe_model(root / "llama", root / "clip", root / "mlp_projector.bin", dtype="float32")
    assert model.config.projector_hidden_act == "gelu"
    assert torch.equal(model.model.multi_modal_projector.linear_2.bias, mlp["model.mm_projector.2.bias"])
    with pytest.raises(ConfigError, match="do not fit"):
        assemble_recipe_model(root / "llama", root / "clip", root / "wrong_projector.bin", dtype="float32")
    with pytest.raises(MissingFileError):
        load_projector(root / "absent.bin")
    (root / "junk.bin").write_bytes(b"not a torch file")
    with pytest.raises(InputError):
        load_projector(root / "junk.bin")


def test_load_model_errors(tmp_path, monkeypatch):
    import torch

    from dataoptim.train.model import load_model

    for kwargs, words in (({"device": "quantum"}, "unknown device 'quantum'"), ({"dtype": "int9"}, "found 'int9'"),
                          ({"dtype": "int8"}, "floating-point"), ({"device": "cuda:99"}, "'cuda:99'")):
        with pytest.raises(ConfigError, match=words):
            load_model("tiny", **kwargs)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device 'cuda': CUDA is not available"):
        load_model("tiny", device="cuda")
    monkeypatch.undo()

    with pytest.raises(MissingFileError):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingFileError, match="cannot load the model config"):
        load_model(tmp_path / "empty")
    from dataoptim.train.model import assemble_recipe_model

    with pytest.raises(MissingFileError, match="tokenizer"):
        assemble_recipe_model(tmp_path / "empty", tmp_path / "empty")


def test_generation_batch_is_left_padded():
    import torch
    from PIL import Image

    from dataoptim.train.format import inference_prompt
    from dataoptim.train.model import load_model, prepare_generation_inputs

    model, tok, proc = load_model("tiny")
    prompts = [inference_prompt("What?"), inference_prompt("What is the colour of the large bus on the left?")]
    batch = prepare_generation_inputs(prompts, [Image.new("RGB", (30, 20))] * 2, model, tok, proc)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert mask[1].all() and not mask[0].all() and mask[0, -1] == 1 and mask[0, 0] == 0
    assert batch["pixel_values"].shape == (2, 3, 28, 28)
    assert (ids == model.config.image_token_index).sum(dim=1).tolist() == [16, 16]
    out = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape == (2, ids.shape[1] + 3) and torch.equal(out[:, : ids.shape[1]], ids)
    with pytest.raises(ConfigError):
        prepare_generation_inputs(["no image here"], [Image.new("RGB", (4, 4))], model, tok, proc)


def test_gpu_benchmark_runs_tiny_on_cpu(tmp_path, capsys):
    import json

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import gpu_train
    finally:
        sys.path.pop(0)
    out = tmp_path / "report.json"
    assert gpu_train.main(["--tiny", "--steps", "2", "--batch-size", "2", "--workers", "0", "--work", str(tmp_path / "w"), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["steps"] == 2 and report["samples_per_second"] > 0 and report["tokens_per_second"] > 0
    assert report["device"] in ("cpu",) or report["device"]
