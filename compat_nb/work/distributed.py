"""An evaluation's requests run inside Dask: the missing cells split into one partition per
worker, each worker sending its partition through its own client with the same per-server
bound, the answers coming back to be cached, checked and scored here as each partition ends.

With a `distributed` Client active, its workers are used; otherwise Dask's threads.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import ConfigError
from ..wire.aio import run_sync
from .asking import Outcome, ask
from .evaluation import Cell, Evaluation
from .evaluator import EvaluationView, Evaluator, Request
from .gates import server_of

__all__ = ["fetch_partition", "run_batched", "run_in_dask"]

Each = Callable[[int, Outcome], None]  # called with a request's index and its outcome
FetchMany = Callable[[list[Request], Each], Awaitable[None]]


def fetch_partition(requests: list[Request], concurrency: int, stream: bool) -> list[Outcome]:
    """Run on a worker: every request of a partition, `concurrency` at a time per server."""

    async def go() -> list[Outcome]:
        gates: dict[str, asyncio.Semaphore] = {}
        for preset, _ in requests:
            gates.setdefault(server_of(preset), asyncio.Semaphore(concurrency))
        return list(
            await asyncio.gather(
                *(ask(p, m, stream=stream, gate=gates[server_of(p)]) for p, m in requests)
            )
        )

    return run_sync(go()) if requests else []


def _client() -> Any:
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):  # no distributed, or no Client made
        return None


def _compute(
    parts: list[list[Request]],
    concurrency: int,
    stream: bool,
    client: Any,
    on_part: Callable[[int, list[Outcome]], None],
) -> None:
    """Every partition on Dask, `on_part` called as each one ends (not when all have)."""
    import dask

    tasks = [dask.delayed(fetch_partition)(part, concurrency, stream) for part in parts]
    if client is None:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            running = {
                pool.submit(dask.compute, task, scheduler="sync"): i for i, task in enumerate(tasks)
            }
            for done in as_completed(running):
                on_part(running[done], done.result()[0])
        return
    from distributed import as_completed as completed

    futures = client.compute(tasks)
    index = {future.key: i for i, future in enumerate(futures)}
    for future in completed(futures):
        on_part(index[future.key], future.result())


async def run_in_dask(
    evaluator: Evaluator, *, partitions: int | None = None, view: EvaluationView | None = None
) -> Evaluation:
    """`evaluator.run` with its requests sent from Dask workers (see the module docstring)."""
    try:
        import dask  # noqa: F401
    except ImportError:
        raise ConfigError('dask=True needs Dask: pip install "dask[distributed]".') from None
    client = _client()
    if partitions is None:
        workers = len(client.scheduler_info().get("workers", {})) if client is not None else 0
        partitions = workers or os.cpu_count() or 1
    if partitions < 1:
        raise ConfigError(
            f"dask= takes True or a number of partitions (1 or more), not {partitions}."
        )

    async def fetch_many(requests: list[Request], each: Each) -> None:
        if not requests:
            return
        size = -(-len(requests) // partitions)  # ceiling: at most `partitions` parts
        parts = [requests[i : i + size] for i in range(0, len(requests), size)]
        loop = asyncio.get_running_loop()

        def handle(i: int, outcomes: list[Outcome]) -> None:
            for j, outcome in enumerate(outcomes):
                each(i * size + j, outcome)

        def on_part(i: int, outcomes: list[Outcome]) -> None:
            # Answers are cached and scored on the loop's thread, as each partition ends.
            loop.call_soon_threadsafe(handle, i, outcomes)

        # Dask blocks while it computes: off the event loop, so a live view keeps drawing.
        await asyncio.to_thread(
            _compute, parts, evaluator.concurrency, evaluator.stream, client, on_part
        )
        await asyncio.sleep(0)  # let the last partition's answers be handled

    return await run_batched(evaluator, fetch_many, view)


async def run_batched(
    evaluator: Evaluator, fetch_many: FetchMany, view: EvaluationView | None = None
) -> Evaluation:
    """`evaluator.run` with its requests sent in batches by `fetch_many`: first every missing
    translation, then every missing judgement; each answer cached, checked and scored here
    as soon as `fetch_many` hands it over (so a crash loses only what had not come back)."""
    ev, started = evaluator.evaluation, time.perf_counter()
    keys, hits = evaluator.start(view)
    judging = evaluator.judge is not None
    try:
        groups: dict[str, list[Cell]] = {}  # one request per key: a repeated text is asked once
        for cell, key in zip(ev.cells, keys, strict=True):
            if key not in hits:
                groups.setdefault(key, []).append(cell)
        missing = list(groups.items())

        def translated(i: int, outcome: Outcome) -> None:
            key, cells = missing[i]
            for cell in cells:
                evaluator.translated(cell, key, outcome)
                if not judging:
                    evaluator.done(cell)

        await fetch_many([evaluator.request(cells[0]) for _, cells in missing], translated)
        asks = [(c, *evaluator.judge_request(c)) for c in ev.cells if evaluator.needs_judging(c)]
        known = evaluator.lookup([key for _, key, _ in asks])
        unknown = [(cell, key, messages) for cell, key, messages in asks if key not in known]
        for cell, key, messages in asks:
            if key in known:
                evaluator.judged(cell, messages, key, known[key])

        def judged(i: int, outcome: Outcome) -> None:
            cell, key, messages = unknown[i]
            evaluator.judged(cell, messages, key, outcome)

        if unknown:
            assert evaluator.judge is not None
            judge = evaluator.judge.preset
            await fetch_many([(judge, messages) for _, _, messages in unknown], judged)
        for cell in ev.cells:
            if not cell.done:
                evaluator.done(cell)
    finally:
        evaluator.end(started)
    if view is not None:
        view.finish(ev)
    return ev
