"""Run compat_nb's benchmarks and print one table: figure, alternatives, ratio, target, met.

    python -m bench [--quick] [--json PATH] [--only NAME ...] [--list]
    python bench/run.py ...                     # the same

Every `bench/bench_NAME.py` is found by name. One that defines `run(quick: bool) -> list[Row]`
adds rows to the table; one without `run` is a script of its own, run in a child process with
`--quick` passed on when given, its output printed after the table (`--only NAME` runs just
those). Each bench starts its own servers; alternatives are measured in the same interleaved
rounds; figures are medians; the load column is the 1-minute load average at the time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`: make `bench` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import ROOT, Row, fmt

HERE = Path(__file__).resolve().parent
# The order the table reads in; benches found on disk but not named here come last.
ORDER = ["load", "client", "cell", "compare", "many", "memory", "presets"]


def discover() -> list[str]:
    found = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (it pastes into the README as is)."""
    lines = [
        "| bench | what | compat_nb | alternatives | ratio | target | met | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        others = "; ".join(f"{k} {fmt(v, r.alt_unit or r.unit)}" for k, v in r.alternatives.items())
        if r.note:
            others = f"{others} ({r.note})" if others else r.note
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}×"
        if r.ratio is not None and r.ratio_of:
            ratio += f" {r.ratio_of}"
        met = {True: "yes", False: "**no**", None: "—"}[r.met]
        lines.append(
            f"| {r.bench} | {r.what} | {fmt(r.ours, r.unit)} | {others} | {ratio} | "
            f"{r.target} | {met} | {r.load:.1f} |"
        )
    return "\n".join(lines)


def run_script(name: str, quick: bool) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    argv = [sys.executable, str(HERE / f"bench_{name}.py"), *(["--quick"] if quick else [])]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode:
        return f"{done.stdout}\n(exit code {done.returncode})\n{done.stderr}".strip()
    return done.stdout.strip()


def compile_bytecode() -> str:
    """Compile compat_nb's modules to bytecode first, as pip does when it installs a package.

    With PYTHONDONTWRITEBYTECODE set (as it is on some machines), every fresh interpreter and
    kernel would compile compat_nb from source on import (~100 ms) while the packages it is
    measured against load the bytecode their install wrote: load and cold call would time
    the compiler. The bytecode goes where Python looks for it (`__pycache__`, ignored by git;
    a PYTHONPYCACHEPREFIX would hide every installed package's bytecode instead).
    """
    import compileall

    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # children keep the cache up to date
    sys.dont_write_bytecode = False
    compileall.compile_dir(ROOT / "compat_nb", quiet=2)
    return "compat_nb's bytecode compiled first, as an installed package has it"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and sizes (~1 min)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows and context as JSON")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benches")
    parser.add_argument("--list", action="store_true", help="list the benches and exit")
    args = parser.parse_args(argv)
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"no bench named {', '.join(unknown)}; known: {', '.join(names)}")
        names = [n for n in names if n in args.only]

    # Benchmarks never read or write the user's presets, keys or history.
    os.environ["COMPAT_NB_CONFIG_DIR"] = tempfile.mkdtemp(prefix="compat_nb_bench_")
    bytecode = compile_bytecode()
    started = dt.datetime.now().astimezone()
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    print(
        f"# {command.strip()} — {started:%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}; {bytecode}",
        flush=True,
    )
    rows: list[Row] = []
    scripts: dict[str, str] = {}
    for name in names:
        began = time.perf_counter()
        source = (HERE / f"bench_{name}.py").read_text(encoding="utf-8")
        if re.search(r"^def run\(", source, re.M):
            new = importlib.import_module(f"bench.bench_{name}").run(args.quick)
            rows += new
            for row in new:
                print(f"  {row.bench}: {row.what}: {fmt(row.ours, row.unit)}", flush=True)
        else:
            scripts[name] = run_script(name, args.quick)
        print(f"[{name} done in {time.perf_counter() - began:.0f} s]", file=sys.stderr, flush=True)
    print()
    print(table(rows))
    for name, out in scripts.items():
        print(f"\n## bench_{name}.py\n\n{out}")
    if args.json:
        payload = {
            "command": command.strip(),
            "date": started.isoformat(timespec="seconds"),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "rows": [r.to_json() for r in rows],
            "scripts": scripts,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    missed = [r for r in rows if r.met is False]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} rows within target ({len(missed)} missed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
