"""StreamDisplay in a kernel: what the front end receives, message by message, and what it shows.

`FrontEnd` stands in for the notebook: it keeps each output's latest bundle by display id and
counts the bytes of every message, as the kernel would serialise them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from compat_nb.faces.display import TAIL_CHARS, StreamDisplay, scan
from compat_nb.wire.textbuffer import TextBuffer
from compat_nb.work.markup import tone

FOOTER_MD = "\n\n" + tone("p · m", "muted", tag="sub")


class FrontEnd:
    def __init__(self) -> None:
        self.outputs: list[dict[str, str]] = []  # in the order they appear in the cell
        self.messages = 0
        self.bytes = 0

    def display(self, bundle: dict[str, str], raw: bool = False, display_id: bool = False) -> Any:
        assert raw and display_id
        self.outputs.append(bundle)
        self._count(bundle)
        return Handle(self, len(self.outputs) - 1)

    def _count(self, bundle: dict[str, str]) -> None:
        self.messages += 1
        self.bytes += len(json.dumps(bundle))

    def shown(self, mime: str = "text/markdown") -> str:
        return "".join(o.get(mime, "") for o in self.outputs)


class Handle:
    def __init__(self, front: FrontEnd, index: int) -> None:
        self.front, self.index = front, index

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        assert raw
        self.front.outputs[self.index] = bundle
        self.front._count(bundle)


class Clock:
    """Time that moves only when the test says: one token per millisecond."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def front(monkeypatch: pytest.MonkeyPatch) -> FrontEnd:
    fake = FrontEnd()
    monkeypatch.setattr("IPython.display.display", fake.display)
    return fake


def prose(paragraphs: int, words: int = 80) -> list[str]:
    """Tokens of ~6 characters, a blank line after every `words` of them, as a model writes."""
    tokens = []
    for p in range(paragraphs):
        tokens += [f" w{p:03d}{i:02d}" for i in range(words)]
        tokens[-1] += ".\n\n"
    return tokens


def stream(tokens: list[str], *, footer: str = "p · m", final: str | None = None) -> StreamDisplay:
    clock = Clock()
    view = StreamDisplay(kernel=True, rate=20, clock=clock)
    view.start()
    for token in tokens:
        clock.now += 0.001
        view.append(token)
    view.finish("".join(tokens) if final is None else final, footer)
    return view


def test_a_long_answer_is_sent_once_in_blocks_not_again_on_every_update(front: FrontEnd) -> None:
    tokens = prose(60)  # 4,800 tokens at 1 ms: 4.8 s of streaming
    text = "".join(tokens)
    view = stream(tokens)
    # The cell shows the whole answer, in order, with the footer once at the end.
    assert front.shown() == text + FOOTER_MD
    assert front.outputs[-1]["text/plain"].endswith("— p · m")
    # At most 20 messages a second, and the front end received about the answer once (the
    # old single output re-sent the whole text each time: ~50x the answer here).
    assert front.messages == view.updates <= 20 * 4.8 + 2
    assert front.bytes <= 3 * len(text)


def test_display_bytes_grow_linearly_with_the_answer(front: FrontEnd) -> None:
    per_char = []
    for paragraphs in (100, 400):
        front.outputs.clear()
        front.bytes = 0
        tokens = prose(paragraphs)
        stream(tokens)
        per_char.append(front.bytes / len("".join(tokens)))
    assert per_char[1] <= 1.05 * per_char[0]  # four times the text, four times the bytes


