"""What the page refuses or bounds before (or around) its own code, and why: the hostile probes (issues 21
and 26, docs/HOSTILE_INPUT.md). server.py puts these in place; `python -m bench.robustness` measures them.
The only module that reaches into Gradio beyond its public API: short_request_errors and
cap_files_per_request say which part, and why Gradio's own options do not do it.

- BodyLimit: a request body is refused by its size before anything parses it. A 36 MB stroke body
  (3,000,000 points as JSON) used to be parsed, validated and queued before the 20,000-point check,
  freezing the server for everyone for 15-24 s and keeping 0.4-1 GB.
- Slots: at most a few line readings at once, a few more waiting briefly, the rest told to try again.
  The line canvas reads as you draw, outside Gradio's queue; 40 legal 200-stroke lines at once took
  4.75 GB and made another visitor wait 31 s.
- RateLimit: one client's corrections per time window, so one sender cannot fill the store's cap
  (10,000: filled in about 10 minutes) and lock every real writer out.
- short_request_errors: a request with too few values, a value an input cannot take, a file that was
  not uploaded here, or naming an event that is not on the page, gets a short message; Gradio's own
  repeats every value sent in the log (two 5 MB requests: 10 MB of log) or 200 characters of it, and
  answers {"error": null}, or a bare 500 and a traceback.
- uploaded: a file in a request is read only from Gradio's upload folder, where Gradio puts the files it
  has checked; a path anywhere else on the server, or a string, is refused, never opened.
- cap_files_per_request: one upload request carries a sketch's files at most, not Gradio's 1,000.
"""

import collections
import ipaddress
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from emnist_core.preprocess import MAX_LAYERS, quoted

log = logging.getLogger("demo")

# The largest legal JSON request: a drawing of 20,000 points is under 1,000,000 characters of JSON
# (emnist_core.strokes.MAX_JSON_CHARS), sent as a string or an object; twice that leaves room for the rest.
MAX_BODY_BYTES = 2 << 20
# Gradio's upload route bounds its files as they stream (max_file_size, files per request): not counted here.
UNCOUNTED_SUFFIXES = ("/upload",)
MAX_FILES_PER_REQUEST = MAX_LAYERS + 2  # one upload request: a sketch's layers, background and composite


def body_limit(path: str) -> int | None:
    """The most bytes a request body to `path` may hold; None: the route bounds its own."""
    return None if path.rstrip("/").endswith(UNCOUNTED_SUFFIXES) else MAX_BODY_BYTES


def too_large_message(limit: int) -> str:
    return (f"The request is too large: at most {limit >> 20} MB is read here (a drawing is at most 20,000 "
            f"points). Send images as files (gradio_client's handle_file).")


class BodyLimit:
    """ASGI middleware: a body over body_limit(path) gets HTTP 413 and a message, before any of it is parsed.
    A declared Content-Length is checked at once; a body without one (chunked) is read up to the limit
    and then handed on, so no more than the limit is ever held."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        limit = body_limit(scope["path"])
        if limit is None:
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > limit:
                return await refuse(send, limit)
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:  # chunked: read at most `limit` bytes, then replay them
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([], message, receive), send)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                return await refuse(send, limit)
            if not message.get("more_body", False):
                break
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], None, receive), send)


def _replay(messages: list, last, receive):
    pending = collections.deque(messages + ([last] if last else []))

    async def replayed():
        return pending.popleft() if pending else await receive()
    return replayed


async def refuse(send, limit: int) -> None:
    message = too_large_message(limit)
    body = json.dumps({"error": message, "detail": message}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class Busy(Exception):
    """No slot came free in time; the message says to try again."""


class Slots:
    """Runs calls on `running` threads of its own; at most `waiting` more calls wait up to `wait_s` for
    one, and the rest get Busy at once (a waiting caller holds one of the server's 40 worker threads,
    which every reading outside the queue shares, so waiting is bounded too). Threads of its own, not
    the caller's: each thread that allocates a large reading keeps a malloc arena of its own, so memory
    grew with the number of worker threads that had ever read a line (20 at once: +1.2 GB kept)."""

    def __init__(self, running: int, waiting: int, wait_s: float, busy: str):
        self.running, self.waiting, self.wait_s, self.busy = running, waiting, wait_s, busy
        self._slots = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._waiters = 0
        self._threads = ThreadPoolExecutor(running, thread_name_prefix="slot")

    def run(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on one of the slots' threads, or Busy."""
        if not self._slots.acquire(blocking=False):
            with self._lock:
                if self._waiters >= self.waiting:
                    raise Busy(self.busy)
                self._waiters += 1
            try:
                got = self._slots.acquire(timeout=self.wait_s)
            finally:
                with self._lock:
                    self._waiters -= 1
            if not got:
                raise Busy(self.busy)
        try:
            return self._threads.submit(fn, *args, **kwargs).result()
        finally:
            self._slots.release()


