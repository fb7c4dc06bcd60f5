"""Letters cut from real written words, for the character model: `python -m train.cut_letters`.

The character model learnt letters written alone (EMNIST's boxes, UNIPEN's isolated characters). In a
word people write them smaller, faster and closer, and the line tab reads each letter as the segmenter
cuts it out: printed words by unseen writers read 86% of characters, and most misreadings are letters
read wrong where the count was right (docs/RESULTS.md, real words). This cuts real letters out of real
words the way the page does:

  * words of UNIPEN category 7 (letters only) from sites that neither the word bench nor the pen-character
    validation uses (word_ctc.VAL_SITES, pen_data.VAL_SITES), in print or mixed style (joined-up words
    do not part into letters), each drawn on the page's line canvas as bench.word_reading draws a word;
  * each line cut and read as the line tab cuts and reads it, and aligned to its label: the grouping of
    its pieces that reads the word's own letters best (train.grouping's forced alignment);
  * each aligned letter's crop is the image the page feeds the model for it (preprocess.emnist_from_mask),
    labelled with the label's letter (ByMerge's class; the 15 merged lower-case letters as capitals) in
    the case the word is written in: UNIPEN labels words in their dictionary case ("Nurse" for NURSE), so
    the case is read from the word's letters as the line tab spells a word (words.spelled). STICKS are
    kept out.

A word whose alignment reads its letters poorly on average (mean log-probability below MIN_MEAN: a joined
word the segmenter could not part, a label that is not what was written) gives none. The output holds
pen_data.PenImages' fields (category "7"), so `python -m train --cut-letters FILE` adds them to the pen
drawings. It writes atomically and refuses to overwrite an existing file unless --force.

    python -m train.cut_letters --out .data/cut-letters.npz     # 3.3 minutes a brush on the 2-core CPU
"""

import argparse
import math
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
STYLES = ("PRINTED", "MIXED", "")  # .STYLE of the words cut ("": not given); CURSIVE words do not part
# Letters kept out: a bare stick (l, I, an i whose dot stands apart) reads as l, I or 1 alone, and only
# the line's case can say which (predict.CASE_STICK). Words are mostly lower case: their sticks taught
# the model l for every stick, and capitals lines then read I as l (pen_cut1, docs/RESULTS.md).
STICKS = "ilI"
MIN_MEAN = math.log(0.2)  # a word's aligned letters must read their own letters this well on average
SEED = 5
BRUSHES = (10.0,)  # brush radii a word is drawn with, one drawing each (the line canvas's default brush)
CHUNK = 100  # words per job


def excluded_sites() -> set[str]:
    """Sites never cut: the word bench's validation sites and the pen characters' validation sites."""
    from .pen_data import VAL_SITES as PEN_VAL
    from .word_ctc import VAL_SITES as WORD_VAL

    return set(PEN_VAL) | set(WORD_VAL)


def refuse_validation_sites(path, sites, val_sites) -> None:
    """DataError (train/data.py) where letters cut into `path` come from `val_sites` (the pen validation's)
    or from excluded_sites() (the word bench's, whose words the character model reads)."""
    from .data import DataError

    held = sorted(set(sites) & (set(val_sites) | excluded_sites()))
    if held:
        raise DataError(f"{path}: holds letters of the validation sites {', '.join(held)}")


def chosen_words(samples, limit: int = 0, seed: int = SEED, styles: tuple[str, ...] | None = STYLES) -> list:
    """The words to cut: letters only, from sites not excluded, in `styles` (None: any); `limit` > 0 draws that
    many at random."""
    from bench.word_reading import LETTERS

    excluded = excluded_sites()
    words = [s for s in samples if s.site not in excluded and (styles is None or (s.style or "") in styles)
             and LETTERS.fullmatch(s.label)]
    if limit and limit < len(words):
        rng = np.random.default_rng(seed)
        words = [words[k] for k in sorted(rng.choice(len(words), limit, replace=False))]
    return words


