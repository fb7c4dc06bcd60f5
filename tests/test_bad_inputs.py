"""Inputs a hostile user would try, one table per surface: the predictor, the CLI, the page, checkpoint
contents, data files. Every input gets a reading or a clear message, in bounded memory and time."""

import gzip
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import demo
from bench.hostile import L_SHAPE, drawing, huge_array, png_bytes, write
from emnist_core import predict as predict_module
from emnist_core.checkpoint import Checkpoint, CheckpointError, describe_error, load_checkpoint, save_checkpoint
from emnist_core.model import EmnistCNN, ModelConfig
from emnist_core.predict import Predictor, main
from emnist_core.preprocess import MAX_PIXELS, UnusableImage, prepare
from train import data
from train.data import DataError, idx_name, load_split, read_class_prior, write_idx

from conftest import glyph_images, write_dataset

SMALL = ModelConfig(stage_widths=(8, 16), convs_per_stage=(1, 1))
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained small model: the plumbing, not accuracy, is under test here."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(Checkpoint(model_config=SMALL, state_dict=EmnistCNN(SMALL).state_dict()), path)
    return path


@pytest.fixture(scope="module")
def predictor(tiny_checkpoint) -> Predictor:
    return Predictor(tiny_checkpoint)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float32).ravel(), b.astype(np.float32).ravel())[0, 1])


# ---- the predictor -----------------------------------------------------------------------------------

def ink_l(paper, ink, dtype) -> np.ndarray:
    """The L drawing with chosen paper and ink values, in `dtype`."""
    return np.where(drawing() < 128, ink, paper).astype(dtype)


def with_pixel(array: np.ndarray, value) -> np.ndarray:
    array = array.astype(np.float32)
    array[5, 5] = value
    return array


def with_nan_patch(array: np.ndarray) -> np.ndarray:
    array = array.astype(np.float32) / 255
    array[300:360, 20:80] = np.nan  # in the paper, away from the strokes
    return array


def pil(mode: str):
    return lambda tmp: Image.fromarray(drawing()).convert(mode)


def thin_cross(tmp):
    image = np.full((300, 300), 255, np.uint8)
    idx = np.arange(20, 280)
    image[idx, idx] = 0
    image[idx, 299 - idx] = 0
    return image


