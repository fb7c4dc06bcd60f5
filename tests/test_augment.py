"""augment()'s promises: never flips, keeps shape, dtype and a zero background, moves ink only as far
as its config allows, is the identity at strength 0, and is reproducible from its generator."""

import math

import pytest
import torch

from train.augment import AugmentConfig, augment

N = 256  # random maps per check: every one of them must keep the promise
CENTRE = 13.5  # the pixel coordinate of a 28x28 image's centre (pixel i covers i..i+1, centre at i+0.5 - 0.5)
YS, XS = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")


def left_l() -> torch.Tensor:
    """(1, 1, 28, 28) an "L" hugging the left edge: a bar in columns 3-5, rows 10-24, a foot along rows 22-24."""
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10:25, 3:6] = 1.0
    image[0, 0, 22:25, 3:14] = 1.0
    return image


def centroids(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) ink centroid of each (N, 1, 28, 28) image, in pixels."""
    mass = images.sum((1, 2, 3))
    return (images * XS).sum((1, 2, 3)) / mass, (images * YS).sum((1, 2, 3)) / mass


def max_shift(cfg: AugmentConfig) -> float:
    """How far (per axis, in pixels) the translation can carry the image's centre: shift_pixels of
    input space, magnified at most by the zoom and the shear."""
    return cfg.shift_pixels * max(cfg.scale) * (1 + cfg.shear)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shape_and_dtype_are_kept():
    images = torch.rand(5, 1, 28, 28)
    out = augment(images, AugmentConfig(), generator())
    assert out.shape == images.shape and out.dtype == torch.float32


def test_background_stays_zero_and_ink_stays_in_range():
    assert torch.equal(augment(torch.zeros(N, 1, 28, 28), AugmentConfig(), generator()), torch.zeros(N, 1, 28, 28))
    out = augment(left_l().expand(N, 1, 28, 28), AugmentConfig(), generator())
    assert out.min() >= 0 and out.max() <= 1 + 1e-6  # bilinear blends of the input and zero padding
    assert (out.sum((1, 2, 3)) > 0.5 * left_l().sum()).all()  # the character is never pushed out


def test_never_flips_left_right_or_upside_down():
    """The L's ink stays on the left and at the bottom in every one of N random maps: a flip would
    carry its centroid about 16 pixels across, further than any map may move it."""
    image = left_l()
    x0, y0 = (c.item() for c in centroids(image))
    assert x0 < 7 and y0 > 19
    out = augment(image.expand(N, 1, 28, 28), AugmentConfig(), generator())
    x, y = centroids(out)
    assert (x < CENTRE - 3).all() and (y > CENTRE + 2).all(), (x.max(), y.min())
    left, right = out[..., :14].sum((1, 2, 3)), out[..., 14:].sum((1, 2, 3))
    assert (left > right).all()


def test_a_centred_blob_moves_no_further_than_the_shift_allows():
    blob = torch.exp(-((XS - CENTRE) ** 2 + (YS - CENTRE) ** 2) / (2 * 1.5 ** 2))[None, None]
    rigid = AugmentConfig(elastic_alpha=0.0)
    x, y = centroids(augment(blob.expand(N, 1, 28, 28), rigid, generator()))
    bound = max_shift(rigid) + 0.1  # rotation, shear and zoom about the centre leave it in place
    assert (x - CENTRE).abs().max() <= bound and (y - CENTRE).abs().max() <= bound
    assert (x - CENTRE).abs().max() > 0.5 * bound  # and the shift is really used
    # the elastic warp adds at most a few times its amplitude (random normal, smoothed)
    full = AugmentConfig()
    x, y = centroids(augment(blob.expand(N, 1, 28, 28), full, generator()))
    bound = max_shift(full) + 3 * full.elastic_alpha
    assert (x - CENTRE).abs().max() <= bound and (y - CENTRE).abs().max() <= bound


def test_rotation_is_bounded():
    """Rotation alone: an impulse 8 pixels right of the centre turns about the centre by at most
    rotate_degrees, staying 8 pixels away."""
    impulse = torch.zeros(1, 1, 28, 28)
    impulse[0, 0, 13:15, 21:23] = 1.0  # centroid (21.5, 13.5)
    rotate_only = AugmentConfig(rotate_degrees=10.0, shear=0.0, scale=(1.0, 1.0), shift_pixels=0.0,
                                elastic_alpha=0.0)
    x, y = centroids(augment(impulse.expand(N, 1, 28, 28), rotate_only, generator()))
    angles = torch.rad2deg(torch.atan2(y - CENTRE, x - CENTRE))
    assert angles.abs().max() <= 10.0 + 0.5 and angles.abs().max() > 5.0
    assert ((torch.hypot(x - CENTRE, y - CENTRE) - 8.0).abs() < 0.3).all()


def test_strength_zero_is_the_identity():
    images = torch.rand(8, 1, 28, 28)
    cfg = AugmentConfig().scaled(0)
    assert (cfg.rotate_degrees, cfg.shear, cfg.scale, cfg.shift_pixels, cfg.elastic_alpha) == (0, 0, (1, 1), 0, 0)
    assert torch.allclose(augment(images, cfg, generator()), images, atol=1e-5)


def test_scaled_multiplies_every_range():
    half = AugmentConfig().scaled(0.5)
    assert (half.rotate_degrees, half.shear, half.shift_pixels, half.elastic_alpha) == (5.0, 0.075, 1.0, 0.5)
    assert half.scale == pytest.approx((0.925, 1.05))
    assert AugmentConfig().scaled(1) == AugmentConfig()


def test_the_generator_makes_it_reproducible():
    images = left_l().expand(16, 1, 28, 28)
    first = augment(images, AugmentConfig(), generator(7))
    assert torch.equal(first, augment(images, AugmentConfig(), generator(7)))
    assert not torch.allclose(first, augment(images, AugmentConfig(), generator(8)))
    assert not torch.allclose(first[0], first[1])  # each image gets its own map
    assert math.isfinite(first.sum().item())
