"""Translation on top of the chat client: the prompt, the clean-up, and the Translation result.

`resolve_preset` is the one place a preset name, flags and overrides become a usable Preset.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..config.presets import Preset
from ..config.store import get_store
from ..config.urls import host_of, normalize_base_url, shown_url
from ..errors import CompatError, ConfigError
from ..wire.client import get_client
from ..wire.protocol import ChatResult, Usage, tokens_per_second
from .glossary import Glossary, Term, preset_terms
from .languages import resolve_language
from .recording import record, record_runs, row_for  # the run history, as before
from .table import counted, format_ms

__all__ = [
    "DEFAULT_TARGET",
    "PROMPT_VERSION",
    "Translation",
    "atranslate",
    "build_messages",
    "clean_output",
    "prompt_for",
    "record",
    "record_runs",
    "resolve_preset",
    "row_for",
    "translate",
]

DEFAULT_TARGET = "English"

# Part of every cached answer's key (work/cache.py): bump it whenever the prompt's text below
# changes, so answers to the old prompt are never served for the new one.
PROMPT_VERSION = "2"  # 2: languages named "French (fr)", with their BCP 47 tag

_INSTRUCTION = (
    "You are a translation engine. Translate the user's message into {target}{source}. "
    "Keep Markdown formatting, code, LaTeX, URLs and line breaks exactly as they are. "
    "Output only the translation: no preamble, no explanations, no notes, no quotes around it."
)


def language_name(value: str) -> str:
    """A language given by tag or name ("fr", "pt-BR", "French") as the English name results
    carry ("French", "Brazilian Portuguese"); ConfigError naming the closest when unknown."""
    return resolve_language(value).english_name


def build_messages(
    text: str,
    *,
    to: str,
    source: str | None = None,
    system: str | None = None,
    terms: Sequence[Term] = (),
) -> list[dict[str, str]]:
    """The chat messages for one translation; the text goes literally as the user message.

    `to` and `source` are tags or names; the prompt names each in English with its BCP 47
    tag ("Brazilian Portuguese (pt-BR)"), which leaves a model no doubt about the variety.
    `terms` (glossary entries found in the text) follow `system` as instructions.
    """
    target = resolve_language(to).prompt_name
    origin = f" from {resolve_language(source).prompt_name}" if source else ""
    instruction = _INSTRUCTION.format(target=target, source=origin)
    extra = "\n\n".join(e for e in ((system or "").strip(), Glossary.instructions(terms)) if e)
    if extra:
        # Appended, never replacing the fixed part: a preset's style note must not be able
        # to turn the translator into a chat assistant.
        instruction += "\n\nAdditional instructions:\n" + extra
    return [{"role": "system", "content": instruction}, {"role": "user", "content": text}]


def prompt_for(
    text: str, preset: Preset, *, to: str, source: str | None = None
) -> tuple[list[dict[str, str]], list[Term]]:
    """The messages that translate `text` with `preset` (its system prompt, and the terms of
    its glossary that the text contains), and those terms, to check the answer against."""
    terms = preset_terms(preset, text)
    system = preset.system_prompt
    return build_messages(text, to=to, source=source, system=system, terms=terms), terms


_FENCE = re.compile(r"^\s*(```|~~~)[^\n]*\n(.*?)\n?\1\s*$", re.S)


def clean_output(text: str, source: str) -> str:
    """Remove a code fence wrapped around the whole answer when the source had none."""
    match = _FENCE.match(text)
    if match and not _FENCE.match(source):
        text = match.group(2)
    return text.strip("\n") if not source.endswith("\n") else text.strip("\n") + "\n"


@dataclass(frozen=True)
class Translation:
    """A finished (or interrupted) translation, with where it came from and how fast.

    `str()` is the text; in a notebook it renders as Markdown. Times are in ms: `ttft_ms`
    (request sent to first token), `latency_ms` (to the last), `waited_ms` (retries and
    Retry-After waits before the answer began). `output_tokens` is the server's count, else
    the number of streamed deltas (`tokens_estimated`). A failed or interrupted run keeps the
    text received so far, with `error` saying why.
    """

    text: str
    source_text: str = field(repr=False)
    target_language: str
    preset: str
    model: str
    base_url: str = field(default="", repr=False)
    source_language: str | None = None
    reasoning: str = field(default="", repr=False)
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    output_tokens: int | None = None
    tokens_estimated: bool = False
    interrupted: bool = False
    error: str | None = None
    waited_ms: float | None = None  # retries and Retry-After waits before the answer began
    glossary_misses: tuple[Term, ...] = ()  # glossary terms the text has and the answer lacks
    notes: tuple[str, ...] = field(default=(), repr=False)  # what was changed to get it

    @classmethod
    def from_result(
        cls,
        result: ChatResult,
        *,
        source_text: str,
        preset: Preset,
        target_language: str,
        source_language: str | None = None,
        terms: Sequence[Term] = (),
    ) -> Translation:
        """A finished answer; `terms` are the glossary entries the prompt carried, each
        checked in the answer."""
        text = clean_output(result.text, source_text)
        return cls(
            text=text,
            source_text=source_text,
            target_language=target_language,
            source_language=source_language,
            preset=preset.name,
            model=preset.model,
            base_url=preset.base_url,
            reasoning=result.reasoning,
            usage=result.usage,
            finish_reason=result.finish_reason,
            latency_ms=result.latency_ms,
            ttft_ms=result.ttft_ms,
            output_tokens=result.output_tokens,
            tokens_estimated=result.tokens_estimated,
            waited_ms=result.waited_ms or None,
            notes=result.notes,
            glossary_misses=tuple(Glossary.misses(terms, text)),
        )

    @classmethod
    def failed(
        cls,
        partial: str,
        *,
        source_text: str,
        preset: Preset,
        target_language: str,
        source_language: str | None = None,
        error: str | None = None,
        interrupted: bool = False,
    ) -> Translation:
        """A run that did not finish: the text received before it stopped, and why."""
        return cls(
            text=partial,
            source_text=source_text,
            target_language=target_language,
            source_language=source_language,
            preset=preset.name,
            model=preset.model,
            base_url=preset.base_url,
            error=error,
            interrupted=interrupted,
        )

    @property
    def tokens_per_second(self) -> float | None:
        """Output tokens per second of generation (after the first token), or None."""
        return tokens_per_second(self.output_tokens, self.latency_ms, self.ttft_ms)

    def footer(self) -> str:
        """preset · model · TTFT · total · tokens · tokens/s, with what is known.

        TTFT, total and tok/s time the answer itself; time spent waiting on retries (a 429's
        Retry-After, a 503) before it is said apart, so it never shows as a slow model.
        """
        parts = [self.preset, self.model]
        if self.ttft_ms is not None:
            parts.append(f"TTFT {format_ms(self.ttft_ms)}")
        if self.latency_ms is not None:
            parts.append(f"total {format_ms(self.latency_ms)}")
        if self.output_tokens:
            approx = "~" if self.tokens_estimated else ""
            parts.append(f"{approx}{counted(self.output_tokens, 'token')}")
        if self.tokens_per_second:
            parts.append(f"{self.tokens_per_second:.1f} tok/s")
        if self.waited_ms and self.waited_ms >= 1:
            parts.append(f"after {format_ms(self.waited_ms)} of retries")
        if self.finish_reason == "length":
            parts.append("cut off at max tokens")
        if self.glossary_misses:
            missed = ", ".join(t.shown for t in self.glossary_misses)
            parts.append(f"glossary not followed: {missed}")
        if self.interrupted:
            parts.append("interrupted: partial text")
        elif self.error:
            parts.append("failed: partial text")
        return " · ".join(parts)

    def __str__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text


def resolve_preset(
    preset: str | Preset | None = None,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    **overrides: Any,
) -> Preset:
    """The preset a call should use: named (or active), or ad hoc from base_url; overrides win.

    Overrides with None are ignored; the result is checked for usability.
    """
    subject = None
    if isinstance(preset, Preset):
        chosen = preset
    elif base_url and preset is None:
        # Named by host and port: the URL itself may carry a query the user keeps private.
        # No saved preset has that name, so a message names the server instead.
        chosen = Preset(name=host_of(normalize_base_url(base_url)), base_url=base_url)
        subject = f"The server at {shown_url(chosen.base_url)}"
    elif preset is not None:
        chosen = get_store().get(preset)
    else:
        chosen = get_store().active
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "max_completion_tokens" in changes:
        # OpenAI's newer name for the same limit: the preset keeps one field, and the client
        # sends whichever name the server asks for (remembered per server).
        limit = changes.pop("max_completion_tokens")
        if changes.setdefault("max_tokens", limit) != limit:
            raise ConfigError(
                "max_tokens and max_completion_tokens name the same limit: give only one."
            )
    if base_url:
        changes["base_url"] = base_url
    if api_key_env:
        changes["api_key_env"] = api_key_env
    unknown = set(changes) - set(Preset.__dataclass_fields__)
    if unknown:
        raise ConfigError(f"Unknown setting(s) {', '.join(sorted(unknown))}.")
    return (chosen.replace(**changes) if changes else chosen).require_usable(subject)


def _prepare(
    text: str,
    to: str | None,
    preset: str | Preset | None,
    source: str | None,
    overrides: dict[str, Any],
) -> tuple[Preset, list[dict[str, str]], str, list[Term]]:
    if not isinstance(text, str):
        raise ConfigError(f"translate() takes text as str, not {type(text).__name__}.")
    resolved = resolve_preset(preset, **overrides)
    target = language_name(to or resolved.target_language or DEFAULT_TARGET)
    messages, terms = prompt_for(text, resolved, to=target, source=source)
    return resolved, messages, target, terms


def translate(
    text: str,
    to: str | None = None,
    preset: str | Preset | None = None,
    *,
    source: str | None = None,
    **overrides: Any,
) -> Translation:
    """Translate text with a preset (the active one by default); returns a Translation.

    to: a BCP 47 tag (fr, pt-BR) or a language name (default: the preset's target language,
    else English); source: the same, when the model should not guess it. Overrides are
    preset fields for this call: model, base_url, api_key_env, temperature, max_tokens,
    system_prompt, timeout (s), deadline (s), headers. Raises ConfigError for a preset or
    option that cannot be used, and a CompatError subclass naming the cause and the fix when
    the server fails (errors.py draws the tree); the run is recorded in the history.
    """
    resolved, messages, target, terms = _prepare(text, to, preset, source, overrides)
    run = _Run(text, resolved, target, source, terms)
    with run.recording_failures():
        result = get_client().chat(resolved, messages)
    return run.finished(result)


async def atranslate(
    text: str,
    to: str | None = None,
    preset: str | Preset | None = None,
    *,
    source: str | None = None,
    **overrides: Any,
) -> Translation:
    """`translate` for async code (one shared async connection pool); same arguments,
    result and errors."""
    resolved, messages, target, terms = _prepare(text, to, preset, source, overrides)
    run = _Run(text, resolved, target, source, terms)
    with run.recording_failures():
        result = await get_client().achat(resolved, messages)
    return run.finished(result)


@dataclass(frozen=True)
class _Run:
    """One API call's context, so the sync and async faces record runs the same way."""

    text: str
    preset: Preset
    target: str
    source: str | None
    terms: list[Term]

    def finished(self, result: ChatResult) -> Translation:
        translation = Translation.from_result(
            result,
            source_text=self.text,
            preset=self.preset,
            target_language=self.target,
            source_language=self.source,
            terms=self.terms,
        )
        record(translation, self.preset)
        return translation

    @contextlib.contextmanager
    def recording_failures(self) -> Iterator[None]:
        """A failed run is history too; the error goes on to the caller."""
        try:
            yield
        except CompatError as exc:
            failed = Translation.failed(
                getattr(exc, "partial", ""),
                source_text=self.text,
                preset=self.preset,
                target_language=self.target,
                source_language=self.source,
                error=exc.message,
            )
            record(failed, self.preset)
            raise
