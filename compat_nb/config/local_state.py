"""Where the bundled llama.cpp server runs, as its state file says: read by every kernel.

`compat_nb.local` writes `local.json` when it starts a server; the store reads it here to fill
the `Local` preset, after checking that the recorded process is still our server.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from .paths import config_dir

__all__ = [
    "HOST",
    "LOCAL_PRESET_NAME",
    "MARKER",
    "STATE_FILE",
    "is_server",
    "port_open",
    "read_state",
    "running_endpoint",
]

LOCAL_PRESET_NAME = "Local"  # the built-in preset that follows this server
HOST = "127.0.0.1"
STATE_FILE = "local.json"
MARKER = "compat_nb.local"  # in the child's command line: tells our server from a reused pid


def read_state() -> dict[str, Any] | None:
    """The state file's contents, or None when there is none or it is unreadable."""
    try:
        data = json.loads((config_dir() / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def is_server(pid: int) -> bool:
    """pid is alive and runs our server wrapper (not a reused pid, not a zombie)."""
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
    return MARKER.encode() in cmdline


def port_open(port: int, timeout: float = 0.25) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=timeout):
        return True
    return False


def running_endpoint() -> tuple[str, str] | None:
    """(base URL ending in /v1, model alias) of the running bundled server, else None."""
    state = read_state()
    if state and is_server(state["pid"]) and port_open(int(state.get("port", 0))):
        return state["base_url"], state["model"]
    return None
