"""Generation protocols, the checkpoint's training settings, and MME-layout result files.

References (read at these commits, none of their code copied):

- DataOptim ``evaluation/run_llava_eval.py``: BAAI-DCAI/DataOptim 61135d3 (its last version;
  removed in f030e08). Prompt: ``qs = DEFAULT_IMAGE_TOKEN + '\\n' + qs``, ``conv_templates["llava_llama_2"]``
  with the user turn and an empty assistant turn; image: ``image_processor.preprocess(image,
  return_tensors='pt')['pixel_values']``; ``do_sample=True, temperature=0.2, max_new_tokens=1024``,
  ``KeywordsStoppingCriteria([conv.sep])``; answer ``strip``, trailing ``<s>`` removed, ``strip``,
  ``replace('\\n', ' ')``; result lines ``f"{image_id}.jpg\\t{question}\\t{answer}\\t{outputs}\\n"`` per prefix file.
- LLaVA ``llava/conversation.py`` at haotian-liu/LLaVA 744cb3e (``conv_llava_llama_2``, ``SeparatorStyle.LLAMA_2``
  in ``get_prompt``), and the eval scripts of ce1aa08 (``model_vqa_loader.py``, ``model_vqa_science.py``,
  ``model_vqa.py``, ``scripts/v1_5/eval/*.sh``).
- MME's ``eval_tool/calculation.py`` (``eval_tool.zip`` of BradyFU/Awesome-Multimodal-Large-Language-Models,
  branch Evaluation, dd29509).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from dataoptim.cli import main
from dataoptim.errors import ConfigError, InputError
from dataoptim.evaluate import evaluate, score
from dataoptim.evaluate.protocol import LETTER_ANSWER, SHORT_ANSWER, question_seed, resolve
from dataoptim.evaluate.result_txt import MME_SUBTASKS, result_groups

pytest.importorskip("torch")
pytest.importorskip("transformers")

SYSTEM = ("You are a helpful language and vision assistant. You are able to understand the visual content that the user "
          "provides, and assist the user with a variety of tasks using natural language.")


def llava_llama_2_prompt(user: str, system: str = SYSTEM) -> str:
    """The prompt LLaVA 744cb3e's ``conv_llava_llama_2`` builds for one user turn and an empty assistant turn.

    Followed step by step from ``Conversation.get_prompt`` (``SeparatorStyle.LLAMA_2``): messages
    ``[(USER, user), (ASSISTANT, None)]``; message 0 gets the system block
    ``"<<SYS>>\\n{system}\\n<</SYS>>\\n\\n"`` in front and is wrapped ``"[INST] {msg} [/INST]"`` after
    ``sep = "<s>"``; the empty assistant message adds ""; finally ``ret.lstrip(sep)``.
    """
    ret = "<s>" + f"[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]" + ""
    return ret.lstrip("<s>")  # str.lstrip with the characters '<', 's', '>' as LLaVA calls it


def llava_tokenizer_image_token(prompt: str, tokenizer, image_token_index: int = -200) -> list[int]:
    """LLaVA 744cb3e ``llava/mm_utils.py`` ``tokenizer_image_token``, followed step by step.

    The prompt is split at ``<image>``; each piece is tokenized on its own (``tokenizer(chunk).input_ids``);
    when the first piece starts with BOS it is kept once and every piece loses its first token; the
    pieces are joined with one ``image_token_index`` between them.
    """
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
    out, offset = [], 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        out.append(chunks[0][0])
    separated = [x for pair in zip(chunks, [[image_token_index] * (offset + 1)] * len(chunks)) for x in pair][:-1]
    for x in separated:
        out.extend(x[offset:])
    return out


def _image(path: Path, size, colour) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    for x in range(size[0]):  # a gradient, so a crop and a pad give different pixels
        for y in range(0, size[1], 3):
            image.putpixel((x, y), (x * 5 % 256, y * 7 % 256, 90))
    image.save(path)


#: What LLaVA 744cb3e's own llava/conversation.py gives for the two questions of the dataoptim test, built as
#: run_llava_eval.py builds it (conv_templates["llava_llama_2"].copy(), user "<image>\n" + question, assistant None,
#: get_prompt()): printed by /work/refs/generate/conv_prompt.py (the file taken with `git show 744cb3e:llava/conversation.py`).
LLAVA_744_PROMPTS = [
    "[INST] <<SYS>>\nYou are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.\n<</SYS>>\n\n<image>\nHow many cats "
    "are there? [/INST]",
    "[INST] <<SYS>>\nYou are a helpful language and vision assistant. You are able to understand the visual content that the "
    "user provides, and assist the user with a variety of tasks using natural language.\n<</SYS>>\n\n<image>\n Is it red?  [/INST]",
]

#: sha256 (first 16 hex digits) of the float32 bytes of CLIPImageProcessor(size={"shortest_edge": 28},
#: crop_size={"height": 28, "width": 28}).preprocess(image, return_tensors="np")["pixel_values"] under
#: transformers 4.31.0 (LLaVA 744cb3e's pin), on the two images drawn below: /work/refs/generate/clip_pixels.py
#: (a venv with transformers==4.31.0, pillow 13.0.0, numpy 2.4.6) printed them (sums -598.705441 and -737.802341).
CLIP_431_SHA = {"vqa/0001": "30208551c379578b", "vqa/0002": "a98977ee4f28941d"}


@pytest.fixture(scope="module")
def tiny():
    from dataoptim.train.model import load_model

    return load_model("tiny")


class Spy:
    """Records what :func:`dataoptim.train.model.prepare_generation_inputs` is given and returns."""

    def __init__(self, monkeypatch):
        import dataoptim.train.model as model_module

        self.calls = []
        real = model_module.prepare_generation_inputs

        def spy(prompts, images, model, tokenizer, image_processor, *, pad=True):
            batch = real(prompts, images, model, tokenizer, image_processor, pad=pad)
            self.calls.append({"prompts": list(prompts), "images": images, "pad": pad, "batch": batch})
            return batch

        monkeypatch.setattr(model_module, "prepare_generation_inputs", spy)


# ----------------------------------------------------------------------------------------------
# protocol settings
# ----------------------------------------------------------------------------------------------


def test_protocol_settings_per_task():
    trained = {"image_position": "front", "image_aspect_ratio": "pad", "conversation_template": "llava_llama_2"}
    dataoptim = resolve("dataoptim", ["vqa", "mc", "caption"], trained, seed=5)
    for s in dataoptim.values():  # one setting for every task, whatever the checkpoint says
        assert (s.image_position, s.image_aspect_ratio, s.max_new_tokens, s.temperature, s.seed) == ("front", "square", 1024, 0.2, 5)
        assert (s.stop_string, s.stop_at_string, s.newlines_to_spaces, s.prompt_suffix) == ("<s>", True, True, "")
    llava = resolve("llava", ["vqa", "pope", "mc", "caption", "grounding"], trained)
    assert (llava["vqa"].max_new_tokens, llava["vqa"].image_aspect_ratio, llava["vqa"].prompt_suffix) == (128, "pad", SHORT_ANSWER)
    assert (llava["pope"].max_new_tokens, llava["pope"].temperature) == (128, 0.0)
    assert (llava["mc"].max_new_tokens, llava["mc"].image_aspect_ratio, llava["mc"].prompt_suffix) == (1024, "square", LETTER_ANSWER)
    assert (llava["caption"].max_new_tokens, llava["caption"].image_aspect_ratio, llava["caption"].prompt_suffix) == (1024, "square", "")
    assert all(s.image_position == "front" and not s.sample and s.stop_string == "<s>" for s in llava.values())
    assert "model_vqa_loader.py" in llava["vqa"].follows and "model_vqa_science.py" in llava["mc"].follows
    # LLaVA's question files already end with the instruction: not added twice
    assert llava["vqa"].prompt("What is it?\n" + SHORT_ANSWER) == "What is it?\n" + SHORT_ANSWER
    assert llava["vqa"].prompt("What is it?") == "What is it?\n" + SHORT_ANSWER
    # model_vqa_science: question['value'].replace('<image>', '').strip(), then the instruction
    assert llava["mc"].prompt("<image>\nWhich? \nA. x ") == "Which? \nA. x\n" + LETTER_ANSWER
    # the default protocol: the checkpoint's settings; none recorded: the behaviour of earlier releases
    default = resolve("default", ["vqa", "grounding"], trained)
    assert (default["grounding"].image_position, default["vqa"].image_aspect_ratio, default["vqa"].max_new_tokens) == ("front", "pad", 64)
    legacy = resolve("default", ["grounding"], None)["grounding"]
    assert (legacy.image_position, legacy.image_aspect_ratio, legacy.sample) == ("inline", "pad", False)
    square = resolve("default", ["vqa"], dict(trained, image_aspect_ratio="square"))["vqa"]
    assert square.image_aspect_ratio == "square"
    # the caller's options win over protocol and checkpoint
    over = resolve("dataoptim", ["vqa", "mc"], trained, max_new_tokens={"vqa": 7}, temperature=0, image_aspect_ratio="pad")
    assert (over["vqa"].max_new_tokens, over["mc"].max_new_tokens, over["vqa"].sample, over["mc"].pad) == (7, 1024, False, True)
    with pytest.raises(ConfigError, match="conversation template 'vicuna_v1'"):
        resolve("default", ["vqa"], dict(trained, conversation_template="vicuna_v1"))
    with pytest.raises(ConfigError, match="protocol must be one of default, dataoptim, llava, found 'lmms'"):
        resolve("lmms", ["vqa"])


def test_dataoptim_answer_clean_up_follows_the_script():
    s = resolve("dataoptim", ["vqa"])["vqa"]
    # outputs.strip(); drop a trailing stop_str "<s>"; strip(); replace('\n', ' ') (only '\n')
    assert s.answer("  Yes, two\ndogs.\n<s> ") == "Yes, two dogs."
    assert s.answer("a\r\nb\tc") == "a\r b\tc"
    assert resolve("llava", ["vqa"])["vqa"].answer(" two\nthree <s>") == "two\nthree"
    assert resolve("default", ["vqa"])["vqa"].answer(" two <s>") == "two <s>"


def test_question_seed_is_stable():
    # sha256("7/q1")[:8] >> 1, fixed: a run's seed and a question id always give this number
    assert question_seed(7, "q1") == question_seed(7, "q1") != question_seed(8, "q1")
    assert question_seed(7, "q1") != question_seed(7, "q2")
    assert 0 <= question_seed(0, "") < 2**63


def test_keyword_stop_is_llava_keywords_stopping_criteria(tiny):
    import torch

    from dataoptim.evaluate.generate import _keyword_stop

    _, tokenizer, _ = tiny
    stop = _keyword_stop(tokenizer, "<s>", start=2)  # "<s>" without its BOS is the BOS id itself
    bos, a, b = tokenizer.bos_token_id, 40, 41
    rows = torch.tensor([[5, 6, a, bos], [5, 6, a, b]])
    assert stop(rows, None).tolist() == [True, False]


# ----------------------------------------------------------------------------------------------
# the dataoptim protocol against run_llava_eval.py
# ----------------------------------------------------------------------------------------------


def test_dataoptim_protocol_prompt_and_pixels_equal_run_llava_eval(tiny, tmp_path, monkeypatch):
    import torch

    images = tmp_path / "images"
    _image(images / "vqa" / "0001.png", (60, 34), (200, 30, 30))  # landscape: padding would change the pixels
    _image(images / "vqa" / "0002.png", (22, 50), (30, 200, 30))  # portrait
    val = tmp_path / "val.json"
    questions = [{"image_id": "vqa/0001", "question": "How many cats are there?", "answer": "two"},
                 {"image_id": "vqa/0002", "question": " Is it red? ", "answer": "no"}]
    val.write_text(json.dumps(questions))
    spy = Spy(monkeypatch)
    result = evaluate(tiny, val, images, tmp_path / "run", protocol="dataoptim", seed=3, max_new_tokens=6, batch_size=8)
    _, tokenizer, processor = tiny
    assert len(spy.calls) == 2  # sampled: one question per model call, as the script runs
    from PIL import Image
    from transformers import CLIPImageProcessor

    assert processor.to_dict()["size"] == {"shortest_edge": 28} and processor.to_dict()["crop_size"] == {"height": 28, "width": 28}
    for call, q, printed in zip(spy.calls, questions, LLAVA_744_PROMPTS):
        # the script: qs = "<image>\n" + question (kept as is), llava_llama_2, one user turn
        assert call["prompts"] == [llava_llama_2_prompt("<image>\n" + q["question"])] == [printed]
        # the ids: LLaVA's tokenizer_image_token (744cb3e llava/mm_utils.py) with the image as -200, here expanded
        # to the model's image_seq_length copies of its <image> id (llava-hf's layout)
        ids = llava_tokenizer_image_token(printed, tokenizer)
        at = ids.index(-200)
        n = tiny[0].config.image_seq_length
        expanded = ids[:at] + [tiny[0].config.image_token_index] * n + ids[at + 1:]
        assert call["batch"]["input_ids"][0].tolist() == expanded
        # image_processor.preprocess(image, return_tensors='pt')['pixel_values']: resize + centre crop, no padding
        image = Image.open(images / f"{q['image_id']}.png").convert("RGB")
        clip = CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})  # the tiny model's
        expected = clip.preprocess(image, return_tensors="pt")["pixel_values"]
        assert expected.shape == (1, 3, 28, 28)
        assert call["pad"] is False
        assert torch.equal(call["batch"]["pixel_values"], expected.to(call["batch"]["pixel_values"].dtype))
        # and bit for bit what LLaVA's pinned transformers 4.31.0 CLIPImageProcessor.preprocess gives on these images
        pixels = call["batch"]["pixel_values"].numpy().astype("float32")
        assert hashlib.sha256(pixels.tobytes()).hexdigest()[:16] == CLIP_431_SHA[q["image_id"]]
    record = result["protocol"]
    assert record["name"] == "dataoptim" and record["seed"] == 3 and "61135d3" in record["follows"]
    vqa = record["tasks"]["vqa"]
    assert (vqa["temperature"], vqa["decoding"], vqa["image_aspect_ratio"], vqa["max_new_tokens"]) == (0.2, "sampling", "square", 6)
    assert (vqa["top_p"], vqa["top_k"]) == (1.0, 50)  # not set by the script: transformers' defaults / the checkpoint's
    saved = json.loads((tmp_path / "run" / "scores.json").read_text())
    assert saved["protocol"] == record and saved["protocol"]["overrides"] == {"max_new_tokens": 6, "seed": 3}
    # DataOptim's result layout: vqa.txt, "{image_id}.jpg\t{question}\t{answer}\t{prediction}"
    lines = (tmp_path / "run" / "vqa.txt").read_text().splitlines()
    assert [line.split("\t")[:3] for line in lines] == [["vqa/0001.jpg", "How many cats are there?", "two"],
                                                         ["vqa/0002.jpg", " Is it red? ", "no"]]
    assert [line.split("\t")[3] for line in lines] == [result["predictions"]["vqa/0001"], result["predictions"]["vqa/0002"]]


#: LLaVA 744cb3e's tokenizer_image_token on run_llava_eval.py's prompt for "How many cats are there?", with
#: LLaMA-2's slow tokenizer as load_pretrained_model loads it (use_fast=False), transformers 4.31.0:
#: /work/refs/generate/llama_ids.py printed these ids, the same for legacy false and legacy true.
#: Encoding the prompt whole instead loses the 29871 ("▁") after the image (-200).
LLAMA_IDS_HOW_MANY = [
    1, 518, 25580, 29962, 3532, 14816, 29903, 6778, 13, 3492, 526, 263, 8444, 4086, 322, 18551, 20255, 29889, 887, 526,
    2221, 304, 2274, 278, 7604, 2793, 393, 278, 1404, 8128, 29892, 322, 6985, 278, 1404, 411, 263, 12875, 310, 9595, 773,
    5613, 4086, 29889, 13, 29966, 829, 14816, 29903, 6778, 13, 13, -200, 29871, 13, 5328, 1784, 274, 1446, 526, 727, 29973,
    518, 29914, 25580, 29962,
]


def test_inference_prompt_ids_are_llava_tokenizer_image_token_with_llama2(tiny):
    from dataoptim.train.encoding import LlamaText
    from dataoptim.train.format import encode_prompt

    folder = Path(__file__).parent / "fixtures" / "llama2-tokenizer"
    _, tiny_tokenizer, _ = tiny  # any tokenizer knowing <image>: with the SentencePiece model only its <image> id is used
    image = tiny_tokenizer.convert_tokens_to_ids("<image>")
    # a checkpoint holding LLaMA-2's tokenizer.model: the exact SentencePiece path
    exact = encode_prompt(LLAVA_744_PROMPTS[0], tiny_tokenizer, image_seq_length=1, text=LlamaText.from_dir(folder))
    assert [-200 if t == image else t for t in exact] == LLAMA_IDS_HOW_MANY


def test_inference_prompt_ids_with_llama2_fast_tokenizer():
    """transformers' fast tokenizer (a checkpoint with tokenizer.json): the text on each side of <image> encoded
    on its own gives LLaVA's ids (checked by hand with ../shared/llama2-tokenizer/tokenizer.json, which the fixture
    leaves out; transformers 5 cannot build the fast tokenizer from tokenizer.model alone, so this may skip)."""
    from dataoptim.train.format import encode_prompt
    from transformers import AutoTokenizer

    folder = Path(__file__).parent / "fixtures" / "llama2-tokenizer"

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, use_fast=True)
    except Exception as exc:
        pytest.skip(f"no fast LLaMA-2 tokenizer from the fixture here: {str(exc).splitlines()[0]}")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    image = tokenizer.convert_tokens_to_ids("<image>")
    ids = encode_prompt(LLAVA_744_PROMPTS[0], tokenizer, image_seq_length=1)
    assert [-200 if t == image else t for t in ids] == LLAMA_IDS_HOW_MANY


def test_dataoptim_sampling_repeats_with_the_recorded_seed(tiny, tmp_path):
    images = tmp_path / "images"
    bench = []
    for i in range(4):
        _image(images / f"{i}.png", (30 + 7 * i, 28), (60 * i, 90, 200))
        bench.append({"question_id": f"q{i}", "image": f"{i}.png", "text": f"What is in picture {i}?", "task": "vqa", "answers": ["cat"]})
    run = dict(protocol="dataoptim", max_new_tokens=12)
    first = evaluate(tiny, bench, images, tmp_path / "a", seed=11, batch_size=4, **run)
    again = evaluate(tiny, bench, images, tmp_path / "b", seed=11, batch_size=1, **run)
    alone = evaluate(tiny, bench[2:3], images, None, seed=11, **run)
    other = evaluate(tiny, bench, images, None, seed=12, **run)
    greedy = evaluate(tiny, bench, images, None, seed=11, **dict(run, temperature=0))
    assert first["predictions"] == again["predictions"]  # the recorded seed gives the same answers, however batched
    assert alone["predictions"]["q2"] == first["predictions"]["q2"]  # and a question's answer does not depend on the others
    assert other["predictions"] != first["predictions"]  # it is sampling: another seed, other answers
    assert greedy["predictions"] != first["predictions"] and greedy["protocol"]["tasks"]["vqa"]["decoding"] == "greedy"
    recorded = json.loads((tmp_path / "a" / "scores.json").read_text())["protocol"]
    assert recorded["seed"] == 11 and recorded["tasks"]["vqa"]["seed"] == 11 and "sha256" in recorded["seeding"]
    # rerunning from what scores.json recorded gives the same answers
    rerun = evaluate(tiny, bench, images, None, protocol=recorded["name"], seed=recorded["seed"],
                     max_new_tokens=recorded["tasks"]["vqa"]["max_new_tokens"])
    assert rerun["predictions"] == first["predictions"]


def test_llava_protocol_prompts(tiny, tmp_path, monkeypatch):
    images = tmp_path / "images"
    _image(images / "a.png", (40, 20), (10, 20, 30))
    bench = [
        {"question_id": "v", "image": "a.png", "text": "What colour is it?\n" + SHORT_ANSWER, "task": "vqa", "answers": ["red"]},
        {"question_id": "m", "image": "a.png", "text": "<image>\nWhich one?\nA. cat\nB. dog", "task": "mc", "answer": "A"},
        {"question_id": "g", "image": "a.png", "text": "Where is <expr>it</expr> in <image>?", "task": "grounding",
         "answer": "[0.1, 0.1, 0.5, 0.5]"},
    ]
    spy = Spy(monkeypatch)
    result = evaluate(tiny, bench, images, None, protocol="llava", max_new_tokens=4)
    prompts = {call["prompts"][0]: call["pad"] for call in spy.calls}
    # model_vqa_loader: "<image>\n" + the file's text (the instruction is already there); process_images pads
    # only for a checkpoint trained with pad (an in-memory model: the defaults of earlier releases, pad)
    assert prompts[llava_llama_2_prompt("<image>\nWhat colour is it?\n" + SHORT_ANSWER)] is True
    # model_vqa_science --single-pred-prompt: <image> removed and put in front, the letter instruction added; preprocess
    assert prompts[llava_llama_2_prompt("<image>\nWhich one?\nA. cat\nB. dog\n" + LETTER_ANSWER)] is False
    # model_vqa: "<image>\n" + text; an inline <image> moves to the front, as LLaVA trains
    assert prompts[llava_llama_2_prompt("<image>\nWhere is <expr>it</expr> in ?")] is False
    assert result["protocol"]["tasks"]["mc"]["prompt_suffix"] == LETTER_ANSWER


# ----------------------------------------------------------------------------------------------
# the checkpoint's training settings
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny checkpoint trained one step by the hf backend with the recipe's pad and <image> front (and its checkpoint-1)."""
    from PIL import Image

    from dataoptim.train import train

    root = tmp_path_factory.mktemp("trained")
    (root / "images").mkdir()
    records = []
    for i in range(2):
        Image.new("RGB", (30 + 9 * i, 20), (40 * i, 90, 200)).save(root / "images" / f"{i}.jpg")
        records.append({"id": f"r{i}", "image": f"{i}.jpg", "conversations": [
            {"from": "human", "value": "Where is the <image> cat?"}, {"from": "gpt", "value": f"here {i}"}]})
    (root / "sel.json").write_text(json.dumps(records))
    train(root / "sel.json", root / "images", root / "ckpt", backend="hf", model="tiny", max_steps=1,
          per_device_train_batch_size=2, dataloader_num_workers=0, cache_dir=root / "cache", save_strategy="steps",
          save_steps=1, disable_tqdm=True)
    return root / "ckpt"


