"""Long texts and many texts: split at paragraph boundaries, translate concurrently, reassemble.

Finished pieces are cached in this process, so a re-run fetches only the pieces that failed
or were interrupted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import bounds
from ..config.presets import Preset
from ..errors import CompatError, ConfigError
from ..wire.client import get_client
from ..wire.protocol import ChatResult, Usage
from .gates import INTERRUPTS, server_of
from .glossary import Glossary, Term, preset_glossary
from .pieces import Piece, plan_pieces
from .texts import _NOT_A_LIST, SeriesTexts, texts_of
from .translation import Translation, build_messages, clean_output, record_runs

__all__ = [
    "DEFAULT_CHUNK_CHARS",
    "DEFAULT_CONCURRENCY",
    "Batch",
    "atranslate_many",
    "clear_cache",
    "texts_of",
]

DEFAULT_CHUNK_CHARS = 4000
DEFAULT_CONCURRENCY = 4  # a local server runs a few requests at once; more only queue there
CACHE_SIZE = 20_000  # pieces; each is at most about chunk_chars long

# --- the cache and the engine ------------------------------------------------------------------

# (request prefix, glossary terms as JSON, piece) -> translation; the prefix is one tuple per
# run, shared by its keys: up to CACHE_SIZE keys of 8 fields each would hold ~2 MB more.
_cache: OrderedDict[tuple[tuple[str, ...], str, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every translated piece, so the next run fetches everything again."""
    with _cache_lock:
        _cache.clear()


@dataclass
class _Outcome:
    text: str | None = None
    error: str | None = None
    result: ChatResult | None = None
    misses: tuple[Term, ...] = ()  # glossary terms the piece has and its translation lacks


async def _translate_pieces(
    pieces: Iterator[str],
    preset: Preset,
    *,
    to: str,
    source: str | None,
    concurrency: int,
    on_done: Callable[[str, _Outcome, bool], None],
    held: Callable[[str], _Outcome | None] = lambda piece: None,
) -> None:
    """Each piece translated (from the cache when it can be) by a fixed pool of `concurrency`
    workers taking the next piece as they free up, so the pieces in memory at once do not
    depend on how many there are; each outcome goes to `on_done(piece, outcome, cached)` as
    soon as it is known. A piece that comes again is sent once: `held(piece)` gives the
    outcome the caller still holds, one being fetched is waited for, else the cache answers.
    Failures are outcomes, not exceptions; a glossary the preset names but that cannot be
    read is a ConfigError before any request."""
    client = get_client()
    glossary = preset_glossary(preset)
    options = json.dumps(preset.options(), sort_keys=True)
    prefix = (preset.base_url, preset.model, options, to, source or "", preset.system_prompt or "")
    fetching: dict[str, asyncio.Future[_Outcome]] = {}  # at most one per worker

    async def fetch(piece: str) -> tuple[_Outcome, bool]:
        terms = glossary.select(piece) if glossary else []
        chosen = json.dumps([[t.source, t.target] for t in terms]) if terms else "[]"
        key = (prefix, chosen, piece)
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            return _Outcome(text=hit, misses=_missed(terms, hit)), True
        system = preset.system_prompt
        messages = build_messages(piece, to=to, source=source, system=system, terms=terms)
        try:
            result = await client.achat(preset, messages)
        except CompatError as exc:
            return _Outcome(error=preset.redact(exc.message)), False
        text = clean_output(result.text, piece)
        with _cache_lock:
            _cache[key] = text
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return _Outcome(text=text, result=result, misses=_missed(terms, text)), False

    async def worker() -> None:
        for piece in pieces:  # one iterator shared by every worker
            outcome = held(piece)
            if outcome is None and piece in fetching:
                outcome = await asyncio.shield(fetching[piece])
            if outcome is not None:
                on_done(piece, outcome, True)
                continue
            future = fetching[piece] = asyncio.get_running_loop().create_future()
            try:
                outcome, cached = await fetch(piece)
                future.set_result(outcome)
            finally:
                del fetching[piece]
                if not future.done():
                    future.cancel()  # interrupted: whoever waits for it stops too
            on_done(piece, outcome, cached)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


def _missed(terms: list[Term], text: str) -> tuple[Term, ...]:
    return tuple(Glossary.misses(terms, text)) if terms else ()


def _marked(number: int, message: str, original: str) -> str:
    return f"> ⚠ piece {number} failed: {' '.join(message.split())}\n\n{original}"


def _not_done(number: int, original: str) -> str:
    return f"> ⏸ piece {number} not translated (interrupted)\n\n{original}"


