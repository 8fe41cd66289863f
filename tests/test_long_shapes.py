"""Streams whose shape once cost time quadratic in their length: one long line in tiny chunks,
a `<think>` block that never closes, whitespace that never ends. Each is read to its end well
inside a deadline that the quadratic reading passed many times over (a 1 MB line in 16-byte
chunks took more than 15 s; these are twice that size or more), on both faces.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from faults import LAST_CHUNK, FaultServer, chat_chunk, chunk, sse, stream_head

from compat_nb import Client, Preset
from compat_nb.errors import EmptyAnswerError
from compat_nb.wire.protocol import RetryPolicy

MESSAGES = [{"role": "user", "content": "Hello"}]
DEADLINE = 60.0  # a generous bound for linear work on a loaded machine; quadratic takes minutes


@pytest.fixture(scope="module")
def srv() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client(retry=RetryPolicy(max_retries=0), deadline=DEADLINE, max_response_bytes=64 * 2**20)
    yield c
    c.close()


def _stream(client: Client, preset: Preset, face: str) -> list[Any]:
    if face == "sync":
        return list(client.stream(preset, MESSAGES))

    async def run() -> list[Any]:
        return [item async for item in client.astream(preset, MESSAGES)]

    return asyncio.run(run())


def _tiny(*contents: str) -> bytes:
    """Chat chunks with nothing but their delta: the most deltas a megabyte can hold."""
    return b"".join(
        b'data: {"choices":[{"index":0,"delta":{"content":%s}}]}\n\n' % json.dumps(c).encode()
        for c in contents
    )


def _done() -> bytes:
    return sse(chat_chunk(finish="stop")) + b"data: [DONE]\n\n"


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_two_megabyte_line_in_eight_byte_chunks_is_read_whole(
    srv: FaultServer, client: Client, face: str
) -> None:
    text = "x" * 2**21
    line = b"data: " + json.dumps(chat_chunk(text)).encode()
    pieces = [chunk(line[i : i + 8]) for i in range(0, len(line), 8)]
    srv.script(stream_head(), b"".join(pieces), chunk(b"\n\n" + _done()), LAST_CHUNK)
    *deltas, result = _stream(client, Preset("f", srv.base_url, "m"), face)
    assert "".join(deltas) == result.text == text


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_think_block_that_never_closes_is_reasoning_not_a_hang(
    srv: FaultServer, client: Client, face: str
) -> None:
    body = _tiny("<think>", *["ab"] * 400_000)
    srv.script(stream_head(), chunk(body), chunk(_done()), LAST_CHUNK)
    with pytest.raises(EmptyAnswerError) as caught:
        _stream(client, Preset("f", srv.base_url, "m"), face)
    assert caught.value.reason == "reasoning"
    assert "reasoning only (800,000 characters)" in caught.value.message


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_think_block_closed_after_many_deltas_keeps_both_parts(
    srv: FaultServer, client: Client, face: str
) -> None:
    # </think> split across deltas, after 200,000 of them: found, and nothing after it lost.
    body = _tiny(" \n", "<thi", "nk>", *["ab"] * 200_000, "</th", "ink>", "\n\n", "Bon", "jour")
    srv.script(stream_head(), chunk(body), chunk(_done()), LAST_CHUNK)
    *deltas, result = _stream(client, Preset("f", srv.base_url, "m"), face)
    assert "".join(deltas) == result.text == "Bonjour"
    assert result.reasoning == "ab" * 200_000


@pytest.mark.parametrize("face", ["sync", "async"])
def test_whitespace_that_never_ends_is_read_in_linear_time(
    srv: FaultServer, client: Client, face: str
) -> None:
    body = _tiny(*[" "] * 400_000, "Bonjour")
    srv.script(stream_head(), chunk(body), chunk(_done()), LAST_CHUNK)
    *deltas, result = _stream(client, Preset("f", srv.base_url, "m"), face)
    assert "".join(deltas) == result.text == " " * 400_000 + "Bonjour"
