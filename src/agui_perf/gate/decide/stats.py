"""The statistics of the timing decision, named the way the verdict reports them.

Everything works on the logarithms of the per-process medians, where a slowdown by a factor is
a shift and slow phases of the host (which multiply a process's times) are shifts too:

- A one-sided Mann-Whitney U rank test per benchmark and direction (asv's choice: no normality
  assumption, robust to the odd slow process). Within-process rounds are *not* the samples: they
  are correlated, and feeding them to a test raised false alarms in practice (mui-public#1712).
- Holm's step-down correction across the benchmarks of one run: without it, with many benchmarks
  some benchmark trips on every run.
- The effect: the Hodges-Lehmann estimate of the ratio (the median of all n1 * n2 ratios
  current process / baseline process) and its distribution-free confidence bounds, order
  statistics of those same ratios picked from the exact null distribution of U (Hodges and
  Lehmann 1963; Lehmann, "Nonparametrics", 1975). The bounds are the rank test inverted: the
  lower bound at level g is above 1 exactly when the test "current slower" has p <= g. They
  are exact for any continuous distribution of the per-process medians under a shift,
  deterministic (no resampling), and an outlier process moves them by one order statistic
  per pairing only.
- The spread: Shamos' estimator (the median of the pairwise distances of one side's logs,
  scaled to a standard deviation, with a small-sample correction), robust to slow-phase
  outliers and more efficient than the MAD around the side's median (which runs 14 % low at
  8 processes a side).
- The smallest detectable change: the normal approximation of the rule's power with that
  spread (the Hodges-Lehmann estimate has variance pi / 3 * sigma^2 * (1/n1 + 1/n2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from math import comb
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import mannwhitneyu

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from numpy.typing import NDArray

__all__ = [
    "ESTIMATOR_NAME",
    "EXACT_LIMIT",
    "SPREAD_NAME",
    "TEST_NAME",
    "RankSummary",
    "critical_count",
    "detectable_change",
    "holm",
    "mann_whitney_method",
    "min_attainable_p",
    "p_faster",
    "p_slower",
    "rank_summary",
    "ratio_of_medians",
    "shamos_spread",
    "u_null_cdf",
]

TEST_NAME = "one-sided Mann-Whitney U"
ESTIMATOR_NAME = "Hodges-Lehmann"
SPREAD_NAME = "Shamos"
# The exact null distribution is cheap to enumerate at these sizes and, unlike the normal
# approximation, correct for the 5-30 processes a side the gate uses.
EXACT_LIMIT = 30
# Shamos' estimator: median |x_i - x_j| of a normal sample is sqrt(2) * 0.6745 sigma.
_SHAMOS_SCALE = 1.0 / (math.sqrt(2.0) * NormalDist().inv_cdf(0.75))
# Asymptotic variance factor of the Hodges-Lehmann shift at the normal (efficiency 3 / pi).
_HL_VARIANCE = math.pi / 3.0
_NORMAL = NormalDist()


def _check(baseline: Sequence[float], current: Sequence[float]) -> None:
    if not baseline or not current:
        raise GateError(
            f"a rank test needs samples on both sides, got {len(baseline)} baseline and "
            f"{len(current)} current — measure at least one process per side"
        )


def _logs(samples: Sequence[float], side: str) -> NDArray[np.float64]:
    values = np.asarray(samples, dtype=float)
    if not (np.isfinite(values).all() and (values > 0).all()):
        raise GateError(
            f"the {side} per-process medians must be positive finite times, got "
            f"{sorted(samples)[:3]} — re-measure (nox -s perf)"
        )
    logs: NDArray[np.float64] = np.log(values)
    return logs


def mann_whitney_method(
    baseline: Sequence[float], current: Sequence[float]
) -> Literal["exact", "auto"]:
    """`exact` for small samples without ties; otherwise scipy's choice (tie-corrected normal)."""
    small = max(len(baseline), len(current)) <= EXACT_LIMIT
    ties = len(set(baseline) | set(current)) < len(baseline) + len(current)
    return "exact" if small and not ties else "auto"


@lru_cache(maxsize=512)
def u_null_cdf(n1: int, n2: int) -> tuple[float, ...]:
    """P(U <= u) for u = 0 .. n1 * n2 when both samples come from one continuous distribution.

    The counts of U over the C(n1 + n2, n1) equally likely arrangements are the coefficients of
    the Gaussian binomial [n1 + n2 choose n1]_q = prod_i (1 - q^(n1+i)) / (1 - q^i); Python
    integers keep them exact, and each cumulative count is divided once.
    """
    total_u = n1 * n2
    counts = [1] + [0] * total_u
    for i in range(1, n2 + 1):
        step = n1 + i
        for u in range(total_u, step - 1, -1):  # times (1 - q^step)
            counts[u] -= counts[u - step]
        for u in range(i, total_u + 1):  # divided by (1 - q^i)
            counts[u] += counts[u - i]
    total = comb(n1 + n2, n1)
    return tuple(c / total for c in accumulate(counts))


def min_attainable_p(n_baseline: int, n_current: int) -> float:
    """Smallest exact one-sided p: complete separation, 1 / C(n+m, n)."""
    return 1.0 / comb(n_baseline + n_current, n_baseline)


@lru_cache(maxsize=512)
def _cdf_array(n1: int, n2: int) -> NDArray[np.float64]:
    array = np.asarray(u_null_cdf(n1, n2), dtype=float)
    array.setflags(write=False)
    return array


@lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    return np.triu_indices(n, 1)


