"""Text-only records (LLaVA-v1.5's ShareGPT chats, issue 13 item 2): pool, selection, export, summary, BYOD, both trainers.

A record without ``image`` is what LLaVA trains as text-only (``'image' in sources[0]``,
haotian-liu/LLaVA train.py): the exported JSON must have no ``image`` key at all (``null``
would be opened as a path), and the record must hold no ``<image>``.
"""

from __future__ import annotations

import json
import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dataoptim.errors import RecordError
from dataoptim.select import Pool, build_pool, validate_byod

CHAT = [{"from": "human", "value": "Write a haiku about autumn rain."}, {"from": "gpt", "value": "Cold drops on red leaves."},
        {"from": "human", "value": "Now one about snow."}, {"from": "gpt", "value": "White hush on the road."}]
VQA = [{"from": "human", "value": "<image>\nWhat colour is the bus?"}, {"from": "gpt", "value": "White and red."}]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("textonly")
    data = root / "data"
    data.mkdir()
    mixed = [{"id": "llava_v1.5_0", "image": "coco_2017/000000033471.jpg", "conversations": VQA},
             {"id": "llava_v1.5_1", "conversations": CHAT},
             {"id": "llava_v1.5_2", "image": "coco_2017/000000000009.jpg", "conversations": VQA}]
    (data / "llava_v1.5.json").write_text(json.dumps(mixed))
    (data / "coco.json").write_text(json.dumps([{"id": "coco_0", "image": "coco/COCO_train2014_000000318556.jpg", "conversations": [
        {"from": "human", "value": "<image>\nGive a brief summary of what you see."}, {"from": "gpt", "value": "A bathroom."}]}]))
    build_pool(data, root / "pool", progress=False)
    images = root / "images"
    for rel in ("coco_2017/000000033471.jpg", "coco_2017/000000000009.jpg", "coco/COCO_train2014_000000318556.jpg"):
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 30), (200, 40, 40)).save(images / rel)
    return Pool.open(root / "pool"), images, root


def test_pool_keeps_text_only_records_and_selection_exports_them_without_image_key(pool, tmp_path):
    opened, images, _ = pool
    selection = opened.by_ids(["llava_v1.5_1", "coco_0", "llava_v1.5_0", "llava_v1.5_1"])
    summary = selection.to_llava_json(tmp_path / "sel.json", image_folder=images)
    exported = json.loads((tmp_path / "sel.json").read_text())
    assert exported[0] == {"id": "llava_v1.5_1", "conversations": CHAT}  # no "image" key, not null
    assert exported[3] == exported[0] and exported[1]["image"] == "coco/COCO_train2014_000000318556.jpg"
    assert (summary.records, summary.text_only, summary.images, summary.repeats) == (4, 2, 2, 1)
    assert summary.box_frames == {"llava_v1.5": "padded"} and summary.as_dict()["box_frames"] == {"llava_v1.5": "padded"}
    assert summary.by_source == {"coco": 1, "llava_v1.5": 3} and summary.by_task == {"caption": 1, "mixed": 3}
    assert "2 text-only records" in summary.rich_table().caption and "2 text-only" in str(summary)
    assert selection.images() == ["coco/COCO_train2014_000000318556.jpg", "coco_2017/000000033471.jpg"]
    # the filters and mixtures know the new task
    assert opened.all().filter(task="mixed").ids() == ["llava_v1.5_0", "llava_v1.5_1", "llava_v1.5_2"]


def test_byod_accepts_text_only_records_with_the_same_rules(pool, tmp_path):
    opened, images, _ = pool
    records = [{"id": "mine_0", "conversations": CHAT}, {"id": "mine_1", "image": "coco_2017/000000033471.jpg", "conversations": VQA}]
    path = tmp_path / "byod.json"
    path.write_text(json.dumps(records))
    summary = validate_byod(path, image_folder=images, pool=opened, output=tmp_path / "out.json")
    assert (summary.records, summary.text_only, summary.images) == (2, 1, 1)
    assert json.loads((tmp_path / "out.json").read_text()) == records
    for bad, field, words in (
        ({"id": "mine_0", "conversations": [{"from": "human", "value": "<image>\nHi"}, {"from": "gpt", "value": "Hello."}]}, "conversations[0].value", "without 'image'"),
        ({"id": "mine_0", "image": None, "conversations": CHAT}, "image", "is null"),
    ):
        path.write_text(json.dumps([bad]))
        with pytest.raises(RecordError, match=words) as info:
            validate_byod(path)
        assert (info.value.record, info.value.id, info.value.field) == (0, "mine_0", field)


