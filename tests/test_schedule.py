"""The budget holds, resume keeps its promises, bad flags are refused where they are read, and the
GPU code path (bf16 autocast, fused AdamW, torch.compile) runs on the CPU.

Training runs use the glyph fixture and a tiny net: seconds each. A few run as real subprocesses
(`python -m train ...`) to check the exit status a shell sees.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_dataset
from emnist_core.checkpoint import load_checkpoint
from helpers import PEAK_LR, run_training, train_args
from train import evaluate, recalibrate
from train import train as train_module
from train.schedule import Schedule, lr_at, slack_s

REPO = Path(__file__).resolve().parents[1]


def python_m(module: str, *argv, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", module, *map(str, argv)], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


# ---- the plan, without training ------------------------------------------------------------------

def test_a_budget_shorter_than_an_epoch_plans_fewer_steps_and_validates_within_them():
    schedule = Schedule.provisional(budget_s=60, steps_per_epoch=10_000, epochs=16)
    schedule.first_plan(step=6, elapsed_s=5, step_s=0.1, eval_s=2.0, image_s=0.001, end_images=3000)
    assert 6 < schedule.total_steps < 10_000  # the budget binds, not the epoch
    assert schedule.eval_every <= schedule.total_steps
    finish = 5 + (schedule.total_steps - 6) * 0.1 + (schedule.total_steps / schedule.eval_every + 1) * 2.0 + schedule.end_s
    assert finish <= 60 + slack_s(60)


def test_replanning_follows_the_measured_speed_and_never_goes_back():
    schedule = Schedule.provisional(budget_s=100, steps_per_epoch=50, epochs=100)
    schedule.first_plan(step=6, elapsed_s=2, step_s=0.05, eval_s=0.1, image_s=0.001, end_images=1000)
    planned = schedule.total_steps
    schedule.replan(step=200, elapsed_s=30, step_s=0.5)  # the machine got ten times slower
    assert 200 <= schedule.total_steps < planned
    schedule.replan(step=300, elapsed_s=200)  # past the budget: stop where we are
    assert schedule.total_steps == 300


def test_the_epochs_flag_stays_an_upper_bound():
    schedule = Schedule.provisional(budget_s=3600, steps_per_epoch=10, epochs=2)
    schedule.first_plan(step=6, elapsed_s=1, step_s=0.01, eval_s=0.01, image_s=0.0001, end_images=1000)
    assert schedule.total_steps == 20


def test_the_learning_rate_decays_to_the_planned_end():
    assert lr_at(0, 100, 1.0, 0.1) < lr_at(9, 100, 1.0, 0.1) == 1.0
    assert lr_at(99, 100, 1.0, 0.1) < 0.02
    assert slack_s(60) == 10 and slack_s(3600) == 180


# ---- the budget holds ------------------------------------------------------------------------------

def test_a_20_second_budget_finishes_inside_it_with_a_decayed_learning_rate(glyph_dataset, tmp_path):
    budget_s = 20
    argv = train_args(glyph_dataset.dir, tmp_path / "run", "--epochs", "10000",
                      "--budget-minutes", str(budget_s / 60))
    started = time.time()
    run = run_training(argv)
    elapsed = time.time() - started
    assert run.rc == 0, run.stderr
    assert elapsed <= budget_s + slack_s(budget_s)
    plan = re.search(r"plan: (\d+) steps = ([\d.]+) epochs of 18 steps, batch 64; validating every (\d+) steps; "
                     r"measured (\d+) images/s training.*projected finish \d\d:\d\d:\d\d", run.stdout)
    assert plan, run.stdout
    history = run.metrics["history"]
    assert len(history) >= 2 and history[-1]["step"] < 10000 * 18  # the budget cut it, not --epochs
    assert history[-1]["lr"] < 0.05 * PEAK_LR  # the cosine reached its planned end
    assert run.metrics["val"]["accuracy"] > 0.6


# ---- resume --------------------------------------------------------------------------------------

def interrupt_at_step(monkeypatch, n: int) -> None:
    """Ctrl-C arrives during the n-th training step."""
    real_step, calls = train_module.train_step, []

    def step(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", step)


def test_interrupted_before_the_first_validation_points_at_nothing(glyph_dataset, tmp_path, monkeypatch):
    interrupt_at_step(monkeypatch, 5)
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run"))
    assert run.rc == 130
    assert "before the first validation: nothing saved" in run.stderr
    assert "best_epoch.pt" not in run.stderr and "--resume" not in run.stderr
    assert not (tmp_path / "run" / "best_epoch.pt").exists() and not (tmp_path / "run" / "resume.pt").exists()


def test_resume_continues_and_a_finished_run_is_left_alone(glyph_dataset, tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_at_step(monkeypatch, 25)  # after the validation at step 18
    first = run_training(train_args(glyph_dataset.dir, out))
    monkeypatch.undo()
    assert first.rc == 130 and f"continue with --resume --out {out}" in first.stderr
    saved = torch.load(out / "resume.pt", weights_only=True)
    assert saved["step"] == 18 and not saved["finished"]
    changed = run_training(["--resume", "--out", str(out), "--no-progress", "--lr", "0.1"])
    assert changed.rc == 2 and "--lr (recorded 0.002)" in changed.stderr  # what is trained cannot change

    # The recorded data folder and flags are used: --resume --out is enough.
    resumed = run_training(["--resume", "--out", str(out), "--no-progress"])
    assert resumed.rc == 0, resumed.stderr
    assert f"resumed {out / 'resume.pt'} at step 18" in resumed.stdout
    history = resumed.metrics["history"]
    assert [h["step"] for h in history] == [18, 36, 54]
    assert history[0] == json.loads(saved["history"])[0]  # step 18 kept, not retrained
    assert history[-1]["lr"] < 0.05 * PEAK_LR  # the schedule went on to its end, not restarted
    assert resumed.metrics["val"]["accuracy"] > 0.6

    # A finished run: says so, changes nothing, exits 0 (even when asked for more epochs).
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    again = run_training(["--resume", "--out", str(out), "--no-progress", "--epochs", "9"])
    assert again.rc == 0 and "finished run" in again.stdout and "nothing changed" in again.stdout
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    # More only when asked: --extend-minutes trains on from the last step.
    more = run_training(["--resume", "--out", str(out), "--no-progress", "--extend-minutes", "0.1", "--epochs", "4"])
    assert more.rc == 0, more.stderr
    assert more.metrics["history"][-1]["step"] == 72  # 4 epochs of 18 steps


def test_the_best_validated_weights_are_the_ones_finished(glyph_dataset, tmp_path, monkeypatch):
    """Validation scores 0.5, 0.9, 0.7 at steps 18, 36, 54: the final model is built from step 36's
    weights (best_epoch.pt), not the last ones, and the record says so."""
    real_validate, scores = train_module.validate, iter([0.5, 0.9, 0.7])
    weights_at = {}

    def validate(model, data, spec, pen=None):  # train.validate takes the run's pen images too (main's UNIPEN change)
        val, _ = real_validate(model, data, spec, pen)
        weights_at[len(weights_at)] = {k: v.clone() for k, v in model.state_dict().items()}
        return val, next(scores)

    monkeypatch.setattr(train_module, "validate", validate)
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run"))
    assert run.rc == 0, run.stderr
    assert [h["val_score"] for h in run.metrics["history"]] == [0.5, 0.9, 0.7]
    assert run.metrics["best_step"] == 36 and run.metrics["best_epoch"] == 2
    best = load_checkpoint(run.out / "best_epoch.pt")
    assert best.training["step"] == 36
    assert all(torch.equal(best.state_dict[k], weights_at[1][k]) for k in best.state_dict)
    assert not all(torch.equal(best.state_dict[k], weights_at[2][k]) for k in best.state_dict)
    assert load_checkpoint(run.out / "model.pt").training["step"] == 36


def test_weight_average_is_validated_saved_and_resumed(glyph_dataset, tmp_path, monkeypatch):
    """--ema: the average is what is validated and saved as best_epoch.pt, the raw weights are
    validated beside it, and resume carries the average on instead of restarting it."""
    out = tmp_path / "run"
    interrupt_at_step(monkeypatch, 25)  # after the validation at step 18
    first = run_training(train_args(glyph_dataset.dir, out, "--ema", "0.9"))
    monkeypatch.undo()
    assert first.rc == 130, first.stderr
    saved = torch.load(out / "resume.pt", weights_only=True)
    average = {k.removeprefix("module."): v for k, v in saved["ema"].items() if k.startswith("module.")}
    best = torch.load(out / "best_epoch.pt", weights_only=True)["state_dict"]
    assert saved["ema"]["n_averaged"].item() == 18
    assert best.keys() == average.keys() == saved["model"].keys()
    assert all(torch.equal(best[k], average[k]) for k in best)
    assert not all(torch.equal(best[k], saved["model"][k]) for k in best)  # not the raw weights

    resumed = run_training(["--resume", "--out", str(out), "--no-progress"])
    assert resumed.rc == 0, resumed.stderr
    history = resumed.metrics["history"]
    assert [h["step"] for h in history] == [18, 36, 54]
    assert all(0 <= h["raw_val_score"] <= 1 for h in history)
    assert any(h["raw_val_score"] != h["val_score"] for h in history)
    assert "raw weights: score" in resumed.stdout
    assert torch.load(out / "resume.pt", weights_only=True)["ema"]["n_averaged"].item() == 54  # not restarted


def test_resume_without_a_previous_run_is_an_error(glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--resume"))
    assert run.rc == 2 and "resume.pt: nothing to resume" in run.stderr


def test_a_new_run_never_finalises_an_older_runs_checkpoint(glyph_dataset, tmp_path, monkeypatch):
    out = tmp_path / "run"
    interrupt_at_step(monkeypatch, 25)
    assert run_training(train_args(glyph_dataset.dir, out)).rc == 130
    assert (out / "best_epoch.pt").exists()
    interrupt_at_step(monkeypatch, 3)  # a new run in the same folder, stopped before it validated
    run = run_training(train_args(glyph_dataset.dir, out))
    assert run.rc == 130 and "earlier resume.pt is removed" in run.stdout
    assert not (out / "best_epoch.pt").exists() and not (out / "resume.pt").exists()


# ---- exit statuses as a shell sees them ----------------------------------------------------------

def test_sigterm_exits_130_and_keeps_the_resume_state(glyph_dataset, tmp_path):
    out = tmp_path / "run"
    process = python_m("train", *train_args(glyph_dataset.dir, out, "--epochs", "10000", "--eval-every", "5"))
    deadline = time.time() + 120
    while not (out / "resume.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "continue with --resume" in stderr and "Traceback" not in stderr


def test_python_m_train_returns_mains_status(tmp_path):
    process = python_m("train", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "run", "--no-progress")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2 and "no such data folder" in stderr


# ---- bad flags: `error:` and exit status 2, before anything is loaded -----------------------------

BAD_TRAINING_FLAGS = [
    ("--batch-size", "0"), ("--batch-size", "-1"), ("--val-fraction", "1.5"), ("--lr", "nan"),
    ("--dropout", "2"), ("--label-smoothing", "2"), ("--widths", "0", "16", "32"),
    ("--widths", "8", "8", "8", "8", "8", "--convs", "1", "1", "1", "1", "1"),  # 28 px cannot take 5 poolings
    ("--widths", "8", "16", "--convs", "1", "1", "1"), ("--device", "foo"), ("--out", "README.md"),
    ("--budget-minutes", "-1"), ("--limit", "-5"), ("--epochs", "0"), ("--augment-strength", "-0.5"),
    ("--extend-minutes", "5"),  # without --resume
    ("--ema", "1"), ("--ema", "-0.1"), ("--train-share", "0"), ("--train-share", "1.5"),
]
if not torch.cuda.is_available():
    BAD_TRAINING_FLAGS.append(("--device", "cuda"))


@pytest.mark.parametrize("flags", BAD_TRAINING_FLAGS, ids=" ".join)
def test_bad_training_flags_are_refused_where_they_are_read(flags, glyph_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        train_module.main(["--data-dir", str(glyph_dataset.dir), "--out", str(tmp_path / "run"), *flags])
    assert exit_.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags", [("--device", "foo"), ("--json", "/no/such/folder/m.json")], ids=" ".join)
def test_bad_evaluate_and_recalibrate_flags(flags, glyph_dataset, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        evaluate.main(["--data-dir", str(glyph_dataset.dir), *flags])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err
    # --save-to makes a missing folder (as train's does), but a folder is no file to write
    recalibrate_flags = ("--save-to", str(tmp_path)) if flags[0] == "--json" else flags
    with pytest.raises(SystemExit) as exit_:
        recalibrate.main(["--checkpoint", "x.pt", "--data-dir", str(glyph_dataset.dir),
                          "--save-to", str(tmp_path / "o.pt"), *recalibrate_flags])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("module, flags", [("train", ["--batch-size", "0"]), ("train", ["--lr", "nan"]),
                                           ("train.evaluate", ["--data-dir", ".", "--device", "foo"])])
def test_bad_flags_exit_2_in_a_real_process(module, flags):
    process = python_m(module, *flags)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2 and "error:" in stderr and "Traceback" not in stderr


def test_evaluating_no_images_is_an_error_not_nan(glyph_dataset, tmp_path, capsys):
    from emnist_core.checkpoint import Checkpoint, save_checkpoint
    from emnist_core.model import EmnistCNN, ModelConfig

    empty = (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    folder = write_dataset(tmp_path / "data", {"train": empty, "test": empty})
    config = ModelConfig(stage_widths=(8,), convs_per_stage=(1,))
    save_checkpoint(Checkpoint(config, EmnistCNN(config).state_dict()), tmp_path / "m.pt")
    rc = evaluate.main(["--checkpoint", str(tmp_path / "m.pt"), "--data-dir", str(folder), "--split", "test"])
    captured = capsys.readouterr()
    assert rc == 2 and "holds no images" in captured.err and "nan" not in captured.out


# ---- the GPU code path, on the CPU ---------------------------------------------------------------

@pytest.mark.parametrize("flags, printed", [(["--precision", "bf16"], "bf16 autocast"),
                                            (["--fused", "yes"], "fused AdamW")])
def test_gpu_options_train_on_the_cpu(flags, printed, glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--epochs", "1", *flags))
    assert run.rc == 0, run.stderr
    assert printed in run.stdout
    assert run.metrics["history"][-1]["train_loss"] < 4  # it learnt something: ln(47) = 3.85 is chance


def test_compile_trains_on_the_cpu(glyph_dataset, tmp_path):
    if not (shutil.which("cc") or shutil.which("gcc") or shutil.which("g++")):
        pytest.skip("torch.compile on CPU needs a C++ compiler; none found")
    try:
        torch.compile(lambda x: x * 2 + 1)(torch.ones(4))
    except Exception as error:  # an environment that cannot build kernels, not a bug of ours
        pytest.skip(f"torch.compile does not work here: {type(error).__name__}: {str(error)[:200]}")
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--epochs", "1", "--compile"))
    assert run.rc == 0, run.stderr
    assert "compiled" in run.stdout
