"""Find the characters of one handwritten line (a word, a number, a postcode), left to right, letting
the model decide where one character ends.

The line is first over-segmented into pieces: its blobs of ink (or, for a line drawn on the page, each
stroke's own ink), with pieces wider than a narrow character cut along the paths from top to bottom
that cross the least ink (for a blob, paths that bend round the ink of letters overlapping in their
columns). Every run of
up to MAX_GROUP consecutive pieces is a candidate character; the model reads all candidates in one
batch, and dynamic programming picks the grouping of the pieces, left to right, whose readings are the
most probable together: the sum of each group's log-probability of its reading, plus small priors on
shape (pieces of one character overlap or touch; characters are seldom much wider than tall; two
characters seldom overlap). An i keeps its dot and a k its two strokes because the joined reading wins;
a wide W stays whole for the same reason, while close letters part because each reads better alone.
Specks are dropped; a lone small mark (a full stop) may be left out.

A line drawn on the page has its strokes, in the order they were drawn: there the shape prior is a
weighted sum of GROUPING_FEATURES (a character bonus, its width, inner gaps, how many strokes and how
many side-by-side clusters of strokes it joins...) and parting two neighbours a weighted sum of
PARTING_FEATURES, the weights fitted on real words of UNIPEN dev sites (train/grouping.py): the model
alone reads two or three letters' ink as one sure wide letter (n+i as m, "bcd" as W), and the sum of
log-probabilities favours fewer characters, so real printed words lost letters to merges.
"""

from dataclasses import dataclass

import cv2
import numpy as np

from .preprocess import (INK_LEVEL, MAX_INK_SHARE, SPECK_SHARE, UnusableImage, ink_map, pad, stroke_width,
                         to_rgba)

