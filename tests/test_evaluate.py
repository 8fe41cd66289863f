"""`compat_nb.evaluate` against the loopback server: scores equal to sacrebleu's own command line,
a winner only when the paired bootstrap says so, flags on bad answers, the judge."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from evaluate_support import FRENCH, PAIRS, SOURCES, preset, serve, user_text
from server import FakeServer

import compat_nb
from compat_nb.errors import ConfigError


def run(server: FakeServer, models: list[str], data: object = PAIRS, **options: object):  # type: ignore[no-untyped-def]
    serve(server)
    candidates = [preset(server, m) for m in models]
    options.setdefault("live", False)
    return compat_nb.evaluate(data, candidates, to="French", **options)


def test_a_clearly_better_candidate_is_the_significant_winner(server: FakeServer) -> None:
    ev = run(server, ["good", "german"])
    board = ev.leaderboard()
    assert list(board.index) == ["good", "german"]  # labels name what differs: the model
    assert board.loc["good", "chrF++"] == pytest.approx(100.0)
    assert board.loc["german", "chrF++"] < 30
    assert board.loc["good", "TER"] == 0 and board.loc["german", "TER"] > 50
    assert board.loc["german", "p vs best (chrF++)"] < 0.05
    assert ev.winner == "good"
    assert ev.verdict.startswith("Winner: good on chrF++")
    assert len(server.chat_requests()) == 2 * len(PAIRS)
    # One request per cell, each the text as the user message, concurrently answered.
    assert sorted(user_text(r.body) for r in server.chat_requests()) == sorted(SOURCES * 2)


def test_a_tied_pair_has_no_winner(server: FakeServer) -> None:
    # Each is right on half the texts, the other half: equal quality, different answers.
    ev = run(server, ["half-even", "half-odd"])
    board = ev.leaderboard()
    p_value = board["p vs best (chrF++)"].dropna().iloc[0]
    assert p_value > 0.05
    assert ev.winner is None
    assert ev.verdict.startswith("No significant winner on chrF++")
    assert f"(p = {p_value:.2f})" in ev.verdict


def _sacrebleu(*args: str) -> str:
    command = [sys.executable, "-m", "sacrebleu", *args, "-m", "bleu", "chrf", "ter"]
    command += ["--chrf-word-order", "2", "-w", "4"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_figures_equal_sacrebleus_command_line_on_the_same_files(
    server: FakeServer, tmp_path: Path
) -> None:
    ev = run(server, ["good", "half-even", "german"])
    frame = ev.to_pandas()
    ref = tmp_path / "ref.fr"
    ref.write_text("".join(r + "\n" for _, r in PAIRS), encoding="utf-8")
    files = {}
    for label in ["good", "half-even", "german"]:
        answers = frame[frame.candidate == label].sort_values("text").translation
        files[label] = tmp_path / f"{label}.fr"
        files[label].write_text("".join(a + "\n" for a in answers), encoding="utf-8")
    board = ev.leaderboard()
    for label, path in files.items():
        cli = {s["name"]: s["score"] for s in json.loads(_sacrebleu(str(ref), "-i", str(path)))}
        assert board.loc[label, "BLEU"] == pytest.approx(cli["BLEU"], abs=5e-5)
        assert board.loc[label, "chrF++"] == pytest.approx(cli["chrF2++"], abs=5e-5)
        assert board.loc[label, "TER"] == pytest.approx(cli["TER"], abs=5e-5)
    # The paired bootstrap, best system as baseline: the same means, intervals and p-values.
    table = _sacrebleu(str(ref), "-i", *map(str, files.values()), "--paired-bs", "-f", "text")
    lines = [line for line in table.splitlines() if ".fr" in line or "p = " in line]
    figures = re.compile(r"(\d+\.\d+) \((\d+\.\d+) ± (\d+\.\d+)\)")
    for label, line, p_line in [
        ("half-even", lines[1], lines[2]),
        ("german", lines[3], lines[4]),
    ]:
        (bleu, chrf, ter) = figures.findall(line)
        assert board.loc[label, "chrF++ ±95%"] == pytest.approx(float(chrf[2]), abs=5e-5)
        assert board.loc[label, "BLEU ±95%"] == pytest.approx(float(bleu[2]), abs=5e-5)
        assert board.loc[label, "TER ±95%"] == pytest.approx(float(ter[2]), abs=5e-5)
        p_values = re.findall(r"p = (\d\.\d+)", p_line)
        assert board.loc[label, "p vs best (chrF++)"] == pytest.approx(float(p_values[1]), abs=5e-5)


def test_wrong_language_copies_and_echoes_are_flagged(server: FakeServer) -> None:
    ev = run(server, ["good", "german", "copy", "echo"])
    frame = ev.to_pandas().set_index(["candidate", "text"])
    assert not frame.loc["good"][["wrong_language", "copy", "echo"]].any().any()
    assert frame.loc["german", "wrong_language"].all()
    assert frame.loc["german", "flags"].str.contains("looks like de").all()
    assert frame.loc["copy", "copy"].all()
    assert frame.loc["copy", "flags"].str.contains("same as the source").all()
    assert frame.loc["echo", "echo"].all()
    assert frame.loc["echo", "flags"].str.contains("repeats the instructions").all()
    board = ev.leaderboard()
    assert board.loc["good", "flagged"] == 0
    for label, flag in [("german", "wrong_language"), ("copy", "copy"), ("echo", "echo")]:
        assert board.loc[label, flag] == len(PAIRS) and board.loc[label, "flagged"] == len(PAIRS)
    text = repr(ev)
    assert "8 texts × 4 candidates → French" in text and "Winner: good" in text
    assert "TTFT p50 (ms)" in text and "latency p95 (ms)" in text  # the unit, with the figure


def test_truncated_answers_and_missing_terms_are_flagged(server: FakeServer) -> None:
    data = [
        {"source": s, "reference": r, "terms": "gare;demain" if i == 1 else None}
        for i, (s, r) in enumerate(PAIRS)
    ]
    serve(server)
    candidates = [
        preset(server, "good"),
        {"preset": preset(server, "good"), "max_tokens": 3, "label": "short"},
        {"preset": preset(server, "german"), "label": "de"},
    ]
    ev = compat_nb.evaluate(data, candidates, to="French", live=False)
    frame = ev.to_pandas().set_index(["candidate", "text"])
    assert frame.loc["short", "truncated"].all()
    assert frame.loc[("short", 0), "length"]  # 3 words of 9: under half the reference's length
    assert (frame.loc["short", "finish_reason"] == "length").all()
    assert not frame.loc["good", "truncated"].any()
    assert frame.loc[("de", 1), "missing_terms"] and not frame.loc[("good", 1), "missing_terms"]
    assert "gare, demain" in frame.loc[("de", 1), "flags"]
    assert list(ev.leaderboard().index) == ["good", "short", "de"]
    max_tokens = {r.body.get("max_tokens") for r in server.chat_requests()}
    assert max_tokens == {None, 3}


def test_a_judge_scores_each_answer_reference_free_and_is_costed_apart(server: FakeServer) -> None:
    serve(server)
    judge = preset(server, "judge", input_price=1.0, output_price=2.0)
    ev = compat_nb.evaluate(
        SOURCES,
        [preset(server, "good"), preset(server, "german")],
        to="French",
        judge=judge,
        live=False,
    )
    frame = ev.to_pandas()
    assert (frame[frame.candidate == "good"].judge == 95).all()
    assert (frame[frame.candidate == "german"].judge == 30).all()
    board = ev.leaderboard()
    assert board.loc["good", "judge"] == 95 and board.loc["german", "judge"] == 30
    assert ev.winner == "good" and "on judge" in ev.verdict
    assert board["chrF++"].isna().all()  # no references: no reference-based metric
    assert board.loc["good", "judge cost $"] > 0 and board["cost $"].isna().all()
    assert board.loc["good", "judge tokens"] > 0
    judged = [r.body for r in server.chat_requests() if r.body["model"] == "judge"]
    assert len(judged) == 2 * len(SOURCES)
    prompt = judged[0]["messages"][0]["content"]
    assert prompt.startswith("Score the following translation from English to French on a ")
    assert "human reference" not in prompt and judged[0]["temperature"] == 0.0
    # With references, GEMBA-DA's prompt quotes the reference too.
    server.requests.clear()
    compat_nb.evaluate(PAIRS[:1], [preset(server, "good")], to="French", judge=judge, live=False)
    (body,) = [r.body for r in server.chat_requests() if r.body["model"] == "judge"]
    assert f'French human reference: "{FRENCH[PAIRS[0][0]]}"' in body["messages"][0]["content"]


def test_a_failing_candidate_keeps_its_errors_in_its_cells(server: FakeServer) -> None:
    dead = FakeServer().start()
    dead_url = dead.base_url
    dead.stop()  # nothing listens there any more: every request is refused
    serve(server)
    candidates = [preset(server, "good"), compat_nb.Preset("Gone", dead_url, "good")]
    ev = compat_nb.evaluate(PAIRS, candidates, to="French", live=False)
    frame = ev.to_pandas()
    gone = frame[frame.preset == "Gone"]
    assert gone.error.str.contains("Could not connect").all() and not gone.translation.any()
    board = ev.leaderboard()
    assert board.loc["Gone", "errors"] == len(PAIRS)
    assert board.loc["Gone", "chrF++"] == 0  # a failure scores as an empty answer
    assert ev.winner == "good"


def test_unknown_languages_and_bad_settings_are_clear_errors(server: FakeServer) -> None:
    serve(server)
    good = preset(server, "good")
    with pytest.raises(ConfigError, match="Frnch"):
        compat_nb.evaluate(PAIRS, [good], to="Frnch", live=False)
    with pytest.raises(ConfigError, match="runs must be a whole number from 1 to 1000"):
        compat_nb.evaluate(PAIRS, [good], to="French", runs=0, live=False)
    with pytest.raises(ConfigError, match="Candidate 2: Unknown candidate setting"):
        compat_nb.evaluate(PAIRS, [good, {"preset": good, "temp": 1}], to="fr", live=False)
    with pytest.raises(ConfigError, match="Candidate 1"):
        compat_nb.evaluate(PAIRS, ["No Such Preset"], to="fr", live=False)
    assert server.chat_requests() == []


def test_labels_say_what_sets_each_candidate_apart(server: FakeServer) -> None:
    from compat_nb.work.candidates import resolve_candidates

    base = compat_nb.Preset("LM Studio", server.base_url, "qwen2.5-7b")
    other = compat_nb.Preset("Ollama", server.base_url, "llama3.2")
    labels = lambda specs: [c.label for c in resolve_candidates(specs)]  # noqa: E731
    assert labels([base, other]) == ["LM Studio · qwen2.5-7b", "Ollama · llama3.2"]
    assert labels([(base, "a"), (base, "b")]) == ["a", "b"]
    assert labels([{"preset": base, "temperature": 0}, {"preset": base, "temperature": 1}]) == [
        "T=0",
        "T=1",
    ]
    formal = {"preset": base, "system": "formal register", "label": "formal"}
    assert labels([base, formal, base]) == [
        "LM Studio · qwen2.5-7b",
        "formal",
        "LM Studio · qwen2.5-7b (2)",
    ]


def test_candidates_that_answer_alike_are_tied_not_a_winner(server: FakeServer) -> None:
    # The same model under two labels (or two presets of one server at temperature 0) gives the
    # same answers: sacrebleu's bootstrap puts p at 1/1001 there, which would name a winner.
    serve(server)
    same = [preset(server, "good"), {"preset": preset(server, "good"), "label": "again"}]
    ev = compat_nb.evaluate(PAIRS, same, to="French", live=False)
    board = ev.leaderboard()
    assert board["chrF++"].nunique() == 1
    assert board["p vs best (chrF++)"].dropna().tolist() == [1.0]
    assert ev.winner is None and ev.verdict.startswith("No significant winner on chrF++")
    # The judge's means are tested the same way.
    judge = preset(server, "judge")
    ev = compat_nb.evaluate(SOURCES, same, to="French", judge=judge, live=False)
    assert ev.leaderboard()["p vs best (judge)"].dropna().tolist() == [1.0]
    assert ev.winner is None


def test_the_matrix_counts_the_texts_it_leaves_out_in_words(server: FakeServer) -> None:
    from compat_nb.work.leaderboard import matrix_html

    ev = run(server, ["good"])
    assert len(PAIRS) >= 3
    one_left = matrix_html(ev, None, rows=len(PAIRS) - 1)
    assert "… 1 more text: see .to_pandas()" in one_left
    two_left = matrix_html(ev, None, rows=len(PAIRS) - 2)
    assert "… 2 more texts: see .to_pandas()" in two_left
