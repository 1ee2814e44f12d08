"""gate.pipeline's count stage with a fake counts hook, on test_pipeline's toy repository.

The fake decides what each side "counted"; the repository, the worktree, the baseline file
and the report are real. tests/gate/test_counts.py counts for real.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.decide.count_compare import CountState
from agui_perf.gate.decide.verdict import Overall
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure import counts as count_runs
from agui_perf.gate.pipeline import Hooks, github_annotations, perf, update_baseline
from agui_perf.gate.progress import LOGGER
from agui_perf.gate.report.markdown import render_markdown
from agui_perf.gate.store.baseline import baseline_to_json, read_baseline
from agui_perf.gate.store.results import CountResult, Counts
from tests._support.toy import (
    BASELINE,
    KEY,
    Fake,
    options,
    plain_copy,
    steady,
    stored_results,
    toy_repo,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from agui_perf.gate.measure.counts import CountRequest
    from agui_perf.gate.measure.runner import Side
    from agui_perf.gate.store.results import MemoryResult

TOOL = "valgrind-3.19.0"


def counts_of(per_call: Mapping[str, int], calls: int = 20) -> Counts:
    return Counts(
        benchmarks={n: CountResult(n, v * calls, calls) for n, v in per_call.items()},
        tool=TOOL,
        missing=None,
    )


@dataclass
class FakeCounts:
    """What each side "counted", and every request the pipeline made."""

    per_side: Mapping[str, Counts]
    requests: list[CountRequest] = field(default_factory=list)

    def __call__(self, request: CountRequest) -> dict[str, Counts]:
        self.requests.append(request)
        return {side.label: self.per_side[side.label] for side in request.sides}


def hooks(
    fake: Fake,
    counts: Callable[[CountRequest], Mapping[str, Counts]],
    env: Mapping[str, str] | None = None,
) -> Hooks:
    return replace(fake.hooks(env), counts=counts)


def both(accepted: int, current: int) -> FakeCounts:
    return FakeCounts(
        {
            "accepted": counts_of({"test_sum": accepted, "test_join": 5000}),
            "current": counts_of({"test_sum": current, "test_join": 5000}),
        }
    )


def test_both_sides_are_counted_in_one_stage_and_a_regression_fails(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    counts = both(100_000, 115_000)
    verdict = perf(options(root, keyword="test_"), hooks(Fake(steady(1e-3, 1e-3)), counts))

    [request] = counts.requests
    assert [s.label for s in request.sides] == ["accepted", "current"]
    assert request.out_dir == root.resolve() / ".perf" / "runs" / "perf" / "counts"
    assert request.options.keyword == "test_"
    assert isinstance(request.cancel, threading.Event)
    assert not request.cancel.is_set()
    assert verdict.overall is Overall.FAIL
    assert verdict.exit_code() == 1
    assert verdict.headline == "FAIL: 1 instruction-count regression (test_sum +15.0 %)"
    assert verdict.counts is not None
    assert {r.benchmark: r.state for r in verdict.counts.rows} == {
        "test_join": CountState.UNCHANGED,
        "test_sum": CountState.REGRESSION,
    }
    # Timing is unchanged: only the counts failed the run.
    assert all(b.state.value == "unchanged" for b in verdict.benchmarks)
    [annotation] = github_annotations(verdict)
    assert annotation.level == "error"
    assert annotation.title == "Instruction count regression: test_sum"
    assert annotation.message.startswith("+15.00 % instructions per call")
    out = root / ".perf" / "report"
    stored = json.loads((out / "results-current.json").read_text())
    assert stored["counts"]["benchmarks"]["test_sum"] == {"instructions": 2_300_000, "calls": 20}
    accepted = json.loads((out / "results-accepted.json").read_text())
    assert accepted["counts"]["benchmarks"]["test_sum"]["instructions"] == 2_000_000


def test_a_two_percent_change_is_a_warning_that_passes(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "output.txt")}
    verdict = perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), both(100_000, 102_000), env))
    assert verdict.overall is Overall.PASS
    assert verdict.headline.endswith("instruction counts: 1 slower (a warning, not a failure)")
    [annotation] = github_annotations(verdict)
    assert annotation.level == "warning"
    assert annotation.title == "Instruction count slower: test_sum"
    assert "count-regressions<<" in (tmp_path / "output.txt").read_text()


def test_unchanged_counts_pass(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    verdict = perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), both(100_000, 100_000)))
    assert verdict.overall is Overall.PASS
    assert verdict.counts is not None
    assert [r.state for r in verdict.counts.rows] == [CountState.UNCHANGED] * 2
    assert github_annotations(verdict) == []


def test_without_valgrind_the_verdict_says_so_and_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    def unavailable(request: CountRequest) -> dict[str, Counts]:
        raise count_runs.CountsUnavailable(count_runs.VALGRIND_NOT_FOUND)

    monkeypatch.setattr(count_runs, "count_sides", unavailable)
    root, _ = toy_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    # The default hook: what a machine without valgrind runs.
    verdict = perf(options(root), replace(fake.hooks(), counts=Hooks().counts))
    assert verdict.overall is Overall.PASS
    assert verdict.headline.endswith("; instruction counts: not measured (valgrind not found)")
    assert "Instruction counts: not measured (valgrind not found)." in render_markdown(verdict)
    assert "instruction counts: not measured (valgrind not found)" in caplog.messages
    stored = json.loads((root / ".perf" / "report" / "results-current.json").read_text())
    assert stored["counts"] == {"tool": "", "missing": "valgrind not found", "benchmarks": {}}


def test_a_failing_memory_stage_stops_the_counts(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    seen: list[bool] = []

    def counts(request: CountRequest) -> dict[str, Counts]:
        assert request.cancel is not None
        # Waits on the event, as the real runs do: set when the memory stage fails.
        seen.append(request.cancel.wait(timeout=60))
        raise count_runs.CountsError("instruction counts of the current code were stopped")

    def memory(side: Side, out: Path) -> dict[str, MemoryResult]:
        raise GateError("memory scenario 'toy_alloc' failed (exit 1): boom")

    fake = Fake(steady(1e-3, 1e-3))
    broken = dataclasses.replace(fake.hooks(), memory=memory, counts=counts)
    with pytest.raises(GateError, match="memory scenario 'toy_alloc' failed"):
        perf(options(root), broken)
    assert seen == [True]


def test_a_failing_count_stage_is_unusable_input(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)

    def counts(request: CountRequest) -> dict[str, Counts]:
        raise count_runs.CountsError("instruction counts of the current code failed (exit 1)")

    with pytest.raises(GateError, match=r"instruction counts of the current code failed"):
        perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), counts))


# --- without the accepted commit: the stored counts ------------------------------------------


def test_a_version_1_baseline_reports_its_counts_not_in_the_baseline(tmp_path: Path) -> None:
    root = plain_copy(tmp_path, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    doc = baseline_to_json(read_baseline(root / BASELINE, expected_key=KEY).results)
    del doc["counts"]
    doc["schema_version"] = 1
    (root / BASELINE).write_text(json.dumps(doc))
    counts = FakeCounts({"current": counts_of({"test_sum": 100_000})})
    verdict = perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), counts))

    assert verdict.overall is Overall.PASS  # read, not rejected
    assert verdict.counts is not None
    assert not verdict.counts.measured
    assert verdict.counts.reason == "not in the baseline"
    [row] = verdict.counts.rows
    assert row.state is CountState.NOT_MEASURED
    assert row.current is not None
    assert row.baseline is None
    assert "instruction counts: not measured (not in the baseline)" in verdict.headline
    assert "Instruction counts: not measured (not in the baseline)." in render_markdown(verdict)


def test_stored_counts_from_this_environment_are_compared(tmp_path: Path) -> None:
    stored = replace(
        stored_results({"test_sum": 1e-3, "test_join": 2e-3}),
        counts=counts_of({"test_sum": 100_000}),
    )
    root = plain_copy(tmp_path, stored)
    counts = FakeCounts({"current": counts_of({"test_sum": 150_000})})
    verdict = perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), counts))
    assert verdict.counts is not None
    assert [r.state for r in verdict.counts.rows] == [CountState.REGRESSION]
    assert verdict.overall is Overall.FAIL


def test_with_no_baseline_at_all_the_counts_are_new(tmp_path: Path) -> None:
    root = plain_copy(tmp_path, None)
    counts = FakeCounts({"current": counts_of({"test_sum": 100_000})})
    verdict = perf(options(root), hooks(Fake(steady(1e-3, 1e-3)), counts))
    assert verdict.counts is not None
    assert [r.state for r in verdict.counts.rows] == [CountState.NEW]


# --- update-baseline --------------------------------------------------------------------------


def test_update_baseline_stores_the_counts(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    counts = FakeCounts({"current": counts_of({"test_sum": 120_000, "test_join": 5000})})
    update = update_baseline(options(root, processes=2), hooks(Fake(steady(1e-3, 1e-3)), counts))
    stored = json.loads((root / BASELINE).read_text())
    assert stored["schema_version"] == 2
    assert stored["counts"]["benchmarks"]["test_sum"] == {"instructions": 2_400_000, "calls": 20}
    rows = {(r.name, r.metric): r for r in update.rows}
    assert rows["test_sum", "instructions/call"].new == 120_000
    assert rows["test_sum", "instructions/call"].old is None  # the toy baseline had none


def test_update_baseline_with_a_filter_keeps_the_other_counts(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    first = FakeCounts({"current": counts_of({"test_sum": 100_000, "test_join": 5000})})
    update_baseline(options(root, processes=2), hooks(Fake(steady(1e-3, 1e-3)), first))
    again = FakeCounts({"current": counts_of({"test_sum": 90_000})})
    fake = Fake(lambda job: {"test_sum": 3e-3})
    update_baseline(options(root, processes=2, keyword="test_sum"), hooks(fake, again))
    stored = read_baseline(root / BASELINE, expected_key=KEY).results.counts.benchmarks
    assert stored["test_sum"].per_call == 90_000
    assert stored["test_join"].per_call == 5000  # not re-counted, kept
    # Counts of another valgrind are never mixed in.
    other = FakeCounts({"current": replace(counts_of({"test_sum": 80_000}), tool="valgrind-3.22")})
    update_baseline(options(root, processes=2, keyword="test_sum"), hooks(fake, other))
    stored = read_baseline(root / BASELINE, expected_key=KEY).results.counts.benchmarks
    assert set(stored) == {"test_sum"}
