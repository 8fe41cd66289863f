"""The README's two commands: CI extracts them verbatim, and the main job fails loudly.

`.ci/run` runs both in fresh virtual environments; these tests pin what it relies on: the
extraction (and its refusals), and the quickstart run as a script exiting non-zero unless a
translation came back.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _load(path: str, name: str) -> Any:
    """A script of .ci/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readme_commands = _load(".ci/readme_commands.py", "readme_commands")


def test_the_readme_holds_the_main_job_then_the_tests() -> None:
    main, tests = readme_commands.commands(README.read_text(encoding="utf-8"))
    # The main job needs no test extra: CI runs it in a venv where nothing else is installed.
    assert re.search(r'pip install -e "\.\[local\]"', main) and "test" not in main
    assert "ipython notebooks/quickstart.ipynb" in main
    assert re.search(r'pip install -e "\.\[local,test\]"', tests) and "pytest" in tests
    for command in (main, tests):  # the portable llama.cpp build, so the wheel cache is shared
        assert command.startswith('CMAKE_ARGS="-DGGML_NATIVE=OFF')


def test_the_command_line_tool_prints_each_command(tmp_path: Path) -> None:
    script = ROOT / ".ci/readme_commands.py"
    run = subprocess.run(
        [sys.executable, str(script), str(README), "2"], capture_output=True, text=True, check=True
    )
    assert run.stdout.strip() == readme_commands.commands(README.read_text())[1]
    bad = subprocess.run(
        [sys.executable, str(script), str(README), "3"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "N must be 1 or 2" in bad.stderr


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("# x\n\n## Install\n\n```bash\npip install a\n```\n", "no 'Two commands' heading"),
        ("## Two commands\n\n```bash\npip install a\n```\n\n## Next\n", "holds 1 ```bash"),
        (
            "## Two commands\n\n```bash\na\n```\n\n```bash\nb\n```\n\n```bash\nc\n```\n",
            "holds 3 ```bash",
        ),
        ("## Two commands\n\n```bash\na\nb\n```\n\n```bash\nc\n```\n", "several lines"),
        ("## Two commands\n\n```bash\n\n```\n\n```bash\nc\n```\n", "is empty"),
        ("## Two commands\n\n```bash\na\n", "never closed"),
    ],
)
def test_extraction_refuses_a_readme_it_cannot_read_for_sure(text: str, why: str) -> None:
    with pytest.raises(readme_commands.ReadmeError, match=re.escape(why)):
        readme_commands.commands(text)


def test_extraction_reads_only_its_own_section_and_skips_other_blocks() -> None:
    text = (
        "## Two commands\n\nInstall:\n\n```python\nprint('not a command')\n```\n\n"
        "```bash\n# a comment\nfirst \\\n  --flag\n```\n\n### Detail\n\n```sh\nsecond\n```\n\n"
        "## Tour\n\n```bash\nthird\n```\n"
    )
    assert readme_commands.commands(text) == ["first    --flag", "second"]


# --- the main job, run as a script ----------------------------------------------------------------


def _run_quickstart(url: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMPAT_NB_DEMO_URL": url, "COMPAT_NB_CONFIG_DIR": str(config)}
    return subprocess.run(
        [sys.executable, "-m", "IPython", "notebooks/quickstart.ipynb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_quickstart_script_prints_translations_with_footers(
    server: Any, tmp_path: Path
) -> None:
    run = _run_quickstart(server.base_url, tmp_path / "config")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    footer = next(
        i for i, line in enumerate(lines) if line.startswith("— Demo · test-model · TTFT")
    )
    assert lines[footer - 1].startswith("TRANSLATED: Good morning!")
    assert "Quickstart done: two translations." in run.stdout


def test_the_quickstart_script_fails_loudly_when_nothing_answers(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    run = _run_quickstart(dead, tmp_path / "config")
    assert run.returncode != 0
    assert "Could not connect" in run.stdout + run.stderr
    assert "Quickstart done" not in run.stdout


def test_the_quickstart_script_fails_when_the_answer_is_the_text_itself(
    server: Any, tmp_path: Path
) -> None:
    # A model that echoes its input made no translation: the last cell says so and fails.
    def echo(body: dict[str, Any]) -> str:
        return str(body["messages"][-1]["content"])

    server.reply = echo
    run = _run_quickstart(server.base_url, tmp_path / "config")
    assert run.returncode != 0
    assert "No translation came back" in run.stdout + run.stderr


# --- CI's reading of what each command printed ----------------------------------------------------

check_output = _load(".ci/check_output.py", "check_output")

MAIN_OK = """\
Local server running at http://127.0.0.1:41234/v1 (model smollm2-135m). Use it with `-p Local`.
Local: Connected. Found 1 model. Latency: 3 ms
Je vais faire un tour dans l'avenue.
— Local · smollm2-135m · TTFT 229 ms · total 1.43 s · ~27 tokens · 127.1 tok/s
Quickstart done: two translations.
"""


def test_ci_accepts_a_translation_under_the_bundled_models_footer() -> None:
    assert check_output.check_main(MAIN_OK) == []


@pytest.mark.parametrize(
    ("output", "why"),
    [
        (MAIN_OK.replace("— Local", "— Demo"), "no footer"),
        (MAIN_OK.replace("Je vais faire un tour dans l'avenue.", ""), "line above it is empty"),
        (MAIN_OK.replace("Quickstart done: two translations.\n", ""), "closing check"),
        ("ModuleNotFoundError: No module named 'nbformat'\n", "no footer"),
    ],
)
def test_ci_refuses_output_without_a_real_translation(output: str, why: str) -> None:
    assert any(why in problem for problem in check_output.check_main(output))


@pytest.mark.parametrize(
    ("summary", "ok"),
    [
        ("===== 312 passed in 95.12s (0:01:35) =====", True),
        # everything is installed on the CI machine: a skip there hides a missing install step
        ("===== 312 passed, 2 skipped in 95.12s (0:01:35) =====", False),
        ("===== 311 passed, 1 xfailed in 95.12s (0:01:35) =====", False),
        ("===== 311 passed, 1 failed in 95.12s (0:01:35) =====", False),
        ("===== 300 passed, 2 errors in 9.01s =====", False),
        ("===== no tests ran in 0.01s =====", False),
        ("ModuleNotFoundError: No module named 'pytest'", False),
    ],
)
def test_ci_reads_pytests_summary_line(summary: str, ok: bool) -> None:
    assert (check_output.check_tests("collected 312 items\n...\n" + summary + "\n") == []) is ok
