"""Which confusions cost how many points of weighted accuracy: `python -m bench.confusion_costs`.

    python -m bench.confusion_costs --checkpoint PATH --data-dir ../shared/data/emnist-bymerge-offline
                                    [--split val] [--top 15]

Reads the checkpoint's own validation split exactly as `python -m train.evaluate --split val` does,
weighted to ByMerge's class mix where the data folder gives it (class-prior.txt). Each image's reading
(the coherent one the page shows) is either right or one confusion; a confusion's cost is the share of
the weighted total its images hold, in points: the costs add up to 100 minus the weighted accuracy.
Prints the costliest confusions one way (true -> read as) and both ways (a pair such as 0/O).
"""

import argparse
import sys
from collections import Counter

import numpy as np
import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from emnist_core.inference import model_outputs, probabilities, readings
from train.data import DataError
from train.evaluate import checkpoint_split


def confusion_costs(reads: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Counter:
    """{(true, read): points of weighted accuracy lost to that confusion}."""
    costs = Counter()
    total = weights.sum()
    for true, read, w in zip(labels.tolist(), reads.tolist(), weights.tolist()):
        if true != read:
            costs[(true, read)] += 100 * w / total
    return costs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    p.add_argument("--data-dir", required=True, help="the folder the checkpoint was trained from")
    p.add_argument("--split", choices=("val", "train", "test"), default="val")
    p.add_argument("--top", type=int, default=15, help="confusions to list")
    args = p.parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        images, labels, class_weights = checkpoint_split(checkpoint, args.checkpoint, args.data_dir, args.split)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    model = checkpoint.build_model(args.checkpoint)
    logits, digit_logits = model_outputs(model, torch.from_numpy(np.ascontiguousarray(images)), checkpoint.input_spec)
    reads = readings(*probabilities(logits, digit_logits, checkpoint.digit_source)).numpy()
    weights = np.ones(len(labels)) if class_weights is None else class_weights.numpy()[labels].astype(np.float64)
    costs = confusion_costs(reads, labels, weights)
    chars = checkpoint.labels
    accuracy = 100 - sum(costs.values())
    print(f"{args.checkpoint} on {args.split}: {len(labels)} images, "
          f"{'weighted to ByMerge' + chr(39) + 's class mix' if class_weights is not None else 'unweighted'}: "
          f"accuracy {accuracy:.2f}%, {100 - accuracy:.2f} points lost")
    print("\ncostliest confusions, true -> read as: points")
    for (true, read), cost in costs.most_common(args.top):
        print(f"  {chars[true]} -> {chars[read]}: {cost:.2f}")
    pairs = Counter()
    for (true, read), cost in costs.items():
        pairs[tuple(sorted((chars[true], chars[read])))] += cost
    print("\ncostliest pairs, both ways: points")
    for (a, b), cost in pairs.most_common(args.top):
        print(f"  {a}/{b}: {cost:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
