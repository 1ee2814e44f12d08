"""Per-benchmark and per-scenario decisions: the heart of the gate (README "How the gate decides").

Timing is decided by the *sequential rank-interval rule* (`RULE_NAME`). Per benchmark, on the
per-process medians (m = min_effect, k = benchmarks measured on both sides):

  - the estimate is the Hodges-Lehmann ratio current / baseline, and its bounds are the
    distribution-free Mann-Whitney bounds, each one-sided at level alpha / k (Bonferroni: the k
    lower bounds hold together with probability at least 1 - alpha);
  - `regression` (the only state that fails a run): the one-sided Mann-Whitney U test "current
    slower" is significant at alpha after Holm's correction over the k benchmarks, AND the
    lower bound is above 1 + m/2 (FLOOR_FRACTION), AND the estimate is above 1 + 7m/8
    (PIVOT_FRACTION). The bound keeps a true change of m/2 or less from failing (probability
    at most alpha / k per benchmark, alpha for the whole run, whatever the spread); the pivot
    keeps a precisely measured small change (say +6 % at 1 % spread) from failing; 7/8 rather
    than 1 leaves a true change of 1.25 m well clear of it;
  - `improvement` is the mirror image (never fails a run);
  - `slower` / `faster`: significant after Holm, but not a regression / improvement and the
    estimate within the minimum effect: a real change this run saw, too small to fail it;
  - `inconclusive`: the estimate is beyond the minimum effect but the rule could not settle it,
    either because the test is not significant or because the lower bound does not clear
    1 + m/2 (too few processes for the spread; the report says which);
  - `unchanged`: neither significant nor beyond the minimum effect.

Sequential, one extension: a first pass that could still turn out a regression (estimate
above 1 + m/2 and upper bound reaching 1 + 7m/8 -- every would-be regression included) is not
decided on its own; `needs_extension` names it, the pipeline measures EXTENSION_FACTOR times as
many fresh processes again (SHORT_EXTENSION_FACTOR times when the first pass's spread says that
is enough: `extension_size`), and `extend` decides once on the first pass and the extension
pooled. Failing therefore always needs the pooled bound above 1 + m/2, so the false-failure
bound above holds for the whole procedure, and no second pass is required to agree with the
first (requiring two passes to agree squared the miss rate). tests/gate/test_decision_power.py
measures the rates on simulated runs.

Every compared row also carries the smallest slowdown this run would have failed with 95 %
probability (`detectable`, from the row's own spread and the processes of the whole procedure).

When the accepted commit could not be found, the baseline side is the stored numbers, measured
at another time and maybe on another machine; the states are still computed and reported, but
marked advisory, never extended and never fail the run.

Memory is deterministic (memray with Python allocator tracing), so one run per side is compared
exactly, with a small tolerance.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from agui_perf.gate.decide.stats import (
    ESTIMATOR_NAME,
    TEST_NAME,
    detectable_change,
    holm,
    min_attainable_p,
    rank_summary,
)
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.environment import environment_differences
from agui_perf.gate.store.results import measured_name

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agui_perf.gate.decide.stats import RankSummary
    from agui_perf.gate.store.config import Settings
    from agui_perf.gate.store.results import MemoryResult, Results

__all__ = [
    "FLOOR_FRACTION",
    "MAX_GROWN_SITES",
    "PIVOT_FRACTION",
    "POWER",
    "RULE_NAME",
    "SHORT_EXTENSION_FACTOR",
    "BenchmarkComparison",
    "Comparison",
    "MemoryComparison",
    "MemoryState",
    "SiteChange",
    "State",
    "bound_level",
    "compare",
    "extend",
    "extension_processes",
    "extension_size",
    "format_p",
    "needs_extension",
    "rule_text",
]

MAX_GROWN_SITES = 5
RULE_NAME = "sequential rank-interval rule"
# A regression needs the lower bound above 1 + FLOOR_FRACTION * m and the estimate above
# 1 + PIVOT_FRACTION * m (m = min_effect); compare's docstring says why these two.
FLOOR_FRACTION = 0.5
PIVOT_FRACTION = 0.875
# The power the `detectable` change of every row is computed for.
POWER = 0.95
# The one extension measures this many times the first pass's processes again, a side: with
# 8 + 16 pooled, two or three slow-phase processes on the accepted side still leave the lower
# bound (an order statistic of the 576 pairwise ratios) clear of them; with 8 + 8 they did not
# (simulated as in tests/gate/test_decision_power.py, 1.25 m at 3 % spread: 99 % of runs
# failed with 8 + 16, 93 % with 8 + 8).
EXTENSION_FACTOR = 2
# The extension is this many times the first pass instead when the first pass's spread says
# that is enough (`extension_size`): a precise row, such as the server CPU time of the burst
# stream at 1-2 %, is settled by 8 + 8 as surely as by 8 + 16, in half the extra time.
SHORT_EXTENSION_FACTOR = 1


class State(enum.StrEnum):
    """The timing states; the single source of these names for every compared figure."""

    REGRESSION = "regression"  # fails the run (unless advisory)
    IMPROVEMENT = "improvement"
    SLOWER = "slower"  # significant, below what the run can call a regression
    FASTER = "faster"  # significant, below what the run can call an improvement
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"  # beyond the minimum effect, but not settled
    NEW = "new"
    REMOVED = "removed"


def format_p(p: float) -> str:
    return f"{p:.2g}"


def _pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.1f} %"


def _effect_pct(fraction: float) -> str:
    return f"{fraction * 100:.3g} %"


def _threshold_pct(ratio: float) -> str:
    return f"{(ratio - 1.0) * 100:+.3g} %"


def bound_level(alpha: float, family_size: int) -> float:
    """The one-sided level of each bound: alpha / k, so the k lower bounds hold together."""
    return alpha / max(1, family_size)


def extension_processes(settings: Settings) -> int:
    """The most fresh processes a side the one extension adds to a first pass of
    `settings.processes` (it adds this many, or `SHORT_EXTENSION_FACTOR` times the first pass:
    `extension_size`)."""
    return settings.processes * EXTENSION_FACTOR


@dataclass(frozen=True)
class BenchmarkComparison:
    name: str
    state: State
    baseline_samples: tuple[float, ...]  # per-process medians, seconds; () when new
    current_samples: tuple[float, ...]  # per-process medians, seconds; () when removed
    min_effect: float
    alpha: float
    family_size: int  # benchmarks in the Holm family (measured on both sides)
    advisory: bool  # True: against stored numbers; reported, never fails the run
    ratio: float | None = None  # Hodges-Lehmann estimate of current / baseline
    interval: tuple[float, float] | None = None  # (lower, upper) bound, each one-sided at level
    level: float | None = None  # one-sided level of each bound, alpha / family_size
    p_slower: float | None = None  # raw one-sided p, "current slower"
    p_faster: float | None = None  # raw one-sided p, "current faster"
    p_slower_adjusted: float | None = None  # Holm-adjusted
    p_faster_adjusted: float | None = None
    spread: float | None = None  # robust SD of the log per-process medians (about the CV)
    detectable: float | None = None  # smallest slowdown (ratio - 1) failing with POWER
    first_pass: BenchmarkComparison | None = None  # set when decided on pooled samples

    @property
    def baseline_median(self) -> float | None:
        return _median(self.baseline_samples)

    @property
    def current_median(self) -> float | None:
        return _median(self.current_samples)

    @property
    def extended(self) -> bool:
        """True when the state was decided on the first pass and the extension pooled."""
        return self.first_pass is not None

    @property
    def floor(self) -> float:
        """The ratio the lower bound must clear for a regression: 1 + m/2."""
        return 1.0 + FLOOR_FRACTION * self.min_effect

    @property
    def pivot(self) -> float:
        """The ratio the estimate must clear for a regression: 1 + 7m/8."""
        return 1.0 + PIVOT_FRACTION * self.min_effect

    @property
    def failing(self) -> bool:
        """This row fails the run: a regression measured here (not against stored numbers)."""
        return self.state is State.REGRESSION and not self.advisory

    @property
    def direction(self) -> str | None:
        """The direction tested and reported: the one the estimate moved in."""
        if self.ratio is None:
            return None
        return "slower" if self.ratio >= 1.0 else "faster"

    @property
    def p_adjusted(self) -> float | None:
        """The Holm-adjusted p of the reported direction."""
        if self.direction is None:
            return None
        return self.p_slower_adjusted if self.direction == "slower" else self.p_faster_adjusted

    @property
    def significant(self) -> bool:
        return self.p_adjusted is not None and self.p_adjusted <= self.alpha

    @property
    def statistic(self) -> str:
        """E.g. "one-sided Mann-Whitney U (current slower), Holm-corrected over 14 benchmarks,
        p = 0.0004"; says "not significant" out loud (pyperf does the same)."""
        if self.p_adjusted is None:
            return f"no test: the benchmark is {self.state.value}"
        plural = "benchmark" if self.family_size == 1 else "benchmarks"
        text = (
            f"{TEST_NAME} (current {self.direction}), Holm-corrected over {self.family_size} "
            f"{plural}, p = {format_p(self.p_adjusted)}"
        )
        return text if self.significant else f"{text}, not significant at alpha {self.alpha:g}"

    @property
    def reason(self) -> str:
        """Why the row has its state, in one sentence (the report shows it for notable rows)."""
        if self.ratio is None:
            return (
                "only in the current code: nothing to compare with"
                if self.state is State.NEW
                else "only in the accepted code: nothing to compare with"
            )
        return _reason(self)


