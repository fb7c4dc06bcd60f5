"""The page's stroke JSON: parse_drawing takes what the canvas sends (a dict or a JSON string) and turns
anything else into a message for people; render_drawing draws the strokes with the brush the writer saw."""

import json
import math

import cv2
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from emnist_core import strokes as strokes_module
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import (BRUSH_RANGE, MAX_POINTS, MAX_STROKES, SIDE_RANGE, StrokeDrawing,
                                 parse_drawing, render_drawing)


def drawing(strokes, width=400, height=400, brush=16, **extra) -> dict:
    return {"width": width, "height": height, "brush": brush, "strokes": strokes, **extra}


LINE = [[[100, 100], [300, 300]]]
# (what is sent, words the message must hold)
BAD = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (42, "JSON object"),
    ("x" * 1_000_001, "too large"),
    (drawing(LINE, width="400"), "width"),
    (drawing(LINE, width=400.5), "width"),
    (drawing(LINE, width=True), "width"),
    (drawing(LINE, height=0), "height"),
    (drawing(LINE, height=SIDE_RANGE[1] + 1), "height"),
    (drawing(LINE, width=None), "width"),
    (drawing(LINE, brush=0), "brush"),
    (drawing(LINE, brush=-3), "brush"),
    (drawing(LINE, brush=float("nan")), "brush"),
    (drawing(LINE, brush=float("inf")), "brush"),
    (drawing(LINE, brush="16"), "brush"),
    (drawing(LINE, brush=BRUSH_RANGE[1] + 1), "brush"),
    (drawing("a stroke"), "list of strokes"),
    (drawing({"0": LINE[0]}), "list of strokes"),
    (drawing([[1, 2]]), "[x, y]"),
    (drawing(["stroke"]), "list of [x, y]"),
    (drawing([[[1, 2, 3]]]), "[x, y]"),
    (drawing([[[1]]]), "[x, y]"),
    (drawing([[["1", "2"]]]), "[x, y]"),
    (drawing([[[None, 2]]]), "[x, y]"),
    (drawing([[[1, [2]]]]), "[x, y]"),
    (drawing([[[10**400, 2]]]), "[x, y]"),
    (drawing([[[float("nan"), 2]]]), "finite"),
    (drawing([[[100, 100], [float("inf"), 2]]]), "finite"),
    ('{"width": 400, "height": 400, "brush": 16, "strokes": [[[NaN, 1]]]}', "finite"),
    (drawing([[[100, 100], [1e9, 100]]]), "far outside"),
    (drawing([[[-401, 100]]]), "far outside"),
    (drawing([[[0, 0]]] * (MAX_STROKES + 1)), "Too many strokes"),
    (drawing([[[1, 1]] * (MAX_POINTS + 1)]), "Too many points"),
    (drawing([[[0, 0], [400, 400]] * 3000]), "Too much ink"),
]


@pytest.mark.parametrize("value, words", BAD, ids=[f"{i}-{w}" for i, (_, w) in enumerate(BAD)])
def test_bad_drawings_are_refused_with_a_message(value, words):
    with pytest.raises(UnusableImage, match=None) as refused:
        parse_drawing(value)
    assert words.lower() in str(refused.value).lower(), str(refused.value)
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize("value", [None, "", "  ", drawing([]), drawing([[], []]), json.dumps(drawing([[]]))])
def test_nothing_drawn_is_the_blank_message(value):
    with pytest.raises(UnusableImage, match="Nothing drawn yet"):
        parse_drawing(value)
    with pytest.raises(UnusableImage, match="^Write something$"):
        parse_drawing(value, blank="Write something")


def test_a_json_string_and_a_dict_give_the_same_drawing():
    value = drawing([[], [[10.5, 20], [30, 40.25]], [[200, 200]]], seq=7)  # empty strokes dropped, extra keys ignored
    for parsed in (parse_drawing(value), parse_drawing(json.dumps(value))):
        assert (parsed.width, parsed.height, parsed.brush) == (400, 400, 16.0)
        assert [s.tolist() for s in parsed.strokes] == [[[10.5, 20], [30, 40.25]], [[200, 200]]]
        assert all(s.dtype == np.float32 for s in parsed.strokes)


def test_points_a_little_outside_the_canvas_are_kept_and_clipped_by_the_drawing():
    parsed = parse_drawing(drawing([[[200, 200], [-50, 200]]], brush=10))
    image = render_drawing(parsed)
    assert image[200, 0] < 64 and image[200, 195] < 64  # inked to the edge it ran off
    assert image.shape == (400, 400)


