"""The browser's reader against Python's, in Debian's chromium driven by Playwright: Python is the reference.

- The export (`python -m emnist_core.export`) is the shipped checkpoint's, and folding BatchNorm keeps its outputs
  (the CNN's, and a stroke model's where a checkpoint has one).
- The model: TensorFlow.js (WASM backend) in the reader's worker gives PyTorch's logits on a batch of images.
- The whole path: generated drawings (bench/drawings.py: glyphs, curves, polylines, dots, tiny, huge, cut by
  the edge, scribbles of up to 200 strokes; the page's three brushes and others) read by the worker
  (web/reader/strokes.js, preprocess.js, cv.js + model.js) and by Python (strokes.emnist_from_drawing,
  inference.py): the 28x28 within one grey level on >= 99% of pixels, the same reading on >= 99.5% of
  drawings, the same message for a drawing that cannot be read, the top-5 probabilities within 0.01. The dev
  drawings too, where ../shared/data has them. Where they differ, the JavaScript is fixed, never this test.
- The stroke model: trajectory.js gives strokes.trajectory's pen paths (float32, the same numbers), and a
  checkpoint with a stroke model, exported, is read in the browser as Predictor reads it (the CNN's logits
  plus weight times the stroke model's log-probabilities).
- Drawings the server refuses are refused in the browser with its words; a model file that does not match
  its manifest is refused with the reason (the page then reads on the server).

Skips, saying why, without /usr/bin/chromium or Playwright. No timings here: `python -m bench.browser_reading`.
"""

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.browser_reading import HARNESS, serve_clone
from bench.drawings import KINDS, generate
from emnist_core import export as web_export
from emnist_core import preprocess, strokes
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, StrokeReader, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities, ranked, stroke_log_probs, with_strokes
from emnist_core.model import StrokeConfig, StrokeNet
from emnist_core.predict import Predictor
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import drawing_from_strokes, emnist_from_drawing, parse_drawing, read_strokes, trajectory

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
DEV_STROKES = ROOT.parent / "shared" / "data" / "omniglot-latin-dev"
MANIFEST, WEIGHTS = web_export.web_paths(DEFAULT_CHECKPOINT)
CHUNK = 50  # drawings per message to the worker


def test_export_matches_the_shipped_checkpoint(tmp_path):
    """The committed export was made from the committed checkpoint by the committed command."""
    manifest = json.loads(MANIFEST.read_text())
    assert manifest["checkpoint_sha256"] == hashlib.sha256(DEFAULT_CHECKPOINT.read_bytes()).hexdigest(), \
        "checkpoints/*.web.* are stale: run python -m emnist_core.export"
    fresh_manifest, fresh_weights = web_export.export(DEFAULT_CHECKPOINT, tmp_path / "model.pt")
    assert fresh_weights.read_bytes() == WEIGHTS.read_bytes()
    assert json.loads(fresh_manifest.read_text())["tensors"] == manifest["tensors"]
    assert WEIGHTS.stat().st_size < 10_000_000  # no LFS on a Space


