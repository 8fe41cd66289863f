"""One chat request through the shared async client, its failure kept as a value: what a
comparison column or an evaluation cell needs, so that one failed request never stops the
others running beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from ..config.presets import Preset
from ..errors import CompatError, StreamError
from ..wire.client import get_client
from ..wire.protocol import ChatResult
from .gates import Gates

__all__ = ["Messages", "Outcome", "ask", "ask_once"]

Messages = list[dict[str, str]]


@dataclass
class Outcome:
    """What one request came to: a result, or an error (with any text received before it).
    Plain data, so it can come back from a Dask worker."""

    result: ChatResult | None = None
    error: str | None = None
    partial: str = ""
    reason: str = ""  # "interrupted": the server abandoned it (see work/gates.py)

    @property
    def interrupted(self) -> bool:
        """The server abandoned the request for another one: worth one more try alone."""
        return self.reason == "interrupted"


async def ask_once(
    preset: Preset,
    messages: Messages,
    *,
    stream: bool,
    on_delta: Callable[[str], None] | None = None,
) -> Outcome:
    """One request (streamed: the time to first token is measured, and each text delta goes
    to `on_delta`). Never raises: a CompatError, or any other exception, becomes an Outcome
    whose error is the message with the preset's secrets redacted."""
    client = get_client()
    try:
        if not stream:
            return Outcome(await client.achat(preset, messages))
        result: ChatResult | None = None
        async for item in client.astream(preset, messages):
            if isinstance(item, ChatResult):
                result = item
            elif on_delta is not None:
                on_delta(item)
        return Outcome(result)
    except StreamError as exc:
        error = preset.redact(exc.message)
        return Outcome(error=error, partial=exc.partial, reason=exc.reason)
    except CompatError as exc:
        return Outcome(error=preset.redact(exc.message), reason=getattr(exc, "reason", ""))
    except Exception as exc:  # a bug in one request must not take the others down
        return Outcome(error=preset.redact(f"{type(exc).__name__}: {exc}"))


async def ask(
    preset: Preset,
    messages: Messages,
    *,
    stream: bool,
    gate: asyncio.Semaphore | None = None,
    gates: Gates | None = None,
) -> Outcome:
    """`ask_once` in its turn: under `gate`, or with `gates` at the preset's server, where a
    request the server abandoned for another one is run again alone (llama-cpp-python's
    interruptions)."""
    if gates is not None:
        outcome, _ = await gates.run(
            preset,
            lambda: ask_once(preset, messages, stream=stream),
            lambda o: o.interrupted,
        )
        return outcome
    async with gate or contextlib.nullcontext():
        return await ask_once(preset, messages, stream=stream)
