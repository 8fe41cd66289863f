"""`%%translate` and `%translate <command>`: the magic itself, its flags and `%config` traits.

Thin by design: commands live in commands.py, what a cell does in cells.py.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, kwds, magic_arguments
from traitlets import Bool, Enum, Float, Int, TraitError, Unicode, validate

from ..config import advice
from ..config.bounds import BOUNDS, flag_type
from ..errors import ConfigError
from .helptext import CELL_DESCRIPTION, EXAMPLES, CellHelpFormatter, commands_epilog
from .options import CellOptions, out_name, parse_flags

if TYPE_CHECKING:  # at load only the magic is registered: these modules import httpx
    from ..config.presets import Preset
    from ..work.comparison import Comparison
    from ..work.translation import Translation

__all__ = ["TranslateMagics"]


def _without_comment(line: str) -> str:
    """The line up to a shell comment: an unquoted `#` that starts a word, as `sh` reads it.

    IPython hands a line magic its whole line, comment and all, and the README's examples (like
    any copied from a tutorial) carry comments; a `#` inside a word (`…/v1#x`) or inside quotes
    is kept.
    """
    quote = ""
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _split(line: str) -> list[str]:
    # IPython's own splitter keeps quotes inside values ("LM Studio" arrives quoted).
    try:
        return shlex.split(_without_comment(line))
    except ValueError as exc:
        raise UsageError(f"Could not read the options ({exc}): check the quotes.") from None


def _is_key_flag(arg: str) -> bool:
    """--api-key and its near spellings: refused by name, so the message says why."""
    name = arg.split("=", 1)[0]
    return name.startswith("--api-k") and name != "--api-key-env"


@magics_class
class TranslateMagics(Magics):
    """Translate a cell through an OpenAI-compatible server, streaming the answer."""

    target_language = Unicode(
        "English", help="Language %%translate translates into when neither -t nor the preset says."
    ).tag(config=True)
    source_language = Unicode(
        None,
        allow_none=True,
        help="Source language to name in the prompt; None lets the model tell.",
    ).tag(config=True)
    stream = Bool(
        True, help="Stream the answer as it is generated (--no-stream turns it off)."
    ).tag(config=True)

    @validate("target_language", "source_language")
    def _known_language(self, proposal: Any) -> Any:
        # Refused where it is set: accepted, it would fail every later cell without -t, and
        # that cell's message could not say where the language came from.
        value = proposal["value"]
        if value is not None:
            from ..work.languages import resolve_language

            try:
                resolve_language(value)
            except ConfigError as exc:
                raise TraitError(f"TranslateMagics.{proposal['trait'].name}: {exc}") from None
        return value

    output_format = Enum(
        ["markdown", "text"], "markdown", help="Render the translation as Markdown or plain text."
    ).tag(config=True)
    display_rate = Float(
        20.0,
        min=0.1,
        max=1000.0,
        help="At most this many output updates a second while streaming (0.1-1000).",
    ).tag(config=True)
    record_history = Bool(
        True, help="Record every run (never the key) in the local history database."
    ).tag(config=True)
    chunk_chars = Int(
        4000,
        min=int(BOUNDS["chunk_chars"].low),
        max=int(BOUNDS["chunk_chars"].high),
        help="Cells longer than this are split at paragraph boundaries and translated in pieces.",
    ).tag(config=True)
    concurrency = Int(
        4,
        min=int(BOUNDS["concurrency"].low),
        max=int(BOUNDS["concurrency"].high),
        help="How many pieces of a long text are translated at once (a comparison runs all its "
        "candidates at once, up to 16); --concurrency N overrides it for one cell.",
    ).tag(config=True)

    @magic_arguments()
    @kwds(
        description=f"{CELL_DESCRIPTION}\n\nExamples\n--------\n{EXAMPLES}",
        epilog=commands_epilog(),
        formatter_class=CellHelpFormatter,
    )
    @argument(
        "-t",
        "--to",
        metavar="LANG",
        help="Target language (default: the preset's, else target_language).",
    )
    @argument(
        "-f", "--from", dest="source", metavar="LANG", help="Source language (default: detected)."
    )
    @argument(
        "-p",
        "--preset",
        action="append",
        metavar="NAME",
        help="Preset to use (default: the active one). Repeat to compare.",
    )
    @argument(
        "-m",
        "--model",
        action="append",
        metavar="ID",
        help="Model id, overriding the preset's. Repeat to compare.",
    )
    @argument(
        "--base-url", metavar="URL", help="Call this endpoint without a saved preset (needs -m)."
    )
    @argument("--api-key-env", metavar="VAR", help="Environment variable holding the key.")
    @argument(
        "--temperature",
        type=flag_type("temperature"),
        metavar="T",
        help="Sampling temperature (0-2).",
    )
    @argument("--max-tokens", type=flag_type("max_tokens"), metavar="N", help="Most tokens.")
    @argument(
        "--system", metavar="TEXT", help="Extra instructions appended to the translation prompt."
    )
    @argument(
        "--glossary",
        metavar="FILE",
        help="Glossary (CSV/TSV source,target or JSON) for this cell (default: the preset's).",
    )
    @argument(
        "--timeout", type=flag_type("timeout"), metavar="SECONDS", help="Read timeout (seconds)."
    )
    @argument(
        "--deadline",
        type=flag_type("deadline"),
        metavar="SECONDS",
        help="Most seconds the whole answer may take (default 1800).",
    )
    @argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @argument(
        "-o", "--out", type=out_name, metavar="VAR", help="Store the result in the variable VAR."
    )
    @argument("--format", choices=["markdown", "text"], help="Render as Markdown or plain text.")
    @argument(
        "--runs",
        type=flag_type("runs"),
        default=1,
        metavar="N",
        help="Repeat each comparison candidate N times (1-1000).",
    )
    @argument("--translate-code", action="store_true", help="Translate fenced code blocks too.")
    @argument(
        "--concurrency",
        type=flag_type("concurrency"),
        metavar="N",
        help="Requests at once, pieces or candidates (1-64).",
    )
    @argument(
        "--eval",
        nargs="?",
        const="-",
        metavar="FILE",
        help="Evaluate the candidates on the texts in FILE (.csv/.tsv/.jsonl/.txt), or on the "
        "cell's lines ('source ||| reference'): scores, flags and a leaderboard.",
    )
    @argument("--judge", metavar="PRESET", help="With --eval: a preset that scores each answer.")
    @argument("--refresh", action="store_true", help="With --eval: ask again, ignore the cache.")
    @line_cell_magic
    def translate(self, line: str, cell: str | None = None) -> object:
        # The docstring `%%translate?` shows is built by magic_arguments from helptext.py.
        # Options a message names while the magic runs are its flags; a Python call in the
        # same notebook is told its keywords.
        with advice.in_command():
            return self._run(line, cell)

    def _run(self, line: str, cell: str | None) -> object:
        argv = _split(line)
        if cell is None:
            if not any(a == "--eval" or a.startswith("--eval=") for a in argv):
                from .commands import run_command  # at load only the magic is registered

                return run_command(argv)
            cell = ""
        if any(_is_key_flag(a) for a in argv):
            raise UsageError(
                "A key is never taken as a flag: it would be saved in the notebook. Use "
                "--api-key-env VAR, or save it once in `%translate settings`."
            )
        opts = CellOptions.from_args(parse_flags(self.translate.parser, argv))
        cell = cell.rstrip("\n")  # IPython ends a cell body with newlines the user did not type
        if opts.eval is not None:
            self._evaluate(cell, opts)
            return None
        if not cell.strip():
            raise UsageError("The cell is empty: write the text to translate below %%translate.")
        candidates = self._candidates(opts)
        from .cells import CellFailure, compare_in_cell, translate_in_cell

        result: Translation | Comparison
        if len(candidates) > 1 or opts.runs > 1:
            result = compare_in_cell(self, cell, candidates, opts)
        else:
            try:
                result = translate_in_cell(self, cell, candidates[0], opts)
            except CellFailure as failure:
                if opts.out:
                    self._user_ns[opts.out] = failure.translation
                raise failure.error from None
        if opts.out:
            self._user_ns[opts.out] = result
        return None

    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None
        return self.shell.user_ns

    def _evaluate(self, cell: str, opts: CellOptions) -> None:
        """`%%translate --eval`: the live matrix, then the leaderboard; -o keeps the Evaluation."""
        from .evaluation import evaluate_in_cell

        try:
            result = evaluate_in_cell(self, cell, self._candidates(opts), opts)
        except ConfigError as exc:
            raise UsageError(exc.message) from None
        if opts.out:
            self._user_ns[opts.out] = result

    def _candidates(self, opts: CellOptions) -> list[Preset]:
        """Every preset named × every model named; the preset's own model when none is."""
        from ..work.translation import resolve_preset

        names: list[str | None] = [*opts.presets] or [None]
        models: list[str | None] = [*opts.models] or [None]
        common = opts.preset_overrides()
        try:
            if opts.glossary:  # the flag's file, checked before any request and named as such
                from ..work.glossary import read_glossary

                read_glossary(opts.glossary)
            return [
                resolve_preset(name, model=model, **common) for name in names for model in models
            ]
        except ConfigError as exc:
            raise UsageError(exc.message) from None


# A flag must be spelled out: an abbreviation such as --api-k would silently mean
# --api-key-env, and a typo should be an error rather than a different option.
TranslateMagics.translate.parser.allow_abbrev = False
