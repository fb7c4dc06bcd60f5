"""Score a checkpoint on a split: `python -m train.evaluate --checkpoint PATH --data-dir DIR --split test`.

Writes {"accuracy", "digit_letter_accuracy", "balanced_accuracy", "n", ...} (fractions in 0..1)
to --json and prints a readable summary. The val split is the checkpoint's own: the same seed and
fraction that training carved out.
"""

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from emnist_core.inference import model_outputs, probabilities, ranked
from emnist_core.labels import NUM_DIGITS

from .data import (PRIOR_FILE, DataError, class_frequencies, load_split, read_class_prior, recorded_split_flags,
                   training_split)
from .flags import device_name, non_negative_int, output_file


def select_device(name: str) -> torch.device:
    """'auto' takes the GPU when there is one."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def compute_metrics(probs: torch.Tensor, p_digit: torch.Tensor, labels: torch.Tensor,
                    class_weights: torch.Tensor | None = None) -> dict:
    """Accuracy figures of the coherent readings (probs, p_digit from inference.probabilities); with
    class_weights (target prior / sample prior) also the prior-weighted ones, which estimate
    accuracy on a set with the target class mix."""
    labels = labels.long()
    n_classes = probs.shape[1]
    order = ranked(probs, p_digit)  # the reading first: what the page and the CLI show
    correct = (order[:, 0] == labels).float()
    digit_correct = ((p_digit >= 0.5) == (labels < NUM_DIGITS)).float()
    top5 = (order[:, :5] == labels[:, None]).any(1).float()
    per_class = torch.full((n_classes,), float("nan"))
    counts = torch.bincount(labels, minlength=n_classes)
    hits = torch.bincount(labels, weights=correct, minlength=n_classes)
    present = counts > 0
    per_class[present] = hits[present] / counts[present]
    metrics = {
        "n": int(len(labels)),
        "accuracy": correct.mean().item() if len(labels) else float("nan"),
        "digit_letter_accuracy": digit_correct.mean().item() if len(labels) else float("nan"),
        "balanced_accuracy": per_class[present].mean().item() if present.any() else float("nan"),
        "top5_accuracy": top5.mean().item() if len(labels) else float("nan"),
        "per_class_accuracy": [None if torch.isnan(v) else round(v.item(), 5) for v in per_class],
    }
    if class_weights is not None:
        w = class_weights[labels]
        metrics["prior_weighted_accuracy"] = ((w * correct).sum() / w.sum()).item()
        metrics["prior_weighted_digit_letter_accuracy"] = ((w * digit_correct).sum() / w.sum()).item()
    return metrics


def score(model, images: torch.Tensor, labels: torch.Tensor, digit_source: str, spec,
          weights: torch.Tensor | None = None) -> dict:
    """Accuracy figures of one model on one set (an empty set gives n = 0 and no figures)."""
    if len(labels) == 0:
        return {"n": 0}
    logits, digit_logits = model_outputs(model, images, spec)
    return compute_metrics(*probabilities(logits, digit_logits, digit_source), labels, weights)


def headline(m: dict) -> float:
    """The one figure a model is judged by (the --save-to guard, the README): prior-weighted when the
    pool knows ByMerge's mix."""
    return m.get("prior_weighted_accuracy", m.get("accuracy", float("nan")))


def weighted_mean_and_se(values: torch.Tensor, weights: torch.Tensor | None = None) -> tuple[float, float]:
    """The (weighted) mean of per-image values and its standard error, for independent images. Fed
    the difference of two models' per-image correctness it is a paired comparison, far tighter
    than the two accuracies' own errors."""
    values = values.double()
    w = torch.ones_like(values) if weights is None else weights.double()
    w = w / w.sum()
    mean = (w * values).sum()
    return mean.item(), (w.square() * (values - mean).square()).sum().sqrt().item()


