"""The tables `%translate presets` shows: built from the store, rendered by work.table.Table."""

from __future__ import annotations

from ..config.store import get_store
from ..config.urls import hidden_character, shown_url
from ..errors import PresetEntryError
from ..work.table import Table

__all__ = ["preset_table"]


def preset_table() -> Table:
    """Every preset: active mark, name, base URL, model, key status (never the key), usable."""
    store = get_store()
    rows = []
    with store.reading():  # each file read once for the whole table
        active = store.active_name
        for name in store.names():
            try:
                preset = store.get(name)
            except PresetEntryError as exc:  # one hand-broken entry: its row says so, not all
                # Its name may hold what no valid one can (a direction override that would
                # reverse the rest of the row): shown escaped, as the message names it.
                shown = ascii(name)[1:-1] if hidden_character(name) else name
                rows.append(
                    ["*" if name == active else "", shown, "", "", "unreadable", exc.message]
                )
                continue
            problems = preset.problems()
            rows.append(
                [
                    "*" if name == active else "",
                    name,
                    shown_url(preset.base_url),
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