def _reason(row: BenchmarkComparison) -> str:
    assert row.ratio is not None
    slower = row.ratio >= 1.0
    low, high = row.interval or (None, None)
    # Mirrored for a speed-up: the bound on the side of no change, the floor and pivot inverted.
    near = low if slower else high
    floor, pivot = (row.floor, row.pivot) if slower else (1 / row.floor, 1 / row.pivot)
    near_text = "none at these processes" if near is None else _pct(near)
    change = f"{'slower' if slower else 'faster'} by ~{abs(row.ratio - 1.0) * 100:.1f} %"
    if row.state in (State.REGRESSION, State.IMPROVEMENT):
        return (
            f"{change}: significant, its bound {near_text} clears {_threshold_pct(floor)} and "
            f"the estimate clears {_threshold_pct(pivot)}"
        )
    if row.state in (State.SLOWER, State.FASTER):
        word = "a regression" if slower else "an improvement"
        why = (
            f"the estimate is within {_threshold_pct(pivot)}"
            if (row.ratio <= pivot if slower else row.ratio >= pivot)
            else f"its bound {near_text} does not clear {_threshold_pct(floor)}"
        )
        return f"{change}: significant, below what this run can call {word} ({why})"
    if row.state is State.INCONCLUSIVE:
        if not row.significant:
            return (
                f"{change}, beyond the minimum effect but not significant: too noisy at this "
                "spread and number of processes to call"
            )
        return (
            f"{change}, significant, but its bound {near_text} does not clear "
            f"{_threshold_pct(floor)}: "
            "a change of half the minimum effect cannot be ruled out"
        )
    return f"{change}: neither significant nor beyond ±{_effect_pct(row.min_effect)}"


