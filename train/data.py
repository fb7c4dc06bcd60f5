"""EMNIST ByMerge data: the official IDX files (plain, gzipped, or inside gzip.zip) or Kaggle's CSVs
(csv_data.py), checked.

Malformed input is refused with a message naming the file, never silently trained on.
"""

import gzip
import io
import math
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from emnist_core.checkpoint import describe_error
from emnist_core.labels import NUM_CLASSES, check_mapping_file

from .csv_data import csv_name, find_csv, load_csv
from .data_limits import MAX_IDX_BYTES, MAX_TEXT_BYTES, DataError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049  # 0x00000803 (ubyte, 3 dims), 0x00000801 (ubyte, 1 dim)
SPLITS = ("train", "test")
OFFICIAL_ZIP = "gzip.zip"
OFFICIAL_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"  # what torchvision fetches
KAGGLE_URL = "https://www.kaggle.com/datasets/crawford/emnist"
PRIOR_FILE = "class-prior.txt"  # ByMerge's own class frequencies, when the data folder has them


def idx_name(split: str, kind: str) -> str:
    """Official file name, e.g. emnist-bymerge-train-images-idx3-ubyte."""
    return f"emnist-bymerge-{split}-{kind}-{'idx3' if kind == 'images' else 'idx1'}-ubyte"


def parse_idx(raw: bytes, source: str, expect_magic: int) -> np.ndarray:
    """Decode IDX bytes (big-endian header: magic, then one uint32 per dimension, then uint8 data)."""
    if len(raw) < 8:
        raise DataError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expect_magic:
        raise DataError(f"{source}: wrong magic number {magic:#010x}, expected {expect_magic:#010x}")
    n_dims = magic & 0xFF
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataError(f"{source}: truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(f"{source}: {len(raw)} bytes, but its header {shape} needs {expected}"
                        f" ({'truncated' if len(raw) < expected else 'trailing data'})")
    if expect_magic == IMAGE_MAGIC and shape[1:] != (28, 28):
        raise DataError(f"{source}: images are {shape[1:]}, expected 28x28")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()  # writable, for torch


