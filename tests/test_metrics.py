"""The arithmetic behind every reported figure, on small cases worked out by hand.

compute_metrics (accuracy, balanced, top-5, digit/letter, prior-weighted), the coherent reading of
inference.probabilities for each digit source, the confusion matrix's orientation, and the prior
correction's log-ratio and the direction in which it is folded into a model.
"""

import math

import numpy as np
import pytest
import torch

from emnist_core.inference import JUST_UNDER_HALF, probabilities, ranked
from emnist_core.labels import NUM_CLASSES, NUM_DIGITS, char_to_index
from emnist_core.model import EmnistCNN, ModelConfig
from train.calibrate import PriorCorrection
from train.evaluate import compute_metrics
from train.report import confusion_matrix, per_class_report

C = char_to_index  # "0" -> 0, "A" -> 10, "O" -> 24 ...
TOP5_SHARES = (0.5, 0.2, 0.1, 0.08, 0.05)  # the rest, 0.07, spread evenly over the other 42 classes


def probs_ranked(*chars: str) -> torch.Tensor:
    """(47,) probabilities with `chars` the five most likely, in that order."""
    p = torch.full((NUM_CLASSES,), (1 - sum(TOP5_SHARES)) / (NUM_CLASSES - 5), dtype=torch.float64)
    for char, share in zip(chars, TOP5_SHARES):
        p[C(char)] = share
    return p


# Six images, each row: (true class, its five likeliest classes in order). Worked by hand:
#   1  "0" read 0                 right, digit/letter right, in top-5
#   2  "1" read I (1 is 5th)      wrong, digit mass 0.44 -> letter: wrong, in top-5 (5th place)
#   3  "A" read A                 right, right, in top-5
#   4  "B" read 0                 wrong, digit mass 0.89 -> digit: wrong, not in top-5
#   5  "B" read B                 right, right, in top-5
#   6  "B" read D (B 2nd)         wrong, letter: right, in top-5
CASES = [("0", "06892"), ("1", "I7231"), ("A", "ACDEF"), ("B", "0689C"), ("B", "BCDEF"), ("B", "DBEFG")]


def hand_case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    probs = torch.stack([probs_ranked(*top) for _, top in CASES]).float()
    p_digit = probs[:, :NUM_DIGITS].sum(1)  # coherent: q sums to P(digit) over the digits
    labels = torch.tensor([C(true) for true, _ in CASES])
    return probs, p_digit, labels


def test_the_hand_case_is_what_the_comment_says():
    probs, p_digit, labels = hand_case()
    assert p_digit[1].item() == pytest.approx(0.44) and p_digit[3].item() == pytest.approx(0.89)
    assert [int(i) for i in ranked(probs, p_digit)[:, 0]] == [C(c) for c in "0IA0BD"]


def test_compute_metrics_on_hand_worked_values():
    m = compute_metrics(*hand_case())
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(3 / 6)  # images 1, 3, 5
    assert m["digit_letter_accuracy"] == pytest.approx(4 / 6)  # all but 2 and 4
    assert m["top5_accuracy"] == pytest.approx(5 / 6)  # all but 4; image 2 only at 5th place
    # per class: "0" 1/1, "1" 0/1, "A" 1/1, "B" 1/3 -> mean over the 4 classes present
    assert m["balanced_accuracy"] == pytest.approx((1 + 0 + 1 + 1 / 3) / 4)
    per_class = m["per_class_accuracy"]
    assert (per_class[C("0")], per_class[C("1")], per_class[C("A")]) == (1.0, 0.0, 1.0)
    assert per_class[C("B")] == pytest.approx(1 / 3, abs=1e-5)
    assert sum(v is None for v in per_class) == NUM_CLASSES - 4
    assert "prior_weighted_accuracy" not in m


def test_prior_weighted_figures_on_hand_worked_values():
    weights = torch.ones(NUM_CLASSES)
    weights[C("0")], weights[C("B")] = 3.0, 0.5
    m = compute_metrics(*hand_case(), class_weights=weights)
    # image weights 3, 1, 1, 0.5, 0.5, 0.5: total 6.5
    assert m["prior_weighted_accuracy"] == pytest.approx((3 + 1 + 0.5) / 6.5)  # images 1, 3, 5
    assert m["prior_weighted_digit_letter_accuracy"] == pytest.approx((3 + 1 + 0.5 + 0.5) / 6.5)  # 1, 3, 5, 6
    assert m["accuracy"] == pytest.approx(3 / 6)  # the unweighted figures are unchanged


