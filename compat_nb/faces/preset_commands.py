"""What the settings panel does, as `%translate` commands that work in any front end.

`new`, `set`, `key`, `delete`, `show` edit presets through the same store the panel writes
(`models` and `test`, which ask a server, are in server_commands.py). A key is only ever
read from a hidden prompt, never from the command line (it would be saved in the notebook).
"""

from __future__ import annotations

import re
import shutil
import sys
import textwrap
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic_arguments import MagicArgumentParser

from ..config import advice
from ..config.bounds import BOUNDS, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT, flag_type, short_repr
from ..config.presets import Preset
from ..config.store import get_store
from ..config.urls import shown_url
from ..errors import ConfigError
from .helptext import command_parser
from .options import parse_flags

__all__ = ["delete", "key", "new", "refuse_keys", "set_fields", "show"]

# Preset fields a command may set: flag -> (field, type). Text fields take "" to clear.
_FIELDS: dict[str, tuple[str, type]] = {
    "--base-url": ("base_url", str),
    "--model": ("model", str),
    "--api-key-env": ("api_key_env", str),
    "--temperature": ("temperature", float),
    "--max-tokens": ("max_tokens", int),
    "--system": ("system_prompt", str),
    "--timeout": ("timeout", float),
    "--deadline": ("deadline", float),
    "--concurrency": ("concurrency", int),
    "--to": ("target_language", str),
    "--input-price": ("input_price", float),
    "--output-price": ("output_price", float),
    "--glossary": ("glossary", str),
}
# `%translate set NAME field=value` spellings: the field's own name, or its flag's.
_ALIASES = {flag[2:].replace("-", "_"): field for flag, (field, _) in _FIELDS.items()}
_ALIASES |= {field: field for field, _ in _FIELDS.values()} | {"system": "system_prompt"}
_TYPES = {field: kind for field, kind in _FIELDS.values()}
# `--api-key sk-…`, `--token=…`, `api_key=sk-…`: a key offered on the command line.
_KEY_WORDS = re.compile(
    r"^(-{1,2}(api[-_]?key|key|token|password|secret)\b|(api[-_]?key|key|token|password|secret)=)",
    re.I,
)

NEW_USAGE = (
    "%translate new NAME --base-url URL -m MODEL [--api-key-env VAR] [--temperature T] "
    "[--max-tokens N] [--system TEXT] [--timeout SECONDS] [--deadline SECONDS] "
    "[--concurrency N] [--to LANG] "
    '[--header "Name: value"]... [--input-price P] [--output-price P] [--glossary FILE] [--use]'
)
SET_USAGE = "%translate set NAME field=value... (or the flags `%translate new -h` lists)"


# What each flag of `new` and `set` means, as `%translate new -h` shows it: (metavar, help).
_FLAG_HELP = {
    "base_url": ("URL", "the API root, usually ending in /v1"),
    "model": ("MODEL", "the model id, as `%translate models NAME` lists them"),
    "api_key_env": ("VAR", "environment variable holding the key (or `%translate key NAME`)"),
    "temperature": ("T", "sampling temperature, 0-2 (default: the server's)"),
    "max_tokens": ("N", "most tokens to generate (default: the server's)"),
    "system_prompt": ("TEXT", "extra instructions appended to the translation prompt"),
    "timeout": ("SECONDS", "read timeout (default 300)"),
    "deadline": ("SECONDS", "most seconds a whole answer may take (default 1800)"),
    "concurrency": ("N", "most requests at once to this server (comparisons, long texts)"),
    "target_language": ("LANG", "language a cell translates into when it gives no -t"),
    "input_price": ("P", "dollars per million input tokens, for the cost figures"),
    "output_price": ("P", "dollars per million output tokens"),
    "glossary": ("FILE", "CSV/TSV (source,target) or JSON terms sent with the texts they occur in"),
}


