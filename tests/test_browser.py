"""The settings panel in a real browser: JupyterLab on loopback, headless Chromium via Playwright.

What only a browser proves: the widget front end is installed and renders the panel, and clicks
travel page -> kernel -> page. Set COMPAT_NB_REQUIRE_BROWSER=1 (CI does) to fail, not skip, when
Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from browser_support.lab import (
    CHROMIUM_ARGS,
    KNOWN_PAGE_ERRORS,
    JupyterLab,
    chromium_path,
    run_cell,
)
from conftest import MARKER_KEY

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
NOTEBOOK = "panel.ipynb"
TEXT = "Hello from the browser"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _require_browser() -> None:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if chromium_path() is None:
        missing.append("chromium (apt-get install chromium)")
    if missing:
        message = "browser test needs " + ", ".join(missing)
        if os.environ.get("COMPAT_NB_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)


def _write_notebook(path: Path) -> None:
    cells = ["%load_ext compat_nb", "%translate settings", f"%%translate -t French\n{TEXT}"]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, path)


def test_panel_in_jupyterlab(server, config_dir, tmp_path):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    server.api_key = MARKER_KEY  # the translation below works only with the key saved in the panel
    root = tmp_path / "notebooks"
    root.mkdir()
    _write_notebook(root / NOTEBOOK)
    ARTIFACTS.mkdir(exist_ok=True)
    page_errors: list[str] = []

    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    with JupyterLab(root, tmp_path / "home", env=env) as lab, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=chromium_path(),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1100},
        )
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.set_default_timeout(20_000)
            page.goto(lab.url(f"lab/tree/{NOTEBOOK}"))
            page.locator(".jp-Notebook .jp-Cell").nth(2).wait_for()
            lab.wait_for_idle_kernel(NOTEBOOK)

            run_cell(page, 0)
            run_cell(page, 1)
            panel = page.locator(".compat-nb-panel")
            expect(panel).to_be_visible()
            expect(panel.locator(".compat-nb-preset select")).to_have_value("LM Studio")

            panel.locator(".compat-nb-base-url input").fill(server.base_url)
            panel.locator(".compat-nb-model input").fill("test-model")
            panel.locator(".compat-nb-api-key input").fill(MARKER_KEY)
            panel.locator(".compat-nb-test-button").click()
            status = panel.locator(".compat-nb-status")
            expect(status).to_contain_text("Connected. Found 3 models. Latency:")
            expect(panel.locator(".compat-nb-summary")).to_contain_text("● unsaved changes")
            panel.screenshot(path=str(ARTIFACTS / "panel.png"))

            panel.locator(".compat-nb-save").click()
            expect(status).to_contain_text("Saved 'LM Studio'.")
            key_field = panel.locator(".compat-nb-api-key input")
            expect(key_field).to_have_value("")
            expect(key_field).to_have_attribute("placeholder", f"key saved (…{MARKER_KEY[-4:]})")
            panel.locator(".compat-nb-use").click()
            expect(status).to_contain_text("%%translate now uses 'LM Studio'")
            expect(panel.locator(".compat-nb-summary")).to_contain_text("★ active for %%translate")

            panel.get_by_text("Advanced").click()
            panel.locator(".compat-nb-add-header").click()
            expect(panel.locator(".compat-nb-temperature input")).to_be_visible()
            panel.screenshot(path=str(ARTIFACTS / "panel_advanced.png"))

            translated = run_cell(page, 2).locator(".jp-OutputArea")
            expect(translated).to_contain_text(f"TRANSLATED: {TEXT}")
            assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"
            page.screenshot(path=str(ARTIFACTS / "notebook.png"))

            inputs = page.evaluate("[...document.querySelectorAll('input')].map(i => i.value)")
            assert all(MARKER_KEY not in value for value in inputs)
            assert MARKER_KEY not in page.content()

            saved = _save_notebook(page, root / NOTEBOOK)
        finally:
            context.close()

    text = saved.read_text()
    state = json.loads(text)["metadata"]["widgets"][WIDGET_STATE]["state"]
    assert "compat-nb-panel" in json.dumps(state)  # the panel's widget state was saved ...
    assert server.base_url in json.dumps(state)
    assert MARKER_KEY not in text  # ... and the key is nowhere in the file
    unexpected = [e for e in page_errors if not any(k in e for k in KNOWN_PAGE_ERRORS)]
    assert not unexpected, unexpected


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
