"""The image-folder checks know the folders of all 21 sources, LLaVA's layout and DataOptim's misspelt ``filckr30k`` (issue 13)."""

from dataoptim import catalog
from dataoptim.select.images import check_images, folder_hints


def test_every_source_folder_is_known_and_filckr30k_is_a_misspelling():
    assert set(catalog.IMAGE_FOLDERS) >= {"coco", "coco_2017", "docvqa", "dvqa", "scienceqa", "sam", "share_textvqa", "web-celebrity",
                                           "web-landmark", "wikiart", "llava", "visual_genome", "ocrvqa", "open_images", "flickr30k"}
    assert catalog.MISSPELT_FOLDERS == {"filckr30k": "flickr30k"}


def test_hints_name_the_trap(tmp_path):
    (tmp_path / "filckr30k").mkdir()
    (tmp_path / "coco" / "train2017").mkdir(parents=True)
    (tmp_path / "vg" / "VG_100K").mkdir(parents=True)
    missing = ["flickr30k/1.jpg", "coco_2017/000000000009.jpg", "visual_genome/1.jpg", "docvqa/a_1.png", "mine/x.jpg"]
    hints = folder_hints(missing, tmp_path)
    assert hints[0].endswith("rename it to 'flickr30k'") and "filckr30k" in hints[0]
    assert any("no 'coco_2017/' folder" in h and "coco/train2017/ exists" in h for h in hints)
    assert any("no 'visual_genome/' folder" in h and "vg/VG_100K/ exists" in h for h in hints)
    assert any(h.endswith("(images of docvqa)") and "no 'docvqa/' folder" in h for h in hints)
    assert any(h.endswith(f"no 'mine/' folder under {tmp_path}") for h in hints)
    assert not any("no 'flickr30k/' folder" in h for h in hints)  # the rename hint says it


def test_check_images_reports_the_hints(tmp_path):
    (tmp_path / "coco" / "train2017").mkdir(parents=True)
    report = check_images(["coco_2017/000000000009.jpg"], tmp_path)
    assert report.missing == ["coco_2017/000000000009.jpg"] and "move or link" in report.hints[0]


def test_ids_of_a_source_whose_name_holds_an_underscore():
    import pyarrow as pa

    from dataoptim.select.summary import _count_prefixes

    assert catalog.source_of("llava_v1.5_0").name == "llava_v1.5" and catalog.source_of("llava_157711").name == "llava"
    ids = pa.array(["llava_v1.5_0", "llava_0", "llava_v1.5_1", "svit_detail_0", "mine_1"])
    assert _count_prefixes(ids) == {"llava": 1, "llava_v1.5": 2, "svit": 1, "other": 1}
