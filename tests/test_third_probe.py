"""The third hostile probe (issue 26, section 3): what the page and the corrections CLI refuse and bound now.
Numbered as the issue's items; each test fails without its fix."""

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

import demo
import guards
from emnist_core.corrections import AlreadyKept, CorrectionStore, StoreError, keep_correction
from emnist_core.strokes import MAX_POINTS, parse_drawing
from train import corrections as cli
from helpers import add, free_port

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")  # in gradio
SEVEN = {"width": 400, "height": 400, "brush": 16, "strokes": [[[120, 90], [280, 90], [200, 320]]]}


@pytest.fixture(scope="module")
def page(tiny, tmp_path_factory):  # noqa: F811
    """The page with a corrections store, launched."""
    store = CorrectionStore(tmp_path_factory.mktemp("store") / "c.db")
    blocks = demo.build_demo(tiny, store)
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield blocks
    blocks.close()


def event(blocks, api_name: str) -> int:
    return next(i for i, fn in blocks.fns.items() if fn.api_name == api_name)


def run(blocks, body, **options) -> httpx.Response:
    """POST to the path the page's own unqueued events take (/gradio_api/run/predict, by fn_index)."""
    content = body if isinstance(body, (bytes, str)) or callable(body) else json.dumps(body)
    content = content() if callable(content) else content
    return httpx.post(f"{blocks.local_url}gradio_api/run/predict", content=content,
                      headers={"content-type": "application/json"}, timeout=60, **options)


# 1. a flood of lines: a few readings at once, a few waiting briefly, the rest told to try again
def test_line_readings_run_a_few_at_a_time(tiny, monkeypatch):  # noqa: F811
    running, most = [0], [0]
    lock = threading.Lock()

    def slow_reading(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.4)
        with lock:
            running[0] -= 1
        raise demo.UnusableImage("read")  # the reading itself is not under test

    monkeypatch.setattr(tiny, "read_line_strokes", slow_reading)
    start, answers = threading.Barrier(20), []

    def visitor():
        start.wait()
        answers.append(demo.read_drawn_line(tiny, SEVEN)[1])

    threads = [threading.Thread(target=visitor) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] <= demo.LINE_READINGS.running == 2
    busy = [a for a in answers if "Read the line" in a]
    assert busy and answers.count("read") + len(busy) == 20
    assert answers.count("read") <= demo.LINE_READINGS.running + demo.LINE_READINGS.waiting


