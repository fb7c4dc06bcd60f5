"""The IDX loaders: every official layout is read, every malformed input refused naming its file."""

import zipfile
from pathlib import Path

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import shared_path, write_dataset
from emnist_core.labels import BYCLASS_CHARS, NUM_CLASSES, mapping_file_text
from train import data
from train.data import DataError, has_split, idx_name, load_split, read_class_prior, stratified_split
from train.evaluate import checkpoint_split

N = 60  # images per malformed-input case: small is enough, and fast


@pytest.fixture
def small(glyph_dataset):
    """(images, labels) of the first N training glyphs."""
    return glyph_dataset.train_images[:N], glyph_dataset.train_labels[:N]


def plain_folder(tmp_path: Path, images, labels) -> Path:
    return write_dataset(tmp_path / "data", {"train": (images, labels)}, compress=False)


def images_file(folder: Path) -> Path:
    return folder / idx_name("train", "images")


def official_zip(path: Path, splits: dict, mapping: str = mapping_file_text()) -> Path:
    """The layout of NIST's gzip.zip: gzip/<official name>.gz members, the mapping as plain text."""
    staging = path.parent / "staging"
    write_dataset(staging, splits, mapping=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for member in sorted(staging.iterdir()):
            zf.write(member, f"gzip/{member.name}")
            member.unlink()
        zf.writestr("gzip/emnist-bymerge-mapping.txt", mapping)
    staging.rmdir()
    return path


def refused(folder: Path, names: str) -> str:
    """load_split's DataError message, checked to name `names` (a file or folder)."""
    with pytest.raises(DataError) as error:
        load_split(folder, "train")
    message = str(error.value)
    assert names in message, message
    return message


# ---- the layouts that must load ------------------------------------------------------------------

def test_loads_the_gzipped_fixture(glyph_dataset):
    images, labels = load_split(glyph_dataset.dir, "train")
    assert images.shape == (1500, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(images, glyph_dataset.train_images)
    np.testing.assert_array_equal(labels, glyph_dataset.train_labels)
    test_images, _ = load_split(glyph_dataset.dir, "test")
    np.testing.assert_array_equal(test_images, glyph_dataset.test_images)


def test_loads_plain_files(tmp_path, small):
    images, labels = load_split(plain_folder(tmp_path, *small), "train")
    np.testing.assert_array_equal(images, small[0])
    np.testing.assert_array_equal(labels, small[1])


def test_loads_the_official_gzip_zip(tmp_path, small):
    official_zip(tmp_path / "gzip.zip", {"train": small, "test": small})
    for split in ("train", "test"):
        images, labels = load_split(tmp_path, split)
        np.testing.assert_array_equal(images, small[0])
        np.testing.assert_array_equal(labels, small[1])


def test_has_split(glyph_dataset, tmp_path, small):
    assert has_split(glyph_dataset.dir, "train") and has_split(glyph_dataset.dir, "test")
    folder = plain_folder(tmp_path, *small)
    assert has_split(folder, "train") and not has_split(folder, "test")


def test_write_idx_round_trips_through_parse_idx(tmp_path, small):
    data.write_idx(tmp_path / "x", small[0])
    np.testing.assert_array_equal(data.parse_idx((tmp_path / "x").read_bytes(), "x", data.IMAGE_MAGIC), small[0])


# ---- malformed input: refused, naming the file -----------------------------------------------------

def test_wrong_magic_number(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    raw = bytearray(images_file(folder).read_bytes())
    raw[2:4] = (0x0801).to_bytes(2, "big")  # a labels-file magic on the images file
    images_file(folder).write_bytes(bytes(raw))
    assert "wrong magic number" in refused(folder, str(images_file(folder)))


def test_truncated_images_file(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    images_file(folder).write_bytes(images_file(folder).read_bytes()[:-100])
    assert "truncated" in refused(folder, str(images_file(folder)))


@pytest.mark.parametrize("n_bytes, says", [(12, "truncated header"), (6, "too short")])
def test_truncated_header(tmp_path, small, n_bytes, says):
    folder = plain_folder(tmp_path, *small)
    images_file(folder).write_bytes(images_file(folder).read_bytes()[:n_bytes])
    assert says in refused(folder, str(images_file(folder)))


def test_trailing_data(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    images_file(folder).write_bytes(images_file(folder).read_bytes() + b"\0" * 784)
    assert "trailing data" in refused(folder, str(images_file(folder)))


def test_image_and_label_counts_differ(tmp_path, small):
    folder = plain_folder(tmp_path, small[0], small[1][:-1])
    message = refused(folder, str(images_file(folder)))
    assert idx_name("train", "labels") in message and f"{N} images" in message


def test_labels_outside_bymerge(tmp_path, small):
    labels = small[1].copy()
    labels[[3, 7]] = [NUM_CLASSES, 61]  # ByClass labels do not belong here
    folder = plain_folder(tmp_path, small[0], labels)
    assert "2 labels outside 0..46" in refused(folder, str(folder / idx_name("train", "labels")))


def test_images_not_28x28(tmp_path, small):
    folder = plain_folder(tmp_path, np.zeros((N, 32, 32), np.uint8), small[1])
    assert "expected 28x28" in refused(folder, str(images_file(folder)))


@pytest.mark.parametrize("corrupt", [
    pytest.param(lambda gz: b"plain bytes, not gzip", id="not-gzip"),
    pytest.param(lambda gz: gz[:len(gz) // 2], id="truncated-gzip"),
    pytest.param(lambda gz: gz[:-8] + bytes(8), id="bad-crc"),
    pytest.param(lambda gz: gz[:20] + bytes(b ^ 0xFF for b in gz[20:60]) + gz[60:], id="garbled-deflate"),
])
def test_corrupt_gzip(tmp_path, small, corrupt):
    folder = write_dataset(tmp_path / "data", {"train": small})
    path = folder / (idx_name("train", "images") + ".gz")
    path.write_bytes(corrupt(path.read_bytes()))
    assert "cannot read" in refused(folder, str(path))


def test_zip_that_is_not_a_zip(tmp_path):
    (tmp_path / "gzip.zip").write_bytes(b"PK\x03\x04 but nothing else")
    assert "not a valid zip archive" in refused(tmp_path, str(tmp_path / "gzip.zip"))


def test_zip_member_failing_its_crc(tmp_path, small):
    archive = official_zip(tmp_path / "gzip.zip", {"train": small})
    raw = bytearray(archive.read_bytes())
    raw[200:240] = bytes(40)  # inside the first member's data
    archive.write_bytes(bytes(raw))
    refused(tmp_path, str(archive))


@pytest.mark.parametrize("corrupt", [
    pytest.param(lambda gz: gz[:len(gz) // 2], id="truncated-gzip-member"),
    pytest.param(lambda gz: gz[:20] + bytes(b ^ 0xFF for b in gz[20:60]) + gz[60:], id="garbled-gzip-member"),
])
def test_zip_member_that_is_a_corrupt_gzip(tmp_path, small, corrupt):
    member = f"gzip/{idx_name('train', 'images')}.gz"
    archive = official_zip(tmp_path / "gzip.zip", {"train": small})
    with zipfile.ZipFile(archive) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members[member] = corrupt(members[member])
    with zipfile.ZipFile(archive, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    assert "cannot decompress" in refused(tmp_path, f"{archive}:{member}")


def test_missing_labels_file(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    (folder / idx_name("train", "labels")).unlink()
    assert idx_name("train", "labels") in refused(folder, str(folder))


def test_missing_split(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    with pytest.raises(DataError, match=idx_name("test", "images")):
        load_split(folder, "test")


def test_missing_folder(tmp_path):
    assert "no such data folder" in refused(tmp_path / "nowhere", str(tmp_path / "nowhere"))


def test_wrong_mapping_file(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    mapping = folder / "emnist-bymerge-mapping.txt"
    mapping.write_text("".join(f"{i} {ord(c)}\n" for i, c in enumerate(BYCLASS_CHARS)))
    assert "not the ByMerge mapping" in refused(folder, str(mapping))


def test_non_ascii_mapping_file(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    (folder / "emnist-bymerge-mapping.txt").write_bytes("0 48\n1 ¹\n".encode("utf-8"))
    refused(folder, str(folder / "emnist-bymerge-mapping.txt"))


def test_mapping_file_with_an_impossible_code(tmp_path, small):
    folder = plain_folder(tmp_path, *small)
    (folder / "emnist-bymerge-mapping.txt").write_text("0 99999999\n")
    refused(folder, str(folder / "emnist-bymerge-mapping.txt"))


def test_wrong_mapping_inside_the_zip(tmp_path, small):
    byclass = "".join(f"{i} {ord(c)}\n" for i, c in enumerate(BYCLASS_CHARS))
    archive = official_zip(tmp_path / "gzip.zip", {"train": small}, mapping=byclass)
    refused(tmp_path, f"{archive}:gzip/emnist-bymerge-mapping.txt")


# ---- stratified split --------------------------------------------------------------------------------

def test_stratified_split_is_deterministic_disjoint_and_complete(glyph_dataset):
    labels = glyph_dataset.train_labels.astype(np.int64)
    train_idx, val_idx = stratified_split(labels, 0.2, seed=3)
    again_train, again_val = stratified_split(labels, 0.2, seed=3)
    np.testing.assert_array_equal(train_idx, again_train)
    np.testing.assert_array_equal(val_idx, again_val)
    assert not np.array_equal(val_idx, stratified_split(labels, 0.2, seed=4)[1])
    assert not set(train_idx) & set(val_idx)
    assert sorted(np.concatenate([train_idx, val_idx])) == list(range(len(labels)))


def test_stratified_split_takes_the_fraction_of_every_class():
    labels = np.repeat([0, 5, 12, 46], [100, 40, 7, 1000])
    _, val_idx = stratified_split(labels, 0.1, seed=0)
    val_counts = {c: int((labels[val_idx] == c).sum()) for c in (0, 5, 12, 46)}
    assert val_counts == {0: 10, 5: 4, 12: 1, 46: 100}


def test_train_share_keeps_the_validation_images_and_a_stratified_part_of_the_rest(glyph_dataset):
    """--train-share (a learning curve): the same validation images as a full run, and that share of
    every class of the training part, drawn from it."""
    def load(share):
        args = SimpleNamespace(download=False, data_dir=glyph_dataset.dir, limit=0, val_fraction=0.2, split_seed=0,
                               class_prior=None, train_share=share)
        return data.load_training_data(args, torch.device("cpu"))

    full, half = load(1.0), load(0.5)
    assert torch.equal(full.val_x, half.val_x) and torch.equal(full.val_y, half.val_y)
    full_counts = np.bincount(full.train_y.numpy(), minlength=NUM_CLASSES)
    half_counts = np.bincount(half.train_y.numpy(), minlength=NUM_CLASSES)
    assert np.all(np.abs(half_counts - full_counts / 2) <= 0.5 + 1e-9)  # every class halved, rounding aside
    full_rows = {bytes(row) for row in full.train_x.reshape(len(full.train_x), -1).numpy()}
    assert all(bytes(row) in full_rows for row in half.train_x.reshape(len(half.train_x), -1).numpy())
    # `train.evaluate --split train` scores the images such a run trained on, and no others
    record = SimpleNamespace(training={"split": {"val_fraction": 0.2, "seed": 0, "limit": 0},
                                       "hyperparameters": {"train_share": 0.5}})
    images, labels, _ = checkpoint_split(record, "share.pt", glyph_dataset.dir, "train")
    assert np.array_equal(images, half.train_x.numpy()) and np.array_equal(labels, half.train_y.numpy())


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_stratified_split_refuses_a_bad_fraction(fraction):
    with pytest.raises(ValueError, match="val_fraction"):
        stratified_split(np.zeros(10, np.int64), fraction, seed=0)


# ---- class prior -------------------------------------------------------------------------------------

def test_reads_the_shared_class_prior():
    path = shared_path("emnist-bymerge-offline", "class-prior.txt")
    prior = read_class_prior(path)
    assert prior.shape == (NUM_CLASSES,)
    assert prior.sum() == pytest.approx(1.0) and (prior > 0).all()
    frequencies = [float(line.split()[3]) for line in path.read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    np.testing.assert_allclose(prior, frequencies, atol=1e-5)  # the file's own frequency column


def prior_text(counts) -> str:
    return "# index char count frequency\n" + "".join(f"{i} x {c} 0\n" for i, c in enumerate(counts))


@pytest.mark.parametrize("text", [
    pytest.param(prior_text(range(1, 47)), id="46-classes"),
    pytest.param(prior_text([0] + list(range(1, 47))), id="zero-count"),
    pytest.param(prior_text(range(1, 48)) + "47 ? 5 0\n", id="index-48"),
    pytest.param(prior_text(range(1, 48)) + "3 x\n", id="short-line"),
    pytest.param(prior_text(range(1, 48)).replace("5 x 6", "5 x six"), id="word-count"),
    pytest.param(prior_text(["nan"] + list(range(2, 48))), id="nan-count"),
    pytest.param(prior_text(range(1, 48)) + "-1 x 5 0\n", id="negative-index"),
])
def test_malformed_class_prior_is_refused(tmp_path, text):
    path = tmp_path / "class-prior.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=str(path)):
        read_class_prior(path)


def test_missing_class_prior_is_refused(tmp_path):
    with pytest.raises(DataError, match="not a class-prior file"):
        read_class_prior(tmp_path / "absent.txt")


# ---- download: torchvision's EMNIST, faked (no network) ------------------------------------------

def test_download_returns_the_folder_torchvision_fills(tmp_path, monkeypatch, glyph_dataset):
    import torchvision.datasets

    calls = []

    class FakeEMNIST:
        """Leaves what torchvision's EMNIST(download=True) leaves: uncompressed IDX files in root/EMNIST/raw."""

        def __init__(self, root, split, train, download):
            calls.append((split, train, download))
            splits = {"train": (glyph_dataset.train_images, glyph_dataset.train_labels),
                      "test": (glyph_dataset.test_images, glyph_dataset.test_labels)}
            write_dataset(Path(root) / "EMNIST" / "raw", splits, compress=False, mapping=False)

    monkeypatch.setattr(torchvision.datasets, "EMNIST", FakeEMNIST)
    folder = data.download(tmp_path / "cache")
    assert calls == [("bymerge", True, True)]
    assert folder == tmp_path / "cache" / "EMNIST" / "raw"
    images, labels = load_split(folder, "train")
    np.testing.assert_array_equal(labels, glyph_dataset.train_labels)
    assert has_split(folder, "test")


def test_a_failed_download_names_the_manual_route_and_leaves_nothing(tmp_path, monkeypatch):
    """Whatever torchvision raises midway (here after it made its folder and a partial archive), the
    error says what failed and how to get the data by hand; the folders the download made are gone."""
    import urllib.error

    import torchvision.datasets

    class FailingEMNIST:
        def __init__(self, root, split, train, download):
            raw = Path(root) / "EMNIST" / "raw"
            raw.mkdir(parents=True)
            (raw / "gzip.zip").write_bytes(b"<html>partial")
            raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "EMNIST", FailingEMNIST)
    with pytest.raises(DataError) as error:
        data.download(tmp_path / "cache")
    message = str(error.value)
    assert "--download could not fetch EMNIST" in message and "Name or service not known" in message
    for needed in (data.OFFICIAL_URL, "gzip.zip", "emnist-bymerge-train.csv", "emnist-bymerge-test.csv",
                   "emnist-bymerge-mapping.txt", "--data-dir DIR"):
        assert needed in message, needed
    assert list(tmp_path.iterdir()) == []  # cache/ was made by the download: removed
    # a cache folder that was there before stays, and only what the attempt added goes
    (tmp_path / "cache" / "EMNIST" / "raw").mkdir(parents=True)
    (tmp_path / "cache" / "EMNIST" / "raw" / "mine.txt").write_text("kept")
    monkeypatch.setattr(FailingEMNIST, "__init__", lambda self, root, **_: (
        (Path(root) / "EMNIST" / "raw" / "gzip.zip").write_bytes(b"partial"), 1 / 0))
    with pytest.raises(DataError, match="ZeroDivisionError"):
        data.download(tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache" / "EMNIST" / "raw").iterdir()] == ["mine.txt"]


def test_download_offline_exits_2_with_one_message(tmp_path, monkeypatch, capsys):
    """torchvision's own download code against an address that refuses the connection (no network
    needed): exit 2, one error message, no traceback, no folder left."""
    import torchvision.datasets

    from train import train as train_module

    monkeypatch.setattr(torchvision.datasets.EMNIST, "url", "http://127.0.0.1:9/gzip.zip")
    cache = tmp_path / "cache"
    rc = train_module.main(["--download", "--cache-dir", str(cache), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: --download could not fetch EMNIST") and err.count("error:") == 1
    assert "Traceback" not in err and "--data-dir DIR" in err
    assert not cache.exists()
