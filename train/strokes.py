"""The stroke model: `python -m train.strokes --checkpoint CNN.pt --data-dir EMNIST --unipen-dir UNIPEN --out OUT.pt`.

A drawing on the page is more than its image: the page knows the order and direction of its strokes,
which a scanned form (EMNIST) has lost and which tell apart what the image confuses. This trains a small
1-d CNN over the pen's path (emnist_core.strokes.trajectory; emnist_core.model.StrokeNet) on UNIPEN's
isolated characters of the training sites, each epoch drawn anew with the variation of pen_data.varied
(slant, turn, width, jitter), sampled to ByMerge's class mix (the data folder's class-prior.txt) as the
CNN's pen drawings are. Then it chooses, on the pen validation sites (pen_data.VAL_SITES, never trained
on), how much the stroke model's log-probabilities count beside the CNN's logits for a drawing (the
weight that reads them best, strict and tolerant counted alike; inference.with_strokes), and writes the
CNN checkpoint again with the stroke model in it. Images (photos, uploads, EMNIST) are read as before.

    python -m train.strokes --checkpoint checkpoints/emnist_bymerge.pt --data-dir ../shared/data/emnist-bymerge-offline \\
        --unipen-dir ../shared/data/unipen-dev --omniglot-dir ../shared/data/omniglot-latin-dev --out runs/strokes1.pt

It refuses to overwrite an existing file unless --force, writes atomically, and exits 2 with a message on
bad data.
"""

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emnist_core.checkpoint import (MAX_STROKE_LAYERS, MAX_WIDTH, CheckpointError, StrokeReader, load_checkpoint,
                                   save_checkpoint)
from emnist_core.inference import model_outputs, probabilities, stroke_log_probs, with_strokes
from emnist_core.model import StrokeConfig, StrokeNet, count_parameters, merged_stroke_nets
from emnist_core.strokes import trajectory

from .data import PRIOR_FILE, DataError, read_class_prior
from .evaluate import machine_description
from .finish import git_commit
from .flags import new_file
from . import pen_data
from .pen_data import (drawing_scores, hits, omniglot_drawings, plain_validation, sample_weights, score_text, scores,
                       varied, warped)
from .unipen import CHARACTER_CATEGORIES, NotUnipen, read_unipen

# The recipe, in one place (chosen on the pen validation sites, docs/RESULTS.md "The stroke model").
EPOCHS = 12
BATCH = 256
LR = 3e-3  # one-cycle peak (AdamW)
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.1
WIDTHS = StrokeConfig().widths  # its layers' channels
WEIGHTS = tuple(round(0.25 * k, 2) for k in range(0, 9))  # stroke weights tried: 0 (the CNN alone) to 2
MEMBER_RECORD = ("command", "commit", "date", "minutes", "parameters")  # what a merged model records of each member
REWRITE = 0.0  # chance of each change of how a character was written (rewritten): 0, as written


def rewritten(strokes: list[np.ndarray], rng: np.random.Generator, chance: float) -> list[np.ndarray]:
    """The same character written another way, as other writers do: each of four changes with `chance`, one
    stroke drawn the other way round, two strokes drawn in the other order, two strokes after each other
    drawn without lifting the pen (joined), one stroke drawn in two (the pen lifted halfway)."""
    strokes = [np.asarray(s) for s in strokes]
    if chance <= 0:
        return strokes
    if rng.random() < chance:
        k = rng.integers(len(strokes))
        strokes[k] = strokes[k][::-1]
    if len(strokes) > 1 and rng.random() < chance:
        i, j = rng.choice(len(strokes), 2, replace=False)
        strokes[i], strokes[j] = strokes[j], strokes[i]
    if len(strokes) > 1 and rng.random() < chance:
        k = rng.integers(len(strokes) - 1)
        strokes[k:k + 2] = [np.concatenate(strokes[k:k + 2])]
    long = [k for k, s in enumerate(strokes) if len(s) >= 6]
    if long and rng.random() < chance:
        k = long[rng.integers(len(long))]
        at = rng.integers(2, len(strokes[k]) - 2)
        strokes[k:k + 1] = [strokes[k][:at], strokes[k][at:]]
    return strokes


