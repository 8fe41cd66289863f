"""The settings panel driven from Python as a user's clicks would drive it, against the test server.

No browser here: widgets are set with `.value` and `.click()`; tests/test_browser.py covers what
only a browser can show.
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as w
import nbformat
import pytest
from conftest import MARKER_KEY
from IPython.core.error import UsageError
from ipywidgets.embed import dependency_state
from nbclient import NotebookClient

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.panel import NEW_PRESET, SettingsPanel, settings_panel

CONNECTED = re.compile(r"Connected\. Found 3 models\. Latency: \d+ ms")
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "settings.ipynb"


@pytest.fixture
def panels() -> Iterator[list[SettingsPanel]]:
    """Panels made through this list are closed after the test (they observe the store)."""
    made: list[SettingsPanel] = []
    yield made
    for panel in made:
        panel.close()


@pytest.fixture
def panel(panels: list[SettingsPanel]) -> SettingsPanel:
    """A panel on the user's own (still blank) preset "Mine", which it opens on by itself."""
    get_store().save(Preset("Mine"))
    made = settings_panel()
    panels.append(made)
    assert made.selected == "Mine"
    return made


def open_panel(panels: list[SettingsPanel], name: str | None = None) -> SettingsPanel:
    made = settings_panel(name)
    panels.append(made)
    return made


def point_at(panel: SettingsPanel, server: Any, model: str = "test-model") -> None:
    panel.base_url.value = server.base_url
    panel.model.value = model


def shown(line: Any) -> str:
    """A message line's text: tags stripped, line breaks and code spans back as typed."""
    text = re.sub(r"</?code>", "`", line.value.replace("<br>", "\n"))
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def status(panel: SettingsPanel) -> str:
    """The latest message, which `message` gives and one of the two message lines shows."""
    assert panel.message in (shown(panel.status), shown(panel.feedback))
    return panel.message


def widget_state(panel: SettingsPanel) -> str:
    """Everything a notebook saved with widget state would carry for this panel."""
    return json.dumps(dependency_state(panel, drop_defaults=False))


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- fields and the store ----------------------------------------------------------------------


def test_every_field_round_trips_through_the_store(panel, panels, server):
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.api_key_env.value = "MY_KEY_VAR"
    panel.temperature.value = "0.3"
    panel.max_tokens.value = "256"
    panel.system_prompt.value = "Use formal register."
    panel.headers.value = {"X-Title": "compat_nb", "HTTP-Referer": "https://example.org"}
    panel.timeout.value = "42.5"
    panel.deadline.value = "900"
    panel.concurrency.value = "2"
    panel.target_language.value = "French"
    panel.input_price.value = "0.15"
    panel.output_price.value = "0.6"
    assert panel.dirty
    panel.save_button.click()

    saved = get_store().get("Mine")
    assert (saved.base_url, saved.model, saved.api_key) == (
        server.base_url,
        "test-model",
        MARKER_KEY,
    )
    assert (saved.api_key_env, saved.temperature, saved.max_tokens) == ("MY_KEY_VAR", 0.3, 256)
    assert saved.system_prompt == "Use formal register."
    assert saved.headers == {"X-Title": "compat_nb", "HTTP-Referer": "https://example.org"}
    assert (saved.timeout, saved.target_language) == (42.5, "French")
    assert (saved.deadline, saved.concurrency) == (900.0, 2)
    assert (saved.input_price, saved.output_price) == (0.15, 0.6)
    assert not panel.dirty and "unsaved" not in panel.summary.value

    again = open_panel(panels, "Mine")
    shown = {f: getattr(again, f).value for f in ("base_url", "model", "temperature", "timeout")}
    assert shown == {"base_url": server.base_url, "model": "test-model", "temperature": "0.3",
                     "timeout": "42.5"}  # fmt: skip
    assert (again.max_tokens.value, again.target_language.value) == ("256", "French")
    assert (again.deadline.value, again.concurrency.value) == ("900.0", "2")
    assert (again.input_price.value, again.output_price.value) == ("0.15", "0.6")
    assert again.headers.value == saved.headers and len(again.headers.rows) == 2
    assert again.api_key.value == ""
    assert again.api_key.placeholder == f"key saved (…{MARKER_KEY[-4:]})"


