"""Train the pen word model (emnist_core.sequence.PenWordCTC, issue 30): the letters of a drawn line read from its
pen path, beside the image word model (train.word_ctc), on UNIPEN category 7 words and printed words set from
UNIPEN's letters.

    python -m train.word_pen --unipen-dir ../shared/data/unipen-dev --out runs/pen1 --minutes 30

The same words as train.word_ctc, split BY SITE (VAL_SITES never trained on): each training word REAL_REPEAT times an
epoch and COMPOSED printed words (train.word_ctc.composed_strokes), every one slanted and stretched anew each time
(train.word_ctc.shaped) before its pen path is taken (sequence.pen_path: no rendering, so nothing is cached).
Training runs for --minutes of wall time (or --steps); then the validation words are read as the line tab reads
them whole (bench.word_ctc: the shipped image word model and this one together, greedy and with the word list);
OUT/word_pen.pt holds the weights (float16), OUT/report.json the figures.

    python -m train.word_pen --join runs/pen1/word_pen.pt runs/pen3/word_pen.pt --out checkpoints

puts pen models trained apart (other seeds, one shape) into one file (sequence.PenEnsemble): the line is read by
each, and each has an equal share of the pen model's weight (sequence.Evidence).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from train.pen_data import MAX_WARP, warped

# ---- hyperparameters, all in one place ----------------------------------------------------------------
REAL_REPEAT = 2  # each written training word this many times an epoch
COMPOSED = 60_000  # printed words set from single letters
BATCH = 32
LR = 2e-3
WEIGHT_DECAY = 1e-4
WARMUP = 0.05  # of the run, then cosine to zero
MINUTES = 30.0
SEED = 0
WARP = 0.0  # each word's strokes bent this much (train.pen_data.warped, share of its height): 0, as written


def train(model, samples: list, minutes: float, steps: int | None, seed: int, lr: float = LR, log=print,
          warp: float = WARP) -> dict:
    """samples: (strokes, word) pairs; each batch's strokes shaped (and bent by `warp`) anew, then read as pen
    paths (train.word_ctc.fit's loop)."""
    from emnist_core.sequence import pen_batch, pen_path
    from train.word_ctc import fit, shaped

    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 41])
    size = min(BATCH, len(samples))

    def epoch():
        order = rng.permutation(len(samples))
        return [order[k:k + size] for k in range(0, len(order) - size + 1, size)] if size else []

    def read(chosen):
        log_probs, columns = model(*pen_batch([pen_path(warped(shaped(samples[i][0], rng), rng, warp))
                                                 for i in chosen]))
        return log_probs, columns, [samples[i][1] for i in chosen]
    return fit(model, epoch, read, len(samples), minutes, steps, lr, WEIGHT_DECAY, WARMUP, every=500, log=log)


