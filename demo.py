"""Draw one character (or upload a photo of one) and see how the EMNIST ByMerge model reads it.

    python demo.py                                   # http://127.0.0.1:7860, the shipped checkpoint
    python demo.py --host 0.0.0.0 --port 8080 --checkpoint path/to/model.pt --share
    python demo.py --collect corrections.db          # also asks "Not what you wrote?" and keeps the answers

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT work as for any Gradio app, EMNIST_CHECKPOINT names the
checkpoint and EMNIST_COLLECT the store; flags win over them. This file is the page; server.py starts,
bounds and stops it, and emnist_core/wording.py says in words what a reading is.

The page's two canvases are gr.HTML (web/canvas.html, web/canvas.js, web/canvas.css): the browser draws,
and only the stroke points travel, read while drawing and right after each stroke. The API (gr.api):
/read_strokes takes stroke JSON {"width", "height", "brush", "strokes": [[[x, y], ...], ...]} (canvas
pixels, brush radius) and, optionally, what is written ("any", "digits" or "letters"; default "any");
/predict takes a sketchpad value {"background", "layers", "composite"} of image files (gradio_client's
handle_file) and the same option; both return the top-5 label first. /read_line_strokes and /read_line
take a whole line the same two ways (or "word") and return the text read first.

With --collect STORE the page offers to correct a misreading and keeps the drawing with the character
meant in STORE (emnist_core/corrections.py); /correct takes the drawing as /predict does, and
/correct_strokes as /read_strokes does, plus that character, and return a short message. Without it
nothing is shown and nothing is stored.
"""

import argparse
import base64
import json
import logging
import time
import os
import sys
import traceback
from pathlib import Path
from typing import Literal

import cv2
import gradio as gr
import numpy as np
import torch

import guards
import server
from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError
from emnist_core.export import current_export
from emnist_core.corrections import CorrectionStore, StoreError, correction_choices, keep_correction
from emnist_core.inference import ANY, DIGITS, LETTERS, WORD
from emnist_core.predict import Predictor, percent
from emnist_core.preprocess import UnusableImage, quoted, to_rgba
from emnist_core.segment import LINE_MAX_SIDE
from emnist_core.shipped import shipped_file
from emnist_core.strokes import (CHARACTER_BRUSHES, CHARACTER_CANVAS, MAX_LENGTH_SIDES, MAX_POINTS, MAX_STROKES,
                                 parse_drawing, render_drawing)
from emnist_core.wording import LINE_START, LINE_UPLOAD, START_MESSAGE, UPLOAD_MESSAGE, describe, line_details, reading_bar
from emnist_core.words import WordListUnavailable

TITLE = "EMNIST Sketchpad"  # the page, the README and the Space go by this one name
CANVAS = CHARACTER_CANVAS  # canvas pixels; the preprocessing reduces any drawing to 28x28 anyway
BRUSHES = CHARACTER_BRUSHES  # the three brush sizes the canvas offers (radii, canvas pixels)
BRUSH_RADIUS = BRUSHES[1]  # CANVAS / 25: a mouse or finger stroke as thick, relatively, as EMNIST's pens
ZOOM = 10  # the 28x28 the model saw, shown 280x280 with square pixels
EXAMPLES = sorted(str(p) for p in shipped_file("examples").glob("*.png"))
# "What are you writing?": (shown, value); the values are what API clients send too (inference.WRITINGS).
WRITING_CHOICES = [("Any character", ANY), ("Digits only", DIGITS), ("Letters only", LETTERS)]
LINE_WRITING_CHOICES = [*WRITING_CHOICES, ("An English word", WORD)]  # a word: letters, the word list decides
Writing = Literal["any", "digits", "letters"]  # the same values, as the API documents them
LineWriting = Literal["any", "digits", "letters", "word"]
MEANT_LABEL = "The character meant"
CACHE_LIFETIME = (600, 3600)  # delete_cache: every 10 minutes, uploads and outputs older than an hour
QUEUE_MAX = 64  # queued events (API calls, buttons); over it Gradio answers "Queue is full" (HTTP 503)
log = logging.getLogger("demo")


