"""`python -m compat_nb` (also `compat-nb`): compat_nb's commands from a shell.

    python -m compat_nb notebook lesson.ipynb --to de -p Ollama
    python -m compat_nb notebook docs/*.md --to ja

A failure prints one line naming the cause and the fix (exit status 2), never a traceback;
Ctrl-C keeps the finished pieces in the cache (exit status 130).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    from .faces.notebook import add_arguments

    parser = argparse.ArgumentParser(
        prog="compat-nb",
        description="Translate notebooks and Markdown files through any OpenAI-compatible server.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    notebook = commands.add_parser(
        "notebook",
        help="translate .ipynb and .md files (code untouched, structure kept, resumable)",
        description="Translate notebooks and Markdown files; writes NAME.LANG.ipynb beside each.",
    )
    add_arguments(notebook)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status: 0 done, 1 some pieces failed, 2 bad input, 130 Ctrl-C."""
    from .errors import CompatError

    args = _parser().parse_args(argv)
    from .config.advice import shown_in
    from .faces.notebook import run_command

    try:
        with shown_in("shell"):  # every fix a message gives is a flag or a shell command
            reports = run_command(args)
    except CompatError as exc:
        print(f"compat-nb: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nInterrupted: nothing was written; the finished pieces are cached, so the same "
            "command resumes where this one stopped.",
            file=sys.stderr,
        )
        return 130
    return 1 if any(r.failed for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
