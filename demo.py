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
"""

import argparse
import base64
import logging
import os
import sys
import types
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import torch

from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError
from emnist_core.labels import MERGED_LOWERCASE
from emnist_core.predict import Prediction, Predictor
from emnist_core.preprocess import MAX_SIDE, UnusableImage, check_image_size, to_rgba
from emnist_core.segment import LINE_MAX_SIDE
from emnist_core.strokes import StrokeDrawing, parse_drawing, render_drawing

CANVAS = 400  # canvas pixels; the preprocessing reduces any drawing to 28x28 anyway
BRUSH_RADIUS = 16  # CANVAS / 25: a mouse or finger stroke as thick, relatively, as EMNIST's pens
BRUSHES = (10, BRUSH_RADIUS, 24)  # the three brush sizes the canvas offers (radii, canvas pixels)
ZOOM = 10  # the 28x28 the model saw, shown 280x280 with square pixels
MAX_UPLOAD = "20mb"  # Gradio refuses larger uploads before they reach its temp folder
EXAMPLES = sorted(str(p) for p in (Path(__file__).resolve().parent / "examples").glob("*.png"))
# "What are you writing?": (shown, value); the value is also what API clients may send.
ANY = "any"
WRITING_CHOICES = [("Any character", ANY), ("Digits only", "digits"), ("Letters only", "letters")]
# A blank sketchpad value, as API clients of /predict send one (and the tests do).
BLANK_CANVAS = {"background": np.full((CANVAS, CANVAS, 3), 255, np.uint8), "layers": [], "composite": None}
START_MESSAGE = "Draw one digit or letter on the canvas: the reading updates after each stroke."
UPLOAD_MESSAGE = "Upload a photo or scan of one handwritten character, or click an example."
UNREADABLE = UnusableImage("That file is not an image this demo can read: try a PNG or JPEG of one character.")
log = logging.getLogger("demo")



def web_asset(name: str) -> str:
    """A page file (JavaScript, CSS, HTML template) from web/ beside this file, read at start."""
    return (Path(__file__).parent / "web" / name).read_text(encoding="utf-8")


def stroke_canvas(elem_id: str, label: str, size: tuple[int, int], brushes: tuple[float, float, float],
                  kind: str) -> gr.HTML:
    """A drawing canvas of `size` (width, height) pixels whose value is the stroke JSON; it fires
    `input` while drawing (at most every 150 ms) and right after each stroke, undo or clear."""
    return gr.HTML(value="", html_template=web_asset("canvas.html"), js_on_load=web_asset("canvas.js"),
                   apply_default_css=False, elem_id=elem_id, label=label, kind=kind, width=size[0], height=size[1],
                   brushes=list(brushes), brush=brushes[1])


def forgiving(component: gr.components.Component) -> gr.components.Component:
    """`component`, but a file it cannot open reaches predict as UNREADABLE, for a friendly message,
    instead of failing in Gradio's preprocessing with a red error box; and an image too large to
    decode is refused from its header before Gradio decodes it (its editor decodes in full; uploads
    reach our own reduced decoding). (An instance method, not a
    subclass: Gradio writes a .pyi stub beside any file that subclasses a component.)"""
    def preprocess(self, payload):
        try:
            for source in image_sources(self, payload):
                check_image_size(source, reduced=isinstance(self, gr.Image))
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


def image_sources(component, payload) -> list:
    """Paths or bytes of every image in an Image or ImageEditor payload, read before decoding."""
    if payload is None:
        return []
    if getattr(payload, "id", None) is not None and hasattr(component, "blob_storage"):
        cached = component.blob_storage.get(payload.id)  # the editor's layers, uploaded as blobs
        parts = [cached.background, cached.composite, *(cached.layers or [])] if cached else []
    elif hasattr(payload, "composite"):
        parts = [payload.background, payload.composite, *(payload.layers or [])]
    else:
        parts = [payload]
    sources = []
    for part in parts:
        if isinstance(part, (bytes, bytearray)):
            sources.append(bytes(part))
        elif getattr(part, "url", None) and part.url.startswith("data:"):
            sources.append(base64.b64decode(part.url.split(",", 1)[1]))
        elif getattr(part, "path", None):
            sources.append(part.path)
    return sources


def percent(p: float) -> str:
    """A probability for people: no rounding up to a certainty the model does not have."""
    return "over 99%" if p > 0.99 else "under 1%" if p < 0.01 else f"{p:.0%}"


def restriction(writing: str | None) -> str | None:
    """The page's "What are you writing?" value -> the predictor's `only` (None: any character)."""
    return None if writing in (None, ANY) else writing


def is_toss_up(prediction: Prediction) -> bool:
    """Digit and letter exactly as likely: the "top" rule's tie, where the classes' kind disagrees with
    the character read (JUST_UNDER_HALF on the letter side, so allow for that one float step)."""
    return abs(prediction.p_digit - 0.5) < 1e-6


def headline(prediction: Prediction, only: str | None) -> str:
    """"Reads as X — a digit (87%)": the character read and its kind, which always agree."""
    char, kind = prediction.top5[0][0], prediction.kind
    if only is not None:
        return f"## Reads as **{char}** — a {kind}"
    if is_toss_up(prediction):
        return f"## Reads as **{char}** — a toss-up between digit and letter"
    p_kind = prediction.p_digit if kind == "digit" else 1 - prediction.p_digit
    return f"## Reads as **{char}** — a {kind} ({percent(p_kind)})"


def shown(char: str) -> str:
    """A class as people write it: ByMerge's O stands for o too."""
    return f"{char.lower()}/{char}" if char.lower() in MERGED_LOWERCASE else char


