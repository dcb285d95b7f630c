"""The table path of every builder gives the row-by-row reference's records, or its located error (issue 14).

For each original-file format (and DataOptim's converted ``<source>.json``), hypothesis
draws a small valid input, then maybe breaks it: a value replaced by a random JSON value
(wrong type, blank, ``<image>``, ``..``, a negative number...), a field deleted, an item
repeated, or — for files keyed by id — a key written twice (a dict decoder would keep
only the last one). Both paths run on the same files:

* the table path, as the builder runs it (:func:`dataoptim.builder.checked_tables`:
  column rules, and on any doubt the reference from where it stopped);
* the reference alone (``original_records`` / ``converted_records``, validated row by row).

They must give the same records, field by field and in the same order, or the same
typed error with the same message (file, record, field). On clean valid inputs the table
path must not hand over to the reference at all (so it is what is being tested).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import dataoptim  # noqa: F401  (registers the builder)
from dataoptim import builder as builder_module
from dataoptim import catalog
from dataoptim.builder import builder_class_for, checked_tables
from dataoptim.errors import DataOptimError

import os

SETTINGS = dict(max_examples=int(os.environ.get("TABLE_PATH_EXAMPLES", "30")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

CLEAN = st.text("abcdefgh", min_size=1, max_size=6)
# texts that may break a rule: blank, Python-only whitespace, the image token, path tricks, controls
EDGY = st.one_of(
    CLEAN,
    st.sampled_from(["", " ", "\x1c", "\u3000", "<image>", "a<image>", "..", ".", "a/../b", "/abs", "a\\b", "C:x", "a\x07", "a\u2028", "é", "x\ny"]),
    st.text(max_size=5),
)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=False, allow_infinity=False, width=32), EDGY,
                 st.lists(CLEAN, max_size=2), st.dictionaries(CLEAN, CLEAN, max_size=1))


# ---------------------------------------------------------------------------------------------- valid inputs
def unique_ints(lo: int, hi: int, n: int):
    return st.lists(st.integers(lo, hi), min_size=n, max_size=n, unique=True)


@st.composite
def vqav2_files(draw, text):
    n = draw(st.integers(0, 4))
    qids = draw(unique_ints(0, 10**9, n))
    questions = [{"image_id": draw(st.integers(0, 10**6)), "question": draw(text), "question_id": q} for q in qids]
    order = draw(st.permutations(qids))
    annotations = [{"question_id": q, "multiple_choice_answer": draw(text), "answers": []} for q in order]
    return {"v2_OpenEnded_mscoco_train2014_questions.json": {"info": {}, "questions": questions},
            "v2_mscoco_train2014_annotations.json": {"annotations": annotations, "info": {}}}


@st.composite
def okvqa_files(draw, text):
    n = draw(st.integers(0, 3))
    qids = draw(unique_ints(0, 10**6, n))
    questions = [{"image_id": draw(st.integers(0, 10**6)), "question": draw(text), "question_id": q} for q in qids]
    # answers from a small pool too, so counts tie (the first met wins) and differ
    annotations = [{"question_id": q, "answers": [{"answer": draw(st.one_of(text, st.sampled_from(["yes", "no", "two"]))), "answer_id": k}
                                                 for k in range(draw(st.integers(1, 10)))]} for q in qids]
    return {"OpenEnded_mscoco_train2014_questions.json": {"questions": questions},
            "mscoco_train2014_annotations.json": {"annotations": annotations}}


@st.composite
def coco_files(draw, text):
    image_ids = draw(unique_ints(0, 10**6, draw(st.integers(0, 3))))
    images = [{"id": i, "width": draw(st.integers(1, 900)), "height": draw(st.integers(1, 900)), "file_name": "x"} for i in image_ids]
    anns = [{"image_id": draw(st.sampled_from(image_ids)) if image_ids and draw(st.booleans()) else draw(st.integers(0, 10**6)),
             "id": draw(st.integers(0, 10**6)), "caption": draw(text)} for _ in range(draw(st.integers(0, 4)))]
    return {"captions_train2014.json": {"info": {}, "images": images, "licenses": [], "annotations": anns}}


@st.composite
def gqa_files(draw, text):
    keys = draw(st.lists(st.text("0123456789", min_size=1, max_size=8), max_size=4, unique=True))
    return {"train_balanced_questions.json": {k: {"semantic": [], "imageId": draw(text), "question": draw(text), "answer": "x",
                                                   "fullAnswer": draw(text), "isBalanced": True} for k in keys}}


@st.composite
def ocrvqa_files(draw, text):
    keys = draw(st.lists(st.text("0123456789X", min_size=1, max_size=10), max_size=4, unique=True))
    entries = {}
    for k in keys:
        n = draw(st.integers(0, 3))
        entries[k] = {"imageURL": "u", "questions": [draw(text) for _ in range(n)], "answers": [draw(text) for _ in range(n)],
                      "title": "t", "split": draw(st.sampled_from([1, 1, 2, 3]))}
    return {"dataset.json": entries}


@st.composite
def flickr30k_files(draw, text):
    images = [{"filename": draw(text) + ".jpg", "imgid": k, "split": draw(st.sampled_from(["train", "train", "val", "test", "restval"])),
               "sentences": [{"raw": draw(text), "sentid": draw(st.integers(0, 99)), "tokens": []} for _ in range(draw(st.integers(0, 3)))]}
              for k in range(draw(st.integers(0, 3)))]
    return {"dataset_flickr30k.json": {"images": images, "dataset": "flickr30k"}}


@st.composite
def textcaps_files(draw, text):
    data = [{"image_id": draw(text), "caption_str": draw(text), "caption_id": draw(st.integers(0, 99)),
             "image_width": draw(st.integers(1, 900)), "image_height": draw(st.integers(1, 900)), "caption_tokens": []}
            for _ in range(draw(st.integers(0, 4)))]
    return {"TextCaps_0.1_train.json": {"dataset_name": "textcaps", "data": data}}


@st.composite
def textvqa_files(draw, text):
    data = [{"question": draw(text), "image_id": draw(text), "answers": draw(st.lists(text, min_size=1, max_size=4)),
             "question_id": draw(st.integers(0, 99)), "image_width": draw(st.integers(1, 900)), "image_height": draw(st.integers(1, 900))}
            for _ in range(draw(st.integers(0, 4)))]
    return {"TextVQA_0.5.1_train.json": {"data": data, "dataset_name": "textvqa"}}


@st.composite
def turns(draw, text, first_image: bool, speakers=("human", "gpt")):
    n = draw(st.integers(1, 2))
    out = []
    for k in range(2 * n):
        value = draw(text)
        if k == 0 and first_image:
            value = f"<image>\n{value}" if draw(st.booleans()) else f"{value}\n<image>"
        out.append({"from": speakers[k % 2], "value": value})
    return out


@st.composite
def llava_files(draw, text):
    entries = [{"id": draw(st.text("0123456789", min_size=1, max_size=6)), "image": draw(text) + ".jpg", "conversations": draw(turns(text, True))}
               for _ in range(draw(st.integers(0, 3)))]
    return {"llava_instruct_150k.json": entries}


@st.composite
def svit_files(draw, text):
    files = {}
    for name in ("conversation.json", "complex_reasoning.json", "detail_description.json", "referring_qa.json"):
        entries = [{"image_id": draw(st.integers(0, 10**6)),
                    "conversations": [{"content": draw(turns(text, draw(st.booleans()), ("user", "gpt")))} for _ in range(draw(st.integers(0, 2)))]}
                   for _ in range(draw(st.integers(0, 2)))]
        files[name] = entries
    return files


def _ref3_side(draw, size):
    """Two corners on one axis of a ``size``-pixel side, as the vectorised box path must take them:
    whole pixels, floats, values at a thousandth's half (rounding ties of ``round(v, 3)``), or a little
    past the border (clamped, within the 1% slack)."""
    mode = draw(st.sampled_from(["int", "float", "tie", "edge"]))
    if mode == "int":
        a = draw(st.integers(0, size // 2))
        return a, draw(st.integers(a + 1, size))
    if mode == "float":
        a = draw(st.floats(0, size / 2))
        return a, draw(st.floats(a + 1, size))
    if mode == "tie":
        k = draw(st.integers(0, 400))
        return (k + 0.5) / 1000 * size, (draw(st.integers(k + 2, 998)) + 0.5) / 1000 * size
    return -draw(st.floats(0, 0.009)) * size, size * (1 + draw(st.floats(0, 0.009)))


@st.composite
def ref3_files(draw, text):
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        w, h = draw(st.integers(10, 900)), draw(st.integers(10, 900))
        (x1, x2), (y1, y2) = _ref3_side(draw, w), _ref3_side(draw, h)
        line = {"img_path": draw(st.sampled_from(["", "train2014/"])) + f"COCO_train2014_{draw(st.integers(0, 10**6)):012d}.jpg", "expression": draw(text),
                "bbox": [x1, y1, x2, y2], "dataset_name": draw(st.sampled_from(["refcoco", "refcoco+", "refcocog"])), "height": h, "width": w}
        if draw(st.booleans()):
            line["sent_id"] = draw(st.integers(0, 10**6))
        lines.append(line)
    return {"REC_ref3_train.jsonl": "".join(json.dumps(line) + "\n" for line in lines)}


@st.composite
def shikra_files(draw, text):
    """Dialogues with marked phrases and their box groups (boxes as ref3's: whole, float, tie, past the border), and sizes."""
    lines, sizes = [], {}
    for _ in range(draw(st.integers(0, 3))):
        name = f"{draw(st.integers(0, 10**6))}" + draw(st.sampled_from([".jpg", ".jpg", ".b.jpg", "", "..jpg", "."]))  # the image id is the stem
        name = draw(st.sampled_from(["", ".", ".."])) + name if draw(st.integers(0, 4)) == 0 else name
        w, h = draw(st.integers(10, 900)), draw(st.integers(10, 900))
        boxes = []
        for _ in range(draw(st.integers(0, 3))):
            (x1, x2), (y1, y2) = _ref3_side(draw, w), _ref3_side(draw, h)
            boxes.append([x1, y1, x2, y2])
        texts, seqs = [], []
        for _ in range(2):
            pieces, seq = [draw(text)], []
            for _ in range(draw(st.integers(0, 2)) if boxes else 0):
                pieces.append(f"<ph_st>{draw(text)}<ph_ed>{draw(text)}")
                seq.append(draw(st.lists(st.integers(0, len(boxes) - 1), min_size=1, max_size=2)))
            texts.append("".join(pieces))
            seqs.append(seq)
        line = {"img_path": draw(st.sampled_from(["", "flickr30k-images/"])) + name, "question": texts[0], "cot_with_ans": texts[1], "boxes": boxes}
        for key, seq in zip(("question_boxes_seq", "answer_boxes_seq"), seqs):
            if seq or draw(st.booleans()):
                line[key] = seq
        if boxes or draw(st.booleans()):
            sizes[name] = [w, h]
        lines.append(line)
    files = {"GPT4GEN_RD_BoxCoT_train.jsonl": "".join(json.dumps(line) + "\n" for line in lines)}
    if sizes:
        files["image_sizes.json"] = sizes
    return files


@st.composite
def aokvqa_files(draw, text):
    ids = draw(unique_ints(0, 10**6, draw(st.integers(0, 3))))
    items = [{"question_id": draw(CLEAN) + str(k), "image_id": i, "question": draw(text), "choices": [draw(text) for _ in range(4)],
              "correct_choice_idx": draw(st.integers(0, 3)), "direct_answers": []} for k, i in enumerate(ids)]
    in_val = {i for i in ids if draw(st.booleans())}
    lists = {"val2014": sorted(in_val), "train2014": sorted(set(ids) - in_val)}
    split = {key: lists[key] for key in draw(st.sampled_from([("val2014",), ("train2014",), ("val2014", "train2014")]))}
    return {"aokvqa_v1p0_train.json": items, "coco2014_image_split.json": split}


@st.composite
def converted_files(draw, text):
    records = [{"id": f"coco_{k}", "image": f"coco/{draw(text)}.jpg", "conversations": draw(turns(text, True))} for k in range(draw(st.integers(0, 4)))]
    return {"coco.json": records}


@st.composite
def vgqa_files(draw, text):
    qids = iter(draw(unique_ints(0, 10**7, 8)))
    images = [{"id": k, "qas": [{"qa_id": next(qids), "image_id": draw(st.integers(0, 10**6)), "question": draw(text), "answer": draw(text),
                                 "a_objects": [], "q_objects": []} for _ in range(draw(st.integers(0, 2)))]}
              for k in range(draw(st.integers(0, 3)))]
    return {"question_answers.json": images}


@st.composite
def dvqa_files(draw, text):
    qids = draw(unique_ints(0, 10**7, draw(st.integers(0, 4))))
    return {"train_qa.json": [{"image": draw(text) + ".png", "question": draw(text), "answer": draw(text), "question_type": "data",
                               "bbox_answer": [], "question_id": q} for q in qids]}


@st.composite
def sharegpt4v_files(draw, text):
    prefixes = st.sampled_from(["coco/train2017/", "sam/images/", "wikiart/images/", ""])
    entries = [{"id": draw(text), "image": draw(prefixes) + draw(text) + ".jpg", "conversations": draw(turns(text, True))}
               for _ in range(draw(st.integers(0, 3)))]
    return {"sharegpt4v_instruct_gpt4-vision_cap100k.json": entries}


@st.composite
def llava_v15_files(draw, text):
    prefixes = st.sampled_from(["coco/train2017/", "gqa/images/", "vg/VG_100K/", "vg/VG_100K_2/", "ocr_vqa/images/", "textvqa/train_images/"])
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):  # a text-only ShareGPT chat
            entries.append({"id": draw(text), "model": "", "conversations": draw(turns(text, False))})
        else:
            entries.append({"id": draw(text), "image": draw(prefixes) + draw(text) + ".jpg", "conversations": draw(turns(text, True))})
    return {"llava_v1_5_mix665k.json": entries}


