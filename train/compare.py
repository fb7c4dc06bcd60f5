"""What does each model gain over a baseline, beyond noise? `python -m train.compare BASE.pt A.pt ... --data-dir DIR`

Every model is read the way it ships (its own recorded reading rule and calibration) on the
validation images they all held out (train them with the same `--split-seed`, `--val-fraction` and
`--limit`; any architecture), weighted to ByMerge's class mix. Printed for each: its weighted
accuracy and digit/letter accuracy, and its paired gain over the baseline with one standard error.
The pairing (the same images, read by both) cancels most of the split's own noise: the gain's
standard error is a third to a half of the split's.
"""

import argparse
import sys

import torch

from emnist_core.checkpoint import CheckpointError, load_checkpoint
from emnist_core.inference import model_outputs, probabilities

from .data import DataError, load_recorded_split
from .ensemble import check_same_split, correctness
from .evaluate import weighted_mean_and_se


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.compare", description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="the model the others are compared with (e.g. the shipped one)")
    parser.add_argument("others", nargs="+", help="finished checkpoints validated on the baseline's split")
    parser.add_argument("--data-dir", required=True, help="the training files they were split from")
    args = parser.parse_args(argv)
    paths = [args.baseline, *args.others]
    try:
        models = [load_checkpoint(p) for p in paths]
        check_same_split(models, paths)
        data = load_recorded_split(models[0].training, args.data_dir, torch.device("cpu"))
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    weights = None if data.class_weights is None else data.class_weights[data.val_y.long()]
    right = []
    for path, m in zip(paths, models):
        logits, digit_logits = model_outputs(m.build_model(path), data.val_x, m.input_spec)
        right.append(correctness(*probabilities(logits, digit_logits, m.digit_source), data.val_y))
    kind = "weighted to ByMerge's class mix" if weights is not None else "unweighted (no class prior here)"
    print(f"{len(data.val_y):,} validation images, {kind}; gains are paired with {paths[0]}, +- one standard error")
    for i, path in enumerate(paths):
        cells = []
        for name in ("accuracy", "digit_letter"):
            mean, se = weighted_mean_and_se(right[i][name], weights)
            cell = f"{name.replace('_', '/')} {100 * mean:.2f}% (+-{100 * se:.2f})"
            if i:
                gain, gain_se = weighted_mean_and_se(right[i][name] - right[0][name], weights)
                cell += f", gain {100 * gain:+.2f} +- {100 * gain_se:.2f}"
            cells.append(cell)
        print(f"{path} [{models[i].digit_source}]: " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
