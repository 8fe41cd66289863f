"""What an evaluation adds up to: per candidate, corpus chrF++/BLEU/TER and the judge's mean with
95% bootstrap intervals, a paired significance test against the best, flags, errors,
TTFT and latency percentiles, speed and cost; and the views (matrix and leaderboard) as HTML
or plain text.

With several runs, the runs are pooled: each (text, run) is one segment, paired across
candidates. A failed answer counts as an empty translation (and a judge score of 0).
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import metrics
from .checks import FLAG_NAMES, language_name
from .table import Table, counted

if TYPE_CHECKING:
    from .evaluation import Cell, Evaluation

__all__ = [
    "MATRIX_ROWS",
    "Summary",
    "evaluation_html",
    "evaluation_text",
    "live_primary",
    "matrix_html",
    "summarize",
]

MATRIX_ROWS = 40  # texts shown in the matrix; every cell is in to_pandas()
SHOWN_CHARS = 400  # of one translation in a matrix cell


@dataclass(frozen=True)
class Summary:
    rows: list[dict[str, Any]]  # one per candidate, best first
    primary: str | None  # "chrF++", "judge" or None (nothing to rank quality by)
    winner: str | None
    verdict: str


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _segments(ev: Evaluation, with_reference: bool) -> list[tuple[int, int]]:
    """(text, run) pairs every candidate answered for (done), in order."""
    out = []
    for i, item in enumerate(ev.items):
        if with_reference and item.reference is None:
            continue
        for run in range(1, ev.runs + 1):
            if all(ev.cell(i, c, run).done for c in range(len(ev.candidates))):
                out.append((i, run))
    return out


def _quality(ev: Evaluation) -> tuple[dict[int, dict[str, Any]], str | None, str]:
    """Per candidate index: metric -> BootstrapResult (and the segment count); the primary
    metric; and the verdict."""
    out: dict[int, dict[str, Any]] = {c: {} for c in range(len(ev.candidates))}
    primary: str | None = None
    segments = _segments(ev, with_reference=True)
    best_by: dict[str, int] = {}
    if segments:
        refs = [ev.items[i].reference or "" for i, _ in segments]
        hyps = {
            c: [_answer(ev.cell(i, c, run)) for i, run in segments]
            for c in range(len(ev.candidates))
        }
        # The best by chrF++ is the baseline the others are tested against.
        scores = {c: metrics.corpus_scores(h, refs, ["chrF++"])["chrF++"] for c, h in hyps.items()}
        best = max(scores, key=lambda c: scores[c])
        named = {str(c): hyps[c] for c in hyps}
        tested = metrics.paired_bootstrap(named, refs, baseline=str(best))
        for c in hyps:
            out[c].update(tested[str(c)])
            out[c]["segments"] = len(segments)
        primary, best_by["chrF++"] = "chrF++", best
    judged = [
        (i, run)
        for i, run in _segments(ev, with_reference=False)
        if all(ev.cell(i, c, run).judge_score is not None for c in range(len(ev.candidates)))
    ]
    if ev.judge and judged:
        values = {
            str(c): [float(ev.cell(i, c, run).judge_score or 0.0) for i, run in judged]
            for c in range(len(ev.candidates))
        }
        best = max(range(len(ev.candidates)), key=lambda c: statistics.fmean(values[str(c)]))
        tested_means = metrics.paired_bootstrap_means(values, baseline=str(best))
        for c in range(len(ev.candidates)):
            out[c]["judge"] = tested_means[str(c)]
            out[c]["judged"] = len(judged)
        primary, best_by["judge"] = primary or "judge", best
    return out, primary, _verdict(ev, out, primary, best_by)


def _answer(cell: Cell) -> str:
    return "" if cell.error else cell.text


def _verdict(
    ev: Evaluation, quality: dict[int, dict[str, Any]], primary: str | None, best_by: dict[str, int]
) -> str:
    if primary is None:
        why = "no text has a reference" if not ev.judge else "the judge gave no scores"
        return f"No quality ranking: {why}. Add references, or a judge (judge=PRESET)."
    best = best_by[primary]
    label = ev.candidates[best].label
    if len(ev.candidates) == 1:
        return f"{label}: {primary} {quality[best][primary].score:.1f} (one candidate)."
    tied = [
        (ev.candidates[c].label, quality[c][primary].p_value)
        for c in quality
        if c != best and not quality[c][primary].significant
    ]
    if not tied:
        worst_p = max(quality[c][primary].p_value for c in quality if c != best)
        return (
            f"Winner: {label} on {primary} ({quality[best][primary].score:.1f}), significantly "
            f"better than every other candidate (paired bootstrap, p ≤ {worst_p:.3f})."
        )
    others = ", ".join(f"{name} (p = {p:.2f})" for name, p in tied)
    return (
        f"No significant winner on {primary}: {label} scores highest "
        f"({quality[best][primary].score:.1f}) but is not significantly better than {others}."
    )


def _ms(values: list[float]) -> tuple[float | None, float | None]:
    return _percentile(values, 50), _percentile(values, 95)


def summarize(ev: Evaluation) -> Summary:
    """The leaderboard rows (best first by the primary metric) and the verdict."""
    quality, primary, verdict = _quality(ev)
    rows = []
    for c, candidate in enumerate(ev.candidates):
        cells = [cell for cell in ev.cells_of(c) if cell.done]
        ok = [cell for cell in cells if cell.error is None]
        q = quality[c]
        row: dict[str, Any] = {
            "candidate": candidate.label,
            "preset": candidate.preset.name,
            "model": candidate.preset.model,
            "answers": len(ok),
        }
        for metric in (*metrics.METRICS, "judge"):
            result = q.get(metric)
            row[metric] = None if result is None else result.score
            row[f"{metric} ±95%"] = None if result is None else result.ci
        best_result = q.get(primary) if primary else None
        row[f"p vs best ({primary})" if primary else "p vs best"] = (
            None if best_result is None else best_result.p_value
        )
        counts = {name: 0 for name in FLAG_NAMES if name != "error"}
        for cell in ok:
            for name in set(cell.flag_names()):
                counts[name] = counts.get(name, 0) + 1
        row["flagged"] = sum(bool(set(cell.flag_names()) - {"error"}) for cell in ok)
        row.update(counts)
        row["errors"] = len(cells) - len(ok)
        row["TTFT p50 ms"], row["TTFT p95 ms"] = _ms([x.ttft_ms for x in ok if x.ttft_ms])
        latency = [x.latency_ms for x in ok if x.latency_ms is not None]
        row["latency p50 ms"], row["latency p95 ms"] = _ms(latency)
        speeds = [s for s in (x.tokens_per_second for x in ok) if s]
        row["tokens/s"] = statistics.median(speeds) if speeds else None
        priced = [x for x in ok if x.cost is not None]
        row["cost $"] = sum(x.cost or 0.0 for x in priced) if priced else None
        chars = sum(len(ev.items[x.item].source) for x in priced)
        row["$ per 1k chars"] = (row["cost $"] or 0.0) / chars * 1000 if priced and chars else None
        judge_costs = [x.judge_cost for x in cells if x.judge_cost is not None]
        row["judge cost $"] = sum(judge_costs) if judge_costs else None
        judge_tokens = [x.judge_usage.total_tokens for x in cells if x.judge_usage]
        row["judge tokens"] = sum(t or 0 for t in judge_tokens) if judge_tokens else None
        row["cached"] = sum(x.cached for x in cells)
        rows.append(row)
    if primary:
        rows.sort(key=lambda r: -1e9 if r[primary] is None else -r[primary])
    best = next((r["candidate"] for r in rows), None)
    winner = best if verdict.startswith("Winner:") else None
    return Summary(rows, primary, winner, verdict)


# --- views ------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(ev: Evaluation, summary: Summary) -> Table:
    shown = ["candidate", "answers"]
    for metric in (*metrics.METRICS, "judge"):
        if any(r[metric] is not None for r in summary.rows):
            shown.append(metric)
    shown += ["flagged", "errors", "TTFT p50 ms", "latency p50 ms", "latency p95 ms", "tokens/s"]
    if any(r["cost $"] is not None for r in summary.rows):
        shown.append("$ per 1k chars")
    lines = []
    for r in summary.rows:
        line = []
        for name in shown:
            if name in (*metrics.METRICS, "judge") and r[name] is not None:
                line.append(f"{r[name]:.1f} ± {r[name + ' ±95%']:.1f}")
            elif name == "$ per 1k chars" and r[name] is not None:
                line.append(f"{r[name]:.5f}")
            else:
                line.append(_fmt(r[name], 0 if name.endswith("ms") else 1))
        lines.append(line)
    cached = f", {ev.cached} from the cache" if ev.cached else ""
    runs = f" × {ev.runs} runs" if ev.runs > 1 else ""  # one run goes unsaid
    done = "" if ev.complete else f" (interrupted: {ev.done} of {len(ev.cells)} done)"
    caption = (
        f"{counted(len(ev.items), 'text')} × {counted(len(ev.candidates), 'candidate')}{runs} → "
        f"{language_name(ev.to)}{cached}{done}"
    )
    names = [n.removesuffix(" ms") + " (ms)" if n.endswith(" ms") else n for n in shown]
    return Table(names, lines, caption=caption)


def _colour(score: float | None) -> str:
    if score is None:
        return "transparent"
    hue = max(0.0, min(100.0, score)) * 1.2  # 0 red … 120 green
    return f"hsla({hue:.0f}, 70%, 50%, 0.16)"


def _cell_html(cell: Cell, primary: str | None) -> str:
    if not cell.done:
        return "<td style='opacity:.5'>…</td>"
    text = cell.text if len(cell.text) <= SHOWN_CHARS else cell.text[:SHOWN_CHARS] + "…"
    parts = [f"<div style='white-space:pre-wrap;overflow-wrap:anywhere'>{html.escape(text)}</div>"]
    figures = [f"{m} {cell.scores[m]:.1f}" for m in ("chrF++", "BLEU") if m in cell.scores]
    if cell.judge_score is not None:
        figures.append(f"judge {cell.judge_score:.0f}")
    if cell.latency_ms is not None:
        figures.append(f"{cell.latency_ms:.0f} ms" + (" (cached)" if cell.cached else ""))
    if figures:
        parts.append(f"<div style='font-size:.8em;opacity:.7'>{' · '.join(figures)}</div>")
    for flag in cell.flags:
        colour = "#c62828" if flag.name == "error" else "#ad5700"
        parts.append(f"<div style='font-size:.8em;color:{colour}'>⚠ {html.escape(str(flag))}</div>")
    score = cell.judge_score if primary == "judge" else cell.scores.get("chrF++")
    style = f"vertical-align:top;text-align:left;background:{_colour(score)}"
    return f"<td style='{style}'>{''.join(parts)}</td>"


def live_primary(ev: Evaluation) -> str | None:
    """The metric cells are coloured by before the leaderboard exists."""
    if any(item.reference is not None for item in ev.items):
        return "chrF++"
    return "judge" if ev.judge else None


def matrix_html(ev: Evaluation, primary: str | None, rows: int = MATRIX_ROWS) -> str:
    """Texts down, candidates across (run 1 of each); each cell coloured by its score."""
    head = "".join(f"<th style='text-align:left'>{html.escape(label)}</th>" for label in ev.labels)
    body = []
    for i, item in enumerate(ev.items[:rows]):
        source = item.source if len(item.source) <= SHOWN_CHARS else item.source[:SHOWN_CHARS] + "…"
        first = f"<td style='vertical-align:top;text-align:left'>{html.escape(source)}</td>"
        cells = "".join(_cell_html(ev.cell(i, c), primary) for c in range(len(ev.candidates)))
        body.append(f"<tr>{first}{cells}</tr>")
    more = len(ev.items) - rows
    note = (
        f"<div style='opacity:.7'>… {counted(more, 'more text')}: see .to_pandas()</div>"
        if more > 0
        else ""
    )
    table = f"<table><thead><tr><th style='text-align:left'>text</th>{head}</tr></thead>"
    return f"<div style='overflow-x:auto'>{table}<tbody>{''.join(body)}</tbody></table>{note}</div>"


def evaluation_html(ev: Evaluation, rows: int = MATRIX_ROWS) -> str:
    summary = ev.summary()
    verdict = f"<p><b>{html.escape(summary.verdict)}</b></p>"
    return matrix_html(ev, summary.primary, rows) + verdict + _table(ev, summary)._repr_html_()


def evaluation_text(ev: Evaluation) -> str:
    summary = ev.summary()
    return f"{_table(ev, summary)!r}\n\n{summary.verdict}"
