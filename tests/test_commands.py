"""`%translate new/set/key/delete/show/models`: everything the panel does, from any front end.

Run in terminal IPython (the `ip` fixture) against the loopback test server; the hidden key
prompt is driven for real under a pseudo-terminal in tests/test_terminal.py.
"""

from __future__ import annotations

import getpass
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer

from compat_nb.config.store import get_store
from compat_nb.faces.completion import complete, remember_models


def run(ip: Any, capsys: pytest.CaptureFixture[str], line: str) -> tuple[Any, str]:
    result = ip.run_cell(line)
    captured = capsys.readouterr()
    return result, captured.out + captured.err


def error_name(result: Any) -> str | None:
    return type(result.error_in_exec).__name__ if result.error_in_exec else None


def test_new_set_show_delete_a_preset(ip: Any, server: FakeServer, capsys: Any) -> None:
    result, out = run(ip, capsys, f'%translate new "My box" --base-url {server.base_url} -m x')
    assert error_name(result) is None and "Saved 'My box'" in out
    assert '`%translate use "My box"`' in out
    preset = get_store().get("My box")
    assert (preset.base_url, preset.model) == (server.base_url, "x")

    result, out = run(ip, capsys, '%translate set "my box" model=test-model temperature=0.2')
    assert error_name(result) is None
    result, out = run(ip, capsys, '%translate set "My box" --header "X-Team: docs" --use')
    preset = get_store().get("My box")
    assert (preset.model, preset.temperature, dict(preset.headers)) == (
        "test-model",
        0.2,
        {"X-Team": "docs"},
    )
    assert get_store().active_name == "My box"

    result, out = run(ip, capsys, '%translate show "My box"')
    assert "(active for %%translate)" in out and "header X-Team" in out and "usable  yes" in out

    result, out = run(ip, capsys, '%translate new "my BOX" --base-url http://h/v1 -m m')
    assert error_name(result) == "UsageError" and "exists already" in out
    result, out = run(ip, capsys, '%translate delete "My box"')
    assert "Deleted 'My box'" in out and "My box" not in get_store().names()


def test_show_says_what_applies_to_each_unset_field(ip: Any, capsys: Any) -> None:
    """Only sampling options fall to the server; the others have the client's or the magic's
    value, and a preset without prices has no cost figures at all."""
    _, out = run(ip, capsys, "%translate show Ollama")
    rows = dict(line.strip().split("  ", 1) for line in out.splitlines() if "  " in line.strip())
    rows = {label.strip(): value.strip() for label, value in rows.items()}
    assert rows["temperature"] == "server default" and rows["max tokens"] == "server default"
    assert rows["timeout (s)"] == "the client's (300)"
    assert rows["deadline (s)"] == "the client's (1800)"
    assert "server" not in rows["system prompt"] and "instruction" in rows["system prompt"]
    assert rows["target language"].startswith("the cell's -t")
    assert rows["input $ / 1M tokens"].startswith("none")
    assert out.count("server default") == 2  # temperature and max tokens only


def test_keys_are_never_taken_on_the_command_line(ip: Any, capsys: Any) -> None:
    for line in (
        f"%translate new K --base-url http://h/v1 -m m --api-key {MARKER_KEY}",
        f"%translate set Ollama api_key={MARKER_KEY}",
        f"%translate key Ollama {MARKER_KEY}",
        f"%translate models --base-url http://h/v1 --api-key={MARKER_KEY}",
    ):
        result, out = run(ip, capsys, line)
        assert error_name(result) == "UsageError", line
        assert "never taken on the command line" in out or "Unexpected" in out
    assert "K" not in get_store().names()
    assert not get_store().credentials_path.exists()


