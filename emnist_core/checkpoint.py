"""The checkpoint format: one tested save/load pair.

A checkpoint is a plain dict (loadable with weights_only=True) that carries everything needed to
use it: the architecture config, the labels, the input normalisation and orientation, how
digit/letter is decided, and the training command with its metrics. The correction from the
training pool's class prior to ByMerge's is folded into the classifier biases by training.
"""

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .labels import BYMERGE_CHARS
from .model import EmnistCNN, ModelConfig, build_network

FORMAT = "emnist-sketchpad/1"
DIGIT_SOURCES = ("top", "sum", "head")  # the rules that make one coherent reading (inference.py)
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "emnist_bymerge.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file."""


@dataclass
class InputSpec:
    """What an image must look like before the model sees it."""

    size: int = 28
    mean: float = 0.1736  # of EMNIST pixels scaled to 0..1 (measured on the offline pool)
    std: float = 0.3317
    # EMNIST stores every image transposed (rows are the written character's columns);
    # an upright drawing must be transposed the same way.
    transposed: bool = True

    def normalize(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(N, 28, 28) or (N, 1, 28, 28) uint8 in EMNIST orientation -> (N, 1, 28, 28) float."""
        x = images_uint8.float().div_(255.0)
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return (x - self.mean) / self.std


@dataclass
class Checkpoint:
    model_config: ModelConfig
    state_dict: dict
    labels: str = BYMERGE_CHARS
    input_spec: InputSpec = field(default_factory=InputSpec)
    digit_source: str = "sum"  # how one coherent reading is made: "top", "sum" or "head" (inference.py)
    training: dict = field(default_factory=dict)  # command, metrics, time, machine

    def build_model(self, source: str = "checkpoint") -> EmnistCNN:
        try:
            model = build_network(self.model_config)
            model.load_state_dict(self.state_dict)
        except (RuntimeError, TypeError, ValueError) as error:
            raise CheckpointError(f"{source}: weights do not match its model config: {error}") from None
        return model.eval()


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> None:
    """Write atomically: a temp file in the same folder, then a rename, so no reader sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "model_config": checkpoint.model_config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()},
        "labels": checkpoint.labels,
        "input_spec": asdict(checkpoint.input_spec),
        "digit_source": checkpoint.digit_source,
        "training": checkpoint.training,
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike = DEFAULT_CHECKPOINT) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a torch file at all
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(error).__name__}: "
                              f"{str(error).splitlines()[0][:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: not an {FORMAT} checkpoint (format: {found!r})")
    try:
        config = ModelConfig.from_dict(payload["model_config"])
        checkpoint = Checkpoint(
            model_config=config,
            state_dict=payload["state_dict"],
            labels=payload["labels"],
            input_spec=InputSpec(**payload["input_spec"]),
            digit_source=payload["digit_source"],
            training=payload["training"],
        )
        if not isinstance(checkpoint.labels, str) or not isinstance(checkpoint.state_dict, dict):
            raise TypeError("labels must be a string and state_dict a dict")
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path}: checkpoint is missing or garbles a field: {error}") from None
    if len(checkpoint.labels) != config.num_classes:
        raise CheckpointError(f"{path}: {len(checkpoint.labels)} labels for a "
                              f"{config.num_classes}-class model")
    if checkpoint.digit_source not in DIGIT_SOURCES:
        raise CheckpointError(f"{path}: unknown digit_source {checkpoint.digit_source!r}")
    checkpoint.build_model(str(path))  # fail now, naming the file, if the weights do not fit
    return checkpoint
