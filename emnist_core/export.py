"""The checkpoint's network for the browser: BatchNorm folded into the convs, weights as one float32 file.

    python -m emnist_core.export                       # checkpoints/emnist_bymerge.pt -> .web.json + .web.bin
    python -m emnist_core.export --checkpoint my.pt    # my.web.json + my.web.bin beside it

The manifest (.web.json) carries what the page needs besides the weights: the architecture (stage widths,
convs per stage, residual), the labels, the input normalisation and orientation, the digit_source rule, and
the SHA-256 of the checkpoint it came from and of the weights. The weights (.web.bin) are little-endian
float32, laid out for TensorFlow.js (NHWC): each conv's filter as (3, 3, in, out) with its bias after it,
then the classifier and the digit head as one (features, classes + 1) matrix and its bias; the features are
flattened in (height, width, channels) order, where PyTorch flattens (channels, height, width).

Where the checkpoint carries a stroke model (checkpoint.StrokeReader), the manifest gets a "strokes" section
(its widths, dilated_from, kernel, weight, the trajectory's points and channels, and its tensors' names) and
the weights go on after the CNN's: each 1-d conv with its BatchNorm folded in, the filter as (5, in, out)
(TensorFlow.js's conv1d, time along the width) with its bias after it, then the head as (2 * width, classes)
(the largest of each channel over the path, then the mean, as StrokeNet concatenates them) and its bias. The
browser then reads a drawing as predict.py does: the CNN's logits plus weight times the stroke model's
log-probabilities (inference.with_strokes). A manifest without the section is a CNN alone.
web/reader/model.js runs it; tests/test_web_reader.py checks its outputs against PyTorch's.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from .model import EmnistCNN, StrokeNet
from .strokes import TRAJECTORY_CHANNELS, TRAJECTORY_POINTS

FORMAT = "emnist-sketchpad-web/1"


def web_paths(checkpoint_path: str | Path) -> tuple[Path, Path]:
    """(manifest, weights) beside a checkpoint: emnist_bymerge.pt -> emnist_bymerge.web.json, .web.bin."""
    path = Path(checkpoint_path)
    return path.with_suffix(".web.json"), path.with_suffix(".web.bin")


def current_export(checkpoint_path: str | Path) -> Path | None:
    """The manifest of the browser export beside a checkpoint, when there is one and it was made from this very
    checkpoint (its SHA-256); None otherwise (the page then reads on the server). Never raises."""
    manifest_path, weights_path = web_paths(checkpoint_path)
    try:
        manifest = json.loads(manifest_path.read_text())
        current = (manifest.get("format") == FORMAT and weights_path.is_file()
                   and manifest.get("checkpoint_sha256") == hashlib.sha256(Path(checkpoint_path).read_bytes()).hexdigest())
    except (OSError, ValueError, AttributeError):
        return None
    return manifest_path if current else None


def _folded(conv: torch.nn.Conv2d | torch.nn.Conv1d, bn: torch.nn.BatchNorm2d | torch.nn.BatchNorm1d
            ) -> tuple[np.ndarray, np.ndarray]:
    """conv (no bias) then BatchNorm in eval mode, as one conv: (filter, (out,) bias), the filter laid out as
    TensorFlow.js wants it: (3, 3, in, out) for a 2-d conv, (kernel, in, out) for a 1-d one."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    weight = conv.weight.double()  # (out, in, 3, 3) or (out, in, kernel)
    weight = weight * scale.view(-1, *[1] * (weight.dim() - 1))
    bias = bn.bias.double() - bn.running_mean.double() * scale
    return weight.permute(*range(2, weight.dim()), 1, 0).numpy(), bias.numpy()


@torch.no_grad()
def export_arrays(model: EmnistCNN) -> list[tuple[str, np.ndarray]]:
    """The network's weights in the order and layout the manifest lists them, float64 before the cast."""
    arrays = []
    for s, stage in enumerate(model.features):
        for c, block in enumerate([stage.first, *stage.rest]):
            weight, bias = _folded(block[0], block[1])
            arrays += [(f"stage{s}.conv{c}.filter", weight), (f"stage{s}.conv{c}.bias", bias)]
    channels = model.config.stage_widths[-1]
    side = 28 // 2 ** len(model.config.stage_widths)
    head = torch.cat([model.classifier.weight, model.digit_head.weight]).double()  # (C + 1, channels*side*side)
    head = head.view(-1, channels, side, side).permute(2, 3, 1, 0).reshape(side * side * channels, -1)
    bias = torch.cat([model.classifier.bias, model.digit_head.bias]).double()
    return arrays + [("head.weight", head.numpy()), ("head.bias", bias.numpy())]


