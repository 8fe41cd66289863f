"""The Python functions that may show something live: comparison columns, a progress bar.

Each wraps an engine of `compat_nb.work` and adds the view; `compat_nb.<name>` re-exports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config.presets import Preset
from ..wire.aio import run_sync
from ..work.chunking import (
    DEFAULT_CHUNK_CHARS,
    DEFAULT_CONCURRENCY,
    atranslate_many,
    texts_of,
)
from ..work.comparison import Comparison
from ..work.comparison_run import ViewFactory
from ..work.comparison_run import acompare as run_comparison
from ..work.translation import DEFAULT_TARGET, Translation, language_name, resolve_preset
from . import display
from .live import LiveGrid, Progress

__all__ = ["acompare", "compare", "live_grid", "translate_many"]


def live_grid(rate: float = 20.0) -> ViewFactory:
    """A view factory: comparison columns streaming into the cell (or printed in a terminal)."""

    def make(labels: Sequence[str], runs: int) -> LiveGrid:
        return LiveGrid(labels, kernel=display.in_kernel(), rate=rate, runs=runs)

    return make


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
    live: bool = False,
    **overrides: Any,
) -> Comparison:
    """`compare` for async code: same arguments, returns the same Comparison."""
    return await run_comparison(
        text,
        presets,
        models,
        to=to,
        source=source,
        runs=runs,
        concurrency=concurrency,
        stream=stream,
        view=live_grid() if live else None,
        **overrides,
    )


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
    live: bool = False,
    **overrides: Any,
) -> Comparison:
    """Translate text with every preset × every model at the same time; returns a Comparison.

    presets: names or Preset objects (default: the active preset); models: ids that replace
    each preset's own (default: its own). `runs` repeats each candidate, `concurrency` caps
    the requests at once (default: every candidate, up to 16), `live` shows the columns as
    they stream. Overrides are preset fields for every candidate (temperature=0.2, ...).
    Without `to`, each candidate translates into its preset's target language (else English).

    The Comparison holds one row per run of each candidate: its text and figures (TTFT and
    total in ms, tokens, tokens/s, cost in $). A failed candidate is a row with an error,
    the others go on; a text, preset or model list that cannot be used raises ConfigError.
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
            live=live,
            **overrides,
        )
    )


def translate_many(
    texts: Any,
    to: str | None = None,
    preset: str | Preset | None = None,
    *,
    source: str | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    translate_code: bool = False,
    progress: bool | None = None,
    **overrides: Any,
) -> Any:
    """Translate a list of texts (-> list[Translation]) or a pandas Series (-> Series of str).

    Results keep the input order (a Series keeps its index and name). At most `concurrency`
    requests run at once; texts longer than `chunk_chars` characters go in pieces, cut at
    Markdown block boundaries (CommonMark: never inside a code fence or an HTML block). A
    failed text is a Translation with `.error` (in a Series: None, with a warning); run
    again to retry only the failures. With a preset glossary, each Translation lists the
    terms it did not follow in `.glossary_misses` (a Series: a warning counts them). Runs
    inside Dask's `map_partitions`: pass a Preset object (a name resolves in each worker's
    own store), ideally with `api_key_env` rather than a key, which would travel to the
    workers inside the pickled Preset. A preset or option that cannot be used raises
    ConfigError before anything is sent.
    """
    items, series = texts_of(texts)
    resolved = resolve_preset(preset, **overrides)
    target = language_name(to or resolved.target_language or DEFAULT_TARGET)
    source = language_name(source) if source else None
    kernel = display.in_kernel()
    bar = Progress(kernel=kernel) if (kernel if progress is None else progress) else None
    failed: list[str] = []
    unfollowed: list[str] = []  # per text, the first glossary term it did not follow

    def text_only(translation: Translation) -> str | None:
        # A Series keeps the text alone: a Translation per row would hold ~1 KB each.
        if translation.glossary_misses:
            unfollowed.append(translation.glossary_misses[0].shown)
        if translation.error:
            failed.append(translation.error)
            return None
        return translation.text

    results = run_sync(
        atranslate_many(
            items,
            resolved,
            to=target,
            source=source,
            concurrency=concurrency,
            chunk_chars=chunk_chars,
            translate_code=translate_code,
            on_total=bar.start if bar else lambda total: None,
            on_done=bar.step if bar else lambda cached: None,
            keep=text_only if series is not None else None,
        )
    )
    if series is None:
        return results
    import warnings

    if failed:
        warnings.warn(
            f"{len(failed)} of {len(items)} texts failed and are left missing; run again to "
            f"retry only those. First: {failed[0]}",
            stacklevel=2,
        )
    if unfollowed:
        warnings.warn(
            f"{len(unfollowed)} of {len(items)} translations do not use a glossary term as "
            f"given (first: {unfollowed[0]}); pass a list instead of a Series to get each "
            "Translation's .glossary_misses.",
            stacklevel=2,
        )
    return type(series)(results, index=series.index, name=series.name, dtype=object)
