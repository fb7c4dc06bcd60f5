"""From what a person hands over (a Gradio sketch, an array, a PIL image, a file, a photo) to the
28x28 image EMNIST's own conversion would have made of it.

EMNIST (Cohen et al. 2017) took each 128x128 NIST character, blurred it (Gaussian, sigma 1), cropped
it to its bounding box, centred it in a square frame keeping the aspect ratio with a 2-pixel border,
downsampled it bicubically to 28x28 and stretched the intensities to 0..255, and stored it transposed.
We do the same, after finding the ink and giving the strokes the width NIST's pens gave them.
"""

import base64
import binascii
import functools
import io
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 384  # larger inputs are shrunk first: plenty for one character, and fast
MAX_PIXELS = 4096 * 4096  # larger images are refused before decoding: bounded memory and time per input
NOTHING_DRAWN = "Nothing drawn yet: draw a character."  # what every blank input is told, drawn or uploaded
DECODE_SIDE = 2 * MAX_SIDE  # images are decoded or reduced to about this long side before anything else
MIN_WORK_STROKE = 3.0  # thinnest stroke, in pixels at WORK_SIDE, that survives shrinking the mask there
WORK_SIDE = 64  # the character's long side at NIST-like scale, where blur and stroke width are set
NIST_BORDER = 2  # pixels of padding around the character at that scale, as EMNIST added
STROKE_RANGE = (0.12, 0.16)  # stroke width / long side of the character: EMNIST's usual range
INK_LEVEL = 0.35  # share of full contrast above which a pixel counts as ink
SPECK_SHARE = 0.02  # ink blobs smaller than this share of the largest one are noise
MAX_INK_SHARE = 0.6  # more ink than this share of the image is not one drawn character
MAX_LAYERS = 16  # an editor value with more layers is refused: each would be decoded (the page sends one)
MAX_DATA_URL = 28_000_000  # characters of a data: URL: base64 of about 20 MB, the page's upload cap
QUOTE_CHARS = 80  # at most this much of what someone sent is repeated in a message


class UnusableImage(ValueError):
    """Input with no usable character in it; the message is meant for the person who drew it."""


@dataclass
class Prepared:
    model_input: np.ndarray  # (28, 28) uint8, ink bright, in the orientation the model expects
    upright: np.ndarray  # (28, 28) uint8, ink bright, as drawn (for showing people)
    trajectory: np.ndarray | None = None  # (6, 64) float32: a drawing's pen path (strokes.trajectory); None for an image


# ---- 1. whatever came in -> RGBA float image ----------------------------------------------------

def to_rgba(value, decode_side: int = DECODE_SIDE) -> np.ndarray:
    """Any supported input -> (H, W, 4) float32 in 0..1, at most about `decode_side` on its long side
    (one character needs DECODE_SIDE; a whole line of writing asks for more).

    Supported: a file path, a `data:` URL (base64), a binary file object (read from its start), a PIL
    image, an array, or an editor value {"background", "layers", "composite"} of any of these."""
    if value is None:
        raise UnusableImage(NOTHING_DRAWN)
    if isinstance(value, dict):
        return _editor_value_to_rgba(value, decode_side)
    if isinstance(value, str) and value[:5].lower() == "data:":
        return _stream_to_rgba(data_url_bytes(value), "The data: URL", decode_side)
    if isinstance(value, (str, os.PathLike)):
        if not os.fspath(value):  # Path("") is the current folder: say what was really given
            raise UnusableImage("The file name is empty: name an image file.")
        return _file_to_rgba(Path(value), decode_side)
    if isinstance(value, io.IOBase) and value.readable() and value.seekable():
        value.seek(0)  # the same stream may be read twice (a line is read, then drawn on)
        return _stream_to_rgba(value, "That file", decode_side)
    if isinstance(value, Image.Image):
        try:
            return _pil_to_rgba(value, decode_side)
        except (OSError, ValueError, SyntaxError, EOFError) as error:  # closed, truncated, broken
            if isinstance(error, UnusableImage):
                raise
            raise UnusableImage("That image could not be decoded (it is closed, cut short or damaged): "
                                "try another image file.") from None
    if isinstance(value, np.ndarray):
        return _array_to_rgba(value, decode_side)
    raise UnusableImage(f"Cannot read a {type(value).__name__} as an image.")


