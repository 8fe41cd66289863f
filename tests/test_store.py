"""PresetStore: the presets file, the credentials file, the active preset, concurrent kernels."""

from __future__ import annotations

import json
import multiprocessing
import stat
from pathlib import Path

import pytest
from conftest import MARKER_KEY

from compat_nb.config.advice import shown_in
from compat_nb.config.catalog import BUILTIN_PRESETS
from compat_nb.config.presets import Preset
from compat_nb.config.store import PresetStore, get_store
from compat_nb.errors import ConfigError, PresetFileError


def _save_many(directory: str, prefix: str, count: int, barrier: object) -> None:
    """Runs in a spawned process: save `count` presets as fast as possible."""
    store = PresetStore(directory)
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(count):
        store.save(Preset(f"{prefix}-{i}", f"http://127.0.0.1:{1000 + i}/v1", "m"))


def test_get_store_uses_the_config_dir(config_dir: Path) -> None:
    store = get_store()
    assert store.directory == config_dir
    assert get_store() is store
    assert store.presets_path == config_dir / "presets.json"


def test_save_get_delete_round_trip(config_dir: Path) -> None:
    store = get_store()
    saved = store.save(
        Preset("My server", "http://127.0.0.1:9/v1/chat/completions", "m", temperature=0.2)
    )
    assert saved == Preset("My server", "http://127.0.0.1:9/v1", "m", temperature=0.2)
    assert store.get("My server") == saved
    # A second store on the same directory (another kernel) reads the same preset.
    assert PresetStore(config_dir).get("My server") == saved
    assert store.names()[-1] == "My server"
    assert store.names()[: len(BUILTIN_PRESETS)] == list(BUILTIN_PRESETS)
    store.delete("My server")
    assert "My server" not in store.names()
    with pytest.raises(ConfigError) as info:
        store.get("My server")
    assert "No preset named 'My server'" in str(info.value)


def test_names_keep_the_order_saved() -> None:
    store = get_store()
    for name in ("b", "a", "c"):
        store.save(Preset(name, "http://h/v1", "m"))
    assert store.names()[-3:] == ["b", "a", "c"]
    assert "b" in store.names(usable_only=True)
    assert "Preset 1" not in store.names(usable_only=True)


def test_file_has_version_and_never_the_key(config_dir: Path) -> None:
    store = get_store()
    store.save(Preset("keyed", "http://h/v1", "m", api_key=MARKER_KEY))
    presets_text = (config_dir / "presets.json").read_text()
    data = json.loads(presets_text)
    assert data["version"] == 1
    assert data["presets"]["keyed"] == {"base_url": "http://h/v1", "model": "m"}
    assert MARKER_KEY not in presets_text
    credentials = config_dir / "credentials.json"
    assert json.loads(credentials.read_text())["keys"] == {"keyed": MARKER_KEY}
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert store.get("keyed").api_key == MARKER_KEY
    assert store.get("keyed").key_status == "set"
    assert MARKER_KEY not in repr(store) and MARKER_KEY not in repr(store.get("keyed"))


def test_save_without_key_keeps_the_stored_key_and_delete_drops_it(config_dir: Path) -> None:
    store = get_store()
    store.save(Preset("keyed", "http://h/v1", "m", api_key=MARKER_KEY))
    store.save(Preset("keyed", "http://h/v1", "other-model"))
    assert store.get("keyed").api_key == MARKER_KEY
    assert store.get("keyed").model == "other-model"
    store.forget_key("keyed")
    assert store.get("keyed").api_key is None
    store.save(Preset("keyed", "http://h/v1", "m", api_key=MARKER_KEY))
    store.delete("keyed")
    assert MARKER_KEY not in (config_dir / "credentials.json").read_text()


