"""A key in the Base URL's query string (Azure API Management style) is never shown: not in an
error of any kind, the 404 hint, a command's output, a repr, a table, or httpx's log line.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
from server import FakeServer

from compat_nb import Preset, get_client
from compat_nb.config.store import get_store
from compat_nb.errors import CompatError, NotFoundError

SECRET = "sub-KEY-7c1f0e9d8b2a"
QUERY = f"api-version=2024-02-01&subscription-key={SECRET}"
MESSAGES = [{"role": "user", "content": "Hello"}]


def clean(*texts: Any) -> None:
    for text in texts:
        assert SECRET not in str(text)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def azure(server: FakeServer) -> Preset:
    return Preset("azure", f"{server.base_url}?{QUERY}", "test-model")


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("fault", "said"),
    [("401", "key rejected"), ("429", "Rate limited"), ("500", "Server error 500")],
)
def test_no_error_shows_a_query_value(
    server: FakeServer, azure: Preset, streaming: bool, fault: str, said: str
) -> None:
    server.inject(fault, times=3)
    with pytest.raises(CompatError) as info:
        if streaming:
            list(get_client().stream(azure, MESSAGES))
        else:
            get_client().chat(azure, MESSAGES)
    assert said in info.value.message
    assert "?api-version=***&subscription-key=***" in info.value.message
    clean(info.value.message, repr(info.value), info.value._render_traceback_())
    assert server.chat_requests()[0].query["subscription-key"] == SECRET  # it was sent


def test_refused_and_echoed(server: FakeServer) -> None:
    refused = Preset("azure", f"http://127.0.0.1:{closed_port()}/v1?{QUERY}", "m")
    with pytest.raises(CompatError) as info:
        get_client().chat(refused, MESSAGES)
    clean(info.value.message)
    # A server that quotes the key alone (not the whole query string) is scrubbed too.
    server.inject("status", status=400, body={"error": {"message": f"bad key {SECRET}"}})
    with pytest.raises(CompatError) as info:
        get_client().chat(Preset("a", f"{server.base_url}?{QUERY}", "test-model"), MESSAGES)
    assert "bad key ***" in info.value.message


def test_the_v1_hint_goes_before_the_query(server: FakeServer) -> None:
    preset = Preset("azure", f"{server.url}/openai/deployments/gpt4o?{QUERY}", "test-model")
    hint = (
        f"did you mean {server.url}/openai/deployments/gpt4o/v1"
        "?api-version=***&subscription-key=***?"
    )
    with pytest.raises(NotFoundError) as info:
        get_client().chat(preset, MESSAGES)
    assert hint in info.value.message
    report = get_client().test_connection(preset)
    assert hint in (report.error or "")
    clean(info.value.message, report, repr(report), report.message)


def test_reprs_tables_and_commands(
    server: FakeServer, azure: Preset, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    report = get_client().test_connection(azure)
    assert report.ok
    clean(repr(azure), repr(report), report.base_url)
    assert "subscription-key=***" in repr(azure)
    get_store().save(azure)
    cells = [
        "%translate use azure",
        "%translate test azure",
        "%translate show azure",
        "%translate models azure",
        "%translate presets",
        "%%translate -o out\nHello",
        "out",
    ]
    results = [ip.run_cell(cell) for cell in cells]
    assert [r.error_in_exec for r in results] == [None] * len(cells)
    table = results[4].result
    shown = capsys.readouterr()
    clean(shown.out, shown.err, repr(table), table._repr_html_(), repr(results[-1].result))
    assert "subscription-key=***" in shown.out + repr(table)
    assert "TRANSLATED: Hello" in shown.out


def test_httpx_log_lines_are_masked(
    server: FakeServer, azure: Preset, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"):
        get_client().chat(azure, MESSAGES)
        get_client().test_connection(azure)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(lines) == 2 and all("subscription-key=***" in line for line in lines)
    clean(*lines, caplog.text)


def test_a_suggested_command_never_carries_a_masked_url(server: FakeServer, ip: Any) -> None:
    server.inject("404_model")
    preset = Preset(f"127.0.0.1:{server.port}", f"{server.base_url}?{QUERY}", "nope")
    with pytest.raises(NotFoundError) as info:
        get_client().chat(preset, MESSAGES)
    message = info.value.message
    assert "Model 'nope' not found" in message
    assert "--base-url URL (the Base URL, with its query string)" in message
    assert "***" not in message.split("`%translate models")[1]
    clean(message)
