"""The magic inside a real ipykernel: throttled streaming, Ctrl-C mid-stream, errors as messages."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel


@pytest.fixture
def kernel(config_dir) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(
    client: Any,
    code: str,
    *,
    interrupt_after: float | None = None,
    manager: Any = None,
    timeout: float = 60,
) -> tuple[list[dict], dict]:
    """Run code; return the iopub messages of that execution and the execute_reply content."""
    msg_id = client.execute(code)
    started = time.monotonic()
    interrupted = False
    messages: list[dict] = []
    while True:
        if (
            interrupt_after is not None
            and not interrupted
            and time.monotonic() - started > interrupt_after
        ):
            manager.interrupt_kernel()
            interrupted = True
        try:
            msg = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            if time.monotonic() - started > timeout:
                raise TimeoutError(code) from None
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=timeout)
    return messages, reply["content"]


def shown_text(messages: list[dict]) -> str:
    """What the output area shows at the end: each display's last state, plus streams."""
    displays: dict[str, str] = {}
    streams = []
    for msg in messages:
        content = msg["content"]
        if msg["msg_type"] in ("display_data", "update_display_data"):
            key = content.get("transient", {}).get("display_id") or str(len(displays))
            displays[key] = content["data"].get("text/markdown") or content["data"].get(
                "text/plain", ""
            )
        elif msg["msg_type"] == "stream":
            streams.append(content["text"])
        elif msg["msg_type"] == "error":
            streams.append("\n".join(content["traceback"]))
    return "\n".join([*displays.values(), *streams])


def setup_code(base_url: str) -> str:
    return (
        "%load_ext compat_nb\n"
        "import compat_nb\n"
        f"compat_nb.get_store().save(compat_nb.Preset('Test', {base_url!r}, 'test-model'))\n"
        "%translate use Test\n"
    )


def test_fast_stream_is_throttled_and_the_final_display_is_complete(kernel, server):
    _manager, client = kernel
    words = [f"w{i}" for i in range(3000)]
    server.reply = " ".join(words)
    execute(client, setup_code(server.base_url))

    started = time.monotonic()
    messages, reply = execute(client, "%%translate --to French\nHello")
    elapsed = time.monotonic() - started

    assert reply["status"] == "ok"
    updates = [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    # 3,000 deltas arrived; the front end saw at most ~20 a second (plus first and final).
    assert len(updates) <= 20 * elapsed + 3
    final = updates[-1]["content"]["data"]["text/markdown"]
    assert final.startswith(server.reply)
    assert "Test · test-model" in final


def test_interrupt_mid_stream_keeps_partial_text_and_the_next_cell_works(kernel, server):
    manager, client = kernel
    server.reply = " ".join(f"word{i}" for i in range(400))
    execute(client, setup_code(server.base_url))

    server.inject("slow_stream", chunk_delay=0.02)
    messages, reply = execute(
        client, "%%translate --to French -o partial\nHello", interrupt_after=2.0, manager=manager
    )
    shown = shown_text(messages)
    assert "word1 word2" in shown  # the partial text stays in the output
    assert "word399" not in shown  # it really was cut short
    assert "interrupted" in shown.lower()
    assert "Traceback" not in shown

    # -o kept the partial Translation, marked as interrupted.
    messages, _ = execute(client, "print(len(partial.text) > 0, partial.interrupted)")
    assert shown_text(messages).strip() == "True True"
    # The client is usable at once: the next cell streams a complete answer.
    server.reply = None
    messages, reply = execute(client, "%%translate --to French\nAgain")
    assert reply["status"] == "ok"
    assert "TRANSLATED: Again" in shown_text(messages)


def test_server_fault_shows_one_paragraph_not_a_traceback(kernel, server):
    _manager, client = kernel
    execute(client, setup_code(server.base_url))
    server.inject("401", path="/chat/completions")  # not a stray /models call
    messages, reply = execute(client, "%%translate --to French\nHello")
    assert reply["status"] == "error"
    shown = shown_text(messages)
    assert "Server reachable, key rejected (401)" in shown
    assert "Traceback" not in shown and "File " not in shown
