"""What a notebook run reports: `NotebookTranslation` per file, and the row each file leaves in
the run history (kind "notebook": counts, tokens, cost, error; never the key).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config.urls import host_of
from ..wire.protocol import Usage
from .recording import options_of

if TYPE_CHECKING:
    from ..config.presets import Preset
    from .languages import Language

__all__ = ["Failure", "NotebookTranslation", "history_row"]


@dataclass(frozen=True)
class Failure:
    """A part left in the source language: where, what it began with, and why."""

    where: str
    text: str
    reason: str


@dataclass
class NotebookTranslation:
    """What translating one notebook or Markdown file did.

    `output` is the file written (None when nothing was). Counts: `cells` (cells whose prose
    was translated, in full or in part), `pieces` (parts sent or taken from the cache),
    `cached` (of those, from the cache), `failed` (left in the source language, marked with
    an HTML comment in the cell). `glossary_misses`: (cell, term) for each required term a
    translation lacks. `kept_cells`: code cells left alone with `comments=True`, and why.
    `seconds` wall time; `usage` and `cost` (USD, from the preset's prices) for what was
    fetched, not what came from the cache.
    """

    source: Path
    output: Path | None
    target: str
    cells: int = 0
    pieces: int = 0
    cached: int = 0
    failed: list[Failure] = field(default_factory=list)
    glossary_misses: list[tuple[str, str]] = field(default_factory=list)
    kept_cells: list[str] = field(default_factory=list)
    seconds: float = 0.0
    usage: Usage | None = None
    cost: float | None = None

    def summary(self) -> str:
        """One line of counts, then one line per failure and glossary miss."""
        where = f" → {self.output}" if self.output else " (not written)"
        parts = [
            f"{self.source}{where}: {self.cells} cells, {self.pieces} pieces "
            f"({self.cached} from the cache), {len(self.failed)} failed, {self.seconds:.1f} s"
        ]
        if self.usage and self.usage.total_tokens:
            parts[0] += f", {self.usage.total_tokens} tokens"
        if self.cost:
            parts[0] += f", ${self.cost:.4f}"
        parts += [f"  ⚠ {f.where}: not translated ({f.reason}): {f.text!r}" for f in self.failed]
        parts += [
            f"  ⚠ {w}: glossary term {t!r} not in the translation" for w, t in self.glossary_misses
        ]
        parts += [f"  · {k} (code left as it was)" for k in self.kept_cells]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:
        return "```text\n" + self.summary() + "\n```"


def history_row(
    report: NotebookTranslation,
    preset: Preset,
    *,
    target: Language,
    source: Language | None,
    digest: str,
    prose_chars: int,
    group: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The history row for one file of a run: `input_sha256` is the file's as read (`digest`),
    `input_chars` is the prose sent for translation (`prose_chars`), `output` gives
    the counts and the file written, `latency_ms` the run's wall time; `error` is the one
    given (a failure to write, an interruption) or else the pieces left untranslated.
    `group` ties the rows of one command over several files (the `comparison` column)."""

    if error is None and report.failed:
        first = report.failed[0]
        error = (
            f"{len(report.failed)} of {report.pieces} pieces not translated; first: "
            f"{first.where}: {first.reason}"
        )
    where = f"→ {report.output}" if report.output else "(not written)"
    counts = (
        f"{report.cells} cells, {report.pieces} pieces ({report.cached} from the cache), "
        f"{len(report.failed)} failed"
    )
    if report.glossary_misses:
        counts += f", {len(report.glossary_misses)} glossary misses"
    usage = report.usage
    return {
        "time": time.time(),
        "kind": "notebook",
        "preset": preset.name,
        "host": host_of(preset.base_url),
        "model": preset.model,
        "options": options_of(preset),
        "target": target.english_name,
        "source": source.english_name if source else None,
        "input_sha256": digest,
        "input_chars": prose_chars,
        "output": f"{counts} {where}",
        "ttft_ms": None,
        "latency_ms": report.seconds * 1000,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cost": report.cost,
        "finish_reason": None,
        "error": preset.redact(error) if error else None,
        "comparison": group,
        "run": None,
    }
