"""The measurement record (docs/RESULTS.md), the README's short results table and the model card say
what their files say; the README's API snippet runs as written.

The figures are read from the files each table comes from (the shipped checkpoint's training record,
checkpoints/drawing_scores.json, checkpoints/records/), and the rows are found by their labels, so a
new shipped checkpoint only needs its card and figures regenerated, not this test rewritten.
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
RESULTS = ROOT / "docs" / "RESULTS.md"  # the whole measurement record, every command beside its figure
CARD = DEFAULT_CHECKPOINT.parent / "MODEL_CARD.md"
DRAWINGS = DEFAULT_CHECKPOINT.parent / model_card_cli.DRAWINGS_FILE
OFFICIAL_TEST = DEFAULT_CHECKPOINT.parent / model_card_cli.OFFICIAL_TEST_FILE


@pytest.fixture(scope="module")
def checkpoint():
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing: train one with python -m train")
    return load_checkpoint(DEFAULT_CHECKPOINT)


def table_rows(path: Path = RESULTS) -> list[list[str]]:
    """The cells of every table row of a Markdown file (docs/RESULTS.md unless told)."""
    return [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in path.read_text().splitlines() if line.startswith("|")]


def table_row(label: str, path: Path = RESULTS) -> list[str]:
    """The cells of the table row whose first cell starts with `label`."""
    found = [row for row in table_rows(path) if row[0].startswith(label)]
    assert len(found) == 1, f"{path.name} should have one table row labelled {label!r}, has {len(found)}"
    return found[0]


def one_decimal(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"  # as the drawing tables write them


def two_decimals(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"  # as the validation tables and the card write them


def test_model_card_file_is_what_the_command_writes(checkpoint, capsys):
    """checkpoints/MODEL_CARD.md is byte for byte `python -m train.model_card` (as docs/REFERENCE.md writes it),
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


def test_results_drawing_table_is_the_recorded_scores():
    scores = json.loads(DRAWINGS.read_text())
    for label, figures in (("260 PNGs as scanned", scores["omniglot"]["png"]),
                           ("replays, mean of the", scores["omniglot_replay_mean"]),
                           ("replays, worst variant", scores["omniglot_replay_worst"])):
        row = table_row(label)
        assert row[1:] == [one_decimal(figures[k]) for k in ("strict_top1", "tolerant_top1", "top5")], label
    round_trip = scores["emnist_round_trip"]
    drawn = table_row(f"{round_trip['n']:,} EMNIST validation images drawn")
    direct = table_row(f"the same {round_trip['n']:,} images fed directly")
    assert drawn[1] == one_decimal(round_trip["round_trip_accuracy"])
    assert direct[1] == one_decimal(round_trip["direct_accuracy"])


def test_results_validation_table_is_the_checkpoints_record(checkpoint):
    val = checkpoint.training["metrics"]["val"]
    pool = table_row("validation, the pool's class mix")
    assert pool[1:] == [f"{val['n']:,}"] + [two_decimals(val[k]) for k in
                                             ("accuracy", "digit_letter_accuracy", "balanced_accuracy", "top5_accuracy")]
    weighted = table_row("validation weighted to ByMerge's class mix")
    assert weighted[1:4] == [f"{val['n']:,}", two_decimals(val["prior_weighted_accuracy"]),
                             two_decimals(val["prior_weighted_digit_letter_accuracy"])]
    parameters = count_parameters(build_network(checkpoint.model_config))
    assert f"{parameters:,} parameters" in RESULTS.read_text() and f"{parameters:,} parameters" in README.read_text()


def test_recorded_validation_figures_are_what_evaluate_prints(checkpoint):
    """The record (and so RESULTS.md, the README and the card) says what `python -m train.evaluate --split val` prints."""
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


def test_results_run_rows_are_the_committed_records():
    """Every docs/RESULTS.md table row whose command trains `--out runs/NAME` shows the weighted
    validation figures of checkpoints/records/NAME.json (`python -m train.record`), and every record
    is cited there."""
    readme = RESULTS.read_text()
    checked = 0
    for row in table_rows():
        named = re.search(r"--out runs/([\w.-]+)", row[-1])
        if not named or not re.fullmatch(r"\d+\.\d\d%", row[1]):
            continue
        path = RECORDS / f"{named.group(1)}.json"
        assert path.is_file(), f"RESULTS.md row {row[0]!r} has no record: python -m train.record ... > {path}"
        val = json.loads(path.read_text())["training"]["metrics"]["val"]
        assert row[1:3] == [two_decimals(val["prior_weighted_accuracy"]),
                            two_decimals(val["prior_weighted_digit_letter_accuracy"])], row[0]
        checked += 1
    assert checked >= 5
    for path in RECORDS.glob("*.json"):
        assert f"records/{path.name}" in readme or f"runs/{path.stem}" in readme, f"{path.name} is not cited"


