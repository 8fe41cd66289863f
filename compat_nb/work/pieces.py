"""Where a long Markdown text may be cut: paragraph boundaries, never inside a block.

A fenced code block, a `$$` or LaTeX environment block and a table each stay whole; no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Piece", "plan_pieces"]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MATH = re.compile(r"^\s*\$\$")
_ENV = re.compile(r"^\s*\\begin\{([^}]+)\}")


@dataclass(frozen=True, slots=True)  # one per text in a batch: no __dict__ each
class Piece:
    """text[start:end] of the source; `translate` is False for code passed through as is."""

    start: int
    end: int
    translate: bool = True


def _blocks(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each block: a paragraph, or a whole code/`$$`/`\\begin` block."""
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    blocks: list[tuple[int, int, str]] = []
    para: list[int] = []  # first and last line of the paragraph being read

    def flush() -> None:
        if para:
            blocks.append((starts[para[0]], starts[para[-1]] + len(lines[para[-1]]), "text"))
            para.clear()

    def until(first: int, closes: Callable[[str], object], kind: str) -> int:
        last = first + 1
        while last < len(lines) and not closes(lines[last]):
            last += 1
        last = min(last, len(lines) - 1)  # never closed: it runs to the end, still one block
        blocks.append((starts[first], starts[last] + len(lines[last]), kind))
        return last + 1

    i = 0
    while i < len(lines):
        line = lines[i]
        if fence := _FENCE.match(line):
            flush()
            mark = fence.group(1)
            closing = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}\s*$")
            i = until(i, closing.match, "code")
        elif _MATH.match(line):
            flush()
            if "$$" in line.strip()[2:]:  # `$$ x $$` on one line
                blocks.append((starts[i], starts[i] + len(line), "math"))
                i += 1
            else:
                i = until(i, re.compile(r"\$\$").search, "math")
        elif env := _ENV.match(line):
            flush()
            end = "\\end{" + env.group(1) + "}"
            if end in line[env.end() :]:
                blocks.append((starts[i], starts[i] + len(line), "math"))
                i += 1
            else:
                i = until(i, re.compile(re.escape(end)).search, "math")
        elif not line.strip():
            flush()
            i += 1
        else:
            if para:
                para[1:] = [i]
            else:
                para.append(i)
            i += 1
    flush()
    return blocks


def _fit(text: str, block: tuple[int, int, str], limit: int) -> list[tuple[int, int, str]]:
    """An oversize paragraph split at line breaks, never between two table rows."""
    start, end, kind = block
    if kind != "text" or end - start <= limit:
        return [block]
    units: list[tuple[int, int]] = []  # lines, with consecutive table rows merged into one
    pos, in_table = start, False
    for line in text[start:end].split("\n"):
        row = line.lstrip().startswith("|")
        if units and row and in_table:
            units[-1] = (units[-1][0], pos + len(line))
        else:
            units.append((pos, pos + len(line)))
        pos, in_table = pos + len(line) + 1, row
    parts = [units[0]]
    for unit in units[1:]:
        if unit[1] - parts[-1][0] <= limit:
            parts[-1] = (parts[-1][0], unit[1])
        else:
            parts.append(unit)
    return [(a, b, kind) for a, b in parts]


def plan_pieces(text: str, limit: int, *, translate_code: bool = False) -> list[Piece]:
    """Consecutive blocks grouped into pieces of at most `limit` characters; a block stays whole."""
    pieces: list[Piece] = []
    for block in _blocks(text):
        for start, end, kind in _fit(text, block, limit):
            if kind == "code" and not translate_code:
                pieces.append(Piece(start, end, translate=False))
            elif pieces and pieces[-1].translate and end - pieces[-1].start <= limit:
                pieces[-1] = Piece(pieces[-1].start, end)
            else:
                pieces.append(Piece(start, end))
    return pieces