def test_folded_weights_give_the_checkpoints_outputs():
    """BatchNorm folded into the convs and the head re-laid for NHWC: the same logits, in numpy."""
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    model = checkpoint.build_model()
    arrays = dict(web_export.export_arrays(model.to(memory_format=torch.contiguous_format)))
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8))
    logits, digit = model_outputs(model, images, checkpoint.input_spec)
    x = checkpoint.input_spec.normalize(images).permute(0, 2, 3, 1).double()  # NHWC
    for s, convs in enumerate(checkpoint.model_config.convs_per_stage):
        def conv(y, c, s=s):
            w = torch.from_numpy(arrays[f"stage{s}.conv{c}.filter"]).permute(3, 2, 0, 1)
            bias = torch.from_numpy(arrays[f"stage{s}.conv{c}.bias"])
            out = torch.nn.functional.conv2d(y.permute(0, 3, 1, 2), w, bias, padding=1)
            return out.relu().permute(0, 2, 3, 1)
        x = conv(x, 0)
        rest = x
        for c in range(1, convs):
            rest = conv(rest, c)
        x = x + rest if convs > 1 else x
        x = torch.nn.functional.max_pool2d(x.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    head = x.reshape(len(x), -1) @ torch.from_numpy(arrays["head.weight"]) + torch.from_numpy(arrays["head.bias"])
    assert torch.allclose(head[:, :-1].float(), logits, atol=1e-4)
    assert torch.allclose(head[:, -1].float(), digit, atol=1e-4)


def test_the_javascript_uses_pythons_constants():
    """preprocess.js's and strokes.js's copies of the constants (and preprocess.js's messages) are Python's."""
    text = (ROOT / "web" / "reader" / "preprocess.js").read_text()
    block = re.search(r"const C = \{(.*?)\};", text, re.S).group(1)
    found = dict(re.findall(r"(\w+): (\[[^\]]*\]|[^,]+)", block.replace("\n", " ")))
    for name in ("MAX_SIDE", "MIN_WORK_STROKE", "WORK_SIDE", "NIST_BORDER", "INK_LEVEL", "SPECK_SHARE",
                 "MAX_INK_SHARE"):
        assert float(found[name]) == getattr(preprocess, name), name
    assert json.loads(found["STROKE_RANGE"]) == list(preprocess.STROKE_RANGE)
    for message in re.findall(r"^    \w+: '([^']*)',$", text, re.M):
        assert message in (ROOT / "emnist_core" / "preprocess.py").read_text()
    strokes_js = (ROOT / "web" / "reader" / "strokes.js").read_text()
    limits = re.search(r"const LIMITS = \{(.*?)\};", strokes_js, re.S).group(1)
    found = dict(re.findall(r"(\w+): (\[[^\]]*\]|[^,]+)", limits.replace("\n", " ")))
    for name in ("SIDE_RANGE", "BRUSH_RANGE"):
        assert json.loads(found[name]) == list(getattr(strokes, name)), name
    for name in ("MAX_STROKES", "MAX_POINTS", "MAX_LENGTH_SIDES", "MAX_JSON_CHARS", "OUTSIDE"):
        assert float(found[name]) == getattr(strokes, name), name
    trajectory_js = (ROOT / "web" / "reader" / "trajectory.js").read_text()
    for name in ("TRAJECTORY_POINTS", "TRAJECTORY_CHANNELS"):
        assert int(re.search(rf"const {name} = (\d+);", trajectory_js).group(1)) == getattr(strokes, name), name


def made_up_stroke_net() -> StrokeNet:
    """An untrained stroke model of three layers (the last dilated), seeded, with BatchNorm's statistics and
    affine made up so that folding them counts."""
    torch.manual_seed(0)
    net = StrokeNet(StrokeConfig(widths=(16, 24, 32)))
    with torch.no_grad():
        for layer in net.body:
            if isinstance(layer, torch.nn.BatchNorm1d):
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.2, 0.2)
    return net.eval()


def test_folded_stroke_weights_give_the_stroke_models_outputs():
    """The stroke model's export: BatchNorm folded into each conv1d, filters as (kernel, in, out), the head's
    features as [max, mean]: the same logits in float64."""
    net = made_up_stroke_net()
    arrays = dict(web_export.export_stroke_arrays(net))
    paths = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 6, 64)).astype(np.float32))
    with torch.no_grad():
        want = net(paths)
    h = paths.double()
    for i in range(len(net.config.widths)):
        dilation = 2 if i >= net.config.dilated_from else 1
        w = torch.from_numpy(arrays[f"strokes.conv{i}.filter"])
        assert w.shape == (5, h.shape[1], net.config.widths[i])
        h = torch.nn.functional.conv1d(h, w.permute(2, 1, 0), torch.from_numpy(arrays[f"strokes.conv{i}.bias"]),
                                       padding=2 * dilation, dilation=dilation).relu()
    features = torch.cat([h.amax(2), h.mean(2)], 1)
    got = features @ torch.from_numpy(arrays["strokes.head.weight"]) + torch.from_numpy(arrays["strokes.head.bias"])
    assert torch.allclose(got.float(), want, atol=1e-5)


@pytest.fixture(scope="module")
def stroke_export(tmp_path_factory):
    """The shipped CNN with made_up_stroke_net beside it (weight 0.7), saved and exported: (checkpoint, manifest,
    weights)."""
    net = made_up_stroke_net()
    path = tmp_path_factory.mktemp("strokes") / "both.pt"
    reader = StrokeReader(net.config, net.state_dict(), 0.7, {"note": "test_web_reader"})
    save_checkpoint(replace(load_checkpoint(DEFAULT_CHECKPOINT), strokes=reader), path)
    return (path, *web_export.export(path))


