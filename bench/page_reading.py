"""Reading as you draw, on the page itself (issue 29): `python demo.py` driven by headless Chromium.

    python -m bench.page_reading                                   # all of it; prints tables
    python -m bench.page_reading --drawings 12 --crowds 10,40,100 --json runs/page_reading.json

1. Pointer-up -> the final reading on show, median and p90: the page reading in the browser (its worker)
   and the same page reading on the server (its worker refused, as in a browser without WebAssembly), in
   turns on the same drawings, idle and with BUSY_PROCESSES CPU-burning processes. "On show": the reading
   panel's last change after the last pointer-up (it settles within QUIET_MS), plus the next animation frame.
   Also the server requests each drawing caused while it was drawn, per path.
2. The page's weight: every file a fresh page fetches (bytes as sent, and gzip -9 of each, what a compressing
   server or the Space's proxy would send), the reader's files apart; page load -> first possible reading in
   the browser.
3. Crowds of N visitors drawing at once (N in --crowds), as the server sees them:
   - reading in the browser: nothing while drawing (the figure of 1.); the server's remaining work is each
     visitor's page load: N visitors fetch every file of a page load at once (6 at a time each, as browsers
     do), p50/p90 of a whole page load, with and without the reader's files (what the reader adds);
   - reading on the server: N visitors each asking for a reading every 150 ms after the last answer, as the
     canvas does while drawing (bench.robustness.Visitor, READINGS each), p50/p90 of a reading.
The drawings are generated pen paths (bench.drawings.GLYPHS), so no data files are needed.
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench.canvas_latency import BUSY_PROCESSES, CHROMIUM, CHROMIUM_ARGS, burners
from bench.drawings import GLYPHS
from bench.load_check import start_demo
from bench.robustness import Visitor
from emnist_core.checkpoint import DEFAULT_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
QUIET_MS = 1500  # the reading counts as final once the panel has not changed this long
READINGS = 20  # per visitor of a server-reading crowd
CHARACTERS = ["W", "A", "k", "2", "S", "E", "4", "P", "7", "j", "N", "C"]

# Every change of the reading panel (and the phone's bar), timed at the next frame; and the last pointer-up.
ARM = """() => {
  const log = window.panel = {up: null, changes: [], readings: []};
  window.addEventListener('pointerup', () => { log.up = performance.now(); }, {capture: true});
  document.addEventListener('emnist-reading', () => log.readings.push(performance.now()));
  const seen = () => requestAnimationFrame(() => log.changes.push(performance.now()));
  new MutationObserver(seen).observe(document.querySelector('#reading'),
    {subtree: true, childList: true, characterData: true, attributes: true});
}"""


def open_page(browser, url: str, reads: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if reads == "server":
        context.route("**/reader/worker.js", lambda route: route.abort())
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(f"#sketchpad .stroke-pad[data-reader='{reads}']", state="attached", timeout=120_000)
    return page


def draw(page, char: str, size: float = 0.6) -> None:
    """A glyph drawn with the mouse, centred on the character canvas."""
    box = page.locator("#sketchpad canvas").first.bounding_box()
    side = min(box["width"], box["height"])
    left, top = box["x"] + side * (1 - size) / 2, box["y"] + side * (1 - size) / 2
    for stroke in GLYPHS[char]:
        points = [(left + side * size * x, top + side * size * y) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=4)
        page.mouse.up()


def one_drawing(page, char: str) -> tuple[float, float | None, int]:
    """(ms from the last pointer-up to the final reading on show, to the browser's reading of it reaching the
    page (None when read on the server), server requests while drawing)."""
    if page.locator("#sketchpad .pad-clear").is_enabled():
        page.locator("#sketchpad .pad-clear").click()
    page.wait_for_timeout(QUIET_MS)
    requests = []
    listen = lambda r: requests.append(r.url) if "/gradio_api/" in r.url and "/file=" not in r.url else None  # noqa: E731
    page.on("request", listen)
    page.evaluate(ARM)
    draw(page, char)
    page.wait_for_timeout(QUIET_MS)
    while True:  # until the panel has been quiet for QUIET_MS
        log = page.evaluate("() => window.panel")
        last = max(log["changes"], default=log["up"])
        if page.evaluate("() => performance.now()") - last >= QUIET_MS:
            break
        page.wait_for_timeout(200)
    page.remove_listener("request", listen)
    after = [t for t in log["changes"] if t >= log["up"]]
    if not after:
        raise RuntimeError(f"{char}: no reading came after the last pointer-up")
    came = [t for t in log["readings"] if t >= log["up"]]
    return after[-1] - log["up"], (came[-1] - log["up"]) if came else None, len(requests)


def quantiles(values: list[float]) -> dict:
    return {"median": statistics.median(values), "p90": float(np.percentile(values, 90)), "max": max(values),
            "n": len(values)}


def latency(url: str, conditions: list[str], n: int) -> dict:
    from playwright.sync_api import sync_playwright
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        pages = {reads: open_page(browser, url, reads) for reads in ("browser", "server")}
        for page in pages.values():
            one_drawing(page, "T")  # untimed: first-use costs
        for condition in conditions:
            busy = burners(BUSY_PROCESSES) if condition == "load" else []
            runs = {reads: ([], [], []) for reads in pages}
            try:
                for k in range(n):
                    for reads, page in pages.items():  # in turns: a busy spell hits both alike
                        ms, came, requests = one_drawing(page, CHARACTERS[k % len(CHARACTERS)])
                        runs[reads][0].append(ms)
                        runs[reads][1].append(requests)
                        if came is not None:
                            runs[reads][2].append(came)
                        print(f"{time.strftime('%H:%M:%S')} {condition} {reads} {CHARACTERS[k % len(CHARACTERS)]}: "
                              f"{ms:.0f} ms on show" + (f" ({came:.0f} ms to the reading's arrival)" if came else "")
                              + f", {requests} requests", flush=True)
            finally:
                for burner in busy:
                    burner.kill()
                    burner.wait()
            results[condition] = {reads: {**quantiles(ms), "requests_per_drawing": statistics.mean(req),
                                          "arrived": quantiles(came) if came else None}
                                  for reads, (ms, req, came) in runs.items()}
        browser.close()
    return results


def page_load(url: str) -> dict:
    """What a fresh page fetches (url -> bytes, gzip bytes), and page load -> first possible reading (ms)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        page = context.new_page()
        responses = []
        page.on("response", lambda response: responses.append(response))
        page.goto(url)
        page.wait_for_selector("#sketchpad .stroke-pad[data-reader='browser']", state="attached", timeout=120_000)
        ready_ms = page.evaluate("() => performance.now()")  # since navigation began
        page.wait_for_timeout(1000)
        fetched = {}
        for response in responses:
            if (response.request.method != "GET" or response.status != 200
                    or "event-stream" in response.headers.get("content-type", "")):  # a stream never ends
                continue
            try:
                body = response.body()
            except Exception:  # a stream (the event source): not a file
                continue
            fetched[response.url.removeprefix(url.rstrip("/"))] = {"bytes": len(body), "gzip": len(gzip.compress(body, 9))}
        browser.close()
    reader = {u: f for u, f in fetched.items() if "/web/reader/" in u or ".web." in u}
    total = lambda files, key: sum(f[key] for f in files.values())  # noqa: E731
    return {"ready_ms": ready_ms, "files": fetched,
            "page": {"files": len(fetched), "bytes": total(fetched, "bytes"), "gzip": total(fetched, "gzip")},
            "reader": {"files": len(reader), "bytes": total(reader, "bytes"), "gzip": total(reader, "gzip")}}


