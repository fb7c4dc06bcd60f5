"""Train the joined-up word reader (emnist_core.sequence, issue 30 item 3) on UNIPEN category 7 words.

    python -m train.word_ctc --unipen-dir ../shared/data/unipen-dev --out runs/ctc1 --minutes 20

Words of letters only (bench.word_reading.sample_words), split BY SITE: the validation sites (VAL_SITES,
never trained on) are read as the bench draws them (bench.word_reading.word_drawing, the page's line
canvas, brush 10, the bench's seeds: the same drawings bench.word_ctc and bench.word_reading read); every
other site trains. Each training word is drawn VARIANTS times through the same path with cheap changes
(a brush radius of BRUSHES, a slant, a stretch across; word_drawing draws the height), rendered by the
page's renderer and cached under .data/word_ctc/. Training runs for --minutes of wall time (or --steps),
then the validation words are read (greedy and with the word list) and figures printed per style;
OUT/word_ctc.pt holds the weights (float16), OUT/report.json the figures.
"""

import argparse
import hashlib
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

# ---- hyperparameters, all in one place ----------------------------------------------------------------
VAL_SITES = ("ugi", "par", "rim")  # unseen writers: ugi (cursive, 3 writers), par (cursive + mixed, 5),
# rim (printed, 21 writers): every style is measured; int, kar, kai, cea keep ~4,800 cursive words to train on
VARIANTS = 3  # drawings of each training word
BRUSHES = (6.0, 10.0, 15.0)  # brush radii of the variants, canvas pixels
SLANT = 0.35  # shear x -= s * y, s uniform in +-SLANT (in units of the word's own height)
STRETCH = (0.8, 1.25)  # the word stretched across by this factor before it is drawn
BATCH = 32
LR = 2e-3
WEIGHT_DECAY = 1e-4
WARMUP = 0.05  # of the run, then cosine to zero
MINUTES = 20.0
SEED = 0
CACHE = Path(__file__).resolve().parent.parent / ".data" / "word_ctc"
# Composed words (--composed N): printed words set from UNIPEN's isolated letters (categories 1b, 1c; no site
# of the word validation has any), one writer's letters in a word where that writer wrote them
COMPOSED_CASES = (("upper", 0.45), ("lower", 0.40), ("title", 0.15))  # how a composed word is written
COMPOSED_RANDOM = 0.2  # share of composed words that are random letter strings, not English words
COMPOSED_LENGTHS = (2, 12)  # letters in a composed word
GAP = (0.06, 0.45)  # the space between two letters, in cap heights; TIGHT of the words set closer:
TIGHT, TIGHT_GAP = 0.25, (-0.06, 0.1)
LETTER_WIDTH = (0.8, 1.5)  # each composed letter stretched across by this (writers' m and w run wide)
X_HEIGHT = 0.62  # a lower-case letter's body, in cap heights; its ascender or descender goes 0.38 further
ASCENDERS, DESCENDERS, DOTTED = "bdfhklt", "gjpqy", "ij"
COMPOSED = 0  # composed words a run adds (--composed)


def shaped(strokes, rng: np.random.Generator) -> list[np.ndarray]:
    """A word's strokes slanted and stretched across at random (y down, any units)."""
    points = np.concatenate(strokes)
    height = max(float(np.ptp(points[:, 1])), 1e-6)
    slant, stretch = rng.uniform(-SLANT, SLANT), rng.uniform(*STRETCH)
    out = []
    for s in strokes:
        s = np.asarray(s, np.float64).copy()
        s[:, 0] = (s[:, 0] - slant * (s[:, 1] - points[:, 1].min())) * stretch
        out.append(s)
    return out


def targets(word: str) -> list[int]:
    from emnist_core.sequence import ALPHABET
    return [ALPHABET.index(c) + 1 for c in word.lower()]


def letter_box(letter: str) -> tuple[float, float]:
    """Where a letter's ink sits, (top, bottom) in cap heights above the baseline (0) and below (+)."""
    if letter.isupper():
        return -1.0, 0.0
    top = -1.0 if letter in ASCENDERS else -0.85 if letter in DOTTED else -X_HEIGHT
    return top, (1.0 - X_HEIGHT if letter in DESCENDERS else 0.0)


