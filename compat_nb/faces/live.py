"""Concurrent work seen live: run it from sync code, show comparison columns and piece progress.

In a kernel each view is one display handle updated at most `rate` times a second, with a
bounded amount of text per update; in a terminal it prints lines instead. `show` is the one
place a handle is made (tests replace it).
"""

from __future__ import annotations

import asyncio
import html
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from ..work.markup import tone
from ..work.table import Column, grid_html, plain_columns

__all__ = ["LiveGrid", "Progress", "Redrawn", "show"]

T = TypeVar("T")


def show(bundle: dict[str, str]) -> Any:
    """A new display handle showing bundle."""
    from IPython.display import display

    return display(bundle, raw=True, display_id=True)


class Redrawn:
    """A view in one display handle that work marks `_dirty` as it arrives; `tick`, run
    beside the work, redraws it from `_bundle()` at most once per `interval` seconds."""

    kernel: bool
    interval: float
    updates: int  # redraws sent to the front end
    _dirty: bool
    _handle: Any

    def _bundle(self) -> dict[str, str]:
        raise NotImplementedError

    def flush(self) -> None:
        """Redraw now if anything changed since the last redraw (kernel only)."""
        if self.kernel and self._dirty and self._handle is not None:
            self._dirty = False
            self.updates += 1
            self._handle.update(self._bundle(), raw=True)

    async def tick(self) -> None:
        """Redraw every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.flush()


class Progress:
    """Pieces done / total: an HTML bar in a display handle, or a rewritten line on stderr."""

    def __init__(self, *, kernel: bool, rate: float = 20.0, label: str = "Translating") -> None:
        self.kernel, self.label = kernel, label
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.done = self.total = self.cached = 0
        self.handle: Any = None
        self._last = 0.0

    def start(self, total: int) -> None:
        self.total = total
        if total:
            self._show(force=True)

    def step(self, cached: bool = False) -> None:
        self.done += 1
        self.cached += cached
        self._show(force=self.done >= self.total)

    def _show(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        line = f"{self.label}: {self.done} / {self.total} pieces"
        if not self.kernel:
            sys.stderr.write("\r" + line + ("\n" if self.done >= self.total else ""))
            sys.stderr.flush()
            return
        # The bar in the theme's accent colour; the count as secondary text beside it.
        accent = "accent-color:var(--jp-brand-color1, currentColor)"
        bar = f"<progress value='{self.done}' max='{self.total}' style='width:16em;{accent}'>"
        html_ = f"<div>{bar}</progress> {tone(html.escape(line), 'muted')}</div>"
        self._put({"text/html": html_, "text/plain": line})

    def _put(self, bundle: dict[str, str]) -> None:
        if self.handle is None:
            self.handle = show(bundle)
        else:
            self.handle.update(bundle, raw=True)

    def finish(self, bundle: dict[str, str]) -> None:
        """Replace the bar with the result (kernel), or print the result's text (terminal)."""
        if self.kernel:
            self._put(bundle)
        else:
            if self.done < self.total:  # interrupted: end the progress line left open
                sys.stderr.write("\n")
            print(bundle["text/plain"].replace("\n\n— ", "\n— "), flush=True)


GRID_CHARS = 1500  # the most text of one column a live update carries


def _tail_start(text: str, keep: int) -> int:
    """Where to start showing the last ~`keep` characters: a paragraph, else a line, else a
    word boundary, so the shown part reads (and renders) from a clean start."""
    lo = len(text) - keep
    for mark in ("\n\n", "\n", " "):
        at = text.find(mark, lo)
        if at >= 0:
            return at + len(mark)
    return lo


def _head_end(text: str, keep: int) -> int:
    """Where to stop showing the first ~`keep` characters, at the same kind of boundary."""
    for mark in ("\n\n", "\n", " "):
        at = text.rfind(mark, 0, keep)
        if at > 0:
            return at
    return keep


class LiveGrid(Redrawn):
    """Every column streaming into one display handle (kernel), refreshed by `tick` at most
    `rate` times a second; in a terminal each column is printed when its candidate is done.

    A live update re-sends the whole grid, so it carries at most ~`GRID_CHARS` of each
    column: the end of a running column's text, the start of a finished one's, each marked
    as cut. The caller's final bundle shows every column whole, once.
    """

    def __init__(self, labels: Sequence[str], *, kernel: bool, rate: float, runs: int) -> None:
        self.columns = [Column(label) for label in labels]
        self.kernel, self.runs = kernel, runs
        self.interval = 1.0 / rate if rate > 0 else 0.05
        self.updates = 0
        self._dirty = False
        self._handle: Any = None
        self._tails = [""] * len(labels)  # a running column's latest text
        self._above = [0] * len(labels)  # characters of it no longer in the tail
        self._running = [False] * len(labels)

    def start(self) -> None:
        if self.kernel:
            self._handle = show(self._bundle())

    def begin(self, i: int, run: int) -> None:
        column = self.columns[i]
        column.text, column.error = "", None
        column.status = "running" if self.runs == 1 else f"run {run}/{self.runs}"
        self._tails[i], self._above[i], self._running[i] = "", 0, True
        self._dirty = True

    def delta(self, i: int, text: str) -> None:
        tail = self._tails[i] + text
        if len(tail) > 2 * GRID_CHARS:  # cut back to GRID_CHARS: each character moves twice
            cut = _tail_start(tail, GRID_CHARS)
            self._above[i] += cut
            tail = tail[cut:]
        self._tails[i] = tail
        self._dirty = True

    def done(self, i: int, text: str, error: str | None, figures: str | None) -> None:
        """A run ended; `figures` is given when it was the candidate's last run."""
        column = self.columns[i]
        column.text, column.error = text, error
        self._tails[i], self._running[i] = "", False
        self._dirty = True
        if figures is None:
            return
        column.status, column.figures = "done", figures
        if not self.kernel:
            lines = [f"── {column.label} ──", text, f"⚠ {error}" if error else "", f"— {figures}"]
            print("\n".join(line for line in lines if line.strip("— ")) + "\n", flush=True)

    def _shown(self, i: int) -> Column:
        """Column i as a live update shows it: at most ~GRID_CHARS of its text."""
        column = self.columns[i]
        if self._running[i]:
            above = self._above[i]
            note = f"*… {above:,} characters above*\n\n" if above else ""
            return replace(column, text=note + self._tails[i])
        if len(column.text) <= GRID_CHARS:
            return column
        cut = _head_end(column.text, GRID_CHARS)
        more = len(column.text) - cut
        return replace(column, text=f"{column.text[:cut]}\n\n*… {more:,} more characters*")

    def _bundle(self) -> dict[str, str]:
        shown = [self._shown(i) for i in range(len(self.columns))]
        return {"text/html": grid_html(shown), "text/plain": plain_columns(shown)}

    def finish(self, bundle: dict[str, str], summary: str) -> None:
        """The final columns with their figures (kernel), or the summary table (terminal)."""
        if self.kernel:
            self.updates += 1
            self._handle.update(bundle, raw=True)
        else:
            print(summary, flush=True)
