"""Characters nobody can see or type, on every way in: control characters, lone surrogates
(text decoded with errors='surrogateescape', a notebook's JSON holding `\\udcff`), direction
controls and marks, full-width letters. Each is refused with a message naming it, or handled
as a reader would expect (an invisible mark dropped from a language, a full-width `-o` name
stored where Python code finds it); none ends in a UnicodeError traceback.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import ConfigError

HIDDEN = {"NUL": "\x00", "lone surrogate": "\udcff", "right-to-left override": "\u202e"}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_base_url_with_a_hidden_character_is_refused_naming_it(char: str) -> None:
    with pytest.raises(ConfigError, match=f"U\\+{ord(char):04X}"):
        Preset("p", f"http://127.0.0.1:8080/v{char}1?subscription-key=s3cr3t-value", "m")


def test_a_malformed_base_url_is_shown_with_its_query_masked() -> None:
    for url in (
        "http://gw.example:99999/v1?subscription-key=s3cr3t-value",
        "ftp://gw.example/v1?subscription-key=s3cr3t-value",
        "http:/gw.example/v1?subscription-key=s3cr3t-value",
        "http://gw.example/v 1?subscription-key=s3cr3t-value",
    ):
        with pytest.raises(ConfigError) as caught:
            Preset("p", url, "m")
        assert "s3cr3t" not in str(caught.value) and "subscription-key=***" in str(caught.value)


def test_a_full_width_host_is_refused_with_its_ascii_spelling() -> None:
    with pytest.raises(ConfigError, match="did you mean 'localhost'"):
        Preset("p", "http://ｌｏｃａｌｈｏｓｔ:8080/v1", "m")
    assert Preset("p", "http://bücher.example/v1", "m").base_url == "http://bücher.example/v1"


def test_the_magic_refuses_a_hidden_character_in_base_url_as_usage(
    ip: Any, server: FakeServer, capsys: Any
) -> None:
    result = ip.run_cell(f"%%translate --to fr --base-url '{server.base_url}\udcff' -m m\nHello")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "U+DCFF" in str(result.error_in_exec)
    assert server.chat_requests() == []


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_a_preset_name_or_model_with_a_hidden_character_is_refused(char: str) -> None:
    with pytest.raises(ConfigError, match="name cannot contain"):
        Preset(f"my{char}server", "http://127.0.0.1:8080/v1", "m")
    with pytest.raises(ConfigError, match="Model name"):
        Preset("p", "http://127.0.0.1:8080/v1", f"llama{char}3")


def test_a_name_with_a_zero_width_non_joiner_is_kept(server: FakeServer) -> None:
    name = "می\u200cخواهم"  # Persian needs U+200C between these letters
    get_store().save(Preset(name, server.base_url, "m"))
    assert get_store().get(name).name == name


def test_a_new_preset_with_a_surrogate_in_its_name_is_usage_not_a_traceback(
    ip: Any, server: FakeServer
) -> None:
    result = ip.run_cell(f"%translate new 'a\udcffb' --base-url {server.base_url} -m m")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "U+DCFF" in str(result.error_in_exec)


def test_invisible_marks_in_a_language_are_dropped(server: FakeServer) -> None:
    preset = Preset("p", server.base_url, "m")
    for to in ("\u200ffr", "French\u200e", "\ufefffr", "\u2067fr\u2069"):
        assert compat_nb.translate("Hello", to=to, preset=preset).target_language == "French"


@pytest.mark.parametrize("to", ["fr\x00", "f\udcffr"])
def test_a_language_with_a_control_or_surrogate_is_refused(server: FakeServer, to: str) -> None:
    with pytest.raises(ConfigError, match="A language cannot contain"):
        compat_nb.translate("Hello", to=to, preset=Preset("p", server.base_url, "m"))
    assert server.chat_requests() == []


def test_text_with_a_lone_surrogate_fails_alone_and_is_recorded(server: FakeServer) -> None:
    preset = Preset("p", server.base_url, "m")
    with pytest.raises(ConfigError, match="U\\+DCFF"):
        compat_nb.translate("he\udcffllo", to="fr", preset=preset)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a HistoryWarning would fail here
        done = compat_nb.translate_many(["Hello", "he\udcffllo", "World"], to="fr", preset=preset)
        again = compat_nb.translate_many(["Hello", "he\udcffllo"], to="fr", preset=preset)
    assert [t.error is None for t in done] == [True, False, True]
    assert "U+DCFF" in (done[1].error or "") and again[0].text == done[0].text
    rows = compat_nb.history(limit=10)
    assert any("U+DCFF" in (row["error"] or "") for row in rows)
    sent = [r.body["messages"][-1]["content"] for r in server.chat_requests()]
    assert len(sent) == 2 and not any("\udcff" in s for s in sent)


def test_a_notebook_with_a_lone_surrogate_is_written_keeping_it(
    server: FakeServer, tmp_path: Path
) -> None:
    source = tmp_path / "lesson.ipynb"
    cells = [
        {"cell_type": "markdown", "id": "a", "metadata": {}, "source": "Hello"},
        {"cell_type": "markdown", "id": "b", "metadata": {}, "source": "he\udcffllo"},
    ]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    source.write_text(json.dumps(notebook), encoding="utf-8")  # JSON holds it as \udcff
    preset = Preset("p", server.base_url, "m")
    report = compat_nb.translate_notebook(source, to="fr", preset=preset)
    assert len(report.failed) == 1 and "U+DCFF" in report.failed[0].reason
    written = json.loads(report.output.read_text(encoding="utf-8"))
    assert "".join(written["cells"][0]["source"]) == "TRANSLATED: Hello"
    assert "he\udcffllo" in "".join(written["cells"][1]["source"])


def test_a_full_width_out_name_is_stored_where_python_code_finds_it(
    ip: Any, server: FakeServer
) -> None:
    get_store().save(Preset("T", server.base_url, "m"))
    get_store().use("T")
    ip.run_cell("%%translate --to fr -o ｒｅｓｕｌｔ\nHello")
    try:
        ip.run_cell("seen = ｒｅｓｕｌｔ.text")  # Python reads this as `result`
        assert ip.user_ns["seen"] == "TRANSLATED: Hello"
    finally:
        for name in ("result", "seen"):
            ip.user_ns.pop(name, None)


def test_a_hand_written_entry_with_a_hidden_name_is_listed_escaped_kept_and_deletable(
    ip: Any, server: FakeServer, config_dir: Path, capsys: Any
) -> None:
    presets = {
        "ok": {"base_url": server.base_url, "model": "m"},
        "ev\u202eil": {"base_url": server.base_url, "model": "m"},
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "presets.json").write_text(json.dumps({"version": 1, "presets": presets}))
    ip.run_cell("%translate presets")
    out = capsys.readouterr().out
    assert "\u202e" not in out and "ev\\u202eil" in out and "unreadable" in out
    assert compat_nb.translate("Hello", to="fr", preset="ok").text == "TRANSLATED: Hello"
    assert "ev\u202eil" in json.loads((config_dir / "presets.json").read_text())["presets"]
    ip.run_line_magic("translate", "delete 'ev\u202eil'")
    assert list(json.loads((config_dir / "presets.json").read_text())["presets"]) == ["ok"]


def test_an_evaluation_with_a_lone_surrogate_is_saved_as_csv_and_jsonl(
    server: FakeServer, tmp_path: Path
) -> None:
    preset = Preset("p", server.base_url, "m")
    pairs = [("Hello", "Bonjour"), ("he\udcffllo", "salut")]
    ev = compat_nb.evaluate(pairs, [preset], to="French", live=False)
    ev.to_jsonl(tmp_path / "cells.jsonl")
    rows = [json.loads(line) for line in (tmp_path / "cells.jsonl").read_text().splitlines()]
    assert {row["source"] for row in rows} == {"Hello", "he\udcffllo"}  # the escape round-trips
    ev.to_csv(tmp_path / "cells.csv")
    assert "he\ufffdllo" in (tmp_path / "cells.csv").read_text(encoding="utf-8")