def describe(prediction: Prediction, only: str | None = None) -> str:
    """The verdict in words: the reading, digit or letter with its probability, and any doubt."""
    char, p = prediction.top5[0]
    lines = [headline(prediction, only)]
    settles_it = False  # would "digits only" / "letters only" settle the doubt?
    if only is not None:
        lines.append(f"Read as {only} only, as you chose: the other kind was left out.")
    elif is_toss_up(prediction):
        lines.append(f"Digit and letter are equally likely here; **{char}** is the likeliest character.")
        settles_it = True
    if char.lower() in MERGED_LOWERCASE:
        lines.append(f"EMNIST ByMerge keeps {char.upper()} and {char.lower()} as one class: they look alike.")
    if prediction.lookalikes:
        first, second = prediction.lookalikes
        lines.append(f"⚠️ Could be **{shown(first)} or {shown(second)}**: EMNIST writes these alike, so the "
                     f"model cannot be sure which one you meant ({percent(p)} against "
                     f"{percent(prediction.top5[1][1])}).")
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
    except Exception:
        log.exception("could not read an input")
        return None, "Sorry, that image could not be read. Try drawing the character again.", None
    seen = np.kron(prediction.image, np.ones((ZOOM, ZOOM), np.uint8))
    return dict(prediction.top5), describe(prediction, only), seen


def read_drawn_character(predictor: Predictor, value, only: str | None = None):
    """Stroke JSON from the page or an API client -> read_character's outputs; an empty canvas gives
    the opening message, bad JSON a message for people."""
    try:
        image = render_drawing(parse_drawing(value, blank=START_MESSAGE), max_side=MAX_SIDE)
    except UnusableImage as problem:
        return None, str(problem), None
    except Exception:
        log.exception("could not read a drawing")
        return None, "Sorry, that drawing could not be read. Try drawing the character again.", None
    return read_character(predictor, image, only)


def reading_bar(top5: dict | None, verdict: str) -> str:
    """The verdict's first line and the runners-up, for the one-line bar above the canvas on a phone."""
    first = verdict.split("\n\n", 1)[0].removeprefix("## ")
    if not top5:
        return first
    others = " · ".join(f"{c} {percent(p)}" for c, p in list(top5.items())[1:3])
    return f"{first} · then {others}" if others else first


