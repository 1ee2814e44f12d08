from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from agui_perf.gate.compare import (
    MAX_GROWN_SITES,
    Comparison,
    Confirmation,
    MemoryState,
    State,
    compare,
    confirm,
    flagged,
)
from agui_perf.gate.config import Settings
from agui_perf.gate.errors import GateError
from agui_perf.gate.results import AllocationSite
from tests.gate.test_results import make_env, make_memory, make_results

SETTINGS = Settings()


def noisy(rng: np.random.Generator, center: float, n: int = 8, cv: float = 0.03) -> list[float]:
    # Timing noise is right-skewed (GC pauses, preemption): lognormal, not normal.
    return list(center * rng.lognormal(0.0, cv, n))


def one(baseline: list[float], current: list[float], **settings: object) -> Comparison:
    return compare(
        make_results({"b": baseline}),
        make_results({"b": current}),
        dataclasses.replace(SETTINGS, **settings),  # type: ignore[arg-type]
        accepted_found=True,
    )


def test_fifteen_percent_slower_is_a_regression() -> None:
    rng = np.random.default_rng(1)
    result = one(noisy(rng, 1.0), noisy(rng, 1.15)).benchmark("b")
    assert result.state is State.REGRESSION
    assert result.ratio == pytest.approx(1.15, abs=0.04)
    assert result.significant
    assert result.interval is not None
    assert result.ratio is not None
    assert result.interval[0] < result.ratio < result.interval[1]
    assert result.statistic == (
        "one-sided Mann-Whitney U (current slower), Holm-corrected over 1 benchmark, p = 7.8e-05"
    )


def test_fifteen_percent_faster_is_an_improvement() -> None:
    rng = np.random.default_rng(2)
    result = one(noisy(rng, 1.15), noisy(rng, 1.0)).benchmark("b")
    assert result.state is State.IMPROVEMENT
    assert result.direction == "faster"
    assert "current faster" in result.statistic


@pytest.mark.parametrize("seed", range(20))
def test_same_distribution_is_unchanged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    assert one(noisy(rng, 1.0), noisy(rng, 1.0)).benchmark("b").state is State.UNCHANGED


def test_small_significant_shift_is_unchanged() -> None:
    rng = np.random.default_rng(4)
    result = one(noisy(rng, 1.0, cv=0.005), noisy(rng, 1.05, cv=0.005)).benchmark("b")
    assert result.significant
    assert result.state is State.UNCHANGED


def test_large_shift_in_huge_variance_is_inconclusive() -> None:
    base = [1.0, 3.0, 0.5, 2.0, 0.8, 2.5, 0.6, 1.5]
    cur = [x * 1.3 for x in [1.0, 0.5, 2.0, 0.8, 2.5, 0.6, 1.5, 3.0][::-1]]
    cur[0], cur[-1] = 0.4, 4.0
    result = one(base, cur).benchmark("b")
    assert result.ratio is not None
    assert result.ratio > 1.1
    assert not result.significant
    assert result.state is State.INCONCLUSIVE
    assert result.statistic.endswith("not significant at alpha 0.01")


def test_per_benchmark_min_effect_override() -> None:
    rng = np.random.default_rng(1)
    base, cur = noisy(rng, 1.0), noisy(rng, 1.15)
    assert one(base, cur).benchmark("b").state is State.REGRESSION
    relaxed = one(base, cur, min_effect_overrides={"b": 0.25}).benchmark("b")
    assert relaxed.state is State.UNCHANGED
    assert relaxed.min_effect == 0.25


def test_new_and_removed() -> None:
    result = compare(
        make_results({"kept": [1.0] * 3, "gone": [1.0] * 3}),
        make_results({"kept": [1.0] * 3, "fresh": [1.0] * 3}),
        SETTINGS,
        accepted_found=True,
    )
    assert [(b.name, b.state) for b in result.benchmarks] == [
        ("fresh", State.NEW),
        ("gone", State.REMOVED),
        ("kept", State.UNCHANGED),
    ]
    assert result.family_size == 1
    assert result.benchmark("fresh").statistic == "no test: the benchmark is new"
    assert result.benchmark("gone").current_median is None


def test_holm_correction_turns_a_lone_significance_into_inconclusive() -> None:
    # 5 processes a side: complete separation gives p = 1/252 = 0.004 < 0.01 alone,
    # but 15 * 0.004 = 0.06 after Holm over 15 benchmarks.
    base = [1.0, 1.01, 0.99, 1.02, 0.98]
    slow = [x * 1.2 for x in base]
    alone = one(base, slow).benchmark("b")
    assert alone.state is State.REGRESSION
    others = {f"o{i}": base for i in range(14)}
    crowd = compare(
        make_results({"b": base, **others}),
        make_results({"b": slow, **others}),
        SETTINGS,
        accepted_found=True,
    )
    row = crowd.benchmark("b")
    assert row.p_slower == alone.p_slower
    assert row.p_slower_adjusted == pytest.approx(15 * alone.p_slower)  # type: ignore[operator]
    assert row.state is State.INCONCLUSIVE
    assert "Holm-corrected over 15 benchmarks" in row.statistic
    assert any("raise [tool.agui_perf].processes" in note for note in crowd.notes)
    assert not any("processes" in note for note in one(base * 2, slow * 2).notes)