def join(paths: list[str], out: Path) -> int:
    """--join: one checkpoint of several pen models (sequence.PenEnsemble), each one's training record kept; a
    file already joined gives its networks one by one (so the shipped pair and a new network make three). Exit 2,
    with the reason, where one is missing or unreadable, or their shapes differ."""
    from dataclasses import replace

    from emnist_core.sequence import PenEnsemble, SequenceCheckpointError, load_pen_checkpoint, save_pen_checkpoint
    try:
        loaded = [load_pen_checkpoint(path) for path in paths]
    except SequenceCheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    networks, records = [], []  # a joined file's networks count one by one, with their own records
    for path, (model, config, training) in zip(paths, loaded):
        if config.members == 1:
            networks.append((model, config))
            records.append({"file": str(path), **training})
        else:
            inner = [*training.get("members", []), *[{}] * config.members]  # a record short: the network still counts
            for member, record in zip(model.members, inner):
                networks.append((member, replace(config, members=1)))
                records.append({**record, "joined_in": str(path)})
    if len(networks) < 2 or len({config for _, config in networks}) != 1:
        print("error: --join takes two pen networks or more (single or joined files), of one shape", file=sys.stderr)
        return 2
    config = replace(networks[0][1], members=len(networks))
    together = PenEnsemble(config)
    for member, (model, _) in zip(together.members, networks):
        member.load_state_dict(model.state_dict())
    save_pen_checkpoint(together, config, out / "word_pen.pt", {"members": records})
    print(f"saved {out / 'word_pen.pt'}: {len(networks)} pen networks ({(out / 'word_pen.pt').stat().st_size / 1e6:.2f} MB)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unipen-dir", help="a UNIPEN folder (original layout) with category 7 (to train)")
    parser.add_argument("--out", required=True, help="folder for word_pen.pt and report.json")
    parser.add_argument("--minutes", type=float, default=MINUTES, help="training wall time")
    parser.add_argument("--steps", type=int, help="train this many steps instead of --minutes")
    parser.add_argument("--val-sites", help="comma-separated, never trained on (default: train.word_ctc's)")
    parser.add_argument("--val-words", type=int, default=0, help="validation words per site (0: all)")
    parser.add_argument("--composed", type=int, default=COMPOSED, help="printed words set from UNIPEN's letters")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--warp", type=float, default=WARP,
                        help="bend each training word smoothly by this share of its height (train.pen_data.warped; "
                             f"0 to {MAX_WARP}, 0: as written)")
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--threads", type=int, default=0, help="torch's threads (0: its default, one a core)")
    parser.add_argument("--join", nargs="+", metavar="WORD_PEN_PT",
                        help="instead of training: OUT/word_pen.pt holds these pen models (one shape, trained apart "
                             "with other seeds), each read and their readings weighed alike")
    args = parser.parse_args(argv)
    if args.join:
        return join(args.join, Path(args.out))
    if not args.unipen_dir:
        parser.error("--unipen-dir is needed to train (or --join to put trained pen models together)")
    if not 0 <= args.warp <= MAX_WARP:
        parser.error(f"--warp from 0 to {MAX_WARP}")
    if args.threads:
        torch.set_num_threads(args.threads)

    from bench.word_ctc import compare, print_table
    from bench.word_reading import sample_words
    from emnist_core.sequence import (DEFAULT_WORD_CHECKPOINT, PenConfig, PenWordCTC, SequenceCheckpointError,
                                      SequenceReader, save_pen_checkpoint)
    from train.unipen import NotUnipen, read_unipen
    from train.word_ctc import VAL_SITES, composed_strokes

    started = time.time()
    log = lambda text: print(f"[{time.time() - started:6.0f} s] {text}", flush=True)
    try:
        samples, _ = read_unipen(args.unipen_dir, categories=("7",))
        characters, _ = read_unipen(args.unipen_dir, categories=("1b", "1c")) if args.composed else ([], None)
    except (NotUnipen, FileNotFoundError, OSError) as error:
        print(f"error: cannot read {args.unipen_dir}: {error}", file=sys.stderr)
        return 2
    val_sites = set(VAL_SITES if args.val_sites is None else (s for s in args.val_sites.split(",") if s))
    every = sample_words(samples, None, args.seed)
    written = [(w.strokes, w.label.lower()) for site, words in every.items() if site not in val_sites for w in words]
    if not written:
        print("error: no training words (every site is a validation site?)", file=sys.stderr)
        return 2
    characters = [c for c in characters if c.site not in val_sites]
    composed = []
    for word, strokes in composed_strokes(characters, np.random.default_rng([args.seed, 42]), 20 * args.composed):
        composed.append((strokes, word))
        if len(composed) >= args.composed:
            break
    val = sample_words(samples, args.val_words or None, args.seed, val_sites) if val_sites else {}
    log(f"{len(written)} training words from {sorted(set(every) - val_sites)}, {len(composed)} composed; validation "
        + ", ".join(f"{site} {len(words)}" for site, words in val.items()))

    config = PenConfig()
    model = PenWordCTC(config)
    log(f"model: {sum(p.numel() for p in model.parameters()):,} parameters, {torch.get_num_threads()} threads")
    record = train(model, written * REAL_REPEAT + composed, args.minutes, args.steps, args.seed, args.lr, log,
                   args.warp)
    log(f"trained: {record['steps']} steps, {record['epochs']:.2f} epochs in {record['seconds']:.0f} s")
    out = Path(args.out)
    record.update({"train_sites": sorted(set(every) - val_sites), "val_sites": sorted(val_sites),
                   "train_words": len(written), "real_repeat": REAL_REPEAT, "composed": len(composed),
                   "batch": BATCH, "lr": args.lr, "seed": args.seed, "warp": args.warp})
    save_pen_checkpoint(model, config, out / "word_pen.pt", record)
    report = {"training": record}
    if val:
        try:  # the saved (float16) weights beside the shipped image word model, as the line tab will read
            reader = SequenceReader(DEFAULT_WORD_CHECKPOINT, pen_path=out / "word_pen.pt")
        except SequenceCheckpointError as error:
            print(f"not validated: {error}", file=sys.stderr)
        else:
            report["validation"] = compare(reader, val, args.seed, segmentation=None)
            print_table(report["validation"])
    (out / "report.json").write_text(json.dumps(report, indent=1))
    log(f"saved {out / 'word_pen.pt'} ({(out / 'word_pen.pt').stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
