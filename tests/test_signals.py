"""Signals stored beside a pool (issue 16): hand-checked values on the shipped samples, storage, staleness, resume."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from dataoptim import signals
from dataoptim.errors import ConfigError, InputError, MissingFileError
from dataoptim.select import Pool, build_pool
from dataoptim.signals import base
from test_select_support import FIXTURES, example_data_dir

TOKENIZER = FIXTURES / "llama2-tokenizer"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    """The pool of the shipped samples (92 records, 21 sources), as `dataoptim demo` builds it."""
    from dataoptim.demo import build_sample_pool

    root = tmp_path_factory.mktemp("samples")
    pool = build_sample_pool(root, cache_dir=root / "cache").pool
    for name in ("text", "duplicates", "flags", "neardup"):
        signals.compute(pool, name, progress=False)
    return pool


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """DataOptim's 17 example records, plus one SVIT record with an empty-message reply."""
    root = tmp_path_factory.mktemp("examples")
    data = example_data_dir(root)
    svit = json.loads((data / "svit.json").read_text(encoding="utf-8"))
    # Constructed for this test (no SVIT file is shipped): GPT-4's reply to an empty prompt, the
    # kind of answer SVIT holds ("It seems like your message is empty"), in a two-exchange record.
    svit.append({
        "id": "svit_conversation_9000000009",
        "image": "visual_genome/9000000009.jpg",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the bus?"},
            {"from": "gpt", "value": "The bus is red."},
            {"from": "human", "value": "And?"},
            {"from": "gpt", "value": "It seems like your message is empty. Could you please provide more details or ask a question?"},
        ],
    })
    (data / "svit.json").write_text(json.dumps(svit), encoding="utf-8")
    build_pool(data, root / "pool", progress=False)
    return Pool.open(root / "pool")


def text_version():
    from dataoptim.signals import text

    return text.VERSION


def column(pool, name, col):
    table = signals.load(pool, name)
    ids = pool.table(["id"]).column("id").to_pylist()
    return dict(zip(ids, table.column(col).to_pylist()))


# -- hand-checked values -------------------------------------------------------------------------
def test_text_signal_counts_by_hand(samples):
    words = column(samples, "text", "answer_words")
    chars = column(samples, "text", "answer_chars")
    prompt = column(samples, "text", "prompt_words")
    turns = column(samples, "text", "turns")
    cls = column(samples, "text", "answer_length_class")
    # coco_0: "A man with a red helmet on a small moped on a dirt road. " -> 8? counted by hand below
    record = samples.get("coco_0")
    answer = record["conversations"][1]["value"]
    assert words["coco_0"] == len(answer.split()) == 8
    assert chars["coco_0"] == len(answer) == 46
    question = record["conversations"][0]["value"].replace("<image>", "").strip()
    assert prompt["coco_0"] == len(question.split())
    assert (words["vqav2_524286005"], cls["vqav2_524286005"]) == (1, "short")  # "Yes"
    assert turns["svit_conversation_0"] == 4 and turns["coco_0"] == 1
    assert cls["svit_detail_0"] == "long" and cls["coco_0"] == "medium"


def test_duplicates_found_on_the_samples(samples):
    of = column(samples, "duplicates", "dup_conversation_of")
    rows = {rid: k for k, rid in enumerate(samples.table(["id"]).column("id").to_pylist())}
    # the official example record and the record the builder made from the reconstructed original
    assert of["shikra_5921"] == rows["shikra_0"]
    assert of["llava_157711"] == rows["llava_2"]
    assert of["ocrvqa_801672"] == rows["ocrvqa_5"]
    # the LLaVA-v1.5 sample's first record repeats LLaVA-Instruct's (the v1.5 mix holds LLaVA-Instruct-150K)
    assert of["llava_v1.5_0"] == rows["llava_0"]
    assert sum(of[r] != rows[r] for r in rows) == 4
    # five Flickr30k captions of one image share question and image, not the answer
    pair = column(samples, "duplicates", "dup_question_image_of")
    assert pair["flickr30k_2"] == rows["flickr30k_1"] and of["flickr30k_2"] == rows["flickr30k_2"]
    per_image = column(samples, "duplicates", "image_records")
    # visual_genome/1.jpg: the seven SVIT records, the VGQA sample's two questions on image 1 and llava_v1.5_2
    assert per_image["svit_detail_0"] == 10
    rank = column(samples, "duplicates", "image_rank")
    assert sorted(rank[r] for r in rows if per_image[r] == 10) == list(range(10))