class RateLimit:
    """At most `count` events per client in any `window_s` seconds (a sliding window). Clients are kept
    only while they have events in the window, and at most `clients` of them (the oldest go first)."""

    def __init__(self, count: int, window_s: float, clients: int = 10_000):
        self.count, self.window_s, self.clients = count, window_s, clients
        self._times: collections.OrderedDict[str, collections.deque] = collections.OrderedDict()
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> bool:
        """Count one event of `client` if it is within the limit; False (and not counted) when it is not."""
        now = time.monotonic() if now is None else now
        with self._lock:
            times = self._times.pop(client, None) or collections.deque()
            while times and now - times[0] >= self.window_s:
                times.popleft()
            allowed = len(times) < self.count
            if allowed:
                times.append(now)
            if times:
                self._times[client] = times  # last: the most recent
            while len(self._times) > self.clients:
                self._times.popitem(last=False)
            return allowed


def client_of(request) -> str:
    """Who sent a gr.Request, as far as a rate limit can tell: the peer's address; but when the peer is a
    proxy on a private network (as a Space's is), the address that proxy saw, the last X-Forwarded-For
    entry (earlier entries are whatever the client wrote there, so a flood could vary them)."""
    if request is None:
        return "local"
    client = getattr(request, "client", None)
    peer = str(getattr(client, "host", None) or "unknown")[:64]
    forwarded = [part.strip() for part in ((request.headers or {}).get("x-forwarded-for") or "").split(",")]
    try:
        proxied = ipaddress.ip_address(peer).is_private
    except ValueError:
        proxied = False
    return forwarded[-1][:64] if proxied and forwarded[-1] else peer


# A file in a request that is not one uploaded here: what to do instead.
DATA_URL_AS_FILE = ("A data: URL cannot be sent as a file here: send the image with gradio_client's handle_file "
                    "(or POST it to /gradio_api/upload and send its path).")
NOT_UPLOADED = ("A file in the request was not uploaded to this server: send images with gradio_client's "
                "handle_file (or POST them to /gradio_api/upload first).")


def refused_file(value) -> str:
    """Why a file in a request's `value` cannot be read, in one message."""
    return DATA_URL_AS_FILE if any(text[:5].lower() == "data:" for text in _strings(value)) else NOT_UPLOADED


def _strings(value, depth: int = 0):
    """Every string in a JSON-like value (to a bounded depth)."""
    if isinstance(value, str):
        yield value
    elif depth < 8 and isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif depth < 8 and isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item, depth + 1)


def uploaded(part, folder: str, error_class):
    """One file of a request, as Gradio hands it on unprocessed ({"path", "url", ...}, or None) -> its path
    when the file lies in `folder`, Gradio's upload folder, where Gradio puts every file it has checked
    (uploaded to this server); or a base64 data: URL given as its `url` (emnist_core bounds its decoding).
    Anything else gets a short `error_class` message and is never opened: Gradio checks only files marked
    as its FileData, so a plain {"path": "/some/server/file.png"} would otherwise be read."""
    if part is None:
        return None
    path, url = (part.get("path"), part.get("url")) if isinstance(part, dict) else (None, None)
    if path is None and isinstance(url, str) and url[:5].lower() == "data:":
        return url
    if isinstance(path, str) and _inside(path, folder):
        return path
    raise error_class(refused_file(part), print_exception=False)


