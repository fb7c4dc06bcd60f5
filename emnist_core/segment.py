"""Find the characters of one handwritten line (a word, a number, a postcode), left to right.

Printed, separated characters are found as blobs of ink; blobs that belong together are grouped:
an i or j keeps its dot and a character drawn in strokes that do not touch (E, F, H, k, t, x, 4, 5)
stays one, because its pieces overlap horizontally or nearly touch, while the gaps between
characters are wider. Specks are dropped. A group much wider than the line's characters is taken to be
touching characters and cut where its ink is thinnest. Each character comes back as its own crop,
which then goes through the same preprocessing as a single drawn character (preprocess.prepare).
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .preprocess import INK_LEVEL, MAX_INK_SHARE, UnusableImage, ink_map, stroke_width, to_rgba

LINE_MAX_SIDE = 2048  # longer lines are shrunk to this first: 64 characters still get ~30 px each
MAX_CHARACTERS = 64  # a line with more is refused: reading it would hold the model for too long
MAX_BLOBS = 4 * MAX_CHARACTERS  # more separate blobs than this is texture or noise, not writing
SPECK_STROKES = 0.5  # blobs whose long side is under this many stroke widths are specks
# Sizes below are shares of the line's character height (the height of its tall characters).
OVERLAP_SHARE = 0.5  # two pieces overlapping by this share of the narrower one's width are one character
NEAR_GAP = 0.1  # pieces closer than this nearly touch: one character (the gaps between characters are wider)
FLAT_HEIGHT = 0.35  # a piece lower than this (a dot, a bar) is not a character on its own...
MINOR_INK = 0.1  # ...nor one with less ink than this share of a typical character's (a broken-off sliver)...
ATTACH_GAP = 0.25  # ...it joins its nearest neighbour within this gap, or is dropped if it is small
LONE_MARK = 0.35  # a minor piece left alone whose long side is under this is a mark (a full stop): dropped
WIDE_SHARE = 1.9  # a group wider than this many typical character widths is touching characters...
CUT_PART_HEIGHT = 0.5  # ...if cutting it leaves parts at least this tall (a 2's loop is not a character)
TYPICAL_WIDTH_FLOOR = 0.7  # typical width is at least this share of the height (a line of 1s or ls)
CROP_MARGIN = 0.15  # white margin around each character's crop
# Not one line (check_one_line): shares of the main row of ink's height, or of its inked columns.
ROW_GAP = 0.1  # empty rows narrower than this do not part two rows of ink (an i's dot sits closer)
SECOND_ROW = 0.4  # another row of ink at least this tall is a second line of writing
UNDERLINE = 0.6  # a stroke across this share of the ink's width, and two rows of ink long, is a rule drawn on it
COLUMN_RATIO = 2.5  # ink this many times taller than wide, and wider than a bar, is a column, not a line
COVERED_SHARE = 0.4  # more ink than this share of the image: a pattern or a filled page, not writing


@dataclass
class FoundCharacter:
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1) in the input image's pixels, x1 and y1 exclusive
    image: np.ndarray  # uint8, the character alone in black on white, ready for preprocess.prepare


@dataclass
class _Group:
    """Blobs taken to be one character; the column range keeps each side of a cut to itself."""
    blobs: list[int]
    ink: int  # pixels
    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def overlap(self, other: "_Group") -> int:
        """Shared columns; negative: the gap between them."""
        return min(self.x1, other.x1) - max(self.x0, other.x0)

    def joined(self, other: "_Group") -> "_Group":
        return _Group(self.blobs + other.blobs, self.ink + other.ink, min(self.x0, other.x0), min(self.y0, other.y0),
                      max(self.x1, other.x1), max(self.y1, other.y1))


def find_characters(value) -> list[FoundCharacter]:
    """Any input preprocess.to_rgba takes -> its characters, left to right. Raises UnusableImage."""
    rgba = to_rgba(value, decode_side=LINE_MAX_SIDE)
    ink = ink_map(rgba, max_side=LINE_MAX_SIDE)
    mask = (ink > INK_LEVEL).astype(np.uint8)
    if mask.mean() > MAX_INK_SHARE:
        raise UnusableImage("Most of the image is ink: write the line on a clear background.")
    check_one_line(mask)
    # Boxes in the input's own pixels: an array may have been shrunk on the way in (a file's boxes
    # are in the pixels it was decoded at, which is the file's own unless it is huge).
    height, width = value.shape[:2] if isinstance(value, np.ndarray) else rgba.shape[:2]
    scale_x, scale_y = width / ink.shape[1], height / ink.shape[0]
    found = []
    for group, pixels in characters_in_mask(mask):
        found.append(FoundCharacter(
            box=(int(group.x0 * scale_x), int(group.y0 * scale_y),
                 int(np.ceil(group.x1 * scale_x)), int(np.ceil(group.y1 * scale_y))),
            image=_crop(pixels, group)))
    return found


def check_one_line(mask: np.ndarray) -> None:
    """Raise UnusableImage when the ink is not one line of writing: rows of ink one above another (two
    lines, a stack, a word turned on its side, a grid, an underline), a tall narrow column, or most of the
    image covered. Reading such ink character by character would give a confident-looking nonsense text."""
    if mask.mean() > COVERED_SHARE:
        raise UnusableImage("Most of the image is covered in ink: write one line on a clear background.")
    rows = np.flatnonzero(mask.any(1))
    if rows.size == 0:
        return
    # Runs of inked rows; gaps too narrow to part two lines of writing are closed first.
    starts = np.flatnonzero(np.diff(rows, prepend=-2) > 1)
    runs = [(rows[a], rows[b - 1] + 1) for a, b in zip(starts, [*starts[1:], rows.size])]
    tallest = max(y1 - y0 for y0, y1 in runs)
    bands = [list(runs[0])]
    for y0, y1 in runs[1:]:
        if y0 - bands[-1][1] < ROW_GAP * tallest:
            bands[-1][1] = y1
        else:
            bands.append([y0, y1])
    if len(bands) > 1:
        heights = sorted((y1 - y0 for y0, y1 in bands), reverse=True)
        if heights[1] >= SECOND_ROW * heights[0]:
            raise UnusableImage(f"The ink is in {sum(h >= SECOND_ROW * heights[0] for h in heights)} rows, one "
                                f"above another: write one line of characters, side by side.")
    cols = np.flatnonzero(mask.any(0))
    height, width = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    longest = max(_longest_run(row) for row in mask[rows[0]:rows[-1] + 1])
    if longest >= UNDERLINE * width and longest >= 2 * max(y1 - y0 for y0, y1 in bands):
        raise UnusableImage("A line is drawn under or through the writing: write the characters alone, "
                            "without lines under, over or through them.")
    if height >= COLUMN_RATIO * width and width >= 4 * max(stroke_width(mask.astype(bool)), 1.0):
        raise UnusableImage("The ink is a tall narrow column, not a line: write the characters side by side, "
                            "left to right (turn a photo upright first).")


def _longest_run(inked: np.ndarray) -> int:
    """The most consecutive True values."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inked.astype(np.int8), [0]])))
    return int((edges[1::2] - edges[::2]).max()) if edges.size else 0