def _assemble(
    text: str,
    plan: list[Piece],
    outcomes: dict[str, _Outcome],
    preset: Preset,
    *,
    to: str,
    source: str | None,
    latency_ms: float | None,
) -> Translation:
    """The translated pieces and the original separators, in order, as one Translation;
    a piece with no outcome (the run was interrupted) is its original, marked."""
    out = [text[: plan[0].start]] if plan else [text]
    failures: list[str] = []
    fetched: list[ChatResult] = []
    misses: dict[Term, None] = {}  # in order, each once
    number = missing = 0
    for i, piece in enumerate(plan):
        original = text[piece.start : piece.end]
        if piece.translate:
            number += 1
            outcome = outcomes.get(original)
            if outcome is None:
                missing += 1
                out.append(_not_done(number, original))
            elif outcome.text is None:
                failures.append(f"piece {number}: {outcome.error}")
                out.append(_marked(number, outcome.error or "unknown error", original))
            else:
                out.append(outcome.text)
                misses |= dict.fromkeys(outcome.misses)
                if outcome.result is not None:
                    fetched.append(outcome.result)
        else:
            out.append(original)
        out.append(text[piece.end : plan[i + 1].start] if i + 1 < len(plan) else text[piece.end :])
    error = None
    if number == 1 and failures:
        error = failures[0].removeprefix("piece 1: ")
    elif failures:
        error = (
            f"{len(failures)} of {number} pieces failed; run again to retry only those "
            f"(the others are cached). First: {failures[0]}"
        )
    reasons = [r.finish_reason for r in fetched if r.finish_reason]
    return Translation(
        text="".join(out),
        source_text=text,
        target_language=to,
        preset=preset.name,
        model=preset.model,
        base_url=preset.base_url,
        source_language=source,
        usage=_summed([r.usage for r in fetched]),
        finish_reason="length" if "length" in reasons else (reasons[0] if reasons else None),
        latency_ms=latency_ms if latency_ms is not None else _sum([r.latency_ms for r in fetched]),
        ttft_ms=fetched[0].ttft_ms if len(fetched) == 1 and len(plan) == 1 else None,
        output_tokens=_sum([r.output_tokens for r in fetched]),
        tokens_estimated=any(r.tokens_estimated for r in fetched),
        interrupted=missing > 0,
        error=error,
        glossary_misses=tuple(misses),
    )


