"""Read what a README command printed and say whether it did its job.

    python .ci/check_output.py main LOG     the quickstart: a translation by the bundled model,
                                            its footer, and the notebook's own closing check
    python .ci/check_output.py tests LOG    pytest's summary line: tests passed, none failed
                                            or skipped

Exit 0 when the output shows the job done, 1 (saying what is missing) when not: an exit code
of 0 alone is not enough, since a notebook run as a script can end quietly with nothing done.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# The footer a %%translate cell prints in a terminal under its translation.
_FOOTER = re.compile(r"^— Local · smollm2-135m · TTFT \d[\d.]* m?s · total \d[\d.]* m?s")
_DONE = "Quickstart done: two translations."
# pytest's last line: "===== 312 passed, 2 skipped in 95.1s (0:01:35) =====" (a failure on CI).
_SUMMARY = re.compile(r"^=+ (?P<counts>.+?) in [\d.]+s(?: \([\d:]+\))? =+$")


def check_main(text: str) -> list[str]:
    """What is missing from the quickstart's output; empty when it shows a real translation."""
    lines = [line.rstrip() for line in text.splitlines()]
    footers = [i for i, line in enumerate(lines) if _FOOTER.match(line)]
    problems = []
    if not footers:
        problems.append("no footer '— Local · smollm2-135m · TTFT … · total …' (no translation)")
    elif not any(i > 0 and lines[i - 1].strip() for i in footers):
        problems.append("the footer is not under a translation (the line above it is empty)")
    if _DONE not in lines:
        problems.append(f"the notebook's closing check did not print {_DONE!r}")
    return problems


def check_tests(text: str) -> list[str]:
    """What is wrong with pytest's summary; empty when tests ran and none failed."""
    summaries = [m for line in text.splitlines() if (m := _SUMMARY.match(line.strip()))]
    if not summaries:
        return ["no pytest summary line (did pytest run?)"]
    counts = summaries[-1].group("counts")
    numbers = dict((name, int(n)) for n, name in re.findall(r"(\d+) (\w+)", counts))
    problems = []
    if not numbers.get("passed"):
        problems.append(f"no test passed ({counts})")
    # On the CI machine everything a test needs is installed: a skip there hides a missing step.
    for bad in ("failed", "error", "errors", "skipped", "xfailed"):
        if numbers.get(bad):
            problems.append(f"{numbers[bad]} {bad} ({counts})")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("main", "tests"):
        print(__doc__, file=sys.stderr)
        return 2
    text = Path(argv[1]).read_text(encoding="utf-8", errors="replace")
    problems = (check_main if argv[0] == "main" else check_tests)(text)
    for problem in problems:
        print(f"check_output {argv[0]}: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_output {argv[0]}: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
