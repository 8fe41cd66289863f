"""The notebooks a user opens first run top to bottom in a real kernel, against the test server."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def run_notebook(name: str, tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    return nb


def outputs_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for mime in ("text/markdown", "text/plain", "text/html"):
            parts.append(str(output.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def cell_with(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.cell_type == "code" and source in c.source)


@pytest.fixture
def demo_server(server, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COMPAT_NB_DEMO_URL", server.base_url)
    return server


def test_quickstart_runs_and_shows_the_streamed_translation(demo_server, tmp_path):
    nb = run_notebook("quickstart.ipynb", tmp_path)

    translated = outputs_text(cell_with(nb, "%%translate --to French"))
    assert "TRANSLATED: Good morning! The weather is nice today." in translated
    assert "Demo · test-model · TTFT" in translated and "tokens" in translated
    assert "Connected. Found 3 models. Latency:" in outputs_text(cell_with(nb, "%translate test"))
    api = outputs_text(cell_with(nb, "compat_nb.translate("))
    assert "TRANSLATED: I would like a cup of coffee, please." in api
    assert "Demo" in outputs_text(cell_with(nb, "%translate presets"))
    # One POST per translation cell, the cell text verbatim as the user message.
    users = [r.body["messages"][-1]["content"] for r in demo_server.chat_requests()]
    assert users == [
        "Good morning! The weather is nice today. Let's go for a walk.",
        "I would like a cup of coffee, please.",
    ]
    assert "Quickstart done: two translations." in outputs_text(nb.cells[-1])


def test_quickstart_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_compare_models_notebook_shows_a_comparison_and_the_history(demo_server, tmp_path):
    nb = run_notebook("compare_models.ipynb", tmp_path)

    grid = outputs_text(cell_with(nb, '-p "Demo A" -p "Demo B" -o cmp'))
    assert "Demo A · test-model" in grid and "Demo B · other-model" in grid
    assert grid.count("TRANSLATED: The quick brown fox jumps over the lazy dog.") >= 2
    assert "TTFT" in grid and "$" in grid
    assert "most recent runs" in outputs_text(cell_with(nb, "%translate history"))
    everything = "\n".join(outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert "TRANSLATED: Sehr gut!" in everything
    assert len(demo_server.chat_requests()) >= 10


def test_every_notebook_is_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


def test_evaluate_models_notebook_ranks_the_candidates_and_plots_them(demo_server, tmp_path):
    from evaluate_support import GERMAN, reply

    def answers(body):  # type: ignore[no-untyped-def]
        # Demo A answers like the reference, Demo B in German; the judge is "llama3.2:3b".
        model = {"test-model": "good", "other-model": "german", "llama3.2:3b": "judge"}
        return reply({**body, "model": model.get(body["model"], body["model"])})

    demo_server.reply = answers
    nb = run_notebook("evaluate_models.ipynb", tmp_path)

    board = outputs_text(cell_with(nb, "print(ev.verdict)"))
    assert "Winner: Demo A · test-model on chrF++" in board
    assert "100.0" in board and "judge" in board
    live = outputs_text(cell_with(nb, "ev = compat_nb.evaluate("))
    assert "Le chat dort sur le sol chaud de la cuisine." in live  # the matrix, then...
    assert "5 texts × 2 candidates → French" in live  # ...the leaderboard in its place
    assert GERMAN["The cat is sleeping on the warm kitchen floor."] in live
    assert "wrong_language: looks like de" in live  # Demo B's German answers are flagged
    plot = cell_with(nb, "ev.plot()")
    assert any("image/png" in output.get("data", {}) for output in plot.outputs)
    assert "(10, 10)" in outputs_text(cell_with(nb, "again.cached"))  # all from the cache
    cell_form = outputs_text(cell_with(nb, "Good morning! ||| Guten Morgen!"))
    assert "2 texts × 2 candidates → German" in cell_form
    # 5 texts × 2 candidates + 10 judgements, then 2 × 2 for the cell's own lines.
    assert len(demo_server.chat_requests()) == 24
