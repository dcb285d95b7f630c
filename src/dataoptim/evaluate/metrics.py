"""Friendlier answer readings, used only under ``lenient=True`` / ``--lenient`` (NOT official).

The official scorers, each reproducing its benchmark's reference implementation, are in
:mod:`dataoptim.evaluate.tasks`; what they share is in :mod:`dataoptim.evaluate.tasks.shared`.
The functions here forgive more than the references do (both sides always normalised,
``B.``/``(B)``/option text read as a pick, ``.1``/``1e-1`` boxes, any-case yes/no); results
computed with them are labelled not official. ``extract_choice`` and ``parse_box`` also
read the benchmark's own references (the builders' answer sentences and boxes).

Each function names the public definition it starts from. All accuracies are
fractions in [0, 1]; CIDEr is on pycocoevalcap's scale (0 to 10 per image,
usually reported ×100 in papers, which we do not do).

Per-item functions (``vqa_accuracy``, ``gqa_match``, ``choice_correct``,
``box_iou``) score one prediction; corpus functions (``cider``,
``grounding_scores``, ``pope_scores``) aggregate. :mod:`dataoptim.evaluate.scoring`
wires them to the benchmark tasks.
"""

from __future__ import annotations

import re
import shutil
from typing import Iterable, Mapping, Sequence

from dataoptim.evaluate.tasks.shared import NUMBER_MAP, PUNCTUATION, process_punctuation

# --------------------------------------------------------------------------------------
# VQA accuracy (VQAv2 official evaluation: GT-Vision-Lang-Lab/VQA, PythonEvaluationTools/
# vqaEvaluation/vqaEval.py; rules restated from that script, code written here).
# --------------------------------------------------------------------------------------

#: Words that the VQA script maps to digits. ``none`` -> ``0`` is the official
#: script's quirk (DESIGN §11): "none" and "zero" and "0" are the same answer.
NUMBER_WORDS: dict[str, str] = NUMBER_MAP  # vqaEval's number words, "none" -> "0" (one table: tasks.shared)
#: Articles the VQA script drops. Dropping them can empty an answer: "A" -> "".
ARTICLES = frozenset({"a", "an", "the"})
#: Characters the VQA script removes or turns into a space (``.`` is handled apart).
VQA_PUNCTUATION = PUNCTUATION

# Contractions written with their apostrophes; the VQA script maps the forms typed
# without (some or all of) the apostrophes back to these. Forms whose bare spelling is
# an ordinary word ("its", "well", "were", "shed", "ill", "wed", "id", "hell") are not
# in the official table and are left out here too. The official table's "I" forms
# ("Im", "Ive", "Id've") are capitalised and so never match after lowercasing: we
# leave them out, which gives the same result.
_CONTRACTIONS = (
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't hadn't've "
    "hasn't haven't he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll let's "
    "ma'am mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't "
    "shan't she'd've she's should've shouldn't shouldn't've somebody'd somebody'd've "
    "somebody'll somebody's someone'd someone'd've someone'll someone's something'd "
    "something'd've something'll that's there'd there'd've there're there's they'd "
    "they'd've they'll they're they've 'twas wasn't we'd've we've weren't what'll what're "
    "what's what've when's where'd where's where've who'd who'd've who'll who's who've "
    "why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll y'all'd've "
    "you'd you'd've you'll you're you've"
).split()


def _contraction_table() -> dict[str, str]:
    """Map every spelling with one or more apostrophes dropped to the full contraction."""
    table: dict[str, str] = {}
    for full in _CONTRACTIONS:
        marks = [i for i, ch in enumerate(full) if ch == "'"]
        for mask in range(1, 2 ** len(marks)):  # every non-empty subset of apostrophes to drop
            drop = {marks[j] for j in range(len(marks)) if mask >> j & 1}
            table["".join(ch for i, ch in enumerate(full) if i not in drop)] = full
    return table


CONTRACTIONS: dict[str, str] = _contraction_table()



