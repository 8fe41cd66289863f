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
from urllib.parse import unquote, urlsplit

from ..errors import ConfigError, redact
from . import advice
from .bounds import BOUNDS, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT, short_repr
from .headers import SECRET_HEADER, env_reference, header_problem, header_secret_problem
from .keys import (
    env_name_problem,
    header_value_problem,
    key_problem,
    looks_like_env_name,
    starts_like_key,
)
from .local_state import LOCAL_PRESET_NAME
from .urls import hidden_character, normalize_base_url, shown_url, visible

__all__ = [
    "LOCAL_PRESET_NAME",
    "Preset",
    "env_reference",
    "header_problem",
    "header_secret_problem",
]


# Numeric fields, checked against the bounds every entry point shares (config/bounds.py).
_NUMBERS = (
    *("temperature", "max_tokens", "timeout", "deadline", "concurrency"),
    *("input_price", "output_price"),
)
# What applies to a numeric field left unset, as a refusal's fix names it: only sampling
# options fall to the server; the rest are the client's own (as `%translate show` says).
_UNSET = {
    "temperature": "the server's default",
    "max_tokens": "the server's default",
    "timeout": f"the client's {DEFAULT_READ_TIMEOUT:g} s",
    "deadline": f"the client's {DEFAULT_DEADLINE:g} s",
    "concurrency": "each command's own",
    "input_price": "no cost figures",
    "output_price": "no cost figures",
}
_BEARER = re.compile(r"^bearer\s+", re.I)


def _clean_key(value: str) -> str:
    """A key as pasted, minus what surrounds it in docs: whitespace and a `Bearer ` scheme."""
    return _BEARER.sub("", value.strip())


def _env_key(var: str, owner: str, what: str) -> str | None:
    """The variable's value checked like a typed key; ConfigError naming var, never the value.

    The value is dropped before raising, so no traceback frame (shown with its locals under
    `%xmode Verbose`) holds it.
    """
    value = os.environ.get(var, "").strip()
    if what == "key":
        value = _clean_key(value)
    problem = key_problem(value) if what == "key" else header_value_problem(value)
    if problem is None:
        return value or None
    del value
    raise ConfigError(
        f"{owner}: the environment variable {var} ({what}) {problem}. Copy the value again "
        f"from its source without that character, then {advice.set_variable(var)}."
    )


