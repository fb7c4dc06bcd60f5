"""How fast the page reads a drawing: last pointer-up -> final reading on show, for today's page (the
gr.Sketchpad demo.py of a git ref, default OLD_PAGE) and the stroke-canvas page of this checkout, side by
side in one run, in real headless Chromium, on the same held-out drawings (Omniglot strokes of g, k and
e replayed as mouse moves). Three conditions: idle; under load (BUSY_PROCESSES processes burning CPU);
and a remote visitor (Chrome's network emulation: 80 ms added latency, a 2 Mbit/s uplink). Also the
server's own cost of the largest stroke drawing it accepts (parse + render + read).

    python -m bench.canvas_latency                          # both pages, all conditions; prints a table
    python -m bench.canvas_latency --server-only            # only the largest-drawing server cost
    python -m bench.canvas_latency --old-ref f38a575 --repeats 2 --json runs/canvas_latency.json

Each page first reads one untimed drawing (a server's first event pays one-off costs: today's page
imports matplotlib's pyplot then, over a second on this machine). "Final reading on show": after the
last pointer-up, the verdict (its Markdown, as shown) and top-5 are watched until they
stay unchanged for QUIET_S; the time is when that settled text first appeared (0 when it was already
on show at pointer-up, which the new page can do because it reads while drawing).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from emnist_core.preprocess import MAX_SIDE
from emnist_core.strokes import (BRUSH_RANGE, MAX_POINTS, MAX_STROKES, SIDE_RANGE, fit_strokes, parse_drawing,
                                 read_strokes, render_drawing)

ROOT = Path(__file__).resolve().parents[1]
STROKES = ROOT.parent / "shared" / "data" / "omniglot-latin-dev"
DRAWINGS = ["g_drawer07.txt", "k_drawer08.txt", "e_drawer10.txt"]  # drawers the browser tests do not use
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SIMPLIFY_PX = 4.0  # as tests/test_browser.py: pen points closer than this to a straight line are dropped
QUIET_S = 4.0  # the reading counts as settled once unchanged this long (today's page takes ~3 s)
BUSY_PROCESSES = 2
BUSY_LIMIT_S = 900  # a burner stops by itself after this, whatever happens to the bench
OLD_PAGE = "f38a575"  # the last commit whose page is the gr.Sketchpad one (its demo.py runs on this emnist_core)
REMOTE = {"offline": False, "latency": 80, "downloadThroughput": -1, "uploadThroughput": 2_000_000 / 8}

# Watch the verdict and top-5 from before the drawing: (time, text) at every change, and the last pointer-up.
# What is on show: the verdict's Markdown, not the whole #verdict, which also holds Gradio's status tracker,
# kept at opacity 0 for show_progress="hidden" but still in innerText ("processing | 0.1/0.2s").
ARM = """() => {
  const verdict = () => document.querySelector('#verdict [data-testid="markdown"]') || document.querySelector('#verdict');
  const text = () => (verdict()?.innerText || '') + '|' + (document.querySelector('#top5 dl')?.innerText || '');
  const log = window.readings = {up: null, changes: [[performance.now(), text()]]};
  window.addEventListener('pointerup', () => { log.up = performance.now(); }, {capture: true});
  new MutationObserver(() => {
    const now = text();
    if (now !== log.changes[log.changes.length - 1][1]) log.changes.push([performance.now(), now]);
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def start_server(script: Path, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen([sys.executable, str(script), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(240):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"{script} exited with status {server.returncode}")
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"{script} did not answer on port {port}")


def draw(page, strokes_file: Path, old: bool):
    """Replay a stroke file on the character canvas with the mouse, as tests/test_browser.py does."""
    canvas = page.locator("#sketchpad canvas").first
    box = canvas.bounding_box()
    side = min(box["width"], box["height"])
    left, top = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    for stroke in fit_strokes(read_strokes(strokes_file), round(side), char_size=0.55):
        points = cv2.approxPolyDP(stroke.reshape(-1, 1, 2), SIMPLIFY_PX, False).reshape(-1, 2)
        page.mouse.move(left + float(points[0][0]), top + float(points[0][1]))
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(left + float(x), top + float(y), steps=2)
        page.mouse.up()


def one_reading(browser, url: str, strokes_file: Path, old: bool, remote: bool) -> float:
    """ms from the last pointer-up until the settled reading was first on show, on a fresh page."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.wait_for_selector("#sketchpad canvas", state="visible", timeout=60_000)
    if old:  # its first-stroke fix must be in place, as the old browser test waited for
        page.wait_for_function("() => window.editor?.event_callbacks?.get('change')?.length", timeout=60_000)
    if remote:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", REMOTE)
    page.evaluate(ARM)
    draw(page, strokes_file, old)
    last_change = time.monotonic()
    seen = 0
    deadline = time.monotonic() + 60
    while time.monotonic() - last_change < QUIET_S and time.monotonic() < deadline:
        time.sleep(0.1)
        count = page.evaluate("() => window.readings.changes.length")
        if count != seen or not page.evaluate("() => /Reads as/.test(window.readings.changes.at(-1)[1])"):
            seen, last_change = count, time.monotonic()
    log = page.evaluate("() => window.readings")
    page.close()
    changes, up = log["changes"], log["up"]
    if "Reads as" not in changes[-1][1]:
        raise RuntimeError(f"{url}: no reading on show after drawing {strokes_file.name}: {changes[-1][1]!r:.200}")
    first = len(changes) - 1
    return max(0.0, changes[first][0] - up)


def burners(n: int) -> list[subprocess.Popen]:
    code = f"import time\nend = time.time() + {BUSY_LIMIT_S}\nwhile time.time() < end: pass"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def old_page_script(ref: str, folder: Path) -> Path:
    """demo.py as it is at `ref`, written to `folder` (it imports emnist_core from this checkout)."""
    script = folder / "demo_old.py"
    script.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:demo.py"], check=True,
                                     capture_output=True, text=True).stdout)
    return script


def largest_drawing_cost(repeats: int = 5) -> dict:
    """Server ms for the largest stroke drawing accepted (every limit at its maximum, the strokes' length
    just under its cap): parse the JSON, render, and read it with the shipped checkpoint."""
    import torch

    from emnist_core.predict import Predictor
    torch.set_num_threads(1)  # as demo.main
    predictor = Predictor()
    rng = np.random.default_rng(0)
    side = SIDE_RANGE[1]
    per = MAX_POINTS // MAX_STROKES
    strokes = []
    for _ in range(MAX_STROKES):  # random walks, steps sized so the total length stays under the cap
        walk = rng.uniform(0.2, 0.8, 2) * side + np.cumsum(rng.normal(0, 3.0, (per, 2)), 0)
        strokes.append(np.clip(walk, 0, side).round(1).tolist())
    text = json.dumps({"width": side, "height": side, "brush": BRUSH_RANGE[1], "strokes": strokes})
    times = {"parse_ms": [], "render_ms": [], "read_ms": []}
    for _ in range(repeats):
        t0 = time.perf_counter()
        drawing = parse_drawing(text)
        t1 = time.perf_counter()
        image = render_drawing(drawing, max_side=MAX_SIDE)  # as demo.read_drawn_character renders one character
        t2 = time.perf_counter()
        try:
            predictor.predict(image)
        except Exception:
            pass  # a scribbled-full canvas may be refused by preprocessing; its cost still counts
        t3 = time.perf_counter()
        for key, ms in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[key].append(1000 * ms)
    result = {key: round(statistics.median(v), 1) for key, v in times.items()}
    result["total_ms"] = round(sum(result.values()), 1)
    result["json_chars"] = len(text)
    result["points"] = MAX_POINTS
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Last pointer-up -> reading on show, old page vs new page.")
    parser.add_argument("--old-ref", default=OLD_PAGE, help=f"git ref whose demo.py is today's page (default {OLD_PAGE})")
    parser.add_argument("--repeats", type=int, default=1, help="times each drawing is drawn per page and condition")
    parser.add_argument("--port", type=int, default=7925, help="the old page's port; the new page takes the next")
    parser.add_argument("--conditions", default="idle,load,remote", help="comma-separated: idle, load, remote")
    parser.add_argument("--server-only", action="store_true", help="only the largest-drawing server cost")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    result = {"largest_drawing": largest_drawing_cost()}
    print(f"largest accepted drawing, server time (ms): {result['largest_drawing']}")
    if args.server_only:
        return 0
    missing = [name for name in DRAWINGS if not (STROKES / name).is_file()]
    if missing or not Path(CHROMIUM).is_file():
        print(f"error: needs {CHROMIUM} and {STROKES}/{missing or DRAWINGS}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright
    conditions = args.conditions.split(",")
    with tempfile.TemporaryDirectory() as folder:
        servers = {"old": start_server(old_page_script(args.old_ref, Path(folder)), args.port),
                   "new": start_server(ROOT / "demo.py", args.port + 1)}
        urls = {"old": f"http://127.0.0.1:{args.port}/", "new": f"http://127.0.0.1:{args.port + 1}/"}
        runs = {(page, c): [] for c in conditions for page in urls}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                for page in urls:  # one untimed drawing each: no figure holds a process's first-event costs
                    one_reading(browser, urls[page], STROKES / DRAWINGS[0], page == "old", False)
                for condition in conditions:
                    busy = burners(BUSY_PROCESSES) if condition == "load" else []
                    try:
                        for _ in range(args.repeats):
                            for name in DRAWINGS:
                                for page in urls:  # in turns, so a busy spell on the machine hits both alike
                                    ms = one_reading(browser, urls[page], STROKES / name, page == "old",
                                                     condition == "remote")
                                    runs[page, condition].append(round(ms))
                                    print(f"{time.strftime('%H:%M:%S')} {condition:6} {page} {name}: {ms:.0f} ms "
                                          f"(load {os.getloadavg()[0]:.1f})", flush=True)
                    finally:
                        for burner in busy:
                            burner.kill()
                browser.close()
        finally:
            for server in servers.values():
                server.kill()
    print("\nmedian ms, last pointer-up -> final reading on show (all runs in brackets)")
    print("| condition | today's page (gr.Sketchpad) | stroke canvas (gr.HTML) |")
    print("| --- | --- | --- |")
    for condition in conditions:
        cells = [f"{statistics.median(runs[p, condition]):.0f} {runs[p, condition]}" for p in urls]
        print(f"| {condition} | {cells[0]} | {cells[1]} |")
    result["runs"] = {f"{p}/{c}": v for (p, c), v in runs.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
