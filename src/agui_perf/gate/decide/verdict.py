"""The verdict: one overall state, a headline, everything behind it, and the exit code.

The exit code is derived here and nowhere else (nox's `Status` does the same):
  0  pass: unchanged, improvement, slower, faster, inconclusive, new, removed (and advisory
     timing states)
  1  fail: a timing regression (measured here, decided on the pooled processes), a memory
     regression, an instruction-count regression, a budget breach
  2  error: unusable input or a usage error

`verdict.json` schema 2 (1 had no `rule`, no bounds, spread or detectable change per row, and
`confirmation`/`rerun` where 2 has `extended`/`first_pass`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agui_perf.gate._codec import to_json
from agui_perf.gate.decide.budgets import BudgetCheck, BudgetStatus
from agui_perf.gate.decide.compare import (
    FLOOR_FRACTION,
    PIVOT_FRACTION,
    POWER,
    RULE_NAME,
    SHORT_EXTENSION_FACTOR,
    BenchmarkComparison,
    Comparison,
    MemoryComparison,
    MemoryState,
    State,
    extension_processes,
    rule_text,
)
from agui_perf.gate.decide.stats import ESTIMATOR_NAME, SPREAD_NAME, TEST_NAME
from agui_perf.gate.store.config import settings_to_json

if TYPE_CHECKING:
    from agui_perf.gate.decide.count_compare import CountComparison, CountsComparison
    from agui_perf.gate.errors import GateError
    from agui_perf.gate.store.config import Settings
    from agui_perf.gate.store.history import History
    from agui_perf.gate.store.results import MemoryResult

__all__ = [
    "VERDICT_SCHEMA_VERSION",
    "AcceptedState",
    "Overall",
    "Verdict",
    "decide",
    "error_verdict",
]

VERDICT_SCHEMA_VERSION = 2


class Overall(enum.StrEnum):
    PASS = "pass"  # noqa: S105 -- a verdict, not a password
    FAIL = "fail"
    ERROR = "error"


_EXIT_CODES = {Overall.PASS: 0, Overall.FAIL: 1, Overall.ERROR: 2}


@dataclass(frozen=True)
class AcceptedState:
    """The accepted state: the commit that last changed the baseline file, or why none."""

    found: bool
    baseline_path: str
    commit: str | None = None
    date: str | None = None  # ISO 8601 committer date
    subject: str | None = None
    reason: str | None = None  # why it could not be found (shallow clone, no git, ...)


@dataclass(frozen=True)
class Verdict:
    overall: Overall
    headline: str
    comparison: Comparison | None
    budgets: tuple[BudgetCheck, ...]
    accepted: AcceptedState | None
    settings: Settings | None
    error: str | None = None
    counts: CountsComparison | None = None  # None: not part of this run (e.g. an error)
    history: History | None = None  # the trend; None: not read (--history 0, an error)

    @property
    def benchmarks(self) -> tuple[BenchmarkComparison, ...]:
        return self.comparison.benchmarks if self.comparison else ()

    @property
    def memory(self) -> tuple[MemoryComparison, ...]:
        return self.comparison.memory if self.comparison else ()

    def exit_code(self) -> int:
        return _EXIT_CODES[self.overall]

    def to_json(self) -> dict[str, object]:
        return {
            "schema_version": VERDICT_SCHEMA_VERSION,
            "overall": self.overall.value,
            "exit_code": self.exit_code(),
            "headline": self.headline,
            "error": self.error,
            "accepted": _accepted_json(self.accepted),
            "settings": settings_to_json(self.settings) if self.settings else None,
            "family_size": self.comparison.family_size if self.comparison else 0,
            "rule": _rule_json(self.comparison, self.settings),
            "notes": list(self.comparison.notes) if self.comparison else [],
            "benchmarks": [_benchmark_json(b) for b in self.benchmarks],
            "memory": [_memory_json(m) for m in self.memory],
            "budgets": [_budget_json(b) for b in self.budgets],
            "counts": _counts_json(self.counts),
            "history": self.history.to_json() if self.history else None,
        }


def _pct(ratio: float | None) -> str:
    return "" if ratio is None else f"{(ratio - 1.0) * 100:+.1f} %"


def _count(items: int, word: str) -> str:
    return f"{items} {word}{'' if items == 1 else 's'}"


def decide(
    comparison: Comparison,
    budgets: tuple[BudgetCheck, ...],
    accepted: AcceptedState,
    settings: Settings,
    counts: CountsComparison | None = None,
) -> Verdict:
    """The overall verdict from a (final, extended) comparison, the instruction counts and
    the budget matrix."""
    timing = comparison.timing_regressions
    memory = comparison.memory_regressions
    breached = [b for b in budgets if b.status is BudgetStatus.FAIL]
    problems: list[str] = []
    if timing:
        shown = ", ".join(f"{b.name} {_pct(b.ratio)}" for b in timing[:3])
        more = f", +{len(timing) - 3} more" if len(timing) > 3 else ""
        problems.append(f"{_count(len(timing), 'timing regression')} ({shown}{more})")
    if memory:
        problems.append(
            f"{_count(len(memory), 'memory regression')} ("
            + ", ".join(m.scenario for m in memory[:3])
            + ")"
        )
    problems += _count_problems(counts)
    if breached:
        problems.append(
            f"{_count(len(breached), 'budget breach')} ("
            + ", ".join(f"{b.budget} on {b.subject}" for b in breached[:3])
            + ("" if len(breached) <= 3 else ", ...")
            + ")"
        )
    if problems:
        overall, headline = Overall.FAIL, "FAIL: " + "; ".join(problems)
    else:
        overall, headline = Overall.PASS, "PASS: " + _summary(comparison)
    headline += _count_note(counts)
    if not accepted.found:
        headline += (
            f" — accepted commit not found ({accepted.reason or 'unknown reason'}): "
            "timing is advisory"
        )
    return Verdict(
        overall=overall,
        headline=headline,
        comparison=comparison,
        budgets=budgets,
        accepted=accepted,
        settings=settings,
        counts=counts,
    )


def _count_problems(counts: CountsComparison | None) -> list[str]:
    regressions = counts.regressions if counts else ()
    if not regressions:
        return []
    shown = ", ".join(f"{r.benchmark} {_change(r.change)}" for r in regressions[:3])
    more = f", +{len(regressions) - 3} more" if len(regressions) > 3 else ""
    return [f"{_count(len(regressions), 'instruction-count regression')} ({shown}{more})"]


def _count_note(counts: CountsComparison | None) -> str:
    """What the headline says about counts that do not fail: missing, or slower (a warning)."""
    if counts is None:
        return ""
    if not counts.measured or counts.reason:
        return f"; {counts.summary()}"
    slower = counts.warnings
    if slower:
        return f"; instruction counts: {len(slower)} slower (a warning, not a failure)"
    return ""


def _change(change: float | None) -> str:
    return "" if change is None else f"{change * 100:+.1f} %"


def _summary(comparison: Comparison) -> str:
    counts = dict.fromkeys(State, 0)
    for bench in comparison.benchmarks:
        counts[bench.state] += 1
    parts = [f"{n} {state.value}" for state, n in counts.items() if n]
    if not parts:
        return "no benchmarks compared"
    return "no failing regression — " + ", ".join(parts)


def error_verdict(
    error: GateError | str,
    *,
    accepted: AcceptedState | None = None,
    settings: Settings | None = None,
) -> Verdict:
    """The verdict for unusable input: exit code 2, the one-line message as the headline."""
    message = str(error)
    return Verdict(
        overall=Overall.ERROR,
        headline=f"ERROR: {message}",
        comparison=None,
        budgets=(),
        accepted=accepted,
        settings=settings,
        error=message,
    )


def _accepted_json(accepted: AcceptedState | None) -> dict[str, object] | None:
    return None if accepted is None else to_json(accepted)


def _rule_json(comparison: Comparison | None, settings: Settings | None) -> dict[str, object]:
    processes = settings.processes if settings else None
    alpha = comparison.alpha if comparison else (settings.alpha if settings else None)
    family = comparison.family_size if comparison else 0
    return {
        "name": RULE_NAME,
        "test": TEST_NAME,
        "correction": "Holm",
        "estimator": ESTIMATOR_NAME,
        "spread": SPREAD_NAME,
        "bound_level": comparison.level if comparison else None,
        "floor_fraction": FLOOR_FRACTION,
        "pivot_fraction": PIVOT_FRACTION,
        "power": POWER,
        "first_pass_processes": processes,
        "extension_processes": extension_processes(settings) if settings else None,
        "short_extension_processes": (
            settings.processes * SHORT_EXTENSION_FACTOR if settings else None
        ),
        "text": (
            rule_text(alpha, family, settings.min_effect if settings else 0.0, processes)
            if alpha is not None
            else None
        ),
    }


def _benchmark_json(b: BenchmarkComparison) -> dict[str, object]:
    return to_json(
        b,
        skip={"alpha", "family_size", "level"},
        bound_level=b.level,
        failing=b.failing,
        reason=b.reason,
        statistic=b.statistic,
        floor=b.floor,
        pivot=b.pivot,
        baseline_median=b.baseline_median,
        current_median=b.current_median,
        significant=b.significant,
        extended=b.extended,
        first_pass=_benchmark_json(b.first_pass) if b.first_pass else None,
    )


def _memory_side(m: MemoryResult | None) -> dict[str, object] | None:
    return None if m is None else to_json(m, skip={"scenario", "top_sites"})


def _memory_json(m: MemoryComparison) -> dict[str, object]:
    return to_json(
        m,
        failing=m.state is MemoryState.REGRESSION,
        baseline=_memory_side(m.baseline),
        current=_memory_side(m.current),
        grown_sites=[
            to_json(s, delta_bytes=s.delta_bytes, delta_allocations=s.delta_allocations)
            for s in m.grown_sites
        ],
    )


def _count_json(row: CountComparison) -> dict[str, object]:
    baseline, current = (
        None if side is None else to_json(side, skip={"benchmark"})
        for side in (row.baseline, row.current)
    )
    return to_json(row, failing=row.failing, baseline=baseline, current=current)


def _counts_json(counts: CountsComparison | None) -> dict[str, object] | None:
    if counts is None:
        return None
    return to_json(counts, summary=counts.summary(), rows=[_count_json(r) for r in counts.rows])


def _budget_json(b: BudgetCheck) -> dict[str, object]:
    return to_json(b)