def cut_word(predictor, drawing, text: str) -> list[tuple[np.ndarray, str, float]]:
    """A drawn word -> its letters as the page would feed them to the model: (upright 28x28 uint8, the
    letter in the case it seems written in, its reading's log-probability of that letter whatever the
    case), left to right; [] where the word's alignment reads poorly (MIN_MEAN) or there is none."""
    from emnist_core.words import ALPHABET, spelled

    from .grouping import Line

    line = Line(predictor, drawing, text)
    line.align()
    if line.truth is None or len(line.truth) != len(text):
        return []
    index = {id(c): k for k, c in enumerate(line.line.readable)}
    rows = [index[id(c)] for c in line.truth]
    fit = [float(line.letters[r, ALPHABET.index(ch)]) for r, ch in zip(rows, text.lower())]
    if not np.isfinite(fit).all() or np.mean(fit) < MIN_MEAN:
        return []
    uprights = [line.crops[r] for r in rows]  # as the line was read: each crop, and its reading below
    if any(u is None for u in uprights):
        return []
    # The case as written, not as labelled: UNIPEN labels "Nurse" a word written NURSE. The letters are
    # the label's; the case of the 11 letters ByMerge keeps in both cases is read from the letters
    # themselves, for the word as a whole, as the line tab spells a word (words.spelled).
    written = spelled(text.lower(), predictor.upper_odds(text.lower(), line.probs[rows]))
    return list(zip(uprights, written, fit))


def _cut_chunk(job) -> tuple[list, int]:
    """One worker's share: (rows (upright, letter, score, site, writer), words read)."""
    import cv2
    import torch

    from bench.word_reading import word_drawing
    from emnist_core.preprocess import UnusableImage

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    checkpoint, words, seed, brushes = job
    predictor = cached_predictor(checkpoint)
    rows = []
    for k, (label, strokes, site, writer) in enumerate(words):
        rng = np.random.default_rng([seed, k])
        for brush in brushes:  # each a drawing of its own (its own height and place too)
            try:
                found = cut_word(predictor, word_drawing(strokes, rng, brush=brush), label)
            except (ValueError, UnusableImage):
                continue
            rows += [(image, letter, score, site, writer) for image, letter, score in found if letter not in STICKS]
    return rows, len(words)


_PREDICTORS = {}  # per process: each worker loads a checkpoint once


def cached_predictor(checkpoint):
    from emnist_core.predict import Predictor

    if checkpoint not in _PREDICTORS:
        _PREDICTORS[checkpoint] = Predictor(checkpoint)
    return _PREDICTORS[checkpoint]


def cut_all(words, checkpoint: str, workers: int, seed: int = SEED, progress=None,
            brushes: tuple[float, ...] = BRUSHES) -> dict:
    """Every word cut (drawn once with each of `brushes`) -> pen_data.PenImages' fields (images in EMNIST
    orientation) and each letter's score."""
    from emnist_core.labels import char_to_index

    jobs = [(checkpoint, [(s.label, s.strokes, s.site, s.writer) for s in words[i:i + CHUNK]], seed + i, brushes)
            for i in range(0, len(words), CHUNK)]
    rows = run_jobs(_cut_chunk, jobs, workers, len(words), progress)
    return {"images": np.stack([np.ascontiguousarray(r[0].T) for r in rows]) if rows else np.zeros((0, 28, 28), np.uint8),
            "labels": np.array([char_to_index(r[1]) for r in rows], np.int64),
            "meant": np.array([r[1] for r in rows], "<U1"),
            "category": np.full(len(rows), "7", "<U2"),
            "site": np.array([r[3] for r in rows], "<U8"),
            "writer": np.array([r[4] for r in rows]),
            "score": np.array([r[2] for r in rows], np.float32)}


def run_jobs(work, jobs: list, workers: int, words: int, progress=None) -> list:
    """Each job done by `work` (a module-level function: job -> (rows, words read)) in `workers` processes
    (spawned, not forked: pen_data.render_all says why), their rows in the jobs' order."""
    rows, done = [], 0
    if workers <= 1 or len(jobs) <= 1:
        results, pool = map(work, jobs), None
    else:
        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap(work, jobs)
    try:
        for found, count in results:
            rows += found
            done += count
            if progress:
                progress(f"{done} of {words} words cut: {len(rows)} letters")
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return rows


