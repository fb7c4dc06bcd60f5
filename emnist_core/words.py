"""An English word list as a prior on what a line of letters says: an opt-in way to read a word
(`Predictor.read_line(..., words=True)`, `--words`, the page's "An English word").

The line is read twice over the same candidate characters (segment.LinePieces): once as any string of
letters (the grouping and letters read best), and once as each word of the list (for every word, the
grouping of the pieces that reads best as that word's letters, by dynamic programming over all words of
one length at once). The two meet in one mixture: a line is a word of the list, as often as it is used
(wordfreq's frequencies), with probability IN_LIST, and any string of letters otherwise, each letter
one of 26; the model's readings are the likelihood, weighted against the language by LETTERS_WEIGHT.
The more probable reading wins, so a word read "hWe" letter by letter becomes "huge", while a string
that reads clearly as itself ("xqzv") stays as read.

The list: the WORD_COUNT most frequent words of English in wordfreq (a-z only, Apache-2.0; its data
CC BY-SA 4.0), loaded once on first use. The word model (sequence.py) reads from a longer list of its own
(english(sequence.WORD_COUNT)): it looks up only the words nearest its reading, so the list's length costs
it little, where this search's time grows with it.
"""

import functools
import math
import re
from dataclasses import dataclass, field

import numpy as np

WORD_COUNT = 50_000  # the most frequent words of English, a-z only (wordfreq's "best" list), for best_word
MAX_WORD = 20  # longer lines are not looked up: no word in the list is that long
LENGTH_SLACK = 2  # words this many letters longer or shorter than the free reading are looked up too
MAX_EXACT = 100  # words scored exactly at most, best bounds first (on the dev lines: 1, at most 4)
BOUND_CHUNK = 256  # words given the finer bound first, best coarse bounds first (then 512, 1024...)
# The mixture, chosen on the dev lines (python -m bench.line_reading --words): see docs/RESULTS.md.
IN_LIST = 0.9  # how often a line is a word of the list
LETTERS_WEIGHT = 3.0  # the readings' log-probabilities count this much against the language's
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


class WordListUnavailable(RuntimeError):
    """wordfreq is not installed: the message says how to get it."""


@dataclass(frozen=True)
class WordList:
    """Words by length: letters as indices into ALPHABET (N, length) and log P(word) within the list."""
    by_length: dict  # length -> (letters int64 (N, length), log_prior float64 (N,), words tuple[str])
    masks: dict = field(default_factory=dict, compare=False, repr=False)  # length -> letter_masks's, once made

    @functools.cached_property
    def log_priors(self) -> dict[str, float]:
        """{word: log P(word) within the list}, made on first use."""
        return {w: float(p) for _, prior, spelled in self.by_length.values() for w, p in zip(spelled, prior)}

    def letter_masks(self, length: int) -> np.ndarray:
        """(26, N) uint64 of the words of `length`: bit k of row c is set where letter k of the word is c (what
        a bit-parallel edit distance reads, sequence.edit_distances). Made on first use, then kept."""
        if length not in self.masks:
            self.masks[length] = letter_masks(self.by_length[length][0])
        return self.masks[length]

    @classmethod
    def from_frequencies(cls, frequencies: dict[str, float]) -> "WordList":
        """{word: frequency} -> WordList over its words of a-z letters (single letters: a and i only)."""
        words = [w for w in frequencies if re.fullmatch("[a-z]+", w) and (len(w) > 1 or w in "ai")]
        total = sum(frequencies[w] for w in words)
        by_length = {}
        for length in sorted({len(w) for w in words}):
            chosen = tuple(w for w in words if len(w) == length)
            letters = np.array([[ALPHABET.index(c) for c in w] for w in chosen], np.int64)
            log_prior = np.log(np.array([frequencies[w] for w in chosen], np.float64) / total)
            by_length[length] = (letters, log_prior, chosen)
        return cls(by_length)


