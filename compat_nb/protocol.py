"""The OpenAI-compatible wire format with no I/O: request bodies, results, and error mapping.

Everything here is pure so both faces of the client (sync and async) share it, and so it can
be tested on recorded responses alone.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from .errors import (
    AuthenticationError,
    BadRequestError,
    CompatError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
    redact,
)
from .presets import Preset

__all__ = [
    "ChatAccumulator",
    "ChatResult",
    "ConnectionReport",
    "RetryPolicy",
    "Usage",
    "error_for_response",
    "error_in_body",
    "parse_chat_response",
    "parse_models",
    "split_reasoning",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again."""

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # a server asking for longer is reported, not waited for

    def should_retry(self, status: int, body: Any) -> bool:
        if status not in RETRY_STATUSES:
            return False
        # llama.cpp's server answers request validation errors with 500: sending the same
        # body again can only fail the same way.
        return not (status == 500 and "validation error" in _server_message(body).lower())

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry number attempt+1, honouring Retry-After up to a cap."""
        asked = _retry_after(headers or {})
        if asked is not None and asked <= self.max_retry_after:
            return asked
        backoff = min(self.initial_delay * 2**attempt, self.max_delay)
        return backoff * (1 - 0.25 * random.random())  # jitter spreads simultaneous clients


def _retry_after(headers: Mapping[str, str]) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        if "retry-after-ms" in lowered:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        value = lowered.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            from datetime import datetime, timezone

            return max(
                0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
            )
    except (TypeError, ValueError):
        return None


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        if not isinstance(data, Mapping):
            return None
        ints = {
            k: data.get(k) if isinstance(data.get(k), int) else None
            for k in ("prompt_tokens", "completion_tokens", "total_tokens")
        }
        return cls(**ints) if any(v is not None for v in ints.values()) else None


@dataclass(frozen=True)
class ChatResult:
    """One finished chat completion, with what the server reported and what we measured."""

    text: str
    reasoning: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    chunks: int = 0  # content deltas received; estimates tokens when a server sends no usage

    @property
    def output_tokens(self) -> int | None:
        if self.usage and self.usage.completion_tokens is not None:
            return self.usage.completion_tokens
        return self.chunks or None

    @property
    def tokens_estimated(self) -> bool:
        return not (self.usage and self.usage.completion_tokens is not None) and self.chunks > 0

    @property
    def tokens_per_second(self) -> float | None:
        return tokens_per_second(self.output_tokens, self.latency_ms, self.ttft_ms)


def tokens_per_second(
    tokens: int | None, latency_ms: float | None, ttft_ms: float | None
) -> float | None:
    """Generation speed, as LM Studio reports it: tokens after the first over the time after it.

    Without a time to first token (a non-streamed answer) it is tokens over the total time.
    """
    if not tokens or not latency_ms:
        return None
    if ttft_ms is not None and tokens > 1 and latency_ms > ttft_ms:
        return (tokens - 1) / ((latency_ms - ttft_ms) / 1000)
    return tokens / (latency_ms / 1000)


@dataclass(frozen=True)
class ConnectionReport:
    """What `GET {base}/models` said: reachable or not, which models, how fast."""

    ok: bool
    model_ids: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    error: str | None = None
    base_url: str = ""
    model: str | None = None

    @property
    def model_count(self) -> int:
        return len(self.model_ids)

    @property
    def model_found(self) -> bool | None:
        """Whether the preset's model is listed; None when there is no model or no list."""
        if not self.ok or not self.model:
            return None
        return self.model in self.model_ids

    @property
    def message(self) -> str:
        if not self.ok:
            return f"Connection failed: {self.error}"
        noun = "model" if self.model_count == 1 else "models"
        text = f"Connected. Found {self.model_count} {noun}. Latency: {self.latency_ms:.0f} ms"
        if self.model_found is False:
            text += f". Model {self.model!r} is not among them"
        return text

    def __str__(self) -> str:
        return self.message


# --- parsing ---------------------------------------------------------------------------------


