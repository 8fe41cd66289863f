"""The wire: per-call overhead of non-streamed calls, and streaming 200- and 5,000-chunk answers.

compat_nb's `Client` against raw httpx doing the same POST and JSON parse, the openai SDK,
and stdlib `http.client` over one kept-alive connection (the floor), all against the
pre-encoded server, in interleaved rounds. "bytes only" reads the stream without parsing it:
what the server and the loopback deliver, which must stay far above every client.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from urllib.parse import urlsplit

from bench._support import Row, bench_server, interleave, median, ratio_row
from bench.server import reply_text

MESSAGES = [{"role": "user", "content": "Hello"}]


def _stdlib(base: str) -> tuple[Callable[[], object], Callable[[], object], Callable[[], object]]:
    """(call, stream, bytes-only stream) over one kept-alive http.client connection."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    path = parts.path + "/chat/completions"
    headers = {"Content-Type": "application/json"}

    def send(stream: bool) -> http.client.HTTPResponse:
        body = {"model": "bench-model", "messages": MESSAGES, "stream": stream}
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        return conn.getresponse()

    def call() -> object:
        return json.loads(send(False).read())["choices"][0]["message"]["content"]

    def stream() -> str:
        parts = []
        response = send(True)
        for line in response:
            if line.startswith(b"data: ") and line != b"data: [DONE]\n":
                for choice in json.loads(line[6:])["choices"]:
                    parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    def raw() -> int:
        return len(send(True).read())

    return call, stream, raw


def contenders(base: str) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (one non-streamed call, one streamed call consumed to the end)."""
    import httpx
    import openai

    from compat_nb import Client, Preset

    preset = Preset("bench", base, "bench-model")
    ours = Client()
    raw = httpx.Client()
    body = {"model": "bench-model", "messages": MESSAGES}
    url = f"{base}/chat/completions"

    def raw_stream() -> str:
        parts = []
        with raw.stream("POST", url, json={**body, "stream": True}) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    def ours_stream() -> str:
        return "".join(x for x in ours.stream(preset, MESSAGES) if isinstance(x, str))

    sdk = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)

    def sdk_stream() -> str:
        stream = sdk.chat.completions.create(model="bench-model", messages=MESSAGES, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    call, stdlib_stream, _ = _stdlib(base)
    return {
        "compat_nb": (lambda: ours.chat(preset, MESSAGES).text, ours_stream),
        "raw httpx": (lambda: raw.post(url, json=body).json(), raw_stream),
        "openai SDK": (
            lambda: sdk.chat.completions.create(model="bench-model", messages=MESSAGES),
            sdk_stream,
        ),
        "stdlib http.client": (call, stdlib_stream),
    }


def _batch(fn: Callable[[], object], n: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(n):
            fn()

    return run


def run(quick: bool) -> list[Row]:
    rows = []
    calls, rounds = (400, 5) if quick else (2000, 10)
    per_round = calls // rounds
    with bench_server() as root:
        base = root + "/n=20/v1"
        plain = {name: _batch(pair[0], per_round) for name, pair in contenders(base).items()}
        times = interleave(plain, rounds)
        figures = {k: median(v) / per_round * 1e6 for k, v in times.items()}
        rows.append(
            ratio_row(
                "overhead",
                f"{calls:,} non-streamed calls, µs per call",
                figures,
                "µs",
                reference="raw httpx",
                limit=1.05,
                target="≤ 1.05× raw httpx",
                note=f"stdlib http.client is the floor ({figures['stdlib http.client']:.0f} µs)",
            )
        )
        sizes = ((200, 10, 7 if quick else 15), (5000, 1, 5 if quick else 15))
        for chunks, repeat, rounds in sizes:
            base = root + f"/n={chunks}/v1"
            pairs = contenders(base)
            expected = len("".join(reply_text(chunks, 6)))
            for name, pair in pairs.items():
                got = len(str(pair[1]()))
                assert got == expected, f"{name} streamed {got} chars, expected {expected}"
            streams = {name: _batch(pair[1], repeat) for name, pair in pairs.items()}
            streams["bytes only"] = _batch(_stdlib(base)[2], repeat)
            times = interleave(streams, rounds)
            rates = {k: chunks * repeat / median(v) for k, v in times.items()}
            ceiling = rates.pop("bytes only")
            # Time per stream, so the ratio reads like the target (ours over raw httpx).
            figures = {k: 1000 * chunks / v for k, v in rates.items()}
            row = ratio_row(
                "stream",
                f"{chunks:,}-chunk SSE answer, ms per stream",
                figures,
                "ms",
                reference="raw httpx",
                limit=1.10,
                target="≤ 1.10× raw httpx",
                note=(
                    f"{rates['compat_nb']:,.0f} chunks/s; raw httpx {rates['raw httpx']:,.0f}; "
                    f"stdlib {rates['stdlib http.client']:,.0f}; "
                    f"server ceiling (bytes only) {ceiling:,.0f}"
                ),
            )
            rows.append(row)
    return rows
