"""The bundled server's child process: its command line, readiness wait, log and shutdown.

Holds no state: compat_nb.local decides when to start or stop it and records where it runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..config.local_state import HOST, MARKER, is_server, port_open

__all__ = [
    "HOST",
    "PORTABLE_CMAKE_ARGS",
    "free_port",
    "is_server",
    "launch",
    "log_excerpt",
    "log_tail",
    "port_free",
    "port_open",
    "terminate",
    "version_from_log",
    "wait_ready",
]

N_CTX = 2048  # a system prompt plus a paragraph and its translation fit with room to spare
STOP_GRACE = 5.0
# A native build picked up AMX on some x86-64 CPUs and crashed at the first request.
PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
REBUILD_HINT = (
    f'Rebuild it for a portable CPU: `CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install '
    '--force-reinstall --no-cache-dir "llama-cpp-python[server]"`'
)

# Runs in the child: print the version line CI logs show, drop environment variables that
# llama_cpp.server would read as settings (PORT, HOST, API_KEY, ...) over our flags, exit with
# the process that started it (it runs in its own session, so a kernel interrupt spares it).
_WRAPPER = f"""# {MARKER} server
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


# --- ports and pids ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


# --- starting ----------------------------------------------------------------------------------


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


def launch(model_path: Path, alias: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start the server process, its output going to log; returns at once (see wait_ready)."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            _command(model_path, alias, port),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # Its own session: a kernel interrupt (SIGINT to the process group) spares it.
            start_new_session=os.name == "posix",
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )


def _request(url: str, body: dict[str, Any] | None = None, timeout: float = 2.0) -> Any:
    import urllib.request  # deferred: ~15 ms, and only a start needs it

    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_ready(
    proc: subprocess.Popen[bytes], base_url: str, log: Path, deadline: float
) -> str | None:
    """Poll /models until it answers, then ask for one token: a bad build crashes right there.

    Returns None when the server answered, else why it did not (for LocalServerError).
    """
    while True:
        code = proc.poll()
        if code is not None:
            return _exit_reason(code, log)
        try:
            _request(base_url + "/models", timeout=1.0)
            break
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return "it was not ready before the deadline (try a larger timeout)"
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
        return _exit_reason(code, log) if code is not None else f"a first request failed: {exc}"
    return None


# --- its log -----------------------------------------------------------------------------------


def log_tail(path: Path, lines: int = 10) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines)).rstrip()
    except OSError:
        return ""


# How a traceback, or the next one of a chain, begins; its frames are indented below it.
_TRACEBACK_STARTS = (
    "Traceback (most recent call last):",
    "During handling of the above exception",
    "The above exception was the direct cause",
)


def log_excerpt(path: Path, lines: int = 10) -> str:
    """The end of the server's log as a message shows it: a Python traceback folded to its
    last line (the exception), so the lines llama.cpp wrote before it, which name the cause
    ("invalid magic characters", "out of memory"), stay in view and no traceback is shown."""
    text = log_tail(path, 200)
    kept: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.startswith(_TRACEBACK_STARTS):
            in_traceback = True
        elif not (in_traceback and (line.startswith(" ") or not line.strip())):
            in_traceback = False
            kept.append(line)
    return "\n".join(kept[-lines:]).rstrip()


def _exit_reason(code: int, log: Path) -> str:
    text = log_tail(log, 40)
    if "address already in use" in text.lower():
        return f"its port is taken by another program (exit code {code})"
    if code in (-signal.SIGSEGV, -signal.SIGILL, 132, 139) or "illegal instruction" in text:
        return (
            f"it crashed (exit code {code}): llama-cpp-python was most likely built for "
            f"another CPU. {REBUILD_HINT}"
        )
    return f"the server process exited with code {code}"


def version_from_log(log: Path) -> str:
    with contextlib.suppress(OSError), open(log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("llama_cpp version "):
                return line.split()[2]
    return ""


# --- stopping ----------------------------------------------------------------------------------


def terminate(pid: int, proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM (uvicorn shuts down cleanly), then SIGKILL after STOP_GRACE seconds.

    proc is the Popen when this process started the server; else pid is someone else's child.
    """
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
    while time.monotonic() < deadline and is_server(pid):
        time.sleep(0.05)
    if is_server(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
