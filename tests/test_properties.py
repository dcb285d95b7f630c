"""Property-based tests (hypothesis) of the validator, the readers of untrusted files, and select ∘ export.

* every generated valid record passes :func:`dataoptim.records.validate_record`;
* any JSON value, any mutation of a valid record, any byte string as a submission
  or an id file, any truncation of a valid file: the readers either accept it or
  raise one of the typed errors (:class:`~dataoptim.errors.DataOptimError`), never a
  bare ``KeyError``/``TypeError``/``ValueError``;
* a pool built from generated converted files, all ids selected in a random
  order (with repeats), exported and read back, gives the same records in that order.

Box conversions have their own round-trip properties in ``tests/test_boxes.py``
(text formats, absolute <-> normalised, original <-> padded square, no drift);
they are not repeated here.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from dataoptim.errors import DataOptimError, RecordError
from dataoptim.records import IMAGE_TOKEN, validate_record, validate_records

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# ---------------------------------------------------------------------------------------------- strategies
ID_HEAD = string.ascii_letters + string.digits
ID_TAIL = ID_HEAD + "_.+-"
ids = st.builds(lambda h, t: h + t, st.sampled_from(ID_HEAD), st.text(ID_TAIL, max_size=24))
segment = st.text(string.ascii_letters + string.digits + "_-", min_size=1, max_size=12)
images = st.builds(lambda parts, ext: "/".join(parts) + ext, st.lists(segment, min_size=1, max_size=3), st.sampled_from([".jpg", ".png", ".gif"]))
# any text without the image token, not blank; unicode, quotes, backslashes, control characters included
texts = st.text(min_size=1, max_size=60).filter(lambda t: t.strip() and IMAGE_TOKEN not in t)


@st.composite
def conversations(draw, with_image: bool = True):
    exchanges = draw(st.integers(1, 4))
    turns = []
    for i in range(exchanges):
        question = draw(texts)
        if i == 0 and with_image:
            where = draw(st.sampled_from(["front", "end", "inline"]))
            cut = draw(st.integers(0, len(question)))
            question = {"front": f"{IMAGE_TOKEN}\n{question}", "end": f"{question} {IMAGE_TOKEN}", "inline": question[:cut] + IMAGE_TOKEN + question[cut:]}[where]
        turns += [{"from": "human", "value": question}, {"from": "gpt", "value": draw(texts)}]
    return turns


@st.composite
def valid_records(draw, rid=None):
    record = {"id": rid or draw(ids), "image": draw(images), "conversations": draw(conversations())}
    if draw(st.booleans()):  # extra fields are allowed
        # (integers in 64 bits: the streaming reader refuses larger ones, with its own message: tests/test_files_io.py)
        record[draw(st.sampled_from(["source", "task", "score", "meta"]))] = draw(st.one_of(st.none(), st.integers(-2**62, 2**62), texts))
    return record


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
#: keys a mutation may touch, at the top level or in a turn
KEYS = ["id", "image", "conversations", "from", "value", "extra"]


@st.composite
def mutated_records(draw):
    """A valid record with one part replaced by any JSON value, a key dropped, or turns shuffled."""
    record = draw(valid_records())
    kind = draw(st.sampled_from(["replace", "drop", "turn", "turns", "shuffle"]))
    if kind == "replace":
        record[draw(st.sampled_from(KEYS))] = draw(json_values)
    elif kind == "drop":
        record.pop(draw(st.sampled_from(["id", "image", "conversations"])), None)
    elif kind == "turn":
        turn = record["conversations"][draw(st.integers(0, len(record["conversations"]) - 1))]
        turn[draw(st.sampled_from(["from", "value"]))] = draw(json_values)
    elif kind == "turns":
        record["conversations"][draw(st.integers(0, len(record["conversations"]) - 1))] = draw(json_values)
    else:
        record["conversations"] = draw(st.permutations(record["conversations"]))
    return record


# ---------------------------------------------------------------------------------------------- the validator
@settings(max_examples=300, **SETTINGS)
@given(valid_records())
def test_every_valid_record_is_accepted(record):
    assert validate_record(record, file="gen.json", index=0) is record


@settings(max_examples=100, **SETTINGS)
@given(conversations(with_image=False))
def test_text_only_records_are_accepted_where_allowed(turns):
    record = {"id": "text_1", "conversations": turns}
    assert validate_record(record) is record  # as LLaVA takes them (issue 13)
    with pytest.raises(RecordError):
        validate_record(record, require_image=True)  # the rule of a source of images (all but llava_v1.5)


@settings(max_examples=400, **SETTINGS)
@given(st.one_of(mutated_records(), json_values))
def test_any_value_is_accepted_or_a_located_record_error(value):
    try:
        validate_record(value, file="gen.json", index=7)
    except RecordError as exc:
        assert exc.file == "gen.json" and exc.record == 7
        assert "\n" not in str(exc)


@settings(max_examples=100, **SETTINGS)
@given(st.lists(valid_records(), min_size=1, max_size=6), st.data())
def test_a_repeated_id_is_refused_naming_both_records(records, data):
    i = data.draw(st.integers(0, len(records) - 1))
    twin = dict(data.draw(valid_records()), id=records[i]["id"])
    stream = records[: i + 1] + [twin] + records[i + 1 :]
    assume(len({r["id"] for r in records}) == len(records))
    with pytest.raises(RecordError) as info:
        list(validate_records(stream, file="gen.json"))
    assert info.value.record == i + 1 and f"first used by record {i}" in str(info.value)


# ---------------------------------------------------------------------------------------------- untrusted files
def _accepts_or_typed(call):
    try:
        call()
    except DataOptimError as exc:
        assert "\n" not in str(exc), str(exc)
        return exc
    return None


@settings(max_examples=150, **SETTINGS)
@given(st.lists(st.one_of(valid_records(), mutated_records()), min_size=0, max_size=5), st.integers(0, 10_000), st.booleans())
def test_byod_submission_any_content_or_truncation(tmp_path_factory, records, cut, truncate):
    from dataoptim.select import validate_byod

    folder = tmp_path_factory.mktemp("byod")
    path, out = folder / "sub.json", folder / "out.json"
    data = json.dumps(records).encode()
    path.write_bytes(data[: cut % (len(data) + 1)] if truncate else data)
    error = _accepts_or_typed(lambda: validate_byod(path, output=out))
    if error is None:
        assert json.loads(out.read_text(encoding="utf-8")) == [{k: r[k] for k in ("id", "image", "conversations")} for r in records]
    else:
        assert not out.exists() and [p.name for p in folder.iterdir()] == ["sub.json"]


@settings(max_examples=150, **SETTINGS)
@given(st.binary(max_size=300))
def test_byod_submission_any_bytes(tmp_path_factory, data):
    from dataoptim.select import validate_byod

    path = tmp_path_factory.mktemp("bytes") / "sub.json"
    path.write_bytes(data)
    _accepts_or_typed(lambda: validate_byod(path))


@settings(max_examples=150, **SETTINGS)
@given(st.one_of(st.binary(max_size=200), st.lists(st.one_of(ids, st.text(max_size=15)), max_size=8).map(lambda x: "\n".join(x).encode())))
def test_id_file_any_content(tmp_path_factory, data):
    from dataoptim.select import read_id_file

    path = tmp_path_factory.mktemp("ids") / "ids.txt"
    path.write_bytes(data)
    _accepts_or_typed(lambda: read_id_file(path))


@settings(max_examples=150, **SETTINGS)
@given(st.lists(st.one_of(json_values, st.fixed_dictionaries(
    {"question_id": st.one_of(st.text(max_size=5), st.integers(), json_values), "text": st.one_of(texts, json_values),
     "task": st.sampled_from(["vqa", "gqa", "mc", "caption", "grounding", "pope", "poem"]),
     "answers": st.one_of(st.lists(texts, max_size=3), json_values), "image": st.one_of(st.none(), images, json_values)})), max_size=5))
def test_benchmark_lines_any_content(tmp_path_factory, lines):
    from dataoptim.evaluate.benchmark import read_benchmark

    path = tmp_path_factory.mktemp("bench") / "bench.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    _accepts_or_typed(lambda: read_benchmark(path, format="canonical"))


@settings(max_examples=150, **SETTINGS)
@given(st.one_of(mutated_records(), valid_records(), json_values))
def test_box_conversion_of_any_record(record):
    from dataoptim import boxes

    sizes = boxes.ImageSizes({"a.jpg": (640, 480)})
    if isinstance(record, dict) and isinstance(record.get("conversations"), list) and record["conversations"]:
        turn = record["conversations"][-1]
        if isinstance(turn, dict) and isinstance(turn.get("value"), str):
            turn["value"] += " [0.1, 0.2, 0.3, 0.4]"
    _accepts_or_typed(lambda: boxes.convert_record(record, sizes, "padded", file="in.json", index=0))


# ---------------------------------------------------------------------------------------------- select ∘ export
SOURCES = ("coco", "gqa", "llava")


@st.composite
def pools(draw):
    """Converted files of up to three sources, each a few generated records with ids ``{source}_{i}``."""
    files = {}
    for source in draw(st.lists(st.sampled_from(SOURCES), min_size=1, max_size=3, unique=True)):
        n = draw(st.integers(1, 6))
        files[source] = [draw(valid_records(rid=f"{source}_{i}")) for i in range(n)]
    return files


@settings(max_examples=12, **SETTINGS)
@given(pools(), st.data())
def test_select_then_export_gives_the_records_back_in_order(tmp_path_factory, files, data):
    from dataoptim.select import Pool, build_pool

    root = tmp_path_factory.mktemp("roundtrip")
    (root / "data").mkdir()
    for source, records in files.items():
        (root / "data" / f"{source}.json").write_text(json.dumps(records), encoding="utf-8")
    build_pool(root / "data", root / "pool", progress=False)
    pool = Pool.open(root / "pool")
    by_id = {r["id"]: {k: r[k] for k in ("id", "image", "conversations")} for records in files.values() for r in records}
    order = data.draw(st.permutations(sorted(by_id)))
    order = order + data.draw(st.lists(st.sampled_from(order), max_size=4))  # repeats are repeated samples
    (root / "ids.txt").write_text("\n".join(order) + "\n", encoding="utf-8")
    selection = pool.by_ids(root / "ids.txt")
    selection.to_llava_json(root / "train.json")
    assert json.loads((root / "train.json").read_text(encoding="utf-8")) == [by_id[i] for i in order]
    assert selection.ids() == order
