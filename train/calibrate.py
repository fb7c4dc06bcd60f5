"""After training: re-estimate BatchNorm statistics on clean images, correct for the training pool's
class prior and choose how digit/letter is decided, all on validation weighted to the class mix the
model will meet.

The offline pool holds more digits (55%) than ByMerge does (49.8%). By Bayes' rule a classifier
trained under prior p_train predicts under p_target once log(p_target / p_train) is added to its
logits; we try strengths 0..1 of that correction and keep the one that validates best.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from emnist_core.checkpoint import DIGIT_SOURCES, Checkpoint, InputSpec
from emnist_core.inference import model_outputs, probabilities
from emnist_core.labels import BYMERGE_CHARS, NUM_DIGITS
from emnist_core.model import EmnistCNN, batchnorm_layers

from .data import DataError, TrainingData
from .evaluate import compute_metrics

PRIOR_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)  # candidate strengths of the prior correction
BATCHNORM_IMAGES = 30_000  # un-augmented training images that re-estimate BatchNorm statistics


@dataclass
class PriorCorrection:
    class_adjust: torch.Tensor  # (C,) log(p_target / p_train), added to the class logits
    digit_adjust: float  # the same for digit vs letter, added to the digit head's logit

    @classmethod
    def for_data(cls, data: TrainingData) -> "PriorCorrection | None":
        """From the run's training part to its target class mix; None without a target prior."""
        return None if data.target_prior is None else cls.between(data.train_prior, data.target_prior)

    @classmethod
    def between(cls, train_prior: np.ndarray, target_prior: np.ndarray) -> "PriorCorrection":
        def log_odds(p: float) -> float:
            return math.log(p / (1 - p))

        return cls(class_adjust=torch.from_numpy(np.log(target_prior) - np.log(train_prior)).float(),
                   digit_adjust=log_odds(target_prior[:NUM_DIGITS].sum()) - log_odds(train_prior[:NUM_DIGITS].sum()))

    def fold_into(self, model: EmnistCNN, strength: float) -> None:
        """Add the correction to the output biases: the saved model then needs no extra step."""
        with torch.no_grad():
            for network in getattr(model, "members", [model]):  # an Ensemble: each member alike
                network.classifier.bias += strength * self.class_adjust.to(network.classifier.bias.device)
                network.digit_head.bias += strength * self.digit_adjust


def folded_strength(checkpoint: Checkpoint) -> float:
    """The prior-correction strength a finished model has folded into its biases (its record says)."""
    return (((checkpoint.training or {}).get("metrics") or {}).get("selection") or {}).get("prior_strength", 0.0)


def folded_correction(checkpoint: Checkpoint, data, pen=None) -> "PriorCorrection | None":
    """The prior correction a finished model has folded in (at its recorded strength), for `data`, its own
    training data: from the class mix its record gives (metrics.train_prior) to the target; for older
    records, the EMNIST pool's, or the pen mix (train.pen_data.PenMix) when it was trained with pen
    strokes at `pen`'s share."""
    metrics = (checkpoint.training or {}).get("metrics") or {}
    if metrics.get("train_prior") is not None and data.target_prior is not None:
        return PriorCorrection.between(np.asarray(metrics["train_prior"]), data.target_prior)
    hyper = (checkpoint.training or {}).get("hyperparameters") or {}
    if hyper.get("unipen_dir"):
        if pen is None or hyper.get("unipen_share") != pen.share:
            raise DataError("that checkpoint was trained with pen strokes and records no training class mix: "
                            "give --unipen-dir, with its --unipen-share")
        return pen.correction(data)
    return PriorCorrection.for_data(data)


def as_trained(checkpoint: Checkpoint, correction: PriorCorrection | None, device: torch.device,
               source: str = "checkpoint") -> EmnistCNN:
    """A finished model with its folded prior correction taken out again: the logits as the network
    learnt them, ready to be calibrated (again) by calibrated_model."""
    folded = folded_strength(checkpoint)
    if folded and correction is None:
        raise DataError(f"{source} folded in a prior correction, but no class prior is in the data folder")
    model = checkpoint.build_model(source).to(device)
    if folded:
        correction.fold_into(model, -folded)
    return model


@torch.no_grad()
def recompute_batchnorm(model: EmnistCNN, images_uint8: torch.Tensor, spec: InputSpec,
                        n_images: int = BATCHNORM_IMAGES, batch_size: int = 1000, seed: int = 0) -> EmnistCNN:
    """Re-estimate every BatchNorm's running mean and variance (an exact average, not a moving one)
    on a fixed sample of un-augmented training images, in place.

    Training estimated them on augmented batches, but the model reads clean images; the shift in
    statistics is a train/test mismatch of its own. Validation decides whether this helps.
    """
    device = next(model.parameters()).device
    batchnorms = batchnorm_layers(model)
    for bn in batchnorms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over all batches
    generator = torch.Generator().manual_seed(seed)
    sample = torch.randperm(len(images_uint8), generator=generator)[:n_images].to(images_uint8.device)
    was_training = model.training
    model.train()  # BatchNorm updates its running statistics only in training mode; dropout is harmless here
    for start in range(0, len(sample), batch_size):
        model(spec.normalize(images_uint8[sample[start:start + batch_size]].to(device)))
    for bn in batchnorms:
        bn.momentum = 0.1  # PyTorch's default, for anyone who trains on
    model.train(was_training)
    return model


