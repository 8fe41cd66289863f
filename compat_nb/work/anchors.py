"""Heading anchors that survive translation: a link to `#Residuals` still lands on the heading
once it reads "Résidus".

Renderers name a heading's anchor after its text: JupyterLab uses the text with spaces made
`-` (`createHeaderId` in @jupyterlab/rendermime), GitHub a lower-case slug without punctuation
(`#residual-plots`, with `-1`, `-2` for repeats). A translated heading gets the original's
anchors back as an empty `<a>` at the start of its text, which no renderer shows:
`## <a id="Residuals"></a>Résidus`. JupyterLab's sanitizer keeps `id` (as `data-jupyter-id`,
which its link handler looks up) and drops `name`; GitHub's keeps `name` and drops `id`
("Custom anchors", docs.github.com, basic writing and formatting syntax). So a notebook's
heading gets `id` = its JupyterLab anchor and, when it differs, `name` = its GitHub slug; a
Markdown file's (GitHub, MkDocs) gets both attributes set to the slug.
"""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["Heading", "github_slug", "headings", "jupyter_id", "keep_anchors"]

_TAG = re.compile(r"<[^>]*>")
_ATX_MARK = re.compile(r"#{1,6}(?:[ \t]+|$)")
_ID_ATTRIBUTE = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
_EXPLICIT_ID = re.compile(r"\{#[^}\s]+[^}]*\}\s*$")  # `## Title {#custom}` (attr_list, Pandoc)


@dataclass(frozen=True)
class Heading:
    """One heading of a Markdown text: its level, its text as a reader sees it (markup
    removed), its first line (0-based) and where in that line its text begins."""

    level: int
    text: str
    line: int
    column: int
    explicit_id: bool = False


@cache
def _parser() -> Any:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def headings(markdown: str) -> list[Heading]:
    """Every heading CommonMark finds (ATX `## Title` and setext `Title\\n===`, in quotes and
    lists too; never in code), in order."""
    parser = _parser()
    tokens = parser.parse(markdown)
    lines = markdown.split("\n")
    found = []
    for opening, inline in itertools.pairwise(tokens):
        if opening.type != "heading_open" or inline.type != "inline" or not opening.map:
            continue
        row = opening.map[0]
        line = lines[row]
        if opening.markup.startswith("#"):
            mark = _ATX_MARK.search(line)
            column = mark.end() if mark else len(line)
        else:  # setext: the text starts the line, after any container marks
            first = inline.content.split("\n", 1)[0]
            column = max(line.find(first), 0)
        rendered = parser.renderInline(inline.content)
        text = html.unescape(_TAG.sub("", rendered))
        level = int(opening.tag[1])
        explicit = bool(_EXPLICIT_ID.search(inline.content))
        found.append(Heading(level, text, row, column, explicit))
    return found


def jupyter_id(text: str) -> str:
    """JupyterLab's anchor for a heading's text: spaces become `-`, nothing else changes."""
    return text.replace(" ", "-")


def github_slug(text: str) -> str:
    """GitHub's anchor for a heading's text (github-slugger): lower case, every character
    but letters, marks, digits, `_`, `-` and spaces dropped, each space a `-`."""
    kept = (
        c
        for c in text.strip().lower()
        if c in " -_" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


def _anchor(ids: Sequence[tuple[str, str]]) -> str:
    """An empty `<a>` with these (attribute, value) pairs: `<a id="…" name="…"></a>`."""
    attributes = "".join(f' {name}="{html.escape(value, quote=True)}"' for name, value in ids)
    return f"<a{attributes}></a>"


def keep_anchors(pairs: Sequence[tuple[str, str]], *, notebook: bool) -> list[str]:
    """Each (original, translated) Markdown text of one document, in order, as the translated
    text with the original anchors of every heading whose text changed.

    A text whose headings do not line up with the original's (a piece left untranslated has
    the same ones) is returned as it is. GitHub numbers repeated slugs across the document,
    so the texts are taken together.
    """
    seen: dict[str, int] = {}
    # Anchors the document already has (`<a id="setup"></a>` above `## Setup`, a common
    # idiom) are kept by protected.py; a second element with the same id would be noise.
    present = {m.group(1) for original, _ in pairs for m in _ID_ATTRIBUTE.finditer(original)}
    out = []
    for original, translated in pairs:
        before = headings(original)
        slugs = []
        for heading in before:  # every heading counts toward GitHub's numbering
            slug = github_slug(heading.text)
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            slugs.append(f"{slug}-{count}" if count else slug)
        if translated == original or not before:
            out.append(translated)
            continue
        after = headings(translated)
        if [h.level for h in after] != [h.level for h in before]:
            out.append(translated)
            continue
        lines = translated.split("\n")
        for old, new, slug in zip(before, after, slugs, strict=True):
            if old.text == new.text or old.explicit_id:
                continue
            if notebook:
                ids = [("id", jupyter_id(old.text))]
                ids += [("name", slug)] if slug != ids[0][1] else []
            else:
                ids = [("id", slug), ("name", slug)]
            ids = [(attribute, value) for attribute, value in ids if value not in present]
            if not ids:
                continue
            line = lines[new.line]
            lines[new.line] = line[: new.column] + _anchor(ids) + line[new.column :]
        out.append("\n".join(lines))
    return out
