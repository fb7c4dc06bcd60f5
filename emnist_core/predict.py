"""Read characters: `Predictor` for code, `python -m emnist_core.predict IMAGE [IMAGE ...]` for people.

    python -m emnist_core.predict drawing.png photo.jpg --json [--only digits]
    [{"file": "drawing.png", "top5": [["a", 0.91], ...], "p_digit": 0.01, "kind": "letter", "lookalikes": null}, ...]
    python -m emnist_core.predict --line postcode.jpg --only digits --json
    [{"file": "postcode.jpg", "text": "75011", "characters": [{"box": [x0, y0, x1, y1], "top5": ...}, ...]}]
    python -m emnist_core.predict --line word.png --words     # an English word: a word list helps
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
from .inference import ONLY_CHOICES, check_only, model_outputs, probabilities, ranked, readings, within_kind
from .labels import NUM_DIGITS, are_lookalikes
from .preprocess import Prepared, UnusableImage, emnist_from_mask, prepare, prepared
from .segment import MAX_CHARACTERS, LinePieces, line_from_drawing, line_from_image
from .strokes import StrokeDrawing, emnist_from_drawing
from .words import ALPHABET, WordListUnavailable, best_word, english, letter_log_probs, spelled

LOOKALIKE_MIN_PROB = 0.10  # a look-alike runner-up this likely makes the reading worth a warning
log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One coherent reading: top5[0] is the character read, and `kind` and `p_digit` agree with it.

    top5 holds p(c | the reading's kind): the classes of the kind read, renormalised over that kind
    (inference.within_kind), so the reading is first and the most probable of what is shown, under
    any reading rule; how likely that kind is, is `p_digit`. The likeliest class of the other kind is
    `rival`, with its probability overall, so a look-alike across kinds (0/O, 2/Z) is still flagged."""
    top5: list[tuple[str, float]]  # (character, p(character | its kind)), the reading first
    p_digit: float  # probability that the character is a digit: >= 0.5 exactly when the reading is one
    image: np.ndarray  # (28, 28) uint8: what the model saw, shown upright
    rival: tuple[str, float] | None = None  # the other kind's likeliest class, probability overall

    @property
    def kind(self) -> str:
        return "digit" if self.top5[0][0].isdigit() else "letter"

    @property
    def p_kind(self) -> float:
        """How likely the kind read is (P(digit) for a digit, P(letter) for a letter)."""
        return self.p_digit if self.kind == "digit" else 1 - self.p_digit

    @property
    def lookalikes(self) -> tuple[str, str] | None:
        """The reading and its runner-up when they are a look-alike pair (0/O, 1/I/L, a letter's two
        cases...) and the runner-up holds at least LOOKALIKE_MIN_PROB: a reading only the writer can
        settle. The runner-up is the second of top5 or, when more likely overall, the rival."""
        first = self.top5[0][0]
        candidates = []
        if len(self.top5) > 1 and self.top5[1][1] >= LOOKALIKE_MIN_PROB:
            candidates.append((self.top5[1][1] * self.p_kind, self.top5[1][0]))
        if self.rival is not None and self.rival[1] >= LOOKALIKE_MIN_PROB:
            candidates.append((self.rival[1], self.rival[0]))
        for _, second in sorted(candidates, reverse=True):
            if are_lookalikes(first, second):
                return first, second
        return None

    @property
    def lookalike_odds(self) -> tuple[float, float] | None:
        """(p(reading), p(runner-up)) of `lookalikes` on one scale: within the kind for a same-kind pair,
        overall when the runner-up is the rival."""
        pair = self.lookalikes
        if pair is None:
            return None
        if self.rival is not None and pair[1] == self.rival[0]:
            return self.top5[0][1] * self.p_kind, self.rival[1]
        return self.top5[0][1], dict(self.top5)[pair[1]]

    def to_json(self) -> dict:
        return {"top5": [[c, round(p, 5)] for c, p in self.top5], "p_digit": round(self.p_digit, 5),
                "kind": self.kind, "lookalikes": list(self.lookalikes) if self.lookalikes else None}


