"""A chat stream, chunk by chunk: bytes in, text deltas out, a ChatResult (or why not) at the end.

No I/O of its own: the client feeds it what it reads. The deltas it returns always add up to
the text of the result, including text that arrives in a last event with no closing blank line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from ..config.presets import Preset
from ..config.urls import shown_url
from ..errors import InvalidResponseError, StreamError, redact
from .diagnosis import decode_body, html_error, sentence, server_message
from .empty import INTERRUPT_CAUSE, empty_answer
from .protocol import (
    ChatResult,
    Usage,
    message_reasoning,
    parse_chat_response,
    split_reasoning,
    valid_text,
)
from .sse import LineSplitter, ServerSentEvent, SSEDecoder
from .textbuffer import TextBuffer, is_blank

__all__ = ["ChatAccumulator", "StreamState", "with_timings"]

_scan = json.JSONDecoder().raw_decode


class ChatAccumulator:
    """Turns parsed stream chunks into text deltas and, at the end, a ChatResult.

    A leading `<think>` block can arrive split across chunks ("<thi", "nk>"), so content is
    held back until it is clear whether it opens one.
    """

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(
        self,
        *,
        where: str,
        secrets: Iterable[str] | Callable[[], Iterable[str]] = (),
        text: TextBuffer | None = None,
    ) -> None:
        self.where = where
        # Scrubbed from messages (a server may echo the key); a callable is asked only when a
        # message is made, not once per answer.
        self._given_secrets = secrets
        # The one copy of a long answer (not an object per token); the caller's, when given,
        # so a display reads the partial text from it instead of keeping a copy of its own.
        self._text = TextBuffer() if text is None else text
        self._reasoning: list[str] = []  # <think> blocks
        self._reasoning_field = TextBuffer()  # `reasoning_content` deltas: pieces of one text
        self._held: list[str] = []  # content held while it may still open a <think> block
        self._head = ""  # its first non-blank characters: a prefix of "<think>" while held
        self._think = TextBuffer()  # the open <think> block's text so far
        self._think_tail = ""  # its last characters: the start of a "</think>" split in two
        self._state = "start"  # start -> (think -> after ->) text
        self._high = ""  # a delta's last character, the first half of a pair split in two
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.chunks = 0
        self.started = False  # any content or reasoning has arrived
        self.events = 0  # JSON chunks received
        self.with_choices = 0  # of which carried `choices` (an OpenAI chat stream does)

    @property
    def text(self) -> str:
        return str(self._text)

    @property
    def _secrets(self) -> tuple[str, ...]:
        given = self._given_secrets
        return tuple(given() if callable(given) else given)

    def feed(self, data: str) -> str:
        """One SSE `data` payload; returns the answer text it adds (often '')."""
        try:
            chunk, end = _scan(data)  # json.loads without its two whitespace scans
            if end != len(data):
                chunk = json.loads(data)  # trailing text: let json say what is wrong
        except ValueError:
            raise StreamError(
                f"{self.where} sent a stream chunk that is not JSON: "
                f"{redact(data, *self._secrets)[:120]!r}.",
                partial=self.text,
            ) from None
        # Each check is written for the dict json.loads gives, the ABC only as a fallback:
        # this runs once per token.
        if type(chunk) is not dict and not isinstance(chunk, Mapping):
            return ""
        if chunk.get("error"):
            raise self.error(server_message(chunk, self._secrets))
        self.events += 1
        choices = chunk.get("choices")
        if choices is not None or "choices" in chunk:
            self.with_choices += 1
        model = chunk.get("model")
        if model:
            self.model = model
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = Usage.from_json(usage) or self.usage
        if not choices:
            return ""
        out = ""
        for choice in choices:
            if type(choice) is not dict and not isinstance(choice, Mapping):
                continue
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if "reasoning_content" in delta or "reasoning" in delta:
                reasoning = valid_text(message_reasoning(delta))
                if reasoning:
                    self.started = True
                    self._reasoning_field.append(reasoning)
            content = delta.get("content")
            if content and isinstance(content, str) and (self._high or not content.isascii()):
                content = self._paired(content)
            if content and isinstance(content, str):
                self.started = True
                self.chunks += 1
                if self._state == "text":  # past any <think> block: straight through
                    self._text.append(content)
                    out += content
                else:
                    out += self._route(content)
            finish = choice.get("finish_reason")
            if finish:
                self.finish_reason = finish
        return out

    def error(self, said: str) -> StreamError:
        """The server reported an error inside the stream (in any of its forms)."""
        kept = " The text received so far is kept." if self.text else ""
        return StreamError(
            f"{self.where} reported an error in its stream: {sentence(said or 'no details')}{kept}",
            partial=self.text,
        )

    def _route(self, content: str) -> str:
        """Content before the answer text proper: a leading `<think>` block is taken out.

        Each piece is looked at once (plus the few characters a split tag needs), so a block
        that never closes, or blank lines that never end, cost time linear in their length.
        """
        if self._state == "start":
            self._held.append(content)
            head = content if self._head else content.lstrip()
            if not head:
                return ""  # blank so far: could still come before "<think>"
            self._head += head
            if self._head.startswith(self._OPEN):
                content = self._head[len(self._OPEN) :]
                self._state, self._held, self._head = "think", [], ""
            elif self._OPEN.startswith(self._head):
                return ""  # still could be "<think>"
            else:
                return self._emit("".join(self._held))
        if self._state == "think":
            seen = self._think_tail + content
            at = seen.find(self._CLOSE)
            if at < 0:
                self._think.append(content)
                self._think_tail = seen[-(len(self._CLOSE) - 1) :]
                return ""
            end = self._think.length - len(self._think_tail) + at  # where "</think>" starts
            self._think.append(content)
            block = str(self._think)
            self._reasoning.append(block[:end].strip())
            content = block[end + len(self._CLOSE) :]
            self._think, self._think_tail, self._state = TextBuffer(), "", "after"
        # after the block: blank lines between it and the answer are dropped
        content = content.lstrip()
        return self._emit(content) if content else ""

    def _paired(self, content: str) -> str:
        """content with a pair split across deltas joined, and no lone surrogate left."""
        content, self._high = self._high + content, ""
        if "\ud800" <= content[-1] <= "\udbff":  # its other half may open the next delta
            content, self._high = content[:-1], content[-1]
        return valid_text(content)

    def _emit(self, text: str) -> str:
        self._state = "text"
        self._text.append(text)
        return text

    def finish(self) -> str:
        """Flush what was held back; returns the text it adds."""
        if self._high:  # a first half that no second half followed
            self._high = ""
            if self._state == "text":
                self._text.append("\ufffd")
                return "\ufffd" + self.finish()
            return self._route("\ufffd") + self.finish()
        if self._state == "think":
            self._reasoning.append(str(self._think).strip())
            self._think, self._think_tail = TextBuffer(), ""
            return ""
        if self._state == "start" and self._held:
            held, self._held, self._head = "".join(self._held), [], ""
            return self._emit(held)
        return ""

    def result(self, *, latency_ms: float | None, ttft_ms: float | None) -> ChatResult:
        text, late_reasoning = split_reasoning(self.text)  # a lone </think> only shows at the end
        parts = [str(self._reasoning_field), *self._reasoning, late_reasoning]
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
    """One stream's bookkeeping, shared by both faces: bytes to lines to events to deltas.

    After `[DONE]` the rest of the body is read and ignored, except that a connection cut
    right after a `[DONE]` that came without any finish reason is how llama-cpp-python's
    server abandons a request when another arrives: `result` reports that as interrupted.
    """

    def __init__(
        self,
        preset: Preset,
        content_type: str,
        *,
        model: str | None = None,
        text: TextBuffer | None = None,
    ) -> None:
        self.preset = preset
        self.model = model
        self.where = shown_url(preset.base_url)
        self.splitter = LineSplitter()
        self.decoder = SSEDecoder()
        self.acc = ChatAccumulator(where=self.where, secrets=preset.secrets, text=text)
        self.done = False  # [DONE] seen
        self.cut_after_done = False
        self.received = 0  # bytes of body
        if "html" in content_type.lower():
            raise html_error(preset.base_url)
        # A server that ignores "stream": true answers with one JSON body; accept it.
        self.plain = "json" in content_type.lower() and "event-stream" not in content_type.lower()
        self._plain = bytearray()

    @property
    def partial(self) -> str:
        return self.acc.text

    @property
    def started(self) -> bool:
        return self.acc.started

    def feed(self, data: bytes) -> str:
        """A piece of the body; returns the text deltas it completes."""
        self.received += len(data)
        if self.plain:
            self._plain += data
            return ""
        if self.done:
            return ""  # blank lines, comments or pings after [DONE]
        out = []
        chunk = self.acc.feed
        for event in self.decoder.decode_all(self.splitter.feed(data)):
            if isinstance(event, str):  # one data line: a chunk, or [DONE]
                delta = chunk(event) if event[:1] == "{" else self._event(ServerSentEvent(event))
            else:
                delta = self._event(event)
            if delta:
                out.append(delta)
            elif self.done:
                break
        return "".join(out)

    def _line(self, line: str) -> str:
        if self.done:
            return ""
        event = self.decoder.decode(line)
        return self._event(event) if event is not None else ""

    def _event(self, event: ServerSentEvent) -> str:
        data, kind, error = event.data, event.event, event.error
        if error is None and kind is None and data[:1] == "{":
            return self.acc.feed(data)  # a chunk: the path every token takes
        if error is not None:  # `error: {...}` (older llama.cpp servers)
            raise self.acc.error(_said(error, self.preset))
        if kind == "error":
            raise self.acc.error(_said(data, self.preset))
        if data.strip() == "[DONE]":
            self.done = True
            return ""
        return self.acc.feed(data)

    def broke(self) -> bool:
        """The body ended badly; True when that is of no consequence (after [DONE])."""
        if self.done:
            self.cut_after_done = True
            return True
        return False

    def end(self) -> str:
        """The body ended: the deltas still held back (a last event with no blank line after
        it, a `<thi` that turned out not to open a think block)."""
        if self.plain:
            return ""
        out = "".join(self._line(line) for line in self.splitter.flush())
        if not self.done:
            tail = self.decoder.flush()
            if tail is not None:
                out += self._event(tail)
        return out + self.acc.finish()

    def result(self, *, latency_ms: float, ttft_ms: float | None) -> ChatResult:
        """The finished answer; raises when the body was cut or carries no text."""
        if self.plain:
            body = decode_body(bytes(self._plain), "application/json")
            result = parse_chat_response(body, preset=self.preset, model=self.model)
            result = with_timings(result, latency_ms=latency_ms, ttft_ms=latency_ms)
            # Judged as a non-streamed answer is: no text (reasoning only, an unclosed
            # <think>) is an empty answer with its cause, not a translation of nothing.
            if is_blank(result.text):
                raise empty_answer(self.preset, result)
            return result
        acc = self.acc
        interrupted = self.done and self.cut_after_done and acc.finish_reason is None
        if interrupted and not is_blank(acc.text):
            raise StreamError(
                f"{self.where} ended the stream after {len(acc.text):,} characters with no "
                "finish reason and dropped the connection, so the text is incomplete (it is "
                f"kept). {INTERRUPT_CAUSE}",
                partial=acc.text,
                reason="interrupted",
            )
        if not self.done and acc.finish_reason is None and self.received:
            raise StreamError(
                f"The stream from {self.where} ended without [DONE] after {len(acc.text):,} "
                "characters; the text received so far is kept. Run the cell again to retry.",
                partial=acc.text,
            )
        if acc.events and not acc.with_choices:
            raise InvalidResponseError(
                f"{self.where} streamed chunks without `choices`, so it is not an OpenAI chat "
                "completion stream. Check that the Base URL is the API root of an "
                "OpenAI-compatible server.",
                status_code=200,
            )
        result = acc.result(latency_ms=latency_ms, ttft_ms=ttft_ms)
        if is_blank(result.text):
            raise empty_answer(
                self.preset,
                result,
                interrupted=interrupted,
                empty_body=not self.received,
            )
        return result


def _said(raw: str, preset: Preset) -> str:
    try:
        return server_message(json.loads(raw), preset.secrets())
    except ValueError:
        return server_message(raw, preset.secrets())


def with_timings(result: ChatResult, *, latency_ms: float, ttft_ms: float | None) -> ChatResult:
    return replace(result, latency_ms=latency_ms, ttft_ms=ttft_ms)
