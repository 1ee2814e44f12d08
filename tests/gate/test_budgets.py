from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate._codec import to_json
from agui_perf.gate.decide.budgets import (
    BUDGETS,
    FIGURE_UNITS,
    MB,
    SERVICE_KEY,
    BudgetCheck,
    Budgets,
    BudgetStatus,
    breaches,
    check_budgets,
    figure_budget,
    grouped,
    margin_text,
)
from agui_perf.gate.report.charts import latency_from_budgets
from agui_perf.gate.report.latency import LatencySeries
from agui_perf.gate.report.markdown import budget_tables
from agui_perf.suite.concurrency import Concurrency
from tests._support.figures import run_figures
from tests._support.results import make_memory, make_results

if TYPE_CHECKING:
    from agui_perf.suite.figures import RunFigures

ALL = {
    "latency_mean_ms": 200.0,
    "latency_p95_ms": 300.0,
    "concurrent_streams_min": 10.0,
    "workflow_s": 10.0,
    "peak_memory_mb": 500.0,
    "throughput_events_per_s_min": 100.0,
    "error_rate_max": 0.05,
}


def test_every_budget_from_the_project_is_known() -> None:
    assert set(ALL) == set(BUDGETS)


def test_compliance_matrix() -> None:
    current = make_results(
        {"latency": [1.0], "streams": [1.0], "workflow": [1.0]},
        [make_memory("big", peak_bytes=600 * MB), make_memory("small", peak_bytes=50 * MB)],
        extra_info={
            "latency": {"latency_mean_ms": 120.0, "latency_p95_ms": 300.0, "error_rate": 0.0},
            "streams": {"concurrent_streams": 8, "error_rate": 0.06},
            "workflow": {"workflow_s": 2.5, "label": "account_analysis"},
        },
    )
    rows = {(r.budget, r.subject): r for r in check_budgets(current, ALL)}
    assert set(rows) == {
        ("concurrent_streams_min", "streams"),
        ("error_rate_max", "latency"),
        ("error_rate_max", "streams"),
        ("latency_mean_ms", "latency"),
        ("latency_p95_ms", "latency"),
        ("peak_memory_mb", "big"),
        ("peak_memory_mb", "small"),
        ("throughput_events_per_s_min", None),
        ("workflow_s", "workflow"),
    }
    mean = rows[("latency_mean_ms", "latency")]
    assert (mean.status, mean.actual, mean.margin) == (BudgetStatus.PASS, 120.0, 80.0)
    assert mean.margin_fraction == pytest.approx(0.4)
    # Limits are inclusive: exactly on target passes.
    assert rows[("latency_p95_ms", "latency")].status is BudgetStatus.PASS
    assert rows[("latency_p95_ms", "latency")].margin == 0.0
    streams = rows[("concurrent_streams_min", "streams")]
    assert (streams.status, streams.margin, streams.kind) == (BudgetStatus.FAIL, -2.0, "min")
    assert rows[("error_rate_max", "streams")].status is BudgetStatus.FAIL
    assert rows[("error_rate_max", "latency")].status is BudgetStatus.PASS
    assert rows[("peak_memory_mb", "big")].actual == 600.0
    assert rows[("peak_memory_mb", "big")].status is BudgetStatus.FAIL
    assert rows[("peak_memory_mb", "small")].status is BudgetStatus.PASS
    missing = rows[("throughput_events_per_s_min", None)]
    assert missing.status is BudgetStatus.NOT_MEASURED
    assert (missing.actual, missing.margin, missing.margin_fraction) == (None, None, None)
    assert [(b.budget, b.subject) for b in breaches(check_budgets(current, ALL))] == [
        ("concurrent_streams_min", "streams"),
        ("error_rate_max", "streams"),
        ("peak_memory_mb", "big"),
    ]


SERVED = {SERVICE_KEY: "client cpu 0, server cpu 1"}


