"""The trend section: each benchmark and memory scenario across the baseline's git history.

Built from a `gate.history.History` (the versions of the baseline file, oldest first, and this
run last) into the two forms the report needs:

- `trend_charts`: one pygal line chart per metric for `report.html` (time per call, peak
  memory, allocations, instructions per call). Rows of one metric differ by orders of
  magnitude (a 700 ns encode beside a 90 ms stream), so each line is drawn relative to its
  own first point, and the tooltip of each dot gives the value itself, the commit and its
  subject;
- `trend_tables`: a compact table per metric for the Markdown (a unicode sparkline per row,
  its oldest and current value and the change within the current environment), which GitHub
  shows where it strips every chart.

A change of the environment fingerprint between two points (another CPU, Python build or
package version) is marked in both, with `ENVIRONMENT_MARK` in a sparkline and † after the
commit in a chart: what lies on either side was measured elsewhere and is not comparable,
timings least of all. For the same reason the "change" column compares the current run only
with points of its own environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agui_perf.gate.report.charts import Chart
from agui_perf.gate.report.markdown import (
    DASH,
    Row,
    Table,
    format_bytes,
    format_count,
    format_duration,
    format_relative,
)
from agui_perf.gate.report.svg import config as _config
from agui_perf.gate.report.svg import pygal_module as _pygal
from agui_perf.gate.report.svg import render as _render
from agui_perf.gate.store.history import Metric

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from agui_perf.gate.store.history import History, HistoryPoint

__all__ = [
    "ENVIRONMENT_MARK",
    "MISSING_MARK",
    "TrendGroup",
    "points_table",
    "sparkline",
    "trend_charts",
    "trend_lead",
    "trend_notes",
    "trend_tables",
]

#: Eight levels, lowest first (U+2581..U+2588).
SPARKS = "▁▂▃▄▅▆▇█"
#: Between two points whose environment fingerprints differ.
ENVIRONMENT_MARK = "┊"
#: A point where the row did not exist (added later, or removed).
MISSING_MARK = "·"
#: After a chart's commit label whose environment differs from the point before.
_CHART_MARK = " †"
#: Enough colours that neighbouring lines of a chart rarely share one.
_COLOURS = (
    "#0969da",
    "#bf3989",
    "#1a7f37",
    "#bc4c00",
    "#8250df",
    "#1b7c83",
    "#6e7781",
    "#cf222e",
    "#9a6700",
    "#0550ae",
    "#953800",
    "#116329",
    "#6639ba",
    "#99286e",
)


@dataclass(frozen=True)
class TrendGroup:
    """One metric's chart and table."""

    metric: Metric
    title: str
    row: str  # the table's first header
    fmt: Callable[[float], str]
    #: The smallest relative spread drawn at full height: the change the gate acts on (the
    #: minimum effect, the memory tolerance, the counts' 1 %), so that noise far below it
    #: stays a ripple instead of filling a sparkline or a chart.
    span: float


def _bytes(value: float) -> str:
    return format_bytes(value)


def _count(value: float) -> str:
    return format_count(value)


def _duration(value: float) -> str:
    return format_duration(value)


GROUPS: tuple[TrendGroup, ...] = (
    TrendGroup(Metric.TIME, "Time per call", "Benchmark", _duration, span=0.10),
    TrendGroup(Metric.PEAK, "Peak memory", "Scenario", _bytes, span=0.02),
    TrendGroup(Metric.ALLOCATIONS, "Allocations", "Scenario", _count, span=0.02),
    TrendGroup(Metric.INSTRUCTIONS, "Instructions per call", "Benchmark", _count, span=0.01),
)


