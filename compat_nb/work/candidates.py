"""The candidates of an evaluation: preset × model × settings, each with a label that says
what sets it apart from the others.

A candidate is written as a preset name, a Preset, a (preset, model) pair, or a dict with
`preset` plus any of model, temperature, max_tokens, system (or system_prompt), label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config.presets import Preset
from ..errors import ConfigError
from .translation import resolve_preset

__all__ = ["Candidate", "resolve_candidates"]

_SETTINGS = {
    "model": "model",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "system": "system_prompt",
    "system_prompt": "system_prompt",
    "base_url": "base_url",
    "api_key_env": "api_key_env",
    "timeout": "timeout",
}
_SPEC_HELP = (
    'a preset name, a Preset, a (preset, model) pair, or a dict such as {"preset": "Local", '
    '"temperature": 0.2, "system": "formal register"}'
)


@dataclass(frozen=True)
class Candidate:
    """One column of an evaluation: a usable preset (with its model and settings) and a label."""

    label: str
    preset: Preset


def _one(spec: Any, common: Mapping[str, Any]) -> tuple[Preset, str | None]:
    """The preset a spec names (checked for usability) and its explicit label, if any."""
    if isinstance(spec, (str, Preset)) or spec is None:
        return resolve_preset(spec, **common), None
    if isinstance(spec, tuple) and len(spec) == 2:
        return resolve_preset(spec[0], **{**common, "model": spec[1]}), None
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(_SETTINGS) - {"preset", "label"}
        if unknown:
            raise ConfigError(
                f"Unknown candidate setting(s) {', '.join(sorted(map(str, unknown)))}; use "
                f"preset, label, {', '.join(k for k in _SETTINGS if k != 'system_prompt')}."
            )
        settings = {_SETTINGS[k]: v for k, v in spec.items() if k in _SETTINGS}
        label = spec.get("label")
        return resolve_preset(spec.get("preset"), **{**common, **settings}), (
            str(label) if label else None
        )
    raise ConfigError(f"A candidate is {_SPEC_HELP}; got {type(spec).__name__}.")


def _differences(presets: Sequence[Preset]) -> list[list[str]]:
    """For each preset, the parts of its description that vary across the candidates: the
    preset and model names, and the settings only when those names do not tell them apart."""
    parts: list[list[str]] = [[] for _ in presets]

    def vary(values: list[Any], show: Any) -> None:
        if len(set(values)) > 1:
            for i, value in enumerate(values):
                parts[i].append(show(value))

    vary([p.name for p in presets], str)
    if any(p.model != p.name for p in presets):  # a preset named after its model says it once
        vary([p.model for p in presets], str)
    if len({tuple(x) for x in parts}) == len(presets):
        return parts
    vary([p.temperature for p in presets], lambda t: "default T" if t is None else f"T={t:g}")
    vary([p.max_tokens for p in presets], lambda n: "default max" if n is None else f"max {n}")
    vary(
        [p.system_prompt or "" for p in presets],
        lambda s: f"“{s[:24]}…”" if len(s) > 24 else (f"“{s}”" if s else "no system note"),
    )
    return parts


def resolve_candidates(specs: Any, **common: Any) -> list[Candidate]:
    """Every candidate spec as a usable preset with a unique label; `common` settings (e.g.
    temperature=0) apply to every candidate unless the candidate sets its own.

    Raises ConfigError naming the candidate at fault.
    """
    if specs is None:
        specs = [None]  # the active preset
    elif isinstance(specs, (str, Preset, Mapping)) or (
        isinstance(specs, tuple) and len(specs) == 2 and isinstance(specs[1], str)
    ):
        specs = [specs]
    specs = list(specs)
    if not specs:
        raise ConfigError(f"Name at least one candidate: {_SPEC_HELP}.")
    resolved: list[tuple[Preset, str | None]] = []
    for n, spec in enumerate(specs, start=1):
        try:
            resolved.append(_one(spec, {k: v for k, v in common.items() if v is not None}))
        except ConfigError as exc:
            raise ConfigError(f"Candidate {n}: {exc.message}") from None
    presets = [p for p, _ in resolved]
    # What sets a candidate apart is told among those the user did not label.
    unlabelled = [i for i, (_, label) in enumerate(resolved) if not label]
    described = dict(zip(unlabelled, _differences([presets[i] for i in unlabelled]), strict=True))
    labels = []
    for i, (preset, label) in enumerate(resolved):
        plain = preset.name if preset.name == preset.model else f"{preset.name} · {preset.model}"
        labels.append(label or " · ".join(described.get(i, [])) or plain)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):  # the same candidate twice still gets two columns
        seen[label] = seen.get(label, 0) + 1
        labels[i] = label if seen[label] == 1 else f"{label} ({seen[label]})"
    return [Candidate(label, preset) for label, preset in zip(labels, presets, strict=True)]
