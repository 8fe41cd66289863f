"""What an API key looks like, and what a value must be to travel in an HTTP header.

Presets are saved in plain text, so a key typed where a name or a header value belongs must be
recognised by its value, whatever the field or header is called: a vendor prefix (`sk-`,
`gsk_`, `AIza`…), or a long run of random-looking characters (Shannon entropy, as secret
scanners such as detect-secrets and truffleHog measure it). Nothing here ever returns or
formats the value itself: callers build messages from the descriptions these functions give.
"""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
from collections import Counter

__all__ = [
    "ENV_NAME",
    "env_name_problem",
    "has_key_prefix",
    "header_value_problem",
    "key_problem",
    "looks_like_env_name",
    "looks_like_key",
    "starts_like_key",
]

# Prefixes vendors put on their keys (each followed by a random part); case matters.
KEY_PREFIXES = (
    "sk-",  # OpenAI, DeepSeek, LiteLLM virtual keys; sk-proj-, sk-or- (OpenRouter), sk-ant-
    "sk_",  # Stripe-style secret keys
    "rk_",
    "gsk_",  # Groq
    "xai-",  # xAI
    "AIza",  # Google API keys
    "hf_",  # Hugging Face
    "ghp_",  # GitHub tokens
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",  # GitLab
    "r8_",  # Replicate
    "pplx-",  # Perplexity
    "nvapi-",  # NVIDIA
    "csk-",  # Cerebras
    "fw_",  # Fireworks
    "tgp_",  # Together
    "xoxb-",  # Slack
    "xoxp-",
    "AKIA",  # AWS access key ids
    "ASIA",
    "ya29.",  # Google OAuth access tokens
    "eyJ",  # a JSON Web Token: base64 of '{"'
)
# An Authorization-style value carries its scheme before the credential.
_SCHEME_PREFIX = re.compile(r"^(bearer|basic|token)\s+\S{8,}", re.I)
_PREFIX_TAIL = 6  # "sk-SK" (a locale) is not a key; "sk-1234ab" is
# A run of characters a random key is drawn from: base64 / hex / alphanumerics.
_RUN = re.compile(r"[A-Za-z0-9+/=]+")
_RUN_LENGTH = 20  # shorter runs are words, dates and versions, not keys
_RUN_ENTROPY = 3.0  # bits per character; English words and CAPS_NAMES stay below with digits
_HEX_ENTROPY = 2.0  # a random 32-digit hex key falls under 3.0 about once in 8,000
# base64url keys also hold - and _: there, random text changes between capitals, small letters
# and digits at most characters, words and model ids (DeepSeek-R1-Distill) at few.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{24,}")
_TOKEN_SWITCHES = 0.4  # class changes per character within the pieces between - and _

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_REFERENCE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _kind(char: str) -> int:
    return 0 if char.isupper() else 1 if char.islower() else 2


def _random_run(text: str) -> bool:
    """A long run mixing letters and digits with high entropy: how generated keys look."""
    for run in _RUN.findall(text):
        if len(run) < _RUN_LENGTH:
            continue
        has_digit = any(c.isdigit() for c in run)
        has_letter = any(c.isalpha() for c in run)
        # Hex keys (Azure, API Management) draw from 16 symbols: their entropy runs lower.
        hexadecimal = len(run) >= 32 and all(c in "0123456789abcdefABCDEF" for c in run)
        floor = _HEX_ENTROPY if hexadecimal else _RUN_ENTROPY
        if has_digit and has_letter and _entropy(run) >= floor:
            return True
    for token in _TOKEN.findall(text):
        pieces = [p for p in re.split(r"[-_]", token) if p]
        if len({_kind(c) for c in "".join(pieces)}) < 3:
            continue
        switches = sum(_kind(a) != _kind(b) for p in pieces for a, b in itertools.pairwise(p))
        if switches / sum(len(p) for p in pieces) >= _TOKEN_SWITCHES:
            return True
    return False


