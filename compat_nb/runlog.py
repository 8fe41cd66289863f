"""The run history: one SQLite row per translation or comparison run, beside the presets file.

Never the key, never headers, only the host of the base URL; a locked or corrupt file is a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .presets import Preset
    from .protocol import Usage
    from .tables import Table
    from .translation import Translation

__all__ = [
    "HISTORY_FILE",
    "HistoryWarning",
    "RunHistory",
    "cost_of",
    "enabled",
    "history_path",
    "recent",
    "record",
    "record_many",
]

enabled = True
"""The Python API's switch (`compat_nb.runlog.enabled = False`); it also silences the magic."""

HISTORY_FILE = "history.sqlite"
BUSY_TIMEOUT_MS = 5000  # another kernel mid-write: wait this long before warning
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
    from .store import config_dir

    return config_dir() / HISTORY_FILE


# --- what a row holds --------------------------------------------------------------------------


def cost_of(preset: Preset | None, usage: Usage | None) -> float | None:
    """Dollars for one run from the preset's per-million-token prices; None when unpriced."""
    if preset is None or usage is None:
        return None
    if preset.input_price is None and preset.output_price is None:
        return None
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    if prompt is None and completion is None:
        return None
    return ((prompt or 0) * (preset.input_price or 0.0)) / 1e6 + (
        (completion or 0) * (preset.output_price or 0.0)
    ) / 1e6


def host_of(base_url: str) -> str:
    """host[:port] only: userinfo and query strings can carry credentials."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        return ""
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def options_of(preset: Preset | None) -> str | None:
    # Headers are left out on purpose: gateways take keys in custom headers too.
    if preset is None:
        return None
    values = {**preset.options(), "system_prompt": preset.system_prompt}
    return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True)


def row_for(
    translation: Translation,
    preset: Preset | None = None,
    *,
    kind: str = "translate",
    comparison: str | None = None,
    run: int | None = None,
) -> dict[str, Any]:
    """The history row for one finished (or failed) translation."""
    usage = translation.usage
    error = translation.error or ("interrupted" if translation.interrupted else None)
    if error and preset is not None:
        error = preset.redact(error)
    return {
        "time": time.time(),
        "kind": kind,
        "preset": translation.preset,
        "host": host_of(translation.base_url),
        "model": translation.model,
        "options": options_of(preset),
        "target": translation.target_language,
        "source": translation.source_language,
        "input_sha256": hashlib.sha256(translation.source_text.encode()).hexdigest(),
        "input_chars": len(translation.source_text),
        "output": translation.text,
        "ttft_ms": translation.ttft_ms,
        "latency_ms": translation.latency_ms,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else translation.output_tokens,
        "total_tokens": usage.total_tokens if usage else None,
        "cost": cost_of(preset, usage),
        "finish_reason": translation.finish_reason,
        "error": error,
        "comparison": comparison,
        "run": run,
    }


# --- writing -------------------------------------------------------------------------------------

_lock = threading.Lock()
_conn: tuple[Path, int, sqlite3.Connection] | None = None  # path, pid, connection


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 up front: SQLite gives the -wal and -shm files the database's own mode.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, and cheap
        # Switching to WAL (readers and writers in other kernels coexist) and creating the
        # table can meet a lock SQLite does not wait for: two kernels opening a new file.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    conn.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    except BaseException:
        conn.close()
        raise
    return conn


def _connection() -> sqlite3.Connection:
    """This process's connection to the current config dir's file (reopened after a fork)."""
    global _conn
    path = history_path()
    if _conn is not None and (_conn[0] != path or _conn[1] != os.getpid()):
        if _conn[1] == os.getpid():
            _conn[2].close()
        _conn = None
    if _conn is None:
        _conn = (path, os.getpid(), _connect(path))
    return _conn[2]


def _drop_connection() -> None:
    global _conn
    if _conn is not None and _conn[1] == os.getpid():
        with contextlib.suppress(sqlite3.Error):
            _conn[2].close()
    _conn = None


def record_many(rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows in one transaction; returns how many were written (0 with a warning)."""
    values = [tuple(row.get(name) for name in _FIELDS) for row in rows]
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
            _warn(exc)
            return 0


def _warn(exc: Exception) -> None:
    warnings.warn(
        f"compat_nb could not record this run in the history ({exc}); the translation is "
        f"unaffected. Move {HISTORY_FILE} away if it stays unreadable, or turn recording off "
        "with `%config TranslateMagics.record_history = False`.",
        HistoryWarning,
        stacklevel=4,
    )


def record(
    translation: Translation,
    preset: Preset | None = None,
    *,
    kind: str = "translate",
    comparison: str | None = None,
    run: int | None = None,
) -> None:
    """Record one run; never raises (a problem is a HistoryWarning)."""
    if not enabled:
        return
    try:
        row = row_for(translation, preset, kind=kind, comparison=comparison, run=run)
    except Exception as exc:
        _warn(exc)
        return
    record_many([row])


# --- reading -------------------------------------------------------------------------------------


def recent(limit: int = 20, model: str | None = None) -> RunHistory:
    """The most recent runs first; `model` keeps runs whose model id contains it (any case)."""
    from .errors import CompatError

    path = history_path()
    if not path.exists():
        return RunHistory([], path)
    where, params = "", []
    if model:
        where, params = "WHERE instr(lower(model), lower(?)) > 0", [model]
    sql = f"SELECT {', '.join(_FIELDS)} FROM runs {where} ORDER BY id DESC LIMIT ?"
    with _lock:
        try:
            cursor = _connection().execute(sql, [*params, int(limit)])
            rows = [dict(zip(_FIELDS, values, strict=True)) for values in cursor]
        except sqlite3.Error as exc:
            _drop_connection()
            raise CompatError(
                f"Could not read the run history {path} ({exc}). Move the file away to start "
                "a new one."
            ) from None
    for row in rows:
        row["time"] = datetime.fromtimestamp(row["time"], timezone.utc)
        row["options"] = json.loads(row["options"]) if row["options"] else {}
    return RunHistory(rows, path)


class RunHistory(Sequence[dict[str, Any]]):
    """Runs read from the history: a list of dicts that shows as a table, and `to_pandas()`."""

    def __init__(self, rows: list[dict[str, Any]], path: Path) -> None:
        self._rows = rows
        self.path = path

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
        from .tables import Table

        def ms(value: float | None) -> str:
            return "" if value is None else f"{value:.0f} ms"

        rows = [
            [
                row["time"].astimezone().strftime("%Y-%m-%d %H:%M:%S"),
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
        caption = f"{len(rows)} most recent runs ({self.path})" if rows else "No runs recorded yet"
        return Table(columns, rows, caption=caption)

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self.table())


def _short(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def history_in_cell(argv: list[str]) -> RunHistory:
    """`%translate history [-n N] [--model M]`."""
    from IPython.core.error import UsageError
    from IPython.core.magic_arguments import MagicArgumentParser

    usage = "%translate history [-n N] [--model M]"
    # IPython's parser raises UsageError where argparse would print usage and exit: one message.
    parser = MagicArgumentParser(prog="%translate history", usage=usage)
    parser.allow_abbrev = False  # --mod is a typo, not --model
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--model")
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        raise UsageError(f"{exc}. Usage: {usage}") from None
    if args.n < 1:
        raise UsageError(f"-n must be 1 or more. Usage: {usage}")
    return recent(args.n, args.model)


def history(limit: int = 20, model: str | None = None) -> RunHistory:
    """The most recent runs, newest first; `model` matches any part of the id, ignoring case."""
    return recent(limit, model)