LINE_MAX_SIDE = 2048  # longer lines are shrunk to this first: 64 characters still get ~30 px each
MAX_CHARACTERS = 64  # a line with more is refused: reading it would hold the model for too long
MAX_PIECES = 4 * MAX_CHARACTERS  # more separate pieces than this is texture or noise, not writing
SPECK_STROKES = 0.75  # blobs whose long side is under this many stroke widths are specks
MAX_GROUP = 5  # pieces in one character at most (E drawn in four strokes, a cut W in five)
# Sizes below are shares of the line's character height (the height of its tall blobs).
FLAT_HEIGHT = 0.35  # a piece lower than this (a dot, a bar) is minor: never a character on its own...
MINOR_INK = 0.1  # ...nor one with less ink than this share of a typical blob's (a broken-off sliver)...
LONE_MARK = 0.35  # ...unless its long side reaches this (a dash the model may read as a character)
CUT_FROM = 0.8  # pieces wider than this get cut candidates where one stroke crosses a column...
CUT_STROKES = 1.6  # ...i.e. at most this many stroke widths of ink on a path from the top down...
CUT_STEP = 0.25  # ...where each sideways step costs as much as this many pixels of ink (paths run straight)...
CUT_EVERY = 0.4  # ...the thinnest of them, one per this much width at most...
CUT_MIN_PART = 0.15  # ...none leaving a part narrower than this
MAX_WIDTH = 2.2  # a candidate character wider than this is not considered
CROP_MARGIN = 0.15  # white margin around each character's crop
WORK_HEIGHT = 64  # taller lines are shrunk so their characters are about this tall (preprocessing's own
MIN_WORK_PEN = 2.5  # working size), unless that would make the pen thinner than this many pixels
# The score's priors, in nats (the units of the readings' log-probabilities).
CHARACTER_BONUS = 0.0  # per character (measured: any bonus splits letters into sure-looking strokes)
INNER_GAP_COST = 24.0  # per character height of empty columns inside one character
OVERLAP_COST = 3.0  # per share of the narrower of two neighbouring characters that they overlap
WIDE_FREE, WIDE_COST = 1.2, 4.0  # a character wider than WIDE_FREE heights costs WIDE_COST per height more
TOUCH_COST = 0.25  # parting two pieces whose ink touches (strokes drawn into each other)
CUT_COST = 1.0  # parting two parts of one blob or stroke where it was cut
DROP_MINOR, DROP_MAJOR = 1.0, 25.0  # leaving a piece out: cheap for a small mark, a last resort otherwise
FLOOR_LOG_PROB = -14.0  # a candidate the model cannot read at all scores this
HOPELESS = -3.0  # a candidate whose shape alone costs more than this is not read (it never won on the dev lines)
# Drawn lines: the shape prior and the parting cost as weighted sums of features, the weights fitted by
# python -m train.grouping (a structured perceptron) on printed UNIPEN words of its tuning writers and on
# Omniglot dev letter lines; refit them when the model changes (the energy is the model's). Widths, gaps
# and spaces are shares of the line's character height. docs/RESULTS.md, real words, has what they gain.
GROUPING_FEATURES = (
    "bonus",     # 1 per character
    "gap",       # empty columns inside the character
    "wide 0.6",  # width beyond 0.6 of the height
    "wide 1.0",  # ... beyond 1.0
    "wide 1.4",  # ... beyond 1.4
    "narrow",    # width short of NARROW
    "short",     # height short of SHORT
    "clusters",  # side-by-side clusters of its strokes, less one (strokes overlapping less than CLUSTER_GAP)
    "strokes",   # its strokes, less one
    "pieces",    # its pieces, less one
    "between",   # strokes drawn between its first and last stroke that are not its own (at most 3)
)
GROUPING_WEIGHTS = (-1.17, -24.28, -3.31, -3.28, -3.77, -3.60, 3.36, -0.66, -2.00, 3.64, 0.22)
PARTING_FEATURES = (
    "overlap",  # shared columns, share of the narrower character (OVERLAP_COST's)
    "cut",      # 1 when the two part where one stroke was cut (CUT_COST's)
    "touch",    # 1 when their strokes touch and none was cut there (TOUCH_COST's)
    "space",    # the empty columns between them
)
PARTING_WEIGHTS = (3.92, 4.04, 1.53, 0.23)
ENERGY_WEIGHT = 0.98  # each reading's score gains this times the model's energy (Predictor.predict_with_energy)
DRAWN_HOPELESS = -5.7  # HOPELESS for these priors: it keeps 99.9% of the dev lines' true characters (train.grouping)
NARROW, SHORT = 0.35, 0.6
CLUSTER_GAP = -0.25  # strokes whose columns overlap by less than this share of the height are side by side
# Not one line (check_one_line): shares of the main row of ink's height, or of its inked columns.
ROW_GAP = 0.1  # empty rows narrower than this do not part two rows of ink (an i's dot sits closer)
SECOND_ROW = 0.4  # another row of ink at least this tall is a second line of writing
UNDERLINE = 0.6  # a stroke across this share of the ink's width, and two rows of ink long, is a rule drawn on it
COLUMN_RATIO = 2.5  # ink this many times taller than wide, and wider than a bar, is a column, not a line
COVERED_SHARE = 0.4  # more ink than this share of the image: a pattern or a filled page, not writing
# Ruled paper (remove_rules): shares of the image's width, and degrees.
RULE_SPAN = 0.5  # a straight line of ink at least this long...
RULE_TILT = 5.0  # ...within this many degrees of horizontal...
RULE_GAP = 0.02  # ...broken by gaps no longer than this (noise, faint print) is a candidate rule;
RULE_EDGE = 0.05  # rules run across the whole photo: from this near its left edge to this near its right;
MIN_RULES = 2  # ruled paper shows at least this many (one such line is an underline: check_one_line)...
RULE_THIN = 0.2  # ...no thicker than this share of the space between them (a letter's bars are thicker)


@dataclass
class Piece:
    """A part of the line's ink that belongs to one character: a blob, a stroke's ink, or a cut part."""
    x0: int
    y0: int
    x1: int
    y1: int
    pixels: np.ndarray  # bool (y1 - y0, x1 - x0): this piece's own ink in its box
    minor: bool = False  # a dot, a bar or a sliver: part of a character, seldom one alone
    source: int = 0  # the blob or stroke it was cut from: parts of one source touch where they were cut
    stroke: int = 0  # for a drawing, the number (1, 2, ...) of the stroke whose ink it is, in drawing order

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass
class Candidate:
    """Pieces[first:stop] read as one character (or, when `dropped`, one piece left out)."""
    first: int
    stop: int
    x0: int
    y0: int
    x1: int
    y1: int
    prior: float  # the shape's log-prior in nats
    dropped: bool = False
    features: np.ndarray | None = None  # a drawn line's GROUPING_FEATURES of the candidate

    def overlap(self, other: "Candidate") -> int:
        """Shared columns; negative: the gap between them."""
        return min(self.x1, other.x1) - max(self.x0, other.x0)