def test_training_records_its_settings(trained):
    from dataoptim.train.trained_with import read_trained_with

    settings = read_trained_with(trained)
    assert settings["image_aspect_ratio"] == "pad" and settings["image_position"] == "front"
    assert settings["conversation_template"] == "llava_llama_2" and settings["system_prompt"] == SYSTEM
    assert settings["pad_colour"] == [122, 116, 104] and settings["model_max_length"] == 2048
    assert settings["image_processor"]["crop_size"] == {"height": 28, "width": 28}
    assert settings["image_processor"]["image_mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])
    assert read_trained_with(trained / "checkpoint-1") == settings  # intermediate checkpoints carry it too


def _grounding_bench(tmp_path):
    images = tmp_path / "images"
    _image(images / "g.png", (44, 20), (10, 120, 30))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question_id": "g1", "image": "g.png", "text": "Where is <expr>the cat</expr> in <image>? Box.",
                                 "task": "grounding", "answer": "[0.1, 0.1, 0.5, 0.5]"}) + "\n")
    return bench, images


def test_checkpoint_trained_with_pad_is_evaluated_with_pad_and_image_first(trained, tmp_path, monkeypatch, capsys):
    bench, images = _grounding_bench(tmp_path)
    spy = Spy(monkeypatch)
    result = evaluate(str(trained), bench, images, tmp_path / "run", max_new_tokens=3, device="cpu")
    assert spy.calls[0]["pad"] is True
    # training moved the inline <image> to the front: so does evaluation
    assert spy.calls[0]["prompts"] == [llava_llama_2_prompt("<image>\nWhere is <expr>the cat</expr> in ? Box.")]
    assert result["notes"] == []
    record = json.loads((tmp_path / "run" / "scores.json").read_text())["protocol"]
    assert record["training_settings"] == str(trained / "trained_with.json")
    assert record["tasks"]["grounding"]["image_position"] == "front" and record["tasks"]["grounding"]["image_aspect_ratio"] == "pad"
    # told otherwise on the command line: the option wins
    spy.calls.clear()
    assert main(["evaluate", "--model", str(trained), "--benchmark", str(bench), "--image-dir", str(images), "--output",
                 str(tmp_path / "run2"), "--max-new-tokens", "3", "--device", "cpu", "--image-position", "inline",
                 "--image-aspect-ratio", "square"]) == 0
    assert spy.calls[0]["pad"] is False
    assert spy.calls[0]["prompts"] == [llava_llama_2_prompt("Where is <expr>the cat</expr> in <image>? Box.")]
    assert "note:" not in capsys.readouterr().err


