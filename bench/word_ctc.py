"""The joined-up word reader against segmentation-by-reading, on the same words: `python -m bench.word_ctc`.

Words of the validation sites of train.word_ctc (never trained on), drawn exactly as bench.word_reading
draws them (the same seeds: the same drawings), read four ways:
  ctc greedy    emnist_core.sequence, the best path
  ctc words     emnist_core.sequence with the word list (every list word near the greedy reading's length
                scored by its CTC likelihood and frequency)
  seg letters   Predictor.read_line_strokes, "Letters only", by segmentation alone (the word model left out)
  seg word      Predictor.read_line_strokes, "An English word", by segmentation alone
Figures per style as bench.word_reading's (characters: 1 - edit distance / length, case-insensitive;
whole word; count right), and the median time of a 10-letter word (1 thread).

    python -m bench.word_ctc --words 0                    # every validation word (ugi, par, rim)
    python -m bench.word_ctc --words 150 --ctc-only --json /tmp/ctc.json
    python -m bench.word_reading --sites ugi,par,rim --words 200 --json /tmp/seg.json   # then, the same words:
    python -m bench.word_ctc --words 200 --seg-json /tmp/seg.json
    python -m bench.word_ctc --words 200 --choice        # a per-line choice by score between the two, measured
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench.word_reading import SHARED, STYLES, figures, sample_words, style_of, word_drawing

WAYS = ("ctc greedy", "ctc words", "seg letters", "seg word")


def drawings(chosen: dict, seed: int):
    """(site, sample, drawing) as bench.word_reading.measure draws them (its seeds, its order)."""
    for site, words in chosen.items():
        rng = np.random.default_rng([seed, 7, *site.encode()])
        for sample in words:
            try:
                yield site, sample, word_drawing(sample.strokes, rng)
            except ValueError:
                continue


def ctc_rows(reader, chosen: dict, seed: int) -> list[dict]:
    from emnist_core.preprocess import UnusableImage
    from emnist_core.sequence import line_image, read_with_words
    word_list, rows = reader.word_list(), []
    for site, sample, drawing in drawings(chosen, seed):
        base = {"site": site, "style": style_of(sample), "word": sample.label, "message": ""}
        started = time.perf_counter()
        try:
            evidence = reader.evidence(drawing, line_image(drawing))  # with the pen model's, where it has one
            reading = read_with_words(evidence, None)
            greedy_ms = 1000 * (time.perf_counter() - started)
            reading = read_with_words(evidence, word_list) if word_list is not None else reading
            words_ms = 1000 * (time.perf_counter() - started)
            rows.append({**base, "mode": "ctc greedy", "read": reading.greedy, "ms": greedy_ms})
            if word_list is not None:
                rows.append({**base, "mode": "ctc words", "read": reading.text, "ms": words_ms,
                             "per_letter": reading.per_letter()})
        except UnusableImage as error:
            for mode in WAYS[:2]:
                rows.append({**base, "mode": mode, "read": "", "ms": 0.0, "message": str(error)})
    return rows


def seg_rows(predictor, chosen: dict, seed: int) -> list[dict]:
    from bench.word_reading import measure

    rows = measure(predictor, chosen, ["letters", "word"], seed)["rows"]
    return [{**r, "mode": {"letters": "seg letters", "word": "seg word"}[r["mode"]]} for r in rows]


def saved_seg_rows(path, ctc: list[dict]) -> list[dict]:
    """The readings of `python -m bench.word_reading --json PATH` (the same sites, --words and --seed: the same
    drawings), checked to be of the same words."""
    rows = [{**r, "mode": {"letters": "seg letters", "word": "seg word"}[r["mode"]]}
            for r in json.loads(Path(path).read_text())["rows"] if r["mode"] in ("letters", "word")]
    for way in ("seg letters", "seg word"):
        theirs = [(r["site"], r["word"]) for r in rows if r["mode"] == way]
        if theirs != [(r["site"], r["word"]) for r in ctc if r["mode"] == "ctc greedy"]:
            raise ValueError(f"{path}: not the same words (give bench.word_reading the same --sites, --words, --seed)")
    return rows


def compare(reader, chosen: dict, seed: int, segmentation=None, seg_json=None) -> dict:
    """Figures per way and style (and all) on the chosen words; `segmentation`: a Predictor, or None;
    `seg_json`: bench.word_reading's saved readings of the same words instead."""
    rows = ctc_rows(reader, chosen, seed)
    if seg_json is not None:
        rows += saved_seg_rows(seg_json, rows)
    elif segmentation is not None:
        rows += seg_rows(segmentation, chosen, seed)
    found = {}
    for way in WAYS:
        mine = [r for r in rows if r["mode"] == way]
        if mine:
            found[way] = {"all": figures(mine), **{s: figures([r for r in mine if r["style"] == s])
                                                   for s in STYLES if any(r["style"] == s for r in mine)},
                          **{f"site {site}": figures([r for r in mine if r["site"] == site]) for site in chosen}}
    return {"figures": found, "rows": rows}


