"""A real OpenAI-compatible HTTP server on loopback, with injectable real-world faults, for tests.

Use ``FakeServer`` in-process, or run ``python tests/server.py --port 0`` to print its base URL.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Json = dict[str, Any]
DEFAULT_MODELS = ("test-model", "other-model", "llama3.2:3b")
THINK_PREFIX = "<think>\nLet me think about this.\n</think>\n\n"
HTML_PAGE = "<!doctype html><html><body><h1>Welcome</h1></body></html>"
CHUNK = "chat.completion.chunk"
NOT_FOUND = {"detail": "Not Found"}  # FastAPI's shape, which llama.cpp's server also answers
STREAM_ERROR = {"error": {"message": "upstream overloaded", "type": "server_error"}}
LOADING_ERROR = {"error": {"message": "model is loading", "type": "server_error"}}
VALIDATION_MESSAGE = (
    "1 validation error:\n  {'type': 'int_parsing', 'loc': ('body', 'max_tokens'), "
    "'msg': 'Input should be a valid integer, unable to parse string as an integer', "
    "'input': 'abc'}"
)


def _error(message: str, type_: str, code: str | None = None) -> Json:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _nginx_page(title: str) -> str:
    # Gateways answer with their own HTML page, not the upstream's JSON error shape.
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


AUTH_ERROR = _error("Invalid API key", "invalid_request_error", "invalid_api_key")
# Canned answers for the status shortcuts; "404_model" and "429" are built per request.
STATUS_PRESETS: dict[str, tuple[int, Any]] = {
    "401": (401, AUTH_ERROR),
    "403": (403, _error("Permission denied for this model", "permission_error", "forbidden")),
    "500": (500, _error("The server had an error processing your request", "server_error")),
    "502": (502, _nginx_page("502 Bad Gateway")),
    "503": (503, _error("The engine is currently overloaded", "server_error")),
    "504": (504, _nginx_page("504 Gateway Time-out")),
}
# Endpoint-specific faults are not consumed by requests to other endpoints, so a client that
# lists models before chatting still gets a chat fault on its chat request.
CHAT_FAULTS = frozenset({"no_choices", "broken_stream", "stream_error", "think", "fence"})
CHAT_FAULTS |= {"reasoning_field", "slow_stream"}
MODELS_FAULTS = frozenset({"bare_list"})
ANY_FAULTS = frozenset({"status", "404_model", "429", "validation_500", "html", "error_body"})
ANY_FAULTS |= {"hang", *STATUS_PRESETS}
FAULTS = CHAT_FAULTS | MODELS_FAULTS | ANY_FAULTS


@dataclass
class Recorded:
    """One request as received; ``body`` is parsed JSON, raw text if unparseable, None if empty."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str]


@dataclass
class _Fault:
    name: str
    times: int
    path: str | None
    params: Json


def _text(content: Any) -> str:
    # Message content may be a plain string or a list of typed parts (multimodal format).
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _pieces(text: str, split_tags: bool = False) -> list[str]:
    """Split into word-sized pieces whose concatenation is exactly ``text``."""
    pieces = re.findall(r"\s*\S+|\s+", text)
    if split_tags:
        # Tokenizers split tags unpredictably; clients must reassemble them across chunks.
        tags = r"(?<=<thi)(?=nk>)|(?<=</th)(?=ink>)"
        pieces = [part for p in pieces for part in re.split(tags, p)]
    return pieces


