"""Run a coroutine to completion from synchronous code, inside a kernel or out of one.

nest_asyncio is applied here only, and only when an event loop is already running (as in
ipykernel); elsewhere each thread keeps one loop of its own, so pooled connections survive.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_local = threading.local()
# Every loop made here, to be shut down at exit: a loop left open keeps its pooled connections,
# and aiohttp then prints "Unclosed client session" under a script's own output.
_loops: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


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
        if not _loops:
            atexit.register(_close_loops)
        _loops.add(loop)
    return loop


def _close_loops() -> None:
    """At exit: end each idle loop as `asyncio.run` would, so its pools close their
    connections (`shutdown_asyncgens` runs their closers) before the loop is closed."""
    for loop in list(_loops):
        if loop.is_closed() or loop.is_running():
            continue
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        with contextlib.suppress(Exception):
            loop.close()
    _loops.clear()
