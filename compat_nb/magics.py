"""`%%translate` and `%translate <command>`: parse, resolve settings, call the client, display.

Thin by design: presets live in the store, HTTP in the client, rendering in display.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments
from traitlets import Bool, Enum, Float, Int, Unicode

from .errors import CompatError, ConfigError, StreamError

__all__ = ["TranslateMagics"]

_COMMANDS = """\
%translate use NAME            make NAME the preset %%translate uses
%translate presets             list presets (name, base URL, model, key status)
%translate test [NAME]         GET /models: reachable? how many models? latency
%translate settings            the settings panel
%translate history [-n N] [--model M]   recent runs
%translate local start|status|stop [--model PATH] [--port N]   the bundled llama.cpp server"""


def _split(line: str) -> list[str]:
    # IPython's own splitter keeps quotes inside values ("LM Studio" arrives quoted).
    try:
        return shlex.split(line)
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
    output_format = Enum(
        ["markdown", "text"], "markdown", help="Render the translation as Markdown or plain text."
    ).tag(config=True)
    display_rate = Float(
        20.0, help="At most this many output updates a second while streaming."
    ).tag(config=True)
    record_history = Bool(
        True, help="Record every run (never the key) in the local history database."
    ).tag(config=True)
    chunk_chars = Int(
        4000,
        help="Cells longer than this are split at paragraph boundaries and translated in pieces.",
    ).tag(config=True)
    concurrency = Int(
        4,
        help="How many pieces of a long text are translated at once (a comparison runs all its "
        "candidates at once, up to 16); --concurrency N overrides it for one cell.",
    ).tag(config=True)

    @magic_arguments()
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
    @argument("--temperature", type=float, metavar="T", help="Sampling temperature (0-2).")
    @argument("--max-tokens", type=int, metavar="N", help="Most tokens to generate.")
    @argument(
        "--system", metavar="TEXT", help="Extra instructions appended to the translation prompt."
    )
    @argument("--timeout", type=float, metavar="SECONDS", help="Read timeout for this call.")
    @argument("--no-stream", action="store_true", help="Wait for the whole answer.")
    @argument("-o", "--out", metavar="VAR", help="Store the Translation (or Comparison) in VAR.")
    @argument("--format", choices=["markdown", "text"], help="Render as Markdown or plain text.")
    @argument(
        "--runs", type=int, default=1, metavar="N", help="Repeat each comparison candidate N times."
    )
    @argument("--translate-code", action="store_true", help="Translate fenced code blocks too.")
    @argument(
        "--concurrency", type=int, metavar="N", help="Requests at once (pieces or candidates)."
    )
    @line_cell_magic
    def translate(self, line: str, cell: str | None = None) -> Any:
        """Translate the cell, or run a command (see `%translate help`).

        %%translate [-t LANG] [-p NAME] [-m ID] ...
        Text to translate.
        """
        if cell is None:
            return self._command(_split(line))
        argv = _split(line)
        if any(_is_key_flag(a) for a in argv):
            raise UsageError(
                "A key is never taken as a flag: it would be saved in the notebook. Use "
                "--api-key-env VAR, or save it once in `%translate settings`."
            )
        args = self.translate.parser.parse_args(argv)
        cell = cell.rstrip("\n")  # IPython ends a cell body with newlines the user did not type
        if not cell.strip():
            raise UsageError("The cell is empty: write the text to translate below %%translate.")
        if args.runs < 1:
            raise UsageError("--runs must be 1 or more.")
        if args.concurrency is not None and args.concurrency < 1:
            raise UsageError("--concurrency must be 1 or more.")
        candidates = self._candidates(args)
        if len(candidates) > 1 or args.runs > 1:
            from .comparison import compare_in_cell

            result: Any = compare_in_cell(self, cell, candidates, args)
        else:
            result = self._translate_one(cell, candidates[0], args)
        if args.out:
            self._user_ns[args.out] = result
        return None

    @property
    def _user_ns(self) -> dict[str, Any]:
        assert self.shell is not None
        return self.shell.user_ns

    # --- cell ----------------------------------------------------------------------------------

    def _candidates(self, args: Any) -> list[Any]:
        """Every preset named × every model named; the preset's own model when none is."""
        from .translation import resolve_preset

        names = args.preset or [None]
        models = args.model or [None]
        common = {
            "base_url": args.base_url,
            "api_key_env": args.api_key_env,
            "temperature": args.temperature,
            "max_tokens": args.max_tokens,
            "system_prompt": args.system,
            "timeout": args.timeout,
        }
        try:
            return [
                resolve_preset(name, model=model, **common) for name in names for model in models
            ]
        except ConfigError as exc:
            raise UsageError(exc.message) from None

    def _target(self, args: Any, preset: Any) -> str:
        return args.to or preset.target_language or self.target_language

    def _translate_one(self, text: str, preset: Any, args: Any) -> Any:
        from .client import get_client
        from .display import StreamDisplay
        from .translation import Translation, build_messages

        target = self._target(args, preset)
        source = args.source or self.source_language
        if len(text) > self.chunk_chars:
            from .chunking import translate_long_in_cell

            return translate_long_in_cell(self, text, preset, args, target=target, source=source)
        messages = build_messages(text, to=target, source=source, system=preset.system_prompt)
        view = StreamDisplay(format=args.format or self.output_format, rate=self.display_rate)
        view.start()
        client = get_client()
        result = None
        failure: CompatError | None = None
        interrupted = False
        if args.no_stream or not self.stream:
            try:
                result = client.chat(preset, messages)
            except CompatError as exc:
                failure = exc
            except KeyboardInterrupt:
                interrupted = True
        else:
            stream = client.stream(preset, messages)
            try:
                for item in stream:
                    if isinstance(item, str):
                        view.append(item)
                    else:
                        result = item
            except CompatError as exc:
                failure = exc
            except KeyboardInterrupt:
                interrupted = True  # the stream's `with` closed the response
            finally:
                stream.close()
        if result is not None:
            translation = Translation.from_result(
                result,
                source_text=text,
                preset=preset,
                target_language=target,
                source_language=source,
            )
        else:
            partial = failure.partial if isinstance(failure, StreamError) else view.text
            translation = Translation.failed(
                partial,
                source_text=text,
                preset=preset,
                target_language=target,
                source_language=source,
                error=failure.message if failure else None,
                interrupted=interrupted,
            )
        if result is not None or translation.text:
            view.finish(translation.text, translation.footer())
        else:
            view.finish("", None)
        self._record(translation, preset)
        if failure is not None:
            if args.out:
                self._user_ns[args.out] = translation
            raise failure
        if interrupted:
            print("Interrupted: the partial translation above is kept.", file=sys.stderr)
        return translation

    def _record(self, translation: Any, preset: Any) -> None:
        if self.record_history:
            from .runlog import record

            record(translation, preset)

    # --- commands ------------------------------------------------------------------------------

    def _command(self, argv: list[str]) -> Any:
        if not argv or argv[0] in ("help", "-h", "--help"):
            print(_COMMANDS)
            return None
        command, rest = argv[0], argv[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            raise UsageError(
                f"Unknown command {command!r}. To translate, use the cell form: %%translate "
                f"on the first line, the text below it.\n\n{_COMMANDS}"
            )
        try:
            return handler(rest)
        except ConfigError as exc:
            raise UsageError(exc.message) from None

    def _cmd_use(self, rest: list[str]) -> None:
        from .store import get_store

        if len(rest) != 1:
            raise UsageError('Name one preset: %translate use "LM Studio"')
        preset = get_store().use(rest[0])
        print(
            f"Using {preset.name!r} for %%translate ({preset.base_url or 'no Base URL'}, "
            f"model {preset.model or 'not set'})."
        )
        for problem in preset.problems():
            fix = preset.hint or "fill it in with %translate settings"
            print(f"Not usable yet: {problem}. {fix[0].upper()}{fix[1:]}.", file=sys.stderr)

    def _cmd_presets(self, rest: list[str]) -> Any:
        from .tables import preset_table

        return preset_table()

    def _cmd_test(self, rest: list[str]) -> None:
        from .client import get_client
        from .store import get_store

        store = get_store()
        preset = store.get(rest[0]) if rest else store.active
        report = get_client().test_connection(preset)
        print(f"{preset.name}: {report.message}")
        if report.ok and report.model_ids:
            shown = ", ".join(report.model_ids[:20])
            more = f" (+{report.model_count - 20} more)" if report.model_count > 20 else ""
            print(f"Models: {shown}{more}")

    def _cmd_settings(self, rest: list[str]) -> Any:
        from .display import in_kernel

        if not in_kernel():
            raise UsageError(
                "The settings panel needs a notebook front end (JupyterLab, Notebook, VS Code). "
                "Here, save presets from Python: compat_nb.get_store().save(compat_nb.Preset("
                "'Mine', base_url=..., model=...)), then `%translate use Mine`."
            )
        from .panel import settings_panel

        return settings_panel(rest[0] if rest else None)

    def _cmd_history(self, rest: list[str]) -> Any:
        from .runlog import history_in_cell

        return history_in_cell(rest)

    def _cmd_local(self, rest: list[str]) -> None:
        from . import local

        if not rest or rest[0] not in ("start", "status", "stop"):
            raise UsageError("%translate local start|status|stop [--model PATH] [--port N]")
        if rest[0] == "start":
            opts = self._local_options(rest[1:])
            print(local.start(model=opts.get("model"), port=opts.get("port")))
        elif rest[0] == "status":
            print(local.status())
        else:
            print("Local server stopped." if local.stop() else "Local server was not running.")

    @staticmethod
    def _local_options(rest: list[str]) -> dict[str, Any]:
        # IPython's parser raises UsageError (one message) where argparse would print usage.
        parser = MagicArgumentParser(prog="%translate local start")
        parser.allow_abbrev = False
        parser.add_argument(
            "--model", metavar="PATH", help="A GGUF file (default: the bundled one)."
        )
        parser.add_argument("--port", type=int, metavar="N", help="Port (default: a free one).")
        return vars(parser.parse_args(rest))


# A flag must be spelled out: an abbreviation such as --api-k would silently mean
# --api-key-env, and a typo should be an error rather than a different option.
TranslateMagics.translate.parser.allow_abbrev = False
