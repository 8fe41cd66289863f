"""Redirects follow the client's policy: nothing crosses to another origin, a POST never turns
into a GET, loops end, and each refusal says where the server pointed.

P and Q are two raw-socket servers on loopback; Q records whatever reaches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MARKER_KEY
from faults import FaultServer, redirect, response

from compat_nb import Client, Preset, get_client
from compat_nb.errors import CompatError, RedirectError

MESSAGES = [{"role": "user", "content": "Hello"}]
HEADER_SECRET = "hdr-SECRET-9f8e7d6c5b4a"
QUERY_SECRET = "qry-SECRET-1a2b3c4d5e6f"


@pytest.fixture
def p() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def q() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


@pytest.fixture
def credentialed(p: FaultServer, monkeypatch: pytest.MonkeyPatch) -> Preset:
    """Every kind of credential: a bearer key, a secret header from the environment, a key
    in the query string (as Azure API Management takes it)."""
    monkeypatch.setenv("GATEWAY_HEADER_KEY", HEADER_SECRET)
    return Preset(
        "gw",
        f"{p.base_url}?api-version=2024-02-01&subscription-key={QUERY_SECRET}",
        "m",
        api_key=MARKER_KEY,
        headers={"api-key": "${GATEWAY_HEADER_KEY}"},
    )


def run(entry: str, client: Client, preset: Preset) -> Any:
    if entry == "chat":
        return client.chat(preset, MESSAGES)
    if entry == "stream":
        return list(client.stream(preset, MESSAGES))[-1]
    report = client.test_connection(preset)
    if not report.ok:
        raise RedirectError(report.error or "")
    return report


def secrets_absent(*texts: str) -> None:
    for text in texts:
        for secret in (MARKER_KEY, HEADER_SECRET, QUERY_SECRET):
            assert secret not in text


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("entry", ["chat", "stream", "test"])
def test_no_credential_crosses_to_another_port(
    p: FaultServer, q: FaultServer, credentialed: Preset, status: int, entry: str
) -> None:
    endpoint = "models" if entry == "test" else "chat/completions"
    p.script(redirect(status, f"{q.base_url}/{endpoint}?subscription-key=moved"), times=3)
    with pytest.raises(RedirectError) as info:
        run(entry, get_client(), credentialed)
    message = info.value.message
    assert q.requests == []  # nothing at all reached Q: no key, header or query value
    assert f"{q.base_url}/{endpoint}?subscription-key=***" in message  # where it pointed
    assert "not sent there" in message
    assert f"use {q.base_url}?subscription-key=*** (with its query string) as the Base URL" in (
        message
    )
    secrets_absent(message, repr(info.value))
    assert len(p.requests) == 1  # a redirect is not retried


def test_a_move_to_another_host_or_scheme_is_not_followed(p: FaultServer) -> None:
    preset = Preset("p", p.base_url, "m", api_key=MARKER_KEY)
    for location, said in [
        ("http://localhost:9/v1/chat/completions", "another host"),
        (f"https://127.0.0.1:{p.port}/v1/chat/completions", "https:// instead of http://"),
    ]:
        p.script(redirect(308, location))
        with pytest.raises(RedirectError) as info:
            get_client().chat(preset, MESSAGES)
        assert said in info.value.message
        assert "the API key and every other credential were not sent there" in info.value.message
    # Without any credential the message does not talk of a key.
    p.script(redirect(307, "http://localhost:9/v1/chat/completions"))
    with pytest.raises(RedirectError) as info:
        get_client().chat(Preset("p", p.base_url, "m"), MESSAGES)
    assert "nothing was sent there" in info.value.message


@pytest.mark.parametrize("status", [307, 308])
def test_same_origin_307_308_keep_method_body_and_key(
    p: FaultServer, credentialed: Preset, status: int
) -> None:
    p.script(redirect(status, "/v2/chat/completions?subscription-key=x"))  # relative Location
    result = get_client().chat(credentialed, MESSAGES)
    assert result.text == "TRANSLATED: ok"
    first, second = p.requests
    assert (second.method, second.path, second.query) == (
        "POST",
        "/v2/chat/completions",
        "subscription-key=x",
    )
    assert second.body == first.body and second.json()["messages"] == MESSAGES
    assert second.headers["authorization"] == f"Bearer {MARKER_KEY}"
    assert second.headers["api-key"] == HEADER_SECRET


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_post_is_never_turned_into_a_get(p: FaultServer, status: int) -> None:
    p.script(redirect(status, f"{p.url}/api/v1/chat/completions"))
    with pytest.raises(RedirectError) as info:
        get_client().chat(Preset("p", p.base_url, "m"), MESSAGES)
    assert [r.method for r in p.requests] == ["POST"]  # no GET followed
    message = info.value.message
    assert f"answered the POST with {status}" in message
    assert "would turn the request into a GET" in message
    assert f"use {p.url}/api/v1 as the Base URL" in message


def test_a_get_follows_same_origin_moves(p: FaultServer) -> None:
    p.script(redirect(301, "/api/v1/models"))
    report = get_client().test_connection(Preset("p", p.base_url, "m"))
    assert report.ok and report.model_ids == ["m"]
    assert [r.path for r in p.requests] == ["/v1/models", "/api/v1/models"]


@pytest.mark.parametrize("streaming", [False, True])
def test_loops_and_endless_hops_end_with_a_message(p: FaultServer, streaming: bool) -> None:
    preset = Preset("p", p.base_url, "m")
    p.script(redirect(307, "/v1/chat/completions"))  # to itself
    with pytest.raises(RedirectError) as info:
        run("stream" if streaming else "chat", get_client(), preset)
    assert "in a loop or too many times" in info.value.message
    p.reset()
    p.script(lambda r: [redirect(307, f"/hop{len(p.requests)}/chat/completions")], times=50)
    with pytest.raises(RedirectError):
        get_client().chat(preset, MESSAGES)
    assert len(p.requests) <= 7  # the hop cap, not 50


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (response(302, b""), "without saying where to"),
        (redirect(307, "http://[::1"), "cannot be used"),
        (redirect(307, "ftp://127.0.0.1/v1/chat/completions"), "not an http(s) address"),
        (redirect(300, "/v1/other"), "not a redirect to follow"),
    ],
)
def test_broken_redirects_are_one_paragraph(p: FaultServer, answer: bytes, said: str) -> None:
    p.script(answer)
    with pytest.raises(CompatError) as info:
        get_client().chat(Preset("p", p.base_url, "m"), MESSAGES)
    assert said in info.value.message
    assert "\n" not in info.value.message