def test_the_export_carries_the_stroke_model(stroke_export, tmp_path):
    """A checkpoint with a stroke model: its section in the manifest and its tensors after the CNN's, which are
    the CNN alone's; the CNN alone's manifest has no section."""
    _, manifest_path, weights_path = stroke_export
    alone = tmp_path / "cnn.pt"
    save_checkpoint(replace(load_checkpoint(DEFAULT_CHECKPOINT), strokes=None), alone)
    cnn_manifest, cnn_weights = web_export.export(alone)
    manifest, cnn = json.loads(manifest_path.read_text()), json.loads(cnn_manifest.read_text())
    assert "strokes" not in cnn
    section = manifest["strokes"]
    assert section == {"widths": [16, 24, 32], "dilated_from": 2, "kernel": 5, "weight": 0.7,
                       "points": strokes.TRAJECTORY_POINTS, "channels": strokes.TRAJECTORY_CHANNELS,
                       "tensors": [*(f"strokes.conv{i}.{part}" for i in range(3) for part in ("filter", "bias")),
                                   "strokes.head.weight", "strokes.head.bias"]}
    assert manifest["tensors"][:len(cnn["tensors"])] == cnn["tensors"]
    assert [t["name"] for t in manifest["tensors"][len(cnn["tensors"]):]] == section["tensors"]
    assert weights_path.read_bytes()[:cnn_weights.stat().st_size] == cnn_weights.read_bytes()
    added = weights_path.stat().st_size - cnn_weights.stat().st_size
    assert added == 4 * sum(int(np.prod(t["shape"])) for t in manifest["tensors"][len(cnn["tensors"]):])
    assert web_export.current_export(stroke_export[0]) == manifest_path


# ---- in the browser ----------------------------------------------------------------------------------

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning")


@pytest.fixture(scope="module")
def base_url():
    server, base = serve_clone()
    yield base
    server.shutdown()


@pytest.fixture(scope="module")
def harness(base_url):
    """A chromium page at the static server's origin, with ask(message) and fresh(manifestUrl) (HARNESS)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install it)")
    from test_browser import CHROMIUM_ARGS
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.route(f"{base_url}/harness.html", lambda route: route.fulfill(body=HARNESS, content_type="text/html"))
        page.goto(f"{base_url}/harness.html")
        yield page
        browser.close()


@pytest.fixture(scope="module")
def reader(harness):
    """The page side of the worker, its model loaded: ask(message) -> the worker's reply."""
    reply = harness.evaluate("(url) => ask({type: 'init', manifestUrl: url})", f"/checkpoints/{MANIFEST.name}")
    assert reply["ok"], reply.get("error")
    print(f"\nreader: TensorFlow.js {reply['backend']} (SIMD: {reply['simd']}), {reply['checkpoint']}")

    def ask(message: dict) -> dict:
        answer = harness.evaluate("(m) => ask(m)", message)
        assert answer["ok"], answer.get("error")
        return answer
    return ask


@pytest.fixture(scope="module")
def checkpoint():
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    return checkpoint, checkpoint.build_model()


def python_reading(checkpoint, drawings: list, only=None, blank: str | None = None) -> list[dict]:
    """Python's answer for each drawing: {"upright", "label", "q", "top5"} or {"unusable": message}; the top-5
    is the reading and the next four of `ranked`, each with its q (one probability per character)."""
    ckpt, model = checkpoint
    results = []
    for drawing in drawings:
        try:
            parsed = parse_drawing(drawing, blank) if blank else parse_drawing(drawing)
            results.append({"upright": emnist_from_drawing(parsed), "path": trajectory(parsed.strokes)})
        except UnusableImage as error:
            results.append({"unusable": str(error)})
    usable = [r for r in results if "upright" in r]
    if usable:
        images = np.stack([r["upright"].T if ckpt.input_spec.transposed else r["upright"] for r in usable])
        logits, digit = model_outputs(model, torch.from_numpy(images), ckpt.input_spec)
        if ckpt.strokes is not None:  # each one is a drawing: Predictor reads its strokes too
            paths = torch.from_numpy(np.stack([r["path"] for r in usable]))
            logits = with_strokes(logits, stroke_log_probs(ckpt.strokes.build_model(), paths), ckpt.strokes.weight)
        q, p = probabilities(logits, digit, ckpt.digit_source, only)
        order = ranked(q, p)
        for k, r in enumerate(usable):
            r.update(label=ckpt.labels[int(order[k, 0])], q=q[k].numpy(), top5_index=order[k, :5].tolist(),
                     top5=[(ckpt.labels[int(i)], float(q[k, i])) for i in order[k, :5]])
    return results


