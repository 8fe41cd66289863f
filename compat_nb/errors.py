"""Every failure compat_nb shows a user, one tree, each message naming the cause and the fix.

    CompatError
    ├── ConfigError              a preset or flag cannot be used as given
    │   └── PresetFileError      the presets or credentials file on disk is unreadable
    │       └── PresetEntryError one entry of it is (the others can be used)
    ├── RequestError             the request got no HTTP response
    │   ├── ConnectError         nothing answered at the base URL
    │   │   └── ProxyError       the proxy the environment names could not be used
    │   └── RequestTimeout       the server did not answer in time
    ├── ResponseError            the server answered, but not with a usable result
    │   ├── AuthenticationError  401 / 403: reachable, key rejected
    │   ├── NotFoundError        404: wrong path (missing /v1?) or unknown model
    │   ├── BadRequestError      400 / 422, or a validation error sent as 500
    │   ├── RateLimitError       429 after retries
    │   ├── ServerError          5xx after retries
    │   ├── RedirectError        a redirect that is not followed (another origin, POST→GET, loop)
    │   └── InvalidResponseError 200, but HTML, an error body, or no `choices`
    │       └── EmptyAnswerError an answer with no text at all; `reason` says the likely cause
    └── StreamError              a stream broke after it started; `partial` keeps the text
        ├── DeadlineExceeded     the answer took longer than its total deadline
        └── ResponseTooLarge     the answer passed the size cap

Messages never contain an API key: `redact` scrubs every message built from server text.
"""

from __future__ import annotations

import base64
import functools
import json
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CompatError",
    "ConfigError",
    "ConnectError",
    "DeadlineExceeded",
    "EmptyAnswerError",
    "InvalidResponseError",
    "NotFoundError",
    "PresetEntryError",
    "PresetFileError",
    "ProxyError",
    "RateLimitError",
    "RedirectError",
    "RequestError",
    "RequestTimeout",
    "ResponseError",
    "ResponseTooLarge",
    "ServerError",
    "StreamError",
    "redact",
    "redact_value",
]


class CompatError(Exception):
    """Base class: a failure with a message a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback: the message is the whole story.
        return [f"{type(self).__name__}: {self.message}"]


class ConfigError(CompatError, ValueError):
    """A preset, flag or setting cannot be used as given."""


class PresetFileError(ConfigError):
    """The presets or credentials file exists but cannot be read."""


class PresetEntryError(PresetFileError):
    """One entry of the presets or credentials file cannot be used; the others can."""


class RequestError(CompatError):
    """The request was sent (or tried) but no HTTP response came back."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class ConnectError(RequestError):
    """Nothing accepted the connection at the base URL."""


class ProxyError(ConnectError):
    """The proxy named by HTTP(S)_PROXY / ALL_PROXY refused or failed the request."""


class RequestTimeout(RequestError):
    """The server accepted the connection but did not answer in time."""


class ResponseError(CompatError):
    """The server answered with something other than a usable result."""

    def __init__(self, message: str, *, status_code: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class AuthenticationError(ResponseError):
    """401 or 403: the server is reachable and rejected the key."""


class NotFoundError(ResponseError):
    """404: the path is wrong (often a missing /v1) or the model id is unknown."""


class BadRequestError(ResponseError):
    """The server refused the request's content; sending it again cannot help."""


class RateLimitError(ResponseError):
    """429, still refused after the retries allowed."""


class ServerError(ResponseError):
    """A 5xx answer, still failing after the retries allowed."""


class RedirectError(ResponseError):
    """A redirect that is not followed: to another origin, a POST turned GET, or a loop."""

    def __init__(self, message: str, *, status_code: int = 0, location: str = "") -> None:
        super().__init__(message, status_code=status_code)
        self.location = location  # where the server pointed (query values masked)


class InvalidResponseError(ResponseError):
    """A 200 that is not an OpenAI-shaped answer: HTML, an error body, no choices."""


class EmptyAnswerError(InvalidResponseError):
    """A source was sent and no text came back; `reason` names the likely cause.

    reason: "context" (prompt longer than the context window), "reasoning" (every token spent
    thinking), "length" (max tokens reached first), "interrupted" (the server ended the stream
    at once, as llama-cpp-python does when another request arrives), or "empty".
    """

    def __init__(self, message: str, *, reason: str, status_code: int = 200) -> None:
        super().__init__(message, status_code=status_code)
        self.reason = reason


class StreamError(CompatError):
    """A stream broke after it had started; `partial` holds the text received so far.

    `reason` is "interrupted" when the server abandoned the request (see EmptyAnswerError).
    """

    def __init__(self, message: str, *, partial: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.partial = partial
        self.reason = reason


class DeadlineExceeded(StreamError):
    """The whole answer (send to last byte) took longer than its deadline; `partial` is kept."""


class ResponseTooLarge(StreamError):
    """The answer grew past the size cap (an endless body or stream); `partial` is kept."""


def redact(text: str, *secrets: str | None) -> str:
    """Replace every non-blank secret in text, also as a server may echo it back encoded.

    Besides the secret as given: percent-encoded (a URL or form echoed), JSON-escaped (`\\/`,
    `\\uXXXX` left in a body that was not parsed) and base64 in either alphabet at any offset
    (an `Authorization: Basic …` or `Bearer …` header echoed whole); a base64 run holding the
    secret is replaced entirely.
    """
    for secret in secrets:
        if secret and secret.strip():
            for form in _plain_forms(secret):
                text = text.replace(form, "***")
            for core in _base64_cores(secret):
                text = _cut_runs(text, core)
    return text


def redact_value(value: Any, *secrets: str | None) -> Any:
    """A decoded body (dicts, lists, strings, numbers) with `redact` applied to every string
    in it, keys included: what an exception keeps of a server's answer."""
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, dict):
        return {redact_value(k, *secrets): redact_value(v, *secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(item, *secrets) for item in value]
    return value


@functools.lru_cache(maxsize=64)
def _plain_forms(secret: str) -> tuple[str, ...]:
    escaped = json.dumps(secret)[1:-1]
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        escaped,
        escaped.replace("/", "\\/"),
        json.dumps(secret, ensure_ascii=False)[1:-1],
        "".join(f"\\u{ord(c):04x}" for c in secret) if secret.isascii() else secret,
    }
    # Longest first: a form that holds another is replaced whole.
    return tuple(sorted((f for f in forms if f.strip()), key=len, reverse=True))


_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-")


@functools.lru_cache(maxsize=64)
def _base64_cores(secret: str) -> tuple[str, ...]:
    """Base64 of `…secret…`: at each of the three byte offsets, the characters that depend on
    the secret alone (the groups of three bytes wholly inside it), in both alphabets."""
    raw = secret.encode("utf-8", "surrogatepass")
    if len(raw) < 8:  # too short for a core that could not occur by chance
        return ()
    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        core = encoded[4 if offset else 0 : 4 * ((offset + len(raw)) // 3)]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return tuple(cores)


def _cut_runs(text: str, core: str) -> str:
    """text with each base64 run that holds `core` replaced by *** (linear: found with find,
    widened over the run's characters, never searched from every position)."""
    parts, start = [], 0
    while (found := text.find(core, start)) >= 0:
        left, right = found, found + len(core)
        while left > start and text[left - 1] in _BASE64:
            left -= 1
        while right < len(text) and (text[right] in _BASE64 or text[right] == "="):
            right += 1
        parts += [text[start:left], "***"]
        start = right
    return "".join(parts) + text[start:] if parts else text