def test_near_duplicates_group_the_duplicate_pairs(samples):
    group = column(samples, "neardup", "neardup_group")
    size = column(samples, "neardup", "neardup_size")
    assert group["shikra_5921"] == group["shikra_0"] and size["shikra_0"] == 2
    assert group["ocrvqa_801672"] == group["ocrvqa_5"]
    assert size["coco_0"] == 1


def test_flags_svit_empty_reply_and_boxes(examples):
    signals.compute(examples, "flags", progress=False)
    refusal = column(examples, "flags", "refusal")
    flagged = column(examples, "flags", "flagged")
    assert refusal["svit_conversation_9000000009"] is True
    assert flagged["svit_conversation_9000000009"] is True
    assert sum(flagged.values()) == 1  # none of DataOptim's 17 examples
    boxes = column(examples, "flags", "box_count")
    frame = column(examples, "flags", "box_frame")
    # ref3rec_287603's answer is one box [0.0, 0.106, 0.827, 1.0] (DataOptim's example)
    assert boxes["ref3rec_287603"] == 1 and frame["ref3rec_287603"] == "original"
    assert boxes["coco_0"] == 0 and frame["coco_0"] is None


@pytest.mark.parametrize("text,expected", [
    ("It seems like your message is empty. Could you please provide more details?", True),
    ("it seems your message was blank", True),
    ("I'm sorry, but I cannot see the image you are referring to.", True),
    ("As an AI language model, I cannot browse.", True),
    ("You haven't provided an image.", True),
    ("The message on the sign is empty of meaning.", False),
    ("A man says sorry to a woman.", False),
])
def test_refusal_pattern(text, expected):
    import pyarrow.compute as pc

    from dataoptim.signals.flags import REFUSAL_PATTERN

    assert pc.match_substring_regex(pa.array([text]), pattern=REFUSAL_PATTERN)[0].as_py() is expected


#: (total positions with the image as one, labelled positions) of each of DataOptim's 17 example
#: records, read from LLaVA 744cb3e's own encoding of them: shared/llava744-tokens/
#: example-byod.legacy-false.json (LLaVA's preprocess_multimodal + preprocess_llama_2 +
#: tokenizer_image_token with the slow LlamaTokenizer under transformers 4.31.0, see its README):
#: len(input_ids) with the 256 copies of -200 counted once, and the labels that are not -100.
LLAVA_744 = {
    "coco_0": (81, 12), "flickr30k_0": (91, 22), "textcaps_0": (86, 17), "vqav2_524286005": (78, 3),
    "okvqa_5227415": (83, 3), "ocrvqa_801672": (80, 3), "gqa_05145757": (87, 10), "textvqa_34601": (85, 8),
    "aokvqa_dQbC9HGBPG3RCvpPWE4cWG": (109, 8), "ref3reg_287603": (104, 6), "ref3rec_287603": (100, 26),
    "shikra_5921": (90, 23), "llava_157711": (395, 317), "svit_conversation_0": (309, 191), "svit_detail_0": (588, 516),
    "svit_complex_0": (92, 16), "svit_referring_0": (209, 70),
}


def test_token_counts_equal_llava_744(examples):
    signals.compute(examples, "tokens", tokenizer=str(TOKENIZER), progress=False)
    total = column(examples, "tokens", "total_tokens")
    answer = column(examples, "tokens", "answer_tokens")
    prompt = column(examples, "tokens", "prompt_tokens")
    for rid, (n, labelled) in LLAVA_744.items():
        assert (total[rid], answer[rid]) == (n, labelled), rid
        assert prompt[rid] == n - labelled
    assert not any(column(examples, "tokens", "truncated").values())
    assert not any(column(examples, "tokens", "masked").values())


