"""Widget building blocks for the settings panel: labelled fields, buttons, header rows.

Generic plumbing with no store or client in it; panel.py composes these into SettingsPanel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ipywidgets as w
from traitlets import Dict, observe

from ..errors import ConfigError

__all__ = [
    "LABEL_WIDTH",
    "HeaderRows",
    "NumberSpec",
    "button",
    "css",
    "descendants",
    "form_field",
    "format_number",
    "parse_number",
    "row_label",
    "show_if",
]

LABEL_WIDTH = "180px"  # "use environment variable" and "API Key (optional)" fit uncut
_STYLE = {"description_width": LABEL_WIDTH}
_WIDTH = "600px"

# A number typed as text: (type, lowest, highest, label, placeholder).
NumberSpec = tuple[type, float | None, float | None, str, str]

W = TypeVar("W", bound=w.DOMWidget)


def css(widget: W, name: str) -> W:
    # A class per named widget: the browser test (and a user's CSS) finds fields by it.
    widget.add_class("compat-nb-" + name.replace("_", "-"))
    return widget


def form_field(cls: Callable[..., W], name: str, description: str, **kwargs: Any) -> W:
    layout = w.Layout(width=_WIDTH)
    return css(cls(description=description, style=_STYLE, layout=layout, **kwargs), name)


def button(name: str, description: str, **kwargs: Any) -> w.Button:
    layout = w.Layout(width="auto", min_width="120px")
    return css(w.Button(description=description, layout=layout, **kwargs), name)


def row_label(text: str) -> w.HTML:
    # Looks like a field's description: as wide (with its margin), right-aligned.
    style = "text-align:right; padding-right:8px; line-height:28px"
    layout = w.Layout(width=f"calc({LABEL_WIDTH} + 8px)", flex="0 0 auto")
    return w.HTML(f"<div style='{style}'>{text}</div>", layout=layout)


def descendants(widget: w.Widget) -> Iterator[w.Widget]:
    """Child widgets, their children, and the layout and style models they own."""
    for child in getattr(widget, "children", ()):
        yield from descendants(child)
        yield child
    for part in ("layout", "style"):
        if isinstance(getattr(widget, part, None), w.Widget):
            yield getattr(widget, part)


def show_if(widget: w.DOMWidget, visible: bool) -> None:
    widget.layout.display = None if visible else "none"


def parse_number(text: str, spec: NumberSpec) -> float | int | None:
    """The field's number, or None when empty (the server's or client's default applies)."""
    kind, low, high, label, _ = spec
    text = text.strip()
    if not text:
        return None
    try:
        value = kind(text)
    except ValueError:
        value = None
    in_range = value is not None and (low is None or value >= low)
    if not in_range or (high is not None and value > high):
        bounds = f" from {low:g} to {high:g}" if high is not None else f" of at least {low:g}"
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(
            f"{label} must be {noun}{bounds}, or empty for the default; not {text!r}."
        )
    return value


def format_number(value: float | None) -> str:
    return "" if value is None else str(value)


class HeaderRows(w.VBox):
    """Extra HTTP headers as editable key/value rows; `value` is the dict they spell."""

    value = Dict(help="Header name -> value; rows with an empty name are left out.")

    def __init__(self, **kwargs: Any) -> None:
        self.add_button = button("add_header", "Add header", icon="plus")
        self.add_button.layout.align_self = "flex-start"
        self.add_button.on_click(lambda _: self.add_row())
        self._syncing = False
        super().__init__(children=[self.add_button], **kwargs)

    @property
    def rows(self) -> list[w.HBox]:
        return list(self.children[:-1])

    def add_row(self, name: str = "", value: str = "") -> w.HBox:
        key = w.Text(name, placeholder="Header-Name", layout=w.Layout(width="150px"))
        val = w.Text(value, placeholder="value", layout=w.Layout(width="214px"))
        remove = w.Button(icon="times", tooltip="Remove this header", layout=w.Layout(width="36px"))
        row = w.HBox([key, val, remove])
        remove.on_click(lambda _: self.remove_row(row))
        key.observe(self._on_row_change, "value")
        val.observe(self._on_row_change, "value")
        self.children = (*self.rows, row, self.add_button)
        return row

    def remove_row(self, row: w.HBox) -> None:
        self.children = tuple(c for c in self.children if c is not row)
        row.close()
        self._on_row_change()

    def _on_row_change(self, _change: Any = None) -> None:
        self._syncing = True
        try:
            pairs = [(r.children[0].value.strip(), r.children[1].value) for r in self.rows]
            self.value = {k: v for k, v in pairs if k}
        finally:
            self._syncing = False

    @observe("value")
    def _on_value_change(self, change: Any) -> None:
        if self._syncing:
            return
        for row in self.rows:
            row.close()
        self.children = (self.add_button,)
        for name, value in change.new.items():
            self.add_row(name, value)
