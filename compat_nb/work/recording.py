"""What a translation leaves in the run history (work/history.py): one row per finished or
failed run, with its options (never headers: gateways take keys there), usage and cost.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..config.presets import Preset
from ..config.urls import host_of
from ..wire.protocol import cost_of
from . import history

if TYPE_CHECKING:
    from .translation import Translation

__all__ = ["options_of", "record", "record_runs", "row_for"]


def options_of(preset: Preset | None) -> str | None:
    """The options that shaped a run's prompt and answer, as JSON: request options, the
    system prompt, the glossary file. Headers are left out on purpose: gateways take keys
    in custom headers too."""
    if preset is None:
        return None
    values = {**preset.options(), "system_prompt": preset.system_prompt}
    values["glossary"] = preset.glossary
    return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True)


def row_for(
    translation: Translation,
    preset: Preset | None = None,
    *,
    kind: str = "translate",
    comparison: str | None = None,
    run: int | None = None,
) -> dict[str, Any]:
    """The history row for one finished (or failed) translation."""
    usage = translation.usage
    error = translation.error or ("interrupted" if translation.interrupted else None)
    if error and preset is not None:
        error = preset.redact(error)
    return {
        "time": time.time(),
        "kind": kind,
        "preset": translation.preset,
        "host": host_of(translation.base_url),
        "model": translation.model,
        "options": options_of(preset),
        "target": translation.target_language,
        "source": translation.source_language,
        "input_sha256": hashlib.sha256(
            translation.source_text.encode("utf-8", "surrogatepass")
        ).hexdigest(),
        "input_chars": len(translation.source_text),
        "output": translation.text,
        "ttft_ms": translation.ttft_ms,
        "latency_ms": translation.latency_ms,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else translation.output_tokens,
        "total_tokens": usage.total_tokens if usage else None,
        "cost": cost_of(preset, usage),
        "finish_reason": translation.finish_reason,
        "error": error,
        "comparison": comparison,
        "run": run,
    }


def record(
    translation: Translation,
    preset: Preset | None = None,
    *,
    kind: str = "translate",
    comparison: str | None = None,
    run: int | None = None,
) -> None:
    """Record one run in the history (unless `compat_nb.runlog.enabled` is False); never
    raises: a problem is a HistoryWarning."""
    if not history.enabled:
        return
    try:
        row = row_for(translation, preset, kind=kind, comparison=comparison, run=run)
    except Exception as exc:
        history.warn_unrecorded(exc)
        return
    history.record_many([row])


def record_runs(
    runs: Iterable[tuple[Translation, Preset | None, int | None]],
    *,
    kind: str,
    comparison: str | None = None,
) -> int:
    """Record several (translation, preset, run number) in one transaction; never raises."""
    if not history.enabled:
        return 0
    try:
        rows = [row_for(t, p, kind=kind, comparison=comparison, run=r) for t, p, r in runs]
    except Exception as exc:
        history.warn_unrecorded(exc)
        return 0
    return history.record_many(rows)
