"""Files never lose data: unreadable entries are reported and kept, links are written through,
loose credentials are tightened, bad bytes name their file, and a read-only config directory
still lists presets and history while translation goes on.
"""

from __future__ import annotations

import json
import os
import stat
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import MARKER_KEY
from server import FakeServer
from unprivileged import run_python, writable_for_child

import compat_nb
from compat_nb.config.presets import Preset
from compat_nb.config.store import CredentialsWarning, get_store
from compat_nb.errors import CompatError, PresetFileError
from compat_nb.faces.tables import preset_table
from compat_nb.work import history

OTHER_KEY = "sk-other-0c9f3b27e1d4a8"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def shell(ip: Any) -> Iterator[Any]:
    yield ip


# --- credentials.json entries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "says"),
    [(12345, "not text"), (["sk-a", "sk-b"], "not text"), (MARKER_KEY + "\u200b", "U+200B")],
    ids=["number", "list", "invisible character"],
)
def test_an_unreadable_key_entry_is_reported_and_kept_on_every_save(
    config_dir: Path, server: FakeServer, entry: Any, says: str
) -> None:
    write_json(
        config_dir / "presets.json",
        {"version": 1, "presets": {"Mine": {"base_url": server.base_url, "model": "test-model"}}},
    )
    write_json(config_dir / "credentials.json", {"version": 1, "keys": {"Mine": entry}})
    os.chmod(config_dir / "credentials.json", 0o600)
    store = get_store()
    with pytest.raises(PresetFileError) as info:
        store.get("Mine")
    message = info.value.message
    assert str(config_dir / "credentials.json") in message and "'Mine'" in message
    assert says in message and "To fix it, " in message and "the entry is kept" in message
    assert "12345" not in message and MARKER_KEY not in message

    # Saving other presets and keys keeps the entry exactly as it was.
    store.save(Preset("Other", server.base_url, "test-model", api_key=OTHER_KEY))
    store.use("Other")
    store.forget_key("Other")
    store.save_key("Other", OTHER_KEY)
    keys = json.loads((config_dir / "credentials.json").read_text())["keys"]
    assert keys == {"Mine": entry, "Other": OTHER_KEY}
    # The listing shows the broken entry's row instead of failing as a whole.
    table = repr(preset_table())
    assert "Mine" in table and "unreadable" in table and "Other" in table
    # Saving a new key for it is the fix, and replaces only that entry.
    store.save_key("Mine", MARKER_KEY)
    assert store.get("Mine").api_key == MARKER_KEY


def test_what_a_newer_version_wrote_is_kept_by_every_save(config_dir: Path) -> None:
    write_json(
        config_dir / "presets.json",
        {
            "version": 1,
            "presets": {"Mine": {"base_url": "http://h:1/v1", "model": "m", "top_p": 0.9}},
            "groups": {"work": ["Mine"]},
        },
    )
    write_json(config_dir / "credentials.json", {"version": 1, "keys": {}, "orgs": {"a": 1}})
    os.chmod(config_dir / "credentials.json", 0o600)
    store = get_store()
    store.save(store.get("Mine").replace(model="m2", api_key=MARKER_KEY))
    presets = json.loads((config_dir / "presets.json").read_text())
    assert presets["presets"]["Mine"] == {"base_url": "http://h:1/v1", "model": "m2", "top_p": 0.9}
    assert presets["groups"] == {"work": ["Mine"]}
    credentials = json.loads((config_dir / "credentials.json").read_text())
    assert credentials["orgs"] == {"a": 1} and credentials["keys"] == {"Mine": MARKER_KEY}


# --- links -------------------------------------------------------------------------------------


