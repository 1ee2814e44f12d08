"""The report's charts as self-contained, deterministic SVG (pygal).

- `change_chart`: relative change per benchmark (the Hodges-Lehmann estimate) with the bounds
  the decision used, the threshold band (±min_effect, per benchmark) and one colour per state.
- `memory_charts`: peak bytes and allocation count per memray scenario, baseline beside current.
- `latency_chart`: latency mean/p50/p95/p99 per benchmark against the budget lines.

pygal's defaults would make the report neither self-contained nor reproducible, so every chart:
- sets `js=[]`: the default loads pygal-tooltips.min.js from kozea.github.io; the inline config
  script pygal still writes is removed too (a report runs no script). Each value carries a
  `tooltip` (an SVG `<title>`), which browsers show natively without any script;
- uses a fixed chart id instead of pygal's random `uuid4()` (the id prefixes the chart's CSS so
  that several charts inlined in one HTML page keep their own colours);
- drops pygal's comments, which hold today's date and links to pygal.org;
- uses system font stacks only (no Google Fonts stylesheet).
Chart text is XML-escaped by the serializer, so names from data cannot inject markup.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agui_perf.gate.budgets import BUDGETS
from agui_perf.gate.compare import State
from agui_perf.gate.report.markdown import (
    format_bytes,
    format_change,
    format_count,
    format_interval,
    format_relative,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from agui_perf.gate.budgets import BudgetCheck
    from agui_perf.gate.compare import BenchmarkComparison, MemoryComparison
    from agui_perf.gate.results import Results
    from agui_perf.gate.verdict import Verdict

__all__ = [
    "CHART_FILES",
    "LATENCY_FIGURES",
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

FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
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
BUDGET_COLOUR = "#cf222e"
SERIES_COLOURS = ("#0969da", "#bf3989", "#1a7f37", "#bc4c00", "#8250df", "#1b7c83", "#6e7781")
# (label, extra_info key) in the order drawn: the keys tests/benchmarks/_sse.py's
# latency_summary writes (its median is the p50).
LATENCY_FIGURES: tuple[tuple[str, str], ...] = (
    ("mean", "latency_mean_ms"),
    ("p50", "latency_median_ms"),
    ("p95", "latency_p95_ms"),
    ("p99", "latency_p99_ms"),
)
# Every file name a chart can have, in report order (write.py removes those a run has no data for).
CHART_FILES = ("change.svg", "memory-peak.svg", "memory-allocations.svg", "latency.svg")
_SVG_NS = "http://www.w3.org/2000/svg"
MIB = 1024 * 1024  # the memory charts use binary units, like the tables


@dataclass(frozen=True)
class Chart:
    """One rendered chart: `filename` in the report directory, its title, the SVG text."""

    filename: str
    title: str
    svg: str


@dataclass(frozen=True)
class LatencySeries:
    """One benchmark's latency figures in milliseconds, keyed by `LATENCY_FIGURES` label."""

    name: str
    values: Mapping[str, float]


def _pygal() -> Any:
    """Import pygal, and undo the one global side effect of importing it.

    pygal appends a legacy finder to sys.meta_path (for its map plugins, unused here) that has
    find_module but no find_spec: from then on every failed import in the process emits an
    ImportWarning, an error under `-W error` wherever a library probes for an optional module
    (numpy does on import). Imported lazily, so that importing this module changes nothing.
    """
    import pygal

    sys.meta_path[:] = [
        finder for finder in sys.meta_path if type(finder).__module__.split(".")[0] != "pygal"
    ]
    return pygal


def _style(colours: Sequence[str]) -> Any:
    return _pygal().style.Style(
        background="white",
        plot_background="white",
        foreground="#1f2328",
        foreground_strong="#1f2328",
        foreground_subtle="#d0d7de",
        opacity="0.9",
        opacity_hover="1",
        transition="0ms",
        colors=tuple(colours),
        font_family=FONT,
        label_font_size=13,
        major_label_font_size=13,
        value_font_size=12,
        tooltip_font_size=12,
        title_font_size=16,
        legend_font_size=13,
        # Light, solid guides: dashed lines are the thresholds and budgets.
        guide_stroke_color="#eaeef2",
        major_guide_stroke_color="#d0d7de",
        guide_stroke_dasharray="0",
        major_guide_stroke_dasharray="0",
    )


