"""What `%load_ext compat_nb` costs: fresh interpreters, median of N, against the imports it avoids.

python bench/bench_load.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

PROBE = r"""
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
before = set(sys.modules)
t = time.perf_counter()
{action}
elapsed = (time.perf_counter() - t) * 1000
print(json.dumps({{"ms": elapsed, "new": sorted(set(sys.modules) - before)}}))
"""

ACTIONS = {
    "%load_ext compat_nb": "shell.run_line_magic('load_ext', 'compat_nb')",
    "import httpx (avoided)": "import httpx",
    "import ipywidgets (avoided)": "import ipywidgets",
    "import openai (for scale)": "import openai",
}


def measure(action: str, runs: int) -> tuple[float, list[str]]:
    samples, modules = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(action=action)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        result = json.loads(out.strip().splitlines()[-1])
        samples.append(result["ms"])
        modules = result["new"]
    return statistics.median(samples), modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = {}
    for label, action in ACTIONS.items():
        try:
            results[label] = measure(action, args.runs)
        except subprocess.CalledProcessError:
            print(f"{label:30s}  not installed")
    load_ms, loaded = results["%load_ext compat_nb"]
    print(f"median of {args.runs} fresh interpreters (IPython already imported, as in a kernel)")
    for label, (ms, _mods) in results.items():
        ratio = "" if label.startswith("%") else f"  ({ms / load_ms:5.1f}x the load)"
        print(f"{label:30s} {ms:8.2f} ms{ratio}")
    heavy = [m for m in loaded if m.split(".")[0] in {"httpx", "ipywidgets", "httpcore", "anyio"}]
    print(f"modules %load_ext imported: {len(loaded)}; heavy ones among them: {heavy or 'none'}")


if __name__ == "__main__":
    main()
