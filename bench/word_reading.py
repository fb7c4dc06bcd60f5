"""How well real words are read: `python -m bench.word_reading`.

Words written by people: UNIPEN category 7 (isolated words) of the dev folder (../shared/data/unipen-dev),
each drawn on the page's line canvas as a person would write it there (its strokes scaled to a height of
150-250 px keeping their aspect, shrunk further only to fit, from a left margin, brush radius 10) and read
as the line tab reads it: `Predictor.read_line_strokes`, in both modes the page offers:
  letters  "Letters only"
  word     "An English word" (the word list of emnist_core.words decides between close readings)
Only words of letters a-z/A-Z are used (a word with a digit or a mark cannot be read as letters). kai's
labels mark letter boundaries with '@' (the reader removes them); lav's "words" are random letter strings,
so the word list cannot help there. Every site is a dev site here: this is measurement, not training.

Figures, per site, per style (.STYLE of the sample: PRINTED, MIXED, CURSIVE, or "not given") and per mode,
and per style again for the writers the grouping's weights were not fitted on ("unseen": every writer but
those train.grouping.tuning names: art, hpb and 11 of rim's 21):
  count right   the number of characters read equals the word's length
  characters    1 - edit distance / length, floored at 0, case-insensitive (as bench.line_reading)
  whole word    the reading equals the word, case-insensitive
  ByMerge case  the reading equals the word with the case of the 11 letters ByMerge keeps in both cases
                (a b d e f g h n q r t) counted too; the 15 merged letters (c i j k l m o p s u v w x y z)
                compare case-insensitively, as the model cannot tell their cases apart
  errors        the edit operations that the characters figure charges, by kind: a letter read wrong
                (substituted), a letter read as two or a stray piece read (inserted: split), two letters
                read as one or a letter lost (deleted: merged); the commonest substitutions
  speed         the median time per word, and the median of words of 10 letters (a 10-letter word), with
                torch's default threads (one a core), or --threads 1 as the page runs it (demo.main); with
                --word-process the word model reads in a process of its own, as the page runs it
For the word mode also the word list's reach: the share of the words in the list at all (the word model's,
the longer: sequence.WORD_COUNT words, segmentation's among them), and of the words it missed, how many
were not in it, in it but out of the lookup's reach (the letters-only reading's length
more than words.LENGTH_SLACK off), or in reach and not chosen.
--why diagnoses each word misread with letters only (see CAUSES): refused; no grouping of the
segmenter's pieces has the word's count of characters (its pieces join letters); the count was wrong and
the best grouping with the word's own count reads the word (the grouping's choice alone) or still
misreads it; the count was right and letters were misread. It also gives what the words would score
were the count known.
--ruled reads each word as a photo instead, on white paper and on tinted paper ruled every 60 px with
mild noise (written above a rule, or resting on one and crossing the rule above), letters only.

    python -m bench.word_reading --words 100 --json /tmp/words.json       # 100 words per site, seeded
    python -m bench.word_reading --sites art,rim,kai --modes letters --why
    python -m bench.word_reading --sites art,rim,kai --words 40 --ruled   # photos on ruled paper
"""

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from bench.line_reading import char_accuracy
from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.inference import readings
from emnist_core.labels import MERGED_LOWERCASE
from emnist_core.predict import Predictor
from emnist_core.preprocess import UnusableImage, emnist_from_mask
from emnist_core.segment import FLOOR_LOG_PROB, LinePieces, line_from_drawing
from emnist_core.strokes import StrokeDrawing
from train.grouping import tuning

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
LINE_CANVAS = (1000, 300)  # the page's line canvas (demo.LINE_CANVAS), width x height in canvas pixels
LINE_BRUSH_RADIUS = 10.0  # its default brush (demo.LINE_BRUSH_RADIUS)
HEIGHTS = (150, 250)  # a written word's height on the canvas, drawn uniformly (as people write there)
LEFT_MARGIN = (20, 80)  # where the word starts, canvas pixels from the left edge
EDGE = 12  # the word's ink keeps at least this far from the other edges (more than the brush)
MODES = ("letters", "word")  # what is written, as the page's line tab says it (Predictor's `writing`)
STYLES = ("PRINTED", "MIXED", "CURSIVE", "not given")
LETTERS = re.compile("[A-Za-z]+")
EXAMPLES = 8  # misreadings kept per group in the report


# ---- drawing a word on the canvas ---------------------------------------------------------------

