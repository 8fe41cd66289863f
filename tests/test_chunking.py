"""Long texts in pieces and translate_many, against the loopback server."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces import live
from compat_nb.work import chunking
from compat_nb.work.pieces import plan_pieces

CODE = "```python\ndef f():\n\n    return 'Absatz'  # a blank line inside\n```"
TABLE = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
MATH = "$$\nx = 1\n\ny = 2\n$$"


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    chunking.clear_cache()
    yield
    chunking.clear_cache()


@pytest.fixture
def preset(server: FakeServer) -> Preset:
    return get_store().use(get_store().save(Preset("Fake", server.base_url, "test-model")).name)


def paragraphs(n: int) -> list[str]:
    return [f"Paragraph {i} says something worth translating." for i in range(1, n + 1)]


def document(n: int = 100) -> str:
    paras = paragraphs(n)
    return "\n\n".join([*paras[: n // 2], CODE, *paras[n // 2 :]])


def per_paragraph(body: dict[str, Any]) -> str:
    """A reply that translates each paragraph of a piece, as a model would."""
    return "\n\n".join(f"TRANSLATED: {p}" for p in body["messages"][1]["content"].split("\n\n"))


def reassembled(text: str, limit: int) -> tuple[str, list[str]]:
    """The text rebuilt from its pieces and separators, and the pieces' texts."""
    plan = plan_pieces(text, limit)
    out, cursor = [], 0
    for piece in plan:
        out += [text[cursor : piece.start], text[piece.start : piece.end]]
        cursor = piece.end
    return "".join([*out, text[cursor:]]), [text[p.start : p.end] for p in plan]


def test_pieces_never_split_code_tables_or_math() -> None:
    rng = random.Random(7)
    blocks = [CODE, TABLE, MATH, "\\begin{align}\na\n\nb\n\\end{align}", *paragraphs(30)]
    for _ in range(50):
        rng.shuffle(blocks)
        seps = [rng.choice(["\n\n", "\n\n\n", "\n \n"]) for _ in blocks]
        text = "\n" + "".join(b + s for b, s in zip(blocks, seps, strict=True))
        for limit in (10, 60, 150, 400, 10_000):
            rebuilt, pieces = reassembled(text, limit)
            assert rebuilt == text
            for block in (CODE, TABLE, MATH):
                assert sum(block in p for p in pieces) == 1
            assert all(len(p) <= limit or p.strip() in blocks for p in pieces)


def test_oversize_paragraph_splits_at_lines_but_not_inside_a_table() -> None:
    lines = [f"line {i} of a long paragraph" for i in range(40)]
    text = "\n".join([*lines[:20], *TABLE.split("\n"), *lines[20:]])
    rebuilt, pieces = reassembled(text, 200)
    assert rebuilt == text and len(pieces) > 3
    assert sum(TABLE in p for p in pieces) == 1
    assert all(len(p) <= 200 for p in pieces)


def test_code_block_passes_through_and_is_never_sent() -> None:
    plan = plan_pieces(document(4), 10_000)
    assert [p.translate for p in plan] == [True, False, True]
    plan = plan_pieces(document(4), 10_000, translate_code=True)
    assert [p.translate for p in plan] == [True]


def test_hundred_paragraphs_complete_in_order_code_unchanged(
    ip: Any, server: FakeServer, preset: Preset
) -> None:
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 120")  # two paragraphs a piece
    server.reply = per_paragraph
    text = document()
    ip.run_cell_magic("translate", "--to German -o long", text)
    result = ip.user_ns["long"].text
    expected = [f"TRANSLATED: {p}" for p in paragraphs(100)]
    for para in expected:
        assert para in result
    assert [result.index(p) for p in expected] == sorted(result.index(p) for p in expected)
    assert CODE in result and "TRANSLATED: ```" not in result
    sent = [r.body["messages"][1]["content"] for r in server.chat_requests()]
    assert not any("def f()" in s for s in sent)
    assert len(sent) == len([p for p in plan_pieces(text, 120) if p.translate]) == 50
    assert result == "\n\n".join([*expected[:50], CODE, *expected[50:]])


