"""How an evaluation runs: the persisted cache (re-runs, resume after a kill, refresh, runs),
the per-server bound, history, secrets, and Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from conftest import MARKER_KEY
from evaluate_support import PAIRS, SOURCES, preset, serve
from server import FakeServer

import compat_nb
from compat_nb.work.cache import TranslationCache


def test_a_rerun_is_served_from_the_cache_and_refresh_asks_again(server: FakeServer) -> None:
    serve(server)
    candidates = [preset(server, "good"), preset(server, "german")]
    first = compat_nb.evaluate(PAIRS, candidates, to="French", live=False)
    assert len(server.chat_requests()) == 16 and first.cached == 0
    again = compat_nb.evaluate(PAIRS, candidates, to="French", live=False)
    assert len(server.chat_requests()) == 16 and again.cached == 16
    assert again.to_pandas().translation.tolist() == first.to_pandas().translation.tolist()
    assert again.leaderboard()["chrF++"].tolist() == first.leaderboard()["chrF++"].tolist()
    # Timings are the ones measured when the answers were fetched.
    assert again.to_pandas().latency_ms.tolist() == first.to_pandas().latency_ms.tolist()
    compat_nb.evaluate(PAIRS, candidates, to="French", live=False, refresh=True)
    assert len(server.chat_requests()) == 32
    # A language by tag or by name is the same prompt: the same cached answers.
    assert compat_nb.evaluate(PAIRS, candidates, to="fr", live=False).cached == 16
    assert len(server.chat_requests()) == 32
    # A new setting is a new request; the unchanged candidate still comes from the cache.
    changed = [candidates[0], {"preset": candidates[1], "temperature": 0.3}]
    compat_nb.evaluate(PAIRS, changed, to="French", live=False)
    assert len(server.chat_requests()) == 40


def test_a_text_that_appears_twice_is_asked_once(server: FakeServer) -> None:
    serve(server)
    for dask in (False, 2):  # on Dask's threads too
        data = PAIRS + PAIRS[:3]
        ev = compat_nb.evaluate(
            data, [preset(server, "good")], to="French", live=False, dask=dask, refresh=True
        )
        assert len(server.chat_requests()) == len(PAIRS) and len(ev.cells) == len(PAIRS) + 3
        assert all(c.ok for c in ev.cells) and ev.leaderboard().loc["good", "chrF++"] == 100
        server.requests.clear()


def test_each_run_is_its_own_sample_and_cached_apart(server: FakeServer) -> None:
    serve(server)
    ev = compat_nb.evaluate(PAIRS[:3], [preset(server, "good")], to="French", runs=3, live=False)
    assert len(server.chat_requests()) == 9 and len(ev.cells) == 9
    assert sorted(ev.to_pandas().run.unique()) == [1, 2, 3]
    compat_nb.evaluate(PAIRS[:3], [preset(server, "good")], to="French", runs=4, live=False)
    assert len(server.chat_requests()) == 12  # only run 4 was new
    assert "× 3 runs" in repr(ev)


# Run in a child process that the test kills half-way, as a crashed kernel would be killed.
CHILD = textwrap.dedent(
    """
    import sys
    import compat_nb
    texts = [f"Sentence number {i} for the evaluation that gets killed." for i in range(40)]
    candidates = [compat_nb.Preset(m, sys.argv[1], m) for m in ("a", "b")]
    compat_nb.evaluate(texts, candidates, to="French", concurrency=2, live=False)
    """
)


def test_killed_half_way_a_rerun_fetches_only_the_missing_answers(
    server: FakeServer, config_dir: Path
) -> None:
    server.delay = 0.05  # about 2 s for the 80 answers, two at a time
    env = {**os.environ, "COMPAT_NB_CONFIG_DIR": str(config_dir)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, server.base_url], env=env)
    try:
        deadline = time.monotonic() + 60
        while len(server.chat_requests()) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    sent_before = len(server.chat_requests())
    kept = len(TranslationCache(config_dir / "cache.sqlite"))
    assert 28 <= kept <= sent_before < 80
    assert sent_before - kept <= 2  # at most the requests in flight were lost
    server.requests.clear()
    server.delay = 0.0
    texts = [f"Sentence number {i} for the evaluation that gets killed." for i in range(40)]
    candidates = [compat_nb.Preset(m, server.base_url, m) for m in ("a", "b")]
    ev = compat_nb.evaluate(texts, candidates, to="French", live=False)
    assert len(server.chat_requests()) == 80 - kept
    assert ev.cached == kept and ev.complete and all(c.ok for c in ev.cells)


def test_requests_in_flight_are_bounded_per_server(server: FakeServer) -> None:
    other = FakeServer().start()
    active: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()

    def slow(body: dict[str, object]) -> str:
        model = str(body["model"])
        with lock:
            active[model] = active.get(model, 0) + 1
            most[model] = max(most.get(model, 0), active[model])
        time.sleep(0.05)
        with lock:
            active[model] -= 1
        return "Bonjour."

    server.reply = other.reply = slow
    try:
        candidates = [preset(server, "here"), compat_nb.Preset("there", other.base_url, "there")]
        compat_nb.evaluate(SOURCES, candidates, to="French", concurrency=3, live=False)
    finally:
        other.stop()
    # Each server had exactly its bound in flight at its busiest, both at the same time.
    assert most == {"here": 3, "there": 3}


def test_history_records_the_run_and_no_key_is_stored(
    server: FakeServer, config_dir: Path, monkeypatch: object
) -> None:
    serve(server)
    server.api_key = MARKER_KEY
    keyed = compat_nb.Preset("Keyed", server.base_url + f"?key={MARKER_KEY}", "good")
    keyed = keyed.replace(api_key=MARKER_KEY, headers={"X-Team": "eval"})
    judge = keyed.replace(name="Judge", model="judge")
    ev = compat_nb.evaluate(PAIRS[:2], [keyed], to="French", judge=judge, live=False)
    assert all(c.ok for c in ev.cells) and ev.to_pandas().judge.tolist() == [95, 95]
    rows = compat_nb.history(limit=10)
    assert sorted(r["kind"] for r in rows) == ["evaluate", "evaluate", "judge", "judge"]
    assert len({r["comparison"] for r in rows}) == 1
    for name in ("cache.sqlite", "cache.sqlite-wal", "history.sqlite", "history.sqlite-wal"):
        path = config_dir / name
        assert not path.exists() or MARKER_KEY.encode() not in path.read_bytes(), name
    assert MARKER_KEY not in repr(ev) + ev._repr_html_() + ev.to_pandas().to_csv()


def test_inside_dask_the_same_evaluation_gives_the_same_results(server: FakeServer) -> None:
    import distributed

    serve(server)
    candidates = [preset(server, "good"), preset(server, "german")]
    judge = preset(server, "judge")
    here = compat_nb.evaluate(PAIRS, candidates, to="French", judge=judge, live=False, cache=False)
    server.requests.clear()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        there = compat_nb.evaluate(
            PAIRS, candidates, to="French", judge=judge, live=False, dask=True
        )
        pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids
    assert len(server.chat_requests()) == 32 and there.cached == 0  # 16 answers, 16 judgements
    columns = ["candidate", "text", "translation", "flags", "chrF++", "BLEU", "TER", "judge"]
    assert there.to_pandas()[columns].equals(here.to_pandas()[columns])
    assert there.leaderboard()["chrF++"].tolist() == here.leaderboard()["chrF++"].tolist()
    assert there.winner == here.winner == "good"
    # The answers came back to this process's cache: a re-run here asks for nothing.
    again = compat_nb.evaluate(PAIRS, candidates, to="French", judge=judge, live=False)
    assert again.cached == 16 and len(server.chat_requests()) == 32
    # Without a distributed Client, Dask's own threads send the partitions.
    threads = compat_nb.evaluate(
        PAIRS, candidates, to="French", judge=judge, live=False, dask=3, refresh=True
    )
    assert len(server.chat_requests()) == 64
    assert threads.to_pandas()[columns].equals(here.to_pandas()[columns])
