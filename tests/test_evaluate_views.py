"""What a user sees and gets out: `%%translate --eval`, the live matrix in a kernel, the text in
a terminal, the plot, the test set's inputs and the exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from evaluate_support import FRENCH, PAIRS, SOURCES, preset, serve
from IPython.core.error import UsageError
from server import FakeServer

import compat_nb
from compat_nb.errors import ConfigError
from compat_nb.faces import display, live
from compat_nb.work.testset import load_test_set


@pytest.fixture
def demo(server: FakeServer) -> FakeServer:
    serve(server)
    store = compat_nb.get_store()
    store.save(preset(server, "good").replace(name="Good"))
    store.save(preset(server, "german").replace(name="German"))
    store.save(preset(server, "judge").replace(name="Judge"))
    return server


def test_the_cell_form_reads_a_file_and_prints_the_leaderboard(
    ip: Any, demo: FakeServer, tmp_path: Path, capsys: Any
) -> None:
    data = tmp_path / "texts.csv"
    pd.DataFrame(PAIRS, columns=["source", "reference"]).to_csv(data, index=False)
    # IPython refuses a cell magic with an empty body: a file is evaluated by the line form.
    ip.run_line_magic("translate", f"--eval {data} -p Good -p German -t French -o ev")
    ev = ip.user_ns["ev"]
    assert isinstance(ev, compat_nb.Evaluation) and ev.winner == "Good · good"
    captured = capsys.readouterr()
    assert "8 texts × 2 candidates → French" in captured.out
    assert "Winner: Good · good" in captured.out
    assert "Evaluating: 16 / 16 answers" in captured.err  # the terminal's progress line
    assert len(demo.chat_requests()) == 16


def test_in_terminal_ipython_the_api_shows_a_progress_line(
    ip: Any, demo: FakeServer, capsys: Any
) -> None:
    ev = compat_nb.evaluate(PAIRS, ["Good", "German"], to="French")
    assert ev.complete and "\rEvaluating: 16 / 16 answers" in capsys.readouterr().err


def test_the_cell_form_takes_the_cells_lines_a_judge_and_runs(ip: Any, demo: FakeServer) -> None:
    lines = "\n".join(f"{s} ||| {r}" for s, r in PAIRS[:3]) + "\n\n" + SOURCES[3] + "\n"
    ip.run_cell_magic(
        "translate", "--eval -p Good -p German -t fr --judge Judge --runs 2 -o ev", lines
    )
    ev = ip.user_ns["ev"]
    assert [item.reference for item in ev.items] == [r for _, r in PAIRS[:3]] + [None]
    assert len(ev.cells) == 4 * 2 * 2 and ev.judge == "Judge · judge"
    assert ev.to_pandas().judge.notna().all()


def test_the_cell_form_refuses_what_it_cannot_do(ip: Any, demo: FakeServer, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="leave the cell empty"):
        ip.run_cell_magic("translate", f"--eval {tmp_path / 'x.csv'} -p Good", "Some text")
    with pytest.raises(UsageError, match="There is no file"):
        ip.run_line_magic("translate", f"--eval {tmp_path / 'missing.csv'} -p Good")
    with pytest.raises(UsageError, match="Nothing to evaluate"):
        ip.run_cell_magic("translate", "--eval -p Good", "\n")
    assert demo.chat_requests() == []


class Handle:
    def __init__(self, bundle: dict[str, str]) -> None:
        self.bundles = [bundle]

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.bundles.append(bundle)


def test_in_a_kernel_the_matrix_fills_in_then_becomes_the_leaderboard(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(server)
    server.delay = 0.02
    handles: list[Handle] = []
    monkeypatch.setattr(live, "show", lambda bundle: handles.append(Handle(bundle)) or handles[-1])
    monkeypatch.setattr(display, "in_kernel", lambda: True)
    candidates = [preset(server, "good"), preset(server, "german")]
    ev = compat_nb.evaluate(PAIRS, candidates, to="French", concurrency=2)
    (handle,) = handles
    first, last = handle.bundles[0], handle.bundles[-1]
    assert "Evaluating: 0 / 16 answers" in first["text/plain"] and "<progress" in first["text/html"]
    assert "…" in first["text/html"]  # cells not answered yet
    # Redrawn a bounded number of times (at most 4 a second), not once per answer.
    assert 2 <= len(handle.bundles) <= 16
    assert last["text/html"] == ev._repr_html_() and last["text/plain"] == repr(ev)
    html = last["text/html"]
    assert FRENCH[SOURCES[0]] in html and "wrong_language" in html and "Winner: good" in html
    assert "hsla(120" in html  # a perfect answer is coloured green


def test_the_plot_shows_quality_against_latency_and_cost(
    server: FakeServer, tmp_path: Path
) -> None:
    serve(server)
    priced = preset(server, "good", input_price=0.5, output_price=1.5)
    ev = compat_nb.evaluate(PAIRS, [priced, preset(server, "german")], to="French", live=False)
    figure = ev.plot(tmp_path / "plot.png")
    assert [ax.get_xlabel() for ax in figure.axes] == ["median latency (ms)", "$ per 1,000 chars"]
    assert figure.axes[0].get_ylabel() == "chrF++ (95% interval)"
    labels = [t.get_text() for t in figure.axes[0].texts]
    assert sorted(labels) == ["german", "good"]
    assert [t.get_text() for t in figure.axes[1].texts] == ["good"]  # the only priced one
    assert (tmp_path / "plot.png").read_bytes().startswith(b"\x89PNG")
    no_quality = compat_nb.evaluate(SOURCES[:2], [priced], to="French", live=False)
    with pytest.raises(ConfigError, match="Nothing to plot"):
        no_quality.plot()


def test_test_sets_come_from_files_frames_and_lists(tmp_path: Path) -> None:
    frame = pd.DataFrame({"en": SOURCES[:2], "fr": ["Un.", None], "required": ["a; b", None]})
    items = load_test_set(frame, source_column="en", reference_column="fr", terms_column="required")
    assert [(i.source, i.reference, i.terms) for i in items] == [
        (SOURCES[0], "Un.", ("a", "b")),
        (SOURCES[1], None, ()),
    ]
    (tmp_path / "t.tsv").write_text("text\ttarget\nHello.\tBonjour.\n", encoding="utf-8")
    assert load_test_set(tmp_path / "t.tsv")[0].reference == "Bonjour."
    jsonl = "\n".join(json.dumps({"src": s, "ref": r, "terms": ["x"]}) for s, r in PAIRS[:2])
    (tmp_path / "t.jsonl").write_text(jsonl + "\n\n", encoding="utf-8")
    assert [i.terms for i in load_test_set(str(tmp_path / "t.jsonl"))] == [("x",), ("x",)]
    (tmp_path / "t.txt").write_text("One.\n\nTwo.\n", encoding="utf-8")
    assert [i.source for i in load_test_set(tmp_path / "t.txt")] == ["One.", "Two."]
    assert load_test_set(pd.Series(["A.", "B."]))[1].source == "B."
    assert load_test_set([("A.", "a."), "B."])[0].reference == "a."


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "is empty"),
        ("one\ntwo", "as a list"),
        ([{"en": "x", "de": "y"}], "no source column .* source_column="),
        ([{"source": "x"}, {"source": " "}], "row 2 has no text"),
        ([1, 2], "item 1 is int"),
        (pd.DataFrame({"source": ["x"]}), None),
    ],
)
def test_bad_test_sets_are_clear_errors(data: Any, message: str | None) -> None:
    if message is None:
        assert load_test_set(data)[0].source == "x"
        return
    with pytest.raises(ConfigError, match=message):
        load_test_set(data)


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "t.xlsx").write_bytes(b"PK")
    with pytest.raises(ConfigError, match=r"use a \.csv, \.tsv"):
        load_test_set(tmp_path / "t.xlsx")
    (tmp_path / "t.jsonl").write_text('{"source": "a"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        load_test_set(tmp_path / "t.jsonl")
    (tmp_path / "t.csv").write_bytes("source\n\xe9t\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_test_set(tmp_path / "t.csv")


def test_exports_write_every_cell_and_never_overwrite(server: FakeServer, tmp_path: Path) -> None:
    serve(server)
    ev = compat_nb.evaluate(PAIRS, [preset(server, "good")], to="French", live=False)
    out = ev.to_csv(tmp_path / "cells.csv")
    frame = pd.read_csv(out)
    assert len(frame) == len(PAIRS) and frame.translation.tolist() == [r for _, r in PAIRS]
    lines = ev.to_jsonl(tmp_path / "cells.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["chrF++"] == 100.0 and len(lines) == len(PAIRS)
    with pytest.raises(ConfigError, match="already exists; pass overwrite=True"):
        ev.to_csv(out)
    assert ev.to_csv(out, overwrite=True) == out
    with pytest.raises(ConfigError, match="does not exist"):
        ev.to_jsonl(tmp_path / "missing" / "x.jsonl")
