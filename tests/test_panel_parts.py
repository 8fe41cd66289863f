"""The settings panel's two parts with behaviour of their own, on their own: the key field that
never keeps a key, and the Test connection row that drops a result the form has moved past.

tests/test_panel.py drives the same behaviour through the whole panel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import ipywidgets as w
import pytest
from conftest import MARKER_KEY
from ipywidgets.embed import dependency_state
from test_panel import dead_port, point_at, shown

import compat_nb.faces.connection_test as connection_test_module
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.connection_test import ConnectionTest, report_message, unlisted_model
from compat_nb.faces.key_field import KeyField
from compat_nb.faces.panel import SettingsPanel, settings_panel
from compat_nb.wire.protocol import ConnectionReport

CONNECTED_2 = re.compile(r"Connected\. Found 2 models\. Latency: \d+ ms")

# --- the key field -------------------------------------------------------------------------------


def test_a_typed_key_leaves_the_field_at_once_and_is_named_by_its_last_four():
    field = KeyField()
    seen: list[str] = []
    field.observe(lambda change: seen.append(change.owner.value), "value")
    field.value = f"  {MARKER_KEY} "  # what the front end syncs when typing ends
    assert field.value == "" and field.typed == MARKER_KEY
    assert field.placeholder == f"key entered (…{MARKER_KEY[-4:]}), not saved yet"
    # Whoever else watches the field finds it empty already.
    assert seen and set(seen) == {""}


def test_the_key_is_in_no_widget_state_or_repr():
    field = KeyField(description="API key (optional)")
    field.value = MARKER_KEY
    box = w.VBox([field])
    assert field.typed == MARKER_KEY
    assert MARKER_KEY not in json.dumps(dependency_state(box, drop_defaults=False))
    assert MARKER_KEY not in json.dumps(w.Widget.get_manager_state(drop_defaults=False))
    assert MARKER_KEY not in repr(field) + str(field)
    box.close()
    field.close()


def test_a_short_key_shows_no_characters_and_blank_input_is_no_key():
    field = KeyField()
    field.value = "   "
    assert field.typed is None and field.placeholder == "paste a key, or leave empty"
    field.value = "short-key"
    assert field.typed == "short-key" and field.typed_hint == "…"
    assert field.placeholder == "key entered (…), not saved yet"


def test_the_placeholder_names_the_saved_key_until_another_is_typed_and_after_clear():
    field = KeyField()
    field.saved_hint = "…wxyz"
    assert field.placeholder == "key saved (…wxyz)"
    field.value = MARKER_KEY
    assert field.placeholder.startswith("key entered (…")
    field.clear()
    assert field.typed is None and field.value == ""
    assert field.placeholder == "key saved (…wxyz)"
    field.saved_hint = None
    assert field.placeholder == "paste a key, or leave empty"


# --- the Test connection row ---------------------------------------------------------------------


@pytest.fixture
def row() -> Iterator[ConnectionTest]:
    made = ConnectionTest()
    yield made
    made.drop()
    made.close()


def test_a_test_publishes_its_report_and_gives_the_button_back(row, server):
    reports: list[ConnectionReport | None] = []
    row.observe(lambda change: reports.append(change.new), "report")
    report = row.run(Preset("Mine", base_url=server.base_url, model="test-model"), wait=True)
    assert report is not None and report.ok and report.model_ids == server.models
    assert row.report == report and reports[-1] == report
    assert not row.testing and not row.button.disabled
    assert row.button.description == "Test connection"
    assert server.requests[-1].path == "/v1/models"


def test_the_button_shows_a_running_test(row, server):
    server.delay = 0.5
    row.run(Preset("Mine", base_url=server.base_url))
    assert row.testing and row.button.disabled and row.button.description == "Testing…"
    assert row.report is None
    assert row.thread is not None
    row.thread.join(10)
    assert row.report is not None and row.report.ok and not row.button.disabled


def test_a_result_arriving_after_drop_is_never_published(row, server):
    server.delay = 0.5
    reports: list[ConnectionReport | None] = []
    row.observe(lambda change: reports.append(change.new), "report")
    row.run(Preset("Mine", base_url=server.base_url))
    thread = row.thread
    row.drop()
    assert not row.testing and not row.button.disabled
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive()
    assert row.report is None and all(r is None for r in reports)


def test_a_second_run_supersedes_the_first(row, server):
    server.delay = 0.5
    row.run(Preset("Slow", base_url=server.base_url))  # would succeed, but late
    first = row.thread
    dead = f"http://127.0.0.1:{dead_port()}/v1"
    report = row.run(Preset("Dead", base_url=dead), wait=True)
    assert report is not None and not report.ok and row.report == report
    assert first is not None
    first.join(10)
    assert row.report == report  # the first test's success was not published over it


def test_a_bug_in_the_test_becomes_a_report_without_the_key(row, server, monkeypatch):
    class Broken:
        def test_connection(self, preset: Preset) -> ConnectionReport:
            raise RuntimeError(f"unexpected, with {preset.api_key}")

    monkeypatch.setattr(connection_test_module, "get_client", Broken)
    report = row.run(Preset("Mine", base_url=server.base_url, api_key=MARKER_KEY), wait=True)
    assert report is not None and not report.ok
    assert report.error is not None and report.error.startswith("RuntimeError: unexpected")
    assert MARKER_KEY not in report.message
    assert not row.testing and not row.button.disabled


def test_a_report_is_shown_against_the_model_typed_now():
    report = ConnectionReport(True, ["test-model", "llama3.2:latest"], 12.0, base_url="http://h/v1")
    assert report_message(report, "test-model") == (
        "Connected. Found 2 models. Latency: 12 ms",
        "ok",
    )
    text, kind = report_message(report, " missing ")
    assert kind == "warn" and text.endswith("Model 'missing' is not among them")
    text, kind = report_message(report, "")
    assert kind == "ok" and text.endswith("Choose a Model name from the suggestions")
    failed = ConnectionReport(False, error="Could not connect to http://h/v1")
    assert report_message(failed, "test-model") == ("Could not connect to http://h/v1", "error")


def test_save_and_use_repeat_the_warning_only_for_a_model_the_server_lacks():
    report = ConnectionReport(True, ["test-model"], 12.0, base_url="http://h/v1")
    assert unlisted_model(report, "test-model") == ""
    assert unlisted_model(report, "") == ""
    assert unlisted_model(None, "missing") == ""
    assert unlisted_model(ConnectionReport(False, error="x"), "missing") == ""
    assert "did not list model 'missing'" in unlisted_model(report, " missing ")


@pytest.fixture
def panel() -> Iterator[SettingsPanel]:
    get_store().save(Preset("Mine"))
    made = settings_panel()
    yield made
    made.close()


def test_save_and_use_judge_a_model_as_the_test_result_does(panel, server):
    # Ollama lists an untagged pull as `name:latest`; the status line accepts `name`.
    server.models = ["llama3.2:latest", "qwen2.5:7b"]
    point_at(panel, server, model="llama3.2")
    panel.test_connection(wait=True)
    assert CONNECTED_2.fullmatch(shown(panel.status))
    panel.save_button.click()
    assert shown(panel.feedback) == "Saved 'Mine'."
    panel.use_button.click()
    assert shown(panel.feedback).startswith("%%translate now uses 'Mine' (llama3.2 at ")
    assert "did not list" not in shown(panel.feedback)
    panel.model.value = "qwen2.5"  # no `:latest` of it is listed
    panel.save_button.click()
    assert "did not list model 'qwen2.5'" in shown(panel.feedback)
    assert "Model 'qwen2.5' is not among them" in shown(panel.status)


# --- a result shown only while the form describes what was tested ------------------------------


def test_a_new_key_makes_a_key_rejected_result_stale(panel, server):
    server.api_key = "the-right-key-123456"
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.test_connection(wait=True)
    assert shown(panel.status).startswith("Server reachable, key rejected")
    panel.api_key.value = "the-right-key-123456"  # the result named the key typed before
    assert shown(panel.status) == "" and panel.last_report is None


def type_header(panel: SettingsPanel, name: str, value: str) -> None:
    """What a user does: Add header, then type its name and value."""
    panel.headers.add_button.click()
    key, val, _ = panel.headers.rows[-1].children
    key.value, val.value = name, value
    assert panel.headers.value == {name: value}


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: setattr(p.api_key_env, "value", "OTHER_KEY"),
        lambda p: type_header(p, "X-Tenant", "acme"),  # a header may carry the credential
        lambda p: p.forget_key_button.click(),  # the saved key the test sent is gone
    ],
    ids=["key variable", "extra header", "forget key"],
)
def test_any_change_to_what_a_test_sends_clears_its_result(panel, server, edit):
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.save()
    panel.test_connection(wait=True)
    assert shown(panel.status).startswith("Connected.")
    edit(panel)
    assert shown(panel.status) == "" and panel.last_report is None


def test_reset_clears_a_result_about_the_server_it_moved_away_from(server):
    get_store().save(Preset("Ollama", base_url=server.base_url.replace("127.0.0.1", "localhost")))
    panel = settings_panel("Ollama")
    try:
        panel.model.value = "test-model"
        panel.test_connection(wait=True)
        assert shown(panel.status).startswith("Connected.")
        panel.reset_button.click()
        assert panel.base_url.value == "http://localhost:11434/v1"
        assert panel.last_report is None and "Connected" not in shown(panel.status)
    finally:
        panel.close()


def test_edits_that_send_the_same_request_keep_the_result(panel, server):
    point_at(panel, server)
    panel.api_key.value = MARKER_KEY
    panel.test_connection(wait=True)
    panel.temperature.value = "0.3"
    panel.system_prompt.value = "Use formal register."
    panel.save_button.click()  # the typed key is now the saved one: the same request
    assert shown(panel.status).startswith("Connected.") and panel.last_report is not None
    panel.base_url.value = "gsk_" + "Zq8xW3vN7mK2pL5rT9yB4cH6" * 2  # refused: nothing changed
    assert "taken out of 'Base URL'" in shown(panel.status)
    assert panel.base_url.value == server.base_url and panel.last_report is not None
