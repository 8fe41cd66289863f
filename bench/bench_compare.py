"""Concurrency where the server is slow: a comparison of 8 candidates, and a long text in pieces.

compare: 2 servers x 4 models, each answer after 300 ms; the wall time of `compat_nb.compare`
against one answer's delay, with raw `httpx.AsyncClient` + `gather` (the floor) and one
candidate after another (for scale). long text: 100 paragraphs, 100 ms per request,
concurrency 8, against the ideal 100 / 8 x 100 ms, with raw httpx + a semaphore beside it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bench._support import Row, bench_server, interleave, median

MODELS = ["llama3.2:3b", "qwen2.5:7b", "gemma2:2b", "phi3:mini"]
TEXT = "Der schnelle braune Fuchs springt über den faulen Hund. " * 4


def _raw_gather(
    loop: asyncio.AbstractEventLoop, jobs: list[tuple[str, str]], limit: int
) -> Callable[[], object]:
    """A callable that posts every (base, text) job with at most `limit` in flight."""
    import httpx

    client = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64))

    async def all_jobs() -> list[str]:
        gate = asyncio.Semaphore(limit)

        async def one(base: str, text: str, model: str) -> str:
            body = {"model": model, "messages": [{"role": "user", "content": text}]}
            async with gate:
                response = await client.post(base + "/chat/completions", json=body)
            return str(response.json()["choices"][0]["message"]["content"])

        return await asyncio.gather(
            *(one(b, t, MODELS[i % len(MODELS)]) for i, (b, t) in enumerate(jobs))
        )

    return lambda: loop.run_until_complete(all_jobs())


def _compare_row(quick: bool) -> Row:
    import compat_nb
    from compat_nb import Preset

    rounds = 5 if quick else 15
    with bench_server() as first, bench_server() as second:
        bases = [first + "/delay=300/v1", second + "/delay=300/v1"]
        presets = [Preset("A", bases[0], "x"), Preset("B", bases[1], "x")]
        last: list[object] = []

        def ours() -> None:
            result = compat_nb.compare(TEXT, presets=presets, models=MODELS, to="English")
            assert len(result.rows) == 8 and all(r.ok for r in result.rows), result.summary()
            last[:] = [result]

        loop = asyncio.new_event_loop()
        jobs = [(b, TEXT) for b in bases for _ in MODELS]
        contenders: dict[str, Callable[[], object]] = {
            "compat_nb": ours,
            "raw httpx + gather": _raw_gather(loop, jobs, 64),
        }
        times = interleave(contenders, rounds)
        started = time.perf_counter()
        for preset in presets:
            for model in MODELS:
                compat_nb.translate(TEXT, to="English", preset=preset, model=model)
        sequential = time.perf_counter() - started
        loop.close()
    figures = {k: median(v) * 1000 for k, v in times.items()}
    ours_ms = figures.pop("compat_nb")
    figures["one after another"] = sequential * 1000
    return Row(
        "compare",
        "8 candidates, servers answering after 300 ms: wall, ms",
        ours_ms,
        "ms",
        figures,
        ours_ms / 300,
        "300 ms",
        "≤ 1.10 × 300 ms",
        ours_ms <= 330,
    )


def _long_text(round_: int) -> str:
    # ~3,000 characters a paragraph, so each is one piece at the default chunk_chars (4,000);
    # a new text each round, or the in-process piece cache would answer the next.
    body = "Ein ruhiger Absatz über das Wetter am Fluss und die Boote im Hafen. " * 44
    return "\n\n".join(f"{round_}.{i} {body}" for i in range(100))


def _long_text_row(quick: bool) -> Row:
    import compat_nb
    from compat_nb import Preset

    rounds = 3 if quick else 7
    with bench_server() as root:
        base = root + "/delay=100/v1"
        preset = Preset("Long", base, "bench-model")
        counter = iter(range(10**6))

        def ours() -> None:
            (result,) = compat_nb.translate_many(
                [_long_text(next(counter))], to="English", preset=preset, concurrency=8,
                progress=False,
            )  # fmt: skip
            assert result is not None and not result.error, result and result.error

        loop = asyncio.new_event_loop()
        pieces = _long_text(-1).split("\n\n")
        contenders: dict[str, Callable[[], object]] = {
            "compat_nb": ours,
            "raw httpx + semaphore": _raw_gather(loop, [(base, p) for p in pieces], 8),
        }
        times = interleave(contenders, rounds)
        loop.close()
    figures = {k: median(v) * 1000 for k, v in times.items()}
    ours_ms = figures.pop("compat_nb")
    ideal = 100 / 8 * 100
    return Row(
        "long text",
        "100 paragraphs, 100 ms a request, concurrency 8: wall, ms",
        ours_ms,
        "ms",
        figures,
        ours_ms / ideal,
        "100/8 × 100 ms",
        "≤ 1.3 × (100/8 × 100 ms)",
        ours_ms <= 1.3 * ideal,
        "13 waves of 8 take 1,300 ms at the least",
    )


def run(quick: bool) -> list[Row]:
    return [_compare_row(quick), _long_text_row(quick)]
