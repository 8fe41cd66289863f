"""A loopback OpenAI-compatible server for benchmarks: raw asyncio, every answer pre-encoded.

The test server (tests/server.py) is built for faults, one thread and several writes per
answer; here the server must never be what is measured. It parses only the request line and
`Content-Length`, and answers from bytes built once per scenario, so one core serves far more
than any client under test can consume (each bench shows a bare client's rate beside ours).

The scenario is the first path segment of the base URL, `key=value` pairs joined by `,`:

    http://127.0.0.1:PORT/n=5000,size=6/v1          a 5,000-chunk answer of 6-char tokens
    http://127.0.0.1:PORT/delay=300/v1              answer after 300 ms
    http://127.0.0.1:PORT/n=5000,gap=1/v1           stream one token per millisecond

`n` content chunks (default 1) of `size` characters (default 6; the reply is words and
paragraphs, so it renders like prose); `delay` ms before the headers; `gap` ms between stream
chunks. A request with `"stream": true` gets SSE (one HTTP chunk per event, as llama.cpp and
vLLM send), else one JSON body with the same text. `GET /_stats` answers the last streamed
answers' send times (first to last body byte), the server's own view of its speed.

    python bench/server.py [--port 0]     # prints its root URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

WORDS = [
    *("the", "quick", "brown", "fox", "jumps", "over", "lazy", "dogs", "while", "seven"),
    *("wizards", "quietly", "judge", "each", "boxing", "match", "from", "their", "crowded"),
    *("benches", "near", "old", "river", "banks"),
]


def reply_text(n: int, size: int) -> list[str]:
    """n pieces of about `size` characters: words, a paragraph break every ~80 pieces."""
    pieces = []
    for i in range(n):
        word = WORDS[i % len(WORDS)]
        piece = (" " + word * (size // len(word) + 1))[:size] if size > 1 else "x"
        if i % 80 == 79:
            piece = piece[:-2] + ".\n\n" if size > 3 else piece
        pieces.append(piece)
    return pieces


def _chunk(data: bytes) -> bytes:
    return b"%X\r\n%s\r\n" % (len(data), data)


class Scenario:
    """The pre-encoded answers for one base URL."""

    def __init__(self, spec: str) -> None:
        params = dict(p.split("=", 1) for p in spec.split(",") if "=" in p)
        self.n = int(params.get("n", 1))
        self.size = int(params.get("size", 6))
        self.delay = float(params.get("delay", 0)) / 1000
        self.gap = float(params.get("gap", 0)) / 1000
        pieces = reply_text(self.n, self.size)
        base = {"id": "chatcmpl-bench", "created": 0, "model": "bench-model"}
        usage = {"prompt_tokens": 10, "completion_tokens": self.n, "total_tokens": 10 + self.n}
        message = {"role": "assistant", "content": "".join(pieces)}
        plain = {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
        body = json.dumps(plain).encode()
        self.plain = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        chunk = {**base, "object": "chat.completion.chunk"}

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
            return b"data: " + json.dumps({**chunk, "choices": choices, **extra}).encode() + b"\n\n"

        events = [event({"role": "assistant", "content": ""})]
        events += [event({"content": p}) for p in pieces]
        events.append(event({}, "stop"))
        events.append(b"data: " + json.dumps({**chunk, "choices": [], "usage": usage}).encode())
        events[-1] += b"\n\n"
        events.append(b"data: [DONE]\n\n")
        self.events = [_chunk(e) for e in events]
        self.stream_head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        self.stream_blob = self.stream_head + b"".join(self.events) + b"0\r\n\r\n"
        self.answer_chars = len(message["content"])


MODELS = json.dumps({"object": "list", "data": [{"id": "bench-model", "object": "model"}]})
JSON_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
MODELS_ANSWER = JSON_HEAD % len(MODELS) + MODELS.encode()
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"


class Server:
    def __init__(self) -> None:
        self.scenarios: dict[str, Scenario] = {}
        self.send_times: list[float] = []  # seconds, first to last byte of each streamed body

    def scenario(self, spec: str) -> Scenario:
        found = self.scenarios.get(spec)
        if found is None:
            found = self.scenarios[spec] = Scenario(spec)
        return found


class Connection(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.busy = False  # answering slowly: a pipelined request waits its turn
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.serve()

    def serve(self) -> None:
        while not self.busy and self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.answer(head[0].split(b" ")[1].decode(), body)

    def answer(self, target: str, body: bytes) -> None:
        assert self.transport is not None
        path = target.split("?")[0]
        if path == "/_stats":
            data = json.dumps({"send_times": self.server.send_times[-50:]}).encode()
            self.transport.write(JSON_HEAD % len(data) + data)
            return
        if path.endswith("/models"):
            self.transport.write(MODELS_ANSWER)
            return
        if not path.endswith("/chat/completions"):
            self.transport.write(NOT_FOUND)
            return
        spec = path.split("/")[1] if path.count("/") > 3 else ""
        scenario = self.server.scenario(spec)
        stream = b'"stream":true' in body.replace(b" ", b"")
        if scenario.delay or (stream and scenario.gap):
            self.busy = True
            asyncio.get_running_loop().create_task(self.slow(scenario, stream))
        elif stream:
            started = time.perf_counter()
            self.transport.write(scenario.stream_blob)
            self.server.send_times.append(time.perf_counter() - started)
        else:
            self.transport.write(scenario.plain)

    async def slow(self, scenario: Scenario, stream: bool) -> None:
        assert self.transport is not None
        try:
            if scenario.delay:
                await asyncio.sleep(scenario.delay)
            if not stream:
                self.transport.write(scenario.plain)
            elif not scenario.gap:
                self.transport.write(scenario.stream_blob)
            else:
                self.transport.write(scenario.stream_head)
                started = time.perf_counter()
                for i, event in enumerate(scenario.events):
                    if i > 1 and self.transport.is_closing():
                        return  # the client hung up (Ctrl-C): stop sending
                    self.transport.write(event)
                    if 1 <= i <= scenario.n:  # one gap per content token
                        await asyncio.sleep(scenario.gap)
                self.transport.write(b"0\r\n\r\n")
                self.server.send_times.append(time.perf_counter() - started)
        finally:
            self.busy = False
        self.serve()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int) -> None:
    server = Server()
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(lambda: Connection(server), "127.0.0.1", port, backlog=1024)
    bound = listener.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with listener:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port))
    sys.exit(0)


if __name__ == "__main__":
    main()
