"""Connection pools: one httpx client per proxy (and, for async code, per event loop), built
with SSL only for https origins and, when aiohttp is installed, on its connections.

Which proxy a request goes through is proxies.py's to say; the deadline that bounds every
socket operation is deadline.py's. httpx's own request log has URL query values masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
from typing import Any

import httpx

from ..config.urls import mask_urls
from ..errors import ConfigError
from .deadline import bounded, time_left
from .proxies import ProxyChoice

__all__ = ["Pools", "async_transport"]


class _MaskedQueries(logging.Filter):
    """httpx logs every request's URL at INFO ("HTTP Request: POST https://…?key=…"), and
    gateways take keys in the query string: its values are masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A malformed record is the logging module's to report, not this filter's.
        with contextlib.suppress(Exception):
            record.msg, record.args = mask_urls(record.getMessage()), None
        return True


logging.getLogger("httpx").addFilter(_MaskedQueries())


_ssl_context: ssl.SSLContext | None = None
_no_ca_context: ssl.SSLContext | None = None
_ssl_lock = threading.Lock()


def _shared_ssl_context() -> ssl.SSLContext:
    # One context for every pool, built on the first https request: loading the CA bundle
    # costs ~1 MB and tens of ms, which a notebook talking to a local server never needs.
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            _ssl_context = httpx.create_ssl_context()
        return _ssl_context


def _plain_only_context() -> ssl.SSLContext:
    """The context a pool for plain-http origins is built with (httpx wants one): it verifies
    certificates but trusts none, so a TLS connection through it could only fail, never go
    unverified; such pools only ever see http:// requests anyway."""
    global _no_ca_context
    with _ssl_lock:
        if _no_ca_context is None:
            _no_ca_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return _no_ca_context


_aiohttp_found: bool | None = None  # looked for once: an import per request costs


def async_transport() -> str:
    """ "aiohttp" when it is installed (and $COMPAT_NB_ASYNC_TRANSPORT does not say "httpx"),
    else "httpx": which transport the async pools use."""
    global _aiohttp_found
    wanted = os.environ.get("COMPAT_NB_ASYNC_TRANSPORT", "").strip().lower()
    if wanted == "httpx":
        return "httpx"
    if _aiohttp_found is None:
        try:
            import aiohttp  # noqa: F401
        except ImportError:
            _aiohttp_found = False
        else:
            _aiohttp_found = True
    if not _aiohttp_found:
        if wanted == "aiohttp":
            raise ConfigError(
                "$COMPAT_NB_ASYNC_TRANSPORT is aiohttp, which is not installed: "
                '`pip install "compat_nb[aiohttp]"`, or unset the variable.'
            )
        return "httpx"
    return "aiohttp"


# --- pools -----------------------------------------------------------------------------------


