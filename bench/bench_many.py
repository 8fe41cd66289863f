"""Data sets: `translate_many` over 5,000, 20,000 and 200,000 short texts against an instant server.

Each run is a fresh interpreter, so its peak RSS is its own; compat_nb gets the texts as a
pandas Series and returns a Series of str, so it holds what the plain client holds. The
alternatives: a plain asyncio HTTP/1.1 client (32 workers on kept-alive connections: what
the loop and the server can do), and bare `httpx.AsyncClient` + `gather` on httpx's own pool
and on httpx-aiohttp's transport (the plain baseline, and whether the transport matters).
Targets: at least half the plain client's rate; time linear in the count; peak memory
independent of the count.
"""

from __future__ import annotations

from bench._support import CHILD_MEMORY, Row, bench_server, median, run_python

CHILD = r"""
import asyncio, json, os, sys, time

KIND, COUNT, BASE = {kind!r}, {count}, {base!r}
texts = [f"Short text number {{i}} to translate." for i in range(COUNT)]
if KIND == "compat_nb":  # a data set column in, a column of str out, as Dask and pandas use it
    import pandas as pd
    import compat_nb
    texts = pd.Series(texts)

async def plain(texts):
    host, port = BASE.split("//")[1].split("/")[0].split(":")
    path = "/" + BASE.split("//")[1].split("/", 1)[1] + "/chat/completions"
    out = [None] * len(texts)
    todo = iter(range(len(texts)))

    async def worker():
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in todo:
            body = json.dumps({{"model": "bench-model", "messages": [
                {{"role": "user", "content": texts[i]}}]}}).encode()
            head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            head += b"Content-Length: %d\r\n\r\n"
            writer.write(head % (path.encode(), host.encode(), len(body)) + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            answer = json.loads(await reader.readexactly(length))
            out[i] = answer["choices"][0]["message"]["content"]
        writer.close()

    await asyncio.gather(*(worker() for _ in range(32)))
    return out

async def bare(texts, transport):
    import httpx
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(transport=transport, limits=limits) as client:
        gate = asyncio.Semaphore(32)
        async def one(text):
            body = {{"model": "bench-model", "messages": [{{"role": "user", "content": text}}]}}
            async with gate:
                response = await client.post(BASE + "/chat/completions", json=body)
            return response.json()["choices"][0]["message"]["content"]
        return await asyncio.gather(*(one(t) for t in texts))

def run():
    if KIND == "compat_nb":
        preset = compat_nb.Preset("Many", BASE, "bench-model")
        out = compat_nb.translate_many(
            texts, to="French", preset=preset, concurrency=32, progress=False
        )
        assert out.notna().all()
        return out
    if KIND == "plain asyncio":
        return asyncio.run(plain(texts))
    if KIND == "httpx + gather":
        return asyncio.run(bare(texts, None))
    if KIND == "httpx-aiohttp + gather":
        import httpx_aiohttp
        return asyncio.run(bare(texts, httpx_aiohttp.AiohttpTransport()))
    if KIND == "httpx, no I/O":  # httpx's client layer alone: a transport that does no I/O
        import httpx

        body = {{"choices": [{{"index": 0, "message": {{"role": "assistant", "content": "x"}}}}]}}

        class Instant(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request):
                return httpx.Response(200, json=body)

        return asyncio.run(bare(texts, Instant()))

before = rss()
started = time.perf_counter()
out = run()
elapsed = time.perf_counter() - started
assert len(out) == COUNT
peak = peak_rss() - before
print(json.dumps({{"seconds": elapsed, "peak": peak, "after": rss() - before}}))
"""

# Measured at the smallest count only: the bare httpx clients, and httpx's client layer with
# a transport that answers without I/O (the most any client on httpx's API can do).
SLOW = {"httpx + gather", "httpx-aiohttp + gather", "httpx, no I/O"}


def measure(kind: str, count: int, base: str) -> dict:
    return run_python(CHILD_MEMORY + CHILD.format(kind=kind, count=count, base=base), timeout=1800)


def run(quick: bool) -> list[Row]:
    counts = [5000] if quick else [5000, 20000, 200000]
    rounds = 1 if quick else 3
    kinds = ["compat_nb", "plain asyncio", "httpx + gather", "httpx-aiohttp + gather"]
    kinds.append("httpx, no I/O")
    rows = []
    seconds: dict[int, float] = {}
    peaks: dict[int, dict[str, float]] = {}
    with bench_server() as root:
        base = root + "/n=4/v1"
        for count in counts:
            if count > counts[0] and seconds[counts[0]] * count / counts[0] > 900:
                rows.append(
                    Row("many", f"{count:,} texts: texts/s", float("nan"), "texts/s", {}, None,
                        "", "≥ 0.5× plain asyncio", False,
                        f"skipped: about {seconds[counts[0]] * count / counts[0]:,.0f} s at the "
                        f"rate of {counts[0]:,}")
                )  # fmt: skip
                continue
            results: dict[str, list[dict]] = {}
            for _ in range(rounds if count == counts[0] else 1):
                for kind in kinds:
                    if kind in SLOW and count != counts[0]:
                        continue
                    results.setdefault(kind, []).append(measure(kind, count, base))
            rates = {k: count / median([r["seconds"] for r in v]) for k, v in results.items()}
            seconds[count] = count / rates["compat_nb"]
            peaks[count] = {k: median([r["peak"] for r in v]) / 2**20 for k, v in results.items()}
            ratio = rates["compat_nb"] / rates["plain asyncio"]
            rows.append(
                Row(
                    "many",
                    f"`translate_many`, {count:,} short texts, concurrency 32: texts/s",
                    rates["compat_nb"],
                    "texts/s",
                    {k: v for k, v in rates.items() if k != "compat_nb"},
                    ratio,
                    "plain asyncio",
                    "≥ 0.5× plain asyncio",
                    ratio >= 0.5,
                    f"{seconds[count]:.1f} s; peak RSS +{peaks[count]['compat_nb']:.0f} MiB "
                    f"(plain asyncio +{peaks[count]['plain asyncio']:.0f} MiB)",
                )
            )
    if len(seconds) > 1:
        small, large = min(seconds), max(seconds)
        per_text = {c: seconds[c] / c * 1e6 for c in seconds}
        linear = per_text[large] / per_text[small]
        rows.append(
            Row("many", f"time per text at {large:,} / at {small:,}", linear, "×",
                {f"{c:,}": v for c, v in per_text.items()}, linear, f"at {small:,}",
                "time linear in count (≤ 1.2×)", linear <= 1.2, "µs per text", alt_unit="µs")
        )  # fmt: skip
        growth = {c: peaks[c]["compat_nb"] - peaks[c]["plain asyncio"] for c in peaks}
        extra = growth[large] - growth[small]
        rows.append(
            Row("many", f"peak RSS beyond the plain client's, {large:,} vs {small:,} texts",
                extra, "MiB", {f"{c:,}": v for c, v in growth.items()}, None, "",
                "independent of the count (≤ 10 MiB more)", extra <= 10,
                "results held by both; compat_nb also makes its Arrow-backed Series' rows into "
                "str (a block at a time) and keeps up to 20,000 pieces in its cache")
        )  # fmt: skip
    return rows
