"""Selection by signals (issue 16): where, top-k, quotas, dedup, caps, budgets, k-means; exact results and properties."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from dataoptim import signals
from dataoptim.cli import main
from dataoptim.errors import ConfigError
from dataoptim.select import Pool, build_pool
from dataoptim.select.by_signal import group_probabilities
from dataoptim.signals import base
from test_select_support import SYNTHETIC, synthetic_data_dir

PER_SOURCE = 60


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """60 synthetic records per source of SYNTHETIC (coco, vqav2, gqa: 1 exchange; llava 3; svit 4),
    images shared by groups of 7, with the text and duplicates signals."""
    root = tmp_path_factory.mktemp("bysignal")
    build_pool(synthetic_data_dir(root, PER_SOURCE), root / "pool", progress=False)
    opened = Pool.open(root / "pool")
    signals.compute(opened, "text", progress=False)
    signals.compute(opened, "duplicates", progress=False)
    return opened


def words(source: str, i: int) -> int:
    """answer_words of synthetic record i of source, by hand: each answer is 'Answer t' + (i % 13 + 1) x 'word'."""
    return SYNTHETIC[source][1] * (2 + i % 13 + 1)


def ids(selection):
    return selection.ids()


def test_where_exact(pool):
    sel = pool.all().where("answer_words > 14 AND source = 'coco'")
    assert ids(sel) == [f"coco_{i}" for i in range(PER_SOURCE) if words("coco", i) > 14]
    both = pool.filter(source="gqa").where("answer_words <= 3")
    assert ids(both) == [f"gqa_{i}" for i in range(0, PER_SOURCE, 13)]


def test_where_errors(pool):
    with pytest.raises(ConfigError, match="'width' is null in every record.*images.*--image-folder"):
        pool.all().where("width > 100")
    with pytest.raises(ConfigError, match="unknown column 'total_tokens'.*'tokens' signal.*--tokenizer"):
        pool.all().where("total_tokens > 100")
    with pytest.raises(ConfigError, match="does not parse"):
        pool.all().where("answer_words >>> 3")
    with pytest.raises(ConfigError, match="not true/false"):
        pool.all().where("answer_words + 1")


def test_top_k_global_and_per_source(pool):
    everyone = [(s, i) for s in SYNTHETIC for i in range(PER_SOURCE)]
    expected = sorted(everyone, key=lambda si: -words(*si))[:7]  # stable: ties in pool order
    assert ids(pool.all().top_k(7, "answer_words")) == [f"{s}_{i}" for s, i in expected]
    low = sorted(everyone, key=lambda si: words(*si))[:4]
    assert ids(pool.all().top_k(4, "answer_words", descending=False)) == [f"{s}_{i}" for s, i in low]
    per = pool.all().top_k(2, "answer_words", per="source")
    want = []
    for s in SYNTHETIC:
        want += [f"{s}_{i}" for i in sorted(range(PER_SOURCE), key=lambda i: -words(s, i))[:2]]
    assert ids(per) == want
    assert len(pool.all().top_k(3, "answer_words", per="task")) == 3 * len({p.task for p in pool.parts})


def test_sort_by(pool):
    sel = pool.filter(source="coco").sort_by("answer_words", descending=False)
    values = sel.columns("answer_words")["answer_words"].to_list()
    assert values == sorted(values) and len(sel) == PER_SOURCE


def test_quotas_exact_and_reproducible(pool):
    sel = pool.all().quotas({"coco": 5, "svit": 3}, seed=1)
    assert sel.source_counts() == {"coco": 5, "svit": 3}
    assert ids(sel) == ids(pool.all().quotas({"coco": 5, "svit": 3}, seed=1))
    assert ids(sel) != ids(pool.all().quotas({"coco": 5, "svit": 3}, seed=2))
    best = pool.all().quotas({"gqa": 2}, order_by="answer_words")
    assert ids(best) == ["gqa_12", "gqa_25"]  # i % 13 == 12: the longest answers
    by_task = pool.all().quotas({"vqa": 4, "instruct": 2})
    counts = by_task.source_counts()
    assert counts.get("vqav2", 0) + counts.get("gqa", 0) == 4 and counts.get("llava", 0) + counts.get("svit", 0) == 2
    with pytest.raises(ConfigError, match="quota asks 61 records of source 'coco' but the selection has 60"):
        pool.all().quotas({"coco": 61})


def test_dedup_by_image_first_and_best(pool):
    coco = pool.filter(source="coco")
    first = coco.dedup("image")
    groups = -(-PER_SOURCE // 7)
    assert ids(first) == [f"coco_{7 * g}" for g in range(groups)]
    assert first.report["removed"] == PER_SOURCE - groups
    best = coco.dedup("image", keep="best", score="answer_words")
    want = [f"coco_{max(range(7 * g, min(7 * g + 7, PER_SOURCE)), key=lambda i: (words('coco', i), -i))}" for g in range(groups)]
    assert ids(best) == sorted(want, key=lambda r: int(r.split("_")[1]))
    with pytest.raises(ConfigError, match="keep='best' needs score"):
        coco.dedup("image", keep="best")
    with pytest.raises(ConfigError, match="keep must be"):
        coco.dedup("image", keep="last")


def test_dedup_conversation_and_repeats(pool):
    sel = pool.by_ids(["coco_1", "coco_1", "coco_2"])
    assert ids(sel.dedup("conversation")) == ["coco_1", "coco_2"]
    assert ids(sel.dedup(["image", "answer_words"])) == ["coco_1", "coco_2"]


def test_cap_per_image(pool):
    capped = pool.filter(source="gqa").cap_per_image(2)
    assert ids(capped) == [f"gqa_{i}" for i in range(PER_SOURCE) if i % 7 < 2]
    top = pool.filter(source="gqa").cap_per_image(1, score="answer_words")
    assert len(top) == -(-PER_SOURCE // 7)


def test_record_budget_split_by_temperature(pool):
    sel = pool.all().sample_budget(budget=50, seed=0)
    assert len(sel) == 50 and sel.source_counts() == {s: 10 for s in SYNTHETIC}
    weighted = pool.all().sample_budget(budget=40, weights={"coco": 3, "instruct": 0}, seed=0)
    assert weighted.source_counts() == {"coco": 24, "vqav2": 8, "gqa": 8}
    # temperature flattens: p ∝ (w n)^(1/T)
    p1 = group_probabilities({"a": 100, "b": 10}, {"a": "vqa", "b": "vqa"}, None, 1.0)
    p2 = group_probabilities({"a": 100, "b": 10}, {"a": "vqa", "b": "vqa"}, None, 2.0)
    assert p1["a"] == pytest.approx(100 / 110) and p2["a"] == pytest.approx(10 / (10 + 10 ** 0.5))
    with pytest.raises(ConfigError, match="neither a source nor a task"):
        pool.all().sample_budget(budget=5, weights={"nope": 1})
    with pytest.raises(ConfigError, match="temperature"):
        pool.all().sample_budget(budget=5, temperature=0)
    with pytest.raises(ConfigError, match="exactly one"):
        pool.all().sample_budget(budget=5, budget_tokens=5)


def test_record_budget_larger_than_a_source_moves_to_the_others(pool):
    sel = pool.all().sample_budget(budget=200, weights={"coco": 100}, seed=3)
    assert len(sel) == 200 and sel.source_counts()["coco"] == PER_SOURCE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    budget=st.integers(0, 4000),
    temperature=st.floats(0.3, 5.0),
    seed=st.integers(0, 2**31),
    coco=st.floats(0, 3),
    instruct=st.floats(0.1, 3),
)
def test_token_budget_is_never_exceeded(pool, budget, temperature, seed, coco, instruct):
    sel = pool.all().sample_budget(budget_tokens=budget, weights={"coco": coco, "instruct": instruct}, temperature=temperature, seed=seed,
                                   token_column="answer_words")
    used = int(sel.columns("answer_words")["answer_words"].sum() or 0)
    assert used <= budget
    assert len(np.unique(sel.rows)) == len(sel)
    if coco == 0:
        assert "coco" not in sel.source_counts()
    again = pool.all().sample_budget(budget_tokens=budget, weights={"coco": coco, "instruct": instruct}, temperature=temperature, seed=seed,
                                     token_column="answer_words")
    assert again.rows.tolist() == sel.rows.tolist()
    # the budget is used up to less than the longest record (every record fits alone)
    smallest_left = min(words(s, i) for s in SYNTHETIC for i in range(PER_SOURCE) if (coco > 0 or s != "coco"))
    total = sum(words(s, i) for s in SYNTHETIC for i in range(PER_SOURCE) if (coco > 0 or s != "coco"))
    assert used > budget - 60 or used == total or budget - used < smallest_left


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.dictionaries(st.sampled_from(list(SYNTHETIC)), st.integers(0, PER_SOURCE), min_size=1), seed=st.integers(0, 1000))
def test_quotas_are_met(pool, counts, seed):
    sel = pool.all().quotas(counts, seed=seed)
    got = sel.source_counts()
    assert {k: got.get(k, 0) for k in counts} == counts
    assert len(sel) == sum(counts.values())


def write_fake_embeddings(pool, vectors):
    """Store an ``embed`` signal of given vectors (as `signals compute --signal embed` would)."""
    module = signals.get("embed")
    meta = base.wanted_meta(module, pool, {"model": "fake"})
    table = pa.table({"embedding": pa.array([None if v is None else list(map(float, v)) for v in vectors], type=pa.list_(pa.float32()))})
    base.signals_dir(pool).mkdir(exist_ok=True)
    base._write_table(table, base.signal_path(pool, "embed"), {base.META_KEY: json.dumps(meta).encode()})


def test_kmeans_equal_quotas_over_clusters(pool):
    n = len(pool)
    rng = np.random.default_rng(0)
    centres = np.array([[10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    truth = np.array([0] * 20 + [1] * 50 + [2] * (n - 70))
    vectors = centres[truth] + rng.normal(0, 0.1, (n, 3))
    write_fake_embeddings(pool, vectors)
    try:
        sel = pool.all().kmeans(30, clusters=3, seed=0)
        assert sorted(sel.report["clusters"].values()) == [10, 10, 10]
        assert sorted(np.bincount(truth[sel.rows], minlength=3).tolist()) == [10, 10, 10]
        # a small cluster gives its share to the others
        small = pool.all().kmeans(90, clusters=3, seed=0)
        assert sorted(np.bincount(truth[small.rows], minlength=3).tolist()) == [20, 35, 35]
        assert pool.all().kmeans(30, clusters=3, seed=0).rows.tolist() == sel.rows.tolist()
        from dataoptim import strategies

        coverage = strategies.run("kmeans", pool, 30, seed=0, clusters=3)
        assert sorted(np.bincount(truth[coverage.rows], minlength=3).tolist()) == [10, 10, 10]
    finally:
        base.signal_path(pool, "embed").unlink()


# -- CLI -----------------------------------------------------------------------------------------------
def test_cli_select_where_top_k_and_token_budget(pool, tmp_path, capsys):
    out = tmp_path / "train.json"
    assert main(["select", "--pool", str(pool.path), "--where", "source = 'coco'", "--top-k", "3", "--by", "answer_words",
                 "--output", str(out), "--write-ids", str(tmp_path / "ids.txt"), "-q"]) == 0
    want = [f"coco_{i}" for i in sorted(range(PER_SOURCE), key=lambda i: -words("coco", i))[:3]]
    assert [r["id"] for r in json.loads(out.read_text())] == want
    assert (tmp_path / "ids.txt").read_text().split() == want
    assert main(["select", "--pool", str(pool.path), "--ids", str(tmp_path / "ids.txt"), "--dedup", "image", "--output", str(out), "-q"]) == 0
    assert main(["select", "--pool", str(pool.path), "--budget", "20", "--weights", "coco=1,instruct=0", "--output", str(out), "-q"]) == 0
    assert {r["id"].split("_")[0] for r in json.loads(out.read_text())} == {"coco", "vqav2", "gqa"}


def test_cli_select_by_signal_errors_are_one_line(pool, tmp_path, capsys):
    out = tmp_path / "x.json"
    cases = [
        (["--where", "width > 3"], "is null in every record"),
        (["--top-k", "3"], "--top-k needs --by"),
        (["--budget-tokens", "100"], "'total_tokens'"),
        (["--where", "x >>> 1"], "--where"),
        (["--byod", str(out), "--where", "answer_words > 1"], "not to --byod"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert main(["select", "--pool", str(pool.path), *args, "--output", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
        assert not out.exists()


def test_cli_signals_compute_and_show(tmp_path, capsys):
    build_pool(synthetic_data_dir(tmp_path, 20), tmp_path / "pool", progress=False)
    assert main(["signals", "compute", "--pool", str(tmp_path / "pool"), "--signal", "text", "--signal", "flags"]) == 0
    assert "signal text: 100 records" in capsys.readouterr().out
    assert main(["signals", "show", "--pool", str(tmp_path / "pool"), "--column", "answer_words", "--output", str(tmp_path / "h.png")]) == 0
    out = capsys.readouterr().out
    assert "coco" in out and "mean=" in out and (tmp_path / "h.png").stat().st_size > 1000
    assert main(["signals", "show", "--pool", str(tmp_path / "pool"), "--column", "answer_length_class"]) == 0
    assert main(["signals", "compute", "--pool", str(tmp_path / "pool"), "--signal", "text", "--tokenizer", str(tmp_path)]) == 2
    assert "takes no --tokenizer" in capsys.readouterr().err
    assert main(["signals", "compute", "--pool", str(tmp_path / "pool"), "--signal", "nope"]) == 2
    assert main(["signals", "list", "--pool", str(tmp_path / "pool")]) == 0
    assert "text [stored]" in capsys.readouterr().out


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.integers(-3, 3) | st.sampled_from([np.iinfo(np.int64).min, np.iinfo(np.int64).max]), max_size=40),
       k=st.integers(0, 45), descending=st.booleans(), floats=st.booleans())
def test_numeric_top_k_is_a_stable_sort(values, k, descending, floats):
    """The O(n) top-k for numeric columns equals a stable sort (ties by position), both directions,
    with extreme int64 values, and as floats."""
    from dataoptim.select.by_signal import _best_positions

    array = np.array(values, dtype=np.float64 if floats else np.int64)
    plain = [float(v) for v in values] if floats else list(values)  # Python numbers: no overflow in the reference
    want = sorted(range(len(values)), key=lambda i: (-plain[i] if descending else plain[i], i))[:k]
    assert _best_positions(array, min(k, len(values)), descending).tolist() == want


def test_table_of_an_unknown_column_names_it_not_a_damaged_pool(tmp_path):
    # tester's report: Selection.table(columns=['total_tokens']) said the pool file was damaged
    from dataoptim.demo import build_sample_pool
    from dataoptim.errors import ConfigError

    pool = build_sample_pool(tmp_path, cache_dir=tmp_path / "cache").pool
    with pytest.raises(ConfigError, match=r"no pool column 'total_tokens' .*Selection.columns"):
        pool.all().table(columns=["total_tokens"])
    assert pool.all().table(columns=["id"]).num_rows == len(pool)
