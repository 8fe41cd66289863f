"""The persisted translation cache: finished answers in SQLite beside the history, by request.

Evaluations and notebook translations look up every request here first, so a re-run (or a
run resumed after a crash) sends only what is missing. One row per finished answer, written
as soon as it arrives; never a key, never a header, never a URL's query string.
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from ..config.paths import config_dir
from ..config.presets import Preset
from ..config.urls import normalize_base_url
from ..errors import CompatError
from ..wire.protocol import Usage
from .sqlite_files import open_wal

__all__ = [
    "CACHE_FILE",
    "CacheWarning",
    "CachedAnswer",
    "TranslationCache",
    "cache_key",
    "get_cache",
    "preset_key",
]

CACHE_FILE = "cache.sqlite"
SCHEMA_VERSION = 1
_BATCH = 500  # keys per SELECT: well under SQLite's bound-parameter limit
# Never part of a key, whatever a caller passes: they carry credentials.
_SECRET_OPTIONS = frozenset({"api_key", "api_key_env", "headers", "extra_headers"})

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER,
    total_tokens INTEGER, finish_reason TEXT, latency_ms REAL, ttft_ms REAL, created REAL NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = {SCHEMA_VERSION};
"""
_COLUMNS = "key, text, prompt_tokens, completion_tokens, total_tokens, finish_reason, "
_COLUMNS += "latency_ms, ttft_ms"


class CacheWarning(UserWarning):
    """The cache could not be read or written; the translation itself is unaffected."""


@dataclass(frozen=True)
class CachedAnswer:
    """One finished answer as it was received: the cleaned text, usage, finish reason, timings
    (milliseconds, as measured when it was fetched)."""

    text: str
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None


def _server_root(base_url: str) -> str:
    """scheme://host:port/path of a base URL: no userinfo, query or fragment (they may hold
    a secret, and a key rotated in a query string should not empty the cache)."""

    def bare(url: str) -> tuple[str, str, str]:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        try:
            port = str(parts.port or "")
        except ValueError:  # not a number: keep it as written, it still names the server
            port = parts.netloc.rpartition(":")[2]
        netloc = f"{host}:{port}" if port else host
        return parts.scheme.lower(), netloc, parts.path

    scheme, netloc, path = bare(base_url)
    with contextlib.suppress(CompatError, ValueError):  # a key is a name, never a URL check
        scheme, netloc, path = bare(normalize_base_url(urlunsplit((scheme, netloc, path, "", ""))))
    return urlunsplit((scheme, netloc, path, "", ""))


def cache_key(
    *,
    base_url: str,
    model: str,
    options: Mapping[str, Any],
    prompt_version: str,
    target: str,
    source: str | None,
    text: str,
) -> str:
    """The sha256 hex digest naming one request: server, model, sampling options, the prompt
    template's version, languages and the exact text.

    `options` are what shapes the answer (temperature, max_tokens, system prompt, a run
    number…); None values count as unset, and headers or keys are never part of a key.
    """
    chosen = {str(k): v for k, v in options.items() if v is not None and k not in _SECRET_OPTIONS}
    identity = {
        "server": _server_root(base_url),
        "model": model,
        "options": chosen,
        "prompt": prompt_version,
        "target": target,
        "source": source,
        "text": text,
    }
    encoded = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
    # surrogatepass: a lone surrogate (surrogateescape text) names its own entry, never fails
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()


def preset_key(
    preset: Preset,
    *,
    prompt_version: str,
    target: str,
    source: str | None,
    text: str,
    options: Mapping[str, Any] | None = None,
) -> str:
    """`cache_key` for a request to `preset`: its server, model, request options and system
    prompt, plus `options` (a run number, glossary terms, a piece's kind)."""
    return cache_key(
        base_url=preset.base_url,
        model=preset.model,
        options={**preset.options(), "system_prompt": preset.system_prompt, **(options or {})},
        prompt_version=prompt_version,
        target=target,
        source=source,
        text=text,
    )