def test_checkpoint_without_settings_keeps_the_old_behaviour_with_a_note(trained, tmp_path, monkeypatch, capsys):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    (old / "trained_with.json").unlink()
    bench, images = _grounding_bench(tmp_path)
    spy = Spy(monkeypatch)
    argv = ["evaluate", "--model", str(old), "--benchmark", str(bench), "--image-dir", str(images), "--max-new-tokens", "3",
            "--device", "cpu"]
    # config.json still says image_aspect_ratio (as LLaVA's checkpoints do): that is used; <image> stays inline, with a note
    config = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps(dict(config, image_aspect_ratio="square")))
    assert main([*argv, "--output", str(tmp_path / "run0")]) == 0
    assert spy.calls[-1]["pad"] is False
    assert spy.calls[-1]["prompts"] == [llava_llama_2_prompt("Where is <expr>the cat</expr> in <image>? Box.")]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {old} records its image_aspect_ratio (square, config.json) but not where <image> went in training "
                     "(trained_with.json): <image> kept inline as earlier releases did; set --image-position to match its training"]
    # nothing recorded at all: the behaviour of earlier releases, and a note
    config.pop("image_aspect_ratio", None)
    (old / "config.json").write_text(json.dumps(config))
    assert main([*argv, "--output", str(tmp_path / "run")]) == 0
    assert spy.calls[-1]["pad"] is True
    assert spy.calls[-1]["prompts"] == [llava_llama_2_prompt("Where is <expr>the cat</expr> in <image>? Box.")]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {old} records no training settings (trained_with.json): evaluating as earlier releases did "
                     "(images padded, <image> kept inline); set --image-aspect-ratio / --image-position to match its training"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["notes"] == [notes[0][len("note: "):]]
    # told both: no note
    assert main([*argv, "--output", str(tmp_path / "run2"), "--image-position", "front", "--image-aspect-ratio", "pad"]) == 0
    assert spy.calls[-1]["prompts"] == [llava_llama_2_prompt("<image>\nWhere is <expr>the cat</expr> in ? Box.")]
    assert "note:" not in capsys.readouterr().err
    # a damaged settings file is an error naming it, before anything is written
    (old / "trained_with.json").write_text(json.dumps({"format": "dataoptim.trained_with", "image_position": "top",
                                                       "image_aspect_ratio": "pad", "conversation_template": "llava_llama_2"}))
    with pytest.raises(InputError, match=r"trained_with.json: field 'image_position': must be one of front, inline, found 'top'"):
        evaluate(str(old), bench, images, tmp_path / "run3")
    assert not (tmp_path / "run3").exists()


