"""Kaggle's CSV layout of EMNIST (train/csv_data.py): the same arrays as the IDX files, the same
training and evaluation figures, and every malformed file refused with its file and line named."""

import gzip
import json

import numpy as np
import pytest

from conftest import glyph_images
from emnist_core.labels import mapping_file_text
from train import csv_data, evaluate
from train import train as train_module
from train.csv_data import csv_name, load_csv, write_csv
from train.data import DataError, has_split, load_split
from helpers import run_training, train_args


@pytest.fixture(scope="module")
def csv_dataset(glyph_dataset, tmp_path_factory):
    """The glyph fixture's IDX files written again as Kaggle's CSVs (train plain, test gzipped)."""
    folder = tmp_path_factory.mktemp("kaggle")
    write_csv(folder / csv_name("train"), glyph_dataset.train_images, glyph_dataset.train_labels)
    write_csv(folder / (csv_name("test") + ".gz"), glyph_dataset.test_images, glyph_dataset.test_labels)
    (folder / "emnist-bymerge-mapping.txt").write_text(mapping_file_text())
    return folder


def test_csv_and_idx_load_to_identical_arrays(glyph_dataset, csv_dataset):
    for split in ("train", "test"):
        assert has_split(csv_dataset, split)
        from_idx, from_csv = load_split(glyph_dataset.dir, split), load_split(csv_dataset, split)
        for a, b in zip(from_idx, from_csv):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), split


def test_a_row_is_the_idx_image_in_its_transposed_order(tmp_path):
    images, labels = glyph_images(3, seed=5)
    path = tmp_path / "x.csv"
    write_csv(path, images, labels)
    first = [int(v) for v in path.read_text().splitlines()[0].split(",")]
    assert first[0] == labels[0] and first[1:] == images[0].reshape(-1).tolist()  # row-major, as stored


def test_rows_are_read_in_blocks_into_one_array(tmp_path, monkeypatch):
    """Block boundaries (here every 7 rows), CRLF line ends and a last line without its newline."""
    monkeypatch.setattr(csv_data, "BLOCK_ROWS", 7)
    images, labels = glyph_images(30, seed=6)
    path = tmp_path / "x.csv"
    write_csv(path, images, labels)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n"))
    got_images, got_labels = load_csv(path)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)


def test_training_on_csv_gives_the_figures_of_the_same_images_in_idx(glyph_dataset, csv_dataset, tmp_path):
    runs = [run_training(train_args(folder, tmp_path / name, "--epochs", "1", "--no-augment"))
            for name, folder in (("idx", glyph_dataset.dir), ("csv", csv_dataset))]
    assert [r.rc for r in runs] == [0, 0], runs[1].stderr
    idx, csv = (r.metrics for r in runs)
    for split in ("val", "test"):
        for key in ("n", "accuracy", "digit_letter_accuracy", "balanced_accuracy", "top5_accuracy"):
            assert csv[split][key] == idx[split][key], (split, key)


def test_evaluate_reads_the_csv_layout(glyph_dataset, csv_dataset, tmp_path, capsys):
    run = run_training(train_args(glyph_dataset.dir, tmp_path / "run", "--epochs", "1"))
    assert run.rc == 0, run.stderr
    figures = {}
    for name, folder in (("idx", glyph_dataset.dir), ("csv", csv_dataset)):
        for split in ("test", "val"):
            out = tmp_path / f"{name}-{split}.json"
            assert evaluate.main(["--checkpoint", str(run.out / "model.pt"), "--data-dir", str(folder),
                                  "--split", split, "--json", str(out)]) == 0
            figures[name, split] = json.loads(out.read_text())
    capsys.readouterr()
    for split in ("test", "val"):
        idx, csv = figures["idx", split], figures["csv", split]
        assert {k: v for k, v in csv.items() if k != "data_dir"} == {k: v for k, v in idx.items() if k != "data_dir"}


# ---- malformed CSVs: refused, naming file and line, exit 2 ----------------------------------------

GOOD = [7] + [0] * 300 + [255] * 184 + [13] * 300  # label 7 and 784 pixels


def row(values) -> str:
    return ",".join(map(str, values))


BAD = {
    "a header row": (["label," + ",".join(f"pixel{i}" for i in range(784))], 1, "header row"),
    "a short header": (["label,pixel1,pixel2", row(GOOD)], 1, "header row"),
    "a missing column": ([row(GOOD), row(GOOD[:-1])], 2, "784 columns, expected 785"),
    "an extra column": ([row(GOOD), row(GOOD), row(GOOD + [0])], 3, "786 columns, expected 785"),
    "a decimal pixel": ([row(GOOD), row(GOOD[:5] + ["1.5"] + GOOD[6:])], 2, "column 6: pixel '1.5'"),
    "a word": ([row(GOOD[:9] + ["x"] + GOOD[10:])], 1, "column 10: pixel 'x' is not a whole number"),
    "a pixel over 255": ([row(GOOD), row(GOOD), row(GOOD[:700] + [256] + GOOD[701:])], 3, "column 701: pixel '256'"),
    "a negative pixel": ([row(GOOD[:3] + [-1] + GOOD[4:])], 1, "column 4: pixel '-1'"),
    "a label outside the mapping": ([row(GOOD), row([47] + GOOD[1:])], 2, "label '47' is outside the ByMerge mapping"),
    "a blank line": ([row(GOOD), "", row(GOOD)], 2, "1 columns, expected 785"),
    "one endless line": (["1" * 100_000], 1, "longer than"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_csv_is_refused_naming_file_and_line(case, tmp_path):
    lines, number, says = BAD[case]
    path = tmp_path / csv_name("train")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        load_split(tmp_path, "train")
    assert str(error.value).startswith(f"{path}, line {number}: "), str(error.value)
    assert says in str(error.value)


def test_an_empty_or_broken_csv_is_refused(tmp_path):
    path = tmp_path / csv_name("train")
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty \(0 bytes\)"):
        load_split(tmp_path, "train")
    path.unlink()
    gz = tmp_path / (csv_name("train") + ".gz")
    gz.write_bytes(gzip.compress((row(GOOD) + "\n").encode())[:-12])  # truncated
    with pytest.raises(DataError, match=str(gz)):
        load_split(tmp_path, "train")


def test_a_gzip_bomb_is_refused_at_the_row_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_data, "MAX_ROWS", 50)
    gz = tmp_path / (csv_name("train") + ".gz")
    gz.write_bytes(gzip.compress(((row(GOOD) + "\n") * 200).encode()))
    with pytest.raises(DataError, match="more than 50 rows"):
        load_split(tmp_path, "train")


def test_training_on_a_bad_csv_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / csv_name("train")
    path.write_text(row(GOOD) + "\n" + row(GOOD[:-1]) + "\n")
    assert train_module.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    assert f"{path}, line 2: 784 columns" in capsys.readouterr().err


def test_a_folder_with_neither_layout_names_both(tmp_path):
    with pytest.raises(DataError) as error:
        load_split(tmp_path, "train")
    assert "emnist-bymerge-train-images-idx3-ubyte" in str(error.value) and csv_name("train") in str(error.value)
