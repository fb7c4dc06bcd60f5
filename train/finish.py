"""The end of a training run: what the checkpoint records, and the final model built from the best
validated weights (calibrated, scored once on the test split, saved with metrics and plots)."""

import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from emnist_core.checkpoint import InputSpec, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities, readings

from . import calibrate, report
from .augment import AugmentConfig
from .calibrate import PriorCorrection
from .data import TrainingData
from .evaluate import compute_metrics, machine_description

BEST_EPOCH = "best_epoch.pt"  # the best validated weights as trained, written whenever validation improves
FINAL = "model.pt"  # the finished model: best weights, prior correction folded in, test-scored
NOT_RECORDED = ("resume", "no_progress", "save_to", "force", "out", "extend_minutes")  # how a run ran, not what it learnt


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def training_record(command: str, args, data: TrainingData, augment_cfg: AugmentConfig | None,
                    device: torch.device) -> dict:
    """The command, data, split and recipe that every checkpoint of the run carries."""
    return {"command": command, "commit": git_commit(), "machine": machine_description(device),
            "data_dir": str(data.data_dir), "n_train": len(data.train_x), "n_val": len(data.val_x),
            "split": {"val_fraction": args.val_fraction, "seed": args.split_seed, "limit": args.limit},
            "augment": asdict(augment_cfg) if augment_cfg else None,
            "hyperparameters": {k: v for k, v in vars(args).items() if k not in NOT_RECORDED}}


def finalize(out: Path, best: dict, data: TrainingData, test: tuple[np.ndarray, np.ndarray] | None,
             correction: PriorCorrection | None, device: torch.device, make_checkpoint,
             history: list[dict], started: float, args) -> dict:
    """The best validated weights with their BatchNorm statistics (as trained, or re-estimated on clean
    images), prior-correction strength and digit source chosen on validation, scored once on the test
    split if there is one, saved with everything it needs."""
    spec = InputSpec()
    model, choice = calibrate.calibrated_model(
        lambda: load_checkpoint(out / BEST_EPOCH).build_model(str(out / BEST_EPOCH)).to(device),
        data.train_x, data.val_x, data.val_y, data.class_weights, correction, spec, args.seed)
    logits, digit_logits = model_outputs(model, data.val_x, spec)
    probs, p_digit = probabilities(logits, digit_logits, choice["digit_source"])
    result = {"best_epoch": best["epoch"], "best_step": best["step"],
              "val": compute_metrics(probs, p_digit, data.val_y, data.class_weights), "selection": choice}
    if test is not None:  # scored once, at the very end, never used for any choice
        t_logits, t_digit = model_outputs(model, torch.from_numpy(test[0]), spec)
        result["test"] = compute_metrics(*probabilities(t_logits, t_digit, choice["digit_source"]),
                                         torch.from_numpy(test[1]))
    result["train_minutes"] = (time.time() - started) / 60
    checkpoint = make_checkpoint(model, choice["digit_source"],
                                 {"epoch": best["epoch"], "step": best["step"], "metrics": result, "history": history})
    save_checkpoint(checkpoint, out / FINAL)  # --save-to's copy is made after, if it is no worse (train.save_to)
    with open(out / "metrics.json", "w") as f:
        json.dump({"command": checkpoint.training["command"], "machine": checkpoint.training["machine"],
                   **result, "history": history}, f, indent=2)
    report.write_all(out, history, readings(probs, p_digit), data.val_y, result)
    return result

