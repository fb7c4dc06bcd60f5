"""Strokes, the one home for them: the page's stroke JSON validated and rendered as the writer saw it,
and online stroke files (Omniglot's `x,y,t` rows, START/BREAK) replayed as a drawing.

The page's canvas sends {"width": W, "height": H, "brush": R, "strokes": [[[x, y], ...], ...]} in canvas
pixels (y down, R the brush radius); `parse_drawing` checks it and `render_drawing` draws it black on
white with the same round brush. Stroke files score the drawing pipeline on real pen paths and drive
the browser tests: the same strokes a person drew, at the sizes the page sees.
"""

import json
import math
from itertools import chain
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

try:  # Gradio's own dependency, so always there beside the page; 4-5x faster than json on 20,000 points
    import orjson
except ImportError:  # emnist_core alone: the standard library's parser, the same answers
    orjson = None

from .preprocess import MAX_SIDE, NOTHING_DRAWN, UnusableImage, emnist_from_ink

# Bounds on one drawing, so the largest accepted costs a few ms (`python -m bench.canvas_latency --server`).
SIDE_RANGE = (16, 1024)  # canvas width and height in pixels; the page's are 400x400 and 1000x300
BRUSH_RANGE = (0.5, 40.0)  # brush radius in canvas pixels; the page's largest is 24
MAX_STROKES = 200
MAX_POINTS = 20_000  # in all strokes together
MAX_LENGTH_SIDES = 100  # all strokes together at most this many canvas sides long: scribbling the page full
MAX_JSON_CHARS = 1_000_000  # 20,000 points written out with long decimals fit well inside
MAX_KEYS = 16  # strings in a text orjson parses (a drawing has 4 keys; more go to json, whatever they are)
MAX_FAST_DEPTH = 16  # orjson parses only texts nested at most this deep (a drawing is 4): it overflows the
# stack on deep nesting (a crash at ~150,000 levels) where json raises RecursionError
CHARACTER_CANVAS = 400  # the page's character canvas, square, in canvas pixels
CHARACTER_BRUSHES = (10, 16, 24)  # its three brush radii; 16 (CANVAS / 25) is the page's default
OUTSIDE = 1.0  # points may lie up to this many canvas sides outside it (a stroke that left the edge)


@dataclass(frozen=True, eq=False)
class StrokeDrawing:
    """A drawing from the page: strokes of (x, y) points in canvas pixels, drawn with one round brush."""
    width: int
    height: int
    brush: float  # radius in pixels
    strokes: tuple[np.ndarray, ...]  # each (K, 2) float32, K >= 1; one point is a dot

    def to_json(self) -> dict:
        """The validated drawing as stroke JSON again (what parse_drawing takes): what a store keeps."""
        return {"width": self.width, "height": self.height, "brush": self.brush,
                # rounded as float64: float32's 200.1 is 200.10000610351562 once it is a Python float
                "strokes": [np.round(s.astype(np.float64), 2).tolist() for s in self.strokes]}


