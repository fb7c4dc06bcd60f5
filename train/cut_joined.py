"""Letters cut out of whole written words by the word model, for both character models: `python -m train.cut_joined`.

UNIPEN's cea and ceb (and ced, the same site, held out) hold characters cut out of written words, joined-up
ones too: a letter's share of a pen path, with the lead-in and the tail that joined it to its neighbours.
None of the 13 training sites cuts characters so, and the pen validation read cea and ceb at 78-84% tolerant
against 94-97% for the sites that write letters alone (docs/RESULTS.md, "Where the errors left are"). This
cuts such letters out of the words of UNIPEN category 7, every style:

  * words of letters only from sites that neither the word bench nor the pen-character validation uses
    (cut_letters.excluded_sites), each drawn on the page's line canvas as bench.word_reading draws a word;
  * the word model (emnist_core.sequence) reads the line, and its likeliest CTC path of the label
    (sequence.ctc_align) places each letter: a letter starts where the model first reads it (the model reads
    a letter at its left part: docs/RESULTS.md), so the border between two letters is the column where the
    second is first read; a word the model does not read as its label (greedy, case-folded) gives none;
  * each pen stroke goes whole to the letter that holds most of its points (MOST: a dot, a cross-bar, a
    letter written alone), else is cut at the borders into runs of at least MIN_RUN points;
  * each letter's strokes are drawn as a character alone (pen_data.render: the page's character canvas) and
    labelled with the label's letter (ByMerge's class), the case of the 11 two-case letters read from the
    word's letters as the line tab spells a word (words.spelled: UNIPEN labels "Nurse" a word written NURSE).
    Sticks (cut_letters.STICKS) are kept out, and so is a word whose letters, each read alone by both character
    models, read their own letters (either case) at a mean log-probability below cut_letters.MIN_MEAN (a word
    cut badly, or a label that is not what was written), as cut_letters does. `--sticks` keeps the sticks;
    `--any-reading` cuts a word whatever the word model reads, along the label's likeliest path.

The output holds pen_data.PenImages' fields (VARIANTS varied drawings a letter, category "7"), so
`python -m train --cut-letters FILE` adds them to the pen drawings, and each letter's strokes
(load_joined_samples), which `python -m train.strokes --cut-joined FILE` adds to the stroke model's
characters. It writes atomically and refuses to overwrite an existing file unless --force.

    python -m train.cut_joined --out .data/cut-joined.npz
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from .cut_letters import MIN_MEAN, SHARED, STICKS, run_jobs, save_atomically, words_to_cut

MOST = 0.7  # a stroke with this share of its points in one letter goes to that letter whole
MIN_RUN = 3  # a cut stroke's runs of fewer points are dropped
VARIANTS = 2  # drawings of each letter for the character model (pen_data.render, varied)
SEED = 7
CHUNK = 100  # words per job


def letter_borders(ink: np.ndarray, log_probs: np.ndarray, text: str) -> np.ndarray | None:
    """x on the canvas of the borders between the word's letters (len(text) - 1 of them, left to right),
    from the word model's likeliest path of `text`; None where it has none."""
    from emnist_core.sequence import column_x, ctc_align

    spans = ctc_align(log_probs, text)
    if spans is None:
        return None
    return column_x(ink, [first for first, _ in spans[1:]])


def split_strokes(strokes, borders: np.ndarray) -> list[list[np.ndarray]]:
    """Strokes (each (K, 2), x first) -> per letter (len(borders) + 1 of them), its strokes: a stroke whole
    where MOST of its points lie between one pair of borders, else its runs between borders of at least
    MIN_RUN points."""
    letters = [[] for _ in range(len(borders) + 1)]
    for stroke in strokes:
        stroke = np.asarray(stroke, np.float32)
        where = np.searchsorted(borders, stroke[:, 0])
        counts = np.bincount(where, minlength=len(letters))
        if counts.max() >= MOST * len(where):
            letters[int(counts.argmax())].append(stroke)
            continue
        starts = np.flatnonzero(np.r_[True, where[1:] != where[:-1]])
        for start, end in zip(starts, np.r_[starts[1:], len(where)]):
            if end - start >= MIN_RUN:
                letters[int(where[start])].append(stroke[start:end])
    return letters


