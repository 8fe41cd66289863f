"""The result of a comparison: every run of every candidate on one text, its figures (TTFT,
total, tokens, tokens/s, cost) as medians with min–max, side-by-side columns and a table.

Run by `comparison_run.py`; shown in a notebook as the columns, in a terminal as the table.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .table import Column, Table, counted, grid_html
from .translation import format_ms

__all__ = ["Comparison", "ComparisonRow"]


@dataclass(frozen=True)
class ComparisonRow:
    """One run of one candidate: its text and figures, or the error that stopped it.

    Times in ms, tokens as the server counted them (else streamed deltas), tokens/s over the
    generation after the first token, cost in $ from the preset's prices per million tokens.
    """

    candidate: str
    preset: str
    model: str
    run: int
    text: str
    ttft_ms: float | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    tokens_per_second: float | None = None
    cost: float | None = None
    finish_reason: str | None = None
    error: str | None = None
    glossary_misses: tuple[str, ...] = ()  # glossary terms not followed ("slope → pente")
    note: str | None = None  # what was done to get it (re-run alone after an interruption)

    @property
    def ok(self) -> bool:
        return self.error is None


def _money(value: float) -> str:
    return "$" + f"{value:.6f}".rstrip("0").rstrip(".")


def _spread(values: list[float], fmt: Callable[[float], str]) -> str:
    """The median, with min–max when the runs differ."""
    if not values:
        return "–"
    middle, low, high = fmt(statistics.median(values)), fmt(min(values)), fmt(max(values))
    return middle if low == high else f"{middle} ({low}–{high})"


class Comparison:
    """Every run of every candidate on one text; shows as side-by-side columns.

    `target_language` is the language of every column, or several ("German, French") when
    no `to` was given and the presets translate into different ones.
    """

    def __init__(
        self,
        source_text: str,
        target_language: str,
        candidates: Sequence[str],
        rows: Sequence[ComparisonRow],
        *,
        wall_ms: float | None = None,
    ) -> None:
        self.source_text = source_text
        self.target_language = target_language
        self.candidates = list(candidates)
        self.rows = list(rows)
        self.wall_ms = wall_ms

    def runs_of(self, candidate: str) -> list[ComparisonRow]:
        """The rows of one candidate (a column label), in run order."""
        return [row for row in self.rows if row.candidate == candidate]

    def text_of(self, candidate: str) -> str:
        """The candidate's last successful translation ('' when every run failed)."""
        done = [row for row in self.runs_of(candidate) if row.ok]
        return done[-1].text if done else ""

    def _stats(self, candidate: str) -> dict[str, Any]:
        rows = self.runs_of(candidate)
        ok = [r for r in rows if r.ok]
        stats: dict[str, Any] = {
            name: [getattr(r, name) for r in ok if getattr(r, name) is not None]
            for name in ("ttft_ms", "latency_ms", "output_tokens", "tokens_per_second", "cost")
        }
        stats["runs"], stats["ok"] = len(rows), len(ok)
        stats["finish"] = "/".join(sorted({r.finish_reason or "?" for r in ok}))
        stats["error"] = next((r.error for r in rows if r.error), "")
        return stats

    def figures(self, candidate: str) -> str:
        """TTFT · total · tokens · tokens/s · cost · finish reason (medians over runs)."""
        s = self._stats(candidate)
        if not s["ok"]:
            return f"all {s['runs']} runs failed" if s["runs"] > 1 else ""
        parts = [
            f"TTFT {_spread(s['ttft_ms'], format_ms)}",
            f"total {_spread(s['latency_ms'], format_ms)}",
        ]
        if s["output_tokens"]:
            parts.append(counted(round(statistics.median(s["output_tokens"])), "token"))
        if s["tokens_per_second"]:
            parts.append(f"{_spread(s['tokens_per_second'], lambda v: f'{v:.1f}')} tok/s")
        if s["cost"]:
            parts.append(_money(statistics.median(s["cost"])))
        parts.append(f"finish {s['finish']}")
        if s["runs"] > 1:
            parts.append(f"{s['ok']}/{s['runs']} runs ok")
        missed = dict.fromkeys(m for r in self.runs_of(candidate) for m in r.glossary_misses)
        if missed:
            parts.append(f"glossary not followed: {', '.join(missed)}")
        notes = dict.fromkeys(r.note for r in self.runs_of(candidate) if r.note)
        parts += notes  # the column says what was done to get it
        return " · ".join(parts)

    def summary(self) -> Table:
        """A table, one line per candidate: medians and min–max over its runs."""
        lines = []
        for label in self.candidates:
            s = self._stats(label)
            error = s["error"][:80] + ("…" if len(s["error"]) > 80 else "")
            lines.append(
                [
                    label,
                    f"{s['ok']}/{s['runs']}",
                    _spread(s["ttft_ms"], format_ms),
                    _spread(s["latency_ms"], format_ms),
                    _spread(s["output_tokens"], lambda v: f"{v:.0f}"),
                    _spread(s["tokens_per_second"], lambda v: f"{v:.1f}"),
                    _money(statistics.median(s["cost"])) if s["cost"] else "",
                    s["finish"],
                    error,
                ]
            )
        columns = ["candidate", "ok", "TTFT", "total", "tokens", "tok/s", "cost", "finish"]
        wall = f" in {format_ms(self.wall_ms)}" if self.wall_ms is not None else ""
        runs = max((r.run for r in self.rows), default=1)
        caption = (
            f"{counted(len(self.candidates), 'candidate')} × {counted(runs, 'run')}{wall}; "
            "median (min–max)"
        )
        return Table([*columns, "error"], lines, caption=caption)

    def to_pandas(self) -> Any:
        """A DataFrame, one row per run of each candidate, columns as ComparisonRow's fields
        (times in ms, cost in $). Needs pandas."""
        import pandas as pd

        fields = [f.name for f in dataclasses.fields(ComparisonRow)]
        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows], columns=fields)

    def _repr_html_(self) -> str:
        columns = []
        for label in self.candidates:
            rows = self.runs_of(label)
            text = self.text_of(label) or (rows[-1].text if rows else "")
            error = rows[-1].error if rows else None
            columns.append(Column(label, text, self.figures(label), error, "done"))
        table = self.summary()._repr_html_() if len(self.rows) > len(self.candidates) else ""
        return grid_html(columns) + table

    def __repr__(self) -> str:
        return repr(self.summary())
