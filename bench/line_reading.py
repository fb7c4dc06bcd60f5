"""How well whole lines are read: `python -m bench.line_reading`.

Words: letters of one Omniglot dev drawer (their online strokes replayed), set side by side with gaps
of 0.15-0.45 of the letter height, at varied letter heights and brush sizes, read with only="letters".
Numbers: EMNIST validation digits (the shipped checkpoint's own split, never trained on) in a row with
the same gaps, read with only="digits". For each: how often the character count is right, and the
character accuracy, case-insensitive: 1 - edit distance / length, averaged over lines.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.predict import Predictor
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import draw_strokes, read_strokes
from train.data import load_split, stratified_split

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
WORDS = ("cat dog house river zebra quick brown fox jumps over lazy mind water light night window "
         "garden paper music table chair apple grape lemon melon queen king jewel pixel vortex yacht "
         "whisky fjord bike sky gym quiz jazz box wax oak elm ivy jog hum nut pin tub van wig yak "
         "kettle bottle little middle stop go north south east west tiny huge alphabet").split()
GAPS = (0.15, 0.45)  # gap between neighbouring characters, as a share of the letter height
HEIGHTS = (40, 60, 90)  # letter height in pixels
BRUSH_SHARES = (0.04, 0.12)  # brush radius as a share of the letter height
NUMBER_LENGTHS = (3, 8)  # digits per number, inclusive


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def char_accuracy(truth: str, read: str) -> float:
    return max(0.0, 1.0 - edit_distance(truth.lower(), read.lower()) / len(truth))


def place(pieces: list[np.ndarray], gaps: list[float], height: int) -> np.ndarray:
    """Black-on-white pieces (each already `height`-scaled) in a row on a white line, with a margin."""
    margin = height // 2
    width = sum(p.shape[1] for p in pieces) + int(sum(gaps) * height) + 2 * margin
    tallest = max(p.shape[0] for p in pieces)
    line = np.full((tallest + 2 * margin, width), 255, np.uint8)
    x = margin
    for piece, gap in zip(pieces, [0.0] + gaps):
        x += int(gap * height)
        h, w = piece.shape
        y = margin + (tallest - h)  # on a common baseline
        line[y:y + h, x:x + w] = np.minimum(line[y:y + h, x:x + w], piece)
        x += w
    return line


def word_line(letters: list[list[np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    """One drawer's letters (strokes in file units) replayed side by side, keeping their relative size."""
    height = int(rng.choice(HEIGHTS))
    brush = float(rng.uniform(*BRUSH_SHARES)) * height
    sizes = [np.ptp(np.concatenate(s)[:, 1]) for s in letters]
    scale = height / float(np.median(sizes))  # one scale for the line: a drawer's tall and short letters stay so
    pieces = []
    for strokes in letters:
        points = np.concatenate(strokes)
        low = points.min(0)
        placed = [(s - low) * scale + brush + 1 for s in strokes]
        w, h = (np.ptp(points, 0) * scale + 2 * brush + 2).astype(int) + 1
        pieces.append(draw_strokes(np.full((h, w), 255, np.uint8), placed, brush))
    return place(pieces, list(rng.uniform(*GAPS, size=len(letters) - 1)), height)


def number_line(digits: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """EMNIST digits (transposed, ink bright) upright, cropped to their ink, scaled to one height, black on white."""
    height = int(rng.choice(HEIGHTS))
    pieces = []
    for image in digits:
        upright = image.T
        rows, cols = np.flatnonzero(upright.max(1) > 40), np.flatnonzero(upright.max(0) > 40)
        ink = upright[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        size = (max(1, round(ink.shape[1] * height / ink.shape[0])), height)
        pieces.append(255 - cv2.resize(ink, size, interpolation=cv2.INTER_CUBIC))
    return place(pieces, list(rng.uniform(*GAPS, size=len(digits) - 1)), height)


def score(predictor: Predictor, lines: list[tuple[str, np.ndarray]], only: str) -> dict:
    count_right, accuracies, unusable, misses = 0, [], 0, []
    for truth, image in lines:
        try:
            text = predictor.read_line(image, only=only).text
        except UnusableImage:
            text, unusable = "", unusable + 1
        count_right += len(text) == len(truth)
        accuracies.append(char_accuracy(truth, text))
        if text.lower() != truth.lower():
            misses.append(f"{truth}->{text}")
    return {"lines": len(lines), "count_right": count_right / len(lines),
            "char_accuracy": float(np.mean(accuracies)), "unusable": unusable, "misread": misses}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--omniglot", default=str(SHARED / "omniglot-latin-dev"), help="letters a-z folder")
    parser.add_argument("--emnist", default=str(SHARED / "emnist-bymerge-offline"), help="IDX folder")
    parser.add_argument("--lines", type=int, default=200, help="word lines and number lines, each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures (and the misread lines) here")
    args = parser.parse_args(argv)

    predictor = Predictor(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    started, report = time.time(), {"checkpoint": args.checkpoint}
    if Path(args.omniglot).is_dir():
        drawers = sorted({p.stem.split("_")[1] for p in Path(args.omniglot).glob("?_drawer*.txt")})
        words = []
        for _ in range(args.lines):
            word, drawer = str(rng.choice(WORDS)), str(rng.choice(drawers))
            letters = [read_strokes(Path(args.omniglot) / f"{c}_{drawer}.txt") for c in word]
            words.append((word, word_line(letters, rng)))
        report["words"] = score(predictor, words, only="letters")
    else:
        print(f"skipped words: {args.omniglot} not found")
    if Path(args.emnist).is_dir():
        images, labels = load_split(args.emnist, "train")
        split = predictor.checkpoint.training.get("split") or {"val_fraction": 0.05, "seed": 0}
        _, val_idx = stratified_split(labels, split["val_fraction"], split["seed"])
        digit_idx = val_idx[labels[val_idx] < 10]
        numbers = []
        for _ in range(args.lines):
            pick = rng.choice(digit_idx, size=int(rng.integers(NUMBER_LENGTHS[0], NUMBER_LENGTHS[1] + 1)))
            numbers.append(("".join(str(labels[i]) for i in pick), number_line(list(images[pick]), rng)))
        report["numbers"] = score(predictor, numbers, only="digits")
    else:
        print(f"skipped numbers: {args.emnist} not found")
    for name in ("words", "numbers"):
        if name in report:
            r = report[name]
            print(f"{name:<8} {r['lines']} lines: count right {r['count_right']:.1%}, characters "
                  f"{r['char_accuracy']:.1%}, unusable {r['unusable']}; e.g. {', '.join(r['misread'][:8])}")
    print(f"measured in {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