def test_a_new_benchmark_is_covered_by_its_figure_alone() -> None:
    current = make_results(
        {"a": [1.0], "b": [1.0]},
        extra_info={"a": {"latency_p95_ms": 150}, "b": {"latency_p95_ms": 300.5}},
    )
    rows = check_budgets(current, {"latency_p95_ms": 300.0})
    assert [(r.subject, r.status) for r in rows] == [
        ("a", BudgetStatus.PASS),
        ("b", BudgetStatus.FAIL),
    ]


def test_throughput_is_held_against_service_benchmarks_only() -> None:
    # An in-process encoder at 1.3 million events/s against "at least 100 events/s" could
    # never fail; only the benchmarks that talk to a server are service figures.
    current = make_results(
        {"encode": [1.0], "stream": [1.0], "slow_stream": [1.0]},
        extra_info={
            "encode": {"events_per_s": 1_309_352},
            "stream": {"events_per_s": 361_779.4, **SERVED},
            "slow_stream": {"events_per_s": 80.0, **SERVED},
        },
    )
    rows = check_budgets(current, {"throughput_events_per_s_min": 100.0})
    assert [(r.subject, r.status) for r in rows] == [
        ("slow_stream", BudgetStatus.FAIL),
        ("stream", BudgetStatus.PASS),
    ]
    # Without any service benchmark the budget is not measured, not met by a micro-benchmark.
    only_micro = make_results({"encode": [1.0]}, extra_info={"encode": {"events_per_s": 1e6}})
    (row,) = check_budgets(only_micro, {"throughput_events_per_s_min": 100.0})
    assert (row.subject, row.status) == (None, BudgetStatus.NOT_MEASURED)


def test_named_benchmarks_replace_the_default_subjects() -> None:
    current = make_results(
        {"encode": [1.0], "stream": [1.0]},
        extra_info={"encode": {"events_per_s": 50.0}, "stream": {"events_per_s": 1e5, **SERVED}},
    )
    budgets = Budgets(
        {"throughput_events_per_s_min": 100.0},
        {"throughput_events_per_s_min": ["encode", "typo_bench"]},
    )
    rows = check_budgets(current, budgets)
    # Exactly the named ones, micro-benchmark or not; a name without the figure shows.
    assert [(r.subject, r.status) for r in rows] == [
        ("encode", BudgetStatus.FAIL),
        ("typo_bench", BudgetStatus.NOT_MEASURED),
    ]


def test_budgets_read_as_a_mapping_of_targets() -> None:
    budgets = Budgets({"workflow_s": 10.0, "latency_p95_ms": 300.0}, {"workflow_s": ["w"]})
    assert dict(budgets) == {"latency_p95_ms": 300.0, "workflow_s": 10.0}
    assert budgets["workflow_s"] == 10.0
    assert budgets.benchmarks == {"workflow_s": ("w",)}
    assert Budgets({"workflow_s": 10.0}) == {"workflow_s": 10.0}
    assert budgets != {"latency_p95_ms": 300.0, "workflow_s": 10.0}  # the scope counts too
    with pytest.raises(ValueError, match="benchmarks named for 'error_rate_max'"):
        Budgets({"workflow_s": 10.0}, {"error_rate_max": ["x"]})


def _check(kind: str, target: float, actual: float | None) -> BudgetCheck:
    status = BudgetStatus.NOT_MEASURED
    margin = None
    if actual is not None:
        margin = target - actual if kind == "max" else actual - target
        status = BudgetStatus.PASS if margin >= 0 else BudgetStatus.FAIL
    return BudgetCheck(
        "b", "b", "s", "max" if kind == "max" else "min", "ms", target, actual, margin, status
    )


@pytest.mark.parametrize(
    ("kind", "target", "actual", "factor"),
    [
        ("max", 300.0, 0.1875, 1600.0),  # far under a maximum
        ("max", 300.0, 390.0, 1.3),  # over it
        ("min", 100.0, 250.0, 2.5),  # above a minimum
        ("min", 100.0, 80.0, 1.25),  # below it
        ("max", 300.0, 300.0, 1.0),  # exactly on it
        ("max", 0.05, 0.0, math.inf),  # an error rate of zero
        ("max", 0.0, 0.01, math.inf),  # against a budget of zero
    ],
)
def test_factor_is_how_many_times_inside_or_beyond(
    kind: str, target: float, actual: float, factor: float
) -> None:
    assert _check(kind, target, actual).factor == pytest.approx(factor)


