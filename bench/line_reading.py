"""How well whole lines are read: `python -m bench.line_reading`.

Words: letters of one Omniglot dev drawer (their online strokes replayed), set side by side at varied
letter heights and brush sizes, read with writing "letters", as an image (a photo's path) and as strokes
(the page's line canvas). Numbers: EMNIST validation digits (the shipped checkpoint's own split, never
trained on) in a row, read with writing "digits". Spacings, as shares of the letter height:
  wide      gaps 0.15-0.45
  close     gaps 0.04-0.12 (letters as close as people write them)
  touching  close, and one neighbouring pair pushed together until their ink touches
  wide-letters  close gaps, words full of m and w (wide letters must not be cut)
For each: how often the character count is right, and the character accuracy, case-insensitive:
1 - edit distance / length, averaged over lines. Speed: the median time to read a 10-letter line.

--words also reads the wide, close and touching words with the word list (emnist_core.words), and as
many non-words (random strings of 3-8 letters, the same drawers) with and without it: what the list
gains on words and what it costs on anything else.
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
from emnist_core.strokes import StrokeDrawing, draw_strokes, read_strokes
from train.data import load_split, stratified_split

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
WORDS = ("cat dog house river zebra quick brown fox jumps over lazy mind water light night window "
         "garden paper music table chair apple grape lemon melon queen king jewel pixel vortex yacht "
         "whisky fjord bike sky gym quiz jazz box wax oak elm ivy jog hum nut pin tub van wig yak "
         "kettle bottle little middle stop go north south east west tiny huge alphabet").split()
WIDE_WORDS = ("mum wow swim mammal window wham mew maxim meow mow woman mimic summer swamp warm "
              "memo wigwam hmm whim mower").split()
TEN_LETTERS = ("watermelon basketball friendship background chocolate journalist university "
               "playground helicopter strawberry").split()
GAPS = {"wide": (0.15, 0.45), "close": (0.04, 0.12), "touching": (0.04, 0.12), "wide-letters": (0.04, 0.12)}
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


def lefts(widths: list[int], gaps: list[float], height: int) -> tuple[list[int], int]:
    """Each piece's left edge in a row with these gaps (shares of `height`, negative: overlap), and the
    row's width, with a margin of half the height on each side."""
    margin, x, edges = height // 2, float(height // 2), []
    for width, gap in zip(widths, [0.0] + gaps):
        x += gap * height
        edges.append(int(x))
        x += width
    return edges, int(x) + margin


def place(pieces: list[np.ndarray], gaps: list[float], height: int) -> np.ndarray:
    """Black-on-white pieces (each already `height`-scaled) in a row on a white line, on a common baseline."""
    edges, width = lefts([p.shape[1] for p in pieces], gaps, height)
    tallest, margin = max(p.shape[0] for p in pieces), height // 2
    line = np.full((tallest + 2 * margin, width), 255, np.uint8)
    for piece, x in zip(pieces, edges):
        h, w = piece.shape
        y = margin + (tallest - h)
        line[y:y + h, x:x + w] = np.minimum(line[y:y + h, x:x + w], piece)
    return line


def spacing(n: int, kind: str, rng: np.random.Generator) -> list[float]:
    return list(rng.uniform(*GAPS[kind], size=n - 1))


def word_line(letters: list[list[np.ndarray]], rng: np.random.Generator, kind: str = "wide"
              ) -> tuple[np.ndarray, StrokeDrawing]:
    """One drawer's letters (strokes in file units) side by side, keeping their relative size: the line
    as an image and as the strokes that drew it. `kind` "touching": one pair's ink is made to touch."""
    height = int(rng.choice(HEIGHTS))
    brush = float(rng.uniform(*BRUSH_SHARES)) * height
    sizes = [np.ptp(np.concatenate(s)[:, 1]) for s in letters]
    scale = height / float(np.median(sizes))  # one scale for the line: a drawer's tall and short letters stay so
    shapes, placed = [], []
    for strokes in letters:
        points = np.concatenate(strokes)
        low = points.min(0)
        placed.append([(s - low) * scale + brush + 1 for s in strokes])
        shapes.append((np.ptp(points, 0) * scale + 2 * brush + 2).astype(int) + 1)  # (w, h)
    gaps = spacing(len(letters), kind, rng)
    pair = int(rng.integers(len(gaps))) if kind == "touching" and gaps else None
    for _ in range(40):
        image, drawing = _draw(placed, shapes, gaps, height, brush)
        if pair is None or _pair_touches(image, drawing, pair, len(placed[pair]) + sum(map(len, placed[:pair]))):
            break
        gaps[pair] -= 0.03  # closer until the two letters' ink meets
    return image, drawing


