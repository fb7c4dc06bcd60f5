"""train.cut_letters: letters cut out of written words as the line tab cuts them, for the character model."""

import numpy as np
import pytest

from emnist_core.strokes import StrokeDrawing
from train import cut_letters, pen_data
from train.data import DataError

from conftest import down, pen_folder, write_tree
from helpers import word_strokes


def drawn(word: str) -> StrokeDrawing:
    """`word` (helpers.PEN_GLYPHS letters) printed on the line canvas, as the bench draws a word there."""
    return StrokeDrawing(1000, 300, 10.0, tuple(word_strokes(word, 150, 0.35, left=60, top=75)))


def test_the_cut_letters_are_the_images_the_line_tab_reads(predictor):
    drawing = drawn("cat")
    letters = cut_letters.cut_word(predictor, drawing, "cat")
    assert [letter.lower() for _, letter, _ in letters] == list("cat")
    read = predictor.read_line_strokes(drawing, "letters")
    assert read.letters.lower() == "cat"  # segmentation reads it: the same three crops
    for (image, _, score), (_, prediction) in zip(letters, read.characters):
        assert image.shape == (28, 28) and image.dtype == np.uint8
        assert np.array_equal(image, prediction.image)  # what the page feeds the model for that letter
        assert score > np.log(0.2)


def test_a_label_the_ink_does_not_read_as_gives_no_letters(predictor):
    assert cut_letters.cut_word(predictor, drawn("cat"), "housewife") == []  # more letters than pieces
    assert cut_letters.cut_word(predictor, drawn("cat"), "wok") == []  # pieces enough; read poorly


def test_the_case_is_read_from_the_word_as_written(predictor):
    """UNIPEN labels a word in its dictionary case: the two-case letters take the case the word is written in."""
    letters = cut_letters.cut_word(predictor, drawn("het"), "Het")
    assert [letter for _, letter, _ in letters] in (list("het"), list("Het"), list("HET"))


def word_site(root, site: str, words: list[str], style: str = "PRINTED"):
    """A site of category 7: each word printed with helpers.PEN_GLYPHS (y up in the file)."""
    pen, lines, first = "", "", 0
    for word in words:  # components are numbered in order: a word's strokes are a range of them
        strokes = word_strokes(word, 30, 0.35)
        pen += "".join(down(*[(round(float(x), 2), round(float(-y), 2)) for x, y in s]) + ".PEN_UP\n" for s in strokes)
        lines += f'.SEGMENT WORD {first}-{first + len(strokes) - 1} ? "{word}"\n'
        first += len(strokes)
    return write_tree(root, {f"data/7/{site}/w.dat": f".INCLUDE {site}/w.inc\n{lines}",
                             f"include/{site}/w.inc": f".STYLE {style}\n.WRITER_ID {site}1\n{pen}"})


def test_the_cli_cuts_the_training_sites_words_and_never_overwrites(predictor, tmp_path, capsys):
    root = tmp_path / "unipen"
    word_site(root, "trn", ["cat", "hut"])
    word_site(root, "rim", ["cat"])  # the word bench's validation site: never cut
    word_site(root, "cur", ["cat"], style="CURSIVE")  # joined-up: never cut
    out = tmp_path / "cut.npz"
    assert cut_letters.main(["--unipen", str(root), "--out", str(out), "--workers", "1"]) == 0
    cut = cut_letters.load_cut_letters(out)
    assert set(cut.site) == {"trn"} and "".join(cut.meant).lower() == "cathut"
    assert cut.images.shape == (6, 28, 28) and set(cut.category) == {"7"}
    before = out.read_bytes()
    assert cut_letters.main(["--unipen", str(root), "--out", str(out), "--workers", "1"]) == 2
    assert "exists; pass --force" in capsys.readouterr().err and out.read_bytes() == before
    assert cut_letters.main(["--unipen", str(tmp_path / "nothing"), "--out", str(tmp_path / "o.npz")]) == 2
    assert cut_letters.main(["--unipen", str(root), "--out", str(tmp_path / "o.txt")]) == 2
    assert cut_letters.main(["--unipen", str(root), "--out", str(tmp_path / "o.npz"), "--brushes", "6,x"]) == 2
    assert cut_letters.main(["--unipen", str(root), "--out", str(tmp_path / "o.npz"), "--brushes", "0"]) == 2
    assert not (tmp_path / "o.npz").exists() and not list(tmp_path.glob(".*.tmp.npz"))


def test_each_brush_draws_each_word_once_more(predictor, tmp_path):
    root = word_site(tmp_path / "unipen", "trn", ["cat", "hut"])
    out = tmp_path / "cut.npz"
    assert cut_letters.main(["--unipen", str(root), "--out", str(out), "--workers", "1", "--brushes", "10,6"]) == 0
    cut = cut_letters.load_cut_letters(out)
    assert len(cut.labels) == 12 and "".join(cut.meant).lower() == "catcathuthut"
    assert not np.array_equal(cut.images[0], cut.images[3])  # the thinner brush: another image


def test_the_letters_named_sticks_are_kept_out(predictor, tmp_path, monkeypatch):
    root = word_site(tmp_path / "unipen", "trn", ["cat", "hut"])
    monkeypatch.setattr(cut_letters, "STICKS", "at")  # the generated glyphs have no l or i: stand-ins
    assert cut_letters.main(["--unipen", str(root), "--out", str(tmp_path / "cut.npz"), "--workers", "1"]) == 0
    assert "".join(cut_letters.load_cut_letters(tmp_path / "cut.npz").meant).lower() == "chu"


def test_cut_letters_join_the_pen_drawings_and_never_a_validation_site(tmp_path, monkeypatch):
    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    folder = pen_folder(tmp_path)
    plain = pen_data.load_pen_mix(folder, tmp_path / "cache", 1, 0.5, None)
    fields = {"images": np.zeros((2, 28, 28), np.uint8), "labels": np.array([10, 36]), "meant": np.array(["A", "a"]),
              "category": np.array(["7", "7"]), "site": np.array(["trn", "trn"]), "writer": np.array(["w", "w"]),
              "score": np.zeros(2, np.float32)}
    np.savez(tmp_path / "cut.npz", **fields)
    mixed = pen_data.load_pen_mix(folder, tmp_path / "cache", 1, 0.5, None, tmp_path / "cut.npz")
    assert len(mixed.train.labels) == len(plain.train.labels) + 2 and list(mixed.train.meant[-2:]) == ["A", "a"]
    assert len(mixed.weights) == len(mixed.train.labels)
    np.savez(tmp_path / "held.npz", **{**fields, "site": np.array(["trn", "hold"])})
    with pytest.raises(DataError, match="validation sites hold"):
        pen_data.load_pen_mix(folder, tmp_path / "cache", 1, 0.5, None, tmp_path / "held.npz")
    np.savez(tmp_path / "rim.npz", **{**fields, "site": np.array(["trn", "rim"])})  # the word bench's printed site
    with pytest.raises(DataError, match="validation sites rim"):
        pen_data.load_pen_mix(folder, tmp_path / "cache", 1, 0.5, None, tmp_path / "rim.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a file of letters cut"):
        pen_data.load_pen_mix(folder, tmp_path / "cache", 1, 0.5, None, tmp_path / "bad.npz")
