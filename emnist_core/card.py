"""A checkpoint's model card, written from what the checkpoint itself records.

One text for the demo page and for `checkpoints/MODEL_CARD.md` (`python -m train.model_card`), so
neither can drift from the weights.
"""

from dataclasses import replace

from .checkpoint import Checkpoint
from .model import build_network, count_parameters


def percent(value) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "—"


def results_row(name: str, m: dict) -> str:
    return (f"| {name} | {m.get('n', 0):,} | {percent(m.get('accuracy'))} | "
            f"{percent(m.get('digit_letter_accuracy'))} | {percent(m.get('balanced_accuracy'))} | "
            f"{percent(m.get('top5_accuracy'))} |")


READING_RULES = {  # checkpoint.digit_source -> what it means for people (emnist_core/inference.py)
    "top": "the most likely class is the reading and its kind the digit/letter verdict",
    "sum": "digit or letter is decided by the summed digit probabilities, the reading is the likeliest class of that kind",
    "head": "digit or letter is decided by the digit head, the reading is the likeliest class of that kind",
}


def model_card(checkpoint: Checkpoint, title: str | None = None, size_mb: float | None = None,
               drawings: dict | None = None, official_test: dict | None = None) -> str:
    """Markdown: the model, its data, how it was trained, its measured results and its limits.

    `drawings` is the JSON of `python -m bench.score_drawings --json`, when there is one;
    `official_test` the team's measurement on the held-out official test split (official_test.json)."""
    t = checkpoint.training or {}
    metrics = t.get("metrics") or {}
    val, test, selection = metrics.get("val") or t.get("val"), metrics.get("test"), metrics.get("selection") or {}
    config = checkpoint.model_config
    shape = ", ".join(f"{w}x{n}" for w, n in zip(config.stage_widths, config.convs_per_stage))
    size = f", {size_mb:.1f} MB" if size_mb else ""
    network = (f"CNN ({shape} channels x convs per stage, {'residual' if config.residual else 'plain'}{size})"
               if config.members == 1 else
               f"ensemble of {config.members} independently trained CNNs ({shape} channels x convs per stage, "
               f"{'residual' if config.residual else 'plain'}, {count_parameters(build_network(replace(config, members=1))):,} "
               f"parameters each{size}) whose log-probabilities are averaged")
    lines = [f"# {title}\n" if title else "",
             f"**Model**: a {count_parameters(build_network(config)):,}-parameter {network}, reading one handwritten "
             f"character as one of the {len(checkpoint.labels)} EMNIST ByMerge classes (10 digits, 26 capitals, and "
             "the 11 lowercase letters whose shape differs from their capital), and whether it is a digit or a letter.",
             "",
             f"**Data**: `{t.get('data_dir', '?')}`, {t.get('n_train', 0):,} training and {t.get('n_val', 0):,} "
             f"validation images (stratified split, seed {(t.get('split') or {}).get('seed', '?')}): EMNIST, "
             "NIST's handwriting forms as 28x28 images (Cohen et al. 2017, from NIST Special Database 19)."]
    hyper = t.get("hyperparameters") or {}
    if hyper.get("unipen_dir"):
        lines += ["", f"**Pen strokes**: UNIPEN train_r01_v07 (`{hyper['unipen_dir']}`, CC-BY-4.0: I. Guyon, "
                  "L. Schomaker, R. Plamondon, M. Liberman, S. Janet, \"UNIPEN project of on-line data exchange and "
                  "recognizer benchmarks\", ICPR 1994, doi:10.1109/ICPR.1994.576870; Unipen consortium, "
                  "doi:10.5281/zenodo.1195803): its isolated digits, capitals and lower-case letters, each drawn "
                  "through the page's own stroke path with "
                  f"{hyper.get('unipen_variants', '?')} varied drawings a character, a share "
                  f"{hyper.get('unipen_share', '?')} of each epoch's images, drawn to ByMerge's class mix"
                  + (f", and among them letters cut out of its printed and mixed words as the line tab cuts them "
                     f"(`python -m train.cut_letters`, `{hyper['cut_letters']}`)" if hyper.get("cut_letters") else "")
                  + f"; validated on the sites {', '.join(metrics.get('unipen_val_sites') or ['?'])}, never trained on."]
    if t.get("members"):
        lines += ["", f"**Training**: {len(t['members'])} networks on one validation split, each trained and "
                  "calibrated (BatchNorm statistics, class-prior correction folded into its biases) on its own, then "
                  f"combined on {t.get('machine', 'an unrecorded machine')}"
                  + (f", commit {t['commit']}" if t.get("commit") else "") + f": `{t.get('command', '?')}`. The members:",
                  ""]
        lines += [f"- `{m.get('command', '?')}`: weighted validation {percent(m['val']['accuracy'])}, digit/letter "
                  f"{percent(m['val']['digit_letter_accuracy'])}" for m in t["members"]]
    else:
        lines += ["", f"**Training**: on {t.get('machine', 'an unrecorded machine')}"
                  + (f", {metrics['train_minutes']:.1f} minutes in all" if metrics.get("train_minutes") else "")
                  + (f", best epoch {metrics.get('best_epoch', t.get('epoch'))} of {len(t.get('history', []))}"
                     if t.get("history") else "")
                  + (f", commit {t['commit']}" if t.get("commit") else "") + f": `{t.get('command', '?')}`"
                  + (f"; then recalibrated without retraining: `{t['recalibrated']['command']}`"
                     if t.get("recalibrated") else "")
                  + "".join(f"; then fine-tuned on {f.get('corrections', '?')} writers' corrections (store "
                            f"{str(f.get('store_sha256', '?'))[:12]}): `{f.get('command', '?')}`"
                            for f in t.get("finetuned") or [] if isinstance(f, dict))]
    rule = READING_RULES.get(checkpoint.digit_source, checkpoint.digit_source)
    if selection and "prior_strength" in selection:
        batchnorm = {"clean images": "BatchNorm statistics re-estimated on un-augmented training images; ",
                     "as trained": "BatchNorm statistics as trained; "}.get(selection.get("batchnorm_statistics"), "")
        choices = (f"{batchnorm}class-prior correction strength {selection.get('prior_strength')} (log-ratio "
                   "of ByMerge's class frequencies to the training pool's, folded into the output biases); "
                   f"reading rule: {rule}; all chosen on validation.")
        lines += ["", choices[0].upper() + choices[1:]]
    elif selection:
        lines += ["", f"Reading rule: {rule}; chosen on validation weighted to ByMerge's class mix."]
    lines += ["", "| split | images | accuracy (47 classes) | digit/letter | balanced accuracy | top-5 |",
              "| --- | --- | --- | --- | --- | --- |"]
    if val:
        lines.append(results_row("validation (training pool's class mix)", val))
        if "prior_weighted_accuracy" in val:
            lines.append(f"| validation weighted to ByMerge's class mix | {val['n']:,} | "
                         f"{percent(val['prior_weighted_accuracy'])} | "
                         f"{percent(val['prior_weighted_digit_letter_accuracy'])} | — | — |")
    else:
        lines.append("| validation | not recorded | | | | |")
    if test:
        lines.append(results_row("official test", test))
    else:
        lines.append("| official test | not on the training machine: held out, scored by the team | | | | |")
    if official_test:
        lines.append(results_row(f"official test, {official_test['model']}", official_test))
        lines += ["", f"The last row was measured once by the team on the held-out official test split: "
                  f"`{official_test['command']}`."]
    if drawings and "omniglot" in drawings:
        png = drawings["omniglot"]["png"]
        lines += ["", "**Real drawings** (Omniglot's Latin letters a-z, 10 people, drawn with a mouse; "
                  "`python -m bench.score_drawings`):", "",
                  "| input | strict top-1 | look-alike-tolerant top-1 | top-5 |", "| --- | --- | --- | --- |",
                  f"| 260 scanned PNGs | {percent(png['strict_top1'])} | {percent(png['tolerant_top1'])} | "
                  f"{percent(png['top5'])} |"]
        replays = sum(name.startswith("replay") for name in drawings["omniglot"])
        for label, key in ((f"stroke replays, mean of {replays} variants", "omniglot_replay_mean"),
                           ("stroke replays, worst variant", "omniglot_replay_worst")):
            s = drawings[key]
            lines.append(f"| {label} | {percent(s['strict_top1'])} | {percent(s['tolerant_top1'])} | "
                         f"{percent(s['top5'])} |")
    if metrics.get("unipen_val"):
        lines += ["", "**Pen characters by writers and sites never trained on** (UNIPEN sites "
                  f"{', '.join(metrics.get('unipen_val_sites') or ['?'])}, drawn on the page's canvas; strict: the "
                  "ByMerge class; tolerant: a letter's case and 0/O, 1/I/L, 2/Z, 5/S, 9/g/q forgiven):", "",
                  "| kind | characters | strict | tolerant | top-5 |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {kind} | {m['n']:,} | {percent(m['strict'])} | {percent(m['tolerant'])} | {percent(m['top5'])} |"
                  for kind, m in metrics["unipen_val"].items()]
        if metrics.get("drawings"):
            d = metrics["drawings"]
            lines.append(f"| Omniglot's mouse-drawn letters | {d['n']:,} | {percent(d['strict'])} (either case) | "
                         f"{percent(d['tolerant'])} | {percent(d['top5'])} |")
    if checkpoint.strokes is not None:
        lines += stroke_model_lines(checkpoint.strokes)
    lines += ["", "**Limits**: drawings are not NIST's scanned forms, and EMNIST itself cannot always tell some "
              "pairs apart (0/O, 1/I/l, 2/Z, 5/S, 9/g/q, and a letter's two cases); the page says when its reading "
              "is such a pair. One character per image.",
              "", "**Train your own**: `python -m train --data-dir DIR --save-to checkpoints/emnist_bymerge.pt` "
              "(DIR: a folder with the official EMNIST ByMerge IDX files or Kaggle's CSVs, or `--download`; "
              "`python -m train --help` "
              "lists every setting); with UNIPEN, `python -m train.strokes --checkpoint THAT --data-dir DIR "
              "--unipen-dir UNIPEN --out OUT` adds the stroke model for drawings; then `python demo.py`."]
    return "\n".join(lines).lstrip("\n") + "\n"


