"""Batched model outputs -> probabilities: the one path used by the predictor, training and evaluation."""

import torch

from .checkpoint import InputSpec
from .labels import NUM_DIGITS
from .model import EmnistCNN


@torch.inference_mode()
def model_outputs(model: EmnistCNN, images_uint8: torch.Tensor, spec: InputSpec,
                  batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 28, 28) uint8 images in EMNIST orientation -> (class logits (N, C), digit logits (N,)), on CPU."""
    model.eval()
    device = next(model.parameters()).device
    logits, digit_logits = [], []
    for start in range(0, len(images_uint8), batch_size):
        batch = spec.normalize(images_uint8[start:start + batch_size].to(device))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            class_out, digit_out = model(batch)
        logits.append(class_out.float().cpu())
        digit_logits.append(digit_out.float().cpu())
    if not logits:
        return torch.empty(0, model.config.num_classes), torch.empty(0)
    return torch.cat(logits), torch.cat(digit_logits)


def probabilities(logits: torch.Tensor, digit_logits: torch.Tensor,
                  digit_source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities (N, C), P(digit) (N,)) with P(digit) from the chosen source."""
    probs = logits.softmax(dim=1)
    if digit_source == "head":
        p_digit = digit_logits.sigmoid()
    else:
        p_digit = probs[:, :NUM_DIGITS].sum(dim=1)
    return probs, p_digit
