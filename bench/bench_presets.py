"""Many presets: `%translate presets` (the table, rendered) and `names(usable_only=True)`.

100, 1,000 and 10,000 saved presets (half of them with a saved key), each count in a fresh
interpreter with its own config directory; reading presets.json with `json.load` is the
floor beside them.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from bench._support import Row, run_python

CHILD = r"""
import json, statistics, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "compat_nb")
import compat_nb

def table():
    shown = shell.run_line_magic("translate", "presets")
    return repr(shown), shown._repr_html_()

def usable():
    return compat_nb.get_store().names(usable_only=True)

def floor():
    with open(compat_nb.get_store().presets_path) as f:
        return json.load(f)

out = {}
for name, fn in (("table", table), ("usable", usable), ("json.load", floor)):
    fn()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""

TIMEOUT = 120  # a quadratic listing of 10,000 presets takes minutes: report it as missed


def _config(count: int) -> str:
    directory = Path(tempfile.mkdtemp(prefix=f"bench_presets_{count}_"))
    presets = {
        f"Preset {i}": {
            "base_url": f"http://127.0.0.1:{10000 + i % 50000}/v1",
            "model": f"model-{i}" if i % 3 else "",
            "temperature": 0.2,
            "headers": {"X-Team": "docs"},
        }
        for i in range(count)
    }
    data = {"version": 1, "presets": presets, "active": "Preset 1"}
    (directory / "presets.json").write_text(json.dumps(data), encoding="utf-8")
    # Every other preset has a saved key: each is checked as it is merged in.
    keys = {f"Preset {i}": f"sk-bench-{i:08d}-0f3a9c" for i in range(0, count, 2)}
    credentials = directory / "credentials.json"
    credentials.write_text(json.dumps({"version": 1, "keys": keys}), encoding="utf-8")
    credentials.chmod(0o600)
    return str(directory)


def run(quick: bool) -> list[Row]:
    counts = [100, 1000] if quick else [100, 1000, 10000]
    results: dict[int, dict[str, float] | None] = {}
    for count in counts:
        env = {"COMPAT_NB_CONFIG_DIR": _config(count)}
        try:
            results[count] = run_python(CHILD, env=env, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            results[count] = None
    rows = []
    largest = counts[-1]
    for label, key in (("`%translate presets`", "table"), ("`names(usable_only=True)`", "usable")):
        figures = {c: (r[key] * 1000 if r else float("nan")) for c, r in results.items()}
        floor = {c: (r["json.load"] * 1000 if r else float("nan")) for c, r in results.items()}
        done = [c for c in counts if results[c]]
        # Linear: the time per preset at the largest count within 2x of the count before.
        per = {c: figures[c] / c for c in done}
        previous = counts[-2]
        linear = per[largest] / per[previous] if {largest, previous} <= set(per) else float("nan")
        ours = figures[largest]
        met = results[largest] is not None and ours <= 1000 and linear <= 2
        note = "; ".join(f"{c:,}: {figures[c]:,.1f} ms" for c in counts)
        if results[largest] is None:
            note += f" (timed out after {TIMEOUT} s)"
        rows.append(
            Row(
                "presets",
                f"{label} with {largest:,} presets, ms",
                ours,
                "ms",
                {f"json.load of {largest:,}": floor[largest]},
                linear,
                f"per preset at {previous:,}",
                f"linear; {largest:,} in ≤ 1 s" if largest == 10000 else "linear",
                met,
                note,
            )
        )
    return rows
