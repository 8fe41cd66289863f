"""The settings panel in a real browser: JupyterLab and Notebook 7 on loopback, headless Chromium.

What only a browser proves: the widget front end is installed and renders the panel, and clicks
travel page -> kernel -> page. Set COMPAT_NB_REQUIRE_BROWSER=1 (CI does) to fail, not skip, when
Chromium or Playwright is missing. One server and one browser serve the whole session
(conftest's `browser`); each test has its own notebook, kernel and presets directory.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser_support.notebook import NotebookPage
from conftest import MARKER_KEY
from playwright.sync_api import expect

from compat_nb.config.store import PresetStore

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
TEXT = "Hello from the browser"
NAME = "My server"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PASTED_HEX = "9c1e7b3d4f2a" * 2 + "a1b2c3d4"  # an Azure-style key typed as a header value
PASTED_KEY = "gsk_" + "Zq8xW3vN7mK2pL5rT9yB4cH6" * 2  # a Groq key typed as a variable name


@pytest.mark.parametrize("front_end", ["lab", "notebook"])
def test_a_first_run_makes_the_users_own_preset_and_translates(
    browser, server, config_dir, front_end
):
    lab, context = browser
    server.api_key = MARKER_KEY  # the translation below works only with the key saved in the panel
    cells = ["%load_ext compat_nb", "%translate settings", f"%%translate -t French\n{TEXT}"]
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    nb = NotebookPage(lab, context, f"panel-{front_end}", cells, env=env, front_end=front_end)
    page = nb.page
    try:
        nb.run(0)
        nb.run(1)
        panel = page.locator(".compat-nb-panel")
        expect(panel).to_be_visible()
        # A first run opens on a preset of the user's own, not on a built-in to overwrite.
        expect(panel.locator(".compat-nb-preset select")).to_have_value("New preset…")
        status = panel.locator(".compat-nb-status")
        expect(status).to_contain_text("First run: name your server")

        panel.locator(".compat-nb-new-name input").fill(NAME)
        base_url = panel.locator(".compat-nb-base-url input")
        base_url.fill(f"{server.base_url}/chat/completions")  # pasted from a server's docs
        panel.locator(".compat-nb-model input").fill("test-model")  # leaving the field ...
        expect(base_url).to_have_value(server.base_url)  # ... shows the API root
        panel.locator(".compat-nb-api-key input").fill(MARKER_KEY)
        panel.locator(".compat-nb-test-button").click()
        expect(status).to_contain_text("Connected. Found 3 models. Latency:")
        expect(panel.locator(".compat-nb-summary")).to_contain_text("● unsaved changes")

        panel.locator(".compat-nb-save").click()
        feedback = panel.locator(".compat-nb-feedback")  # beside the buttons clicked
        expect(feedback).to_contain_text(f"Saved {NAME!r}.")
        expect(status).to_contain_text("Connected. Found 3 models.")  # still true
        expect(panel.locator(".compat-nb-preset select")).to_have_value(NAME)
        key_field = panel.locator(".compat-nb-api-key input")
        expect(key_field).to_have_value("")
        expect(key_field).to_have_attribute("placeholder", f"key saved (…{MARKER_KEY[-4:]})")
        panel.locator(".compat-nb-use").click()
        expect(feedback).to_contain_text(f"%%translate now uses {NAME!r}")
        expect(panel.locator(".compat-nb-summary")).to_contain_text("★ active for %%translate")

        panel.get_by_text("Advanced").click()
        panel.locator(".compat-nb-add-header").click()
        expect(panel.locator(".compat-nb-temperature input")).to_be_visible()
        if front_end == "lab":
            panel.screenshot(path=str(ARTIFACTS / "panel_advanced.png"))

        # Keys typed where they do not belong leave their field as typing ends.
        header_inputs = panel.locator(".compat-nb-headers input")
        header_name, header_value = header_inputs.nth(0), header_inputs.nth(1)
        header_name.fill("Ocp-Apim-Subscription-Key")
        header_name.press("Enter")
        header_value.fill(PASTED_HEX)
        header_value.press("Enter")
        expect(status).to_contain_text("Taken out of the form")
        expect(header_value).to_have_value("")
        env_field = panel.locator(".compat-nb-api-key-env input")
        env_field.fill(PASTED_KEY)
        env_field.press("Enter")
        expect(status).to_contain_text("Taken out of 'Use environment variable'")
        expect(env_field).to_have_value("")

        translated = nb.run(2).locator(".jp-OutputArea")
        expect(translated).to_contain_text(f"TRANSLATED: {TEXT}")
        expect(translated).to_contain_text(f"{NAME} · test-model")  # the footer names it
        assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"
        page.screenshot(path=str(ARTIFACTS / f"notebook_{front_end}.png"))

        inputs = page.evaluate("[...document.querySelectorAll('input')].map(i => i.value)")
        assert all(MARKER_KEY not in value for value in inputs)
        assert MARKER_KEY not in page.content()

        saved = _save_notebook(page, nb.file)
        assert not nb.unexpected_errors(), nb.unexpected_errors()
    finally:
        nb.close()

    store = PresetStore(config_dir)  # what the kernel wrote, read afresh
    assert store.active_name == NAME and store.get(NAME).base_url == server.base_url
    assert not store.is_modified("LM Studio")  # no built-in renamed or repointed
    assert store.get("LM Studio").base_url == "http://127.0.0.1:1234/v1"
    text = saved.read_text()
    state = json.loads(text)["metadata"]["widgets"][WIDGET_STATE]["state"]
    assert "compat-nb-panel" in json.dumps(state)  # the panel's widget state was saved ...
    assert server.base_url in json.dumps(state)
    assert MARKER_KEY not in text  # ... and the key is nowhere in the file
    assert PASTED_HEX not in text and PASTED_KEY not in text  # nor keys refused as typed


def _save_notebook(page, path: Path, timeout: float = 15):  # type: ignore[no-untyped-def]
    """Ctrl+S, then wait until the file on disk carries the widget state."""
    page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if WIDGET_STATE in path.read_text():
            return path
        time.sleep(0.2)
    raise AssertionError(f"{path} was not saved with widget state within {timeout} s")
