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

from .calibrate import as_trained, folded_correction
from .data import DataError, load_recorded_split
from .evaluate import select_device, summary
from .finish import calibrate_and_score, git_commit
from .flags import device_name, new_file
from .pen_data import RENDER_CACHE, load_pen_mix, score_text


def recalibrate(checkpoint: Checkpoint, data_dir: str, device: torch.device, command: str,
                source: str = "checkpoint", unipen_dir: str | None = None, render_cache: str = RENDER_CACHE,
                omniglot_dir: str | None = None) -> Checkpoint:
    """The finished model calibrated anew on its own validation split (and, for a model trained with pen
    strokes, on its held-out UNIPEN sites, rendered as its run rendered them), as a run's end does."""
    record = checkpoint.training or {}
    if not record.get("split"):
        raise CheckpointError("the checkpoint records no validation split, so it cannot be recalibrated")
    data = load_recorded_split(record, data_dir, device)
    hyper = record.get("hyperparameters") or {}
    pen = None
    if hyper.get("unipen_dir"):
        if not unipen_dir:
            raise DataError("the checkpoint was trained with pen strokes: give --unipen-dir (its UNIPEN folder)")
        pen = load_pen_mix(unipen_dir, render_cache, hyper.get("unipen_variants", 2), hyper["unipen_share"],
                           data.target_prior)
    correction = folded_correction(checkpoint, data, pen)
    model, chosen, _ = calibrate_and_score(lambda: as_trained(checkpoint, correction, device, source), data, correction,
                                        checkpoint.input_spec, record["split"]["seed"], pen, omniglot_dir)
    metrics = {**(record.get("metrics") or {}), **chosen}
    metrics.pop("test", None)  # the test figures were the old model's
    # replace(): the labels and the input spec travel with the weights, whatever the checkpoint held
    return replace(checkpoint, state_dict=model.state_dict(), digit_source=chosen["selection"]["digit_source"],
                   training={**record, "metrics": metrics,
                             "recalibrated": {"command": command, "commit": git_commit()}})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m train.recalibrate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a finished model (model.pt or a shipped one)")
    parser.add_argument("--data-dir", required=True, help="the data it was trained on")
    parser.add_argument("--save-to", type=new_file, required=True, help="where the recalibrated checkpoint goes")
    parser.add_argument("--unipen-dir", help="for a model trained with pen strokes: its UNIPEN folder")
    parser.add_argument("--render-cache", default=RENDER_CACHE, help="where rendered pen characters are kept")
    parser.add_argument("--omniglot-dir", help="Omniglot's Latin letters (stroke files): scored too")
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    args = parser.parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        result = recalibrate(checkpoint, args.data_dir, select_device(args.device),
                             "python -m train.recalibrate " + shlex.join(argv), args.checkpoint, args.unipen_dir,
                             args.render_cache, args.omniglot_dir)
        save_checkpoint(result, args.save_to)
    except (DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    selection = result.training["metrics"]["selection"]
    for name, c in selection["batchnorm_candidates"].items():
        print(f"BatchNorm statistics {name}: validation {c['accuracy']:.4f}, digit/letter "
              f"{c['digit_letter_accuracy']:.4f} (prior strength {c['prior_strength']}, {c['digit_source']})")
    metrics = result.training["metrics"]
    print(summary(metrics["val"], f"validation, recalibrated ({selection['batchnorm_statistics']})"))
    if "unipen_val" in metrics:
        print(score_text(metrics["unipen_val"], f"UNIPEN sites never trained on ({', '.join(metrics['unipen_val_sites'])})"))
    if "drawings" in metrics:
        print(score_text({"letters": metrics["drawings"]}, "Omniglot drawings, plainly drawn"))
    print(f"saved {args.save_to}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