def _median(samples: tuple[float, ...]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


class MemoryState(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    NEW = "new"
    REMOVED = "removed"
    NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True)
class SiteChange:
    """One allocation site's change between the sides' `top_sites` (matched by location).

    `top_sites` lists only the largest sites of each side, so 0 on one side can also mean
    "below that side's cut-off".
    """

    location: str
    function: str
    baseline_bytes: int
    current_bytes: int
    baseline_allocations: int
    current_allocations: int

    @property
    def delta_bytes(self) -> int:
        return self.current_bytes - self.baseline_bytes

    @property
    def delta_allocations(self) -> int:
        return self.current_allocations - self.baseline_allocations


@dataclass(frozen=True)
class MemoryComparison:
    scenario: str
    state: MemoryState
    baseline: MemoryResult | None
    current: MemoryResult | None
    tolerance: float
    peak_change: float | None = None  # current / baseline - 1
    allocations_change: float | None = None
    grown_sites: tuple[SiteChange, ...] = ()  # largest byte growth first
    reason: str = ""  # why not comparable, or which numbers were compared


@dataclass(frozen=True)
class Comparison:
    benchmarks: tuple[BenchmarkComparison, ...]  # sorted by name
    memory: tuple[MemoryComparison, ...]  # sorted by scenario
    accepted_found: bool
    alpha: float
    family_size: int
    notes: tuple[str, ...] = ()

    def benchmark(self, name: str) -> BenchmarkComparison:
        for bench in self.benchmarks:
            if bench.name == name:
                return bench
        raise KeyError(name)

    @property
    def level(self) -> float:
        """The one-sided level of every row's bounds (alpha / family size)."""
        return bound_level(self.alpha, self.family_size)

    @property
    def timing_regressions(self) -> tuple[BenchmarkComparison, ...]:
        """Regressions that fail the run (advisory ones never do)."""
        return tuple(b for b in self.benchmarks if b.failing)

    @property
    def memory_regressions(self) -> tuple[MemoryComparison, ...]:
        return tuple(m for m in self.memory if m.state is MemoryState.REGRESSION)

    @property
    def failed(self) -> bool:
        return bool(self.timing_regressions or self.memory_regressions)


def rule_text(
    alpha: float, family_size: int, min_effect: float, processes: int | None = None
) -> str:
    """The rule in two sentences, with this run's numbers (the report's and the README's)."""
    k = max(1, family_size)
    plural = "benchmark" if k == 1 else "benchmarks"
    floor, pivot = FLOOR_FRACTION * min_effect, PIVOT_FRACTION * min_effect
    sequence = (
        f"A first pass that could still be a regression is extended once by "
        f"{processes * EXTENSION_FACTOR} more fresh processes a side "
        f"({processes * SHORT_EXTENSION_FACTOR} when the first pass's spread says "
        f"{processes * (1 + SHORT_EXTENSION_FACTOR)} pooled detect a change of "
        f"{_effect_pct(min_effect)}) and decided once on all of them pooled."
        if processes
        else "A first pass that could still be a regression is extended once and decided on "
        "the pooled processes."
    )
    return (
        f"The {RULE_NAME}: a regression needs the {TEST_NAME} test significant at alpha {alpha:g} "
        f"after Holm over {k} {plural}, the lower bound of the {ESTIMATOR_NAME} ratio "
        f"(one-sided at {format_p(bound_level(alpha, k))}, so the {k} bounds hold together at "
        f"{(1 - alpha) * 100:g} %) above +{_effect_pct(floor)}, and the estimate above "
        f"+{_effect_pct(pivot)}. {sequence}"
    )


def _decide(
    ratio: float,
    interval: tuple[float, float] | None,
    min_effect: float,
    slower_sig: bool,
    faster_sig: bool,
) -> State:
    floor, pivot = 1.0 + FLOOR_FRACTION * min_effect, 1.0 + PIVOT_FRACTION * min_effect
    if interval is not None:
        low, high = interval
        if slower_sig and low > floor and ratio > pivot:
            return State.REGRESSION
        if faster_sig and high < 1.0 / floor and ratio < 1.0 / pivot:
            return State.IMPROVEMENT
    if ratio > 1.0 + min_effect or ratio < 1.0 / (1.0 + min_effect):
        return State.INCONCLUSIVE
    if slower_sig and ratio >= 1.0:
        return State.SLOWER
    if faster_sig and ratio <= 1.0:
        return State.FASTER
    return State.UNCHANGED


def _compared_row(
    row: BenchmarkComparison,
    summary: RankSummary,
    *,
    level: float,
    adjusted: tuple[float, float],
    added: int,
) -> BenchmarkComparison:
    """`row` with the rank statistics, the state and the detectable change filled in.

    `added`: processes a side a later extension would pool with these (0: none will).
    """
    base, cur = row.baseline_samples, row.current_samples
    interval = None
    if summary.low is not None and summary.high is not None:
        interval = (summary.low, summary.high)
    sigma = summary.spread
    detectable = None
    if sigma is not None:
        detectable = detectable_change(
            sigma,
            len(base) + added,
            len(cur) + added,
            floor=row.floor,
            pivot=row.pivot,
            level=level,
            power=POWER,
        )
    slower_adj, faster_adj = adjusted
    return replace(
        row,
        state=_decide(
            summary.ratio,
            interval,
            row.min_effect,
            slower_adj <= row.alpha,
            faster_adj <= row.alpha,
        ),
        ratio=summary.ratio,
        interval=interval,
        level=level,
        p_slower=summary.p_slower,
        p_faster=summary.p_faster,
        p_slower_adjusted=slower_adj,
        p_faster_adjusted=faster_adj,
        spread=sigma,
        detectable=detectable,
    )


def compare(
    baseline: Results,
    current: Results,
    settings: Settings,
    *,
    accepted_found: bool,
    first_pass: Mapping[str, BenchmarkComparison] | None = None,
) -> Comparison:
    """Compare the accepted side (`baseline`) with the current code.

    `accepted_found=True`: `baseline` was measured here, beside `current` (the verdict can
    fail on timing). `False`: `baseline` holds the stored numbers (timing advisory; memory
    only if the environment fingerprint matches exactly).

    `first_pass`: the first-pass rows of the benchmarks whose samples here are that pass and
    its extension pooled (use `extend`); they are attached to the new rows, and no further
    extension counts towards those rows' detectable change.
    """
    advisory = not accepted_found
    pooled = dict(first_pass or {})
    common = sorted(set(baseline.benchmarks) & set(current.benchmarks))
    k = len(common)
    level = bound_level(settings.alpha, k)
    summaries = {
        name: rank_summary(
            baseline.benchmarks[name].samples, current.benchmarks[name].samples, level
        )
        for name in common
    }
    adj_slower = holm({name: s.p_slower for name, s in summaries.items()})
    adj_faster = holm({name: s.p_faster for name, s in summaries.items()})
    added = 0 if advisory else extension_processes(settings)

    rows: list[BenchmarkComparison] = []
    notes: list[str] = []
    unreachable: list[str] = []
    for name in sorted(set(baseline.benchmarks) | set(current.benchmarks)):
        effect = settings.min_effect_for(name)
        base_samples = baseline.benchmarks[name].samples if name in baseline.benchmarks else ()
        cur_samples = current.benchmarks[name].samples if name in current.benchmarks else ()
        row = BenchmarkComparison(
            name=name,
            state=State.NEW if not base_samples else State.REMOVED,
            baseline_samples=base_samples,
            current_samples=cur_samples,
            min_effect=effect,
            alpha=settings.alpha,
            family_size=k,
            advisory=advisory,
            first_pass=pooled.get(name),
        )
        if base_samples and cur_samples:
            row = _compared_row(
                row,
                summaries[name],
                level=level,
                adjusted=(adj_slower[name], adj_faster[name]),
                added=0 if name in pooled else added,
            )
            if min_attainable_p(len(base_samples), len(cur_samples)) > settings.alpha / k:
                unreachable.append(name)
        rows.append(row)

    if unreachable:
        notes.append(
            f"{len(unreachable)} of {k} benchmarks (e.g. {unreachable[0]!r}) have too few "
            f"processes for any result to be significant after Holm over {k} at alpha "
            f"{settings.alpha:g}; raise [tool.agui_perf].processes"
        )
    if advisory:
        notes.append(
            "the accepted commit was not measured here: timing is compared with stored "
            "numbers and is advisory only"
        )
    return Comparison(
        benchmarks=tuple(rows),
        memory=compare_memory(baseline, current, settings.memory_tolerance, accepted_found),
        accepted_found=accepted_found,
        alpha=settings.alpha,
        family_size=k,
        notes=tuple(notes),
    )


def _grown_sites(baseline: MemoryResult, current: MemoryResult) -> tuple[SiteChange, ...]:
    base = {site.location: site for site in baseline.top_sites}
    cur = {site.location: site for site in current.top_sites}
    changes: list[SiteChange] = []
    for location in set(base) | set(cur):
        b, c = base.get(location), cur.get(location)
        named = c if c is not None else b
        change = SiteChange(
            location=location,
            function=named.function if named is not None else "",
            baseline_bytes=b.bytes if b else 0,
            current_bytes=c.bytes if c else 0,
            baseline_allocations=b.allocations if b else 0,
            current_allocations=c.allocations if c else 0,
        )
        if change.delta_bytes > 0 or change.delta_allocations > 0:
            changes.append(change)
    changes.sort(key=lambda s: (-s.delta_bytes, -s.delta_allocations, s.location))
    return tuple(changes[:MAX_GROWN_SITES])


def _exact_change(baseline: int, current: int) -> Fraction:
    if baseline == 0:
        return Fraction(0) if current == 0 else Fraction(10**9)
    return Fraction(current - baseline, baseline)


def _relative(baseline: int, current: int) -> float | None:
    # Readers require peak and allocation count >= 1; 0 is only possible in hand-built data,
    # and an infinite change would not survive the JSON report.
    if baseline == 0:
        return None
    return current / baseline - 1.0


def compare_memory(
    baseline: Results, current: Results, tolerance: float, accepted_found: bool
) -> tuple[MemoryComparison, ...]:
    """Exact comparison of peak bytes and allocation count per memray scenario."""
    comparable_reason = "the accepted commit measured here, beside the current code"
    differences: list[str] = []
    if not accepted_found:
        differences = environment_differences(baseline.environment, current.environment)
        comparable_reason = "stored baseline numbers (identical environment fingerprint)"
    rows: list[MemoryComparison] = []
    for name in sorted(set(baseline.memory) | set(current.memory)):
        base, cur = baseline.memory.get(name), current.memory.get(name)
        if base is None or cur is None:
            state = MemoryState.NEW if base is None else MemoryState.REMOVED
            rows.append(MemoryComparison(name, state, base, cur, tolerance))
            continue
        if differences:
            rows.append(
                MemoryComparison(
                    name,
                    MemoryState.NOT_COMPARABLE,
                    base,
                    cur,
                    tolerance,
                    reason=(
                        "stored numbers come from another environment ("
                        + "; ".join(differences[:3])
                        + "): allocation counts differ between builds, and the accepted "
                        "commit could not be measured here"
                    ),
                )
            )
            continue
        peak = _relative(base.peak_bytes, cur.peak_bytes)
        allocs = _relative(base.total_allocations, cur.total_allocations)
        # Exact rational arithmetic: byte counts are exact, so "+2 % of 1_000_000" must be
        # 20_000 bytes, not whatever 1_000_000 * 1.02 rounds to in binary floating point.
        limit = Fraction(repr(tolerance))
        growth = (
            _exact_change(base.peak_bytes, cur.peak_bytes),
            _exact_change(base.total_allocations, cur.total_allocations),
        )
        if any(g > limit for g in growth):
            state = MemoryState.REGRESSION
        elif any(g < -limit for g in growth):
            state = MemoryState.IMPROVEMENT
        else:
            state = MemoryState.UNCHANGED
        rows.append(
            MemoryComparison(
                name,
                state,
                base,
                cur,
                tolerance,
                peak_change=peak,
                allocations_change=allocs,
                grown_sites=_grown_sites(base, cur),
                reason=comparable_reason,
            )
        )
    return tuple(rows)


def needs_extension(comparison: Comparison) -> list[str]:
    """Benchmarks the first pass cannot settle: they get the one extension.

    Every row that could still be a regression once more processes are pooled: measured here,
    not yet extended, the estimate above 1 + m/2 and the upper bound reaching 1 + 7m/8 (or no
    bound at all with so few processes). Every would-be regression of the first pass is among
    them, so no regression is ever decided on one pass.
    """
    return [
        b.name
        for b in comparison.benchmarks
        if not b.advisory
        and not b.extended
        and b.ratio is not None
        and b.ratio > b.floor
        and (b.interval is None or b.interval[1] >= b.pivot)
    ]


def _detects_min_effect(row: BenchmarkComparison, added: int) -> bool:
    """Whether `added` more processes a side give `row` a detectable change of at most m."""
    if row.spread is None or row.level is None:
        return False
    detectable = detectable_change(
        row.spread,
        len(row.baseline_samples) + added,
        len(row.current_samples) + added,
        floor=row.floor,
        pivot=row.pivot,
        level=row.level,
        power=POWER,
    )
    return detectable is not None and detectable <= row.min_effect


def extension_size(comparison: Comparison, settings: Settings) -> int:
    """Fresh processes a side the one extension measures for `needs_extension(comparison)`.

    The short extension (`SHORT_EXTENSION_FACTOR` times the first pass) when, for every
    benchmark among them, one of its rows (the wall-clock row or its server CPU row: one process
    measures both) would detect a change of the minimum effect with 95 % probability after it,
    judged by the first pass's spread; else the full one (`extension_processes`). Simulated in
    tests/gate/test_decision_power.py, this keeps the stated power (a 1.25 m slowdown fails
    >= 95 % of runs up to 3 % spread) and never lets a change of m/2 fail: the spread decides
    the size, the estimate does not. Zero when nothing needs the extension.
    """
    names = needs_extension(comparison)
    if not names:
        return 0
    short = settings.processes * SHORT_EXTENSION_FACTOR
    rows: dict[str, list[BenchmarkComparison]] = {}
    for name in names:
        rows.setdefault(measured_name(name), []).append(comparison.benchmark(name))
    if all(any(_detects_min_effect(row, short) for row in group) for group in rows.values()):
        return short
    return extension_processes(settings)


def extend(
    first: Comparison, baseline: Results, current: Results, settings: Settings
) -> Comparison:
    """The final comparison: `baseline`/`current` hold the first pass, and for each benchmark
    of `needs_extension(first)` its first-pass and extension processes pooled.

    Decided once, on these samples (Holm over the whole family again, so a row's adjusted p
    may move a little with the pooled p-values of the others).
    """
    names = needs_extension(first)
    for name in names:
        before = first.benchmark(name)
        after_base = baseline.benchmarks.get(name)
        after_cur = current.benchmarks.get(name)
        if (
            after_base is None
            or after_cur is None
            or len(after_base.samples) <= len(before.baseline_samples)
            or len(after_cur.samples) <= len(before.current_samples)
        ):
            raise GateError(
                f"the extension run has no result for benchmark {name!r} "
                "— re-run the gate (nox -s perf)"
            )
    return compare(
        baseline,
        current,
        settings,
        accepted_found=first.accepted_found,
        first_pass={name: first.benchmark(name) for name in names},
    )
