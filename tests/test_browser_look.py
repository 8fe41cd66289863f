"""How the panel and the outputs look in JupyterLab: theme contrast, narrow windows, screenshots.

Contrast is measured from getComputedStyle in the page, in JupyterLab's Light and Dark themes,
for every element that carries a status colour (class `compat-nb-tone`); each must read at WCAG
AA (4.5:1). The figures are written to tests/artifacts/contrast.txt beside the screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support.look import Measured, clipped, measure
from browser_support.notebook import NotebookPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
TONES = ".compat-nb-tone"
LONG_TEXT = "\n\n".join(f"Paragraph {i} of a long text." for i in range(1, 7))


def _dead_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def _collect(found: dict[str, list[Measured]], page, selector: str = TONES) -> None:  # type: ignore[no-untyped-def]
    for m in measure(page, selector):
        kind = next(k for k in ("ok", "warn", "error", "muted") if f"compat-nb-{k}" in m.classes)
        found.setdefault(kind, []).append(m)


def _panel(page):  # type: ignore[no-untyped-def]
    panel = page.locator(".compat-nb-panel")
    expect(panel).to_be_visible()
    return panel


def _test_connection(panel, base_url: str, model: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    panel.locator(".compat-nb-base-url input").fill(base_url)
    panel.locator(".compat-nb-model input").fill(model)
    panel.locator(".compat-nb-test-button").click()
    expect(panel.locator(".compat-nb-status")).to_contain_text(expected)


@pytest.mark.parametrize(
    ("width", "file_browser"), [(1024, True), (600, False), (600, True)], ids=str
)
def test_the_panel_fits_the_notebook_with_nothing_clipped(
    browser, server, config_dir, width, file_browser
):
    lab, context = browser
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    cells = ["%load_ext compat_nb", "%translate settings"]
    name = f"fit-{width}-{'files' if file_browser else 'nofiles'}"
    nb = NotebookPage(lab, context, name, cells, env=env, width=width, height=1100)
    try:
        files = nb.page.locator("#filebrowser")
        if files.is_visible() != file_browser:
            nb.page.locator(".jp-SideBar [data-id='filebrowser']").click()
        expect(files).to_be_visible() if file_browser else expect(files).to_be_hidden()
        nb.run(0)
        nb.run(1)
        panel = _panel(nb.page)
        _test_connection(panel, server.base_url, "not-there", "is not among them")
        panel.get_by_text("Advanced").click()
        panel.locator(".compat-nb-add-header").click()
        expect(panel.locator(".compat-nb-temperature input")).to_be_visible()
        width_px = nb.page.evaluate(
            "document.querySelector('.compat-nb-panel').getBoundingClientRect().width"
        )
        cut = clipped(nb.page, ".compat-nb-panel")
        if width == 600 and not file_browser:
            panel.screenshot(path=str(ARTIFACTS / "panel_narrow.png"))
        assert not cut, f"clipped at {width} px (panel {width_px:.0f} px wide): {cut}"
        # Every label reads in full: none ends in the ellipsis of a cut label.
        labels = panel.locator(".widget-label").all_inner_texts()
        assert labels and not [t for t in labels if re.search(r"…$", t)], labels
        assert not nb.unexpected_errors(), nb.unexpected_errors()
    finally:
        nb.close()
