"""What the benchmarks share: result rows, interleaved rounds, servers in their own processes.

Every bench measures compat_nb and its alternatives in the same rounds, one after another in
a rotating order, and reports medians, so a neighbour's burst of load falls on all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_SERVER = Path(__file__).resolve().with_name("server.py")
TEST_SERVER = ROOT / "tests" / "server.py"


@dataclass
class Row:
    """One line of the table: our figure, the alternatives' (same unit), a ratio and a target.

    `ratio` is ours over `ratio_of` (an alternative) or over the figure the target names;
    `met` is None when the target only asks for a report.
    """

    bench: str
    what: str
    ours: float
    unit: str
    alternatives: dict[str, float] = field(default_factory=dict)
    ratio: float | None = None
    ratio_of: str = ""
    target: str = "report"
    met: bool | None = None
    note: str = ""
    alt_unit: str = ""  # the alternatives' unit, when it is not `unit`
    load: float = 0.0  # the 1-minute load average when the row was measured
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)

    def __post_init__(self) -> None:
        self.load = os.getloadavg()[0]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def fmt(value: float, unit: str) -> str:
    """A figure with its unit, at a precision that suits its size."""
    if value != value:  # NaN: not measured
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def interleave(
    contenders: dict[str, Callable[[], object]], rounds: int, *, warmup: bool = True
) -> dict[str, list[float]]:
    """Seconds per call of each contender over `rounds` rounds, the order rotating each round.

    A warm-up call each first (pools filled, imports done) is not counted.
    """
    names = list(contenders)
    if warmup:
        for name in names:
            contenders[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            started = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - started)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[str]:
    """A child process that prints one line (its URL) when ready; yields that line."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line:
            raise RuntimeError(f"{argv[1]} did not start (exit code {proc.wait(5)})")
        yield line
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def bench_server() -> Iterator[str]:
    """The pre-encoded raw asyncio server (bench/server.py); yields its root URL."""
    with process([sys.executable, str(BENCH_SERVER), "--port", "0"]) as root:
        yield root


@contextlib.contextmanager
def loopback_server(*flags: str) -> Iterator[str]:
    """`python tests/server.py --port 0 FLAGS...`; yields its base URL (…/v1)."""
    with process([sys.executable, str(TEST_SERVER), "--port", "0", *flags]) as base:
        yield base


def send_times(root: str) -> list[float]:
    """The bench server's own send times of its latest streamed answers, in seconds."""
    with urllib.request.urlopen(root + "/_stats", timeout=10) as answer:
        return list(json.load(answer)["send_times"])


# Prepended to a child's code: its memory as it reads it itself (no braces, so the child's
# code can still be a str.format template).
CHILD_MEMORY = r"""
import os

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def peak_rss():
    # VmHWM is this process image's own high-water mark; ru_maxrss would also count the
    # bench's parent process, inherited across fork and exec.
    with open("/proc/self/status") as f:
        line = next(l for l in f if l.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024
"""


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """Run code in a fresh interpreter (this checkout first on the path); its last stdout line
    is JSON, returned parsed."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio_row(
    bench: str,
    what: str,
    figures: dict[str, float],
    unit: str,
    *,
    reference: str,
    limit: float | None,
    target: str,
    note: str = "",
    higher_is_better: bool = False,
) -> Row:
    """A row whose ratio is compat_nb over `reference`, met when it is within `limit`."""
    ours = figures["compat_nb"]
    others = {k: v for k, v in figures.items() if k != "compat_nb"}
    ratio = ours / figures[reference] if figures[reference] else float("nan")
    met = None
    if limit is not None:
        met = ratio >= limit if higher_is_better else ratio <= limit
    return Row(bench, what, ours, unit, others, ratio, reference, target, met, note)
