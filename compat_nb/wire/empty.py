"""Why an answer has no text: the likeliest cause for what the server sent, and the fix.

A server answers "successfully" with nothing in several ways: the prompt overflowed the
model's context (LM Studio, llama.cpp's servers and LiteLLM answer so), every token went to
reasoning, max tokens came first, or the stream was cut by another request (llama-cpp-python's
server). Each becomes one EmptyAnswerError whose `reason` names the kind.
"""

from __future__ import annotations

from ..config import advice
from ..config.presets import Preset
from ..config.urls import shown_url
from ..errors import EmptyAnswerError
from .protocol import ChatResult

__all__ = ["INTERRUPT_CAUSE", "empty_answer"]

INTERRUPT_CAUSE = (
    "llama-cpp-python's server does this to a running request when another arrives (start it "
    "with `--interrupt_requests False`, or send one request at a time: --concurrency 1)."
)


def empty_answer(
    preset: Preset,
    result: ChatResult,
    *,
    interrupted: bool = False,
    empty_body: bool = False,
) -> EmptyAnswerError:
    """Why a source got no translation, in the likeliest words for what the server sent."""
    where = shown_url(preset.base_url)
    finish = result.finish_reason
    tokens = result.usage.completion_tokens if result.usage else None
    plural = "" if tokens == 1 else "s"
    counted = f", {tokens:,} completion token{plural}" if tokens is not None else ""
    if interrupted:
        reason = "interrupted"
        text = (
            f"{where} ended the stream before any text, with no finish reason, and dropped the "
            f"connection. {INTERRUPT_CAUSE}"
        )
    elif finish == "length" and result.reasoning:
        reason = "reasoning"
        text = (
            f"{where} answered with no text: every token went to reasoning before max tokens "
            'was reached (finish_reason "length"). Raise max tokens (--max-tokens N, or '
            "max_tokens=N in Python) or turn the model's thinking off."
        )
    elif finish == "length":
        reason = "length"
        text = (
            f"{where} answered with no text before reaching max tokens (finish_reason "
            '"length"). Raise max tokens (--max-tokens N, or max_tokens=N in Python).'
        )
    elif result.reasoning:
        reason = "reasoning"
        text = (
            f"{where} answered with reasoning only ({len(result.reasoning):,} characters) and "
            f"no text (finish_reason {finish or 'none'}{counted}): the model's thinking never "
            "reached an answer, or its <think> block never closed. Turn the model's thinking "
            "off, or raise max tokens (--max-tokens N, or max_tokens=N in Python)."
        )
    else:
        reason = "context"
        what = (
            "sent an empty stream (no event at all)"
            if empty_body
            else f"answered with no text (finish_reason {finish or 'none'}{counted})"
        )
        text = (
            f"{where} {what}: the prompt is probably longer than the model's context window "
            "(LM Studio, llama.cpp's servers and LiteLLM answer an over-long prompt this "
            "way; the server's log says so). Load the model with a larger context, or send a "
            f"shorter text ({_split_long()})."
        )
    return EmptyAnswerError(text, reason=reason)


def _split_long() -> str:
    """Where the longest piece sent is set, in the words of where the message is read."""
    if advice.front_end() == "shell":
        return "`--chunk-chars N` sets the longest piece sent"
    if advice.options_in_python():
        return "translate_many and translate_notebook split long texts at `chunk_chars=N`"
    return "long cells are split at `%config TranslateMagics.chunk_chars` characters"
