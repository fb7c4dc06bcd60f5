"""Finding the characters of a handwritten line: dots, multi-stroke characters, specks, blank lines,
one character, very long lines, touching characters; and reading a line with the shipped model."""

import cv2
import numpy as np
import pytest

from emnist_core.preprocess import UnusableImage
from emnist_core.segment import MAX_CHARACTERS, find_characters

from conftest import shared_path

# Characters as polylines in a box one unit high and `width` wide; x in widths, y down in heights.
# Pieces that do not touch stay apart on purpose (the brush is 0.1 high, the gaps are wider).
GLYPHS = {
    "i": (0.3, [[(0.5, 0.42), (0.5, 1.0)], [(0.5, 0.14), (0.52, 0.16)]]),  # a dot above the stem
    "j": (0.45, [[(0.7, 0.42), (0.7, 1.0), (0.1, 0.95)], [(0.7, 0.14), (0.72, 0.16)]]),
    "E": (0.6, [[(0.1, 0.0), (0.1, 1.0)], [(0.38, 0.0), (0.95, 0.0)], [(0.38, 0.5), (0.85, 0.5)],
                [(0.38, 1.0), (0.95, 1.0)]]),
    "H": (0.7, [[(0.08, 0.0), (0.08, 1.0)], [(0.35, 0.5), (0.65, 0.5)], [(0.92, 0.0), (0.92, 1.0)]]),
    "k": (0.6, [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.35), (0.38, 0.65), (0.9, 1.0)]]),
    "t": (0.5, [[(0.5, 0.0), (0.5, 1.0)], [(0.1, 0.3), (0.9, 0.3)]]),
    "x": (0.7, [[(0.05, 0.3), (0.95, 1.0)], [(0.95, 0.3), (0.05, 1.0)]]),
    "4": (0.7, [[(0.6, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.72, 0.82), (0.72, 1.0)]]),
    "5": (0.6, [[(0.3, 0.0), (0.95, 0.0)], [(0.25, 0.15), (0.2, 0.45), (0.8, 0.55), (0.75, 0.95), (0.1, 0.9)]]),
    "7": (0.6, [[(0.0, 0.0), (1.0, 0.0), (0.4, 1.0)]]),
    "1": (0.3, [[(0.2, 0.15), (0.6, 0.0), (0.6, 1.0)]]),
    "L": (0.5, [[(0.1, 0.0), (0.1, 1.0), (0.9, 1.0)]]),
}


