"""Whole notebooks and .md files against the loopback server: structure kept, code untouched
(byte for byte, or AST-equal with comments), outputs unchanged, resumable, never overwriting."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from compat_nb.config import advice
from compat_nb.config.presets import Preset
from compat_nb.errors import ConfigError
from compat_nb.work.code_comments import same_code
from compat_nb.work.notebooks import translate_notebooks

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


@pytest.fixture
def lesson(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "docs")
    return tmp_path / "docs" / "lesson.ipynb"


@pytest.fixture
def preset(server) -> Preset:
    return Preset("Test", base_url=server.base_url, model="test-model")


def marked(text: str) -> str:
    """The text marked as translated, as a model keeps Markdown: after a leading heading's
    `#`s (a heading lost is a failed piece), else in front."""
    return re.sub(r"\A(#{1,6} )?", lambda m: (m.group(1) or "") + "TRANSLATED: ", text, count=1)


def answer_like_a_model(server) -> None:
    server.reply = lambda body: marked(body["messages"][-1]["content"])


@pytest.fixture(autouse=True)
def like_a_model(server) -> None:
    answer_like_a_model(server)


def user_texts(server) -> list[str]:
    return [r.body["messages"][-1]["content"] for r in server.chat_requests()]


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def test_markdown_is_translated_and_everything_else_is_kept(server, preset, lesson):
    (report,) = translate_notebooks([lesson], to="fr", preset=preset)

    out = lesson.with_name("lesson.fr.ipynb")
    assert report.output == out and not report.failed
    nbformat.validate(nbformat.read(out, as_version=4))
    before, after = cells(lesson), cells(out)
    assert [c.id for c in after] == [c.id for c in before]
    for a, b in zip(before, after, strict=True):
        for key in ("cell_type", "metadata", "outputs", "attachments", "execution_count"):
            assert a.get(key) == b.get(key), (a.id, key)
        if a.cell_type != "markdown":
            assert a.source == b.source  # code and raw cells byte for byte
        else:
            assert "TRANSLATED: " in b.source.split("\n", 1)[0]
    data = next(c for c in after if c.id == "residuals").source
    assert "```python\nresiduals = y - (a * x + b)  # never run here\n```" in data  # fence kept
    assert nbformat.read(out, as_version=4).metadata["language"] == "fr"
    # Only prose was sent: no code cell, no raw cell, no fenced code on its own.
    sent = "\n".join(user_texts(server))
    assert "import numpy" not in sent and "raw cell" not in sent
    assert report.cells == 4 and report.pieces == len(server.chat_requests()) and report.cached == 0
    assert "French (fr)" in server.chat_requests()[0].body["messages"][0]["content"]


def test_comments_and_docstrings_are_translated_and_the_code_proven_the_same(
    server, preset, lesson
):
    (report,) = translate_notebooks([lesson], to="French", preset=preset, comments=True)

    before, after = cells(lesson), cells(lesson.with_name("lesson.fr.ipynb"))
    code = [(a, b) for a, b in zip(before, after, strict=True) if a.cell_type == "code"]
    assert all(same_code(a.source, b.source) for a, b in code)
    assert all(a.outputs == b.outputs for a, b in code)
    fit = next(b for a, b in code if a.id == "fit-code").source
    assert '"""TRANSLATED: Fit y = a*x + b by least squares.' in fit
    assert "y.mean()  # TRANSLATED: centre the data" in fit
    assert not report.failed and not report.kept_cells


def test_a_markdown_file_keeps_its_front_matter_and_code(server, preset, lesson):
    guide = lesson.with_name("guide.md")
    (report,) = translate_notebooks([guide], to="pt-BR", preset=preset)

    text = report.output.read_text(encoding="utf-8")
    assert report.output.name == "guide.pt-BR.md"
    original = guide.read_text(encoding="utf-8")
    front = original[: original.index("---", 3) + 4]
    assert text.startswith(front)
    assert '```python\n%translate use "LM Studio"\n```' in text
    # The heading keeps the anchor GitHub and MkDocs gave it: links to #getting-started work.
    assert '# <a id="getting-started" name="getting-started"></a>TRANSLATED: Getting' in text
    assert (
        "Brazilian Portuguese (pt-BR)" in server.chat_requests()[0].body["messages"][0]["content"]
    )