def test_token_engines_agree_and_equal_dataoptim_tokens(examples, tmp_path):
    """The exact engine (tokenizer.model, the trainer's encoder) is what `dataoptim tokens` writes; the
    fast-tokenizer engine (a folder with only tokenizer.json) gives the same counts."""
    import shutil

    from dataoptim.cli import main
    from dataoptim.signals import tokens
    from test_select_support import BYOD

    assert base.read_meta(base.signal_path(examples, "tokens"))["params"]["engine"] == "llava744"
    out = tmp_path / "tokens.jsonl"
    assert main(["tokens", "--data", str(BYOD), "--tokenizer", str(TOKENIZER), "--output", str(out)]) == 0
    lines = {line["id"]: line for line in map(json.loads, out.read_text().splitlines())}
    total = column(examples, "tokens", "total_tokens")
    answer = column(examples, "tokens", "answer_tokens")
    for rid, line in lines.items():
        assert total[rid] == line["positions_before"]
        assert answer[rid] == sum(1 for x in line["labels"] if x != -100)
    fast_only = tmp_path / "fast-only"
    fast_only.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TOKENIZER / name, fast_only / name)
    records = examples.table(["image", "conversations"]).to_pylist()
    for limit in (2048, 120, 80):
        exact = tokens.count_exact(records, str(TOKENIZER), model_max_length=limit)
        fast = tokens.count([r["conversations"] for r in records], tokens.load_tokenizer(str(fast_only)), model_max_length=limit)
        assert exact == fast, limit
    assert sum(r[3] for r in tokens.count_exact(records, str(TOKENIZER), model_max_length=80)) > 5


def test_token_truncated_and_masked_flags(examples, tmp_path):
    from dataoptim.signals.tokens import count, load_tokenizer

    tok = load_tokenizer(str(TOKENIZER))
    conv = [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "word " * 300}]
    (p, a, t, truncated, masked) = count([conv], tok, model_max_length=2048)[0]
    assert not truncated and not masked and t == p + a
    # under a limit that cuts inside the prompt, the record keeps no label: truncated and masked
    (_, _, t2, truncated, masked) = count([conv], tok, model_max_length=40)[0]
    assert t2 == t and truncated and masked
    # a limit inside the answer: truncated, still trains
    assert count([conv], tok, model_max_length=t - 10)[0][3:] == (True, False)


def test_tokens_signal_needs_a_tokenizer(examples, tmp_path):
    with pytest.raises(ConfigError, match="--tokenizer"):
        signals.compute(examples, "tokens")
    with pytest.raises(MissingFileError):
        signals.compute(examples, "tokens", tokenizer=str(tmp_path / "none"))


def test_images_signal_reads_headers_and_fills_width_height(examples, tmp_path):
    from PIL import Image

    folder = tmp_path / "images"
    records = examples.table(["image"]).to_pylist()
    for k, r in enumerate(records):
        path = folder / r["image"]
        path.parent.mkdir(parents=True, exist_ok=True)
        if k == 1:
            continue  # one missing
        Image.new("RGB", (100 + k, 50 + k)).save(path, format="PNG" if k % 2 else "JPEG")
    signals.compute(examples, "images", image_folder=str(folder), progress=False)
    table = signals.load(examples, "images").to_pylist()
    assert table[0] == {**table[0], "image_width": 100, "image_height": 50, "image_format": "JPEG", "image_status": "ok"}
    assert len(table[0]["image_sha1"]) == 40
    assert table[1]["image_status"] == "missing" and table[1]["image_width"] is None
    assert table[3]["image_format"] == "PNG"
    # the pool (converted JSON) has no width; the images signal fills it
    assert examples.all().columns("width")["width"].to_list()[:3] == [100, None, 102]
    wide = [r["image_width"] is not None and r["image_width"] >= 110 for r in table]
    assert 0 < sum(wide) < len(table)
    assert examples.all().where("width >= 110").rows.tolist() == [k for k, w in enumerate(wide) if w]


