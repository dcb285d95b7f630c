"""What the per-benchmark scorers share: answer-normalisation tables, box readers, IoU, CIDEr.

Everything here restates, in code written for this project, rules of the public
reference scorers named beside each piece; the scorers in this package say which
piece they use. Nothing here is lenient: the friendlier readings live in
:mod:`dataoptim.evaluate.metrics` and are used only under ``lenient=True``.

References (read, not copied; values checked in ``tests/test_eval_tasks.py``
against the reference code's own output):

- GT-Vision-Lab/VQA ``PythonEvaluationTools/vqaEvaluation/vqaEval.py`` @ a013f0043c1e2cdc995922dfe257f7149aa9af06
- haotian-liu/LLaVA ``llava/eval/m4c_evaluator.py`` (``EvalAIAnswerProcessor``) @ c121f0432da27facab705978f83c4ada465e46fd
- EvolvingLMMs-Lab/lmms-eval ``lmms_eval/tasks/refcoco/utils_rec.py`` @ 75571cfe0fa36ca5ec2e6aa2bb268f9d38295af3
- shikras/shikra ``mllm/dataset/single_image_dataset/rec.py`` and
  ``mllm/dataset/process_function/box_process_function.py`` @ 1204f1082680d552fc26688a2aa557a39d8ec828
- ``pycocoevalcap`` (tylin/coco-caption): ``PTBTokenizer`` and ``Cider`` (CIDEr-D).
"""

from __future__ import annotations

import re
import shutil
from typing import Mapping, Sequence

from dataoptim.errors import ConfigError

# --------------------------------------------------------------------------------------
# VQA answer normalisation tables (vqaEval.py; LLaVA's EvalAIAnswerProcessor has the same tables)
# --------------------------------------------------------------------------------------

#: vqaEval's contraction table, key -> replacement, exactly as the script has it, quirks included:
#: ``let's``/``she's`` map to themselves (so ``lets``/``shes`` are never restored),
#: ``somebody'd`` maps to ``somebodyd``, and the capitalised keys (``Im``, ``Ive``, ``Id've``)
#: can never match because words are lowercased first.
CONTRACTIONS: dict[str, str] = dict(pair.split("=", 1) for pair in """
aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've couldnt've=couldn't've
didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've hadn'tve=hadn't've hasnt=hasn't havent=haven't
hed=he'd hed've=he'd've he'dve=he'd've hes=he's howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm
Ive=I've isnt=isn't itd=it'd itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't
mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've neednt=needn't
notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at 'ow'sat='ow's'at shant=shan't
shed've=she'd've she'dve=she'd've she's=she's shouldve=should've shouldnt=shouldn't shouldnt've=shouldn't've
shouldn'tve=shouldn't've somebody'd=somebodyd somebodyd've=somebody'd've somebody'dve=somebody'd've
somebodyll=somebody'll somebodys=somebody's someoned=someone'd someoned've=someone'd've someone'dve=someone'd've
someonell=someone'll someones=someone's somethingd=something'd somethingd've=something'd've
something'dve=something'd've somethingll=something'll thats=that's thered=there'd thered've=there'd've
there'dve=there'd've therere=there're theres=there's theyd=they'd theyd've=they'd've they'dve=they'd've
theyll=they'll theyre=they're theyve=they've twas='twas wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've
werent=weren't whatll=what'll whatre=what're whats=what's whatve=what've whens=when's whered=where'd wheres=where's
whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's whove=who've whyll=why'll
whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't wouldnt've=wouldn't've wouldn'tve=wouldn't've
yall=y'all yall'll=y'all'll y'allll=y'all'll yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've
youd=you'd youd've=you'd've you'dve=you'd've youll=you'll youre=you're youve=you've
""".split())
#: Number words the scripts turn into digits (``none`` is ``0`` too).
NUMBER_MAP: dict[str, str] = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine ten".split())}
NUMBER_MAP["none"] = "0"
#: Articles dropped (after lowercasing).
ARTICLES = ("a", "an", "the")
#: Marks deleted or turned into a space, in the scripts' order.
PUNCTUATION = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
#: At most this many periods are removed: vqaEval passes ``re.UNICODE`` (32) where ``re.sub`` takes its ``count``.
PERIOD_LIMIT = 32
# a period not followed by a digit (the scripts' look-behind is mistyped as a look-ahead and never blocks)
_PERIOD = re.compile(r"\.(?!\d)")
#: vqaEval's comma test (a digit, a comma, a digit, anywhere in the answer).
VQA_COMMA = re.compile(r"(\d)(,)(\d)")
#: EvalAI's comma test (one or more commas between digits).
EVALAI_COMMA = re.compile(r"(?<=\d),+(?=\d)")


def strip_whitespace(text: str) -> str:
    """Newlines and tabs to spaces, then strip (the first step of every VQA scorer)."""
    return text.replace("\n", " ").replace("\t", " ").strip()


