"""Read characters: `Predictor` for code, `python -m emnist_core.predict IMAGE [IMAGE ...]` for people.

    python -m emnist_core.predict drawing.png photo.jpg --json [--only digits]
    [{"file": "drawing.png", "top5": [["a", 0.91], ...], "p_digit": 0.01, "kind": "letter", "lookalikes": null}, ...]
    python -m emnist_core.predict --line postcode.jpg --only digits --json
    [{"file": "postcode.jpg", "text": "75011", "characters": [{"box": [x0, y0, x1, y1], "top5": ...}, ...]}]
    python -m emnist_core.predict --line word.png --words     # an English word: a word list helps

What is written is one value everywhere, the page's and the API's too (inference.WRITINGS): "any",
"digits", "letters", or for a line "word", an English word; Predictor's methods take it as `writing`.
"""

import argparse
import json
import logging
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_CHECKPOINT, CheckpointError, describe_error, load_checkpoint
from .inference import (ANY, DIGITS, LETTERS, ONLY_CHOICES, WORD, classes_of, model_outputs, probabilities, ranked,
                        readings, stroke_log_probs, with_strokes)
from .labels import NUM_DIGITS, are_lookalikes
from .preprocess import Prepared, UnusableImage, emnist_from_mask, prepare, prepared
from .segment import LINE_MAX_SIDE, MAX_CHARACTERS, LinePieces, line_from_drawing, line_from_image
from .sequence import TWO_CASES, SequenceReader, checked, fuse, in_case, judge
from .strokes import StrokeDrawing, emnist_from_drawing, render_drawing, strokes_in_box, trajectory
from .words import ALPHABET, LineScores, WordListUnavailable, best_word, english, letter_log_probs, spelled

BESIDE_THREADS = 2  # lines whose word-model reading may run beside segmentation's at once (more wait)
HALVES_FROM = 32  # a batch this large (a line's candidates) is read in two halves at once: 2 cores, 1 torch thread each
LOOKALIKE_MIN_PROB = 0.10  # a look-alike runner-up this likely makes the reading worth a warning
# A line of letters is written in one case, its first letter aside ("It", "THE", "the"). ByMerge keeps 11
# letters in both cases (TWO_CASES); the line's case is the side their readings lean to, over every
# character but the first, each counting log((P(capitals) + CASE_SMOOTHING) / (P(small) + CASE_SMOOTHING)).
# Then the other case's 11 letters weigh CASE_OTHER nats less in each later character's reading, and in
# capitals a stick reads as I rather than l (EMNIST's merged l/L class takes most sticks: 1.5 nats more
# for I). Chosen on dev writers (docs/RESULTS.md, real words; CASE_OTHER -2 -> -8 on 2026-12-07: once the case
# is decided, the other case's letters are all but ruled out); the grouping is not changed by it.
CASE_SMOOTHING, CASE_OTHER, CASE_STICK = 0.1, -8.0, 1.5
CASE_MARGIN = 1.0  # the lean must pass this, one way or the other, to decide the case (0 cost letter lines 0.9 points)
# A drawn line's characters are read again with their own strokes (the runs of the line's strokes inside each
# character's box) by the stroke model, as a drawing is, except where the CNN or that reading says a stick: a
# stick's class (1, I, or EMNIST's merged l/L) is the line's case to settle (CASE_STICK), which one character's
# path cannot see (rim's printed words, letters only: 88.8 -> 90.3% characters with this rule, 87.3% without it
# in a first try: docs/RESULTS.md). Not as a word: there the word decides (reading every candidate so cost 2.5
# points of whole words).
STROKE_STICKS = "1IL"
log = logging.getLogger(__name__)


