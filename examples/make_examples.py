"""Draw the demo's example inputs: hand-written pen paths, drawn as on the page's canvas.

    python -m examples.make_examples      # rewrites examples/*.png (a few KB in all)

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

from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, drawing_from_strokes, render_drawing

HERE = Path(__file__).resolve().parent
SIDE = 200  # pixels: small files, still plenty for the 28x28 the model sees (the canvas scaled down, brush too)

ROUND_RING = [[(0.5, 0.08), (0.74, 0.15), (0.91, 0.33), (0.95, 0.56), (0.84, 0.78), (0.63, 0.9), (0.37, 0.9),
               (0.16, 0.78), (0.05, 0.56), (0.09, 0.33), (0.26, 0.15), (0.5, 0.08)]]

EXAMPLES = {
    "7": [[(0.22, 0.16), (0.78, 0.14), (0.62, 0.42), (0.48, 0.88)]],
    "A": [[(0.16, 0.9), (0.5, 0.1), (0.84, 0.9)], [(0.3, 0.6), (0.7, 0.6)]],
    "e": [[(0.2, 0.55), (0.8, 0.55), (0.78, 0.4), (0.66, 0.27), (0.5, 0.22), (0.33, 0.27), (0.22, 0.4),
           (0.2, 0.56), (0.24, 0.72), (0.35, 0.85), (0.5, 0.9), (0.67, 0.87), (0.8, 0.77)]],
    "3": [[(0.22, 0.2), (0.38, 0.1), (0.6, 0.1), (0.74, 0.2), (0.74, 0.35), (0.6, 0.46), (0.42, 0.48),
           (0.62, 0.52), (0.78, 0.64), (0.78, 0.8), (0.62, 0.92), (0.4, 0.92), (0.2, 0.82)]],
    "S": [[(0.75, 0.2), (0.5, 0.1), (0.28, 0.22), (0.3, 0.4), (0.7, 0.58), (0.72, 0.8), (0.5, 0.9), (0.25, 0.8)]],
    # A round ring: EMNIST writes 0 and O alike, so the page reads 0 and warns that it may be O (the
    # shipped model: 0 60%, O 30%); the same ring under "letters only" settles it as O.
    "0": ROUND_RING,
    "O_letters": ROUND_RING,
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


def main() -> None:
    for name, strokes in EXAMPLES.items():
        arrays = [smooth(np.array(stroke, np.float32)) for stroke in strokes]
        drawing = drawing_from_strokes(arrays, CHARACTER_CANVAS, CHARACTER_BRUSHES[1], char_size=0.7)
        image = render_drawing(drawing, max_side=SIDE)
        Image.fromarray(image).save(HERE / f"{name}.png", optimize=True)


if __name__ == "__main__":
    main()