def test_false_alarm_rate_under_the_null() -> None:
    """200 simulated runs of 15 unchanged benchmarks, 8 processes a side."""
    rng = np.random.default_rng(20240601)
    runs_with_significance = runs_with_regression = 0
    for _ in range(200):
        base = {f"b{i}": noisy(rng, 1.0 + i) for i in range(15)}
        cur = {f"b{i}": noisy(rng, 1.0 + i) for i in range(15)}
        result = compare(make_results(base), make_results(cur), SETTINGS, accepted_found=True)
        runs_with_significance += any(b.significant for b in result.benchmarks)
        runs_with_regression += any(b.state is State.REGRESSION for b in result.benchmarks)
    # Holm keeps the family-wise rate of "any significant" at alpha = 0.01 (expect ~2 of 200);
    # the effect threshold on top makes a false regression rarer still.
    assert runs_with_significance <= 5
    assert runs_with_regression == 0


def test_power_for_a_fifteen_percent_shift_among_fifteen() -> None:
    rng = np.random.default_rng(11)
    detected = 0
    for _ in range(50):
        base = {f"b{i}": noisy(rng, 1.0) for i in range(15)}
        cur = {f"b{i}": noisy(rng, 1.0) for i in range(15)}
        cur["b0"] = noisy(rng, 1.15)
        result = compare(make_results(base), make_results(cur), SETTINGS, accepted_found=True)
        detected += result.benchmark("b0").state is State.REGRESSION
    assert detected >= 45


def test_stored_numbers_make_timing_advisory() -> None:
    rng = np.random.default_rng(1)
    result = compare(
        make_results({"b": noisy(rng, 1.0)}),
        make_results({"b": noisy(rng, 1.5)}),
        SETTINGS,
        accepted_found=False,
    )
    row = result.benchmark("b")
    assert row.state is State.REGRESSION
    assert row.advisory
    assert result.timing_regressions == ()
    assert not result.failed
    assert flagged(result) == []
    assert any("advisory only" in note for note in result.notes)


# --- confirmation ------------------------------------------------------------------------------


def _two(base_b: list[float], cur_b: list[float]) -> Comparison:
    return compare(
        make_results({"a": [1.0, 1.01, 0.99] * 3, "b": base_b}),
        make_results({"a": [1.0, 1.01, 0.99] * 3, "b": cur_b}),
        SETTINGS,
        accepted_found=True,
    )


def test_flagged_lists_failing_regressions() -> None:
    rng = np.random.default_rng(1)
    first = _two(noisy(rng, 1.0), noisy(rng, 1.2))
    assert flagged(first) == ["b"]
    assert first.failed


def test_confirmed_regression_stays() -> None:
    rng = np.random.default_rng(1)
    first = _two(noisy(rng, 1.0), noisy(rng, 1.2))
    rerun = one(noisy(rng, 1.0), noisy(rng, 1.2))
    merged = confirm(first, rerun)
    row = merged.benchmark("b")
    assert row.state is State.REGRESSION
    assert row.confirmation is Confirmation.CONFIRMED
    assert row.rerun == rerun.benchmark("b")
    assert merged.failed
    assert flagged(merged) == []
    assert merged.benchmark("a") == first.benchmark("a")


def test_confirmed_regression_reports_the_smaller_effect() -> None:
    rng = np.random.default_rng(2)
    # The first pass met a host slow phase on the current side (+80 %); the re-run, +20 %.
    first = _two(noisy(rng, 1.0), noisy(rng, 1.8))
    rerun = one(noisy(rng, 1.0), noisy(rng, 1.2))
    row = confirm(first, rerun).benchmark("b")
    assert row.state is State.REGRESSION
    assert row.confirmation is Confirmation.CONFIRMED
    assert row.ratio == rerun.benchmark("b").ratio
    assert row.ratio is not None
    assert row.ratio < 1.3
    assert row.rerun == rerun.benchmark("b")
    # And the other way round the first pass is kept.
    kept = confirm(_two(noisy(rng, 1.0), noisy(rng, 1.2)), one(noisy(rng, 1.0), noisy(rng, 1.8)))
    kept_ratio = kept.benchmark("b").ratio
    assert kept_ratio is not None
    assert kept_ratio < 1.3


def test_unconfirmed_regression_takes_the_rerun_state() -> None:
    rng = np.random.default_rng(1)
    first = _two(noisy(rng, 1.0), noisy(rng, 1.2))
    rerun = one(noisy(rng, 1.0), noisy(rng, 1.0))
    merged = confirm(first, rerun)
    row = merged.benchmark("b")
    assert row.state is State.UNCHANGED
    assert row.confirmation is Confirmation.NOT_CONFIRMED
    assert row.ratio == first.benchmark("b").ratio
    assert not merged.failed


