"""Evaluations seen live: the matrix filling in while the requests run (a display handle in a
notebook, a progress line in a terminal), then the leaderboard; `compat_nb.evaluate` and
`%%translate --eval`.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from ..config import bounds
from ..config.presets import Preset
from ..errors import ConfigError
from ..wire.aio import run_sync
from ..work.cache import get_cache
from ..work.candidates import Candidate, resolve_candidates
from ..work.evaluation import Cell, Evaluation
from ..work.evaluator import DEFAULT_CONCURRENCY, Evaluator
from ..work.languages import resolve_language
from ..work.leaderboard import live_primary, matrix_html
from ..work.testset import load_test_set
from ..work.translation import DEFAULT_TARGET
from . import display, live

__all__ = ["EvaluationMatrix", "aevaluate", "evaluate", "evaluate_in_cell"]

_NEEDS = ("sacrebleu", "py3langid", "pandas")


class EvaluationMatrix(live.Redrawn):
    """The live view: in a kernel, the matrix (first rows) and a progress bar in one display
    handle, redrawn at most `rate` times a second and replaced by the result at the end; in a
    terminal, a progress line on stderr."""

    def __init__(self, *, kernel: bool, rate: float = 4.0) -> None:
        self.kernel = kernel
        self.interval = 1.0 / rate if rate > 0 else 0.25
        self.updates = 0
        self.ev: Evaluation | None = None
        self._handle: Any = None
        self._dirty = False
        self._last = 0.0

    def _line(self) -> str:
        assert self.ev is not None
        ev = self.ev
        cached = f" ({ev.cached} from the cache)" if ev.cached else ""
        return f"Evaluating: {ev.done} / {len(ev.cells)} answers{cached}"

    def _bundle(self) -> dict[str, str]:
        assert self.ev is not None
        line = self._line()
        bar = f"<progress value='{self.ev.done}' max='{len(self.ev.cells)}' style='width:16em'>"
        html = f"<div>{bar}</progress> {line}</div>" + matrix_html(self.ev, live_primary(self.ev))
        return {"text/html": html, "text/plain": line}

    def start(self, evaluation: Evaluation) -> None:
        self.ev = evaluation
        if self.kernel:
            self._handle = live.show(self._bundle())
            self.updates += 1
        else:
            self._print(force=True)

    def cell_done(self, cell: Cell) -> None:
        self._dirty = True
        if not self.kernel:
            self._print(force=False)

    def _print(self, *, force: bool) -> None:
        now = time.monotonic()
        if force or now - self._last >= self.interval:
            self._last = now
            sys.stderr.write("\r" + self._line())
            sys.stderr.flush()

    def finish(self, evaluation: Evaluation) -> None:
        """The matrix, verdict and leaderboard (kernel); the last progress line (terminal)."""
        if self.kernel:
            bundle = {"text/html": evaluation._repr_html_(), "text/plain": repr(evaluation)}
            self.updates += 1
            self._handle.update(bundle, raw=True)
        else:
            self._print(force=True)
            sys.stderr.write("\n")
            sys.stderr.flush()


def _require_libraries() -> None:
    import importlib.util

    missing = [name for name in _NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        pip = "%pip" if display.in_kernel() else "pip"
        raise ConfigError(
            f'Evaluation needs {", ".join(missing)}: {pip} install "compat_nb[eval]" '
            "(then restart the kernel)."
        )


def _judge(judge: Any, common: dict[str, Any]) -> Candidate | None:
    if judge is None or judge is False:
        return None
    try:
        (chosen,) = resolve_candidates([judge], **common)
    except ConfigError as exc:
        raise ConfigError(f"The judge: {exc.message.removeprefix('Candidate 1: ')}") from None
    if chosen.preset.temperature is None:  # GEMBA scores with greedy decoding
        chosen = Candidate(chosen.label, chosen.preset.replace(temperature=0.0))
    return chosen


def _target(to: str | None, candidates: list[Candidate], default: str) -> str:
    if to:
        return to
    targets = {c.preset.target_language for c in candidates}
    if len(targets) == 1 and None not in targets:
        return str(targets.pop())
    return default


def prepare(
    data: Any,
    candidates: Any,
    *,
    to: str | None,
    source: str | None,
    judge: Any,
    runs: int,
    concurrency: int,
    refresh: bool,
    cache: bool,
    stream: bool,
    record: bool,
    default_to: str = DEFAULT_TARGET,
    columns: dict[str, str | None] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Evaluator:
    """Inputs, candidates and judge checked and resolved: an Evaluator ready to run."""
    _require_libraries()
    bounds.check("runs", runs)
    bounds.check("concurrency", concurrency)
    items = load_test_set(data, **(columns or {}))
    chosen = resolve_candidates(candidates, **(overrides or {}))
    target = _target(to, chosen, default_to)
    resolve_language(target)  # an unknown language fails here, naming the closest ones
    return Evaluator(
        items,
        chosen,
        to=target,
        source=source,
        runs=runs,
        judge=_judge(judge, {}),
        concurrency=concurrency,
        stream=stream,
        cache=get_cache() if cache else None,
        refresh=refresh,
        record=record,
    )


async def aevaluate(
    data: Any,
    candidates: Any = None,
    *,
    to: str | None = None,
    source: str | None = None,
    judge: str | Preset | Any = None,
    runs: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    refresh: bool = False,
    cache: bool = True,
    stream: bool = True,
    live: bool | None = None,
    dask: bool | int = False,
    record: bool = True,
    source_column: str | None = None,
    reference_column: str | None = None,
    terms_column: str | None = None,
    **overrides: Any,
) -> Evaluation:
    """`evaluate` for async code: same arguments, returns the same Evaluation."""
    evaluator = prepare(
        data,
        candidates,
        to=to,
        source=source,
        judge=judge,
        runs=runs,
        concurrency=concurrency,
        refresh=refresh,
        cache=cache,
        stream=stream,
        record=record,
        columns={
            "source_column": source_column,
            "reference_column": reference_column,
            "terms_column": terms_column,
        },
        overrides=overrides,
    )
    # A view by default in IPython (the matrix in a notebook, a progress line in a terminal),
    # none in a plain script; without IPython imported there is no shell to ask about.
    shell = "IPython" in sys.modules and sys.modules["IPython"].get_ipython() is not None
    kernel = shell and display.in_kernel()
    view = EvaluationMatrix(kernel=kernel) if (shell if live is None else live) else None
    if dask:
        from ..work.distributed import run_in_dask

        return await run_in_dask(
            evaluator, partitions=None if dask is True else int(dask), view=view
        )
    return await evaluator.run(view)


def evaluate(
    data: Any,
    candidates: Any = None,
    *,
    to: str | None = None,
    source: str | None = None,
    judge: str | Preset | Any = None,
    runs: int = 1,
    concurrency: int = DEFAULT_CONCURRENCY,
    refresh: bool = False,
    cache: bool = True,
    stream: bool = True,
    live: bool | None = None,
    dask: bool | int = False,
    record: bool = True,
    source_column: str | None = None,
    reference_column: str | None = None,
    terms_column: str | None = None,
    **overrides: Any,
) -> Evaluation:
    """Translate every text with every candidate and score them; returns an Evaluation.

    data: a path (.csv/.tsv/.jsonl/.json/.txt), a list of texts or (source, reference) pairs,
    or a pandas DataFrame/Series; columns source/reference/terms by default (name others with
    source_column=, reference_column=, terms_column=).
    candidates: preset names, Presets, (preset, model) pairs or dicts such as {"preset": "Local",
    "temperature": 0.2, "system": "formal register"} (default: the active preset).
    to: the target language (default: the candidates' shared one, else English).
    judge: a preset (or candidate spec) that scores each answer 0–100, GEMBA-DA style.
    runs: answers per text and candidate; concurrency: requests in flight per server.
    Answers come from the persisted cache when they can (refresh=True asks again, cache=False
    neither reads nor writes it). live: the matrix while it runs in a notebook, a progress
    line on stderr in terminal IPython (default: in IPython, not in a plain script).
    dask: run the requests inside Dask, one partition per worker (or this many partitions).
    Overrides (temperature=0, max_tokens=…) apply to every candidate that does not set its own.

    Returns an Evaluation (cells, leaderboard(), winner, verdict, to_pandas(), plot()). A
    failed request stays in its cell; what cannot run at all (a test set, candidate, language
    or setting that cannot be used, a missing library) raises ConfigError naming the fix.
    """
    return run_sync(
        aevaluate(
            data,
            candidates,
            to=to,
            source=source,
            judge=judge,
            runs=runs,
            concurrency=concurrency,
            refresh=refresh,
            cache=cache,
            stream=stream,
            live=live,
            dask=dask,
            record=record,
            source_column=source_column,
            reference_column=reference_column,
            terms_column=terms_column,
            **overrides,
        )
    )


def cell_texts(cell: str) -> list[tuple[str, str | None]]:
    """A cell's lines as texts; a line "source ||| reference" (or with a tab) carries its
    reference. Blank lines are skipped."""
    out: list[tuple[str, str | None]] = []
    for line in cell.splitlines():
        if not line.strip():
            continue
        for sep in (" ||| ", "\t"):
            if sep in line:
                source, reference = line.split(sep, 1)
                out.append((source.strip(), reference.strip() or None))
                break
        else:
            out.append((line.strip(), None))
    return out


def evaluate_in_cell(
    magics: Any, cell: str, candidates: list[Preset], opts: Any
) -> Evaluation | None:
    """`%%translate --eval [FILE] -p A -p B …`: the texts from FILE, or the cell's lines."""
    path = opts.eval if opts.eval not in (None, "-") else None
    if path and cell.strip():
        raise ConfigError(
            f"--eval {path} reads the texts from the file: leave the cell empty, or drop the "
            "file name to evaluate the cell's own lines."
        )
    data: Any = path or cell_texts(cell)
    if not data:
        raise ConfigError(
            "Nothing to evaluate: name a file (--eval texts.csv) or write one text per line "
            'below %%translate --eval ("source ||| reference" adds a reference).'
        )
    evaluator = prepare(
        data,
        candidates,
        to=opts.to,
        source=opts.source or magics.source_language,
        judge=opts.judge,
        runs=opts.runs,
        concurrency=opts.concurrency or DEFAULT_CONCURRENCY,
        refresh=opts.refresh,
        cache=True,
        stream=magics.stream and not opts.no_stream,
        record=bool(magics.record_history),
        default_to=magics.target_language,
    )
    view = EvaluationMatrix(kernel=display.in_kernel(), rate=min(magics.display_rate, 4.0))
    try:
        evaluation = run_sync(evaluator.run(view))
    except KeyboardInterrupt:
        print(
            "Interrupted: the answers received are cached; run the cell again to fetch only the "
            "missing ones.",
            file=sys.stderr,
        )
        return evaluator.evaluation
    if not view.kernel:
        print(repr(evaluation))
    return evaluation
