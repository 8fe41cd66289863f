"""The wire format with no I/O: parsing recorded llama.cpp answers, reasoning, errors, retries."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import MARKER_KEY

from compat_nb.config.presets import Preset
from compat_nb.errors import (
    AuthenticationError,
    BadRequestError,
    CompatError,
    ConfigError,
    InvalidResponseError,
    NotFoundError,
    PresetFileError,
    RateLimitError,
    ResponseError,
    ServerError,
    StreamError,
)
from compat_nb.wire.diagnosis import decode_body, error_for_response, is_html
from compat_nb.wire.protocol import (
    ChatResult,
    ConnectionReport,
    RetryPolicy,
    Usage,
    parse_chat_response,
    parse_models,
    split_reasoning,
    tokens_per_second,
)
from compat_nb.wire.sse import iter_events
from compat_nb.wire.streaming import ChatAccumulator

FIXTURES = Path(__file__).parent / "fixtures" / "llama-cpp-python-0.3.36"  # recorded, real
PRESET = Preset("llama.cpp", "http://127.0.0.1:8000/v1", "smollm2-135m")


def recorded(name: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-cased) and body of a recorded .http file."""
    raw = (FIXTURES / name).read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().splitlines()
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def recorded_json(name: str) -> Any:
    _, headers, body = recorded(name)
    return decode_body(body, headers["content-type"])


def recorded_error(name: str, preset: Preset = PRESET, endpoint: str = "chat/completions"):
    status, headers, body = recorded(name)
    return error_for_response(
        status,
        decode_body(body, headers.get("content-type", "")),
        url=preset.base_url + "/" + endpoint,
        preset=preset,
        model=preset.model,
        endpoint=endpoint,
    )


def accumulate(datas: list[str]) -> tuple[str, ChatResult]:
    acc = ChatAccumulator(where="http://h/v1")
    deltas = "".join(acc.feed(d) for d in datas)
    deltas += acc.finish()
    return deltas, acc.result(latency_ms=100.0, ttft_ms=10.0)


def chunk(content: str | None = None, **delta: Any) -> str:
    if content is not None:
        delta["content"] = content
    return json.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})


# --- recorded answers ------------------------------------------------------------------------


def test_recorded_models_list() -> None:
    assert parse_models(recorded_json("models.http")) == ["smollm2-135m"]


def test_models_in_other_shapes() -> None:
    assert parse_models([{"id": "a"}, {"id": "b"}]) == ["a", "b"]
    assert parse_models(["a", "b"]) == ["a", "b"]
    assert parse_models({"models": [{"name": "llama3.2:3b"}]}) == ["llama3.2:3b"]
    assert parse_models({"object": "list", "data": []}) == []
    for body in ({"data": "nope"}, "<html>", {"object": "list"}, 42):
        with pytest.raises(InvalidResponseError) as info:
            parse_models(body)
        assert "not a model list" in str(info.value)


def test_recorded_plain_chat() -> None:
    result = parse_chat_response(recorded_json("chat.http"), where="http://h/v1")
    assert result.text == "Bonjour, merci."
    assert result.reasoning == ""
    assert result.usage == Usage(prompt_tokens=39, completion_tokens=6, total_tokens=45)
    assert result.finish_reason == "stop"
    assert result.model == "smollm2-135m"
    assert result.output_tokens == 6 and not result.tokens_estimated


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("chat_stream.http", "Je suis le Jouy, je ne sais"),
        ("chat_stream_usage.http", "Bonjour à la Françille, un bonsoi à"),
    ],
)
def test_recorded_streams_without_usage(name: str, text: str) -> None:
    _, _, body = recorded(name)
    events = [e.data for e in iter_events(body.decode().split("\n"))]
    assert events[-1] == "[DONE]"
    deltas, result = accumulate(events[:-1])
    assert deltas == text and result.text == text
    assert result.finish_reason == "length"
    assert result.model == "smollm2-135m"
    # llama.cpp ignores stream_options.include_usage: the token count is estimated.
    assert result.usage is None
    assert result.output_tokens == result.chunks == 12 and result.tokens_estimated


def test_recorded_stream_through_httpx_lines() -> None:
    status, headers, body = recorded("chat_stream.http")
    headers.pop("transfer-encoding")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        response = client.get("http://llama.cpp/v1/chat/completions")
        datas = [e.data for e in iter_events(response.iter_lines())]
    assert datas[-1] == "[DONE]"
    assert accumulate(datas[:-1])[1].text == "Je suis le Jouy, je ne sais"


def test_recorded_validation_error_is_a_bad_request_not_retried() -> None:
    error = recorded_error("error_500_bad_param.http")
    assert type(error) is BadRequestError
    assert error.status_code == 500
    assert "validation error" in error.message and "max_tokens" in error.message
    assert "Check the options sent" in error.message
    assert not RetryPolicy().should_retry(500, recorded_json("error_500_bad_param.http"))


