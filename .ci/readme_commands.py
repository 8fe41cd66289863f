"""The README's "Two commands", verbatim, for CI to run: a README edit that breaks one breaks CI.

    python .ci/readme_commands.py [README.md] N    command N (1: the main job, 2: the tests)

It exits 2, saying why, when the section is missing, does not hold exactly two ```bash blocks,
or a block is not one command line; so a reworded README cannot make CI quietly run nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

SECTION = "Two commands"
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)\s*(\S*)")


class ReadmeError(Exception):
    """The README does not hold the two commands in the expected shape."""


def commands(text: str, section: str = SECTION) -> list[str]:
    """The ```bash blocks of `section`, in order, each joined into one command line."""
    lines = text.splitlines()
    start = level = None
    for i, line in enumerate(lines):
        match = _HEADING.match(line)
        if match and match.group(2).strip().lower() == section.lower():
            start, level = i + 1, len(match.group(1))
            break
    if start is None or level is None:
        raise ReadmeError(f"README.md has no '{section}' heading.")
    blocks: list[list[str]] = []
    body: list[str] | None = None  # the lines of the block being read, when inside one
    fence, keep = "", False
    for line in lines[start:]:
        if body is None:
            heading = _HEADING.match(line)
            if heading and len(heading.group(1)) <= level:
                break  # the next section of the same or a higher level
            opened = _FENCE.match(line)
            if opened:
                fence, body = opened.group(1), []
                keep = opened.group(2).lower() in ("bash", "sh", "shell")
        elif line.strip().startswith(fence):
            if keep:
                blocks.append(body)
            body = None
        else:
            body.append(line)
    if body is not None:
        raise ReadmeError(f"A code block in '{section}' is never closed.")
    found = [_one_line(block, section) for block in blocks]
    if len(found) != 2:
        raise ReadmeError(
            f"'{section}' holds {len(found)} ```bash block(s); CI expects exactly two "
            "(the main job, then the tests)."
        )
    return found


def _one_line(block: list[str], section: str) -> str:
    body = [line for line in block if line.strip() and not line.lstrip().startswith("#")]
    joined = "\n".join(body).replace("\\\n", " ").strip()
    if not joined:
        raise ReadmeError(f"A ```bash block in '{section}' is empty.")
    if "\n" in joined:
        raise ReadmeError(
            f"A ```bash block in '{section}' holds several lines; make it one command "
            "(join steps with &&) so CI runs exactly what a reader copies."
        )
    return joined


def main(argv: list[str]) -> int:
    if len(argv) == 1:
        path, index = Path("README.md"), argv[0]
    elif len(argv) == 2:
        path, index = Path(argv[0]), argv[1]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        found = commands(path.read_text(encoding="utf-8"))
        print(found[int(index) - 1])
    except (ReadmeError, OSError) as exc:
        print(f"readme_commands: {exc}", file=sys.stderr)
        return 2
    except (ValueError, IndexError):
        print(f"readme_commands: N must be 1 or 2, not {index!r}.", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
