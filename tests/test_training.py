"""End to end on the glyph fixture: train, score, and refuse bad input with exit code 2.

Small models (widths 8 16, one conv per stage) keep each run to a few seconds on a CPU.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import pen_folder, write_dataset
from helpers import EPOCHS, VAL_FRACTION, Run, run_training, train_args
from emnist_core.card import model_card
from emnist_core.checkpoint import DIGIT_SOURCES, Checkpoint, load_checkpoint, save_checkpoint
from emnist_core.model import EmnistCNN, ModelConfig
from train import evaluate, pen_data, recalibrate
from train import train as train_module


@pytest.fixture(scope="module")
def trained(glyph_dataset, tmp_path_factory) -> Run:
    """One real training run, shared by the tests that only read what it left."""
    return run_training(train_args(glyph_dataset.dir, tmp_path_factory.mktemp("run")))


def run_evaluate(capsys, *argv) -> tuple[int, str, str]:
    rc = evaluate.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# ---- a training run ------------------------------------------------------------------------------

def test_training_leaves_checkpoint_metrics_and_plots(trained):
    assert trained.rc == 0, trained.stderr
    for name in ("model.pt", "best_epoch.pt", "metrics.json", "curves.png", "confusion.png", "per_class.txt", "resume.pt"):
        assert (trained.out / name).is_file(), name
    assert (trained.out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "prior correction off" in trained.stdout  # the fixture has no class-prior.txt
    assert sorted(p.name for p in trained.out.iterdir() if p.suffix == ".tmp") == []


def test_training_learns(trained, glyph_dataset):
    history = trained.metrics["history"]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    chance = 1 / len(glyph_dataset.classes)
    assert trained.metrics["val"]["accuracy"] > 0.6 > 3 * chance
    assert trained.metrics["val"]["n"] == 300


def test_official_test_split_is_scored_once_at_the_end(trained):
    test = trained.metrics["test"]
    assert test["n"] == 300 and test["accuracy"] > 0.6
    assert "official test split: 300 images" in trained.stdout


def test_checkpoint_records_the_run(trained):
    checkpoint = load_checkpoint(trained.out / "model.pt")
    assert checkpoint.model_config == ModelConfig(stage_widths=(8, 16), convs_per_stage=(1, 1))
    assert checkpoint.digit_source == trained.metrics["selection"]["digit_source"] in DIGIT_SOURCES
    record = checkpoint.training
    assert record["command"].startswith("python -m train --data-dir ")
    assert record["n_train"] + record["n_val"] == 1500
    assert record["split"] == {"val_fraction": VAL_FRACTION, "seed": 0, "limit": 0}
    assert record["metrics"]["val"]["accuracy"] == trained.metrics["val"]["accuracy"]
    assert len(record["history"]) == EPOCHS


def test_batchnorm_statistics_are_chosen_on_validation(trained):
    """Both BatchNorm variants were scored; the saved model is the one that validated better, and
    its recorded validation accuracy is what the final model scores."""
    selection = trained.metrics["selection"]
    candidates = selection["batchnorm_candidates"]
    assert set(candidates) == {"as trained", "clean images"}
    chosen = selection["batchnorm_statistics"]
    assert candidates[chosen]["accuracy"] == max(c["accuracy"] for c in candidates.values())
    assert trained.metrics["val"]["accuracy"] == pytest.approx(candidates[chosen]["accuracy"], abs=1e-6)


def test_no_augment_and_save_to(glyph_dataset, tmp_path):
    """--no-augment trains on the images as they are (recorded as no augmentation); --save-to copies
    the final model, the same checkpoint as the run folder's model.pt."""
    saved = tmp_path / "shipped" / "emnist_bymerge.pt"
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--no-augment", "--epochs", "1",
                                  "--save-to", str(saved)))
    assert run.rc == 0, run.stderr
    copy, final = load_checkpoint(saved), load_checkpoint(run.out / "model.pt")
    assert copy.training["augment"] is None and "--no-augment" in copy.training["command"]
    assert copy.training == final.training
    assert all(torch.equal(copy.state_dict[k], final.state_dict[k]) for k in final.state_dict)


