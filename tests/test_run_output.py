"""What a run shows while it trains and leaves behind: a progress bar whose total holds still, and
curves whose every legend entry is a visible line."""

import contextlib
import io
import re

from helpers import train_args
from train import report
from train import train as train_module


def test_progress_bar_counts_the_budget_and_its_total_holds_still(glyph_dataset, tmp_path):
    """The planned steps are laid again as speed is measured; the bar counts seconds of the fixed
    budget, and shows the step against the current plan beside it."""
    argv = [a for a in train_args(glyph_dataset.dir, tmp_path / "run", "--epochs", "1") if a != "--no-progress"]
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        assert train_module.main(argv) == 0
    frames = [f for f in re.split(r"[\r\n]", stderr.getvalue()) if "of the budget" in f]
    assert frames, stderr.getvalue()[-2000:]
    assert {re.search(r"/(\d+) s of the budget", f).group(1) for f in frames} == {"300"}  # --budget-minutes 5
    assert any(re.search(r"step=\d+/\d+", f) for f in frames)


def history(score_is_weighted: bool) -> list[dict]:
    return [{"epoch": e, "train_loss": 1.0 / e, "train_accuracy": 0.5 + e / 10, "val_accuracy": 0.4 + e / 10,
             "val_score": 0.4 + e / 10 + (0.03 if score_is_weighted else 0)} for e in (1, 2, 3)]


def test_curves_without_a_class_prior_draw_validation_once():
    labels = [label for label, _ in report.accuracy_curves(history(False))]
    assert labels == ["train (augmented)", "val"]


def test_curves_with_a_class_prior_draw_both_validation_lines(tmp_path):
    curves = dict(report.accuracy_curves(history(True)))
    assert list(curves) == ["train (augmented)", "val", "val, prior-weighted"]
    assert curves["val, prior-weighted"] != curves["val"]
    report.plot_curves(history(True), tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 1000