def compose(text: str, letters: list, rng: np.random.Generator) -> list[np.ndarray]:
    """A printed word's strokes (y down, cap height 1): each letter's strokes (`letters`, one sample's
    strokes per letter of `text`) scaled into its box (letter_box, +-8%), stretched across by LETTER_WIDTH and set
    left to right."""
    out, x = [], 0.0
    tight = rng.uniform() < TIGHT
    for letter, strokes in zip(text, letters):
        points = np.concatenate(strokes).astype(np.float64)
        low, high = points.min(0), points.max(0)
        top, bottom = letter_box(letter)
        height = (bottom - top) * rng.uniform(0.92, 1.08)
        scale = height / max(float(high[1] - low[1]), 1e-6)
        scale = min(scale, 1.3 / max(float(high[0] - low[0]), 1e-6))  # a flat stroke (a dash) stays in reach
        base, across = bottom + rng.uniform(-0.04, 0.04), scale * rng.uniform(*LETTER_WIDTH)
        for s in strokes:
            s = np.asarray(s, np.float64) - low
            out.append(np.stack([s[:, 0] * across + x, s[:, 1] * scale + base - (high[1] - low[1]) * scale], 1))
        x += (high[0] - low[0]) * across + rng.uniform(*(TIGHT_GAP if tight else GAP))
    return out