class LinePieces:
    """A line cut into pieces, with every candidate character; `choose` picks the best grouping once
    the model has read the candidates (`inks`)."""

    floor_log_prob = FLOOR_LOG_PROB  # what a candidate the model cannot read at all scores

    def __init__(self, pieces: list[Piece], height: float, scale: tuple[float, float], touching: set,
                 drawn: bool = False, hopeless: float | None = None):
        """`drawn`: the pieces are strokes' ink (Piece.stroke set): the fitted priors apply. `hopeless`:
        candidates whose prior is no more than this are left out (default HOPELESS, or DRAWN_HOPELESS;
        train/grouping.py keeps them all)."""
        self.pieces, self.height, self.scale, self.touching = pieces, height, scale, touching
        self.drawn = drawn
        self.hopeless = (DRAWN_HOPELESS if drawn else HOPELESS) if hopeless is None else hopeless
        self.grouping_weights = np.array(GROUPING_WEIGHTS)
        self.parting_weights = np.array(PARTING_WEIGHTS)
        self.energy_weight = ENERGY_WEIGHT
        self._parting = {}  # (left.first, left.stop, right.first, right.stop) -> a drawn line's parting cost
        self.candidates = [c for first in range(len(pieces)) for c in self._starting_at(first)]
        self.ending = {}  # piece index -> indices of the candidates that stop there: a grouping's steps
        for k, c in enumerate(self.candidates):
            self.ending.setdefault(c.stop, []).append(k)

    def reweigh(self, grouping_weights, parting_weights, energy_weight: float) -> None:
        """Other weights for a drawn line's priors (train/grouping.py fits them with this)."""
        self.grouping_weights = np.asarray(grouping_weights, np.float64)
        self.parting_weights = np.asarray(parting_weights, np.float64)
        self.energy_weight = float(energy_weight)
        self._parting = {}
        for c in self.candidates:
            if c.features is not None:
                c.prior = float(c.features @ self.grouping_weights)

    def _starting_at(self, first: int) -> list[Candidate]:
        piece = self.pieces[first]
        found = [Candidate(first, first + 1, piece.x0, piece.y0, piece.x1, piece.y1,
                           -(DROP_MINOR if piece.minor else DROP_MAJOR), dropped=True)]
        x0, y0, x1, y1 = piece.x0, piece.y0, piece.x1, piece.y1
        for stop in range(first + 1, min(first + MAX_GROUP, len(self.pieces)) + 1):
            group = self.pieces[first:stop]
            x0, y0 = min(x0, group[-1].x0), min(y0, group[-1].y0)
            x1, y1 = max(x1, group[-1].x1), max(y1, group[-1].y1)
            width = (x1 - x0) / self.height
            if width > MAX_WIDTH:
                break
            if all(p.minor for p in group) and max(x1 - x0, y1 - y0) < LONE_MARK * self.height:
                continue  # only small marks: dots or a full stop, never a character
            covered = np.zeros(x1 - x0, bool)
            for p in group:
                covered[p.x0 - x0:p.x1 - x0] = True
            gap = (~covered).sum() / self.height
            if self.drawn:
                features = self._features(group, width, (y1 - y0) / self.height, gap)
                prior = float(features @ self.grouping_weights)
            else:
                features = None
                prior = CHARACTER_BONUS - INNER_GAP_COST * gap - WIDE_COST * max(0.0, width - WIDE_FREE)
            if prior > self.hopeless:
                found.append(Candidate(first, stop, x0, y0, x1, y1, prior, features=features))
        return found

    def _features(self, group: list[Piece], width: float, height: float, gap: float) -> np.ndarray:
        """GROUPING_FEATURES of the pieces `group` read as one character (a drawn line's)."""
        spans = {}  # each stroke's columns among the group's major pieces
        for p in group:
            if not p.minor:
                low, high = spans.get(p.stroke, (p.x0, p.x1))
                spans[p.stroke] = (min(low, p.x0), max(high, p.x1))
        clusters, end = 0, None
        for low, high in sorted(spans.values()):
            if end is not None and low >= end + CLUSTER_GAP * self.height:
                clusters += 1
            end = high if end is None else max(end, high)
        strokes = {p.stroke for p in group}
        between = sum(s not in strokes for s in range(min(strokes), max(strokes) + 1))
        return np.array([1.0, gap, max(0.0, width - 0.6), max(0.0, width - 1.0), max(0.0, width - 1.4),
                         max(0.0, NARROW - width), max(0.0, SHORT - height), clusters, len(strokes) - 1,
                         len(group) - 1, min(between, 3)])

    def reading_bonus(self, energy: np.ndarray) -> np.ndarray:
        """What each readable candidate's score gains besides its reading's log-probability, from the
        model's energy for it (drawn lines; 0 elsewhere: the image path's priors were set without it)."""
        energy = np.asarray(energy, np.float64)
        return self.energy_weight * energy if self.drawn else np.zeros_like(energy)

    @property
    def readable(self) -> list[Candidate]:
        """The candidates the model must read, in the order `choose` expects their scores."""
        return [c for c in self.candidates if not c.dropped]

    def ink(self, candidate: Candidate) -> np.ndarray:
        """bool mask of the candidate's own pieces, with a clear margin: what preprocess.emnist_from_mask
        takes. Ink of other pieces inside its box is left out."""
        own = np.zeros((candidate.y1 - candidate.y0, candidate.x1 - candidate.x0), bool)
        for p in self.pieces[candidate.first:candidate.stop]:
            own[p.y0 - candidate.y0:p.y1 - candidate.y0, p.x0 - candidate.x0:p.x1 - candidate.x0] |= p.pixels
        return pad(own, max(2, int(CROP_MARGIN * max(own.shape))))

    def box(self, candidate: Candidate) -> tuple[int, int, int, int]:
        """The candidate's box in the input's own pixels (x0, y0, x1, y1), x1 and y1 exclusive."""
        sx, sy = self.scale
        return (int(candidate.x0 * sx), int(candidate.y0 * sy),
                int(np.ceil(candidate.x1 * sx)), int(np.ceil(candidate.y1 * sy)))

    def parting_cost(self, left: Candidate, right: Candidate) -> float:
        """What it costs to part two neighbouring characters: overlapping columns, touching ink."""
        if left.dropped or right.dropped:
            return 0.0
        if self.drawn:  # asked for again and again by the word list's search: kept
            key = (left.first, left.stop, right.first, right.stop)
            cost = self._parting.get(key)
            if cost is None:
                cost = self._parting[key] = float(self.parting_features(left, right) @ self.parting_weights)
            return cost
        cost = OVERLAP_COST * max(0, left.overlap(right)) / max(1, min(left.x1 - left.x0, right.x1 - right.x0))
        parted = [(i, j) for i in range(left.first, left.stop) for j in range(right.first, right.stop)
                  if (i, j) in self.touching]
        if parted:
            cost += max(CUT_COST if self.pieces[i].source == self.pieces[j].source else TOUCH_COST
                        for i, j in parted)
        return cost

    def parting_features(self, left: Candidate, right: Candidate) -> np.ndarray:
        """PARTING_FEATURES of two neighbouring characters (neither a dropped piece)."""
        overlap = left.overlap(right)
        parted = [(i, j) for i in range(left.first, left.stop) for j in range(right.first, right.stop)
                  if (i, j) in self.touching]
        cut = any(self.pieces[i].source == self.pieces[j].source for i, j in parted)
        return np.array([max(0, overlap) / max(1, min(left.x1 - left.x0, right.x1 - right.x0)), float(cut),
                         float(bool(parted) and not cut), max(0, -overlap) / self.height])

    def choose(self, log_probs) -> list[Candidate]:
        """The readable candidates' log-probabilities of their readings (in `readable` order) -> the
        best grouping of all pieces, left to right (dynamic programming over the pieces)."""
        return self.best(log_probs)[1]

    def best(self, log_probs) -> tuple[float, list[Candidate]]:
        """As `choose`, with the grouping's score: its readings' log-probabilities and the priors."""
        scores = iter(log_probs)
        total = [c.prior + (0.0 if c.dropped else max(float(next(scores)), FLOOR_LOG_PROB))
                 for c in self.candidates]
        ending = self.ending
        best, back = [0.0] * len(self.candidates), [None] * len(self.candidates)
        for k, c in enumerate(self.candidates):  # candidates are in order of `first`: predecessors come first
            if c.first == 0:
                best[k] = total[k]
                continue
            options = [(best[j] - self.parting_cost(self.candidates[j], c), j) for j in ending[c.first]]
            value, back[k] = max(options)
            best[k] = value + total[k]
        k = max(ending[len(self.pieces)], key=best.__getitem__)
        value, path = best[k], []
        while k is not None:
            path.append(self.candidates[k])
            k = back[k]
        return value, [c for c in reversed(path) if not c.dropped]


