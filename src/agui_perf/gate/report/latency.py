"""The latency chart: each row's latency distribution against its budgets, on a log axis.

The service benchmarks answer in a fraction of a millisecond and the budgets are hundreds of
milliseconds: on a linear axis every point sat on the zero line beside two budget lines, and
the chart said nothing. On a logarithmic axis every decade is as wide as the next, so 0.1 ms,
1 ms and a 300 ms budget all read, and the gap between a dot and its budget tick is the factor
the budget table prints ("× 480 under budget"), which the row's label repeats.

One row per benchmark of the gate (or per measured figure of the load test), top to bottom:
a grey line from p50 to max (the tail), dots at mean, p50, p95, p99 and max (one colour per
statistic), and where a budget limits one of them on that row a dashed tick in the same colour
at the target. Only rows a budget applies to get its tick, so an unbudgeted figure is not
drawn as if it were held to one.

pygal's XY chart makes both axes logarithmic or neither, so x is log10(ms) on a linear axis,
labelled in time units at each decade with unlabelled guides at 2x and 5x. A latency of 0 (the
load test measures whole milliseconds) cannot sit on a log axis: it is drawn at the axis's left
end and its tooltip says so.

Imports only `svg` and `budgets`, not the statistics, so that the load test (which installs
no scipy) draws the same chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agui_perf.gate.decide.budgets import factor_text
from agui_perf.gate.report.svg import config, point, pygal_module, render

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from agui_perf.gate.decide.budgets import BudgetCheck

__all__ = [
    "LATENCY_FIGURES",
    "LatencySeries",
    "format_ms",
    "latency_chart",
]

# (label, extra_info key) in the order drawn: the keys tests/benchmarks/_sse.py's
# latency_summary writes (its median is the p50).
LATENCY_FIGURES: tuple[tuple[str, str], ...] = (
    ("mean", "latency_mean_ms"),
    ("p50", "latency_median_ms"),
    ("p95", "latency_p95_ms"),
    ("p99", "latency_p99_ms"),
    ("max", "latency_max_ms"),
)
FIGURE_COLOURS: Mapping[str, str] = {
    "mean": "#1a7f37",
    "p50": "#0969da",
    "p95": "#bc4c00",
    "p99": "#8250df",
    "max": "#1f2328",
}
TAIL_COLOUR = "#afb8c1"
_DOT_RADIUS = 5
_LABEL_FONT_PX = 13  # svg.style's label_font_size
_LABEL_ROOM_PX = 360  # row labels up to this wide leave the plot 550 px of a 960 px chart


@dataclass(frozen=True)
class LatencySeries:
    """One row: latency figures in ms by `LATENCY_FIGURES` label, and the budgets (maxima, in
    ms, by the same labels) that hold this row."""

    name: str
    values: Mapping[str, float]
    limits: Mapping[str, float] = field(default_factory=dict)


def format_ms(ms: float) -> str:
    """A latency in the unit that reads best: 85.3 µs, 0.63 ms → 630 µs, 12.5 ms, 1.2 s."""
    if ms <= 0:
        return "0 ms"
    for scale, unit in ((1e-3, "µs"), (1.0, "ms")):
        if ms < scale * 999.5:
            return f"{_sig3(ms / scale)} {unit}"
    return f"{_sig3(ms / 1000)} s"


def _sig3(value: float) -> str:
    return f"{float(f'{value:.3g}'):g}"


def _limits(
    series: Sequence[LatencySeries], budgets: Iterable[BudgetCheck]
) -> list[dict[str, float]]:
    """Each row's budgets: its own `limits` and the maxima of the checks made on it."""
    keyed = {key: label for label, key in LATENCY_FIGURES}
    by_subject: dict[str, dict[str, float]] = {}
    for check in budgets:
        # By the figure the check limits, so a budget on `latency_p99_ms_max` draws its tick too.
        label = keyed.get(check.figure)
        if label is not None and check.kind == "max" and check.subject is not None:
            by_subject.setdefault(check.subject, {})[label] = check.target
    return [{**by_subject.get(s.name, {}), **s.limits} for s in series]


def _label(item: LatencySeries, limits: Mapping[str, float]) -> str:
    """The row's name and its tightest budget as a factor."""
    factors = [
        (limits[label] / item.values[label] if item.values[label] > 0 else math.inf, label)
        for label in limits
        if label in item.values
    ]
    if not factors:
        return item.name
    times, label = min(factors)
    if times < 1:
        return f"{item.name} — {label} × {factor_text(1 / times)} over budget"
    if math.isinf(times):
        return f"{item.name} — {label} 0, under budget"
    return f"{item.name} — {label} × {factor_text(times)} under budget"


