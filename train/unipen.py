"""UNIPEN on-line handwriting, read from its original distribution layout (train_r01_v07 on Zenodo).

    python -m train.unipen UNIPEN_DIR [--categories 1a 1b 1c]     # what is there, and what was not read

A UNIPEN folder holds data/<category>/<site>/.../*.dat, whose .SEGMENT lines name pen components of
the files they .INCLUDE from include/ (paths relative to include/, includes nest). The reading rules
are those of the data's PROVENANCE.txt, each tested in tests/test_unipen.py:
  * a keyword starts a line with '.'; its argument runs to the next keyword line;
  * components are numbered from 0 through the data file and all it includes, in order: every
    .PEN_DOWN block, and a .PEN_UP block only when it holds points (an empty one just ends a pen-down);
  * delineations "N", "N-M", "N:P-M:Q", "N-M:Q", "N:P-M" in comma-separated lists (points from 0,
    inclusive); only pen-down points are ink;
  * a point row's first two numbers are X and Y; Y points up (flipped here: y points down, as on a
    canvas); .X/.Y_POINTS_PER_MM or _PER_INCH scale each axis (to millimetres) where given;
  * pen-down points at exactly (0, 0) are the digitiser's "no position" and are dropped.
A file or segment that cannot be read is counted and named in the summary, never a crash: binary or
over-large files, includes that leave the folder, loop, nest too deep or add up to too much,
delineations past the end, labels that are no character, ink of one point (a tap, no character: 4 of
mot's and val's letters).
Each character's own size is left to the renderer (ibm changes units).
"""

import argparse
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emnist_core.labels import BYMERGE_CHARS, char_to_index

CATEGORIES = {"1a": "digits", "1b": "upper case", "1c": "lower case", "7": "words"}
CHARACTER_CATEGORIES = ("1a", "1b", "1c")
MAX_FILE_BYTES = 16 << 20  # the largest include here is ~1 MB; a larger file is named and skipped
MAX_INCLUDE_DEPTH = 8  # includes nest two deep in this data
MAX_READ_BYTES = 64 << 20  # one data file and all it includes (each file counts 1 KiB more): at most 5 MiB here;
# bounds a file that includes one large file many times, or includes that fan out at every level
MAX_LABEL_CHARS = 64  # a word's label; longer ones are not read (a word of 40 letters still is)
MAX_NAMED = 5  # files named per kind of problem in the summary
MM_PER_INCH = 25.4

_KEYWORD = re.compile(rb"^\.([A-Z_0-9]+)[ \t]*", re.M)
_BOUND = r"(\d+)(?::(\d+))?"
_RANGE = re.compile(rf"^{_BOUND}(?:-{_BOUND})?$")


class NotUnipen(ValueError):
    """The folder is not a UNIPEN distribution; the message says what was looked for."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One segment's ink: strokes of (x, y) in millimetres where the file says its units (else digitiser
    units), y pointing down, x right; pen-down points only."""
    label: str
    strokes: tuple[np.ndarray, ...]  # each (K, 2) float32, K >= 1
    site: str  # the contributor, e.g. "apa"
    writer: str  # site/.WRITER_ID (the data file's name where none is given)
    category: str  # "1a", "1b", "1c" or "7"
    style: str  # .STYLE (PRINTED, MIXED, CURSIVE) or "" where not given
    file: str  # the data file, relative to the UNIPEN folder

    @property
    def bymerge(self) -> int:
        """The ByMerge class of a character sample (the 15 merged lower-case letters as capitals)."""
        return char_to_index(self.label)


@dataclass
class Summary:
    """What a read found: files and samples read, and every problem counted and named."""
    files: int = 0
    samples: Counter = field(default_factory=Counter)  # per category
    problems: Counter = field(default_factory=Counter)  # per kind of problem
    named: dict = field(default_factory=lambda: defaultdict(list))  # kind -> up to MAX_NAMED "where: detail"

    def problem(self, kind: str, where: str) -> None:
        self.problems[kind] += 1
        if len(self.named[kind]) < MAX_NAMED:
            self.named[kind].append(where)

    def text(self) -> str:
        lines = [f"{self.files} data files read; samples: " +
                 (", ".join(f"{CATEGORIES.get(c, c)} ({c}) {n}" for c, n in sorted(self.samples.items())) or "none")]
        for kind, n in self.problems.most_common():
            lines.append(f"not read: {n} x {kind}, e.g. " + "; ".join(self.named[kind]))
        return "\n".join(lines)


