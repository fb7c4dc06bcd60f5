"""Train the ByMerge CNN: `python -m train --data-dir DIR` (or `--download`).

Shaped like torchvision's classification reference (train_one_epoch / evaluate / main) with
airbench's on-device data: the whole training set sits on the device as one uint8 tensor, and
batching and augmentation happen there. Every setting is a flag of get_args_parser().
"""

import argparse
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from emnist_core.checkpoint import (Checkpoint, CheckpointError, InputSpec, describe_error, load_checkpoint,
                                    save_checkpoint)
from emnist_core.inference import model_outputs, probabilities
from emnist_core.labels import NUM_CLASSES, NUM_DIGITS
from emnist_core.model import EmnistCNN, ModelConfig, count_parameters

from . import calibrate, report
from .augment import AugmentConfig, augment
from .calibrate import PriorCorrection
from .data import PRIOR_FILE, DataError, TrainingData, has_split, load_split, load_training_data
from .evaluate import compute_metrics, machine_description, select_device, summary

BEST_EPOCH = "best_epoch.pt"  # the best epoch's weights as trained, written whenever validation improves
FINAL = "model.pt"  # the finished model: best epoch, prior correction folded in, test-scored


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the EMNIST ByMerge CNN.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", help="folder with the official IDX files (plain, .gz or gzip.zip)")
    data.add_argument("--download", action="store_true", help="fetch EMNIST via torchvision into --cache-dir")
    data.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/emnist"), help="for --download")
    data.add_argument("--val-fraction", type=float, default=0.05, help="stratified validation share")
    data.add_argument("--class-prior", help=f"target class frequencies (default: DATA_DIR/{PRIOR_FILE})")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seeds the validation split alone: members of an ensemble share it")
    data.add_argument("--limit", type=int, default=0, help="use only the first N training images (0: all)")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=int, default=16, help="most epochs; the budget may cut them")
    opt.add_argument("--budget-minutes", type=float, default=15.0, help="wall-clock budget for the whole run")
    opt.add_argument("--batch-size", type=int, default=256, help="images per step")
    opt.add_argument("--lr", type=float, default=2e-3, help="peak AdamW learning rate")
    opt.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decoupled weight decay")
    opt.add_argument("--warmup", type=float, default=0.03, help="share of steps spent warming up the lr")
    opt.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing")
    opt.add_argument("--digit-loss-weight", type=float, default=0.2, help="weight of the digit head's loss")
    opt.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    opt.add_argument("--augment-strength", type=float, default=1.0,
                     help="multiplies every augmentation range (1: the defaults, 0: none)")

    model = p.add_argument_group("model")
    default = ModelConfig()
    model.add_argument("--widths", type=int, nargs="+", default=list(default.stage_widths),
                       help="channels per stage")
    model.add_argument("--convs", type=int, nargs="+", default=list(default.convs_per_stage),
                       help="convs per stage")
    model.add_argument("--plain", action="store_true", help="no residual skips")
    model.add_argument("--dropout", type=float, default=default.dropout, help="before the classifier")

    run = p.add_argument_group("run")
    run.add_argument("--out", default="runs/latest", help="run folder: checkpoints, metrics, plots")
    run.add_argument("--save-to", help="also copy the final checkpoint here (e.g. checkpoints/emnist_bymerge.pt)")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    run.add_argument("--seed", type=int, default=0, help="seeds the split, init and batches")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def lr_at(step: int, total_steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak at total_steps."""
    warm = max(1, int(warmup * total_steps))
    if step < warm:
        return peak * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total_steps - warm))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: EmnistCNN, args, device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and BatchNorm parameters."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=args.lr,
                             fused=device.type == "cuda")


def train_one_epoch(model, optimizer, images, labels, args, step, total_steps, augment_cfg, spec,
                    generator, device, epoch_label) -> tuple[float, float, int]:
    """One pass over the on-device training tensors; returns (mean loss, accuracy, next step)."""
    model.train()
    n = len(images)
    order = torch.randperm(n, device=device, generator=generator)
    n_steps = n // args.batch_size  # drop the ragged last batch: BatchNorm dislikes tiny ones
    loss_sum = correct = seen = 0
    bar = tqdm(range(n_steps), desc=epoch_label, disable=args.no_progress, leave=False,
               dynamic_ncols=True)
    for i in bar:
        idx = order[i * args.batch_size:(i + 1) * args.batch_size]
        x = images[idx].unsqueeze(1).float().div_(255)
        if augment_cfg is not None:
            x = augment(x, augment_cfg, generator)
        x = (x - spec.mean) / spec.std
        x = x.contiguous(memory_format=torch.channels_last)  # faster convs on GPU and CPU alike
        y = labels[idx]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, args.lr, args.warmup)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits, digit_logit = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=args.label_smoothing)
            loss = loss + args.digit_loss_weight * F.binary_cross_entropy_with_logits(
                digit_logit.float(), (y < NUM_DIGITS).float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if i % 20 == 0 or i == n_steps - 1:  # .item() syncs the GPU: do it rarely
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}",
                            lr=f"{optimizer.param_groups[0]['lr']:.1e}")
    return loss_sum / max(1, seen), correct / max(1, seen), step


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = get_args_parser().parse_args(argv)
    try:
        return run(args, "python -m train " + shlex.join(argv))
    except (DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def raise_interrupt(*_):
    raise KeyboardInterrupt


def run(args, command: str) -> int:
    started = time.time()
    budget_s = args.budget_minutes * 60
    device = select_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    data = load_training_data(args, device)
    print(f"data: {len(data.train_y)} train / {len(data.val_y)} val images from {data.data_dir}; device "
          f"{machine_description(device)}; prior correction "
          f"{'towards ' + str(data.prior_path) if data.prior_path else f'off (no {PRIOR_FILE})'}")
    # Bayes' rule moves the model from the training pool's class mix to the target's (calibrate.py).
    correction = PriorCorrection.for_data(data)
    train_x, train_y = data.train_x, data.train_y
    spec = InputSpec()
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=device).manual_seed(args.seed)

    # ---- model ------------------------------------------------------------------------------
    config = ModelConfig(stage_widths=tuple(args.widths), convs_per_stage=tuple(args.convs),
                         residual=not args.plain, dropout=args.dropout, num_classes=NUM_CLASSES)
    # channels_last: measured 35% faster on a 2-core CPU too (see README, Speed)
    model = EmnistCNN(config).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, args, device)
    step_model = torch.compile(model) if args.compile else model
    print(f"model: {count_parameters(model):,} parameters, {config}")
    augment_cfg = None if args.no_augment or args.augment_strength == 0 else AugmentConfig().scaled(args.augment_strength)

    steps_per_epoch = len(train_x) // args.batch_size
    if steps_per_epoch == 0:
        raise DataError(f"only {len(train_x)} training images: fewer than one batch of {args.batch_size}")
    planned_epochs = args.epochs
    history, best = [], {"score": -1.0, "epoch": 0}
    step, first_epoch = 0, 1
    resume_path = out / "resume.pt"
    if args.resume:
        if not resume_path.is_file():
            raise CheckpointError(f"{resume_path}: nothing to resume")
        try:
            state = torch.load(resume_path, map_location=device, weights_only=True)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            generator.set_state(state["generator"].cpu())
            step, first_epoch = state["step"], state["epoch"] + 1
            planned_epochs, history, best = state["planned_epochs"], json.loads(state["history"]), json.loads(state["best"])
            started -= state["elapsed_s"]
        except Exception as error:  # corrupt file, or other model flags than the run had
            raise CheckpointError(f"{resume_path}: cannot resume from it ({describe_error(error)}); "
                                  f"resume with the run's own flags") from None
        # The learning-rate schedule was laid out for the recorded plan, so the plan stands.
        print(f"resumed {resume_path} after epoch {state['epoch']} of {planned_epochs}"
              f"{' (--epochs ignored: a resumed run keeps its plan)' if args.epochs != planned_epochs else ''}")

    # SIGTERM behaves like Ctrl-C: stop, keep the best checkpoint and the resume state on disk.
    previous_sigterm = signal.signal(signal.SIGTERM, raise_interrupt)
    reserve_s = 0.0  # time kept back for the final evaluation and saving, measured as we go

    def make_checkpoint(m: EmnistCNN, digit_source: str, extra: dict) -> Checkpoint:
        """The model with its training record: command, data, split, recipe, results."""
        record = {"command": command, "commit": git_commit(), "machine": machine_description(device),
                  "data_dir": str(data.data_dir), "n_train": len(train_x), "n_val": len(data.val_x),
                  "split": {"val_fraction": args.val_fraction, "seed": args.split_seed, "limit": args.limit},
                  "augment": asdict(augment_cfg) if augment_cfg else None,
                  "hyperparameters": {k: v for k, v in vars(args).items()
                                      if k not in ("resume", "no_progress", "save_to", "out")},
                  **extra}
        return Checkpoint(model_config=config, state_dict=m.state_dict(), input_spec=spec,
                          digit_source=digit_source, training=record)

    try:
        epoch = first_epoch
        while epoch <= planned_epochs:
            t0 = time.time()
            loss, acc, step = train_one_epoch(step_model, optimizer, train_x, train_y, args, step,
                                              planned_epochs * steps_per_epoch, augment_cfg, spec,
                                              generator, device, f"epoch {epoch}/{planned_epochs}")
            t1 = time.time()
            logits, digit_logits = model_outputs(model, data.val_x, spec)
            probs, p_digit = probabilities(logits, digit_logits, "sum")
            val = compute_metrics(probs, p_digit, data.val_y, data.class_weights)
            score = val.get("prior_weighted_accuracy", val["accuracy"])
            t2 = time.time()
            history.append({"epoch": epoch, "train_loss": loss, "train_accuracy": acc,
                            "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"],
                            "val_digit_letter_accuracy": val["digit_letter_accuracy"],
                            "val_score": score, "lr": optimizer.param_groups[0]["lr"],
                            "epoch_seconds": t2 - t0, "elapsed_seconds": t2 - started})
            improved = score > best["score"]
            if improved:
                best = {"score": score, "epoch": epoch}
                save_checkpoint(make_checkpoint(model, "sum", {"epoch": epoch, "val": val}), out / BEST_EPOCH)
            print(f"epoch {epoch}/{planned_epochs}: loss {loss:.4f} train acc {acc:.4f} | val acc "
                  f"{val['accuracy']:.4f} score {score:.4f} digit/letter {val['digit_letter_accuracy']:.4f}"
                  f"{' *best*' if improved else ''} | {t1 - t0:.0f}s train {t2 - t1:.0f}s eval, "
                  f"{(t2 - started) / 60:.1f} min so far", flush=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "generator": generator.get_state(), "step": step, "epoch": epoch,
                        "planned_epochs": planned_epochs, "history": json.dumps(history),
                        "best": json.dumps(best), "elapsed_s": time.time() - started},
                       out / "resume.tmp")
            os.replace(out / "resume.tmp", resume_path)
            # Lay the rest of the schedule against the budget: shorten it if the epochs to come
            # would not finish, evaluated and saved, in time.
            reserve_s = max(reserve_s, 3 * (t2 - t1) + 10)
            epoch_s = t2 - t0
            left_s = budget_s - (time.time() - started) - reserve_s
            affordable = epoch + int(left_s // epoch_s)
            if affordable < planned_epochs:
                planned_epochs = max(epoch, affordable)
                print(f"budget: {args.budget_minutes:g} min allows {planned_epochs} epochs; schedule shortened")
            epoch += 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: best checkpoint so far is {out / BEST_EPOCH} (epoch {best['epoch']}); "
              f"continue with --resume --out {out}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)

    # ---- final: best epoch, prior-correction strength and digit source chosen on validation ------
    final = finalize(out, best, data, correction, device, make_checkpoint, history, started, args)
    print(summary(final["val"], "validation (best epoch, final model)"))
    if "test" in final:
        print(summary(final["test"], "official test split"))
    print(f"done in {(time.time() - started) / 60:.1f} min: {out / FINAL}")
    return 0


def finalize(out: Path, best: dict, data: TrainingData, correction: PriorCorrection | None,
             device: torch.device, make_checkpoint, history: list[dict], started: float, args) -> dict:
    """The best epoch's model with its BatchNorm statistics (as trained, or re-estimated on clean
    images), prior-correction strength and digit source chosen on validation, scored once on the test
    split if there is one, saved with everything it needs."""
    spec = InputSpec()
    model, choice = calibrate.calibrated_model(
        lambda: load_checkpoint(out / BEST_EPOCH).build_model(str(out / BEST_EPOCH)).to(device),
        data.train_x, data.val_x, data.val_y, data.class_weights, correction, spec, args.seed)
    logits, digit_logits = model_outputs(model, data.val_x, spec)
    probs, p_digit = probabilities(logits, digit_logits, choice["digit_source"])
    result = {"best_epoch": best["epoch"], "val": compute_metrics(probs, p_digit, data.val_y, data.class_weights),
              "selection": choice}
    if has_split(data.data_dir, "test"):  # scored once, at the very end, never used for any choice
        test_x, test_y = load_split(data.data_dir, "test")
        t_logits, t_digit = model_outputs(model, torch.from_numpy(test_x), spec)
        result["test"] = compute_metrics(*probabilities(t_logits, t_digit, choice["digit_source"]),
                                         torch.from_numpy(test_y))
    result["train_minutes"] = (time.time() - started) / 60
    checkpoint = make_checkpoint(model, choice["digit_source"],
                                 {"epoch": best["epoch"], "metrics": result, "history": history})
    save_checkpoint(checkpoint, out / FINAL)
    if args.save_to:
        save_checkpoint(checkpoint, args.save_to)
    with open(out / "metrics.json", "w") as f:
        json.dump({"command": checkpoint.training["command"], "machine": checkpoint.training["machine"],
                   **result, "history": history}, f, indent=2)
    report.write_all(out, history, probs, data.val_y, result)
    return result