def _inside(path: str, folder: str) -> bool:
    if len(path) > 4096:
        return False
    try:
        real, root = os.path.realpath(path), os.path.realpath(folder)
    except (OSError, ValueError):  # a NUL byte: no file of ours
        return False
    return real != root and os.path.commonpath([real, root]) == root


def short_request_errors(blocks, error_class):
    """`blocks`, but an event sent too few values, a value one of its inputs cannot take, a file Gradio
    refuses before any of the page's code runs (a data: URL or a path that was never uploaded, sent as
    its FileData), or an event index that is not on the page, is answered with a short `error_class`
    message (gr.Error) or HTTP 404; the log gets at most 80 characters of the request
    (docs/HOSTILE_INPUT.md). Gradio 6 has no option for any of these, so its Blocks' validate_inputs and
    preprocess_data are wrapped on this instance, and its event lookup for the process (_known_events_only)."""
    from gradio.exceptions import ComponentProcessingError, InvalidPathError
    from pydantic import ValidationError

    def inputs_of(block_fn) -> str:
        return ", ".join(type(block).__name__ for block in block_fn.inputs)

    def validate_inputs(block_fn, inputs):
        if len(inputs) < len(block_fn.inputs):
            raise error_class(f"This event takes {len(block_fn.inputs)} values ({inputs_of(block_fn)}); the "
                              f"request sent {len(inputs)}.", print_exception=False)

    original = blocks.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        try:
            return await original(block_fn, inputs, state, explicit_call)
        except ComponentProcessingError as error:  # Gradio's text repeats 200 characters of the value
            cause = error.__cause__ or error
            log.warning("a request's value was not one %s takes: %s: %s", block_fn.name, type(cause).__name__,
                        quoted(str(cause), 80))
            raise error_class(f"A value in the request is not one this event's inputs ({inputs_of(block_fn)}) "
                              f"take.", print_exception=False) from None
        except (InvalidPathError, ValidationError, FileNotFoundError, IsADirectoryError):
            raise error_class(refused_file(inputs), print_exception=False) from None

    blocks.validate_inputs = validate_inputs
    blocks.preprocess_data = preprocess_data
    _known_events_only()
    return blocks


def _known_events_only() -> None:
    """Gradio looks an event up by the index a request names; an index it does not have (99, -1) raised a
    KeyError and a bare HTTP 500 with a traceback in the log. Gradio 6 has no option for it, so its
    lookup is narrowed (once, for every app in the process): such an index is HTTP 404 with a message."""
    from fastapi import HTTPException
    from gradio import route_utils
    if getattr(route_utils.get_fn, "guarded", False):
        return
    original = route_utils.get_fn

    def get_fn(blocks, api_name, body):
        try:
            return original(blocks, api_name, body)
        except KeyError:
            raise HTTPException(404, f"There is no event {str(body.fn_index)[:20]} on this page.") from None

    get_fn.guarded = True
    route_utils.get_fn = get_fn


def cap_files_per_request(limit: int = MAX_FILES_PER_REQUEST) -> None:
    """Refuse an upload request with more than `limit` files ("Too many files", HTTP 400): Gradio's own
    limit is 1,000, each written to its temp folder. Gradio 6 takes no option for it (its upload route
    writes max_files=1000), so its multipart parser is narrowed, once, for every app in the process."""
    from gradio import route_utils, routes
    parser = route_utils.GradioMultiPartParser
    if getattr(parser, "capped", None) == limit:
        return

    class Capped(getattr(parser, "uncapped", parser)):
        capped, uncapped = limit, getattr(parser, "uncapped", parser)

        def __init__(self, *args, max_files=1000, **kwargs):
            super().__init__(*args, max_files=min(max_files, limit), **kwargs)

    route_utils.GradioMultiPartParser = routes.GradioMultiPartParser = Capped
