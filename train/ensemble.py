"""Combine independently trained checkpoints into one: `python -m train.ensemble A.pt B.pt ... --data-dir DIR --save-to OUT`.

The members must share the architecture, the input spec and the validation split (train them with
the same `--split-seed`, `--val-fraction` and `--limit`, any `--seed`), so the ensemble can be
scored on images none of them trained on. Each member keeps its own calibration (BatchNorm
statistics, folded prior correction); the ensemble averages their log-probabilities
(emnist_core.model.Ensemble), and the digit source (summed probabilities or the averaged heads) is
chosen on validation weighted to ByMerge's class mix. Every member's figures are recorded beside
the ensemble's, and the result is one self-describing checkpoint.
"""

import argparse
import shlex
import sys
from dataclasses import replace

import torch

from emnist_core.checkpoint import DIGIT_SOURCES, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities, readings
from emnist_core.labels import NUM_DIGITS
from emnist_core.model import count_parameters

from .data import DataError, load_recorded_split
from .evaluate import compute_metrics, machine_description, summary, weighted_mean_and_se
from .finish import git_commit

SAME_FIELDS = ("labels", "input_spec")  # besides the architecture and the split


def combine(members: list[Checkpoint], digit_source: str, record: dict) -> Checkpoint:
    """One checkpoint holding every member's weights under members.<i>."""
    state = members[0].state_dict if len(members) == 1 else \
        {f"members.{i}.{k}": v for i, m in enumerate(members) for k, v in m.state_dict.items()}
    config = replace(members[0].model_config, members=len(members))
    return Checkpoint(model_config=config, state_dict=state, labels=members[0].labels,
                      input_spec=members[0].input_spec, digit_source=digit_source, training=record)


def check_same_split(checkpoints: list[Checkpoint], paths: list[str]) -> dict:
    """The validation split all of them held out (so they can be scored on images none trained on);
    raises CheckpointError naming the one that differs."""
    split = (checkpoints[0].training or {}).get("split")
    if not split:
        raise CheckpointError(f"{paths[0]}: records no validation split")
    for path, c in zip(paths, checkpoints):
        if (c.training or {}).get("split") != split:
            raise CheckpointError(f"{path}: another validation split than {paths[0]} "
                                  f"({(c.training or {}).get('split')} vs {split}); "
                                  "train them with the same --split-seed, --val-fraction, --limit")
    return split


def check_compatible(members: list[Checkpoint], paths: list[str]) -> dict:
    """The shared split record; raises CheckpointError naming the member that differs."""
    first = members[0]
    for path, m in zip(paths, members):
        if m.model_config.members != 1:
            raise CheckpointError(f"{path}: already an ensemble; give its members instead")
        if replace(m.model_config, dropout=0) != replace(first.model_config, dropout=0):
            raise CheckpointError(f"{path}: another architecture than {paths[0]} ({m.model_config})")
        for name in SAME_FIELDS:
            if getattr(m, name) != getattr(first, name):
                raise CheckpointError(f"{path}: another {name} than {paths[0]}")
    return check_same_split(members, paths)


def reading_rules(logits: torch.Tensor, digit_logits: torch.Tensor, labels: torch.Tensor,
                  weights: torch.Tensor | None) -> dict:
    """Weighted validation accuracy (47 classes, digit/letter) of each rule for one coherent reading."""
    result = {}
    for source in DIGIT_SOURCES:
        m = compute_metrics(*probabilities(logits, digit_logits, source), labels, weights)
        result[source] = {"accuracy": m.get("prior_weighted_accuracy", m["accuracy"]),
                          "digit_letter_accuracy": m.get("prior_weighted_digit_letter_accuracy",
                                                         m["digit_letter_accuracy"]),
                          "unweighted_accuracy": m["accuracy"]}
    return result


