"""argparse `type=` functions and cross-flag checks: bad flags are refused where they are read.

Each function turns one command-line string into a value or raises argparse.ArgumentTypeError, so
argparse prints `usage:` and `error: argument --flag: ...` and exits with status 2, before any data
is loaded. Shared by `python -m train`, `train.evaluate` and `train.recalibrate`.
"""

import argparse
import math
from pathlib import Path

import torch

IMAGE_SIZE = 28  # EMNIST images are 28x28; every model stage halves the side with 2x2 pooling


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def fraction(text: str) -> float:
    """Strictly between 0 and 1: a share that must leave something on both sides (--val-fraction)."""
    value = finite_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (exclusive)")
    return value


def share(text: str) -> float:
    """Above 0, at most 1: a part of something that may be all of it (--train-share)."""
    value = finite_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def probability(text: str) -> float:
    """0 to 1 inclusive with 1 excluded: dropout or label smoothing of 1 would leave nothing to learn."""
    value = finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    value = _int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not above 0")
    return value


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def device_name(text: str) -> str:
    """auto, cpu, cuda or cuda:N (refused when no GPU is visible), mps where available."""
    if text == "auto":
        return text
    try:
        device = torch.device(text)
    except RuntimeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a device: use auto, cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no CUDA GPU is visible here; use --device cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text}: no MPS device here")
    if device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text}: only auto, cpu, cuda and mps are supported")
    return text


def folder(text: str) -> str:
    """A folder to write into: may not exist yet, but must not be a file."""
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return text


def output_file(text: str) -> str:
    """A file to write: its folder must exist and it must not be a folder itself."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no folder {path.parent} to write into")
    return text


def new_file(text: str) -> str:
    """A file to write whose folder is made if missing (a checkpoint): it must not be a folder itself."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    return text


def check_model_shape(parser: argparse.ArgumentParser, widths: list[int], convs: list[int]) -> None:
    """--widths and --convs describe the same stages, and 28 px survive their poolings."""
    if len(widths) != len(convs):
        parser.error(f"--widths gives {len(widths)} stages but --convs {len(convs)}; give one value per stage")
    if IMAGE_SIZE >> len(widths) == 0:
        most = IMAGE_SIZE.bit_length() - 1
        parser.error(f"{len(widths)} stages halve {IMAGE_SIZE} px to nothing; at most {most} stages")