def test_env_key_name_is_saved_not_its_value(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_GATEWAY_KEY", MARKER_KEY)
    store = get_store()
    store.save(Preset("gw", "http://h/v1", "m", api_key_env="MY_GATEWAY_KEY"))
    assert json.loads((config_dir / "presets.json").read_text())["presets"]["gw"] == {
        "base_url": "http://h/v1",
        "model": "m",
        "api_key_env": "MY_GATEWAY_KEY",
    }
    assert not (config_dir / "credentials.json").exists()
    assert store.get("gw").resolve_key() == MARKER_KEY


def test_builtin_can_be_changed_and_reset() -> None:
    store = get_store()
    assert not store.is_modified("Ollama")
    store.save(BUILTIN_PRESETS["Ollama"].replace(model="qwen2.5:7b"))
    assert store.get("Ollama").model == "qwen2.5:7b"
    assert store.get("Ollama").hint == BUILTIN_PRESETS["Ollama"].hint
    assert store.is_modified("Ollama") and store.is_builtin("ollama")
    assert store.names().count("Ollama") == 1
    store.reset("Ollama")
    assert store.get("Ollama") == BUILTIN_PRESETS["Ollama"]
    assert not store.is_modified("Ollama")


def test_use_and_active_persist(config_dir: Path) -> None:
    store = get_store()
    with pytest.raises(ConfigError) as info, shown_in("terminal"):  # IPython's wording
        _ = store.active
    assert "%translate use NAME" in str(info.value)
    store.save(Preset("srv", "http://h/v1", "m"))
    assert store.use("SRV").name == "srv"
    assert store.active_name == "srv"
    assert store.active.base_url == "http://h/v1"
    assert PresetStore(config_dir).active_name == "srv"
    assert json.loads((config_dir / "presets.json").read_text())["active"] == "srv"
    store.delete("srv")
    assert store.active_name is None
    # A built-in stays active when its saved changes are reset.
    store.use("Ollama")
    store.reset("Ollama")
    assert store.active_name == "Ollama"


def test_lookup_ignores_case() -> None:
    store = get_store()
    store.save(Preset("My Server", "http://h/v1", "m"))
    assert store.get("my server").name == "My Server"
    assert store.get("  MY SERVER ").name == "My Server"
    assert store.get("lm studio").name == "LM Studio"
    assert store.resolve_name("OPENROUTER") == "OpenRouter"


def test_unnamed_preset_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        get_store().save(Preset("   ", "http://h/v1", "m"))
    assert "needs a name" in str(info.value)


@pytest.mark.parametrize("filename", ["presets.json", "credentials.json"])
@pytest.mark.parametrize("content", [b"{not json", b'["a list"]', b'{"presets": []}'])
def test_corrupt_file_is_reported_and_never_overwritten(
    config_dir: Path, filename: str, content: bytes
) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / filename
    if filename == "credentials.json" and content == b'{"presets": []}':
        content = b'{"keys": []}'
    path.write_bytes(content)
    store = get_store()
    with pytest.raises(PresetFileError) as info:
        store.save(Preset("new", "http://h/v1", "m", api_key="sk-x"))
    assert str(path) in str(info.value)
    assert "will not overwrite" in str(info.value)
    with pytest.raises(PresetFileError):
        store.use("Ollama")
    with pytest.raises(PresetFileError):
        store.delete("Ollama")
    if filename == "presets.json":
        with pytest.raises(PresetFileError):
            store.names()
    assert path.read_bytes() == content
    leftovers = [p.name for p in config_dir.iterdir() if p.name not in {filename, ".lock"}]
    assert leftovers == []


@pytest.mark.parametrize(
    "entry", [None, ["a list"], "text", {"model": 5}, {"headers": "x"}, {"api_key_env": 5}]
)
def test_hand_broken_preset_entry_is_reported_naming_the_file(
    config_dir: Path, entry: object
) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "presets.json"
    content = json.dumps({"version": 1, "presets": {"broken": entry, "fine": {"model": "m"}}})
    path.write_text(content)
    store = get_store()
    assert store.get("fine").model == "m"
    with pytest.raises(PresetFileError) as info:
        store.get("broken")
    assert str(path) in str(info.value) and "'broken'" in str(info.value)
    store.save(Preset("other", "http://h/v1", "m"))  # the rest of the file stays usable
    assert json.loads(path.read_text())["presets"]["broken"] == entry


def test_newer_file_version_is_reported(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    path = config_dir / "presets.json"
    path.write_text('{"version": 99, "presets": {}}')
    with pytest.raises(PresetFileError) as info:
        get_store().names()
    assert str(path) in str(info.value) and "Upgrade compat_nb" in str(info.value)


def test_write_leaves_no_temp_files(config_dir: Path) -> None:
    store = get_store()
    for i in range(5):
        store.save(Preset(f"p{i}", "http://h/v1", "m", api_key=f"sk-{i}"))
    assert sorted(p.name for p in config_dir.iterdir()) == [
        ".lock",
        "credentials.json",
        "presets.json",
    ]


def test_two_processes_saving_at_once_lose_nothing(config_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=_save_many, args=(str(config_dir), prefix, 30, barrier))
        for prefix in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0, 0]
    names = set(PresetStore(config_dir).names())
    expected = {f"{p}-{i}" for p in ("a", "b") for i in range(30)}
    assert expected <= names
    assert len(json.loads((config_dir / "presets.json").read_text())["presets"]) == 60


def test_observers_hear_about_saves() -> None:
    store = get_store()
    seen: list[str] = []

    def callback(changed: PresetStore) -> None:
        seen.append(changed.names()[-1])

    store.observe(callback)
    store.save(Preset("watched", "http://h/v1", "m"))
    store.unobserve(callback)
    store.save(Preset("unwatched", "http://h/v1", "m"))
    assert seen == ["watched"]


def test_local_preset_without_a_running_server_says_how_to_start_it() -> None:
    # Needs compat_nb/local.py (the bundled server); the config dir has no local.json.
    preset = get_store().get("Local")
    assert not preset.usable
    with pytest.raises(ConfigError) as info, shown_in("terminal"):  # IPython's wording
        preset.require_usable()
    assert "Base URL is empty" in str(info.value)
    assert "%translate local start" in str(info.value)
    with pytest.raises(ConfigError) as info:  # in a script: Python
        preset.require_usable()
    assert "compat_nb.local.start()" in str(info.value)


def test_saving_a_name_in_other_case_updates_the_existing_preset(config_dir):
    store = PresetStore(config_dir)
    store.save(Preset("lm studio", "http://127.0.0.1:1234/v1", "qwen"))
    assert store.names().count("LM Studio") == 1
    assert "lm studio" not in store.names()
    assert store.get("LM Studio").model == "qwen"


def test_a_failing_listener_neither_undoes_the_save_nor_silences_the_others(config_dir):
    store = PresetStore(config_dir)
    heard = []

    def broken(_store):
        raise RuntimeError("closed panel")

    store.observe(broken)
    store.observe(heard.append)
    with pytest.warns(UserWarning, match="listener failed"):
        store.save(Preset("Mine", "http://h/v1", "m"))
    assert heard == [store]
    assert store.get("Mine").model == "m"


def test_an_unwritable_directory_is_a_message_not_an_oserror(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the config directory should be")
    store = PresetStore(blocker / "sub")
    with pytest.raises(PresetFileError, match=r"Could not write to .* COMPAT_NB_CONFIG_DIR"):
        store.save(Preset("Mine", "http://h/v1", "m"))


def test_listing_reads_each_file_once_however_many_presets(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compat_nb.config import store as store_module
    from compat_nb.faces.tables import preset_table

    presets = {f"P{i}": {"base_url": f"http://h{i}:1/v1", "model": "m" if i % 2 else ""}
               for i in range(300)}  # fmt: skip
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "presets.json").write_text(json.dumps({"version": 1, "presets": presets}))
    store = get_store()
    store.save(Preset("Keyed", "http://k:1/v1", "m", api_key=MARKER_KEY))
    reads: list[str] = []
    original = store_module._read_json

    def counted(path: Path, key: str) -> dict:
        reads.append(path.name)
        return original(path, key)

    monkeypatch.setattr(store_module, "_read_json", counted)
    table = preset_table()
    assert len(table) == len(BUILTIN_PRESETS) + 301
    assert sorted(reads) == ["credentials.json", "presets.json"]
    reads.clear()
    usable = store.names(usable_only=True)
    assert "P1" in usable and "P2" not in usable and "Keyed" in usable
    assert sorted(reads) == ["credentials.json", "presets.json"]


def test_outside_a_listing_every_read_sees_the_files_as_they_are(config_dir: Path) -> None:
    mine, other = get_store(), PresetStore(config_dir)  # another kernel, same directory
    with mine.reading():
        assert "Late" not in mine.names()
        other.save(Preset("Late", "http://late:1/v1", "m"))
        assert "Late" not in mine.names()  # one command sees one state of the files
        mine.save(Preset("Mine", "http://mine:1/v1", "m"))  # its own save: read afresh
        assert {"Late", "Mine"} <= set(mine.names())
    other.delete("Late")
    assert "Late" not in mine.names()