def test_a_long_code_block_is_cut_at_line_ends_reopened_and_joined_at_the_end(
    front: FrontEnd,
) -> None:
    code = "".join(f"    value_{i} = compute({i})  # step {i}\n" for i in range(400))
    tokens = ["Here:\n\n", "```python\n", *code.splitlines(keepends=True), "```\n\nDone."]
    text = "".join(tokens)
    assert len(code) > 4 * TAIL_CHARS
    clock = Clock()
    view = StreamDisplay(kernel=True, rate=20, clock=clock)
    view.start()
    seen: list[str] = []
    for token in tokens:
        clock.now += 0.01
        view.append(token)
        seen.append(front.outputs[-1].get("text/markdown", ""))
    # While streaming, an output that goes on after a cut reopens the fence, and the block
    # before it is closed, so both show as code.
    assert any(re.match(r"```python\n    value_[1-9]", s) for s in seen)
    code_blocks = front.outputs[1:-1]
    assert len(code_blocks) >= 3
    assert all(o["text/markdown"].endswith("\n```") for o in code_blocks)
    view.finish(text, "p · m")
    # At the end the outputs the code was cut into are one again (the code, and the live
    # output it was cut from, with the footer); the others are emptied. The paragraph
    # before the code stays as it was.
    shown = [o for o in front.outputs if o != {"text/plain": ""}]
    rest = text.removeprefix("Here:\n\n")
    assert shown == [
        {"text/markdown": "Here:\n\n"},
        {"text/markdown": rest + FOOTER_MD, "text/plain": rest + "\n\n— p · m"},
    ]


def test_whitespace_trimmed_at_the_ends_keeps_the_blocks(front: FrontEnd) -> None:
    tokens = ["\n\n", *prose(30)]  # ends with a blank line too; the final text has neither
    text = "".join(tokens).strip("\n")
    stream(tokens, final=text)
    assert len(front.outputs) > 3
    # The first block keeps the blank lines it was sent with (Markdown shows none).
    assert front.shown() == "\n\n" + text + FOOTER_MD
    assert not any(o == {"text/plain": ""} for o in front.outputs)  # nothing shown again


@pytest.mark.parametrize(
    "final",
    [
        "cleaned",  # the clean-up changed the text (a fence around the whole removed)
        "[ref]: https://example.org",  # a link definition reaches across blocks
    ],
)
def test_a_final_text_that_cannot_stay_in_blocks_is_shown_whole(
    front: FrontEnd, final: str
) -> None:
    tokens = prose(10)
    text = "".join(tokens)
    if final == "cleaned":
        tokens = ["```\n", *tokens, "```"]
    else:
        text += final
        tokens.append(final)
    stream(tokens, final=text)
    assert front.outputs[0]["text/markdown"] == text + FOOTER_MD
    assert front.shown() == text + FOOTER_MD


def test_a_short_answer_is_one_output_with_markdown_and_plain_text(front: FrontEnd) -> None:
    view = stream(["Bon", "jour"])
    assert front.outputs == [
        {"text/markdown": "Bonjour" + FOOTER_MD, "text/plain": "Bonjour\n\n— p · m"}
    ]
    assert view.text == "Bonjour"


def test_cuts_follow_markdown_blocks() -> None:
    assert scan("One.\n\nTwo.")[0] == len("One.\n\n")
    assert scan("- item\n\n  continued")[0] == 0  # an indented line continues the item
    assert scan("```\na\n\nb\n```\n\nAfter")[0] == len("```\na\n\nb\n```\n\n")
    assert scan("```py\na\n\nb")[1:] == ("```py", "```")  # inside a fence: no cut in it
    assert scan("$$\nx\n\ny")[1:] == ("$$", "$$")
    assert scan("\\begin{align}\nx\n\n")[2] == "\\end{align}"


def test_text_buffer_joins_pieces_and_compares_without_copying() -> None:
    buffer = TextBuffer()
    pieces = [f"t{i} " for i in range(200_000)]
    for piece in pieces:
        buffer.append(piece)
    whole = "".join(pieces)
    assert len(buffer) == len(whole) and buffer == whole and str(buffer) == whole
    assert buffer != whole[:-1] + "x" and buffer != whole + "x"
    assert len(buffer._runs) == 1  # reading joined the runs once, for later reads
