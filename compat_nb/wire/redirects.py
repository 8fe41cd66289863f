"""Which redirects the client follows: its own policy, not httpx's.

Same origin (scheme, host and port): followed with everything, method and body kept for
307/308, and a GET may follow any redirect. Never followed: a redirect to another origin
(nothing is sent there, so no key, secret header or query value can leak), a 301/302/303 on a
POST (following would silently turn it into a GET, as browsers do), a loop, or more than
`MAX_HOPS` hops. Each refusal says where the server pointed and what to do.
"""

from __future__ import annotations

import httpx

from ..config.presets import Preset
from ..config.urls import normalize_base_url, shown_url
from ..errors import ConfigError, RedirectError

__all__ = ["MAX_HOPS", "next_request"]

MAX_HOPS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def _difference(old: httpx.URL, new: httpx.URL) -> str:
    if new.scheme != old.scheme:
        return f"{new.scheme}:// instead of {old.scheme}://"
    if new.host != old.host:
        return "another host"
    return "another port"


def _shown(url: str, preset: Preset) -> str:
    """A Location as messages show it: query values masked, and the preset's secrets scrubbed
    wherever else the server put them (a path segment, a fragment, base64)."""
    return preset.redact(shown_url(url))


def _as_base(target: httpx.URL, endpoint: str, preset: Preset) -> str:
    """'If the server has moved, use … as the Base URL.' when the target looks like a move."""
    if not target.path.rstrip("/").endswith("/" + endpoint):
        return ""
    try:
        base = normalize_base_url(str(target))
    except ConfigError:
        return ""
    query = " (with its query string)" if target.query else ""
    return f" If the server has moved, use {_shown(base, preset)}{query} as the Base URL."


def next_request(
    request: httpx.Request,
    response: httpx.Response,
    *,
    preset: Preset,
    endpoint: str,
    hops: list[str],
    credentials: bool,
) -> httpx.Request:
    """The request to send for a 3xx answer, or a RedirectError saying why it is not followed.

    `hops` holds the URLs already requested (it grows here); `credentials`: the request
    carries a key, so the message says that it was kept back.
    """
    status = response.status_code
    base = shown_url(preset.base_url)
    location = response.headers.get("location", "").strip()
    if not location:
        raise RedirectError(
            f"{base} answered {status} (a redirect) without saying where to. Check the Base "
            "URL: it should be the API root, usually ending in /v1.",
            status_code=status,
        )
    try:
        target = request.url.join(location)
        target.host  # noqa: B018 (parsing is lazy)
    except (httpx.InvalidURL, ValueError):
        raise RedirectError(
            f"{base} redirected the request ({status}) to an address that cannot be used. "
            "Check the Base URL and the server's configuration.",
            status_code=status,
        ) from None
    shown = _shown(str(target), preset)
    hops.append(str(request.url))
    if target.scheme not in ("http", "https") or not target.host:
        raise RedirectError(
            f"{base} redirected the request ({status}) to {shown}, which is not an http(s) "
            "address, so it was not followed. Check the Base URL.",
            status_code=status,
            location=shown,
        )
    if _origin(target) != _origin(request.url):
        kept = (
            "the API key and every other credential were not sent there"
            if credentials
            else "nothing was sent there"
        )
        other = _difference(request.url, target)
        raise RedirectError(
            f"{base} redirected the request ({status}) to {shown} — {other} — so it was not "
            f"followed: {kept}.{_as_base(target, endpoint, preset)}",
            status_code=status,
            location=shown,
        )
    if str(target) in hops or len(hops) > MAX_HOPS:
        chain = " → ".join(_shown(u, preset) for u in [*hops[-3:], str(target)])
        raise RedirectError(
            f"{base} redirected the request in a loop or too many times ({chain}); it was not "
            "followed further. Check the Base URL and the server's configuration.",
            status_code=status,
            location=shown,
        )
    if status in (301, 302, 303) and request.method not in ("GET", "HEAD"):
        fix = _as_base(target, endpoint, preset) or " Check the Base URL."
        raise RedirectError(
            f"{base} answered the {request.method} with {status} to {shown}: following it would "
            f"turn the request into a GET, so it was not followed.{fix}",
            status_code=status,
            location=shown,
        )
    if status not in (301, 302, 303, 307, 308):
        raise RedirectError(
            f"{base} answered {status} with a Location ({shown}) that is not a redirect to "
            "follow. Check the Base URL.",
            status_code=status,
            location=shown,
        )
    return httpx.Request(
        request.method,
        target,
        headers=request.headers,
        content=request.content,
        extensions=request.extensions,
    )