MARGINS = (-0.2, 0.0, 0.2, 0.5)  # nats: segmentation is chosen when its confidence beats the CTC reader's by more
# nats: the CTC model as the judge: segmentation's reading is kept unless the CTC reading is this much likelier
# under the CTC model (log-likelihoods of the two texts, case-folded)
JUDGE_MARGINS = (0.0, 1.0, 2.3, 5.0, 10.0, 20.0)


def choice(reader, predictor, chosen: dict, seed: int) -> dict:
    """A per-line choice by score (the image word model alone: the measurement of 2026-12-06), measured in both
    of the line tab's modes for letters: each word read by both
    readers (letters: CTC greedy, segmentation letter by letter; word: CTC + word list, segmentation's English
    word), then (a) segmentation's reading taken when its confidence (mean log-probability of its characters'
    top readings) beats the CTC reading's (sequence.letter_confidence) by more than a margin, (b) the CTC model
    as the judge: segmentation's reading kept unless the CTC reading is JUDGE_MARGINS nats likelier under the
    CTC model. Characters per style for each, always CTC, always segmentation, and the better per word (oracle)."""
    import math

    from bench.word_reading import characters
    from emnist_core.preprocess import UnusableImage
    from emnist_core.sequence import judged_log_likelihood, letter_confidence, line_image, read_with_words
    word_list, rows = reader.word_list(), []
    for site, sample, drawing in drawings(chosen, seed):
        try:
            (log_probs,) = reader.log_probs([line_image(drawing)])
        except UnusableImage:
            log_probs = None
        for mode in ("letters", "word"):
            ctc, ctc_conf = "", -math.inf
            if log_probs is not None:
                ctc = read_with_words(log_probs, word_list if mode == "word" else None).text
                ctc_conf = letter_confidence(log_probs)
            try:
                line = predictor.read_line_strokes(drawing, mode)
                seg = line.word or line.letters  # segmentation's own reading (line.text may be the chosen whole one)
                seg_conf = float(np.mean([math.log(max(p.top5[0][1], 1e-12)) for _, p in line.characters]))
            except UnusableImage:
                seg, seg_conf = "", -math.inf
            judged = {"ctc_ll": -math.inf, "seg_ll": -math.inf}
            if log_probs is not None:
                judged = {"ctc_ll": judged_log_likelihood(log_probs, ctc),
                          "seg_ll": judged_log_likelihood(log_probs, seg)}
            rows.append({"mode": mode, "style": style_of(sample), "word": sample.label, "ctc": ctc, "seg": seg,
                         "ctc_conf": ctc_conf, "seg_conf": seg_conf, **judged})
    found = {}
    for mode in ("letters", "word"):
        for style in ("all", *STYLES):
            mine = [r for r in rows if r["mode"] == mode and (style == "all" or r["style"] == style)]
            if not mine:
                continue
            score = lambda pick: float(np.mean([characters(r["word"], pick(r)) for r in mine]))  # noqa: E731
            found[f"{mode} {style}"] = {
                "words": len(mine), "always ctc": score(lambda r: r["ctc"]),
                "always segmentation": score(lambda r: r["seg"]),
                **{f"margin {m:+.1f}": score(lambda r, m=m: r["seg"] if r["seg_conf"] > r["ctc_conf"] + m
                                             else r["ctc"]) for m in MARGINS},
                **{f"judge {m:.1f}": score(lambda r, m=m: r["seg"] if r["seg_ll"] >= r["ctc_ll"] - m
                                           else r["ctc"]) for m in JUDGE_MARGINS},
                "oracle": float(np.mean([max(characters(r["word"], r["ctc"]), characters(r["word"], r["seg"]))
                                         for r in mine]))}
    return {"figures": found, "rows": rows}


