"""Running a comparison: several presets and models on one text at once, round by round, each
answer streamed to a live view and recorded in the history.

The engine only: a live view (faces/live.py) is passed in as a `ComparisonView` factory; the
result is a `Comparison` (comparison.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ..config import bounds
from ..config.presets import Preset
from ..errors import ConfigError
from ..wire.protocol import cost_of
from .asking import Messages, Outcome, ask_once
from .comparison import Comparison, ComparisonRow
from .gates import RERUN_NOTE, Gates
from .glossary import preset_terms
from .translation import (
    DEFAULT_TARGET,
    Translation,
    build_messages,
    language_name,
    record_runs,
    resolve_preset,
)

__all__ = ["COMPARE_LIMIT", "ComparisonSession", "ComparisonView", "ViewFactory", "acompare"]

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

    async def _ask(self, i: int, messages: Messages) -> Outcome:
        """One request of column i, its text streamed to the view."""
        view = self.view
        on_delta = (lambda text: view.delta(i, text)) if view else None
        return await ask_once(self.candidates[i], messages, stream=self.stream, on_delta=on_delta)

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
                outcome = await self._ask(i, messages)
            if outcome.interrupted and turn.overlapped:
                # Lost to another request on the same server: once the others there are done,
                # this one runs again alone, and that server gets one request at a time.
                await self.gates.interrupting(preset)
                note = RERUN_NOTE
                if view:
                    view.begin(i, run)
                async with server.slot(alone=True):
                    outcome = await self._ask(i, messages)
        result, error = outcome.result, outcome.error
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
                outcome.partial,
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
    """Every preset × every model on `text` at once; returns a Comparison (`compat_nb.compare`
    documents the arguments). `view` makes a live view of the columns (see faces/live.py).

    Raises ConfigError for a text that is not a str or is empty, an empty list of presets or
    models, or a bad preset field; a failed candidate is a row with `.error`, never a raise.
    """
    if not isinstance(text, str):
        raise ConfigError(f"compare() takes text as str, not {type(text).__name__}.")
    if not text.strip():
        raise ConfigError("The text is empty: pass the text to translate as the first argument.")
    chosen = _candidates(presets, models, overrides)
    session = ComparisonSession(
        text, chosen, to=to, source=source, runs=runs, concurrency=concurrency, stream=stream
    )
    return await session.run(view)
