"""Ensembles: independently trained members read as one network, in one self-describing checkpoint."""

import contextlib
import io
import json
import signal

import numpy as np
import pytest
import torch

from emnist_core.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from emnist_core.model import Ensemble, ModelConfig, build_network, count_parameters
from emnist_core.predict import Predictor
from train import compare, ensemble, evaluate
from train import train as train_module

TINY = ModelConfig(stage_widths=(4, 8), convs_per_stage=(1, 1))


@pytest.fixture(scope="module", autouse=True)
def keep_sigterm_handler():
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def quiet(main, argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def members(glyph_dataset, tmp_path_factory) -> list:
    """Two tiny runs on the glyph fixture: other seeds, the same validation split."""
    paths = []
    for seed in (0, 1):
        out = tmp_path_factory.mktemp(f"member{seed}")
        rc = quiet(train_module.main, ["--data-dir", glyph_dataset.dir, "--out", out, "--epochs", 2,
                                       "--batch-size", 64, "--no-progress", "--widths", 8, 16, "--convs", 1, 1,
                                       "--val-fraction", 0.2, "--seed", seed, "--split-seed", 0])
        assert rc == 0
        paths.append(out / "model.pt")
    return paths


def test_ensemble_averages_its_members_log_probabilities():
    torch.manual_seed(0)
    model = Ensemble(ModelConfig(**{**TINY.to_dict(), "members": 3})).eval()
    x = torch.randn(5, 1, 28, 28)
    logits, digit = model(x)
    outputs = [m(x) for m in model.members]
    expected = torch.stack([o[0].log_softmax(1) for o in outputs]).mean(0)
    assert torch.allclose(logits, expected, atol=1e-6)
    assert torch.allclose(digit, torch.stack([o[1] for o in outputs]).mean(0), atol=1e-6)
    assert count_parameters(model) == 3 * count_parameters(build_network(TINY))


def test_combined_checkpoint_loads_with_weights_only_and_reads(members, tmp_path, glyph_dataset):
    out = tmp_path / "ensemble.pt"
    assert quiet(ensemble.main, [*members, "--data-dir", glyph_dataset.dir, "--save-to", out]) == 0
    checkpoint = load_checkpoint(out)  # weights_only=True inside
    assert checkpoint.model_config.members == 2
    record = checkpoint.training
    assert [m["path"] for m in record["members"]] == [str(p) for p in members]
    assert record["split"] == load_checkpoint(members[0]).training["split"]
    assert checkpoint.digit_source == record["metrics"]["selection"]["digit_source"]
    # The ensemble's recorded validation figure is what evaluate measures on the same split.
    json_path = tmp_path / "val.json"
    assert quiet(evaluate.main, ["--checkpoint", out, "--data-dir", glyph_dataset.dir, "--split", "val",
                                 "--json", json_path]) == 0
    assert json.loads(json_path.read_text())["accuracy"] == pytest.approx(record["metrics"]["val"]["accuracy"])
    prediction = Predictor(out).predict(np.ascontiguousarray(glyph_dataset.test_images[0].T))
    assert len(prediction.top5) == 5


@pytest.mark.parametrize("tool", ["ensemble", "compare"])
def test_members_of_another_split_are_refused(tool, members, tmp_path, glyph_dataset, capsys):
    """Both the ensemble and the paired comparison need images none of the models trained on."""
    other = load_checkpoint(members[1])
    other.training["split"] = {**other.training["split"], "seed": 7}
    save_checkpoint(other, tmp_path / "other.pt")
    main = {"ensemble": ensemble.main, "compare": compare.main}[tool]
    assert main([str(members[0]), str(tmp_path / "other.pt"), "--data-dir", str(glyph_dataset.dir)]) == 2
    assert "another validation split" in capsys.readouterr().err


def test_an_ensemble_is_not_a_member(members, tmp_path, glyph_dataset, capsys):
    first = load_checkpoint(members[0])
    nested = ensemble.combine([first, first], "top", first.training)
    save_checkpoint(nested, tmp_path / "nested.pt")
    assert ensemble.main([str(tmp_path / "nested.pt"), str(members[0]), "--data-dir", str(glyph_dataset.dir)]) == 2
    assert "already an ensemble" in capsys.readouterr().err


def test_weighted_mean_and_se_by_hand():
    mean, se = evaluate.weighted_mean_and_se(torch.tensor([1.0, 0.0, 1.0, 1.0]))
    assert mean == pytest.approx(0.75)
    assert se == pytest.approx(np.sqrt((3 * 0.0625 + 0.5625) / 16))  # sqrt(sum w^2 (v-m)^2), w = 1/4
    mean, _ = evaluate.weighted_mean_and_se(torch.tensor([1.0, 0.0]), torch.tensor([3.0, 1.0]))
    assert mean == pytest.approx(0.75)


# ---- train.compare: paired gains over a baseline --------------------------------------------------

def compared(capsys, *argv) -> dict[str, dict[str, float]]:
    """{path: {figure: value}} from `python -m train.compare`'s lines."""
    assert compare.main([str(a) for a in argv]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines()[1:]:
        path, _, cells = line.partition(" [")
        values = {}
        for cell in cells.split("]: ", 1)[1].split("; "):
            name, rest = cell.split(" ", 1)
            values[name] = float(rest.split("%")[0])
            if "gain" in rest:
                values[name + " gain"] = float(rest.split("gain ")[1].split(" ")[0])
        rows[path] = values
    return rows


def test_compare_prints_paired_gains_that_are_the_differences(members, glyph_dataset, capsys):
    rows = compared(capsys, *members, members[0], "--data-dir", glyph_dataset.dir)
    base, other = rows[str(members[0])], rows[str(members[1])]  # base: its last line, compared with itself
    assert base["accuracy gain"] == base["digit/letter gain"] == 0.0
    for name in ("accuracy", "digit/letter"):
        # the paired mean difference is the difference of the means (same images, same weights)
        assert other[name + " gain"] == pytest.approx(other[name] - base[name], abs=0.011)
    checkpoint = load_checkpoint(members[1])
    assert other["accuracy"] == pytest.approx(100 * checkpoint.training["metrics"]["val"]["accuracy"], abs=0.006)
