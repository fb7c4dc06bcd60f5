"""The predictor and its CLI: batching, outputs, unusable images, the shipped checkpoint on real drawings."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, Checkpoint, save_checkpoint
from emnist_core.labels import are_lookalikes, letter_matches
from emnist_core.model import EmnistCNN, ModelConfig
from emnist_core.predict import Prediction, Predictor, main, percent
from emnist_core.preprocess import UnusableImage

from conftest import shared_path
from helpers import L_SHAPE, draw


ROOT = Path(__file__).resolve().parent.parent
README_KEYS = {"file", "top5", "p_digit", "kind", "lookalikes"}  # README: "Each image gets {...}"
RECORDED_DRAWINGS = DEFAULT_CHECKPOINT.parent / "drawing_scores.json"  # python -m bench.score_drawings --json
DRAWING_TOLERANCE = 0.02  # 5 of the 260 letters: the recorded figure is the same pipeline on the same files


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained small model: enough to test plumbing, not accuracy."""
    torch.manual_seed(0)
    config = ModelConfig(stage_widths=(8, 16), convs_per_stage=(1, 1))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(Checkpoint(model_config=config, state_dict=EmnistCNN(config).state_dict()), path)
    return path


def test_prediction_fields(tiny_checkpoint):
    result = Predictor(tiny_checkpoint).predict(draw(L_SHAPE))
    assert len(result.top5) == 5 and len({c for c, _ in result.top5}) == 5
    probs = [p for _, p in result.top5]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert 0 <= result.p_digit <= 1 and result.kind in ("digit", "letter")
    assert result.image.shape == (28, 28) and result.image.dtype == np.uint8


def test_batch_equals_one_by_one_and_keeps_errors_in_place(tiny_checkpoint):
    predictor = Predictor(tiny_checkpoint)
    inputs = [draw(L_SHAPE), None, draw([[(0.2, 0.2), (0.8, 0.2), (0.5, 0.85)]])]
    batch = predictor.predict_many(inputs)
    assert isinstance(batch[1], UnusableImage)
    for single, batched in zip([predictor.predict(inputs[0]), predictor.predict(inputs[2])], [batch[0], batch[2]]):
        assert [c for c, _ in single.top5] == [c for c, _ in batched.top5]
        assert np.allclose([p for _, p in single.top5], [p for _, p in batched.top5], atol=1e-5)


def test_lookalike_pairs_are_flagged_only_when_close():
    ambiguous = Prediction(top5=[("0", 0.55), ("O", 0.40), ("D", 0.02), ("Q", 0.02), ("C", 0.01)],
                           p_digit=0.56, image=np.zeros((28, 28), np.uint8))
    confident = Prediction(top5=[("0", 0.95), ("O", 0.03), ("D", 0.01), ("Q", 0.005), ("C", 0.005)],
                           p_digit=0.96, image=np.zeros((28, 28), np.uint8))
    unrelated = Prediction(top5=[("A", 0.5), ("7", 0.45), ("D", 0.02), ("Q", 0.02), ("C", 0.01)],
                           p_digit=0.46, image=np.zeros((28, 28), np.uint8))
    assert ambiguous.lookalikes == ("0", "O") and ambiguous.kind == "digit"
    assert confident.lookalikes is None and unrelated.lookalikes is None
    assert are_lookalikes("g", "9") and are_lookalikes("a", "A") and not are_lookalikes("A", "7")


