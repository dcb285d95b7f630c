"""Boxes (DESIGN §5): text formats, absolute ↔ normalised, original ↔ padded square, clamping, rejection.

Property tests (hypothesis) state the precision of every round trip; the
examples pin the values on DataOptim's real ``[0.0, 0.106, 0.827, 1.0]``.
"""

import json
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings, strategies as st

from dataoptim import boxes as B
from dataoptim.errors import InputError, MissingFileError, RecordError

HALF = 0.0005  # half a unit of the 3rd decimal
EPS = 1e-9

thousandths = st.integers(0, 1000).map(lambda k: k / 1000)
sides = st.integers(1, 4000)


@st.composite
def boxes3(draw):
    """A valid normalised box written with 3 decimals (empty boxes allowed)."""
    x1, x2 = sorted((draw(thousandths), draw(thousandths)))
    y1, y2 = sorted((draw(thousandths), draw(thousandths)))
    return (x1, y1, x2, y2)


@st.composite
def sized(draw, shape):
    """(width, height) of a landscape, portrait or square image."""
    a, b = draw(sides), draw(sides)
    if shape == "square":
        return a, a
    assume(a != b)
    lo, hi = sorted((a, b))
    return (hi, lo) if shape == "landscape" else (lo, hi)


def frame_of(width, height):
    side, ox, oy = B.square_frame(width, height)
    return side, ox, oy


# -- text formats ---------------------------------------------------------------------------------
def test_dataoptim_format_matches_the_real_record():
    assert B.format_box((0, 0.106, 0.827, 1)) == "[0.0, 0.106, 0.827, 1.0]"
    assert B.parse_box("[0.0, 0.106, 0.827, 1.0]") == (0.0, 0.106, 0.827, 1.0)
    assert B.format_boxes([(0.1, 0.2, 0.3, 0.4), (0.5, 0.5, 0.6, 0.7)]) == "[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7]"


@given(boxes3())
def test_dataoptim_text_round_trip_is_exact(box):
    text = B.format_box(box)
    assert B.parse_box(text) == box
    assert B.format_box(B.parse_box(text)) == text  # one canonical text per box
    assert B.BOX_PATTERN.fullmatch(text)


@given(st.lists(boxes3(), min_size=1, max_size=4))
def test_shikra_text_round_trip_is_exact(group):
    text = B.format_shikra_boxes(group)
    assert ";" in text or len(group) == 1
    assert all(len(part.split(",")) == 4 for part in text[1:-1].split(";"))
    assert B.parse_shikra_boxes(text) == group
    assert B.find_shikra_boxes(f"the dogs{text} run") == [group]
    assert B.find_boxes(B.shikra_to_dataoptim(text)) == group


def test_shikra_format_and_both_ways_between_conventions():
    assert B.format_shikra_boxes([(0, 0.106, 0.827, 1)]) == "[0.000,0.106,0.827,1.000]"
    shikra = "A man[0.100,0.200,0.300,0.400;0.500,0.500,0.600,0.700] waves."
    assert B.shikra_to_dataoptim(shikra) == "A man[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.6, 0.7] waves."
    assert B.dataoptim_to_shikra("a [0.0, 0.106, 0.827, 1.0].") == "a [0.000,0.106,0.827,1.000]."


@pytest.mark.parametrize("text", ["[0.1, 0.2, 0.3]", "[0.1,0.2,0.3,0.4]", "(0.1, 0.2, 0.3, 0.4)", "[1, 2, 3, 4]", "0.1, 0.2, 0.3, 0.4"])
def test_parse_refuses_other_shapes(text):
    with pytest.raises(B.BoxError, match="not a box"):
        B.parse_box(text, field="f")