@dataclass
class Prediction:
    """One coherent reading: top5[0] is the character read, and `kind` and `p_digit` agree with it.

    Each character carries one probability, the same wherever it is shown (inference.probabilities' q):
    top5 is the reading, then the likeliest other classes of all 47, digits and letters alike. Where only
    digits or only letters are written, the other kind is left out and q renormalised over the one
    written. Under the "sum" and "head" rules the reading can be less likely than a class of the other
    kind (`passed_over`): digit or letter was decided first, by the kinds' totals."""
    top5: list[tuple[str, float]]  # (character, probability), the reading first, then the likeliest others
    p_digit: float  # probability that the character is a digit: >= 0.5 exactly when the reading is one
    image: np.ndarray = field(repr=False)  # (28, 28) uint8: what the model saw, shown upright

    @property
    def kind(self) -> str:
        return "digit" if self.top5[0][0].isdigit() else "letter"

    @property
    def passed_over(self) -> tuple[str, float] | None:
        """The likeliest class listed, when it is likelier than the reading: one of the other kind,
        passed over because that kind as a whole is less likely."""
        best = max(self.top5[1:], key=lambda entry: entry[1], default=None)
        return best if best is not None and best[1] > self.top5[0][1] else None

    @property
    def lookalikes(self) -> tuple[str, str] | None:
        """The reading and its likeliest listed look-alike (0/O, 1/I/L, a letter's two cases...) when
        that one holds at least LOOKALIKE_MIN_PROB: a reading only the writer can settle."""
        first = self.top5[0][0]
        for second, p in sorted(self.top5[1:], key=lambda entry: -entry[1]):
            if p >= LOOKALIKE_MIN_PROB and are_lookalikes(first, second):
                return first, second
        return None

    @property
    def lookalike_odds(self) -> tuple[float, float] | None:
        """(p(reading), p(look-alike)) of `lookalikes`: the same numbers as in top5."""
        pair = self.lookalikes
        return None if pair is None else (self.top5[0][1], dict(self.top5)[pair[1]])

    def to_json(self) -> dict:
        return {"top5": [[c, round(p, 5)] for c, p in self.top5], "p_digit": round(self.p_digit, 5),
                "kind": self.kind, "lookalikes": list(self.lookalikes) if self.lookalikes else None}


def percent(p: float) -> str:
    """A probability for people, as the page's top-5 (Gradio's Label) rounds it: a whole percent, half
    up; but no rounding up to a certainty the model does not have, nor down to none."""
    whole = math.floor(p * 100 + 0.5)
    return "over 99%" if whole >= 100 and p < 1 else "under 1%" if whole <= 0 and p > 0 else f"{whole}%"


def why_passed_over(prediction: Prediction) -> str | None:
    """Why the reading is not the likeliest character listed, in words; None when it is."""
    other = prediction.passed_over
    if other is None:
        return None
    kind = prediction.kind
    return (f"read as a {kind} although {other[0]} alone is likelier: this model decides digit or letter "
            f"first, and the {kind}s together are likelier here")


@dataclass
class LineReading:
    characters: list[tuple[tuple[int, int, int, int], Prediction]]  # (box x0, y0, x1, y1; reading), left to right
    word: str | None = None  # read as a word of the word list (writing "word"), one per character
    words_asked: bool = False  # whether the word list was asked for (the reading may be no word of it)
    joined: str | None = None  # the line read whole by the word model (sequence.py), chosen over the characters
    checked: str | None = None  # letters only: the characters read again with the word model's help (sequence.checked)

    @property
    def letters(self) -> str:
        """What each character reads as alone, left to right."""
        return "".join(prediction.top5[0][0] for _, prediction in self.characters)

    @property
    def text(self) -> str:
        """The line read whole, when that reading was chosen; else the word, when the line was read as one;
        else the characters read again with the word model's help, where that changed them; else the
        characters' own readings."""
        return self.joined or self.word or self.checked or self.letters

    def to_json(self) -> dict:
        found = {"text": self.text}
        if self.words_asked:
            found.update(in_word_list=self.word is not None, letters=self.letters)
        if self.joined:
            found.update(read_whole=True, letters=self.letters)
        elif self.checked:
            found.update(checked_by_word_model=True, letters=self.letters)
        return {**found, "characters": [{"box": list(box), **prediction.to_json()} for box, prediction in self.characters]}


def unreadable(error: Exception) -> UnusableImage:
    """An unexpected failure while reading one input, as a message for people (details in the log)."""
    log.debug("could not prepare an input", exc_info=error)
    result = UnusableImage(f"This input could not be read ({type(error).__name__}); try another image file or format.")
    result.__cause__ = error
    return result


