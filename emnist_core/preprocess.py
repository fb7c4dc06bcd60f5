"""From what a person hands over (a Gradio sketch, an array, a PIL image, a file, a photo) to the
28x28 image EMNIST's own conversion would have made of it.

EMNIST (Cohen et al. 2017) took each 128x128 NIST character, blurred it (Gaussian, sigma 1), cropped
it to its bounding box, centred it in a square frame keeping the aspect ratio with a 2-pixel border,
downsampled it bicubically to 28x28 and stretched the intensities to 0..255, and stored it transposed.
We do the same, after finding the ink and giving the strokes the width NIST's pens gave them.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 384  # larger inputs are shrunk first: plenty for one character, and fast
WORK_SIDE = 64  # the character's long side at NIST-like scale, where blur and stroke width are set
NIST_BORDER = 2  # pixels of padding around the character at that scale, as EMNIST added
STROKE_RANGE = (0.12, 0.16)  # stroke width / long side of the character: EMNIST's usual range
INK_LEVEL = 0.35  # share of full contrast above which a pixel counts as ink
SPECK_SHARE = 0.02  # ink blobs smaller than this share of the largest one are noise
MAX_INK_SHARE = 0.6  # more ink than this share of the image is not one drawn character


class UnusableImage(ValueError):
    """Input with no usable character in it; the message is meant for the person who drew it."""


@dataclass
class Prepared:
    model_input: np.ndarray  # (28, 28) uint8, ink bright, in the orientation the model expects
    upright: np.ndarray  # (28, 28) uint8, ink bright, as drawn (for showing people)


# ---- 1. whatever came in -> RGBA float image ----------------------------------------------------

def to_rgba(value) -> np.ndarray:
    """Any supported input -> (H, W, 4) float32 in 0..1."""
    if value is None:
        raise UnusableImage("Nothing drawn yet: draw a character.")
    if isinstance(value, dict):
        return _editor_value_to_rgba(value)
    if isinstance(value, (str, os.PathLike)):
        return _file_to_rgba(Path(value))
    if isinstance(value, Image.Image):
        return _pil_to_rgba(value)
    if isinstance(value, np.ndarray):
        return _array_to_rgba(value)
    raise UnusableImage(f"Cannot read a {type(value).__name__} as an image.")


def _file_to_rgba(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            image.load()
            return _pil_to_rgba(image)
    except FileNotFoundError:
        raise UnusableImage(f"No such image file: {path.name}") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise UnusableImage(f"{path.name} is not an image this tool can read.") from None


def _pil_to_rgba(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)  # phone photos: upright as the person saw them
    if image.mode in ("I", "I;16", "F"):
        array = np.asarray(image, dtype=np.float32)
        return _array_to_rgba(array / max(float(array.max()), 1.0))
    return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0


def _array_to_rgba(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.float32)
    elif array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif np.issubdtype(array.dtype, np.number):
        array = np.nan_to_num(array.astype(np.float32))
        if array.size and array.max() > 1.0:  # 0..255 floats
            array = array / 255.0
        array = np.clip(array, 0.0, 1.0)
    else:
        raise UnusableImage(f"Cannot read an array of {array.dtype} as an image.")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return np.dstack([array, array, array, np.ones_like(array)])
    if array.ndim == 3 and array.shape[2] == 3:
        return np.dstack([array, np.ones(array.shape[:2], np.float32)])
    if array.ndim == 3 and array.shape[2] == 4:
        return array
    raise UnusableImage(f"An image must be HxW, HxWx3 or HxWx4; got shape {array.shape}.")


def _editor_value_to_rgba(value: dict) -> np.ndarray:
    """A Gradio Sketchpad/ImageEditor value: the composite if given, else the layers over the background."""
    if value.get("composite") is not None:
        return to_rgba(value["composite"])
    parts = [value.get("background")] + list(value.get("layers") or [])
    parts = [to_rgba(p) for p in parts if p is not None]
    if not parts:
        raise UnusableImage("Nothing drawn yet: draw a character.")
    out = parts[0].copy()
    for layer in parts[1:]:
        if layer.shape != out.shape:
            continue  # a layer that does not fit the canvas cannot be placed; the others still can
        alpha = layer[:, :, 3:4]
        out[:, :, :3] = layer[:, :, :3] * alpha + out[:, :, :3] * (1 - alpha)
        out[:, :, 3:4] = alpha + out[:, :, 3:4] * (1 - alpha)
    return out


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
        raise UnusableImage("Nothing drawn yet: draw a character.")
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(2, SPECK_SHARE * areas.max())) + 1
    return np.isin(components, keep)


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the median distance from a stroke's centre line to its edge."""
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    ridge = (distance > 0) & (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8)))
    return 2.0 * float(np.median(distance[ridge])) if ridge.any() else 0.0


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: the strokes' one-pixel centre lines, connected as drawn."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for first_pass in (True, False):
            # neighbours P2..P9, clockwise from north
            n = [img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:],
                 img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]]
            count = sum(n)
            transitions = sum((n[i] == 0) & (n[(i + 1) % 8] == 1) for i in range(8))
            if first_pass:
                side = (n[0] * n[2] * n[4] == 0) & (n[2] * n[4] * n[6] == 0)
            else:
                side = (n[0] * n[2] * n[6] == 0) & (n[0] * n[4] * n[6] == 0)
            remove = (img[1:-1, 1:-1] == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & side
            if remove.any():
                img[1:-1, 1:-1][remove] = 0
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
    mask = character_mask(ink)
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    long_side = max(bottom - top, right - left)
    if long_side < 2.0 * max(stroke_width(mask), 1.0):
        raise UnusableImage("That is just a dot: draw a whole character.")
    # Crop to the character (with room for the new strokes), then scale its long side to WORK_SIDE.
    crop = mask[top:bottom, left:right].astype(np.float32)
    scale = WORK_SIDE / long_side
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    work = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR) > 0.5
    work = np.pad(work, WORK_SIDE // 8)  # re-stroking may widen thin strokes past the old box
    character = fit_stroke_width(work, STROKE_RANGE[0] * WORK_SIDE, STROKE_RANGE[1] * WORK_SIDE)
    character = cv2.GaussianBlur(character, (0, 0), sigmaX=1.0)
    # Crop again to the new strokes and centre in a square frame with EMNIST's border.
    rows, cols = np.flatnonzero(character.max(1) > 0.05), np.flatnonzero(character.max(0) > 0.05)
    character = character[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = character.shape
    side = max(h, w) + 2 * NIST_BORDER
    frame = np.zeros((side, side), np.float32)
    y0, x0 = (side - h) // 2, (side - w) // 2
    frame[y0:y0 + h, x0:x0 + w] = character
    small = np.asarray(Image.fromarray(frame, mode="F").resize((28, 28), Image.Resampling.BICUBIC))
    small = np.clip(small, 0, None)
    return (small / max(float(small.max()), 1e-6) * 255).round().astype(np.uint8)


def prepare(value, transposed: bool = True) -> Prepared:
    """Any supported input -> what the model sees (transposed like EMNIST when `transposed`)."""
    upright = emnist_from_ink(ink_map(to_rgba(value)))
    return Prepared(model_input=np.ascontiguousarray(upright.T if transposed else upright),
                    upright=upright)
