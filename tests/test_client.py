"""The shared client against the real loopback server: /models, chat, stream, faults, retries."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
import pytest
from conftest import MARKER_KEY
from server import THINK_PREFIX, FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.errors import (
    AuthenticationError,
    BadRequestError,
    CompatError,
    ConfigError,
    ConnectError,
    InvalidResponseError,
    NotFoundError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    StreamError,
)
from compat_nb.wire.client import Client, get_client
from compat_nb.wire.protocol import ChatResult, ConnectionReport, RetryPolicy
from compat_nb.work.translation import Translation

MESSAGES = [{"role": "system", "content": "Translate."}, {"role": "user", "content": "Hello world"}]


def srv(server: FakeServer, **fields: Any) -> Preset:
    fields.setdefault("base_url", server.base_url)
    fields.setdefault("model", "test-model")
    return Preset(fields.pop("name", "srv"), **fields)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_stream(client: Client, preset: Preset, **overrides: Any) -> tuple[list[str], ChatResult]:
    items = list(client.stream(preset, MESSAGES, **overrides))
    *deltas, result = items
    assert all(isinstance(d, str) for d in deltas)
    assert isinstance(result, ChatResult)
    return deltas, result


def chat_either(client: Client, preset: Preset, streaming: bool) -> ChatResult:
    return run_stream(client, preset)[1] if streaming else client.chat(preset, MESSAGES)


@pytest.fixture
def client() -> Client:
    return get_client()  # the fast-retry client conftest installs


# --- /models ---------------------------------------------------------------------------------


def test_connection_ok(server: FakeServer, client: Client) -> None:
    report = client.test_connection(srv(server))
    assert report.ok and report.error is None
    assert report.model_ids == ["test-model", "other-model", "llama3.2:3b"]
    assert report.model_count == 3
    assert report.latency_ms is not None and report.latency_ms > 0
    assert report.model_found is True
    assert report.message.startswith("Connected. Found 3 models. Latency: ")
    (request,) = server.requests
    assert (request.method, request.path) == ("GET", "/v1/models")


def test_connection_reports_a_missing_model(server: FakeServer, client: Client) -> None:
    report = client.test_connection(srv(server, model="not-there"))
    assert report.ok and report.model_found is False
    assert "Model 'not-there' is not among them" in report.message
    assert client.test_connection(srv(server, model="")).model_found is None


def test_connection_accepts_a_bare_list(server: FakeServer, client: Client) -> None:
    server.inject("bare_list")
    report = client.test_connection(srv(server))
    assert report.ok and report.model_count == 3


def test_connection_200_with_error_body_fails(server: FakeServer, client: Client) -> None:
    server.inject("error_body")
    report = client.test_connection(srv(server))
    assert not report.ok
    assert "answered 200 with an error: model is loading" in (report.error or "")
    assert report.message == report.error


@pytest.mark.parametrize("fault", ["401", "403"])
def test_connection_key_rejected(server: FakeServer, client: Client, fault: str) -> None:
    server.inject(fault)
    report = client.test_connection(srv(server))
    assert not report.ok
    assert "Server reachable, key rejected" in (report.error or "")
    assert f"({fault})" in (report.error or "")


def test_connection_refused(client: Client) -> None:
    preset = Preset("LM Studio", f"http://127.0.0.1:{closed_port()}/v1", "m")
    report = client.test_connection(preset)
    assert not report.ok
    assert "Could not connect" in (report.error or "")
    # The advice follows the URL, not the name: nothing says LM Studio runs on this port.
    assert "is the server running?" in (report.error or "")
    assert report.message == report.error  # no "Connection failed:" before "Could not connect"


@pytest.mark.timeout(30)
def test_connection_deadline(server: FakeServer, client: Client) -> None:
    server.inject("hang", seconds=8)
    report = client.test_connection(srv(server))
    assert not report.ok
    assert "did not answer" in (report.error or "")
    # The 5 s deadline ended it, not the server's answer at 8 s.
    assert report.latency_ms is not None and report.latency_ms < 8000


def test_connection_html_page(server: FakeServer, client: Client) -> None:
    server.inject("html")
    report = client.test_connection(srv(server))
    assert not report.ok and "HTML page" in (report.error or "")


def test_connection_without_base_url_names_it(client: Client) -> None:
    report = client.test_connection(Preset("Preset 1"))
    assert not report.ok and "Base URL is empty" in (report.error or "")


# --- URL rules, end to end -------------------------------------------------------------------


@pytest.mark.parametrize(
    "pasted",
    [
        " http://127.0.0.1:{port}/v1/ ",
        "http://127.0.0.1:{port}/v1/chat/completions",
        "http://127.0.0.1:{port}/v1/models/",
        "127.0.0.1:{port}/v1",
    ],
)
def test_pasted_base_urls_work(server: FakeServer, client: Client, pasted: str) -> None:
    preset = srv(server, base_url=pasted.format(port=server.port))
    assert client.test_connection(preset).ok
    assert client.chat(preset, MESSAGES).text == "TRANSLATED: Hello world"
    assert run_stream(client, preset)[1].text == "TRANSLATED: Hello world"
    assert [r.path for r in server.requests] == [
        "/v1/models",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]


def test_query_string_is_kept(server: FakeServer, client: Client) -> None:
    preset = srv(server, base_url=server.base_url + "/chat/completions?tenant=a&v=2")
    client.chat(preset, MESSAGES)
    client.test_connection(preset)
    for request in server.requests:
        assert request.query == {"tenant": "a", "v": "2"}
    assert [r.path for r in server.requests] == ["/v1/chat/completions", "/v1/models"]


def test_root_without_v1_hints_at_v1(server: FakeServer, client: Client) -> None:
    preset = srv(server, base_url=server.url + "/")
    hint = f"did you mean {server.url}/v1?"
    report = client.test_connection(preset)
    assert not report.ok and hint in (report.error or "")
    for streaming in (False, True):
        with pytest.raises(NotFoundError) as info:
            chat_either(client, preset, streaming)
        assert hint in info.value.message
    assert len(server.chat_requests()) == 2  # a 404 is not retried


# --- chat request shape ----------------------------------------------------------------------


def test_chat_sends_one_post_with_only_set_options(server: FakeServer, client: Client) -> None:
    result = client.chat(srv(server), MESSAGES)
    assert result.text == "TRANSLATED: Hello world"
    assert result.usage is not None and result.usage.completion_tokens == 3
    assert result.finish_reason == "stop" and result.model == "test-model"
    assert result.latency_ms is not None and result.latency_ms > 0 and result.ttft_ms is None
    (request,) = server.chat_requests()
    assert request.body == {"model": "test-model", "messages": MESSAGES, "stream": False}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("compat_nb/")


def test_set_options_and_overrides_are_sent(server: FakeServer, client: Client) -> None:
    preset = srv(server, temperature=0.0, max_tokens=50)
    client.chat(preset, MESSAGES)
    client.chat(preset, MESSAGES, temperature=0.7, model="llama3.2:3b", max_tokens=None)
    first, second = (r.body for r in server.chat_requests())
    assert (first["temperature"], first["max_tokens"]) == (0.0, 50)
    assert second["temperature"] == 0.7 and second["model"] == "llama3.2:3b"
    assert "max_tokens" not in second


@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_authorization_header_without_a_key(
    server: FakeServer, client: Client, key: str | None
) -> None:
    client.chat(srv(server, api_key=key), MESSAGES)
    client.test_connection(srv(server, api_key=key))
    assert all("authorization" not in r.headers for r in server.requests)


def test_bearer_key_is_sent(server: FakeServer, client: Client) -> None:
    server.api_key = MARKER_KEY
    preset = srv(server, api_key=MARKER_KEY)
    assert client.chat(preset, MESSAGES).text
    assert client.test_connection(preset).ok
    assert run_stream(client, preset)[1].text
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {MARKER_KEY}"}


def test_key_from_named_environment_variable(
    server: FakeServer, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.api_key = MARKER_KEY
    preset = srv(server, api_key_env="COMPAT_NB_TEST_KEY")
    monkeypatch.delenv("COMPAT_NB_TEST_KEY", raising=False)
    # A preset that names an unset variable is not usable: it stops before sending.
    with pytest.raises(ConfigError) as info:
        client.chat(preset, MESSAGES)
    assert "$COMPAT_NB_TEST_KEY is not set" in info.value.message
    assert "export COMPAT_NB_TEST_KEY=" in info.value.message and "%env" not in info.value.message
    assert server.chat_requests() == []
    monkeypatch.setenv("COMPAT_NB_TEST_KEY", MARKER_KEY)
    assert client.chat(preset, MESSAGES).text
    assert server.chat_requests()[-1].headers["authorization"] == f"Bearer {MARKER_KEY}"


def test_extra_headers_are_merged(server: FakeServer, client: Client) -> None:
    headers = {"HTTP-Referer": "https://example.com/nb", "X-OpenRouter-Title": "compat_nb"}
    preset = srv(server, headers=headers, api_key="sk-1")
    client.chat(preset, MESSAGES)
    run_stream(client, preset)
    client.test_connection(preset)
    for request in server.requests:
        assert request.headers["http-referer"] == "https://example.com/nb"
        assert request.headers["x-openrouter-title"] == "compat_nb"
        assert request.headers["authorization"] == "Bearer sk-1"


# --- streaming -------------------------------------------------------------------------------


def test_stream_yields_deltas_then_result(server: FakeServer, client: Client) -> None:
    server.reply = "Bonjour tout le monde, ça va ?"
    deltas, result = run_stream(client, srv(server))
    assert len(deltas) > 1 and "".join(deltas) == server.reply
    assert result.text == server.reply
    assert result.usage is not None and result.usage.completion_tokens == 7
    assert result.output_tokens == 7 and not result.tokens_estimated
    assert result.finish_reason == "stop"
    assert result.ttft_ms is not None and result.latency_ms is not None
    assert 0 < result.ttft_ms <= result.latency_ms
    (request,) = server.chat_requests()
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["messages"] == MESSAGES
    assert "temperature" not in request.body and "max_tokens" not in request.body


def test_stream_copes_without_usage(server: FakeServer, client: Client) -> None:
    server.send_usage = False
    server.reply = "one two three four five"
    deltas, result = run_stream(client, srv(server))
    assert result.usage is None
    assert result.output_tokens == len(deltas) == 5
    assert result.tokens_estimated
    assert result.tokens_per_second is not None


def test_stream_options_refused_is_sent_again_without(server: FakeServer, client: Client) -> None:
    message = "Unrecognized request argument supplied: stream_options"
    server.inject("status", status=400, body={"error": {"message": message}})
    _, result = run_stream(client, srv(server))
    assert result.text == "TRANSLATED: Hello world"
    first, second = server.chat_requests()
    assert "stream_options" in first.body and "stream_options" not in second.body


# --- faults ----------------------------------------------------------------------------------

FAULTS = [
    # fault, inject params, error class, the cause, the fix named, requests the server saw
    ("401", {}, AuthenticationError, "Server reachable, key rejected (401)", "API key", 1),
    ("403", {}, AuthenticationError, "Server reachable, key rejected (403)", "sent no key", 1),
    ("404_model", {}, NotFoundError, "Model 'test-model' not found", "lists them", 1),
    ("429", {"times": 3}, RateLimitError, "Rate limited (429)", "run the cell again", 3),
    ("500", {"times": 3}, ServerError, "Server error 500", "check its log", 3),
    ("502", {"times": 3}, ServerError, "502 Bad Gateway", "check its log", 3),
    ("503", {"times": 3}, ServerError, "Server error 503", "check its log", 3),
    ("504", {"times": 3}, ServerError, "504 Gateway Time-out", "check its log", 3),
    ("validation_500", {}, BadRequestError, "validation error", "Check the options", 1),
    ("html", {}, InvalidResponseError, "HTML page", "Use the API root", 1),
    ("error_body", {}, InvalidResponseError, "model is loading", "Check the server's log", 1),
    ("no_choices", {}, InvalidResponseError, "`choices`", "Check that the Base URL", 1),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize(("fault", "params", "cls", "cause", "fix", "seen"), FAULTS)
def test_fault_maps_to_its_error(
    server: FakeServer,
    client: Client,
    streaming: bool,
    fault: str,
    params: dict[str, Any],
    cls: type,
    cause: str,
    fix: str,
    seen: int,
) -> None:
    server.inject(fault, **params)
    with pytest.raises(cls) as info:
        chat_either(client, srv(server), streaming)
    message = info.value.message
    assert cause in message
    assert fix in message
    assert "\n" not in message  # one paragraph
    assert len(server.chat_requests()) == seen
    assert server.base_url in message  # names where
    assert client.chat(srv(server), MESSAGES).text  # and the client is still usable


def test_stream_error_event(server: FakeServer, client: Client) -> None:
    server.inject("stream_error")
    received: list[str] = []
    with pytest.raises(StreamError) as info:
        for item in client.stream(srv(server), MESSAGES):
            received.append(item)  # type: ignore[arg-type]
    assert "upstream overloaded" in info.value.message
    assert info.value.partial == "".join(received) == "TRANSLATED: Hello"
    assert len(server.chat_requests()) == 1
    server.inject("stream_error")
    with pytest.raises(InvalidResponseError):
        client.chat(srv(server), MESSAGES)


def test_broken_stream_is_never_retried(server: FakeServer, client: Client) -> None:
    server.reply = "alpha beta gamma delta epsilon"
    server.inject("broken_stream", after=3)
    received: list[str] = []
    with pytest.raises(StreamError) as info:
        for item in client.stream(srv(server), MESSAGES):
            received.append(item)  # type: ignore[arg-type]
    assert info.value.partial == "alpha beta gamma"
    assert "".join(received) == "alpha beta gamma"
    assert "broke off" in info.value.message and "kept" in info.value.message
    assert len(server.chat_requests()) == 1
    assert run_stream(client, srv(server))[1].text == server.reply


def test_broken_plain_answer_is_an_error(server: FakeServer, client: Client) -> None:
    server.inject("broken_stream")
    with pytest.raises(StreamError) as info:
        client.chat(srv(server), MESSAGES)
    assert "broke off" in info.value.message and "\n" not in info.value.message
    assert len(server.chat_requests()) == 1

    async def achat() -> None:
        server.inject("broken_stream")
        with pytest.raises(StreamError):
            await get_client().achat(srv(server), MESSAGES)

    asyncio.run(achat())
    assert client.chat(srv(server), MESSAGES).text


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_429_with_retry_after_is_retried(
    server: FakeServer, client: Client, streaming: bool
) -> None:
    server.inject("429", retry_after=0)
    assert chat_either(client, srv(server), streaming).text == "TRANSLATED: Hello world"
    assert len(server.chat_requests()) == 2


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_one_502_is_retried(server: FakeServer, client: Client, streaming: bool) -> None:
    server.inject("502")
    assert chat_either(client, srv(server), streaming).text == "TRANSLATED: Hello world"
    assert len(server.chat_requests()) == 2


def test_retry_after_ms_is_honoured(server: FakeServer, client: Client) -> None:
    server.inject("429", retry_after=30, retry_after_ms=10)
    assert client.chat(srv(server), MESSAGES).text
    assert len(server.chat_requests()) == 2


def test_negative_retry_after_ms_is_not_a_crash(server: FakeServer, client: Client) -> None:
    server.inject("429", retry_after_ms=-50)
    assert client.chat(srv(server), MESSAGES).text
    assert len(server.chat_requests()) == 2


def test_server_ignoring_stream_true_is_accepted(server: FakeServer, client: Client) -> None:
    completion = {
        "model": "test-model",
        "choices": [{"index": 0, "message": {"content": "Bonjour"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    server.inject("status", status=200, body=completion)
    deltas, result = run_stream(client, srv(server))
    assert deltas == ["Bonjour"] and result.text == "Bonjour"  # deltas add up to the text
    assert result.usage is not None and result.usage.completion_tokens == 1


def test_validation_500_is_not_retried(server: FakeServer, client: Client) -> None:
    server.inject("validation_500", times=3)
    with pytest.raises(BadRequestError) as info:
        client.chat(srv(server), MESSAGES)
    assert len(server.chat_requests()) == 1
    assert "Check the options sent" in info.value.message


def test_no_retries_when_the_policy_says_none(server: FakeServer) -> None:
    client = Client(retry=RetryPolicy(max_retries=0))
    server.inject("502")
    with pytest.raises(ServerError) as info:
        client.chat(srv(server), MESSAGES)
    assert "after" not in info.value.message.split(":")[0]
    assert len(server.chat_requests()) == 1
    client.close()


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_connection_refused_says_could_not_connect(client: Client, streaming: bool) -> None:
    preset = Preset("Mine", f"http://127.0.0.1:{closed_port()}/v1", "llama3.2")
    with pytest.raises(ConnectError) as info:
        chat_either(client, preset, streaming)
    assert info.value.message.startswith(f"Could not connect to {preset.base_url}")
    assert "is the server running?" in info.value.message
    assert "\n" not in info.value.message


def test_read_timeout(server: FakeServer, client: Client) -> None:
    server.inject("hang", seconds=3)
    with pytest.raises(RequestTimeout) as info:
        client.chat(srv(server), MESSAGES, timeout=0.3)
    assert "did not answer" in info.value.message and "--timeout" in info.value.message
    assert len(server.chat_requests()) == 1


def test_preset_timeout_applies(server: FakeServer, client: Client) -> None:
    server.inject("hang", seconds=3)
    with pytest.raises(RequestTimeout):
        run_stream(client, srv(server, timeout=0.3))


def test_unusable_preset_is_refused_before_sending(server: FakeServer, client: Client) -> None:
    with pytest.raises(CompatError) as info:
        client.chat(srv(server, model=""), MESSAGES)
    assert "Model name is empty" in str(info.value)
    assert server.requests == []


# --- reasoning -------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_think_block_never_reaches_the_text(
    server: FakeServer, client: Client, streaming: bool
) -> None:
    server.inject("think")
    if streaming:
        deltas, result = run_stream(client, srv(server))
        assert "".join(deltas) == "TRANSLATED: Hello world"
        assert not any("think" in d or "<" in d for d in deltas)
    else:
        result = client.chat(srv(server), MESSAGES)
    assert result.text == "TRANSLATED: Hello world"
    assert result.reasoning == "Let me think about this."
    assert THINK_PREFIX.strip().startswith("<think>")


@pytest.mark.parametrize("streaming", [False, True], ids=["chat", "stream"])
def test_reasoning_content_field(server: FakeServer, client: Client, streaming: bool) -> None:
    server.inject("reasoning_field")
    result = chat_either(client, srv(server), streaming)
    assert result.text == "TRANSLATED: Hello world"
    assert result.reasoning == "Because."


# --- early close, interrupts ------------------------------------------------------------------


@pytest.fixture
def small_pool(monkeypatch: pytest.MonkeyPatch) -> Client:
    """A client with two connections: a leaked response would starve the next call."""
    client = Client(retry=RetryPolicy(initial_delay=0.01, max_delay=0.05))
    monkeypatch.setattr(client.pools, "limits", httpx.Limits(max_connections=2))
    yield client
    client.close()


def test_closing_a_stream_early_leaves_the_client_usable(
    server: FakeServer, small_pool: Client
) -> None:
    server.reply = " ".join(f"w{i}" for i in range(200))
    server.chunk_delay = 0.005
    for _ in range(4):
        stream = small_pool.stream(srv(server), MESSAGES, timeout=5)
        assert next(stream) == "w0"
        stream.close()
    server.chunk_delay = 0.0
    assert small_pool.chat(srv(server), MESSAGES, timeout=5).text == server.reply


def test_interrupt_inside_the_stream_leaves_the_client_usable(
    server: FakeServer, small_pool: Client
) -> None:
    server.reply = " ".join(f"w{i}" for i in range(200))
    server.chunk_delay = 0.005
    for _ in range(4):
        stream = small_pool.stream(srv(server), MESSAGES, timeout=5)
        received = [next(stream), next(stream)]
        with pytest.raises(KeyboardInterrupt):
            stream.throw(KeyboardInterrupt)  # as Ctrl-C arriving while it waits for bytes
        assert received == ["w0", " w1"]
    server.chunk_delay = 0.0
    assert run_stream(small_pool, srv(server), timeout=5)[1].text == server.reply


def test_interrupt_in_the_consumer_loop_leaves_the_client_usable(
    server: FakeServer, small_pool: Client
) -> None:
    server.reply = " ".join(f"w{i}" for i in range(200))
    for _ in range(4):
        stream = small_pool.stream(srv(server), MESSAGES, timeout=5)
        try:
            for i, _item in enumerate(stream):
                if i == 2:
                    raise KeyboardInterrupt
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()
    assert small_pool.chat(srv(server), MESSAGES, timeout=5).text == server.reply


# --- async twins -----------------------------------------------------------------------------


def test_async_chat_stream_and_connection(server: FakeServer, client: Client) -> None:
    async def main() -> tuple[ChatResult, list[Any], ConnectionReport]:
        result = await client.achat(srv(server), MESSAGES)
        items = [item async for item in client.astream(srv(server), MESSAGES)]
        report = await client.atest_connection(srv(server))
        return result, items, report

    result, items, report = asyncio.run(main())
    assert result.text == "TRANSLATED: Hello world" and result.usage is not None
    *deltas, final = items
    assert "".join(deltas) == "TRANSLATED: Hello world"
    assert isinstance(final, ChatResult) and final.text == "TRANSLATED: Hello world"
    assert final.ttft_ms is not None
    assert report.ok and report.model_count == 3
    assert [r.path for r in server.requests][-1] == "/v1/models"
    assert server.chat_requests()[1].body["stream_options"] == {"include_usage": True}


def test_async_faults_and_retries(server: FakeServer, client: Client) -> None:
    async def main() -> None:
        server.inject("502")
        assert (await client.achat(srv(server), MESSAGES)).text
        server.inject("401")
        with pytest.raises(AuthenticationError):
            await client.achat(srv(server), MESSAGES)
        server.inject("think")
        items = [i async for i in client.astream(srv(server), MESSAGES)]
        assert "".join(i for i in items if isinstance(i, str)) == "TRANSLATED: Hello world"
        server.inject("broken_stream", after=2)
        with pytest.raises(StreamError) as info:
            async for _ in client.astream(srv(server), MESSAGES):
                pass
        assert info.value.partial == "TRANSLATED: Hello"
        stream = client.astream(srv(server), MESSAGES)
        # The first delta: one token, or more when the transport read several at once.
        assert (await stream.__anext__()).startswith("TRANSLATED:")
        await stream.aclose()
        report = await client.atest_connection(srv(server, base_url=server.url))
        assert not report.ok and "did you mean" in (report.error or "")

    asyncio.run(main())
    assert len(server.chat_requests()) == 6  # 502 + retry, 401, think, broken, closed


@pytest.mark.timeout(30)
def test_async_connection_deadline(server: FakeServer, client: Client) -> None:
    server.inject("hang", seconds=8)
    report = asyncio.run(client.atest_connection(srv(server)))
    assert not report.ok and "did not answer" in (report.error or "")
    assert report.latency_ms is not None and report.latency_ms < 8000


# --- the Python API ---------------------------------------------------------------------------


def test_translate_function(server: FakeServer) -> None:
    get_store().save(srv(server, name="api", system_prompt="Be formal."))
    translation = compat_nb.translate("Good morning", to="French", preset="api")
    assert isinstance(translation, Translation)
    assert translation.text == "TRANSLATED: Good morning"
    assert translation.target_language == "French"
    assert (translation.preset, translation.model) == ("api", "test-model")
    assert translation.latency_ms is not None and translation.latency_ms > 0
    assert translation.usage is not None and translation.usage.completion_tokens == 3
    (request,) = server.chat_requests()
    system, user = request.body["messages"]
    assert "French" in system["content"] and system["content"].endswith("Be formal.")
    assert user == {"role": "user", "content": "Good morning"}


def test_translate_with_overrides_and_active_preset(server: FakeServer) -> None:
    store = get_store()
    store.save(srv(server, name="api"))
    store.use("api")
    translation = compat_nb.translate("Hi", model="llama3.2:3b", temperature=0.1)
    assert translation.model == "llama3.2:3b"
    body = server.chat_requests()[0].body
    assert body["model"] == "llama3.2:3b" and body["temperature"] == 0.1
    adhoc = compat_nb.translate("Hi", to="German", base_url=server.base_url, model="other-model")
    assert adhoc.text == "TRANSLATED: Hi" and adhoc.model == "other-model"


def test_atranslate_function(server: FakeServer) -> None:
    get_store().save(srv(server, name="api"))
    translation = asyncio.run(compat_nb.atranslate("Bonjour", to="English", preset="api"))
    assert isinstance(translation, Translation)
    assert translation.text == "TRANSLATED: Bonjour"
    assert translation.latency_ms is not None and translation.usage is not None


def test_translate_errors_are_compat_errors(server: FakeServer) -> None:
    get_store().save(srv(server, name="api"))
    server.inject("401")
    with pytest.raises(AuthenticationError):
        compat_nb.translate("Hi", preset="api")
    with pytest.raises(CompatError) as info:
        compat_nb.translate("Hi", preset="Preset 1")
    assert "not usable yet" in str(info.value)


def test_streams_are_read_to_the_end_and_reuse_one_connection(server):
    client = Client()
    preset = Preset("p", server.base_url, "test-model")
    for text in ("one", "two", "three"):
        items = list(client.stream(preset, [{"role": "user", "content": text}]))
        assert items[-1].text == f"TRANSLATED: {text}"
    pool = client.pools.sync(None)._transport._pool  # httpcore's pool: what is really open
    assert len(pool.connections) == 1
    assert pool.connections[0].is_idle()
    client.close()


def test_connection_deadline_is_total_even_when_the_server_trickles():
    """Each read arrives within httpx's per-read timeout; the whole answer must not."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
        )
        for byte in b'{"data": [' + b" " * 80:
            if stop.wait(0.5):
                break
            conn.sendall(bytes([byte]))
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        report = get_client().test_connection(Preset("t", f"http://127.0.0.1:{port}/v1", "m"))
    finally:
        stop.set()
        listener.close()
    assert not report.ok
    assert "did not answer within 5 s" in report.error
    assert report.latency_ms < 8000  # the trickle alone would take 45 s
