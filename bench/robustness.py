"""Peak memory (RSS) and time of the worst inputs we know, each in a fresh process; then the page
answering one visitor while another sends large files.

    OMP_NUM_THREADS=1 python -m bench.robustness            # every case, then the page
    python -m bench.robustness --no-page                    # the inputs only
    python -m bench.robustness --case "page: the 7 with 16 blank 4096x4096 layers" --input DIR  # one case

The page cases also cover the second probe (issue 21): a sketch's layers beside its composite, and what
uploads leave in the temp folder after the server stops.

    python -m bench.robustness --flood-only                 # the third probe (issue 26) alone
    python -m bench.robustness --flood-only --demo-dir ../old-checkout   # the same against another copy

The third probe (issue 26), against a launched page: a flood of legal 200-stroke lines at once, a 36 MB
stroke body, and requests with one value of two (how much of them reaches the log); for each, the
server's peak and remaining RSS and how long another visitor drawing one character waited.

The budget: no single input above 1 GB peak RSS or 5 s on the project's 2-core CPU. Peak RSS counts
the whole process: Python, torch and the loaded model (the "baseline" column) and, for arrays, the
caller's own array.
"""

import argparse
import io
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.hostile import L_SHAPE, drawing, huge_array, png_bytes, write

BUDGET_MB, BUDGET_S = 1024, 5.0
REPO = Path(__file__).resolve().parents[1]

def wait_for_page(url: str, tries: int = 240) -> None:
    """Until the page at `url` answers 200 (a server starting up), at most `tries` half-second waits."""
    import httpx  # the page's client library, only where a page is checked

    for _ in range(tries):
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.5)


def peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent
    across fork and exec, which would charge each case with the memory the parent used to make it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ---- the cases: each makes its input in the measuring process (files in a temp folder) -------------

