"""The result of an evaluation: every cell (text × candidate × run), the leaderboard with its
bootstrap intervals and significance test, and exports (pandas, CSV, JSONL).

Shown in a notebook as the matrix and the leaderboard, in a terminal as the leaderboard text.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.paths import why_unwritable
from ..errors import ConfigError
from ..wire.protocol import Usage, tokens_per_second
from .candidates import Candidate
from .checks import FLAG_NAMES, Flag
from .notebook_files import utf8_bytes
from .testset import TestItem

__all__ = ["Cell", "Evaluation"]


@dataclass(eq=False)
class Cell:
    """One answer of one candidate to one text in one run, with its checks and scores.

    Timings are milliseconds as measured when the answer was fetched (also for a cached one);
    `scores` holds sentence chrF++/BLEU/TER when the text has a reference; `judge_score` is
    the judge's 0–100 (0 for a failed or empty answer, None when the judge gave none).
    """

    item: int
    candidate: int
    run: int
    text: str = ""
    error: str | None = None
    cached: bool = False
    done: bool = False
    finish_reason: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    usage: Usage | None = None
    cost: float | None = None
    flags: tuple[Flag, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    judge_score: float | None = None
    judge_error: str | None = None
    judge_usage: Usage | None = None
    judge_cost: float | None = None

    @property
    def ok(self) -> bool:
        return self.done and self.error is None

    @property
    def tokens_per_second(self) -> float | None:
        tokens = self.usage.completion_tokens if self.usage else None
        return tokens_per_second(tokens, self.latency_ms, self.ttft_ms)

    def flag_names(self) -> list[str]:
        return [flag.name for flag in self.flags]


class Evaluation:
    """Every cell of an evaluation, in (text, candidate, run) order, and what they add up to.

    `leaderboard()` ranks the candidates by corpus chrF++ (Popović 2017), BLEU (Papineni et
    al. 2002) and TER (Snover et al. 2006) as sacrebleu computes them (Post 2018), and the
    judge's 0–100 GEMBA-DA mean (Kocmi & Federmann 2023); `winner` names the best one only
    when paired bootstrap resampling (Koehn 2004) says it is significantly better than every
    other (p < 0.05), else None and `verdict` says which are tied. `to_pandas()`, `to_csv()`,
    `to_jsonl()` export the cells, `plot()` draws quality against latency and cost (needs
    matplotlib).
    """

    def __init__(
        self,
        items: Sequence[TestItem],
        candidates: Sequence[Candidate],
        *,
        to: str,
        source: str | None = None,
        runs: int = 1,
    ) -> None:
        self.items, self.candidates = list(items), list(candidates)
        self.to, self.source, self.runs = to, source, runs
        self.judge: str | None = None
        self.wall_ms: float | None = None
        self.complete = False
        self.cells = [
            Cell(i, c, r)
            for i in range(len(self.items))
            for c in range(len(self.candidates))
            for r in range(1, runs + 1)
        ]
        self._summary: Any = None

    @property
    def labels(self) -> list[str]:
        """The candidates' labels, in candidate order: what sets each apart from the others."""
        return [c.label for c in self.candidates]

    def cell(self, item: int, candidate: int, run: int = 1) -> Cell:
        """The cell of text `item` and `candidate` (0-based indexes), `run` counted from 1."""
        return self.cells[(item * len(self.candidates) + candidate) * self.runs + run - 1]

    def cells_of(self, candidate: int) -> Iterator[Cell]:
        """Every cell of one candidate (0-based index), in text then run order."""
        return (c for c in self.cells if c.candidate == candidate)

    @property
    def done(self) -> int:
        """How many cells have an answer or an error so far."""
        return sum(c.done for c in self.cells)

    @property
    def cached(self) -> int:
        """How many cells were answered from the persisted cache, with no request."""
        return sum(c.cached for c in self.cells)

    # --- the leaderboard -------------------------------------------------------------------------

    def summary(self) -> Any:
        """The figures behind the leaderboard (a `Summary`), computed once the run is over."""
        from .leaderboard import summarize

        if self._summary is None or not self.complete:
            summary = summarize(self)
            if not self.complete:
                return summary
            self._summary = summary
        return self._summary

    def leaderboard(self) -> Any:
        """A pandas DataFrame, one row per candidate, best first (see the README for columns)."""
        import pandas as pd

        rows = self.summary().rows
        return pd.DataFrame(rows).set_index("candidate") if rows else pd.DataFrame()

    @property
    def winner(self) -> str | None:
        """The significantly best candidate's label, or None (tied, or no quality figure)."""
        return self.summary().winner

    @property
    def verdict(self) -> str:
        """One sentence: who wins on what, with the p-values; or why there is no winner."""
        return str(self.summary().verdict)

    # --- exports ---------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """One dict per cell: the text, the candidate, the answer, its flags, scores and figures."""
        rows = []
        for cell in self.cells:
            item, candidate = self.items[cell.item], self.candidates[cell.candidate]
            usage = cell.usage or Usage()
            row: dict[str, Any] = {
                "text": cell.item,
                "id": item.id,
                "source": item.source,
                "reference": item.reference,
                "candidate": candidate.label,
                "preset": candidate.preset.name,
                "model": candidate.preset.model,
                "run": cell.run,
                "translation": cell.text,
                "error": cell.error,
                "done": cell.done,
                "cached": cell.cached,
                "flags": "; ".join(str(f) for f in cell.flags),
            }
            names = set(cell.flag_names())
            row.update({name: name in names for name in FLAG_NAMES if name != "error"})
            for metric in ("chrF++", "BLEU", "TER"):
                row[metric] = cell.scores.get(metric)
            row.update(
                judge=cell.judge_score,
                judge_error=cell.judge_error,
                ttft_ms=cell.ttft_ms,
                latency_ms=cell.latency_ms,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                tokens_per_second=cell.tokens_per_second,
                cost=cell.cost,
                judge_tokens=cell.judge_usage.total_tokens if cell.judge_usage else None,
                judge_cost=cell.judge_cost,
                finish_reason=cell.finish_reason,
                length_ratio=len(cell.text) / len(item.source) if cell.ok else None,
            )
            rows.append(row)
        return rows

    def to_pandas(self) -> Any:
        """A DataFrame with one row per (text, candidate, run)."""
        import pandas as pd

        return pd.DataFrame(self.records())

    def to_csv(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the cells as CSV (UTF-8); an existing file is kept unless overwrite=True."""
        import csv
        import io

        rows = self.records()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["text"])
        writer.writeheader()
        writer.writerows(rows)
        return _write(path, utf8_bytes(buffer.getvalue(), json_text=False), overwrite)

    def to_jsonl(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Write the cells as JSON Lines; an existing file is kept unless overwrite=True."""
        lines = (json.dumps(row, ensure_ascii=False) for row in self.records())
        text = "".join(line + "\n" for line in lines)
        return _write(path, utf8_bytes(text, json_text=True), overwrite)

    def plot(self, path: str | os.PathLike[str] | None = None) -> Any:
        """Quality against median latency and against cost per 1,000 source characters, with
        95% intervals (a matplotlib Figure; saved to `path` when given)."""
        from .plot import plot_evaluation

        return plot_evaluation(self, path)

    # --- display ---------------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        from .leaderboard import evaluation_html

        return evaluation_html(self)

    def __repr__(self) -> str:
        from .leaderboard import evaluation_text

        return evaluation_text(self)


def _write(path: str | os.PathLike[str], data: bytes, overwrite: bool) -> Path:
    """Write data atomically (a temporary file beside it, then rename)."""
    target = Path(path).expanduser()
    if target.exists() and not overwrite:
        raise ConfigError(
            f"{target} already exists; pass overwrite=True to replace it, or choose another path."
        )
    if not target.parent.is_dir():
        raise ConfigError(f"The folder {target.parent} does not exist; create it first.")
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"Could not write {target}: {why_unwritable(exc)}.") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as exc:  # a full disk or quota: the evaluation itself is still in memory
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"Could not write {target}: {why_unwritable(exc)}.") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