FORMATS = {
    "vgqa": (vgqa_files, "original"),
    "dvqa": (dvqa_files, "original"),
    "sharegpt4v": (sharegpt4v_files, "original"),
    "llava_v1.5": (llava_v15_files, "original"),
    "vqav2": (vqav2_files, "original"),
    "okvqa": (okvqa_files, "original"),
    "coco": (coco_files, "original"),
    "gqa": (gqa_files, "original"),
    "ocrvqa": (ocrvqa_files, "original"),
    "flickr30k": (flickr30k_files, "original"),
    "textcaps": (textcaps_files, "original"),
    "textvqa": (textvqa_files, "original"),
    "llava": (llava_files, "original"),
    "svit": (svit_files, "original"),
    "ref3rec": (ref3_files, "original"),
    "ref3reg": (ref3_files, "original"),
    "shikra": (shikra_files, "original"),
    "aokvqa": (aokvqa_files, "original"),
    "converted": (converted_files, "converted"),
}


# ---------------------------------------------------------------------------------------------- faults
def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _parent(root, path):
    for step in path[:-1]:
        root = root[step]
    return root


@st.composite
def broken(draw, files):
    """``files`` with maybe one fault; JSON files come back as text (a repeated key needs it)."""
    name = draw(st.sampled_from(sorted(files)))
    content = files[name]
    fault = draw(st.sampled_from(["none", "replace", "replace", "delete", "repeat", "repeat-key"]))
    out = {n: (c if isinstance(c, str) else json.dumps(c)) for n, c in files.items()}
    if isinstance(content, str) or fault == "none":
        if isinstance(content, str) and fault != "none" and content:  # JSON Lines: break one line
            lines = content.splitlines(keepends=True)
            k = draw(st.integers(0, len(lines) - 1))
            lines[k] = draw(st.sampled_from(["\n", "{}\n", "[1]\n", "{\"a\": 1} {\"b\": 2}\n", "not json\n", lines[k] * 2, lines[k]]))
            out[name] = "".join(lines)
        return out
    paths = [p for p in _paths(content) if p]
    if not paths:
        return out
    path = draw(st.sampled_from(paths))
    parent = _parent(content, path)
    if fault == "replace":
        parent[path[-1]] = draw(JUNK)
    elif fault == "delete":
        del parent[path[-1]]
    elif fault == "repeat" and isinstance(parent, list):
        parent.insert(path[-1], parent[path[-1]])
    elif fault == "repeat-key" and isinstance(content, dict) and len(path) == 1:
        key = path[0]
        body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in content.items())
        out[name] = "{" + body + f", {json.dumps(key)}: {json.dumps(content[key])}" + "}"
        return out
    out[name] = json.dumps(content)
    return out


