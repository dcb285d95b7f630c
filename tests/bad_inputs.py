"""The bad-input table (issue 8): every fault, at every entry point, and what must come out.

Each :class:`Case` row names an entry point, says in words what is wrong with
its input, alters a valid set of inputs (:class:`Inputs`) to make that fault,
and gives the typed error expected with the words its one-line message must
hold (file, record, field). ``expected_error=None`` marks an input that is
valid by the rules (DESIGN §2, §10, §11) and must be accepted: extra fields,
a ``.gif`` saved under a ``.jpg`` name, repeated ids in a standard submission.

``tests/test_bad_inputs.py`` runs every row through the API and the CLI
(exit status 2, exactly one line on stderr, no output file left behind);
``python tests/render_bad_inputs.py`` writes the table to ``tests/BAD_INPUTS.md``.
A new fault is a new row here, nothing else.

Entry points (:data:`ENTRIES`):

* ``builder`` — ``load_dataset("dataoptim", config, data_dir=...)``; CLI ``pool build --sources <source>``.
* ``pool`` — ``build_pool(data_dir, out)``; CLI ``pool build``.
* ``select`` — ``Pool.by_ids(ids).to_llava_json(out)``; CLI ``select --ids``. With ``options(mix=SPEC)``:
  ``Pool.mix(parse_mix(SPEC), 2, ...)``; CLI ``select --mix SPEC --budget 2``. With ``options(where=SQL)`` /
  ``options(budget_tokens=N)``: then ``.where(SQL)`` / ``.sample_budget(budget_tokens=N)``; CLI ``--where`` / ``--budget-tokens``.
* ``validate`` — ``validate_byod(sub, images, output=out)``; CLI ``validate`` and ``select --byod``. With ``options(tokenizer=DIR)``: ``tokenizer=DIR`` / ``--tokenizer DIR``
  (also on ``select`` rows; ``"empty-folder"``: a folder without tokenizer files, ``"a-file"``: a file). With
  ``options(output_is_input=True)`` (``select``, ``validate``, ``boxes``): the output is the main input itself
  (``validate --report SUB``, ``select --byod SUB --summary SUB``).
* ``train-hf`` — ``train(..., backend="hf", model="tiny")``; CLI ``train --backend hf --model tiny``.
* ``train-llava`` — ``prepare_llava(..., dry_run=True)``; CLI ``train --backend llava --dry-run``.
* ``score`` — ``score(predictions, benchmark)``; CLI ``score``.
* ``evaluate`` — ``evaluate("tiny", benchmark, images, out)``; CLI ``evaluate --model tiny``.
* ``boxes`` — ``convert_file(in, out, TO, sizes)``; CLI ``boxes convert --to TO`` (``options(to=...)``, default
  ``padded``; ``options(sidecar=...)`` writes ``in.json.boxes.json`` first). ``select`` rows with
  ``options(boxes=..., image_sizes=...)``: ``to_llava_json(out, boxes=BoxMover(...))``; CLI ``select --boxes --image-sizes``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dataoptim.errors import (
    BoxFrameError,
    ConfigError,
    InputError,
    MissingFileError,
    ModelInputError,
    RecordError,
    UnknownIdError,
    UnsafeInputError,
)

#: Entry points, in table order, and the file whose name their messages give by default (``{file}``).
ENTRIES: dict[str, str] = {
    "builder": "coco.json",
    "pool": "coco.json",
    "select": "ids.txt",
    "validate": "sub.json",
    "train-hf": "sel.json",
    "train-llava": "sel.json",
    "score": "bench.jsonl",
    "evaluate": "bench.jsonl",
    "boxes": "in.json",
}

#: About 20 MB: the "huge single line" inputs.
HUGE = 20_000_000
#: JSON nested this deep: Python's json module runs out of recursion (RecursionError) long before.
DEEP = 100_000
DEEP_JSON = "[" * DEEP + "]" * DEEP


# ----------------------------------------------------------------------------------------------
# the valid inputs every row starts from
# ----------------------------------------------------------------------------------------------
def base_records() -> list[dict[str, Any]]:
    """Three valid records (DESIGN §2), ``coco_0`` .. ``coco_2``; record 1 holds a box."""
    return [
        {"id": "coco_0", "image": "coco/0.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat is in the image?"}, {"from": "gpt", "value": "A cat on a mat."}]},
        {"id": "coco_1", "image": "coco/1.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhere is the dog?"}, {"from": "gpt", "value": "At [0.1, 0.2, 0.5, 0.6]."},
            {"from": "human", "value": "What colour is it?"}, {"from": "gpt", "value": "Brown."}]},
        {"id": "coco_2", "image": "coco/2.jpg", "conversations": [
            {"from": "human", "value": "Describe <image> briefly."}, {"from": "gpt", "value": "Two birds."}]},
    ]


def base_benchmark() -> list[dict[str, Any]]:
    """Three canonical benchmark lines over the same images."""
    return [
        {"question_id": "q0", "image": "coco/0.jpg", "text": "What is it?", "task": "vqa", "answers": ["cat"] * 3},
        {"question_id": "q1", "image": "coco/1.jpg", "text": "Is there a dog?", "task": "pope", "answer": "yes"},
        {"question_id": "q2", "image": "coco/2.jpg", "text": "Describe.", "task": "caption", "answers": ["two birds"]},
    ]


@dataclass
class Inputs:
    """A valid set of inputs for one entry point, in a temp folder; a row's ``make`` alters it.

    Attributes:
        root: the temp folder.
        entry: the entry point.
        records: LLaVA records written to the entry's main file (JSON list, or JSONL if ``jsonl``).
        raw: bytes written as the main file instead of ``records`` (malformed files).
        files: extra annotation files for ``builder``/``pool``: name -> bytes, str or JSON value;
            ``None`` removes a default file.
        config: the builder config (``builder``).
        ids: the id file's text or bytes (``select``).
        bench, preds: benchmark and prediction lines (``score``, ``evaluate``): a list of JSON values, or bytes.
        sizes: the image-size table (``boxes``): a JSON value, or bytes.
        options: entry-specific switches (``image_folder``, ``open_images``, ``jsonl``, ``output``...);
            ``settings``: keyword arguments of the call, given to the CLI as ``--key value``.
        names: words substituted into a row's ``expected_words`` (``{file}``, ``{images}``...).
    """

    root: Path
    entry: str
    records: list[Any] = field(default_factory=base_records)
    raw: bytes | None = None
    files: dict[str, Any] = field(default_factory=dict)
    config: str = "coco"
    ids: str | bytes = "coco_0\nsvit_detail_0\ncoco_0\n"
    bench: list[Any] | bytes = field(default_factory=base_benchmark)
    preds: list[Any] | bytes = field(default_factory=lambda: [{"question_id": q, "text": t} for q, t in (("q0", "cat"), ("q1", "yes"), ("q2", "two birds"))])
    sizes: Any = field(default_factory=lambda: {"0.jpg": [30, 20], "1.jpg": [40, 30], "2.jpg": [20, 36]})
    options: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def main(self) -> Path:
        """The entry's main input file."""
        if self.entry in ("builder", "pool"):
            return self.data_dir / ENTRIES[self.entry]
        name = self.options.get("main_name") or ENTRIES[self.entry]
        if self.options.get("jsonl"):
            name = name.replace(".json", ".jsonl")
        return self.root / name

    def image(self, rel: str) -> Path:
        return self.images / rel


#: Images of the ids the ``select`` rows choose (records of DataOptim's example-byod.json, in the example pool).
SELECT_IMAGES = {"coco_0": "coco/COCO_train2014_000000318556.jpg", "svit_detail_0": "visual_genome/1.jpg"}


def make_images(inputs: Inputs) -> None:
    """Small real JPEGs for the three records (sizes 30x20, 40x30, 20x36), and for the ``select`` ids."""
    from PIL import Image

    paths = [f"coco/{i}.jpg" for i in range(3)] + list(SELECT_IMAGES.values())
    for i, (rel, size) in enumerate(zip(paths, [(30, 20), (40, 30), (20, 36), (30, 20), (30, 20)])):
        path = inputs.image(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (60 * i, 120, 200 - 40 * i)).save(path, format="JPEG")


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, bytes):
        path.write_bytes(value)
    elif isinstance(value, str):
        path.write_text(value, encoding="utf-8")
    else:
        path.write_text(json.dumps(value), encoding="utf-8")


