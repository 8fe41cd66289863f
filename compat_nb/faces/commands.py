"""`%translate <command>`: presets, the connection test, the panel, history, the local server.

Each command is a function taking its arguments; `run_command` finds it by name. A
ConfigError becomes a UsageError: one message, no traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from IPython.core.error import UsageError

from ..config.bounds import flag_type
from ..config.store import get_store
from ..config.urls import shown_url
from ..errors import ConfigError
from ..work.history import RunHistory, recent
from ..work.table import Table
from . import display, helptext, preset_commands, server_commands
from .helptext import command_parser
from .options import parse_flags

if TYPE_CHECKING:  # the panel imports ipywidgets: only when it is shown
    from .panel import SettingsPanel

__all__ = ["help_text", "run_command"]


def help_text() -> str:
    """The cell form with two examples, then every command that works in this front end."""
    return helptext.help_text(in_notebook=display.in_kernel())


def run_command(argv: list[str]) -> object:
    """Run `%translate ARGV…`; returns what the command shows (a table, a panel) or None."""
    if not argv or argv[0] in ("help", "-h", "--help"):
        print(help_text())
        return None
    command, rest = argv[0], argv[1:]
    handler = _COMMANDS.get(command)
    if handler is None:
        raise UsageError(
            f"Unknown command {command!r}. To translate, use the cell form: %%translate "
            f"on the first line, the text below it.\n\n{help_text()}"
        )
    if command not in _OWN_HELP and any(arg in ("-h", "--help") for arg in rest):
        # Every command answers -h with its usage, rather than taking it for a preset's name.
        print(helptext.command_help(command))
        return None
    try:
        return handler(rest)
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def use(rest: list[str]) -> None:
    if len(rest) != 1:
        raise UsageError('Name one preset: %translate use "LM Studio"')
    preset = get_store().use(rest[0])  # refuses, saying how, a preset that is not usable
    where = shown_url(preset.base_url)
    print(f"%%translate now uses {preset.name!r} ({where}, model {preset.model}).")


def presets(rest: list[str]) -> Table:
    from .tables import preset_table

    return preset_table()


def settings(rest: list[str]) -> SettingsPanel:
    if not display.in_kernel():
        raise UsageError(
            "The settings panel needs a notebook front end (JupyterLab, Notebook, VS Code). "
            "Here the same is done with commands: `%translate new NAME --base-url URL -m MODEL`"
            ", `%translate set NAME field=value`, `%translate key NAME`, `%translate show NAME`"
            ", `%translate delete NAME` (`%translate help` lists them all)."
        )
    from .panel import settings_panel

    return settings_panel(rest[0] if rest else None)


def history(rest: list[str]) -> RunHistory:
    """`%translate history [-n N] [--model M]`."""
    usage = "%translate history [-n N] [--model M]"
    parser = command_parser("%translate history", usage)
    parser.add_argument("-n", type=flag_type("rows"), default=20)
    parser.add_argument("--model")
    try:
        args = parse_flags(parser, rest)
    except UsageError as exc:
        raise UsageError(f"{exc}. Usage: {usage}") from None
    return recent(args.n, args.model)


def local(rest: list[str]) -> None:
    from .. import local as server

    usage = "%translate local start|status|stop [--model PATH] [--port N]"
    if not rest:
        raise UsageError(f"Say what to do with the bundled server: {usage}")
    if rest[0] not in ("start", "status", "stop"):
        raise UsageError(f"Unknown local command {rest[0]!r}. Usage: {usage}")
    if rest[0] == "start":
        parser = command_parser("%translate local start")
        parser.add_argument(
            "--model", metavar="PATH", help="A GGUF file (default: the bundled one)."
        )
        parser.add_argument(
            "--port", type=flag_type("port"), metavar="N", help="Port (default: a free one)."
        )
        opts = parse_flags(parser, rest[1:])
        print(server.start(model=opts.model, port=opts.port))
    elif rest[0] == "status":
        print(server.status())
    else:
        print("Local server stopped." if server.stop() else "Local server was not running.")


def notebook(rest: list[str]) -> object:
    """`%translate notebook PATH… --to LANG …`: the shell command's arguments, in a cell."""
    from .notebook import USAGE, add_arguments, run_command

    parser = command_parser("%translate notebook", f"%translate {USAGE}")
    add_arguments(parser)
    if any(a in ("-h", "--help") for a in rest):
        print(parser.format_help())
        return None
    try:
        args = parse_flags(parser, rest)
    except UsageError as exc:
        raise UsageError(f"{exc}. Usage: %translate {USAGE}") from None
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("TranslateMagics") if shell else None
    run_command(
        args,
        default_to=getattr(magics, "target_language", None),
        record=bool(getattr(magics, "record_history", True)),
    )
    return None


# Commands that describe their own flags on -h.
_OWN_HELP = frozenset({"new", "set", "notebook"})

_COMMANDS: dict[str, Callable[[list[str]], object]] = {
    "use": use,
    "presets": presets,
    "show": preset_commands.show,
    "new": preset_commands.new,
    "set": preset_commands.set_fields,
    "key": preset_commands.key,
    "delete": preset_commands.delete,
    "models": server_commands.models,
    "test": server_commands.test,
    "settings": settings,
    "history": history,
    "local": local,
    "notebook": notebook,
}