def test_an_existing_output_is_never_replaced_without_force(server, preset, lesson):
    out = lesson.with_name("lesson.fr.ipynb")
    out.write_text("precious", encoding="utf-8")
    # In Python (said explicitly: an earlier test may have left an IPython shell around).
    with advice.shown_in("python"), pytest.raises(ConfigError, match="add `force=True`"):
        translate_notebooks([lesson], to="fr", preset=preset)
    assert out.read_text(encoding="utf-8") == "precious" and not server.chat_requests()
    # The same refusal on a command line (or in a magic) names the flag, not Python.
    with advice.shown_in("shell"), pytest.raises(ConfigError) as info:
        translate_notebooks([lesson], to="fr", preset=preset)
    assert "add `--force` to replace it" in info.value.message, info.value.message

    translate_notebooks([lesson], to="fr", preset=preset, force=True)
    assert nbformat.read(out, as_version=4).metadata["language"] == "fr"
    assert not [p for p in lesson.parent.iterdir() if p.name.endswith(".tmp")]  # no leftovers


def test_the_input_is_never_the_output_without_force(server, preset, lesson):
    with pytest.raises(ConfigError, match="already exists"):
        translate_notebooks([lesson], to="fr", preset=preset, output=lesson)
    assert not server.chat_requests()


def test_a_failed_piece_stays_in_the_source_language_marked_and_is_retried_alone(
    server, preset, lesson
):
    server.inject("status", status=400)  # the first request, with one piece in flight at a time
    (report,) = translate_notebooks([lesson], to="fr", preset=preset, concurrency=1)

    assert len(report.failed) == 1 and report.failed[0].where == "cell 1"
    intro = cells(report.output)[0].source
    assert intro.startswith("<!-- compat_nb: not translated: ")
    assert "# Linear regression from scratch" in intro and "TRANSLATED" not in intro
    assert "not translated" in report.summary()
    first = len(server.chat_requests())

    (again,) = translate_notebooks([lesson], to="fr", preset=preset, force=True)
    assert len(server.chat_requests()) - first == 1  # only the failed piece is sent again
    assert again.cached == again.pieces - 1 and not again.failed
    assert cells(again.output)[0].source.startswith("# <a id=")
    assert "TRANSLATED: Linear" in cells(again.output)[0].source


def test_editing_one_cell_translates_only_that_cell_again(server, preset, lesson):
    translate_notebooks([lesson], to="fr", preset=preset)
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[-1].source = "A new closing sentence."
    nbformat.write(nb, lesson)
    first = len(server.chat_requests())

    (report,) = translate_notebooks([lesson], to="fr", preset=preset, force=True)
    assert user_texts(server)[first:] == ["A new closing sentence."]
    assert report.cached == report.pieces - 1


def test_a_model_that_rewrites_a_link_or_drops_inline_code(server, preset, tmp_path):
    page = tmp_path / "page.md"
    filler = " It is long." * 12  # one paragraph per piece
    page.write_text(
        f"See [the guide](guide.md).{filler}\n\nCall `f(x)` now.{filler}\n\nBye.\n",
        encoding="utf-8",
    )
    replies = {
        "See [the guide](guide.md).": "Voir [le guide](guide.fr.md).",  # target restored
        "Call `f(x)` now.": "Appelez f maintenant.",  # inline code lost: piece kept
    }

    def reply(body):
        text = body["messages"][-1]["content"].replace(filler, "")
        return replies.get(text, "Au revoir.")

    server.reply = reply
    (report,) = translate_notebooks([page], to="fr", preset=preset, chunk_chars=200)

    text = report.output.read_text(encoding="utf-8")
    assert "Voir [le guide](guide.md)." in text
    assert "not translated: the translation changed or dropped the inline code `f(x)`" in text
    assert f"Call `f(x)` now.{filler}\n\nBye.\n" in text  # that piece, as it was
    assert [f.where for f in report.failed] == ["line 3"]