def test_not_measured_has_no_factor() -> None:
    assert _check("max", 300.0, None).factor is None


def test_grouped_puts_the_worst_case_first() -> None:
    current = make_results(
        {"a": [1.0], "b": [1.0], "c": [1.0]},
        extra_info={
            "a": {"latency_p95_ms": 0.2, "latency_mean_ms": 0.1},
            "b": {"latency_p95_ms": 2.0, "latency_mean_ms": 250.0},
            "c": {"latency_p95_ms": 0.5},
        },
    )
    groups = grouped(check_budgets(current, {**ALL, "peak_memory_mb": 500.0}))
    order = [[(r.budget, r.subject) for r in rows] for rows in groups]
    assert order[0] == [("latency_mean_ms", "b"), ("latency_mean_ms", "a")]  # the breach
    # Then the budgets nothing measured, then the passes by their least headroom.
    assert {rows[0][0] for rows in order[1:6]} == {
        "concurrent_streams_min",
        "error_rate_max",
        "peak_memory_mb",
        "throughput_events_per_s_min",
        "workflow_s",
    }
    assert order[6] == [("latency_p95_ms", "b"), ("latency_p95_ms", "c"), ("latency_p95_ms", "a")]


def test_a_string_figure_is_not_a_measurement() -> None:
    current = make_results({"a": [1.0]}, extra_info={"a": {"workflow_s": "slow"}})
    (row,) = check_budgets(current, {"workflow_s": 10.0})
    assert (row.subject, row.status, row.actual) == ("a", BudgetStatus.NOT_MEASURED, None)
    assert row.reason == "workflow_s is 'slow', not a number"


def _run(ttfe_s: float, gap_p99_s: float, events: int = 42) -> RunFigures:
    """One run of a target as the `agui_perf.suite` plugin measures it."""
    return run_figures(
        url="http://127.0.0.1:8000",
        ttfe_s=ttfe_s,
        ttfc_s=ttfe_s + 0.002,
        gap_p50_s=0.0004,
        gap_p95_s=gap_p99_s / 2,
        gap_p99_s=gap_p99_s,
        gap_max_s=gap_p99_s * 1.5,
        duration_s=0.35,
        events=events,
        bytes=events * 96,
        events_per_s=events / 0.35,
        silence_max_s=0.04,
    )


def _held(streams: int, held: int) -> Concurrency:
    """`agui_run.concurrent(streams)` with `held` of them clean."""
    return Concurrency(
        streams=streams,
        held=held,
        error_rate=(streams - held) / streams,
        peak_open=streams,
        ttfe_p50_s=0.004,
        errors=("HTTP 503",) if held < streams else (),
        runs=(),
    )


def _published(*results: RunFigures | Concurrency) -> dict[str, float | int | str]:
    """What `Runner.publish` puts into `benchmark.extra_info`, as the gate's results keep it
    (numbers and strings; store/results.py rejects anything else)."""
    info: dict[str, object] = {}
    for result in results:
        info.update(result.extra_info())
    return {
        key: value
        for key, value in info.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    }


