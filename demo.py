"""Draw one character (or upload a photo of one) and see how the EMNIST ByMerge model reads it.

    python demo.py                                   # http://127.0.0.1:7860, the shipped checkpoint
    python demo.py --host 0.0.0.0 --port 8080 --checkpoint path/to/model.pt --share

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT work as for any Gradio app, EMNIST_CHECKPOINT names the
checkpoint; flags win over them.

The page's two canvases are gr.HTML (web/canvas.html, web/canvas.js, web/canvas.css): the browser draws,
and only the stroke points travel, read while drawing and right after each stroke. API endpoints:
/read_strokes takes stroke JSON {"width", "height", "brush", "strokes": [[[x, y], ...], ...]} (canvas
pixels, brush radius) and, optionally, what is written ("any", "digits" or "letters"; default "any");
/predict takes a Gradio sketchpad value {"background", "layers", "composite"} and the same option; both
return the top-5 label first. /read_line_strokes and /read_line take a whole line the same two ways and
return the text read first.

    python demo.py --collect corrections.db          # also asks "Not what you wrote?" and keeps the answers

With --collect STORE (or EMNIST_COLLECT) the page offers to correct a misreading and keeps the drawing
with the character meant in STORE (emnist_core/corrections.py); the API endpoint /correct takes the
drawing as /predict does plus that character, and returns a short message. Without it nothing is
shown and nothing is stored.
"""

import argparse
import atexit
import base64
import contextlib
import io
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import types
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import torch

import guards
from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError
from emnist_core.corrections import CorrectionStore, StoreError, correction_choices, keep_correction
from emnist_core.labels import MERGED_LOWERCASE
from emnist_core.predict import Prediction, Predictor, percent, why_passed_over
from emnist_core.preprocess import MAX_LAYERS, UnusableImage, check_image_size, quoted, to_rgba
from emnist_core.segment import LINE_MAX_SIDE
from emnist_core.shipped import shipped_file
from emnist_core.strokes import (CHARACTER_BRUSHES, CHARACTER_CANVAS, MAX_LENGTH_SIDES, MAX_POINTS, MAX_STROKES,
                                 parse_drawing, render_drawing)
from emnist_core.words import WordListUnavailable, english