def write_inputs(inputs: Inputs) -> None:
    """Write the (altered) inputs to disk."""
    main = inputs.main
    if inputs.entry in ("builder", "pool"):
        inputs.data_dir.mkdir(parents=True, exist_ok=True)
        files = {ENTRIES[inputs.entry]: inputs.raw if inputs.raw is not None else inputs.records, **inputs.files}
        for name, content in files.items():
            if content is not None:
                write_json(inputs.data_dir / name, content)
    elif inputs.entry == "select":
        write_json(main, inputs.ids)
    elif inputs.entry in ("score", "evaluate"):
        for path, lines in ((main, inputs.bench), (inputs.root / "preds.jsonl", inputs.preds)):
            write_json(path, lines if isinstance(lines, bytes) else "".join(json.dumps(x) + "\n" for x in lines))
    elif inputs.raw is not None:
        write_json(main, inputs.raw)
    elif inputs.options.get("jsonl"):
        write_json(main, "".join(json.dumps(r) + "\n" for r in inputs.records))
    else:
        write_json(main, inputs.records)
    if inputs.entry == "boxes":
        write_json(inputs.root / "sizes.json", inputs.sizes)
    inputs.names.setdefault("file", main.name)
    inputs.names.setdefault("images", inputs.images.name)


# ----------------------------------------------------------------------------------------------
# the table
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One row: ``entry`` fed ``input`` (made by ``make``) must raise ``expected_error`` (None: must be accepted).

    ``expected_words`` must all be in the one-line message (``{file}`` and the other
    :attr:`Inputs.names` are filled in). ``xfail`` / ``xfail_cli`` name a known,
    unfixed fault (of both paths / of the CLI path): that test is then expected
    to fail, strictly, so fixing the fault shows up as a row to update.
    """

    entry: str
    input: str
    make: Callable[[Inputs], None]
    expected_error: type[Exception] | None
    expected_words: tuple[str, ...] = ()
    xfail: str | None = None
    #: a known fault of the CLI path only (the API part must pass)
    xfail_cli: str | None = None

    @property
    def id(self) -> str:
        return f"{self.entry}: {self.input}"


def rec1(change: Callable[[dict], Any]) -> Callable[[Inputs], None]:
    """A ``make`` that alters record 1 (the second record) in place."""
    return lambda inputs: change(inputs.records[1])


def turns1(change: Callable[[list], Any]) -> Callable[[Inputs], None]:
    """A ``make`` that alters record 1's conversation in place."""
    return lambda inputs: change(inputs.records[1]["conversations"])


def raw(content: bytes | str) -> Callable[[Inputs], None]:
    data = content.encode("utf-8") if isinstance(content, str) else content

    def make(inputs: Inputs) -> None:
        inputs.raw = data

    return make


def setter(**attrs: Any) -> Callable[[Inputs], None]:
    def make(inputs: Inputs) -> None:
        for key, value in attrs.items():
            setattr(inputs, key, value() if callable(value) else value)

    return make


def options(**opts: Any) -> Callable[[Inputs], None]:
    return lambda inputs: inputs.options.update(opts)


def _names(**names: str) -> Callable[[Inputs], None]:
    """A ``make`` that sets words of the expected message (``{file}``...)."""
    return lambda inputs: inputs.names.update(names)


def both(*makes: Callable[[Inputs], None]) -> Callable[[Inputs], None]:
    def make(inputs: Inputs) -> None:
        for m in makes:
            m(inputs)

    return make


def _pop(key):
    return lambda d: d.pop(key)


def _dup_other_content(inputs: Inputs) -> None:
    twin = json.loads(json.dumps(inputs.records[0]))
    twin["conversations"][1]["value"] = "A different answer."
    inputs.records.append(twin)


def _dup_same_content(inputs: Inputs) -> None:
    inputs.records.append(json.loads(json.dumps(inputs.records[0])))


def _huge_image_path(record: dict) -> None:
    record["image"] = "coco/../" + "a" * HUGE + ".jpg"


def _symlink_out(inputs: Inputs, rel: str = "coco/1.jpg") -> None:
    outside = inputs.root / "outside.jpg"
    os.replace(inputs.image(rel), outside)
    os.symlink(outside, inputs.image(rel))


def _symlink_dir_out(inputs: Inputs, top: str = "coco") -> None:
    """An organiser's layout: ``images/coco`` is a link to a folder elsewhere (``images/coco -> /data/coco``)."""
    elsewhere = inputs.root / "data-disk" / top
    elsewhere.parent.mkdir(parents=True, exist_ok=True)
    os.replace(inputs.image(top), elsewhere)
    os.symlink(elsewhere, inputs.image(top), target_is_directory=True)


#: The option that admits links out of the image folder (API ``allow_symlinks_out=True``, CLI ``--allow-symlinks-out``).
ALLOW_OUT = options(allow_symlinks_out=True)
#: The words of the one image-path rule's refusal (dataoptim.imagepath).
OUT = "outside the image folder"


def _gif_named_jpg(inputs: Inputs, rel: str = "coco/1.jpg") -> None:
    from PIL import Image

    Image.new("P", (40, 30), 3).save(inputs.image(rel), format="GIF")


def _corrupt_image(inputs: Inputs, rel: str = "coco/1.jpg", content: bytes = b"\xff\xd8\xff\xe0\x00\x10JFIF truncated") -> None:
    inputs.image(rel).write_bytes(content)


def _cut_image(inputs: Inputs, rel: str = "coco/1.jpg") -> None:
    """A JPEG cut short after its header (and the first bytes of its scan): the header parses, decoding fails (LLaVA issue 1618)."""
    data = inputs.image(rel).read_bytes()
    inputs.image(rel).write_bytes(data[: data.index(b"\xff\xda") + 20])


#: What a failed image download often saves under the image's name.
_HTML = b"<!DOCTYPE html><html><body>404 Not Found</body></html>"


def _missing_image(inputs: Inputs, rel: str = "coco/1.jpg") -> None:
    inputs.image(rel).unlink()


# Faults of one LLaVA record (DESIGN §2), fed to every entry that reads LLaVA records.
# (input, make, expected error, words, {entry: (error, words)} where an entry differs)
_R = "record 1 (id 'coco_1')"
RECORD_FAULTS: list[tuple[str, Callable, Any, tuple[str, ...], dict[str, Any]]] = [
    ("record is a string, not an object", lambda i: i.records.__setitem__(1, "coco_1"), RecordError, ("{file}", "record 1", "JSON object"), {}),
    ("id is a number", rec1(lambda r: r.update(id=1)), RecordError, ("{file}", "record 1", "field 'id'"), {}),
    ("id missing", rec1(_pop("id")), RecordError, ("{file}", "record 1", "field 'id'", "missing"), {}),
    ("id with a space", rec1(lambda r: r.update(id="coco 1")), RecordError, ("{file}", "record 1", "field 'id'", "no spaces"), {}),
    ("id of an unknown source (prefix)", rec1(lambda r: r.update(id="mine_1")), None, (), {
        "builder": (RecordError, ("{file}", "record 1 (id 'mine_1')", "field 'id'", "does not belong to source 'coco'")),
        "pool": (RecordError, ("{file}", "record 1 (id 'mine_1')", "field 'id'", "does not belong to source 'coco'")),
    }),
    ("image is a number", rec1(lambda r: r.update(image=7)), RecordError, ("{file}", _R, "field 'image'"), {}),
    ("image field missing", rec1(_pop("image")), RecordError, ("{file}", _R, "field 'image'", "missing"), {
        # BYOD and the trainers allow text-only records (as LLaVA does), which must then hold no <image>;
        # a builder or pool source of images (coco here) still needs one
        "validate": (RecordError, ("{file}", _R, "field 'conversations[0].value'", "without 'image'")),
        "train-hf": (RecordError, ("{file}", _R, "field 'conversations[0].value'", "without 'image'")),
        "train-llava": (RecordError, ("{file}", _R, "field 'conversations[0].value'", "without 'image'")),
    }),
    ("image is null", rec1(lambda r: r.update(image=None)), RecordError, ("{file}", _R, "field 'image'", "null"), {
        "builder": (RecordError, ("{file}", _R, "field 'image'", "non-empty string")),
        "pool": (RecordError, ("{file}", _R, "field 'image'", "non-empty string")),
        # the trainers refuse it as validate does (LLaVA 744cb3e: 'image' in sources[0], then it opens None)
    }),
    ("image path absolute", rec1(lambda r: r.update(image="/etc/passwd")), RecordError, ("{file}", _R, "field 'image'", "relative"), {}),
    ("image path with '..'", rec1(lambda r: r.update(image="coco/../../outside.jpg")), RecordError, ("{file}", _R, "field 'image'", "inside the image folder"), {}),
    ("image path with a backslash", rec1(lambda r: r.update(image="coco\\1.jpg")), RecordError, ("{file}", _R, "field 'image'", "'/' separators"), {}),
    ("huge single line: a 20 MB image path", rec1(_huge_image_path), RecordError, ("{file}", _R, "field 'image'", "characters)"), {}),
    ("conversations missing", rec1(_pop("conversations")), RecordError, ("{file}", _R, "field 'conversations'", "missing"), {}),
    ("conversations is an object", rec1(lambda r: r.update(conversations={"from": "human", "value": "<image>\nhi"})), RecordError, ("{file}", _R, "field 'conversations'"), {}),
    ("conversations empty", rec1(lambda r: r.update(conversations=[])), RecordError, ("{file}", _R, "field 'conversations'", "non-empty"), {}),
    ("turn is a string", turns1(lambda t: t.__setitem__(1, "Brown.")), RecordError, ("{file}", _R, "field 'conversations[1]'"), {}),
    ("turn without 'value'", turns1(lambda t: t[1].pop("value")), RecordError, ("{file}", _R, "field 'conversations[1].value'", "missing"), {}),
    ("turn value is a number", turns1(lambda t: t[1].update(value=3)), RecordError, ("{file}", _R, "field 'conversations[1].value'", "string"), {}),
    ("turn value empty", turns1(lambda t: t[3].update(value="  ")), RecordError, ("{file}", _R, "field 'conversations[3].value'", "empty"), {}),
    ("turns out of order (gpt first)", turns1(lambda t: t.reverse()), RecordError, ("{file}", _R, "field 'conversations[0].from'", "alternate"), {}),
    ("turn from 'user' instead of 'human'", turns1(lambda t: t[2].update({"from": "user"})), RecordError, ("{file}", _R, "field 'conversations[2].from'"), {}),
    ("conversation ends with a human turn", turns1(lambda t: t.pop()), RecordError, ("{file}", _R, "field 'conversations[2]'", "end with a 'gpt' turn"), {}),
    ("<image> missing", turns1(lambda t: t[0].update(value="Where is the dog?")), RecordError, ("{file}", _R, "field 'conversations[0].value'", "exactly one <image>"), {}),
    ("<image> twice in the first turn", turns1(lambda t: t[0].update(value="<image>\n<image>\nWhere is the dog?")), RecordError, ("{file}", _R, "field 'conversations[0].value'", "found 2"), {}),
    ("<image> in a later turn", turns1(lambda t: t[2].update(value="<image>\nWhat colour is it?")), RecordError, ("{file}", _R, "field 'conversations[2].value'", "only in the first human turn"), {}),
    ("duplicate id with different content", _dup_other_content, RecordError, ("{file}", "record 3 (id 'coco_0')", "field 'id'", "record 0"), {
        # load_dataset's check (builder.py) names the file and the split's rows, pool build --sources the records
        "builder": (RecordError, ("{file}", "id 'coco_0'", "field 'id'", "different content")),
    }),
    ("extra fields (kept out of the export)", rec1(lambda r: r.update(source="coco", score=0.5, note={"a": 1})), None, (), {}),
]

