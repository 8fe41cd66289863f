"""The run history: one SQLite row per translation or comparison run, beside the presets file.

Never the key, never headers, only the host of the base URL; a locked or corrupt file is a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, overload

from ..config import advice
from ..config.paths import config_dir, why_unwritable
from ..errors import CompatError
from .sqlite_files import BUSY_TIMEOUT_MS, open_wal
from .table import Table, format_ms

__all__ = [
    "HISTORY_FILE",
    "HistoryWarning",
    "RunHistory",
    "enabled",
    "history_path",
    "recent",
    "record_many",
]

enabled = True
"""The Python API's switch (`compat_nb.runlog.enabled = False`); it also silences the magic."""

HISTORY_FILE = "history.sqlite"
SCHEMA_VERSION = 1

_FIELDS = (
    *("time", "kind", "preset", "host", "model", "options", "target", "source"),
    *("input_sha256", "input_chars", "output", "ttft_ms", "latency_ms", "prompt_tokens"),
    *("completion_tokens", "total_tokens", "cost", "finish_reason", "error", "comparison", "run"),
)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL, kind TEXT NOT NULL, preset TEXT, host TEXT, model TEXT, options TEXT,
    target TEXT, source TEXT, input_sha256 TEXT, input_chars INTEGER, output TEXT,
    ttft_ms REAL, latency_ms REAL, prompt_tokens INTEGER, completion_tokens INTEGER,
    total_tokens INTEGER, cost REAL, finish_reason TEXT, error TEXT, comparison TEXT, run INTEGER
);
CREATE INDEX IF NOT EXISTS runs_model ON runs (model);
PRAGMA user_version = {SCHEMA_VERSION};
"""


class HistoryWarning(UserWarning):
    """The history could not be written; the translation itself is unaffected."""


def history_path() -> Path:
    return config_dir() / HISTORY_FILE


# --- writing -------------------------------------------------------------------------------------

_lock = threading.Lock()
_conn: tuple[Path, int, sqlite3.Connection] | None = None  # path, pid, connection


def _connection() -> sqlite3.Connection:
    """This process's connection to the current config dir's file (reopened after a fork)."""
    global _conn
    path = history_path()
    if _conn is not None and (_conn[0] != path or _conn[1] != os.getpid()):
        if _conn[1] == os.getpid():
            _conn[2].close()
        _conn = None
    if _conn is None:
        _conn = (path, os.getpid(), open_wal(path, _SCHEMA, SCHEMA_VERSION))
    return _conn[2]


def _drop_connection() -> None:
    global _conn
    if _conn is not None and _conn[1] == os.getpid():
        with contextlib.suppress(sqlite3.Error):
            _conn[2].close()
    _conn = None


def record_many(rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows in one transaction; returns how many were written (0 with a warning)."""
    values = [tuple(_storable(row.get(name)) for name in _FIELDS) for row in rows]
    if not enabled or not values:
        return 0
    placeholders = ", ".join("?" * len(_FIELDS))
    sql = f"INSERT INTO runs ({', '.join(_FIELDS)}) VALUES ({placeholders})"
    with _lock:
        try:
            conn = _connection()
            with conn:  # BEGIN ... COMMIT, or ROLLBACK on error
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, values)
            return len(values)
        except Exception as exc:  # whatever it is, the translation itself must go on
            _drop_connection()  # a corrupt or replaced file: start afresh next time
            warn_unrecorded(exc)
            return 0


def _storable(value: Any) -> Any:
    """value as SQLite can store it: a lone surrogate (text read with errors='surrogateescape')
    becomes U+FFFD, as no UTF-8 text can hold it; everything else is kept as it is."""
    if isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    return value


def warn_unrecorded(exc: Exception) -> None:
    """Warn that a run could not be recorded; the translation itself goes on."""
    if advice.front_end() == "python":
        off = "`compat_nb.runlog.enabled = False`"
    else:
        off = "`%config TranslateMagics.record_history = False`"
    warnings.warn(
        f"compat_nb could not record this run in the history: {_why(exc, history_path())}. "
        f"The translation is unaffected. Move {HISTORY_FILE} away if it stays so, or turn "
        f"recording off with {off}.",
        HistoryWarning,
        stacklevel=4,
    )


def _why(exc: BaseException, path: Path) -> str:
    """What is wrong with the history file, in words (the path included)."""
    if isinstance(exc, IsADirectoryError):
        return f"{path} is a directory, not a file"
    if isinstance(exc, PermissionError) or _read_only(exc):
        return f"{path} (or its folder) is read-only"
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        return f"{path} is not a SQLite database"
    if isinstance(exc, OSError):
        return f"{path}: {why_unwritable(exc)}"
    if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
        return f"{path}: the disk is full (or the quota is used up); free some space"
    return f"{path}: {exc}"


