"""The answer is what was asked for, or the message says why not: empty answers, errors in any
stream form, route errors in any shape, parameters the server refuses, deltas that add up,
Ollama's `:latest`, hints that run, one full stop, and waiting told apart from the answer.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from faults import (
    LAST_CHUNK,
    Close,
    FaultServer,
    chat_chunk,
    chunk,
    completion,
    recorded,
    response,
    sse,
    stream_head,
)
from server import FakeServer

import compat_nb
from compat_nb import Client, Preset, get_client
from compat_nb.config.store import get_store
from compat_nb.errors import (
    BadRequestError,
    CompatError,
    EmptyAnswerError,
    NotFoundError,
    StreamError,
)

MESSAGES = [{"role": "user", "content": "Hello"}]


def preset(srv: FaultServer, **fields: Any) -> Preset:
    return Preset("f", srv.base_url, "m", **fields)


def streamed(*events: Any, tail: bytes = b"data: [DONE]\n\n") -> list[bytes]:
    return [stream_head(), chunk(sse(*events) + tail), LAST_CHUNK]


def run_stream(p: Preset) -> tuple[list[str], Any]:
    *deltas, result = get_client().stream(p, MESSAGES)
    return deltas, result  # type: ignore[return-value]


# --- empty answers ------------------------------------------------------------------------------


def test_an_empty_stream_with_no_tokens_is_a_failure_with_its_cause(srv: FaultServer) -> None:
    """LM Studio's answer to a prompt longer than the loaded context: 200, no text, 0 tokens."""
    usage = {"prompt_tokens": 5000, "completion_tokens": 0, "total_tokens": 5000}
    events = [chat_chunk(role="assistant"), chat_chunk(finish="stop")]
    srv.script(*streamed(*events, {"choices": [], "usage": usage}))
    with pytest.raises(EmptyAnswerError) as info:
        run_stream(preset(srv))
    assert info.value.reason == "context"
    assert "0 completion tokens" in info.value.message
    assert "longer than the model's context window" in info.value.message