def parse_drawing(value, blank: str = NOTHING_DRAWN) -> StrokeDrawing:
    """Stroke JSON (a dict, or a JSON string of one) -> StrokeDrawing. Raises UnusableImage with a message
    for people for anything else; `blank` is the message for a drawing with no points at all."""
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_JSON_CHARS:
            raise UnusableImage(f"The drawing is too large to read (over {MAX_JSON_CHARS:,} characters of JSON).")
        if not value.strip():
            raise UnusableImage(blank)
        try:
            value = _loads(value)
        except (ValueError, RecursionError):
            raise UnusableImage("The drawing is not valid JSON: send {\"width\", \"height\", \"brush\", "
                                "\"strokes\"}.") from None
    if value is None:
        raise UnusableImage(blank)
    if not isinstance(value, dict):
        raise UnusableImage(f"A drawing is a JSON object with width, height, brush and strokes, not a "
                            f"{type(value).__name__}.")
    width, height, brush = value.get("width"), value.get("height"), value.get("brush")
    for name, side in (("width", width), ("height", height)):
        if type(side) is float and side.is_integer():
            side = int(side)
        if type(side) is not int or not SIDE_RANGE[0] <= side <= SIDE_RANGE[1]:
            raise UnusableImage(f"The drawing's {name} must be a whole number of pixels from {SIDE_RANGE[0]} "
                                f"to {SIDE_RANGE[1]}; got {side!r:.40}.")
    width, height = int(width), int(height)
    if type(brush) not in (int, float) or not BRUSH_RANGE[0] <= brush <= BRUSH_RANGE[1]:  # NaN fails the range too
        raise UnusableImage(f"The brush radius must be a number from {BRUSH_RANGE[0]} to {BRUSH_RANGE[1]} "
                            f"pixels; got {brush!r:.40}.")
    strokes = value.get("strokes")
    if not isinstance(strokes, list):
        raise UnusableImage("The drawing's strokes must be a list of strokes, each a list of [x, y] points.")
    if len(strokes) > MAX_STROKES:
        raise UnusableImage(f"Too many strokes ({len(strokes)}): at most {MAX_STROKES} are read.")
    if not all(isinstance(stroke, list) for stroke in strokes):
        raise UnusableImage("Each stroke must be a list of [x, y] points.")
    total = sum(len(stroke) for stroke in strokes)
    if total > MAX_POINTS:
        raise UnusableImage(f"Too many points ({total:,}): at most {MAX_POINTS:,} are read.")
    strokes = [stroke for stroke in strokes if stroke]  # an empty stroke draws nothing
    if not strokes:
        raise UnusableImage(blank)
    points = _points(list(chain.from_iterable(strokes)))
    if points is None:
        raise UnusableImage("Each point must be [x, y], two numbers in canvas pixels.")
    points = points.astype(np.float64)
    if not np.isfinite(points).all():
        raise UnusableImage("A point is not a finite number (NaN or infinity).")
    size = np.array([width, height])
    if (points < -OUTSIDE * size).any() or (points > (1 + OUTSIDE) * size).any():
        raise UnusableImage(f"A point lies far outside the {width}x{height} canvas.")
    starts = np.cumsum([len(stroke) for stroke in strokes])[:-1]
    steps = np.hypot(*np.diff(points, axis=0).T)
    steps[starts - 1] = 0  # no ink between one stroke's end and the next one's start
    length = float(steps.sum())
    if length > MAX_LENGTH_SIDES * max(width, height):
        raise UnusableImage(f"Too much ink for one drawing: the strokes are over {MAX_LENGTH_SIDES} times "
                            f"as long as the canvas is wide. Clear it and write again.")
    return StrokeDrawing(width, height, float(brush), tuple(np.split(points.astype(np.float32), starts)))


def _points(points: list) -> np.ndarray | None:
    """[[x, y], ...] -> (N, 2) numeric array, or None unless every point is a list (or tuple) of two numbers.
    The coordinates go to numpy as one flat list, a third of the time of the nested lists (20,000 points)."""
    if not set(map(type, points)) <= {list, tuple} or set(map(len, points)) != {2}:
        return None
    try:  # numbers only give a numeric array (strings, None, big ints, nested lists do not)
        flat = np.array(list(chain.from_iterable(points)))
    except (ValueError, TypeError, OverflowError):
        return None
    return flat.reshape(-1, 2) if flat.dtype.kind in "iuf" and flat.ndim == 1 else None