@dataclass(frozen=True)
class Preset:
    """One OpenAI-compatible endpoint and the settings a translation sends to it.

    Options left as None are never sent, so the server's own defaults apply. The key is either
    given directly (kept apart from the presets file by the store) or named by `api_key_env`.
    Units: `temperature` as the server takes it (0–2), `max_tokens` in tokens, `timeout` (per
    read) and `deadline` (a whole answer) in seconds, prices in $ per million tokens.
    `base_url` is normalised to the API root (`normalize_base_url`); a name or model id that
    looks like an API key raises ConfigError.
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
    deadline: float | None = None  # seconds for a whole answer; None: the client's default
    concurrency: int | None = None  # requests at once to this preset's server
    # A glossary file (CSV/TSV/JSON, see work/glossary.py): each text is sent with the terms
    # it contains. Kept as an absolute path, so every kernel and shell reads the same file.
    glossary: str | None = None
    hint: str | None = field(default=None, compare=False)  # how to make a built-in usable
    # Which key a message should name: "saved" (the store's), "typed" (the panel's field), or
    # None (given in code). Never saved; the key itself stays in api_key.
    key_source: str | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Normalising here means every path (panel, magic flag, file) agrees on one spelling.
        object.__setattr__(self, "name", self.name.strip())
        hidden = hidden_character(self.name)
        if hidden:
            # It could not be typed in `%translate use NAME`, nor saved (lone surrogates).
            raise ConfigError(
                f"A preset's name cannot contain {hidden}: it cannot be typed or seen. "
                f"Name it in visible characters, e.g. {visible(self.name) or 'My server'!r}."
            )
        if starts_like_key(self.name):
            raise ConfigError(
                "A preset's name is shown everywhere and saved in plain text, and this one "
                "looks like an API key. Name the preset after its server; put the key in the "
                "API key field."
            )
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if not isinstance(self.model or "", str):
            raise ConfigError(
                f"Preset {self.name!r}: the model id must be text, not {self.model!r}."
            )
        object.__setattr__(self, "model", (self.model or "").strip())
        if hidden_character(self.model):
            raise ConfigError(
                f"Preset {self.name!r}: the Model name {self.model!r} contains "
                f"{hidden_character(self.model)}, which no model id has. Retype it, e.g. "
                f"{visible(self.model) or 'llama3.2'!r}."
            )
        if starts_like_key(self.model):
            raise ConfigError(
                f"Preset {self.name!r}: the Model name looks like an API key. Put the key in "
                "the API key field, and the model's id (e.g. llama3.2) as Model name."
            )
        object.__setattr__(self, "headers", dict(self.headers or {}))
        self._check_glossary()
        self._check_key()
        self._check_headers()
        self._check_ranges()

    def _check_key(self) -> None:
        # A key read from a file often ends in a newline; one copied from docs may start with
        # "Bearer ": neither belongs in the header value.
        key = _clean_key(self.api_key or "") or None
        object.__setattr__(self, "api_key", key)
        if key is not None:
            problem = key_problem(key)
            if problem is None and looks_like_env_name(key):
                problem = (
                    "is the name of an environment variable, not a key. Put the name under "
                    "'use environment variable' (api_key_env=...) instead"
                )
            del key  # not in this frame's locals when the error is shown
            if problem:
                raise ConfigError(f"Preset {self.name!r}: the API key {problem}.")
        env = (self.api_key_env or "").strip()
        # "$OPENAI_API_KEY" and "${OPENAI_API_KEY}" name the same variable
        env = env_reference(env) or env
        problem = env_name_problem(env) if env else None
        # Never quoted, nor kept in a frame: a key pasted here must not reach a message, a
        # file, a log or a traceback.
        object.__setattr__(self, "api_key_env", None if problem else env or None)
        del env
        if problem:
            raise ConfigError(f"Preset {self.name!r}: the environment variable name {problem}.")

    def _check_glossary(self) -> None:
        """A path, spelled once: `~` expanded, made absolute (from the working folder). That
        the file reads as a glossary is checked where it is set and where it is used."""
        value = self.glossary
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is not None and not isinstance(value, str):
            raise ConfigError(
                f"Preset {self.name!r}: glossary is the path of a CSV, TSV or JSON file, not "
                f"{short_repr(value)}."
            )
        value = (value or "").strip()
        if starts_like_key(value):
            raise ConfigError(
                f"Preset {self.name!r}: the glossary looks like an API key, and presets are "
                "saved in plain text. Give the path of a glossary file; put a key in API key."
            )
        if any(ord(c) < 32 for c in value):
            raise ConfigError(
                f"Preset {self.name!r}: the glossary path holds a line break or a control "
                "character; give the path of one file."
            )
        path = os.path.abspath(os.path.expanduser(value)) if value else None
        object.__setattr__(self, "glossary", path)

    def _check_headers(self) -> None:
        for header, value in self.headers.items():
            problem = header_problem(header, value)
            if problem:
                raise ConfigError(f"Preset {self.name!r}: {problem}")

    def _check_ranges(self) -> None:
        for name in _NUMBERS:
            value, bound = getattr(self, name), BOUNDS[name]
            if value is None:
                continue
            if not bound.allows(value):  # NaN, infinities and 10**30 included
                raise ConfigError(
                    f"Preset {self.name!r}: {name} must be {bound.wording} (got "
                    f"{short_repr(value)}); leave it empty for {_UNSET[name]}."
                )
            if bound.whole:
                object.__setattr__(self, name, int(value))  # 10.0 is sent as 10

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key":
                if value:
                    shown.append("api_key='***'")
                continue
            if f.name == "base_url" and value:
                value = shown_url(value)  # a gateway's key may sit in the query string
            if f.name == "name" or (
                value not in (None, "", {}) and f.name not in ("hint", "key_source")
            ):
                shown.append(f"{f.name}={value!r}")
        return f"Preset({', '.join(shown)})"

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed (and normalised again)."""
        return dataclasses.replace(self, **changes)

    # --- key -------------------------------------------------------------------------------

    def resolve_key(self) -> str | None:
        """The key to send: the direct one, else the named environment variable, else None.

        Raises ConfigError (naming the variable, never its value) when the variable holds
        what no HTTP header can carry: a line break, U+200B, a letter outside ASCII.
        """
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            return _env_key(self.api_key_env, f"Preset {self.name!r}", "key")
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
        """What keeps this preset from being used; empty when it is usable.

        A preset that names a key variable needs it set (or a key of its own): sending the
        request without the key it asks for can only fail, after a round trip.
        """
        missing = []
        if not self.base_url:
            missing.append("Base URL is empty")
        if not self.model:
            missing.append("Model name is empty")
        if self.key_status == "env unset":
            missing.append(f"${self.api_key_env} is not set")
        return missing

    @property
    def usable(self) -> bool:
        """True when `problems()` is empty: a request could be sent as it stands."""
        return not self.problems()

    def fix(self) -> str:
        """How to make this preset usable, in the words of the front end it is shown in."""
        from .advice import make_usable

        return make_usable(self)

    def require_usable(self, subject: str | None = None) -> Preset:
        """Return self, or raise ConfigError saying what is missing and how to fill it.

        `subject` names what is not usable when it is no saved preset (a `--base-url` cell's
        server), so the message does not send the user looking for a preset by that name."""
        problems = self.problems()
        if not problems:
            return self
        subject = subject or f"Preset {self.name!r}"
        raise ConfigError(f"{subject} is not usable yet: {' and '.join(problems)}; {self.fix()}.")

    def secrets(self) -> tuple[str, ...]:
        """Everything of this preset a message must never show: the key, secret header
        values (as sent), and the base URL's query string (some gateways take a key there).

        Never raises: a variable that `resolve_key` would refuse is still scrubbed."""
        found = [self.api_key or ""]
        if self.api_key_env:
            found.append(_clean_key(os.environ.get(self.api_key_env, "")))
        for header, value in self.headers.items():
            var = env_reference(value)
            if var:
                found.append(os.environ.get(var, "").strip())
            elif SECRET_HEADER.search(header):
                found.append(value)
        query = urlsplit(self.base_url).query
        found.append(query)
        # A server may echo one value alone (the subscription key, not the whole query);
        # short ones (api-version=1) would scrub every "1" from a message and say nothing.
        for item in query.split("&"):
            value = item.partition("=")[2]
            if len(value) >= 8:
                found += [value, unquote(value)]
        return tuple(secret for secret in found if secret.strip())

    def redact(self, text: str) -> str:
        """text with every one of `secrets()` replaced by ***."""
        return redact(text, *self.secrets())

    def request_headers(self) -> dict[str, str]:
        """The extra headers as sent: `${VAR}` values read from the environment now.

        Raises ConfigError for a variable that is unset or holds what a header cannot carry.
        Every value is checked before any is collected, so a failure leaves no dict of
        secrets in a traceback frame.
        """
        for header, value in self.headers.items():
            var = env_reference(value)
            if var is None:
                continue
            if not _env_key(var, f"Preset {self.name!r}", f"the {header!r} header"):
                raise ConfigError(
                    f"Preset {self.name!r}: the {header!r} header reads ${var}, which is "
                    f"not set. Set it (os.environ[{var!r}] = ...) or remove the header."
                )
        # Also check the key here: a caller adding it after these headers then cannot fail.
        self.resolve_key()
        return {header: self._header_value(value) for header, value in self.headers.items()}

    @staticmethod
    def _header_value(value: str) -> str:
        var = env_reference(value)
        return value if var is None else os.environ.get(var, "").strip()

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
            if f.name in ("api_key", "hint", "key_source"):
                continue
            value = getattr(self, f.name)
            if value not in (None, "", {}):
                out[f.name] = dict(value) if f.name == "headers" else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preset:
        """A Preset from a presets-file entry; unknown fields (and any key) are left out."""
        known = {f.name for f in dataclasses.fields(cls)} - {"api_key", "hint", "key_source"}
        return cls(**{k: v for k, v in data.items() if k in known})
