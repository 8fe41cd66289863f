"""What a preset is: one OpenAI-compatible endpoint and the settings a translation sends to it.

A `Preset` is immutable; editing one means `preset.replace(...)` and saving it in the store.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError, redact
from .urls import normalize_base_url

__all__ = ["LOCAL_PRESET_NAME", "Preset"]

LOCAL_PRESET_NAME = "Local"

# name -> (lowest, highest, how a message says it); None means no upper bound.
_RANGES: dict[str, tuple[float, float | None, str]] = {
    "temperature": (0.0, 2.0, "a number from 0 to 2"),
    "max_tokens": (1, None, "a whole number of at least 1"),
    "timeout": (0.0, None, "a number of seconds above 0"),
    "input_price": (0.0, None, "a price of 0 or more"),
    "output_price": (0.0, None, "a price of 0 or more"),
}
_SECRET_HEADER = re.compile(r"api[-_]?key|token|secret|password|cookie|auth", re.I)
_ENV_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _header_safe(text: str) -> bool:
    return text.isascii() and not any(ord(c) < 32 or ord(c) == 127 for c in text)


@dataclass(frozen=True)
class Preset:
    """One OpenAI-compatible endpoint and the settings a translation sends to it.

    Options left as None are never sent, so the server's own defaults apply. The key is either
    given directly (kept apart from the presets file by the store) or named by `api_key_env`.
    """

    name: str
    base_url: str = ""
    model: str = ""
    api_key: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system_prompt: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float | None = None
    target_language: str | None = None
    input_price: float | None = None  # per million tokens, for comparison costs
    output_price: float | None = None
    hint: str | None = field(default=None, compare=False)  # how to make a built-in usable

    def __post_init__(self) -> None:
        # Normalising here means every path (panel, magic flag, file) agrees on one spelling.
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if not isinstance(self.model or "", str):
            raise ConfigError(
                f"Preset {self.name!r}: the model id must be text, not {self.model!r}."
            )
        object.__setattr__(self, "model", (self.model or "").strip())
        object.__setattr__(self, "headers", dict(self.headers or {}))
        # A key read from a file often ends in a newline; sent as is it breaks the header.
        object.__setattr__(self, "api_key", (self.api_key or "").strip() or None)
        if self.api_key and not _header_safe(self.api_key):
            raise ConfigError(
                f"Preset {self.name!r}: the API key holds characters an HTTP header cannot "
                "carry (a line break inside it, or non-ASCII letters). Paste it again."
            )
        if self.api_key_env is not None:
            object.__setattr__(self, "api_key_env", self.api_key_env.strip() or None)
        self._check_headers()
        self._check_ranges()

    def _check_headers(self) -> None:
        for header, value in self.headers.items():
            if not _header_safe(str(header)) or not _header_safe(str(value)):
                raise ConfigError(
                    f"Preset {self.name!r}: extra header {header!r} holds characters an HTTP "
                    "header cannot carry (line breaks, non-ASCII letters)."
                )
            if header.lower() == "authorization":
                raise ConfigError(
                    f"Preset {self.name!r}: put the key in the API key field, not in an "
                    "'Authorization' extra header, so it stays out of the presets file."
                )
            if _SECRET_HEADER.search(header) and not _ENV_REFERENCE.fullmatch(str(value)):
                # Presets are saved in plain text (and shown in the panel): a gateway's
                # `api-key` header must come from the environment, like the key itself.
                raise ConfigError(
                    f"Preset {self.name!r}: the {header!r} header looks like a secret, and "
                    "presets are saved in plain text. Put its value in an environment "
                    "variable and write ${VAR} as the header value."
                )

    def _check_ranges(self) -> None:
        for name, (low, high, wording) in _RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = number and low <= value and (high is None or value <= high)
            if name == "max_tokens":
                ok = ok and float(value).is_integer()
            if name == "timeout":
                ok = ok and value > 0
            if not ok:
                raise ConfigError(
                    f"Preset {self.name!r}: {name} must be {wording} (got {value!r}); "
                    "leave it empty to use the server's default."
                )

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key":
                if value:
                    shown.append("api_key='***'")
                continue
            if f.name == "name" or (value not in (None, "", {}) and f.name != "hint"):
                shown.append(f"{f.name}={value!r}")
        return f"Preset({', '.join(shown)})"

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed (and normalised again)."""
        return dataclasses.replace(self, **changes)

    # --- key -------------------------------------------------------------------------------

    def resolve_key(self) -> str | None:
        """The key to send: the direct one, else the named environment variable, else None."""
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            return value or None
        return None

    @property
    def key_status(self) -> str:
        """'set', 'env' (named variable is set), 'env unset' or 'none'; never the key."""
        if self.api_key:
            return "set"
        if self.api_key_env:
            return "env" if os.environ.get(self.api_key_env, "").strip() else "env unset"
        return "none"

    # --- usability -------------------------------------------------------------------------

    def problems(self) -> list[str]:
        """What keeps this preset from being used; empty when it is usable."""
        missing = []
        if not self.base_url:
            missing.append("Base URL")
        if not self.model:
            missing.append("Model name")
        return [f"{item} is empty" for item in missing]

    @property
    def usable(self) -> bool:
        return not self.problems()

    def require_usable(self) -> Preset:
        """Return self, or raise ConfigError saying what is missing and how to fill it."""
        problems = self.problems()
        if not problems:
            return self
        fix = self.hint or (
            "fill it in with `%translate settings`, or pass it for one cell "
            "(`-m MODEL`, `--base-url URL`)"
        )
        raise ConfigError(
            f"Preset {self.name!r} is not usable yet: {' and '.join(problems)}; {fix}."
        )

    def secrets(self) -> tuple[str, ...]:
        """Everything of this preset a message must never show: the key, secret header
        values (as sent), and the base URL's query string (some gateways take a key there)."""
        found = [self.resolve_key() or ""]
        for header, value in self.headers.items():
            if _SECRET_HEADER.search(header):
                ref = _ENV_REFERENCE.fullmatch(str(value))
                found.append(os.environ.get(ref.group(1) or ref.group(2), "") if ref else value)
        found.append(urlsplit(self.base_url).query)
        return tuple(secret for secret in found if secret.strip())

    def redact(self, text: str) -> str:
        """text with every one of `secrets()` replaced by ***."""
        return redact(text, *self.secrets())

    def request_headers(self) -> dict[str, str]:
        """The extra headers as sent: `${VAR}` values read from the environment now."""
        out = {}
        for header, value in self.headers.items():
            ref = _ENV_REFERENCE.fullmatch(str(value))
            if ref:
                var = ref.group(1) or ref.group(2)
                value = os.environ.get(var, "")
                if not value:
                    raise ConfigError(
                        f"Preset {self.name!r}: the {header!r} header reads ${var}, which is "
                        f"not set. Set it (os.environ[{var!r}] = ...) or remove the header."
                    )
            out[header] = str(value)
        return out

    def options(self, **overrides: Any) -> dict[str, Any]:
        """Request options that are set; overrides win, None means 'leave out'."""
        values = {"temperature": self.temperature, "max_tokens": self.max_tokens}
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not None}

    # --- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Fields for the presets file: never the key, never empty values."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("api_key", "hint"):
                continue
            value = getattr(self, f.name)
            if value not in (None, "", {}):
                out[f.name] = dict(value) if f.name == "headers" else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preset:
        known = {f.name for f in dataclasses.fields(cls)} - {"api_key", "hint"}
        return cls(**{k: v for k, v in data.items() if k in known})
