"""UNIPEN pen characters as training and validation images, drawn exactly as the page draws.

Each character's strokes become a drawing on the page's character canvas (strokes.drawing_from_strokes,
one of the page's three brushes) and go through the one path from strokes to the model
(strokes.emnist_from_drawing): training sees what a visitor's drawing shows the model. Training
drawings vary as real use does: brush, the character's size and place on the canvas, slant, rotation,
width and a little jitter of the pen. Validation drawings are drawn once each, plainly.

Validation holds out whole sites (VAL_SITES), so its writers are never trained on. Rendering takes a
few minutes; the images are cached under --cache-dir, keyed by RENDER_VERSION, the data's files and
the settings, so a later run starts in seconds.
"""

import hashlib
import json
import math
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emnist_core.labels import char_to_index
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import (CHARACTER_BRUSHES, TRAJECTORY_CHANNELS, TRAJECTORY_POINTS, drawing_from_strokes,
                                 emnist_from_drawing, trajectory)

from .unipen import CATEGORIES, CHARACTER_CATEGORIES, NotUnipen, data_files, find_root, read_unipen

RENDER_CACHE = ".data/unipen-cache"  # where rendered characters are kept by default (git-ignored)
RENDER_VERSION = 1  # bump with any change to the renderer, the preprocessing or the variation below
VAL_SITES = ("kai", "syn", "cea", "ceb")  # 18k characters: mixed, printed, and cut out of joined words
# Variation of the training drawings (uniform ranges unless said otherwise):
CHAR_SIZE = (0.3, 0.85)  # the character's long side, share of the canvas
CENTRE = (0.3, 0.7)  # where its middle lies, share of the canvas, each axis
SHEAR = 0.25  # x += shear * y, both ways
ROTATE_DEGREES = 8.0
ASPECT = (0.8, 1.25)  # width stretch
JITTER = 0.006  # pen noise, share of the character's size (standard deviation)
WARP = 0.0  # a smooth bend of the ink (warped), share of its height (standard deviation): 0, as written
WARP_WAVES = 3  # the bend's plane waves per axis
WARP_CYCLES = (0.4, 1.2)  # their frequency, cycles per ink height
MAX_WARP = 0.2  # the most a training run may ask for (--warp): more bends letters out of their shapes
KINDS = {category: CATEGORIES[category] for category in CHARACTER_CATEGORIES}  # 1a digits, 1b upper, 1c lower


@dataclass
class PenImages:
    """Rendered characters in EMNIST orientation (transposed, as the model reads them)."""
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64 ByMerge classes
    meant: np.ndarray  # (N,) '<U1': the character as written (its case kept), for tolerant scores
    category: np.ndarray  # (N,) '<U2': 1a digits, 1b upper case, 1c lower case
    site: np.ndarray  # (N,) str
    writer: np.ndarray  # (N,) str

    def subset(self, keep: np.ndarray) -> "PenImages":
        return PenImages(*(getattr(self, f)[keep] for f in self.__dataclass_fields__))


def varied(strokes: list[np.ndarray], rng: np.random.Generator, shear: float = SHEAR) -> list[np.ndarray]:
    """The strokes slanted (x += up to `shear` * y, both ways), turned, stretched and jittered about their
    middle, as writers vary."""
    points = np.concatenate(strokes)
    middle = (points.min(0) + points.max(0)) / 2
    size = max(float(np.ptp(points, 0).max()), 1e-6)
    angle = math.radians(rng.uniform(-ROTATE_DEGREES, ROTATE_DEGREES))
    c, s = math.cos(angle), math.sin(angle)
    matrix = np.array([[1, rng.uniform(-shear, shear)], [0, 1]]) @ np.array([[c, -s], [s, c]])
    matrix[:, 0] *= rng.uniform(*ASPECT)
    return [((stroke - middle) @ matrix.T + rng.normal(0, JITTER * size, stroke.shape)).astype(np.float32)
            for stroke in strokes]


