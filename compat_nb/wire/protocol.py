"""The OpenAI-compatible wire format with no I/O: the retry policy, results, and parsing.

Everything here is pure so both faces of the client (sync and async) share it, and so it can
be tested on recorded responses alone.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from ..config.presets import Preset
from ..config.urls import shown_url
from ..errors import (
    CompatError,
    InvalidResponseError,
)
from .diagnosis import error_in_body, server_message, upstream_down

__all__ = [
    "ChatResult",
    "ConnectionReport",
    "RetryPolicy",
    "Usage",
    "cost_of",
    "parse_chat_response",
    "parse_models",
    "split_reasoning",
    "valid_text",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a request again.

    Retried: 408, 429, 500, 502, 503 and 504, at most `max_retries` times, never once a
    stream has produced text. The wait is exponential backoff with jitter from
    `initial_delay` up to `max_delay` seconds, or what the server asks for in Retry-After
    (RFC 9110 §10.2.3: seconds or an HTTP date) or retry-after-ms, up to `max_retry_after`
    seconds; `max_retry_time` bounds all the waiting and failed attempts of one request.
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0  # a server asking for longer is reported, not waited for
    max_retry_time: float = 60.0  # all waiting and failed attempts of one request, in seconds

    def should_retry(self, status: int, body: Any) -> bool:
        if status not in RETRY_STATUSES:
            return False
        # llama.cpp's server answers request validation errors with 500: sending the same
        # body again can only fail the same way. A gateway that could not reach its upstream
        # (LiteLLM: "Connection error") has retried already, taking seconds each time.
        if status == 500 and "validation error" in server_message(body).lower():
            return False
        return not upstream_down(body)

    def allows(self, attempt: int, spent: float, delay: float) -> bool:
        """Whether retry number attempt+1 may go, `spent` seconds in, after waiting `delay`."""
        return attempt < self.max_retries and spent + delay <= self.max_retry_time

    def delay(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry number attempt+1, honouring Retry-After up to a cap."""
        asked = _retry_after(headers or {})
        if asked is not None and asked <= self.max_retry_after:
            return asked
        backoff = min(self.initial_delay * 2.0**attempt, self.max_delay)
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
    """Token counts as the server reported them in `usage` (None where it did not)."""

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
    """One finished chat completion, with what the server reported and what was measured.

    `text` is the answer with any leading `<think>` block moved to `reasoning`. Times in ms:
    `ttft_ms` to the first token, `latency_ms` to the end of the answer, both timing the
    attempt that answered; `waited_ms` is the retries and Retry-After waits before it.
    """

    text: str
    reasoning: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    model: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    chunks: int = 0  # content deltas received; estimates tokens when a server sends no usage
    waited_ms: float | None = None  # retries and Retry-After waits before the answer began
    notes: tuple[str, ...] = ()  # what the client changed to get this answer, said once

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
    """What `GET {base}/models` said: reachable or not, which models, how fast.

    `latency_ms`: the whole exchange, in ms; `error`: the message a user reads when not ok;
    `model`: the preset's model, checked against `model_ids` (`model_found`); `base_url` as
    shown, query values masked. `message` is the line `%translate test` prints.
    """

    ok: bool
    model_ids: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    error: str | None = None
    base_url: str = ""
    model: str | None = None
    # The error itself, so a command that fails on it raises the same kind a request would.
    failure: CompatError | None = field(default=None, repr=False, compare=False)

    @property
    def model_count(self) -> int:
        """How many model ids the server listed."""
        return len(self.model_ids)

    def __post_init__(self) -> None:
        # Shown in reprs and messages: a gateway may take its key in the query string.
        object.__setattr__(self, "base_url", shown_url(self.base_url) if self.base_url else "")

    @property
    def model_found(self) -> bool | None:
        """Whether the preset's model is listed; None when there is no model or no list.

        An untagged id matches its `:latest` tag, as Ollama lists them (`llama3.2:latest`).
        """
        if not self.ok or not self.model:
            return None
        if self.model in self.model_ids:
            return True
        return ":" not in self.model and f"{self.model}:latest" in self.model_ids

    @property
    def message(self) -> str:
        """One line: the error, or "Connected. Found N models. Latency: X ms" and the model."""
        if not self.ok:
            # The error says what happened ("Could not connect…", "Server reachable, key
            # rejected…"); a "Connection failed:" prefix would contradict the second.
            return self.error or "The connection test failed, with no details."
        noun = "model" if self.model_count == 1 else "models"
        text = f"Connected. Found {self.model_count} {noun}. Latency: {self.latency_ms:.0f} ms"
        if self.model_found is False:
            text += f". Model {self.model!r} is not among them"
        return text

    def __str__(self) -> str:
        return self.message


def cost_of(preset: Preset | None, usage: Usage | None) -> float | None:
    """Dollars for one run from the preset's per-million-token prices; None when unpriced."""
    if preset is None or usage is None:
        return None
    if preset.input_price is None and preset.output_price is None:
        return None
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    if prompt is None and completion is None:
        return None
    return ((prompt or 0) * (preset.input_price or 0.0)) / 1e6 + (
        (completion or 0) * (preset.output_price or 0.0)
    ) / 1e6


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


_OPENS_THINK = re.compile(r"\s*<think>")  # matched in place: no stripped copy of a long answer


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """text as Unicode any file or terminal can take: a surrogate pair a server sent as two
    JSON escapes becomes its character, a lone surrogate U+FFFD (RFC 8259 §8.2 allows both in
    JSON; a JavaScript server cutting a string between the two halves sends them)."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def split_reasoning(text: str) -> tuple[str, str]:
    """(answer, reasoning): a leading `<think>…</think>` block moves out of the answer."""
    opens = _OPENS_THINK.match(text)
    if opens:
        inner, sep, rest = text[opens.end() :].partition("</think>")
        if sep:
            return rest.lstrip(), inner.strip()
        return "", inner.strip()  # never closed: it was all reasoning
    # Some chat templates open the block themselves, so only the closing tag arrives.
    head, sep, rest = text.partition("</think>")
    if sep and "<think>" not in head:
        return rest.lstrip(), head.strip()
    return text, ""


def message_reasoning(message: Mapping[str, Any]) -> str:
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def parse_chat_response(
    body: Any,
    *,
    where: str = "",
    secrets: Iterable[str] = (),
    preset: Preset | None = None,
    model: str | None = None,
) -> ChatResult:
    """A ChatResult from a non-streamed chat completion body.

    Errors name `preset` (or the URL `where`) and are scrubbed of its secrets and `secrets`.
    """
    if preset is None:
        preset = Preset("server", base_url=where)
    if isinstance(body, Mapping) and body.get("error"):
        raise error_in_body(body, preset=preset, model=model, secrets=secrets)
    choices = body.get("choices") if isinstance(body, Mapping) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], Mapping):
        raise InvalidResponseError(
            f"{shown_url(preset.base_url)} answered without `choices`, so it is not an OpenAI "
            "chat completion. "
            "Check that the Base URL is the API root of an OpenAI-compatible server.",
            status_code=200,
            body=body,
        )
    choice = choices[0]
    message = choice.get("message") or {}
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    text, think = split_reasoning(valid_text(str(content)))
    reasoning = "\n".join(r for r in (valid_text(message_reasoning(message)), think) if r)
    assert isinstance(body, Mapping)
    return ChatResult(
        text=text,
        reasoning=reasoning,
        usage=Usage.from_json(body.get("usage")),
        finish_reason=choice.get("finish_reason"),
        model=body.get("model"),
    )
