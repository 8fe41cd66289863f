"""The total deadline of one exchange, held at every socket operation: httpcore's network
backend wrapped so each connect, read and write ends by the deadline in force, however
slowly the server trickles.

The client sets the deadline around each send and each body read (`deadline_scope`, or
`set_deadline`/`reset_deadline` in the loop that reads once per token).
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

import httpcore

__all__ = ["bounded", "deadline_scope", "reset_deadline", "set_deadline", "time_left"]

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


def bounded(transport: Any, *, aio: bool = False) -> Any:
    """transport (httpx's, sync or `aio`) with every socket operation capped by the deadline."""
    wrap = _ABackend if aio else _Backend
    # httpx builds its httpcore pool without a way to pass a network backend; swapping it in
    # before the first connection is the one place the deadline can reach every socket read.
    # Without it (another httpx), deadlines are still checked between reads by the client.
    pool: Any = getattr(transport, "_pool", None)
    inner = getattr(pool, "_network_backend", None)
    if inner is not None:
        pool._network_backend = wrap(inner)
    return transport


def time_left() -> float | None:
    """Seconds until the deadline in force (negative once passed), or None when none is."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()