def critical_count(n1: int, n2: int, level: float) -> int:
    """The largest c with P(U <= c) <= `level` under the null; -1 when even U = 0 is likelier.

    Exact up to EXACT_LIMIT processes a side, the normal approximation beyond.
    """
    if max(n1, n2) <= EXACT_LIMIT:
        return int(np.searchsorted(_cdf_array(n1, n2), level, side="right")) - 1
    mean = n1 * n2 / 2.0
    sd = math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0)
    return max(-1, math.floor(mean + _NORMAL.inv_cdf(level) * sd - 0.5))


def _exact_p(u_count: int, n1: int, n2: int) -> float:
    """P(U >= u_count) by symmetry as P(U <= N - u_count): no cancellation for tiny p."""
    total_u = n1 * n2
    if u_count <= 0:
        return 1.0
    return u_null_cdf(n1, n2)[total_u - u_count]


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
    return rank_summary(baseline, current, 0.5).p_slower


def p_faster(baseline: Sequence[float], current: Sequence[float]) -> float:
    """p-value for "current times are stochastically smaller than baseline" (faster)."""
    return rank_summary(baseline, current, 0.5).p_faster


@dataclass(frozen=True)
class RankSummary:
    """One benchmark's rank statistics, current against baseline."""

    ratio: float  # Hodges-Lehmann estimate of current / baseline: 1.15 means 15 % slower
    low: float | None  # one-sided lower confidence bound of the ratio; None: too few processes
    high: float | None  # one-sided upper bound, same level
    p_slower: float  # one-sided Mann-Whitney p, "current slower"
    p_faster: float  # one-sided Mann-Whitney p, "current faster"
    spread: float | None  # robust SD of the log samples (`shamos_spread`); None: 1 a side


def rank_summary(baseline: Sequence[float], current: Sequence[float], level: float) -> RankSummary:
    """Estimate, bounds (each one-sided at `level`) and both p-values from one set of ratios.

    Exact without ties and up to EXACT_LIMIT processes a side (then the test and the bounds
    agree exactly); with ties the p-values are scipy's tie-corrected ones.
    """
    _check(baseline, current)
    x, y = _logs(baseline, "baseline"), _logs(current, "current")
    n1, n2 = x.size, y.size
    diffs = np.sort(np.subtract.outer(y, x).ravel())
    total_u = diffs.size
    c = critical_count(n1, n2, level)
    low = high = None
    if c >= 0:
        low, high = math.exp(diffs[c]), math.exp(diffs[total_u - 1 - c])
    if mann_whitney_method(baseline, current) == "exact":
        above = int(np.count_nonzero(diffs > 0.0))
        slower, faster = _exact_p(above, n1, n2), _exact_p(total_u - above, n1, n2)
    else:
        slower = _one_sided(baseline, current, "greater")
        faster = _one_sided(baseline, current, "less")
    return RankSummary(
        ratio=math.exp(_sorted_median(diffs)),
        low=low,
        high=high,
        p_slower=slower,
        p_faster=faster,
        spread=_shamos(x, y),
    )


def shamos_spread(baseline: Sequence[float], current: Sequence[float]) -> float | None:
    """Robust standard deviation of the log per-process medians, over both sides.

    Shamos' estimator on each side's own pairs (never across: the sides may differ by the very
    change being measured), combined as the root mean square, so that a noisy side is not
    hidden by a quiet one: with equal processes a side, the estimate's standard error is then
    sqrt(pi / 3 * spread^2 * (1/n1 + 1/n2)). None with fewer than two processes on both sides.
    """
    return _shamos(_logs(baseline, "baseline"), _logs(current, "current"))


def _shamos(*sides: NDArray[np.float64]) -> float | None:
    variances = []
    for logs in sides:
        if logs.size < 2:
            continue
        i, j = _pairs(logs.size)
        # Shamos' estimator runs high on few samples (simulated on normal samples: +6 % at 8,
        # +3 % at 16); 1 + 1/(2n) removes that to within 1 % from 5 processes up.
        sigma = _sorted_median(np.sort(np.abs(logs[i] - logs[j]))) * _SHAMOS_SCALE
        sigma /= 1.0 + 0.5 / logs.size
        variances.append(sigma * sigma)
    if not variances:
        return None
    return math.sqrt(sum(variances) / len(variances))


def _sorted_median(values: NDArray[np.float64]) -> float:
    # np.median costs more than the whole rank summary at these sizes; the input is sorted.
    mid = values.size // 2
    return float(values[mid] if values.size % 2 else (values[mid - 1] + values[mid]) / 2.0)


def detectable_change(
    sigma: float,
    n_baseline: int,
    n_current: int,
    *,
    floor: float,
    pivot: float,
    level: float,
    power: float,
) -> float | None:
    """Smallest slowdown (ratio - 1) the rule calls a regression with probability `power`.

    The rule needs the lower bound (one-sided at `level`) above `floor` and the estimate above
    `pivot` (both ratios); with the estimate's standard error se, that takes a true log shift of
    max(log floor + (z_level + z_power) se, log pivot + z_power se). None when no bound exists
    at these sample sizes (the floor of the exact p is above `level`).
    """
    if critical_count(n_baseline, n_current, level) < 0:
        return None
    se = sigma * math.sqrt(_HL_VARIANCE * (1.0 / n_baseline + 1.0 / n_current))
    z_level, z_power = _NORMAL.inv_cdf(1.0 - level), _NORMAL.inv_cdf(power)
    shift = max(math.log(floor) + (z_level + z_power) * se, math.log(pivot) + z_power * se)
    return math.expm1(shift)


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