def test_compute_metrics_scores_the_reading_not_the_arg_max():
    """P(digit) from the head says digit although O outweighs each digit: the reading is 0."""
    q = torch.zeros(1, NUM_CLASSES)
    q[0, C("O")], q[0, C("0")], q[0, C("6")], q[0, C("8")] = 0.4, 0.3, 0.2, 0.1  # digits 0.6
    p_digit = torch.tensor([0.6])
    assert q.argmax(1).item() == C("O")
    m = compute_metrics(q, p_digit, torch.tensor([C("0")]))
    assert m["accuracy"] == 1.0 and m["digit_letter_accuracy"] == 1.0
    assert compute_metrics(q, p_digit, torch.tensor([C("O")]))["accuracy"] == 0.0


def test_empty_input_gives_nan_not_an_error():
    m = compute_metrics(torch.empty(0, NUM_CLASSES), torch.empty(0), torch.empty(0, dtype=torch.long))
    assert m["n"] == 0 and math.isnan(m["accuracy"]) and math.isnan(m["balanced_accuracy"])


# ---- probabilities: one coherent reading per digit source ---------------------------------------

def logits_of(shares: dict[str, float]) -> torch.Tensor:
    """(1, 47) logits whose softmax is exactly `shares` (the other classes get 0)."""
    p = torch.zeros(NUM_CLASSES, dtype=torch.float64)
    for char, share in shares.items():
        p[C(char)] = share
    return p.log().float()[None]


# digit mass 0.4 ("0" 0.3, "1" 0.1), letters 0.6 ("O" 0.4, "A" 0.2)
MIXED = {"0": 0.3, "1": 0.1, "O": 0.4, "A": 0.2}


def assert_coherent(q: torch.Tensor, p_digit: torch.Tensor):
    assert torch.allclose(q.sum(1), torch.ones(len(q), dtype=q.dtype), atol=1e-6)
    assert torch.allclose(q[:, :NUM_DIGITS].sum(1), p_digit.to(q.dtype), atol=1e-6)
    reading = ranked(q, p_digit)[:, 0]
    assert torch.equal(reading < NUM_DIGITS, p_digit >= 0.5)


def test_sum_keeps_the_probabilities():
    q, p_digit = probabilities(logits_of(MIXED), torch.tensor([5.0]), "sum")  # the head is ignored
    assert p_digit.item() == pytest.approx(0.4)
    assert (q[0, C("0")].item(), q[0, C("O")].item()) == pytest.approx((0.3, 0.4))
    assert ranked(q, p_digit)[0, 0] == C("O")
    assert_coherent(q, p_digit)


def test_head_decides_the_kind_and_rescales_each_kind():
    q, p_digit = probabilities(logits_of(MIXED), torch.tensor([math.log(0.8 / 0.2)]), "head")
    assert p_digit.item() == pytest.approx(0.8)
    # digits scaled by 0.8 / 0.4 = 2, letters by 0.2 / 0.6 = 1/3
    expected = {"0": 0.6, "1": 0.2, "O": 0.4 / 3, "A": 0.2 / 3}
    assert {c: q[0, C(c)].item() for c in expected} == pytest.approx(expected)
    assert ranked(q, p_digit)[0, 0] == C("0")
    assert_coherent(q, p_digit)


def test_top_agrees_with_the_arg_max_when_the_masses_do():
    q, p_digit = probabilities(logits_of(MIXED), torch.tensor([5.0]), "top")
    assert p_digit.item() == pytest.approx(0.4)
    assert q[0, C("O")].item() == pytest.approx(0.4)


def test_top_calls_a_tie_where_the_masses_disagree_with_the_arg_max():
    # arg-max O (a letter) but the digits hold 0.6: P(digit) just under half, the reading stays O
    letter_top = logits_of({"0": 0.2, "1": 0.2, "2": 0.2, "O": 0.4})
    q, p_digit = probabilities(letter_top, torch.tensor([0.0]), "top")
    assert p_digit.item() == JUST_UNDER_HALF and p_digit.item() < 0.5
    assert q[0, C("O")].item() == pytest.approx(0.5) and q[0, C("0")].item() == pytest.approx(0.2 * 0.5 / 0.6)
    assert ranked(q, p_digit)[0, 0] == C("O")
    assert_coherent(q, p_digit)
    # arg-max 0 (a digit) but the letters hold 0.6: P(digit) exactly half, the reading stays 0
    digit_top = logits_of({"0": 0.4, "A": 0.2, "B": 0.2, "C": 0.2})
    q, p_digit = probabilities(digit_top, torch.tensor([0.0]), "top")
    assert p_digit.item() == 0.5
    assert q[0, C("0")].item() == pytest.approx(0.5) and q[0, C("A")].item() == pytest.approx(0.2 * 0.5 / 0.6)
    assert ranked(q, p_digit)[0, 0] == C("0")
    assert_coherent(q, p_digit)


