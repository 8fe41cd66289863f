"""How many requests each server gets at once: a preset's own `concurrency`, and one at a time
for a server found to interrupt concurrent requests.

llama-cpp-python's server (with its default `--interrupt_requests True`) ends a running stream
(a `[DONE]` with no finish reason, then the connection drops) as soon as a second request
arrives. A comparison that meets this re-runs the lost candidate alone and, for the rest of the
session, sends that server one request at a time (remembered on the shared client).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from ..config.presets import Preset
from ..wire.client import get_client

__all__ = ["INTERRUPTS", "RERUN_NOTE", "Gates", "ServerGate", "server_of"]

T = TypeVar("T")

INTERRUPTS = "interrupts concurrent requests"  # a quirk of a root, kept by the client
RERUN_NOTE = (
    "re-run alone: the server ended this answer when another request arrived "
    "(llama-cpp-python's --interrupt_requests); it now gets one request at a time"
)


@dataclass
class Slot:
    """One request's turn at a server: whether another request shared the server with it."""

    gate: ServerGate
    entered_after: int  # the gate's entry count when this one entered
    others_at_entry: int

    @property
    def overlapped(self) -> bool:
        return self.others_at_entry > 0 or self.gate.entries > self.entered_after + 1


class ServerGate:
    """At most `limit` requests at once to one server; the limit can drop to 1 on the way."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.active = 0
        self.entries = 0
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def slot(self, *, alone: bool = False) -> AsyncIterator[Slot]:
        """A turn; `alone` waits until no other request holds one."""
        async with self._changed:
            await self._changed.wait_for(
                lambda: self.active == 0 if alone else self.active < self.limit
            )
            turn = Slot(self, self.entries, self.active)
            self.active += 1
            self.entries += 1
        try:
            yield turn
        finally:
            async with self._changed:
                self.active -= 1
                self._changed.notify_all()

    async def serialize(self) -> None:
        async with self._changed:
            self.limit = 1
            self._changed.notify_all()


def server_of(preset: Preset) -> str:
    """scheme://host:port: the unit a concurrency bound applies to (two API roots on one
    port are one server, which interrupts or queues them alike)."""
    parts = urlsplit(preset.base_url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}"


class Gates:
    """One ServerGate per server, for one run of many requests (a comparison, an evaluation)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._gates: dict[str, ServerGate] = {}

    def of(self, preset: Preset) -> ServerGate:
        server = server_of(preset)
        gate = self._gates.get(server)
        if gate is None:
            limit = min(self.limit, preset.concurrency or self.limit)
            if get_client().quirks.has(server, INTERRUPTS):
                limit = 1
            gate = self._gates[server] = ServerGate(limit)
        else:
            # Two presets on one server: the stricter limit wins.
            gate.limit = min(gate.limit, preset.concurrency or gate.limit)
        return gate

    async def interrupting(self, preset: Preset) -> None:
        """The server at this preset's root interrupts concurrent requests: one at a time,
        here and for the rest of the session."""
        get_client().quirks.add(server_of(preset), INTERRUPTS)
        await self.of(preset).serialize()

    async def run(
        self, preset: Preset, request: Callable[[], Awaitable[T]], lost: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """request() in its turn at the preset's server; if `lost(outcome)` says the server
        abandoned it, and another request shared the server meanwhile, once more alone.
        Returns (the outcome, whether it was re-run)."""
        gate = self.of(preset)
        async with gate.slot() as turn:
            outcome = await request()
        if not (lost(outcome) and turn.overlapped):
            return outcome, False
        await self.interrupting(preset)
        async with gate.slot(alone=True):
            return await request(), True
