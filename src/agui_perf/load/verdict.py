"""The load test's verdict: Locust's CSV stats checked against the load budgets.

`agui-perf load` (`agui_perf.load.cli`, what `nox -s load` runs) drives the target and
Locust, then calls `read_locust_stats` → `check_load` → `write_verdict`. The budgets are
`latency_p95_ms`, `error_rate_max` and `throughput_events_per_s_min` in
`[tool.agui_perf.budgets]`, read here with the gate's settings reader; the per-run budgets of
`agui_perf.load.client.PER_RUN_BUDGETS` that the table sets decide goodput. The figures come
from the request events the locustfile fires:

- `SSE event_latency`: one sample per event, so its percentiles are the event latency and its
  `Requests/s` is the event throughput;
- `SSE run <workflow>`: one per run, failed when the run did not end well (no RUN_FINISHED,
  the ordering rules broken, a frame the AG-UI client cannot read), so its failure ratio is
  the error rate;
- `SSE good_run`: one per good run (ended well and within every per-run budget): goodput;
- `SSE over_budget <budget>`: one per run that ended well but missed that per-run budget;
- `SSE time_to_first_event`: reported, not budgeted.

`write_verdict` also draws `latency.svg`: both distributions (mean, p50, p95, p99, max) on a
log axis, the p95 budget ticked on the event latency (the gate report's latency chart,
`agui_perf.gate.report.latency`). Margins are factors, as in the gate's budget table.

This module imports the gate (settings, atomic writes, the chart); only the process that
runs `agui-perf load` imports it. The Locust processes import `locustfile` and `client`,
which need neither the gate nor pygal.

Exit code of a verdict: 0 every budget met, 1 a budget breached; unusable input is a
`GateError` (exit 2, one line).
"""

from __future__ import annotations

import csv
import enum
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.decide.budgets import margin_text
from agui_perf.gate.errors import GateError
from agui_perf.gate.report.latency import LatencySeries, latency_chart
from agui_perf.gate.store.config import load_settings
from agui_perf.load.client import PER_RUN_BUDGETS

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping, Sequence

__all__ = [
    "BUDGET_KEYS",
    "BudgetRow",
    "LoadBudgets",
    "LoadStats",
    "LoadVerdict",
    "Outcome",
    "RowStats",
    "check_load",
    "latency_series",
    "load_budgets",
    "read_locust_stats",
    "render_markdown",
    "verdict_to_json",
    "write_verdict",
]

BUDGET_KEYS: Final = ("latency_p95_ms", "error_rate_max", "throughput_events_per_s_min")

_RERUN: Final = "rerun agui-perf load"
_RUN_FAILURE: Final = re.compile(r"""RunFailure\((['"])(.*)\1\)""")
_BUDGET_HINT: Final = "fix [tool.agui_perf.budgets] in pyproject.toml"
_REQUIRED_COLUMNS: Final = (
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Average Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "50%",
    "95%",
    "99%",
)


# --- budgets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadBudgets:
    latency_p95_ms: float
    error_rate_max: float
    throughput_events_per_s_min: float
    #: The budgets of `PER_RUN_BUDGETS` the table sets: what a good run must meet.
    per_run: Mapping[str, float] = field(default_factory=dict)


def load_budgets(pyproject: str | os.PathLike[str] = "pyproject.toml") -> LoadBudgets:
    """The three load budgets, read and validated like every gate setting (`gate.config`).

    Each must be present: a load run that cannot be judged is unusable, not a pass.
    """
    budgets = load_settings(pyproject).budgets
    for key in BUDGET_KEYS:
        if key not in budgets:
            raise GateError(f"[tool.agui_perf.budgets] has no {key!r} — {_BUDGET_HINT}")
    per_run = {key: float(budgets[key]) for key in PER_RUN_BUDGETS if key in budgets}
    return LoadBudgets(**{key: float(budgets[key]) for key in BUDGET_KEYS}, per_run=per_run)