def parse_models(body: Any) -> list[str]:
    """Model ids from `{"data": [...]}` or a bare list; raises InvalidResponseError otherwise."""
    items = body.get("data", body.get("models")) if isinstance(body, Mapping) else body
    if not isinstance(items, list):
        raise InvalidResponseError(
            "The /models answer is not a model list. Is this an OpenAI-compatible API root?",
            body=body,
        )
    ids: list[str] = []
    for item in items:
        name = item.get("id") or item.get("name") if isinstance(item, Mapping) else item
        if isinstance(name, str):
            ids.append(name)
    return ids


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning): a leading `<think>…</think>` block moves out of the answer."""
    stripped = text.lstrip()
    if stripped.startswith("<think>"):
        inner, sep, rest = stripped[len("<think>") :].partition("</think>")
        if sep:
            return rest.lstrip(), inner.strip()
        return "", inner.strip()  # never closed: it was all reasoning
    # Some chat templates open the block themselves, so only the closing tag arrives.
    head, sep, rest = text.partition("</think>")
    if sep and "<think>" not in head:
        return rest.lstrip(), head.strip()
    return text, ""


def _message_reasoning(message: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def error_in_body(body: Any, *, where: str, secret: str | None = None) -> InvalidResponseError:
    """A 200 whose body is an error (a model still loading); the server may echo the key."""
    return InvalidResponseError(
        f"{where} answered 200 with an error: {_server_message(body, secret)}. "
        "Check the server's log; retry once the model is loaded.",
        status_code=200,
        body=body,
    )


def parse_chat_response(body: Any, *, where: str, secret: str | None = None) -> ChatResult:
    """A ChatResult from a non-streamed chat completion body; `secret` is scrubbed from errors."""
    if isinstance(body, Mapping) and body.get("error"):
        raise error_in_body(body, where=where, secret=secret)
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], Mapping):
        raise InvalidResponseError(
            f"{where} answered without `choices`, so it is not an OpenAI chat completion. "
            "Check that the Base URL is the API root of an OpenAI-compatible server.",
            status_code=200,
            body=body,
        )
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    text, think = split_reasoning(str(content))
    reasoning = "\n".join(r for r in (_message_reasoning(message), think) if r)
    assert isinstance(body, Mapping)
    return ChatResult(
        text=text,
        reasoning=reasoning,
        usage=Usage.from_json(body.get("usage")),
        finish_reason=choice.get("finish_reason"),
        model=body.get("model"),
    )


class ChatAccumulator:
    """Turns parsed stream chunks into text deltas and, at the end, a ChatResult.

    A leading `<think>` block can arrive split across chunks ("<thi", "nk>"), so content is
    held back until it is clear whether it opens one.
    """

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self, *, where: str, secret: str | None = None) -> None:
        self.where = where
        self._secret = secret  # scrubbed from error messages: a server may echo the key
        self._text: list[str] = []
        self._reasoning: list[str] = []  # <think> blocks
        self._reasoning_field = ""  # `reasoning_content` deltas: pieces of one text
        self._pending = ""
        self._state = "start"  # start -> (think -> after ->) text
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self.model: str | None = None
        self.chunks = 0
        self.started = False  # any content or reasoning has arrived

    @property
    def text(self) -> str:
        return "".join(self._text)

    def feed(self, data: str) -> str:
        """One SSE `data` payload; returns the answer text it adds (often '')."""
        try:
            chunk = json.loads(data)
        except ValueError:
            raise StreamError(
                f"{self.where} sent a stream chunk that is not JSON: "
                f"{redact(data, self._secret)[:120]!r}.",
                partial=self.text,
            ) from None
        if not isinstance(chunk, Mapping):
            return ""
        if chunk.get("error"):
            raise StreamError(
                f"{self.where} reported an error mid-stream: "
                f"{_server_message(chunk, self._secret)}. "
                "The text received so far is kept.",
                partial=self.text,
            )
        self.model = chunk.get("model") or self.model
        self.usage = Usage.from_json(chunk.get("usage")) or self.usage
        out = ""
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = _message_reasoning(delta)
            if reasoning:
                self.started = True
                self._reasoning_field += reasoning
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.started = True
                self.chunks += 1
                out += self._route(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _route(self, content: str) -> str:
        if self._state == "text":
            self._text.append(content)
            return content
        self._pending += content
        if self._state == "start":
            head = self._pending.lstrip()
            if head.startswith(self._OPEN):
                self._state, self._pending = "think", head[len(self._OPEN) :]
            elif self._OPEN.startswith(head):
                return ""  # still could be "<think>"
            else:
                return self._emit_pending()
        if self._state == "think":
            inner, sep, rest = self._pending.partition(self._CLOSE)
            if not sep:
                return ""
            self._reasoning.append(inner.strip())
            self._state, self._pending = "after", rest
        if self._state == "after":
            self._pending = self._pending.lstrip()
            if not self._pending:
                return ""
            return self._emit_pending()
        return ""

    def _emit_pending(self) -> str:
        out, self._pending, self._state = self._pending, "", "text"
        self._text.append(out)
        return out

    def finish(self) -> str:
        """Flush what was held back; returns the text it adds."""
        if self._state == "think":
            self._reasoning.append(self._pending.strip())
            self._pending = ""
            return ""
        return self._emit_pending() if self._pending else ""

    def result(self, *, latency_ms: float | None, ttft_ms: float | None) -> ChatResult:
        text, late_reasoning = split_reasoning(self.text)  # a lone </think> only shows at the end
        parts = [self._reasoning_field, *self._reasoning, late_reasoning]
        reasoning = "\n".join(r for r in parts if r)
        return ChatResult(
            text=text,
            reasoning=reasoning,
            usage=self.usage,
            finish_reason=self.finish_reason,
            model=self.model,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            chunks=self.chunks,
        )


# --- errors ----------------------------------------------------------------------------------


def decode_body(content: bytes, content_type: str) -> Any:
    """JSON when it parses, else the text (HTML pages, plain 'Bad Gateway')."""
    text = content.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _server_message(body: Any, secret: str | None = None) -> str:
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
    text = redact(" ".join(text.split()), secret)
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
    said = _server_message(body, preset.resolve_key())
    retried = f" after {attempts} attempts" if attempts > 1 else ""
    cls: type[ResponseError]
    if status in (401, 403):
        key = {
            "set": "a saved key",
            "env": f"the key in ${preset.api_key_env}",
            "env unset": f"no key (${preset.api_key_env} is not set)",
            "none": "no key",
        }
        cls = AuthenticationError
        text = (
            f"Server reachable, key rejected ({status}) at {base}: {said}. "
            f"The request sent {key[preset.key_status]}; set the right API key for "
            f"preset {preset.name!r} in `%translate settings`."
        )
    elif status == 404:
        cls = NotFoundError
        lowered = said.lower()
        if endpoint == "chat/completions" and model and ("model" in lowered or model in said):
            text = (
                f"Model {model!r} not found at {base}: {said}. Use the exact model id; "
                f"`%translate test {_quoted(preset.name)}` lists the ids this server has."
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


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name
