"""The settings panel's API key field: a typed key leaves the field the moment it arrives.

Widget state (which a saved notebook carries) holds a key for one sync at most; the key waits
in a trait that is never synced until Save, and the field's placeholder says which key is used.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
from traitlets import Unicode, observe

__all__ = ["KeyField"]

EMPTY = "paste a key, or leave empty"


class KeyField(w.Password):
    """A password field that never keeps what is typed in it.

    The front end syncs `value` once typing ends; the key moves at once to `typed`, a trait
    that is never synced (so it is in no widget state, repr or saved notebook), and the field
    is emptied. The placeholder then reads "key entered (…abcd), not saved yet"; with no key
    typed, "key saved (…abcd)" from `saved_hint`, or an invitation to paste one.

    One field, like ipywidgets' own Password (a Text subclass): no wrapping box, so the
    form's label alignment and narrow-width stacking treat it like every other field.
    """

    typed = Unicode(
        None, allow_none=True, help="The key typed and not saved yet; None when none is."
    )
    saved_hint = Unicode(
        None, allow_none=True, help="The saved key's hint ('…abcd'); None when none is saved."
    )

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("continuous_update", False)  # one sync when typing ends, not per key
        kwargs.setdefault("placeholder", EMPTY)
        super().__init__(**kwargs)

    @property
    def typed_hint(self) -> str | None:
        """'…abcd' for a typed key (only '…' when it is under 12 characters); None if none."""
        if not self.typed:
            return None
        return "…" + self.typed[-4:] if len(self.typed) >= 12 else "…"

    def clear(self) -> None:
        """Forget a typed key and empty the field (a preset was shown or saved)."""
        self.value = ""
        self.typed = None

    @observe("value")
    def _on_value_change(self, change: Any) -> None:
        key = change.new.strip()
        if not key:
            return
        self.value = ""  # out of the widget before anything else sees the key
        self.typed = key

    @observe("typed", "saved_hint")
    def _on_key_change(self, _change: Any) -> None:
        if self.typed:
            self.placeholder = f"key entered ({self.typed_hint}), not saved yet"
        else:
            self.placeholder = f"key saved ({self.saved_hint})" if self.saved_hint else EMPTY
