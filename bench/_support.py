"""What the benchmarks share: a loopback test server in its own process, and a sampling timer.

The server runs apart from the benchmark so the two do not share one GIL.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "tests" / "server.py"


@contextlib.contextmanager
def loopback_server(*flags: str) -> Iterator[str]:
    """`python tests/server.py --port 0 FLAGS...`; yields its base URL (…/v1)."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", "0", *flags], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(5)


def samples(fn: Callable[[], object], repeats: int) -> list[float]:
    """Seconds per call, after one warm-up call (pools filled, imports done)."""
    fn()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out
