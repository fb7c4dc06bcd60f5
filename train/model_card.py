"""Write a checkpoint's model card from what the checkpoint itself records.

    python -m train.model_card --checkpoint checkpoints/emnist_bymerge.pt \
        [--drawings drawing_scores.json] > checkpoints/MODEL_CARD.md

Every figure comes from the checkpoint's training record (or the drawing-score JSON written by
`python -m train.score_drawings --json`), so the card cannot drift from the weights.
"""

import argparse
import json
import sys
from pathlib import Path

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from emnist_core.model import EmnistCNN, count_parameters


def percent(value) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "—"


def card(checkpoint_path: Path, drawings: dict | None) -> str:
    ckpt = load_checkpoint(checkpoint_path)
    t = ckpt.training
    metrics = t.get("metrics", {})
    val, test, selection = metrics.get("val", {}), metrics.get("test"), metrics.get("selection", {})
    size_mb = checkpoint_path.stat().st_size / 1e6
    lines = [
        f"# Model card: `{checkpoint_path.name}`",
        "",
        f"A {count_parameters(EmnistCNN(ckpt.model_config)):,}-parameter CNN "
        f"({', '.join(f'{w}x{n}' for w, n in zip(ckpt.model_config.stage_widths, ckpt.model_config.convs_per_stage))}"
        f" channels x convs per stage, {'residual' if ckpt.model_config.residual else 'plain'}) that reads one "
        f"handwritten character as one of the {len(ckpt.labels)} EMNIST ByMerge classes "
        f"and says whether it is a digit or a letter. {size_mb:.1f} MB.",
        "",
        "## Data",
        f"- Trained on `{t.get('data_dir')}`: {t.get('n_train', 0):,} training images; "
        f"{t.get('n_val', 0):,} held out for validation (stratified, seed {t.get('split', {}).get('seed')}).",
        "- Input: 28x28, ink bright, in EMNIST's transposed orientation, normalised with mean "
        f"{ckpt.input_spec.mean} and std {ckpt.input_spec.std} (all recorded in the checkpoint).",
        "",
        "## Training",
        f"- Command: `{t.get('command')}`" + (f" (commit {t['commit']})" if t.get("commit") else ""),
        f"- Machine: {t.get('machine')}; {metrics.get('train_minutes', 0):.1f} minutes in all; "
        f"best epoch {metrics.get('best_epoch')} of {len(t.get('history', []))}.",
        f"- Class-prior correction strength {selection.get('prior_strength')} "
        f"(log-ratio of ByMerge's class frequencies to the pool's, folded into the output biases); "
        f"digit/letter decided by the {'digit head' if ckpt.digit_source == 'head' else 'summed digit probabilities'}. "
        "Both chosen on validation weighted to ByMerge's class mix.",
        "",
        "## Results",
        "| split | n | accuracy (47 classes) | digit/letter | balanced accuracy | top-5 |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| validation (pool mix) | {val.get('n', '—')} | {percent(val.get('accuracy'))} | "
        f"{percent(val.get('digit_letter_accuracy'))} | {percent(val.get('balanced_accuracy'))} | "
        f"{percent(val.get('top5_accuracy'))} |",
    ]
    if "prior_weighted_accuracy" in val:
        lines.append(f"| validation, weighted to ByMerge's class mix | {val['n']} | "
                     f"{percent(val['prior_weighted_accuracy'])} | "
                     f"{percent(val['prior_weighted_digit_letter_accuracy'])} | — | — |")
    if test:
        lines.append(f"| official test | {test['n']} | {percent(test['accuracy'])} | "
                     f"{percent(test['digit_letter_accuracy'])} | {percent(test['balanced_accuracy'])} | "
                     f"{percent(test['top5_accuracy'])} |")
    else:
        lines += ["", "The official ByMerge test split was not on the training machine; score it with "
                  "`python -m train.evaluate --checkpoint <this file> --data-dir DIR --split test`."]
    if drawings and "omniglot" in drawings:
        lines += ["", "## Real drawings (Omniglot's Latin letters, 10 people, drawn with a mouse)",
                  "| input | strict top-1 | look-alike-tolerant top-1 | top-5 |", "| --- | --- | --- | --- |"]
        png = drawings["omniglot"]["png"]
        lines.append(f"| 260 PNGs as scanned | {percent(png['strict_top1'])} | {percent(png['tolerant_top1'])} | "
                     f"{percent(png['top5'])} |")
        for label, key in (("stroke replays, mean of all variants", "omniglot_replay_mean"),
                           ("stroke replays, worst variant", "omniglot_replay_worst")):
            s = drawings[key]
            lines.append(f"| {label} | {percent(s['strict_top1'])} | {percent(s['tolerant_top1'])} | "
                         f"{percent(s['top5'])} |")
    lines += ["", "## Limits",
              "- EMNIST itself cannot tell some pairs apart (0/O, 1/I/l, 2/Z, 5/S, 9/g/q, and a letter's "
              "two cases for c k m o p s u v w x y z, merged into one class in ByMerge).",
              "- Trained on 18% of EMNIST's training split (the offline pool); one character per image."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--drawings", help="JSON from python -m train.score_drawings --json")
    args = parser.parse_args(argv)
    try:
        drawings = json.loads(Path(args.drawings).read_text()) if args.drawings else None
        print(card(Path(args.checkpoint), drawings), end="")
    except (CheckpointError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