def test_trainer_and_validation_refuse_image_null_alike(tmp_path):
    """``"image": null`` in a JSON file: LLaVA 744cb3e's LazySupervisedDataset tests ``'image' in sources[0]``, finds the
    key and opens None (os.path.join(image_folder, None): TypeError), so it is no text-only record. The trainer accepted
    it as one while validate/validate_byod refused it; all three now refuse it with the same located message. An Arrow
    row (a saved selection) cannot tell a missing key from null: there None stays a text-only record."""
    import datasets

    from dataoptim.select.validate import check_submission
    from dataoptim.train.data import load_selection

    records = [{"id": "mine_0", "conversations": CHAT}, {"id": "mine_1", "image": None, "conversations": CHAT}]
    for name, text in (("sel.json", json.dumps(records)), ("sel.jsonl", "".join(json.dumps(r) + "\n" for r in records))):
        path = tmp_path / name
        path.write_text(text)
        messages = []
        for check in (lambda: validate_byod(path), lambda: load_selection(path, cache_dir=tmp_path / "cache")):
            with pytest.raises(RecordError) as info:
                check()
            messages.append(str(info.value))
        messages.append(str(check_submission(path).problems[0]))
        assert messages == [f"{path}: record 1 (id 'mine_1'), field 'image': is null; a text-only record has no 'image' field at all"] * 3
    arrow = datasets.Dataset.from_list([{"id": "mine_1", "image": None, "conversations": CHAT}])
    assert load_selection(arrow)["image"] == [None]


def test_a_selected_text_only_record_trains_two_steps_with_the_hf_backend(pool, tmp_path):
    from dataoptim.train import train

    opened, images, _ = pool
    opened.by_ids(["llava_v1.5_1", "llava_v1.5_0", "llava_v1.5_2", "coco_0"]).to_llava_json(tmp_path / "train.json", image_folder=images)
    run = train(tmp_path / "train.json", images, tmp_path / "out", backend="hf", model="tiny", max_steps=2,
                per_device_train_batch_size=2, logging_steps=1, save_strategy="no", dataloader_num_workers=0,
                disable_tqdm=True, cache_dir=tmp_path / "cache")
    assert len(run.losses) == 2 and all(math.isfinite(x) for x in run.losses)
    report = json.loads((tmp_path / "out" / "train_report.json").read_text())
    assert report["data"]["records"] == 4 and report["data"]["usable"] == 4


def test_a_text_only_batch_trains_too(pool, tmp_path):
    from dataoptim.train import train

    opened, images, _ = pool
    opened.by_ids(["llava_v1.5_1"]).to_llava_json(tmp_path / "chat.json")
    run = train(tmp_path / "chat.json", images, tmp_path / "out", backend="hf", model="tiny", max_steps=1,
                per_device_train_batch_size=1, logging_steps=1, save_strategy="no", dataloader_num_workers=0,
                disable_tqdm=True, cache_dir=tmp_path / "cache")
    assert len(run.losses) == 1 and math.isfinite(run.losses[0])


def test_the_llava_backend_writes_text_only_records_without_image_key(pool, tmp_path):
    import warnings

    from dataoptim.train.llava import prepare_llava

    opened, images, _ = pool
    opened.by_ids(["llava_v1.5_1", "llava_v1.5_0"]).to_llava_json(tmp_path / "sel.json", image_folder=images)
    repo = tmp_path / "LLaVA"
    (repo / "llava" / "train").mkdir(parents=True)
    (repo / "llava" / "train" / "train_mem.py").write_text("# stub\n")
    (tmp_path / "mm_projector.bin").write_bytes(b"stub")
    (tmp_path / "base").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stub checkout is no git repository at LLaVA 744cb3e
        run = prepare_llava(tmp_path / "sel.json", images, repo, tmp_path / "base", tmp_path / "mm_projector.bin", tmp_path / "out",
                            cache_dir=tmp_path / "cache")
    written = json.loads(run.files["data"].read_text())
    assert written[0] == {"id": "llava_v1.5_1", "conversations": CHAT} and written[1]["image"] == "coco_2017/000000033471.jpg"


def test_box_frames_per_source(pool):
    """LLaVA-v1.5's boxes are in the padded square (DataOptim README), the other grounding sources' in the original image."""
    from dataoptim import catalog

    opened, _, _ = pool
    assert {p.name: p.box_frame for p in opened.parts} == {"coco": None, "llava_v1.5": "padded"}
    assert opened.by_ids(["coco_0", "llava_v1.5_0"]).box_frames() == {"llava_v1.5": "padded"}
    assert opened.by_ids(["coco_0"]).box_frames() == {}
    assert {n: s.box_frame for n, s in catalog.SOURCES.items() if s.box_frame} == {
        "ref3rec": "original", "ref3reg": "original", "shikra": "original", "svit": "original", "llava_v1.5": "padded"}



def test_select_boxes_padded_leaves_llava_v15_records_as_they_are():
    """``select --boxes padded`` moves the original-frame sources only; LLaVA-v1.5's boxes are padded already."""
    from dataoptim.boxes import BoxMover, ImageSizes

    sizes = ImageSizes({"coco/1.jpg": (640, 480), "coco_2017/1.jpg": (640, 480)})
    mover = BoxMover("padded", sizes)
    v15 = {"id": "llava_v1.5_0", "image": "coco_2017/1.jpg", "conversations": [{"from": "human", "value": "<image>\nWhere?"}, {"from": "gpt", "value": "[0.42, 0.27, 0.49, 0.36]"}]}
    rec = {"id": "ref3rec_0", "image": "coco/1.jpg", "conversations": [{"from": "human", "value": "<image>\nWhere?"}, {"from": "gpt", "value": "[0.0, 0.106, 0.827, 1.0]."}]}
    assert mover.record(v15) is v15
    assert mover.record(rec)["conversations"][1]["value"] != rec["conversations"][1]["value"]
    assert mover.kept_frames == {"llava_v1.5": "padded"} and mover.records == {"ref3rec": 1}