def web_asset(name: str) -> Path:
    """A file of the page's own (web/NAME): the clone's web/ beside this file, else an installed copy's
    (emnist_core/shipped.py, the one lookup the checkpoint uses too)."""
    return shipped_file(f"web/{name}")


def web_text(name: str) -> str:
    """A page file (JavaScript, CSS, HTML template) from web/, read at start."""
    return web_asset(name).read_text(encoding="utf-8")


# Every event takes its values as sent and sends its outputs as made here (no Gradio pre- or
# postprocessing): stroke JSON as the canvas sends it, an upload as the file Gradio checked (guards.uploaded),
# what is written checked against the page's own choices (chosen), the top-5 in the reading's order.
AS_SENT = {"preprocess": False, "postprocess": False}
# How the canvases' readings run. always_last: one reading of a canvas in flight, only the latest drawing
# waiting, so answers come back in order. queue=False: one plain POST that answers with the reading, not
# Gradio's queue (join, then the answer over the event stream): as fast when idle, and half the time on a
# loaded 2-core machine (median 104-124 ms against 190-295 ms with two CPU burners; docs/RESULTS.md).
AS_YOU_DRAW = {**AS_SENT, "api_visibility": "private", "trigger_mode": "always_last", "show_progress": "hidden",
               "queue": False}
IN_QUEUE = {**AS_SENT, "api_visibility": "private", "concurrency_id": "model"}


def stroke_canvas(elem_id: str, label: str, size: tuple[int, int], brushes: tuple[float, float, float],
                  kind: str, announce: str = "", reader: dict | None = None) -> gr.HTML:
    """A drawing canvas of `size` (width, height) pixels whose value is the stroke JSON; it fires
    `input` while drawing (at most every 150 ms) and right after each stroke, undo or clear. It stops at
    the server's limits (strokes.MAX_STROKES, MAX_POINTS, MAX_LENGTH_SIDES) and says so; `announce`: the elem_id whose text
    (the reading) a screen reader is told once it settles. With `reader` (browser_reader) it reads in the
    browser instead, once the model has loaded there, and fires nothing while drawing."""
    return gr.HTML(value="", html_template=web_text("canvas.html"), js_on_load=web_text("canvas.js"),
                   apply_default_css=False, elem_id=elem_id, label=label, kind=kind, width=size[0], height=size[1],
                   brushes=list(brushes), brush=brushes[1], max_strokes=MAX_STROKES, max_points=MAX_POINTS,
                   max_length_sides=MAX_LENGTH_SIDES, announce=announce, **(reader or {}))


# ---- reading in the browser (issue 29) ----------------------------------------------------------
# The files the page's worker fetches are served as they are from the clone (web/reader/ and the
# checkpoint's export); every app in this process serves the union (set_static_paths is process-wide).
READER_FOLDER = web_asset("reader")
_served: set[str] = set()


def browser_reader(checkpoint_path: str | Path, writing: str) -> dict | None:
    """The character canvas's props for reading in the browser (the worker's and the manifest's URLs, the
    empty canvas's message, the elem_id of "What are you writing?"), or None where this checkpoint has no
    current browser export (python -m emnist_core.export): then the server reads, as before."""
    manifest = current_export(checkpoint_path)
    if manifest is None or not (READER_FOLDER / "worker.js").is_file():
        log.info("the page reads on the server: %s has no current browser export", checkpoint_path)
        return None
    weights = json.loads(manifest.read_text())["weights"]
    _served.update(str(p.resolve()) for p in (READER_FOLDER, manifest, manifest.parent / weights))
    gr.set_static_paths(sorted(_served))
    url = lambda path: f"gradio_api/file={path.resolve().as_posix()}"  # noqa: E731 (relative: works under a prefix)
    return {"reader": url(READER_FOLDER / "worker.js"), "manifest": url(manifest), "blank": START_MESSAGE,
            "writing": writing}