def letter_masks(letters: np.ndarray) -> np.ndarray:
    """(N, L) letter indices of N words of one length L (at most 64) -> (26, N) uint64: bit k of row c is set
    where the word's letter k is c."""
    n, length = letters.shape
    if length > 64:
        raise ValueError(f"words of at most 64 letters, not {length}")
    masks = np.zeros((len(ALPHABET), n), np.uint64)
    for k in range(length):
        masks[letters[:, k], np.arange(n)] |= np.uint64(1 << k)
    return masks


@functools.lru_cache(maxsize=2)
def english(count: int = WORD_COUNT) -> WordList:
    """The `count` most frequent English words, from wordfreq (raises WordListUnavailable without it)."""
    try:
        import wordfreq
    except ImportError:
        raise WordListUnavailable("Reading as a word needs the word list of the wordfreq package: "
                                  "pip install wordfreq") from None
    frequencies = wordfreq.get_frequency_dict("en")
    ranked = [w for w in wordfreq.top_n_list("en", 2 * count) if re.fullmatch("[a-z]+", w)][:count]
    return WordList.from_frequencies({w: frequencies[w] for w in ranked})


def letter_log_probs(probs: np.ndarray, labels: list[str]) -> np.ndarray:
    """(N, classes) class probabilities -> (N, 26) log P(letter): a letter's classes summed (a and A)."""
    letters = np.zeros((len(labels), len(ALPHABET)))
    for k, label in enumerate(labels):
        if label.lower() in ALPHABET:
            letters[k, ALPHABET.index(label.lower())] = 1
    return np.log(np.maximum(probs @ letters, 1e-30))


@dataclass
class WordReading:
    word: str  # as the list spells it (lowercase)
    path: list  # the chosen candidates (segment.Candidate), left to right, dropped pieces left out
    score: float  # the mixture's log-score of reading the line as this word
    free_score: float  # ... and of the best reading as any string of letters


class LineScores:
    """A line's candidates with their letters' scores, to read the line as any text: the line read as any
    string of letters (`free_*`), and `read_as` a given text, by the same dynamic programming as
    LinePieces.best with its parting costs. best_word searches the word list with it; the word model's
    candidates are scored by it beside that model's own scores (sequence.fuse).

    `line`: segment.LinePieces; `scores`: (readable candidates, 26) log P(letter) of each candidate, in
    `line.readable` order (-inf rows: unreadable)."""

    def __init__(self, line, scores: np.ndarray):
        self.line = line
        letter_scores = np.maximum(scores, line.floor_log_prob).astype(np.float32)
        self.free_value, self.free_path = line.best(letter_scores.max(1))  # any string: each piece's best letter
        self.gains = _gains(line, letter_scores)

    @functools.cached_property
    def partings(self) -> list:
        """The line's parting costs (words._partings), made at the first exact score."""
        return _partings(self.line)

    @property
    def free_text(self) -> str:
        """The letters of the reading as any string (lowercase)."""
        where = {id(c): k for k, c in enumerate(self.line.candidates)}
        return "".join(ALPHABET[int(np.argmax(self.gains[where[id(c)]]))] for c in self.free_path)

    def read_as(self, text: str) -> tuple[float, list] | None:
        """The line read as `text` (lowercase a-z): (the score of its best grouping, as free_value's; that
        grouping's candidates, dropped pieces left out), or None where no grouping has that many letters."""
        if not text:
            return None
        value, path = _exact(self.line, self.gains, np.array([ALPHABET.index(c) for c in text]), self.partings)
        return None if path is None else (value, path)


