"""Does test-time augmentation help? `python -m bench.tta --checkpoint PATH --data-dir DIR`

Scores a checkpoint on its own validation split (weighted to ByMerge's class mix) reading each image
as it is, and averaging the log-probabilities over copies shifted by one pixel (vertically,
horizontally, both). Measured once for the README; the product does not use it (it did not help).
"""

import argparse
import sys

import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from emnist_core.inference import model_outputs, probabilities
from train.data import load_recorded_split
from train.evaluate import compute_metrics

SHIFT_SETS = {"none": [(0, 0)], "vertical +-1 px": [(0, 0), (1, 0), (-1, 0)],
              "horizontal +-1 px": [(0, 0), (0, 1), (0, -1)],
              "both +-1 px": [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.checkpoint)
    data = load_recorded_split(checkpoint.training, args.data_dir, torch.device("cpu"))
    model = checkpoint.build_model(args.checkpoint)
    outputs = {}
    for shifts in SHIFT_SETS.values():
        for shift in shifts:  # EMNIST is transposed: dims 1, 2 are the character's x, y
            if shift not in outputs:
                logits, digits = model_outputs(model, torch.roll(data.val_x, shift, (1, 2)), checkpoint.input_spec)
                outputs[shift] = logits.log_softmax(1), digits
    for name, shifts in SHIFT_SETS.items():
        logits = torch.stack([outputs[s][0] for s in shifts]).mean(0)
        digits = torch.stack([outputs[s][1] for s in shifts]).mean(0)
        m = compute_metrics(*probabilities(logits, digits, checkpoint.digit_source), data.val_y, data.class_weights)
        print(f"{name:18s} weighted accuracy {m['prior_weighted_accuracy']:.4f}, "
              f"digit/letter {m['prior_weighted_digit_letter_accuracy']:.4f} ({len(shifts)} reads per image)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
