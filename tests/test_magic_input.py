"""Bad input to every flag of every command is one line naming the flag and its range: -o only
takes a name code can reach, and no number (10**30, inf, NaN, 0, -1) reaches a socket, a loop
or a server.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server import FakeServer

import compat_nb
from compat_nb import local
from compat_nb.config.bounds import BOUNDS
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import ConfigError
from compat_nb.faces import notebook, preset_commands
from compat_nb.faces.magics import TranslateMagics

BIG = "1" + "0" * 30


@pytest.fixture
def shell(ip: Any, server: FakeServer) -> Iterator[Any]:
    """The shell with a usable active preset "T" on the test server."""
    get_store().save(Preset("T", server.base_url, "test-model"))
    get_store().use("T")
    yield ip
    for name in ("result", "match", "_result", "ok"):
        ip.user_ns.pop(name, None)


def refused(shell: Any, capsys: pytest.CaptureFixture[str], cell: str) -> str:
    """Run cell; assert it was refused as a usage error (one line, no traceback); its text."""
    result = shell.run_cell(cell)
    out = capsys.readouterr()
    error = result.error_in_exec
    assert type(error).__name__ == "UsageError", (cell, error)
    message = str(error)
    assert "\n" not in message.strip() and "Traceback" not in out.out + out.err, message
    return message


# --- -o VAR ------------------------------------------------------------------------------------

REFUSED_NAMES = {
    "1abc": "not a Python variable name",
    "a-b": "not a Python variable name",
    "class": "Python keyword",
    "None": "Python keyword",
    "__builtins__": "Python's own",
    "__name__": "Python's own",
    "print": "Python's own",
    "list": "Python's own",
    "In": "IPython's own",
    "Out": "IPython's own",
    "get_ipython": "IPython's own",
    "exit": "IPython's own",
    "quit": "IPython's own",
    "_": "IPython's own",
    "__": "IPython's own",
    "___": "IPython's own",
    "_i": "IPython's own",
    "_iii": "IPython's own",
    "_i7": "IPython's own",
    "_7": "IPython's own",
    "_oh": "IPython's own",
    "_dh": "IPython's own",
    "_ih": "IPython's own",
}


@pytest.mark.parametrize("name", sorted(REFUSED_NAMES))
def test_o_refuses_names_no_code_can_reach_or_that_shadow_python_and_ipython(
    shell: Any, server: FakeServer, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    before = dict(shell.user_ns)
    message = refused(shell, capsys, f"%%translate -o {name}\nHello")
    assert REFUSED_NAMES[name] in message and "-o" in message and "e.g. -o result" in message
    assert server.chat_requests() == []
    assert shell.user_ns.get(name, "absent") is before.get(name, "absent")
    # The session is unharmed: the next cell runs, history and builtins intact.
    assert shell.run_cell("%%translate -o ok\nStill here").error_in_exec is None
    assert shell.user_ns["ok"].text == "TRANSLATED: Still here"
    assert shell.run_cell("print(len('abc'))").error_in_exec is None


@pytest.mark.parametrize("name", ["result", "_result", "match", "r2"])
def test_o_keeps_ordinary_names(shell: Any, name: str) -> None:
    assert shell.run_cell(f"%%translate -o {name}\nHello").error_in_exec is None
    assert shell.user_ns[name].text == "TRANSLATED: Hello"


# --- numbers in every flag of every command ---------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e10", "1e400", "soon"])
def test_timeout_takes_only_a_finite_positive_number(
    shell: Any, server: FakeServer, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    message = refused(shell, capsys, f"%%translate --timeout={value}\nHello")
    assert "--timeout" in message and "above 0, at most 86400" in message
    assert server.chat_requests() == []


def _md(tmp_path: Path) -> Path:
    path = tmp_path / "page.md"
    path.write_text("# Hello\n\nSome text.\n")
    return path


CELLS = {
    "max tokens": (f"%%translate --max-tokens {BIG}\nHello", "--max-tokens"),
    "temperature": ("%%translate --temperature 1e400\nHello", "--temperature"),
    "runs": (f"%%translate --runs {BIG}\nHello", "--runs"),
    "runs compare": (f"%%translate -p T -m test-model -m other-model --runs {BIG}\nHi", "--runs"),
    "runs zero": ("%%translate --runs 0\nHello", "--runs"),
    "concurrency": (f"%%translate --concurrency {BIG}\nHello", "--concurrency"),
    "concurrency negative": ("%%translate --concurrency -3\nHello", "--concurrency"),
    "eval runs": (f"%%translate --eval --runs {BIG}\nHello ||| Bonjour", "--runs"),
    "history rows": (f"%translate history -n {BIG}", "-n"),
    "history zero": ("%translate history -n 0", "-n"),
    "local port": (f"%translate local start --port {BIG}", "--port"),
    "local port zero": ("%translate local start --port 0", "--port"),
    "local port negative": ("%translate local start --port -5", "--port"),
    "notebook concurrency": (f"%translate notebook {{md}} --to fr --concurrency {BIG}", "--conc"),
    "notebook chunk": (f"%translate notebook {{md}} --to fr --chunk-chars {BIG}", "--chunk-chars"),
    "notebook chunk zero": ("%translate notebook {md} --to fr --chunk-chars 0", "--chunk-chars"),
    "notebook tokens": (f"%translate notebook {{md}} --to fr --max-tokens {BIG}", "--max-tokens"),
    "notebook timeout": ("%translate notebook {md} --to fr --timeout inf", "--timeout"),
    "new tokens": (f"%translate new X --base-url {{url}} -m m --max-tokens {BIG}", "--max-tokens"),
    "new timeout": ("%translate new X --base-url {url} -m m --timeout nan", "--timeout"),
    "new price": ("%translate new X --base-url {url} -m m --input-price inf", "--input-price"),
    "set tokens": (f"%translate set T max_tokens={BIG}", "max_tokens"),
    "set timeout": ("%translate set T timeout=inf", "timeout"),
}


@pytest.mark.parametrize("case", sorted(CELLS))
def test_a_number_out_of_range_in_any_flag_is_one_line_naming_the_flag(
    shell: Any, server: FakeServer, capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    cell, flag = CELLS[case]
    cell = cell.format(md=_md(tmp_path), url=server.base_url)
    message = refused(shell, capsys, cell)
    assert flag in message, message
    assert BIG not in message  # a refused number is shown short
    assert server.requests == []
    assert "X" not in get_store().names() and get_store().get("T").max_tokens is None
    assert not (tmp_path / "page.fr.md").exists()


def test_every_numeric_flag_of_every_parser_is_bounded() -> None:
    """The kind, not the examples: a numeric flag added later without a bound fails here."""
    import argparse

    notebook_parser = argparse.ArgumentParser()
    notebook.add_arguments(notebook_parser)
    parsers = {
        "%%translate": TranslateMagics.translate.parser,
        "%translate notebook": notebook_parser,
        "%translate new": preset_commands._parser("new", "usage"),
    }
    unbounded = [
        f"{name} {action.option_strings[-1]}"
        for name, parser in parsers.items()
        for action in parser._actions
        if action.type in (int, float)
    ]
    assert unbounded == []
    typed = [
        action.type.__name__
        for parser in parsers.values()
        for action in parser._actions
        if callable(action.type) and action.type.__name__ in BOUNDS
    ]
    assert {"runs", "concurrency", "timeout", "max_tokens", "chunk_chars"} <= set(typed)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["-m", "compat_nb", "notebook", "{md}", "--to", "fr", "--concurrency", BIG], "--conc"),
        (["-m", "compat_nb", "notebook", "{md}", "--to", "fr", "--chunk-chars", "0"], "--chunk"),
        (["-m", "compat_nb", "notebook", "{md}", "--to", "fr", "--timeout", "inf"], "--timeout"),
        (["-m", "compat_nb.local", "--port", BIG], "--port"),
        (["-m", "compat_nb.local", "--timeout", "inf"], "--timeout"),
        (["-m", "compat_nb.local", "--timeout", "nan"], "--timeout"),
    ],
)
def test_terminal_commands_refuse_bad_numbers_with_usage_not_a_traceback(
    tmp_path: Path, argv: list[str], flag: str
) -> None:
    argv = [a.format(md=_md(tmp_path)) for a in argv]
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr and "must be" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "page.fr.md").exists()


def test_config_traits_refuse_out_of_range_values(shell: Any, caplog: Any) -> None:
    magics = shell.magics_manager.registry["TranslateMagics"]
    for trait, value in (("concurrency", BIG), ("chunk_chars", "0"), ("display_rate", "0")):
        before = getattr(magics, trait)
        shell.run_cell(f"%config TranslateMagics.{trait} = {value}")
        assert getattr(magics, trait) == before
    assert "should not be" in caplog.text


def test_the_python_api_checks_the_same_bounds(server: FakeServer) -> None:
    preset = Preset("T", server.base_url, "test-model")
    calls = [
        lambda: compat_nb.compare("Hi", [preset], runs=10**30),
        lambda: compat_nb.compare("Hi", [preset], concurrency=0),
        lambda: compat_nb.translate_many(["Hi"], preset=preset, concurrency=10**30),
        lambda: compat_nb.translate_many(["Hi"], preset=preset, chunk_chars=0),
        lambda: local.start(port=70000),
        lambda: local.start(timeout=float("inf")),
    ]
    for call in calls:
        with pytest.raises(ConfigError, match="must be"):
            call()
    assert server.requests == []


# --- a key typed on the line is never repeated in the output -----------------------------------

KEY = "sk-proj-" + "Zq8xW3vN7mK2pL5rT9yB4cH6" * 2


@pytest.mark.parametrize(
    "cell",
    [
        f"%%translate {KEY}\nHello",  # argparse: "unrecognized arguments: …"
        f"%%translate --max-tokens {KEY}\nHello",
        f"%%translate --runs={KEY}\nHello",
        f"%%translate -o {KEY}\nHello",
        f"%translate history -n {KEY}",
        f"%translate history {KEY}",
        f"%translate local start --port {KEY}",
        f"%translate new X --base-url http://127.0.0.1:9/v1 -m m --temperature {KEY}",
        f"%translate set T temperature={KEY}",
        f"%translate set T --header {KEY}",
        f"%translate models {KEY} extra",
    ],
)
def test_a_key_typed_on_the_line_is_not_repeated_in_the_message(
    shell: Any, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    result = shell.run_cell(cell)
    out = capsys.readouterr()
    assert result.error_in_exec is not None
    shown = out.out + out.err + str(result.error_in_exec)
    assert KEY not in shown and KEY[:12] not in shown and KEY[-12:] not in shown, shown


# --- comments on the line ----------------------------------------------------------------------


def test_a_comment_after_the_flags_is_no_argument(
    shell: Any, server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """IPython hands a line magic its comment too; the README's lines carry comments (one with
    an apostrophe), and a copied line must run as the line without it, as a shell reads it."""
    for line in (
        "%translate use T        # or Ollama, Local, your own preset…",
        "%translate test                   # Connected. Found 3 models. Latency: 42 ms",
        "%translate local status      # llama.cpp's OpenAI-compatible server",
        "%translate show T #no space after the hash",
    ):
        result = shell.run_cell(line)
        assert result.error_in_exec is None, (line, result.error_in_exec)
    out = capsys.readouterr().out
    assert "Connected" in out and "Local server is not running" in out
    result = shell.run_cell("%%translate -t French -o result   # a cell's first line too\nHello")
    assert result.error_in_exec is None, result.error_in_exec
    assert server.chat_requests()[-1].body["model"] == "test-model"


@pytest.mark.parametrize(
    ("flags", "model"),
    [('-m "x #1"', "x #1"), ("-m x#1", "x#1"), (r"-m x\ \#1", "x #1"), ("-m 'x #1' # c", "x #1")],
)
def test_a_hash_inside_a_word_or_quotes_is_kept(
    shell: Any, server: FakeServer, flags: str, model: str
) -> None:
    result = shell.run_cell(f"%%translate -t French {flags}\nHello")
    assert result.error_in_exec is None, result.error_in_exec
    assert server.chat_requests()[-1].body["model"] == model
