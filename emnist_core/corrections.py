"""The corrections store: what writers said they meant when the model misread them, kept to fine-tune it.

One SQLite file (the standard library's sqlite3, WAL mode). Per correction: the 28x28 model input
(EMNIST orientation, as the model read it), the original drawing (PNG bytes, or the page's stroke
JSON {"width", "height", "brush", "strokes"}), the ByMerge class meant, what the model read, the
checkpoint it read with (path and SHA-256) and the time. The page writes it (demo.py, /correct);
`python -m train.corrections` lists, exports and deletes; `python -m train.finetune` reads it.

Every write is one transaction with synchronous=FULL: once add() returns an id the row is on disk,
and a writer killed mid-transaction leaves nothing of its row (SQLite rolls it back on the next open).
Bad corrections are refused with a message for people (CorrectionRefused), never half stored; the same
drawing with the same character is kept once (AlreadyKept).

An existing file is checked read-only before anything is written to it: another application's SQLite
file is refused and left exactly as it was (no tables added, no switch to WAL), and a damaged store
(`PRAGMA quick_check`) is refused with what SQLite found. A store that fails while serving (damaged,
disk full, moved away) is logged with its cause, and the writer is told which (store_failure).
"""

import errno
import hashlib
import json
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .labels import BYMERGE_CHARS, MERGED_LOWERCASE, char_to_index
from .preprocess import UnusableImage, prepared, to_rgba

MAX_CORRECTIONS = 10_000  # the documented cap: a full store refuses more (export and delete to make room)
MAX_DRAWING_BYTES = 2 << 20  # an original drawing larger than 2 MB is not one sketchpad character
MIN_INK_PIXELS = 4  # a model input with fewer lit pixels is a blank drawing, not a character
BUSY_TIMEOUT_S = 30  # how long a writer waits for another writer's transaction
CORRECTION_NOTE_KEPT = "Thank you: kept as"  # how /correct's message for a kept correction opens
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCHEMA_VERSION = 1
# Every column NOT NULL and checked, so no row can be stored half filled in.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND {len(BYMERGE_CHARS) - 1}),
    meant TEXT NOT NULL,
    model_read TEXT NOT NULL,
    model_input BLOB NOT NULL CHECK (length(model_input) = 784),
    drawing BLOB NOT NULL,
    drawing_kind TEXT NOT NULL CHECK (drawing_kind IN ('png', 'strokes')),
    checkpoint TEXT NOT NULL,
    checkpoint_sha256 TEXT NOT NULL CHECK (length(checkpoint_sha256) = 64)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS corrections_by_input ON corrections (model_input);
