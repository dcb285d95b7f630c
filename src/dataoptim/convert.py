"""Pure conversion helpers shared by several builders (DESIGN §3–§4).

No I/O here: each function turns values taken from an original annotation into
a record or a piece of one, exactly as DataOptim did.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from dataoptim import prompts
from dataoptim.records import make_record, two_turns


def coco_image_path(image_id: int | str, split: str = "train2014") -> str:
    """Image path of a COCO 2014 image in DataOptim's folder: ``coco/COCO_train2014_000000318556.jpg``.

    Args:
        image_id: COCO image id (int, or its decimal string).
        split: ``train2014`` or ``val2014``.
    """
    return f"coco/COCO_{split}_{int(image_id):012d}.jpg"


def image_in_folder(folder: str, img_path: Any, *, field: str = "img_path") -> str:
    """``{folder}/{file name}`` for a source that names images by a path relative to its own folder.

    Shikra's files give ``img_path`` as a bare file name or a path under the
    source's image folder; only its file name is kept. A value that is not a
    relative, ``..``-free path is refused rather than rewritten.

    Raises:
        ValueError: not a non-empty string.
        RecordError: an absolute path, ``..``, or backslashes (field ``field``).
    """
    import posixpath

    from dataoptim.records import check_image_path

    if not isinstance(img_path, str) or not img_path.strip():
        raise ValueError(f"{field!r} must be a non-empty string, found {img_path!r}")
    check_image_path(img_path, field=field)
    return check_image_path(f"{folder}/{posixpath.basename(img_path)}", field=field)


def most_frequent(answers: Sequence[str]) -> str:
    """The most frequent of the annotators' answers; ties go to the one met first.

    Raises:
        ValueError: no answers.
    """
    if not answers:
        raise ValueError("no answers to choose from")
    return Counter(answers).most_common(1)[0][0]


def caption_record(record_id: str, image: str, caption: str, *, source: str, seed: int = 0, **native: Any) -> dict[str, Any]:
    """A captioning record: ``<image>\\n{instruction}`` → the caption as given.

    The instruction is one of :data:`dataoptim.prompts.CAPTION_INSTRUCTIONS`,
    picked by :func:`dataoptim.prompts.stable_choice` from ``(record_id, seed)``.
    ``native`` (``image_id``, ``width``, ``height``, ``question_id``) fills the optional columns.
    """
    return make_record(record_id, image, two_turns(prompts.caption_prompt(record_id, seed), caption), source=source, task="caption", **native)


def vqa_record(record_id: str, image: str, question: str, answer: str, *, source: str, **native: Any) -> dict[str, Any]:
    """An open-ended VQA record: ``<image>\\n{question} Answer the question directly ...`` → ``answer``."""
    return make_record(record_id, image, two_turns(prompts.vqa_prompt(question), answer), source=source, task="vqa", **native)