def characters_in_mask(mask: np.ndarray) -> list[tuple[_Group, np.ndarray]]:
    """Binary ink mask of a line -> (group, its own pixels as a full-size bool mask's crop) per character."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        raise UnusableImage("Nothing written yet: write a word or a number.")
    width = max(stroke_width(mask.astype(bool)), 1.0)
    blobs = [_Group([i], area, x, y, x + w, y + h) for i, (x, y, w, h, area) in enumerate(stats[1:], start=1)
             if max(w, h) >= SPECK_STROKES * width]
    if not blobs:
        raise UnusableImage("Only specks found: write a word or a number.")
    if len(blobs) > MAX_BLOBS:
        raise UnusableImage(f"Too many separate marks ({len(blobs)}): write one line on a clear background.")
    tallest = max(b.height for b in blobs)
    height = float(np.median([b.height for b in blobs if b.height >= 0.5 * tallest]))
    groups = _group(blobs, height)
    groups = [piece for g in groups for piece in _split_if_wide(g, labels, height, groups)]
    groups.sort(key=lambda g: (g.x0 + g.x1) / 2)
    if len(groups) > MAX_CHARACTERS:
        raise UnusableImage(f"{len(groups)} characters found; at most {MAX_CHARACTERS} are read at once: "
                            f"write a shorter line.")
    return [(g, np.isin(labels[g.y0:g.y1, g.x0:g.x1], g.blobs)) for g in groups]


def _group(blobs: list[_Group], height: float) -> list[_Group]:
    """Join pieces of one character: overlapping or nearly touching; flat pieces join their neighbour."""
    groups = sorted(blobs, key=lambda g: g.x0)
    changed = True
    while changed:  # joining widens a group, which may then reach one already passed: sweep until stable
        changed = False
        i = 0
        while i < len(groups):
            j = i + 1
            while j < len(groups):
                a, b = groups[i], groups[j]
                overlap = a.overlap(b)
                if overlap >= OVERLAP_SHARE * min(a.width, b.width) or -overlap <= NEAR_GAP * height:
                    groups[i] = a.joined(b)
                    del groups[j]
                    changed = True
                else:
                    j += 1
            i += 1
    typical_ink = float(np.median([g.ink for g in groups]))
    minor = [g.height < FLAT_HEIGHT * height or g.ink < MINOR_INK * typical_ink for g in groups]
    flat = [g for g, m in zip(groups, minor) if m]
    whole = [g for g, m in zip(groups, minor) if not m]
    for piece in flat:
        nearest = max(whole, key=piece.overlap, default=None)
        if nearest is not None and -piece.overlap(nearest) <= ATTACH_GAP * height:
            whole[whole.index(nearest)] = nearest.joined(piece)
        elif max(piece.width, piece.height) >= LONE_MARK * height:
            whole.append(piece)  # a lone bar long enough to be meant: let the model say what it is
    return whole


def _split_if_wide(group: _Group, labels: np.ndarray, height: float, line: list[_Group]) -> list[_Group]:
    """Cut a group far wider than the line's characters where its ink is thinnest, again if still wide."""
    typical = max(float(np.median([g.width for g in line])), TYPICAL_WIDTH_FLOOR * height)
    if group.width <= WIDE_SHARE * typical:
        return [group]
    own = np.isin(labels[group.y0:group.y1, group.x0:group.x1], group.blobs)
    columns = own.sum(0).astype(np.float32)
    margin = int(0.5 * typical)  # no cut nearer the ends: touching characters are each about typical wide
    window = columns[margin:group.width - margin]
    if window.size == 0:
        return [group]
    centre_bias = np.abs(np.arange(window.size) - window.size / 2) * 1e-3  # ties: nearest the middle
    cut = group.x0 + margin + int(np.argmin(window + centre_bias))
    parts = []
    for x0, x1 in ((group.x0, cut), (cut, group.x1)):
        rows = np.flatnonzero(own[:, x0 - group.x0:x1 - group.x0].any(1))
        if rows.size == 0 or rows[-1] + 1 - rows[0] < CUT_PART_HEIGHT * height:
            return [group]
        ink = int(own[:, x0 - group.x0:x1 - group.x0].sum())
        parts.append(_Group(group.blobs, ink, x0, group.y0 + rows[0], x1, group.y0 + rows[-1] + 1))
    return [piece for part in parts for piece in _split_if_wide(part, labels, height, line)]


def _crop(pixels: np.ndarray, group: _Group) -> np.ndarray:
    """The group's own pixels, black on a white margin (another character's ink in its box is left out)."""
    pad = max(2, int(CROP_MARGIN * max(group.width, group.height)))
    return np.pad(np.where(pixels, 0, 255).astype(np.uint8), pad, constant_values=255)