def line_from_image(value) -> LinePieces:
    """Any input preprocess.to_rgba takes -> its pieces and candidates. Raises UnusableImage."""
    rgba = to_rgba(value, decode_side=LINE_MAX_SIDE)
    ink = ink_map(rgba, max_side=LINE_MAX_SIDE)
    mask = ink > INK_LEVEL
    # Boxes in the input's own pixels: an array may have been shrunk on the way in (a file's boxes
    # are in the pixels it was decoded at, which is the file's own unless it is huge).
    height, width = value.shape[:2] if isinstance(value, np.ndarray) else rgba.shape[:2]
    if mask.mean() <= MAX_INK_SHARE:  # more ink is refused by _line, rules or not
        mask = remove_rules(mask)
    return _line(mask, None, (width / ink.shape[1], height / ink.shape[0]))


def remove_rules(mask: np.ndarray) -> np.ndarray:
    """The mask without the rules of ruled paper: straight near-horizontal lines of ink that run from edge
    to edge, at least MIN_RULES of them, thin beside the space between them. Where a stroke of the writing
    crosses a rule (a run of ink down its column longer than the rule is thick) the ink is kept, so
    letters written across a rule stay whole. One such line alone is left as it is (an underline, which
    check_one_line names), and so are a letter's bars (an E cropped to its ink: thick beside their gaps)."""
    height, width = mask.shape
    span = RULE_SPAN * width
    found = cv2.HoughLinesP(mask.astype(np.uint8), 1, np.pi / 720, threshold=max(8, int(span / 2)),
                            minLineLength=span, maxLineGap=max(2, int(RULE_GAP * width)))
    if found is None:
        return mask
    lines = sorted((y0 + (y1 - y0) * (width / 2 - x0) / ((x1 - x0) or 1), x0, y0, x1, y1)
                   for x0, y0, x1, y1 in found.reshape(-1, 4).tolist()
                   if abs(y1 - y0) <= np.tan(np.radians(RULE_TILT)) * abs(x1 - x0))
    if len(lines) < MIN_RULES or lines[-1][0] - lines[0][0] < 3:  # one line at most: nothing to do
        return mask
    runs = _vertical_runs(mask)
    on_lines = np.zeros_like(mask, np.uint8)
    for _, x0, y0, x1, y1 in lines:
        cv2.line(on_lines, (int(x0), int(y0)), (int(x1), int(y1)), 1, 1)
    thick = runs[(on_lines > 0) & mask]
    if not thick.size:
        return mask
    thickness = float(np.median(thick))  # a rule's own thickness: its ink's runs down each column
    rules = []  # segments of one rule: centres no further apart than the rule is thick
    for line in lines:
        if rules and line[0] - rules[-1][-1][0] <= 2 * thickness + 2:
            rules[-1].append(line)
        else:
            rules.append([line])
    edge = RULE_EDGE * width
    rules = [r for r in rules if min(min(x0, x1) for _, x0, _, x1, _ in r) <= edge
             and max(max(x0, x1) for _, x0, _, x1, _ in r) >= width - 1 - edge]  # across the whole image
    if len(rules) < MIN_RULES:
        return mask
    spacing = float(np.median(np.diff([np.mean([c for c, *_ in r]) for r in rules])))
    if thickness > RULE_THIN * spacing:
        return mask
    on_lines[:] = 0
    for _, x0, y0, x1, y1 in (line for r in rules for line in r):
        cv2.line(on_lines, (int(x0), int(y0)), (int(x1), int(y1)), 1, 1)
    limit = int(1.5 * thickness) + 1  # a run down a column no longer than this is the rule's alone...
    reach = int(np.ceil(thickness / 2)) + 1  # ...and only its own rows are cleared: ink resting on it stays
    near = cv2.dilate(on_lines, np.ones((2 * reach + 1, 3), np.uint8)) > 0
    return mask & ~(near & (runs <= limit))


