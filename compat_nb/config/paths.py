"""Where compat_nb keeps its files, and the two ways it writes them safely.

Every file compat_nb writes goes through `write_atomic` under `file_lock`, so two kernels
writing at once cannot leave a half-written file or lose each other's change.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["config_dir", "file_lock", "write_atomic"]


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


def write_atomic(path: Path, data: dict[str, Any], *, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