def _parser(prog: str, usage: str) -> MagicArgumentParser:
    parser = command_parser(prog, usage)
    for flag, (field, kind) in _FIELDS.items():
        names = ("-m", flag) if flag == "--model" else (flag,)
        # Numbers are bounded as they are parsed: --timeout inf is refused naming the flag.
        kind_or_bound = flag_type(field) if field in BOUNDS else kind
        metavar, help_ = _FLAG_HELP[field]
        parser.add_argument(*names, dest=field, type=kind_or_bound, metavar=metavar, help=help_)
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"NAME: VALUE"',
        help="a header sent with every request (repeat; a secret one as ${VAR})",
    )
    parser.add_argument("--use", action="store_true", help="make it the active preset too")
    return parser


def refuse_keys(argv: list[str], name: str) -> None:
    for arg in argv:
        if _KEY_WORDS.match(arg) and not arg.lower().startswith(("--api-key-env", "api_key_env")):
            raise UsageError(
                "A key is never taken on the command line: it would stay in the notebook and "
                f"the shell history. Run `%translate key {advice.magic_name(name)}` and paste "
                "it at the hidden prompt, or name the variable holding it with --api-key-env VAR."
            )


def _parse(argv: list[str], prog: str, usage: str) -> tuple[str, dict[str, Any], Any]:
    """(preset name, fields to change, parsed flags) from `NAME [field=value…] [--flags…]`."""
    if any(arg in ("-h", "--help") for arg in argv):
        raise _Help(_parser(prog, usage).format_help())
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"Name the preset first. Usage: {usage}")
    name, rest = argv[0].strip(), argv[1:]
    refuse_keys(rest, name)
    assignments = [a for a in rest if "=" in a and not a.startswith("-")]
    flags = [a for a in rest if a not in assignments]
    try:
        args = parse_flags(_parser(prog, usage), flags)
    except UsageError as exc:
        raise UsageError(f"{exc}. Usage: {usage}") from None
    changes = {f: getattr(args, f) for f in _TYPES if getattr(args, f) is not None}
    for item in assignments:
        field, _, value = item.partition("=")
        changes[_field(field)] = _value(_field(field), value)
    return name, changes, args


def _known(name: str) -> str:
    """The stored spelling of a preset to change, key, show or delete: a server named for one
    cell has no fields to set, no key to store and nothing to delete, so the message for an
    unknown name does not offer one."""
    return get_store().resolve_name(name, one_off=False)


class _Help(Exception):
    """`-h`: the command prints its flags instead of running."""


def _field(spelled: str) -> str:
    field = _ALIASES.get(spelled.strip().lower().replace("-", "_"))
    if field is None:
        known = ", ".join(sorted({f for f, _ in _FIELDS.values()}))
        raise UsageError(
            f'Unknown field {spelled!r}. Fields: {known}; headers with --header "Name: value".'
        )
    return field


def _value(field: str, text: str) -> Any:
    text = text.strip()
    kind = _TYPES[field]
    if not text:
        return "" if field in ("base_url", "model") else None  # empty clears the field
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
    raise UsageError(f"{field} must be {noun}, not {short_repr(text)}.")


def _headers(preset: Preset, specs: list[str]) -> dict[str, str]:
    headers = dict(preset.headers)
    for spec in specs:
        header, sep, value = spec.partition(":")
        if not sep:
            header, sep, value = spec.partition("=")
        if not sep or not header.strip():
            raise UsageError(
                f'Write a header as "Name: value" (or "Name:" to remove it), not '
                f"{short_repr(spec, limit=60)}."
            )
        if value.strip():
            headers[header.strip()] = value.strip()
        else:
            headers.pop(header.strip(), None)
    return headers


def _report_saved(preset: Preset, verb: str) -> None:
    store = get_store()
    print(f"{verb} {preset.name!r}: {_describe(preset)}.")
    problems = preset.problems()
    if problems:
        print(f"Not usable yet: {'; '.join(problems)}; {preset.fix()}.", file=sys.stderr)
    elif store.active_name != preset.name:
        print(f"Use it with `%translate use {advice.magic_name(preset.name)}` or -p in a cell.")


