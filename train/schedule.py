"""The training schedule in optimiser steps, laid out against the wall-clock budget.

A run's budget covers everything: loading data, training, validating, and the final evaluation,
calibration and saving. The first steps and an evaluation are timed; the plan is the number of steps
that fit what is left once the end's work is set aside, capped by --epochs. The plan is laid again
as measured speed changes, and the cosine learning rate always decays to the planned end, so a run
stops at the bottom of its schedule, not mid-peak, however long an epoch is.
"""

import io
import math
import time
from dataclasses import asdict, dataclass

import torch

from emnist_core.checkpoint import InputSpec
from emnist_core.inference import model_outputs

PROBE_STEPS = 6  # steps timed before the first plan; the first is left out (caches, compilation)
REPLAN_EVERY = 20  # steps between re-plans; the loss is read (a GPU sync) at the same cadence
MIN_VALIDATIONS = 8  # validate at least this often per run when an epoch is long
MAX_EVAL_SHARE = 0.2  # validating may cost at most this share of the training time
EVAL_PROBE_IMAGES = 1024  # validation images timed before the first plan
SAVE_ALLOWANCE_S = 5.0  # writing the final checkpoint, metrics and plots (matplotlib starts up)
END_WORK_MARGIN = 1.5  # BatchNorm re-estimation runs in training mode, slower than evaluation


def slack_s(budget_s: float) -> float:
    """How far past --budget-minutes a run may end: measurements are estimates."""
    return max(10.0, 0.05 * budget_s)


def lr_at(step: int, total_steps: int, peak: float, warmup: float) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak at total_steps."""
    warm = max(1, int(warmup * total_steps))
    if step < warm:
        return peak * (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total_steps - warm))
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class Schedule:
    """The plan and the measurements it rests on; saved in resume.pt as a plain dict."""
    budget_s: float  # the whole run, end work included
    steps_per_epoch: int
    max_steps: int  # --epochs worth of steps: the plan never goes past it
    total_steps: int  # the planned end; laid again as speed is measured
    eval_every: int  # steps between validations; fixed by the first plan (or --eval-every)
    step_s: float = 0.0  # measured seconds per optimiser step
    eval_s: float = 0.0  # estimated seconds per validation, saving included
    end_s: float = 0.0  # estimated seconds for final evaluation, calibration and saving
    image_s: float = 0.0  # seconds to evaluate one image: the slowest seen, the machine may slow down
    end_images: int = 0  # images the end evaluates (BatchNorm re-estimation counted as evaluation)
    probe_step_s: float = 0.0  # seconds per step when image_s was measured: slowdowns since then scale it
    planned: bool = False  # False until the probe steps have been timed
    fixed_eval_every: bool = False  # given by --eval-every, not chosen by the plan

    @classmethod
    def provisional(cls, budget_s: float, steps_per_epoch: int, epochs: int, eval_every: int = 0) -> "Schedule":
        """Before anything is timed: the --epochs bound; eval_every 0 is chosen by the first plan."""
        max_steps = epochs * steps_per_epoch
        return cls(budget_s, steps_per_epoch, max_steps, max_steps, eval_every or steps_per_epoch,
                   fixed_eval_every=eval_every > 0)

    def to_dict(self) -> dict:
        return asdict(self)

    def steps_affordable(self, step: int, elapsed_s: float) -> int:
        """Steps from `step` that fit the budget with a validation every eval_every steps, one at
        the end, and the end work after it."""
        left_s = self.budget_s - elapsed_s - self.end_s - self.eval_s
        per_step_s = self.step_s + self.eval_s / self.eval_every
        return max(0, int(left_s / per_step_s)) if per_step_s > 0 else self.max_steps

    def first_plan(self, step: int, elapsed_s: float, step_s: float, eval_s: float, image_s: float,
                   end_images: int) -> None:
        """Lay the plan from the probe's measurements; choose how often to validate."""
        self.step_s, self.eval_s, self.image_s, self.end_images, self.planned = step_s, eval_s, image_s, end_images, True
        self.probe_step_s = step_s
        self.end_s = end_work_s(image_s, end_images)
        rough = min(self.max_steps, step + self.steps_affordable(step, elapsed_s))
        often_enough = math.ceil(rough / MIN_VALIDATIONS)
        cheap_enough = math.ceil(eval_s / (MAX_EVAL_SHARE * step_s)) if step_s > 0 else 1
        if not self.fixed_eval_every:
            self.eval_every = max(1, cheap_enough, min(self.steps_per_epoch, often_enough))
        self.replan(step, elapsed_s)

    def replan(self, step: int, elapsed_s: float, step_s: float | None = None) -> None:
        """Move the planned end to what the budget allows now; never behind the current step.
        A new speed measurement is averaged with the old: one slow lap should not halve the plan."""
        if step_s is not None:
            self.step_s = 0.5 * self.step_s + 0.5 * step_s
            # A machine that trains slower now (other work on it) will evaluate slower at the end too.
            slowdown = max(1.0, self.step_s / self.probe_step_s) if self.probe_step_s else 1.0
            self.end_s = end_work_s(self.image_s * slowdown, self.end_images)
        self.total_steps = max(step, min(self.max_steps, step + self.steps_affordable(step, elapsed_s)))

    def observe_validation(self, seconds: float, n_images: int) -> None:
        """A validation's measured time (saving included); the end's work is estimated again from it."""
        self.eval_s = seconds
        self.image_s, self.probe_step_s = max(self.image_s, seconds / n_images), self.step_s
        self.end_s = end_work_s(self.image_s, self.end_images)

    def describe(self, batch_size: int, started: float, elapsed_s: float, step: int) -> str:
        """The plan as printed at the start: steps, epochs, speed and projected finish."""
        steps_left = self.total_steps - step
        validations = math.ceil(steps_left / self.eval_every) if steps_left else 0
        finish_s = elapsed_s + steps_left * self.step_s + validations * self.eval_s + self.end_s
        finish = time.strftime("%H:%M:%S", time.localtime(started + finish_s))
        rate = batch_size / self.step_s if self.step_s else float("inf")
        capped = " (the --epochs bound)" if self.total_steps == self.max_steps else ""
        too_short = finish_s > self.budget_s + slack_s(self.budget_s)
        return (f"plan: {self.total_steps} steps{capped} = {self.total_steps / self.steps_per_epoch:.2f} epochs "
                f"of {self.steps_per_epoch} steps, batch {batch_size}; validating every {self.eval_every} steps; "
                f"measured {rate:.0f} images/s training, {self.eval_s:.1f} s a validation; "
                f"{self.end_s:.0f} s kept for final evaluation, calibration and saving; projected finish "
                f"{finish} ({finish_s / 60:.1f} min of a {self.budget_s / 60:g} min budget, "
                f"+{slack_s(self.budget_s):.0f} s slack)"
                + ("; the budget cannot hold even this: give more --budget-minutes" if too_short else "")
                + ("; under one epoch: too few steps for a usable model" if self.total_steps < self.steps_per_epoch
                   else ""))


