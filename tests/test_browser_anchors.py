"""A translated notebook in JupyterLab: a link to a heading whose text was translated still
scrolls to it, through the anchor the translation kept (work/anchors.py).

Only a browser proves this: JupyterLab's sanitizer turns `id` into `data-jupyter-id`, and its
link handler looks that up on click; a CommonMark renderer in Python shows neither.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from compat_nb.config.presets import Preset
from compat_nb.work.notebooks import translate_notebooks

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
FILLER = "A paragraph that only takes room on the page, so the heading starts out of view. " * 6
WORDS = {"Residual plots": "Graphiques des résidus", "See": "Voir", "Back to": "Retour à"}


def french(body) -> str:  # type: ignore[no-untyped-def]
    text = body["messages"][-1]["content"]
    for english, translated in WORDS.items():
        text = text.replace(english, translated)
    return text


def test_a_link_to_a_translated_heading_scrolls_to_it_in_jupyterlab(
    browser, server, config_dir, tmp_path
):
    lab, context = browser
    server.reply = french
    cells = ["# Intro\n\nSee [the residual plots](#Residual-plots).", *[FILLER] * 12]
    cells.append("## Residual plots\n\nThey show how far each point is from the line.")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(c, id=f"c{i}") for i, c in enumerate(cells)]
    spec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["kernelspec"] = spec
    source = lab.root / "anchors.ipynb"
    nbformat.write(nb, source)
    preset = Preset("Test", base_url=server.base_url, model="test-model")
    (report,) = translate_notebooks([source], to="fr", preset=preset, force=True)
    assert not report.failed

    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(lab.url(f"lab/tree/{report.output.name}") + "&reset")
        link = page.get_by_role("link", name="the residual plots")
        expect(link).to_be_visible()
        # Settled first: the kernel connected, and the link's cell already the active one (a
        # click also activates its cell, and JupyterLab scrolls an active cell into view).
        lab.wait_for_idle_kernel(report.output.name)
        page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
        # JupyterLab marks a `#fragment` link `target=_self` as it attaches the click handler
        # that looks up `data-jupyter-id`; a click before that is the browser's own.
        expect(link).to_have_attribute("target", "_self")
        heading = page.locator(".jp-MarkdownOutput h2", has_text="Graphiques des résidus")
        expect(heading).not_to_be_in_viewport()
        link.click()
        expect(heading).to_be_in_viewport()
        # What JupyterLab made of the kept anchor: its own attribute, inside the heading.
        kept = heading.locator('[data-jupyter-id="Residual-plots"]')
        expect(kept).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "anchor_link.png"))
        assert not errors, errors
    finally:
        page.close()
        lab.stop_kernel(report.output.name)
