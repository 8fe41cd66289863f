"""Widget building blocks for the settings panel: labelled fields, buttons, rows, message
lines, header rows.

Generic plumbing with no store or client in it; panel_form.py composes these into the form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import ipywidgets as w
from traitlets import Dict, Unicode, observe

from ..config.bounds import Bound
from ..errors import ConfigError

__all__ = [
    "FORM_CSS",
    "LABEL_WIDTH",
    "HeaderRows",
    "NumberSpec",
    "button",
    "css",
    "descendants",
    "form_field",
    "format_number",
    "message_line",
    "parse_number",
    "row_label",
    "row_layout",
    "show_if",
    "wrap_row",
]

# Labels share one width, in em so it follows the font; the panel's stylesheet also lets a
# label grow past it (min-width: max-content) rather than cut it, and stacks labels above
# their fields when the panel is narrow. The fallback holds where the stylesheet is dropped.
LABEL_WIDTH = "var(--compat-nb-label-width, 13em)"
_STYLE = {"description_width": LABEL_WIDTH}

# The settings panel's stylesheet, scoped to it (its title widget carries it). Widgets take
# most of their look from layout traits; what those cannot say is here: labels that grow
# rather than clip, messages with normal line spacing, code spans, and labels above fields
# when the panel is narrow (a container query: it follows the notebook's width, not the
# window's).
FORM_CSS = """
.compat-nb-panel { container: compat-nb-panel / inline-size; }
.compat-nb-panel .widget-label { min-width: max-content; }
.compat-nb-panel .compat-nb-row-label {
  justify-content: flex-end; margin-right: calc(var(--jp-widgets-inline-margin, 4px) * 2);
}
.compat-nb-panel .compat-nb-message, .compat-nb-panel .compat-nb-summary { height: auto; }
.compat-nb-panel .compat-nb-message .widget-html-content,
.compat-nb-panel .compat-nb-summary .widget-html-content {
  line-height: 1.45; white-space: normal; overflow-wrap: anywhere; padding: 0.3em 0;
}
.compat-nb-panel code {
  font-family: var(--jp-code-font-family, monospace); font-size: 0.92em;
  padding: 0 0.25em; border-radius: 3px;
  background: var(--jp-layout-color2, rgba(128, 128, 128, 0.15));
}
@container compat-nb-panel (max-width: 34em) {
  .compat-nb-panel .widget-inline-hbox { flex-wrap: wrap; height: auto; }
  .compat-nb-panel .widget-inline-hbox > .widget-label,
  .compat-nb-panel .compat-nb-row-label {
    --compat-nb-label-width: 100%; text-align: left; justify-content: flex-start;
  }
  .compat-nb-panel .compat-nb-summary { margin-left: 0 !important; }
}
"""

# A number typed as text: (its range, label, placeholder). The range is the one every entry
# point shares (config/bounds.py), so the panel cannot accept what the preset then refuses.
NumberSpec = tuple[Bound, str, str]

W = TypeVar("W", bound=w.DOMWidget)


def css(widget: W, name: str) -> W:
    # A class per named widget: the browser test (and a user's CSS) finds fields by it.
    widget.add_class("compat-nb-" + name.replace("_", "-"))
    return widget


def form_field(cls: Callable[..., W], name: str, description: str, **kwargs: Any) -> W:
    # As wide as the panel: the field, not the label, gives way in a narrow notebook.
    layout = w.Layout(width="auto")
    field = cls(description=description, style=_STYLE, layout=layout, **kwargs)
    return css(css(field, "field"), name)


def button(name: str, description: str, **kwargs: Any) -> w.Button:
    # As wide as its label and never squeezed: a row of buttons wraps instead.
    layout = w.Layout(width="auto", min_width="8em", flex="0 0 auto")
    return css(w.Button(description=description, layout=layout, **kwargs), name)


def row_label(text: str) -> w.Label:
    # Looks like a field's description: as wide (with its margin), right-aligned.
    label = w.Label(text, layout=w.Layout(width=LABEL_WIDTH, flex="0 0 auto"))
    return css(label, "row-label")


def row_layout() -> w.Layout:
    """Side by side, wrapping onto the next line when the panel is too narrow."""
    return w.Layout(flex_flow="row wrap", align_items="center", width="auto")


def wrap_row(*children: w.Widget, name: str) -> w.HBox:
    """Widgets side by side that wrap onto the next line when the panel is too narrow."""
    return css(w.HBox(list(children), layout=row_layout()), name)


def message_line(name: str) -> w.HTML:
    """An empty line for messages beside a button, found in the page by `name`."""
    # Grows to the space left beside its button, and wraps under it when there is none.
    layout = w.Layout(flex="1 1 16em", min_width="0", margin="0 0 0 0.5em")
    return css(css(w.HTML(layout=layout), "message"), name)


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
    """The field's number, or None when empty (the server's or client's default applies).

    Raises ConfigError naming the field's label and its range (bounds.py's wording).
    """
    bound, label, _ = spec
    text = text.strip()
    if not text:
        return None
    try:
        value: float | int | None = int(text) if bound.whole else float(text)
    except ValueError:
        value = None
    if value is None or not bound.allows(value):
        raise ConfigError(
            f"{label} must be {bound.wording}, or empty for the default; not {text!r}."
        )
    return value


def format_number(value: float | None) -> str:
    return "" if value is None else str(value)


class HeaderRows(w.VBox):
    """Extra HTTP headers as editable key/value rows; `value` is the dict they spell.

    `check(name, value)` may refuse a row's value (a message, or None to accept): the value
    then leaves its field at once, so widget state never holds it, and `refused` says why.
    """

    value = Dict(help="Header name -> value; rows with an empty name are left out.")
    refused = Unicode(help="Why a value was last taken out of its field ('' when none was).")

    def __init__(
        self, *, check: Callable[[str, str], str | None] | None = None, **kwargs: Any
    ) -> None:
        self.add_button = button("add_header", "Add header", icon="plus")
        self.add_button.layout.align_self = "flex-start"
        self.add_button.on_click(lambda _: self.add_row())
        self._syncing = False
        kwargs.setdefault("layout", w.Layout(flex="1 1 16em", min_width="0"))
        self._check = check
        super().__init__(children=[self.add_button], **kwargs)

    @property
    def rows(self) -> list[w.HBox]:
        return list(self.children[:-1])

    def add_row(self, name: str = "", value: str = "") -> w.HBox:
        # One sync when typing ends (blur or Enter), not one per key: a value is judged whole.
        key = w.Text(
            name,
            placeholder="Header-Name",
            continuous_update=False,
            layout=w.Layout(flex="2 1 8em", width="auto", min_width="0"),
        )
        val = w.Text(
            value,
            placeholder="value or ${VAR}",
            continuous_update=False,
            layout=w.Layout(flex="3 1 10em", width="auto", min_width="0"),
        )
        remove = w.Button(
            icon="times",
            tooltip="Remove this header",
            layout=w.Layout(width="2.5em", flex="0 0 auto"),
        )
        row = w.HBox([key, val, remove], layout=w.Layout(width="auto"))
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
        if self._syncing:
            return
        self._syncing = True
        try:
            pairs = []
            for row in self.rows:
                name, val = row.children[0].value.strip(), row.children[1]
                problem = self._check(name, val.value) if self._check and val.value else None
                if problem:
                    val.value = ""  # out of the widget, so out of a saved notebook's state
                    self.refused = ""  # a second refusal of the same kind still notifies
                    self.refused = problem
                pairs.append((name, val.value))
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
        self._syncing = True  # filled from a preset: already checked
        try:
            for name, value in change.new.items():
                self.add_row(name, value)
        finally:
            self._syncing = False
