"""The one HTTP client the magic, the panel and comparisons share: /models and /chat/completions.

Pooled connections, sync and async faces; the retry core itself lives in `retry.py`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import weakref
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from typing import Any

import httpx

from .._version import __version__
from ..config.presets import Preset
from ..config.urls import join_url
from ..errors import CompatError, ConfigError, RequestTimeout
from .diagnosis import body_error, decode_body, error_in_body, html_error, is_html, timeout_text
from .protocol import (
    ChatResult,
    ConnectionReport,
    RetryPolicy,
    parse_chat_response,
    parse_models,
)
from .retry import NO_RETRY, Attempts, adrive, attempts, drive
from .streaming import StreamState, with_timings

__all__ = ["DEFAULT_READ_TIMEOUT", "TEST_CONNECTION_DEADLINE", "Client", "get_client"]

CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0  # a local model loading on first use can take minutes
TEST_CONNECTION_DEADLINE = 5.0

Message = Mapping[str, Any]


class Client:
    """Sync and async access to OpenAI-compatible servers, with pooled connections."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self._http: httpx.Client | None = None
        # One AsyncClient per event loop: its connections belong to the loop that opened them.
        self._ahttp: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._async_ready = False  # anyio's backend loaded (see _aclock)
        # Roots that refused `stream_options` (some strict servers 400 on unknown fields).
        self._no_stream_options: set[str] = set()

    def __repr__(self) -> str:
        return f"Client(retries={self.retry.max_retries}, read_timeout={self.read_timeout})"

    # --- pools -------------------------------------------------------------------------------

    def _limits(self) -> httpx.Limits:
        return httpx.Limits(max_connections=64, max_keepalive_connections=16)

    @property
    def http(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(limits=self._limits(), follow_redirects=True)
            return self._http

    @property
    def ahttp(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._ahttp.get(loop)
            if client is None:
                client = httpx.AsyncClient(limits=self._limits(), follow_redirects=True)
                self._ahttp[loop] = client
            return client

    def close(self) -> None:
        """Close every pooled connection; the client opens new ones if used again."""
        with self._lock:
            http, self._http = self._http, None
            pools = list(self._ahttp.items())
            self._ahttp.clear()
        if http is not None:
            http.close()
        for loop, client in pools:
            # An AsyncClient must be closed on its own loop: run it there if that loop is
            # idle, hand it over if the loop is running (possibly in another thread).
            if loop.is_closed():
                continue
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                loop.run_until_complete(client.aclose())

    @staticmethod
    def _clock(pool: object) -> float:
        # The pool exists before the clock starts: creating one builds an SSL context
        # (tens of ms) that is no part of the server's latency.
        del pool
        return time.perf_counter()

    async def _aclock(self) -> float:
        """`_clock` for async requests: the one-time setup happens before it starts.

        Besides this loop's pool, the first async connection loads anyio's asyncio backend
        (~50 ms). Among concurrent requests (a comparison's columns, an evaluation's cells)
        whichever connected first would count it; here the first requests wait for it
        before their clocks start, and later ones do not wait at all.
        """
        self._clock(self.ahttp)  # makes this loop's pool
        if not self._async_ready:
            import anyio

            await anyio.sleep(0)  # loads the backend; yields, so the others set up alike
            self._async_ready = True
        return time.perf_counter()

    # --- requests ----------------------------------------------------------------------------

    def _headers(self, preset: Preset) -> dict[str, str]:
        headers = {"User-Agent": f"compat_nb/{__version__}", "Accept": "application/json"}
        headers.update(preset.request_headers())
        key = preset.resolve_key()
        if key:  # an empty key sends no header at all: some servers reject "Bearer "
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _timeout(self, preset: Preset, timeout: float | None) -> httpx.Timeout:
        read = timeout or preset.timeout or self.read_timeout
        return httpx.Timeout(
            connect=min(self.connect_timeout, read), read=read, write=30.0, pool=30.0
        )

    def _chat_request(
        self, preset: Preset, messages: Iterable[Message], stream: bool, overrides: dict[str, Any]
    ) -> tuple[httpx.Request, str]:
        overrides = dict(overrides)
        model = overrides.pop("model", None) or preset.model
        timeout = overrides.pop("timeout", None)
        preset = preset.replace(model=model or "").require_usable()
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
        body.update(preset.options(**overrides))
        if stream and preset.base_url not in self._no_stream_options:
            body["stream_options"] = {"include_usage": True}
        url = join_url(preset.base_url, "chat/completions")
        # Encoded before any header exists: a body that cannot be sent fails in a frame that
        # holds no key, and the headers dict lives only inside this one call.
        content = _json_body(body)
        request = httpx.Request(
            "POST",
            url,
            content=content,
            headers={**self._headers(preset), "Content-Type": "application/json"},
            extensions={"timeout": self._timeout(preset, timeout).as_dict()},
        )
        return request, model

    def _chat_attempts(self, request: httpx.Request, preset: Preset, model: str | None) -> Attempts:
        return attempts(request, preset, model, "chat/completions", self.retry)

    # --- /models -----------------------------------------------------------------------------

    def _models_request(self, preset: Preset) -> httpx.Request:
        if not preset.base_url:
            preset.require_usable()  # raises: says the Base URL is missing and how to fix it
        return httpx.Request(
            "GET",
            join_url(preset.base_url, "models"),
            headers=self._headers(preset),
            extensions={"timeout": httpx.Timeout(TEST_CONNECTION_DEADLINE).as_dict()},
        )

    def _report(
        self,
        preset: Preset,
        response: httpx.Response | CompatError,
        started: float,
        content: bytes | None = None,
    ) -> ConnectionReport:
        latency = (time.perf_counter() - started) * 1000
        fields: dict[str, Any] = {"base_url": preset.base_url, "model": preset.model or None}
        if isinstance(response, CompatError):
            fields["failure"] = response.with_traceback(None)  # kept, not its frames
            return ConnectionReport(False, error=response.message, latency_ms=latency, **fields)
        content = response.content if content is None else content
        body = decode_body(content, response.headers.get("content-type", ""))
        try:
            if is_html(response.headers.get("content-type", ""), body):
                raise html_error(str(response.url))
            if isinstance(body, Mapping) and body.get("error"):
                raise error_in_body(body, where=preset.base_url, secrets=preset.secrets())
            ids = parse_models(body)
        except CompatError as exc:
            fields["failure"] = exc.with_traceback(None)
            return ConnectionReport(False, error=exc.message, latency_ms=latency, **fields)
        return ConnectionReport(True, model_ids=ids, latency_ms=latency, **fields)

    def test_connection(self, preset: Preset) -> ConnectionReport:
        """`GET {base}/models` within 5 s: reachable?, which models, latency."""
        started = self._clock(self.http)
        try:
            request = self._models_request(preset)
            core = attempts(request, preset, None, "models", NO_RETRY)
            response = drive(self.http, core)
            try:
                # httpx's timeouts bound each read, not the whole answer: a server that
                # trickles its model list is cut off at the deadline here.
                content = b""
                for chunk in response.iter_bytes():
                    content += chunk
                    if time.perf_counter() - started > TEST_CONNECTION_DEADLINE:
                        raise RequestTimeout(timeout_text(preset, TEST_CONNECTION_DEADLINE))
            except httpx.HTTPError as exc:
                raise body_error(exc, preset, request) from None
            finally:
                response.close()
            return self._report(preset, response, started, content)
        except CompatError as exc:
            return self._report(preset, exc, started)

    async def atest_connection(self, preset: Preset) -> ConnectionReport:
        started = await self._aclock()

        async def fetch() -> httpx.Response:
            request = self._models_request(preset)
            core = attempts(request, preset, None, "models", NO_RETRY)
            response = await adrive(self.ahttp, core)
            try:
                await response.aread()
            except httpx.HTTPError as exc:
                raise body_error(exc, preset, request) from None
            finally:
                await response.aclose()
            return response

        try:
            response = await asyncio.wait_for(fetch(), TEST_CONNECTION_DEADLINE)
        except asyncio.TimeoutError:
            error = RequestTimeout(timeout_text(preset, TEST_CONNECTION_DEADLINE))
            return self._report(preset, error, started)
        except CompatError as exc:
            return self._report(preset, exc, started)
        return self._report(preset, response, started)

    # --- /chat/completions -------------------------------------------------------------------

    def chat(self, preset: Preset, messages: Iterable[Message], **overrides: Any) -> ChatResult:
        """One non-streamed completion."""
        started = self._clock(self.http)
        request, model = self._chat_request(preset, messages, False, overrides)
        response = drive(self.http, self._chat_attempts(request, preset, model))
        try:
            content = response.read()
        except httpx.HTTPError as exc:
            raise body_error(exc, preset, request) from None
        finally:
            response.close()
        return self._finish_plain(preset, response, content, started)

    async def achat(
        self, preset: Preset, messages: Iterable[Message], **overrides: Any
    ) -> ChatResult:
        started = await self._aclock()
        request, model = self._chat_request(preset, messages, False, overrides)
        response = await adrive(self.ahttp, self._chat_attempts(request, preset, model))
        try:
            content = await response.aread()
        except httpx.HTTPError as exc:
            raise body_error(exc, preset, request) from None
        finally:
            await response.aclose()
        return self._finish_plain(preset, response, content, started)

    def _finish_plain(
        self, preset: Preset, response: httpx.Response, content: bytes, started: float
    ) -> ChatResult:
        body = decode_body(content, response.headers.get("content-type", ""))
        if is_html(response.headers.get("content-type", ""), body):
            raise html_error(str(response.url))
        result = parse_chat_response(body, where=preset.base_url, secrets=preset.secrets())
        latency = (time.perf_counter() - started) * 1000
        return with_timings(result, latency_ms=latency, ttft_ms=None)

    def stream(
        self, preset: Preset, messages: Iterable[Message], **overrides: Any
    ) -> Generator[str | ChatResult, None, None]:
        """Text deltas as they arrive, then the ChatResult as the last item.

        Closing the iterator early (or Ctrl-C) closes the response; the client stays usable.
        """
        started = self._clock(self.http)
        messages = list(messages)
        request, model = self._chat_request(preset, messages, True, overrides)
        try:
            response = drive(self.http, self._chat_attempts(request, preset, model))
        except CompatError as exc:
            if not self._drop_stream_options(preset, exc):
                raise
            yield from self.stream(preset, messages, **overrides)
            return
        try:
            state = StreamState(preset, response, started)
            try:
                # Read to the end, past [DONE]: a fully read response returns its connection
                # to the pool.
                for line in response.iter_lines():
                    delta = state.line(line)
                    if delta:
                        yield delta
            except httpx.HTTPError as exc:
                raise state.broken(exc) from None
            yield state.finish()
        finally:
            response.close()  # also on Ctrl-C or an early close(): the client stays usable

    async def astream(
        self, preset: Preset, messages: Iterable[Message], **overrides: Any
    ) -> AsyncIterator[str | ChatResult]:
        started = await self._aclock()
        messages = list(messages)
        request, model = self._chat_request(preset, messages, True, overrides)
        try:
            response = await adrive(self.ahttp, self._chat_attempts(request, preset, model))
        except CompatError as exc:
            if not self._drop_stream_options(preset, exc):
                raise
            async for item in self.astream(preset, messages, **overrides):
                yield item
            return
        try:
            state = StreamState(preset, response, started)
            try:
                # Read to the end, past [DONE]: a fully read response returns its connection
                # to the pool, and leaves no half-read generators behind.
                async for line in response.aiter_lines():
                    delta = state.line(line)
                    if delta:
                        yield delta
            except httpx.HTTPError as exc:
                raise state.broken(exc) from None
            yield state.finish()
        finally:
            await response.aclose()

    def _drop_stream_options(self, preset: Preset, exc: CompatError) -> bool:
        """True (and remembered) when a server refused `stream_options`: send without it."""
        if "stream_options" in str(exc) and preset.base_url not in self._no_stream_options:
            self._no_stream_options.add(preset.base_url)
            return True
        return False


def _json_body(body: dict[str, Any]) -> bytes:
    """The request body as JSON bytes (as httpx encodes it); ConfigError when it cannot be."""
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    else:
        return text.encode("utf-8")
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
        return _client
