"""A saved API key leaves the process only as the Authorization header: never in any output."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer

from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import AuthenticationError, CompatError, InvalidResponseError, StreamError
from compat_nb.wire.client import get_client
from compat_nb.wire.streaming import ChatAccumulator

ECHO = {"error": {"message": f"Incorrect API key provided: {MARKER_KEY}", "code": "bad_key"}}
# An echo that is not about the key, so each status keeps its own kind of message.
ECHO_OTHER = {"error": {"message": f"Could not process the request with {MARKER_KEY}"}}
MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
def shell(ip: Any) -> Iterator[Any]:
    """The IPython shell of conftest, with this module's variables removed afterwards."""
    yield ip
    ip.user_ns.pop("res", None)


@pytest.fixture
def secret(server: FakeServer) -> Preset:
    """A preset whose saved key is the marker; the server insists on that key."""
    server.api_key = MARKER_KEY
    store = get_store()
    store.save(Preset("secret", server.base_url, "test-model", api_key=MARKER_KEY))
    return store.use("secret")


def assert_clean(*texts: Any) -> None:
    for text in texts:
        assert MARKER_KEY not in str(text), text


def test_key_is_sent_only_as_the_header(server: FakeServer, secret: Preset) -> None:
    get_client().chat(secret, MESSAGES)
    (request,) = server.chat_requests()
    assert request.headers["authorization"] == f"Bearer {MARKER_KEY}"
    assert MARKER_KEY not in json.dumps(request.body)
    assert MARKER_KEY not in json.dumps(request.query)


def test_key_appears_nowhere_after_a_session(
    shell: Any,
    server: FakeServer,
    secret: Preset,
    config_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cells = [
        "%translate use secret",
        "%%translate --to French -o res\nThe weather is nice today.",
        "%%translate --no-stream\nGood night.",
        "%translate presets",
        "%translate test",
        "%translate test secret",
        "res",
        "from compat_nb.config.store import get_store\nget_store().get('secret')",
        "from compat_nb.wire.client import get_client\nget_client()",
        "get_store()",
        "get_client().test_connection(get_store().get('secret'))",
        "get_client().chat(get_store().get('secret'), [{'role': 'user', 'content': 'x'}])",
        "import compat_nb\ncompat_nb.translate('Hi', preset='secret')",
    ]
    ip = shell
    results = [ip.run_cell(cell, store_history=True) for cell in cells]
    assert [r.error_in_exec for r in results] == [None] * len(cells)
    assert [r.result is not None for r in results][6:] == [True] * 7
    # Faults whose bodies echo the key back, as some gateways do.
    server.inject("status", status=401, body=ECHO)
    server.inject("status", status=400, body=ECHO_OTHER)
    server.inject("status", status=500, body=ECHO_OTHER, times=3)
    server.inject("status", status=200, body=ECHO)
    server.inject("status", status=404, body=ECHO_OTHER)
    server.inject("status", status=200, body=ECHO)
    failing = [
        "%%translate\nHello",
        "%%translate\nHello",
        "%%translate\nHello",
        "%%translate\nHello",
        "%%translate --no-stream\nHello",
        "%translate test",
    ]
    failures = [ip.run_cell(cell, store_history=True) for cell in failing]
    errors = [r.error_in_exec for r in failures[:5]]
    assert [type(e).__name__ for e in errors] == [
        "AuthenticationError",
        "BadRequestError",
        "ServerError",
        "AuthenticationError",  # a key error inside a 200 is still a key error
        "NotFoundError",
    ]
    captured = capsys.readouterr()
    assert "TRANSLATED: The weather is nice today." in captured.out  # it really ran
    assert "***" in captured.out  # the echoed key was scrubbed, not dropped silently
    assert_clean(captured.out, captured.err)
    for error in errors:
        assert isinstance(error, CompatError)
        assert_clean(error.message, str(error), repr(error), error._render_traceback_())
    for result in results + failures:
        assert_clean(repr(result.result))
        if result.result is not None and hasattr(result.result, "_repr_html_"):
            assert_clean(result.result._repr_html_())
    assert_clean(repr(ip.user_ns["res"]), ip.user_ns["res"]._repr_markdown_())
    history = ip.history_manager
    assert_clean(*history.input_hist_raw, *history.input_hist_parsed)
    assert_clean(*(repr(v) for v in history.output_hist.values()))
    assert_clean(*history.output_hist_reprs.values())
    assert_clean(*(repr(row) for row in history.get_range(output=True)))
    presets_file = (config_dir / "presets.json").read_text()
    assert "secret" in presets_file
    assert_clean(presets_file)
    assert MARKER_KEY in (config_dir / "credentials.json").read_text()  # kept, apart
    # Nothing else on disk (the run history included) holds it.
    others = [p for p in config_dir.rglob("*") if p.is_file() and p.name != "credentials.json"]
    assert (config_dir / "presets.json") in others
    for path in others:
        assert MARKER_KEY.encode() not in path.read_bytes(), path


def test_reprs_never_show_the_key(server: FakeServer, secret: Preset) -> None:
    client = get_client()
    report = client.test_connection(secret)
    chat = client.chat(secret, MESSAGES)
    streamed = list(client.stream(secret, MESSAGES))[-1]
    store = get_store()
    assert report.ok and chat.text and streamed.text
    assert_clean(
        repr(secret),
        repr(store.get("secret")),
        repr(report),
        str(report),
        repr(chat),
        repr(streamed),
        repr(client),
        repr(store),
        store.key_hint("secret"),
        repr(store.get("secret").to_dict()),
    )


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 422, 429, 500, 502, 503])
@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_error_messages_scrub_an_echoed_key(
    server: FakeServer, secret: Preset, status: int, streaming: bool
) -> None:
    server.inject("status", status=status, body=ECHO, times=3)
    client = get_client()
    with pytest.raises(CompatError) as info:
        if streaming:
            list(client.stream(secret, MESSAGES))
        else:
            client.chat(secret, MESSAGES)
    assert "***" in info.value.message
    assert_clean(info.value.message, str(info.value), repr(info.value))


