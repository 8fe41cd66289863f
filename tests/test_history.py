"""The run history: what a row holds, never the key, the magic, and concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.work import history

TEXT = "Bonjour tout le monde"


@pytest.fixture
def preset(server: FakeServer) -> Preset:
    return get_store().use(get_store().save(Preset("Fake", server.base_url, "test-model")).name)


def test_a_translation_is_recorded(server: FakeServer, config_dir: Path) -> None:
    priced = Preset(
        "Priced", server.base_url, "test-model", temperature=0.3, input_price=1, output_price=2
    )
    result = compat_nb.translate(TEXT, to="German", preset=priced)
    (row,) = compat_nb.history()
    assert row["kind"] == "translate" and row["preset"] == "Priced"
    assert row["host"] == f"127.0.0.1:{server.port}"  # host only: no scheme, path or query
    assert row["model"] == "test-model" and row["options"] == {"temperature": 0.3}
    assert row["target"] == "German" and row["input_chars"] == len(TEXT)
    assert row["input_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert row["output"] == result.text and row["error"] is None
    assert row["latency_ms"] > 0 and row["completion_tokens"] == len(result.text.split())
    usage = result.usage
    assert usage is not None and usage.prompt_tokens and usage.completion_tokens
    assert row["cost"] == pytest.approx((usage.prompt_tokens + 2 * usage.completion_tokens) / 1e6)
    assert (config_dir / "history.sqlite").exists()
    db = sqlite3.connect(config_dir / "history.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_key_never_reaches_the_file(
    ip: Any, server: FakeServer, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = MARKER_KEY
    # The key in the query string too, as Azure-style gateways take it.
    url = server.base_url + f"?api-key={MARKER_KEY}"
    get_store().save(Preset("Keyed", url, "test-model", api_key=MARKER_KEY))
    get_store().use("Keyed")
    monkeypatch.setenv("MARKER_ENV", MARKER_KEY)
    by_env = get_store().save(
        Preset("Env", server.base_url, "test-model", api_key_env="MARKER_ENV")
    )
    compat_nb.translate(TEXT)
    compat_nb.compare(TEXT, presets=["Keyed", by_env], models=["a", "b"])
    compat_nb.translate_many(["eins", "zwei"], preset=by_env)
    ip.run_cell_magic("translate", "-p Keyed", TEXT)
    server.api_key = "something-else"  # now the server rejects the key: an error row
    with pytest.raises(compat_nb.CompatError):
        compat_nb.translate(TEXT, preset="Keyed")
    ip.run_cell_magic("translate", "-p Keyed -p Env", TEXT)
    runs = compat_nb.history(limit=100)
    assert len(runs) == 11 and sum(bool(r["error"]) for r in runs) == 3
    files = list(config_dir.glob("history.sqlite*"))
    assert {f.name for f in files} >= {"history.sqlite", "history.sqlite-wal"}
    for path in files:
        assert MARKER_KEY.encode() not in path.read_bytes(), path.name
    assert "api-key" not in repr(runs.to_pandas())


def test_history_magic_lists_and_filters(ip: Any, server: FakeServer, preset: Preset) -> None:
    ip.run_cell_magic("translate", "", TEXT)
    ip.run_cell_magic("translate", "-m llama3.2:3b", TEXT)
    ip.run_cell_magic("translate", "-m other-model", TEXT)
    shown = ip.run_line_magic("translate", "history")
    assert [r["model"] for r in shown] == ["other-model", "llama3.2:3b", "test-model"]
    assert "TRANSLATED: Bonjour" in repr(shown) and "<table>" in shown._repr_html_()
    assert len(ip.run_line_magic("translate", "history -n 1")) == 1
    only = ip.run_line_magic("translate", "history --model LLAMA3")
    assert [r["model"] for r in only] == ["llama3.2:3b"]
    frame = compat_nb.history(model="other").to_pandas()
    assert frame["model"].tolist() == ["other-model"]
    # The caption says what the rows are: one run is one, and a filter is named, also when
    # it matched nothing (runs were recorded: "none yet" would be wrong).
    assert "1 most recent run of a model matching 'LLAMA3'" in repr(only)
    assert "3 most recent runs (" in repr(shown)
    none = repr(ip.run_line_magic("translate", "history --model nomatch"))
    assert "No runs of a model matching 'nomatch' in " in none and "yet" not in none


def test_history_magic_rejects_bad_flags(ip: Any) -> None:
    from IPython.core.error import UsageError

    with pytest.raises(UsageError):
        ip.run_line_magic("translate", "history --bogus")
    assert "No runs recorded yet" in repr(ip.run_line_magic("translate", "history"))


def test_opt_out_in_the_magic_and_in_python(
    ip: Any, server: FakeServer, preset: Preset, monkeypatch: pytest.MonkeyPatch
) -> None:
    ip.run_line_magic("config", "TranslateMagics.record_history = False")
    ip.run_cell_magic("translate", "", TEXT)
    assert len(compat_nb.history()) == 0
    ip.run_line_magic("config", "TranslateMagics.record_history = True")
    monkeypatch.setattr(history, "enabled", False)
    compat_nb.translate(TEXT)
    compat_nb.translate_many(["a"])
    assert len(compat_nb.history()) == 0
    monkeypatch.setattr(history, "enabled", True)
    compat_nb.translate(TEXT)
    assert len(compat_nb.history()) == 1


def test_a_corrupt_file_warns_and_never_breaks_a_translation(
    server: FakeServer, preset: Preset, config_dir: Path
) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "history.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.warns(history.HistoryWarning, match="could not record"):
        result = compat_nb.translate(TEXT)
    assert result.text == f"TRANSLATED: {TEXT}"
    with pytest.raises(compat_nb.CompatError, match=r"is not a SQLite database\. Move it away"):
        compat_nb.history()


def test_a_locked_file_warns_and_never_breaks_a_translation(
    server: FakeServer, preset: Preset, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compat_nb.translate(TEXT)  # creates the file
    monkeypatch.setattr(history, "BUSY_TIMEOUT_MS", 50)
    history._drop_connection()
    other = sqlite3.connect(config_dir / "history.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.warns(history.HistoryWarning, match="locked"):
            result = compat_nb.translate(TEXT)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert result.text == f"TRANSLATED: {TEXT}"
    compat_nb.translate(TEXT)
    assert len(compat_nb.history()) == 2


def _write_rows(directory: str, worker: int, ready: Any) -> None:
    import os

    os.environ["COMPAT_NB_CONFIG_DIR"] = directory
    from compat_nb.work import history as h

    ready.wait()
    for i in range(50):
        h.record_many([{"time": float(i), "kind": "test", "model": f"w{worker}", "run": i}])


def test_two_processes_writing_at_once(config_dir: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    workers = [
        context.Process(target=_write_rows, args=(str(config_dir), n, ready)) for n in (1, 2)
    ]
    for worker in workers:
        worker.start()
    ready.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    db = sqlite3.connect(config_dir / "history.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    counts = dict(db.execute("SELECT model, count(*) FROM runs GROUP BY model").fetchall())
    assert counts == {"w1": 50, "w2": 50}
    runs = compat_nb.history(limit=200, model="w2")
    assert sorted(r["run"] for r in runs) == list(range(50))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("history -n abc", "argument -n: must be a whole number from 1 to 1000000, not 'abc'"),
        ("history --bogus", "unrecognized arguments: --bogus"),
        ("history --mod llama", "unrecognized arguments: --mod"),  # no abbreviations
        ("history -n 0", "argument -n: must be a whole number from 1 to 1000000"),
    ],
)
def test_a_bad_history_flag_is_one_message(
    ip: Any, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    from IPython.core.error import UsageError

    with pytest.raises(UsageError) as raised:
        ip.run_line_magic("translate", line)
    assert message in str(raised.value)
    assert "%translate history [-n N] [--model M]" in str(raised.value)
    assert capsys.readouterr() == ("", "")  # no argparse usage or `error:` line printed
