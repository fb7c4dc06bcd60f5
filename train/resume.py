"""resume.pt: everything a run needs to continue where it stopped, within its own plan and budget.

Written at every validation (and marked finished once model.pt is saved): the last weights, optimiser
and random state, the current epoch's batch order, the schedule, the history, and the flags the run
was started with. `--resume` takes those flags back; flags that only say *how* to run (device, data
location, progress bar...) may be given anew, flags that say *what* is trained may not change.
"""

import argparse
import json
import os
from pathlib import Path

import torch

from emnist_core.checkpoint import CheckpointError, describe_error

RESUME = "resume.pt"
UNBOUNDED_STEPS = 10 ** 9  # --extend-minutes without --epochs lifts the epoch bound
# Flags a resumed run may give anew: they change where and how it runs, not what it learns.
RUN_FLAGS = {"data_dir", "download", "cache_dir", "class_prior", "device", "compile", "precision", "fused",
             "no_progress", "save_to", "force", "out", "resume", "extend_minutes"}


def save(out: Path, state: dict) -> None:
    """Atomically: an interrupted write never leaves a half resume.pt."""
    torch.save(state, out / "resume.tmp")
    os.replace(out / "resume.tmp", out / RESUME)


def load(out: Path) -> dict:
    path = out / RESUME
    if not path.is_file():
        raise CheckpointError(f"{path}: nothing to resume (no interrupted run in {out})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("args", "history", "best", "schedule"):
            state[key] = json.loads(state[key])
        return state
    except Exception as error:  # a corrupt or foreign file
        raise CheckpointError(f"{path}: cannot resume from it ({describe_error(error)})") from None


def restore(state: dict, out: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            generator: torch.Generator, ema: torch.nn.Module | None = None) -> None:
    """Weights, weight average, optimiser moments and the random stream exactly where the run left them."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
    except Exception as error:  # flags that build another model than the run had
        raise CheckpointError(f"{out / RESUME}: does not fit this model ({type(error).__name__})") from None
    generator.set_state(state["generator"])


def forget_older_run(out: Path, best_weights: str) -> None:
    """A new run in a folder that holds an older one: its resume state and best weights go, so that
    nothing of it is resumed or finalised as if it were this run's."""
    for name in (RESUME, best_weights):
        if (out / name).is_file():
            print(f"a new run in {out}: its earlier {name} is removed")
            (out / name).unlink()


def as_saved(state: dict) -> dict:
    """The state with its plain-data parts as JSON strings (weights_only loading takes no dicts of lists)."""
    return {**state, **{key: json.dumps(state[key]) for key in ("args", "history", "best", "schedule")}}


def merge_flags(args: argparse.Namespace, explicit: set[str], recorded: dict) -> argparse.Namespace:
    """The run's recorded flags (its data folder recorded as the absolute path it read, --download or
    not), with the run flags given on this command line on top; a changed training flag is refused
    rather than silently ignored."""
    changed = sorted(k for k in explicit - RUN_FLAGS
                     if k in recorded and getattr(args, k) != recorded[k] and not (k == "epochs" and args.extend_minutes))
    if changed:
        listing = ", ".join(f"--{k.replace('_', '-')} (recorded {recorded[k]!r})" for k in changed)
        raise CheckpointError(f"--resume continues the recorded run, which was trained with other values of "
                              f"{listing}; drop them, or start a new run in another --out")
    merged = argparse.Namespace(**{**vars(args), **recorded})
    for key in explicit & RUN_FLAGS:
        setattr(merged, key, getattr(args, key))
    merged.resume, merged.extend_minutes, merged.out = True, args.extend_minutes, args.out  # where it was found
    if args.extend_minutes and "epochs" in explicit:
        merged.epochs = args.epochs
    return merged


def explicit_flags(make_parser, argv: list[str]) -> set[str]:
    """The destinations of the flags written on this command line, as opposed to defaults."""
    parser = make_parser()
    for action in parser._actions:  # argparse has no public switch for "no defaults"
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))