"""  # the index finds a repeated drawing at once (AlreadyKept); a store made before it gets it on open
MAX_ID = 2**63 - 1  # SQLite's largest rowid: a larger id is no correction's (and overflowed sqlite3)
log = logging.getLogger(__name__)
COLUMNS = ("id", "created", "label", "meant", "model_read", "model_input", "drawing", "drawing_kind",
           "checkpoint", "checkpoint_sha256")


class CorrectionRefused(ValueError):
    """A correction that is not stored; the message says why, for the person who gave it."""


class AlreadyKept(CorrectionRefused):
    """The same model input with the same character is in the store already: one flood of identical
    corrections was 100 rows of one drawing."""


class StoreError(RuntimeError):
    """A store file that cannot be used (not SQLite, another schema, damaged); the message names the file."""


@dataclass
class Correction:
    id: int
    created: str  # ISO 8601, UTC
    label: int  # ByMerge class index
    meant: str  # as the writer gave it (a merged lowercase letter, e.g. c, is kept as typed)
    model_read: str  # the class the model read
    model_input: np.ndarray  # (28, 28) uint8, EMNIST orientation (transposed), ink bright
    drawing: bytes  # PNG bytes or stroke JSON (UTF-8)
    drawing_kind: str  # "png" or "strokes"
    checkpoint: str
    checkpoint_sha256: str

    @property
    def char(self) -> str:
        return BYMERGE_CHARS[self.label]


def meant_class(meant) -> int:
    """The ByMerge class of what the writer says they wrote; a merged lowercase letter is its capital."""
    text = meant.strip() if isinstance(meant, str) else meant
    if not isinstance(text, str) or len(text) != 1:
        raise CorrectionRefused(f"Give one character (a digit or a letter), not {str(meant)[:20]!r}.")
    try:
        return char_to_index(text)
    except ValueError:
        raise CorrectionRefused(f"{text!r} is not one of the 47 EMNIST ByMerge characters "
                                f"(digits, letters A-Z, a b d e f g h n q r t).") from None


def correction_choices() -> list[str]:
    """What a writer may give: the 47 classes plus the merged lowercase letters (c means C)."""
    return list(BYMERGE_CHARS) + list(MERGED_LOWERCASE)


def drawing_bytes(drawing) -> tuple[bytes, str]:
    """The original drawing as stored: PNG bytes, or stroke JSON (a dict or its text) -> (bytes, kind)."""
    if isinstance(drawing, (bytes, bytearray)):
        data, kind = bytes(drawing), "png"
        if not data.startswith(PNG_MAGIC):
            raise CorrectionRefused("The drawing could not be kept: it is not a PNG image.")
    elif isinstance(drawing, (str, dict)):
        try:
            strokes = json.loads(drawing) if isinstance(drawing, str) else drawing
            data, kind = json.dumps(strokes, separators=(",", ":")).encode(), "strokes"
        except (ValueError, TypeError, RecursionError):
            raise CorrectionRefused("The drawing could not be kept: its strokes are not valid JSON.") from None
        if not isinstance(strokes, dict) or not isinstance(strokes.get("strokes"), list) or not strokes["strokes"]:
            raise CorrectionRefused("The drawing could not be kept: no strokes in it. Draw the character first.")
    else:
        raise CorrectionRefused("The drawing could not be kept: give PNG bytes or stroke JSON.")
    if len(data) > MAX_DRAWING_BYTES:
        raise CorrectionRefused(f"The drawing could not be kept: over {MAX_DRAWING_BYTES >> 20} MB.")
    return data, kind


def check_model_input(image) -> np.ndarray:
    """A (28, 28) uint8 model input with a character in it, or CorrectionRefused."""
    array = np.asarray(image) if image is not None else None
    if array is None or array.shape != (28, 28) or array.dtype != np.uint8:
        raise CorrectionRefused("The drawing could not be read: draw one character and try again.")
    if int((array > 64).sum()) < MIN_INK_PIXELS:
        raise CorrectionRefused("The drawing is blank: draw the character, then say what it is.")
    return np.ascontiguousarray(array)


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a checkpoint file, computed once per version of the file (size and mtime)."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


class CorrectionStore:
    """A corrections database. Thread-safe: every call opens its own connection (SQLite's rule)."""

    def __init__(self, path: str | os.PathLike, cap: int = MAX_CORRECTIONS, create: bool = True,
                 readonly: bool = False):
        """Open (or, with `create`, make) the store at `path`. `readonly`: only read it (listing, exports,
        fine-tuning); nothing is written to the file, so it works on a copy in a read-only place too."""
        self.path, self.cap, self.readonly = Path(path), cap, readonly
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a corrections store")
        if not self.path.is_file() and (readonly or not create):
            raise StoreError(f"{self.path}: no such corrections store")
        self.path = self.path.resolve()  # so a store moved away while serving is missed, not made anew
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh and readonly:
            raise StoreError(f"{self.path}: an empty file, not a corrections store (the page makes one with --collect)")
        if not fresh:
            self.check()  # read-only: nothing is written to a file that is not a sound store
        if readonly:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect(create=True) as db:
                db.execute("PRAGMA journal_mode=WAL")
                with self._transaction(db):
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: could not be opened for writing ({error})") from None

    def check(self) -> None:
        """StoreError unless the file is a corrections store of this layout and SQLite's quick_check finds
        it sound; read-only. An SQLite file with no tables at all passes (a store is made in it)."""
        try:
            with self._connect(readonly=True) as db:
                tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not tables:
                    return
                if not {"corrections", "meta"} <= tables:
                    others = ", ".join(sorted(tables))[:200]
                    raise StoreError(f"{self.path}: an SQLite database of something else (tables: {others}), "
                                     f"not a corrections store; it was left as it was")
                version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
                columns = tuple(row[1] for row in db.execute("PRAGMA table_info(corrections)"))
                if version is None or version[0] != str(SCHEMA_VERSION) or columns != COLUMNS:
                    raise StoreError(f"{self.path}: a corrections store of another layout "
                                     f"(schema {version[0] if version else 'unknown'})")
                problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as error:
            if error.sqlite_errorname == "SQLITE_NOTADB":
                raise StoreError(f"{self.path}: not a corrections store ({error})") from None
            raise StoreError(damaged(self.path, str(error))) from None
        if problems != ["ok"]:
            raise StoreError(damaged(self.path, "; ".join(problems)))

    @contextmanager
    def _connect(self, readonly: bool | None = None, create: bool = False):
        """A connection of its own. mode=rw: a store moved away is an error, never a new empty file made in
        its place; mode=ro for reading (checks, listing): nothing about the file changes."""
        readonly = self.readonly if readonly is None else readonly
        mode = "ro" if readonly else "rwc" if create else "rw"
        db = sqlite3.connect(f"{self.path.as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S,
                             isolation_level=None)  # we open transactions
        try:
            if not readonly:
                db.execute("PRAGMA synchronous=FULL")  # an acknowledged row survives a crash, not just a kill
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self, db):
        """BEGIN IMMEDIATE takes the write lock at once, so the cap check and the insert see one state."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:  # SQLite has rolled back already after some errors (a full disk)
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def insert(self, db, label: int, meant: str, model_read: str, model_input: np.ndarray, drawing: bytes,
               kind: str, checkpoint: str, sha256: str) -> int:
        """One row inside an open transaction (add() is the checked way in; the tests kill a writer here)."""
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cursor = db.execute(
            "INSERT INTO corrections (created, label, meant, model_read, model_input, drawing, drawing_kind, "
            "checkpoint, checkpoint_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (created, label, meant, model_read, model_input.tobytes(), drawing, kind, checkpoint, sha256))
        return cursor.lastrowid

    def add(self, model_input, drawing, meant: str, model_read: str, checkpoint: str | os.PathLike,
            sha256: str | None = None) -> int:
        """Store one correction and return its id once it is on disk; CorrectionRefused (with a message
        for people) when the character is not a ByMerge class, the drawing is blank or unusable, or the
        store holds its cap."""
        label = meant_class(meant)
        image = check_model_input(model_input)
        data, kind = drawing_bytes(drawing)
        sha256 = sha256 or checkpoint_sha256(checkpoint)
        with self._connect() as db, self._transaction(db):
            if db.execute("SELECT 1 FROM corrections WHERE model_input = ? AND label = ?",
                          (image.tobytes(), label)).fetchone():
                raise AlreadyKept(f"this drawing is kept already, as **{BYMERGE_CHARS[label]}**. Thank you.")
            if db.execute("SELECT COUNT(*) FROM corrections").fetchone()[0] >= self.cap:
                raise CorrectionRefused(f"The corrections store is full ({self.cap:,} corrections): this one "
                                        f"was not kept. Thank you all the same.")
            return self.insert(db, label, meant.strip(), str(model_read), image, data, kind, str(checkpoint), sha256)

    def count(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM corrections").fetchone()[0]

    def corrections(self) -> list[Correction]:
        """Every correction, oldest first."""
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM corrections ORDER BY id").fetchall()
        return [Correction(*row[:5], np.frombuffer(row[5], np.uint8).reshape(28, 28).copy(), *row[6:])
                for row in rows]

    def delete(self, correction_id: int) -> bool:
        """Remove one correction; False when there is none with that id."""
        return not self.delete_ranges([(correction_id, correction_id)])[1]

    def delete_ranges(self, ranges: list[tuple[int, int]]) -> tuple[int, list[tuple[int, int]]]:
        """Remove every correction with an id in the inclusive ranges [(first, last), ...], in one
        transaction, all or nothing: when a range holds no correction nothing is removed. Returns
        (how many were removed, the ranges that held none)."""
        with self._connect() as db, self._transaction(db):
            empty = [(a, b) for a, b in ranges
                     if not db.execute("SELECT 1 FROM corrections WHERE id BETWEEN ? AND ?", (a, b)).fetchone()]
            if empty:
                return 0, empty
            removed = sum(db.execute("DELETE FROM corrections WHERE id BETWEEN ? AND ?", (a, b)).rowcount
                          for a, b in ranges)
        return removed, []

    def content_hash(self) -> str:
        """SHA-256 over what fine-tuning learns from (id, class, model input, in id order): names the store's
        state in a checkpoint's record."""
        digest = hashlib.sha256()
        with self._connect() as db:
            for row in db.execute("SELECT id, label, model_input FROM corrections ORDER BY id"):
                digest.update(f"{row[0]}:{row[1]}:".encode() + row[2])
        return digest.hexdigest()