def test_symlinked_files_are_written_through_their_links(config_dir: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    write_json(dotfiles / "presets.json", {"version": 1, "presets": {}})
    write_json(dotfiles / "credentials.json", {"version": 1, "keys": {"Old": OTHER_KEY}})
    os.chmod(dotfiles / "credentials.json", 0o644)
    config_dir.mkdir(parents=True, exist_ok=True)
    for name in ("presets.json", "credentials.json"):
        (config_dir / name).symlink_to(dotfiles / name)

    with pytest.warns(CredentialsWarning):
        get_store().save(Preset("Linked", "http://127.0.0.1:9/v1", "m", api_key=MARKER_KEY))
    for name in ("presets.json", "credentials.json"):
        assert (config_dir / name).is_symlink(), name  # still a link ...
        assert (config_dir / name).resolve() == dotfiles / name
    # ... and the files it points to hold the change, the key file private.
    assert "Linked" in json.loads((dotfiles / "presets.json").read_text())["presets"]
    assert json.loads((dotfiles / "credentials.json").read_text())["keys"] == {
        "Old": OTHER_KEY,
        "Linked": MARKER_KEY,
    }
    assert mode(dotfiles / "credentials.json") == 0o600
    assert not [p for p in config_dir.iterdir() if p.name.startswith(".presets.json.")]


def test_a_dangling_link_is_written_to_its_target_or_refused_with_both_paths(
    config_dir: Path, tmp_path: Path
) -> None:
    config_dir.mkdir(parents=True)
    (config_dir / "presets.json").symlink_to(tmp_path / "elsewhere" / "presets.json")
    with pytest.raises(PresetFileError) as info:
        get_store().save(Preset("P", "http://127.0.0.1:9/v1", "m"))
    assert str(config_dir / "presets.json") in info.value.message
    assert str(tmp_path / "elsewhere") in info.value.message
    assert (config_dir / "presets.json").is_symlink()
    (tmp_path / "elsewhere").mkdir()
    get_store().save(Preset("P", "http://127.0.0.1:9/v1", "m"))
    assert (config_dir / "presets.json").is_symlink()
    assert "P" in json.loads((tmp_path / "elsewhere" / "presets.json").read_text())["presets"]


# --- permissions -------------------------------------------------------------------------------


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o666])
def test_loose_credentials_are_warned_about_once_and_made_private(
    config_dir: Path, loose: int
) -> None:
    get_store().save(Preset("K", "http://127.0.0.1:9/v1", "m", api_key=MARKER_KEY))
    path = config_dir / "credentials.json"
    assert mode(path) == 0o600
    os.chmod(path, loose)
    with pytest.warns(CredentialsWarning) as caught:
        assert get_store().get("K").api_key == MARKER_KEY
    (warning,) = caught
    text = str(warning.message)
    assert str(path) in text and f"{loose:o}" in text and "0600" in text
    assert MARKER_KEY not in text
    assert mode(path) == 0o600
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        get_store().get("K")  # private now: nothing more to say


def test_a_presets_file_keeps_the_mode_its_owner_gave_it(config_dir: Path) -> None:
    store = get_store()
    store.save(Preset("A", "http://127.0.0.1:9/v1", "m"))
    os.chmod(config_dir / "presets.json", 0o600)
    store.save(Preset("B", "http://127.0.0.1:9/v1", "m"))
    assert mode(config_dir / "presets.json") == 0o600


# --- bytes and kinds of file -------------------------------------------------------------------

OPERATIONS = {
    "names": "compat_nb.get_store().names()",
    "get": "compat_nb.get_store().get('Ollama')",
    "save": "compat_nb.get_store().save(compat_nb.Preset('N', 'http://127.0.0.1:9/v1', 'm'))",
    "active": "compat_nb.get_store().active",
    "translate": "compat_nb.translate('Hi')",
    "presets command": "%translate presets",
    "use command": "%translate use Ollama",
    "test command": "%translate test",
    "cell": "%%translate\nHello",
}