def reading_panel() -> gr.HTML:
    """The reading (#verdict, where it was read, #top5, #model-view), drawn by web/reading.js from a page
    reading (page_reading here, or wording.js pageReading in the browser); it also fills #reading-bar."""
    return gr.HTML(value="", html_template=web_text("reading.html"), js_on_load=web_text("reading.js"),
                   apply_default_css=False, elem_id="reading", label="Reading", start=START_MESSAGE)


def page_reading(top5: dict | None, verdict: str, image: np.ndarray | None, source: str) -> str:
    """read_character's outputs as the page's reading (web/reading.js draws it; wording.js pageReading is the
    browser's): the 28x28 as its 784 values, not an image file; `source` "drawing" or "photo". Each reading
    is stamped, so the same reading twice is drawn twice (a browser reading may be on show in between)."""
    return json.dumps({"top5": [[c, p, percent(p)] for c, p in top5.items()] if top5 else None, "verdict": verdict,
                       "bar": reading_bar(top5, verdict), "where": "server", "source": source, "at": time.time_ns(),
                       "pixels": None if image is None else base64.b64encode(image.tobytes()).decode()})


# "What are you writing?" changed while the drawing on show is read in the browser (web/canvas.js reads it
# again there): the server is told so ("browser" for the tab) and does nothing.
READ_WHERE = """(strokes, photo, writing, tab) => [strokes, photo, writing,
  tab === 'draw' && document.querySelector('#sketchpad .stroke-pad')?.dataset.reader === 'browser' ? 'browser' : tab]"""


# ---- values as a request sends them, and outputs as the page sends them ----------------------------

def chosen(value, choices: list[tuple[str, str]]) -> str:
    """What is written, as a request sent it: one of `choices`' values (None: any character), or a short
    message, never the whole value again (a 10 MB value was once 10 MB of log per request)."""
    values = [v for _, v in choices]
    if value is None:
        return ANY
    if isinstance(value, str) and value in values:
        return value
    raise gr.Error(f"Unknown choice {quoted(value)}: choose one of {values}.", print_exception=False)


def sketch_files(sketch, folder: str) -> dict | None:
    """A sketchpad value from an API client, {"background", "layers", "composite"} of files, -> the same of
    paths, as emnist_core reads it; each file one Gradio has in `folder` (guards.uploaded)."""
    if sketch is None:
        return None
    layers = (sketch.get("layers") or []) if isinstance(sketch, dict) else None
    if not isinstance(layers, list):
        raise gr.Error(guards.refused_file(sketch), print_exception=False)
    file = lambda part: guards.uploaded(part, folder, gr.Error)  # noqa: E731
    return {"background": file(sketch.get("background")), "layers": [file(layer) for layer in layers],
            "composite": file(sketch.get("composite"))}


def label_value(top5: dict | None) -> dict:
    """A top-5 {character: probability} as gr.Label's value, in the order given: the reading first, as the
    verdict. (gr.Label's own postprocessing sorts by probability, and under the checkpoint's reading rule
    the reading can be less likely than a class of the other kind: Prediction.passed_over.)"""
    if not top5:
        return {}
    return {"label": next(iter(top5)), "confidences": [{"label": c, "confidence": p} for c, p in top5.items()]}


def image_file(view: gr.Image, image: np.ndarray | None) -> dict | None:
    """An image as the Image component `view` sends it: a file in Gradio's cache, for the page and the API."""
    return None if image is None else view.postprocess(image).model_dump()


# ---- reading one character ----------------------------------------------------------------------

def read_character(predictor: Predictor, value, writing: str = ANY, zoom: int = ZOOM
                   ) -> tuple[dict | None, str, np.ndarray | None]:
    """Any drawing, upload or API value -> (top-5 {char: probability}, verdict, what the model saw, each pixel
    `zoom` x `zoom`); `writing`: what the writer said they wrote ("any", "digits" or "letters").

    Never raises: an unusable image (or a bug) gives empty outputs and a message for people."""
    try:
        prediction = predictor.predict(value, writing)
    except UnusableImage as problem:
        return None, str(problem), None
    except Exception as error:
        log_failure("could not read an input", error)
        return None, "Sorry, that image could not be read. Try drawing the character again.", None
    seen = np.kron(prediction.image, np.ones((zoom, zoom), np.uint8)) if zoom > 1 else prediction.image
    return dict(prediction.top5), describe(prediction, writing), seen


