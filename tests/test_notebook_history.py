"""Notebook and Markdown runs in the run history: one row per file (kind "notebook") with its
counts, tokens, cost and error, also when nothing could be written; never the key."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from conftest import MARKER_KEY

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.errors import ConfigError
from compat_nb.work.notebooks import translate_notebooks

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "docs")
    return tmp_path / "docs"


@pytest.fixture
def priced(server) -> Preset:
    return Preset("Priced", server.base_url, "test-model", input_price=1, output_price=2)


def keep_headings(body) -> str:  # type: ignore[no-untyped-def]
    return body["messages"][-1]["content"] + " (traduit)"


def test_each_file_of_a_run_is_one_row_with_its_counts(server, priced, docs):
    server.reply = keep_headings
    reports = translate_notebooks([docs], to="fr", preset=priced)

    rows = list(reversed(compat_nb.history()))
    assert [r["kind"] for r in rows] == ["notebook", "notebook"]
    assert len({r["comparison"] for r in rows}) == 1 and rows[0]["comparison"]  # one command
    for row, report in zip(rows, reports, strict=True):
        text = report.source.read_text("utf-8")
        assert row["input_sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert 0 < row["input_chars"] < len(text)  # the prose sent, not outputs or code
        assert row["preset"] == "Priced" and row["model"] == "test-model"
        assert row["host"] == f"127.0.0.1:{server.port}" and row["target"] == "French"
        assert row["output"] == (
            f"{report.cells} cells, {report.pieces} pieces (0 from the cache), 0 failed "
            f"→ {report.output}"
        )
        assert report.usage is not None and report.usage.total_tokens
        assert row["total_tokens"] == report.usage.total_tokens
        assert row["cost"] == pytest.approx(report.cost) and row["cost"] > 0
        assert row["latency_ms"] > 0 and row["error"] is None


def test_a_file_with_failed_pieces_says_so_and_a_rerun_counts_the_cache(server, priced, docs):
    server.reply = keep_headings
    server.inject("status", status=400)
    translate_notebooks([docs / "lesson.ipynb"], to="fr", preset=priced, concurrency=1)
    translate_notebooks([docs / "lesson.ipynb"], to="fr", preset=priced, force=True)

    again, first = compat_nb.history()
    assert first["error"].startswith("1 of 5 pieces not translated; first: cell 1: ")
    assert "The server rejected the request (400)" in first["error"]
    assert "1 failed" in first["output"] and first["comparison"] is None
    assert again["error"] is None and "(4 from the cache)" in again["output"]
    assert again["total_tokens"] < first["total_tokens"]  # only the piece fetched is counted


def test_a_run_that_writes_nothing_is_recorded_with_why(server, priced, docs):
    server.reply = keep_headings
    lesson = docs / "lesson.ipynb"
    out = docs / "lesson.fr.ipynb"

    def someone_else_writes(plan) -> None:  # type: ignore[no-untyped-def]
        out.write_text("precious", "utf-8")  # after the check, before the write

    with pytest.raises(ConfigError, match="already exists"):
        translate_notebooks([lesson], to="fr", preset=priced, on_plan=someone_else_writes)
    assert out.read_text("utf-8") == "precious"

    def interrupted(coroutine) -> None:  # type: ignore[no-untyped-def]
        coroutine.close()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        translate_notebooks([lesson], to="fr", preset=priced, force=True, runner=interrupted)

    stopped, refused = compat_nb.history()
    assert "already exists" in refused["error"] and "(not written)" in refused["output"]
    assert refused["total_tokens"]  # the pieces were fetched (and cached) all the same
    assert stopped["error"].startswith("interrupted: nothing was written")
    assert "(not written)" in stopped["output"]


def test_bad_input_sends_nothing_and_records_nothing(server, priced, docs):
    with pytest.raises(ConfigError):
        translate_notebooks([docs / "missing.ipynb"], to="fr", preset=priced)
    assert len(compat_nb.history()) == 0


def test_the_key_never_reaches_the_history(server, docs, config_dir, monkeypatch):
    server.api_key = MARKER_KEY
    monkeypatch.setenv("MARKER_ENV", MARKER_KEY)
    keyed = Preset(
        "Keyed",
        server.base_url + f"?api-key={MARKER_KEY}",
        "test-model",
        api_key=MARKER_KEY,
        headers={"X-Api-Key": "${MARKER_ENV}"},
    )
    server.reply = lambda body: f"echoed {MARKER_KEY}"  # a gateway that repeats what it got
    translate_notebooks([docs / "guide.md"], to="fr", preset=keyed)
    server.api_key = "another"  # now every request is refused, quoting nothing
    translate_notebooks([docs / "guide.md"], to="de", preset=keyed)

    runs = compat_nb.history()
    assert len(runs) == 2 and runs[0]["error"]
    for path in config_dir.glob("history.sqlite*"):
        assert MARKER_KEY.encode() not in path.read_bytes(), path.name


def test_recording_is_switched_off_as_for_every_run(ip, server, docs, monkeypatch):
    from compat_nb.config.store import get_store
    from compat_nb.work import history

    server.reply = keep_headings
    get_store().save(Preset("Here", server.base_url, "test-model"))
    ip.run_line_magic("config", "TranslateMagics.record_history = False")
    ip.run_line_magic("translate", f'notebook "{docs / "guide.md"}" -p Here --to fr')
    translate_notebooks([docs / "guide.md"], to="de", preset="Here", record=False)
    monkeypatch.setattr(history, "enabled", False)
    translate_notebooks([docs / "guide.md"], to="it", preset="Here")
    assert len(compat_nb.history()) == 0
    monkeypatch.setattr(history, "enabled", True)
    ip.run_line_magic("config", "TranslateMagics.record_history = True")
    ip.run_line_magic("translate", f'notebook "{docs / "guide.md"}" -p Here --to es')
    (row,) = compat_nb.history()
    assert row["kind"] == "notebook" and row["target"] == "Spanish"
