"""The checkpoint format: a faithful round trip, an atomic write, and clear refusals naming the file."""

import argparse
from pathlib import Path

import pytest
import torch

from emnist_core import checkpoint as ckpt_module
from emnist_core.checkpoint import (FORMAT, Checkpoint, CheckpointError, InputSpec, load_checkpoint,
                                    save_checkpoint)
from emnist_core.model import EmnistCNN, ModelConfig

SMALL = ModelConfig(stage_widths=(8, 16), convs_per_stage=(1, 2), dropout=0.1)


def make_checkpoint(config: ModelConfig = SMALL, **fields) -> Checkpoint:
    torch.manual_seed(0)
    model = EmnistCNN(config)
    with torch.no_grad():  # non-default BatchNorm statistics, so they must travel too
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return Checkpoint(model_config=config, state_dict=model.state_dict(), **fields)


def test_round_trip_keeps_every_field_and_the_outputs(tmp_path):
    original = make_checkpoint(input_spec=InputSpec(mean=0.2, std=0.3), digit_source="head",
                               training={"command": "python -m train --epochs 1", "val": {"accuracy": 0.9},
                                         "history": [{"epoch": 1, "train_loss": 1.5}]})
    save_checkpoint(original, tmp_path / "sub" / "model.pt")  # creates the folder
    loaded = load_checkpoint(tmp_path / "sub" / "model.pt")
    assert loaded.model_config == SMALL
    assert loaded.labels == original.labels and len(loaded.labels) == 47
    assert loaded.input_spec == InputSpec(mean=0.2, std=0.3)
    assert loaded.digit_source == "head"
    assert loaded.training == original.training
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        # The same build on both sides (build_model lays the weights out channels_last, whose sums
        # differ from a contiguous model's in the last bit): the saved file changes nothing at all.
        for a, b in zip(original.build_model()(x), loaded.build_model()(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_file_is_plain_data_loadable_with_weights_only(tmp_path):
    save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    assert payload["format"] == FORMAT
    assert payload["model_config"]["stage_widths"] == (8, 16)
    assert set(payload) == {"format", "model_config", "state_dict", "labels", "input_spec", "digit_source",
                            "training"}


def test_input_spec_normalises_uint8_images():
    spec = InputSpec(mean=0.5, std=0.25)
    images = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1).expand(2, 28, 28)
    x = spec.normalize(images)
    assert x.shape == (2, 1, 28, 28)
    assert x[0].unique().tolist() == [-2.0] and x[1].unique().tolist() == [2.0]


def test_failed_save_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(training={"run": "old"}), path)
    before = path.read_bytes()

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")  # some bytes reach the temp file before the failure
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(make_checkpoint(training={"run": "new"}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    monkeypatch.undo()
    assert load_checkpoint(path).training == {"run": "old"}


def test_successful_save_leaves_no_temp_file(tmp_path):
    for _ in range(2):  # the second save replaces the first
        save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


# ---- refusals: CheckpointError naming the file ---------------------------------------------------

def refused(path, says: str) -> None:
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and says in str(error.value), str(error.value)


def test_missing_file(tmp_path):
    refused(tmp_path / "absent.pt", "no such checkpoint file")


def test_truncated_file(tmp_path):
    save_checkpoint(make_checkpoint(), tmp_path / "model.pt")
    raw = (tmp_path / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(raw[:len(raw) // 2])
    refused(tmp_path / "model.pt", "not a readable checkpoint")


def test_random_bytes(tmp_path):
    (tmp_path / "model.pt").write_bytes(torch.randint(0, 256, (5000,), dtype=torch.uint8,
                                                      generator=torch.Generator().manual_seed(0)).numpy().tobytes())
    refused(tmp_path / "model.pt", "not a readable checkpoint")


def test_pickled_object_that_weights_only_refuses(tmp_path):
    torch.save(argparse.Namespace(lr=0.1), tmp_path / "model.pt")  # arbitrary objects need full unpickling
    refused(tmp_path / "model.pt", "not a readable checkpoint")


@pytest.mark.parametrize("payload, found", [
    ({"state_dict": {}}, "None"),  # a bare training-state file
    ({"format": "emnist-sketchpad/0"}, "emnist-sketchpad/0"),
    (torch.zeros(3), "Tensor"),
])
def test_torch_file_in_another_format(tmp_path, payload, found):
    torch.save(payload, tmp_path / "model.pt")
    refused(tmp_path / "model.pt", f"not an {FORMAT} checkpoint (format: ")
    refused(tmp_path / "model.pt", found)


def rewrite(path, **changes) -> None:
    """Load the payload, change fields, save it back as plain data."""
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    torch.save(payload, path)


def test_state_dict_that_does_not_match_the_config(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(), path)
    rewrite(path, model_config={**SMALL.to_dict(), "stage_widths": [8, 32]})
    refused(path, "weights do not match its model config")


def test_labels_count_mismatch(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(), path)
    rewrite(path, labels="0123456789")
    refused(path, "10 labels for a 47-class model")


def test_missing_field_and_unknown_digit_source(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(), path)
    rewrite(path, digit_source="vote")
    refused(path, "unknown digit_source 'vote'")
    payload = torch.load(path, weights_only=True)
    del payload["input_spec"]
    torch.save(payload, path)
    refused(path, "missing or garbles a field")


@pytest.mark.parametrize("change", [{"labels": 47}, {"state_dict": [1, 2]}, {"model_config": "widths"}],
                         ids=["labels-int", "state_dict-list", "model_config-str"])
def test_garbled_field_types(tmp_path, change):
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(), path)
    rewrite(path, **change)
    refused(path, "checkpoint is missing or garbles a field")


def test_default_checkpoint_path_lives_in_the_repository():
    assert ckpt_module.DEFAULT_CHECKPOINT.parent.name == "checkpoints"


@pytest.mark.parametrize("name, says", [("7.png", "a PNG image"), ("empty", "an empty file")])
def test_an_image_or_empty_file_as_checkpoint_says_what_it_is(tmp_path, name, says):
    """Not torch's advice to load with weights_only=False: what the file is, and what to give instead."""
    path = tmp_path / name
    path.write_bytes((Path(__file__).resolve().parents[1] / "examples" / "7.png").read_bytes() if name == "7.png" else b"")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert message == f"{path}: not a readable checkpoint ({says}; give a .pt file written by python -m train)"


def test_a_pickled_object_does_not_echo_torchs_advice(tmp_path):
    torch.save(argparse.Namespace(lr=0.1), tmp_path / "model.pt")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(tmp_path / "model.pt")
    assert "weights_only" not in str(error.value) and "python -m train" in str(error.value)