def log_failure(what: str, error: Exception) -> None:
    """A bug's traceback in the log, its message cut short (it may repeat what a visitor sent)."""
    frames = "".join(traceback.format_tb(error.__traceback__, limit=-20))
    log.error("%s: %s: %s\n%s", what, type(error).__name__, quoted(str(error), 500), frames)


def read_drawn_character(predictor: Predictor, value, writing: str = ANY, zoom: int = ZOOM):
    """Stroke JSON from the page or an API client -> read_character's outputs; an empty canvas gives
    the opening message, bad JSON a message for people."""
    try:
        drawing = parse_drawing(value, blank=START_MESSAGE)
    except UnusableImage as problem:
        return None, str(problem), None
    except Exception as error:
        log_failure("could not read a drawing", error)
        return None, "Sorry, that drawing could not be read. Try drawing the character again.", None
    return read_character(predictor, drawing, writing, zoom)


def example_rows(paths: list[str]) -> list[list[str]]:
    """[file, what is written] per example: a `CHAR_letters.png` would be shown under "letters only"
    (examples/make_examples.py names them), `7.png` under any character."""
    rows = []
    for path in paths:
        _, _, writing = Path(path).stem.partition("_")
        rows.append([path, writing or ANY])
    return rows


# ---- reading a line -----------------------------------------------------------------------------

LINE_CANVAS = (1000, 300)  # wide enough for a word, a number or a postcode in characters 150-250 px tall
LINE_BRUSH_RADIUS = 10  # thinner than one character's: line characters are drawn smaller
LINE_BRUSHES = (6, LINE_BRUSH_RADIUS, 15)
LINE_ZOOM = 3  # the 28x28 images the model saw, side by side, each shown 84x84
BOX_COLOUR = (220, 40, 40)


# Line readings at once (guards.Slots): one per core, a few more waiting briefly, the rest told to try
# again. The line canvas reads outside Gradio's queue (as the character canvas does, for speed), so
# without this a flood of lines ran all at once: 40 took 4.75 GB and another visitor waited 31 s.
LINE_READINGS = guards.Slots(running=2, waiting=8, wait_s=10.0,
                             busy="Many lines are being read just now: press **Read the line** in a moment.")


def read_line(predictor: Predictor, value, writing: str = ANY) -> tuple[str, str, np.ndarray | None, np.ndarray | None]:
    """A photographed line (or a sketch value) -> (text, each character's top-3 in words, the drawing with
    the characters' boxes, the 28x28 images the model saw in a row). Never raises: problems become messages."""
    try:
        reading, rgba = LINE_READINGS.run(lambda: (
            predictor.read_line(value, writing),
            to_rgba(value, decode_side=LINE_MAX_SIDE)))  # read once more, as segment did, to draw on
        drawing = ((rgba[:, :, :3] * rgba[:, :, 3:] + 1 - rgba[:, :, 3:]) * 255).astype(np.uint8)  # on white
    except (UnusableImage, WordListUnavailable, guards.Busy) as problem:
        return "", str(problem), None, None
    except Exception as error:
        log_failure("could not read a line", error)
        return "", "Sorry, that line could not be read. Try writing it again.", None, None
    return line_outputs(reading, drawing)


def read_drawn_line(predictor: Predictor, value, writing: str = ANY):
    """Stroke JSON of a line from the page or an API client -> read_line's outputs."""
    try:
        drawing = parse_drawing(value, blank=LINE_START)
        image, reading = LINE_READINGS.run(read_drawn, predictor, drawing, writing)
    except (UnusableImage, WordListUnavailable, guards.Busy) as problem:
        return "", str(problem), None, None
    except Exception as error:
        log_failure("could not read a drawn line", error)
        return "", "Sorry, that line could not be read. Try writing it again.", None, None
    return line_outputs(reading, cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))


def read_drawn(predictor: Predictor, drawing, writing: str):
    """(the rendered drawing, its LineReading): the work LINE_READINGS bounds."""
    image = render_drawing(drawing)
    return image, predictor.read_line_strokes(drawing, writing, rendered=image)


