"""The retry core, written once: from a request to a 2xx head, or a CompatError saying why not.

`attempts` is a generator of actions (see `actions.py`) that both faces in `driver.py` run. It
sends, follows or refuses redirects (`redirects.py`), reads error bodies (bounded in size and
time), waits and retries as the policy allows (never past its total retry time or the
answer's deadline), and turns every failure into a CompatError.
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass

import httpx

from ..config.presets import Preset
from .actions import ERROR_BODY_LIMIT, Body, Budget, Close, Core, Read, Send, Sleep
from .diagnosis import decode_body, error_for_response
from .failures import Exchange, deadline_passed, failure
from .protocol import RetryPolicy
from .proxies import is_loopback, proxy_for
from .redirects import next_request

__all__ = ["NO_RETRY", "PlainHttpKeyWarning", "Timing", "attempts"]

# The connection test answers within its deadline rather than retrying.
NO_RETRY = RetryPolicy(max_retries=0)
ERROR_BODY_SECONDS = 10.0  # an error page arrives at once; a stalled one is not waited for


class PlainHttpKeyWarning(UserWarning):
    """An API key is about to cross the network unencrypted."""


_warned_hosts: set[str] = set()
_warned_lock = threading.Lock()


def _warn_plain_http(url: httpx.URL) -> None:
    """Once per host and process: a key sent over http:// to a host that is not this one."""
    if url.scheme != "http" or is_loopback(url.host):
        return
    with _warned_lock:
        if url.host in _warned_hosts:
            return
        _warned_hosts.add(url.host)
    warnings.warn(
        f"The API key for {url.host} is sent over plain http://, so anyone on the network path "
        "can read it. Use https:// in the Base URL if the server offers it.",
        PlainHttpKeyWarning,
        stacklevel=2,
    )


@dataclass
class Timing:
    """When the call began, and when its first and its answering attempts were sent
    (time.perf_counter)."""

    began: float
    sent_at: float = 0.0
    first_sent: float = 0.0

    @property
    def waited_ms(self) -> float:
        """From the first attempt to the answering one: retries, their waits, redirects and
        re-sends. Making the pool or the request before the first send is no waiting."""
        if not self.first_sent:
            return 0.0
        return max(0.0, (self.sent_at - self.first_sent) * 1000)


def attempts(
    request: httpx.Request,
    *,
    preset: Preset,
    model: str | None,
    endpoint: str,
    policy: RetryPolicy,
    budget: Budget,
    ex: Exchange,
    timing: Timing,
) -> Core:
    """Send with redirects and retries; returns a 2xx httpx.Response whose body is unread.

    `ex` is kept up to date (URL, proxy) for the messages of whoever reads the body next.
    """
    attempt = 0
    stale_retried = False
    hops: list[str] = []
    credentials = bool(preset.secrets())
    while True:
        proxy = proxy_for(request.url)
        ex.url, ex.proxy = str(request.url), proxy
        if credentials:
            _warn_plain_http(request.url)
        send = Send(request, proxy)
        outcome = yield send
        timing.first_sent = timing.first_sent or send.sent_at
        spent = time.perf_counter() - timing.began
        if isinstance(outcome, BaseException):
            over = budget.over()
            if _stale(outcome) and not stale_retried and not over:
                # A pooled connection the server closed as the request went out (a server
                # that hangs up after an error, or an idle timeout): the request never
                # reached it, so it goes once more on a fresh connection, at once.
                stale_retried = True
                continue
            delay = policy.delay(attempt)
            connecting = isinstance(outcome, (httpx.ConnectError, httpx.ConnectTimeout))
            if connecting and not over and _may_retry(policy, attempt, spent, delay, budget):
                yield Sleep(delay)
                attempt += 1
                continue
            raise failure(outcome, ex, deadline_over=over) from None
        response: httpx.Response = outcome
        status = response.status_code
        if 300 <= status < 400 and status != 304:
            yield Close(response)
            request = next_request(
                request,
                response,
                preset=preset,
                endpoint=endpoint,
                hops=hops,
                credentials=credentials,
            )
            continue
        if status < 400:
            timing.sent_at = send.sent_at
            return response
        body: Body = yield Read(response, ERROR_BODY_LIMIT, within=ERROR_BODY_SECONDS)
        if body.error is not None and budget.over():
            raise deadline_passed(ex)
        decoded = decode_body(body.data, response.headers.get("content-type", ""))
        delay = policy.delay(attempt, response.headers)
        if policy.should_retry(status, decoded) and _may_retry(
            policy, attempt, spent, delay, budget
        ):
            yield Sleep(delay)
            attempt += 1
            continue
        error = error_for_response(
            status,
            decoded,
            url=str(request.url),
            preset=preset,
            model=model,
            endpoint=endpoint,
            attempts=attempt + 1,
            credentials=credentials,
            proxy=proxy,
        )
        if body.error is not None:
            error.message += (
                f" (The error's own body did not arrive whole: {type(body.error).__name__}.)"
            )
            error.args = (error.message,)
        raise error


def _stale(exc: BaseException) -> bool:
    """Nothing came back at all, the way a closed keep-alive connection fails."""
    if isinstance(exc, (httpx.WriteError, httpx.ReadError)):
        return True
    return isinstance(exc, httpx.RemoteProtocolError) and "without sending" in str(exc)


def _may_retry(
    policy: RetryPolicy, attempt: int, spent: float, delay: float, budget: Budget
) -> bool:
    # Waiting past the answer's deadline would only end in DeadlineExceeded.
    return policy.allows(attempt, spent, delay) and delay < budget.left()