# ---------------------------------------------------------------------------------------------- the two paths
def _outcome(tables_of):
    try:
        tables = list(tables_of())
    except DataOptimError as exc:
        return ("error", type(exc).__name__, str(exc), exc.file, exc.record, exc.field)
    except Exception as exc:  # noqa: BLE001 - compared, not hidden: both paths must fail alike
        return ("exception", type(exc).__name__)
    return ("records", pa.concat_tables(tables).to_pylist() if tables else [])


def _both(config: str, layout: str, files: dict[str, str], root: Path):
    data = root / "data"
    data.mkdir(parents=True)
    for name, text in files.items():
        (data / name).write_text(text, encoding="utf-8")
    cls = builder_class_for(config)
    b = cls(config_name=config, data_dir=str(data), cache_dir=str(root / "cache"), dataset_name="dataoptim", layout=layout)
    try:
        generators = b._split_generators(None)
    except DataOptimError as exc:
        return [("setup", type(exc).__name__, str(exc))], [("setup", type(exc).__name__, str(exc))]
    table_path, reference = [], []
    for g in generators:
        kw = g.gen_kwargs
        where = ", ".join(dict.fromkeys(str(p) for p in kw["files"].values()))
        if kw["layout"] == "converted":
            fast = lambda kw=kw: b.converted_tables(kw["files"]["converted"])  # noqa: E731
            rows = lambda kw=kw: b.converted_records(kw["files"]["converted"])  # noqa: E731
        else:
            fast = lambda kw=kw: b.original_tables(kw["split"], kw["files"])  # noqa: E731
            rows = lambda kw=kw: b.original_records(kw["split"], kw["files"])  # noqa: E731
        need = catalog.requires_image(config if config in catalog.SOURCES else "coco")  # llava_v1.5 holds text-only records
        table_path.append((g.name, _outcome(lambda: checked_tables(fast, rows, where, require_image=need))))
        reference.append((g.name, _outcome(lambda: checked_tables(lambda: None, rows, where, require_image=need))))
    return table_path, reference


