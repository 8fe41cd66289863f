"""The retry core, written once: a generator of I/O actions that a sync or async face runs.

`attempts` decides (send, read an error body, sleep, give up); `drive` and `adrive` only
perform what it asks with an `httpx.Client` or `httpx.AsyncClient` and send back the outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Union

import httpx

from ..config.presets import Preset
from .diagnosis import decode_body, error_for_response, transport_error
from .protocol import RetryPolicy

__all__ = ["NO_RETRY", "Attempts", "adrive", "attempts", "drive"]


@dataclass
class _Send:
    request: httpx.Request


@dataclass
class _Read:
    response: httpx.Response


@dataclass
class _Sleep:
    seconds: float


_Action = Union[_Send, _Read, _Sleep]  # noqa: UP007 (a runtime alias on 3.10)
Attempts = Generator[_Action, Any, httpx.Response]

# The connection test answers within its deadline rather than retrying.
NO_RETRY = RetryPolicy(max_retries=0)


def attempts(
    request: httpx.Request,
    preset: Preset,
    model: str | None,
    endpoint: str,
    policy: RetryPolicy,
) -> Attempts:
    """Send with retries; returns a streaming 2xx response or raises a CompatError."""
    attempt = 0
    while True:
        outcome = yield _Send(request)
        if isinstance(outcome, httpx.TransportError):
            retryable = isinstance(outcome, (httpx.ConnectError, httpx.ConnectTimeout))
            if retryable and attempt < policy.max_retries:
                yield _Sleep(policy.delay(attempt))
                attempt += 1
                continue
            raise transport_error(outcome, preset, request) from None
        response: httpx.Response = outcome
        if response.status_code < 400:
            return response
        content = yield _Read(response)
        body = decode_body(content, response.headers.get("content-type", ""))
        if policy.should_retry(response.status_code, body) and attempt < policy.max_retries:
            yield _Sleep(policy.delay(attempt, response.headers))
            attempt += 1
            continue
        raise error_for_response(
            response.status_code,
            body,
            url=str(request.url),
            preset=preset,
            model=model,
            endpoint=endpoint,
            attempts=attempt + 1,
        )


def drive(http: httpx.Client, core: Attempts) -> httpx.Response:
    """Run the core with a sync client."""
    outcome: Any = None
    while True:
        try:
            action = core.send(outcome)
        except StopIteration as done:
            response: httpx.Response = done.value
            return response
        if isinstance(action, _Send):
            try:
                outcome = http.send(action.request, stream=True)
            except httpx.TransportError as exc:
                outcome = exc
        elif isinstance(action, _Read):
            try:
                outcome = action.response.read()
            finally:
                action.response.close()
        else:
            time.sleep(action.seconds)
            outcome = None


async def adrive(http: httpx.AsyncClient, core: Attempts) -> httpx.Response:
    """Run the core with an async client."""
    outcome: Any = None
    while True:
        try:
            action = core.send(outcome)
        except StopIteration as done:
            response: httpx.Response = done.value
            return response
        if isinstance(action, _Send):
            try:
                outcome = await http.send(action.request, stream=True)
            except httpx.TransportError as exc:
                outcome = exc
        elif isinstance(action, _Read):
            try:
                outcome = await action.response.aread()
            finally:
                await action.response.aclose()
        else:
            await asyncio.sleep(action.seconds)
            outcome = None
