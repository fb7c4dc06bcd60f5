"""List, export and delete the writers' corrections that the page kept (demo.py --collect STORE).

    python -m train.corrections STORE                       # one line per correction
    python -m train.corrections STORE --export-idx DIR      # EMNIST IDX files (train split layout)
    python -m train.corrections STORE --export-csv FILE     # Kaggle layout: label, then 784 pixels
    python -m train.corrections STORE --delete 3 5 9-20            # ids and ranges, in one transaction

Nothing is overwritten unasked: an existing export file (or a link) is refused unless --force, the store
itself never; --export-idx refuses a folder that holds EMNIST data files, which the loader would then
read in place of the training set (it prefers plain IDX files to .gz). Listing and exporting only read
the store (an SQLite file of another application is refused and left as it was).

Exports hold the 28x28 model inputs in EMNIST's own transposed orientation, ByMerge labels (0..46):
the IDX pair is named like the official training files, so `python -m train.evaluate` or any EMNIST
loader reads it; the CSV has no header, one row per image, the label first (as Kaggle's EMNIST CSVs).
Exit status: 0 done, 2 a bad store, id or path.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

import re
import sqlite3

from emnist_core.corrections import MAX_ID, CorrectionStore, StoreError

from .data import idx_name, write_idx
from .flags import folder, output_file

EMNIST_FILE = re.compile(r"emnist-.*(-idx\d-ubyte|\.csv|mapping\.txt)(\.gz)?$|gzip\.zip$")


class Refused(Exception):
    """An export that would overwrite what it was not asked to; the message says what and how."""


def id_range(text: str) -> tuple[int, int]:
    """'7' -> (7, 7), '9-20' -> (9, 20): correction ids, 1 to 2**63-1."""
    first, dash, last = text.partition("-")
    try:
        a, b = int(first), int(last) if dash else int(first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an id or a range of ids (9-20)") from None
    if not 1 <= a <= b <= MAX_ID:
        raise argparse.ArgumentTypeError(f"{text[:40]} is not an id or a range from 1 to 2**63-1, low to high")
    return a, b


def writable(path: Path, store: Path, force: bool) -> None:
    """Refused unless `path` may be written: never the store (nor its -wal/-shm/-journal), and an existing
    file or link only with --force."""
    companions = {store.resolve()} | {store.resolve().with_name(store.name + s) for s in ("-wal", "-shm", "-journal")}
    if path.resolve() in companions or (path.exists() and any(c.exists() and path.samefile(c) for c in companions)):
        raise Refused(f"{path} is the corrections store itself: export somewhere else")
    if (path.exists() or path.is_symlink()) and not force:
        raise Refused(f"{path} exists: pass --force to replace it, or export to a new name")


def _atomic_write(path: Path, write) -> None:
    """write(temp_path) then a rename: no reader sees half an export."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_idx(images: np.ndarray, labels: np.ndarray, out: Path, store: Path, force: bool = False) -> list[Path]:
    paths = [out / idx_name("train", kind) for kind in ("images", "labels")]
    if out.is_dir():
        data = sorted(p.name for p in out.iterdir() if EMNIST_FILE.search(p.name) and p not in paths)
        if data:
            raise Refused(f"{out} holds EMNIST data ({', '.join(data[:3])}{', ...' if len(data) > 3 else ''}); the "
                          f"loader would read the export in its place. Export into a folder of its own.")
    for path in paths:
        writable(path, store, force)
    out.mkdir(parents=True, exist_ok=True)
    for path, array in zip(paths, (images, labels)):
        _atomic_write(path, lambda tmp, a=array: write_idx(tmp, a))
    return paths


def export_csv(images: np.ndarray, labels: np.ndarray, path: Path, store: Path, force: bool = False) -> None:
    writable(path, store, force)
    rows = np.concatenate([labels[:, None].astype(np.int64), images.reshape(len(images), 784)], axis=1)
    _atomic_write(path, lambda tmp: np.savetxt(tmp, rows, fmt="%d", delimiter=","))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.corrections", description=__doc__.splitlines()[0],
                                     epilog="exit status: 0 done, 2 a bad store, id or path, or a refused export")
    parser.add_argument("store", help="the corrections store (SQLite) the page wrote")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--export-idx", type=folder, metavar="DIR", help="write EMNIST IDX files into DIR")
    action.add_argument("--export-csv", type=output_file, metavar="FILE", help="write the Kaggle CSV layout")
    action.add_argument("--delete", type=id_range, nargs="+", metavar="ID",
                        help="remove corrections by id or range (3 5 9-20), all in one transaction; when one "
                             "names no correction, none is removed")
    parser.add_argument("--force", action="store_true", help="replace existing export files")
    args = parser.parse_args(argv)
    try:
        store = CorrectionStore(args.store, create=False, readonly=not args.delete)
        if args.delete:
            removed, empty = store.delete_ranges(args.delete)
            if empty:
                named = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in empty)[:200]
                print(f"error: {args.store}: no correction {named}; nothing was deleted", file=sys.stderr)
                return 2
            print(f"deleted {removed} correction{'s' * (removed != 1)}; {store.count()} left")
            return 0
        rows = store.corrections()
        images = np.stack([r.model_input for r in rows]) if rows else np.zeros((0, 28, 28), np.uint8)
        labels = np.array([r.label for r in rows], np.uint8)
        if (args.export_idx or args.export_csv) and not rows:
            print(f"error: {args.store} holds no corrections: nothing to export", file=sys.stderr)
            return 2
        if args.export_idx:
            for path in export_idx(images, labels, Path(args.export_idx), store.path, args.force):
                print(f"wrote {path}")
        elif args.export_csv:
            export_csv(images, labels, Path(args.export_csv), store.path, args.force)
            print(f"wrote {args.export_csv}: {len(rows)} rows")
        else:
            for r in rows:
                print(f"{r.id} {r.created} meant {r.char} (given as {r.meant!r}), read {r.model_read}, "
                      f"{r.drawing_kind} {len(r.drawing)} bytes, checkpoint {r.checkpoint} "
                      f"({r.checkpoint_sha256[:12]})")
            print(f"{len(rows)} corrections in {args.store} (store hash {store.content_hash()[:16]})")
    except (StoreError, Refused, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except sqlite3.Error as error:  # a store damaged past what quick_check saw, or one busy for 30 s
        print(f"error: {args.store}: {error} (is the store damaged? `sqlite3 STORE 'PRAGMA integrity_check'`)",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