def quoted(text, limit: int = QUOTE_CHARS) -> str:
    """What someone sent, repeated in a message or a log at most `limit` characters long."""
    text = repr(text) if not isinstance(text, str) else text
    text = text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
    # A lone surrogate (JSON's "\ud800") cannot be written as UTF-8: the answer carrying it failed (HTTP 500).
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def data_url_bytes(url: str) -> io.BytesIO:
    """A `data:[type];base64,...` URL -> its bytes, refused with a message when too long or not base64."""
    if len(url) > MAX_DATA_URL:
        raise UnusableImage(f"The data: URL is too long ({len(url):,} characters); the limit is "
                            f"{MAX_DATA_URL:,}. Send the image as a file instead.")
    header, comma, payload = url.partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise UnusableImage(f"Only base64 data: URLs of images can be read, not {quoted(header + comma)}.")
    try:
        return io.BytesIO(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):
        raise UnusableImage("The data: URL is not valid base64: send the image as a file instead.") from None


def check_size(width: int, height: int) -> None:
    """Refuse an image above MAX_PIXELS: decoding it could take gigabytes and keep others waiting."""
    if width * height > MAX_PIXELS:
        raise UnusableImage(f"The image is too large ({width}x{height} pixels); the limit is "
                            f"{MAX_PIXELS / 1e6:.1f} megapixels. One character needs far fewer: shrink it.")


def open_image(source, reduced: bool = True, decode_side: int = DECODE_SIDE) -> Image.Image:
    """Open an image file (a path or a binary file object) without decoding it: JPEGs are set to
    decode at a reduced scale (unless not `reduced`), then the size the decoding would give is
    checked against MAX_PIXELS."""
    try:
        with warnings.catch_warnings():  # Pillow's bomb warning: the size is checked here instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError:
        raise UnusableImage(f"The image is too large: the limit is {MAX_PIXELS / 1e6:.1f} megapixels. "
                            f"One character needs far fewer: shrink it.") from None
    try:
        width, height = image.size
        if reduced and image.format == "JPEG" and max(width, height) > decode_side:
            shrink = decode_side / max(width, height)  # the DCT decodes at 1/2, 1/4 or 1/8: nearly free
            image.draft(image.mode, (math.ceil(width * shrink), math.ceil(height * shrink)))
        check_size(*image.size)
    except BaseException:
        image.close()
        raise
    return image


def check_image_size(source, reduced: bool = True) -> None:
    """Raise UnusableImage when an image file (path, bytes or file object) is too large to decode,
    reading only its header. `reduced`: count a JPEG at the reduced size open_image decodes it at;
    otherwise (for decoders that decode in full, like Gradio's editor) at its full size."""
    source = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    open_image(source, reduced).close()


def _file_to_rgba(path: Path, decode_side: int = DECODE_SIDE) -> np.ndarray:
    try:
        kind = path.stat().st_mode
    except FileNotFoundError:
        raise UnusableImage(f"No such image file: {path.name}") from None
    except (OSError, ValueError):  # a name too long or with a NUL byte, a folder that cannot be entered
        raise UnusableImage(f"{path.name} cannot be opened as a file.") from None
    if not stat.S_ISREG(kind):  # a FIFO or a device would block or never end: never open one
        what = "a folder" if stat.S_ISDIR(kind) else "not a regular file"
        raise UnusableImage(f"{path.name} is {what}, not an image file.")
    return _stream_to_rgba(path, path.name, decode_side)


def _stream_to_rgba(source, name: str, decode_side: int = DECODE_SIDE) -> np.ndarray:
    """A path or binary file object -> RGBA; `name` says what it was in the message if it is no image."""
    try:
        with open_image(source, decode_side=decode_side) as image:
            image.load()
            return _pil_to_rgba(image, decode_side)
    except UnusableImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        raise UnusableImage(f"{name} is not an image this tool can read.") from None


