"""Generate a synthetic pool in DataOptim's converted layout (``<source>.json``) for benchmarks.

Record counts are DataOptim's full-release counts (:data:`dataoptim.catalog.SOURCES`:
all 21 sources, 10,970,768 records at scale 1; ``--challenge`` keeps the 14 of the
challenge pool, 6,362,012) times ``scale``; ids follow each source's scheme; text lengths follow the
official example records (``tests/fixtures/examples/example-byod.json``):
short VQA answers (3–25 characters), ~50-character captions, A-OKVQA choices,
REC/REG boxes, and long multi-turn LLaVA and SVIT conversations (SVIT split
into conversation / complex / referring / detail parts). Text is sliced from a
random word stream, so generation is fast (orjson, written in chunks).

Usage: ``python benchmarks/gen_pool.py OUT_DIR --scale 0.1``
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
import zlib
from pathlib import Path

import orjson

from dataoptim.catalog import SOURCES

WORDS = (
    "the a man woman dog cat red blue green white black small large two three on in of with near "
    "table street car bus train person people sitting standing holding wearing shirt hat sign building "
    "water grass tree sky window door food plate pizza cake bowl phone laptop book shelf bottle cup "
    "left right top bottom front behind next to under above is are was were there this that it"
).split()

VQA_SUFFIX = " Answer the question directly with a short sentence or phrase."
CAPTION_PROMPTS = [
    "Describe the image as simply as possible with a sentence or phrase.",
    "Give a brief summary of what you see.",
    "Provide a short description of the image.",
    "Write a short description for the image.",
    "Briefly describe the content of the image.",
]


class Text:
    """Random text by slicing a long pre-built word stream (no per-word Python work)."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        self.stream = " ".join(rng.choice(WORDS) for _ in range(400_000))
        self.rng = rng
        self.n = len(self.stream)

    def __call__(self, length: int) -> str:
        length = max(1, int(length * (0.6 + 0.8 * self.rng.random())))
        start = self.rng.randrange(0, self.n - length - 1)
        return self.stream[start : start + length].strip() or "yes"


def _box(rng: random.Random) -> str:
    a, b = sorted((round(rng.random(), 3), round(rng.random(), 3)))
    c, d = sorted((round(rng.random(), 3), round(rng.random(), 3)))
    return f"[{a}, {c}, {b}, {d}]"


