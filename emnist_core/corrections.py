"""The corrections store: what writers said they meant when the model misread them, kept to fine-tune it.

One SQLite file (the standard library's sqlite3, WAL mode). Per correction: the 28x28 model input
(EMNIST orientation, as the model read it), the original drawing (PNG bytes, or the page's stroke
JSON {"width", "height", "brush", "strokes"}), the ByMerge class meant, what the model read, the
checkpoint it read with (path and SHA-256) and the time. The page writes it (demo.py, /correct);
`python -m train.corrections` lists, exports and deletes; `python -m train.finetune` reads it.

Every write is one transaction with synchronous=FULL: once add() returns an id the row is on disk,
and a writer killed mid-transaction leaves nothing of its row (SQLite rolls it back on the next open).
Bad corrections are refused with a message for people (CorrectionRefused), never half stored.
"""

import hashlib
import json
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
"""
COLUMNS = ("id", "created", "label", "meant", "model_read", "model_input", "drawing", "drawing_kind",
           "checkpoint", "checkpoint_sha256")


class CorrectionRefused(ValueError):
    """A correction that is not stored; the message says why, for the person who gave it."""


class StoreError(RuntimeError):
    """A store file that cannot be used (not SQLite, another schema); the message names the file."""


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

    def __init__(self, path: str | os.PathLike, cap: int = MAX_CORRECTIONS, create: bool = True):
        self.path, self.cap = Path(path), cap
        if not create and not self.path.is_file():
            raise StoreError(f"{self.path}: no such corrections store")
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a corrections store")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                with self._transaction(db):
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0]
                columns = tuple(row[1] for row in db.execute("PRAGMA table_info(corrections)"))
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a corrections store ({error})") from None
        if version != str(SCHEMA_VERSION) or columns != COLUMNS:
            raise StoreError(f"{self.path}: a corrections store of another layout (schema {version})")

    @contextmanager
    def _connect(self):
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)  # we open transactions
        try:
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
        with self._connect() as db, self._transaction(db):
            return db.execute("DELETE FROM corrections WHERE id = ?", (correction_id,)).rowcount > 0

    def content_hash(self) -> str:
        """SHA-256 over what fine-tuning learns from (id, class, model input, in id order): names the store's
        state in a checkpoint's record."""
        digest = hashlib.sha256()
        with self._connect() as db:
            for row in db.execute("SELECT id, label, model_input FROM corrections ORDER BY id"):
                digest.update(f"{row[0]}:{row[1]}:".encode() + row[2])
        return digest.hexdigest()


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
    except (CorrectionRefused, UnusableImage) as refused:
        return f"Not kept: {refused}"
    except (sqlite3.Error, OSError):
        return "Not kept: the corrections store could not be written just now. Please try again later."
    char = BYMERGE_CHARS[label]
    said = "" if read != char else " (the model read it so too; kept all the same)"
    return f"{CORRECTION_NOTE_KEPT} **{char}**{said}. It will help the next model read this better."
