"""One chat answer or one model list, from request to result: the cores the client runs.

A chat core gets a 2xx head from the retry core, reads the body within the answer's size cap
and deadline (streamed: delta by delta; plain: whole), and checks that the answer holds text.
When the server refuses a parameter it names (`stream_options`, `stream`, `max_tokens` for
`max_completion_tokens`), the request is sent once more without it and the root remembers it.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from ..config.presets import Preset
from ..errors import BadRequestError, CompatError, EmptyAnswerError
from .actions import Body, Budget, Close, Core, Emit, Pump, Read
from .diagnosis import decode_body, error_in_body, html_error, is_html
from .empty import empty_answer
from .failures import Exchange, failure, too_large
from .protocol import RetryPolicy, parse_chat_response, parse_models
from .retry import NO_RETRY, Timing, attempts
from .streaming import StreamState, with_timings
from .textbuffer import TextBuffer, is_blank

__all__ = [
    "NO_STREAM",
    "NO_STREAM_OPTIONS",
    "USE_MAX_COMPLETION",
    "ChatCall",
    "Quirks",
    "chat",
    "models",
    "refused",
]

NO_STREAM_OPTIONS = "no stream_options"
NO_STREAM = "no streaming"
USE_MAX_COMPLETION = "max_completion_tokens"

_NOTES = {
    NO_STREAM: "The server refused to stream this model's answer (400 on `stream`), so it was "
    "asked again without streaming; the rest of this session does the same for this server.",
    USE_MAX_COMPLETION: "The server asked for `max_completion_tokens` instead of `max_tokens`; "
    "the request was sent again with it, and the rest of this session does the same.",
}
_REFUSES_STREAM = re.compile(
    r"(does not|doesn't|cannot|can't) (support )?stream|stream(ing)? (is )?(not supported|"
    r"unsupported|not allowed|not available)|unsupported (value|parameter)[^.]{0,40}stream",
    re.I,
)


class Quirks:
    """What each API root turned out to refuse, remembered for the rest of the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roots: dict[str, set[str]] = {}

    def has(self, root: str, quirk: str) -> bool:
        with self._lock:
            return quirk in self._roots.get(root, set())

    def add(self, root: str, quirk: str) -> None:
        with self._lock:
            self._roots.setdefault(root, set()).add(quirk)


def refused(exc: CompatError, body: dict[str, Any]) -> str | None:
    """The quirk a 400 reveals about the request `body` it answered, if it names one."""
    if not isinstance(exc, BadRequestError):
        return None
    said = exc.message
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    param = str(error.get("param") or "") if isinstance(error, dict) else ""
    if "stream_options" in body and ("stream_options" in said or param == "stream_options"):
        return NO_STREAM_OPTIONS
    if body.get("stream") and (param == "stream" or _REFUSES_STREAM.search(said)):
        return NO_STREAM
    if "max_tokens" in body and "max_completion_tokens" in said:
        return USE_MAX_COMPLETION
    return None


@dataclass
class ChatCall:
    """Everything one chat answer needs; `build(stream, quirks)` makes its request."""

    preset: Preset
    model: str
    build: Callable[[bool], httpx.Request]
    policy: RetryPolicy
    budget: Budget
    quirks: Quirks
    stream: bool
    read_timeout: float
    # Where a streamed answer's deltas go as they are yielded (the caller's one copy).
    text: TextBuffer | None = None

    def emit(self, text: str) -> Emit:
        """An Emit of text that did not come through the stream's accumulator."""
        if self.text is not None:
            self.text.append(text)
        return Emit(text)


def chat(call: ChatCall) -> Core:
    """The chat core: deltas as Emit actions when streaming, a ChatResult at the end."""
    root = call.preset.base_url
    notes: list[str] = []
    began = time.perf_counter()
    stream = call.stream and not call.quirks.has(root, NO_STREAM)
    tried: set[str] = set()
    timing = Timing(began)  # one for all attempts: a re-send after a refusal is waiting too
    while True:
        request = call.build(stream)
        ex = Exchange(call.preset, read_timeout=call.read_timeout, deadline_s=call.budget.seconds)
        try:
            response = yield from attempts(
                request,
                preset=call.preset,
                model=call.model,
                endpoint="chat/completions",
                policy=call.policy,
                budget=call.budget,
                ex=ex,
                timing=timing,
            )
        except BadRequestError as exc:
            sent = _json(request)
            quirk = refused(exc, sent)
            if quirk is None or quirk in tried:
                raise
            tried.add(quirk)
            call.quirks.add(root, quirk)
            if quirk == NO_STREAM:
                stream = False
            if quirk in _NOTES:
                notes.append(_NOTES[quirk])
            continue
        try:
            if stream:
                result = yield from _read_stream(call, response, ex, timing)
            else:
                result = yield from _read_plain(call, response, ex, timing)
                if call.stream:
                    yield call.emit(result.text)  # a stream's consumer gets the text all the same
        except EmptyAnswerError as exc:
            if not (stream and exc.reason == "context" and "no event at all" in exc.message):
                raise
            # llama.cpp's servers answer an over-long streamed prompt with an empty 200; the
            # same request without streaming gets the server's own error (or the answer).
            stream = False
            if "empty stream" not in tried:
                tried.add("empty stream")
                continue
            raise
        return replace(result, waited_ms=timing.waited_ms, notes=tuple(notes))


