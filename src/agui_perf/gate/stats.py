"""The statistics of the timing decision, named the way the verdict reports them.

- A one-sided Mann-Whitney U rank test per benchmark and direction over the per-process medians
  (asv's choice: no normality assumption, robust to the odd slow process). Within-process rounds
  are *not* the samples: they are correlated, and feeding them to a test raised false alarms in
  practice (mui-public#1712).
- Holm's step-down correction across the benchmarks of one run: without it, with many benchmarks
  some benchmark trips on every run (REFERENCE §2).
- The effect: the ratio of medians (current / baseline) with a percentile bootstrap interval from
  a fixed-seed generator, so the same data always gives the same report.
"""

from __future__ import annotations

from math import comb
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import mannwhitneyu

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = [
    "BOOTSTRAP_RESAMPLES",
    "BOOTSTRAP_SEED",
    "EXACT_LIMIT",
    "TEST_NAME",
    "bootstrap_ratio_interval",
    "holm",
    "mann_whitney_method",
    "min_attainable_p",
    "p_faster",
    "p_slower",
    "ratio_of_medians",
]

TEST_NAME = "one-sided Mann-Whitney U"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240601
# The exact null distribution is cheap to enumerate at these sizes and, unlike the normal
# approximation, correct for the 5-15 processes a side the gate uses.
EXACT_LIMIT = 30


def _check(baseline: Sequence[float], current: Sequence[float]) -> None:
    if not baseline or not current:
        raise GateError(
            f"a rank test needs samples on both sides, got {len(baseline)} baseline and "
            f"{len(current)} current — measure at least one process per side"
        )


def mann_whitney_method(
    baseline: Sequence[float], current: Sequence[float]
) -> Literal["exact", "auto"]:
    """`exact` for small samples without ties; otherwise scipy's choice (tie-corrected normal)."""
    small = max(len(baseline), len(current)) <= EXACT_LIMIT
    ties = len(set(baseline) | set(current)) < len(baseline) + len(current)
    return "exact" if small and not ties else "auto"


def _one_sided(
    baseline: Sequence[float], current: Sequence[float], alternative: Literal["greater", "less"]
) -> float:
    _check(baseline, current)
    result = mannwhitneyu(
        np.asarray(current, dtype=float),
        np.asarray(baseline, dtype=float),
        alternative=alternative,
        method=mann_whitney_method(baseline, current),
    )
    return float(result.pvalue)


def p_slower(baseline: Sequence[float], current: Sequence[float]) -> float:
    """p-value for "current times are stochastically greater than baseline" (slower)."""
    return _one_sided(baseline, current, "greater")


def p_faster(baseline: Sequence[float], current: Sequence[float]) -> float:
    """p-value for "current times are stochastically smaller than baseline" (faster)."""
    return _one_sided(baseline, current, "less")


def min_attainable_p(n_baseline: int, n_current: int) -> float:
    """Smallest exact one-sided p: complete separation, 1 / C(n+m, n)."""
    return 1.0 / comb(n_baseline + n_current, n_baseline)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values: reject a hypothesis iff its adjusted p is at most alpha.

    Step-down: the i-th smallest p (0-based) is multiplied by (k - i), then made monotone, so
    the family-wise error rate stays at alpha for any dependence between benchmarks.
    """
    ordered = sorted(pvalues.items(), key=lambda item: (item[1], item[0]))
    k = len(ordered)
    adjusted: dict[str, float] = {}
    running = 0.0
    for i, (name, p) in enumerate(ordered):
        running = max(running, min(1.0, (k - i) * p))
        adjusted[name] = running
    return adjusted


def ratio_of_medians(baseline: Sequence[float], current: Sequence[float]) -> float:
    """median(current) / median(baseline): 1.15 means 15 % slower."""
    _check(baseline, current)
    return float(
        np.median(np.asarray(current, dtype=float)) / np.median(np.asarray(baseline, dtype=float))
    )


def bootstrap_ratio_interval(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the ratio of medians, each side resampled on its own.

    A new generator per call with a fixed seed: the interval depends only on the data, not on
    how many benchmarks were analysed before this one.
    """
    _check(baseline, current)
    rng = np.random.default_rng(seed)
    base = np.asarray(baseline, dtype=float)
    cur = np.asarray(current, dtype=float)
    base_medians = np.median(base[rng.integers(0, base.size, size=(resamples, base.size))], axis=1)
    cur_medians = np.median(cur[rng.integers(0, cur.size, size=(resamples, cur.size))], axis=1)
    ratios = cur_medians / base_medians
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(ratios, [tail, 100.0 - tail])
    return float(low), float(high)
