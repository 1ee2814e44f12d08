from __future__ import annotations

import math

import numpy as np
import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.stats import (
    bootstrap_ratio_interval,
    holm,
    mann_whitney_method,
    min_attainable_p,
    p_faster,
    p_slower,
    ratio_of_medians,
)

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


def test_bootstrap_is_deterministic_and_brackets_the_ratio() -> None:
    rng = np.random.default_rng(7)
    base = list(rng.normal(1.0, 0.03, 8))
    cur = list(rng.normal(1.15, 0.03, 8))
    first = bootstrap_ratio_interval(base, cur)
    assert first == bootstrap_ratio_interval(base, cur)
    low, high = first
    assert low <= ratio_of_medians(base, cur) <= high
    assert 1.0 < low < high < 1.35


def test_bootstrap_interval_widens_with_noise() -> None:
    rng = np.random.default_rng(3)
    quiet = bootstrap_ratio_interval(list(rng.normal(1, 0.01, 8)), list(rng.normal(1, 0.01, 8)))
    noisy = bootstrap_ratio_interval(list(rng.normal(1, 0.2, 8)), list(rng.normal(1, 0.2, 8)))
    assert noisy[1] - noisy[0] > 5 * (quiet[1] - quiet[0])


def test_empty_samples_are_a_gate_error() -> None:
    with pytest.raises(GateError, match="needs samples on both sides, got 0 baseline and 2"):
        p_slower([], [1.0, 2.0])
    with pytest.raises(GateError):
        ratio_of_medians([1.0], [])
