"""train.cut_joined: letters cut out of whole words where the word model reads them, for both character
models; and the two pieces of emnist_core.sequence it uses (ctc_align, column_x)."""

import itertools

import numpy as np
import pytest

from emnist_core import sequence
from emnist_core.sequence import ALPHABET, SequenceReader, column_x, ctc_align, drawing_ink, ink_to_line
from emnist_core.strokes import StrokeDrawing
from train import cut_joined, strokes as train_strokes
from train.data import DataError

from conftest import SHARED_DATA
from helpers import word_strokes
from test_cut_letters import drawn, word_site


def brute_force_spans(log_probs, text):
    """Every CTC path of `text` through the columns, the likeliest one's (first, last) column per letter."""
    symbols = [0] + sorted({ALPHABET.index(c) + 1 for c in text})
    target = [ALPHABET.index(c) + 1 for c in text]
    best, spans = -np.inf, None
    for path in itertools.product(symbols, repeat=len(log_probs)):
        collapsed, previous, owner = [], 0, []
        for k in path:
            if k and k != previous:
                collapsed.append(k)
            owner.append(len(collapsed) - 1 if k else -1)
            previous = k
        if collapsed != target:
            continue
        score = sum(log_probs[t, k] for t, k in enumerate(path))
        if score > best:
            best = score
            spans = [(owner.index(n), len(owner) - 1 - owner[::-1].index(n)) for n in range(len(text))]
    return spans


@pytest.mark.parametrize("text, columns, seed", [("ab", 5, 0), ("aa", 6, 1), ("abc", 7, 2), ("b", 4, 3), ("aab", 7, 4)])
def test_the_alignment_is_the_likeliest_path(text, columns, seed):
    log_probs = np.log(np.random.default_rng(seed).dirichlet(np.ones(27), columns))
    assert ctc_align(log_probs, text) == brute_force_spans(log_probs, text)


def test_no_alignment_where_the_columns_cannot_hold_the_text():
    log_probs = np.log(np.full((3, 27), 1 / 27))
    assert ctc_align(log_probs, "aa") is not None  # a, blank, a
    assert ctc_align(log_probs, "aaa") is None and ctc_align(log_probs, "abcd") is None and ctc_align(log_probs, "") is None


def test_columns_map_back_to_the_canvas():
    strokes = (np.array([[300, 80], [300, 220]], np.float32), np.array([[700, 80], [700, 220]], np.float32))
    ink = drawing_ink(StrokeDrawing(1000, 300, 10.0, strokes))
    line = ink_to_line(ink)
    inked = np.flatnonzero((line > 0.5).any(0))
    runs = np.split(inked, np.flatnonzero(np.diff(inked) > 1) + 1)
    x = column_x(ink, [run.mean() / sequence.STRIDE + 0.5 / sequence.STRIDE for run in runs])
    assert len(runs) == 2 and np.allclose(x, [300, 700], atol=4)


def test_strokes_go_whole_or_are_cut_at_the_borders():
    borders = np.array([100.0, 200.0])
    across = np.stack([np.linspace(10, 290, 29), np.zeros(29)], 1).astype(np.float32)  # through all three letters
    dot = np.array([[150, 0]], np.float32)
    mostly = np.stack([np.linspace(110, 205, 20), np.zeros(20)], 1).astype(np.float32)  # 95% in the second
    letters = cut_joined.split_strokes([across, dot, mostly], borders)
    assert [len(strokes) for strokes in letters] == [1, 3, 1]
    assert letters[0][0][:, 0].max() <= 100 < letters[1][0][:, 0].min() and letters[2][0][:, 0].min() > 200
    assert any(s is mostly for s in letters[1]) or any(np.array_equal(s, mostly) for s in letters[1])
    short = np.array([[95, 0], [105, 0], [110, 0], [115, 0], [195, 0], [205, 0]], np.float32)
    assert [[len(s) for s in strokes] for strokes in cut_joined.split_strokes([short], borders)] == [[], [4], []]  # 4 of 6
    # points: a cut, and its runs of one point dropped


@pytest.fixture(scope="module")
def reader():
    return SequenceReader()


def test_a_word_the_word_model_reads_is_cut_into_its_letters(predictor, reader):
    drawing = drawn("cat")
    letters = cut_joined.cut_word(reader, predictor, drawing, "cat")
    assert [letter.lower() for _, letter in letters] == list("cat")
    ends = [(min(float(s[:, 0].min()) for s in strokes), max(float(s[:, 0].max()) for s in strokes)) for strokes, _ in letters]
    assert all(a[1] < b[0] for a, b in zip(ends, ends[1:]))  # left to right, apart
    assert sum(len(s) for strokes, _ in letters for s in strokes) == sum(len(s) for s in drawing.strokes)  # all ink kept
    assert cut_joined.cut_word(reader, predictor, drawing, "hat") == []  # not what the word model reads


