"""The page's server: how `python demo.py` starts it, bounds it and stops it. demo.py declares the page
and parses the command line; this launches it with the upload limits, the guards (guards.py) and the
frame policy, pays the first-use costs before the first visitor, says where the page is (or why it is
not), and cleans up what it wrote when it stops.
"""

import argparse
import atexit
import contextlib
import os
import shutil
import signal
import tempfile
import threading

import gradio as gr

import guards
from emnist_core.predict import Predictor
from emnist_core.sequence import WORD_COUNT
from emnist_core.strokes import CHARACTER_BRUSHES, CHARACTER_CANVAS, parse_drawing
from emnist_core.words import WordListUnavailable, english

MAX_UPLOAD = "20mb"  # Gradio refuses larger uploads before they reach its temp folder
# Spaces shows the page inside a frame on huggingface.co: allow exactly those frames (and our own).
FRAME_ANCESTORS = "frame-ancestors 'self' https://huggingface.co https://*.huggingface.co https://*.hf.space"


def launch(blocks: gr.Blocks, **launch_options):
    """Launch `blocks` with the upload caps (size, files per request), the guards around Gradio's request
    handling, and the frame policy; `launch_options` as for gr.Blocks.launch (css, host, port...)."""
    guards.cap_files_per_request()
    guards.short_request_errors(blocks, gr.Error)
    return blocks.launch(max_file_size=MAX_UPLOAD, app_kwargs=app_options(), **launch_options)


def app_options() -> dict:
    """The FastAPI app's options: the frame policy on every response (the outer one, so a refusal has it
    too), and request bodies bounded by size before they are parsed."""
    from starlette.middleware import Middleware
    return {"middleware": [Middleware(FrameAncestors), Middleware(guards.BodyLimit)]}


class FrameAncestors:
    """ASGI middleware: every response says which sites may show the page in a frame (CSP
    frame-ancestors; no X-Frame-Options, whose DENY would break the Space)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_with_policy(message):
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"content-security-policy"]
                message = {**message, "headers": [*headers, (b"content-security-policy", FRAME_ANCESTORS.encode())]}
            await send(message)
        await self.app(scope, receive, send_with_policy if scope["type"] == "http" else send)


def port_number(text: str) -> int:
    """--port (and GRADIO_SERVER_PORT): a TCP port, 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: ports are 1 to 65535")
    return port


def not_served(host: str | None, port: int | None) -> str:
    """Why the page could not start listening, in one line, naming the flags that fix it."""
    host = host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = port or os.environ.get("GRADIO_SERVER_PORT")
    if port is None:
        return (f"no free port from 7860 to 7959 on {host}: other programs hold them all; choose one with --port N")
    return (f"cannot serve the page on {host}:{port}: the port is in use (another copy of the page?) or the address "
            f"is not this machine's; choose another with --port N (or --host)")


def started(blocks: gr.Blocks) -> str:
    """The start-up lines: where the page is, and (not on a Space, where there is no such link) how to share it."""
    lines = [f"* Running on local URL:  {blocks.local_url}"]
    if blocks.share_url:
        lines.append(f"* Public link (temporary): {blocks.share_url}")
    elif not os.environ.get("SPACE_ID"):
        lines.append("* To create a public link, run with --share.")
    return "\n".join(lines)


WARM_UP = {"width": CHARACTER_CANVAS, "height": CHARACTER_CANVAS, "brush": CHARACTER_BRUSHES[1],
           "strokes": [[[120, 90], [280, 90], [200, 320]]]}


def warm_up(predictor: Predictor) -> None:
    """First-use costs paid before the first visitor comes. Gradio asks matplotlib for its backend around
    every event, and the first asking imports pyplot: 0.5-1.4 s on this project's 2-core machine, with the
    server's event loop blocked, so the first visitor's first reading waited that long. With the backend
    named (Agg, unless MPLBACKEND says otherwise) no pyplot is imported at all; then one reading."""
    os.environ.setdefault("MPLBACKEND", "agg")
    import matplotlib  # noqa: F401  (the import itself, ~0.1 s, paid here too)
    predictor.predict(parse_drawing(WARM_UP))
    with contextlib.suppress(WordListUnavailable):  # the word lists (~1 s to load), if wordfreq is installed:
        english()  # segmentation's
        english(WORD_COUNT).log_priors  # the word model's, whose priors weigh the readings of a word (sequence.fuse)
    process = predictor.word_model_process  # the word model's own process, if the page uses one: started here
    if process is not None:
        with contextlib.suppress(Exception):  # one that cannot start is reported at the first line it would read
            process.ready.result(timeout=60)


@contextlib.contextmanager
def own_temp_folder():
    """Gradio's uploads and cached outputs go to a folder of this process's own (GRADIO_TEMP_DIR, inside the
    one named there if any), removed with everything in it when the server stops: Ctrl-C, SIGTERM or a
    normal exit. delete_cache only empties old files while serving, so a stop used to leave the last hour's."""
    named = os.environ.get("GRADIO_TEMP_DIR")
    if named:
        os.makedirs(named, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="emnist-sketchpad-", dir=named or None)
    os.environ["GRADIO_TEMP_DIR"] = folder
    atexit.register(shutil.rmtree, folder, True)  # should the interpreter end some other way
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if named is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = named


@contextlib.contextmanager
def stopped_by_sigterm():
    """SIGTERM (how a Space or a service manager stops the page) stops it as Ctrl-C does: Gradio closes the
    server on KeyboardInterrupt, and the folders and files are cleaned up on the way out."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
