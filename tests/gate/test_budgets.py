from __future__ import annotations

import pytest

from agui_perf.gate.budgets import BUDGETS, MB, BudgetStatus, breaches, check_budgets
from tests.gate.test_results import make_memory, make_results

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


def test_a_new_benchmark_is_covered_by_its_figure_alone() -> None:
    current = make_results(
        {"a": [1.0], "b": [1.0]},
        extra_info={"a": {"events_per_s": 150}, "b": {"events_per_s": 99.5}},
    )
    rows = check_budgets(current, {"throughput_events_per_s_min": 100.0})
    assert [(r.subject, r.status) for r in rows] == [
        ("a", BudgetStatus.PASS),
        ("b", BudgetStatus.FAIL),
    ]


def test_a_string_figure_is_not_a_measurement() -> None:
    current = make_results({"a": [1.0]}, extra_info={"a": {"workflow_s": "slow"}})
    (row,) = check_budgets(current, {"workflow_s": 10.0})
    assert row.status is BudgetStatus.NOT_MEASURED


def test_peak_memory_reported_as_extra_info_counts_too() -> None:
    current = make_results({"a": [1.0]}, extra_info={"a": {"peak_memory_mb": 12.0}})
    (row,) = check_budgets(current, {"peak_memory_mb": 10.0})
    assert (row.subject, row.status, row.unit) == ("a", BudgetStatus.FAIL, "MB")


def test_no_budgets_no_rows() -> None:
    assert check_budgets(make_results({"a": [1.0]}), {}) == ()
