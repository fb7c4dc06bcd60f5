"""After training: correct for the training pool's class prior and choose how digit/letter is
decided, both on validation, weighted to the class mix the model will meet.

The offline pool holds more digits (55%) than ByMerge does (49.8%). By Bayes' rule a classifier
trained under prior p_train predicts under p_target once log(p_target / p_train) is added to its
logits; we try strengths 0..1 of that correction and keep the one that validates best.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from emnist_core.inference import probabilities
from emnist_core.labels import NUM_DIGITS
from emnist_core.model import EmnistCNN

from .evaluate import compute_metrics

PRIOR_STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)  # candidate strengths of the prior correction
DIGIT_SOURCES = ("sum", "head")  # summed digit probabilities, or the digit head


@dataclass
class PriorCorrection:
    class_adjust: torch.Tensor  # (C,) log(p_target / p_train), added to the class logits
    digit_adjust: float  # the same for digit vs letter, added to the digit head's logit

    @classmethod
    def between(cls, train_prior: np.ndarray, target_prior: np.ndarray) -> "PriorCorrection":
        def log_odds(p: float) -> float:
            return math.log(p / (1 - p))

        return cls(class_adjust=torch.from_numpy(np.log(target_prior) - np.log(train_prior)).float(),
                   digit_adjust=log_odds(target_prior[:NUM_DIGITS].sum()) - log_odds(train_prior[:NUM_DIGITS].sum()))

    def fold_into(self, model: EmnistCNN, strength: float) -> None:
        """Add the correction to the output biases: the saved model then needs no extra step."""
        with torch.no_grad():
            model.classifier.bias += strength * self.class_adjust.to(model.classifier.bias.device)
            model.digit_head.bias += strength * self.digit_adjust


def choose(logits: torch.Tensor, digit_logits: torch.Tensor, labels: torch.Tensor,
           class_weights: torch.Tensor | None, correction: PriorCorrection | None) -> dict:
    """The prior strength with the best (weighted) validation accuracy, then the digit source with
    the best digit/letter accuracy under it; every candidate's figures are kept for the record."""
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
    # Ties go to the strength nearest the Bayes-correct 1.0.
    strength = max(candidates, key=lambda c: (c["accuracy"], -abs(c["prior_strength"] - 1.0)))["prior_strength"]
    source = max((c for c in candidates if c["prior_strength"] == strength),
                 key=lambda c: c["digit_letter_accuracy"])["digit_source"]
    return {"prior_strength": strength, "digit_source": source,
            "weighted_to_target_prior": class_weights is not None, "candidates": candidates}
