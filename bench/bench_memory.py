"""Leaks: 1,000 translations in one process, and 1,000 `asyncio.run(atranslate(...))`.

Each pattern runs in a fresh interpreter: 50 warm-up calls, then RSS and open sockets are read,
then 1,000 more calls, then both again. Raw httpx doing the same calls is the reference.
"""

from __future__ import annotations

from bench._support import CHILD_MEMORY, Row, bench_server, run_python

CHILD = r"""
import asyncio, json, os

KIND, BASE = {kind!r}, {base!r}

def sockets():
    fds = os.listdir("/proc/self/fd")
    return sum(os.readlink(f"/proc/self/fd/{{fd}}").startswith("socket:") for fd in fds
               if os.path.exists(f"/proc/self/fd/{{fd}}"))

import compat_nb, httpx
preset = compat_nb.Preset("Mem", BASE, "bench-model")
raw = httpx.Client()
BODY = {{"model": "bench-model", "messages": [{{"role": "user", "content": "Hello"}}]}}

async def raw_async():
    async with httpx.AsyncClient() as client:
        return (await client.post(BASE + "/chat/completions", json=BODY)).json()

def once():
    if KIND == "translate":
        compat_nb.translate("Hello", to="French", preset=preset)
    elif KIND == "asyncio.run(atranslate)":
        asyncio.run(compat_nb.atranslate("Hello", to="French", preset=preset))
    elif KIND == "raw httpx.Client":
        raw.post(BASE + "/chat/completions", json=BODY).json()
    else:
        asyncio.run(raw_async())

for _ in range(50):
    once()
before, socks_before = rss(), sockets()
for _ in range(1000):
    once()
print(json.dumps({{"growth": rss() - before, "sockets": sockets(), "before": socks_before}}))
"""

KINDS = ["translate", "asyncio.run(atranslate)", "raw httpx.Client", "asyncio.run(raw AsyncClient)"]


def run(quick: bool) -> list[Row]:
    del quick  # 1,000 calls is what the target names; it takes seconds
    with bench_server() as root:
        base = root + "/n=4/v1"
        results = {
            kind: run_python(CHILD_MEMORY + CHILD.format(kind=kind, base=base)) for kind in KINDS
        }
    rows = []
    for ours, reference in (KINDS[0], KINDS[2]), (KINDS[1], KINDS[3]):
        growth = results[ours]["growth"] / 2**20
        sockets = results[ours]["sockets"]
        rows.append(
            Row(
                "memory",
                f"1,000 × `{ours}`: RSS growth, MiB",
                growth,
                "MiB",
                {reference: results[reference]["growth"] / 2**20},
                None,
                "",
                "RSS growth ≤ 5 MB; open sockets ≤ pool size",
                growth <= 5 and sockets <= 16,
                f"{sockets} sockets open after (pool keeps ≤ 16 idle)",
            )
        )
    return rows