@dataclass
class LineReading:
    characters: list[tuple[tuple[int, int, int, int], Prediction]]  # (box x0, y0, x1, y1; reading), left to right
    word: str | None = None  # read as a word of the word list (words=True), one per character
    words_asked: bool = False  # whether the word list was asked for (the reading may be no word of it)

    @property
    def letters(self) -> str:
        """What each character reads as alone, left to right."""
        return "".join(prediction.top5[0][0] for _, prediction in self.characters)

    @property
    def text(self) -> str:
        """The word, when the line was read as one; else the characters' own readings."""
        return self.word or self.letters

    def to_json(self) -> dict:
        found = {"text": self.text}
        if self.words_asked:
            found.update(in_word_list=self.word is not None, letters=self.letters)
        return {**found, "characters": [{"box": list(box), **prediction.to_json()} for box, prediction in self.characters]}


def unreadable(error: Exception) -> UnusableImage:
    """An unexpected failure while reading one input, as a message for people (details in the log)."""
    log.debug("could not prepare an input", exc_info=error)
    result = UnusableImage(f"This input could not be read ({type(error).__name__}); try another image file or format.")
    result.__cause__ = error
    return result


class Predictor:
    """A loaded checkpoint with the preprocessing it expects. Thread-safe for inference."""

    def __init__(self, checkpoint_path: str | Path = DEFAULT_CHECKPOINT, device: str = "cpu"):
        self.checkpoint_path = Path(checkpoint_path)
        self.checkpoint = load_checkpoint(self.checkpoint_path)
        self.model = self.checkpoint.build_model(str(self.checkpoint_path)).to(device)
        self.labels = self.checkpoint.labels

    def predict_emnist(self, images: np.ndarray, only: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 28, 28) uint8 already in the model's orientation -> (coherent class probabilities (N, C),
        P(digit) (N,)); `only` ("digits" / "letters") renormalises over those classes."""
        logits, digit_logits = model_outputs(self.model, torch.from_numpy(np.ascontiguousarray(images)),
                                             self.checkpoint.input_spec)
        probs, p_digit = probabilities(logits, digit_logits, self.checkpoint.digit_source, only)
        return probs.numpy(), p_digit.numpy()

    def predict_many(self, values: list, only: str | None = None) -> list[Prediction | UnusableImage]:
        """Each input read, preprocessed and classified in one batch; unusable ones come back as errors.
        `only`: "digits" or "letters" when the writer says which they wrote, else None."""
        check_only(only)  # before any input is read, not after
        items = []
        for value in values:
            try:
                items.append(self.prepare(value))
            except UnusableImage as error:
                items.append(error)
            except Exception as error:  # one broken input must not cost the others their readings
                items.append(unreadable(error))
        usable = iter(self.classify([p.model_input for p in items if not isinstance(p, UnusableImage)],
                                    [p.upright for p in items if not isinstance(p, UnusableImage)], only))
        return [item if isinstance(item, UnusableImage) else next(usable) for item in items]

    def prepare(self, value) -> Prepared:
        """One input -> what the model sees. A drawing (StrokeDrawing) goes straight from its strokes' ink
        (strokes.emnist_from_drawing, as training drew UNIPEN); anything else through the image path."""
        transposed = self.checkpoint.input_spec.transposed
        if isinstance(value, StrokeDrawing):
            return prepared(emnist_from_drawing(value), transposed)
        return prepare(value, transposed)

    def classify(self, model_inputs: list[np.ndarray], uprights: list[np.ndarray],
                 only: str | None = None) -> list[Prediction]:
        """28x28 images in the model's orientation (and as shown upright) -> one Prediction each."""
        if not model_inputs:
            return []
        return self._predictions(*self.predict_emnist(np.stack(model_inputs), only), uprights, only)

    def _predictions(self, probs: np.ndarray, p_digit: np.ndarray, uprights: list[np.ndarray],
                     only: str | None) -> list[Prediction]:
        q, p = torch.from_numpy(probs), torch.from_numpy(p_digit)
        order, shown = ranked(q, p).numpy(), within_kind(q, p).numpy()
        results = []
        for k, upright in enumerate(uprights):
            digit = p_digit[k] >= 0.5
            kind = [i for i in order[k] if (i < NUM_DIGITS) == digit]
            other = next((i for i in order[k] if (i < NUM_DIGITS) != digit and only is None), None)
            results.append(Prediction(
                top5=[(self.labels[i], float(shown[k, i])) for i in kind[:5]], p_digit=float(p_digit[k]),
                image=upright, rival=None if other is None else (self.labels[other], float(probs[k, other]))))
        return results

    def read_line(self, value, only: str | None = None, words: bool = False) -> "LineReading":
        """One handwritten line -> its characters, left to right, each read as predict reads one;
        `only` ("digits" or "letters") as for predict_many; `words`: the line is an English word, most
        likely (letters only; emnist_core.words). Raises UnusableImage with a message for people."""
        only = _line_only(only, words)
        try:
            line = line_from_image(value)
        except UnusableImage:
            raise
        except Exception as error:  # as predict_many does: a broken input gets a message, never a traceback
            raise unreadable(error) from error
        return self._read_pieces(line, only, words)

    def read_line_strokes(self, drawing, only: str | None = None, rendered: np.ndarray | None = None,
                          words: bool = False) -> "LineReading":
        """A line drawn on the page (a strokes.StrokeDrawing) -> its characters, as read_line; the
        strokes are the pieces, so letters drawn into each other still part where one stroke ends.
        `rendered`: the drawing as strokes.render_drawing drew it, if the caller has it already."""
        only = _line_only(only, words)
        return self._read_pieces(line_from_drawing(drawing, rendered), only, words)

    def _read_pieces(self, line: LinePieces, only: str | None, words: bool = False) -> "LineReading":
        """Read every candidate character of the line in one batch; keep the grouping read best."""
        candidates, uprights = line.readable, []
        for candidate in candidates:
            try:
                uprights.append(emnist_from_mask(line.ink(candidate)))
            except UnusableImage:  # a piece preprocessing cannot use (a lone dot) reads as nothing
                uprights.append(None)
        usable = [k for k, u in enumerate(uprights) if u is not None]
        if not usable:
            raise UnusableImage("No characters found: write a word or a number.")
        transposed = self.checkpoint.input_spec.transposed
        inputs = np.stack([prepared(uprights[k], transposed).model_input for k in usable])
        probs, p_digit = self.predict_emnist(inputs, only)
        reading = readings(torch.from_numpy(probs), torch.from_numpy(p_digit)).numpy()
        scores = np.full(len(candidates), -np.inf)
        scores[usable] = np.log(np.maximum(probs[np.arange(len(usable)), reading], 1e-30))
        chosen = line.choose(scores)
        word = None
        if words:  # the line read again as each word of the list; the likelier reading wins
            letter_scores = np.full((len(candidates), len(ALPHABET)), -np.inf)
            letter_scores[usable] = letter_log_probs(probs, self.labels)
            found = best_word(line, letter_scores, english(), free_length=len(chosen))
            if found is not None:
                chosen, word = found.path, found.word
        row = {id(candidates[k]): n for n, k in enumerate(usable)}
        kept = [c for c in chosen if id(c) in row]  # an unreadable piece the grouping kept is no character
        if not kept:
            raise UnusableImage("No characters found: write a word or a number.")
        if len(kept) > MAX_CHARACTERS:
            raise UnusableImage(f"{len(kept)} characters found; at most {MAX_CHARACTERS} are read at once: "
                                f"write a shorter line.")
        rows = [row[id(c)] for c in kept]
        predictions = self._predictions(probs[rows], p_digit[rows], [uprights[usable[r]] for r in rows], only)
        if word is not None:
            word = spelled(word, self._upper_odds(word, probs[rows])) if len(kept) == len(word) else None
        return LineReading([(line.box(c), p) for c, p in zip(kept, predictions)], word, words)

    def _upper_odds(self, word: str, probs: np.ndarray) -> float:
        """Mean log-odds of capital over small letter, over the word's letters that ByMerge keeps in
        both cases (a, b, d, e, f, g, h, n, q, r, t): > 0 when the word was written in capitals."""
        index = {label: k for k, label in enumerate(self.labels)}
        odds = [np.log(max(p[index[c.upper()]], 1e-30) / max(p[index[c]], 1e-30))
                for c, p in zip(word, probs) if c in index and c.upper() in index and c != c.upper()]
        return float(np.mean(odds)) if odds else 0.0

    def predict(self, value, only: str | None = None) -> Prediction:
        """One input -> Prediction; raises UnusableImage with a message for people."""
        result = self.predict_many([value], only)[0]
        if isinstance(result, UnusableImage):
            raise result
        return result


