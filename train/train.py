"""Train the ByMerge CNN: `python -m train --data-dir DIR` (or `--download`).

Shaped like torchvision's classification reference (train_step / validate / main) with airbench's
on-device data: the whole training set sits on the device as one uint8 tensor, and batching and
augmentation happen there. The schedule is laid out in optimiser steps against the wall-clock budget
(schedule.py); resume.pt lets an interrupted run continue (resume.py). Every setting is a flag of
get_args_parser(), checked where argparse reads it (flags.py).

Exit status: 0 done (or nothing left to do), 1 done but not copied to --save-to (the checkpoint there
validates better; --force) or an unexpected error, 2 bad flags or input, 130 interrupted (Ctrl-C or SIGTERM).
"""

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm  # tqdm.write: lines that do not break the bar

from emnist_core.checkpoint import Checkpoint, CheckpointError, InputSpec, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities
from emnist_core.labels import BYMERGE_CHARS, NUM_CLASSES, NUM_DIGITS
from emnist_core.model import EmnistCNN, ModelConfig, count_parameters

from . import resume
from .augment import AugmentConfig, augment
from .calibrate import BATCHNORM_IMAGES, PriorCorrection, as_trained, folded_correction
from .data import PRIOR_FILE, DataError, TrainingData, has_split, load_split, load_training_data
from .evaluate import compute_metrics, headline, machine_description, select_device, summary
from .finish import BEST_EPOCH, FINAL, finalize, training_record
from .flags import (check_model_shape, device_name, fraction, non_negative_float, non_negative_int, folder,
                    new_file, output_file, positive_float, positive_int, probability, share)
from .pen_data import RENDER_CACHE, PenMix, load_pen_mix, score_text, scores
from .save_to import replaced_figure, save_unless_worse
from .schedule import (PROBE_STEPS, REPLAN_EVERY, Schedule, StepTimer, advance_bar, budget_bar, end_images, lr_at,
                       measure_evaluation, short_run_warning)