class TranslationCache:
    """Finished answers by `cache_key`, in one SQLite file (WAL: several kernels and processes
    read and write at once). Written one answer per transaction, so a killed process loses
    only the requests it had in flight. The file is created 0600, like the history.

    Reading never fails a run: a missing, locked, corrupt or read-only file reads as empty
    (or is read without writing), and `put` warns (once per cache) instead of raising.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else config_dir() / CACHE_FILE
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._read_only = False
        self._warned = False

    def __repr__(self) -> str:
        return f"TranslationCache({str(self.path)!r})"

    # --- connections -----------------------------------------------------------------------------

    def _open_writable(self) -> sqlite3.Connection:
        return open_wal(self.path, _SCHEMA, SCHEMA_VERSION)

    def _open_read_only(self) -> sqlite3.Connection | None:
        """The file opened for reading in a directory we may not write to; None if absent.

        A WAL database needs its -shm file to be read; when none exists and none can be
        created, the file is opened as immutable (nobody can be writing to it then)."""
        if not self.path.is_file():
            return None
        uri = "file:" + quote(str(self.path.resolve()))
        for flags in ("?mode=ro", "?mode=ro&immutable=1"):
            conn = sqlite3.connect(uri + flags, uri=True, check_same_thread=False)
            try:
                conn.execute("SELECT count(*) FROM answers").fetchone()
                return conn
            except sqlite3.Error:
                conn.close()
        return None

    def _connection(self, *, write: bool) -> sqlite3.Connection | None:
        """This process's connection (reopened after a fork); None when there is no file to
        read, and (write=True) None rather than a read-only one."""
        if self._conn is not None and self._pid != os.getpid():
            self._conn = None  # the parent's connection must not be used, nor closed, here
        if self._conn is None:
            try:
                self._conn, self._read_only = self._open_writable(), False
            except (OSError, sqlite3.Error):
                if write:
                    raise
                self._conn, self._read_only = self._open_read_only(), True
            self._pid = os.getpid()
        if write and self._read_only:
            self._drop()
            self._conn, self._read_only = self._open_writable(), False
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        """Close this process's connection; the cache reopens it when used again."""
        with self._lock:
            self._drop()

    def _warn(self, doing: str, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        warnings.warn(
            f"compat_nb could not {doing} the translation cache {self.path} ({exc}); "
            "translations are unaffected, but a re-run will fetch them again. Move the file "
            "away if it stays unreadable.",
            CacheWarning,
            stacklevel=3,
        )

    # --- reading and writing ----------------------------------------------------------------------

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers among `keys` (missing keys are absent from the result)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, CachedAnswer] = {}
        if not wanted:
            return found
        with self._lock:
            try:
                conn = self._connection(write=False)
                if conn is None:
                    return found
                for start in range(0, len(wanted), _BATCH):
                    batch = wanted[start : start + _BATCH]
                    marks = ", ".join("?" * len(batch))
                    sql = f"SELECT {_COLUMNS} FROM answers WHERE key IN ({marks})"
                    for row in conn.execute(sql, batch):
                        found[row[0]] = _answer(row)
            except (OSError, sqlite3.Error) as exc:
                self._drop()
                self._warn("read", exc)
        return found

    def put(self, key: str, answer: CachedAnswer) -> None:
        """Store one answer (replacing any under the same key); never raises."""
        usage = answer.usage or Usage()
        values = (
            key,
            answer.text,
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            answer.finish_reason,
            answer.latency_ms,
            answer.ttft_ms,
            time.time(),
        )
        with self._lock:
            try:
                conn = self._connection(write=True)
                assert conn is not None
                conn.execute(
                    f"INSERT OR REPLACE INTO answers ({_COLUMNS}, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
            except Exception as exc:  # whatever it is, the translation itself must go on
                self._drop()
                self._warn("write to", exc)

    def clear(self) -> None:
        """Forget every cached answer, so the next run fetches everything again."""
        with self._lock:
            if not self.path.exists():
                return
            try:
                conn = self._connection(write=True)
                assert conn is not None
                conn.execute("DELETE FROM answers")
            except (OSError, sqlite3.Error) as exc:
                self._drop()
                raise CompatError(
                    f"Could not clear the translation cache {self.path} ({exc}). Delete the "
                    "file to start a new one."
                ) from None

    def __len__(self) -> int:
        with self._lock:
            try:
                conn = self._connection(write=False)
                return (
                    0
                    if conn is None
                    else conn.execute("SELECT count(*) FROM answers").fetchone()[0]
                )
            except (OSError, sqlite3.Error) as exc:
                self._drop()
                self._warn("read", exc)
                return 0


def _answer(row: tuple[Any, ...]) -> CachedAnswer:
    _, text, prompt, completion, total, finish, latency, ttft = row
    usage = Usage(prompt, completion, total) if (prompt, completion, total) != (None,) * 3 else None
    return CachedAnswer(text, usage, finish, latency, ttft)


_current: TranslationCache | None = None
_current_lock = threading.Lock()


def get_cache() -> TranslationCache:
    """The cache in the current config directory, one per process; when
    `COMPAT_NB_CONFIG_DIR` changes, the old one is closed and a new one opened."""
    global _current
    path = config_dir() / CACHE_FILE
    with _current_lock:
        if _current is None or _current.path != path:
            if _current is not None:
                _current.close()
            _current = TranslationCache(path)
        return _current
