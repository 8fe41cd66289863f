"""The public API and the magic against llama.cpp's real server with the bundled small model.

One server per session, started through `compat_nb.local.start`; run with `-m real_server`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import compat_nb
import compat_nb.wire.client
from compat_nb import local
from compat_nb.wire.protocol import ChatResult
from compat_nb.work.translation import build_messages

pytestmark = pytest.mark.real_server

SHORT = 32  # max_tokens for ordinary calls: enough for a sentence, quick on 2 cores
LONG_TEXT = (
    "The old lighthouse keeper climbed the spiral stairs every evening at dusk. He polished "
    "the great lens, trimmed the wick and watched the ships pass far out at sea. In winter the "
    "storms shook the tower and the waves broke over the rocks below, but the light never "
    "went out. The villagers said he had not missed a single night in forty years."
)
_ACCESS = re.compile(r'127\.0\.0\.1:(\d+) - "POST /v1/chat/completions HTTP/1\.1" 200')


@pytest.fixture(scope="session")
def local_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[local.LocalStatus]:
    """The bundled server, started once in a private config dir and stopped at the end."""
    if importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"):
        pytest.skip('llama-cpp-python is not installed: pip install -e ".[local]"')
    patch = pytest.MonkeyPatch()
    patch.setenv("COMPAT_NB_CONFIG_DIR", str(tmp_path_factory.mktemp("real-server")))
    status = local.start(timeout=180)
    assert status.running and status.log_path is not None
    version_line = status.log_path.read_text(errors="replace").splitlines()[0]
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:  # past the capture: CI's log shows it
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nreal server: {version_line}")
            reporter.write_line(f"real server: {status} Ready in {status.startup_s} s.")
    try:
        yield status
    finally:
        local.stop()
        patch.undo()


@pytest.fixture(autouse=True)
def config_dir(local_server: local.LocalStatus, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Overrides the suite's per-test config dir: the Local preset must see the session server."""
    assert local_server.log_path is not None
    directory = local_server.log_path.parent
    monkeypatch.setenv("COMPAT_NB_CONFIG_DIR", str(directory))
    client = compat_nb.wire.client.Client()  # a fresh pool per test, so connections can be counted
    monkeypatch.setattr(compat_nb.wire.client, "_client", client)
    yield directory
    client.close()


@pytest.fixture
def ip() -> Any:
    """The global IPython shell with the extension loaded; never unloaded here, because
    `%unload_ext` stops the server this process started (test_unload_ext_stops_... checks it)."""
    from IPython.testing import globalipapp

    globalipapp.start_ipython()  # returns the shell only on its first call in a process
    shell = globalipapp.get_ipython()
    if "compat_nb" not in shell.extension_manager.loaded:
        shell.run_line_magic("load_ext", "compat_nb")
    shell.user_ns.pop("out", None)
    return shell


def _local() -> compat_nb.Preset:
    return compat_nb.get_store().get("Local")