def test_key_prompts_stores_and_forgets(
    ip: Any, server: FakeServer, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        asked.append(prompt)
        return MARKER_KEY + "\n"

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    run(ip, capsys, f"%translate new Keyed --base-url {server.base_url} -m test-model --use")
    result, out = run(ip, capsys, "%translate key Keyed")
    assert error_name(result) is None and asked and "hidden" in asked[0]
    assert f"(…{MARKER_KEY[-4:]})" in out and MARKER_KEY not in out
    assert get_store().get("Keyed").api_key == MARKER_KEY
    assert oct(get_store().credentials_path.stat().st_mode & 0o777) == "0o600"
    server.api_key = MARKER_KEY
    result, out = run(ip, capsys, "%%translate -t French\nHello")
    assert error_name(result) is None and "TRANSLATED: Hello" in out
    result, out = run(ip, capsys, "%translate key Keyed --forget")
    assert "Forgot the saved key" in out and get_store().get("Keyed").api_key is None


def test_models_lists_any_server_saved_or_not(ip: Any, server: FakeServer, capsys: Any) -> None:
    result, out = run(ip, capsys, f"%translate models --base-url {server.base_url}")
    assert error_name(result) is None
    assert "Connected. Found 3 models" in out and "llama3.2:3b" in out
    run(ip, capsys, f"%translate new Box --base-url {server.base_url} -m test-model")
    result, out = run(ip, capsys, "%translate models Box")
    assert "other-model" in out
    # The ids are remembered for -m completion, per preset.
    assert complete("%%translate -p Box -m oth") == ["other-model"]
    result, out = run(ip, capsys, "%translate test --base-url " + server.base_url)
    assert error_name(result) is None and "Models: test-model" in out


def test_unset_key_variable_is_not_usable_and_says_how_to_set_it(
    ip: Any, server: FakeServer, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPAT_NB_UNSET", raising=False)
    run(
        ip,
        capsys,
        f"%translate new V --base-url {server.base_url} -m m --api-key-env COMPAT_NB_UNSET",
    )
    result, out = run(ip, capsys, "%translate use V")
    assert error_name(result) == "UsageError" and "$COMPAT_NB_UNSET is not set" in out
    assert "export COMPAT_NB_UNSET=" in out and "%translate key V" in out and "%env" not in out
    result, out = run(ip, capsys, "%%translate -p V\nHello")
    assert error_name(result) == "UsageError" and server.chat_requests() == []
    result, out = run(ip, capsys, "%translate presets")
    assert "$COMPAT_NB_UNSET is not set" in result.result.text(250)


def test_help_shows_the_cell_form_and_every_command(ip: Any, capsys: Any) -> None:
    _result, out = run(ip, capsys, "%translate help")
    assert "%%translate -t French\n    The weather is nice today." in out
    for command in ("use", "presets", "show", "new", "set", "key", "delete", "models", "test"):
        assert f"%translate {command}" in out
    assert "%translate settings" not in out  # a terminal has no panel to open


def test_completion_offers_presets_models_languages_and_commands() -> None:
    get_store().save(get_store().get("Ollama").replace(name="My Box"))
    assert "models" in complete("%translate mo")
    assert complete("%translate use My") == ["My\\ Box"]
    assert complete('%translate use "My') == ['My Box"']
    assert "LM\\ Studio" in complete("%%translate -t French -p L")
    assert complete("%%translate -t Fre") == ["French"]
    remember_models("My Box", ["llama3.2", "qwen2.5:7b"])
    assert complete('%%translate -p "My Box" -m q') == ["qwen2.5:7b"]
    assert complete("%%translate --tr") == ["--translate-code"]
    assert complete("plain text") == []


def test_tab_completion_is_installed_by_load_ext(ip: Any) -> None:
    from IPython.core.completer import provisionalcompleter

    get_store().save(get_store().get("Ollama").replace(name="Zed box"))
    line = "%translate use Ze"
    with provisionalcompleter():
        found = [c.text for c in ip.Completer.completions(line, len(line))]
    assert "Zed\\ box" in found


def test_tables_fit_the_terminal_cutting_or_stacking() -> None:
    from compat_nb.work.table import Table, format_ms

    table = Table(["name", "base URL", "usable"], [["A", "http://" + "x" * 150 + "/v1", "yes"]])
    fitted = table.text(60)
    assert all(len(line) <= 60 for line in fitted.splitlines()) and "…" in fitted
    many = Table([f"column {i}" for i in range(12)], [[str(i) * 9 for i in range(12)]])
    stacked = many.text(40)
    assert all(len(line) <= 40 for line in stacked.splitlines())
    assert "column 11: 111111111111111111" in stacked
    assert (format_ms(842.4), format_ms(1352)) == ("842 ms", "1.35 s")  # one format everywhere


def test_unload_takes_the_magics_away_and_reload_brings_them_back(ip: Any) -> None:
    from IPython.core.completer import provisionalcompleter

    def completed(text: str) -> list[str]:
        with provisionalcompleter():
            return [c.text for c in ip.Completer.completions(text, len(text))]

    assert "show" in completed("%translate sh") and "Ollama" in completed("%translate use Oll")
    ip.run_line_magic("unload_ext", "compat_nb")
    assert ip.find_line_magic("translate") is None and ip.find_cell_magic("translate") is None
    # Nor does tab offer the commands of a magic that is gone.
    assert "show" not in completed("%translate sh")
    assert "Ollama" not in completed("%translate use Oll")
    ip.run_line_magic("load_ext", "compat_nb")
    assert "Ollama" in str(ip.run_line_magic("translate", "presets"))
    assert "show" in completed("%translate sh")
    ip.run_line_magic("reload_ext", "compat_nb")
    assert ip.find_line_magic("translate") is not None
    assert ip.find_cell_magic("translate") is not None
    assert "show" in completed("%translate sh")


@pytest.mark.parametrize("command", ["set Nope model=m", "key Nope", "show Nope", "delete Nope"])
def test_a_command_on_an_unknown_preset_says_how_to_add_one_not_how_to_skip_it(
    ip: Any, capsys: Any, command: str
) -> None:
    """A server named for one cell has nothing to set, key, show or delete."""
    result, out = run(ip, capsys, f"%translate {command}")
    assert error_name(result) in ("UsageError", "ConfigError"), out
    assert "No preset named 'Nope'. Known presets: Ollama" in out
    assert "Add one with `%translate new NAME --base-url URL -m MODEL`." in out
    assert "for one cell" not in out and "Traceback" not in out
