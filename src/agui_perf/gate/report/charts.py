"""The report's charts as self-contained, deterministic SVG (pygal, set up by `svg`).

- `change_chart`: relative change per benchmark (the Hodges-Lehmann estimate) with the bounds
  the decision used, the threshold band (±min_effect, per benchmark) and one colour per state.
- `memory_charts`: peak bytes and allocation count per memray scenario, baseline beside current.
- `latency_chart`: each benchmark's latency distribution (mean, p50, p95, p99, max) against
  the budgets that hold it, on a log axis (`latency`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agui_perf.gate.decide.compare import State
from agui_perf.gate.report import latency
from agui_perf.gate.report.latency import LATENCY_FIGURES, LatencySeries
from agui_perf.gate.report.markdown import (
    format_bytes,
    format_change,
    format_count,
    format_interval,
    format_relative,
)
from agui_perf.gate.report.svg import config as _config
from agui_perf.gate.report.svg import point as _point
from agui_perf.gate.report.svg import pygal_module as _pygal
from agui_perf.gate.report.svg import render as _render

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from agui_perf.gate.decide.budgets import BudgetCheck
    from agui_perf.gate.decide.compare import BenchmarkComparison, MemoryComparison
    from agui_perf.gate.decide.verdict import Verdict
    from agui_perf.gate.store.results import Results

__all__ = [
    "CHART_FILES",
    "STATE_COLOURS",
    "Chart",
    "LatencySeries",
    "change_chart",
    "latency_chart",
    "latency_from_budgets",
    "latency_from_results",
    "memory_charts",
    "render_charts",
]

STATE_COLOURS: Mapping[State, str] = {
    State.REGRESSION: "#cf222e",
    State.IMPROVEMENT: "#1a7f37",
    State.SLOWER: "#bc4c00",
    State.FASTER: "#4ac26b",
    State.UNCHANGED: "#6e7781",
    State.INCONCLUSIVE: "#bf8700",
    State.NEW: "#0969da",
    State.REMOVED: "#8c959f",
}
THRESHOLD_COLOUR = "#8250df"
BASELINE_COLOUR = "#8c959f"
CURRENT_COLOUR = "#0969da"
# Every file name a chart can have, in report order (write.py removes those a run has no data for).
CHART_FILES = ("change.svg", "memory-peak.svg", "memory-allocations.svg", "latency.svg")
MIB = 1024 * 1024  # the memory charts use binary units, like the tables


@dataclass(frozen=True)
class Chart:
    """One rendered chart: `filename` in the report directory, its title, the SVG text."""

    filename: str
    title: str
    svg: str


def change_chart(benchmarks: Sequence[BenchmarkComparison]) -> Chart | None:
    """Relative change per benchmark: dot at the estimate, line between the decision's bounds.

    Benchmarks run top to bottom in name order (as in the tables). The dashed lines are each
    benchmark's own threshold: above +min_effect can be a regression, below
    1 / (1 + min_effect) - 1 an improvement (the exact bounds `compare` uses).
    """
    if not benchmarks:
        return None
    count = len(benchmarks)
    position = {b.name: count - 1 - i for i, b in enumerate(benchmarks)}
    states = [
        s for s in STATE_COLOURS if any(b.state is s and b.ratio is not None for b in benchmarks)
    ]

    def add(chart: Any) -> None:
        for state in states:
            values: list[Any] = []
            for bench in benchmarks:
                if bench.state is not state or bench.ratio is None:
                    continue
                y = position[bench.name]
                tip = (
                    f"{bench.name}: {format_change(bench.ratio)} "
                    f"(bounds {format_interval(bench.interval)}), {bench.state.value}"
                )
                centre = (bench.ratio - 1.0) * 100
                low, high = bench.interval or (bench.ratio, bench.ratio)
                values += [
                    _point((low - 1.0) * 100, y, tip, 0),
                    _point(centre, y, tip, 6),
                    _point((high - 1.0) * 100, y, tip, 0),
                    None,
                ]
            chart.add(state.value, values, stroke_style={"width": 3, "linecap": "round"})
        band: list[Any] = []
        for bench in benchmarks:
            y = position[bench.name]
            upper = bench.min_effect * 100
            lower = (1.0 / (1.0 + bench.min_effect) - 1.0) * 100
            tip = f"{bench.name}: threshold {format_relative(lower / 100)} / +{upper:g} %"
            for x in (lower, upper):
                band += [_point(x, y - 0.45, tip, 0), _point(x, y + 0.45, tip, 0), None]
        chart.add(
            "threshold (±min effect)",
            band,
            stroke_style={"width": 2.5, "dasharray": "7, 5"},
            show_dots=False,
        )

    colours = [STATE_COLOURS[s] for s in states] + [THRESHOLD_COLOUR]
    labels = []
    for bench in benchmarks:
        suffix = "" if bench.ratio is not None else f" ({bench.state.value}: not compared)"
        labels.append({"label": bench.name + suffix, "value": position[bench.name]})
    config = _config(
        "agui-perf-change",
        "Change of the time per benchmark, with the bounds the decision used",
        colours,
        height=max(320, 160 + 36 * count),
        width=960,
        y_labels=labels,
        range=(-0.6, count - 0.4),
        show_y_guides=False,
        # The legend spans only the plot, right of the names: four entries a line cut
        # "threshold (±min effect)" off at the chart's edge.
        legend_at_bottom_columns=min(len(colours), 3),
        x_value_formatter=lambda x: f"{x:+.0f} %" if round(x) else "0 %",
        x_title="change (current vs baseline); right = slower",
        allow_interruptions=True,
        dots_size=0,
    )
    svg = _render(_pygal().XY, config, add)
    return Chart("change.svg", "Relative change per benchmark", svg)


def _compact_count(value: float) -> str:
    """Axis labels: 120k rather than 120,000, which the narrow memory charts would clip."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _compact_mib(value: float) -> str:
    """Axis labels: "2 MiB" rather than "2.00 MiB", which ran into each other at this width."""
    return f"{value:.3g} MiB" if value else "0"


