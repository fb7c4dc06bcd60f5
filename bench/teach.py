"""Does teaching work? `python -m bench.teach`: correct some writers, fine-tune, read them and others again.

1. The letters of the taught writers (Omniglot dev drawers 1-5 by default), in ONE rendering (their
   strokes drawn on the page's 400x400 canvas with its default brush, radius 16, the character 50% of
   it, centred), go as stroke drawings through the page's own path (emnist_core.corrections.keep_correction: read as /predict reads,
   kept with the letter meant) into a fresh store, every letter, or with --only-misread only those
   the model misread (what the page would collect).
2. `python -m train.finetune` learns them (all of them: --held-out 0; the other renderings are the
   held-out test), replaying the EMNIST pool, within --budget-minutes.
3. Before and after, strict top-1 (case-insensitive letter) on the taught writers' letters rendered
   OTHERWISE (the scanned PNGs; the page's largest brush, 24, at 30% size off-centre, its smallest, 10,
   at 80% size)
   and on the untaught writers (6-10) in every rendering; EMNIST validation (the checkpoint's own
   held-out split, prior-weighted) from the fine-tune's record.
Goals: taught >= 95% strict, untaught not worse by more than 2 points, EMNIST within 0.3 points.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.score_drawings import SHARED, letter_scores
from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.corrections import CORRECTION_NOTE_KEPT, CorrectionStore, keep_correction
from emnist_core.labels import letter_matches
from emnist_core.predict import Predictor
from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, drawing_from_strokes, read_strokes
from train import finetune

# Drawings on the page's canvas with its brushes (radii in its pixels): the one that is taught, and two others.
SMALL, DEFAULT, LARGE = CHARACTER_BRUSHES
TEACH = {"brush": DEFAULT, "char_size": 0.5, "centre": (0.5, 0.5)}
OTHER = {f"replay r={LARGE} size=0.3 off-centre": {"brush": LARGE, "char_size": 0.3, "centre": (0.38, 0.62)},
         f"replay r={SMALL} size=0.8": {"brush": SMALL, "char_size": 0.8, "centre": (0.5, 0.5)}}
GOALS = {"taught_strict": 0.95, "untaught_max_drop": 0.02, "emnist_max_drop": 0.003}


def writers(text: str) -> list[int]:
    """'1-5' or '1,3,5' -> [1, 2, 3, 4, 5] / [1, 3, 5]."""
    if "-" in text:
        low, high = (int(v) for v in text.split("-"))
        return list(range(low, high + 1))
    return [int(v) for v in text.split(",")]


def letters_of(folder: Path, drawers: list[int]) -> list[tuple[str, Path]]:
    """(letter, PNG path) of every letter those drawers drew, their stroke file beside it."""
    found = [(p.name[0], p) for d in drawers for p in sorted(folder.glob(f"?_drawer{d:02d}.png"))]
    if not found:
        raise SystemExit(f"error: no letters of drawers {drawers} in {folder}")
    return found


def renderings(letters: list[tuple[str, Path]]) -> dict[str, list]:
    """Every rendering of those letters, by name: the taught one, the other replays, the scanned PNGs."""
    strokes = [read_strokes(p.with_suffix(".txt")) for _, p in letters]
    out = {f"replay r={DEFAULT} size=0.5 (taught rendering)":
           [drawing_from_strokes(s, CHARACTER_CANVAS, **TEACH) for s in strokes]}
    for name, how in OTHER.items():
        out[name] = [drawing_from_strokes(s, CHARACTER_CANVAS, **how) for s in strokes]
    out["scanned PNGs"] = [str(p) for _, p in letters]
    return out


def score_all(predictor: Predictor, groups: dict) -> dict:
    return {group: {name: letter_scores([c for c, _ in letters], predictor.predict_many(images))
                    for name, images in shown.items()}
            for group, (letters, shown) in groups.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.teach", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the model to teach")
    parser.add_argument("--omniglot", default=str(SHARED / "omniglot-latin-dev"), help="letters a-z with strokes")
    parser.add_argument("--emnist", default=str(SHARED / "emnist-bymerge-offline"), help="the checkpoint's pool")
    parser.add_argument("--taught", type=writers, default=writers("1-5"), help="drawers whose letters are taught")
    parser.add_argument("--untaught", type=writers, default=writers("6-10"), help="drawers never taught")
    parser.add_argument("--only-misread", action="store_true", help="teach only the letters the model misread")
    parser.add_argument("--budget-minutes", type=float, default=4.0, help="the fine-tune's budget")
    parser.add_argument("--out", default="runs/teach", help="store, fine-tuned model, figures")
    parser.add_argument("--finetune-flag", action="append", default=[], metavar="FLAG",
                        help="passed on to train.finetune (repeat), e.g. --finetune-flag=--lr=5e-4")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    started = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("corrections.db", "corrections.db-wal", "corrections.db-shm"):
        (out / stale).unlink(missing_ok=True)  # a fresh store: only this run's corrections

    folder = Path(args.omniglot)
    taught, untaught = letters_of(folder, args.taught), letters_of(folder, args.untaught)
    taught_shown, untaught_shown = renderings(taught), renderings(untaught)
    teach_name = next(iter(taught_shown))
    predictor = Predictor(args.checkpoint)

    # 1. the corrections, through the page's own path
    store = CorrectionStore(out / "corrections.db")
    kept = 0
    for (letter, _), drawing in zip(taught, taught_shown[teach_name]):
        if args.only_misread and letter_matches(letter, predictor.predict(drawing).top5[0][0]):
            continue
        message = keep_correction(store, predictor, drawing, letter, drawing=drawing.to_json())
        kept += message.startswith(CORRECTION_NOTE_KEPT)
        if not message.startswith(CORRECTION_NOTE_KEPT):
            print(f"{letter}: {message}")
    print(f"{kept} corrections of drawers {args.taught} kept in {out / 'corrections.db'}")

    groups = {"taught": (taught, {k: v for k, v in taught_shown.items() if k != teach_name}),
              "taught, the taught rendering itself": (taught, {teach_name: taught_shown[teach_name]}),
              "untaught": (untaught, untaught_shown)}
    before = score_all(predictor, groups)

    # 2. fine-tune
    command = ["--corrections", str(out / "corrections.db"), "--data-dir", args.emnist, "--checkpoint",
               args.checkpoint, "--budget-minutes", str(args.budget_minutes), "--out", str(out / "run"),
               "--held-out", "0", *args.finetune_flag]
    print("python -m train.finetune " + " ".join(command), flush=True)
    if finetune.main(command) != 0:
        return 2
    record = json.loads((out / "run" / "finetune.json").read_text())
    after = score_all(Predictor(out / "run" / finetune.FINAL), groups)

    # 3. the figures
    def mean(scores: dict, group: str) -> float:
        return float(np.mean([s["strict_top1"] for s in scores[group].values()]))

    report = {"checkpoint": args.checkpoint, "taught_drawers": args.taught, "untaught_drawers": args.untaught,
              "corrections": kept, "only_misread": args.only_misread, "before": before, "after": after,
              "emnist_val_before": finetune.headline(record["before"]["pool_val"]),
              "emnist_val_after": finetune.headline(record["after"]["pool_val"]),
              "finetune": {k: record[k] for k in ("command", "steps", "replayed_pool_images", "minutes")}}
    print(f"\n{'strict top-1':<52}{'before':>8}{'after':>8}")
    for group in groups:
        for name in before[group]:
            print(f"{group + ': ' + name:<52}{before[group][name]['strict_top1']:>8.1%}"
                  f"{after[group][name]['strict_top1']:>8.1%}")
    taught_after, untaught_drop = mean(after, "taught"), mean(before, "untaught") - mean(after, "untaught")
    emnist_drop = report["emnist_val_before"] - report["emnist_val_after"]
    print(f"{'taught writers, other renderings, mean':<52}{mean(before, 'taught'):>8.1%}{taught_after:>8.1%}")
    print(f"{'untaught writers, all renderings, mean':<52}{mean(before, 'untaught'):>8.1%}"
          f"{mean(after, 'untaught'):>8.1%}")
    print(f"{'EMNIST validation (prior-weighted)':<52}{report['emnist_val_before']:>8.2%}"
          f"{report['emnist_val_after']:>8.2%}")
    report["goals_met"] = {"taught >= 95% strict": taught_after >= GOALS["taught_strict"],
                           "untaught not worse by > 2 points": untaught_drop <= GOALS["untaught_max_drop"],
                           "EMNIST within 0.3 points": emnist_drop <= GOALS["emnist_max_drop"]}
    print("goals: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in report["goals_met"].items()))
    print(f"done in {(time.time() - started) / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
