"""How well a model reads pen characters by writers and sites it never trained on:
`python -m bench.pen_characters [--checkpoint A.pt B.pt ...]`.

The held-out UNIPEN sites (train.pen_data.VAL_SITES) are drawn through the page's own stroke path
(strokes.drawing_from_strokes on the 400x400 character canvas, the middle brush, then
strokes.emnist_from_drawing; drawn afresh, 25-50 s) and read by each checkpoint as the page reads a drawing:
its reading rule, and its stroke model beside the CNN where it has one (strokes.trajectory).
Printed per kind (digits, upper case, lower case): strict (the ByMerge class), tolerant (a letter's
case and 0/O, 1/I/L, 2/Z, 5/S, 9/g/q forgiven) and top-5, each with its standard error; then the
commonest confusions and how much of the strict error those look-alikes make; for each checkpoint after
the first, its paired gain over the first on the same characters; each site's figures (strict, tolerant,
lower case tolerant). With --omniglot-dir, Omniglot's mouse-drawn letters too.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.inference import ranked
from emnist_core.labels import reads_as_meant
from emnist_core.predict import Predictor

from train.pen_data import drawing_scores, hits, omniglot_drawings, plain_validation, score_text, scores
from train.unipen import CHARACTER_CATEGORIES, read_unipen

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def read(checkpoint_path: str, images: np.ndarray, paths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(probabilities, P(digit), labels) of a checkpoint on drawings: (N, 28, 28) images in EMNIST orientation
    and their pen paths (N, 6, 64), read as the page reads a drawing (Predictor: with the checkpoint's stroke
    model, where it has one)."""
    predictor = Predictor(checkpoint_path)
    probs, p_digit = predictor.predict_emnist(images, trajectories=list(paths))
    return torch.from_numpy(probs), torch.from_numpy(p_digit), predictor.labels


def confusions(probs, p_digit, meant: np.ndarray, labels: str, top: int = 12) -> tuple[list, float]:
    """The commonest (meant -> read) strict errors, and the share of strict errors that tolerance forgives."""
    read = [labels[i] for i in ranked(probs, p_digit)[:, 0].tolist()]
    wrong = [(m, r) for m, r in zip(meant, read) if not reads_as_meant(m, r)]
    forgiven = sum(reads_as_meant(m, r, tolerant=True) for m, r in wrong)
    return Counter(f"{m}->{r}" for m, r in wrong).most_common(top), forgiven / max(len(wrong), 1)


def per_character(probs, p_digit, meant: np.ndarray, labels: str) -> dict:
    """For each character as written (its case kept): how many, and the strict and tolerant accuracy."""
    read = [labels[i] for i in ranked(probs, p_digit)[:, 0].tolist()]
    table = {}
    for char in sorted(set(meant.tolist())):
        pairs = [(m, r) for m, r in zip(meant, read) if m == char]
        table[char] = {"n": len(pairs), "strict": round(np.mean([reads_as_meant(m, r) for m, r in pairs]), 4),
                       "tolerant": round(np.mean([reads_as_meant(m, r, tolerant=True) for m, r in pairs]), 4)}
    return table


def per_site(right: dict, pen) -> dict:
    """For each site (pen_data.PenImages' `site`): how many characters, strict and tolerant accuracy (of
    pen_data.hits), and lower case's (category 1c) tolerant accuracy."""
    table = {}
    for site in sorted(set(pen.site.tolist())):
        mine = pen.site == site
        lower = mine & (pen.category == "1c")
        table[site] = {"n": int(mine.sum()), "strict": round(float(right["strict"][mine].mean()), 4),
                       "tolerant": round(float(right["tolerant"][mine].mean()), 4),
                       "lower_tolerant": round(float(right["tolerant"][lower].mean()), 4) if lower.any() else None}
    return table


def paired(first: dict, other: dict) -> dict:
    """The gain of `other` over `first` on the same characters (pen_data.hits), with its standard error:
    the mean of the per-character differences, far tighter than two accuracies' errors side by side."""
    gains = {}
    for name in first:
        difference = other[name].astype(np.float64) - first[name]
        gains[name] = round(float(difference.mean()), 5)
        gains[f"{name}_se"] = round(float(difference.std(ddof=1) / np.sqrt(len(difference))), 5)
    return gains


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pen_characters", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", default=[str(DEFAULT_CHECKPOINT)])
    p.add_argument("--unipen-dir", default=str(SHARED / "unipen-dev"))
    p.add_argument("--omniglot-dir", default=str(SHARED / "omniglot-latin-dev"))
    p.add_argument("--workers", type=int, default=2, help="processes drawing the validation characters")
    p.add_argument("--json", help="write every figure here")
    args = p.parse_args(argv)
    if not Path(args.unipen_dir).is_dir():
        print(f"error: no UNIPEN folder at {args.unipen_dir}", file=sys.stderr)
        return 2
    val, paths = plain_validation(read_unipen(args.unipen_dir, CHARACTER_CATEGORIES)[0], args.workers)
    drawings = omniglot_drawings(args.omniglot_dir) if Path(args.omniglot_dir).is_dir() else None
    results, base = {}, None
    for path in args.checkpoint:
        probs, p_digit, labels = read(path, val.images, paths)
        result = {"unipen": scores(probs, p_digit, val, labels)}
        right = hits(probs, p_digit, val, labels)
        if base is None:
            base = right
        else:
            result["paired_gain"] = gain = paired(base, right)
            print(f"{path}: paired gain over {args.checkpoint[0]} on the same characters: strict "
                  f"{100 * gain['strict']:+.2f}±{100 * gain['strict_se']:.2f}, tolerant "
                  f"{100 * gain['tolerant']:+.2f}±{100 * gain['tolerant_se']:.2f} points")
        pairs, forgiven = confusions(probs, p_digit, val.meant, labels)
        result["confusions"], result["strict_errors_forgiven"] = pairs, round(forgiven, 4)
        print(score_text(result["unipen"], f"{path}: UNIPEN sites {', '.join(sorted(set(val.site.tolist())))} (never trained on)"))
        print(f"  commonest strict errors: {', '.join(f'{k} {n}' for k, n in pairs)}; "
              f"{100 * forgiven:.1f}% of strict errors are forgiven look-alikes or case")
        result["per_site"] = sites = per_site(right, val)
        print("  per site, strict / tolerant (lower case tolerant): " + ", ".join(
            f"{site} {100 * f['strict']:.1f}/{100 * f['tolerant']:.1f}"
            + (f" ({100 * f['lower_tolerant']:.1f})" if f["lower_tolerant"] is not None else "")
            for site, f in sites.items()))
        result["per_character"] = table = per_character(probs, p_digit, val.meant, labels)
        worst = sorted(table, key=lambda c: table[c]["strict"])[:12]
        print("  weakest characters (strict / tolerant): " +
              ", ".join(f"{c} {100 * table[c]['strict']:.0f}/{100 * table[c]['tolerant']:.0f}" for c in worst))
        if drawings is not None and drawings[1]:
            d_probs, d_digit, _ = read(path, drawings[0], drawings[2])
            result["omniglot"] = drawing_scores(d_probs, d_digit, drawings[1], labels)
            print(score_text({"letters": result["omniglot"]}, "  Omniglot drawings (260 letters, plainly drawn)"))
        results[path] = result
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
