"""The joined-up word reader (emnist_core/sequence.py, train/word_ctc.py, bench/word_ctc.py; issue 30 item 3):
the image made from a drawing, CTC decoding (greedy, and the word list scoring words by their exact CTC
likelihood), the checkpoint's save and load, the training CLI for a few steps on a tiny UNIPEN folder
written here, and bad input (an empty drawing, a 300-stroke scribble, one long horizontal stroke): a
reading or a clear message. The bench on real dev words skips without ../shared or the trained weights."""

import json
import math

import numpy as np
import pytest
import torch

from emnist_core.preprocess import UnusableImage
from emnist_core.sequence import (ALPHABET, DEFAULT_WORD_CHECKPOINT, HEIGHT, MAX_WIDTH, STRIDE, SequenceCheckpointError,
                                  SequenceConfig, SequenceReader, WordCTC, ctc_log_likelihood, edit_distances, greedy,
                                  letter_confidence, line_image, load_sequence_checkpoint, read_with_words,
                                  save_sequence_checkpoint)
from emnist_core.strokes import StrokeDrawing
from emnist_core.words import WordList, letter_masks

from conftest import shared_path

CANVAS = (1000, 300)


def loop_word(letters: int = 5, left: float = 60, height: float = 120) -> np.ndarray:
    """One joined stroke of `letters` loops, as cursive 'e's or 'l's, on the line canvas."""
    t = np.linspace(0, 2 * np.pi * letters, 60 * letters)
    x = left + 30 * t / (2 * np.pi) + 14 * np.sin(t)
    y = 150 - height / 2 * np.cos(t) * 0.5
    return np.stack([x, y], 1).astype(np.float32)


@pytest.fixture(scope="module")
def reader():
    torch.manual_seed(0)
    return SequenceReader(model=WordCTC(SequenceConfig(channels=(4, 8, 8, 8, 8), hidden=8)))


# ---- the image and the decoding -------------------------------------------------------------------------

def test_a_drawing_becomes_a_line_image_of_its_ink_at_the_models_height():
    image = line_image(StrokeDrawing(*CANVAS, 10.0, (loop_word(),)))
    assert image.shape[0] == HEIGHT and image.shape[1] % STRIDE == 0 and image.shape[1] <= MAX_WIDTH
    assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1 and image.max() > 0.9
    assert image[:, :2].max() == 0 and image[:2].max() == 0  # cropped to the ink, a little margin kept
    wide = line_image(StrokeDrawing(*CANVAS, 10.0, (loop_word(30, left=10, height=40),)))
    assert wide.shape[1] <= MAX_WIDTH  # squeezed across, never wider


def test_greedy_decoding_collapses_repeats_and_blanks():
    rows = [0, 8, 8, 0, 5, 0, 12, 12, 0, 12, 15, 15, 0]  # -, h, h, -, e, -, l, l, -, l, o, o, -
    log_probs = np.log(np.full((len(rows), 27), 0.01))
    log_probs[np.arange(len(rows)), rows] = np.log(0.74)
    text, score = greedy(log_probs)
    assert text == "hello" and score == pytest.approx(len(rows) * np.log(0.74))
    assert letter_confidence(log_probs) == pytest.approx(np.log(0.74))  # each letter's peak, averaged
    assert letter_confidence(np.log(np.eye(27)[[0, 0, 0]] + 1e-9)) == -np.inf  # nothing read


def test_the_ctc_likelihood_sums_every_path_that_spells_the_word():
    """Against brute force: every path of 6 columns over blank, a and b, collapsed (repeats merged, blanks
    dropped); the repeated letter needs a blank between; a word too long for the columns is impossible."""
    import itertools
    torch.manual_seed(0)
    log_probs = torch.randn(6, 27, dtype=torch.float64).log_softmax(-1).numpy()
    words = ["ab", "aa", "b", "aba"]
    totals = {w: 0.0 for w in words}
    for path in itertools.product([0, 1, 2], repeat=6):  # blank, a, b
        spelled = "".join("ab"[k - 1] for k, _ in itertools.groupby(path) if k)
        if spelled in totals:
            totals[spelled] += math.exp(sum(log_probs[t, k] for t, k in enumerate(path)))
    for word in words:
        mine = ctc_log_likelihood(log_probs, np.array([[ALPHABET.index(c) for c in word]]))
        assert mine[0] == pytest.approx(math.log(totals[word]), abs=1e-9), word
    both = ctc_log_likelihood(log_probs, np.array([[0, 1], [0, 0]]))  # several words of one length at once
    assert both == pytest.approx([math.log(totals["ab"]), math.log(totals["aa"])], abs=1e-9)
    assert ctc_log_likelihood(log_probs[:2], np.array([[0, 0]]))[0] == -math.inf  # "aa" needs 3 columns