def warped(strokes: list[np.ndarray], rng: np.random.Generator, amount: float = WARP) -> list[np.ndarray]:
    """The strokes bent by a smooth random field (each axis moved by WARP_WAVES plane waves of WARP_CYCLES a
    height, in random directions and phases, `amount` of the ink's height in all; elastic distortion for pen
    paths): a writer's own shapes, the strokes' order and direction kept. A word's letters are bent each their
    own way, since the waves are measured in its height. amount 0: the strokes as they are."""
    if amount <= 0:
        return strokes
    points = np.concatenate(strokes).astype(np.float64)
    height = max(float(np.ptp(points[:, 1])), float(np.ptp(points[:, 0])) / 4, 1e-6)
    angles = rng.uniform(0, 2 * math.pi, (2, WARP_WAVES))
    cycles = rng.uniform(*WARP_CYCLES, (2, WARP_WAVES)) * 2 * math.pi / height
    waves = np.stack([np.cos(angles), np.sin(angles)], -1) * cycles[..., None]  # (axis, wave, xy)
    phases = rng.uniform(0, 2 * math.pi, (2, WARP_WAVES))
    sizes = rng.normal(0, amount * height * math.sqrt(2 / WARP_WAVES), (2, WARP_WAVES))

    def bent(stroke):
        stroke = np.asarray(stroke, np.float64)
        moves = (np.sin(np.einsum("nd,awd->naw", stroke, waves) + phases) * sizes).sum(-1)  # (n, axis)
        return (stroke + moves).astype(np.float32)
    return [bent(stroke) for stroke in strokes]


def render(strokes: list[np.ndarray], seed: int | None) -> np.ndarray | None:
    """One character drawn on the page's canvas -> (28, 28) uint8 in EMNIST orientation (None if the page
    would refuse it, e.g. a dot). `seed` None: drawn plainly (middle brush, centred, 0.6 of the canvas)."""
    if seed is None:
        drawing = drawing_from_strokes(strokes)
    else:
        rng = np.random.default_rng(seed)
        drawing = drawing_from_strokes(varied(strokes, rng), brush=float(rng.choice(CHARACTER_BRUSHES)),
                                       char_size=rng.uniform(*CHAR_SIZE),
                                       centre=(rng.uniform(*CENTRE), rng.uniform(*CENTRE)))
    try:
        return np.ascontiguousarray(emnist_from_drawing(drawing).T)
    except UnusableImage:
        return None


def _render_chunk(job: tuple[list, int | None]) -> list:
    cv2.setNumThreads(1)  # one process per core already
    items, seed = job
    return [render(strokes, None if seed is None else seed + k) for k, strokes in items]


def render_all(strokes: list[list[np.ndarray]], seed: int | None, workers: int) -> list:
    """render() for each set of strokes (seeded from `seed` + its index), over `workers` processes."""
    items = list(enumerate(strokes))
    chunks = [(items[i:i + 500], seed) for i in range(0, len(items), 500)]
    if workers <= 1 or len(chunks) <= 1:
        return [image for chunk in map(_render_chunk, chunks) for image in chunk]
    # spawn, not fork: a process with threads (a server, a test run) can fork a child holding a lock forever
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        return [image for chunk in pool.imap(_render_chunk, chunks) for image in chunk]


def cache_key(root: Path, variants: int, seed: int) -> str:
    """What the cached images depend on: the renderer's version, the settings and the data files."""
    files = [(str(p.relative_to(root)), p.stat().st_size) for _, p in data_files(root, CHARACTER_CATEGORIES)]
    text = json.dumps([RENDER_VERSION, variants, seed, VAL_SITES, files])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_pen_images(folder: str | Path, cache_dir: str | Path, variants: int = 2, seed: int = 0,
                    workers: int | None = None, log=print) -> tuple[PenImages, PenImages]:
    """(training images: `variants` varied drawings of each character of the training sites,
    validation images: each character of VAL_SITES drawn once, plainly), from the cache when it has them."""
    root = find_root(folder)
    path = Path(cache_dir) / f"unipen-{cache_key(root, variants, seed)}.npz"
    if path.is_file():
        with np.load(path) as saved:
            parts = {k: saved[k] for k in saved.files}
        log(f"unipen: rendered characters from the cache {path}")
    else:
        parts = _render_and_cache(root, path, variants, seed, workers or os.cpu_count() or 1, log)
    split = [PenImages(*(parts[f"{name}_{f}"] for f in PenImages.__dataclass_fields__)) for name in ("train", "val")]
    return split[0], split[1]


def _render_and_cache(root: Path, path: Path, variants: int, seed: int, workers: int, log) -> dict:
    samples, summary = read_unipen(root, CHARACTER_CATEGORIES)
    log("unipen: " + summary.text().replace("\n", "\nunipen: "))
    parts = {}
    for name in ("train", "val"):
        chosen = [s for s in samples if (s.site in VAL_SITES) == (name == "val")]
        copies = variants if name == "train" else 1
        images = []
        for copy in range(copies):
            images += render_all([list(s.strokes) for s in chosen],
                                 None if name == "val" else seed * 1_000_003 + copy * len(samples), workers)
        repeated = chosen * copies
        pen, _ = _drawn(repeated, images)
        log(f"unipen: {name}: {len(pen.labels)} drawings of {len(chosen)} characters "
            f"({len(images) - len(pen.labels)} refused by the page, e.g. a dot)")
        parts.update({f"{name}_{f}": getattr(pen, f) for f in PenImages.__dataclass_fields__})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(temporary, **parts)
    os.replace(temporary, path)  # atomic: a run stopped while saving leaves no half cache
    return parts



