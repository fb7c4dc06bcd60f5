"""The page in a real browser: Debian's chromium, driven by Playwright, draws a character with the
mouse without clicking any tool first and checks the reading; then the layout at phone size.

Skips, saying why, without /usr/bin/chromium, Playwright, the stroke files in ../shared/data or a checkpoint.
"""

import os
import shutil
from pathlib import Path

import cv2
import pytest
from test_demo import free_port, predictor  # noqa: F401  (predictor: a fixture, used by name)

import demo
from emnist_core.labels import letter_matches
from emnist_core.strokes import fit_strokes, read_strokes

CHROMIUM = Path("/usr/bin/chromium")
STROKES = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot-latin-dev"
LETTER = "w_drawer02.txt"  # one stroke, so it also checks that the very first stroke is read
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SIMPLIFY_PX = 4.0  # pen points closer than this to a straight line are dropped: the brush draws lines
# between mouse events, and each event costs a software-rendered frame in headless chromium

# Five classes on show and no reading in flight (a pending one shows a timer such as "0.4s").
READ_AND_SETTLED = """() => { const top5 = document.querySelector('#top5');
  return top5.querySelectorAll('dl dt').length >= 5 && !/\\d+(\\.\\d+)?s\\b/.test(top5.innerText); }"""

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is absent (apt-get install chromium)"),
    pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword):Warning"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install it)")


@pytest.fixture(scope="module")
def page_url(predictor):  # noqa: F811
    blocks = demo.build_demo(predictor)
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield blocks.local_url
    blocks.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url: str, width: int, height: int):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector("#sketchpad canvas", state="visible", timeout=60_000)
    page.wait_for_function("() => window.editor?.event_callbacks?.get('change')?.length", timeout=60_000)
    return page


def save_screenshot(page, path: Path):
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("SCREENSHOT_DIR"):
        Path(os.environ["SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["SCREENSHOT_DIR"]) / path.name)


def test_draw_a_letter_and_read_it(browser, page_url, tmp_path):
    if not (STROKES / LETTER).is_file():
        pytest.skip(f"{STROKES / LETTER} is absent: the stroke files live in ../shared/data beside the checkout")
    page = open_page(browser, page_url, 1280, 900)
    assert "select the draw tool" not in page.inner_text("#sketchpad")
    frame = page.locator("#sketchpad").bounding_box()
    assert abs(frame["width"] - frame["height"]) < 4, f"the sketchpad's frame is not square: {frame}"
    box = page.locator("#sketchpad canvas").first.bounding_box()
    side = min(box["width"], box["height"])
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    for stroke in fit_strokes(read_strokes(STROKES / LETTER), round(side), char_size=0.55):
        points = cv2.approxPolyDP(stroke.reshape(-1, 1, 2), SIMPLIFY_PX, False).reshape(-1, 2)
        page.mouse.move(left + float(points[0][0]), top + float(points[0][1]))
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(left + float(x), top + float(y), steps=2)
        page.mouse.up()
    page.wait_for_function(READ_AND_SETTLED, timeout=60_000)
    top5 = [name.strip() for name in page.locator("#top5 dl dt").all_inner_texts()]
    # the 28x28 the model saw is on show (an image that has loaded), beside the reading
    page.wait_for_function("() => document.querySelector('#model-view img')?.naturalWidth > 0", timeout=30_000)
    save_screenshot(page, tmp_path / "demo_desktop.png")
    drawn = LETTER[0]
    assert any(letter_matches(drawn, c, tolerant=True) for c in top5), f"drew {drawn!r}, read {top5}"
    page.close()


def test_phone_layout(browser, page_url, tmp_path):
    page = open_page(browser, page_url, 390, 844)
    box = page.locator("#sketchpad canvas").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] >= 280, box
    assert box["y"] + box["height"] <= 844, f"the canvas does not fit the first screen: {box}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
    assert "select the draw tool" not in page.inner_text("#sketchpad")
    save_screenshot(page, tmp_path / "demo_phone.png")
    page.close()
