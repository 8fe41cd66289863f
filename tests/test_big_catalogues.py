"""A server that lists a vast or hostile model catalogue (thousands of ids, an id of 100,000
characters) gets bounded output: `%translate models` and `test` print a bounded list and say
how many more there are, and the panel's suggestions, which a saved notebook's widget state
keeps, hold a bounded number while the test still judges the typed model against all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from faults import FaultServer, response
from ipywidgets.embed import dependency_state

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces.panel import MODEL_SUGGESTIONS, settings_panel
from compat_nb.faces.server_commands import ID_CHARS, MODELS_SHOWN

COUNT = 5000
LONG = "x" * 100_000


@pytest.fixture
def catalogue() -> Iterator[FaultServer]:
    ids = [{"id": LONG}] + [{"id": f"org/model-{i:05d}"} for i in range(COUNT - 1)]
    with FaultServer() as srv:
        body = json.dumps({"object": "list", "data": ids})
        srv.script(
            response(200, body, {"Content-Type": "application/json"}), times=50, match="/models"
        )
        get_store().save(Preset("big", srv.base_url, "org/model-04998"))
        yield srv


def test_models_prints_a_bounded_list_and_how_to_get_all(
    ip: Any, catalogue: Any, capsys: Any
) -> None:
    ip.run_line_magic("translate", "models big")
    out = capsys.readouterr().out
    assert f"Found {COUNT} models" in out
    assert "org/model-01998" in out and "org/model-01999" not in out
    assert LONG[: ID_CHARS - 1] + "…" in out and LONG[:ID_CHARS] not in out
    assert f"… and {COUNT - MODELS_SHOWN:,} more" in out
    suggested = out.rsplit("`", 2)[1]  # the command the last line suggests, run as shown
    ip.run_cell(f"import compat_nb\nall_ids = {suggested}")
    assert len(ip.user_ns.pop("all_ids")) == COUNT
    assert len(out) < 60 * MODELS_SHOWN


def test_test_prints_a_bounded_line(ip: Any, catalogue: Any, capsys: Any) -> None:
    ip.run_line_magic("translate", "test big")
    out = capsys.readouterr().out
    assert f"(+{COUNT - 20} more)" in out and len(out) < 2000


def test_the_panel_offers_a_bounded_list_and_judges_against_all(catalogue: Any) -> None:
    panel = settings_panel("big")
    try:
        panel.test_connection()
        thread = panel._test_thread
        if thread is not None:
            thread.join(30)
        assert panel.last_report is not None and panel.last_report.model_count == COUNT
        assert len(panel.model.options) == MODEL_SUGGESTIONS
        assert "not among them" not in panel.message  # its model is id 4,999 of 5,000
        assert len(json.dumps(dependency_state(panel, drop_defaults=False))) < 300_000
    finally:
        panel.close()