def line_outputs(reading, drawing: np.ndarray) -> tuple[str, str, np.ndarray, np.ndarray]:
    """A LineReading and the RGB drawing it came from -> the line tab's four outputs."""
    for box, prediction in reading.characters:
        cv2.rectangle(drawing, box[:2], (box[2] - 1, box[3] - 1), BOX_COLOUR, max(1, drawing.shape[0] // 150))
        cv2.putText(drawing, prediction.top5[0][0], (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.5, drawing.shape[0] / 500), BOX_COLOUR, max(1, drawing.shape[0] // 200))
    gap = np.full((28, 2), 96, np.uint8)  # grey between characters
    seen = np.hstack([part for _, p in reading.characters for part in (p.image, gap)][:-1])
    return reading.text, line_details(reading), drawing, np.kron(seen, np.ones((LINE_ZOOM, LINE_ZOOM), np.uint8))


# A photo read on the line tab clears the drawing (web/canvas.js, "pad-clear"): what is on show is what was read.
CLEAR_LINE_PAD = """(photo) => { if (photo) document.querySelector('#line-sketchpad canvas')
  ?.dispatchEvent(new Event('pad-clear', {bubbles: true})); }"""


def drawn_nothing(value) -> bool:
    """Stroke JSON with no drawing in it (or none at all)."""
    try:
        parse_drawing(value)
    except UnusableImage:
        return True
    return False


# ---- the page -----------------------------------------------------------------------------------

def build_line_tab(predictor: Predictor):
    """The 'Write a line' tab's layout and events, declared inside the tab's `with` block; its API:
    /read_line_strokes and /read_line."""
    def sent(text, table, drawing, images):
        return text, table, image_file(boxes, drawing), image_file(seen, images)

    def read(strokes, only=ANY):
        return sent(*read_drawn_line(predictor, strokes, chosen(only, LINE_WRITING_CHOICES)))

    def reread(strokes, photo, only):
        """Read again the line on show: the photo once one was read (it clears the canvas), else the drawing."""
        return read_upload(photo, only) if photo and drawn_nothing(strokes) else read(strokes, only)

    def read_upload(photo, only):
        if not photo:
            return "", LINE_UPLOAD, None, None
        path = guards.uploaded(photo, upload.GRADIO_CACHE, gr.Error)
        return sent(*read_line(predictor, path, chosen(only, LINE_WRITING_CHOICES)))

    def read_line_strokes(strokes: dict | str | None, only: LineWriting = ANY
                          ) -> tuple[str, str, gr.FileData | None, gr.FileData | None]:
        """A whole line drawn as stroke JSON (as /read_strokes takes one) -> the text read, each character's
        top 3 (Markdown), the drawing with the characters' boxes, and the 28x28 images the model saw, left to
        right. `only`: "any", "digits", "letters", or "word" (an English word: letters, and a word list
        decides close calls)."""
        return read(strokes, only)

    def read_sketched_line(sketch: dict | None, only: LineWriting = ANY
                           ) -> tuple[str, str, gr.FileData | None, gr.FileData | None]:
        """A whole line as a sketchpad value of image files (as /predict takes one) -> as /read_line_strokes."""
        files = sketch_files(sketch, upload.GRADIO_CACHE)
        return sent(*read_line(predictor, files, chosen(only, LINE_WRITING_CHOICES)))

    line_pad = stroke_canvas("line-sketchpad", "Write one line", LINE_CANVAS, LINE_BRUSHES, "line")
    with gr.Row():
        read_as = gr.Radio(LINE_WRITING_CHOICES, value=ANY, label="What are you writing?", elem_id="line-read-as",
                           scale=2)
        read_button = gr.Button("Read the line", variant="primary", min_width=100, scale=1)
    text = gr.Textbox(label="Text read", interactive=False, elem_id="line-text")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            boxes = gr.Image(label="The characters found", interactive=False, buttons=[], elem_id="line-boxes")
            seen = gr.Image(label="What the model saw, left to right (28x28 each, enlarged)", interactive=False,
                            buttons=[], elem_id="line-seen")
        with gr.Column(scale=1):
            details = gr.Markdown(LINE_START, label="Each character's top 3", elem_id="line-details")
            with gr.Accordion("Or a photo of one line", open=False):
                upload = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], height=200,
                                  label="One handwritten line", elem_id="line-upload")

    outputs = [text, details, boxes, seen]
    line_pad.input(read, [line_pad, read_as], outputs, **AS_YOU_DRAW)
    read_button.click(reread, [line_pad, upload, read_as], outputs, **IN_QUEUE)
    read_as.change(reread, [line_pad, upload, read_as], outputs, **IN_QUEUE)
    upload.change(read_upload, [upload, read_as], outputs, **IN_QUEUE)
    upload.change(None, [upload], None, js=CLEAR_LINE_PAD, api_visibility="private", queue=False)
    gr.api(read_line_strokes, api_name="read_line_strokes", concurrency_id="model")
    gr.api(read_sketched_line, api_name="read_line", concurrency_id="model")


def build_character_tab(predictor: Predictor, store: CorrectionStore | None = None):
    """The 'One character' tab's layout and events, declared inside the tab's `with` block; its API:
    /read_strokes and /predict."""
    api_view = gr.Image(render=False)  # makes the API's image files (image_file); not on the page

    def sent(top5, verdict, image):
        return label_value(top5), verdict, image_file(api_view, image)

    # The page's readings: one panel (reading_panel), which the browser fills while drawing where it can
    # (browser_reader); the server's readings (a photo, a drawing where the browser cannot read) are its value.
    def read(strokes, writing=ANY):
        seen = read_drawn_character(predictor, strokes, chosen(writing, WRITING_CHOICES), zoom=1)
        return page_reading(*seen, "drawing")

    def read_upload(photo, writing=ANY):
        if not photo:
            return page_reading(None, UPLOAD_MESSAGE, None, "photo")
        path = guards.uploaded(photo, upload.GRADIO_CACHE, gr.Error)
        return page_reading(*read_character(predictor, path, chosen(writing, WRITING_CHOICES), zoom=1), "photo")

    def reread(strokes, photo, writing, tab):
        """What is written changed: read again whichever input is on show; a drawing the browser reads, the
        browser reads again (READ_WHERE)."""
        if tab == "browser":
            return gr.skip()
        return read_upload(photo, writing) if tab == "photo" else read(strokes, writing)

    def read_strokes(strokes: dict | str | None, writing: Writing = ANY) -> tuple[dict, str, gr.FileData | None]:
        """One character drawn as stroke JSON {"width", "height", "brush", "strokes": [[[x, y], ...], ...]}
        (canvas pixels, brush radius) -> the top 5 (gr.Label's value, the reading first), the verdict
        (Markdown), and the 28x28 image the model saw, enlarged. `writing`: "any", "digits" or "letters"."""
        return sent(*read_drawn_character(predictor, strokes, chosen(writing, WRITING_CHOICES)))

    def predict(sketch: dict | None, writing: Writing = ANY) -> tuple[dict, str, gr.FileData | None]:
        """One character as a sketchpad value {"background", "layers", "composite"} of image files
        (gradio_client's handle_file; the composite alone will do) -> as /read_strokes."""
        files = sketch_files(sketch, upload.GRADIO_CACHE)
        return sent(*read_character(predictor, files, chosen(writing, WRITING_CHOICES)))

    # Rendered under the inner tabs, created first because the examples set it too.
    writing = gr.Radio(WRITING_CHOICES, value=ANY, label="What are you writing?", render=False, elem_id="writing")
    shown_tab = gr.State("draw")  # which input "What are you writing?" re-reads
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            # the reading in one line above the canvas, on narrow screens only (page.css); web/reading.js fills it
            gr.HTML(f'<p class="bar-text">{START_MESSAGE}</p>', elem_id="reading-bar", apply_default_css=False)
            with gr.Tab("Draw") as draw_tab:
                canvas = stroke_canvas("sketchpad", "Draw one character", (CANVAS, CANVAS), BRUSHES, "character",
                                       announce="verdict", reader=browser_reader(predictor.checkpoint_path, "writing"))
            with gr.Tab("Photo or scan") as photo_tab:
                upload = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], height=320,
                                  label="One handwritten character", elem_id="photo-upload")
                if EXAMPLES:
                    gr.Examples(example_rows(EXAMPLES), inputs=[upload, writing], label="Examples: click one")
            writing.render()
        with gr.Column(scale=1, min_width=320):
            panel = reading_panel()
            if store is not None:
                build_correction_panel(predictor, store, canvas)

    # While one reading runs, only the latest drawing waits (the canvas sends while drawing, and after).
    canvas.input(read, [canvas, writing], panel, **AS_YOU_DRAW)
    upload.change(read_upload, [upload, writing], panel, **IN_QUEUE)
    writing.change(reread, [canvas, upload, writing, shown_tab], panel, **IN_QUEUE, js=READ_WHERE,
                   trigger_mode="always_last", show_progress="hidden")
    draw_tab.select(lambda: "draw", None, shown_tab, api_visibility="private", queue=False)
    photo_tab.select(lambda: "photo", None, shown_tab, api_visibility="private", queue=False)
    gr.api(read_strokes, api_name="read_strokes", concurrency_id="model")
    gr.api(predict, api_name="predict", concurrency_id="model")