def process_punctuation(text: str, comma: re.Pattern = VQA_COMMA, *, period_limit: int = PERIOD_LIMIT) -> str:
    """vqaEval's ``processPunctuation``: each mark of :data:`PUNCTUATION` is deleted if the answer as
    given has it beside a space or holds a ``comma`` match, else every copy becomes a space; then the
    first ``period_limit`` (vqaEval: :data:`PERIOD_LIMIT`; 0 = all, the lenient reading) periods
    that no digit follows are deleted."""
    glued = comma.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        if glued or (mark + " ") in text or (" " + mark) in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=period_limit)


def process_digit_article(text: str) -> str:
    """vqaEval's ``processDigitArticle``: lowercase, split on whitespace, number words to digits,
    articles dropped, :data:`CONTRACTIONS` applied, words joined by one space."""
    words = [NUMBER_MAP.get(w, w) for w in text.lower().split()]
    return " ".join(CONTRACTIONS.get(w, w) for w in words if w not in ARTICLES)


def vqa_process(text: str) -> str:
    """An answer as vqaEval normalises it when the human answers disagree (whitespace, punctuation, digits/articles)."""
    return process_digit_article(process_punctuation(strip_whitespace(text)))


def evalai_process(text: str) -> str:
    """An answer as LLaVA's ``EvalAIAnswerProcessor`` (TextVQA) normalises it.

    Lowercase; ``,`` and ``?`` deleted and ``'s`` written ``' s`` with a space before it
    (``"dog's"`` -> ``"dog 's"``, ``"red,white"`` -> ``"redwhite"``); strip; whitespace;
    punctuation with EvalAI's comma test; digits, articles and contractions as vqaEval.
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    return process_digit_article(process_punctuation(strip_whitespace(text), comma=EVALAI_COMMA))


def leave_one_out(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy of an already normalised prediction against normalised human answers, in [0, 1].

    For each answer, ``min(1, matches among the other answers / 3)``; the mean over the answers
    (vqaEval and TextVQA's evaluator). 10 answers: 4+ matches 1.0, 3 -> 0.9, 2 -> 0.6, 1 -> 0.3.
    """
    matches = sum(a == prediction for a in answers)
    return sum(min(1.0, (matches - (a == prediction)) / 3.0) for a in answers) / len(answers)


# --------------------------------------------------------------------------------------
# boxes
# --------------------------------------------------------------------------------------

_LMMS_NUM = r"(-?\d+(?:\.\d+)?)"
#: lmms-eval's refcoco REC reader: the first ``[a, b, c, d]`` whose numbers have a digit before any
#: decimal point, no exponent, no ``+``, and no space before a comma.
LMMS_BOX = re.compile(rf"\[\s*{_LMMS_NUM},\s*{_LMMS_NUM},\s*{_LMMS_NUM},\s*{_LMMS_NUM}\s*\]")
_SHIKRA_NUM = r"\d(?:\.\d*)?"
#: Shikra's ``PlainBoxFormatter`` reader: ``[x1,y1,x2,y2]`` (one digit before the point, no spaces),
#: several boxes of one group joined by ``;``.
SHIKRA_BOXES = re.compile(rf"\[{_SHIKRA_NUM}(?:,{_SHIKRA_NUM}){{3}}(?:;{_SHIKRA_NUM}(?:,{_SHIKRA_NUM}){{3}})*\]")


def lmms_box(text: str) -> list[float] | None:
    """The box lmms-eval's refcoco REC scorer reads from ``text`` (:data:`LMMS_BOX`), or None (it then scores ``[0, 0, 0, 0]``)."""
    match = LMMS_BOX.search(text)
    return None if match is None else [float(v) for v in match.groups()]


def shikra_box(text: str) -> list[float] | None:
    """The box Shikra's REC metric reads: exactly one bracket group holding exactly one box, else None.

    A DataOptim-style answer written with spaces (``[0.1, 0.2, 0.5, 0.6]``) holds no box under this reader.
    """
    groups = SHIKRA_BOXES.findall(text)
    if len(groups) != 1:
        return None
    boxes = groups[0][1:-1].split(";")
    return [float(v) for v in boxes[0].split(",")] if len(boxes) == 1 else None


def lmms_iou(gt: Sequence[float], pred: Sequence[float]) -> float:
    """lmms-eval's ``compute_iou`` (float64): areas as ``(x2-x1)*(y2-y1)`` without clamping, intersection
    clamped at 0, ``inter / union``. A zero union (where lmms-eval divides by zero) gives 0.0."""
    inter = max(0.0, min(gt[2], pred[2]) - max(gt[0], pred[0])) * max(0.0, min(gt[3], pred[3]) - max(gt[1], pred[1]))
    union = (gt[2] - gt[0]) * (gt[3] - gt[1]) + (pred[2] - pred[0]) * (pred[3] - pred[1]) - inter
    return inter / union if union else 0.0


def shikra_iou(gt: Sequence[float], pred: Sequence[float]) -> float:
    """Shikra's IoU: ``torchvision.ops.box_iou`` on both boxes ×1000 in float32 (as ``torch.tensor`` makes them)."""
    import numpy as np

    g = np.asarray(gt, dtype=np.float32) * np.float32(1000)
    p = np.asarray(pred, dtype=np.float32) * np.float32(1000)
    area_p = (p[2] - p[0]) * (p[3] - p[1])
    area_g = (g[2] - g[0]) * (g[3] - g[1])
    w = max(np.float32(0), min(p[2], g[2]) - max(p[0], g[0]))
    h = max(np.float32(0), min(p[3], g[3]) - max(p[1], g[1]))
    inter = np.float32(w * h)
    union = np.float32(area_p + area_g - inter)
    return float(inter / union) if union else 0.0


