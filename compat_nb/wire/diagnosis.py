"""What a server's answer means when it is not a translation: each becomes a CompatError.

The body decides as much as the status: gateways say "unknown model" with 400, "bad key" with
400 or 500, "no such route" with 200. Every message names the cause and a fix; text from the
server is scrubbed of the preset's secrets and shown URLs have their query values masked.
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
from ..config.urls import join_url, mask_urls, shown_url
from ..errors import (
    AuthenticationError,
    BadRequestError,
    CompatError,
    InvalidResponseError,
    NotFoundError,
    ProxyError,
    RateLimitError,
    ResponseError,
    ServerError,
    redact,
    redact_value,
)

__all__ = [
    "connect_reason",
    "decode_body",
    "error_for_response",
    "error_in_body",
    "html_error",
    "is_html",
    "sentence",
    "server_message",
    "upstream_down",
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
    text = mask_urls(redact(" ".join(text.split()), *secrets))
    return text[:300] + ("…" if len(text) > 300 else "")


def sentence(text: str) -> str:
    """text ending in exactly one full stop (server messages often bring their own)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _fields(body: Any) -> str:
    """The machine-readable parts of an error body (type, code), lower case, for matching."""
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return ""
    return " ".join(str(error.get(k) or "") for k in ("type", "code", "status")).lower()