# ---- "Not what you wrote?" (only with --collect) --------------------------------------------------

# Corrections one client may give (guards.RateLimit): a writer correcting misreadings gives a few a minute;
# one sender used to fill the store's 10,000 in about 10 minutes, and then every real writer was refused.
CORRECTIONS_PER_CLIENT = (30, 600)  # at most 30 in any 10 minutes
CORRECTION_NOTE = ("If you say what you wrote, your drawing is kept, with that character, to improve the "
                   "model. Nothing else about you is kept.")


def correct_drawn(predictor: Predictor, store: CorrectionStore, value, meant) -> str:
    """Stroke JSON from the canvas (or /correct_strokes) and the character meant -> kept, or why not;
    the strokes themselves are kept as the original drawing."""
    try:
        drawing = parse_drawing(value, blank=START_MESSAGE)
    except UnusableImage as problem:
        return f"Not kept: {problem}"
    return keep_correction(store, predictor, drawing, meant, drawing=drawing.to_json())


def build_correction_panel(predictor: Predictor, store: CorrectionStore, canvas: gr.HTML):
    """Under the reading: give the right character for the drawing on the canvas. API: /correct takes
    a sketchpad value as /predict does, /correct_strokes stroke JSON as /read_strokes does."""
    per_client = guards.RateLimit(*CORRECTIONS_PER_CLIENT)
    count, window_s = CORRECTIONS_PER_CLIENT
    too_many = (f"Not kept: {count} corrections in {window_s // 60} minutes is the most this page keeps from one "
                f"person. Thank you: please come back later.")

    def correct(value, meant, request: gr.Request):
        """The drawing on the canvas, as stroke JSON (as /read_strokes takes one), and the character meant
        -> kept, or why not."""
        if not per_client.allow(guards.client_of(request)):
            return too_many
        return correct_drawn(predictor, store, value, meant)

    def correct_sketch(value: dict | None, meant: str = "", request: gr.Request = None) -> str:
        """A sketchpad value of image files (as /predict takes one) and the character meant -> kept, or why not."""
        files = sketch_files(value, canvas.GRADIO_CACHE)  # Gradio's upload folder, as every component has it
        if not per_client.allow(guards.client_of(request)):
            return too_many
        return keep_correction(store, predictor, files, meant)

    with gr.Group(elem_id="correction"):
        gr.Markdown("**Not what you wrote?** Say which character it is:")
        with gr.Row():
            meant = gr.Dropdown(correction_choices(), value=None, allow_custom_value=True, label=MEANT_LABEL,
                                show_label=False, elem_id="correction-char", scale=2, min_width=80)
            keep = gr.Button("Keep it", min_width=80, scale=1, elem_id="correction-keep")
        message = gr.Markdown(CORRECTION_NOTE, label="Kept or not", elem_id="correction-message")
    keep.click(correct, [canvas, meant], message, api_name="correct_strokes", concurrency_id="model")
    gr.api(correct_sketch, api_name="correct", concurrency_id="model")