# ----------------------------------------------------------------------------------------------
# MME's result layout
# ----------------------------------------------------------------------------------------------


def mme_benchmark() -> list[dict]:
    """Two questions on one image for each of MME's 14 subtasks (canonical items, task ``mme``, subtask as category)."""
    items = []
    for k, name in enumerate(MME_SUBTASKS):
        for j, ref in enumerate(("Yes", "No")):
            items.append({"question_id": f"{name}/{k}.jpg#{j}", "image": f"{name}/{k}.jpg", "task": "mme", "category": name,
                          "text": f"Is this {name} picture {k}, question {j}?\nAnswer the question using a single word or phrase.",
                          "answer": ref})
    return items


def mme_answers(prompts, images, max_new_tokens):
    """Scripted answers: right, wrong, hedged, with a tab or a line break, by subtask and question."""
    out = []
    for prompt in prompts:
        k = int(prompt.split("picture ")[1].split(",")[0])
        j = int(prompt.split("question ")[1].split("?")[0])
        if j == 0:
            out.append(("Yes", "yes, there is.", "I think so", "Yes\nthe answer is yes")[k % 4])
        else:
            out.append(("No", "Yes\tno", "no.", "NO")[k % 4])
    return out


#: What MME's calculation.py printed for the files that evaluate() wrote from mme_benchmark() and
#: mme_answers: /work/refs/generate/run_mme.py wrote them, then, in eval_tool/ of MME's eval_tool.zip,
#: `python calculation.py --results_dir /work/refs/generate/mme_out` (scikit-learn 1.9.1) printed
#: perception "total score: 1250.0", cognition "total score: 500.0" and these subtask scores.
MME_TOOL_SCORES = {
    "existence": 200.0, "count": 50.0, "position": 50.0, "color": 200.0, "posters": 200.0, "celebrity": 50.0,
    "scene": 50.0, "landmark": 200.0, "artwork": 200.0, "OCR": 50.0,
    "commonsense_reasoning": 50.0, "numerical_calculation": 200.0, "text_translation": 200.0, "code_reasoning": 50.0,
}


