"""Notebook translation as a user starts it: `compat_nb.translate_notebook`, `%translate
notebook …` and `python -m compat_nb notebook …`, with one argument list and live progress
(ipywidgets in a kernel, a rewritten line in a terminal)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..config.bounds import flag_type
from ..work.notebooks import NotebookTranslation, translate_notebooks

__all__ = ["NotebookProgress", "add_arguments", "run_command", "translate_notebook"]

USAGE = "notebook PATH... --to LANG [-p PRESET] [--comments] [--glossary FILE] [-o OUT] [--force]"


class NotebookProgress:
    """Cells and pieces done, per run: two ipywidgets bars in a kernel, a line on stderr in a
    terminal, redrawn at most `rate` times a second."""

    def __init__(self, *, kernel: bool, rate: float = 10.0) -> None:
        self.kernel, self.interval = kernel, 1.0 / rate
        self.left: list[list[int]] = []  # parts left, per document, per cell
        self.pieces = self.done = self.cached = self.cells = self.cells_done = 0
        self.names: list[str] = []
        self._last = 0.0
        self._widgets: Any = None

    def plan(self, plan: list[tuple[str, list[int]]]) -> None:
        self.names = [name for name, _ in plan]
        self.left = [list(parts) for _, parts in plan]
        self.pieces = sum(sum(parts) for _, parts in plan)
        self.cells = sum(sum(1 for n in parts if n) for _, parts in plan)
        if self.kernel:
            import ipywidgets as w
            from IPython.display import display

            bars = [
                w.IntProgress(0, 0, max(n, 1), layout={"width": "16em"})
                for n in (self.cells, self.pieces)
            ]
            self._widgets = (bars, w.HTML())
            display(
                w.VBox(
                    [
                        w.HBox([bars[0], w.Label("cells")]),
                        w.HBox([bars[1], w.Label("pieces")]),
                        self._widgets[1],
                    ]
                )
            )
        self._draw(force=True)

    def piece(self, doc: int, unit: int, cached: bool) -> None:
        self.done += 1
        self.cached += cached
        self.left[doc][unit] -= 1
        self.cells_done += self.left[doc][unit] == 0
        self._draw(force=self.done == self.pieces)

    def line(self) -> str:
        files = self.names[0] if len(self.names) == 1 else f"{len(self.names)} files"
        cached = f" ({self.cached} from the cache)" if self.cached else ""
        return (
            f"Translating {files}: {self.cells_done} / {self.cells} cells, "
            f"{self.done} / {self.pieces} pieces{cached}"
        )

    def _draw(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        if self._widgets is not None:
            bars, label = self._widgets
            bars[0].value, bars[1].value = self.cells_done, self.done
            label.value = self.line()
        elif not self.kernel:
            end = "\n" if self.done >= self.pieces else ""
            sys.stderr.write("\r" + self.line() + end)
            sys.stderr.flush()

    def stop(self) -> None:
        """End an interrupted terminal line."""
        if not self.kernel and self.done < self.pieces:
            sys.stderr.write("\n")


def translate_notebook(
    path: Any,
    to: str | None = None,
    preset: Any = None,
    *,
    progress: bool | None = None,
    **options: Any,
) -> NotebookTranslation:
    """Translate one notebook or .md file; returns its NotebookTranslation (counts, failures,
    tokens, cost in $, seconds).

    `compat_nb.translate_notebook("lesson.ipynb", to="fr", preset="Local")` writes
    lesson.fr.ipynb beside it. Progress shows in a kernel (progress=None) or when
    progress=True. Options: source=, output= (a file or folder), force=True (replace an
    existing output), comments=True (also `#` comments and docstrings), bilingual=True,
    glossary=, concurrency= (requests at once, default 4), chunk_chars= (longest piece sent,
    default 4000), and preset fields (model=, temperature=, ...); all of them are described
    in `compat_nb.work.notebooks.translate_notebooks`. Markdown is cut between CommonMark
    blocks; the result validates with nbformat. Raises ConfigError for bad input (an
    existing output without force, an unknown language) before anything is sent.
    """
    (report,) = translate_many_files([path], to, preset, progress=progress, **options)
    return report


def translate_many_files(
    paths: Sequence[Any], to: str | None, preset: Any, *, progress: bool | None, **options: Any
) -> list[NotebookTranslation]:
    from .display import in_kernel

    kernel = in_kernel()
    bar = NotebookProgress(kernel=kernel) if (kernel if progress is None else progress) else None
    try:
        return translate_notebooks(
            paths,
            to,
            preset,
            on_plan=bar.plan if bar else lambda plan: None,
            on_piece=bar.piece if bar else lambda doc, unit, cached: None,
            **options,
        )
    finally:
        if bar is not None:
            bar.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The notebook command's arguments, the same in a cell and in a shell."""
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help=".ipynb or .md files, folders or globs (docs/**/*.ipynb)",
    )
    parser.add_argument(
        "-t", "--to", metavar="LANG", help="target language: a tag (fr, pt-BR) or a name (French)"
    )
    parser.add_argument(
        "-f",
        "--from",
        dest="source",
        metavar="LANG",
        help="source language (default: the model tells)",
    )
    parser.add_argument("-p", "--preset", metavar="NAME", help="preset (default: the active one)")
    parser.add_argument("-m", "--model", metavar="ID", help="model id, overriding the preset's")
    parser.add_argument(
        "--base-url", metavar="URL", help="an endpoint without a saved preset (needs -m)"
    )
    parser.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the key")
    parser.add_argument("--temperature", type=flag_type("temperature"), metavar="T")
    parser.add_argument("--max-tokens", type=flag_type("max_tokens"), metavar="N")
    parser.add_argument("--timeout", type=flag_type("timeout"), metavar="SECONDS")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="output file (one input) or folder (default: NAME.LANG.ipynb beside it)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    parser.add_argument(
        "--comments",
        action="store_true",
        help="also translate # comments and docstrings (the code's AST is checked)",
    )
    parser.add_argument(
        "--bilingual",
        action="store_true",
        help="keep each Markdown cell, followed by its translation",
    )
    parser.add_argument(
        "--glossary",
        metavar="FILE",
        help="CSV/TSV (source,target) or JSON terms; an empty target means keep as is "
        "(default: the preset's glossary)",
    )
    parser.add_argument(
        "--concurrency",
        type=flag_type("concurrency"),
        default=4,
        metavar="N",
        help="requests at once (1-64, default 4)",
    )
    parser.add_argument(
        "--chunk-chars",
        type=flag_type("chunk_chars"),
        default=4000,
        metavar="N",
        help="longest piece sent at once (20-1000000, default 4000)",
    )


def run_command(
    args: argparse.Namespace, *, default_to: str | None = None, record: bool = True
) -> list[NotebookTranslation]:
    """Run a parsed notebook command; print one summary per file. `record`: rows in the run
    history (`%config TranslateMagics.record_history` in a cell)."""
    overrides = {
        "model": args.model,
        "base_url": args.base_url,
        "api_key_env": args.api_key_env,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "timeout": args.timeout,
    }
    reports = translate_many_files(
        args.paths,
        args.to,
        args.preset,
        progress=None if default_to is not None else True,
        default_to=default_to,
        source=args.source,
        output=args.output,
        force=args.force,
        comments=args.comments,
        bilingual=args.bilingual,
        glossary=args.glossary,
        concurrency=args.concurrency,
        chunk_chars=args.chunk_chars,
        record=record,
        **{k: v for k, v in overrides.items() if v is not None},
    )
    for report in reports:
        print(report.summary())
    return reports