#: Entries that read LLaVA records, for :data:`RECORD_FAULTS`.
RECORD_ENTRIES = ("builder", "pool", "validate", "train-hf", "train-llava")

# Faults of a whole LLaVA JSON file.
FILE_FAULTS: list[tuple[str, Callable, Any, tuple[str, ...], dict[str, Any]]] = [
    ("empty file", raw(b""), InputError, ("{file}", "empty"), {}),
    ("whitespace only", raw(b" \n\t\n"), InputError, ("{file}", "empty"), {}),
    ("truncated JSON", raw('[{"id": "coco_0", "image": "coco/0.jpg", "conversations": [{"from": "human", "val'), InputError, ("{file}", "not valid JSON"), {
        "validate": (InputError, ("{file}", "record 0", "not valid JSON")),
    }),
    ("malformed JSON (missing comma)", raw("[" + json.dumps(base_records()[0]) + " " + json.dumps(base_records()[1]) + "]"), InputError, ("{file}", "not valid JSON"), {
        "validate": (InputError, ("{file}", "record 1", "not valid JSON")),
    }),
    ("top level is an object, not a list", raw('{"records": []}'), InputError, ("{file}", "list"), {}),
    ("empty list", raw("[]"), InputError, ("{file}", "no records"), {
        "builder": (InputError, ("{file}", "no examples")),
        "pool": (MissingFileError, ("no source could be built", "{file}", "no records")),
        "boxes": (None, ()),
    }),
    ("not UTF-8 text", raw(b'[{"id": "coco_0", "image": "coco/caf\xe9.jpg", "conversations": []}]'), InputError, ("{file}", "not UTF-8"), {}),
]
FILE_ENTRIES = ("builder", "pool", "validate", "train-hf", "train-llava", "boxes")


def _cross(faults, entries) -> list[Case]:
    rows = []
    for text, make, error, words, overrides in faults:
        for entry in entries:
            err, w, *known = overrides.get(entry, (error, words))
            rows.append(Case(entry, text, make, err, w, *known))
    return rows



def _original(config: str, files: dict[str, Any]) -> Callable[[Inputs], None]:
    """A builder row reading original (not converted) files: ``files`` replace ``coco.json``."""

    def make(inputs: Inputs) -> None:
        inputs.config = config
        inputs.files = dict(files)
        inputs.raw = None
        inputs.records = None  # type: ignore[assignment]
        inputs.files.setdefault("coco.json", None)

    return make


_OCR = {"imageURL": "http://x/1.jpg", "questions": ["Who wrote this book?"], "answers": ["Sandra Boynton"], "split": 1}
_REF = {"img_path": "COCO_train2014_000000544238.jpg", "expression": "a girl", "bbox": [0.0, 50.9, 529.3, 480.0],
        "dataset_name": "refcoco", "height": 480, "width": 640}
_RD = {"img_path": "1.jpg", "boxes": [[10, 20, 110, 220]], "question": "What is <ph_st>the man<ph_ed> doing?",
       "cot_with_ans": "<ph_st>The man<ph_ed> walks.", "answer": "Walking.", "question_boxes_seq": [[0]], "answer_boxes_seq": [[0]]}


def _jsonl(*lines: Any) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


def _huge_jsonl_line() -> str:
    return _jsonl(_REF, '{"img_path": "' + "x" * HUGE)  # a 20 MB line cut off


BUILDER_ROWS = [
    Case("builder", "OCR-VQA dataset.json: train entries only (validation and test splits empty)",
         _original("ocrvqa", {"dataset.json": {"1": _OCR}}), None),
    Case("builder", "OCR-VQA dataset.json: 'split' is a string", _original("ocrvqa", {"dataset.json": {"1": {**_OCR, "split": "1"}}}),
         InputError, ("dataset.json", "record 0", "field '1'", "'split'")),
    Case("builder", "OCR-VQA dataset.json: an entry lacks 'answers'", _original("ocrvqa", {"dataset.json": {"1": {k: v for k, v in _OCR.items() if k != "answers"}}}),
         InputError, ("dataset.json", "record 0", "field '1.answers'", "missing")),
    Case("builder", "OCR-VQA dataset.json: a key that makes a path with '..'", _original("ocrvqa", {"dataset.json": {"../1": _OCR}}),
         RecordError, ("dataset.json", "record 0", "field 'key'", "inside the image folder")),
    Case("builder", "OCR-VQA dataset.json: not UTF-8", _original("ocrvqa", {"dataset.json": b'{"k\xff": 1}'}),
         InputError, ("dataset.json", "not UTF-8")),
    Case("builder", "OCR-VQA dataset.json: a key repeated (each pair numbered in file order)",
         _original("ocrvqa", {"dataset.json": '{"1": %s, "1": %s}' % (json.dumps(_OCR), json.dumps(_OCR))}), None),
    Case("builder", "RefCOCO JSONL: a line truncated", _original("ref3rec", {"REC_ref3_train.jsonl": _jsonl(_REF, json.dumps(_REF)[:40])}),
         InputError, ("REC_ref3_train.jsonl", "record 1", "not valid JSON")),
    Case("builder", "RefCOCO JSONL: huge single line (20 MB, cut off)", lambda i: _original("ref3rec", {"REC_ref3_train.jsonl": _huge_jsonl_line()})(i),
         InputError, ("REC_ref3_train.jsonl", "record 1", "not valid JSON")),
    Case("builder", "RefCOCO JSONL: a line is a list", _original("ref3rec", {"REC_ref3_train.jsonl": _jsonl(_REF, [1, 2])}),
         InputError, ("REC_ref3_train.jsonl", "record 1", "JSON object")),
    Case("builder", "RefCOCO JSONL: bbox outside the image", _original("ref3rec", {"REC_ref3_train.jsonl": _jsonl(_REF, {**_REF, "bbox": [0, 0, 900, 480]})}),
         InputError, ("REC_ref3_train.jsonl", "record 1", "bbox")),
    Case("builder", "RefCOCO JSONL: bbox of three numbers", _original("ref3rec", {"REC_ref3_train.jsonl": _jsonl({**_REF, "bbox": [1, 2, 3]})}),
         InputError, ("REC_ref3_train.jsonl", "record 0", "bbox")),
    Case("builder", "RefCOCO JSONL: width is a string", _original("ref3rec", {"REC_ref3_train.jsonl": _jsonl({**_REF, "width": "640"})}),
         InputError, ("REC_ref3_train.jsonl", "record 0")),
    Case("builder", "RefCOCO refs pickle carrying a callable (os.system)", _original("ref3rec", {
        f"{d}/{name}": value for d, p in (("refcoco", "refs(unc).p"), ("refcoco+", "refs(unc).p"), ("refcocog", "refs(umd).p"))
        for name, value in ((p, b"cos\nsystem\n(S'echo pwned'\ntR."), ("instances.json", {"images": [], "annotations": []}))}),
         UnsafeInputError, ("refs(unc).p", "refused")),
    Case("builder", "Shikra RD JSONL: box outside the image", _original("shikra", {
        "GPT4GEN_RD_BoxCoT_train.jsonl": _jsonl({**_RD, "boxes": [[10, 20, 900, 220]]}), "image_sizes.json": {"1.jpg": [500, 333]}}),
         InputError, ("GPT4GEN_RD_BoxCoT_train.jsonl", "record 0", "box")),
    Case("builder", "Shikra RD JSONL: image size unknown", _original("shikra", {
        "GPT4GEN_RD_BoxCoT_train.jsonl": _jsonl(_RD), "image_sizes.json": {"2.jpg": [500, 333]}}),
         MissingFileError, ("1.jpg",)),
    Case("builder", "converted file of another layout (a JSON object)", raw('{"annotations": []}'), InputError, ("{file}", "list")),
    Case("builder", "identical duplicate id (kept, the pool keeps it once)", _dup_same_content, None),
]