def test_bilingual_keeps_each_markdown_cell_before_its_translation(server, preset, lesson):
    (report,) = translate_notebooks([lesson], to="fr", preset=preset, bilingual=True)
    nb = nbformat.read(report.output, as_version=4)
    nbformat.validate(nb)
    sources = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert len(sources) == 8
    assert sources[1] == marked(sources[0])
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert "attachments" not in nb.cells[0] and "attachments" not in nb.cells[1]
    twin = next(c for c in nb.cells if c.id.startswith("data-fr"))
    assert twin.attachments == cells(lesson)[2].attachments  # the translation shows the image


def test_glossary_terms_go_only_with_their_pieces_and_misses_are_reported(
    server, preset, lesson, tmp_path
):
    glossary = tmp_path / "terms.csv"
    glossary.write_text("slope,pente\nresiduals,résidus\nNumPy,\n", encoding="utf-8")

    def reply(body):
        text = body["messages"][-1]["content"]
        return text.replace("residuals", "résidus").replace("Residuals", "Résidus")

    server.reply = reply  # follows "residuals" and keeps NumPy, ignores "slope"
    (report,) = translate_notebooks([lesson], to="fr", preset=preset, glossary=glossary)

    assert report.glossary_misses == [("cell 1", "slope")]
    systems = {
        r.body["messages"][-1]["content"]: r.body["messages"][0]["content"]
        for r in server.chat_requests()
    }
    intro = next(s for t, s in systems.items() if t.startswith("# Linear"))
    assert "- slope → pente" in intro and "- NumPy" in intro and "- residuals → résidus" in intro
    closing = next(s for t, s in systems.items() if t.startswith("Thank you"))
    assert "pente" not in closing and "Keep these terms" not in closing
    assert "glossary term 'slope'" in report.summary()


def test_languages_by_tag_or_name_and_an_unknown_one_sends_nothing(server, preset, lesson):
    with pytest.raises(ConfigError) as caught:
        translate_notebooks([lesson], to="Frnch", preset=preset)
    assert "Closest: French (fr)" in str(caught.value)
    assert not server.chat_requests()
    (report,) = translate_notebooks([lesson], to="Brazilian Portuguese", preset=preset)
    assert report.output.name == "lesson.pt-BR.ipynb"


def test_a_folder_and_a_glob_go_through_one_run(server, preset, lesson):
    reports = translate_notebooks([str(lesson.parent / "*.md"), lesson], to="de", preset=preset)
    assert [r.output.name for r in reports] == ["guide.de.md", "lesson.de.ipynb"]
    # A second run over the folder skips this language's own outputs (and finds them existing).
    with pytest.raises(ConfigError, match="already exists"):
        translate_notebooks([lesson.parent], to="de", preset=preset)


def test_bad_input_is_a_message_naming_the_file(server, preset, tmp_path):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.ipynb is not a notebook nbformat can read"):
        translate_notebooks([broken], to="fr", preset=preset)
    with pytest.raises(ConfigError, match="not found: check the path"):
        translate_notebooks([tmp_path / "missing.ipynb"], to="fr", preset=preset)
    with pytest.raises(ConfigError, match="No file matches"):
        translate_notebooks([str(tmp_path / "*.md")], to="fr", preset=preset)
    (tmp_path / "notes.txt").write_text("hi", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"give \.ipynb notebooks or \.md files"):
        translate_notebooks([tmp_path / "notes.txt"], to="fr", preset=preset)
    assert not server.chat_requests()


def test_headings_already_chosen_go_with_later_pieces(server, preset, tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "## Setup\n\nFirst.\n\n" + "x " * 150 + "\n\nAs said in Setup, go on.\n", encoding="utf-8"
    )
    server.reply = lambda body: body["messages"][-1]["content"].replace("Setup", "Installation")
    translate_notebooks([page], to="fr", preset=preset, chunk_chars=250, concurrency=1)
    last = server.chat_requests()[-1].body["messages"]
    assert last[-1]["content"] == "As said in Setup, go on."
    assert "- Setup → Installation" in last[0]["content"]
    assert json.dumps(last).count("Headings already translated") == 1


