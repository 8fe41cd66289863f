"""The server-sent-events decoder: pure, line in, event out."""

from __future__ import annotations

import json
from pathlib import Path

from compat_nb.wire.sse import ServerSentEvent, SSEDecoder, iter_events

FIXTURES = Path(__file__).parent / "fixtures" / "llama-cpp-python-0.3.36"  # recorded, real


def decode_all(lines: list[str]) -> list[ServerSentEvent]:
    return list(iter_events(lines))


def test_blank_line_dispatches_one_event() -> None:
    decoder = SSEDecoder()
    assert decoder.decode('data: {"a": 1}') is None
    assert decoder.decode("") == ServerSentEvent('{"a": 1}')
    assert decoder.decode("") is None  # nothing pending


def test_comments_are_ignored() -> None:
    events = decode_all([": keep-alive", "", "data: x", ": ping in the middle", "", ":"])
    assert events == [ServerSentEvent("x")]


def test_multi_line_data_is_joined_with_newlines() -> None:
    events = decode_all(["data: first", "data:second", "data:  third", ""])
    assert events[0].data == "first\nsecond\n third"  # only one space after the colon goes


def test_data_without_colon_is_an_empty_line_of_data() -> None:
    assert decode_all(["data", "data: x", ""])[0].data == "\nx"


def test_event_id_retry_fields() -> None:
    events = decode_all(
        ["event: error", "id: 7", "retry: 1500", "data: boom", "", "data: next", "retry: soon", ""]
    )
    assert events[0] == ServerSentEvent("boom", event="error", id="7", retry=1500)
    # The last event id carries over; event type and retry do not; a bad retry is ignored.
    assert events[1] == ServerSentEvent("next", event=None, id="7", retry=None)


def test_id_with_nul_is_ignored() -> None:
    assert decode_all(["id: a\0b", "data: x", ""])[0].id is None


def test_crlf_line_endings_and_unknown_fields() -> None:
    events = decode_all(["data: x\r\n", "foo: bar\r\n", "\r\n"])
    assert events == [ServerSentEvent("x")]


def test_done_marker_is_plain_data() -> None:
    assert decode_all(["data: [DONE]", ""]) == [ServerSentEvent("[DONE]")]


def test_final_event_without_blank_line_is_flushed() -> None:
    assert decode_all(["data: a", "", "data: tail"]) == [
        ServerSentEvent("a"),
        ServerSentEvent("tail"),
    ]
    decoder = SSEDecoder()
    decoder.decode("data: pending")
    assert decoder.flush() == ServerSentEvent("pending")
    assert decoder.flush() is None


def test_recorded_llama_cpp_stream() -> None:
    raw = (FIXTURES / "chat_stream.http").read_bytes().decode()
    body = raw.split("\r\n\r\n", 1)[1]  # after the status line and headers
    events = decode_all(body.split("\n"))
    assert events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in events[:-1]]
    assert len(chunks) == 14
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "Je suis le Jouy, je ne sais"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