def pool_class_weights(data_dir, train_labels: np.ndarray, class_prior: str | None) -> torch.Tensor | None:
    """ByMerge's class mix over the training part's, exactly as training weighted its validation
    (TrainingData.class_weights), when the data folder (or the run's --class-prior) gives that mix."""
    prior = class_prior or Path(data_dir) / PRIOR_FILE
    if not Path(prior).is_file():
        return None
    return torch.from_numpy(read_class_prior(prior) / class_frequencies(train_labels)).float()


def checkpoint_split(checkpoint, checkpoint_path, data_dir, split: str,
                     sample: int = 0) -> tuple[np.ndarray, np.ndarray, torch.Tensor | None]:
    """(images, labels, class weights or None) of `split`: "test" is the official test split (already
    ByMerge's class mix, so no weights), "train" / "val" the checkpoint's own split of the training
    files, weighted as training weighted its validation. `sample` > 0 keeps a seeded random sample."""
    images, labels = load_split(data_dir, "test" if split == "test" else "train")
    class_weights = None
    if split != "test":
        record = checkpoint.training or {}
        split_record = record.get("split", {})
        if "val_fraction" not in split_record:
            raise DataError(f"{checkpoint_path} records no validation split")
        flags = recorded_split_flags(record, data_dir)
        if flags.limit:  # training split only the first `limit` images; so must we
            images, labels = images[:flags.limit], labels[:flags.limit]
        train_idx, val_idx = training_split(labels, flags.val_fraction, flags.split_seed, flags.train_share)
        class_weights = pool_class_weights(data_dir, labels[train_idx], flags.class_prior)
        keep = val_idx if split == "val" else train_idx
        images, labels = images[keep], labels[keep]
    if 0 < sample < len(labels):
        keep = np.sort(np.random.default_rng(0).choice(len(labels), size=sample, replace=False))
        images, labels = images[keep], labels[keep]
    return images, labels, class_weights


def summary(metrics: dict, title: str) -> str:
    lines = [f"{title}: {metrics['n']} images",
             f"  accuracy (47 classes)     {metrics['accuracy']:.4f}",
             f"  digit/letter accuracy     {metrics['digit_letter_accuracy']:.4f}",
             f"  balanced accuracy         {metrics['balanced_accuracy']:.4f}",
             f"  top-5 accuracy            {metrics['top5_accuracy']:.4f}"]
    if "prior_weighted_accuracy" in metrics:
        lines.append(f"  weighted to ByMerge's class mix: accuracy {metrics['prior_weighted_accuracy']:.4f}, "
                     f"digit/letter {metrics['prior_weighted_digit_letter_accuracy']:.4f}")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="checkpoint to score (default: the shipped one)")
    parser.add_argument("--data-dir", required=True, help="folder with the official EMNIST IDX files or Kaggle's CSVs")
    parser.add_argument("--split", choices=("train", "val", "test"), default="test",
                        help="train/val are the checkpoint's own split of the training files")
    parser.add_argument("--sample", type=non_negative_int, default=0,
                        help="score a random sample of this many images of the split (seed 0; 0: all)")
    parser.add_argument("--json", type=output_file, help="write the metrics here as JSON")
    parser.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    return parser


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        checkpoint = load_checkpoint(args.checkpoint)
        images, labels, class_weights = checkpoint_split(checkpoint, args.checkpoint, args.data_dir,
                                                         args.split, args.sample)
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if len(labels) == 0:  # no accuracy to report: nan would read like a result
        print(f"error: the {args.split} split of {args.data_dir} holds no images", file=sys.stderr)
        return 2
    device = select_device(args.device)
    model = checkpoint.build_model(args.checkpoint).to(device)
    logits, digit_logits = model_outputs(model, torch.from_numpy(np.ascontiguousarray(images)),
                                         checkpoint.input_spec)
    probs, p_digit = probabilities(logits, digit_logits, checkpoint.digit_source)
    metrics = compute_metrics(probs, p_digit, torch.from_numpy(labels), class_weights)
    metrics.update(split=args.split, checkpoint=str(args.checkpoint), data_dir=str(args.data_dir),
                   sample=args.sample or None)
    print(summary(metrics, f"{args.checkpoint} on {args.split}"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(metrics, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