def vqa_normalize(answer: str) -> str:
    """Normalise an answer with the rules of the official VQAv2 evaluation script.

    Steps, in the script's order:

    1. newlines and tabs become spaces; surrounding space is stripped;
    2. punctuation (:data:`VQA_PUNCTUATION`): every copy of a mark is deleted if the
       answer as given has that mark next to a space anywhere (``"dog ,"``) or has a
       digit-comma-digit group (``"1,000"``); otherwise each copy becomes a space;
    3. a period is deleted unless a digit follows it (``"2.5"`` stays, ``"dog."`` -> ``"dog"``);
    4. lowercase, split on whitespace, number words to digits (:data:`NUMBER_WORDS`,
       including ``none`` -> ``0``), drop articles (:data:`ARTICLES`; ``"A"`` -> ``""``),
       restore apostrophes of contractions (``dont`` -> ``don't``), join with one space.

    Source: VQAv2 ``vqaEval.py`` (``processPunctuation``, ``processDigitArticle``).

    Args:
        answer: the raw answer string.

    Returns:
        The normalised answer (may be empty).
    """
    original = answer.replace("\n", " ").replace("\t", " ").strip()
    text = process_punctuation(original, period_limit=0)  # every period, not vqaEval's first 32
    words = []
    for word in text.lower().split():
        word = NUMBER_WORDS.get(word, word)
        if word in ARTICLES:
            continue
        words.append(CONTRACTIONS.get(word, word))
    return " ".join(words)


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy of one prediction against the human answers, in [0, 1].

    With ``n >= 2`` answers (VQAv2 has 10): for each of the ``n`` leave-one-out
    subsets of ``n - 1`` answers, ``min(1, matches / 3)`` where ``matches`` counts
    the answers in the subset equal to the prediction; the result is the mean
    over the ``n`` subsets. Prediction and answers are compared after
    :func:`vqa_normalize`. With 10 answers, a prediction given by 4 or more
    humans scores 1.0, by 3 humans 0.9 (= (3·2/3 + 7·1)/10), by 2 humans 0.6
    (= (2·1/3 + 8·2/3)/10), by 1 human 0.3 (= 9·(1/3)/10), by none 0.0.

    With a single reference answer (DataOptim's validation set, hold-out records)
    the leave-one-out subsets would be empty; the score is then exact match
    after normalisation (1.0 or 0.0).

    Divergence from the script (why this is the lenient reading): the official script
    normalises nothing when the 10 human answers are all the same, so ``Yes`` scores 0
    against ten ``yes`` there and 1 here; its contraction table also misses ``lets``,
    ``shes``... and it removes at most 32 periods. :mod:`dataoptim.evaluate.tasks.vqa` is the
    official reading.

    Source: Antol et al. 2015 / Goyal et al. 2017; VQAv2 ``vqaEval.py``.

    Raises:
        ValueError: ``answers`` is empty.
    """
    if not answers:
        raise ValueError("vqa_accuracy needs at least one reference answer")
    pred = vqa_normalize(prediction)
    refs = [vqa_normalize(a) for a in answers]
    if len(refs) == 1:
        return float(pred == refs[0])
    matches = sum(ref == pred for ref in refs)
    total = 0.0
    for ref in refs:  # leave this answer out: the others that match
        total += min(1.0, (matches - (ref == pred)) / 3.0)
    return total / len(refs)


# --------------------------------------------------------------------------------------
# GQA exact match
# --------------------------------------------------------------------------------------


def gqa_normalize(answer: str) -> str:
    """Normalise a GQA answer: lowercase, collapse whitespace, drop trailing periods.

    GQA's official ``eval.py`` compares answer strings exactly; LLaVA's
    ``convert_gqa_for_eval.py`` first lowercases the prediction and strips a
    trailing period. We apply the same to both sides, and collapse runs of
    whitespace. Nothing else (no article or number rules).
    """
    return " ".join(answer.lower().split()).rstrip(".").strip()


def gqa_match(prediction: str, answer: str) -> float:
    """1.0 if :func:`gqa_normalize` makes prediction and answer equal, else 0.0 (GQA accuracy)."""
    return float(gqa_normalize(prediction) == gqa_normalize(answer))


# --------------------------------------------------------------------------------------
# Multiple choice
# --------------------------------------------------------------------------------------

_MC_PATTERNS = (
    # "The correct option is B." / "answer is (C)" / "Answer: D"
    re.compile(r"\b(?i:option|answer|choice)\s*(?i:is|:)?\s*\(?([A-Z])\)?(?![A-Za-z])"),
    # "B. train", "B) train", "(B) train", "B: train", or just "B"
    re.compile(r"^\s*\(?([A-Z])(?:[).:,]|\s*$)"),
    # "(B)" anywhere
    re.compile(r"\(([A-Z])\)"),
)


def extract_choice(prediction: str, letters: str = "ABCDEFGH", choices: Sequence[str] | None = None) -> str | None:
    """Find the option letter that a free-text answer picks, or ``None``.

    Rules, first hit wins: the whole answer is one letter (any case, ``"b."``); a phrase "option/answer/choice is X" (case of the
    phrase ignored, ``X`` an upper-case letter, optionally in parentheses);
    a letter at the start followed by ``.``, ``)``, ``:``, ``,`` or the end
    (``"B"``, ``"B. train"``, ``"(B) train"``); a parenthesised letter
    anywhere. A lone article "A" at the start of a sentence (``"A cat"``) is not
    a pick. If no letter is found and ``choices`` is given, a prediction equal
    to one choice text (case and surrounding punctuation ignored) picks it.
    Letters outside ``letters`` are ignored.

    Follows DataOptim's answer format ``"The correct option is B."`` and the
    usual letter-matching of LLaVA's multiple-choice evaluations (ScienceQA, MMBench).
    """
    bare = prediction.strip().strip(".:)(").strip()
    if len(bare) == 1 and bare.upper() in letters:  # the whole answer is one letter, any case
        return bare.upper()
    for pattern in _MC_PATTERNS:
        for match in pattern.finditer(prediction):
            letter = match.group(1).upper()
            if letter in letters:
                return letter
    if choices:
        key = prediction.strip().strip(".").strip().lower()
        for letter, choice in zip(letters, choices):
            if key and key == choice.strip().strip(".").strip().lower():
                return letter
    return None


def choice_correct(prediction: str, answer: str, choices: Sequence[str] | None = None) -> float:
    """1.0 if the letter extracted from ``prediction`` (:func:`extract_choice`) is ``answer``'s letter.

    ``answer`` is a letter (``"B"``) or DataOptim's sentence (``"The correct option is B."``).

    Raises:
        ValueError: no letter can be found in ``answer``.
    """
    gold = extract_choice(answer)
    if gold is None:
        raise ValueError(f"reference {answer!r} names no option letter")
    return float(extract_choice(prediction, choices=choices) == gold)


# --------------------------------------------------------------------------------------
# Grounding: first box, IoU
# --------------------------------------------------------------------------------------

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOX = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    """The first ``[x1, y1, x2, y2]`` box written in ``text`` (four numbers in brackets), or ``None``.

    Shikra/DataOptim write boxes as ``[0.0, 0.106, 0.827, 1.0]`` (normalised
    corners, DESIGN §5); spacing is free. Coordinates are returned as written.
    """
    match = _BOX.search(text)
    if match is None:
        return None
    return tuple(float(v) for v in match.groups())  # type: ignore[return-value]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes, in [0, 1].

    A box with ``x2 <= x1`` or ``y2 <= y1`` (zero area, or corners in the wrong
    order) is empty: its IoU with anything is 0.0. No division by zero: an
    empty union gives 0.0. Units must match (both normalised, or both pixels).
    """
    ax1, ay1, ax2, ay2 = (float(v) for v in a)
    bx1, by1, bx2, by2 = (float(v) for v in b)
    area_a = max(0.0, ax2 - ax1) * max(0.0, ay2 - ay1)
    area_b = max(0.0, bx2 - bx1) * max(0.0, by2 - by1)
    if area_a <= 0.0 or area_b <= 0.0:
        return 0.0
    inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
    union = area_a + area_b - inter
    return inter / union if union > 0.0 else 0.0


