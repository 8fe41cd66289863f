"""Answers whose JSON holds surrogate escapes: a JavaScript server cutting a string between the
two halves of a pair (an emoji split across two stream events), or a lone half. The text the
client gives is always valid Unicode: the pair joined into its character, a lone half U+FFFD,
the deltas still adding up to the result; a terminal cell prints it instead of failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from faults import LAST_CHUNK, FaultServer, chunk, response, stream_head

import compat_nb
from compat_nb import Preset, get_client

MESSAGES = [{"role": "user", "content": "Hello"}]


def events(*contents: str, finish: str = "stop") -> bytes:
    """SSE events whose content is written as given (JSON escapes included)."""
    lines = [
        f'data: {{"choices":[{{"index":0,"delta":{{"content":"{c}"}},"finish_reason":null}}]}}\n\n'
        for c in contents
    ]
    lines.append(f'data: {{"choices":[{{"index":0,"delta":{{}},"finish_reason":"{finish}"}}]}}\n\n')
    return "".join(lines).encode() + b"data: [DONE]\n\n"


@pytest.fixture
def srv() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


CASES = {
    "pair split across events": (["A \\ud83d", "\\ude00 B"], "A 😀 B"),
    "pair in one event": (["A \\ud83d\\ude00 B"], "A 😀 B"),
    "lone low half": (["A \\udcff B"], "A \ufffd B"),
    "lone high half at the end": (["A B \\ud83d"], "A B \ufffd"),
    "high half then text": (["A \\ud83d", "B"], "A \ufffdB"),
}


def _collect(items: list[Any]) -> tuple[str, str]:
    deltas = "".join(i for i in items if isinstance(i, str))
    return deltas, items[-1].text


@pytest.mark.parametrize(("parts", "expected"), CASES.values(), ids=CASES.keys())
def test_streamed_halves_become_valid_text(
    srv: FaultServer, parts: list[str], expected: str
) -> None:
    srv.script(stream_head(), chunk(events(*parts)), LAST_CHUNK, times=2, match="chat")
    preset = Preset("p", srv.base_url, "m")
    deltas, text = _collect(list(get_client().stream(preset, MESSAGES)))
    assert deltas == text == expected
    text.encode("utf-8")  # no lone surrogate left

    async def collect() -> list[Any]:
        return [item async for item in get_client().astream(preset, MESSAGES)]

    assert _collect(asyncio.run(collect())) == (expected, expected)


def test_a_plain_answer_with_surrogate_escapes_is_valid_text(srv: FaultServer) -> None:
    body = (
        '{"choices":[{"index":0,"message":{"role":"assistant",'
        '"content":"A \\ud83d\\ude00 B \\udcff C"},"finish_reason":"stop"}]}'
    )
    srv.script(response(200, body, {"Content-Type": "application/json"}), times=1, match="chat")
    result = compat_nb.translate("Hello", to="fr", preset=Preset("p", srv.base_url, "m"))
    assert result.text == "A 😀 B \ufffd C"


def test_a_terminal_cell_prints_a_split_pair(srv: FaultServer, ip: Any, capsys: Any) -> None:
    srv.script(stream_head(), chunk(events("A \\ud83d", "\\ude00 B")), LAST_CHUNK, match="chat")
    compat_nb.get_store().save(Preset("p", srv.base_url, "m"))
    result = ip.run_cell("%%translate --to fr -p p -o out\nHello")
    try:
        assert result.error_in_exec is None
        assert ip.user_ns["out"].text == "A 😀 B"
        assert "A 😀 B" in capsys.readouterr().out
    finally:
        ip.user_ns.pop("out", None)
