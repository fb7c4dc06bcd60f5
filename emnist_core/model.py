"""The networks. Import-only: the CNN's architecture is a ModelConfig, saved inside every checkpoint; the
stroke model's a StrokeConfig, saved beside it where a checkpoint has one."""

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    stage_widths: tuple[int, ...] = (32, 64, 128)  # channels of each stage; 2x2 max-pool after each
    convs_per_stage: tuple[int, ...] = (1, 2, 2)  # 3x3 conv-BN-ReLU layers in each stage
    residual: bool = True  # add a skip over each stage's convs after the first
    dropout: float = 0.2  # before the classifier
    num_classes: int = 47
    members: int = 1  # >1: an ensemble of that many such networks, read as one (Ensemble below)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        fields = dict(data)
        for key in ("stage_widths", "convs_per_stage"):
            fields[key] = tuple(fields[key])
        return cls(**fields)


# The course report's network, rebuilt for side-by-side benchmarks: 7 plain convs, no skips.
REPORT_7CONV = ModelConfig(stage_widths=(32, 64, 128), convs_per_stage=(2, 2, 3), residual=False,
                           dropout=0.5)


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Stage(nn.Module):
    def __init__(self, c_in: int, c_out: int, n_convs: int, residual: bool):
        super().__init__()
        self.first = conv_bn_relu(c_in, c_out)
        self.rest = nn.Sequential(*[conv_bn_relu(c_out, c_out) for _ in range(n_convs - 1)])
        self.residual = residual and n_convs > 1
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.first(x)
        x = x + self.rest(x) if self.residual else self.rest(x)
        return self.pool(x)


class EmnistCNN(nn.Module):
    """(N, 1, 28, 28) normalised images -> (class logits (N, 47), digit logit (N,)).

    The digit logit is a second head trained beside the classes; the checkpoint records whether
    it or the summed class probabilities decide digit vs letter (whichever validated better).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        stages, c_in, size = [], 1, 28
        for width, n_convs in zip(config.stage_widths, config.convs_per_stage):
            stages.append(Stage(c_in, width, n_convs, config.residual))
            c_in, size = width, size // 2
        self.features = nn.Sequential(*stages)
        n_features = c_in * size * size  # flatten keeps where strokes are, which matters for glyphs
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(n_features, config.num_classes)
        self.digit_head = nn.Linear(n_features, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.dropout(self.features(x).flatten(1))
        return self.classifier(features), self.digit_head(features).squeeze(1)


class Ensemble(nn.Module):
    """Independently trained EmnistCNNs of one config, read as one network: the class logits are the
    mean of the members' log-probabilities (a geometric mean of their beliefs), the digit logit the
    mean of theirs. Same inputs and outputs as EmnistCNN, so nothing downstream needs to know."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        member = ModelConfig(**{**config.to_dict(), "members": 1})
        self.members = nn.ModuleList(EmnistCNN(member) for _ in range(config.members))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(x) for member in self.members]
        log_probs = torch.stack([logits.float().log_softmax(1) for logits, _ in outputs]).mean(0)
        return log_probs, torch.stack([digit.float() for _, digit in outputs]).mean(0)


@dataclass(frozen=True)
class StrokeConfig:
    widths: tuple[int, ...] = (64, 128, 192, 256)  # channels of each 1-d conv-BN-ReLU layer (kernel 5)
    dilated_from: int = 2  # layers from this one on look twice as far (dilation 2)
    num_classes: int = 47

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "StrokeConfig":
        return cls(**{**data, "widths": tuple(data["widths"])})


class StrokeNet(nn.Module):
    """(N, 6, 64) pen paths (strokes.trajectory) -> class logits (N, 47): 1-d convolutions along the path,
    then the largest and the mean of each channel over it. Reads how a character was written (the order
    and direction of its strokes), which its image has lost; predict.py adds its log-probabilities to
    the CNN's logits for a drawing."""

    def __init__(self, config: StrokeConfig):
        super().__init__()
        self.config = config
        layers, c_in = [], 6
        for i, width in enumerate(config.widths):
            dilation = 2 if i >= config.dilated_from else 1
            layers += [nn.Conv1d(c_in, width, 5, padding=2 * dilation, dilation=dilation, bias=False),
                       nn.BatchNorm1d(width), nn.ReLU()]
            c_in = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(2 * c_in, config.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(torch.cat([h.amax(2), h.mean(2)], 1))


def merged_stroke_nets(nets: list[StrokeNet]) -> StrokeNet:
    """One StrokeNet whose logits are the mean of the given ones' (an ensemble that every reader of a
    StrokeNet, the browser's too, runs as it is): their layers side by side, each layer's weights block-diagonal
    (a member reads only its own channels; the first layer's all read the path), the head averaging the members'.
    Their log-probabilities then differ from the mean of the members' by one number per path, which the
    reading's softmax cancels (inference.with_strokes). The nets need the same depth, dilation and classes."""
    first = nets[0].config
    if any(len(n.config.widths) != len(first.widths) or n.config.dilated_from != first.dilated_from
           or n.config.num_classes != first.num_classes for n in nets):
        raise ValueError("stroke nets of different depth, dilation or classes cannot be merged")
    widths = tuple(sum(n.config.widths[i] for n in nets) for i in range(len(first.widths)))
    out = StrokeNet(StrokeConfig(widths=widths, dilated_from=first.dilated_from, num_classes=first.num_classes))
    with torch.no_grad():
        for layer in range(len(widths)):
            conv, norm = out.body[3 * layer], out.body[3 * layer + 1]
            conv.weight.zero_()
            row = column = 0
            for net in nets:
                theirs, their_norm = net.body[3 * layer], net.body[3 * layer + 1]
                rows, columns = theirs.weight.shape[:2]
                if layer == 0:  # every member reads the whole path
                    conv.weight[row:row + rows] = theirs.weight
                else:
                    conv.weight[row:row + rows, column:column + columns] = theirs.weight
                for name in ("weight", "bias", "running_mean", "running_var"):
                    getattr(norm, name)[row:row + rows] = getattr(their_norm, name)
                row, column = row + rows, column + (columns if layer else 0)
        total, at = widths[-1], 0
        out.head.weight.zero_()
        for net in nets:
            width = net.config.widths[-1]
            out.head.weight[:, at:at + width] = net.head.weight[:, :width] / len(nets)  # their largest values
            out.head.weight[:, total + at:total + at + width] = net.head.weight[:, width:] / len(nets)  # their means
            at += width
        out.head.bias.copy_(torch.stack([n.head.bias for n in nets]).mean(0))
    return out.eval()


def build_network(config: ModelConfig) -> nn.Module:
    """The network a config describes: one EmnistCNN, or an Ensemble of them."""
    return EmnistCNN(config) if config.members == 1 else Ensemble(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def batchnorm_layers(model: nn.Module) -> list[nn.Module]:
    """Every BatchNorm layer of the model (1d, 2d, 3d alike: torch's common base class), the ones whose
    running statistics calibration re-estimates and fine-tuning keeps frozen."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