def short_run_warning(steps: int, steps_per_epoch: int, val_accuracy: float, out) -> str | None:
    """A run the budget ended before it saw each training image once is seldom usable (on a busy machine a
    1.5-minute budget ended at 13.6% validation, 83% when idle; the shipped model had 88% after its first
    epoch of ten): say so, with what it took and how to go on. None for a run of an epoch or more."""
    if steps >= steps_per_epoch:
        return None
    return (f"warning: the budget left time for only {steps} steps, {steps / steps_per_epoch:.2f} of an epoch "
            f"({steps_per_epoch} steps here), and the model validates at {val_accuracy:.1%}: too few steps for a "
            f"usable model, which takes an epoch or more. Give it more time: a larger --budget-minutes, or go on "
            f"with python -m train --resume --out {out} --extend-minutes 10")


def end_images(n_batchnorm: int, n_val: int, n_test: int) -> int:
    """What the end evaluates: BatchNorm re-estimation, validation of both calibration variants and of
    the final model, then the test split."""
    return n_batchnorm + 3 * n_val + n_test


def end_work_s(seconds_per_image: float, n_images: int) -> float:
    """The end of a run, from the measured evaluation speed, saving and plotting included."""
    return END_WORK_MARGIN * seconds_per_image * n_images + SAVE_ALLOWANCE_S


class StepTimer:
    """Seconds per optimiser step between laps, taken at sync points (the GPU runs ahead otherwise).
    The first lap is the first step alone, caches and compilation included; restart() after a
    validation keeps its time out of the next lap."""

    def __init__(self, step: int):
        self.step, self.time = step, time.time()

    def lap(self, step: int) -> float:
        now = time.time()
        seconds = (now - self.time) / max(1, step - self.step)
        self.step, self.time = step, now
        return seconds

    def restart(self, step: int) -> None:
        self.step, self.time = step, time.time()


def measure_evaluation(model: torch.nn.Module, optimizer: torch.optim.Optimizer, val_images: torch.Tensor,
                       spec: InputSpec) -> tuple[float, float]:
    """(seconds to evaluate one image, seconds to save the best weights and the resume state), timed
    on some validation images (read with the run's own input spec, as validation reads them) and an
    in-memory save."""
    t = time.time()
    model_outputs(model, val_images[:EVAL_PROBE_IMAGES], spec)
    model.train()  # model_outputs left it in eval mode
    image_s = (time.time() - t) / min(EVAL_PROBE_IMAGES, len(val_images))
    t = time.time()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, io.BytesIO())
    return image_s, 2 * (time.time() - t)


def budget_bar(budget_s: float, elapsed_s: float, disable: bool):
    """The progress bar, in seconds of the budget: its total stays put, where the planned number of
    steps is laid again as the speed is measured (a step bar's total would jump: 176 -> 32 -> 39);
    the step and the current plan go in its postfix. tqdm's "remaining" is then the budget's."""
    from tqdm import tqdm

    total = max(1, round(budget_s))
    return tqdm(total=total, initial=min(round(elapsed_s), total), disable=disable, leave=False,
                dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total} s of the budget "
                                               "[{elapsed}<{remaining}{postfix}]")


def advance_bar(bar, elapsed_s: float) -> None:
    bar.update(max(0.0, min(elapsed_s, bar.total) - bar.n))