def write_line(text: str, height: int = 80, gap: float = 0.3, brush: float = 0.1,
               touching: str = "") -> tuple[np.ndarray, list[int]]:
    """Black-on-white line of `text` (spaces: a wider gap); the pairs in `touching` are joined by a
    stroke across the gap, as a pen that did not lift. Returns the image and each character's left edge."""
    margin = height // 2
    widths = [GLYPHS[c][0] * height if c != "0" else 0.8 * height for c in text if c != " "]
    image = np.full((height + 2 * margin, int(sum(widths) + len(text) * gap * height) + 2 * margin), 255, np.uint8)
    x, lefts, previous = float(margin), [], None
    thickness = max(1, round(brush * height))
    for c in text:
        if c == " ":
            x += gap * height
            continue
        if previous is not None:
            if (previous + c) in touching:
                y = margin + height // 2
                cv2.line(image, (int(x - 0.1 * height), y), (int(x + gap * height + 0.1 * height), y), 0,
                         thickness, cv2.LINE_AA)
            x += gap * height
        lefts.append(int(x))
        if c == "0":  # a wide ring: touching pairs of these are what the cutter must split
            centre = (int(x + 0.4 * height), margin + height // 2)
            cv2.ellipse(image, centre, (int(0.35 * height), int(0.45 * height)), 0, 0, 360, 0, thickness, cv2.LINE_AA)
            x += 0.8 * height
        else:
            width, strokes = GLYPHS[c]
            for stroke in strokes:
                pts = np.array([(x + px * width * height, margin + py * height) for px, py in stroke], np.int32)
                cv2.polylines(image, [pts], False, 0, thickness, cv2.LINE_AA)
            x += width * height
        previous = c
    return image, lefts


def centres(found) -> list[float]:
    return [(c.box[0] + c.box[2]) / 2 for c in found]


def test_dots_stay_with_their_i_and_j():
    image, _ = write_line("iji", height=80)
    found = find_characters(image)
    assert len(found) == 3
    for character in found:
        assert character.box[1] < 40 + 0.2 * 80  # the box reaches up to the dot


@pytest.mark.parametrize("text", ["EHk", "45t", "xE4", "H5k7"])
def test_characters_drawn_in_strokes_that_do_not_touch_stay_one(text):
    image, lefts = write_line(text)
    n_blobs = cv2.connectedComponents((image < 128).astype(np.uint8))[0] - 1
    assert n_blobs > len(text)  # the strokes are separate blobs...
    found = find_characters(image)
    assert len(found) == len(text)  # ...yet each character is found once
    assert [c.box[0] for c in found] == sorted(c.box[0] for c in found)
    assert all(abs(c.box[0] - left) <= 4 for c, left in zip(found, lefts))


def test_specks_are_dropped():
    image, _ = write_line("HkE", height=80)
    rng = np.random.default_rng(0)
    for _ in range(25):
        x, y = int(rng.integers(0, image.shape[1])), int(rng.integers(0, image.shape[0]))
        cv2.circle(image, (x, y), int(rng.integers(1, 3)), 0, -1)
    assert len(find_characters(image)) == 3


def test_a_full_stop_is_dropped_not_read():
    image, _ = write_line("71", height=80)
    cv2.circle(image, (image.shape[1] - 30, 40 + 76), 5, 0, -1)
    assert len(find_characters(image)) == 2


@pytest.mark.parametrize("value", [np.full((300, 1000), 255, np.uint8), np.zeros((300, 1000, 4), np.uint8), None])
def test_blank_line_is_a_message(value):
    with pytest.raises(UnusableImage):
        find_characters(value)


def test_one_character():
    image, _ = write_line("k", height=120)
    found = find_characters(image)
    assert len(found) == 1
    assert found[0].image.dtype == np.uint8 and found[0].image.min() == 0 and found[0].image.max() == 255


def test_a_very_long_line_is_read_in_order_and_a_longer_one_refused():
    text = ("7L1H5k4E" * 6)[:45]
    image, lefts = write_line(text, height=60)
    assert image.shape[1] > 2048  # shrunk first: the boxes still come back in the input's pixels
    found = find_characters(image)
    assert len(found) == len(text)
    assert all(abs(c.box[0] - left) <= 6 for c, left in zip(found, lefts))
    too_long, _ = write_line("71" * (MAX_CHARACTERS // 2 + 2), height=30)
    with pytest.raises(UnusableImage, match="at most"):
        find_characters(too_long)


def test_touching_characters_are_cut_where_the_ink_is_thinnest():
    image, lefts = write_line("7001", touching="00")
    found = find_characters(image)
    assert len(found) == 4
    cut = found[2].box[0]
    assert lefts[2] - 0.3 * 80 <= cut <= lefts[2], (cut, lefts)  # in the stroke joining the rings


def test_wide_characters_are_not_cut():
    image, _ = write_line("7H0x1")
    assert len(find_characters(image)) == 5


def test_crops_hold_only_their_own_character():
    image, _ = write_line("HH", gap=0.12)
    left, right = find_characters(image)
    assert left.box[2] <= right.box[0]
    assert (left.image < 128).sum() == pytest.approx((right.image < 128).sum(), rel=0.1)


def test_photo_style_dark_ink_on_grey_paper_with_uneven_light():
    image, _ = write_line("45k")
    ramp = np.linspace(150, 230, image.shape[1])[None, :]
    photo = np.where(image < 128, 40, ramp).astype(np.uint8)
    assert len(find_characters(np.dstack([photo] * 3))) == 3


# ---- the shipped model on real drawings -----------------------------------------------------------

def test_a_drawer_written_word_is_read(tmp_path):
    from bench.line_reading import char_accuracy, word_line
    from emnist_core.predict import Predictor
    from emnist_core.strokes import read_strokes
    from test_demo import checkpoint_or_skip

    folder = shared_path("omniglot-latin-dev")
    predictor = Predictor(checkpoint_or_skip())
    word = "zebra"
    line = word_line([read_strokes(folder / f"{c}_drawer03.txt") for c in word], np.random.default_rng(0))
    reading = predictor.read_line(line, only="letters")
    assert len(reading.characters) == len(word) and char_accuracy(word, reading.text) >= 0.6, reading.text
    assert all(p.kind == "letter" for _, p in reading.characters)
    boxes = [box for box, _ in reading.characters]
    assert all(b[2] <= c[0] + 2 for b, c in zip(boxes, boxes[1:]))  # left to right, not overlapping