def _read_idx_stream(stream, source: str) -> bytes | bytearray:
    """An IDX file's bytes from a (decompressing) stream, read no further than its header says it
    holds, plus one byte so that parse_idx can see trailing data."""
    head = stream.read(4)
    if int.from_bytes(head, "big") not in (IMAGE_MAGIC, LABEL_MAGIC):
        return head + stream.read(4)  # enough for parse_idx to name the problem
    n_dims = head[3]
    dims = stream.read(4 * n_dims)
    shape = [int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(len(dims) // 4)]
    claimed = 4 + len(dims) + math.prod(shape)
    if claimed > MAX_IDX_BYTES:
        raise DataError(f"{source}: its header {tuple(shape)} claims {claimed:,} bytes, more than the "
                        f"{MAX_IDX_BYTES:,} this loader reads")
    buffer = bytearray(claimed + 1)  # filled in place: one copy of the data in memory, not two
    buffer[:4 + len(dims)] = head + dims
    filled, view = 4 + len(dims), memoryview(buffer)
    while filled < len(buffer):
        got = stream.readinto(view[filled:filled + (1 << 24)])  # in chunks: a reader may copy each
        if not got:
            break
        filled += got
    view.release()
    del buffer[filled:]  # in place: no second copy of a large file
    return buffer


def _read_text_stream(stream, source: str) -> bytes:
    data = stream.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise DataError(f"{source}: larger than {MAX_TEXT_BYTES:,} bytes: not a mapping file")
    return data


def _read(open_stream, gzipped: bool, source: str, reader, failure: str = "cannot read") -> bytes:
    """reader(stream, source) over the (gunzipped) stream; read errors become DataError naming the file."""
    try:
        with open_stream() as raw, (gzip.GzipFile(fileobj=raw) if gzipped else raw) as stream:
            return reader(stream, source)
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{source}: {failure} ({error})") from None


def _find_member(data_dir: Path, name: str, reader=None) -> tuple[bytes, str] | None:
    """Bytes of an official file from data_dir: plain, .gz, or inside the official gzip.zip, read by
    reader(stream, source) (_read_idx_stream by default); reader=False only says whether it is there."""
    reader = _read_idx_stream if reader is None else reader
    for candidate in (data_dir / name, data_dir / (name + ".gz")):
        if candidate.is_file():
            if reader is False:
                return b"", str(candidate)
            source = str(candidate)
            return _read(lambda: open(candidate, "rb"), candidate.suffix == ".gz", source, reader), source
    archive = data_dir / OFFICIAL_ZIP
    if archive.is_file():
        try:
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if Path(member).name in (name, name + ".gz"):
                        source = f"{archive}:{member}"
                        if reader is False:
                            return b"", source
                        return (_read(lambda: zf.open(member), member.endswith(".gz"), source, reader,
                                      "cannot decompress"), source)
        except zipfile.BadZipFile as error:
            raise DataError(f"{archive}: not a valid zip archive ({error})") from None
    return None


def has_split(data_dir: str | Path, split: str) -> bool:
    """Whether data_dir holds the split: its two IDX files, or its Kaggle CSV (csv_data.py)."""
    data_dir = Path(data_dir)
    return find_csv(data_dir, split) is not None or all(
        _find_member(data_dir, idx_name(split, kind), reader=False) is not None for kind in ("images", "labels"))


def load_split(data_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28) in EMNIST's transposed orientation, labels int64 (N,)): the official IDX
    files, or where they are absent Kaggle's CSV of the split (csv_data.py); the mapping file is checked
    when it is there."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"{data_dir}: no such data folder")
    csv = find_csv(data_dir, split)
    if csv is not None and _find_member(data_dir, idx_name(split, "images"), reader=False) is None:
        images, labels = load_csv(csv)
        image_src = label_src = str(csv)
    else:
        found = {}
        for kind, magic in (("images", IMAGE_MAGIC), ("labels", LABEL_MAGIC)):
            member = _find_member(data_dir, idx_name(split, kind))
            if member is None:
                raise DataError(f"{data_dir}: no {idx_name(split, kind)}[.gz] (nor inside {OFFICIAL_ZIP})"
                                f"{'' if csv else f', nor {csv_name(split)}[.gz]'}")
            found[kind] = (parse_idx(member[0], member[1], magic), member[1])
        (images, image_src), (labels, label_src) = found["images"], found["labels"]
    if len(images) != len(labels):
        raise DataError(f"{image_src} holds {len(images)} images but {label_src} "
                        f"{len(labels)} labels")
    if len(labels) and labels.max() >= NUM_CLASSES:
        bad = int((labels >= NUM_CLASSES).sum())
        raise DataError(f"{label_src}: {bad} labels outside 0..{NUM_CLASSES - 1} "
                        f"(max {labels.max()}): not ByMerge labels")
    mapping = _find_member(data_dir, "emnist-bymerge-mapping.txt", _read_text_stream)
    if mapping is not None:
        try:
            check_mapping_file(mapping[0].decode("ascii"), mapping[1])
        except (UnicodeDecodeError, ValueError) as error:
            message = str(error)
            raise DataError(message if message.startswith(mapping[1]) else f"{mapping[1]}: {message}") from None
    return images, labels.astype(np.int64)


def manual_route(why: str) -> str:
    """What to fetch by hand when --download cannot, and which folder to give as --data-dir."""
    return (f"{why}\nFetch the data by hand, put it in one folder DIR, then run `python -m train --data-dir DIR`:\n"
            f"  - the official files: {OFFICIAL_URL} (536 MB; DIR holds {OFFICIAL_ZIP} as it is, or the "
            f"emnist-bymerge-*.gz files inside it), or\n"
            f"  - Kaggle's CSVs ({KAGGLE_URL}): DIR holds emnist-bymerge-train.csv, emnist-bymerge-test.csv "
            f"and emnist-bymerge-mapping.txt (.csv.gz works too).")


def download(cache_dir: str | Path) -> Path:
    """Fetch the official archive through torchvision's EMNIST; returns the folder of IDX files. A
    download that fails (no network, a changed URL, an HTML page instead of the archive) is a DataError
    naming the manual route, and leaves no folder or partial file of its own behind."""
    from torchvision.datasets import EMNIST

    cache_dir = Path(cache_dir)
    raw = cache_dir / "EMNIST" / "raw"
    made = next((folder for folder in (cache_dir, cache_dir / "EMNIST", raw) if not folder.exists()), None)
    before = set(raw.iterdir()) if made is None else set()
    try:
        EMNIST(str(cache_dir), split="bymerge", train=True, download=True)
    except Exception as error:  # torchvision raises whatever urllib, zipfile or its md5 check raise
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
        else:
            for path in set(raw.iterdir()) - before:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        raise DataError(manual_route(f"--download could not fetch EMNIST into {raw} ({describe_error(error)})")) from None
    return raw
def stratified_split(labels: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train_idx, val_idx): the same fraction of every class goes to validation."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    val = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng.shuffle(members)
        n_val = int(round(len(members) * val_fraction))
        val.append(members[:n_val])
    val_idx = np.sort(np.concatenate(val))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[val_idx] = False
    return np.flatnonzero(train_mask), val_idx


def training_split(labels: np.ndarray, val_fraction: float, seed: int, train_share: float = 1.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(train_idx, val_idx) of a run: the stratified split, then --train-share of the training part
    (a learning curve: fewer training images, the same validation images)."""
    train_idx, val_idx = stratified_split(labels, val_fraction, seed)
    if train_share < 1:
        kept, _ = stratified_split(labels[train_idx], 1 - train_share, seed)
        train_idx = train_idx[kept]
    return train_idx, val_idx


def validation_hint(labels: np.ndarray, val_fraction: float) -> str:
    """What would give a validation image: the split holds out round(n * fraction) images of a class of n,
    so a class needs more than 0.5 / fraction images; a larger fraction only where some class has two."""
    largest = int(np.bincount(labels).max()) if len(labels) else 0
    needed = math.floor(0.5 / val_fraction) + 1
    if largest < 2:
        return (f"no class has two images, so none can be held out: use more data (a class needs {needed} "
                f"images to give one)")
    works = math.ceil(50 / largest + 1e-9) / 100  # round(largest * works) >= 1, and below 1 leaves some to train on
    return (f"a class needs {needed} images to give one, and the largest here has {largest}: use more data, "
            f"or --val-fraction {works:g}")


def class_frequencies(labels: np.ndarray) -> np.ndarray:
    """(47,) class frequencies of a training part; +1 to every count so no log(0) follows."""
    counts = np.bincount(labels, minlength=NUM_CLASSES) + 1
    return counts / counts.sum()


def read_class_prior(path: str | Path) -> np.ndarray:
    """class-prior.txt ('index char count frequency' rows, '#' comments) -> (47,) frequencies."""
    path = Path(path)
    counts = np.zeros(NUM_CLASSES)
    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            raise ValueError(f"larger than {MAX_TEXT_BYTES:,} bytes")
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                index, _char, count = line.split()[:3]
                if not 0 <= int(index) < NUM_CLASSES:
                    raise ValueError(f"class index {index} outside 0..{NUM_CLASSES - 1}")
                counts[int(index)] = float(count)
    except (OSError, ValueError, IndexError) as error:
        raise DataError(f"{path}: not a class-prior file ({error})") from None
    if not np.isfinite(counts).all() or (counts <= 0).any():
        raise DataError(f"{path}: every one of the {NUM_CLASSES} classes needs a positive count")
    return counts / counts.sum()


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write uint8 data as an IDX file (gzipped when the name ends in .gz): the inverse of parse_idx."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC) & ~0xFF | array.ndim
    buffer = io.BytesIO()
    buffer.write(magic.to_bytes(4, "big"))
    for dim in array.shape:
        buffer.write(int(dim).to_bytes(4, "big"))
    buffer.write(array.tobytes())
    raw = buffer.getvalue()
    Path(path).write_bytes(gzip.compress(raw, compresslevel=1) if str(path).endswith(".gz") else raw)


@dataclass
class TrainingData:
    """The training pool split for a run: train tensors on the training device, val on the CPU."""
    data_dir: Path
    train_x: torch.Tensor  # (N, 28, 28) uint8 on the training device
    train_y: torch.Tensor
    val_x: torch.Tensor  # on the CPU: evaluation batches move it
    val_y: torch.Tensor
    train_prior: np.ndarray  # (47,) class frequencies of the training part
    target_prior: np.ndarray | None  # (47,) the class mix the model will meet, if known
    prior_path: Path | None  # where target_prior came from

    @property
    def class_weights(self) -> torch.Tensor | None:
        """target / training prior: weights validation to the class mix the model will meet."""
        if self.target_prior is None:
            return None
        return torch.from_numpy(self.target_prior / self.train_prior).float()


def load_training_data(args, device: torch.device) -> TrainingData:
    """--data-dir or --download, --limit, the stratified split, --train-share and the target class prior."""
    if args.download:
        data_dir = download(args.cache_dir)
    elif args.data_dir:
        data_dir = Path(args.data_dir)
    else:
        raise DataError("give --data-dir DIR (official EMNIST IDX files or Kaggle's CSVs) or --download")
    images, labels = load_split(data_dir, "train")
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    train_idx, val_idx = training_split(labels, args.val_fraction, args.split_seed, getattr(args, "train_share", 1.0))
    if len(val_idx) == 0:
        raise DataError(f"{data_dir}: {len(labels)} images leave no validation images at --val-fraction "
                        f"{args.val_fraction}: {validation_hint(labels, args.val_fraction)}")
    prior_path = Path(args.class_prior) if args.class_prior else data_dir / PRIOR_FILE
    if args.class_prior and not prior_path.is_file():
        raise DataError(f"{prior_path}: no such class-prior file")
    has_prior = prior_path.is_file()
    return TrainingData(data_dir, torch.from_numpy(images[train_idx]).to(device),
                        torch.from_numpy(labels[train_idx]).to(device), torch.from_numpy(images[val_idx]),
                        torch.from_numpy(labels[val_idx]), class_frequencies(labels[train_idx]),
                        read_class_prior(prior_path) if has_prior else None, prior_path if has_prior else None)


def recorded_split_flags(record: dict, data_dir: str | Path) -> SimpleNamespace:
    """The data flags of a finished run, read from its checkpoint's record: --limit, --val-fraction,
    --split-seed, --train-share and --class-prior, with `data_dir` as --data-dir."""
    split, hyper = record.get("split"), record.get("hyperparameters") or {}
    if not split:
        raise DataError("the checkpoint records no validation split")
    return SimpleNamespace(download=False, data_dir=data_dir, limit=split["limit"], val_fraction=split["val_fraction"],
                           split_seed=split["seed"], class_prior=hyper.get("class_prior"),
                           train_share=hyper.get("train_share", 1.0))


def load_recorded_split(record: dict, data_dir: str | Path, device: torch.device) -> TrainingData:
    """The training files split exactly as a checkpoint's run split them (its record's split and
    class prior): for scoring or recalibrating a finished model on its own validation images."""
    return load_training_data(recorded_split_flags(record, data_dir), device)
