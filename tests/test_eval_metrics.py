"""Metric functions hold published and hand-computed values."""

from __future__ import annotations

import math
import shutil
from collections import Counter

import numpy as np
import pytest

from dataoptim.evaluate.metrics import (
    CONTRACTIONS,
    box_iou,
    caption_tokenize,
    choice_correct,
    cider,
    extract_choice,
    gqa_match,
    grounding_iou,
    grounding_scores,
    parse_box,
    pope_label,
    pope_scores,
    vqa_accuracy,
    vqa_normalize,
)

# ---------------------------------------------------------------- VQA normalisation


@pytest.mark.parametrize(
    "raw, normalised",
    [
        # punctuation: removed next to a space, else replaced by a space
        ("Yes.", "yes"),
        ("dog , cat", "dog cat"),
        ("hello-world", "hello world"),
        ("black/white", "black white"),
        ("(left)", "left"),
        ("well-known - yes", "wellknown yes"),  # one '-' next to a space: every '-' is deleted
        ("x/-y-z", "x y z"),  # the test is on the answer as given, not on the edited text
        # digit-comma-digit anywhere: every mark is deleted, not spaced
        ("1,000", "1000"),
        ("1,000 dogs-cats", "1000 dogscats"),
        # periods: deleted unless a digit follows
        ("2.5", "2.5"),
        ("3.", "3"),
        ("etc.", "etc"),
        # number words, including the 'none' quirk
        ("Two", "2"),
        ("ten", "10"),
        ("none", "0"),
        ("zero", "0"),
        ("eleven", "eleven"),
        # articles dropped; 'A' alone becomes empty (DESIGN §11)
        ("the dog", "dog"),
        ("A", ""),
        ("an apple", "apple"),
        # contractions get their apostrophes back
        ("dont", "don't"),
        ("isnt it", "isn't it"),
        ("couldnt've", "couldn't've"),
        ("couldn'tve", "couldn't've"),
        ("yall", "y'all"),
        # whitespace
        ("  red\n car\t", "red car"),
    ],
)
def test_vqa_normalize_follows_the_official_rules(raw, normalised):
    assert vqa_normalize(raw) == normalised


def test_contraction_table_holds_only_apostrophe_free_variants():
    assert CONTRACTIONS["whats"] == "what's"
    assert CONTRACTIONS["wouldntve"] == "wouldn't've"
    assert CONTRACTIONS["yalldve"] == "y'all'd've"
    # ordinary words are not contractions
    for word in ("its", "well", "were", "shed", "ill", "wed", "hell", "id"):
        assert word not in CONTRACTIONS


# ---------------------------------------------------------------- VQA accuracy


@pytest.mark.parametrize(
    "humans_agreeing, expected",
    [
        # mean over the 10 leave-one-out subsets of min(1, matches/3):
        (0, 0.0),
        (1, 0.3),   # 9 subsets hold the one match: 9 * (1/3) / 10
        (2, 0.6),   # 2 subsets hold 1 match, 8 hold 2: (2/3 + 16/3) / 10
        (3, 0.9),   # 3 subsets hold 2 matches, 7 hold 3: (3 * 2/3 + 7) / 10
        (4, 1.0),   # every subset holds >= 3
        (10, 1.0),
    ],
)
def test_vqa_accuracy_leave_one_out(humans_agreeing, expected):
    answers = ["2"] * humans_agreeing + ["3"] * (10 - humans_agreeing)
    assert vqa_accuracy("2", answers) == pytest.approx(expected)


def test_vqa_accuracy_normalises_both_sides():
    answers = ["two"] * 3 + ["Three."] * 7
    assert vqa_accuracy("2", answers) == pytest.approx(0.9)
    assert vqa_accuracy("The three.", answers) == pytest.approx(1.0)


def test_vqa_accuracy_real_textvqa_answers():
    # TextVQA val question 34602 (tests/fixtures/eval/TextVQA_0.5.1_val.json)
    answers = ["nous les gosses", "dakota", "clos culombu", "dakota digital", "dakota",
               "dakota", "dakota digital", "dakota digital", "dakota", "dakota"]
    assert vqa_accuracy("Dakota", answers) == pytest.approx(1.0)          # 5 humans
    assert vqa_accuracy("Dakota Digital.", answers) == pytest.approx(0.9)  # 3 humans
    assert vqa_accuracy("nous les gosses", answers) == pytest.approx(0.3)  # 1 human
    assert vqa_accuracy("kodak", answers) == 0.0