def levenshtein(a: str, b: str) -> int:
    """The textbook table, one row at a time."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row, previous = [i], row
        for j, y in enumerate(b, 1):
            row.append(min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y)))
    return row[-1]


@pytest.mark.parametrize("length", [1, 2, 7, 20, 34, 64])
def test_the_bit_parallel_edit_distance_is_the_textbook_one(length):
    rng = np.random.default_rng(length)
    words = rng.integers(0, 4, (300, length))  # a 4-letter alphabet: many near words, repeats
    spelled = ["".join(ALPHABET[k] for k in w) for w in words]
    for text in ["", "a", "abcd", "dcba" * 3, "".join(ALPHABET[k] for k in rng.integers(0, 26, length + 3)),
                 spelled[0], spelled[1][::-1]]:
        assert edit_distances(text, words).tolist() == [levenshtein(text, w) for w in spelled], text
    with pytest.raises(ValueError):
        letter_masks(np.zeros((1, 65), np.int64))


def test_the_word_list_keeps_its_letter_masks():
    words = WordList.from_frequencies({"the": 0.05, "tea": 0.01, "an": 0.001})
    masks = words.letter_masks(3)
    assert masks is words.letter_masks(3) and masks.shape == (26, 2) and masks.dtype == np.uint64
    assert masks[ALPHABET.index("t")].tolist() == [1, 1] and masks[ALPHABET.index("e")].tolist() == [4, 2]
    assert edit_distances("tee", words.by_length[3][0], masks).tolist() == [1, 1]


def test_the_word_list_mends_a_near_miss_and_keeps_a_clear_string():
    words = WordList.from_frequencies({"the": 0.05, "then": 0.01, "tree": 0.001})
    log_probs = np.log(np.full((7, 27), 0.005))
    for t, (first, second) in enumerate([(20, 0), (0, 20), (8, 0), (0, 8), (23, 5), (0, 23), (0, 0)]):
        log_probs[t, first], log_probs[t, second] = np.log(0.55), np.log(0.3)  # "thw": 'e' the runner-up
    log_probs -= np.logaddexp.reduce(log_probs, 1, keepdims=True)
    reading = read_with_words(log_probs, words)
    assert reading.greedy == "thw" and reading.text == "the" and reading.in_list
    clear = np.log(np.full((6, 27), 1e-4))
    clear[np.arange(6), [24, 0, 17, 0, 26, 0]] = 0  # "xqz", read clearly
    assert read_with_words(clear, words).text == "xqz"
    assert read_with_words(clear, None).text == "xqz"


# ---- the checkpoint -------------------------------------------------------------------------------------

def test_the_model_saves_loads_and_reads_a_drawing(tmp_path, reader):
    path = tmp_path / "w.pt"
    config = SequenceConfig(channels=(4, 8, 8, 8, 8), hidden=8)
    save_sequence_checkpoint(reader.model, config, path, {"steps": 3})
    model, loaded, training = load_sequence_checkpoint(path)
    assert loaded == config and training == {"steps": 3}
    again = SequenceReader(path)
    drawing = StrokeDrawing(*CANVAS, 10.0, (loop_word(),))
    first, second = reader.read(drawing, words=False), again.read(drawing, words=False)
    assert set(first.text) <= set(ALPHABET) and first.text == first.greedy
    assert second.text == first.text  # float16 weights read as the float32 ones (a random model: near ties aside)


def test_a_file_that_is_no_word_checkpoint_is_named(tmp_path):
    with pytest.raises(SequenceCheckpointError, match="no such"):
        load_sequence_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "x.pt").write_bytes(b"\x89PNG not weights")
    with pytest.raises(SequenceCheckpointError, match="not a readable"):
        load_sequence_checkpoint(tmp_path / "x.pt")
    torch.save({"format": "something else"}, tmp_path / "y.pt")
    with pytest.raises(SequenceCheckpointError, match="not a"):
        load_sequence_checkpoint(tmp_path / "y.pt")


# ---- bad input --------------------------------------------------------------------------------------------

def test_an_empty_drawing_is_a_message(reader):
    with pytest.raises(UnusableImage, match="Nothing"):
        reader.read(StrokeDrawing(*CANVAS, 10.0, ()))
    with pytest.raises(UnusableImage, match="Nothing"):
        reader.read(StrokeDrawing(*CANVAS, 10.0, (np.array([[-500.0, -500.0]], np.float32),)))  # off the canvas


def test_a_300_stroke_scribble_and_a_long_line_give_a_bounded_reading(reader):
    rng = np.random.default_rng(0)
    scribble = tuple(rng.uniform((0, 0), CANVAS, (int(rng.integers(2, 8)), 2)).astype(np.float32) for _ in range(300))
    line = (np.array([[50, 150], [950, 150]], np.float32),)
    for strokes in (scribble, line):
        for brush in (1.0, 10.0):
            reading = reader.read(StrokeDrawing(*CANVAS, brush, strokes), words=False)
            assert set(reading.text) <= set(ALPHABET) and len(reading.text) <= MAX_WIDTH // STRIDE


# ---- training and the bench --------------------------------------------------------------------------------

def word_folder(root, words: dict[str, list[str]]):
    """A UNIPEN folder (original layout) of category 7: each site's words as joined loops, one per letter."""
    for site, texts in words.items():
        pen, segments = "", ""
        for k, text in enumerate(texts):
            stroke = loop_word(len(text))
            pen += ".PEN_DOWN\n" + "".join(f"{x:.1f} {-y:.1f}\n" for x, y in stroke) + ".PEN_UP\n"  # y up
            segments += f'.SEGMENT WORD {k} ? "{text}"\n'
        (root / "data" / "7" / site).mkdir(parents=True)
        (root / "include" / site).mkdir(parents=True)
        (root / "include" / site / "w.inc").write_text(f".STYLE CURSIVE\n.X_POINTS_PER_MM 1\n.Y_POINTS_PER_MM 1\n{pen}")
        (root / "data" / "7" / site / "w.dat").write_text(f".VERSION 1.0\n.INCLUDE {site}/w.inc\n{segments}")
    return root