def _describe(preset: Preset) -> str:
    key = {
        "set": "key saved",
        "env": f"key from ${preset.api_key_env}",
        "env unset": f"key from ${preset.api_key_env} (not set)",
        "none": "no key",
    }[preset.key_status]
    glossary = f", glossary {preset.glossary}" if preset.glossary else ""
    return (
        f"{shown_url(preset.base_url) or 'no Base URL'}, model {preset.model or 'not set'}, "
        f"{key}{glossary}"
    )


def _checked(preset: Preset) -> Preset:
    """The preset, once its target language is one and the glossary it names reads as one:
    either refused before anything is saved (saved, it would fail every cell that uses it)."""
    if preset.target_language:
        from ..work.languages import resolve_language

        try:
            resolve_language(preset.target_language)
        except ConfigError as exc:
            raise ConfigError(f"{exc.message} Nothing was saved.") from None
    if preset.glossary:
        from ..work.glossary import read_glossary

        try:
            read_glossary(preset.glossary)
        except ConfigError as exc:
            raise ConfigError(f"{exc.message} Nothing was saved.") from None
    return preset


def new(argv: list[str]) -> None:
    """`%translate new NAME --base-url URL -m MODEL …`: a preset of one's own."""
    try:
        name, changes, args = _parse(argv, "%translate new", NEW_USAGE)
    except _Help as shown:
        print(shown)
        return
    store = get_store()
    existing = {n.casefold(): n for n in store.names()}.get(name.casefold())
    if existing:
        raise UsageError(
            f"A preset named {existing!r} exists already: change it with "
            f"`%translate set {advice.magic_name(existing)} field=value`, or choose another name."
        )
    preset = _checked(Preset(name, **changes))
    preset = store.save(preset.replace(headers=_headers(preset, args.header)))
    if args.use and preset.usable:
        preset = store.use(preset.name)
    _report_saved(preset, "Saved")
    if args.use and store.active_name == preset.name:
        print(f"%%translate now uses {preset.name!r}.")


def set_fields(argv: list[str]) -> None:
    """`%translate set NAME field=value…`: change a saved (or built-in) preset."""
    try:
        name, changes, args = _parse(argv, "%translate set", SET_USAGE)
    except _Help as shown:
        print(shown)
        return
    store = get_store()
    preset = store.get(_known(name))
    if not changes and not args.header and not args.use:
        raise UsageError(f"Say what to change. Usage: {SET_USAGE}")
    changed = preset.replace(**changes, headers=_headers(preset, args.header))
    if "glossary" in changes or "target_language" in changes:
        _checked(changed)
    saved = store.save(changed) if changed != preset else preset
    if args.use:
        saved = store.use(saved.name)
    _report_saved(saved, "Saved")


def key(argv: list[str]) -> None:
    """`%translate key NAME [--forget]`: store a key typed at a hidden prompt."""
    usage = "%translate key NAME [--forget]"
    if not argv or argv[0].startswith("-"):
        raise UsageError(f"Name the preset whose key to store. Usage: {usage}")
    name, rest = argv[0], argv[1:]
    if rest and rest != ["--forget"]:
        refuse_keys(rest, name)
        raise UsageError(f"Unexpected {' '.join(rest)!r}. Usage: {usage}")
    store = get_store()
    name = _known(name)
    if rest == ["--forget"]:
        had = store.key_hint(name)
        store.forget_key(name)
        print(f"Forgot the saved key for {name!r}." if had else f"No key was saved for {name!r}.")
        return
    secret = _ask_key(name)
    if not secret:
        print("No key entered; nothing changed.")
        return
    saved = store.save_key(name, secret)
    print(
        f"Saved the key for {name!r} ({store.key_hint(name)}) in {store.credentials_path} "
        "(readable by you only). It is sent only to this preset's Base URL."
    )
    if saved.api_key_env:
        print(f"It is sent instead of ${saved.api_key_env}.")


