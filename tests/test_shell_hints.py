"""Outside IPython, a message's fix is what works there: flags and shell commands on the command
line (`python -m compat_nb notebook`, `python -m compat_nb.local`), Python in a script.

Each fix is taken from the message and done, as a user would: the command run again with the
flag it names, `curl` run, the variable exported, the Python evaluated.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from server import FakeServer

import compat_nb
from compat_nb import local
from compat_nb.__main__ import main
from compat_nb.config import advice
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import CompatError

FIX = re.compile(r"`([^`]+)`")


@pytest.fixture
def doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "page.md"
    path.write_text("Some text.\n", encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`python -m compat_nb ARGV…` in this process: (exit status, what it printed on stderr)."""
    status = main(["notebook", "page.md", "--to", "fr", "--force", *argv])
    return status, capsys.readouterr().err


def fixes(message: str) -> list[str]:
    return FIX.findall(message)


def test_no_preset_chosen_is_answered_by_the_flag_it_names(
    server: FakeServer, doc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    get_store().save(Preset("Box", server.base_url, "test-model"))
    status, err = run(capsys)
    assert status == 2 and "%translate" not in err and "get_store" not in err, err
    assert "-p NAME" in fixes(err)
    assert run(capsys, "-p", "Box")[0] == 0
    # An unknown name: the fix is naming the server itself.
    status, err = run(capsys, "-p", "Nope")
    assert status == 2 and "%translate" not in err and "for one cell" not in err, err
    (flags,) = [f for f in fixes(err) if f.startswith("--base-url")]
    filled = flags.replace("URL", server.base_url).replace("MODEL", "test-model")
    assert run(capsys, *shlex.split(filled))[0] == 0


def test_a_missing_model_is_listed_by_curl_and_passed_with_m(
    server: FakeServer, doc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    get_store().save(Preset("Box", server.base_url, ""))
    status, err = run(capsys, "-p", "Box")
    assert status == 2 and "%translate" not in err, err
    (curl,) = [f for f in fixes(err) if f.startswith("curl ")]
    listed = subprocess.run(shlex.split(curl), capture_output=True, text=True, timeout=30)
    assert "test-model" in listed.stdout, (curl, listed.stdout, listed.stderr)
    assert "-m MODEL" in " ".join(fixes(err))
    assert run(capsys, "-p", "Box", "-m", "test-model")[0] == 0


def test_an_unset_key_variable_is_exported_not_restarted(
    server: FakeServer,
    doc: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    get_store().save(Preset("Box", server.base_url, "test-model", api_key_env="BOX_KEY"))
    monkeypatch.delenv("BOX_KEY", raising=False)
    status, err = run(capsys, "-p", "Box")
    assert status == 2 and "restart" not in err and "before starting" not in err, err
    assert "export BOX_KEY=…" in fixes(err)
    monkeypatch.setenv("BOX_KEY", "sk-box-0123456789abcdef")
    assert run(capsys, "-p", "Box")[0] == 0


def test_the_bundled_server_is_started_from_a_shell_as_a_shell_does_it(
    doc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run(capsys, "-p", "Local")
    assert status == 2 and "python -m compat_nb.local" in fixes(err)[0], err
    with advice.shown_in("shell"):
        stopped = str(local.status())
    (command,) = fixes(stopped)
    assert command.startswith("python -m compat_nb.local")
    with advice.shown_in("shell"):
        line = advice.local_command("status")
    done = subprocess.run(
        shlex.split(FIX.findall(line)[0].replace("python", sys.executable, 1)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Local server is not running" in done.stdout, done.stderr


def test_in_a_script_the_fixes_are_python(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A script has no IPython shell; one made by an earlier test in this process is hidden.
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        monkeypatch.setattr(ipython, "get_ipython", lambda: None)
    with pytest.raises(CompatError) as info:
        compat_nb.translate("Hello", preset="Nope")
    message = info.value.message
    assert "%translate" not in message and "--base-url" not in message, message
    (one_off,) = [f for f in fixes(message) if f.startswith("preset=")]
    code = one_off.replace("URL", server.base_url).replace("MODEL", "test-model")
    preset = eval(code.removeprefix("preset="), {"compat_nb": compat_nb})
    assert compat_nb.translate("Hello", preset=preset).text == "TRANSLATED: Hello"
    stopped = str(local.status())
    assert fixes(stopped) == ["compat_nb.local.start()"]


@pytest.mark.parametrize("where", ["shell", "python"])
def test_no_advice_outside_ipython_names_a_magic(where: str, server: FakeServer) -> None:
    """Every advice function, for a saved preset and one made in code: no `%translate` in a
    shell or a script, no Python in a shell, no flags in a script."""
    get_store().save(Preset("Box", server.base_url, "test-model"))
    presets = [
        get_store().get("Box"),
        Preset("adhoc", server.base_url, "", api_key_env="HINT_VAR"),
        Preset("keyed", server.base_url, "m", api_key="sk-0123456789abcdef0"),
    ]
    texts = []
    with advice.shown_in(where):
        for name, function in inspect.getmembers(advice, inspect.isfunction):
            if name.startswith("_") or function.__module__ != advice.__name__:
                continue
            params = list(inspect.signature(function).parameters)
            for preset in presets:
                args: dict[str, Any] = {
                    "preset": preset,
                    "name": preset.name,
                    "fields": ["base_url", "model"],
                    "var": "HINT_VAR",
                    "action": "stop",
                    "option": "port",
                    "value": "N",
                }
                if any(p not in args for p in params):
                    continue
                text = function(*[args[p] for p in params])
                if isinstance(text, str):
                    texts.append(f"{name}: {text}")
        texts.append(str(local.status()))
    assert len(texts) > 20
    for text in texts:
        assert "%translate" not in text and "the panel" not in text, text
        if where == "shell":
            assert "get_store" not in text and "compat_nb.local." not in text, text
        else:
            assert not re.search(r"`-[-\w]", text), text


@pytest.mark.parametrize("where", ["python", "shell", "terminal", "kernel"])
def test_a_server_named_by_its_url_is_not_called_a_preset(where: str, server: FakeServer) -> None:
    """`--base-url URL` (base_url= in Python) without a model: no preset by that name exists,
    so the message names the server, and its fix is how that front end passes a model."""
    # In IPython, as the magic makes the call (a Python call there is told Python).
    magic = advice.in_command() if where in ("terminal", "kernel") else contextlib.nullcontext()
    with pytest.raises(CompatError) as info, advice.shown_in(where), magic:
        compat_nb.translate("Hello", to="fr", base_url=server.base_url)
    message = info.value.message
    assert message.startswith(f"The server at {server.base_url} is not usable yet"), message
    assert "Preset" not in message and "127.0.0.1:" + str(server.port) + "'" not in message
    wanted = {"python": "model='MODEL'", "shell": "-m MODEL"}.get(where, "-m MODEL in the cell")
    assert wanted in message and message.count(wanted) == 1, message
    if where == "python":
        (fix,) = [f for f in fixes(message) if f.startswith("model=")]
        model = eval(fix.removeprefix("model=").replace("MODEL", "test-model"))
        done = compat_nb.translate("Hello", to="fr", base_url=server.base_url, model=model)
        assert done.text == "TRANSLATED: Hello"


def test_a_python_call_in_ipython_is_told_its_keywords_and_the_magic_its_flags(
    ip: Any, server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """In one shell with the magic loaded: `%translate notebook` is told `--force`, the same
    refusal of `compat_nb.translate_notebook(...)` typed in a cell `force=True`; a server
    without a model is given `-m MODEL` in the magic and `model='MODEL'` in a call."""
    lesson = tmp_path / "page.md"
    lesson.write_text("Some text.\n", encoding="utf-8")
    lesson.with_name("page.fr.md").write_text("precious", encoding="utf-8")
    get_store().save(Preset("Box", server.base_url, "test-model"))
    magic = ip.run_cell(f"%translate notebook {lesson} --to fr -p Box")
    assert "`--force`" in str(magic.error_in_exec), magic.error_in_exec
    ip.user_ns["compat_nb"] = compat_nb
    call = ip.run_cell(f"compat_nb.translate_notebook({str(lesson)!r}, to='fr', preset='Box')")
    message = str(call.error_in_exec)
    assert "`force=True`" in message and "--force" not in message, message
    call = ip.run_cell(f"compat_nb.translate('Hello', to='fr', base_url={server.base_url!r})")
    assert "`model='MODEL'`" in str(call.error_in_exec) and "-m" not in str(call.error_in_exec)
    magic = ip.run_cell(f"%%translate -t fr --base-url {server.base_url}\nHello")
    assert "-m MODEL in the cell" in str(magic.error_in_exec), magic.error_in_exec
    assert lesson.with_name("page.fr.md").read_text(encoding="utf-8") == "precious"


def test_the_bundled_servers_status_and_stop_are_shell_commands_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`python -m compat_nb.local status|stop`, as `%translate local status|stop`: what a
    shell user tries first, and what the shell's messages suggest."""
    with advice.shown_in("shell"):
        suggested = [FIX.findall(advice.local_command(a))[0] for a in ("status", "stop")]
    assert suggested == ["python -m compat_nb.local status", "python -m compat_nb.local stop"]
    for command, said in zip(suggested, ["is not running", "was not running"], strict=True):
        argv = shlex.split(command.replace("python", sys.executable, 1))
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and said in done.stdout, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "compat_nb.local", "restart"], capture_output=True, text=True
    )
    assert wrong.returncode == 2 and "invalid choice: 'restart'" in wrong.stderr


def test_an_unknown_local_command_is_named_in_the_magic(ip: Any) -> None:
    from IPython.core.error import UsageError

    with pytest.raises(
        UsageError, match=re.escape("Unknown local command 'restart'. Usage: %translate local")
    ):
        ip.run_line_magic("translate", "local restart")
    with pytest.raises(UsageError, match="Say what to do with the bundled server"):
        ip.run_line_magic("translate", "local")