def test_a_one_point_stroke_is_a_dot_of_the_brush():
    image = render_drawing(parse_drawing(drawing([[[200, 150]]], brush=12)))
    ink = image < 128
    ys, xs = np.nonzero(ink)
    assert abs(xs.mean() - 200) < 1 and abs(ys.mean() - 150) < 1
    assert abs(ink.sum() - math.pi * 12 ** 2) < 0.1 * math.pi * 12 ** 2


@pytest.mark.parametrize("brush", [4, 10, 24])
def test_a_line_is_as_wide_as_the_brush(brush):
    image = render_drawing(parse_drawing(drawing([[[50, 200], [350, 200]]], brush=brush)))
    column = image[:, 200] < 128
    assert abs(column.sum() - 2 * brush) <= 1.5
    assert image[200 - brush - 2, 200] == 255 and image[200, 200] == 0


def test_the_render_matches_round_capped_lines():
    """The same strokes as OpenCV's thick anti-aliased polylines (round caps and joins) draw them."""
    strokes = [[[80, 80], [300, 120], [200, 320]], [[100, 300], [120, 310]]]
    ours = render_drawing(parse_drawing(drawing(strokes, brush=14))) < 128
    theirs = np.full((400, 400), 255, np.uint8)
    for stroke in strokes:
        cv2.polylines(theirs, [np.array(stroke, np.int32)], False, 0, 28, cv2.LINE_AA)
    theirs = theirs < 128
    assert (ours ^ theirs).sum() < 0.05 * theirs.sum()


def test_a_wide_canvas_renders_at_its_size():
    image = render_drawing(parse_drawing(drawing([[[10, 10], [990, 290]]], width=1000, height=300, brush=10)))
    assert image.shape == (300, 1000) and image.dtype == np.uint8 and image.min() == 0 and image.max() == 255


coordinate = st.floats(-350, 750, allow_nan=False)
stroke = st.lists(st.tuples(coordinate, coordinate).map(list), min_size=0, max_size=30)


@settings(max_examples=60, deadline=None)
@given(strokes=st.lists(stroke, max_size=8), brush=st.floats(BRUSH_RANGE[0], BRUSH_RANGE[1]),
       width=st.integers(SIDE_RANGE[0], 600), height=st.integers(SIDE_RANGE[0], 600), as_text=st.booleans())
@example(strokes=[[[1.5, 1.5]]], brush=1.0, width=16, height=16, as_text=False)  # a dot on a pixel's centre
def test_any_drawing_parses_to_its_points_or_is_refused_with_a_message(strokes, brush, width, height, as_text):
    """Whatever the strokes, parse_drawing gives back exactly the non-empty strokes sent (or a message),
    and the render is a (height, width) black-on-white image with ink at every point inside the canvas."""
    value = drawing(strokes, width=width, height=height, brush=brush)
    try:
        parsed = parse_drawing(json.dumps(value) if as_text else value)
    except UnusableImage as refused:
        assert str(refused)
        kept = [s for s in strokes if s]
        far = any(not (-width <= x <= 2 * width and -height <= y <= 2 * height) for s in kept for x, y in s)
        assert not kept or far or "ink" in str(refused), str(refused)
        return
    assert isinstance(parsed, StrokeDrawing)
    assert [s.tolist() for s in parsed.strokes] == [np.float32(s).tolist() for s in strokes if s]
    image = render_drawing(parsed)
    assert image.shape == (height, width) and image.dtype == np.uint8
    for s in parsed.strokes:
        for x, y in s:
            if 0.5 <= x < width - 0.5 and 0.5 <= y < height - 0.5 and brush >= 1:
                assert image[int(y), int(x)] < 160, (x, y, brush)


def test_a_large_canvas_can_be_rendered_smaller_with_the_same_shape():
    value = drawing([[[100, 100], [900, 700]], [[500, 500]]], width=1000, height=800, brush=20)
    full, small = render_drawing(parse_drawing(value)), render_drawing(parse_drawing(value), max_side=250)
    assert small.shape == (200, 250)
    shrunk = cv2.resize(full, (250, 200), interpolation=cv2.INTER_AREA)
    assert np.abs(shrunk.astype(int) - small).mean() < 6
    assert render_drawing(parse_drawing(value), max_side=2000).shape == (800, 1000)  # never enlarged


