"""Notebooks and Markdown files as texts to translate, and back: what is sent, what is kept.

`Document.read` plans every Markdown cell (or the body of a .md file) into pieces with the
rules of `pieces.py`, and with `comments=True` the prose of each Python code cell into
segments; `Document.assemble` puts translations back, leaving everything else byte for byte.
`verify` proves that: code, outputs, attachments, raw cells and ids unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CompatError, ConfigError
from . import code_comments
from .anchors import keep_anchors
from .pieces import plan_pieces

__all__ = ["Document", "Part", "Unit", "verify"]

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n.*?\n\1[ \t]*(\n|\Z)", re.S)
_MATH_START = re.compile(r"^\s*(\$\$|\\begin\{)")
MAX_BYTES = 50_000_000  # a notebook with large outputs is fine; a mistaken binary is not


@dataclass(frozen=True)
class Part:
    """One text to send: a Markdown piece, a comment or a docstring."""

    kind: str  # "markdown", "comment" or "docstring"
    text: str


@dataclass
class Unit:
    """One cell's translatable text (or a .md file's body), cut into parts."""

    cell: int | None  # index in the notebook; None for a Markdown file
    kind: str  # "markdown" or "code"
    text: str
    spans: list[tuple[int, int, bool]] = field(default_factory=list)  # markdown: start, end, send
    segments: list[code_comments.Segment] = field(default_factory=list)  # code

    @property
    def parts(self) -> list[Part]:
        if self.kind == "code":
            return [Part(s.kind, s.text) for s in self.segments]
        return [Part("markdown", self.text[a:b]) for a, b, send in self.spans if send]

    def where(self, part: int = 0) -> str:
        """ "cell 3" (1-based, as a reader counts) or "line 12" in a Markdown file."""
        if self.cell is not None:
            return f"cell {self.cell + 1}"
        starts = [a for a, _, send in self.spans if send]
        offset = starts[part] if part < len(starts) else 0
        return f"line {self.text.count(chr(10), 0, offset) + 1}"

    def assemble(self, translations: list[str | None], notes: list[str | None]) -> str:
        """The text with each part replaced by its translation; a part whose translation is
        None stays as it was, after its note (an HTML comment saying why) when there is one."""
        if self.kind == "code":
            return code_comments.apply(self.text, self.segments, translations)
        out, at, i = [], 0, 0
        for start, end, send in self.spans:
            out.append(self.text[at:start])
            piece = self.text[start:end]
            if send:
                translated, note = translations[i], notes[i]
                i += 1
                if translated is not None:
                    piece = translated
                elif note:
                    piece = f"<!-- compat_nb: not translated: {_comment_safe(note)} -->\n{piece}"
            out.append(piece)
            at = end
        out.append(self.text[at:])
        return "".join(out)


def _comment_safe(text: str) -> str:
    """The message on one line, as the text of an HTML comment: only what would end or open
    a comment is broken up (HTML and CommonMark allow `--` inside), so a suggested
    `--timeout SECONDS` reads as it is typed."""
    text = " ".join(text.split())
    return re.sub(r"<!-|--!?>", lambda m: " ".join(m.group()), text)


def _spans(text: str, limit: int) -> list[tuple[int, int, bool]]:
    """Pieces as `pieces.py` plans them, with LaTeX display blocks passed through: a model
    gains nothing from seeing `$$…$$` alone and can only break it."""
    spans = []
    for piece in plan_pieces(text, limit):
        chunk = text[piece.start : piece.end]
        send = piece.translate and bool(chunk.strip()) and not _only_math(chunk)
        spans.append((piece.start, piece.end, send))
    return spans


def _only_math(chunk: str) -> bool:
    blocks = [b for b in plan_pieces(chunk, 1) if chunk[b.start : b.end].strip()]
    return all(_MATH_START.match(chunk[b.start : b.end]) for b in blocks)


class Document:
    """A notebook (nbformat 4) or a Markdown file, read and planned."""

    def __init__(self, path: Path, *, comments: bool, chunk_chars: int) -> None:
        self.path = path
        self.kind = "ipynb" if path.suffix.lower() == ".ipynb" else "md"
        self.notebook: Any = None
        self.front_matter = ""
        self.units: list[Unit] = []
        self.skipped: list[str] = []  # code cells left alone with --comments, and why
        raw = _read_text(path)
        self.sha256 = hashlib.sha256(raw.encode("utf-8")).hexdigest()  # the file as read
        if self.kind == "ipynb":
            self._read_notebook(raw, comments=comments, chunk_chars=chunk_chars)
        else:
            match = _FRONT_MATTER.match(raw)
            self.front_matter = match.group(0) if match else ""
            body = raw[len(self.front_matter) :]
            self.units.append(Unit(None, "markdown", body, _spans(body, chunk_chars)))

    @property
    def prose_chars(self) -> int:
        """Characters of the text sent for translation."""
        return sum(len(p.text) for u in self.units for p in u.parts)

    def _read_notebook(self, raw: str, *, comments: bool, chunk_chars: int) -> None:
        import nbformat

        try:
            self.notebook = nbformat.reads(raw, as_version=4)
        except Exception as exc:  # nbformat raises JSON, validation and version errors alike
            raise ConfigError(
                f"{self.path} is not a notebook nbformat can read ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}). Open it in Jupyter to check it."
            ) from None
        python = self._is_python()
        for i, cell in enumerate(self.notebook.cells):
            if cell.cell_type == "markdown" and cell.source.strip():
                self.units.append(
                    Unit(i, "markdown", cell.source, _spans(cell.source, chunk_chars))
                )
            elif cell.cell_type == "code" and comments and cell.source.strip():
                segments = code_comments.find_segments(cell.source) if python else None
                if segments is None:
                    why = "not Python that parses" if python else "the kernel is not Python"
                    self.skipped.append(f"cell {i + 1}: {why}")
                elif segments:
                    self.units.append(Unit(i, "code", cell.source, segments=segments))

    def _is_python(self) -> bool:
        meta = self.notebook.metadata
        name = (meta.get("kernelspec", {}).get("language") or "").lower()
        name = name or (meta.get("language_info", {}).get("name") or "python").lower()
        return name == "python"

    def assemble(
        self,
        texts: Mapping[int, str],
        *,
        tag: str,
        bilingual: bool,
        provenance: Mapping[str, Any],
    ) -> str:
        """The translated document as text; `texts` maps unit index to its assembled text.

        Translated headings keep their original anchors (see anchors.py), except in a
        bilingual notebook, where the original cell keeps them itself."""
        if self.kind == "md":
            body = self.units[0].text
            (translated,) = keep_anchors([(body, texts.get(0, body))], notebook=False)
            return self.front_matter + translated
        import nbformat

        nb = copy.deepcopy(self.notebook)
        by_cell = {u.cell: texts[i] for i, u in enumerate(self.units) if i in texts}
        if not bilingual:
            prose = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
            pairs = [(nb.cells[i].source, by_cell.get(i, nb.cells[i].source)) for i in prose]
            anchored = keep_anchors(pairs, notebook=True)
            by_cell |= {i: t for i, t in zip(prose, anchored, strict=True) if i in by_cell}
        cells = []
        for i, cell in enumerate(nb.cells):
            if i not in by_cell:
                cells.append(cell)
            elif cell.cell_type == "markdown" and bilingual:
                twin = copy.deepcopy(cell)
                twin.source = by_cell[i]
                twin.metadata["compat_nb"] = {"translation": tag}
                if "id" in cell:
                    twin.id = _twin_id(str(cell.id), tag, {str(c.get("id")) for c in nb.cells})
                cells += [cell, twin]
            else:
                cell.source = by_cell[i]
                cells.append(cell)
        nb.cells = cells
        nb.metadata["language"] = tag  # BCP 47, as HTML's lang: the language of the prose
        nb.metadata["compat_nb"] = dict(provenance)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError as exc:
            raise CompatError(
                f"The translated {self.path.name} does not validate ({exc.message}); nothing "
                "was written. Please report this with the notebook."
            ) from None
        return str(nbformat.writes(nb))


def _twin_id(cell_id: str, tag: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_-]", "-", f"{cell_id}-{tag}")[:60]
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    taken.add(candidate)
    return candidate


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{path} is {size // 1_000_000} MB: is it the right file?")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: check the path.") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder: give notebooks or .md files.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text: is it a notebook or a .md file?") from None
    except OSError as exc:
        raise ConfigError(f"Could not read {path}: {exc.strerror}.") from None


def verify(original: Document, translated: str, *, comments: bool, bilingual: bool) -> None:
    """Raise CompatError unless everything but the prose is as it was: every code cell's
    source byte for byte (AST-equal with `comments`), outputs, attachments, metadata, ids and
    raw cells. Runs before anything is written."""
    if original.kind == "md":
        if not translated.startswith(original.front_matter):
            raise CompatError(f"{original.path.name}: the front matter changed; nothing written.")
        return
    import nbformat

    after = nbformat.reads(translated, as_version=4).cells
    before = original.notebook.cells
    if bilingual:  # drop the translated twins: what remains must line up with the original
        after = [c for c in after if "translation" not in c.metadata.get("compat_nb", {})]
    problems = []
    if len(after) != len(before):
        problems.append(f"{len(before)} cells became {len(after)}")
    for i, (a, b) in enumerate(zip(before, after, strict=False)):
        for key in ("cell_type", "id", "metadata", "outputs", "attachments", "execution_count"):
            if a.get(key) != b.get(key):
                problems.append(f"cell {i + 1}: {key} changed")
        code_changed = a.cell_type == "code" and a.source != b.source
        if code_changed and not (comments and code_comments.same_code(a.source, b.source)):
            problems.append(f"cell {i + 1}: the code changed")
        if a.cell_type == "raw" and a.source != b.source:
            problems.append(f"cell {i + 1}: a raw cell changed")
    if problems:
        raise CompatError(
            f"{original.path.name}: {'; '.join(problems[:3])}; nothing was written. Please "
            "report this with the notebook."
        )
