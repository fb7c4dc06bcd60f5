"""The drawing pipeline: orientation, centring, ink conventions, stroke width, bad input."""

import cv2
import numpy as np
import pytest
from PIL import Image

from emnist_core.preprocess import STROKE_RANGE, UnusableImage, prepare, stroke_width
from helpers import L_SHAPE, draw


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float32).ravel(), b.astype(np.float32).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_output_is_upright_for_people_and_transposed_for_the_model():
    prepared = prepare(draw(L_SHAPE))
    up = prepared.upright
    assert up.shape == (28, 28) and up.dtype == np.uint8
    assert up[:, :10].sum() > up[:, -10:].sum()  # the bar is on the left
    assert up[-8:, :].sum() > up[:8, :].sum()  # the foot is at the bottom
    np.testing.assert_array_equal(prepared.model_input, up.T)  # EMNIST stores images transposed
    np.testing.assert_array_equal(prepare(draw(L_SHAPE), transposed=False).model_input, up)


def test_ink_is_stretched_to_full_range_and_fills_the_frame_like_emnist():
    up = prepare(draw(L_SHAPE)).upright
    assert up.max() == 255 and up[0, 0] == 0
    rows, cols = np.nonzero(up)
    assert 22 <= rows.max() - rows.min() + 1 <= 28  # EMNIST characters span 24-26 of 28 pixels


def test_position_and_size_on_the_canvas_do_not_matter():
    centred = prepare(draw(L_SHAPE)).upright
    corner = prepare(draw([[(x * 0.5, y * 0.5) for x, y in L_SHAPE[0]]], width=8)).upright
    assert similarity(centred, corner) > 0.9


@pytest.mark.parametrize("width", [3, 10, 20, 30, 45, 60])
def test_any_brush_width_ends_up_with_emnist_stroke_width(width):
    """Core stroke width (twice the median centre-to-edge distance of the pixels >= 128): EMNIST's
    own images give 2.0-4.4 px (5th-95th percentile), median 4, on 3,000 images of the offline pool."""
    strokes = [[(0.2, 0.2), (0.8, 0.2), (0.5, 0.85)]]  # a "7"
    up = prepare(draw(strokes, width=width)).upright
    core = stroke_width(up >= 128)
    assert 2.0 <= core <= 4.5, f"brush {width}px gave {core:.1f}px strokes at 28x28"


def test_ink_conventions_agree():
    dark_on_light = draw(L_SHAPE)
    reference = prepare(dark_on_light).upright
    light_on_dark = 255 - dark_on_light
    rgb = np.dstack([dark_on_light] * 3)
    alpha_only = np.zeros((*dark_on_light.shape, 4), np.uint8)  # black strokes on a transparent layer
    alpha_only[:, :, 3] = 255 - dark_on_light
    white_on_transparent = alpha_only.copy()
    white_on_transparent[:, :, :3] = 255
    as_float = dark_on_light.astype(np.float32) / 255
    for variant in (light_on_dark, rgb, alpha_only, white_on_transparent, as_float,
                    Image.fromarray(dark_on_light), dark_on_light.astype(np.float64)):
        assert similarity(prepare(variant).upright, reference) > 0.97


def test_files_are_read(tmp_path):
    path = tmp_path / "l.png"
    Image.fromarray(draw(L_SHAPE)).save(path)
    assert similarity(prepare(str(path)).upright, prepare(draw(L_SHAPE)).upright) > 0.99
    jpeg = tmp_path / "l.jpg"
    Image.fromarray(draw(L_SHAPE)).convert("RGB").save(jpeg, quality=60)
    assert similarity(prepare(jpeg).upright, prepare(draw(L_SHAPE)).upright) > 0.95


def test_gradio_sketchpad_values():
    drawing = draw(L_SHAPE)
    composite = np.dstack([drawing] * 3 + [np.full_like(drawing, 255)])
    layer = np.zeros_like(composite)
    layer[:, :, 3] = 255 - drawing  # strokes live on a transparent layer
    background = np.full_like(composite, 255)
    reference = prepare(drawing).upright
    with_composite = {"background": background, "layers": [layer], "composite": composite}
    without_composite = {"background": background, "layers": [layer], "composite": None}
    layers_only = {"background": None, "layers": [layer], "composite": None}
    for value in (with_composite, without_composite, layers_only):
        assert similarity(prepare(value).upright, reference) > 0.97


def test_specks_and_faint_noise_are_ignored():
    rng = np.random.default_rng(0)
    clean = draw(L_SHAPE)
    noisy = clean.astype(np.float32) - rng.uniform(0, 25, clean.shape)  # faint grey mottling
    for x, y in rng.integers(10, 390, size=(12, 2)):  # a dozen specks of dust
        cv2.circle(noisy, (int(x), int(y)), 1, 0, -1)
    assert similarity(prepare(np.clip(noisy, 0, 255).astype(np.uint8)).upright, prepare(clean).upright) > 0.95


def test_photo_of_paper_with_uneven_light():
    h = w = 600
    yy, xx = np.mgrid[0:h, 0:w]
    paper = 200 - 90 * (xx / w) + np.random.default_rng(1).normal(0, 4, (h, w))  # shadow to the right
    ink = draw(L_SHAPE, canvas=600, width=14) < 128
    photo = np.where(ink, paper * 0.3, paper)
    photo = np.dstack([photo, photo * 0.95, photo * 0.9]).clip(0, 255).astype(np.uint8)
    assert similarity(prepare(photo).upright, prepare(draw(L_SHAPE, canvas=600, width=14)).upright) > 0.9


@pytest.mark.parametrize("value, words", [
    (None, "nothing drawn"),
    (np.where(draw(L_SHAPE) < 128, 240, 255).astype(np.uint8), "ink is too faint"),
    ({"background": None, "layers": [], "composite": None}, "nothing drawn"),
    (np.full((300, 300), 255, np.uint8), "flat colour"),
    (np.zeros((300, 300), np.uint8), "flat colour"),
    (np.full((300, 300, 4), 0, np.uint8), "flat colour"),
    (draw([[(0.5, 0.5), (0.5, 0.5)]], width=20), "dot"),
    (np.zeros((4, 4), np.uint8), "too small"),
    (np.zeros((30, 30, 5), np.uint8), "shape"),
    (np.array([["a"]]), "cannot read"),
    (12345, "cannot read"),
    ("/nonexistent/drawing.png", "no such image"),
    (__file__, "not an image"),
])
def test_unusable_input_gets_a_clear_message(value, words):
    with pytest.raises(UnusableImage, match=f"(?i){words}"):
        prepare(value)


def test_fully_inked_canvas_is_refused():
    scribble = draw([[(0.05 + 0.1 * i, 0.02), (0.05 + 0.1 * i, 0.98)] for i in range(10)], width=45)
    with pytest.raises(UnusableImage, match="(?i)one flat colour.*clear a fully inked canvas"):
        prepare(scribble)  # the bars merge: nothing but ink
    stripes = draw([[(0.05 + 0.1 * i, 0.02), (0.05 + 0.1 * i, 0.98)] for i in range(10)], width=25)
    with pytest.raises(UnusableImage, match="(?i)most of the image is ink"):
        prepare(stripes)  # 62% ink, paper between the bars


def test_stroke_range_is_emnist_like():
    assert 0 < STROKE_RANGE[0] < STROKE_RANGE[1] < 0.3
