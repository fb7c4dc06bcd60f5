"""The corrections store (emnist_core/corrections.py): concurrent writers, a killed writer, refusals, the cap,
and `python -m train.corrections` (list, export, delete)."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from emnist_core.corrections import (MAX_CORRECTIONS, CorrectionRefused, CorrectionStore, StoreError,
                                     meant_class)
from emnist_core.labels import char_to_index
from train import corrections as corrections_cli
from helpers import PNG, SHA, add, glyph
from train.data import IMAGE_MAGIC, LABEL_MAGIC, parse_idx

ROOT = Path(__file__).resolve().parent.parent
STROKES = {"width": 400, "height": 400, "brush": 16, "strokes": [[{"x": 10, "y": 20}, {"x": 30, "y": 40}]]}


def test_a_correction_round_trips(tmp_path):
    store = CorrectionStore(tmp_path / "c.db")
    first = add(store, 1, "c")
    second = add(store, 2, "7", STROKES)
    rows = store.corrections()
    assert [r.id for r in rows] == [first, second]
    assert rows[0].char == "C" and rows[0].meant == "c" and rows[0].label == char_to_index("C")
    assert (rows[0].model_input == glyph(1)).all() and rows[0].drawing == PNG and rows[0].drawing_kind == "png"
    assert rows[1].drawing_kind == "strokes" and b'"strokes"' in rows[1].drawing
    assert rows[0].checkpoint == "checkpoints/x.pt" and rows[0].checkpoint_sha256 == SHA
    assert rows[0].created.endswith("Z") and rows[0].model_read == "o"
    with sqlite3.connect(tmp_path / "c.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("meant, phrase", [("%", "not one of the 47"), ("ab", "one character"),
                                           ("", "one character"), (None, "one character"), ("é", "not one")])
def test_a_character_outside_bymerge_is_refused(tmp_path, meant, phrase):
    store = CorrectionStore(tmp_path / "c.db")
    with pytest.raises(CorrectionRefused, match=phrase):
        store.add(glyph(1), PNG, meant, "o", "x.pt", SHA)
    assert store.count() == 0


def test_merged_lowercase_maps_to_its_capital():
    assert meant_class("c") == meant_class("C") == char_to_index("C")
    assert meant_class("a") != meant_class("A")  # ByMerge keeps a and A apart
    assert meant_class(" 7 ") == 7


@pytest.mark.parametrize("image, drawing, phrase", [
    (np.zeros((28, 28), np.uint8), PNG, "blank"),
    (np.zeros((10, 10), np.uint8), PNG, "could not be read"),
    (None, PNG, "could not be read"),
    (glyph(1).astype(np.float32), PNG, "could not be read"),
    (glyph(1), b"GIF89a", "not a PNG"),
    (glyph(1), "{not json", "not valid JSON"),
    (glyph(1), {"width": 4, "strokes": []}, "no strokes"),
    (glyph(1), 42, "PNG bytes or stroke JSON"),
    (glyph(1), PNG + b"\0" * (3 << 20), "over 2 MB"),
])
def test_a_blank_or_unusable_drawing_is_refused(tmp_path, image, drawing, phrase):
    store = CorrectionStore(tmp_path / "c.db")
    with pytest.raises(CorrectionRefused, match=phrase):
        store.add(image, drawing, "a", "o", "x.pt", SHA)
    assert store.count() == 0


def test_a_full_store_refuses_with_a_message(tmp_path):
    assert MAX_CORRECTIONS == 10_000  # the documented cap
    store = CorrectionStore(tmp_path / "c.db", cap=3)
    for seed in range(3):
        add(store, seed)
    with pytest.raises(CorrectionRefused, match="full"):
        add(store, 9)
    assert store.count() == 3
    store.delete(store.corrections()[0].id)
    add(store, 9)  # room again
    assert store.count() == 3


def test_twenty_concurrent_writers_lose_nothing(tmp_path):
    store = CorrectionStore(tmp_path / "c.db", cap=10_000)
    acknowledged, errors = [], []
    start = threading.Barrier(20)

    def writer(n: int):
        start.wait()
        try:
            for k in range(10):
                acknowledged.append((add(CorrectionStore(tmp_path / "c.db") if k % 2 else store, 100 * n + k,
                                         "0123456789"[k]), 100 * n + k))
        except Exception as error:  # noqa: BLE001 - any failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = {r.id: r for r in store.corrections()}
    assert len(acknowledged) == 200 and len(rows) == 200
    for row_id, seed in acknowledged:
        assert (rows[row_id].model_input == glyph(seed)).all()


def test_the_cap_holds_under_concurrent_writers(tmp_path):
    store = CorrectionStore(tmp_path / "c.db", cap=25)
    outcomes = []

    def writer(n: int):
        for k in range(3):
            try:
                outcomes.append(add(store, 10 * n + k))
            except CorrectionRefused:
                outcomes.append(None)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 25 == sum(o is not None for o in outcomes)


# A writer that stores corrections as fast as it can and acknowledges each (prints its id) once add() has
# returned; it spends most of its time inside add()'s transaction (a full fsync per commit), so a kill at
# any moment most likely lands in one.
BUSY_WRITER = """
import sys
import numpy as np
from emnist_core.corrections import CorrectionStore
store = CorrectionStore(sys.argv[1])
image = np.zeros((28, 28), np.uint8); image[5:20, 8:12] = 255
first = int(sys.argv[2])
for k in range(first, first + (1 << 20)):
    image[0, :4] = np.frombuffer(k.to_bytes(4, "big"), np.uint8)  # each drawing new (the same one is kept once)
    print(store.add(image, b"\\x89PNG\\r\\n\\x1a\\n", "7", "1", "x.pt", "0" * 64), flush=True)
