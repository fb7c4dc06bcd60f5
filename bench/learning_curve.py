"""How much would more training data gain? `python -m bench.learning_curve RUN_DIR [RUN_DIR ...]`

Reads finished runs that share one validation split but trained on different amounts of it
(`python -m train --train-share S`, same `--split-seed` and `--val-fraction`), and prints their
weighted validation figures against the number of training images, the gain per doubling of the
data from each run to the next and as a least-squares line in log2 of the image count, and where
that line reaches at a given size, by default the official training split less the same validation
share. The line is a straight extrapolation: learning curves flatten, so read it as an upper
estimate beyond the measured range.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from emnist_core.checkpoint import CheckpointError, load_checkpoint

OFFICIAL_TRAIN_IMAGES = 697_932  # the official ByMerge training split
FIGURES = {"accuracy": "prior_weighted_accuracy", "digit/letter": "prior_weighted_digit_letter_accuracy"}


def read_run(run: Path) -> dict:
    """The training-image count and weighted validation figures of a finished run folder."""
    val = json.loads((run / "metrics.json").read_text())["val"]
    missing = [key for key in FIGURES.values() if key not in val]
    if missing:
        raise ValueError(f"{run}: validation was not weighted to a class prior (no {missing[0]})")
    record = load_checkpoint(run / "model.pt").training  # train.finish records the run's image counts
    return {"run": str(run), "n_train": int(record["n_train"]), "n_val": int(record["n_val"]),
            **{name: val[key] for name, key in FIGURES.items()}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders (metrics.json, model.pt)")
    parser.add_argument("--at", type=int, default=None,
                        help="training images to extrapolate to (default: the official training split "
                             "less the runs' validation share)")
    args = parser.parse_args(argv)
    try:
        rows = sorted((read_run(run) for run in args.runs), key=lambda r: r["n_train"])
    except (OSError, ValueError, KeyError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len({r["n_val"] for r in rows}) != 1:
        print("error: the runs were validated on different splits (their validation sizes differ)", file=sys.stderr)
        return 2
    if len({r["n_train"] for r in rows}) < 2:
        print("error: give runs trained on at least two amounts of data", file=sys.stderr)
        return 2
    n_val, pool = rows[0]["n_val"], rows[-1]["n_train"] + rows[0]["n_val"]
    at = args.at or round(OFFICIAL_TRAIN_IMAGES * (1 - n_val / pool))
    print(f"{'training images':>16}  {'accuracy':>9}  {'digit/letter':>12}  run")
    for r in rows:
        print(f"{r['n_train']:>16,}  {r['accuracy']:>9.2%}  {r['digit/letter']:>12.2%}  {r['run']}")
    xs = [math.log2(r["n_train"]) for r in rows]
    for name in FIGURES:
        slope, intercept = np.polyfit(xs, [r[name] for r in rows], 1)  # least squares
        steps = [100 * (b[name] - a[name]) / (xb - xa) for a, b, xa, xb in zip(rows, rows[1:], xs, xs[1:]) if xb > xa]
        print(f"{name}: from run to run {', '.join(f'{g:+.2f}' for g in steps)} points per doubling")
        print(f"{name}: {100 * slope:+.2f} points per doubling of the training images; the line reaches "
              f"{intercept + slope * math.log2(at):.2%} at {at:,} images (a straight extrapolation, "
              f"{math.log2(at / rows[-1]['n_train']):.1f} doublings past the largest run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