# --- the Done-when proofs: execution, kill and resume, the shell and the cell ----------------


def executed_outputs(path: Path, tmp_path: Path) -> list:
    """Code outputs after a real kernel runs the notebook top to bottom (nbclient)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    return [c.outputs for c in nb.cells if c.cell_type == "code"]


def test_the_translated_notebook_executes_with_the_same_code_outputs(
    server, preset, lesson, tmp_path
):
    (report,) = translate_notebooks([lesson], to="fr", preset=preset, comments=True)
    translated = executed_outputs(report.output, tmp_path)
    assert translated == executed_outputs(lesson, tmp_path)
    assert translated == [c.outputs for c in cells(lesson) if c.cell_type == "code"]


def cli(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "compat_nb", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_killed_half_way_a_rerun_requests_only_the_missing_pieces(server, lesson, config_dir):
    import signal
    import time

    server.delay = 0.3  # one piece at a time, each answered after 0.3 s
    args = (
        "notebook",
        str(lesson),
        "--to",
        "fr",
        "--base-url",
        server.base_url,
        "-m",
        "test-model",
        "--comments",
        "--concurrency",
        "1",
    )
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    first = cli(*args, env=env)
    deadline = time.monotonic() + 30
    while len(server.chat_requests()) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)  # no chance to clean up: what is cached is what is kept
    first.wait(10)
    sent_before = user_texts(server)
    assert len(sent_before) == 5 and not lesson.with_name("lesson.fr.ipynb").exists()

    server.reset()
    answer_like_a_model(server)
    second = cli(*args, env=env)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    sent_after = user_texts(server)
    # The four answered before the kill come from the cache; the fifth was in flight.
    assert set(sent_after).isdisjoint(sent_before[:4])
    assert sent_before[4] in sent_after
    assert "(4 from the cache)" in out
    total = int(out.split(" pieces")[0].rsplit(" ", 1)[1])
    assert len(sent_after) == total - 4


def test_the_shell_command_reports_bad_input_in_one_line(server, lesson, config_dir):
    env = {"COMPAT_NB_CONFIG_DIR": str(config_dir)}
    run = cli(
        "notebook", str(lesson), "--to", "Frnch", "--base-url", server.base_url, "-m", "m", env=env
    )
    _out, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "Traceback" not in err
    assert err.startswith("compat-nb: Unknown language 'Frnch'. Closest: French (fr)")
    run = cli("notebook", str(lesson.with_name("nope.ipynb")), "--to", "fr", env=env)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 2 and "nope.ipynb not found: check the path" in err


def test_the_cell_command_translates_with_the_config_language(ip, server, lesson, capsys):
    from compat_nb.config.store import get_store

    get_store().save(Preset("Here", server.base_url, "test-model"))
    ip.run_line_magic("config", 'TranslateMagics.target_language = "German"')
    ip.run_line_magic("translate", f'notebook "{lesson}" -p Here --bilingual')
    out = capsys.readouterr().out
    assert "lesson.de.ipynb" in out and "4 cells" in out
    assert (
        nbformat.read(lesson.with_name("lesson.de.ipynb"), as_version=4).metadata["language"]
        == "de"
    )
    result = ip.run_cell(f'%translate notebook "{lesson}" -p Here')
    shown = capsys.readouterr()
    assert not result.success and "already exists: add `--force`" in shown.out + shown.err


def test_the_public_function(server, preset, lesson):
    import compat_nb

    report = compat_nb.translate_notebook(lesson, to="fr", preset=preset)
    assert isinstance(report, compat_nb.NotebookTranslation)
    assert (
        report.output == lesson.with_name("lesson.fr.ipynb") and report.pieces == report.cells + 1
    )
