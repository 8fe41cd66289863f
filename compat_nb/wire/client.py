"""The one HTTP client the magic, the panel and comparisons share: /models and /chat/completions.

Each answer is bounded: a per-read timeout, a total deadline (send to last byte) and a size
cap. The logic lives in cores (`exchange.py`, `retry.py`) that the sync and async faces in
`driver.py` run; pools in `transport.py`, proxies in `proxies.py`, the deadline at every
socket operation in `deadline.py`.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from contextlib import aclosing
from typing import Any

import httpx

from .._version import __version__
from ..config.bounds import DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT, check
from ..config.options import check_option
from ..config.presets import Preset
from ..config.urls import join_url
from ..errors import CompatError, ConfigError
from . import exchange
from .actions import Budget
from .decoding import ACCEPT_ENCODING
from .driver import Driver
from .failures import Exchange
from .protocol import ChatResult, ConnectionReport, RetryPolicy
from .retry import Timing
from .textbuffer import TextBuffer
from .transport import Pools

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "TEST_CONNECTION_DEADLINE",
    "Client",
    "get_client",
]

CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_RESPONSE_BYTES = 32 * 2**20  # ~100x the longest translation a chunk can ask for
TEST_CONNECTION_DEADLINE = 5.0

Message = Mapping[str, Any]


class Client:
    """Sync and async access to OpenAI-compatible servers, with pooled connections.

    read_timeout: seconds any one read may wait; deadline: seconds a whole answer may take
    (a preset's `deadline`, or deadline=… per call, wins); max_response_bytes: the size cap
    of one answer. Passing the deadline or the cap raises DeadlineExceeded / ResponseTooLarge,
    whose `partial` keeps the text received.

    Streams are read as server-sent events (WHATWG HTML, "Server-sent events"); redirects
    are followed as RFC 9110 §15.4 says (a key never follows to another host), and 408, 429
    and 5xx answers are retried per `retry`, honouring Retry-After (RFC 9110 §10.2.3).
    """

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        for name, value in (
            ("read_timeout", read_timeout),
            ("connect_timeout", connect_timeout),
            ("deadline", deadline),
        ):
            check("timeout", value, label=f"Client {name}")
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
            raise ConfigError("Client: max_response_bytes must be a whole number of bytes.")
        if max_response_bytes < 1:
            raise ConfigError("Client: max_response_bytes must be at least 1.")
        self.retry = retry or RetryPolicy()
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.pools = Pools(httpx.Limits(max_connections=64, max_keepalive_connections=16))
        self._driver = Driver(self.pools)
        # What each API root refused (stream_options, streaming, max_tokens), for the session.
        self.quirks = exchange.Quirks()
        self._urls: dict[tuple[str, str], httpx.URL] = {}  # parsed once: ~20 µs a request

    def __repr__(self) -> str:
        return (
            f"Client(retries={self.retry.max_retries}, read_timeout={self.read_timeout}, "
            f"deadline={self.deadline}, max_response_bytes={self.max_response_bytes})"
        )

    def close(self) -> None:
        """Close every pooled connection; the client opens new ones if used again."""
        self.pools.close()

    # --- requests ----------------------------------------------------------------------------

    def _headers(self, preset: Preset) -> dict[str, str]:
        headers = {
            "User-Agent": f"compat_nb/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,  # what decoding.py unpacks within the size cap
        }
        headers.update(preset.request_headers())
        key = preset.resolve_key()
        if key:  # an empty key sends no header at all: some servers reject "Bearer "
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _url(self, root: str, endpoint: str) -> httpx.URL:
        """`{root}/{endpoint}`, parsed once per root (an httpx.URL is immutable)."""
        url = self._urls.get((root, endpoint))
        if url is None:
            if len(self._urls) >= 256:  # roots typed one after another: none is kept forever
                self._urls.clear()
            url = self._urls[root, endpoint] = httpx.URL(join_url(root, endpoint))
        return url

    def _timeout(self, read: float) -> dict[str, float | None]:
        connect = min(self.connect_timeout, read)
        return httpx.Timeout(connect=connect, read=read, write=30.0, pool=30.0).as_dict()

    def _budget(self, seconds: float) -> Budget:
        return Budget(seconds=seconds, max_bytes=self.max_response_bytes)

    def _call(
        self,
        preset: Preset,
        messages: Iterable[Message],
        stream: bool,
        overrides: dict[str, Any],
        buffer: TextBuffer | None = None,
    ) -> exchange.ChatCall:
        """Check every option here, for every entry point, before anything is sent."""
        overrides = dict(overrides)
        model = overrides.pop("model", None) or preset.model
        timeout = check_option("timeout", overrides.pop("timeout", None))
        deadline = check_option("deadline", overrides.pop("deadline", None))
        overrides = {name: check_option(name, value) for name, value in overrides.items()}
        if (model or "") != preset.model:  # a replace re-checks every field: only if needed
            preset = preset.replace(model=model or "")
        preset = preset.require_usable()
        messages = list(messages)
        read = timeout or preset.timeout or self.read_timeout
        root = preset.base_url

        def build(streaming: bool) -> httpx.Request:
            body: dict[str, Any] = {"model": model, "messages": messages, "stream": streaming}
            options = preset.options(**overrides)
            if "max_tokens" in options and self.quirks.has(root, exchange.USE_MAX_COMPLETION):
                options["max_completion_tokens"] = options.pop("max_tokens")
            body.update(options)
            if streaming and not self.quirks.has(root, exchange.NO_STREAM_OPTIONS):
                body["stream_options"] = {"include_usage": True}
            # Encoded before any header exists: a body that cannot be sent fails in a frame
            # that holds no key, and the headers dict lives only inside this one call.
            content = _json_body(body)
            return httpx.Request(
                "POST",
                self._url(root, "chat/completions"),
                content=content,
                headers={**self._headers(preset), "Content-Type": "application/json"},
                extensions={"timeout": self._timeout(read)},
            )

        # A body that cannot be sent fails here, before anything is sent; the request made to
        # find out is the one the first attempt sends.
        made = {stream: build(stream)}

        def first_or_new(streaming: bool) -> httpx.Request:
            return made.pop(streaming, None) or build(streaming)

        return exchange.ChatCall(
            preset=preset,
            model=model,
            build=first_or_new,
            policy=self.retry,
            budget=self._budget(deadline or preset.deadline or self.deadline),
            quirks=self.quirks,
            stream=stream,
            read_timeout=read,
            text=buffer,
        )

    # --- /chat/completions -------------------------------------------------------------------

    def chat(self, preset: Preset, messages: Iterable[Message], **overrides: Any) -> ChatResult:
        """One non-streamed completion.

        overrides: model, timeout (per read, s), deadline (whole answer, s), and request
        options (temperature, top_p, max_tokens, max_completion_tokens, presence_penalty,
        frequency_penalty, seed, stop), each checked. Raises a CompatError.
        """
        call = self._call(preset, messages, False, overrides)
        *_, result = self._driver.run(exchange.chat(call), call.budget)
        return result  # type: ignore[no-any-return]

    async def achat(
        self, preset: Preset, messages: Iterable[Message], **overrides: Any
    ) -> ChatResult:
        """`chat` for async code (the pools of the running event loop)."""
        call = self._call(preset, messages, False, overrides)
        result: Any = None
        async with aclosing(self._driver.arun(exchange.chat(call), call.budget)) as items:
            async for result in items:  # noqa: B007
                pass
        return result  # type: ignore[no-any-return]

    def stream(
        self,
        preset: Preset,
        messages: Iterable[Message],
        *,
        buffer: TextBuffer | None = None,
        **overrides: Any,
    ) -> Generator[str | ChatResult, None, None]:
        """Text deltas as they arrive, then the ChatResult as the last item.

        The deltas add up to the result's text. Closing the iterator early (or Ctrl-C)
        closes the response; the client stays usable. buffer: a `TextBuffer` that receives
        each delta before it is yielded, and is the stream's own copy of the text: a caller
        that needs the text so far (a display, partial text kept on Ctrl-C) reads it there
        instead of keeping a second copy of a long answer.
        """
        call = self._call(preset, messages, True, overrides, buffer)
        yield from self._driver.run(exchange.chat(call), call.budget)

    async def astream(
        self,
        preset: Preset,
        messages: Iterable[Message],
        *,
        buffer: TextBuffer | None = None,
        **overrides: Any,
    ) -> AsyncIterator[str | ChatResult]:
        """`stream` for async code."""
        call = self._call(preset, messages, True, overrides, buffer)
        # Closed with this generator, not left for the garbage collector to finalize.
        async with aclosing(self._driver.arun(exchange.chat(call), call.budget)) as items:
            async for item in items:
                yield item

    # --- /models -----------------------------------------------------------------------------

    def _models(self, preset: Preset, timing: Timing) -> tuple[Any, Budget]:
        if not preset.base_url:
            preset.require_usable()  # raises: says the Base URL is missing and how to fix it
        request = httpx.Request(
            "GET",
            join_url(preset.base_url, "models"),
            headers=self._headers(preset),
            extensions={"timeout": self._timeout(TEST_CONNECTION_DEADLINE)},
        )
        budget = self._budget(TEST_CONNECTION_DEADLINE)
        ex = Exchange(
            preset, read_timeout=TEST_CONNECTION_DEADLINE, deadline_s=budget.seconds, test=True
        )
        return exchange.models(preset, request, budget, ex, timing), budget

    @staticmethod
    def _report(preset: Preset, outcome: Any, timing: Timing) -> ConnectionReport:
        # From the moment the request went out: making the pool (an SSL context, tens of ms)
        # is no part of the server's latency.
        latency = (time.perf_counter() - (timing.sent_at or timing.began)) * 1000
        fields: dict[str, Any] = {"base_url": preset.base_url, "model": preset.model or None}
        if isinstance(outcome, CompatError):
            fields["failure"] = outcome.with_traceback(None)  # kept, not its frames
            return ConnectionReport(False, error=outcome.message, latency_ms=latency, **fields)
        return ConnectionReport(True, model_ids=list(outcome), latency_ms=latency, **fields)

    def test_connection(self, preset: Preset) -> ConnectionReport:
        """`GET {base}/models` within 5 s in all: reachable?, which models, latency (ms).

        Never raises for a server's failure: the report's `error` says what went wrong."""
        timing = Timing(time.perf_counter())
        try:
            core, budget = self._models(preset, timing)
            *_, outcome = self._driver.run(core, budget)
        except CompatError as exc:
            outcome = exc
        return self._report(preset, outcome, timing)

    async def atest_connection(self, preset: Preset) -> ConnectionReport:
        """`test_connection` for async code."""
        timing = Timing(time.perf_counter())
        outcome: Any = None
        try:
            core, budget = self._models(preset, timing)
            async with aclosing(self._driver.arun(core, budget)) as items:
                async for outcome in items:  # noqa: B007
                    pass
        except CompatError as exc:
            outcome = exc
        return self._report(preset, outcome, timing)


def _json_body(body: dict[str, Any]) -> bytes:
    """The request body as JSON bytes (as httpx encodes it); ConfigError when it cannot be."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    else:
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate (text read with surrogateescape)
            char = f"U+{ord(text[exc.start]):04X}"
        raise ConfigError(
            f"The request holds {char}, half of a surrogate pair, which no UTF-8 text can carry "
            "(it comes from bytes decoded with errors='surrogateescape'). Replace it, e.g. with "
            "text.encode('utf-8', 'replace').decode(), and run again."
        )
    raise ConfigError(
        f"The request cannot be sent as JSON ({problem}): messages must be text, and options "
        "numbers or text (not NaN or infinity)."
    )


_client: Client | None = None
_client_lock = threading.Lock()


def get_client() -> Client:
    """The one Client of this process; made on first use, so loading opens no connection."""
    global _client
    with _client_lock:
        if _client is None:
            _client = Client()
            # Its pools closed at exit, each on its own loop: aiohttp's sessions would
            # otherwise report themselves unclosed as the interpreter goes.
            atexit.register(_client.close)
        return _client