def test_a_budget_on_any_plugin_figure() -> None:
    held = _held(streams=10, held=9)
    current = make_results(
        {"test_chat": [1.0], "test_tools": [1.0], "test_burst": [1.0]},
        extra_info={
            "test_chat": _published(_run(ttfe_s=0.012, gap_p99_s=0.003)),
            "test_tools": _published(_run(ttfe_s=0.081, gap_p99_s=0.030)),
            "test_burst": _published(_run(ttfe_s=0.020, gap_p99_s=0.010), held),
        },
    )
    budgets = Budgets(
        {"agui_ttfe_s_max": 0.05, "agui_streams_held_min": 10, "gaps": 0.02},
        {"gaps": ["test_chat", "test_tools"]},
        {"gaps": figure_budget("agui_gap_p99_s", "max")},
    )
    rows = {(r.budget, r.subject): r for r in check_budgets(current, budgets)}
    assert {key: row.status for key, row in rows.items()} == {
        ("agui_streams_held_min", "test_burst"): BudgetStatus.FAIL,
        ("agui_ttfe_s_max", "test_burst"): BudgetStatus.PASS,
        ("agui_ttfe_s_max", "test_chat"): BudgetStatus.PASS,
        ("agui_ttfe_s_max", "test_tools"): BudgetStatus.FAIL,
        ("gaps", "test_chat"): BudgetStatus.PASS,
        ("gaps", "test_tools"): BudgetStatus.FAIL,
    }
    ttfe = rows[("agui_ttfe_s_max", "test_tools")]
    assert (ttfe.label, ttfe.figure, ttfe.unit, ttfe.kind) == (
        "agui_ttfe_s",
        "agui_ttfe_s",
        "s",
        "max",
    )
    assert ttfe.actual == 0.081
    assert ttfe.factor == pytest.approx(1.62)
    streams = rows[("agui_streams_held_min", "test_burst")]
    assert (streams.kind, streams.unit, streams.actual, streams.margin) == (
        "min",
        "streams",
        9.0,
        -1.0,
    )
    gaps = rows[("gaps", "test_tools")]
    assert (gaps.label, gaps.figure, gaps.target, gaps.actual) == (
        "agui_gap_p99_s",
        "agui_gap_p99_s",
        0.02,
        0.030,
    )
    # The same budgets from a plain mapping of targets: `_max` / `_min` names need no table.
    plain = check_budgets(current, {"agui_ttfe_s_max": 0.05})
    assert list(plain) == [r for r in rows.values() if r.budget == "agui_ttfe_s_max"]


def test_every_figure_the_plugin_publishes_has_its_unit() -> None:
    held = _held(streams=10, held=10)
    numbers = _published(_run(ttfe_s=0.01, gap_p99_s=0.002), held)
    numbers = {k: v for k, v in numbers.items() if not isinstance(v, str)}
    assert len(numbers) > 15
    assert sorted(set(numbers) - set(FIGURE_UNITS)) == []
    assert {k: FIGURE_UNITS[k] for k in ("agui_ttfe_s", "agui_bytes", "agui_events_per_s")} == {
        "agui_ttfe_s": "s",
        "agui_bytes": "B",
        "agui_events_per_s": "events/s",
    }


def test_a_figure_no_benchmark_reports_is_not_measured() -> None:
    # A misspelt figure (ms for s) is one "not measured" row, not a silent pass.
    current = make_results({"test_chat": [1.0]}, extra_info={"test_chat": {"agui_ttfe_s": 0.01}})
    (row,) = check_budgets(current, {"agui_ttfe_ms_max": 50.0})
    assert (row.subject, row.status, row.reason) == (None, BudgetStatus.NOT_MEASURED, None)
    assert (row.label, row.figure, row.unit) == ("agui_ttfe_ms", "agui_ttfe_ms", "")
    (shown,), folded = budget_tables([row])[0].rows, budget_tables([row])[1]
    assert shown.cells[:3] == ("agui_ttfe_ms (agui_ttfe_ms_max)", "not measured", "≤ 50")
    assert folded is None