@pytest.mark.parametrize("which", ["presets.json", "credentials.json"])
def test_a_file_that_is_not_utf8_is_named_by_every_operation_and_left_as_is(
    shell: Any, config_dir: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every operation that reads the file (listing names needs no keys)."""
    config_dir.mkdir(parents=True)
    raw = b'{"version": 1, "presets": {"Caf\xe9": {"model": "m"}}, "keys": {}}'
    (config_dir / which).write_bytes(raw)
    shell.run_cell("import compat_nb")
    for name, cell in OPERATIONS.items():
        if which == "credentials.json" and name == "names":
            continue
        result = shell.run_cell(cell)
        error = result.error_in_exec
        shown = capsys.readouterr()
        assert isinstance(error, CompatError) or type(error).__name__ == "UsageError", name
        assert str(config_dir / which) in str(error) and "UTF-8" in str(error), (name, error)
        assert "Traceback" not in shown.out + shown.err, name
    assert (config_dir / which).read_bytes() == raw


def test_a_byte_order_mark_is_read_as_utf8(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    text = json.dumps({"version": 1, "presets": {"Bom": {"model": "m", "base_url": "h:1/v1"}}})
    (config_dir / "presets.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert get_store().get("Bom").base_url == "http://h:1/v1"


@pytest.mark.parametrize("which", ["presets.json", "credentials.json"])
def test_a_directory_where_a_file_belongs_is_a_message_with_the_fix(
    config_dir: Path, which: str
) -> None:
    (config_dir / which).mkdir(parents=True)
    calls = [lambda: get_store().get("Ollama")]
    if which == "presets.json":
        calls.append(get_store().names)
    for call in calls:
        with pytest.raises(PresetFileError, match="is a directory, not a file") as info:
            call()
        assert str(config_dir / which) in info.value.message and "move it" in info.value.message


# --- the history file --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["directory", "unreadable bytes"])
def test_a_broken_history_file_is_a_message_and_translation_goes_on(
    shell: Any, server: FakeServer, config_dir: Path, kind: str, capsys: Any
) -> None:
    get_store().save(Preset("T", server.base_url, "test-model"))
    get_store().use("T")
    path = config_dir / "history.sqlite"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"not a database at all" * 100)
    with pytest.warns(history.HistoryWarning, match="translation is unaffected"):
        result = shell.run_cell("%%translate\nHello")
    assert result.error_in_exec is None
    assert "TRANSLATED: Hello" in capsys.readouterr().out
    listed = shell.run_cell("%translate history")
    assert isinstance(listed.error_in_exec, CompatError)
    assert str(path) in str(listed.error_in_exec) and "Move it away" in str(listed.error_in_exec)
    assert "Traceback" not in capsys.readouterr().out


# --- a read-only config directory --------------------------------------------------------------


def test_a_read_only_config_directory_still_lists_presets_and_history(
    server: FakeServer, config_dir: Path
) -> None:
    get_store().save(Preset("T", server.base_url, "test-model", api_key=MARKER_KEY))
    get_store().use("T")
    compat_nb.translate("Recorded before", preset="T")
    history._drop_connection()  # closed: SQLite folds its -wal and -shm files back in
    files = [p for p in config_dir.iterdir() if p.is_file()]
    try:
        for path in files:
            os.chmod(path, 0o400 if path.name == "credentials.json" else 0o444)
        os.chmod(config_dir, 0o555)
        assert not writable_for_child(str(config_dir))  # the child is really bound
        code = textwrap.dedent(
            """
            import json, warnings
            warnings.simplefilter("always")
            from IPython.testing.globalipapp import start_ipython
            ip = start_ipython()
            ip.run_line_magic("load_ext", "compat_nb")
            out = {}
            def run(name, cell):
                result = ip.run_cell(cell)
                error = result.error_in_exec
                out[name] = [type(error).__name__ if error else None, str(error or ""),
                             repr(result.result)]
            with warnings.catch_warnings(record=True) as caught:
                run("history", "%translate history")
                run("presets", "%translate presets")
                run("translate", "%%translate -o t\\nHello")
                run("text", "t.text")
                run("save", "import compat_nb\\ncompat_nb.get_store().save("
                    "compat_nb.Preset('N', 'http://127.0.0.1:9/v1', 'm'))")
            out["warnings"] = [str(w.message) for w in caught]
            print("RESULT" + json.dumps(out))
            """
        )
        done = run_python(code, {"COMPAT_NB_CONFIG_DIR": str(config_dir)})
    finally:
        os.chmod(config_dir, 0o755)
        for path in files:
            os.chmod(path, 0o600)
    assert "RESULT" in done.stdout, done.stderr[-3000:]
    out = json.loads(done.stdout.split("RESULT", 1)[1])
    assert out["history"][0] is None and "Recorded before" in out["history"][2], out["history"]
    assert out["presets"][0] is None and "T" in out["presets"][2]
    assert out["translate"][0] is None and "TRANSLATED: Hello" in out["text"][2]
    assert out["save"][0] == "PresetFileError" and str(config_dir) in out["save"][1]
    assert any("could not record this run" in w for w in out["warnings"]), out["warnings"]
    assert "Traceback" not in done.stdout


def test_the_history_warning_in_plain_python_suggests_a_switch_that_works(
    server: FakeServer, config_dir: Path
) -> None:
    (config_dir / "history.sqlite").mkdir(parents=True)
    code = textwrap.dedent(
        f"""
        import warnings
        warnings.simplefilter("error", UserWarning)
        import compat_nb
        preset = compat_nb.Preset("T", {server.base_url!r}, "test-model")
        try:
            compat_nb.translate("Hi", preset=preset)
        except UserWarning as warning:
            fix = str(warning).split("turn recording off with `")[1].split("`")[0]
            exec(fix)  # the switch the warning names, as written
            print(compat_nb.translate("Hi", preset=preset).text)
        """
    )
    done = run_python(code, {"COMPAT_NB_CONFIG_DIR": str(config_dir)})
    assert done.stdout.strip() == "TRANSLATED: Hi", done.stderr[-2000:]