def test_failed_piece_is_marked_and_a_rerun_fetches_only_it(
    ip: Any, server: FakeServer, preset: Preset, capsys: Any
) -> None:
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 60")  # one paragraph a piece
    text = document()
    server.inject("status", status=400, path="/chat/completions")
    ip.run_cell_magic("translate", "-o first", text)
    first = ip.user_ns["first"]
    assert first.text.count("> ⚠ piece") == 1
    assert sum(f"TRANSLATED: {p}" in first.text for p in paragraphs(100)) == 99
    failed = next(p for p in paragraphs(100) if f"TRANSLATED: {p}" not in first.text)
    assert "failed: The server rejected the request (400)" in first.text
    assert first.text.index("> ⚠ piece") < first.text.index(failed)
    assert first.error.startswith("1 of 100 pieces failed")
    assert "1 of 100 pieces failed" in capsys.readouterr().err
    assert len(server.chat_requests()) == 100

    server.reset()
    ip.run_cell_magic("translate", "-o second", text)
    assert "100 pieces (99 from the cache)" in capsys.readouterr().out
    (retried,) = server.chat_requests()
    assert retried.body["messages"][1]["content"] == failed
    second = ip.user_ns["second"]
    assert second.error is None and "⚠" not in second.text
    assert all(f"TRANSLATED: {p}" in second.text for p in paragraphs(100))


def test_translate_code_sends_the_code(ip: Any, server: FakeServer, preset: Preset) -> None:
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 100")
    ip.run_cell_magic("translate", "--translate-code --concurrency 2 -o out", document(6))
    assert any("def f()" in r.body["messages"][1]["content"] for r in server.chat_requests())


def test_cache_key_includes_options(server: FakeServer, preset: Preset) -> None:
    texts = ["Eins", "Zwei"]
    compat_nb.translate_many(texts, to="English")
    compat_nb.translate_many(texts, to="English")
    assert len(server.chat_requests()) == 2
    compat_nb.translate_many(texts, to="English", temperature=0.5)
    compat_nb.translate_many(texts, to="French")
    assert len(server.chat_requests()) == 6


def test_translate_many_keeps_input_order(server: FakeServer, preset: Preset) -> None:
    def reply(body: dict[str, Any]) -> str:
        text = body["messages"][1]["content"]
        time.sleep(random.random() * 0.02)  # answers finish in a shuffled order
        return text.upper()

    server.reply = reply
    texts = [f"text number {i}" for i in range(40)]
    results = compat_nb.translate_many(texts, concurrency=8)
    assert [r.text for r in results] == [t.upper() for t in texts]
    assert all(r.preset == "Fake" and r.error is None for r in results)


def test_translate_many_runs_a_fixed_pool_and_lets_go_of_finished_pieces(
    server: FakeServer, preset: Preset
) -> None:
    # Memory must not grow with the number of texts: no task per text made up front, and
    # the outcome of a text's pieces dropped once the text is assembled (in input order).
    import asyncio

    from compat_nb.wire.aio import run_sync

    texts = [f"text {i}" for i in range(300)] + ["text 0"]  # the last repeats the first
    batch = chunking.Batch(
        texts, preset, to="French", source=None, chunk_chars=4000, translate_code=False
    )
    seen = {"tasks": 0}

    async def tasks() -> set[asyncio.Task[Any]]:
        return asyncio.all_tasks()

    before = run_sync(tasks())  # what earlier tests left on this thread's loop

    def on_done(cached: bool) -> None:
        seen["tasks"] = max(seen["tasks"], len(asyncio.all_tasks() - before))

    run_sync(batch.run(concurrency=4, on_done=on_done))
    results = batch.results()
    assert [r.text for r in results] == [f"TRANSLATED: {t}" for t in texts]
    assert len(server.chat_requests()) == 300  # the repeated text was sent once
    # The workers, the run, and a few of the transport's own (aiohttp's), never one per text.
    assert seen["tasks"] <= 4 + 1 + 6
    assert batch.outcomes == {}  # each let go once its last text was assembled


def test_a_batch_plans_texts_as_it_reaches_them_and_keeps_nothing_per_text_after(
    server: FakeServer, preset: Preset
) -> None:
    # Plans made up front for the progress total cost ~0.2 KB a text (200,000 texts: 40 MB);
    # the total is counted and the plans dropped, each made again when the workers reach it.
    from compat_nb.wire.aio import run_sync

    texts = [f"text {i}\n\nsecond paragraph {i}" for i in range(50)]
    batch = chunking.Batch(
        texts, preset, to="French", source=None, chunk_chars=16, translate_code=False
    )
    assert batch.total == 100  # two pieces a text
    assert batch._plans == {} and batch._uses == {}
    steps: list[bool] = []
    run_sync(batch.run(concurrency=4, on_done=steps.append))
    results = batch.results()
    assert [r.text for r in results] == [
        f"TRANSLATED: text {i}\n\nTRANSLATED: second paragraph {i}" for i in range(50)
    ]
    assert len(steps) == 100 and not any(steps)
    assert batch._plans == {} and batch._uses == {} and batch.outcomes == {}


