"""Long texts and many texts: split at paragraph boundaries, translate concurrently, reassemble.

Finished pieces are cached in this process, so a re-run fetches only the pieces that failed
or were interrupted.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..config.presets import Preset
from ..errors import CompatError, ConfigError
from ..wire.client import get_client
from ..wire.protocol import ChatResult, Usage
from .pieces import Piece, plan_pieces
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

_cache: OrderedDict[tuple[str, ...], str] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_key(preset: Preset, to: str, source: str | None, piece: str) -> tuple[str, ...]:
    import json

    options = json.dumps(preset.options(), sort_keys=True)
    system = preset.system_prompt or ""
    return (preset.base_url, preset.model, options, to, source or "", system, piece)


def clear_cache() -> None:
    """Forget every translated piece, so the next run fetches everything again."""
    with _cache_lock:
        _cache.clear()


@dataclass
class _Outcome:
    text: str | None = None
    error: str | None = None
    result: ChatResult | None = None


async def _translate_pieces(
    pieces: Sequence[str],
    preset: Preset,
    *,
    to: str,
    source: str | None,
    concurrency: int,
    on_done: Callable[[bool], None],
    into: dict[str, _Outcome],
) -> None:
    """Each distinct piece translated once (from the cache when it can be), at most
    `concurrency` requests at a time, its outcome put `into` as soon as it is done;
    failures are outcomes, not exceptions."""
    client = get_client()
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(piece: str) -> None:
        key = _cache_key(preset, to, source, piece)
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None:
            into[piece] = _Outcome(text=hit)
            on_done(True)
            return
        messages = build_messages(piece, to=to, source=source, system=preset.system_prompt)
        async with gate:
            try:
                result = await client.achat(preset, messages)
            except CompatError as exc:
                into[piece] = _Outcome(error=preset.redact(exc.message))
                on_done(False)
                return
        text = clean_output(result.text, piece)
        with _cache_lock:
            _cache[key] = text
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        into[piece] = _Outcome(text=text, result=result)
        on_done(False)

    await asyncio.gather(*(one(piece) for piece in dict.fromkeys(pieces)))


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
    )


def _sum(values: Sequence[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _summed(usages: Sequence[Usage | None]) -> Usage | None:
    known = [u for u in usages if u is not None]
    fields = ("prompt_tokens", "completion_tokens", "total_tokens")
    return Usage(**{f: _sum([getattr(u, f) for u in known]) for f in fields}) if known else None


# --- batches -----------------------------------------------------------------------------------


class Batch:
    """Texts planned into pieces and run through one pool. `outcomes` fills in piece by piece,
    so a batch interrupted half way still assembles, from the pieces that were done."""

    def __init__(
        self,
        texts: Sequence[str | None],
        preset: Preset,
        *,
        to: str,
        source: str | None,
        chunk_chars: int,
        translate_code: bool,
    ) -> None:
        if isinstance(texts, (str, bytes)):
            raise ConfigError(_NOT_A_LIST)
        self.texts, self.preset, self.to, self.source = list(texts), preset, to, source
        self.plans = [
            plan_pieces(t, chunk_chars, translate_code=translate_code) if t else []
            for t in self.texts
        ]
        self.wanted = [
            t[p.start : p.end]
            for t, plan in zip(self.texts, self.plans, strict=True)
            if t
            for p in plan
            if p.translate
        ]
        self.total = len(set(self.wanted))
        self.outcomes: dict[str, _Outcome] = {}
        self.started = time.perf_counter()

    async def run(self, *, concurrency: int, on_done: Callable[[bool], None]) -> None:
        self.started = time.perf_counter()
        await _translate_pieces(
            self.wanted,
            self.preset,
            to=self.to,
            source=self.source,
            concurrency=concurrency,
            on_done=on_done,
            into=self.outcomes,
        )

    def results(self, *, record: str | None = None) -> list[Translation | None]:
        """Every text assembled, in input order; `record` names the history kind to record as."""
        wall = (time.perf_counter() - self.started) * 1000 if len(self.texts) == 1 else None
        results = [
            None
            if t is None
            else _assemble(
                t, plan, self.outcomes, self.preset, to=self.to, source=self.source, latency_ms=wall
            )
            for t, plan in zip(self.texts, self.plans, strict=True)
        ]
        if record:
            done = ((t, self.preset, None) for t in results if t and t.source_text)
            record_runs(done, kind=record)
        return results


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
) -> list[Translation | None]:
    """Every text (None stays None) through one shared pool of pieces, in input order."""
    batch = Batch(
        texts, preset, to=to, source=source, chunk_chars=chunk_chars, translate_code=translate_code
    )
    on_total(batch.total)
    await batch.run(concurrency=concurrency, on_done=on_done)
    return batch.results(record=kind if record else None)


_NOT_A_LIST = (
    "translate_many takes a list or a pandas Series of texts; for one text use translate()."
)


def texts_of(texts: Any) -> tuple[list[str | None], Any]:
    """The texts as a list (a Series' missing values as None), and the Series if it is one."""
    if isinstance(texts, (str, bytes)):
        raise ConfigError(_NOT_A_LIST)
    pandas: Any = sys.modules.get("pandas")  # a Series can only come from an imported pandas
    series = texts if pandas is not None and isinstance(texts, pandas.Series) else None
    try:
        items: list[Any] = list(texts.tolist() if series is not None else texts)
    except TypeError:
        raise ConfigError(f"{_NOT_A_LIST} Got {type(texts).__name__}.") from None
    for i, item in enumerate(items):
        if isinstance(item, str):
            continue
        if series is not None and pandas.api.types.is_scalar(item) and pandas.isna(item):
            items[i] = None  # NaN or None in a data set column: left missing
            continue
        where = f"item {i}" if series is None else f"the item at index {series.index[i]!r}"
        raise ConfigError(f"translate_many takes str items; {where} is {type(item).__name__}.")
    return items, series
