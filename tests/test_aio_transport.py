"""The aiohttp transport against the raw-socket fault server, side by side with httpx's own.

Every answer, and every way an answer goes wrong, must come out of both transports the same:
the same bytes, or the same httpx exception class, so diagnosis and retries cannot tell them
apart. Also: the deadline holds at every read, connections are kept alive, and a plain-http
pool never builds an SSL context.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from faults import (
    LAST_CHUNK,
    Close,
    FaultServer,
    Pause,
    Reset,
    bad_gzip,
    chat_chunk,
    chunk,
    completion,
    head,
    recorded,
    redirect,
    response,
    sse,
    stream_head,
)

from compat_nb.wire.aio_transport import AiohttpTransport

LIMITS = httpx.Limits(max_connections=8, max_keepalive_connections=8)
TIMEOUT = httpx.Timeout(connect=2.0, read=0.5, write=2.0, pool=2.0)


@pytest.fixture(scope="module")
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def srv(faults: FaultServer) -> Iterator[FaultServer]:
    faults.reset()
    yield faults
    faults.reset()


def no_ssl() -> ssl.SSLContext:
    raise AssertionError("a plain-http request built an SSL context")


def transports() -> dict[str, Callable[[], httpx.AsyncBaseTransport]]:
    return {
        "httpx": lambda: httpx.AsyncHTTPTransport(limits=LIMITS),
        "aiohttp": lambda: AiohttpTransport(limits=LIMITS, ssl_context=no_ssl),
    }


async def fetch(make: Callable[[], httpx.AsyncBaseTransport], url: str, **kw: Any) -> Any:
    """(status, headers, body) of one POST, or the class of the exception it raised."""
    async with httpx.AsyncClient(transport=make(), timeout=TIMEOUT) as client:
        try:
            async with client.stream("POST", url, json={"model": "m"}, **kw) as answer:
                body = b"".join([part async for part in answer.aiter_bytes()])
                return answer.status_code, answer.headers.get("content-type"), body
        except httpx.HTTPError as exc:
            return type(exc)


def both(url: str, script: Callable[[], None], **kw: Any) -> dict[str, Any]:
    results = {}
    for name, make in transports().items():
        script()
        results[name] = asyncio.run(fetch(make, url, **kw))
    return results


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ANSWERS = {
    "json": lambda: [response(200, completion("Bonjour"))],
    "sse": lambda: [
        stream_head(),
        chunk(sse(chat_chunk("Bon"), chat_chunk("jour", finish="stop"), "[DONE]")),
        LAST_CHUNK,
    ],
    "error status": lambda: [response(429, {"error": {"message": "slow down"}})],
    "redirect (not followed here)": lambda: [redirect(307, "http://127.0.0.1:9/v1")],
    "recorded llama.cpp stream": lambda: [recorded("llama-cpp-python-0.3.36/chat_stream.raw")],
}

FAULTS = {
    "closed before answering": lambda: [Close()],
    "reset before answering": lambda: [Reset()],
    "body cut short": lambda: [response(200, b'{"x": 1', content_length=100), Close()],
    "stream cut short": lambda: [stream_head(), chunk(sse(chat_chunk("Bon"))), Close()],
    "not HTTP": lambda: [b"SSH-2.0-OpenSSH_9.6\r\n", Close()],
    "stall before the head": lambda: [Pause(1.5), response(200, completion("late"))],
    "stall in the body": lambda: [head(200, {"Content-Length": "20"}), b"0123", Pause(1.5)],
    "bad gzip": lambda: [bad_gzip()],
}


@pytest.mark.parametrize("name", list(ANSWERS))
def test_answers_come_through_byte_for_byte(srv: FaultServer, name: str) -> None:
    results = both(srv.base_url + "/chat/completions", lambda: srv.script(*ANSWERS[name]()))
    assert isinstance(results["httpx"], tuple), results
    assert results["aiohttp"] == results["httpx"]


@pytest.mark.parametrize("name", list(FAULTS))
def test_each_fault_raises_what_httpx_raises(srv: FaultServer, name: str) -> None:
    results = both(srv.base_url + "/chat/completions", lambda: srv.script(*FAULTS[name]()))
    assert isinstance(results["httpx"], type), results  # the fault really is one
    assert results["aiohttp"] is results["httpx"], results


def test_a_refused_connection_is_a_connect_error_on_both() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1/chat/completions"
    results = both(url, lambda: None)
    assert results == {"httpx": httpx.ConnectError, "aiohttp": httpx.ConnectError}


def test_connections_are_kept_alive_and_the_deadline_holds_at_every_read(
    srv: FaultServer,
) -> None:
    deadline: dict[str, float | None] = {"at": None}

    def time_left() -> float | None:
        at = deadline["at"]
        return None if at is None else at - time.monotonic()

    async def run() -> tuple[int, Any, float]:
        transport = AiohttpTransport(limits=LIMITS, ssl_context=no_ssl, time_left=time_left)
        async with httpx.AsyncClient(transport=transport, timeout=30) as client:
            for _ in range(5):
                answer = await client.post(srv.base_url + "/chat/completions", json={})
                assert json.loads(answer.content)["choices"]
            kept = srv.connections
            # A body that trickles on: every read is quick, the whole would take 5 s.
            srv.script(head(200, {"Content-Length": "50"}), *[b"x", Pause(0.1)] * 50)
            deadline["at"] = time.monotonic() + 0.5
            started = time.monotonic()
            try:
                await client.post(srv.base_url + "/chat/completions", json={})
            except httpx.HTTPError as exc:
                return kept, type(exc), time.monotonic() - started
            return kept, None, time.monotonic() - started

    kept, error, _took = asyncio.run(run())
    assert kept == 1  # five requests, one connection
    assert error is httpx.ReadTimeout  # cut at the deadline, not after the 5 s trickle


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_no_ssl_context_is_built_until_an_https_server_is_asked(
    transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server import FakeServer

    from compat_nb import Client, Preset
    from compat_nb.errors import CompatError
    from compat_nb.wire import transport as wire_transport

    monkeypatch.setenv("COMPAT_NB_ASYNC_TRANSPORT", transport)
    built: list[str] = []
    monkeypatch.setattr(wire_transport, "_ssl_context", None)
    real = wire_transport._shared_ssl_context

    def counted() -> ssl.SSLContext:
        built.append("context")
        return real()

    monkeypatch.setattr(wire_transport, "_shared_ssl_context", counted)
    client = Client()
    messages = [{"role": "user", "content": "Hi"}]
    try:
        with FakeServer() as server:
            local = Preset("local", server.base_url, "test-model")
            assert client.chat(local, messages).text == "TRANSLATED: Hi"
            assert "".join(x for x in client.stream(local, messages) if isinstance(x, str))
            assert asyncio.run(client.achat(local, messages)).text == "TRANSLATED: Hi"
        assert built == []  # a local server over plain http: no CA bundle loaded
        remote = Preset("remote", f"https://127.0.0.1:{closed_port()}/v1", "m")
        with pytest.raises(CompatError):
            client.chat(remote, messages)
        assert built  # the first https request built it
    finally:
        client.close()