def grounding_iou(prediction: str, answer: str) -> float:
    """IoU between the first box of ``prediction`` and the first box of ``answer`` (0.0 if the prediction has none).

    Raises:
        ValueError: ``answer`` holds no box.
    """
    gold = parse_box(answer)
    if gold is None:
        raise ValueError(f"reference {answer!r} holds no [x1, y1, x2, y2] box")
    pred = parse_box(prediction)
    return 0.0 if pred is None else box_iou(pred, gold)


def grounding_scores(ious: Iterable[float], threshold: float = 0.5) -> dict[str, float]:
    """Acc@IoU≥``threshold`` (the REC metric of Shikra / RefCOCO papers) and mean IoU, both in [0, 1].

    Returns ``{"acc@0.5": ..., "miou": ...}`` (key follows ``threshold``); both 0.0 for no items.
    """
    values = list(ious)
    n = len(values)
    return {
        f"acc@{threshold:g}": sum(v >= threshold for v in values) / n if n else 0.0,
        "miou": sum(values) / n if n else 0.0,
    }


# --------------------------------------------------------------------------------------
# POPE
# --------------------------------------------------------------------------------------


def pope_label(text: str) -> str:
    """Read a yes/no answer as POPE's evaluation does: ``"no"`` if the first sentence has the word "no" or "not", else ``"yes"``.

    Only the text before the first period counts; commas are ignored. Source: POPE
    (Li et al. 2023, ``evaluate.py``) as used by LLaVA's ``eval_pope.py``.
    """
    first = text.split(".")[0].replace(",", " ").lower()
    words = first.split()
    return "no" if ("no" in words or "not" in words) else "yes"