def _loads(text: str | bytes):
    """json.loads, by orjson where it is safe: a text it can parse, never nested deeper than MAX_FAST_DEPTH.
    Anything orjson refuses (NaN, a lone surrogate, a huge integer, bad JSON) goes to json.loads, so the
    answer (a value, or ValueError / RecursionError) is json's own."""
    if orjson is not None and _shallow(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def _shallow(text: str | bytes) -> bool:
    """Whether `text`, read as JSON, never nests deeper than MAX_FAST_DEPTH. Brackets are counted outside
    strings, found by their quotes; a text with a backslash, or with more strings than a drawing's few
    keys, or with a number of 19 digits or more, is not counted at all (False: json reads it)."""
    try:
        data = text.encode() if isinstance(text, str) else bytes(text)
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8, json's to judge
        return False
    quotes = data.count(b'"')
    if b"\\" in data or quotes % 2 or quotes > 2 * MAX_KEYS or b"0" * 19 in data.translate(_DIGITS):
        return False
    brackets = b"".join(data.split(b'"')[::2]).translate(None, _NOT_BRACKETS)  # those outside strings
    steps = _DEPTH_STEPS[np.frombuffer(brackets, np.uint8)]
    # Up to any point a parser reaches without an error, its depth is the running sum of the steps; the
    # sum moves by one at a time, so in int8 it cannot wrap past MAX_FAST_DEPTH without reaching it.
    return int(np.cumsum(steps, dtype=np.int8).max(initial=0)) <= MAX_FAST_DEPTH


# Every digit as "0", all else as " ": 19 digits in a row may be an integer beyond 64 bits, which orjson makes a float.
_DIGITS = bytes(ord("0") if chr(c).isdigit() and c < 128 else ord(" ") for c in range(256))
_NOT_BRACKETS = bytes(c for c in range(256) if chr(c) not in "[]{}")
_DEPTH_STEPS = np.zeros(256, np.int8)
_DEPTH_STEPS[[ord("["), ord("{")]] = 1
_DEPTH_STEPS[[ord("]"), ord("}")]] = -1


def render_drawing(drawing: StrokeDrawing, max_side: int | None = None) -> np.ndarray:
    """(height, width) uint8, black strokes on white, with the round brush the page drew them with;
    with `max_side`, scaled down (strokes and brush alike) so the long side is at most that: one
    character is shrunk to preprocess.MAX_SIDE anyway, so rendering it larger is wasted work.

    Work grows with the canvas and the strokes' length, never with the brush: the strokes' centre lines
    are drawn one pixel wide, and every pixel within the brush radius of them is inked (a distance
    transform), with a one-pixel soft edge as the browser's anti-aliasing gives. OpenCV's own thick
    round-capped lines cost a brush-sized disc per point, far too much for 20,000 points."""
    scale = min(1.0, max_side / max(drawing.width, drawing.height)) if max_side else 1.0
    h, w = max(1, round(drawing.height * scale)), max(1, round(drawing.width * scale))
    brush = drawing.brush * scale
    pad = math.ceil(brush) + 2  # strokes just outside the canvas still ink its edge
    centre = _centre_lines(drawing, np.full((h + 2 * pad, w + 2 * pad), 255, np.uint8), scale, pad, lambda _: 0)
    distance = cv2.distanceTransform(centre, cv2.DIST_L2, cv2.DIST_MASK_5)[pad:pad + h, pad:pad + w]
    ink = np.clip(brush + 0.5 - distance, 0, 1)
    return np.round(255 * (1 - ink)).astype(np.uint8)


def ink_from_drawing(drawing: StrokeDrawing, max_side: int | None = MAX_SIDE) -> np.ndarray:
    """(height, width) float32 in 0..1: the ink the brush laid, exactly as render_drawing computes it.
    A drawing's ink is known: the preprocessing takes it as it is, not recovered from a paper image."""
    return (1.0 - render_drawing(drawing, max_side).astype(np.float32) / 255.0)


def emnist_from_drawing(drawing: StrokeDrawing) -> np.ndarray:
    """A drawing -> (28, 28) uint8 upright character, as the model sees it: the one path from strokes to
    the model, for the page, the API, the benches and training (UNIPEN strokes are drawings too)."""
    return emnist_from_ink(ink_from_drawing(drawing))


def _centre_lines(drawing: StrokeDrawing, canvas: np.ndarray, scale: float, pad: int, value) -> np.ndarray:
    """Each stroke's centre line, one pixel wide, drawn on `canvas` (scaled, shifted by `pad`) in the
    value `value(k)` for stroke k: what render_drawing and stroke_map both start from."""
    shift = 4  # sub-pixel precision for OpenCV's drawing
    for k, stroke in enumerate(drawing.strokes):
        # A canvas pixel's centre is at +0.5 (the browser's convention), OpenCV's at its index: without
        # the half-pixel shift a dot at (1.5, 1.5) was drawn on pixel (2, 2), and a thin brush missed it.
        pts = np.round((stroke * scale - 0.5 + pad) * (1 << shift)).astype(np.int32)
        if len(pts) == 1:
            pts = np.repeat(pts, 2, axis=0)  # a dot: OpenCV draws nothing for a one-point polyline
        cv2.polylines(canvas, [pts], False, value(k), 1, cv2.LINE_8, shift)
    return canvas


def stroke_map(drawing: StrokeDrawing, shape: tuple[int, int]) -> np.ndarray:
    """(height, width) int32: for each pixel of the drawing rendered at `shape` (render_drawing with a
    max_side), the number (1, 2, ...) of the stroke whose centre line is nearest: whose ink it is."""
    h, w = shape
    scale = h / drawing.height
    pad = math.ceil(drawing.brush * scale) + 2
    owner = _centre_lines(drawing, np.zeros((h + 2 * pad, w + 2 * pad), np.uint16), scale, pad, lambda k: k + 1)
    _, nearest = cv2.distanceTransformWithLabels((owner == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    centre = owner > 0
    lookup = np.zeros(nearest.max() + 1, np.int32)
    lookup[nearest[centre]] = owner[centre]  # each centre-line pixel is its own label
    return lookup[nearest][pad:pad + h, pad:pad + w]


def read_strokes(path: str | Path) -> list[np.ndarray]:
    """Strokes as (K, 2) float arrays of (x, y) with y pointing down, in the file's units."""
    strokes, current = [], []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line in ("START", "BREAK") or not line:
            if current:
                strokes.append(np.array(current, np.float32))
            current = []
            continue
        x, y = (float(v) for v in line.split(",")[:2])
        current.append((x, -y))  # the file's y points up; image rows point down
    if current:
        strokes.append(np.array(current, np.float32))
    if not strokes:
        raise ValueError(f"{path}: no strokes")
    return strokes


def fit_strokes(strokes: list[np.ndarray], canvas: int, char_size: float,
                centre: tuple[float, float] = (0.5, 0.5)) -> list[np.ndarray]:
    """Scale and move strokes so their long side is `char_size` of the canvas, centred at `centre`."""
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    scale = char_size * canvas / max(float((high - low).max()), 1e-6)
    middle = (low + high) / 2
    target = np.array(centre, np.float32) * canvas
    return [(s - middle) * scale + target for s in strokes]


def drawing_from_strokes(strokes: list[np.ndarray], canvas: int = CHARACTER_CANVAS,
                         brush: float = CHARACTER_BRUSHES[1],
                         char_size: float = 0.6, centre: tuple[float, float] = (0.5, 0.5)) -> StrokeDrawing:
    """Pen strokes in any units (y down) as a drawing on the page's square canvas: the long side
    `char_size` of it, centred at `centre`, drawn with the brush of radius `brush` canvas pixels."""
    fitted = fit_strokes(strokes, canvas, char_size, centre)
    return StrokeDrawing(canvas, canvas, float(brush), tuple(s.astype(np.float32) for s in fitted))


def draw_strokes(image: np.ndarray, strokes: list[np.ndarray], brush_radius: float) -> np.ndarray:
    """Strokes already in `image`'s pixel coordinates drawn on it in black with a round brush (OpenCV's
    polylines). Not the page's brush (render_drawing): only bench/line_reading.py draws with it, whose
    touching rows depend on it (docs/RESULTS.md, real drawings)."""
    shift = 4  # sub-pixel precision for OpenCV's drawing
    thickness = max(1, round(2 * brush_radius))
    for stroke in strokes:
        pts = np.round(stroke * (1 << shift)).astype(np.int32)
        if len(pts) == 1:  # a dot: the brush's disc, as the canvas draws a tap
            centre = (int(pts[0][0]), int(pts[0][1]))
            cv2.circle(image, centre, max(1, round(brush_radius * (1 << shift))), 0, -1, cv2.LINE_AA, shift)
        else:
            cv2.polylines(image, [pts], False, 0, thickness, cv2.LINE_AA, shift)
    return image


TRAJECTORY_POINTS = 64  # points a character's pen path is resampled to, for the stroke model
TRAJECTORY_CHANNELS = 6  # x, y, dx, dy, a stroke starts, a stroke ends


def strokes_in_box(strokes, box) -> list[np.ndarray]:
    """The runs of each stroke's points inside `box` (x0, y0, x1, y1; x1 and y1 exclusive), in the order
    written: a character's own strokes, where a line's segmentation gives its box."""
    x0, y0, x1, y1 = box
    runs = []
    for stroke in strokes:
        stroke = np.asarray(stroke)
        x, y = stroke[:, 0], stroke[:, 1]
        inside = np.flatnonzero((x >= x0) & (x < x1) & (y >= y0) & (y < y1))
        if len(inside):
            runs += [stroke[run] for run in np.split(inside, np.flatnonzero(np.diff(inside) > 1) + 1)]
    return runs


def trajectory(strokes) -> np.ndarray:
    """A character's strokes (any units, y down; a StrokeDrawing's, or UNIPEN's) -> (6, 64) float32: the
    pen's path as the stroke model reads it. The strokes are centred on their box and scaled by its long
    side; each stroke gets one point plus a share of the rest by its length, spaced evenly along it, in the
    order written (points where the pen did not move dropped). Channels: x, y; the pen's direction (dx, dy per unit of path, 0 at a stroke's last point);
    1 where a stroke starts; 1 where it ends. A stroke of one point (or no length) is a dot: its points at
    its mean. With more than 32 strokes the 32 longest are kept, in order. Computed in float64, so
    web/reader/trajectory.js gives the same numbers."""
    n = TRAJECTORY_POINTS
    strokes = [np.asarray(s, np.float64) for s in strokes if len(s)]
    if not strokes:
        raise ValueError("no points")
    # a point where the pen did not move adds nothing to the path (and would give np.interp equal breakpoints)
    strokes = [s[np.concatenate([[True], (s[1:] != s[:-1]).any(1)])] for s in strokes]
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    size = max(float((high - low).max()), 1e-6)
    strokes = [(s - (low + high) / 2) / size for s in strokes]
    lengths = np.array([float(np.hypot(*np.diff(s, axis=0).T).sum()) if len(s) > 1 else 0.0 for s in strokes])
    if len(strokes) > n // 2:
        keep = np.sort(np.argsort(-lengths, kind="stable")[:n // 2])
        strokes, lengths = [strokes[i] for i in keep], lengths[keep]
    rest, total = n - len(strokes), float(lengths.sum())
    share = lengths / total * rest if total > 0 else np.full(len(strokes), rest / len(strokes))
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(-(share - counts), kind="stable")[:rest - int(counts.sum())]] += 1
    counts += 1
    out = np.zeros((TRAJECTORY_CHANNELS, n), np.float64)
    k = 0
    for stroke, count, length in zip(strokes, counts, lengths):
        if length > 0:
            along = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(stroke, axis=0).T))])
            at = np.linspace(0.0, length, count) if count > 1 else np.array([length / 2])
            x, y = np.interp(at, along, stroke[:, 0]), np.interp(at, along, stroke[:, 1])
        else:
            x, y = np.full(count, stroke[:, 0].mean()), np.full(count, stroke[:, 1].mean())
        out[0, k:k + count], out[1, k:k + count] = x, y
        if count > 1:
            step = (count - 1) / max(length, 1e-6)
            out[2, k:k + count - 1], out[3, k:k + count - 1] = np.diff(x) * step, np.diff(y) * step
        out[4, k], out[5, k + count - 1] = 1.0, 1.0
        k += count
    return out.astype(np.float32)