def test_the_training_cli_runs_a_few_steps_and_reports_by_style(tmp_path, capsys):
    from train import word_ctc

    folder = word_folder(tmp_path / "unipen", {"trn": ["eel", "lee", "eye", "leel"], "val": ["eel", "le"]})
    out = tmp_path / "run"
    assert word_ctc.main(["--unipen-dir", str(folder), "--out", str(out), "--steps", "3", "--val-sites", "val",
                          "--variants", "2", "--cache", str(tmp_path / "cache")]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["steps"] == 3 and report["training"]["train_sites"] == ["trn"]
    assert report["validation"]["figures"]["ctc greedy"]["CURSIVE"]["words"] == 2
    model, _, training = load_sequence_checkpoint(out / "word_ctc.pt")
    assert training["val_sites"] == ["val"]
    assert list((tmp_path / "cache").glob("*.npz"))  # the renderings are kept for the next run
    assert "ctc greedy" in capsys.readouterr().out
    assert word_ctc.main(["--unipen-dir", str(tmp_path), "--out", str(out), "--steps", "1"]) == 2  # no UNIPEN


def test_the_bench_compares_with_segmentation_on_real_dev_words(tmp_path, capsys):
    from bench import word_ctc

    folder = shared_path("unipen-dev")
    if not DEFAULT_WORD_CHECKPOINT.is_file():
        pytest.skip(f"no trained word reader at {DEFAULT_WORD_CHECKPOINT}: python -m train.word_ctc")
    out = tmp_path / "ctc.json"
    assert word_ctc.main(["--unipen", str(folder), "--sites", "ugi", "--words", "5", "--ctc-only",
                          "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["figures"]
    assert figures["ctc greedy"]["CURSIVE"]["words"] == 5 == figures["ctc words"]["all"]["words"]
    assert "CURSIVE" in capsys.readouterr().out


# ---- the line tab's choice between the two readers (predict.Predictor.read_line_strokes) -------------------

def spelled_out(text: str, columns_per_letter: int = 3, sure: float = 0.98) -> np.ndarray:
    """(T, 27) log-probabilities that spell `text`: each letter for some columns, a blank between."""
    rows = []
    for c in text:
        rows += [ALPHABET.index(c) + 1] * columns_per_letter + [0]
    out = np.full((len(rows), len(ALPHABET) + 1), (1 - sure) / len(ALPHABET))
    out[np.arange(len(rows)), rows] = sure
    return np.log(out)


def test_letters_are_read_again_with_the_word_models_help_among_their_own_likeliest():
    from emnist_core.sequence import CHECK_CHANGES, Whole, checked, read_with_words

    def whole(text):
        log_probs = spelled_out(text)
        return Whole(log_probs, read_with_words(log_probs, None), words=False)

    cat = [[("C", 0.9), ("O", 0.1)], [("e", 0.6), ("a", 0.35), ("o", 0.05)], [("t", 0.9), ("f", 0.1)]]
    assert checked(whole("cat"), cat) == "Cat"  # the second letter changed, each letter in the case it was read
    assert checked(whole("cat"), cat, weight=0) is None  # without the word model: the characters' own reading
    stag = [[("S", 0.9)], [("I", 0.5), ("t", 0.3), ("T", 0.1)], [("A", 0.9)], [("G", 0.9)]]
    assert checked(whole("stag"), stag) == "STAG"  # a line of capitals stays capitals
    assert checked(whole("cet"), cat) is None  # the word model agrees with the characters
    assert checked(whole("cat"), [[("C", 0.9)], [("e", 0.6), ("x", 0.4)], [("t", 0.9)]]) is None  # "a" not a choice
    # a sure character keeps its reading where the change would cost more than the word model gains
    assert checked(whole("cot"), [[("C", 0.99), ("x", 0.01)], [("a", 0.999999), ("o", 1e-6)], [("t", 1.0)]]) is None
    assert checked(None, cat) is None and checked(whole("cat"), []) is None
    assert checked(whole("cat"), [[("C", 0.9)], [("4", 0.6), ("a", 0.4)], [("t", 0.9)]]) is None  # a digit read
    many = [[("x", 0.6), (c, 0.4)] for c in "abcdef"]  # the word model spells abcdef: only so many changes
    assert sum(a != b for a, b in zip(checked(whole("abcdef"), many), "xxxxxx")) == CHECK_CHANGES


def test_a_reading_takes_the_case_most_of_the_lines_letters_were_read_in():
    """in_case: all capitals where most letters that ByMerge reads in both cases were read as capitals (a stray
    small letter among them, as BREAKPaNT drawn on the page, does not undo the line's case); else a capital first
    letter where it was read so."""
    from emnist_core.sequence import in_case

    assert in_case("breakpoint", "BREAKPaNT") == "BREAKPOINT"
    assert in_case("hallo", "HELLO") == "HALLO" and in_case("hello", "HELLO") == "HELLO"
    assert in_case("hello", "Hello") == "Hello"  # one capital of the two (H, e): its first letter only
    assert in_case("the", "The") == "The" and in_case("bad", "bAd") == "bad"  # b, A, d: one of three
    assert in_case("cat", "CAT") == "CAT"  # A and T: ByMerge reads both in both cases
    assert in_case("mix", "MIX") == "mix"  # none of M, I, X: ByMerge merges their cases, so the case is not known
    assert in_case("cat", "cat") == "cat" and in_case("cat", "") == "cat"


def test_the_word_model_replaces_segmentations_reading_only_where_it_is_much_likelier():
    from emnist_core.sequence import (JUDGE_MARGIN, Whole, judge, judged_log_likelihood, language_log_prior,
                                      read_with_words)

    def judged(log_probs, theirs, margin=2.3):  # the model's greedy reading judged (letters only)
        return judge(Whole(log_probs, read_with_words(log_probs, None), words=False), theirs, margin)

    cat = spelled_out("cat")
    assert judged(cat, "LV") == "cat"  # a reading the word model finds far less likely: replaced
    assert judged(cat, "CAT") is None and judged(cat, "cat") is None  # the same letters: segmentation's stands
    assert judged(cat, "HELLO") == "CAT"  # replaced, in the case segmentation read the line in
    assert judged(spelled_out("hallo"), "HELLO") == "HALLO"  # in the case segmentation read (all capitals)
    assert judged(spelled_out("hallo"), "Hxllo") == "Hallo"  # a capital first letter
    # two readings the word model finds about as likely: segmentation's stands
    close = np.log(np.exp(spelled_out("cot")) * 0.5 + np.exp(spelled_out("cat")) * 0.5)
    assert abs(judged_log_likelihood(close, "cot") - judged_log_likelihood(close, "cat")) < 2.3
    assert judged(close, "cot") is None
    assert judged(cat, "c4t") == "cat"  # a reading with a digit is no reading of letters: -inf
    # the page's margin: only a reading many times likelier replaces segmentation's
    assert judged(cat, "cot", JUDGE_MARGIN) == "cat" and judged(close, "cot", JUDGE_MARGIN) is None
    # the language prior of the word model's list (what fuse adds to a reading as a word)
    common = WordList.from_frequencies({"cat": 1.0, "cot": 0.0001})
    assert language_log_prior("cat", common) > language_log_prior("cot", common) > language_log_prior("cxt", common)
    assert language_log_prior("cxt", None) == 0.0


def test_lines_are_read_by_segmentation_alone_without_the_word_model(predictor, monkeypatch, caplog):
    """Where the word model's file is absent or broken, drawn lines read as before (one warning in the log);
    with it, only "letters only" and "an English word" consult it, never "any" or "digits"."""
    import emnist_core.sequence as sequence
    from emnist_core.predict import Predictor
    from emnist_core.strokes import parse_drawing
    drawing = parse_drawing({"width": 1000, "height": 300, "brush": 10,
                             "strokes": [[[100, 100], [100, 250]], [[150, 150], [200, 250], [250, 150]]]})
    asked = []
    monkeypatch.setattr(sequence.SequenceReader, "read_whole",
                        lambda self, drawing, words, rendered=None: asked.append(words) or None)
    for writing in ("any", "digits", "letters", "word"):
        predictor.read_line_strokes(drawing, writing)
    assert asked == ([False, True] if DEFAULT_WORD_CHECKPOINT.is_file() else [])
    monkeypatch.setattr(sequence, "DEFAULT_WORD_CHECKPOINT", DEFAULT_WORD_CHECKPOINT.parent / "no-such-file.pt")
    monkeypatch.setattr(sequence.SequenceReader.__init__, "__defaults__",
                        (sequence.DEFAULT_WORD_CHECKPOINT, *sequence.SequenceReader.__init__.__defaults__[1:]))
    fresh = Predictor(predictor.checkpoint_path)
    with caplog.at_level("WARNING"):
        reading = fresh.read_line_strokes(drawing, "letters")
    assert fresh.word_reader is None and reading.joined is None and reading.text == reading.letters
    assert "segmentation alone" in caplog.text


def test_a_line_of_letters_shows_the_word_models_help_beside_what_each_character_reads(predictor, monkeypatch):
    """Letters only, where judge keeps segmentation's reading, sequence.checked gets each character's readings; a
    text it returns is the line's reading, with the characters' own beside it (the JSON, the page's details)."""
    import emnist_core.predict as predict
    from emnist_core.strokes import parse_drawing
    from emnist_core.wording import line_details

    if not DEFAULT_WORD_CHECKPOINT.is_file():
        pytest.skip(f"no word model at {DEFAULT_WORD_CHECKPOINT}")
    drawing = parse_drawing({"width": 1000, "height": 300, "brush": 10,
                             "strokes": [[[100, 100], [100, 250]], [[150, 150], [200, 250], [250, 150]]]})
    given = []
    monkeypatch.setattr(predict, "judge", lambda whole, theirs: None)
    monkeypatch.setattr(predict, "checked", lambda whole, characters: given.append(characters) or "xy")
    reading = predictor.read_line_strokes(drawing, "letters")
    assert given == [[prediction.top5 for _, prediction in reading.characters]]
    assert reading.text == "xy" != reading.letters
    assert reading.to_json()["checked_by_word_model"] and reading.to_json()["letters"] == reading.letters
    assert f"Read with the word model's help: **xy**" in line_details(reading)
    monkeypatch.setattr(predict, "judge", lambda whole, theirs: "uv")  # the word model's own reading wins
    given.clear()
    assert predictor.read_line_strokes(drawing, "letters").text == "uv" and given == []
    assert predictor.read_line_strokes(drawing, "any").checked is None and given == []


def test_the_word_model_in_its_own_process_reads_as_on_a_thread(predictor, caplog):
    """Predictor(word_process=True), the page's setting: the word model reads a drawn line in a process of its
    own (sequence.WordModelProcess), to the same reading as on a thread; where that process cannot start, the
    line is still read, on a thread, and the log says why."""
    from emnist_core.predict import Predictor
    from emnist_core.sequence import WordModelProcess
    from helpers import word_strokes

    if not DEFAULT_WORD_CHECKPOINT.is_file():
        pytest.skip(f"no word model at {DEFAULT_WORD_CHECKPOINT}")
    strokes = word_strokes("cat", height=150, gap=0.3, left=100, top=80)
    drawing = StrokeDrawing(1000, 300, 10.0, tuple(s.astype(np.float32) for s in strokes))
    apart = Predictor(predictor.checkpoint_path, word_process=True)
    assert isinstance(apart.word_model_process, WordModelProcess) and predictor.word_model_process is None
    assert apart.word_model_process.ready.result(timeout=120)
    for writing in ("letters", "word"):
        on_thread, in_process = predictor.read_line_strokes(drawing, writing), apart.read_line_strokes(drawing, writing)
        assert (in_process.text, in_process.joined) == (on_thread.text, on_thread.joined)
    apart.word_model_process.close()
    broken = Predictor(predictor.checkpoint_path, word_process=True)
    broken.word_model_process = WordModelProcess(DEFAULT_WORD_CHECKPOINT.parent / "no-such-file.pt")
    with caplog.at_level("WARNING"):
        reading = broken.read_line_strokes(drawing, "word")
    assert reading.text == predictor.read_line_strokes(drawing, "word").text
    assert broken.word_model_process is None and "process stopped" in caplog.text


def test_a_closed_word_model_process_ends_at_once_even_while_it_loads():
    """close() (the page's stop, demo.main) ends the word model's process there and then, though it is still
    loading its models (several seconds): a stopping server used to wait at its exit for that start to finish.
    What waited on it is told (BrokenProcessPool), never left waiting. No thread of the pool's outlives close(): one
    left closing its pipe while the interpreter exits made Ctrl-C print "Bad file descriptor" now and then."""
    import multiprocessing
    import multiprocessing.connection
    import threading
    from concurrent.futures.process import BrokenProcessPool

    from emnist_core.sequence import WordModelProcess

    if not DEFAULT_WORD_CHECKPOINT.is_file():
        pytest.skip(f"no word model at {DEFAULT_WORD_CHECKPOINT}")
    before, threads = set(multiprocessing.active_children()), set(threading.enumerate())
    process = WordModelProcess()
    [worker] = set(multiprocessing.active_children()) - before
    process.close()
    assert not [t for t in threading.enumerate() if t not in threads and t.is_alive()], "a thread outlived close()"
    assert multiprocessing.connection.wait([worker.sentinel], timeout=5), "still running 5 s after close()"
    with pytest.raises(BrokenProcessPool):
        process.ready.result(timeout=30)


def test_printed_words_are_composed_from_isolated_letters(tmp_path, capsys):
    """--composed: words set from single pen letters, each letter in its box (capitals and ascenders up to
    the cap height, small letters to the x-height, descenders below the baseline), left to right, one writer's
    letters where that writer wrote them; drawn as the training words are (the model's height)."""
    from types import SimpleNamespace

    from helpers import PEN_GLYPHS, pen_strokes
    from train.word_ctc import X_HEIGHT, compose, composed_words

    rng = np.random.default_rng(0)
    tall, small = [np.array([[0, 0], [0, 40]], np.float32)], [np.array([[0, 0], [10, 20]], np.float32)]
    low = [np.array([[5, 0], [5, 30], [0, 35]], np.float32)]
    strokes = compose("Tag", [tall, small, low], rng)
    tops = [float(s[:, 1].min()) for s in strokes]
    bottoms = [float(s[:, 1].max()) for s in strokes]
    lefts = [float(s[:, 0].min()) for s in strokes]
    assert tops[0] == pytest.approx(-1.0, abs=0.1) and bottoms[0] == pytest.approx(0, abs=0.05)  # a capital
    assert tops[1] == pytest.approx(-X_HEIGHT, abs=0.1) and bottoms[1] == pytest.approx(0, abs=0.05)  # small
    assert bottoms[2] == pytest.approx(1 - X_HEIGHT, abs=0.1)  # a descender goes below the baseline
    assert lefts[0] < lefts[1] < lefts[2]

    letters = "acehostuw"
    samples = [SimpleNamespace(label=c, strokes=tuple(pen_strokes(c)), writer=f"w{k}", site="trn")
               for k in range(2) for c in letters if c in PEN_GLYPHS]
    messages = []
    images, words = composed_words(samples, 6, seed=1, progress=messages.append)
    assert len(images) == 6 and all(i.shape[0] == HEIGHT and i.dtype == np.uint8 for i in images)
    assert all(set(w) <= set(letters) for w in words)  # only words of the letters there are
    digits = [SimpleNamespace(label="7", strokes=tuple(pen_strokes("7")), writer="w0", site="trn")]
    assert composed_words(digits, 3, seed=1, progress=messages.append) == ([], [])  # no letters: none, said so
    assert "no letters" in messages[-1]


def test_the_word_model_looks_words_up_in_a_longer_list_than_segmentation():
    pytest.importorskip("wordfreq", reason="the word list comes from wordfreq")
    from emnist_core import sequence, words

    longer, shorter = SequenceReader.word_list(), words.english()
    assert sequence.WORD_COUNT > words.WORD_COUNT and longer is words.english(sequence.WORD_COUNT)
    spelled = {length: set(listed) for length, (_, _, listed) in longer.by_length.items()}
    assert all(set(listed) <= spelled[length] for length, (_, _, listed) in shorter.by_length.items())
    assert sum(map(len, spelled.values())) > 3 * sum(len(listed) for _, _, listed in shorter.by_length.values())


class FakeLineScores:
    """What fuse reads of words.LineScores: segmentation's reading as any string, and its score of a text."""

    def __init__(self, free_text: str, scores: dict):
        self.free_text, self.free_path, self.scores = free_text, list(free_text), scores

    def read_as(self, text):
        return (self.scores[text], list(text)) if text in self.scores else None


def test_a_word_in_separate_letters_is_read_by_both_models_together():
    from emnist_core.sequence import SEGMENTATION_WEIGHT, Whole, fuse, read_with_words

    words = WordList.from_frequencies({"cat": 1.0, "cot": 0.5})
    close = np.log(np.exp(spelled_out("cot")) * 0.5 + np.exp(spelled_out("cat")) * 0.5)  # the word model can't say
    whole = Whole(close, read_with_words(close, words), words=True)
    assert [w for w, _ in whole.reading.nearest] == ["cat", "cot"]  # the commoner first
    # segmentation sure of "cot": its evidence outweighs the list's preference for "cat"
    sure = FakeLineScores("cot", {"cot": -0.1, "cat": -0.1 - 5 / SEGMENTATION_WEIGHT})
    fused = fuse(whole, sure, words)
    assert (fused.text, fused.path) == ("cot", list("cot"))
    # segmentation as unsure as the word model: the language decides
    assert fuse(whole, FakeLineScores("cot", {"cot": -1.0, "cat": -1.0}), words).text == "cat"
    # a text segmentation cannot part into that many letters is no choice
    assert fuse(whole, FakeLineScores("cot", {"cot": -3.0}), words).text == "cot"
    # joined-up writing (fewer letters parted than the word model reads): the word model's reading, no grouping
    joined = fuse(whole, FakeLineScores("c", {"c": 0.0}), words)
    assert (joined.text, joined.path) == (whole.reading.text, None)
    # no reading of the word model, or one read as letters only: nothing to fuse
    assert fuse(None, sure, words) is None
    assert fuse(Whole(close, read_with_words(close, None), words=False), sure, words) is None


# ---- the pen model: the same letters read from the pen's path (sequence.PenWordCTC) -----------------------------

def test_a_lines_pen_path_is_resampled_along_the_pen_whatever_the_units():
    from emnist_core.sequence import PEN_POINTS, PEN_STEP, pen_path
    strokes = [loop_word(3), np.array([[300.0, 80.0]]), np.array([[320.0, 60.0], [320.0, 200.0]])]  # a dot, a stem
    path = pen_path(strokes)
    assert path.shape[0] == 4 and path.dtype == np.float32
    assert path[3].sum() == 3 and path[3, 0] == 1  # where each of the three strokes starts
    height = 200.0 - min(float(loop_word(3)[:, 1].min()), 60.0)
    stem = np.flatnonzero(path[3])[2]
    assert path.shape[1] - stem == 1 + round(140 / height / PEN_STEP)  # the stem: its length in steps, its end too
    np.testing.assert_allclose(path[1, stem + 1:], 10 * PEN_STEP, rtol=1e-4)  # straight down, a step at a time
    assert path[2].min() == pytest.approx(-1) and path[2].max() == pytest.approx(1)  # the ink's top and bottom
    np.testing.assert_allclose(pen_path([s * 7.5 + 3 for s in strokes]), path, atol=1e-4)  # units do not matter
    rng = np.random.default_rng(0)
    scribble = [rng.uniform(0, 1000, (int(rng.integers(2, 30)), 2)) for _ in range(300)]
    assert pen_path(scribble).shape[1] <= PEN_POINTS  # a long path is resampled more coarsely, never longer
    with pytest.raises(ValueError):
        pen_path([np.zeros((0, 2))])


def test_the_pen_model_reads_a_column_per_four_points_and_saves_as_float16(tmp_path):
    from emnist_core.sequence import (PenConfig, PenWordCTC, load_pen_checkpoint, pen_batch, pen_columns, pen_path,
                                      save_pen_checkpoint)
    torch.manual_seed(0)
    config = PenConfig(channels=(8, 8, 8, 8), hidden=8)
    model = PenWordCTC(config).eval()
    paths = [pen_path([loop_word(k)]) for k in (1, 4)]
    x, lengths = pen_batch(paths)
    with torch.inference_mode():
        log_probs, columns = model(x, lengths)
    assert columns.tolist() == [-(--(-n // 2) // 2) for n in lengths.tolist()] == pen_columns(lengths).tolist()
    assert log_probs.shape == (x.shape[2] // 4 + (x.shape[2] % 4 > 0), 2, 27)
    np.testing.assert_allclose(log_probs.exp().sum(-1), 1, atol=1e-5)
    save_pen_checkpoint(model, config, tmp_path / "p.pt", {"steps": 2})
    again, loaded, training = load_pen_checkpoint(tmp_path / "p.pt")
    assert loaded == config and training == {"steps": 2}
    with torch.inference_mode():
        np.testing.assert_allclose(again(x, lengths)[0], log_probs, atol=0.05)
    with pytest.raises(SequenceCheckpointError, match="not a"):
        load_pen_checkpoint(DEFAULT_WORD_CHECKPOINT if DEFAULT_WORD_CHECKPOINT.is_file() else tmp_path / "absent.pt")
    with pytest.raises(SequenceCheckpointError, match="not a emnist-sketchpad-word-ctc"):
        load_sequence_checkpoint(tmp_path / "p.pt")


def test_both_models_weigh_every_text_and_each_ones_reading_is_a_candidate(monkeypatch):
    """Evidence: a text's log-likelihood is the models' weighted sum; read_with_words looks at each model's
    greedy reading and at the list words nearest to each, and one model's log-probabilities read as before."""
    from emnist_core.sequence import Evidence
    image, pen = spelled_out("thw"), spelled_out("tha", columns_per_letter=5)
    both = Evidence(((image, 0.5), (pen, 0.5)))
    texts = np.array([[ALPHABET.index(c) for c in "the"], [ALPHABET.index(c) for c in "thw"]])
    np.testing.assert_allclose(both.log_likelihood(texts),
                               0.5 * ctc_log_likelihood(image, texts) + 0.5 * ctc_log_likelihood(pen, texts))
    assert both.judged("THE") == pytest.approx(0.5 * float(ctc_log_likelihood(image, texts[:1])[0])
                                               + 0.5 * float(ctc_log_likelihood(pen, texts[:1])[0]))
    assert both.columns == len(image) and both.blank() < 0
    alone = read_with_words(image, None)
    assert alone == read_with_words(Evidence.of(image), None) and alone.text == "thw"
    assert read_with_words(both, None).text in ("thw", "tha")  # either model's own reading, as any string
    from emnist_core import sequence
    monkeypatch.setattr(sequence, "NEAREST", 1)  # the one nearest list word to each model's reading is scored
    words = WordList.from_frequencies({"ha": 0.5, "the": 0.1})  # "ha": 1 from the pen's "tha", 2 from "thw"
    assert [w for w, _ in read_with_words(image, words).nearest] == ["the"]
    assert sorted(w for w, _ in read_with_words(both, words).nearest) == ["ha", "the"]


def test_the_reader_reads_with_both_models_where_it_has_a_pen_model(tmp_path, reader):
    from emnist_core.predict import Predictor
    from emnist_core.sequence import PEN_WEIGHT, PenConfig, PenWordCTC, save_pen_checkpoint
    torch.manual_seed(1)
    config = PenConfig(channels=(8, 8, 8, 8), hidden=8)
    save_pen_checkpoint(PenWordCTC(config), config, tmp_path / "p.pt")
    both = SequenceReader(model=reader.model, pen_path=tmp_path / "p.pt")
    drawing = StrokeDrawing(*CANVAS, 10.0, (loop_word(),))
    whole = both.read_whole(drawing, words=False)
    (image, w1), (pen, w2) = whole.evidence.parts
    assert (w1, w2) == (1 - PEN_WEIGHT, PEN_WEIGHT) and pen.shape[1] == 27 == image.shape[1]
    assert both.pen_path == tmp_path / "p.pt" and both.read(drawing, words=False).text == whole.reading.text
    none = SequenceReader(model=reader.model, pen_path=None)
    assert none.pen_model is None and len(none.read_whole(drawing, words=False).evidence.parts) == 1
    with pytest.raises(SequenceCheckpointError, match="no such"):
        SequenceReader(model=reader.model, pen_path=tmp_path / "absent.pt")  # asked for by name: must be there
    given = Predictor.__new__(Predictor)  # the page's process loads files: a pen model given as an object has none
    given.word_process, given.word_reader = True, SequenceReader(DEFAULT_WORD_CHECKPOINT, pen_model=both.pen_model) \
        if DEFAULT_WORD_CHECKPOINT.is_file() else None
    assert given.word_model_process is None


def test_the_pen_training_cli_runs_a_few_steps_and_validates_beside_the_image_model(tmp_path, capsys):
    from emnist_core.sequence import load_pen_checkpoint
    from train import word_pen

    folder = word_folder(tmp_path / "unipen", {"trn": ["eel", "lee", "eye", "leel"], "val": ["eel", "le"]})
    out = tmp_path / "run"
    assert word_pen.main(["--unipen-dir", str(folder), "--out", str(out), "--steps", "3", "--val-sites", "val",
                          "--composed", "0", "--warp", "0.05"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["steps"] == 3 and report["training"]["train_sites"] == ["trn"]
    if DEFAULT_WORD_CHECKPOINT.is_file():
        assert report["validation"]["figures"]["ctc greedy"]["CURSIVE"]["words"] == 2
    _, _, training = load_pen_checkpoint(out / "word_pen.pt")
    assert training["val_sites"] == ["val"] and training["train_words"] == 4 and training["warp"] == 0.05
    with pytest.raises(SystemExit) as stop:
        word_pen.main(["--unipen-dir", str(folder), "--out", str(out), "--steps", "1", "--warp", "0.5"])
    assert stop.value.code == 2
    assert word_pen.main(["--unipen-dir", str(tmp_path), "--out", str(out), "--steps", "1"]) == 2  # no UNIPEN


def test_pen_models_trained_apart_join_into_one_file_and_each_weighs_alike(tmp_path, reader):
    """train.word_pen --join: one checkpoint of several pen models (sequence.PenEnsemble); the reader reads the
    line with each and Evidence gives each an equal share of PEN_WEIGHT; each network reads as it did alone.
    A joined file gives its networks one by one. Exit 2 for one network alone, networks of two shapes, or a
    missing file."""
    from emnist_core.sequence import (PEN_WEIGHT, PenConfig, PenEnsemble, PenWordCTC, load_pen_checkpoint,
                                      save_pen_checkpoint)
    from train import word_pen

    config = PenConfig(channels=(8, 8, 8, 8), hidden=8)
    for seed in (1, 2):
        torch.manual_seed(seed)
        save_pen_checkpoint(PenWordCTC(config), config, tmp_path / f"p{seed}.pt", {"seed": seed})
    out = tmp_path / "both"
    assert word_pen.main(["--join", str(tmp_path / "p1.pt"), str(tmp_path / "p2.pt"), "--out", str(out)]) == 0
    model, joined, training = load_pen_checkpoint(out / "word_pen.pt")
    assert isinstance(model, PenEnsemble) and joined.members == 2 and [m["seed"] for m in training["members"]] == [1, 2]
    drawing = StrokeDrawing(*CANVAS, 10.0, (loop_word(),))
    together = SequenceReader(model=reader.model, pen_path=out / "word_pen.pt")
    alone = [SequenceReader(model=reader.model, pen_path=tmp_path / f"p{seed}.pt") for seed in (1, 2)]
    parts = together.read_whole(drawing, words=False).evidence.parts
    assert [w for _, w in parts] == [1 - PEN_WEIGHT, PEN_WEIGHT / 2, PEN_WEIGHT / 2]
    for (pen, _), single in zip(parts[1:], alone):
        np.testing.assert_array_equal(pen, single.pen_log_probs(drawing.strokes)[0])
    assert not np.array_equal(parts[1][0], parts[2][0])  # two networks, two readings
    other = PenConfig(channels=(8, 8, 8, 8), hidden=4)
    save_pen_checkpoint(PenWordCTC(other), other, tmp_path / "small.pt")
    for given in (["p1.pt"], ["p1.pt", "small.pt"], ["p1.pt", "absent.pt"]):
        assert word_pen.main(["--join", *(str(tmp_path / g) for g in given), "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x" / "word_pen.pt").exists()
    # a joined file gives its networks one by one: the pair and a third network make three, each as it was
    torch.manual_seed(3)
    save_pen_checkpoint(PenWordCTC(config), config, tmp_path / "p3.pt", {"seed": 3})
    assert word_pen.main(["--join", str(out / "word_pen.pt"), str(tmp_path / "p3.pt"), "--out", str(tmp_path / "three")]) == 0
    three, config3, training3 = load_pen_checkpoint(tmp_path / "three" / "word_pen.pt")
    assert config3.members == 3 and [m["seed"] for m in training3["members"]] == [1, 2, 3]
    assert [m.get("joined_in") for m in training3["members"]] == [str(out / "word_pen.pt")] * 2 + [None]
    for member, source in zip(three.members, [*model.members, load_pen_checkpoint(tmp_path / "p3.pt")[0]]):
        for key, value in source.state_dict().items():
            torch.testing.assert_close(member.state_dict()[key], value, rtol=0, atol=0)
    assert word_pen.main(["--join", str(out / "word_pen.pt"), str(tmp_path / "small.pt"), "--out", str(tmp_path / "y")]) == 2


def test_the_word_models_process_ends_with_the_process_that_started_it(tmp_path):
    """A server killed outright (SIGKILL: no clean-up runs) leaves no word-model process behind: that one ends
    within a second or two on its own (sequence._end_with), so nothing holds the server's output or files."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    if not Path("/proc").is_dir() or not DEFAULT_WORD_CHECKPOINT.is_file():
        pytest.skip("needs /proc (Linux) to find the processes, and the shipped word model")
    script = ("from emnist_core.sequence import WordModelProcess\n"
              "process = WordModelProcess()\n"
              "assert process.ready.result(timeout=300)\n"
              "print('ready', flush=True)\n"
              "import time; time.sleep(600)\n")
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)

    def children(pid: int) -> set[int]:
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(stat.parent.name))
        return found

    try:
        assert server.stdout.readline().strip() == "ready"
        workers = children(server.pid)
        assert workers, "the word model's process was not found"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        deadline = time.time() + 20
        while time.time() < deadline and any(Path(f"/proc/{pid}").is_dir() and children(1) >= {pid} for pid in workers):
            time.sleep(0.5)
        left = {pid for pid in workers if Path(f"/proc/{pid}/stat").is_file()
                and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"}
        assert not left, f"still running after their parent was killed: {left}"
    finally:
        if server.poll() is None:
            server.kill()
        server.stdout.close()
        for pid in children(server.pid):
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
