"""The decision rule's stated power, proved on seeded simulated runs (nothing is timed).

The model of a run: 14 benchmarks in the family, 8 fresh processes a side, per-process medians
log-normal with a coefficient of variation of 2, 3 or 5 %, and host slow phases: each process
independently, with probability 5 %, 1.6-2x slower (about one such process in every first pass
of 16, the rate seen on shared runners before calibration). One benchmark carries the true
effect, the other 13 are unchanged.

Each run takes the path `pipeline.perf` takes: `compare` on the first pass, `needs_extension`,
8 or 16 more fresh processes a side for those benchmarks (`extension_size`: 8 when the first
pass's spread says 8 + 8 detect a change of m), pooled, `extend`;
the run fails iff the final comparison has a timing regression. The targets (m = min_effect =
10 %, README "How the gate decides"):

- unchanged code never fails (<= 1 % of runs, family-wise over the 14 benchmarks);
- a true change of m/2 never fails (<= 1 %), not even in every benchmark at once;
- a true slowdown of 1.25 m fails >= 95 % of runs, for a spread up to 3 %, also when a precise
  benchmark (1 %) is settled by the short extension;
- at 5 % spread 1.25 m is not always caught, but it is never reported `unchanged`.

Every assertion message carries the measured rates; `pytest -s` prints them as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from agui_perf.gate.decide.compare import (
    FLOOR_FRACTION,
    PIVOT_FRACTION,
    POWER,
    Comparison,
    State,
    bound_level,
    compare,
    extend,
    extension_processes,
    extension_size,
    needs_extension,
)
from agui_perf.gate.decide.stats import detectable_change
from agui_perf.gate.store.config import Settings
from agui_perf.gate.store.results import BenchmarkResult, Results, summarize
from tests._support.results import make_results

SETTINGS = Settings()  # alpha 0.01, min_effect 0.10, 8 processes a side
M = SETTINGS.min_effect
FAMILY = 14
SLOW_PHASE_RATE = 0.05
SLOW_PHASE = (1.6, 2.0)
NAMES = tuple(f"bench_{i:02d}" for i in range(FAMILY))
EFFECT_ON = NAMES[0]
# Results need a summary; compare reads only the samples, so one shared summary will do.
_SUMMARY = summarize([1.0])
_TEMPLATE = make_results({})


@dataclass
class Rates:
    runs: int
    failed: int = 0  # runs with a failing regression
    failed_on_effect: int = 0  # ... on the (first) benchmark that carries the effect
    unchanged_on_effect: int = 0  # runs that reported that benchmark `unchanged`
    warned_elsewhere: int = 0  # runs with slower/faster on another benchmark
    extended: int = 0  # runs that needed the extension
    short: int = 0  # ... and whose benchmark with the effect got the short one

    def rate(self, count: int) -> float:
        return count / self.runs

    def __str__(self) -> str:
        return (
            f"{self.runs} runs: failed {self.rate(self.failed):.1%} "
            f"(on {EFFECT_ON} {self.rate(self.failed_on_effect):.1%}), "
            f"{EFFECT_ON} reported unchanged {self.rate(self.unchanged_on_effect):.1%}, "
            f"slower/faster on another benchmark {self.rate(self.warned_elsewhere):.1%}, "
            f"extended {self.rate(self.extended):.1%} "
            f"(short extension for {EFFECT_ON} {self.rate(self.short):.1%})"
        )


def _draw(rng: np.random.Generator, cv: float, n: int, rows: int, slow_rate: float) -> np.ndarray:
    sigma = math.sqrt(math.log1p(cv * cv))  # the log-normal with exactly this CV
    times = np.exp(rng.normal(0.0, sigma, (rows, n)))
    slow = rng.random((rows, n)) < slow_rate
    return np.where(slow, times * rng.uniform(*SLOW_PHASE, (rows, n)), times)


def _results(samples: dict[str, np.ndarray]) -> Results:
    benchmarks = {
        name: BenchmarkResult(name, tuple(values.tolist()), (), _SUMMARY)
        for name, values in samples.items()
    }
    return replace(_TEMPLATE, benchmarks=benchmarks)


def _pooled(results: Results, more: dict[str, np.ndarray]) -> Results:
    benchmarks = dict(results.benchmarks)
    for name, values in more.items():
        first = benchmarks[name]
        benchmarks[name] = replace(first, samples=first.samples + tuple(values.tolist()))
    return replace(results, benchmarks=benchmarks)


def one_run(
    rng: np.random.Generator,
    cv: float,
    effect: float,
    slow_rate: float = SLOW_PHASE_RATE,
    *,
    everywhere: bool = False,
) -> Comparison:
    """One gate run through compare → needs_extension → extension → extend.

    The effect is on the first benchmark, or on all of them with `everywhere`.
    """
    n = SETTINGS.processes
    scale = np.geomspace(1e-6, 1e-1, FAMILY)[:, None]  # benchmarks of very different sizes
    factor = np.ones((FAMILY, 1))
    factor[: FAMILY if everywhere else 1] = 1.0 + effect
    base = _draw(rng, cv, n, FAMILY, slow_rate) * scale
    cur = _draw(rng, cv, n, FAMILY, slow_rate) * scale * factor
    first_base = _results(dict(zip(NAMES, base, strict=True)))
    first_cur = _results(dict(zip(NAMES, cur, strict=True)))
    first = compare(first_base, first_cur, SETTINGS, accepted_found=True)
    names = needs_extension(first)
    if not names:
        return first
    extra = extension_size(first, SETTINGS)
    rows = [NAMES.index(name) for name in names]
    more_base = _draw(rng, cv, extra, len(rows), slow_rate) * scale[rows]
    more_cur = _draw(rng, cv, extra, len(rows), slow_rate) * scale[rows] * factor[rows]
    return extend(
        first,
        _pooled(first_base, dict(zip(names, more_base, strict=True))),
        _pooled(first_cur, dict(zip(names, more_cur, strict=True))),
        SETTINGS,
    )


def simulate(
    cv: float,
    effect: float,
    runs: int,
    *,
    seed: int,
    slow_rate: float = SLOW_PHASE_RATE,
    everywhere: bool = False,
) -> Rates:
    rng = np.random.default_rng(seed)
    rates = Rates(runs)
    for _ in range(runs):
        final = one_run(rng, cv, effect, slow_rate, everywhere=everywhere)
        rates.failed += bool(final.timing_regressions)
        changed = final.benchmark(EFFECT_ON)
        rates.failed_on_effect += changed.failing
        rates.unchanged_on_effect += changed.state is State.UNCHANGED
        rates.extended += any(b.extended for b in final.benchmarks)
        rates.short += changed.extended and len(changed.current_samples) == 2 * SETTINGS.processes
        rates.warned_elsewhere += any(
            b.state in (State.SLOWER, State.FASTER) for b in final.benchmarks[1:]
        )
    print(f"cv {cv:.0%} effect {effect:+.1%}: {rates}")
    return rates


@pytest.mark.parametrize("cv", [0.02, 0.03, 0.05])
def test_unchanged_code_never_fails(cv: float) -> None:
    rates = simulate(cv, 0.0, 500, seed=int(cv * 1000))
    assert rates.failed == 0, f"A/A at CV {cv:.0%}: {rates}"
    # Holm holds "any slower/faster" at alpha = 1 % per pass; the extension can add as much.
    assert rates.rate(rates.warned_elsewhere) <= 0.02, f"A/A at CV {cv:.0%}: {rates}"


@pytest.mark.parametrize("cv", [0.02, 0.03, 0.05])
def test_half_the_minimum_effect_never_fails(cv: float) -> None:
    rates = simulate(cv, M / 2, 300, seed=100 + int(cv * 1000))
    assert rates.rate(rates.failed) <= 0.01, f"+{M / 2:.0%} at CV {cv:.0%}: {rates}"


def test_half_the_minimum_effect_everywhere_fails_at_most_alpha() -> None:
    """Family-wise: the 14 lower bounds hold together, so even a change of m/2 in every
    benchmark fails at most alpha = 1 % of runs (binomial slack: 300 runs)."""
    rates = simulate(0.05, M / 2, 300, seed=150, everywhere=True)
    assert rates.rate(rates.failed) <= 0.02, f"+{M / 2:.0%} everywhere at CV 5 %: {rates}"


@pytest.mark.parametrize("cv", [0.01, 0.02, 0.03])
def test_a_quarter_beyond_the_minimum_effect_fails(cv: float) -> None:
    rates = simulate(cv, 1.25 * M, 300, seed=200 + int(cv * 1000))
    assert rates.rate(rates.failed_on_effect) >= 0.95, f"+{1.25 * M:.1%} at CV {cv:.0%}: {rates}"
    assert rates.unchanged_on_effect == 0, f"+{1.25 * M:.1%} at CV {cv:.0%}: {rates}"


def test_a_precise_benchmark_is_settled_by_the_short_extension() -> None:
    """At 1 % spread (the server CPU time of the burst stream) 8 + 8 pooled are enough, and
    the run that takes the short extension still fails on the slowdown."""
    rates = simulate(0.01, 1.25 * M, 200, seed=260)
    assert rates.rate(rates.short) >= 0.8, f"+12.5 % at CV 1 %: {rates}"
    assert rates.rate(rates.failed_on_effect) >= 0.95, f"+12.5 % at CV 1 %: {rates}"
    noisy = simulate(0.05, 1.25 * M, 100, seed=261)
    assert noisy.rate(noisy.short) <= 0.05, f"+12.5 % at CV 5 %: {noisy}"


def test_at_five_percent_spread_the_slowdown_is_mostly_caught() -> None:
    """Below the stated power: most runs fail, nearly all others show the row as not unchanged.

    The rest are runs whose accepted side met several slow phases (5 or 6 of 24 processes).
    """
    rates = simulate(0.05, 1.25 * M, 200, seed=250)
    assert rates.rate(rates.failed_on_effect) >= 0.6, f"+12.5 % at CV 5 %: {rates}"
    assert rates.rate(rates.unchanged_on_effect) <= 0.05, f"+12.5 % at CV 5 %: {rates}"


@pytest.mark.parametrize("cv", [0.02, 0.03])
def test_the_minimum_effect_itself_is_seen(cv: float) -> None:
    """The case that was reported `unchanged` before: a real 10 % slowdown."""
    rates = simulate(cv, M, 200, seed=300 + int(cv * 1000))
    assert rates.rate(rates.unchanged_on_effect) <= 0.01, f"+{M:.0%} at CV {cv:.0%}: {rates}"
    assert rates.rate(rates.failed_on_effect) >= 0.5, f"+{M:.0%} at CV {cv:.0%}: {rates}"


@pytest.mark.parametrize("cv", [0.02, 0.03, 0.05])
def test_the_detectable_change_has_the_stated_power(cv: float) -> None:
    """A true slowdown of a row's `detectable` figure fails about POWER of runs.

    Without slow phases (the figure is for the spread of the bulk of processes); the rows'
    robust spread estimate must land near the true one for the figure to mean anything.
    """
    n_total = SETTINGS.processes + extension_processes(SETTINGS)
    sigma = math.sqrt(math.log1p(cv * cv))
    target = detectable_change(
        sigma,
        n_total,
        n_total,
        floor=1 + FLOOR_FRACTION * M,
        pivot=1 + PIVOT_FRACTION * M,
        level=bound_level(SETTINGS.alpha, FAMILY),
        power=POWER,
    )
    assert target is not None
    rng = np.random.default_rng(400 + int(cv * 1000))
    reported = [
        row.detectable
        for _ in range(10)
        for row in one_run(rng, cv, 0.0, slow_rate=0.0).benchmarks
        if not row.extended
    ]
    median_reported = float(np.median([d for d in reported if d is not None]))
    assert median_reported == pytest.approx(target, rel=0.1), (
        f"CV {cv:.0%}: rows report ±{median_reported:.1%}, the true spread gives ±{target:.1%}"
    )
    rates = simulate(cv, target, 150, seed=500 + int(cv * 1000), slow_rate=0.0)
    measured = rates.rate(rates.failed_on_effect)
    assert 0.88 <= measured <= 1.0, (
        f"detectable ±{target:.1%} at CV {cv:.0%}: failed {measured:.1%} of runs, "
        f"stated {POWER:.0%}: {rates}"
    )