def test_a_piece_repeated_while_it_is_being_fetched_is_sent_once(
    server: FakeServer, preset: Preset
) -> None:
    from compat_nb.wire.aio import run_sync

    texts = ["the same", "the same", "other", "the same", "the same"]
    batch = chunking.Batch(
        texts, preset, to="French", source=None, chunk_chars=4000, translate_code=False
    )
    assert batch.total == 5  # every use counts in the progress; repeats come as cached
    steps: list[bool] = []
    run_sync(batch.run(concurrency=5, on_done=steps.append))  # all five taken at once
    assert [r.text for r in batch.results()] == [f"TRANSLATED: {t}" for t in texts]
    assert len(server.chat_requests()) == 2  # "the same" and "other", each once
    assert sorted(steps) == [False, False, True, True, True]


def test_translate_many_series_in_series_out(server: FakeServer, preset: Preset) -> None:
    column = pd.Series(["eins", None, "drei", "eins"], index=[10, 20, 30, 40], name="de")
    out = compat_nb.translate_many(column, to="English", preset="Fake")
    assert isinstance(out, pd.Series) and out.name == "de"
    assert list(out.index) == [10, 20, 30, 40]
    assert out.tolist() == ["TRANSLATED: eins", None, "TRANSLATED: drei", "TRANSLATED: eins"]
    assert len(server.chat_requests()) == 2  # the duplicate is fetched once


def test_translate_many_series_failure_is_missing_with_a_warning(
    server: FakeServer, preset: Preset
) -> None:
    server.inject("401")
    with pytest.warns(UserWarning, match="1 of 2 texts failed"):
        out = compat_nb.translate_many(pd.Series(["a", "a b"]), concurrency=1)
    assert out.isna().sum() == 1


def test_long_text_in_a_kernel_shows_progress_then_the_text(
    ip: Any, server: FakeServer, preset: Preset, monkeypatch: pytest.MonkeyPatch
) -> None:
    handles: list[Any] = []

    class Handle:
        def __init__(self, bundle: dict[str, str]) -> None:
            self.bundles = [bundle]

        def update(self, bundle: dict[str, str], raw: bool = False) -> None:
            self.bundles.append(bundle)

    monkeypatch.setattr(live, "show", lambda b: handles.append(Handle(b)) or handles[-1])
    monkeypatch.setattr("compat_nb.faces.display.in_kernel", lambda: True)
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 60")
    ip.run_cell_magic("translate", "-o out", document(10))
    (handle,) = handles
    assert "<progress value='0' max='10'" in handle.bundles[0]["text/html"]
    assert "10 / 10 pieces" in handle.bundles[-2]["text/plain"]
    final = handle.bundles[-1]["text/markdown"]
    assert "TRANSLATED: Paragraph 10" in final and "10 pieces" in final


def test_long_text_and_many_are_recorded(server: FakeServer, preset: Preset, ip: Any) -> None:
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 60")
    ip.run_cell_magic("translate", "", document(5))
    compat_nb.translate_many(["a", "b", "c"])
    runs = compat_nb.history()
    assert [r["kind"] for r in runs] == ["many", "many", "many", "long"]
    assert runs[3]["input_chars"] == len(document(5)) and runs[3]["completion_tokens"]


def test_translate_many_from_several_threads_at_once(server: FakeServer, preset: Preset) -> None:
    # Dask runs tasks in threads; without a loop of their own they share one and must take turns.
    from concurrent.futures import ThreadPoolExecutor

    server.delay = 0.02
    batches = [[f"batch {b} text {i}" for i in range(5)] for b in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(compat_nb.translate_many, batches))
    assert [[t.text for t in r] for r in results] == [
        [f"TRANSLATED: {t}" for t in batch] for batch in batches
    ]


# --- interrupting a long cell ------------------------------------------------------------------


def marked(number: int) -> str:
    return f"> ⏸ piece {number} not translated (interrupted)\n\nParagraph {number} says"