def _log_shows(log: Path, start: int, text: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while True:
        with open(log, encoding="utf-8", errors="replace") as handle:
            handle.seek(start)
            if text in handle.read():
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _access_ports(log: Path, start: int) -> list[int]:
    with open(log, encoding="utf-8", errors="replace") as handle:
        handle.seek(start)
        return [int(port) for port in _ACCESS.findall(handle.read())]


# --- the server and the Local preset -------------------------------------------------------------


def test_local_preset_points_at_the_server_and_start_reuses_it(
    local_server: local.LocalStatus,
) -> None:
    preset = _local()
    assert (preset.base_url, preset.model) == (local_server.base_url, "smollm2-135m")
    again = local.start()
    assert again.pid == local_server.pid and again.base_url == local_server.base_url
    assert str(again).startswith(f"Local server running at {local_server.base_url}")
    # A second kernel finds it through the state file alone.
    seen = subprocess.run(
        [sys.executable, "-c", "from compat_nb import local; print(local.running_endpoint())"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=60,
        check=True,
    )
    assert seen.stdout.strip() == repr((local_server.base_url, "smollm2-135m"))


def test_test_connection_lists_the_model_with_latency(ip: Any, capsys: Any) -> None:
    report = compat_nb.get_client().test_connection(_local())
    assert report.ok, report.error
    assert report.model_ids == ["smollm2-135m"] and report.model_count == 1
    assert report.latency_ms is not None and report.latency_ms > 0
    ip.run_line_magic("translate", "test Local")
    assert "Local: Connected. Found 1 model." in capsys.readouterr().out


# --- translations --------------------------------------------------------------------------------


def test_non_streamed_translation_reports_usage() -> None:
    result = compat_nb.translate("Good morning!", to="French", preset="Local", max_tokens=SHORT)
    assert result.text.strip()
    assert result.model == "smollm2-135m" and result.preset == "Local"
    assert result.usage is not None and result.usage.prompt_tokens
    assert result.usage.completion_tokens and 0 < result.usage.completion_tokens <= SHORT
    assert result.output_tokens == result.usage.completion_tokens and not result.tokens_estimated
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.finish_reason in ("stop", "length")


def test_streamed_translation_estimates_tokens_and_times_sanely() -> None:
    messages = build_messages("The cat is sleeping on the sofa.", to="French")
    deltas: list[str] = []
    final: ChatResult | None = None
    for item in compat_nb.get_client().stream(_local(), messages, max_tokens=SHORT):
        if isinstance(item, str):
            deltas.append(item)
        else:
            final = item
    assert final is not None and deltas
    assert final.text == "".join(deltas) and final.text.strip()
    assert final.model == "smollm2-135m"
    # llama.cpp ignores stream_options and never sends usage: the count is the deltas seen.
    assert final.usage is None and final.tokens_estimated
    assert final.output_tokens == final.chunks and 0 < final.chunks <= SHORT
    assert final.ttft_ms is not None and final.latency_ms is not None
    assert 0 < final.ttft_ms <= final.latency_ms
    assert final.tokens_per_second and final.tokens_per_second > 0


def test_translate_cell_magic_streams_and_prints_the_footer(ip: Any, capsys: Any) -> None:
    ip.run_cell_magic(
        "translate", f"--to French -p Local --max-tokens {SHORT} -o out", "Good morning!\n"
    )
    out = ip.user_ns["out"]
    printed = capsys.readouterr().out
    assert out.text.strip() and out.text.strip() in printed
    assert "Local · smollm2-135m · TTFT" in printed
    assert out.ttft_ms is not None and out.latency_ms is not None
    assert 0 < out.ttft_ms <= out.latency_ms
    assert out.output_tokens and not out.interrupted and out.error is None


def test_two_temperatures_side_by_side() -> None:
    base = _local()
    cold = base.replace(name="Local t=0", temperature=0.0, max_tokens=SHORT)
    hot = base.replace(name="Local t=1.5", temperature=1.5, max_tokens=SHORT)
    comparison = compat_nb.compare(
        "Where is the train station?", presets=[cold, hot], to="French", runs=1
    )
    rows = list(comparison.rows)
    assert [row.preset for row in rows] == ["Local t=0", "Local t=1.5"]
    for row in rows:
        assert row.error is None, row.error
        assert row.text.strip() and row.model == "smollm2-135m"
        assert row.latency_ms is not None and row.latency_ms > 0


# --- Ctrl-C in the middle of a long stream -------------------------------------------------------


# References made for the test: plain French for short sentences.
EVAL_PAIRS = [
    ("Good morning!", "Bonjour !"),
    ("Thank you very much.", "Merci beaucoup."),
    ("Where is the train station?", "Où est la gare ?"),
    ("The cat is sleeping.", "Le chat dort."),
]


def test_evaluate_two_temperatures_scores_ranks_and_plots(
    ip: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.faces import display, live

    store = compat_nb.get_store()
    cold = store.save(_local().replace(name="Local t=0", temperature=0.0, max_tokens=SHORT))
    hot = store.save(_local().replace(name="Local t=1.5", temperature=1.5, max_tokens=SHORT))
    bundles: list[dict[str, str]] = []

    class Handle:
        def update(self, bundle: dict[str, str], raw: bool = False) -> None:
            bundles.append(bundle)

    monkeypatch.setattr(live, "show", lambda bundle: bundles.append(bundle) or Handle())
    monkeypatch.setattr(display, "in_kernel", lambda: True)
    ev = compat_nb.evaluate(EVAL_PAIRS, [cold, hot], to="French")
    assert ev.labels == ["Local t=0", "Local t=1.5"] and ev.complete
    for cell in ev.cells:
        assert cell.ok and cell.text.strip(), cell.error
        assert cell.ttft_ms is not None and cell.latency_ms is not None
        assert 0 < cell.ttft_ms <= cell.latency_ms and cell.finish_reason in ("stop", "length")
    board = ev.leaderboard()
    assert set(board.index) == {"Local t=0", "Local t=1.5"}
    assert board["chrF++"].between(0, 100).all() and board["answers"].tolist() == [4, 4]
    assert (board["latency p50 ms"] > 0).all() and ev.verdict
    # The live matrix was shown, then replaced by the matrix, the verdict and the leaderboard.
    assert "Evaluating: 0 / 8 answers" in bundles[0]["text/plain"]
    assert bundles[-1]["text/html"] == ev._repr_html_() and ev.verdict in bundles[-1]["text/plain"]
    figure = ev.plot()
    assert len(figure.axes) == 2 and len(figure.axes[0].texts) == 2
    # The cell form on the same texts: every answer comes from the cache, none is asked again.
    monkeypatch.setattr(display, "in_kernel", lambda: False)
    lines = "\n".join(f"{s} ||| {r}" for s, r in EVAL_PAIRS)
    ip.run_cell_magic("translate", '--eval -p "Local t=0" -p "Local t=1.5" -t French -o ev2', lines)
    again = ip.user_ns["ev2"]
    assert (
        again.cached == 8
        and again.to_pandas().translation.tolist() == ev.to_pandas().translation.tolist()
    )
    assert "4 texts × 2 candidates → French, 8 from the cache" in capsys.readouterr().out


def test_interrupting_a_long_stream_keeps_the_partial_and_the_client_works(
    local_server: local.LocalStatus,
) -> None:
    assert local_server.log_path is not None
    offset = local_server.log_path.stat().st_size
    client = compat_nb.get_client()
    messages = build_messages(LONG_TEXT, to="German")
    stream = client.stream(_local(), messages, max_tokens=400)
    partial: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        try:
            for item in stream:
                assert isinstance(item, str), "the stream finished before the interrupt"
                partial.append(item)
                if len(partial) == 5:
                    raise KeyboardInterrupt  # what Ctrl-C raises inside the loop
        finally:
            stream.close()
    assert len(partial) == 5 and "".join(partial).strip()
    # The response was closed, so the server saw the disconnect and stopped generating.
    assert _log_shows(local_server.log_path, offset, "Disconnected from client")
    after = compat_nb.translate("Thank you.", to="French", preset="Local", max_tokens=SHORT)
    assert after.text.strip() and after.usage is not None


def test_interrupting_the_magic_keeps_the_partial_translation(
    ip: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.faces.display import StreamDisplay

    original = StreamDisplay.append
    seen: list[str] = []

    def append_then_interrupt(self: StreamDisplay, delta: str) -> None:
        original(self, delta)
        seen.append(delta)
        if len(seen) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(StreamDisplay, "append", append_then_interrupt)
    ip.run_cell_magic("translate", "--to German -p Local --max-tokens 400 -o out", LONG_TEXT)
    out = ip.user_ns["out"]
    assert out.interrupted and out.text == "".join(seen) and out.text.strip()
    assert "Interrupted" in capsys.readouterr().err
    monkeypatch.undo()
    ip.run_cell_magic("translate", f"--to French -p Local --max-tokens {SHORT} -o out", "Hello.")
    again = ip.user_ns["out"]
    assert again.text.strip() and not again.interrupted and again.error is None


# --- connection reuse ----------------------------------------------------------------------------


def test_twenty_sequential_translations_reuse_one_connection(
    local_server: local.LocalStatus,
) -> None:
    log = local_server.log_path
    assert log is not None
    start = log.stat().st_size
    results = [
        compat_nb.translate(f"Sentence number {n}.", to="French", preset="Local", max_tokens=8)
        for n in range(20)
    ]
    assert all(r.usage and r.usage.completion_tokens for r in results)
    # uvicorn's access log names the client's address: one connection means one source port.
    deadline = time.monotonic() + 10
    ports = _access_ports(log, start)
    while len(ports) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
        ports = _access_ports(log, start)
    assert len(ports) == 20
    assert len(set(ports)) == 1, f"{len(set(ports))} connections were opened"


# --- lifecycle (last: these stop and restart the server) ----------------------------------------


def test_unload_ext_stops_the_server_this_process_started(ip: Any, capsys: Any) -> None:
    assert local.start().owned  # reused: this process started it
    ip.run_line_magic("translate", "local status")
    assert "Local server running at" in capsys.readouterr().out
    ip.run_line_magic("unload_ext", "compat_nb")
    assert not local.status().running and local.running_endpoint() is None
    assert _local().base_url == ""
    ip.run_line_magic("load_ext", "compat_nb")


def test_a_failed_start_says_why_and_the_next_start_works(
    ip: Any, capsys: Any, tmp_path: Path
) -> None:
    local.stop()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(local.LocalServerError, match="is taken by another program"):
            local.start(port=taken.getsockname()[1])
    with pytest.raises(local.LocalServerError, match="does not exist"):
        local.start(model=str(tmp_path / "missing.gguf"))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really a model")
    with pytest.raises(UsageError) as failed:  # the magic shows the message, no traceback
        ip.run_line_magic("translate", f"local start --model {broken}")
    message = str(failed.value)
    assert "exited with code" in message and "Last lines of" in message
    assert "llama_cpp version" in message or "Failed to load model" in message
    assert "Traceback" not in message and '  File "' not in message  # the exception's line only
    assert not local.status().running
    ip.run_line_magic("translate", "local start")
    assert "Local server running at" in capsys.readouterr().out
    assert compat_nb.get_client().test_connection(_local()).ok


def test_a_notebook_translated_by_the_bundled_model_keeps_code_and_outputs(
    tmp_path: Path,
) -> None:
    """Whatever a 135M model writes, the notebook validates, its code is AST-equal (comments
    translated), outputs and attachments are unchanged, and it runs to the same outputs."""
    import shutil

    import nbformat
    from nbclient import NotebookClient

    from compat_nb.work.code_comments import same_code
    from compat_nb.work.notebooks import translate_notebooks

    fixtures = Path(__file__).parent / "fixtures" / "notebooks"
    shutil.copytree(fixtures, tmp_path / "docs")
    lesson = tmp_path / "docs" / "lesson.ipynb"
    preset = _local().replace(max_tokens=96, temperature=0.0)
    (report,) = translate_notebooks([lesson], to="fr", preset=preset, comments=True)

    assert report.output is not None and report.pieces > 0
    assert len(report.failed) < report.pieces  # the model answered, at least in part
    before = nbformat.read(lesson, as_version=4)
    after = nbformat.read(report.output, as_version=4)
    nbformat.validate(after)
    for a, b in zip(before.cells, after.cells, strict=True):
        assert (a.get("outputs"), a.get("attachments"), a.id) == (
            b.get("outputs"),
            b.get("attachments"),
            b.id,
        )
        if a.cell_type == "code":
            assert same_code(a.source, b.source)
        elif a.cell_type == "raw":
            assert a.source == b.source
    for cell in after.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(after, kernel_name="python3", timeout=60).execute()
    ran = [c.outputs for c in after.cells if c.cell_type == "code"]
    assert ran == [c.outputs for c in before.cells if c.cell_type == "code"]
