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

from typing import Any

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
    """Replace every non-blank secret in text; a server may echo the key back in an error."""
    for secret in secrets:
        if secret and secret.strip():
            text = text.replace(secret, "***")
    return text
