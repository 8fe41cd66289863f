"""Every failure is one paragraph, never a traceback: each kind of fault, made for real by the
raw-socket server wherever a server can make it, driven through every entry point.

Entry points: client.chat/achat/stream/astream/test_connection/atest_connection, translate,
atranslate, compare, translate_many, a long text in a cell, a `%%translate` cell, and
`%translate test`. Faults no server can cause (a pool timeout, an exception deep in the
socket layer) are raised by a transport standing in for httpx's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from faults import (
    Close,
    FaultServer,
    Forever,
    Hang,
    Pause,
    Reset,
    bad_gzip,
    full_backlog,
    head,
    redirect,
    response,
)

import compat_nb
import compat_nb.wire.client
from compat_nb import Client, Preset
from compat_nb.config.store import get_store
from compat_nb.errors import CompatError
from compat_nb.wire import retry
from compat_nb.wire.protocol import RetryPolicy

MESSAGES = [{"role": "user", "content": "Hello"}]
SHORT = dict(timeout=1.0, deadline=3.0)  # a stall shows within a second


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the faults: name -> what the server does (for every request) -------------------------------

SERVER_FAULTS: dict[str, list[Any]] = {
    "read timeout (stall before the head)": [Hang()],
    "cut head (RemoteProtocolError)": [b"HTTP/1.1 200 OK\r\nContent-", Close()],
    "not HTTP at all": [b"SSH-2.0-OpenSSH_9.6\r\n", Close()],
    "cut body (RemoteProtocolError)": [response(200, b'{"choices":', content_length=500), Close()],
    "reset mid-body (ReadError)": [head(200, {"Content-Length": "500"}), b'{"cho', Reset()],
    "bad gzip (DecodingError)": [bad_gzip(200)],
    "error status, cut body": [response(500, b'{"error": "bo', content_length=90), Close()],
    "error status, bad gzip body": [bad_gzip(500)],
    "error status, stalled body": [head(502, {"Content-Length": "50"}), b"Bad Ga", Pause(30)],
    "redirect loop (TooManyRedirects)": [redirect(307, "/v1/loop/x"), redirect(307, "/v1/x")],
    "bad Location": [redirect(302, "http://[::1")],
    "endless body": [head(200, {"Content-Type": "application/json"}), Forever(b" " * 65536)],
    "write error (reset while the body is sent)": [Reset()],
}
OTHER_FAULTS = ["refused (ConnectError)", "connect timeout (ConnectTimeout)"]
# Raised by a stand-in transport: what no loopback server can make happen on purpose.
RAISED: dict[str, BaseException] = {
    "PoolTimeout": httpx.PoolTimeout("pool full"),
    "WriteTimeout": httpx.WriteTimeout("write timed out"),
    "CloseError": httpx.CloseError("close failed"),
    "LocalProtocolError": httpx.LocalProtocolError("Illegal header value b'sk-MARKER'"),
    "UnsupportedProtocol": httpx.UnsupportedProtocol("Request URL has an unsupported protocol"),
    "StreamConsumed": httpx.StreamConsumed(),
    "OSError EMFILE": OSError(24, "Too many open files"),
    "OverflowError": OverflowError("timeout value is too large"),
    "UnicodeEncodeError": UnicodeEncodeError("ascii", "Bearer sk-MARKER\u200b", 16, 17, "x"),
}


class _Raising(httpx.BaseTransport, httpx.AsyncBaseTransport):
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        raise self.error

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise self.error


# --- the entry points ------------------------------------------------------------------------


def _chat(p: Preset) -> str:
    compat_nb.get_client().chat(p, MESSAGES)
    return "no error"


def _achat(p: Preset) -> str:
    asyncio.run(compat_nb.get_client().achat(p, MESSAGES))
    return "no error"


def _stream(p: Preset) -> str:
    list(compat_nb.get_client().stream(p, MESSAGES))
    return "no error"


def _astream(p: Preset) -> str:
    async def run() -> None:
        async for _ in compat_nb.get_client().astream(p, MESSAGES):
            pass

    asyncio.run(run())
    return "no error"


def _test(p: Preset) -> str:
    report = compat_nb.get_client().test_connection(p)
    assert not report.ok
    return report.error or ""


def _atest(p: Preset) -> str:
    report = asyncio.run(compat_nb.get_client().atest_connection(p))
    assert not report.ok
    return report.error or ""


def _translate(p: Preset) -> str:
    compat_nb.translate("Hello", preset=p)
    return "no error"


def _atranslate(p: Preset) -> str:
    asyncio.run(compat_nb.atranslate("Hello", preset=p))
    return "no error"


def _compare(p: Preset) -> str:
    result = compat_nb.compare("Hello", presets=[p, p.replace(name="again")])
    assert [row.ok for row in result.rows] == [False, False]
    return str(result.rows[0].error)


def _translate_many(p: Preset) -> str:
    (translation,) = compat_nb.translate_many(["Hello"], preset=p, progress=False)
    assert translation.error
    return str(translation.error)


ENTRIES: dict[str, Callable[[Preset], str]] = {
    "client.chat": _chat,
    "client.achat": _achat,
    "client.stream": _stream,
    "client.astream": _astream,
    "client.test_connection": _test,
    "client.atest_connection": _atest,
    "translate": _translate,
    "atranslate": _atranslate,
    "compare": _compare,
    "translate_many": _translate_many,
}
CELLS = {
    "%%translate": "%%translate\nHello",
    "long text in a cell": "%%translate\n" + "\n\n".join(["A paragraph of text."] * 30),
    "%translate test": "%translate test",
}


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    client = Client(retry=RetryPolicy(max_retries=1, initial_delay=0.01), connect_timeout=0.5)
    monkeypatch.setattr(compat_nb.wire.client, "_client", client)
    monkeypatch.setattr(retry, "ERROR_BODY_SECONDS", 0.5)
    monkeypatch.setattr(compat_nb.wire.client, "TEST_CONNECTION_DEADLINE", 2.0)
    yield client
    client.close()


def _fault_preset(fault: str, stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> Preset:
    if fault.startswith("refused"):
        return Preset("f", f"http://127.0.0.1:{closed_port()}/v1", "m", **SHORT)
    if fault.startswith("connect timeout"):
        port = stack.enter_context(full_backlog())
        return Preset("f", f"http://127.0.0.1:{port}/v1", "m", **SHORT)
    srv = stack.enter_context(FaultServer())
    steps = SERVER_FAULTS[fault]
    if fault.startswith("write error"):
        # The text is large enough that sending it is still going on when the reset lands.
        monkeypatch.setattr(f"{__name__}.MESSAGES", [{"role": "user", "content": "x" * 8_000_000}])
    srv.default = lambda request: steps
    return Preset("f", srv.base_url, "m", **SHORT)


def _check(message: str) -> None:
    assert message and message != "no error"
    assert "\n" not in message and "Traceback" not in message
    assert "sk-MARKER" not in message  # an exception's own text is never quoted blindly


# A GET has no body to be cut off while sending, and a cell's text is not megabytes long:
# those pairs are not made, rather than made and skipped.
_ENTRY_FAULTS = [
    (fault, entry)
    for fault in [*SERVER_FAULTS, *OTHER_FAULTS]
    for entry in ENTRIES
    if not (fault.startswith("write error") and entry.endswith("test_connection"))
]
_CELL_FAULTS = [f for f in [*SERVER_FAULTS, *OTHER_FAULTS] if not f.startswith("write error")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("fault", "entry"), _ENTRY_FAULTS)
def test_every_server_fault_through_every_entry_point(
    quick: Client, monkeypatch: pytest.MonkeyPatch, fault: str, entry: str
) -> None:
    with ExitStack() as stack:
        preset = _fault_preset(fault, stack, monkeypatch)
        try:
            message = ENTRIES[entry](preset)
        except CompatError as exc:
            message = exc.message
            assert exc._render_traceback_() == [f"{type(exc).__name__}: {message}"]
        _check(message)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("cell", list(CELLS))
@pytest.mark.parametrize("fault", _CELL_FAULTS)
def test_every_server_fault_in_a_cell(
    quick: Client,
    monkeypatch: pytest.MonkeyPatch,
    ip: Any,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    cell: str,
) -> None:
    with ExitStack() as stack:
        preset = _fault_preset(fault, stack, monkeypatch)
        get_store().save(preset)
        get_store().use(preset.name)
        ip.run_line_magic("config", "TranslateMagics.chunk_chars = 200")
        result = ip.run_cell(CELLS[cell])
    out = capsys.readouterr()
    shown = out.out + out.err
    assert "Traceback" not in shown and 'File "' not in shown
    if cell == "%translate test":
        (line,) = out.out.splitlines()  # one paragraph: "f: <why it failed>"
        assert line.startswith("f: ") and "Connected" not in line
        return
    if cell == "long text in a cell":
        assert result.error_in_exec is None  # the failed pieces are kept as their original
        assert "⚠ " in out.err
        return
    assert isinstance(result.error_in_exec, CompatError)
    _check(result.error_in_exec.message)


@pytest.mark.parametrize("entry", list(ENTRIES))
@pytest.mark.parametrize("raised", list(RAISED))
def test_every_exception_out_of_the_http_layer(
    quick: Client, monkeypatch: pytest.MonkeyPatch, raised: str, entry: str
) -> None:
    transport = _Raising(RAISED[raised])
    monkeypatch.setattr(quick.pools, "sync", lambda proxy, **_: httpx.Client(transport=transport))
    monkeypatch.setattr(
        quick.pools, "aio", lambda proxy, **_: httpx.AsyncClient(transport=transport)
    )
    try:
        message = ENTRIES[entry](Preset("f", "http://127.0.0.1:9/v1", "m"))
    except CompatError as exc:
        message = exc.message
    _check(message)
    assert raised.split()[0] in message  # the kind is named