def test_a_figure_that_is_not_a_number_says_so() -> None:
    # Processes that disagreed on the type of a figure leave their values joined as a string.
    current = make_results(
        {"test_chat": [1.0], "test_tools": [1.0]},
        extra_info={
            "test_chat": {"agui_ttfe_s": "0.01; n/a"},
            "test_tools": {"agui_ttfe_s": 0.2},
        },
    )
    budgets = Budgets(
        {"ttfe": 0.05}, {"ttfe": ["test_chat"]}, {"ttfe": figure_budget("agui_ttfe_s", "max")}
    )
    (row,) = check_budgets(current, budgets)
    assert (row.subject, row.status, row.actual, row.factor) == (
        "test_chat",
        BudgetStatus.NOT_MEASURED,
        None,
        None,
    )
    assert row.reason == "agui_ttfe_s is '0.01; n/a', not a number"
    (cells,) = [r.cells for r in budget_tables([row])[0].rows]
    assert cells == (
        "agui_ttfe_s (ttfe)",
        "test_chat",
        "≤ 0.05 s",
        "—",
        "—",
        "not measured (agui_ttfe_s is '0.01; n/a', not a number)",
    )
    data = to_json(row)
    assert (data["figure"], data["reason"], data["status"]) == (
        "agui_ttfe_s",
        "agui_ttfe_s is '0.01; n/a', not a number",
        "not measured",
    )
    long = make_results({"a": [1.0]}, extra_info={"a": {"agui_ttfe_s": "x" * 200}})
    (cut,) = check_budgets(long, {"agui_ttfe_s_max": 0.05})
    assert cut.reason is not None
    assert cut.reason.endswith("..., not a number")
    assert len(cut.reason) < 100


def test_a_latency_figure_budget_draws_its_tick() -> None:
    current = make_results({"paced": [1.0]}, extra_info={"paced": {"latency_p99_ms": 40.0}})
    checks = check_budgets(current, {"latency_p99_ms_max": 500.0})
    assert latency_from_budgets(checks) == [LatencySeries("paced", {"p99": 40.0})]


def test_budgets_validate_their_names() -> None:
    with pytest.raises(ValueError, match="'latency_p99_ms' is no budget"):
        Budgets({"latency_p99_ms": 1.0})
    with pytest.raises(ValueError, match="'workflow_s' is a built-in budget; it names no figure"):
        Budgets({"workflow_s": 1.0}, figures={"workflow_s": figure_budget("x", "max")})
    with pytest.raises(ValueError, match="a figure named for 'gaps', which has no target"):
        Budgets({}, figures={"gaps": figure_budget("agui_gap_p99_s", "max")})
    with_figure = Budgets({"gaps": 0.02}, figures={"gaps": figure_budget("agui_gap_p99_s", "max")})
    assert with_figure != Budgets({"gaps": 0.02}, figures={"gaps": figure_budget("x", "max")})
    assert "figures=" in repr(with_figure)


def test_peak_memory_reported_as_extra_info_counts_too() -> None:
    current = make_results({"a": [1.0]}, extra_info={"a": {"peak_memory_mb": 12.0}})
    (row,) = check_budgets(current, {"peak_memory_mb": 10.0})
    assert (row.subject, row.status, row.unit) == ("a", BudgetStatus.FAIL, "MB")


def test_no_budgets_no_rows() -> None:
    assert check_budgets(make_results({"a": [1.0]}), {}) == ()


@pytest.mark.parametrize(
    ("kind", "target", "actual", "text"),
    [
        ("max", 300.0, 0.1875, "× 1,600 under budget"),
        ("max", 300.0, 0.143, "× 2,100 under budget"),
        ("max", 300.0, 390.0, "× 1.3 over budget"),
        ("max", 300.0, 301.0, "× 1.003 over budget"),  # a narrow breach never reads "× 1"
        ("min", 100.0, 250.0, "× 2.5 above the minimum"),
        ("min", 100.0, 1_309_352.0, "× 13,000 above the minimum"),
        ("min", 100.0, 80.0, "× 1.25 below the minimum"),
        ("max", 300.0, 300.0, "exactly at the budget"),
        ("max", 0.05, 0.0, "under budget (actual 0)"),
        ("max", 0.0, 0.01, "over budget (target 0)"),
        ("max", 300.0, None, "—"),
    ],
)
def test_margin_is_a_factor(kind: str, target: float, actual: float | None, text: str) -> None:
    assert margin_text("max" if kind == "max" else "min", target, actual) == text