def _draw(placed, shapes, gaps, height, brush) -> tuple[np.ndarray, StrokeDrawing]:
    edges, width = lefts([w for w, _ in shapes], gaps, height)
    tallest, margin = max(h for _, h in shapes), height // 2
    strokes = [s + np.array([x, margin + tallest - h], np.float32)
               for letter, (_, h), x in zip(placed, shapes, edges) for s in letter]
    line = np.full((tallest + 2 * margin, width), 255, np.uint8)
    return draw_strokes(line, strokes, brush), StrokeDrawing(width, line.shape[0], brush, tuple(strokes))


def _pair_touches(image: np.ndarray, drawing: StrokeDrawing, pair: int, split: int) -> bool:
    """Whether the ink of the strokes before `split` and after it meet (the pair's two letters touch)."""
    left = draw_strokes(np.full_like(image, 255), list(drawing.strokes[:split]), drawing.brush) < 128
    right = draw_strokes(np.full_like(image, 255), list(drawing.strokes[split:]), drawing.brush) < 128
    return bool((cv2.dilate(left.astype(np.uint8), np.ones((3, 3), np.uint8)) & right).any())


def number_line(digits: list[np.ndarray], rng: np.random.Generator, kind: str = "wide") -> np.ndarray:
    """EMNIST digits (transposed, ink bright) upright, cropped to their ink, scaled to one height, black on white."""
    height = int(rng.choice(HEIGHTS))
    pieces = []
    for image in digits:
        upright = image.T
        rows, cols = np.flatnonzero(upright.max(1) > 40), np.flatnonzero(upright.max(0) > 40)
        ink = upright[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        size = (max(1, round(ink.shape[1] * height / ink.shape[0])), height)
        pieces.append(255 - cv2.resize(ink, size, interpolation=cv2.INTER_CUBIC))
    return place(pieces, spacing(len(digits), kind, rng), height)


def read_text(predictor: Predictor, line, writing: str) -> str:
    try:
        if isinstance(line, StrokeDrawing):
            return predictor.read_line_strokes(line, writing).text
        return predictor.read_line(line, writing).text
    except UnusableImage:
        return ""


def score(predictor: Predictor, lines: list[tuple[str, object]], writing: str) -> dict:
    texts = [read_text(predictor, line, writing) for _, line in lines]
    truths = [truth for truth, _ in lines]
    return {"lines": len(lines), "count_right": float(np.mean([len(t) == len(r) for t, r in zip(truths, texts)])),
            "char_accuracy": float(np.mean([char_accuracy(t, r) for t, r in zip(truths, texts)])),
            "unusable": texts.count(""), "misread": [f"{t}->{r}" for t, r in zip(truths, texts) if t.lower() != r.lower()]}


def median_ms(predictor: Predictor, lines: list, writing: str) -> float:
    times = []
    for line in lines:
        started = time.perf_counter()
        read_text(predictor, line, writing)
        times.append(1000 * (time.perf_counter() - started))
    return float(np.median(times))


def word_list_figures(predictor: Predictor, folder: Path, drawers: list[str], words: list, kind: str,
                      args) -> dict:
    """The same word lines read with the word list, and as many non-words with and without it."""
    rng = np.random.default_rng([args.seed, 70, list(GAPS).index(kind)])
    others = []
    for _ in range(len(words)):
        text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(3, 9))))
        drawer = str(rng.choice(drawers))
        image, drawing = word_line([read_strokes(folder / f"{c}_{drawer}.txt") for c in text], rng, kind)
        others.append((text, image, drawing))
    figures = {}
    for name, lines in ((f"words {kind}", words), (f"non-words {kind}", others)):
        for path, pick in (("", 1), (" (strokes)", 2)):
            chosen = [(line[0], line[pick]) for line in lines]
            if name.startswith("non-words"):
                figures[f"{name}{path}"] = score(predictor, chosen, "letters")
            figures[f"{name}{path}, word list"] = score(predictor, chosen, "word")
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--omniglot", default=str(SHARED / "omniglot-latin-dev"), help="letters a-z folder")
    parser.add_argument("--emnist", default=str(SHARED / "emnist-bymerge-offline"), help="IDX folder")
    parser.add_argument("--lines", type=int, default=200, help="lines per spacing, words and numbers each")
    parser.add_argument("--drawers", help="comma-separated drawer numbers to use, e.g. 01,02 (default: all)")
    parser.add_argument("--spacings", default=",".join(GAPS), help=f"any of {', '.join(GAPS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--words", action="store_true", help="also measure the word list (and non-words)")
    parser.add_argument("--json", help="write the figures (and the misread lines) here")
    from bench.word_ctc import add_pen_argument, word_reader
    add_pen_argument(parser)
    args = parser.parse_args(argv)

    predictor = Predictor(args.checkpoint)
    if args.pen_checkpoint:
        from emnist_core.sequence import SequenceCheckpointError
        try:
            predictor.word_reader = word_reader(None, args.pen_checkpoint)
        except SequenceCheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    started, report = time.time(), {"checkpoint": args.checkpoint, "pen_checkpoint": args.pen_checkpoint}
    kinds = [k for k in args.spacings.split(",") if k]
    folder = Path(args.omniglot)
    if folder.is_dir():
        drawers = sorted({p.stem.split("_")[1] for p in folder.glob("?_drawer*.txt")})
        if args.drawers:
            drawers = [d for d in drawers if d.removeprefix("drawer") in args.drawers.split(",")]
        for kind in kinds:
            rng = np.random.default_rng([args.seed, kinds.index(kind)])
            words = []
            for _ in range(args.lines):
                word = str(rng.choice(WIDE_WORDS if kind == "wide-letters" else WORDS))
                drawer = str(rng.choice(drawers))
                image, drawing = word_line([read_strokes(folder / f"{c}_{drawer}.txt") for c in word], rng, kind)
                words.append((word, image, drawing))
            report[f"words {kind}"] = score(predictor, [(w, i) for w, i, _ in words], "letters")
            report[f"words {kind} (strokes)"] = score(predictor, [(w, d) for w, _, d in words], "letters")
            if args.words and kind in ("wide", "close", "touching"):
                report.update(word_list_figures(predictor, folder, drawers, words, kind, args))
        rng = np.random.default_rng([args.seed, 99])
        ten = [word_line([read_strokes(folder / f"{c}_{rng.choice(drawers)}.txt") for c in w], rng, "close")
               for w in TEN_LETTERS for _ in range(2)]
        report["ms per 10-letter line"] = {"image": median_ms(predictor, [i for i, _ in ten], "letters"),
                                           "strokes": median_ms(predictor, [d for _, d in ten], "letters")}
        if args.words:
            report["ms per 10-letter line"].update(
                {"image, word list": median_ms(predictor, [i for i, _ in ten], "word"),
                 "strokes, word list": median_ms(predictor, [d for _, d in ten], "word")})
    else:
        print(f"skipped words: {args.omniglot} not found")
    if Path(args.emnist).is_dir():
        images, labels = load_split(args.emnist, "train")
        split = predictor.checkpoint.training.get("split") or {"val_fraction": 0.05, "seed": 0}
        _, val_idx = stratified_split(labels, split["val_fraction"], split["seed"])
        digit_idx = val_idx[labels[val_idx] < 10]
        for kind in [k for k in kinds if k in ("wide", "close")]:
            rng = np.random.default_rng([args.seed, 50 + kinds.index(kind)])
            numbers = []
            for _ in range(args.lines):
                pick = rng.choice(digit_idx, size=int(rng.integers(NUMBER_LENGTHS[0], NUMBER_LENGTHS[1] + 1)))
                numbers.append(("".join(str(labels[i]) for i in pick), number_line(list(images[pick]), rng, kind)))
            report[f"numbers {kind}"] = score(predictor, numbers, "digits")
    else:
        print(f"skipped numbers: {args.emnist} not found")
    for name, r in report.items():
        if isinstance(r, dict) and "lines" in r:
            print(f"{name:<40} {r['lines']} lines: count right {r['count_right']:.1%}, characters "
                  f"{r['char_accuracy']:.1%}, unusable {r['unusable']}; e.g. {', '.join(r['misread'][:6])}")
    if "ms per 10-letter line" in report:
        speed = report["ms per 10-letter line"]
        print(f"a 10-letter line: {speed['image']:.0f} ms as an image, {speed['strokes']:.0f} ms as strokes (median)")
        if "image, word list" in speed:
            print(f"  with the word list: {speed['image, word list']:.0f} ms as an image, "
                  f"{speed['strokes, word list']:.0f} ms as strokes")
    print(f"measured in {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