def crowd_loading(url: str, paths: list[str], n: int) -> dict:
    """N visitors loading the page at once, each fetching every file, 6 at a time: seconds per whole load."""
    import httpx
    base = url.rstrip("/")
    times = []

    def visitor():
        with httpx.Client(timeout=300) as client, ThreadPoolExecutor(6) as pool:
            start = time.perf_counter()
            list(pool.map(lambda p: client.get(base + p).raise_for_status(), paths))
            times.append(time.perf_counter() - start)
    threads = [threading.Thread(target=visitor) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"p50_s": statistics.median(times), "p90_s": float(np.percentile(times, 90))}


def crowd_drawing(url: str, n: int) -> dict:
    """N visitors reading on the server at once: seconds per reading."""
    import httpx
    fns = [d["id"] for d in httpx.get(f"{url}config", timeout=30).json()["dependencies"]
           if d.get("targets") and any(t[1] == "input" for t in d["targets"])]
    crowd = [Visitor(url, fns[0], readings=READINGS) for _ in range(n)]
    for person in crowd:
        person.start()
    for person in crowd:
        person.join(timeout=600)
    waits = sorted(w for person in crowd for w in person.waits)
    return {"p50_s": statistics.median(waits), "p90_s": float(np.percentile(waits, 90)), "readings": len(waits)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drawings", type=int, default=12, help="drawings per path and condition (0: no latency)")
    parser.add_argument("--conditions", default="idle,load")
    parser.add_argument("--crowds", default="10,40,100", help="visitors drawing at once (empty: none)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"error: needs {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    server, url = start_demo(str(DEFAULT_CHECKPOINT))
    results = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    try:
        results["page_load"] = page_load(url)
        if args.drawings:
            results["latency"] = latency(url, args.conditions.split(","), args.drawings)
        crowds = [int(c) for c in args.crowds.split(",") if c]
        paths = [p for p in results["page_load"]["files"] if not p.startswith("/gradio_api/queue")]
        without_reader = [p for p in paths if "/web/reader/" not in p and ".web." not in p]
        results["crowds"] = {n: {"browser": crowd_loading(url, paths, n),
                                 "page_without_reader": crowd_loading(url, without_reader, n),
                                 "server": crowd_drawing(url, n)} for n in crowds}
    finally:
        server.kill()
    print(report(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def report(results: dict) -> str:
    load = results["page_load"]
    lines = ["pointer-up -> final reading on show (ms; median / p90 / max), server requests per drawing",
             "| condition | read in the browser | read on the server | ratio (median) |", "| --- | --- | --- | --- |"]
    for condition, paths in results.get("latency", {}).items():
        b, s = paths["browser"], paths["server"]
        name = "idle" if condition == "idle" else f"{BUSY_PROCESSES} CPU burners"
        lines.append(f"| {name} ({b['n']} drawings) | {b['median']:.0f} / {b['p90']:.0f} / {b['max']:.0f}, "
                     f"{b['requests_per_drawing']:.1f} requests | {s['median']:.0f} / {s['p90']:.0f} / {s['max']:.0f}, "
                     f"{s['requests_per_drawing']:.1f} requests | {s['median'] / max(b['median'], 0.1):.1f}x |")
    for condition, paths in results.get("latency", {}).items():
        came = paths["browser"].get("arrived")
        if came:
            lines.append(f"{condition}: of which the browser's reading reached the page after {came['median']:.0f} / "
                         f"{came['p90']:.0f} ms (median / p90); the rest is the panel drawn and the next frame")
    lines += ["", f"page load -> first possible reading in the browser: {load['ready_ms']:.0f} ms (fresh context, "
              f"local server); the page: {load['page']['files']} files, {load['page']['bytes']:,} bytes as sent, "
              f"{load['page']['gzip']:,} gzip -9; of which the reader: {load['reader']['files']} files, "
              f"{load['reader']['bytes']:,} bytes, {load['reader']['gzip']:,} gzip -9"]
    if results.get("crowds"):
        lines += ["", "| visitors at once | reading in the browser: a whole page load, reader included (p50 / p90) | "
                      "the page without the reader's files | reading on the server: a reading while drawing (p50 / p90) |",
                  "| --- | --- | --- | --- |"]
        for n, c in results["crowds"].items():
            lines.append(f"| {n} | {c['browser']['p50_s']:.2f} / {c['browser']['p90_s']:.2f} s | "
                         f"{c['page_without_reader']['p50_s']:.2f} / {c['page_without_reader']['p90_s']:.2f} s | "
                         f"{1000 * c['server']['p50_s']:.0f} / {1000 * c['server']['p90_s']:.0f} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
