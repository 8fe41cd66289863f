"""`%load_ext compat_nb` in a fresh interpreter: no ipywidgets, no httpx, no socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, socket, sys
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
heavy = ("httpx", "ipywidgets", "nest_asyncio", "httpcore", "anyio")
before = sorted(m for m in heavy if m in sys.modules)

opened = []
original_init = socket.socket.__init__
def spy(self, *args, **kwargs):
    opened.append(repr(args))
    original_init(self, *args, **kwargs)
socket.socket.__init__ = spy
original_connection = socket.create_connection
def spy_connection(*args, **kwargs):
    opened.append(repr(args))
    return original_connection(*args, **kwargs)
socket.create_connection = spy_connection

shell.run_line_magic("load_ext", "compat_nb")
after_load = sorted(m for m in heavy if m in sys.modules)
loaded = sorted(m for m in sys.modules if m.startswith("compat_nb"))
magics = shell.magics_manager.magics
registered = ["translate" in magics["cell"], "translate" in magics["line"]]

shell.run_line_magic("translate", "presets")
after_presets = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({
    "before": before, "after_load": after_load, "after_presets": after_presets,
    "sockets": opened, "loaded": loaded, "registered": registered,
}))
"""


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What a fresh interpreter saw: once for the whole module (it takes a second or two)."""
    tmp_path = tmp_path_factory.mktemp("fresh")
    env = dict(os.environ)
    env["IPYTHONDIR"] = str(tmp_path / "ipython")
    env["COMPAT_NB_CONFIG_DIR"] = str(tmp_path / "config")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_load_ext_imports_neither_ipywidgets_nor_httpx_and_opens_no_socket(state: dict) -> None:
    assert state["before"] == []  # the check means something: IPython alone loads none of them
    assert state["registered"] == [True, True]
    assert "ipywidgets" not in state["after_load"]
    assert "httpx" not in state["after_load"]
    assert state["after_load"] == []
    assert state["sockets"] == []
    assert "compat_nb.faces.magics" in state["loaded"]
    assert not {"compat_nb.wire.client", "compat_nb.faces.panel"} & set(state["loaded"])


def test_listing_presets_needs_no_widgets_nor_connection(state: dict) -> None:
    assert "ipywidgets" not in state["after_presets"]
    assert "httpx" not in state["after_presets"]
    assert state["sockets"] == []
