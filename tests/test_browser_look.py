"""How the panel and the outputs look in JupyterLab: theme contrast, narrow windows, screenshots.

Contrast is measured from getComputedStyle in the page, in JupyterLab's Light and Dark themes,
for every element that carries a status colour (class `compat-nb-tone`); each must read at WCAG
AA (4.5:1). The same is measured for the fallbacks, on plain pages styled as VS Code's default
themes and as front ends with no theme variables. The figures are written to
tests/artifacts/contrast.txt beside the screenshots.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from browser_support.look import AA, Measured, clipped, measure
from browser_support.notebook import DARK, LIGHT, NotebookPage
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


def _collect(found: dict[str, dict[tuple[str, str], Measured]], page) -> None:  # type: ignore[no-untyped-def]
    """Measure every toned element now on the page, once per (text, colour)."""
    for m in measure(page, TONES):
        kind = next(k for k in ("ok", "warn", "error", "muted") if f"compat-nb-{k}" in m.classes)
        found.setdefault(kind, {})[(m.text, m.css)] = m


def _panel(page):  # type: ignore[no-untyped-def]
    """The panel, on a first run's new preset, named."""
    panel = page.locator(".compat-nb-panel")
    expect(panel).to_be_visible()
    panel.locator(".compat-nb-new-name input").fill("My server")
    return panel


