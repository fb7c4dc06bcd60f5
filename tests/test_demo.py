"""The demo's predict function on Sketchpad-shaped values, its flags, and /predict through gradio_client.

The checkpoint is $EMNIST_CHECKPOINT if set, else the shipped one; the tests skip, saying why, without it.
"""

import json
import math
import os
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import gradio as gr

import demo
from emnist_core.predict import Prediction, percent
from emnist_core.wording import describe, reading_bar
from helpers import SEVEN, draw, free_port, page_image, save_png, sketch_value

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")  # in gradio
# Blank sketchpad values, as API clients of /predict and /read_line send them.
BLANK_CANVAS = {"background": np.full((demo.CANVAS, demo.CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}
BLANK_LINE = {"background": np.full((demo.LINE_CANVAS[1], demo.LINE_CANVAS[0], 3), 255, np.uint8), "layers": [],
              "composite": None}


@pytest.fixture(scope="module")
def seven_value() -> dict:
    return sketch_value(page_image(SEVEN, brush=demo.BRUSH_RADIUS, canvas=demo.CANVAS))


def assert_reads(outputs, expected: str):
    label, verdict, seen = outputs
    assert max(label, key=label.get) == expected, (label, verdict)
    assert len(label) == 5 and expected in verdict
    assert seen.shape == (28 * demo.ZOOM, 28 * demo.ZOOM) and seen.dtype == np.uint8


class BrokenPredictor:
    def predict(self, value, *args, **kwargs):
        raise RuntimeError("boom")


def bug_message() -> str:
    """The catch-all message a bug gets: no friendly refusal may be (or contain) it."""
    return demo.read_character(BrokenPredictor(), None)[1]


def assert_friendly(outputs, phrase: str):
    """Empty outputs and a message holding `phrase`, words only that refusal uses (not "draw", which the
    catch-all for bugs says too), so a refusal that fell through to the catch-all fails."""
    label, verdict, seen = outputs
    assert label is None and seen is None
    assert verdict and "Traceback" not in verdict
    assert phrase.lower() not in bug_message().lower(), f"{phrase!r} does not tell this refusal from a bug"
    assert verdict != bug_message() and phrase.lower() in verdict.lower(), verdict


def test_composite_as_rgba(predictor, seven_value):
    assert_reads(demo.read_character(predictor, seven_value), "7")


def test_composite_none_uses_layers_over_background(predictor, seven_value):
    assert_reads(demo.read_character(predictor, {**seven_value, "composite": None}), "7")
    only_layer = {"background": None, "layers": seven_value["layers"], "composite": None}
    assert_reads(demo.read_character(predictor, only_layer), "7")


@pytest.mark.parametrize("value", [None, {"background": None, "layers": [], "composite": None},
                                   {"background": None, "layers": None, "composite": None}])
def test_nothing_drawn_is_a_friendly_message(predictor, value):
    assert_friendly(demo.read_character(predictor, value), "nothing drawn yet")


def test_blank_canvas_is_a_friendly_message(predictor):
    assert_friendly(demo.read_character(predictor, BLANK_CANVAS), "one flat colour")


FAINT_L = [[(0.35, 0.2), (0.35, 0.8), (0.65, 0.8)]]


@pytest.mark.parametrize("make, phrase", [
    (lambda: page_image(FAINT_L, brush=2, canvas=demo.CANVAS), None),  # a control: thin but dark strokes are read
    (lambda: np.where(page_image(FAINT_L, canvas=demo.CANVAS) < 128, 240, 255).astype(np.uint8), "ink is too faint"),
    (lambda: np.where(np.hypot(*np.mgrid[-200:200, -200:200]) < 12, 0, 255).astype(np.uint8), "just a dot"),
    (lambda: draw([[(0.05 + 0.1 * i, 0.02), (0.05 + 0.1 * i, 0.98)] for i in range(10)], width=25),
     "most of the image is ink"),  # stripes: 62% ink
    (lambda: np.zeros((5, 5), np.uint8), "too small"),
    (lambda: np.zeros((30, 30, 5), np.uint8), "got shape"),
])
def test_each_refusal_has_its_own_message(predictor, make, phrase):
    outputs = demo.read_character(predictor, make())
    if phrase is None:
        assert outputs[0] is not None, outputs[1]
    else:
        assert_friendly(outputs, phrase)


def test_garbage_upload_is_a_friendly_message(predictor, tmp_path):
    garbage = tmp_path / "photo.png"
    garbage.write_bytes(np.random.default_rng(0).bytes(3000))
    assert_friendly(demo.read_character(predictor, str(garbage)), "photo.png is not an image this tool can read")
    assert_friendly(demo.read_character(predictor, {"composite": 42}), "cannot read a int")
    assert_friendly(demo.read_character(predictor, str(tmp_path / "gone.png")), "no such image file: gone.png")


def test_an_upload_is_read_from_gradios_upload_folder_only(predictor, tmp_path):
    """The photo upload's event takes the file as Gradio hands it on: a file Gradio put in its upload folder
    is read (an undecodable one gets the message), a path anywhere else on the server is refused unread.
    (Gradio checks only files marked as its FileData; a plain {"path": ...} used to be opened.)"""
    blocks = demo.build_demo(predictor)
    read_upload = next(f.fn for f in blocks.fns.values() if f.name == "read_upload")
    folder = Path(next(b for b in blocks.blocks.values() if getattr(b, "elem_id", None) == "photo-upload").GRADIO_CACHE)
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.png"
    garbage.write_bytes(b"not a png")
    reading = json.loads(read_upload({"path": str(garbage)}, "any"))  # the page's reading (demo.page_reading)
    assert reading["top5"] is None and "not an image" in reading["verdict"] and reading["verdict"] == reading["bar"]
    seven = folder / "seven.png"
    seven.write_bytes(Path(demo.EXAMPLES[0]).read_bytes())
    assert json.loads(read_upload({"path": str(seven)}, "any"))["top5"]  # a control: an image there is read
    for elsewhere in (demo.EXAMPLES[0], "/etc/hostname", "../" * 20 + "etc/hostname", "x\0y"):
        with pytest.raises(gr.Error, match="not uploaded to this server"):
            read_upload({"path": elsewhere, "meta": {"_type": "gradio.FileData"}}, "any")
    with pytest.raises(gr.Error, match="Unknown choice"):
        read_upload({"path": str(garbage)}, "word")  # one character is no word


def test_a_bug_is_a_message_not_a_traceback(predictor, monkeypatch, seven_value):
    def broken(value):
        raise RuntimeError("boom")
    monkeypatch.setattr(predictor, "predict", broken)
    label, verdict, seen = demo.read_character(predictor, seven_value)
    assert label is None and seen is None and verdict == bug_message()
    assert "sorry" in verdict.lower() and "boom" not in verdict and "Traceback" not in verdict


@pytest.mark.parametrize("path, writing", demo.example_rows(demo.EXAMPLES), ids=lambda v: Path(v).name)
def test_examples_read_as_named(predictor, path, writing):
    """`7.png` reads 7 under any character (a `CHAR_letters.png` would be read under "letters only"), as the page
    shows it when the example is clicked."""
    label, verdict, _ = demo.read_character(predictor, path, writing)
    named = Path(path).stem.partition("_")[0]
    assert max(label, key=label.get) == named and f"Reads as **{named}**" in verdict, (path, label, verdict)


def test_every_example_is_its_own_drawing():
    """O_letters.png was 0.png byte for byte, so the page's letter O example read "0 — a digit"."""
    contents = [Path(path).read_bytes() for path in demo.EXAMPLES]
    assert len(set(contents)) == len(contents)
    assert any(Path(path).stem.partition("_")[0] == "O" for path in demo.EXAMPLES)


def test_examples_show_each_kind_and_a_lookalike_warning(predictor):
    readings = [predictor.predict(path, writing) for path, writing in demo.example_rows(demo.EXAMPLES)]
    assert {r.kind for r in readings} == {"digit", "letter"}
    warned = [r for (path, writing), r in zip(demo.example_rows(demo.EXAMPLES), readings)
              if writing == demo.ANY and r.lookalikes]
    assert warned, "no example shows the look-alike warning"
    assert all("⚠️" in describe(r) and "Digits only" in describe(r) for r in warned)


def test_example_rows_take_the_restriction_from_the_name():
    rows = demo.example_rows(["ex/7.png", "ex/O_letters.png", "ex/0_digits.png"])
    assert rows == [["ex/7.png", "any"], ["ex/O_letters.png", "letters"], ["ex/0_digits.png", "digits"]]
    assert {value for _, value in demo.WRITING_CHOICES} == {"any", "digits", "letters"}


def prediction(top5, p_digit) -> Prediction:
    return Prediction(top5=top5, p_digit=p_digit, image=np.zeros((28, 28), np.uint8))


def test_verdict_says_when_it_cannot_tell_lookalikes_apart():
    unsure = prediction([("0", 0.5), ("O", 0.4), ("Q", 0.05), ("D", 0.03), ("U", 0.01)], p_digit=0.55)
    text = describe(unsure)
    assert text.startswith("## Reads as **0** (50%) — a digit")
    assert "0 or o/O" in text and "(50% against 40%)" in text and "Digits only" in text  # the control settles it
    sure = prediction([("7", 0.995), ("1", 0.002), ("T", 0.001), ("2", 0.001), ("9", 0.001)], p_digit=0.999)
    text = describe(sure)
    assert text == "## Reads as **7** (over 99%) — a digit"
    low = prediction([("h", 0.3), ("n", 0.2), ("b", 0.1), ("k", 0.1), ("K", 0.1)], p_digit=0.1)
    assert "(30%) — a letter" in describe(low) and "Not sure: its best guess gets only 30%" in describe(low)
    just_under = prediction([("0", 0.85), ("O", 0.09), ("6", 0.01), ("U", 0.01), ("7", 0.01)], p_digit=0.87)
    assert "⚠️" not in describe(just_under)  # a runner-up under LOOKALIKE_MIN_PROB is no doubt
    same_kind = prediction([("g", 0.5), ("q", 0.4), ("9", 0.05), ("a", 0.03), ("y", 0.01)], p_digit=0.06)
    text = describe(same_kind)
    assert "g or q" in text and "Digits only" not in text  # both letters: the control cannot settle it


def test_verdict_speaks_of_one_probability_per_character():
    """Issue 26: the verdict, the warning and the top-5 showed three numbers for one reading (p of the
    kind, p overall, p within the kind). Now every number on show is one character's probability."""
    drawn_a = prediction([("9", 0.71), ("g", 0.16), ("4", 0.01), ("a", 0.01), ("3", 0.005)], p_digit=0.73)
    text = describe(drawn_a)
    numbers = re.findall(r"\d+%", text)
    assert text.startswith("## Reads as **9** (71%) — a digit") and "(71% against 16%)" in text, text
    assert set(numbers) == {"71%", "16%"}, text  # no 73% (P(digit)) anywhere
    bar = reading_bar(dict(drawn_a.top5), text)
    assert bar.startswith("Reads as **9** (71%)") and "g 16%" in bar


def test_a_reading_less_likely_than_another_class_says_why_in_words():
    """Under the "sum" rule a Z at 28% can be read beside a 2 at 42% (the letters together likelier):
    the reading stays first, and the verdict says why, with no second number for the Z."""
    z = prediction([("Z", 0.28), ("2", 0.42), ("S", 0.12), ("7", 0.02), ("L", 0.02)], p_digit=0.45)
    assert z.passed_over == ("2", 0.42) and z.lookalikes == ("Z", "2")
    text = describe(z)
    assert text.startswith("## Reads as **Z** (28%) — a letter"), text
    assert "although 2 alone is likelier" in text and "letters together are likelier" in text
    assert "(28% against 42%)" in text and "Digits only" in text
    assert prediction([("9", 0.71), ("g", 0.16), ("4", 0.01), ("a", 0.01), ("3", 0.005)], 0.73).passed_over is None


def test_the_top5_label_keeps_the_reading_first():
    """gr.Label sorts by probability; the page's top-5 shows the reading first, as the verdict does."""
    shown = demo.label_value({"Z": 0.28, "2": 0.42, "S": 0.12, "7": 0.02, "L": 0.02})
    assert shown["label"] == "Z" and [c["label"] for c in shown["confidences"]] == ["Z", "2", "S", "7", "L"]
    assert [c["confidence"] for c in shown["confidences"]][:2] == [0.28, 0.42]
    assert demo.label_value(None) == {}


def test_percent_rounds_as_the_top5_shows_it():
    """Gradio's Label shows Math.round(p * 100)%: the verdict's number for the reading is the same
    (between 1% and 99%; beyond, the verdict says "over 99%" / "under 1%", never a certainty)."""
    for p in [k / 1000 for k in range(5, 995)] + [0.125, 0.345, 0.985]:
        assert percent(p) == f"{math.floor(p * 100 + 0.5)}%", p
    assert percent(0.995) == "over 99%" and percent(0.004) == "under 1%" and percent(1.0) == "100%"


def test_verdict_of_a_toss_up_and_of_a_restricted_reading():
    from emnist_core.inference import JUST_UNDER_HALF
    for char, p_digit in (("0", 0.5), ("O", JUST_UNDER_HALF)):
        tie = prediction([(char, 0.4), ("0" if char == "O" else "O", 0.3), ("D", 0.1), ("C", 0.1), ("Q", 0.05)],
                         p_digit)
        text = describe(tie)
        assert text.startswith(f"## Reads as **{char}** (40%) — a toss-up between digit and letter"), text
        assert text.count("Digits only") == 1
    digits = prediction([("0", 0.9), ("6", 0.05), ("8", 0.02), ("9", 0.02), ("3", 0.01)], p_digit=1.0)
    text = describe(digits, "digits")
    assert text.startswith("## Reads as **0** (90%) — a digit") and "digits only" in text and "Digits only" not in text


def test_restricted_reading_on_the_page(predictor):
    ring = str(Path(demo.__file__).parent / "examples" / "0.png")
    for only, expected in (("digits", "0"), ("letters", "O")):
        label, verdict, _ = demo.read_character(predictor, ring, only)
        assert max(label, key=label.get) == expected and f"{only} only" in verdict, (only, label, verdict)
        assert all(c.isdigit() == (only == "digits") for c in label)


def test_model_card_comes_from_the_checkpoint(predictor):
    card = demo.model_card(predictor.checkpoint)
    record = predictor.checkpoint.training
    val = (record.get("metrics") or {}).get("val") or record.get("val")
    assert f"{100 * val['accuracy']:.2f}%" in card
    assert "python -m train --data-dir DIR" in card and record["machine"] in card


def test_model_card_of_a_finished_run_and_of_no_record(predictor, monkeypatch):
    scores = {"n": 1000, "accuracy": 0.9123, "digit_letter_accuracy": 0.95, "top5_accuracy": 0.99}
    metrics = {"best_epoch": 7, "train_minutes": 12.4, "val": scores, "test": {**scores, "accuracy": 0.9}}
    finished = {"machine": "NVIDIA H100", "command": "python -m train --data-dir d", "metrics": metrics}
    monkeypatch.setattr(predictor.checkpoint, "training", finished)
    card = demo.model_card(predictor.checkpoint)
    assert "| official test | 1,000 | 90.00%" in card and "91.23%" in card
    assert "12.4 minutes" in card and "NVIDIA H100" in card
    monkeypatch.setattr(predictor.checkpoint, "training", {})
    assert "not recorded" in demo.model_card(predictor.checkpoint)


def test_flags_override_environment(predictor, monkeypatch, tmp_path):
    launched = []
    monkeypatch.setattr(demo, "serve", lambda blocks, **options: launched.append(options))
    monkeypatch.setenv("EMNIST_CHECKPOINT", str(predictor.checkpoint_path))
    assert demo.main([]) == 0  # host and port left to Gradio, which reads GRADIO_SERVER_NAME/PORT
    assert launched[-1] == {"server_name": None, "server_port": None, "share": None, "quiet": True,
                            "prevent_thread_lock": True}
    monkeypatch.setenv("EMNIST_CHECKPOINT", str(tmp_path / "missing.pt"))
    assert demo.main([]) == 2  # the environment's checkpoint is the one used...
    assert demo.main(["--checkpoint", str(predictor.checkpoint_path), "--host", "0.0.0.0", "--port", "8123",
                      "--share"]) == 0  # ...unless a flag names another
    assert launched[-1] == {"server_name": "0.0.0.0", "server_port": 8123, "share": True, "quiet": True,
                            "prevent_thread_lock": True}


@pytest.mark.parametrize("port", ["80000", "0", "http"])
def test_a_bad_port_is_one_line_and_exit_2(port, monkeypatch, capsys):
    """`python demo.py --port 80000` ended in an OverflowError traceback, exit 1."""
    with pytest.raises(SystemExit) as stopped:
        demo.main(["--port", port])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "argument --port" in err and "Traceback" not in err, err
    monkeypatch.setenv("GRADIO_SERVER_PORT", port)
    with pytest.raises(SystemExit) as stopped:
        demo.main([])
    assert stopped.value.code == 2 and "GRADIO_SERVER_PORT" in capsys.readouterr().err


def test_a_port_in_use_is_one_line_and_exit_2(predictor, monkeypatch, capsys):
    """A port another program holds ended in an OSError traceback naming launch()'s parameters, exit 1."""
    monkeypatch.setenv("EMNIST_CHECKPOINT", str(predictor.checkpoint_path))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert demo.main(["--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: cannot serve the page on 127.0.0.1:{port}") and "--port" in err
    assert "launch()" not in err and "Traceback" not in err


def test_missing_checkpoint_says_how_to_get_one(tmp_path, capsys):
    """The error names the missing file and both ways out: train one (the command), or pass another."""
    missing = tmp_path / "none.pt"
    assert demo.main(["--checkpoint", str(missing)]) == 2
    out, err = capsys.readouterr()
    first, how = err.strip().splitlines()
    assert first == f"error: {missing}: no such checkpoint file"
    assert "`python -m train --data-dir DIR --save-to checkpoints/emnist_bymerge.pt`" in how
    assert "--checkpoint PATH" in how and "Traceback" not in err and out == ""


# ---- the API, through gradio_client, against a launched server (conftest's server_url, client) ------

def test_api_reads_an_image_file(client, seven_value, tmp_path):
    from gradio_client import handle_file
    drawing = save_png(seven_value["composite"], tmp_path / "seven.png")
    label, verdict, seen = client.predict({"background": None, "layers": [], "composite": handle_file(drawing)},
                                          api_name="/predict")
    assert label["label"] == "7" and len(label["confidences"]) == 5, label
    assert "7" in verdict and Path(seen).is_file()


def test_api_composes_layers_when_composite_is_none(client, seven_value, tmp_path):
    from gradio_client import handle_file
    value = {"background": handle_file(save_png(seven_value["background"], tmp_path / "bg.png")),
             "layers": [handle_file(save_png(seven_value["layers"][0], tmp_path / "layer.png"))],
             "composite": None}
    assert client.predict(value, api_name="/predict")[0]["label"] == "7"


def test_api_blank_and_garbage_give_friendly_results(client, tmp_path):
    from gradio_client import handle_file
    blank = save_png(BLANK_CANVAS["background"], tmp_path / "blank.png")
    label, verdict, seen = client.predict({"background": None, "layers": [], "composite": handle_file(blank)},
                                          api_name="/predict")
    assert not label.get("label") and "one flat colour" in verdict.lower() and seen is None
    assert verdict != bug_message()
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG but not really")
    value = {"background": None, "layers": [], "composite": handle_file(str(garbage))}
    label, verdict, _ = client.predict(value, api_name="/predict")
    assert not label.get("label") and "not an image" in verdict and verdict != bug_message()


# ---- the 'Write a line' tab ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def line_value() -> dict:
    from helpers import write_line
    ink = np.full((demo.LINE_CANVAS[1], demo.LINE_CANVAS[0]), 255, np.uint8)
    written = write_line("7117", height=150)[0]
    ink[:written.shape[0], :written.shape[1]] = written
    return sketch_value(ink)


def test_read_line_gives_text_top3_boxes_and_what_the_model_saw(predictor, line_value):
    text, details, boxes, seen = demo.read_line(predictor, line_value, "digits")
    assert text == "7117", details
    assert len(details.splitlines()) == 2 + 4 and "| 1 | **7** | 7 " in details  # a header, then one row each
    assert boxes.shape == (demo.LINE_CANVAS[1], demo.LINE_CANVAS[0], 3)
    assert seen.shape == (28 * demo.LINE_ZOOM, (4 * 28 + 3 * 2) * demo.LINE_ZOOM)


@pytest.mark.parametrize("value", [None, BLANK_LINE, {"composite": 42}])
def test_read_line_problems_are_messages(predictor, value):
    text, details, boxes, seen = demo.read_line(predictor, value)
    assert text == "" and boxes is None and seen is None and details and "Traceback" not in details


def test_api_reads_a_line(client, line_value, tmp_path):
    from gradio_client import handle_file
    drawing = save_png(line_value["composite"], tmp_path / "line.png")
    text, details, boxes, seen = client.predict({"background": None, "layers": [], "composite": handle_file(drawing)},
                                                "digits", api_name="/read_line")
    assert text == "7117" and Path(boxes).is_file() and Path(seen).is_file(), details


def test_api_takes_what_is_written(client):
    from gradio_client import handle_file
    ring = handle_file(str(Path(demo.__file__).parent / "examples" / "0.png"))
    for writing, expected in (("digits", "0"), ("letters", "O"), ("any", "0")):
        label, verdict, _ = client.predict({"background": None, "layers": [], "composite": ring}, writing,
                                           api_name="/predict")
        assert label["label"] == expected, (writing, label)
    label, verdict, _ = client.predict({"background": None, "layers": [], "composite": ring}, api_name="/predict")
    assert label["label"] == "0" and "as you chose" not in verdict  # the drawing alone: any character
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/predict"]
    writing = api["parameters"][1]
    assert writing["parameter_has_default"] and writing["parameter_default"] == "any", writing


def test_every_api_endpoint_says_what_it_takes_and_gives(predictor, tmp_path):
    """gradio_client's view_api named the line details `value_33` and the correction message `value_25`
    (and inputs `parameter_46`): endpoint and argument names are as before, each endpoint's description
    says what it takes and gives (gr.api numbers its values: 1st, 2nd...), and every value has a type."""
    from gradio_client import Client
    from emnist_core.corrections import CorrectionStore
    blocks = demo.build_demo(predictor, CorrectionStore(tmp_path / "c.db"))
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        api = Client(blocks.local_url, verbose=False).view_api(print_info=False, return_format="dict")
    finally:
        blocks.close()
    endpoints = api["named_endpoints"]
    assert {name: [p["parameter_name"] for p in e["parameters"]] for name, e in endpoints.items()} == {
        "/read_strokes": ["strokes", "writing"], "/predict": ["sketch", "writing"],
        "/read_line_strokes": ["strokes", "only"], "/read_line": ["sketch", "only"],
        "/correct_strokes": ["value", "meant"], "/correct": ["value", "meant"]}
    names = [v["label"] for e in endpoints.values() for v in (*e["parameters"], *e["returns"])]
    assert not [n for n in names if not n or re.fullmatch(r"(value|parameter)_\d+", n)], names
    assert all(v["type"] for e in endpoints.values() for v in (*e["parameters"], *e["returns"])), endpoints
    assert "top 3" in endpoints["/read_line_strokes"]["description"] and "top 5" in endpoints["/read_strokes"]["description"]
    assert all(e["description"] for e in endpoints.values()), endpoints
    writing = endpoints["/read_line"]["parameters"][1]
    assert writing["type"]["enum"] == ["any", "digits", "letters", "word"] and writing["parameter_default"] == "any"


# ---- a stopped server leaves nothing behind (issue 21) ------------------------------------------

@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_stopped_server_removes_its_uploads_and_cached_outputs(predictor, tmp_path, stop):
    """demo.py in a subprocess: an upload and a reading's cached 28x28 view land in its own folder inside
    GRADIO_TEMP_DIR, and Ctrl-C (SIGINT) or SIGTERM removes that folder with them."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    import httpx
    from gradio_client import Client

    named = tmp_path / "gradio-temp"
    port = free_port()
    env = dict(os.environ, GRADIO_TEMP_DIR=str(named), EMNIST_CHECKPOINT=str(predictor.checkpoint_path),
               GRADIO_ANALYTICS_ENABLED="False")
    root = Path(demo.__file__).resolve().parent
    # Ctrl-C as a terminal delivers it: a test run started in the background (`pytest &` in a script) ignores SIGINT,
    # and a child inherits that, so Python would never raise KeyboardInterrupt in the server (it waited 60 s).
    server = subprocess.Popen([sys.executable, str(root / "demo.py"), "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.communicate()[0][-2000:]
                time.sleep(0.5)
        [own] = list(named.glob("emnist-sketchpad-*"))  # the process's own folder, made at start
        with open(demo.EXAMPLES[0], "rb") as image:
            uploaded = httpx.post(f"{url}gradio_api/upload", files={"files": ("seven.png", image, "image/png")},
                                  timeout=30).json()
        uploaded = Path(uploaded[0])
        assert uploaded.is_file() and own in uploaded.parents
        drawn = {"width": 400, "height": 400, "brush": 16, "strokes": [[[90, 80], [310, 70], [250, 190], [190, 330]]]}
        top5, _, seen = Client(url, verbose=False, download_files=False).predict(drawn, api_name="/read_strokes")
        assert top5["label"] == "7"
        cached = Path(seen["path"])
        assert cached.is_file() and own in cached.parents
        server.send_signal(getattr(signal, stop))
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert not own.exists() and not uploaded.exists() and not cached.exists(), output[-2000:]
    # The folder named there stays, without a file (Gradio itself adds an empty vibe_edit_history folder).
    assert named.is_dir() and not [p for p in named.rglob("*") if not p.is_dir()]
    assert "Traceback" not in output, output[-2000:]
    assert "run with --share" in output and "share=True" not in output, output[-2000:]  # our flag, not launch()'s


def test_the_page_reads_in_the_browser_only_with_the_checkpoints_own_export(tmp_path):
    """The character canvas is given the reader's files only when the checkpoint's browser export is there and
    was made from that very checkpoint (issue 29); otherwise the page reads on the server, as before."""
    import json
    import shutil

    from emnist_core.checkpoint import DEFAULT_CHECKPOINT
    from emnist_core.export import web_paths
    copy = tmp_path / "model.pt"
    shutil.copy(DEFAULT_CHECKPOINT, copy)
    assert demo.browser_reader(copy, "writing") is None  # never exported
    manifest, weights = web_paths(copy)
    for source, target in zip(web_paths(DEFAULT_CHECKPOINT), (manifest, weights)):
        shutil.copy(source, target)
    current = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**current, "weights": weights.name}))
    props = demo.browser_reader(copy, "writing")
    assert props["manifest"].endswith(f"file={manifest.resolve().as_posix()}")
    assert props["reader"].endswith("web/reader/worker.js") and props["blank"] == demo.START_MESSAGE
    with open(copy, "ab") as f:  # the checkpoint changed since: its export is stale
        f.write(b"\0")
    assert demo.browser_reader(copy, "writing") is None
    manifest.write_text("{not json")
    assert demo.browser_reader(copy, "writing") is None


def test_the_servers_page_reading_is_784_values_not_an_image(predictor):
    """Issue 29, item 6: the reading the page gets from the server carries the 28x28 as its 784 values (the
    page draws them), with the verdict, the top-5, the phone's bar and where it was read."""
    import base64
    import json
    drawing = {"width": 400, "height": 400, "brush": 16, "strokes": [[[200, 60], [200, 340]]]}
    top5, verdict, image = demo.read_drawn_character(predictor, drawing, zoom=1)
    reading = json.loads(demo.page_reading(top5, verdict, image, "drawing"))
    pixels = np.frombuffer(base64.b64decode(reading["pixels"]), np.uint8).reshape(28, 28)
    assert (pixels == predictor.predict(drawing_of(drawing)).image).all()
    assert reading["top5"] == [[c, p, percent(p)] for c, p in top5.items()] and reading["verdict"] == verdict
    assert reading["bar"] == demo.reading_bar(top5, verdict) and reading["where"] == "server"
    empty = json.loads(demo.page_reading(*demo.read_drawn_character(predictor, {**drawing, "strokes": []}, zoom=1),
                                         "drawing"))
    assert empty["top5"] is None and empty["pixels"] is None and empty["verdict"] == demo.START_MESSAGE


def drawing_of(value: dict):
    from emnist_core.strokes import parse_drawing
    return parse_drawing(value)
