"""Quick checks that the fake OpenAI-compatible server itself behaves like the real thing."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from server import FakeServer  # tests/ is on sys.path: conftest.py and pytest both put it there

CHAT = {"model": "test-model", "messages": [{"role": "user", "content": "hello big world"}]}


@pytest.fixture(scope="module")
def running() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(running: FakeServer) -> FakeServer:
    running.reset()
    return running


@pytest.fixture
def client(server: FakeServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        yield client


def sse_events(client: httpx.Client, body: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Raw SSE lines and decoded ``data:`` payloads of one streamed chat request."""
    with client.stream("POST", "/chat/completions", json={**body, "stream": True}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [line for line in response.iter_lines() if line]
    datas = [line.removeprefix("data: ") for line in lines if line.startswith("data: ")]
    return lines, [d if d == "[DONE]" else json.loads(d) for d in datas]


def content_of(events: list[Any]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content", "")
        for e in events
        if isinstance(e, dict) and e.get("choices")
    )


def test_models_list(server: FakeServer, client: httpx.Client) -> None:
    assert server.url.startswith("http://127.0.0.1:") and server.base_url == server.url + "/v1"
    data = client.get("/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == ["test-model", "other-model", "llama3.2:3b"]
    server.models = ["only"]
    assert client.get("/models").json()["data"] == [
        {"id": "only", "object": "model", "owned_by": "test"}
    ]


def test_non_stream_reply_usage_and_recording(server: FakeServer, client: httpx.Client) -> None:
    body = {**CHAT, "model": "unknown-model"}
    data = client.post("/chat/completions", json=body, params={"x": "1"}).json()
    assert data["object"] == "chat.completion" and data["model"] == "unknown-model"
    assert data["choices"][0]["message"]["content"] == "TRANSLATED: hello big world"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    (recorded,) = server.chat_requests()
    assert recorded.body == body and recorded.query == {"x": "1"}
    assert recorded.headers["content-type"] == "application/json"
    server.send_usage = False
    server.reply = lambda body: body["model"].upper()
    data = client.post("/chat/completions", json=CHAT).json()
    assert "usage" not in data and data["choices"][0]["message"]["content"] == "TEST-MODEL"


def test_stream_concatenates_to_reply(server: FakeServer, client: httpx.Client) -> None:
    server.reply = "  Hello,  streamed\nworld! "
    lines, events = sse_events(client, CHAT)
    assert lines[0] == ": keep-alive"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert content_of(events) == server.reply
    assert events[-2]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}
    assert events[-1] == "[DONE]" and not any("usage" in e for e in events[:-1])


def test_stream_usage_only_when_requested_and_enabled(
    server: FakeServer, client: httpx.Client
) -> None:
    body = {**CHAT, "stream_options": {"include_usage": True}}
    _, events = sse_events(client, body)
    assert events[-2]["choices"] == [] and events[-2]["usage"]["total_tokens"] == 7
    server.send_usage = False
    _, events = sse_events(client, body)
    assert not any("usage" in e for e in events[:-1]) and events[-1] == "[DONE]"


def test_unknown_paths_answer_fastapi_404(server: FakeServer, client: httpx.Client) -> None:
    for url in (server.url + "/models", server.base_url + "/responses"):
        response = client.post(url, json=CHAT)
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})


def test_bearer_key_required_when_set(server: FakeServer, client: httpx.Client) -> None:
    server.api_key = "sk-test"
    response = client.get("/models")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/models", headers={"Authorization": "Bearer sk-test"}).status_code == 200


def test_fault_is_consumed_once_and_by_matching_requests(
    server: FakeServer, client: httpx.Client
) -> None:
    server.inject("429", retry_after=2, retry_after_ms=1500)
    server.inject("think", path="/chat/completions")
    response = client.get("/models")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2" and response.headers["retry-after-ms"] == "1500"
    assert client.get("/models").status_code == 200  # "think" is left for the chat request
    text = client.post("/chat/completions", json=CHAT).json()["choices"][0]["message"]["content"]
    assert text.startswith("<think>\n") and text.endswith("</think>\n\nTRANSLATED: hello big world")
    assert client.post("/chat/completions", json=CHAT).status_code == 200
    assert len(server.requests) == 4