@pytest.mark.parametrize("source", ["top", "sum", "head"])
def test_only_renormalises_over_the_allowed_kind(source):
    digits, p = probabilities(logits_of(MIXED), torch.tensor([-3.0]), source, only="digits")
    assert p.item() == 1.0
    assert (digits[0, C("0")].item(), digits[0, C("1")].item()) == pytest.approx((0.75, 0.25))
    assert digits[0, NUM_DIGITS:].sum().item() == 0.0 and ranked(digits, p)[0, 0] == C("0")
    letters, p = probabilities(logits_of(MIXED), torch.tensor([3.0]), source, only="letters")
    assert p.item() == 0.0
    assert (letters[0, C("O")].item(), letters[0, C("A")].item()) == pytest.approx((2 / 3, 1 / 3))
    assert letters[0, :NUM_DIGITS].sum().item() == 0.0 and ranked(letters, p)[0, 0] == C("O")


@pytest.mark.parametrize("source", ["top", "sum", "head"])
def test_every_source_is_coherent_on_random_logits(source):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(500, NUM_CLASSES, generator=generator) * 3
    q, p_digit = probabilities(logits, torch.randn(500, generator=generator) * 3, source)
    assert_coherent(q, p_digit)


def test_unknown_source_or_only_is_refused():
    with pytest.raises(ValueError, match="digit_source"):
        probabilities(logits_of(MIXED), torch.zeros(1), "vote")
    with pytest.raises(ValueError, match="only"):
        probabilities(logits_of(MIXED), torch.zeros(1), "sum", only="capitals")


# ---- the confusion matrix: rows are the true class, columns the predicted one ------------------

def test_confusion_matrix_orientation():
    labels = torch.tensor([C("0"), C("0"), C("0"), C("O")])  # three 0s, one O
    predictions = torch.tensor([C("O"), C("O"), C("0"), C("O")])  # two 0s read as O
    matrix = confusion_matrix(predictions, labels)
    assert matrix.shape == (NUM_CLASSES, NUM_CLASSES) and matrix.sum() == 4
    assert matrix[C("0"), C("O")] == 2 and matrix[C("O"), C("0")] == 0
    assert matrix[C("0"), C("0")] == 1 and matrix[C("O"), C("O")] == 1
    report = per_class_report(matrix)
    assert "0 -> O: 2" in report and "O -> 0" not in report
    row_0 = next(line for line in report.splitlines() if line.split()[:1] == ["0"])
    assert row_0.split() == ["0", "3", "0.3333", "O", "(2)"]


# ---- the prior correction: log(p_target / p_train), folded in that direction ---------------------

def two_priors() -> tuple[np.ndarray, np.ndarray]:
    """Training pool: each digit twice as common as each letter (digits 20/57); target: uniform (10/47)."""
    train = np.array([2.0] * NUM_DIGITS + [1.0] * (NUM_CLASSES - NUM_DIGITS)) / 57
    return train, np.full(NUM_CLASSES, 1 / NUM_CLASSES)


def test_prior_correction_is_the_hand_computed_log_ratio():
    correction = PriorCorrection.between(*two_priors())
    assert correction.class_adjust[C("0")].item() == pytest.approx(math.log(57 / 94))  # (1/47) / (2/57)
    assert correction.class_adjust[C("A")].item() == pytest.approx(math.log(57 / 47))  # (1/47) / (1/57)
    # log odds of a digit: log(10/37) under the target, log(20/37) under the pool
    assert correction.digit_adjust == pytest.approx(-math.log(2))


def test_folding_moves_a_model_from_the_pool_prior_to_the_target():
    """A model that outputs the training pool's prior outputs the target's once the full correction is
    folded in (a reversed correction would move it the other way: digits 4x as common as letters)."""
    train, target = two_priors()
    model = EmnistCNN(ModelConfig(stage_widths=(4,), convs_per_stage=(1,))).eval()
    with torch.no_grad():
        for layer, bias in ((model.classifier, torch.from_numpy(np.log(train)).float()),
                            (model.digit_head, torch.tensor([math.log(20 / 37)]))):
            layer.weight.zero_()
            layer.bias.copy_(bias)
    x = torch.randn(2, 1, 28, 28)
    PriorCorrection.between(train, target).fold_into(model, 1.0)
    with torch.no_grad():
        logits, digit_logit = model(x)
    assert torch.allclose(logits.softmax(1), torch.full((2, NUM_CLASSES), 1 / NUM_CLASSES), atol=1e-6)
    assert torch.allclose(digit_logit.sigmoid(), torch.full((2,), 10 / 47), atol=1e-6)
