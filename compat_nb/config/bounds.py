"""The bounds every number a user gives must respect, and argparse types that enforce them.

One table serves preset fields (checked by `Preset`) and command flags (checked as they are
parsed), so `--runs 10**30`, `--timeout inf` or `--port 99999` is one message naming the
flag and its range, never a MemoryError, an OverflowError or a request a server refuses.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass

from .keys import looks_like_key

__all__ = [
    "BOUNDS",
    "DEFAULT_DEADLINE",
    "DEFAULT_READ_TIMEOUT",
    "Bound",
    "check",
    "flag_type",
    "short_repr",
]

# The client's bounds when a preset leaves them unset; here, not in wire/, so what shows them
# (`%translate show`, the panel) does not import httpx.
DEFAULT_READ_TIMEOUT = 300.0  # a local model loading on first use can take minutes
DEFAULT_DEADLINE = 1800.0  # a whole answer: a slow CPU model writing a long piece, and then some


@dataclass(frozen=True)
class Bound:
    """A closed range [low, high] (or (low, high] when `above`), whole numbers or reals."""

    whole: bool
    low: float
    high: float
    wording: str  # "a whole number from 1 to 1000": how a message states it
    above: bool = False  # low itself is excluded (a timeout of 0 s means nothing)

    def allows(self, value: object) -> bool:
        """True for a number in range; False for NaN, infinities, bools and anything else."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.whole and not float(value).is_integer():
            return False
        return (self.low < value if self.above else self.low <= value) and value <= self.high

    def parse(self, text: str) -> int | float:
        """text as the number it spells; argparse.ArgumentTypeError (its message) when not."""
        try:
            value: int | float = int(text) if self.whole else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {self.wording}, not {short_repr(text)}"
            ) from None
        if not self.allows(value):
            raise argparse.ArgumentTypeError(f"must be {self.wording}, not {short_repr(text)}")
        return value


BOUNDS: dict[str, Bound] = {
    # Preset fields.
    "temperature": Bound(False, 0.0, 2.0, "a number from 0 to 2"),
    # Servers keep token counts in 32-bit integers (llama.cpp's n_predict, vLLM's max_tokens).
    "max_tokens": Bound(True, 1, 2**31 - 1, "a whole number from 1 to 2147483647"),
    # A socket timeout must fit the platform's time_t; a day is longer than any answer.
    "timeout": Bound(False, 0.0, 86400.0, "a number of seconds above 0, at most 86400", True),
    "deadline": Bound(False, 0.0, 86400.0, "a number of seconds above 0, at most 86400", True),
    "input_price": Bound(False, 0.0, 1e9, "a price of 0 or more"),
    "output_price": Bound(False, 0.0, 1e9, "a price of 0 or more"),
    # Request options a call may set besides the preset's (OpenAI's chat-completions ranges).
    "top_p": Bound(False, 0.0, 1.0, "a number from 0 to 1"),
    "max_completion_tokens": Bound(True, 1, 2**31 - 1, "a whole number from 1 to 2147483647"),
    "presence_penalty": Bound(False, -2.0, 2.0, "a number from -2 to 2"),
    "frequency_penalty": Bound(False, -2.0, 2.0, "a number from -2 to 2"),
    "seed": Bound(True, -(2**63), 2**63 - 1, "a whole number that fits in 64 bits"),
    # Command flags. More requests at once than the client's 64 pooled connections only queue.
    "runs": Bound(True, 1, 1000, "a whole number from 1 to 1000"),
    "concurrency": Bound(True, 1, 64, "a whole number from 1 to 64"),
    "chunk_chars": Bound(True, 20, 1_000_000, "a whole number from 20 to 1000000"),
    "rows": Bound(True, 1, 1_000_000, "a whole number from 1 to 1000000"),
    "port": Bound(True, 1, 65535, "a port number from 1 to 65535"),
    "wait": Bound(False, 0.0, 86400.0, "a number of seconds above 0, at most 86400", True),
}


def check(name: str, value: object, *, label: str | None = None) -> None:
    """ConfigError unless value is within BOUNDS[name]: the Python API's face of a flag's check."""
    from ..errors import ConfigError

    bound = BOUNDS[name]
    if not bound.allows(value):
        raise ConfigError(f"{label or name} must be {bound.wording}, not {short_repr(value)}.")


def flag_type(name: str) -> Callable[[str], int | float]:
    """An argparse `type=` for the bound named `name` (a key of BOUNDS)."""
    bound = BOUNDS[name]

    def parse(text: str) -> int | float:
        return bound.parse(text)

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def short_repr(value: object, *, limit: int = 24) -> str:
    """A refused value as a message shows it: 10**30 is not worth thirty digits, and a key
    typed into the wrong flag is not shown at all (not even its first characters)."""
    if isinstance(value, str) and looks_like_key(value):
        return "a value that looks like an API key (not shown)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…"