def cut_word(reader, predictor, drawing, text: str, sticks: bool = False,
             any_reading: bool = False) -> list[tuple[list[np.ndarray], str]]:
    """A drawn word (text: its label, letters only) -> its letters' (strokes, letter in the case written),
    left to right, sticks left out (unless `sticks`); [] where the word model does not read the label (unless
    `any_reading`: then wherever the label has a path through its columns), where a letter is left no ink or
    the page would refuse it drawn alone, or where the letters read their own poorly (MIN_MEAN)."""
    from emnist_core.preprocess import UnusableImage
    from emnist_core.sequence import drawing_ink, greedy, ink_to_line
    from emnist_core.strokes import trajectory
    from emnist_core.words import spelled

    from .pen_data import render

    ink = drawing_ink(drawing)
    try:
        (log_probs,) = reader.log_probs([ink_to_line(ink)])
    except UnusableImage:
        return []
    if not any_reading and greedy(log_probs)[0] != text.lower():
        return []
    borders = letter_borders(ink, log_probs, text.lower())
    if borders is None:
        return []
    letters = split_strokes(drawing.strokes, borders)
    images = [render(strokes, None) if strokes else None for strokes in letters]
    if any(image is None for image in images):
        return []
    probs, _ = predictor.predict_emnist(np.stack(images), "letters", [trajectory(strokes) for strokes in letters])
    index = {label: k for k, label in enumerate(predictor.labels)}
    fit = []  # each letter's log-probability of its own letter, either case (ByMerge merges some cases)
    for c, p in zip(text.lower(), probs):
        classes = {index[x] for x in (c, c.upper()) if x in index}
        fit.append(np.log(max(float(sum(p[k] for k in classes)), 1e-30)))
    if np.mean(fit) < MIN_MEAN:  # cut badly, or not what the label says
        return []
    written = spelled(text.lower(), predictor.upper_odds(text.lower(), probs))
    return [(strokes, letter) for strokes, letter in zip(letters, written) if sticks or letter not in STICKS]


def _cut_chunk(job) -> tuple[list, int]:
    """One worker's share: (rows (strokes, letter, site, writer, images), words read)."""
    import cv2
    import torch

    from bench.word_reading import word_drawing
    from emnist_core.preprocess import UnusableImage

    from .cut_letters import cached_predictor
    from .pen_data import render

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    checkpoint, word_checkpoint, words, seed, sticks, any_reading = job
    predictor = cached_predictor(checkpoint)
    reader = _reader(word_checkpoint)
    rows = []
    for k, (label, strokes, site, writer) in enumerate(words):
        rng = np.random.default_rng([seed, k])
        try:
            found = cut_word(reader, predictor, word_drawing(strokes, rng), label, sticks, any_reading)
        except (ValueError, UnusableImage):
            continue
        for letter_strokes, letter in found:
            images = [render(letter_strokes, int(rng.integers(2 ** 31))) for _ in range(VARIANTS)]
            rows.append((letter_strokes, letter, site, writer, [i for i in images if i is not None]))
    return rows, len(words)


_READERS = {}


def _reader(path):
    from emnist_core.sequence import SequenceReader

    if path not in _READERS:
        _READERS[path] = SequenceReader(path, pen_path=None)  # its image model's columns align the letters
    return _READERS[path]


def cut_all(words, checkpoint: str, word_checkpoint: str, workers: int, seed: int = SEED, progress=None,
            sticks: bool = False, any_reading: bool = False) -> dict:
    """Every word cut -> the file's fields: pen_data.PenImages' (VARIANTS drawings a letter, EMNIST
    orientation) and each letter's strokes (letter_* fields; points of all strokes one after another)."""
    jobs = [(checkpoint, word_checkpoint, [(s.label, s.strokes, s.site, s.writer) for s in words[i:i + CHUNK]],
             seed + i, sticks, any_reading) for i in range(0, len(words), CHUNK)]
    rows = run_jobs(_cut_chunk, jobs, workers, len(words), progress)
    return fields_of(rows)


