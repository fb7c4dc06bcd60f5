"""What reading in the browser costs (issue 29), in headless Chromium: the reader's Web Worker
(web/reader/: preprocess.js + model.js on TensorFlow.js's WASM backend) reading generated drawings.

    python -m bench.browser_reading                       # idle and with 2 CPU burners; prints a table
    python -m bench.browser_reading --drawings 100 --json runs/browser_reading.json

Figures:
- drawing posted to the worker -> its reading back on the page's main thread (median, p90, max), idle and
  with BUSY_PROCESSES processes burning CPU; the same drawings read by Python in this process (parse +
  strokes.emnist_from_drawing + the model, no HTTP) for the ratio;
- the bytes the reader adds to a page (what the browser fetched, and the same gzip -9 compressed);
- page load -> first possible reading (worker started, TensorFlow.js and the model fetched, compiled and
  run once), in a fresh browser context (empty cache);
- requests to the server while reading (counted: what the page sends per drawing when it reads this way).
The page itself does not use the reader yet (issue 29 step 3), so pointer-up -> reading *on show* is not
measured here; canvas_latency measures today's page.
"""

import argparse
import functools
import gzip
import http.server
import json
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch

from bench.canvas_latency import BUSY_PROCESSES, CHROMIUM, CHROMIUM_ARGS, burners
from bench.drawings import generate
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from emnist_core.export import web_paths
from emnist_core.inference import model_outputs, probabilities, ranked
from emnist_core.preprocess import UnusableImage
from emnist_core.strokes import emnist_from_drawing, parse_drawing

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = f"/checkpoints/{web_paths(DEFAULT_CHECKPOINT)[0].name}"
# A page with the reader's worker and nothing else: ask(message) -> the worker's reply. With ?start, it
# loads the model at once and records when the first reading became possible (window.readyAt, ms since
# navigation began).
HARNESS = """<!doctype html><meta charset="utf-8"><title>reader</title>
<script src="/web/reader/wording.js"></script><script>
const worker = new Worker('/web/reader/worker.js'); let next = 0; const waiting = new Map();
worker.onmessage = (e) => { waiting.get(e.data.id)(e.data); waiting.delete(e.data.id); };
window.ask = (message) => new Promise((resolve) => { const id = next++; waiting.set(id, resolve);
  worker.postMessage({id, ...message}); });
window.fresh = (manifestUrl) => new Promise((resolve) => { const w = new Worker('/web/reader/worker.js');
  w.onmessage = (e) => { w.terminate(); resolve(e.data); }; w.postMessage({id: 0, type: 'init', manifestUrl}); });
if (location.search.startsWith('?start=')) {
  window.ready = ask({type: 'init', manifestUrl: decodeURIComponent(location.search.slice(7))})
    .then((reply) => { window.readyAt = performance.now(); return reply; });
}
// Each drawing posted, its reading awaited: ms from postMessage to the reply on this thread.
// Each drawing posted, its reading awaited: ms from postMessage to the reply on this thread, and inside the worker.
window.timeReads = async (drawings, only) => {
  const ms = [], inside = [];
  for (const drawing of drawings) {
    const t0 = performance.now();
    const reply = await ask({type: 'read', drawing, only});
    if (!reply.ok) throw new Error(reply.error);
    ms.push(performance.now() - t0);
    inside.push(reply.ms);
  }
  return {ms, inside};
};
</script>"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The clone's files as they are (what a Space without compression serves), without a log line each."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm",
                      ".js": "text/javascript", ".json": "application/json"}

    def log_message(self, *args):
        pass


def serve_clone() -> tuple[http.server.ThreadingHTTPServer, str]:
    """A static server of the clone on a free local port, in a thread: (server, base URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(ROOT)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def open_harness(browser, base: str, start: bool):
    """A new context (empty cache) on the harness page; every response it receives, listed."""
    context = browser.new_context()
    page = context.new_page()
    responses = []
    page.on("response", lambda r: responses.append(r))
    context.route(lambda url: url.startswith(f"{base}/harness.html"),
                  lambda route: route.fulfill(body=HARNESS, content_type="text/html"))
    page.goto(f"{base}/harness.html" + (f"?start={MANIFEST}" if start else ""))
    return context, page, responses


def quantiles(ms: list[float]) -> dict:
    return {"median": statistics.median(ms), "p90": float(np.percentile(ms, 90)), "max": max(ms), "n": len(ms)}


def python_reads(drawings: list[dict]) -> list[float]:
    """ms per drawing for Python's path in this process: parse, 28x28, the model, the reading."""
    checkpoint = load_checkpoint(DEFAULT_CHECKPOINT)
    model = checkpoint.build_model()
    times = []
    for drawing in drawings:
        t0 = time.perf_counter()
        try:
            upright = emnist_from_drawing(parse_drawing(drawing))
            image = torch.from_numpy(np.ascontiguousarray(upright.T))[None]
            logits, digit = model_outputs(model, image, checkpoint.input_spec)
            ranked(*probabilities(logits, digit, checkpoint.digit_source))
        except UnusableImage:
            pass
        times.append(1000 * (time.perf_counter() - t0))
    return times


def run(n_drawings: int, conditions: list[str], seed: int = 0) -> dict:
    from playwright.sync_api import sync_playwright
    drawings = generate(n_drawings, seed=seed)
    server, base = serve_clone()
    results = {"drawings": n_drawings, "conditions": {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            # Cold start: page load -> first possible reading, and what was fetched for it.
            context, page, responses = open_harness(browser, base, start=True)
            reply = page.evaluate("() => window.ready")
            if not reply["ok"]:
                raise RuntimeError(f"the reader did not start: {reply['error']}")
            ready_ms = page.evaluate("() => window.readyAt")
            fetched = {}
            for response in responses:
                path = response.url.removeprefix(base)
                if path.startswith(("/web/reader/", "/checkpoints/")):
                    body = response.body()
                    fetched[path] = {"bytes": len(body), "gzip": len(gzip.compress(body, 9))}
            results["backend"] = f"{reply['backend']} (SIMD {reply['simd']})"
            results["first_reading_ms"] = ready_ms
            results["fetched"] = fetched
            results["page_weight"] = {"bytes": sum(f["bytes"] for f in fetched.values()),
                                      "gzip": sum(f["gzip"] for f in fetched.values())}
            page.evaluate("(d) => timeReads(d.slice(0, 5))", drawings)  # warm: the first reads pay one-off costs
            for condition in conditions:
                busy = burners(BUSY_PROCESSES) if condition == "load" else []
                try:
                    time.sleep(0.5 if busy else 0)
                    before = len(responses)
                    timed = page.evaluate("(d) => timeReads(d)", drawings)
                    requests = len(responses) - before
                    py_ms = python_reads(drawings)
                finally:
                    for burner in busy:
                        burner.kill()
                        burner.wait()
                results["conditions"][condition] = {"browser": quantiles(timed["ms"]),
                                                    "in_worker": quantiles(timed["inside"]), "python": quantiles(py_ms),
                                                    "requests": requests}
            context.close()
            browser.close()
    finally:
        server.shutdown()
    return results


def table(results: dict) -> str:
    lines = ["| drawing posted -> reading back | browser (median / p90 / max) | of which in the worker | "
             "Python in-process (median / p90 / max) | server requests |", "| --- | --- | --- | --- | --- |"]
    for condition, r in results["conditions"].items():
        b, w, p = r["browser"], r["in_worker"], r["python"]
        name = "idle" if condition == "idle" else f"+ {BUSY_PROCESSES} CPU-burning processes"
        lines.append(f"| {name} ({b['n']} drawings) | {b['median']:.1f} / {b['p90']:.1f} / {b['max']:.0f} ms | "
                     f"{w['median']:.1f} / {w['p90']:.1f} / {w['max']:.0f} ms | "
                     f"{p['median']:.1f} / {p['p90']:.1f} / {p['max']:.0f} ms | {r['requests']} |")
    weight = results["page_weight"]
    lines.append("")
    lines.append(f"Backend: TensorFlow.js {results['backend']}. Page load -> first possible reading: "
                 f"{results['first_reading_ms']:.0f} ms (fresh context, local server). Added to the page: "
                 f"{weight['bytes']:,} bytes fetched, {weight['gzip']:,} gzip -9:")
    for path, f in sorted(results["fetched"].items()):
        lines.append(f"    {path}: {f['bytes']:,} bytes, {f['gzip']:,} gzip")
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drawings", type=int, default=200, help="generated drawings read per condition")
    parser.add_argument("--conditions", default="idle,load", help="comma-separated: idle, load")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    results = run(args.drawings, args.conditions.split(","))
    print(table(results))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
