"""The raw-socket fault server says exactly what it is told, so tests built on it mean something.

Checked with plain sockets (the bytes on the wire) and with httpx (what a client makes of them).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from faults import (
    FIXTURES,
    LAST_CHUNK,
    Close,
    FaultServer,
    Forever,
    Hang,
    Pause,
    Reset,
    Trickle,
    bad_gzip,
    chat_chunk,
    chunk,
    full_backlog,
    head,
    recorded,
    redirect,
    response,
    sse,
    stream_head,
)


def raw_exchange(port: int, request: bytes, *, wait: float = 2.0) -> bytes:
    """Send request bytes, read until the server closes or goes quiet for `wait` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        sock.sendall(request)
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except TimeoutError:
            pass
        return received


GET = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"


def test_scripted_bytes_arrive_exactly_and_requests_are_recorded(srv: FaultServer) -> None:
    srv.script(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", Close())
    assert raw_exchange(srv.port, GET) == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    (request,) = srv.requests
    assert (request.method, request.path, request.headers["host"]) == ("GET", "/v1/models", "x")


def test_default_answers_like_an_openai_server_and_keeps_the_connection(srv: FaultServer) -> None:
    with httpx.Client(base_url=srv.base_url) as client:
        assert client.get("/models").json()["data"][0]["id"] == "m"
        body = {"model": "m", "messages": [], "stream": True}
        with client.stream("POST", "/chat/completions", json=body) as reply:
            lines = [line for line in reply.iter_lines() if line]
        plain = client.post("/chat/completions", json={**body, "stream": False}).json()
    assert lines[-1] == "data: [DONE]" and '"TRANSLATED: ok"' in lines[1]
    assert plain["choices"][0]["message"]["content"] == "TRANSLATED: ok"
    assert srv.connections == 1  # keep-alive: three requests, one connection
    assert srv.requests[1].json()["stream"] is True


def test_a_short_content_length_is_a_cut_body_for_httpx(srv: FaultServer) -> None:
    srv.script(response(200, b"0123456789", content_length=100), Close())
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(srv.base_url + "/models")


def test_a_chunked_body_cut_mid_stream(srv: FaultServer) -> None:
    srv.script(stream_head(), chunk(sse(chat_chunk("Hal"))), Close())
    got: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", srv.url) as reply:
        got.extend(reply.iter_lines())
    assert any("Hal" in line for line in got)


def test_trickle_sends_one_piece_per_interval(srv: FaultServer) -> None:
    srv.script(head(200, {"Content-Length": "4"}), Trickle(b"abcd", every=0.1))
    began = time.perf_counter()
    with httpx.stream("GET", srv.url) as reply:
        body = b"".join(reply.iter_raw(1))
    # Three pauses of 0.1 s stand between the four bytes, however late the client reads.
    assert body == b"abcd" and time.perf_counter() - began >= 0.3


def test_a_pause_stalls_past_a_read_timeout(srv: FaultServer) -> None:
    srv.script(Pause(1.0), response(200, b"late"))
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(srv.url, timeout=httpx.Timeout(5, read=0.2))


def test_forever_never_ends_until_the_client_leaves(srv: FaultServer) -> None:
    srv.script(head(200, {"Content-Type": "application/json"}), Forever(b"x" * 4096))
    received = 0
    with httpx.stream("GET", srv.url) as reply:
        for data in reply.iter_raw():
            received += len(data)
            if received > 1 << 20:
                break
    assert received > 1 << 20


def test_reset_is_a_read_error_and_hang_is_silence(srv: FaultServer) -> None:
    srv.script(head(200, {"Content-Length": "10"}), b"abc", Reset())
    with pytest.raises(httpx.ReadError):
        httpx.get(srv.url)
    srv.script(Hang())
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(srv.url, timeout=httpx.Timeout(5, read=0.2))


def test_bad_gzip_is_a_decoding_error(srv: FaultServer) -> None:
    srv.script(bad_gzip(500))
    with pytest.raises(httpx.DecodingError):
        httpx.get(srv.url)


def test_redirect_to_another_port(srv: FaultServer) -> None:
    with FaultServer() as other:
        srv.script(redirect(307, other.base_url + "/models"))
        reply = httpx.get(srv.base_url + "/models", follow_redirects=True)
    assert reply.json()["data"][0]["id"] == "m"
    assert [r.port for r in srv.requests] == [srv.port]
    assert [r.port for r in other.requests] == [other.port]


def test_as_a_forward_proxy_it_records_what_reached_it(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.script(response(502, "Bad Gateway (proxy)"))
    with httpx.Client(proxy=srv.url) as client:
        reply = client.get("http://models.example/v1/models", headers={"Authorization": "k"})
    assert reply.status_code == 502
    (request,) = srv.requests
    assert request.target == "http://models.example/v1/models"
    assert request.headers["authorization"] == "k"
    # CONNECT (an https URL through the proxy) is refused by default: httpx's ProxyError.
    with pytest.raises(httpx.ProxyError), httpx.Client(proxy=srv.url) as client:
        client.get("https://models.example/v1/models")
    assert srv.requests[-1].method == "CONNECT"


def test_error_field_sse_and_last_chunk(srv: FaultServer) -> None:
    body = sse({"code": 400, "message": "context"}, error_field=True) + b"data: [DONE]\n\n"
    srv.script(stream_head(), chunk(body), LAST_CHUNK)
    with httpx.stream("GET", srv.url) as reply:
        lines = list(reply.iter_lines())
    assert lines[0] == 'error: {"code": 400, "message": "context"}'


def test_recorded_answers_replay_byte_for_byte(srv: FaultServer) -> None:
    name = "litellm-1.106.12/litellm_wrong_model.raw"
    srv.script(recorded(name), Close())
    assert raw_exchange(srv.port, GET) == (FIXTURES / name).read_bytes()
    srv.script(recorded("llama-cpp-python-0.3.36/error_404_no_v1.http"))
    reply = httpx.get(srv.url + "/models")
    assert (reply.status_code, reply.json()) == (404, {"detail": "Not Found"})


def test_every_fixture_file_replays_as_an_http_answer(srv: FaultServer) -> None:
    names = sorted(
        str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*") if p.suffix in (".raw", ".http")
    )
    assert len(names) >= 40
    for name in names:
        srv.script(recorded(name), Close())
        try:
            with httpx.stream("GET", srv.url) as reply:
                status = reply.status_code
                reply.read()
        except httpx.RemoteProtocolError:
            # The recordings of cut streams end without a last chunk: that is what they show.
            assert "interrupted" in name or "sigterm" in name or "killed" in name, name
            continue
        assert 200 <= status < 600, name


def test_full_backlog_makes_connecting_hang() -> None:
    with full_backlog() as port, pytest.raises(httpx.ConnectTimeout):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=httpx.Timeout(0.3))
