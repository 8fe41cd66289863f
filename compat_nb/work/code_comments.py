"""The prose inside Python code: `#` comments and docstrings, found with `tokenize` and `ast`,
put back after translation, and the code's AST proven unchanged (docstring values aside).

Nothing else in a cell is ever rewritten: a segment is spliced back at its exact position,
and a cell whose syntax tree would change is kept as it was.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Segment", "apply", "find_segments", "same_code"]

# Comments that are instructions to a tool, not prose for a reader.
_DIRECTIVE = re.compile(
    r"^#\s*(!|-\*-|type:|noqa|pragma|fmt:|%%|In\[|pylint:|mypy:|ruff:|isort:|pyright:|"
    r"nosec|coding[:=]|vim:|region|endregion)",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[^\W\d_]{2,}")  # at least one word of two letters: there is prose


@dataclass(frozen=True)
class Segment:
    """One stretch of prose in a cell: `text` is what is translated.

    `kind` is "comment" (one comment, or a block of full-line comments at one indentation,
    `text` their lines without "# ") or "docstring" (the literal's source between its quotes).
    `start`/`end` are (line, column) as tokenize counts them, lines from 1.
    """

    kind: str
    text: str
    start: tuple[int, int]
    end: tuple[int, int]
    prefix: str = ""  # comment: "# " or "#"; docstring: prefix, opening quote, leading space
    suffix: str = ""  # docstring: trailing space and the closing quote
    full_line: bool = False  # comment: alone on its line(s), so it may take several lines
    quote: str = ""  # docstring: its quote, which a translation must not close early
    indent: str = ""  # docstring: the indentation of its lines after the first


def _python(source: str) -> str | None:
    """The source as Python that `ast` reads: IPython's line magics and shell escapes turned
    into calls, line for line. None for a cell magic (the whole cell is another language)."""
    if source.lstrip().startswith("%%"):
        return None
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return str(TransformerManager().transform_cell(source))
    except Exception:  # IPython absent or its transformer failed: plain Python, or nothing
        return source


def _tree(source: str) -> ast.Module | None:
    python = _python(source)
    if python is None:
        return None
    try:
        return ast.parse(python)
    except (SyntaxError, ValueError):
        return None


def _is_code(text: str) -> bool:
    """Commented-out code ("x = f(1)", "import os") is left alone; prose is not valid Python,
    or is at most a bare word."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    body = tree.body
    if len(body) == 1 and isinstance(body[0], ast.Expr):
        return not isinstance(body[0].value, (ast.Name, ast.Constant))
    return bool(body)


def _docstring_spans(tree: ast.Module) -> set[tuple[tuple[int, int], tuple[int, int]]]:
    spans = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0] if node.body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
            and first.end_lineno is not None
            and first.end_col_offset is not None
        ):
            value = first.value
            spans.add(((value.lineno, value.col_offset), (first.end_lineno, first.end_col_offset)))
    return spans


def find_segments(source: str) -> list[Segment] | None:
    """The comments and docstrings of a Python cell, in order; None when the cell is not
    Python that parses (a cell magic, a syntax error): such a cell is left alone."""
    tree = _tree(source)
    if tree is None:
        return None
    python = _python(source) or ""
    lines = source.split("\n")
    # A line IPython rewrote (a magic, `!ls`) has other columns: its comments are left alone.
    same = {
        i + 1 for i, (a, b) in enumerate(zip(lines, python.split("\n"), strict=False)) if a == b
    }
    docstrings = _docstring_spans(tree)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    segments: list[Segment] = []
    previous: tokenize.TokenInfo | None = None
    for token in tokens:
        if token.type == tokenize.STRING and (token.start, token.end) in docstrings:
            if token.start[0] in same and (segment := _docstring(token)) is not None:
                segments.append(segment)
        elif token.type == tokenize.COMMENT and token.start[0] in same:
            full_line = previous is None or previous.type in (
                tokenize.NL,
                tokenize.NEWLINE,
                tokenize.INDENT,
                tokenize.DEDENT,
            )
            segments.append(_comment(token, full_line=full_line, line=lines[token.start[0] - 1]))
        if token.type not in (tokenize.INDENT, tokenize.DEDENT):
            previous = token
    return _merged([s for s in segments if _worth_translating(s)])


def _comment(token: tokenize.TokenInfo, *, full_line: bool, line: str) -> Segment:
    text = token.string
    prefix = "# " if text.startswith("# ") else "#"
    full_line = full_line and not line[: token.start[1]].strip()
    return Segment(
        "comment", text[len(prefix) :].rstrip(), token.start, token.end, prefix, full_line=full_line
    )


