"""The second hostile probe (issue 21): inputs that were mishandled, one group per section. Each test
fails without its fix; bench/robustness.py measures the memory, time and storage ones."""

import base64
import io
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

import demo
from bench.hostile import drawing
from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.inference import readings
from emnist_core.predict import Predictor, percent
from emnist_core.preprocess import MAX_DATA_URL, MAX_LAYERS, UnusableImage, prepare
from emnist_core.segment import line_from_image
from emnist_core.wording import describe

from conftest import shared_path
from helpers import write_line


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor(DEFAULT_CHECKPOINT)


# ---- 1. the reading, the Label's headline and every top-k agree ----------------------------------------

def test_reading_is_first_and_most_probable_everywhere_on_real_images(shipped):
    """On 3,000 validation images of the pool (about 2.7% read a class that is not the arg-max under
    the shipped "sum" rule), top5[0] is the rule's reading, the rest are the likeliest other classes of
    all 47 (issue 26: not of the reading's kind only), each with its one probability; the Label's dict
    and the verdict lead with the reading, and where another class is likelier the verdict says why."""
    from train.evaluate import checkpoint_split
    data_dir = shared_path("emnist-bymerge-offline")
    images, _, _ = checkpoint_split(shipped.checkpoint, DEFAULT_CHECKPOINT, data_dir, "val", sample=3000)
    q, p_digit = (torch.from_numpy(a) for a in shipped.predict_emnist(images))
    expected = [shipped.labels[i] for i in readings(q, p_digit)]
    predictions = shipped.classify(list(images), [image.T for image in images])
    not_argmax = sum(shipped.labels[int(i)] != e for i, e in zip(q.argmax(1), expected))
    assert not_argmax > 0, "no image where the rule's reading is not the arg-max: nothing tested"
    mixed = 0
    for k, (prediction, reading) in enumerate(zip(predictions, expected)):
        label = dict(prediction.top5)
        assert prediction.top5[0][0] == reading and next(iter(label)) == reading
        rest = [p for _, p in prediction.top5[1:]]
        assert rest == sorted(rest, reverse=True)
        others = sorted((float(p) for i, p in enumerate(q[k]) if shipped.labels[i] != reading), reverse=True)
        assert np.allclose(rest, others[:4]) and np.isclose(prediction.top5[0][1], float(q[k, shipped.labels.index(reading)]))
        mixed += len({c.isdigit() for c in label}) == 2
        verdict = describe(prediction)
        assert verdict.startswith(f"## Reads as **{reading}** ({percent(prediction.top5[0][1])})")
        assert ("alone is likelier" in verdict) == (max(label.values()) > label[reading])
    assert mixed > len(predictions) / 2, f"only {mixed} top-5s hold both digits and letters"


# ---- the API's sketchpad value: its files reach emnist_core undecoded -----------------------------------

def sketch(composite=None, layers=(), background=None) -> dict:
    """A sketchpad value of files, as Gradio hands an API request's on (FileData of uploaded files)."""
    as_file = lambda path: None if path is None else {"path": str(path), "meta": {"_type": "gradio.FileData"}}  # noqa: E731
    return {"background": as_file(background), "layers": [as_file(p) for p in layers], "composite": as_file(composite)}


def save(folder: Path, name: str, image: Image.Image, **options) -> Path:
    image.save(folder / name, **options)
    return folder / name


def seen_on_page(predictor, payload, folder):
    """What /predict answers for `payload`, whose files Gradio has in `folder` (its upload folder)."""
    label, verdict, seen = demo.read_character(predictor, demo.sketch_files(payload, str(folder)))
    return label, verdict, None if seen is None else seen[::demo.ZOOM, ::demo.ZOOM]


# 2. many large blank layers beside the composite: never opened; too many refused; without a composite, bounded
def test_layers_beside_a_composite_are_not_decoded_and_their_number_is_bounded(tiny, tmp_path, monkeypatch):
    seven = save(tmp_path, "seven.png", Image.fromarray(drawing()))
    blank = save(tmp_path, "blank.png", Image.new("L", (4096, 4096), 255))
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: (opened.append(str(fp)), real_open(fp, *a, **k))[1])
    label, verdict, _ = seen_on_page(tiny, sketch(seven, [blank] * MAX_LAYERS), tmp_path)
    assert label and "Reads as" in verdict and str(blank) not in opened
    _, verdict, _ = seen_on_page(tiny, sketch(seven, [blank] * (MAX_LAYERS + 1)), tmp_path)
    assert "Too many layers" in verdict
    opened.clear()
    _, verdict, _ = seen_on_page(tiny, sketch(None, [blank] * 2, background=blank), tmp_path)
    assert "too large together" in verdict