def _ask_key(name: str) -> str:
    import getpass

    prompt = f"API key for {name!r} (typing is hidden; Enter alone cancels): "
    try:
        return getpass.getpass(prompt).strip()
    except (EOFError, KeyboardInterrupt):
        return ""
    except Exception as exc:  # ipykernel's StdinNotImplementedError: no input allowed here
        if type(exc).__name__ != "StdinNotImplementedError":
            raise
        raise UsageError(
            "This front end cannot ask for input here. Open the panel "
            f"(`%translate settings {advice.magic_name(name)}`) and enter the key in API key, "
            "or set an environment variable before starting Jupyter and name it with "
            f"`%translate set {advice.magic_name(name)} api_key_env=VAR`."
        ) from None


def delete(argv: list[str]) -> None:
    """`%translate delete NAME`: remove a preset (a built-in goes back to its defaults)."""
    if len(argv) != 1:
        raise UsageError('Name one preset: %translate delete "My server"')
    store = get_store()
    name = _known(argv[0])
    builtin = store.is_builtin(name)
    if builtin and not store.is_modified(name):
        print(f"{name!r} is built in and unchanged: nothing to delete.")
        return
    store.delete(name)
    print(f"Reset {name!r} to its defaults." if builtin else f"Deleted {name!r}.")


def show(argv: list[str]) -> None:
    """`%translate show [NAME]`: every field of a preset (the key only as set / not set)."""
    store = get_store()
    preset = store.get(_known(argv[0])) if argv else store.active
    hint = store.key_hint(preset.name)
    key_line = {
        "set": f"saved ({hint})" if hint else "given in code",
        "env": f"from ${preset.api_key_env} (set)",
        "env unset": f"from ${preset.api_key_env} (NOT set)",
        "none": "none",
    }[preset.key_status]
    rows = [
        (
            "name",
            preset.name
            + ("  (active for %%translate)" if preset.name == store.active_name else ""),
        ),
        ("base URL", shown_url(preset.base_url) or "(empty)"),
        ("model", preset.model or "(empty)"),
        ("key", key_line),
    ]
    for label, field in (
        ("temperature", "temperature"),
        ("max tokens", "max_tokens"),
        ("system prompt", "system_prompt"),
        ("timeout (s)", "timeout"),
        ("deadline (s)", "deadline"),
        ("concurrency", "concurrency"),
        ("target language", "target_language"),
        ("input $ / 1M tokens", "input_price"),
        ("output $ / 1M tokens", "output_price"),
        ("glossary", "glossary"),
    ):
        value = getattr(preset, field)
        # What applies when the field is unset: only sampling options fall to the server.
        unset = {
            "system_prompt": "none (the translation instruction alone)",
            "timeout": f"the client's ({DEFAULT_READ_TIMEOUT:g})",
            "deadline": f"the client's ({DEFAULT_DEADLINE:g})",
            "concurrency": "the command's",
            "target_language": "the cell's -t, else TranslateMagics.target_language",
            "input_price": "none (no cost figures)",
            "output_price": "none (no cost figures)",
            "glossary": "none",
        }.get(field, "server default")
        rows.append((label, unset if value is None else str(value)))
    for header, value in preset.headers.items():
        rows.append((f"header {header}", value))
    problems = preset.problems()
    rows.append(("usable", "yes" if not problems else f"no: {'; '.join(problems)}"))
    width = max(len(label) for label, _ in rows)
    columns = max(40, shutil.get_terminal_size().columns)
    for label, value in rows:
        lines = textwrap.wrap(value, max(20, columns - width - 2)) or [""]
        print(f"{label.rjust(width)}  {lines[0]}")
        for more in lines[1:]:
            print(" " * (width + 2) + more)
    if problems:
        print(f"To make it usable: {preset.fix()}.")
