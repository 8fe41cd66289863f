"""What `%translate local start --model PATH` is given is checked before a server is launched,
and a server that fails to start is described by its log without a Python traceback.

(Starting the real server on a broken GGUF file is in test_real_server.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from compat_nb import local
from compat_nb.local import process

LOG_WITH_TRACEBACK = """\
llama_cpp version 0.3.36 from /site-packages/llama_cpp
gguf_init_from_reader: invalid magic characters: 'sour', expected 'GGUF'
llama_model_load: error loading model: llama_model_loader: failed to load model from /x.csv
Traceback (most recent call last):
  File "<frozen runpy>", line 88, in _run_code
  File "/site-packages/llama_cpp/llama.py", line 388, in __init__
    internals.LlamaModel(
    ^^^^^^^^^^^^^^^^^^^^^
KeyError: 'first'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/site-packages/llama_cpp/_internals.py", line 62, in __init__
    raise ValueError(f"Failed to load model from file: {path_model}")
ValueError: Failed to load model from file: /x.csv
"""


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records any launch: a file refused up front must never start a server."""
    calls: list[Any] = []

    def launch(*args: Any) -> Any:
        calls.append(args)
        raise AssertionError("a server was launched")

    monkeypatch.setattr(local, "launch", launch)
    return calls


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"source,reference\nHello,Bonjour\n", "is not a GGUF model file"),
        (b"", "is not a GGUF model file"),
        (None, "is a folder"),
        ("missing", "does not exist"),
    ],
)
def test_a_model_that_is_no_gguf_file_is_refused_before_launching(
    tmp_path: Path, launched: list[Any], content: Any, expected: str
) -> None:
    path = tmp_path / "model.gguf"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(local.LocalServerError) as info:
        local.start(model=str(path))
    assert expected in str(info.value) and str(path) in str(info.value)
    assert "GGUF file" in str(info.value) and not launched


def test_an_unreadable_model_file_says_so(
    tmp_path: Path, launched: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    real_open = open

    def refusing(file: Any, *args: Any, **kwargs: Any) -> Any:
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing)
    with pytest.raises(local.LocalServerError) as info:
        local.start(model=str(path))
    assert "cannot be read (Permission denied)" in str(info.value) and not launched


def test_the_magic_shows_a_refused_file_as_one_line(ip: Any, tmp_path: Path) -> None:
    path = tmp_path / "terms.csv"
    path.write_text("source,target\n", encoding="utf-8")
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("translate", f"local start --model {path}")
    assert "is not a GGUF model file" in str(info.value) and "\n" not in str(info.value)


def test_a_failed_start_shows_llamas_lines_and_the_exception_not_the_traceback(
    tmp_path: Path,
) -> None:
    log = tmp_path / "local-server.log"
    log.write_text(LOG_WITH_TRACEBACK, encoding="utf-8")
    shown = process.log_excerpt(log)
    assert "invalid magic characters: 'sour', expected 'GGUF'" in shown
    assert shown.endswith("ValueError: Failed to load model from file: /x.csv")
    assert "KeyError: 'first'" in shown  # each exception of a chain keeps its line
    assert "Traceback" not in shown and 'File "' not in shown and "^^^" not in shown
    assert "During handling" not in shown
    message = str(local._failure("the server process exited with code 1", log))
    assert message.startswith("The local server did not start: the server process exited")
    assert "Traceback" not in message and shown in message