class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" only where there is something to say: not for switches and unset options
    (no "(default: False)", "(default: None)"), nor where the help already names its default."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def get_args_parser() -> argparse.ArgumentParser:
    # The console script emnist-train shows its own name; `python -m train` would show __main__.py.
    prog = "emnist-train" if Path(sys.argv[0]).name == "emnist-train" else "python -m train"
    p = argparse.ArgumentParser(prog=prog, description="Train the EMNIST ByMerge CNN.",
                                formatter_class=DefaultsHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data-dir", help="folder with the official IDX files (plain, .gz or gzip.zip) or "
                      "Kaggle's CSVs (emnist-bymerge-{train,test}.csv[.gz] and the mapping)")
    data.add_argument("--download", action="store_true", help="fetch EMNIST via torchvision into --cache-dir")
    data.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/emnist"), help="for --download")
    data.add_argument("--val-fraction", type=fraction, default=0.05, help="stratified validation share")
    data.add_argument("--class-prior", help=f"target class frequencies (default: DATA_DIR/{PRIOR_FILE})")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seeds the validation split alone: members of an ensemble share it")
    data.add_argument("--limit", type=non_negative_int, default=0, help="use only the first N training images (0: all)")
    data.add_argument("--train-share", type=share, default=1.0,
                      help="train on this stratified share of the training part, validate on the same "
                           "images as a full run (a learning curve)")

    pen = p.add_argument_group("pen strokes (UNIPEN)")
    pen.add_argument("--unipen-dir", help="also train on UNIPEN's pen characters (train_r01_v07's folder, holding "
                     "data/ and include/), drawn as the page draws them; validation on sites held out of training")
    pen.add_argument("--unipen-share", type=fraction, default=0.5,
                     help="share of each epoch's images that are pen drawings (drawn to the target class mix)")
    pen.add_argument("--unipen-variants", type=positive_int, default=2,
                     help="varied drawings rendered per training character (brush, size, place, slant)")
    pen.add_argument("--render-cache", default=RENDER_CACHE,
                     help="where rendered pen characters are kept between runs")
    pen.add_argument("--cut-letters", nargs="+", help="also train on letters cut from written words (files of "
                     "`python -m train.cut_letters` or `python -m train.cut_joined`), among the pen drawings")
    pen.add_argument("--omniglot-dir", help="Omniglot's Latin letters (stroke files): scored at the end")
    pen.add_argument("--init-from", help="start from this checkpoint's weights and architecture (its folded "
                     "prior correction taken out) instead of a fresh network: a fine-tune")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=positive_int, default=16, help="most epochs; the budget may cut them")
    opt.add_argument("--budget-minutes", type=positive_float, default=15.0,
                     help="wall-clock budget for the whole run, final evaluation and saving included")
    opt.add_argument("--eval-every", type=non_negative_int, default=0,
                     help="validate every N steps (0: an epoch, more often when epochs are long, "
                          "less when validation would cost over a fifth of the time)")
    opt.add_argument("--batch-size", type=positive_int, default=256, help="images per step")
    opt.add_argument("--lr", type=positive_float, default=2e-3, help="peak AdamW learning rate")
    opt.add_argument("--weight-decay", type=non_negative_float, default=0.05, help="AdamW decoupled weight decay")
    opt.add_argument("--warmup", type=probability, default=0.03, help="share of steps spent warming up the lr")
    opt.add_argument("--label-smoothing", type=probability, default=0.1, help="cross-entropy label smoothing")
    opt.add_argument("--digit-loss-weight", type=non_negative_float, default=0.2, help="weight of the digit head's loss")
    opt.add_argument("--no-augment", action="store_true", help="train on the images as they are")
    opt.add_argument("--augment-strength", type=non_negative_float, default=1.0,
                     help="multiplies every augmentation range (1: the defaults, 0: none)")
    opt.add_argument("--ema", type=probability, default=0.0,
                     help="keep an exponential moving average of the weights with this decay per step "
                          "(e.g. 0.999; 0: off): it is what is validated and saved, the raw weights are "
                          "validated beside it for comparison")

    model = p.add_argument_group("model")
    default = ModelConfig()
    model.add_argument("--widths", type=positive_int, nargs="+", default=list(default.stage_widths),
                       help="channels per stage (each stage halves the image with 2x2 pooling)")
    model.add_argument("--convs", type=positive_int, nargs="+", default=list(default.convs_per_stage),
                       help="convs per stage")
    model.add_argument("--plain", action="store_true", help="no residual skips")
    model.add_argument("--dropout", type=probability, default=default.dropout, help="before the classifier")

    run = p.add_argument_group("run")
    run.add_argument("--out", type=folder, default="runs/latest", help="run folder: checkpoints, metrics, plots")
    run.add_argument("--save-to", type=new_file,
                     help="also copy the final checkpoint here (checkpoints/emnist_bymerge.pt in a clone: the demo's "
                          "model), unless the checkpoint already there validates better on this run's images")
    run.add_argument("--force", action="store_true",
                     help="with --save-to: replace the checkpoint there even if this model validates worse")
    run.add_argument("--resume", action="store_true",
                     help="continue the interrupted run in --out with its recorded flags, plan and budget")
    run.add_argument("--extend-minutes", type=positive_float,
                     help="with --resume: give the run this much more time (also a finished one); "
                          "lifts the --epochs bound unless --epochs is given again")
    run.add_argument("--device", type=device_name, default="auto", help="auto, cpu or cuda")
    run.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                     help="bf16 autocast (CPU too) or plain fp32; auto: bf16 on a GPU")
    run.add_argument("--fused", choices=("auto", "yes", "no"), default="auto",
                     help="fused AdamW kernel; auto: on a GPU")
    run.add_argument("--compile", action="store_true", help="torch.compile the model (needs a C++ compiler on CPU)")
    run.add_argument("--seed", type=int, default=0, help="seeds the init, batches and augmentation")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, set[str]]:
    """The flags, checked (exit 2 on a bad one), and which of them the command line gave."""
    parser = get_args_parser()
    args = parser.parse_args(argv)
    check_model_shape(parser, args.widths, args.convs)
    if args.extend_minutes and not args.resume:
        parser.error("--extend-minutes extends a run: give it with --resume")
    return args, resume.explicit_flags(get_args_parser, argv)


