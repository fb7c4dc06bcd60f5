"""The measurement scripts in bench/ run, and the arithmetic they report is right (the figures themselves
depend on the machine and are not tested)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import channels_last, confusion_costs, latency, learning_curve
from emnist_core.checkpoint import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parent.parent


def test_confusion_costs_add_up_to_the_weighted_error():
    labels = np.array([0, 0, 24, 24, 1])  # 0, 0, O, O, 1
    reads = np.array([24, 0, 0, 0, 1])  # one 0 read as O, both O read as 0
    weights = np.array([1.0, 1.0, 2.0, 2.0, 4.0])  # total 10
    costs = confusion_costs.confusion_costs(reads, labels, weights)
    assert costs == {(0, 24): pytest.approx(10.0), (24, 0): pytest.approx(40.0)}
    assert sum(costs.values()) == pytest.approx(100 * (1 - (1 + 4) / 10))


def test_channels_last_timing_runs(capsys):
    assert channels_last.main(["--seconds", "0.2", "--batch-size", "8", "--widths", "8", "16"]) == 0
    out = capsys.readouterr().out
    assert "contiguous" in out and "channels_last is" in out


def test_latency_runs(capsys, monkeypatch):
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing")
    monkeypatch.setattr(latency, "MODEL_CALLS", 20)
    assert latency.main(["--threads", "1", "--drawings", "4"]) == 0
    assert "whole drawing" in capsys.readouterr().out


def test_confusion_costs_refuses_a_missing_checkpoint(tmp_path, capsys):
    assert confusion_costs.main(["--checkpoint", str(tmp_path / "none.pt"), "--data-dir", str(tmp_path)]) == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def fake_run(folder, n_train, accuracy, digit_letter, n_val=100):
    """A finished run folder as bench.learning_curve reads it: metrics.json and model.pt's record."""
    from emnist_core.checkpoint import Checkpoint, InputSpec, save_checkpoint
    from emnist_core.model import EmnistCNN, ModelConfig
    config = ModelConfig(stage_widths=(4,), convs_per_stage=(1,))
    folder.mkdir()
    save_checkpoint(Checkpoint(model_config=config, state_dict=EmnistCNN(config).state_dict(), input_spec=InputSpec(),
                               training={"n_train": n_train, "n_val": n_val}), folder / "model.pt")
    (folder / "metrics.json").write_text(json.dumps({"val": {
        "n": n_val, "prior_weighted_accuracy": accuracy, "prior_weighted_digit_letter_accuracy": digit_letter}}))
    return folder


def test_learning_curve_fits_the_gain_per_doubling(tmp_path, capsys):
    """Three runs on a straight line in log2(images): +1 point per doubling; 8,000 images are two
    doublings past the largest run."""
    runs = [fake_run(tmp_path / f"r{n}", n, 0.80 + 0.01 * k, 0.90 + 0.005 * k)
            for k, n in enumerate((500, 1000, 2000))]
    assert learning_curve.main([*map(str, reversed(runs)), "--at", "8000"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: from run to run +1.00, +1.00 points per doubling" in out
    assert "accuracy: +1.00 points per doubling" in out and "reaches 84.00% at 8,000 images" in out
    assert "digit/letter: +0.50 points per doubling" in out and "reaches 92.00%" in out
    assert out.index("r500") < out.index("r1000") < out.index("r2000")  # sorted by size


def test_learning_curve_refuses_runs_it_cannot_compare(tmp_path, capsys):
    one = fake_run(tmp_path / "one", 1000, 0.8, 0.9)
    other_split = fake_run(tmp_path / "other", 2000, 0.8, 0.9, n_val=50)
    assert learning_curve.main([str(one), str(one)]) == 2
    assert "at least two amounts" in capsys.readouterr().err
    assert learning_curve.main([str(one), str(other_split)]) == 2
    assert "different splits" in capsys.readouterr().err
    assert learning_curve.main([str(one), str(tmp_path / "missing")]) == 2
    assert "error:" in capsys.readouterr().err


def test_gpu_sweep_runs_on_a_cpu(glyph_dataset, tmp_path):
    """bench/gpu_sweep.sh end to end with tiny overrides: every recipe trains, its model and log land
    in the report folder, and train.compare scores them against the first."""
    report = tmp_path / "report"
    env = {**os.environ, "PYTHON": sys.executable, "DEVICE": "cpu", "BUDGET": "1", "RUNS": str(tmp_path / "runs"),
           "OMP_NUM_THREADS": "1",
           "EXTRA": "--widths 8 16 --convs 1 1 --epochs 1 --batch-size 64 --val-fraction 0.2 --augment-strength 0"}
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_sweep.sh"), str(glyph_dataset.dir), str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    names = ("base", "long", "big")
    assert sorted(p.name for p in report.iterdir()) == sorted(
        ["compare.txt"] + [f"{n}.log" for n in names] + [f"{n}.pt" for n in names])
    compared = (report / "compare.txt").read_text()
    assert all(f"{report / n}.pt [" in compared for n in names) and compared.count(", gain ") == 2 * (len(names) - 1)


def test_pen_characters_scores_held_out_sites_per_kind(tmp_path, monkeypatch, capsys):
    """bench.pen_characters on a two-site UNIPEN folder written here ('hold' held out): every kind present
    gets strict, tolerant and top-5 with errors, the JSON holds the per-character table."""
    from conftest import pen_folder
    from bench import pen_characters
    from train import pen_data

    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    out = tmp_path / "scores.json"
    assert pen_characters.main(["--unipen-dir", str(pen_folder(tmp_path)), "--workers", "1",
                                "--omniglot-dir", str(tmp_path / "none"), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "digits      n=     2  strict" in text and "weakest characters" in text
    scores = json.loads(out.read_text())[str(DEFAULT_CHECKPOINT)]
    assert scores["per_character"].keys() == {"1", "7"} and scores["unipen"]["all"]["n"] == 2
    site = scores["per_site"]["hold"]  # the site's own figures: the same as all, as it is the only one
    assert site["n"] == 2 and site["tolerant"] == round(scores["unipen"]["all"]["tolerant"], 4)
    assert site["lower_tolerant"] is None and "per site, strict / tolerant" in text and " hold " in text
    assert pen_characters.main(["--unipen-dir", str(tmp_path / "none")]) == 2


def test_pen_characters_pairs_each_checkpoint_with_the_first():
    """The paired gain: the mean of per-character differences and its standard error."""
    import numpy as np
    from bench.pen_characters import paired

    first = {"strict": np.array([1, 1, 0, 0, 1, 0], bool), "tolerant": np.array([1, 1, 1, 0, 1, 1], bool)}
    other = {"strict": np.array([1, 1, 1, 0, 1, 1], bool), "tolerant": np.array([1, 1, 1, 0, 1, 1], bool)}
    gain = paired(first, other)
    assert gain["strict"] == round(2 / 6, 5) and gain["tolerant"] == 0 and gain["tolerant_se"] == 0
    assert gain["strict_se"] == round(float(np.std([0, 0, 1, 0, 0, 1], ddof=1) / np.sqrt(6)), 5)