def example_rows(paths: list[str]) -> list[list[str]]:
    """[file, what is written] per example: `O_letters.png` is shown under "letters only"
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
LINE_START = "Write a word, a number or a postcode on the canvas, in separate characters."
LINE_UPLOAD = "Upload a photo or scan of one handwritten line."
BLANK_LINE = {"background": np.full((LINE_CANVAS[1], LINE_CANVAS[0], 3), 255, np.uint8), "layers": [],
              "composite": None}  # a blank sketchpad value of a line, as /read_line's clients send
BOX_COLOUR = (220, 40, 40)


def read_line(predictor: Predictor, value, only: str = ANY) -> tuple[str, str, np.ndarray | None, np.ndarray | None]:
    """A drawn or photographed line -> (text, each character's top-3 in words, the drawing with the
    characters' boxes, the 28x28 images the model saw in a row). Never raises: problems become messages."""
    try:
        if isinstance(value, UnusableImage):
            raise value
        reading = predictor.read_line(value, only=restriction(only))
        rgba = to_rgba(value, decode_side=LINE_MAX_SIDE)  # read once more, as segment did, to draw on
        drawing = ((rgba[:, :, :3] * rgba[:, :, 3:] + 1 - rgba[:, :, 3:]) * 255).astype(np.uint8)  # on white
    except UnusableImage as problem:
        return "", str(problem), None, None
    except Exception:
        log.exception("could not read a line")
        return "", "Sorry, that line could not be read. Try writing it again.", None, None
    return line_outputs(reading, drawing)


def read_line_of_strokes(predictor: Predictor, drawing: StrokeDrawing, image: np.ndarray, only: str | None):
    """The reading of a line drawn on the page, given as strokes and as their rendering. (Issue 19's
    Predictor.read_line_strokes, with strokes as the pieces, takes this place when merged.)"""
    return predictor.read_line(image, only=only)


def read_drawn_line(predictor: Predictor, value, only: str = ANY):
    """Stroke JSON of a line from the page or an API client -> read_line's outputs."""
    try:
        drawing = parse_drawing(value, blank=LINE_START)
        image = render_drawing(drawing)
        reading = read_line_of_strokes(predictor, drawing, image, restriction(only))
    except UnusableImage as problem:
        return "", str(problem), None, None
    except Exception:
        log.exception("could not read a drawn line")
        return "", "Sorry, that line could not be read. Try writing it again.", None, None
    return line_outputs(reading, cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))


def line_outputs(reading, drawing: np.ndarray) -> tuple[str, str, np.ndarray, np.ndarray]:
    """A LineReading and the RGB drawing it came from -> the line tab's four outputs."""
    rows = ["| # | reads | top 3 |", "| --- | --- | --- |"]
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


def build_line_tab(predictor: Predictor):
    """The 'Write a line' tab's layout and events, declared inside the tab's `with` block."""
    def read(strokes, only):
        return read_drawn_line(predictor, strokes, only)

    def read_sketch(sketch, only):
        return read_line(predictor, sketch, only)

    def read_upload(path, only):
        return read_line(predictor, path, only) if path else ("", LINE_UPLOAD, None, None)

    line_pad = stroke_canvas("line-sketchpad", "Write one line", LINE_CANVAS, LINE_BRUSHES, "line")
    with gr.Row():
        read_as = gr.Radio(WRITING_CHOICES, value=ANY, label="What are you writing?", elem_id="line-read-as",
                           scale=2)
        read_button = gr.Button("Read the line", variant="primary", min_width=100, scale=1)
    text = gr.Textbox(label="Text read", interactive=False, elem_id="line-text")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            boxes = gr.Image(label="The characters found", interactive=False, buttons=[], elem_id="line-boxes")
            seen = gr.Image(label="What the model saw, left to right (28x28 each, enlarged)", interactive=False,
                            buttons=[], elem_id="line-seen")
        with gr.Column(scale=1):
            details = gr.Markdown(LINE_START, elem_id="line-details")
            with gr.Accordion("Or a photo of one line", open=False):
                upload = forgiving(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                            height=200, label="One handwritten line"))
    # For API clients only: the same reading from stroke JSON, and from a sketchpad value as before.
    api_strokes = gr.JSON(visible=False)
    api_sketch = forgiving(gr.Sketchpad(visible=False, type="numpy", layers=False, transforms=(),
                                        canvas_size=LINE_CANVAS))

    outputs = [text, details, boxes, seen]
    line_pad.input(read, [line_pad, read_as], outputs, api_visibility="private", trigger_mode="always_last",
                   show_progress="hidden", concurrency_id="model")
    read_button.click(read, [line_pad, read_as], outputs, api_visibility="private", concurrency_id="model")
    read_as.change(read, [line_pad, read_as], outputs, api_visibility="private", concurrency_id="model")
    upload.change(read_upload, [upload, read_as], outputs, api_visibility="private", concurrency_id="model")
    api_strokes.change(read, [api_strokes, read_as], outputs, api_name="read_line_strokes", concurrency_id="model")
    api_sketch.change(read_sketch, [api_sketch, read_as], outputs, api_name="read_line", concurrency_id="model")


