"""Batched model outputs -> one coherent reading: the one path used by the predictor, training and evaluation.

A reading never contradicts itself: the character read and "digit or letter" always agree, and
P(digit) is on the reading's side of 50%. The checkpoint's `digit_source` names the rule, chosen on
validation when it was made:
- "top": the most likely class is the reading and its kind the verdict; P(digit) is the summed digit
  probability, except where that mass sits on the other side (about 2% of EMNIST's images, nearly
  all look-alikes such as O/0), where the two kinds are shown as the tie they are (50%);
- "sum" / "head": digit or letter is decided first, by the summed digit probabilities or by the digit
  head, and the reading is the most likely class of that kind.
The class probabilities are re-weighted to match, q(c) = P(kind of c) * p(c | kind of c), and q is the one
probability people are shown for a character, everywhere (page, CLI, JSON): the reading first (`ranked`),
then the other classes of both kinds by q. Under "sum" or "head" the reading can be a class that is not
the most likely one overall (a "Z" at 28% beside a "2" at 42%, the letters together likelier); it still
comes first, and what shows it says why in words (predict.Prediction.passed_over), never with a second scale.
"""

import torch

from .checkpoint import DIGIT_SOURCES, InputSpec
from .labels import NUM_DIGITS
from .model import EmnistCNN, StrokeNet

# What a writer says they are writing: one set of values for the page's choices, the API's arguments and
# Predictor's `writing` (classes_of is the one place it becomes the classes a reading is among).
ANY, DIGITS, LETTERS, WORD = "any", "digits", "letters", "word"
WRITINGS = (ANY, DIGITS, LETTERS, WORD)
ONLY_CHOICES = (DIGITS, LETTERS)  # the classes a reading can be kept to (probabilities' `only`)
JUST_UNDER_HALF = float(torch.tensor(0.5).nextafter(torch.tensor(0.0)))  # a tie that still reads as a letter


@torch.inference_mode()
def model_outputs(model: EmnistCNN, images_uint8: torch.Tensor, spec: InputSpec,
                  batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 28, 28) uint8 images in EMNIST orientation -> (class logits (N, C), digit logits (N,)), on CPU."""
    model.eval()
    device = next(model.parameters()).device
    logits, digit_logits = [], []
    for start in range(0, len(images_uint8), batch_size):
        batch = spec.normalize(images_uint8[start:start + batch_size].to(device))
        batch = batch.contiguous(memory_format=torch.channels_last)  # as the model's weights are laid out
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            class_out, digit_out = model(batch)
        logits.append(class_out.float().cpu())
        digit_logits.append(digit_out.float().cpu())
    if not logits:
        return torch.empty(0, model.config.num_classes), torch.empty(0)
    return torch.cat(logits), torch.cat(digit_logits)


@torch.inference_mode()
def stroke_log_probs(net: StrokeNet, trajectories: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
    """(N, 6, 64) pen paths (strokes.trajectory) -> the stroke model's class log-probabilities (N, C), on CPU."""
    net.eval()
    out = [net(trajectories[i:i + batch_size].float()).float().log_softmax(1)
           for i in range(0, len(trajectories), batch_size)]
    return torch.cat(out) if out else torch.empty(0, net.config.num_classes)


def with_strokes(logits: torch.Tensor, stroke_log_probs: torch.Tensor, weight: float) -> torch.Tensor:
    """A drawing's class logits once its strokes are read too: the CNN's logits plus `weight` times the
    stroke model's log-probabilities (a product of the two beliefs; the CNN's already holds the class
    prior, and the stroke model was trained to the same prior, so `weight` is chosen on validation)."""
    return logits.float() + weight * stroke_log_probs


def classes_of(writing: str | None) -> str | None:
    """What is written -> the classes it is read among: None (all 47), "digits" or "letters". A word is
    letters (the word list spells words in letters); None is any character. Anything else is refused
    (a programming error: the page checks what a visitor sent against its own choices first)."""
    if writing is not None and writing not in WRITINGS:
        raise ValueError(f"writing must be one of {WRITINGS}, got {str(writing)[:40]!r}")
    return None if writing in (None, ANY) else LETTERS if writing == WORD else writing


def check_only(only: str | None) -> None:
    """Refuse anything but None, "digits" or "letters" (a programming error, not bad input)."""
    if only is not None and only not in ONLY_CHOICES:
        raise ValueError(f"only must be one of {ONLY_CHOICES} or None, got {only!r}")


def probabilities(logits: torch.Tensor, digit_logits: torch.Tensor, digit_source: str,
                  only: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities q (N, C), P(digit) (N,)), coherent: q sums to P(digit) over the digit
    classes, and P(digit) >= 0.5 exactly when the reading is a digit. In float64, as the browser's reader
    computes them: float32 rounds a reading likelier than 1 - 6e-8 to a certainty of 1 ("100%" on the page).
    `only` ("digits" / "letters") makes P(digit) 1 / 0, which renormalises q over the allowed classes."""
    probs = logits.double().softmax(dim=1)
    digit_mass = probs[:, :NUM_DIGITS].sum(1)
    check_only(only)
    if digit_source not in DIGIT_SOURCES:
        raise ValueError(f"digit_source must be one of {DIGIT_SOURCES}, got {digit_source!r}")
    if only is not None:
        p_digit = torch.full((len(probs),), 1.0 if only == "digits" else 0.0)
    elif digit_source == "head":
        p_digit = digit_logits.float().sigmoid()
    elif digit_source == "sum":
        p_digit = digit_mass
    else:  # "top": the arg-max class decides; where the kinds' masses disagree with it, call it a tie
        top_is_digit = probs.argmax(1) < NUM_DIGITS
        p_digit = torch.where(top_is_digit, digit_mass.clamp_min(0.5), digit_mass.clamp_max(JUST_UNDER_HALF))
    letter_mass = (1 - digit_mass).clamp_min(1e-30)
    q = torch.cat([probs[:, :NUM_DIGITS] * (p_digit / digit_mass.clamp_min(1e-30))[:, None],
                   probs[:, NUM_DIGITS:] * ((1 - p_digit) / letter_mass)[:, None]], dim=1)
    return q, p_digit


def ranked(q: torch.Tensor, p_digit: torch.Tensor) -> torch.Tensor:
    """(N, C) class indices per image: the reading first (the most likely class of the more likely
    kind), then every other class by probability. Almost always this is plain probability order;
    it differs only where one class of the less likely kind outweighs each class of the likelier."""
    is_digit = (p_digit >= 0.5)[:, None]
    class_is_digit = torch.arange(q.shape[1]) < NUM_DIGITS
    of_kind = q.masked_fill(is_digit != class_is_digit[None, :], -1.0)
    reading = of_kind.argmax(1, keepdim=True)
    order = q.argsort(dim=1, descending=True, stable=True)
    rest = order[order != reading].view(len(q), q.shape[1] - 1)  # explicit: an empty batch has no -1
    return torch.cat([reading, rest], dim=1)


def readings(q: torch.Tensor, p_digit: torch.Tensor) -> torch.Tensor:
    """(N,) the class each image reads as (the first of `ranked`)."""
    return ranked(q, p_digit)[:, 0]