def _mme_tool_reading(lines: list[str]) -> float:
    """100 * (acc + acc+) of one file, read as calculation.py reads it (first 4 lower-cased characters, pairs of lines)."""
    def label(pred: str) -> str:
        pred = pred.lower()
        return pred if pred in ("yes", "no") else "yes" if "yes" in pred[:4] else "no" if "no" in pred[:4] else "other"

    right = [label(line.split("\t")[3]) == line.split("\t")[2].lower() for line in lines]
    pairs = [right[i] and right[i + 1] for i in range(0, len(right), 2)]
    return 100 * (sum(right) / len(right) + sum(pairs) / len(pairs))


def test_mme_txt_files_in_the_layout_of_mme_tool(tmp_path):
    images = tmp_path / "images"
    for item in mme_benchmark():
        if not (images / item["image"]).exists():
            _image(images / item["image"], (20, 20), (1, 2, 3))
    result = evaluate(mme_answers, mme_benchmark(), images, tmp_path / "run")
    names = sorted(p.name for p in (tmp_path / "run").glob("*.txt"))
    assert names == sorted(f"{n}.txt" for n in MME_SUBTASKS)
    assert (tmp_path / "run" / "artwork.txt").read_text() == (
        "8.jpg\tIs this artwork picture 8, question 0? Answer the question using a single word or phrase.\tYes\tYes\n"
        "8.jpg\tIs this artwork picture 8, question 1? Answer the question using a single word or phrase.\tNo\tNo\n")
    assert (tmp_path / "run" / "count.txt").read_text() == (
        "1.jpg\tIs this count picture 1, question 0? Answer the question using a single word or phrase.\tYes\tyes, there is.\n"
        "1.jpg\tIs this count picture 1, question 1? Answer the question using a single word or phrase.\tNo\tYes no\n")
    assert (tmp_path / "run" / "color.txt").read_text().splitlines()[0].endswith("\tYes\tYes the answer is yes")
    for path in (tmp_path / "run").glob("*.txt"):  # what calculation.py needs: 4 tab fields, yes/no references, pairs
        lines = path.read_text().splitlines(keepends=True)
        assert len(lines) == 2 and all(line.count("\t") == 3 and line.endswith("\n") for line in lines)
        assert [line.split("\t")[2].lower() for line in lines] == ["yes", "no"]
    # the tool's numbers on these files, and the same reading applied here
    assert sum(MME_TOOL_SCORES[n] for n in MME_SUBTASKS[:10]) == 1250.0 and sum(MME_TOOL_SCORES[n] for n in MME_SUBTASKS[10:]) == 500.0
    for name in MME_SUBTASKS:
        lines = (tmp_path / "run" / f"{name}.txt").read_text().splitlines(keepends=True)
        assert _mme_tool_reading(lines) == MME_TOOL_SCORES[name], name
    assert "artwork.txt" in json.loads((tmp_path / "run" / "run.json").read_text())["txt_files"]
    # the library's MME scorer gives the tool's numbers, on the answers and on the folder of files alone
    mme = result["scores"]["mme"]
    assert (mme["perception"], mme["cognition"]) == (1250.0, 500.0)
    assert {name: entry["score"] for name, entry in mme["categories"].items()} == MME_TOOL_SCORES
    again = score(tmp_path / "run")["mme"]
    assert (again["perception"], again["cognition"], again["n"]) == (1250.0, 500.0, 28)


