"""Instruction counts compared exactly, with the timing thresholds (README "How the gate decides").

Per benchmark, the ratio of instructions per call (current / baseline), in exact rational
arithmetic (the counts are integers):

- `regression`: ratio ≥ 1 + min_effect (per-benchmark overrides apply): fails the run, like a
  timing regression, so that a failure means the same whichever figure found it;
- `improvement`: ratio ≤ 1 / (1 + min_effect);
- `slower` / `faster`: a smaller change beyond the counts' repeatability (`REPEATABILITY`):
  reported as a warning, never fails the run;
- `unchanged`: within the repeatability;
- `new` / `removed`: counted on one side only;
- `not measured`: a side has no counts (valgrind not found, a baseline written before counts),
  with the reason; `not comparable`: stored counts from another environment or valgrind.

Counts need no significance test and no re-run: the same code executes the same instructions
in a fresh process, up to the small effect the rest of the heap has on the allocator, which
`REPEATABILITY` bounds. The state names are the timing comparison's where they mean the same
(`compare.State`), so the two can be merged into one enum.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from agui_perf.gate.store.environment import environment_differences

if TYPE_CHECKING:
    from agui_perf.gate.store.config import Settings
    from agui_perf.gate.store.results import CountResult, Results

__all__ = [
    "REPEATABILITY",
    "CountComparison",
    "CountState",
    "CountsComparison",
    "compare_counts",
    "count_state",
]

#: Relative change in instructions per call that unchanged code stays within. Measured on the
#: gate's own `cpu_bound` benchmarks (README, "Instruction counts"): the accepted worktree
#: beside the working tree, identical (both counted from one path, `counts._stage_dir`); a
#: benchmark whose code did not change, beside a change elsewhere in its module, within
#: 0.14 %; beside 3000 dicts of module-level data added to its benchmark file (a different heap
#: before the calls), within 0.27 % (0.53 % before the sides shared one path). 1 % is twice
#: the worst of these and half the 2 % change that must always be reported, so such a change
#: still shows with that much noise against it.
REPEATABILITY = 0.01


class CountState(enum.StrEnum):
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    SLOWER = "slower"
    FASTER = "faster"
    UNCHANGED = "unchanged"
    NEW = "new"
    REMOVED = "removed"
    NOT_MEASURED = "not measured"
    NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True)
class CountComparison:
    benchmark: str
    state: CountState
    baseline: CountResult | None
    current: CountResult | None
    min_effect: float
    repeatability: float
    change: float | None = None  # instructions per call, current / baseline - 1

    @property
    def failing(self) -> bool:
        return self.state is CountState.REGRESSION


@dataclass(frozen=True)
class CountsComparison:
    """Every counted benchmark's row, and why there are none when the counts are missing."""

    rows: tuple[CountComparison, ...]  # sorted by benchmark
    measured: bool  # False: a side has no counts; `reason` says why
    reason: str = ""  # "valgrind not found", "not in the baseline", another environment …
    tool: str = ""  # the current side's valgrind
    repeatability: float = REPEATABILITY

    @property
    def regressions(self) -> tuple[CountComparison, ...]:
        return tuple(row for row in self.rows if row.failing)

    @property
    def warnings(self) -> tuple[CountComparison, ...]:
        return tuple(row for row in self.rows if row.state is CountState.SLOWER)

    def summary(self) -> str:
        """One line for the verdict: "instruction counts: not measured (valgrind not found)"."""
        if not self.measured:
            return f"instruction counts: not measured ({self.reason})"
        if self.reason:
            return f"instruction counts: not comparable ({self.reason})"
        counts: dict[CountState, int] = {}
        for row in self.rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        parts = [f"{n} {state.value}" for state in CountState if (n := counts.get(state))]
        return "instruction counts: " + (", ".join(parts) if parts else "no benchmark counted")


def _per_call(count: CountResult) -> Fraction:
    return Fraction(count.instructions, count.calls)


def count_state(
    ratio: Fraction, min_effect: float, repeatability: float = REPEATABILITY
) -> CountState:
    """The state of an exact ratio of instructions per call (current / baseline)."""
    effect = Fraction(repr(min_effect))
    noise = Fraction(repr(repeatability))
    # A change must also be beyond the repeatability to fail: with an override of 0, an
    # unchanged benchmark would otherwise be a regression.
    if ratio >= 1 + effect and ratio > 1 + noise:
        return CountState.REGRESSION
    if ratio <= 1 / (1 + effect) and ratio < 1 / (1 + noise):
        return CountState.IMPROVEMENT
    if ratio > 1 + noise:
        return CountState.SLOWER
    if ratio < 1 / (1 + noise):
        return CountState.FASTER
    return CountState.UNCHANGED


def compare_counts(
    baseline: Results,
    current: Results,
    settings: Settings,
    *,
    accepted_found: bool,
    repeatability: float = REPEATABILITY,
) -> CountsComparison:
    """Compare the sides' instruction counts benchmark by benchmark.

    `accepted_found=False`: `baseline` holds the stored numbers; they are compared only when
    the environment fingerprint and the valgrind version are identical (counts depend on the
    interpreter's build and on the counter), like memory.
    """
    base, cur = baseline.counts, current.counts
    names = sorted(set(base.benchmarks) | set(cur.benchmarks))
    missing = cur.missing if cur.missing is not None else base.missing
    if missing is not None:
        reason = missing if cur.missing is None or base.missing is None else cur.missing
        return _all(
            names,
            baseline,
            current,
            settings,
            repeatability,
            CountState.NOT_MEASURED,
            reason,
            False,
        )
    if base.tool != cur.tool:
        reason = f"the sides were counted by different tools ({base.tool} and {cur.tool})"
        return _all(
            names,
            baseline,
            current,
            settings,
            repeatability,
            CountState.NOT_COMPARABLE,
            reason,
            True,
        )
    if not accepted_found:
        differences = environment_differences(baseline.environment, current.environment)
        if differences:
            reason = (
                "stored counts come from another environment ("
                + "; ".join(differences[:3])
                + ") and the accepted commit could not be measured here"
            )
            return _all(
                names,
                baseline,
                current,
                settings,
                repeatability,
                CountState.NOT_COMPARABLE,
                reason,
                True,
            )
    rows: list[CountComparison] = []
    for name in names:
        b, c = base.benchmarks.get(name), cur.benchmarks.get(name)
        effect = settings.min_effect_for(name)
        if b is None or c is None:
            state = CountState.NEW if b is None else CountState.REMOVED
            rows.append(CountComparison(name, state, b, c, effect, repeatability))
            continue
        ratio = _per_call(c) / _per_call(b)
        rows.append(
            CountComparison(
                name,
                count_state(ratio, effect, repeatability),
                b,
                c,
                effect,
                repeatability,
                change=float(ratio) - 1.0,
            )
        )
    return CountsComparison(
        rows=tuple(rows), measured=True, tool=cur.tool, repeatability=repeatability
    )


def _all(
    names: list[str],
    baseline: Results,
    current: Results,
    settings: Settings,
    repeatability: float,
    state: CountState,
    reason: str,
    measured: bool,
) -> CountsComparison:
    """Every row in one state: counts that are missing on a side, or not comparable."""
    rows = tuple(
        CountComparison(
            name,
            state,
            baseline.counts.benchmarks.get(name),
            current.counts.benchmarks.get(name),
            settings.min_effect_for(name),
            repeatability,
        )
        for name in names
    )
    return CountsComparison(
        rows=rows,
        measured=measured,
        reason=reason,
        tool=current.counts.tool,
        repeatability=repeatability,
    )