def test_the_context_fix_is_in_the_words_of_where_it_is_read(
    srv: FaultServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`%config` works in IPython only: a script is told the keyword, a shell the flag."""
    from compat_nb.config import advice

    empty = streamed(chat_chunk(role="assistant"), chat_chunk(finish="stop"))
    get_store().save(preset(srv))
    get_store().use("f")
    srv.script(*empty)
    result = ip.run_cell("%%translate\nHello")
    assert "`%config TranslateMagics.chunk_chars`" in str(result.error_in_exec)
    srv.script(response(200, completion("")))
    with pytest.raises(EmptyAnswerError) as in_cell:
        compat_nb.translate("Hello", preset="f")  # a Python call typed in a cell
    assert "`chunk_chars=N`" in in_cell.value.message
    assert "%config" not in in_cell.value.message
    srv.script(*empty)
    with advice.shown_in("shell"), pytest.raises(EmptyAnswerError) as in_shell:
        run_stream(preset(srv))
    assert "`--chunk-chars N`" in in_shell.value.message
    assert "%config" not in in_shell.value.message
    capsys.readouterr()


@pytest.mark.parametrize(
    ("message", "reason", "said"),
    [
        ({"reasoning": "Let me think step by step…"}, "reasoning", "turn the model's thinking"),
        ({}, "length", "Raise max tokens"),
    ],
)
def test_a_plain_answer_with_no_text_says_why(
    srv: FaultServer, message: dict[str, Any], reason: str, said: str
) -> None:
    srv.script(response(200, completion("", finish="length", **message)))
    with pytest.raises(EmptyAnswerError) as info:
        get_client().chat(preset(srv), MESSAGES)
    assert info.value.reason == reason and said in info.value.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", {"reasoning_content": "Let me think step by step…"}),
        ("<think>Let me think step by step…", {}),  # a think block never closed
        (None, {"reasoning_content": "Let me think step by step…"}),  # content: null
        ("  \n", {}),
    ],
)
def test_a_stream_answered_with_one_json_body_and_no_text_says_why(
    srv: FaultServer, text: str | None, message: dict[str, Any]
) -> None:
    """A server that ignores "stream": true is read as a non-streamed answer is: one with no
    text is an empty answer with its cause on both faces, not a translation of nothing."""
    body = completion(text or "", **message)
    body["choices"][0]["message"]["content"] = text
    srv.script(response(200, body), times=2)
    reason = "reasoning" if message or (text or "").strip() else "context"
    with pytest.raises(EmptyAnswerError) as info:
        run_stream(preset(srv))
    assert info.value.reason == reason

    async def astream() -> list[Any]:
        return [item async for item in get_client().astream(preset(srv), MESSAGES)]

    with pytest.raises(EmptyAnswerError) as info:
        asyncio.run(astream())
    assert info.value.reason == reason


def test_an_empty_answer_is_recorded_as_an_error_in_every_path(
    srv: FaultServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = streamed(chat_chunk(role="assistant"), chat_chunk(finish="stop"))
    get_store().save(preset(srv))
    get_store().use("f")
    srv.script(*empty)
    result = ip.run_cell("%%translate\nHello")
    assert isinstance(result.error_in_exec, EmptyAnswerError)
    srv.script(response(200, completion("")))
    with pytest.raises(EmptyAnswerError):
        compat_nb.translate("Hello", preset="f")
    srv.script(*empty, times=2)
    comparison = compat_nb.compare("Hello", presets=["f", Preset("g", srv.base_url, "m")])
    assert [row.ok for row in comparison.rows] == [False, False]  # not counted as ok
    rows = list(compat_nb.history(10))
    assert len(rows) >= 4 and all("no text" in (row["error"] or "") for row in rows[:4])
    capsys.readouterr()


def test_llama_cpp_empty_stream_is_asked_again_without_streaming(srv: FaultServer) -> None:
    """Over-context, streamed straight to llama.cpp: 200 with an empty body; the same request
    without streaming gets the server's own error, which is what the user reads."""
    srv.script(recorded("llama-cpp-python-0.3.36/stream_over_ctx.raw"))
    said = "Requested tokens (5602) exceed context window of 4096"
    srv.script(response(400, {"error": {"message": said, "type": "invalid_request_error"}}))
    with pytest.raises(BadRequestError) as info:
        run_stream(preset(srv))
    assert said in info.value.message
    assert [r.json()["stream"] for r in srv.requests] == [True, False]
    # When the plain request answers, the stream's consumer gets the text all the same.
    srv.script(recorded("llama-cpp-python-0.3.36/stream_over_ctx.raw"))
    deltas, result = run_stream(preset(srv))
    assert deltas == ["TRANSLATED: ok"] and result.text == "TRANSLATED: ok"


def test_a_server_that_hangs_up_after_an_empty_stream_is_asked_again_anew(
    srv: FaultServer,
) -> None:
    """llama-cpp-python closes the connection after an over-context stream: the request asked
    again without streaming must not fail on that dead pooled connection."""
    srv.script(recorded("llama-cpp-python-0.3.36/stream_over_ctx.raw"), Close())
    deltas, _ = run_stream(preset(srv))
    assert deltas == ["TRANSLATED: ok"] and srv.connections == 2


# --- errors in every stream form ---------------------------------------------------------------


@pytest.mark.parametrize(
    "steps",
    [
        # Older llama-server: an `error:` field, then [DONE].
        [
            stream_head(),
            chunk(
                b'error: {"code":400,"message":"the request exceeds the available context '
                b'size"}\n\ndata: [DONE]\n\n'
            ),
            LAST_CHUNK,
        ],
        # `event: error` with the error in its data.
        [
            stream_head(),
            chunk(
                b'event: error\ndata: {"error": {"message": "the request exceeds the available '
                b'context size"}}\n\n'
            ),
            LAST_CHUNK,
        ],
        # An error payload in `data:` after some text.
        streamed(
            chat_chunk("Bon"),
            {"error": {"message": "the request exceeds the available context size"}},
            tail=b"",
        ),
    ],
    ids=["error-field", "event-error", "data-error"],
)
def test_errors_are_read_from_any_stream_form(srv: FaultServer, steps: list[bytes]) -> None:
    srv.script(*steps)
    with pytest.raises(StreamError) as info:
        run_stream(preset(srv))
    message = info.value.message
    assert "reported an error in its stream: the request exceeds the available context size" in (
        message
    )
    assert "--no-stream" not in message and "empty stream" not in message


def test_litellm_upstream_killed_mid_stream_shows_its_error(srv: FaultServer) -> None:
    srv.script(recorded("litellm-1.106.12/litellm_stream_upstream_killed.raw"))
    deltas, error = [], None
    try:
        for item in get_client().stream(preset(srv), MESSAGES):
            deltas.append(item)
    except StreamError as exc:
        error = exc
    assert error is not None and error.partial == "".join(deltas) and error.partial
    assert "reported an error in its stream" in error.message


# --- route errors in any shape -----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        response(200, {"error": "no such route: POST /chat/completions"}),
        response(404, "404 page not found", {"Content-Type": "text/plain"}),
        response(405, {"detail": "Method Not Allowed"}),
        response(400, "Cannot POST /chat/completions", {"Content-Type": "text/html"}),
        response(404, {"error": {"message": "Unknown request URL: POST /chat/completions"}}),
    ],
    ids=["200-no-such-route", "404-plain", "405", "400-express", "404-openai"],
)
def test_every_unknown_route_answer_hints_at_v1(srv: FaultServer, answer: bytes) -> None:
    root = Preset("f", srv.url, "m")  # no /v1
    srv.script(answer, times=3)
    with pytest.raises(NotFoundError) as info:
        get_client().chat(root, MESSAGES)
    assert f"did you mean {srv.url}/v1?" in info.value.message
    assert "loaded" not in info.value.message