def browser_reading(reader, drawings: list[dict], only=None) -> list[dict]:
    results = []
    for start in range(0, len(drawings), CHUNK):
        results += reader({"type": "readMany", "drawings": drawings[start:start + CHUNK], "only": only})["results"]
    return results


def compare(py: list[dict], js: list[dict], names: list[str]) -> dict:
    """The parity figures, and the drawings that broke them (name, what)."""
    same_pixels = pixels = same_reading = same_top5 = readable = identical = 0
    max_grey = max_prob = 0.0
    broken = []
    for name, a, b in zip(names, py, js):
        if "unusable" in a or "unusable" in b:
            same = a.get("unusable") == b.get("unusable")
            same_reading += same
            if not same:
                broken.append((name, f"python {a.get('unusable', a.get('label'))!r}, browser "
                                     f"{b.get('unusable', (b.get('reading') or {}).get('label'))!r}"))
            continue
        upright = np.array(b["upright"], np.int16).reshape(28, 28)
        grey = np.abs(upright - a["upright"].astype(np.int16))
        same_pixels += int((grey <= 1).sum())
        identical += int((grey == 0).sum())
        pixels += grey.size
        max_grey = max(max_grey, float(grey.max()))
        reading = b["reading"]
        same_reading += reading["label"] == a["label"]
        q = np.array(reading["q"])
        prob = float(np.abs(q[a["top5_index"]] - a["q"][a["top5_index"]]).max())  # Python's top-5 in both
        top5 = [c for c, _ in reading["top5"]]
        max_prob = max(max_prob, prob)
        same_top5 += top5 == [c for c, _ in a["top5"]]
        readable += 1
        if reading["label"] != a["label"] or prob > 0.01 or grey.max() > 1:
            broken.append((name, f"python {a['label']} browser {reading['label']}, top-5 off by {prob:.4f}, "
                                 f"{int((grey > 1).sum())} pixels off by more than 1 (max {int(grey.max())})"))
    return {"drawings": len(py), "same_reading": same_reading / len(py),
            "pixels_within_1": same_pixels / max(pixels, 1), "pixels_identical": identical / max(pixels, 1),
            "max_grey": max_grey, "max_top5_diff": max_prob, "same_top5_order": same_top5 / max(readable, 1),
            "readable": readable, "broken": broken}


def assert_parity(figures: dict, what: str) -> None:
    print(f"\n{what}: {figures['drawings']} drawings ({figures['readable']} readable), the same reading on "
          f"{figures['same_reading']:.2%}, "
          f"{figures['pixels_within_1']:.4%} of pixels within 1 grey level ({figures['pixels_identical']:.4%} "
          f"identical, max {figures['max_grey']:.0f}), "
          f"top-5 probabilities within {figures['max_top5_diff']:.2g} (the same five, in order, on "
          f"{figures['same_top5_order']:.2%} of the readable)")
    for name, why in figures["broken"][:20]:
        print(f"  {name}: {why}")
    assert figures["same_reading"] >= 0.995
    assert figures["pixels_within_1"] >= 0.99
    assert figures["max_top5_diff"] <= 0.01


def test_the_browsers_model_gives_pytorchs_outputs(reader, checkpoint):
    """A batch of images (the project's own renderer's 28x28s of generated drawings, a blank and noise) through
    TensorFlow.js and PyTorch: the same logits and digit logits."""
    ckpt, model = checkpoint
    images = [emnist_from_drawing(parse_drawing(d)) for d in generate(160, seed=7)
              if _usable(d)][:120]
    images = np.stack(images + [np.zeros((28, 28), np.uint8)]
                      + list(np.random.default_rng(0).integers(0, 256, (7, 28, 28), dtype=np.uint8)))
    model_view = np.ascontiguousarray(images.transpose(0, 2, 1) if ckpt.input_spec.transposed else images)
    logits, digit = model_outputs(model, torch.from_numpy(model_view), ckpt.input_spec)
    answer = reader({"type": "forward", "images": model_view.ravel().tolist(), "n": len(model_view)})
    js_logits = np.array(answer["logits"], np.float32).reshape(logits.shape)  # typed arrays come back as lists
    js_digit = np.array(answer["digit"], np.float32)
    diff, digit_diff = float(np.abs(js_logits - logits.numpy()).max()), float(np.abs(js_digit - digit.numpy()).max())
    print(f"\nTensorFlow.js vs PyTorch on {len(images)} images: max |logit difference| {diff:.2e}, "
          f"digit logit {digit_diff:.2e}, logits up to {float(logits.abs().max()):.1f}")
    assert diff < 1e-3 and digit_diff < 1e-3
    assert (js_logits.argmax(1) == logits.numpy().argmax(1)).all()