def sparkline(
    values: Sequence[float | None], changes: Sequence[bool] = (), *, span: float = 0.0
) -> str:
    """`values` as one character each, scaled from the row's lowest to its highest value, or
    to `span` above the lowest (a fraction) when they lie closer together; `changes[i]` puts
    `ENVIRONMENT_MARK` before point i."""
    present = [v for v in values if v is not None]
    low, high = (min(present), max(present)) if present else (0.0, 0.0)
    high = max(high, low + abs(low) * span)
    chars: list[str] = []
    for i, value in enumerate(values):
        if i < len(changes) and changes[i] and chars:
            chars.append(ENVIRONMENT_MARK)
        if value is None:
            chars.append(MISSING_MARK)
        elif high == low:
            chars.append(SPARKS[len(SPARKS) // 2 - 1])  # a flat row sits in the middle
        else:
            level = round((value - low) / (high - low) * (len(SPARKS) - 1))
            chars.append(SPARKS[level])
    return "".join(chars)


def _segment_start(changes: Sequence[bool]) -> int:
    """The first point of the last stretch measured in one environment."""
    return max((i for i, changed in enumerate(changes) if changed), default=0)


def _change(series: Sequence[float | None], start: int) -> str:
    """The last value against the first one from `start` on (one environment), as a change."""
    if len(series) < 2 or series[-1] is None:
        return DASH
    reference = next((v for v in series[start:-1] if v is not None), None)
    if reference is None or reference <= 0:
        return DASH
    return format_relative(series[-1] / reference - 1.0)


def _first(series: Sequence[float | None]) -> float | None:
    return next((v for v in series if v is not None), None)


def trend_tables(history: History) -> list[tuple[str, Table]]:
    """Per metric with any row: (title, table of name, sparkline, oldest, current, change)."""
    changes = history.environment_changes()
    start = _segment_start(changes)
    tables: list[tuple[str, Table]] = []
    for group in GROUPS:
        names = history.names(group.metric)
        if not names:
            continue
        rows = []
        for name in names:
            series = history.series(group.metric, name)
            first, last = _first(series), series[-1]
            rows.append(
                Row(
                    (
                        name,
                        sparkline(series, changes, span=group.span),
                        DASH if first is None else group.fmt(first),
                        DASH if last is None else group.fmt(last),
                        _change(series, start),
                    )
                )
            )
        headers = (group.row, "Trend (oldest → newest)", "Oldest", "Newest", "Change ¹")
        tables.append((group.title, Table(headers=headers, rows=tuple(rows), has_state=False)))
    return tables


def _point_list(points: Sequence[HistoryPoint]) -> str:
    return ", ".join(p.label + (f" ({p.date[:10]})" if p.date else "") for p in points)


def trend_lead(history: History) -> str:
    """What the trend shows: which commits, in which order, and how to read its marks."""
    points = history.readable
    commits = [p for p in points if not p.current]
    has_current = any(p.current for p in points)
    if not commits:
        return (
            f"No earlier version of {history.baseline_path} could be read, so there is no "
            "trend yet: each commit that changes it adds a point."
        )
    text = (
        f"Each row at the {len(commits)} commit{'' if len(commits) == 1 else 's'} that changed "
        f"{history.baseline_path}"
        + (" and in this run" if has_current else "")
        + f", oldest first: {_point_list(points)}."
    )
    text += (
        " ¹ Change: the newest value against the oldest one measured in the same environment "
        "(the same fingerprint: CPU, Python build, package versions)."
    )
    if any(history.environment_changes()):
        text += (
            f" {ENVIRONMENT_MARK} (in a chart: † after the commit) marks where the environment "
            "changed: the values on either side were measured elsewhere and are not "
            "comparable, timings least of all."
        )
    return text


def trend_notes(history: History) -> list[str]:
    """What limits the trend: the history's notes, then every version that was skipped."""
    notes = list(history.notes)
    notes += [f"skipped {p.label} ({p.date[:10]}): {p.skipped}" for p in history.skipped]
    return notes


def points_table(history: History) -> Table:
    """The points by name: commit, date, subject, environment, and what is special about one."""
    changes = dict(
        zip((id(p) for p in history.readable), history.environment_changes(), strict=True)
    )
    rows = []
    for point in history.points:
        env = point.environment
        where = f"{env.cpu_model}, {env.implementation} {env.python_version}" if env else DASH
        marks = []
        if changes.get(id(point)):
            marks.append("environment changed")
        if point.boundary:
            marks.append("shallow clone boundary")
        if point.skipped is not None:
            marks.append(f"skipped: {point.skipped}")
        rows.append(
            Row(
                (
                    point.label,
                    point.date[:10] or DASH,
                    point.subject or DASH,
                    where,
                    "; ".join(marks) or DASH,
                )
            )
        )
    return Table(
        headers=("Point", "Date", "Commit", "Environment", "Note"),
        rows=tuple(rows),
        has_state=False,
    )


def _chart(history: History, group: TrendGroup) -> Chart | None:
    names = history.names(group.metric)
    points = history.readable
    if not names or len(points) < 2:
        return None
    changes = history.environment_changes()
    labels = [
        p.label + (_CHART_MARK if changed else "")
        for p, changed in zip(points, changes, strict=True)
    ]

    lines: dict[str, list[Any]] = {}
    drawn = [0.0]
    for name in names:
        series = history.series(group.metric, name)
        first = _first(series)
        values: list[Any] = []
        for point, value in zip(points, series, strict=True):
            if value is None or first is None or first <= 0:
                values.append(None)
                continue
            relative = (value / first - 1.0) * 100
            drawn.append(relative)
            values.append(
                {
                    "value": relative,
                    "tooltip": f"{name} at {point.label}: {group.fmt(value)} "
                    f"({relative:+.1f} % against its first point) — {point.subject}",
                }
            )
        lines[name] = values

    def add(chart: Any) -> None:
        for name, values in lines.items():
            chart.add(name, values)

    # At least ±span/2 around 0: pygal would stretch a 0.01 % ripple to the full height.
    floor = group.span * 100 / 2

    count = len(names)
    config = _config(
        f"agui-perf-trend-{group.metric.value}",
        f"{group.title}: change against each row's first point",
        [_COLOURS[i % len(_COLOURS)] for i in range(count)],
        height=450 + 22 * math.ceil(count / 2),
        # Wider than the other charts: two legend columns of full benchmark names.
        width=1120,
        x_labels=labels,
        x_label_rotation=30,
        legend_at_bottom_columns=2,
        value_formatter=lambda v: f"{v:+.1f} %",
        range=(min(min(drawn), -floor), max(max(drawn), floor)),
        allow_interruptions=True,
        dots_size=3,
        show_x_guides=False,
    )
    svg = _render(_pygal().Line, config, add)
    return Chart(f"trend-{group.metric.value}.svg", f"Trend: {group.title.lower()}", svg)


def trend_charts(history: History) -> list[Chart]:
    """One chart per metric with rows, when there are at least two points to draw."""
    charts = []
    for group in GROUPS:
        chart = _chart(history, group)
        if chart is not None:
            charts.append(chart)
    return charts
