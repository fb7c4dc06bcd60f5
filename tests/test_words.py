"""The opt-in word list for lines (emnist_core.words, read_line(..., "word"), --words, the line tab's
"An English word"): the dynamic programming against brute force, the mixture's two ways out (a close
call goes to the word, a clear non-word stays as read), and every surface that offers it."""

import itertools
import json
import math

import numpy as np
import pytest

import demo
from emnist_core import words
from emnist_core.inference import WRITINGS, classes_of
from emnist_core.predict import LineReading, main
from emnist_core.segment import line_from_image
from emnist_core.words import ALPHABET, WordList, WordListUnavailable, best_word

from conftest import shared_path
from helpers import as_drawing, checkpoint_or_skip, write_line


def letters_of(word: str) -> list[int]:
    return [ALPHABET.index(c) for c in word]


@pytest.fixture(scope="module")
def line():
    """A real line's pieces and candidates: close characters drawn in several strokes, two of them touching."""
    image, _ = write_line("EHk4", gap=0.15, touching="k4")
    return line_from_image(image)


def random_scores(line, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.log(rng.dirichlet(np.full(len(ALPHABET), 0.3), size=len(line.readable)))


def groupings(line):
    """Every way through the candidates from the first piece to the last: lists of candidates."""
    starting = {}
    for c in line.candidates:
        starting.setdefault(c.first, []).append(c)

    def walk(first):
        if first == len(line.pieces):
            yield []
            return
        for c in starting.get(first, []):
            for rest in walk(c.stop):
                yield [c, *rest]
    return list(walk(0))


def brute_force(line, scores: np.ndarray, word: str) -> float:
    """The best score of the line read as `word`, over every grouping: what words._exact must find."""
    row = {id(c): k for k, c in enumerate(line.readable)}
    best = -math.inf
    for path in groupings(line):
        read = [c for c in path if not c.dropped]
        if len(read) != len(word):
            continue
        value = sum(c.prior for c in path)
        value += sum(max(scores[row[id(c)], ALPHABET.index(ch)], line.floor_log_prob) for c, ch in zip(read, word))
        value -= sum(line.parting_cost(a, b) for a, b in zip(path, path[1:]))
        best = max(best, value)
    return best


def test_the_word_list_keeps_words_of_letters_with_their_share_of_use():
    found = WordList.from_frequencies({"the": 0.05, "cat": 0.01, "x": 0.02, "a": 0.03, "u.s": 0.01, "café": 0.01})
    assert {length: list(w) for length, (_, _, w) in found.by_length.items()} == {1: ["a"], 3: ["the", "cat"]}
    letters, log_prior, _ = found.by_length[3]
    assert letters.tolist() == [letters_of("the"), letters_of("cat")]
    assert np.allclose(np.exp(log_prior), [0.05 / 0.09, 0.01 / 0.09])


@pytest.mark.parametrize("seed", range(4))
def test_reading_the_line_as_a_word_finds_the_best_grouping(line, seed):
    scores = np.maximum(random_scores(line, seed), line.floor_log_prob).astype(np.float32)
    gains = words._gains(line, scores)
    assert len(groupings(line)) > 20  # enough ways to go wrong
    for length in (3, 4, 5):
        for word in ("".join(w) for w in itertools.islice(itertools.product("hlt", repeat=length), 0, None, 7)):
            value, path = words._exact(line, gains, np.array(letters_of(word)))
            assert value == pytest.approx(brute_force(line, scores, word), abs=1e-4)
            assert path is None if value == -math.inf else len(path) == len(word)
            bound = words._bound(line, gains, np.array([letters_of(word)]))[0]
            assert bound >= value - 1e-4  # parting costs only lower a score: the bound is one
            read = words.LineScores(line, random_scores(line, seed)).read_as(word)  # the public way, the same
            assert read is None if path is None else (read[0] == pytest.approx(value) and read[1] == path)


def test_the_line_read_as_any_string_is_each_groups_best_letter(line):
    scores = random_scores(line, 7)
    scored = words.LineScores(line, scores)
    value, path = line.best(np.maximum(scores, line.floor_log_prob).max(1))
    assert (scored.free_value, scored.free_path) == (pytest.approx(value), path)
    assert scored.free_text == "".join(ALPHABET[int(scores[line.readable.index(c)].argmax())] for c in path)
    assert scored.read_as(scored.free_text)[0] == pytest.approx(value)  # the best string read as itself
    assert scored.read_as("") is None


def test_a_close_call_goes_to_the_word_and_a_clear_non_word_stays(line):
    free_path = line.choose(np.zeros(len(line.readable)))  # some grouping of the pieces, read as follows:
    meant = "halts"[:len(free_path)]
    word_list = WordList.from_frequencies({meant: 0.001, "x" * len(meant): 0.001})
    scores = np.full((len(line.readable), len(ALPHABET)), np.log(0.01))
    rows = [line.readable.index(c) for c in free_path]
    for row, letter in zip(rows, meant):  # each group reads q, and the word's letter a close second
        scores[row, ALPHABET.index("q")] = np.log(0.5)
        scores[row, ALPHABET.index(letter)] = np.log(0.4)
    found = best_word(line, scores, word_list, free_length=len(meant))
    assert found is not None and found.word == meant and found.path == free_path
    scores[rows[1], ALPHABET.index(meant[1])] = np.log(1e-6)  # now nothing there looks like the letter
    assert best_word(line, scores, word_list, free_length=len(meant)) is None


def test_a_line_reading_says_when_it_is_a_word():
    assert "in_word_list" not in LineReading([]).to_json()
    asked = LineReading([], word=None, words_asked=True).to_json()
    assert asked["in_word_list"] is False and asked["letters"] == ""


def test_what_is_written_is_one_of_four_values(predictor):
    """any, digits, letters or word (inference.WRITINGS): the page's values are Predictor's; a word is letters."""
    assert [classes_of(w) for w in (None, *WRITINGS)] == [None, None, "digits", "letters", "letters"]
    image, _ = write_line("71")
    for unknown in ("digits+word", "Digits", ""):
        with pytest.raises(ValueError, match="writing must be one of"):
            predictor.read_line(image, unknown)


def test_the_cli_refuses_words_without_a_line_or_with_digits(tmp_path, capsys):
    for flags in (["--words"], ["--line", "--words", "--only", "digits"]):
        with pytest.raises(SystemExit) as stop:
            main([*flags, str(tmp_path / "any.png")])
        assert stop.value.code == 2
    assert "--words" in capsys.readouterr().err


def test_the_cli_without_wordfreq_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    checkpoint_or_skip()

    def missing():
        raise WordListUnavailable("Reading as a word needs the word list of the wordfreq package: pip install wordfreq")
    monkeypatch.setattr("emnist_core.predict.english", missing)
    assert main(["--line", "--words", str(tmp_path / "any.png")]) == 2
    assert "pip install wordfreq" in capsys.readouterr().err


def test_the_page_offers_the_word_list_on_the_line_tab_only(predictor, monkeypatch):
    assert classes_of(demo.WORD) == "letters"
    assert ("An English word", demo.WORD) in demo.LINE_WRITING_CHOICES
    assert demo.WORD not in {value for _, value in demo.WRITING_CHOICES}  # one character is no word
    drawing, _ = as_drawing("7L1")
    value = {"width": drawing.width, "height": drawing.height, "brush": drawing.brush,
             "strokes": [s.tolist() for s in drawing.strokes]}
    text, details, boxes, seen = demo.read_drawn_line(predictor, value, demo.WORD)
    assert text and boxes is not None
    assert "word" in details  # the word read, or that no word of the list read better

    def missing(*count):
        raise WordListUnavailable("Reading as a word needs the word list of the wordfreq package: pip install wordfreq")
    monkeypatch.setattr(words, "english", missing)
    monkeypatch.setattr("emnist_core.predict.english", missing)
    text, details, boxes, _ = demo.read_drawn_line(predictor, value, demo.WORD)
    assert text == "" and "wordfreq" in details and boxes is None


# ---- the shipped model and the real word list on a real drawer's letters ----------------------------

def test_a_word_written_with_a_touching_pair_is_read_with_the_word_list(predictor, tmp_path, capsys):
    pytest.importorskip("wordfreq", reason="the word list is the wordfreq package (requirements.txt)")
    from bench.line_reading import word_line
    from emnist_core.strokes import read_strokes
    import cv2

    folder = shared_path("omniglot-latin-dev")
    image, _ = word_line([read_strokes(folder / f"{c}_drawer05.txt") for c in "house"],
                         np.random.default_rng(3), "touching")
    plain = predictor.read_line(image, "letters")
    assert plain.text.lower() != "house"  # letter by letter, the touching pair is misread...
    reading = predictor.read_line(image, "word")
    assert reading.text == "house" and len(reading.characters) == 5  # ...the word list settles it
    assert reading.word == "house" and reading.letters != "house"
    path = tmp_path / "house.png"
    cv2.imwrite(str(path), image)
    assert main(["--line", "--words", "--json", str(path)]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert found["text"] == "house" and found["in_word_list"] is True and len(found["characters"]) == 5


def test_a_word_keeps_the_case_it_was_written_in():
    """The word list spells words in lowercase; the line keeps the writer's case, read from the letters
    that have both cases in ByMerge (None: one class for both, as o and l)."""
    assert words.spelled("hello", [2.0, -1.5, None, None, None]) == "Hello"  # was "hello"
    assert words.spelled("hello", [2.0, 1.5, None, None, None]) == "HELLO"
    assert words.spelled("hello", [-2.0, -1.5, None, None, None]) == "hello"
    assert words.spelled("cat", [None, -1.0, 0.5]) == "cat" and words.spelled("cat", [None, 1.0, 0.5]) == "CAT"
    assert words.spelled("go", [1.0, None]) == "Go" and words.spelled("so", [None, None]) == "so"


def test_the_example_line_reads_hello_with_its_capital(predictor):
    pytest.importorskip("wordfreq", reason="the word list is the wordfreq package (requirements.txt)")
    from emnist_core.shipped import shipped_file
    reading = predictor.read_line(str(shipped_file("examples/lines/hello.png")), "word")
    assert reading.text == "Hello" and reading.letters.lower().startswith("he"), reading