@torch.no_grad()
def export_stroke_arrays(net: StrokeNet) -> list[tuple[str, np.ndarray]]:
    """The stroke model's weights in the order and layout the manifest lists them, float64 before the cast:
    each conv-BatchNorm as one (kernel, in, out) filter and its bias, then the head as (2 * width, classes)
    (the largest of each channel over the path, then the mean: torch.cat([amax, mean])) and its bias."""
    layers = list(net.body)
    arrays = []
    for i in range(len(net.config.widths)):
        weight, bias = _folded(layers[3 * i], layers[3 * i + 1])
        arrays += [(f"strokes.conv{i}.filter", weight), (f"strokes.conv{i}.bias", bias)]
    return arrays + [("strokes.head.weight", net.head.weight.double().T.numpy()),
                     ("strokes.head.bias", net.head.bias.double().numpy())]


def _strokes_section(checkpoint, checkpoint_path: Path) -> tuple[dict | None, list[tuple[str, np.ndarray]]]:
    """The manifest's "strokes" section and the stroke model's arrays; (None, []) for a CNN alone."""
    reader = checkpoint.strokes
    if reader is None:
        return None, []
    net = reader.build_model(str(checkpoint_path)).float()
    arrays = export_stroke_arrays(net)
    kernel = net.body[0].kernel_size[0]
    return {"widths": list(reader.config.widths), "dilated_from": reader.config.dilated_from, "kernel": kernel,
            "weight": float(reader.weight), "points": TRAJECTORY_POINTS, "channels": TRAJECTORY_CHANNELS,
            "tensors": [name for name, _ in arrays]}, arrays


def export(checkpoint_path: str | Path = DEFAULT_CHECKPOINT, out: str | Path | None = None) -> tuple[Path, Path]:
    """Write the manifest and the weights beside the checkpoint (or at `out`.web.json / .web.bin)."""
    checkpoint_path = Path(checkpoint_path)
    checkpoint = load_checkpoint(checkpoint_path)
    if checkpoint.model_config.members != 1:
        raise CheckpointError(f"{checkpoint_path}: an ensemble of {checkpoint.model_config.members} networks; "
                              f"the browser runs one network (export one member's checkpoint)")
    model = checkpoint.build_model(str(checkpoint_path)).float().to(memory_format=torch.contiguous_format)
    manifest_path, weights_path = web_paths(out if out is not None else checkpoint_path)
    strokes_section, stroke_arrays = _strokes_section(checkpoint, checkpoint_path)
    tensors, offset, blobs = [], 0, []
    for name, array in export_arrays(model) + stroke_arrays:
        blob = np.ascontiguousarray(array, dtype="<f4")
        tensors.append({"name": name, "shape": list(blob.shape), "offset": offset})
        offset += blob.size
        blobs.append(blob.tobytes())
    data = b"".join(blobs)
    config = checkpoint.model_config
    spec = checkpoint.input_spec
    manifest = {
        "format": FORMAT,
        "checkpoint": checkpoint_path.name,
        "checkpoint_sha256": hashlib.sha256(checkpoint_path.read_bytes()).hexdigest(),
        "weights": weights_path.name,
        "weights_sha256": hashlib.sha256(data).hexdigest(),
        "stage_widths": list(config.stage_widths),
        "convs_per_stage": list(config.convs_per_stage),
        "residual": config.residual,
        "labels": checkpoint.labels,
        "num_digits": 10,
        "input_spec": {"size": spec.size, "mean": spec.mean, "std": spec.std, "transposed": spec.transposed},
        "digit_source": checkpoint.digit_source,
        "tensors": tensors,
    }
    if strokes_section is not None:
        manifest["strokes"] = strokes_section
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    weights_path.write_bytes(data)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path, weights_path


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the .pt checkpoint to export")
    parser.add_argument("--out", default=None,
                        help="where to write, as a path whose suffix is replaced (default: beside the checkpoint)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        manifest, weights = export(args.checkpoint, args.out)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{manifest} and {weights} ({weights.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
