"""PresetStore: the user's presets in one JSON file, keys apart in a 0600 credentials file.

Writes are atomic (temp file + os.replace) and serialised across kernels by a lock file, so
two kernels saving at once both keep their preset. A corrupt file is reported, never replaced.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PresetEntryError, PresetFileError
from . import advice
from .catalog import BUILTIN_PRESETS
from .local_state import running_endpoint
from .paths import (
    CredentialsWarning,
    config_dir,
    file_lock,
    keep_private,
    read_text,
    why_unwritable,
    write_atomic,
)
from .presets import LOCAL_PRESET_NAME, Preset

__all__ = ["FILE_VERSION", "CredentialsWarning", "PresetStore", "config_dir", "get_store"]

FILE_VERSION = 1
_FIELDS = frozenset(Preset.__dataclass_fields__)  # what an entry of presets.json may set
PRESETS_FILE = "presets.json"
CREDENTIALS_FILE = "credentials.json"


def _read_json(path: Path, key: str) -> dict[str, Any]:
    """The file's `key` section; {} when the file does not exist; PresetFileError when bad."""
    raw = read_text(path)
    if raw is None:
        return {}
    try:
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict) or not isinstance(data.get(key, {}), dict):
            raise ValueError(f"expected an object with a {key!r} object")
    except ValueError as exc:
        raise PresetFileError(
            f"{path} is not valid compat_nb JSON ({exc}). Fix it by hand or move it away; "
            "compat_nb will not overwrite it."
        ) from None
    version = data.get("version", FILE_VERSION)
    if not isinstance(version, int) or version > FILE_VERSION:
        raise PresetFileError(
            f"{path} has version {version!r}, newer than this compat_nb understands "
            f"({FILE_VERSION}). Upgrade compat_nb (`pip install -U compat_nb`)."
        )
    return data