def plain_validation(samples: list, workers: int = 1, sites=None) -> tuple[PenImages, np.ndarray]:
    """Of UNIPEN's characters (read_unipen's samples), the validation sites' (`sites`, by default VAL_SITES)
    drawn plainly (as the cache's validation images are) with their pen paths ((N, 6, 64) strokes.trajectory)
    in the same order: what a drawing's reading needs when the checkpoint has a stroke model. Drawn afresh
    (25-50 s on the 2 cores)."""
    sites = VAL_SITES if sites is None else sites
    samples = [s for s in samples if s.site in sites]
    pen, chosen = _drawn(samples, render_all([list(s.strokes) for s in samples], None, workers))
    return pen, _paths([s.strokes for s in chosen])


def _paths(strokes: list) -> np.ndarray:
    """(N, 6, 64) float32: strokes.trajectory of each character's strokes (an empty stack for none)."""
    if not strokes:
        return np.zeros((0, TRAJECTORY_CHANNELS, TRAJECTORY_POINTS), np.float32)
    return np.stack([trajectory(s) for s in strokes])


def _drawn(samples: list, images: list) -> tuple[PenImages, list]:
    """Samples and their drawings (None where the page refused one) -> (PenImages of the drawn ones, those samples)."""
    chosen = [(s, image) for s, image in zip(samples, images) if image is not None]
    pen = PenImages(images=np.stack([i for _, i in chosen]) if chosen else np.zeros((0, 28, 28), np.uint8),
                    labels=np.array([char_to_index(s.label) for s, _ in chosen], np.int64),
                    meant=np.array([s.label for s, _ in chosen], "<U1"),
                    category=np.array([s.category for s, _ in chosen], "<U2"),
                    site=np.array([s.site for s, _ in chosen]), writer=np.array([s.writer for s, _ in chosen]))
    return pen, [s for s, _ in chosen]


def sample_weights(labels: np.ndarray, target_prior: np.ndarray | None) -> np.ndarray:
    """Per image, the chance of being drawn so that the images drawn follow `target_prior` (ByMerge's
    class mix); uniform without one. UNIPEN as it comes is 15% digits: taken as it comes it teaches a
    letter-heavy prior (digits read as letters), the shift a trial before this one measured."""
    if target_prior is None:
        return np.full(len(labels), 1 / max(len(labels), 1))
    counts = np.bincount(labels, minlength=len(target_prior)).astype(np.float64)
    weights = target_prior[labels] / counts[labels]
    return weights / weights.sum()


@dataclass
class PenMix:
    """UNIPEN characters beside EMNIST in one run: a share `share` of each epoch's images are pen
    drawings, drawn (with replacement) to the target class mix; validation on held-out sites."""
    train: PenImages
    val: PenImages
    share: float
    weights: np.ndarray  # sample_weights of the training drawings

    @property
    def val_sites(self) -> list[str]:
        return sorted(set(self.val.site.tolist()))

    def count(self, n_emnist: int) -> int:
        """Pen drawings per epoch beside `n_emnist` EMNIST images."""
        return round(n_emnist * self.share / (1 - self.share))

    def correction(self, data):
        """The prior correction from the run's mix of EMNIST and pen drawings to the target class mix
        (None without a target): EMNIST's own validation weights stay those of its pool."""
        from .calibrate import PriorCorrection

        if data.target_prior is None:
            return None
        return PriorCorrection.between(self.train_prior(data.train_prior, len(data.train_y)), data.target_prior)

    def train_prior(self, emnist_prior: np.ndarray, n_emnist: int) -> np.ndarray:
        """The class mix the model meets in training: EMNIST's and the pen drawings', by their numbers."""
        n_pen = self.count(n_emnist)
        pen_prior = np.bincount(self.train.labels, weights=self.weights, minlength=len(emnist_prior))
        return (n_emnist * emnist_prior + n_pen * pen_prior) / (n_emnist + n_pen)