def records(name: str, count: int, seed: int):
    """Yield ``count`` records of source ``name`` (dicts with id, image, conversations)."""
    rng = random.Random(f"{name}-{seed}")
    text = Text(zlib.crc32(name.encode()) % 1000 + seed)
    hx = string.hexdigits[:16]
    for i in range(count):
        image: str | None
        if name == "textocrgpt4v":  # GPT-4V captions that spell out the text: ~700 characters
            turns = [("<image>\n" + CAPTION_PROMPTS[i % 5], text(700))]
            rid, image = f"textocrgpt4v_{i}", f"open_images/{''.join(rng.choices(hx, k=16))}.jpg"
        elif name == "scienceqa":
            options = " ".join(f"({c}) {text(15)}" for c in "ABCD"[: rng.randint(2, 4)])
            turns = [(f"<image>\n{text(70)}.\nContext: {text(120)}\nQuestion: {text(50)}?\nOptions: {options}", f"The correct option is {'AB'[i % 2]}.")]
            rid, image = f"scienceqa_{i * 3 + 1}", f"scienceqa/{i * 3 + 1}/image.png"
        elif name in ("vgqa", "docvqa", "dvqa"):
            qlen, alen = {"vgqa": (30, 12), "docvqa": (45, 12), "dvqa": (40, 6)}[name]
            turns = [("<image>\n" + text(qlen) + "?" + VQA_SUFFIX, text(alen))]
            if name == "vgqa":
                rid, image = f"vgqa_{986768 + i}", f"visual_genome/{rng.randrange(2_420_000)}.jpg"
            elif name == "docvqa":
                rid, image = f"docvqa_{i * 2 + 337}", f"docvqa/{''.join(rng.choices(string.ascii_lowercase, k=4))}{rng.randrange(10_000):04d}_{rng.randrange(1, 9)}.png"
            else:
                rid, image = f"dvqa_{i}", f"dvqa/bar_train_{i // 12:08d}.png"
        elif name == "sharegpt4v":  # one question, a ~1,000-character GPT-4V description
            turns = [("<image>\nWhat do you see happening in this image?", text(1000))]
            folder = rng.choice(["coco_2017/", "sam/images/", "llava/llava_pretrain/images/00000/", "wikiart/images/", "share_textvqa/images/", "web-celebrity/images/", "web-landmark/images/"])
            rid, image = f"sharegpt4v_{i}", f"{folder}{rng.randrange(10**9):012d}.jpg"
        elif name == "llava_v1.5":  # mix665k: ~6% text-only ShareGPT chats (40,688 of 665,298), VQA/REC/REG, LLaVA-Instruct
            rid = f"llava_v1.5_{i}"
            u = rng.random()
            if u < 0.0612:
                image, turns = None, [(text(300), text(900)) for _ in range(rng.randint(1, 4))]
            elif u < 0.35:
                image = f"coco_2017/{rng.randrange(581929):012d}.jpg"
                turns = [(("<image>\n" if t == 0 else "") + text(50) + "?", text(220)) for t in range(rng.randint(1, 5))]
            elif u < 0.7:
                image = f"visual_genome/{rng.randrange(2_420_000)}.jpg"
                turns = [(("<image>\n" if t == 0 else "") + f"Please provide the bounding box coordinate of the region this sentence describes: {text(25)}.", _box(rng)) for t in range(rng.randint(1, 8))]
            else:
                image = rng.choice([f"ocrvqa/{rng.randrange(10**10)}.jpg", f"open_images/{''.join(rng.choices(hx, k=16))}.jpg"])
                turns = [(("<image>\n" if t == 0 else "") + text(30) + "?\nAnswer the question using a single word or phrase.", text(8)) for t in range(rng.randint(1, 6))]
        elif name in ("coco", "flickr30k", "textcaps"):
            image = {"coco": f"coco/COCO_train2014_{rng.randrange(581929):012d}.jpg", "flickr30k": f"flickr30k/{rng.randrange(10**9)}.jpg", "textcaps": f"open_images/{''.join(rng.choices(hx, k=16))}.jpg"}[name]
            turns = [("<image>\n" + CAPTION_PROMPTS[i % 5], text(55))]
            rid = f"{name}_{i}"
        elif name in ("vqav2", "okvqa", "ocrvqa", "gqa", "textvqa"):
            qlen, alen = {"vqav2": (30, 4), "okvqa": (45, 8), "ocrvqa": (35, 12), "gqa": (35, 25), "textvqa": (35, 10)}[name]
            turns = [("<image>\n" + text(qlen) + "?" + VQA_SUFFIX, text(alen))]
            if name == "gqa":
                rid, image = f"gqa_{i:08d}", f"visual_genome/{rng.randrange(2_400_000)}.jpg"
            elif name == "ocrvqa":
                rid, image = f"ocrvqa_{i}", f"ocrvqa/{rng.randrange(10**10)}.jpg"
            elif name == "textvqa":
                rid, image = f"textvqa_{i}", f"open_images/{''.join(rng.choices(hx, k=16))}.jpg"
            else:
                rid, image = f"{name}_{i * 10 + rng.randrange(10)}", f"coco/COCO_train2014_{rng.randrange(581929):012d}.jpg"
        elif name == "aokvqa":
            options = "".join(f"{c}. {text(12)}\n" for c in "ABCD")
            turns = [(f"<image>\nChoose the correct option for the following question: {text(45)}?\n{options}", f"The correct option is {'ABCD'[i % 4]}.")]
            rid = "aokvqa_" + "".join(rng.choices(string.ascii_letters + string.digits, k=22))
            image = f"coco/COCO_train2014_{rng.randrange(581929):012d}.jpg"
        elif name in ("ref3rec", "ref3reg"):
            box = _box(rng)
            if name == "ref3rec":
                turns = [(f"In the picture <image>, where is {text(20)}? Answer with coordinates.", f"{box}.")]
            else:
                turns = [(f"<image>\nFor the given image, can you provide a unique description of the area {box}?", text(22))]
            rid, image = f"{name}_{i}", f"coco/COCO_train2014_{rng.randrange(581929):012d}.jpg"
        elif name == "shikra":
            turns = [("<image>\n" + text(45) + "?", text(350))]
            rid, image = f"shikra_{i}", f"flickr30k/{rng.randrange(10**9)}.jpg"
        elif name == "llava":
            kind = i % 3
            if kind == 0:  # conversation, 2-5 exchanges
                turns = [(("<image>\n" if t == 0 else "") + text(50) + "?", text(220)) for t in range(rng.randint(2, 5))]
            else:  # detail / complex reasoning
                turns = [("<image>\n" + text(80), text(900))]
            rid, image = f"llava_{i}", f"coco/COCO_train2014_{rng.randrange(581929):012d}.jpg"
        else:  # svit
            u = rng.random()
            if u < 0.33:
                part, turns = "conversation", [(("<image>\n" if t == 0 else "") + text(45) + "?", text(160)) for t in range(rng.randint(3, 6))]
            elif u < 0.66:
                part, turns = "complex", [("<image>\n" + text(70) + "?", text(250))]
            elif u < 0.965:
                part, turns = "referring", [("<image>\n" + text(150) + f" {_box(rng)}?", text(180))]
            else:
                part, turns = "detail", [("<image>\n" + text(60), text(2100))]
            rid, image = f"svit_{part}_{i}", f"visual_genome/{rng.randrange(108_077)}.jpg"
        conversations = []
        for human, gpt in turns:
            conversations.append({"from": "human", "value": human})
            conversations.append({"from": "gpt", "value": gpt})
        yield {"id": rid, "image": image, "conversations": conversations} if image is not None else {"id": rid, "conversations": conversations}


