"""A chat stream, chunk by chunk: SSE events in, text deltas out, a ChatResult at the end.

No I/O of its own: both faces of the client feed it the lines they read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

import httpx

from ..config.presets import Preset
from ..errors import CompatError, InvalidResponseError, StreamError, redact
from .diagnosis import decode_body, html_error, read_timeout, server_message, timeout_text
from .protocol import ChatResult, Usage, message_reasoning, parse_chat_response, split_reasoning
from .sse import SSEDecoder

__all__ = ["ChatAccumulator", "StreamState", "with_timings"]


class ChatAccumulator:
    """Turns parsed stream chunks into text deltas and, at the end, a ChatResult.

    A leading `<think>` block can arrive split across chunks ("<thi", "nk>"), so content is
    held back until it is clear whether it opens one.
    """

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self, *, where: str, secrets: Iterable[str] = ()) -> None:
        self.where = where
        self._secrets = tuple(secrets)  # scrubbed from messages: a server may echo the key
        self._text: list[str] = []
        self._reasoning: list[str] = []  # <think> blocks
        self._reasoning_field = ""  # `reasoning_content` deltas: pieces of one text
        self._pending = ""
        self._state = "start"  # start -> (think -> after ->) text
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.chunks = 0
        self.started = False  # any content or reasoning has arrived

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, data: str) -> str:
        """One SSE `data` payload; returns the answer text it adds (often '')."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(
                f"{self.where} sent a stream chunk that is not JSON: "
                f"{redact(data, *self._secrets)[:120]!r}.",
                partial=self.text,
            ) from None
        if not isinstance(chunk, Mapping):
            return ""
        if chunk.get("error"):
            raise StreamError(
                f"{self.where} reported an error mid-stream: "
                f"{server_message(chunk, self._secrets)}. "
                "The text received so far is kept.",
                partial=self.text,
            )
        self.model = chunk.get("model") or self.model
        self.usage = Usage.from_json(chunk.get("usage")) or self.usage
        out = ""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = message_reasoning(delta)
            if reasoning:
                self.started = True
                self._reasoning_field += reasoning
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.started = True
                self.chunks += 1
                out += self._route(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _route(self, content: str) -> str:
        if self._state == "text":
            self._text.append(content)
            return content
        self._pending += content
        if self._state == "start":
            head = self._pending.lstrip()
            if head.startswith(self._OPEN):
                self._state, self._pending = "think", head[len(self._OPEN) :]
            elif self._OPEN.startswith(head):
                return ""  # still could be "<think>"
            else:
                return self._emit_pending()
        if self._state == "think":
            inner, sep, rest = self._pending.partition(self._CLOSE)
            if not sep:
                return ""
            self._reasoning.append(inner.strip())
            self._state, self._pending = "after", rest
        if self._state == "after":
            self._pending = self._pending.lstrip()
            if not self._pending:
                return ""
            return self._emit_pending()
        return ""

    def _emit_pending(self) -> str:
        out, self._pending, self._state = self._pending, "", "text"
        self._text.append(out)
        return out

    def finish(self) -> str:
        """Flush what was held back; returns the text it adds."""
        if self._state == "think":
            self._reasoning.append(self._pending.strip())
            self._pending = ""
            return ""
        return self._emit_pending() if self._pending else ""

    def result(self, *, latency_ms: float | None, ttft_ms: float | None) -> ChatResult:
        text, late_reasoning = split_reasoning(self.text)  # a lone </think> only shows at the end
        parts = [self._reasoning_field, *self._reasoning, late_reasoning]
        reasoning = "\n".join(r for r in parts if r)
        return ChatResult(
            text=text,
            reasoning=reasoning,
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            chunks=self.chunks,
        )


class StreamState:
    """Per-stream bookkeeping shared by both faces: SSE decoding, timings, errors."""

    def __init__(self, preset: Preset, response: httpx.Response, started: float) -> None:
        self.preset = preset
        self.request = response.request
        self.started = started
        self.ttft_ms: float | None = None
        self.decoder = SSEDecoder()
        self.acc = ChatAccumulator(where=preset.base_url, secrets=preset.secrets())
        self.done = False
        content_type = response.headers.get("content-type", "")
        if "html" in content_type:
            raise html_error(str(response.url))
        # A server that ignores "stream": true answers with one JSON body; accept it.
        self.plain = "json" in content_type and "event-stream" not in content_type
        self._plain_lines: list[str] = []

    def line(self, line: str) -> str:
        if self.done:
            return ""  # a server may send a blank line or comment after [DONE]
        if self.plain:
            self._plain_lines.append(line)
            return ""
        event = self.decoder.decode(line)
        if event is None:
            return ""
        if event.data.strip() == "[DONE]":
            self.done = True
            return ""
        delta = self.acc.feed(event.data)
        if self.ttft_ms is None and self.acc.started:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000
        return delta

    def broken(self, exc: Exception) -> CompatError:
        partial = self.acc.text
        if isinstance(exc, httpx.TimeoutException):
            return StreamError(
                timeout_text(self.preset, read_timeout(self.request))
                + " The text received so far is kept.",
                partial=partial,
            )
        return StreamError(
            f"The stream from {self.preset.base_url} broke off ({type(exc).__name__}) after "
            f"{len(partial)} characters; the text received so far is kept. Run the cell "
            "again to retry.",
            partial=partial,
        )

    def finish(self) -> ChatResult:
        latency = (time.perf_counter() - self.started) * 1000
        if self.plain:
            body = decode_body("\n".join(self._plain_lines).encode(), "application/json")
            return with_timings(
                parse_chat_response(
                    body, where=self.preset.base_url, secrets=self.preset.secrets()
                ),
                latency_ms=latency,
                ttft_ms=latency,
            )
        tail = self.decoder.flush()
        if tail is not None and tail.data.strip() != "[DONE]":
            self.acc.feed(tail.data)
        self.acc.finish()
        if not self.done and self.acc.finish_reason is None:
            raise self.broken(httpx.RemoteProtocolError("stream ended without [DONE]"))
        if not self.acc.started and self.acc.finish_reason is None:
            raise InvalidResponseError(
                f"{self.preset.base_url} sent an empty stream. Check that the server supports "
                "streaming, or use --no-stream. (llama-cpp-python's server ends a running "
                "request this way when another arrives, unless started with "
                "--interrupt_requests False.)",
            )
        return self.acc.result(latency_ms=latency, ttft_ms=self.ttft_ms)


def with_timings(result: ChatResult, *, latency_ms: float, ttft_ms: float | None) -> ChatResult:
    return replace(result, latency_ms=latency_ms, ttft_ms=ttft_ms)
