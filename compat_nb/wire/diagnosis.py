"""What went wrong on the wire, in words a user can act on: each failure becomes a CompatError.

Every message names the cause and a fix, and text from the server is scrubbed of the key.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from ..config import advice
from ..config.presets import Preset
from ..errors import (
    AuthenticationError,
    BadRequestError,
    CompatError,
    ConnectError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    RequestError,
    RequestTimeout,
    ResponseError,
    ServerError,
    StreamError,
    redact,
)

__all__ = [
    "body_error",
    "connect_reason",
    "decode_body",
    "error_for_response",
    "error_in_body",
    "html_error",
    "is_html",
    "read_timeout",
    "server_message",
    "timeout_text",
    "transport_error",
]


def decode_body(content: bytes, content_type: str) -> Any:
    """JSON when it parses, else the text (HTML pages, plain 'Bad Gateway')."""
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def server_message(body: Any, secrets: Iterable[str] = ()) -> str:
    """The human part of an error body, in any of the shapes servers use, key scrubbed.

    Scrubbing comes before shortening, so a key cut in two by the limit cannot leak a part.
    """
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            body = error.get("message") or error.get("msg") or json.dumps(error)
        elif isinstance(error, str):
            body = error
        elif "detail" in body:
            body = body["detail"] if isinstance(body["detail"], str) else json.dumps(body["detail"])
        elif "message" in body:
            body = body["message"]
        else:
            body = json.dumps(body)
    text = str(body or "")
    if "<html" in text[:500].lower() or "<!doctype" in text[:100].lower():
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        text = title.group(1).strip() if title else "an HTML page"
    text = redact(" ".join(text.split()), *secrets)
    return text[:300] + ("…" if len(text) > 300 else "")


def is_html(content_type: str, body: Any) -> bool:
    if "html" in content_type.lower():
        return True
    return isinstance(body, str) and body.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def error_for_response(
    status: int,
    body: Any,
    *,
    url: str,
    preset: Preset,
    model: str | None,
    endpoint: str,
    attempts: int = 1,
) -> CompatError:
    """The CompatError a user should see for an HTTP answer that is not a success."""
    base = preset.base_url
    said = server_message(body, preset.secrets())
    retried = f" after {attempts} attempts" if attempts > 1 else ""
    cls: type[ResponseError]
    if status in (401, 403):
        cls = AuthenticationError
        fix = advice.key_rejected(preset)
        text = f"Server reachable, key rejected ({status}) at {base}: {said}. {fix}"
    elif status == 404:
        cls = NotFoundError
        lowered = said.lower()
        if endpoint == "chat/completions" and model and ("model" in lowered or model in said):
            text = (
                f"Model {model!r} not found at {base}: {said}. Use the exact model id; "
                f"{advice.list_models(preset)}."
            )
        elif not re.search(r"/v\d", base):
            text = (
                f"404 Not Found at {url}: did you mean {base}/v1? "
                "The Base URL should be the API root, usually ending in /v1."
            )
        else:
            text = (
                f"404 Not Found at {url}: {said}. Check the Base URL: it should be the API "
                "root (usually ending in /v1), not a full endpoint of another API."
            )
    elif status == 429:
        cls = RateLimitError
        text = (
            f"Rate limited (429) by {base}{retried}: {said}. Wait a moment and run the "
            "cell again, or lower the concurrency."
        )
    elif status in (400, 422) or (status == 500 and "validation error" in said.lower()):
        cls = BadRequestError
        text = (
            f"The server rejected the request ({status}) at {base}: {said}. "
            "Check the options sent (model, temperature, max tokens)."
        )
    elif status >= 500:
        cls = ServerError
        text = (
            f"Server error {status} from {base}{retried}: {said or 'no details'}. "
            "The server may be overloaded or the model failed to load; check its log."
        )
    else:
        cls = ResponseError
        text = f"Unexpected answer {status} from {url}: {said}."
    return cls(text, status_code=status, body=body)


def html_error(url: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"{url} answered with an HTML page, not JSON: the Base URL probably points at a web "
        "page or UI. Use the API root instead (usually ending in /v1).",
        status_code=200,
    )


def error_in_body(body: Any, *, where: str, secrets: Iterable[str] = ()) -> InvalidResponseError:
    """A 200 whose body is an error (a model still loading); the server may echo the key."""
    return InvalidResponseError(
        f"{where} answered 200 with an error: {server_message(body, secrets)}. "
        "Check the server's log; retry once the model is loaded.",
        status_code=200,
        body=body,
    )


def timeout_text(preset: Preset, seconds: float | None) -> str:
    within = f" within {seconds:g} s" if seconds else " in time"
    return (
        f"{preset.base_url} did not answer{within}. A local model may still be loading: "
        "run the cell again, or allow longer with `--timeout SECONDS` or the preset's timeout."
    )


def read_timeout(request: httpx.Request) -> float | None:
    """The read timeout the request was sent with, to say in a message."""
    value = request.extensions.get("timeout", {}).get("read")
    return float(value) if isinstance(value, (int, float)) else None


def body_error(exc: httpx.HTTPError, preset: Preset, request: httpx.Request) -> CompatError:
    """The answer's headers arrived but its body did not: a timeout, or the server hung up."""
    if isinstance(exc, httpx.TimeoutException):
        return RequestTimeout(timeout_text(preset, read_timeout(request)), url=str(request.url))
    return StreamError(
        f"The answer from {preset.base_url} broke off ({type(exc).__name__}) before it was "
        "complete. Run the cell again to retry; if it keeps happening, check the server's log."
    )


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, in the operating system's words ("Connection refused", "Name
    or service not known"), the same whichever client met it.

    The sync client raises the socket's error itself; the async one wraps it in "All
    connection attempts failed" (anyio), and asyncio words it "Connect call failed (…)":
    the errno under them is the one cause.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop(0)
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and isinstance(error.errno, int):
            if error.errno > 0:
                return os.strerror(error.errno)
            if error.strerror:  # a name-resolution error (socket.gaierror): negative errno
                return error.strerror
        todo += [error.__cause__, error.__context__, *getattr(error, "exceptions", ())]
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out"
    return str(exc) or type(exc).__name__


def transport_error(
    exc: httpx.TransportError, preset: Preset, request: httpx.Request
) -> RequestError:
    url = str(request.url)
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return RequestTimeout(timeout_text(preset, read_timeout(request)), url=url)
    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        # Never quote these: a protocol error's text can hold the very header it rejected.
        return RequestError(
            f"The request to {preset.base_url} could not be completed ({type(exc).__name__}). "
            "Run the cell again; if it keeps happening, check the server's log.",
            url=url,
        )
    server = advice.server_at(preset)
    detail = preset.redact(connect_reason(exc))
    return ConnectError(
        f"Could not connect to {preset.base_url} — is {server} running? ({detail}) "
        "Check the Base URL, host and port.",
        url=url,
    )
