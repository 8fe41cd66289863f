"""Evaluations: `compat_nb.evaluate` on 1,000 texts × 4 candidates against an instant server.

Each run is a fresh interpreter (its peak RSS is its own). compat_nb does the whole
evaluation: a cache lookup, 4,000 streamed requests with at most 16 in flight, every answer
cached, checked (language identification, copy, echo, length) and recorded in the history,
then the leaderboard. The alternative is the baseline a user would write: bare
`httpx.AsyncClient` + `asyncio.gather` sending the same 4,000 streamed requests with the
same bound and reading each answer's text, nothing else; non-streamed, for reference.
Target: at least 0.8× its throughput. Peak memory is reported.

    python -m bench --only evaluate [--quick]
"""

from __future__ import annotations

from bench._support import CHILD_MEMORY, Row, bench_server, median, run_python

BOUND = 16
CANDIDATES = 4

CHILD = r"""
import asyncio, json, os, tempfile, time

KIND, COUNT, BASE, BOUND = {kind!r}, {count}, {base!r}, {bound}
MODELS = [f"model-{{i}}" for i in range({candidates})]
texts = [f"Short text number {{i}} to translate into French." for i in range(COUNT)]
os.environ["COMPAT_NB_CONFIG_DIR"] = tempfile.mkdtemp(prefix="bench_evaluate_")

async def bare(texts, stream):
    import httpx
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
        gate = asyncio.Semaphore(BOUND)
        async def one(text, model):
            body = {{"model": model, "stream": stream, "messages": [
                {{"role": "system", "content": "Translate into French."}},
                {{"role": "user", "content": text}}]}}
            async with gate:
                if not stream:
                    response = await client.post(BASE + "/chat/completions", json=body)
                    return response.json()["choices"][0]["message"]["content"]
                parts = []
                async with client.stream("POST", BASE + "/chat/completions", json=body) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("data: ") and line != "data: [DONE]":
                            event = json.loads(line[6:])
                            for choice in event.get("choices") or ():
                                parts.append(choice.get("delta", {{}}).get("content") or "")
                return "".join(parts)
        return await asyncio.gather(*(one(t, m) for t in texts for m in MODELS))

def run(texts):
    if KIND == "compat_nb":
        import compat_nb
        candidates = [compat_nb.Preset(m, BASE, m) for m in MODELS]
        ev = compat_nb.evaluate(texts, candidates, to="French", concurrency=BOUND, live=False)
        assert ev.complete and all(c.ok for c in ev.cells), [c.error for c in ev.cells][:3]
        ev.leaderboard()
        return ev.cells
    return asyncio.run(bare(texts, KIND == "httpx + gather, streamed"))

# A warm-up call, not counted (imports done, the language model loaded), as every bench does.
run(["A warm-up text."])
before = rss()
started = time.perf_counter()
out = run(texts)
elapsed = time.perf_counter() - started
assert len(out) == COUNT * len(MODELS)
peak = peak_rss() - before
print(json.dumps({{"seconds": elapsed, "peak": peak}}))
"""

KINDS = ["compat_nb", "httpx + gather, streamed", "httpx + gather, not streamed"]


def measure(kind: str, count: int, base: str) -> dict:
    code = CHILD_MEMORY + CHILD.format(
        kind=kind, count=count, base=base, bound=BOUND, candidates=CANDIDATES
    )
    return run_python(code, timeout=1800)


def run(quick: bool) -> list[Row]:
    """Requests per second of a whole evaluation against the bare client's, and peak memory."""
    count, rounds = (250, 1) if quick else (1000, 3)
    results: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    with bench_server() as root:
        base = root + "/n=8/v1"  # an eight-chunk answer, at once
        for r in range(rounds):  # interleaved, the order rotating each round
            for kind in KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]:
                results[kind].append(measure(kind, count, base))
    requests = count * CANDIDATES
    rates = {k: requests / median([x["seconds"] for x in v]) for k, v in results.items()}
    peaks = {k: median([x["peak"] for x in v]) / 2**20 for k, v in results.items()}
    reference = "httpx + gather, streamed"
    ratio = rates["compat_nb"] / rates[reference]
    what = f"`evaluate`, {count:,} texts × {CANDIDATES} candidates, bound {BOUND}: requests/s"
    note = (
        f"{requests / rates['compat_nb']:.1f} s for the whole evaluation; peak RSS "
        f"+{peaks['compat_nb']:.0f} MiB (bare streamed +{peaks[reference]:.0f} MiB)"
    )
    others = {k: v for k, v in rates.items() if k != "compat_nb"}
    return [
        Row("evaluate", what, rates["compat_nb"], "req/s", others, ratio, reference,
            "≥ 0.8× bare httpx + gather", ratio >= 0.8, note),
        Row("evaluate", f"peak RSS, {requests:,} answers", peaks["compat_nb"], "MiB",
            {k: v for k, v in peaks.items() if k != "compat_nb"}, None, "", "report", None,
            "the evaluation holds every answer, its flags and timings; the bare client its texts"),
    ]  # fmt: skip


if __name__ == "__main__":
    import sys

    from bench._support import fmt

    for row in run("--quick" in sys.argv):
        others = "; ".join(f"{k} {fmt(v, row.unit)}" for k, v in row.alternatives.items())
        ratio = "" if row.ratio is None else f" ({row.ratio:.2f}× {row.ratio_of})"
        print(f"{row.what}: {fmt(row.ours, row.unit)}{ratio}; {others}. {row.note}")
