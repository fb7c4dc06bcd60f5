"""Helpers that several test files use (their fixtures live in conftest.py): inputs drawn as the page
draws them, images and lines as a photo gives them, small training runs, the checkpoint or a skip, a
free port. A test file imports these from here, never from another test file or from bench/.
"""

import contextlib
import io
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.strokes import (CHARACTER_BRUSHES, CHARACTER_CANVAS, StrokeDrawing, drawing_from_strokes,
                                 render_drawing)

SEVEN = [np.array([(0.22, 0.16), (0.78, 0.14), (0.62, 0.42), (0.48, 0.88)], np.float32)]  # one stroke


def checkpoint_or_skip() -> Path:
    """$EMNIST_CHECKPOINT if set, else the shipped checkpoint; the test skips, saying why, without it."""
    path = Path(os.environ.get("EMNIST_CHECKPOINT", DEFAULT_CHECKPOINT))
    if not path.is_file():
        pytest.skip(f"no checkpoint at {path}: train one (python -m train --data-dir DIR --save-to "
                    f"{DEFAULT_CHECKPOINT}) or set EMNIST_CHECKPOINT")
    return path


def page_image(strokes, brush: float = CHARACTER_BRUSHES[1], canvas: int = CHARACTER_CANVAS,
               char_size: float = 0.6) -> np.ndarray:
    """Strokes (lists of (x, y), any units, y down) drawn as the page draws them: fitted onto its canvas,
    its round brush, its renderer (strokes.render_drawing); black on white uint8."""
    arrays = [np.asarray(s, np.float32) for s in strokes]
    return render_drawing(drawing_from_strokes(arrays, canvas, brush, char_size))


def sketch_value(ink: np.ndarray) -> dict:
    """What the sketchpad sends for black strokes drawn on its white background (type="numpy", RGBA)."""
    alpha = 255 - ink  # ink: black-on-white grey image
    layer = np.dstack([np.zeros_like(ink)] * 3 + [alpha])  # black strokes on a transparent layer
    background = np.full(ink.shape + (3,), 255, np.uint8)
    composite = np.dstack([ink, ink, ink, np.full_like(ink, 255)])
    return {"background": background, "layers": [layer], "composite": composite}


def save_png(array: np.ndarray, path: Path) -> str:
    Image.fromarray(array).save(path)
    return str(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(predictor):
    """The page for `predictor`, launched in this process on a free local port: its URL, closed after."""
    import demo
    blocks = demo.build_demo(predictor)
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield blocks.local_url
    finally:
        blocks.close()


# ---- images as a photo or scan gives them (OpenCV lines on paper), and lines of characters ---------

def draw(strokes, canvas=400, width=16, ink=0, paper=255):
    """Polylines given in canvas fractions -> uint8 grey image."""
    image = np.full((canvas, canvas), paper, np.uint8)
    for line in strokes:
        pts = (np.array(line, np.float32) * canvas).astype(np.int32)
        cv2.polylines(image, [pts], False, int(ink), width, cv2.LINE_AA)
    return image


# An upright "L": a tall bar on the left, a short foot at the bottom. (x, y) in canvas fractions.
L_SHAPE = [[(0.35, 0.2), (0.35, 0.8), (0.65, 0.8)]]


# Characters as polylines in a box one unit high and `width` wide; x in widths, y down in heights.
# Pieces that do not touch stay apart on purpose (the brush is 0.1 high, the gaps are wider), but
# nearer each other than close characters are (about 0.02 of the height, as pen lifts leave them).
LINE_GLYPHS = {
    "i": (0.3, [[(0.5, 0.42), (0.5, 1.0)], [(0.5, 0.14), (0.52, 0.16)]]),  # a dot above the stem
    "j": (0.45, [[(0.7, 0.42), (0.7, 1.0), (0.1, 0.95)], [(0.7, 0.14), (0.72, 0.16)]]),
    "E": (0.6, [[(0.1, 0.0), (0.1, 1.0)], [(0.3, 0.0), (0.95, 0.0)], [(0.3, 0.5), (0.85, 0.5)],
                [(0.3, 1.0), (0.95, 1.0)]]),
    "F": (0.6, [[(0.1, 0.0), (0.1, 1.0)], [(0.3, 0.0), (0.95, 0.0)], [(0.3, 0.5), (0.85, 0.5)]]),
    "H": (0.7, [[(0.08, 0.0), (0.08, 1.0)], [(0.25, 0.5), (0.75, 0.5)], [(0.92, 0.0), (0.92, 1.0)]]),
    "k": (0.6, [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.35), (0.3, 0.65), (0.9, 1.0)]]),
    "t": (0.5, [[(0.5, 0.0), (0.5, 1.0)], [(0.1, 0.3), (0.9, 0.3)]]),
    "x": (0.7, [[(0.05, 0.3), (0.95, 1.0)], [(0.95, 0.3), (0.05, 1.0)]]),
    "4": (0.7, [[(0.6, 0.0), (0.0, 0.65), (1.0, 0.65)], [(0.72, 0.3), (0.72, 1.0)]]),
    "5": (0.6, [[(0.3, 0.0), (0.95, 0.0)], [(0.25, 0.15), (0.2, 0.45), (0.8, 0.55), (0.75, 0.95), (0.1, 0.9)]]),
    "7": (0.6, [[(0.0, 0.0), (1.0, 0.0), (0.4, 1.0)]]),
    "1": (0.3, [[(0.2, 0.15), (0.6, 0.0), (0.6, 1.0)]]),
    "L": (0.5, [[(0.1, 0.0), (0.1, 1.0), (0.9, 1.0)]]),
}


