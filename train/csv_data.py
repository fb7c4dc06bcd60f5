"""EMNIST ByMerge as Kaggle's CSV files: emnist-bymerge-{train,test}.csv (or .csv.gz).

No header; each line is a label then the 784 pixels, in the IDX files' own (transposed) order, so a
row reshaped to 28x28 is the IDX image. Read as a stream: the rows are counted first, then parsed in
blocks into one preallocated uint8 array, so memory is the images themselves plus one block.
A line that is not such a row is refused with the file and line named.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from emnist_core.labels import NUM_CLASSES

from .data_limits import MAX_IDX_BYTES, DataError

PIXELS = 28 * 28
COLUMNS = 1 + PIXELS  # the label, then the pixels
MAX_LINE = 2 + 4 * PIXELS + 2  # "46", ",255" per pixel, "\r\n": no row is longer
MAX_ROWS = MAX_IDX_BYTES // PIXELS  # the IDX loader's bound, in images (the official training split: 697,932)
BLOCK_ROWS = 4096  # rows parsed at once: about 13 MB of int32
CHUNK = 1 << 24  # bytes read at once while counting rows


def csv_name(split: str) -> str:
    return f"emnist-bymerge-{split}.csv"


def find_csv(data_dir: Path, split: str) -> Path | None:
    """The split's CSV in data_dir, plain or gzipped."""
    for candidate in (data_dir / csv_name(split), data_dir / (csv_name(split) + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _count_rows(path: Path) -> int:
    rows = size = 0
    last = b"\n"
    with _open(path) as stream:
        while chunk := stream.read(CHUNK):
            rows += chunk.count(b"\n")
            size, last = size + len(chunk), chunk[-1:]
            if rows > MAX_ROWS or size > MAX_ROWS * MAX_LINE:
                raise DataError(f"{path}: more than {MAX_ROWS:,} rows (or {MAX_ROWS * MAX_LINE:,} bytes), "
                                f"more than this loader reads")
    if size == 0:
        raise DataError(f"{path}: empty (0 bytes)")
    return rows + (last != b"\n")  # a last line without its newline is a row too


def _line_problem(line: bytes, number: int) -> str | None:
    """Why line `number` (from 1) is not a row of a label 0..46 and 784 pixels 0..255; None if it is one."""
    fields = line.rstrip(b"\r\n").split(b",")
    first = fields[0].strip()
    if number == 1 and not first.isdigit() and len(fields) > 1:
        return f"{first[:20].decode('ascii', 'replace')!r} is not a label: a header row? (these files have none)"
    if len(fields) != COLUMNS:
        return f"{len(fields)} columns, expected {COLUMNS} (a label, then {PIXELS} pixels)"
    for column, field in enumerate(fields, 1):
        value = int(field) if field.strip().isdigit() else None
        if column == 1 and (value is None or value >= NUM_CLASSES):
            return (f"label {field[:20].decode('ascii', 'replace')!r} is outside the ByMerge mapping's "
                    f"0..{NUM_CLASSES - 1}")
        if value is None or value > 255:
            return f"column {column}: pixel {field[:20].decode('ascii', 'replace')!r} is not a whole number 0..255"
    return None


def _parse_block(lines: list[bytes], path: Path, first: int) -> np.ndarray:
    """(len(lines), 785) int32 rows, checked; `first` is the number of lines before the block."""
    try:
        values = np.loadtxt(lines, delimiter=",", dtype=np.int32, ndmin=2, comments=None)
        usable = values.shape == (len(lines), COLUMNS)  # loadtxt skips blank lines: count them as refused
        usable = usable and not ((values[:, 0] >= NUM_CLASSES) | (values < 0).any(1) | (values[:, 1:] > 255).any(1)).any()
    except ValueError:
        usable = False
    if not usable:  # name the first line that is wrong, and why
        for number, line in enumerate(lines, first + 1):
            problem = _line_problem(line, number)
            if problem:
                raise DataError(f"{path}, line {number}: {problem}")
        raise DataError(f"{path}, lines {first + 1}-{first + len(lines)}: not CSV rows of whole numbers")
    return values


def load_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28) in EMNIST's transposed orientation, labels int64 (N,))."""
    try:
        rows = _count_rows(path)
        images, labels = np.empty((rows, 28, 28), np.uint8), np.empty(rows, np.int64)
        with _open(path) as stream:
            done = 0
            while done < rows:
                lines = []
                while len(lines) < min(BLOCK_ROWS, rows - done):
                    line = stream.readline(MAX_LINE + 1)
                    if len(line) > MAX_LINE:
                        number = done + len(lines) + 1
                        problem = (_line_problem(line, 1) or "") if number == 1 else ""
                        if not problem.endswith("(these files have none)"):  # a header gets its own words
                            problem = f"longer than {MAX_LINE:,} bytes, longer than any row of a label and {PIXELS} pixels"
                        raise DataError(f"{path}, line {number}: {problem}")
                    if not line:
                        raise DataError(f"{path}: ended at line {done + len(lines)} while being read (it changed?)")
                    lines.append(line)
                block = _parse_block(lines, path, done)
                labels[done:done + len(block)] = block[:, 0]
                images[done:done + len(block)] = block[:, 1:].reshape(-1, 28, 28)
                done += len(block)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read ({error})") from None
    return images, labels


def write_csv(path: str | Path, images: np.ndarray, labels: np.ndarray) -> None:
    """Images (N, 28, 28) and labels as the Kaggle CSV (gzipped when the name ends in .gz): for tests."""
    rows = np.column_stack([np.asarray(labels, np.int64), np.asarray(images, np.int64).reshape(len(labels), -1)])
    text = "".join(",".join(map(str, row)) + "\n" for row in rows.tolist()).encode()
    Path(path).write_bytes(gzip.compress(text, compresslevel=1) if str(path).endswith(".gz") else text)
