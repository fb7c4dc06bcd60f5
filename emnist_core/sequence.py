"""Joined-up words read whole: a small sequence model (CNN over the line image, a bidirectional GRU, CTC
over the 26 case-folded letters), issue 30 item 3. `SequenceReader.read` reads one drawn word; for the line tab
(predict.Predictor.read_line_strokes, "letters only" and "an English word") `SequenceReader.read_whole` reads
the line beside segmentation, and `judge` says whether its reading should replace segmentation's, judging
both readings by this model.

The image is the page's own: the drawing rendered by strokes.render_drawing (the brush the writer used,
on the canvas they drew on), cropped to its ink, scaled to HEIGHT px and stretched across by WIDEN (squeezed
across only where it would be wider than MAX_WIDTH). The model reads it left to right in columns of 4 px and
gives, for each, log P(blank or letter); the CTC path collapses to letters.

Beside it, where checkpoints/word_pen.pt is there, the pen model (PenWordCTC) reads the same letters from the
line's strokes, the way they were written: its pen path (pen_path: resampled along the pen's way, scaled by the
ink's height), 1-d convolutions and a bidirectional GRU, CTC over the same letters. The two are combined where
texts are scored (Evidence): a text's log-likelihood is the weighted sum of the two models' (PEN_WEIGHT), each
model's greedy reading is a candidate, and the list words nearest to either are scored.

Two readings:
  greedy     the best letter (or blank) per column, repeats and blanks removed
  word list  the NEAREST words of emnist_core.words.english(WORD_COUNT) to the greedy reading (by edit distance,
             within LENGTH_SLACK letters of its length; the commoner first among equals), each scored
             exactly by its CTC log-likelihood plus WORD_WEIGHT * log P(word),
             in a mixture with "any string of letters" (the greedy reading's CTC log-likelihood plus a uniform
             letter prior), as words.best_word's: the more probable wins.

Checkpoints: torch files {"format": FORMAT (PEN_FORMAT), "config": {...}, "alphabet": "abc...", "state_dict": {...},
"training": {...}, and the image's or the path's settings}, tensors and plain data only (loaded with
weights_only=True), the weights in float16.
"""

import math
import multiprocessing
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from .preprocess import NOTHING_DRAWN, UnusableImage
from .shipped import shipped_file
from .strokes import StrokeDrawing, render_drawing
from .words import letter_masks

FORMAT = "emnist-sketchpad-word-ctc-v1"
ALPHABET = "abcdefghijklmnopqrstuvwxyz"  # index 0 is CTC's blank; letter k is index k + 1
HEIGHT = 32  # the line image's height, pixels
MAX_WIDTH = 384  # wider words are squeezed across to this
MIN_WIDTH = 16
WIDEN = 1.5  # the word is stretched across this much: more columns per letter (a cursive letter is narrow)
PAD = 2  # blank pixels left and right of the ink crop
STRIDE = 4  # image columns per output column
INK = 0.25  # a pixel is ink above this (0..1)
# The line tab's two readers of a drawn line (predict.py). Letters only: segmentation's reading is kept unless
# the word models find their own (greedy) reading JUDGE_MARGIN nats likelier than segmentation's, both texts
# case-folded and scored by them (judge; Evidence.judged); chosen with the pen model on rim's tuning writers, ugi,
# par and the Omniglot letter lines (10 before it: docs/RESULTS.md, the pen word model). An English word drawn in separate letters (segmentation parts at
# least as many letters as this model's word has) is read by both models together (fuse): each of a few texts
# (this model's FUSED_WORDS likeliest list words and both models' readings as any string) scores its
# log-likelihood under this model, plus SEGMENTATION_WEIGHT times segmentation's score of its best grouping,
# plus its language prior; chosen on the validation sites ugi and par, rim's tuning writers and the Omniglot
# letter lines (1.5 before 2026-12-08: docs/RESULTS.md, real words). Joined-up, this model's own reading.
JUDGE_MARGIN = 7.0
FUSED_WORDS = 5
SEGMENTATION_WEIGHT = 1.25
TWO_CASES = "abdefghnqrt"  # the letters ByMerge reads in both cases: segmentation's case is known for these only
# Letters only, where judge keeps segmentation's reading, its letters are read again with this model's help
# (checked): of the texts that change at most CHECK_CHANGES characters, each to one of its CHECK_LETTERS likeliest
# letters, the one whose characters' log-probabilities plus CHECK_WEIGHT times its log-likelihood under this model
# is highest. Chosen on rim's tuning writers, ugi and par and the Omniglot letter lines (docs/RESULTS.md, real words).
CHECK_WEIGHT = 0.2
CHECK_LETTERS = 3
CHECK_CHANGES = 2
# The word list's mixture (chosen a priori, as words.py's: not tuned on the validation sites)
LENGTH_SLACK = 2  # list words this many letters longer or shorter than the greedy reading are looked at
WORD_COUNT = 200_000  # the list's most frequent words looked in (words.english): 50,000 left out 13 points of rim's
# printed words that 200,000 read whole (docs/RESULTS.md); the edit distances to all of them take a few ms
NEAREST = 200  # of those, the nearest to the greedy reading by edit distance (then the commoner) are scored
WORD_WEIGHT = 1.0  # log P(word) counts this much against the CTC log-likelihood
IN_LIST = 0.99  # how often a word is a word of the list (0.9 read fewer written words right: docs/RESULTS.md)
DEFAULT_WORD_CHECKPOINT = shipped_file("checkpoints/word_ctc.pt")
# The pen model (PenWordCTC): the same letters read from how the line was written, its pen path (pen_path). Where
# it is there, a text's log-likelihood is the two models' weighted sum (Evidence), the weights adding to one so
# the constants above keep their scale; equal weights, chosen a priori (docs/RESULTS.md, the pen word model).
PEN_FORMAT = "emnist-sketchpad-word-pen-v1"
PEN_STEP = 1 / 16  # the pen path resampled every this much of the line's ink height along the pen's way
PEN_POINTS = 1600  # at most this many points: a longer path is resampled more coarsely
PEN_STRIDE = 4  # path points per output column
PEN_WEIGHT = 0.5  # the pen model's share of a text's log-likelihood; the image model's is 1 - PEN_WEIGHT
DEFAULT_PEN_CHECKPOINT = shipped_file("checkpoints/word_pen.pt")


