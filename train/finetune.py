"""Fine-tune a finished model on the writers' corrections without losing what it reads well.

    python -m train.finetune --corrections corrections.db --data-dir ../shared/data/emnist-bymerge-offline \
        --budget-minutes 4 --out runs/taught [--checkpoint CKPT] [--save-to checkpoints/taught.pt]

Every batch mixes corrections (lightly augmented) with images replayed from the training pool, so the
model learns the writers' hands and keeps EMNIST's. The run starts from the checkpoint's logits as
learnt (its folded prior correction taken out), keeps BatchNorm's statistics while it trains, and
ends with the same calibration as training (train.calibrate.calibrated_model: BatchNorm statistics,
prior strength and digit source chosen on validation). It validates on the SAME validation images the
checkpoint's run held out (its record's split, train.data.load_recorded_split) and on corrections it
held out, before and after. --save-to is refused when the pool's (prior-weighted) validation falls by
more than save_to.MAX_DROP (unless --force); OUT/model.pt is always written. The new checkpoint's record
says what it was fine-tuned on: the number of corrections, the store's hash, the command.

Exit status: 0 done, 1 done but not saved to --save-to (validation fell), 2 bad flags or input,
130 interrupted.
"""

import argparse
import copy
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint, save_checkpoint
from emnist_core.corrections import CorrectionStore, StoreError, checkpoint_sha256
from emnist_core.model import batchnorm_layers

from .augment import AugmentConfig
from .calibrate import PriorCorrection, as_trained, calibrated_model
from .data import DataError, load_recorded_split
from .evaluate import headline, score, select_device
from .finish import git_commit
from .flags import device_name, folder, new_file, non_negative_float, positive_float, positive_int, probability
from .save_to import save_unless_worse
from .schedule import PROBE_STEPS, lr_at  # PROBE_STEPS: steps timed before the budget is laid out in steps
from .train import make_optimizer, train_step

FINAL = "model.pt"
REPLAN_EVERY = 20  # steps between re-plans, as the step time is measured again (a shared machine varies)
END_PASSES = 8  # validation passes' worth of time the end costs (calibration, scoring), for the plan
END_SLACK_S = 10  # saving the checkpoint and the record


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.finetune", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                                epilog="exit status: 0 done, 1 not saved to --save-to (validation fell), "
                                       "2 bad flags or input, 130 interrupted")
    p.add_argument("--corrections", required=True, help="the corrections store the page wrote (--collect)")
    p.add_argument("--data-dir", required=True, help="the training pool the checkpoint was trained on")
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="the finished model to start from")
    p.add_argument("--budget-minutes", type=positive_float, required=True,
                   help="wall-clock budget, loading, validation and saving included")
    p.add_argument("--out", type=folder, required=True, help="run folder: model.pt and finetune.json")
    p.add_argument("--save-to", type=new_file, help="also copy the model here, if validation held")
    p.add_argument("--force", action="store_true", help="save to --save-to even if validation fell")
    p.add_argument("--held-out", type=probability, default=0.2,
                   help="share of the corrections kept out of training to validate on (none below 5)")
    p.add_argument("--corrections-per-batch", type=positive_int, default=32,
                   help="corrections in every batch; replayed pool images fill the rest")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per step")
    p.add_argument("--steps", type=positive_int, help="train exactly this many steps (default: what the budget allows)")
    p.add_argument("--lr", type=positive_float, default=3e-4, help="peak AdamW learning rate (cosine decay)")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.05, help="AdamW decoupled weight decay")
    p.add_argument("--warmup", type=probability, default=0.05, help="share of steps warming up the lr")
    p.add_argument("--label-smoothing", type=probability, default=0.1, help="cross-entropy label smoothing")
    p.add_argument("--digit-loss-weight", type=non_negative_float, default=0.2, help="weight of the digit head's loss")
    p.add_argument("--augment-strength", type=non_negative_float, default=0.35,
                   help="augmentation of every batch, as a multiple of training's default ranges (light)")
    p.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=positive_int,
                   help="CPU threads (default: torch's choice; 1 is faster on a machine shared with other jobs)")
    p.add_argument("--seed", type=int, default=0, help="seeds the held-out choice, batches and augmentation")
    return p