def _pil_to_rgba(image: Image.Image, decode_side: int = DECODE_SIDE) -> np.ndarray:
    check_size(*image.size)
    factor = math.ceil(max(image.size) / decode_side)
    if factor > 1:  # box-average whole blocks of pixels: thin strokes fade but stay
        if image.mode not in _REDUCIBLE_MODES:
            image = image.convert("I" if image.mode.startswith("I;16") else "L" if image.mode == "1"
                                  else "RGBA")
        image = image.reduce(factor)
    image = ImageOps.exif_transpose(image)  # phone photos: upright as the person saw them
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # deep greys: let the array decide the scale
        return _array_to_rgba(np.asarray(image), decode_side)
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0


_REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA", "I", "F")  # what Image.reduce takes (others convert)
_CV2_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)  # what cv2.resize can shrink


def _array_to_rgba(array: np.ndarray, decode_side: int = DECODE_SIDE) -> np.ndarray:
    """An array -> RGBA in 0..1. The scale is chosen from the dtype and robust statistics:

    - bool: False is 0, True is 1.
    - integers of any width: 0..1 when no value exceeds 1 (a 0/1 mask), 0..255 when none exceeds
      255 (uint8, or 8-bit data in a wider type), else 0 to the next 2**k - 1 above the largest
      value (12-bit scans read as 0..4095, 16-bit as 0..65535); negative values count as 0.
    - floats: 0..1 unless more than one pixel in a thousand lies above 1.5, then 0..255; values
      outside the range are clipped, so a stray pixel at 1.01 or 300 changes nothing.
    - NaN and infinite values are treated as missing: they take the median of the finite pixels
      (most likely the paper), never ink.
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.view(np.uint8) * np.uint8(255)
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise UnusableImage(f"Cannot read an array of {array.dtype} as an image.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise UnusableImage(f"An image must be HxW, HxWx3 or HxWx4; got shape {array.shape}.")
    check_size(array.shape[1], array.shape[0])
    array = _shrink(array, decode_side)
    if np.issubdtype(array.dtype, np.integer):
        top = int(array.max()) if array.size else 0
        full = 1.0 if top <= 1 else 255.0 if top <= 255 else float(2 ** top.bit_length() - 1)
        array = np.clip(array.astype(np.float32), 0, None) / full
    else:
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: missing, below
            array = array.astype(np.float32)
        finite = np.isfinite(array)
        if not finite.all():
            array = np.where(finite, array, np.median(array[finite]) if finite.any() else 0.0)
        if array.size and np.mean(array > 1.5) > 0.001:
            array = array / 255.0
    array = np.clip(array, 0.0, 1.0).astype(np.float32)
    if array.ndim == 2:
        return np.dstack([array, array, array, np.ones_like(array)])
    if array.shape[2] == 3:
        return np.dstack([array, np.ones(array.shape[:2], np.float32)])
    return array


def _shrink(array: np.ndarray, decode_side: int = DECODE_SIDE) -> np.ndarray:
    """Box-average an array to about `decode_side` on its long side before any float copy is made."""
    h, w = array.shape[:2]
    factor = math.ceil(max(h, w) / decode_side)
    if factor <= 1 or min(h, w) < 2 * factor:
        return array
    if array.dtype not in _CV2_DTYPES:
        array = array.astype(np.float32)
    return cv2.resize(array, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)


def _editor_value_to_rgba(value: dict, decode_side: int = DECODE_SIDE) -> np.ndarray:
    """A Gradio Sketchpad/ImageEditor value: the composite if given (nothing else is decoded), else the
    layers over the background, their count and total size checked from their headers first."""
    layers = value.get("layers")
    layers = [] if layers is None else layers
    if not isinstance(layers, (list, tuple)):
        raise UnusableImage("An editor value's layers must be a list of images.")
    if len(layers) > MAX_LAYERS:
        raise UnusableImage(f"Too many layers ({len(layers):,}); at most {MAX_LAYERS} are read: "
                            f"send the composite image instead.")
    parts = [value.get("composite")] if value.get("composite") is not None else [value.get("background"), *layers]
    parts = [p for p in parts if p is not None]
    if any(isinstance(p, dict) for p in parts):  # a value inside a value (even itself): no image
        raise UnusableImage("An editor value's images must be images, not further editor values.")
    if value.get("composite") is not None:
        return to_rgba(parts[0], decode_side)
    pixels = sum(_pixels(p) for p in parts)
    if pixels > MAX_PIXELS:
        raise UnusableImage(f"The layers are too large together ({pixels / 1e6:.1f} megapixels); the limit is "
                            f"{MAX_PIXELS / 1e6:.1f}: send the composite image instead.")
    parts = [to_rgba(p, decode_side) for p in parts]
    if not parts:
        raise UnusableImage(NOTHING_DRAWN)
    out = parts[0].copy()
    for layer in parts[1:]:
        if layer.shape != out.shape:
            continue  # a layer that does not fit the canvas cannot be placed; the others still can
        alpha = layer[:, :, 3:4]
        out[:, :, :3] = layer[:, :, :3] * alpha + out[:, :, :3] * (1 - alpha)
        out[:, :, 3:4] = alpha + out[:, :, 3:4] * (1 - alpha)
    return out


def _pixels(part) -> int:
    """Pixels an editor part would decode to, from its header or shape alone (0 if unknown: its own
    decoding then checks it)."""
    if isinstance(part, np.ndarray):
        return int(np.prod(part.shape[:2])) if part.ndim >= 2 else 0
    if isinstance(part, Image.Image):
        return part.size[0] * part.size[1]
    try:
        if isinstance(part, str) and part[:5].lower() == "data:":
            part = data_url_bytes(part)
        elif isinstance(part, io.IOBase):
            part.seek(0)
        elif not isinstance(part, (str, os.PathLike)) or not Path(part).is_file():
            return 0
        with open_image(part) as image:
            return image.size[0] * image.size[1]
    except UnusableImage:
        raise
    except Exception:  # not an image: its own decoding says so
        return 0


# ---- 2. RGBA -> ink map ---------------------------------------------------------------------

def ink_map(rgba: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """(H, W) float32 in 0..1: how much ink each pixel holds, whatever the convention; images with
    a side over `max_side` are shrunk to it first (a whole line of writing needs more than one character)."""
    h, w = rgba.shape[:2]
    if min(h, w) < 8:
        raise UnusableImage(f"The image is too small ({w}x{h} pixels).")
    scale = max_side / max(h, w)
    if scale < 1:
        rgba = cv2.resize(rgba, (max(8, round(w * scale)), max(8, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    alpha = rgba[:, :, 3]
    luminance = rgba[:, :, :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    if alpha.max() - alpha.min() > 0.5 and (alpha < 0.5).mean() > 0.4:
        # Ink drawn on a transparent layer: the alpha channel is the drawing, whatever its colour.
        return alpha
    return _contrast_to_background(luminance)


def _contrast_to_background(luminance: np.ndarray) -> np.ndarray:
    if luminance.max() - luminance.min() < 0.05:
        raise UnusableImage("The image is one flat colour: draw a character (or clear a fully inked canvas).")
    h, w = luminance.shape
    rim = max(1, min(h, w) // 50)
    border = np.concatenate([luminance[:rim].ravel(), luminance[-rim:].ravel(),
                             luminance[:, :rim].ravel(), luminance[:, -rim:].ravel()])
    # The background is what the rim shows: paper brighter than the middle grey means dark ink.
    dark_ink = np.median(border) >= (luminance.min() + luminance.max()) / 2
    signal = (1.0 - luminance) if dark_ink else luminance  # ink bright from here on
    # The local background (paper under uneven light, or a flat canvas): a wide min-filter
    # removes strokes narrower than the kernel, a blur smooths what is left.
    kernel = max(15, (max(h, w) // 6) | 1)
    background = cv2.erode(signal, cv2.getStructuringElement(cv2.MORPH_RECT, (kernel, kernel)))
    background = cv2.blur(background, (kernel, kernel))
    contrast = np.clip(signal - background, 0, None)
    peak = float(np.percentile(contrast, 99.9))
    if peak < 0.08:
        raise UnusableImage("No character found: the ink is too faint.")
    contrast8 = np.clip(contrast / peak * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(contrast8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    strokes = contrast8 > otsu
    full = float(np.median(contrast[strokes])) if strokes.any() else peak  # contrast of a stroke's core
    return np.clip(contrast / max(full, 1e-3), 0.0, 1.0).astype(np.float32)


# ---- 3. ink map -> EMNIST's 28x28 -------------------------------------------------------------

def character_mask(ink: np.ndarray) -> np.ndarray:
    """Binary mask of the character: ink above INK_LEVEL, specks and faint noise removed."""
    mask = (ink > INK_LEVEL).astype(np.uint8)
    if mask.mean() > MAX_INK_SHARE:
        raise UnusableImage("Most of the image is ink: draw one character on a clear background.")
    n, components, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        raise UnusableImage(NOTHING_DRAWN)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(2, SPECK_SHARE * areas.max())) + 1
    return np.isin(components, keep)


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the median distance from a stroke's centre line to its edge."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, _SQUARE3))
    return 2.0 * _median(distance[ridge]) if ridge.any() else 0.0


_SQUARE3 = np.ones((3, 3), np.uint8)


def _median(values: np.ndarray) -> float:
    """np.median of a 1-D array, the same value, without its wrapping (a line reads ~100 candidates)."""
    middle = values.size // 2
    if values.size % 2:
        return float(np.partition(values, middle)[middle])
    low, high = np.partition(values, [middle - 1, middle])[middle - 1:middle + 1]
    return float((low + high) / values.dtype.type(2))


def pad(mask: np.ndarray, width: int) -> np.ndarray:
    """np.pad(mask, width) with zeros: the same array, without np.pad's cost on small masks."""
    padded = np.zeros((mask.shape[0] + 2 * width, mask.shape[1] + 2 * width), mask.dtype)
    padded[width:width + mask.shape[0], width:width + mask.shape[1]] = mask
    return padded