def write_line(text: str, height: int = 80, gap: float = 0.3, brush: float = 0.1,
               touching: str = "", strokes: list | None = None) -> tuple[np.ndarray, list[int]]:
    """Black-on-white line of `text` (spaces: a wider gap); the pairs in `touching` are joined by a
    stroke across the gap, as a pen that did not lift. Returns the image and each character's left edge;
    the strokes drawn are appended to `strokes` when given (the line as the page's canvas would send it)."""
    margin = height // 2
    widths = [LINE_GLYPHS[c][0] * height if c != "0" else 0.8 * height for c in text if c != " "]
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
                ends = [(int(x - 0.1 * height), y), (int(x + gap * height + 0.1 * height), y)]
                cv2.line(image, ends[0], ends[1], 0, thickness, cv2.LINE_AA)
                if strokes is not None:
                    strokes.append(np.array(ends, np.float32))
            x += gap * height
        lefts.append(int(x))
        if c == "0":  # a wide ring: touching pairs of these are what the cutter must split
            centre = (int(x + 0.4 * height), margin + height // 2)
            cv2.ellipse(image, centre, (int(0.35 * height), int(0.45 * height)), 0, 0, 360, 0, thickness, cv2.LINE_AA)
            if strokes is not None:
                strokes.append(cv2.ellipse2Poly(centre, (int(0.35 * height), int(0.45 * height)), 0, 0, 360, 10
                                                ).astype(np.float32))
            x += 0.8 * height
        else:
            width, glyph = LINE_GLYPHS[c]
            for stroke in glyph:
                pts = np.array([(x + px * width * height, margin + py * height) for px, py in stroke], np.int32)
                cv2.polylines(image, [pts], False, 0, thickness, cv2.LINE_AA)
                if strokes is not None:
                    strokes.append(pts.astype(np.float32))
            x += width * height
        previous = c
    return image, lefts


def as_drawing(text: str, **kwargs) -> tuple[StrokeDrawing, list[int]]:
    """The line of write_line as the strokes that drew it, with the brush it was drawn with."""
    strokes = []
    image, lefts = write_line(text, strokes=strokes, **kwargs)
    height = kwargs.get("height", 80)
    brush = max(1, round(kwargs.get("brush", 0.1) * height)) / 2
    return StrokeDrawing(image.shape[1], image.shape[0], brush, tuple(strokes)), lefts


# ---- small training runs on the glyph fixture (conftest.glyph_dataset) ------------------------------

EPOCHS = 3
VAL_FRACTION = 0.2  # 300 of the fixture's 1500 training images
PEAK_LR = 2e-3


def train_args(data_dir, out, *extra) -> list[str]:
    """Flags of a small run: 1200 training images in batches of 64 are 18 steps an epoch."""
    return ["--data-dir", str(data_dir), "--out", str(out), "--epochs", str(EPOCHS), "--batch-size", "64",
            "--budget-minutes", "5", "--no-progress", "--widths", "8", "16", "--convs", "1", "1",
            "--val-fraction", str(VAL_FRACTION), "--lr", str(PEAK_LR), "--eval-every", "18", *extra]


@dataclass
class Run:
    rc: int
    out: Path
    stdout: str
    stderr: str

    @property
    def metrics(self) -> dict:
        return json.loads((self.out / "metrics.json").read_text())


def run_training(argv) -> Run:
    """`python -m train ARGV` in this process, its output captured."""
    from train import train as train_module

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = train_module.main(argv)
    return Run(rc, Path(argv[argv.index("--out") + 1]), stdout.getvalue(), stderr.getvalue())


# ---- characters as a pen draws them, generated: the browser tests need no stroke files ---------------

def _arc(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int = 24) -> list:
    """Points along an ellipse from angle `start` to `stop` (degrees, y down: 90 is straight down)."""
    t = np.radians(np.linspace(start, stop, n))
    return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in t]


