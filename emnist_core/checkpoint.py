"""The checkpoint format: one tested save/load pair.

A checkpoint is a plain dict (loadable with weights_only=True) that carries everything needed to
use it: the architecture config, the labels, the input normalisation and orientation, how
digit/letter is decided, and the training command with its metrics. The correction from the
training pool's class prior to ByMerge's is folded into the classifier biases by training.
"""

import math
import os
import pickle
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .labels import BYMERGE_CHARS
from .model import EmnistCNN, ModelConfig, StrokeConfig, StrokeNet, build_network
from .shipped import shipped_file
from .strokes import TRAJECTORY_CHANNELS, TRAJECTORY_POINTS

FORMAT = "emnist-sketchpad/1"
DIGIT_SOURCES = ("top", "sum", "head")  # the rules that make one coherent reading (inference.py)
# The shipped model, in a clone or an installed copy (shipped.py); --checkpoint (and the page's
# EMNIST_CHECKPOINT) win over it: the commands pass their path to load_checkpoint.
DEFAULT_CHECKPOINT = shipped_file("checkpoints/emnist_bymerge.pt")


MAX_WIDTH, MAX_STAGES, MAX_CONVS = 1024, 6, 8  # far above any model here; bounds memory at load
MAX_STROKE_LAYERS, MAX_STROKE_WEIGHT = 8, 10.0


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file."""


def describe_error(error: BaseException) -> str:
    """'TypeName: first line of the message' (just the type name when the message is empty, as it is
    for an empty file), for error messages that name what went wrong without a traceback."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:200]}" if lines else type(error).__name__


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


def _with_weights(build, state_dict: dict, source: str, problem: str) -> torch.nn.Module:
    """build() with `state_dict` loaded; CheckpointError naming `source` and the `problem` where they do not fit."""
    try:
        model = build()
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: {problem}: {error}") from None
    return model


@dataclass
class StrokeReader:
    """The stroke model a checkpoint may carry beside its CNN: for a drawing (whose strokes are known), its
    log-probabilities times `weight` are added to the CNN's class logits (inference.with_strokes)."""
    config: StrokeConfig
    state_dict: dict
    weight: float  # chosen on the pen validation sites by train.strokes
    training: dict = field(default_factory=dict)  # its command, data and figures

    def build_model(self, source: str = "checkpoint") -> StrokeNet:
        return _with_weights(lambda: StrokeNet(self.config), self.state_dict, source,
                             "the stroke model's weights do not match its config").eval()

    def to_dict(self) -> dict:
        return {"config": self.config.to_dict(), "weight": self.weight, "training": self.training,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict.items()}}


@dataclass
class Checkpoint:
    model_config: ModelConfig
    state_dict: dict
    labels: str = BYMERGE_CHARS
    input_spec: InputSpec = field(default_factory=InputSpec)
    digit_source: str = "sum"  # how one coherent reading is made: "top", "sum" or "head" (inference.py)
    training: dict = field(default_factory=dict)  # command, metrics, time, machine
    strokes: StrokeReader | None = None  # a stroke model for drawings, or none (images only)

    def build_model(self, source: str = "checkpoint") -> EmnistCNN:
        model = _with_weights(lambda: build_network(self.model_config), self.state_dict, source,
                              "weights do not match its model config")
        # channels_last: 1.7x faster inference on this project's CPU (50 images, one thread, measured)
        return model.to(memory_format=torch.channels_last).eval()


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
    if checkpoint.strokes is not None:
        payload["strokes"] = checkpoint.strokes.to_dict()
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


# What a file that is not a checkpoint most often is: images and archives, told by their first bytes.
KNOWN_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
               b"BM": "a BMP image", b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image",
               b"RIFF": "a RIFF file (WebP image?)", b"\x1f\x8b": "a gzip file", b"%PDF": "a PDF document"}


def _not_a_torch_file(path: Path) -> str | None:
    """What the file is, where its first bytes say it is not a torch file (a zip archive, or a pickle)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return None  # torch.load names the problem
    if not head:
        return "an empty file"
    return next((kind for magic, kind in KNOWN_MAGIC.items() if head.startswith(magic)), None)


def load_checkpoint(path: str | os.PathLike = DEFAULT_CHECKPOINT) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    kind = _not_a_torch_file(path)
    if kind:
        raise CheckpointError(f"{path}: not a readable checkpoint ({kind}; give a .pt file written by python -m train)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own message advises weights_only=False: never, for a file like this
        raise CheckpointError(f"{path}: not a readable checkpoint (it holds objects other than tensors and "
                              f"plain data; give a .pt file written by python -m train)") from None
    except Exception as error:  # truncated, corrupt, or not a torch file at all
        raise CheckpointError(f"{path}: not a readable checkpoint ({describe_error(error)})") from None
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
            strokes=_stroke_reader(payload.get("strokes")),
        )
        if not isinstance(checkpoint.labels, str) or not isinstance(checkpoint.state_dict, dict):
            raise TypeError("labels must be a string and state_dict a dict")
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{path}: checkpoint is missing or garbles a field: {error}") from None
    problem = (_config_problem(config) or _labels_problem(checkpoint.labels, config)
               or _input_spec_problem(checkpoint.input_spec) or _weights_problem(checkpoint.state_dict))
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    if checkpoint.digit_source not in DIGIT_SOURCES:
        raise CheckpointError(f"{path}: unknown digit_source {checkpoint.digit_source!r}")
    if not isinstance(checkpoint.training, dict):
        raise CheckpointError(f"{path}: training record is a {type(checkpoint.training).__name__}, not a dict")
    model = checkpoint.build_model(str(path))  # fail now, naming the file, if the weights do not fit
    # Finite weights can still give non-finite outputs (a negative BatchNorm variance, huge values):
    # a blank and a full image must give finite answers, or every reading would print as nan%.
    probe = torch.zeros(2, checkpoint.input_spec.size, checkpoint.input_spec.size, dtype=torch.uint8)
    probe[1] = 255
    with torch.inference_mode():
        outputs = model(checkpoint.input_spec.normalize(probe))
    if not all(torch.isfinite(out).all() for out in outputs):
        raise CheckpointError(f"{path}: the model gives non-finite outputs (NaN or infinity)")
    if checkpoint.strokes is not None:
        _check_stroke_reader(checkpoint.strokes, config, path)
    return checkpoint


def _stroke_reader(data) -> StrokeReader | None:
    """The payload's "strokes" section (absent in checkpoints without a stroke model) -> StrokeReader."""
    if data is None:
        return None
    reader = StrokeReader(config=StrokeConfig.from_dict(data["config"]), state_dict=data["state_dict"],
                          weight=data["weight"], training=data.get("training", {}))
    if not isinstance(reader.state_dict, dict) or not isinstance(reader.training, dict):
        raise TypeError("the stroke model's state_dict and training must be dicts")
    return reader