def test_save_to_never_replaces_a_better_checkpoint_unless_forced(trained, glyph_dataset, tmp_path):
    """Issue 26: --save-to checkpoints/emnist_bymerge.pt silently replaced the shipped model with one at 30%.
    The checkpoint already there is scored on the run's validation images; a worse model is not copied
    (exit 1, the run folder keeps it) unless --force, and every copy says where it went and what reads it."""
    import shutil
    target = tmp_path / "checkpoints" / "emnist_bymerge.pt"
    target.parent.mkdir()
    shutil.copy(trained.out / "model.pt", target)
    before = target.read_bytes()
    poor = ["--epochs", "1", "--lr", "1e-6", "--eval-every", "0", "--save-to", str(target)]
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "poor", *poor))
    assert run.rc == 1 and target.read_bytes() == before and (run.out / "model.pt").is_file(), run.stdout
    assert f"not saved to {target}" in run.stderr and "--force" in run.stderr and "points lower" in run.stderr
    forced = run_training(train_args(glyph_dataset.dir, tmp_path / "forced", *poor, "--force"))
    assert forced.rc == 0 and target.read_bytes() != before, forced.stderr
    assert f"saved {target.resolve()}: nothing reads it unless told" in forced.stdout
    assert f"--checkpoint {target.resolve()}" in forced.stdout and "EMNIST_CHECKPOINT" in forced.stdout


def test_save_to_says_what_reads_the_copy(tmp_path):
    from emnist_core.checkpoint import DEFAULT_CHECKPOINT
    from train.save_to import who_reads
    shipped = who_reads(DEFAULT_CHECKPOINT)
    assert "read it by default" in shipped and "python demo.py" in shipped and "installed" in shipped
    elsewhere = who_reads(tmp_path / "checkpoints" / "emnist_bymerge.pt")  # e.g. emnist-train run in another folder
    assert "nothing reads it unless told" in elsewhere and str(DEFAULT_CHECKPOINT) in elsewhere


def test_report_lists_every_class(trained):
    lines = (trained.out / "per_class.txt").read_text().splitlines()
    assert lines[0].startswith("class") and len([l for l in lines[1:48] if l.strip()]) == 47


# ---- evaluate ------------------------------------------------------------------------------------

