"""The README's and the model card's result tables say what their files say.

The figures are read from the files each table comes from (the shipped checkpoint's training record,
checkpoints/drawing_scores.json), and the README's rows are found by their labels, so a new shipped
checkpoint only needs its card and README figures regenerated, not this test rewritten.
"""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from emnist_core.inference import model_outputs, probabilities
from emnist_core.model import build_network, count_parameters
from train import model_card as model_card_cli
from train.evaluate import checkpoint_split, compute_metrics

from conftest import shared_path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CARD = DEFAULT_CHECKPOINT.parent / "MODEL_CARD.md"
DRAWINGS = DEFAULT_CHECKPOINT.parent / model_card_cli.DRAWINGS_FILE
OFFICIAL_TEST = DEFAULT_CHECKPOINT.parent / model_card_cli.OFFICIAL_TEST_FILE


@pytest.fixture(scope="module")
def checkpoint():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing: train one with python -m train")
    return load_checkpoint(DEFAULT_CHECKPOINT)


def readme_rows() -> list[list[str]]:
    """The cells of every README table row."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in README.read_text().splitlines() if line.startswith("|")]


def readme_row(label: str) -> list[str]:
    """The cells of the README table row whose first cell starts with `label`."""
    found = [row for row in readme_rows() if row[0].startswith(label)]
    assert len(found) == 1, f"README should have one table row labelled {label!r}, has {len(found)}"
    return found[0]


def one_decimal(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"  # as the README's drawing table writes them


def two_decimals(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"  # as the README's and the card's validation tables write them


def test_model_card_file_is_what_the_command_writes(checkpoint, capsys):
    """checkpoints/MODEL_CARD.md is byte for byte `python -m train.model_card` (as the README writes it),
    which is emnist_core.card.model_card of the shipped checkpoint with its drawing scores."""
    assert model_card_cli.main([]) == 0
    written = capsys.readouterr().out
    drawings = json.loads(DRAWINGS.read_text())
    official = json.loads(OFFICIAL_TEST.read_text()) if OFFICIAL_TEST.is_file() else None
    expected = model_card(checkpoint, f"Model card: `{DEFAULT_CHECKPOINT.name}`",
                          DEFAULT_CHECKPOINT.stat().st_size / 1e6, drawings, official)
    assert written == expected
    assert "**Real drawings**" in written
    assert CARD.read_text() == written, "regenerate it: python -m train.model_card > checkpoints/MODEL_CARD.md"


def test_readme_drawing_table_is_the_recorded_scores():
    scores = json.loads(DRAWINGS.read_text())
    for label, figures in (("260 PNGs as scanned", scores["omniglot"]["png"]),
                           ("replays, mean of the 12 variants", scores["omniglot_replay_mean"]),
                           ("replays, worst variant", scores["omniglot_replay_worst"])):
        row = readme_row(label)
        assert row[1:] == [one_decimal(figures[k]) for k in ("strict_top1", "tolerant_top1", "top5")], label
    round_trip = scores["emnist_round_trip"]
    drawn = readme_row(f"{round_trip['n']:,} EMNIST validation images drawn")
    direct = readme_row(f"the same {round_trip['n']:,} images fed directly")
    assert drawn[1] == one_decimal(round_trip["round_trip_accuracy"])
    assert direct[1] == one_decimal(round_trip["direct_accuracy"])


def test_readme_validation_table_is_the_checkpoints_record(checkpoint):
    val = checkpoint.training["metrics"]["val"]
    pool = readme_row("validation, the pool's class mix")
    assert pool[1:] == [f"{val['n']:,}"] + [two_decimals(val[k]) for k in
                                             ("accuracy", "digit_letter_accuracy", "balanced_accuracy", "top5_accuracy")]
    weighted = readme_row("validation weighted to ByMerge's class mix")
    assert weighted[1:4] == [f"{val['n']:,}", two_decimals(val["prior_weighted_accuracy"]),
                             two_decimals(val["prior_weighted_digit_letter_accuracy"])]
    parameters = count_parameters(build_network(checkpoint.model_config))
    assert f"{parameters:,} parameters" in README.read_text()


def test_recorded_validation_figures_are_what_evaluate_prints(checkpoint):
    """The record (and so the README and the card) says what `python -m train.evaluate --split val` prints."""
    record = checkpoint.training
    data_dir = shared_path(Path(record["data_dir"]).name)
    images, labels, weights = checkpoint_split(checkpoint, DEFAULT_CHECKPOINT, data_dir, "val")
    logits, digit_logits = model_outputs(checkpoint.build_model(), torch.from_numpy(np.ascontiguousarray(images)),
                                         checkpoint.input_spec)
    measured = compute_metrics(*probabilities(logits, digit_logits, checkpoint.digit_source),
                               torch.from_numpy(labels), weights)
    recorded = record["metrics"]["val"]
    for key in ("accuracy", "digit_letter_accuracy", "balanced_accuracy", "top5_accuracy",
                "prior_weighted_accuracy", "prior_weighted_digit_letter_accuracy"):
        assert measured[key] == pytest.approx(recorded[key], abs=2e-4), key  # a reading or two


RECORDS = DEFAULT_CHECKPOINT.parent / "records"


def test_readme_run_rows_are_the_committed_records():
    """Every README table row whose command trains `--out runs/NAME` shows the weighted validation
    figures of checkpoints/records/NAME.json (`python -m train.record`), and every record is cited."""
    readme = README.read_text()
    checked = 0
    for row in readme_rows():
        named = re.search(r"--out runs/([\w.-]+)", row[-1])
        if not named or not re.fullmatch(r"\d+\.\d\d%", row[1]):
            continue
        path = RECORDS / f"{named.group(1)}.json"
        assert path.is_file(), f"README row {row[0]!r} has no record: python -m train.record ... > {path}"
        val = json.loads(path.read_text())["training"]["metrics"]["val"]
        assert row[1:3] == [two_decimals(val["prior_weighted_accuracy"]),
                            two_decimals(val["prior_weighted_digit_letter_accuracy"])], row[0]
        checked += 1
    assert checked >= 5
    for path in RECORDS.glob("*.json"):
        assert f"records/{path.name}" in readme or f"runs/{path.stem}" in readme, f"{path.name} is not cited"