def pope_scores(predictions: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """POPE accuracy, precision, recall, F1 and yes-ratio; "yes" is the positive class.

    Args:
        predictions: model answers (read with :func:`pope_label`).
        labels: references, ``"yes"`` or ``"no"`` (also read with :func:`pope_label`).

    Returns:
        ``{"accuracy", "precision", "recall", "f1", "yes_ratio"}``, each in [0, 1];
        a ratio whose denominator is 0 is 0.0.

    Raises:
        ValueError: the sequences differ in length.
    """
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    tp = fp = tn = fn = 0
    for pred, label in zip(predictions, labels):
        p, g = pope_label(pred) == "yes", pope_label(label) == "yes"
        tp += p and g
        fp += p and not g
        tn += (not p) and (not g)
        fn += (not p) and g
    n = tp + fp + tn + fn

    def ratio(a: int, b: int) -> float:
        return a / b if b else 0.0

    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    return {
        "accuracy": ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "yes_ratio": ratio(tp + fp, n),
    }


# --------------------------------------------------------------------------------------
# CIDEr
# --------------------------------------------------------------------------------------

# Tokens that the COCO caption toolkit's PTBTokenizer drops after tokenising.
_CLITIC = re.compile(r"(?i)(\w)(n't|'s|'re|'ve|'ll|'d|'m)\b")
_NON_WORD = re.compile(r"[^\w\s']+")


def caption_tokenize(text: str) -> str:
    """Tokenise a caption for CIDEr without Java: lowercase, punctuation removed, clitics split.

    Mimics the COCO caption toolkit (``pycocoevalcap.tokenizer.PTBTokenizer``,
    Stanford PTB tokeniser, then removal of punctuation tokens): text is
    lowercased; every character that is not a letter, digit, ``_``, space or
    apostrophe becomes a space (so ``"well-lit"`` -> ``"well lit"``; PTB keeps
    such hyphenated words whole — the one known difference); the clitics
    ``n't 's 're 've 'll 'd 'm`` are split off as PTB does (``"dog's"`` ->
    ``"dog 's"``, ``"don't"`` -> ``"do n't"``); lone apostrophes are dropped.

    Returns:
        Space-joined tokens.
    """
    text = _NON_WORD.sub(" ", text.lower())
    text = _CLITIC.sub(r"\1 \2", text)
    return " ".join(tok for tok in text.split() if tok.strip("'"))


def cider(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *, tokenizer: str = "simple") -> tuple[float, dict[str, float]]:
    """CIDEr-D of a set of captions, with ``pycocoevalcap``'s ``Cider`` scorer (n = 1..4, sigma = 6).

    The document frequencies are taken over the references of all the items
    given, so the score of one item depends on the whole set (as in the COCO
    toolkit); the corpus needs at least two items for any n-gram to get a
    non-zero weight (idf = log(#items) - log(df)).

    Args:
        predictions: ``{item_id: caption}``.
        references: ``{item_id: [reference captions]}``, same keys, each list non-empty.
        tokenizer: ``"simple"`` (:func:`caption_tokenize`, no Java, the default so
            scores are the same on every machine) or ``"ptb"`` (the toolkit's
            Java PTBTokenizer; needs ``java`` on PATH).

    Returns:
        ``(corpus_score, {item_id: score})``; scores on the toolkit's scale (0–10 per item).

    Raises:
        ValueError: keys differ, a reference list is empty, or ``tokenizer`` is unknown.
        RuntimeError: ``tokenizer="ptb"`` and no ``java``.
        MissingExtraError: pycocoevalcap is not installed (the ``eval`` extra).

    Source: Vedantam et al., "CIDEr: Consensus-based Image Description Evaluation", CVPR 2015;
    ``pycocoevalcap`` (tylin/coco-caption).
    """
    from dataoptim.extras import require_extra

    require_extra("eval", "CIDEr")  # one line naming the extra, not a ModuleNotFoundError
    from pycocoevalcap.cider.cider import Cider

    if set(predictions) != set(references):
        raise ValueError("predictions and references must have the same item ids")
    if not predictions:
        return 0.0, {}
    for key, refs in references.items():
        if not refs:
            raise ValueError(f"item {key!r} has no reference caption")
    keys = sorted(predictions)
    if tokenizer == "simple":
        res = {k: [caption_tokenize(predictions[k])] for k in keys}
        gts = {k: [caption_tokenize(r) for r in references[k]] for k in keys}
    elif tokenizer == "ptb":
        if shutil.which("java") is None:
            raise RuntimeError("tokenizer='ptb' needs Java (the Stanford PTB tokenizer); use tokenizer='simple'")
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        ptb = PTBTokenizer()
        res = ptb.tokenize({k: [{"caption": predictions[k]}] for k in keys})
        gts = ptb.tokenize({k: [{"caption": r} for r in references[k]] for k in keys})
    else:
        raise ValueError(f"unknown tokenizer {tokenizer!r} (use 'simple' or 'ptb')")
    if not any(ref.split() for refs in gts.values() for ref in refs):
        return 0.0, {k: 0.0 for k in keys}  # no reference word at all: nothing to match
    score, per_item = Cider().compute_score(gts, res)
    return float(score), {k: float(s) for k, s in zip(keys, per_item)}
