"""Finding the characters of a handwritten line by reading (segment + Predictor.read_line): close
letters, wide letters, dots, multi-stroke characters, touching pairs, specks, blank lines, one character,
very long lines; as an image (a photo's path) and as strokes (the page's line canvas)."""

import cv2
import numpy as np
import pytest

from emnist_core.preprocess import UnusableImage
from emnist_core.segment import MAX_CHARACTERS, Piece, _cut
from emnist_core.strokes import StrokeDrawing

from conftest import shared_path
from helpers import as_drawing, write_line



def boxes(predictor, line, writing="any") -> list[tuple[int, int, int, int]]:
    """The characters' boxes, left to right, read from an image or a StrokeDrawing."""
    read = predictor.read_line_strokes if isinstance(line, StrokeDrawing) else predictor.read_line
    return [box for box, _ in read(line, writing).characters]


BOTH = pytest.mark.parametrize("strokes", [False, True], ids=["image", "strokes"])


def line_of(text: str, strokes: bool, **kwargs):
    return as_drawing(text, **kwargs) if strokes else write_line(text, **kwargs)


@BOTH
def test_dots_stay_with_their_i_and_j(predictor, strokes):
    line, _ = line_of("iji", strokes, height=80)
    found = boxes(predictor, line)
    assert len(found) == 3
    for box in found:
        assert box[1] < 40 + 0.2 * 80  # the box reaches up to the dot


@BOTH
@pytest.mark.parametrize("text", ["EHk", "45t", "xE4", "H5k7", "FtE"])
def test_characters_drawn_in_strokes_that_do_not_touch_stay_one(predictor, strokes, text):
    image, lefts = write_line(text)
    n_blobs = cv2.connectedComponents((image < 128).astype(np.uint8))[0] - 1
    assert n_blobs > len(text)  # the strokes are separate blobs...
    found = boxes(predictor, line_of(text, strokes)[0])
    assert len(found) == len(text)  # ...yet each character is found once
    assert [b[0] for b in found] == sorted(b[0] for b in found)
    assert all(abs(b[0] - left) <= 4 for b, left in zip(found, lefts))


@BOTH
@pytest.mark.parametrize("gap", [0.15, 0.2])
def test_close_characters_part(predictor, strokes, gap):
    """Boxes 0.15-0.2 of the height apart, so ink gaps of about 0.05-0.1 (the brush is 0.1 wide), as
    close as people write: every character found, at its place."""
    line, lefts = line_of("7L1H5k4E", strokes, gap=gap)
    found = boxes(predictor, line)
    assert len(found) == 8
    assert all(abs(b[0] - left) <= 6 for b, left in zip(found, lefts))


@BOTH
def test_wide_characters_are_not_cut(predictor, strokes):
    for text in ("7H0x1", "0H0"):
        assert len(boxes(predictor, line_of(text, strokes)[0])) == len(text)


@BOTH
def test_touching_characters_are_parted(predictor, strokes):
    line, lefts = line_of("7001", strokes, touching="00")
    found = boxes(predictor, line, writing="digits")
    assert len(found) == 4
    cut = found[2][0]
    assert lefts[2] - 0.3 * 80 <= cut <= lefts[2] + 4, (cut, lefts)  # in the stroke joining the rings


def test_a_blob_is_cut_along_a_path_that_bends_round_letters_that_overlap():
    """Two letters touching where their columns overlap (a foot reaching under the next letter's arm, as a
    g's tail under a u): no straight cut parts them, a path bending between them does; strokes are still
    cut straight down."""
    height, width = 60, 57
    left, right = np.zeros((height, width), bool), np.zeros((height, width), bool)
    left[:, 0:7] = left[50:60, 0:40] = True  # a stem and its foot, reaching right
    right[:, 50:57] = right[0:7, 30:57] = True  # a stem and its arm, reaching left over the foot
    right[54:57, 40:50] = True  # where the two touch
    blob = left | right

    def shares(bend):
        parts = _cut(Piece(0, 0, width, height, blob), float(height), pen=7.0, bend=bend)
        shares = []
        for part in parts:
            ink = np.zeros_like(blob)
            ink[part.y0:part.y1, part.x0:part.x1] = part.pixels
            shares.append((ink & left).sum() / ink.sum())
        return shares
    assert shares(bend=True) == [1.0, 0.0]  # the left letter whole, then the right one
    assert any(0 < s < 1 for s in shares(bend=False))  # straight down, a part holds ink of both


def test_parting_a_cut_blob_costs_more_than_parting_strokes_that_touch(predictor):
    """One blob cut in two (CUT_COST) and two strokes drawn into each other (TOUCH_COST) are priced apart."""
    from emnist_core.segment import CUT_COST, TOUCH_COST, line_from_drawing, line_from_image

    image, _ = write_line("00", gap=0.2, touching="00")
    blob = line_from_image(image)
    drawing, _ = as_drawing("00", gap=0.2, touching="00")
    strokes = line_from_drawing(drawing)
    for line, cost in ((blob, CUT_COST), (strokes, TOUCH_COST)):
        singles = {c.first: c for c in line.readable if c.stop == c.first + 1}
        pairs = [(singles[i], singles[j]) for i, j in line.touching if i in singles and j in singles]
        assert pairs and max(line.parting_cost(a, b) for a, b in pairs) >= cost
    assert CUT_COST > TOUCH_COST