def test_the_cli_cuts_words_of_training_sites_and_round_trips(predictor, tmp_path, capsys):
    root = tmp_path / "unipen"
    word_site(root, "trn", ["cat", "hut"], style="CURSIVE")
    word_site(root, "rim", ["cat"])  # the word bench's validation site: never cut
    out = tmp_path / "cut.npz"
    assert cut_joined.main(["--unipen", str(root), "--out", str(out), "--workers", "1"]) == 0
    samples = cut_joined.load_joined_samples(out)
    assert "".join(s.label for s in samples).lower() == "cathut" and {s.site for s in samples} == {"trn"}
    assert all(s.strokes and all(len(p) for p in s.strokes) for s in samples)
    with np.load(out) as saved:
        assert saved["images"].shape == (6 * cut_joined.VARIANTS, 28, 28) and set(saved["category"]) == {"7"}
    from train.cut_letters import load_cut_letters
    assert len(load_cut_letters(out).labels) == 6 * cut_joined.VARIANTS  # `python -m train --cut-letters` reads it
    before = out.read_bytes()
    assert cut_joined.main(["--unipen", str(root), "--out", str(out), "--workers", "1"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == before
    assert cut_joined.main(["--unipen", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.npz")]) == 2
    assert cut_joined.main(["--unipen", str(root), "--out", str(tmp_path / "o.txt")]) == 2
    assert not (tmp_path / "o.npz").exists() and not list(tmp_path.glob(".*.tmp.npz"))


def test_a_file_not_ours_is_refused_with_a_message(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, points=np.zeros((3, 2)))
    with pytest.raises(DataError, match="not a file of letters cut"):
        cut_joined.load_joined_samples(bad)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError):
        cut_joined.load_joined_samples(tmp_path / "junk.npz")
    rows = [([np.zeros((2, 2), np.float32)], "a", "trn", "trn/1", [np.zeros((28, 28), np.uint8)])]
    fields = cut_joined.fields_of(rows)
    fields["stroke_points"] = np.array([5])
    np.savez(tmp_path / "short.npz", **fields)
    with pytest.raises(DataError, match="disagree"):
        cut_joined.load_joined_samples(tmp_path / "short.npz")


def test_the_stroke_model_trains_on_them_and_refuses_the_validation_sites(tmp_path, monkeypatch, capsys):
    from conftest import pen_folder
    from emnist_core.checkpoint import load_checkpoint
    from helpers import checkpoint_or_skip
    from test_stroke_model import prior_folder
    from train import pen_data

    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    seven = [np.array([[0, 0], [20, 0], [8, 30]], np.float32)]
    for site in ("new", "hold"):
        np.savez(tmp_path / f"{site}.npz", **cut_joined.fields_of([(seven, "7", site, f"{site}/1", [])] * 2))
    out = tmp_path / "both.pt"
    argv = ["--checkpoint", str(checkpoint_or_skip()), "--data-dir", str(prior_folder(tmp_path)),
            "--unipen-dir", str(pen_folder(tmp_path)), "--epochs", "1", "--workers", "1", "--cut-joined"]
    assert train_strokes.main(argv + [str(tmp_path / "new.npz"), "--out", str(out)]) == 0
    record = load_checkpoint(out).strokes.training
    assert record["train_characters"] == 3 + 2 and record["cut_joined_letters"] == 2
    assert train_strokes.main(argv + [str(tmp_path / "hold.npz"), "--out", str(tmp_path / "o.pt")]) == 2
    assert "validation sites hold" in capsys.readouterr().err and not (tmp_path / "o.pt").exists()
    assert train_strokes.main(argv + [str(tmp_path / "none.npz"), "--out", str(tmp_path / "o.pt")]) == 2


@pytest.mark.skipif(not (SHARED_DATA / "unipen-dev").is_dir(), reason="needs ../shared/data/unipen-dev (UNIPEN)")
def test_real_joined_words_are_cut_into_their_letters(tmp_path):
    out = tmp_path / "real.npz"
    assert cut_joined.main(["--unipen", str(SHARED_DATA / "unipen-dev"), "--out", str(out), "--words", "60",
                            "--workers", "1"]) == 0
    samples = cut_joined.load_joined_samples(out)
    assert len(samples) > 60  # most words cut, a few letters each
    assert not {s.site for s in samples} & {"kai", "syn", "cea", "ceb", "ugi", "par", "rim"}


def test_sticks_and_words_read_otherwise_only_when_asked(predictor, reader, monkeypatch):
    drawing = drawn("cat")
    monkeypatch.setattr(cut_joined, "STICKS", "a")  # pretend a is a stick
    assert [letter.lower() for _, letter in cut_joined.cut_word(reader, predictor, drawing, "cat")] == ["c", "t"]
    assert len(cut_joined.cut_word(reader, predictor, drawing, "cat", sticks=True)) == 3
    monkeypatch.setattr(sequence, "greedy", lambda log_probs: ("cot", 0.0))  # the word model reads another word
    assert cut_joined.cut_word(reader, predictor, drawing, "cat", sticks=True) == []
    assert len(cut_joined.cut_word(reader, predictor, drawing, "cat", sticks=True, any_reading=True)) == 3