def hostile_drawings() -> list:
    """Drawings the server refuses, one for each of parse_drawing's checks (and a few it accepts)."""
    ok = {"width": 400, "height": 400, "brush": 16, "strokes": [[[100, 100], [300, 300]]]}
    return [
        None, "", "   ", "{not json", "[]", "3", "true", json.dumps(ok), "x" * 1_000_001,
        [], 3, 2.5, True, "a string",
        {**ok, "width": 15}, {**ok, "width": 1025}, {**ok, "height": 399.5}, {**ok, "width": "400"},
        {**ok, "width": None}, {**ok, "height": True}, {**ok, "width": "a" * 60}, {**ok, "width": [1, 2]},
        {**ok, "width": 400.0}, {**ok, "brush": 0.4}, {**ok, "brush": 41}, {**ok, "brush": True}, {**ok, "brush": "16"},
        {**ok, "brush": None}, {**ok, "brush": 0.5}, {**ok, "brush": 40},
        {**ok, "strokes": None}, {**ok, "strokes": {"a": 1}}, {**ok, "strokes": [[[1, 1]]] * 201},
        {**ok, "strokes": [[[1, 1]]] * 200}, {**ok, "strokes": [[1, 2]]}, {**ok, "strokes": [[[1, 1]] * 20_001]},
        {**ok, "strokes": []}, {**ok, "strokes": [[], []]}, {**ok, "strokes": [[[1, 2, 3]]]},
        {**ok, "strokes": [[[1, "2"]]]}, {**ok, "strokes": [[[1, None]]]}, {**ok, "strokes": [[[True, False]]]},
        {**ok, "strokes": [[[100, True], [200, 200]]]}, {**ok, "strokes": [[[1e400, 1]]]},
        {**ok, "strokes": [[[-401, 10]]]}, {**ok, "strokes": [[[801, 10]]]}, {**ok, "strokes": [[[-400, 800]]]},
        {**ok, "strokes": [[[0, 0], [400, 400]] * 80]}, {**ok, "strokes": [[[0, 0], [400, 0]] * 49]},
        {**ok, "extra": 1}, {"width": 400, "height": 400, "brush": 16},
    ]


def test_the_browser_refuses_what_the_server_refuses_with_its_message(reader, checkpoint):
    """parse_drawing's checks in preprocess.js: the same drawings refused, with the server's own words."""
    drawings = hostile_drawings()
    py = python_reading(checkpoint, drawings, blank="Draw one character.")
    js = reader({"type": "readMany", "drawings": drawings, "blank": "Draw one character."})["results"]
    for drawing, a, b in zip(drawings, py, js):
        assert a.get("unusable") == b.get("unusable"), \
            f"{str(drawing)[:80]}: python {a.get('unusable')!r}, browser {b.get('unusable')!r}"
        assert a.get("label") == (b.get("reading") or {}).get("label")
    assert sum("unusable" in a for a in py) >= 40


def serve(body, content_type):
    """A route handler answering `body`: of one argument, as Playwright passes the request to a second."""
    return lambda route: route.fulfill(body=body, content_type=content_type)


def test_a_model_file_that_does_not_match_its_manifest_is_refused(harness, base_url):
    """Weights that are not the manifest's (other bytes, or NaN with a matching checksum) and a missing manifest:
    init answers an error saying why (the page then reads on the server), never a reading."""
    manifest = json.loads(MANIFEST.read_text())
    weights = np.frombuffer(WEIGHTS.read_bytes(), "<f4").copy()
    weights[100] = np.nan
    nan_bytes = weights.tobytes()
    cases = {"/bad/sha.web.json": ({**manifest, "weights": "sha.web.bin", "weights_sha256": "0" * 64},
                                   WEIGHTS.read_bytes()),
             "/bad/nan.web.json": ({**manifest, "weights": "nan.web.bin",
                                    "weights_sha256": hashlib.sha256(nan_bytes).hexdigest()}, nan_bytes)}
    for url, (manifest_body, blob) in cases.items():
        harness.route(f"{base_url}{url}", serve(json.dumps(manifest_body), "application/json"))
        harness.route(f"{base_url}{url.replace('.json', '.bin')}", serve(blob, "application/octet-stream"))
    answers = {url: harness.evaluate("(url) => fresh(url)", url) for url in [*cases, "/bad/missing.web.json"]}
    assert not any(a["ok"] for a in answers.values())
    assert "SHA-256" in answers["/bad/sha.web.json"]["error"]
    assert "NaN" in answers["/bad/nan.web.json"]["error"]
    assert "404" in answers["/bad/missing.web.json"]["error"]