class _Snapshot:
    """The files as read once for one command, and the name lookups built from them."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.saved: dict[str, Any] | None = None
        self.keys: dict[str, str] | None = None
        self.names: list[str] | None = None
        self.folded: dict[str, str] | None = None


class PresetStore:
    """Built-in presets overlaid with the user's saved ones; the active preset's name.

    Every read goes to the files, so another kernel's save is seen by the next command;
    inside `reading()` they are read once, so listing N presets costs one read, not N.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else config_dir()
        self._lock = threading.RLock()
        self._listeners: list[Callable[[PresetStore], None]] = []
        self._snapshot: ContextVar[_Snapshot | None] = ContextVar("snapshot", default=None)

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Read presets.json and credentials.json at most once for everything inside."""
        if self._snapshot.get() is not None:
            yield  # an outer command already holds a snapshot
            return
        token = self._snapshot.set(_Snapshot())
        try:
            yield
        finally:
            self._snapshot.reset(token)

    @property
    def presets_path(self) -> Path:
        """presets.json in the store's directory: the presets and the active name, no keys."""
        return self.directory / PRESETS_FILE

    @property
    def credentials_path(self) -> Path:
        """credentials.json in the store's directory: the saved keys, mode 0600."""
        return self.directory / CREDENTIALS_FILE

    # --- reading ---------------------------------------------------------------------------

    def _saved(self) -> dict[str, Any]:
        """presets.json as read (from the snapshot inside `reading()`); not to be changed."""
        snap = self._snapshot.get()
        if snap is None:
            return _read_json(self.presets_path, "presets")
        if snap.saved is None:
            snap.saved = _read_json(self.presets_path, "presets")
        return snap.saved

    def _keys(self) -> dict[str, Any]:
        """credentials.json's entries as stored: a value may be unreadable (not text), and is
        then reported by `get` and written back untouched, never dropped."""
        snap = self._snapshot.get()
        if snap is not None and snap.keys is not None:
            return snap.keys
        keys: dict[str, Any] = _read_json(self.credentials_path, "keys").get("keys", {})
        if keys:
            keep_private(self.credentials_path)
        if snap is not None:
            snap.keys = keys
        return keys

    def names(self, *, usable_only: bool = False) -> list[str]:
        """Built-ins first (catalog order), then the user's presets in the order saved."""
        if usable_only:
            with self.reading():
                return [n for n in self.names() if self.get(n).usable]
        snap = self._snapshot.get()
        if snap is not None and snap.names is not None:
            return list(snap.names)
        saved = self._saved().get("presets", {})
        names = list(BUILTIN_PRESETS) + [n for n in saved if n not in BUILTIN_PRESETS]
        if snap is not None:
            snap.names = list(names)
        return names

    def resolve_name(self, name: str, *, one_off: bool = True) -> str:
        """The stored spelling of name (matching ignores case); ConfigError when unknown, whose
        message lists the names, says how to add one and, with `one_off`, how to name a server
        for one call instead (not for a command that changes or shows a saved preset)."""
        name = name.strip()
        snap = self._snapshot.get()
        if snap is not None and snap.folded is not None:
            folded = snap.folded  # built once per snapshot: a listing looks up every name
        else:
            folded = {}
            names = self.names()
            for known in names:
                folded[known.casefold()] = known
            for known in names:  # an exact spelling wins over another's folded one
                folded[known] = known
            if snap is not None:
                snap.folded = folded
        found = folded.get(name) or folded.get(name.casefold())
        if found is not None:
            return found
        names = self.names()
        raise ConfigError(
            f"No preset named {name!r}. Known presets: {', '.join(names)}. "
            f"{_capital(advice.add_preset())}{advice.one_off() if one_off else ''}."
        )

    def get(self, name: str) -> Preset:
        """The preset as it would be used: saved fields over the built-in, key merged in."""
        with self.reading():
            return self._get(name)

    def _get(self, name: str, *, with_key: bool = True) -> Preset:
        name = self.resolve_name(name)
        saved = self._saved().get("presets", {})
        builtin = BUILTIN_PRESETS.get(name)
        if name in saved:
            preset = self._from_file(name, saved[name])
            # A built-in's advice ("load a model in LM Studio…") is about its own server: once
            # the Base URL points elsewhere, it would be advice for a server not there.
            if builtin is not None and preset.base_url in ("", builtin.base_url):
                preset = preset.replace(hint=builtin.hint)
        else:
            assert builtin is not None
            preset = builtin
        key = self._keys().get(name) if with_key else None
        if key:
            preset = self._with_key(preset, key)
        if name == LOCAL_PRESET_NAME and not preset.base_url:
            preset = _with_local_server(preset)
        return preset

    def _from_file(self, name: str, fields: Any) -> Preset:
        """A saved preset; PresetFileError when a hand edit left its entry unreadable."""
        try:
            if not isinstance(fields, dict):
                raise TypeError(f"expected an object, got {type(fields).__name__}")
            return Preset.from_dict({**fields, "name": name})
        except (TypeError, AttributeError, ValueError) as exc:
            raise PresetEntryError(
                f"{self.presets_path}: preset {name!r} is not valid ({exc}). Fix or remove "
                "that entry by hand; compat_nb will not overwrite it."
            ) from None

    def _with_key(self, preset: Preset, key: Any) -> Preset:
        """preset with its saved key; PresetFileError naming the file and entry, never the key,
        when the entry cannot be sent (not text, or what no HTTP header can carry)."""
        try:
            if not isinstance(key, str):
                raise ConfigError(f"is not text (a {type(key).__name__})")
            return preset.replace(api_key=key, key_source="saved")
        except ConfigError as exc:
            problem = exc.message.split(": the API key ", 1)[-1].rstrip(".")
        if advice.front_end() == "python":
            fix = f"save it again with `compat_nb.get_store().save_key({preset.name!r}, KEY)`"
        else:
            fix = advice.store_key(preset.name)
        raise PresetEntryError(
            f"{self.credentials_path}: the key saved for {preset.name!r} {problem}. To fix it, "
            f"{fix}; until then the entry is kept as it is."
        )

    def key_hint(self, name: str) -> str | None:
        """'…abcd' for a stored key (enough to recognise it, not to use it), else None."""
        key = self._keys().get(self.resolve_name(name))
        if not key or not isinstance(key, str):
            return None
        return "…" + key[-4:] if len(key) >= 12 else "…"

    def is_builtin(self, name: str) -> bool:
        """Whether name (any case) is in BUILTIN_PRESETS; ConfigError when it names nothing."""
        return self.resolve_name(name) in BUILTIN_PRESETS

    def is_modified(self, name: str) -> bool:
        """True when a built-in has saved changes (so 'Reset to defaults' means something)."""
        name = self.resolve_name(name)
        return name in BUILTIN_PRESETS and (
            name in self._saved().get("presets", {}) or name in self._keys()
        )

    @property
    def active_name(self) -> str | None:
        """The active preset's name, or None when none was chosen (or it was deleted)."""
        name = self._saved().get("active")
        return name if isinstance(name, str) and name in self.names() else None

    @property
    def active(self) -> Preset:
        """The preset `%%translate` uses when no -p is given."""
        name = self.active_name
        if name is None:
            usable = self.names(usable_only=True)
            raise ConfigError(
                f"No preset chosen yet. {_capital(advice.choose_preset())} (usable now: "
                f"{', '.join(usable) or 'none'}), or {advice.add_preset()}."
            )
        return self.get(name)

    # --- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _editing(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Read both files under the cross-process lock, let the caller edit, write back."""
        try:
            with self._lock, file_lock(self.directory / ".lock"):
                # Read afresh under the lock (a snapshot may be older than another kernel's
                # save), and forget any snapshot once written.
                token = self._snapshot.set(None)
                try:
                    data = self._saved()
                    # The whole file, so sections this version does not know are kept.
                    credentials = _read_json(self.credentials_path, "keys")
                    keys = credentials.setdefault("keys", {})
                    if keys:
                        keep_private(self.credentials_path)  # before writing: it was exposed
                finally:
                    self._snapshot.reset(token)
                before = json.dumps(data, sort_keys=True)
                data.setdefault("presets", {})
                keys_before = dict(keys)
                yield data, keys
                data["version"] = FILE_VERSION
                if json.dumps(data, sort_keys=True) != before:
                    write_atomic(self.presets_path, data, mode=None)  # the owner's mode stays
                if keys != keys_before:
                    credentials["version"] = FILE_VERSION
                    write_atomic(self.credentials_path, credentials, mode=0o600)
                snap = self._snapshot.get()
                if snap is not None:
                    snap.clear()  # what it held is out of date
        except OSError as exc:
            raise PresetFileError(
                f"Could not write to {self.directory}: {why_unwritable(exc)}. Nothing saved "
                "was changed; COMPAT_NB_CONFIG_DIR can point elsewhere."
            ) from None
        self._notify()

    def save(self, preset: Preset) -> Preset:
        """Save (create or replace) a preset; a key goes to the credentials file only.

        A preset saved with no key keeps the key already stored for it; `forget_key` drops it.
        """
        if not preset.name:
            raise ConfigError("A preset needs a name. Give it one, e.g. Preset('My server', ...).")
        if preset.name == "New preset…":
            raise ConfigError("Choose a name for the new preset before saving it.")
        # Saving "lm studio" updates "LM Studio": names match ignoring case everywhere.
        with contextlib.suppress(ConfigError):  # unknown: a new preset
            preset = preset.replace(name=self.resolve_name(preset.name))
        with self._editing() as (data, keys):
            fields = preset.to_dict()
            fields.pop("name", None)
            # Fields this version does not know (written by a newer one) stay in the entry.
            old = data["presets"].get(preset.name)
            kept = (
                {k: v for k, v in old.items() if k not in _FIELDS} if isinstance(old, dict) else {}
            )
            data["presets"][preset.name] = {**kept, **fields}
            if preset.api_key:
                keys[preset.name] = preset.api_key
        return self.get(preset.name)

    def save_key(self, name: str, key: str) -> Preset:
        """Store a key for a saved or built-in preset (credentials file only, mode 0600)."""
        name = self.resolve_name(name)
        with self.reading():  # the entry it replaces may be the unreadable one
            checked = self._get(name, with_key=False).replace(api_key=key)  # checks the key
        with self._editing() as (_data, keys):
            assert checked.api_key
            keys[name] = checked.api_key
        return self.get(name)

    def forget_key(self, name: str) -> None:
        """Remove the saved key of name from the credentials file (nothing when none)."""
        name = self.resolve_name(name)
        with self._editing() as (_data, keys):
            keys.pop(name, None)

    def delete(self, name: str) -> None:
        """Remove a user preset; for a built-in, drop saved changes (reset to defaults)."""
        name = self.resolve_name(name)
        with self._editing() as (data, keys):
            data["presets"].pop(name, None)
            keys.pop(name, None)
            if data.get("active") == name and name not in BUILTIN_PRESETS:
                data.pop("active", None)

    reset = delete

    def use(self, name: str) -> Preset:
        """Make name the active preset (remembered across sessions) and return it.

        Raises ConfigError, saying what is missing and how to fill it, for a preset that is
        not usable: the panel's Use, `%translate use` and this agree.
        """
        name = self.resolve_name(name)
        self.get(name).require_usable()
        with self._editing() as (data, _keys):
            data["active"] = name
        return self.get(name)

    # --- change notification (several panels stay consistent) ------------------------------

    def observe(self, callback: Callable[[PresetStore], None]) -> None:
        """Call callback(store) after each save, key change, delete or use made here."""
        self._listeners.append(callback)

    def unobserve(self, callback: Callable[[PresetStore], None]) -> None:
        """Stop calling callback (nothing when it was not observing)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    def _notify(self) -> None:
        # The write has succeeded: a failing listener (a closed panel) must not undo that
        # for the caller, nor keep the other listeners from hearing of it.
        for callback in list(self._listeners):
            try:
                callback(self)
            except Exception as exc:
                warnings.warn(f"compat_nb: a preset listener failed: {exc!r}", stacklevel=2)

    def __repr__(self) -> str:
        return f"PresetStore({str(self.directory)!r})"


def _with_local_server(preset: Preset) -> Preset:
    """Fill the Local preset from the bundled server's state file, when it is running."""
    running = running_endpoint()
    if running is None:
        return preset
    base_url, model = running
    return preset.replace(base_url=base_url, model=preset.model or model)


_store: PresetStore | None = None
_store_lock = threading.Lock()


def get_store() -> PresetStore:
    """The one PresetStore of this process (its directory is read when first asked for)."""
    global _store
    with _store_lock:
        wanted = config_dir()
        if _store is None or _store.directory != wanted:
            _store = PresetStore(wanted)
        return _store


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _saved_here(preset: Preset) -> bool:
    try:
        return get_store().get(preset.name).base_url == preset.base_url
    except ConfigError:
        return False


advice.saved_check = _saved_here
