"""What an extra header of a preset may hold: a header name, text a header can carry, and no
secret written out (one comes from the environment as `${VAR}`), judged by name and by value.
"""

from __future__ import annotations

import re
from typing import Any

from .keys import has_key_prefix, header_value_problem, looks_like_key

__all__ = ["SECRET_HEADER", "env_reference", "header_problem", "header_secret_problem"]

# Header names that say their value is a credential: X-Api-Key, X-Functions-Key,
# Ocp-Apim-Subscription-Key, X-Auth-Token, Cookie, X-Amz-Security-Token, X-Signature…
SECRET_HEADER = re.compile(
    r"api[-_]?key|(^|[-_])key($|[-_])|token|secret|passw|cookie|auth|credential|subscription"
    r"|signature|session",
    re.I,
)
# Headers whose values are public identifiers that merely look random (org-…, proj_…): only
# a vendor key prefix refuses a literal value under these names.
_ID_HEADERS = frozenset({"openai-organization", "openai-project", "x-request-id"})
_ENV_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 §5.6.2)


def _header_safe(text: str) -> bool:
    return text.isascii() and not any(ord(c) < 32 or ord(c) == 127 for c in text)


def env_reference(value: str) -> str | None:
    """The variable named by `$VAR` or `${VAR}` (a header value read from the environment)."""
    ref = _ENV_REFERENCE.fullmatch(value.strip())
    return (ref.group(1) or ref.group(2)) if ref else None


def header_problem(header: Any, value: Any) -> str | None:
    """Why an extra header cannot be saved in a preset, never quoting its value; None if it can.

    Presets are saved in plain text (and shown in the panel), so a secret, however its
    header is named, must come from the environment as `${VAR}`: a value is refused when it
    looks like a key (see `keys.looks_like_key`), or when the header's name says it holds one.
    """
    if not isinstance(header, str) or not isinstance(value, str):
        return "extra header names and values must be text."
    if looks_like_key(header) or not _TOKEN.fullmatch(header):
        return "an extra header's name is not a header name (letters, digits and -, e.g. X-Title)."
    if not _header_safe(value):
        return f"extra header {header!r} {header_value_problem(value)}."
    if header.lower() == "authorization":
        return (
            "put the key in the API key field, not in an 'Authorization' extra header, so it "
            "stays out of the presets file."
        )
    return header_secret_problem(header, value)


def header_secret_problem(header: str, value: str) -> str | None:
    """Why a literal header value must come from the environment instead; None if it need not.

    Decided by value (a key's shape) and by name (`api-key`, `…token…`, `…secret…`); a
    `${VAR}` value is always fine.
    """
    if not value.strip() or env_reference(value):
        return None
    by_value = has_key_prefix(value) if header.lower() in _ID_HEADERS else looks_like_key(value)
    if not by_value and not SECRET_HEADER.search(header):
        return None
    what = "holds what looks like a key" if by_value else "looks like a secret"
    return (
        f"the {header!r} header {what}, and presets are saved in plain text. Put its value in "
        "an environment variable and write ${VAR} as the header value."
    )