def _vertical_runs(mask: np.ndarray) -> np.ndarray:
    """(H, W) int32: for each ink pixel, the length of the run of ink down its column it is part of."""
    ink = mask.astype(np.int32)
    down, up = np.zeros_like(ink), np.zeros_like(ink)
    down[0] = ink[0]
    for y in range(1, len(ink)):
        down[y] = (down[y - 1] + 1) * ink[y]
    up[-1] = ink[-1]
    for y in range(len(ink) - 2, -1, -1):
        up[y] = (up[y + 1] + 1) * ink[y]
    return np.maximum(down + up - 1, 0)


def line_from_drawing(drawing, image: np.ndarray | None = None) -> LinePieces:
    """A StrokeDrawing of a line -> its pieces (each stroke's own ink, cut where wide) and candidates;
    `image`: the drawing already rendered (strokes.render_drawing, at most LINE_MAX_SIDE long)."""
    from .strokes import render_drawing, stroke_map  # strokes imports preprocess, as this module does

    if image is None or max(image.shape) > LINE_MAX_SIDE:
        image = render_drawing(drawing, max_side=LINE_MAX_SIDE)
    mask = image < 255 * (1 - INK_LEVEL)
    return _line(mask, stroke_map(drawing, image.shape), (drawing.width / image.shape[1],
                                                          drawing.height / image.shape[0]))