def word_drawing(strokes, rng: np.random.Generator, canvas: tuple[int, int] = LINE_CANVAS,
                 brush: float = LINE_BRUSH_RADIUS) -> StrokeDrawing:
    """A word's pen strokes (any units, y down) on the line canvas: its height drawn from HEIGHTS (its
    aspect kept; smaller where it would not fit), its left edge LEFT_MARGIN from the canvas's, centred
    up and down. Raises ValueError for strokes with no extent at all."""
    width, height = canvas
    points = np.concatenate([np.asarray(s, np.float64) for s in strokes])
    low, high = points.min(0), points.max(0)
    extent = high - low
    if not np.isfinite(extent).all() or extent.max() <= 0:
        raise ValueError("strokes with no extent")
    left = float(rng.uniform(*LEFT_MARGIN))
    target = float(rng.uniform(*HEIGHTS))
    room = (width - left - EDGE, height - 2 * EDGE)  # the most the word may take, across and down
    scale = min(target / extent[1] if extent[1] > 0 else np.inf, room[0] / max(extent[0], 1e-9),
                room[1] / max(extent[1], 1e-9))
    offset = np.array([left, (height - extent[1] * scale) / 2])
    placed = tuple(((np.asarray(s, np.float64) - low) * scale + offset).astype(np.float32) for s in strokes)
    return StrokeDrawing(width, height, float(brush), placed)


# ---- scoring ---------------------------------------------------------------------------------------