def test_empty_advanced_fields_mean_server_default_and_are_not_sent(panel, server, ip):
    point_at(panel, server)
    panel.use_button.click()  # Use saves unsaved edits first
    assert get_store().active_name == "Mine"
    ip.run_cell_magic("translate", "-o t", "Hello")
    body = server.chat_requests()[-1].body
    assert "temperature" not in body and "max_tokens" not in body


def test_bad_numbers_are_refused_with_a_message_and_nothing_is_saved(panel, server):
    point_at(panel, server)
    for field, text, expected in [
        ("temperature", "5", "Temperature must be a number from 0 to 2"),
        ("temperature", "warm", "Temperature must be a number"),
        ("max_tokens", "1.5", "Max tokens must be a whole number"),
        # The range the preset holds (config/bounds.py), not a looser one of the panel's own:
        # a 0 s timeout or deadline is refused, so the panel must not say 0 is allowed.
        ("timeout", "-1", "Timeout (s) must be a number of seconds above 0, at most 86400"),
        ("timeout", "0", "Timeout (s) must be a number of seconds above 0, at most 86400"),
        ("timeout", "1e400", "Timeout (s) must be a number of seconds above 0, at most 86400"),
        ("deadline", "0", "Deadline (s) must be a number of seconds above 0, at most 86400"),
        ("deadline", "1e9", "Deadline (s) must be a number of seconds above 0, at most 86400"),
        ("input_price", "-1", "Input $ / 1M tokens must be a price of 0 or more"),
        ("concurrency", "0", "Requests at once must be a whole number from 1 to 64"),
        ("concurrency", "many", "Requests at once must be a whole number"),
    ]:
        getattr(panel, field).value = text
        assert panel.save() is None
        assert expected in status(panel)
        getattr(panel, field).value = ""
    assert get_store().get("Mine").model == ""


def test_an_authorization_header_is_refused_by_preset_validation(panel, server):
    point_at(panel, server)
    panel.headers.value = {"Authorization": "Bearer x"}
    panel.save_button.click()
    assert "put the key in the API key field" in status(panel)


def test_header_rows_add_edit_and_remove(panel):
    panel.headers.add_button.click()
    key, value, remove = panel.headers.rows[0].children
    key.value, value.value = "X-Title", "demo"
    assert panel.headers.value == {"X-Title": "demo"} and panel.dirty
    remove.click()
    assert panel.headers.value == {} and panel.headers.rows == []
    assert not panel.dirty


# --- the magic picks up saves ------------------------------------------------------------------


def test_save_then_translate_uses_the_saved_preset_immediately(panel, server, ip):
    point_at(panel, server)
    panel.temperature.value = "0.2"
    panel.system_prompt.value = "Keep product names."
    panel.save_button.click()
    panel.use_button.click()
    assert "%%translate now uses 'Mine'" in status(panel)
    assert "★ active for %%translate" in panel.summary.value
    assert panel.preset.label.endswith("★ active")

    ip.run_cell_magic("translate", "-o t", "Hello")
    assert ip.user_ns["t"].text == "TRANSLATED: Hello"
    body = server.chat_requests()[-1].body
    assert (body["model"], body["temperature"]) == ("test-model", 0.2)
    assert body["messages"][0]["content"].endswith("Keep product names.")

    panel.model.value = "other-model"  # an edit, saved: the next cell uses it, no restart
    panel.save_button.click()
    ip.run_cell_magic("translate", "", "Again")
    assert server.chat_requests()[-1].body["model"] == "other-model"


def test_the_settings_magic_returns_a_panel_on_the_named_preset(ip, panels, monkeypatch):
    monkeypatch.setattr("compat_nb.faces.display.in_kernel", lambda: True)
    shown = ip.run_line_magic("translate", "settings Ollama")
    panels.append(shown)
    assert isinstance(shown, SettingsPanel) and shown.preset.value == "Ollama"
    assert shown.base_url.value == "http://localhost:11434/v1"
    with pytest.raises(UsageError, match="No preset named 'Nope'"):
        ip.run_line_magic("translate", "settings Nope")