# -- storage -----------------------------------------------------------------------------------------
def test_stored_file_carries_version_and_parameters_and_is_recomputed_only_when_stale(examples, monkeypatch):
    path = signals.compute(examples, "text", progress=False)
    meta = base.read_meta(path)
    assert meta["signal"] == "text" and meta["version"] == text_version() and meta["params"] == {"long_words": 50, "short_words": 5}
    assert meta["pool"]["num_rows"] == len(examples)
    calls = []
    import dataoptim.signals.text as text

    original = text.compute
    monkeypatch.setattr(text, "compute", lambda batch, params: calls.append(1) or original(batch, params))
    signals.compute(examples, "text", progress=False)
    assert calls == []  # fresh: nothing recomputed
    signals.compute(examples, "text", short_words=3, progress=False)
    assert calls  # new parameters: recomputed
    assert base.read_meta(path)["params"]["short_words"] == 3
    calls.clear()
    monkeypatch.setattr(text, "VERSION", text.VERSION + "-next")
    signals.compute(examples, "text", short_words=3, progress=False)
    assert calls  # new code version: recomputed


def test_killed_run_resumes_from_finished_sources(examples, monkeypatch):
    import dataoptim.signals.text as text

    signals.compute(examples, "text", force=True, progress=False)
    expected = signals.load(examples, "text")
    seen = []
    original = text.compute

    def dies_at_the_fifth_source(batch, params):
        seen.append(batch.num_rows)
        if len(seen) == 5:
            raise KeyboardInterrupt
        return original(batch, params)

    monkeypatch.setattr(text, "compute", dies_at_the_fifth_source)
    base.signal_path(examples, "text").unlink()  # a first computation, killed at the fifth source
    with pytest.raises(KeyboardInterrupt):
        signals.compute(examples, "text", progress=False)
    assert not base.signal_path(examples, "text").exists()
    partial = base.signals_dir(examples) / ".text.partial"
    assert len(list(partial.glob("*.arrow"))) == 4  # four sources done before the kill
    seen.clear()
    monkeypatch.setattr(text, "compute", lambda batch, params: seen.append(batch.num_rows) or original(batch, params))
    signals.compute(examples, "text", progress=False)
    assert len(seen) == len(examples.parts) - 4  # only the sources still missing
    assert signals.load(examples, "text").equals(expected)
    assert not partial.exists()


def test_signal_of_another_pool_build_is_refused(tmp_path):
    build_pool(example_data_dir(tmp_path), tmp_path / "pool", progress=False)
    pool = Pool.open(tmp_path / "pool")
    signals.compute(pool, "text", progress=False)
    manifest = json.loads((tmp_path / "pool" / "manifest.json").read_text())
    manifest["created"] = "another build"
    (tmp_path / "pool" / "manifest.json").write_text(json.dumps(manifest))
    again = Pool.open(tmp_path / "pool")
    with pytest.raises(InputError, match="another build of this pool"):
        signals.load(again, "text")
    with pytest.raises(MissingFileError, match="signals compute"):
        signals.load(again, "flags")
    with pytest.raises(ConfigError, match="unknown signal"):
        signals.compute(again, "nope")
    with pytest.raises(ConfigError, match="no parameter"):
        signals.compute(again, "text", colour=1)


def test_every_signal_module_has_the_same_form():
    for name in signals.SIGNALS:
        module = signals.get(name)
        assert module.NAME == name
        assert isinstance(module.VERSION, str) and module.PAPER and module.NEEDS
        assert all(isinstance(t, pa.DataType) for t in module.WRITES.values())
        assert callable(getattr(module, "make_scorer" if getattr(module, "MODEL_SIGNAL", False) else "compute"))
    owners = signals.column_owners()
    assert sum(len(signals.columns_of(n)) for n in signals.SIGNALS) == len(owners)  # column names unique across signals


def test_duplicate_helpers_exact():
    from dataoptim.signals.duplicates import first_of, group_sizes_and_ranks

    h = np.array([5, 3, 5, 7, 3, 5], dtype=np.uint64)
    assert first_of(h).tolist() == [0, 1, 0, 3, 1, 0]
    size, rank = group_sizes_and_ranks(h)
    assert size.tolist() == [3, 2, 3, 1, 2, 3] and rank.tolist() == [0, 0, 1, 0, 1, 2]


