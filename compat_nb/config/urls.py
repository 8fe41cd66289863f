"""Base URLs as users paste them: trimmed to the API root, joined to endpoints, checked.

A query string (`?api-version=…`) is kept, because some gateways need it on every request,
and never shown: gateways take keys there (`subscription-key=…`), so `shown_url` masks every
query value in whatever compat_nb prints, logs or tabulates.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from ..errors import ConfigError

__all__ = [
    "hidden_character",
    "host_of",
    "join_url",
    "mask_urls",
    "normalize_base_url",
    "shown_url",
    "visible",
]

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_HOST_PORT = re.compile(r"^[\w.-]+:\d")  # "localhost:1234/v1": a port, not a scheme

# Paths users paste from a provider's docs; the API root is whatever comes before them.
_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/responses", "/models", "/embeddings")


def normalize_base_url(url: str | None) -> str:
    """Trim a pasted URL down to the API root, keeping any query string.

    Raises ConfigError for a URL httpx could not use, saying what to type instead.

    >>> normalize_base_url(" http://127.0.0.1:1234/v1/chat/completions/ ")
    'http://127.0.0.1:1234/v1'
    """
    url = (url or "").strip()
    if not url:
        return ""
    if "://" not in url:
        if _SCHEME.match(url) and not _HOST_PORT.match(url):
            fixed = re.sub(r"^([a-zA-Z]+):/*", r"\1://", url)
            raise ConfigError(
                f"Base URL {shown_url(url)!r} is malformed: did you mean {shown_url(fixed)!r}?"
            )
        # "localhost:1234/v1" is a common paste; httpx would reject it with a cryptic error.
        url = "http://" + url
    parts = _checked_parts(url)
    path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
    lowered = path.lower()
    for suffix in _ENDPOINT_SUFFIXES:
        if lowered.endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
            break
    return urlunsplit((parts.scheme.lower(), parts.netloc, path, parts.query, ""))


def _checked_parts(url: str) -> SplitResult:
    example = "e.g. http://localhost:11434/v1"
    # Messages show the URL masked: a malformed gateway URL may still carry ?subscription-key=.
    shown = repr(shown_url(url))
    hidden = hidden_character(url) or ("a space" if " " in url else "")
    if hidden:
        raise ConfigError(
            f"Base URL {shown} contains {hidden}, which cannot be sent in a URL (it often comes "
            f"with a paste). Retype the URL; {example}."
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (urllib checks the port only when asked)
    except ValueError as exc:
        raise ConfigError(f"Base URL {shown} cannot be used ({exc}); {example}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(
            f"Base URL {shown} must start with http:// or https://, not {parts.scheme}://."
        )
    if not parts.hostname:
        raise ConfigError(f"Base URL {shown} has no host name; {example}.")
    _check_host(parts.hostname, shown)
    if parts.username or parts.password:
        # Never echo this URL: it carries a credential.
        raise ConfigError(
            f"The Base URL for {parts.hostname} carries a user name or password, which would "
            "show in messages and files. Put the key in the API key field (or an environment "
            "variable) instead."
        )
    return parts


# Characters no URL may carry (control characters, DEL, lone surrogates) and the invisible
# direction controls that make one text read as another (Trojan Source, CVE-2021-42574).
_HIDDEN = re.compile(
    r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]"
)


def hidden_character(text: str) -> str:
    """'the invisible character U+202E' for the first control character, direction mark or
    lone surrogate in text, or ''."""
    found = _HIDDEN.search(text)
    return f"the invisible character U+{ord(found.group()):04X}" if found else ""


def visible(text: str) -> str:
    """text without the characters `hidden_character` finds."""
    return _HIDDEN.sub("", text).strip()


def _check_host(host: str, shown: str) -> None:
    """A non-ASCII host must be a valid internationalized name (IDNA 2008, as httpx checks
    it); full-width letters from an IME are named with their ASCII spelling."""
    if host.isascii():
        return
    import idna  # only for non-ASCII hosts; httpx depends on it

    try:
        idna.encode(host)
    except idna.IDNAError:
        try:
            mapped = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            mapped = ""
        fix = f"did you mean {mapped!r}?" if mapped else "type it in ASCII or as xn--… (punycode)."
        raise ConfigError(
            f"Base URL {shown}: the host name {host!r} is not a valid internationalized name; {fix}"
        ) from None


def join_url(base_url: str, endpoint: str) -> str:
    """`{base}/{endpoint}` with the base's query string kept at the end (Azure-style gateways)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/") + "/" + endpoint.lstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def host_of(base_url: str) -> str:
    """host[:port] only: userinfo and query strings can carry credentials."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        return ""
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def shown_url(url: str) -> str:
    """The URL as messages show it: every query value replaced by *** (names kept), no userinfo.

    >>> shown_url("https://gw.example/openai?api-version=2024-02-01&subscription-key=s3cr3t")
    'https://gw.example/openai?api-version=***&subscription-key=***'
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "(an unreadable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    # A bare item (`?s3cr3t`) may be the key itself: only `name=value` keeps its name.
    items = [item.partition("=") for item in parts.query.split("&") if item]
    query = "&".join(f"{name}=***" if sep else "***" for name, sep, _ in items)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


_URL = re.compile(r"https?://[^\s\"'<>]+", re.I)


def mask_urls(text: str) -> str:
    """text with every http(s) URL in it passed through `shown_url` (for log lines, errors)."""
    return _URL.sub(lambda m: shown_url(m.group(0)), text)