def big_drawing_png(folder: Path, side: int, mode: str) -> str:
    image = Image.fromarray(drawing(canvas=side, width=side // 25)).convert(mode)
    if mode == "I;16":
        image = Image.fromarray((np.asarray(drawing(canvas=side, width=side // 25)).astype(np.uint16) * 200))
    image.save(folder / "big.png", compress_level=1)
    return str(folder / "big.png")


def big_jpeg(folder: Path, side: int) -> str:
    Image.fromarray(drawing(canvas=side, width=side // 25)).convert("RGB").save(folder / "big.jpg", quality=85)
    return str(folder / "big.jpg")


def float_rgba(side: int) -> np.ndarray:
    """Filled in place: making the input must not raise the high-water mark being measured."""
    image = np.ones((side, side, 4), np.float32)
    grey = np.asarray(Image.fromarray(drawing()).resize((side, side)))
    for channel in range(3):
        np.divide(grey, 255, out=image[:, :, channel])
    return image


def nan_floats(side: int) -> np.ndarray:
    image = np.asarray(Image.fromarray(drawing()).resize((side, side)), np.float32) / 255
    image[: side // 3] = np.nan
    return image


def thin_cross(side: int) -> np.ndarray:
    image = np.full((side, side), 255, np.uint8)
    image[np.eye(side, dtype=bool) | np.eye(side, dtype=bool)[::-1]] = 0
    return image


# Files are written by the parent process, arrays made by the measuring one (they are the caller's).
FILE_CASES = {
    "13000x13000 1-bit PNG (38 KB)": lambda d: write(d, "bomb.png", png_bytes(13000, 13000)),
    "20000x20000 1-bit PNG (over Pillow's limit)": lambda d: write(d, "bomb2.png", png_bytes(20000, 20000)),
    "4096x4096 RGBA PNG (largest accepted)": lambda d: big_drawing_png(d, 4096, "RGBA"),
    "4096x4096 16-bit grey PNG": lambda d: big_drawing_png(d, 4096, "I;16"),
    "12000x12000 JPEG (decoded at 1/8)": lambda d: big_jpeg(d, 12000),
}
ARRAY_CASES = {
    "20000x20000 uint8 array (400 MB itself)": lambda: np.full((20000, 20000), 255, np.uint8),
    "4096x4096x4 float32 array (268 MB itself)": lambda: float_rgba(4096),
    "4096x4096 float32 array, a third NaN": lambda: nan_floats(4096),
    "1-px cross on 300x300": lambda: thin_cross(300),
}


def uploaded(path: str) -> dict:
    """A file as Gradio hands an API request's on, once uploaded (its folder standing for Gradio's)."""
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def run_page_case(path: str):
    """A sketchpad value as /predict receives it (demo.sketch_files), then read_character."""
    import demo
    from emnist_core.predict import Predictor
    predictor = Predictor()
    payload = {"background": None, "layers": [], "composite": uploaded(path)}
    start_mb, start = peak_mb(), time.perf_counter()
    label, verdict, _ = demo.read_character(predictor, demo.sketch_files(payload, str(Path(path).parent)))
    outcome = f"reads {max(label, key=label.get)}" if label else f"refused: {verdict[:60]}"
    return start_mb, time.perf_counter() - start, outcome


def big_sketch_png() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(drawing(canvas=4096, width=160)).convert("RGBA").save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


PAGE_CASES = {
    "page: 13000x13000 1-bit PNG as the sketch": lambda d: write(d, "bomb.png", png_bytes(13000, 13000)),
    "page: 4096x4096 RGBA PNG as the sketch": lambda d: write(d, "big.png", big_sketch_png()),
}
# A 7 as the composite and the same 6.7 KB blank 4096x4096 PNG listed N times as its layers (issue 21:
# Gradio's own preprocessing decoded each: N=20 took 2.44 GB); and, without a composite, two of them.
LAYER_CASES = {f"page: the 7 with {n} blank 4096x4096 layers": n for n in (5, 10, 16, 20)}
LAYER_CASES["page: no composite, 2 blank 4096x4096 layers"] = -2


def layers_folder(folder: Path) -> str:
    write(folder, "seven.png", _png(drawing([[(0.22, 0.16), (0.78, 0.16), (0.48, 0.88)]])))
    Image.new("L", (4096, 4096), 255).save(folder / "blank.png")
    return str(folder)


def run_layers_case(folder: str, n: int):
    import demo
    from emnist_core.predict import Predictor
    predictor = Predictor()
    blank = uploaded(str(Path(folder) / "blank.png"))
    composite = uploaded(str(Path(folder) / "seven.png")) if n > 0 else None
    payload = {"background": None, "layers": [blank] * abs(n), "composite": composite}
    start_mb, start = peak_mb(), time.perf_counter()
    label, verdict, _ = demo.read_character(predictor, demo.sketch_files(payload, folder))
    outcome = f"reads {max(label, key=label.get)}" if label else f"refused: {verdict[:60]}"
    return start_mb, time.perf_counter() - start, outcome


DATA_CASE = "data folder: gzip bomb, 3.4 MB -> 3.5 GB"


def gzip_bomb_folder(folder: Path) -> Path:
    """A data folder whose images file is a valid header followed by 3.5 GB of zeros (3.4 MB gzipped)."""
    import zlib

    from train.data import idx_name, write_idx
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(folder / (idx_name("train", "images") + ".gz"), "wb") as f:
        header = b"".join(n.to_bytes(4, "big") for n in (2051, 697932, 28, 28))  # the official images' header
        f.write(packer.compress(header))
        zeros = bytes(1 << 24)
        for _ in range(210):
            f.write(packer.compress(zeros))
        f.write(packer.flush())
    write_idx(folder / (idx_name("train", "labels") + ".gz"), np.zeros(10, np.uint8))
    return folder


def make_input(name: str, folder: Path) -> str:
    """The file a case reads, written by the parent process (so writing it is not measured)."""
    if name in FILE_CASES:
        return FILE_CASES[name](folder)
    if name in PAGE_CASES:
        return PAGE_CASES[name](folder)
    if name in LAYER_CASES:
        return layers_folder(folder)
    if name == DATA_CASE:
        return str(gzip_bomb_folder(folder))
    return ""


def measure(name: str, path: str) -> dict:
    """Run one case in this process; returns its numbers."""
    if name in PAGE_CASES:
        start_mb, seconds, outcome = run_page_case(path)
    elif name in LAYER_CASES:
        start_mb, seconds, outcome = run_layers_case(path, LAYER_CASES[name])
    elif name == DATA_CASE:
        from train.data import DataError, load_split
        start_mb, start = peak_mb(), time.perf_counter()
        try:
            load_split(path, "train")
            outcome = "loaded (!)"
        except DataError as problem:
            outcome = f"refused: {str(problem).split(': ', 1)[1][:60]}"
        seconds = time.perf_counter() - start
    else:
        from emnist_core.predict import Predictor
        from emnist_core.preprocess import UnusableImage
        predictor = Predictor()
        value = ARRAY_CASES[name]() if name in ARRAY_CASES else path
        start_mb, start = peak_mb(), time.perf_counter()
        try:
            outcome = f"reads {predictor.predict(value).top5[0][0]}"
        except UnusableImage as problem:
            outcome = f"refused: {str(problem)[:60]}"
        seconds = time.perf_counter() - start
    return {"case": name, "baseline_mb": round(start_mb), "peak_mb": round(peak_mb()), "seconds": round(seconds, 2),
            "outcome": outcome}


ALL_CASES = [*FILE_CASES, *ARRAY_CASES, *PAGE_CASES, *LAYER_CASES, DATA_CASE]


# ---- the page under a large sender --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_check(folder: Path, port: int = 0) -> list[str]:
    """One visitor draws small sketches while another keeps sending the largest images; plus the cap."""
    import httpx
    from gradio_client import Client, handle_file

    port = port or free_port()
    temp = folder / "gradio-temp"  # the server's upload folder, counted after it stops
    server = subprocess.Popen([sys.executable, "demo.py", "--port", str(port)], cwd=REPO,
                              env={**os.environ, "GRADIO_TEMP_DIR": str(temp)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = []
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_page(url)
        small = write(folder, "seven.png", _png(drawing([[(0.22, 0.16), (0.78, 0.16), (0.48, 0.88)]])))
        large = [write(folder, "bomb.png", png_bytes(13000, 13000)), write(folder, "big.png", big_sketch_png())]

        def sketch(path):
            return {"background": None, "layers": [], "composite": handle_file(path)}

        def latencies(client, n):
            times = []
            for _ in range(n):
                start = time.perf_counter()
                client.predict(sketch(small), api_name="/predict")
                times.append(time.perf_counter() - start)
            return times

        visitor = Client(url, verbose=False)
        alone = latencies(visitor, 8)
        stop, sent = threading.Event(), []

        def large_sender():
            client = Client(url, verbose=False)
            while not stop.is_set():
                for path in large:
                    start = time.perf_counter()
                    verdict = client.predict(sketch(path), api_name="/predict")[1]
                    sent.append((Path(path).name, time.perf_counter() - start,
                                 verdict.replace("#", "").replace("*", "").split("\n")[0].strip()[:40]))

        sender = threading.Thread(target=large_sender, daemon=True)
        sender.start()
        time.sleep(1.0)
        together = latencies(visitor, 8)
        stop.set()
        sender.join(timeout=60)
        cap = httpx.post(f"{url}gradio_api/upload", files={"files": ("x.png", b"\0" * (25 << 20))}, timeout=60)
        many = httpx.post(f"{url}gradio_api/upload", files=[("files", (f"f{i}.png", b"x")) for i in range(300)],
                          timeout=60)
        kept = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.png", b"\0" * (19 << 20))}, timeout=60)
        lines += [f"one POST of 300 files: HTTP {many.status_code} ({many.text[:60]})",
                  f"a 19 MB upload: HTTP {kept.status_code}; files in the temp folder while serving: "
                  f"{_files_in(temp)}"]
        lines = [f"small sketch, alone:                  median {statistics.median(alone):.2f} s, "
                f"max {max(alone):.2f} s",
                f"small sketch, while large files come: median {statistics.median(together):.2f} s, "
                f"max {max(together):.2f} s",
                f"large files answered meanwhile: {len(sent)}, slowest {max(t for _, t, _ in sent):.2f} s "
                f"({'; '.join(sorted({f'{n}: {v}' for n, _, v in sent}))})",
                f"25 MB upload: HTTP {cap.status_code} ({cap.text[:70]})", *lines]
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it: Gradio's shutdown runs
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    lines.append(f"files left in the temp folder after the server stopped: {_files_in(temp)}")
    return lines


# ---- the third probe (issue 26): floods against a launched page ------------------------------------------

CROWD = 10  # people drawing characters at once (the scale figure this must not make worse)
FLOOD_LINES = 20  # legal lines sent at once (the probe sent 40: +4.75 GB before the bound)
BIG_BODY_POINTS = 3_000_000  # the probe's 36 MB stroke body


def flood_line() -> dict:
    """A legal line of 200 strokes (20 characters of 10 strokes): about 0.9 s to read alone."""
    strokes = [[[round(20 + c * 48 + 4.8 + j * 2.88, 2), round(100 + s * 8 + j * 2, 2)] for j in range(12)]
               for c in range(20) for s in range(10)]
    return {"width": 1000, "height": 300, "brush": 4, "strokes": strokes}


def server_memory(pid: int) -> tuple[float, float]:
    """(peak, current) RSS of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


class Visitor(threading.Thread):
    """Someone drawing one character meanwhile: one reading at a time, as the page sends them (at most
    every 150 ms while drawing), until stopped or `readings` are done."""

    def __init__(self, url: str, fn_index: int, readings: int = 10_000):
        super().__init__(daemon=True)
        self.url, self.fn_index, self.waits, self.stop = url, fn_index, [], threading.Event()
        self.readings = readings

    def run(self):
        import httpx
        body = {"data": [{"width": 400, "height": 400, "brush": 16, "strokes": [[[120, 90], [280, 90], [200, 320]]]},
                         "any"], "fn_index": self.fn_index, "session_hash": "visitor"}
        with httpx.Client(timeout=120) as client:
            while not self.stop.is_set() and len(self.waits) < self.readings:
                start = time.perf_counter()
                client.post(f"{self.url}gradio_api/run/predict", json=body)
                self.waits.append(time.perf_counter() - start)
                time.sleep(0.15)

    def summary(self) -> str:
        self.stop.set()
        self.join(timeout=150)
        return (f"another visitor's reading: median {statistics.median(self.waits):.2f} s, "
                f"max {max(self.waits):.2f} s ({len(self.waits)} readings)")


def flood_check(folder: Path, port: int = 0, demo_dir: Path = REPO) -> list[str]:
    """The third probe's floods against `demo_dir`'s demo.py (this checkout's by default)."""
    import httpx

    port = port or free_port()
    log_path = folder / "server.log"
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen([sys.executable, "demo.py", "--port", str(port)], cwd=demo_dir,
                                  env={**os.environ, "GRADIO_TEMP_DIR": str(folder / "gradio-temp")},
                                  stdout=log_file, stderr=log_file)
    url, lines = f"http://127.0.0.1:{port}/", []
    try:
        wait_for_page(url)
        fns = {d.get("api_name"): d["id"] for d in httpx.get(f"{url}config", timeout=30).json()["dependencies"]}
        char_fn, line_fn = fns["read"], fns["read_1"]  # the two canvases' as-you-draw events
        post = lambda body, **kw: httpx.post(f"{url}gradio_api/run/predict", timeout=300,  # noqa: E731
                                             headers={"content-type": "application/json"}, content=body, **kw)
        alone = Visitor(url, char_fn)
        alone.start()
        time.sleep(3)
        lines.append(f"idle: {alone.summary()}; server RSS {server_memory(server.pid)[1]:.0f} MB")
        crowd = [Visitor(url, char_fn, readings=30) for _ in range(CROWD)]
        for person in crowd:
            person.start()
        for person in crowd:
            person.join(timeout=300)
        waits = sorted(w for person in crowd for w in person.waits)
        lines.append(f"{CROWD} people drawing at once (30 readings each): p50 {statistics.median(waits) * 1000:.0f} ms, "
                     f"p90 {waits[int(len(waits) * 0.9)] * 1000:.0f} ms")

        # 1. a flood of legal lines at once
        body = json.dumps({"data": [flood_line(), "any"], "fn_index": line_fn, "session_hash": "flood"})
        visitor, answers = Visitor(url, char_fn), []
        visitor.start()
        time.sleep(0.5)
        start = time.perf_counter()

        def send_line():
            answer = post(body)
            text = answer.json()["data"][1] if answer.status_code == 200 else f"HTTP {answer.status_code}"
            answers.append("busy" if "Read the line" in text else "read" if text.startswith("|") else text[:40])

        senders = [threading.Thread(target=send_line) for _ in range(FLOOD_LINES)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(timeout=300)
        took = time.perf_counter() - start
        time.sleep(1)
        peak, now = server_memory(server.pid)
        counts = ", ".join(f"{answers.count(a)} {a}" for a in sorted(set(answers)))
        lines.append(f"{FLOOD_LINES} legal 200-stroke lines at once: {counts} in {took:.1f} s; server RSS peak "
                     f"{peak:.0f} MB, {now:.0f} MB a second later; {visitor.summary()}")

        # 2. a 36 MB stroke body, twice
        points = [[[i % 400 + 0.5, (i // 400) % 400] for i in range(BIG_BODY_POINTS)]]
        huge = json.dumps({"data": [{"width": 400, "height": 400, "brush": 16, "strokes": points}, "any"],
                           "fn_index": char_fn, "session_hash": "huge"}).encode()
        del points
        visitor = Visitor(url, char_fn)
        visitor.start()
        time.sleep(0.5)
        answers = []
        for _ in range(2):
            start = time.perf_counter()
            answer = post(huge)
            answers.append(f"HTTP {answer.status_code} in {time.perf_counter() - start:.1f} s")
        time.sleep(1)
        peak2, now2 = server_memory(server.pid)
        lines.append(f"a {len(huge) / 1e6:.0f} MB stroke body, twice: {'; '.join(answers)}; server RSS {now2:.0f} MB "
                     f"after (peak {peak2:.0f} MB); {visitor.summary()}")
        del huge

        # 5. one value of two: how much of the request reaches the log
        for size in (1_500_000, 5_000_000):
            before = log_path.stat().st_size
            statuses = [post(json.dumps({"data": ["x" * size], "fn_index": char_fn, "session_hash": "short"}))
                        for _ in range(2)]
            time.sleep(0.5)
            grown = log_path.stat().st_size - before
            said = statuses[0].text[:70].replace("\n", " ")
            lines.append(f"two requests with one value of two, {size / 1e6:.1f} MB each: HTTP "
                         f"{statuses[0].status_code} ({said}); the log grew {grown:,} bytes")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return lines


def _files_in(folder: Path) -> str:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return f"{len(files)} ({sum(p.stat().st_size for p in files) / 1e6:.1f} MB)"


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=ALL_CASES, help="measure one case in this process, print JSON")
    parser.add_argument("--input", default="", help="with --case: the file or folder the parent made for it")
    parser.add_argument("--no-page", action="store_true", help="skip the page check (it launches demo.py)")
    parser.add_argument("--port", type=int, default=0, help="the page check's port (default: a free one)")
    parser.add_argument("--flood-only", action="store_true", help="only the third probe's floods (issue 26)")
    parser.add_argument("--demo-dir", type=Path, default=REPO,
                        help="with --flood-only: the checkout whose demo.py is flooded (before/after figures)")
    args = parser.parse_args(argv)
    if args.flood_only:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"the page ({args.demo_dir / 'demo.py'}) under the third probe's floods:")
            for line in flood_check(Path(tmp), args.port, args.demo_dir.resolve()):
                print("  " + line)
        return 0
    if args.case:
        print(json.dumps(measure(args.case, args.input)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    print(f"{'case':<48} {'baseline':>9} {'peak RSS':>9} {'time':>7}  outcome")
    over = 0
    for name in ALL_CASES:
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run([sys.executable, "-m", "bench.robustness", "--case", name,
                                  "--input", make_input(name, Path(tmp))], cwd=REPO, env=env,
                                 capture_output=True, text=True)
        if run.returncode:
            print(f"{name:<48} FAILED: {run.stderr.strip().splitlines()[-1:]}")
            over += 1
            continue
        r = json.loads(run.stdout.strip().splitlines()[-1])
        # A data file's memory is what its header claims (a genuine training file needs as much), so the
        # per-input budget is for images; the data case shows the bomb is refused at that bound.
        over_budget = r["peak_mb"] > BUDGET_MB or r["seconds"] > BUDGET_S
        flag = " OVER BUDGET" if over_budget and name != DATA_CASE else ""
        over += bool(flag)
        print(f"{name:<48} {r['baseline_mb']:>6} MB {r['peak_mb']:>6} MB {r['seconds']:>6.2f}s  {r['outcome']}{flag}")
    if not args.no_page:
        with tempfile.TemporaryDirectory() as tmp:
            print("\nthe page (python demo.py), one visitor drawing while another sends large files:")
            for line in page_check(Path(tmp), args.port):
                print("  " + line)
        with tempfile.TemporaryDirectory() as tmp:
            print("\nthe page under the third probe's floods (issue 26):")
            for line in flood_check(Path(tmp), args.port):
                print("  " + line)
    print(f"\nbudget: {BUDGET_MB} MB peak RSS and {BUDGET_S:.0f} s per input; {over} case(s) over it")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