# 2. a body too large is refused by its size before anything parses it; the queue is capped
def test_a_body_over_the_limit_is_refused_before_parsing(page):
    points = [[[i % 400, i // 400] for i in range(200_000)]]
    huge = json.dumps({"data": [{"width": 400, "height": 400, "brush": 16, "strokes": points}, "any"],
                       "fn_index": event(page, "read"), "session_hash": "s"})
    assert len(huge) > guards.MAX_BODY_BYTES
    start = time.perf_counter()
    refused = run(page, huge)
    assert refused.status_code == 413 and "too large" in refused.json()["error"]
    assert time.perf_counter() - start < 2
    chunked = run(page, lambda: (huge[i:i + 65536].encode() for i in range(0, len(huge), 65536)))
    assert chunked.status_code == 413  # no Content-Length: counted as it comes
    assert "frame-ancestors" in refused.headers["content-security-policy"]
    largest = {"width": 1000, "height": 1000, "brush": 16,
               "strokes": [[[100 + i % 800 + 0.123456789, 100 + (i // 800) * 30 + 0.987654321]
                            for i in range(k, k + 100)] for k in range(0, MAX_POINTS, 100)]}
    legal = run(page, {"data": [largest, "any"], "fn_index": event(page, "read"), "session_hash": "s"})
    assert legal.status_code == 200  # the largest drawing the page reads still gets through
    assert page._queue.max_size == demo.QUEUE_MAX


# 5 and 6. requests with too few values, an unknown event, odd values: a short message, a short log
def test_bad_requests_get_a_message_and_the_log_repeats_little(page, capfd, caplog):
    read = event(page, "read")
    one_value = run(page, {"data": ["x" * 1_500_000], "fn_index": read, "session_hash": "s"})
    assert "takes 2 values" in one_value.json()["error"]
    not_an_example = run(page, {"data": ["x" * 1_500_000], "fn_index": event(page, "load_example"), "session_hash": "s"})
    assert "not one this event's inputs" in not_an_example.json()["error"]  # Gradio logged 200 characters of it
    for index in (99, -1):
        unknown = run(page, {"data": [SEVEN, "any"], "fn_index": index, "session_hash": "s"})
        assert unknown.status_code == 404 and "no event" in unknown.json()["detail"]
        joined = httpx.post(f"{page.local_url}gradio_api/queue/join", timeout=30,
                            json={"data": [SEVEN, "any"], "fn_index": index, "session_hash": "s"})
        assert joined.status_code == 404
    for odd in ('Infinity', '"\\ud800"', 'NaN', '{"a": 1}'):
        answer = run(page, '{"data": [%s, %s], "fn_index": %d, "session_hash": "s"}' % (json.dumps(SEVEN), odd, read))
        assert answer.json()["error"] and "Unknown choice" in answer.json()["error"], odd
    logged = capfd.readouterr()
    text = logged.out + logged.err + caplog.text
    assert "x" * 81 not in text and "Traceback" not in text


# 3. a store that fails is logged with its cause, the writer told which, and a damaged one refused at start
def corrupt(path, page: int = 3) -> None:
    with open(path, "r+b") as f:
        f.seek(4096 * (page - 1))
        f.write(os.urandom(4096))


def filled_store(path, n: int = 60) -> CorrectionStore:
    store = CorrectionStore(path)
    for seed in range(n):
        add(store, seed)
    return store


def test_a_damaged_store_is_refused_at_start(tiny, tmp_path, monkeypatch, capsys):  # noqa: F811
    path = tmp_path / "c.db"
    filled_store(path)
    corrupt(path)
    with pytest.raises(StoreError, match="damaged"):
        CorrectionStore(path)
    monkeypatch.setenv("EMNIST_CHECKPOINT", str(tiny.checkpoint_path))
    monkeypatch.setattr(demo, "serve", lambda *a, **k: pytest.fail("served a damaged store"))
    assert demo.main(["--collect", str(path)]) == 2
    assert "damaged" in capsys.readouterr().err
    assert cli.main([str(path)]) == 2 and "damaged" in capsys.readouterr().err


def test_store_failures_while_serving_are_logged_and_named(tiny, tmp_path, monkeypatch, caplog):  # noqa: F811
    drawing = demo.render_drawing(parse_drawing(SEVEN))
    store = filled_store(tmp_path / "full.db", 3)
    opened = store._connect

    @contextmanager
    def disk_full(*args, **kwargs):  # as a full disk answers: SQLITE_FULL when the file would grow
        with opened(*args, **kwargs) as db:
            db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
            yield db

    monkeypatch.setattr(store, "_connect", disk_full)
    with caplog.at_level("ERROR"):
        said = keep_correction(store, tiny, drawing, "7", drawing=b"\x89PNG\r\n\x1a\n" + os.urandom(50_000))
    assert said.startswith("Not kept") and "disk is full" in said
    assert "disk is full" in caplog.text and "full.db" in caplog.text

    moved = CorrectionStore(tmp_path / "moved.db")
    os.rename(tmp_path / "moved.db", tmp_path / "elsewhere.db")
    caplog.clear()
    with caplog.at_level("ERROR"):
        said = keep_correction(moved, tiny, drawing, "7")
    assert "gone" in said and "gone" in caplog.text
    assert not (tmp_path / "moved.db").exists()  # no empty store made in its place

    damaged = filled_store(tmp_path / "damaged.db")
    corrupt(tmp_path / "damaged.db", page=2)
    said = keep_correction(damaged, tiny, drawing, "7")
    assert "damaged" in said


# 4. python -m train.corrections never overwrites what it was not asked to
def test_exports_never_overwrite_unasked(tmp_path, capsys):
    path = tmp_path / "c.db"
    store = filled_store(path, 3)
    assert cli.main([str(path), "--export-csv", str(path)]) == 2
    assert "store itself" in capsys.readouterr().err and store.count() == 3
    kept = tmp_path / "kept.csv"
    kept.write_text("precious")
    link = tmp_path / "link.csv"
    link.symlink_to(kept)
    for target in (kept, link):
        assert cli.main([str(path), "--export-csv", str(target)]) == 2
        assert "--force" in capsys.readouterr().err and kept.read_text() == "precious"
    assert cli.main([str(path), "--export-csv", str(kept), "--force"]) == 0
    assert len(kept.read_text().splitlines()) == 3

    emnist = tmp_path / "emnist"
    emnist.mkdir()
    (emnist / "emnist-bymerge-train-images-idx3-ubyte.gz").write_bytes(b"the training set")
    assert cli.main([str(path), "--export-idx", str(emnist)]) == 2
    assert "holds EMNIST data" in capsys.readouterr().err
    assert sorted(p.name for p in emnist.iterdir()) == ["emnist-bymerge-train-images-idx3-ubyte.gz"]
    out = tmp_path / "out"
    assert cli.main([str(path), "--export-idx", str(out)]) == 0
    assert cli.main([str(path), "--export-idx", str(out)]) == 2  # the export is there already
    assert cli.main([str(path), "--export-idx", str(out), "--force"]) == 0


def test_another_applications_sqlite_file_is_left_as_it_was(tmp_path, capsys):
    other = tmp_path / "app.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (name TEXT)")
    db.execute("INSERT INTO users VALUES ('ann')")
    db.commit()
    db.close()
    before = other.read_bytes()
    assert cli.main([str(other)]) == 2 and "something else" in capsys.readouterr().err
    with pytest.raises(StoreError, match="something else"):
        CorrectionStore(other)  # as demo.py --collect opens it
    assert other.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_empty_or_odd_stores_and_ids_give_a_message(tmp_path, capsys):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert cli.main([str(empty)]) == 2 and "empty" in capsys.readouterr().err
    path = tmp_path / "c.db"
    CorrectionStore(path)
    assert cli.main([str(path)]) == 0 and "0 corrections" in capsys.readouterr().out
    assert cli.main([str(path), "--export-csv", str(tmp_path / "x.csv")]) == 2
    assert "nothing to export" in capsys.readouterr().err
    for bad in (str(2**63), "0", "5-3", "x"):
        with pytest.raises(SystemExit) as exit_:
            cli.main([str(path), "--delete", bad])
        assert exit_.value.code == 2 and "not an id" in capsys.readouterr().err


# 7. one client's flood: a per-client limit, one row per drawing, rounded strokes, bulk delete
def test_the_same_drawing_is_kept_once(tiny, tmp_path):  # noqa: F811
    store = CorrectionStore(tmp_path / "c.db")
    add(store, 1)
    with pytest.raises(AlreadyKept):
        add(store, 1)
    add(store, 1, meant="b")  # the same drawing said to be another character is another correction
    drawing = demo.render_drawing(parse_drawing(SEVEN))
    assert keep_correction(store, tiny, drawing, "7").startswith("Thank you")
    assert keep_correction(store, tiny, drawing, "7").startswith("Kept already")
    assert store.count() == 3


def test_strokes_are_stored_rounded(tiny, tmp_path):  # noqa: F811
    store = CorrectionStore(tmp_path / "c.db")
    drawing = {**SEVEN, "strokes": [[[120.1, 90.123456], [280, 90], [200.1, 320.7]]]}
    assert demo.correct_drawn(tiny, store, drawing, "7").startswith("Thank you")
    kept = store.corrections()[0].drawing.decode()
    assert "[[[120.1,90.12],[280.0,90.0],[200.1,320.7]]]" in kept, kept


def test_one_client_cannot_flood_the_store(tiny, tmp_path):  # noqa: F811
    store = CorrectionStore(tmp_path / "c.db")
    blocks = demo.build_demo(tiny, store)
    correct = blocks.fns[event(blocks, "correct_strokes")].fn
    count, _ = demo.CORRECTIONS_PER_CLIENT
    flood = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.1"))
    chars = demo.correction_choices()
    said = [correct(SEVEN, chars[k % len(chars)], flood) for k in range(count + 2)]
    assert all(s.startswith("Thank you") for s in said[:count]) and "most this page keeps" in said[-1]
    other = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.2"))
    assert correct(SEVEN, "Y", other).startswith("Thank you")
    assert store.count() == count + 1

    limit = guards.RateLimit(2, window_s=60)
    assert [limit.allow("a", now=t) for t in (0, 1, 2, 61, 62, 63)] == [True, True, False, True, True, False]
    proxied = SimpleNamespace(headers={"x-forwarded-for": "6.6.6.6, 1.2.3.4"}, client=SimpleNamespace(host="10.0.0.1"))
    assert guards.client_of(proxied) == "1.2.3.4"  # the address the Space's proxy saw, not what was written
    direct = SimpleNamespace(headers={"x-forwarded-for": "6.6.6.6"}, client=SimpleNamespace(host="8.8.8.8"))
    assert guards.client_of(direct) == "8.8.8.8"


def test_bulk_delete_in_one_transaction(tmp_path, capsys):
    path = tmp_path / "c.db"
    filled_store(path, 25)
    assert cli.main([str(path), "--delete", "3", "5", "9-20"]) == 0
    assert "deleted 14 corrections; 11 left" in capsys.readouterr().out
    assert cli.main([str(path), "--delete", "1", "999"]) == 2  # one names nothing: none is deleted
    assert "no correction 999" in capsys.readouterr().err
    assert [r.id for r in CorrectionStore(path).corrections()] == [1, 2, 4, 6, 7, 8, 21, 22, 23, 24, 25]
