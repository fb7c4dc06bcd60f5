"""`python -m train.finetune` on a tiny store and the glyph fixture: CPU, seconds.

A small model is trained on the glyphs (as tests/test_training.py does), corrections are stored from
glyph images, and the fine-tune must learn them, keep the base run's validation split, record what it
learnt from, refuse --save-to when the pool's validation falls, and refuse bad input with exit 2.
"""

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import glyph_images, write_dataset
from emnist_core.card import model_card
from emnist_core.checkpoint import load_checkpoint, save_checkpoint
from emnist_core.corrections import CorrectionStore
from emnist_core.labels import char_to_index
from helpers import run_training, train_args
from train import finetune, recalibrate
from train.data import load_recorded_split

SHA = "0" * 64


@pytest.fixture(scope="module")
def base(glyph_dataset, tmp_path_factory):
    run = run_training(train_args(glyph_dataset.dir, tmp_path_factory.mktemp("base")))
    assert run.rc == 0, run.stderr
    return run.out / "model.pt"


def make_store(path, images, labels) -> CorrectionStore:
    store = CorrectionStore(path)
    for image, label in zip(images, labels):
        store.add(image, b"\x89PNG\r\n\x1a\n", label, "?", "x.pt", SHA)
    return store


def finetune_args(store, data_dir, base, out, *extra) -> list[str]:
    return ["--corrections", str(store), "--data-dir", str(data_dir), "--checkpoint", str(base),
            "--budget-minutes", "2", "--out", str(out), "--steps", "40", "--batch-size", "64",
            "--corrections-per-batch", "16", "--lr", "3e-3", "--device", "cpu", *extra]


def test_finetune_learns_corrections_and_records_them(base, glyph_dataset, tmp_path, capsys):
    images, _ = glyph_images(20, seed=7)
    store = make_store(tmp_path / "c.db", images, ["1"] * 20)  # every glyph "is" a 1: learnable, and measurable
    out = tmp_path / "run"
    rc = finetune.main(finetune_args(tmp_path / "c.db", glyph_dataset.dir, base, out, "--save-to",
                                     str(tmp_path / "saved.pt"), "--force"))
    assert rc == 0, capsys.readouterr().err
    entry = json.loads((out / "finetune.json").read_text())
    assert entry["corrections"] == 20 and entry["held_out"] == 4 and entry["learnt"] == 16
    assert entry["store_sha256"] == store.content_hash() and entry["command"].startswith("python -m train.finetune")
    assert entry["after"]["taught"]["accuracy"] > entry["before"]["taught"]["accuracy"]
    checkpoint = load_checkpoint(tmp_path / "saved.pt")
    base_record = load_checkpoint(base).training
    assert checkpoint.training["finetuned"][-1]["store_sha256"] == store.content_hash()
    assert "then fine-tuned on 20 writers' corrections" in model_card(checkpoint)
    assert checkpoint.training["split"] == base_record["split"]  # the same validation images, checked below
    assert checkpoint.training["metrics"]["val"]["n"] == base_record["n_val"]
    import torch
    data = load_recorded_split(checkpoint.training, glyph_dataset.dir, torch.device("cpu"))
    assert len(data.val_y) == base_record["n_val"]


def test_save_to_is_refused_when_the_pool_falls(base, glyph_dataset, tmp_path, capsys):
    images, labels = glyph_images(60, seed=8)
    wrong = np.where(labels == char_to_index("0"), char_to_index("X"), char_to_index("0"))  # all mislabelled
    make_store(tmp_path / "c.db", images, ["0X"[int(w == char_to_index("X"))] for w in wrong])
    flags = ["--corrections-per-batch", "64", "--lr", "5e-3", "--save-to", str(tmp_path / "saved.pt")]
    assert finetune.main(finetune_args(tmp_path / "c.db", glyph_dataset.dir, base, tmp_path / "run", *flags)) == 1
    assert "not saved to" in capsys.readouterr().err and not (tmp_path / "saved.pt").exists()
    assert (tmp_path / "run" / "model.pt").is_file()  # the run itself is kept to look at


def test_bad_input_is_a_message_and_exit_2(base, glyph_dataset, tmp_path, capsys):
    images, _ = glyph_images(5, seed=9)
    make_store(tmp_path / "c.db", images, ["1"] * 5)
    CorrectionStore(tmp_path / "empty.db")
    other_pool = write_dataset(tmp_path / "other", {"train": glyph_images(400, seed=3)})
    cases = [(tmp_path / "absent.db", glyph_dataset.dir, base, "no such corrections store"),
             (tmp_path / "empty.db", glyph_dataset.dir, base, "no corrections"),
             (tmp_path / "c.db", tmp_path / "nowhere", base, "no such data folder"),
             (tmp_path / "c.db", other_pool, base, "the pool it was trained on"),
             (tmp_path / "c.db", glyph_dataset.dir, tmp_path / "none.pt", "no such checkpoint")]
    for store, data_dir, checkpoint, phrase in cases:
        assert finetune.main(finetune_args(store, data_dir, checkpoint, tmp_path / "run")) == 2
        assert phrase in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        finetune.main(finetune_args(tmp_path / "c.db", glyph_dataset.dir, base, tmp_path / "run", "--steps", "0"))
    assert exit_.value.code == 2


def test_derived_checkpoints_keep_the_labels_and_input_spec_of_their_base(base, glyph_dataset, tmp_path, capsys):
    """A fine-tuned or recalibrated checkpoint is its base with new weights: labels in another order and
    another normalisation travel with it instead of falling back to the defaults."""
    import torch
    original = load_checkpoint(base)
    letters = original.labels[10:]
    odd = replace(original, labels=original.labels[:10] + letters[1] + letters[0] + letters[2:],
                  input_spec=replace(original.input_spec, mean=0.2, std=0.3))
    save_checkpoint(odd, tmp_path / "odd.pt")
    images, _ = glyph_images(5, seed=10)
    make_store(tmp_path / "c.db", images, ["1"] * 5)
    assert finetune.main(finetune_args(tmp_path / "c.db", glyph_dataset.dir, tmp_path / "odd.pt", tmp_path / "run",
                                       "--steps", "2")) == 0, capsys.readouterr().err
    recalibrated = recalibrate.recalibrate(odd, str(glyph_dataset.dir), torch.device("cpu"), "test")
    for derived in (load_checkpoint(tmp_path / "run" / finetune.FINAL), recalibrated):
        assert derived.labels == odd.labels != original.labels
        assert derived.input_spec == odd.input_spec
