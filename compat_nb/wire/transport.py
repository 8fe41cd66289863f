"""Connection pools: which proxy each request goes through, and a network layer that holds every
exchange to its total deadline however slowly the server trickles.

Proxies are read from the environment per request, as curl and requests read them
(`http_proxy`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, either case, lower case first; not
`HTTP_PROXY` under CGI, where a request header sets it), except that loopback hosts
(127.0.0.0/8, ::1, localhost) are always reached directly: a local model server is never
behind a proxy, and the key for it must not travel through one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpcore
import httpx

from ..config.urls import mask_urls
from ..errors import ConfigError

__all__ = [
    "Pools",
    "ProxyChoice",
    "deadline_scope",
    "is_loopback",
    "proxy_for",
    "reset_deadline",
    "set_deadline",
]


class _MaskedQueries(logging.Filter):
    """httpx logs every request's URL at INFO ("HTTP Request: POST https://…?key=…"), and
    gateways take keys in the query string: its values are masked before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # A malformed record is the logging module's to report, not this filter's.
        with contextlib.suppress(Exception):
            record.msg, record.args = mask_urls(record.getMessage()), None
        return True


logging.getLogger("httpx").addFilter(_MaskedQueries())

# The wall-clock instant (time.monotonic) by which the exchange in progress must be over; set
# around each send and each body read by the client, read by every socket operation below.
_DEADLINE: ContextVar[float | None] = ContextVar("compat_nb_deadline", default=None)


# `deadline_scope` without the context manager (the ContextVar's own methods, no Python
# frame), for the loop that reads once per token: set_deadline(d) -> token; reset_deadline.
set_deadline: Callable[[float | None], Token[float | None]] = _DEADLINE.set
reset_deadline: Callable[[Token[float | None]], None] = _DEADLINE.reset


@contextlib.contextmanager
def deadline_scope(deadline: float | None) -> Iterator[None]:
    """Socket operations inside this block wait no later than `deadline` (time.monotonic())."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


# --- proxies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy a request goes through, and the environment variable that named it."""

    url: str  # as given, possibly with credentials: never shown
    variable: str

    @property
    def shown(self) -> str:
        """The proxy's address without any user name or password."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")

    @property
    def secrets(self) -> tuple[str, ...]:
        """The user name and password in the proxy URL, as given and decoded: a proxy may echo
        them (or its Proxy-Authorization header) in an error page."""
        parts = urlsplit(self.url)
        found = [parts.password or "", f"{parts.username or ''}:{parts.password or ''}"]
        found += [unquote(value) for value in found]
        return tuple(value for value in found if value.strip(":"))


@functools.lru_cache(maxsize=256)  # asked once per request, of a handful of hosts
def is_loopback(host: str) -> bool:
    """True for localhost, *.localhost, 127.0.0.0/8, ::1 (and 0.0.0.0, which means this host)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or address.is_unspecified or bool(mapped and mapped.is_loopback)


def _env(name: str) -> tuple[str, str] | None:
    variables = [name.lower(), name.upper()]
    if name.lower() == "http_proxy" and "REQUEST_METHOD" in os.environ:
        # Under CGI, HTTP_PROXY is set from the request's `Proxy:` header, so anyone could
        # route the key through their own host (httpoxy, CVE-2016-5385); urllib, requests and
        # httpx ignore it there too. The lower-case name cannot come from a header.
        variables.remove("HTTP_PROXY")
    for variable in variables:
        value = os.environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY as curl reads it: `*`, host names, domain suffixes, host:port, IPs and CIDRs."""
    host = host.strip("[]").rstrip(".").lower()
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, want_port = entry, None
        if entry.count(":") == 1 or (entry.startswith("[") and "]:" in entry):
            name, _, raw_port = entry.rpartition(":")
            want_port = int(raw_port) if raw_port.isdigit() else None
        name = name.strip("[]").lstrip("*").lstrip(".").rstrip(".")
        if want_port is not None and port != want_port:
            continue
        try:
            if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                return True
            continue
        except ValueError:
            pass
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(url: str | httpx.URL) -> ProxyChoice | None:
    """The proxy the environment asks for this URL, or None for a direct connection.

    Raises ConfigError when the variable holds something no proxy can be made of.
    """
    parts = url if isinstance(url, httpx.URL) else httpx.URL(url)
    if is_loopback(parts.host):
        return None
    no_proxy = _env("no_proxy")
    if no_proxy and _bypassed(parts.host, parts.port or _default_port(parts.scheme), no_proxy[1]):
        return None
    found = _env(f"{parts.scheme}_proxy") or _env("all_proxy")
    if found is None:
        return None
    variable, value = found
    if "://" not in value:
        value = "http://" + value  # "proxy:3128", as curl accepts it
    choice = ProxyChoice(value, variable)
    scheme = urlsplit(value).scheme.lower()
    try:
        hostname = urlsplit(value).hostname
        urlsplit(value).port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError:
        hostname = None
    if scheme not in ("http", "https", "socks5", "socks5h") or not hostname:
        raise ConfigError(
            f"${variable} is set to something that is not a proxy URL ({_scheme_or_text(value)}); "
            f"use http://HOST:PORT, or unset it (or add the server's host to NO_PROXY)."
        )
    if scheme.startswith("socks"):
        try:
            import socksio  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"${variable} names a SOCKS proxy ({choice.shown}), which needs "
                "`pip install 'httpx[socks]'`; or add the server's host to NO_PROXY."
            ) from None
    return choice


def _scheme_or_text(value: str) -> str:
    scheme = urlsplit(value).scheme
    return f"a {scheme}:// address" if scheme else "not a URL"


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


# --- the network layer -----------------------------------------------------------------------


def _cap(timeout: float | None, error: type[Exception]) -> float | None:
    """The per-operation timeout, shortened so it ends by the deadline in force."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the total deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _cap(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _AStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _ABackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _AStream(stream)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _AStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _bounded(transport: Any, wrap: type) -> Any:
    # httpx builds its httpcore pool without a way to pass a network backend; swapping it in
    # before the first connection is the one place the deadline can reach every socket read.
    # Without it (another httpx), deadlines are still checked between reads by the client.
    pool: Any = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if inner is not None:
        pool._network_backend = wrap(inner)
    return transport


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


def _time_left() -> float | None:
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


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
                client = httpx.Client(
                    transport=_bounded(transport, _Backend), **self._client_kwargs()
                )
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
                time_left=_time_left,
            )
        verify = _shared_ssl_context() if tls else _plain_only_context()
        transport = httpx.AsyncHTTPTransport(
            verify=verify, limits=self.limits, proxy=proxy, trust_env=False
        )
        return _bounded(transport, _ABackend)

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
