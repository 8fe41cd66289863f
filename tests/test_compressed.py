"""Compressed answers are unpacked within the size cap: a gzip or deflate bomb, stacked
encodings (`gzip, gzip`), codings nobody asked for, damaged bodies; on both faces and every
body the client reads (plain, streamed, error pages, the model list).

Each bomb is a few kilobytes on the wire and gigabytes unpacked; httpx's own decoder unpacks
a whole network read (and each stacked layer) at once, which took a kernel past 4 GB.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import resource
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from faults import FaultServer, chat_chunk, completion, response, sse

from compat_nb import Client, Preset
from compat_nb.errors import ResponseTooLarge, ServerError, StreamError
from compat_nb.wire.protocol import RetryPolicy

MB = 2**20
MESSAGES = [{"role": "user", "content": "Hello"}]


def _packed(megabytes: int, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b" " * MB
    return b"".join([*(packer.compress(block) for _ in range(megabytes)), packer.flush()])


def gzip_bomb(megabytes: int) -> bytes:
    return _packed(megabytes, zlib.MAX_WBITS | 16)


def deflate_bomb(megabytes: int) -> bytes:
    return _packed(megabytes, zlib.MAX_WBITS)


# 8 KB on the wire, 4 GB once both layers are unpacked.
NESTED = gzip.compress(gzip_bomb(4096), 9)
BOMBS = {
    "gzip": (gzip_bomb(512), "gzip"),
    "deflate": (deflate_bomb(512), "deflate"),
    "gzip, gzip": (NESTED, "gzip, gzip"),
}


@pytest.fixture(scope="module")
def srv() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client(retry=RetryPolicy(max_retries=0), max_response_bytes=4 * MB, deadline=60)
    yield c
    c.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _call(client: Client, preset: Preset, face: str, stream: bool) -> Any:
    if face == "sync":
        return list(client.stream(preset, MESSAGES)) if stream else client.chat(preset, MESSAGES)

    async def run() -> Any:
        if stream:
            return [item async for item in client.astream(preset, MESSAGES)]
        return await client.achat(preset, MESSAGES)

    return asyncio.run(run())


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_compressed_bomb_stops_at_the_cap_without_unpacking_it(
    srv: FaultServer, client: Client, bomb: str, stream: bool, face: str
) -> None:
    body, coding = BOMBS[bomb]
    ctype = "text/event-stream" if stream else "application/json"
    srv.script(response(200, body, {"Content-Type": ctype, "Content-Encoding": coding}))
    before = _peak_mb()
    with pytest.raises(ResponseTooLarge, match="size cap of 4 MB"):
        _call(client, Preset("f", srv.base_url, "m"), face, stream)
    # The peak of the whole process: a layer unpacked at once would add hundreds of MB.
    assert _peak_mb() - before < 150


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_compressed_error_page_is_read_only_as_far_as_its_own_cap(
    srv: FaultServer, client: Client, face: str
) -> None:
    srv.script(
        response(500, NESTED, {"Content-Type": "text/plain", "Content-Encoding": "gzip, gzip"})
    )
    before = _peak_mb()
    with pytest.raises(ServerError, match="Server error 500"):
        _call(client, Preset("f", srv.base_url, "m"), face, stream=False)
    assert _peak_mb() - before < 150


def test_a_compressed_model_list_is_capped(srv: FaultServer, client: Client) -> None:
    srv.script(
        response(
            200, NESTED, {"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}
        )
    )
    report = client.test_connection(Preset("f", srv.base_url, "m"))
    assert not report.ok
    assert "size cap of 4 MB" in (report.error or "")


def _json(text: str) -> bytes:
    return json.dumps(completion(text)).encode()


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize(
    "coding, pack",
    [
        ("gzip", gzip.compress),
        ("x-gzip", lambda data: gzip.compress(data[:100]) + gzip.compress(data[100:])),  # 2 members
        ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 says
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw, as some servers send it
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
        ("identity", lambda data: data),
    ],
)
def test_honest_compressed_answers_read_whole(
    srv: FaultServer, client: Client, coding: str, pack: Any, face: str
) -> None:
    text = "Bonjour le monde. " * 5000  # ~90 KB: more than one step of every layer
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    srv.script(response(200, pack(_json(text)), headers))
    result = _call(client, Preset("f", srv.base_url, "m"), face, stream=False)
    assert result.text == text
    assert srv.requests[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_compressed_stream_arrives_delta_by_delta(
    srv: FaultServer, client: Client, face: str
) -> None:
    words = [f"w{i} " for i in range(3000)]
    events = sse(*(chat_chunk(w) for w in words), chat_chunk(finish="stop")) + b"data: [DONE]\n\n"
    headers = {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
    srv.script(response(200, gzip.compress(events), headers))
    *deltas, result = _call(client, Preset("f", srv.base_url, "m"), face, stream=True)
    assert "".join(deltas) == result.text == "".join(words)


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize(
    "coding, named",
    [
        ("br", "as 'br'"),
        ("zstd", "as 'zstd'"),
        ("compress", "as 'compress'"),
        ("gzip, x sk-abc123", "in an unknown way"),
    ],
)
def test_a_coding_not_asked_for_is_named(
    srv: FaultServer, client: Client, coding: str, named: str, face: str
) -> None:
    headers = {"Content-Type": "application/json", "Content-Encoding": coding}
    srv.script(response(200, b"\x1b\x00 not json", headers))
    with pytest.raises(StreamError) as caught:
        _call(client, Preset("f", srv.base_url, "m"), face, stream=False)
    said = caught.value.message
    assert f"is compressed {named}, which compat_nb did not ask for" in said
    assert "sk-abc123" not in said


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_damaged_compressed_body_is_one_message(
    srv: FaultServer, client: Client, face: str
) -> None:
    body = gzip.compress(_json("Bonjour"))
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    srv.script(response(200, body[:12] + b"\xff" * 40 + body[52:], headers))
    with pytest.raises(StreamError, match="could not be decoded"):
        _call(client, Preset("f", srv.base_url, "m"), face, stream=False)