def damaged(path: Path, found: str) -> str:
    return (f"{path}: the corrections store is damaged (SQLite found: {found[:300]}). Stop the page, move the "
            f"file aside and restore a copy; `sqlite3 {path.name} .recover` may save its rows.")


def store_failure(store: CorrectionStore, error: Exception) -> str:
    """Why a write to `store` failed, in words for the writer (the log gets the error itself)."""
    name = getattr(error, "sqlite_errorname", "")
    if not store.path.exists():
        return "the corrections store is gone from the server (moved or deleted)"
    if name == "SQLITE_FULL" or getattr(error, "errno", None) == errno.ENOSPC:
        return "the server's disk is full"
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or "malformed" in str(error):
        return "the corrections store is damaged"
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return "the corrections store is busy just now; please try again in a minute"
    if name in ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN"):
        return "the corrections store cannot be written on the server"
    return "the corrections store could not be written"


def drawing_png(value) -> bytes:
    """A page or API drawing (Sketchpad value, image array, file) as PNG bytes, black on white."""
    import cv2

    rgba = to_rgba(value)
    on_white = rgba[:, :, :3] * rgba[:, :, 3:] + 1 - rgba[:, :, 3:]
    ok, encoded = cv2.imencode(".png", (on_white[:, :, ::-1] * 255).round().astype(np.uint8))
    if not ok:
        raise CorrectionRefused("The drawing could not be kept: it could not be saved as PNG.")
    return encoded.tobytes()