def test_evaluate_on_the_test_split(trained, glyph_dataset, tmp_path, capsys):
    rc, out, _ = run_evaluate(capsys, "--checkpoint", trained.out / "model.pt", "--data-dir", glyph_dataset.dir,
                              "--split", "test", "--json", tmp_path / "test.json")
    assert rc == 0 and "accuracy" in out
    metrics = json.loads((tmp_path / "test.json").read_text())
    assert metrics["n"] == 300 and metrics["split"] == "test"
    for key in ("accuracy", "digit_letter_accuracy", "balanced_accuracy", "top5_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["accuracy"] == pytest.approx(trained.metrics["test"]["accuracy"], abs=1e-6)


def test_evaluate_val_reproduces_the_checkpoints_own_split(trained, glyph_dataset, tmp_path, capsys):
    rc, _, _ = run_evaluate(capsys, "--checkpoint", trained.out / "model.pt", "--data-dir", glyph_dataset.dir,
                            "--split", "val", "--json", tmp_path / "val.json")
    metrics = json.loads((tmp_path / "val.json").read_text())
    assert rc == 0
    assert metrics["n"] == load_checkpoint(trained.out / "model.pt").training["n_val"]
    assert metrics["accuracy"] == pytest.approx(trained.metrics["val"]["accuracy"], abs=1e-6)


def test_evaluate_a_sample_of_the_training_part(trained, glyph_dataset, tmp_path, capsys):
    argv = ["--checkpoint", trained.out / "model.pt", "--data-dir", glyph_dataset.dir, "--split", "train",
            "--sample", "100", "--json", tmp_path / "a.json"]
    rc, _, _ = run_evaluate(capsys, *argv)
    first = json.loads((tmp_path / "a.json").read_text())
    run_evaluate(capsys, *argv[:-1], tmp_path / "b.json")
    assert rc == 0 and first["n"] == 100 and first["sample"] == 100
    assert first["accuracy"] == json.loads((tmp_path / "b.json").read_text())["accuracy"]  # the same sample


def test_evaluate_val_after_a_limited_run(glyph_dataset, tmp_path, capsys):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--limit", "600", "--epochs", "1"))
    assert run.rc == 0, run.stderr
    run_evaluate(capsys, "--checkpoint", run.out / "model.pt", "--data-dir", glyph_dataset.dir,
                 "--split", "val", "--json", tmp_path / "val.json")
    n_val = load_checkpoint(run.out / "model.pt").training["n_val"]
    assert json.loads((tmp_path / "val.json").read_text())["n"] == n_val


def test_evaluate_refuses_bad_input(trained, glyph_dataset, tmp_path, capsys):
    rc, _, err = run_evaluate(capsys, "--checkpoint", tmp_path / "absent.pt", "--data-dir", glyph_dataset.dir)
    assert rc == 2 and "absent.pt: no such checkpoint file" in err
    rc, _, err = run_evaluate(capsys, "--checkpoint", trained.out / "model.pt", "--data-dir", tmp_path / "nowhere")
    assert rc == 2 and "no such data folder" in err
    bare = tmp_path / "bare.pt"  # a checkpoint that records no training split
    config = ModelConfig(stage_widths=(8,), convs_per_stage=(1,))
    save_checkpoint(Checkpoint(config, EmnistCNN(config).state_dict()), bare)
    rc, _, err = run_evaluate(capsys, "--checkpoint", bare, "--data-dir", glyph_dataset.dir, "--split", "val")
    assert rc == 2 and "records no validation split" in err


# ---- resume: see test_schedule.py ----------------------------------------------------------------

def test_resume_from_an_empty_file(glyph_dataset, tmp_path):
    """torch.load's error for a 0-byte file has an empty message; the refusal must still be clean."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "resume.pt").write_bytes(b"")
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--resume"))
    assert run.rc == 2 and "resume.pt: cannot resume from it" in run.stderr, run.stderr


# ---- bad input: exit code 2 and a message, no traceback ------------------------------------------

def test_no_data_dir(tmp_path):
    run = run_training(["--out", str(tmp_path / "run"), "--no-progress"])
    assert run.rc == 2 and "give --data-dir DIR" in run.stderr


def test_missing_data_folder(tmp_path):
    run = run_training(train_args(tmp_path / "nowhere", tmp_path / "run"))
    assert run.rc == 2 and f"{tmp_path / 'nowhere'}: no such data folder" in run.stderr


def test_malformed_data(glyph_dataset, tmp_path):
    folder = write_dataset(tmp_path / "data", {"train": (glyph_dataset.train_images[:100],
                                                         glyph_dataset.train_labels[:99])})
    run = run_training(train_args(folder, tmp_path / "run"))
    assert run.rc == 2 and "holds 100 images but" in run.stderr
    assert not (tmp_path / "run" / "best_epoch.pt").exists()


def test_missing_class_prior_file(glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--class-prior", str(tmp_path / "p.txt")))
    assert run.rc == 2 and "p.txt: no such class-prior file" in run.stderr


def test_fewer_images_than_one_batch(glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--limit", "50"))
    assert run.rc == 2 and "fewer than one batch of 64" in run.stderr and "--batch-size 8" in run.stderr


def test_empty_validation_split_is_refused_clearly(glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--limit", "30", "--batch-size", "16",
                                  "--val-fraction", "0.05", "--epochs", "1"))
    assert run.rc == 2 and "no such checkpoint file" not in run.stderr


def taking_the_hints(folder, out, *flags) -> tuple[Run, list[str]]:
    """A run on `folder`; while it is refused with a hint naming --val-fraction or --batch-size and a value,
    run again with that value (at most three times). The run, and the hints taken."""
    import re
    taken = []
    for _ in range(4):
        run = run_training(train_args(folder, out, *flags, *taken, "--epochs", "1"))
        hints = re.findall(r"(--val-fraction|--batch-size) (\d[\d.]*)", run.stderr)
        if run.rc != 2 or not hints:
            return run, taken
        taken += list(hints[-1])
    return run, taken


def test_tiny_data_hints_name_a_flag_that_works(glyph_dataset, tmp_path):
    """Issue 26: 10 images were told "use more data or a larger fraction" where no fraction helps, and 153
    "fewer than one batch of 256" without naming --batch-size. Each hint now names a value that works."""
    ten = write_dataset(tmp_path / "ten", {"train": (glyph_dataset.train_images[:10], glyph_dataset.train_labels[:10])})
    run, taken = taking_the_hints(ten, tmp_path / "run10", "--val-fraction", "0.05")
    assert run.rc == 0 and "--val-fraction" in taken and "--batch-size" in taken, (taken, run.stderr)
    some = write_dataset(tmp_path / "some", {"train": (glyph_dataset.train_images[:153],
                                                       glyph_dataset.train_labels[:153])})
    run, taken = taking_the_hints(some, tmp_path / "run153", "--batch-size", "256")
    assert run.rc == 0 and taken[0] == "--batch-size" and len(taken) == 2, (taken, run.stderr)
    one_each = write_dataset(tmp_path / "one", {"train": (glyph_dataset.train_images[:3][[0]],
                                                          glyph_dataset.train_labels[:3][[0]])})
    run = run_training(train_args(one_each, tmp_path / "run1"))
    assert run.rc == 2 and "no class has two images" in run.stderr and "or --val-fraction" not in run.stderr


def test_a_budget_too_short_for_an_epoch_is_said(glyph_dataset, tmp_path):
    """Issue 26: a 1.5-minute budget on a busy machine ended at 13.6% validation without a word. A budget
    that cannot hold one epoch (here 0.01 minutes: the end's own allowance is longer) says how many steps
    it took, what the model validates at, and how to go on."""
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--budget-minutes", "0.01"))
    assert run.rc == 0, run.stderr
    steps = run.metrics["history"][-1]["step"]
    assert steps < 18 and f"only {steps} steps" in run.stderr and "too few steps for a usable model" in run.stderr
    assert "--extend-minutes" in run.stderr and "under one epoch" in run.stdout  # the plan says so at the start
    assert "too few steps" not in run_training(train_args(glyph_dataset.dir, tmp_path / "ok", "--epochs", "1")).stderr


def test_model_card_is_written_from_the_checkpoint(trained, capsys):
    from train import model_card

    assert model_card.main(["--checkpoint", str(trained.out / "model.pt")]) == 0
    text = capsys.readouterr().out
    val = trained.metrics["val"]
    assert f"{100 * val['accuracy']:.2f}%" in text and "official test" in text
    assert trained.metrics["command"] in text
    assert model_card.main(["--checkpoint", str(trained.out / "nothing.pt")]) == 2


# ---- recalibrate a finished model ----------------------------------------------------------------

def test_recalibrate_undoes_the_folded_prior_and_chooses_again(glyph_dataset, tmp_path, capsys):
    """A run with a class prior folds its correction in; recalibrating takes it out again exactly
    (its 'as trained' candidate scores what the run's chosen model scored) and saves a model whose
    record names both commands."""
    prior = tmp_path / "class-prior.txt"
    prior.write_text("".join(f"{i} c {100 + 10 * i}\n" for i in range(47)))
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--class-prior", str(prior)))
    assert run.rc == 0, run.stderr
    original = run.metrics["selection"]
    out = tmp_path / "recalibrated.pt"
    rc = recalibrate.main(["--checkpoint", str(run.out / "model.pt"), "--data-dir", str(glyph_dataset.dir),
                           "--save-to", str(out)])
    assert rc == 0, capsys.readouterr().err
    checkpoint = load_checkpoint(out)
    selection = checkpoint.training["metrics"]["selection"]
    assert selection["batchnorm_candidates"]["as trained"]["accuracy"] == pytest.approx(original["accuracy"], abs=1e-6)
    assert checkpoint.training["command"] == load_checkpoint(run.out / "model.pt").training["command"]
    assert checkpoint.training["recalibrated"]["command"].startswith("python -m train.recalibrate --checkpoint")
    assert "test" not in checkpoint.training["metrics"]
    assert "saved" in capsys.readouterr().out
    assert "then recalibrated without retraining: `python -m train.recalibrate" in model_card(checkpoint)


def test_recalibrate_refuses_a_checkpoint_without_a_record(tmp_path, capsys):
    path = tmp_path / "bare.pt"
    save_checkpoint(Checkpoint(model_config=ModelConfig(stage_widths=(8,), convs_per_stage=(1,)),
                               state_dict=EmnistCNN(ModelConfig(stage_widths=(8,), convs_per_stage=(1,))).state_dict()),
                    path)
    rc = recalibrate.main(["--checkpoint", str(path), "--data-dir", str(tmp_path), "--save-to", str(tmp_path / "o.pt")])
    assert rc == 2 and "records no validation split" in capsys.readouterr().err
    assert not (tmp_path / "o.pt").exists()


# ---- pen strokes beside EMNIST (--unipen-dir) ----------------------------------------------------

def omniglot_folder(tmp_path: Path) -> Path:
    """Two Omniglot-style stroke files (x,y,t rows, y up; START/BREAK), an 'l' and a 't'."""
    folder = tmp_path / "omniglot"
    folder.mkdir()
    (folder / "l_drawer01.txt").write_text("START\n0,30,0\n0,0,10\n")
    (folder / "t_drawer01.txt").write_text("START\n0,30,0\n0,0,10\nBREAK\n-8,22,20\n8,22,30\n")
    return folder


@pytest.fixture(scope="module")
def pen_run(glyph_dataset, tmp_path_factory) -> Run:
    """A run on the glyphs plus a two-site UNIPEN folder: 'hold' held out for validation."""
    tmp = tmp_path_factory.mktemp("pen")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pen_data, "VAL_SITES", ("hold",))
        return run_training(train_args(glyph_dataset.dir, tmp / "run", "--unipen-dir", str(pen_folder(tmp)),
                                       "--render-cache", str(tmp / "cache"), "--unipen-share", "0.25",
                                       "--omniglot-dir", str(omniglot_folder(tmp))))


def test_pen_strokes_are_validated_per_kind_on_the_held_out_site(pen_run):
    assert pen_run.rc == 0, pen_run.stderr
    m = pen_run.metrics
    assert m["unipen_val_sites"] == ["hold"]
    assert set(m["unipen_val"]) == {"all", "digits"} and m["unipen_val"]["all"]["n"] == 2  # hold's '1' and '7'
    for name in ("strict", "tolerant", "top5"):
        assert 0 <= m["unipen_val"]["all"][name] <= 1 and m["unipen_val"]["all"][f"{name}_se"] >= 0
    assert m["drawings"]["n"] == 2 and 0 <= m["drawings"]["tolerant"] <= 1
    assert all(0 <= h["val_unipen_strict"] <= h["val_unipen_tolerant"] <= 1 for h in m["history"])
    assert "pen_strict" in m["selection"] and "pen_tolerant" in m["selection"]  # the pen sites counted in the choice
    assert "UNIPEN validation, sites never trained on (hold)" in pen_run.stdout


def test_pen_strokes_add_a_share_of_each_epoch(pen_run):
    """1200 glyphs and a share of 0.25: 400 pen drawings an epoch, 25 steps of 64 instead of 18."""
    assert "400 pen drawings an epoch beside 1200 EMNIST images" in pen_run.stdout
    assert pen_run.metrics["history"][0]["step"] == 18  # --eval-every 18
    assert load_checkpoint(pen_run.out / "model.pt").training["hyperparameters"]["unipen_share"] == 0.25


def test_the_model_card_credits_unipen(pen_run):
    card = model_card(load_checkpoint(pen_run.out / "model.pt"))
    assert "UNIPEN train_r01_v07" in card and "CC-BY-4.0" in card and "doi:10.5281/zenodo.1195803" in card
    assert "| digits | 2 |" in card


def test_a_folder_that_is_not_unipen_is_refused_with_exit_2(glyph_dataset, tmp_path):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--unipen-dir", str(tmp_path)))
    assert run.rc == 2 and "is not a UNIPEN folder" in run.stderr


def test_init_from_starts_from_a_checkpoint_and_keeps_its_architecture(trained, glyph_dataset, tmp_path):
    """--init-from: the start's weights (its folded prior correction taken out) and architecture, whatever
    --widths says; a fine-tune of one epoch reads at least as well as chance."""
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--init-from", str(trained.out / "model.pt"),
                                  "--widths", "32", "64", "--epochs", "1"))
    assert run.rc == 0, run.stderr
    tuned = load_checkpoint(run.out / "model.pt")
    assert tuned.model_config == load_checkpoint(trained.out / "model.pt").model_config
    assert run.metrics["val"]["accuracy"] > 0.6
    assert "--init-from" in tuned.training["command"]


def test_a_start_checkpoint_gives_back_the_correction_it_folded_in(trained):
    """--init-from and recalibration take out what a model folded in: the mix its record names, EMNIST's
    pool for older records, and a model trained with pen strokes at another share without a recorded
    mix is refused."""
    from types import SimpleNamespace

    from train.calibrate import PriorCorrection, folded_correction
    from train.data import DataError

    start = load_checkpoint(trained.out / "model.pt")
    target = np.full(47, 1 / 47)
    pool = np.linspace(1, 2, 47) / np.linspace(1, 2, 47).sum()
    data = SimpleNamespace(target_prior=target, train_prior=pool)
    assert len(start.training["metrics"].pop("train_prior")) == 47  # a run records its mix; older ones did not
    got = folded_correction(start, data)  # an older record: EMNIST's pool
    assert torch.allclose(got.class_adjust, PriorCorrection.between(pool, target).class_adjust)
    mix = np.linspace(2, 1, 47) / np.linspace(2, 1, 47).sum()
    start.training["metrics"]["train_prior"] = mix.tolist()
    got = folded_correction(start, data)
    assert torch.allclose(got.class_adjust, PriorCorrection.between(mix, target).class_adjust)
    del start.training["metrics"]["train_prior"]
    start.training["hyperparameters"].update(unipen_dir="somewhere", unipen_share=0.3)
    with pytest.raises(DataError, match="--unipen-share"):
        folded_correction(start, data)
