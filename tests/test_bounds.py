"""No answer can exhaust the kernel or hang it: a size cap and a total deadline on every answer
(plain, streamed, /models, error bodies), the partial text kept, and nothing left open per call
whatever the pattern of event loops.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from faults import (
    LAST_CHUNK,
    FaultServer,
    Forever,
    Pause,
    Trickle,
    chat_chunk,
    chunk,
    completion,
    head,
    sse,
    stream_head,
)
from server import FakeServer

import compat_nb
from compat_nb import Client, Preset, get_client
from compat_nb.config.store import get_store
from compat_nb.errors import DeadlineExceeded, ResponseTooLarge, ServerError
from compat_nb.wire import retry

MESSAGES = [{"role": "user", "content": "Hello"}]
MB = 2**20


def preset(srv: FaultServer, **fields: Any) -> Preset:
    return Preset("f", srv.base_url, "m", **fields)


def event(text: str) -> bytes:
    return chunk(sse(chat_chunk(text)))


# --- the size cap ------------------------------------------------------------------------------


def test_an_endless_plain_body_stops_at_the_cap(srv: FaultServer) -> None:
    srv.script(head(200, {"Content-Type": "application/json"}), Forever(b"x" * 65536))
    client = Client(max_response_bytes=4 * MB)
    with pytest.raises(ResponseTooLarge) as info:
        client.chat(preset(srv), MESSAGES)
    assert "size cap of 4 MB" in info.value.message
    assert "max_response_bytes" in info.value.message
    # The default cap is generous but finite: 32 MB, then the same message.
    srv.script(head(200, {"Content-Type": "application/json"}), Forever(b"x" * 65536))
    with pytest.raises(ResponseTooLarge) as info:
        get_client().chat(preset(srv), MESSAGES)
    assert "size cap of 32 MB" in info.value.message
    client.close()


def test_an_endless_stream_stops_at_the_cap_and_keeps_its_text(srv: FaultServer) -> None:
    srv.script(stream_head(), Forever(event("word ")))
    client = Client(max_response_bytes=2 * MB)
    deltas: list[str] = []
    with pytest.raises(ResponseTooLarge) as info:
        for item in client.stream(preset(srv), MESSAGES):
            deltas.append(item)  # type: ignore[arg-type]
    partial = info.value.partial
    assert partial and partial == "".join(deltas)  # kept, and exactly what was shown
    assert set(partial.split()) == {"word"}
    assert len(partial) < 2 * MB
    client.close()


def test_the_model_list_and_error_bodies_are_capped_too(srv: FaultServer) -> None:
    client = Client(max_response_bytes=MB)
    srv.script(head(200, {"Content-Type": "application/json"}), Forever(b" " * 65536))
    report = client.test_connection(preset(srv))
    assert not report.ok and "size cap of 1 MB" in (report.error or "")
    # An error status with an endless body: read up to 64 KB, then the status is reported.
    srv.script(head(500, {"Content-Type": "text/plain"}), Forever(b"oops " * 1000), times=3)
    with pytest.raises(ServerError) as info:
        client.chat(preset(srv), MESSAGES)
    assert "Server error 500" in info.value.message and "oops" in info.value.message
    client.close()


# --- the total deadline ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_trickled_plain_answer_ends_at_the_deadline(srv: FaultServer) -> None:
    """One byte every 0.2 s: each read is well within the 5 s timeout, the whole is not."""
    body = json.dumps(completion("a long answer")).encode()
    srv.script(head(200, {"Content-Length": str(len(body))}), Trickle(body, every=0.2))
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        get_client().chat(preset(srv, timeout=5, deadline=1.0), MESSAGES)
    assert time.monotonic() - began < 4  # the deadline, not 0.2 s x 100 bytes
    assert "still not complete after 1 s (its total deadline)" in info.value.message
    assert "--deadline SECONDS" in info.value.message


@pytest.mark.timeout(30)
@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_delta_every_so_often_ends_at_the_deadline_with_its_text(
    srv: FaultServer, face: str
) -> None:
    """A trickle: a content delta every 2 s never ends, even with --timeout 5."""
    steps = [stream_head()] + [x for i in range(100) for x in (event(f"w{i} "), Pause(0.3))]
    srv.script(*steps)
    deltas: list[str] = []

    async def astream() -> None:
        async for item in get_client().astream(preset(srv), MESSAGES, timeout=1, deadline=1.5):
            deltas.append(item)  # type: ignore[arg-type]

    began = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        if face == "sync":
            for item in get_client().stream(preset(srv), MESSAGES, timeout=1, deadline=1.5):
                deltas.append(item)  # type: ignore[arg-type]
        else:
            asyncio.run(astream())
    assert time.monotonic() - began < 4
    assert info.value.partial.startswith("w0 w1 ")
    assert info.value.partial == "".join(deltas)
    assert "characters received are kept" in info.value.message


@pytest.mark.timeout(30)
def test_a_trickled_head_ends_at_the_deadline(srv: FaultServer) -> None:
    srv.script(Trickle(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 200, every=0.1))
    began = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        get_client().chat(preset(srv), MESSAGES, deadline=1.0)
    assert time.monotonic() - began < 4


@pytest.mark.timeout(30)
def test_a_stalled_error_body_is_not_waited_for(
    srv: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "ERROR_BODY_SECONDS", 0.5)
    srv.script(head(503, {"Content-Length": "100"}), b'{"error": "overlo', Pause(20), times=3)
    with pytest.raises(ServerError) as info:
        get_client().chat(preset(srv), MESSAGES)
    assert "Server error 503" in info.value.message
    assert "did not arrive whole: ReadTimeout" in info.value.message


def test_the_deadline_is_set_by_preset_call_client_and_flag(
    srv: FaultServer, ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = [stream_head(), event("Bon"), Pause(3), event("jour"), LAST_CHUNK]
    srv.script(*slow)
    with pytest.raises(DeadlineExceeded, match=r"after 0\.5 s"):
        list(Client(deadline=0.5).stream(preset(srv), MESSAGES))
    srv.script(*slow)
    with pytest.raises(DeadlineExceeded, match=r"after 0\.5 s"):
        compat_nb.translate("Hello", preset=preset(srv, deadline=0.5))
    srv.script(*slow)
    with pytest.raises(DeadlineExceeded, match=r"after 0\.6 s"):
        compat_nb.translate("Hello", preset=preset(srv), deadline=0.6)
    get_store().save(preset(srv))
    get_store().use("f")
    srv.script(*slow)
    result = ip.run_cell("%%translate --deadline 0.5 -o out\nHello")
    assert isinstance(result.error_in_exec, DeadlineExceeded)
    out = ip.user_ns["out"]
    assert out.text == "Bon" and "after 0.5 s" in (out.error or "")  # the partial is kept
    assert "Bon" in capsys.readouterr().out
    (row,) = compat_nb.history(1)
    assert "after 0.5 s" in (row["error"] or "")


# --- nothing leaks per call --------------------------------------------------------------------


def _async_clients() -> int:
    gc.collect()
    return sum(isinstance(o, httpx.AsyncClient) for o in gc.get_objects())


def test_repeated_asyncio_run_leaves_nothing_open(server: FakeServer) -> None:
    get_store().save(Preset("api", server.base_url, "test-model"))
    process = psutil.Process()

    def once() -> None:
        translation = asyncio.run(compat_nb.atranslate("Bonjour", preset="api"))
        assert translation.text == "TRANSLATED: Bonjour"

    for _ in range(5):
        once()
    fds, clients = process.num_fds(), _async_clients()
    for _ in range(150):
        once()
    assert process.num_fds() <= fds + 2
    assert _async_clients() <= clients
    assert get_client().pools.async_loops == 0  # each loop's pool went with its loop


def test_every_pattern_of_event_loops_stays_flat(server: FakeServer) -> None:
    pre = Preset("api", server.base_url, "test-model")
    process = psutil.Process()

    async def one() -> str:
        return (await get_client().achat(pre, MESSAGES)).text

    def with_runner() -> None:
        with asyncio.Runner() as runner:
            runner.run(one())

    def manual_loop() -> None:
        loop = asyncio.new_event_loop()
        loop.run_until_complete(one())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def careless_loop() -> None:  # closed without shutdown_asyncgens(): reclaimed by gc
        loop = asyncio.new_event_loop()
        loop.run_until_complete(one())
        loop.close()

    def in_a_thread() -> None:
        worker = threading.Thread(target=lambda: asyncio.run(one()))
        worker.start()
        worker.join()

    def settled() -> int:
        # The loopback server's own end of a closed connection closes in its thread.
        assert get_client().pools.async_loops == 0
        gc.collect()
        time.sleep(0.2)
        return process.num_fds()

    for pattern in (with_runner, manual_loop, careless_loop, in_a_thread):
        for _ in range(3):
            pattern()
        fds = settled()
        for _ in range(60):
            pattern()
        assert settled() <= fds + 2, pattern.__name__


@pytest.mark.timeout(120)
def test_a_script_under_ulimit_n_64_makes_300_calls(server: FakeServer, tmp_path: Path) -> None:
    """A script of many calls under a low open-file limit: sockets are reused, not leaked."""
    script = tmp_path / "many.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio, resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
            import compat_nb
            preset = compat_nb.Preset("api", "{server.base_url}", "test-model")
            for i in range(300):
                t = asyncio.run(compat_nb.atranslate(f"n{{i}}", preset=preset))
                assert t.text == f"TRANSLATED: n{{i}}", t.text
            print("done", i + 1)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "done 300"


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_a_script_that_compares_and_a_shell_run_end_with_nothing_unclosed(
    server: FakeServer, tmp_path: Path, transport: str
) -> None:
    """compare(), translate_many() and `python -m compat_nb notebook` run on one event loop per
    thread; at exit that loop's pools are closed, so no "Unclosed client session" (aiohttp) or
    unclosed-socket warning follows the script's own output."""
    import nbformat

    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Some text.")]),
        tmp_path / "lesson.ipynb",
    )
    script = (
        "import compat_nb\n"
        f"p = compat_nb.Preset('api', {server.base_url!r}, 'test-model')\n"
        "print(compat_nb.compare('Hello', presets=[p], to='French').rows[0].text)\n"
        "print(compat_nb.translate_many(['a', 'b'], to='French', preset=p)[1].text)\n"
    )
    env = {**os.environ, "COMPAT_NB_ASYNC_TRANSPORT": transport, "PYTHONWARNINGS": "always"}
    runs = [
        [sys.executable, "-c", script],
        [
            sys.executable,
            "-m",
            "compat_nb",
            "notebook",
            "lesson.ipynb",
            "--to",
            "fr",
            "--base-url",
            server.base_url,
            "-m",
            "test-model",
        ],
    ]
    for argv in runs:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "TRANSLATED" in done.stdout or "1 cells" in done.stdout, done.stdout
        assert "nclosed" not in done.stderr, done.stderr[-2000:]


def test_a_key_too_large_for_the_server_says_so(server: FakeServer) -> None:
    """http.server, like most, answers 431 to headers past 64 KB: the message names them."""
    from compat_nb.errors import BadRequestError

    preset = Preset("p", server.base_url, "m", api_key="sk-" + "a" * 100_000)
    with pytest.raises(BadRequestError, match=r"headers as too large \(431\)") as caught:
        get_client().chat(preset, [{"role": "user", "content": "Hello"}])
    assert "a" * 100 not in str(caught.value)
    report = get_client().test_connection(preset)
    assert report.error and "too large (431)" in report.error
