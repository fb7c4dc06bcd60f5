"""Draw the demo's example inputs: hand-written pen paths, drawn as on the page's canvas.

    python -m examples.make_examples      # rewrites examples/*.png and examples/lines/*.png (a few KB in all)

Each character is a list of strokes, each stroke a list of (x, y) points on a 0..1 box with y
pointing down, written by hand; a few points per curve, rounded off by `smooth`. They are drawn as the
page draws them (its 400x400 canvas, its default brush, its renderer) and saved at SIDE pixels.

File names say what the page reads (tests/test_demo.py checks it with the shipped model):
`CHAR.png` reads as CHAR with "What are you writing?" left at any character, and
`CHAR_digits.png` / `CHAR_letters.png` read as CHAR under "digits only" / "letters only", which
the page sets when the example is clicked (demo.example_rows).
"""

from pathlib import Path

import numpy as np
from PIL import Image

from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, draw_strokes, drawing_from_strokes, render_drawing

HERE = Path(__file__).resolve().parent
SIDE = 200  # pixels: small files, still plenty for the 28x28 the model sees (the canvas scaled down, brush too)

ROUND_RING = [[(0.5, 0.08), (0.74, 0.15), (0.91, 0.33), (0.95, 0.56), (0.84, 0.78), (0.63, 0.9), (0.37, 0.9),
               (0.16, 0.78), (0.05, 0.56), (0.09, 0.33), (0.26, 0.15), (0.5, 0.08)]]



def oval(width: float, height: float, tilt: float, overlap: float = 0.1, points: int = 16) -> list[tuple[float, float]]:
    """An oval as a pen writes it: begun at the top, anticlockwise, closed with a little overlap, its
    long axis turned `tilt` radians (a hand's slant)."""
    t = np.linspace(0, 2 * np.pi * (1 + overlap), round(points * (1 + overlap)) + 1)
    x, y = -width / 2 * np.sin(t), -height / 2 * np.cos(t)
    return [(round(0.5 + np.cos(tilt) * a - np.sin(tilt) * b, 3), round(0.5 + np.sin(tilt) * a + np.cos(tilt) * b, 3))
            for a, b in zip(x, y)]


EXAMPLES = {
    "7": [[(0.22, 0.16), (0.78, 0.14), (0.62, 0.42), (0.48, 0.88)]],
    "A": [[(0.16, 0.9), (0.5, 0.1), (0.84, 0.9)], [(0.3, 0.6), (0.7, 0.6)]],
    "e": [[(0.2, 0.55), (0.8, 0.55), (0.78, 0.4), (0.66, 0.27), (0.5, 0.22), (0.33, 0.27), (0.22, 0.4),
           (0.2, 0.56), (0.24, 0.72), (0.35, 0.85), (0.5, 0.9), (0.67, 0.87), (0.8, 0.77)]],
    "3": [[(0.22, 0.2), (0.38, 0.1), (0.6, 0.1), (0.74, 0.2), (0.74, 0.35), (0.6, 0.46), (0.42, 0.48),
           (0.62, 0.52), (0.78, 0.64), (0.78, 0.8), (0.62, 0.92), (0.4, 0.92), (0.2, 0.82)]],
    "S": [[(0.75, 0.2), (0.5, 0.1), (0.28, 0.22), (0.3, 0.4), (0.7, 0.58), (0.72, 0.8), (0.5, 0.9), (0.25, 0.8)]],
    # A round ring: EMNIST writes 0 and O alike, so the page reads 0 and warns that it may be O (the
    # shipped model: 0 74%, O 18%); "letters only" settles it as O.
    "0": ROUND_RING,
    # A letter O: wider than tall and slanted, as O is written (the shipped model: O 53%, 0 33%, so
    # the 0/O warning shows too).
    "O": [oval(1.0, 0.6, tilt=0.3)],
}


def smooth(points: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: the polyline's corners become the round curves a pen makes."""
    for _ in range(rounds):
        if len(points) < 3:
            return points
        a, b = points[:-1], points[1:]
        cut = np.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], 1).reshape(-1, 2)
        points = np.vstack([points[:1], cut, points[-1:]])
    return points


# One written line for `python -m emnist_core.predict --line` (lines/, apart from the page's one-character
# examples): each letter's strokes on a box one letter-height tall (y 0 the top, 1 the baseline; small
# letters from X_TOP down), with its width in heights.
X_TOP = 0.4
LINE_LETTERS = {
    "H": (0.6, [[(0.05, 0.0), (0.05, 1.0)], [(0.6, 0.0), (0.6, 1.0)], [(0.05, 0.5), (0.6, 0.5)]]),
    "e": (0.5, [[(0.5 * x, X_TOP + (1 - X_TOP) * y) for x, y in EXAMPLES["e"][0]]]),
    "l": (0.2, [[(0.1, 0.0), (0.1, 0.85), (0.13, 0.95), (0.2, 1.0)]]),
    "o": (0.5, [[(0.5 * x, X_TOP + (1 - X_TOP) * y) for x, y in oval(0.9, 0.9, tilt=0.0)]]),
}
LINES = {"hello": "Hello"}  # file name (lines/NAME.png): what is written
LINE_HEIGHT, LINE_GAP, LINE_BRUSH, LINE_MARGIN = 150, 0.25, 5, 40  # pixels; the gap in letter heights


def write_line(text: str) -> np.ndarray:
    """`text` written with LINE_LETTERS, left to right, black on white."""
    strokes, x = [], LINE_MARGIN
    for char in text:
        width, letter = LINE_LETTERS[char]
        strokes += [smooth(np.array(stroke, np.float32) * LINE_HEIGHT + (x, LINE_MARGIN)) for stroke in letter]
        x += (width + LINE_GAP) * LINE_HEIGHT
    image = np.full((LINE_HEIGHT + 2 * LINE_MARGIN, round(x - LINE_GAP * LINE_HEIGHT) + LINE_MARGIN), 255, np.uint8)
    return draw_strokes(image, strokes, LINE_BRUSH)


def main() -> None:
    for name, strokes in EXAMPLES.items():
        arrays = [smooth(np.array(stroke, np.float32)) for stroke in strokes]
        drawing = drawing_from_strokes(arrays, CHARACTER_CANVAS, CHARACTER_BRUSHES[1], char_size=0.7)
        image = render_drawing(drawing, max_side=SIDE)
        Image.fromarray(image).save(HERE / f"{name}.png", optimize=True)
    (HERE / "lines").mkdir(exist_ok=True)
    for name, text in LINES.items():
        Image.fromarray(write_line(text)).save(HERE / "lines" / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
