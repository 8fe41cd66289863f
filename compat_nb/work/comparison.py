"""Several presets and models on one text at once: side-by-side columns, figures, repeated runs.

The engine only: a live view (faces/live.py) is passed in as a `ComparisonView` factory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..config import bounds
from ..config.presets import Preset
from ..errors import CompatError, ConfigError, StreamError
from ..wire.aio import run_sync
from ..wire.client import get_client
from ..wire.protocol import ChatResult, cost_of
from .gates import RERUN_NOTE, Gates, interrupted
from .glossary import preset_terms
from .table import Column, Table, grid_html
from .translation import (
    DEFAULT_TARGET,
    Translation,
    build_messages,
    format_ms,
    language_name,
    record_runs,
    resolve_preset,
)

__all__ = [
    "COMPARE_LIMIT",
    "Comparison",
    "ComparisonRow",
    "ComparisonSession",
    "ComparisonView",
    "acompare",
    "compare",
]

COMPARE_LIMIT = 16  # candidates run all at once up to this many (different servers, no queue)


class ComparisonView(Protocol):
    """What a comparison reports to while it runs (faces/live.py's LiveGrid is one)."""

    kernel: bool

    def start(self) -> None: ...
    def begin(self, i: int, run: int) -> None: ...
    def delta(self, i: int, text: str) -> None: ...
    def done(self, i: int, text: str, error: str | None, figures: str | None) -> None: ...
    async def tick(self) -> None: ...
    def finish(self, bundle: dict[str, str], summary: str) -> None: ...


# (column labels, runs) -> a view; called once the labels are known.
ViewFactory = Callable[[Sequence[str], int], ComparisonView]


@dataclass(frozen=True)
class ComparisonRow:
    """One run of one candidate: its text and figures, or the error that stopped it."""

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


def _labels(presets: Sequence[Preset], targets: Sequence[str]) -> list[str]:
    """Column titles that name what differs: the preset, the model, or both; and the target
    language when the candidates translate into different ones."""
    names, models = {p.name for p in presets}, {p.model for p in presets}
    labels = []
    for p, target in zip(presets, targets, strict=True):
        if len(names) > 1 and len(models) == 1:
            label = p.name
        elif len(models) > 1 and len(names) == 1:
            label = p.model
        else:
            label = f"{p.name} · {p.model}"
        labels.append(f"{label} → {target}" if len(set(targets)) > 1 else label)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # the same candidate twice still gets two columns
        seen[label] = seen.get(label, 0) + 1
        labels[i] = label if seen[label] == 1 else f"{label} ({seen[label]})"
    return labels


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
            parts.append(f"{statistics.median(s['output_tokens']):.0f} tokens")
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
        caption = f"{len(self.candidates)} candidates × {runs} run(s){wall}; median (min–max)"
        return Table([*columns, "error"], lines, caption=caption)

    def to_pandas(self) -> Any:
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


class ComparisonSession:
    """One comparison being run: round by round, every candidate of a round at once."""

    def __init__(
        self,
        text: str,
        candidates: Sequence[Preset],
        *,
        to: str | None,
        default_to: str = DEFAULT_TARGET,
        source: str | None = None,
        runs: int = 1,
        concurrency: int | None = None,
        stream: bool = True,
        record: bool = True,
    ) -> None:
        bounds.check("runs", runs)
        if concurrency is not None:
            bounds.check("concurrency", concurrency)
        self.text, self.candidates = text, list(candidates)
        # As for one preset: `to`, else the preset's own target language, else the default.
        self.targets = [
            language_name(to or p.target_language or default_to) for p in self.candidates
        ]
        source = language_name(source) if source else None
        self.labels = _labels(self.candidates, self.targets)
        self.source, self.runs, self.stream, self.record = source, runs, stream, record
        # Each candidate's glossary terms in the text; a glossary that cannot be read is a
        # ConfigError here, before any request.
        self.terms = [preset_terms(p, text) for p in self.candidates]
        self.limit = concurrency or min(len(self.candidates), COMPARE_LIMIT)
        self.gates = Gates(self.limit)  # per server: a preset's concurrency, interruptions
        self.rows: list[ComparisonRow] = []
        self.view: ComparisonView | None = None
        self._finished: list[tuple[Translation, Preset, int]] = []
        self._started = time.perf_counter()

    def result(self) -> Comparison:
        rows = sorted(self.rows, key=lambda r: (r.run, self.labels.index(r.candidate)))
        wall = (time.perf_counter() - self._started) * 1000
        target = ", ".join(dict.fromkeys(self.targets))
        return Comparison(self.text, target, self.labels, rows, wall_ms=wall)

    async def run(self, view: ViewFactory | None = None) -> Comparison:
        """Every run of every candidate; `view` makes the live view, if one is wanted."""
        if view is not None:
            self.view = view(self.labels, self.runs)
            self.view.start()
        ticker = asyncio.ensure_future(self.view.tick()) if self.view and self.view.kernel else None
        gate = asyncio.Semaphore(self.limit)
        try:
            for run in range(1, self.runs + 1):
                await asyncio.gather(*(self._one(i, run, gate) for i in range(len(self.labels))))
        finally:
            if ticker:
                ticker.cancel()
            self._record()
        comparison = self.result()
        if self.view:
            bundle = {"text/html": comparison._repr_html_(), "text/plain": repr(comparison)}
            self.view.finish(bundle, repr(comparison.summary()))
        return comparison

    async def _ask(
        self, i: int, messages: list[dict[str, str]]
    ) -> tuple[ChatResult | None, str, str | None, BaseException | None]:
        """One request: (result, partial text, error message, the error itself)."""
        preset, view = self.candidates[i], self.view
        try:
            if self.stream:
                result: ChatResult | None = None
                async for item in get_client().astream(preset, messages):
                    if isinstance(item, ChatResult):
                        result = item
                    elif view:
                        view.delta(i, item)
                return result, "", None, None
            return await get_client().achat(preset, messages), "", None, None
        except StreamError as exc:
            return None, exc.partial, preset.redact(exc.message), exc
        except CompatError as exc:
            return None, "", preset.redact(exc.message), exc
        except Exception as exc:  # a bug in one column must not take the others down
            return None, "", preset.redact(f"{type(exc).__name__}: {exc}"), exc

    async def _one(self, i: int, run: int, gate: asyncio.Semaphore) -> None:
        preset, target, view = self.candidates[i], self.targets[i], self.view
        system, terms = preset.system_prompt, self.terms[i]
        messages = build_messages(
            self.text, to=target, source=self.source, system=system, terms=terms
        )
        server = self.gates.of(preset)
        note: str | None = None
        async with gate:
            if view:
                view.begin(i, run)
            async with server.slot() as turn:
                result, partial, error, exc = await self._ask(i, messages)
            if interrupted(exc) and turn.overlapped:
                # Lost to another request on the same server: once the others there are done,
                # this one runs again alone, and that server gets one request at a time.
                await self.gates.interrupting(preset)
                note = RERUN_NOTE
                if view:
                    view.begin(i, run)
                async with server.slot(alone=True):
                    result, partial, error, exc = await self._ask(i, messages)
        if result is not None:
            translation = Translation.from_result(
                result,
                source_text=self.text,
                preset=preset,
                target_language=target,
                source_language=self.source,
                terms=terms,
            )
        else:
            translation = Translation.failed(
                partial,
                source_text=self.text,
                preset=preset,
                target_language=target,
                source_language=self.source,
                error=error,
            )
        usage = translation.usage
        self.rows.append(
            ComparisonRow(
                candidate=self.labels[i],
                preset=preset.name,
                model=preset.model,
                run=run,
                text=translation.text,
                ttft_ms=translation.ttft_ms,
                latency_ms=translation.latency_ms,
                input_tokens=usage.prompt_tokens if usage else None,
                output_tokens=translation.output_tokens,
                tokens_per_second=translation.tokens_per_second,
                cost=cost_of(preset, usage),
                finish_reason=translation.finish_reason,
                error=error,
                note=note,
                glossary_misses=tuple(t.shown for t in translation.glossary_misses),
            )
        )
        self._finished.append((translation, preset, run))
        if view:
            figures = self.result().figures(self.labels[i]) if run == self.runs else None
            view.done(i, translation.text, error, figures)

    def _record(self) -> None:
        if not (self.record and self._finished):
            return
        group = uuid.uuid4().hex[:12]  # ties the rows of one comparison together
        record_runs(self._finished, kind="compare", comparison=group)


def _candidates(
    presets: str | Preset | Sequence[str | Preset] | None,
    models: str | Sequence[str] | None,
    overrides: dict[str, Any],
) -> list[Preset]:
    """Every preset × every model (a preset's own model when none is named)."""
    names: list[str | Preset | None] = (
        [presets] if presets is None or isinstance(presets, (str, Preset)) else list(presets)
    )
    ids: list[str | None] = [models] if models is None or isinstance(models, str) else list(models)
    if not names:
        raise ConfigError("Name at least one preset, or leave presets out to use the active one.")
    if not ids:
        raise ConfigError("Name at least one model, or leave models out to use each preset's own.")
    return [
        resolve_preset(name, **{**overrides, "model": model}) for name in names for model in ids
    ]


async def acompare(
    text: str,
    presets: str | Preset | Sequence[str | Preset] | None = None,
    models: str | Sequence[str] | None = None,
    *,
    to: str | None = None,
    source: str | None = None,
    runs: int = 1,
    concurrency: int | None = None,
    stream: bool = True,
    view: ViewFactory | None = None,
    **overrides: Any,
) -> Comparison:
    """`compare` for async code; `view` makes a live view of the columns (see faces/live.py)."""
    if not isinstance(text, str):
        raise ConfigError(f"compare() takes text as str, not {type(text).__name__}.")
    if not text.strip():
        raise ConfigError("The text is empty: pass the text to translate as the first argument.")
    chosen = _candidates(presets, models, overrides)
    session = ComparisonSession(
        text, chosen, to=to, source=source, runs=runs, concurrency=concurrency, stream=stream
    )
    return await session.run(view)


def compare(
    text: str,
    presets: str | Preset | Sequence[str | Preset] | None = None,
    models: str | Sequence[str] | None = None,
    *,
    to: str | None = None,
    source: str | None = None,
    runs: int = 1,
    concurrency: int | None = None,
    stream: bool = True,
    view: ViewFactory | None = None,
    **overrides: Any,
) -> Comparison:
    """Translate text with every preset × every model at the same time; returns a Comparison.

    presets: names or Preset objects (default: the active preset); models: ids that replace
    each preset's own (default: its own). `runs` repeats each candidate, `concurrency` caps
    the requests at once (default: every candidate, up to 16), `view` makes a live view of
    the columns as they stream. Overrides are preset fields for every candidate
    (temperature=0.2, ...).
    Without `to`, each candidate translates into its preset's target language (else English).
    """
    return run_sync(
        acompare(
            text,
            presets,
            models,
            to=to,
            source=source,
            runs=runs,
            concurrency=concurrency,
            stream=stream,
            view=view,
            **overrides,
        )
    )
