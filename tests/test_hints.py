"""Every `%translate …` command a message suggests runs, without a UsageError, where it is shown.

Hints are collected, not listed: from every string in the package (f-string holes filled with
sample values), from the README, and from every advice function in each front end. Each is
run in terminal IPython and in a kernel context, against the loopback test server.
"""

from __future__ import annotations

import ast
import getpass
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from server import FakeServer

from compat_nb.config import advice
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import CompatError

ROOT = Path(__file__).resolve().parents[1]
HINT = re.compile(r"`(%translate [^`]+)`")
HOLE = "\x00"  # where an f-string's {expression} was


def _strings(path: Path) -> list[str]:
    """Every string literal of a module but its docstrings, f-strings with holes marked."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Docstrings describe the code to its readers; messages are what users are shown.
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if id(node) in docstrings:
            continue
        if isinstance(node, ast.JoinedStr):
            found.append(
                "".join(
                    part.value if isinstance(part, ast.Constant) else HOLE for part in node.values
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append(node.value)
    return found


def collected() -> set[str]:
    hints = set()
    for path in (ROOT / "compat_nb").rglob("*.py"):
        if path.name == "advice.py":
            continue  # its hints depend on the front end: collected per context below
        for text in _strings(path):
            hints.update(HINT.findall(text))
    hints.update(HINT.findall((ROOT / "README.md").read_text(encoding="utf-8")))
    return {h for h in hints if "translate" in h}


def advice_hints(where: str, server: FakeServer) -> set[str]:
    box = get_store().get("Box")
    adhoc = Preset("127.0.0.1", server.base_url, "test-model", api_key_env="HINT_VAR")
    found = set()
    with advice.shown_in(where):
        for name, function in inspect.getmembers(advice, inspect.isfunction):
            if name.startswith("_") or function.__module__ != advice.__name__:
                continue
            params = list(inspect.signature(function).parameters)
            # Functions that take a preset get both a saved one and a --base-url one; those
            # that take a name are for saved presets (the messages only call them so).
            for preset in (box, adhoc):
                args: dict[str, Any] = {
                    "preset": preset,
                    "name": "Box",
                    "fields": ["model"],
                    "var": "HINT_VAR",
                    "where": where,
                    "text": "Box",
                }
                try:
                    text = function(*[args[p] for p in params if p in args])
                except TypeError:
                    continue
                if isinstance(text, str):
                    found.update(HINT.findall(text))
    return found


def concrete(hint: str, server: FakeServer) -> str:
    """The hint with its placeholders (NAME, URL…) and f-string holes filled in."""
    if hint.startswith("%translate new"):
        hint = hint.replace("NAME", "Fresh", 1)
    values = {
        "NAME": "Box",
        "URL": server.base_url,
        "MODEL": "test-model",
        "ID": "test-model",
        "VAR": "HINT_VAR",
        "PATH": "/nonexistent/model.gguf",
        "N": "3",
        "M": "test",
        "T": "0.2",
        "SECONDS": "30",
        "LANG": "French",
        "TEXT": "formal",
        "VALUE": "x",
        "FILE": str(ROOT / "tests" / "fixtures" / "glossary" / "terms.csv"),
    }
    hint = hint.replace(HOLE, "Box")
    hint = re.sub(r"\[([^\]]*)\]\.*", "", hint)  # optional parts of a usage line are left out
    hint = hint.replace("field=value", "temperature=0.2").replace("…", "")
    hint = re.sub(r"\b([A-Z]{1,7})\b", lambda m: values.get(m.group(1), m.group(1)), hint)
    if "|" in hint:  # start|status|stop: the first choice
        hint = re.sub(r"(\w+)\|[\w|]+", r"\1", hint)
    return " ".join(hint.split())


@pytest.fixture
def world(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    monkeypatch.setenv("HINT_VAR", "sk-hint-0123456789")
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "sk-typed-0123456789")
    import compat_nb.local as local

    # Starting llama.cpp is the real_server suite's job; here the command only has to parse.
    monkeypatch.setattr(local, "start", lambda **kw: "Local server running (stand-in).")
    return server


def _fresh(server: FakeServer) -> None:
    store = get_store()
    for name in ("Box", "Fresh"):
        if name in store.names():
            store.delete(name)
    store.save(Preset("Box", server.base_url, "test-model"))
    store.use("Box")


@pytest.mark.parametrize("where", ["terminal", "kernel"])
def test_every_suggested_command_runs_where_it_is_shown(
    ip: Any, world: FakeServer, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.faces import display

    monkeypatch.setattr(display, "in_kernel", lambda: where == "kernel")
    _fresh(world)
    hints = collected() | advice_hints(where, world)
    if where == "terminal":
        assert not any("settings" in h for h in advice_hints("terminal", world))
    assert len(hints) >= 10, hints
    failures = []
    for hint in sorted(hints):
        if where == "terminal" and hint.startswith("%translate settings"):
            continue  # only shown in a notebook (help and advice leave it out in a terminal)
        _fresh(world)
        line = concrete(hint, world)
        with advice.shown_in(where):
            result = ip.run_cell(line)
        error = result.error_in_exec
        # A UsageError means the command as suggested does not parse; anything but a
        # CompatError (a message about the server) would be a traceback.
        if error is not None and (
            type(error).__name__ == "UsageError" or not isinstance(error, CompatError)
        ):
            failures.append(f"{hint!r} -> {line!r}: {type(error).__name__}: {error}")
        if hasattr(result.result, "close"):
            result.result.close()  # a settings panel
    assert not failures, "\n".join(failures)