def smaller_batch(n_train: int) -> int:
    """A batch size for a training part of n_train images: a power of two that gives about four steps an
    epoch (at least one image: BatchNorm averages over each image's pixels too)."""
    return 1 << max(0, (n_train // 4).bit_length() - 1)


def use_bf16(args, device: torch.device) -> bool:
    return args.precision == "bf16" or (args.precision == "auto" and device.type == "cuda")


def use_fused_adamw(args, device: torch.device) -> bool:
    """The fused kernel is one launch per step instead of one per tensor: a clear win on a GPU."""
    return args.fused == "yes" or (args.fused == "auto" and device.type == "cuda")


def make_optimizer(model: EmnistCNN, args, device: torch.device) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and BatchNorm parameters."""
    decay = [p for p in model.parameters() if p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.dim() <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=args.lr,
                             fused=use_fused_adamw(args, device))


def train_step(model, optimizer, images, labels, lr: float, args, augment_cfg, spec, generator,
               bf16: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch of on-device uint8 images; returns (loss, logits), not synced."""
    x = images.unsqueeze(1).float().div_(255)
    if augment_cfg is not None:
        x = augment(x, augment_cfg, generator)
    x = ((x - spec.mean) / spec.std).contiguous(memory_format=torch.channels_last)  # faster convs, CPU too
    for group in optimizer.param_groups:
        group["lr"] = lr
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
        logits, digit_logit = model(x)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=args.label_smoothing)
        loss = loss + args.digit_loss_weight * F.binary_cross_entropy_with_logits(
            digit_logit.float(), (labels < NUM_DIGITS).float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def make_ema(model: EmnistCNN, decay: float) -> AveragedModel | None:
    """The weight average, BatchNorm statistics included (use_buffers): the average is a model of its own."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def validate(model: EmnistCNN, data: TrainingData, spec: InputSpec, pen: PenMix | None = None) -> tuple[dict, float]:
    """Validation metrics and the score that picks the best weights (prior-weighted when known); with pen
    data, the score is the mean of that and the held-out pen characters' strict accuracy."""
    logits, digit_logits = model_outputs(model, data.val_x, spec)
    val = compute_metrics(*probabilities(logits, digit_logits, "sum"), data.val_y, data.class_weights)
    score = val.get("prior_weighted_accuracy", val["accuracy"])
    if pen:
        pen_logits, pen_digit = model_outputs(model, torch.from_numpy(pen.val.images), spec)
        val["unipen"] = scores(*probabilities(pen_logits, pen_digit, "sum"), pen.val, BYMERGE_CHARS)
        score = (score + val["unipen"]["all"]["strict"]) / 2
    return val, score


def epoch_order(n_emnist: int, pen: PenMix | None, generator: torch.Generator, device) -> torch.Tensor:
    """One epoch's images in a random order: every EMNIST image once, and the pen drawings' share drawn
    by their sample weights (indices after EMNIST's, as the pool holds them)."""
    if pen is None:
        return torch.randperm(n_emnist, device=device, generator=generator)
    weights = torch.from_numpy(pen.weights).to(device)
    drawn = n_emnist + torch.multinomial(weights, pen.count(n_emnist), replacement=True, generator=generator)
    order = torch.cat([torch.arange(n_emnist, device=device), drawn])
    return order[torch.randperm(len(order), device=device, generator=generator)]


def raise_interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args, explicit = parse_args(argv)
    # SIGTERM behaves like Ctrl-C: stop, keep the best checkpoint and the resume state on disk.
    previous_sigterm = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        return run(args, explicit, "python -m train " + shlex.join(argv))
    except (DataError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted before training started: nothing saved", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)


def run(args, explicit: set[str], command: str) -> int:
    started = time.time()
    out = Path(args.out)
    state = None
    if args.resume:
        state = resume.load(out)
        if state["finished"] and not args.extend_minutes:
            print(f"{out} holds a finished run ({state['step']} steps, {out / FINAL}): nothing to do, nothing "
                  f"changed; `--resume --extend-minutes M` trains it further")
            return 0
        args = resume.merge_flags(args, explicit, state["args"])
        started -= state["elapsed_s"]  # the budget counts the time the run has already had
        command = f"{state['command']} (resumed: {command})"
    device = select_device(args.device)
    data = load_training_data(args, device)
    print(f"data: {len(data.train_y)} train / {len(data.val_y)} val images from {data.data_dir}; device "
          f"{machine_description(device)}; prior correction "
          f"{'towards ' + str(data.prior_path) if data.prior_path else f'off (no {PRIOR_FILE})'}")
    if state and state["n_train"] != len(data.train_y):
        raise CheckpointError(f"{out / resume.RESUME} trained on {state['n_train']} images, this data gives "
                              f"{len(data.train_y)}: resume with the run's own data")
    test = load_split(data.data_dir, "test") if has_split(data.data_dir, "test") else None
    # Bayes' rule moves the model from the training pool's class mix to the target's (calibrate.py).
    correction = PriorCorrection.for_data(data)
    spec = InputSpec()
    torch.manual_seed(args.seed)
    generator = torch.Generator(device=device).manual_seed(args.seed)

    config = ModelConfig(stage_widths=tuple(args.widths), convs_per_stage=tuple(args.convs),
                         residual=not args.plain, dropout=args.dropout, num_classes=NUM_CLASSES)
    pen = load_pen_mix(args.unipen_dir, args.render_cache, args.unipen_variants, args.unipen_share,
                       data.target_prior, args.cut_letters) if args.unipen_dir else None
    if pen:  # the pool now holds the pen drawings too: its class mix, and so the correction, changes
        n_emnist = len(data.train_y)
        correction = pen.correction(data)
        print(f"unipen: {len(pen.train.labels)} training drawings, {len(pen.val.labels)} validation characters from "
              f"sites {', '.join(pen.val_sites)}; {pen.count(n_emnist)} pen drawings an epoch beside {n_emnist} "
              f"EMNIST images")
    if args.init_from:  # the start's folded correction taken out: the logits as its network learnt them
        start = load_checkpoint(args.init_from)
        folded = folded_correction(start, data, pen)
        model, config, spec = as_trained(start, folded, device, args.init_from), start.model_config, start.input_spec
    else:
        model = EmnistCNN(config).to(device)
    train_x, train_y = data.train_x, data.train_y
    if pen:
        train_x = torch.cat([train_x, torch.from_numpy(pen.train.images).to(device)])
        train_y = torch.cat([train_y, torch.from_numpy(pen.train.labels).to(train_y)])
    # channels_last on every device: `python -m bench.channels_last` times it against contiguous tensors
    model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, args, device)
    ema = make_ema(model, args.ema)
    kept = ema.module if ema else model  # the weights validated and saved
    step_model = torch.compile(model) if args.compile else model
    bf16 = use_bf16(args, device)
    print(f"model: {count_parameters(model):,} parameters, {config}; {'bf16 autocast' if bf16 else 'fp32'}"
          f"{', fused AdamW' if use_fused_adamw(args, device) else ''}{', compiled' if args.compile else ''}"
          f"{f', weight average (EMA {args.ema:g})' if ema else ''}")
    augment_cfg = None if args.no_augment or args.augment_strength == 0 else AugmentConfig().scaled(args.augment_strength)

    per_epoch = len(data.train_y) + (pen.count(len(data.train_y)) if pen else 0)
    steps_per_epoch = per_epoch // args.batch_size  # the ragged last batch is dropped: BatchNorm dislikes tiny ones
    if per_epoch == 0:
        raise DataError(f"validation took every image, none are left to train on: use more data, or a smaller "
                        f"--val-fraction than {args.val_fraction}")
    if steps_per_epoch == 0:
        raise DataError(f"only {per_epoch} training images: fewer than one batch of {args.batch_size}; "
                        f"give a smaller --batch-size (--batch-size {smaller_batch(per_epoch)}) or use more data")
    if state:
        resume.restore(state, out, model, optimizer, generator, ema)
        order, step, history, best = state["order"].to(device), state["step"], state["history"], state["best"]
        schedule = Schedule(**state["schedule"])
        if args.extend_minutes:
            schedule.budget_s += 60 * args.extend_minutes
            schedule.max_steps = args.epochs * steps_per_epoch if "epochs" in explicit else resume.UNBOUNDED_STEPS
        if step < schedule.total_steps or args.extend_minutes:  # a run stopped while finishing just finishes
            schedule.replan(step, time.time() - started)
        print(f"resumed {out / resume.RESUME} at step {step}; "
              f"{schedule.describe(args.batch_size, started, time.time() - started, step)}")
    else:
        resume.forget_older_run(out, BEST_EPOCH)  # never resumed or finalised by this run
        order, step, history, best = None, 0, [], {"score": -1.0, "step": 0, "epoch": 0}
        schedule = Schedule.provisional(args.budget_minutes * 60, steps_per_epoch, args.epochs, args.eval_every)
    out.mkdir(parents=True, exist_ok=True)

    record = training_record(command, args, data, augment_cfg, device)

    def make_checkpoint(m: EmnistCNN, digit_source: str, extra: dict) -> Checkpoint:
        return Checkpoint(model_config=config, state_dict=m.state_dict(), input_spec=spec,
                          digit_source=digit_source, training={**record, **extra})

    def save_state(finished: bool) -> None:
        resume.save(out, resume.as_saved({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
            **({"ema": ema.state_dict()} if ema else {}),
            "order": order.cpu(), "step": step, "history": history, "best": best, "schedule": schedule.to_dict(),
            "args": {**vars(args), "data_dir": str(data.data_dir.resolve()), "download": False},
            "n_train": len(train_x), "command": record["command"], "elapsed_s": time.time() - started,
            "finished": finished}))

    bar = budget_bar(schedule.budget_s, time.time() - started, args.no_progress)
    first_step, timer = step, StepTimer(step)
    loss_sum = correct = seen = 0  # sampled at the sync points since the last validation
    try:
        while step < schedule.total_steps:
            position = step % steps_per_epoch
            if position == 0 or order is None:
                order = epoch_order(len(data.train_y), pen, generator, device)
            idx = order[position * args.batch_size:(position + 1) * args.batch_size]
            lr = lr_at(step, schedule.total_steps, args.lr, args.warmup)
            loss, logits = train_step(step_model, optimizer, train_x[idx], train_y[idx], lr, args, augment_cfg,
                                      spec, generator, bf16)
            if ema:
                ema.update_parameters(model)
            step += 1
            advance_bar(bar, time.time() - started)
            probe_done = not schedule.planned and (step - first_step >= PROBE_STEPS or step >= schedule.total_steps)
            validating = step >= schedule.total_steps or step % schedule.eval_every == 0
            if step % REPLAN_EVERY == 0 or step == first_step + 1 or probe_done or validating:
                loss_sum += loss.item() * len(idx)  # .item() syncs the GPU: only at these points
                correct += (logits.argmax(1) == train_y[idx]).sum().item()
                seen += len(idx)
                bar.set_postfix(step=f"{step}/{schedule.total_steps}", loss=f"{loss_sum / seen:.3f}",
                                acc=f"{correct / seen:.3f}", lr=f"{lr:.1e}", refresh=False)
                step_s = timer.lap(step)
                if probe_done:
                    image_s, save_s = measure_evaluation(model, optimizer, data.val_x, spec)
                    schedule.first_plan(step, time.time() - started, step_s, image_s * len(data.val_x) + save_s, image_s,
                                        end_images(min(BATCHNORM_IMAGES, len(train_x)), len(data.val_x),
                                                   len(test[1]) if test else 0))
                    print(schedule.describe(args.batch_size, started, time.time() - started, step), flush=True)
                    timer.restart(step)
                    validating = step >= schedule.total_steps or step % schedule.eval_every == 0
                elif schedule.planned and step % REPLAN_EVERY == 0:
                    schedule.replan(step, time.time() - started, step_s)
            if validating:
                t = time.time()
                val, score = validate(kept, data, spec, pen)
                raw = {}
                if ema:  # the same step's raw weights: a paired measure of what the average gains
                    raw_val, raw_score = validate(model, data, spec)
                    raw = {"raw_val_accuracy": raw_val["accuracy"], "raw_val_score": raw_score,
                           "raw_val_digit_letter_accuracy": raw_val["digit_letter_accuracy"]}
                model.train()
                history.append({"step": step, "epoch": round(step / steps_per_epoch, 3),
                                "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                                "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"],
                                "val_digit_letter_accuracy": val["digit_letter_accuracy"], "val_score": score,
                                **raw, **({"val_unipen_strict": val["unipen"]["all"]["strict"],
                                           "val_unipen_tolerant": val["unipen"]["all"]["tolerant"]} if pen else {}),
                                "lr": lr, "elapsed_seconds": time.time() - started})
                loss_sum = correct = seen = 0
                improved = score > best["score"]
                if improved:
                    best = {"score": score, "step": step, "epoch": history[-1]["epoch"]}
                    save_checkpoint(make_checkpoint(kept, "sum", {"step": step, "epoch": best["epoch"], "val": val}),
                                    out / BEST_EPOCH)
                save_state(finished=False)
                schedule.observe_validation(time.time() - t, len(data.val_x))
                if step < schedule.total_steps:  # at the planned end the learning rate is at its floor: stop
                    schedule.replan(step, time.time() - started)
                h = history[-1]
                tqdm.write(f"step {step}/{schedule.total_steps} (epoch {h['epoch']:.2f}): loss {h['train_loss']:.4f} "
                           f"train acc {h['train_accuracy']:.4f} | val acc {val['accuracy']:.4f} score {score:.4f} "
                           f"digit/letter {val['digit_letter_accuracy']:.4f}{' *best*' if improved else ''}"
                           f"{f' (raw weights: score {raw_score:.4f})' if ema else ''} | "
                           f"lr {lr:.1e}, {(time.time() - started) / 60:.1f} min so far", file=sys.stdout)
                timer.restart(step)  # validation time is not step time
        bar.close()
        # ---- final: best weights, prior-correction strength and digit source chosen on validation ----
        final = finalize(out, best, data, test, correction, device, make_checkpoint, history, started, args, pen)
        save_state(finished=True)
    except KeyboardInterrupt:
        bar.close()
        if (out / resume.RESUME).is_file():
            print(f"\ninterrupted at step {step} of {schedule.total_steps}: best checkpoint so far is "
                  f"{out / BEST_EPOCH} (step {best['step']}); continue with --resume --out {out}", file=sys.stderr)
        else:
            print(f"\ninterrupted at step {step}, before the first validation: nothing saved; start the run "
                  f"again", file=sys.stderr)
        return 130
    print(summary(final["val"], "validation (best weights, final model)"))
    if "unipen_val" in final:
        print(score_text(final["unipen_val"], f"UNIPEN validation, sites never trained on "
                                              f"({', '.join(final['unipen_val_sites'])})"))
    if "drawings" in final:
        print(score_text({"letters": final["drawings"]}, "Omniglot drawings, plainly drawn"))
    if "test" in final:
        print(summary(final["test"], "official test split"))
    print(f"done in {(time.time() - started) / 60:.1f} min (budget {schedule.budget_s / 60:g} min): {out / FINAL}")
    warning = short_run_warning(step, steps_per_epoch, final["val"]["accuracy"], out)
    if warning:
        print(warning, file=sys.stderr)
    if args.save_to:
        old, name = replaced_figure(args.save_to, data.val_x, data.val_y, data.class_weights, device)
        if not save_unless_worse(load_checkpoint(out / FINAL), args.save_to, headline(final["val"]), old, name,
                                 args.force):
            return 1
    return 0