def test_vqa_accuracy_single_reference_is_exact_match_after_normalisation():
    assert vqa_accuracy("Red.", ["red"]) == 1.0
    assert vqa_accuracy("a red one", ["red"]) == 0.0
    # the article quirk: 'A' and 'the' both normalise to the empty answer
    assert vqa_accuracy("the", ["A"]) == 1.0
    with pytest.raises(ValueError):
        vqa_accuracy("x", [])


# ---------------------------------------------------------------- GQA, multiple choice


def test_gqa_match():
    assert gqa_match("Yes.", "yes") == 1.0
    assert gqa_match("  The  man ", "the man") == 1.0
    assert gqa_match("man", "the man") == 0.0  # no article rule in GQA
    assert gqa_match("Yes, the sky is dark.", "Yes, the sky is dark.") == 1.0


@pytest.mark.parametrize(
    "text, letter",
    [
        ("The correct option is B.", "B"),
        ("B", "B"),
        ("b.", "B"),
        ("(C) cooking", "C"),
        ("D. flying", "D"),
        ("Answer: A", "A"),
        ("I would say (B) is right", "B"),
        ("A cat sits on the mat.", None),  # a sentence starting with the article is no pick
        ("The answer is a cat", None),
        ("transport", None),
        ("The correct option is Z.", None),  # not an allowed letter
    ],
)
def test_extract_choice(text, letter):
    assert extract_choice(text, letters="ABCD") == letter


def test_extract_choice_falls_back_to_option_text():
    choices = ["racing", "transport", "cooking", "flying"]
    assert extract_choice("Transport.", letters="ABCD", choices=choices) == "B"
    assert choice_correct("transport", "The correct option is B.", choices) == 1.0
    assert choice_correct("The correct option is C.", "B") == 0.0
    with pytest.raises(ValueError):
        choice_correct("B", "no letter here")


# ---------------------------------------------------------------- grounding


def test_parse_box_first_box_only():
    assert parse_box("It is at [0.1, 0.2, 0.6, 0.9]. Also [0, 0, 1, 1].") == (0.1, 0.2, 0.6, 0.9)
    assert parse_box("[0.0,0.106,0.827,1.0]") == (0.0, 0.106, 0.827, 1.0)
    assert parse_box("[12, 30.5, 100, 200]") == (12.0, 30.5, 100.0, 200.0)
    assert parse_box("[0.1, 0.2, 0.6]") is None
    assert parse_box("no box") is None


@pytest.mark.parametrize(
    "a, b, iou",
    [
        ([0, 0, 1, 1], [0, 0, 1, 1], 1.0),
        ([0, 0, 0.5, 1], [0.5, 0, 1, 1], 0.0),            # touching edges
        ([0, 0, 1, 1], [0.5, 0, 1.5, 1], 1 / 3),          # inter 0.5, union 1.5
        ([0, 0, 1, 1], [0.25, 0.25, 0.75, 0.75], 0.25),   # nested
        ([0.2, 0.2, 0.2, 0.8], [0, 0, 1, 1], 0.0),        # zero width
        ([0.3, 0.3, 0.3, 0.3], [0.3, 0.3, 0.3, 0.3], 0.0),  # two identical points: empty union, no ZeroDivisionError
        ([0.8, 0.8, 0.2, 0.2], [0.2, 0.2, 0.8, 0.8], 0.0),  # corners in the wrong order count as empty
        ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),              # inter 1, union 7
    ],
)
def test_box_iou_edge_cases(a, b, iou):
    assert box_iou(a, b) == pytest.approx(iou)
    assert box_iou(b, a) == pytest.approx(iou)