def memory_charts(memory: Sequence[MemoryComparison]) -> list[Chart]:
    """Peak memory and allocation count per scenario, baseline beside current."""
    if not memory:
        return []
    # pygal draws a horizontal bar chart's first label at the bottom; reversed, the chart reads
    # top to bottom in the tables' order.
    memory = list(reversed(memory))
    names = [m.scenario for m in memory]
    charts = []
    for filename, title, value_of, fmt, tip in (
        (
            "memory-peak.svg",
            "Peak memory per scenario (MiB)",
            lambda r: r.peak_bytes / MIB,
            _compact_mib,
            lambda v: format_bytes(v * MIB),
        ),
        (
            "memory-allocations.svg",
            "Allocations per scenario",
            lambda r: r.total_allocations,
            _compact_count,
            format_count,
        ),
    ):

        def add(
            chart: Any,
            value_of: Callable[[Any], float] = value_of,
            tip: Callable[[float], str] = tip,
        ) -> None:
            for side in ("baseline", "current"):
                values: list[Any] = []
                for mem in memory:
                    result = mem.baseline if side == "baseline" else mem.current
                    if result is None:
                        values.append(None)
                        continue
                    value = value_of(result)
                    values.append(
                        {"value": value, "tooltip": f"{mem.scenario}, {side}: {tip(value)}"}
                    )
                chart.add(side, values)

        config = _config(
            f"agui-perf-{filename.removesuffix('.svg')}",
            title,
            (BASELINE_COLOUR, CURRENT_COLOUR),
            # Drawn small: the report shows the two side by side, so the text stays legible.
            height=max(240, 130 + 50 * len(names)),
            width=560,
            x_labels=names,
            value_formatter=fmt,
            legend_at_bottom_columns=2,
            # At most five ticks: six labels of "1.00 MiB" filled the narrow axis edge to edge.
            max_scale=5,
            title_font_size=15,
        )
        charts.append(Chart(filename, title, _render(_pygal().HorizontalBar, config, add)))
    return charts


def latency_from_results(current: Results) -> list[LatencySeries]:
    """The latency figures each benchmark reports in `extra_info` (numbers only)."""
    series = []
    for name, bench in sorted(current.benchmarks.items()):
        values = {
            label: float(value)
            for label, key in LATENCY_FIGURES
            if isinstance(value := bench.extra_info.get(key), int | float) and math.isfinite(value)
        }
        if values:
            series.append(LatencySeries(name, values))
    return series


def latency_from_budgets(budgets: Iterable[BudgetCheck]) -> list[LatencySeries]:
    """Fallback without the current Results: the latency figures the budget matrix measured."""
    keyed = {key: label for label, key in LATENCY_FIGURES}
    found: dict[str, dict[str, float]] = {}
    for check in budgets:
        if check.subject is None or check.actual is None:
            continue
        label = keyed.get(check.figure)
        if label is not None:
            found.setdefault(check.subject, {})[label] = check.actual
    return [LatencySeries(name, values) for name, values in sorted(found.items())]


def latency_chart(
    series: Sequence[LatencySeries], budgets: Iterable[BudgetCheck] = ()
) -> Chart | None:
    """The latency distribution per benchmark against its budgets (`latency.latency_chart`)."""
    svg = latency.latency_chart(series, budgets)
    return None if svg is None else Chart("latency.svg", "Latency against the budgets", svg)


def render_charts(verdict: Verdict, current: Results | None = None) -> list[Chart]:
    """Every chart the verdict has data for, in report order.

    The latency figures live in the benchmarks' `extra_info`, which the verdict does not carry;
    pass the current `Results` to draw all four, otherwise the budget matrix's are used.
    """
    charts: list[Chart] = []
    change = change_chart(verdict.benchmarks)
    if change is not None:
        charts.append(change)
    charts += memory_charts(verdict.memory)
    series = latency_from_results(current) if current else latency_from_budgets(verdict.budgets)
    latency = latency_chart(series, verdict.budgets)
    if latency is not None:
        charts.append(latency)
    return charts
