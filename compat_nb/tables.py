"""Small tables that render as HTML in a notebook and as aligned text in a terminal.

Used for `%translate presets` and `%translate history`; cells are escaped, never trusted.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

__all__ = ["Table", "preset_table"]


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
        widths = [
            max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
            for i, c in enumerate(self.columns)
        ]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += [
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in self.rows
        ]
        if self.caption:
            lines.insert(0, self.caption)
        return "\n".join(line.rstrip() for line in lines)

    def __len__(self) -> int:
        return len(self.rows)


def preset_table() -> Table:
    """Every preset: active mark, name, base URL, model, key status (never the key), usable."""
    from .store import get_store

    store = get_store()
    active = store.active_name
    rows = []
    for name in store.names():
        preset = store.get(name)
        problems = preset.problems()
        rows.append(
            [
                "*" if name == active else "",
                name,
                preset.base_url,
                preset.model,
                preset.key_status,
                "yes" if not problems else "no: " + "; ".join(problems),
            ]
        )
    return Table(
        ["", "name", "base URL", "model", "key", "usable"],
        rows,
        caption="* = active preset (%translate use NAME)",
    )
