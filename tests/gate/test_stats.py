from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from agui_perf.gate.decide.stats import (
    critical_count,
    detectable_change,
    holm,
    mann_whitney_method,
    min_attainable_p,
    p_faster,
    p_slower,
    rank_summary,
    ratio_of_medians,
    shamos_spread,
    u_null_cdf,
)
from agui_perf.gate.errors import GateError

BASE = [1.00, 1.01, 0.99, 1.02, 0.98, 1.005, 0.995, 1.015]
SLOW = [t * 1.15 for t in BASE]


def test_complete_separation_gives_the_smallest_exact_p() -> None:
    assert p_slower(BASE, SLOW) == pytest.approx(1 / math.comb(16, 8))
    assert p_faster(SLOW, BASE) == pytest.approx(1 / math.comb(16, 8))


def test_directions_are_one_sided() -> None:
    assert p_faster(BASE, SLOW) == pytest.approx(1.0)
    assert p_slower(SLOW, BASE) == pytest.approx(1.0)


def test_exact_method_only_without_ties_and_for_small_samples() -> None:
    assert mann_whitney_method(BASE, SLOW) == "exact"
    assert mann_whitney_method([1.0, 2.0], [2.0, 3.0]) == "auto"
    big = [float(i) for i in range(31)]
    assert mann_whitney_method(big, [x + 0.5 for x in big]) == "auto"


def test_ties_still_give_a_p_value() -> None:
    p = p_slower([1.0, 1.0, 1.0, 2.0], [2.0, 2.0, 3.0, 3.0])
    assert 0.0 < p < 0.1


def test_min_attainable_p_explains_the_default_processes() -> None:
    alpha_per_test = 0.01 / 15
    assert min_attainable_p(6, 6) > alpha_per_test
    assert min_attainable_p(7, 7) < alpha_per_test
    assert min_attainable_p(8, 8) == pytest.approx(1 / 12870)


def test_holm_known_values() -> None:
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert adjusted == pytest.approx({"d": 0.02, "a": 0.03, "c": 0.06, "b": 0.06})


def test_holm_is_capped_at_one_and_handles_empty() -> None:
    assert holm({}) == {}
    assert holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}
    assert holm({"only": 0.004}) == {"only": 0.004}