# ---- the README: a front page whose figures are the record's and whose snippet runs ---------------

def exact_row(first_cell: str, path: Path = RESULTS) -> list[str]:
    found = [row for row in table_rows(path) if row[0] == first_cell]
    assert len(found) == 1, f"{path.name} should have one table row {first_cell!r}, has {len(found)}"
    return found[0]


def test_readme_is_a_front_page_under_one_name(checkpoint):
    """The Space's front matter, the README's heading and the page as built go by one name, and the
    README's limit on a photo is the code's."""
    import demo
    from emnist_core.predict import Predictor
    from emnist_core.preprocess import MAX_PIXELS

    text = README.read_text()
    assert len(text.splitlines()) <= 220, "the README is a front page: the details go to docs/"
    name = re.match(r"---\ntitle: (.+)\n", text).group(1)  # the Space's front matter
    assert f"\n# {name}\n" in text
    page = demo.build_demo(Predictor())
    assert page.title == name, f"the page's tab says {page.title!r}, the README {name!r}"
    assert re.search(rf"over {MAX_PIXELS / 1e6:.1f} MP", text), "the README's photo limit is not MAX_PIXELS"
    assert "(docs/RESULTS.md)" in text and (ROOT / "docs" / "screenshot.png").is_file()
    for name in re.findall(r'handle_file\("([^"]+)"\)', text):
        assert (ROOT / name).is_file(), f"the README's snippet names {name}, which is not in the repository"


def test_readme_results_are_the_records(checkpoint):
    val = checkpoint.training["metrics"]["val"]
    official = json.loads(OFFICIAL_TEST.read_text())
    drawings = json.loads(DRAWINGS.read_text())
    both = "{} / {}".format
    assert table_row("official test (116,323 images)", README)[1] == both(
        two_decimals(official["accuracy"]), two_decimals(official["digit_letter_accuracy"]))
    assert f"{official['n']:,}" in table_row("official test", README)[0]
    assert table_row("validation weighted to ByMerge", README)[1] == both(
        two_decimals(val["prior_weighted_accuracy"]), two_decimals(val["prior_weighted_digit_letter_accuracy"]))
    assert table_row("real drawings", README)[1] == one_decimal(drawings["omniglot"]["png"]["tolerant_top1"])
    # measured by bench scripts whose figures live in RESULTS.md only: the README quotes them
    assert table_row("lines:", README)[1] == both(table_row("200 words, letters only")[2],
                                                  table_row("200 numbers, digits only")[2])
    assert table_row("speed: one drawing", README)[1] == exact_row("1")[3].split(" / ")[0] + " ms"
    printed, joined = exact_row("rim's unseen writers (122)")[4], exact_row("ugi and par's CURSIVE (315)")[4]
    assert table_row("real words by unseen writers", README)[1] == both(
        printed.strip("*").split(" / ")[2] + "%", joined.strip("*").split(" / ")[1] + "%")


def test_readme_api_snippet_runs_as_written(monkeypatch, capsys):
    """The snippet, exactly as the README has it, against the page on a free port (the README's
    address replaced by that port's), from the repository root."""
    pytest.importorskip("gradio_client")
    import demo
    from emnist_core.predict import Predictor
    from helpers import free_port

    (snippet,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert 'Client("http://127.0.0.1:7860/")' in snippet  # python demo.py's default port
    blocks = demo.build_demo(Predictor(DEFAULT_CHECKPOINT))
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        monkeypatch.chdir(ROOT)
        exec(compile(snippet.replace("http://127.0.0.1:7860/", blocks.local_url), "README.md", "exec"), {})
    finally:
        blocks.close()
    printed = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(("Loaded", "Closing"))]
    assert len(printed) == 3 and printed[0].startswith("7 ## Reads as **7** (") and printed[1] == "O", printed
    assert printed[0].split("\n")[0].endswith(") — a digit"), printed
    assert printed[2] == "7", printed  # the stroke form, as the page sends it


def test_readme_command_lines_run_as_written():
    """Every `python -m emnist_core.predict` line of the README, as written, from the repository root
    (issue 26: its --line examples named a photo the repository did not have)."""
    import subprocess
    import sys

    lines = [line.split("#")[0].split() for line in README.read_text().splitlines()
             if line.strip().startswith("python -m emnist_core.predict")]
    assert any("--line" in line for line in lines), lines
    for line in lines:
        if "--words" in line:
            pytest.importorskip("wordfreq")
        done = subprocess.run([sys.executable, *line[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 and "cannot read" not in done.stdout, (line, done.stdout, done.stderr)
        if "--words" in line:
            assert ": Hello (" in done.stdout, done.stdout  # the writer's capital kept