def _clean(root: Any) -> Any:
    """pygal xml filter: drop comments (date, URLs) and every <script> (nothing runs)."""
    for parent in list(root.iter()):
        for child in list(parent):
            # Comments and processing instructions have a factory function as their tag, in
            # xml.etree and in lxml alike (pygal uses lxml when it is installed).
            if not isinstance(child.tag, str) or child.tag in ("script", f"{{{_SVG_NS}}}script"):
                parent.remove(child)
    return root


def _config(chart_id: str, title: str, colours: Sequence[str], **options: Any) -> dict[str, Any]:
    return {
        "title": title,
        "style": _style(colours),
        "js": [],
        "disable_xml_declaration": True,  # the SVG is inlined in report.html as-is
        "truncate_label": -1,  # a cut benchmark name is a different benchmark
        "truncate_legend": -1,
        "legend_at_bottom": True,
        "margin": 16,
        "_id": chart_id,
        **options,
    }


def _render(kind: Callable[..., Any], config: dict[str, Any], add: Callable[[Any], None]) -> str:
    chart_id = config.pop("_id")
    chart = kind(**config)
    # pygal draws a random uuid4 per chart; a fixed id makes the output reproducible.
    chart.uuid = chart_id
    chart.add_xml_filter(_clean)
    add(chart)
    svg = chart.render(is_unicode=True)
    if not isinstance(svg, str):  # pragma: no cover - is_unicode/disable_xml_declaration
        svg = svg.decode("utf-8")
    return str(svg)


def _point(x: float, y: float, tooltip: str, radius: float) -> dict[str, Any]:
    return {"value": (x, y), "tooltip": tooltip, "node": {"r": radius}}


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
        legend_at_bottom_columns=len(colours),
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
            lambda v: format_bytes(v * MIB),
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
            max_scale=6,
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
        figure = BUDGETS.get(check.budget)
        if figure is None or check.subject is None or check.actual is None:
            continue
        label = keyed.get(figure.extra_info_key)
        if label is not None:
            found.setdefault(check.subject, {})[label] = check.actual
    return [LatencySeries(name, values) for name, values in sorted(found.items())]


def latency_chart(
    series: Sequence[LatencySeries], budgets: Iterable[BudgetCheck] = ()
) -> Chart | None:
    """Latency mean/p50/p95/p99 in ms per benchmark (dots), the budgets as dashed red lines."""
    if not series:
        return None
    labels = [label for label, _ in LATENCY_FIGURES]
    keyed = {key: label for label, key in LATENCY_FIGURES}
    limits: dict[str, float] = {}
    for check in budgets:
        figure = BUDGETS.get(check.budget)
        label = keyed.get(figure.extra_info_key) if figure else None
        if label is not None and check.kind == "max":
            limits[label] = check.target
    width = 0.6
    step = width / max(len(series), 1)

    def add(chart: Any) -> None:
        for k, item in enumerate(series):
            offset = -width / 2 + step * (k + 0.5)
            values = [
                _point(
                    j + offset,
                    item.values[label],
                    f"{item.name} {label}: {item.values[label]:,.4g} ms",
                    6,
                )
                for j, label in enumerate(labels, start=1)
                if label in item.values
            ]
            chart.add(item.name, values, stroke=False)
        lines: list[Any] = []
        for j, label in enumerate(labels, start=1):
            if label in limits:
                tip = f"budget {label} ≤ {limits[label]:,.4g} ms"
                lines += [
                    _point(j - 0.45, limits[label], tip, 0),
                    _point(j + 0.45, limits[label], tip, 0),
                    None,
                ]
        if lines:
            chart.add("budget (max)", lines, stroke_style={"width": 3, "dasharray": "8, 5"})

    colours = [SERIES_COLOURS[k % len(SERIES_COLOURS)] for k in range(len(series))]
    config = _config(
        "agui-perf-latency",
        "Event latency against the budgets (ms)",
        [*colours, BUDGET_COLOUR],
        height=440,
        width=960,
        legend_at_bottom_columns=min(len(series) + 1, 4),
        x_labels=[{"label": label, "value": j} for j, label in enumerate(labels, start=1)],
        # Categories sit at 1..4, away from x = 0, where pygal draws its vertical axis line.
        xrange=(0.5, len(labels) + 0.5),
        include_x_axis=True,
        value_formatter=lambda v: f"{v:,.4g} ms",
        allow_interruptions=True,
        dots_size=0,
        show_x_guides=False,
    )
    return Chart("latency.svg", "Latency against the budgets", _render(_pygal().XY, config, add))


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
