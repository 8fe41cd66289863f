"""A comparison of 8 candidates against two servers that each answer after 300 ms.

Target (issue 4): the comparison's wall time is well under 2 x 300 ms, i.e. the candidates
run at the same time. Raw httpx.AsyncClient + asyncio.gather is the reference floor.

    python bench/bench_compare.py [--delay 0.3] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

import httpx
from _support import loopback_server, samples

MODELS = ["llama3.2:3b", "qwen2.5:7b", "gemma2:2b", "phi3:mini"]
TEXT = "Der schnelle braune Fuchs springt über den faulen Hund. " * 4


async def raw_gather(urls: list[str]) -> list[str]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(url: str, model: str) -> str:
            body = {"model": model, "messages": [{"role": "user", "content": TEXT}]}
            response = await client.post(url + "/chat/completions", json=body)
            return str(response.json()["choices"][0]["message"]["content"])

        return await asyncio.gather(*(one(u, m) for u in urls for m in MODELS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ["COMPAT_NB_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench_compare_")

    import compat_nb
    from compat_nb import Preset

    with (
        loopback_server("--delay", str(args.delay)) as first,
        loopback_server("--delay", str(args.delay)) as second,
    ):
        presets = [Preset("A", first, "x"), Preset("B", second, "x")]
        holder: dict[str, compat_nb.Comparison] = {}

        def comparison() -> None:
            holder["last"] = compat_nb.compare(TEXT, presets=presets, models=MODELS, to="English")

        ours = samples(comparison, args.repeats)
        raw = samples(lambda: asyncio.run(raw_gather([first, second])), args.repeats)
        started = time.perf_counter()
        for preset in presets:
            for model in MODELS:
                compat_nb.translate(TEXT, to="English", preset=preset, model=model)
        sequential = time.perf_counter() - started

    last = holder["last"]
    assert len(last.rows) == 8 and all(row.ok for row in last.rows), last.summary()
    median, raw_median = statistics.median(ours), statistics.median(raw)
    print(
        f"8 candidates (2 servers x 4 models), server delay {args.delay * 1000:.0f} ms, "
        f"median of {args.repeats}"
    )
    print(
        f"  compat_nb.compare        {median * 1000:7.0f} ms  "
        f"(min {min(ours) * 1000:.0f}, max {max(ours) * 1000:.0f})"
    )
    print(f"  raw httpx + gather       {raw_median * 1000:7.0f} ms  (a new client each run)")
    print(f"  sequential (8 x translate) {sequential * 1000:5.0f} ms")
    print(f"  compare / delay          {median / args.delay:7.2f} x   (target: well under 2.0)")
    print(f"  compare / sequential     {median / sequential:7.2f} x")
    print(f"  compare - raw            {(median - raw_median) * 1000:7.0f} ms overhead")
    print()
    print(last.summary())


if __name__ == "__main__":
    main()