_AUTH = re.compile(
    r"\b(invalid|incorrect|missing|wrong|bad|no|expired|revoked)\b[\w ]{0,12}"
    r"\b(api[ _-]?key|access token|auth(entication)? token|bearer( token)?|credentials?)\b"
    r"|\bunauthori[sz]ed\b"
    r"|\bauthentication (failed|error|required)\b|\bnot authenticated\b"
    r"|\bapi[ _-]?key (is )?(invalid|missing|required|not valid)\b",
    re.I,
)
_AUTH_CODES = re.compile(r"invalid_api_key|authentication|unauthori[sz]ed|invalid_auth|no_db_conn")
_MODEL_CODES = re.compile(r"model_not_found")
_MODEL = re.compile(
    r"not found|does not exist|doesn't exist|invalid model|unknown model|no such model"
    r"|not a valid model|not available|isn't available|not loaded|no model named",
    re.I,
)
_ROUTE = re.compile(
    r"no such route|unknown (route|endpoint|url|path)|invalid url|404 page not found"
    r"|cannot (post|get) /|route .{0,40}not found|\bnot found\b|method not allowed"
    r"|no route|file not found|unrecognized request url",
    re.I,
)
_CONTEXT = re.compile(
    r"context (length|window|size)|exceeds? (the )?(available )?context|too many tokens"
    r"|maximum context|n_ctx|prompt is too long|reduce the length",
    re.I,
)
_UPSTREAM = re.compile(
    r"connection error|apiconnectionerror|could not connect|couldn't connect|failed to connect"
    r"|connection refused|cannot connect to host|upstream connect error|no healthy upstream"
    r"|upstream (is )?(unavailable|unreachable|down)|name or service not known",
    re.I,
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


def upstream_down(body: Any) -> bool:
    """The body says a gateway could not reach the model server behind it (LiteLLM, Envoy…).

    Such a gateway has already retried on its own; sending the request again only waits.
    """
    return bool(_UPSTREAM.search(server_message(body)))


def _model_missing(said: str, body: Any, model: str | None, status: int) -> bool:
    if not model:
        return False
    if _MODEL_CODES.search(_fields(body)):
        return True
    error = body.get("error") if isinstance(body, Mapping) else None
    param = error.get("param") if isinstance(error, Mapping) else None
    if param not in (None, "", "model"):
        return False  # a refused parameter, which may quote the model it does not suit
    if status == 404 and "model" in said.lower():
        return True  # a 404 that talks of a model is about the model, whichever it names
    # The id as a word of its own: a model named "m" is not in "model".
    named = re.search(rf"(?<![\w.:/-]){re.escape(model)}(?![\w:/-]|\.\w)", said)
    return bool(named and _MODEL.search(said))


def _route_hint(base: str, url: str, said: str) -> str:
    if not re.search(r"/v\d", base.split("?")[0]):
        return (
            f"{shown_url(url)} does not exist: did you mean {shown_url(join_url(base, 'v1'))}? "
            "The Base URL should be the API root, usually ending in /v1."
        )
    return (
        f"{shown_url(url)} does not exist ({sentence(said or 'Not Found')[:-1]}). Check the "
        "Base URL: it should be the API root (usually ending in /v1), not a full endpoint of "
        "another API."
    )


def error_for_response(
    status: int,
    body: Any,
    *,
    url: str,
    preset: Preset,
    model: str | None,
    endpoint: str,
    attempts: int = 1,
    credentials: bool | None = None,
    proxy: Any = None,
) -> CompatError:
    """The CompatError a user should see for an HTTP answer that is not a success.

    `credentials`: whether the request carried a key (default: whether the preset has one);
    `proxy`: the ProxyChoice it went through, named when the failure may be the proxy's.
    """
    base = shown_url(preset.base_url)
    # A proxy may echo its own credentials (Proxy-Authorization) in the page it answers with.
    secrets = (*preset.secrets(), *(proxy.secrets if proxy is not None else ()))
    said = server_message(body, secrets)
    fields = _fields(body)
    retried = f" after {attempts} attempts" if attempts > 1 else ""
    if credentials is None:
        credentials = preset.key_status in ("set", "env")
    through = (
        f" (through the proxy {proxy.shown} from ${proxy.variable}; if {base} should be reached "
        "directly, add its host to NO_PROXY)"
        if proxy is not None
        else ""
    )
    cls: type[ResponseError]
    if status == 407 and proxy is not None:
        return ProxyError(
            f"The proxy {proxy.shown} (from ${proxy.variable}) asks for a user name and password "
            f"(407): put them in ${proxy.variable} as http://USER:PASSWORD@HOST:PORT, or add "
            "the server's host to NO_PROXY.",
            url=shown_url(url),
        )
    if "no_db_conn" in fields:
        cls = AuthenticationError
        text = (
            f"The gateway at {base} could not check the key ({status}: {sentence(said)[:-1]}): a "
            "LiteLLM proxy without a database accepts only its master key. "
            + advice.key_rejected(preset)
        )
    elif status in (401, 403) or _AUTH_CODES.search(fields) or _AUTH.search(said):
        cls = AuthenticationError
        text = (
            f"Server reachable, key rejected ({status}) at {base}: "
            f"{sentence(said or 'no details')} " + advice.key_rejected(preset)
        )
    elif endpoint == "chat/completions" and _model_missing(said, body, model, status):
        cls = NotFoundError
        text = (
            f"Model {model!r} not found at {base} ({status}): {sentence(said)} Use the exact "
            f"model id; {advice.list_models(preset)}."
        )
    elif status in (404, 405) or (status in (200, 400, 501) and _ROUTE.search(said)):
        cls = NotFoundError
        text = f"{status} at {base}: " + _route_hint(preset.base_url, url, said)
    elif status in (414, 431):
        cls = BadRequestError
        what = "address" if status == 414 else "headers"
        text = (
            f"{base} refused the request's {what} as too large ({status}): "
            f"{sentence(said or 'no details')} Check the API key, the extra headers and the "
            "Base URL's query for a pasted file or a value repeated many times."
        )
    elif status == 429:
        cls = RateLimitError
        text = (
            f"Rate limited (429) by {base}{retried}: {sentence(said or 'no details')} Wait a "
            "moment and run the cell again, or lower the concurrency."
        )
    elif status >= 500 and upstream_down(body):
        cls = ServerError
        text = (
            f"The gateway at {base} could not reach its upstream model server ({status}): "
            f"{sentence(said)} Check that the server behind the gateway is running and "
            "reachable from it."
        )
    elif status in (400, 413, 422) and _CONTEXT.search(said):
        cls = BadRequestError
        text = (
            f"The text is longer than the model's context window ({status} from {base}): "
            f"{sentence(said)} Load the model with a larger context (n_ctx, LM Studio's "
            "Context Length), lower max tokens, or send a shorter text (long cells are split "
            "at `%config TranslateMagics.chunk_chars` characters)."
        )
    elif status in (400, 422) or (status == 500 and "validation error" in said.lower()):
        cls = BadRequestError
        text = (
            f"The server rejected the request ({status}) at {base}: {sentence(said)} "
            "Check the options sent (model, temperature, max tokens)."
        )
    elif status >= 500:
        cls = ServerError
        text = (
            f"Server error {status} from {base}{retried}{through}: "
            f"{sentence(said or 'no details')} The server may be overloaded or the model "
            "failed to load; check its log."
        )
    else:
        cls = ResponseError
        text = f"Unexpected answer {status} from {shown_url(url)}{through}: {sentence(said)}"
    if not credentials and cls is not AuthenticationError:
        # A gateway may answer a missing key with anything (LiteLLM without a database: 500).
        text += (
            " If this server needs an API key (a LiteLLM proxy answers a missing one with "
            "500): " + advice.key_rejected(preset)
        )
    return cls(text, status_code=status, body=redact_value(body, *secrets))


def is_html(content_type: str, body: Any) -> bool:
    if "html" in content_type.lower():
        return True
    return isinstance(body, str) and body.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def html_error(url: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"{shown_url(url)} answered with an HTML page, not JSON: the Base URL probably points "
        "at a web page or UI. Use the API root instead (usually ending in /v1).",
        status_code=200,
    )


def error_in_body(
    body: Any,
    *,
    preset: Preset,
    url: str = "",
    model: str | None = None,
    endpoint: str = "chat/completions",
    secrets: Iterable[str] = (),
) -> CompatError:
    """A 200 whose body is an error: a route, model or key problem in disguise, or a model
    still loading. The server may echo the key, so its text is scrubbed."""
    secrets = (*preset.secrets(), *secrets)
    said = server_message(body, secrets)
    disguised = (
        _AUTH_CODES.search(_fields(body))
        or _AUTH.search(said)
        or _ROUTE.search(said)
        or (endpoint == "chat/completions" and _model_missing(said, body, model, 200))
    )
    if disguised:
        return error_for_response(
            200,
            redact_value(body, *secrets),
            url=url or join_url(preset.base_url, endpoint),
            preset=preset,
            model=model,
            endpoint=endpoint,
        )
    return InvalidResponseError(
        f"{shown_url(preset.base_url)} answered 200 with an error: {sentence(said)} Check the "
        "server's log; retry once the model is loaded.",
        status_code=200,
        body=redact_value(body, *secrets),
    )