def test_connection_report_scrubs_an_echoed_key(server: FakeServer, secret: Preset) -> None:
    client = get_client()
    for status in (200, 401, 404, 500):
        server.inject("status", status=status, body=ECHO)
        report = client.test_connection(secret)
        assert not report.ok and "***" in (report.error or "")
        assert_clean(report.error, report.message, repr(report))

    async def main() -> None:
        server.inject("status", status=200, body=ECHO)
        report = await client.atest_connection(secret)
        assert not report.ok
        assert_clean(report.error, repr(report))

    asyncio.run(main())


def test_key_from_environment_is_scrubbed_too(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_TEST_KEY", MARKER_KEY)
    preset = Preset("env", server.base_url, "test-model", api_key_env="SECRET_TEST_KEY")
    server.inject("status", status=403, body=ECHO)
    with pytest.raises(CompatError) as info:
        get_client().chat(preset, MESSAGES)
    assert "$SECRET_TEST_KEY" in info.value.message
    assert_clean(info.value.message, repr(preset))


def test_mid_stream_error_scrubs_the_key() -> None:
    acc = ChatAccumulator(where="http://h/v1", secrets=[MARKER_KEY])
    acc.feed(json.dumps({"choices": [{"index": 0, "delta": {"content": "Bon"}}]}))
    with pytest.raises(StreamError) as info:
        acc.feed(json.dumps(ECHO))
    assert info.value.partial == "Bon"
    assert_clean(info.value.message)
    with pytest.raises(StreamError) as info:
        acc.feed(f"not json {MARKER_KEY}")
    assert_clean(info.value.message)


def test_error_body_in_a_200_is_scrubbed(server: FakeServer, secret: Preset) -> None:
    server.inject("status", status=200, body=ECHO)
    with pytest.raises(AuthenticationError) as info:
        get_client().chat(secret, MESSAGES)
    assert "key rejected (200)" in info.value.message
    assert "Incorrect API key provided: ***" in info.value.message
    server.inject("status", status=200, body=ECHO_OTHER)
    with pytest.raises(InvalidResponseError) as info:
        get_client().chat(secret, MESSAGES)
    assert "answered 200 with an error: Could not process the request with ***" in (
        info.value.message
    )


def test_a_secret_header_echoed_by_the_server_is_scrubbed_too(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_key = "gw-MARKER-91c3e0d2a7"
    monkeypatch.setenv("GATEWAY_KEY", gateway_key)
    preset = Preset("gw", server.base_url, "test-model", headers={"x-api-key": "${GATEWAY_KEY}"})
    server.inject("status", status=401, body={"error": {"message": f"bad key {gateway_key}"}})
    with pytest.raises(CompatError) as info:
        get_client().chat(preset, MESSAGES)
    assert gateway_key not in info.value.message
    assert "bad key ***" in info.value.message
    assert server.chat_requests()[-1].headers["x-api-key"] == gateway_key
