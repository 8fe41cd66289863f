"""What a translated document keeps of its structure, against the loopback server: HTML
blocks sent whole, and the anchors links point to."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from compat_nb.config.presets import Preset
from compat_nb.work.notebooks import translate_notebooks


@pytest.fixture
def preset(server) -> Preset:
    return Preset("Test", base_url=server.base_url, model="test-model")


def sent(server) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.chat_requests()]


def notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(s, id=f"c{i}") for i, s in enumerate(sources)]
    nbformat.write(nb, path)
    return path


def test_an_html_block_spanning_paragraphs_is_sent_whole_and_a_comment_not_at_all(
    server, preset, tmp_path
):
    box = '<div class="alert alert-info">\n<b>Note:</b> read this.\n\nA second paragraph.\n\n</div>'
    comment = "<!-- for the authors:\n\nkeep this list short -->"
    page = tmp_path / "page.md"
    page.write_text(f"Intro paragraph.\n\n{box}\n\n{comment}\n\nClosing words.\n", "utf-8")

    (report,) = translate_notebooks([page], to="fr", preset=preset, chunk_chars=40)

    assert sorted(sent(server)) == sorted(["Intro paragraph.", box, "Closing words."])
    out = report.output.read_text("utf-8")
    assert f"TRANSLATED: {box}" in out and f"\n\n{comment}\n\n" in out


def french(body) -> str:
    """A model that translates headings (and keeps everything else)."""
    text = body["messages"][-1]["content"]
    for english, translated in WORDS.items():
        text = text.replace(english, translated)
    return text


WORDS = {"Residual plots": "Graphiques des résidus", "Setting up": "Mise en place", "See": "Voir"}


def anchors_of(markdown: str) -> set[str]:
    """Every id and name a CommonMark renderer (raw HTML allowed) gives the page."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": True}).render(markdown)
    return set(re.findall(r'\b(?:id|name)="([^"]+)"', html))


def test_a_link_to_a_translated_heading_still_finds_it_in_the_notebook(server, preset, tmp_path):
    server.reply = french
    path = notebook(
        tmp_path / "lesson.ipynb",
        "# Intro\n\nSee [the plots](#Residual-plots).",
        "Some text.",
        "## Residual plots\n\nThey show the fit.",
    )
    (report,) = translate_notebooks([path], to="fr", preset=preset)

    cells = nbformat.read(report.output, as_version=4).cells
    assert cells[0].source.endswith("Voir [the plots](#Residual-plots).")
    heading = cells[2].source.split("\n")[0]
    assert heading == '## <a id="Residual-plots" name="residual-plots"></a>Graphiques des résidus'
    assert "Residual-plots" in anchors_of(cells[2].source)
    assert not report.failed


def test_links_from_another_file_of_the_run_still_find_the_heading(server, preset, tmp_path):
    server.reply = french
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("See [setup](b.md#setting-up) first.\n", "utf-8")
    (docs / "b.md").write_text("# Guide\n\n## Setting up\n\nInstall it.\n", "utf-8")

    translate_notebooks([docs], to="fr", preset=preset, output=tmp_path / "fr")

    linking = (tmp_path / "fr" / "a.md").read_text("utf-8")
    assert "(b.md#setting-up)" in linking  # the same relative link, now to the translated b.md
    assert "setting-up" in anchors_of((tmp_path / "fr" / "b.md").read_text("utf-8"))


def test_a_translation_that_changes_the_headings_is_not_kept(server, preset, tmp_path):
    page = tmp_path / "page.md"
    page.write_text("## Setting up\n\nInstall it.\n\n## Use {#use}\n\nRun it.\n", "utf-8")
    server.reply = lambda body: "Mise en place : installez-le. Utiliser {#use}"  # no heading
    (report,) = translate_notebooks([page], to="fr", preset=preset)

    assert [f.reason for f in report.failed] == [
        "the translation changed the headings (the text has ## ##, the translation none)"
    ]
    assert report.output.read_text("utf-8").endswith("## Use {#use}\n\nRun it.\n")
    server.reply = lambda body: body["messages"][-1]["content"].replace("Use {#use}", "Utiliser")
    (again,) = translate_notebooks([page], to="fr", preset=preset, force=True)
    assert again.cached == 0  # the broken answer was not kept for next time
    assert "the heading id {#use}" in again.failed[0].reason


def test_a_bilingual_notebook_leaves_the_anchors_to_the_original_cell(server, preset, tmp_path):
    server.reply = french
    path = notebook(tmp_path / "lesson.ipynb", "## Residual plots\n\nText.")
    (report,) = translate_notebooks([path], to="fr", preset=preset, bilingual=True)
    original, twin = nbformat.read(report.output, as_version=4).cells
    assert original.source == "## Residual plots\n\nText."
    assert twin.source == "## Graphiques des résidus\n\nText."
