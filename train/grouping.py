"""Fit how a drawn line's pieces are grouped into characters: `python -m train.grouping`.

segment.LinePieces scores a grouping of a drawn line's pieces as the sum, over its characters, of the
reading's log-probability, ENERGY_WEIGHT times the model's energy for the crop, and the weighted
GROUPING_FEATURES of the character's shape and strokes, less the weighted PARTING_FEATURES of each two
neighbours. This fits those weights (the reading's log-probability keeps weight 1, a left-out piece its
DROP_MINOR / DROP_MAJOR) on dev data only:
  * printed words (.STYLE PRINTED) of UNIPEN category 7 of the tuning writers, TUNING: every printed
    word of art and hpb, and of 11 of rim's 21 writers (every other one by name); each drawn on the
    page's line canvas as bench.word_reading draws a word (seed 77). bench.word_reading reports the
    other writers apart ("unseen");
  * lines of Omniglot dev letters set side by side, as bench.line_reading makes them, with its dev seeds
    1 and 2 (60 lines of each spacing a seed; the bench reports seed 0), each counted LINE_WEIGHT times.
Each line's true grouping is its forced alignment: the grouping of its pieces that reads the word's own
letters best (words.best_word's exact search for that one word, under the starting weights). A structured
perceptron then decodes each line with the current weights (LinePieces.best, a point of margin for each
character that is not one of the truth's) and moves the weights toward the truth's features and away
from the decoded grouping's; weights averaged over the updates, 5 epochs, and over 5 shuffles.
Its choices (the features, the energy, LINE_WEIGHT) were made by cross-validation with one tuning
site and one line seed held out at a time (docs/RESULTS.md). Prints the weights to copy into segment.py.

    python -m train.grouping                 # about 3 minutes on the 2-core CPU
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.predict import Predictor
from emnist_core.preprocess import UnusableImage, emnist_from_mask
from emnist_core.segment import (ENERGY_WEIGHT, FLOOR_LOG_PROB, GROUPING_FEATURES, GROUPING_WEIGHTS,
                                 PARTING_FEATURES, PARTING_WEIGHTS, line_from_drawing)
from emnist_core.words import ALPHABET, _exact, _gains, letter_log_probs

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
TUNING_SITES = ("art", "hpb")  # every printed word of these sites...
TUNING_RIM = ("wd136", "wd143", "wd145", "wd150", "wd167", "wd175", "wd180", "wd190", "wd206", "wd210", "wd217")
LINE_SEEDS, LINES_PER_SPACING = (1, 2), 60
LINE_WEIGHT = 3  # each letter line counts this many times (with 1, m and w of letter lines fell apart)
EPOCHS, SHUFFLES, LEARNING_RATE, MARGIN = 5, 5, 0.1, 1.0
# Where the perceptron starts: about the image path's priors (segment's INNER_GAP_COST, WIDE_COST...).
START = ({"gap": -24.0, "wide 1.0": -2.0, "wide 1.4": -2.0}, {"overlap": 3.0, "cut": 1.0, "touch": 0.25}, 0.0)


def tuning(sample) -> bool:
    """Whether a UNIPEN sample is one the weights are fitted on (else bench.word_reading's "unseen")."""
    return sample.site in TUNING_SITES or (sample.site == "rim" and
                                           sample.writer.removeprefix("rim/").removesuffix(".dat") in TUNING_RIM)


class Line:
    """One dev line read once: its pieces and candidates (none left out), each readable candidate's
    crop (None where preprocessing refused it), reading score (log-probability), class probabilities,
    energy and letter scores, and its true grouping."""

    def __init__(self, predictor: Predictor, drawing, text: str, letters_line: bool = False):
        import emnist_core.segment as segment

        kept, segment.DRAWN_HOPELESS = segment.DRAWN_HOPELESS, -np.inf  # every candidate: the weights move
        try:
            self.line = line_from_drawing(drawing)
        finally:
            segment.DRAWN_HOPELESS = kept
        self.text, self.letters_line = text.lower(), letters_line
        candidates = self.line.readable
        crops, rows = [], []
        for k, c in enumerate(candidates):
            try:
                crops.append(emnist_from_mask(self.line.ink(c)))
                rows.append(k)
            except UnusableImage:
                pass
        self.crops = [None] * len(candidates)
        for k, crop in zip(rows, crops):
            self.crops[k] = crop
        self.log_prob = np.full(len(candidates), -np.inf)
        self.probs = np.zeros((len(candidates), len(predictor.labels)), np.float32)
        self.energy = np.zeros(len(candidates))
        self.letters = np.full((len(candidates), len(ALPHABET)), -np.inf)
        if crops:
            images = np.stack([c.T if predictor.checkpoint.input_spec.transposed else c for c in crops])
            probs, _, energy = predictor.predict_with_energy(images, "letters")
            self.log_prob[rows] = np.log(np.maximum(probs.max(1), 1e-30))
            self.probs[rows] = probs
            self.energy[rows] = energy
            self.letters[rows] = letter_log_probs(probs, predictor.labels)
        self.truth = None

    def weigh(self, weights) -> None:
        grouping, parting, energy = weights
        self.line.reweigh(grouping, parting, energy)

    def align(self) -> None:
        """The truth: the grouping that reads the line's own letters best (under the weights set)."""
        if any(c not in ALPHABET for c in self.text):
            return
        bonus = self.line.reading_bonus(self.energy)
        gains = _gains(self.line, np.maximum(self.letters + bonus[:, None], FLOOR_LOG_PROB).astype(np.float32))
        _, path = _exact(self.line, gains, np.array([ALPHABET.index(c) for c in self.text]))
        self.truth = path

    def decode(self, margin: float) -> list:
        truth = {id(c) for c in self.truth}
        extra = np.array([0.0 if id(c) in truth else margin for c in self.line.readable])
        return self.line.best(self.log_prob + self.line.reading_bonus(self.energy) + extra)[1]

    def features(self, path: list) -> tuple[np.ndarray, np.ndarray, float]:
        """The summed GROUPING_FEATURES, PARTING_FEATURES and energy of a grouping (no dropped pieces)."""
        index = {id(c): k for k, c in enumerate(self.line.readable)}
        grouping = np.sum([c.features for c in path], 0)
        parting = np.zeros(len(PARTING_FEATURES))
        for left, right in zip(path, path[1:]):
            if left.stop == right.first:  # a left-out piece between them: no parting cost (LinePieces.best)
                parting += self.line.parting_features(left, right)
        return grouping, parting, float(sum(self.energy[index[id(c)]] for c in path))


def start_weights() -> tuple[np.ndarray, np.ndarray, float]:
    grouping = np.array([START[0].get(f, 0.0) for f in GROUPING_FEATURES])
    parting = np.array([START[1].get(f, 0.0) for f in PARTING_FEATURES])
    return grouping, parting, START[2]


def fit(lines: list[Line], seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The averaged structured perceptron over `lines` (each aligned), one shuffle."""
    grouping, parting, energy = start_weights()
    sums, count = [np.zeros_like(grouping), np.zeros_like(parting), 0.0], 0
    rng = np.random.default_rng(seed)
    for _ in range(EPOCHS):
        for k in rng.permutation(len(lines)):
            line = lines[k]
            line.weigh((grouping, parting, energy))
            found = line.decode(MARGIN)
            if [id(c) for c in found] != [id(c) for c in line.truth]:
                good, bad = line.features(line.truth), line.features(found)
                grouping = grouping + LEARNING_RATE * (good[0] - bad[0])
                parting = parting - LEARNING_RATE * (good[1] - bad[1])  # parting is a cost
                energy = energy + LEARNING_RATE * (good[2] - bad[2])
            sums[0] += grouping
            sums[1] += parting
            sums[2] += energy
            count += 1
    return sums[0] / count, sums[1] / count, sums[2] / count


def dev_lines(predictor: Predictor, unipen: Path, omniglot: Path, progress) -> list[Line]:
    from bench.line_reading import GAPS, WIDE_WORDS, WORDS, word_line
    from bench.word_reading import LETTERS, word_drawing
    from emnist_core.strokes import read_strokes
    from train.unipen import read_unipen

    samples, _ = read_unipen(unipen, categories=("7",))
    chosen = [s for s in samples if s.style == "PRINTED" and LETTERS.fullmatch(s.label) and tuning(s)]
    rng = np.random.default_rng(77)
    lines = []
    for sample in chosen:
        try:
            lines.append(Line(predictor, word_drawing(sample.strokes, rng), sample.label))
        except (ValueError, UnusableImage):
            continue
    progress(f"{len(lines)} printed words of the tuning writers read")
    drawers = sorted({p.stem.split("_")[1] for p in omniglot.glob("?_drawer*.txt")})
    kinds = list(GAPS)
    for seed in LINE_SEEDS:
        for kind in kinds:
            rng = np.random.default_rng([seed, kinds.index(kind)])
            for _ in range(LINES_PER_SPACING):
                word = str(rng.choice(WIDE_WORDS if kind == "wide-letters" else WORDS))
                drawer = str(rng.choice(drawers))
                _, drawing = word_line([read_strokes(omniglot / f"{c}_{drawer}.txt") for c in word], rng, kind)
                try:
                    lines.append(Line(predictor, drawing, word, letters_line=True))
                except UnusableImage:
                    continue
    progress(f"{len(lines)} lines in all with the Omniglot dev lines")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--unipen", default=str(SHARED / "unipen-dev"))
    parser.add_argument("--omniglot", default=str(SHARED / "omniglot-latin-dev"))
    args = parser.parse_args(argv)
    started = time.time()

    def progress(text):
        print(f"  {text} ({time.time() - started:.0f} s)", file=sys.stderr)

    predictor = Predictor(args.checkpoint)
    lines = dev_lines(predictor, Path(args.unipen), Path(args.omniglot), progress)
    for line in lines:
        line.weigh(start_weights())
        line.align()
    lines = [line for line in lines if line.truth is not None]
    progress(f"{len(lines)} aligned")
    weighted = [line for line in lines for _ in range(LINE_WEIGHT if line.letters_line else 1)]
    fits = [fit(weighted, seed) for seed in range(SHUFFLES)]
    grouping = np.mean([f[0] for f in fits], 0)
    parting = np.mean([f[1] for f in fits], 0)
    energy = float(np.mean([f[2] for f in fits]))
    progress("fitted")
    print(f"GROUPING_WEIGHTS = ({', '.join(f'{w:.2f}' for w in grouping)})")
    print(f"PARTING_WEIGHTS = ({', '.join(f'{w:.2f}' for w in parting)})")
    print(f"ENERGY_WEIGHT = {energy:.2f}")
    priors = []
    for line in lines:
        line.weigh((grouping, parting, energy))
        priors += [c.prior for c in line.truth]
    print(f"the true characters' priors: 0.1% below {np.percentile(priors, 0.1):.2f}, 1% below "
          f"{np.percentile(priors, 1):.2f} (DRAWN_HOPELESS leaves out candidates below it)")
    shipped = (np.array(GROUPING_WEIGHTS), np.array(PARTING_WEIGHTS), ENERGY_WEIGHT)
    for name, weights in (("start", start_weights()), ("fitted", (grouping, parting, energy)), ("shipped", shipped)):
        right = 0
        for line in lines:
            line.weigh(weights)
            right += [id(c) for c in line.decode(0.0)] == [id(c) for c in line.truth]
        print(f"{name}: the true grouping decoded for {right} of {len(lines)} dev lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
