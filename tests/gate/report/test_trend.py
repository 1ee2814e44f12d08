"""The trend section: sparklines, the Markdown tables, the charts and the HTML section."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from agui_perf.gate.report.html import render_html
from agui_perf.gate.report.markdown import render_markdown
from agui_perf.gate.report.trend import (
    ENVIRONMENT_MARK,
    MISSING_MARK,
    points_table,
    sparkline,
    trend_charts,
    trend_lead,
    trend_notes,
    trend_tables,
)
from agui_perf.gate.store.history import History, HistoryPoint, Metric
from tests._support.results import make_env
from tests._support.verdicts import EVIL, passing_verdict

AMD = make_env()
INTEL = make_env(cpu_model="Intel Xeon")
PATH = "baselines/linux-x86_64-cpython3.11.json"


def point(
    n: int, time: float | None, peak: float, env: object = AMD, **changes: object
) -> HistoryPoint:
    times = {"test_encode": 1e-3, EVIL: 5e-6}
    if time is not None:
        times["test_stream"] = time
    made = HistoryPoint(
        commit=f"{n:07d}" + "f" * 33,
        date=f"2026-11-{n + 10:02d}T08:00:00+00:00",
        subject=f"accept v{n}",
        values={
            Metric.TIME: times,
            Metric.PEAK: {"stream": peak},
            Metric.ALLOCATIONS: {"stream": 9000.0},
            Metric.INSTRUCTIONS: {"test_encode": 100_000.0 + n},
        },
        environment=env,  # type: ignore[arg-type]
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def sample_history() -> History:
    """Four commits (the environment changes at the third), one unreadable, and this run."""
    return History(
        baseline_path=PATH,
        limit=30,
        points=(
            point(1, None, 1_000_000),
            point(2, 0.050, 1_000_000),
            point(3, 0.0, 0.0, skipped="is not valid JSON (Expecting value at line 1 column 1)"),
            point(4, 0.060, 1_000_000, env=INTEL),
            point(5, 0.066, 1_100_000, env=INTEL, current=True, subject="this run", date=""),
        ),
        notes=("the last 30 commits that changed it (older ones left out)",),
    )


def test_sparkline_scales_each_row_and_marks_gaps_and_environment_changes() -> None:
    assert sparkline([1.0, 2.0, 3.0, 8.0]) == "▁▂▃█"
    assert (
        sparkline([None, 1.0, 2.0], [False, False, True]) == f"{MISSING_MARK}▁{ENVIRONMENT_MARK}█"
    )
    # A flat row sits in the middle; no mark before the first point.
    assert sparkline([5.0, 5.0], [True, False]) == "▄▄"
    assert sparkline([]) == ""


def test_sparkline_span_keeps_noise_small() -> None:
    # 0.01 % apart, against a 1 % span: both at the bottom, not bottom and top.
    assert sparkline([100_000.0, 100_010.0], span=0.01) == "▁▁"
    assert sparkline([100.0, 101.0], span=0.01) == "▁█"
    assert sparkline([100.0, 100.5], span=0.01) == "▁▅"


def test_tables_per_metric_with_oldest_newest_and_change_in_one_environment() -> None:
    tables = dict(trend_tables(sample_history()))
    assert list(tables) == ["Time per call", "Peak memory", "Allocations", "Instructions per call"]
    rows = {row.cells[0]: row.cells for row in tables["Time per call"].rows}
    assert set(rows) == {EVIL, "test_encode", "test_stream"}
    # Readable points: 1, 2, 4 (environment changed), this run.
    _, spark, oldest, newest, change = rows["test_stream"]
    assert spark == f"{MISSING_MARK}▁{ENVIRONMENT_MARK}▅█"
    assert (oldest, newest) == ("50.0 ms", "66.0 ms")
    # Against point 4, the oldest in this run's environment, not point 2's 50 ms on AMD.
    assert change == "+10.0 %"
    assert rows["test_encode"][4] == "+0.0 %"
    peak = tables["Peak memory"].rows[0].cells
    assert peak == ("stream", f"▁▁{ENVIRONMENT_MARK}▁█", "977 KiB", "1.05 MiB", "+10.0 %")


def test_lead_names_the_points_and_explains_the_marks() -> None:
    lead = trend_lead(sample_history())
    assert "at the 3 commits that changed " + PATH + " and in this run, oldest first" in lead
    assert "0000001 (2026-11-11), 0000002 (2026-11-12), 0000004 (2026-11-14), current." in lead
    assert ENVIRONMENT_MARK in lead
    assert "not comparable" in lead
    same = History(PATH, 30, points=(point(1, 0.05, 1e6), point(2, 0.05, 1e6)))
    assert ENVIRONMENT_MARK not in trend_lead(same)


def test_notes_say_what_limits_it_and_which_versions_were_skipped() -> None:
    notes = trend_notes(sample_history())
    assert notes == [
        "the last 30 commits that changed it (older ones left out)",
        "skipped 0000003 (2026-11-13): is not valid JSON (Expecting value at line 1 column 1)",
    ]


def test_points_table_names_every_commit() -> None:
    table = points_table(sample_history())
    assert [row.cells[0] for row in table.rows] == [
        "0000001",
        "0000002",
        "0000003",
        "0000004",
        "current",
    ]
    cells = {row.cells[0]: row.cells for row in table.rows}
    assert cells["0000004"][3] == "Intel Xeon, CPython 3.11.7"
    assert cells["0000004"][4] == "environment changed"
    assert cells["0000003"][4].startswith("skipped: is not valid JSON")
    assert cells["current"][1:3] == ("—", "this run")


def test_one_chart_per_metric_relative_to_the_first_point() -> None:
    charts = trend_charts(sample_history())
    assert [c.filename for c in charts] == [
        "trend-time.svg",
        "trend-peak.svg",
        "trend-allocations.svg",
        "trend-instructions.svg",
    ]
    for chart in charts:
        root = ET.fromstring(chart.svg)  # noqa: S314 -- our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "<script" not in chart.svg
        assert "<!--" not in chart.svg
        assert f'id="chart-agui-perf-trend-{chart.filename[6:-4]}"' in chart.svg
    time = charts[0].svg
    # The environment change is marked on its commit; the tooltips carry value and subject.
    assert "0000004 †" in time
    assert "test_stream at current: 66.0 ms (+32.0 % against its first point) — this run" in time
    assert EVIL not in time
    assert "&lt;script&gt;" in time
    # Rendering twice gives the same bytes.
    assert trend_charts(sample_history())[0].svg == time


def test_noise_is_not_stretched_to_the_full_chart() -> None:
    # Instructions move by 0.004 % here; the axis spans at least ±0.5 % (half the counts' 1 %).
    svg = trend_charts(sample_history())[3].svg
    labels = re.findall(r">([+-]\d+\.\d) %<", svg)
    assert "+0.5" in labels or "+0.4" in labels


def test_no_chart_without_two_points() -> None:
    only = History(PATH, 30, points=(point(1, 0.05, 1e6, current=True),))
    assert trend_charts(only) == []
    assert trend_lead(only).startswith("No earlier version of " + PATH + " could be read")


def test_markdown_section_folds_each_table() -> None:
    verdict = replace(passing_verdict(), history=sample_history())
    text = render_markdown(verdict)
    section = text[text.index("### Trend") : text.index("### Accepted state")]
    assert "> [!NOTE]" in section
    assert "<summary>Time per call (3)</summary>" in section
    assert "| test\\_stream | ·▁┊▅█ | 50.0 ms | 66.0 ms | +10.0 % |" in section
    assert EVIL not in section
    assert "skipped 0000003" in section
    assert "### Trend" not in render_markdown(passing_verdict())


@pytest.mark.parametrize("history", [sample_history(), History(PATH, 30, notes=("no history: x",))])
def test_html_section(history: History) -> None:
    page = render_html(replace(passing_verdict(), history=history))
    section = page[page.index('<section id="trend">') :]
    section = section[: section.index("</section>")]
    assert "<h2>Trend</h2>" in section
    assert EVIL not in section
    if history.points:
        assert section.count("<figure") == 4
        assert "<h3>The points</h3>" in section
        assert "&lt;script&gt;" in section
    else:
        assert "no history: x" in section
        assert "<figure" not in section
    assert '<section id="trend">' not in render_html(passing_verdict())