def keep_correction(store: CorrectionStore, predictor, value, meant, drawing=None) -> str:
    """The page's /correct: read `value` as /predict does, then store it with the character meant.
    `drawing` is the original as the page has it (stroke JSON), else `value` kept as PNG. Returns a
    short message for people: kept, or why not. Never raises on bad input."""
    try:
        label = meant_class(meant)
        prediction = predictor.predict(value)  # UnusableImage for a blank or unreadable drawing
        model_input = prepared(prediction.image, predictor.checkpoint.input_spec.transposed).model_input
        read = prediction.top5[0][0]
        original = drawing if drawing is not None else drawing_png(value)
        store.add(model_input, original, meant, read, predictor.checkpoint_path)
    except AlreadyKept as kept:
        return f"Kept already: {kept}"
    except (CorrectionRefused, UnusableImage) as refused:
        return f"Not kept: {refused}"
    except (sqlite3.Error, OSError) as error:
        reason = store_failure(store, error)
        log.error("a correction was not kept: %s: %s (%s: %s)", store.path, reason, type(error).__name__,
                  str(error)[:200])
        return f"Not kept: {reason}. The people who run this page can see it in their log."
    char = BYMERGE_CHARS[label]
    said = "" if read != char else " (the model read it so too; kept all the same)"
    return f"{CORRECTION_NOTE_KEPT} **{char}**{said}. It will help the next model read this better."
