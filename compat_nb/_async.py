"""Run a coroutine to completion from synchronous code, inside a kernel or out of one.

nest_asyncio is applied here only, and only when an event loop is already running (as in
ipykernel); a plain interpreter gets one persistent loop, so pooled connections survive.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_own_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Await coro from sync code and return its result."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        import nest_asyncio

        nest_asyncio.apply(running)
        return running.run_until_complete(coro)
    return _loop().run_until_complete(coro)


def _loop() -> asyncio.AbstractEventLoop:
    global _own_loop
    with _lock:
        if _own_loop is None or _own_loop.is_closed():
            _own_loop = asyncio.new_event_loop()
        return _own_loop
