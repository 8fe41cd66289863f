"""Running an evaluation: every (text × candidate × run) cell, from the persisted cache when it
can be, otherwise as one request on the shared async client, at most `concurrency` requests in
flight per server; each answer checked, scored and (optionally) judged as soon as it arrives.

Every finished answer is written to the cache at once, so an interrupted or crashed run
resumes without repeating a paid call. A view (built by `compat_nb.faces`) sees each cell.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from ..config.presets import Preset
from ..errors import ConfigError
from ..wire.protocol import ChatResult, cost_of
from . import checks, metrics
from .asking import Messages, Outcome, ask
from .cache import CachedAnswer, TranslationCache, preset_key
from .candidates import Candidate
from .evaluation import Cell, Evaluation
from .gates import Gates, server_of
from .glossary import Term, preset_glossary
from .judge import JUDGE_PROMPT_VERSION, judge_messages, parse_score
from .languages import resolve_language
from .testset import TestItem
from .translation import PROMPT_VERSION, Translation, build_messages, clean_output, record_runs

__all__ = ["DEFAULT_CONCURRENCY", "EvaluationView", "Evaluator", "Request"]

DEFAULT_CONCURRENCY = 8  # requests in flight per server
Request = tuple[Preset, Messages]


class EvaluationView(Protocol):
    """What shows an evaluation while it runs (faces/evaluation.py builds one)."""

    def start(self, evaluation: Evaluation) -> None: ...
    def cell_done(self, cell: Cell) -> None: ...
    async def tick(self) -> None: ...
    def finish(self, evaluation: Evaluation) -> None: ...


def _answer_of(result: ChatResult, text: str) -> CachedAnswer:
    return CachedAnswer(text, result.usage, result.finish_reason, result.latency_ms, result.ttft_ms)


class Evaluator:
    """One evaluation being run; `evaluation` fills in cell by cell (also when interrupted)."""

    def __init__(
        self,
        items: Sequence[TestItem],
        candidates: Sequence[Candidate],
        *,
        to: str,
        source: str | None = None,
        runs: int = 1,
        judge: Candidate | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        stream: bool = True,
        cache: TranslationCache | None = None,
        refresh: bool = False,
        record: bool = True,
    ) -> None:
        self.evaluation = Evaluation(list(items), list(candidates), to=to, source=source, runs=runs)
        self.evaluation.judge = judge.label if judge else None
        self.judge = judge
        self.concurrency, self.stream = max(1, concurrency), stream
        self.cache, self.refresh, self.record = cache, refresh, record
        self.target_name = checks.language_name(to)
        # Keys name languages by tag: "fr" and "French" are the same prompt, the same answer.
        self.target_tag = _tag(to)
        self.source_tag = _tag(source) if source else None
        self.view: EvaluationView | None = None
        self._gates = Gates(self.concurrency)  # per server; interruptions re-run alone
        self._prompts: dict[int, str] = {}
        self._fetched: list[tuple[Translation, Preset, int, str]] = []
        # Each candidate's glossary, read now: one that cannot be read is a ConfigError before
        # any request. The terms a text contains go with it and are required in its answer.
        self._glossaries = [preset_glossary(c.preset) for c in self.evaluation.candidates]
        self._terms: dict[tuple[int, int], list[Term]] = {}

    # --- requests and keys ------------------------------------------------------------------------

    def terms(self, cell: Cell) -> list[Term]:
        """The candidate's glossary terms that the cell's text contains."""
        glossary = self._glossaries[cell.candidate]
        if glossary is None:
            return []
        at = (cell.candidate, cell.item)
        if at not in self._terms:
            self._terms[at] = glossary.select(self.evaluation.items[cell.item].source)
        return self._terms[at]

    def messages(self, cell: Cell) -> Messages:
        preset = self.evaluation.candidates[cell.candidate].preset
        ev = self.evaluation
        text, system, terms = ev.items[cell.item].source, preset.system_prompt, self.terms(cell)
        return build_messages(text, to=ev.to, source=ev.source, system=system, terms=terms)

    def _instructions(self, candidate: int) -> str:
        """The system prompt a candidate's answers are checked for echoes of."""
        if candidate not in self._prompts:
            preset = self.evaluation.candidates[candidate].preset
            ev = self.evaluation
            messages = build_messages("", to=ev.to, source=ev.source, system=preset.system_prompt)
            self._prompts[candidate] = messages[0]["content"]
        return self._prompts[candidate]

    def key(self, cell: Cell) -> str:
        """The cache key of a cell's translation; runs after the first are distinct samples."""
        preset = self.evaluation.candidates[cell.candidate].preset
        options: dict[str, Any] = {"run": cell.run if cell.run > 1 else None}
        if terms := self.terms(cell):  # absent without a glossary: earlier keys still match
            options["terms"] = [[t.source, t.target] for t in terms]
        return preset_key(
            preset,
            options=options,
            prompt_version=PROMPT_VERSION,
            target=self.target_tag,
            source=self.source_tag,
            text=self.evaluation.items[cell.item].source,
        )

    def judge_request(self, cell: Cell) -> tuple[str, Messages]:
        """The judge's cache key and messages for a cell's answer (GEMBA-DA)."""
        assert self.judge is not None
        item = self.evaluation.items[cell.item]
        source = self.evaluation.source
        if source is None:  # GEMBA names the source language: identify it
            ranked = checks.detect_language(item.source)
            source = ranked[0][0] if ranked and ranked[0][1] >= 0.5 else None
        messages = judge_messages(
            source=item.source,
            translation=cell.text,
            source_lang=checks.language_name(source) if source else "the source language",
            target_lang=self.target_name,
            reference=item.reference,
        )
        key = preset_key(
            self.judge.preset,
            prompt_version=JUDGE_PROMPT_VERSION,
            target=self.target_tag,
            source=self.source_tag,
            text=messages[0]["content"],
        )
        return key, messages

    def lookup(self, keys: list[str]) -> dict[str, CachedAnswer]:
        if self.cache is None or self.refresh or not keys:
            return {}
        return self.cache.get_many(keys)

    async def _ask(self, preset: Preset, messages: Messages) -> Outcome:
        return await ask(preset, messages, stream=self.stream, gates=self._gates)

    # --- what an answer becomes -------------------------------------------------------------------

    def _fill(self, cell: Cell, answer: CachedAnswer, *, cached: bool) -> None:
        preset = self.evaluation.candidates[cell.candidate].preset
        cell.text, cell.cached = answer.text, cached
        cell.finish_reason, cell.usage = answer.finish_reason, answer.usage
        cell.latency_ms, cell.ttft_ms = answer.latency_ms, answer.ttft_ms
        cell.cost = cost_of(preset, answer.usage)

    def translated(self, cell: Cell, key: str, outcome: Outcome) -> None:
        """A fetched translation: cached at once, then checked and scored."""
        candidate = self.evaluation.candidates[cell.candidate]
        if outcome.result is None:
            cell.text, cell.error = outcome.partial, outcome.error or "no answer"
        else:
            text = clean_output(outcome.result.text, self.evaluation.items[cell.item].source)
            answer = _answer_of(outcome.result, text)
            if self.cache is not None:
                self.cache.put(key, answer)
            self._fill(cell, answer, cached=False)
        self._fetched.append(
            (self._as_translation(cell, candidate), candidate.preset, cell.run, "evaluate")
        )
        self.check(cell)

    def check(self, cell: Cell) -> None:
        """Flags, and sentence scores when the text has a reference."""
        item = self.evaluation.items[cell.item]
        cell.flags = tuple(
            checks.check_answer(
                cell.text,
                source=item.source,
                target=self.evaluation.to,
                reference=item.reference,
                terms=[*item.terms, *(t.required for t in self.terms(cell))],
                finish_reason=cell.finish_reason,
                error=cell.error,
                instructions=[self._instructions(cell.candidate)],
            )
        )
        if item.reference is not None:
            answer = "" if cell.error else cell.text  # a failure scores as an empty answer
            cell.scores = metrics.sentence_scores(answer, item.reference)

    def needs_judging(self, cell: Cell) -> bool:
        if self.judge is None:
            return False
        if cell.error or not cell.text.strip():
            cell.judge_score = 0.0  # nothing to judge: "no meaning preserved"
            return False
        return True

    def judged(
        self, cell: Cell, messages: Messages, key: str, outcome: Outcome | CachedAnswer
    ) -> None:
        """The judge's answer (fetched, or cached) as the cell's 0–100 score."""
        assert self.judge is not None
        if isinstance(outcome, Outcome):
            if outcome.result is None:
                cell.judge_error = outcome.error
                return
            answer = _answer_of(outcome.result, outcome.result.text)
            if self.cache is not None:
                self.cache.put(key, answer)
            row = _judge_row(answer, messages[0]["content"], self.judge, self.evaluation.to)
            self._fetched.append((row, self.judge.preset, cell.run, "judge"))
        else:
            answer = outcome
        cell.judge_score = parse_score(answer.text)
        cell.judge_usage = answer.usage
        cell.judge_cost = cost_of(self.judge.preset, answer.usage)
        if cell.judge_score is None:
            cell.judge_error = f"no score in the judge's answer: {answer.text[:80]!r}"

    def done(self, cell: Cell) -> None:
        cell.done = True
        if self.view is not None:
            self.view.cell_done(cell)

    # --- the whole run ---------------------------------------------------------------------------

    def start(self, view: EvaluationView | None) -> tuple[list[str], dict[str, CachedAnswer]]:
        """Every cell's key, and the cached cells filled in and checked."""
        self.view = view
        ev = self.evaluation
        checks.warm_up()  # loading it mid-run would stall the requests in flight
        keys = [self.key(cell) for cell in ev.cells]
        hits = self.lookup(keys)
        for cell, key in zip(ev.cells, keys, strict=True):
            hit = hits.get(key)
            if hit is not None:
                self._fill(cell, hit, cached=True)
                self.check(cell)
        if view is not None:
            view.start(ev)
        return keys, hits

    async def run(self, view: EvaluationView | None = None) -> Evaluation:
        """Every cell, a fixed pool of workers per server; returns the Evaluation (filled in as
        far as it got when cancelled)."""
        ev, started = self.evaluation, time.perf_counter()
        keys, hits = self.start(view)
        queues: dict[str, deque[tuple[Cell, str | None]]] = {}
        judging = self.judge is not None
        for cell, key in zip(ev.cells, keys, strict=True):
            if key in hits:
                if not (judging and self.needs_judging(cell)):
                    self.done(cell)
                    continue
                assert self.judge is not None
                queues.setdefault(server_of(self.judge.preset), deque()).append((cell, None))
            else:
                preset = ev.candidates[cell.candidate].preset
                queues.setdefault(server_of(preset), deque()).append((cell, key))

        asked: dict[str, asyncio.Future[Outcome]] = {}

        async def fetch(cell: Cell, key: str) -> Outcome:
            """One request per key: a text that appears twice is asked once."""
            if key in asked:
                return await asyncio.shield(asked[key])
            asked[key] = asyncio.get_running_loop().create_future()
            outcome = await self._ask(*self.request(cell))
            asked[key].set_result(outcome)
            return outcome

        async def worker(queue: deque[tuple[Cell, str | None]]) -> None:
            while queue:
                cell, key = queue.popleft()
                if key is not None:
                    self.translated(cell, key, await fetch(cell, key))
                if self.needs_judging(cell):
                    assert self.judge is not None
                    judge_key, messages = self.judge_request(cell)
                    known = self.lookup([judge_key]).get(judge_key)
                    answer = known or await self._ask(self.judge.preset, messages)
                    self.judged(cell, messages, judge_key, answer)
                self.done(cell)

        ticker = asyncio.ensure_future(view.tick()) if view is not None else None
        try:
            # A fixed pool per server: memory does not grow with the number of cells.
            await asyncio.gather(
                *(worker(q) for q in queues.values() for _ in range(self.concurrency))
            )
        finally:
            if ticker is not None:
                ticker.cancel()
            self.end(started)
        if view is not None:
            view.finish(ev)
        return ev

    def request(self, cell: Cell) -> Request:
        return self.evaluation.candidates[cell.candidate].preset, self.messages(cell)

    def end(self, started: float) -> None:
        ev = self.evaluation
        ev.wall_ms = (time.perf_counter() - started) * 1000
        ev.complete = all(cell.done for cell in ev.cells)
        if self.record and self._fetched:
            group = uuid.uuid4().hex[:12]  # ties the rows of one evaluation together
            for kind in ("evaluate", "judge"):
                rows = [(t, p, r) for t, p, r, k in self._fetched if k == kind]
                if rows:
                    record_runs(rows, kind=kind, comparison=group)
        self._fetched.clear()

    def _as_translation(self, cell: Cell, candidate: Candidate) -> Translation:
        return Translation(
            text=cell.text,
            source_text=self.evaluation.items[cell.item].source,
            target_language=self.evaluation.to,
            preset=candidate.preset.name,
            model=candidate.preset.model,
            base_url=candidate.preset.base_url,
            source_language=self.evaluation.source,
            usage=cell.usage,
            finish_reason=cell.finish_reason,
            latency_ms=cell.latency_ms,
            ttft_ms=cell.ttft_ms,
            output_tokens=cell.usage.completion_tokens if cell.usage else None,
            error=cell.error,
        )


def _judge_row(answer: CachedAnswer, prompt: str, judge: Candidate, target: str) -> Translation:
    """A judge's answer as a history row (its cost and tokens are the judge's own)."""
    return Translation(
        text=answer.text,
        source_text=prompt,
        target_language=target,
        preset=judge.preset.name,
        model=judge.preset.model,
        base_url=judge.preset.base_url,
        usage=answer.usage,
        finish_reason=answer.finish_reason,
        latency_ms=answer.latency_ms,
        ttft_ms=answer.ttft_ms,
    )


def _tag(language: str) -> str:
    try:
        return resolve_language(language).tag
    except ConfigError:
        return language
