"""Results that render themselves: tables and side-by-side columns, as HTML or as plain text.

Used for presets, history and comparisons; cells are escaped, never trusted. No IPython here.
"""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .markup import markdown_html, message_html, tone

__all__ = ["Column", "Table", "counted", "format_ms", "grid_html", "plain_columns"]


class Table:
    def __init__(
        self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, caption: str = ""
    ) -> None:
        self.columns = list(columns)
        self.rows = [["" if v is None else str(v) for v in row] for row in rows]
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(v)}</td>" for v in row)
            + "</tr>"
            for row in self.rows
        )
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        return self.text(shutil.get_terminal_size().columns)

    def text(self, width: int = 100) -> str:
        """Aligned columns at most `width` characters wide: the widest cells are cut with an
        ellipsis; when even that cannot fit, each row is stacked as `field: value` lines."""
        width = max(width, 20)
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        floors = [min(w, max(len(c), 8)) for c, w in zip(self.columns, widths, strict=True)]
        while sum(widths) + 2 * (len(widths) - 1) > width:
            shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
            if not shrinkable:
                return self._stacked(width)
            widest = max(shrinkable, key=lambda i: widths[i])
            widths[widest] -= 1
        lines = [_cut(self.caption, width)] if self.caption else []
        lines.append(
            "  ".join(_cut(c, w).ljust(w) for c, w in zip(self.columns, widths, strict=True))
        )
        lines.append("  ".join("-" * w for w in widths))
        lines += [
            "  ".join(_cut(v, w).ljust(w) for v, w in zip(row, widths, strict=True))
            for row in self.rows
        ]
        return "\n".join(line.rstrip() for line in lines)

    def _stacked(self, width: int) -> str:
        label = max((len(c) for c in self.columns), default=0)
        lines = [_cut(self.caption, width)] if self.caption else []
        for row in self.rows:
            lines.append("")
            for column, value in zip(self.columns, row, strict=True):
                if value:
                    lines.append(f"{column.rjust(label)}: {_cut(value, width - label - 2)}")
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Column:
    label: str
    text: str = ""
    figures: str = ""
    error: str | None = None
    status: str = "waiting"


def grid_html(columns: Sequence[Column]) -> str:
    """One column per candidate, side by side (scrolling sideways when there are many).

    Each column's text renders as Markdown, as a single translation does; its error, status
    and figures take the theme's colours (markup.tone).
    """
    cells = []
    for c in columns:
        status = "" if c.status == "done" else " " + tone(html.escape(c.status), "muted")
        error = tone("⚠ " + message_html(c.error), "error", tag="div") if c.error else ""
        figures = html.escape(c.figures)
        figures = tone(figures, "muted", tag="div", style="font-size:.85em") if figures else ""
        cells.append(
            "<div class='compat-nb-column' style='border:1px solid var(--jp-border-color2,"
            " rgba(128,128,128,.35));border-radius:4px;padding:.5em .6em;min-width:0;"
            "display:flex;flex-direction:column;gap:.4em'>"
            f"<div style='font-weight:600'>{html.escape(c.label)}{status}</div>"
            f"<div class='compat-nb-text' style='overflow-wrap:anywhere'>"
            f"{markdown_html(c.text)}</div>{error}{figures}</div>"
        )
    grid = f"repeat({len(columns)}, minmax(14em, 1fr))"
    style = f"display:grid;grid-template-columns:{grid};gap:.6em;overflow-x:auto"
    return f"<div class='compat-nb-grid' style='{style}'>{''.join(cells)}</div>"


def plain_columns(columns: Sequence[Column]) -> str:
    return "\n\n".join(
        f"── {c.label} ({c.status}) ──\n{c.text}" + (f"\n⚠ {c.error}" if c.error else "")
        for c in columns
    )


def _cut(text: str, width: int) -> str:
    """text on one line, at most width characters, ending in … when cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def counted(n: int, noun: str) -> str:
    """'1 text', '4 texts', '1,000 texts': a count in a caption, with its noun's plural."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def format_ms(ms: float) -> str:
    """842 ms, or 1.42 s: how every footer, table and history row shows a duration."""
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"
