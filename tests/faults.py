"""A raw-socket HTTP/1.1 server on loopback that answers with exactly the bytes a test scripts.

`tests/server.py` speaks HTTP properly; this one says what real servers say when they go
wrong: bodies cut short, stalls and trickles, endless bodies and streams, bad gzip, redirects,
recorded responses replayed byte for byte, and a forward proxy that records what reached it.
No http.server: requests are parsed here and answers are written straight to the socket.

    with FaultServer() as srv:
        srv.script(head(200, {"Content-Length": "100"}), b"only ten b", Close())
        ...                       # the next request gets those steps, later ones the default
        srv.requests[-1].headers  # what arrived, as sent
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlsplit

__all__ = [
    "FIXTURES",
    "LAST_CHUNK",
    "Close",
    "FaultServer",
    "Forever",
    "Hang",
    "Pause",
    "RawRequest",
    "Reset",
    "Trickle",
    "bad_gzip",
    "chat_chunk",
    "chunk",
    "completion",
    "default_answer",
    "full_backlog",
    "head",
    "recorded",
    "redirect",
    "response",
    "sse",
    "stream_head",
]

FIXTURES = Path(__file__).parent / "fixtures"
LAST_CHUNK = b"0\r\n\r\n"
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --- steps: what the server does for one request, in order ---------------------------------


@dataclass(frozen=True)
class Pause:
    """Send nothing for `seconds` (a stall)."""

    seconds: float


@dataclass(frozen=True)
class Trickle:
    """Send `data` `size` bytes at a time, one piece every `every` seconds."""

    data: bytes
    every: float = 1.0
    size: int = 1


@dataclass(frozen=True)
class Forever:
    """Send `piece` again and again (every `every` seconds) until the client hangs up."""

    piece: bytes
    every: float = 0.0


@dataclass(frozen=True)
class Close:
    """Close the connection cleanly (FIN): the client sees the body end early."""


@dataclass(frozen=True)
class Reset:
    """Abort the connection (RST): the client sees 'connection reset'."""


@dataclass(frozen=True)
class Hang:
    """Keep the connection open and say nothing until the client goes or the server stops."""


Step = Union[bytes, Pause, Trickle, Forever, Close, Reset, Hang]  # noqa: UP007 (3.10 alias)
Script = Callable[["RawRequest"], Iterable[Step]]


# --- bytes: building answers -----------------------------------------------------------------


def head(status: int, headers: dict[str, str] | None = None, *, reason: str | None = None) -> bytes:
    """A status line and headers, with the blank line that ends them; the body comes after."""
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(
    status: int,
    body: bytes | str | Any = b"",
    headers: dict[str, str] | None = None,
    *,
    content_length: int | None = None,
) -> bytes:
    """A whole answer. A dict/list body is sent as JSON; `content_length` may lie (cut bodies)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers = {"Content-Type": "application/json", **(headers or {})}
    data = body.encode() if isinstance(body, str) else body
    length = len(data) if content_length is None else content_length
    return head(status, {"Content-Length": str(length), **(headers or {})}) + data


def chunk(data: bytes | str) -> bytes:
    """One piece of a chunked body."""
    raw = data.encode() if isinstance(data, str) else data
    return b"%X\r\n%s\r\n" % (len(raw), raw)


def sse(*events: Any, error_field: bool = False) -> bytes:
    """SSE `data:` events (JSON unless str), each ended by a blank line."""
    field_name = "error" if error_field else "data"
    parts = [
        f"{field_name}: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
    ]
    return b"".join(parts)


def chat_chunk(content: str | None = None, finish: str | None = None, **delta: Any) -> dict:
    """An OpenAI `chat.completion.chunk` carrying one content delta (or none)."""
    if content is not None:
        delta["content"] = content
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-f",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [choice],
    }


def completion(text: str, finish: str = "stop", **message: Any) -> dict:
    """An OpenAI non-streamed chat completion."""
    message = {"role": "assistant", "content": text, **message}
    return {
        "id": "chatcmpl-f",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 5, "completion_tokens": len(text.split()), "total_tokens": 9},
    }


