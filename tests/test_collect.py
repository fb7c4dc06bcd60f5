"""The page's "Not what you wrote?" (demo.py --collect STORE): shown and stored only with --collect, and
/correct through gradio_client against a launched server."""


import numpy as np
import pytest
from PIL import Image

import demo
from emnist_core.corrections import CORRECTION_NOTE_KEPT, CorrectionStore, keep_correction
from helpers import SEVEN, free_port, page_image, sketch_value

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")  # in gradio


@pytest.fixture(scope="module")
def seven_value() -> dict:
    return sketch_value(page_image(SEVEN, brush=demo.BRUSH_RADIUS, canvas=demo.CANVAS))


def page_parts(blocks) -> tuple[set, set, str]:
    """(elem_ids, API names, all Markdown text) of a built page."""
    ids = {b.elem_id for b in blocks.blocks.values() if getattr(b, "elem_id", None)}
    apis = {f.api_name for f in blocks.fns.values() if f.api_name}
    text = " ".join(str(b.value) for b in blocks.blocks.values() if b.get_block_name() == "markdown")
    return ids, apis, text


def test_the_control_is_there_only_with_collect(predictor, tmp_path):
    ids, apis, text = page_parts(demo.build_demo(predictor))
    assert "correction-char" not in ids and "correct" not in apis and "Not what you wrote" not in text
    ids, apis, text = page_parts(demo.build_demo(predictor, CorrectionStore(tmp_path / "c.db")))
    assert {"correction-char", "correction-keep"} <= ids and "correct" in apis
    assert "Not what you wrote?" in text and "drawing is kept" in text and "improve the model" in text


def test_flag_and_environment(predictor, monkeypatch, tmp_path):
    built = []
    monkeypatch.setattr(demo, "serve", lambda blocks, **options: built.append(page_parts(blocks)))
    monkeypatch.setenv("EMNIST_CHECKPOINT", str(predictor.checkpoint_path))
    monkeypatch.delenv("EMNIST_COLLECT", raising=False)
    assert demo.main([]) == 0 and "correct" not in built[-1][1]
    assert not list(tmp_path.iterdir())  # nothing stored, no file made
    assert demo.main(["--collect", str(tmp_path / "flag.db")]) == 0 and "correct" in built[-1][1]
    monkeypatch.setenv("EMNIST_COLLECT", str(tmp_path / "env.db"))
    assert demo.main([]) == 0 and "correct" in built[-1][1]
    assert (tmp_path / "flag.db").is_file() and (tmp_path / "env.db").is_file()
    assert demo.main(["--collect", str(tmp_path)]) == 2  # a folder is no store: a message, exit 2


def test_keep_correction_messages(predictor, seven_value, tmp_path):
    store = CorrectionStore(tmp_path / "c.db")
    assert keep_correction(store, predictor, seven_value, "T").startswith(CORRECTION_NOTE_KEPT)
    assert "not one of the 47" in keep_correction(store, predictor, seven_value, "#")
    blank = sketch_value(np.full((demo.CANVAS, demo.CANVAS), 255, np.uint8))
    assert keep_correction(store, predictor, blank, "T").startswith("Not kept")
    assert keep_correction(store, predictor, None, "T").startswith("Not kept")
    strokes = {"width": 400, "height": 400, "brush": 16, "strokes": [[{"x": 1, "y": 2}]]}
    assert keep_correction(store, predictor, seven_value, "1", drawing=strokes).startswith(CORRECTION_NOTE_KEPT)
    rows = store.corrections()
    assert [(r.char, r.model_read, r.drawing_kind) for r in rows] == [("T", "7", "png"), ("1", "7", "strokes")]
    assert rows[0].drawing.startswith(b"\x89PNG") and rows[0].checkpoint == str(predictor.checkpoint_path)
    assert (rows[0].model_input == predictor.predict(seven_value).image.T).all()  # what the model read


def test_api_correct_keeps_the_drawing(predictor, seven_value, tmp_path):
    from gradio_client import Client, handle_file
    store = CorrectionStore(tmp_path / "c.db")
    blocks = demo.build_demo(predictor, store)
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(blocks.local_url, verbose=False)
        path = tmp_path / "seven.png"
        Image.fromarray(seven_value["composite"]).save(path)
        value = {"background": None, "layers": [], "composite": handle_file(str(path))}
        assert client.predict(value, "z", api_name="/correct").startswith(CORRECTION_NOTE_KEPT)
        assert "not one of the 47" in client.predict(value, "?", api_name="/correct")
        assert client.predict(value, api_name="/predict")[0]["label"] == "7"  # /predict as before
    finally:
        blocks.close()
    assert [(r.char, r.meant) for r in store.corrections()] == [("Z", "z")]