def print_table(result: dict) -> None:
    found = result["figures"]
    groups = [g for g in next(iter(found.values())) if g]
    print(f"\n{'':<14}" + "".join(f"{way:>24}" for way in found))
    print(f"{'':<14}" + "".join(f"{'chars  word  count':>24}" for _ in found))
    for group in groups:
        cells = []
        for way in found:
            f = found[way].get(group, {"words": 0})
            cells.append(f"{f['characters']:>8.1%}{f['whole_word']:>7.1%}{f['count_right']:>7.1%}  " if f["words"]
                         else f"{'-':>24}")
        words = found[next(iter(found))][group]["words"]
        print(f"{group + f' ({words})':<14}" + "".join(cells))
    for way, f in found.items():
        ten = f["all"]["ms_10_letters"]
        print(f"  {way}: median {f['all']['ms_median']:.1f} ms a word, "
              + (f"{ten:.1f} ms a 10-letter word ({f['all']['ten_letter_words']})" if ten else "no 10-letter word")
              + f"; e.g. {', '.join(f['all']['misread'][:5])}")


def add_pen_argument(parser: argparse.ArgumentParser) -> None:
    """--pen-checkpoint, as every bench that reads with the word models takes it (word_reader)."""
    parser.add_argument("--pen-checkpoint", help="the pen word model beside the image word model (default: the shipped "
                        "one, checkpoints/word_pen.pt, where it is there; 'none': the image word model alone)")


def word_reader(word_checkpoint: str | None, pen_checkpoint: str | None):
    """The word models a bench reads with: --word-checkpoint (default: the shipped one) and --pen-checkpoint (see
    add_pen_argument). Raises SequenceCheckpointError."""
    from emnist_core.sequence import DEFAULT_PEN_CHECKPOINT, DEFAULT_WORD_CHECKPOINT, SequenceReader
    pen = DEFAULT_PEN_CHECKPOINT if pen_checkpoint is None else None if pen_checkpoint == "none" else pen_checkpoint
    return SequenceReader(word_checkpoint or DEFAULT_WORD_CHECKPOINT, pen_path=pen)


def main(argv=None) -> int:
    from train.word_ctc import VAL_SITES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--word-checkpoint", help="default: checkpoints/word_ctc.pt")
    parser.add_argument("--checkpoint", help="the character model for segmentation (default: the shipped one)")
    parser.add_argument("--unipen", default=str(SHARED / "unipen-dev"))
    parser.add_argument("--sites", default=",".join(VAL_SITES))
    parser.add_argument("--words", type=int, default=200, help="words per site, drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--choice", action="store_true",
                        help="only this: a per-line choice between the two readers by their confidence, measured")
    parser.add_argument("--ctc-only", action="store_true", help="leave segmentation out")
    parser.add_argument("--seg-json", help="the readings saved by python -m bench.word_reading --json with the same "
                        "--sites, --words and --seed (instead of reading them again; the page's readings: with the "
                        "word model beside segmentation)")
    parser.add_argument("--json", help="write the figures and every reading here")
    add_pen_argument(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from emnist_core.sequence import SequenceCheckpointError
    from train.unipen import NotUnipen, read_unipen

    try:
        reader = word_reader(args.word_checkpoint, args.pen_checkpoint)
    except SequenceCheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        samples, _ = read_unipen(args.unipen, categories=("7",))
    except (NotUnipen, FileNotFoundError, OSError) as error:
        print(f"error: cannot read {args.unipen}: {error}", file=sys.stderr)
        return 2
    chosen = sample_words(samples, args.words or None, args.seed, set(args.sites.split(",")))
    if not chosen:
        print("error: no words of letters found at those sites", file=sys.stderr)
        return 2
    predictor = None
    if not args.ctc_only and not args.seg_json:
        from emnist_core.checkpoint import DEFAULT_CHECKPOINT
        from emnist_core.predict import Predictor
        predictor = Predictor(args.checkpoint or DEFAULT_CHECKPOINT)
        predictor.word_reader = None  # segmentation alone: this bench weighs the two readers itself
    started = time.time()
    if args.choice:
        if predictor is None:
            parser.error("--choice reads with segmentation: leave out --ctc-only and --seg-json")
        result = choice(reader, predictor, chosen, args.seed)
        print("characters when segmentation's reading is taken where its confidence is higher by more than a margin")
        for style, f in result["figures"].items():
            print(f"{style + ' (' + str(f['words']) + ')':<22}" + "  ".join(f"{k} {v:.1%}" for k, v in f.items() if k != "words"))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
        return 0
    try:
        result = compare(reader, chosen, args.seed, predictor, args.seg_json)
    except (ValueError, OSError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"sites {', '.join(f'{s} {len(w)}' for s, w in chosen.items())} (seed {args.seed})")
    print_table(result)
    print(f"measured in {time.time() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
