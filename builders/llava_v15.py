"""LLaVA-v1.5's instruction-tuning mixture (Liu et al., 2023): ``llava_v1_5_mix665k.json``.

Original file (liuhaotian/LLaVA-Instruct-150K on the Hugging Face hub): a JSON
list of 665,298 LLaVA records, the size of DataOptim's LLaVA-v1.5 source. It
mixes LLaVA-Instruct, VQAv2, GQA, OKVQA, OCR-VQA, A-OKVQA, TextCaps, RefCOCO and
Visual Genome (as VQA, REC and REG) and ShareGPT's text-only conversations::

    {"id": "000000033471", "image": "coco/train2017/000000033471.jpg", "conversations": [...]}
    {"id": "i6IyJda_0", "model": "", "conversations": [{"from": "human", "value": "..."}, ...]}

Records: conversations unchanged (DataOptim keeps the prompts of mixed datasets).
**Boxes** in its REC/REG turns are normalised by LLaVA's *padded square*
(DataOptim README: "except LLaVA-v1.5, which is based on the padded image";
LLaVA issue 606): the catalog marks the source ``box_frame="padded"``.
**Text-only** entries (no ``image``) stay text-only records: no ``image``, no
``<image>`` (LLaVA trains on them so, ``'image' in sources[0]``).

Images are renamed into DataOptim's image tree, which from the commit that added
LLaVA-v1.5 (BAAI-DCAI/DataOptim 1fd3ecf) holds ``coco_2017/`` next to
``visual_genome/``, ``ocrvqa/`` and ``open_images/`` and none of LLaVA's own
``gqa/``, ``vg/``, ``ocr_vqa/``, ``textvqa/`` folders:

============================  ======================
LLaVA-v1.5 path prefix        DataOptim folder
============================  ======================
``coco/train2017/``           ``coco_2017/``
``gqa/images/``               ``visual_genome/``
``vg/VG_100K/``               ``visual_genome/``
``vg/VG_100K_2/``             ``visual_genome/``
``ocr_vqa/images/``           ``ocrvqa/``
``textvqa/train_images/``     ``open_images/``
============================  ======================

Ids ``llava_v1.5_{index}`` in file order (DataOptim's file is ``llava_v1.5.json``
and its ids are ``{file name}_{key}``). The folder mapping and the ids are not
checked against DataOptim's file (no public record of it): ``dataoptim sources``
marks the original file unverified; the converted file passes through unchanged.
Native column: ``image_id`` (LLaVA's ``id``). Table path: ShareGPT-4V's
(:func:`dataoptim.builders.sharegpt4v.conversation_tables`), text-only entries allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping

from dataoptim.builder import SourceBuilder, annotation_errors
import pyarrow as pa

from dataoptim.builders.sharegpt4v import conversation_tables, copy_turns, dataoptim_image
from dataoptim.io import iter_json_array
from dataoptim.records import make_record, validate_record

#: LLaVA-v1.5's image path prefixes -> DataOptim's folders (see the module docstring).
IMAGE_FOLDERS: tuple[tuple[str, str], ...] = (
    ("coco/train2017/", "coco_2017/"),
    ("gqa/images/", "visual_genome/"),
    ("vg/VG_100K/", "visual_genome/"),
    ("vg/VG_100K_2/", "visual_genome/"),
    ("ocr_vqa/images/", "ocrvqa/"),
    ("textvqa/train_images/", "open_images/"),
)


def entry_to_record(index: int, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Entry ``index`` (0-based) of ``llava_v1_5_mix665k.json`` → record ``llava_v1.5_{index}``.

    An entry without ``image`` gives a text-only record (``image`` None).

    Raises:
        KeyError: ``conversations`` missing. ValueError: ``image`` given but empty.
        RecordError: the conversation breaks the record rules (a text-only one holding ``<image>``...).
    """
    image = dataoptim_image(entry["image"], IMAGE_FOLDERS) if entry.get("image") is not None else None
    record = make_record(
        f"llava_v1.5_{index}", image, copy_turns(entry["conversations"]), source="llava_v1.5", task="mixed", image_id=entry.get("id"),
    )
    return validate_record(record)


class LLaVAv15(SourceBuilder):
    """LLaVA-v1.5's mix665k as LLaVA records (boxes in the padded frame, text-only chats kept): 665,298 in DataOptim's release."""

    SOURCE = "llava_v1.5"
    ORIGINAL_FILES = {"train": {"conversations": ("llava_v1_5_mix665k.json",)}}
    DESCRIPTION = "LLaVA-v1.5 mix665k: LLaVA-Instruct, academic VQA/OCR/grounding data and ShareGPT text-only chats, as used to train LLaVA-v1.5."
    HOMEPAGE = "https://github.com/haotian-liu/LLaVA/blob/main/docs/Data.md"
    LICENSE = "CC BY 4.0 (LLaVA data; must follow OpenAI's terms of use); parts under their own datasets' licences"
    CITATION = """@article{liu2023improved,
  title={Improved Baselines with Visual Instruction Tuning},
  author={Liu, Haotian and Li, Chunyuan and Li, Yuheng and Lee, Yong Jae},
  journal={arXiv preprint arXiv:2310.03744},
  year={2023}
}"""
    DOWNLOAD = "https://huggingface.co/datasets/liuhaotian/LLaVA-Instruct-150K (llava_v1_5_mix665k.json)"

    def original_tables(self, split: str, files: Mapping[str, Path]) -> Iterator[pa.Table]:
        return conversation_tables(files["conversations"], source=self.SOURCE, task="mixed", renames=IMAGE_FOLDERS, text_only=True)

    def original_records(self, split: str, files: Mapping[str, Path]) -> Iterator[dict[str, Any]]:
        path = files["conversations"]
        for index, entry in enumerate(iter_json_array(path, what="LLaVA-v1.5 mix665k file")):
            with annotation_errors(path, index, f"[{index}]"):
                record = entry_to_record(index, entry)
            yield record
