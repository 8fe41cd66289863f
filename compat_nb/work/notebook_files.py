"""Where a notebook run reads and writes: the inputs a command names (files, folders, globs),
the output each gets, and a write that is atomic and never replaces a file unless told to.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..config import advice
from ..config.paths import why_unwritable
from ..errors import ConfigError

__all__ = ["already_exists", "expand_paths", "output_path", "utf8_bytes", "write_new"]


def expand_paths(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files, folders (every .ipynb and .md under them) and glob patterns (`docs/**/*.md`),
    each file once, in order. ConfigError when a name matches nothing."""
    found: list[Path] = []
    for raw in paths:
        text = os.fspath(raw)
        path = Path(text).expanduser()
        if path.is_dir():
            hits = [p for ext in ("ipynb", "md") for p in path.rglob(f"*.{ext}")]
            found += sorted(p for p in hits if ".ipynb_checkpoints" not in p.parts)
        elif path.exists():
            found.append(path)
        elif glob.has_magic(text):
            hits = [Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)]
            found += sorted(p for p in hits if p.suffix.lower() in (".ipynb", ".md"))
            if not hits:
                raise ConfigError(f"No file matches {text!r}.")
        else:
            raise ConfigError(f"{text} not found: check the path.")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    for path in unique:
        if path.suffix.lower() not in (".ipynb", ".md"):
            raise ConfigError(f"{path.name}: give .ipynb notebooks or .md files.")
    if not unique:
        raise ConfigError("No notebooks or .md files found in what was given.")
    return unique


def output_path(source: Path, tag: str, output: str | os.PathLike[str] | None, many: bool) -> Path:
    """lesson.ipynb -> lesson.fr.ipynb beside it; or `output` (a file for one input, a
    folder for several)."""
    if output is None:
        return source.with_name(f"{source.stem}.{tag}{source.suffix}")
    out = Path(output).expanduser()
    if many or out.is_dir() or os.fspath(output).endswith(os.sep):
        return out.resolve() / source.name
    return out.resolve()


def write_new(path: Path, text: str, *, force: bool) -> None:
    """Write atomically (temp file, fsync, then into place): a reader never sees half a file.
    Without `force`, an existing file is never replaced, even one created meanwhile. A
    symlink is written through: its target gets the text, the link stays a link."""
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        if not target.parent.is_dir():
            raise ConfigError(
                f"{path} is a link to {target}, whose folder does not exist. Create that "
                "folder, or replace the link with a file."
            )
        path = target
    data = utf8_bytes(text, json_text=path.suffix.lower() == ".ipynb")
    try:
        _write(path, data, force=force)
    except FileExistsError:
        raise ConfigError(already_exists(path)) from None
    except OSError as exc:  # a full disk, a quota, a read-only folder: the run is not lost
        raise ConfigError(
            f"Could not write {path}: {why_unwritable(exc)}. Finished pieces come from the "
            "cache, so only new or failed ones are translated again."
        ) from None


def _write(path: Path, data: bytes, *, force: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if the name exists: no check-then-write race
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_bytes(text: str, *, json_text: bool) -> bytes:
    """text as UTF-8. A lone surrogate (a notebook whose JSON held `\\udcff`, text read with
    errors='surrogateescape') cannot be encoded: in JSON text (a notebook, JSON Lines) it can
    only sit in a string, so it is written as the same escape; in other text it is U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        if json_text:
            return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def already_exists(path: Path) -> str:
    """The message for an output that exists: what to do, and that nothing finished is lost."""
    return (
        f"{path} already exists: add {advice.flag('--force', 'force=True')} to replace it. "
        "Finished pieces come from the cache, so only new or failed ones are translated again."
    )
