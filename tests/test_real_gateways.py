"""A user's own llama-cpp-python server, started with its defaults (`--interrupt_requests True`)
and a small context, with the bundled model: run with `-m real_server`.

A comparison on it used to lose a column in 3 of 3 runs; an over-context prompt streamed to it
read "broke off … run the cell again".
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import compat_nb
from compat_nb.errors import BadRequestError
from compat_nb.work.gates import RERUN_NOTE

pytestmark = pytest.mark.real_server

TEXT = "The weather is nice today. Let's go for a walk in the park."


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"):
        pytest.skip('llama-cpp-python is not installed: pip install -e ".[local]"')
    from compat_nb.local import default_model_path

    port = _free_port()
    log: Path = tmp_path_factory.mktemp("own-llama") / "server.log"
    command = [
        *(sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path())),
        *("--model_alias", "smol", "--host", "127.0.0.1", "--port", str(port)),
        *("--n_ctx", "512", "--n_threads", "2"),
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            try:
                urllib.request.urlopen(base + "/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_comparison_keeps_every_column_on_an_interrupting_server(own_server: str) -> None:
    preset = compat_nb.Preset("own", own_server, "smol", max_tokens=24)
    first = compat_nb.compare(
        TEXT,
        presets=[preset.replace(temperature=0.2), preset.replace(temperature=0.9)],
        to="French",
    )
    assert [row.ok for row in first.rows] == [True, True], [r.error for r in first.rows]
    assert all(row.text.strip() for row in first.rows)
    assert [row.note for row in first.rows].count(RERUN_NOTE) == 1
    again = compat_nb.compare(TEXT, presets=[preset], models=["smol", "smol"], to="German")
    assert [row.ok for row in again.rows] == [True, True]
    assert all(row.note is None for row in again.rows)  # one at a time from now on


def test_an_over_context_stream_shows_the_servers_own_words(own_server: str) -> None:
    preset = compat_nb.Preset("own", own_server, "smol", max_tokens=40)
    long = "The old lighthouse keeper climbed the spiral stairs every evening. " * 60
    with pytest.raises(BadRequestError) as info:
        list(compat_nb.get_client().stream(preset, [{"role": "user", "content": long}]))
    message = info.value.message
    assert "longer than the model's context window" in message
    assert "maximum context length is 512 tokens" in message  # llama-cpp-python's words
    assert "run the cell again" not in message
