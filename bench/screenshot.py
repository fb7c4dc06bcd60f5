"""The README's picture of the page: `python -m bench.screenshot` (writes docs/screenshot.png).

Serves the page (the shipped checkpoint, a free port), opens it in Debian's chromium through
Playwright, draws a character with the mouse as a visitor would, waits for the reading and takes the
window. The character is an Omniglot stroke file from ../shared/data when it is there, else a drawn A.
"""

import argparse
import socket
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
STROKE_FILE = ROOT.parent / "shared" / "data" / "omniglot-latin-dev" / "w_drawer02.txt"
# An upright A in canvas fractions, for a clone without the shared stroke files: two legs, a bar.
FALLBACK = [np.array([(0.30, 0.82), (0.50, 0.18), (0.70, 0.82)]), np.array([(0.38, 0.58), (0.62, 0.58)])]
READ_AND_SETTLED = """() => { const top5 = document.querySelector('#top5');
  return top5.querySelectorAll('dl dt').length >= 5 && !/\\d+(\\.\\d+)?s\\b/.test(top5.innerText); }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strokes(side: int) -> list[np.ndarray]:
    """Pen paths in canvas pixels, points within 4 px of a straight line dropped: each mouse event
    costs headless chromium a frame, and the canvas draws lines between them."""
    import cv2

    if STROKE_FILE.is_file():
        from emnist_core.strokes import fit_strokes, read_strokes
        paths = fit_strokes(read_strokes(STROKE_FILE), side, char_size=0.55)
    else:
        paths = [stroke * side for stroke in FALLBACK]
    return [cv2.approxPolyDP(np.asarray(p, np.float32).reshape(-1, 1, 2), 4.0, False).reshape(-1, 2) for p in paths]


def take(out: Path, width: int, height: int) -> str:
    """Writes the screenshot; returns the top reading shown."""
    from playwright.sync_api import sync_playwright

    import demo
    from emnist_core.predict import Predictor

    blocks = demo.build_demo(Predictor())
    demo.serve(blocks, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                 args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(blocks.local_url)
            page.wait_for_selector("#sketchpad canvas", state="visible", timeout=60_000)
            box = page.locator("#sketchpad canvas").first.bounding_box()
            side = min(box["width"], box["height"])
            left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
            for stroke in strokes(round(side)):
                page.mouse.move(left + float(stroke[0][0]), top + float(stroke[0][1]))
                page.mouse.down()
                for x, y in stroke[1:]:
                    page.mouse.move(left + float(x), top + float(y), steps=2)
                page.mouse.up()
            page.wait_for_function(READ_AND_SETTLED, timeout=60_000)
            page.wait_for_function("() => document.querySelector('#model-view canvas').dataset.shown", timeout=30_000)
            page.wait_for_timeout(500)  # let the label bars finish their transition
            top = page.locator("#top5 dl dt").first.inner_text().strip()
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        blocks.close()
    return top


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=820)
    args = parser.parse_args(argv)
    if not CHROMIUM.is_file():
        print(f"error: {CHROMIUM} is absent (apt-get install chromium)", file=sys.stderr)
        return 2
    top = take(args.out, args.width, args.height)
    print(f"{args.out}: the page after drawing, reading {top!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