def build_demo(predictor: Predictor, store: CorrectionStore | None = None) -> gr.Blocks:
    """The page; with a corrections `store` (--collect) it also asks "Not what you wrote?"."""
    with gr.Blocks(title=TITLE, delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown(f"# {TITLE}\nDraw one digit or letter, or write a whole line; the EMNIST ByMerge "
                    "model reads it as you go, and shows the 28x28 images it actually saw.")
        with gr.Tab("One character"):
            build_character_tab(predictor, store)
        with gr.Tab("Write a line"):
            build_line_tab(predictor)
        with gr.Accordion("About the model", open=False):
            gr.Markdown(model_card(predictor.checkpoint))
    # A capped queue: what waits is bounded in number (and each request in size, guards.BodyLimit).
    demo.queue(max_size=QUEUE_MAX)
    return demo


def serve(blocks: gr.Blocks, **launch_options):
    """Launch the page with its CSS (Gradio 6 takes CSS at launch, not in Blocks) and the server's limits
    and guards (server.launch)."""
    return server.launch(blocks, css=web_text("canvas.css") + web_text("page.css"), **launch_options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=f"{TITLE}: the page (a Gradio app).")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=server.port_number,
                        help="default: $GRADIO_SERVER_PORT or the first free from 7860")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--checkpoint", default=os.environ.get("EMNIST_CHECKPOINT", str(DEFAULT_CHECKPOINT)),
                        help="default: $EMNIST_CHECKPOINT or checkpoints/emnist_bymerge.pt")
    parser.add_argument("--collect", metavar="STORE", default=os.environ.get("EMNIST_COLLECT") or None,
                        help="ask writers to correct misreadings and keep them in this SQLite store "
                             "(default: $EMNIST_COLLECT; unset: nothing is asked or kept)")
    args = parser.parse_args(argv)
    if args.port is None and os.environ.get("GRADIO_SERVER_PORT"):  # Gradio reads it; a bad one ended in a traceback
        try:
            server.port_number(os.environ["GRADIO_SERVER_PORT"])
        except argparse.ArgumentTypeError as error:
            parser.error(f"GRADIO_SERVER_PORT: {error}")
    # One small image per request: a second thread gains nothing on a whole drawing when idle and loses
    # badly on a busy machine (`python -m bench.latency`, docs/RESULTS.md: Speed); the other cores serve other requests.
    torch.set_num_threads(1)
    try:
        predictor = Predictor(args.checkpoint, word_process=True)  # the word model in its own process
    except CheckpointError as error:
        print(f"error: {error}\nTrain one with `python -m train --data-dir DIR --save-to "
              f"checkpoints/emnist_bymerge.pt`, or pass --checkpoint PATH.", file=sys.stderr)
        return 2
    try:
        store = CorrectionStore(args.collect) if args.collect else None
    except (StoreError, OSError) as error:
        print(f"error: --collect: {error}", file=sys.stderr)
        return 2
    try:
        server.warm_up(predictor)
        with server.own_temp_folder(), server.stopped_by_sigterm():
            blocks = build_demo(predictor, store)
            try:
                # None leaves host and port to Gradio, which reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT. Quiet:
                # Gradio's own start-up lines tell the user to "set `share=True` in `launch()`"; ours name --share.
                serve(blocks, server_name=args.host, server_port=args.port, share=args.share or None, quiet=True,
                      prevent_thread_lock=True)
            except OSError:  # Gradio's message names its launch() parameters and environment, not our flags
                print(f"error: {server.not_served(args.host, args.port)}", file=sys.stderr)
                return 2
            print(server.started(blocks), flush=True)
            blocks.block_thread()  # until Ctrl-C or SIGTERM, as launch() itself would block
    finally:
        predictor.close()  # the word model's process ends now: the exit does not wait on it
    return 0


if __name__ == "__main__":
    sys.exit(main())