def test_think_tags_split_across_stream_chunks(server: FakeServer, client: httpx.Client) -> None:
    server.inject("think")
    _, events = sse_events(client, CHAT)
    pieces = [e["choices"][0]["delta"].get("content") for e in events[1:-2]]
    assert pieces[:2] == ["<thi", "nk>"]
    assert content_of(events).startswith("<think>\nLet me think about this.\n</think>\n\n")


def test_status_faults_have_real_world_shapes(server: FakeServer, client: httpx.Client) -> None:
    server.inject("502")
    server.inject("validation_500")
    server.inject("status", status=418, body="teapot", headers={"X-Test": "1"})
    response = client.get("/models")
    assert response.status_code == 502 and "text/html" in response.headers["content-type"]
    response = client.get("/models")
    assert response.json()["error"]["type"] == "internal_server_error"
    assert "'loc': ('body', 'max_tokens')" in response.json()["error"]["message"]
    response = client.get("/models")
    assert (response.status_code, response.text, response.headers["x-test"]) == (418, "teapot", "1")


def test_concurrent_delayed_requests_run_in_parallel(
    server: FakeServer, client: httpx.Client
) -> None:
    server.delay = 0.3
    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.post("/chat/completions", json=CHAT), range(8)))
    elapsed = time.monotonic() - start
    assert all(r.status_code == 200 for r in responses)
    assert 0.3 <= elapsed < 1.2, elapsed  # serial would take 2.4 s


def test_hang_does_not_block_other_requests(server: FakeServer, client: httpx.Client) -> None:
    server.inject("hang", seconds=5, path="/chat/completions")
    with pytest.raises(httpx.ReadTimeout):
        client.post("/chat/completions", json=CHAT, timeout=0.2)
    assert client.get("/models", timeout=0.5).status_code == 200
    assert len(server.chat_requests()) == 1  # recorded although never answered


def test_broken_stream_closes_without_done(server: FakeServer, client: httpx.Client) -> None:
    server.inject("broken_stream", after=1)
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", "/chat/completions", json={**CHAT, "stream": True}) as response,
    ):
        lines.extend(line for line in response.iter_lines() if line)
    assert len(lines) == 3 and "data: [DONE]" not in lines  # keep-alive, role, one word
    assert client.get("/models").status_code == 200


def test_stream_error_event_ends_stream(server: FakeServer, client: httpx.Client) -> None:
    server.inject("stream_error")
    _, events = sse_events(client, CHAT)
    assert content_of(events) == "TRANSLATED: hello"
    assert events[-1] == {"error": {"message": "upstream overloaded", "type": "server_error"}}


def test_connections_are_kept_alive(server: FakeServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", "/v1/models")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        body = json.dumps({**CHAT, "stream": True})
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        second = conn.getresponse()
        assert b"data: [DONE]" in second.read()
        conn.request("GET", "/nope")
        assert conn.getresponse().status == 404
        assert not first.will_close and not second.will_close and conn.sock is sock
    finally:
        conn.close()


def test_openai_sdk_understands_the_server(server: FakeServer) -> None:
    import openai  # a test dependency: the SDK is the reference client

    sdk = openai.OpenAI(base_url=server.base_url, api_key="sk-x", max_retries=0)
    assert next(m.id for m in sdk.models.list()) == "test-model"
    stream = sdk.chat.completions.create(
        model="m", messages=CHAT["messages"], stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "TRANSLATED: hello big world"
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_standalone_script_prints_base_url() -> None:
    script = Path(__file__).with_name("server.py")
    args = [sys.executable, str(script), "--port", "0", "--api-key", "k", "--reply", "hi there"]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
            auth = {"Authorization": "Bearer k"}
            response = httpx.post(base_url + "/chat/completions", json=CHAT, headers=auth)
            assert response.json()["choices"][0]["message"]["content"] == "hi there"
        finally:
            proc.terminate()
        assert proc.wait(timeout=5) == 0  # SIGTERM is a clean exit
