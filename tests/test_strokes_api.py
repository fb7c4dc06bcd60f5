"""The page's stroke path end to end: demo's handlers on stroke JSON, and the /read_strokes and
/read_line_strokes endpoints through gradio_client beside the old /predict (a Sketchpad dict), which
keeps answering. Skips without a checkpoint, as test_demo does."""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import save_png

import demo
from emnist_core.wording import reading_bar
from emnist_core.strokes import fit_strokes

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")  # in gradio
SEVEN = [np.array([(0.22, 0.16), (0.78, 0.14), (0.62, 0.42), (0.48, 0.88)], np.float32)]  # one stroke


def seven_drawing(side: int = demo.CANVAS, brush: float = demo.BRUSH_RADIUS) -> dict:
    strokes = fit_strokes([s * side for s in SEVEN], side, char_size=0.6)
    return {"width": side, "height": side, "brush": brush, "strokes": [s.round(1).tolist() for s in strokes]}


def one_line(text_strokes: list[list[np.ndarray]]) -> dict:
    """Characters' strokes (each fitted to a 200-px box) set side by side on the line canvas."""
    width, height = demo.LINE_CANVAS
    strokes, x = [], 60
    for character in text_strokes:
        for stroke in fit_strokes([s * 200 for s in character], 200, char_size=0.9):
            strokes.append((stroke + (x, 50)).round(1).tolist())
        x += 230
    return {"width": width, "height": height, "brush": demo.LINE_BRUSH_RADIUS, "strokes": strokes}


ONE = [np.array([(0.5, 0.1), (0.5, 0.9)], np.float32)]


def test_a_drawn_seven_reads_7_from_a_dict_or_a_json_string(predictor):  # noqa: F811
    for value in (seven_drawing(), json.dumps(seven_drawing())):
        top5, verdict, seen = demo.read_drawn_character(predictor, value)
        assert next(iter(top5)) == "7" and "Reads as **7**" in verdict and seen.shape == (280, 280)


@pytest.mark.parametrize("value, words", [
    ("", demo.START_MESSAGE), ('{"width": 400, "height": 400, "brush": 16, "strokes": []}', demo.START_MESSAGE),
    ("{oops", "not valid JSON"), ({"width": 400, "height": 400, "brush": 16, "strokes": [[[1e12, 0]]]}, "far outside"),
    (None, demo.START_MESSAGE), ([1, 2], "JSON object")])
def test_bad_or_empty_strokes_give_a_message_not_an_error(predictor, value, words):  # noqa: F811
    top5, verdict, seen = demo.read_drawn_character(predictor, value)
    assert top5 is None and seen is None and words in verdict


def test_the_reading_bar_says_the_verdict_and_runners_up(predictor):  # noqa: F811
    top5, verdict, _ = demo.read_drawn_character(predictor, seven_drawing())
    bar = reading_bar(top5, verdict)
    assert bar.startswith("Reads as **7**") and "· then" in bar and "\n" not in bar
    assert reading_bar(None, demo.START_MESSAGE) == demo.START_MESSAGE


def test_a_drawn_line_reads_from_strokes(predictor):  # noqa: F811
    text, details, boxes, seen = demo.read_drawn_line(predictor, one_line([SEVEN, ONE, ONE, SEVEN]), "digits")
    assert text == "7117", details
    assert boxes.shape == (demo.LINE_CANVAS[1], demo.LINE_CANVAS[0], 3)
    text, details, boxes, _ = demo.read_drawn_line(predictor, "")
    assert text == "" and boxes is None and details == demo.LINE_START


def test_api_reads_strokes(client):  # noqa: F811
    label, verdict, seen = client.predict(seven_drawing(), "digits", api_name="/read_strokes")
    assert label["label"] == "7" and len(label["confidences"]) == 5 and Path(seen).is_file(), label
    label, verdict, seen = client.predict(json.dumps(seven_drawing()), api_name="/read_strokes")
    assert label["label"] == "7" and "Reads as" in verdict
    label, verdict, seen = client.predict({"width": 400, "height": 400, "brush": 16, "strokes": "no"},
                                          api_name="/read_strokes")
    assert not label.get("label") and "list of strokes" in verdict and seen is None


def test_api_reads_a_line_of_strokes(client):  # noqa: F811
    text, details, boxes, seen = client.predict(one_line([SEVEN, ONE, ONE, SEVEN]), "digits",
                                                api_name="/read_line_strokes")
    assert text == "7117" and Path(boxes).is_file() and Path(seen).is_file(), details
    text, details, boxes, _ = client.predict(one_line([SEVEN, ONE, ONE, SEVEN]), "word", api_name="/read_line_strokes")
    assert text and text.isalpha() and "word" in details and Path(boxes).is_file()  # letters, read as a word or not


def test_the_old_api_still_takes_a_sketchpad_value(client, tmp_path):  # noqa: F811
    """/predict with {"background", "layers", "composite"}, as gradio_client users sent it before."""
    from gradio_client import handle_file
    from emnist_core.strokes import parse_drawing, render_drawing
    image = render_drawing(parse_drawing(seven_drawing()))
    value = {"background": None, "layers": [], "composite": handle_file(save_png(image, tmp_path / "seven.png"))}
    label, verdict, seen = client.predict(value, api_name="/predict")
    assert label["label"] == "7" and Path(seen).is_file()
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/predict", "/read_line", "/read_strokes", "/read_line_strokes"} <= set(endpoints), sorted(endpoints)
