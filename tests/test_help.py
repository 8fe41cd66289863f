"""`%%translate?` reads as IPython's own cell magics do, and agrees with `%translate help`.

Both are read as a user sees them (IPython's `?` and the command's printed output), and the
examples they show are run against the loopback server.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from server import FakeServer

from compat_nb.config.store import get_store
from compat_nb.faces import commands, display


def shown(ip: Any, capsys: pytest.CaptureFixture[str], line: str) -> str:
    result = ip.run_cell(line)
    assert result.error_in_exec is None, result.error_in_exec
    captured = capsys.readouterr()
    return captured.out + captured.err


def examples(text: str) -> list[str]:
    """The example cells a help text shows: indented blocks whose first line is %%translate."""
    blocks = re.findall(r"(?m)^    %%translate .*\n(?:    \S.*(?:\n|$))+", text)
    return [re.sub(r"(?m)^    ", "", block).rstrip("\n") for block in blocks]


def test_question_mark_reads_as_the_cell_magic_with_examples(ip: Any, capsys: Any) -> None:
    doc = shown(ip, capsys, "%%translate?")
    body = doc.split("Docstring:", 1)[1].strip()
    assert body.startswith("%%translate [-t LANG]"), body[:200]
    assert "::" not in doc  # IPython's reST literal-block marker, meaningless on screen
    assert not re.search(r"(?m)^\s*%translate \[", doc)  # the usage names the cell magic
    assert examples(doc) == [
        "%%translate -t French\nThe weather is nice today.",
        '%%translate -t German -p Ollama -p "LM Studio" --runs 3\n'
        "Compare presets side by side on your own text.",
    ]
    # Every flag the parser takes is documented, spelled as typed (no <{…}> reST wrapping).
    parser = ip.find_cell_magic("translate").parser
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in doc, flag
    assert "--format {markdown,text}" in doc and "<" not in doc.split("options:")[1]
    # The line form's `?` shows the same text.
    assert shown(ip, capsys, "%translate?").split("Docstring:", 1)[1].strip() == body


@pytest.mark.parametrize("where", ["terminal", "kernel"])
def test_help_and_question_mark_agree(
    ip: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.setattr(display, "in_kernel", lambda: where == "kernel")
    help_out = shown(ip, capsys, "%translate help")
    doc = shown(ip, capsys, "%%translate?")
    assert examples(help_out) == examples(doc) and len(examples(doc)) == 2
    # Every command help lists is in `?`, word for word, and every command that exists is
    # listed in both (a terminal's help leaves out only the panel).
    help_lines = [line for line in help_out.splitlines() if line.startswith("%translate ")]
    doc_lines = {line for line in doc.splitlines() if line.startswith("%translate ")}
    assert help_lines and set(help_lines) <= doc_lines
    for name in commands._COMMANDS:
        in_doc = any(line.startswith(f"%translate {name}") for line in doc_lines)
        in_help = any(line.startswith(f"%translate {name}") for line in help_lines)
        assert in_doc, name
        assert in_help == (where == "kernel" or name != "settings"), name


def test_the_examples_shown_run(ip: Any, server: FakeServer, capsys: Any) -> None:
    store = get_store()
    for name in ("Ollama", "LM Studio"):  # the presets the examples name, on the test server
        store.save(store.get(name).replace(base_url=server.base_url, model="test-model"))
    store.use("Ollama")
    doc = shown(ip, capsys, "%%translate?")
    for cell in examples(doc):
        out = shown(ip, capsys, cell)
        assert "TRANSLATED:" in out, (cell, out)
    sent = [r.body["messages"][-1]["content"] for r in server.chat_requests()]
    assert sent.count("Compare presets side by side on your own text.") == 6  # 2 presets × 3
    assert "The weather is nice today." in sent


def test_completion_offers_every_command_and_flag_the_help_shows(ip: Any) -> None:
    from compat_nb.faces.completion import complete

    assert set(complete("%translate ")) >= {"help", *commands._COMMANDS}
    parser = ip.find_cell_magic("translate").parser
    flags = {f for a in parser._actions for f in a.option_strings if f.startswith("--")}
    assert set(complete("%%translate --")) == flags


@pytest.mark.parametrize("command", ["new", "set", "notebook"])
def test_a_command_help_reads_as_typed(ip: Any, capsys: Any, command: str) -> None:
    """`%translate new -h` (which `%translate help` suggests) shows its usage and every flag
    with what it means; argparse reads usage and help as %-formats, where `%translate`
    was a ValueError traceback."""
    out = shown(ip, capsys, f"%translate {command} -h")
    assert out.startswith(f"Usage: %translate {command} "), out[:200]
    assert "::" not in out and "%%translate" not in out
    flags = re.findall(r"(?m)^  (-\S+)[^\n]*?  +(\S.*)$", out)
    assert len(flags) >= 8 and all(meaning for _flag, meaning in flags), out


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("command", sorted(commands._COMMANDS))
def test_every_command_answers_help_with_its_usage(
    ip: Any, capsys: Any, command: str, flag: str
) -> None:
    """`-h` is help everywhere, before or after a preset's name: never a preset named '-h',
    an 'unrecognized arguments' error, or the command run (a table, a key prompt, a server)."""
    before = get_store().active_name
    for line in (f"%translate {command} {flag}", f"%translate {command} Ollama {flag}"):
        out = shown(ip, capsys, line)
        assert re.match(rf"Usage: ?\n?%translate {command}\b", out), (line, out[:300])
        assert "No preset named" not in out and "unrecognized" not in out
    if command == "local":
        out = shown(ip, capsys, f"%translate local start {flag}")
        assert out.startswith("Usage:") and "running at" not in out
    assert get_store().active_name == before  # `use -h` made nothing active
