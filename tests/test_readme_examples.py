"""Every example of the README runs as written, in a Jupyter kernel, against the loopback server.

The README's Python and IPython blocks (and its bare `%translate` / `%%translate` blocks) become
the cells of one notebook, in the README's order, run by nbclient in a real kernel; the shell
blocks that translate files run in a shell. The presets they name (LM Studio, Ollama, Local,
OpenRouter, a judge) point at the loopback server, and the files they name exist. A block that
cannot run here must be listed in SKIPPED with why, so a new example is never silently left out.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from server import FakeServer

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)

# Blocks that are not examples to run, by their first line, and why.
SKIPPED = {
    "CMAKE_ARGS=": "the install commands: .ci/run runs them (tests/test_readme.py)",
    "ruff check .": "the development commands: CI runs them",
    "%translate local start": "starts the bundled model: the real_server tests run it",
    "%%translate [-t/--to LANG]": "the cell magic's synopsis",
    "%translate help ": "the list of commands, with what each does",
    "In [1]: %load_ext compat_nb": "a transcript against a machine named gpu-box",
    "CompatError": "the tree of error classes",
}
# The shell blocks that are examples: each line runs in the shell (comments dropped).
SHELL_EXAMPLES = ("python -m compat_nb ",)


def blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the README, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(text)]


def skipped(text: str) -> bool:
    return any(text.startswith(start) for start in SKIPPED)


def is_cell(language: str, text: str) -> bool:
    return language == "python" or (language == "" and text.lstrip().startswith("%"))


def test_every_block_is_run_or_said_why_not() -> None:
    left = [
        text.splitlines()[0]
        for language, text in blocks()
        if not skipped(text)
        and not is_cell(language, text)
        and not (language == "bash" and text.startswith(SHELL_EXAMPLES))
    ]
    assert not left, f"README blocks neither run nor in SKIPPED: {left}"
    unused = [start for start in SKIPPED if not any(t.startswith(start) for _, t in blocks())]
    assert not unused, f"SKIPPED names blocks the README no longer has: {unused}"


def reply(body: dict[str, Any]) -> str:
    """A stand-in translation that keeps every structure a document check looks at."""
    text = str(body["messages"][-1]["content"])
    if "Score:" in text:  # the judge's prompt (GEMBA-DA)
        return "Score: 80"
    return re.sub(r"\bthe\b", "le", text)


@pytest.fixture
def workspace(
    server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, FakeServer]:
    """The presets and files the examples name, all reaching the loopback server."""
    server.reply = reply
    store = get_store()
    for name, model in [("LM Studio", "qwen2.5-7b-instruct"), ("Ollama", "llama3.2")]:
        store.save(Preset(name, server.base_url, model))
    store.save(Preset("Local", server.base_url, "smollm2-135m"))
    store.save(Preset("Judge", server.base_url, "judge"))
    store.use("Ollama")  # the examples without -p use the active preset
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-0123456789abcdef0123456789abcdef")
    store.save(store.get("OpenRouter").replace(base_url=server.base_url))
    work = tmp_path / "work"
    work.mkdir()
    (work / "my_texts.csv").write_text(
        "source,reference\nThe weather is nice today.,Il fait beau aujourd'hui.\n"
        "Where is the station?,Où est la gare ?\n",
        encoding="utf-8",
    )
    (work / "terms.csv").write_text("notebook,carnet\n", encoding="utf-8")
    fixtures = Path(__file__).parent / "fixtures" / "notebooks"
    shutil.copy(fixtures / "lesson.ipynb", work / "lesson.ipynb")
    shutil.copytree(fixtures / "images", work / "images")
    (work / "docs").mkdir()
    shutil.copy(fixtures / "guide.md", work / "docs" / "guide.md")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return work, server


# What the examples leave to the reader: a Dask frame to map over, and the preset it uses.
SETUP = """\
import dask.dataframe as dd
import pandas as pd
import compat_nb
ddf = dd.from_pandas(pd.DataFrame({"text": ["Hello.", "Good night."]}), npartitions=2)
preset = compat_nb.get_store().get("Ollama")
"""
# What the examples leave unchecked: that their results are what they say.
CHECKS = """\
assert ddf.compute()["fr"].tolist() == ["Hello.", "Good night."]
assert cmp.rows and ev.leaderboard() is not None and report.ok
"""


# The README shows translating a notebook from a cell and from Python as alternatives: the
# second would refuse to replace what the first wrote (rightly), so that file goes first.
BETWEEN = {"report = compat_nb.translate_notebook(": "import os\nos.remove('lesson.fr.ipynb')"}


def test_every_example_runs_in_a_kernel(workspace: tuple[Path, FakeServer]) -> None:
    work, server = workspace
    cells = [SETUP]
    for language, text in blocks():
        if is_cell(language, text) and not skipped(text):
            cells += [cell for start, cell in BETWEEN.items() if text.startswith(start)]
            cells.append(text)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in [*cells, CHECKS]]
    client = NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(work)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    for cell in nb.cells:
        for output in cell.outputs:
            text = output.get("text", "") + json.dumps(output.get("data", {}))
            assert "Traceback" not in text and "Error" not in text, (cell.source, text)
    shown = {cell.source.splitlines()[0]: cell.outputs for cell in nb.cells}
    tour = json.dumps(shown["%%translate --to French"], ensure_ascii=False)
    assert "LM Studio · qwen2.5-7b-instruct" in tour and "weather" in tour
    assert any(b["model"] == "judge" for b in map(lambda r: r.body, server.chat_requests()))
    assert (work / "out" / "lesson.ipynb").exists() and (work / "lesson.fr.ipynb").exists()


def test_the_shell_examples_run(workspace: tuple[Path, FakeServer]) -> None:
    work, _ = workspace
    for language, text in blocks():
        if language != "bash" or not text.startswith(SHELL_EXAMPLES):
            continue
        for line in text.splitlines():
            command = line.split("  #")[0].strip().replace("python ", f"{sys.executable} ", 1)
            done = subprocess.run(
                command, shell=True, cwd=work, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, (line, done.stdout, done.stderr)
            assert "Traceback" not in done.stderr
    assert (work / "lesson.de.ipynb").exists() and (work / "docs" / "guide.ja.md").exists()
