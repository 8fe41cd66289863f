"""Comparisons: every candidate at once against real loopback servers, columns, figures, runs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.faces import live
from compat_nb.work.comparison import Comparison

TEXT = "Guten Morgen, wie geht es dir?"


@pytest.fixture
def second() -> Iterator[FakeServer]:
    with FakeServer() as other:
        yield other


@pytest.fixture
def two_presets(server: FakeServer, second: FakeServer) -> tuple[str, str]:
    store = get_store()
    store.save(Preset("One", server.base_url, "test-model"))
    store.save(Preset("Two", second.base_url, "test-model"))
    return "One", "Two"


class FakeHandle:
    """Stands in for an IPython display handle and keeps every bundle it was sent."""

    def __init__(self, bundle: dict[str, str]) -> None:
        self.bundles = [bundle]

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.bundles.append(bundle)


@pytest.fixture
def handles(monkeypatch: pytest.MonkeyPatch) -> list[FakeHandle]:
    """Pretend to be a kernel and capture the display handles."""
    made: list[FakeHandle] = []

    def show(bundle: dict[str, str]) -> FakeHandle:
        made.append(FakeHandle(bundle))
        return made[-1]

    monkeypatch.setattr(live, "show", show)
    monkeypatch.setattr("compat_nb.faces.display.in_kernel", lambda: True)
    return made


def test_two_presets_on_two_servers_side_by_side(
    ip: Any, server: FakeServer, second: FakeServer, capsys: Any
) -> None:
    get_store().save(Preset("One", server.base_url, "test-model"))
    get_store().save(Preset("Two", second.base_url, "other-model"))
    ip.run_cell_magic("translate", "--to German -p One -p Two -o cmp", TEXT)
    cmp = ip.user_ns["cmp"]
    assert isinstance(cmp, Comparison)
    # Both the preset and the model differ, so the columns name both.
    assert cmp.candidates == ["One · test-model", "Two · other-model"]
    assert [r.candidate for r in cmp.rows] == cmp.candidates
    assert [r.text for r in cmp.rows] == [f"TRANSLATED: {TEXT}"] * 2
    assert all(r.ok and r.finish_reason == "stop" for r in cmp.rows)
    assert [r.model for r in cmp.rows] == ["test-model", "other-model"]
    assert len(server.chat_requests()) == 1 and len(second.chat_requests()) == 1
    assert server.chat_requests()[0].body["stream"] is True
    assert "German" in server.chat_requests()[0].body["messages"][0]["content"]
    out = capsys.readouterr().out
    # Terminal: each column printed when done, then the summary table.
    assert "── One · test-model ──" in out and "── Two · other-model ──" in out
    assert "TTFT" in out and out.index("── Two") < out.index("candidate")


def test_models_keep_their_colons_through_the_magic(ip: Any, server: FakeServer) -> None:
    get_store().save(Preset("One", server.base_url, "test-model"))
    ip.run_cell_magic("translate", "-p One -m llama3.2:3b -m other-model -o cmp", TEXT)
    cmp = ip.user_ns["cmp"]
    assert cmp.candidates == ["llama3.2:3b", "other-model"]
    sent = sorted(r.body["model"] for r in server.chat_requests())
    assert sent == ["llama3.2:3b", "other-model"]


def test_presets_times_models(server: FakeServer, second: FakeServer, two_presets: Any) -> None:
    cmp = compat_nb.compare(TEXT, presets=["One", "Two"], models=["a:1", "b"], to="French")
    assert cmp.candidates == ["One · a:1", "One · b", "Two · a:1", "Two · b"]
    assert len(server.chat_requests()) == 2 and len(second.chat_requests()) == 2
    assert {r.body["model"] for r in second.chat_requests()} == {"a:1", "b"}


def test_a_failure_stays_in_its_column(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any, capsys: Any
) -> None:
    second.inject("401")
    ip.run_cell_magic("translate", "-p One -p Two -o cmp", TEXT)
    one, two = ip.user_ns["cmp"].rows
    assert one.ok and one.text == f"TRANSLATED: {TEXT}"
    assert not two.ok and "key rejected" in two.error and two.text == ""
    assert "⚠" in capsys.readouterr().out


def test_broken_stream_keeps_partial_text_in_its_column(
    server: FakeServer, second: FakeServer, two_presets: Any
) -> None:
    second.inject("broken_stream", after=3)
    cmp = compat_nb.compare(TEXT, presets=["One", "Two"])
    two = cmp.rows[1]
    assert two.error and two.text and f"TRANSLATED: {TEXT}".startswith(two.text)
    assert cmp.rows[0].ok


def test_runs_report_median_and_spread(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any
) -> None:
    ip.run_cell_magic("translate", "-p One -p Two --runs 3 -o cmp", TEXT)
    cmp = ip.user_ns["cmp"]
    assert len(cmp.rows) == 6
    assert [(r.candidate, r.run) for r in cmp.rows[:2]] == [("One", 1), ("Two", 1)]
    assert sorted(r.run for r in cmp.runs_of("One")) == [1, 2, 3]
    assert len(server.chat_requests()) == 3 and len(second.chat_requests()) == 3
    summary = repr(cmp.summary())
    assert "3/3" in summary and "median (min–max)" in summary
    assert "2 candidates × 3 runs" in summary
    assert "(" in cmp.figures("One") and "3/3 runs ok" in cmp.figures("One")


def test_single_candidate_with_runs_goes_through_comparison(ip: Any, server: FakeServer) -> None:
    get_store().save(Preset("One", server.base_url, "test-model"))
    ip.run_cell_magic("translate", "-p One --runs 2 --no-stream -o cmp", TEXT)
    cmp = ip.user_ns["cmp"]
    assert [r.run for r in cmp.rows] == [1, 2]
    assert all(r.body["stream"] is False for r in server.chat_requests())
    assert "1 candidate × 2 runs" in repr(cmp.summary())  # one is not "1 candidates"


def test_cost_from_preset_prices(server: FakeServer) -> None:
    priced = Preset("Priced", server.base_url, "test-model", input_price=3.0, output_price=15.0)
    free = Preset("Free", server.base_url, "test-model")
    cmp = compat_nb.compare(TEXT, presets=[priced, free])
    row, unpriced = cmp.rows
    assert row.output_tokens == len(f"TRANSLATED: {TEXT}".split())
    assert row.input_tokens and row.input_tokens > len(TEXT.split())
    assert row.cost == pytest.approx((row.input_tokens * 3.0 + row.output_tokens * 15.0) / 1e6)
    assert unpriced.cost is None
    assert "$0.000" in cmp.figures("Priced") and "$" not in cmp.figures("Free")


def test_acompare_and_overrides(server: FakeServer) -> None:
    preset = Preset("One", server.base_url, "test-model")
    cmp = asyncio.run(compat_nb.acompare(TEXT, [preset], ["m1", "m2"], temperature=0.25))
    assert [r.model for r in cmp.rows] == ["m1", "m2"]
    assert all(r.body["temperature"] == 0.25 for r in server.chat_requests())


def test_eight_candidates_run_at_once(server: FakeServer, second: FakeServer) -> None:
    # The servers answer only when eight requests have arrived; a sequential run would stall.
    import threading

    arrived = threading.Barrier(8, timeout=10)
    for fake in (server, second):
        fake.reply = lambda body: (arrived.wait(), "ok")[1]
    presets = [Preset("A", server.base_url, "x"), Preset("B", second.base_url, "x")]
    cmp = compat_nb.compare(TEXT, presets=presets, models=["m1", "m2", "m3", "m4"])
    assert [r.text for r in cmp.rows] == ["ok"] * 8


def test_live_columns_in_a_kernel(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any, handles: list[FakeHandle]
) -> None:
    second.inject("404_model")
    server.chunk_delay = 0.01
    ip.run_cell_magic("translate", "-p One -p Two -o cmp", "<b>bold</b> & more words here")
    (handle,) = handles
    first, last = handle.bundles[0]["text/html"], handle.bundles[-1]["text/html"]
    assert first.count("border:1px") == 2 and "waiting" in first
    assert last.count("border:1px") == 2
    assert "TRANSLATED: &lt;b&gt;bold&lt;/b&gt; &amp; more" in last  # escaped, never raw
    assert "TTFT" in last and "tok/s" in last and "finish stop" in last
    assert "⚠" in last and "not found" in last
    # Updates are throttled to the display rate, not one per token.
    assert len(handle.bundles) < 2 + len(server.chat_requests()[0].body["messages"][1]["content"])


def test_live_updates_carry_a_bounded_part_of_long_columns(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any, handles: list[FakeHandle]
) -> None:
    words = [f"w{i}" for i in range(6000)]
    server.reply = second.reply = "\n\n".join(
        " ".join(words[i : i + 60]) for i in range(0, 6000, 60)
    )
    server.chunk_delay = 0.0002  # long enough for the grid to update live several times
    ip.run_cell_magic("translate", "-p One -p Two -o cmp", "A long text")
    (handle,) = handles
    *live_bundles, final = handle.bundles
    assert len(live_bundles) > 3
    # A live update holds at most ~2 x GRID_CHARS of each column (and says what it left out);
    # the final one holds both columns whole.
    assert all(len(b["text/plain"]) < 2 * (2 * live.GRID_CHARS + 200) for b in live_bundles)
    assert any("characters above" in b["text/plain"] for b in live_bundles)
    assert final["text/html"].count("w5999") == 2 and final["text/html"].count("w0 ") == 2
    assert ip.user_ns["cmp"].rows[0].text == server.reply


def test_comparison_html_pandas_and_history(
    server: FakeServer, second: FakeServer, two_presets: Any
) -> None:
    cmp = compat_nb.compare(TEXT, presets=["One", "Two"], runs=2)
    page = cmp._repr_html_()
    assert "grid-template-columns:repeat(2" in page and "<table>" in page
    frame = cmp.to_pandas()
    assert list(frame["candidate"]) == ["One", "Two", "One", "Two"]
    assert {"ttft_ms", "latency_ms", "tokens_per_second", "cost", "error"} <= set(frame.columns)
    runs = compat_nb.history(limit=10)
    assert [r["kind"] for r in runs] == ["compare"] * 4
    assert len({r["comparison"] for r in runs}) == 1
    assert sorted(r["run"] for r in runs) == [1, 1, 2, 2]


def test_history_off_in_magic_records_nothing(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any
) -> None:
    ip.run_line_magic("config", "TranslateMagics.record_history = False")
    try:
        ip.run_cell_magic("translate", "-p One -p Two", TEXT)
    finally:
        ip.run_line_magic("config", "TranslateMagics.record_history = True")
    assert len(compat_nb.history()) == 0


def test_public_functions_survive_their_modules_being_imported() -> None:
    # Importing a submodule binds it on the package; none may share a public function's name.
    import importlib
    import inspect

    for name in ("work.comparison", "work.history", "work.translation", "work.chunking"):
        importlib.import_module(f"compat_nb.{name}")
    for name in ("compare", "acompare", "history", "translate", "atranslate", "translate_many"):
        assert inspect.isfunction(getattr(compat_nb, name)), name


@pytest.mark.parametrize(
    ("text", "choice", "message"),
    [
        (TEXT, {"presets": []}, "Name at least one preset, or leave presets out"),
        (TEXT, {"models": []}, "Name at least one model, or leave models out"),
        ("", {}, "The text is empty"),
        (" \n", {}, "The text is empty"),
        (b"bytes", {}, "takes text as str, not bytes"),
    ],
)
def test_compare_refuses_what_it_cannot_run(
    server: FakeServer, two_presets: Any, text: Any, choice: dict[str, Any], message: str
) -> None:
    get_store().use("One")
    with pytest.raises(compat_nb.ConfigError, match=message):
        compat_nb.compare(text, **choice)
    with pytest.raises(compat_nb.ConfigError, match=message):
        asyncio.run(compat_nb.acompare(text, **choice))
    assert server.chat_requests() == []


def test_each_candidate_translates_into_its_presets_language(
    ip: Any, server: FakeServer, second: FakeServer
) -> None:
    get_store().save(Preset("One", server.base_url, "test-model", target_language="German"))
    # A tag or a name: both are shown and sent as one language.
    get_store().save(Preset("Two", second.base_url, "test-model", target_language="fr"))
    get_store().save(Preset("Three", second.base_url, "other-model"))

    def targets() -> list[str]:
        sent = [r.body["messages"][0]["content"] for r in server.chat_requests()]
        sent += [r.body["messages"][0]["content"] for r in second.chat_requests()]
        return sorted(s.split(" into ")[1].split(".")[0] for s in sent)

    cmp = compat_nb.compare(TEXT, presets=["One", "Two", "Three"])
    assert targets() == ["English (en)", "French (fr)", "German (de)"]  # Three: the default
    assert cmp.candidates == [
        "One · test-model → German",
        "Two · test-model → French",
        "Three · other-model → English",
    ]
    assert cmp.target_language == "German, French, English"

    server.reset(), second.reset()
    cmp = compat_nb.compare(TEXT, presets=["One", "Two"], to="it")
    assert targets() == ["Italian (it)", "Italian (it)"]
    assert cmp.candidates == ["One", "Two"] and cmp.target_language == "Italian"

    server.reset(), second.reset()
    ip.run_line_magic("config", 'TranslateMagics.target_language = "Spanish"')
    try:
        ip.run_cell_magic("translate", "-p One -p Three -o cmp", TEXT)
    finally:
        ip.run_line_magic("config", 'TranslateMagics.target_language = "English"')
    assert targets() == ["German (de)", "Spanish (es)"]
    assert ip.user_ns["cmp"].candidates == [
        "One · test-model → German",
        "Three · other-model → Spanish",
    ]


def test_columns_render_markdown_like_a_single_translation(
    ip: Any, server: FakeServer, second: FakeServer, two_presets: Any, handles: list[FakeHandle]
) -> None:
    second.inject("404_model")
    text = "**Guten** Morgen `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- eins\n- zwei </div>"
    ip.run_cell_magic("translate", "-p One -p Two", text)
    (handle,) = handles
    page = handle.bundles[-1]["text/html"]
    one = page[: page.index("compat-nb-column", page.index("compat-nb-column") + 1)]
    assert "<p>TRANSLATED: <strong>Guten</strong> Morgen <code>code</code></p>" in one
    assert "<table>" in one and "<li>eins</li>" in one
    assert "zwei &lt;/div&gt;" in one  # raw HTML from a model is text, the columns stay whole
    assert page.count("<div") == page.count("</div>")
    # The failed column's message, status and figures take the theme's tones.
    assert page.count("compat-nb-tone compat-nb-error") == 1 and "not found" in page
    assert page.count("compat-nb-tone compat-nb-muted") == 1  # the answered column's figures
    assert "#c62828" not in page and "opacity" not in page