def best_word(line, scores: np.ndarray | LineScores, word_list: WordList, free_length: int):
    """The line's best reading as a word of `word_list`, or None when any string of letters reads better.

    `line`: segment.LinePieces; `scores`: (readable candidates, 26) log P(letter) of each candidate, in
    `line.readable` order (-inf rows: unreadable), or the LineScores made of them; `free_length`: letters in
    the reading as any string."""
    scored = scores if isinstance(scores, LineScores) else LineScores(line, scores)
    free_score = (LETTERS_WEIGHT * scored.free_value + len(scored.free_path) * math.log(1 / len(ALPHABET))
                  + math.log(1 - IN_LIST))
    gains = scored.gains
    # Branch and bound, exact: a coarse bound for every word (each letter read by the best candidate that
    # could read it); then, best coarse bounds first, in chunks, the finer bound of dynamic programming
    # without the costs of parting neighbours (>= 0); then the exact score, best fine bounds first, for the
    # words whose fine bound beats the best exact score so far. A chunk whose coarse bounds cannot beat
    # it ends the search; each chunk is twice the one before.
    rough = []  # (coarse bound, length, index in that length's words)
    for length in range(max(1, free_length - LENGTH_SLACK), min(MAX_WORD, free_length + LENGTH_SLACK) + 1):
        if length in word_list.by_length:
            letters, log_prior, _ = word_list.by_length[length]
            totals = (LETTERS_WEIGHT * _letter_bound(line, gains, length)[np.arange(length), letters].sum(1)
                      + log_prior + math.log(IN_LIST))
            kept = np.flatnonzero(totals > free_score)
            rough.append((totals[kept], np.full(kept.size, length), kept))
    if not rough:
        return None
    totals, lengths, indices = (np.concatenate(column) for column in zip(*rough))
    order = np.argsort(-totals, kind="stable")
    best, exact, start, size = None, 0, 0, BOUND_CHUNK
    while start < order.size:
        chunk, start, size = order[start:start + size], start + size, 2 * size  # chunks grow: few calls
        if best is not None and totals[chunk[0]] <= best.score or exact >= MAX_EXACT:
            break  # no word left can beat it
        bounds = []
        for length in np.unique(lengths[chunk]):
            mine = indices[chunk[lengths[chunk] == length]]
            letters, log_prior, words = word_list.by_length[int(length)]
            fine = LETTERS_WEIGHT * _bound(line, gains, letters[mine]) + log_prior[mine] + math.log(IN_LIST)
            bounds.extend((float(fine[j]), words[k], letters[k], float(log_prior[k]))
                          for j, k in enumerate(mine) if fine[j] > free_score)
        for bound, word, letters, log_prior in sorted(bounds, key=lambda b: -b[0]):
            if best is not None and bound <= best.score or exact >= MAX_EXACT:
                break
            exact += 1
            value, path = _exact(line, gains, letters, scored.partings)
            total = LETTERS_WEIGHT * value + log_prior + math.log(IN_LIST)
            if path is not None and total > free_score and (best is None or total > best.score):
                best = WordReading(word, path, total, free_score)
    return best


def _gains(line, letter_scores: np.ndarray) -> list:
    """Each candidate's score for each letter (26,): its prior plus its reading; None for a dropped piece."""
    readable = {id(c): k for k, c in enumerate(line.readable)}
    return [None if c.dropped else c.prior + letter_scores[readable[id(c)]] for c in line.candidates]


def _letter_bound(line, gains: list, length: int) -> np.ndarray:
    """(length, 26): for each place in a word of `length` letters and each letter, the best score of
    any candidate that could read that place (the letters before it need at least one piece each, the
    letters after it likewise): summed over a word's letters, a bound on _bound's score (>= it)."""
    pieces = len(line.pieces)
    best = np.full((length, len(ALPHABET)), -np.inf, np.float32)
    for c, gain in zip(line.candidates, gains):
        if gain is not None:
            low, high = max(0, length - 1 - (pieces - c.stop)), min(length - 1, c.first)
            if low <= high:
                np.maximum(best[low:high + 1], gain, out=best[low:high + 1])
    return best