# --- parameters the server refuses ------------------------------------------------------------


def test_a_cell_says_what_was_changed_to_get_its_answer(
    srv: FaultServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = {"error": {"message": "Streaming is not supported.", "param": "stream"}}
    srv.script(response(400, refusal))
    get_store().save(preset(srv))
    result = ip.run_cell("%%translate -p f\nHello")
    assert result.error_in_exec is None
    shown = capsys.readouterr()
    assert "TRANSLATED: ok" in shown.out
    assert "Note: The server refused to stream this model's answer" in shown.err


def test_a_model_that_cannot_stream_is_asked_without_and_remembered(srv: FaultServer) -> None:
    refusal = {
        "error": {
            "message": "This model does not support streaming.",
            "type": "invalid_request_error",
            "param": "stream",
        }
    }
    srv.script(response(400, refusal))
    deltas, result = run_stream(preset(srv))
    assert deltas == [result.text] == ["TRANSLATED: ok"]
    assert any("refused to stream" in note for note in result.notes)
    deltas, result = run_stream(preset(srv))  # the root is remembered: no second refusal
    assert [r.json()["stream"] for r in srv.requests] == [True, False, False]
    assert result.notes == ()


def test_max_tokens_is_renamed_when_the_server_asks(srv: FaultServer) -> None:
    said = (
        "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead."
    )
    error = {"error": {"message": said, "type": "invalid_request_error", "param": "max_tokens"}}
    srv.script(response(400, error))
    translation = compat_nb.translate("Hello", preset=preset(srv), max_completion_tokens=50)
    assert translation.text == "TRANSLATED: ok"
    assert any("max_completion_tokens" in note for note in translation.notes)
    compat_nb.translate("Hello", preset=preset(srv, max_tokens=20))
    sent = [r.json() for r in srv.requests]
    assert sent[0]["max_tokens"] == 50 and "max_completion_tokens" not in sent[0]
    assert sent[1]["max_completion_tokens"] == 50 and "max_tokens" not in sent[1]
    assert sent[2]["max_completion_tokens"] == 20  # remembered for this server
    with pytest.raises(CompatError, match="name the same limit"):
        compat_nb.translate("Hi", preset=preset(srv), max_tokens=5, max_completion_tokens=6)


# --- deltas add up ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        # The last event has no blank line after it and there is no [DONE].
        sse(chat_chunk("Bon")) + b'data: {"choices": [{"index": 0, "delta": {"content": "jour"},'
        b' "finish_reason": "stop"}]}',
        # A "<thi" that turns out to open no think block, at the very end.
        sse(chat_chunk("Le "), chat_chunk("<thi", finish="stop")) + b"data: [DONE]\n\n",
    ],
    ids=["no-closing-blank-line", "held-back-tail"],
)
def test_the_deltas_always_add_up_to_the_text(
    srv: FaultServer, body: bytes, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    srv.script(stream_head(), chunk(body), LAST_CHUNK)
    deltas, result = run_stream(preset(srv))
    assert "".join(deltas) == result.text and result.text in ("Bonjour", "Le <thi")
    # Terminal IPython prints the deltas as they come: the text shows once, whole.
    get_store().save(preset(srv))
    srv.script(stream_head(), chunk(body), LAST_CHUNK)
    ip.run_cell("%%translate -p f\nHello")
    out = capsys.readouterr().out
    assert out.count(result.text) == 1


# --- the rest of §4 -----------------------------------------------------------------------------


def test_an_untagged_model_matches_ollamas_latest(server: FakeServer) -> None:
    server.models = ["llama3.2:latest", "qwen2.5:7b"]
    report = get_client().test_connection(Preset("o", server.base_url, "llama3.2"))
    assert report.model_found is True and "not among them" not in report.message
    report = get_client().test_connection(Preset("o", server.base_url, "qwen2.5"))
    assert report.model_found is False  # only :latest is implied


def test_the_hint_of_a_base_url_cell_runs_where_it_is_shown(
    server: FakeServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    server.inject("404_model")
    result = ip.run_cell(f"%%translate --base-url {server.base_url} -m nope\nHello")
    message = result.error_in_exec.message
    (command,) = re.findall(r"`(%translate [^`]+)`", message)
    capsys.readouterr()
    again = ip.run_cell(command)
    assert again.error_in_exec is None, again.error_in_exec
    assert "test-model" in capsys.readouterr().out  # it really listed the server's models


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503])
def test_server_messages_get_one_full_stop(server: FakeServer, status: int) -> None:
    body = {"error": {"message": "Use max_completion_tokens instead."}}
    server.inject("status", status=status, body=body, times=3)
    with pytest.raises(CompatError) as info:
        get_client().chat(Preset("p", server.base_url, "test-model"), MESSAGES)
    assert "Use max_completion_tokens instead" in info.value.message
    assert ".." not in info.value.message