# Each character: (its width, its strokes), in units of the letter height: y 0 at the top of a tall
# letter, 1 on the baseline, small letters from 0.4. Each reads as itself with the shipped model on the
# page's canvas with any of its brushes (a lowercase c, o, s, u, w as their capitals, ByMerge's classes;
# o as 0 unless letters only), and the words below read right on the line canvas (tests/test_browser.py).
PEN_GLYPHS = {
    "7": (0.6, [[(0.0, 0.02), (0.6, 0.0), (0.4, 0.45), (0.25, 1.0)]]),
    "K": (0.6, [[(0.05, 0.0), (0.05, 1.0)], [(0.6, 0.0), (0.08, 0.55), (0.6, 1.0)]]),
    "w": (0.8, [[(0.0, 0.4), (0.2, 1.0), (0.4, 0.55), (0.6, 1.0), (0.8, 0.4)]]),  # one stroke
    "o": (0.55, [_arc(0.275, 0.7, 0.275, 0.3, -90, 270, 40)]),
    "c": (0.5, [_arc(0.28, 0.7, 0.26, 0.3, -40, -320, 30)]),
    "a": (0.55, [_arc(0.27, 0.7, 0.25, 0.29, -30, -360, 30), [(0.52, 0.42), (0.52, 1.0)]]),
    "t": (0.45, [[(0.2, 0.05), (0.2, 0.95), (0.3, 1.0), (0.42, 0.95)], [(0.0, 0.42), (0.42, 0.42)]]),
    "h": (0.55, [[(0.05, 0.0), (0.05, 1.0)], [(0.05, 0.62)] + _arc(0.28, 0.65, 0.23, 0.22, 180, 360, 12)[1:]
                 + [(0.51, 1.0)]]),
    "u": (0.55, [[(0.03, 0.42)] + _arc(0.27, 0.75, 0.24, 0.25, 180, 0, 14) + [(0.52, 0.42), (0.52, 1.0)]]),
    "s": (0.45, [_arc(0.22, 0.55, 0.2, 0.14, -20, -270, 14) + _arc(0.22, 0.84, 0.2, 0.15, -90, 160, 14)]),
    "e": (0.55, [[(0.03, 0.7), (0.52, 0.7)] + _arc(0.275, 0.7, 0.25, 0.28, 0, -300, 28)]),
}


def pen_strokes(char: str) -> list[np.ndarray]:
    """One generated character's strokes (PEN_GLYPHS), (K, 2) float32 each, y down."""
    return [np.array(stroke, np.float32) for stroke in PEN_GLYPHS[char][1]]


def word_strokes(word: str, height: float, gap: float, left: float = 0.0, top: float = 0.0) -> list[np.ndarray]:
    """A word of generated characters side by side, `height` pixels tall, `gap` letter heights apart,
    its top-left corner at (left, top)."""
    strokes, x = [], left
    for c in word:
        width, _ = PEN_GLYPHS[c]
        strokes += [s * height + np.array([x, top], np.float32) for s in pen_strokes(c)]
        x += (width + gap) * height
    return strokes


def char_accuracy(truth: str, read: str) -> float:
    """1 - edit distance / length, case-insensitive (as bench/line_reading.py counts characters)."""
    a, b = truth.lower(), read.lower()
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return max(0.0, 1.0 - row[-1] / len(a))


# ---- corrections store rows ----------------------------------------------------------------------------

SHA = "0" * 64  # a checkpoint hash for rows whose checkpoint file does not matter
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


def glyph(seed: int) -> np.ndarray:
    """A 28x28 uint8 model input with some ink, different per seed (the seed's bits in the last row: the
    store keeps a repeated drawing only once)."""
    image = np.zeros((28, 28), np.uint8)
    rng = np.random.default_rng(seed)
    image[rng.integers(4, 12):rng.integers(16, 24), rng.integers(4, 12):rng.integers(16, 24)] = 255
    image[27, :24] = [255 * (seed >> bit & 1) for bit in range(24)]
    return image


def add(store, seed: int, meant: str = "a", drawing=PNG) -> int:
    """One correction of glyph(seed) in a CorrectionStore; its id."""
    return store.add(glyph(seed), drawing, meant, "o", "checkpoints/x.pt", SHA)