def wording_cases(checkpoint) -> list[tuple[list, float, str | None]]:
    """(top5, P(digit), only) to word: the model's readings of generated drawings under each choice, and the
    cases the wording singles out (a toss-up, a reading passed over, look-alikes of both kinds, doubt)."""
    cases = []
    drawings = [d for d in generate(240, seed=41) if _usable(d)]
    for k, only in enumerate((None, "digits", "letters")):
        for r in python_reading(checkpoint, drawings[k::3], only):
            q = r["q"]
            p_digit = 1.0 if only == "digits" else 0.0 if only == "letters" else float(q[:10].sum())
            cases.append(([[c, float(p)] for c, p in r["top5"]], p_digit, only))
    cases += [([["O", 0.5], ["0", 0.45], ["Q", 0.03], ["D", 0.01], ["a", 0.01]], 0.5, None),
              ([["O", 0.3], ["0", 0.4], ["Q", 0.2], ["D", 0.05], ["U", 0.05]], 0.4, None),
              ([["1", 0.6], ["I", 0.2], ["l", 0.0], ["L", 0.1], ["7", 0.1]], 0.7, None),
              ([["g", 0.4], ["q", 0.35], ["9", 0.2], ["a", 0.03], ["G", 0.02]], 0.2, None),
              ([["A", 0.3], ["4", 0.1], ["H", 0.1], ["R", 0.1], ["n", 0.1]], 0.1, None),
              ([["b", 0.999], ["6", 0.0005], ["h", 0.0003], ["B", 0.0001], ["D", 0.00001]], 0.0005, None),
              ([["S", 0.09], ["5", 0.099], ["s", 0.0], ["Z", 0.05], ["2", 0.05]], 0.4999999, "letters")]
    return cases


def test_the_javascript_words_a_reading_as_python_does(harness, checkpoint):
    """wording.js's verdict and phone bar are emnist_core.wording's describe and reading_bar, character for
    character, for the same numbers; its constants are Python's."""
    from emnist_core import labels, predict, wording
    from emnist_core.predict import Prediction
    constants = harness.evaluate("() => [EmnistWording.LOOKALIKE_MIN_PROB, EmnistWording.LOOKALIKE_GROUPS, "
                                 "EmnistWording.MERGED_LOWERCASE]")
    assert constants == [predict.LOOKALIKE_MIN_PROB, list(labels.LOOKALIKE_GROUPS), labels.MERGED_LOWERCASE]
    cases = wording_cases(checkpoint)
    js = harness.evaluate("""(cases) => cases.map(([top5, pDigit, only]) => {
        const verdict = EmnistWording.describe(top5, pDigit, only);
        return [verdict, EmnistWording.readingBar(top5, verdict)]; })""", cases)
    kinds = set()
    for (top5, p_digit, only), (verdict, bar) in zip(cases, js):
        prediction = Prediction([tuple(e) for e in top5], p_digit, np.zeros((28, 28), np.uint8))
        expected = wording.describe(prediction, only or "any")
        assert verdict == expected, (top5, p_digit, only)
        assert bar == wording.reading_bar(dict(prediction.top5), expected)
        kinds.update(k for k, there in (("look-alike", prediction.lookalikes), ("passed over", prediction.passed_over),
                                        ("toss-up", "toss-up" in expected), ("unsure", "Not sure" in expected)) if there)
    assert kinds == {"look-alike", "passed over", "toss-up", "unsure"}, kinds