class SequenceCheckpointError(RuntimeError):
    """The file is no word CTC checkpoint, or garbles one: the message names the file and the problem."""


@dataclass(frozen=True)
class SequenceConfig:
    channels: tuple = (16, 32, 64, 96, 128)
    hidden: int = 128  # GRU units each way
    layers: int = 1
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, d: dict) -> "SequenceConfig":
        return cls(channels=tuple(int(c) for c in d["channels"]), hidden=int(d["hidden"]),
                   layers=int(d["layers"]), dropout=float(d["dropout"]))


class WordCTC(nn.Module):
    """(N, 1, HEIGHT, W) ink in 0..1 -> (W / STRIDE, N, 27) log-probabilities (blank first)."""

    def __init__(self, config: SequenceConfig = SequenceConfig(), classes: int = len(ALPHABET) + 1):
        super().__init__()
        c = config.channels
        pools = [(2, 2), (2, 2), (2, 1), (2, 1), (1, 1)]  # height 32 -> 2, width / 4
        layers, previous = [], 1
        for out, pool in zip(c, pools):
            layers += [nn.Conv2d(previous, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            if pool != (1, 1):
                layers.append(nn.MaxPool2d(pool))
            previous = out
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Linear(c[-1] * (HEIGHT // 16), 2 * config.hidden)
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = nn.GRU(2 * config.hidden, config.hidden, num_layers=config.layers, bidirectional=True,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        self.out = nn.Linear(2 * config.hidden, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.cnn(images)  # (N, C, 2, W/4)
        n, c, h, w = features.shape
        features = features.permute(3, 0, 1, 2).reshape(w, n, c * h)
        hidden, _ = self.rnn(self.dropout(torch.relu(self.project(features))))
        return self.out(self.dropout(hidden)).log_softmax(-1)


@dataclass(frozen=True)
class PenConfig:
    channels: tuple = (64, 96, 128, 128)  # 1-d convolutions along the path, the 2nd and 4th of stride 2
    hidden: int = 128  # GRU units each way
    members: int = 1  # networks of this shape trained apart (other seeds): each reads, Evidence weighs them alike

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}

    @classmethod
    def from_dict(cls, d: dict) -> "PenConfig":
        return cls(channels=tuple(int(c) for c in d["channels"]), hidden=int(d["hidden"]),
                   members=int(d.get("members", 1)))


class PenWordCTC(nn.Module):
    """(N, 4, L) pen paths (pen_path) and their lengths -> ((L / PEN_STRIDE, N, 27) log-probabilities, blank
    first; each path's number of output columns)."""

    def __init__(self, config: PenConfig = PenConfig(), classes: int = len(ALPHABET) + 1):
        super().__init__()
        if len(config.channels) != 4:
            raise ValueError("a pen model has 4 convolutions")
        layers, previous = [], 4
        for k, out in enumerate(config.channels):
            layers += [nn.Conv1d(previous, out, 5, stride=2 if k % 2 else 1, padding=2, bias=False),
                       nn.BatchNorm1d(out), nn.ReLU()]
            previous = out
        self.body = nn.Sequential(*layers)
        self.rnn = nn.GRU(previous, config.hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * config.hidden, classes)

    def forward(self, paths: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(paths).transpose(1, 2)  # (N, L / 4, C)
        columns = pen_columns(lengths)
        packed = nn.utils.rnn.pack_padded_sequence(features, columns.cpu(), batch_first=True, enforce_sorted=False)
        hidden, _ = self.rnn(packed)
        hidden, _ = nn.utils.rnn.pad_packed_sequence(hidden, batch_first=True, total_length=features.shape[1])
        return self.head(hidden).log_softmax(-1).transpose(0, 1), columns


class PenEnsemble(nn.Module):
    """config.members PenWordCTC of one shape, trained apart: (N, 4, L) pen paths and their lengths -> ((M,
    L / PEN_STRIDE, N, 27) each one's log-probabilities, the output columns)."""

    def __init__(self, config: PenConfig):
        super().__init__()
        self.members = nn.ModuleList(PenWordCTC(config) for _ in range(config.members))

    def forward(self, paths: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        read = [member(paths, lengths) for member in self.members]
        return torch.stack([log_probs for log_probs, _ in read]), read[0][1]


def pen_model(config: PenConfig) -> nn.Module:
    """The pen model a PenConfig describes: one PenWordCTC, or a PenEnsemble of config.members."""
    return PenWordCTC(config) if config.members == 1 else PenEnsemble(config)


def pen_columns(lengths: torch.Tensor) -> torch.Tensor:
    """Path lengths -> the pen model's output columns (two convolutions of stride 2, padded)."""
    return ((lengths + 1) // 2 + 1) // 2


def pen_path(strokes) -> np.ndarray:
    """A line's strokes ((K, 2) points, y down, any units: canvas pixels on the page) -> (4, N) float32, the pen
    path the pen model reads: every stroke resampled along its length every PEN_STEP of the ink's height (a
    stroke of one point is one point; at most PEN_POINTS in all), each point as its step from the point before
    (x and y; a new stroke's first point: the jump there, pen up), its height (0 the middle of the ink, +-1 its
    top and bottom) and whether a stroke starts there. Scaled by the ink's height, so the canvas and units do
    not matter. Raises ValueError for no points."""
    strokes = [np.asarray(s, np.float64).reshape(-1, 2) for s in strokes]
    strokes = [s for s in strokes if len(s)]
    if not strokes:
        raise ValueError("no points")
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    height = max(float(high[1] - low[1]), 1e-6)
    middle = (low[1] + high[1]) / 2
    scaled = [(s - [low[0], middle]) / height for s in strokes]
    steps = [np.hypot(*np.diff(s, axis=0).T) for s in scaled]
    length = float(sum(d.sum() for d in steps))
    step = max(PEN_STEP, length / max(1, PEN_POINTS - 2 * len(scaled)))  # a stroke's ends may add a point each
    xs, ys, starts = [], [], []
    for s, d in zip(scaled, steps):
        along = np.concatenate([[0.0], np.cumsum(d)])
        at = np.arange(0.0, along[-1], step) if along[-1] > 0 else np.zeros(1)
        if along[-1] - at[-1] > step / 2:
            at = np.append(at, along[-1])
        xs.append(np.interp(at, along, s[:, 0]))
        ys.append(np.interp(at, along, s[:, 1]))
        first = np.zeros(len(at))
        first[0] = 1
        starts.append(first)
    x, y, starts = np.concatenate(xs), np.concatenate(ys), np.concatenate(starts)
    if len(x) > PEN_POINTS:  # more strokes than half of PEN_POINTS: every so many points kept
        keep = np.linspace(0, len(x) - 1, PEN_POINTS).round().astype(int)
        x, y, starts = x[keep], y[keep], starts[keep]
    return np.stack([10 * np.diff(x, prepend=x[0]), 10 * np.diff(y, prepend=y[0]), 2 * y,
                     starts]).astype(np.float32)


def pen_batch(paths: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pen paths -> (N, 4, max L) zero-padded, and their lengths."""
    out = np.zeros((len(paths), 4, max(p.shape[1] for p in paths)), np.float32)
    for k, path in enumerate(paths):
        out[k, :, :path.shape[1]] = path
    return torch.from_numpy(out), torch.tensor([p.shape[1] for p in paths], dtype=torch.long)


# ---- the image ------------------------------------------------------------------------------------------

def line_image(drawing: StrokeDrawing, rendered: np.ndarray | None = None) -> np.ndarray:
    """A drawn word -> (HEIGHT, W) float32 ink in 0..1, W a multiple of STRIDE: rendered as the page renders
    it (`rendered`: that rendering, if the caller has it), cropped to its ink, scaled to HEIGHT keeping the
    aspect. Raises UnusableImage with nothing drawn."""
    if not drawing.strokes:
        raise UnusableImage(NOTHING_DRAWN)
    return ink_to_line(drawing_ink(drawing, rendered))


def drawing_ink(drawing: StrokeDrawing, rendered: np.ndarray | None = None) -> np.ndarray:
    """The drawing as the page renders it (or `rendered`, that rendering), as float32 ink in 0..1."""
    return 1.0 - (render_drawing(drawing) if rendered is None else rendered).astype(np.float32) / 255.0


def squeezed(ink: np.ndarray) -> bool:
    """Whether ink_to_line would squeeze this line across (wider than MAX_WIDTH at HEIGHT): a line longer than
    the words the model learnt from (a 40-letter word read 32 letters), which segmentation reads better."""
    rows, cols = np.flatnonzero((ink > INK).any(1)), np.flatnonzero((ink > INK).any(0))
    if not len(rows):
        return False
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return WIDEN * w * (HEIGHT - 2 * PAD) / h > MAX_WIDTH - 2 * PAD


def _crop(ink: np.ndarray) -> tuple[int, int, int, int, int]:
    """(top, bottom, left, right, width): the ink's box (bottom and right exclusive) and its width in the
    line image."""
    rows, cols = np.flatnonzero((ink > INK).any(1)), np.flatnonzero((ink > INK).any(0))
    if not len(rows):
        raise UnusableImage(NOTHING_DRAWN)
    h, w = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    width = int(np.clip(round(WIDEN * w * (HEIGHT - 2 * PAD) / h), MIN_WIDTH - 2 * PAD, MAX_WIDTH - 2 * PAD))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1, width


def column_x(ink: np.ndarray, columns) -> np.ndarray:
    """Output columns of the model (fractional: 0 is the left edge of the first) -> x on the drawing's
    canvas, for the line ink_to_line makes of `ink`."""
    _, _, left, right, width = _crop(ink)
    return left + (np.asarray(columns, np.float64) * STRIDE - PAD) * (right - left) / width


def ink_to_line(ink: np.ndarray) -> np.ndarray:
    top, bottom, left, right, width = _crop(ink)
    crop = ink[top:bottom, left:right]
    inner = HEIGHT - 2 * PAD
    small = cv2.resize(crop, (width, inner), interpolation=cv2.INTER_AREA)
    total = max(MIN_WIDTH, math.ceil((width + 2 * PAD) / STRIDE) * STRIDE)
    out = np.zeros((HEIGHT, total), np.float32)
    out[PAD:PAD + inner, PAD:PAD + width] = np.clip(small, 0, 1)
    return out


def batch(images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of one height, any widths -> (N, 1, HEIGHT, max W) zero-padded, and each one's output length."""
    width = max(i.shape[1] for i in images)
    out = np.zeros((len(images), 1, HEIGHT, width), np.float32)
    for k, image in enumerate(images):
        out[k, 0, :, :image.shape[1]] = image
    return torch.from_numpy(out), torch.tensor([i.shape[1] // STRIDE for i in images], dtype=torch.long)


# ---- decoding ---------------------------------------------------------------------------------------------

def greedy(log_probs: np.ndarray) -> tuple[str, float]:
    """(T, 27) -> (the best path collapsed to letters, the best path's log-probability)."""
    best = log_probs.argmax(1)
    score = float(log_probs[np.arange(len(best)), best].sum())
    text, previous = [], 0
    for k in best:
        if k and k != previous:
            text.append(ALPHABET[k - 1])
        previous = k
    return "".join(text), score


def ctc_log_likelihood(log_probs: np.ndarray, words: np.ndarray) -> np.ndarray:
    """(T, 27) log-probabilities and (N, L) letter indices (0..25) of N words of one length L -> (N,)
    log P(word | image), the CTC forward sum over every path, all N words at once (blank is class 0;
    -inf where the columns cannot hold the word). torch's CTC in float64: in C++, so the line tab's word
    model, which runs this beside segmentation, leaves the interpreter to it meanwhile."""
    n, length = words.shape
    if not n:
        return np.zeros(0)
    t_len = len(log_probs)
    columns = torch.from_numpy(np.ascontiguousarray(log_probs, np.float64))[:, None, :].expand(t_len, n, log_probs.shape[1])
    with torch.inference_mode():
        loss = torch.nn.functional.ctc_loss(columns, torch.from_numpy(np.asarray(words, np.int64) + 1),
                                            torch.full((n,), t_len, dtype=torch.int64),
                                            torch.full((n,), length, dtype=torch.int64), reduction="none")
    return -loss.numpy()


def ctc_align(log_probs: np.ndarray, text: str) -> list[tuple[int, int]] | None:
    """The likeliest CTC path of `text` (letters a-z) through (T, 27) log-probabilities (Viterbi): per letter,
    the first and last column it is read in; None where the columns cannot hold the text."""
    labels = [ALPHABET.index(c) + 1 for c in text]
    states = np.zeros(2 * len(labels) + 1, np.int64)  # blank, letter, blank, letter, ..., blank
    states[1::2] = labels
    n, t_len = len(states), len(log_probs)
    if not labels or t_len < len(labels):
        return None
    skip = np.zeros(n, bool)  # a letter reached from the letter before it, past the blank between
    skip[3::2] = states[3::2] != states[1:-2:2]
    score = np.full(n, -np.inf)
    score[:2] = log_probs[0, states[:2]]
    came = np.zeros((t_len, n), np.int8)  # how far back each state's best predecessor is (0, 1 or 2)
    for t in range(1, t_len):
        options = np.full((3, n), -np.inf)
        options[0] = score
        options[1, 1:] = score[:-1]
        options[2, 2:] = np.where(skip[2:], score[:-2], -np.inf)
        came[t] = options.argmax(0)
        score = options[came[t], np.arange(n)] + log_probs[t, states]
    state = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    if not np.isfinite(score[state]):
        return None
    path = np.zeros(t_len, np.int64)
    for t in range(t_len - 1, -1, -1):
        path[t] = state
        state -= came[t, state]
    spans = []
    for k in range(len(labels)):
        read = np.flatnonzero(path == 2 * k + 1)
        spans.append((int(read[0]), int(read[-1])))
    return spans


def judged_log_likelihood(log_probs: np.ndarray, text: str) -> float:
    """log P(text | image) under the CTC model, the text case-folded: how a reading of the same line by another
    reader (segmentation) is judged beside this model's own. -inf for a text with anything but letters, an empty
    one, or one longer than the columns can hold."""
    folded = text.lower()
    if not folded or any(c not in ALPHABET for c in folded) or len(folded) > len(log_probs):
        return -math.inf
    return float(ctc_log_likelihood(log_probs, np.array([[ALPHABET.index(c) for c in folded]]))[0])


def letter_confidence(log_probs: np.ndarray) -> float:
    """The mean, over the greedy reading's letters, of each letter's highest log-probability in its columns:
    a confidence comparable with segmentation's mean log-probability of its characters' readings
    (-inf when nothing is read)."""
    best, peaks, previous = log_probs.argmax(1), [], 0
    for t, k in enumerate(best):
        if k and k != previous:
            peaks.append(float(log_probs[t, k]))
        elif k:
            peaks[-1] = max(peaks[-1], float(log_probs[t, k]))
        previous = k
    return float(np.mean(peaks)) if peaks else -math.inf


def edit_distances(text: str, words: np.ndarray, masks: np.ndarray | None = None) -> np.ndarray:
    """Levenshtein distance from `text` to each of N words of one length ((N, L) letter indices), all at once:
    Myers' bit-parallel algorithm (Hyyro's form for the distance between whole strings), a column of the
    table per letter of `text` in a few operations on N 64-bit words. `masks`: words.letter_masks of `words`
    (made here where not given; a WordList keeps them)."""
    n, length = words.shape
    if masks is None:
        masks = letter_masks(words)
    one, high = np.uint64(1), np.uint64(1 << (length - 1)) if length else np.uint64(0)
    positive = np.full(n, (1 << length) - 1, np.uint64)  # vertical deltas +1 (bits), the first column: 0..L
    negative = np.zeros(n, np.uint64)  # vertical deltas -1
    distance = np.full(n, length, np.int64)
    for c in text:
        equal = masks[ALPHABET.index(c)]
        vertical = equal | negative
        horizontal = (((equal & positive) + positive) ^ positive) | equal
        up = negative | ~(horizontal | positive)
        down = positive & horizontal
        distance += (up & high) != 0
        distance -= (down & high) != 0
        up = (up << one) | one  # the first row grows by one a letter of text
        down = down << one
        positive = down | ~(vertical | up)
        negative = up & vertical
    return distance


@dataclass
class WordReading:
    text: str  # what was read (lowercase)
    greedy: str  # the greedy reading
    in_list: bool  # the word list's word won
    score: float  # the winner's log-score in the mixture (the greedy path's when the list was not used)
    nearest: tuple = ()  # ((word, its CTC log-likelihood), ...): the list's FUSED_WORDS likeliest, likeliest first

    def per_letter(self) -> float:
        """The reading's log-score per letter: what a choice beside segmentation could compare."""
        return self.score / max(1, len(self.text))


@dataclass(frozen=True)
class Evidence:
    """One line as the word models read it: each model's (T, 27) log-probabilities and the weight its
    log-likelihoods carry (the image model's alone: weight 1; with the pen model: 1 - PEN_WEIGHT and PEN_WEIGHT,
    shared alike by the pen model's networks). A text's log-likelihood is their weighted sum."""
    parts: tuple  # ((log_probs, weight), ...), the image model's first

    @classmethod
    def of(cls, log_probs) -> "Evidence":
        """An Evidence as it is, or one model's (T, 27) log-probabilities as one."""
        return log_probs if isinstance(log_probs, cls) else cls(((np.asarray(log_probs), 1.0),))

    @property
    def columns(self) -> int:
        """The most letters every model's columns can hold."""
        return min(len(log_probs) for log_probs, _ in self.parts)

    def log_likelihood(self, words: np.ndarray) -> np.ndarray:
        """(N, L) letter indices -> (N,) the weighted sum of ctc_log_likelihood (-inf where a model cannot hold one)."""
        return sum(weight * ctc_log_likelihood(log_probs, words) for log_probs, weight in self.parts)

    def judged(self, text: str) -> float:
        """judged_log_likelihood, weighted and summed over the models."""
        return sum(weight * judged_log_likelihood(log_probs, text) for log_probs, weight in self.parts)

    def blank(self) -> float:
        """The log-likelihood of no letters at all (every column blank), weighted and summed."""
        return sum(weight * float(log_probs[:, 0].sum()) for log_probs, weight in self.parts)


def read_with_words(log_probs, word_list=None) -> WordReading:
    """The greedy reading, replaced by the best word of the list when the mixture prefers it. `log_probs`: one
    model's (T, 27), or an Evidence of several; then each one's greedy reading is a candidate (the likeliest of
    them is the reading as any string) and the list words nearest to each are scored by all of them together."""
    evidence = Evidence.of(log_probs)
    greedies = list(dict.fromkeys(greedy(part)[0] for part, _ in evidence.parts))
    likelihoods = [evidence.judged(text) if text else evidence.blank() for text in greedies]
    text = greedies[int(np.argmax(likelihoods))]
    free = max(likelihoods) + len(text) * math.log(1 / len(ALPHABET)) + math.log(1 - IN_LIST)
    best = WordReading(text, text, False, free)
    if word_list is None:
        return best
    near = set()  # (length, row)
    for reading in greedies:
        found = []  # (distance, -log prior, length, row)
        for length in range(max(1, len(reading) - LENGTH_SLACK), len(reading) + LENGTH_SLACK + 1):
            if length not in word_list.by_length or length > evidence.columns:
                continue
            letters, log_prior, _ = word_list.by_length[length]
            distance = edit_distances(reading, letters, word_list.letter_masks(length))
            keep = np.lexsort((-log_prior, distance))[:NEAREST]
            found += [(int(distance[k]), -float(log_prior[k]), length, int(k)) for k in keep]
        near.update((c[2], c[3]) for c in sorted(found)[:NEAREST])
    scored = []  # (total, word, log-likelihood)
    for length in sorted({length for length, _ in near}):
        letters, log_prior, words = word_list.by_length[length]
        rows = np.array(sorted(row for n, row in near if n == length))
        likelihoods = evidence.log_likelihood(letters[rows])
        totals = likelihoods + WORD_WEIGHT * log_prior[rows] + math.log(IN_LIST)
        scored += [(float(t), words[r], float(ll)) for t, r, ll in zip(totals, rows, likelihoods)]
    scored.sort(key=lambda item: -item[0])  # stable: among equal totals, the shorter and commoner first
    nearest = tuple((word, ll) for _, word, ll in scored[:FUSED_WORDS])
    if scored and scored[0][0] > best.score:
        return WordReading(scored[0][1], text, True, scored[0][0], nearest)
    return WordReading(text, text, False, free, nearest)


# ---- the reader and its checkpoint ----------------------------------------------------------------------

def _save(model: nn.Module, config, settings: dict, path, training: dict | None, half: bool) -> None:
    """{"format", "config", the settings the model was made for, "state_dict", "training"}, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model.state_dict().items()}
    payload = {**settings, "config": config.to_dict(), "state_dict": state, "training": training or {}}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path, settings: dict, config_class, model_class) -> tuple:
    """_save's file -> (the model in eval mode, float32, its config, its training record), where it was made for
    these settings (its format first). Raises SequenceCheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise SequenceCheckpointError(f"{path}: no such word checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise SequenceCheckpointError(f"{path}: not a readable word checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != settings["format"]:
        raise SequenceCheckpointError(f"{path}: not a {settings['format']} checkpoint")
    if any(payload.get(key) != value for key, value in settings.items()):
        raise SequenceCheckpointError(f"{path}: made for another alphabet, image or pen path")
    try:
        config = config_class.from_dict(payload["config"])
        model = model_class(config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise SequenceCheckpointError(f"{path}: the weights do not fit the model: {str(error)[:200]}") from None
    return model.eval(), config, payload.get("training", {})


IMAGE_SETTINGS = {"format": FORMAT, "alphabet": ALPHABET, "height": HEIGHT, "stride": STRIDE, "widen": WIDEN}
PEN_SETTINGS = {"format": PEN_FORMAT, "alphabet": ALPHABET, "step": PEN_STEP, "points": PEN_POINTS, "stride": PEN_STRIDE}


def save_sequence_checkpoint(model: WordCTC, config: SequenceConfig, path, training: dict | None = None,
                             half: bool = True) -> None:
    """Write atomically; `half` stores the weights as float16 (half the size, the same readings to ~1e-3)."""
    _save(model, config, IMAGE_SETTINGS, path, training, half)


def load_sequence_checkpoint(path=DEFAULT_WORD_CHECKPOINT) -> tuple[WordCTC, SequenceConfig, dict]:
    """-> (the model in eval mode, float32, its config, its training record). Raises SequenceCheckpointError."""
    return _load(path, IMAGE_SETTINGS, SequenceConfig, WordCTC)


def save_pen_checkpoint(model: nn.Module, config: PenConfig, path, training: dict | None = None,
                        half: bool = True) -> None:
    """The pen model, as save_sequence_checkpoint writes the image model."""
    _save(model, config, PEN_SETTINGS, path, training, half)


def load_pen_checkpoint(path=DEFAULT_PEN_CHECKPOINT) -> tuple[nn.Module, PenConfig, dict]:
    """-> (the pen model in eval mode, float32: a PenWordCTC or a PenEnsemble, pen_model; its config, its training
    record). Raises SequenceCheckpointError."""
    return _load(path, PEN_SETTINGS, PenConfig, pen_model)


class SequenceReader:
    """A trained WordCTC, the pen model beside it where there is one (PenWordCTC), and the word list, reading
    drawn words."""

    def __init__(self, path=DEFAULT_WORD_CHECKPOINT, model: WordCTC | None = None, pen_path=DEFAULT_PEN_CHECKPOINT,
                 pen_model: nn.Module | None = None):
        """`pen_path`: the pen model's checkpoint (the shipped one by default, where it is there; None: none)."""
        self.path = path if model is None else None  # what WordModelProcess loads again (None: a model given)
        if model is None:
            model, self.config, self.training = load_sequence_checkpoint(path)
        self.model = model.eval()
        if pen_model is None and pen_path is not None and (Path(pen_path) != Path(DEFAULT_PEN_CHECKPOINT)
                                                           or Path(pen_path).is_file()):
            pen_model = load_pen_checkpoint(pen_path)[0]
        else:
            pen_path = None
        self.pen_path = pen_path  # what WordModelProcess loads again (None: no pen model, or one given)
        self.pen_model = None if pen_model is None else pen_model.eval()

    def log_probs(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Line images -> each one's (T, 27) log-probabilities (its padding's columns cut off)."""
        x, lengths = batch(images)
        with torch.inference_mode():
            out = self.model(x).numpy()
        return [out[:n, k] for k, n in enumerate(lengths.tolist())]

    def pen_log_probs(self, strokes) -> list[np.ndarray]:
        """A line's strokes -> the pen model's (T, 27) log-probabilities of its pen path, one array for each of its
        networks (PenEnsemble). Raises ValueError for no points."""
        paths, lengths = pen_batch([pen_path(strokes)])
        with torch.inference_mode():
            out, columns = self.pen_model(paths, lengths)
        return [member[:int(columns[0]), 0].numpy() for member in (out if out.dim() == 4 else out[None])]

    def evidence(self, drawing: StrokeDrawing, line: np.ndarray) -> Evidence:
        """The drawing read by the models: the image model's reading of its line image `line`, and the pen
        model's of its strokes where there is a pen model (weighted PEN_WEIGHT, shared alike by its networks)."""
        (log_probs,) = self.log_probs([line])
        if self.pen_model is None:
            return Evidence.of(log_probs)
        pens = self.pen_log_probs(drawing.strokes)
        return Evidence(((log_probs, 1 - PEN_WEIGHT), *((pen, PEN_WEIGHT / len(pens)) for pen in pens)))

    def read_whole(self, drawing: StrokeDrawing, words: bool, rendered: np.ndarray | None = None) -> "Whole | None":
        """A drawn line read whole by the word models (with the word list where `words`), before it is judged
        beside segmentation's reading (judge): what needs no segmentation, so it may run beside it. None
        where they should not read it (no strokes; longer than the words they learnt from, where the image model
        would read letters 2-3 columns wide; no ink)."""
        if not drawing.strokes:
            return None
        ink = drawing_ink(drawing, rendered)
        if squeezed(ink):
            return None
        try:
            evidence = self.evidence(drawing, ink_to_line(ink))
        except (UnusableImage, ValueError):
            return None
        return Whole(evidence, read_with_words(evidence, self.word_list() if words else None), words)

    @staticmethod
    def word_list():
        """english(WORD_COUNT), or None where wordfreq is not installed."""
        from .words import WordListUnavailable, english
        try:
            return english(WORD_COUNT)
        except WordListUnavailable:
            return None

    def read(self, drawing: StrokeDrawing, words: bool = True) -> WordReading:
        """A drawn word -> its reading; with `words`, the word list decides (if wordfreq is there)."""
        return read_with_words(self.evidence(drawing, line_image(drawing)), self.word_list() if words else None)


@dataclass
class Whole:
    """A line read whole by the word models, waiting to be judged beside segmentation's reading (judge)."""
    evidence: Evidence  # each model's log-probabilities (Evidence.of takes one model's (T, 27) too)
    reading: WordReading  # their own reading: with the word list where `words`, else greedy
    words: bool  # read as an English word (the line tab's "An English word")

    def __post_init__(self):
        self.evidence = Evidence.of(self.evidence)


class WordModelProcess:
    """SequenceReader.read_whole in a process of its own (spawned, one torch thread), for the page: beside
    segmentation, which is Python too, a thread of the same interpreter waits on its lock (rim's unseen
    10-letter words read as a word: 109 ms on a thread, 100-105 in a process; docs/RESULTS.md, real words). Started
    (the model and the word list loaded, a few seconds) when made; `submit` gives a Future of read_whole's
    answer. Where the process cannot start or dies, the Future raises (concurrent.futures' BrokenProcessPool):
    the caller reads in its own process instead."""

    def __init__(self, path=DEFAULT_WORD_CHECKPOINT, pen_path=DEFAULT_PEN_CHECKPOINT):
        before = set(multiprocessing.active_children())
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_start_reader,
                                         initargs=(str(path), None if pen_path is None else str(pen_path)))
        self.ready = self._pool.submit(_reader_ready)  # done when the model is loaded (or the start failed)
        self._workers = set(multiprocessing.active_children()) - before  # the process the submit started

    def submit(self, drawing: StrokeDrawing, words: bool, rendered: np.ndarray | None = None) -> Future:
        return self._pool.submit(_read_whole, drawing, words, rendered)

    def close(self) -> None:
        """Stop it now, whatever it is doing: the process ends (SIGTERM) and what waits is told (BrokenProcessPool),
        so that a stopping server does not wait at exit for a start still loading or a line nobody will see. It
        returns once the pool's own thread has ended too: left running, that thread closed its pipe while the
        interpreter's exit wrote to it ("OSError: [Errno 9] Bad file descriptor" after Ctrl-C, now and then)."""
        for worker in self._workers:
            worker.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)  # quick: with its process gone, the pool gives up


_READER: SequenceReader | None = None  # in a WordModelProcess's process: its reader


def _start_reader(path: str, pen_path: str | None) -> None:
    global _READER
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True, name="parent-watch").start()
    torch.set_num_threads(1)  # as the page's own process (demo.main): one line's columns are little work
    _READER = SequenceReader(path, pen_path=pen_path)
    word_list = _READER.word_list()  # loaded now, not at the first word
    for length in word_list.by_length if word_list is not None else ():
        word_list.letter_masks(length)  # and what its edit distances read (30 ms for 200,000 words)


def _end_with(parent: int) -> None:
    """In a WordModelProcess's process: end it within a second of the process that started it, however that one
    ended (a server killed while this process was still loading left it behind, holding the server's output)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _reader_ready() -> bool:
    return _READER is not None


def _read_whole(drawing: StrokeDrawing, words: bool, rendered: np.ndarray | None) -> "Whole | None":
    return _READER.read_whole(drawing, words, rendered)


def judge(whole: Whole | None, theirs: str, margin: float = JUDGE_MARGIN) -> str | None:
    """The word models' reading (`whole`, read as letters only) where it is more than `margin` nats likelier,
    under those models, than `theirs` (another reader's text, case-folded), in their case (in_case); None where
    theirs stands."""
    if whole is None:
        return None
    text = whole.reading.text
    if not text or text == theirs.lower():
        return None
    if whole.evidence.judged(text) <= whole.evidence.judged(theirs) + margin:
        return None
    return in_case(text, theirs)


def checked(whole: Whole | None, characters: list[list[tuple[str, float]]], weight: float = CHECK_WEIGHT
            ) -> str | None:
    """Letters only: a line's characters (each its readings, likeliest first, with their probabilities: a
    Prediction's top5) read again with the word model's help. Starting from each character's own reading, one
    character at a time is changed to another of its CHECK_LETTERS likeliest letters where that raises the
    characters' summed log-probability plus `weight` times the text's log-likelihood under the word model
    (`whole`); at most CHECK_CHANGES changes. The text (in the line's case where its reading shows it, in_case;
    else each letter in the case it was read in), or None where it is the characters' own reading, there is no
    word model reading, or a character reads as no letter."""
    if whole is None or not characters or any(not top or not top[0][0].isalpha() for top in characters):
        return None
    options = [[(c, math.log(p)) for c, p in top if c.isalpha() and p > 0][:CHECK_LETTERS] for top in characters]
    if any(not o for o in options):
        return None
    choice = [0] * len(options)

    def scores(choices: list[list[int]]) -> np.ndarray:
        texts = np.array([[ALPHABET.index(options[i][k][0].lower()) for i, k in enumerate(c)] for c in choices])
        own = np.array([sum(options[i][k][1] for i, k in enumerate(c)) for c in choices])
        return own + weight * whole.evidence.log_likelihood(texts)

    best = scores([choice])[0]
    for _ in range(CHECK_CHANGES):
        changes = [choice[:i] + [k] + choice[i + 1:] for i, o in enumerate(options) for k in range(len(o))
                   if k != choice[i]]
        if not changes:
            break
        found = scores(changes)
        if not found.max() > best:
            break
        best, choice = float(found.max()), changes[int(found.argmax())]
    if not any(choice):
        return None
    return in_case("".join(options[i][k][0] for i, k in enumerate(choice)), "".join(o[0][0] for o in options))


@dataclass
class Fused:
    """fuse's choice: the text (lowercase), and segmentation's grouping of the line as that text (None: the
    word model's reading of a line whose letters segmentation cannot part)."""
    text: str
    path: list | None


def fuse(whole: Whole | None, line_scores, word_list=None) -> Fused | None:
    """A drawn line read as an English word by both models: the word model's reading `whole` (read with its
    word list) and segmentation's (`line_scores`: words.LineScores of the line). Where segmentation parts the
    line into at least as many letters as the word model's reading has, the text that scores best of: the word
    model's FUSED_WORDS likeliest list words and both models' readings as any string; each scored by its
    log-likelihood under the word model + SEGMENTATION_WEIGHT * segmentation's score of its best grouping + its
    language prior (language_log_prior; `word_list`, by default the word model's). Where segmentation parts it
    into fewer (joined-up writing), the word model's own reading. None without the word model's reading (then
    segmentation searches the word list alone: words.best_word)."""
    if whole is None or not whole.words or not whole.reading.text:
        return None
    mine = whole.reading.text
    if len(line_scores.free_path) < len(mine):
        return Fused(mine, None)
    word_list = SequenceReader.word_list() if word_list is None else word_list
    texts = dict(whole.reading.nearest)  # text -> its log-likelihood under the word model (None: not yet known)
    for text in (line_scores.free_text, whole.reading.greedy):
        texts.setdefault(text, None)
    best, best_score = None, -math.inf
    for text, likelihood in texts.items():
        read = line_scores.read_as(text) if text else None
        if read is None:
            continue
        likelihood = whole.evidence.judged(text) if likelihood is None else likelihood
        score = likelihood + SEGMENTATION_WEIGHT * read[0] + language_log_prior(text, word_list)
        if score > best_score:
            best, best_score = Fused(text, read[1]), score
    return best


def language_log_prior(text: str, word_list) -> float:
    """log P(text) in the word list's mixture (read_with_words'): a word of the list, IN_LIST times its share of
    use (to the power WORD_WEIGHT), or any string of letters, each one of 26; 0 without a list."""
    if word_list is None:
        return 0.0
    share = word_list.log_priors.get(text)
    if share is not None:
        return WORD_WEIGHT * share + math.log(IN_LIST)
    return len(text) * math.log(1 / len(ALPHABET)) + math.log(1 - IN_LIST)


def in_case(text: str, segmented: str) -> str:
    """`text` (lowercase) in the case segmentation read the line in, where that is known: all capitals when
    most of the letters of `segmented` that ByMerge reads in both cases (TWO_CASES), two at least, are capitals
    (BREAKPaNT: a stray small a among capitals), and a capital first letter when segmentation's first letter is
    one of those in capitals; else as it is."""
    known = [c for c in segmented if c.lower() in TWO_CASES]
    if len(known) >= 2 and 2 * sum(c.isupper() for c in known) > len(known):
        return text.upper()
    if segmented[:1].lower() in TWO_CASES and segmented[:1].isupper():
        return text[:1].upper() + text[1:]
    return text