def test_waiting_for_retries_is_told_apart_from_the_answer(
    srv: FaultServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    limited = {"error": {"message": "Rate limit reached", "type": "requests"}}
    srv.script(response(429, limited, {"Retry-After": "1"}))
    translation = compat_nb.translate("Hello", preset=preset(srv))
    assert translation.waited_ms is not None and translation.waited_ms >= 1000
    assert translation.latency_ms is not None and translation.latency_ms < 1000
    assert translation.tokens_per_second and translation.tokens_per_second > 1
    footer = translation.footer()
    assert re.search(r"total \d+ ms .* after 1\.\d\d s of retries", footer), footer
    assert json.dumps(translation.waited_ms)  # a plain number, for history and tables


@pytest.mark.parametrize("streamed", [False, True])
def test_an_answer_on_its_first_attempt_waited_for_nothing(
    server: FakeServer, streamed: bool
) -> None:
    # A fresh client makes its pool on the first call: that is setup, not a retry, and a
    # footer saying "after 3 ms of retries" where none happened would mislead.
    client = Client()
    try:
        p = Preset("p", server.base_url, "test-model")
        if streamed:
            *_, result = client.stream(p, MESSAGES)
        else:
            result = client.chat(p, MESSAGES)
    finally:
        client.close()
    assert result.waited_ms == 0
    translation = compat_nb.translate("Hello", preset=p)
    assert translation.waited_ms is None and "retries" not in translation.footer()


def test_one_token_is_counted_as_one_token_in_every_view(srv: FaultServer) -> None:
    """A count says '1 token', not '1 tokens': the footer, a comparison's cell, an empty
    answer's message."""
    srv.script(response(200, completion("Bonjour")))  # usage: 1 completion token
    footer = compat_nb.translate("Hello", base_url=srv.base_url, model="m").footer()
    assert " · 1 token" in footer and "1 tokens" not in footer
    srv.script(response(200, completion("Bonjour")))
    comparison = compat_nb.compare("Hello", presets=[preset(srv)], stream=False)
    figures = comparison.figures(comparison.candidates[0])  # under each column's answer
    assert " · 1 token" in figures and "1 tokens" not in figures
    srv.script(response(200, completion("<think>Hmm")))
    with pytest.raises(EmptyAnswerError) as info:
        get_client().chat(preset(srv), MESSAGES)
    assert "1 completion token)" in info.value.message