def test_grounding_scores():
    ious = [
        grounding_iou("[0, 0, 1, 1]", "[0, 0, 1, 1]."),        # 1.0
        grounding_iou("It is [0, 0, 1, 1]", "[0.5, 0, 1.5, 1]"),  # 1/3
        grounding_iou("nowhere", "[0, 0, 1, 1]"),               # no box: 0.0
        grounding_iou("[0, 0, 0.5, 1]", "[0, 0, 1, 1]"),        # 0.5 -> counts at >= 0.5
    ]
    assert ious == pytest.approx([1.0, 1 / 3, 0.0, 0.5])
    scores = grounding_scores(ious)
    assert scores["acc@0.5"] == pytest.approx(0.5)
    assert scores["miou"] == pytest.approx((1 + 1 / 3 + 0 + 0.5) / 4)
    assert grounding_scores([]) == {"acc@0.5": 0.0, "miou": 0.0}
    with pytest.raises(ValueError):
        grounding_iou("[0, 0, 1, 1]", "no box")


# ---------------------------------------------------------------- POPE


def test_pope_label():
    assert pope_label("Yes, there is a dog.") == "yes"
    assert pope_label("No.") == "no"
    assert pope_label("There is not a cat in the image.") == "no"
    assert pope_label("Yes. No cat though.") == "yes"  # only the first sentence counts
    assert pope_label("No, there isn't.") == "no"
    assert pope_label("Nothing") == "yes"  # the rule looks for the words 'no'/'not'


