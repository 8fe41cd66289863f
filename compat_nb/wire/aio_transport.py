"""An httpx transport on aiohttp, for the async pools: httpx's API, aiohttp's connections.

httpx's own async pool costs ~1-3 ms of CPU per request with 32 in flight (anyio cancel
scopes around every read and write, h11 in Python, a pool scanned per request); aiohttp,
with its C HTTP parser, ~0.2 ms. `translate_many` and comparisons run 3-5x faster on it.
Used when aiohttp is installed (`pip install "compat_nb[aiohttp]"`), like the openai SDK's
`DefaultAioHttpClient`; httpx-aiohttp's own transport is not used because it reports a
refused connection as a timeout and a server that hangs up as a connect timeout, which the
retry policy would act on. Here every aiohttp failure becomes the httpx exception httpcore
raises for the same event, so diagnosis, retries and messages read them the same way.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import httpx

__all__ = ["AiohttpTransport", "mapped"]

T = TypeVar("T")


def mapped(exc: BaseException) -> Exception | None:
    """The httpx exception httpcore would raise for what aiohttp raised, or None (not ours)."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError)):
        return httpx.ProxyError(message)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):  # a read, or the deadline
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, DNS, TLS
        return httpx.ConnectError(message)
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        # A server that hangs up before its answer, or in the middle of its body.
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.ClientResponseError):  # bytes that are not HTTP
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, (aiohttp.ClientConnectionError, OSError)):  # reset on a live connection
        return httpx.ReadError(message)
    return None


async def _within(coro: Coroutine[Any, Any, T], seconds: float | None) -> T:
    if seconds is None:
        return await coro
    if seconds <= 0:
        coro.close()
        raise asyncio.TimeoutError("the total deadline has passed")
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await coro
    return await asyncio.wait_for(coro, seconds)  # pragma: no cover (3.10)


def _timeout(httpx_timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
    """httpx's per-phase timeouts in aiohttp's terms (its `connect` includes the pool wait)."""
    pool, connect = httpx_timeout.get("pool"), httpx_timeout.get("connect")
    both = None if pool is None or connect is None else pool + connect
    return aiohttp.ClientTimeout(
        total=None, connect=both, sock_connect=connect, sock_read=httpx_timeout.get("read")
    )


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, left: Callable[[], float | None]) -> None:
        self._response = response
        self._left = left

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                data = await _within(content.readany(), self._left())
                if not data:
                    return
                yield data
        except Exception as exc:
            error = mapped(exc)
            if error is None:
                raise
            raise error from exc

    async def aclose(self) -> None:
        # Read to the end, the connection goes back to the pool; cut short, it is closed.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent with one aiohttp session (made on first use, in the running loop).

    limits: connections at most and how long an idle one is kept; ssl_context: called on the
    first https request only (a plain-http pool never builds one); proxy: the proxy URL, or
    None; time_left: seconds left of the answer's total deadline (None: none), checked at
    send and at every read.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: Callable[[], ssl.SSLContext],
        proxy: str | None = None,
        time_left: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._limits = limits
        self._ssl_context = ssl_context
        self._proxy = proxy
        self._left = time_left
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 5.0,
            ssl=False,  # given per request: only https requests build a context
        )
        # No environment proxies (the pools choose one), no cookies kept between requests.
        self._session = aiohttp.ClientSession(
            connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        try:
            body: bytes | None = request.content or None
        except httpx.RequestNotRead:
            body = await request.aread() or None
        headers = [(k, v) for k, v in request.headers.multi_items() if k != "transfer-encoding"]
        https = request.url.scheme == "https"
        try:
            response = await _within(
                session.request(
                    request.method,
                    str(request.url),
                    headers=headers,
                    data=body,
                    allow_redirects=False,  # httpx's client (and ours) decide about those
                    auto_decompress=False,  # httpx decodes, and reports bad gzip its way
                    compress=None,
                    proxy=self._proxy,
                    ssl=self._ssl_context() if https else False,
                    timeout=_timeout(timeout),
                ),
                self._left(),
            )
        except Exception as exc:
            error = mapped(exc)
            if error is None:
                raise
            raise error from exc
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, self._left),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
