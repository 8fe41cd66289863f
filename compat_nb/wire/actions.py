"""The I/O actions a core asks for, and the budget (deadline, size cap) of one answer.

The client's logic is written once, as generators ("cores") that yield these actions; a face
in `driver.py` performs them, sync or async, and sends back each outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Union

import httpx

from .proxies import ProxyChoice

__all__ = [
    "ERROR_BODY_LIMIT",
    "Action",
    "Body",
    "Budget",
    "Close",
    "Core",
    "Emit",
    "Pump",
    "Read",
    "Send",
    "Sleep",
]

ERROR_BODY_LIMIT = 64 * 1024  # an error page is shown in 300 characters; more is never read


@dataclass
class Budget:
    """The limits of one answer: a wall-clock deadline (time.monotonic) and a size cap."""

    seconds: float
    max_bytes: int
    deadline: float = 0.0
    began: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.deadline = self.began + self.seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def over(self) -> bool:
        return time.monotonic() >= self.deadline - 0.005


# --- actions: what a core asks its face to do ---------------------------------------------------


@dataclass
class Send:
    """Send the request (through `proxy`); outcome: an httpx.Response with its head, or an
    exception. `sent_at` (time.perf_counter) is stamped by the face as it sends."""

    request: httpx.Request
    proxy: ProxyChoice | None
    sent_at: float = 0.0


@dataclass
class Read:
    """Read the body up to `limit` bytes (within `within` seconds, if given, and never past
    the answer's deadline), then close; outcome: a `Body`."""

    response: httpx.Response
    limit: int
    within: float | None = None


@dataclass
class Body:
    data: bytes
    error: BaseException | None = None  # what stopped the read before the end, if anything
    truncated: bool = False  # more than `limit` bytes were on offer


@dataclass
class Pump:
    """Read the body piece by piece (each read within the answer's deadline), hand each piece
    to `feed` and emit the text it returns; stop at the end of the body, or when `feed`
    returns None. Outcome: None, or the exception a read raised.

    One action for the whole body rather than one per piece: a server sends each token as its
    own HTTP chunk, and a round trip through the core per token cost more than the token's
    parsing.
    """

    response: httpx.Response
    feed: Callable[[bytes], str | None]


@dataclass
class Close:
    response: httpx.Response


@dataclass
class Sleep:
    seconds: float


@dataclass
class Emit:
    """Hand a text delta to the consumer of a stream."""

    text: str


Action = Union[Send, Read, Pump, Close, Sleep, Emit]  # noqa: UP007 (a runtime alias on 3.10)
Core = Generator[Action, Any, Any]