@pytest.mark.parametrize("text,why", [("[0.2, 0.5, 1.3, 0.9]", "outside"), ("[0.5, 0.1, 0.2, 0.4]", "reversed"), ("[-0.1, 0.1, 0.2, 0.4]", "outside")])
def test_parse_rejects_out_of_range_and_reversed(text, why):
    with pytest.raises(B.BoxError, match=why) as info:
        B.parse_box(text, file="a.json", record=3, field="conversations[1].value")
    assert isinstance(info.value, InputError) and (info.value.file, info.value.record, info.value.field) == ("a.json", 3, "conversations[1].value")


@pytest.mark.parametrize("box", [(0.1, 0.2, 0.3), (0.1, float("nan"), 0.3, 0.4), (0.1, 0.2, 0.3, float("inf")), ("0.1", 0.2, 0.3, 0.4), (True, 0.2, 0.3, 0.4), "0.1"])
def test_malformed_boxes_are_typed_errors(box):
    with pytest.raises(B.BoxError):
        B.check_box(box)


def test_empty_boxes_rejected_unless_allowed():
    with pytest.raises(B.BoxError, match="empty"):
        B.check_box((0.2, 0.2, 0.2, 0.5))
    assert B.check_box((0.2, 0.2, 0.2, 0.5), allow_empty=True) == (0.2, 0.2, 0.2, 0.5)


# -- absolute <-> normalised ----------------------------------------------------------------------
def test_normalise_as_shikra_and_dataoptim_did():
    assert B.normalize_box([0, 50.9, 529.3, 480], 640, 480) == (0.0, 0.106, 0.827, 1.0)
    assert B.xywh_to_xyxy([334.72, 298.08, 188.16, 152.16]) == pytest.approx((334.72, 298.08, 522.88, 450.24))


@st.composite
def pixel_boxes(draw):
    w, h = draw(sides), draw(sides)
    x1, x2 = sorted(draw(st.floats(0, w)) for _ in range(2))
    y1, y2 = sorted(draw(st.floats(0, h)) for _ in range(2))
    assume(x2 - x1 > 1e-3 and y2 - y1 > 1e-3)  # a thousandth of a pixel at least
    return (x1, y1, x2, y2), w, h


@given(pixel_boxes())
def test_absolute_to_normalised_and_back_within_half_a_unit(case):
    box, w, h = case
    norm = B.normalize_box(box, w, h)
    assert all(0.0 <= v <= 1.0 for v in norm)
    for v, size, exact in zip(norm, (w, h, w, h), box):
        assert abs(v - exact / size) <= HALF + EPS
    back = B.denormalize_box(norm, w, h)
    for v, size, exact in zip(back, (w, h, w, h), box):
        assert abs(v - exact) <= HALF * size + EPS
    if norm[2] > norm[0] and norm[3] > norm[1]:  # normalised -> absolute -> normalised gives the same text
        assert B.format_box(B.normalize_box(back, w, h)) == B.format_box(norm)


@given(pixel_boxes(), st.floats(0, 0.0099), st.floats(0, 0.0099))
def test_small_overhang_is_clamped_to_the_image(case, over_lo, over_hi):
    (x1, y1, x2, y2), w, h = case
    box = (x1 - over_lo * w, y1 - over_lo * h, x2 + over_hi * w, y2 + over_hi * h)
    norm = B.normalize_box(box, w, h)
    assert all(0.0 <= v <= 1.0 for v in norm)
    assert norm == B.normalize_box((max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)), w, h)


@pytest.mark.parametrize("box,why", [
    ([0, 0, 700, 100], "outside the 640x480 image"),
    ([-20, 0, 100, 100], "outside"),
    ([100, 100, 100, 200], "empty or reversed"),
    ([300, 100, 200, 200], "empty or reversed"),
    ([650, 0, 660, 100], "outside"),
])
def test_far_out_of_range_or_degenerate_pixel_boxes_are_rejected(box, why):
    with pytest.raises(B.BoxError, match=why) as info:
        B.normalize_box(box, 640, 480, file="x.jsonl", record=2, field="bbox")
    assert str(info.value).startswith("x.jsonl: record 2, field 'bbox'")