@pytest.mark.parametrize("config", sorted(FORMATS))
def test_table_path_gives_the_reference_records_on_clean_input(config, tmp_path_factory):
    strategy, layout = FORMATS[config]
    name = "coco" if config == "converted" else config

    @settings(**SETTINGS)
    @given(files=strategy(CLEAN))
    def check(files):
        builder_module.FALLBACKS.clear()
        text = {n: (c if isinstance(c, str) else json.dumps(c)) for n, c in files.items()}
        fast, ref = _both(name, layout, text, tmp_path_factory.mktemp(config))
        assert fast == ref
        assert builder_module.FALLBACKS == [], "the table path handed over on a clean input"

    check()


@pytest.mark.parametrize("config", sorted(FORMATS))
def test_table_path_gives_the_reference_records_or_error_on_broken_input(config, tmp_path_factory):
    strategy, layout = FORMATS[config]
    name = "coco" if config == "converted" else config

    @settings(**SETTINGS)
    @given(data=st.data())
    def check(data):
        files = data.draw(strategy(EDGY))
        text = data.draw(broken(files))
        fast, ref = _both(name, layout, text, tmp_path_factory.mktemp(config))
        assert fast == ref

    check()


def test_a_repeated_question_id_key_is_not_dropped(tmp_path):
    """A dict decoder keeps the last of two equal keys; both questions must still reach the repeated-id check (GQA)."""
    from builder_harness import build_from

    from dataoptim.errors import RecordError

    body = '{"01": {"imageId": "1", "question": "q?", "fullAnswer": "a."}, "01": {"imageId": "2", "question": "r?", "fullAnswer": "b."}}'
    fast, ref = _both("gqa", "original", {"train_balanced_questions.json": body}, tmp_path / "paths")
    assert fast == ref
    assert [r["id"] for r in fast[0][1][1]] == ["gqa_01", "gqa_01"]  # both, as the streamed reader gives them
    with pytest.raises(RecordError, match="duplicate id with different content") as info:
        build_from("gqa", {"train_balanced_questions.json": body}, tmp_path / "build")
    assert info.value.id == "gqa_01"


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.dictionaries(st.sampled_from(["id", "a", "b"]), st.one_of(st.text("{},[] \"\\\n:ab", max_size=8), st.integers(), st.lists(st.text("{},", max_size=3), max_size=2)), max_size=3), max_size=8),
       block=st.integers(1, 64), indent=st.sampled_from([None, 1, 2]))
