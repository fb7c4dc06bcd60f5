"""Score the drawing pipeline on real drawings: `python -m bench.score_drawings`.

Three sources, each through emnist_core's Predictor exactly as the demo and the CLI use it:
  png      Omniglot's Latin letters as scanned PNGs (105x105, thin black on white)
  replay   the same letters' online strokes drawn on the page's 400x400 character canvas with each of
           its three brushes, at several character sizes, and read as the page reads a drawing
           (strokes.drawing_from_strokes, then Predictor: the ink the page's renderer lays)
  emnist   genuine EMNIST validation images blown up to canvas size and thresholded like a drawing,
           against the same images fed to the model directly
Figures per variant: strict top-1 (case-insensitive letter), look-alike-tolerant top-1 (a drawn
o read as 0, l/i as 1, s as 5, g/q as 9, z as 2 counts) and top-5.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.labels import letter_matches
from emnist_core.predict import Predictor
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, drawing_from_strokes, read_strokes

from train.data import load_split, stratified_split

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
BRUSH_RADII = CHARACTER_BRUSHES  # the page's three brushes, radii in pixels on its CHARACTER_CANVAS
CHAR_SIZES = (0.3, 0.5, 0.8)  # the character's long side as a share of the canvas
ROUND_TRIP_SIDE = 800  # the EMNIST round trip's image, an upload rather than a drawing


def letter_scores(letters: list[str], results: list) -> dict:
    strict = tolerant = top5 = unusable = 0
    for letter, result in zip(letters, results):
        if isinstance(result, UnusableImage):
            unusable += 1
            continue
        best = result.top5[0][0]
        strict += letter_matches(letter, best)
        tolerant += letter_matches(letter, best, tolerant=True)
        top5 = top5 + any(letter_matches(letter, c, tolerant=True) for c, _ in result.top5)
    n = len(letters)
    return {"n": n, "strict_top1": strict / n, "tolerant_top1": tolerant / n, "top5": top5 / n,
            "unusable": unusable}


def score_omniglot(predictor: Predictor, folder: Path) -> dict:
    pngs = sorted(folder.glob("*_drawer*.png"))
    letters = [p.name[0] for p in pngs]
    variants = {"png": letter_scores(letters, predictor.predict_many([str(p) for p in pngs]))}
    strokes = [read_strokes(p.with_suffix(".txt")) for p in pngs]
    for radius in BRUSH_RADII:
        for size in CHAR_SIZES:
            drawings = [drawing_from_strokes(s, CHARACTER_CANVAS, radius, size) for s in strokes]
            variants[f"replay r={radius} size={size}"] = letter_scores(letters, predictor.predict_many(drawings))
    return variants


def emnist_as_drawing(image: np.ndarray, char_size: float = 0.6) -> np.ndarray:
    """An EMNIST image (transposed, ink bright) as an uploaded drawing: upright, black on white, 800x800."""
    upright = image.T
    side = round(ROUND_TRIP_SIDE * char_size)
    big = cv2.resize(upright, (side, side), interpolation=cv2.INTER_CUBIC)
    canvas = np.zeros((ROUND_TRIP_SIDE, ROUND_TRIP_SIDE), np.uint8)
    offset = (ROUND_TRIP_SIDE - side) // 2
    canvas[offset:offset + side, offset:offset + side] = big
    return np.where(canvas >= 128, 0, 255).astype(np.uint8)


def score_emnist_round_trip(predictor: Predictor, data_dir: Path, n: int) -> dict:
    images, labels = load_split(data_dir, "train")
    split = predictor.checkpoint.training.get("split") or {"val_fraction": 0.05, "seed": 0}
    _, val_idx = stratified_split(labels, split["val_fraction"], split["seed"])
    pick = np.random.default_rng(0).choice(val_idx, size=min(n, len(val_idx)), replace=False)
    direct_probs, _ = predictor.predict_emnist(images[pick])
    drawn = predictor.predict_many([emnist_as_drawing(im) for im in images[pick]])
    label_chars = [predictor.labels[i] for i in labels[pick]]
    drawn_hits = [not isinstance(r, UnusableImage) and r.top5[0][0] == c for r, c in zip(drawn, label_chars)]
    return {"n": len(pick), "direct_accuracy": float((direct_probs.argmax(1) == labels[pick]).mean()),
            "round_trip_accuracy": float(np.mean(drawn_hits)),
            "unusable": sum(isinstance(r, UnusableImage) for r in drawn)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--omniglot", default=str(SHARED / "omniglot-latin-dev"), help="letters a-z folder")
    parser.add_argument("--emnist", default=str(SHARED / "emnist-bymerge-offline"), help="IDX folder")
    parser.add_argument("--emnist-n", type=int, default=2000, help="EMNIST validation images to round-trip")
    parser.add_argument("--json", help="write all figures here")
    args = parser.parse_args(argv)

    predictor = Predictor(args.checkpoint)
    started = time.time()
    report = {"checkpoint": args.checkpoint}
    if Path(args.omniglot).is_dir():
        report["omniglot"] = score_omniglot(predictor, Path(args.omniglot))
        print(f"{'variant':<24}{'n':>5}{'strict':>9}{'tolerant':>10}{'top-5':>8}{'unusable':>10}")
        for name, s in report["omniglot"].items():
            print(f"{name:<24}{s['n']:>5}{s['strict_top1']:>9.1%}{s['tolerant_top1']:>10.1%}"
                  f"{s['top5']:>8.1%}{s['unusable']:>10}")
        replays = [s for k, s in report["omniglot"].items() if k.startswith("replay")]
        report["omniglot_replay_mean"] = {k: float(np.mean([s[k] for s in replays]))
                                          for k in ("strict_top1", "tolerant_top1", "top5")}
        report["omniglot_replay_worst"] = {k: float(np.min([s[k] for s in replays]))
                                           for k in ("strict_top1", "tolerant_top1", "top5")}
        print("replays, mean:  " + "  ".join(f"{k} {v:.1%}" for k, v in report["omniglot_replay_mean"].items()))
        print("replays, worst: " + "  ".join(f"{k} {v:.1%}" for k, v in report["omniglot_replay_worst"].items()))
    else:
        print(f"skipped Omniglot: {args.omniglot} not found")
    if Path(args.emnist).is_dir() and args.emnist_n > 0:
        rt = report["emnist_round_trip"] = score_emnist_round_trip(predictor, Path(args.emnist), args.emnist_n)
        print(f"EMNIST round trip on {rt['n']} validation images: direct {rt['direct_accuracy']:.1%}, "
              f"drawn and re-read {rt['round_trip_accuracy']:.1%} ({rt['unusable']} unusable)")
    else:
        print(f"skipped EMNIST round trip: {args.emnist} not found")
    print(f"scored in {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