class FakeServer:
    """OpenAI-compatible server in a daemon thread; plain attributes configure its behaviour."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self._faults: list[_Fault] = []
        self._generation = 0  # one per reset: a request only takes faults queued in its own
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    def reset(self) -> None:
        """Forget requests and queued faults, and restore the default configuration."""
        self.models: list[str] = list(DEFAULT_MODELS)
        self.api_key: str | None = None
        self.delay: float = 0.0
        self.chunk_delay: float = 0.0
        self.reply: str | Callable[[Json], str] | None = None
        self.send_usage: bool = True
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._generation += 1

    def start(self) -> FakeServer:
        if self._httpd is not None:
            raise RuntimeError("FakeServer already started")
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        # A short poll interval keeps stop() fast; the default 0.5 s adds up across tests.
        serve = {"poll_interval": 0.05}
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs=serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes requests sleeping in delay or hang
        httpd.shutdown()
        httpd.server_close()
        # Idle keep-alive connections would otherwise keep their handler threads blocked.
        with self._lock:
            open_sockets = list(httpd.open_sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self if self._httpd is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def inject(self, fault: str, *, times: int = 1, path: str | None = None, **params: Any) -> None:
        """Make the next ``times`` /v1 requests whose path ends with ``path`` answer ``fault``."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(_Fault(fault, times, path, params))

    def chat_requests(self) -> list[Recorded]:
        with self._lock:
            requests = list(self.requests)
        return [r for r in requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    # Internals used by the request handler threads.

    def _record(self, request: Recorded) -> int:
        """Keep the request; returns the generation it arrived in."""
        with self._lock:
            self.requests.append(request)
            return self._generation

    def _take_fault(self, path: str, generation: int) -> _Fault | None:
        # At most one fault per request: the first queued one that matches. A request from
        # before the last reset (an earlier test's, still sleeping in a delay) takes none: it
        # would spend a fault the current test queued for its own request.
        with self._lock:
            if generation != self._generation:
                return None
            for fault in self._faults:
                if fault.path is not None and not path.endswith(fault.path):
                    continue
                if fault.name in CHAT_FAULTS and path != "/v1/chat/completions":
                    continue
                if fault.name in MODELS_FAULTS and path != "/v1/models":
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _sleep(self, seconds: float) -> None:
        # An Event wait rather than time.sleep, so stop() need not wait for sleeping requests.
        if seconds > 0:
            self._stopping.wait(seconds)

    def _reply_for(self, body: Json) -> str:
        if callable(self.reply):
            return str(self.reply(body))
        if self.reply is not None:
            return self.reply
        users = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        return "TRANSLATED: " + (_text(users[-1].get("content")) if users else "")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default backlog of 5 is small for bursts of test clients

    def __init__(self, address: tuple[str, int], fake: FakeServer) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake._lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.fake._lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (timeouts, broken streams, stop()) are expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, like real servers
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _dispatch(self) -> None:
        fake = self.server.fake
        # Read the whole body even when unused: leftovers would corrupt the next keep-alive request.
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        url = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        # Recorded before delay and faults, so tests can inspect requests that never got answers.
        generation = fake._record(Recorded(self.command, url.path, headers, body, query))
        if not url.path.startswith("/v1/"):
            return self._json(404, NOT_FOUND)
        fake._sleep(fake.delay)
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if fake.api_key is not None and (scheme.lower(), token) != ("bearer", fake.api_key):
            return self._json(401, AUTH_ERROR)
        fault = fake._take_fault(url.path, generation)
        if fault is not None and fault.name == "hang":
            fake._sleep(float(fault.params.get("seconds", 30)))
            fault = None
        if fake._stopping.is_set():
            return self._hang_up()  # stop() interrupted the delay or hang: drop the request
        if fault is not None and fault.name not in CHAT_FAULTS:
            return self._send_fault(fault, body)
        method = {"/v1/models": "GET", "/v1/chat/completions": "POST"}.get(url.path)
        if method is None:
            return self._json(404, NOT_FOUND)
        if method != self.command:
            return self._json(405, {"detail": "Method Not Allowed"})
        if url.path == "/v1/models":
            return self._json(200, {"object": "list", "data": self._model_list()})
        self._chat(body, fault)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _model_list(self) -> list[dict[str, str]]:
        return [{"id": m, "object": "model", "owned_by": "test"} for m in self.server.fake.models]

    def _send(
        self, status: int, payload: bytes, ctype: str, headers: Any = None, cut: int | None = None
    ) -> None:
        # ``cut`` sends only a prefix of the announced body, like a server dying mid-answer.
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(payload[:cut])

    def _json(self, status: int, data: Any, headers: Any = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send_fault(self, fault: _Fault, body: Any) -> None:
        name, params = fault.name, fault.params
        if name == "validation_500":
            return self._json(500, _error(VALIDATION_MESSAGE, "internal_server_error"))
        if name == "html":
            return self._send(200, HTML_PAGE.encode(), "text/html; charset=utf-8")
        if name == "error_body":
            return self._json(200, LOADING_ERROR)
        if name == "bare_list":
            return self._json(200, self._model_list())
        headers: dict[str, Any] = {}
        if name == "404_model":
            model = body.get("model") if isinstance(body, dict) else None
            message = f"The model `{model or 'unknown'}` does not exist"
            status, data = 404, _error(message, "invalid_request_error", "model_not_found")
        elif name == "429":
            status, data = 429, _error("Rate limit reached", "requests", "rate_limit_exceeded")
            headers["Retry-After"] = params.get("retry_after", 0)
            if "retry_after_ms" in params:
                headers["retry-after-ms"] = params["retry_after_ms"]
        else:  # a preset, or the generic "status"
            status, data = STATUS_PRESETS.get(name, (500, None))
        # Explicit params override the preset: inject("500", body="oops") answers plain text.
        status = int(params.get("status", status))
        data = params.get("body", data)
        if data is None:
            kind = "server_error" if status >= 500 else "invalid_request_error"
            data = _error(f"Error {status}", kind)
        headers.update(params.get("headers") or {})
        if isinstance(data, str):
            ctype = "text/html" if data.lstrip().startswith("<") else "text/plain"
            return self._send(status, data.encode(), ctype + "; charset=utf-8", headers)
        self._json(status, data, headers)

    def _chat(self, body: Any, fault: _Fault | None) -> None:
        fake = self.server.fake
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._json(400, _error("'messages' is required", "invalid_request_error"))
        name = fault.name if fault else None
        content = fake._reply_for(body)
        if name == "think":
            content = THINK_PREFIX + content
        elif name == "fence":
            content = f"```\n{content}\n```"
        # "Tokens" are whitespace-separated words: deterministic and easy to assert on.
        # Like a real server, an answer longer than max_tokens is cut there, reason "length".
        finish, limit = "stop", body.get("max_tokens")
        if isinstance(limit, int) and not isinstance(limit, bool) and len(content.split()) > limit:
            content, finish = "".join(_pieces(content)[:limit]), "length"
        messages = [m for m in body["messages"] if isinstance(m, dict)]
        prompt = sum(len(_text(m.get("content")).split()) for m in messages)
        completion = len(content.split())
        usage = {"prompt_tokens": prompt, "completion_tokens": completion}
        usage["total_tokens"] = prompt + completion
        model = str(body.get("model") or (fake.models or ["test-model"])[0])
        base = {"id": f"chatcmpl-{next(fake._ids)}", "created": int(time.time()), "model": model}
        if body.get("stream") is True:
            return self._stream(body, base, content, usage, fault, finish)

        message = {"role": "assistant", "content": content}
        if name == "reasoning_field":
            message["reasoning_content"] = "Because."
        result: Json = {**base, "object": "chat.completion"}
        if name != "no_choices":
            result["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        if fake.send_usage:
            result["usage"] = usage
        payload = json.dumps(STREAM_ERROR if name == "stream_error" else result).encode()
        if name != "broken_stream":
            return self._send(200, payload, "application/json")
        self._send(200, payload, "application/json", cut=len(payload) // 2)
        self._hang_up()

    def _stream(
        self, body: Json, base: Json, content: str, usage: Json, fault: Any, finish: str = "stop"
    ) -> None:
        fake = self.server.fake
        name, params = (fault.name, fault.params) if fault else (None, {})
        chunk_delay = fake.chunk_delay
        if name == "slow_stream":
            chunk_delay = float(params.get("chunk_delay", 0.1))

        def chunk(delta: Json, finish: str | None = None) -> Json:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {**base, "object": CHUNK, "choices": [choice]}

        events: list[Any] = [chunk({"role": "assistant"})]
        if name == "reasoning_field":
            events += [chunk({"reasoning_content": p}) for p in ("Because", ".")]
        words = [chunk({"content": p}) for p in _pieces(content, split_tags=name == "think")]
        if name == "broken_stream":
            events += words[: int(params.get("after", 3))]
        elif name == "stream_error":
            events += [*words[:2], STREAM_ERROR]
        elif name == "no_choices":
            events = [{**base, "object": CHUNK}, "[DONE]"]
        else:
            events += [*words, chunk({}, finish)]
            # Like OpenAI, usage only on request; send_usage=False mimics servers ignoring it.
            options = body.get("stream_options")
            if fake.send_usage and isinstance(options, dict) and options.get("include_usage"):
                events.append({**base, "object": CHUNK, "choices": [], "usage": usage})
            events.append("[DONE]")

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_chunk(b": keep-alive\n\n")  # an SSE comment, as real servers send
        for i, event in enumerate(events):
            if i:
                fake._sleep(chunk_delay)
            data = event if isinstance(event, str) else json.dumps(event)
            self._write_chunk(f"data: {data}\n\n".encode())
        if name == "broken_stream":
            return self._hang_up()  # no terminating chunk: the client sees a truncated body
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        # One HTTP chunk per SSE event; wfile is unbuffered, so each goes out immediately.
        self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", help="require 'Authorization: Bearer KEY' on /v1")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--reply", help="fixed reply instead of 'TRANSLATED: <last user msg>'")
    args = parser.parse_args(argv)
    server = FakeServer(host=args.host, port=args.port)
    server.api_key, server.delay, server.chunk_delay = args.api_key, args.delay, args.chunk_delay
    server.reply = args.reply
    # Turn SIGTERM (how harnesses stop subprocesses) into a normal exit, so stop() runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server.start():
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