def test_mme_groups_rules():
    items = [
        {"question_id": "a", "image": "x/1.jpg", "text": "Q?", "task": "pope", "category": "artwork", "answer": "Yes"},
        {"question_id": "b", "image": "x/1.jpg", "text": "Q?", "task": "pope", "category": "adversarial", "answer": "yes"},
        {"question_id": "c", "image": "x/2.jpg", "text": "Q?", "task": "vqa", "category": "OCR", "answers": ["two"]},
        {"question_id": "d", "image": "x/3.jpg", "text": "Q?", "task": "pope", "category": "OCR"},
    ]
    groups, skipped = result_groups(items, {"a": "yes", "b": "no", "c": "2", "d": "no"})
    assert groups == {"artwork": ["1.jpg\tQ?\tYes\tyes\n"]} and skipped == []  # POPE, non-yes/no and unanswered questions: none
    dataoptim = [{"question_id": "../x/1", "image": "../x/1.png", "text": "Q?", "task": "vqa", "category": "..", "answers": ["a"]},
                 {"question_id": "ok/1", "image": "ok/1.png", "text": "Q\tx?", "task": "vqa", "category": "ok", "answers": ["a"]}]
    groups, skipped = result_groups(dataoptim, {"../x/1": "b", "ok/1": "c\r\nd"}, dataoptim_layout=True)
    assert groups == {"ok": ["ok/1.jpg\tQ x?\ta\tc d\n"]} and skipped == [".."]