def _check_stroke_reader(reader: StrokeReader, config: ModelConfig, path: Path) -> None:
    """Refuse a stroke model that is garbled, of another class count, or that gives non-finite outputs."""
    widths = reader.config.widths
    if not (1 <= len(widths) <= MAX_STROKE_LAYERS and all(isinstance(w, int) and not isinstance(w, bool)
                                                         and 1 <= w <= MAX_WIDTH for w in widths)):
        raise CheckpointError(f"{path}: the stroke model's widths {widths!r:.80} are not 1-{MAX_STROKE_LAYERS} "
                              f"whole numbers in 1..{MAX_WIDTH}")
    if reader.config.num_classes != config.num_classes or not isinstance(reader.config.dilated_from, int):
        raise CheckpointError(f"{path}: the stroke model's config does not fit the {config.num_classes}-class CNN")
    if not (_is_number(reader.weight) and 0 <= reader.weight <= MAX_STROKE_WEIGHT):
        raise CheckpointError(f"{path}: the stroke model's weight {reader.weight!r:.40} is not a number "
                              f"in 0..{MAX_STROKE_WEIGHT:g}")
    problem = _weights_problem(reader.state_dict)
    if problem:
        raise CheckpointError(f"{path}: stroke model: {problem}")
    with torch.inference_mode():
        out = reader.build_model(str(path))(torch.zeros(1, TRAJECTORY_CHANNELS, TRAJECTORY_POINTS))
    if not torch.isfinite(out).all():
        raise CheckpointError(f"{path}: the stroke model gives non-finite outputs (NaN or infinity)")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _config_problem(config: ModelConfig) -> str | None:
    """What is wrong with the architecture, checked before any layer is built (memory is bounded)."""
    widths, convs = config.stage_widths, config.convs_per_stage
    if not (1 <= len(widths) <= MAX_STAGES and len(widths) == len(convs)):
        return f"model_config: {len(widths)} stage widths and {len(convs)} conv counts"
    if not all(isinstance(w, int) and 1 <= w <= MAX_WIDTH for w in widths):
        return f"model_config: stage widths {widths} outside 1..{MAX_WIDTH}"
    if not all(isinstance(c, int) and 1 <= c <= MAX_CONVS for c in convs):
        return f"model_config: convs per stage {convs} outside 1..{MAX_CONVS}"
    if not (_is_number(config.dropout) and 0 <= config.dropout < 1) or not isinstance(config.residual, bool):
        return f"model_config: dropout {config.dropout!r} or residual {config.residual!r} garbled"
    if not isinstance(config.num_classes, int) or isinstance(config.num_classes, bool):
        return f"model_config: num_classes {config.num_classes!r} is not a whole number"
    return None


def _labels_problem(labels: str, config: ModelConfig) -> str | None:
    if len(labels) != config.num_classes:
        return f"{len(labels)} labels for a {config.num_classes}-class model"
    if sorted(labels) != sorted(BYMERGE_CHARS):
        return (f"labels {labels[:60]!r} are not the {len(BYMERGE_CHARS)} distinct ByMerge classes "
                f"(digits first) this project reads")
    if labels[:10] != BYMERGE_CHARS[:10]:
        return "labels must start with the 10 digits: P(digit) sums the first ten classes"
    return None


def _input_spec_problem(spec: InputSpec) -> str | None:
    if not (isinstance(spec.size, int) and spec.size == 28):
        return f"input_spec.size {spec.size!r}: the model reads 28x28 images"
    if not _is_number(spec.mean):
        return f"input_spec.mean {spec.mean!r} is not a finite number"
    if not (_is_number(spec.std) and spec.std > 1e-6):
        return f"input_spec.std {spec.std!r} is not a positive finite number"
    if not isinstance(spec.transposed, bool):
        return f"input_spec.transposed {spec.transposed!r} is not true or false"
    return None


def _weights_problem(state_dict: dict) -> str | None:
    for name, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            return f"state_dict[{name!r}] is a {type(value).__name__}, not a tensor"
        if value.is_floating_point() and not torch.isfinite(value).all():
            return f"state_dict[{name!r}] holds NaN or infinite values"
    return None