TITLE = "EMNIST Sketchpad"  # the page, the README and the Space go by this one name
CANVAS = CHARACTER_CANVAS  # canvas pixels; the preprocessing reduces any drawing to 28x28 anyway
BRUSHES = CHARACTER_BRUSHES  # the three brush sizes the canvas offers (radii, canvas pixels)
BRUSH_RADIUS = BRUSHES[1]  # CANVAS / 25: a mouse or finger stroke as thick, relatively, as EMNIST's pens
ZOOM = 10  # the 28x28 the model saw, shown 280x280 with square pixels
MAX_UPLOAD = "20mb"  # Gradio refuses larger uploads before they reach its temp folder
EXAMPLES = sorted(str(p) for p in shipped_file("examples").glob("*.png"))
# "What are you writing?": (shown, value); the value is also what API clients may send.
ANY = "any"
WRITING_CHOICES = [("Any character", ANY), ("Digits only", "digits"), ("Letters only", "letters")]
WORD = "word"  # the line tab's fourth choice: an English word (letters, and the word list decides close calls)
LINE_WRITING_CHOICES = [*WRITING_CHOICES, ("An English word", WORD)]
# A blank sketchpad value, as API clients of /predict send one (and the tests do).
BLANK_CANVAS = {"background": np.full((CANVAS, CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}
START_MESSAGE = "Draw one digit or letter on the canvas: the reading updates after each stroke."
UPLOAD_MESSAGE = "Upload a photo or scan of one handwritten character, or click an example."
UNREADABLE = UnusableImage("That file is not an image this demo can read: try a PNG or JPEG of one character.")
# Labels name a component on the page and, for API clients (gradio_client's view_api), its value: without
# one Gradio calls it value_33 or parameter_46.
STROKES_LABEL = "Stroke drawing (JSON: width, height, brush, strokes)"
MEANT_LABEL = "The character meant"
log = logging.getLogger("demo")


def web_asset(name: str) -> Path:
    """A file of the page's own (web/NAME): the clone's web/ beside this file, else an installed copy's
    (emnist_core/shipped.py, the one lookup the checkpoint uses too)."""
    return shipped_file(f"web/{name}")


def web_text(name: str) -> str:
    """A page file (JavaScript, CSS, HTML template) from web/, read at start."""
    return web_asset(name).read_text(encoding="utf-8")


# How the canvases' readings run. always_last: one reading of a canvas in flight, only the latest drawing
# waiting, so answers come back in order. queue=False: one plain POST that answers with the reading, not
# Gradio's queue (join, then the answer over the event stream): as fast when idle, and half the time on a
# loaded 2-core machine (median 104-124 ms against 190-295 ms with two CPU burners; docs/RESULTS.md).
AS_YOU_DRAW = {"api_visibility": "private", "trigger_mode": "always_last", "show_progress": "hidden", "queue": False}


def stroke_canvas(elem_id: str, label: str, size: tuple[int, int], brushes: tuple[float, float, float],
                  kind: str, announce: str = "") -> gr.HTML:
    """A drawing canvas of `size` (width, height) pixels whose value is the stroke JSON; it fires
    `input` while drawing (at most every 150 ms) and right after each stroke, undo or clear. It stops at
    the server's limits (strokes.MAX_STROKES, MAX_POINTS, MAX_LENGTH_SIDES) and says so; `announce`: the elem_id whose text
    (the reading) a screen reader is told once it settles."""
    return gr.HTML(value="", html_template=web_text("canvas.html"), js_on_load=web_text("canvas.js"),
                   apply_default_css=False, elem_id=elem_id, label=label, kind=kind, width=size[0], height=size[1],
                   brushes=list(brushes), brush=brushes[1], max_strokes=MAX_STROKES, max_points=MAX_POINTS,
                   max_length_sides=MAX_LENGTH_SIDES, announce=announce)


def forgiving(component: gr.components.Component) -> gr.components.Component:
    """`component`, but a file it cannot open reaches predict as UNREADABLE, for a friendly message,
    instead of failing in Gradio's preprocessing with a red error box; and an image too large to
    decode is refused from its header before Gradio decodes it. A sketchpad (an ImageEditor) is not
    decoded by Gradio at all: see editor_input. (An instance method, not a subclass: Gradio writes a
    .pyi stub beside any file that subclasses a component.)"""
    if isinstance(component, gr.ImageEditor):
        return editor_input(component)

    def preprocess(self, payload):
        try:
            for source in image_sources(payload):
                check_image_size(source)
        except UnusableImage as too_large:
            return too_large
        except Exception:
            return UNREADABLE
        try:
            return type(self).preprocess(self, payload)
        except Exception:
            return UNREADABLE

    component.preprocess = types.MethodType(preprocess, component)
    return component


def api_sketchpad(size: tuple[int, int]) -> gr.ImageEditor:
    """A hidden sketchpad for API clients of /predict, /read_line and /correct (the page draws on the
    stroke canvas): it takes a sketchpad value of files, and no blobs, which only Gradio's own editor
    in a browser sends."""
    return editor_input(gr.Sketchpad(visible=False, type="numpy", layers=False, transforms=(), canvas_size=size,
                                     label="Sketchpad value (background, layers, composite)"), accept_blobs=False)


def image_sources(payload) -> list:
    """Paths or bytes of an Image payload, read before decoding."""
    if payload is None:
        return []
    if getattr(payload, "url", None) and payload.url.startswith("data:"):
        return [base64.b64decode(payload.url.split(",", 1)[1])]
    return [payload.path] if getattr(payload, "path", None) else []


# ---- the sketchpad's API input (Gradio-specific; /predict and /read_line) ----------------------------
# Gradio's own ImageEditor preprocessing decodes every layer in full and converts 16-bit and float
# images to 8 bits without their EXIF; instead the payload is handed on undecoded (paths, blob
# bytes, data: URLs) and emnist_core.preprocess decodes it as it decodes the CLI's files. Blobs
# (the page's canvas uploads its layers that way) are bounded in size, count and age.

MAX_BLOB_BYTES = 5 << 20  # one canvas layer as PNG: a 400x400 drawing is a few KB
MAX_BLOB_STORE = 32 << 20  # all blobs waiting for their request; the oldest go first
BLOB_LIFETIME_S = 120  # a blob not claimed by a request this soon after it came is dropped
MAX_FILES_PER_REQUEST = MAX_LAYERS + 2  # one upload request: a sketch's layers, background and composite
CACHE_LIFETIME = (600, 3600)  # delete_cache: every 10 minutes, uploads and outputs older than an hour


class BlobStore:
    """The editor's blobs by request id: {id: (arrival time, {"background", "composite", "layers"})}.
    Bounded: index below MAX_LAYERS, each blob at most MAX_BLOB_BYTES, all at most MAX_BLOB_STORE,
    none older than BLOB_LIFETIME_S; a request takes its blobs out (so they are used once)."""

    def __init__(self):
        self.entries: dict[str, tuple[float, dict]] = {}

    def held_bytes(self) -> int:
        return sum(len(b) for _, parts in self.entries.values() for b in _blobs(parts))

    def put(self, blob_id: str, kind: str, index, blob: bytes) -> None:
        from fastapi import HTTPException
        if kind not in ("background", "composite", "layer") or not isinstance(blob_id, str) or len(blob_id) > 64:
            raise HTTPException(400, "unknown blob")
        if len(blob) > MAX_BLOB_BYTES:
            raise HTTPException(413, f"a sketch layer is at most {MAX_BLOB_BYTES >> 20} MB")
        if kind == "layer":
            try:
                index = int(index)
            except (TypeError, ValueError):
                raise HTTPException(400, "a layer needs its index") from None
            if not 0 <= index < MAX_LAYERS:
                raise HTTPException(400, f"layer index out of range 0..{MAX_LAYERS - 1}")
        now = time.monotonic()
        for old in [i for i, (t, _) in self.entries.items() if now - t > BLOB_LIFETIME_S]:
            del self.entries[old]
        _, parts = self.entries.pop(blob_id, (now, {"background": None, "composite": None, "layers": {}}))
        if kind == "layer":
            parts["layers"][index] = blob
        else:
            parts[kind] = blob
        self.entries[blob_id] = (now, parts)  # last in the order: the newest
        while self.held_bytes() > MAX_BLOB_STORE and len(self.entries) > 1:
            del self.entries[next(iter(self.entries))]

    def take(self, blob_id) -> dict | None:
        """The blobs of one request as an editor value of binary streams, removed from the store."""
        _, parts = self.entries.pop(blob_id, (None, None))
        if parts is None:
            return None
        stream = lambda blob: None if blob is None else io.BytesIO(blob)  # noqa: E731
        return {"background": stream(parts["background"]), "composite": stream(parts["composite"]),
                "layers": [io.BytesIO(parts["layers"][i]) for i in sorted(parts["layers"])]}


def _blobs(parts: dict) -> list[bytes]:
    return [b for b in (parts["background"], parts["composite"], *parts["layers"].values()) if b is not None]


def editor_input(component: gr.ImageEditor, accept_blobs: bool = True) -> gr.ImageEditor:
    """`component` (a Sketchpad or ImageEditor, shown or not) whose value reaches predict undecoded:
    {"background", "layers", "composite"} of file paths, data: URLs or blob streams, or UNREADABLE.
    Its blobs go to a BlobStore; with `accept_blobs` False (an API-only input: clients send files)
    none are taken at all."""
    store = BlobStore()

    def preprocess(self, payload):
        if payload is None:
            return None
        if getattr(payload, "id", None) is not None:
            return store.take(payload.id) or UnusableImage("That sketch's layers are gone (sent too long ago, "
                                                           "or never): draw again.")
        try:
            return {"background": editor_part(payload.background), "composite": editor_part(payload.composite),
                    "layers": [editor_part(layer) for layer in (payload.layers or [])]}
        except Exception:
            return UNREADABLE

    def accept(data):
        from fastapi import HTTPException
        if not accept_blobs:
            raise HTTPException(404, "this input takes files, not blobs")
        fields = getattr(data, "data", None) or {}
        files = getattr(data, "files", None) or []
        if len(files) != 1:
            raise HTTPException(400, "one blob per request")
        store.put(fields.get("id"), fields.get("type"), fields.get("index"), files[0][1])

    accept._is_server_fn = True  # what Gradio's /component_server looks for
    component.preprocess = types.MethodType(preprocess, component)
    component.accept_blobs = accept
    component.blob_storage = store
    return component


def editor_part(part):
    """One FileData of an editor payload -> its path, or its data: URL (emnist_core decodes both)."""
    if part is None:
        return None
    if getattr(part, "url", None) and part.url[:5].lower() == "data:":
        return part.url
    return part.path


def explain_refused_files(blocks: gr.Blocks) -> gr.Blocks:
    """An API request whose file Gradio refuses before any of our code runs (a data: URL or a path
    that was never uploaded, given as a file) gets a message saying so, not an error box with no text."""
    from gradio.exceptions import InvalidPathError
    from pydantic import ValidationError
    original = blocks.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except (InvalidPathError, ValidationError, FileNotFoundError, IsADirectoryError):
            if any(text[:5].lower() == "data:" for text in _strings(inputs)):
                raise gr.Error("A data: URL cannot be sent as a file here: send the image with gradio_client's "
                               "handle_file (or POST it to /gradio_api/upload and send its path).",
                               print_exception=False) from None
            raise gr.Error("A file in the request was not uploaded to this server: send images with "
                           "gradio_client's handle_file (or POST them to /gradio_api/upload first).",
                           print_exception=False) from None

    blocks.preprocess_data = preprocess_data
    return blocks


def _strings(value, depth: int = 0):
    """Every string in a JSON-like value (to a bounded depth)."""
    if isinstance(value, str):
        yield value
    elif depth < 8 and isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif depth < 8 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)


def cap_files_per_request(limit: int = MAX_FILES_PER_REQUEST) -> None:
    """Refuse an upload (or blob) request with more than `limit` files: Gradio's own limit is 1,000, each
    written to its temp folder. Gradio 6 takes no option for it, so its multipart parser is narrowed."""
    from gradio import route_utils, routes
    parser = route_utils.GradioMultiPartParser
    if getattr(parser, "capped", None) == limit:
        return

    class Capped(getattr(parser, "uncapped", parser)):
        capped, uncapped = limit, getattr(parser, "uncapped", parser)

        def __init__(self, *args, max_files=1000, **kwargs):
            super().__init__(*args, max_files=min(max_files, limit), **kwargs)

    route_utils.GradioMultiPartParser = routes.GradioMultiPartParser = Capped


def bounded_choice(radio: gr.Radio) -> gr.Radio:
    """`radio`, but a value that is none of its choices is refused with a short message (Gradio's own
    repeats the whole value, and prints it: a 10 MB value became 10 MB of log per request)."""
    def preprocess(self, payload):
        values = [value for _, value in self.choices]
        if payload is None or (isinstance(payload, str) and payload in values):
            return payload
        raise gr.Error(f"Unknown choice {quoted(payload)}: choose one of {values}.", print_exception=False)

    radio.preprocess = types.MethodType(preprocess, radio)
    return radio


def reading_first(label: gr.Label) -> gr.Label:
    """`label`, but a {character: probability} dict is shown in the order given, the reading first, not
    re-sorted by probability: under the checkpoint's reading rule the reading can be less likely than a
    class of the other kind (emnist_core.predict.Prediction.passed_over), and the verdict says why."""
    from gradio.components.label import LabelConfidence, LabelData

    def postprocess(self, value):
        if not isinstance(value, dict) or not value or "confidences" in value:
            return type(self).postprocess(self, value)
        shown = list(value.items())[:self.num_top_classes]
        return LabelData(label=str(shown[0][0]),
                         confidences=[LabelConfidence(label=c, confidence=p) for c, p in shown])

    label.postprocess = types.MethodType(postprocess, label)
    return label


# Spaces shows the page inside a frame on huggingface.co: allow exactly those frames (and our own).
FRAME_ANCESTORS = "frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space"


class FrameAncestors:
    """ASGI middleware: every response says which sites may show the page in a frame (CSP
    frame-ancestors; no X-Frame-Options, whose DENY would break the Space)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_policy(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"content-security-policy"]
                message = {**message, "headers": [*headers, (b"content-security-policy", FRAME_ANCESTORS.encode())]}
            await send(message)
        await self.app(scope, receive, send_with_policy if scope["type"] == "http" else send)


def restriction(writing: str | None) -> str | None:
    """The page's "What are you writing?" value -> the predictor's `only` (None: any character)."""
    return None if writing in (None, ANY) else "letters" if writing == WORD else writing


def is_toss_up(prediction: Prediction) -> bool:
    """Digit and letter exactly as likely: the "top" rule's tie, where the classes' kind disagrees with
    the character read (JUST_UNDER_HALF on the letter side, so allow for that one float step)."""
    return abs(prediction.p_digit - 0.5) < 1e-6


def headline(prediction: Prediction, only: str | None) -> str:
    """"Reads as X (87%) — a digit": the character read, its probability (the number its top-5 row
    shows) and its kind, which always agree."""
    (char, p), kind = prediction.top5[0], prediction.kind
    if only is None and is_toss_up(prediction):
        return f"## Reads as **{char}** ({percent(p)}) — a toss-up between digit and letter"
    return f"## Reads as **{char}** ({percent(p)}) — a {kind}"


def shown(char: str) -> str:
    """A class as people write it: ByMerge's O stands for o too."""
    return f"{char.lower()}/{char}" if char.lower() in MERGED_LOWERCASE else char


def describe(prediction: Prediction, only: str | None = None) -> str:
    """The verdict in words: the reading with its probability, digit or letter, and any doubt. Every
    number is a character's one probability, as the top-5 shows it."""
    char, p = prediction.top5[0]
    lines = [headline(prediction, only)]
    settles_it = False  # would "digits only" / "letters only" settle the doubt?
    if only is not None:
        lines.append(f"Read as {only} only, as you chose: the other kind was left out.")
    elif is_toss_up(prediction):
        lines.append(f"Digit and letter are equally likely here; **{char}** is the likeliest character.")
        settles_it = True
    why = why_passed_over(prediction)
    if why:  # the reading rule decided the kind first: say so, or the top-5 looks out of order
        lines.append(why[0].upper() + why[1:] + ".")
        settles_it = True
    if char.lower() in MERGED_LOWERCASE:
        lines.append(f"EMNIST ByMerge keeps {char.upper()} and {char.lower()} as one class: they look alike.")
    if prediction.lookalikes:
        (first, second), (p_first, p_second) = prediction.lookalikes, prediction.lookalike_odds
        lines.append(f"⚠️ Could be **{shown(first)} or {shown(second)}**: EMNIST writes these alike, so the "
                     f"model cannot be sure which one you meant ({percent(p_first)} against "
                     f"{percent(p_second)}).")
        settles_it = settles_it or (only is None and first.isdigit() != second.isdigit())
    elif p < 0.5:
        lines.append(f"Not sure: its best guess gets only {percent(p)}.")
    if settles_it:
        lines.append("If you know which you meant, say so under **What are you writing?**: "
                     "*Digits only* or *Letters only*.")
    return "\n\n".join(lines)


def read_character(predictor: Predictor, value, only: str | None = None
                   ) -> tuple[dict | None, str, np.ndarray | None]:
    """Any drawing, upload or API value -> (top-5 {char: probability}, verdict, what the model saw);
    `only` ("digits" / "letters") when the writer said which they wrote.

    Never raises: an unusable image (or a bug) gives empty outputs and a message for people."""
    try:
        if isinstance(value, UnusableImage):
            raise value
        prediction = predictor.predict(value, only)
    except UnusableImage as problem:
        return None, str(problem), None
    except Exception as error:
        log_failure("could not read an input", error)
        return None, "Sorry, that image could not be read. Try drawing the character again.", None
    seen = np.kron(prediction.image, np.ones((ZOOM, ZOOM), np.uint8))
    return dict(prediction.top5), describe(prediction, only), seen


def log_failure(what: str, error: Exception) -> None:
    """A bug's traceback in the log, its message cut short (it may repeat what a visitor sent)."""
    frames = "".join(traceback.format_tb(error.__traceback__, limit=-20))
    log.error("%s: %s: %s\n%s", what, type(error).__name__, quoted(str(error), 500), frames)


def read_drawn_character(predictor: Predictor, value, only: str | None = None):
    """Stroke JSON from the page or an API client -> read_character's outputs; an empty canvas gives
    the opening message, bad JSON a message for people."""
    try:
        drawing = parse_drawing(value, blank=START_MESSAGE)
    except UnusableImage as problem:
        return None, str(problem), None
    except Exception as error:
        log_failure("could not read a drawing", error)
        return None, "Sorry, that drawing could not be read. Try drawing the character again.", None
    return read_character(predictor, drawing, only)


def reading_bar(top5: dict | None, verdict: str) -> str:
    """The verdict's first line and the runners-up, for the one-line bar above the canvas on a phone."""
    first = verdict.split("\n\n", 1)[0].removeprefix("## ")
    if not top5:
        return first
    others = " · ".join(f"{c} {percent(p)}" for c, p in list(top5.items())[1:3])
    return f"{first} · then {others}" if others else first


def example_rows(paths: list[str]) -> list[list[str]]:
    """[file, what is written] per example: a `CHAR_letters.png` would be shown under "letters only"
    (examples/make_examples.py names them), `7.png` under any character."""
    rows = []
    for path in paths:
        _, _, writing = Path(path).stem.partition("_")
        rows.append([path, writing or ANY])
    return rows


# ---- the 'Write a line' tab ---------------------------------------------------------------------

LINE_CANVAS = (1000, 300)  # wide enough for a word, a number or a postcode in characters 150-250 px tall
LINE_BRUSH_RADIUS = 10  # thinner than one character's: line characters are drawn smaller
LINE_BRUSHES = (6, LINE_BRUSH_RADIUS, 15)
LINE_ZOOM = 3  # the 28x28 images the model saw, side by side, each shown 84x84
LINE_START = "Write a word, a number or a postcode on the canvas, printed (not joined up)."
LINE_UPLOAD = "Upload a photo or scan of one handwritten line."
BLANK_LINE = {"background": np.full((LINE_CANVAS[1], LINE_CANVAS[0], 3), 255, np.uint8), "layers": [],
              "composite": None}  # a blank sketchpad value of a line, as /read_line's clients send
BOX_COLOUR = (220, 40, 40)


# Line readings at once (guards.Slots): one per core, a few more waiting briefly, the rest told to try
# again. The line canvas reads outside Gradio's queue (as the character canvas does, for speed), so
# without this a flood of lines ran all at once: 40 took 4.75 GB and another visitor waited 31 s.
LINE_READINGS = guards.Slots(running=2, waiting=8, wait_s=10.0,
                             busy="Many lines are being read just now: press **Read the line** in a moment.")


def read_line(predictor: Predictor, value, only: str = ANY) -> tuple[str, str, np.ndarray | None, np.ndarray | None]:
    """A drawn or photographed line -> (text, each character's top-3 in words, the drawing with the
    characters' boxes, the 28x28 images the model saw in a row). Never raises: problems become messages."""
    try:
        if isinstance(value, UnusableImage):
            raise value
        reading, rgba = LINE_READINGS.run(lambda: (
            predictor.read_line(value, only),
            to_rgba(value, decode_side=LINE_MAX_SIDE)))  # read once more, as segment did, to draw on
        drawing = ((rgba[:, :, :3] * rgba[:, :, 3:] + 1 - rgba[:, :, 3:]) * 255).astype(np.uint8)  # on white
    except (UnusableImage, WordListUnavailable, guards.Busy) as problem:
        return "", str(problem), None, None
    except Exception as error:
        log_failure("could not read a line", error)
        return "", "Sorry, that line could not be read. Try writing it again.", None, None
    return line_outputs(reading, drawing)


def read_drawn_line(predictor: Predictor, value, only: str = ANY):
    """Stroke JSON of a line from the page or an API client -> read_line's outputs."""
    try:
        drawing = parse_drawing(value, blank=LINE_START)
        image, reading = LINE_READINGS.run(read_drawn, predictor, drawing, only)
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
    rows = ["| # | reads | top 3 |", "| --- | --- | --- |"]
    if reading.word:
        rows.insert(0, f"Read as the word **{reading.word}**; letter by letter the model reads "
                       f"**{reading.letters}**.\n")
    elif reading.words_asked:
        rows.insert(0, "No word of the word list reads better than the letters as they are.\n")
    for n, (box, prediction) in enumerate(reading.characters, start=1):
        cv2.rectangle(drawing, box[:2], (box[2] - 1, box[3] - 1), BOX_COLOUR, max(1, drawing.shape[0] // 150))
        cv2.putText(drawing, prediction.top5[0][0], (box[0], max(12, box[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.5, drawing.shape[0] / 500), BOX_COLOUR, max(1, drawing.shape[0] // 200))
        top3 = " · ".join(f"{c} {percent(p)}" for c, p in prediction.top5[:3])
        doubt = f" (looks alike: {' or '.join(prediction.lookalikes)})" if prediction.lookalikes else ""
        rows.append(f"| {n} | **{prediction.top5[0][0]}** | {top3}{doubt} |")
    gap = np.full((28, 2), 96, np.uint8)  # grey between characters
    seen = np.hstack([part for _, p in reading.characters for part in (p.image, gap)][:-1])
    return reading.text, "\n".join(rows), drawing, np.kron(seen, np.ones((LINE_ZOOM, LINE_ZOOM), np.uint8))


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


def build_line_tab(predictor: Predictor):
    """The 'Write a line' tab's layout and events, declared inside the tab's `with` block."""
    def read(strokes, only):
        return read_drawn_line(predictor, strokes, only)

    def reread(strokes, path, only):
        """Read again the line on show: the photo once one was read (it clears the canvas), else the drawing."""
        return read_upload(path, only) if path and drawn_nothing(strokes) else read(strokes, only)

    def read_sketch(sketch, only):
        return read_line(predictor, sketch, only)

    def read_upload(path, only):
        return read_line(predictor, path, only) if path else ("", LINE_UPLOAD, None, None)

    line_pad = stroke_canvas("line-sketchpad", "Write one line", LINE_CANVAS, LINE_BRUSHES, "line")
    with gr.Row():
        read_as = bounded_choice(gr.Radio(LINE_WRITING_CHOICES, value=ANY, label="What are you writing?",
                                          elem_id="line-read-as", scale=2))
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
                upload = forgiving(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                            height=200, label="One handwritten line", elem_id="line-upload"))
    # For API clients only: the same reading from stroke JSON, and from a sketchpad value as before.
    api_strokes = gr.JSON(visible=False, label=STROKES_LABEL)
    api_sketch = api_sketchpad(LINE_CANVAS)

    outputs = [text, details, boxes, seen]
    line_pad.input(read, [line_pad, read_as], outputs, **AS_YOU_DRAW)
    read_button.click(reread, [line_pad, upload, read_as], outputs, api_visibility="private", concurrency_id="model")
    read_as.change(reread, [line_pad, upload, read_as], outputs, api_visibility="private", concurrency_id="model")
    upload.change(read_upload, [upload, read_as], outputs, api_visibility="private", concurrency_id="model")
    upload.change(None, [upload], None, js=CLEAR_LINE_PAD, api_visibility="private", queue=False)
    api_strokes.change(read, [api_strokes, read_as], outputs, api_name="read_line_strokes", concurrency_id="model")
    api_sketch.change(read_sketch, [api_sketch, read_as], outputs, api_name="read_line", concurrency_id="model")


def build_character_tab(predictor: Predictor, store: CorrectionStore | None = None):
    """The 'One character' tab's layout and events, declared inside the tab's `with` block."""
    def read(strokes, writing=ANY):
        top5, verdict, seen = read_drawn_character(predictor, strokes, restriction(writing))
        return top5, verdict, seen, reading_bar(top5, verdict)

    def read_upload(path, writing=ANY):
        if not path:
            return None, UPLOAD_MESSAGE, None, UPLOAD_MESSAGE
        top5, verdict, seen = read_character(predictor, path, restriction(writing))
        return top5, verdict, seen, reading_bar(top5, verdict)

    def reread(strokes, path, writing, tab):
        """What is written changed: read again whichever input is on show."""
        return read_upload(path, writing) if tab == "photo" else read(strokes, writing)

    def read_sketch(sketch, writing=ANY):
        return read_character(predictor, sketch, restriction(writing))

    def read_strokes(strokes, writing=ANY):
        return read_drawn_character(predictor, strokes, restriction(writing))

    # Rendered under the inner tabs, created first because the examples set it too.
    writing = bounded_choice(gr.Radio(WRITING_CHOICES, value=ANY, label="What are you writing?", render=False,
                                      elem_id="writing"))
    shown_tab = gr.State("draw")  # which input "What are you writing?" re-reads
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            bar = gr.Markdown(START_MESSAGE, elem_id="reading-bar")  # shown on narrow screens only (page.css)
            with gr.Tab("Draw") as draw_tab:
                canvas = stroke_canvas("sketchpad", "Draw one character", (CANVAS, CANVAS), BRUSHES, "character",
                                       announce="verdict")
            with gr.Tab("Photo or scan") as photo_tab:
                upload = forgiving(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                            height=320, label="One handwritten character",
                                            elem_id="photo-upload"))
                if EXAMPLES:
                    gr.Examples(example_rows(EXAMPLES), inputs=[upload, writing], label="Examples: click one")
            writing.render()
        with gr.Column(scale=1, min_width=320):
            verdict = gr.Markdown(START_MESSAGE, label="Reading", elem_id="verdict")
            top5 = reading_first(gr.Label(num_top_classes=5, label="Top 5", elem_id="top5"))
            model_view = gr.Image(label="What the model saw (28x28, enlarged)", interactive=False,
                                  height=300, buttons=[], elem_id="model-view")
            if store is not None:
                build_correction_panel(predictor, store, canvas)
    # For API clients only: stroke JSON, and a sketchpad value as before the stroke canvas.
    api_strokes = gr.JSON(visible=False, label=STROKES_LABEL)
    api_sketch = api_sketchpad((CANVAS, CANVAS))

    outputs = [top5, verdict, model_view]
    # While one reading runs, only the latest drawing waits (the canvas sends while drawing, and after).
    canvas.input(read, [canvas, writing], [*outputs, bar], **AS_YOU_DRAW)
    upload.change(read_upload, [upload, writing], [*outputs, bar], api_visibility="private", concurrency_id="model")
    writing.change(reread, [canvas, upload, writing, shown_tab], [*outputs, bar], api_visibility="private",
                   trigger_mode="always_last", show_progress="hidden", concurrency_id="model")
    draw_tab.select(lambda: "draw", None, shown_tab, api_visibility="private", queue=False)
    photo_tab.select(lambda: "photo", None, shown_tab, api_visibility="private", queue=False)
    # API clients that send only the drawing get the control's default (any character).
    api_strokes.change(read_strokes, [api_strokes, writing], outputs, api_name="read_strokes", concurrency_id="model")
    api_sketch.change(read_sketch, [api_sketch, writing], outputs, api_name="predict", concurrency_id="model")


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
        if not per_client.allow(guards.client_of(request)):
            return too_many
        return correct_drawn(predictor, store, value, meant)

    def correct_sketch(value, meant, request: gr.Request):
        if not per_client.allow(guards.client_of(request)):
            return too_many
        return keep_correction(store, predictor, value, meant)

    with gr.Group(elem_id="correction"):
        gr.Markdown("**Not what you wrote?** Say which character it is:")
        with gr.Row():
            meant = gr.Dropdown(correction_choices(), value=None, allow_custom_value=True, label=MEANT_LABEL,
                                show_label=False, elem_id="correction-char", scale=2, min_width=80)
            keep = gr.Button("Keep it", min_width=80, scale=1, elem_id="correction-keep")
        message = gr.Markdown(CORRECTION_NOTE, label="Kept or not", elem_id="correction-message")
    keep.click(correct, [canvas, meant], message, api_name="correct_strokes", concurrency_id="model")
    api_sketch = api_sketchpad((CANVAS, CANVAS))
    api_meant = gr.Textbox(visible=False, label=MEANT_LABEL)
    api_sketch.change(correct_sketch, [api_sketch, api_meant], message, api_name="correct", concurrency_id="model")


QUEUE_MAX = 64  # queued events (API calls, buttons); over it Gradio answers "Queue is full" (HTTP 503)


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
    return guards.short_request_errors(explain_refused_files(demo), gr.Error)


def serve(demo: gr.Blocks, **launch_options):
    """Launch with the page's CSS (Gradio 6 takes CSS at launch, not in Blocks), the upload caps (size
    and files per request) and the frame policy."""
    cap_files_per_request()
    css = web_text("canvas.css") + web_text("page.css")
    return demo.launch(css=css, max_file_size=MAX_UPLOAD, app_kwargs=app_options(), **launch_options)


def app_options() -> dict:
    """The FastAPI app's options: the frame policy on every response (the outer one, so a refusal has it
    too), and request bodies bounded by size before they are parsed."""
    from starlette.middleware import Middleware
    return {"middleware": [Middleware(FrameAncestors), Middleware(guards.BodyLimit)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=f"{TITLE}: the page (a Gradio app).")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=port_number, help="default: $GRADIO_SERVER_PORT or the first free from 7860")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--checkpoint", default=os.environ.get("EMNIST_CHECKPOINT", str(DEFAULT_CHECKPOINT)),
                        help="default: $EMNIST_CHECKPOINT or checkpoints/emnist_bymerge.pt")
    parser.add_argument("--collect", metavar="STORE", default=os.environ.get("EMNIST_COLLECT") or None,
                        help="ask writers to correct misreadings and keep them in this SQLite store "
                             "(default: $EMNIST_COLLECT; unset: nothing is asked or kept)")
    args = parser.parse_args(argv)
    if args.port is None and os.environ.get("GRADIO_SERVER_PORT"):  # Gradio reads it; a bad one ended in a traceback
        try:
            port_number(os.environ["GRADIO_SERVER_PORT"])
        except argparse.ArgumentTypeError as error:
            parser.error(f"GRADIO_SERVER_PORT: {error}")
    # One small image per request: a second thread gains nothing on a whole drawing when idle and loses
    # badly on a busy machine (`python -m bench.latency`, docs/RESULTS.md: Speed); the other cores serve other requests.
    torch.set_num_threads(1)
    try:
        predictor = Predictor(args.checkpoint)
    except CheckpointError as error:
        print(f"error: {error}\nTrain one with `python -m train --data-dir DIR --save-to "
              f"checkpoints/emnist_bymerge.pt`, or pass --checkpoint PATH.", file=sys.stderr)
        return 2
    try:
        store = CorrectionStore(args.collect) if args.collect else None
    except (StoreError, OSError) as error:
        print(f"error: --collect: {error}", file=sys.stderr)
        return 2
    warm_up(predictor)
    with own_temp_folder(), stopped_by_sigterm():
        blocks = build_demo(predictor, store)
        try:
            # None leaves host and port to Gradio, which reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT. Quiet:
            # Gradio's own start-up lines tell the user to "set `share=True` in `launch()`"; ours name --share.
            serve(blocks, server_name=args.host, server_port=args.port, share=args.share or None, quiet=True,
                  prevent_thread_lock=True)
        except OSError:  # Gradio's message names its launch() parameters and environment, not our flags
            print(f"error: {not_served(args.host, args.port)}", file=sys.stderr)
            return 2
        print(started(blocks), flush=True)
        blocks.block_thread()  # until Ctrl-C or SIGTERM, as launch() itself would block
    return 0


def port_number(text: str) -> int:
    """--port (and GRADIO_SERVER_PORT): a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: ports are 1 to 65535")
    return port


def not_served(host: str | None, port: int | None) -> str:
    """Why the page could not start listening, in one line, naming the flags that fix it."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or os.environ.get("GRADIO_SERVER_PORT")
    if port is None:
        return (f"no free port from 7860 to 7959 on {host}: other programs hold them all; choose one with --port N")
    return (f"cannot serve the page on {host}:{port}: the port is in use (another copy of the page?) or the address "
            f"is not this machine's; choose another with --port N (or --host)")


def started(blocks: gr.Blocks) -> str:
    """The start-up lines: where the page is, and (not on a Space, where there is no such link) how to share it."""
    lines = [f"* Running on local URL:  {blocks.local_url}"]
    if blocks.share_url:
        lines.append(f"* Public link (temporary): {blocks.share_url}")
    elif not os.environ.get("SPACE_ID"):
        lines.append("* To create a public link, run with --share.")
    return "\n".join(lines)


WARM_UP = {"width": CANVAS, "height": CANVAS, "brush": BRUSH_RADIUS, "strokes": [[[120, 90], [280, 90], [200, 320]]]}


def warm_up(predictor: Predictor) -> None:
    """First-use costs paid before the first visitor comes. Gradio asks matplotlib for its backend around
    every event, and the first asking imports pyplot: 0.5-1.4 s on this project's 2-core machine, with the
    server's event loop blocked, so the first visitor's first reading waited that long. With the backend
    named (Agg, unless MPLBACKEND says otherwise) no pyplot is imported at all; then one reading."""
    os.environ.setdefault("MPLBACKEND", "agg")
    import matplotlib  # noqa: F401  (the import itself, ~0.1 s, paid here too)
    read_drawn_character(predictor, WARM_UP)
    with contextlib.suppress(WordListUnavailable):  # the word list (~0.5 s to load), if it is installed
        english()


@contextlib.contextmanager
def own_temp_folder():
    """Gradio's uploads and cached outputs go to a folder of this process's own (GRADIO_TEMP_DIR, inside the
    one named there if any), removed with everything in it when the server stops: Ctrl-C, SIGTERM or a
    normal exit. delete_cache only empties old files while serving, so a stop used to leave the last hour's."""
    named = os.environ.get("GRADIO_TEMP_DIR")
    if named:
        os.makedirs(named, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="emnist-sketchpad-", dir=named or None)
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, True)  # should the interpreter end some other way
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if named is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = named


@contextlib.contextmanager
def stopped_by_sigterm():
    """SIGTERM (how a Space or a service manager stops the page) stops it as Ctrl-C does: Gradio closes the
    server on KeyboardInterrupt, and the folders and files are cleaned up on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