def test_confirmation_missing_a_flagged_benchmark() -> None:
    rng = np.random.default_rng(1)
    first = _two(noisy(rng, 1.0), noisy(rng, 1.2))
    rerun = compare(
        make_results({"a": [1.0]}), make_results({"a": [1.0]}), SETTINGS, accepted_found=True
    )
    with pytest.raises(GateError, match="no result for flagged benchmark 'b'"):
        confirm(first, rerun)


# --- memory ------------------------------------------------------------------------------------


def _memory(
    peak: int,
    allocs: int,
    *,
    accepted_found: bool = True,
    env_changes: dict[str, object] | None = None,
) -> Comparison:
    base = make_results({}, [make_memory("m", 1_000_000, 10_000)])
    cur = make_results({}, [make_memory("m", peak, allocs)], env=make_env(**(env_changes or {})))
    return compare(base, cur, SETTINGS, accepted_found=accepted_found)


@pytest.mark.parametrize(
    ("peak", "allocs", "state"),
    [
        (1_000_000, 10_000, MemoryState.UNCHANGED),
        (1_020_000, 10_200, MemoryState.UNCHANGED),  # exactly +2 %: within tolerance
        (1_020_001, 10_000, MemoryState.REGRESSION),
        (1_000_000, 10_201, MemoryState.REGRESSION),
        (980_000, 9_800, MemoryState.UNCHANGED),  # exactly -2 %
        (979_999, 10_000, MemoryState.IMPROVEMENT),
        (900_000, 10_300, MemoryState.REGRESSION),  # growth anywhere wins
    ],
)
def test_memory_tolerance_edges(peak: int, allocs: int, state: MemoryState) -> None:
    result = _memory(peak, allocs)
    assert result.memory[0].state is state
    assert result.failed is (state is MemoryState.REGRESSION)


def test_memory_changes_are_reported() -> None:
    row = _memory(1_100_000, 10_500).memory[0]
    assert row.peak_change == pytest.approx(0.10)
    assert row.allocations_change == pytest.approx(0.05)
    assert "measured here" in row.reason


def test_grown_sites_diffed_by_location() -> None:
    base_sites = [
        AllocationSite("a.py:1", "a", 1000, 10),
        AllocationSite("b.py:2", "b", 5000, 5),
        AllocationSite("gone.py:3", "g", 9000, 1),
    ]
    cur_sites = [
        AllocationSite("a.py:1", "a", 4000, 10),
        AllocationSite("b.py:2", "b", 5000, 9),
        *(AllocationSite(f"new{i}.py:1", f"n{i}", 100 * (i + 1), 1) for i in range(6)),
    ]
    base = make_results({}, [make_memory("m", sites=base_sites)])
    cur = make_results({}, [make_memory("m", 1_500_000, sites=cur_sites)])
    row = compare(base, cur, SETTINGS, accepted_found=True).memory[0]
    assert len(row.grown_sites) == MAX_GROWN_SITES
    assert [s.location for s in row.grown_sites] == [
        "a.py:1",
        "new5.py:1",
        "new4.py:1",
        "new3.py:1",
        "new2.py:1",
    ]
    assert row.grown_sites[0].delta_bytes == 3000
    assert "gone.py:3" not in {s.location for s in row.grown_sites}


def test_allocation_growth_alone_lists_the_site() -> None:
    base = make_results({}, [make_memory("m", sites=[AllocationSite("b.py:2", "b", 50, 5)])])
    cur = make_results({}, [make_memory("m", sites=[AllocationSite("b.py:2", "b", 50, 9)])])
    row = compare(base, cur, SETTINGS, accepted_found=True).memory[0]
    assert [(s.location, s.delta_bytes, s.delta_allocations) for s in row.grown_sites] == [
        ("b.py:2", 0, 4)
    ]


def test_stored_memory_needs_the_exact_environment() -> None:
    other = _memory(2_000_000, 10_000, accepted_found=False, env_changes={"compiler": "Clang 17"})
    row = other.memory[0]
    assert row.state is MemoryState.NOT_COMPARABLE
    assert "compiler 'GCC 12.2.0' vs 'Clang 17'" in row.reason
    assert not other.failed
    same = _memory(2_000_000, 10_000, accepted_found=False)
    assert same.memory[0].state is MemoryState.REGRESSION
    assert "identical environment" in same.memory[0].reason
    assert same.failed


def test_measured_here_ignores_fingerprint_differences() -> None:
    result = _memory(1_000_000, 10_000, env_changes={"packages": {"orjson": "9"}})
    assert result.memory[0].state is MemoryState.UNCHANGED


def test_memory_new_and_removed() -> None:
    base = make_results({}, [make_memory("old")])
    cur = make_results({}, [make_memory("young")])
    states = [
        (m.scenario, m.state) for m in compare(base, cur, SETTINGS, accepted_found=True).memory
    ]
    assert states == [("old", MemoryState.REMOVED), ("young", MemoryState.NEW)]
