"""Budgets: absolute service-level limits, checked on the current run alone.

The mapping from a budget to the figure it limits is data (`BUDGETS`), not code: a budget
applies to every benchmark whose `extra_info` carries its figure, so a new benchmark that
reports `latency_p95_ms` is covered without touching this module. Peak memory is also checked
against every memray scenario's peak. A budget no benchmark reports is "not measured": not a
failure, but visible in the matrix so that a silently dropped figure does not go unnoticed.

Limits are inclusive: a maximum passes at exactly the target, a minimum at exactly the target.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agui_perf.gate.results import Results

__all__ = [
    "BUDGETS",
    "MB",
    "BudgetCheck",
    "BudgetStatus",
    "Figure",
    "breaches",
    "check_budgets",
]

# Decimal megabytes, as the key says and as gate/memory.py prints peaks.
MB = 1_000_000


@dataclass(frozen=True)
class Figure:
    """What a budget limits: an `extra_info` key, its direction, unit and label."""

    extra_info_key: str
    kind: Literal["max", "min"]
    unit: str
    label: str
    # memray scenarios report peak bytes; this budget is in MB (10**6 bytes).
    from_memory_peak: bool = False


BUDGETS: Mapping[str, Figure] = {
    "latency_mean_ms": Figure("latency_mean_ms", "max", "ms", "event latency, mean"),
    "latency_p95_ms": Figure("latency_p95_ms", "max", "ms", "event latency, p95"),
    "concurrent_streams_min": Figure(
        "concurrent_streams", "min", "streams", "concurrent streams held without errors"
    ),
    "workflow_s": Figure("workflow_s", "max", "s", "workflow duration"),
    "peak_memory_mb": Figure("peak_memory_mb", "max", "MB", "peak memory", from_memory_peak=True),
    "throughput_events_per_s_min": Figure("events_per_s", "min", "events/s", "throughput"),
    "error_rate_max": Figure("error_rate", "max", "", "error rate"),
}


class BudgetStatus(enum.StrEnum):
    PASS = "pass"  # noqa: S105 -- a status name, not a password
    FAIL = "fail"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class BudgetCheck:
    """One row of the compliance matrix."""

    budget: str  # key in [tool.agui_perf.budgets]
    label: str
    subject: str | None  # benchmark or memory scenario; None when not measured
    kind: Literal["max", "min"]
    unit: str
    target: float
    actual: float | None
    margin: float | None  # headroom in `unit`: positive = within budget, negative = breach
    status: BudgetStatus

    @property
    def margin_fraction(self) -> float | None:
        """Headroom relative to the target (0.25 = 25 % to spare); None if not measured."""
        if self.margin is None or self.target == 0:
            return None
        return self.margin / self.target


def _row(budget: str, figure: Figure, target: float, subject: str, actual: float) -> BudgetCheck:
    margin = target - actual if figure.kind == "max" else actual - target
    return BudgetCheck(
        budget=budget,
        label=figure.label,
        subject=subject,
        kind=figure.kind,
        unit=figure.unit,
        target=target,
        actual=actual,
        margin=margin,
        status=BudgetStatus.PASS if margin >= 0 else BudgetStatus.FAIL,
    )


def check_budgets(current: Results, budgets: Mapping[str, float]) -> tuple[BudgetCheck, ...]:
    """The compliance matrix, ordered by budget then subject.

    `budgets` are the validated settings (`Settings.budgets`); keys unknown to `BUDGETS` were
    rejected when the settings were read.
    """
    rows: list[BudgetCheck] = []
    for budget, target in sorted(budgets.items()):
        figure = BUDGETS[budget]
        found: list[BudgetCheck] = []
        for name, bench in sorted(current.benchmarks.items()):
            value = bench.extra_info.get(figure.extra_info_key)
            # A string would be a mislabelled figure; it is not a measurement of this budget.
            if isinstance(value, int | float):
                found.append(_row(budget, figure, float(target), name, float(value)))
        if figure.from_memory_peak:
            for name, mem in sorted(current.memory.items()):
                found.append(_row(budget, figure, float(target), name, mem.peak_bytes / MB))
        if not found:
            found.append(
                BudgetCheck(
                    budget=budget,
                    label=figure.label,
                    subject=None,
                    kind=figure.kind,
                    unit=figure.unit,
                    target=float(target),
                    actual=None,
                    margin=None,
                    status=BudgetStatus.NOT_MEASURED,
                )
            )
        rows.extend(found)
    return tuple(rows)


def breaches(checks: tuple[BudgetCheck, ...]) -> tuple[BudgetCheck, ...]:
    return tuple(check for check in checks if check.status is BudgetStatus.FAIL)