def _read_only(exc: BaseException) -> bool:
    """True for the ways SQLite and the OS say a file or folder cannot be written."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and (
        "readonly" in text or "read-only" in text or "unable to open database" in text
    )


# --- reading -------------------------------------------------------------------------------------


def recent(limit: int = 20, model: str | None = None) -> RunHistory:
    """The most recent runs first; `model` keeps runs whose model id contains it (any case)."""
    path = history_path()
    if not path.exists():
        return RunHistory([], path, model)
    where, params = "", []
    if model:
        where, params = "WHERE instr(lower(model), lower(?)) > 0", [model]
    sql = f"SELECT {', '.join(_FIELDS)} FROM runs {where} ORDER BY id DESC LIMIT ?"
    problem: str | None = None
    with _lock:
        try:
            found = _select(path, sql, [*params, int(limit)])
        except (OSError, sqlite3.Error) as exc:
            problem = _why(exc, path)
    if problem is not None:
        raise CompatError(
            f"Could not read the run history: {problem}. Move it away to start a new one "
            "(translations go on meanwhile)."
        )
    rows = [dict(zip(_FIELDS, values, strict=True)) for values in found]
    for row in rows:
        row["time"] = datetime.fromtimestamp(row["time"], timezone.utc)
        row["options"] = json.loads(row["options"]) if row["options"] else {}
    return RunHistory(rows, path, model)


def _select(path: Path, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Rows of a query, through the shared connection, or read-only when writing is refused.

    Reading needs no write access: in a read-only folder (or for a read-only file) SQLite is
    asked for `mode=ro`, and for `immutable=1` when even that fails for want of the WAL
    index (-shm) it cannot create there; that file exists whenever a writer has the
    database open, so without it nobody is writing.
    """
    try:
        return list(_connection().execute(sql, params))
    except (OSError, sqlite3.Error) as exc:
        _drop_connection()
        if not _read_only(exc):
            raise
    uri = path.resolve().as_uri()
    try:
        return _select_from(f"{uri}?mode=ro", sql, params)
    except sqlite3.OperationalError as exc:
        if not _read_only(exc):
            raise
    return _select_from(f"{uri}?mode=ro&immutable=1", sql, params)


def _select_from(uri: str, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


class RunHistory(Sequence[dict[str, Any]]):
    """Runs read from the history: a list of dicts that shows as a table, and `to_pandas()`."""

    def __init__(self, rows: list[dict[str, Any]], path: Path, model: str | None = None) -> None:
        self._rows = rows
        self.path = path
        self.model = model  # the filter they were read with: "runs whose model id contains it"

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._rows)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self._rows, columns=list(_FIELDS))

    def table(self) -> Table:
        def ms(value: float | None) -> str:
            return "" if value is None else format_ms(value)

        rows = [
            [
                _local_time(row["time"]),
                row["kind"],
                row["preset"],
                row["model"],
                row["host"],
                row["input_chars"],
                _short(row["output"] or "", 48),
                ms(row["ttft_ms"]),
                ms(row["latency_ms"]),
                row["completion_tokens"],
                "" if row["cost"] is None else f"${row['cost']:.6f}",
                _short(row["error"] or "", 60),
            ]
            for row in self._rows
        ]
        columns = ["time", "kind", "preset", "model", "host", "chars in", "output", "TTFT"]
        columns += ["total", "tokens", "cost", "error"]
        caption = self._caption()
        return Table(columns, rows, caption=caption)

    def _caption(self) -> str:
        """What the rows are, and with a filter that matched nothing, that it was the filter."""
        which = f" of a model matching {self.model!r}" if self.model else ""
        if not self._rows:
            if self.model:
                return f"No runs{which} in {self.path}"
            return "No runs recorded yet"
        runs = "run" if len(self._rows) == 1 else "runs"
        return f"{len(self._rows)} most recent {runs}{which} ({self.path})"

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


def _local_time(moment: datetime) -> str:
    """2026-11-29 21:01:18 CET: the local time, with its zone (a history outlives a trip)."""
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.strftime("%Z") or local.strftime("%z"))


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def history(limit: int = 20, model: str | None = None) -> RunHistory:
    """The most recent runs (at most `limit`), newest first; `model` matches any part of the
    model id, ignoring case.

    A RunHistory: a list of dicts (time as an aware datetime, kind, preset, host, model,
    options, target, input_chars, output, ttft_ms and latency_ms in ms, token counts, cost in
    $, finish_reason, error) that shows as a table and has `to_pandas()`. Raises CompatError
    when the history file cannot be read, saying how to start a new one.
    """
    return recent(limit, model)
