"""The end of a training run: what the checkpoint records, and the final model built from the best
validated weights (calibrated, scored once on the test split, saved with metrics and plots)."""

import json
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from emnist_core.checkpoint import load_checkpoint, save_checkpoint
from emnist_core.labels import BYMERGE_CHARS
from emnist_core.inference import model_outputs, probabilities, readings

from . import calibrate, report
from .augment import AugmentConfig
from .calibrate import PriorCorrection
from .data import TrainingData
from .evaluate import compute_metrics, machine_description
from .pen_data import PenMix, drawing_scores, omniglot_drawings, scores

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


def calibrate_and_score(load_model, data: TrainingData, correction: PriorCorrection | None, spec, seed: int,
                        pen: PenMix | None = None, omniglot_dir=None
                        ) -> tuple[torch.nn.Module, dict, tuple[torch.Tensor, torch.Tensor]]:
    """A trained network calibrated (calibrate.calibrated_model) and scored on validation: the end of a
    run, and of a recalibration. With pen data (`pen`), its held-out sites count in every choice,
    BatchNorm statistics come from both kinds of image in the run's mix, and the held-out pen characters
    (and Omniglot's drawings, with `omniglot_dir`) are scored per kind. Returns the model, the figures and
    its validation readings (probabilities, P(digit)) for the run's report."""
    clean, train_prior = data.train_x, data.train_prior
    if pen is not None:  # the clean images BatchNorm sees, in the run's own mix of scans and drawings
        drawn = torch.from_numpy(np.random.default_rng(seed).choice(
            pen.train.images, pen.count(len(clean)), p=pen.weights)).to(clean.device)
        clean, train_prior = torch.cat([clean, drawn]), pen.train_prior(data.train_prior, len(data.train_y))
    # EMNIST's validation is weighted by its own pool's mix (data.class_weights), whatever the run mixed in
    model, choice = calibrate.calibrated_model(load_model, clean, data.val_x, data.val_y, data.class_weights,
                                               correction, spec, seed, pen_val=pen.val if pen is not None else None)
    val_readings = probabilities(*model_outputs(model, data.val_x, spec), choice["digit_source"])
    result = {"val": compute_metrics(*val_readings, data.val_y, data.class_weights),
              "selection": choice,
              "train_prior": [round(float(p), 8) for p in train_prior]}  # the mix the correction starts from
    if pen is not None:
        pen_logits, pen_digit = model_outputs(model, torch.from_numpy(pen.val.images), spec)
        result["unipen_val"] = scores(*probabilities(pen_logits, pen_digit, choice["digit_source"]), pen.val,
                                      BYMERGE_CHARS)
        result["unipen_val_sites"] = pen.val_sites
    if omniglot_dir:
        images, letters, _ = omniglot_drawings(omniglot_dir)
        if letters:
            d_logits, d_digit = model_outputs(model, torch.from_numpy(images), spec)
            result["drawings"] = drawing_scores(*probabilities(d_logits, d_digit, choice["digit_source"]), letters,
                                                BYMERGE_CHARS)
    return model, result, val_readings


def finalize(out: Path, best: dict, data: TrainingData, test: tuple[np.ndarray, np.ndarray] | None,
             correction: PriorCorrection | None, device: torch.device, make_checkpoint,
             history: list[dict], started: float, args, pen: PenMix | None = None) -> dict:
    """The best validated weights with their BatchNorm statistics (as trained, or re-estimated on clean
    images), prior-correction strength and digit source chosen on validation, scored once on the test
    split if there is one, saved with everything it needs (calibrate_and_score says what pen data adds)."""
    spec = load_checkpoint(out / BEST_EPOCH).input_spec
    model, chosen, (probs, p_digit) = calibrate_and_score(
        lambda: load_checkpoint(out / BEST_EPOCH).build_model(str(out / BEST_EPOCH)).to(device),
        data, correction, spec, args.seed, pen, getattr(args, "omniglot_dir", None))
    choice = chosen["selection"]
    result = {"best_epoch": best["epoch"], "best_step": best["step"], **chosen}
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