def jpeg(side: int):
    def make(tmp):
        Image.fromarray(drawing(canvas=side, width=side // 25)).save(tmp / "big.jpg", quality=80)
        return str(tmp / "big.jpg")
    return make


def fifo(tmp):
    os.mkfifo(tmp / "pipe.png")
    return str(tmp / "pipe.png")


def png_16bit_grey_paper(tmp):
    Image.fromarray(ink_l(30000, 4000, np.uint16)).save(tmp / "deep.png")
    return str(tmp / "deep.png")


LIKE_L = "like L"  # reads, and what the model sees matches the clean L drawing
READS = "reads"  # reads (thin strokes: the shape, not the exact image, is what must survive)

PREDICTOR_CASES = {
    "uint8": (lambda tmp: drawing(), LIKE_L),
    "float 0..1, one pixel at 1.01": (lambda tmp: with_pixel(drawing() / 255, 1.01), LIKE_L),
    "float 0..1, one pixel at 300": (lambda tmp: with_pixel(drawing() / 255, 300), LIKE_L),
    "float 0..1, one +inf pixel": (lambda tmp: with_pixel(drawing() / 255, np.inf), LIKE_L),
    "float 0..1, one -inf pixel": (lambda tmp: with_pixel(drawing() / 255, -np.inf), LIKE_L),
    "float 0..1, a NaN patch": (lambda tmp: with_nan_patch(drawing()), LIKE_L),
    "float 0..255": (lambda tmp: drawing().astype(np.float64), LIKE_L),
    "float16": (lambda tmp: (drawing() / 255).astype(np.float16), LIKE_L),
    "uint16, grey paper": (lambda tmp: ink_l(30000, 4000, np.uint16), LIKE_L),
    "uint16, 12-bit scan": (lambda tmp: ink_l(3500, 300, np.uint16), LIKE_L),
    "int64 holding 0..255": (lambda tmp: drawing().astype(np.int64), LIKE_L),
    "int 0/1 mask": (lambda tmp: (drawing() < 128).astype(np.int32), LIKE_L),
    "bool mask": (lambda tmp: drawing() < 128, LIKE_L),
    "uint16 RGB": (lambda tmp: np.dstack([ink_l(60000, 2000, np.uint16)] * 3), LIKE_L),
    "PIL mode F": (lambda tmp: Image.fromarray(drawing().astype(np.float32)), LIKE_L),
    "PIL mode 1": (pil("1"), LIKE_L),
    "PIL mode P": (pil("P"), LIKE_L),
    "PIL mode CMYK": (pil("CMYK"), LIKE_L),
    "16-bit PNG, grey paper": (png_16bit_grey_paper, LIKE_L),
    "1-px cross on 300x300": (thin_cross, READS),
    "1-px pen on a 400 canvas": (lambda tmp: drawing(width=1), READS),
    "1-px pen on a 3000 canvas": (lambda tmp: drawing(canvas=3000, width=1), READS),
    "6000x6000 JPEG (decoded reduced)": (jpeg(6000), READS),
    "a bare vertical bar (1, l), filling its crop's width": (lambda tmp: drawing([[(0.5, 0.1), (0.5, 0.9)]]), READS),
    "a 1-px vertical bar": (lambda tmp: drawing([[(0.5, 0.1), (0.5, 0.9)]], width=1), READS),
    "20000x20000 array": (lambda tmp: huge_array(20000), "too large"),
    "5000x5000 array": (lambda tmp: huge_array(5000), "too large"),
    "13000x13000 1-bit PNG of 38 KB": (lambda tmp: write(tmp, "bomb.png", png_bytes(13000, 13000)), "too large"),
    "20000x20000 1-bit PNG (over Pillow's limit)": (lambda tmp: write(tmp, "b2.png", png_bytes(20000, 20000)),
                                                    "too large"),
    "all NaN": (lambda tmp: np.full((50, 50), np.nan), "flat colour"),
    "all +inf": (lambda tmp: np.full((50, 50), np.inf, np.float32), "flat colour"),
    "complex array": (lambda tmp: np.zeros((50, 50), complex), "cannot read an array"),
    "object array": (lambda tmp: np.full((50, 50), None, object), "cannot read an array"),
    "HxWx2": (lambda tmp: np.zeros((50, 50, 2), np.uint8), "shape"),
    "1-D": (lambda tmp: np.zeros(100, np.uint8), "shape"),
    "4-D": (lambda tmp: np.zeros((2, 50, 50, 3), np.uint8), "shape"),
    "0x0": (lambda tmp: np.zeros((0, 0), np.uint8), "too small"),
    "FIFO": (fifo, "not a regular file"),
    "folder": (lambda tmp: str(tmp), "folder"),
    "/dev/zero": (lambda tmp: "/dev/zero", "not a regular file"),
    "0-byte file": (lambda tmp: write(tmp, "empty.png", b""), "not an image"),
    "truncated PNG": (lambda tmp: write(tmp, "cut.png", png_bytes(400, 400)[:60]), "not an image"),
    "a name with a NUL byte": (lambda tmp: "draw\0ing.png", "cannot be opened"),
    "a name too long": (lambda tmp: "x" * 5000 + ".png", "cannot be opened"),
    "a list": (lambda tmp: [[0, 255], [255, 0]], "cannot read"),
    "bytes": (lambda tmp: b"\x89PNG", "cannot read"),
}


@pytest.mark.parametrize("make, expect", PREDICTOR_CASES.values(), ids=PREDICTOR_CASES.keys())
def test_predictor_reads_or_explains(predictor, tmp_path, make, expect):
    value = make(tmp_path)
    if expect in (LIKE_L, READS):
        result = predictor.predict(value)
        assert len(result.top5) == 5 and all(np.isfinite(p) for _, p in result.top5)
        if expect == LIKE_L:
            assert similarity(result.image, prepare(drawing()).upright) > 0.95
    else:
        with pytest.raises(UnusableImage, match=f"(?i){expect}"):
            predictor.predict(value)


def test_one_failing_input_does_not_cost_the_others(predictor, monkeypatch):
    real_prepare = predict_module.prepare

    def flaky(value, transposed=True):
        if isinstance(value, str) and value == "boom":
            raise MemoryError()  # anything at all, even with an empty message
        return real_prepare(value, transposed)

    monkeypatch.setattr(predict_module, "prepare", flaky)
    results = predictor.predict_many([drawing(), "boom", drawing()])
    assert isinstance(results[1], UnusableImage) and "could not be read" in str(results[1])
    assert not isinstance(results[0], UnusableImage) and not isinstance(results[2], UnusableImage)


# ---- the CLI -------------------------------------------------------------------------------------------

def good(tmp):
    Image.fromarray(drawing()).save(tmp / "good.png")
    return str(tmp / "good.png")


def undecodable_name(tmp):
    name = os.fsdecode(b"caf\xe9.png")  # not UTF-8: Python keeps the byte as a lone surrogate
    Image.fromarray(drawing()).save(tmp / name)
    return str(tmp / name)


# (files to make, extra arguments, exit status, what each file's entry must say: "top5" or error words)
CLI_CASES = {
    "good and FIFO": ([good, fifo], [], 0, ["top5", "not a regular file"]),
    "FIFO alone": ([fifo], [], 1, ["not a regular file"]),
    "folder and /dev/zero": ([lambda t: str(t), lambda t: "/dev/zero"], [], 1, ["folder", "not a regular"]),
    "bomb PNG among good ones": ([good, lambda t: write(t, "b.png", png_bytes(13000, 13000)), good], [], 0,
                                ["top5", "too large", "top5"]),
    "non-UTF-8 name": ([undecodable_name], [], 0, ["top5"]),
    "missing and garbage": ([lambda t: str(t / "none.png"), lambda t: write(t, "x.png", b"GIF89a")], [], 1,
                            ["no such image", "not an image"]),
}


@pytest.mark.parametrize("makers, extra, status, says", CLI_CASES.values(), ids=CLI_CASES.keys())
def test_cli_answers_every_file(tiny_checkpoint, tmp_path, capsys, makers, extra, status, says):
    files = [make(tmp_path) for make in makers]
    assert main([*files, "--checkpoint", str(tiny_checkpoint), "--json", *extra]) == status
    out = json.loads(capsys.readouterr().out)
    assert len(out) == len(files)
    for entry, words in zip(out, says):
        assert words in entry if words == "top5" else words.lower() in entry["error"].lower(), entry


CLI_REFUSALS = {
    "0-byte checkpoint": (lambda t: ["x.png", "--checkpoint", write(t, "empty.pt", b"")], "not a readable"),
    "missing checkpoint": (lambda t: ["x.png", "--checkpoint", str(t / "none.pt")], "no such checkpoint"),
    "no images": (lambda t: [], "required"),
    "unknown flag": (lambda t: ["x.png", "--bogus"], "unrecognized"),
}


@pytest.mark.parametrize("args, says", CLI_REFUSALS.values(), ids=CLI_REFUSALS.keys())
def test_cli_usage_and_checkpoint_errors_exit_2(tmp_path, capsys, args, says):
    try:
        status = main(args(tmp_path))
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    assert status == 2 and says in capsys.readouterr().err


def test_cli_prints_undecodable_names_under_utf8(tiny_checkpoint, tmp_path):
    path = undecodable_name(tmp_path)
    for fmt in ([], ["--json"]):
        run = subprocess.run([sys.executable, "-m", "emnist_core.predict", path, "--checkpoint", str(tiny_checkpoint),
                              *fmt], capture_output=True, cwd=REPO,
                             env={**os.environ, "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"})
        assert run.returncode == 0, run.stderr.decode(errors="replace")
        assert b"caf\\xe9.png" in run.stdout.replace(b"\\\\", b"\\")


# ---- the page (its readings of what an upload or an API request hands on) ---------------------------

def file_data(tmp, content: bytes, name="upload.png") -> dict:
    """A file as Gradio hands it on once uploaded (here `tmp` stands for Gradio's upload folder)."""
    return {"path": write(tmp, name, content), "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def editor(composite) -> dict:
    return {"background": None, "layers": [], "composite": composite}


def data_url(content: bytes) -> dict:
    import base64
    return {"url": "data:image/png;base64," + base64.b64encode(content).decode(), "path": None}


PAGE_CASES = {
    "bomb PNG on the sketchpad": ("sketchpad", lambda t: editor(file_data(t, png_bytes(13000, 13000))), "too large"),
    "bomb PNG as a data URL": ("upload", lambda t: data_url(png_bytes(13000, 13000)), "too large"),
    "bomb PNG uploaded": ("upload", lambda t: file_data(t, png_bytes(13000, 13000)), "too large"),
    "5000x5000 PNG on the sketchpad": ("sketchpad", lambda t: editor(file_data(t, png_bytes(5000, 5000))),
                                       "too large"),
    "garbage on the sketchpad": ("sketchpad", lambda t: editor(file_data(t, b"\x89PNG nothing")), "not an image"),
    "garbage uploaded": ("upload", lambda t: file_data(t, b"JFIF?"), "not an image"),
    "a good upload": ("upload", lambda t: file_data(t, (lambda b: (Image.fromarray(drawing()).save(b, "PNG"),
                                                                   b.getvalue())[1])(io.BytesIO())), "Reads as"),
}


@pytest.mark.parametrize("component, payload, says", PAGE_CASES.values(), ids=PAGE_CASES.keys())
def test_page_reads_or_explains(predictor, tmp_path, component, payload, says):
    import gradio as gr
    import guards
    value = (demo.sketch_files(payload(tmp_path), str(tmp_path)) if component == "sketchpad"
             else guards.uploaded(payload(tmp_path), str(tmp_path), gr.Error))
    label, verdict, seen = demo.read_character(predictor, value)
    assert says.lower() in verdict.lower(), verdict
    assert (label is None) == (says != "Reads as")


def test_page_refuses_large_arrays_and_caps_uploads(predictor, monkeypatch):
    import server
    label, verdict, _ = demo.read_character(predictor, huge_array(20000))
    assert label is None and "too large" in verdict
    launched = {}
    monkeypatch.setattr(demo.gr.Blocks, "launch", lambda self, **options: launched.update(options))
    demo.serve(demo.build_demo(predictor))
    assert launched["max_file_size"] == server.MAX_UPLOAD


# ---- checkpoint contents -------------------------------------------------------------------------------

def payload_of(tmp) -> dict:
    path = tmp / "model.pt"
    torch.manual_seed(0)
    save_checkpoint(Checkpoint(model_config=SMALL, state_dict=EmnistCNN(SMALL).state_dict()), path)
    return torch.load(path, weights_only=True)


def spec(**change):
    return lambda p: p["input_spec"].update(change)


def weight(name, value):
    def change(p):
        p["state_dict"][name] = p["state_dict"][name].clone().fill_(value) if not isinstance(value, str) else value
    return change


def config(**change):
    return lambda p: p["model_config"].update(change)


CHECKPOINT_CASES = {
    "mean a string": (spec(mean="0.17"), "input_spec.mean"),
    "mean NaN": (spec(mean=float("nan")), "input_spec.mean"),
    "std 0": (spec(std=0.0), "input_spec.std"),
    "std negative": (spec(std=-0.3), "input_spec.std"),
    "std infinite": (spec(std=float("inf")), "input_spec.std"),
    "size 32": (spec(size=32), "input_spec.size"),
    "transposed a string": (spec(transposed="yes"), "input_spec.transposed"),
    "labels all '0'": (lambda p: p.update(labels="0" * 47), "distinct ByMerge classes"),
    "labels of other characters": (lambda p: p.update(labels="".join(chr(200 + i) for i in range(47))),
                                   "distinct ByMerge classes"),
    "digits not first": (lambda p: p.update(labels=p["labels"][10:] + p["labels"][:10]), "digits"),
    "NaN weights": (weight("classifier.weight", float("nan")), "NaN or infinite"),
    "infinite bias": (weight("classifier.bias", float("inf")), "NaN or infinite"),
    "a weight that is a string": (weight("classifier.bias", "zero"), "not a tensor"),
    "negative BatchNorm variance": (lambda p: [v.fill_(-1.0) for k, v in p["state_dict"].items()
                                               if k.endswith("running_var")], "non-finite outputs"),
    "a 100000-channel stage": (config(stage_widths=[100000, 16]), "stage widths"),
    "zero convs": (config(convs_per_stage=[0, 1]), "convs per stage"),
    "dropout a string": (config(dropout="0.2"), "dropout"),
    "training a list": (lambda p: p.update(training=[1, 2]), "training record"),
}


@pytest.mark.parametrize("change, says", CHECKPOINT_CASES.values(), ids=CHECKPOINT_CASES.keys())
def test_checkpoint_contents_are_validated_at_load(tmp_path, change, says):
    payload = payload_of(tmp_path)
    change(payload)
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="model.pt") as error:
        load_checkpoint(tmp_path / "model.pt")
    assert says in str(error.value)


def test_empty_checkpoint_and_empty_messages(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "model.pt")
    assert describe_error(EOFError()) == "EOFError" and describe_error(ValueError("a\nb")) == "ValueError: a"


# ---- data files --------------------------------------------------------------------------------------

def gz_stream(parts, total_zeros: int) -> bytes:
    """gzip of `parts` followed by `total_zeros` zero bytes, compressed as a stream (a bomb)."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as gz:
        for part in parts:
            gz.write(part)
        chunk = bytes(1 << 20)
        for _ in range(total_zeros >> 20):
            gz.write(chunk)
    return out.getvalue()


def header(magic: int, *shape: int) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)


IMAGES, LABELS = idx_name("train", "images"), idx_name("train", "labels")

DATA_CASES = {
    "header claiming 2 million images": (lambda d: (d / f"{IMAGES}.gz").write_bytes(
        gz_stream([header(data.IMAGE_MAGIC, 2_000_000, 28, 28)], 1 << 20)), "claims"),
    "gzip bomb after a valid header": (lambda d: (d / f"{IMAGES}.gz").write_bytes(
        gz_stream([header(data.IMAGE_MAGIC, 100, 28, 28)], 64 << 20)), "trailing data"),
    "gzip bomb of zeros": (lambda d: (d / f"{IMAGES}.gz").write_bytes(gz_stream([], 64 << 20)), "magic"),
    "empty gzip": (lambda d: (d / f"{IMAGES}.gz").write_bytes(gzip.compress(b"")), "too short"),
    "zip member bomb": (lambda d: zip_with(d, f"gzip/{IMAGES}.gz", gz_stream([header(data.IMAGE_MAGIC, 100, 28, 28)],
                                                                             32 << 20)), "trailing data"),
    "huge mapping file": (lambda d: (d / "emnist-bymerge-mapping.txt").write_bytes(b"0 48\n" * 400_000),
                          "larger than"),
    "255-dimension header": (lambda d: (d / f"{IMAGES}.gz").write_bytes(gzip.compress(header(0x08FF, *[2] * 255))),
                             "magic"),
}


def zip_with(folder: Path, member: str, content: bytes) -> None:
    (folder / f"{IMAGES}.gz").unlink()
    (folder / f"{LABELS}.gz").rename(folder / "labels.gz")  # labels stay plain, images come from the zip
    with zipfile.ZipFile(folder / "gzip.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, content)
    (folder / "labels.gz").rename(folder / f"{LABELS}.gz")


@pytest.mark.parametrize("spoil, says", DATA_CASES.values(), ids=DATA_CASES.keys())
def test_data_files_are_refused_in_bounded_memory(tmp_path, spoil, says):
    folder = write_dataset(tmp_path / "data", {"train": glyph_images(100, seed=0)})
    spoil(folder)
    with pytest.raises(DataError, match=says):
        load_split(folder, "train")


def test_huge_class_prior_file(tmp_path):
    (tmp_path / "class-prior.txt").write_bytes(b"# padding\n" * 200_000)
    with pytest.raises(DataError, match="larger than"):
        read_class_prior(tmp_path / "class-prior.txt")


# ---- property: anything at all gives a reading or UnusableImage --------------------------------------

DTYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64,
                          np.bool_, np.complex64])
SHAPES = st.one_of(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
                   st.tuples(st.integers(8, 300), st.integers(8, 300), st.sampled_from([1, 2, 3, 4, 5])))
ARRAYS = DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, SHAPES))
ANYTHING = st.one_of(ARRAYS, st.binary(max_size=2000), st.none(), st.integers(), st.text(max_size=30),
                     st.dictionaries(st.sampled_from(["background", "layers", "composite"]), ARRAYS, max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(value=ANYTHING)
def test_predictor_never_raises_anything_else(predictor, tmp_path, value):
    if isinstance(value, bytes):
        value = write(tmp_path, "fuzz.png", value)  # bytes arrive as a file
    try:
        result = predictor.predict(value)
    except UnusableImage as problem:
        assert str(problem)
    else:
        assert len(result.top5) == 5 and all(np.isfinite(p) for _, p in result.top5)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(contents=st.lists(st.one_of(st.binary(max_size=500),
                                   st.sampled_from([png_bytes(64, 64), png_bytes(200, 100, b"\x0f" * 25)])),
                         min_size=1, max_size=4))
def test_cli_never_fails_a_batch(tiny_checkpoint, tmp_path, capsys, contents):
    files = [write(tmp_path, f"f{i}.png", c) for i, c in enumerate(contents)]
    status = main([*files, "--checkpoint", str(tiny_checkpoint), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [o["file"] for o in out] == files and status in (0, 1)
    assert status == (0 if any("top5" in o for o in out) else 1)
