"""The load verdict: budgets read from pyproject, Locust's CSV read, checked, reported; goodput."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.load.verdict import (
    LoadBudgets,
    LoadStats,
    Outcome,
    RowStats,
    check_load,
    latency_series,
    load_budgets,
    read_locust_stats,
    render_markdown,
    verdict_to_json,
    write_verdict,
)
from tests._support.locust_csv import BUDGETS, HEADER, row, write_csv, write_pyproject

ROOT = Path(__file__).resolve().parents[2]


# --- budgets ------------------------------------------------------------------------------


def test_budgets_of_this_project_are_readable() -> None:
    budgets = load_budgets(ROOT / "pyproject.toml")
    assert budgets.latency_p95_ms > 0
    assert 0 < budgets.error_rate_max < 1
    assert budgets.throughput_events_per_s_min > 0
    # Goodput holds each run to the per-run budgets this project sets.
    assert set(budgets.per_run) == {"latency_mean_ms", "latency_p95_ms", "workflow_s"}


def test_budgets_read_the_three_keys(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path,
        "latency_p95_ms = 250\nerror_rate_max = 0.01\nthroughput_events_per_s_min = 50.5\n"
        "workflow_s = 10",
    )
    assert load_budgets(path) == LoadBudgets(
        250.0, 0.01, 50.5, per_run={"latency_p95_ms": 250.0, "workflow_s": 10.0}
    )


@pytest.mark.parametrize(
    ("budgets", "fragment"),
    [
        ("latency_p95_ms = 250\nerror_rate_max = 0.01", "'throughput_events_per_s_min'"),
        (
            'latency_p95_ms = "fast"\nerror_rate_max = 0.01\nthroughput_events_per_s_min = 1',
            "latency_p95_ms: 'fast' is not a number",
        ),
        (
            "latency_p95_ms = 1\nerror_rate_max = true\nthroughput_events_per_s_min = 1",
            "error_rate_max: True is not a number",
        ),
        (
            "latency_p95_ms = -1\nerror_rate_max = 0\nthroughput_events_per_s_min = 1",
            "-1 is negative",
        ),
        ("latency_p95_ms = = 1", "not valid TOML"),
    ],
)
def test_bad_budgets_are_one_line_errors(tmp_path: Path, budgets: str, fragment: str) -> None:
    with pytest.raises(GateError) as info:
        load_budgets(write_pyproject(tmp_path, budgets))
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_missing_pyproject_and_table(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="does not exist"):
        load_budgets(tmp_path / "nope.toml")
    (tmp_path / "pyproject.toml").write_text("[tool.other]\nx = 1\n", encoding="utf-8")
    with pytest.raises(GateError, match=r"\[tool.agui_perf.budgets\] has no 'latency_p95_ms'"):
        load_budgets(tmp_path / "pyproject.toml")


# --- Locust CSV -----------------------------------------------------------------------------


def test_stats_from_locust_csv(tmp_path: Path) -> None:
    stats = read_locust_stats(
        write_csv(
            tmp_path,
            runs=200,
            failed=3,
            failures=[
                "SSE,run account_analysis,\"RunFailure('stream ended without RUN_FINISHED "
                "(last event TEXT_MESSAGE_CONTENT)')\",3,,",
                "POST,/agent,HTTPError('503'),1,,",
            ],
        )
    )
    assert (stats.runs, stats.failed_runs) == (200, 3)
    assert stats.error_rate == pytest.approx(0.015)
    assert stats.events is not None
    assert (stats.events.count, stats.events.p95_ms, stats.events.per_s) == (15_000, 12.0, 2500.0)
    assert stats.first_event is not None
    assert stats.first_event.p95_ms == 40.0
    assert stats.runs_per_s == pytest.approx(6.6)
    assert stats.run_mean_ms == pytest.approx((150 * 1100 + 50 * 12) / 200)
    assert stats.concurrent_streams == pytest.approx(6.6 * stats.run_mean_ms / 1000)
    # Only failed runs count, and the exception's repr is unwrapped to the reason.
    assert stats.failure_reasons == (
        ("stream ended without RUN_FINISHED (last event TEXT_MESSAGE_CONTENT)", 3),
    )


def test_stats_without_any_event(tmp_path: Path) -> None:
    prefix = write_csv(tmp_path, runs=60, failed=10)
    path = tmp_path / "locust_stats.csv"
    kept = [line for line in path.read_text().splitlines() if "event_latency" not in line]
    path.write_text("\n".join(kept) + "\n")
    stats = read_locust_stats(prefix)
    assert stats.events is None


def test_na_percentile_is_none(tmp_path: Path) -> None:
    stats = read_locust_stats(write_csv(tmp_path, p95="N/A"))
    assert stats.events is not None
    assert stats.events.p95_ms is None


def _corrupt(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda p: p.unlink(), "does not exist"),
        (lambda p: p.write_text(""), "is not a Locust CSV (no column 'Type')"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "cannot be read"),
        (lambda p: _corrupt(p, ",95%,", ",95th,"), "no column '95%'"),
        (lambda p: _corrupt(p, "SSE,event_latency,15000", "SSE,event_latency,lots"), "'lots'"),
        (lambda p: _corrupt(p, "SSE,event_latency,15000,0,3,", "SSE,event_latency,"), "fields"),
        (lambda p: _corrupt(p, ",2500.0,", ",inf,"), "'inf'"),
        (lambda p: _corrupt(p, "run burst,50,0", "run burst,50,51"), "51 failures of 50"),
    ],
)
def test_unusable_csv_is_one_line_error(tmp_path: Path, damage: object, fragment: str) -> None:
    prefix = write_csv(tmp_path)
    assert callable(damage)
    damage(tmp_path / "locust_stats.csv")
    with pytest.raises(GateError) as info:
        read_locust_stats(prefix)
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_csv_without_runs_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "locust_stats.csv").write_text(
        HEADER + "\n" + row("", "Aggregated", 0, 0, 0.0, 0.0, "N/A") + "\n"
    )
    with pytest.raises(GateError, match="no finished SSE run"):
        read_locust_stats(tmp_path / "locust")


# --- verdict --------------------------------------------------------------------------------


def _stats(
    *, p95: float | None = 12.0, failed: int = 0, per_s: float = 2500.0, events: bool = True
) -> LoadStats:
    latency = RowStats(15_000, 0, 3.0, 40.0, 120.0, per_s, 2.0, p95, 20.0)
    return LoadStats(
        runs=200,
        failed_runs=failed,
        runs_per_s=6.6,
        run_mean_ms=800.0,
        bytes_received=1e6,
        events=latency if events else None,
        first_event=None,
        good_runs=190 - failed if failed < 190 else 0,
    )


def test_all_budgets_met_is_a_pass() -> None:
    verdict = check_load(_stats(), BUDGETS)
    assert verdict.outcome is Outcome.PASS
    assert verdict.exit_code == 0
    assert [row.passed for row in verdict.rows] == [True, True, True]
    assert [row.margin for row in verdict.rows] == [288.0, 0.05, 2400.0]
    assert verdict.headline.startswith("PASS: all 3 load budgets met")
    assert verdict.headline.endswith("; goodput 95.0 % (6.27 runs/s)")


@pytest.mark.parametrize(
    ("stats", "breached"),
    [
        (_stats(p95=301.0), "latency_p95_ms"),
        (_stats(failed=11), "error_rate_max"),
        (_stats(per_s=99.0), "throughput_events_per_s_min"),
    ],
)
def test_one_breach_fails(stats: LoadStats, breached: str) -> None:
    verdict = check_load(stats, BUDGETS)
    assert verdict.outcome is Outcome.BREACH
    assert verdict.exit_code == 1
    assert [row.budget for row in verdict.rows if not row.passed] == [breached]
    assert verdict.headline.startswith("BREACH: 1 of 3 load budgets breached")


def test_limits_are_inclusive() -> None:
    verdict = check_load(_stats(p95=300.0, failed=10, per_s=100.0), BUDGETS)
    assert verdict.outcome is Outcome.PASS


def test_no_event_measured_is_a_breach_not_a_pass() -> None:
    verdict = check_load(_stats(events=False, failed=200), BUDGETS)
    latency = verdict.rows[0]
    assert (latency.actual, latency.margin, latency.passed) == (None, None, False)
    assert verdict.exit_code == 1
    assert "event latency, p95 not measured" in verdict.headline


def test_markdown_starts_with_the_one_line_verdict() -> None:
    verdict = check_load(_stats(p95=350.0), BUDGETS, {"users": 100})
    text = render_markdown(verdict)
    first, second = text.splitlines()[:2]
    assert first == f"**{verdict.headline}**"
    assert second == ""
    assert (
        "| event latency, p95 (`latency_p95_ms`) | ≤ 300 ms | 350 ms | × 1.17 over budget "
        "| FAIL |" in (text)
    )
    assert (
        "| error rate (failed runs) (`error_rate_max`) | ≤ 5.00 % | 0.00 % "
        "| under budget (actual 0) | pass |" in (text)
    )
    assert "| throughput (`throughput_events_per_s_min`) | ≥ 100 events/s | 2,500 events/s " in (
        text
    )
    assert "| × 25 above the minimum | pass |" in text
    assert "| users | 100 |" in text


def test_verdict_files(tmp_path: Path) -> None:
    verdict = check_load(_stats(), BUDGETS, {"users": 10})
    markdown = write_verdict(verdict, tmp_path)
    assert (tmp_path / "verdict.md").read_text(encoding="utf-8") == markdown
    data = json.loads((tmp_path / "verdict.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(verdict_to_json(verdict)))
    assert data["outcome"] == "pass"
    assert data["budgets"][0]["budget"] == "latency_p95_ms"
    assert data["stats"]["error_rate"] == 0.0
    assert data["context"] == {"users": 10}
    assert "latency.svg" in markdown
    assert (tmp_path / "latency.svg").read_text(encoding="utf-8").startswith("<svg")


def test_latency_chart_of_both_distributions(tmp_path: Path) -> None:
    first = RowStats(200, 0, 45.0, 180.0, 900.0, 6.6, 40.0, 90.0, 150.0)
    verdict = check_load(replace(_stats(p95=12.0), first_event=first), BUDGETS)
    series = latency_series(verdict)
    assert [(s.name, dict(s.limits)) for s in series] == [
        ("event latency", {"p95": 300.0}),  # the budget holds the events only
        ("time to first event", {}),
    ]
    assert series[0].values == {"mean": 3.0, "max": 40.0, "p50": 2.0, "p95": 12.0, "p99": 20.0}
    write_verdict(verdict, tmp_path)
    svg = (tmp_path / "latency.svg").read_text(encoding="utf-8")
    assert "event latency — p95 × 25 under budget" in svg
    assert "time to first event" in svg
    assert "p95 budget ≤ 300 ms" in svg
    assert 'id="chart-agui-perf-load-latency"' in svg


def test_no_latency_measured_no_chart(tmp_path: Path) -> None:
    verdict = check_load(_stats(events=False), BUDGETS)
    assert latency_series(verdict) == []
    write_verdict(verdict, tmp_path)
    assert not (tmp_path / "latency.svg").exists()


# --- goodput --------------------------------------------------------------------------------


def test_goodput_from_locust_csv(tmp_path: Path) -> None:
    prefix = write_csv(
        tmp_path, runs=200, failed=4, good=150, over={"workflow_s": 6, "latency_p95_ms": 40}
    )
    stats = read_locust_stats(prefix)
    assert stats.good_runs == 150
    assert stats.goodput_ratio == pytest.approx(0.75)
    # One time base with the runs' rate: the good share of it.
    assert stats.goodput_per_s == pytest.approx(6.6 * 0.75)
    assert stats.over_budget == (("latency_p95_ms", 40), ("workflow_s", 6))


def test_no_good_run_is_zero_goodput(tmp_path: Path) -> None:
    stats = read_locust_stats(write_csv(tmp_path, runs=60, failed=10, good=0))
    assert (stats.good_runs, stats.goodput_ratio, stats.goodput_per_s) == (0, 0.0, 0.0)


def test_more_good_runs_than_runs_is_unusable(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="201 good runs of 200 runs"):
        read_locust_stats(write_csv(tmp_path, runs=200, good=201))


def test_goodput_in_the_report_and_json(tmp_path: Path) -> None:
    budgets = replace(BUDGETS, per_run={"latency_p95_ms": 300.0, "workflow_s": 10.0})
    stats = replace(_stats(), good_runs=150, over_budget=(("workflow_s", 50),))
    verdict = check_load(stats, budgets)
    text = render_markdown(verdict)
    assert (
        "| goodput (good runs: RUN_FINISHED, ordering rules kept, each run within "
        "`latency_p95_ms` ≤ 300, `workflow_s` ≤ 10) | 4.95 good runs/s, 150 of 200 runs "
        "(75.0 %) |" in text
    )
    assert "- 50 x `workflow_s`" in text
    assert verdict.headline.endswith("; goodput 75.0 % (4.95 runs/s)")
    write_verdict(verdict, tmp_path)
    data = json.loads((tmp_path / "verdict.json").read_text(encoding="utf-8"))
    assert data["stats"]["good_runs"] == 150
    assert data["stats"]["goodput_ratio"] == 0.75
    assert data["stats"]["goodput_per_s"] == pytest.approx(4.95)
    assert data["stats"]["over_budget"] == [["workflow_s", 50]]
    assert data["per_run_budgets"] == {"latency_p95_ms": 300.0, "workflow_s": 10.0}


def test_without_per_run_budgets_the_report_says_so() -> None:
    text = render_markdown(check_load(_stats(), BUDGETS))
    assert "| goodput (good runs: RUN_FINISHED, ordering rules kept, no per-run budget set) |" in (
        text
    )
