"""Generated stroke drawings, as the page's character canvas sends them: letter-like glyphs, curves, random
polylines, dots, tiny and huge characters, characters cut by the canvas edge and long scribbles, with the
page's three brushes. Deterministic for a seed; no data files needed.

Used by tests/test_web_reader.py (the browser's preprocessing and model against Python's) and by
`python -m bench.browser_reading` (what a drawing costs in the browser).
"""

import math

import numpy as np

from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, MAX_STROKES

# Glyphs as strokes of (x, y) in a unit box, y down: enough shapes to reach many classes.
_ARC = [(0.5 + 0.5 * math.cos(t), 0.5 + 0.5 * math.sin(t)) for t in np.linspace(0, 2 * math.pi, 25)]
GLYPHS = {
    "0": [_ARC],
    "1": [[(0.5, 0.0), (0.5, 1.0)]],
    "7": [[(0.1, 0.0), (0.9, 0.0), (0.4, 1.0)]],
    "L": [[(0.2, 0.0), (0.2, 1.0), (0.9, 1.0)]],
    "T": [[(0.0, 0.0), (1.0, 0.0)], [(0.5, 0.0), (0.5, 1.0)]],
    "A": [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.25, 0.55), (0.75, 0.55)]],
    "E": [[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], [(0.1, 0.5), (0.7, 0.5)]],
    "H": [[(0.1, 0.0), (0.1, 1.0)], [(0.9, 0.0), (0.9, 1.0)], [(0.1, 0.5), (0.9, 0.5)]],
    "X": [[(0.0, 0.0), (1.0, 1.0)], [(1.0, 0.0), (0.0, 1.0)]],
    "Z": [[(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)]],
    "N": [[(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)]],
    "W": [[(0.0, 0.0), (0.25, 1.0), (0.5, 0.3), (0.75, 1.0), (1.0, 0.0)]],
    "C": [_ARC[3:22]],
    "S": [[(0.5 + 0.45 * math.cos(t), 0.25 + 0.25 * math.sin(t)) for t in np.linspace(-0.3, 1.5 * math.pi, 14)]
          + [(0.5 - 0.45 * math.cos(t), 0.75 + 0.25 * math.sin(t))
             for t in np.linspace(-0.5 * math.pi, 1.2 * math.pi, 14)]],
    "2": [[(0.1, 0.25), (0.3, 0.0), (0.7, 0.0), (0.9, 0.25), (0.1, 1.0), (0.9, 1.0)]],
    "4": [[(0.7, 1.0), (0.7, 0.0), (0.0, 0.7), (1.0, 0.7)]],
    "P": [[(0.1, 1.0), (0.1, 0.0), (0.7, 0.0), (0.9, 0.2), (0.7, 0.45), (0.1, 0.45)]],
    "i": [[(0.5, 0.35), (0.5, 1.0)], [(0.5, 0.1)]],
    "j": [[(0.6, 0.35), (0.6, 0.9), (0.3, 1.0)], [(0.6, 0.1)]],
    "k": [[(0.1, 0.0), (0.1, 1.0)], [(0.8, 0.35), (0.1, 0.7), (0.8, 1.0)]],
}
KINDS = ("glyph", "curve", "polyline", "dots", "tiny", "huge", "edge", "scribble")


def _place(strokes, rng, canvas, size, centre):
    """Unit-box strokes scaled to `size` of the canvas at `centre`, with a little hand-like jitter."""
    out = []
    aspect = rng.uniform(0.5, 1.2)
    angle = rng.normal(0, 0.12)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    for stroke in strokes:
        pts = np.asarray(stroke, np.float64) - 0.5
        pts[:, 0] *= aspect
        pts = pts @ rot.T + rng.normal(0, 0.015, pts.shape)
        out.append(pts * size * canvas + np.asarray(centre) * canvas)
    return out


def _densify(stroke, step):
    """Points every `step` pixels along a polyline, as a mouse or pen reports them."""
    if len(stroke) < 2:
        return stroke
    out = [stroke[0]]
    for a, b in zip(stroke[:-1], stroke[1:]):
        n = max(1, int(np.hypot(*(b - a)) / step))
        out += [a + (b - a) * (k / n) for k in range(1, n + 1)]
    return np.array(out)


def generate(n: int, seed: int = 0, canvas: int = CHARACTER_CANVAS) -> list[dict]:
    """`n` drawings as stroke JSON dicts (what parse_drawing takes), cycling through KINDS and the brushes."""
    rng = np.random.default_rng(seed)
    drawings = []
    for k in range(n):
        kind = KINDS[k % len(KINDS)]
        brush = float(CHARACTER_BRUSHES[(k // len(KINDS)) % len(CHARACTER_BRUSHES)])
        if rng.random() < 0.15:
            brush = float(rng.uniform(2, 30))  # any brush the API allows, not only the page's three
        glyph = GLYPHS[list(GLYPHS)[rng.integers(len(GLYPHS))]]
        centre = rng.uniform(0.3, 0.7, 2)
        if kind == "glyph":
            strokes = _place(glyph, rng, canvas, rng.uniform(0.3, 0.8), centre)
        elif kind == "tiny":
            strokes = _place(glyph, rng, canvas, rng.uniform(0.06, 0.2), centre)
        elif kind == "huge":
            strokes = _place(glyph, rng, canvas, rng.uniform(0.85, 1.1), (0.5, 0.5))
        elif kind == "edge":  # partly off the canvas: strokes cut by its edge
            strokes = _place(glyph, rng, canvas, rng.uniform(0.4, 0.7), rng.choice([-0.05, 0.1, 0.9, 1.05], 2))
        elif kind == "curve":
            t = np.linspace(0, 1, int(rng.integers(20, 80)))
            f = rng.uniform(0.5, 3, 4)
            p = rng.uniform(0, 2 * math.pi, 4)
            xy = np.stack([0.5 + 0.35 * np.sin(2 * math.pi * f[0] * t + p[0]) * np.cos(f[1] * t + p[1]),
                           0.5 + 0.35 * np.sin(2 * math.pi * f[2] * t + p[2])], 1)
            strokes = _place([xy], rng, canvas, rng.uniform(0.4, 0.9), centre)
        elif kind == "polyline":
            strokes = [rng.uniform(0.15, 0.85, (int(rng.integers(2, 8)), 2)) for _ in range(int(rng.integers(1, 4)))]
            strokes = _place(strokes, rng, canvas, rng.uniform(0.5, 1.0), centre)
        elif kind == "dots":  # dots alone (a dot is no character), or dots beside a stroke
            dots = [rng.uniform(0.2, 0.8, (1, 2)) for _ in range(int(rng.integers(1, 6)))]
            line = [rng.uniform(0.2, 0.8, (2, 2))] if rng.random() < 0.6 else []
            strokes = _place(dots + line, rng, canvas, rng.uniform(0.3, 0.9), centre)
        else:  # scribble: many short strokes, up to the page's limit
            count = int(rng.choice([20, 60, MAX_STROKES]))
            starts = rng.uniform(0.1, 0.9, (count, 1, 2))  # short strokes: within the limit on ink (MAX_LENGTH_SIDES)
            strokes = [start + np.cumsum(rng.normal(0, 0.04, (int(rng.integers(1, 5)), 2)), 0) for start in starts]
            strokes = _place(strokes, rng, canvas, rng.uniform(0.3, 0.9), centre)
        strokes = [_densify(s, rng.uniform(3, 12)) for s in strokes]
        drawings.append({"width": canvas, "height": canvas, "brush": round(brush, 2),
                         "strokes": [np.round(s, 1).tolist() for s in strokes]})
    return drawings