def test_recorded_plain_text_500_is_a_server_error_and_retried() -> None:
    error = recorded_error("error_bad_json.http")
    assert type(error) is ServerError
    assert "Server error 500" in error.message and "Internal Server Error" in error.message
    assert "check its log" in error.message
    assert RetryPolicy().should_retry(500, "Internal Server Error")


def test_recorded_404_without_v1_suggests_v1() -> None:
    root = Preset("llama.cpp", "http://127.0.0.1:8000", "smollm2-135m")
    for endpoint in ("models", "chat/completions"):
        error = recorded_error("error_404_no_v1.http", root, endpoint)
        assert type(error) is NotFoundError
        assert "did you mean http://127.0.0.1:8000/v1?" in error.message


def test_recorded_404_on_v1_root_says_check_base_url() -> None:
    error = recorded_error("responses_404.http", endpoint="responses")
    assert type(error) is NotFoundError
    assert "did you mean" not in error.message
    assert "Check the Base URL" in error.message


# --- non-streamed bodies ---------------------------------------------------------------------


def test_200_with_error_body_is_a_failure() -> None:
    body = {"error": {"message": "model is loading", "type": "server_error"}}
    with pytest.raises(InvalidResponseError) as info:
        parse_chat_response(body, where="http://h/v1")
    assert "answered 200 with an error: model is loading" in info.value.message


@pytest.mark.parametrize("body", [{"object": "chat.completion"}, {"choices": []}, [], "text"])
def test_missing_choices_is_a_failure(body: Any) -> None:
    with pytest.raises(InvalidResponseError) as info:
        parse_chat_response(body, where="http://h/v1")
    assert "without `choices`" in info.value.message
    assert "API root" in info.value.message


def test_content_parts_and_reasoning_field() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": [{"type": "text", "text": "Bon"}, {"type": "text", "text": "jour"}],
                    "reasoning_content": "Because.",
                },
                "finish_reason": "stop",
            }
        ]
    }
    result = parse_chat_response(body, where="http://h/v1")
    assert (result.text, result.reasoning) == ("Bonjour", "Because.")


def test_think_block_leaves_non_streamed_text() -> None:
    body = {"choices": [{"message": {"content": "<think>\nHmm.\n</think>\n\nBonjour"}}]}
    result = parse_chat_response(body, where="http://h/v1")
    assert (result.text, result.reasoning) == ("Bonjour", "Hmm.")


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("<think>a</think>\n\nB", "B", "a"),
        ("  <think>\na\n</think>B", "B", "a"),
        ("<think>never closed", "", "never closed"),
        ("only closing</think>\nB", "B", "only closing"),
        ("plain <think> later", "plain <think> later", ""),
        ("No tags", "No tags", ""),
    ],
)
def test_split_reasoning(text: str, answer: str, reasoning: str) -> None:
    assert split_reasoning(text) == (answer, reasoning)


def test_html_detection() -> None:
    assert is_html("text/html; charset=utf-8", "")
    assert is_html("application/octet-stream", "<!DOCTYPE html><html>")
    assert is_html("", "  <html><body>")
    assert not is_html("application/json", {"data": []})
    assert decode_body(b'{"a": 1}', "application/json") == {"a": 1}
    assert decode_body(b"Bad Gateway", "text/plain") == "Bad Gateway"


# --- streams ---------------------------------------------------------------------------------


def test_think_split_across_chunks_never_reaches_text() -> None:
    pieces = ["<thi", "nk>", "\nLet me", " think.", "\n</th", "ink>", "\n\nBon", "jour"]
    deltas, result = accumulate([chunk(p) for p in pieces])
    assert deltas == "Bonjour"
    assert result.text == "Bonjour"
    assert result.reasoning == "Let me think."
    assert "<" not in deltas and "think" not in deltas


def test_stream_text_starting_with_a_tag_is_not_held() -> None:
    acc = ChatAccumulator(where="http://h/v1")
    assert acc.feed(chunk("<")) == ""  # could still open <think>
    assert acc.feed(chunk("b>bold")) == "<b>bold"
    assert acc.feed(chunk(" text")) == " text"
    assert acc.result(latency_ms=1.0, ttft_ms=1.0).text == "<b>bold text"


def test_unclosed_think_in_stream_is_all_reasoning() -> None:
    deltas, result = accumulate([chunk("<think>"), chunk("still thinking")])
    assert deltas == "" and result.text == "" and result.reasoning == "still thinking"


def test_lone_closing_think_tag_in_stream() -> None:
    # Some chat templates open the block themselves, so only "</think>" arrives.
    _, result = accumulate([chunk("pondering"), chunk("</think>"), chunk("\nBonjour")])
    assert result.text == "Bonjour" and result.reasoning == "pondering"


