"""Read characters: `Predictor` for code, `python -m emnist_core.predict IMAGE [IMAGE ...]` for people.

    python -m emnist_core.predict drawing.png photo.jpg --json
    [{"file": "drawing.png", "top5": [["a", 0.91], ...], "p_digit": 0.01, "kind": "letter"}, ...]
"""

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint
from .inference import model_outputs, probabilities
from .labels import are_lookalikes
from .preprocess import UnusableImage, prepare

LOOKALIKE_MIN_PROB = 0.15  # a runner-up this likely makes the reading ambiguous
log = logging.getLogger(__name__)


@dataclass
class Prediction:
    top5: list[tuple[str, float]]  # (character, probability), most likely first
    p_digit: float  # probability that the character is a digit
    image: np.ndarray  # (28, 28) uint8: what the model saw, shown upright

    @property
    def kind(self) -> str:
        return "digit" if self.p_digit >= 0.5 else "letter"

    @property
    def lookalikes(self) -> tuple[str, str] | None:
        """The top two classes when they are a look-alike pair the model cannot split with confidence."""
        (first, _), (second, p_second) = self.top5[0], self.top5[1]
        if p_second >= LOOKALIKE_MIN_PROB and are_lookalikes(first, second):
            return first, second
        return None

    def to_json(self) -> dict:
        return {"top5": [[c, round(p, 5)] for c, p in self.top5], "p_digit": round(self.p_digit, 5),
                "kind": self.kind, "lookalikes": list(self.lookalikes) if self.lookalikes else None}


class Predictor:
    """A loaded checkpoint with the preprocessing it expects. Thread-safe for inference."""

    def __init__(self, checkpoint_path: str | Path = DEFAULT_CHECKPOINT, device: str = "cpu"):
        self.checkpoint_path = Path(checkpoint_path)
        self.checkpoint = load_checkpoint(self.checkpoint_path)
        self.model = self.checkpoint.build_model(str(self.checkpoint_path)).to(device)
        self.labels = self.checkpoint.labels

    def predict_emnist(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 28, 28) uint8 already in the model's orientation -> (probabilities (N, C), P(digit) (N,))."""
        logits, digit_logits = model_outputs(self.model, torch.from_numpy(np.ascontiguousarray(images)),
                                             self.checkpoint.input_spec)
        probs, p_digit = probabilities(logits, digit_logits, self.checkpoint.digit_source)
        return probs.numpy(), p_digit.numpy()

    def predict_many(self, values: list) -> list[Prediction | UnusableImage]:
        """Each input read, preprocessed and classified in one batch; unusable ones come back as errors."""
        prepared = []
        for value in values:
            try:
                prepared.append(prepare(value, self.checkpoint.input_spec.transposed))
            except UnusableImage as error:
                prepared.append(error)
            except Exception as error:  # one broken input must not cost the others their readings
                log.debug("could not prepare an input", exc_info=True)
                unreadable = UnusableImage(f"This input could not be read ({type(error).__name__}); "
                                           f"try another image file or format.")
                unreadable.__cause__ = error
                prepared.append(unreadable)
        usable = [p for p in prepared if not isinstance(p, UnusableImage)]
        if usable:
            probs, p_digit = self.predict_emnist(np.stack([p.model_input for p in usable]))
        results, k = [], 0
        for item in prepared:
            if isinstance(item, UnusableImage):
                results.append(item)
                continue
            order = np.argsort(-probs[k])[:5]
            results.append(Prediction(top5=[(self.labels[i], float(probs[k, i])) for i in order],
                                      p_digit=float(p_digit[k]), image=item.upright))
            k += 1
        return results

    def predict(self, value) -> Prediction:
        """One input -> Prediction; raises UnusableImage with a message for people."""
        result = self.predict_many([value])[0]
        if isinstance(result, UnusableImage):
            raise result
        return result


def printable(text: str) -> str:
    """A file name or message made safe to print: bytes that were not valid UTF-8 in a file name
    (kept by Python as lone surrogates) become \\xNN escapes instead of crashing the output."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def main(argv=None) -> int:
    """Exit status: 0 when at least one image was read, 1 when none could be, 2 for a usage or
    checkpoint error (argparse exits with 2 itself)."""
    parser = argparse.ArgumentParser(description="Read handwritten characters in image files.",
                                     epilog="exit status: 0 at least one image read, 1 none could be read, "
                                            "2 usage or checkpoint error")
    parser.add_argument("images", nargs="+", help="image files, one character each")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--json", action="store_true", help="print one JSON list, one object per image")
    args = parser.parse_args(argv)
    try:
        predictor = Predictor(args.checkpoint)
    except CheckpointError as error:
        print(printable(f"error: {error}"), file=sys.stderr)
        return 2
    results = predictor.predict_many(args.images)
    names = [printable(f) for f in args.images]
    if args.json:
        print(json.dumps([{"file": f, "error": printable(str(r))} if isinstance(r, UnusableImage)
                          else {"file": f, **r.to_json()} for f, r in zip(names, results)]))
    else:
        for f, r in zip(names, results):
            if isinstance(r, UnusableImage):
                print(f"{f}: cannot read it: {printable(str(r))}")
                continue
            guesses = ", ".join(f"{c} {p:.1%}" for c, p in r.top5)
            note = f" (looks alike: {'/'.join(r.lookalikes)})" if r.lookalikes else ""
            print(f"{f}: {r.top5[0][0]} — {r.kind} {max(r.p_digit, 1 - r.p_digit):.0%}; top-5 {guesses}{note}")
    return 0 if any(not isinstance(r, UnusableImage) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
