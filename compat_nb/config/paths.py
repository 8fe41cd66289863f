"""Where compat_nb keeps its files, how it reads them, and the two ways it writes them safely.

Every file compat_nb writes goes through `write_atomic` under `file_lock`, so two kernels
writing at once cannot leave a half-written file or lose each other's change; a symlinked
file is written through its link. `read_text` turns every way a file can be unreadable
(a directory in its place, no permission, bytes that are not UTF-8) into one message naming
the path and the fix. `keep_private` warns about, and tightens, a key file others can read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import PresetFileError

__all__ = [
    "CredentialsWarning",
    "config_dir",
    "file_lock",
    "keep_private",
    "read_text",
    "why_unwritable",
    "write_atomic",
]


class CredentialsWarning(UserWarning):
    """A file holding keys was readable by other users; compat_nb made it private (0600)."""


def why_unwritable(exc: OSError) -> str:
    """Why a write failed and what frees it, in words: a full disk, a quota, a file-size
    limit, a read-only place, or the system's own words."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "the disk is full (or the quota is used up); free some space and run it again"
    if code == errno.EFBIG:
        return "the file would pass this process's file-size limit (`ulimit -f`); raise it"
    if code == errno.EROFS:
        return "the file system is read-only; choose a writable place"
    if code in (errno.EACCES, errno.EPERM):
        return "this user may not write there; choose a writable place or fix the permissions"
    return exc.strerror or str(exc)


def config_dir() -> Path:
    """`$COMPAT_NB_CONFIG_DIR`, else the platform's user config directory."""
    override = os.environ.get("COMPAT_NB_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs  # deferred: only needed once a preset is read

    return Path(platformdirs.user_config_dir("compat_nb", appauthor=False))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes for one read-modify-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locking
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            try:
                yield
            finally:
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_text(path: Path) -> str | None:
    """The file's text; None when it does not exist; PresetFileError (path and fix) otherwise.

    UTF-8, with or without the byte order mark some Windows editors write first.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PresetFileError(_unreadable(path, exc)) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PresetFileError(
            f"{path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}). "
            "Save it as UTF-8 in an editor, or move it away; compat_nb will not overwrite it."
        ) from None


def _unreadable(path: Path, exc: OSError) -> str:
    if exc.errno == errno.EISDIR:
        return f"{path} is a directory, not a file: move it away (or rename it) and try again."
    if exc.errno == errno.ENOTDIR:
        return (
            f"Could not read {path}: a file stands where a folder of its path belongs. Move "
            "that file away, or point COMPAT_NB_CONFIG_DIR at a folder."
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"Could not read {path}: permission denied. Give your user read access to it."
    return f"Could not read {path}: {exc.strerror or exc}."


def keep_private(path: Path) -> None:
    """Warn once and chmod 0600 when path (a key file) is readable by group or others."""
    if os.name == "nt":
        return  # NTFS permissions are ACLs: the mode bits mean nothing there
    try:
        loose = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if not loose & 0o077:
        return
    try:
        os.chmod(path, 0o600)  # through a symlink: the file that holds the keys
        done = "compat_nb changed it to 0600 (owner only)"
    except OSError:
        done = f"make it private with `chmod 600 {path}`"
    warnings.warn(
        f"{path} holds API keys and was readable by other users (mode {loose:o}); {done}.",
        CredentialsWarning,
        stacklevel=4,
    )


def write_atomic(path: Path, data: dict[str, Any], *, mode: int | None) -> None:
    """Replace path's contents with data as JSON, all or nothing.

    A symlink is written through (its target is replaced, the link stays a link). mode is the
    file's mode; None keeps the mode an existing file has (0644 for a new one). Raises
    PresetFileError for a link whose target folder does not exist; OSError otherwise.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target != path and not target.parent.is_dir():
        raise PresetFileError(
            f"{path} is a link to {target}, whose folder {target.parent} does not exist. "
            "Create that folder, or replace the link with a file."
        )
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