def test_batched_token_counts_equal_the_exact_encoder(examples):
    """The batched engine (one SentencePiece call per batch, lengths only) gives count_exact's counts
    record for record: on the examples, on records with template separators / <unk> / odd spaces, and
    under limits that cut prompts and answers; and the same split over worker processes."""
    from dataoptim.signals import tokens

    records = examples.table(["image", "conversations"]).to_pylist()
    records += [
        {"image": None, "conversations": [{"from": "human", "value": "hi <unk> there"}, {"from": "gpt", "value": "a </s> b"}]},
        {"image": None, "conversations": [{"from": "human", "value": "hi there"}, {"from": "gpt", "value": "ok " * 300}]},
        {"image": "x.jpg", "conversations": [{"from": "human", "value": "<image> what [/INST] is"}, {"from": "gpt", "value": "no"}]},
        {"image": "x.jpg", "conversations": [{"from": "human", "value": "q\u2581q  <image>"}, {"from": "gpt", "value": " spaced  out"},
                                             {"from": "human", "value": "<s>again"}, {"from": "gpt", "value": "fine"}]},
        {"image": "x.jpg", "conversations": [{"from": "human", "value": "What?\n<image>"}, {"from": "gpt", "value": "Yes"},
                                             {"from": "human", "value": "And <image> here?"}, {"from": "gpt", "value": "\u00e9t\u00e9 \U0001F600 ok"}]},
    ]
    from dataoptim.train.encoding import LlamaText

    assert tokens._words_independent(LlamaText.from_dir(TOKENIZER))  # LLaMA-2's pieces: ▁ only leads a piece
    for limit in (2048, 120, 80, 30):
        exact = tokens.count_exact(records, str(TOKENIZER), model_max_length=limit)
        assert tokens.count_batched(records, str(TOKENIZER), model_max_length=limit) == exact, limit
        # and stretch by stretch (the path for a model whose pieces could cross a word's start)
        key = str(TOKENIZER / "tokenizer.model")
        saved = tokens._INDEPENDENT[key]  # set by the check above: the key the counter reads
        tokens._INDEPENDENT[key] = False
        try:
            assert tokens.count_batched(records, str(TOKENIZER), model_max_length=limit) == exact, limit
        finally:
            tokens._INDEPENDENT[key] = saved
    table = pa.Table.from_pylist(records, schema=pa.schema([("image", pa.string()), ("conversations", examples.table(["conversations"]).schema.field("conversations").type)]))
    batch = table.combine_chunks().to_batches()[0]
    assert tokens.count_records(batch, str(TOKENIZER), model_max_length=120, workers=2) == tokens.count_exact(records, str(TOKENIZER), model_max_length=120)


def test_array_token_counts_equal_the_exact_encoder(examples):
    """count_arrays (turn sums with array kernels, tokens._Linear) gives count_exact's counts record for record,
    under limits that cut prompts and answers, on the examples and on random records built to hit both the
    array path and every way out of it (template strings, odd spaces, <image> elsewhere, odd turn counts,
    ▁, <unk>); and the array path is the one taken for plain records."""
    import random

    from dataoptim.signals import tokens

    rng = random.Random(16)
    words = ["the", "bus", "is", "red", "What", "colour?", "A", "3", "été", "\U0001F600", "x\ny", "\n", "[INST]", "<<SYS>>",
             "Answer", "with", "one", "word.", "(0.12,0.5)", "[0.1, 0.2]", "'quote'", "a-b", "\t", "中文"]
    odd = ["</s>", "<s>", "<unk>", "[/INST]", "\u2581", "  ", " ", "<image>"]

    def value(plain: bool) -> str:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        if not plain:
            k = rng.randint(0, len(text))
            text = text[:k] + rng.choice(odd) + text[k:]
        return text

    records = examples.table(["image", "conversations"]).to_pylist()
    for k in range(400):
        plain = k % 3 != 0
        turns = [value(plain or rng.random() < 0.7) for _ in range(2 * rng.randint(1, 4) - (0 if plain or rng.random() < 0.8 else 1))]
        has_image = rng.random() < 0.8
        if has_image:
            turns[0] = rng.choice(["<image>\n" + turns[0], turns[0] + "\n<image>", turns[0] + " <image>"])
        records.append({"image": "x.jpg" if has_image else None,
                        "conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": v} for i, v in enumerate(turns)]})
    table = pa.Table.from_pylist(records, schema=pa.schema([("image", pa.string()), ("conversations", examples.table(["conversations"]).schema.field("conversations").type)]))
    batch = table.combine_chunks().to_batches()[0]
    for limit in (2048, 120, 80, 30):
        exact = tokens.count_exact(records, str(TOKENIZER), model_max_length=limit)
        got = tokens.count_arrays(batch, str(TOKENIZER), model_max_length=limit)
        assert [tuple(r) for r in got.tolist()] == [(p, a, t, int(tr), int(m)) for p, a, t, tr, m in exact], limit
        assert tokens.count_arrays(batch.slice(100, 150), str(TOKENIZER), model_max_length=limit).tolist() == got[100:250].tolist()
    linear = tokens._LINEAR[(str(TOKENIZER), "front")]
    assert linear.constants is not None
    _, done = linear.count(batch, 2048)
    assert done[:17].all()  # DataOptim's examples: plain records
    assert 0.5 < done.mean() < 0.95  # the odd ones went to count_batched


