from __future__ import annotations

import json

import numpy as np

from agui_perf.gate.budgets import BudgetStatus, check_budgets
from agui_perf.gate.compare import Comparison, compare
from agui_perf.gate.config import Settings
from agui_perf.gate.errors import GateError
from agui_perf.gate.verdict import (
    VERDICT_SCHEMA_VERSION,
    AcceptedState,
    Overall,
    Verdict,
    decide,
    error_verdict,
)
from tests.gate.test_results import make_memory, make_results

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
    row = obj["benchmarks"][0]
    assert row["name"] == "a"
    assert row["state"] == "regression"
    assert row["significant"] is True
    assert row["statistic"].startswith("one-sided Mann-Whitney U (current slower), Holm")
    assert len(row["current_samples"]) == 8
    assert obj["memory"][0]["scenario"] == "m"
    assert obj["memory"][0]["state"] == "unchanged"
    assert obj["budgets"][0]["status"] in {"pass", "not measured"}


def test_exit_codes_come_from_the_overall_state() -> None:
    for overall, code in [(Overall.PASS, 0), (Overall.FAIL, 1), (Overall.ERROR, 2)]:
        assert Verdict(overall, "", None, (), None, None).exit_code() == code