def _line(mask: np.ndarray, strokes: np.ndarray | None, scale: tuple[float, float],
          shrunk: bool = False) -> LinePieces:
    if mask.mean() > MAX_INK_SHARE:
        raise UnusableImage("Most of the image is ink: write the line on a clear background.")
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        raise UnusableImage("Nothing written yet: write a word or a number.")
    areas = stats[:, cv2.CC_STAT_AREA].copy()
    areas[0] = 0
    main = areas >= SPECK_SHARE * areas.max()  # the pen's width from the writing, not a photo's noise
    pen = max(stroke_width(main[labels]), 1.0)
    blobs = [i for i in range(1, n) if max(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) >= SPECK_STROKES * pen]
    if not blobs:
        raise UnusableImage("Only specks found: write a word or a number.")
    if not shrunk:  # on the ink without its specks: a photo's noise in every row is no row of writing
        kept = np.zeros(n, bool)
        kept[blobs] = True
        check_one_line(kept[labels], strokes)
    if len(blobs) > MAX_PIECES:
        raise UnusableImage(f"Too many separate marks ({len(blobs)}): write one line on a clear background.")
    heights = stats[blobs, cv2.CC_STAT_HEIGHT]
    height = float(np.median(heights[heights >= 0.5 * heights.max()]))
    factor = max(WORK_HEIGHT / height, MIN_WORK_PEN / pen)
    if factor < 0.8 and not shrunk:  # every candidate costs less at the size preprocessing works at
        size = (max(1, round(mask.shape[1] * factor)), max(1, round(mask.shape[0] * factor)))
        small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.4
        if strokes is not None:
            strokes = cv2.resize(strokes.astype(np.float32), size, interpolation=cv2.INTER_NEAREST).astype(np.int32)
        return _line(small, strokes, (scale[0] * mask.shape[1] / size[0], scale[1] * mask.shape[0] / size[1]), True)
    if strokes is not None:  # each stroke's ink apart: strokes that touch are still separate pieces
        labels = np.where(np.isin(labels, blobs), strokes, 0)
        parts = [i for i in np.unique(labels) if i]
    else:
        parts = blobs
    pieces, sources = [], 0
    for part in parts:
        own = labels == part
        if strokes is not None:  # a stroke's ink may fall apart where other strokes cross it
            k, bits = cv2.connectedComponents(own.astype(np.uint8), connectivity=8)
            owns = [bits == b for b in range(1, k)]
        else:
            owns = [own]
        for bit in owns:
            ys, xs = np.flatnonzero(bit.any(1)), np.flatnonzero(bit.any(0))
            box = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
            if max(box[2] - box[0], box[3] - box[1]) < SPECK_STROKES * pen and strokes is not None:
                continue  # a sliver of a stroke hidden under another
            pieces.extend(_cut(Piece(*box, bit[box[1]:box[3], box[0]:box[2]], source=sources,
                                     stroke=int(part) if strokes is not None else 0), height, pen,
                               bend=strokes is None))
            sources += 1
            if len(pieces) > MAX_PIECES:
                raise UnusableImage(f"Too many separate marks: at most {MAX_CHARACTERS} characters are read "
                                    f"at once; write a shorter line on a clear background.")
    pieces.sort(key=lambda p: ((p.x0 + p.x1) / 2, p.y0))
    typical_ink = float(np.median([p.pixels.sum() for p in pieces]))
    for p in pieces:
        p.minor = p.height < FLAT_HEIGHT * height or p.pixels.sum() < MINOR_INK * typical_ink
    return LinePieces(pieces, height, scale, _touching(pieces, mask.shape), drawn=strokes is not None)