def test_cli_protocol_recorded_and_compare_reads_the_run(tmp_path, capsys):
    from dataoptim.evaluate.report import compare, load_scores

    images = tmp_path / "images"
    _image(images / "a.png", (30, 20), (5, 5, 5))
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question_id": "q", "image": "a.png", "text": "What?", "task": "vqa", "answers": ["x"]}) + "\n")
    for name, extra in (("run1", ["--protocol", "dataoptim", "--seed", "5"]), ("run2", ["--protocol", "llava"])):
        assert main(["evaluate", "--model", "tiny", "--benchmark", str(bench), "--image-dir", str(images), "--output",
                     str(tmp_path / name), "--max-new-tokens", "3", "--device", "cpu", *extra]) == 0
        assert set(json.loads(capsys.readouterr().out)) == {"vqa"}  # stdout: the scores
    first = json.loads((tmp_path / "run1" / "scores.json").read_text())
    assert first["protocol"]["name"] == "dataoptim" and first["protocol"]["seed"] == 5
    assert first["protocol"]["tasks"]["vqa"]["temperature"] == 0.2 and first["protocol"]["tasks"]["vqa"]["max_new_tokens"] == 3
    second = json.loads((tmp_path / "run2" / "scores.json").read_text())
    assert second["protocol"]["name"] == "llava" and second["protocol"]["tasks"]["vqa"]["prompt_suffix"] == SHORT_ANSWER
    assert set(load_scores(tmp_path / "run1")) == {"vqa"}  # the protocol is not a task to compare
    assert sorted(row["name"] for row in compare([tmp_path / "run1", tmp_path / "run2"])["runs"]) == ["run1", "run2"]
