"""Online stroke files (Omniglot's `x,y,t` rows, START/BREAK) and their replay as a drawing.

Used to score the drawing pipeline on real pen paths and to drive the browser test: the same
strokes a person drew, at the brush sizes and character sizes the sketchpad sees.
"""

from pathlib import Path

import cv2
import numpy as np


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


def render_strokes(strokes: list[np.ndarray], canvas: int = 800, brush_radius: float = 12,
                   char_size: float = 0.6, centre: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """Black anti-aliased round-brush lines on a white (canvas x canvas) uint8 image."""
    image = np.full((canvas, canvas), 255, np.uint8)
    draw_strokes(image, fit_strokes(strokes, canvas, char_size, centre), brush_radius)
    return image


def draw_strokes(image: np.ndarray, strokes: list[np.ndarray], brush_radius: float) -> np.ndarray:
    """Strokes already in `image`'s pixel coordinates drawn on it in black with a round brush."""
    shift = 4  # sub-pixel precision for OpenCV's drawing
    thickness = max(1, round(2 * brush_radius))
    for stroke in strokes:
        pts = np.round(stroke * (1 << shift)).astype(np.int32)
        if len(pts) == 1:
            cv2.circle(image, tuple(pts[0]), round(brush_radius * (1 << shift)), 0, -1, cv2.LINE_AA, shift)
        else:
            cv2.polylines(image, [pts], False, 0, thickness, cv2.LINE_AA, shift)
    return image
