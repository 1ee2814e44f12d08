from __future__ import annotations

import math
import re
import sys
from xml.etree import ElementTree as ET

import pytest

from agui_perf.gate.decide.compare import State
from agui_perf.gate.decide.verdict import error_verdict
from agui_perf.gate.report.charts import (
    CHART_FILES,
    STATE_COLOURS,
    Chart,
    LatencySeries,
    change_chart,
    latency_chart,
    latency_from_budgets,
    latency_from_results,
    memory_charts,
    render_charts,
)
from agui_perf.gate.report.latency import format_ms
from tests._support.verdicts import EVIL, passing_verdict, sample_results, sample_verdict

SVG = "{http://www.w3.org/2000/svg}"
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def _all_charts() -> list[Chart]:
    return render_charts(sample_verdict(), sample_results()[1])


def _parse(svg: str) -> ET.Element:
    # The renderer's own output, built in this test: not untrusted input.
    return ET.fromstring(svg)  # noqa: S314


def _texts(svg: str) -> list[str]:
    root = _parse(svg)
    return [text for element in root.iter() for text in [element.text] if text]


def test_every_chart_is_valid_svg() -> None:
    charts = _all_charts()
    assert [c.filename for c in charts] == list(CHART_FILES)
    for chart in charts:
        root = _parse(chart.svg)
        assert root.tag == f"{SVG}svg"
        assert root.get("viewBox")
        assert not chart.svg.startswith("<?xml")  # inlined into report.html as-is


def test_no_external_reference_script_or_comment() -> None:
    for chart in _all_charts():
        urls = set(re.findall(r"https?://[^\s\"'<>)]*", chart.svg))
        assert urls <= NAMESPACES, (chart.filename, urls)
        assert "//kozea" not in chart.svg
        assert "<script" not in chart.svg
        assert "<!--" not in chart.svg  # pygal's comments carry today's date and URLs
        assert "href" not in chart.svg
        assert "@import" not in chart.svg
        assert "googleapis" not in chart.svg


def test_output_is_deterministic_with_a_fixed_id() -> None:
    first, second = _all_charts(), _all_charts()
    assert [c.svg for c in first] == [c.svg for c in second]
    ids = [_parse(c.svg).get("id") for c in first]
    assert ids == [
        "chart-agui-perf-change",
        "chart-agui-perf-memory-peak",
        "chart-agui-perf-memory-allocations",
        "chart-agui-perf-latency",
    ]


def test_change_chart_names_every_benchmark_and_colours_states() -> None:
    verdict = sample_verdict()
    chart = change_chart(verdict.benchmarks)
    assert chart is not None
    texts = _texts(chart.svg)
    for bench in verdict.benchmarks:
        assert any(bench.name in text for text in texts), bench.name
    assert "new_bench (new: not compared)" in texts
    # One legend entry (and CSS colour) per state present, then the threshold band.
    assert {"regression", "improvement", "inconclusive", "unchanged"} <= set(texts)
    assert "threshold (±min effect)" in texts
    for state in (State.REGRESSION, State.IMPROVEMENT, State.INCONCLUSIVE, State.UNCHANGED):
        assert STATE_COLOURS[state] in chart.svg
    assert STATE_COLOURS[State.NEW] not in chart.svg  # nothing to draw for new benchmarks


def test_change_chart_tooltips_carry_change_and_interval() -> None:
    chart = change_chart(sample_verdict().benchmarks)
    assert chart is not None
    titles = [
        element.text or ""
        for element in _parse(chart.svg).iter(f"{SVG}title")
        if (element.text or "").startswith("encode_many:")
    ]
    assert titles
    assert titles[0].startswith("encode_many: +18.2 % (bounds +15.9 % … +20.6 %)")
    assert titles[0].endswith("regression")


def test_untrusted_name_is_escaped_in_svg() -> None:
    chart = change_chart(sample_verdict().benchmarks)
    assert chart is not None
    assert EVIL not in chart.svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in chart.svg
    assert EVIL in _texts(chart.svg)


def test_memory_charts_show_both_sides_per_scenario() -> None:
    charts = memory_charts(sample_verdict().memory)
    assert [c.filename for c in charts] == ["memory-peak.svg", "memory-allocations.svg"]
    for chart in charts:
        texts = _texts(chart.svg)
        assert {"account_analysis", "burst_1000", "baseline", "current"} <= set(texts)
    peak_tips = [t for t in _texts(charts[0].svg) if t.startswith("account_analysis, current:")]
    assert peak_tips == ["account_analysis, current: 12.5 MiB"]
    alloc_tips = [t for t in _texts(charts[1].svg) if t.startswith("burst_1000, baseline:")]
    assert alloc_tips == ["burst_1000, baseline: 120,000"]


def test_no_data_no_chart() -> None:
    assert change_chart(()) is None
    assert memory_charts(()) == []
    assert latency_chart([]) is None
    assert render_charts(error_verdict("broken input — fix it")) == []
    # No latency figures and no memory: only the change chart.
    assert [c.filename for c in render_charts(passing_verdict())] == ["change.svg"]


def test_latency_from_results_reads_extra_info() -> None:
    series = latency_from_results(sample_results()[1])
    assert series == [
        LatencySeries(EVIL, {"mean": 12.5, "p95": 31.0}),
        LatencySeries("stream_paced", {"mean": 180.0, "p50": 150.0, "p95": 320.0, "p99": 410.0}),
    ]


def test_latency_from_budgets_is_the_fallback() -> None:
    verdict = sample_verdict()
    assert latency_from_budgets(verdict.budgets) == [
        LatencySeries(EVIL, {"mean": 12.5, "p95": 31.0}),
        LatencySeries("stream_paced", {"mean": 180.0, "p95": 320.0}),
    ]
    charts = render_charts(verdict)  # without the current Results
    assert charts[-1].filename == "latency.svg"


