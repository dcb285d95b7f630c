"""The one image-path rule (``dataoptim.imagepath``): path strings, links out of the folder, the option that admits them.

Every entry point that reads images under an image folder goes through it; the
bad-input table (``tests/bad_inputs.py``) checks each entry point's rows for
links out of the folder, refused by default and admitted with the option.
"""

from __future__ import annotations

import os

import pytest

from dataoptim.errors import MissingFileError, RecordError, UnsafeInputError
from dataoptim.imagepath import ImageFolder, resolve_image


@pytest.fixture()
def layout(tmp_path):
    """``images/`` with a file, a link to a file outside, a linked sub-folder (organiser layout) and links that stay inside."""
    images = tmp_path / "images"
    (images / "coco").mkdir(parents=True)
    (images / "coco" / "1.jpg").write_bytes(b"x")
    disk = tmp_path / "disk"
    (disk / "vg").mkdir(parents=True)
    (disk / "vg" / "2.jpg").write_bytes(b"y")
    (disk / "secret.jpg").write_bytes(b"z")
    os.symlink(disk / "vg", images / "visual_genome", target_is_directory=True)  # images/visual_genome -> /data/vg
    os.symlink(disk / "secret.jpg", images / "coco" / "out.jpg")
    os.symlink("1.jpg", images / "coco" / "same.jpg")  # relative link, inside
    os.symlink(images / "coco", images / "alias", target_is_directory=True)  # absolute link, inside
    os.symlink("../../disk/secret.jpg", images / "coco" / "rel-out.jpg")  # relative link, outside
    return tmp_path, images


def test_paths_inside_the_folder_resolve_to_the_record_path(layout):
    _, images = layout
    folder = ImageFolder(images)
    assert folder.resolve("coco/1.jpg") == images / "coco" / "1.jpg"
    assert folder.resolve("coco/same.jpg") == images / "coco" / "same.jpg"  # a link that stays inside
    assert folder.resolve("alias/1.jpg") == images / "alias" / "1.jpg"
    assert folder.resolve("coco/missing.jpg") == images / "coco" / "missing.jpg"  # existence is the caller's check


@pytest.mark.parametrize("image", ["coco/out.jpg", "coco/rel-out.jpg", "visual_genome/2.jpg", "visual_genome/absent.jpg"])
def test_links_out_are_refused_naming_record_and_field(layout, image):
    _, images = layout
    with pytest.raises(UnsafeInputError) as err:
        resolve_image(images, image, file="sub.json", record=3, id="coco_3")
    message = str(err.value)
    assert message.startswith(f"sub.json: record 3 (id 'coco_3'), field 'image': image {image!r} leads outside the image folder")
    assert "--allow-symlinks-out" in message


@pytest.mark.parametrize("image", ["coco/out.jpg", "visual_genome/2.jpg"])
def test_allow_symlinks_out_admits_them(layout, image):
    _, images = layout
    path = resolve_image(images, image, allow_symlinks_out=True)
    assert path == images / image and path.is_file()


@pytest.mark.parametrize("image, words", [
    ("/etc/passwd", "relative"), ("../disk/secret.jpg", "inside the image folder"), ("coco/./1.jpg", "inside the image folder"),
    ("coco\\1.jpg", "'/' separators"), ("", "non-empty"), (7, "non-empty"),
])
def test_path_strings_are_checked_first_even_when_links_are_allowed(layout, image, words):
    _, images = layout
    for allow in (False, True):
        with pytest.raises(RecordError, match=words):
            resolve_image(images, image, allow_symlinks_out=allow, record=0, field="image")


def test_a_linked_image_folder_is_compared_by_its_real_path(layout):
    root, images = layout
    os.symlink(images, root / "link-to-images", target_is_directory=True)
    folder = ImageFolder(root / "link-to-images")
    assert folder.resolve("coco/1.jpg").is_file()
    with pytest.raises(UnsafeInputError):
        folder.resolve("coco/out.jpg")


def test_missing_folder(tmp_path):
    with pytest.raises(MissingFileError, match="image folder not found"):
        ImageFolder(tmp_path / "absent")


def test_every_entry_point_uses_the_shared_rule():
    """No entry point keeps its own variant: the modules that open images under a folder call dataoptim.imagepath."""
    from pathlib import Path

    import dataoptim

    src = Path(dataoptim.__file__).parent
    for name in ("select/byod.py", "select/images.py", "train/data.py", "train/llava.py", "evaluate/generate.py", "boxes.py"):
        text = (src / name).read_text(encoding="utf-8")
        assert "imagepath" in text or "raise_for_images" in text, name
        assert "realpath" not in text and "commonpath" not in text, f"{name} checks links itself"