def _docstring(token: tokenize.TokenInfo) -> Segment | None:
    """The docstring's prose as a reader sees it: stripped, the lines after the first dedented
    (PEP 257's trim); its space and indentation are kept to put the translation back."""
    match = re.match(r"(?is)^([rub]*)('''|\"\"\"|'|\")(.*)\2$", token.string)
    if match is None or "b" in match.group(1).lower():
        return None
    raw, quote = match.group(3), match.group(2)
    lead, trail = raw[: len(raw) - len(raw.lstrip())], raw[len(raw.rstrip()) :]
    first, _, rest = raw.strip().partition("\n")
    body = [line for line in rest.split("\n") if line.strip()]
    # The indentation its continuation lines share (what dedent removes), else its column's.
    indent = " " * token.start[1]
    if body:
        indent = body[0][: len(body[0]) - len(body[0].lstrip())]
        indent = indent if all(line.startswith(indent) for line in body) else ""
    text = first + ("\n" + textwrap.dedent(rest) if rest else "")
    return Segment(
        "docstring",
        text,
        token.start,
        token.end,
        prefix=match.group(1) + quote + lead,
        suffix=trail + quote,
        quote=quote,
        indent=indent,
    )


def _worth_translating(segment: Segment) -> bool:
    if segment.kind == "docstring":
        return bool(_WORDS.search(segment.text))
    raw = segment.prefix + segment.text
    return bool(_WORDS.search(segment.text)) and not (
        _DIRECTIVE.match(raw) or _is_code(segment.text) or re.fullmatch(r"\S*://\S*", segment.text)
    )


def _merged(segments: list[Segment]) -> list[Segment]:
    """Full-line comments on consecutive lines at one column become one block: a sentence
    that runs over two lines is translated as one."""
    out: list[Segment] = []
    for s in segments:
        last = out[-1] if out else None
        if (
            last is not None
            and s.kind == last.kind == "comment"
            and s.full_line
            and last.full_line
            and s.start[0] == last.end[0] + 1
            and s.start[1] == last.start[1]
            and s.prefix == last.prefix
        ):
            out[-1] = Segment(
                "comment", f"{last.text}\n{s.text}", last.start, s.end, last.prefix, full_line=True
            )
        else:
            out.append(s)
    return out


def _rendered(segment: Segment, translation: str, indent: str) -> str:
    """The source text that replaces `segment` once translated."""
    text = translation.strip()
    if segment.kind == "comment":
        if not segment.full_line:
            return segment.prefix + " ".join(text.split())  # a trailing comment stays one line
        lines = [line.rstrip() for line in text.split("\n") if line.strip()] or [""]
        return f"\n{indent}".join((segment.prefix + line).rstrip() for line in lines)
    quote = segment.quote
    if len(quote) == 1:
        text = " ".join(text.split())  # a one-quote literal cannot span lines
    text = text.replace(quote, "\\" + quote if len(quote) == 1 else "\\" + quote[0] + quote[1:])
    if text.endswith(quote[0]) and not segment.suffix[: -len(quote)]:
        text += " "  # `"""…""""` would not parse
    first, _, rest = text.partition("\n")
    rest = textwrap.dedent(rest)
    lines = (
        [first, *((segment.indent + line).rstrip() for line in rest.split("\n"))]
        if rest
        else [first]
    )
    return segment.prefix + "\n".join(lines) + segment.suffix


def apply(source: str, segments: Sequence[Segment], translations: Sequence[str | None]) -> str:
    """The source with each segment whose translation is not None replaced, everything else
    byte for byte as it was."""
    lines = source.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    out, at = [], 0
    for segment, translation in zip(segments, translations, strict=True):
        if translation is None:
            continue
        start = offsets[segment.start[0] - 1] + segment.start[1]
        end = offsets[segment.end[0] - 1] + segment.end[1]
        indent = lines[segment.start[0] - 1][: segment.start[1]]
        out += [source[at:start], _rendered(segment, translation, indent)]
        at = end
    out.append(source[at:])
    return "".join(out)


class _DropDocstrings(ast.NodeTransformer):
    def generic_visit(self, node: ast.AST) -> ast.AST:
        super().generic_visit(node)
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0].value.value = ""
        return node


def same_code(before: str, after: str) -> bool:
    """True when both parse to the same syntax tree, docstring values aside (`ast.dump`
    without positions): the translated cell computes exactly what the original did."""
    trees = [_tree(before), _tree(after)]
    if trees[0] is None or trees[1] is None:
        return False
    return ast.dump(_DropDocstrings().visit(trees[0])) == ast.dump(
        _DropDocstrings().visit(trees[1])
    )