def _sum(values: Sequence[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _summed(usages: Sequence[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    fields = ("prompt_tokens", "completion_tokens", "total_tokens")
    return Usage(**{f: _sum([getattr(u, f) for u in known]) for f in fields}) if known else None


# --- batches -----------------------------------------------------------------------------------


RECORD_EVERY = 500  # finished texts written to the history in one transaction


class Batch:
    """Texts planned into pieces and run through one pool of workers.

    A text is planned when the workers reach it and assembled, in input order, as soon as its
    pieces are done; its plan and its pieces' outcomes are let go then. So what a run holds
    besides its inputs and results is about the texts in flight, however many there are
    (a repeated piece is sent once while an earlier use is held or fetched, and the cache
    answers it after). A batch interrupted half way still assembles the rest at `results()`,
    from the pieces that were done. `total` counts every piece to translate, repeats too.
    """

    def __init__(
        self,
        texts: Sequence[str | None],
        preset: Preset,
        *,
        to: str,
        source: str | None,
        chunk_chars: int,
        translate_code: bool,
        keep: Callable[[Translation], Any] | None = None,
        record: str | None = None,
    ) -> None:
        if isinstance(texts, (str, bytes)):
            raise ConfigError(_NOT_A_LIST)
        preset_glossary(preset)  # a glossary that cannot be read: said before anything shows
        # Not copied: a list is the caller's, and a Series' rows are made as they are read.
        self.texts = texts if isinstance(texts, (list, SeriesTexts)) else list(texts)
        self.preset, self.to, self.source = preset, to, source
        self.keep = keep  # what a result is kept as (a Series keeps only the text)
        self._chunk_chars, self._translate_code = chunk_chars, translate_code
        # The total, counted with plans made and dropped: kept, they would cost ~0.2 KB a text.
        self.total = sum(sum(p.translate for p in self._plan(t)) for t in self.texts if t)
        self._plans: dict[int, list[Piece]] = {}  # texts reached and not assembled yet
        self._reached = 0  # the texts before this one have their plans made
        self._uses: dict[str, int] = {}  # pieces of those texts: uses still to assemble
        self.done = 0  # pieces translated (or found in the cache) so far
        self.outcomes: dict[str, _Outcome] = {}
        self._results: list[Any] = [None] * len(self.texts)
        self._next = 0  # the first text not assembled yet
        self._record = record  # the history kind texts are recorded as, once assembled
        self._unrecorded: list[Translation] = []
        self.started = time.perf_counter()

    def _plan(self, text: str) -> list[Piece]:
        return plan_pieces(text, self._chunk_chars, translate_code=self._translate_code)

    def _pieces(self) -> Iterator[str]:
        """Every piece to translate, text by text, each text planned as it is reached."""
        while self._reached < len(self.texts):
            i = self._reached
            text = self.texts[i]
            self._reached += 1
            if not text:
                continue
            plan = self._plans[i] = self._plan(text)
            pieces = [text[p.start : p.end] for p in plan if p.translate]
            for piece in pieces:
                self._uses[piece] = self._uses.get(piece, 0) + 1
            yield from pieces

    async def run(self, *, concurrency: int, on_done: Callable[[bool], None]) -> None:
        """Translate every piece, each text assembled (and recorded) once its pieces are."""
        self.started = time.perf_counter()

        def done(piece: str, outcome: _Outcome, cached: bool) -> None:
            self.outcomes[piece] = outcome
            self.done += outcome.text is not None
            on_done(cached)
            self._advance()

        # The preset's own limit wins, and a server known to interrupt concurrent requests
        # (llama-cpp-python's default) gets one at a time.
        concurrency = min(concurrency, self.preset.concurrency or concurrency)
        if get_client().quirks.has(server_of(self.preset), INTERRUPTS):
            concurrency = 1
        await _translate_pieces(
            self._pieces(),
            self.preset,
            to=self.to,
            source=self.source,
            concurrency=concurrency,
            on_done=done,
            held=self.outcomes.get,
        )

    def _advance(self, *, final: bool = False) -> None:
        """Assemble the texts whose pieces are all done, in order (`final`: every text)."""
        while self._next < len(self.texts):
            i, text = self._next, self.texts[self._next]
            if text is not None:
                plan = self._plans.pop(i, None) if text else []
                reached = plan is not None
                if plan is None:
                    if not final:
                        return  # the workers have not reached it yet
                    plan = self._plan(text)
                pieces = [text[p.start : p.end] for p in plan if p.translate]
                if not final and any(piece not in self.outcomes for piece in pieces):
                    self._plans[i] = plan
                    return
                wall = (time.perf_counter() - self.started) * 1000 if len(self.texts) == 1 else None
                translation = _assemble(
                    text, plan, self.outcomes, self.preset, to=self.to, source=self.source,
                    latency_ms=wall,
                )  # fmt: skip
                self._results[i] = self.keep(translation) if self.keep else translation
                if self._record and translation.source_text:
                    self._unrecorded.append(translation)
                for piece in pieces if reached else ():  # let go when no text to come uses it
                    self._uses[piece] -= 1
                    if not self._uses[piece]:
                        del self._uses[piece]
                        self.outcomes.pop(piece, None)
            self._next += 1
            if len(self._unrecorded) >= RECORD_EVERY:
                self._flush_records()

    def _flush_records(self) -> None:
        if self._record and self._unrecorded:
            record_runs(((t, self.preset, None) for t in self._unrecorded), kind=self._record)
        self._unrecorded = []

    def results(self) -> list[Any]:
        """Every text assembled, in input order (None stays None), and recorded."""
        self._advance(final=True)
        self._flush_records()
        return self._results


async def atranslate_many(
    texts: Sequence[str | None],
    preset: Preset,
    *,
    to: str,
    source: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    translate_code: bool = False,
    on_total: Callable[[int], None] = lambda total: None,
    on_done: Callable[[bool], None] = lambda cached: None,
    kind: str = "many",
    record: bool = True,
    keep: Callable[[Translation], Any] | None = None,
) -> list[Any]:
    """Every text (None stays None) through one pool of workers, in input order; `keep` makes
    what is kept of each result (default: the Translation)."""
    bounds.check("concurrency", concurrency)
    bounds.check("chunk_chars", chunk_chars)
    batch = Batch(
        texts,
        preset,
        to=to,
        source=source,
        chunk_chars=chunk_chars,
        translate_code=translate_code,
        keep=keep,
        record=kind if record else None,
    )
    on_total(batch.total)
    await batch.run(concurrency=concurrency, on_done=on_done)
    return batch.results()