@pytest.mark.parametrize("w,h", [(0, 10), (10, -1), (10.5, 10), (True, 10)])
def test_bad_image_sizes(w, h):
    with pytest.raises(B.BoxError, match="positive whole number"):
        B.normalize_box([0, 0, 1, 1], w, h)


# -- original <-> padded square -------------------------------------------------------------------
def test_padding_offsets_follow_llavas_expand2square():
    assert B.square_frame(640, 480) == (640, 0, 80)
    assert B.square_frame(480, 640) == (640, 80, 0)
    assert B.square_frame(500, 333) == (500, 0, 83)  # half of 167, in whole pixels as the paste puts it
    assert B.to_padded((0.0, 0.106, 0.827, 1.0), 640, 480) == (0.0, 0.204, 0.827, 0.875)
    assert B.to_padded((0.0, 0.0, 1.0, 1.0), 480, 640) == (0.125, 0.0, 0.875, 1.0)


@pytest.mark.parametrize("shape", ["landscape", "portrait", "square"])
@settings(max_examples=200)
@given(data=st.data())
def test_padded_round_trips(shape, data):
    w, h = data.draw(sized(shape))
    side, ox, oy = frame_of(w, h)
    box = data.draw(boxes3())
    padded = B.to_padded(box, w, h)
    # the padded box lies in the image's band of the square, and the long axis is unchanged
    lo_x, hi_x, lo_y, hi_y = ox / side, (ox + w) / side, oy / side, (oy + h) / side
    # (EPS: the band edge plus half a unit is itself a float sum, 0.5075 + 0.0005 < 0.508 at 1600x24)
    assert lo_x - HALF - EPS <= padded[0] <= padded[2] <= hi_x + HALF + EPS
    assert lo_y - HALF - EPS <= padded[1] <= padded[3] <= hi_y + HALF + EPS
    if shape == "square":
        assert padded == box and B.to_original(box, w, h) == box
    elif shape == "landscape":
        assert (padded[0], padded[2]) == (box[0], box[2])
    else:
        assert (padded[1], padded[3]) == (box[1], box[3])
    # original -> padded -> original: exact on the long axis, within half a unit scaled by side/short on the other
    back = B.to_original(padded, w, h)
    for v, orig, size in zip(back, box, (w, h, w, h)):
        assert abs(v - orig) <= HALF * side / size + HALF + EPS
    # padded -> original -> padded gives back the same text for a box inside the image area
    again = B.to_padded(back, w, h)
    assert B.format_box(again) == B.format_box(padded)
    # unrounded, the two conversions are exact inverses
    exact = B.to_padded(box, w, h, exact=True)
    assert B.to_original(exact, w, h, exact=True) == tuple(Fraction(repr(v)) for v in box)


@given(boxes3(), sized("landscape"))
def test_conversion_does_not_drift_over_repeated_round_trips(box, size):
    w, h = size
    padded = B.to_padded(box, w, h)
    text = B.format_box(padded)
    for _ in range(5):
        padded = B.to_padded(B.to_original(padded, w, h), w, h)
    assert B.format_box(padded) == text


def test_padding_area_is_clamped_when_going_back():
    # the top band of a 640x480 image's square (y < 80/640) is padding
    assert B.to_original((0.1, 0.05, 0.5, 0.95), 640, 480) == (0.1, 0.0, 0.5, 1.0)


