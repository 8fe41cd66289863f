"""The first comparison in a fresh process: setup is done before any column's clock starts.

Setup (the connection pool and its SSL context, the async network backend and the modules
they import) happens once per process. Counted inside a clock, it would land on whichever
column connected first and make it look slower. Every server here answers after the same
fixed delay, so every column's TTFT is that delay plus a little: the test compares columns
with each other and with the delay, never with a fixed time. To make setup impossible to miss,
one run also makes every module import in the fresh process slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from server import FakeServer

ROOT = Path(__file__).resolve().parent.parent
DELAY = 0.4  # seconds each server waits before it answers

SCRIPT = r"""
import importlib.abc, json, sys, time

import compat_nb
from compat_nb.config.presets import Preset

slow = float(sys.argv[1])


class SlowImports(importlib.abc.MetaPathFinder):
    # Asked first for every module not imported yet: each first import costs `slow` more.
    def find_spec(self, name, path, target=None):
        time.sleep(slow)
        return None


if slow:
    sys.meta_path.insert(0, SlowImports())
presets = [Preset(f"S{i}", url, "test-model") for i, url in enumerate(sys.argv[2:])]
before = set(sys.modules)
comparison = compat_nb.compare("Good morning, how are you?", presets=presets, to="French")
print(json.dumps({
    "ttft_ms": [row.ttft_ms for row in comparison.rows],
    "errors": [row.error for row in comparison.rows],
    "imported": len(set(sys.modules) - before),
}))
"""


@pytest.fixture(scope="module")
def servers() -> Iterator[list[FakeServer]]:
    started = [FakeServer().start() for _ in range(3)]
    for server in started:
        server.delay = DELAY
    yield started
    for server in started:
        server.stop()


def first_comparison(servers: list[FakeServer], tmp_path: Path, slow: float) -> dict:
    # Three roots, and the first one twice: columns on other servers and on the same one.
    urls = [s.base_url for s in servers] + [servers[0].base_url]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["COMPAT_NB_CONFIG_DIR"] = str(tmp_path / "config")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(slow), *urls],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == [None] * len(urls)
    return result


@pytest.mark.parametrize("slow", [0.0, 0.01], ids=["as it is", "slow imports"])
def test_the_first_column_is_no_outlier(
    servers: list[FakeServer], tmp_path: Path, slow: float
) -> None:
    result = first_comparison(servers, tmp_path, slow)
    ttft = result["ttft_ms"]
    delay_ms = DELAY * 1000
    # Each waited for its server's delay: the clock measured the request, not nothing.
    assert min(ttft) >= delay_ms, ttft
    # And no more than a fraction of it apart: none carries the process's setup.
    assert max(ttft) - min(ttft) < delay_ms / 4, ttft
    if slow:
        # The setup this run made slow is large against the delay: counted in any clock, it
        # would have broken the bound above.
        assert result["imported"] * slow > delay_ms / 1000, result
