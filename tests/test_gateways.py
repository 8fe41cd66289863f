"""Real servers and gateways: every recorded answer of llama-cpp-python 0.3.36 and LiteLLM
1.106.12 replayed byte for byte, a server that interrupts concurrent requests (its lost
comparison column re-run alone), per-preset concurrency, gateway auth shapes, unknown models
whatever the status, bounded retrying, and options checked for every entry point.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MARKER_KEY
from faults import (
    FIXTURES,
    LAST_CHUNK,
    Close,
    FaultServer,
    Pause,
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
from compat_nb import Preset, get_client
from compat_nb.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigError,
    EmptyAnswerError,
    NotFoundError,
    ServerError,
    StreamError,
)
from compat_nb.wire.protocol import RetryPolicy
from compat_nb.work.gates import RERUN_NOTE

MESSAGES = [{"role": "user", "content": "Hello"}]
LITELLM, LLAMA = "litellm-1.106.12", "llama-cpp-python-0.3.36"


# --- every recorded answer ----------------------------------------------------------------------

# file -> (how it is asked for, what the user gets: text it starts with, or error class + words)
REPLAYS: dict[str, tuple[str, Any, str]] = {
    f"{LITELLM}/litellm_chat_nostream.raw": ("chat", None, ""),
    f"{LITELLM}/litellm_chat_stream.raw": ("stream", None, ""),
    f"{LITELLM}/litellm_chat_stream_nousage.raw": ("stream", None, ""),
    f"{LITELLM}/litellm_maxtok999999.raw": ("chat", None, ""),
    f"{LITELLM}/litellm_temp5.raw": ("chat", None, ""),
    f"{LITELLM}/litellm_stream_upstream_interrupted.raw": ("stream", None, ""),
    f"{LITELLM}/litellm_nokey.raw": ("chat", ServerError, "a LiteLLM proxy answers a missing one"),
    f"{LITELLM}/litellm_models_nokey.raw": ("test", None, "a LiteLLM proxy answers a missing one"),
    f"{LITELLM}/litellm_wrongkey.raw": ("chat-key", AuthenticationError, "could not check the key"),
    f"{LITELLM}/litellm_wrongkey_nosk.raw": ("chat-key", AuthenticationError, "master key"),
    f"{LITELLM}/litellm_models_wrongkey.raw": ("test-key", None, "could not check the key"),
    f"{LITELLM}/litellm_models_wrongkey_nosk.raw": ("test-key", None, "could not check the key"),
    f"{LITELLM}/litellm_wrong_model.raw": ("chat", NotFoundError, "Model 'nosuch-model' not found"),
    f"{LITELLM}/litellm_wrong_model_stream.raw": (
        "stream",
        NotFoundError,
        "Model 'nosuch-model' not found",
    ),
    f"{LITELLM}/litellm_bad_type.raw": ("chat", BadRequestError, "validation error"),
    f"{LITELLM}/litellm_stream_over_ctx.raw": ("stream", EmptyAnswerError, "context window"),
    f"{LITELLM}/litellm_stream_upstream_killed.raw": ("stream", StreamError, "error in its stream"),
    f"{LITELLM}/litellm_upstream_down.raw": ("chat", ServerError, "could not reach its upstream"),
    f"{LITELLM}/litellm_upstream_down_stream.raw": (
        "stream",
        ServerError,
        "could not reach its upstream",
    ),
    f"{LLAMA}/chat.http": ("chat", None, ""),
    f"{LLAMA}/chat_nostream.raw": ("chat", None, ""),
    f"{LLAMA}/chat_stream.http": ("stream", None, ""),
    f"{LLAMA}/chat_stream_usage.http": ("stream", None, ""),
    f"{LLAMA}/chat_stream.raw": ("stream", None, ""),
    f"{LLAMA}/chat_stream_nousage.raw": ("stream", None, ""),
    f"{LLAMA}/maxtok999999.raw": ("chat", None, ""),
    f"{LLAMA}/maxtok999999_stream.raw": ("stream", None, ""),
    f"{LLAMA}/stream_long_ping.raw": ("stream", None, ""),
    f"{LLAMA}/stream_second.raw": ("stream", None, ""),
    f"{LLAMA}/stream_options_nostream.raw": ("chat", None, ""),
    f"{LLAMA}/temp5.raw": ("chat", None, ""),
    f"{LLAMA}/wrong_model.raw": ("chat", None, ""),
    f"{LLAMA}/models.http": ("test", None, "Connected. Found 1 model"),
    f"{LLAMA}/bad_type.raw": ("chat", BadRequestError, "validation error"),
    f"{LLAMA}/error_500_bad_param.http": ("chat", BadRequestError, "validation error"),
    f"{LLAMA}/error_bad_json.http": ("chat", ServerError, "Server error 500"),
    f"{LLAMA}/error_404_no_v1.http": ("chat-root", NotFoundError, "/v1?"),
    f"{LLAMA}/responses_404.http": ("chat", NotFoundError, "Check the Base URL"),
    f"{LLAMA}/stream_interrupted_by_2nd_request.raw": (
        "stream",
        EmptyAnswerError,
        "--interrupt_requests False",
    ),
    f"{LLAMA}/stream_server_sigterm.raw": ("stream", StreamError, "kept"),
    f"{LLAMA}/stream_over_ctx.raw": ("stream", None, ""),  # asked again without streaming
}


def test_every_recorded_file_is_replayed() -> None:
    files = {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.raw")}
    files |= {str(p.relative_to(FIXTURES)) for p in FIXTURES.glob("*/*.http")}
    assert files == set(REPLAYS)


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_a_recorded_answer_reads_as_it_should(srv: FaultServer, name: str) -> None:
    how, error, words = REPLAYS[name]
    # Retries, if any, get the same answer; a request asked again another way (without
    # streaming, after an empty stream) gets an ordinary one.
    if "over_ctx" in name:
        srv.script(recorded(name))  # kept alive, as recorded
    else:
        srv.script(recorded(name), Close(), times=3)
    keyed = how.endswith("-key")
    base = srv.url if how == "chat-root" else srv.base_url
    preset = Preset("gw", base, "nosuch-model", api_key=MARKER_KEY if keyed else None)
    how = how.removesuffix("-key").removesuffix("-root")
    if how == "test":
        report = get_client().test_connection(preset)
        assert report.ok is (error is None and words.startswith("Connected"))
        assert words in report.message
        return
    deltas: list[str] = []
    if error is None:
        if how == "chat":
            result = get_client().chat(preset, MESSAGES)
        else:
            *deltas, result = get_client().stream(preset, MESSAGES)  # type: ignore[assignment]
            assert "".join(deltas) == result.text
        assert result.text.strip()
        return
    with pytest.raises(error) as info:
        if how == "chat":
            get_client().chat(preset, MESSAGES)
        else:
            for item in get_client().stream(preset, MESSAGES):
                deltas.append(item)  # type: ignore[arg-type]
    message = info.value.message
    assert words in message, message
    assert "\n" not in message and MARKER_KEY not in message
    if isinstance(info.value, StreamError):
        assert info.value.partial == "".join(deltas)


def test_a_gateway_whose_upstream_is_down_is_not_retried(srv: FaultServer) -> None:
    """LiteLLM already spent ~4.5 s retrying its upstream: retrying it twice more took 15 s."""
    srv.script(recorded(f"{LITELLM}/litellm_upstream_down.raw"), Close(), times=3)
    with pytest.raises(ServerError):
        get_client().chat(Preset("gw", srv.base_url, "smol"), MESSAGES)
    assert len(srv.requests) == 1


def test_the_total_retry_time_is_bounded(srv: FaultServer) -> None:
    busy = [Pause(0.5), response(503, {"error": {"message": "busy"}})]
    srv.default = lambda request: busy
    patient = compat_nb.Client(
        retry=RetryPolicy(max_retries=10, initial_delay=0.05, max_delay=0.05, max_retry_time=1.2)
    )
    began = time.monotonic()
    with pytest.raises(ServerError) as info:
        patient.chat(Preset("gw", srv.base_url, "m"), MESSAGES)
    assert time.monotonic() - began < 2.5  # not 11 attempts of 0.5 s
    assert 2 <= len(srv.requests) <= 3
    assert f"after {len(srv.requests)} attempts" in info.value.message
    patient.close()


# --- a server that interrupts concurrent requests ------------------------------------------------


class Interrupting:
    """llama-cpp-python's default behaviour: a running stream is ended (role chunk, [DONE]
    with no finish reason, then the connection drops) when a second request arrives."""

    def __init__(self, server: FaultServer) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.arrived = threading.Event()
        self.running: threading.Event | None = None
        server.default = self.answer

    def answer(self, request: Any) -> Iterator[Any]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            victim, self.running = self.running, threading.Event()
            mine = self.running
        try:
            if victim is not None:
                victim.set()  # a request arrives: the running one is abandoned
            if not (request.json() or {}).get("stream"):
                yield response(200, completion("TRANSLATED: ok"))
                return
            yield stream_head()
            yield chunk(sse(chat_chunk(role="assistant")))
            if mine.wait(0.4):
                yield chunk(b"data: [DONE]\n\n")
                yield Close()
                return
            yield chunk(sse(chat_chunk("TRANSLATED: ok"), chat_chunk(finish="stop")))
            yield chunk(b"data: [DONE]\n\n")
            yield LAST_CHUNK
        finally:
            with self.lock:
                self.active -= 1
                if self.running is mine:
                    self.running = None


def test_a_lost_column_is_re_run_alone_and_the_server_then_gets_one_at_a_time(
    srv: FaultServer,
) -> None:
    server = Interrupting(srv)
    preset = Preset("llama", srv.base_url, "a")
    result = compat_nb.compare("Hello", presets=[preset], models=["a", "b"])
    assert [row.text for row in result.rows] == ["TRANSLATED: ok"] * 2
    assert [row.ok for row in result.rows] == [True, True]
    notes = [row.note for row in result.rows]
    assert notes.count(RERUN_NOTE) == 1  # the column that was lost says so
    lost = result.rows[notes.index(RERUN_NOTE)].candidate
    assert "re-run alone" in result.figures(lost)
    assert len(srv.requests) == 3
    # For the rest of the session, that server gets one request at a time.
    server.peak = 0
    again = compat_nb.compare("Hello", presets=[preset], models=["a", "b", "c"])
    assert all(row.ok and row.note is None for row in again.rows)
    assert server.peak == 1
    (translation,) = compat_nb.translate_many(["One text."], preset=preset, progress=False)
    assert translation.error is None


def test_an_evaluation_keeps_every_cell_on_an_interrupting_server(srv: FaultServer) -> None:
    server = Interrupting(srv)
    preset = Preset("llama", srv.base_url, "a")
    evaluation = compat_nb.evaluate(
        ["One text.", "Another text."],
        [preset, preset.replace(model="b")],
        to="French",
        cache=False,
        live=False,
    )
    answers = [cell.text for cell in evaluation.cells]
    assert answers == ["TRANSLATED: ok"] * 4, [cell.error for cell in evaluation.cells]
    assert len(srv.requests) >= 5  # at least one was lost and asked again
    assert server.peak >= 2


def test_a_preset_sets_its_own_concurrency(srv: FaultServer) -> None:
    lock, active, peak = threading.Lock(), [0], [0]

    def slow(request: Any) -> Iterator[Any]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            yield Pause(0.3)
            yield stream_head()
            yield chunk(sse(chat_chunk("TRANSLATED: ok", finish="stop")) + b"data: [DONE]\n\n")
            yield LAST_CHUNK
        finally:
            with lock:
                active[0] -= 1

    srv.default = slow
    models = ["a", "b", "c"]
    compat_nb.compare("Hello", presets=[Preset("x", srv.base_url, "a")], models=models)
    assert peak[0] == 3
    # The server finishes a handler just after its client has the last byte: wait for the
    # first run's handlers to end, or one of them would count as running beside the next.
    give_up = time.monotonic() + 5
    while active[0] and time.monotonic() < give_up:
        time.sleep(0.01)
    peak[0] = 0
    one = Preset("x", srv.base_url, "a", concurrency=1)
    result = compat_nb.compare("Hello", presets=[one], models=models)
    assert all(row.ok for row in result.rows) and peak[0] == 1


# --- gateway shapes ------------------------------------------------------------------------------


def test_no_key_sent_is_said_in_every_failure(server: FakeServer) -> None:
    preset = Preset("gw", server.base_url, "test-model")
    for status in (400, 404, 500, 502):
        server.inject("status", status=status, body="Internal Server Error", times=3)
        with pytest.raises(compat_nb.CompatError) as info:
            get_client().chat(preset, MESSAGES)
        assert "If this server needs an API key" in info.value.message
        assert "The request sent no key" in info.value.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": {"message": "Invalid model name passed in model=nope.", "code": "400"}}),
        (422, {"detail": "model 'nope' is not a valid model ID"}),
        (500, {"error": {"message": "Model nope not loaded", "type": "server_error"}}),
        (200, {"error": "model 'nope' not found, try pulling it first"}),
    ],
)
def test_an_unknown_model_is_named_whatever_the_status(
    server: FakeServer, status: int, body: Any
) -> None:
    server.inject("status", status=status, body=body, times=3)
    with pytest.raises(NotFoundError) as info:
        get_client().chat(Preset("gw", server.base_url, "nope"), MESSAGES)
    assert "Model 'nope' not found" in info.value.message
    assert "lists them" in info.value.message


# --- options: one check for every entry point ----------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda p: get_client().chat(p, MESSAGES, temperature=5),
        lambda p: list(get_client().stream(p, MESSAGES, top_p=2)),
        lambda p: get_client().chat(p, MESSAGES, max_tokens=0),
        lambda p: get_client().chat(p, MESSAGES, timeout=float("inf")),
        lambda p: get_client().chat(p, MESSAGES, deadline=-1),
        lambda p: get_client().chat(p, MESSAGES, sampling="greedy"),
        lambda p: compat_nb.translate("Hi", preset=p, temperature=5),
        lambda p: compat_nb.compare("Hi", presets=[p], temperature=5),
        lambda p: compat_nb.translate_many(["Hi"], preset=p, temperature=5),
    ],
    ids=[
        "chat",
        "stream",
        "max_tokens",
        "timeout",
        "deadline",
        "unknown",
        "translate",
        "compare",
        "translate_many",
    ],
)
def test_options_are_checked_for_every_entry_point(server: FakeServer, call: Any) -> None:
    with pytest.raises(ConfigError) as info:
        call(Preset("p", server.base_url, "test-model"))
    assert " must be " in info.value.message or "unknown option" in info.value.message
    assert server.requests == []  # refused before anything was sent