def paths_of(samples, rng: np.random.Generator | None, rewrite: float = REWRITE, shear: float = pen_data.SHEAR,
             warp: float = pen_data.WARP) -> np.ndarray:
    """(N, 6, 64) float32 pen paths of the samples' strokes: varied (slanted up to `shear`; rewritten with
    chance `rewrite`; bent by `warp`, pen_data.warped) by `rng`, or as written (None)."""
    return np.stack([trajectory(varied(warped(rewritten(s.strokes, rng, rewrite), rng, warp), rng, shear)
                                if rng is not None else s.strokes) for s in samples])


def train_stroke_net(samples, target_prior: np.ndarray, epochs: int, seed: int, widths: tuple[int, ...] = WIDTHS,
                     log=print, rewrite: float = REWRITE, shear: float = pen_data.SHEAR,
                     warp: float = pen_data.WARP) -> StrokeNet:
    """A StrokeNet trained on the samples' strokes, varied (and rewritten) anew each epoch, drawn to
    `target_prior`."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = np.array([s.bymerge for s in samples], np.int64)
    draw = sample_weights(labels, target_prior)
    net = StrokeNet(StrokeConfig(widths=tuple(widths), num_classes=len(target_prior)))
    steps = max(len(samples) // BATCH, 1)
    optimizer = torch.optim.AdamW(net.parameters(), LR, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=epochs * steps, pct_start=0.15)
    start = time.time()
    net.train()
    for epoch in range(epochs):
        paths = torch.from_numpy(paths_of(samples, rng, rewrite, shear, warp))
        chosen = rng.choice(len(samples), size=steps * BATCH, p=draw)
        total = 0.0
        for step in range(steps):
            batch = chosen[step * BATCH:(step + 1) * BATCH]
            loss = F.cross_entropy(net(paths[batch]), torch.from_numpy(labels[batch]), label_smoothing=LABEL_SMOOTHING)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        log(f"strokes: epoch {epoch + 1}/{epochs}: loss {total / steps:.3f} ({time.time() - start:.0f} s)")
    return net.eval()


def fused(checkpoint, logits, digit_logits, stroke_lp, weight: float):
    """(q, P(digit)) of drawings read by the CNN and the stroke model at `weight` (0: the CNN alone)."""
    return probabilities(with_strokes(logits, stroke_lp, weight) if weight else logits, digit_logits,
                         checkpoint.digit_source)


def choose_weight(checkpoint, logits, digit_logits, stroke_lp, val) -> tuple[float, dict]:
    """The weight in WEIGHTS reading the validation characters (pen_data.PenImages) best (strict + tolerant),
    and every weight's scores."""
    tried = {}
    for weight in WEIGHTS:
        right = hits(*fused(checkpoint, logits, digit_logits, stroke_lp, weight), val, checkpoint.labels)
        tried[str(weight)] = {"strict": round(float(right["strict"].mean()), 5),
                              "tolerant": round(float(right["tolerant"].mean()), 5)}
    best = max(WEIGHTS, key=lambda w: (tried[str(w)]["strict"] + tried[str(w)]["tolerant"], -w))
    return best, tried


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m train.strokes", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="the CNN checkpoint the stroke model joins")
    parser.add_argument("--data-dir", required=True, help=f"the EMNIST folder, for ByMerge's class mix ({PRIOR_FILE})")
    parser.add_argument("--unipen-dir", required=True, help="UNIPEN's folder (categories 1a, 1b, 1c)")
    parser.add_argument("--omniglot-dir", help="Omniglot's Latin letters (stroke files): scored too")
    parser.add_argument("--out", type=new_file, required=True, help="the checkpoint to write (CNN + stroke model)")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--widths", type=int, nargs="+", default=list(WIDTHS), help="channels of each 1-d conv layer")
    parser.add_argument("--limit", type=int, default=0, help="train on at most this many characters (0: all)")
    parser.add_argument("--cut-joined", help="also train on letters cut out of written words (a file of "
                        "`python -m train.cut_joined`)")
    parser.add_argument("--rewrite", type=float, default=REWRITE,
                        help="chance of each change of how a training character was written (stroke direction, "
                             "order, joined, parted; 0 to 1)")
    parser.add_argument("--shear", type=float, default=pen_data.SHEAR,
                        help="the most a training character is slanted, both ways (x += shear * y)")
    parser.add_argument("--warp", type=float, default=pen_data.WARP,
                        help="bend each training character smoothly by this share of its height (pen_data.warped; "
                             f"0 to {pen_data.MAX_WARP}, 0: as written)")
    parser.add_argument("--members", nargs="+", metavar="CHECKPOINT",
                        help="train nothing: merge the stroke models of these checkpoints (each written by this "
                             "command) into one that reads as their mean (model.merged_stroke_nets); the training "
                             "flags are then unused")
    parser.add_argument("--also-train", default="", metavar="SITES",
                        help="comma-separated pen validation sites (of " + ",".join(pen_data.VAL_SITES) + ") to train "
                             "on too; the others still validate. All of them: a final fit, which needs --weight")
    parser.add_argument("--weight", type=float, help="the stroke weight to keep instead of the one the validation "
                                                     "sites choose (needed where none are left to choose on)")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing the validation characters")
    args = parser.parse_args(argv)
    also = [s for s in args.also_train.split(",") if s]
    if any(s not in pen_data.VAL_SITES for s in also):
        parser.error(f"--also-train: sites of {','.join(pen_data.VAL_SITES)} only")
    val_sites = tuple(s for s in pen_data.VAL_SITES if s not in also)
    if not val_sites and args.weight is None:
        parser.error("--also-train leaves no validation site to choose the stroke weight on: give --weight")
    if args.weight is not None and not 0 <= args.weight <= 10:
        parser.error("--weight from 0 to 10")
    if args.epochs < 1 or args.limit < 0 or not 0 <= args.rewrite <= 1 or not 0 <= args.shear <= 1 \
            or not 0 <= args.warp <= pen_data.MAX_WARP:
        parser.error("--epochs must be at least 1, --limit not negative, --rewrite and --shear from 0 to 1, "
                     f"--warp from 0 to {pen_data.MAX_WARP}")
    if not 1 <= len(args.widths) <= MAX_STROKE_LAYERS or not all(1 <= w <= MAX_WIDTH for w in args.widths):
        parser.error(f"--widths: 1 to {MAX_STROKE_LAYERS} layers of 1 to {MAX_WIDTH} channels")
    if Path(args.out).exists() and not args.force:
        print(f"error: {args.out} exists; give --force to overwrite it", file=sys.stderr)
        return 2
    started = time.time()
    try:
        members = [_stroke_member(path) for path in args.members or ()]
        checkpoint = load_checkpoint(args.checkpoint)
        prior_path = Path(args.data_dir) / PRIOR_FILE
        if not prior_path.is_file():
            raise DataError(f"{prior_path}: no such class-prior file")
        target_prior = read_class_prior(prior_path)
        samples, summary = read_unipen(args.unipen_dir, CHARACTER_CATEGORIES)
    except (CheckpointError, DataError, NotUnipen) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("unipen: " + summary.text().replace("\n", "\nunipen: "))
    train = [s for s in samples if s.site not in val_sites]
    if args.limit:
        train = [train[k] for k in np.random.default_rng(args.seed).permutation(len(train))[:args.limit]]
    joined_letters = 0
    if args.cut_joined and not members:  # merged models train on nothing
        from .cut_joined import load_joined_samples
        from .cut_letters import refuse_validation_sites

        try:
            cut = load_joined_samples(args.cut_joined)
            refuse_validation_sites(args.cut_joined, {s.site for s in cut}, val_sites)
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"strokes: {len(cut)} letters cut out of words ({args.cut_joined})")
        train += cut
        joined_letters = len(cut)
    val, val_paths = plain_validation(samples, args.workers, val_sites)
    if not train or (val_sites and not len(val.labels)):
        print(f"error: {args.unipen_dir}: no characters to train on, or none from the validation sites "
              f"{', '.join(val_sites)}", file=sys.stderr)
        return 2
    print(f"strokes: {len(train)} training characters (sites other than {', '.join(val_sites) or 'none'}), "
          f"{len(val.labels)} validation characters")
    if members:
        try:
            net = merged_stroke_nets([reader.build_model() for reader in members])
        except ValueError as error:
            print(f"error: --members: {error}", file=sys.stderr)
            return 2
        if max(net.config.widths) > MAX_WIDTH:
            print(f"error: --members: {len(members)} stroke models side by side need {max(net.config.widths)} "
                  f"channels, more than a checkpoint holds ({MAX_WIDTH})", file=sys.stderr)
            return 2
    else:
        net = train_stroke_net(train, target_prior, args.epochs, args.seed, tuple(args.widths),
                               rewrite=args.rewrite, shear=args.shear, warp=args.warp)
    model = checkpoint.build_model(args.checkpoint)
    figures, tried, weight = {}, {}, args.weight
    if len(val.labels):
        logits, digit_logits = model_outputs(model, torch.from_numpy(val.images), checkpoint.input_spec)
        stroke_lp = stroke_log_probs(net, torch.from_numpy(val_paths))
        chosen, tried = choose_weight(checkpoint, logits, digit_logits, stroke_lp, val)
        weight = chosen if weight is None else weight
        figures = {"cnn": scores(*fused(checkpoint, logits, digit_logits, stroke_lp, 0), val, checkpoint.labels),
                   "with_strokes": scores(*fused(checkpoint, logits, digit_logits, stroke_lp, weight), val,
                                          checkpoint.labels)}
    if args.omniglot_dir:
        try:
            omniglot = omniglot_figures(checkpoint, model, net, weight, args.omniglot_dir)
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if omniglot:
            figures["omniglot"] = omniglot
    record = {"command": "python -m train.strokes " + shlex.join(argv), "commit": git_commit(),
              "machine": machine_description(torch.device("cpu")), "minutes": round((time.time() - started) / 60, 1),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "epochs": args.epochs, "seed": args.seed,
              "rewrite": args.rewrite, "shear": args.shear, "warp": args.warp,
              "train_characters": 0 if members else len(train), "cut_joined_letters": joined_letters, "val_sites": list(val_sites),
              "also_trained": also, "weight_given": args.weight is not None, "val_characters": len(val.labels),
              "parameters": count_parameters(net), "weights_tried": tried,
              **({"members": [{"checkpoint": path, "weight_alone": reader.weight,
                               **{k: reader.training.get(k) for k in MEMBER_RECORD}}
                              for path, reader in zip(args.members, members)]} if members else {}),
              "weight": weight, "figures": figures}
    result = replace(checkpoint, strokes=StrokeReader(net.config, net.state_dict(), weight, record))
    save_checkpoint(result, args.out)
    for name in ("cnn", "with_strokes"):
        if name in figures:
            print(score_text(figures[name], f"pen validation sites, {name.replace('_', ' ')}"))
        if "omniglot" in figures:
            print(score_text({"letters": figures["omniglot"][name]}, f"Omniglot drawings, {name.replace('_', ' ')}"))
    print(f"stroke weight {weight} ({'given' if args.weight is not None else 'chosen on the validation sites'}); "
          f"saved {args.out} "
          f"({record['minutes']} minutes)")
    return 0


def _stroke_member(path: str) -> StrokeReader:
    """The stroke model of a checkpoint written by this command (CheckpointError where it has none)."""
    reader = load_checkpoint(path).strokes
    if reader is None:
        raise CheckpointError(f"{path}: no stroke model in it (write one with python -m train.strokes)")
    return reader


def omniglot_figures(checkpoint, model, net, weight: float, folder: str) -> dict | None:
    """Omniglot's drawings read by the CNN alone and with the stroke model (pen_data.drawing_scores); None
    where the folder holds none."""
    images, letters, paths = omniglot_drawings(folder)
    if not letters:
        return None
    logits, digit_logits = model_outputs(model, torch.from_numpy(images), checkpoint.input_spec)
    stroke_lp = stroke_log_probs(net, torch.from_numpy(paths))
    return {"cnn": drawing_scores(*fused(checkpoint, logits, digit_logits, stroke_lp, 0), letters, checkpoint.labels),
            "with_strokes": drawing_scores(*fused(checkpoint, logits, digit_logits, stroke_lp, weight), letters,
                                           checkpoint.labels)}


if __name__ == "__main__":
    sys.exit(main())