def stream_head(extra: dict[str, str] | None = None) -> bytes:
    """The head of a chunked SSE answer."""
    headers = {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
    return head(200, {**headers, **(extra or {})})


def redirect(status: int, location: str) -> bytes:
    return response(status, b"", {"Location": location})


def bad_gzip(status: int = 200, ctype: str = "application/json") -> bytes:
    """A body that claims gzip but is not (a gzip header, then garbage)."""
    body = gzip.compress(b'{"x": 1}')[:10] + b"\x00garbage-not-deflate"
    return response(status, body, {"Content-Type": ctype, "Content-Encoding": "gzip"})


def recorded(name: str) -> bytes:
    """A recorded answer from tests/fixtures, as bytes to send.

    `.raw` files (curl --raw) are sent as recorded, except that a Content-Length is set to
    the body's real size: two recordings had a server path redacted from the body after
    capture. `.http` files (curl -i) hold a decoded body: line endings become CRLF in the
    head and Content-Length is set likewise. A recording without a head (stream_second.raw)
    is an SSE body, sent as one chunked event stream.
    """
    path = FIXTURES / name
    data = path.read_bytes()
    if not data.startswith(b"HTTP/"):
        return stream_head() + chunk(data) + LAST_CHUNK
    if path.suffix == ".raw":
        head_bytes, sep, body = data.partition(b"\r\n\r\n")
        fixed = re.sub(rb"(?im)^(content-length:) *\d+", b"\\1 %d" % len(body), head_bytes)
        return fixed + sep + body
    text = data.decode("utf-8")
    head_text, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head_text.split("\n")
    kept = [
        line
        for line in lines[1:]
        if line.split(":", 1)[0].lower() not in ("content-length", "transfer-encoding")
    ]
    raw_body = body.encode()
    kept.append(f"content-length: {len(raw_body)}")
    return ("\r\n".join([lines[0], *kept]) + "\r\n\r\n").encode() + raw_body


# --- requests as received ----------------------------------------------------------------------


@dataclass
class RawRequest:
    """One request as it arrived. Header names are lower-cased; `target` is as sent (a proxy
    gets the absolute form `http://host:port/path` or `host:port` for CONNECT)."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    port: int  # the port it arrived on

    @property
    def path(self) -> str:
        return urlsplit(self.target).path if "://" in self.target else self.target.split("?")[0]

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def default_answer(request: RawRequest) -> list[Step]:
    """What an OpenAI-compatible server answers when no fault is scripted."""
    if request.method == "CONNECT":
        return [response(502, "no tunnels here")]
    if request.path.endswith("/models"):
        return [response(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})]
    if request.path.endswith("/chat/completions") and request.method == "POST":
        body = request.json() or {}
        text = "TRANSLATED: ok"
        if body.get("stream"):
            events = sse(chat_chunk(role="assistant"), chat_chunk(text), chat_chunk(finish="stop"))
            return [stream_head(), chunk(events + b"data: [DONE]\n\n"), LAST_CHUNK]
        return [response(200, completion(text))]
    return [response(404, {"detail": "Not Found"})]


# --- the server ------------------------------------------------------------------------------


@dataclass
class _Queued:
    steps: Script
    times: int
    match: str | None


@dataclass
class _State:
    requests: list[RawRequest] = field(default_factory=list)
    queue: list[_Queued] = field(default_factory=list)
    connections: int = 0


class FaultServer:
    """Scripted HTTP/1.1 on 127.0.0.1 in daemon threads; keep-alive unless a step closes."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.default: Script = default_answer
        self._state = _State()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _TCPServer | None = None
        self._open: set[socket.socket] = set()

    # configuration

    def script(self, *steps: Step | Script, times: int = 1, match: str | None = None) -> None:
        """The next `times` requests whose target contains `match` get these steps.

        Pass one callable instead to build the steps from the request.
        """
        if len(steps) == 1 and callable(steps[0]):
            build: Script = steps[0]  # type: ignore[assignment]
        else:
            fixed = list(steps)
            build = lambda _request: fixed  # noqa: E731
        with self._lock:
            self._state.queue.append(_Queued(build, times, match))

    def reset(self) -> None:
        with self._lock:
            self._state = _State()
        self.default = default_answer

    @property
    def requests(self) -> list[RawRequest]:
        with self._lock:
            return list(self._state.requests)

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._state.connections

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # lifecycle

    def start(self) -> FaultServer:
        self._stopping.clear()
        self._server = _TCPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultServer:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # used by the connection threads

    def _steps_for(self, request: RawRequest) -> Iterable[Step]:
        build = self.default
        with self._lock:
            self._state.requests.append(request)
            for queued in self._state.queue:
                if queued.match is None or queued.match in request.target:
                    queued.times -= 1
                    if queued.times == 0:
                        self._state.queue.remove(queued)
                    build = queued.steps
                    break
        return build(request)  # outside the lock: a script may look at the server


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(address, _Connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer is what these tests are about


class _Connection(socketserver.BaseRequestHandler):
    """One client connection: read a request, play its steps, repeat until closed."""

    request: socket.socket
    server: _TCPServer

    def handle(self) -> None:
        owner = self.server.owner
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with owner._lock:
            owner._open.add(sock)
            owner._state.connections += 1
        self._buffer = b""
        try:
            while not owner._stopping.is_set():
                request = self._read_request()
                if request is None:
                    return
                if not self._play(owner._steps_for(request)):
                    return
        except OSError:
            return
        finally:
            with owner._lock:
                owner._open.discard(sock)

    # reading

    def _recv(self) -> bytes:
        data = self.request.recv(65536)
        if not data:
            raise ConnectionError("client closed")
        return data

    def _read_request(self) -> RawRequest | None:
        try:
            while b"\r\n\r\n" not in self._buffer:
                self._buffer += self._recv()
                if len(self._buffer) > 1 << 20:
                    return None
        except ConnectionError:
            return None
        head_bytes, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        method, target, _version = ([*lines[0].split(" "), "", ""])[:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        body = self._read_body(headers)
        port = self.request.getsockname()[1]
        return RawRequest(method, target, headers, body, port)

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                while b"\r\n" not in self._buffer:
                    self._buffer += self._recv()
                size_line, self._buffer = self._buffer.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self._buffer) < size + 2:
                    self._buffer += self._recv()
                body += self._buffer[:size]
                self._buffer = self._buffer[size + 2 :]
                if size == 0:
                    return body
        length = int(headers.get("content-length") or 0)
        while len(self._buffer) < length:
            self._buffer += self._recv()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return body

    # writing

    def _play(self, steps: Iterable[Step]) -> bool:
        """Play every step; False when the connection is finished."""
        owner = self.server.owner
        sock = self.request
        for step in steps:
            if owner._stopping.is_set():
                return False
            if isinstance(step, bytes):
                sock.sendall(step)
            elif isinstance(step, Pause):
                owner._stopping.wait(step.seconds)
            elif isinstance(step, Trickle):
                for i in range(0, len(step.data), step.size):
                    sock.sendall(step.data[i : i + step.size])
                    if owner._stopping.wait(step.every):
                        return False
            elif isinstance(step, Forever):
                while not owner._stopping.is_set():
                    sock.sendall(step.piece)  # raises once the client hangs up
                    if step.every:
                        owner._stopping.wait(step.every)
                return False
            elif isinstance(step, Close):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return False
            elif isinstance(step, Reset):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
                return False
            elif isinstance(step, Hang):
                self._wait_for_hangup()
                return False
        return True

    def _wait_for_hangup(self) -> None:
        owner = self.server.owner
        self.request.settimeout(0.05)
        while not owner._stopping.is_set():
            try:
                if not self.request.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return


@contextlib.contextmanager
def full_backlog(host: str = "127.0.0.1") -> Iterator[int]:
    """A port whose accept queue is full, so a new connection attempt hangs (ConnectTimeout).

    The listener never accepts; its one-slot queue is filled by connections made here.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        # Linux keeps backlog+1 completed connections; fill them, plus a few spare in SYN state.
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((host, port))
            fillers.append(filler)
        time.sleep(0.05)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
