"""The typed shapes a cell passes around: its parsed flags, and the `%config` settings it reads.

`CellOptions` is what `%%translate`'s flags mean; `CellSettings` is the part of
`TranslateMagics` the cell helpers read, so they need not import the magics class.
"""

from __future__ import annotations

import argparse
import builtins
import keyword
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CellOptions", "CellSettings", "out_name", "parse_flags"]

# Names IPython keeps for itself in the user namespace: In, Out, _, __, ___, _i, _ii, _iii,
# _i<N>, _<N>, _ih, _oh, _dh, _sh, and its helpers (shell.user_ns_hidden lists them too).
_IPYTHON_NAMES = re.compile(r"_{1,3}|_i{1,3}|_i\d+|_\d+|_[iods]h|In|Out|get_ipython|exit|quit")


def parse_flags(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parser.parse_args(argv); a UsageError never repeats a token that looks like a key.

    argparse quotes what it cannot place ("unrecognized arguments: sk-…"); a key typed on
    the magic's line is in the cell already, and must not be copied into its output too.
    """
    from IPython.core.error import UsageError

    from ..config.keys import looks_like_key

    try:
        return parser.parse_args(argv)
    except UsageError as exc:
        message = str(exc)
    for token in argv:
        for piece in {token, token.split("=", 1)[-1]}:
            if looks_like_key(piece):
                message = message.replace(piece, "***")
    raise UsageError(message)


def out_name(text: str) -> str:
    """argparse type for `-o VAR`: a name code can reach, hiding nothing Python or IPython own.

    Raises argparse.ArgumentTypeError naming what is wrong and what to write instead.
    """
    # Python reads identifiers in NFKC form: code that says `ａ` (full width) reaches `a`.
    name = unicodedata.normalize("NFKC", text.strip())
    example = "e.g. -o result"
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Python variable name (letters, digits and _, not starting "
            f"with a digit); {example}"
        )
    if keyword.iskeyword(name):
        raise argparse.ArgumentTypeError(f"{name!r} is a Python keyword; {example}")
    if _IPYTHON_NAMES.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{name!r} is IPython's own (In, Out, _, _i1, get_ipython…): storing there would "
            f"break the session's history; {example}"
        )
    if (name.startswith("__") and name.endswith("__")) or hasattr(builtins, name):
        raise argparse.ArgumentTypeError(
            f"{name!r} is one of Python's own names: storing there would hide it until the "
            f"kernel restarts; {example}"
        )
    return name


class CellSettings(Protocol):
    """The `%config TranslateMagics.*` values a cell uses."""

    target_language: str
    source_language: str | None
    stream: bool
    output_format: str
    display_rate: float
    record_history: bool
    chunk_chars: int
    concurrency: int


@dataclass(frozen=True)
class CellOptions:
    """`%%translate`'s flags, parsed: None means "not given" (the preset or %config decides)."""

    to: str | None = None
    source: str | None = None
    presets: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    system: str | None = None
    glossary: str | None = None
    timeout: float | None = None
    deadline: float | None = None
    no_stream: bool = False
    out: str | None = None
    format: str | None = None
    runs: int = 1
    translate_code: bool = False
    concurrency: int | None = None
    eval: str | None = None  # a file of texts, or "-": the cell's lines are the texts
    judge: str | None = None
    refresh: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CellOptions:
        values: dict[str, Any] = dict(vars(args))
        values["presets"] = values.pop("preset", None) or []
        values["models"] = values.pop("model", None) or []
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})

    def preset_overrides(self) -> dict[str, Any]:
        """The preset fields these flags set for this cell (None: left as the preset has it)."""
        return {
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "system_prompt": self.system,
            "glossary": self.glossary,
            "timeout": self.timeout,
            "deadline": self.deadline,
        }