def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    """Zhang-Suen's removal rule for each of the 256 neighbourhoods, for its two sub-passes: bit i of
    the code is neighbour P(i+2), clockwise from north (P2 north, P3 north-east, ... P9 north-west)."""
    tables = []
    for first_pass in (True, False):
        table = np.zeros(256, bool)
        for code in range(256):
            n = [(code >> i) & 1 for i in range(8)]
            transitions = sum(n[i] == 0 and n[(i + 1) % 8] == 1 for i in range(8))
            if first_pass:
                side = n[0] * n[2] * n[4] == 0 and n[2] * n[4] * n[6] == 0
            else:
                side = n[0] * n[2] * n[6] == 0 and n[0] * n[4] * n[6] == 0
            table[code] = 2 <= sum(n) <= 6 and transitions == 1 and side
        tables.append(table.astype(np.uint8))
    return tables[0], tables[1]


_THINNING = _thinning_tables()
# Weights that add a pixel's eight neighbours up into the code the tables are indexed by.
_NEIGHBOUR_BITS = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the strokes' one-pixel centre lines, connected as drawn. Each sub-pass is
    one filter (the neighbourhood as an 8-bit code) and one table lookup, not a dozen array passes."""
    img = pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for table in _THINNING:
            code = cv2.filter2D(img, cv2.CV_8U, _NEIGHBOUR_BITS, borderType=cv2.BORDER_CONSTANT)  # 0..255, exact
            remove = cv2.LUT(code, table) & img
            if cv2.countNonZero(remove):
                img -= remove
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def fit_stroke_width(mask: np.ndarray, thinnest: float, thickest: float) -> np.ndarray:
    """Strokes outside EMNIST's range of widths are grown or worn down to its edge; strokes
    inside it keep the writer's own width (forcing one width loses accuracy, measured)."""
    width = stroke_width(mask)
    if width < thinnest:  # grow: everything within the missing half-width of the ink
        outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return np.clip((thinnest - width) / 2 + 1 - outside, 0.0, 1.0).astype(np.float32)  # edge ink sits at 1
    if width > thickest:  # wear down, but never below the centre lines
        inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        worn = np.clip(inside - (width - thickest) / 2, 0.0, 1.0)
        return np.maximum(worn, restroke(mask, 2.0)).astype(np.float32)
    return mask.astype(np.float32)


