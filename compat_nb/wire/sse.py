"""A server-sent-events decoder with no I/O: feed it lines, get events.

Follows the WHATWG rules that matter for chat streams: `:` comments, multi-line `data`,
blank-line dispatch, an optional space after the colon, and `data` without a colon. One
field outside the standard is kept: `error:`, which older llama.cpp servers send instead of
a `data:` error payload. `LineSplitter` cuts a byte stream into lines (CRLF, LF or CR).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["LineSplitter", "SSEDecoder", "ServerSentEvent", "iter_events"]


@dataclass(frozen=True)
class ServerSentEvent:
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
        line = line.rstrip("\r\n")
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

    def flush(self) -> ServerSentEvent | None:
        """The event pending at end of stream, when the server omitted the final blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and self._event is None and not self._error:
            return None
        error = "\n".join(self._error) if self._error else None
        event = ServerSentEvent("\n".join(self._data), self._event, self._id, self._retry, error)
        self._data, self._event, self._retry, self._error = [], None, None, []
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
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        if text.endswith("\r"):
            text, self._pending = text[:-1], "\r"
        else:
            self._pending = ""
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._pending = lines.pop() + self._pending
        return lines

    def flush(self) -> list[str]:
        text = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return [line for line in lines if line] if text else []
