"""The prior correction and the digit/letter source are chosen on evidence, and folded in exactly."""

import numpy as np
import torch

from emnist_core.labels import NUM_CLASSES, char_to_index
from emnist_core.model import EmnistCNN, ModelConfig
from emnist_core.checkpoint import DIGIT_SOURCES, InputSpec
from train.calibrate import PriorCorrection, choose, recompute_batchnorm

ZERO, BIG_O = char_to_index("0"), char_to_index("O")


def priors(digit_share: float) -> np.ndarray:
    p = np.full(NUM_CLASSES, 1.0)
    p[:10] *= digit_share / (1 - digit_share) * 37 / 10
    return p / p.sum()


def test_correction_is_the_log_ratio_of_priors():
    train, target = priors(0.55), priors(0.498)
    correction = PriorCorrection.between(train, target)
    assert torch.allclose(correction.class_adjust, torch.from_numpy(np.log(target / train)).float())
    assert correction.class_adjust[ZERO] < 0 < correction.class_adjust[BIG_O]  # fewer digits wanted
    assert correction.digit_adjust < 0


def test_ambiguous_glyphs_follow_the_target_prior():
    """0 and O look the same: a model that learnt the pool's prior says 0; under a prior with more
    O's, validation weighted to that prior picks the full correction and reads O."""
    train, target = priors(0.55), priors(0.55)
    target[BIG_O] *= 3
    target /= target.sum()
    n = 400
    labels = torch.tensor([ZERO] * (n // 2) + [BIG_O] * (n // 2))
    logits = torch.full((n, NUM_CLASSES), -10.0)
    logits[:, ZERO], logits[:, BIG_O] = np.log(train[ZERO]) + 0.1, np.log(train[BIG_O])  # leans to 0
    weights = torch.from_numpy(target / train).float()
    choice = choose(logits, torch.zeros(n), labels, weights, PriorCorrection.between(train, target))
    assert choice["prior_strength"] == 1.0
    assert len(choice["candidates"]) == 5 * len(DIGIT_SOURCES) and choice["weighted_to_target_prior"]
    without = choose(logits, torch.zeros(n), labels, None, None)
    assert without["prior_strength"] == 0.0 and len(without["candidates"]) == len(DIGIT_SOURCES)


def test_digit_source_goes_to_the_better_one():
    n = 200
    labels = torch.tensor([ZERO] * (n // 2) + [BIG_O] * (n // 2))
    logits = torch.zeros(n, NUM_CLASSES)  # class sum says 10/47 digit: always "letter"
    good_head = torch.where(labels < 10, 5.0, -5.0)
    assert choose(logits, good_head, labels, None, None)["digit_source"] == "head"
    assert choose(logits, -good_head, labels, None, None)["digit_source"] != "head"  # a wrong head loses


def test_folding_shifts_the_outputs_by_the_correction():
    torch.manual_seed(0)
    model = EmnistCNN(ModelConfig(stage_widths=(4, 8), convs_per_stage=(1, 1))).eval()
    x = torch.randn(3, 1, 28, 28)
    before_classes, before_digit = model(x)
    correction = PriorCorrection.between(priors(0.55), priors(0.498))
    correction.fold_into(model, 0.5)
    after_classes, after_digit = model(x)
    assert torch.allclose(after_classes, before_classes + 0.5 * correction.class_adjust, atol=1e-5)
    assert torch.allclose(after_digit, before_digit + 0.5 * correction.digit_adjust, atol=1e-5)


def test_batchnorm_statistics_are_re_estimated_on_the_images_given():
    """After recompute_batchnorm the first BatchNorm's running mean is exactly the mean of its
    input over the images, whatever the statistics were before; the model's mode is kept."""
    torch.manual_seed(0)
    model = EmnistCNN(ModelConfig(stage_widths=(4, 8), convs_per_stage=(1, 1))).eval()
    bn = model.features[0].first[1]
    bn.running_mean.fill_(100.0)
    images = torch.randint(0, 256, (200, 28, 28), dtype=torch.uint8)
    spec = InputSpec()
    recompute_batchnorm(model, images, spec, n_images=200, batch_size=50)
    with torch.no_grad():
        conv_out = model.features[0].first[0](spec.normalize(images))
    assert torch.allclose(bn.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4)
    assert not model.training and bn.momentum == 0.1
