"""Redo a finished model's post-training choices with today's calibration, without retraining.

    python -m train.recalibrate --checkpoint checkpoints/emnist_bymerge.pt \
        --data-dir ../shared/data/emnist-bymerge-offline --save-to checkpoints/emnist_bymerge.pt

The checkpoint's folded prior correction is taken out again (its strength is in its record, and the
correction itself follows from the same data, split and class prior), then BatchNorm statistics,
prior strength and digit source are chosen on the checkpoint's own validation split exactly as the
end of a training run chooses them (train.calibrate.calibrated_model). The record keeps the original
training command and gains a `recalibrated` entry with this command.
"""

import argparse
import shlex
import sys
from dataclasses import replace

import torch

from emnist_core.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities

from .calibrate import PriorCorrection, as_trained, calibrated_model
from .data import DataError, load_recorded_split
from .evaluate import compute_metrics, select_device, summary
from .finish import git_commit
from .flags import device_name, new_file


def recalibrate(checkpoint: Checkpoint, data_dir: str, device: torch.device, command: str,
                source: str = "checkpoint") -> Checkpoint:
    record = checkpoint.training or {}
    if not record.get("split"):
        raise CheckpointError("the checkpoint records no validation split, so it cannot be recalibrated")
    data = load_recorded_split(record, data_dir, device)
    correction = PriorCorrection.for_data(data)
    model, choice = calibrated_model(lambda: as_trained(checkpoint, correction, device, source), data.train_x,
                                     data.val_x, data.val_y, data.class_weights, correction,
                                     checkpoint.input_spec, record["split"]["seed"])
    logits, digit_logits = model_outputs(model, data.val_x, checkpoint.input_spec)
    val = compute_metrics(*probabilities(logits, digit_logits, choice["digit_source"]), data.val_y,
                          data.class_weights)
    metrics = {**(record.get("metrics") or {}), "val": val, "selection": choice}
    metrics.pop("test", None)  # the test figures were the old model's
    # replace(): the labels and the input spec travel with the weights, whatever the checkpoint held
    return replace(checkpoint, state_dict=model.state_dict(), digit_source=choice["digit_source"],
                   training={**record, "metrics": metrics, "recalibrated": {"command": command, "commit": git_commit()}})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m train.recalibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a finished model (model.pt or a shipped one)")
    parser.add_argument("--data-dir", required=True, help="the data it was trained on")
    parser.add_argument("--save-to", type=new_file, required=True, help="where the recalibrated checkpoint goes")
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        result = recalibrate(checkpoint, args.data_dir, select_device(args.device),
                             "python -m train.recalibrate " + shlex.join(argv), args.checkpoint)
        save_checkpoint(result, args.save_to)
    except (DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    selection = result.training["metrics"]["selection"]
    for name, c in selection["batchnorm_candidates"].items():
        print(f"BatchNorm statistics {name}: validation {c['accuracy']:.4f}, digit/letter "
              f"{c['digit_letter_accuracy']:.4f} (prior strength {c['prior_strength']}, {c['digit_source']})")
    print(summary(result.training["metrics"]["val"], f"validation, recalibrated ({selection['batchnorm_statistics']})"))
    print(f"saved {args.save_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
