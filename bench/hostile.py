"""Hostile inputs, made cheaply: shared by bench/robustness.py and tests/test_bad_inputs.py.

Each maker returns the input itself (an array, a PIL image) or writes a file and returns its path.
Large arrays are read-only broadcast views, so a 20000x20000 input costs no memory until it is copied.
"""

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

L_SHAPE = [[(0.35, 0.2), (0.35, 0.8), (0.65, 0.8)]]  # an upright "L", (x, y) in canvas fractions


def drawing(strokes=L_SHAPE, canvas: int = 400, width: int = 16) -> np.ndarray:
    """Black polylines on white, uint8 grey."""
    image = np.full((canvas, canvas), 255, np.uint8)
    for line in strokes:
        pts = (np.array(line, np.float32) * canvas).astype(np.int32)
        cv2.polylines(image, [pts], False, 0, width, cv2.LINE_AA)
    return image


def png_bytes(width: int, height: int, row: bytes | None = None) -> bytes:
    """A genuine 1-bit greyscale PNG, every row the same (white unless `row` is given): a 13000x13000
    one is 169 megapixels in about 40 KB, under Pillow's own decompression-bomb limit."""
    row = row if row is not None else b"\xff" * ((width + 7) // 8)
    raw = (b"\x00" + row) * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def write(folder: Path, name: str, content: bytes) -> str:
    path = Path(folder) / name
    path.write_bytes(content)
    return str(path)


def huge_array(side: int = 20000) -> np.ndarray:
    """A side x side white uint8 image that takes no memory (a broadcast view)."""
    return np.broadcast_to(np.uint8(255), (side, side))
