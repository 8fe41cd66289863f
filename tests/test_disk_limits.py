"""A write that the disk refuses (full, over quota, past `ulimit -f`) is one message naming
the file, the cause and the fix, and loses nothing: presets.json keeps what it held, a
notebook's translation is not half-written, an evaluation stays in memory. An output that is
a device or a pipe is never replaced by a file; a linked output is written through its link.

Each case runs in a child Python whose file-size limit (RLIMIT_FSIZE, what `ulimit -f` sets)
is a few kilobytes: writes past it fail with EFBIG, as on a full disk (Python ignores the
SIGXFSZ that would otherwise end the process). The model server is the loopback test server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from server import FakeServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")

LIMIT = 8192  # bytes: the small files fit, a 20 KB prompt or notebook does not


def run_limited(code: str, config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run code in a child Python; it calls limit() where writes start to fail."""
    script = textwrap.dedent(
        f"""
        import resource, warnings
        import compat_nb
        from compat_nb.errors import CompatError
        warnings.simplefilter("ignore")  # the history may not be writable either: it warns
        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, {LIMIT}))
        """
    ) + textwrap.dedent(code)
    env = {**__import__("os").environ, "COMPAT_NB_CONFIG_DIR": str(config)}
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )


def test_saving_a_preset_past_the_limit_names_it_and_keeps_the_file(
    server: FakeServer, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    first = run_limited(
        f"limit(); compat_nb.get_store().save(compat_nb.Preset('small', {server.base_url!r}, 'm'))",
        config,
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    before = (config / "presets.json").read_text()
    big = run_limited(
        f"""
        limit()
        try:
            compat_nb.get_store().save(
                compat_nb.Preset('big', {server.base_url!r}, 'm', system_prompt='x' * 20000)
            )
        except CompatError as exc:
            print(exc)
        """,
        config,
        tmp_path,
    )
    assert "Traceback" not in big.stderr, big.stderr
    assert "file-size limit" in big.stdout and str(config) in big.stdout
    assert (config / "presets.json").read_text() == before


def test_a_notebook_that_cannot_be_written_says_why_and_leaves_no_half_file(
    server: FakeServer, tmp_path: Path
) -> None:
    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "word " * 4000}]
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "lesson.ipynb").write_text(json.dumps(notebook))
    done = run_limited(
        f"""
        preset = compat_nb.Preset('p', {server.base_url!r}, 'm')
        limit()
        try:
            compat_nb.translate_notebook('lesson.ipynb', to='fr', preset=preset)
        except CompatError as exc:
            print(exc)
        """,
        tmp_path / "config",
        tmp_path,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Could not write" in done.stdout and "lesson.fr.ipynb" in done.stdout
    assert "file-size limit" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "lesson.ipynb"]


def test_an_evaluation_file_that_cannot_be_written_says_why(
    server: FakeServer, tmp_path: Path
) -> None:
    done = run_limited(
        f"""
        preset = compat_nb.Preset('p', {server.base_url!r}, 'm')
        pairs = [('word ' * 400 + str(i), 'mot ' * 400) for i in range(8)]
        ev = compat_nb.evaluate(pairs, [preset], to='French', live=False)
        limit()
        try:
            ev.to_csv('scores.csv')
        except CompatError as exc:
            print(exc)
        print(len(ev.records()))
        """,
        tmp_path / "config",
        tmp_path,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "Could not write" in done.stdout and "scores.csv" in done.stdout
    assert done.stdout.split()[-1] == "8"  # the evaluation is still there to save elsewhere
    assert not (tmp_path / "scores.csv").exists()


def test_an_evaluation_with_no_room_for_the_language_model_says_where(
    server: FakeServer, tmp_path: Path
) -> None:
    done = run_limited(
        f"""
        preset = compat_nb.Preset('p', {server.base_url!r}, 'm')
        limit()
        try:
            compat_nb.evaluate([('Hello', 'Bonjour')], [preset], to='French', live=False)
        except CompatError as exc:
            print(exc)
        """,
        tmp_path / "config",
        tmp_path,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "py3langid" in done.stdout and "TMPDIR" in done.stdout


def test_an_output_that_is_a_device_or_a_link_is_handled_without_replacing_it(
    server: FakeServer, tmp_path: Path
) -> None:
    """A device is never replaced by a file, even with force; a link is written through."""
    import compat_nb
    from compat_nb.errors import ConfigError

    cells = [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "Hello"}]
    source = tmp_path / "lesson.ipynb"
    source.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    preset = compat_nb.Preset("p", server.base_url, "m")
    fifo = tmp_path / "pipe.ipynb"
    __import__("os").mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        compat_nb.translate_notebook(source, to="fr", preset=preset, output=fifo, force=True)
    assert fifo.is_fifo()
    real = tmp_path / "kept" / "real.ipynb"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.ipynb"
    link.symlink_to(real)
    compat_nb.translate_notebook(source, to="fr", preset=preset, output=link, force=True)
    assert link.is_symlink() and "TRANSLATED: Hello" in real.read_text()
