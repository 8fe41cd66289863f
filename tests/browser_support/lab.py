"""JupyterLab on loopback in isolated directories, and notebook helpers for a Playwright page.

Seen on Debian's Chromium with Playwright's `executable_path` (no browser downloads): Lab as
root needs --allow-root, Playwright refuses --user-data-dir (use a persistent context), and the
news toast covers screenshots unless switched off in the user settings.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Notebook 7.6.5 throws these on every load; nothing else is allowed.
KNOWN_PAGE_ERRORS = ("reading 'schema'", "'filebrowser:open-path' not registered")

# Lab user settings: no news toast over screenshots, widget state saved with the notebook.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyter-widgets/jupyterlab-manager/plugin": {"saveState": True},
}


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> None:
    """Skip (or, with COMPAT_NB_REQUIRE_BROWSER=1 as in CI, fail) without Playwright or Chromium."""
    import pytest

    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if chromium_path() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        message = "browser tests need " + ", ".join(missing)
        if os.environ.get("COMPAT_NB_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterLab:
    """`jupyter lab` serving `root`, with config, data, runtime and IPython dirs under `home`."""

    def __init__(self, root: Path, home: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.home = home
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "jupyterlab.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            directory = self.home / name.lower()
            directory.mkdir(parents=True, exist_ok=True)
            env[name] = str(directory)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        env.update(self.extra_env)
        return env

    def _write_settings(self, config_dir: Path) -> None:
        for plugin, values in USER_SETTINGS.items():
            package, _, name = plugin.rpartition("/")
            path = config_dir / "lab" / "user-settings" / package / f"{name}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))

    def start(self, timeout: float = 60) -> JupyterLab:
        env = self._env()
        self._write_settings(Path(env["JUPYTER_CONFIG_DIR"]))
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.extension_manager=readonly",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 (the server writes to it until stop)
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start:\n{self.log()}")
            try:
                if self.api("GET", "api/status").get("started"):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"JupyterLab did not answer within {timeout} s:\n{self.log()}")

    def api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"token {self.token}"}
        response = httpx.request(
            method, f"{self.base}/{path}", headers=headers, json=body, timeout=5
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def add_kernel(self, name: str, env: dict[str, str]) -> str:
        """A kernelspec running this Python with `env` added: one isolated kernel per test,
        while the server (and its start-up cost) is shared by the whole session."""
        directory = self.home / "jupyter_data_dir" / "kernels" / name
        directory.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
            "env": env,
        }
        (directory / "kernel.json").write_text(json.dumps(spec))
        return name

    def set_theme(self, theme: str) -> None:
        """JupyterLab's theme ("JupyterLab Light" or "JupyterLab Dark") for pages opened next;
        Notebook 7 reads the same user setting."""
        raw = json.dumps({"theme": theme, "adaptive-theme": False})
        self.api("PUT", "lab/api/settings/@jupyterlab/apputils-extension:themes", {"raw": raw})

    def kernel_state(self, notebook: str) -> str | None:
        for session in self.api("GET", "api/sessions"):
            if session.get("path") == notebook and session.get("kernel"):
                return str(session["kernel"]["execution_state"])
        return None

    def wait_for_idle_kernel(self, notebook: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.kernel_state(notebook) == "idle":
                return
            time.sleep(0.2)
        raise TimeoutError(f"the kernel of {notebook} did not become idle in {timeout} s")

    def stop_kernel(self, notebook: str) -> None:
        """Shut the notebook's kernel down (the next test's kernel gets the CPU)."""
        for session in self.api("GET", "api/sessions"):
            if session.get("path") == notebook:
                self.api("DELETE", f"api/sessions/{session['id']}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            self.api("POST", "api/shutdown")  # also shuts the kernels down
            process.wait(timeout=15)
        except (httpx.HTTPError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cell(page: Any, index: int) -> Any:
    """Run the notebook's cell `index` as a user does: its prompt, then Ctrl+Enter."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputPrompt").click()  # command mode: keys go to the notebook
    page.keyboard.press("Control+Enter")
    return cell