def _bound(line, gains: list, letters: np.ndarray) -> np.ndarray:
    """(N,) for words `letters` (N, length): the best score of the line read as each word, over the
    groupings of its pieces, without the costs of parting neighbours (>= the exact score)."""
    n_words, length = letters.shape
    pieces = len(line.pieces)
    # best[b][i]: (N,) the best score of pieces[:b] read as the first i letters of each word
    best = np.full((pieces + 1, length + 1, n_words), -np.inf, np.float32)
    best[0, 0] = 0.0
    columns = np.ascontiguousarray(letters.T)  # (length, N): the i-th letter of every word
    for c, gain in zip(line.candidates, gains):  # in order of `first`: best[c.first] is complete
        # Only the counts of letters read so far that can still end the word matter: at most one letter
        # a piece before the candidate, and no more letters left than pieces after it (the same answer,
        # a fraction of the work).
        low, high = max(0, length - (pieces - c.stop) - (gain is not None)), min(length, c.first)
        if gain is None:
            np.maximum(best[c.stop, low:high + 1], best[c.first, low:high + 1] + c.prior,
                       out=best[c.stop, low:high + 1])
        elif low <= min(high, length - 1):
            high = min(high, length - 1)
            np.maximum(best[c.stop, low + 1:high + 2], best[c.first, low:high + 1] + gain[columns[low:high + 1]],
                       out=best[c.stop, low + 1:high + 2])
    return best[-1, length]


def _partings(line) -> list:
    """For each candidate, (j, the cost of parting candidate j from it) for every candidate j that ends where
    it begins: what _exact adds up, the same for every word (computed once a line)."""
    candidates = line.candidates
    return [[(j, line.parting_cost(candidates[j], c)) for j in line.ending.get(c.first, [])] for c in candidates]


def _exact(line, gains: list, letters: np.ndarray, partings: list | None = None) -> tuple[float, list | None]:
    """One word's best score and grouping (candidates, dropped pieces left out), with the parting costs
    of LinePieces.best: dynamic programming over (candidate, letters read), every count of letters at once.
    `partings`: _partings(line), where the caller has it."""
    candidates, length = line.candidates, len(letters)
    partings = _partings(line) if partings is None else partings
    best = np.full((len(candidates), length + 1), -np.inf)
    back = np.full((len(candidates), length + 1), -1)
    for k, (c, gain) in enumerate(zip(candidates, gains)):
        step = 0 if gain is None else 1
        # the score of reading candidate k as the i-th letter (i = step .. length); a dropped piece reads none
        values = np.full(length + 1 - step, c.prior) if gain is None else gain[letters].astype(np.float64)
        if not values.size:  # no letters to read
            continue
        if c.first == 0:
            best[k, step], back[k, step] = values[0], -1
            continue
        row, came = best[k, step:], back[k, step:]  # views: updated in place
        for j, parting in partings[k]:  # in order, a strictly better option only: the first best j stays
            option = best[j, :length + 1 - step] - parting + values
            better = option > row
            row[better], came[better] = option[better], j
    ends = line.ending[len(line.pieces)]
    k = max(ends, key=lambda e: best[e, length])
    value = float(best[k, length])
    if not np.isfinite(value):
        return value, None
    path, i = [], length
    while k >= 0:
        c = candidates[k]
        path.append(c)
        k, i = back[k, i], i - (0 if gains[k] is None else 1)
    return value, [c for c in reversed(path) if not c.dropped]


def spelled(word: str, upper_odds: list[float | None]) -> str:
    """The word (lowercase, as the list spells it) in the case the writer seems to have written it.
    `upper_odds`: per letter, the log-odds of its capital over its small letter as read, None for the
    letters ByMerge keeps in one class (c, o, s...), which cannot say. All capitals when the letters after
    the first read as capitals on the whole; else a capital first letter when that one reads as one
    ("Hello"); else lowercase."""
    rest = [odds for odds in upper_odds[1:] if odds is not None]
    if rest and sum(rest) > 0:
        return word.upper()
    first = upper_odds[0] if upper_odds else None
    if first is not None and first > 0:
        return word[0].upper() + word[1:]
    return word
