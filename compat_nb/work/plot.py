"""An evaluation as a picture: quality against median latency and against cost, one point per
candidate with its 95% interval (matplotlib, the optional `plot` extra)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from .evaluation import Evaluation

__all__ = ["plot_evaluation"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError(
            'The plot needs matplotlib: pip install "compat_nb[plot]" (in a notebook, '
            '%pip install "compat_nb[plot]"), then restart the kernel.'
        ) from None
    return plt


def plot_evaluation(ev: Evaluation, path: str | os.PathLike[str] | None = None) -> Any:
    """A Figure with two panels: quality vs latency p50 (ms), quality vs $ per 1,000 source
    characters. Quality is the leaderboard's primary metric (chrF++, else the judge)."""
    summary = ev.summary()
    if summary.primary is None:
        raise ConfigError(
            "Nothing to plot: no text has a reference and there is no judge. Add references "
            "or a judge (judge=PRESET) to measure quality."
        )
    plt = _pyplot()
    metric = summary.primary
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    panels = (("latency p50 ms", "median latency (ms)"), ("$ per 1k chars", "$ per 1,000 chars"))
    for ax, (column, title) in zip(axes, panels, strict=True):
        points = [r for r in summary.rows if r[metric] is not None and r[column] is not None]
        for row in points:
            ax.errorbar(row[column], row[metric], yerr=row[f"{metric} ±95%"], fmt="o", capsize=4)
            ax.annotate(
                row["candidate"],
                (row[column], row[metric]),
                textcoords="offset points",
                xytext=(6, 6),
                fontsize=8,
            )
        ax.set_xlabel(title)
        ax.set_ylabel(f"{metric} (95% interval)")
        ax.grid(alpha=0.3)
        if not points:
            reason = "no prices set on the presets" if column.startswith("$") else "no timings"
            ax.text(0.5, 0.5, reason, transform=ax.transAxes, ha="center", alpha=0.6)
    fig.suptitle(f"{metric} against latency and cost → {ev.to}")
    if path is not None:
        fig.savefig(path)
    plt.close(fig)  # shown once, as the cell's result, not again by the inline backend
    return fig
