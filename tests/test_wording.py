"""One wording per failure: a failure reads the same wherever a user meets it.

Each kind (connection refused, 401, 404 model, 500, timeout) is made for real against the
loopback server, then driven through every entry point a user has: a single translation, a
comparison column, a long text's piece marker, translate_many's warning, an evaluation cell
and a notebook's piece marker; from terminal IPython (cells and `%translate` commands) and
from plain Python. Each place may frame the message (a marker, a count of failures), but the
CompatError's own message must appear in it word for word.
"""

from __future__ import annotations

import json
import re
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from server import FakeServer

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import get_store
from compat_nb.work.chunking import clear_cache

TEXT = "Hello there."
LONG = "The first paragraph, long enough to be a piece.\n\nThe second paragraph, another piece."
# What each kind's message must say, whatever the entry point: the cause, in the user's words.
SAYS = {
    "refused": "Could not connect to http://127.0.0.1:{port}/v1 — is the server running? "
    "(Connection refused)",
    "401": "Server reachable, key rejected (401)",
    "404 model": "Model 'no-such-model' not found",
    "500": "Server error 500",
    "timeout": "did not answer within 0.4 s",
}
KINDS = list(SAYS)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_failure(kind: str, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Save "Bad" as the active preset, whose every translation request fails as `kind`;
    returns what the failure's message must say."""
    port = closed_port()
    preset = Preset("Bad", server.base_url, "test-model")
    if kind == "refused":
        preset = preset.replace(base_url=f"http://127.0.0.1:{port}/v1")
    elif kind == "401":
        server.api_key = "sk-right-0123456789abcdef"
        monkeypatch.setenv("WORDING_KEY", "sk-wrong-0123456789abcdef")
        preset = preset.replace(api_key_env="WORDING_KEY")
    elif kind == "404 model":
        preset = preset.replace(model="no-such-model")
        server.inject("404_model", times=10_000, path="/chat/completions")
    elif kind == "500":
        server.inject("500", times=10_000, path="/chat/completions")
    else:
        server.delay = 2.0
        preset = preset.replace(timeout=0.4)
    get_store().save(preset)
    get_store().use("Bad")
    clear_cache()  # pieces translated by another test must not hide this failure
    return SAYS[kind].format(port=port)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def a_notebook(folder: Path) -> Path:
    path = folder / "lesson.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(TEXT), nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, path)
    return path


def notebook_marker(path: Path) -> str:
    cell = nbformat.read(path, as_version=4).cells[0].source
    found = re.search(r"<!-- compat_nb: not translated: (.*?) -->", cell)
    assert found, cell
    return found.group(1)


def piece_markers(text: str) -> list[str]:
    return re.findall(r"> ⚠ piece \d+ failed: (.*)", text)


# --- terminal IPython: what a user types in cells -----------------------------------------------


def run(ip: Any, capsys: pytest.CaptureFixture[str], cell: str) -> tuple[Any, str]:
    result = ip.run_cell(cell)
    captured = capsys.readouterr()
    return result, captured.out + captured.err


def in_terminal(ip: Any, capsys: Any, tmp_path: Path, kind: str) -> Iterator[tuple[str, str]]:
    """(entry point, the wording the user is shown there) for each entry point."""
    result, out = run(ip, capsys, f"%%translate -t French -o single\n{TEXT}")
    error = result.error_in_exec
    assert isinstance(error, compat_nb.CompatError), (error, out)
    assert error.message in one_line(out) or one_line(error.message) in one_line(out)
    yield "single translation", error.message
    assert ip.user_ns["single"].error == error.message  # -o keeps it with the partial text

    result, out = run(ip, capsys, f"%%translate -t French --runs 2 -o cmp\n{TEXT}")
    rows = ip.user_ns["cmp"].rows
    assert len(rows) == 2 and all(r.error == rows[0].error for r in rows)
    yield "comparison column", rows[0].error
    yield "comparison column (shown)", re.findall(r"⚠ (.*)", out)[0]

    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 60")
    result, out = run(ip, capsys, f"%%translate -t French\n{LONG}")
    markers = piece_markers(out)
    assert len(markers) == 2, out
    for marker in markers:
        yield "long-text piece marker", marker
    ip.run_line_magic("config", "TranslateMagics.chunk_chars = 4000")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ip.user_ns["pd"] = pd
        result, _out = run(
            ip,
            capsys,
            "compat_nb_out = __import__('compat_nb').translate_many("
            f"pd.Series([{TEXT!r}]), to='French')",
        )
    (warning,) = [w for w in caught if "texts failed" in str(w.message)]
    yield "translate_many warning", str(warning.message).split("First: ", 1)[1]

    result, out = run(ip, capsys, f"%%translate --eval -p Bad -t French -o ev\n{TEXT}")
    assert result.error_in_exec is None, result.error_in_exec
    (cell,) = ip.user_ns["ev"].to_pandas()["error"].tolist()
    yield "evaluation cell", cell

    path = a_notebook(tmp_path)
    result, out = run(ip, capsys, f"%translate notebook {path} --to fr -p Bad")
    yield "notebook piece marker", notebook_marker(path.with_name("lesson.fr.ipynb"))

    if kind in ("refused", "401"):  # the failures a model list meets too
        result, out = run(ip, capsys, "%translate test Bad")  # a report: printed, not raised
        yield "%translate test", one_line(out).removeprefix("Bad: ")
        result, out = run(ip, capsys, "%translate models Bad")  # raised, as a request raises
        assert type(result.error_in_exec) is type(error), (result.error_in_exec, error)
        yield "%translate models", result.error_in_exec.message


# --- plain Python --------------------------------------------------------------------------------


def in_python(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with pytest.raises(compat_nb.CompatError) as raised:
        compat_nb.translate(TEXT, to="French")
    yield "single translation", raised.value.message
    comparison = compat_nb.compare(TEXT, to="French", runs=2)
    yield "comparison column", comparison.rows[0].error
    (long,) = compat_nb.translate_many([LONG], to="French", chunk_chars=60)
    for marker in piece_markers(long.text):
        yield "long-text piece marker", marker
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat_nb.translate_many(pd.Series([TEXT]), to="French")
    (warning,) = [w for w in caught if "texts failed" in str(w.message)]
    yield "translate_many warning", str(warning.message).split("First: ", 1)[1]
    evaluation = compat_nb.evaluate([TEXT], candidates=["Bad"], to="French", judge=None)
    yield "evaluation cell", evaluation.to_pandas()["error"].tolist()[0]
    path = a_notebook(tmp_path)
    compat_nb.translate_notebook(path, to="fr")
    yield "notebook piece marker", notebook_marker(path.with_name("lesson.fr.ipynb"))


def check_one_wording(kind: str, says: str, seen: list[tuple[str, str]]) -> None:
    first_place, first = seen[0]
    assert says in first, (kind, first)
    places = {place for place, _ in seen}
    assert len(places) >= 6, places
    different = [(p, w) for p, w in seen if one_line(w) != one_line(first)]
    assert not different, json.dumps(
        {"kind": kind, first_place: first, **dict(different)}, indent=1, ensure_ascii=False
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_reads_the_same_at_every_entry_point_in_terminal_ipython(
    kind: str,
    ip: Any,
    server: FakeServer,
    capsys: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    says = make_failure(kind, server, monkeypatch)
    check_one_wording(kind, says, list(in_terminal(ip, capsys, tmp_path, kind)))


@pytest.mark.parametrize("kind", KINDS)
def test_a_failure_reads_the_same_at_every_entry_point_in_python(
    kind: str, server: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython

    # Plain Python: no shell (one left by another test would make it terminal IPython).
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    says = make_failure(kind, server, monkeypatch)
    seen = list(in_python(tmp_path))
    check_one_wording(kind, says, seen)
    # Python gets Python advice, never a `%translate` command it could not run.
    assert all("%translate" not in wording for _, wording in seen), seen[0]


def test_translate_and_atranslate_word_a_refused_connection_alike(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync client and the async one see a refused connection through different socket
    layers (one error, or "All connection attempts failed" around it): one wording."""
    from compat_nb.wire.aio import run_sync

    make_failure("refused", server, monkeypatch)
    with pytest.raises(compat_nb.CompatError) as sync:
        compat_nb.translate(TEXT, to="French")
    with pytest.raises(compat_nb.CompatError) as asynchronous:
        run_sync(compat_nb.atranslate(TEXT, to="French"))
    assert sync.value.message == asynchronous.value.message
    assert "(Connection refused)" in sync.value.message


def test_a_notebook_marker_keeps_the_message_but_never_ends_its_comment_early(
    server: FakeServer, tmp_path: Path
) -> None:
    """The marker is an HTML comment: `--` stays as typed (`--timeout`), while a server's
    `-->` (or `<!--`, `--!>`) in the message cannot close or open one."""
    said = "upstream said --> here, <!-- there --!> and --timeout"
    server.inject("500", times=10_000, path="/chat/completions", body={"error": {"message": said}})
    get_store().save(Preset("Bad", server.base_url, "test-model"))
    path = a_notebook(tmp_path)
    compat_nb.translate_notebook(path, to="fr", preset="Bad")
    source = nbformat.read(path.with_name("lesson.fr.ipynb"), as_version=4).cells[0].source
    first_line, rest = source.split("\n", 1)
    assert first_line.startswith("<!-- compat_nb: not translated: Server error 500")
    assert first_line.endswith(" -->") and first_line.count("-->") == 1
    assert first_line.count("<!--") == 1 and "--!>" not in first_line
    assert "--timeout" in first_line and rest == TEXT