def _line_only(only: str | None, words: bool) -> str | None:
    """`only` checked; a word of the word list is letters only."""
    check_only(only)
    if words and only == "digits":
        raise ValueError("words=True reads letters: it cannot go with only='digits'")
    return "letters" if words else only


def printable(text: str) -> str:
    """A file name or message made safe to print: bytes that were not valid UTF-8 in a file name
    (kept by Python as lone surrogates) become \\xNN escapes instead of crashing the output."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that did not come from a file name
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def one_line(text: str) -> str:
    """`printable`, with control characters (a newline in a file name) escaped too, for text output."""
    return printable(text).translate(_CONTROL_ESCAPES)


_CONTROL_ESCAPES = {**{c: f"\\x{c:02x}" for c in [*range(32), 127]}, 9: "\\t", 10: "\\n", 13: "\\r"}


class _Parser(argparse.ArgumentParser):
    """argparse, but a file name that starts with "-" (taken for an option) gets a hint about `--`."""

    def error(self, message):
        options = {o for action in self._actions for o in action.option_strings}
        dashed = [a for a in getattr(self, "argv", []) if a.startswith("-") and a != "--"
                  and a.split("=", 1)[0] not in options]
        if dashed:
            message += (f"; to read a file whose name starts with '-', put it after '--': "
                        f"{self.prog} -- {one_line(dashed[0])}")
        super().error(message)


def main(argv=None) -> int:
    """Exit status: 0 when at least one image was read, 1 when none could be, 2 for a usage or
    checkpoint error (argparse exits with 2 itself)."""
    # `python -m` would show the file's name (predict.py); the console script shows its own (emnist-read).
    prog = "python -m emnist_core.predict" if Path(sys.argv[0]).name == "predict.py" else None
    parser = _Parser(prog=prog, description="Read handwritten characters in image files.",
                                     epilog="exit status: 0 at least one image read, 1 none could be read, "
                                            "2 usage or checkpoint error")
    parser.add_argument("images", nargs="+", help="image files, one character each (one line each with --line)")
    parser.add_argument("--line", action="store_true", help="each image is a line: a word, a number, a postcode")
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="default: the shipped one")
    parser.add_argument("--json", action="store_true", help="print one JSON list, one object per image")
    parser.add_argument("--only", choices=ONLY_CHOICES, help="the images hold only digits, or only letters")
    parser.add_argument("--words", action="store_true",
                        help="with --line: each line is an English word, most likely (letters; a word list decides "
                             "between close readings, and a clear non-word stays as read)")
    parser.argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(parser.argv)
    if args.words and not args.line:
        parser.error("--words reads whole lines: add --line")
    if args.words and args.only == "digits":
        parser.error("--words reads letters: it cannot go with --only digits")
    try:
        predictor = Predictor(args.checkpoint)
    except CheckpointError as error:
        print(printable(f"error: {error}"), file=sys.stderr)
        return 2
    if args.line:
        try:
            english() if args.words else None
        except WordListUnavailable as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        results = [_read_line_or_error(predictor, image, args.only, args.words) for image in args.images]
    else:
        results = predictor.predict_many(args.images, args.only)
    names = [printable(f) for f in args.images]
    if args.json:
        print(json.dumps([{"file": f, "error": printable(str(r))} if isinstance(r, UnusableImage)
                          else {"file": f, **r.to_json()} for f, r in zip(names, results)]))
    else:
        for f, r in zip((one_line(f) or "''" for f in args.images), results):
            print(f"{f}: cannot read it: {printable(str(r))}" if isinstance(r, UnusableImage) else f"{f}: {_in_words(r)}")
    return 0 if any(not isinstance(r, UnusableImage) for r in results) else 1


def _read_line_or_error(predictor: Predictor, image, only: str | None, words: bool = False
                        ) -> LineReading | UnusableImage:
    try:
        return predictor.read_line(image, only=only, words=words)
    except UnusableImage as error:
        return error
    except Exception as error:  # as in predict_many: one broken file must not end the batch
        return unreadable(error)


def _in_words(result: Prediction | LineReading) -> str:
    if isinstance(result, LineReading):
        word = (f"; a word of the word list, letter by letter {result.letters}" if result.word
                else "; no word of the word list" if result.words_asked else "")
        return f"{result.text} ({len(result.characters)} characters; " + "; ".join(
            f"{p.top5[0][0]} {p.top5[0][1]:.0%}" for _, p in result.characters) + word + ")"
    guesses = ", ".join(f"{c} {p:.1%}" for c, p in result.top5)
    note = f" (looks alike: {'/'.join(result.lookalikes)})" if result.lookalikes else ""
    return f"{result.top5[0][0]} — {result.kind} {max(result.p_digit, 1 - result.p_digit):.0%}; top-5 {guesses}{note}"


if __name__ == "__main__":
    sys.exit(main())
