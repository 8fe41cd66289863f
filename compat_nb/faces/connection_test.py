"""The settings panel's Test connection row: GET /models off the kernel's thread, and what its
result says about the model typed. A result that arrives after the form moved on is dropped.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import ipywidgets as w
from traitlets import Bool, Instance, observe

from ..config import advice
from ..config.presets import Preset
from ..wire.client import get_client
from ..wire.protocol import ConnectionReport
from .widgets import button, css, message_line, row_layout

__all__ = ["ConnectionTest", "report_message", "unlisted_model"]


class ConnectionTest(w.HBox):
    """The Test connection button beside its message line, and the test it runs.

    `run(preset)` tests in a daemon thread (the client's 5 s deadline ends it) and sets
    `report` when it ends. `drop()` clears the result and makes a running test's result
    stale: the form describes another endpoint now, so that result is never published.
    `report` is set on the test's thread: observers update widgets from there, as the
    widget protocol allows. What the button tests and what is shown is the panel's call.
    """

    testing = Bool(False, help="A test is running; the button is disabled meanwhile.")
    report = Instance(
        ConnectionReport,
        allow_none=True,
        help="The last test's result; None while one runs, before the first, or once dropped.",
    )

    def __init__(self, **kwargs: Any) -> None:
        self.button = button("test_button", "Test connection", icon="plug")
        # The panel's other messages about the form share this line: they concern what
        # the next test would send.
        self.status = message_line("status")
        self.thread: threading.Thread | None = None
        self._lock = threading.RLock()  # a result is published or dropped, never both
        self._generation = 0  # bumped by every run and drop: a thread of an older one is stale
        kwargs.setdefault("layout", row_layout())
        super().__init__(children=[self.button, self.status], **kwargs)
        css(self, "test-row")

    def run(self, preset: Preset, *, wait: bool = False) -> ConnectionReport | None:
        """Test `preset`'s endpoint; with wait=True, block and return its report (None when
        it was dropped meanwhile). Returns None at once otherwise."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            self.report = None
            self.testing = True
        thread = threading.Thread(
            target=self._run,
            args=(preset, generation),
            name="compat_nb test connection",
            daemon=True,  # the client's deadline ends it; it never holds up kernel exit
        )
        self.thread = thread
        thread.start()
        if not wait:
            return None
        thread.join()
        return self.report if generation == self._generation else None

    def drop(self) -> None:
        """Forget the result, and the one a running test would bring."""
        with self._lock:
            self._generation += 1
            self.report = None
            self.testing = False

    def keep(self, report: ConnectionReport) -> None:
        """Publish `report` again: the form was refilled, but still describes its endpoint."""
        with self._lock:
            self.report = report

    def _run(self, preset: Preset, generation: int) -> None:
        try:
            with advice.shown_in("panel"):  # a thread starts with no context of its own
                report = get_client().test_connection(preset)
        except Exception as exc:  # a bug must not leave the button disabled forever
            error = preset.redact(f"{type(exc).__name__}: {exc}")
            report = ConnectionReport(False, error=error, base_url=preset.base_url)
        with self._lock:
            if generation != self._generation:
                return  # the preset or endpoint changed while this ran
            self.testing = False
            self.report = report

    @observe("testing")
    def _on_testing_change(self, change: Any) -> None:
        self.button.disabled = change.new
        self.button.description = "Testing…" if change.new else "Test connection"


def report_message(report: ConnectionReport, model: str) -> tuple[str, str]:
    """(text, kind) for `report` judged against the Model name typed now: a model the server
    did not list is warned about as it is typed. Kinds are the panel's: ok, warn, error."""
    report = dataclasses.replace(report, model=model.strip() or None)
    text = report.message
    if report.ok and not report.model and report.model_ids:
        text += ". Choose a Model name from the suggestions"
    if not report.ok:
        return text, "error"
    return text, "ok" if report.model_found is not False else "warn"


def unlisted_model(report: ConnectionReport | None, model: str) -> str:
    """A warning to repeat after Save and Use while the tested server lacks `model` ('' if not).

    Judged as the test's own message judges it (`ConnectionReport.model_found`), so an untagged
    Ollama id listed as `name:latest` is warned about in neither place.
    """
    model = model.strip()
    if report is None or dataclasses.replace(report, model=model or None).model_found is not False:
        return ""
    return f" The server did not list model {model!r} when tested: check its exact id."