def test_pope_scores_counts():
    preds = ["yes", "yes", "no", "no", "yes", "Yes, there is.", "No.", "yes"]
    labels = ["yes", "no", "no", "yes", "yes", "yes", "no", "no"]
    # tp: 0,4,5 = 3; fp: 1,7 = 2; tn: 2,6 = 2; fn: 3 = 1
    s = pope_scores(preds, labels)
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["precision"] == pytest.approx(3 / 5)
    assert s["recall"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert s["yes_ratio"] == pytest.approx(5 / 8)
    none = pope_scores(["no", "no"], ["no", "no"])
    assert none["precision"] == 0.0 and none["f1"] == 0.0 and none["accuracy"] == 1.0
    with pytest.raises(ValueError):
        pope_scores(["yes"], [])


# ---------------------------------------------------------------- CIDEr


def test_caption_tokenize_mimics_ptb_without_java():
    assert caption_tokenize("A dog's ball, on the GRASS!") == "a dog 's ball on the grass"
    assert caption_tokenize("They don't; it's") == "they do n't it 's"
    assert caption_tokenize("well-lit room.") == "well lit room"
    assert caption_tokenize(" ' ") == ""


def _cider_d_reference(cands: dict, refs: dict, n_max: int = 4, sigma: float = 6.0) -> dict:
    """CIDEr-D written from the paper's definition, independent of pycocoevalcap.

    For each item i with candidate c and references S_i: g^n(s) is the TF-IDF
    vector of the n-grams of s, tf = count in s, idf = log(|I|) - log(df), df the
    number of items whose references contain the n-gram (at least 1). For each n,
    CIDEr-D_n = (10 / |S_i|) * sum_j  exp(-(l(c) - l(s_j))^2 / (2 sigma^2)) *
    <min(g^n(c), g^n(s_j)), g^n(s_j)> / (||g^n(c)|| ||g^n(s_j)||), and the score
    is the mean over n = 1..4. The toolkit measures length l as the number of
    bigrams, and takes 0 where a norm is 0.
    """
    def grams(sentence):
        words = sentence.split()
        return Counter(tuple(words[i:i + n]) for n in range(1, n_max + 1) for i in range(len(words) - n + 1))

    df = Counter(g for key in refs for g in set().union(*(grams(r) for r in refs[key])))
    log_n = math.log(len(refs))

    def vectors(sentence):
        counts = grams(sentence)
        vocab = [[g for g in counts if len(g) == n] for n in range(1, n_max + 1)]
        vecs = [{g: counts[g] * (log_n - math.log(max(1.0, df[g]))) for g in vocab[n]} for n in range(n_max)]
        return vecs, sum(c for g, c in counts.items() if len(g) == 2)

    out = {}
    for key in cands:
        vc, lc = vectors(cands[key])
        per_n = np.zeros(n_max)
        for ref in refs[key]:
            vr, lr = vectors(ref)
            for n in range(n_max):
                keys = sorted(set(vc[n]) | set(vr[n]))
                c = np.array([vc[n].get(k, 0.0) for k in keys])
                r = np.array([vr[n].get(k, 0.0) for k in keys])
                num = float(np.minimum(c, r) @ r)
                den = float(np.linalg.norm(c) * np.linalg.norm(r))
                per_n[n] += (num / den if den else num) * math.exp(-((lc - lr) ** 2) / (2 * sigma ** 2))
        out[key] = 10.0 * per_n.mean() / len(refs[key])
    return out


def test_cider_hand_computed_values():
    """Two items, one reference each; "a" is in both, so its idf is log 2 - log 2 = 0.

    Item 1: candidate "a cat" against "a cat sits". Unigram vectors (idf L = log 2):
    cand {a: 0, cat: L}, ref {a: 0, cat: L, sits: L}: <min(c, r), r> = L^2, norms
    L and L*sqrt(2), cosine 1/sqrt(2). Bigrams: cand {a cat: L}, ref {a cat: L,
    cat sits: L}: again 1/sqrt(2). No trigram or 4-gram in the candidate: 0.
    Lengths in bigrams 1 and 2: penalty exp(-1/72).
    CIDEr = 10 * (2/sqrt(2)) / 4 * exp(-1/72) = 3.48677...

    Item 2: candidate equal to its reference "a dog runs": cosines 1, 1, 1 for
    n = 1, 2, 3 and 0 for n = 4 (no 4-gram): 10 * 3/4 = 7.5.
    """
    preds = {"1": "A cat.", "2": "a dog runs"}
    refs = {"1": ["a cat sits"], "2": ["A dog runs!"]}
    corpus, per_item = cider(preds, refs)
    assert per_item["1"] == pytest.approx(10 * (2 / math.sqrt(2)) / 4 * math.exp(-1 / 72))
    assert per_item["1"] == pytest.approx(3.48677, abs=1e-5)
    assert per_item["2"] == pytest.approx(7.5)
    assert corpus == pytest.approx((per_item["1"] + 7.5) / 2)


def test_cider_matches_an_independent_implementation():
    refs = {
        "a": ["a man riding a wave on top of a surfboard", "a surfer rides a large wave", "man surfing on a wave"],
        "b": ["two dogs play in the grass", "a pair of dogs running on a lawn", "dogs playing outside on grass"],
        "c": ["a red bus parked on the street", "a double decker bus on a city street", "red bus on a road"],
    }
    preds = {"a": "a man surfing a big wave", "b": "two dogs running on the grass", "c": "a bus on a street"}
    corpus, per_item = cider(preds, refs)
    expected = _cider_d_reference(preds, refs)
    for key in refs:
        assert per_item[key] == pytest.approx(expected[key], rel=1e-9)
    assert corpus == pytest.approx(np.mean(list(expected.values())))
    assert 0.0 < corpus < 10.0


def test_cider_edge_cases():
    assert cider({}, {}) == (0.0, {})
    corpus, per = cider({"1": "", "2": "x"}, {"1": ["a b"], "2": ["c d"]})
    assert per["1"] == 0.0
    assert cider({"1": "x", "2": "y"}, {"1": ["..."], "2": ["!"]}) == (0.0, {"1": 0.0, "2": 0.0})
    with pytest.raises(ValueError):
        cider({"1": "a"}, {"2": ["a"]})
    with pytest.raises(ValueError):
        cider({"1": "a"}, {"1": []})
    with pytest.raises(ValueError):
        cider({"1": "a"}, {"1": ["a"]}, tokenizer="nltk")


@pytest.mark.skipif(shutil.which("java") is None, reason="the PTB tokenizer needs Java")
def test_cider_ptb_tokenizer_agrees_with_simple_on_plain_captions():
    refs = {"1": ["A cat sits on a mat.", "A cat on a mat."], "2": ["Two dogs run in the park.", "Dogs running."]}
    preds = {"1": "A cat on the mat.", "2": "Two dogs in a park."}
    assert cider(preds, refs, tokenizer="ptb")[0] == pytest.approx(cider(preds, refs)[0])