@dataclass
class _Component:
    down: bool
    points: np.ndarray  # (K, 2) float64, raw digitiser units, y up
    scale: tuple[float, float]
    writer: str
    style: str
    broken: bool = False  # its rows were not numbers (a truncated file): no segment on it is read


class _FileState:
    """What one data file's reading has seen so far: its components in order, and the declarations in force."""

    def __init__(self, writer: str):
        self.components: list[_Component] = []
        self.columns = 2  # numbers per point row, from .COORD
        self.scale = [1.0, 1.0]  # millimetres per unit, x and y
        self.writer, self.style = writer, ""
        self.segments: list[tuple[str, str]] = []  # (argument, where)
        self.read_bytes = 0  # of this file and its includes, toward MAX_READ_BYTES


def find_root(folder: str | Path) -> Path:
    """The folder holding data/ and include/ (the folder itself, or its train_r01_v07/); NotUnipen else."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise NotUnipen(f"{folder} is not a folder")
    for root in (folder, folder / "train_r01_v07"):
        if (root / "data").is_dir() and (root / "include").is_dir():
            return root
    raise NotUnipen(f"{folder} is not a UNIPEN folder: expected data/<category>/... with .dat files and include/ "
                    f"beside it (UNIPEN train_r01_v07, doi:10.5281/zenodo.1195803)")


def data_files(root: Path, categories) -> list[tuple[str, Path]]:
    """(category, path) of every .dat under data/<category>/, in a stable order."""
    found = []
    for category in categories:
        folder = root / "data" / category
        if folder.is_dir():
            found += [(category, p) for p in sorted(folder.rglob("*.dat")) if p.is_file()]
    return found


def read_unipen(folder: str | Path, categories=CHARACTER_CATEGORIES) -> tuple[list[Sample], Summary]:
    """Every readable segment of the given categories, and a summary of what was and was not read."""
    root = find_root(folder)
    files = data_files(root, categories)
    if not files:
        raise NotUnipen(f"{root}: no .dat files under data/{{{','.join(categories)}}}/")
    samples, summary = [], Summary()
    for category, path in files:
        found = read_data_file(root, path, category, summary)
        summary.files += 1
        summary.samples[category] += len(found)
        samples += found
    return samples, summary


def read_data_file(root: Path, path: Path, category: str, summary: Summary) -> list[Sample]:
    """The samples of one data file (its includes read in place); problems go to `summary`."""
    name = path.relative_to(root).as_posix()
    site = path.relative_to(root / "data" / category).parts[0]
    state = _FileState(writer=path.stem)
    try:
        _read_into(root, path, state, summary, stack=())
    except _Unreadable as problem:
        summary.problem(problem.kind, f"{name}: {problem.detail}")
        return []
    samples = []
    for argument, where in state.segments:
        try:
            sample = _segment(argument, state, site, category, name)
        except _Unreadable as problem:
            summary.problem(problem.kind, f"{where}: {problem.detail}")
            continue
        if sample is not None:
            samples.append(sample)
    return samples


class _Unreadable(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def _read_into(root: Path, path: Path, state: _FileState, summary: Summary, stack: tuple) -> None:
    """Read one file's keywords into `state`, following .INCLUDE in place."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise _Unreadable("file that cannot be opened", f"{path.name} ({error.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise _Unreadable("file too large", f"{path.name} is {size / 1e6:.0f} MB (at most {MAX_FILE_BYTES >> 20} MiB)")
    state.read_bytes += size + 1024
    if state.read_bytes > MAX_READ_BYTES:
        raise _Unreadable("includes too large in all", f"over {MAX_READ_BYTES >> 20} MiB read, at {path.name}")
    raw = path.read_bytes()
    if b"\0" in raw:
        raise _Unreadable("binary file", path.name)
    parts = _KEYWORD.split(raw)  # [before, keyword, argument, keyword, argument, ...]
    name, line = path.relative_to(root).as_posix(), 1 + parts[0].count(b"\n")
    for keyword, argument in zip(parts[1::2], parts[2::2]):
        keyword = keyword.decode("ascii")
        where, line = f"{name}:{line}", line + argument.count(b"\n")  # the argument ends with its own line's newline
        if keyword in ("PEN_DOWN", "PEN_UP"):
            try:
                points, broken = _points(argument, state.columns, where), False
            except _Unreadable as problem:  # the numbering still holds: only the segments on this block are lost
                summary.problem(problem.kind, problem.detail)
                points, broken = np.zeros((0, 2)), True
            if keyword == "PEN_DOWN" or len(points) or broken:  # an empty .PEN_UP only ends a pen-down
                state.components.append(_Component(keyword == "PEN_DOWN", points, tuple(state.scale),
                                                   state.writer, state.style, broken))
            continue
        text = argument.decode("latin-1").strip()
        if keyword == "INCLUDE":
            _include(root, text, state, summary, stack + (path.resolve(),), where)
        elif keyword == "SEGMENT":
            state.segments.append((text, where))
        elif keyword == "COORD":
            state.columns = max(2, len(text.split()))
        elif keyword == "WRITER_ID" and text:
            state.writer = text.split()[0]
        elif keyword == "STYLE":
            state.style = text.split()[0] if text else ""
        elif keyword in _UNITS:
            axis, per = _UNITS[keyword]
            try:
                value = float(text.split()[0])
            except (ValueError, IndexError):
                summary.problem("bad unit declaration", f"{where}: {text[:40]!r}")
                continue
            if value > 0 and np.isfinite(value):
                state.scale[axis] = per / value