def _json(request: httpx.Request) -> dict[str, Any]:
    import json

    try:
        body = json.loads(request.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _read_stream(call: ChatCall, response: httpx.Response, ex: Exchange, timing: Timing) -> Core:
    content_type = response.headers.get("content-type", "")
    state = StreamState(call.preset, content_type, model=call.model, text=call.text)
    ex.started = True
    ttft_ms: float | None = None
    stopped: list[CompatError] = []

    def feed(piece: bytes) -> str | None:
        """One piece of the body, read by the face; None stops the reading (`stopped` says
        why). Runs once per token: kept to what each piece needs."""
        nonlocal ttft_ms
        if state.received + len(piece) > call.budget.max_bytes:
            ex.partial = state.partial
            stopped.append(too_large(ex, call.budget.max_bytes))
            return None
        try:
            delta = state.feed(piece)
        except CompatError as exc:
            stopped.append(exc)
            return None
        if ttft_ms is None and state.started:
            ttft_ms = (time.perf_counter() - timing.sent_at) * 1000
        return delta

    error = yield Pump(response, feed)
    if stopped:
        raise stopped[0]
    # A read failed: nothing lost when the answer was complete at [DONE] (what follows does
    # not matter), else it is the stream's failure.
    if error is not None and not state.broke():
        ex.partial = state.partial
        raise failure(error, ex, deadline_over=call.budget.over()) from None
    yield Close(response)
    tail = state.end()
    if tail:
        yield Emit(tail)
    latency_ms = (time.perf_counter() - timing.sent_at) * 1000
    result = state.result(latency_ms=latency_ms, ttft_ms=ttft_ms)
    if state.plain and result.text:
        yield call.emit(result.text)  # a server that ignored "stream": true sent it all at once
    return result


def _read_plain(call: ChatCall, response: httpx.Response, ex: Exchange, timing: Timing) -> Core:
    ex.started = True
    body: Body = yield Read(response, call.budget.max_bytes)
    if body.truncated:
        raise too_large(ex, call.budget.max_bytes)
    if body.error is not None:
        raise failure(body.error, ex, deadline_over=call.budget.over())
    content_type = response.headers.get("content-type", "")
    decoded = decode_body(body.data, content_type)
    if is_html(content_type, decoded):
        raise html_error(str(response.url))
    result = parse_chat_response(decoded, preset=call.preset, model=call.model)
    latency_ms = (time.perf_counter() - timing.sent_at) * 1000
    result = with_timings(result, latency_ms=latency_ms, ttft_ms=None)
    if is_blank(result.text):
        raise empty_answer(call.preset, result)
    return result


def models(
    preset: Preset, request: httpx.Request, budget: Budget, ex: Exchange, timing: Timing
) -> Core:
    """The models core: the ids `GET {base}/models` lists (no retries: it answers in time)."""
    response = yield from attempts(
        request,
        preset=preset,
        model=None,
        endpoint="models",
        policy=NO_RETRY,
        budget=budget,
        ex=ex,
        timing=timing,
    )
    ex.started = True
    body: Body = yield Read(response, budget.max_bytes)
    if body.truncated:
        raise too_large(ex, budget.max_bytes)
    if body.error is not None:
        raise failure(body.error, ex, deadline_over=budget.over())
    content_type = response.headers.get("content-type", "")
    decoded = decode_body(body.data, content_type)
    if is_html(content_type, decoded):
        raise html_error(str(response.url))
    if isinstance(decoded, dict) and decoded.get("error"):
        raise error_in_body(decoded, preset=preset, url=str(response.url), endpoint="models")
    ids: list[str] = parse_models(decoded)
    return _scrubbed(ids, preset)


def _scrubbed(ids: list[str], preset: Preset) -> list[str]:
    """The ids with the preset's secrets masked: a gateway may name models after the account
    or key they belong to, and ids are printed by test, models and the panel. Checked on the
    joined list first, so a list of millions costs one pass when (as always) nothing is there."""
    joined = "\n".join(ids)
    if preset.redact(joined) == joined:
        return ids
    return [preset.redact(model_id) for model_id in ids]
