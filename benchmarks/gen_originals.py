"""Generate the 14 sources' ORIGINAL annotation files (real names, layouts and per-record sizes) for build benchmarks.

Counts are DataOptim's full-release counts (:data:`dataoptim.catalog.SOURCES`) times
``scale``; each file has the published layout, with the fields a builder does not read
filled to about their real size (GQA's ``semantic``/``entailed``/``annotations``, VQAv2's
ten answers, TextCaps' tokens and reference captions, COCO's image list...), so parsing
costs what it costs on the real files:

==========  =====================================================  ==========================
source      files                                                  bytes per record (approx.)
==========  =====================================================  ==========================
coco        captions_train2014.json                                160 (+ images list)
flickr30k   dataset_flickr30k.json (train + val + test images)     230 (per sentence)
textcaps    TextCaps_0.1_train.json                                1,700
vqav2       v2_OpenEnded_..._questions.json + ..._annotations.json  80 + 750
okvqa       OpenEnded_..._questions.json + mscoco_..._annotations   80 + 900
ocrvqa      dataset.json (train + val + test)                      110 (per pair)
gqa         train_balanced_questions.json                          1,500
textvqa     TextVQA_0.5.1_train.json                               1,000
aokvqa      aokvqa_v1p0_train.json + coco2014_image_split.json     900
ref3rec/reg REC_ref3_train.jsonl (one line gives both)             220
shikra      GPT4GEN_RD_BoxCoT_train.jsonl + image_sizes.json       700
llava       llava_instruct_150k.json                               1,450
svit        conversation / complex_reasoning / detail_description  as gen_pool.py's SVIT records
            / referring_qa .json
==========  =====================================================  ==========================

Usage: ``python benchmarks/gen_originals.py OUT_DIR --scale 0.05 [--sources gqa,coco]``
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from pathlib import Path

import msgspec

from dataoptim.catalog import SOURCES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_pool import WORDS  # noqa: E402  (the same vocabulary as the converted-pool generator)

HEX = string.hexdigits[:16]
encode = msgspec.json.encode


class Text:
    """Random text sliced from one long word stream (fast)."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.stream = " ".join(rng.choice(WORDS) for _ in range(400_000))
        self.rng = rng

    def __call__(self, length: int) -> str:
        length = max(1, int(length * (0.6 + 0.8 * self.rng.random())))
        start = self.rng.randrange(0, len(self.stream) - length - 1)
        return self.stream[start:start + length].strip() or "yes"

    def tokens(self, length: int) -> list[str]:
        return self(length).split()


def _write(path: Path, obj) -> None:
    path.write_bytes(encode(obj))


def _write_list(path: Path, items, head: bytes = b"", tail: bytes = b"") -> None:
    """A JSON list (optionally inside an object: ``head`` ``[`` items ``]`` ``tail``) written in chunks."""
    with open(path, "wb") as handle:
        handle.write(head + b"[")
        first = True
        for item in items:
            handle.write((b"" if first else b",") + encode(item))
            first = False
        handle.write(b"]" + tail)


def _n(name: str, scale: float) -> int:
    return max(1, round(SOURCES[name].qas * scale))


