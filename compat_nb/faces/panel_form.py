"""The settings panel's form: one preset's fields, placed, filled, read back and kept clean.

`PresetForm` builds and lays out every field, button and message line, shows a `Preset` in
the fields and reads one back, takes a key typed in the wrong field out at once, and shows
messages in the theme's colours. It knows no store and no server: panel.py's `SettingsPanel`
subclasses it and connects it to both. The key field (key_field.py) and the Test connection
row (connection_test.py) keep their own small behaviour with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w

from ..config.bounds import BOUNDS, DEFAULT_DEADLINE, DEFAULT_READ_TIMEOUT
from ..config.presets import Preset
from ..work.markup import message_html, tone
from .connection_test import ConnectionTest
from .key_field import KeyField
from .secret_fields import GUARDED_FIELDS, field_secret, header_secret
from .widgets import (
    FORM_CSS,
    LABEL_WIDTH,
    HeaderRows,
    NumberSpec,
    button,
    css,
    form_field,
    format_number,
    message_line,
    parse_number,
    row_label,
    wrap_row,
)

__all__ = ["NUMBER_FIELDS", "TEXT_FIELDS", "PresetForm"]

# Preset fields edited as text, and numeric ones: (range, label, placeholder).
TEXT_FIELDS = ("base_url", "model", "api_key_env", "system_prompt", "target_language", "glossary")
NUMBER_FIELDS: dict[str, NumberSpec] = {
    "temperature": (BOUNDS["temperature"], "Temperature", "server default (0–2)"),
    "max_tokens": (BOUNDS["max_tokens"], "Max tokens", "server default"),
    "timeout": (BOUNDS["timeout"], "Timeout (s)", f"{DEFAULT_READ_TIMEOUT:g} s"),
    "deadline": (BOUNDS["deadline"], "Deadline (s)", f"{DEFAULT_DEADLINE:g} s for a whole answer"),
    "concurrency": (BOUNDS["concurrency"], "Requests at once", "no limit for this server (1–64)"),
    "input_price": (BOUNDS["input_price"], "Input $ / 1M tokens", "for cost estimates"),
    "output_price": (BOUNDS["output_price"], "Output $ / 1M tokens", "for cost estimates"),
}
# A message's kind -> the tone it is shown in.
_TONES = {"ok": "ok", "warn": "warn", "error": "error", "busy": "muted"}


class PresetForm(w.VBox):
    """One preset's fields, laid out to fit any notebook width.

    `fill(preset)` shows a preset, `preset_values()` reads the fields back, `snapshot()` tells
    edits apart. A key typed where it does not belong leaves its field the moment it arrives,
    with a message saying where it goes; every other reaction to typing is the subclass's.
    """

    def __init__(self, **kwargs: Any) -> None:
        # What each message line says, as plain text, and which one spoke last.
        self._said = {"status": "", "feedback": ""}
        self._latest = "status"
        self._quiet = False  # set while the form sets its own fields: no handler acts on it
        self._build()
        # As wide as the notebook allows, up to a comfortable reading width.
        kwargs.setdefault("layout", w.Layout(width="100%", max_width="52em"))
        super().__init__(children=self._layout_children(), **kwargs)
        self.add_class("compat-nb-panel")
        # First of each field's handlers (a subclass wires its own after these): a key typed
        # in the wrong field leaves it before anything else reads it.
        for name in GUARDED_FIELDS:
            getattr(self, name).observe(self._on_guarded_field_change, "value")
        self.headers.observe(self._on_headers_refused, "refused")

    def _build(self) -> None:
        # The title carries the panel's stylesheet: no extra row, gone with the panel.
        title = "<b>Local LLM &amp; OpenAI-compatible providers</b>"
        self.title = w.HTML(f"<style>{FORM_CSS}</style>{title}")
        self.preset = form_field(w.Dropdown, "preset", "Preset")
        self.new_name = form_field(w.Text, "new_name", "Name", placeholder="name of the new preset")
        self.base_url = form_field(
            w.Text, "base_url", "Base URL", placeholder="http://127.0.0.1:1234/v1"
        )
        # Synced when typing ends (Enter or leaving the field), so a pasted endpoint URL can be
        # shown trimmed to its root without fighting the user's typing.
        self.base_url.continuous_update = False
        self.api_key = form_field(KeyField, "api_key", "API key (optional)")
        self.api_key_env = form_field(
            w.Text,
            "api_key_env",
            "Use environment variable",
            placeholder="e.g. OPENAI_API_KEY",
            continuous_update=False,  # judged once typing ends, like the key field
        )
        self.model = form_field(
            w.Combobox, "model", "Model name", placeholder="exact model id", ensure_option=False
        )
        # Each message shows beside the button that caused it: the test result by Test
        # connection, what Save, Use, Delete, Reset and Forget did by those buttons.
        self.connection_test = ConnectionTest()
        self.test_button = self.connection_test.button
        self.status = self.connection_test.status
        self.feedback = message_line("feedback")
        # Under the selector, aligned with the fields: it describes the preset chosen.
        indent = f"0 0 0 calc({LABEL_WIDTH} + 8px)"
        self.summary = css(w.HTML(layout=w.Layout(margin=indent)), "summary")
        for name, (*_, label, placeholder) in NUMBER_FIELDS.items():
            setattr(self, name, form_field(w.Text, name, label, placeholder=placeholder))
        self.system_prompt = form_field(
            w.Textarea,
            "system_prompt",
            "System prompt",
            placeholder="appended to the translation instruction, e.g. 'Use formal register.'",
            rows=3,
        )
        self.target_language = form_field(
            w.Text, "target_language", "Target language", placeholder="English (%%translate's)"
        )
        self.glossary = form_field(
            w.Text,
            "glossary",
            "Glossary file",
            placeholder="terms.csv: source,target (or TSV, JSON)",
        )
        self.headers = css(HeaderRows(check=header_secret), "headers")
        self.save_button = button("save", "Save", button_style="primary", icon="save")
        self.use_button = button("use", "Use for %%translate", icon="check")
        self.delete_button = button("delete", "Delete", button_style="danger", icon="trash")
        self.reset_button = button("reset", "Reset to defaults", icon="undo")
        self.forget_key_button = button("forget_key", "Forget saved key", icon="key")

    def _layout_children(self) -> list[w.Widget]:
        advanced = w.VBox(
            [
                self.temperature,
                self.max_tokens,
                self.system_prompt,
                self.glossary,
                wrap_row(row_label("Extra headers"), self.headers, name="headers-row"),
                self.timeout,
                self.deadline,
                self.concurrency,
                self.target_language,
                self.input_price,
                self.output_price,
            ]
        )
        self.advanced = w.Accordion(
            children=[advanced], titles=("Advanced",), layout=w.Layout(width="auto")
        )
        buttons = [self.save_button, self.use_button, self.delete_button, self.reset_button]
        return [
            self.title,
            self.preset,
            self.summary,
            self.new_name,
            self.base_url,
            self.api_key,
            self.api_key_env,
            self.model,
            self.connection_test,
            self.advanced,
            wrap_row(*buttons, self.forget_key_button, self.feedback, name="actions"),
        ]

    # --- the fields as a preset ----------------------------------------------------------------

    def fill(self, preset: Preset | None) -> None:
        """Show `preset`'s values in the fields (blank ones for None); the key field is left
        empty, since a saved key is only ever named by its hint."""
        shown = preset or Preset("")
        with self._quietly():
            for field in TEXT_FIELDS:
                getattr(self, field).value = getattr(shown, field) or ""
            for field in NUMBER_FIELDS:
                getattr(self, field).value = format_number(getattr(shown, field))
            self.headers.value = dict(shown.headers)
            self.api_key.clear()
            self.new_name.value = ""

    def preset_values(self) -> dict[str, Any]:
        """The fields as `Preset` keyword arguments, a typed key included.

        Raises ConfigError naming the field and its range when a number does not parse.
        """
        values: dict[str, Any] = {f: getattr(self, f).value.strip() or None for f in TEXT_FIELDS}
        values["base_url"] = values["base_url"] or ""
        values["model"] = values["model"] or ""
        for field, spec in NUMBER_FIELDS.items():
            values[field] = parse_number(getattr(self, field).value, spec)
        values["headers"] = self.headers.value
        if self.api_key.typed:
            values["api_key"] = self.api_key.typed
            values["key_source"] = "typed"  # messages then name the key typed above
        return values

    def snapshot(self) -> tuple[object, ...]:
        """Everything the user can edit, as typed: equal snapshots mean no unsaved change."""
        fields = ("new_name", *TEXT_FIELDS, *NUMBER_FIELDS)
        values = (getattr(self, f).value for f in fields)
        return (*values, self.api_key.typed, tuple(self.headers.value.items()))

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        """Set fields from code: handlers that react to typing leave these changes alone."""
        before, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = before

    def _on_guarded_field_change(self, change: Any) -> None:
        if self._quiet or not isinstance(change.new, str):
            return
        name = next(n for n in GUARDED_FIELDS if getattr(self, n) is change.owner)
        problem = field_secret(name, change.new)
        if problem is None:
            return
        # Out of the widget, so out of a saved notebook's state; what was there before is back.
        before = change.old if isinstance(change.old, str) else ""
        with self._quietly():
            change.owner.value = "" if field_secret(name, before) else before
        self._say(problem, "error")

    def _on_headers_refused(self, change: Any) -> None:
        if change.new:
            self._say(f"Taken out of the form: {change.new}", "error")

    # --- messages -----------------------------------------------------------------------------

    @property
    def message(self) -> str:
        """The latest message still shown (beside Test connection or the action buttons)."""
        other = "status" if self._latest == "feedback" else "feedback"
        return self._said[self._latest] or self._said[other]

    def _show_message(self, line: w.HTML, text: str, kind: str) -> None:
        """`text` (plain, `code` spans marked) on `line`, in the tone of `kind`."""
        key = "feedback" if line is self.feedback else "status"
        self._said[key] = text
        self._latest = key if text else self._latest
        line.value = tone(message_html(text), _TONES[kind], surface="ui") if text else ""

    def _show_summary(self, *, active: bool, dirty: bool, note: str) -> None:
        """The line under the selector: the active mark, the unsaved mark, a usability `note`
        (plain, `code` spans marked)."""
        marks = ["<b>★ active for %%translate</b>"] if active else []
        if dirty:
            marks.append(tone("● unsaved changes", "warn", surface="ui"))
        if note:
            marks.append(message_html(note))
        self.summary.value = " · ".join(marks)

    def _say(self, text: str, kind: str, *, line: w.HTML | None = None) -> None:
        """Show a message on `line` (default: the one beside Test connection)."""
        self._show_message(line or self.status, text, kind)

    def _reply(self, text: str, kind: str) -> None:
        """Say what Save, Use, Delete, Reset or Forget did, beside those buttons."""
        self._say(text, kind, line=self.feedback)