def test_streamed_reasoning_field_is_concatenated() -> None:
    datas = [chunk(reasoning_content=p) for p in ("The user", " wants", " French.")]
    deltas, result = accumulate([*datas, chunk("Bonjour")])
    assert deltas == "Bonjour" and result.text == "Bonjour"
    assert result.reasoning == "The user wants French."


def test_stream_usage_chunk_and_model() -> None:
    final = json.dumps(
        {"model": "m1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    )
    stop = json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    _, result = accumulate([chunk("a"), chunk(" b"), stop, final])
    assert result.usage == Usage(prompt_tokens=3, completion_tokens=2)
    assert result.output_tokens == 2 and not result.tokens_estimated
    assert result.finish_reason == "stop" and result.model == "m1"
    assert result.latency_ms == 100.0 and result.ttft_ms == 10.0


def test_stream_error_event_keeps_partial_text() -> None:
    acc = ChatAccumulator(where="http://h/v1")
    acc.feed(chunk("Bon"))
    acc.feed(chunk("jour"))
    with pytest.raises(StreamError) as info:
        acc.feed(json.dumps({"error": {"message": "upstream overloaded"}}))
    assert info.value.partial == "Bonjour"
    assert "upstream overloaded" in info.value.message


def test_non_json_chunk_is_a_stream_error() -> None:
    acc = ChatAccumulator(where="http://h/v1")
    acc.feed(chunk("Hi"))
    with pytest.raises(StreamError) as info:
        acc.feed("not json")
    assert info.value.partial == "Hi" and "not JSON" in info.value.message


def test_other_choice_indexes_are_ignored() -> None:
    other = json.dumps({"choices": [{"index": 1, "delta": {"content": "X"}}]})
    deltas, result = accumulate([chunk("A"), other, chunk("B")])
    assert deltas == "AB" and result.text == "AB"


# --- errors ----------------------------------------------------------------------------------


def _error(status: int, body: Any, preset: Preset = PRESET, **kw: Any) -> CompatError:
    kw.setdefault("endpoint", "chat/completions")
    kw.setdefault("model", preset.model)
    return error_for_response(status, body, url=preset.base_url + "/x", preset=preset, **kw)


@pytest.mark.parametrize(
    ("status", "body", "cls", "phrase"),
    [
        (401, {"error": {"message": "Invalid API key"}}, AuthenticationError, "key rejected"),
        (403, {"error": {"message": "Forbidden"}}, AuthenticationError, "key rejected"),
        (404, {"error": {"message": "The model `x` does not exist"}}, NotFoundError, "not found"),
        (429, {"error": {"message": "Rate limit reached"}}, RateLimitError, "Rate limited"),
        (400, {"detail": "bad"}, BadRequestError, "rejected the request (400)"),
        (422, {"detail": [{"msg": "bad"}]}, BadRequestError, "rejected the request (422)"),
        (503, {"error": "overloaded"}, ServerError, "Server error 503"),
        (502, "<html><title>502 Bad Gateway</title></html>", ServerError, "502 Bad Gateway"),
        (418, "teapot", ResponseError, "Unexpected answer 418"),
    ],
)
def test_error_mapping(status: int, body: Any, cls: type, phrase: str) -> None:
    error = _error(status, body)
    assert type(error) is cls
    assert phrase in error.message
    assert error.status_code == status
    assert "\n" not in error.message  # one paragraph
    assert error._render_traceback_() == [f"{cls.__name__}: {error.message}"]


def test_auth_error_says_which_key_was_sent_and_the_fix_where_it_is_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from compat_nb.config import advice

    monkeypatch.setattr(advice, "saved_check", lambda preset: preset.name == "Keyed")
    keyed = Preset("Keyed", "http://127.0.0.1:9/v1", "m")
    typed = keyed.replace(api_key="sk-typed-0123456789", key_source="typed")
    saved = keyed.replace(api_key="sk-saved-0123456789", key_source="saved")
    with advice.shown_in("panel"):
        message = _error(401, "x", typed).message
        assert "sent the key typed in API key (…6789)" in message
        assert "enter the right one in API key above" in message and "%translate" not in message
        assert "enter the right one in API key above and Save" in _error(401, "x", saved).message
    with advice.shown_in("terminal"), advice.in_command():  # as the magic runs it
        message = _error(401, "x", saved).message
        assert "sent the key saved for 'Keyed' (…6789)" in message
        assert "`%translate key Keyed`" in message and "settings" not in message
        none = _error(401, "x", keyed).message
        assert "sent no key" in none and "`%translate key Keyed`" in none
        # A --base-url cell has no saved preset to store a key in: name the variable instead.
        adhoc = _error(401, "x", Preset("127.0.0.1:9", "http://127.0.0.1:9/v1", "m")).message
        assert "--api-key-env VAR" in adhoc and "%translate key" not in adhoc
    monkeypatch.setenv("SET_VAR", "sk-2")
    with advice.shown_in("kernel"):
        from_env = _error(401, "x", keyed.replace(api_key_env="SET_VAR")).message
        assert "sent the key in $SET_VAR" in from_env and "export SET_VAR=" in from_env
        assert "restart the kernel" in from_env and "%env" not in from_env
    with advice.shown_in("python"):
        code = _error(401, "x", Preset("mine", "http://h/v1", "m", api_key="sk-code-0123456789"))
        assert "the key given in code (…6789)" in code.message and "%translate" not in code.message


def test_404_for_unknown_model_names_the_command_that_lists_models() -> None:
    import compat_nb.config.store  # noqa: F401 (the store tells advice which presets it has)
    from compat_nb.config import advice

    preset = Preset("LM Studio", "http://127.0.0.1:1234/v1", "qwen")
    with advice.shown_in("terminal"):
        error = _error(404, {"error": {"message": "model 'qwen' not found"}}, preset)
    assert "Model 'qwen' not found" in error.message
    assert '`%translate models "LM Studio"` lists them' in error.message
    adhoc = Preset("127.0.0.1:8000", "http://127.0.0.1:8000/v1", "qwen", api_key_env="K")
    with advice.shown_in("terminal"):
        error = _error(404, {"error": {"message": "model 'qwen' not found"}}, adhoc)
    wanted = "`%translate models --base-url http://127.0.0.1:8000/v1 --api-key-env K`"
    assert wanted in error.message


def test_error_messages_never_contain_the_key() -> None:
    preset = PRESET.replace(api_key=MARKER_KEY)
    for status in (400, 401, 404, 429, 500, 502):
        body = {"error": {"message": f"bad key {MARKER_KEY}"}}
        error = _error(status, body, preset)
        assert MARKER_KEY not in error.message and MARKER_KEY not in str(error)
        assert "***" in error.message


def test_long_server_messages_are_shortened() -> None:
    error = _error(500, {"error": {"message": "x" * 2000}})
    assert len(error.message) < 600 and "…" in error.message


def test_error_tree() -> None:
    assert issubclass(PresetFileError, ConfigError) and issubclass(ConfigError, ValueError)
    for cls in (AuthenticationError, NotFoundError, RateLimitError, InvalidResponseError):
        assert issubclass(cls, ResponseError) and issubclass(cls, CompatError)
    error = StreamError("broke", partial="Bon")
    assert str(error) == "broke" and error.partial == "Bon"


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retry_statuses(status: int) -> None:
    assert RetryPolicy().should_retry(status, {"error": {"message": "x"}})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 501])
