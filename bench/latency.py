"""What one drawing costs the page, and how many CPU threads to give it: `python -m bench.latency`.

    python -m bench.latency [--threads 1 2] [--drawings 40] [--checkpoint PATH]

For each thread count: the model alone on one 28x28 image (the forward pass demo.py runs per
request), and a whole drawing (preprocessing from a drawing on the page's 400x400 canvas to 28x28, then
the prediction), median and p90 in ms. The drawings are real pen paths (../shared/data/omniglot-latin-dev)
as the page's canvas sends them (stroke drawings, read through the page's renderer), or the demo's
example PNGs where those are absent. demo.py sets one
thread from this comparison: a single image is too small to share between threads, and the other cores
are left to concurrent requests. Other busy processes on the machine raise every figure.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.predict import Predictor
from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, StrokeDrawing, drawing_from_strokes, read_strokes

ROOT = Path(__file__).resolve().parent.parent
STROKES = ROOT.parent / "shared" / "data" / "omniglot-latin-dev"
BRUSH_RADIUS = CHARACTER_BRUSHES[1]  # the page's default brush
MODEL_CALLS = 200  # timed forward passes per thread count, after WARMUP
WARMUP = 20


def drawings(limit: int) -> list[StrokeDrawing | np.ndarray]:
    files = sorted(STROKES.glob("*_drawer*.txt"))[::5][:limit]  # every 5th: many letters, several writers
    if files:
        return [drawing_from_strokes(read_strokes(f), CHARACTER_CANVAS, BRUSH_RADIUS, 0.6) for f in files]
    return [np.asarray(Image.open(p).convert("L")) for p in sorted((ROOT / "examples").glob("*.png"))]


def median_p90(times_s: list[float]) -> tuple[float, float]:
    ms = [1000 * t for t in times_s]
    return statistics.median(ms), statistics.quantiles(ms, n=10)[-1]


def timed(call, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def measure(predictor: Predictor, pictures: list, threads: int) -> dict:
    torch.set_num_threads(threads)
    one = predictor.prepare(pictures[0]).model_input[None]
    timed(lambda: predictor.predict_emnist(one), WARMUP)
    model = timed(lambda: predictor.predict_emnist(one), MODEL_CALLS)
    for picture in pictures[:3]:  # warm-up
        predictor.predict(picture)
    whole = [timed(lambda: predictor.predict(picture), 1)[0] for picture in pictures]
    preprocessing = [timed(lambda: predictor.prepare(picture), 1)[0] for picture in pictures]
    return {"model": median_p90(model), "drawing": median_p90(whole), "preprocessing": median_p90(preprocessing)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch CPU thread counts to compare")
    p.add_argument("--drawings", type=int, default=40, help="drawings timed per thread count")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    args = p.parse_args(argv)
    predictor = Predictor(args.checkpoint)
    pictures = drawings(args.drawings)
    first = pictures[0]
    size = f"{first.width}x{first.height}" if isinstance(first, StrokeDrawing) else f"{first.shape[1]}x{first.shape[0]}"
    print(f"{len(pictures)} drawings of {size}; model calls on one "
          f"28x28 image: {MODEL_CALLS}; ms, median / p90", flush=True)
    print(f"{'threads':>8}{'model alone':>18}{'preprocessing':>18}{'whole drawing':>18}")
    default_threads = torch.get_num_threads()
    try:
        for threads in args.threads:
            r = measure(predictor, pictures, threads)
            print(f"{threads:>8}" + "".join(f"{r[k][0]:>10.1f} / {r[k][1]:<5.1f}"
                                            for k in ("model", "preprocessing", "drawing")), flush=True)
    finally:
        torch.set_num_threads(default_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
