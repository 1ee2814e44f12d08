"""Instruction counts with fake numbers: the comparison's every state, the Results JSON, the
verdict and the report sections."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import pytest

from agui_perf.gate.decide.budgets import check_budgets
from agui_perf.gate.decide.compare import compare
from agui_perf.gate.decide.count_compare import (
    REPEATABILITY,
    CountsComparison,
    CountState,
    compare_counts,
    count_state,
)
from agui_perf.gate.decide.verdict import AcceptedState, Overall, Verdict, decide
from agui_perf.gate.errors import GateError
from agui_perf.gate.report.html import render_html
from agui_perf.gate.report.markdown import render_markdown
from agui_perf.gate.store.config import Settings
from agui_perf.gate.store.results import (
    CountResult,
    Counts,
    Results,
    results_from_json,
    results_to_json,
)
from tests._support.results import make_env, make_results

SETTINGS = Settings(min_effect=0.10, min_effect_overrides={"test_noisy": 0.25, "test_exact": 0.0})
TOOL = "valgrind-3.19.0"
BASE = 1_100_000  # instructions per call on the baseline side (a multiple of 11: 1/1.1 is exact)


def counted(per_call: dict[str, int | Fraction], *, calls: int = 20, tool: str = TOOL) -> Counts:
    """Counts of `calls` calls whose instructions per call are `per_call` (exact)."""
    benchmarks = {}
    for name, value in per_call.items():
        total = Fraction(value) * calls
        assert total.denominator == 1, "pick a per-call value that is exact over the calls"
        benchmarks[name] = CountResult(name, int(total), calls)
    return Counts(benchmarks=benchmarks, tool=tool, missing=None)


def side(counts: Counts, **env: object) -> Results:
    return dataclasses.replace(make_results({"x": [1.0]}, env=make_env(**env)), counts=counts)


def row_state(change: Fraction, name: str = "test_a", *, accepted: bool = True) -> CountState:
    base = side(counted({name: BASE}))
    cur = side(counted({name: BASE * (1 + change)}))
    [row] = compare_counts(base, cur, SETTINGS, accepted_found=accepted).rows
    assert row.change == pytest.approx(float(change))
    return row.state


@pytest.mark.parametrize(
    ("change", "state"),
    [
        (Fraction(0), CountState.UNCHANGED),
        (Fraction(9, 1000), CountState.UNCHANGED),  # inside the repeatability (1 %)
        (Fraction(-9, 1000), CountState.UNCHANGED),
        (Fraction(10, 1000), CountState.UNCHANGED),  # at it: not beyond
        (Fraction(11, 1000), CountState.SLOWER),
        (Fraction(-11, 1000), CountState.FASTER),
        (Fraction(2, 100), CountState.SLOWER),  # a 2 % change is always reported
        (Fraction(-2, 100), CountState.FASTER),
        (Fraction(99, 1000), CountState.SLOWER),  # under the minimum effect: a warning
        (Fraction(10, 100), CountState.REGRESSION),  # a change of min_effect fails
        (Fraction(50, 100), CountState.REGRESSION),
        (Fraction(-9, 100), CountState.FASTER),  # 1/1.1 is -9.09 %
        (Fraction(1, 11) * -1, CountState.IMPROVEMENT),  # exactly 1 / (1 + min_effect)
        (Fraction(-30, 100), CountState.IMPROVEMENT),
    ],
)
def test_each_threshold(change: Fraction, state: CountState) -> None:
    assert row_state(change) is state


def test_thresholds_are_exact_rational_arithmetic() -> None:
    # 1.1 is not exact in binary; the comparison is: +10 % of 1_000_000 is a regression.
    assert count_state(Fraction(1_100_000, 1_000_000), 0.10) is CountState.REGRESSION
    assert count_state(Fraction(1_099_999, 1_000_000), 0.10) is CountState.SLOWER
    assert count_state(Fraction(1_010_001, 1_000_000), 0.10) is CountState.SLOWER
    assert count_state(Fraction(1_010_000, 1_000_000), 0.10) is CountState.UNCHANGED


def test_per_benchmark_overrides_apply() -> None:
    # test_noisy's minimum effect is 25 %: +15 % is a warning there, a failure elsewhere.
    assert row_state(Fraction(15, 100), "test_noisy") is CountState.SLOWER
    assert row_state(Fraction(15, 100), "test_other") is CountState.REGRESSION
    assert row_state(Fraction(25, 100), "test_noisy") is CountState.REGRESSION
    # An override of 0 fails on any change beyond the repeatability, never on none.
    assert row_state(Fraction(0), "test_exact") is CountState.UNCHANGED
    assert row_state(Fraction(9, 1000), "test_exact") is CountState.UNCHANGED
    assert row_state(Fraction(11, 1000), "test_exact") is CountState.REGRESSION
    assert row_state(Fraction(-11, 1000), "test_exact") is CountState.IMPROVEMENT


def test_counts_are_compared_per_call_whatever_the_number_of_calls() -> None:
    base = side(counted({"test_a": BASE}, calls=10))
    cur = side(counted({"test_a": BASE}, calls=40))
    [row] = compare_counts(base, cur, SETTINGS, accepted_found=True).rows
    assert row.state is CountState.UNCHANGED
    assert row.change == 0.0


def test_new_and_removed() -> None:
    base = side(counted({"test_a": BASE, "test_gone": 5000}))
    cur = side(counted({"test_a": BASE, "test_added": 7000}))
    result = compare_counts(base, cur, SETTINGS, accepted_found=True)
    assert [(r.benchmark, r.state) for r in result.rows] == [
        ("test_a", CountState.UNCHANGED),
        ("test_added", CountState.NEW),
        ("test_gone", CountState.REMOVED),
    ]
    added = result.rows[1]
    assert added.baseline is None
    assert added.current is not None
    assert added.change is None
    assert result.measured
    assert not result.regressions
    assert result.summary() == "instruction counts: 1 unchanged, 1 new, 1 removed"


@pytest.mark.parametrize(
    ("base", "cur", "reason"),
    [
        (Counts(missing="valgrind not found"), Counts(missing="valgrind not found"), "valgrind"),
        (Counts(missing="not in the baseline"), counted({"test_a": BASE}), "not in the baseline"),
        (counted({"test_a": BASE}), Counts(missing="valgrind not found"), "valgrind not found"),
    ],
)
def test_a_side_without_counts_is_not_measured(base: Counts, cur: Counts, reason: str) -> None:
    result = compare_counts(side(base), side(cur), SETTINGS, accepted_found=True)
    assert not result.measured
    assert reason in result.reason
    assert all(r.state is CountState.NOT_MEASURED for r in result.rows)
    assert not result.regressions
    assert result.summary() == f"instruction counts: not measured ({result.reason})"


def test_not_measured_says_so_plainly() -> None:
    missing = Counts(missing="valgrind not found")
    result = compare_counts(side(missing), side(missing), SETTINGS, accepted_found=True)
    assert result.rows == ()
    assert result.summary() == "instruction counts: not measured (valgrind not found)"


def test_counts_of_two_valgrind_versions_are_not_compared() -> None:
    base = side(counted({"test_a": BASE}, tool="valgrind-3.18.1"))
    cur = side(counted({"test_a": BASE * 2}))
    result = compare_counts(base, cur, SETTINGS, accepted_found=True)
    assert [r.state for r in result.rows] == [CountState.NOT_COMPARABLE]
    assert "valgrind-3.18.1 and valgrind-3.19.0" in result.reason
    assert not result.regressions
    assert result.summary().startswith("instruction counts: not comparable (")


def test_stored_counts_count_only_from_an_identical_environment() -> None:
    base = side(counted({"test_a": BASE}))
    cur_same = side(counted({"test_a": BASE * 2}))
    same = compare_counts(base, cur_same, SETTINGS, accepted_found=False)
    # Like memory: with the fingerprint identical, stored counts are compared and can fail.
    assert [r.state for r in same.rows] == [CountState.REGRESSION]
    other = side(counted({"test_a": BASE * 2}), python_version="3.11.9")
    elsewhere = compare_counts(base, other, SETTINGS, accepted_found=False)
    assert [r.state for r in elsewhere.rows] == [CountState.NOT_COMPARABLE]
    assert "another environment" in elsewhere.reason
    assert "3.11.9" in elsewhere.reason
    # Measured here, beside each other, the fingerprint is this machine's on both sides.
    here = compare_counts(base, other, SETTINGS, accepted_found=True)
    assert [r.state for r in here.rows] == [CountState.REGRESSION]


def test_repeatability_is_below_the_smallest_change_that_must_be_reported() -> None:
    assert REPEATABILITY < 0.02
    assert count_state(Fraction(102, 100), 0.10) is CountState.SLOWER
    assert count_state(Fraction(100, 102), 0.10) is CountState.FASTER


# --- Results JSON ---------------------------------------------------------------------------


def test_results_json_round_trips_counts() -> None:
    results = side(counted({"test_a": BASE, "test_b[x]": 12_345}))
    obj = results_to_json(results)
    assert obj["counts"] == {
        "tool": TOOL,
        "missing": None,
        "benchmarks": {
            "test_a": {"instructions": 20 * BASE, "calls": 20},
            "test_b[x]": {"instructions": 20 * 12_345, "calls": 20},
        },
    }
    assert results_from_json(json.loads(json.dumps(obj))) == results


def test_a_version_1_results_file_is_read_without_counts() -> None:
    obj = results_to_json(side(counted({"test_a": BASE})))
    del obj["counts"]
    obj["schema_version"] = 1
    read = results_from_json(obj)
    assert read.counts == Counts(missing="not in the results file (schema version 1)")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"instructions": 0, "calls": 1}, "instruction count 'test_a' field 'instructions'"),
        ({"instructions": 5, "calls": 0}, "instruction count 'test_a' field 'calls'"),
        ({"instructions": 1.5, "calls": 1}, "field 'instructions' should be an integer"),
        ({"calls": 1}, "instruction count 'test_a' has no field 'instructions'"),
    ],
)
def test_malformed_counts_are_one_line(entry: dict[str, object], message: str) -> None:
    obj = results_to_json(side(counted({"test_a": BASE})))
    counts = obj["counts"]
    assert isinstance(counts, dict)
    counts["benchmarks"]["test_a"] = entry
    with pytest.raises(GateError, match=message) as err:
        results_from_json(obj, origin="results 'r.json'")
    assert str(err.value).startswith("results 'r.json'")
    assert "\n" not in str(err.value)


# --- the verdict and the report -----------------------------------------------------------

ACCEPTED = AcceptedState(found=True, baseline_path="baselines/x.json", commit="a" * 40)


def verdict_for(counts: CountsComparison | None) -> Verdict:
    results = make_results({"test_a": [1.0, 1.0, 1.0]})
    comparison = compare(results, results, SETTINGS, accepted_found=True)
    return decide(comparison, check_budgets(results, {}), ACCEPTED, SETTINGS, counts=counts)


def comparison_of(change: Fraction, name: str = "test_a") -> CountsComparison:
    return compare_counts(
        side(counted({name: BASE})),
        side(counted({name: BASE * (1 + change)})),
        SETTINGS,
        accepted_found=True,
    )


def test_a_count_regression_fails_the_run() -> None:
    verdict = verdict_for(comparison_of(Fraction(15, 100)))
    assert verdict.overall is Overall.FAIL
    assert verdict.exit_code() == 1
    assert verdict.headline == "FAIL: 1 instruction-count regression (test_a +15.0 %)"
    counts = verdict.to_json()["counts"]
    assert isinstance(counts, dict)
    [row] = counts["rows"]
    assert row["state"] == "regression"
    assert row["failing"] is True
    assert row["baseline"] == {"instructions": 20 * BASE, "calls": 20}
    assert row["change"] == pytest.approx(0.15)


def test_a_slower_count_is_a_warning_that_passes() -> None:
    verdict = verdict_for(comparison_of(Fraction(2, 100)))
    assert verdict.overall is Overall.PASS
    assert verdict.headline.endswith("; instruction counts: 1 slower (a warning, not a failure)")
    markdown = render_markdown(verdict)
    assert "### Instruction counts" in markdown
    assert "| test\\_a | 1,100,000 | 1,122,000 | +2.0 % | 🟡 slower |" in markdown


def test_unchanged_counts_pass_quietly() -> None:
    verdict = verdict_for(comparison_of(Fraction(0)))
    assert verdict.overall is Overall.PASS
    assert "instruction counts" not in verdict.headline
    markdown = render_markdown(verdict)
    assert "All 1 counted benchmarks are unchanged." in markdown
    assert "beyond ±1 % (the counts' repeatability)" in markdown


def test_without_valgrind_the_verdict_says_not_measured() -> None:
    missing = Counts(missing="valgrind not found")
    counts = compare_counts(side(missing), side(missing), SETTINGS, accepted_found=True)
    verdict = verdict_for(counts)
    assert verdict.overall is Overall.PASS
    assert verdict.headline.endswith("; instruction counts: not measured (valgrind not found)")
    line = "Instruction counts: not measured (valgrind not found)."
    assert line in render_markdown(verdict)
    assert line in render_html(verdict)
    stored = verdict.to_json()["counts"]
    assert isinstance(stored, dict)
    assert stored["measured"] is False
    assert stored["summary"] == "instruction counts: not measured (valgrind not found)"


def test_a_verdict_without_counts_has_no_counts_section() -> None:
    verdict = verdict_for(None)
    assert verdict.to_json()["counts"] is None
    assert "Instruction counts" not in render_markdown(verdict)
    assert 'id="counts"' not in render_html(verdict)


def test_benchmark_names_are_escaped_in_both_reports() -> None:
    verdict = verdict_for(comparison_of(Fraction(15, 100), name="test_<b>|x"))
    assert "test\\_\\<b\\>\\|x" in render_markdown(verdict)
    page = render_html(verdict)
    assert "test_&lt;b&gt;|x" in page
    assert "<b>|x" not in page
