"""What `%%translate` does in a cell: one streamed translation, a comparison, a long text.

Each runs a `compat_nb.work` engine with a live view and prints what the user must know.
"""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

from ..config.presets import Preset
from ..errors import CompatError, StreamError
from ..wire.aio import run_sync
from ..wire.client import get_client
from ..wire.protocol import ChatResult
from ..wire.textbuffer import TextBuffer
from ..work.translation import Translation, language_name, prompt_for, record
from . import display
from .display import StreamDisplay, result_bundle
from .options import CellOptions, CellSettings

if TYPE_CHECKING:
    # Comparisons and long texts import their engines when a cell asks for them: the first
    # plain %%translate of a session does not load them.
    from ..work.comparison import Comparison

__all__ = ["CellFailure", "compare_in_cell", "translate_in_cell", "translate_long_in_cell"]


def translate_in_cell(
    settings: CellSettings, text: str, preset: Preset, opts: CellOptions
) -> Translation:
    """One translation streamed into the cell, then its footer; long cells go in pieces.

    A failure is shown and raised (one paragraph, no traceback) after the partial text is
    kept; Ctrl-C keeps the partial text and returns it.
    """
    target = language_name(opts.to or preset.target_language or settings.target_language)
    source = opts.source or settings.source_language
    source = language_name(source) if source else None
    if len(text) > settings.chunk_chars:
        return translate_long_in_cell(settings, text, preset, opts, target=target, source=source)
    messages, terms = prompt_for(text, preset, to=target, source=source)
    # One copy of the text: the stream appends to it, the view reads it (a long answer would
    # otherwise be held twice while it streams, and three times as it is joined at the end).
    buffer = TextBuffer()
    view = StreamDisplay(
        format=opts.format or settings.output_format, rate=settings.display_rate, text=buffer
    )
    view.start()
    client = get_client()
    result: ChatResult | None = None
    failure: CompatError | None = None
    interrupted = False
    if opts.no_stream or not settings.stream:
        try:
            result = client.chat(preset, messages)
        except CompatError as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
    else:
        stream = client.stream(preset, messages, buffer=buffer)
        try:
            for item in stream:
                if isinstance(item, str):
                    view.append(item)
                else:
                    result = item
        except CompatError as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True  # closing the stream below closes the response
        finally:
            stream.close()
    if result is not None:
        translation = Translation.from_result(
            result,
            source_text=text,
            preset=preset,
            target_language=target,
            source_language=source,
            terms=terms,
        )
    else:
        partial = failure.partial if isinstance(failure, StreamError) else view.text
        translation = Translation.failed(
            partial,
            source_text=text,
            preset=preset,
            target_language=target,
            source_language=source,
            error=failure.message if failure else None,
            interrupted=interrupted,
        )
    if result is not None or translation.text:
        view.finish(translation.text, translation.footer())
    else:
        view.finish("", None)
    if settings.record_history:
        record(translation, preset)
    if failure is not None:
        raise CellFailure(failure, translation)
    for note in translation.notes:  # what the client changed to get this answer, said once
        print(f"Note: {note}", file=sys.stderr)
    if interrupted:
        print("Interrupted: the partial translation above is kept.", file=sys.stderr)
    return translation


class CellFailure(Exception):
    """A translation failed after its partial text was shown: the error, and what was kept."""

    def __init__(self, error: CompatError, translation: Translation) -> None:
        super().__init__(error.message)
        self.error, self.translation = error, translation


def compare_in_cell(
    settings: CellSettings, cell: str, candidates: list[Preset], opts: CellOptions
) -> Comparison:
    """`%%translate` with several -p/-m or --runs: live columns, then the figures."""
    from ..work.comparison_run import ComparisonSession
    from .api import live_grid

    session = ComparisonSession(
        cell,
        candidates,
        to=opts.to,
        default_to=settings.target_language,
        source=opts.source or settings.source_language,
        runs=opts.runs,
        concurrency=opts.concurrency,
        stream=settings.stream and not opts.no_stream,
        record=bool(settings.record_history),
    )
    try:
        return run_sync(session.run(live_grid(settings.display_rate)))
    except KeyboardInterrupt:
        print("Interrupted: the runs that finished are kept.", file=sys.stderr)
        return session.result()


def translate_long_in_cell(
    settings: CellSettings,
    text: str,
    preset: Preset,
    opts: CellOptions,
    *,
    target: str,
    source: str | None,
) -> Translation:
    """`%%translate` on a cell longer than `chunk_chars`: a progress bar, then the whole text.

    Ctrl-C keeps what is done, as a short cell keeps its partial text: the pieces translated
    so far, the others as their original, marked.
    """
    from ..work.chunking import Batch
    from .live import Progress

    bar = Progress(kernel=display.in_kernel(), rate=settings.display_rate)
    batch = Batch(
        [text],
        preset,
        to=target,
        source=source,
        chunk_chars=settings.chunk_chars,
        translate_code=opts.translate_code,
        record="long" if settings.record_history else None,
    )
    bar.start(batch.total)
    concurrency = opts.concurrency or settings.concurrency
    # Ctrl-C: run_sync cancels the pieces still running; the ones done are kept (and cached).
    with contextlib.suppress(KeyboardInterrupt):
        run_sync(batch.run(concurrency=concurrency, on_done=bar.step))
    (translation,) = batch.results()
    assert translation is not None
    pieces = f"{batch.done} of {bar.total}" if translation.interrupted else f"{bar.total}"
    footer = f"{translation.footer()} · {pieces} pieces"
    if bar.cached:
        footer += f" ({bar.cached} from the cache)"
    markdown = (opts.format or settings.output_format) == "markdown"
    bar.finish(result_bundle(translation.text, footer, markdown=markdown))
    if translation.error:
        print(f"⚠ {translation.error}", file=sys.stderr)
    if translation.interrupted:
        print(
            "Interrupted: the translated pieces are kept (and cached); run the cell again to "
            "finish.",
            file=sys.stderr,
        )
    return translation