# The JSON text goes to orjson (fast) only where that is safe; json decides everything else.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab[]{}"\\,: \u00e9\U0001f600')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=40)


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_the_fast_json_reader_gives_what_json_gives(value):
    text = json.dumps(value, ensure_ascii=False)
    assert strokes_module._loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['[NaN, Infinity, -Infinity]', "[1e999]", "[123456789012345678901234567890]", "[-9223372036854775809]",
                                  '["\\ud800"]', '{"a": 1, "a": 2}', '["[[[[[[[[[[[[[[[[[[[[[[["]', "[" * 17 + "]" * 17])
def test_what_orjson_reads_otherwise_or_refuses_is_read_by_json(text):
    assert repr(strokes_module._loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize("depth", [17, 1000, 499_000])
def test_deep_nesting_is_refused_without_a_crash(depth):
    """orjson overflows the stack on deep nesting (a segfault near 150,000 levels): such texts go to json,
    which refuses the deepest with RecursionError."""
    assert not strokes_module._shallow("[" * depth + "]" * depth)
    with pytest.raises(UnusableImage, match="not valid JSON|JSON object"):
        parse_drawing("[" * depth + "]" * depth)
    with pytest.raises(UnusableImage, match="not valid JSON|point must be"):
        parse_drawing('{"width": 400, "height": 400, "brush": 16, "strokes": ' + "[" * depth + "]" * depth + "}")


def test_the_fast_path_is_taken_for_a_drawing():
    text = json.dumps(drawing([[[1.5, 2], [3, 4.25]]]))
    assert strokes_module.orjson is not None and strokes_module._shallow(text)
    assert not strokes_module._shallow(text.replace('"brush"', '"br\\u0075sh"'))  # a backslash: json reads it
    assert parse_drawing(text.replace('"brush"', '"br\\u0075sh"')).brush == 16.0


# ---- the generated pen characters the browser tests draw (tests/helpers.PEN_GLYPHS) -------------------

def test_the_generated_pen_characters_read_as_drawn_with_every_brush(predictor):
    """What the browser tests draw reads right with the shipped model through the page's own path, so a
    browser test that fails is the page's fault, not its input's."""
    from emnist_core.labels import letter_matches
    from emnist_core.strokes import CHARACTER_BRUSHES, drawing_from_strokes
    from helpers import PEN_GLYPHS, pen_strokes

    for char in PEN_GLYPHS:
        for brush in CHARACTER_BRUSHES:
            read = predictor.predict(drawing_from_strokes(pen_strokes(char), brush=brush, char_size=0.55)).top5[0][0]
            # a ring is 0 or O (the stroke model reads the pen's path too) unless the writer says which
            assert letter_matches(char, read, tolerant=char == "o"), f"{char} with brush {brush} reads {read}"
    ring = drawing_from_strokes(pen_strokes("o"), char_size=0.55)
    assert predictor.predict(ring, "letters").top5[0][0] == "O"


@pytest.mark.parametrize("word, gap, writing", [("cat", 0.35, "letters"), ("house", 0.08, "word"), ("cat", 0.3, "word")])
def test_the_generated_words_read_on_the_line_canvas(predictor, word, gap, writing):
    import demo
    from helpers import word_strokes

    width, height = demo.LINE_CANVAS
    size = min(0.45 * height, 0.9 * width / (len(word) * (0.8 + gap)))  # as tests/test_browser.py writes them
    strokes = word_strokes(word, size, gap, 0.05 * width, 0.25 * height)
    reading = predictor.read_line_strokes(StrokeDrawing(width, height, demo.LINE_BRUSHES[1], tuple(strokes)),
                                          writing)
    assert reading.text.lower() == word, reading.text


def test_a_characters_own_strokes_are_the_runs_inside_its_box():
    from emnist_core.strokes import strokes_in_box
    across = np.array([[0, 5], [10, 5], [20, 5], [30, 5], [40, 5]], np.float32)
    back = np.array([[25, 0], [25, 9], [5, 9], [25, 9.5]], np.float32)
    runs = strokes_in_box([across, back], (8, 0, 26, 10))
    assert [r.tolist() for r in runs] == [[[10, 5], [20, 5]], [[25, 0], [25, 9]], [[25, 9.5]]]  # in the order written
    assert strokes_in_box([across], (100, 0, 200, 10)) == []