_UNITS = {"X_POINTS_PER_MM": (0, 1.0), "Y_POINTS_PER_MM": (1, 1.0),
          "X_POINTS_PER_INCH": (0, MM_PER_INCH), "Y_POINTS_PER_INCH": (1, MM_PER_INCH)}


def _include(root: Path, name: str, state: _FileState, summary: Summary, stack: tuple, where: str) -> None:
    """Read include/<name> in place; one that leaves include/, loops or nests too deep stops this file."""
    base = (root / "include").resolve()
    target = (base / name.split()[0]).resolve() if name else base
    if not target.is_relative_to(base) or target == base:
        raise _Unreadable("include outside include/", f"{where}: {name[:60]!r}")
    if target in stack:
        raise _Unreadable("include loop", f"{where}: {name[:60]!r}")
    if len(stack) > MAX_INCLUDE_DEPTH:
        raise _Unreadable("includes nested too deep", f"{where}: {name[:60]!r}")
    if not target.is_file():
        raise _Unreadable("missing include", f"{where}: {name[:60]!r}")
    _read_into(root, target, state, summary, stack)


def _points(argument: bytes, columns: int, where: str) -> np.ndarray:
    """A pen block's rows -> (K, 2) float64 of their first two numbers."""
    first_row = argument.lstrip().split(b"\n", 1)[0].split()
    points = None
    try:  # rows as .COORD says (the first row tells; a count that merely divides evenly is no proof)
        values = np.array(argument.split(), np.float64)
        if len(first_row) == columns and values.size % columns == 0:
            points = values.reshape(-1, columns)[:, :2]
    except ValueError:
        pass
    if points is None:  # rows of uneven length, or text among the numbers: row by row
        rows = []
        for row in argument.splitlines():
            numbers = row.split()
            if not numbers:
                continue
            try:
                rows.append((float(numbers[0]), float(numbers[1])))
            except (ValueError, IndexError):
                raise _Unreadable("point rows that are not numbers", f"{where}: {row[:40]!r}") from None
        points = np.array(rows, np.float64).reshape(-1, 2)
    if not np.isfinite(points).all():  # "nan" and "inf" parse as numbers, and no renderer draws them
        raise _Unreadable("point rows that are not numbers", f"{where}: not finite")
    return points


