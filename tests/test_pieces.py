"""HTML blocks in the piece plan: CommonMark's seven kinds, never split between pieces.

markdown-it-py (a CommonMark 0.31 parser) is the oracle: every HTML block it finds lies inside
one piece, at every piece size, and an element opened on its own line (`<div>`) stays in one
piece with the tag that closes it, blank lines and all.
"""

from __future__ import annotations

import random

import pytest
from markdown_it import MarkdownIt

from compat_nb.work.pieces import plan_pieces

DIV = '<div class="alert alert-info">\n<b>Note:</b> first.\n\nSecond **paragraph**.\n\n</div>'
DETAILS = "<details>\n<summary>Answer</summary>\n\nThe answer is *42*.\n\n</details>"
NESTED = "<div>\n<div class='inner'>\n\nInner text.\n\n</div>\n\nOuter text.\n\n</div>"
COMMENT = "<!-- a note for authors\n\nthat spans paragraphs -->"
PRE = "<pre>\nplain   text\n\nkept as is\n</pre>"
SCRIPT = "<script>\nvar a = 1;\n\nvar b = 2;\n</script>"
LONE = '<font color="red">\n\nRed text.\n\n</font>'
ELEMENTS = [DIV, DETAILS, NESTED, LONE]
VERBATIM = [COMMENT, PRE, SCRIPT]


def pieces_of(text: str, limit: int) -> list[tuple[int, int, bool]]:
    plan = plan_pieces(text, limit)
    rebuilt, cursor = [], 0
    for p in plan:
        rebuilt += [text[cursor : p.start], text[p.start : p.end]]
        cursor = p.end
    assert "".join([*rebuilt, text[cursor:]]) == text  # pieces and separators are the text
    return [(p.start, p.end, p.translate) for p in plan]


def line_offsets(text: str) -> list[int]:
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    return starts


def html_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each HTML block as markdown-it-py parses the text."""
    starts = line_offsets(text)
    tokens = MarkdownIt("commonmark").parse(text)
    found = []
    for token in tokens:
        if token.type == "html_block" and token.map:
            first, last = token.map
            found.append((starts[first], starts[last] - 1))
    return found


def inside_one(span: tuple[int, int], pieces: list[tuple[int, int, bool]]) -> bool:
    start, end = span
    text_end = max(p[1] for p in pieces)
    end = min(end, text_end)
    return any(a <= start and end <= b for a, b, _ in pieces)


@pytest.mark.parametrize("block", ELEMENTS)
def test_an_element_spanning_paragraphs_is_one_piece_at_every_size(block):
    text = f"Before it.\n\n{block}\n\nAfter it."
    for limit in (20, 60, 200, 10_000):
        pieces = pieces_of(text, limit)
        start = text.index(block)
        assert inside_one((start, start + len(block)), pieces), (limit, pieces)
        # Split nowhere inside: the paragraphs around it may still be pieces of their own.
        assert not any(start < a < start + len(block) for a, _, _ in pieces)


@pytest.mark.parametrize("block", VERBATIM)
def test_comments_pre_and_scripts_pass_through_whole_and_unsent(block):
    text = f"Before it.\n\n{block}\n\nAfter it."
    pieces = pieces_of(text, 30)
    start = text.index(block)
    (kept,) = [p for p in pieces if p[0] == start]
    assert kept == (start, start + len(block), False)
    assert [text[a:b] for a, b, send in pieces if send] == ["Before it.", "After it."]
    # translate_code sends it, still whole.
    whole = plan_pieces(text, 10_000, translate_code=True)
    assert len(whole) == 1 and whole[0].translate


def test_every_html_block_commonmark_sees_lies_in_one_piece():
    rng = random.Random(12)
    blocks = [
        *ELEMENTS,
        *VERBATIM,
        "<?php echo 1;\n\n?>",
        "<!DOCTYPE html>",
        "<![CDATA[\nx\n\ny\n]]>",
        "<hr>",
        "<p>\nunclosed paragraph tag\n\nthen Markdown",
        "</div>",
        "<img src='a.png'/>\n\nText after an image tag.",
        "A paragraph\n<span>\ncannot be interrupted by a lone span.",
        "A paragraph\n<div>\ninterrupted by a div.\n</div>",
        "Plain paragraph with <b>inline</b> HTML.",
        "```html\n<div>\n\n</div>\n```",
    ]
    for _ in range(60):
        rng.shuffle(blocks)
        text = "\n\n".join(blocks) + "\n"
        for limit in (20, 80, 300, 10_000):
            pieces = pieces_of(text, limit)
            for span in html_blocks(text):
                assert inside_one(span, pieces), (text[span[0] : span[1]], limit)


def test_an_unclosed_element_ends_where_commonmark_ends_it():
    text = "<div>\nOpened, never closed.\n\nA paragraph of Markdown.\n\nAnother one."
    pieces = pieces_of(text, 30)
    assert [text[a:b] for a, b, _ in pieces] == [
        "<div>\nOpened, never closed.",
        "A paragraph of Markdown.",
        "Another one.",
    ]


def test_a_lone_tag_does_not_interrupt_a_paragraph_but_a_block_tag_does():
    text = "Line one\n<span>\n\nNext paragraph.\n\nLine two\n<div>\n\nInside.\n\n</div>"
    pieces = [text[a:b] for a, b, _ in pieces_of(text, 20)]
    assert pieces == [
        "Line one\n<span>",
        "Next paragraph.",
        "Line two",
        "<div>\n\nInside.\n\n</div>",
    ]
