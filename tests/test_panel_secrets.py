"""The panel takes a refused secret out of its field the moment it arrives, so neither widget
state nor a saved notebook ever holds it; driven through the widget API and through nbclient.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import MARKER_KEY
from ipywidgets.embed import dependency_state
from nbclient import NotebookClient

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.panel import SettingsPanel, settings_panel

HEX_KEY = secrets.token_hex(16)


@pytest.fixture
def panel() -> Iterator[SettingsPanel]:
    """A panel on the user's own (still blank) preset "Mine"."""
    get_store().save(Preset("Mine"))
    made = settings_panel()
    assert made.selected == "Mine"
    yield made
    made.close()


def state(panel: SettingsPanel) -> str:
    """Everything a notebook saved with widget state would carry for this panel."""
    return json.dumps(dependency_state(panel, drop_defaults=False))


def typed(widget: Any, value: str) -> None:
    """What the front end does when typing ends: an update message, handled by set_state."""
    widget.set_state({"value": value})


@pytest.mark.parametrize("pasted", [MARKER_KEY, HEX_KEY, "sk-abc def123456"])
def test_a_key_pasted_as_the_variable_name_leaves_the_field_at_once(
    panel: SettingsPanel, server: Any, pasted: str
) -> None:
    typed(panel.base_url, server.base_url)
    typed(panel.model, "test-model")
    typed(panel.api_key_env, pasted)
    assert panel.api_key_env.value == ""
    assert pasted not in state(panel) and pasted not in panel.status.value
    assert "Taken out of 'Use environment variable'" in panel.message
    assert panel.save() is not None  # nothing of it is left to save
    assert pasted not in get_store().presets_path.read_text()


def test_a_variable_name_stays_and_is_saved_plain(panel: SettingsPanel, server: Any) -> None:
    typed(panel.base_url, server.base_url)
    typed(panel.model, "test-model")
    typed(panel.api_key_env, "${GATEWAY_KEY}")
    assert panel.api_key_env.value == "${GATEWAY_KEY}" and "Taken out" not in panel.message
    saved = panel.save()
    assert saved is not None and saved.api_key_env == "GATEWAY_KEY"
    assert panel.api_key_env.value == "GATEWAY_KEY"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Ocp-Apim-Subscription-Key", HEX_KEY),
        ("X-Functions-Key", "plain-but-named-as-a-key"),
        ("X-Custom", MARKER_KEY),
        ("X-Custom", HEX_KEY),
    ],
)
def test_a_literal_secret_header_value_leaves_its_field_at_once(
    panel: SettingsPanel, header: str, value: str
) -> None:
    row = panel.headers.add_row()
    name_field, value_field = row.children[0], row.children[1]
    typed(name_field, header)
    typed(value_field, value)
    assert value_field.value == "" and panel.headers.value == {header: ""}
    assert value not in state(panel) and value not in panel.status.value
    assert "Taken out of the form" in panel.message and "${VAR}" in panel.message
    typed(value_field, "${GW_KEY}")  # the fix the message gives is kept
    assert panel.headers.value == {header: "${GW_KEY}"}


def test_naming_a_header_as_a_secret_takes_out_its_literal_value(panel: SettingsPanel) -> None:
    row = panel.headers.add_row()
    typed(row.children[1], "some-literal")
    assert panel.headers.value == {}  # no name yet: nothing judged by name
    typed(row.children[0], "X-Api-Key")
    assert row.children[1].value == "" and "looks like a secret" in panel.message


def test_ordinary_header_values_stay(panel: SettingsPanel) -> None:
    row = panel.headers.add_row()
    typed(row.children[0], "api-version")
    typed(row.children[1], "2024-02-01")
    assert panel.headers.value == {"api-version": "2024-02-01"}
    assert "Taken out" not in panel.message


@pytest.mark.parametrize("field", ["model", "base_url", "new_name", "system_prompt"])
def test_a_key_pasted_in_any_text_field_leaves_it(panel: SettingsPanel, field: str) -> None:
    widget = getattr(panel, field)
    before = widget.value
    typed(widget, MARKER_KEY)
    assert widget.value == before and MARKER_KEY not in state(panel)  # what was there is back
    assert "looks like an API key" in panel.message and MARKER_KEY not in panel.message


def test_a_half_typed_url_shows_a_note_instead_of_failing(panel: SettingsPanel) -> None:
    typed(panel.base_url, "htp:/127.0.0.1")  # the observer must not raise into the front end
    assert "Not usable yet" in panel.summary.value


def test_a_saved_notebook_never_holds_a_refused_secret(
    server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The panel driven through a real kernel; the .ipynb as saved, widget state included."""
    monkeypatch.setenv("DEMO_URL", server.base_url)
    monkeypatch.setenv("PASTED", MARKER_KEY)
    monkeypatch.setenv("PASTED_HEX", HEX_KEY)
    cells = [
        "%load_ext compat_nb",
        "import os\nimport compat_nb\ncompat_nb.get_store().save(compat_nb.Preset('Mine'))\n"
        "panel = compat_nb.settings_panel()\npanel",
        "set = lambda widget, value: widget.set_state({'value': value})\n"
        "set(panel.base_url, os.environ['DEMO_URL'])\n"
        "set(panel.model, 'test-model')\n"
        "set(panel.system_prompt, 'VISIBLE-MARKER')",
        "set(panel.api_key_env, os.environ['PASTED'])\nprint(panel.message)",
        "set(panel.model, os.environ['PASTED'])\nprint(panel.message)\n"
        "set(panel.model, 'test-model')",
        "row = panel.headers.add_row()\n"
        "set(row.children[0], 'Ocp-Apim-Subscription-Key')\n"
        "set(row.children[1], os.environ['PASTED_HEX'])\nprint(panel.message)",
        "other = panel.headers.add_row()\n"
        "set(other.children[0], 'X-Custom')\n"
        "set(other.children[1], os.environ['PASTED'])\nprint(panel.message)",
        "set(panel.api_key, os.environ['PASTED'])\npanel.save()\nprint(panel.message)",
        "panel.test_connection(wait=True)\nprint(panel.message)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    saved = tmp_path / "settings.ipynb"
    nbformat.write(nb, saved)

    text = saved.read_text()
    assert "VISIBLE-MARKER" in json.dumps(nb.metadata["widgets"])  # widget state was saved
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert outputs.count("Taken out of") == 3 and "looks like an API key" in outputs
    assert "Connected" in outputs and "Saved 'Mine'" in outputs
    for secret in (MARKER_KEY, HEX_KEY):
        assert secret not in text
    assert MARKER_KEY in get_store().credentials_path.read_text()  # the typed key: kept apart


def test_the_refusal_is_what_the_status_says_after_a_connection_test(
    panel: SettingsPanel, server: Any
) -> None:
    typed(panel.base_url, server.base_url)
    typed(panel.model, "test-model")
    panel.test_connection(wait=True)
    assert panel.message.startswith("Connected")
    for field in ("api_key_env", "model", "base_url"):
        typed(getattr(panel, field), MARKER_KEY)
        assert "Taken out of" in panel.message or "looks like an API key" in panel.message
    assert panel.base_url.value == server.base_url and panel.model.value == "test-model"