# -- whole texts, records and files ---------------------------------------------------------------
def test_convert_text_rewrites_every_box_and_nothing_else():
    text = "the sign [0.147, 0.022, 0.258, 0.325] is above [0.526, 0.152, 0.625, 0.717]; steps [1, 2, 3, 4]."
    new, done, skipped = B.convert_text(text, 640, 480, "padded")
    assert (done, skipped) == (2, 0)
    assert new == "the sign [0.147, 0.142, 0.258, 0.369] is above [0.526, 0.239, 0.625, 0.663]; steps [1, 2, 3, 4]."
    assert B.convert_text(new, 640, 480, "original")[0] == "the sign [0.147, 0.023, 0.258, 0.325] is above [0.526, 0.152, 0.625, 0.717]; steps [1, 2, 3, 4]."  # short axis: within 0.0005·640/480 + 0.0005


def test_convert_text_strict_and_lenient():
    bad = "a [0.2, 0.5, 1.3, 0.9] b [0.1, 0.1, 0.2, 0.2]"
    with pytest.raises(B.BoxError, match="outside"):
        B.convert_text(bad, 100, 50, "padded", field="conversations[1].value")
    new, done, skipped = B.convert_text(bad, 100, 50, "padded", strict=False)
    assert new.startswith("a [0.2, 0.5, 1.3, 0.9] b [0.1, 0.3, 0.2, 0.35]") and (done, skipped) == (1, 1)


