"""A key a server or proxy echoes back stays hidden in every form it may come back in:
percent-encoded, JSON-escaped, base64 inside an echoed `Authorization` header, in the body an
exception keeps, in model ids, and a proxy's own password in the page it answers with.

The servers are raw-socket loopback servers (tests/faults.py) that answer with these bodies.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from faults import FaultServer, redirect, response
from test_secret_values import exception_texts

import compat_nb
from compat_nb import Preset, get_client
from compat_nb.errors import CompatError, redact

MESSAGES = [{"role": "user", "content": "Hello"}]
# '+', '/' and '=' change under percent-encoding and JSON escaping, as base64-ish keys do.
KEY = "sk-ab+cd/ef=GHIJKLMNOP1234"


def _b64(text: str, alphabet: Callable[[bytes], bytes] = base64.b64encode) -> str:
    return alphabet(text.encode()).decode()


# (name, raw body bytes as the server sends them): each holds the key in one encoded form.
ECHOES = [
    ("percent-encoded", json.dumps({"error": {"message": f"bad key {quote(KEY, safe='')}"}})),
    ("JSON \\/-escaped", json.dumps({"error": {"message": f"bad key {KEY}"}}).replace("/", "\\/")),
    ("JSON \\u-escaped", '{"error": {"message": "key \\u0073\\u006b-ab+cd/ef=GHIJKLMNOP1234"}}'),
    ("base64 Bearer", json.dumps({"error": {"message": f"header was {_b64('Bearer ' + KEY)}"}})),
    ("base64 Basic", json.dumps({"error": {"message": f"Basic {_b64('user:' + KEY)}"}})),
    (
        "urlsafe base64",
        json.dumps({"error": {"message": f"got {_b64(KEY, base64.urlsafe_b64encode)}"}}),
    ),
    ("plain text, form-encoded", f"Unauthorized: api_key={quote(KEY)}&x=1"),
]


def forms_of(secret: str) -> list[str]:
    """What a reader must not find: the key, and the encoded forms the servers above used."""
    return [
        secret,
        quote(secret, safe=""),
        quote(secret),
        secret.replace("/", "\\/"),
        *(_b64(p + secret)[8:-8] for p in ("Bearer ", "user:", "")),
        _b64(secret, base64.urlsafe_b64encode)[:-4],
    ]


def assert_hidden(exc: BaseException, secret: str = KEY) -> None:
    """What the exception shows and keeps (message, attributes such as `body`, chained
    exceptions). Frame locals are the wire's working state: IPython shows a CompatError as
    its paragraph alone, even under `%xmode Verbose`."""
    texts = [*exception_texts(exc, frames=False), repr(getattr(exc, "body", None))]
    for text in texts:
        for form in forms_of(secret):
            assert form not in text, (form, text)


@pytest.fixture
def echo() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _run(entry: str, preset: Preset) -> Any:
    if entry == "chat":
        return get_client().chat(preset, MESSAGES)
    if entry == "stream":
        return list(get_client().stream(preset, MESSAGES))
    if entry == "atranslate":
        return asyncio.run(compat_nb.atranslate("Hello", to="French", preset=preset))
    report = get_client().test_connection(preset)
    raise CompatError(report.error or "")


@pytest.mark.parametrize("entry", ["chat", "stream", "atranslate", "test_connection"])
@pytest.mark.parametrize(("name", "body"), ECHOES, ids=[n for n, _ in ECHOES])
def test_an_echoed_key_is_hidden_in_every_encoding(
    echo: FaultServer, entry: str, name: str, body: str
) -> None:
    ctype = "text/plain" if name.startswith("plain") else "application/json"
    echo.script(response(401, body.encode(), {"Content-Type": ctype}), times=20)
    preset = Preset("gw", echo.base_url, "m", api_key=KEY)
    with pytest.raises(CompatError) as caught:
        _run(entry, preset)
    assert "401" in str(caught.value)  # the server's answer is still reported
    assert_hidden(caught.value)


def test_the_body_an_error_keeps_is_scrubbed_and_still_readable(echo: FaultServer) -> None:
    body = {"error": {"message": f"key {KEY} is revoked", "code": "invalid_api_key"}}
    echo.script(response(401, body), times=5)
    with pytest.raises(CompatError) as caught:
        get_client().chat(Preset("gw", echo.base_url, "m", api_key=KEY), MESSAGES)
    kept = caught.value.body  # type: ignore[attr-defined]
    assert kept == {"error": {"message": "key *** is revoked", "code": "invalid_api_key"}}


def test_a_header_secret_from_the_environment_is_hidden_when_echoed_encoded(
    echo: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "f3e1c0a9b8d7e6f5a4b3c2d1e0f9a8b7"
    monkeypatch.setenv("GW_KEY", secret)
    sent = _b64(f"Ocp-Apim-Subscription-Key:{secret}")
    echoed = {"error": {"message": "denied", "headers": sent}}
    echo.script(response(403, echoed), times=5)
    preset = Preset("gw", echo.base_url, "m", headers={"Ocp-Apim-Subscription-Key": "${GW_KEY}"})
    with pytest.raises(CompatError) as caught:
        get_client().chat(preset, MESSAGES)
    assert_hidden(caught.value, secret)


def test_model_ids_that_carry_the_key_are_masked(echo: FaultServer, ip: Any, capsys: Any) -> None:
    ids = [{"id": f"acct-{KEY}/llama"}, {"id": "m"}]
    echo.script(response(200, {"object": "list", "data": ids}), times=10, match="/models")
    preset = Preset("gw", echo.base_url, "missing", api_key=KEY)
    report = get_client().test_connection(preset)
    assert report.model_ids == ["acct-***/llama", "m"]
    assert KEY not in repr(report) and KEY not in str(report)
    compat_nb.get_store().save(preset)
    ip.run_line_magic("translate", "models gw")
    ip.run_line_magic("translate", "test gw")
    out = capsys.readouterr().out
    assert "acct-***/llama" in out
    assert KEY not in out


def test_a_proxy_echoing_its_password_does_not_show_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "pr0xy-Pa55word-77"
    with FaultServer() as proxy:
        for name in ("NO_PROXY", "no_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://bob:{quote(password)}@127.0.0.1:{proxy.port}")
        sent = _b64(f"bob:{password}")
        page = f"<html><title>502 for {password}</title>Proxy-Authorization: Basic {sent}</html>"
        proxy.script(response(502, page, {"Content-Type": "text/plain"}), times=20)
        preset = Preset("remote", "http://models.invalid/v1", "m")
        with pytest.raises(CompatError) as caught:
            get_client().chat(preset, MESSAGES)
        assert "proxy" in str(caught.value)
        assert_hidden(caught.value, password)
        report = get_client().test_connection(preset)
        assert report.error and password not in report.error and sent not in report.error
        assert proxy.requests[0].headers["proxy-authorization"] == f"Basic {sent}"


def test_redact_replaces_each_encoded_form_and_leaves_other_text() -> None:
    text = f"a {quote(KEY, safe='')} b {_b64('Bearer ' + KEY)}= c QmVhcmVy d"
    assert redact(text, KEY) == "a *** b *** c QmVhcmVy d"
    assert redact("nothing to hide here", KEY) == "nothing to hide here"
    assert redact(f"x{KEY}", "short") == f"x{KEY}"  # a secret too short for base64 cores


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:1/v1/{key}/chat/completions",  # another origin, key in the path
        "/v1/{b64}/chat/completions",  # same origin: followed until the loop is refused
    ],
)
def test_a_key_in_a_redirect_target_is_not_shown(echo: FaultServer, location: str) -> None:
    echo.script(redirect(307, location.format(key=KEY, b64=_b64(KEY))), times=20)
    preset = Preset("gw", echo.base_url, "m", api_key=KEY)
    with pytest.raises(CompatError) as caught:
        get_client().chat(preset, MESSAGES)
    assert "redirected" in str(caught.value)
    assert_hidden(caught.value)
    report = get_client().test_connection(preset)
    assert report.error and not any(f in report.error for f in forms_of(KEY))
