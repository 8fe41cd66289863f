"""Run Python in a child process that file permissions bind, even when the tests run as root.

root ignores read-only modes (CAP_DAC_OVERRIDE), so a "read-only config directory" would be
writable to it. As root the child drops the capabilities that bypass permission checks from
its bounding set before exec (prctl PR_CAPBSET_DROP), and is then bound like any user; as
another user nothing needs dropping.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

# As root, a first interpreter drops from its bounding set the capabilities that bypass file
# permissions (prctl PR_CAPBSET_DROP), then execs the real one, which starts without them.
# (Done in a child of its own, not a preexec_fn: the test process runs server threads.)
_DROP_THEN_EXEC = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")
os.execv(sys.executable, [sys.executable, "-c", sys.argv[1]])
"""


def run_python(
    code: str, env: Mapping[str, str], *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -c code` with env added to this process's environment, bound by file modes."""
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    argv = (
        [sys.executable, "-c", _DROP_THEN_EXEC, code] if as_root else [sys.executable, "-c", code]
    )
    return subprocess.run(
        argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout
    )


def writable_for_child(path: str) -> bool:
    """Whether a bound child could create a file in directory path (checks the drop worked)."""
    probe = os.path.join(path, ".probe")
    done = run_python(f"open({probe!r}, 'w').close()", {})
    if done.returncode == 0:
        os.unlink(probe)
    return done.returncode == 0