def _decades(series: Sequence[LatencySeries], limits: Sequence[Mapping[str, float]]) -> range:
    values = [v for s in series for v in s.values.values()]
    values += [v for row in limits for v in row.values()]
    positive = [v for v in values if v > 0] or [1.0]
    low = math.floor(math.log10(min(positive)))
    high = math.ceil(math.log10(max(positive)))
    # A dot exactly on a decade sits on the chart's edge; one more decade keeps it inside.
    if high <= low + 1 or math.log10(max(positive)) == high:
        high += 1
    return range(low, high + 1)


def latency_chart(
    series: Sequence[LatencySeries],
    budgets: Iterable[BudgetCheck] = (),
    *,
    chart_id: str = "agui-perf-latency",
    title: str = "Event latency per benchmark against its budgets (log scale)",
) -> str | None:
    """The chart's SVG, or None without a row. `budgets` add ticks to the rows they checked."""
    if not series:
        return None
    limits = _limits(series, budgets)
    decades = _decades(series, limits)
    floor = decades[0]
    count = len(series)
    position = {i: count - 1 - i for i in range(count)}
    labels = [label for label, _ in LATENCY_FIGURES]
    budgeted = [label for label in labels if any(label in row for row in limits)]

    def x_of(ms: float) -> float:
        # Counted from the left end: pygal draws its vertical axis line at x = 0, which would
        # otherwise stand at 1 ms like a mark of its own.
        return (math.log10(ms) if ms > 0 else floor) - floor

    def add(chart: Any) -> None:
        tails: list[Any] = []
        for i, item in enumerate(series):
            ends = [item.values[k] for k in ("p50", "max") if k in item.values]
            if len(ends) == 2:
                tails += [point(x_of(e), position[i], "", 0) for e in ends] + [None]
        chart.add("p50 to max", tails, stroke_style={"width": 4, "linecap": "round"})
        for label in labels:
            dots: list[Any] = []
            for i, item in enumerate(series):
                if label in item.values:
                    value = item.values[label]
                    where = "" if value > 0 else " (drawn at the axis's left end)"
                    tip = f"{item.name} {label}: {format_ms(value)}{where}"
                    dots.append(point(x_of(value), position[i], tip, _DOT_RADIUS))
            chart.add(label, dots, stroke=False)
        for label in budgeted:
            ticks: list[Any] = []
            for i in range(count):
                if label not in limits[i]:
                    continue
                # A line without dots: pygal gives it no tooltip, the row's label says it.
                x, y = x_of(limits[i][label]), position[i]
                ticks += [point(x, y - 0.4, "", 0), point(x, y + 0.4, "", 0)]
                ticks.append(None)
            targets = {row[label] for row in limits if label in row}
            chart.add(
                # The one target in the legend ("p95 budget ≤ 300 ms") when all rows share it.
                f"{label} budget ≤ {format_ms(targets.pop())}"
                if len(targets) == 1
                else f"{label} budgets",
                ticks,
                stroke_style={"width": 3, "dasharray": "6, 4"},
                show_dots=False,
            )

    colours = [TAIL_COLOUR, *(FIGURE_COLOURS[label] for label in labels)]
    colours += [FIGURE_COLOURS[label] for label in budgeted]
    x_labels: list[dict[str, Any]] = []
    for decade in decades:
        x_labels.append({"label": format_ms(10.0**decade), "value": decade - floor})
        if decade != decades[-1]:
            x_labels += [{"label": "", "value": decade - floor + math.log10(m)} for m in (2, 5)]
    row_labels = [_label(item, limits[i]) for i, item in enumerate(series)]
    # The legend spans only the plot, right of the row labels: three entries a line fit, but
    # not beside "mean budget ≤ 200 ms", which ran into the next entry (seen in Chromium).
    columns = 2 if budgeted else 3
    # Long row labels would squeeze the plot and its legend, so the chart grows instead; 0.6 em
    # a character is pygal's own estimate of text width.
    label_px = 0.6 * _LABEL_FONT_PX * max(len(label) for label in row_labels)
    options = config(
        chart_id,
        title,
        colours,
        height=max(300, 140 + 20 * math.ceil(len(colours) / columns) + 56 * count),
        width=960 + max(0, round(label_px - _LABEL_ROOM_PX)),
        y_labels=[{"label": label, "value": position[i]} for i, label in enumerate(row_labels)],
        range=(-0.6, count - 0.4),
        xrange=(0, decades[-1] - floor),
        x_labels=x_labels,
        # pygal matches a vertical chart's major labels by their text.
        x_labels_major=[format_ms(10.0**decade) for decade in decades],
        show_y_guides=False,
        show_x_guides=True,  # pygal shows them only on hover otherwise
        legend_at_bottom_columns=columns,
        x_title="latency, log scale",
        allow_interruptions=True,
        dots_size=0,
    )
    return render(pygal_module().XY, options, add)
