from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from agui_perf.gate.decide.budgets import BudgetStatus, check_budgets
from agui_perf.gate.decide.compare import Comparison, compare
from agui_perf.gate.decide.verdict import (
    VERDICT_SCHEMA_VERSION,
    AcceptedState,
    Overall,
    Verdict,
    decide,
    error_verdict,
)
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.config import Settings
from tests._support.results import make_memory, make_results

SETTINGS = Settings(budgets={"latency_p95_ms": 300.0, "error_rate_max": 0.05})
FOUND = AcceptedState(
    found=True,
    baseline_path="baselines/linux-x86_64-cpython3.11.json",
    commit="c" * 40,
    date="2026-11-01T10:00:00+00:00",
    subject="perf: accept faster encoder",
)
LOST = AcceptedState(
    found=False,
    baseline_path="baselines/linux-x86_64-cpython3.11.json",
    reason="shallow clone: git log found no commit touching the baseline",
)


def _samples(center: float, seed: int) -> list[float]:
    return list(center * np.random.default_rng(seed).lognormal(0.0, 0.02, 8))


def _compare(
    shift: float = 1.0, *, peak: int = 1_000_000, accepted_found: bool = True
) -> Comparison:
    base = make_results({"a": _samples(1.0, 1), "b": _samples(2.0, 2)}, [make_memory("m")])
    cur = make_results(
        {"a": _samples(shift, 3), "b": _samples(2.0, 4)}, [make_memory("m", peak_bytes=peak)]
    )
    return compare(base, cur, SETTINGS, accepted_found=accepted_found)


def _verdict(
    comparison: Comparison, p95: float = 100.0, accepted: AcceptedState = FOUND
) -> Verdict:
    current = make_results({"lat": [1.0]}, extra_info={"lat": {"latency_p95_ms": p95}})
    return decide(comparison, check_budgets(current, SETTINGS.budgets), accepted, SETTINGS)


def test_pass() -> None:
    verdict = _verdict(_compare())
    assert verdict.overall is Overall.PASS
    assert verdict.exit_code() == 0
    assert verdict.headline == "PASS: no failing regression — 2 unchanged"


def test_improvement_and_new_pass() -> None:
    verdict = _verdict(_compare(0.8))
    assert verdict.exit_code() == 0
    assert verdict.headline == "PASS: no failing regression — 1 improvement, 1 unchanged"


def test_timing_regression_fails() -> None:
    verdict = _verdict(_compare(1.3))
    assert verdict.overall is Overall.FAIL
    assert verdict.exit_code() == 1
    assert verdict.headline.startswith("FAIL: 1 timing regression (a +")


def test_advisory_regression_passes_and_says_why() -> None:
    verdict = _verdict(_compare(1.3, accepted_found=False), accepted=LOST)
    assert verdict.exit_code() == 0
    assert "1 regression" in verdict.headline
    assert verdict.headline.endswith(
        "— accepted commit not found (shallow clone: git log found no commit touching the "
        "baseline): timing is advisory"
    )


def test_memory_regression_fails() -> None:
    verdict = _verdict(_compare(peak=1_100_000))
    assert verdict.exit_code() == 1
    assert verdict.headline == "FAIL: 1 memory regression (m)"


def test_budget_breach_fails() -> None:
    verdict = _verdict(_compare(), p95=301.0)
    assert verdict.exit_code() == 1
    assert verdict.headline == "FAIL: 1 budget breach (latency_p95_ms on lat)"
    statuses = {b.budget: b.status for b in verdict.budgets}
    assert statuses == {
        "latency_p95_ms": BudgetStatus.FAIL,
        "error_rate_max": BudgetStatus.NOT_MEASURED,
    }


def test_all_failures_are_listed() -> None:
    verdict = _verdict(_compare(1.3, peak=2_000_000), p95=400.0)
    assert verdict.headline.count(";") == 2


