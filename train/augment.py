"""Character-respecting augmentation, batched on whatever device holds the data.

Small random affine maps (rotation, shear, scale, shift) plus a gentle elastic warp; never flips,
which would turn characters into other characters (b/d, p/q, 2/5...).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    rotate_degrees: float = 10.0  # uniform in +-this
    shear: float = 0.15  # horizontal shear factor, uniform in +-this
    scale: tuple[float, float] = (0.85, 1.1)  # zoom factor range
    shift_pixels: float = 2.0  # translation in 28x28 pixels, uniform in +-this
    elastic_alpha: float = 1.0  # elastic displacement amplitude in pixels (0 disables)
    elastic_grid: int = 4  # coarse grid of random displacements, upsampled smoothly

    def scaled(self, strength: float) -> "AugmentConfig":
        """The same kinds of warp, each range multiplied by strength (1: these defaults)."""
        low, high = self.scale
        return AugmentConfig(self.rotate_degrees * strength, self.shear * strength,
                             (1 - (1 - low) * strength, 1 + (high - 1) * strength),
                             self.shift_pixels * strength, self.elastic_alpha * strength, self.elastic_grid)


def augment(images: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, 1, H, W) float images -> same shape, each warped by its own random map.

    Background is 0 in the input scale, so callers pass images before normalisation.
    """
    n, _, h, w = images.shape
    dev = images.device

    def uniform(low, high, *shape):
        return torch.rand(*shape or (n,), device=dev, generator=generator) * (high - low) + low

    angle = uniform(-cfg.rotate_degrees, cfg.rotate_degrees) * math.pi / 180
    shear = uniform(-cfg.shear, cfg.shear)
    scale = uniform(*cfg.scale)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # theta maps output coordinates to input coordinates in [-1, 1] space
    theta = torch.stack([
        torch.stack([cos, -sin + shear * cos, uniform(-1, 1) * cfg.shift_pixels * 2 / w], 1),
        torch.stack([sin, cos + shear * sin, uniform(-1, 1) * cfg.shift_pixels * 2 / h], 1),
    ], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if cfg.elastic_alpha > 0:
        coarse = torch.randn(n, 2, cfg.elastic_grid, cfg.elastic_grid, device=dev, generator=generator)
        flow = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
        flow = flow.permute(0, 2, 3, 1) * (cfg.elastic_alpha * 2 / torch.tensor([w, h], device=dev))
        grid = grid + flow
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
