"""--save-to: copy a finished model to where it will be used, never over a better one unless forced.

One guard for `python -m train` and `python -m train.finetune`: the new model and the one it replaces
(training: the checkpoint already at --save-to; fine-tuning: the one it started from) are scored on the
same validation images, and a fall of more than MAX_DROP refuses the copy (the run folder keeps the
model; exit status 1) unless --force. Then it says where the copy went and what reads it from there:
`python demo.py` and `python -m emnist_core.predict` in a clone read checkpoints/emnist_bymerge.pt beside
the code; installed commands (emnist-sketchpad, emnist-read; pyproject.toml) read the checkpoint that
was installed with them; any other file is read only when named (--checkpoint, EMNIST_CHECKPOINT).
"""

import sys
from pathlib import Path

import torch

from emnist_core.checkpoint import DEFAULT_CHECKPOINT, Checkpoint, CheckpointError, load_checkpoint, save_checkpoint

from .evaluate import headline, score

MAX_DROP = 0.003  # 0.3 points of (prior-weighted) validation: the most a copy may lose against what it replaces


def who_reads(path: str | Path) -> str:
    """What will read the checkpoint at `path`, in words."""
    target = Path(path).resolve()
    if target == DEFAULT_CHECKPOINT.resolve():
        return ("the page and the CLI read it by default (python demo.py, python -m emnist_core.predict; "
                "an installed copy of the project reads the checkpoint installed with it: pip install . again, "
                f"or name this one with --checkpoint {target})")
    return (f"nothing reads it unless told: python demo.py / emnist-sketchpad --checkpoint {target}, "
            f"python -m emnist_core.predict / emnist-read --checkpoint {target}, or EMNIST_CHECKPOINT={target} "
            f"(by default they read {DEFAULT_CHECKPOINT})")


def save_unless_worse(checkpoint: Checkpoint, path: str | Path, new: float, old: float | None, old_name: str,
                      force: bool) -> bool:
    """Write `checkpoint` to `path` unless its validation figure `new` is more than MAX_DROP below `old`
    (that of `old_name`, on the same images; None: nothing to compare with), or `force`. True when written."""
    if old is not None and old - new > MAX_DROP:
        verdict = (f"validation {new:.2%} against {old:.2%} for {old_name} on the same images, "
                   f"{100 * (old - new):.2f} points lower (more than {100 * MAX_DROP:.1f})")
        if not force:
            print(f"not saved to {path}: {verdict}; --force saves it anyway", file=sys.stderr)
            return False
        print(f"--force: saving it although its {verdict}")
    save_checkpoint(checkpoint, path)
    print(f"saved {Path(path).resolve()}: {who_reads(path)}")
    return True


def replaced_figure(path: str | Path, images: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                    device: torch.device) -> tuple[float | None, str]:
    """(validation figure, name) of the checkpoint already at `path`, scored on these images as the new
    model was; (None, "") when there is none, or none that can be read (said so)."""
    if not Path(path).exists():
        return None, ""
    try:
        old = load_checkpoint(path)
        model = old.build_model(str(path)).to(device)
    except CheckpointError as error:
        print(f"{path} holds no usable checkpoint ({error}): it will be replaced")
        return None, ""
    return headline(score(model, images, labels, old.digit_source, old.input_spec, weights)), "the checkpoint it replaces"
