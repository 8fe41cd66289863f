"""Terminal IPython under a real pseudo-terminal, no notebook: a new user's whole first session.

Each step runs the command the previous message suggested (taken from the output, not
written here), so a message that sends a terminal user nowhere useful fails this test.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import pexpect
import pytest
from conftest import MARKER_KEY
from server import FakeServer

PROMPT = re.compile(r"In \[\d+\]: ")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """`ipython` in a pty; `run` types a line and returns what it printed, colours removed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor"],
            env=env,
            encoding="utf-8",
            timeout=60,
            dimensions=(40, 100),  # a 100-column terminal: tables must fit it
        )
        self.child.expect(PROMPT)

    def run(self, line: str) -> str:
        self.child.sendline(line)
        if "\n" in line:  # a cell ends with two empty lines at IPython's simple prompt
            self.child.sendline("")
            self.child.sendline("")
        self.child.expect(PROMPT)
        return ANSI.sub("", self.child.before or "").replace("\r", "")

    def close(self) -> None:
        self.child.sendline("exit")
        self.child.expect(pexpect.EOF)


def suggested(text: str, command: str) -> str:
    """The first `%translate COMMAND …` a message suggests, as written there."""
    found = re.search(rf"`(%translate {command}\b[^`]*)`", text)
    assert found, f"no `%translate {command} …` suggested in:\n{text}"
    return found.group(1)


@pytest.fixture
def terminal(config_dir: Any) -> Any:
    env = {**os.environ, "COMPAT_NB_CONFIG_DIR": str(config_dir), "TERM": "dumb"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    shell = Terminal(env)
    yield shell
    shell.close()


@pytest.mark.timeout(180)
def test_a_first_terminal_session_follows_the_messages(terminal: Terminal, server: FakeServer):
    server.api_key = MARKER_KEY
    terminal.run("%load_ext compat_nb")

    # Nothing chosen yet: the message says how to add a preset, with commands that work here.
    out = terminal.run("%%translate -t French\nGood morning.")
    assert "No preset chosen yet" in out and "settings" not in out
    new = suggested(out, "new").replace("NAME", "Box").replace("URL", server.base_url)
    out = terminal.run(new.replace("MODEL", "test-model") + " --use")
    assert "Saved 'Box'" in out and "%%translate now uses 'Box'" in out

    # The server wants a key: the rejection says which key was sent and how to store one.
    out = terminal.run("%%translate -t French\nGood morning.")
    assert "key rejected (401)" in out and "sent no key" in out
    key_command = suggested(out, "key")
    terminal.child.sendline(key_command)
    terminal.child.expect("typing is hidden")
    terminal.child.sendline(MARKER_KEY)
    terminal.child.expect(PROMPT)
    out = ANSI.sub("", terminal.child.before or "")
    assert MARKER_KEY not in out  # never echoed, never printed
    assert f"(…{MARKER_KEY[-4:]})" in out

    # The server's models; then a translation, a comparison and the history.
    out = terminal.run("%translate models Box")
    assert "Connected. Found 3 models" in out and "other-model" in out
    out = terminal.run("%%translate -t French\nGood morning.")
    assert "TRANSLATED: Good morning." in out and "— Box · test-model · TTFT" in out
    out = terminal.run("%%translate -t French -m test-model -m other-model\nGood night.")
    assert out.count("TRANSLATED: Good night.") >= 2 and "candidate" in out
    out = terminal.run("%translate history -n 5")
    assert "most recent runs" in out and "other-model" in out
    assert all(len(line) <= 100 for line in out.splitlines()), out
    out = terminal.run("%translate presets")
    assert all(len(line) <= 100 for line in out.splitlines()), out
    assert MARKER_KEY not in out