# --------------------------------------------------------------------------------------
# CIDEr
# --------------------------------------------------------------------------------------

#: CIDEr tokenisations: ``ptb`` (official: pycocoevalcap's Java PTBTokenizer) or ``simple`` (no Java; not official).
CIDER_TOKENIZERS = ("ptb", "simple")


def java_available() -> bool:
    """True if a ``java`` executable is on PATH (the PTB tokenizer runs in Java)."""
    return shutil.which("java") is not None


def check_cider_tokenizer(tokenizer: str, *, captions: bool = True) -> None:
    """Refuse a CIDEr tokenisation that cannot run, before any work.

    Args:
        tokenizer: one of :data:`CIDER_TOKENIZERS`.
        captions: whether caption questions are to be scored; Java is needed only then.

    Raises:
        ConfigError: an unknown tokenizer, or ``"ptb"`` with captions to score and no Java (one line).
    """
    if tokenizer not in CIDER_TOKENIZERS:
        raise ConfigError(f"CIDEr tokenizer must be one of {', '.join(map(repr, CIDER_TOKENIZERS))}, found {tokenizer!r}")
    if tokenizer == "ptb" and captions and not java_available():
        raise ConfigError("caption scoring needs Java for CIDEr's official PTB tokenizer and no 'java' is on PATH: "
                          "install a Java runtime, or pass --cider-tokenizer simple (not official)")


def ptb_tokenize(captions: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's ``PTBTokenizer().tokenize`` on ``{key: [caption, ...]}``, with Java's chatter kept off stderr.

    The Java tokenizer prints a progress line on stderr for every call; it is captured
    here so that a command's stderr holds only its own messages. A failed Java run
    (non-zero exit) is an error instead of silently empty tokens.

    Raises:
        RuntimeError: the Java tokenizer exited with an error.
    """
    import subprocess
    from types import SimpleNamespace

    from pycocoevalcap.tokenizer import ptbtokenizer

    runs: list[subprocess.Popen] = []

    def popen(*args, **kwargs):
        kwargs["stderr"] = subprocess.PIPE
        proc = subprocess.Popen(*args, **kwargs)
        runs.append(proc)
        return proc

    saved = ptbtokenizer.subprocess
    ptbtokenizer.subprocess = SimpleNamespace(PIPE=subprocess.PIPE, Popen=popen)
    try:
        out = ptbtokenizer.PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})
    finally:
        ptbtokenizer.subprocess = saved
    failed = [p.returncode for p in runs if p.returncode]
    if failed:
        raise RuntimeError(f"the PTB tokenizer (java, pycocoevalcap) exited with status {failed[0]}")
    return out


def cider(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], *, tokenizer: str = "ptb") -> tuple[float, dict[str, float], dict[str, str]]:
    """CIDEr-D of a corpus with ``pycocoevalcap`` (``Cider``: n = 1..4, sigma = 6, document frequencies over these references).

    Args:
        predictions: ``{item_id: caption}``.
        references: ``{item_id: [reference captions]}``, same keys, each non-empty.
        tokenizer: ``"ptb"`` (pycocoevalcap's ``PTBTokenizer``, Java; official) or ``"simple"``
            (:func:`dataoptim.evaluate.metrics.caption_tokenize`, not official: it splits hyphenated words).

    Returns:
        ``(corpus score, {item_id: score}, {item_id: tokenised prediction})``, on pycocoevalcap's scale.

    Raises:
        ConfigError: see :func:`check_cider_tokenizer`.
        ValueError: keys differ or a reference list is empty.
    """
    from pycocoevalcap.cider.cider import Cider

    check_cider_tokenizer(tokenizer)
    if set(predictions) != set(references):
        raise ValueError("predictions and references must have the same item ids")
    for key, refs in references.items():
        if not refs:
            raise ValueError(f"item {key!r} has no reference caption")
    keys = sorted(predictions)
    if not keys:
        return 0.0, {}, {}
    if tokenizer == "simple":
        from dataoptim.evaluate.metrics import caption_tokenize

        res = {k: [caption_tokenize(predictions[k])] for k in keys}
        gts = {k: [caption_tokenize(r) for r in references[k]] for k in keys}
    else:
        res = ptb_tokenize({k: [predictions[k]] for k in keys})
        gts = ptb_tokenize({k: list(references[k]) for k in keys})
    tokens = {k: res[k][0] for k in keys}
    if not any(ref.split() for refs in gts.values() for ref in refs):
        return 0.0, {k: 0.0 for k in keys}, tokens  # no reference word at all (pycocoevalcap would divide by zero)
    score, per_item = Cider().compute_score(gts, res)
    return float(score), {k: float(s) for k, s in zip(list(gts), per_item)}, tokens
