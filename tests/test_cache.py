"""The persisted translation cache: keys, round trips, files, several processes, bad files."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from compat_nb.wire.protocol import Usage
from compat_nb.work.cache import (
    CachedAnswer,
    CacheWarning,
    TranslationCache,
    cache_key,
    get_cache,
)

BASE = {
    "base_url": "http://127.0.0.1:8080/v1",
    "model": "m",
    "options": {"temperature": 0.2},
    "prompt_version": "1",
    "target": "French",
    "source": None,
    "text": "Hello.",
}


def key(**changes: object) -> str:
    return cache_key(**{**BASE, **changes})  # type: ignore[arg-type]


def test_a_key_is_a_sha256_of_every_part_that_shapes_the_answer() -> None:
    assert len(key()) == 64 and int(key(), 16) >= 0
    assert key() == key()
    different = [
        key(base_url="http://127.0.0.1:8081/v1"),
        key(base_url="https://127.0.0.1:8080/v1"),
        key(base_url="http://127.0.0.2:8080/v1"),
        key(base_url="http://127.0.0.1:8080/v2"),
        key(model="n"),
        key(options={"temperature": 0.3}),
        key(options={"temperature": 0.2, "run": 2}),
        key(prompt_version="2"),
        key(target="German"),
        key(source="English"),
        key(text="Hello!"),
        key(text="Hello. "),
    ]
    assert len({key(), *different}) == len(different) + 1


def test_a_key_ignores_what_may_hold_a_secret_and_what_is_not_sent() -> None:
    assert key(base_url="http://127.0.0.1:8080/v1?api-key=sk-secret") == key()
    assert key(base_url="http://user:sk-secret@127.0.0.1:8080/v1") == key()
    assert key(base_url="http://127.0.0.1:8080/v1/#frag") == key()
    assert key(base_url=" http://127.0.0.1:8080/v1/chat/completions ") == key()
    assert key(options={"temperature": 0.2, "max_tokens": None}) == key()
    assert key(options={"temperature": 0.2, "headers": {"X-Key": "sk"}, "api_key": "sk"}) == key()
    assert key(options={"b": 1, "a": 2}) == key(options={"a": 2, "b": 1})


def test_answers_round_trip_and_missing_keys_are_absent(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.sqlite")
    assert len(cache) == 0 and cache.get_many(["a"]) == {}
    full = CachedAnswer("Bonjour.", Usage(5, 2, 7), "stop", 120.5, 30.25)
    bare = CachedAnswer("Salut")
    cache.put("a", full)
    cache.put("b", bare)
    assert cache.get_many(["a", "b", "missing", "a"]) == {"a": full, "b": bare}
    assert len(cache) == 2
    cache.put("a", bare)  # the newest answer under a key wins
    assert cache.get_many(["a"]) == {"a": bare}
    cache.clear()
    assert len(cache) == 0 and cache.get_many(["a", "b"]) == {}


def test_many_keys_are_read_in_batches(tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "c.sqlite")
    for i in range(1200):
        cache.put(f"k{i}", CachedAnswer(str(i)))
    found = cache.get_many(f"k{i}" for i in range(0, 2400, 2))
    assert len(found) == 600 and found["k1198"].text == "1198"


def test_the_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "c.sqlite"
    cache = TranslationCache(path)
    cache.put("a", CachedAnswer("x"))
    for name in ("c.sqlite", "c.sqlite-wal", "c.sqlite-shm"):
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_default_cache_sits_in_the_config_dir_and_follows_it(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = get_cache()
    assert first.path == config_dir / "cache.sqlite" and get_cache() is first
    first.put("a", CachedAnswer("x"))
    monkeypatch.setenv("COMPAT_NB_CONFIG_DIR", str(tmp_path / "elsewhere"))
    second = get_cache()
    assert second.path == tmp_path / "elsewhere" / "cache.sqlite"
    assert second.get_many(["a"]) == {}


# A writer in another process: each answer is its own transaction, visible at once.
WRITER = textwrap.dedent(
    """
    import sys
    from compat_nb.work.cache import CachedAnswer, TranslationCache
    cache = TranslationCache(sys.argv[1])
    for i in range(int(sys.argv[3])):
        cache.put(f"{sys.argv[2]}-{i}", CachedAnswer(f"answer {i}"))
    """
)


def test_several_processes_write_at_once_and_nothing_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}", "150"])
        for n in range(4)
    ]
    assert [p.wait(60) for p in procs] == [0, 0, 0, 0]
    cache = TranslationCache(path)
    assert len(cache) == 600
    assert cache.get_many(["p3-149"])["p3-149"].text == "answer 149"


def test_an_answer_put_is_on_disk_before_the_writer_ends(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    writer = TranslationCache(path)
    writer.put("a", CachedAnswer("kept"))
    # Another process reads it while this connection is still open (no close, no checkpoint).
    read = (
        "from compat_nb.work.cache import TranslationCache as T; "
        f"print(T({str(path)!r}).get_many(['a'])['a'].text)"
    )
    out = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "kept"


def test_a_corrupt_file_warns_once_reads_as_empty_and_is_left_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    cache = TranslationCache(path)
    with pytest.warns(CacheWarning, match="Move the file away") as caught:
        assert cache.get_many(["a"]) == {}
        cache.put("a", CachedAnswer("x"))
        cache.put("b", CachedAnswer("y"))
    assert len(caught) == 1
    assert path.read_bytes() == b"this is not a database" * 100


def test_a_path_that_cannot_be_a_file_warns_instead_of_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = TranslationCache(blocker / "c.sqlite")  # a directory path under a plain file
    with pytest.warns(CacheWarning):
        cache.put("a", CachedAnswer("x"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache.get_many(["a"]) == {} and len(cache) == 0


READER = textwrap.dedent(
    """
    import sys, warnings
    from compat_nb.work.cache import CachedAnswer, TranslationCache
    cache = TranslationCache(sys.argv[1])
    print(cache.get_many(["a", "b"])["a"].text, len(cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache.put("c", CachedAnswer("new"))
    print(len(caught), "CacheWarning" in repr(caught[0].category))
    """
)


def test_a_cache_in_a_read_only_directory_is_still_read(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    path = directory / "c.sqlite"
    writer = TranslationCache(path)
    writer.put("a", CachedAnswer("cached"))
    writer.close()  # the last connection out removes -wal and -shm: a reader must cope
    assert not (directory / "c.sqlite-shm").exists()
    reader = [sys.executable, "-c", READER, str(path)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if os.geteuid() == 0:
        # Permission bits do not stop root: mount the directory read-only in a private
        # mount namespace, as a read-only volume or share would be.
        mount = f'mount --bind -o ro {directory} {directory} && exec "$@"'
        out = subprocess.run(
            ["unshare", "--mount", "sh", "-c", mount, "sh", *reader],
            capture_output=True,
            text=True,
            env=env,
        )
    else:
        directory.chmod(0o555)
        try:
            out = subprocess.run(reader, capture_output=True, text=True, env=env)
        finally:
            directory.chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cached", "1", "1", "True"]