def write(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


RECORDS = [
    {"id": "ref3reg_1", "image": "coco/a.jpg", "conversations": [{"from": "human", "value": "<image>\nDescribe [0.0, 0.106, 0.827, 1.0]."}, {"from": "gpt", "value": "a girl"}]},
    {"id": "coco_0", "image": "coco/no_size_needed.jpg", "conversations": [{"from": "human", "value": "<image>\nDescribe."}, {"from": "gpt", "value": "A bus."}]},
]


def test_cli_converts_a_file_atomically(tmp_path, capsys):
    from dataoptim.cli import main

    src, out = write(tmp_path / "in.json", RECORDS), tmp_path / "out.json"
    sizes = write(tmp_path / "sizes.json", {"a.jpg": [640, 480]})
    # --to padded-exact: the library's own exact conversion (0.106 -> 0.2045 -> 0.204; DataOptim's tool gives 0.205)
    assert main(["boxes", "convert", str(src), str(out), "--to", "padded-exact", "--image-sizes", str(sizes)]) == 0
    assert "1 box moved to the padded-exact frame in 1 record" in capsys.readouterr().out
    got = json.loads(out.read_text())
    assert got[0]["conversations"][0]["value"] == "<image>\nDescribe [0.0, 0.204, 0.827, 0.875]." and got[1] == RECORDS[1]
    assert json.loads((tmp_path / "out.json.boxes.json").read_text())["frame"] == "padded-exact"
    assert main(["boxes", "convert", str(out), str(tmp_path / "back.json"), "--to", "original", "--image-sizes", str(sizes)]) == 0
    assert json.loads((tmp_path / "back.json").read_text())[0]["conversations"][0]["value"] == "<image>\nDescribe [0.0, 0.105, 0.827, 1.0]."
    # --to padded (the default way to the padded square): DataOptim's tool, whole pixels first: 51 + 80 = 131 px -> 0.205
    assert main(["boxes", "convert", str(src), str(tmp_path / "tool.json"), "--to", "padded", "--image-sizes", str(sizes)]) == 0
    assert json.loads((tmp_path / "tool.json").read_text())[0]["conversations"][0]["value"] == "<image>\nDescribe [0.0, 0.205, 0.827, 0.875]."


def test_cli_help_states_the_rounding_and_its_bound(capsys):
    from dataoptim.cli import main

    assert main(["boxes", "convert", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "exactly (no pixel rounding)" not in text
    assert "converted exactly, then rounded once to DataOptim's 3 decimals" in text and "at most 0.0005 x (1 + long/short side)" in text
    # the example it gives, and its bound over every short-axis value at that size
    assert B.to_original(B.to_padded((0.0, 0.106, 0.827, 1.0), 640, 480), 640, 480) == (0.0, 0.105, 0.827, 1.0)
    bound = 0.0005 * (1 + 640 / 480) + 1e-9
    for v in range(1001):
        box = (0.0, v / 1000, 1.0, 1.0)
        back = B.to_original(B.to_padded(box, 640, 480), 640, 480)
        assert back[0::2] == box[0::2] and abs(back[1] - box[1]) <= bound


def test_cli_reads_sizes_from_image_headers(tmp_path):
    from PIL import Image

    (tmp_path / "img" / "coco").mkdir(parents=True)
    Image.new("RGB", (480, 640)).save(tmp_path / "img" / "coco" / "a.jpg")
    src, out = write(tmp_path / "in.json", RECORDS[:1]), tmp_path / "out.json"
    counts = B.convert_file(src, out, "padded", B.ImageSizes(image_dir=tmp_path / "img"))
    assert counts == {"records": 1, "records_with_boxes": 1, "boxes": 1, "left_unchanged": 0}
    assert json.loads(out.read_text())[0]["conversations"][0]["value"] == "<image>\nDescribe [0.125, 0.106, 0.745, 1.0]."


def test_cli_errors_name_file_record_and_field_and_write_nothing(tmp_path, capsys):
    from dataoptim.cli import main

    bad = [RECORDS[1], {**RECORDS[0], "conversations": [RECORDS[0]["conversations"][0], {"from": "gpt", "value": "at [0.5, 0.1, 0.2, 0.4]"}]}]
    src, out = write(tmp_path / "in.json", bad), tmp_path / "out.json"
    sizes = write(tmp_path / "sizes.json", {"a.jpg": [640, 480]})
    assert main(["boxes", "convert", str(src), str(out), "--to", "padded-exact", "--image-sizes", str(sizes)]) == 2
    err = capsys.readouterr().err
    assert "in.json: record 1 (id 'ref3reg_1'), field 'conversations[1].value'" in err and "reversed" in err
    assert not out.exists() and list(tmp_path.glob(".out.json*")) == []
    with pytest.raises(MissingFileError, match="size of image 'coco/a.jpg'") as info:
        B.convert_file(write(tmp_path / "in2.json", RECORDS), out, "padded", B.ImageSizes({"other.jpg": (1, 1)}))
    assert (info.value.record, info.value.field) == (0, "image") and not out.exists()
    assert main(["boxes", "convert", str(src), str(out), "--to", "sideways", "--image-sizes", str(sizes)]) == 2
    assert main(["boxes", "convert", str(src), str(out), "--to", "padded"]) == 2
    write(tmp_path / "dict.json", {"records": RECORDS})
    with pytest.raises(InputError, match="JSON list"):
        B.convert_file(tmp_path / "dict.json", out, "padded", B.ImageSizes({"a.jpg": (640, 480)}))


def test_size_table_errors(tmp_path):
    with pytest.raises(InputError) as info:
        B.load_image_sizes(write(tmp_path / "s.json", {"a.jpg": [640, 0]}))
    assert info.value.field == "a.jpg"
    assert B.load_image_sizes(write(tmp_path / "t.json", {"a.jpg": {"width": 3, "height": 4}})) == {"a.jpg": (3, 4)}
    with pytest.raises(MissingFileError):
        B.ImageSizes(image_dir=tmp_path / "nope")


def test_image_folder_paths_stay_inside_and_header_errors_name_the_record(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "img"
    (folder / "coco").mkdir(parents=True)
    outside = tmp_path / "secret.jpg"
    Image.new("RGB", (300, 200)).save(outside)
    sizes = B.ImageSizes(image_dir=folder)
    for unsafe in ("../secret.jpg", str(outside), "coco/../../secret.jpg"):
        record = {**RECORDS[0], "image": unsafe}
        with pytest.raises(RecordError) as info:
            B.convert_record(record, sizes, "padded", file="in.json", index=3)
        assert (info.value.file, info.value.record, info.value.field) == ("in.json", 3, "image")
        assert sizes.get(unsafe) is None  # the API never reads a header outside the folder either
    (folder / "coco" / "a.jpg").write_bytes(b"GIF89a not really")
    with pytest.raises(InputError) as info:
        B.convert_record(RECORDS[0], sizes, "padded", file="in.json", index=0)
    assert (info.value.record, info.value.id, info.value.field) == (0, "ref3reg_1", "image")
    assert "is not a readable image" in str(info.value)
    # a decompression bomb (more pixels than Pillow allows) is a typed error, not Pillow's own exception
    Image.new("RGB", (64, 64)).save(folder / "coco" / "a.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(InputError, match="not a readable image"):
        B.read_image_size(folder / "coco" / "a.jpg")


def test_empty_input_file_says_so(tmp_path):
    src = tmp_path / "in.json"
    src.write_text("  \n")
    with pytest.raises(InputError, match="is empty"):
        B.convert_file(src, tmp_path / "out.json", "padded", B.ImageSizes({"a.jpg": (640, 480)}))
    assert not (tmp_path / "out.json").exists()


def test_thin_landscape_box_on_the_band_edge_stays_in_its_band():
    # found by hypothesis: 1600x24, a box spanning the full height; the band is y in [788/1600, 812/1600]
    # = [0.4925, 0.5075], and the padded box's rounded edges fall half a unit outside it
    assert B.to_padded((0.0, 0.0, 0.0, 1.0), 1600, 24) == (0.0, 0.492, 0.0, 0.508)


_SIZE_KEYS = st.sampled_from(["a.jpg", "flickr30k/a.jpg", "b.jpg", "é.jpg", "", "\ud800"])
_SIZE_SIDES = st.one_of(st.integers(-2, 3000), st.sampled_from([1.0, 500.0, 2.5, True, None, "500", 2**64, 10**30, float("nan")]))
_SIZE_VALUES = st.one_of(
    st.lists(_SIZE_SIDES, min_size=2, max_size=2), st.lists(_SIZE_SIDES, max_size=3),
    st.fixed_dictionaries({"width": _SIZE_SIDES, "height": _SIZE_SIDES}), _SIZE_SIDES,
)


@settings(max_examples=300, deadline=None)
@given(entries=st.lists(st.tuples(_SIZE_KEYS, _SIZE_VALUES), max_size=4), bom=st.booleans(), top=st.sampled_from(["object", "list", "empty", "garbage"]))
def test_size_table_decoded_at_once_is_the_size_table_read_entry_by_entry(tmp_path_factory, entries, bom, top):
    """load_image_sizes (msgspec, sizes checked while decoding; else entry by entry) == the entry-by-entry reader: same table or same located error.

    Entries are written by hand so a key can repeat (the last wins in both), with NaN, floats, bools, huge ints, lone surrogates."""
    body = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entries)
    text = {"object": "{" + body + "}", "list": "[" + body.replace(":", ",") + "]", "empty": "", "garbage": "{" + body + "} x"}[top]
    path = tmp_path_factory.mktemp("sizes") / "image_sizes.json"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))

    def outcome(read):
        try:
            return ("sizes", read(path))
        except (InputError, MissingFileError) as exc:
            return ("error", type(exc).__name__, str(exc), exc.field)

    assert outcome(B.load_image_sizes) == outcome(B._image_sizes_by_entry)


def test_a_plain_size_table_is_decoded_at_once(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b'\xef\xbb\xbf{"flickr30k/1.jpg": [500, 375], "2.jpg": [3, 4], "2.jpg": [7, 8]}')
    assert B._decode_image_sizes(path) == {"flickr30k/1.jpg": (500, 375), "2.jpg": (7, 8)} == B.load_image_sizes(path)
    path.write_text('{"a.jpg": [500.0, 375]}')
    assert B._decode_image_sizes(path) is None and B.load_image_sizes(path) == {"a.jpg": (500, 375)}