def generate(out_dir: str | Path, scale: float, seed: int = 0, *, quiet: bool = False, sources=None) -> dict[str, list[str]]:
    """Write ``<source>.json`` for every source of the catalog (21: DataOptim's 20 datasets) into ``out_dir``; return each source's ids.

    Files are JSON lists with one record per line (as valid JSON as DataOptim's, more compact).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids: dict[str, list[str]] = {}
    for name, source in SOURCES.items():
        if sources is not None and name not in sources:
            continue
        count = max(1, round(source.qas * scale))
        began = time.time()
        ids[name] = []
        tmp = out / f".{name}.json.tmp"
        with open(tmp, "wb") as handle:
            handle.write(b"[\n")
            chunk: list[bytes] = []
            first = True
            for record in records(name, count, seed):
                ids[name].append(record["id"])
                chunk.append(orjson.dumps(record))
                if len(chunk) == 50_000:
                    handle.write((b"" if first else b",\n") + b",\n".join(chunk))
                    first, chunk = False, []
            if chunk:
                handle.write((b"" if first else b",\n") + b",\n".join(chunk))
            handle.write(b"\n]\n")
        tmp.replace(out / f"{name}.json")
        if not quiet:
            print(f"  {name:12s} {count:>10,} records  {(out / f'{name}.json').stat().st_size / 1e6:8.1f} MB  {time.time() - began:5.1f} s", file=sys.stderr)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--challenge", action="store_true", help="only the 14 sources of the challenge pool")
    args = parser.parse_args()
    from dataoptim.catalog import CHALLENGE_SOURCES

    generate(args.out_dir, args.scale, args.seed, sources=CHALLENGE_SOURCES if args.challenge else None)


if __name__ == "__main__":
    main()