def _cut(piece: Piece, height: float, pen: float, bend: bool = True) -> list[Piece]:
    """A wide piece cut into parts along paths from its top to its bottom that cross little ink (about
    one stroke): where touching characters may meet. With `bend`, a path may bend around ink (a g's tail
    under the u before it), so blobs of letters that overlap in their columns still part; a stroke is cut
    straight down (letters drawn into each other are separate strokes already, and a bending path would
    find its way between an a's bowl and its stem). The reading decides which cuts are kept."""
    if piece.width <= CUT_FROM * height:
        return [piece]
    edge = max(1, int(CUT_MIN_PART * height))
    if piece.width <= 2 * edge:
        return [piece]
    ink, came = _cheapest_paths(piece.pixels, edge, CUT_STEP if bend else np.inf)
    thin = ink <= CUT_STROKES * pen
    runs, x = [], 0  # (ink on the path, its bottom column): the cheapest path of each run of thin ones
    while x < piece.width:
        if not thin[x]:
            x += 1
            continue
        end = x
        while end < piece.width and thin[end]:
            end += 1
        middle = np.abs(np.arange(x, end) - (x + end - 1) / 2) * 1e-3  # ties: the run's middle
        runs.append((float((ink[x:end] + middle).min()), x + int(np.argmin(ink[x:end] + middle))))
        x = end
    columns, ends = np.arange(piece.width), {}
    for _, cut in sorted(runs)[:int(piece.width / (CUT_EVERY * height))]:
        if any(abs(cut - other) < edge for other in ends):
            continue
        path = _path(came, cut)
        left = (piece.pixels & (columns < path[:, None])).sum()
        if 0 < left < piece.pixels.sum():  # a path round the ink, parting nothing, is no cut
            ends[cut] = path
    if not ends:
        return [piece]
    paths = [ends[x] for x in sorted(ends)]
    for k in range(1, len(paths)):  # paths never cross: each keeps to the right of the one before
        paths[k] = np.maximum(paths[k], paths[k - 1])
    parts = []
    for left, right in zip([None, *paths], [*paths, None]):
        own = piece.pixels.copy()
        if left is not None:
            own &= columns >= left[:, None]
        if right is not None:
            own &= columns < right[:, None]
        rows, cols = np.flatnonzero(own.any(1)), np.flatnonzero(own.any(0))
        if rows.size:
            parts.append(Piece(piece.x0 + cols[0], piece.y0 + rows[0], piece.x0 + cols[-1] + 1,
                               piece.y0 + rows[-1] + 1, own[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1],
                               source=piece.source, stroke=piece.stroke))
    return parts