def test_the_page_reading_from_the_worker_is_the_servers(reader, predictor):
    """The worker's page reading (what the page shows) against demo.page_reading of the same drawing: the same
    verdict, top-5 characters, and the 28x28 within one grey level; an empty drawing gives the page's message."""
    import base64

    import demo
    drawings = [d for d in generate(60, seed=43) if _usable(d)][:40] + [{"width": 400, "height": 400, "brush": 16,
                                                                          "strokes": []}]
    same = 0
    for drawing in drawings:
        page = reader({"type": "page", "drawing": drawing, "only": None, "blank": demo.START_MESSAGE})["reading"]
        server = json.loads(demo.page_reading(*demo.read_drawn_character(predictor, drawing, zoom=1), "drawing"))
        assert page["where"] == "browser" and server["where"] == "server"
        if server["top5"] is None:
            assert page["top5"] is None and page["verdict"] == server["verdict"] == demo.START_MESSAGE
            continue
        same += page["verdict"] == server["verdict"] and page["bar"] == server["bar"]
        assert [row[0] for row in page["top5"]] == [row[0] for row in server["top5"]]
        assert [row[2] for row in page["top5"]] == [row[2] for row in server["top5"]]  # the same numbers shown
        pixels = [np.frombuffer(base64.b64decode(r["pixels"]), np.uint8).astype(np.int16) for r in (page, server)]
        assert np.abs(pixels[0] - pixels[1]).max() <= 1
    assert same >= len(drawings) - 2, f"{same} of {len(drawings) - 1} verdicts the same"


def _usable(drawing: dict) -> bool:
    try:
        emnist_from_drawing(parse_drawing(drawing))
        return True
    except UnusableImage:
        return False


@pytest.mark.parametrize("only", [None, "letters"])
def test_the_browser_reads_generated_drawings_as_python_does(reader, checkpoint, only):
    drawings = generate(600 if only is None else 160, seed=29 if only is None else 30)
    names = [f"#{k} {KINDS[k % len(KINDS)]} brush {d['brush']}" for k, d in enumerate(drawings)]
    figures = compare(python_reading(checkpoint, drawings, only), browser_reading(reader, drawings, only), names)
    kinds = {kind: sum(1 for k in range(len(drawings)) if KINDS[k % len(KINDS)] == kind) for kind in KINDS}
    print(f"\nkinds: {kinds}")
    assert_parity(figures, f"generated drawings (only={only})")


def test_the_browser_reads_the_dev_drawings_as_python_does(reader, checkpoint):
    if not DEV_STROKES.is_dir():
        pytest.skip(f"{DEV_STROKES} is absent")
    files = sorted(DEV_STROKES.glob("*.txt"))
    drawings, names = [], []
    for k, path in enumerate(files):
        brush = (10, 16, 24)[k % 3]
        drawings.append(drawing_from_strokes(read_strokes(path), brush=brush, char_size=0.45 + 0.1 * (k % 4)).to_json())
        names.append(f"{path.name} brush {brush}")
    assert_parity(compare(python_reading(checkpoint, drawings), browser_reading(reader, drawings), names),
                  f"dev drawings ({DEV_STROKES.name})")


def trajectory_drawings() -> tuple[list[dict], list[str]]:
    """Drawings for the pen paths: the generated ones the reading tests use, the dev drawings where
    ../shared/data has them, and a few for trajectory's corners: points repeated (steps of no length), a dot
    tapped twice, more than 32 strokes of one length (the longest kept, ties in the order written)."""
    drawings = [d for d in generate(600, seed=29) if _usable(d)]
    names = [f"generated #{k}" for k in range(len(drawings))]
    if DEV_STROKES.is_dir():
        for path in sorted(DEV_STROKES.glob("*.txt")):
            drawings.append(drawing_from_strokes(read_strokes(path)).to_json())
            names.append(path.name)
    corners = {"repeated points": [[[10, 10], [10, 10], [50.5, 20], [50.5, 20], [50.5, 20], [90, 90.25]], [[3, 3]]],
               "a dot tapped twice": [[[200.1, 200.1]], [[200.1, 200.1], [200.1, 200.1]]],
               "40 strokes of one length": [[[10 + 5 * k, 10], [10 + 5 * k, 40 + 30 * (k % 2)]] for k in range(40)],
               "long and dense": [[[200 + 150 * np.cos(a), 200 + 150 * np.sin(a)] for a in np.linspace(0, 12, 900)]]}
    for name, strokes_ in corners.items():
        drawings.append({"width": 400, "height": 400, "brush": 16, "strokes": strokes_})
        names.append(name)
    return drawings, names