def test_cli_json_reports_each_image_and_survives_bad_ones(tiny_checkpoint, tmp_path, capsys):
    good = tmp_path / "l.png"
    Image.fromarray(draw(L_SHAPE)).save(good)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(blank)
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not an image")
    rc = main([str(good), str(blank), str(garbage), str(tmp_path / "missing.png"),
               "--checkpoint", str(tiny_checkpoint), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and [o["file"] for o in out] == [str(good), str(blank), str(garbage), str(tmp_path / "missing.png")]
    assert set(out[0]) == README_KEYS and len(out[0]["top5"]) == 5
    assert all(isinstance(c, str) and 0 <= p <= 1 for c, p in out[0]["top5"])
    assert out[0]["kind"] in ("digit", "letter")
    for bad in out[1:]:
        assert set(bad) == {"file", "error"} and bad["error"]


def test_cli_text_output_and_bad_checkpoint(tiny_checkpoint, tmp_path, capsys):
    good = tmp_path / "l.png"
    Image.fromarray(draw(L_SHAPE)).save(good)
    assert main([str(good), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert "top-5" in capsys.readouterr().out
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main([str(good), "--checkpoint", str(broken)]) == 2
    assert "broken.pt" in capsys.readouterr().err


def test_shipped_checkpoint_reads_real_mouse_drawings():
    """The 260 Omniglot letters (10 people, drawn with a mouse), through the whole pipeline, score
    within DRAWING_TOLERANCE of the figures recorded beside the checkpoint (and shown in the README and
    the model card): a worse pipeline, or a new checkpoint without re-recorded figures, fails."""
    folder = shared_path("omniglot-latin-dev")
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing: train one with python -m train")
    recorded = json.loads(RECORDED_DRAWINGS.read_text())["omniglot"]["png"]
    pngs = sorted(folder.glob("*_drawer*.png"))
    assert len(pngs) == recorded["n"]
    results = Predictor().predict_many([str(p) for p in pngs])
    letters = [p.name[0] for p in pngs]
    measured = {
        "strict_top1": np.mean([letter_matches(l, r.top5[0][0]) for l, r in zip(letters, results)]),
        "tolerant_top1": np.mean([letter_matches(l, r.top5[0][0], tolerant=True) for l, r in zip(letters, results)]),
        "top5": np.mean([any(letter_matches(l, c, tolerant=True) for c, _ in r.top5) for l, r in zip(letters, results)]),
    }
    for key, value in measured.items():
        assert abs(value - recorded[key]) <= DRAWING_TOLERANCE, \
            f"{key}: {value:.1%} now, {recorded[key]:.1%} recorded in {RECORDED_DRAWINGS.name}"


def test_the_written_letter_is_in_the_top5_of_all_47_classes():
    """Issue 26: a top-5 of the reading's kind only lost the letter meant whenever a drawing read as a
    digit (a single-storey a read 9, and a, g were gone): on the 260 mouse-drawn letters the letter itself
    was in it for 88.8%. The top-5 is the five likeliest of all 47 classes: 99.6% now."""
    folder = shared_path("omniglot-latin-dev")
    pngs = sorted(folder.glob("*_drawer*.png"))
    results = Predictor().predict_many([str(p) for p in pngs])
    found = np.mean([any(letter_matches(p.name[0], c) for c, _ in r.top5) for p, r in zip(pngs, results)])
    assert found >= 0.97, f"the letter drawn is in the top-5 for {found:.1%}"
    assert any(r.kind == "digit" and any(c.isalpha() for c, _ in r.top5) for r in results)


def test_a_prediction_prints_without_its_image(tiny_checkpoint):
    """print(prediction) showed the 28x28 array, 28 lines of numbers; the image stays an attribute."""
    result = Predictor(tiny_checkpoint).predict(draw(L_SHAPE))
    text = repr(result)
    assert text.startswith("Prediction(top5=[") and "p_digit=" in text and "image" not in text
    assert "\n" not in text and len(text) < 400 and result.image.shape == (28, 28)


def test_cli_text_shows_the_readings_one_probability(tmp_path):
    """The CLI's line gave the kind's probability beside the reading and another number in its top-5."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing")
    image = ROOT / "examples" / "0.png"
    read, text = json.loads(run_cli(image, "--json").stdout)[0], run_cli(image).stdout
    (char, p), shown = read["top5"][0], percent(read["top5"][0][1])
    assert text.startswith(f"{image}: {char} {shown} — a {read['kind']}; top-5 {char} {shown}, "), text


# ---- the CLI as people run it: a real process and its exit status -----------------------------------

def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emnist_core.predict", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_cli_process_reads_an_image_with_every_key_the_readme_promises(tiny_checkpoint, tmp_path):
    good = tmp_path / "l.png"
    Image.fromarray(draw(L_SHAPE)).save(good)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(blank)
    done = run_cli(good, blank, "--checkpoint", tiny_checkpoint, "--json")
    assert done.returncode == 0, done.stderr  # one readable image is enough
    read, refused = json.loads(done.stdout)
    assert set(read) == README_KEYS and read["file"] == str(good)
    assert read["lookalikes"] is None or (isinstance(read["lookalikes"], list) and len(read["lookalikes"]) == 2)
    assert set(refused) == {"file", "error"} and "flat colour" in refused["error"]


def test_cli_process_exits_1_when_nothing_is_readable(tiny_checkpoint, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 100), 255, np.uint8)).save(blank)
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not an image")
    done = run_cli(blank, garbage, "--checkpoint", tiny_checkpoint)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "blank.png: cannot read it: The image is one flat colour" in done.stdout
    assert "notes.txt: cannot read it: notes.txt is not an image this tool can read" in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_process_exits_2_on_a_bad_checkpoint(tmp_path):
    good = tmp_path / "l.png"
    Image.fromarray(draw(L_SHAPE)).save(good)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    done = run_cli(good, "--checkpoint", broken)
    assert done.returncode == 2 and done.stdout == ""
    assert f"error: {broken}: not a readable checkpoint" in done.stderr and "Traceback" not in done.stderr


def test_cli_line_json_gives_text_and_each_characters_box(tiny_checkpoint, tmp_path, capsys):
    from helpers import write_line
    line = tmp_path / "line.png"
    Image.fromarray(write_line("7Hk1")[0]).save(line)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((100, 300), 255, np.uint8)).save(blank)
    rc = main(["--line", str(line), str(blank), "--only", "digits", "--checkpoint", str(tiny_checkpoint), "--json"])
    reading, bad = json.loads(capsys.readouterr().out)
    assert rc == 0 and reading["file"] == str(line) and set(bad) == {"file", "error"}
    characters = reading["characters"]
    assert len(characters) == 4 and reading["text"] == "".join(c["top5"][0][0] for c in characters)
    assert set(characters[0]) >= {"box", "top5", "kind", "lookalikes"}
    assert all(c["kind"] == "digit" and c["top5"][0][0].isdigit() for c in characters)  # --only digits
    lefts = [c["box"][0] for c in characters]
    assert lefts == sorted(lefts) and all(len(c["box"]) == 4 and len(c["top5"]) == 5 for c in characters)
    assert main(["--line", str(line), "--checkpoint", str(tiny_checkpoint)]) == 0
    assert "4 characters" in capsys.readouterr().out


# The same strokes (x, y in canvas fractions) drawn with a stylus, a ballpoint and a marker.
PEN_SHAPES = {
    "7": [[(0.22, 0.16), (0.78, 0.16), (0.48, 0.88)]],
    "4": [[(0.6, 0.1), (0.2, 0.6), (0.8, 0.6)], [(0.6, 0.1), (0.6, 0.9)]],
    "E": [[(0.75, 0.15), (0.3, 0.15), (0.3, 0.85), (0.75, 0.85)], [(0.3, 0.5), (0.65, 0.5)]],
    "A": [[(0.2, 0.9), (0.5, 0.1), (0.8, 0.9)], [(0.32, 0.6), (0.68, 0.6)]],
    "X": [[(0.05, 0.05), (0.95, 0.95)], [(0.95, 0.05), (0.05, 0.95)]],
}


@pytest.mark.parametrize("char", PEN_SHAPES)
def test_thin_medium_and_thick_pens_read_alike(char):
    """Shrinking a 1-px pen's mask used to erase it (the 7 lost its bar and read as 1)."""
    if not DEFAULT_CHECKPOINT.is_file():
        pytest.skip(f"{DEFAULT_CHECKPOINT} is missing: train one with python -m train")
    predictor = Predictor()
    readings = {width: predictor.predict(draw(PEN_SHAPES[char], canvas=400, width=width)).top5[0][0]
                for width in (1, 4, 12)}
    assert set(readings.values()) == {char}, readings