def load_cut_letters(path):
    """A file this module wrote -> pen_data.PenImages; DataError (train/data.py) with a message for a file
    that is missing, unreadable or not one of ours."""
    from .data import DataError
    from .pen_data import PenImages

    try:
        with np.load(path) as saved:
            fields = {f: saved[f] for f in PenImages.__dataclass_fields__}
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise DataError(f"{path}: not a file of letters cut by train.cut_letters ({error})") from None
    n = len(fields["labels"])
    if fields["images"].shape != (n, 28, 28) or any(len(v) != n for v in fields.values()):
        raise DataError(f"{path}: its fields disagree in length or the images are not 28x28")
    return PenImages(**fields)


def refused_out(out: Path, force: bool) -> str | None:
    """Why the output cannot be written (not .npz; there already, without `force`), or None."""
    if out.suffix != ".npz":
        return f"{out}: the output must be a .npz file"
    if out.exists() and not force:
        return f"{out} exists; pass --force to overwrite it"
    return None


def save_atomically(out: Path, fields: dict) -> None:
    """The fields written to `out` (.npz) whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp.npz")
    np.savez(temporary, **fields)
    os.replace(temporary, out)  # atomic


def words_to_cut(unipen: str, out: Path, force: bool, limit: int, styles) -> tuple[list, object] | None:
    """A cutting command's start: (the words to cut (chosen_words), a progress printer timed from now); None
    where it must stop (`out` refused, `unipen` unreadable, no words), the reason printed."""
    from .unipen import NotUnipen, read_unipen

    refused = refused_out(out, force)
    if refused:
        print(f"error: {refused}", file=sys.stderr)
        return None
    started = time.time()
    progress = lambda text: print(f"[{time.time() - started:6.0f} s] {text}", flush=True)
    try:
        samples, _ = read_unipen(unipen, categories=("7",))
    except (NotUnipen, OSError) as error:
        print(f"error: cannot read {unipen}: {error}", file=sys.stderr)
        return None
    words = chosen_words(samples, limit, styles=styles)
    if not words:
        kind = "" if styles is None else f"{' or '.join(s.lower() for s in styles if s)} "
        print(f"error: {unipen}: no {kind}words of letters outside the validation sites", file=sys.stderr)
        return None
    progress(f"{len(words)} words from {', '.join(sorted({w.site for w in words}))}")
    return words, progress


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unipen", default=str(SHARED / "unipen-dev"), help="a UNIPEN folder with category 7")
    parser.add_argument("--out", required=True, help="the .npz to write")
    parser.add_argument("--checkpoint", help="the character model that aligns (default: the shipped one)")
    parser.add_argument("--words", type=int, default=0, help="cut this many words drawn at random (0: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--brushes", default=",".join(f"{b:g}" for b in BRUSHES),
                        help="comma-separated brush radii (canvas pixels): each word is drawn once with each")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args(argv)
    from emnist_core.checkpoint import DEFAULT_CHECKPOINT

    try:
        brushes = tuple(float(b) for b in args.brushes.split(","))
    except ValueError:
        brushes = ()
    if not brushes or not all(0 < b <= 60 for b in brushes):
        print(f"error: --brushes {args.brushes!r}: radii between 0 and 60 pixels, comma-separated", file=sys.stderr)
        return 2
    out = Path(args.out)
    prepared = words_to_cut(args.unipen, out, args.force, args.words, STYLES)
    if prepared is None:
        return 2
    words, progress = prepared
    fields = cut_all(words, str(args.checkpoint or DEFAULT_CHECKPOINT), args.workers, progress=progress,
                     brushes=brushes)
    save_atomically(out, fields)
    progress(f"{len(fields['labels'])} letters from {len(words)} words written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
