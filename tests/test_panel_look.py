"""How the settings panel presents itself, checked in the kernel: where each message appears,
how it is marked up, what the fields show, and that its layout has no fixed pixel widths.

tests/test_browser_look.py measures the same things in a real browser (contrast, clipping).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest
from test_panel import dead_port, point_at, shown

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.panel import NEW_PRESET, SettingsPanel, settings_panel
from compat_nb.faces.widgets import FORM_CSS, descendants
from compat_nb.work.markup import TONES, message_html, tone, tone_color


@pytest.fixture
def panel() -> Iterator[SettingsPanel]:
    # The user's own preset: a first run would open on "New preset…", and a built-in pointed
    # at the test server is not saved under the built-in's name.
    get_store().save(Preset("Mine"))
    made = settings_panel()
    yield made
    made.close()


def tone_of(line: Any) -> str:
    found = re.search(r"compat-nb-(ok|warn|error|muted)\b", line.value)
    assert found, line.value
    return found.group(1)


# --- the theme -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "variable"),
    [("ok", "--jp-success-color1"), ("warn", "--jp-warn-color1"), ("error", "--jp-error-color1")],
)
def test_status_colours_are_the_theme_hue_mixed_toward_its_text_colour(kind, variable):
    ui, content = tone_color(kind, "ui"), tone_color(kind, "content")
    assert ui.startswith("color-mix(in srgb, var(" + variable)
    assert "var(--jp-ui-font-color1, var(--vscode-editor-foreground, currentColor))" in ui
    assert "var(--jp-content-font-color1, var(--vscode-editor-foreground, currentColor))" in content
    assert re.search(r"#[0-9a-f]{6}\)+ \d+%", ui)  # a fixed fallback for classic front ends


def test_muted_text_is_the_theme_secondary_text_colour():
    assert tone_color("muted", "ui").startswith("color-mix(in srgb, var(--jp-ui-font-color2, ")
    content = tone_color("muted", "content")
    assert content.startswith("color-mix(in srgb, var(--jp-content-font-color2, ")
    assert set(TONES) == {"ok", "warn", "error", "muted"}
    with pytest.raises(KeyError):
        tone_color("shiny")


def test_a_tone_names_its_kind_for_user_css_and_the_contrast_test():
    html = tone("<b>x</b>", "warn", surface="ui", tag="div")
    assert html.startswith("<div class='compat-nb-tone compat-nb-warn' style='color:color-mix(")
    assert html.endswith("><b>x</b></div>") and '"' not in html


def test_messages_show_code_as_code_and_keep_their_line_breaks():
    text = "Set it with `%translate key Demo` (a <hidden> prompt).\nThen run `%translate test`."
    assert message_html(text) == (
        "Set it with <code>%translate key Demo</code> (a &lt;hidden&gt; prompt).<br>"
        "Then run <code>%translate test</code>."
    )
    assert message_html("a lone ` stays") == "a lone ` stays"


# --- layout --------------------------------------------------------------------------------------


def test_no_part_of_the_panel_has_a_fixed_pixel_width(panel):
    panel.headers.add_row("X-Title", "demo")
    fixed = {}
    for widget in [panel, *descendants(panel)]:
        layout = getattr(widget, "layout", None)
        style = getattr(widget, "style", None)
        for name in ("width", "min_width", "max_width", "flex"):
            value = getattr(layout, name, None) or ""
            if "px" in value:
                fixed[f"{type(widget).__name__}.layout.{name}"] = value
        width = getattr(style, "description_width", "") if style is not None else ""
        if "px" in (width or ""):
            fixed[f"{type(widget).__name__}.style.description_width"] = width
    assert not fixed, fixed
    assert panel.layout.width == "100%" and panel.layout.max_width.endswith("em")


def test_rows_wrap_and_labels_stack_when_the_panel_is_narrow(panel):
    rows = [c for c in panel.children if isinstance(c, w.HBox)]
    assert rows and all(r.layout.flex_flow == "row wrap" for r in rows)
    assert "@container compat-nb-panel (max-width:" in FORM_CSS
    assert "min-width: max-content" in FORM_CSS  # a long label grows instead of being cut
    assert panel.title.value.startswith("<style>") and FORM_CSS in panel.title.value


def test_labels_are_in_sentence_case(panel):
    labels = [getattr(x, "description", "") for x in descendants(panel)]
    labels = [label for label in labels if label]
    assert "API key (optional)" in labels and "Use environment variable" in labels
    assert "Test connection" in labels and "Model name" in labels
    # Only the first word is capitalised, besides names and acronyms (URL, API, LM Studio, M).
    proper = {"URL", "API", "LM", "Studio", "M"}
    for label in labels:
        first, *rest = re.findall(r"[A-Za-z]+", label)
        assert first[0].isupper() or first in ("translate",), label
        assert not [x for x in rest if x[0].isupper() and x not in proper], label


# --- messages ------------------------------------------------------------------------------------


def test_a_pasted_endpoint_url_shows_its_root_at_once(panel, server):
    panel.base_url.value = f" {server.base_url}/chat/completions/ "
    assert panel.base_url.value == server.base_url
    assert "trimmed to the API root" in shown(panel.status)
    assert "<code>/chat/completions</code>" in panel.status.value
    panel.base_url.value = "localhost:1234/v1"
    assert panel.base_url.value == "http://localhost:1234/v1"
    panel.base_url.value = "http:/typo"  # left as typed: Test or Save says what is wrong
    assert panel.base_url.value == "http:/typo"
    panel.model.value = "test-model"
    panel.save()
    assert "malformed" in shown(panel.feedback)


def test_the_test_result_shows_by_test_and_actions_by_their_buttons(panel, server):
    point_at(panel, server)
    panel.test_connection(wait=True)
    assert shown(panel.status).startswith("Connected.") and tone_of(panel.status) == "ok"
    panel.save_button.click()
    assert shown(panel.feedback) == "Saved 'Mine'." and tone_of(panel.feedback) == "ok"
    assert shown(panel.status).startswith("Connected.")  # still true: same endpoint
    panel.temperature.value = "0.5"  # the form moved on: "Saved" no longer describes it
    assert shown(panel.feedback) == ""
    assert panel.message == shown(panel.status)


def test_a_model_missing_from_the_server_stays_warned_after_save_and_use(panel, server):
    point_at(panel, server, model="missing-model")
    panel.test_connection(wait=True)
    assert tone_of(panel.status) == "warn"
    panel.save_button.click()
    assert "did not list model 'missing-model'" in shown(panel.feedback)
    assert tone_of(panel.feedback) == "warn"
    assert "is not among them" in shown(panel.status)
    panel.use_button.click()
    assert shown(panel.feedback).startswith("%%translate now uses 'Mine'")
    assert "did not list model 'missing-model'" in shown(panel.feedback)
    assert tone_of(panel.feedback) == "warn" and "is not among them" in shown(panel.status)


def test_errors_and_progress_have_their_own_tones(panel, server):
    panel.base_url.value = f"http://127.0.0.1:{dead_port()}/v1"
    panel.model.value = "test-model"
    panel.test_connection(wait=True)
    assert tone_of(panel.status) == "error"
    server.delay = 0.5
    point_at(panel, server)
    panel.test_connection()
    assert tone_of(panel.status) == "muted" and shown(panel.status) == "Testing…"
    panel._test_thread.join()  # type: ignore[union-attr]
    assert tone_of(panel.status) == "ok"
    assert "compat-nb-warn" in panel.summary.value  # "● unsaved changes"


def test_the_readme_shows_screenshots_that_exist():
    root = Path(__file__).resolve().parents[1]
    shown_images = re.findall(r'src="(docs/img/[^"]+)"', (root / "README.md").read_text())
    assert {"docs/img/panel_light.png", "docs/img/panel_dark.png"} <= set(shown_images)
    assert {"docs/img/panel_narrow.png", "docs/img/comparison.png"} <= set(shown_images)
    assert all((root / path).stat().st_size > 10_000 for path in shown_images)


def test_a_new_preset_saved_as_tested_keeps_its_result_and_warning(panel, server):
    panel.preset.value = NEW_PRESET
    panel.new_name.value = "Fresh"
    point_at(panel, server, model="missing-model")
    panel.test_connection(wait=True)
    panel.save_button.click()
    assert panel.selected == "Fresh"
    assert "is not among them" in shown(panel.status) and tone_of(panel.status) == "warn"
    assert "did not list model 'missing-model'" in shown(panel.feedback)
    assert panel.model.options == ("test-model", "other-model", "llama3.2:3b")