def test_the_settings_magic_in_a_terminal_says_what_to_do_instead(ip):
    with pytest.raises(UsageError, match=r"needs a notebook front end.*`%translate new NAME"):
        ip.run_line_magic("translate", "settings")


# --- Test connection ---------------------------------------------------------------------------


def test_test_connection_fills_the_model_suggestions_and_reports_latency(panel, server):
    server.delay = 0.3
    panel.base_url.value = server.base_url
    panel.test_button.click()
    assert panel._test_thread.is_alive()  # click returned before the answer: the kernel is free
    panel._test_thread.join(10)
    assert CONNECTED.match(status(panel)) and "Choose a Model name" in status(panel)
    assert panel.model.options == ("test-model", "other-model", "llama3.2:3b")
    assert not panel.test_button.disabled and panel.test_button.description == "Test connection"
    assert server.requests[-1].path == "/v1/models"


def test_a_model_not_listed_by_the_server_is_warned_about_as_it_is_typed(panel, server):
    point_at(panel, server, model="missing-model")
    report = panel.test_connection(wait=True)
    assert report is not None and report.model_found is False
    assert "Model 'missing-model' is not among them" in status(panel)
    panel.model.value = "other-model"
    assert CONNECTED.fullmatch(status(panel))


def test_a_dead_port_says_connection_failed_with_the_cause(panel):
    panel.base_url.value = f"http://127.0.0.1:{dead_port()}/v1"
    panel.test_connection(wait=True)
    assert status(panel).startswith("Could not connect to http://127.0.0.1:")
    assert "is the server running?" in status(panel)
    assert not panel.test_button.disabled


def test_a_hanging_server_ends_at_the_deadline_with_the_button_back(panel, server):
    server.inject("hang", seconds=20)
    point_at(panel, server)
    started = time.perf_counter()
    panel.test_button.click()
    assert panel.test_button.disabled and panel.test_button.description == "Testing…"
    assert status(panel) == "Testing…" and panel.testing
    panel._test_thread.join(10)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed  # the client's 5 s deadline ended it, not the server's 20 s
    assert "did not answer" in status(panel)
    assert not panel.test_button.disabled and not panel.testing


def test_a_result_arriving_after_the_preset_changed_is_dropped(panel, server):
    server.delay = 0.5
    point_at(panel, server)
    panel.test_button.click()
    thread = panel._test_thread
    panel.preset.value = "Ollama"  # the result clears when the preset changes
    assert status(panel) == "Discarded unsaved changes to 'Mine'."
    assert not panel.test_button.disabled and not panel.testing
    thread.join(5)
    assert status(panel) == "Discarded unsaved changes to 'Mine'."
    assert panel.last_report is None and panel.model.options == ()


def test_editing_the_base_url_clears_a_stale_result(panel, server):
    point_at(panel, server)
    panel.test_connection(wait=True)
    assert CONNECTED.match(status(panel))
    panel.base_url.value = "http://127.0.0.1:9/v1"
    assert status(panel) == "" and panel.last_report is None


