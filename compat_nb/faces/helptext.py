"""The words of `%translate help` and `%%translate?`: one source, so the two always agree.

Imported at `%load_ext` (the magic's docstring is built from it), so it holds only strings
and an argparse formatter.
"""

from __future__ import annotations

import argparse
from textwrap import dedent

from IPython.core.magic_arguments import MagicArgumentParser

__all__ = [
    "CELL_DESCRIPTION",
    "COMMANDS_HELP",
    "EXAMPLES",
    "CellHelpFormatter",
    "command_help",
    "command_parser",
    "commands_epilog",
    "help_text",
]

CELL_DESCRIPTION = """\
Translate the cell below the line through an OpenAI-compatible server, streaming the answer
into the cell (Markdown by default), then a footer with its timings and tokens. -p and -m
repeat: every preset named runs with every model named, side by side, one column each.
Without a cell, %translate COMMAND runs one of the commands listed at the end."""

# Indented four spaces in both texts, as IPython's own magics show theirs.
EXAMPLES = """\
    %%translate -t French
    The weather is nice today.

    %%translate -t German -p Ollama -p "LM Studio" --runs 3
    Compare presets side by side on your own text."""

COMMANDS_HELP = """\
%translate help                         this help
%translate use NAME                     make NAME the preset %%translate uses
%translate presets                      list presets (name, base URL, model, key, usable)
%translate show [NAME]                  every field of a preset (the key only as set or not)
%translate new NAME --base-url URL -m MODEL [--api-key-env VAR] [--temperature T] [--use]
                                        add a preset of your own (`%translate new -h`: all flags)
%translate set NAME field=value...      change fields: base_url, model, api_key_env, temperature,
                                        max_tokens, system_prompt, timeout, deadline, concurrency…
%translate key NAME [--forget]          store a key (asked at a hidden prompt), or forget it
%translate delete NAME                  delete a preset (a built-in returns to its defaults)
%translate models [NAME | --base-url URL [--api-key-env VAR]]   a server's model ids
%translate test [NAME | --base-url URL [--api-key-env VAR]]     reachable? models? latency
%translate settings [NAME]              the settings panel (in a notebook)
%translate history [-n N] [--model M]   recent runs
%translate local start|status|stop [--model PATH] [--port N]   the bundled llama.cpp server
%translate notebook PATH... --to LANG [--comments] [--glossary FILE] [-o OUT] [--force]
                                        translate notebooks and .md files (`%translate notebook -h`)
%translate --eval FILE -p A -p B -t LANG
                                        score candidates on a file of texts (no cell body)"""

_PANEL_COMMAND = "%translate settings"


def _commands(in_notebook: bool) -> str:
    lines = COMMANDS_HELP.splitlines()
    if not in_notebook:  # the panel needs a notebook: a terminal is never sent there
        lines = [line for line in lines if not line.startswith(_PANEL_COMMAND)]
    return "\n".join(lines)


def help_text(*, in_notebook: bool) -> str:
    """`%translate help`: the cell form with two examples, then every command that works in
    this front end (`in_notebook=False` leaves out the panel)."""
    return (
        "%%translate [-t LANG] [-p NAME]... [-m ID]... [options]     translate the cell below "
        f"the line\n\n{EXAMPLES}\n\n%%translate? lists every option.\n\n"
        f"Commands:\n{_commands(in_notebook)}"
    )


def command_help(command: str) -> str:
    """`%translate COMMAND -h` for a command without flags of its own to describe: its lines
    of the command list, so the two never disagree."""
    entries: list[list[str]] = []
    for line in COMMANDS_HELP.splitlines():
        if line.startswith("%translate "):
            entries.append([line])
        else:
            entries[-1].append(line)
    for entry in entries:
        words = entry[0].split()
        if len(words) > 1 and words[1] == command:
            return "Usage:\n" + "\n".join(entry) + "\n\n`%translate help` lists every command."
    return help_text(in_notebook=True)


def commands_epilog() -> str:
    """The end of `%%translate?`: the same command list as `%translate help`."""
    return f"Commands (a line with no cell below it):\n{_commands(True)}"


class CellHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`%%translate?` as IPython's own cell magics read: the usage line under the cell
    magic's own name, the description and examples, the options, then the commands.

    IPython's `MagicHelpFormatter` writes the usage as a reST literal block (`::` then
    `%translate …`), which reads as a stray `::` and names the line magic; this one writes
    `%%translate …`, wraps at a fixed width so the text does not depend on the terminal the
    module was imported in, and keeps argparse's plain `--format {markdown,text}`.
    """

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=26, width=90)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return super()._fill_text(dedent(text), width, indent)

    def add_usage(
        self,
        usage: str | None,
        actions: object,
        groups: object,
        prefix: str | None = None,
    ) -> None:
        super().add_usage(usage, actions, groups, prefix="%%")  # type: ignore[arg-type]


class CommandHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`%translate COMMAND -h`: "Usage: %translate COMMAND …", then its flags, each help
    shown as written (argparse would read a `%translate` in it as a %-format)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=90)

    def _expand_help(self, action: argparse.Action) -> str:
        return str(action.help or "")

    def add_usage(
        self,
        usage: str | None,
        actions: object,
        groups: object,
        prefix: str | None = None,
    ) -> None:
        super().add_usage(usage, actions, groups, prefix="Usage: ")  # type: ignore[arg-type]


def command_parser(prog: str, usage: str | None = None) -> MagicArgumentParser:
    """The parser of one `%translate` command: a bad flag raises UsageError (one message)
    where argparse would print and exit, and a flag must be spelled out (--mod is a typo,
    not --model). `usage` is shown as written: argparse reads it as a %-format, in which
    `%translate` would be an error."""
    parser = MagicArgumentParser(
        prog=prog,
        usage=usage.replace("%", "%%") if usage else None,
        formatter_class=CommandHelpFormatter,
    )
    parser.allow_abbrev = False
    return parser
