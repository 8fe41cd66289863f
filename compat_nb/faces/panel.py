"""The settings panel: edit presets, test a connection, choose the preset `%%translate` uses.

The form (panel_form.py) connected to the store and the server. Validation, URL rules,
persistence and HTTP live in Preset, PresetStore and the shared client. Imported when a panel
is first shown, never by `%load_ext`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import ipywidgets as w
from traitlets import Bool, Unicode, dlink

from ..config import advice
from ..config.catalog import BUILTIN_PRESETS
from ..config.presets import Preset
from ..config.store import PresetStore, get_store
from ..config.urls import host_of, normalize_base_url, shown_url
from ..errors import CompatError, ConfigError, redact
from ..wire.protocol import ConnectionReport
from ..work.glossary import read_glossary
from ..work.languages import resolve_language
from .completion import remember_models
from .connection_test import report_message, unlisted_model
from .panel_form import NUMBER_FIELDS, TEXT_FIELDS, PresetForm
from .widgets import HeaderRows, descendants, show_if

MODEL_SUGGESTIONS = 1000  # model ids offered under the Model name field

__all__ = ["NEW_PRESET", "HeaderRows", "SettingsPanel", "settings_panel"]

T = TypeVar("T")

NEW_PRESET = "New preset…"  # the store refuses to save a preset by this name
DEFAULT_PRESET = "LM Studio"  # shown first when no preset is active yet


@dataclasses.dataclass(frozen=True)
class _StoreFacts:
    """What the store says about the preset shown, read once per change rather than per key."""

    builtin: bool = False
    modified: bool = False
    active: bool = False
    key_hint: str | None = None

    @classmethod
    def read(cls, store: PresetStore, name: str) -> _StoreFacts:
        if not name:
            return cls()
        return cls(
            builtin=store.is_builtin(name),
            modified=store.is_modified(name),
            active=name == store.active_name,
            key_hint=store.key_hint(name),
        )


class SettingsPanel(PresetForm):
    """The presets `%%translate` uses: choose, edit, test, save, and make one active.

    Drive it from Python as a user would: set `panel.base_url.value`, call
    `panel.test_button.click()` (or `panel.test_connection(wait=True)`), read `panel.status`.
    """

    selected = Unicode(help="The preset in the form; empty while a new one is being made.")
    dirty = Bool(False, help="The form differs from the saved preset.")
    testing = Bool(False, help="A connection test is running.")

    def __init__(
        self, name: str | None = None, *, store: PresetStore | None = None, **kwargs: Any
    ) -> None:
        self._store = store or get_store()
        self._writing = False  # set while this panel writes the store
        self._stored: Preset | None = None
        self._loaded: tuple[Any, ...] = ()
        self._facts = _StoreFacts()
        self._tested: tuple[object, ...] = ()  # what the last test sent (see _endpoint)
        super().__init__(**kwargs)
        self._wire()
        start = self._store.resolve_name(name) if name else None
        start = start or self._store.active_name or self._first_run_choice()
        self._refresh_options(start)
        self._select(start)
        if start == NEW_PRESET:
            self._say(
                "First run: name your server, give its Base URL and Model name, then Save. "
                "(Or pick a built-in such as Ollama in the Preset list.)",
                "busy",
            )
        self._store.observe(self._on_store_change)

    def _first_run_choice(self) -> str:
        """A blank preset of the user's own when nothing is chosen or saved yet; a built-in
        opened first gets saved under its name for whatever server the user types in."""
        own = [n for n in self._store.names() if not self._store.is_builtin(n)]
        return own[0] if own else NEW_PRESET

    def _wire(self) -> None:
        """Every handler of the panel's, in one place (after the form's own, which refuse keys)."""
        self.preset.observe(self._on_preset_change, "value")
        self.model.observe(self._on_model_change, "value")
        for name in ("new_name", *TEXT_FIELDS, *NUMBER_FIELDS):
            getattr(self, name).observe(self._on_field_change, "value")
        self.api_key.observe(self._on_field_change, "typed")
        self.headers.observe(self._on_field_change, "value")
        self.base_url.observe(self._on_base_url_change, "value")  # last: nothing clears its note
        self.connection_test.observe(self._on_connection_test_report, "report")
        dlink((self.connection_test, "testing"), (self, "testing"))
        self.test_button.on_click(self._on_test_button_click)
        self.save_button.on_click(self._on_save_button_click)
        self.use_button.on_click(self._on_use_button_click)
        self.delete_button.on_click(self._on_delete_button_click)
        self.reset_button.on_click(self._on_reset_button_click)
        self.forget_key_button.on_click(self._on_forget_key_button_click)

    # --- handlers ----------------------------------------------------------------------------

    def _on_preset_change(self, change: Any) -> None:
        if self._quiet:
            return
        old, was_dirty = self.selected or "the new preset", self.dirty
        self._select(change.new)
        if was_dirty:
            self._say(f"Discarded unsaved changes to {old!r}.", "warn")

    def _on_model_change(self, change: Any) -> None:
        if change.owner.value != change.new:  # taken back out of the field: nothing changed
            return
        if not self._quiet and self.last_report is not None:
            self._show_report(self.last_report)  # the "not among them" warning follows typing

    def _on_field_change(self, _change: Any) -> None:
        if not self._quiet:
            self._drop_stale_report()
            self._reply("", "busy")  # "Saved …" no longer describes the form
            self._refresh_marks()

    def _on_base_url_change(self, change: Any) -> None:
        if self._quiet or change.owner.value != change.new:  # already taken back out
            return
        try:
            root = normalize_base_url(change.new)
        except ConfigError:
            return  # said when the form is tested or saved; typing goes on meanwhile
        if root == change.new:
            return
        with self._quietly():
            self.base_url.value = root
        self._refresh_marks()
        if root.rstrip("/") != change.new.strip().rstrip("/"):
            self._say("Base URL trimmed to the API root: requests add `/chat/completions`.", "busy")

    def _on_connection_test_report(self, change: Any) -> None:
        report: ConnectionReport | None = change.new
        if report is None:
            return
        if report.ok:
            # A datalist of a gateway's whole catalogue would sit in the widget state of every
            # saved notebook (200,000 ids: 4 MB); the test's message still judges against all.
            self.model.options = tuple(report.model_ids[:MODEL_SUGGESTIONS])
            if self.selected:
                remember_models(self.selected, report.model_ids)
        self._show_report(report)

    def _on_test_button_click(self, _button: Any) -> None:
        self.test_connection()

    def _on_save_button_click(self, _button: Any) -> None:
        self.save()

    def _on_use_button_click(self, _button: Any) -> None:
        self.use()

    def _on_delete_button_click(self, _button: Any) -> None:
        self.delete()

    def _on_reset_button_click(self, _button: Any) -> None:
        self.reset()

    def _on_forget_key_button_click(self, _button: Any) -> None:
        name = self.selected
        self._write(lambda: self._store.forget_key(name), select=name)
        self._reply(f"Forgot the saved key for {name!r}.", "ok")

    def _on_store_change(self, _store: PresetStore) -> None:
        """Another panel (or the magic) wrote the store: follow it without losing edits."""
        if self._writing:
            return
        try:
            if self.selected and self.selected not in self._store.names():
                gone = self.selected
                self._refresh_options(self._store.active_name or DEFAULT_PRESET)
                self._select(self.preset.value)
                self._say(f"Preset {gone!r} was deleted elsewhere.", "warn")
                return
            self._refresh_options(self.preset.value)
            if self.selected and not self.dirty:
                self._show(self._store.get(self.selected))
            else:
                self._facts = _StoreFacts.read(self._store, self.selected)
                self._refresh_marks()
        except CompatError as exc:  # e.g. a presets file broken by hand: say so, here
            self._say(exc.message, "error")

    # --- actions -----------------------------------------------------------------------------

    def test_connection(self, *, wait: bool = False) -> ConnectionReport | None:
        """GET /models in a background thread; with wait=True, block and return the report."""
        try:
            with advice.shown_in("panel"):
                preset = self._form_preset()
        except CompatError as exc:
            self._say(exc.message, "error")
            return None
        self._say("Testing…", "busy")  # before the thread starts: its result must win
        self._tested = self._endpoint()
        return self.connection_test.run(preset, wait=wait)

    @property
    def last_report(self) -> ConnectionReport | None:
        """The last test's result; None before one ends, or once the endpoint changed."""
        return self.connection_test.report

    @property
    def _test_thread(self) -> threading.Thread | None:
        return self.connection_test.thread

    def save(self) -> Preset | None:
        """Save the form as a preset; the key goes to the credentials file and leaves the form.

        A built-in whose Base URL now points at another server is not saved under the
        built-in's name (every footer would name the wrong server): the form becomes a new
        preset, keeping what was typed, and asks for a name.
        """
        try:
            with advice.shown_in("panel"):
                preset = self._form_preset()
                if preset.glossary:  # a file that does not read as a glossary is not saved
                    read_glossary(preset.glossary)
                if preset.target_language:  # nor a language no cell could translate into
                    resolve_language(preset.target_language)
                if self.selected and self._moved_away(preset):
                    self._become_new()
                    return None
                if not self.selected:
                    self._check_new_name(preset.name)
                report = self.last_report  # a new preset's test still describes its endpoint
                saved: Preset = self._write(lambda: self._store.save(preset), select=preset.name)
        except CompatError as exc:
            self._reply(exc.message, "error")
            return None
        # A report holds its URL as shown (query values masked): compare it the same way.
        same = report is not None and report.base_url == shown_url(saved.base_url)
        if report is not None and self.last_report is None and same:
            self.connection_test.keep(report)
        problems = saved.problems()
        with advice.shown_in("panel"):
            fix = f"; {saved.fix()}" if problems else ""
        note = f" Not usable yet: {' and '.join(problems)}{fix}." if problems else ""
        unlisted = self._unlisted_model()
        self._reply(f"Saved {saved.name!r}.{note}{unlisted}", "warn" if note or unlisted else "ok")
        return saved

    def use(self) -> Preset | None:
        """Make the preset the one `%%translate` uses, saving unsaved edits first."""
        if (self.dirty or not self.selected) and self.save() is None:
            return None
        name = self.selected
        try:
            with advice.shown_in("panel"):  # store.use refuses an unusable preset, saying how
                preset: Preset = self._write(lambda: self._store.use(name), select=name)
        except CompatError as exc:
            self._reply(exc.message, "error")
            return None
        unlisted = self._unlisted_model()
        where = shown_url(preset.base_url)
        text = f"%%translate now uses {name!r} ({preset.model} at {where}).{unlisted}"
        self._reply(text, "warn" if unlisted else "ok")
        return preset

    def delete(self) -> None:
        """Delete the user preset shown (built-ins are reset instead)."""
        name = self.selected
        fallback = self._store.active_name
        fallback = fallback if fallback and fallback != name else DEFAULT_PRESET
        self._write(lambda: self._store.delete(name), select=fallback)
        self._reply(f"Deleted {name!r}.", "ok")

    def reset(self) -> None:
        """Drop a built-in's saved changes (and its saved key)."""
        name = self.selected
        self._write(lambda: self._store.reset(name), select=name)
        self._reply(f"Reset {name!r} to its defaults.", "ok")

    def close(self) -> None:
        """Stop following the store, drop a running test's result, close every child widget."""
        self._store.unobserve(self._on_store_change)
        self.connection_test.drop()
        for widget in descendants(self):
            widget.close()
        super().close()

    # --- form <-> preset ---------------------------------------------------------------------

    def _form_preset(self) -> Preset:
        """The preset the form describes; ConfigError (from Preset or a number) when it can't."""
        name = self.selected or self.new_name.value.strip()
        # Starting from the stored preset keeps its saved key (used by Test) and its hint.
        return (self._stored or Preset(name)).replace(name=name, **self.preset_values())

    def _moved_away(self, preset: Preset) -> bool:
        """True when a built-in's Base URL was changed to another server (host or port)."""
        builtin = BUILTIN_PRESETS.get(self.selected)
        if builtin is None or not builtin.base_url or not preset.base_url:
            return False
        return host_of(builtin.base_url) != host_of(preset.base_url)

    def _become_new(self) -> None:
        """Turn the form into a new preset with the same fields, and ask for its name."""
        builtin = self.selected
        with self._quietly():
            self.preset.value = NEW_PRESET
        self.selected = ""
        self._stored = None
        self._facts = _StoreFacts()
        self._refresh_marks()
        self._say(
            f"This Base URL is not {builtin}'s server, so it was not saved as {builtin!r}: "
            "type a Name for it above and Save again.",
            "warn",
        )

    def _check_new_name(self, name: str) -> None:
        existing = {n.casefold(): n for n in self._store.names()}.get(name.casefold())
        if existing:
            raise ConfigError(
                f"A preset named {existing!r} exists already: choose it in the Preset list to "
                "edit it, or give the new one another name."
            )

    def _select(self, name: str) -> None:
        """Show another preset (or a blank new one): a fresh form, no test result."""
        self._forget_report()
        self.model.options = ()
        self.selected = "" if name == NEW_PRESET else name
        self._show(self._store.get(name) if self.selected else None)

    def _show(self, preset: Preset | None) -> None:
        """Fill the fields from a preset; the key field is always left empty."""
        self._stored = preset
        self.fill(preset)
        self._drop_stale_report()  # e.g. after Reset, Forget saved key, or another panel's save
        self._loaded = self.snapshot()
        self._facts = _StoreFacts.read(self._store, self.selected)
        self._refresh_marks()

    def _write(self, action: Callable[[], T], *, select: str) -> T:
        """Run a store write, then show `select`; other panels hear of it through the store."""
        self._writing = True
        try:
            result = action()
        finally:
            self._writing = False
        self._refresh_options(select)
        if select != self.selected:
            self._select(select)
        else:
            self._show(self._store.get(select))
        return result

    # --- display -----------------------------------------------------------------------------

    def _refresh_options(self, value: str) -> None:
        active = self._store.active_name
        options = [(f"{n}  ★ active" if n == active else n, n) for n in self._store.names()]
        with self._quietly():
            self.preset.options = [*options, (NEW_PRESET, NEW_PRESET)]
            self.preset.value = value

    def _refresh_marks(self) -> None:
        """The active mark, unsaved mark, usability note and which buttons apply."""
        name, facts = self.selected, self._facts
        self.dirty = self.snapshot() != self._loaded
        creating, builtin, hint, active = not name, facts.builtin, facts.key_hint, facts.active
        entry = BUILTIN_PRESETS.get(name)
        fields = (self.base_url.value, self.model.value, self.api_key_env.value)
        preset: Preset | None = None
        try:
            preset = Preset(
                name, base_url=fields[0], model=fields[1], api_key_env=fields[2], api_key=self._key
            )
            if entry is not None and preset.base_url in ("", entry.base_url):
                preset = preset.replace(hint=entry.hint)  # its advice is about its own server
            problems = preset.problems()
        except ConfigError as exc:  # e.g. a malformed Base URL typed: say so, don't raise
            problems = [exc.message.rstrip(".")]

        show_if(self.new_name, creating)
        show_if(self.delete_button, not creating and not builtin)
        show_if(self.reset_button, builtin)
        self.reset_button.disabled = not facts.modified
        show_if(self.forget_key_button, hint is not None)
        self.api_key.saved_hint = hint
        self.use_button.disabled = bool(problems) or (active and not self.dirty)

        note = f"Not usable yet: {' and '.join(problems)}." if problems else ""
        if problems and preset is not None:
            with advice.shown_in("panel"):
                note = f"Not usable yet: {' and '.join(problems)} — {preset.fix()}."
        self._show_summary(active=active, dirty=self.dirty, note=note)

    @property
    def _key(self) -> str | None:
        """The key a request would send now: the one typed, else the one saved."""
        return self.api_key.typed or (self._stored.api_key if self._stored else None)

    def _endpoint(self) -> tuple[object, ...]:
        """What a connection test sends, as the form says it now."""
        fields = (self.base_url.value.strip(), self.api_key_env.value.strip())
        return (*fields, self._key, self.headers.value)

    def _drop_stale_report(self) -> None:
        """A result describes the request that was tested: once the form would send another
        (endpoint, key, key variable or headers), it no longer applies. A value taken back
        out of its field changed nothing, so it leaves the result alone."""
        if (self.last_report is not None or self.testing) and self._endpoint() != self._tested:
            self._forget_report()

    def _forget_report(self) -> None:
        self.connection_test.drop()
        self._say("", "busy")

    def _show_report(self, report: ConnectionReport) -> None:
        self._say(*report_message(report, self.model.value))

    def _unlisted_model(self) -> str:
        return unlisted_model(self.last_report, self.model.value)

    def _say(self, text: str, kind: str, *, line: w.HTML | None = None) -> None:
        # Messages come from the client and Preset, which redact keys; this is a second net.
        text = redact(text, self.api_key.typed, self._stored.api_key if self._stored else None)
        super()._say(text, kind, line=line)


def settings_panel(name: str | None = None) -> SettingsPanel:
    """The settings panel, showing preset `name` (default: the active one)."""
    return SettingsPanel(name)
