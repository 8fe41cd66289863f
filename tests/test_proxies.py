"""Proxies from the environment, decided per request: loopback never goes through one, other
hosts honour HTTP(S)_PROXY / ALL_PROXY / NO_PROXY in either case, and a failing proxy is
named with the NO_PROXY way around it. The proxy is a raw-socket server that records what
reached it; `.invalid` hosts never resolve, so only a proxy can answer for them.
"""

from __future__ import annotations

import asyncio
import socket
import warnings
from collections.abc import Iterator

import pytest
from conftest import MARKER_KEY
from faults import FaultServer, response
from server import FakeServer

from compat_nb import Preset, get_client
from compat_nb.errors import CompatError, ConfigError, ConnectError, ProxyError, ServerError
from compat_nb.wire.retry import PlainHttpKeyWarning

MESSAGES = [{"role": "user", "content": "Hello"}]
VARIABLES = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"]


@pytest.fixture
def proxy() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*VARIABLES, "NO_PROXY", "no_proxy"]:
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("variable", VARIABLES)
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_is_never_proxied(
    server: FakeServer,
    proxy: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    host: str,
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    preset = Preset("local", f"http://{host}:{server.port}/v1", "test-model", api_key=MARKER_KEY)
    assert get_client().chat(preset, MESSAGES).text == "TRANSLATED: Hello"
    assert list(get_client().stream(preset, MESSAGES))[-1].text == "TRANSLATED: Hello"
    assert get_client().test_connection(preset).ok
    assert proxy.requests == []  # the key never went near it
    assert server.chat_requests()[0].headers["authorization"] == f"Bearer {MARKER_KEY}"


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_other_hosts_go_through_the_proxy(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, proxy.url.removeprefix("http://"))  # curl accepts host:port
    preset = Preset("remote", "http://models.invalid/v1", "m")
    assert get_client().chat(preset, MESSAGES).text == "TRANSLATED: ok"
    assert get_client().test_connection(preset).ok

    async def both() -> None:
        assert (await get_client().achat(preset, MESSAGES)).text == "TRANSLATED: ok"

    asyncio.run(both())
    targets = [r.target for r in proxy.requests]
    assert targets == [
        "http://models.invalid/v1/chat/completions",
        "http://models.invalid/v1/models",
        "http://models.invalid/v1/chat/completions",
    ]


def test_lower_case_wins_and_changes_apply_at_once(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    preset = Preset("remote", "http://models.invalid/v1", "m")
    with FaultServer() as other:
        monkeypatch.setenv("HTTP_PROXY", other.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        get_client().chat(preset, MESSAGES)
        assert len(proxy.requests) == 1 and other.requests == []
        monkeypatch.delenv("http_proxy")  # read per request: no restart needed
        get_client().chat(preset, MESSAGES)
        assert len(other.requests) == 1


@pytest.mark.parametrize(
    "no_proxy", ["models.invalid", ".invalid", "*.invalid", "invalid", "*", "a.b, models.invalid"]
)
@pytest.mark.parametrize("spelling", ["NO_PROXY", "no_proxy"])
def test_no_proxy_sends_direct(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str, spelling: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv(spelling, no_proxy)
    with pytest.raises(ConnectError) as info:  # direct to a host that does not resolve
        get_client().chat(Preset("remote", "http://models.invalid/v1", "m"), MESSAGES)
    assert not isinstance(info.value, ProxyError)
    assert proxy.requests == []


def test_no_proxy_by_port_and_by_address(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "models.invalid:8080,10.0.0.0/8")
    get_client().chat(Preset("r", "http://models.invalid/v1", "m"), MESSAGES)  # port 80
    assert len(proxy.requests) == 1
    for base in ("http://models.invalid:8080/v1", "http://10.255.255.1:9/v1"):
        # Direct: whatever answers (or not) on this network, it is not the proxy.
        with pytest.raises(CompatError):
            get_client().chat(Preset("r", base, "m", timeout=2), MESSAGES)
    assert len(proxy.requests) == 1


def test_a_proxy_502_names_the_proxy_not_the_model_server(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://nobody:pw-SECRET@127.0.0.1:1")  # not for http
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    proxy.script(response(502, "<html><title>502 Bad Gateway</title></html>"), times=3)
    with pytest.raises(ServerError) as info:
        get_client().chat(Preset("remote", "http://models.invalid/v1", "m"), MESSAGES)
    message = info.value.message
    assert f"through the proxy {proxy.url} from $HTTP_PROXY" in message
    assert "NO_PROXY" in message


def test_an_unreachable_proxy_is_named_with_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("ALL_PROXY", f"http://user:pw-SECRET@127.0.0.1:{port}")
    with pytest.raises(ProxyError) as info:
        get_client().chat(Preset("remote", "http://models.invalid/v1", "m"), MESSAGES)
    message = info.value.message
    assert f"The proxy http://127.0.0.1:{port} (from $ALL_PROXY) could not be reached" in message
    assert "os.environ['NO_PROXY'] = 'models.invalid'" in message
    assert "pw-SECRET" not in message and "user" not in message
    report = get_client().test_connection(Preset("remote", "http://models.invalid/v1", "m"))
    assert not report.ok and "$ALL_PROXY" in (report.error or "")


def test_a_refused_tunnel_is_a_proxy_error(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    proxy.script(response(403, "tunnels forbidden"))
    with pytest.raises(ProxyError) as info:
        get_client().chat(Preset("remote", "https://models.invalid/v1", "m"), MESSAGES)
    assert proxy.requests[0].method == "CONNECT"
    assert proxy.requests[0].target == "models.invalid:443"
    assert "(from $HTTPS_PROXY) refused the connection to models.invalid" in info.value.message


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("ftp://proxy.example:21", "not a proxy URL (a ftp:// address)"),
        ("socks5://127.0.0.1:1080", "pip install 'httpx[socks]'"),
        ("http://:3128", "not a proxy URL"),
    ],
)
def test_an_unusable_proxy_variable_says_so(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str
) -> None:
    monkeypatch.setenv("HTTP_PROXY", value)
    with pytest.raises(ConfigError) as info:
        get_client().chat(Preset("remote", "http://models.invalid/v1", "m"), MESSAGES)
    assert "$HTTP_PROXY" in info.value.message and said in info.value.message


def test_a_key_over_plain_http_warns_once_per_host(
    proxy: FaultServer, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.wire import retry

    monkeypatch.setattr(retry, "_warned_hosts", set())
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    keyed = Preset("remote", "http://models.invalid/v1", "m", api_key=MARKER_KEY)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_client().chat(keyed, MESSAGES)
        get_client().chat(keyed, MESSAGES)
        get_client().chat(keyed.replace(base_url="http://other.invalid/v1"), MESSAGES)
        get_client().chat(Preset("nokey", "http://third.invalid/v1", "m"), MESSAGES)
        get_client().chat(Preset("lo", server.base_url, "test-model", api_key=MARKER_KEY), MESSAGES)
    shown = [str(w.message) for w in caught if w.category is PlainHttpKeyWarning]
    assert len(shown) == 2
    assert "models.invalid is sent over plain http://" in shown[0]
    assert "other.invalid" in shown[1]
    assert all(MARKER_KEY not in text for text in shown)


@pytest.mark.parametrize("method", ["GET", ""])
@pytest.mark.filterwarnings("ignore::compat_nb.wire.retry.PlainHttpKeyWarning")  # tested above
def test_under_cgi_an_upper_case_http_proxy_is_ignored(
    proxy: FaultServer, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """httpoxy (CVE-2016-5385): with REQUEST_METHOD set, HTTP_PROXY came from a request header."""
    monkeypatch.setenv("REQUEST_METHOD", method)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    preset = Preset("remote", "http://models.invalid/v1", "m", api_key=MARKER_KEY)
    with pytest.raises(ConnectError) as caught:  # straight to a host that does not resolve
        get_client().chat(preset, MESSAGES)
    assert "proxy" not in str(caught.value).lower()
    with pytest.raises(ConnectError):  # the async pools decide alike
        asyncio.run(get_client().achat(preset, MESSAGES))
    assert proxy.requests == []
    monkeypatch.setenv("http_proxy", proxy.url)  # the lower-case name no header can set
    assert get_client().chat(preset, MESSAGES).text == "TRANSLATED: ok"
    assert proxy.requests[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"