def held_out_text(m: dict) -> str:
    return f"{m['accuracy']:.3f}" if m["n"] else "(none held out)"


def brief(m: dict) -> dict:
    return {k: v for k, v in m.items() if k != "per_class_accuracy"}


def held_out_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) indices of the corrections: a seeded share held out, none when there are under 5."""
    order = np.random.default_rng(seed).permutation(n)
    n_held = int(round(n * share)) if n >= 5 else 0
    return np.sort(order[n_held:]), np.sort(order[:n_held])


def planned_steps(step: int, elapsed_s: float, left_s: float) -> int:
    """Steps done plus what the time left allows at the pace so far (at least one more)."""
    return step + max(1, int(left_s / max(elapsed_s / step, 1e-6)))


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """BatchNorm keeps the statistics the model was trained with: a few hundred corrections must not move them."""
    for m in batchnorm_layers(model):
        m.eval()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = get_args_parser().parse_args(argv)
    try:
        return run(args, "python -m train.finetune " + shlex.join(argv))
    except (DataError, CheckpointError, StoreError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: nothing saved", file=sys.stderr)
        return 130


def run(args, command: str) -> int:
    started = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    store = CorrectionStore(args.corrections, create=False, readonly=True)
    rows = store.corrections()
    if not rows:
        raise DataError(f"{args.corrections}: no corrections to learn from")
    store_hash = store.content_hash()
    checkpoint = load_checkpoint(args.checkpoint)
    record = checkpoint.training or {}
    if not record.get("split"):
        raise CheckpointError(f"{args.checkpoint}: its record has no validation split, so what it must not "
                              f"forget cannot be measured")
    spec = checkpoint.input_spec
    device = select_device(args.device)
    data = load_recorded_split(record, args.data_dir, device)
    if record.get("n_val") not in (None, len(data.val_y)):
        raise DataError(f"{args.data_dir}: gives {len(data.val_y)} validation images, but {args.checkpoint} was "
                        f"validated on {record['n_val']}: fine-tune on the pool it was trained on")
    correction = PriorCorrection.for_data(data)
    images = torch.from_numpy(np.stack([r.model_input for r in rows]))
    labels = torch.tensor([r.label for r in rows])
    train_idx, held_idx = held_out_split(len(rows), args.held_out, args.seed)
    taught_x, taught_y = images[train_idx].to(device), labels[train_idx].to(device)
    held_x, held_y = images[held_idx], labels[held_idx]
    print(f"{len(rows)} corrections ({len(train_idx)} to learn, {len(held_idx)} held out) from {args.corrections}; "
          f"pool {len(data.train_y)} train / {len(data.val_y)} val images from {data.data_dir}")

    # ---- before: the checkpoint as it is ----
    base = checkpoint.build_model(args.checkpoint).to(device)
    t = time.time()
    before = {"pool_val": score(base, data.val_x, data.val_y, checkpoint.digit_source, spec, data.class_weights),
              "held_out": score(base, held_x, held_y, checkpoint.digit_source, spec),
              "taught": score(base, taught_x.cpu(), taught_y.cpu(), checkpoint.digit_source, spec)}
    val_pass_s = time.time() - t
    print(f"before: pool validation {headline(before['pool_val']):.4f}, held-out corrections "
          f"{held_out_text(before['held_out'])}, taught {before['taught']['accuracy']:.3f}")

    # ---- fine-tune: corrections and replayed pool images in every batch ----
    model = as_trained(checkpoint, correction, device, args.checkpoint).to(memory_format=torch.channels_last)
    hyper = SimpleNamespace(lr=args.lr, weight_decay=args.weight_decay, fused="auto",
                            label_smoothing=args.label_smoothing, digit_loss_weight=args.digit_loss_weight)
    optimizer = make_optimizer(model, hyper, device)
    augment_cfg = AugmentConfig().scaled(args.augment_strength) if args.augment_strength else None
    generator = torch.Generator(device=device).manual_seed(args.seed)
    torch.manual_seed(args.seed)
    k = min(args.corrections_per_batch, args.batch_size)
    total = args.steps or PROBE_STEPS
    step, step_started = 0, time.time()
    # The end (calibration: BatchNorm re-estimated, two variants scored; the scores after) costs a few passes.
    deadline = started + args.budget_minutes * 60 - END_PASSES * val_pass_s - END_SLACK_S
    model.train()
    freeze_batchnorm(model)
    while step < total:
        pick = torch.randint(len(taught_y), (k,), device=device, generator=generator)
        replay = torch.randint(len(data.train_y), (args.batch_size - k,), device=device, generator=generator)
        x = torch.cat([taught_x[pick], data.train_x[replay]])
        y = torch.cat([taught_y[pick], data.train_y[replay]])
        train_step(model, optimizer, x, y, lr_at(step, total, args.lr, args.warmup), hyper, augment_cfg, spec,
                   generator, device.type == "cuda")
        step += 1
        if not args.steps and (step == PROBE_STEPS or step % REPLAN_EVERY == 0):
            total = planned_steps(step, time.time() - step_started, deadline - time.time())
            if step == PROBE_STEPS:
                print(f"{(time.time() - step_started) / step:.2f} s a step: about {total} steps in the budget",
                      flush=True)
    print(f"{step} steps: {step * (args.batch_size - k):,} replayed pool images, each correction learnt "
          f"~{step * k / len(taught_y):.0f} times, {(time.time() - step_started) / 60:.1f} min", flush=True)

    # ---- the same calibration as training, then after ----
    tuned = copy.deepcopy(model).eval()
    final, choice = calibrated_model(lambda: copy.deepcopy(tuned), data.train_x, data.val_x, data.val_y,
                                     data.class_weights, correction, spec, args.seed)
    after = {"pool_val": score(final, data.val_x, data.val_y, choice["digit_source"], spec, data.class_weights),
             "held_out": score(final, held_x, held_y, choice["digit_source"], spec),
             "taught": score(final, taught_x.cpu(), taught_y.cpu(), choice["digit_source"], spec)}
    drop = headline(before["pool_val"]) - headline(after["pool_val"])
    print(f"after {step} steps: pool validation {headline(after['pool_val']):.4f} ({-100 * drop:+.2f} points), "
          f"held-out corrections {held_out_text(after['held_out'])}, "
          f"taught {after['taught']['accuracy']:.3f}")

    entry = {"command": command, "commit": git_commit(), "base_checkpoint": str(args.checkpoint),
             "base_sha256": checkpoint_sha256(args.checkpoint), "store": str(args.corrections),
             "store_sha256": store_hash, "corrections": len(rows), "learnt": len(train_idx),
             "held_out": len(held_idx), "steps": step, "replayed_pool_images": step * (args.batch_size - k),
             "before": {k: brief(m) for k, m in before.items()}, "after": {k: brief(m) for k, m in after.items()},
             "minutes": (time.time() - started) / 60}
    metrics = {**(record.get("metrics") or {}), "val": after["pool_val"], "selection": choice}
    metrics.pop("test", None)  # the test figures were the old model's
    # replace(): the labels and the input spec travel with the weights, whatever the base checkpoint held
    result = replace(checkpoint, state_dict=final.state_dict(), digit_source=choice["digit_source"],
                     training={**record, "metrics": metrics, "finetuned": [*record.get("finetuned", []), entry]})
    out = Path(args.out)
    save_checkpoint(result, out / FINAL)
    (out / "finetune.json").write_text(json.dumps(entry, indent=2))
    print(f"wrote {out / FINAL} and {out / 'finetune.json'} in {(time.time() - started) / 60:.1f} min")
    if args.save_to and not save_unless_worse(result, args.save_to, headline(after["pool_val"]),
                                              headline(before["pool_val"]), f"{args.checkpoint} it started from",
                                              args.force):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