def test_latency_chart_ticks_each_budget_on_the_rows_it_holds() -> None:
    verdict = sample_verdict()
    series = [*latency_from_results(sample_results()[1]), LatencySeries("free", {"p95": 5.0})]
    chart = latency_chart(series, verdict.budgets)
    assert chart is not None
    texts = _texts(chart.svg)
    assert {"mean", "p50", "p95", "p99", "max", "p50 to max"} <= set(texts)
    assert {"p95 budget ≤ 300 ms", "mean budget ≤ 200 ms"} <= set(texts)
    assert "stream_paced p99: 410 ms" in texts
    # Each row names its tightest budget as a factor; a row no budget holds, only its name.
    assert "stream_paced — p95 × 1.07 over budget" in texts
    assert f"{EVIL} — p95 × 9.68 under budget" in texts
    assert "free" in texts
    # One dashed tick per (row, budget) checked: two rows, two budgets; none for "free".
    ticks = [
        path
        for group in _parse(chart.svg).iter(f"{SVG}g")
        if (group.get("class") or "").startswith("series serie-6")
        or (group.get("class") or "").startswith("series serie-7")
        for path in group.iter(f"{SVG}path")
    ]
    assert len(ticks) == 4


def _dot_x(svg: str) -> dict[str, float]:
    """The x position of each dot, by its tooltip."""
    found = {}
    for group in _parse(svg).iter(f"{SVG}g"):
        title, circle = group.find(f"{SVG}title"), group.find(f"{SVG}circle")
        if title is not None and circle is not None and title.text:
            found[title.text] = float(circle.get("cx") or "nan")
    return found


def test_latency_axis_is_logarithmic() -> None:
    # The case: sub-millisecond latencies beside budgets of hundreds of milliseconds.
    values = {"p50": 0.1, "p95": 1.0, "p99": 10.0, "max": 300.0}
    chart = latency_chart([LatencySeries("paced", values, {"p95": 300.0})])
    assert chart is not None
    x = _dot_x(chart.svg)
    shown = ("100 µs", "1 ms", "10 ms", "300 ms")
    p50, p95, p99, top = (x[f"paced {k}: {v}"] for k, v in zip(values, shown, strict=True))
    # Every decade is as wide as the next, and 0.1 ms stands well apart from 1 ms.
    assert p95 - p50 == pytest.approx(p99 - p95, abs=0.5)
    assert p95 - p50 > 100
    assert top - p99 == pytest.approx((p99 - p95) * math.log10(30), abs=0.5)
    assert "paced — p95 × 300 under budget" in _texts(chart.svg)
    # Decades labelled in time units, guides at 2x and 5x unlabelled.
    axis = next(
        g for g in _parse(chart.svg).iter(f"{SVG}g") if (g.get("class") or "").startswith("axis x")
    )
    labels = [t.text or "" for t in axis.iter(f"{SVG}text")]
    assert [t for t in labels if t] == ["100 µs", "1 ms", "10 ms", "100 ms", "1 s"]
    assert labels.count("") == 8


def test_latency_of_zero_sits_at_the_axis_end() -> None:
    chart = latency_chart([LatencySeries("load", {"p50": 0.0, "p95": 12.0})])
    assert chart is not None
    x = _dot_x(chart.svg)
    assert x["load p50: 0 ms (drawn at the axis's left end)"] < x["load p95: 12 ms"]


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0.0853, "85.3 µs"), (0.63, "630 µs"), (1.0, "1 ms"), (12.5, "12.5 ms"), (1200, "1.2 s")],
)
def test_format_ms(ms: float, text: str) -> None:
    assert format_ms(ms) == text


@pytest.mark.parametrize("count", [1, 30])
def test_change_chart_grows_with_the_number_of_benchmarks(count: int) -> None:
    benchmarks = sample_verdict().benchmarks
    rows = [benchmarks[i % len(benchmarks)] for i in range(count)]
    chart = change_chart(rows)
    assert chart is not None
    view_box = _parse(chart.svg).get("viewBox") or ""
    height = int(view_box.split()[3])
    assert height == max(320, 160 + 36 * count)


def test_rendering_leaves_no_pygal_import_hook() -> None:
    # pygal's legacy finder would turn every later failed import into an ImportWarning.
    _all_charts()
    assert not [f for f in sys.meta_path if type(f).__module__.startswith("pygal")]


def test_every_legend_line_fits_inside_its_chart() -> None:
    # pygal reserves entries // columns legend lines: the change chart's 4 entries in 3 columns
    # drew the second line below the chart's edge until svg.render made room for it.
    for chart in _all_charts():
        root = _parse(chart.svg)
        height = float((root.get("viewBox") or "").split()[3])
        legends = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "legends")
        match = re.fullmatch(r"translate\(([\d.]+), ([\d.]+)\)", legends.get("transform") or "")
        assert match, chart.filename
        bottom = max(
            float(r.get("y") or 0) + float(r.get("height") or 0) for r in legends.iter(f"{SVG}rect")
        )
        assert float(match.group(2)) + bottom <= height, chart.filename


def test_memory_axis_labels_are_short() -> None:
    (peak, _) = memory_charts(sample_verdict().memory)
    axis = [
        t.text or ""
        for g in _parse(peak.svg).iter(f"{SVG}g")
        if (g.get("class") or "").startswith("axis x")
        for t in g.iter(f"{SVG}text")
    ]
    # "1.00 MiB2.00 MiB…" ran into each other in the report: no padding zeros, five at most.
    assert axis == ["0", "8 MiB", "16 MiB", "24 MiB"]