class Pools:
    """httpx clients by proxy (None: direct), one set for sync use and one per event loop.

    Plain-http and https origins get separate sync pools, so no SSL context is built until an
    https request is made. The async clients run on aiohttp's connections when it is installed
    (`aio_transport.py`), on httpx's own otherwise. An event loop's clients are closed when
    `asyncio.run` (or anything calling `loop.shutdown_asyncgens()`) ends it, and forgotten
    when a loop is found closed, so any pattern of event loops leaves neither sockets nor
    memory behind.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._sync: dict[tuple[str | None, bool], httpx.Client] = {}
        self._async: dict[asyncio.AbstractEventLoop, _LoopPools] = {}

    def _client_kwargs(self) -> dict[str, Any]:
        # Redirects are followed by the client's own policy; proxies come from proxy_for.
        return {"follow_redirects": False, "trust_env": False, "timeout": None}

    @staticmethod
    def _needs_tls(proxy: str | None, tls: bool) -> bool:
        return tls or bool(proxy and proxy.lower().startswith("https:"))

    def sync(self, proxy: ProxyChoice | None, *, tls: bool = False) -> httpx.Client:
        """The client for requests through `proxy`; `tls`: to an https origin."""
        key = proxy.url if proxy else None
        tls = self._needs_tls(key, tls)
        with self._lock:
            client = self._sync.get((key, tls))
            if client is None:
                verify = _shared_ssl_context() if tls else _plain_only_context()
                transport = httpx.HTTPTransport(
                    verify=verify, limits=self.limits, proxy=key, trust_env=False
                )
                client = httpx.Client(transport=bounded(transport), **self._client_kwargs())
                self._sync[(key, tls)] = client
            return client

    def aio(self, proxy: ProxyChoice | None, *, tls: bool = False) -> httpx.AsyncClient:
        """The running loop's client for requests through `proxy`; `tls`: to an https origin."""
        loop = asyncio.get_running_loop()
        key = proxy.url if proxy else None
        kind = async_transport()
        if kind == "aiohttp" and key is not None and key.lower().startswith("socks"):
            kind = "httpx"  # aiohttp speaks no SOCKS
        tls = self._needs_tls(key, tls) and kind == "httpx"  # aiohttp picks TLS per request
        with self._lock:
            stale = self._forget_closed_loops()
            pools = self._async.get(loop)
            if pools is None:
                pools = self._async[loop] = _LoopPools(self, loop)
            client = pools.clients.get((key, tls, kind))
            if client is None:
                client = httpx.AsyncClient(
                    transport=self._async_transport(kind, key, tls), **self._client_kwargs()
                )
                pools.clients[(key, tls, kind)] = client
        for old in stale:
            old.detach()
        return client

    def _async_transport(self, kind: str, proxy: str | None, tls: bool) -> Any:
        if kind == "aiohttp":
            from .aio_transport import AiohttpTransport

            return AiohttpTransport(
                limits=self.limits,
                ssl_context=_shared_ssl_context,
                proxy=proxy,
                time_left=time_left,
            )
        verify = _shared_ssl_context() if tls else _plain_only_context()
        transport = httpx.AsyncHTTPTransport(
            verify=verify, limits=self.limits, proxy=proxy, trust_env=False
        )
        return bounded(transport, aio=True)

    def _forget_closed_loops(self) -> list[_LoopPools]:
        """Drop the pools of loops closed without shutdown_asyncgens() (which could not run
        our aclose()): their sockets go with them instead of piling up here. Called with the
        lock held; the caller detaches what it returns once the lock is released."""
        closed = [loop for loop in self._async if loop.is_closed()]
        return [self._async.pop(loop) for loop in closed]

    def _release(self, loop: asyncio.AbstractEventLoop, pools: _LoopPools) -> bool:
        """Forget `pools` if they are still the ones in use for loop; True if they were."""
        with self._lock:
            if self._async.get(loop) is pools:
                del self._async[loop]
                return True
            return False

    @property
    def sync_clients(self) -> list[httpx.Client]:
        with self._lock:
            return list(self._sync.values())

    @property
    def async_loops(self) -> int:
        """Event loops holding pools (for tests: it must not grow with the loops a script uses)."""
        with self._lock:
            stale = self._forget_closed_loops()
            count = len(self._async)
        for old in stale:
            old.detach()
        return count

    def close(self) -> None:
        """Close every connection; pools are made again on the next request."""
        with self._lock:
            sync, self._sync = list(self._sync.values()), {}
            loops, self._async = dict(self._async), {}
        for client in sync:
            client.close()
        for loop, pools in loops.items():
            pools.detach()
            if loop.is_closed():
                continue
            # An AsyncClient must be closed on its own loop: run it there if that loop is
            # idle, hand it over if the loop is running (possibly in another thread).
            for aclient in pools.clients.values():
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(aclient.aclose(), loop)
                else:
                    loop.run_until_complete(aclient.aclose())


class _LoopPools:
    """The clients of one event loop, closed when that loop shuts its async generators down."""

    def __init__(self, owner: Pools, loop: asyncio.AbstractEventLoop) -> None:
        self.clients: dict[tuple[str | None, bool, str], httpx.AsyncClient] = {}
        self._watch = self._closer(owner, loop)
        # Advanced to its first `yield` now, so the loop's asyncgen hooks register it and
        # `shutdown_asyncgens()` (which asyncio.run calls) runs its `finally` on this loop.
        step = self._watch.__anext__()
        with contextlib.suppress(StopIteration):
            step.send(None)

    async def _closer(self, owner: Pools, loop: asyncio.AbstractEventLoop) -> Any:
        try:
            yield
        finally:
            # Pools.close() may have taken these over already (and closed them itself).
            if owner._release(loop, self):
                for client in self.clients.values():
                    with contextlib.suppress(Exception):
                        await client.aclose()

    def detach(self) -> None:
        """Stop watching the loop, once these pools are no longer the loop's (closed by
        Pools.close, or forgotten with a closed loop). Closing the watcher here, where its
        `finally` has nothing to await, keeps the garbage collector from scheduling an
        aclose() task on a loop that has moved on."""
        step = self._watch.aclose()
        with contextlib.suppress(StopIteration, RuntimeError):
            step.send(None)