def fields_of(rows) -> dict:
    """Rows (a letter's strokes, the letter, site, writer, its drawings) -> the file's fields."""
    from emnist_core.labels import char_to_index

    drawn = [(image, r) for r in rows for image in r[4]]
    strokes = [s for r in rows for s in r[0]]
    return {"images": np.stack([d[0] for d in drawn]) if drawn else np.zeros((0, 28, 28), np.uint8),
            "labels": np.array([char_to_index(d[1][1]) for d in drawn], np.int64),
            "meant": np.array([d[1][1] for d in drawn], "<U1"),
            "category": np.full(len(drawn), "7", "<U2"),
            "site": np.array([d[1][2] for d in drawn], "<U8"),
            "writer": np.array([d[1][3] for d in drawn]),
            "letter_meant": np.array([r[1] for r in rows], "<U1"),
            "letter_site": np.array([r[2] for r in rows], "<U8"),
            "letter_writer": np.array([r[3] for r in rows]),
            "letter_strokes": np.array([len(r[0]) for r in rows], np.int64),
            "stroke_points": np.array([len(s) for s in strokes], np.int64),
            "points": np.concatenate(strokes).astype(np.float32) if strokes else np.zeros((0, 2), np.float32)}


def load_joined_samples(path) -> list:
    """A file this module wrote -> its letters as unipen.Sample (category "7", the strokes as cut, on the line
    canvas's scale); DataError (train/data.py) with a message for a file that is missing, unreadable or not
    one of ours."""
    from .data import DataError
    from .unipen import Sample

    try:
        with np.load(path) as saved:
            meant, site, writer = saved["letter_meant"], saved["letter_site"], saved["letter_writer"]
            per_letter, lengths, points = saved["letter_strokes"], saved["stroke_points"], saved["points"]
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise DataError(f"{path}: not a file of letters cut by train.cut_joined ({error})") from None
    if not (len(meant) == len(site) == len(writer) == len(per_letter)) or per_letter.sum() != len(lengths) \
            or lengths.sum() != len(points) or (lengths < 1).any() or points.ndim != 2 or points.shape[1:] != (2,):
        raise DataError(f"{path}: its fields disagree in length")
    strokes = np.split(points, np.cumsum(lengths)[:-1]) if len(lengths) else []
    ends = np.cumsum(per_letter)
    return [Sample(str(m), tuple(strokes[end - n:end]), str(s), str(w), "7", "", str(path))
            for m, s, w, n, end in zip(meant, site, writer, per_letter, ends)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unipen", default=str(SHARED / "unipen-dev"), help="a UNIPEN folder with category 7")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--checkpoint", help="the character model that reads each letter's case (default: shipped)")
    parser.add_argument("--word-checkpoint", help="the word model that places the letters (default: shipped)")
    parser.add_argument("--words", type=int, default=0, help="cut this many words drawn at random (0: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sticks", action="store_true", help=f"keep the sticks ({STICKS}) too")
    parser.add_argument("--any-reading", action="store_true",
                        help="cut a word whatever the word model reads it as (the label's path through its columns)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args(argv)
    from emnist_core.checkpoint import DEFAULT_CHECKPOINT
    from emnist_core.sequence import DEFAULT_WORD_CHECKPOINT

    prepared = words_to_cut(args.unipen, Path(args.out), args.force, args.words, None)
    if prepared is None:
        return 2
    words, progress = prepared
    fields = cut_all(words, str(args.checkpoint or DEFAULT_CHECKPOINT),
                     str(args.word_checkpoint or DEFAULT_WORD_CHECKPOINT), args.workers, progress=progress,
                     sticks=args.sticks, any_reading=args.any_reading)
    save_atomically(Path(args.out), fields)
    progress(f"{len(fields['letter_meant'])} letters ({len(fields['labels'])} drawings) from {len(words)} words "
             f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
