"""List, export and delete the writers' corrections that the page kept (demo.py --collect STORE).

    python -m train.corrections STORE                       # one line per correction
    python -m train.corrections STORE --export-idx DIR      # EMNIST IDX files (train split layout)
    python -m train.corrections STORE --export-csv FILE     # Kaggle layout: label, then 784 pixels
    python -m train.corrections STORE --delete ID

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

from emnist_core.corrections import CorrectionStore, StoreError

from .data import idx_name, write_idx
from .flags import folder, output_file, positive_int


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


def export_idx(images: np.ndarray, labels: np.ndarray, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, array in (("images", images), ("labels", labels)):
        path = out / idx_name("train", kind)
        _atomic_write(path, lambda tmp, a=array: write_idx(tmp, a))
        written.append(path)
    return written


def export_csv(images: np.ndarray, labels: np.ndarray, path: Path) -> None:
    rows = np.concatenate([labels[:, None].astype(np.int64), images.reshape(len(images), -1)], axis=1)
    _atomic_write(path, lambda tmp: np.savetxt(tmp, rows, fmt="%d", delimiter=","))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.corrections", description=__doc__.splitlines()[0],
                                     epilog="exit status: 0 done, 2 a bad store, id or path")
    parser.add_argument("store", help="the corrections store (SQLite) the page wrote")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--export-idx", type=folder, metavar="DIR", help="write EMNIST IDX files into DIR")
    action.add_argument("--export-csv", type=output_file, metavar="FILE", help="write the Kaggle CSV layout")
    action.add_argument("--delete", type=positive_int, metavar="ID", help="remove one correction by its id")
    args = parser.parse_args(argv)
    try:
        store = CorrectionStore(args.store, create=False)
        if args.delete:
            if not store.delete(args.delete):
                print(f"error: {args.store}: no correction {args.delete}", file=sys.stderr)
                return 2
            print(f"deleted correction {args.delete}; {store.count()} left")
            return 0
        rows = store.corrections()
        images = np.stack([r.model_input for r in rows]) if rows else np.zeros((0, 28, 28), np.uint8)
        labels = np.array([r.label for r in rows], np.uint8)
        if args.export_idx:
            for path in export_idx(images, labels, Path(args.export_idx)):
                print(f"wrote {path}")
        elif args.export_csv:
            export_csv(images, labels, Path(args.export_csv))
            print(f"wrote {args.export_csv}: {len(rows)} rows")
        else:
            for r in rows:
                print(f"{r.id} {r.created} meant {r.char} (given as {r.meant!r}), read {r.model_read}, "
                      f"{r.drawing_kind} {len(r.drawing)} bytes, checkpoint {r.checkpoint} "
                      f"({r.checkpoint_sha256[:12]})")
            print(f"{len(rows)} corrections in {args.store} (store hash {store.content_hash()[:16]})")
    except (StoreError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
