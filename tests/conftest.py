"""Shared fixtures: a loopback OpenAI-compatible server, an isolated config dir, a shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server import FakeServer  # tests/ is on pythonpath (pyproject.toml)

import compat_nb.wire.client
from compat_nb.wire.protocol import RetryPolicy

MARKER_KEY = "sk-MARKER-4f2a9c1e7b3d"  # searched for wherever a key must never appear


@pytest.fixture(scope="session")
def _server_process() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(_server_process: FakeServer) -> Iterator[FakeServer]:
    _server_process.reset()
    yield _server_process
    _server_process.reset()


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own presets directory and a fresh client with fast retries."""
    directory = tmp_path / "config"
    monkeypatch.setenv("COMPAT_NB_CONFIG_DIR", str(directory))
    fast = compat_nb.wire.client.Client(retry=RetryPolicy(initial_delay=0.01, max_delay=0.05))
    monkeypatch.setattr(compat_nb.wire.client, "_client", fast)
    yield directory
    fast.close()


@pytest.fixture
def ip() -> Iterator[object]:
    """A terminal IPython shell with the extension loaded; `%config` does not leak between tests."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython() or get_ipython()  # it returns None once the shell exists
    shell.run_line_magic("load_ext", "compat_nb")
    yield shell
    shell.run_line_magic("unload_ext", "compat_nb")
    shell.config.pop("TranslateMagics", None)  # the next load starts from the defaults
