"""compat_nb's client against raw httpx and the openai SDK, same server, same run.

Measures per-request overhead (non-streamed), streaming a long answer, and peak memory
while streaming. The server runs in its own process so it does not share our GIL.

    python bench/bench_client.py [--requests 200] [--words 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tracemalloc
from collections.abc import Callable
from statistics import median

import httpx
from _support import loopback_server, samples

from compat_nb import Client, Preset

MESSAGES = [{"role": "user", "content": "Hello"}]


def peak_kib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def contenders(base: str) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """name -> (one non-streamed request, one streamed request consumed to the end)."""
    preset = Preset("bench", base, "test-model")
    ours = Client()
    raw = httpx.Client()
    body = {"model": "test-model", "messages": MESSAGES}

    def raw_stream() -> str:
        import json

        parts = []
        payload = {**body, "stream": True}
        with raw.stream("POST", f"{base}/chat/completions", json=payload) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:]).get("choices", []):
                        parts.append(choice["delta"].get("content") or "")
        return "".join(parts)

    def ours_stream() -> str:
        return "".join(x for x in ours.stream(preset, MESSAGES) if isinstance(x, str))

    entries = {
        "compat_nb": (lambda: ours.chat(preset, MESSAGES), ours_stream),
        "raw httpx": (lambda: raw.post(f"{base}/chat/completions", json=body).json(), raw_stream),
    }
    try:
        import openai
    except ImportError:
        return entries
    sdk = openai.OpenAI(base_url=base, api_key="unused", max_retries=0)

    def sdk_stream() -> str:
        stream = sdk.chat.completions.create(model="test-model", messages=MESSAGES, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    entries["openai SDK"] = (
        lambda: sdk.chat.completions.create(model="test-model", messages=MESSAGES),
        sdk_stream,
    )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--words", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    with loopback_server("--reply", "ok") as base:
        rows = {}
        for name, (plain, _stream) in contenders(base).items():
            per = median(samples(lambda p=plain: [p() for _ in range(args.requests)], args.repeats))
            rows[name] = per / args.requests * 1e6
    ref = rows["raw httpx"]
    print(f"non-streamed request, median over {args.repeats}x{args.requests} (loopback):")
    for name, us in rows.items():
        print(f"  {name:11s} {us:8.0f} us/request   {us / ref:5.2f}x raw httpx")

    reply = " ".join(f"w{i}" for i in range(args.words))
    with loopback_server("--reply", reply) as base:
        speed, memory = {}, {}
        for name, (_plain, stream) in contenders(base).items():
            assert len(str(stream())) >= len(reply) - 1
            speed[name] = median(samples(stream, args.repeats))
            memory[name] = peak_kib(stream)
    ref_s, ref_m = speed["raw httpx"], memory["raw httpx"]
    print(f"streamed answer of {args.words} chunks, median of {args.repeats}:")
    for name in speed:
        rate = args.words / speed[name]
        print(
            f"  {name:11s} {speed[name] * 1000:8.1f} ms  {rate:9.0f} chunks/s  "
            f"{speed[name] / ref_s:5.2f}x raw httpx   peak {memory[name]:7.0f} KiB "
            f"({memory[name] / ref_m:4.2f}x)"
        )


if __name__ == "__main__":
    main()
