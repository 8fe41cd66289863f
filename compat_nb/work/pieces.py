"""Where a long Markdown text may be cut: paragraph boundaries, never inside a block.

A fenced code block, a `$$` or LaTeX environment block, a table and an HTML block each stay
whole; no I/O here. HTML blocks start and end as CommonMark 0.31 §4.6 says (seven kinds), and
one that opens an element (`<div>`, `<details>`) runs on to the tag that closes it, blank lines
and all: a model sent `<div>` alone would close it, and the text inside loses its frame.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Piece", "plan_pieces"]


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MATH = re.compile(r"^\s*\$\$")
_ENV = re.compile(r"^\s*\\begin\{([^}]+)\}")
# CommonMark's HTML block starts (spec 0.31.2, §4.6), kinds 1-5: each ends at the first line
# holding its end mark, blank lines included. Their content is not prose: passed through.
_HTML_VERBATIM = (
    (re.compile(r"^ {0,3}<(script|pre|style|textarea)(?:[\s>]|$)", re.I), r"</(?:{0})>"),
    (re.compile(r"^ {0,3}<!--"), "-->"),
    (re.compile(r"^ {0,3}<\?"), r"\?>"),
    (re.compile(r"^ {0,3}<![A-Za-z]"), ">"),
    (re.compile(r"^ {0,3}<!\[CDATA\["), r"\]\]>"),
)
# Kind 6: a block-level tag name, opening or closing.
_HTML_BLOCK_TAG = re.compile(
    r"^ {0,3}<(/?)(address|article|aside|base|basefont|blockquote|body|caption|center|col|"
    r"colgroup|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|"
    r"frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|"
    r"noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|"
    r"thead|title|tr|track|ul)(?=[\s>]|/>|$)",
    re.I,
)
# Kind 7: any other complete open or closing tag alone on its line (it cannot interrupt a
# paragraph).
_ATTRIBUTE = r"""\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?"""
_HTML_LONE_TAG = re.compile(
    rf"^ {{0,3}}(?:<([A-Za-z][A-Za-z0-9-]*)(?:{_ATTRIBUTE})*\s*/?>|</([A-Za-z][A-Za-z0-9-]*)\s*>)"
    r"[ \t]*$"
)
# Elements that never have a closing tag (HTML's void elements).
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param"}
    | {"source", "track", "wbr"}
)


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
        elif verbatim := _html_verbatim(line):
            flush()
            if verbatim.search(line[line.index("<") + 2 :]):  # closed on its own line
                blocks.append((starts[i], starts[i] + len(line), "code"))
                i += 1
            else:
                i = until(i, verbatim.search, "code")
        elif (tag := _html_element(line, interrupts=bool(para))) is not None:
            flush()
            last = _html_end(lines, i, tag)
            blocks.append((starts[i], starts[last] + len(lines[last]), "html"))
            i = last + 1
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


def _html_verbatim(line: str) -> re.Pattern[str] | None:
    """The end mark of the HTML block kind 1-5 this line starts, or None."""
    for start, end in _HTML_VERBATIM:
        if found := start.match(line):
            mark = end.format(found.group(1)) if found.groups() else end
            return re.compile(mark, re.I)
    return None


def _html_element(line: str, *, interrupts: bool) -> str | None:
    """For a line that starts an HTML block of kind 6 or 7: the element it opens (lower
    case), or "" when it opens none (a closing or void tag). None when it starts no block."""
    if found := _HTML_BLOCK_TAG.match(line):
        closing, name = found.groups()
    elif not interrupts and (found := _HTML_LONE_TAG.match(line)):
        name, closing = found.group(1) or found.group(2), "/" if found.group(2) else ""
        if name.lower() in ("script", "pre", "style", "textarea"):
            return None
    else:
        return None
    opens = not closing and name.lower() not in _VOID and not found.group(0).endswith("/>")
    return name.lower() if opens else ""


def _html_end(lines: list[str], first: int, element: str) -> int:
    """The last line of the HTML block starting at `first`. CommonMark ends it at a blank
    line; one that opens `element` runs on past blank lines to the line that closes it (tags
    of the same name counted, so nested ones pair up), then to the next blank line. Never
    closed: CommonMark's end, the first blank line."""
    blank = next((j for j in range(first, len(lines)) if not lines[j].strip()), len(lines))
    if element:
        opens = re.compile(rf"<{element}(?=[\s>/]|$)", re.I)
        closes = re.compile(rf"</{element}\s*>", re.I)
        depth = 0
        for j in range(first, len(lines)):
            depth += len(opens.findall(lines[j])) - len(closes.findall(lines[j]))
            if depth <= 0:
                if j >= blank:
                    blank = next(
                        (k for k in range(j, len(lines)) if not lines[k].strip()), len(lines)
                    )
                break
    return blank - 1


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
