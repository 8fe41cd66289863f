"""Streaming into a notebook cell: a real kernel, every message it sends to the front end counted.

stream into a cell: 5,000 tokens at 1 ms each into `%%translate`; the cell's wall time against
the server's own send time, display messages per second, and the bytes of display data sent
(each message's content as serialised JSON) against the answer's size. long answers: 1 MB
and 10 MB answers streamed against the same answer with `--no-stream`, and the kernel's peak
RSS growth (sampled from outside every 5 ms) against the answer's size.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench._support import ROOT, Row, bench_server, median, send_times
from bench.server import reply_text

OUTPUT_TYPES = {"display_data", "update_display_data", "stream", "execute_result", "clear_output"}
DISPLAY_TYPES = {"display_data", "update_display_data", "clear_output"}


@dataclass
class Cell:
    seconds: float
    updates: int  # display messages (new, update, clear)
    bytes: int  # serialised content of every output message
    peak_rss: int  # kernel RSS growth during the cell, bytes (0 when not sampled)
    status: str


@contextlib.contextmanager
def kernel(base: str) -> Iterator[tuple[Any, Any]]:
    from jupyter_client.manager import start_new_kernel

    env = {**os.environ, "COMPAT_NB_CONFIG_DIR": tempfile.mkdtemp(prefix="bench_cell_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    manager, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        setup = (
            "%load_ext compat_nb\nimport compat_nb\n"
            f"compat_nb.get_store().save(compat_nb.Preset('Bench', {base!r}, 'bench-model'))\n"
            "%translate use Bench\n%config TranslateMagics.record_history = False\n"
            # A 10 MB answer in 64-character chunks is 42 MB of SSE, past the default cap.
            "compat_nb.get_client().max_response_bytes = 2**30\n"
        )
        execute(manager, client, setup, timeout=60)
        execute(manager, client, "%%translate -t French\nwarm up", timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _rss_sampler(pid: int, stop: threading.Event, peak: list[int]) -> None:
    import psutil

    proc = psutil.Process(pid)
    while not stop.is_set():
        with contextlib.suppress(psutil.Error):
            peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.005)


def execute(manager: Any, client: Any, code: str, *, timeout: float, rss: bool = False) -> Cell:
    """Run code in the kernel; count its output messages; interrupt it past `timeout`."""
    import psutil

    pid = manager.provisioner.process.pid
    peak = [0]
    stop = threading.Event()
    sampler = None
    base_rss = psutil.Process(pid).memory_info().rss if rss else 0
    if rss:
        sampler = threading.Thread(target=_rss_sampler, args=(pid, stop, peak), daemon=True)
        sampler.start()
    msg_id = client.execute(code)
    started = time.perf_counter()
    updates = size = 0
    status = "ok"
    interrupted = False
    while True:
        try:
            msg = client.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            if not interrupted and time.perf_counter() - started > timeout:
                manager.interrupt_kernel()
                interrupted, status = True, f"timed out after {timeout:.0f} s"
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in OUTPUT_TYPES:
            size += len(json.dumps(msg["content"]))
            updates += kind in DISPLAY_TYPES
        elif kind == "error" and status == "ok":
            status = msg["content"]["evalue"][:200]
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            break
    seconds = time.perf_counter() - started
    stop.set()
    if sampler is not None:
        sampler.join()
    return Cell(seconds, updates, size, max(0, peak[0] - base_rss), status)


def _stream_rows(root: str, rounds: int) -> list[Row]:
    base = root + "/n=5000,size=6,gap=1/v1"
    answer = len("".join(reply_text(5000, 6)))
    cells, sends = [], []
    with kernel(base) as (manager, client):
        for _ in range(rounds):
            cell = execute(manager, client, "%%translate -t French\nHello", timeout=120)
            assert cell.status == "ok", cell.status
            cells.append(cell)
            sends.append(send_times(root)[-1])
    ratio = median([c.seconds / s for c, s in zip(cells, sends, strict=True)])
    rate = median([c.updates / c.seconds for c in cells])
    sent = median([c.bytes / answer for c in cells])
    return [
        Row(
            "stream into a cell",
            "5,000 tokens at 1 ms into `%%translate`: cell time / server send time",
            ratio,
            "×",
            {"cell": median([c.seconds for c in cells]), "server send": median(sends)},
            ratio,
            "send time",
            "≤ 1.10× send time",
            ratio <= 1.10,
            "cell and send times in s",
            alt_unit="s",
        ),
        Row(
            "stream into a cell",
            "display messages per second",
            rate,
            "/s",
            {},
            None,
            "",
            "≤ 20 updates/s",
            rate <= 20,
            f"{median([c.updates for c in cells]):.0f} messages",
        ),
        Row(
            "stream into a cell",
            "bytes of display data sent / answer size",
            sent,
            "×",
            {},
            sent,
            "answer",
            "≤ 3× the answer",
            sent <= 3,
            f"{median([c.bytes for c in cells]) / 1024:,.0f} KiB for a "
            f"{answer / 1024:.0f} KiB answer",
        ),
    ]


def _floors(base: str, rounds: int) -> dict[str, float]:
    """What streaming the answer costs before compat_nb or a cell is involved, in seconds:
    raw httpx streaming it (lines + json.loads per chunk) and not streaming it; httpx reading
    the stream's bytes alone (its HTTP chunk parsing: one chunk per event, as servers send);
    and splitting those bytes into lines + json.loads per chunk, from memory (no I/O)."""
    import httpx

    from bench._support import interleave

    body = {"model": "bench-model", "messages": [{"role": "user", "content": "Hello"}]}
    url = base + "/chat/completions"
    with httpx.Client(timeout=120) as client:
        blob = client.post(url, json={**body, "stream": True}).content

        def streamed() -> None:
            parts = []
            with client.stream("POST", url, json={**body, "stream": True}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and line != "data: [DONE]":
                        for choice in json.loads(line[6:])["choices"]:
                            parts.append(choice["delta"].get("content") or "")
            "".join(parts)

        def plain() -> None:
            client.post(url, json=body).json()

        def read_bytes() -> None:
            with client.stream("POST", url, json={**body, "stream": True}) as response:
                for _ in response.iter_raw():
                    pass

        def parse() -> None:
            parts = []
            for line in blob.decode().split("\n"):
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        parts.append(choice["delta"].get("content") or "")
            "".join(parts)

        jobs = {"streamed": streamed, "plain": plain, "bytes": read_bytes, "parse": parse}
        times = interleave(jobs, rounds)
    return {name: median(t) for name, t in times.items()}


def _long_rows(root: str, megabytes: int, rounds: int, timeout: float) -> list[Row]:
    n = megabytes * 2**20 // 64
    base = root + f"/n={n},size=64/v1"
    answer = len("".join(reply_text(n, 64)))
    streamed: list[Cell] = []
    plain: list[Cell] = []
    with kernel(base) as (manager, client):
        for r in range(rounds):
            cell = execute(
                manager, client, "%%translate -t French\nHello", timeout=timeout, rss=r == 0
            )
            streamed.append(cell)
            if cell.status != "ok":
                break
            code = "%%translate -t French --no-stream\nHello"
            plain.append(execute(manager, client, code, timeout=timeout))
    label = f"{megabytes} MB answer"
    if streamed[0].status != "ok":
        note = f"streamed cell {streamed[0].status}"
        return [
            Row("long answers", f"{label} streamed: time / non-streamed time", float("nan"), "×",
                {}, None, "", "≤ 2×", False, note),
            Row("long answers", f"{label} streamed: kernel peak RSS growth / answer", float("nan"),
                "×", {}, None, "", "≤ 3×", False, note),
        ]  # fmt: skip
    time_ratio = median([s.seconds for s in streamed]) / median([p.seconds for p in plain])
    memory = streamed[0].peak_rss / answer
    bare = _floors(base, max(rounds, 3))
    floor = bare["bytes"] + bare["parse"]
    plain_s, streamed_s = median([p.seconds for p in plain]), median([s.seconds for s in streamed])
    return [
        Row(
            "long answers",
            f"{label} streamed: time / non-streamed time",
            time_ratio,
            "×",
            {
                "streamed": median([s.seconds for s in streamed]),
                "non-streamed": median([p.seconds for p in plain]),
            },
            time_ratio,
            "non-streamed",
            "≤ 2×",
            time_ratio <= 2,
            f"floor: httpx reading the stream's bytes alone {bare['bytes']:.2f} s + lines and "
            f"json.loads per chunk from memory {bare['parse']:.2f} s = {floor:.2f} s, "
            f"{floor / plain_s:.1f}× non-streamed, the cell {streamed_s / floor:.2f}× "
            f"that floor; raw httpx streaming it: {bare['streamed'] / bare['plain']:.0f}× its own "
            f"non-streamed time; {median([s.bytes for s in streamed]) / answer:.1f}× the answer "
            "sent to the front end",
            alt_unit="s",
        ),
        Row(
            "long answers",
            f"{label} streamed: kernel peak RSS growth / answer",
            memory,
            "×",
            {},
            memory,
            "answer",
            "≤ 3×",
            memory <= 3,
            f"{streamed[0].peak_rss / 2**20:,.0f} MiB",
        ),
    ]


def run(quick: bool) -> list[Row]:
    with bench_server() as root:
        rows = _stream_rows(root, 1 if quick else 3)
        rows += _long_rows(root, 1, 1 if quick else 3, timeout=120)
        if not quick:
            rows += _long_rows(root, 10, 2, timeout=180)
    return rows
