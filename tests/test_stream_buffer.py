"""One copy of a streamed answer: `Client.stream(buffer=...)` fills the caller's buffer with every
delta before it is yielded, whatever shape the answer took (a stream, a `<think>` block, a server
that ignored `"stream": true`, one that refused it, a stream cut short), and a `StreamDisplay`
reading that buffer shows what one keeping its own copy shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from faults import (
    LAST_CHUNK,
    FaultServer,
    chat_chunk,
    chunk,
    completion,
    response,
    sse,
    stream_head,
)
from test_display import FrontEnd, prose

from compat_nb import Client, Preset
from compat_nb.errors import StreamError
from compat_nb.faces.display import StreamDisplay
from compat_nb.wire.protocol import RetryPolicy
from compat_nb.wire.textbuffer import TextBuffer, is_blank, leading_blank

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client(retry=RetryPolicy(max_retries=0))
    yield c
    c.close()


def _run(client: Client, preset: Preset, face: str, buffer: TextBuffer) -> list[Any]:
    if face == "sync":
        return list(client.stream(preset, MESSAGES, buffer=buffer))

    async def run() -> list[Any]:
        return [item async for item in client.astream(preset, MESSAGES, buffer=buffer)]

    return asyncio.run(run())


def _streamed(*contents: str, done: bool = True) -> list[bytes]:
    events = [chat_chunk(c) for c in contents]
    tail = sse(chat_chunk(finish="stop")) + b"data: [DONE]\n\n" if done else b""
    return [stream_head(), chunk(sse(*events) + tail), LAST_CHUNK]


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize(
    ("answer", "text"),
    [
        (_streamed(" Bon", "jour", " à", " tous.\n\n"), " Bonjour à tous.\n\n"),
        (_streamed("<thi", "nk>pondering</th", "ink>\n\n", "Salut", "."), "Salut."),
        ([response(200, completion("Tout le texte d'un coup."))], "Tout le texte d'un coup."),
    ],
    ids=["stream", "think block", "stream ignored"],
)
def test_the_buffer_holds_exactly_the_deltas(
    srv: FaultServer, client: Client, face: str, answer: list[bytes], text: str
) -> None:
    srv.script(*answer)
    buffer = TextBuffer()
    *deltas, result = _run(client, Preset("f", srv.base_url, "m"), face, buffer)
    assert str(buffer) == "".join(deltas) == text
    assert result.text == text


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_refused_stream_asked_again_fills_the_buffer_once(
    srv: FaultServer, client: Client, face: str
) -> None:
    refusal = {"error": {"message": "Streaming is not supported.", "param": "stream"}}
    srv.script(response(400, refusal))
    srv.script(response(200, completion("Sans flux.")))
    buffer = TextBuffer()
    *deltas, result = _run(client, Preset("f", srv.base_url, "m"), face, buffer)
    assert str(buffer) == "".join(deltas) == result.text == "Sans flux."
    assert [r.json()["stream"] for r in srv.requests] == [True, False]


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_cut_stream_keeps_in_the_buffer_what_its_error_keeps(
    srv: FaultServer, client: Client, face: str
) -> None:
    srv.script(*_streamed("Début", " de", " phrase", done=False))
    buffer = TextBuffer()
    with pytest.raises(StreamError) as info:
        _run(client, Preset("f", srv.base_url, "m"), face, buffer)
    assert info.value.partial == str(buffer) == "Début de phrase"


def test_a_display_reading_the_stream_buffer_shows_what_a_copy_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = ["\n", "  ", *prose(40)]  # leading blanks: the cleaned final text lacks them
    final = "".join(tokens).strip("\n ")
    shown = []
    for shared in (False, True):
        front = FrontEnd()
        monkeypatch.setattr("IPython.display.display", front.display)
        buffer = TextBuffer() if shared else None
        view = StreamDisplay(kernel=True, rate=20, clock=lambda: 0.0, text=buffer)
        view.start()
        for token in tokens:
            if buffer is not None:
                buffer.append(token)  # as the stream does, before it yields the delta
            view.append(token)
        assert view.text == "".join(tokens)
        view.finish(final, "p · m")
        assert view.text == final
        shown.append((front.outputs, front.messages))
    assert shown[0] == shown[1]
    assert "".join(o["text/plain"] for o in shown[1][0] if "text/plain" in o).startswith(final)


@pytest.mark.parametrize("text", ["", " ", "\n\t \u3000", " a", "a ", "\n\nx\n"])
def test_blank_checks_read_as_strip_does(text: str) -> None:
    assert is_blank(text) == (not text.strip())
    assert leading_blank(text) == len(text) - len(text.lstrip())
