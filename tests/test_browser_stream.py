"""A long answer streamed into a cell, in JupyterLab in headless Chromium.

The kernel sends a long answer as Markdown blocks, each once (tests/test_display.py counts
the messages); what only a browser shows is that the blocks read as one document: every
paragraph, in order, the footer once at the end, and no gap between outputs larger than
the one between paragraphs.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from browser_support.notebook import NotebookPage
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
PARAGRAPHS = [
    f"Paragraph {i}: " + " ".join(f"word{i}_{j}" for j in range(60)) + "." for i in range(12)
]


def test_a_long_streamed_answer_reads_as_one_document(browser, server, config_dir):
    lab, context = browser
    server.reply = "\n\n".join(PARAGRAPHS)
    server.chunk_delay = 0.004  # ~3 s of streaming: many live updates and finished blocks
    setup = (
        "%load_ext compat_nb\nimport compat_nb\n"
        f"compat_nb.get_store().save(compat_nb.Preset('Srv', {server.base_url!r}, 'test-model'))"
        "\n%translate use Srv"
    )
    cells = [setup, "%%translate -t French\nA long text."]
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    nb = NotebookPage(lab, context, "long-stream", cells, env=env)
    try:
        nb.run(0)
        area = nb.run(1).locator(".jp-OutputArea")
        expect(area).to_contain_text("Srv · test-model", timeout=60_000)  # the footer: done
        outputs = area.locator(".jp-OutputArea-output")
        assert outputs.count() > 2  # it did arrive in blocks
        paragraphs = area.locator(".jp-RenderedMarkdown p")
        texts = [t for t in paragraphs.all_inner_texts() if t.startswith("Paragraph")]
        assert [t.split(":")[0] for t in texts] == [f"Paragraph {i}" for i in range(12)]
        assert area.inner_text().count("Srv · test-model") == 1
        # Between two paragraphs in different outputs, no more space than within one.
        tops = paragraphs.evaluate_all(
            "ps => ps.map(p => [p.getBoundingClientRect().top, p.getBoundingClientRect().bottom])"
        )
        gaps = [nxt[0] - cur[1] for cur, nxt in itertools.pairwise(tops)]
        assert max(gaps) <= 3 * min(gaps) + 8, gaps
        ARTIFACTS.mkdir(exist_ok=True)
        nb.page.screenshot(path=str(ARTIFACTS / "long_stream.png"), full_page=True)
        assert not nb.unexpected_errors(), nb.unexpected_errors()
    finally:
        nb.close()
