"""Shared fixtures: a small, learnable, EMNIST-like dataset in the official IDX layout; the shipped
model, the page launched for the API tests (server_url, client); SIGTERM's handler kept.

The glyphs are a few simple stroke shapes (0 1 7 L T X), jittered and noised, so a tiny CNN learns
them in seconds; they are stored transposed and named exactly like the official files.
"""

import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from emnist_core.labels import char_to_index, mapping_file_text
from helpers import checkpoint_or_skip, served
from train.data import idx_name, write_idx

# ../shared/data beside the checkout: genuine data (EMNIST, Omniglot, UNIPEN) that is not part of the repository.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_EMNIST = SHARED_DATA / "emnist-bymerge-offline"

# Each glyph: line segments ((x0, y0), (x1, y1)) on a 0..1 canvas, y pointing down; "ring" is a circle.
GLYPHS = {
    "0": "ring",
    "1": [((0.5, 0.15), (0.5, 0.85))],
    "7": [((0.25, 0.2), (0.75, 0.2)), ((0.75, 0.2), (0.4, 0.85))],
    "L": [((0.3, 0.15), (0.3, 0.85)), ((0.3, 0.85), (0.75, 0.85))],
    "T": [((0.2, 0.18), (0.8, 0.18)), ((0.5, 0.18), (0.5, 0.85))],
    "X": [((0.25, 0.15), (0.75, 0.85)), ((0.75, 0.15), (0.25, 0.85))],
}
GLYPH_CLASSES = [char_to_index(c) for c in GLYPHS]  # ByMerge labels of the glyphs (mixed digits/letters)


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a reason saying what is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: genuine data (EMNIST, Omniglot, UNIPEN) lives in ../shared/data beside the checkout")
    return path


def draw_glyph(char: str, rng: np.random.Generator) -> np.ndarray:
    """One 28x28 uint8 image of `char`, upright, with random shift, scale, stroke width and noise."""
    ys, xs = np.mgrid[0:28, 0:28].astype(np.float64) + 0.5
    scale = rng.uniform(0.8, 1.05) * 28
    dx, dy = rng.uniform(-2.5, 2.5, size=2)
    width = rng.uniform(1.2, 2.2)  # half the stroke width, in pixels
    px, py = (xs - dx - 14) / scale + 0.5, (ys - dy - 14) / scale + 0.5  # pixel -> glyph canvas
    if GLYPHS[char] == "ring":
        radius = np.hypot((px - 0.5) / 0.28, (py - 0.5) / 0.38)
        distance = np.abs(radius - 1.0) * 0.3
    else:
        distance = np.full(px.shape, np.inf)
        for (x0, y0), (x1, y1) in GLYPHS[char]:
            sx, sy = x1 - x0, y1 - y0
            t = np.clip(((px - x0) * sx + (py - y0) * sy) / (sx * sx + sy * sy), 0, 1)
            distance = np.minimum(distance, np.hypot(px - x0 - t * sx, py - y0 - t * sy))
    ink = np.clip(width - distance * scale, 0, 1)  # soft-edged stroke, like EMNIST's
    ink = ink + rng.normal(0, 0.05, ink.shape) * (ink > 0)
    return (np.clip(ink, 0, 1) * 255).astype(np.uint8)


def glyph_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, 28) uint8 in EMNIST's transposed orientation, (n,) ByMerge labels; classes balanced."""
    rng = np.random.default_rng(seed)
    chars = list(GLYPHS)
    picks = rng.permutation(np.arange(n) % len(chars))
    images = np.stack([draw_glyph(chars[p], rng).T for p in picks])  # .T: EMNIST stores transposed
    labels = np.array([GLYPH_CLASSES[p] for p in picks], dtype=np.uint8)
    return images, labels


def write_dataset(folder: Path, splits: dict, compress: bool = True, mapping: bool = True) -> Path:
    """Write {split: (images, labels)} as official IDX files (gzipped by default) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in splits.items():
        suffix = ".gz" if compress else ""
        write_idx(folder / (idx_name(split, "images") + suffix), images)
        write_idx(folder / (idx_name(split, "labels") + suffix), labels)
    if mapping:
        (folder / "emnist-bymerge-mapping.txt").write_text(mapping_file_text())
    return folder


@dataclass
class GlyphDataset:
    dir: Path  # the official four .gz files and the mapping
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: list[int]  # the ByMerge labels present


@pytest.fixture(scope="session")
def glyph_dataset(tmp_path_factory) -> GlyphDataset:
    train = glyph_images(1500, seed=1)
    test = glyph_images(300, seed=2)
    folder = write_dataset(tmp_path_factory.mktemp("emnist") / "bymerge", {"train": train, "test": test})
    return GlyphDataset(folder, *train, *test, classes=sorted(GLYPH_CLASSES))


@pytest.fixture(scope="module")
def predictor():
    """The shipped model (or $EMNIST_CHECKPOINT's); the test skips, saying why, without it."""
    from emnist_core.predict import Predictor
    return Predictor(checkpoint_or_skip())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An untrained small model: for tests of the plumbing, not of accuracy."""
    import torch
    from emnist_core.checkpoint import Checkpoint, save_checkpoint
    from emnist_core.model import EmnistCNN, ModelConfig
    from emnist_core.predict import Predictor
    config = ModelConfig(stage_widths=(8, 16), convs_per_stage=(1, 1))
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    save_checkpoint(Checkpoint(model_config=config, state_dict=EmnistCNN(config).state_dict()), path)
    return Predictor(path)


@pytest.fixture(scope="module")
def server_url(predictor):
    """The page, launched in this process on a free local port, for one test module."""
    with served(predictor) as url:
        yield url


@pytest.fixture(scope="module")
def client(server_url):
    from gradio_client import Client
    return Client(server_url, verbose=False)


@pytest.fixture(scope="module", autouse=True)
def keep_sigterm_handler():
    """train.run installs a SIGTERM handler for the whole process; give pytest its own back."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


# ---- small UNIPEN folders (train/unipen.py's layout), written by the tests ----------------------------

def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    """Files (paths relative to `root`) with their text; returns root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return root


def block(keyword: str, *points) -> str:
    """A .PEN_DOWN / .PEN_UP block of point rows (each a tuple of numbers)."""
    return f".{keyword}\n" + "".join(" ".join(str(v) for v in p) + "\n" for p in points)


def down(*points) -> str:
    return block("PEN_DOWN", *points)


def pen_folder(tmp_path: Path) -> Path:
    """Two sites of drawable characters: 'trn' (training) and 'hold' (validation)."""
    pen = (down((0, 0.1), (0, 30)) + ".PEN_UP\n"  # a '1' (y up: from the foot to the top)
           + down((0, 30), (20, 30), (8, 0)) + ".PEN_UP\n"  # a '7'
           + down((0, 30), (0, 0.1), (15, 0.1)) + ".PEN_UP\n")  # an 'L'
    segments = '.SEGMENT CHARACTER 0 ? "1"\n.SEGMENT CHARACTER 1 ? "7"\n'
    return write_tree(tmp_path / "unipen", {
        "data/1a/trn/t.dat": ".INCLUDE trn/p.inc\n" + segments,
        "data/1b/trn/t.dat": '.INCLUDE trn/p.inc\n.SEGMENT CHARACTER 2 ? "L"\n',
        "data/1a/hold/h.dat": ".INCLUDE hold/p.inc\n" + segments,
        "include/trn/p.inc": ".WRITER_ID t1\n" + pen, "include/hold/p.inc": pen})
