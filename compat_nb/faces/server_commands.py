"""`%translate models` and `%translate test`: ask any server, saved as a preset or not, for
its model list, and say whether it answers and how fast.
"""

from __future__ import annotations

import shutil
from typing import Any

from IPython.core.error import UsageError

from ..config.presets import Preset
from ..config.store import get_store
from ..config.urls import host_of
from ..errors import CompatError, ConfigError
from .completion import remember_models
from .helptext import command_parser
from .options import parse_flags
from .preset_commands import refuse_keys

__all__ = ["models", "test"]

MODELS_SHOWN = 2000  # ids `%translate models` prints; a catalogue can hold millions
ID_CHARS = 200  # an id longer than this is cut (a server may send one of megabytes)


def _target(argv: list[str], prog: str) -> Preset:
    """The preset a models/test command asks: NAME, the active one, or `--base-url URL`."""
    usage = f"{prog} [NAME | --base-url URL [--api-key-env VAR]]"
    parser = command_parser(prog, usage)
    parser.add_argument("name", nargs="?")
    parser.add_argument("--base-url", metavar="URL")
    parser.add_argument("--api-key-env", metavar="VAR")
    refuse_keys(argv, argv[0] if argv and not argv[0].startswith("-") else "NAME")
    try:
        args = parse_flags(parser, argv)
    except UsageError as exc:
        raise UsageError(f"{exc}. Usage: {usage}") from None
    store = get_store()
    if args.base_url:
        if args.name:
            raise UsageError(f"Name a preset or give --base-url, not both. Usage: {usage}")
        preset = Preset("", base_url=args.base_url, api_key_env=args.api_key_env)
        return preset.replace(name=host_of(preset.base_url))
    preset = store.get(args.name) if args.name else store.active
    if args.api_key_env:
        preset = preset.replace(api_key_env=args.api_key_env)
    if not preset.base_url:
        raise ConfigError(f"Preset {preset.name!r} has no Base URL; {preset.fix()}.")
    return preset


def _report(preset: Preset, *, fail: bool) -> Any:
    from ..wire.client import get_client

    report = get_client().test_connection(preset)
    if report.ok:
        remember_models(preset.name, report.model_ids)
    elif fail:
        # The request's own error, as a translation would raise it: one wording per failure.
        raise report.failure or CompatError(report.message)
    return report


def models(argv: list[str]) -> None:
    """`%translate models [NAME | --base-url URL [--api-key-env VAR]]`: the live model list."""
    preset = _target(argv, "%translate models")
    report = _report(preset, fail=True)
    print(f"{preset.name}: {report.message}")
    if not report.model_ids:
        return
    # A hostile or vast catalogue prints a bounded list: so many ids, each so long.
    ids = [_short(i) for i in report.model_ids[:MODELS_SHOWN]]
    width = max(len(i) for i in ids) + 2
    per_line = max(1, shutil.get_terminal_size().columns // width)
    for start in range(0, len(ids), per_line):
        print("".join(i.ljust(width) for i in ids[start : start + per_line]).rstrip())
    if report.model_count > MODELS_SHOWN:
        more = f"… and {report.model_count - MODELS_SHOWN:,} more"
        if preset.name in get_store().names():  # a --base-url line has no name to look up
            store = f"compat_nb.get_store().get({preset.name!r})"
            more += f"; all of them: `compat_nb.get_client().test_connection({store}).model_ids`"
        print(more + ".")


def test(argv: list[str]) -> None:
    """`%translate test [NAME | --base-url URL]`: reachable? how many models? latency."""
    preset = _target(argv, "%translate test")
    report = _report(preset, fail=False)
    print(f"{preset.name}: {report.message}")
    if report.model_ids:
        shown = ", ".join(_short(i) for i in report.model_ids[:20])
        more = f" (+{report.model_count - 20} more)" if report.model_count > 20 else ""
        print(f"Models: {shown}{more}")


def _short(model_id: str) -> str:
    return model_id if len(model_id) <= ID_CHARS else model_id[: ID_CHARS - 1] + "…"