def _test_connection(panel, server, url: str, model: str, kind: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Test `url`; return once this test's result shows, in the tone of `kind`. The previous
    result may read alike, so this waits for the kernel to have sent the request (when `url` is
    the test server's) and for the button to be back."""
    before = len(server.requests)
    panel.locator(".compat-nb-base-url input").fill(url)
    panel.locator(".compat-nb-model input").fill(model)
    panel.locator(".compat-nb-test-button").click()
    deadline = time.monotonic() + 10
    while url == server.base_url and len(server.requests) == before:
        assert time.monotonic() < deadline, "Test connection sent no request"
        time.sleep(0.05)
    expect(panel.locator(".compat-nb-test-button")).to_contain_text("Test connection")
    expect(panel.locator(f".compat-nb-status .compat-nb-{kind}")).to_contain_text(expected)


@pytest.mark.parametrize("theme", [LIGHT, DARK], ids=["light", "dark"])
def test_every_status_colour_reads_at_aa(browser, server, config_dir, theme):
    lab, context = browser
    cells = [
        "%load_ext compat_nb\n%config TranslateMagics.chunk_chars = 60",
        "%translate settings",
        f"%%translate -t French --base-url {server.base_url} -m test-model -m other-model\n"
        "Compare **these** two:\n\n- a list\n- in Markdown",
        f"%%translate -t French --base-url {server.base_url} -m test-model\nOne translation.",
        f"%%translate -t French --base-url {server.base_url} -m test-model\n" + LONG_TEXT,
    ]
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    nb = NotebookPage(lab, context, f"tones-{theme}", cells, env=env, theme=theme, width=1280)
    found: dict[str, dict[tuple[str, str], Measured]] = {}
    try:
        nb.run(0)
        nb.run(1)
        panel = _panel(nb.page)
        status = panel.locator(".compat-nb-status")

        _test_connection(panel, server, server.base_url, "not-there", "warn", "is not among them")
        _collect(found, nb.page)
        _test_connection(panel, server, server.base_url, "test-model", "ok", "Connected")
        _collect(found, nb.page)
        panel.screenshot(path=str(ARTIFACTS / f"panel_{theme.split()[-1].lower()}.png"))
        server.delay = 2.0  # long enough to measure "Testing…"
        panel.locator(".compat-nb-test-button").click()
        expect(status).to_contain_text("Testing")
        _collect(found, nb.page)  # busy (muted)
        expect(status).to_contain_text("Connected", timeout=10_000)
        server.delay = 0.0
        _test_connection(panel, server, _dead_url(), "test-model", "error", "Could not connect")
        _collect(found, nb.page)

        # A comparison whose second column fails, a translation's footer, a long text's progress.
        server.inject("404_model", path="/chat/completions")
        grid = nb.run(2).locator(".jp-OutputArea-output")
        expect(grid).to_contain_text("TTFT", timeout=15_000)
        expect(grid.locator(".compat-nb-error")).to_be_visible()
        expect(grid.locator(".compat-nb-error code").first).to_be_visible()  # not `backticks`
        assert "`" not in grid.locator(".compat-nb-error").inner_text()
        _collect(found, nb.page)
        if theme == LIGHT:
            grid.screenshot(path=str(ARTIFACTS / "comparison.png"))
        footer = nb.run(3).locator(".jp-OutputArea-output")
        expect(footer).to_contain_text("TTFT")
        _collect(found, nb.page)
        server.delay = 1.5  # the pieces are answered together, after the bar was measured
        progress = nb.run(4).locator(".jp-OutputArea-output")
        expect(progress).to_contain_text("0 / 3 pieces")
        _collect(found, nb.page)
        server.delay = 0.0
        expect(progress).to_contain_text("Paragraph 6", timeout=30_000)
        assert not nb.unexpected_errors(), nb.unexpected_errors()
    finally:
        nb.close()

    measured = [(kind, m) for kind, ms in sorted(found.items()) for m in ms.values()]
    report = [f"{theme}: {kind:<5} {m}" for kind, m in measured]
    with open(ARTIFACTS / "contrast.txt", "a") as out:
        out.write("\n".join(report) + "\n")
    print("\n".join(report))
    assert set(found) == {"ok", "warn", "error", "muted"}, sorted(found)
    low = [line for line, (_, m) in zip(report, measured, strict=True) if m.ratio < AA]
    assert not low, "\n".join(low)


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
        _test_connection(panel, server, server.base_url, "not-there", "warn", "is not among them")
        panel.get_by_text("Advanced").click()
        panel.locator(".compat-nb-add-header").click()
        expect(panel.locator(".compat-nb-temperature input")).to_be_visible()
        width_px = nb.page.evaluate(
            "document.querySelector('.compat-nb-panel').getBoundingClientRect().width"
        )
        # A message that wraps keeps normal line spacing (not the widgets' 28 px rows).
        spacing = nb.page.evaluate(
            "[...document.querySelectorAll('.compat-nb-status .widget-html-content')].map(e => "
            "parseFloat(getComputedStyle(e).lineHeight) / parseFloat(getComputedStyle(e).fontSize))"
        )
        assert spacing and max(spacing) < 1.7, spacing
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


# Outside JupyterLab the tones fall back to VS Code's theme variables, else to fixed hues mixed
# with the inherited text colour. The variables' values of VS Code's default themes (Light+,
# Dark+, Light Modern, Dark Modern): page, text, success, warning, error, secondary text.
OTHER_FRONT_ENDS = {
    "vscode-light+": ("#ffffff", "#000000", "#388a34", "#bf8803", "#a1260d", "#717171"),
    "vscode-dark+": ("#1e1e1e", "#d4d4d4", "#73c991", "#cca700", "#f48771", "#ccccccb3"),
    "vscode-light-modern": ("#ffffff", "#3b3b3b", "#388a34", "#bf8803", "#f85149", "#3b3b3b"),
    "vscode-dark-modern": ("#1f1f1f", "#cccccc", "#73c991", "#cca700", "#f85149", "#9d9d9d"),
    "classic-light": ("#ffffff", "#000000", None, None, None, None),
    "classic-dark": ("#1e1e1e", "#d4d4d4", None, None, None, None),
}
VSCODE_VARIABLES = (
    "--vscode-editor-foreground",
    "--vscode-testing-iconPassed",
    "--vscode-editorWarning-foreground",
    "--vscode-errorForeground",
    "--vscode-descriptionForeground",
)


@pytest.mark.parametrize("front_end", OTHER_FRONT_ENDS)
def test_tones_fall_back_legibly_outside_jupyterlab(browser, front_end):
    from compat_nb.work.markup import TONES as KINDS
    from compat_nb.work.markup import tone

    _lab, context = browser
    page_colour, text, *values = OTHER_FRONT_ENDS[front_end]
    vscode = values[0] is not None  # else a page with no theme variables at all
    pairs = zip(VSCODE_VARIABLES, [text, *values], strict=True)
    variables = "".join(f"{name}:{value};" for name, value in pairs) if vscode else ""
    samples = "".join(
        tone(f"{kind} on {surface}", kind, surface=surface, tag="div")
        for kind in KINDS
        for surface in ("ui", "content")
    )
    page = context.new_page()
    try:
        body = f"background:{page_colour};color:{text};{variables}"
        page.set_content(f"<html><body style='{body}'>{samples}</body></html>")
        measured = measure(page, TONES)
    finally:
        page.close()
    report = [f"{front_end}: {m}" for m in measured]
    with open(ARTIFACTS / "contrast.txt", "a") as out:
        out.write("\n".join(report) + "\n")
    assert len(measured) == 2 * len(KINDS)
    assert not [line for line, m in zip(report, measured, strict=True) if m.ratio < AA], report
