"""A server-sent-events decoder with no I/O: feed it lines, get events.

Follows the WHATWG rules that matter for chat streams: `:` comments, multi-line `data`,
blank-line dispatch, an optional space after the colon, and `data` without a colon. One
field outside the standard is kept: `error:`, which older llama.cpp servers send instead of
a `data:` error payload. `LineSplitter` cuts a byte stream into lines (CRLF, LF or CR).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = ["LineSplitter", "SSEDecoder", "ServerSentEvent", "iter_events"]


class ServerSentEvent(NamedTuple):
    """One dispatched event (a tuple: one is made per streamed token, so it must be cheap)."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    error: str | None = None  # an `error:` field (not WHATWG; older llama.cpp servers)


class SSEDecoder:
    """Accumulates fields line by line; `decode` returns an event at each blank line."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._error: list[str] = []

    def decode(self, line: str) -> ServerSentEvent | None:
        if line[-1:] in ("\n", "\r"):
            line = line.rstrip("\r\n")
        if line.startswith("data: "):  # nearly every line of a chat stream: checked first
            self._data.append(line[6:])
            return None
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment, e.g. keep-alive pings
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        elif name == "error":
            self._error.append(value)
        return None

    def decode_all(self, lines: Iterable[str]) -> list[str | ServerSentEvent]:
        """`decode` over lines without line ends (as `LineSplitter` gives them): the events
        they complete, in order. An event of one `data` line and nothing else (a chat
        stream's every token) comes as its data alone, a str: no event object, no join."""
        events: list[str | ServerSentEvent] = []
        data = self._data
        for line in lines:
            if line.startswith("data: "):
                data.append(line[6:])
            elif line:
                self.decode(line)
                data = self._data
            elif len(data) == 1 and self._event is None and not self._error:
                events.append(data[0])
                data = self._data = []
                self._retry = None
            else:
                event = self._dispatch()
                data = self._data
                if event is not None:
                    events.append(event)
        return events

    def flush(self) -> ServerSentEvent | None:
        """The event pending at end of stream, when the server omitted the final blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        data, error = self._data, self._error
        if not data and self._event is None and not error:
            return None
        event = ServerSentEvent(
            data[0] if len(data) == 1 else "\n".join(data),
            self._event,
            self._id,
            self._retry,
            "\n".join(error) if error else None,
        )
        self._data, self._event, self._retry = [], None, None
        if error:
            self._error = []
        return event


def iter_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """Events from an iterable of lines (as `httpx.Response.iter_lines()` gives them)."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.decode(line)
        if event is not None:
            yield event
    tail = decoder.flush()
    if tail is not None:
        yield tail


class LineSplitter:
    """Bytes in, complete lines out (UTF-8, line ends removed); `flush` returns the last one.

    A CR at the end of one chunk may be the first half of a CRLF: it is held until the next.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # the start of a line whose end has not arrived
        self._parts: list[str] = []  # more of it: a long line in small chunks is joined once

    def feed(self, data: bytes) -> list[str]:
        text = self._decoder.decode(data)
        if "\n" not in text and "\r" not in text and not self._pending.endswith("\r"):
            if text:
                self._parts.append(text)  # no line end yet: kept, not copied again
            return []
        if self._parts:
            text = "".join(self._parts) + text
            self._parts = []
        text = self._pending + text
        if "\r" not in text:  # the usual LF-only stream: one split, once per token
            lines = text.split("\n")
            self._pending = lines.pop()
            return lines
        if text.endswith("\r"):
            text, self._pending = text[:-1], "\r"
        else:
            self._pending = ""
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._pending = lines.pop() + self._pending
        return lines

    def flush(self) -> list[str]:
        text = self._pending + "".join(self._parts) + self._decoder.decode(b"", final=True)
        self._pending, self._parts = "", []
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return [line for line in lines if line] if text else []
