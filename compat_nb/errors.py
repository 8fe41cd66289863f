"""Every failure compat_nb shows a user, one tree, each message naming the cause and the fix.

    CompatError
    ├── ConfigError              a preset or flag cannot be used as given
    │   └── PresetFileError      the presets or credentials file on disk is unreadable
    │       └── PresetEntryError one entry of it is (the others can be used)
    ├── RequestError             the request got no HTTP response
    │   ├── ConnectError         nothing answered at the base URL
    │   └── RequestTimeout       the server did not answer in time
    ├── ResponseError            the server answered, but not with a usable result
    │   ├── AuthenticationError  401 / 403: reachable, key rejected
    │   ├── NotFoundError        404: wrong path (missing /v1?) or unknown model
    │   ├── BadRequestError      400 / 422, or a validation error sent as 500
    │   ├── RateLimitError       429 after retries
    │   ├── ServerError          5xx after retries
    │   └── InvalidResponseError 200, but HTML, an error body, or no `choices`
    └── StreamError              a stream broke after it started; `partial` keeps the text

Messages never contain an API key: `redact` scrubs every message built from server text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CompatError",
    "ConfigError",
    "ConnectError",
    "InvalidResponseError",
    "NotFoundError",
    "PresetEntryError",
    "PresetFileError",
    "RateLimitError",
    "RequestError",
    "RequestTimeout",
    "ResponseError",
    "ServerError",
    "StreamError",
    "redact",
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


class InvalidResponseError(ResponseError):
    """A 200 that is not an OpenAI-shaped answer: HTML, an error body, no choices."""


class StreamError(CompatError):
    """A stream broke after it had started; `partial` holds the text received so far."""

    def __init__(self, message: str, *, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


def redact(text: str, *secrets: str | None) -> str:
    """Replace every non-blank secret in text; a server may echo the key back in an error."""
    for secret in secrets:
        if secret and secret.strip():
            text = text.replace(secret, "***")
    return text