@pytest.mark.parametrize("where", ["while waiting for the server", "inside a piece"])
def test_interrupt_keeps_the_pieces_done_and_a_rerun_fetches_only_the_rest(
    ip: Any,
    server: FakeServer,
    preset: Preset,
    capsys: Any,
    caplog: Any,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    import asyncio
    import gc
    import threading

    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 60")  # one paragraph a piece
    text = document(10)  # paragraphs 1-5, the code block, paragraphs 6-10
    arrived, release = threading.Event(), threading.Event()

    def reply(body: dict[str, Any]) -> str:
        content = body["messages"][1]["content"]
        if content.startswith("Paragraph 5 "):
            arrived.set()
            release.wait(10)  # piece 5 is still on the server when Ctrl-C comes
        return f"TRANSLATED: {content}"

    server.reply = reply
    step, fired = live.Progress.step, []

    def step_then_interrupt(self: live.Progress, cached: bool = False) -> None:
        step(self, cached)
        if self.done != 4 or fired:
            return
        fired.append(True)
        if where == "inside a piece":
            raise KeyboardInterrupt  # Ctrl-C while piece 4's own code runs
        loop = asyncio.get_running_loop()

        def poll() -> None:  # Ctrl-C while the loop waits for piece 5's answer
            if arrived.is_set():
                raise KeyboardInterrupt
            loop.call_later(0.01, poll)

        loop.call_soon(poll)

    monkeypatch.setattr(live.Progress, "step", step_then_interrupt)
    try:
        ip.run_cell_magic("translate", "--concurrency 1 -o partial", text)
    except KeyboardInterrupt:
        pytest.fail("the interrupt escaped the magic")
    finally:
        release.set()
    gc.collect()  # an unretrieved task exception would be logged now
    out, err = capsys.readouterr()
    partial = ip.user_ns["partial"]
    done = [f"TRANSLATED: {p}" for p in paragraphs(4)]
    waiting = [f"{marked(n)} something worth translating." for n in range(5, 11)]
    assert partial.text == "\n\n".join([*done, waiting[0], CODE, *waiting[1:]])
    assert partial.interrupted and partial.error is None
    assert partial.text in out  # shown in the output, with its footer
    footer = out.split("\n— ")[-1]
    assert "interrupted" in footer and "4 of 10 pieces" in footer
    assert (
        "Interrupted: the translated pieces are kept (and cached); run the cell again to finish."
        in err
    )
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text
    (row,) = compat_nb.history()
    assert row["kind"] == "long" and row["error"] == "interrupted"

    server.reset()  # piece 5's request was recorded on arrival: it is gone now
    ip.run_cell_magic("translate", "-o again", text)
    sent = sorted(r.body["messages"][1]["content"] for r in server.chat_requests())
    assert sent == sorted(paragraphs(10)[4:])
    again = ip.user_ns["again"]
    assert not again.interrupted and again.error is None
    expected = [f"TRANSLATED: {p}" for p in paragraphs(10)]
    assert again.text == "\n\n".join([*expected[:5], CODE, *expected[5:]])
    assert "10 pieces (4 from the cache)" in capsys.readouterr().out


# --- what translate_many takes -----------------------------------------------------------------


@pytest.mark.parametrize("texts", ["abc", b"abc", 42])
def test_translate_many_refuses_one_text(server: FakeServer, preset: Preset, texts: Any) -> None:
    with pytest.raises(compat_nb.ConfigError, match=r"a list or a pandas Series.*translate\(\)"):
        compat_nb.translate_many(texts)
    assert server.chat_requests() == []


def test_translate_many_names_the_item_that_is_not_text(server: FakeServer, preset: Preset) -> None:
    with pytest.raises(compat_nb.ConfigError, match="item 1 is int"):
        compat_nb.translate_many(["eins", 2])
    column = pd.Series(["eins", None, float("nan"), pd.NA, 5], index=list("abcde"))
    with pytest.raises(compat_nb.ConfigError, match="item at index 'e' is int"):
        compat_nb.translate_many(column)
    assert server.chat_requests() == []
    # Missing values in a Series stay missing; only the text is sent.
    out = compat_nb.translate_many(column[:4])
    assert out.tolist() == ["TRANSLATED: eins", None, None, None]
    assert len(server.chat_requests()) == 1


def test_a_series_is_read_a_block_at_a_time_in_order_with_missing_values_kept(
    server: FakeServer, preset: Preset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pandas 3 keeps a column of str in Arrow buffers: tolist() would make a Python str of
    # every row before the first request (~90 MB a million rows).
    from compat_nb.work import texts as column_texts

    monkeypatch.setattr(column_texts, "BLOCK", 8)
    rows = [None if i % 7 == 3 else f"row {i}" for i in range(50)]
    column = pd.Series(rows, index=range(100, 150), name="src")
    reads = column_texts.SeriesTexts(column)
    seen = [reads[i] for i in range(len(reads))]
    assert seen == rows and len(reads._blocks) <= column_texts.BLOCKS_KEPT
    out = compat_nb.translate_many(column, to="French", preset="Fake", concurrency=4)
    assert out.tolist() == [None if r is None else f"TRANSLATED: {r}" for r in rows]
    assert list(out.index) == list(range(100, 150)) and out.name == "src"


def test_a_series_item_that_is_not_text_is_named_by_its_index_before_anything_is_sent(
    server: FakeServer, preset: Preset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.errors import ConfigError
    from compat_nb.work import texts as column_texts

    monkeypatch.setattr(column_texts, "BLOCK", 8)
    column = pd.Series(["a"] * 20 + [3.5] + ["b"], index=range(200, 222), dtype=object)
    with pytest.raises(ConfigError, match="the item at index 220 is float"):
        compat_nb.translate_many(column, to="French", preset="Fake")
    assert server.chat_requests() == []
