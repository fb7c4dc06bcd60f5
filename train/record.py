"""Write a finished model's record (no weights) as JSON to standard output.

    python -m train.record runs/light4/model.pt > checkpoints/records/light4.json

Every trained model's record is committed under checkpoints/records/, shipped or not, so each
figure of the README's tables can be traced to the run that gave it without keeping its weights:
the training command (and the recalibration command, if any), machine, data split, recipe,
validation figures, the calibration choices with every candidate scored, and the per-validation
history. The record is the checkpoint's own (emnist_core.checkpoint), with its network shape added.
"""

import argparse
import json
import sys
from dataclasses import asdict

from emnist_core.checkpoint import CheckpointError, load_checkpoint
from emnist_core.model import StrokeNet, build_network, count_parameters


def record_of(path: str) -> dict:
    checkpoint = load_checkpoint(path)
    if not (checkpoint.training or {}).get("metrics"):
        raise CheckpointError(f"{path}: not a finished model (its record has no validation figures)")
    record = {"model_config": asdict(checkpoint.model_config),
              "parameters": count_parameters(build_network(checkpoint.model_config)),
              "digit_source": checkpoint.digit_source, "training": checkpoint.training}
    if checkpoint.strokes is not None:  # the stroke model beside the CNN (python -m train.strokes)
        record["strokes"] = {"config": asdict(checkpoint.strokes.config), "weight": checkpoint.strokes.weight,
                             "parameters": count_parameters(StrokeNet(checkpoint.strokes.config)),
                             "training": checkpoint.strokes.training}
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.record", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a finished model: a run's model.pt, a recalibrated or shipped one")
    args = parser.parse_args(argv)
    try:
        record = record_of(args.checkpoint)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    json.dump(record, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