def restroke(mask: np.ndarray, width: float) -> np.ndarray:
    """The strokes' centre lines drawn with a round, anti-aliased pen of `width` pixels; wearing
    strokes down keeps these so no thin part of a character disappears."""
    skeleton = thin(mask)
    distance = cv2.distanceTransform((~skeleton).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def emnist_from_ink(ink: np.ndarray) -> np.ndarray:
    """Ink map -> (28, 28) uint8 upright character, made as EMNIST made its images."""
    return emnist_from_mask(character_mask(ink))


def emnist_from_mask(mask: np.ndarray) -> np.ndarray:
    """Binary mask of one character's ink, specks already gone -> (28, 28) uint8 upright character.
    A line's candidate characters come here directly: their pieces were cleaned once for the line."""
    crop = _crop(mask)
    width = stroke_width(pad(crop, 1))  # padded: the crop's edge is not a stroke's edge to the transform
    if max(crop.shape) < 2.0 * max(width, 1.0):
        raise UnusableImage("That is just a dot: draw a whole character.")
    # Shrinking the mask to WORK_SIDE and thresholding it would erase strokes much thinner than the
    # shrink factor (a 1-px pen on a large canvas): widen those first, at full resolution, so they
    # arrive at MIN_WORK_STROKE pixels; fit_stroke_width then gives them EMNIST's width like any other.
    needed = MIN_WORK_STROKE * max(crop.shape) / WORK_SIDE
    if width < needed:
        grow = (needed - width) / 2
        padded = pad(crop, math.ceil(grow) + 1)
        outside = cv2.distanceTransform((~padded).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        crop = _crop(outside <= grow)
    # Scale the character's long side to WORK_SIDE (with room for the new strokes).
    scale = WORK_SIDE / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    work = cv2.resize(crop.astype(np.float32), size,
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR) > 0.5
    if not work.any():
        raise UnusableImage("No character found: the strokes are too faint or too thin to follow.")
    work = pad(work, WORK_SIDE // 8)  # re-stroking may widen thin strokes past the old box
    character = fit_stroke_width(work, STROKE_RANGE[0] * WORK_SIDE, STROKE_RANGE[1] * WORK_SIDE)
    character = cv2.GaussianBlur(character, (0, 0), sigmaX=1.0)
    # Crop again to the new strokes and centre in a square frame with EMNIST's border.
    rows, cols = np.flatnonzero(character.max(1) > 0.05), np.flatnonzero(character.max(0) > 0.05)
    character = character[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = character.shape
    side = max(h, w) + 2 * NIST_BORDER
    y0, x0 = (side - h) // 2, (side - w) // 2
    # The character centred in a (side x side) frame, resized to 28x28 with PIL's bicubic filter: as two
    # small products with that filter's weights, the frame's empty border left out.
    weights = _bicubic_weights(side)
    small = (weights[:, y0:y0 + h] @ character.astype(np.float64) @ weights[:, x0:x0 + w].T).astype(np.float32)
    small = np.clip(small, 0, None)
    return (small / max(float(small.max()), 1e-6) * 255).round().astype(np.uint8)


@functools.lru_cache(maxsize=1024)
def _bicubic_weights(side: int) -> np.ndarray:
    """(28, side) float64: the weights of PIL's bicubic resize from `side` to 28 pixels along one axis, as
    PIL itself gives them (the identity resized along its rows), so that W @ frame @ W.T is
    frame.resize((28, 28), BICUBIC) up to float rounding (PIL resizes one axis, then the other)."""
    identity = Image.fromarray(np.eye(side, dtype=np.float32), mode="F")
    weights = np.asarray(identity.resize((28, side), Image.Resampling.BICUBIC), np.float64).T
    weights.setflags(write=False)
    return weights


def _crop(mask: np.ndarray) -> np.ndarray:
    """The mask cut to the bounding box of its ink."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not len(rows):
        raise UnusableImage(NOTHING_DRAWN)
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def prepare(value, transposed: bool = True) -> Prepared:
    """Any supported input -> what the model sees (transposed like EMNIST when `transposed`)."""
    return prepared(emnist_from_ink(ink_map(to_rgba(value))), transposed)


def prepared(upright: np.ndarray, transposed: bool = True) -> Prepared:
    """An upright 28x28 character and the same in the model's orientation (transposed like EMNIST)."""
    return Prepared(model_input=np.ascontiguousarray(upright.T if transposed else upright), upright=upright)