def test_error_verdict() -> None:
    verdict = error_verdict(GateError("baseline 'x.json' is empty — run nox -s update-baseline"))
    assert verdict.overall is Overall.ERROR
    assert verdict.exit_code() == 2
    assert verdict.headline == "ERROR: baseline 'x.json' is empty — run nox -s update-baseline"
    obj = verdict.to_json()
    assert obj["exit_code"] == 2
    assert obj["benchmarks"] == []
    assert obj["settings"] is None
    json.dumps(obj, allow_nan=False)


def test_to_json_is_complete_and_plain() -> None:
    verdict = _verdict(_compare(1.3))
    obj = json.loads(json.dumps(verdict.to_json(), allow_nan=False))
    assert obj["schema_version"] == VERDICT_SCHEMA_VERSION
    assert obj["overall"] == "fail"
    assert obj["exit_code"] == 1
    assert obj["accepted"]["subject"] == "perf: accept faster encoder"
    assert obj["settings"]["budgets"] == {"error_rate_max": 0.05, "latency_p95_ms": 300.0}
    assert obj["family_size"] == 2
    assert obj["rule"]["name"] == "sequential rank-interval rule"
    assert obj["rule"]["bound_level"] == 0.005  # alpha / 2 benchmarks
    assert (obj["rule"]["floor_fraction"], obj["rule"]["pivot_fraction"]) == (0.5, 0.875)
    assert obj["rule"]["power"] == 0.95
    assert (obj["rule"]["first_pass_processes"], obj["rule"]["extension_processes"]) == (8, 16)
    assert obj["rule"]["text"].startswith("The sequential rank-interval rule: a regression")
    row = obj["benchmarks"][0]
    assert row["name"] == "a"
    assert row["state"] == "regression"
    assert row["failing"] is True
    assert row["significant"] is True
    assert row["statistic"].startswith("one-sided Mann-Whitney U (current slower), Holm")
    assert row["reason"].startswith("slower by ~")
    assert len(row["current_samples"]) == 8
    assert row["interval"][0] > row["floor"] == 1.05
    assert row["pivot"] == 1.0875
    assert row["bound_level"] == 0.005
    assert 0.0 < row["spread"] < 0.05
    assert 0.08 < row["detectable"] < 0.15
    assert row["extended"] is False
    assert row["first_pass"] is None
    assert obj["memory"][0]["scenario"] == "m"
    assert obj["memory"][0]["state"] == "unchanged"
    assert obj["budgets"][0]["status"] in {"pass", "not measured"}


def test_slower_and_faster_pass_and_are_counted() -> None:
    base = make_results({"a": _samples(1.0, 1), "b": _samples(1.0, 2), "c": _samples(1.0, 5)})
    cur = make_results({"a": _samples(1.06, 3), "b": _samples(0.94, 4), "c": _samples(1.0, 6)})
    verdict = _verdict(compare(base, cur, SETTINGS, accepted_found=True))
    assert verdict.exit_code() == 0
    assert verdict.headline == "PASS: no failing regression — 1 slower, 1 faster, 1 unchanged"
    states = {row["name"]: row["state"] for row in verdict.to_json()["benchmarks"]}  # type: ignore[attr-defined]
    assert states == {"a": "slower", "b": "faster", "c": "unchanged"}


def test_an_extended_row_carries_its_first_pass() -> None:
    first = _compare(1.3)
    row = first.benchmark("a")
    pooled = replace(
        row,
        baseline_samples=row.baseline_samples * 3,
        current_samples=row.current_samples * 3,
        first_pass=row,
    )
    comparison = replace(first, benchmarks=(pooled, *first.benchmarks[1:]))
    obj = json.loads(json.dumps(_verdict(comparison).to_json(), allow_nan=False))
    out = obj["benchmarks"][0]
    assert out["extended"] is True
    assert len(out["current_samples"]) == 24
    assert len(out["first_pass"]["current_samples"]) == 8
    assert out["first_pass"]["first_pass"] is None


def test_exit_codes_come_from_the_overall_state() -> None:
    for overall, code in [(Overall.PASS, 0), (Overall.FAIL, 1), (Overall.ERROR, 2)]:
        assert Verdict(overall, "", None, (), None, None).exit_code() == code