def correctness(probs: torch.Tensor, p_digit: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image, 1.0 where the reading (and its kind) is right: for paired comparisons."""
    reading = readings(probs, p_digit)
    return {"accuracy": (reading == labels).double(),
            "digit_letter": ((reading < NUM_DIGITS) == (labels < NUM_DIGITS)).double()}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", nargs="+", help="finished checkpoints (model.pt of each run)")
    parser.add_argument("--data-dir", required=True, help="the training files the members were split from")
    parser.add_argument("--save-to", help="write the ensemble checkpoint here")
    args = parser.parse_args(argv)
    try:
        members = [load_checkpoint(p) for p in args.members]
        split = check_compatible(members, args.members)
        hyper = (members[0].training or {}).get("hyperparameters") or {}
        data = load_recorded_split(members[0].training, args.data_dir, torch.device("cpu"))
    except (CheckpointError, DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    weights = data.class_weights
    ensemble = combine(members, "sum", {})
    logits, digit_logits = model_outputs(ensemble.build_model("ensemble"), data.val_x, ensemble.input_spec)
    rules = reading_rules(logits, digit_logits, data.val_y, weights)
    source = max(DIGIT_SOURCES, key=lambda s: rules[s]["accuracy"] + rules[s]["digit_letter_accuracy"])  # as calibrate
    probs, p_digit = probabilities(logits, digit_logits, source)
    val = compute_metrics(probs, p_digit, data.val_y, weights)
    ensemble_right = correctness(probs, p_digit, data.val_y)
    image_weights = None if weights is None else weights[data.val_y.long()]
    member_records = []
    for path, m in zip(args.members, members):
        m_logits, m_digit_logits = model_outputs(m.build_model(path), data.val_x, m.input_spec)
        m_rules = reading_rules(m_logits, m_digit_logits, data.val_y, weights)
        # Paired with the ensemble under the same reading rule: what combining adds, nothing else.
        member_right = correctness(*probabilities(m_logits, m_digit_logits, source), data.val_y)
        gains = {name: weighted_mean_and_se(ensemble_right[name] - member_right[name], image_weights)
                 for name in ensemble_right}
        member_records.append({"path": path, "command": (m.training or {}).get("command"),
                               "digit_source": m.digit_source, "val": m_rules[source],
                               "reading_rules": m_rules, "ensemble_gain_and_se": gains})
        print(f"{path}: weighted val {m_rules[source]['accuracy']:.4f}, digit/letter "
              f"{m_rules[source]['digit_letter_accuracy']:.4f} (reading rule {source!r}); the ensemble gains "
              + ", ".join(f"{name} {100 * g:+.2f} ± {100 * se:.2f} points" for name, (g, se) in gains.items()))
    print(summary(val, f"ensemble of {len(members)}, reading rule {source!r}, validation"))
    for name, (mean, se) in {name: weighted_mean_and_se(right, image_weights) for name, right in ensemble_right.items()}.items():
        print(f"  weighted {name}: {mean:.4f} ± {se:.4f} (one standard error of this split's estimate)")
    for name, r in rules.items():
        print(f"  reading rule {name!r}: weighted accuracy {r['accuracy']:.4f}, digit/letter {r['digit_letter_accuracy']:.4f}")
    first = members[0].training or {}
    record = {"command": "python -m train.ensemble " + shlex.join(argv), "commit": git_commit(),
              "machine": machine_description(torch.device("cpu")), "data_dir": str(data.data_dir),
              "n_train": len(data.train_y), "n_val": len(data.val_y), "split": split,
              "augment": first.get("augment"), "hyperparameters": hyper, "members": member_records,
              "metrics": {"val": val, "selection": {"digit_source": source, "reading_rules": rules,
                                                    "weighted_to_target_prior": weights is not None}}}
    if args.save_to:
        result = combine(members, source, record)
        save_checkpoint(result, args.save_to)
        print(f"saved {args.save_to}: {len(members)} members, {count_parameters(result.build_model()):,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
