"""What a message tells the user to do, in the words of the front end it is shown in.

A fix is only useful if it works where it is read: the settings panel says "enter it in API
Key above", a notebook may point to the panel, terminal IPython gets `%translate` commands
that work there, and plain Python gets Python. Every message that suggests an action asks
here, so no message sends a terminal user to the panel or a `--base-url` cell's user to a
preset that does not exist.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .local_state import LOCAL_PRESET_NAME, running_endpoint

if TYPE_CHECKING:
    from collections.abc import Callable

    from .presets import Preset

__all__ = [
    "FRONT_ENDS",
    "add_preset",
    "change_glossary",
    "choose_preset",
    "edit_fields",
    "flag",
    "front_end",
    "in_command",
    "key_rejected",
    "list_models",
    "local_command",
    "local_option",
    "magic_name",
    "make_usable",
    "one_off",
    "options_in_python",
    "server_at",
    "set_variable",
    "shown_in",
    "start_local",
    "store_key",
    "use_local",
]

FRONT_ENDS = ("panel", "kernel", "terminal", "python", "shell")

# Set by the settings panel around what it runs (its test thread too), so the messages it
# shows speak of its own fields rather than of commands.
_shown_in: ContextVar[str | None] = ContextVar("compat_nb_shown_in", default=None)
# Set while the `%translate` magic runs (in_command): options are then its flags.
_in_command: ContextVar[bool] = ContextVar("compat_nb_in_command", default=False)

# Preset fields as the panel labels them, and as `%translate set NAME field=…` spells them.
_LABELS = {"base_url": "Base URL", "model": "Model name", "api_key_env": "environment variable"}
_EXAMPLES = {"base_url": "URL", "model": "MODEL", "api_key_env": "VAR"}
# The same fields as the command line's flags: there, a run takes them in place of the preset's.
_SHELL_FLAGS = {
    "base_url": "--base-url URL",
    "model": "-m MODEL",
    "api_key_env": "--api-key-env VAR",
}


def front_end() -> str:
    """'panel', 'kernel' (a Jupyter kernel), 'terminal' (terminal IPython), 'python' or
    'shell'.

    'python' means no IPython shell with the `%translate` magic loaded, where only Python
    advice works. 'shell' is the command line (`python -m compat_nb`, `python -m
    compat_nb.local`), which says so with `shown_in`: its advice is flags and shell commands.
    IPython is looked up, never imported: a plain script must not pay for it.
    """
    shown = _shown_in.get()
    if shown:
        return shown
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return "python"
    magics = getattr(getattr(shell, "magics_manager", None), "magics", {})
    if "translate" not in magics.get("line", {}):
        return "python"
    return "kernel" if getattr(shell, "kernel", None) is not None else "terminal"


@contextlib.contextmanager
def shown_in(where: str) -> Iterator[None]:
    """Messages built inside this block are for `where` (one of FRONT_ENDS)."""
    if where not in FRONT_ENDS:
        raise ValueError(f"front end must be one of {FRONT_ENDS}, not {where!r}")
    token = _shown_in.set(where)
    try:
        yield
    finally:
        _shown_in.reset(token)


def magic_name(name: str) -> str:
    """A preset name as `%translate` reads it: quoted when it holds spaces or quotes."""
    if name and re.fullmatch(r"[\w.:@+/-]+", name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def in_command() -> Iterator[None]:
    """The `%translate` magic runs inside this block: options it names are its flags. Outside
    it, a call typed in the same notebook (`translate_notebook(...)`) takes Python keywords."""
    token = _in_command.set(True)
    try:
        yield
    finally:
        _in_command.reset(token)


def options_in_python() -> bool:
    """True when the options of the call being made are Python keywords: in a script, and in
    IPython outside the magic (a Python call in a cell); the panel and the shell have their
    own words."""
    where = front_end()
    return where == "python" or (where in ("kernel", "terminal") and not _in_command.get())


def flag(command_line: str, python: str) -> str:
    """An option as the call being made spells it: `--force` on a command line or in the
    magic, `force=True` in Python (also in a notebook's cell)."""
    return f"`{python}`" if options_in_python() else f"`{command_line}`"


def _cmd(text: str) -> str:
    return f"`%translate {text}`"


def _py(name: str) -> str:
    return repr(name)


def add_preset() -> str:
    """How to add a preset of one's own (a clause: "add one with …")."""
    where = front_end()
    if where == "panel":
        return "choose “New preset…” in the Preset list"
    if where == "shell":
        return "name any server with `--base-url URL -m MODEL` (`--api-key-env VAR` for a key)"
    if where == "python":
        return (
            "save one with `compat_nb.get_store().save(compat_nb.Preset('NAME', "
            "base_url='URL', model='MODEL'))`"
        )
    command = _cmd("new NAME --base-url URL -m MODEL")
    if where == "kernel":
        return f"add one with {command} (or in the panel: {_cmd('settings')})"
    return f"add one with {command}"


def one_off() -> str:
    """How to reach a server without saving a preset, as a clause after add_preset()'s
    ("…, or …"); empty where add_preset() already says it."""
    where = front_end()
    if where in ("panel", "shell"):
        return ""
    if where == "python":
        return (
            ", or pass one for a single call: "
            "`preset=compat_nb.Preset('NAME', base_url='URL', model='MODEL')`"
        )
    return ", or pass `--base-url URL -m MODEL` for one cell"


def choose_preset() -> str:
    """How to make a preset the one %%translate uses."""
    where = front_end()
    if where == "panel":
        return "choose it above and click Use for %%translate"
    if where == "python":
        return "pick one with `compat_nb.get_store().use('NAME')`"
    if where == "shell":
        return "name one with `-p NAME`"
    return f"pick one with {_cmd('use NAME')}"


def edit_fields(name: str, fields: list[str]) -> str:
    """How to fill in preset fields (`base_url`, `model`, `api_key_env`)."""
    where = front_end()
    if where == "panel":
        return "fill in " + " and ".join(_LABELS.get(f, f) for f in fields) + " above"
    if where == "python":
        changes = ", ".join(f"{f}='{_EXAMPLES.get(f, 'VALUE')}'" for f in fields)
        return (
            f"save it with `store.save(store.get({_py(name)}).replace({changes}))` "
            "(store = compat_nb.get_store())"
        )
    if where == "shell":
        return "pass `" + " ".join(_SHELL_FLAGS.get(f, f"--{f} VALUE") for f in fields) + "`"
    changes = " ".join(f"{f}={_EXAMPLES.get(f, 'VALUE')}" for f in fields)
    command = _cmd(f"set {magic_name(name)} {changes}")
    if where == "kernel":
        return f"set it with {command} (or in the panel: {_cmd('settings ' + magic_name(name))})"
    return f"set it with {command}"


def change_glossary(preset: Preset) -> str:
    """How to point a preset at another glossary file, or at none."""
    where, name = front_end(), preset.name
    if where == "panel":
        return "change or empty Glossary file under Advanced"
    if where == "shell":
        return "pass `--glossary FILE`"
    if not _is_saved(preset):
        return "pass glossary='FILE' (or glossary=None)"
    if where == "python":
        return (
            "pass glossary='FILE' (or glossary=None), or save it in the preset with "
            f"`store.save(store.get({_py(name)}).replace(glossary='FILE'))` "
            "(store = compat_nb.get_store())"
        )
    return f"set it with {_cmd(f'set {magic_name(name)} glossary=FILE')} (`glossary=` for none)"


def store_key(name: str) -> str:
    """How to store a key for a saved preset, in this front end."""
    where = front_end()
    if where == "panel":
        return "enter it in API key above"
    if where == "python":
        return (
            f"save it with `store.save(store.get({_py(name)}).replace(api_key=getpass.getpass()))`"
            " (store = compat_nb.get_store())"
        )
    if where == "shell":
        return "put it in an environment variable and pass `--api-key-env VAR`"
    return f"store it with {_cmd('key ' + magic_name(name))} (it asks without echoing)"


def set_variable(var: str, name: str | None = None) -> str:
    """How to set an environment variable for this front end; never `%env`, which would
    write the key into the notebook."""
    where = front_end()
    if where == "shell":  # the next command reads it: nothing to restart
        return f"set ${var} first (`export {var}=…`)"
    started = {"terminal": "IPython", "python": "Python"}.get(where, "Jupyter")
    text = f"set ${var} in the shell before starting {started} (`export {var}=…`)"
    if where in ("kernel", "panel"):
        text += " and restart the kernel"
    if name is not None:
        text += ", or " + store_key(name).replace("enter it", "enter a key")
    return text


def list_models(preset: Preset) -> str:
    """How to list the models of the server this preset reaches."""
    where = front_end()
    if where == "panel":
        return "Test connection lists them"
    if where == "python":
        return "`compat_nb.get_client().test_connection(preset).model_ids` lists them"
    if where == "shell":
        return f"`{_curl_models(preset)}` lists them"
    if _is_saved(preset):
        return f"{_cmd('models ' + magic_name(preset.name))} lists them"
    # A masked query value would make the command fail: name the URL instead of showing it.
    url = "URL (the Base URL, with its query string)" if "?" in preset.base_url else None
    flags = f"--base-url {url or preset.base_url}"
    if preset.api_key_env:
        flags += f" --api-key-env {preset.api_key_env}"
    return f"{_cmd('models ' + flags)} lists them"


def _curl_models(preset: Preset) -> str:
    from .urls import join_url

    # A masked query value would make the command fail: name the URL instead of showing it.
    url = "URL/models" if "?" in preset.base_url else join_url(preset.base_url, "models")
    if preset.api_key_env:
        return f'curl -H "Authorization: Bearer ${preset.api_key_env}" {url}'
    if preset.key_status == "set":
        return f'curl -H "Authorization: Bearer KEY" {url}'
    return f"curl {url}"


def local_command(action: str) -> str:
    """The bundled server's `action` (start, status, stop) as this front end runs it."""
    where = front_end()
    if where == "python":
        return f"`compat_nb.local.{action}()`"
    if where == "shell":
        if action == "start":
            return "`python -m compat_nb.local` (in a terminal of its own)"
        return f"`python -m compat_nb.local {action}`"
    return _cmd(f"local {action}")


def local_option(option: str, value: str) -> str:
    """An option of starting the bundled server (port N, model PATH) as this front end
    spells it: a keyword in Python, a flag elsewhere."""
    if front_end() == "python":
        return f"`{option}={value}`"
    return f"`--{option} {value}`"


def use_local() -> str:
    """How to send translations to the running bundled server."""
    where = front_end()
    if where == "python":
        return '`preset="Local"`'
    if where == "shell":
        return (
            "`-p Local` (in a cell, or in `python -m compat_nb notebook`), "
            '`preset="Local"` from Python, or its Base URL from any OpenAI client'
        )
    return "`-p Local`"


def start_local() -> str:
    """How to start the bundled llama.cpp server."""
    return f"start it with {local_command('start')}"


def make_usable(preset: Preset) -> str:
    """What to do about everything `preset.problems()` lists, as one clause."""
    where, saved = front_end(), _is_saved(preset)
    parts = [preset.hint] if preset.hint else []
    missing = [f for f in ("base_url", "model") if not getattr(preset, f)]
    if preset.name == LOCAL_PRESET_NAME and not preset.base_url and saved:
        parts.append(start_local())
        missing = []
    elif "model" in missing and preset.base_url and where != "python":
        parts.append(list_models(preset).replace(" lists them", " lists the model ids"))
    if missing and (saved or where == "panel"):
        parts.append(edit_fields(preset.name, missing))
    elif missing and options_in_python():
        parts.append("pass " + " and ".join(f"`{f}='{_EXAMPLES[f]}'`" for f in missing))
    elif missing and where == "shell":
        parts.append(edit_fields(preset.name, missing))
    elif missing:
        flags = {"base_url": "--base-url URL", "model": "-m MODEL"}
        parts.append("pass " + " ".join(flags[f] for f in missing) + " in the cell")
    if preset.key_status == "env unset" and preset.api_key_env:
        parts.append(set_variable(preset.api_key_env, preset.name if saved else None))
    return "; ".join(parts) or "check the preset's fields"


def key_rejected(preset: Preset) -> str:
    """Which key the rejected request carried (typed, saved, `$VAR`, none) and what to do."""
    where, saved, name = front_end(), _is_saved(preset), preset.name
    var = preset.api_key_env
    key = preset.api_key or ""
    tail = f" (…{key[-4:]})" if len(key) >= 12 else ""
    status = preset.key_status
    if status == "set" and preset.key_source == "typed":
        sent, fix = f"the key typed in API key{tail}", "enter the right one in API key above"
    elif status == "set" and preset.key_source == "saved":
        sent = f"the key saved for {name!r}{tail}"
        fix = store_key(name).replace("store it", "replace it", 1)
        if where == "panel":
            fix = "enter the right one in API key above and Save"
    elif status == "set":
        sent, fix = f"the key given in code{tail}", "pass the right one (api_key=...)"
    elif status == "env":
        sent = f"the key in ${var}"
        fix = "put the right key in it: " + set_variable(str(var), name if saved else None)
    elif status == "env unset":
        sent = f"no key: ${var} is not set"
        fix = set_variable(str(var), name if saved else None)
    else:
        sent = "no key"
        if saved or where == "panel":
            fix = store_key(name)
        elif options_in_python():
            fix = "pass api_key_env='VAR' naming the variable that holds it"
        else:
            fix = "pass --api-key-env VAR naming the variable that holds it"
    return f"The request sent {sent}; {fix}."


# Servers known by their documented default port: what to start when nothing answers there.
_BY_PORT = {1234: "LM Studio's server", 11434: "Ollama (`ollama serve`)"}


def server_at(preset: Preset) -> str:
    """The server a connection error asks about, told by the URL rather than the preset's
    name: a preset named "LM Studio" that points at port 8000 is not LM Studio."""
    from urllib.parse import urlsplit

    if preset.name == LOCAL_PRESET_NAME:
        running = None
        try:
            running = running_endpoint()
        except Exception:  # an unreadable state file: then it is not known to run
            running = None
        if running is None or running[0] == preset.base_url:
            return f"the bundled server ({start_local()})"
    try:
        port = urlsplit(preset.base_url).port
    except ValueError:
        port = None
    return _BY_PORT.get(port or 0, "the server")


# The store answers "is this preset saved under its name, at this URL?"; it registers itself
# here when imported (this module may not import it: the store imports this one). Before
# then, nothing can have come from the store.
saved_check: Callable[[Preset], bool] | None = None


def _is_saved(preset: Preset) -> bool:
    """True when `%translate … NAME` would reach this very server: a `--base-url` cell or a
    Preset made in code has a name the store does not know."""
    try:
        return bool(saved_check and saved_check(preset))
    except Exception:  # an unreadable presets file: not known to be saved
        return False