def png(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


# 4. uploads: a cache lifetime, and a cap on files per request (and the frame policy), on a launched page
@pytest.fixture(scope="module")
def page_url(tiny):
    from helpers import served
    with served(tiny) as url:
        yield url


# 3. blobs: no component on the page takes any (its canvases send stroke JSON, the API takes files), so
# nothing is held for a request that may never come
def test_no_component_on_the_page_takes_blobs(page_url):
    import httpx
    components = httpx.get(f"{page_url}config", timeout=30).json()["components"]
    for component in components:
        sent = httpx.post(f"{page_url}gradio_api/component_server/", timeout=30,
                          json={"data": {"id": "a", "type": "composite", "index": "null"}, "session_hash": "s",
                                "component_id": component["id"], "fn_name": "accept_blobs"})
        assert sent.status_code == 404, (component["type"], sent.text[:200])


def test_uploads_expire_and_one_request_carries_few_files(tiny, page_url):
    import httpx
    assert demo.build_demo(tiny).delete_cache == demo.CACHE_LIFETIME
    many = httpx.post(f"{page_url}gradio_api/upload", files=[("files", (f"f{i}.png", b"x")) for i in range(300)])
    few = httpx.post(f"{page_url}gradio_api/upload", files=[("files", ("f.png", png(drawing())))])
    assert many.status_code == 400 and "Too many files" in many.text
    assert few.status_code == 200
    root = httpx.get(page_url)  # Spaces frames the page: name who may, rather than refuse all frames
    assert "frame-ancestors" in root.headers["content-security-policy"] and "x-frame-options" not in root.headers


# 5 and 6: EXIF orientation, 16-bit and float images read on the page as the CLI reads them
def sideways_jpeg(tmp_path, side=400):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to show": stored turned the other way
    image = Image.fromarray(drawing(canvas=side, width=side // 25)).rotate(90, expand=True)
    return save(tmp_path, f"side{side}.jpg", image, exif=exif, quality=95)


DEEP = {
    "16-bit grey PNG": lambda t: save(t, "deep.png", Image.fromarray(np.where(drawing() < 128, 4000, 30000)
                                                                     .astype(np.uint16))),
    "12-bit scan in a 16-bit PNG": lambda t: save(t, "scan.png", Image.fromarray(np.where(drawing() < 128, 300, 3500)
                                                                                .astype(np.uint16))),
    "32-bit float TIFF": lambda t: save(t, "float.tiff", Image.fromarray(drawing().astype(np.float32) / 255)),
    "EXIF orientation 6 JPEG": sideways_jpeg,
}


@pytest.mark.parametrize("make", DEEP.values(), ids=DEEP.keys())
def test_page_reads_deep_and_turned_images_as_the_cli(tiny, tmp_path, make):
    path = make(tmp_path)
    _, verdict, seen = seen_on_page(tiny, sketch(path), tmp_path)
    assert seen is not None, verdict
    assert np.array_equal(seen, tiny.predict(str(path)).image)  # one path for every surface
    assert similarity(seen, prepare(drawing()).upright) > 0.9  # and that path reads it upright


def similarity(a, b) -> float:
    return float(np.corrcoef(a.astype(np.float32).ravel(), b.astype(np.float32).ravel())[0, 1])


# 7. what a visitor sent is repeated, in messages and logs, only in part
def test_a_huge_choice_is_refused_briefly_and_logs_stay_short(tiny, monkeypatch, caplog):
    with pytest.raises(gr.Error) as refused:
        demo.chosen("x" * 10_000_000, demo.WRITING_CHOICES)
    assert len(str(refused.value)) < 300
    assert demo.chosen("digits", demo.WRITING_CHOICES) == "digits" and demo.chosen(None, demo.WRITING_CHOICES) == "any"

    def broken(value, writing="any"):
        raise ValueError("y" * 10_000_000)

    monkeypatch.setattr(tiny, "predict", broken)
    with caplog.at_level("ERROR", logger="demo"):
        label, verdict, _ = demo.read_character(tiny, drawing())
    assert label is None and "Sorry" in verdict
    assert caplog.records and max(len(r.getMessage()) for r in caplog.records) < 20_000


# 8. data: URLs
def test_data_urls_are_read_or_refused_with_a_message(tiny, tmp_path):
    good = "data:image/png;base64," + base64.b64encode(png(drawing())).decode()
    assert similarity(tiny.predict(good).image, prepare(drawing()).upright) > 0.95
    for bad, says in (("data:image/png;base64,@@@", "not valid base64"), ("data:,hello", "(?i)only base64"),
                      ("data:image/png;base64," + "A" * MAX_DATA_URL, "too long")):
        with pytest.raises(UnusableImage, match=says):
            tiny.predict(bad)
    payload = {"background": None, "layers": [], "composite": {"path": None, "url": good}}  # as an API client may send it
    label, verdict, _ = demo.read_character(tiny, demo.sketch_files(payload, str(tmp_path)))
    assert label and "Reads as" in verdict


def call_predict(page_url, data) -> str:
    """What /predict answers a raw API request, as its event stream's text."""
    import httpx
    event = httpx.post(f"{page_url}gradio_api/call/predict", json={"data": data}, timeout=60).json()["event_id"]
    return httpx.get(f"{page_url}gradio_api/call/predict/{event}", timeout=60).text


def test_a_file_gradio_refuses_gets_a_message(page_url):
    url = "data:image/png;base64," + base64.b64encode(png(drawing())).decode()
    for composite, says in (({"path": url, "url": url, "meta": {"_type": "gradio.FileData"}}, "data: URL"),
                            ({"path": url}, "data: URL"),
                            ({"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, "not uploaded"),
                            ({"path": demo.EXAMPLES[0]}, "not uploaded"), ("x.png", "not uploaded")):
        answer = call_predict(page_url, [{"background": None, "layers": [], "composite": composite}, "any"])
        assert "event: error" in answer and says in answer, answer


# 9. read_line gives UnusableImage wherever predict does
def closed_image(tmp_path):
    image = Image.fromarray(write_line("L7")[0])
    image.close()
    return image


def truncated_opened(tmp_path):
    Image.fromarray(write_line("L7")[0]).save(tmp_path / "line.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "line.png").read_bytes()[:300])
    return Image.open(tmp_path / "cut.png")


def itself(tmp_path):
    value = {"background": None, "layers": []}
    value["composite"] = value
    return value


@pytest.mark.parametrize("make", [closed_image, truncated_opened, itself], ids=["closed", "truncated", "itself"])
def test_read_line_explains_what_predict_explains(tiny, tmp_path, make):
    with pytest.raises(UnusableImage):
        tiny.predict(make(tmp_path))
    with pytest.raises(UnusableImage):
        tiny.read_line(make(tmp_path))


def test_read_line_explains_an_unforeseen_failure_as_predict_does(tiny, monkeypatch):
    """Any other error while finding the characters (a bug, a decoder's surprise) is UnusableImage too."""
    import emnist_core.predict

    def surprise(value):
        raise KeyError("unforeseen")

    monkeypatch.setattr(emnist_core.predict, "line_from_image", surprise)
    with pytest.raises(UnusableImage):
        tiny.read_line(write_line("L7")[0])


# 10. ink that is not one line is said to be so, not read
def pad_to(images):
    width = max(i.shape[1] for i in images)
    return [np.pad(i, ((0, 0), (0, width - i.shape[1])), constant_values=255) for i in images]


def grid_of_plus(tmp_path):
    grid = np.full((400, 400), 255, np.uint8)
    for y in range(12, 400, 25):
        for x in range(12, 400, 25):
            cv2.line(grid, (x - 6, y), (x + 6, y), 0, 2)
            cv2.line(grid, (x, y - 6), (x, y + 6), 0, 2)
    return grid


def underlined(tmp_path):
    word = write_line("L7Hk")[0]
    return cv2.line(word, (30, word.shape[0] - 25), (word.shape[1] - 30, word.shape[0] - 25), 0, 8)


NOT_ONE_LINE = {
    "two lines": lambda t: np.vstack(pad_to([write_line("L7H")[0], write_line("1kE")[0]])),
    "a vertical stack": lambda t: np.vstack(pad_to([write_line(c)[0] for c in "L7H"])),
    "a word turned on its side": lambda t: np.ascontiguousarray(np.rot90(write_line("L7Hk")[0])),
    "an underlined word": underlined,
    "a grid of 16x16 +": grid_of_plus,
    "a checkerboard": lambda t: ((np.indices((400, 400)) // 25).sum(0) % 2 * 255).astype(np.uint8),
    "a joined-up word on its side": lambda t: np.ascontiguousarray(np.rot90(write_line("HHHH", gap=0.02)[0])),
}


@pytest.mark.parametrize("make", NOT_ONE_LINE.values(), ids=NOT_ONE_LINE.keys())
def test_ink_that_is_not_one_line_is_said_to_be_so(tiny, tmp_path, make):
    image = make(tmp_path)
    with pytest.raises(UnusableImage, match="rows|column|covered|line is drawn"):
        line_from_image(image)
    text, details, _, _ = demo.read_line(tiny, image)
    assert text == "" and "line" in details


# 11. CLI names
def test_cli_names_that_look_like_options_hold_newlines_or_are_empty(tiny, tmp_path, capsys, monkeypatch):
    from emnist_core.predict import main
    monkeypatch.chdir(tmp_path)
    Image.fromarray(drawing()).save(tmp_path / "-x.png")
    with pytest.raises(SystemExit) as usage:
        main(["-x.png", "--checkpoint", str(tiny.checkpoint_path)])
    assert usage.value.code == 2 and "-- -x.png" in capsys.readouterr().err
    assert main(["--checkpoint", str(tiny.checkpoint_path), "--", "-x.png"]) == 0
    assert capsys.readouterr().out.startswith("-x.png: ")
    Image.fromarray(drawing()).save(tmp_path / "a\nb.png")
    assert main(["a\nb.png", "", "--checkpoint", str(tiny.checkpoint_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].startswith("a\\nb.png: ") and "empty" in out[1] and "folder" not in out[1]
