"""Shared fixtures: a loopback OpenAI-compatible server, a raw-socket fault server, an isolated
config dir, a shell."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults import FaultServer
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


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    """A raw-socket server of its own (tests/faults.py) that each test scripts byte by byte;
    a module that scripts many small cases shares one (its own module-scoped `srv`)."""
    with FaultServer() as server:
        yield server


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
    # The shell outlives the test: with %translate still registered, a later test of a plain
    # script would be told magic commands (advice follows the front end it detects).
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop("translate", None)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """One JupyterLab server (which also serves Notebook 7) and one headless Chromium for every
    browser test of the session: (JupyterLab, browser context). Each test opens its own page
    and kernel (browser_support.notebook.NotebookPage)."""
    from browser_support.lab import CHROMIUM_ARGS, JupyterLab, chromium_path, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    artifacts = Path(__file__).parent / "artifacts"  # screenshots and figures, kept by CI
    artifacts.mkdir(exist_ok=True)
    (artifacts / "contrast.txt").unlink(missing_ok=True)
    home = tmp_path_factory.mktemp("jupyter")
    root = home / "notebooks"
    root.mkdir()
    with JupyterLab(root, home) as lab, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(home / "chromium-profile"),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield lab, context
        finally:
            context.close()