def has_key_prefix(value: str, *, min_tail: int = _PREFIX_TAIL) -> bool:
    """True when value starts like a vendor's key (`sk-…`, `gsk_…`) with min_tail characters
    after the prefix and no space. Names and model ids ask for a longer tail (see
    `starts_like_key`): `hf_llama_8b` may be a model, a 16-character random tail is not."""
    value = value.strip()
    for prefix in KEY_PREFIXES:
        if value.startswith(prefix):
            tail = value[len(prefix) :]
            if len(tail) >= min_tail and not any(c.isspace() for c in tail):
                return True
    return False


def starts_like_key(value: str) -> bool:
    """For fields of free text (a name, a model id, a URL): only an unmistakable key counts."""
    return has_key_prefix(value, min_tail=16)


def looks_like_key(value: str) -> bool:
    """True when value is shaped like an API key, token or credential, whatever it is called.

    Decided by value alone: a known vendor prefix followed by a random part, an
    `Authorization`-style scheme (`Bearer …`), or a run of 20+ letters and digits with at
    least 3 bits of Shannon entropy per character. Variable names (`OPENAI_API_KEY`), dates,
    versions, URLs, media types and model ids are not keys.
    """
    value = value.strip()
    return has_key_prefix(value) or bool(_SCHEME_PREFIX.match(value)) or _random_run(value)


def looks_like_env_name(value: str) -> bool:
    """`OPENAI_API_KEY`, `$OPENAI_API_KEY` or `${OPENAI_API_KEY}`: a variable, not a key.

    Only names in capitals with an underscore count, the way environment variables are
    spelled: a key is never written so.
    """
    ref = _ENV_REFERENCE.fullmatch(value.strip())
    name = (ref.group(1) or ref.group(2)) if ref else value.strip()
    return bool(re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+", name)) and not looks_like_key(name)


def env_name_problem(value: str) -> str | None:
    """Why value cannot name an environment variable, without quoting it; None when it can."""
    if looks_like_key(value):
        return (
            "looks like an API key, not the name of an environment variable. Put the key in "
            "the API key field (it is saved apart, in a 0600 credentials file), or type the "
            "variable's name here, e.g. OPENAI_API_KEY"
        )
    if not ENV_NAME.fullmatch(value):
        return (
            "is not a variable name (letters, digits and _ only, not starting with a digit), "
            "e.g. OPENAI_API_KEY. If you pasted the key itself, put it in the API key field"
        )
    return None


def _describe(char: str) -> str:
    """'U+200B ZERO WIDTH SPACE': a character named without showing the text around it."""
    name = unicodedata.name(char, "")
    if char in "\r\n":
        name = "a line break"
    elif char == "\t":
        name = "a tab"
    return f"U+{ord(char):04X}{' ' + name if name else ''}"


def header_value_problem(value: str) -> str | None:
    """What keeps value from being sent in an HTTP header, by position; None when nothing.

    HTTP header values are visible ASCII and spaces (RFC 9110 §5.5); a line break, a
    control character, or a letter outside ASCII (often an invisible one, such as U+200B or
    U+FEFF, carried over by a copy and paste) would break the request.
    """
    for index, char in enumerate(value):
        if not char.isascii() or ord(char) < 32 or ord(char) == 127:
            invisible = not char.isprintable() or unicodedata.category(char) in ("Cf", "Zs")
            kind = "an invisible character" if invisible else "a character"
            return (
                f"holds {kind} an HTTP header cannot carry ({_describe(char)}, at position "
                f"{index + 1} of {len(value)})"
            )
    return None


def key_problem(value: str) -> str | None:
    """What is wrong with value as an API key, without quoting it; None when it can be sent.

    A key is header-safe (see `header_value_problem`) and has no space inside it.
    """
    problem = header_value_problem(value)
    if problem:
        return problem
    if any(c.isspace() for c in value):
        return "has a space inside it, which no API key has (was more than the key pasted?)"
    return None