def test_the_browsers_pen_paths_are_pythons(harness, base_url):
    """trajectory.js on the strokes strokes.js parses (float32 points, as parse_drawing gives them) against
    strokes.trajectory: the (6, 64) float32 paths the stroke model reads."""
    for script in ("cv.js", "preprocess.js", "strokes.js", "trajectory.js"):
        harness.add_script_tag(url=f"{base_url}/web/reader/{script}")
    drawings, names = trajectory_drawings()
    want = np.stack([trajectory(parse_drawing(d).strokes) for d in drawings])
    got = np.array(harness.evaluate("(drawings) => drawings.map((d) => "
                                    "Array.from(EmnistTrajectory.trajectory(EmnistStrokes.parseDrawing(d).strokes)))",
                                    drawings), np.float32).reshape(want.shape)
    diff = np.abs(got - want).max(axis=(1, 2))
    print(f"\npen paths: {len(drawings)} drawings, max |difference| {diff.max():.3g}, "
          f"{int((diff == 0).sum())} identical")
    worst = int(diff.argmax())
    assert diff.max() <= 1e-6, f"{names[worst]}: off by {diff[worst]:.3g}"


@pytest.fixture(scope="module")
def stroke_reader(harness, base_url, stroke_export):
    """A second worker, its model the stroke_export (served at /strokes/): ask(message) -> its reply."""
    _, manifest_path, weights_path = stroke_export
    for path, content_type in ((manifest_path, "application/json"), (weights_path, "application/octet-stream")):
        harness.route(f"{base_url}/strokes/{path.name}", serve(path.read_bytes(), content_type))
    reply = harness.evaluate("""(url) => {
        const worker = new Worker('/web/reader/worker.js'), waiting = new Map();
        let next = 0;
        worker.onmessage = (e) => { waiting.get(e.data.id)(e.data); waiting.delete(e.data.id); };
        window.askStrokes = (message) => new Promise((resolve) => {
          const id = next++; waiting.set(id, resolve); worker.postMessage({id, ...message}); });
        return askStrokes({type: 'init', manifestUrl: url}); }""", f"/strokes/{manifest_path.name}")
    assert reply["ok"], reply.get("error")

    def ask(message: dict) -> dict:
        answer = harness.evaluate("(m) => askStrokes(m)", message)
        assert answer["ok"], answer.get("error")
        return answer
    return ask


def test_the_browser_reads_with_the_stroke_model_as_predictor_does(stroke_reader, stroke_export, checkpoint):
    """A checkpoint with a stroke model, exported: the worker reads generated drawings as Predictor does (its
    CNN's logits plus 0.7 times the stroke model's log-probabilities): the same five characters in order on
    the readable drawings, their probabilities within 0.01; and the stroke model changed the readings."""
    path = stroke_export[0]
    both = load_checkpoint(path)
    drawings = generate(300, seed=31)
    names = [f"#{k} {KINDS[k % len(KINDS)]} brush {d['brush']}" for k, d in enumerate(drawings)]
    py = python_reading((both, both.build_model()), drawings)
    predictions = iter(Predictor(path).predict_many([parse_drawing(d) for d in drawings if _usable(d)]))
    for r in py:
        if "unusable" not in r:
            prediction = next(predictions)
            assert [c for c, _ in prediction.top5] == [c for c, _ in r["top5"]]
            assert np.allclose([p for _, p in prediction.top5], [p for _, p in r["top5"]], atol=1e-6)
    cnn_alone = python_reading(checkpoint, drawings)
    changed = sum([c for c, _ in a["top5"]] != [c for c, _ in b["top5"]] for a, b in zip(py, cnn_alone) if "top5" in a)
    figures = compare(py, browser_reading(stroke_reader, drawings), names)
    assert_parity(figures, f"generated drawings with the stroke model ({changed} of {figures['readable']} "
                           f"top-5s not the CNN alone's)")
    assert changed >= figures["readable"] // 2
    assert figures["same_top5_order"] == 1.0


def test_the_bench_reads_without_asking_the_server(tmp_path):
    """`python -m bench.browser_reading` on a few drawings (its own browser, so its own process): every one
    read in the worker, no request while reading, and the reader's files counted in the page weight."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install it)")
    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, "-m", "bench.browser_reading", "--drawings", "6", "--conditions", "idle",
                    "--json", str(out)], cwd=ROOT, check=True, capture_output=True, timeout=300)
    results = json.loads(out.read_text())
    assert results["conditions"]["idle"]["requests"] == 0
    assert results["conditions"]["idle"]["browser"]["n"] == 6
    assert {"/web/reader/worker.js", f"/checkpoints/{WEIGHTS.name}"} <= set(results["fetched"])
    assert results["page_weight"]["bytes"] > WEIGHTS.stat().st_size