def test_summary_token_counts(examples, tmp_path):
    """The summary's token sums, by hand from LLAVA_744 (LLaVA 744cb3e's own encoding of the examples):
    coco_0 (81 positions, 12 labelled) twice + vqav2_524286005 (78, 3): coco 162 / 24, vqav2 78 / 3,
    all 240 positions of which 27 labelled, 213 prompt."""
    from dataoptim.cli import main

    ids = tmp_path / "ids.txt"
    ids.write_text("coco_0\nvqav2_524286005\ncoco_0\n", encoding="utf-8")
    want = {"prompt_tokens": 213, "answer_tokens": 27, "total_tokens": 240,
            "by_source": {"coco": {"prompt_tokens": 138, "answer_tokens": 24, "total_tokens": 162},
                          "vqav2": {"prompt_tokens": 75, "answer_tokens": 3, "total_tokens": 78}}}
    # without a tokens signal and without a tokenizer: no token counts; with a tokenizer: counted now
    base.signal_path(examples, "tokens").unlink(missing_ok=True)
    selection = examples.by_ids(ids)
    assert selection.summary().tokens is None
    counted = selection.summary(tokenizer=str(TOKENIZER)).tokens
    assert {k: counted[k] for k in want} == want
    # from the stored signal, through `dataoptim select` (JSON summary and printed table)
    signals.compute(examples, "tokens", tokenizer=str(TOKENIZER), progress=False)
    out, summary = tmp_path / "out.json", tmp_path / "summary.json"
    assert main(["select", "--pool", str(examples.path), "--ids", str(ids), "--output", str(out), "--summary", str(summary), "-q"]) == 0
    written = json.loads(summary.read_text())["tokens"]
    assert {k: written[k] for k in want} == want and written["tokenizer"] == str(TOKENIZER.resolve())
    assert "240 tokens (213 prompt, 27 answer)" in str(examples.by_ids(ids).summary().rich_table().caption)