class Predictor:
    """A loaded checkpoint with the preprocessing it expects. Thread-safe for inference."""

    def __init__(self, checkpoint_path: str | Path = DEFAULT_CHECKPOINT, device: str = "cpu",
                 word_process: bool = False):
        """`word_process`: the word model reads drawn lines in a process of its own (the page's setting,
        demo.main: sequence.WordModelProcess); else on a thread beside segmentation."""
        self.word_process = word_process
        self.checkpoint_path = Path(checkpoint_path)
        self.checkpoint = load_checkpoint(self.checkpoint_path)
        self.model = self.checkpoint.build_model(str(self.checkpoint_path)).to(device)
        strokes = self.checkpoint.strokes
        self.stroke_model = strokes.build_model(str(self.checkpoint_path)) if strokes is not None else None
        self.labels = self.checkpoint.labels

    def predict_emnist(self, images: np.ndarray, writing: str = ANY,
                       trajectories: list[np.ndarray | None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, 28, 28) uint8 already in the model's orientation -> (coherent class probabilities (N, C),
        P(digit) (N,)); `writing` "digits" or "letters" (or "word") renormalises over those classes.
        `trajectories`: for each image drawn from strokes, its pen path (strokes.trajectory), else None;
        where the checkpoint has a stroke model, it reads those too (inference.with_strokes)."""
        probs, p_digit, _ = self.predict_with_energy(images, writing, trajectories)
        return probs, p_digit

    def predict_with_energy(self, images: np.ndarray, writing: str = ANY,
                            trajectories: list[np.ndarray | None] | None = None
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """predict_emnist's two, and each image's energy (N,): the log-sum-exp of the CNN's logits of the
        classes `writing` allows, which is high where the image looks like some character of them and low
        where it looks like none (two letters' ink, half a letter): segment weighs it."""
        only = classes_of(writing)
        batch = torch.from_numpy(np.ascontiguousarray(images))
        if len(batch) >= HALVES_FROM:  # a line's candidates: two halves on two cores (torch frees the lock)
            halves = self._halves.map(lambda part: model_outputs(self.model, part, self.checkpoint.input_spec),
                                      batch.tensor_split(2))
            logits, digit_logits = (torch.cat(parts) for parts in zip(*halves))
        else:
            logits, digit_logits = model_outputs(self.model, batch, self.checkpoint.input_spec)
        allowed = logits[:, NUM_DIGITS:] if only == LETTERS else logits[:, :NUM_DIGITS] if only == DIGITS else logits
        energy = torch.logsumexp(allowed.float(), dim=1).numpy()
        drawn = [k for k, t in enumerate(trajectories or []) if t is not None]
        if self.stroke_model is not None and drawn:
            paths = torch.from_numpy(np.stack([trajectories[k] for k in drawn]))
            logits = logits.float().clone()
            logits[drawn] = with_strokes(logits[drawn], stroke_log_probs(self.stroke_model, paths),
                                         self.checkpoint.strokes.weight)
        probs, p_digit = probabilities(logits, digit_logits, self.checkpoint.digit_source, only)
        return probs.numpy(), p_digit.numpy(), energy

    def predict_many(self, values: list, writing: str = ANY) -> list[Prediction | UnusableImage]:
        """Each input read, preprocessed and classified in one batch; unusable ones come back as errors.
        `writing`: "digits" or "letters" when the writer says which they wrote, else "any"."""
        classes_of(writing)  # checked before any input is read, not after
        items = []
        for value in values:
            try:
                items.append(self.prepare(value))
            except UnusableImage as error:
                items.append(error)
            except Exception as error:  # one broken input must not cost the others their readings
                items.append(unreadable(error))
        ready = [p for p in items if not isinstance(p, UnusableImage)]
        usable = iter(self.classify([p.model_input for p in ready], [p.upright for p in ready], writing,
                                    [p.trajectory for p in ready]))
        return [item if isinstance(item, UnusableImage) else next(usable) for item in items]

    def prepare(self, value) -> Prepared:
        """One input -> what the model sees. A drawing (StrokeDrawing) goes straight from its strokes' ink
        (strokes.emnist_from_drawing, as training drew UNIPEN); anything else through the image path."""
        transposed = self.checkpoint.input_spec.transposed
        if isinstance(value, StrokeDrawing):
            ready = prepared(emnist_from_drawing(value), transposed)
            ready.trajectory = trajectory(value.strokes)
            return ready
        return prepare(value, transposed)

    def classify(self, model_inputs: list[np.ndarray], uprights: list[np.ndarray],
                 writing: str = ANY, trajectories: list[np.ndarray | None] | None = None) -> list[Prediction]:
        """28x28 images in the model's orientation (and as shown upright), with each drawing's pen path
        (None for an image) -> one Prediction each."""
        if not model_inputs:
            return []
        return self._predictions(*self.predict_emnist(np.stack(model_inputs), writing, trajectories), uprights)

    def _predictions(self, probs: np.ndarray, p_digit: np.ndarray, uprights: list[np.ndarray]) -> list[Prediction]:
        """Each image's reading first, then its likeliest other classes, with their probabilities."""
        order = ranked(torch.from_numpy(probs), torch.from_numpy(p_digit)).numpy()
        return [Prediction(top5=[(self.labels[i], float(probs[k, i])) for i in order[k, :5]],
                           p_digit=float(p_digit[k]), image=upright) for k, upright in enumerate(uprights)]

    def read_line(self, value, writing: str = ANY) -> "LineReading":
        """One handwritten line -> its characters, left to right, each read as predict reads one;
        `writing` as for predict_many, or "word": the line is an English word, most likely (letters,
        and the word list decides close calls; emnist_core.words). Raises UnusableImage with a message
        for people."""
        classes_of(writing)
        try:
            line = line_from_image(value)
        except UnusableImage:
            raise
        except Exception as error:  # as predict_many does: a broken input gets a message, never a traceback
            raise unreadable(error) from error
        return self._read_pieces(line, writing)

    def read_line_strokes(self, drawing, writing: str = ANY, rendered: np.ndarray | None = None) -> "LineReading":
        """A line drawn on the page (a strokes.StrokeDrawing) -> its characters, as read_line; the
        strokes are the pieces, so letters drawn into each other still part where one stroke ends.
        `rendered`: the drawing as strokes.render_drawing drew it, if the caller has it already."""
        classes_of(writing)
        reader = self.word_reader if writing in (LETTERS, WORD) else None
        if reader is None:
            return self._read_pieces(line_from_drawing(drawing, rendered), writing, drawing=drawing)
        if rendered is None:  # rendered once, for both readers
            rendered = render_drawing(drawing, max_side=LINE_MAX_SIDE)
        # the word model reads the line whole (in its own process, or on a second thread) while segmentation reads it here
        process = self.word_model_process
        pending = (process.submit(drawing, writing == WORD, rendered) if process is not None
                   else self._beside.submit(reader.read_whole, drawing, writing == WORD, rendered))
        whole = partial(self._whole, pending, process, drawing, writing == WORD, rendered)  # waits for its answer
        try:  # as a word, the two readings are fused inside (sequence.fuse); letters only, judged after
            reading = self._read_pieces(line_from_drawing(drawing, rendered), writing,
                                        whole if writing == WORD else None, drawing)
        except BaseException:
            pending.cancel()  # where it has not started; else it ends on its own (bounded work)
            raise
        if writing == LETTERS:
            read_whole = whole()
            reading.joined = judge(read_whole, reading.text)
            if reading.joined is None:
                reading.checked = checked(read_whole, [prediction.top5 for _, prediction in reading.characters])
        return reading

    def _whole(self, pending, process, drawing: StrokeDrawing, words: bool, rendered: np.ndarray | None):
        """The word model's reading of the line from `pending` (of `process`, or of a thread where None); where
        that process has stopped (or never started), read here instead, and from now on on a thread (the log
        says why)."""
        try:
            return pending.result()
        except BrokenProcessPool as error:
            log.warning("the word model's process stopped (%s); it reads beside segmentation on a thread now",
                        describe_error(error))
            process.close()
            self.word_model_process = None  # a line read at the same time may say so too: both read here
            return self.word_reader.read_whole(drawing, words, rendered)

    def close(self) -> None:
        """Stop the word model's own process, if one was started (the page does so as it stops)."""
        process = self.__dict__.get("word_model_process")  # cached_property's value, without starting one
        if process is not None:
            process.close()

    @cached_property
    def word_model_process(self):
        """sequence.WordModelProcess of the word reader's checkpoint where `word_process` was asked for and
        there is a word model loaded from files; else None (the word model reads on a thread)."""
        from .sequence import WordModelProcess
        reader = self.word_reader
        if not self.word_process or reader is None or reader.path is None \
                or (reader.pen_model is not None and reader.pen_path is None):
            return None
        return WordModelProcess(reader.path, reader.pen_path)

    @cached_property
    def _halves(self) -> ThreadPoolExecutor:
        """Two threads, each reading half of a large batch with the page's one torch thread."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="halves")

    @cached_property
    def _beside(self) -> ThreadPoolExecutor:
        """Threads for the word model's reading of a line beside segmentation's (one per line read at once)."""
        return ThreadPoolExecutor(max_workers=BESIDE_THREADS, thread_name_prefix="word-model")

    @cached_property
    def word_reader(self):
        """The word model that reads a drawn line of letters whole (sequence.SequenceReader: joined-up
        writing, which segmentation cannot part), loaded at the first drawn line; None where its checkpoint
        is absent or unreadable (then lines are read by segmentation alone, as before; the log says why, once)."""
        from .sequence import SequenceCheckpointError, SequenceReader
        try:
            return SequenceReader()
        except SequenceCheckpointError as error:
            log.warning("lines are read by segmentation alone: %s", error)
            return None

    def _read_pieces(self, line: LinePieces, writing: str, whole=None, drawing: StrokeDrawing | None = None
                     ) -> "LineReading":
        """Read every candidate character of the line in one batch; keep the grouping read best. `whole`: for a
        drawn line read as a word, a call that gives the word model's reading of it (sequence.Whole or None), to
        fuse with this one (sequence.fuse). `drawing`: the line's strokes, where it was drawn: the characters
        kept are read again with them (STROKE_STICKS), unless the line was read as a word."""
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
        probs, p_digit, energy = self.predict_with_energy(inputs, writing)
        reading = readings(torch.from_numpy(probs), torch.from_numpy(p_digit)).numpy()
        bonus = line.reading_bonus(energy)  # what the model's energy adds to each reading's score
        scores = np.full(len(candidates), -np.inf)
        scores[usable] = np.log(np.maximum(probs[np.arange(len(usable)), reading], 1e-30)) + bonus
        chosen = line.choose(scores)
        word, words, joined = None, writing == WORD, None
        if words:  # the line read again as each word of the list; the likelier reading wins
            letter_scores = np.full((len(candidates), len(ALPHABET)), -np.inf)
            letter_scores[usable] = letter_log_probs(probs, self.labels) + bonus[:, None]
            word_list = english()  # raises WordListUnavailable (its message says how to get it) without wordfreq
            scored = LineScores(line, letter_scores)
            fused = fuse(whole(), scored) if whole is not None else None
            if fused is None:  # no word model's reading: segmentation searches the word list alone
                found = best_word(line, scored, word_list, free_length=len(chosen))
                if found is not None:
                    chosen, word = found.path, found.word
            elif fused.path is None:  # joined-up writing: the word model's reading
                joined = fused.text if fused.text != scored.free_text else None
            else:  # both models' choice, grouped as segmentation reads it
                known = SequenceReader.word_list()
                chosen, listed = fused.path, known is not None and fused.text in known.log_priors
                word = fused.text if listed else None
                joined = fused.text if not listed and fused.text != scored.free_text else None
        row = {id(candidates[k]): n for n, k in enumerate(usable)}
        kept = [c for c in chosen if id(c) in row]  # an unreadable piece the grouping kept is no character
        if not kept:
            raise UnusableImage("No characters found: write a word or a number.")
        if len(kept) > MAX_CHARACTERS:
            raise UnusableImage(f"{len(kept)} characters found; at most {MAX_CHARACTERS} are read at once: "
                                f"write a shorter line.")
        rows = [row[id(c)] for c in kept]
        kept_probs, kept_digit = probs[rows], p_digit[rows]
        if drawing is not None and not words and self.stroke_model is not None:
            own = [strokes_in_box(drawing.strokes, line.box(c)) for c in kept]
            kept_probs, kept_digit = self._with_own_strokes(kept_probs, kept_digit, inputs[rows], writing, own)
        chosen_probs = self._in_one_case(kept_probs) if classes_of(writing) == LETTERS and word is None else kept_probs
        predictions = self._predictions(chosen_probs, kept_digit, [uprights[usable[r]] for r in rows])
        if word is not None:
            word = spelled(word, self.upper_odds(word, probs[rows])) if len(kept) == len(word) else None
        reading = LineReading([(line.box(c), p) for c, p in zip(kept, predictions)], word, words)
        reading.joined = in_case(joined, reading.text) if joined else None
        return reading

    def _with_own_strokes(self, probs: np.ndarray, p_digit: np.ndarray, inputs: np.ndarray, writing: str,
                          strokes: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """A drawn line's characters (their CNN probabilities, P(digit), model inputs and own strokes) read again
        with the stroke model; each keeps the CNN's reading where either reading is one of STROKE_STICKS."""
        drawn = [k for k, own in enumerate(strokes) if own]
        if not drawn:
            return probs, p_digit
        again, again_digit = self.predict_emnist(inputs[drawn], writing, [trajectory(strokes[k]) for k in drawn])
        sticks = [self.labels.index(c) for c in STROKE_STICKS if c in self.labels]
        before = readings(torch.from_numpy(probs[drawn]), torch.from_numpy(p_digit[drawn])).numpy()
        after = readings(torch.from_numpy(again), torch.from_numpy(again_digit)).numpy()
        take = ~np.isin(before, sticks) & ~np.isin(after, sticks)
        probs, p_digit = probs.copy(), p_digit.copy()
        probs[np.array(drawn)[take]], p_digit[np.array(drawn)[take]] = again[take], again_digit[take]
        return probs, p_digit

    def _in_one_case(self, probs: np.ndarray) -> np.ndarray:
        """A line of letters' characters (probabilities, left to right) read in the line's case: see
        TWO_CASES. The first character keeps its own reading; the others' probabilities are reweighed
        and renormalised, so what is shown is what is read."""
        if len(probs) < 2:
            return probs
        index = {label: k for k, label in enumerate(self.labels)}
        capitals = [index[c.upper()] for c in TWO_CASES if c.upper() in index and c in index]
        small = [index[c] for c in TWO_CASES if c.upper() in index and c in index]
        if not capitals:
            return probs
        lean = float(np.sum(np.log((probs[1:, capitals].sum(1) + CASE_SMOOTHING)
                                   / (probs[1:, small].sum(1) + CASE_SMOOTHING))))
        if abs(lean) <= CASE_MARGIN:
            return probs
        weights = np.ones(probs.shape[1])
        weights[small if lean > 0 else capitals] = np.exp(CASE_OTHER)
        if lean > 0 and "I" in index:
            weights[index["I"]] = np.exp(CASE_STICK)
        later = probs[1:] * weights
        later /= np.maximum(later.sum(1, keepdims=True), 1e-30)
        return np.concatenate([probs[:1], later.astype(probs.dtype)])

    def upper_odds(self, word: str, probs: np.ndarray) -> list[float | None]:
        """Per letter of the word, the log-odds of its capital over its small letter as read, for the
        letters ByMerge keeps in both cases (a, b, d, e, f, g, h, n, q, r, t); None for the others."""
        index = {label: k for k, label in enumerate(self.labels)}
        return [float(np.log(max(p[index[c.upper()]], 1e-30) / max(p[index[c]], 1e-30)))
                if c in index and c.upper() in index and c != c.upper() else None for c, p in zip(word, probs)]

    def predict(self, value, writing: str = ANY) -> Prediction:
        """One input -> Prediction (`writing` as for predict_many); raises UnusableImage with a message
        for people."""
        result = self.predict_many([value], writing)[0]
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
    if args.words and args.only == DIGITS:
        parser.error("--words reads letters: it cannot go with --only digits")
    writing = WORD if args.words else args.only or ANY
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
        results = [_read_line_or_error(predictor, image, writing) for image in args.images]
    else:
        results = predictor.predict_many(args.images, writing)
    names = [printable(f) for f in args.images]
    if args.json:
        print(json.dumps([{"file": f, "error": printable(str(r))} if isinstance(r, UnusableImage)
                          else {"file": f, **r.to_json()} for f, r in zip(names, results)]))
    else:
        for f, r in zip((one_line(f) or "''" for f in args.images), results):
            print(f"{f}: cannot read it: {printable(str(r))}" if isinstance(r, UnusableImage) else f"{f}: {_in_words(r)}")
    return 0 if any(not isinstance(r, UnusableImage) for r in results) else 1


def _read_line_or_error(predictor: Predictor, image, writing: str) -> LineReading | UnusableImage:
    try:
        return predictor.read_line(image, writing)
    except UnusableImage as error:
        return error
    except Exception as error:  # as in predict_many: one broken file must not end the batch
        return unreadable(error)


def _in_words(result: Prediction | LineReading) -> str:
    if isinstance(result, LineReading):
        word = (f"; a word of the word list, letter by letter {result.letters}" if result.word
                else "; no word of the word list" if result.words_asked else "")
        return f"{result.text} ({len(result.characters)} characters; " + "; ".join(
            f"{p.top5[0][0]} {percent(p.top5[0][1])}" for _, p in result.characters) + word + ")"
    (char, p), why = result.top5[0], why_passed_over(result)
    guesses = ", ".join(f"{c} {percent(q)}" for c, q in result.top5)
    notes = [f"looks alike: {'/'.join(result.lookalikes)}" if result.lookalikes else None, why]
    return f"{char} {percent(p)} — a {result.kind}; top-5 {guesses}" + "".join(f" ({n})" for n in notes if n)


if __name__ == "__main__":
    sys.exit(main())