# --- Locust CSV -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RowStats:
    """One row of Locust's `*_stats.csv` (times in ms; percentiles None when Locust wrote N/A)."""

    count: int
    failures: int
    mean_ms: float
    max_ms: float
    mean_size: float
    per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class LoadStats:
    """What the verdict needs from one Locust run (names as the locustfile reports them)."""

    runs: int
    failed_runs: int
    runs_per_s: float
    run_mean_ms: float
    bytes_received: float
    events: RowStats | None  # SSE event_latency: one sample per event
    first_event: RowStats | None  # SSE time_to_first_event
    failure_reasons: tuple[tuple[str, int], ...] = ()
    good_runs: int = 0  # SSE good_run: ended well and within every per-run budget
    #: SSE over_budget <budget>: runs that ended well but missed it, most first.
    over_budget: tuple[tuple[str, int], ...] = ()

    @property
    def error_rate(self) -> float:
        return self.failed_runs / self.runs

    @property
    def goodput_ratio(self) -> float:
        """The share of runs that were good."""
        return self.good_runs / self.runs

    @property
    def goodput_per_s(self) -> float:
        """Good runs a second: the runs' rate times the good share (one time base for both)."""
        return self.runs_per_s * self.goodput_ratio

    @property
    def concurrent_streams(self) -> float:
        """Mean streams open at once, by Little's law: runs/s x mean run duration."""
        return self.runs_per_s * self.run_mean_ms / 1000.0


