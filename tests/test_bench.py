"""The measurement scripts in bench/ run, and the arithmetic they report is right (the figures themselves
depend on the machine and are not tested)."""

import numpy as np
import pytest

from bench import channels_last, confusion_costs, latency
from emnist_core.checkpoint import DEFAULT_CHECKPOINT


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