def test_statuses_not_retried(status: int) -> None:
    assert not RetryPolicy().should_retry(status, {})


def test_retry_after_is_honoured_up_to_a_cap() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0, max_retry_after=60.0)
    assert policy.delay(0, {"Retry-After": "3"}) == 3.0
    assert policy.delay(0, {"retry-after": "0"}) == 0.0
    assert policy.delay(0, {"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 20 < policy.delay(0, {"Retry-After": when}) <= 30
    # Longer than the cap, or unreadable: ordinary backoff instead.
    assert policy.delay(0, {"Retry-After": "3600"}) <= 0.5
    assert policy.delay(0, {"Retry-After": "soon"}) <= 0.5
    assert policy.delay(0, {"retry-after-ms": "-20"}) == 0.0  # never a negative sleep


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8.0)
    for attempt, full in [(0, 0.5), (1, 1.0), (2, 2.0), (10, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(0.75 * full <= d <= full for d in delays)
        assert len(delays) > 1  # jittered


# --- reports and speed -----------------------------------------------------------------------


def test_connection_report_messages() -> None:
    report = ConnectionReport(True, ["a", "b", "c"], latency_ms=42.4, model="b")
    assert report.message == "Connected. Found 3 models. Latency: 42 ms"
    assert report.model_count == 3 and report.model_found is True
    single = ConnectionReport(True, ["a"], latency_ms=5, model="zz")
    assert single.message == "Connected. Found 1 model. Latency: 5 ms. Model 'zz' is not among them"
    assert single.model_found is False
    failed = ConnectionReport(False, error="Could not connect", latency_ms=1)
    assert str(failed) == "Could not connect"  # never "Connection failed: Server reachable…"
    assert failed.model_found is None


def test_tokens_per_second() -> None:
    assert tokens_per_second(11, 1100.0, 100.0) == pytest.approx(10.0)
    assert tokens_per_second(10, 2000.0, None) == pytest.approx(5.0)
    assert tokens_per_second(None, 100.0, 10.0) is None
    assert tokens_per_second(5, 0.0, None) is None
