"""What a translated document keeps of its structure, against the loopback server: HTML
blocks sent whole, and the anchors links point to."""

from __future__ import annotations

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
