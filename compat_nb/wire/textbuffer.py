"""A long text built from many small pieces, as a streamed answer is, in linear time and space.

`s += piece` on an attribute copies the whole text each time (quadratic for a long answer), and
a list of tokens costs ~50 bytes of object header per 1-6 character token (about ten times the
text). `TextBuffer` joins pieces into runs of ~64 KiB as they arrive: one copy of the text,
each character copied twice at most.
"""

from __future__ import annotations

import re

__all__ = ["TextBuffer", "is_blank", "leading_blank"]

_RUN_CHARS = 1 << 16  # a run this long: its own header is noise
_RUN_PIECES = 1024  # nor more pieces than this pending: their headers would add up


_BLANK = re.compile(r"\s*")


def is_blank(text: str) -> bool:
    """`not text.strip()` without the stripped copy (10 MB for a 10 MB answer)."""
    return not text or text.isspace()


def leading_blank(text: str) -> int:
    """`len(text) - len(text.lstrip())` without the stripped copy."""
    match = _BLANK.match(text)
    return match.end() if match else 0


class TextBuffer:
    """Append pieces; read the whole (`str(buffer)`), its length, or compare it (or a part of
    it, `matches`) with a str."""

    __slots__ = ("_pending", "_pending_chars", "_runs", "length")

    def __init__(self, text: str = "") -> None:
        self._runs: list[str] = []
        self._pending: list[str] = []
        self._pending_chars = 0
        self.length = 0
        if text:
            self.append(text)

    def append(self, piece: str) -> None:
        self._pending.append(piece)
        self._pending_chars += len(piece)
        self.length += len(piece)
        if self._pending_chars >= _RUN_CHARS or len(self._pending) >= _RUN_PIECES:
            self._seal()

    def _seal(self) -> None:
        if self._pending:
            self._runs.append("".join(self._pending))
            self._pending, self._pending_chars = [], 0

    def __str__(self) -> str:
        self._seal()
        if len(self._runs) > 1:
            self._runs = ["".join(self._runs)]  # kept joined: reading twice costs one copy
        return self._runs[0] if self._runs else ""

    def __len__(self) -> int:
        return self.length

    def __bool__(self) -> bool:
        return self.length > 0

    def __eq__(self, other: object) -> bool:
        """Equal to a str with the same text, compared run by run (no copy of the whole)."""
        if isinstance(other, TextBuffer):
            other = str(other)
        if not isinstance(other, str):
            return NotImplemented
        return len(other) == self.length and self.matches(other)

    def matches(self, other: str, start: int = 0) -> bool:
        """Whether `other` is the text from `start` on, for `len(other)` characters."""
        end = start + len(other)
        if start < 0 or end > self.length:
            return False
        self._seal()
        at = 0  # where the run begins in the text
        for run in self._runs:
            lo, hi = max(at, start), min(at + len(run), end)
            # Compared a window at a time: a slice of a joined 10 MB run would be a copy of it.
            for a in range(lo, hi, _RUN_CHARS):
                b = min(a + _RUN_CHARS, hi)
                if not other.startswith(run[a - at : b - at], a - start):
                    return False
            at += len(run)
            if at >= end:
                break
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TextBuffer({self.length} chars)"