def test_list_pieces_cut_a_list_where_it_can_be_cut(tmp_path_factory, items, block, indent):
    """Pieces of a JSON list read a block at a time hold exactly its items, also when strings hold '}, {'."""
    from dataoptim.builder import list_pieces

    path = tmp_path_factory.mktemp("pieces") / "list.json"
    path.write_text(json.dumps(items, indent=indent))
    got = [json.loads(bytes(raw)) for piece in list_pieces(path, block=block) for raw in piece]
    assert got == items


def test_list_pieces_refuse_what_is_not_a_list(tmp_path):
    from dataoptim.builder import TablePathFailed, list_pieces

    for text in ('{"a": 1}', '[{"a": 1}, {"b": 2}] trailing', '[{"a": "}, {"}, {"b": ]'):
        (tmp_path / "x.json").write_text(text)
        with pytest.raises(TablePathFailed):
            [p for p in list_pieces(tmp_path / "x.json", block=4)]


def test_list_pieces_cut_between_items_not_between_nested_objects(tmp_path):
    """SVIT-like entries (lists of objects inside each item) read in small blocks: every item, none split."""
    from dataoptim.builder import list_pieces

    items = [{"image_id": k, "conversations": [{"content": [{"from": "user", "value": "a},{b"}, {"from": "gpt", "value": "c"}]} for _ in range(3)]}
             for k in range(200)]
    for indent in (None, 2):
        path = tmp_path / f"svit-{indent}.json"
        path.write_text(json.dumps(items, indent=indent))
        pieces = list(list_pieces(path, block=2048))
        assert len(pieces) > 5 and [json.loads(bytes(r)) for p in pieces for r in p] == items


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(1, 5000), st.lists(st.one_of(st.floats(-0.02, 1.02), st.integers(0, 1000).map(lambda k: (k + 0.5) / 1000),
                                                                                     st.integers(0, 1000).map(lambda k: k / 1000)), min_size=4, max_size=4)), min_size=1, max_size=20))