def test_a_drawn_line_prices_its_groupings_by_strokes(predictor):
    """A drawn line's candidates carry GROUPING_FEATURES (strokes known), a photo's do not; two letters
    side by side are two clusters of strokes, and the fitted weights make that cost (train.grouping)."""
    from emnist_core.segment import (GROUPING_FEATURES, GROUPING_WEIGHTS, PARTING_FEATURES, line_from_drawing,
                                     line_from_image)

    drawing, _ = as_drawing("HkE")
    line = line_from_drawing(drawing)
    assert line.drawn and not line_from_image(write_line("HkE")[0]).drawn
    clusters = GROUPING_FEATURES.index("clusters")
    for c in line.readable:
        assert len(c.features) == len(GROUPING_FEATURES)
        assert c.prior == pytest.approx(float(c.features @ np.array(GROUPING_WEIGHTS)))
    assert max(c.features[clusters] for c in line.readable) >= 1  # H and k read as one: two clusters
    assert GROUPING_WEIGHTS[clusters] < 0
    a, b = line.readable[0], next(c for c in line.readable if c.first == line.readable[0].stop)
    assert len(line.parting_features(a, b)) == len(PARTING_FEATURES)
    line.reweigh(np.zeros(len(GROUPING_FEATURES)), np.zeros(len(PARTING_FEATURES)), 0.0)
    assert all(c.prior == 0 for c in line.readable) and line.parting_cost(a, b) == 0


def test_the_grouping_fit_aligns_a_line_with_its_own_letters(predictor):
    """train.grouping's truth: the grouping of the pieces that reads the word's letters best."""
    from train.grouping import Line, start_weights

    drawing, lefts = as_drawing("HkE")
    line = Line(predictor, drawing, "HkE")
    line.weigh(start_weights())
    line.align()
    assert [line.line.box(c)[0] for c in line.truth] == pytest.approx(lefts, abs=6)
    grouping, parting, energy = line.features(line.truth)
    assert grouping[0] == 3 and energy > 0  # three characters, each looking like a letter


def test_specks_are_dropped(predictor):
    image, _ = write_line("HkE", height=80)
    rng = np.random.default_rng(0)
    for _ in range(25):
        x, y = int(rng.integers(0, image.shape[1])), int(rng.integers(0, image.shape[0]))
        cv2.circle(image, (x, y), int(rng.integers(1, 3)), 0, -1)
    assert len(boxes(predictor, image)) == 3


def test_a_full_stop_is_dropped_not_read(predictor):
    image, _ = write_line("71", height=80)
    cv2.circle(image, (image.shape[1] - 30, 40 + 76), 5, 0, -1)
    assert len(boxes(predictor, image)) == 2


@pytest.mark.parametrize("value", [np.full((300, 1000), 255, np.uint8), np.zeros((300, 1000, 4), np.uint8), None])
def test_blank_line_is_a_message(predictor, value):
    with pytest.raises(UnusableImage):
        predictor.read_line(value)


def test_a_blank_drawing_is_a_message(predictor):
    with pytest.raises(UnusableImage):
        predictor.read_line_strokes(StrokeDrawing(1000, 300, 10.0, (np.array([[5000.0, 5000.0]], np.float32),)))


@BOTH
def test_one_character(predictor, strokes):
    line, _ = line_of("k", strokes, height=120)
    reading = (predictor.read_line_strokes if strokes else predictor.read_line)(line)
    assert len(reading.characters) == 1
    assert reading.characters[0][1].image.shape == (28, 28)


def test_a_very_long_line_is_read_in_order_and_a_longer_one_refused(predictor):
    text = ("7L1H5k4E" * 6)[:45]
    image, lefts = write_line(text, height=60)
    assert image.shape[1] > 2048  # shrunk first: the boxes still come back in the input's pixels
    found = boxes(predictor, image)
    assert len(found) == len(text)
    assert all(abs(b[0] - left) <= 6 for b, left in zip(found, lefts))
    too_long, _ = write_line("71" * (MAX_CHARACTERS // 2 + 2), height=30)
    with pytest.raises(UnusableImage, match="at most"):
        predictor.read_line(too_long)


def test_crops_hold_only_their_own_character(predictor):
    image, _ = write_line("HH", gap=0.15)
    (left_box, left), (right_box, right) = predictor.read_line(image).characters
    assert left_box[2] <= right_box[0]
    # The same glyph twice: each crop holds one H alone, so the model saw about the same image twice
    # (not pixel for pixel: the two fall differently on the pixel grid).
    assert left.image.astype(float).sum() == pytest.approx(right.image.astype(float).sum(), rel=0.25)
    assert np.corrcoef(left.image.ravel(), right.image.ravel())[0, 1] > 0.9


def test_photo_style_dark_ink_on_grey_paper_with_uneven_light(predictor):
    image, _ = write_line("45k")
    ramp = np.linspace(150, 230, image.shape[1])[None, :]
    photo = np.where(image < 128, 40, ramp).astype(np.uint8)
    assert len(boxes(predictor, np.dstack([photo] * 3))) == 3


# ---- the shipped model on real drawings -----------------------------------------------------------

@pytest.mark.parametrize("kind", ["wide", "close"])
def test_a_drawer_written_word_is_read(predictor, kind):
    from bench.line_reading import char_accuracy, word_line
    from emnist_core.strokes import read_strokes

    folder = shared_path("omniglot-latin-dev")
    word = "zebra"
    image, drawing = word_line([read_strokes(folder / f"{c}_drawer03.txt") for c in word],
                               np.random.default_rng(0), kind)
    for reading in (predictor.read_line(image, writing="letters"), predictor.read_line_strokes(drawing, writing="letters")):
        assert len(reading.characters) == len(word) and char_accuracy(word, reading.text) >= 0.6, reading.text
        assert all(p.kind == "letter" for _, p in reading.characters)
        found = [box for box, _ in reading.characters]
        assert all(b[0] < c[0] for b, c in zip(found, found[1:]))  # left to right