def choose(logits: torch.Tensor, digit_logits: torch.Tensor, labels: torch.Tensor,
           class_weights: torch.Tensor | None, correction: PriorCorrection | None, pen=None) -> dict:
    """The prior strength and reading rule (digit source) with the best sum of (weighted) validation
    accuracy and digit/letter accuracy; every candidate's figures are kept for the record. `pen`:
    (logits, digit logits, PenImages) of held-out pen characters, whose strict and tolerant accuracy
    then count as much as EMNIST's two figures (a prior that suits scans may not suit drawings)."""
    from .pen_data import scores  # pen data is optional: its module only where it is used

    candidates = []
    for strength in PRIOR_STRENGTHS if correction is not None else (0.0,):
        class_shift = strength * correction.class_adjust if correction is not None else 0.0
        digit_shift = strength * correction.digit_adjust if correction is not None else 0.0
        for source in DIGIT_SOURCES:
            probs, p_digit = probabilities(logits + class_shift, digit_logits + digit_shift, source)
            m = compute_metrics(probs, p_digit, labels, class_weights)
            candidates.append({"prior_strength": strength, "digit_source": source,
                               "accuracy": m.get("prior_weighted_accuracy", m["accuracy"]),
                               "digit_letter_accuracy": m.get("prior_weighted_digit_letter_accuracy",
                                                              m["digit_letter_accuracy"])})
            if pen is not None:
                pen_logits, pen_digit, images = pen
                got = scores(*probabilities(pen_logits + class_shift, pen_digit + digit_shift, source), images,
                             BYMERGE_CHARS)["all"]
                candidates[-1].update(pen_strict=got["strict"], pen_tolerant=got["tolerant"])

    def merit(c: dict) -> float:
        return c["accuracy"] + c["digit_letter_accuracy"] + c.get("pen_strict", 0) + c.get("pen_tolerant", 0)

    # The figures count alike; ties go to the strength nearest the Bayes-correct 1.0.
    best = max(candidates, key=lambda c: (merit(c), -abs(c["prior_strength"] - 1.0)))
    strength, source = best["prior_strength"], best["digit_source"]
    chosen = next(c for c in candidates if c["prior_strength"] == strength and c["digit_source"] == source)
    return {"prior_strength": strength, "digit_source": source, "accuracy": chosen["accuracy"],
            "digit_letter_accuracy": chosen["digit_letter_accuracy"],
            **{k: chosen[k] for k in ("pen_strict", "pen_tolerant") if k in chosen},
            "weighted_to_target_prior": class_weights is not None, "candidates": candidates}


def calibrated_model(load_model: Callable[[], EmnistCNN], train_images: torch.Tensor, val_images: torch.Tensor,
                     val_labels: torch.Tensor, class_weights: torch.Tensor | None,
                     correction: PriorCorrection | None, spec: InputSpec, seed: int = 0,
                     pen_val=None) -> tuple[EmnistCNN, dict]:
    """The trained model with its BatchNorm statistics (as trained, or re-estimated on clean training
    images), prior-correction strength and digit source chosen on validation; the correction is
    folded in. `pen_val`: held-out pen characters (PenImages) that count in every choice. Returns the
    model and the record of every choice."""
    variants = {}  # BatchNorm statistics -> (model, choice)
    for statistics in ("as trained", "clean images"):
        model = load_model()
        if statistics == "clean images":
            recompute_batchnorm(model, train_images, spec, seed=seed)
        logits, digit_logits = model_outputs(model, val_images, spec)
        pen = None if pen_val is None else (*model_outputs(model, torch.from_numpy(pen_val.images), spec), pen_val)
        variants[statistics] = model, choose(logits, digit_logits, val_labels, class_weights, correction, pen)

    def merit(choice: dict) -> float:
        return choice["accuracy"] + choice.get("pen_strict", 0) + choice.get("pen_tolerant", 0)

    statistics = max(variants, key=lambda name: merit(variants[name][1]))  # a tie keeps "as trained"
    model, choice = variants[statistics]
    if correction is not None:
        correction.fold_into(model, choice["prior_strength"])
    summaries = {name: {k: c[k] for k in ("accuracy", "digit_letter_accuracy", "prior_strength", "digit_source")}
                 for name, (_, c) in variants.items()}
    return model, {"batchnorm_statistics": statistics, "batchnorm_candidates": summaries, **choice}