POOL_ROWS = [
    Case("pool", "identical duplicate id (kept once, reported)", _dup_same_content, None),
    Case("pool", "no annotation file in the data folder", lambda i: setattr(i, "files", {"coco.json": None}) or setattr(i, "raw", None),
         MissingFileError, ("no source could be built",)),
    Case("pool", "output is an existing folder that is not a pool", options(output_is_folder=True), ConfigError, ("pool", "not a pool; refusing to replace")),
    Case("pool", "output is a folder with a sources/ sub-folder and the user's files (not a pool: never replaced)",
         options(output_is_folder=True, with_sources=True), ConfigError, ("pool", "not a pool; refusing to replace")),
    Case("pool", "a file that names no source is ignored", setter(files={"notes.json": {"a": 1}, "readme.txt": "hi"}), None),
    Case("pool", "--data-dir names a .zip archive that does not exist", both(options(data_dir="data.zip"), _names(file="data.zip")),
         MissingFileError, ("{file}", "data archive not found")),
]

SELECT_ROWS = [
    Case("select", "repeated ids (repeated samples), CRLF, BOM, spaces, blank lines", setter(ids="\ufeff coco_0\r\n\r\nsvit_detail_0  \r\ncoco_0\r\n"), None),
    Case("select", "id with a space", setter(ids="coco_0\ncoco 1\n"), InputError, ("{file}", "line 2", "'coco 1'")),
    Case("select", "--boxes padded with --image-sizes (DataOptim's tool moves ref3rec's box)", both(setter(ids="ref3rec_287603\ncoco_0\n"),
         options(boxes="padded", image_sizes={"COCO_train2014_000000544238.jpg": [640, 480]})), None),
    Case("select", "--boxes padded without --image-folder or --image-sizes", options(boxes="padded"), ConfigError,
         ("the images' sizes: give --image-folder DIR or --image-sizes FILE",)),
    Case("select", "--boxes sideways", options(boxes="sideways"), ConfigError, ("must be one of original, padded, padded-exact", "'sideways'")),
    Case("select", "--boxes padded, a record's image not in --image-sizes", both(setter(ids="coco_0\nref3rec_287603\n"), options(boxes="padded", image_sizes={"1.jpg": [640, 480]})),
         MissingFileError, ("{file}", "record 1 (id 'ref3rec_287603')", "field 'image'", "size of image 'coco/COCO_train2014_000000544238.jpg'")),
    Case("select", "--boxes padded, --image-sizes file is an empty table ({})", options(boxes="padded", image_sizes={}), InputError,
         ("sizes.json", "image-size file is empty")),
    Case("select", "--boxes padded, --image-sizes file truncated", options(boxes="padded", image_sizes=b'{"1.jpg": [640, 4'), InputError,
         ("sizes.json", "image-size file", "not valid JSON")),
    Case("select", "--boxes padded-exact, a box the exact conversion cannot place (here none: ref3rec's box is valid)",
         both(setter(ids="ref3rec_287603\n"), options(boxes="padded-exact", image_sizes={"COCO_train2014_000000544238.jpg": [640, 480]})), None),
    Case("select", "id with '../'", setter(ids="coco_0\n../etc/passwd\n"), InputError, ("{file}", "line 2")),
    Case("select", "id not in the pool", setter(ids="coco_0\ncoco_999\n"), UnknownIdError, ("{file}", "coco_999")),
    Case("select", "id of an unknown source (prefix)", setter(ids="coco_0\nmine_1\n"), UnknownIdError, ("{file}", "mine_1")),
    Case("select", "empty file", setter(ids=""), InputError, ("{file}", "empty")),
    Case("select", "blank lines only", setter(ids="\n  \n\n"), InputError, ("{file}", "no ids")),
    Case("select", "not UTF-8 text", setter(ids=b"coco_0\n\xff\xfe\n"), InputError, ("{file}", "UTF-8")),
    Case("select", "a JSON list given as the id file", setter(ids='["coco_0"]\n'), InputError, ("{file}", "line 1")),
    Case("select", "huge single line (a 20 MB id)", setter(ids=lambda: "coco_0\n" + "a" * HUGE + "\n"), UnknownIdError, ("{file}", "not in the pool")),
    Case("select", "huge single line (a 20 MB line that is no id)", setter(ids=lambda: "coco_0\n" + "a b" * (HUGE // 3) + "\n"), InputError, ("{file}", "line 2", "malformed")),
    Case("select", "image file missing under --image-folder", both(options(image_folder=True), lambda i: _missing_image(i, SELECT_IMAGES["coco_0"])),
         MissingFileError, ("{images}", SELECT_IMAGES["coco_0"])),
    Case("select", ".gif saved under a .jpg name (--image-folder): reported, not refused", both(options(image_folder=True), lambda i: _gif_named_jpg(i, SELECT_IMAGES["coco_0"])), None),
    Case("select", "empty image file under --image-folder", both(options(image_folder=True), lambda i: _corrupt_image(i, SELECT_IMAGES["svit_detail_0"], b"")),
         InputError, ("{file}", "record 1 (id 'svit_detail_0')", "field 'image'", SELECT_IMAGES["svit_detail_0"], "is empty")),
    Case("select", "image file of no image format (an HTML error page) under --image-folder",
         both(options(image_folder=True), lambda i: _corrupt_image(i, SELECT_IMAGES["coco_0"], _HTML)),
         InputError, ("{file}", "record 0 (id 'coco_0')", "field 'image'", SELECT_IMAGES["coco_0"], "is not an image")),
    Case("select", "image is a symlink out of the image folder (--image-folder)", both(options(image_folder=True), lambda i: _symlink_out(i, SELECT_IMAGES["coco_0"])),
         UnsafeInputError, ("{file}", "record 0 (id 'coco_0')", "field 'image'", OUT, "--allow-symlinks-out")),
    Case("select", "image folder's sub-folder is a symlink out of it (--image-folder)", both(options(image_folder=True), _symlink_dir_out),
         UnsafeInputError, ("{file}", "record 0 (id 'coco_0')", "field 'image'", OUT)),
    Case("select", "image is a symlink out of the image folder, --allow-symlinks-out",
         both(options(image_folder=True), ALLOW_OUT, lambda i: _symlink_out(i, SELECT_IMAGES["coco_0"])), None),
    Case("select", "image folder's sub-folder is a symlink out of it (organiser layout), --allow-symlinks-out",
         both(options(image_folder=True), ALLOW_OUT, _symlink_dir_out), None),
    Case("select", "pool without manifest (interrupted build)", options(damage="manifest"), MissingFileError, ("not a complete pool",)),
    Case("select", "pool manifest truncated", options(damage="manifest-truncated"), InputError, ("manifest.json",)),
    Case("select", "pool source file truncated", options(damage="arrow-truncated"), InputError, ("coco.arrow", "manifest says")),
    Case("select", "pool manifest holds only its format ({\"format\": 2})", options(damage="manifest-format-only"), InputError, ("manifest.json", "field 'id_width'", "damaged")),
    Case("select", "pool manifest is a JSON list ([1])", options(damage="manifest-list"), InputError, ("manifest.json", "not a JSON object")),
    Case("select", "pool index file index/ids.npy deleted", options(damage="index-ids-deleted"), MissingFileError, ("ids.npy", "missing")),
    Case("select", "pool index file index/hashes.npy is garbage", options(damage="index-hashes-garbage"), InputError, ("hashes.npy", "cannot be read")),
    # a mixture (--mix SPEC --budget 2; the API: pool.mix(parse_mix(SPEC), 2, ...))
    Case("select", "--where on width, null in every record of a pool built from converted JSON", options(where="width > 100"), ConfigError,
         ("'width'", "null in every record", "'images' signal", "--image-folder")),
    Case("select", "--where on a column no pool or signal has", options(where="colour = 'red'"), ConfigError, ("'colour'", "unknown column")),
    Case("select", "--where that does not parse", options(where="answer_words >>> 3"), ConfigError, ("where", "does not parse")),
    Case("select", "--where TRUE (a constant: every record)", options(where="TRUE"), None),
    Case("select", "--where FALSE (a constant: no record)", options(where="FALSE"), None),
    Case("select", "--output is the id file itself", options(output_is_input=True), ConfigError, ("{file}", "the same file as", "write to another file")),
    Case("select", "--tokenizer folder that does not exist", options(tokenizer="/nonexistent/no-such-tokenizer"), MissingFileError,
         ("no-such-tokenizer", "tokenizer folder not found")),
    Case("select", "--tokenizer folder without tokenizer files", options(tokenizer="empty-folder"), MissingFileError,
         ("tok", "tokenizer.model", "tokenizer.json are both missing")),
    Case("select", "--tokenizer is a file", options(tokenizer="a-file"), MissingFileError, ("tok.json", "is a file, not a tokenizer folder")),
    Case("select", "--budget-tokens without the tokens signal", options(budget_tokens=100), ConfigError, ("'total_tokens'", "'tokens' signal", "--tokenizer")),
    Case("select", "mixture --seed -1", options(mix="vqav2=1", seed=-1), ConfigError, ("seed", "non-negative integer", "-1")),
    Case("select", "mixture --exclude-images is a binary file", both(options(mix="vqav2=1", exclude_images="eval.bin"), _names(file="eval.bin")),
         InputError, ("{file}", "not UTF-8 text")),
    Case("select", "mixture key repeated (vqav2=0.5,vqav2=0.5)", options(mix="vqav2=0.5,vqav2=0.5"), ConfigError, ("field '--mix'", "'vqav2' is given twice")),
    Case("select", "mixture key repeated in a JSON object", options(mix='{"vqav2": 0.5, "vqav2": 0.5}'), ConfigError, ("field '--mix'", "'vqav2' is given twice")),
    Case("select", "mixture weights sum to zero", options(mix="vqav2=0,llava=0"), ConfigError, ("field '--mix'", "sum to zero")),
    Case("select", "mixture weight negative", options(mix="vqav2=-1,llava=1"), ConfigError, ("field '--mix'", "'vqav2'", ">= 0")),
    Case("select", "mixture weight NaN", options(mix="vqav2=nan"), ConfigError, ("field '--mix'", "'vqav2'", "nan")),
]

VALIDATE_ROWS = [
    Case("validate", "--report / --summary / output is the submission itself", options(output_is_input=True), ConfigError,
         ("{file}", "the same file as", "write to another file")),
    Case("validate", "--tokenizer folder without tokenizer files", options(tokenizer="empty-folder"), MissingFileError,
         ("tok", "tokenizer.model", "tokenizer.json are both missing")),
    Case("validate", "--tokenizer is a file", options(tokenizer="a-file"), MissingFileError, ("tok.json", "is a file, not a tokenizer folder")),
    Case("validate", "--tokenizer folder that does not exist (token counts in the summary)", options(tokenizer="/nonexistent/no-such-tokenizer"), MissingFileError,
         ("no-such-tokenizer", "tokenizer folder not found")),
    Case("validate", "image file missing under --image-folder", both(options(image_folder=True), _missing_image), RecordError, ("{file}", _R, "field 'image'", "not found")),
    Case("validate", "image is a symlink out of the image folder", both(options(image_folder=True), _symlink_out), UnsafeInputError, ("{file}", _R, "field 'image'", OUT, "--allow-symlinks-out")),
    Case("validate", "image folder's sub-folder is a symlink out of it", both(options(image_folder=True), _symlink_dir_out), UnsafeInputError, ("{file}", "record 0 (id 'coco_0')", "field 'image'", OUT)),
    Case("validate", "image is a symlink out of the image folder, --allow-symlinks-out", both(options(image_folder=True), ALLOW_OUT, _symlink_out), None),
    Case("validate", "image folder's sub-folder is a symlink out of it (organiser layout), --allow-symlinks-out", both(options(image_folder=True), ALLOW_OUT, _symlink_dir_out), None),
    Case("validate", ".gif saved under a .jpg name (PIL reads it by content)", both(options(image_folder=True), _gif_named_jpg), None),
    Case("validate", "corrupt image file under --image-folder (JPEG start, header cut short)", both(options(image_folder=True), _corrupt_image),
         RecordError, ("{file}", _R, "field 'image'", "'coco/1.jpg'", "not a readable jpeg image")),
    Case("validate", "empty image file under --image-folder", both(options(image_folder=True), lambda i: _corrupt_image(i, content=b"")),
         RecordError, ("{file}", _R, "field 'image'", "'coco/1.jpg'", "is empty")),
    Case("validate", "image file of no image format (an HTML error page)", both(options(image_folder=True), lambda i: _corrupt_image(i, content=_HTML)),
         RecordError, ("{file}", _R, "field 'image'", "'coco/1.jpg'", "is not an image")),
    Case("validate", "a record with a box outside [0, 1] (boxes are text to the validator)", turns1(lambda t: t[1].update(value="At [0.1, 0.2, 1.5, 0.6].")), None),
    # issue 12
    Case("validate", "JSON Lines submission, one record per line (LLaVA issue 1753)", options(jsonl=True), None),
    Case("validate", "JSON Lines submission named .json (told by content)", lambda i: setattr(i, "raw", _jsonl(*i.records).encode()), None),
    Case("validate", "JSON Lines submission: a line truncated", both(options(jsonl=True), raw(_jsonl(base_records()[0], '{"id": "coco_1", "ima'))),
         InputError, ("{file}", "record 1", "line 2", "not valid JSON")),
    Case("validate", "an object that is no record (neither a JSON list nor JSON Lines)", raw('{"data": [1, 2]}\n'), InputError, ("{file}", "JSON list", "JSON Lines")),
    Case("validate", "JPEG cut short after its header (the header check passes it)", both(options(image_folder=True), _cut_image), None),
    Case("validate", "JPEG cut short after its header, --decode-images", both(options(image_folder=True, decode_images=True), _cut_image),
         ModelInputError, ("{file}", _R, "field 'image'", "'coco/1.jpg'", "cannot be decoded", "truncated")),
]

TRAIN_IMAGE_ROWS = [
    ("image file missing", _missing_image, MissingFileError, ("{file}", "coco/1.jpg", "record 1", "'coco_1'")),
    (".gif saved under a .jpg name (converted to RGB)", _gif_named_jpg, None, ()),
    ("image is a symlink out of the image folder", _symlink_out, UnsafeInputError, ("{file}", _R, "field 'image'", OUT, "--allow-symlinks-out")),
    ("image folder's sub-folder is a symlink out of it", _symlink_dir_out, UnsafeInputError, ("{file}", "record 0 (id 'coco_0')", "field 'image'", OUT)),
    ("image is a symlink out of the image folder, --allow-symlinks-out", both(ALLOW_OUT, _symlink_out), None, ()),
    ("image folder's sub-folder is a symlink out of it (organiser layout), --allow-symlinks-out", both(ALLOW_OUT, _symlink_dir_out), None, ()),
]

TRAIN_ROWS = [Case(entry, text, make, err, words) for entry in ("train-hf", "train-llava") for text, make, err, words in TRAIN_IMAGE_ROWS] + [
    Case("train-hf", "corrupt image (found by the data loader)", _corrupt_image, ModelInputError, ("{file}", _R, "field 'image'", "cannot be decoded")),
    Case("train-hf", "corrupt image (--open-images: found before training)", both(options(open_images=True), _corrupt_image), ModelInputError, ("{file}", _R, "field 'image'", "cannot be decoded")),
    Case("train-hf", "record longer than model_max_length (LLaVA cuts it and trains it; listed in data_report.json)", turns1(lambda t: t[1].update(value="word " * 3000)), None),
    Case("train-hf", "record longer than model_max_length, --strict-length", both(options(strict_length=True), turns1(lambda t: t[1].update(value="word " * 3000))),
         ModelInputError, ("{file}", _R, "field 'conversations'", "model_max_length", "--strict-length")),
    Case("train-hf", "answer holding </s> (LLaVA masks the record: trains nothing, listed in data_report.json)", turns1(lambda t: t[1].update(value="Brown </s> and white.")), None),
    Case("train-hf", "repeated sample (same id, same content: trained twice)", _dup_same_content, None),
    Case("train-llava", "repeated sample (same id, same content: written twice, LLaVA trains both)", _dup_same_content, None),
    Case("train-hf", "JSONL selection: a line truncated", both(options(jsonl=True), raw(_jsonl(base_records()[0], '{"id": "coco_1", "ima'))), InputError, ("{file}", "record 1", "line 2", "not valid JSON")),
    Case("train-hf", "JSONL selection: a line not UTF-8", both(options(jsonl=True), raw(_jsonl(base_records()[0]).encode() + b'{"id": "caf\xe9"}\n')), InputError, ("{file}", "record 1", "not UTF-8")),
    Case("train-hf", "JSONL selection: a line is a list", both(options(jsonl=True), raw(_jsonl(base_records()[0], [1]))), InputError, ("{file}", "record 1", "JSON object")),
    Case("train-hf", "image folder missing", options(no_image_folder=True), MissingFileError, ("image folder not found",)),
    # settings the Trainer crashes on (or, for max_steps, silently reads as "one full epoch"): refused before anything runs
    Case("train-hf", "--learning-rate -1", options(settings={"learning_rate": -1.0}), ConfigError, ("learning_rate", ">= 0", "-1.0")),
    Case("train-hf", "--per-device-train-batch-size 0", options(settings={"per_device_train_batch_size": 0}), ConfigError, ("per_device_train_batch_size", ">= 1", "found 0")),
    Case("train-hf", "--gradient-accumulation-steps 0", options(settings={"gradient_accumulation_steps": 0}), ConfigError, ("gradient_accumulation_steps", ">= 1", "found 0")),
    Case("train-hf", "--dataloader-num-workers -1", options(settings={"dataloader_num_workers": -1}), ConfigError, ("dataloader_num_workers", ">= 0", "found -1")),
    Case("train-hf", "--max-steps -5 (only -1 means one full epoch)", options(settings={"max_steps": -5}), ConfigError, ("max_steps", "-1 (one full epoch)", "found -5")),
    Case("train-hf", "--max-steps 0", options(settings={"max_steps": 0}), ConfigError, ("max_steps", "found 0")),
    Case("train-hf", "--model-max-length 0", options(settings={"model_max_length": 0}), ConfigError, ("model_max_length", ">= 1", "found 0")),
    Case("train-hf", "--model-max-length -1", options(settings={"model_max_length": -1}), ConfigError, ("model_max_length", ">= 1", "found -1")),
    Case("train-hf", "--model-max-length 10 (every answer cut away: nothing to train)", options(settings={"model_max_length": 10}),
         InputError, ("{file}", "no record has a label left", "model_max_length 10")),
    Case("train-hf", "--model-max-length 10 --strict-length (every record too long)", both(options(strict_length=True), options(settings={"model_max_length": 10})),
         ModelInputError, ("{file}", "record 0 (id 'coco_0')", "field 'conversations'", "model_max_length 10")),
    # issue 12
    Case("train-hf", "JPEG cut short after its header (found by the data loader)", _cut_image, ModelInputError, ("{file}", _R, "field 'image'", "cannot be decoded")),
    Case("train-hf", "JPEG cut short after its header, --decode-images (found before training)", both(options(open_images=True), _cut_image),
         ModelInputError, ("{file}", _R, "field 'image'", "cannot be decoded", "truncated")),
    Case("train-hf", "JPEG cut short after its header, --skip-bad-images (dropped, reported in data_report.json)", both(options(skip_bad_images=True), _cut_image), None),
    Case("train-hf", "--model names a folder that does not exist (mistyped)", options(model="ck-hff"), MissingFileError, ("ck-hff", "no such folder")),
    Case("train-hf", "--resume with no checkpoint-N in --output-dir", options(resume=True), MissingFileError, ("nothing to resume",)),
    Case("train-llava", "JPEG cut short after its header, --decode-images", both(options(decode_images=True), _cut_image),
         ModelInputError, ("{file}", _R, "field 'image'", "cannot be decoded", "truncated")),
    Case("train-llava", "LLaVA checkout missing", options(no_repo=True), MissingFileError, ("LLaVA checkout not found",)),
    Case("train-llava", "pretrain projector missing", options(no_adapter=True), MissingFileError, ("mm_projector.bin",)),
]


def _bench1(change: Callable[[dict], Any]) -> Callable[[Inputs], None]:
    return lambda inputs: change(inputs.bench[1])


def _pred1(change: Callable[[dict], Any]) -> Callable[[Inputs], None]:
    return lambda inputs: change(inputs.preds[1])


def _bench_raw(content: bytes) -> Callable[[Inputs], None]:
    return lambda inputs: setattr(inputs, "bench", content)


def _preds_raw(content: bytes) -> Callable[[Inputs], None]:
    def make(inputs: Inputs) -> None:
        inputs.preds = content
        inputs.names["file"] = "preds.jsonl"

    return make


def _on_preds(change: Callable[[dict], Any]) -> Callable[[Inputs], None]:
    def make(inputs: Inputs) -> None:
        change(inputs.preds[1])
        inputs.names["file"] = "preds.jsonl"

    return make


def _records_benchmark(change: Callable[[list], Any]) -> Callable[[Inputs], None]:
    """The benchmark given as LLaVA records (hold-out evaluation), record 1 altered."""

    def make(inputs: Inputs) -> None:
        records = [{**r, "task": "dialogue"} for r in base_records()]
        change(records[1])
        inputs.bench = json.dumps(records).encode()
        inputs.preds = [{"question_id": f"coco_{i}", "text": "a cat"} for i in range(3)]
        inputs.options["main_name"] = "bench.json"

    return make


def _llava_pope_questions(inputs: Inputs) -> None:
    """The benchmark is a LLaVA POPE question file (``llava_pope_test.jsonl``: no labels in it)."""
    inputs.bench = [{"question_id": i, "image": f"coco/{i}.jpg", "text": "Is there a dog?", "category": "adversarial"} for i in (1, 2)]
    inputs.preds = [{"question_id": i, "text": "yes"} for i in (1, 2)]
    inputs.options["main_name"] = "llava_pope_test.jsonl"


def _vqa_annotations_answers_string(inputs: Inputs) -> None:
    """A LLaVA VQAv2 question file scored with a VQAv2 annotation file whose ``answers`` is a plain string, not the 10 answers."""
    inputs.bench = [{"question_id": i, "image": f"coco/{i}.jpg", "text": "What is it?"} for i in (1, 2)]
    inputs.preds = [{"question_id": i, "text": "cat"} for i in (1, 2)]
    inputs.options["main_name"] = "llava_vqav2_val.jsonl"
    annotations = inputs.root / "v2_mscoco_val2014_annotations.json"
    annotations.write_text(json.dumps({"annotations": [{"question_id": 1, "answers": [{"answer": "cat"}] * 10},
                                                       {"question_id": 2, "answers": "cat"}]}))
    inputs.options["settings"] = {"answers": str(annotations)}
    inputs.names["file"] = annotations.name


def _pope_labels_out_of_order(inputs: Inputs) -> None:
    """A LLaVA POPE question file scored with its label file under another name, lines reversed (their question_ids are the
    question file's: a pairing by question_id would accept it; eval_pope.py pairs by line order)."""
    texts = {1: "Is there a dog?", 2: "Is there a cat?"}
    inputs.bench = [{"question_id": i, "image": f"coco/{i}.jpg", "text": t, "category": "adversarial"} for i, t in texts.items()]
    inputs.preds = [{"question_id": i, "text": "yes"} for i in texts]
    inputs.options["main_name"] = "llava_pope_test.jsonl"
    labels = inputs.root / "pope_labels.json"
    labels.write_text(_jsonl(*[{"question_id": i, "image": f"coco/{i}.jpg", "text": t, "label": "yes"} for i, t in reversed(texts.items())]))
    inputs.options["settings"] = {"answers": str(labels)}
    inputs.names["file"] = labels.name


def _gqa_question_file_of_another_question(inputs: Inputs) -> None:
    """A held-out GQA record scored with a GQA question file (--answers) whose question of that id is another question."""
    record = {"id": "gqa_testdev_201307251", "image": "visual_genome/n161313.jpg", "source": "gqa", "task": "vqa", "question_id": "201307251",
              "conversations": [{"from": "human", "value": "<image>\nIs it overcast? Answer the question directly with a short sentence or phrase."},
                                {"from": "gpt", "value": "No, it is clear."}]}
    inputs.bench = json.dumps([record]).encode()
    inputs.preds = [{"question_id": record["id"], "text": "no"}]
    inputs.options["main_name"] = "bench.json"
    questions = inputs.root / "testdev_balanced_questions.json"
    questions.write_text(json.dumps({"201307251": {"imageId": "n161313", "question": "Is it sunny?", "answer": "no"}}))
    inputs.options["settings"] = {"answers": str(questions)}
    inputs.names["file"] = questions.name


_Q = "record 1 (id 'q1')"
BENCH_FAULTS: list[tuple[str, Callable, Any, tuple[str, ...]]] = [
    ("benchmark: empty file", _bench_raw(b""), InputError, ("{file}", "empty")),
    ("benchmark: a line truncated", _bench_raw(b'{"question_id": "q0", "image": "coco/0.jpg", "text": "What is it?", "task": "vqa", "answers": ["cat"]}\n{"question_id": "q1", "te'),
     InputError, ("{file}", "record 1", "not valid JSON")),
    ("benchmark: not UTF-8 text", _bench_raw(b'{"question_id": "q0", "text": "caf\xe9", "task": "vqa"}\n'), InputError, ("{file}", "UTF-8")),
    ("benchmark: question_id is a list", _bench1(lambda b: b.update(question_id=["q1"])), InputError, ("{file}", "record 1", "field 'question_id'")),
    ("benchmark: text missing", _bench1(_pop("text")), InputError, ("{file}", _Q, "field 'text'", "missing")),
    ("benchmark: text empty", _bench1(lambda b: b.update(text="  ")), InputError, ("{file}", _Q, "field 'text'")),
    ("benchmark: unknown task", _bench1(lambda b: b.update(task="poem")), InputError, ("{file}", _Q, "field 'task'", "unknown task")),
    ("benchmark: answers is a string", _bench1(lambda b: (b.pop("answer"), b.update(answers="yes"))), InputError, ("{file}", _Q, "field 'answers'")),
    ("benchmark: image is a number", _bench1(lambda b: b.update(image=5)), InputError, ("{file}", _Q, "field 'image'")),
    ("benchmark: duplicate question_id", _bench1(lambda b: b.update(question_id="q0")), InputError, ("{file}", "record 1 (id 'q0')", "field 'question_id'", "duplicate")),
    ("benchmark: a UTF-8 BOM at the start", lambda i: setattr(i, "bench", b"\xef\xbb\xbf" + _jsonl(*i.bench).encode()), None, ()),
    ("benchmark: a line nested 100,000 deep", lambda i: setattr(i, "bench", _jsonl(i.bench[0], '{"question_id": "q1", "text": %s}' % DEEP_JSON).encode()),
     InputError, ("{file}", "record 1", "line 2", "nested too deeply")),
    ("benchmark: a JSON list nested 100,000 deep", _bench_raw(DEEP_JSON.encode()), InputError, ("{file}", "record 0", "nested deeper than")),
    ("benchmark: extra fields", _bench1(lambda b: b.update(category="adversarial", note=[1, 2])), None, ()),
    ("benchmark as records: turns out of order", _records_benchmark(lambda r: r["conversations"].reverse()), RecordError, ("{file}", _R, "field 'conversations[0].from'")),
    ("benchmark as records: <image> missing", _records_benchmark(lambda r: r["conversations"][0].update(value="Where is the dog?")), RecordError, ("{file}", _R, "field 'conversations[0].value'")),
    ("benchmark as records: a turn value is a number", _records_benchmark(lambda r: r["conversations"][3].update(value=3)), InputError, ("{file}", _R, "field 'conversations[3].value'")),
]
SCORE_ROWS = [Case("score", text, make, err, words) for text, make, err, words in BENCH_FAULTS] + [
    Case("score", "predictions: a line truncated", _preds_raw(b'{"question_id": "q0", "text": "cat"}\n{"question_id": "q1", "te'), InputError, ("{file}", "record 1", "not valid JSON")),
    Case("score", "predictions: text is a number", _on_preds(lambda p: p.update(text=1)), InputError, ("{file}", _Q, "field 'text'")),
    Case("score", "predictions: question_id missing", _on_preds(_pop("question_id")), InputError, ("{file}", "record 1", "field 'question_id'", "missing")),
    Case("score", "predictions: a question_id twice", lambda i: (i.preds.append(dict(i.preds[1])), i.names.update(file="preds.jsonl")),
         InputError, ("{file}", "record 3 (id 'q1')", "field 'question_id'", "duplicate question_id 'q1' (line 4; first on line 2)")),
    Case("score", "predictions: an answer to a question not in the benchmark", _on_preds(lambda p: p.update(question_id="q9")), InputError, ("{file}", "'q9'", "not in the benchmark")),
    Case("score", "predictions: a question without an answer", lambda i: (i.preds.pop(), i.names.update(file="preds.jsonl")), InputError, ("{file}", "'q2'", "no prediction")),
    Case("score", "--cider-tokenizer nope", options(settings={"tokenizer": "nope"}), ConfigError, ("CIDEr tokenizer", "'simple'", "found 'nope'")),
    Case("score", "predictions: a UTF-8 BOM at the start", lambda i: setattr(i, "preds", b"\xef\xbb\xbf" + _jsonl(*i.preds).encode()), None),
    Case("score", "predictions: a line nested 100,000 deep", _preds_raw(_jsonl({"question_id": "q0", "text": "cat"}, '{"question_id": "q1", "text": %s}' % DEEP_JSON).encode()),
         InputError, ("{file}", "record 1", "line 2", "nested too deeply")),
    Case("score", "predictions: a JSON list nested 100,000 deep", _preds_raw(DEEP_JSON.encode()), InputError, ("{file}", "predictions file is nested too deeply")),
    Case("score", "predictions: not UTF-8 text", _preds_raw(b'{"question_id": "q0", "text": "caf\xe9"}\n'), InputError, ("{file}", "UTF-8")),
    Case("score", "predictions: the prompt is another question", _on_preds(lambda p: p.update(prompt="What colour is the bus?")),
         InputError, ("{file}", _Q, "field 'prompt'", "do not belong together")),
    Case("score", "predictions: the prompt is the question with <image> and an instruction", _on_preds(lambda p: p.update(prompt="<image>\nIs there a dog?\nAnswer yes or no.")), None),
    Case("score", "--grounding-rule kosmos", options(settings={"grounding_rule": "kosmos"}), ConfigError, ("grounding rule", "'shikra'", "found 'kosmos'")),
    Case("score", "benchmark: a POPE question without its reference", _bench1(_pop("answer")),
         InputError, ("{file}", _Q, "field 'answer'", "1 of its 3 questions has no reference", "give each line its reference")),
    Case("score", "LLaVA POPE question file without --answers (the label files)", _llava_pope_questions,
         InputError, ("{file}", "record 0 (id '1')", "field 'answer'", "none of its 2 pope questions has a reference",
                      "POPE's label files coco_pope_<category>.json with --answers")),
    Case("score", "VQAv2 annotation file (--answers): 'answers' is a plain string, not the 10 answers", _vqa_annotations_answers_string,
         InputError, ("{file}", "record 1 (id '2')", "field 'answers'", "must be a non-empty list of answers", "found a string ('cat')")),
    Case("score", "benchmark: an MME question whose category is no subtask", _bench1(lambda b: b.update(task="mme", category="adversarial")),
         InputError, ("{file}", _Q, "field 'category'", "needs its subtask")),
    Case("score", "benchmark: an MME reference that is not yes/no", _bench1(lambda b: b.update(task="mme", category="count", answer="maybe")),
         InputError, ("{file}", _Q, "field 'answer'", "yes or no")),
    Case("score", "benchmark: an MME subtask with an odd number of questions", _bench1(lambda b: b.update(task="mme", category="count")),
         InputError, ("{file}", "id 'q1'", "MME subtask 'count' has 1 question;", "even number")),
    Case("score", "POPE label file under another name (--answers), lines in another order", _pope_labels_out_of_order,
         InputError, ("{file}", "record 0 (id '1')", "field 'text'", "not the questions of category 'adversarial' in order")),
    Case("score", "GQA question file (--answers) whose question is not the held-out record's", _gqa_question_file_of_another_question,
         InputError, ("{file}", "id '201307251'", "field 'question'", "'Is it sunny?'", "asks 'Is it overcast?'")),
]

EVALUATE_ROWS = [
    Case("evaluate", "image file missing", _missing_image, MissingFileError, ("{file}", _Q, "field 'image'", "missing")),
    Case("evaluate", "image path absolute", _bench1(lambda b: b.update(image="/etc/passwd")), RecordError, ("{file}", _Q, "field 'image'", "relative")),
    Case("evaluate", "image path with '..'", _bench1(lambda b: b.update(image="../outside.jpg")), RecordError, ("{file}", _Q, "field 'image'", "inside the image folder")),
    Case("evaluate", "corrupt image", _corrupt_image, ModelInputError, ("{file}", _Q, "field 'image'", "cannot be decoded")),
    Case("evaluate", ".gif saved under a .jpg name (converted to RGB)", _gif_named_jpg, None),
    Case("evaluate", "image is a symlink out of the image folder", _symlink_out, UnsafeInputError, ("{file}", _Q, "field 'image'", OUT, "--allow-symlinks-out")),
    Case("evaluate", "image folder's sub-folder is a symlink out of it", _symlink_dir_out, UnsafeInputError, ("{file}", "record 0 (id 'q0')", "field 'image'", OUT)),
    Case("evaluate", "image is a symlink out of the image folder, --allow-symlinks-out", both(ALLOW_OUT, _symlink_out), None),
    Case("evaluate", "image folder's sub-folder is a symlink out of it (organiser layout), --allow-symlinks-out", both(ALLOW_OUT, _symlink_dir_out), None),
    Case("evaluate", "benchmark: unknown task", _bench1(lambda b: b.update(task="poem")), InputError, ("{file}", _Q, "field 'task'")),
    Case("evaluate", "no --image-dir for a benchmark with images", options(no_image_dir=True), ConfigError, ("image_dir",)),
    Case("evaluate", "--max-new-tokens 0", options(settings={"max_new_tokens": 0}), ConfigError, ("max_new_tokens", ">= 1", "found 0")),
    Case("evaluate", "--max-new-tokens -1", options(settings={"max_new_tokens": -1}), ConfigError, ("max_new_tokens", ">= 1", "found -1")),
    Case("evaluate", "--device quantum", options(settings={"device": "quantum"}), ConfigError, ("unknown device 'quantum'",)),
    Case("evaluate", "--dtype int9", options(settings={"dtype": "int9"}), ConfigError, ("dtype", "'int9'")),
    Case("evaluate", "--cider-tokenizer nope", options(settings={"tokenizer": "nope"}), ConfigError, ("CIDEr tokenizer", "'simple'", "found 'nope'")),
    Case("evaluate", "--model names a folder that does not exist (mistyped)", options(model="ck-hff"), MissingFileError, ("ck-hff", "no such folder")),
    Case("evaluate", "--protocol fancy", options(settings={"protocol": "fancy"}), ConfigError, ("protocol must be one of", "dataoptim", "found 'fancy'")),
    Case("evaluate", "--image-aspect-ratio round", options(settings={"image_aspect_ratio": "round"}), ConfigError, ("image aspect ratio", "pad, square", "found 'round'")),
    Case("evaluate", "--image-position middle", options(settings={"image_position": "middle"}), ConfigError, ("image position", "front, inline", "found 'middle'")),
    Case("evaluate", "--temperature -0.5", options(settings={"temperature": -0.5}), ConfigError, ("temperature", ">= 0", "found -0.5")),
    Case("evaluate", "--top-p 1.5", options(settings={"top_p": 1.5}), ConfigError, ("top_p", "(0, 1]", "found 1.5")),
    Case("evaluate", "--seed -3", options(settings={"seed": -3}), ConfigError, ("seed", ">= 0", "found -3")),
]


def _box(value: str) -> Callable[[Inputs], None]:
    return turns1(lambda t: t[1].update(value=f"At {value}."))


def _sizes(value: Any) -> Callable[[Inputs], None]:
    def make(inputs: Inputs) -> None:
        inputs.sizes = value
        inputs.names["file"] = "sizes.json"

    return make


_FAULT = {text: make for text, make, *_ in RECORD_FAULTS}
BOXES_ROWS = [
    Case("boxes", "output is the input file itself", options(output_is_input=True), ConfigError, ("{file}", "the same file as", "write to another file")),
    # boxes convert rewrites boxes; it reads what it needs of a record and validates nothing else
    Case("boxes", "record is a string, not an object", _FAULT["record is a string, not an object"], InputError, ("{file}", "record 1", "field 'conversations'")),
    Case("boxes", "conversations is an object", _FAULT["conversations is an object"], InputError, ("{file}", _R, "field 'conversations'")),
    Case("boxes", "turn value is a number", turns1(lambda t: t[3].update(value=3)), InputError, ("{file}", _R, "field 'conversations[3].value'")),
    Case("boxes", "<image> missing (not the converter's rule: passed through)", _FAULT["<image> missing"], None),
    Case("boxes", "box outside [0, 1] (--to padded-exact)", both(options(to="padded-exact"), _box("[0.1, 0.2, 1.5, 0.6]")), InputError, ("{file}", _R, "field 'conversations[1].value'", "outside")),
    Case("boxes", "box reversed (x2 < x1) (--to padded-exact)", both(options(to="padded-exact"), _box("[0.5, 0.2, 0.1, 0.6]")), InputError, ("{file}", _R, "field 'conversations[1].value'", "reversed")),
    Case("boxes", "box outside [0, 1] (--to padded: moved unchecked, as DataOptim's tool moves it)", _box("[0.1, 0.2, 1.5, 0.6]"), None),
    Case("boxes", "box value that is no number, [0.1.2, ...] (--to padded: left, as DataOptim's tool leaves it)", _box("[0.1.2, 0.2, 0.3, 0.4]"), None),
    Case("boxes", "--to sideways", options(to="sideways"), ConfigError, ("field '--to'", "must be one of original, padded, padded-exact", "'sideways'")),
    Case("boxes", "a second conversion: in.json.boxes.json says the boxes are padded", options(sidecar={"frame": "padded"}), BoxFrameError,
         ("{file}", "field '--to'", "already in the padded frame", "in.json.boxes.json says so", "move them twice")),
    Case("boxes", "--to padded-exact on a file whose in.json.boxes.json says padded", both(options(to="padded-exact"), options(sidecar={"frame": "padded"})), BoxFrameError,
         ("{file}", "already in the padded frame")),
    Case("boxes", "--to original on a file whose in.json.boxes.json says padded (going back is allowed)", both(options(to="original"), options(sidecar={"frame": "padded"})), None),
    Case("boxes", "in.json.boxes.json names no known frame", options(sidecar={"frame": "square"}), InputError, ("in.json.boxes.json", "field 'frame'", "no known frame", "'square'")),
    Case("boxes", "in.json.boxes.json is not JSON", options(sidecar=b"{frame"), InputError, ("in.json.boxes.json", "box-frame file", "not valid JSON")),
    Case("boxes", "box of a record without image", rec1(_pop("image")), InputError, ("{file}", _R, "field 'image'")),
    Case("boxes", "image size unknown", _sizes({"0.jpg": [30, 20]}), MissingFileError, ("in.json", _R, "field 'image'", "size of image 'coco/1.jpg'")),
    Case("boxes", "size table: a width of zero", _sizes({"1.jpg": [0, 30]}), InputError, ("{file}", "field '1.jpg'")),
    Case("boxes", "size table: not an object", _sizes([[40, 30]]), InputError, ("{file}", "dict")),
    Case("boxes", "size table: empty ({})", _sizes({}), InputError, ("{file}", "image-size file is empty")),
    Case("boxes", "size table: nested 100,000 deep", _sizes(DEEP_JSON.encode()), InputError, ("{file}", "image-size file is nested too deeply")),
    Case("boxes", "size table: truncated", _sizes(b'{"1.jpg": [40, 3'), InputError, ("{file}", "not valid JSON")),
    Case("boxes", "image path with '..' (--image-folder)", both(options(image_folder=True), rec1(lambda r: r.update(image="../outside.jpg"))), RecordError, ("{file}", _R, "field 'image'", "inside the image folder")),
    Case("boxes", "image path absolute (--image-folder)", both(options(image_folder=True), rec1(lambda r: r.update(image="/etc/hostname"))), RecordError, ("{file}", _R, "field 'image'", "relative")),
    Case("boxes", "corrupt image header (--image-folder)", both(options(image_folder=True), lambda i: i.image("coco/1.jpg").write_bytes(b"not an image")), InputError, ("{file}", _R, "field 'image'", "not a readable image")),
    Case("boxes", ".gif saved under a .jpg name (--image-folder: its header gives the size)", both(options(image_folder=True), _gif_named_jpg), None),
    Case("boxes", "image is a symlink out of the image folder (--image-folder)", both(options(image_folder=True), _symlink_out),
         UnsafeInputError, ("{file}", _R, "field 'image'", OUT, "--allow-symlinks-out")),
    Case("boxes", "image folder's sub-folder is a symlink out of it (--image-folder)", both(options(image_folder=True), _symlink_dir_out),
         UnsafeInputError, ("{file}", _R, "field 'image'", OUT)),
    Case("boxes", "image is a symlink out of the image folder (--image-folder), --allow-symlinks-out", both(options(image_folder=True), ALLOW_OUT, _symlink_out), None),
    Case("boxes", "image folder's sub-folder is a symlink out of it (organiser layout), --allow-symlinks-out",
         both(options(image_folder=True), ALLOW_OUT, _symlink_dir_out), None),
]

CASES: list[Case] = (
    _cross(RECORD_FAULTS, RECORD_ENTRIES)
    + _cross(FILE_FAULTS, FILE_ENTRIES)
    + BUILDER_ROWS + POOL_ROWS + SELECT_ROWS + VALIDATE_ROWS + TRAIN_ROWS + SCORE_ROWS + EVALUATE_ROWS + BOXES_ROWS
)