def test_vectorised_boxes_are_the_row_functions_boxes(rows):
    """RefCOCO's box text by columns (:func:`box_texts`) is ``format_box(normalize_box(...))`` row by row, rounding ties
    included; a box the row function refuses makes the column function refuse it (ValueError: the table path hands over)."""
    import numpy as np

    from dataoptim.boxes import BoxError, format_box, normalize_box
    from dataoptim.columns import box_texts

    widths = np.array([w for w, _, _ in rows])
    heights = np.array([h for _, h, _ in rows])
    boxes = np.array([[f[0] * w, f[1] * h, f[2] * w, f[3] * h] for w, h, f in rows], dtype=np.float64)
    try:
        expected = [format_box(normalize_box(list(b), int(w), int(h))) for b, w, h in zip(boxes.tolist(), widths, heights)]
    except BoxError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            box_texts(boxes, widths, heights)
    else:
        assert box_texts(boxes, widths, heights).to_pylist() == expected


def test_vectorised_rounding_is_pythons_round_at_every_thousandths_half():
    import numpy as np

    from dataoptim.columns import rounded_thousandths

    values = np.array([(k + 0.5) / 1000 for k in range(1000)] + [np.nextafter((k + 0.5) / 1000, d) for k in range(1000) for d in (0, 1)] + [0.0625, 0.0005, 0.9995, 1.0, 0.0])
    assert rounded_thousandths(values).tolist() == [round(round(float(v), 3) * 1000) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text("<image>ax\n", max_size=20)), max_size=12), st.integers(0, 4), st.integers(0, 4))
def test_token_counts_are_count_substring(texts, head, tail):
    """The rules' count of ``<image>`` (numpy over the data buffer) is pyarrow's ``count_substring``, on sliced arrays too."""
    from dataoptim.columns import token_counts

    array = pa.array(texts, type=pa.string())
    sliced = array.slice(min(head, len(texts)), max(0, len(texts) - head - tail))
    for values in (array, sliced):
        expected = [0 if c is None else c for c in pa.compute.count_substring(values, "<image>").to_pylist()]
        assert token_counts(values, "<image>").tolist() == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["yes", "no", "2", "", "red car", "Yes"]), min_size=1, max_size=10), max_size=12))
def test_most_frequent_by_columns_is_counters(lists):
    """``columns.most_frequent`` (TextVQA's and OK-VQA's answers by columns) picks what ``Counter.most_common(1)`` picks,
    ties going to the answer met first, blank answers counted like any other."""
    import numpy as np

    from dataoptim.columns import most_frequent as by_columns
    from dataoptim.convert import most_frequent

    lengths = np.array([len(values) for values in lists], dtype=np.int64)
    flat = pa.array([value for values in lists for value in values], type=pa.string())
    assert by_columns(lengths, flat).to_pylist() == [most_frequent(values) for values in lists]


def test_gc_is_paused_only_while_a_table_is_made():
    """``checked_tables`` turns the cyclic collector off while the table path decodes, and never across a yield."""
    import gc

    seen = []

    def fast():
        for _ in range(2):
            seen.append(gc.isenabled())
            yield pa.table({"id": ["a"], "image": ["coco/x.jpg"], "conversations": [[{"from": "human", "value": "<image>\nq"}, {"from": "gpt", "value": "a"}]]})

    assert gc.isenabled()
    tables = checked_tables(fast, lambda: iter(()), "test")
    for _ in tables:
        assert gc.isenabled()
    assert seen == [False, False] and gc.isenabled()