def _read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    origin = f"Locust CSV '{path}'"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GateError(f"{origin} does not exist — {_RERUN} (did Locust run?)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GateError(f"{origin} cannot be read ({err}) — {_RERUN}") from None
    reader = csv.DictReader(text.splitlines())
    columns = reader.fieldnames or []
    missing = [name for name in required if name not in columns]
    if missing:
        raise GateError(f"{origin} is not a Locust CSV (no column {missing[0]!r}) — {_RERUN}")
    rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise GateError(f"{origin} line {number} has the wrong number of fields — {_RERUN}")
    return rows


def _number(path: Path, row: Mapping[str, str], column: str, *, na: bool = False) -> float | None:
    text = row[column].strip()
    if na and text == "N/A":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise GateError(
            f"Locust CSV '{path}': {column!r} of {row['Type']} {row['Name']!r} is {text!r}; "
            f"expected a non-negative number — {_RERUN}"
        )
    return value


def _row_stats(path: Path, row: Mapping[str, str]) -> RowStats:
    def num(column: str) -> float:
        value = _number(path, row, column)
        assert value is not None  # only `na=True` gives None
        return value

    count, failures = num("Request Count"), num("Failure Count")
    if not count.is_integer() or not failures.is_integer() or failures > count:
        raise GateError(
            f"Locust CSV '{path}': {row['Type']} {row['Name']!r} has {row['Failure Count']} "
            f"failures of {row['Request Count']} requests — {_RERUN}"
        )
    return RowStats(
        count=int(count),
        failures=int(failures),
        mean_ms=num("Average Response Time"),
        max_ms=num("Max Response Time"),
        mean_size=num("Average Content Size"),
        per_s=num("Requests/s"),
        p50_ms=_number(path, row, "50%", na=True),
        p95_ms=_number(path, row, "95%", na=True),
        p99_ms=_number(path, row, "99%", na=True),
    )


def _reason(error: str) -> str:
    # Locust stores an exception as its repr; the locustfile's RunFailure text is the reason.
    error = " ".join(error.split())
    match = _RUN_FAILURE.fullmatch(error)
    return match.group(2) if match else error


def _failure_reasons(path: Path) -> tuple[tuple[str, int], ...]:
    """Reasons of failed runs, most frequent first (Locust writes the file even when empty)."""
    if not path.exists():
        return ()
    reasons: list[tuple[str, int]] = []
    for row in _read_csv(path, ("Method", "Name", "Error", "Occurrences")):
        if row["Method"] == "SSE" and row["Name"].startswith("run "):
            try:
                occurrences = int(row["Occurrences"])
            except ValueError:
                raise GateError(
                    f"Locust CSV '{path}': Occurrences {row['Occurrences']!r} is not a count "
                    f"— {_RERUN}"
                ) from None
            reasons.append((_reason(row["Error"]), occurrences))
    return tuple(sorted(reasons, key=lambda item: (-item[1], item[0])))


def read_locust_stats(prefix: str | os.PathLike[str]) -> LoadStats:
    """Read `<prefix>_stats.csv` (and `<prefix>_failures.csv` if present) as Locust writes them."""
    base = Path(prefix)
    path = base.with_name(f"{base.name}_stats.csv")
    runs: list[RowStats] = []
    events = first_event = None
    good_runs = 0
    over: list[tuple[str, int]] = []
    for row in _read_csv(path, _REQUIRED_COLUMNS):
        if row["Type"] != "SSE":
            continue
        name = row["Name"]
        if name == "event_latency":
            events = _row_stats(path, row)
        elif name == "time_to_first_event":
            first_event = _row_stats(path, row)
        elif name.startswith("run "):
            runs.append(_row_stats(path, row))
        elif name == "good_run":
            good_runs = _row_stats(path, row).count
        elif name.startswith("over_budget "):
            over.append((name.removeprefix("over_budget "), _row_stats(path, row).count))
    total = sum(r.count for r in runs)
    if total == 0:
        raise GateError(
            f"Locust CSV '{path}' records no finished SSE run, so there is no error rate to "
            f"judge — raise --duration above the run length or check .perf/load/locust.log"
        )
    return LoadStats(
        runs=total,
        failed_runs=sum(r.failures for r in runs),
        runs_per_s=sum(r.per_s for r in runs),
        run_mean_ms=sum(r.mean_ms * r.count for r in runs) / total,
        bytes_received=sum(r.mean_size * r.count for r in runs),
        events=events,
        first_event=first_event,
        failure_reasons=_failure_reasons(base.with_name(f"{base.name}_failures.csv")),
        good_runs=_good_runs(path, good_runs, total),
        over_budget=tuple(sorted(over, key=lambda item: (-item[1], item[0]))),
    )


def _good_runs(path: Path, good: int, runs: int) -> int:
    if good > runs:
        raise GateError(f"Locust CSV '{path}': {good} good runs of {runs} runs — {_RERUN}")
    return good


# --- verdict --------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 -- an outcome, not a password
    BREACH = "breach"


@dataclass(frozen=True)
class BudgetRow:
    """One row of the compliance table. Limits are inclusive, as in `gate.budgets`."""

    budget: str
    label: str
    kind: Literal["max", "min"]
    unit: str
    target: float
    actual: float | None  # None: nothing was measured (no event reached the client)

    @property
    def margin(self) -> float | None:
        """Headroom in `unit`: positive within the budget, negative in breach."""
        if self.actual is None:
            return None
        return self.target - self.actual if self.kind == "max" else self.actual - self.target

    @property
    def passed(self) -> bool:
        # Not measured is not a pass: the load test exists to measure these figures.
        return self.margin is not None and self.margin >= 0


@dataclass(frozen=True)
class LoadVerdict:
    rows: tuple[BudgetRow, ...]
    stats: LoadStats
    context: Mapping[str, object] = field(default_factory=dict)
    #: The per-run budgets goodput held each run to (`LoadBudgets.per_run`).
    per_run: Mapping[str, float] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        return Outcome.PASS if all(row.passed for row in self.rows) else Outcome.BREACH

    @property
    def exit_code(self) -> int:
        return 0 if self.outcome is Outcome.PASS else 1

    @property
    def headline(self) -> str:
        parts = "; ".join(_sentence(row) for row in self.rows)
        stats = self.stats
        goodput = f"goodput {stats.goodput_ratio * 100:.1f} % ({stats.goodput_per_s:,.2f} runs/s)"
        if self.outcome is Outcome.PASS:
            return f"PASS: all {len(self.rows)} load budgets met — {parts}; {goodput}"
        broken = sum(not row.passed for row in self.rows)
        return f"BREACH: {broken} of {len(self.rows)} load budgets breached — {parts}; {goodput}"


def check_load(
    stats: LoadStats, budgets: LoadBudgets, context: Mapping[str, object] | None = None
) -> LoadVerdict:
    """Compare one run's stats with the budgets."""
    events = stats.events
    rows = (
        BudgetRow(
            "latency_p95_ms",
            "event latency, p95",
            "max",
            "ms",
            budgets.latency_p95_ms,
            events.p95_ms if events else None,
        ),
        BudgetRow(
            "error_rate_max",
            "error rate (failed runs)",
            "max",
            "",
            budgets.error_rate_max,
            stats.error_rate,
        ),
        BudgetRow(
            "throughput_events_per_s_min",
            "throughput",
            "min",
            "events/s",
            budgets.throughput_events_per_s_min,
            events.per_s if events else 0.0,
        ),
    )
    return LoadVerdict(
        rows=rows, stats=stats, context=dict(context or {}), per_run=dict(budgets.per_run)
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "not measured"
    if unit == "":
        return f"{value * 100:.2f} %"
    return f"{value:,.0f} {unit}" if value >= 100 or value.is_integer() else f"{value:.1f} {unit}"


def _sentence(row: BudgetRow) -> str:
    if row.actual is None:
        return f"{row.label} not measured"
    ok = row.passed
    sign = ("≤" if ok else ">") if row.kind == "max" else ("≥" if ok else "<")
    return f"{row.label} {_fmt(row.actual, row.unit)} {sign} {_fmt(row.target, row.unit)}"


def _margin(row: BudgetRow) -> str:
    return margin_text(row.kind, row.target, row.actual)


def _percentiles(row: RowStats | None) -> str:
    if row is None:
        return "not measured"
    values = (row.p50_ms, row.p95_ms, row.p99_ms, row.max_ms)
    return " / ".join("N/A" if v is None else f"{v:,.0f}" for v in values) + " ms"


def render_markdown(verdict: LoadVerdict) -> str:
    """The verdict as Markdown: the one-line headline first, then the compliance table."""
    stats = verdict.stats
    lines = [
        f"**{verdict.headline}**",
        "",
        "| budget | target | actual | margin | result |",
        "|---|---|---|---|---|",
    ]
    for row in verdict.rows:
        limit = "≤" if row.kind == "max" else "≥"
        result = "pass" if row.passed else ("not measured" if row.actual is None else "FAIL")
        lines.append(
            f"| {row.label} (`{row.budget}`) | {limit} {_fmt(row.target, row.unit)} "
            f"| {_fmt(row.actual, row.unit)} | {_margin(row)} | {result} |"
        )
    events = stats.events
    lines += [
        "",
        "| measurement | value |",
        "|---|---|",
        f"| runs | {stats.runs:,} ({stats.failed_runs:,} failed) |",
        f"| goodput (good runs: RUN_FINISHED, ordering rules kept, {_per_run(verdict)}) "
        f"| {stats.goodput_per_s:,.2f} good runs/s, {stats.good_runs:,} of {stats.runs:,} "
        f"runs ({stats.goodput_ratio * 100:.1f} %) |",
        f"| events received | {events.count if events else 0:,} |",
        f"| event latency p50 / p95 / p99 / max | {_percentiles(events)} |",
        f"| time to first event p50 / p95 / p99 / max | {_percentiles(stats.first_event)} |",
        f"| run duration, mean | {stats.run_mean_ms / 1000:,.2f} s |",
        f"| bytes received | {stats.bytes_received:,.0f} |",
        f"| concurrent streams, mean (runs/s x mean run duration) "
        f"| {stats.concurrent_streams:,.1f} |",
    ]
    lines += [f"| {key} | {value} |" for key, value in verdict.context.items()]
    if stats.over_budget:
        lines += ["", "Runs that ended well but missed a per-run budget:", ""]
        lines += [f"- {count:,} x `{budget}`" for budget, count in stats.over_budget]
    if stats.failure_reasons:
        lines += ["", "Failed runs by reason:", ""]
        lines += [f"- {count:,} x {reason}" for reason, count in stats.failure_reasons[:10]]
    lines += [
        "",
        "Latency is the receive time minus the event's `timestamp` (one clock, whole ms); "
        "percentiles are Locust's, merged over all workers. A good run ended in RUN_FINISHED, "
        "kept the AG-UI ordering rules and a framing `@ag-ui/client` reads, and met every "
        "per-run budget on its own figures (a figure it did not measure is not met). "
        "`latency.svg` draws both distributions against the p95 budget on a log axis.",
    ]
    return "\n".join(lines) + "\n"


def _per_run(verdict: LoadVerdict) -> str:
    if not verdict.per_run:
        return "no per-run budget set"
    return "each run within " + ", ".join(
        f"`{key}` ≤ {value:g}" for key, value in verdict.per_run.items()
    )


def latency_series(verdict: LoadVerdict) -> list[LatencySeries]:
    """The chart's rows: event latency (held to the p95 budget) and time to first event."""
    budget = next(row.target for row in verdict.rows if row.budget == "latency_p95_ms")
    series = []
    for name, stats, limits in (
        ("event latency", verdict.stats.events, {"p95": budget}),
        ("time to first event", verdict.stats.first_event, {}),
    ):
        if stats is None:
            continue
        # Locust writes N/A for a percentile it has no samples for: that dot is left out.
        percentiles = (("p50", stats.p50_ms), ("p95", stats.p95_ms), ("p99", stats.p99_ms))
        values = {"mean": stats.mean_ms, "max": stats.max_ms}
        values |= {label: value for label, value in percentiles if value is not None}
        series.append(LatencySeries(name, values, limits))
    return series


def verdict_to_json(verdict: LoadVerdict) -> dict[str, object]:
    return {
        "outcome": str(verdict.outcome),
        "headline": verdict.headline,
        "budgets": [
            {**asdict(row), "margin": row.margin, "passed": row.passed} for row in verdict.rows
        ],
        "stats": {
            **asdict(verdict.stats),
            "failure_reasons": [list(pair) for pair in verdict.stats.failure_reasons],
            "over_budget": [list(pair) for pair in verdict.stats.over_budget],
            "error_rate": verdict.stats.error_rate,
            "concurrent_streams": verdict.stats.concurrent_streams,
            "goodput_ratio": verdict.stats.goodput_ratio,
            "goodput_per_s": verdict.stats.goodput_per_s,
        },
        "per_run_budgets": dict(verdict.per_run),
        "context": dict(verdict.context),
    }


def write_verdict(verdict: LoadVerdict, out_dir: str | os.PathLike[str]) -> str:
    """Write `verdict.md`, `verdict.json` and `latency.svg` (when an event or a first event
    was measured) into `out_dir`; return the Markdown."""
    out = Path(out_dir)
    markdown = render_markdown(verdict)
    chart = latency_chart(
        latency_series(verdict),
        chart_id="agui-perf-load-latency",
        title="Load test latency against its budget (log scale)",
    )
    if chart is not None:
        atomic_write_text(out / "latency.svg", chart)
    atomic_write_text(out / "verdict.md", markdown)
    atomic_write_text(out / "verdict.json", dump_json(verdict_to_json(verdict)))
    return markdown