def build_character_tab(predictor: Predictor):
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
    writing = gr.Radio(WRITING_CHOICES, value=ANY, label="What are you writing?", render=False, elem_id="writing")
    shown_tab = gr.State("draw")  # which input "What are you writing?" re-reads
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=320):
            bar = gr.Markdown(START_MESSAGE, elem_id="reading-bar")  # shown on narrow screens only (page.css)
            with gr.Tab("Draw") as draw_tab:
                canvas = stroke_canvas("sketchpad", "Draw one character", (CANVAS, CANVAS), BRUSHES, "character")
            with gr.Tab("Photo or scan") as photo_tab:
                upload = forgiving(gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                            height=320, label="One handwritten character"))
                if EXAMPLES:
                    gr.Examples(example_rows(EXAMPLES), inputs=[upload, writing], label="Examples: click one")
            writing.render()
        with gr.Column(scale=1, min_width=320):
            verdict = gr.Markdown(START_MESSAGE, label="Reading", elem_id="verdict")
            top5 = gr.Label(num_top_classes=5, label="Top 5", elem_id="top5")
            model_view = gr.Image(label="What the model saw (28x28, enlarged)", interactive=False,
                                  height=300, buttons=[], elem_id="model-view")
    # For API clients only: stroke JSON, and a sketchpad value as before the stroke canvas.
    api_strokes = gr.JSON(visible=False)
    api_sketch = forgiving(gr.Sketchpad(visible=False, type="numpy", layers=False, transforms=(),
                                        canvas_size=(CANVAS, CANVAS)))

    outputs = [top5, verdict, model_view]
    # While one reading runs, only the latest drawing waits (the canvas sends while drawing, and after).
    canvas.input(read, [canvas, writing], [*outputs, bar], api_visibility="private", trigger_mode="always_last",
                 show_progress="hidden", concurrency_id="model")
    upload.change(read_upload, [upload, writing], [*outputs, bar], api_visibility="private", concurrency_id="model")
    writing.change(reread, [canvas, upload, writing, shown_tab], [*outputs, bar], api_visibility="private",
                   trigger_mode="always_last", show_progress="hidden", concurrency_id="model")
    draw_tab.select(lambda: "draw", None, shown_tab, api_visibility="private", queue=False)
    photo_tab.select(lambda: "photo", None, shown_tab, api_visibility="private", queue=False)
    # API clients that send only the drawing get the control's default (any character).
    api_strokes.change(read_strokes, [api_strokes, writing], outputs, api_name="read_strokes", concurrency_id="model")
    api_sketch.change(read_sketch, [api_sketch, writing], outputs, api_name="predict", concurrency_id="model")


def build_demo(predictor: Predictor) -> gr.Blocks:
    with gr.Blocks(title="EMNIST handwriting reader") as demo:
        gr.Markdown("# Handwriting reader\nDraw one digit or letter, or write a whole line; the EMNIST ByMerge "
                    "model reads it as you go, and shows the 28x28 images it actually saw.")
        with gr.Tab("One character"):
            build_character_tab(predictor)
        with gr.Tab("Write a line"):
            build_line_tab(predictor)
        with gr.Accordion("About the model", open=False):
            gr.Markdown(model_card(predictor.checkpoint))
    return demo


def serve(demo: gr.Blocks, **launch_options):
    """Launch with the page's CSS (Gradio 6 takes CSS at launch, not in Blocks) and the upload cap."""
    css = web_asset("canvas.css") + web_asset("page.css")
    return demo.launch(css=css, max_file_size=MAX_UPLOAD, **launch_options)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="The EMNIST handwriting demo (a Gradio app).")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="default: $GRADIO_SERVER_PORT or the first free from 7860")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument("--checkpoint", default=os.environ.get("EMNIST_CHECKPOINT", str(DEFAULT_CHECKPOINT)),
                        help="default: $EMNIST_CHECKPOINT or checkpoints/emnist_bymerge.pt")
    args = parser.parse_args(argv)
    # One small image per request: a second thread gains nothing on a whole drawing when idle and loses
    # badly on a busy machine (`python -m bench.latency`, README: Speed); the other cores serve other requests.
    torch.set_num_threads(1)
    try:
        predictor = Predictor(args.checkpoint)
    except CheckpointError as error:
        print(f"error: {error}\nTrain one with `python -m train --data-dir DIR --save-to "
              f"checkpoints/emnist_bymerge.pt`, or pass --checkpoint PATH.", file=sys.stderr)
        return 2
    # None leaves host and port to Gradio, which reads GRADIO_SERVER_NAME / GRADIO_SERVER_PORT.
    serve(build_demo(predictor), server_name=args.host, server_port=args.port, share=args.share or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
