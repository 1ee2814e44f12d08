"""Budgets: absolute service-level limits, checked on the current run alone.

The mapping from a budget to the figure it limits is data (`BUDGETS`), not code: a budget
applies to every benchmark whose `extra_info` carries its figure, so a new benchmark that
reports `latency_p95_ms` is covered without touching this module. Peak memory is also checked
against every memray scenario's peak. A budget no benchmark reports is "not measured": not a
failure, but visible in the matrix so that a silently dropped figure does not go unnoticed.

A budget is a service target, so a figure marked `service_only` (throughput) is held only
against the service benchmarks, those that talk to a server process over HTTP (`is_service`):
a micro-benchmark that encodes a million events per second in-process meets "at least 100
events/s" by four orders of magnitude, and such a row could never fail nor tell anything. A
budget configured with `benchmarks = [...]` applies to exactly the benchmarks (or memory
scenarios) it names instead, of any kind; a named one that does not report the figure is
"not measured", so a misspelt name shows.

Any other figure a benchmark publishes in `extra_info` can be budgeted by name, without a
change here (`figure_budget`): `agui_ttfe_s_max = 0.05` holds `extra_info["agui_ttfe_s"]` to at
most 0.05 and `agui_streams_held_min = 10` to at least 10, on every benchmark that reports the
figure. Its unit is the one `FIGURE_UNITS` gives (the figures of this repo's benchmarks and of
the `agui_perf.suite` plugin); a figure this module does not know has no unit and is labelled by
its key. A figure that a benchmark reports but not as a number (a string) is a "not measured"
row on that benchmark saying so (`BudgetCheck.reason`), never a silent pass.

Limits are inclusive: a maximum passes at exactly the target, a minimum at exactly the target.
How far a check is from its limit is a factor (`BudgetCheck.factor`: "× 1,600 under budget",
"× 1.3 over budget"), which reads the same for 0.1 ms against 300 ms as for 10^6 events/s
against 100, where a percentage of the target does not.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from agui_perf.gate.store.results import BenchmarkResult, Results

__all__ = [
    "BUDGETS",
    "FIGURE_UNITS",
    "MB",
    "SERVICE_KEY",
    "BudgetCheck",
    "BudgetStatus",
    "Budgets",
    "Figure",
    "breaches",
    "check_budgets",
    "factor",
    "factor_text",
    "figure_budget",
    "figure_by_name",
    "figure_for",
    "grouped",
    "is_service",
    "margin_text",
]

# Decimal megabytes, as the key says and as gate/measure/memory.py prints peaks.
MB = 1_000_000
#: Every benchmark that talks to a server process publishes where client and server ran
#: (agui_perf.suite.server_cpu); in-process micro-benchmarks have no server to place.
SERVICE_KEY = "pinning"


@dataclass(frozen=True)
class Figure:
    """What a budget limits: an `extra_info` key, its direction, unit and label."""

    extra_info_key: str
    kind: Literal["max", "min"]
    unit: str
    label: str
    # memray scenarios report peak bytes; this budget is in MB (10**6 bytes).
    from_memory_peak: bool = False
    # Held only against service benchmarks (`is_service`) unless the budget names benchmarks.
    service_only: bool = False


BUDGETS: Mapping[str, Figure] = {
    "latency_mean_ms": Figure("latency_mean_ms", "max", "ms", "event latency, mean"),
    "latency_p95_ms": Figure("latency_p95_ms", "max", "ms", "event latency, p95"),
    "concurrent_streams_min": Figure(
        "concurrent_streams", "min", "streams", "concurrent streams held without errors"
    ),
    "workflow_s": Figure("workflow_s", "max", "s", "workflow duration"),
    "peak_memory_mb": Figure("peak_memory_mb", "max", "MB", "peak memory", from_memory_peak=True),
    "throughput_events_per_s_min": Figure(
        "events_per_s", "min", "events/s", "throughput", service_only=True
    ),
    "error_rate_max": Figure("error_rate", "max", "", "error rate"),
}

#: The unit of each figure known by name, for a budget on it (`figure_budget`): this repo's
#: benchmark figures and those of the `agui_perf.suite` plugin (`RunFigures.extra_info`,
#: `Concurrency.extra_info`). A figure not listed has no unit: a guess from its name could
#: print "s" beside a count.
FIGURE_UNITS: Mapping[str, str] = {
    **{f"latency_{stat}_ms": "ms" for stat in ("mean", "median", "p95", "p99", "min", "max")},
    "latency_stddev_ms": "ms",
    "workflow_s": "s",
    "peak_memory_mb": "MB",
    "events_per_s": "events/s",
    "concurrent_streams": "streams",
    "error_rate": "",
    **{
        f"agui_{name}_s": "s"
        for name in (
            "ttfe",
            "ttfc",
            "gap_p50",
            "gap_p95",
            "gap_p99",
            "gap_max",
            "duration",
            "silence_max",
            "heartbeat",
            "concurrent_ttfe_p50",
        )
    },
    "agui_status": "",
    "agui_events": "events",
    "agui_bytes": "B",
    "agui_events_per_s": "events/s",
    "agui_heartbeats": "heartbeats",
    "agui_streams": "streams",
    "agui_streams_held": "streams",
    "agui_error_rate": "",
    "agui_peak_open": "streams",
    # The suite publishes its checks as 1 (kept) or 0 (broken), so `agui_verified_min = 1`
    # is a budget that fails a benchmark whose stream broke the ordering rules.
    "agui_verified": "",
    "agui_framing_ok": "",
    "agui_heartbeat_kept": "",
}
_KIND_SUFFIXES: Mapping[str, Literal["max", "min"]] = {"_max": "max", "_min": "min"}


def figure_budget(extra_info_key: str, kind: Literal["max", "min"]) -> Figure:
    """A budget on any `extra_info` figure, labelled by its key, in its unit if known."""
    return Figure(extra_info_key, kind, FIGURE_UNITS.get(extra_info_key, ""), extra_info_key)


def figure_by_name(budget: str) -> Figure | None:
    """The figure a budget's name alone gives: a built-in budget's, or for `<extra_info
    key>_max` / `<extra_info key>_min` that key's; None for any other name."""
    if budget in BUDGETS:
        return BUDGETS[budget]
    for suffix, kind in _KIND_SUFFIXES.items():
        key = budget.removesuffix(suffix)
        if key != budget and key:
            return figure_budget(key, kind)
    return None