def composed_strokes(characters: list, rng: np.random.Generator, tries: int):
    """Printed words set from isolated UNIPEN letters (compose), one at a time: (word, strokes) for English words of
    the word list (a tenth of its commonest, COMPOSED_LENGTHS letters, of the letters there are) or random letter
    strings, in a case of COMPOSED_CASES; each letter one writer's (one writer drawn a word) where that writer wrote
    it, else any writer's, else the other case's. At most `tries` words are tried. The caller may draw from `rng`
    between words (composed_words draws each word with it)."""
    from emnist_core.words import english

    by_letter, by_writer = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for sample in characters:
        if len(sample.label) == 1 and sample.label.isalpha() and sample.label.isascii():
            by_letter[sample.label].append(sample.strokes)
            by_writer[sample.writer][sample.label].append(sample.strokes)
    writers = sorted(w for w, got in by_writer.items() if len(got) >= 20)
    known = sorted({c.lower() for c in by_letter})
    if not known:
        return
    vocabulary = [w for length, (_, _, words) in english().by_length.items()
                  if COMPOSED_LENGTHS[0] <= length <= COMPOSED_LENGTHS[1] for w in words[:max(50, len(words) // 10)]
                  if set(w) <= set(known)]
    cases, weights = zip(*COMPOSED_CASES)
    for _ in range(tries):  # letters missing from `characters` end it early
        if rng.uniform() < COMPOSED_RANDOM or not vocabulary:
            word = "".join(rng.choice(known, rng.integers(COMPOSED_LENGTHS[0], COMPOSED_LENGTHS[1] + 1)))
        else:
            word = vocabulary[rng.integers(len(vocabulary))]
        case = cases[rng.choice(len(cases), p=np.array(weights) / sum(weights))]
        text = word.upper() if case == "upper" else word.capitalize() if case == "title" else word
        own = by_writer[writers[rng.integers(len(writers))]] if writers else {}
        pools = [own.get(c) or by_letter.get(c) or by_letter.get(c.swapcase()) for c in text]
        if not all(pools):
            continue
        letters = [pool[rng.integers(len(pool))] for pool in pools]
        try:
            strokes = compose(text, letters, rng)
        except ValueError:
            continue
        yield word, strokes


def composed_words(characters: list, count: int, seed: int, progress=None) -> tuple[list, list]:
    """`count` printed words set from isolated UNIPEN letters (composed_strokes), drawn as render_training
    draws. -> (line images, their words)."""
    from bench.word_reading import word_drawing
    from emnist_core.preprocess import UnusableImage
    from emnist_core.sequence import line_image

    rng = np.random.default_rng([seed, 32])
    images, labels = [], []
    for word, strokes in composed_strokes(characters, rng, 20 * count):
        try:
            strokes = shaped(strokes, rng)
            drawing = word_drawing(strokes, rng, brush=BRUSHES[rng.integers(len(BRUSHES))])  # the brush drawn last
            images.append((line_image(drawing) * 255).astype(np.uint8))
            labels.append(word)
        except (ValueError, UnusableImage):
            pass
        if progress and len(images) % 5000 == 0 and images:
            progress(f"composed {len(images)}/{count} words")
        if len(images) >= count:
            break
    if progress and len(images) < count:
        progress(f"composed {len(images)} of {count} words" + (": the rest could not be drawn" if images else
                                                                 ": the characters hold no letters"))
    return images, labels


def render_training(words: list, variants: int, seed: int, progress=None) -> tuple[list, list]:
    """Training samples -> (line images, their words), `variants` drawings of each."""
    from bench.word_reading import word_drawing
    from emnist_core.preprocess import UnusableImage
    from emnist_core.sequence import line_image

    images, labels = [], []
    rng = np.random.default_rng([seed, 30])
    for k, sample in enumerate(words):
        for v in range(variants):
            try:
                drawing = word_drawing(shaped(sample.strokes, rng), rng, brush=BRUSHES[v % len(BRUSHES)])
                images.append((line_image(drawing) * 255).astype(np.uint8))
                labels.append(sample.label.lower())
            except (ValueError, UnusableImage):
                pass
        if progress and k % 2000 == 0:
            progress(f"rendered {k}/{len(words)} words")
    return images, labels


def cached(key: dict, make, cache: Path):
    """make() -> (images, labels), kept in cache/<hash of key>.npz."""
    name = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache / f"{name}.npz"
    if path.is_file():
        data = np.load(path)
        cuts = np.cumsum(data["widths"])[:-1]
        return np.split(data["pixels"], cuts, axis=1), [str(w) for w in data["labels"]]
    images, labels = make()
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, pixels=np.concatenate(images, 1), widths=np.array([i.shape[1] for i in images]),
             labels=np.array(labels))
    return images, labels


def batches(widths: np.ndarray, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Indices in batches of similar width (little padding), the batches in random order."""
    order = np.argsort(widths + rng.uniform(0, 8, len(widths)), kind="stable")
    groups = [order[k:k + size] for k in range(0, len(order), size)]
    return [groups[k] for k in rng.permutation(len(groups))]


def learning_rate(progress: float, lr: float, warmup: float = WARMUP) -> float:
    """The rate at this share of the run (0..1): up from zero over `warmup`, then a cosine down to zero."""
    if progress < warmup:
        return lr * progress / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup)))


def fit(model: nn.Module, epoch, read, count: int, minutes: float, steps: int | None, lr: float,
        weight_decay: float = WEIGHT_DECAY, warmup: float = WARMUP, every: int = 200, log=print) -> dict:
    """CTC training for `minutes` of wall time (or `steps`): AdamW, learning_rate's schedule, gradients clipped
    to norm 5. `epoch()`: one epoch's batches; `read(batch)`: -> (the model's (T, N, 27) log-probabilities, each
    row's columns, the batch's words); `count`: samples an epoch. -> the run's record."""
    optimiser = torch.optim.AdamW(model.parameters(), lr, weight_decay=weight_decay)
    ctc = nn.CTCLoss(zero_infinity=True)
    budget, started, step, seen, losses = minutes * 60, time.time(), 0, 0, []
    while True:
        before, out_of_time = step, False
        for chosen in epoch():
            progress = step / steps if steps else (time.time() - started) / budget
            if progress >= 1:
                out_of_time = True
                break
            rate = learning_rate(progress, lr, warmup)
            for group in optimiser.param_groups:
                group["lr"] = rate
            model.train()
            log_probs, columns, words = read(chosen)
            letters = [targets(word) for word in words]
            loss = ctc(log_probs, torch.tensor([c for w in letters for c in w]), columns,
                       torch.tensor([len(w) for w in letters]))
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            losses.append(loss.item())
            step, seen = step + 1, seen + len(words)
            if step % every == 0:
                log(f"step {step}  {seen / count:.2f} epochs  loss {np.mean(losses[-every:]):.3f}  "
                    f"lr {rate:.2e}  {time.time() - started:.0f} s")
        if out_of_time or step == before:  # the time is up, or an epoch held no batch
            break
    return {"steps": step, "samples": seen, "epochs": seen / max(1, count), "seconds": time.time() - started,
            "final_loss": float(np.mean(losses[-every:])) if losses else None}


def train(model, images: list, labels: list, minutes: float, steps: int | None, seed: int, lr: float = LR,
          log=print) -> dict:
    from emnist_core.sequence import batch

    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 31])
    widths = np.array([i.shape[1] for i in images])

    def read(chosen):
        x, lengths = batch([images[k].astype(np.float32) / 255 for k in chosen])
        return model(x), lengths, [labels[k] for k in chosen]
    return fit(model, lambda: batches(widths, BATCH, rng), read, len(images), minutes, steps, lr, log=log)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unipen-dir", required=True, help="a UNIPEN folder (original layout) with category 7")
    parser.add_argument("--out", required=True, help="folder for word_ctc.pt and report.json")
    parser.add_argument("--minutes", type=float, default=MINUTES, help="training wall time")
    parser.add_argument("--steps", type=int, help="train this many steps instead of --minutes")
    parser.add_argument("--val-sites", default=",".join(VAL_SITES), help="comma-separated, never trained on")
    parser.add_argument("--variants", type=int, default=VARIANTS)
    parser.add_argument("--val-words", type=int, default=0, help="validation words per site (0: all)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--cache", default=str(CACHE), help="rendered training images are kept here")
    parser.add_argument("--composed", type=int, default=COMPOSED,
                        help="printed words set from UNIPEN's isolated letters, added to the training words")
    parser.add_argument("--init-from", help="start from this word model's weights (e.g. checkpoints/word_ctc.pt)")
    parser.add_argument("--lr", type=float, default=LR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from bench.word_ctc import compare, print_table
    from bench.word_reading import sample_words
    from emnist_core.sequence import (SequenceConfig, SequenceReader, WordCTC, load_sequence_checkpoint,
                                      save_sequence_checkpoint)
    from train.unipen import NotUnipen, read_unipen

    started = time.time()
    log = lambda text: print(f"[{time.time() - started:6.0f} s] {text}", flush=True)
    try:
        samples, _ = read_unipen(args.unipen_dir, categories=("7",))
    except (NotUnipen, FileNotFoundError, OSError) as error:
        print(f"error: cannot read {args.unipen_dir}: {error}", file=sys.stderr)
        return 2
    val_sites = {s for s in args.val_sites.split(",") if s}
    every = sample_words(samples, None, args.seed)
    train_words = [w for site, words in every.items() if site not in val_sites for w in words]
    val = sample_words(samples, args.val_words or None, args.seed, val_sites) if val_sites else {}
    if not train_words:
        print("error: no training words (every site is a validation site?)", file=sys.stderr)
        return 2
    log(f"{len(train_words)} training words from {sorted(set(every) - val_sites)}; validation "
        + ", ".join(f"{site} {len(words)}" for site, words in val.items()))

    key = {"unipen": str(Path(args.unipen_dir).resolve()), "words": len(train_words), "val": sorted(val_sites),
           "variants": args.variants, "seed": args.seed, "brushes": BRUSHES, "slant": SLANT, "stretch": STRETCH,
           "version": 1}
    images, labels = cached(key, lambda: render_training(train_words, args.variants, args.seed, log), Path(args.cache))
    if args.composed:
        characters, _ = read_unipen(args.unipen_dir)
        characters = [c for c in characters if c.site not in val_sites]
        made = cached({**key, "composed": args.composed, "characters": len(characters), "cases": COMPOSED_CASES,
                       "random": COMPOSED_RANDOM, "lengths": COMPOSED_LENGTHS, "gap": GAP, "tight": [TIGHT, TIGHT_GAP],
                       "x_height": X_HEIGHT, "letter_width": LETTER_WIDTH, "version": 1},
                      lambda: composed_words(characters, args.composed, args.seed, log), Path(args.cache))
        images, labels = images + made[0], labels + made[1]
    log(f"{len(images)} training images, widths median {np.median([i.shape[1] for i in images]):.0f}")

    if args.init_from:
        model, config, _ = load_sequence_checkpoint(args.init_from)
    else:
        config = SequenceConfig()
        model = WordCTC(config)
    log(f"model: {sum(p.numel() for p in model.parameters()):,} parameters")
    record = train(model, images, labels, args.minutes, args.steps, args.seed, args.lr, log)
    log(f"trained: {record['steps']} steps, {record['epochs']:.2f} epochs in {record['seconds']:.0f} s")
    out = Path(args.out)
    record.update({"train_sites": sorted(set(every) - val_sites), "val_sites": sorted(val_sites),
                   "train_words": len(train_words), "variants": args.variants, "batch": BATCH, "lr": args.lr,
                   "composed": args.composed, "init_from": args.init_from})
    save_sequence_checkpoint(model, config, out / "word_ctc.pt", record)
    report = {"training": record}
    if val:
        reader = SequenceReader(out / "word_ctc.pt", pen_path=None)  # the saved (float16) weights, read alone
        report["validation"] = compare(reader, val, args.seed, segmentation=None)
        print_table(report["validation"])
    (out / "report.json").write_text(json.dumps(report, indent=1))
    log(f"saved {out / 'word_ctc.pt'} ({(out / 'word_ctc.pt').stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