def cut_joined_words(training: dict) -> str:
    """What the stroke model's record says of letters cut out of UNIPEN's words (train.cut_joined), if any."""
    if training.get("cut_joined_letters"):
        return f"; {training['cut_joined_letters']:,} of them letters cut out of its written words: `python -m train.cut_joined`"
    if "--cut-joined" in training.get("command", ""):
        return "; letters cut out of its written words among them: `python -m train.cut_joined`"
    return ""


def also_trained(training: dict) -> str:
    """", and of the validation sites X, Y" where `train.strokes --also-train` trained on them too, else ""."""
    sites = training.get("also_trained") or []
    return f" and of the validation sites {', '.join(sites)}" if sites else ""


def stroke_model_lines(strokes) -> list[str]:
    """The card's part on the stroke model (checkpoint.StrokeReader): what it is, its data, its weight, its figures."""
    from .model import StrokeNet

    t = strokes.training or {}
    figures = t.get("figures") or {}
    lines = ["", f"**Stroke model**: for a drawing (the page's canvas, the API's stroke JSON; each letter of a drawn "
             f"line not read as a word, sticks aside), a "
             f"{count_parameters(StrokeNet(strokes.config)):,}-parameter 1-d CNN also reads the pen's path (its strokes' "
             f"order and direction, resampled to 64 points: `strokes.trajectory`), and its log-probabilities times "
             f"{strokes.weight:g} ({'given' if t.get('weight_given') else 'chosen on the pen validation sites'}) are added to the CNN's logits. Trained on "
             f"{t.get('train_characters', 0):,} UNIPEN characters of the training sites{also_trained(t)} (the credit above{cut_joined_words(t)}), each epoch "
             f"drawn anew with varied slant, turn, width and jitter, to ByMerge's class mix, on "
             f"{t.get('machine', 'an unrecorded machine')}" + (f", commit {t['commit']}" if t.get("commit") else "")
             + f": `{t.get('command', '?')}`. Images (photos, uploads) are read by the CNN alone."]
    if figures.get("cnn") and figures.get("with_strokes"):
        lines += ["", f"| pen validation sites ({', '.join(t.get('val_sites') or ['?'])}) | characters | strict | "
                  "tolerant | top-5 |", "| --- | --- | --- | --- | --- |"]
        for name, label in (("cnn", "CNN alone"), ("with_strokes", "with the stroke model")):
            lines += [f"| {kind}, {label} | {m['n']:,} | {percent(m['strict'])} | {percent(m['tolerant'])} | "
                      f"{percent(m['top5'])} |" for kind, m in figures[name].items()]
        for name, label in (("cnn", "CNN alone"), ("with_strokes", "with the stroke model")):
            d = (figures.get("omniglot") or {}).get(name)
            if d:
                lines.append(f"| Omniglot's mouse-drawn letters, {label} | {d['n']:,} | {percent(d['strict'])} "
                             f"(either case) | {percent(d['tolerant'])} | {percent(d['top5'])} |")
    return lines