def test_test_connection_uses_the_typed_key_and_never_shows_it(panel, server):
    server.api_key = "the-right-key-123456"
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.test_connection(wait=True)
    assert (
        status(panel).startswith("Server reachable, key rejected")
        and MARKER_KEY not in panel.status.value
    )
    assert server.requests[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"
    panel.api_key.value = "the-right-key-123456"
    panel.save()  # the saved key is used by a later test, though the field is empty
    panel.test_connection(wait=True)
    assert CONNECTED.match(status(panel))


# --- secrets -----------------------------------------------------------------------------------


def test_the_key_leaves_widget_state_on_save_and_never_comes_back(panel, panels, server):
    point_at(panel, server)
    panel.system_prompt.value = "VISIBLE-MARKER"
    assert "VISIBLE-MARKER" in widget_state(panel)  # the check below can see a synced value
    panel.api_key.value = MARKER_KEY  # what the front end syncs when typing ends
    # Moved out of the field at once: not even an unsaved key stays in widget state.
    assert panel.api_key.value == ""
    assert MARKER_KEY not in widget_state(panel)
    assert panel.api_key.placeholder == f"key entered (…{MARKER_KEY[-4:]}), not saved yet"
    assert panel.dirty
    panel.save_button.click()

    assert panel.api_key.value == ""
    assert panel.api_key.placeholder == f"key saved (…{MARKER_KEY[-4:]})"
    panel.test_connection(wait=True)
    panel.use_button.click()
    other = open_panel(panels, "Mine")
    for shown in (panel, other):
        assert MARKER_KEY not in widget_state(shown)
        assert MARKER_KEY not in shown.status.value + shown.summary.value
    assert MARKER_KEY not in json.dumps(w.Widget.get_manager_state(drop_defaults=False))
    assert MARKER_KEY not in (get_store().presets_path.read_text())


def test_forget_saved_key(panel, server):
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.save()
    assert panel.forget_key_button.layout.display is None
    panel.forget_key_button.click()
    assert get_store().get("Mine").api_key is None
    assert panel.api_key.placeholder == "paste a key, or leave empty"
    assert panel.forget_key_button.layout.display == "none"


def test_the_catalog_prefills_the_key_variable_and_says_when_it_is_unset(panels, monkeypatch):
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    shown = open_panel(panels, "OpenRouter")
    assert shown.api_key_env.value == "OPENROUTER_API_KEY"
    summary = shown.summary.value
    assert "Not usable yet: $OPENROUTER_API_KEY is not set" in summary
    assert "<code>export OPENROUTER_API_KEY=…</code>" in summary and "%env" not in summary
    assert "enter a key in API key above" in summary
    assert shown.use_button.disabled  # usable means usable: no key, no Use
    monkeypatch.setenv("OPENROUTER_API_KEY", "x")
    shown.preset.value = "Groq"
    shown.preset.value = "OpenRouter"
    assert "not set" not in shown.summary.value


# --- several panels ----------------------------------------------------------------------------


def test_two_panels_stay_consistent_with_the_store(panels, server):
    get_store().save(Preset("Mine"))
    first, second = open_panel(panels), open_panel(panels)
    point_at(first, server)
    first.api_key.value = MARKER_KEY
    first.use_button.click()
    # The untouched second panel follows: fields, key hint, active mark.
    assert second.model.value == "test-model" and second.base_url.value == server.base_url
    assert second.api_key.placeholder == f"key saved (…{MARKER_KEY[-4:]})"
    assert "★ active" in second.summary.value and second.preset.label.endswith("★ active")

    second.model.value = "my-edit"  # edits in progress survive another panel's save
    first.temperature.value = "1"
    first.save_button.click()
    assert second.model.value == "my-edit" and second.dirty

    first.preset.value = NEW_PRESET
    first.new_name.value = "Shared"
    point_at(first, server)
    first.save_button.click()
    assert "Shared" in second.preset.options[-2]
    second.preset.value = "Shared"
    first.delete_button.click()
    assert second.selected == "Mine" and "'Shared' was deleted elsewhere" in status(second)

    listeners = len(get_store()._listeners)
    second.close()
    assert len(get_store()._listeners) == listeners - 1
    assert second.comm is None and second.base_url.comm is None  # children closed with it


# --- presets: usable, new, delete, reset -------------------------------------------------------


def test_an_unusable_preset_says_what_is_missing(panels, server):
    shown = open_panel(panels, "Preset 1")
    assert "Not usable yet: Base URL is empty and Model name is empty" in shown.summary.value
    assert shown.use_button.disabled
    shown.base_url.value = server.base_url
    assert "Not usable yet: Model name is empty" in shown.summary.value
    assert shown.use() is None  # from Python too: refused, with what is missing
    assert "'Preset 1' is not usable yet: Model name is empty" in status(shown)
    assert get_store().active_name is None
    shown.model.value = "test-model"
    assert "Not usable" not in shown.summary.value and not shown.use_button.disabled


def test_the_active_preset_is_marked_and_its_use_button_idle(panels, server):
    shown = open_panel(panels, "Ollama")
    shown.use()
    assert shown.use_button.disabled and "★ active for %%translate" in shown.summary.value
    shown.preset.value = "LM Studio"
    assert "★ active" not in shown.summary.value
    assert dict(shown.preset.options)["Ollama  ★ active"] == "Ollama"


def test_switching_presets_discards_edits_and_says_so(panel):
    panel.model.value = "typed-but-not-saved"
    panel.preset.value = "Ollama"
    assert "Discarded unsaved changes to 'Mine'" in status(panel)
    assert not panel.dirty


def test_new_preset_needs_a_fresh_name_then_can_be_deleted(panel, server):
    panel.preset.value = NEW_PRESET
    assert panel.selected == "" and panel.new_name.layout.display is None
    assert panel.base_url.value == "" and panel.delete_button.layout.display == "none"
    point_at(panel, server)
    panel.save_button.click()
    assert "needs a name" in status(panel)
    panel.new_name.value = "lm studio"
    panel.save_button.click()
    assert "A preset named 'LM Studio' exists already" in status(panel)

    panel.new_name.value = "My server"
    panel.use_button.click()
    assert panel.selected == "My server" == panel.preset.value == get_store().active_name
    assert panel.new_name.layout.display == "none"
    assert panel.delete_button.layout.display is None
    assert panel.reset_button.layout.display == "none"

    panel.delete_button.click()
    assert "My server" not in get_store().names() and get_store().active_name is None
    assert panel.selected == "LM Studio" and "Deleted 'My server'" in status(panel)


def test_reset_a_modified_builtin_to_its_defaults(panels, server):
    shown = open_panel(panels, "Ollama")
    assert shown.reset_button.layout.display is None and shown.reset_button.disabled
    shown.model.value = "qwen2.5:7b"  # the same server, another model: still Ollama
    shown.api_key.value = MARKER_KEY
    shown.save()
    assert not shown.reset_button.disabled and get_store().is_modified("Ollama")
    shown.reset_button.click()
    assert shown.model.value == "llama3.2" and shown.base_url.value == "http://localhost:11434/v1"
    assert get_store().get("Ollama").api_key is None and shown.reset_button.disabled


# --- the tour notebook -------------------------------------------------------------------------


def test_settings_notebook_runs_top_to_bottom(server, monkeypatch, tmp_path):
    monkeypatch.setenv("COMPAT_NB_DEMO_URL", server.base_url)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert CONNECTED.search(text), text
    assert "TRANSLATED: Good morning" in text
    assert "application/vnd.jupyter.widget-view+json" in text  # a panel was displayed
    assert get_store().active_name == "Demo"


def test_settings_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


# --- the first run -------------------------------------------------------------------------------


def test_the_first_run_opens_on_a_preset_of_the_users_own(panels, server):
    first = open_panel(panels)
    assert first.selected == "" and first.preset.value == NEW_PRESET
    assert first.new_name.layout.display is None and "First run" in status(first)
    first.new_name.value = "My vLLM"
    point_at(first, server)
    first.use_button.click()
    assert get_store().active_name == "My vLLM"
    assert get_store().get("LM Studio").base_url == "http://127.0.0.1:1234/v1"  # untouched


def test_a_built_in_pointed_at_another_server_is_saved_under_a_name_of_its_own(panels, server):
    shown = open_panel(panels, "LM Studio")
    point_at(shown, server)
    shown.save_button.click()
    # Not saved as "LM Studio" (every footer would then name the wrong server): asked for a name.
    assert not get_store().is_modified("LM Studio")
    assert "not LM Studio's server" in status(shown) and "type a Name" in status(shown)
    assert shown.preset.value == NEW_PRESET and shown.base_url.value == server.base_url
    shown.new_name.value = "Box"
    shown.save_button.click()
    assert get_store().get("Box").base_url == server.base_url and shown.selected == "Box"


def test_advice_follows_the_server_not_the_preset_name(panels, server):
    shown = open_panel(panels, "LM Studio")
    assert "load a model in LM Studio" in shown.summary.value  # its own server: its advice
    shown.base_url.value = server.base_url  # another server: no LM Studio advice for it
    assert (
        "LM Studio" not in shown.summary.value and "fill in Model name above" in shown.summary.value
    )
