"""Per-benchmark and per-scenario decisions: the heart of the gate (DESIGN "How the gate decides").

Timing: a benchmark is a `regression` only when BOTH hold:
  - the one-sided Mann-Whitney U test "current slower" is significant at alpha after Holm's
    correction over the benchmarks measured on both sides, and
  - the ratio of medians (current / baseline) exceeds 1 + min_effect.
`improvement` is the mirror image (ratio below 1 / (1 + min_effect), "current faster"
significant). Significant but small is `unchanged`; large but not significant is
`inconclusive`. Each direction is its own Holm family (only "slower" can fail the run).
asv uses the same two-part rule (factor and Mann-Whitney) for the same reason:
either alone raises false alarms.

When the accepted commit could not be found, the baseline side is the stored numbers, measured
at another time and maybe on another machine; the states are still computed and reported, but
marked advisory and never fail the run.

A flagged regression is re-measured once (`flagged`, `confirm`) and fails only if flagged
again: the false-alarm rate of a confirmed regression is about the square of one run's.

Memory is deterministic (memray with Python allocator tracing), so one run per side is compared
exactly, with a small tolerance.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

from agui_perf.gate.environment import environment_differences
from agui_perf.gate.errors import GateError
from agui_perf.gate.stats import (
    TEST_NAME,
    bootstrap_ratio_interval,
    holm,
    min_attainable_p,
    p_faster,
    p_slower,
    ratio_of_medians,
)

if TYPE_CHECKING:
    from agui_perf.gate.config import Settings
    from agui_perf.gate.results import MemoryResult, Results

__all__ = [
    "MAX_GROWN_SITES",
    "BenchmarkComparison",
    "Comparison",
    "Confirmation",
    "MemoryComparison",
    "MemoryState",
    "SiteChange",
    "State",
    "compare",
    "compare_memory",
    "confirm",
    "flagged",
    "format_p",
]

MAX_GROWN_SITES = 5


class State(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    UNCHANGED = "unchanged"
    INCONCLUSIVE = "inconclusive"
    NEW = "new"
    REMOVED = "removed"


class Confirmation(enum.StrEnum):
    CONFIRMED = "confirmed"
    NOT_CONFIRMED = "not confirmed"


def format_p(p: float) -> str:
    return f"{p:.2g}"


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
    ratio: float | None = None  # median(current) / median(baseline)
    interval: tuple[float, float] | None = None  # bootstrap 95 % interval of the ratio
    p_slower: float | None = None  # raw one-sided p, "current slower"
    p_faster: float | None = None  # raw one-sided p, "current faster"
    p_slower_adjusted: float | None = None  # Holm-adjusted
    p_faster_adjusted: float | None = None
    confirmation: Confirmation | None = None  # set by `confirm` on re-measured benchmarks
    rerun: BenchmarkComparison | None = None  # the re-measurement's own comparison

    @property
    def baseline_median(self) -> float | None:
        return _median(self.baseline_samples)

    @property
    def current_median(self) -> float | None:
        return _median(self.current_samples)

    @property
    def direction(self) -> str | None:
        """The direction tested and reported: the one the medians moved in."""
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
    def timing_regressions(self) -> tuple[BenchmarkComparison, ...]:
        """Regressions that fail the run (advisory ones never do)."""
        return tuple(b for b in self.benchmarks if b.state is State.REGRESSION and not b.advisory)

    @property
    def memory_regressions(self) -> tuple[MemoryComparison, ...]:
        return tuple(m for m in self.memory if m.state is MemoryState.REGRESSION)

    @property
    def failed(self) -> bool:
        return bool(self.timing_regressions or self.memory_regressions)


def _decide(ratio: float, min_effect: float, slower_sig: bool, faster_sig: bool) -> State:
    if ratio > 1.0 + min_effect:
        return State.REGRESSION if slower_sig else State.INCONCLUSIVE
    if ratio < 1.0 / (1.0 + min_effect):
        return State.IMPROVEMENT if faster_sig else State.INCONCLUSIVE
    return State.UNCHANGED


def compare(
    baseline: Results, current: Results, settings: Settings, *, accepted_found: bool
) -> Comparison:
    """Compare the accepted side (`baseline`) with the current code.

    `accepted_found=True`: `baseline` was measured here, beside `current` (the verdict can
    fail on timing). `False`: `baseline` holds the stored numbers (timing advisory; memory
    only if the environment fingerprint matches exactly).
    """
    advisory = not accepted_found
    common = sorted(set(baseline.benchmarks) & set(current.benchmarks))
    k = len(common)
    raw_slower: dict[str, float] = {}
    raw_faster: dict[str, float] = {}
    for name in common:
        base, cur = baseline.benchmarks[name].samples, current.benchmarks[name].samples
        raw_slower[name] = p_slower(base, cur)
        raw_faster[name] = p_faster(base, cur)
    adj_slower, adj_faster = holm(raw_slower), holm(raw_faster)

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
        )
        if base_samples and cur_samples:
            ratio = ratio_of_medians(base_samples, cur_samples)
            row = replace(
                row,
                state=_decide(
                    ratio,
                    effect,
                    adj_slower[name] <= settings.alpha,
                    adj_faster[name] <= settings.alpha,
                ),
                ratio=ratio,
                interval=bootstrap_ratio_interval(base_samples, cur_samples),
                p_slower=raw_slower[name],
                p_faster=raw_faster[name],
                p_slower_adjusted=adj_slower[name],
                p_faster_adjusted=adj_faster[name],
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


def flagged(comparison: Comparison) -> list[str]:
    """Benchmarks to re-measure: regressions that would fail the run and are not yet confirmed."""
    return [
        b.name
        for b in comparison.benchmarks
        if b.state is State.REGRESSION and not b.advisory and b.confirmation is None
    ]


def confirm(first: Comparison, rerun: Comparison) -> Comparison:
    """Fold a confirmation re-measurement into `first`.

    A flagged benchmark stays a regression only if the re-measurement flags it again;
    otherwise it takes the re-measurement's state. Both comparisons are kept for the report.

    A confirmed regression reports the pass with the smaller effect: both passes found a
    regression, and the smaller effect is the one both support. (A host slow phase over one
    pass once showed +84 % for a real +18 %.) `rerun` always holds the re-measurement.
    """
    to_check = set(flagged(first))
    rerun_rows = {b.name: b for b in rerun.benchmarks}
    missing = sorted(to_check - set(rerun_rows))
    if missing:
        raise GateError(
            f"the confirmation run has no result for flagged benchmark {missing[0]!r} "
            "— re-run the gate (nox -s perf)"
        )
    rows: list[BenchmarkComparison] = []
    for row in first.benchmarks:
        if row.name not in to_check:
            rows.append(row)
            continue
        again = rerun_rows[row.name]
        if again.state is State.REGRESSION:
            shown = again if _effect(again) < _effect(row) else row
            rows.append(replace(shown, confirmation=Confirmation.CONFIRMED, rerun=again))
        else:
            rows.append(
                replace(
                    row, state=again.state, confirmation=Confirmation.NOT_CONFIRMED, rerun=again
                )
            )
    return replace(first, benchmarks=tuple(rows))


def _effect(row: BenchmarkComparison) -> float:
    # A regression always has a ratio; an absent one sorts last so it is never preferred.
    return math.inf if row.ratio is None else row.ratio