def test_ratio_of_medians() -> None:
    assert ratio_of_medians([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(2.0)


# --- the exact null distribution and the rank bounds --------------------------------------------


def test_null_distribution_of_u_is_exact() -> None:
    cdf = u_null_cdf(8, 8)
    assert len(cdf) == 65
    assert cdf[-1] == pytest.approx(1.0)
    # U <= 3 happens in 1 + 1 + 2 + 3 of the C(16, 8) arrangements.
    assert cdf[3] == pytest.approx(7 / 12870)
    # Symmetric around n1 * n2 / 2.
    density = np.diff([0.0, *cdf])
    assert density == pytest.approx(density[::-1])
    assert u_null_cdf(3, 5)[0] == pytest.approx(1 / math.comb(8, 3))


@pytest.mark.parametrize(("n1", "n2"), [(8, 8), (5, 9), (24, 24), (30, 12)])
def test_exact_p_values_agree_with_scipy(n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 * 100 + n2)
    for _ in range(20):
        base = list(rng.lognormal(0.0, 0.05, n1))
        cur = list(rng.lognormal(rng.uniform(-0.05, 0.05), 0.05, n2))
        for alternative, ours in (("greater", p_slower), ("less", p_faster)):
            expected = mannwhitneyu(cur, base, alternative=alternative, method="exact").pvalue
            assert ours(base, cur) == pytest.approx(expected, rel=1e-9)


def test_critical_count_exact_and_approximate() -> None:
    assert critical_count(8, 8, 0.01 / 14) == 3  # 7/12870 <= 7.1e-4 < 12/12870
    assert critical_count(8, 8, 0.5 / 12870) == -1  # not even U = 0 is that unlikely
    # Beyond EXACT_LIMIT the normal approximation, which agrees closely at that size.
    exact = critical_count(30, 30, 0.001)
    assert abs(critical_count(31, 31, 0.001) - exact) <= 0.05 * exact + 62


def test_the_bounds_are_the_test_inverted() -> None:
    rng = np.random.default_rng(5)
    level = 0.01 / 14
    for _ in range(200):
        base = list(rng.lognormal(0.0, 0.03, 8))
        cur = list(rng.lognormal(rng.uniform(0.0, 0.08), 0.03, 8))
        summary = rank_summary(base, cur, level)
        assert summary.low is not None
        assert summary.high is not None
        assert summary.low <= summary.ratio <= summary.high
        assert (summary.low > 1.0) == (summary.p_slower <= level)


def test_estimate_and_bounds_of_a_pure_scaling() -> None:
    base = [1.0, 1.1, 1.3, 0.9, 1.05, 0.95, 1.2, 0.85]
    summary = rank_summary(base, [2 * t for t in base], 0.01)
    assert summary.ratio == pytest.approx(2.0)
    assert summary.low is not None
    assert summary.high is not None
    assert summary.low < 2.0 < summary.high


def test_the_lower_bound_covers_a_true_shift_even_with_slow_phases() -> None:
    """P(lower bound > true ratio) <= level, whatever the (shared) distribution."""
    rng = np.random.default_rng(9)
    level, runs, missed = 0.05, 2000, 0
    for _ in range(runs):
        base = rng.lognormal(0.0, 0.04, 8) * np.where(rng.random(8) < 0.1, 1.8, 1.0)
        cur = 1.1 * rng.lognormal(0.0, 0.04, 8) * np.where(rng.random(8) < 0.1, 1.8, 1.0)
        low = rank_summary(list(base), list(cur), level).low
        assert low is not None
        missed += low > 1.1
    assert missed / runs <= level + 0.015, f"lower bound above the truth in {missed}/{runs}"


def test_no_bound_with_too_few_processes() -> None:
    summary = rank_summary([1.0, 1.1, 0.9], [1.3, 1.4, 1.2], 0.01)
    assert summary.low is None  # 1 / C(6, 3) = 0.05 > 0.01
    assert summary.high is None
    assert summary.ratio == pytest.approx(1.3, rel=0.05)


# --- spread and detectable change ----------------------------------------------------------------


def test_shamos_spread_estimates_the_log_sd_and_shrugs_off_a_slow_phase() -> None:
    rng = np.random.default_rng(2)
    clean = [
        shamos_spread(list(rng.lognormal(0, 0.03, 8)), list(rng.lognormal(0.1, 0.03, 8)))
        for _ in range(400)
    ]
    assert float(np.mean([s for s in clean if s is not None])) == pytest.approx(0.03, rel=0.06)
    base = list(rng.lognormal(0, 0.03, 8))
    slow = [*base[:-1], base[-1] * 1.9]
    quiet, outlier = shamos_spread(base, base), shamos_spread(slow, base)
    assert quiet is not None
    assert outlier is not None
    assert outlier < 1.6 * quiet
    assert shamos_spread([1.0], [2.0]) is None


def test_detectable_change_formula() -> None:
    kwargs = {"floor": 1.05, "pivot": 1.0875, "level": 0.01 / 14, "power": 0.95}
    at_3 = detectable_change(0.03, 24, 24, **kwargs)
    assert at_3 is not None
    # The estimate must clear the pivot by z(0.95) standard errors, here the binding term.
    se = 0.03 * math.sqrt(math.pi / 3 * (2 / 24))
    assert at_3 == pytest.approx(math.expm1(math.log(1.0875) + 1.6449 * se), rel=1e-3)
    at_5 = detectable_change(0.05, 24, 24, **kwargs)
    assert at_5 is not None
    # Here the bound binds: log 1.05 + (z(1 - level) + z(0.95)) se.
    se5 = 0.05 * math.sqrt(math.pi / 3 * (2 / 24))
    assert at_5 == pytest.approx(math.expm1(math.log(1.05) + (3.1947 + 1.6449) * se5), rel=1e-3)
    fewer = detectable_change(0.03, 8, 8, **kwargs)
    assert fewer is not None
    assert fewer > at_3
    assert detectable_change(0.03, 3, 3, **kwargs) is None


def test_non_positive_times_are_a_gate_error() -> None:
    with pytest.raises(GateError, match="must be positive finite times"):
        rank_summary([1.0, 0.0], [1.0, 2.0], 0.01)


def test_empty_samples_are_a_gate_error() -> None:
    with pytest.raises(GateError, match="needs samples on both sides, got 0 baseline and 2"):
        p_slower([], [1.0, 2.0])
    with pytest.raises(GateError):
        ratio_of_medians([1.0], [])
