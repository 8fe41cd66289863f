"""The benchmark suite's own parts: its server answers what it promises, its table reads right.

No timings are asserted here; `python -m bench` measures them.
"""

from __future__ import annotations

import subprocess
import sys

from bench._support import ROOT, Row, bench_server, send_times
from bench.run import discover, table
from bench.server import reply_text
from compat_nb import Client, Preset


def test_bench_server_streams_and_answers_the_text_it_promises() -> None:
    expected = "".join(reply_text(300, 6))
    assert expected.count("\n\n") == 3  # prose with paragraphs, so it renders like a reply
    with bench_server() as root:
        preset = Preset("bench", root + "/n=300,size=6/v1", "bench-model")
        client = Client()
        try:
            items = list(client.stream(preset, [{"role": "user", "content": "Hi"}]))
            result = client.chat(preset, [{"role": "user", "content": "Hi"}])
            slow = Preset("slow", root + "/n=5,gap=20/v1", "bench-model")
            slow_text = "".join(
                x for x in client.stream(slow, [{"role": "user", "content": "Hi"}])
                if isinstance(x, str)
            )  # fmt: skip
            sends = send_times(root)
        finally:
            client.close()
    assert "".join(x for x in items if isinstance(x, str)) == expected
    assert items[-1].usage.completion_tokens == 300
    assert result.text == expected
    assert slow_text == "".join(reply_text(5, 6))
    assert sends[-1] >= 5 * 0.020  # the server's own send time covers its five 20 ms gaps


def test_every_bench_is_listed_and_the_table_marks_misses() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "bench", "--list"], capture_output=True, text=True, cwd=ROOT
    ).stdout.split()
    assert listed == discover()
    assert {"load", "client", "cell", "compare", "many", "memory", "presets"} <= set(listed)
    rows = [
        Row("overhead", "calls", 110.0, "µs", {"raw httpx": 100.0}, 1.1, "raw httpx", "≤ 1.05×",
            False),
        Row("compare", "wall", 310.0, "ms", {}, 1.03, "300 ms", "≤ 1.10 × 300 ms", True),
    ]  # fmt: skip
    lines = table(rows).splitlines()
    assert lines[2].startswith("| overhead | calls | 110 µs | raw httpx 100 µs | 1.10× raw httpx")
    assert "| **no** |" in lines[2] and "| yes |" in lines[3]
