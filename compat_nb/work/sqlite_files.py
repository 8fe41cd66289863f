"""Opening the project's SQLite files (the run history, the translation cache) for writing:
created 0600, in WAL mode so several kernels and processes read and write at once.

Each caller keeps its own connection per process and its own way of failing quietly.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

__all__ = ["BUSY_TIMEOUT_MS", "open_wal"]

BUSY_TIMEOUT_MS = 5000  # another kernel mid-write: wait this long, then give up (and warn)


def open_wal(path: Path, schema: str, version: int) -> sqlite3.Connection:
    """A connection to `path` in WAL mode, with `schema` (a script ending in
    `PRAGMA user_version = version`) applied when the file's user_version is below `version`.

    The parent folder and the file are created as needed, the file 0600 (SQLite gives the -wal
    and -shm files the database's own mode). Autocommit mode (`isolation_level=None`): a
    caller writes inside its own BEGIN IMMEDIATE. Raises OSError or sqlite3.Error; a lock
    held by another process is waited for up to BUSY_TIMEOUT_MS first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, and cheap
        # Switching to WAL and creating the table can meet a lock SQLite does not wait for:
        # two kernels opening a new file at once.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                if conn.execute("PRAGMA user_version").fetchone()[0] < version:
                    conn.executescript(schema)
                return conn
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    except BaseException:
        conn.close()
        raise