def edit_ops(truth: str, read: str) -> tuple[int, int, int, list[tuple[str, str]]]:
    """Case-insensitive Levenshtein alignment of `read` against `truth`: (substituted, inserted, deleted,
    the substituted pairs (truth letter, read letter)). Their sum is the edit distance."""
    a, b = truth.lower(), read.lower()
    cost = np.zeros((len(a) + 1, len(b) + 1), np.int32)
    cost[:, 0], cost[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    i, j, subs, ins, dels, pairs = len(a), len(b), 0, 0, 0, []
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            if a[i - 1] != b[j - 1]:
                subs += 1
                pairs.append((a[i - 1], b[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            dels, i = dels + 1, i - 1
        else:
            ins, j = ins + 1, j - 1
    return subs, ins, dels, pairs[::-1]


def characters(truth: str, read: str) -> float:
    """1 - edit distance / length, case-insensitive, floored at 0 (an empty word: 1 if nothing was read)."""
    return char_accuracy(truth, read) if truth else float(not read)


def bymerge_case(text: str) -> str:
    """The text as ByMerge can tell it: the 15 letters whose cases it merges in lower case, the rest as written."""
    return "".join(c.lower() if c.lower() in MERGED_LOWERCASE else c for c in text)


def read_word(predictor: Predictor, drawing: StrokeDrawing, mode: str) -> tuple[str, float, str]:
    """(the text read, milliseconds, the message when the drawing could not be read, else "")."""
    started = time.perf_counter()
    try:
        text, message = predictor.read_line_strokes(drawing, mode).text, ""
    except UnusableImage as error:
        text, message = "", str(error)
    return text, 1000 * (time.perf_counter() - started), message


def figures(rows: list[dict]) -> dict:
    """Rows {"word", "read", "ms", "message"} -> the group's figures."""
    if not rows:
        return {"words": 0}
    ops = [edit_ops(r["word"], r["read"]) for r in rows]
    subs, ins, dels = (int(sum(o[k] for o in ops)) for k in range(3))
    confusions = Counter(f"{t}->{r}" for o in ops for t, r in o[3])
    ten = [r["ms"] for r in rows if len(r["word"]) == 10]
    return {
        "words": len(rows),
        "count_right": float(np.mean([len(r["read"]) == len(r["word"]) for r in rows])),
        "characters": float(np.mean([characters(r["word"], r["read"]) for r in rows])),
        "whole_word": float(np.mean([r["read"].lower() == r["word"].lower() for r in rows])),
        "whole_word_bymerge_case": float(np.mean([bymerge_case(r["read"]) == bymerge_case(r["word"]) for r in rows])),
        "unusable": sum(bool(r["message"]) for r in rows),
        "errors": {"substituted": subs, "inserted": ins, "deleted": dels, "letters": sum(len(r["word"]) for r in rows)},
        "longer": sum(len(r["read"]) > len(r["word"]) for r in rows),
        "shorter": sum(len(r["read"]) < len(r["word"]) for r in rows),
        "commonest_substitutions": confusions.most_common(10),
        "ms_median": float(np.median([r["ms"] for r in rows])),
        "ms_10_letters": float(np.median(ten)) if ten else None,
        "ten_letter_words": len(ten),
        "misread": [f"{r['word']}->{r['read'] or '(' + r['message'][:40] + ')'}" for r in rows
                    if r["read"].lower() != r["word"].lower()][:EXAMPLES],
    }


# ---- why a word was misread (--why) ----------------------------------------------------------------------

CAUSES = ("refused", "too few pieces", "grouping only", "grouping and letters", "letters")
CAUSE_HELP = {
    "refused": "the line was refused with a message",
    "too few pieces": "no grouping of the segmenter's pieces has as many characters as the word has letters "
                      "(fewer pieces than letters, or a letter's piece too small or too wide to stand alone)",
    "grouping only": "the count read was wrong, and the best grouping with the word's count reads the word",
    "grouping and letters": "the count read was wrong, and even with the word's count letters are misread",
    "letters": "the count was right, the letters (or where they part) were misread",
}


def forced_count(line: LinePieces, log_probs, count: int) -> list | None:
    """The best grouping of the line's pieces into exactly `count` characters, scored as LinePieces.best
    scores any grouping (the readings' log-probabilities, the shape priors and the parting costs);
    None when no grouping has that many."""
    scores = iter(log_probs)
    total = [c.prior + (0.0 if c.dropped else max(float(next(scores)), FLOOR_LOG_PROB)) for c in line.candidates]
    best = [{} for _ in line.candidates]  # characters so far -> (score, (previous candidate, its count))
    for k, c in enumerate(line.candidates):
        step = 0 if c.dropped else 1
        if c.first == 0:
            if step <= count:
                best[k][step] = (total[k], None)
            continue
        for j in line.ending.get(c.first, ()):
            cost = line.parting_cost(line.candidates[j], c)
            for n, (value, _) in best[j].items():
                if n + step <= count and (n + step not in best[k] or value - cost + total[k] > best[k][n + step][0]):
                    best[k][n + step] = (value - cost + total[k], (j, n))
    ends = [k for k in line.ending.get(len(line.pieces), ()) if count in best[k]]
    if not ends:
        return None
    k, n = max(ends, key=lambda e: best[e][count][0]), count
    path = []
    while k is not None:
        path.append(line.candidates[k])
        back = best[k][n][1]
        k, n = back if back is not None else (None, None)
    return [c for c in reversed(path) if not c.dropped]


def diagnose(predictor: Predictor, drawing: StrokeDrawing, word: str, read: str, refused: bool) -> dict:
    """Why `word` was read as `read` (letters only): the pieces the segmenter made, the reading with the
    word's own count of characters forced, and the cause (one of CAUSES)."""
    if refused:
        return {"cause": "refused", "pieces": None, "forced": None}
    line = line_from_drawing(drawing)
    candidates = line.readable
    crops, rows = [], []
    for k, candidate in enumerate(candidates):
        try:
            crops.append(emnist_from_mask(line.ink(candidate)))
            rows.append(k)
        except UnusableImage:
            pass
    scores, labels = np.full(len(candidates), -np.inf), [""] * len(candidates)
    if crops:
        images = np.stack([c.T if predictor.checkpoint.input_spec.transposed else c for c in crops])
        probs, p_digit, energy = predictor.predict_with_energy(images, "letters")
        reading = readings(torch.from_numpy(probs), torch.from_numpy(p_digit)).numpy()
        bonus = line.reading_bonus(energy)
        for r, k in enumerate(rows):
            scores[k] = np.log(max(probs[r, reading[r]], 1e-30)) + bonus[r]
            labels[k] = predictor.labels[reading[r]]
    index = {id(c): k for k, c in enumerate(candidates)}
    path = forced_count(line, scores, len(word))
    forced = None if path is None else "".join(labels[index[id(c)]] for c in path)
    if len(line.pieces) < len(word) or forced is None:
        cause = "too few pieces"
    elif len(read) != len(word):
        cause = "grouping only" if forced.lower() == word.lower() else "grouping and letters"
    else:
        cause = "letters"
    return {"cause": cause, "pieces": len(line.pieces), "forced": forced}


def causes(rows: list[dict]) -> dict:
    """Letters-only rows with a diagnosis -> how many misread words had each cause, and what the words
    would score were the count known (the forced reading where the count was wrong)."""
    found = Counter(r["why"]["cause"] for r in rows if "why" in r)
    forced = [r["why"]["forced"] if "why" in r and r["why"]["forced"] is not None and len(r["read"]) != len(r["word"])
              else r["read"] for r in rows]
    return {"misread": sum(found.values()), **{c: found.get(c, 0) for c in CAUSES},
            "count_known_characters": float(np.mean([characters(r["word"], f) for r, f in zip(rows, forced)])),
            "count_known_whole_word": float(np.mean([r["word"].lower() == f.lower() for r, f in zip(rows, forced)])),
            "examples": {c: [f"{r['word']}->{r['read']} (forced {r['why']['forced']})" for r in rows
                             if r.get("why", {}).get("cause") == c][:EXAMPLES] for c in CAUSES}}


def list_reach(letter_rows: list[dict], word_rows: list[dict], known: set | None) -> dict | None:
    """Words the word mode missed, by reason: not in the list; in it but out of the lookup's reach (the
    letters-only reading's length more than words.LENGTH_SLACK from the word's); in reach but not chosen."""
    if known is None:
        return None
    from emnist_core.words import LENGTH_SLACK, MAX_WORD

    missed = Counter()
    for letters, word in zip(letter_rows, word_rows):
        if word["read"].lower() == word["word"].lower():
            continue
        if word["word"].lower() not in known:
            missed["not in the list"] += 1
        elif abs(len(letters["read"]) - len(word["word"])) > LENGTH_SLACK or len(letters["read"]) > MAX_WORD:
            missed["in the list, out of reach"] += 1
        else:
            missed["in the list, not chosen"] += 1
    return {"in_list": float(np.mean([w["word"].lower() in known for w in word_rows])) if word_rows else None,
            "missed": len(word_rows) - sum(w["read"].lower() == w["word"].lower() for w in word_rows), **missed}


# ---- photos on ruled paper (--ruled) ----------------------------------------------------------------------

RULE_EVERY, RULE_GREY, PAPER, INK = 60, (165, 162, 155), (235, 225, 210), (50, 40, 40)  # RGB
PHOTO = (600, 800)  # height, width of the photo
PLACINGS = {"above a rule": ((40, 80), 300), "on a rule": ((60, 110), 334)}  # letter heights; baseline row


def ruled_photos(strokes, rng: np.random.Generator, placing: str) -> tuple[np.ndarray, np.ndarray]:
    """A word's strokes written (brush radius 2.5) as a photo on white paper, and the same on tinted paper
    ruled every RULE_EVERY px with mild noise (sigma 6): `placing` says how high and where (PLACINGS)."""
    from emnist_core.strokes import draw_strokes

    (low_h, high_h), base = PLACINGS[placing]
    points = np.concatenate(strokes)
    low, high = points.min(0), points.max(0)
    scale = float(rng.uniform(low_h, high_h)) / max(float(high[1] - low[1]), 1e-6)
    scale = min(scale, 700 / max(float(high[0] - low[0]), 1e-6))
    base += int(rng.integers(-3, 4))
    placed = [(s - low) * scale + (60, base - 4 - (high[1] - low[1]) * scale) for s in strokes]
    plain = draw_strokes(np.full(PHOTO, 255, np.uint8), placed, 2.5)
    paper = np.full((*PHOTO, 3), PAPER, np.float32)
    for y in range(RULE_EVERY // 2, PHOTO[0], RULE_EVERY):
        paper[y:y + 2] = RULE_GREY
    paper[plain < 128] = INK
    return plain, np.clip(paper + rng.normal(0, 6, paper.shape), 0, 255).astype(np.uint8)


def ruled_figures(predictor: Predictor, chosen: dict[str, list], seed: int) -> dict:
    """Each word as a photo on plain and on ruled paper (python -m emnist_core.predict --line reads such a
    photo), letters only: how often the two readings agree, the ruled one is refused, each is right."""
    def read(image):
        try:
            return predictor.read_line(image, "letters").text
        except UnusableImage:
            return None

    found = {}
    for placing in PLACINGS:
        rng = np.random.default_rng([seed, 60, list(PLACINGS).index(placing)])
        counts = Counter()
        for words in chosen.values():
            for sample in words:
                plain, ruled = (read(image) for image in ruled_photos(sample.strokes, rng, placing))
                counts["words"] += 1
                counts["same reading"] += plain == ruled
                counts["ruled refused"] += ruled is None
                counts["right on plain"] += (plain or "").lower() == sample.label.lower()
                counts["right on ruled"] += (ruled or "").lower() == sample.label.lower()
        found[placing] = dict(counts)
    return found


# ---- the data --------------------------------------------------------------------------------------

def sample_words(samples, per_site: int | None, seed: int, sites=None) -> dict[str, list]:
    """Letters-only words per site, `per_site` of each drawn at random (seeded per site), or all."""
    by_site = defaultdict(list)
    for s in samples:
        if LETTERS.fullmatch(s.label) and (not sites or s.site in sites):
            by_site[s.site].append(s)
    chosen = {}
    for site in sorted(by_site):
        words = by_site[site]
        if per_site is not None and per_site < len(words):
            rng = np.random.default_rng([seed, *site.encode()])
            words = [words[k] for k in sorted(rng.choice(len(words), per_site, replace=False))]
        chosen[site] = words
    return chosen


def style_of(sample) -> str:
    return sample.style or "not given"


def measure(predictor: Predictor, chosen: dict[str, list], modes: list[str], seed: int, progress=None,
            brush: float = LINE_BRUSH_RADIUS, why: bool = False) -> dict:
    """Every chosen word drawn and read in each mode -> {"rows": [...], per mode: figures by site and style}.
    `why`: each word misread with letters only is diagnosed too (its cause, see CAUSES)."""
    rows = []
    for site, words in chosen.items():
        rng = np.random.default_rng([seed, 7, *site.encode()])
        for number, sample in enumerate(words):
            try:
                drawing = word_drawing(sample.strokes, rng, brush=brush)
            except ValueError:
                continue
            for mode in modes:
                read, ms, message = read_word(predictor, drawing, mode)
                row = {"site": site, "number": number, "style": style_of(sample), "writer": sample.writer,
                       "tuning": tuning(sample), "mode": mode, "word": sample.label, "read": read, "ms": ms,
                       "message": message}
                if why and mode == "letters" and read.lower() != sample.label.lower():
                    row["why"] = diagnose(predictor, drawing, sample.label, read, bool(message))
                rows.append(row)
        if progress:
            progress(site)
    report = {}
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        groups = {"all": mine, **{style: [r for r in mine if r["style"] == style] for style in STYLES}}
        unseen = [r for r in mine if not r["tuning"]]
        report[mode] = {
            "all": figures(mine),
            "by_style": {style: figures(group) for style, group in groups.items() if style != "all" and group},
            "unseen_by_style": {style: figures(group) for style in STYLES
                                if (group := [r for r in unseen if r["style"] == style])},
            "by_site": {site: figures([r for r in mine if r["site"] == site]) for site in chosen},
        }
        if why and mode == "letters":
            report[mode]["why"] = {style: causes(group) for style, group in groups.items() if group}
    if "letters" in modes and "word" in modes:
        known = known_words()
        pairs = {style: ([r for r in rows if r["mode"] == "letters" and (style == "all" or r["style"] == style)],
                         [r for r in rows if r["mode"] == "word" and (style == "all" or r["style"] == style)])
                 for style in ("all", *STYLES)}
        report["word"]["word_list"] = {style: list_reach(*pair, known) for style, pair in pairs.items() if pair[0]}
    return {"rows": rows, "report": report}


def known_words() -> set | None:
    """The words a drawn line can be read as: the word model's list, which holds segmentation's (None without
    wordfreq)."""
    from emnist_core.sequence import SequenceReader

    word_list = SequenceReader.word_list()
    return None if word_list is None else {w for _, _, listed in word_list.by_length.values() for w in listed}


def line(name: str, f: dict) -> str:
    if not f.get("words"):
        return f"{name:<24} no words"
    e = f["errors"]
    ten = f"{f['ms_10_letters']:.0f}" if f["ms_10_letters"] is not None else "-"
    return (f"{name:<24} {f['words']:>5} {f['count_right']:>7.1%} {f['characters']:>7.1%} {f['whole_word']:>7.1%} "
            f"{f['whole_word_bymerge_case']:>7.1%} {e['substituted']:>6} {e['inserted']:>5} {e['deleted']:>5} "
            f"{f['ms_median']:>6.0f} {ten:>6}")


HEADER = (f"{'':<24} {'words':>5} {'count':>7} {'chars':>7} {'word':>7} {'case':>7} {'subst':>6} {'ins':>5} "
          f"{'del':>5} {'ms':>6} {'ms10':>6}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--word-checkpoint", help="the word model that judges drawn lines (default: the shipped one)")
    from bench.word_ctc import add_pen_argument, word_reader  # bench.word_ctc imports this module
    add_pen_argument(parser)
    parser.add_argument("--unipen", default=str(SHARED / "unipen-dev"), help="the UNIPEN folder")
    parser.add_argument("--words", type=int, default=100, help="words per site, drawn at random (0: all)")
    parser.add_argument("--sites", help="comma-separated sites (default: all in the folder)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--brush", type=float, default=LINE_BRUSH_RADIUS, help="brush radius, canvas pixels")
    parser.add_argument("--why", action="store_true",
                        help="diagnose each word misread with letters only: pieces, grouping or letters")
    parser.add_argument("--ruled", action="store_true",
                        help="only this: each word as a photo on plain and on ruled paper, read as images")
    parser.add_argument("--json", help="write the figures and every word's reading here")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch's threads for the models (0: torch's default, one a core; the page, "
                             "demo.main, runs with 1)")
    parser.add_argument("--word-process", action="store_true",
                        help="the word model in a process of its own, as the page runs it (demo.main)")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: any of {', '.join(MODES)}")
    if args.threads < 0:
        parser.error("--threads: 0 or more")
    if args.threads:
        torch.set_num_threads(args.threads)

    from train.unipen import NotUnipen, read_unipen

    started = time.time()
    try:
        samples, _ = read_unipen(args.unipen, categories=("7",))
    except (NotUnipen, FileNotFoundError, OSError) as error:
        print(f"error: cannot read {args.unipen}: {error}", file=sys.stderr)
        return 2
    sites = set(args.sites.split(",")) if args.sites else None
    chosen = sample_words(samples, args.words or None, args.seed, sites)
    if not chosen:
        print("error: no words of letters found", file=sys.stderr)
        return 2
    predictor = Predictor(args.checkpoint, word_process=args.word_process)
    if args.word_checkpoint or args.pen_checkpoint:
        from emnist_core.sequence import SequenceCheckpointError
        try:
            predictor.word_reader = word_reader(args.word_checkpoint, args.pen_checkpoint)
        except SequenceCheckpointError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if predictor.word_model_process is not None:  # started (the model loaded) before any word is timed
        predictor.word_model_process.ready.result(timeout=120)
    if args.ruled:
        found = ruled_figures(predictor, chosen, args.seed)
        for placing, counts in found.items():
            print(f"ruled paper, {placing}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if args.json:
            Path(args.json).write_text(json.dumps({"ruled": found, "seed": args.seed}, indent=1))
        return 0
    result = measure(predictor, chosen, modes, args.seed, brush=args.brush, why=args.why,
                     progress=lambda site: print(f"  {site} read ({time.time() - started:.0f} s)", file=sys.stderr))
    report = {"checkpoint": args.checkpoint, "word_checkpoint": args.word_checkpoint,
              "pen_checkpoint": args.pen_checkpoint, "unipen": args.unipen,
              "words_per_site": args.words,
              "seed": args.seed, "brush": args.brush, **result["report"]}
    for mode in modes:
        print(f"\n{mode}: {'Letters only' if mode == 'letters' else 'An English word'}")
        print(HEADER)
        print(line("all", report[mode]["all"]))
        for style, f in report[mode]["by_style"].items():
            print(line(style, f))
        for style, f in report[mode]["unseen_by_style"].items():
            print(line(f"{style}, unseen", f))
        for site, f in report[mode]["by_site"].items():
            print(line(f"  {site}", f))
        for style, f in report[mode]["by_style"].items():
            print(f"  {style}: e.g. {', '.join(f['misread'][:6])}; substitutions "
                  f"{', '.join(f'{p} {n}' for p, n in f['commonest_substitutions'][:6])}")
        for style, why in report[mode].get("why", {}).items():
            print(f"  why, {style}: {why['misread']} misread: " + ", ".join(f"{c} {why[c]}" for c in CAUSES)
                  + f"; with the count known: characters {why['count_known_characters']:.1%}, "
                    f"whole word {why['count_known_whole_word']:.1%}")
        for style, reach in report[mode].get("word_list", {}).items():
            if reach:
                print(f"  word list, {style}: {reach['in_list']:.1%} of the words are in it; of "
                      f"{reach['missed']} missed: " + ", ".join(f"{k} {v}" for k, v in reach.items()
                                                               if k not in ("in_list", "missed")))
    print(f"measured in {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({**report, "rows": result["rows"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