def _cheapest_paths(pixels: np.ndarray, edge: int, step_cost: float) -> tuple[np.ndarray, np.ndarray]:
    """For each bottom column, the least ink on a path from the top row down to it, moving at most one
    column a row (each sideways step costs `step_cost`; inf: straight down) and keeping `edge` columns from
    either side (inf elsewhere); and each pixel's step from the row above (-1, 0, +1), to trace paths back."""
    cost = pixels.astype(np.float32)
    height, width = cost.shape
    cost[:, :edge] = cost[:, width - edge:] = np.inf
    total, came = cost[0].copy(), np.zeros(cost.shape, np.int8)
    if step_cost == np.inf:  # straight down: each column's ink
        return cost.sum(0), came
    options = np.full((3, width), np.inf, np.float32)
    for y in range(1, height):
        options[0, 1:] = total[:-1] + step_cost  # from the upper left
        options[1] = total
        options[2, :-1] = total[1:] + step_cost  # from the upper right
        step = options.argmin(0)
        total = options[step, np.arange(width)] + cost[y]
        came[y] = step - 1
    return total, came


def _path(came: np.ndarray, x: int) -> np.ndarray:
    """The column of the path ending at bottom column `x`, for each row."""
    columns = np.empty(len(came), np.int64)
    for y in range(len(came) - 1, -1, -1):
        columns[y] = x
        x += int(came[y, x])
    return columns


def _touching(pieces: list[Piece], shape: tuple[int, int]) -> set[tuple[int, int]]:
    """Pairs (i, j), i < j, of pieces whose ink touches (8-neighbours)."""
    owner = np.zeros(shape, np.int32)
    for k, p in enumerate(pieces, start=1):
        region = owner[p.y0:p.y1, p.x0:p.x1]
        region[p.pixels] = k
    pairs = set()
    for a, b in ((owner[:, :-1], owner[:, 1:]), (owner[:-1], owner[1:]),
                 (owner[:-1, :-1], owner[1:, 1:]), (owner[:-1, 1:], owner[1:, :-1])):
        meet = (a != b) & (a > 0) & (b > 0)
        for i, j in set(zip(a[meet].tolist(), b[meet].tolist())):
            pairs.add((min(i, j) - 1, max(i, j) - 1))
    return pairs


def check_one_line(mask: np.ndarray, strokes: np.ndarray | None = None) -> None:
    """Raise UnusableImage when the ink is not one line of writing: rows of ink one above another (two
    lines, a stack, a word turned on its side, a grid, an underline), a tall narrow column, or most of the
    image covered. Reading such ink character by character would give a confident-looking nonsense text.
    `strokes`: for a drawing, each pixel's stroke (strokes.stroke_map): an underline is then one stroke's
    ink, not many small letters that a thick brush ran together."""
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
    band = mask[rows[0]:rows[-1] + 1]
    longest = _longest_run(band, None if strokes is None else strokes[rows[0]:rows[-1] + 1])
    if longest >= UNDERLINE * width and longest >= 2 * max(y1 - y0 for y0, y1 in bands):
        raise UnusableImage("A line is drawn under or through the writing: write the characters alone, "
                            "without lines under, over or through them.")
    if height >= COLUMN_RATIO * width and width >= 4 * max(stroke_width(mask.astype(bool)), 1.0):
        raise UnusableImage("The ink is a tall narrow column, not a line: write the characters side by side, "
                            "left to right (turn a photo upright first).")


def _longest_run(inked: np.ndarray, owner: np.ndarray | None = None) -> int:
    """The most consecutive True values in any row of a 2-D mask (all rows at once: runs start where a
    row goes from paper to ink and end where it goes back, and both come out in reading order). With
    `owner` (a label per pixel), a run also ends where the label changes: the longest run of one label."""
    if owner is not None:
        labels = np.pad(np.where(inked, owner, 0).astype(np.int64), ((0, 0), (1, 1)))
        change = np.diff(labels, axis=1) != 0  # a run of one stroke's ink starts or ends here
        rows, cols = np.nonzero(change)
        lengths = np.diff(cols)  # from each change to the next one in the same row...
        inside = (np.diff(rows) == 0) & (labels[rows[:-1], cols[:-1] + 1] > 0)  # ...over ink
        return int(lengths[inside].max()) if inside.any() else 0
    edges = np.diff(np.pad(inked.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    starts, ends = np.nonzero(edges == 1)[1], np.nonzero(edges == -1)[1]
    return int((ends - starts).max()) if starts.size else 0