def load_pen_mix(folder, cache_dir, variants: int, share: float, target_prior: np.ndarray | None,
                 cut_letters=None) -> PenMix:
    """A UNIPEN folder's characters rendered (or from the cache) and mixed to the target class mix;
    DataError (train/data.py) for a folder that is not UNIPEN or has nothing to train or validate on.
    `cut_letters`: a file of train.cut_letters or train.cut_joined (or a list of them), whose letters cut from
    written words join the training drawings (mixed to the class mix with them)."""
    from .data import DataError

    try:
        train, val = load_pen_images(folder, cache_dir, variants, seed=0)
    except NotUnipen as error:
        raise DataError(str(error)) from None
    for path in [cut_letters] if isinstance(cut_letters, (str, Path)) else cut_letters or []:
        from .cut_letters import load_cut_letters, refuse_validation_sites

        cut = load_cut_letters(path)
        refuse_validation_sites(path, cut.site.tolist(), val.site.tolist())
        train = PenImages(*(np.concatenate([getattr(train, f), getattr(cut, f)]) for f in PenImages.__dataclass_fields__))
    if not len(train.labels) or not len(val.labels):
        raise DataError(f"{folder}: no pen characters to train on, or none from the validation sites "
                        f"{', '.join(VAL_SITES)}")
    return PenMix(train, val, share, sample_weights(train.labels, target_prior))


def hits(probs, p_digit, pen: PenImages, labels: str) -> dict[str, np.ndarray]:
    """Per pen character, whether it was read right: strict (the ByMerge class), tolerant (reads_as_meant)
    and in the top 5 (bool arrays)."""
    import torch

    from emnist_core.inference import ranked
    from emnist_core.labels import reads_as_meant

    order = ranked(torch.as_tensor(probs), torch.as_tensor(p_digit))[:, :5].numpy()
    read = [labels[i] for i in order[:, 0]]
    return {"strict": order[:, 0] == pen.labels,
            "tolerant": np.array([reads_as_meant(m, r, tolerant=True) for m, r in zip(pen.meant, read)], bool),
            "top5": (order == pen.labels[:, None]).any(1)}


def scores(probs, p_digit, pen: PenImages, labels: str) -> dict:
    """Strict, tolerant and top-5 accuracy (hits), each with its standard error, for all pen characters
    and per kind (digits, upper case, lower case)."""
    import torch

    from .evaluate import weighted_mean_and_se

    right = hits(probs, p_digit, pen, labels)
    result = {}
    for kind, keep in [("all", np.ones(len(pen.labels), bool))] + [(KINDS[c], pen.category == c) for c in KINDS]:
        if keep.any():
            result[kind] = {"n": int(keep.sum())}
            for name, hit in right.items():
                mean, se = weighted_mean_and_se(torch.from_numpy(hit[keep].astype(np.float64)))
                result[kind][name], result[kind][f"{name}_se"] = round(mean, 5), round(se, 5)
    return result


def score_text(result: dict, title: str) -> str:
    """One line per kind: strict, tolerant and top-5 with their standard errors, in percent."""
    lines = [title]
    for kind, m in result.items():
        lines.append(f"  {kind:11s} n={m['n']:6d}  strict {100 * m['strict']:.2f}±{100 * m['strict_se']:.2f}  "
                     f"tolerant {100 * m['tolerant']:.2f}±{100 * m['tolerant_se']:.2f}  "
                     f"top-5 {100 * m['top5']:.2f}±{100 * m['top5_se']:.2f}")
    return "\n".join(lines)


def omniglot_drawings(folder: str | Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Omniglot's Latin letters (`<letter>_drawerNN.txt` stroke files) drawn plainly on the page's canvas:
    ((N, 28, 28) uint8 in EMNIST orientation, the letters drawn, their pen paths (N, 6, 64))."""
    from emnist_core.strokes import read_strokes

    files = sorted(Path(folder).glob("*_drawer*.txt"))
    images, letters, drawn = [], [], []
    for path in files:
        strokes = read_strokes(path)
        image = render(strokes, None)
        if image is not None:
            images.append(image)
            letters.append(path.name[0])
            drawn.append(strokes)
    return (np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)), letters, _paths(drawn)


def drawing_scores(probs, p_digit, letters: list[str], labels: str) -> dict:
    """Omniglot's scores as bench.score_drawings counts them: strict (the letter, either case) and
    tolerant (a look-alike digit too), with standard errors, and top-5."""
    import torch

    from emnist_core.inference import ranked
    from emnist_core.labels import letter_matches

    from .evaluate import weighted_mean_and_se

    order = ranked(torch.as_tensor(probs), torch.as_tensor(p_digit))[:, :5].numpy()
    result = {"n": len(letters)}
    for name, hit in (("strict", lambda l, o: letter_matches(l, labels[o[0]])),
                      ("tolerant", lambda l, o: letter_matches(l, labels[o[0]], tolerant=True)),
                      ("top5", lambda l, o: any(letter_matches(l, labels[i]) for i in o))):
        hits = torch.tensor([float(hit(l, o)) for l, o in zip(letters, order)])
        mean, se = weighted_mean_and_se(hits)
        result[name], result[f"{name}_se"] = round(mean, 5), round(se, 5)
    return result