class Budgets(Mapping[str, float]):
    """`[tool.agui_perf.budgets]`, validated: the target of each budget, for a budget
    configured with `benchmarks = [...]` the names it is held against instead of its default
    subjects, and for a budget written as a table with `figure = "..."` the figure it limits
    (`figures`; every other budget's figure follows from its name, `figure_for`).

    It is a mapping of the targets, so that whatever needs only the numbers (the load test,
    the settings in verdict.json) reads it as the plain dict of targets it always was.
    """

    def __init__(
        self,
        targets: Mapping[str, float] | None = None,
        benchmarks: Mapping[str, Iterable[str]] | None = None,
        figures: Mapping[str, Figure] | None = None,
    ) -> None:
        self._targets = dict(sorted((targets or {}).items()))
        self.benchmarks: Mapping[str, tuple[str, ...]] = {
            name: tuple(names) for name, names in sorted((benchmarks or {}).items())
        }
        self.figures: Mapping[str, Figure] = dict(sorted((figures or {}).items()))
        for what, names in (("benchmarks", self.benchmarks), ("a figure", self.figures)):
            unknown = sorted(set(names) - set(self._targets))
            if unknown:
                raise ValueError(f"{what} named for {unknown[0]!r}, which has no target")
        for name in self._targets:
            if name in BUDGETS and name in self.figures:
                raise ValueError(f"{name!r} is a built-in budget; it names no figure")
            if name not in self.figures and figure_by_name(name) is None:
                raise ValueError(f"{name!r} is no budget: not built in, not <figure>_max/_min")

    def figure(self, budget: str) -> Figure:
        """What `budget` limits (`figure_for`)."""
        return figure_for(budget, self)

    def __getitem__(self, key: str) -> float:
        return self._targets[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        named = other.benchmarks if isinstance(other, Budgets) else {}
        figures = other.figures if isinstance(other, Budgets) else {}
        return (
            self._targets == dict(other.items())
            and self.benchmarks == named
            and self.figures == figures
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking mapping, like dict

    def __repr__(self) -> str:
        extra = "".join(
            f", {what}={dict(given)!r}"
            for what, given in (("benchmarks", self.benchmarks), ("figures", self.figures))
            if given
        )
        return f"Budgets({self._targets!r}{extra})"


def figure_for(budget: str, budgets: Mapping[str, float]) -> Figure:
    """What `budget` limits: a built-in budget's figure, the figure its table names, or for
    `<key>_max` / `<key>_min` that `extra_info` key. KeyError for any other name (the settings
    reject it first)."""
    named = budgets.figures.get(budget) if isinstance(budgets, Budgets) else None
    figure = named or figure_by_name(budget)
    if figure is None:
        raise KeyError(budget)
    return figure


def factor(target: float, actual: float) -> float:
    """The larger of target and actual over the smaller, >= 1 (`BudgetCheck.factor`)."""
    low, high = sorted((actual, target))
    if high == low:
        return 1.0
    return math.inf if low <= 0 else high / low


def factor_text(value: float) -> str:
    """A factor for people: two significant figures from 10 up (1,617 -> "1,600"), where the
    size is what matters; three below (1.04, 2.5), and more where three would round a narrow
    breach to "1" (1.003)."""
    if value >= 10:
        digits = math.floor(math.log10(value)) - 1
        return f"{round(value, -digits):,.0f}"
    for significant in range(3, 7):
        text = f"{value:.{significant}g}"
        if value == 1.0 or float(text) != 1.0:
            return text
    return text


def margin_text(kind: Literal["max", "min"], target: float, actual: float | None) -> str:
    """How far `actual` is from the limit, as a factor: "× 1,600 under budget", "× 1.3 over
    budget", "× 2.5 above the minimum"; "—" when not measured. Limits are inclusive."""
    if actual is None:
        return "—"
    times = factor(target, actual)
    if times == 1.0:
        return "exactly at the budget"
    if kind == "max":
        word = "under budget" if actual <= target else "over budget"
    else:
        word = "above the minimum" if actual >= target else "below the minimum"
    if math.isinf(times):
        return f"{word} ({'actual' if actual <= 0 else 'target'} 0)"
    return f"× {factor_text(times)} {word}"


def is_service(bench: BenchmarkResult) -> bool:
    """A benchmark of the service: it timed a client talking to a server process."""
    return SERVICE_KEY in bench.extra_info


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
    figure: str = ""  # the `extra_info` key limited ("" only where a caller built a bare row)
    #: Why a check on a subject is not measured, when it is not simply absent.
    reason: str | None = None

    @property
    def margin_fraction(self) -> float | None:
        """Headroom relative to the target (0.25 = 25 % to spare); None if not measured."""
        if self.margin is None or self.target == 0:
            return None
        return self.margin / self.target

    @property
    def factor(self) -> float | None:
        """How many times the actual is inside (pass) or beyond (fail) its target, >= 1.

        A maximum of 300 ms met at 0.2 ms is 1,500; missed at 390 ms, 1.3. A minimum of 100/s
        met at 250/s is 2.5. Infinite against a zero (an error rate of 0, a target of 0); 1.0
        exactly on the target; None when not measured.
        """
        return None if self.actual is None else factor(self.target, self.actual)

    @property
    def severity(self) -> tuple[int, float]:
        """Sort key, worst first: breaches (furthest over first), not measured, then passes
        (least headroom first)."""
        factor = self.factor
        if self.status is BudgetStatus.FAIL and factor is not None:
            return (0, -factor)
        if factor is None:
            return (1, 0.0)
        return (2, factor)


def _row(
    budget: str,
    figure: Figure,
    target: float,
    subject: str | None,
    actual: float | str | None,
) -> BudgetCheck:
    """One check of `budget` on `subject`; `actual` None means the figure was not measured,
    a string is the message why a value found is not a measurement."""
    reason = actual if isinstance(actual, str) else None
    actual = None if isinstance(actual, str) else actual
    margin = None
    status = BudgetStatus.NOT_MEASURED
    if actual is not None:
        margin = target - actual if figure.kind == "max" else actual - target
        status = BudgetStatus.PASS if margin >= 0 else BudgetStatus.FAIL
    return BudgetCheck(
        budget=budget,
        label=figure.label,
        subject=subject,
        kind=figure.kind,
        unit=figure.unit,
        target=target,
        actual=actual,
        margin=margin,
        status=status,
        figure=figure.extra_info_key,
        reason=reason,
    )


def _value(extra_info: Mapping[str, object], key: str) -> float | str | None:
    """The figure as a number; None if absent; the reason if present but not a finite number
    (a string, or where processes disagreed, their values joined: not a measurement)."""
    if key not in extra_info:
        return None
    value = extra_info[key]
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    shown = repr(value)
    if len(shown) > 60:  # a row of the matrix, not a dump of whatever was stored
        shown = shown[:57] + "..."
    return f"{key} is {shown}, not a number"


def _figures(current: Results, figure: Figure) -> dict[str, tuple[float | str | None, bool]]:
    """(the figure: a number, None when absent or why it is not a number; is a service
    benchmark) per benchmark and memory scenario."""
    found: dict[str, tuple[float | str | None, bool]] = {}
    for name, bench in sorted(current.benchmarks.items()):
        value = _value(bench.extra_info, figure.extra_info_key)
        found[name] = (value, is_service(bench))
    if figure.from_memory_peak:
        for name, mem in sorted(current.memory.items()):
            found[name] = (mem.peak_bytes / MB, True)
    return found


def check_budgets(current: Results, budgets: Mapping[str, float]) -> tuple[BudgetCheck, ...]:
    """The compliance matrix, ordered by budget then subject.

    `budgets` are the validated settings (`Settings.budgets`, a `Budgets`; a plain mapping of
    targets holds every budget to its default subjects, and names figure budgets only as
    `<key>_max` / `<key>_min`); other names were rejected when the settings were read.
    """
    named = budgets.benchmarks if isinstance(budgets, Budgets) else {}
    rows: list[BudgetCheck] = []
    for budget, target in sorted(budgets.items()):
        figure = figure_for(budget, budgets)
        figures = _figures(current, figure)
        found: list[BudgetCheck] = []
        if budget in named:
            for name in sorted(set(named[budget])):
                value = figures.get(name, (None, False))[0]
                found.append(_row(budget, figure, float(target), name, value))
        else:
            for name, (value, service) in figures.items():
                if value is not None and (service or not figure.service_only):
                    found.append(_row(budget, figure, float(target), name, value))
        rows.extend(found or [_row(budget, figure, float(target), None, None)])
    return tuple(rows)


def grouped(checks: Iterable[BudgetCheck]) -> list[list[BudgetCheck]]:
    """The checks by budget, worst first within each, the budget with the worst case first."""
    groups: dict[str, list[BudgetCheck]] = {}
    for check in checks:
        groups.setdefault(check.budget, []).append(check)
    ordered = [
        sorted(rows, key=lambda c: (c.severity, c.subject or "")) for rows in groups.values()
    ]
    return sorted(ordered, key=lambda rows: (rows[0].severity, rows[0].budget))


def breaches(checks: tuple[BudgetCheck, ...]) -> tuple[BudgetCheck, ...]:
    return tuple(check for check in checks if check.status is BudgetStatus.FAIL)
