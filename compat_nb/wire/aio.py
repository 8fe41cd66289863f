"""Run a coroutine to completion from synchronous code, inside a kernel or out of one.

nest_asyncio is applied here only, and only when an event loop is already running (as in
ipykernel); elsewhere each thread keeps one loop of its own, so pooled connections survive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Await coro from sync code and return its result; Ctrl-C cancels it before re-raising."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = _thread_loop()
    else:
        import nest_asyncio

        nest_asyncio.apply(loop)
    task = loop.create_task(coro)
    try:
        return loop.run_until_complete(task)
    except KeyboardInterrupt:
        # Cancelling closes the open responses; otherwise they would stream on after the cell.
        task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(task)
        raise


def _thread_loop() -> asyncio.AbstractEventLoop:
    # One loop per thread: Dask and the panel call from worker threads at the same time, and
    # a loop cannot run in two threads at once.
    loop: asyncio.AbstractEventLoop | None = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = asyncio.new_event_loop()
        _local.loop = loop
    return loop
