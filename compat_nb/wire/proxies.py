"""Which proxy each request goes through, read from the environment per request as curl and
requests read it (`http_proxy`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, either case, lower case
first; not `HTTP_PROXY` under CGI, where a request header sets it).

Loopback hosts (127.0.0.0/8, ::1, localhost) are always reached directly: a local model server
is never behind a proxy, and the key for it must not travel through one.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx

from ..errors import ConfigError

__all__ = ["ProxyChoice", "is_loopback", "proxy_for"]


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