def parse_delineation(text: str) -> list[tuple[int, int | None, int, int | None]]:
    """"N", "N-M", "N:P-M:Q", "N-M:Q", "N:P-M" in a comma-separated list -> (first component, its first
    point or None, last component, its last point or None) each, inclusive; ValueError if malformed."""
    ranges = []
    for part in text.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ValueError(f"not a delineation: {part.strip()[:40]!r}")
        c0, p0, c1, p1 = match.groups()
        first = int(c0)
        last = int(c1) if c1 is not None else first
        start = int(p0) if p0 is not None else None
        end = int(p1) if p1 is not None else (start if c1 is None and p0 is not None else None)
        if last < first:
            raise ValueError(f"a delineation that runs backwards: {part.strip()[:40]!r}")
        ranges.append((first, start, last, end))
    return ranges


def _segment(argument: str, state: _FileState, site: str, category: str, name: str) -> Sample | None:
    """One .SEGMENT line -> its Sample (None for a kind of segment not read here: SENTENCE, TEXT...)."""
    kind, _, rest = argument.partition(" ")
    if kind not in ("CHARACTER", "WORD"):
        return None
    delineation = rest.split()[0] if rest.split() else ""
    quoted = rest[rest.find('"') + 1:rest.rfind('"')] if rest.count('"') >= 2 else None
    if quoted is None:
        raise _Unreadable("segment without a label", argument[:60])
    label = quoted.strip().replace("@", "") if kind == "WORD" else quoted.strip()  # kai: th@e@n = then
    if kind == "CHARACTER" and (len(label) != 1 or label not in _CHARACTERS):
        raise _Unreadable("label that is not one letter or digit", repr(quoted[:40]))
    if kind == "WORD" and not 0 < len(label) <= MAX_LABEL_CHARS:
        raise _Unreadable("word label empty or too long", repr(quoted[:40]))
    try:
        ranges = parse_delineation(delineation)
    except ValueError as error:
        raise _Unreadable("malformed delineation", str(error)) from None
    strokes, first = [], None
    for c0, p0, c1, p1 in ranges:
        if c1 >= len(state.components):
            raise _Unreadable("delineation past the end", f"component {c1} of {len(state.components)} in {delineation[:40]}")
        for c in range(c0, c1 + 1):
            component = state.components[c]
            if component.broken:
                raise _Unreadable("segment on unreadable points",
                                  f"component {c} in {delineation[:40]} {quoted[:20]!r}")
            first = first or component
            if not component.down:
                continue  # the hovering pen: no ink
            points = component.points
            stop = (p1 + 1) if c == c1 and p1 is not None else len(points)
            points = points[(p0 if c == c0 and p0 is not None else 0):stop]
            points = points[(points != 0).any(axis=1)]  # (0, 0): no position
            if len(points):
                strokes.append((points * component.scale * (1, -1)).astype(np.float32))
    if not strokes:
        raise _Unreadable("segment without ink", f"{delineation[:40]} {quoted[:20]!r}")
    if not np.ptp(np.concatenate(strokes), axis=0).any():  # mot and val: four letters of one pen tap each
        raise _Unreadable("segment of a single point", f"{delineation[:40]} {quoted[:20]!r}")
    return Sample(label, tuple(strokes), site, f"{site}/{first.writer}", category, first.style, name)


_CHARACTERS = set(BYMERGE_CHARS) | set("cijklmopsuvwxyz")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.unipen", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a UNIPEN folder (holding data/ and include/)")
    parser.add_argument("--categories", nargs="+", default=list(CHARACTER_CATEGORIES), choices=sorted(CATEGORIES))
    args = parser.parse_args(argv)
    try:
        samples, summary = read_unipen(args.folder, args.categories)
    except NotUnipen as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(summary.text())
    sites = Counter(s.site for s in samples)
    writers = len({s.writer for s in samples})
    print(f"{len(samples)} samples from {len(sites)} sites and {writers} writers: " +
          ", ".join(f"{site} {n}" for site, n in sorted(sites.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