def coco(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("coco", scale)
    images = [rng.randrange(581_929) for _ in range(n // 5 + 1)]
    head = encode({"info": {"description": "COCO 2014 Dataset", "year": 2014}, "images": [
        {"license": 3, "file_name": f"COCO_train2014_{i:012d}.jpg", "coco_url": f"http://images.cocodataset.org/train2014/COCO_train2014_{i:012d}.jpg",
         "height": 480, "width": 640, "date_captured": "2013-11-14 11:18:45", "flickr_url": "http://farm4.staticflickr.com/x.jpg", "id": i} for i in images],
        "licenses": []})[:-1] + b', "annotations": '
    _write_list(out / "captions_train2014.json", ({"image_id": images[k // 5], "id": k + 48, "caption": text(55)} for k in range(n)), head, b"}")


def flickr30k(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n_images = max(1, _n("flickr30k", scale) // 5)
    splits = ["train"] * n_images + ["val"] * max(1, n_images * 1014 // 29000) + ["test"] * max(1, n_images * 1000 // 29000)

    def images():
        for k, split in enumerate(splits):
            sentences = []
            for j in range(5):
                raw = text(60)
                sentences.append({"tokens": raw.split(), "raw": raw, "imgid": k, "sentid": 5 * k + j})
            yield {"sentids": [5 * k + j for j in range(5)], "imgid": k, "sentences": sentences, "split": split, "filename": f"{rng.randrange(10**9)}.jpg"}

    _write_list(out / "dataset_flickr30k.json", images(), b'{"images": ', b', "dataset": "flickr30k"}')


def textcaps(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    def data():
        for k in range(_n("textcaps", scale)):
            image_id = "".join(rng.choices(HEX, k=16))
            caption = text(60)
            refs = [text(60) for _ in range(5)]
            yield {"image_id": image_id, "image_classes": [text(10) for _ in range(4)], "image_width": 1024, "image_height": 768,
                   "set_name": "train", "image_name": image_id, "image_path": f"train/{image_id}.jpg", "caption_id": k,
                   "caption_str": caption, "caption_tokens": caption.split(), "reference_strs": refs, "reference_tokens": [r.split() for r in refs]}

    _write_list(out / "TextCaps_0.1_train.json", data(), b'{"dataset_type": "train", "dataset_name": "textcaps", "dataset_version": "0.1", "data": ', b"}")


def _vqa_pair(out: Path, scale: float, rng: random.Random, text: Text, name: str, q_name: str, a_name: str) -> None:
    n = _n(name, scale)
    qids = [rng.randrange(10**9) * 10 + k % 10 for k in range(n)]
    qids = list(dict.fromkeys(qids))
    images = [q // 1000 for q in qids]
    _write_list(out / q_name, ({"image_id": i, "question": text(30) + "?", "question_id": q} for i, q in zip(images, qids)),
                b'{"info": {}, "task_type": "Open-Ended", "data_type": "mscoco", "license": {}, "data_subtype": "train2014", "questions": ', b"}")

    def annotations():
        for i, q in zip(images, qids):
            answer = text(5)
            if name == "vqav2":
                yield {"question_type": "what is", "multiple_choice_answer": answer, "answers": [{"answer": answer, "answer_confidence": "yes", "answer_id": j + 1} for j in range(10)],
                       "image_id": i, "answer_type": "other", "question_id": q}
            else:
                yield {"image_id": i, "answer_type": "other", "question_type": "eight", "question_id": q, "confidence": 3,
                       "answers": [{"answer_id": j, "raw_answer": answer, "answer_confidence": "yes", "answer": answer if j < 6 else text(6)} for j in range(10)]}

    _write_list(out / a_name, annotations(), b'{"info": {}, "license": {}, "data_subtype": "train2014", "annotations": ', b', "data_type": "mscoco"}')


def vqav2(out, scale, rng, text):
    _vqa_pair(out, scale, rng, text, "vqav2", "v2_OpenEnded_mscoco_train2014_questions.json", "v2_mscoco_train2014_annotations.json")


def okvqa(out, scale, rng, text):
    _vqa_pair(out, scale, rng, text, "okvqa", "OpenEnded_mscoco_train2014_questions.json", "mscoco_train2014_annotations.json")


def ocrvqa(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n_train = _n("ocrvqa", scale)
    with open(out / "dataset.json", "wb") as handle:
        handle.write(b"{")
        made, first, keys = 0, True, set()
        total = n_train * 1.25  # train is 80% of the pairs
        while made < total:
            pairs = rng.randint(4, 6)
            split = 1 if made < n_train else rng.choice([2, 3])
            if split == 1:
                pairs = min(pairs, n_train - made) or pairs
            entry = {"imageURL": "http://ecx.images-amazon.com/images/I/51x.jpg", "questions": [text(35) + "?" for _ in range(pairs)],
                     "answers": [text(12) for _ in range(pairs)], "title": text(40), "authorName": text(15), "genre": text(12), "split": split}
            key = "".join(rng.choices(string.digits + "X", k=10))
            while key in keys:  # ASINs are unique keys (a repeat would send the builder to its row path)
                key = "".join(rng.choices(string.digits + "X", k=10))
            keys.add(key)
            handle.write((b"" if first else b",") + encode(key) + b":" + encode(entry))
            made += pairs
            first = False
        handle.write(b"}")


def gqa(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("gqa", scale)
    with open(out / "train_balanced_questions.json", "wb") as handle:
        handle.write(b"{")
        for k in range(n):
            question = {
                "semantic": [{"operation": "select", "dependencies": [j], "argument": f"{text(8)} ({rng.randrange(10**6)})"} for j in range(4)],
                "entailed": [f"{rng.randrange(10**8):08d}" for _ in range(5)], "equivalent": [f"{k:08d}"], "question": text(40) + "?",
                "imageId": str(rng.randrange(2_400_000)), "isBalanced": True, "groups": {"global": None, "local": "13-" + text(10)},
                "answer": text(6), "semanticStr": text(200),
                "annotations": {"answer": {"0": str(rng.randrange(10**6))}, "question": {"2": str(rng.randrange(10**6))}, "fullAnswer": {"1": str(rng.randrange(10**6))}},
                "types": {"detailed": "existAttrOr", "semantic": "attr", "structural": "logical"}, "fullAnswer": text(25) + ".",
            }
            handle.write((b"" if k == 0 else b",") + encode(f"{k:08d}") + b":" + encode(question))
        handle.write(b"}")


def textvqa(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    def data():
        for k in range(_n("textvqa", scale)):
            question = text(35) + "?"
            yield {"question": question, "image_id": "".join(rng.choices(HEX, k=16)), "image_classes": [text(10) for _ in range(6)],
                   "flickr_original_url": "https://farm2.staticflickr.com/4/x_o.jpg", "flickr_300k_url": "https://c5.staticflickr.com/4/x_z.jpg",
                   "image_width": 1024, "image_height": 664, "answers": [text(10) for _ in range(10)], "question_tokens": question.split(),
                   "question_id": k, "set_name": "train"}

    _write_list(out / "TextVQA_0.5.1_train.json", data(), b'{"data": ', b', "dataset_type": "train", "dataset_name": "textvqa", "dataset_version": "0.5.1"}')


def aokvqa(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("aokvqa", scale)
    images = [rng.randrange(581_929) for _ in range(n)]
    _write_list(out / "aokvqa_v1p0_train.json", ({"split": "train", "image_id": i, "question_id": "".join(rng.choices(string.ascii_letters + string.digits, k=22)),
                                                   "question": text(45) + "?", "choices": [text(12) for _ in range(4)], "correct_choice_idx": rng.randrange(4),
                                                   "direct_answers": [text(8) for _ in range(10)], "difficult_direct_answer": False,
                                                   "rationales": [text(90) for _ in range(3)]} for i in images))
    _write(out / "coco2014_image_split.json", {"val2014": sorted(set(images[::3]))})


def ref3(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("ref3rec", scale)
    with open(out / "REC_ref3_train.jsonl", "wb") as handle:
        for _ in range(n):
            w, h = rng.randint(300, 640), rng.randint(300, 640)
            x1, y1 = rng.uniform(0, w / 2), rng.uniform(0, h / 2)
            line = {"img_path": f"COCO_train2014_{rng.randrange(581_929):012d}.jpg", "expression": text(20), "bbox": [x1, y1, rng.uniform(x1 + 1, w), rng.uniform(y1 + 1, h)],
                    "dataset_name": rng.choice(["refcoco", "refcoco+", "refcocog"]), "height": h, "width": w}
            handle.write(encode(line) + b"\n")


def shikra(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("shikra", scale)
    sizes = {}
    with open(out / "GPT4GEN_RD_BoxCoT_train.jsonl", "wb") as handle:
        for _ in range(n):
            name = f"{rng.randrange(10**9)}.jpg"
            sizes[f"flickr30k/{name}"] = [500, 375]
            line = {"img_path": name, "boxes": [[10, 20, 200, 300], [50, 60, 120, 200]], "question": f"What is <ph_st>{text(10)}<ph_ed> doing?",
                    "question_boxes_seq": [[0]], "cot_with_ans": f"The {text(300)} <ph_st>{text(10)}<ph_ed> is here.", "answer_boxes_seq": [[1]]}
            handle.write(encode(line) + b"\n")
    _write(out / "image_sizes.json", sizes)


def llava(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    def entries():
        for k in range(_n("llava", scale)):
            if k % 3 == 0:
                turns = [(("<image>\n" if t == 0 else "") + text(50) + "?", text(220)) for t in range(rng.randint(2, 5))]
            else:
                turns = [("<image>\n" + text(80), text(900))]
            image = f"{rng.randrange(581_929):012d}"
            yield {"id": image, "image": f"{image}.jpg", "conversations": [t for h, g in turns for t in ({"from": "human", "value": h}, {"from": "gpt", "value": g})]}

    _write_list(out / "llava_instruct_150k.json", entries())


def svit(out: Path, scale: float, rng: random.Random, text: Text) -> None:
    n = _n("svit", scale)
    shares = {"conversation": 0.33, "complex": 0.33, "referring": 0.305, "detail": 0.035}
    files = {"conversation": "conversation.json", "complex": "complex_reasoning.json", "detail": "detail_description.json", "referring": "referring_qa.json"}

    def box() -> str:
        a, b = sorted((round(rng.random(), 3), round(rng.random(), 3)))
        c, d = sorted((round(rng.random(), 3), round(rng.random(), 3)))
        return f"[{a}, {c}, {b}, {d}]"

    for part, share in shares.items():
        left = max(1, round(n * share))

        def entries():
            nonlocal left
            image = 0
            while left > 0:
                image += 1
                per = min(left, {"conversation": rng.randint(3, 6), "complex": rng.randint(1, 3), "referring": rng.randint(5, 12), "detail": 1}[part])
                convs = []
                for _ in range(per):
                    if part == "conversation":
                        turns = [(text(45) + "?", text(160)) for _ in range(rng.randint(3, 6))]
                    elif part == "complex":
                        turns = [(text(70) + "?", text(250))]
                    elif part == "referring":
                        turns = [(f"{text(150)} the <st>{text(8)}<ed> {box()}?", f"The <st>{text(8)}<ed> {box()} {text(170)}")]
                    else:
                        turns = [(text(60), text(2100))]
                    convs.append({"content": [t for u, g in turns for t in ({"from": "user", "value": u}, {"from": "gpt", "value": g})]})
                left -= per
                yield {"image_id": image, "conversations": convs}

        _write_list(out / files[part], entries())


GENERATORS = {
    "coco": coco, "flickr30k": flickr30k, "textcaps": textcaps, "vqav2": vqav2, "okvqa": okvqa, "ocrvqa": ocrvqa, "gqa": gqa,
    "textvqa": textvqa, "aokvqa": aokvqa, "ref3rec": ref3, "ref3reg": ref3, "shikra": shikra, "llava": llava, "svit": svit,
}


def generate(out_dir: str | Path, scale: float, sources=None, seed: int = 0, *, quiet: bool = False) -> None:
    """Write the original files of ``sources`` (default all 14) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    done = set()
    for name in sources or GENERATORS:
        make = GENERATORS[name]
        if make in done:
            continue
        done.add(make)
        began = time.time()
        make(out, scale, random.Random(f"{name}-{seed}"), Text(seed + len(name)))
        if not quiet:
            print(f"  {name:10s} generated in {time.time() - began:5.1f} s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--sources", default=None, help="comma-separated (default: all 14)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    generate(args.out_dir, args.scale, args.sources.split(",") if args.sources else None, args.seed)


if __name__ == "__main__":
    main()
