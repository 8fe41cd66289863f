"""Translation quality against references, with sacrebleu: chrF++, BLEU and TER, at corpus and
sentence level, and paired bootstrap resampling to tell a real difference from noise.

Everything here is sacrebleu's own computation with its defaults (the figures equal its
command line on the same files); this module only chooses the metrics and names the results.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALPHA",
    "METRICS",
    "BootstrapResult",
    "corpus_scores",
    "paired_bootstrap",
    "paired_bootstrap_means",
    "sentence_scores",
]

METRICS = ("chrF++", "BLEU", "TER")  # TER is an error rate: lower is better
LOWER_IS_BETTER = frozenset({"TER"})
ALPHA = 0.05  # a difference is significant when p < ALPHA
BOOTSTRAP_SAMPLES = 1000  # sacrebleu's default for --paired-bs


def _metric(name: str, *, sentence: bool = False) -> Any:
    from sacrebleu.metrics import BLEU, CHRF, TER

    if name == "chrF++":
        return CHRF(word_order=2)  # chrF++: Popović (2017), character and word n-grams
    if name == "BLEU":
        # Sentence BLEU needs effective order, or one missing 4-gram zeroes the score.
        return BLEU(effective_order=sentence)
    if name == "TER":
        return TER()
    raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")


def corpus_scores(
    hypotheses: Sequence[str], references: Sequence[str], names: Sequence[str] = METRICS
) -> dict[str, float]:
    """{"chrF++": …, "BLEU": …, "TER": …} for a corpus (0–100; TER can exceed 100), or just
    the metrics `names` asks for (TER is the slow one).

    Equal to `sacrebleu REF -i HYP -m chrf bleu ter --chrf-word-order 2` on the same lines.
    """
    refs = [list(references)]
    return {name: _metric(name).corpus_score(list(hypotheses), refs).score for name in names}


def sentence_scores(hypothesis: str, reference: str) -> dict[str, float]:
    """The same metrics for one segment (BLEU with effective order, as sacrebleu advises)."""
    return {
        name: _metric(name, sentence=True).sentence_score(hypothesis, [reference]).score
        for name in METRICS
    }


@dataclass(frozen=True)
class BootstrapResult:
    """One system's score under paired bootstrap resampling against a baseline system.

    `score` is the actual score, `mean` ± `ci` the bootstrap estimate of the true mean and the
    half-width of its 95% interval, `p_value` the chance of a difference at least this large
    if both came from the same process (None for the baseline itself).
    """

    score: float
    mean: float
    ci: float
    p_value: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < ALPHA


def paired_bootstrap(
    systems: Mapping[str, Sequence[str]],
    references: Sequence[str],
    *,
    baseline: str,
    n_samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, dict[str, BootstrapResult]]:
    """{system: {metric: BootstrapResult}}: every system against `baseline`, on every metric.

    sacrebleu's paired bootstrap resampling (Koehn 2004, as its `--paired-bs` runs it, with
    its seed: SACREBLEU_SEED, else 12345), so the figures match its command line.
    """
    from sacrebleu.significance import PairedTest

    order = [baseline, *(name for name in systems if name != baseline)]
    named: list[tuple[str, Sequence[str]]] = [(name, list(systems[name])) for name in order]
    metrics = {name: _metric(name) for name in METRICS}
    test = PairedTest(named, metrics, [list(references)], test_type="bs", n_samples=n_samples)
    _, table = test()
    # sacrebleu names its columns after the metric's own name ("chrF2++"), in our order.
    columns = [key for key in table if key != "System"]
    out: dict[str, dict[str, BootstrapResult]] = {name: {} for name in order}
    for metric, column in zip(METRICS, columns, strict=True):
        base = table[column][0]  # the baseline comes first in `order`
        for name, result in zip(order, table[column], strict=True):
            assert not isinstance(result, str) and not isinstance(base, str)
            out[name][metric] = BootstrapResult(
                score=float(result.score),
                mean=float(result.mean if result.mean is not None else result.score),
                ci=float(result.ci or 0.0),
                p_value=None if name == baseline else _p_value(result, base),
            )
    return out


def _p_value(result: Any, baseline: Any) -> float:
    """sacrebleu's p-value, except for a score equal to the baseline's: no difference at all
    is never evidence of one (p = 1). sacrebleu counts only resampled differences *above* the
    actual one, so two systems that answer alike get 1/1001 and would read as significant."""
    if float(result.score) == float(baseline.score):
        return 1.0
    return float(result.p_value or 0.0)


def paired_bootstrap_means(
    scores: Mapping[str, Sequence[float]],
    *,
    baseline: str,
    n_samples: int = BOOTSTRAP_SAMPLES,
) -> dict[str, BootstrapResult]:
    """The same test for per-segment scores whose system score is their mean (a judge's 0–100).

    sacrebleu's procedure applied to means: the same seed and resampled indices, its
    `estimate_ci` for the 95% interval, and its p-value (the share of centred resampled
    differences above the actual one, with +1 smoothing). All lists pair segment by segment.
    """
    import numpy as np
    from sacrebleu.significance import estimate_ci

    arrays = {name: np.asarray(values, dtype="float64") for name, values in scores.items()}
    n = len(arrays[baseline])
    if any(len(a) != n for a in arrays.values()):
        raise ValueError("paired scores must have one value per segment for every system")
    seed = os.environ.get("SACREBLEU_SEED", "12345")
    rng = np.random.default_rng(None if seed.lower() == "none" else int(seed))
    idxs = rng.choice(n, size=(n_samples, n), replace=True)
    base = arrays[baseline]
    base_means = base[idxs].mean(axis=1)
    out: dict[str, BootstrapResult] = {}
    for name, values in arrays.items():
        means = values[idxs].mean(axis=1)
        mean, ci = estimate_ci(means)
        p_value = None
        if name != baseline:
            diffs = np.abs(means - base_means)
            centred = diffs - diffs.mean()
            actual = abs(values.mean() - base.mean())
            # An equal mean is no evidence of a difference (see _p_value).
            p_value = (
                1.0 if actual == 0 else float((np.sum(centred > actual) + 1) / (n_samples + 1))
            )
        out[name] = BootstrapResult(float(values.mean()), float(mean), float(ci), p_value)
    return out