def test_byod_summary_token_counts(tmp_path, capsys):
    """A BYOD file's summary (`dataoptim validate --tokenizer`, `select --byod --tokenizer`, validate_byod) has
    the token sums of its records, each record's count that of `dataoptim tokens`: coco_0 81 positions /
    12 labelled and vqav2_524286005 78 / 3 (LLAVA_744: LLaVA 744cb3e's own encoding), and a text-only record
    (constructed here) whose 75 / 12 are what `dataoptim tokens` wrote for it (run below, and by hand
    once: 75 positions, no image); sums 234 / 27 / 207, the text-only record also apart."""
    from dataoptim.cli import main
    from dataoptim.select.byod import validate_byod
    from dataoptim.select.validate import check_submission
    from test_select_support import BYOD

    records = [r for r in json.loads(BYOD.read_text(encoding="utf-8")) if r["id"] in ("coco_0", "vqav2_524286005")]
    records.append({"id": "llava_v1.5_text_0", "conversations": [
        {"from": "human", "value": "Write one short line about tea."}, {"from": "gpt", "value": "Tea warms the hands and the day."}]})
    byod = tmp_path / "byod.json"
    byod.write_text(json.dumps(records), encoding="utf-8")
    out = tmp_path / "tokens.jsonl"
    assert main(["tokens", "--data", str(byod), "--tokenizer", str(TOKENIZER), "--output", str(out)]) == 0
    written = {d["id"]: (d["positions_before"], sum(x != -100 for x in d["labels"])) for d in map(json.loads, out.read_text().splitlines())}
    assert written == {"coco_0": (81, 12), "vqav2_524286005": (78, 3), "llava_v1.5_text_0": (75, 12)}
    want = {"prompt_tokens": 207, "answer_tokens": 27, "total_tokens": 234,
            "by_source": {"coco": {"prompt_tokens": 69, "answer_tokens": 12, "total_tokens": 81},
                          "vqav2": {"prompt_tokens": 75, "answer_tokens": 3, "total_tokens": 78},
                          "llava_v1.5": {"prompt_tokens": 63, "answer_tokens": 12, "total_tokens": 75}},
            "text_only": {"prompt_tokens": 63, "answer_tokens": 12, "total_tokens": 75},
            "truncated": 0, "train_nothing": 0, "model_max_length": 2048,  # as `dataoptim tokens` said above: 0 truncated, 0 train nothing
            "tokenizer": str(TOKENIZER.resolve())}
    assert validate_byod(byod).tokens is None  # no tokenizer: no counts
    assert validate_byod(byod, tokenizer=TOKENIZER).tokens == want
    assert check_submission(byod, tokenizer=TOKENIZER).summary.tokens == want
    # the same file as JSON Lines, counted in batches of one record: same sums
    from dataoptim.select.summary import TokenTally

    lines = tmp_path / "byod.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    saved, TokenTally.STEP = TokenTally.STEP, 1
    try:
        assert validate_byod(lines, tokenizer=TOKENIZER).tokens == want
    finally:
        TokenTally.STEP = saved
    # through the CLI: select --byod writes them in --summary; validate prints them
    summary = tmp_path / "summary.json"
    assert main(["select", "--byod", str(byod), "--output", str(tmp_path / "out.json"), "--summary", str(summary),
                 "--tokenizer", str(TOKENIZER), "-q"]) == 0
    assert json.loads(summary.read_text())["tokens"] == want
    capsys.readouterr()
    assert main(["validate", str(byod), "--tokenizer", str(TOKENIZER)]) == 0
    assert "234 tokens (207 prompt, 27 answer)" in " ".join(capsys.readouterr().err.split())
    # a tokenizer folder that is not there: one error line, exit 2, before the file is read
    assert main(["validate", str(byod), "--tokenizer", str(tmp_path / "none")]) == 2
    assert "tokenizer folder not found" in capsys.readouterr().err
    # the same records as a pool: the pool selection's summary has the same sums (text-only apart too),
    # counted with the tokenizer and read from the tokens signal
    data = tmp_path / "data"
    data.mkdir()
    for source in ("coco", "vqav2", "llava_v1.5"):
        (data / f"{source}.json").write_text(json.dumps([r for r in records if r["id"].startswith(source + "_")]), encoding="utf-8")
    build_pool(data, tmp_path / "pool", progress=False)
    pool = Pool.open(tmp_path / "pool")
    assert pool.all().summary(tokenizer=TOKENIZER).tokens == want
    signals.compute(pool, "tokens", tokenizer=str(TOKENIZER), progress=False)
    assert pool.all().summary().tokens == want


def test_tokens_signal_warns_when_it_cannot_use_the_exact_encoder(tmp_path):
    # tester's report: a folder without tokenizer.model fell back to the fast tokenizer without a word
    import shutil

    from dataoptim.signals import tokens

    fast_only = tmp_path / "fast-only"
    fast_only.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TOKENIZER / name, fast_only / name)
    with pytest.warns(UserWarning, match="has no tokenizer.model.*may differ from LLaVA 744cb3e"):
        assert tokens.prepare({"tokenizer": str(fast_only), "model_max_length": 2048})["engine"] == "lengths"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tokens.prepare({"tokenizer": str(TOKENIZER), "model_max_length": 2048})["engine"] == "llava744"
