"""The two faces that run a core: one with an `httpx.Client`, one with an `httpx.AsyncClient`.

They only perform actions, inside the answer's deadline, and send back each outcome; an
exception is an outcome too (what it means is the core's business). Responses they opened
are closed however the run ends: finished, failed, abandoned or interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import httpx

from .actions import Action, Body, Budget, Close, Core, Emit, Pump, Read, Send, Sleep
from .deadline import deadline_scope, reset_deadline, set_deadline
from .decoding import aiter_body, iter_body
from .transport import Pools, async_transport

__all__ = ["Driver"]


def _deadline(action: Action, budget: Budget) -> float:
    if isinstance(action, Read) and action.within is not None:
        return min(budget.deadline, time.monotonic() + action.within)
    return budget.deadline


class Driver:
    """Performs a core's actions with the client's pools, inside the core's deadline."""

    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self._async_ready = False  # anyio's asyncio backend loaded

    def run(self, core: Core, budget: Budget) -> Iterator[Any]:
        """Sync face: yields each Emit's text, then the core's return value as the last item."""
        open_responses: dict[int, httpx.Response] = {}
        outcome: Any = None
        try:
            while True:
                try:
                    action = core.send(outcome)
                except StopIteration as done:
                    yield done.value
                    return
                outcome = None
                if isinstance(action, Emit):
                    yield action.text
                elif isinstance(action, Pump):
                    # Inlined, not a helper generator: this loop runs once per token.
                    pieces = iter_body(action.response, budget.max_bytes)
                    feed, deadline = action.feed, budget.deadline
                    while True:
                        token = set_deadline(deadline)
                        try:
                            piece = next(pieces, b"")
                        except Exception as exc:
                            outcome = exc
                            break
                        finally:
                            reset_deadline(token)
                        text = feed(piece) if piece else None
                        if text is None:
                            break
                        if text:
                            yield text
                elif isinstance(action, Sleep):
                    time.sleep(max(0.0, action.seconds))
                elif isinstance(action, Close):
                    open_responses.pop(id(action.response), None)
                    action.response.close()
                else:
                    with deadline_scope(_deadline(action, budget)):
                        outcome = self._perform(action, open_responses, budget.max_bytes)
        finally:
            core.close()
            for response in open_responses.values():
                response.close()  # also on Ctrl-C or an abandoned stream: the pool stays usable

    def _perform(self, action: Action, open_responses: dict[int, httpx.Response], cap: int) -> Any:
        try:
            if isinstance(action, Send):
                http = self.pools.sync(action.proxy, tls=action.request.url.scheme == "https")
                action.sent_at = time.perf_counter()
                response = http.send(action.request, stream=True)
                open_responses[id(response)] = response
                return response
            if isinstance(action, Read):
                data, error, truncated = bytearray(), None, False
                try:
                    for piece in iter_body(action.response, cap):
                        data += piece
                        if len(data) > action.limit:
                            truncated = True
                            break
                except Exception as exc:
                    error = exc
                finally:
                    open_responses.pop(id(action.response), None)
                    action.response.close()
                return Body(bytes(data[: action.limit]), error, truncated)
            raise TypeError(f"not an action: {action!r}")
        except Exception as exc:
            return exc

    async def arun(self, core: Core, budget: Budget) -> AsyncGenerator[Any, None]:
        """Async face: as `run`, with the pools of the running event loop."""
        open_responses: dict[int, httpx.Response] = {}
        outcome: Any = None
        try:
            while True:
                try:
                    action = core.send(outcome)
                except StopIteration as done:
                    yield done.value
                    return
                outcome = None
                if isinstance(action, Emit):
                    yield action.text
                elif isinstance(action, Pump):
                    pieces = aiter_body(action.response, budget.max_bytes)
                    feed, deadline = action.feed, budget.deadline
                    while True:
                        token = set_deadline(deadline)
                        try:
                            piece = await anext(pieces, b"")
                        except Exception as exc:
                            outcome = exc
                            break
                        finally:
                            reset_deadline(token)
                        text = feed(piece) if piece else None
                        if text is None:
                            break
                        if text:
                            yield text
                elif isinstance(action, Sleep):
                    await asyncio.sleep(max(0.0, action.seconds))
                elif isinstance(action, Close):
                    open_responses.pop(id(action.response), None)
                    await action.response.aclose()
                else:
                    with deadline_scope(_deadline(action, budget)):
                        outcome = await self._aperform(action, open_responses, budget.max_bytes)
        finally:
            core.close()
            for response in open_responses.values():
                await response.aclose()

    async def _aperform(
        self, action: Action, open_responses: dict[int, httpx.Response], cap: int
    ) -> Any:
        try:
            if isinstance(action, Send):
                tls = action.request.url.scheme == "https"
                http = self.pools.aio(action.proxy, tls=tls)
                if not self._async_ready and async_transport() == "httpx":
                    # The first async connection loads anyio's backend (~50 ms): done here,
                    # before the clock starts, so the first column of a comparison does not
                    # carry the process's setup.
                    import anyio

                    await anyio.sleep(0)
                    self._async_ready = True
                action.sent_at = time.perf_counter()
                response = await http.send(action.request, stream=True)
                open_responses[id(response)] = response
                return response
            if isinstance(action, Read):
                data, error, truncated = bytearray(), None, False
                try:
                    async for piece in aiter_body(action.response, cap):
                        data += piece
                        if len(data) > action.limit:
                            truncated = True
                            break
                except Exception as exc:
                    error = exc
                finally:
                    open_responses.pop(id(action.response), None)
                    await action.response.aclose()
                return Body(bytes(data[: action.limit]), error, truncated)
            raise TypeError(f"not an action: {action!r}")
        except Exception as exc:
            return exc
