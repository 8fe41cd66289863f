"""Exceptions out of httpx, sockets and decoding, turned into CompatErrors with a cause and a fix.

Every exception a request can raise (connecting, sending, waiting for the head, reading an
error body, reading a stream) comes through `failure`; nothing below the client reaches a user
as a traceback. An exception's own text is never quoted for protocol errors: it can hold the
very header it rejected.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..config import advice
from ..config.presets import Preset
from ..config.urls import mask_urls, shown_url
from ..errors import (
    CompatError,
    ConnectError,
    DeadlineExceeded,
    ProxyError,
    RedirectError,
    RequestError,
    RequestTimeout,
    ResponseTooLarge,
    StreamError,
)
from .decoding import DecodedTooLarge, UnreadableEncoding
from .diagnosis import connect_reason
from .proxies import ProxyChoice

__all__ = ["Exchange", "failure", "size_text", "too_large"]


@dataclass
class Exchange:
    """What a message about one request needs to say: whose, where, through what, how long."""

    preset: Preset
    url: str = ""
    proxy: ProxyChoice | None = None
    read_timeout: float | None = None
    deadline_s: float | None = None  # the total deadline, in seconds
    partial: str = ""  # text received so far (streams)
    started: bool = False  # the head of a 2xx answer has arrived
    test: bool = False  # the connection test: its deadline is "did not answer in time"

    @property
    def base(self) -> str:
        return shown_url(self.preset.base_url)

    @property
    def proxy_note(self) -> str:
        """Where a message must name the proxy the request went through."""
        if self.proxy is None:
            return ""
        return (
            f" The request went through the proxy {self.proxy.shown} "
            f"(from ${self.proxy.variable}); "
            f"if {self.host} should be reached directly, add it to NO_PROXY."
        )

    @property
    def host(self) -> str:
        return httpx.URL(self.preset.base_url).host if self.preset.base_url else "the server"


def size_text(limit: int) -> str:
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"


def too_large(ex: Exchange, limit: int) -> ResponseTooLarge:
    kept = _kept(ex)
    return ResponseTooLarge(
        f"The answer from {ex.base} passed the size cap of {size_text(limit)} and was cut off: "
        f"no translation is that long, so the server is probably sending without end.{kept} "
        "Check the server's log; to allow more, set `compat_nb.get_client().max_response_bytes`.",
        partial=ex.partial,
    )


def deadline_passed(ex: Exchange) -> CompatError:
    if ex.test:
        return RequestTimeout(
            f"{ex.base} did not answer within {ex.deadline_s:g} s. Is the server busy, or still "
            "loading a model? Try again in a moment.",
            url=shown_url(ex.url),
        )
    kept = _kept(ex)
    seconds = f"{ex.deadline_s:g} s" if ex.deadline_s else "its"
    return DeadlineExceeded(
        f"The answer from {ex.base} was still not complete after {seconds} (its total "
        f"deadline), so it was cut off.{kept} A slow local model may need longer: allow more "
        "with `--deadline SECONDS` (deadline=… in Python, or the preset's deadline).",
        partial=ex.partial,
    )


def timeout_text(ex: Exchange) -> str:
    within = f" within {ex.read_timeout:g} s" if ex.read_timeout else " in time"
    return (
        f"{ex.base} did not answer{within}. A local model may still be loading: run the cell "
        "again, or allow longer with `--timeout SECONDS` or the preset's timeout."
    )


def failure(exc: BaseException, ex: Exchange, *, deadline_over: bool = False) -> CompatError:
    """The CompatError for an exception raised while talking to the server.

    `deadline_over`: the total deadline had passed when it was raised, which is then the cause
    whatever the exception says (a socket read cut short by the deadline is a ReadTimeout).
    """
    if isinstance(exc, CompatError):
        return exc
    if deadline_over:
        return deadline_passed(ex)
    name = type(exc).__name__
    if isinstance(exc, httpx.ProxyError) or (
        ex.proxy is not None and isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
    ):
        return _proxy_failure(exc, ex)
    if isinstance(exc, httpx.RemoteProtocolError) and "location header" in str(exc).lower():
        # httpx reads the Location of every 3xx, followed or not, and gives up on a bad one.
        return RedirectError(
            f"{ex.base} redirected the request to an address that cannot be used (its "
            "Location header is not a valid URL). Check the Base URL and the server's "
            "configuration.",
        )
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        server = advice.server_at(ex.preset)
        detail = ex.preset.redact(mask_urls(connect_reason(exc)))
        return ConnectError(
            f"Could not connect to {ex.base} — is {server} running? ({detail}) "
            "Check the Base URL, host and port.",
            url=shown_url(ex.url),
        )
    if isinstance(exc, httpx.PoolTimeout):
        return RequestTimeout(
            f"Every pooled connection to {ex.base} stayed busy until the wait ran out "
            "(PoolTimeout): too many requests at once. Lower the concurrency (--concurrency N) "
            "or let the running requests finish.",
            url=shown_url(ex.url),
        )
    if isinstance(exc, httpx.WriteTimeout):
        return RequestTimeout(
            f"{ex.base} did not take the request in time (WriteTimeout): the server is "
            "stalled or overloaded. Run the cell again; if it keeps happening, check its log.",
            url=shown_url(ex.url),
        )
    if isinstance(exc, httpx.TimeoutException):
        if ex.started:
            return StreamError(timeout_text(ex) + _kept(ex), partial=ex.partial)
        return RequestTimeout(timeout_text(ex), url=shown_url(ex.url))
    if isinstance(exc, DecodedTooLarge):
        return too_large(ex, exc.limit)
    if isinstance(exc, UnreadableEncoding):
        return _broken(
            ex,
            f"The answer from {ex.base} is compressed "
            + (f"as {exc.coding!r}" if exc.coding else "in an unknown way")
            + ", which compat_nb did not ask for (it asks for gzip or deflate) and does not "
            "read. Check the "
            "compression settings of the server or of a proxy in front of it",
        )
    if isinstance(exc, httpx.DecodingError):
        return _broken(
            ex,
            f"The answer from {ex.base} could not be decoded ({name}: its compressed or "
            "encoded body is damaged)",
        )
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return RequestError(
            f"The URL {shown_url(ex.url)} cannot be requested ({name}). Check the Base URL: "
            "it should look like http://HOST:PORT/v1.",
            url=shown_url(ex.url),
        )
    if isinstance(exc, (httpx.TransportError, httpx.StreamError, OSError)):
        if ex.started:
            return _broken(
                ex, f"The answer from {ex.base} broke off ({name}) before it was complete"
            )
        return RequestError(
            f"The request to {ex.base} could not be completed ({name}). Run the cell again; if "
            f"it keeps happening, check the server's log.{ex.proxy_note}",
            url=shown_url(ex.url),
        )
    # Anything else (a header that cannot be encoded, an overflow deep in the socket layer):
    # the type names it; its text may quote a header, so it is not shown.
    return RequestError(
        f"The request to {ex.base} failed before an answer came ({name}). Check the preset's "
        "settings (key, extra headers, timeout); if they look right, run the cell again.",
        url=shown_url(ex.url),
    )


def _kept(ex: Exchange) -> str:
    return f" The {len(ex.partial):,} characters received are kept." if ex.partial else ""


def _broken(ex: Exchange, said: str) -> CompatError:
    fix = " Run the cell again to retry; if it keeps happening, check the server's log."
    if ex.started:
        return StreamError(said + "." + _kept(ex) + fix + ex.proxy_note, partial=ex.partial)
    return RequestError(said + "." + fix + ex.proxy_note, url=shown_url(ex.url))


def _proxy_failure(exc: BaseException, ex: Exchange) -> ProxyError:
    assert ex.proxy is not None
    if isinstance(exc, httpx.ConnectTimeout):
        how = "did not accept the connection in time"
    elif isinstance(exc, httpx.ConnectError):
        how = "could not be reached"
    else:
        how = f"refused the connection to {ex.host} ({type(exc).__name__})"
    return ProxyError(
        f"The proxy {ex.proxy.shown} (from ${ex.proxy.variable}) {how}, so {ex.base} was not "
        f"reached. If {ex.host} should be reached directly, add it to NO_PROXY "
        f"(os.environ['NO_PROXY'] = '{ex.host}'); otherwise check the proxy.",
        url=shown_url(ex.url),
    )
