"""Load check for the demo (not a test): N concurrent gradio_client clients, M /predict requests each.

    python -m bench.load_check --clients 4 --requests 10        # starts `python demo.py` on a free port
    python -m bench.load_check --url http://127.0.0.1:7860      # a demo that is already running

The drawings are real pen paths (../shared/data/omniglot-latin-dev) on the page's 400x400 canvas with
its default brush, rendered by the page's own renderer (strokes.render_drawing) as PNGs, or the demo's
own examples where those are absent. Prints median and p95 latency, throughput, errors
and how many drawings were read as drawn. Localhost only; every loop is bounded.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from gradio_client import Client, handle_file
from PIL import Image

from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.labels import letter_matches
from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, drawing_from_strokes, read_strokes, render_drawing

ROOT = Path(__file__).resolve().parent.parent
STROKES = ROOT.parent / "shared" / "data" / "omniglot-latin-dev"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
STARTUP_TIMEOUT_S = 120


def make_drawings(folder: Path, limit: int) -> list[tuple[str, str]]:
    """(character drawn, PNG path) pairs: rendered pen paths if the stroke files are here, else the examples."""
    files = sorted(STROKES.glob("*_drawer*.txt"))[::5][:limit]  # every 5th: many letters, several writers
    if not files:
        return [(p.stem, str(p)) for p in sorted((ROOT / "examples").glob("*.png"))]
    drawings = []
    for path in files:
        png = folder / f"{path.stem}.png"
        drawing = drawing_from_strokes(read_strokes(path), CHARACTER_CANVAS, CHARACTER_BRUSHES[1], 0.6)
        Image.fromarray(render_drawing(drawing)).save(png)
        drawings.append((path.name[0], str(png)))
    return drawings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(checkpoint: str) -> tuple[subprocess.Popen, str]:
    """`python demo.py` in its own process (as people run it), once it answers on a free local port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    process = subprocess.Popen([sys.executable, "demo.py", "--host", "127.0.0.1", "--port", str(port),
                                "--checkpoint", checkpoint], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.time() + STARTUP_TIMEOUT_S
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"demo.py exited with code {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return process, url
        except OSError:
            time.sleep(0.5)
    process.terminate()
    raise RuntimeError(f"demo.py did not answer on {url} within {STARTUP_TIMEOUT_S} s")


def run_client(url: str, drawings: list, offset: int, n_requests: int, start: threading.Barrier, results: list):
    client = Client(url, verbose=False)
    start.wait()
    for i in range(n_requests):
        drawn, png = drawings[(offset + i) % len(drawings)]
        t0 = time.perf_counter()
        try:
            label, _, _ = client.predict({"background": None, "layers": [], "composite": handle_file(png)},
                                         api_name="/predict")
            read = label.get("label")
            results.append((time.perf_counter() - t0, None, drawn, read))
        except Exception as error:  # counted and reported, not raised: this is a measurement
            results.append((time.perf_counter() - t0, f"{type(error).__name__}: {error}", drawn, None))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent /predict requests against the demo.")
    parser.add_argument("--clients", type=int, default=4, help="concurrent gradio_client clients")
    parser.add_argument("--requests", type=int, default=10, help="requests per client")
    parser.add_argument("--url", help="a running demo on this machine (default: start one)")
    parser.add_argument("--checkpoint", default=os.environ.get("EMNIST_CHECKPOINT", str(DEFAULT_CHECKPOINT)),
                        help="for the demo this starts (default: $EMNIST_CHECKPOINT or the shipped one)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.requests <= 1000):
        parser.error("--clients must be 1..64 and --requests 1..1000")
    if args.url and urlparse(args.url).hostname not in LOCAL_HOSTS:
        parser.error(f"--url must be on this machine ({', '.join(sorted(LOCAL_HOSTS))})")

    process = None
    with tempfile.TemporaryDirectory() as folder:
        drawings = make_drawings(Path(folder), limit=args.clients * args.requests)
        try:
            if args.url:
                url = args.url
            elif not Path(args.checkpoint).is_file():
                print(f"error: no checkpoint at {args.checkpoint}: pass --checkpoint or --url", file=sys.stderr)
                return 2
            else:
                process, url = start_demo(args.checkpoint)
            results, start = [], threading.Barrier(args.clients + 1)
            threads = [threading.Thread(target=run_client, args=(url, drawings, c * args.requests, args.requests,
                                                                 start, results)) for c in range(args.clients)]
            for thread in threads:
                thread.start()
            start.wait()  # every client connected: the clock starts now
            t0 = time.perf_counter()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - t0
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)

    latencies = [r[0] for r in results if r[1] is None]
    errors = [r[1] for r in results if r[1] is not None]
    unreadable = sum(1 for r in results if r[1] is None and not r[3])
    correct = sum(1 for _, e, drawn, read in results if e is None and read and letter_matches(drawn, read, True))
    print(f"load check: {args.clients} clients x {args.requests} requests to {url} /predict, "
          f"{len(drawings)} different drawings")
    print(f"requests {len(results)}, errors {len(errors)}, unreadable {unreadable}, "
          f"read as drawn (look-alike tolerant) {correct}/{len(latencies)}")
    if latencies:
        print(f"latency s: median {statistics.median(latencies):.3f}, p95 {percentile(latencies, 0.95):.3f}, "
              f"max {max(latencies):.3f}")
    print(f"throughput: {len(latencies) / wall:.1f} requests/s over {wall:.1f} s")
    for error in sorted(set(errors))[:5]:
        print(f"  error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