"""


def test_a_writer_killed_while_writing_leaves_every_acknowledged_row_and_no_half_row(tmp_path):
    """Through add() alone: a writer killed at any moment leaves every row it acknowledged, at most one
    row more (committed, not yet acknowledged), each complete, and a store that still takes writes."""
    path = tmp_path / "c.db"
    add(CorrectionStore(path), 1)  # acknowledged before the writers start
    acknowledged = []
    for n in range(3):  # three writers, each killed after its fifth acknowledged row
        writer = subprocess.Popen([sys.executable, "-c", BUSY_WRITER, str(path), str(n << 20)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        for _, line in zip(range(5), writer.stdout):
            acknowledged.append(int(line))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        ids = [r.id for r in CorrectionStore(path).corrections()]
        assert set(acknowledged) <= set(ids) and len(ids) - 1 - len(acknowledged) in (0, 1), (acknowledged, ids)
        acknowledged = ids[1:]  # a row committed just before the kill counts from here on
    store = CorrectionStore(path)
    rows = store.corrections()
    assert all(r.model_input.sum() > 0 and r.drawing.startswith(b"\x89PNG") and r.char == "7" for r in rows[1:])
    before = store.count()
    add(store, 2)  # the store still takes writes
    assert store.count() == before + 1


def test_a_file_that_is_not_a_store_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a corrections store"):
        CorrectionStore(junk)
    with pytest.raises(StoreError, match="no such"):
        CorrectionStore(tmp_path / "absent.db", create=False)
    with pytest.raises(StoreError, match="folder"):
        CorrectionStore(tmp_path)


# ---- python -m train.corrections ---------------------------------------------------------------

def test_list_export_and_delete(tmp_path, capsys):
    path = tmp_path / "c.db"
    store = CorrectionStore(path)
    ids = [add(store, 1, "c"), add(store, 2, "7"), add(store, 3, "a")]
    assert corrections_cli.main([str(path)]) == 0
    listed = capsys.readouterr().out
    assert all(f"{i} " in listed for i in ids) and "C" in listed and "3 corrections" in listed

    assert corrections_cli.main([str(path), "--export-idx", str(tmp_path / "idx")]) == 0
    images = parse_idx((tmp_path / "idx" / "emnist-bymerge-train-images-idx3-ubyte").read_bytes(), "i", IMAGE_MAGIC)
    labels = parse_idx((tmp_path / "idx" / "emnist-bymerge-train-labels-idx1-ubyte").read_bytes(), "l", LABEL_MAGIC)
    assert (images[0] == glyph(1)).all() and list(labels) == [char_to_index(c) for c in "C7a"]

    assert corrections_cli.main([str(path), "--export-csv", str(tmp_path / "c.csv")]) == 0
    lines = (tmp_path / "c.csv").read_text().splitlines()
    first = [int(v) for v in lines[1].split(",")]
    assert len(lines) == 3 and len(first) == 785 and first[0] == 7
    assert first[1:] == glyph(2).reshape(-1).tolist()  # EMNIST's transposed order, as stored

    assert corrections_cli.main([str(path), "--delete", str(ids[1])]) == 0
    assert [r.id for r in store.corrections()] == [ids[0], ids[2]]
    capsys.readouterr()
    assert corrections_cli.main([str(path), "--delete", "999"]) == 2
    assert "no correction 999" in capsys.readouterr().err


def test_cli_bad_input_is_a_message_and_exit_2(tmp_path, capsys):
    assert corrections_cli.main([str(tmp_path / "absent.db")]) == 2
    assert "no such corrections store" in capsys.readouterr().err
    (tmp_path / "junk.db").write_bytes(b"x" * 200)
    assert corrections_cli.main([str(tmp_path / "junk.db")]) == 2
    assert "not a corrections store" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        corrections_cli.main([str(tmp_path / "junk.db"), "--delete", "x"])
    assert exit_.value.code == 2
