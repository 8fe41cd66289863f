"""Which options a chat request may carry, checked in one place for every entry point.

A preset, a `%%translate` flag, `translate(...)`, `compare(...)` and `client.chat(...)` all
end in `check_option`, so `temperature=5` is refused the same way wherever it is typed. The
numeric ranges are the ones in `bounds.py` (OpenAI's chat-completions reference,
platform.openai.com/docs/api-reference/chat, and what servers can hold).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .bounds import BOUNDS, short_repr

__all__ = ["CALL_SETTINGS", "REQUEST_OPTIONS", "check_option"]

# Sent in the request body, under these names.
REQUEST_OPTIONS = (
    *("temperature", "top_p", "max_tokens", "max_completion_tokens"),
    *("presence_penalty", "frequency_penalty", "seed", "stop"),
)
# How one call behaves; never sent.
CALL_SETTINGS = ("model", "timeout", "deadline")


def check_option(name: str, value: Any, *, where: str = "") -> Any:
    """value, if `name` may take it; ConfigError naming the option and what it takes.

    None always passes (it means "not set": the default applies). `where` prefixes the
    message ("Preset 'Mine': ").
    """
    if value is None:
        return None
    if name == "stop":
        texts = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        if isinstance(value, str) or texts:
            return value
        wording = "a string or a list of strings"
    elif name in BOUNDS and (name in REQUEST_OPTIONS or name in CALL_SETTINGS):
        bound = BOUNDS[name]
        if bound.allows(value):
            return int(value) if bound.whole else value
        wording = bound.wording
    else:
        known = ", ".join(sorted({*REQUEST_OPTIONS, *CALL_SETTINGS}))
        raise ConfigError(f"{where}unknown option {name!r}; the options are: {known}.")
    default = "the server's default" if name in REQUEST_OPTIONS else "the default"
    raise ConfigError(
        f"{where}{name} must be {wording} (got {short_repr(value)}); leave it out to use {default}."
    )
